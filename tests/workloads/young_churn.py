"""An old leak, and churn that always holds a window of young objects."""
import sys
import threading
import harness

N_LEAK = 10000
WINDOW = 2000


class Item:
    __slots__ = tuple("f%d" % i for i in range(20))


kept = []


def churn():
    window = [None] * WINDOW
    i = 0
    while True:
        window[i % WINDOW] = Item()  # churn
        i += 1


def scenario():
    for _ in range(N_LEAK):
        kept.append(Item())  # leak
    threading.Thread(target=churn, daemon=True).start()
    return {
        "leak": harness.site("leak", __file__),
        "leaked_bytes": N_LEAK * sys.getsizeof(kept[0]),
        "churn": harness.site("churn", __file__),
        "window_bytes": WINDOW * sys.getsizeof(kept[0]),
    }


if __name__ == "__main__":
    harness.run(scenario)
