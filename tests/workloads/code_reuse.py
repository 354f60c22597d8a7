"""A code object freed and another one made at its address.

"first": first_fn keeps N objects (its stack is symbolized by the tracer).
"second": first_fn and its code are dropped; functions named second_fn
with the same body are compiled until one's code object lands at the
freed address; it then keeps N objects, called from another line (a new
stack). Each answers "DONE phase {json}"; anything else exits.
"""
import gc
import json
import os
import sys

N = 500


class Blob:
    __slots__ = tuple("f%d" % i for i in range(20))


kept = []
BODY = "    for _ in range(n):\n        keep.append(cls())\n"


def make(name):
    space = {}
    exec(compile(f"def {name}(cls, keep, n):\n{BODY}", "generated.py", "exec"), space)
    return space[name]


def main():
    print("READY", os.getpid(), flush=True)
    fn = None
    addr = None
    for line in sys.stdin:
        phase = line.strip()
        if phase == "first":
            fn = make("first_fn")
            addr = id(fn.__code__)
            fn(Blob, kept, N)  # first
            info = {"addr": addr}
        elif phase == "second":
            del fn
            gc.collect()
            tries = 0
            while True:
                tries += 1
                g = make("second_fn")
                if id(g.__code__) == addr or tries > 100000:
                    break
                del g
            if id(g.__code__) == addr:
                g(Blob, kept, N)  # second
            info = {"tries": tries, "reused": id(g.__code__) == addr,
                    "bytes": N * sys.getsizeof(kept[0])}
        else:
            break
        print("DONE", phase, json.dumps(info), flush=True)


if __name__ == "__main__":
    main()
