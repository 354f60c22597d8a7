"""Shared driver for the integration tests: real BPF, real interpreters.

Every test runs a workload under one of the three CPython 3.11 builds of
the test matrix and drives it and pyleakbpf step by step through pipes, so
no test sleeps for a fixed time.
"""
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "pyleakbpf"
WORKLOADS = ROOT / "tests" / "workloads"
OUTPUT = ROOT / "tests" / "output"
TIMEOUT = 120

# The test matrix: name -> (interpreter, description, may it be absent?)
BUILDS = {
    "debian": ("/usr/bin/python3.11",
               "Debian python3.11: LTO+PGO, stripped, USDT", False),
    "pyenv": ("/root/.pyenv/versions/3.11.7/bin/python3.11",
              "pyenv 3.11.7: shared libpython with symbols, no LTO", True),
    "debug": ("/usr/bin/python3.11d",
              "Debian python3.11-dbg: Py_DEBUG build", False),
}
# The 3.11 builds every test runs on (the `build` fixture).
MATRIX = list(BUILDS)
# Other CPython versions: tests/test_versions.py runs the core tests on them.
VERSIONS = {f"py{v.rsplit('.', 1)[0]}": v for v in
            ("3.8.18", "3.9.18", "3.10.13", "3.12.1", "3.13.0")}
BUILDS.update({name: (f"/root/.pyenv/versions/{v}/bin/python{v.rsplit('.', 1)[0]}",
                      f"pyenv {v}: shared libpython with symbols, no LTO", True)
               for name, v in VERSIONS.items()})


def pytest_report_header(config):
    lines = []
    for name, (path, desc, _) in BUILDS.items():
        state = "present" if os.path.exists(path) else "ABSENT"
        lines.append(f"build {name}: {path} ({desc}) {state}")
    return lines


@pytest.fixture(params=MATRIX, ids=lambda b: f"build={b}")
def build(request):
    path, desc, optional = BUILDS[request.param]
    if not os.path.exists(path):
        if optional:
            pytest.skip(f"SKIPPED build {request.param}: {path} is not installed "
                        f"({desc}); it exists only on the project's dev/CI machines")
        pytest.fail(f"{path} missing: `make deps` should have installed it")
    return request.param, path


# bpf(2) on this machine: BPF_PROG_LOAD of "r0 = 0; exit" as a socket filter.
_BPF_SYSCALL = {"x86_64": 321, "aarch64": 280}
_BPF_PROG_LOAD = 5
_BPF_PROG_TYPE_SOCKET_FILTER = 1


def bpf_syscall_probe():
    """None if the bpf() syscall itself loads a trivial program here, else
    why not (ENOSYS, EPERM, ...). Only the kernel is asked: this says
    nothing of pyleakbpf's own programs."""
    import ctypes
    nr = _BPF_SYSCALL.get(os.uname().machine)
    if nr is None:
        return f"no bpf() syscall number known for {os.uname().machine}"
    # BPF_MOV64_IMM(r0, 0); BPF_EXIT_INSN()
    insns = (ctypes.c_uint64 * 2)(0x00000000000000b7, 0x0000000000000095)
    lic = ctypes.create_string_buffer(b"GPL")
    # union bpf_attr, BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, ...
    attr = ctypes.create_string_buffer(128)
    ctypes.memmove(attr, ctypes.byref(ctypes.c_uint32(_BPF_PROG_TYPE_SOCKET_FILTER)), 4)
    ctypes.memmove(ctypes.byref(attr, 4), ctypes.byref(ctypes.c_uint32(2)), 4)
    ctypes.memmove(ctypes.byref(attr, 8),
                   ctypes.byref(ctypes.c_uint64(ctypes.addressof(insns))), 8)
    ctypes.memmove(ctypes.byref(attr, 16),
                   ctypes.byref(ctypes.c_uint64(ctypes.addressof(lic))), 8)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(ctypes.c_long(nr), ctypes.c_int(_BPF_PROG_LOAD), attr,
                      ctypes.c_uint(ctypes.sizeof(attr)))
    if fd < 0:
        e = ctypes.get_errno()
        return f"bpf(BPF_PROG_LOAD) of a trivial program: {os.strerror(e)} " \
               f"({'EPERM' if e == 1 else 'ENOSYS' if e == 38 else e})"
    os.close(fd)
    return None


def bpf_unavailable():
    """Why BPF truly cannot run here, or None: no root, no BTF, or the
    kernel refusing bpf() itself. Nothing pyleakbpf does is looked at."""
    if os.geteuid() != 0:
        return "not running as root"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "kernel has no BTF (/sys/kernel/btf/vmlinux)"
    return bpf_syscall_probe()


def bpf_verdict(unavailable, tool_rc, tool_stderr):
    """(action, message) for the BPF tests: 'ok', 'skip' (BPF cannot run
    here: only bpf_unavailable() can say so) or 'fail' (the tool failed
    where BPF works: its own bug, whatever its message says)."""
    if unavailable:
        return "skip", unavailable
    if tool_rc != 0:
        return "fail", f"pyleakbpf failed where BPF works (exit {tool_rc}): " \
                       f"{tool_stderr.strip()}"
    return "ok", ""


_bpf_state = {}


@pytest.fixture(scope="session")
def bpf_ok():
    """Skip loudly when BPF truly cannot run here (in CI that is a failure);
    a failure of the tool itself to load or attach fails every BPF test."""
    if "verdict" not in _bpf_state:
        if not TOOL.exists():
            pytest.fail(f"{TOOL} is not built (run `make`)")
        reason = bpf_unavailable()
        rc, err = 0, ""
        if not reason:
            p = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                                 stdin=subprocess.PIPE)
            try:
                r = subprocess.run([str(TOOL), "-p", str(p.pid), "-d", "0.2"],
                                   capture_output=True, text=True, timeout=TIMEOUT)
            finally:
                p.stdin.close()
                p.wait(timeout=TIMEOUT)
            rc, err = r.returncode, r.stderr
        _bpf_state["verdict"] = bpf_verdict(reason, rc, err)
    action, msg = _bpf_state["verdict"]
    if action == "fail":
        pytest.fail(msg)
    if action == "skip":
        msg = f"!!! BPF UNAVAILABLE, BPF TESTS SKIPPED: {msg} !!!"
        if os.environ.get("CI"):
            pytest.fail(msg + " (CI must have BPF: this is a setup failure)")
        pytest.skip(msg)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI every skip is a failure: a test that did not run checked
    nothing, whatever the reason (xfail stays xfail)."""
    outcome = yield
    rep = outcome.get_result()
    if os.environ.get("CI") and rep.skipped and not hasattr(rep, "wasxfail"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = f"skipped under CI (CI is set: every test must run): {reason}"


class Report:
    """The text report, parsed."""

    SITE = re.compile(r"^#(\d+) .* outstanding in ([\d,]+) blocks?.*\((\d+) bytes;")
    INFO = re.compile(r"^  (growth|suspect|objects|estimate|freed unseen): (.*)$")
    HOOK = re.compile(r"^  (\S+)\s+(alloc|realloc|free|shutdown)\s+([\d,]+)\s")

    def __init__(self, text):
        self.text = text
        self.sites = []
        self.hooks = {}
        site = None
        section = None
        for line in text.splitlines():
            m = self.SITE.match(line)
            if m:
                site = {"rank": int(m.group(1)), "count": int(m.group(2).replace(",", "")),
                        "bytes": int(m.group(3)), "frames": [], "info": {}}
                self.sites.append(site)
                continue
            if site is not None and line.startswith("    "):
                site["frames"].append(line.strip())
                continue
            m = self.INFO.match(line)
            if site is not None and m:
                site["info"][m.group(1)] = m.group(2)
                continue
            site = None
            if line.startswith("Hooks"):
                section = "hooks"
            elif line.startswith("Counters"):
                section = "counters"
            elif section == "hooks":
                m = self.HOOK.match(line)
                if m:
                    self.hooks[m.group(1)] = int(m.group(3).replace(",", ""))

    CYCLE = re.compile(r"^#(\d+) .* freed by the GC \((\d+)% of this site's frees\).*"
                       r"\((\d+) bytes, (\d+) objects by GC\)")
    GCROW = re.compile(r"^\s+(\d)\s+([\d,]+)\s+(\d+)\s+([\d,]+)\s")

    def cycles(self):
        """Sites of the --cycles table, in rank order."""
        out, site = [], None
        for line in self.text.splitlines():
            m = self.CYCLE.match(line)
            if m:
                site = {"rank": int(m.group(1)), "share": int(m.group(2)),
                        "bytes": int(m.group(3)), "count": int(m.group(4)), "frames": []}
                out.append(site)
            elif site is not None and line.startswith("    "):
                site["frames"].append(line.strip())
            else:
                site = None
        return out

    def gc_table(self):
        """generation -> (collections, collected) from the --gc table."""
        rows, inside = {}, False
        for line in self.text.splitlines():
            if line.startswith("GC pauses"):
                inside = True
            elif inside:
                m = self.GCROW.match(line)
                if m:
                    rows[int(m.group(1))] = (int(m.group(2).replace(",", "")),
                                             int(m.group(4).replace(",", "")))
                elif not line.startswith("  "):
                    break
        return rows

    def counter(self, text):
        m = re.search(r"^\s+([\d,]+)  " + re.escape(text), self.text, re.M)
        return int(m.group(1).replace(",", "")) if m else None


def frame_loc(frame):
    """'qualname (file.py:12)' -> 'file.py:12'"""
    m = re.search(r"\(([^()]*:(\d+|\?))\)$", frame)
    return m.group(1) if m else frame


def loc(site):
    return f"{site['file']}:{site['line']}"


def _read_line(stream, deadline, what):
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    buf = b""
    fd = stream.fileno()
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not sel.select(left):
            raise TimeoutError(f"timed out waiting for {what}")
        chunk = os.read(fd, 1)
        if not chunk:
            break
        buf += chunk
    sel.close()
    return buf.decode(errors="replace")


class Traced:
    """A workload under pyleakbpf, driven step by step."""

    def __init__(self, python, workload, args=(), env=None, wl_args=(), on_ready=None):
        self.wl = subprocess.Popen([python, str(WORKLOADS / workload), *wl_args], cwd=WORKLOADS,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + TIMEOUT
        ready = _read_line(self.wl.stdout, deadline, "workload READY")
        self.seen = ready  # workload stdout consumed so far
        if not ready.startswith("READY"):
            self.kill()
            raise AssertionError(ready + self.wl.stderr.read().decode())
        self.pid = self.wl.pid
        if on_ready:
            on_ready(self)  # e.g. delete the interpreter's file before attaching
        self.tool = subprocess.Popen([str(TOOL), "-p", str(self.pid), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.banner = _read_line(self.tool.stderr, deadline, "pyleakbpf to attach")
        if "tracing PID" not in self.banner:
            self.kill()
            raise AssertionError(self.banner + self.tool.stderr.read().decode())

    def run(self):
        """Let the workload do its scenario; returns its RESULT."""
        self.wl.stdin.write(b"go\n")
        self.wl.stdin.flush()
        deadline = time.monotonic() + TIMEOUT
        while True:
            line = _read_line(self.wl.stdout, deadline, "workload RESULT")
            self.seen += line
            if line.startswith("RESULT ") or not line:
                break
        if not line.startswith("RESULT "):
            self.kill()
            raise AssertionError(self.seen + self.wl.stderr.read().decode())
        return json.loads(line[len("RESULT "):])

    def stop_tool(self, sig=signal.SIGINT):
        if sig:
            self.tool.send_signal(sig)
        out, err = self.tool.communicate(timeout=TIMEOUT)
        return self.tool.returncode, out.decode(), err.decode()

    def finish(self, cmd=b"exit\n"):
        try:
            self.wl.stdin.write(cmd)
            self.wl.stdin.flush()
        except BrokenPipeError:
            pass
        out, err = self.wl.communicate(timeout=TIMEOUT)
        return self.wl.returncode, self.seen + out.decode(), err.decode()

    def dead_stderr(self):
        """Kill both, then the workload's stderr (a read that cannot hang)."""
        self.kill()
        return self.wl.stderr.read().decode(errors="replace")

    def kill(self):
        for p in (self.tool, self.wl):
            if p.poll() is None:
                p.kill()
                p.wait()


def save(name, text):
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / name).write_text(text)


def trace_run(build, workload, args=(), tag="", wl_args=()):
    """Attach to a workload, run its scenario, detach, let it exit.

    Returns (its RESULT, the parsed report, the report text, its stdout);
    the report is kept in tests/output for reading after the run.
    """
    name, python = build
    t = Traced(python, workload, args, wl_args=wl_args)
    try:
        result = t.run()
        rc, out, err = t.stop_tool()
        wrc, wout, werr = t.finish()
    finally:
        t.kill()
    save("-".join([workload[:-3] + tag, *(os.path.basename(a) for a in wl_args), name])
         + ".txt", out + err)
    assert rc == 0, err
    assert wrc == 0, werr
    return result, Report(out), out, wout


def folded_by_leaf(text):
    """Folded output -> {leaf frame location: summed count}."""
    weights = {}
    for line in text.splitlines():
        stack, n = line.rsplit(" ", 1)
        leaf = frame_loc(stack.split(";")[-1])
        weights[leaf] = weights.get(leaf, 0) + int(n)
    return weights


def pytest_collection_modifyitems(config, items):
    """A test module may narrow its own matrix with keep_item(item): the
    items it drops are deselected, never skipped (CI fails on a skip)."""
    keep, drop = [], []
    for item in items:
        f = getattr(item.module, "keep_item", None)
        (keep if f is None or f(item) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
