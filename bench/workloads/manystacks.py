"""Report-time workload: S distinct Python functions, each keeping K blocks.

Before READY it generates and compiles the source of S functions (distinct
code objects, so S distinct stacks); the loop calls each once, and each keeps
K instances of a small class, allocated on one line (one stack per function).
Everything stays alive: S * K outstanding instances for the tracer to
report.

    --stacks S   distinct functions (default 100,000)
    --keep K     instances kept per function (default 10)
"""
from _proto import arg, finish, start

S = arg("stacks", 100_000)
K = arg("keep", 10)


class Obj:
    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v


# Each function allocates only on its one `keep(Obj(i))` line: a while loop
# over small (cached) ints, not a for loop over a range, whose iterator
# would be one more allocation and one more stack per function.
ns = {"Obj": Obj}
for lo in range(0, S, 2000):        # in chunks: one big AST costs a GiB
    src = "".join(
        f"def f{i}(keep):\n    n = 0\n    while n < {K}: keep(Obj({i})); n += 1\n"
        for i in range(lo, min(lo + 2000, S)))
    exec(compile(src, "generated_sites.py", "exec"), ns)
funcs = [ns[f"f{i}"] for i in range(S)]
del src, ns

kept = []
keep = kept.append

t0 = start()
for f in funcs:
    f(keep)
finish(t0, stacks=S, keep=K, objects=len(kept))
