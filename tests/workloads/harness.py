"""Protocol shared by the test workloads.

A workload prints READY, waits for a line on stdin, runs its scenario while
the tracer watches, prints one RESULT line of JSON (what it leaked, where),
then waits for another line before it exits. The test drives both sides, so
nothing depends on sleeps.
"""
import inspect
import json
import os
import sys


def line_of(marker, path=None):
    """Line number of the source line that contains `marker` as a comment."""
    path = path or inspect.stack()[1].filename
    with open(path) as f:
        for n, text in enumerate(f, 1):
            if text.rstrip().endswith("# " + marker):
                return n
    raise LookupError(marker)


def site(marker, path):
    return {"file": os.path.basename(path), "line": line_of(marker, path)}


def run(scenario):
    """scenario() returns the RESULT dict; keeps its return value alive."""
    print("READY", os.getpid(), flush=True)
    if not sys.stdin.readline():
        return
    result = scenario()
    print("RESULT " + json.dumps(result), flush=True)
    cmd = sys.stdin.readline().strip()
    if cmd == "exit-now":
        os._exit(0)
