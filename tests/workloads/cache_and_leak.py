"""A bounded cache that fills in two steps and stops, and a steady leak.

Driven step by step: each "step" line on stdin does one step's work and
answers "DONE k". By bytes the cache is the biggest site; only the leak
keeps growing.
"""
import json
import os
import sys
import harness

CACHE_MAX = 1500
PER_STEP_CACHE = 750
PER_STEP_LEAK = 1000


class Connection:
    __slots__ = ("n", "peer")

    def __init__(self, n):
        self.n = n


cache = {}
leaked = []


def fill_cache(k):
    for i in range(PER_STEP_CACHE):
        if len(cache) >= CACHE_MAX:
            return
        cache[k * PER_STEP_CACHE + i] = [0] * 100  # cache


def leak(k):
    for i in range(PER_STEP_LEAK):
        leaked.append(Connection(i))  # leak


def main():
    print("READY", os.getpid(), flush=True)
    k = 0
    for line in sys.stdin:
        if line.strip() != "step":
            break
        fill_cache(k)
        before = sys.getsizeof(leaked)
        leak(k)
        k += 1
        # what the leak line kept in this step: the objects, and the growth
        # of the list's item array (reallocated on the same line)
        step_bytes = PER_STEP_LEAK * sys.getsizeof(leaked[0]) + sys.getsizeof(leaked) - before
        print("DONE", k, json.dumps({
            "leak": harness.site("leak", __file__),
            "cache": harness.site("cache", __file__),
            "leak_step_bytes": step_bytes,
            "leak_bytes": len(leaked) * sys.getsizeof(leaked[0]) + sys.getsizeof(leaked),
            "cache_entries": len(cache),
        }), flush=True)


if __name__ == "__main__":
    main()
