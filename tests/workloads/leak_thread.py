"""(d) One of four threads leaks while the other three churn."""
import sys
import threading
import harness

N_LEAK = 10000
N_CHURN = 25000


class Job:
    __slots__ = tuple("f%d" % i for i in range(20))


backlog = []


def leaker(start):
    start.wait()
    for _ in range(N_LEAK):
        backlog.append(Job())  # leak


def churner(start):
    start.wait()
    for _ in range(N_CHURN):
        j = Job()  # churn
        del j


def scenario():
    start = threading.Event()
    threads = [threading.Thread(target=churner, args=(start,)) for _ in range(3)]
    threads.insert(2, threading.Thread(target=leaker, args=(start,)))
    for t in threads:
        t.start()
    start.set()
    for t in threads:
        t.join()
    return {
        "leak": harness.site("leak", __file__),
        "leaked_bytes": N_LEAK * sys.getsizeof(backlog[0]),
        "leaked_count": N_LEAK,
        "churn": [harness.site("churn", __file__)],
    }


if __name__ == "__main__":
    harness.run(scenario)
