"""(c) A leak 45 frames below the entry point (or as many as the first
argument says), churn at the same depth."""
import sys
import harness

DEPTH = int(sys.argv[1]) if len(sys.argv) > 1 else 45
N_LEAK = 10000
N_CHURN = 25000

kept = []


class Node:
    __slots__ = tuple("f%d" % i for i in range(20))


def descend(depth, action):
    if depth:
        return descend(depth - 1, action)
    return action()


def leak_batch():
    for _ in range(N_LEAK):
        kept.append(Node())  # leak


def churn_batch():
    for _ in range(N_CHURN):
        Node()  # churn


def scenario():
    descend(DEPTH, leak_batch)
    descend(DEPTH, churn_batch)
    return {
        "leak": harness.site("leak", __file__),
        "leaked_bytes": N_LEAK * sys.getsizeof(kept[0]),
        "leaked_count": N_LEAK,
        "churn": [harness.site("churn", __file__)],
        "depth": DEPTH,
        "recursive": "descend",
    }


if __name__ == "__main__":
    harness.run(scenario)
