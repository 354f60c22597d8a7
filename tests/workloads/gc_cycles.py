"""Handler <-> runner pairs that only the cyclic GC frees, plus plain churn.

With `weak` on the command line the back-reference is a weakref.proxy: no
cycle, so reference counting frees everything; a smaller number of
handlers that refer to themselves then makes the only cycles, so the
cycles table is known not to be empty.
"""
import gc
import sys
import weakref
import harness

N_PAIRS = 10000
N_CONTROL = 2000
WEAK = "weak" in sys.argv[1:]


class Runner:
    __slots__ = ("handler", "__weakref__")


class Handler:
    __slots__ = ("runner", "__weakref__")


def wire(handler, runner):
    handler.runner = runner
    runner.handler = weakref.proxy(handler) if WEAK else handler


def serve(n):
    for _ in range(n):
        wire(Handler(), Runner())  # cycle


def control(n):
    for _ in range(n):
        h = Handler()  # control
        h.runner = h


def churn(n):
    for _ in range(n):
        r = Runner()  # churn
        r.handler = None


def scenario():
    before = gc.get_stats()
    serve(N_PAIRS)
    churn(N_PAIRS)
    if WEAK:
        control(N_CONTROL)
    gc.collect()
    after = gc.get_stats()
    return {
        "cycle": harness.site("cycle", __file__),
        "churn": harness.site("churn", __file__),
        "control": harness.site("control", __file__),
        "objects": 2 * N_PAIRS,
        "control_objects": N_CONTROL if WEAK else 0,
        "gc": [{"collections": a["collections"] - b["collections"],
                "collected": a["collected"] - b["collected"]
                + a["uncollectable"] - b["uncollectable"]}
               for a, b in zip(after, before)],
    }


if __name__ == "__main__":
    harness.run(scenario)
