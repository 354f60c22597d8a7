"""Many distinct stacks, for a small --max-stacks: first churn (nothing
kept) at N_CHURN stacks, then leaks at N_LEAK other stacks.

Driven by lines on stdin: "churn" and "leak" each do their phase and answer
"DONE phase {json}"; anything else exits. Each stack is a function of its
own (its own code object), made with exec.
"""
import json
import os
import sys

N_CHURN = 1000
N_LEAK = 600
PER_LEAK = 10


class Blob:
    __slots__ = tuple("f%d" % i for i in range(20))


def make(prefix, n, body):
    src = "".join(f"def {prefix}{i}(cls, keep):\n{body}" for i in range(n))
    space = {}
    exec(compile(src, "generated.py", "exec"), space)
    return [space[f"{prefix}{i}"] for i in range(n)]


churners = make("churn", N_CHURN, "    cls()\n")
leakers = make("leak", N_LEAK, f"    for _ in range({PER_LEAK}):\n        keep.append(cls())\n")
kept = []


def main():
    print("READY", os.getpid(), flush=True)
    for line in sys.stdin:
        phase = line.strip()
        if phase == "churn":
            for f in churners:
                f(Blob, kept)
            info = {"stacks": N_CHURN, "objects": N_CHURN}
        elif phase == "leak":
            for f in leakers:
                f(Blob, kept)
            info = {"stacks": N_LEAK, "objects": N_LEAK * PER_LEAK,
                    "bytes": N_LEAK * PER_LEAK * sys.getsizeof(kept[0])}
        else:
            break
        print("DONE", phase, json.dumps(info), flush=True)


if __name__ == "__main__":
    main()
