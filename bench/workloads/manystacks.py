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


ns = {"Obj": Obj}
for lo in range(0, S, 2000):        # in chunks: one big AST costs a GiB
    src = "".join(
        f"def f{i}(keep, r):\n    for _ in r: keep(Obj({i}))\n"
        for i in range(lo, min(lo + 2000, S)))
    exec(compile(src, "generated_sites.py", "exec"), ns)
funcs = [ns[f"f{i}"] for i in range(S)]
del src, ns

kept = []
keep = kept.append
r = range(K)

t0 = start()
for f in funcs:
    f(keep, r)
finish(t0, stacks=S, keep=K, objects=len(kept))
