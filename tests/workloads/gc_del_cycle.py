"""Objects with __del__ in reference cycles: collected, finalizers run."""
import gc
import harness

N = 5000
finalized = []


class Resource:
    def __init__(self, n):
        self.n = n
        self.peer = None

    def __del__(self):
        finalized.append(self.n)


def leak_pairs(n):
    for i in range(n):
        a, b = Resource(2 * i), Resource(2 * i + 1)  # del-cycle
        a.peer, b.peer = b, a


def scenario():
    leak_pairs(N)
    gc.collect()
    print("finalized", len(finalized), sum(finalized), flush=True)
    return {"site": harness.site("del-cycle", __file__), "objects": 2 * N,
            "finalized": len(finalized)}


if __name__ == "__main__":
    harness.run(scenario)
