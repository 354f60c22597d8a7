"""The core tests on CPython 3.8, 3.9, 3.10, 3.12 and 3.13 (pyenv builds).

The 3.11 tests of test_leaks.py, test_gc.py and test_launch.py are
imported and run here with a `build` fixture over the other versions; one
traced run serves every test that needs the same (build, workload, args),
so the registry leak is traced once per version for the leak, the type
table and the hook counts.
"""
import json
import os
import re
import subprocess
import time

import pytest

import test_leaks
from conftest import BUILDS, TOOL, VERSIONS, Traced, _read_line, loc, save, TIMEOUT
from test_gc import test_cycle_site_ranked_first as _gc_cycles
from test_launch import test_early_leak_caught_and_exit_status_kept  # noqa: F401
from test_leaks import test_churn_only_reports_nothing, test_leak_ranked_first  # noqa: F401
from test_types import type_table

# Every core test runs on every version (the list stays for narrowing a
# test to some versions, should one ever need it).
ONLY = {}


def keep_item(item):
    """Collection filter (conftest): a version-independent test is not
    generated at all for the versions it skips, so nothing is skipped."""
    case = getattr(item, "callspec", None)
    params = case.params if case else {}
    only = ONLY.get(params.get("case")) or ONLY.get(item.originalname)
    return not only or params.get("build") in only


@pytest.fixture(params=list(VERSIONS), ids=lambda b: f"build={b}")
def build(request):
    path, desc, _ = BUILDS[request.param]
    if not os.path.exists(path):
        pytest.skip(f"SKIPPED build {request.param}: {path} is not installed ({desc})")
    return request.param, path


_runs = {}


def _shared_trace(build, workload, args=(), tag=""):
    key = (build, workload, tuple(args), tag)
    if key not in _runs:
        _runs[key] = test_leaks.trace_run(build, workload, args, tag=tag)
    return _runs[key][:3]


@pytest.fixture(autouse=True)
def shared_runs(monkeypatch):
    monkeypatch.setattr(test_leaks, "trace", _shared_trace)


def test_explain_names_version_and_offsets(build):
    """No BPF: the version is read from the interpreter, the row checked."""
    name, python = build
    v = VERSIONS[name]
    r = subprocess.run([str(TOOL), "--explain", "--", python, "app.py"], capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    save(f"explain-{name}.txt", r.stdout)
    src = "Py_Version" if name in ("py3.12", "py3.13") else "Py_GetVersion's PY_VERSION"
    assert re.search(rf"^version: {re.escape(v)}, from {src}", r.stdout, re.M), r.stdout
    assert re.search(rf"^offsets: row {name[2:]} \(gdb offsetof on {re.escape(v)}", r.stdout,
                     re.M), r.stdout
    if name == "py3.13":
        assert "_Py_DebugOffsets 3.13.0: all 26 offsets match the row" in r.stdout
    hooks = re.findall(r"^  (\S+)\s+(?:alloc|realloc|free|shutdown)\s", r.stdout, re.M)
    assert "PyObject_Malloc" in hooks and "PyObject_Free" in hooks, r.stdout
    assert "pymalloc called through its entry points" in r.stdout
    gc = re.search(r"^GC: (.*)", r.stdout, re.M).group(1)
    if name == "py3.8":
        # pyenv's 3.8 has the collector only as compiler clones
        assert re.search(r"uprobes on collect\.constprop\.\d, the clone of the collector "
                         r"collect that gc\.collect\(\) calls", gc), gc
    else:
        want = "collect" if name == "py3.9" else "gc_collect_main"
        assert f"uprobes on the collector {want}," in gc, gc


def test_type_table_names_the_leaked_class(bpf_ok, build):
    result, rep, out = _shared_trace(build, "leak_registry.py")
    assert re.search(r"^  objects: Connection ([\d,]+)", out, re.M), out
    rows = type_table(out)
    want = result["leaked_count"]
    assert abs(rows.get("Connection", 0) - want) <= 0.05 * want, out
    # the stack walk found a thread state every time
    assert rep.counter("allocations with no Python thread state") == 0, out
    assert rep.counter("stack reads that failed") == 0, out


def test_gc_counts_and_cycle_site(bpf_ok, build):
    """test_gc's check: the cycle site first, GC counts as gc.get_stats()."""
    _gc_cycles(None, build)


def test_threads_stacks_found(bpf_ok, build):
    """leak_thread (shared with test_leak_ranked_first): 4 threads, every stack found."""
    result, rep, out = _shared_trace(build, "leak_thread.py")
    # a thread state is missing only where no Python code runs: native
    # code (3.8's pthread_exit loads libgcc_s after its state is gone)
    for s in rep.sites:
        for f in s["frames"]:
            if "[no Python thread state]" in f:
                assert "!" in f, f"no thread state for Python code:\n{out}"
    assert rep.counter("stack reads that failed") == 0, out


def test_sample_ranks_the_leak_first(bpf_ok, build):
    """One --sample run per version: the bigger of two known leaks first."""
    name, python = build
    seconds = 12
    t = Traced(python, "sample_churn.py", ["--sample", "20", "--no-types", "--json"],
               wl_args=("churn", str(seconds)))
    try:
        t.wl.stdin.write(b"go\n")
        t.wl.stdin.flush()
        deadline = time.monotonic() + seconds + TIMEOUT
        assert _read_line(t.wl.stdout, deadline, "RUNNING").startswith("RUNNING")
        line = _read_line(t.wl.stdout, deadline, "workload RESULT")
        assert line.startswith("RESULT "), line
        truth = json.loads(line[len("RESULT "):])
        rc, out, err = t.stop_tool()
        t.finish(b"exit\n")
    finally:
        t.kill()
    save(f"sample-{name}.json", out + err)
    assert rc == 0, err
    doc = json.loads(out.splitlines()[0])
    ranked = sorted((s for s in doc["sites"] if s["inuse_bytes"] > 0),
                    key=lambda s: -s["inuse_bytes"])
    assert ranked, out
    leaf = next(f for f in ranked[0]["frames"] if not f.get("native"))
    assert f"{os.path.basename(leaf['file'])}:{leaf['line']}" == loc(truth["leaks"][0]["site"])
