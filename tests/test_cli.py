"""Command line, errors and the tracer's life cycle around its target."""
import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import (BUILDS, MATRIX, TIMEOUT, TOOL, WORKLOADS, Report, Traced, _read_line,
                      frame_loc, loc, save)

DEBIAN_PY = BUILDS["debian"][0]


def tool(*args, **kw):
    return subprocess.run([str(TOOL), *args], capture_output=True, text=True,
                          timeout=TIMEOUT, **kw)


def one_line_error(r, pattern):
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("pyleakbpf: "), r.stderr
    assert re.search(pattern, lines[0]), r.stderr
    assert r.stdout == ""


@pytest.fixture
def idle_python():
    """A CPython 3.11 process blocked on stdin."""
    p = subprocess.Popen([DEBIAN_PY, "-c", "import sys; sys.stdin.read()"],
                         stdin=subprocess.PIPE)
    yield p
    p.stdin.close()
    p.wait(timeout=TIMEOUT)


@pytest.mark.parametrize("args,pattern", [
    (["-p", "abc"], r"invalid PID: abc"),
    (["-p", "0"], r"invalid PID"),
    (["-p", "1", "-d", "-3"], r"invalid duration"),
    (["-p", "1", "--top", "0"], r"invalid --top"),
    (["-p", "1", "x"], r"invalid interval: x"),
    (["-p", "1", "1", "2", "3"], r"unexpected argument: 3"),
    (["--bogus"], r"unknown option"),
    (["-d", "5"], r"no target: give -p PID"),
    (["--malloc", "-p", "1"], r"--malloc needs launch mode"),
    (["-p", "1", "--", "python3"], r"not both"),
    (["--"], r"nothing to launch"),
])
def test_bad_arguments(args, pattern):
    one_line_error(tool(*args), pattern)


def test_help():
    r = tool("--help")
    assert r.returncode == 0 and "Usage: pyleakbpf -p PID" in r.stdout


def test_no_such_pid():
    # a PID that existed and is gone: nothing can have reused it this fast
    p = subprocess.Popen(["true"])
    p.wait()
    one_line_error(tool("-p", str(p.pid)), rf"no such process: {p.pid}")


def test_not_cpython():
    p = subprocess.Popen(["sleep", "60"])
    try:
        one_line_error(tool("-p", str(p.pid)), r"is not CPython: no _PyRuntime")
    finally:
        p.kill()
        p.wait()


def test_unsupported_version(tmp_path):
    """A CPython whose Py_Version says 3.99: refused by name, not guessed."""
    exe = tmp_path / "python3.99"
    shutil.copy(DEBIAN_PY, exe)
    nm = subprocess.run(["nm", "-D", str(exe)], capture_output=True, text=True).stdout
    vaddr = int(next(l.split()[0] for l in nm.splitlines() if l.endswith(" Py_Version")), 16)
    ph = subprocess.run(["readelf", "-lW", str(exe)], capture_output=True, text=True).stdout
    off = None
    for l in ph.splitlines():
        f = l.split()
        if f and f[0] == "LOAD":
            o, v, fs = int(f[1], 16), int(f[2], 16), int(f[4], 16)
            if v <= vaddr < v + fs:
                off = vaddr - v + o
    with open(exe, "r+b") as f:
        f.seek(off)
        f.write((0x036300F0).to_bytes(8, "little"))
    p = subprocess.Popen([str(exe), "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        one_line_error(tool("-p", str(p.pid)),
                       r"unsupported Python version 3\.99\.0 .*supported: 3\.8, .*3\.11")
    finally:
        p.stdin.close()
        p.wait()


def test_missing_privileges(idle_python):
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) not installed")
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        str(TOOL), "-p", str(idle_python.pid)],
                       capture_output=True, text=True, timeout=TIMEOUT)
    one_line_error(r, r"permission denied: tracing needs root")


def test_no_bpf_capabilities(idle_python):
    """Root without CAP_BPF/CAP_PERFMON/CAP_SYS_ADMIN: the no-BPF path."""
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) not installed")
    r = subprocess.run(["setpriv", "--inh-caps=-all", "--bounding-set=-all",
                        str(TOOL), "-p", str(idle_python.pid)],
                       capture_output=True, text=True, timeout=TIMEOUT)
    one_line_error(r, r"permission denied")


def test_duration_and_output_file(bpf_ok, idle_python, tmp_path):
    out = tmp_path / "report.txt"
    r = tool("-p", str(idle_python.pid), "-d", "0.5", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    text = out.read_text()
    assert "(duration reached)" in text and "Hooks (events while tracing)" in text


def test_interval_count(bpf_ok, idle_python):
    r = tool("-p", str(idle_python.pid), "0.3", "3")
    assert r.returncode == 0, r.stderr
    assert re.findall(r"^report (\d+) \(interval\)", r.stdout, re.M) == ["1", "2", "3"]


def test_target_exit_gives_final_report(bpf_ok, build):
    """The target exits mid-trace: final report (with its leak), exit 0."""
    name, python = build
    t = Traced(python, "leak_registry.py")
    try:
        result = t.run()
        wrc, _, werr = t.finish()
        rc, out, err = t.stop_tool(sig=None)
    finally:
        t.kill()
    save(f"target-exit-{name}.txt", out + err)
    assert wrc == 0, werr
    assert rc == 0, err
    assert "(target exited)" in out
    rep = Report(out)
    assert rep.sites and frame_loc(rep.sites[0]["frames"][0]) == loc(result["leak"]), out


def test_target_output_unchanged(bpf_ok, build):
    """Same stdout, stderr and exit code with and without the tracer."""
    name, python = build

    def plain():
        p = subprocess.run([python, str(WORKLOADS / "leak_thread.py")], cwd=WORKLOADS,
                           input=b"go\nexit\n", capture_output=True, timeout=TIMEOUT)
        return p.returncode, re.sub(rb"READY \d+", b"READY", p.stdout), p.stderr

    before = plain()
    t = Traced(python, "leak_thread.py")
    try:
        result = t.run()
        # detach while the target is still running (SIGTERM: a report, as
        # at Ctrl-C), then let it finish
        rc, out, err = t.stop_tool(sig=signal.SIGTERM)
        wrc, wout, werr = t.finish()
    finally:
        t.kill()
    save(f"sigterm-{name}.txt", out + err)
    assert rc == 0, err
    assert re.search(r"^report 1 \(interrupted\) after", out, re.M), out
    rep = Report(out)
    assert rep.sites and frame_loc(rep.sites[0]["frames"][0]) == loc(result["leak"]), out
    traced = (wrc, re.sub(r"READY \d+", "READY", wout).encode(), werr.encode())
    assert traced == before


def test_target_in_other_mount_namespace(bpf_ok, tmp_path):
    """The interpreter lives at a path only the target's mount namespace has."""
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) not installed")
    ctr = tmp_path / "ctr"
    ctr.mkdir()
    script = (f"mount -t tmpfs ctr {ctr} && cp {DEBIAN_PY} {ctr}/python3 && "
              f"exec {ctr}/python3 {WORKLOADS / 'leak_registry.py'}")
    wl = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          cwd=WORKLOADS, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    tr = None
    deadline = time.monotonic() + TIMEOUT
    try:
        ready = _read_line(wl.stdout, deadline, "READY")
        assert ready.startswith("READY"), ready
        pid = int(ready.split()[1])
        assert not (ctr / "python3").exists(), "tmpfs leaked into our namespace"
        tr = subprocess.Popen([str(TOOL), "-p", str(pid)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
        banner = _read_line(tr.stderr, deadline, "pyleakbpf to attach")
        assert "tracing PID" in banner and f"{ctr}/python3" in banner, banner
        wl.stdin.write(b"go\n")
        wl.stdin.flush()
        result = _read_line(wl.stdout, deadline, "RESULT")
        assert result.startswith("RESULT"), result
        leak = json.loads(result[7:])["leak"]
        tr.send_signal(signal.SIGINT)
        out, err = tr.communicate(timeout=TIMEOUT)
        assert tr.returncode == 0, err.decode()
        rep = Report(out.decode())
        assert frame_loc(rep.sites[0]["frames"][0]) == loc(leak), out.decode()
        wl.stdin.write(b"exit\n")
        wl.stdin.flush()
        assert wl.wait(timeout=TIMEOUT) == 0
    finally:
        for proc in (tr, wl):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize("name", MATRIX)
def test_explain_shows_the_plan(name):
    """--explain plans from the binary alone: nothing attached, no BPF needed."""
    python, desc, optional = BUILDS[name]
    if not os.path.exists(python):
        pytest.skip(f"SKIPPED build {name}: {python} is not installed ({desc})")
    r = tool("--explain", "--", python, "app.py")
    assert r.returncode == 0, r.stderr
    hooks = re.findall(r"^  (\S+)\s+(?:alloc|realloc|free|shutdown)\s", r.stdout, re.M)
    inlined = "pymalloc inlined into its callers" in r.stdout
    # the LTO build needs the type-slot hooks, the others must not pay for them
    assert inlined == (name == "debian"), r.stdout
    assert ("PyType_GenericAlloc" in hooks) == inlined, r.stdout
    assert "PyObject_Malloc" in hooks and "Py_FinalizeEx" in hooks
    gc = "gc_collect_main" if name == "pyenv" else "USDT python:gc__start/gc__done"
    assert re.search(rf"^GC: .*{gc}", r.stdout, re.M), r.stdout


@pytest.mark.parametrize("args,pattern", [
    (["--max-allocs", "1000000"],
     r"--max-allocs 1000000 and --max-stacks 16384 need up to 1\d\d MiB of kernel memory, "
     r"over --map-budget 64 MiB"),
    (["--max-stacks", "100000"],
     r"--map-budget 64 MiB leaves no room for live blocks with 100000 stacks \(16\d MiB\)"),
    (["--map-budget", "8"], r"--map-budget 8 MiB leaves no room for live blocks with 16384"),
    # the default leaves room for exactly 274,432 live blocks (README): one
    # step of 4096 more does not fit
    (["--max-allocs", str(274432 + 4096)], r"--max-allocs 278528 and --max-stacks 16384 need"),
])
def test_sizes_over_the_map_budget_refused(args, pattern, idle_python):
    one_line_error(tool(*args, "-p", str(idle_python.pid)), pattern)


@pytest.mark.parametrize("args", [["--max-allocs", "274432"],
                                  ["--map-budget", "8", "--max-stacks", "1024"],
                                  ["--map-budget", "512", "--max-allocs", "2000000"]])
def test_sizes_within_the_map_budget_accepted(args):
    r = tool(*args, "--explain", "--", DEBIAN_PY, "app.py")
    assert r.returncode == 0, r.stderr


def _delete_interpreter(t):
    os.unlink(t.python_copy)


def _replace_interpreter(t):
    """A new file at the path (another ELF, by rename): what the target
    mapped is only reachable through /proc/PID/map_files."""
    new = t.python_copy + ".new"
    shutil.copy("/bin/true", new)
    os.replace(new, t.python_copy)


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_interpreter_file_deleted_or_replaced(bpf_ok, how, tmp_path):
    """An upgrade removed or replaced the interpreter the target runs."""
    exe = str(tmp_path / "python3.11")
    shutil.copy(DEBIAN_PY, exe)

    def on_ready(t):
        t.python_copy = exe
        (_delete_interpreter if how == "deleted" else _replace_interpreter)(t)

    t = Traced(exe, "leak_registry.py", on_ready=on_ready)
    try:
        result = t.run()
        rc, out, err = t.stop_tool()
        wrc, _, werr = t.finish()
    finally:
        t.kill()
    save(f"interpreter-{how}.txt", t.banner + out + err)
    assert rc == 0, err
    assert wrc == 0, werr
    assert "tracing PID" in t.banner and "python3.11" in t.banner, t.banner
    rep = Report(out)
    assert rep.sites and frame_loc(rep.sites[0]["frames"][0]) == loc(result["leak"]), out
    want = result["leaked_bytes"]
    assert abs(rep.sites[0]["bytes"] - want) <= 0.2 * want, out
