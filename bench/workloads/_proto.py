"""The benchmark's workload protocol (stdout/stdin lines, one step each).

    workload -> "READY"               set-up done; probes may be attached now
    harness  -> any line               start the loop
    workload -> {"loop_s": ..., ...}   the loop's own wall time, as JSON
    harness  -> any line               exit (the tracer has reported by then)

Only the loop is timed, with time.perf_counter(), inside the workload: start
-up, set-up, attaching and reporting are not part of it. EOF on stdin at
either wait ends the workload (the harness died or gave up).

    t0 = start()          # READY, wait for the go line, start the clock
    ... the loop ...
    finish(t0, n=N)       # the JSON line, wait for the exit line
"""
import json
import sys
import time


def _wait():
    if not sys.stdin.readline():
        sys.exit(3)


def start():
    print("READY", flush=True)
    _wait()
    return time.perf_counter()


def finish(t0, **extra):
    loop_s = time.perf_counter() - t0
    out = {"loop_s": loop_s}
    out.update(extra)
    print(json.dumps(out), flush=True)
    _wait()


def arg(name, default):
    """--name VALUE from argv as an int, else default."""
    flag = "--" + name
    argv = sys.argv[1:]
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            return int(argv[i + 1])
    return default


def frames():
    """Python frames on the caller's stack, the caller's own included."""
    f, n = sys._getframe(1), 0
    while f is not None:
        n += 1
        f = f.f_back
    return n
