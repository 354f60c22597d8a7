"""Launch mode behaves like `strace`/`perf record -- CMD`: the command's
output, signals and exit status are its own, wrapper scripts are followed
to the interpreter they exec, and pyleakbpf dying or going away never
leaves the command stopped or orphaned."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import BUILDS, TIMEOUT, TOOL, WORKLOADS, Report, _read_line, frame_loc, loc, save

PY = BUILDS["debian"][0]
TARGET = str(WORKLOADS / "signal_target.py")
KEPT = 2000 * 4096


def gone(pid):
    """The command's PID is no process any more (not orphaned, not a zombie)."""
    return not os.path.exists(f"/proc/{pid}")


def proc_field(pid, name):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split()[1]
    return None


def status_of(returncode):
    """Popen's returncode as a shell (and pyleakbpf) reports it."""
    return 128 - returncode if returncode < 0 else returncode


class Stdin:
    """A pipe for the command's stdin that stays open until the test ends
    (Popen.communicate would close it: the command would see EOF)."""

    def __enter__(self):
        self.r, self.w = os.pipe()
        return self.r

    def __exit__(self, *exc):
        os.close(self.w)


def untraced(mode, sig):
    """What the command prints and returns without pyleakbpf."""
    with Stdin() as stdin:
        p = subprocess.Popen([PY, TARGET, mode], cwd=WORKLOADS, stdin=stdin,
                             stdout=subprocess.PIPE)
        os.close(stdin)
        ready = _read_line(p.stdout, time.monotonic() + TIMEOUT, "READY")
        os.kill(p.pid, sig)
        out, _ = p.communicate(timeout=TIMEOUT)
    return status_of(p.returncode), ready.replace(str(p.pid), "PID") + out.decode()


def start(args, mode, out, stdin=subprocess.PIPE):
    p = subprocess.Popen([str(TOOL), "-t", "50", "-o", str(out), *args, "--", PY, TARGET, mode],
                         cwd=WORKLOADS, stdin=stdin, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    if stdin != subprocess.PIPE:
        os.close(stdin)
    ready = _read_line(p.stdout, time.monotonic() + TIMEOUT, "READY from the command")
    if not ready.startswith("READY"):
        p.kill()
        pytest.fail(ready + p.communicate(timeout=TIMEOUT)[1].decode())
    _, pid, site = ready.split(" ", 2)
    return p, int(pid), json.loads(site), ready.replace(pid, "PID")


def kept_site(text, site):
    sites = {frame_loc(s["frames"][0]): s for s in Report(text).sites if s["frames"]}
    got = sites.get(loc(site))
    assert got and KEPT <= got["bytes"] <= 1.1 * KEPT, text
    return got


@pytest.mark.parametrize("mode,sig", [("kbi", signal.SIGINT), ("plain", signal.SIGTERM),
                                      ("handler", signal.SIGINT), ("handler", signal.SIGTERM),
                                      ("plain", signal.SIGHUP)],
                         ids=["kbi-INT", "plain-TERM", "handler-INT", "handler-TERM",
                              "plain-HUP"])
def test_signal_to_pyleakbpf_reaches_the_command(bpf_ok, tmp_path, mode, sig):
    """Sent to pyleakbpf alone: the report is written, the command gets the
    signal (its KeyboardInterrupt or its own handler runs) and ends as it
    would untraced; its exit status is pyleakbpf's; nothing is left."""
    want_status, want_out = untraced(mode, sig)
    out = tmp_path / "report.txt"
    with Stdin() as stdin:
        p, pid, site, ready = start([], mode, out, stdin)
        os.kill(p.pid, sig)
        stdout, stderr = p.communicate(timeout=TIMEOUT)
    text = out.read_text()
    save(f"launch-signal-{mode}-{sig.name}.txt", text + stderr.decode())
    assert p.returncode == want_status, stderr.decode()
    assert ready + stdout.decode() == want_out
    assert gone(pid)
    assert "(interrupted)" in text
    kept_site(text, site)
    assert f"pyleakbpf: {sig.name} passed on to PID {pid}" in stderr.decode()


def test_duration_detaches_and_says_so(bpf_ok, tmp_path):
    """After -d: the report, a line on stderr, the command runs on untraced
    (not stopped, no tracer) and Ctrl-C sent to pyleakbpf reaches it."""
    out = tmp_path / "report.txt"
    with Stdin() as stdin:
        p, pid, site, ready = start(["-d", "1"], "kbi", out, stdin)
        detached_then_interrupted(p, pid, site, out)


def detached_then_interrupted(p, pid, site, out):
    deadline = time.monotonic() + TIMEOUT
    while True:
        line = _read_line(p.stderr, deadline, "the detach message")
        if "duration reached" in line:
            break
    assert line == (f"pyleakbpf: duration reached: detached, waiting for PID {pid} to exit "
                    "(signals to pyleakbpf are forwarded to it)\n")
    assert "report 1 (duration reached)" in out.read_text()
    assert proc_field(pid, "TracerPid") == "0"
    assert proc_field(pid, "State") in ("S", "R")
    assert p.poll() is None
    os.kill(p.pid, signal.SIGINT)
    stdout, _ = p.communicate(timeout=TIMEOUT)
    assert stdout.decode() == "KBI\n"
    assert p.returncode == 7 and gone(pid)


# Runs pyleakbpf with the final report (folded: every stack, start-up's
# included, far more than a pipe holds) going into a FIFO nobody reads, so it
# blocks in the middle of that report while the command is paused at
# Py_FinalizeEx; kills it there (SIGKILL), then, as the subreaper that
# inherits the command, watches the command finish.
KILLER = r'''
import ctypes, json, os, select, signal, subprocess, sys, time
assert ctypes.CDLL(None).prctl(36, 1, 0, 0, 0) == 0    # PR_SET_CHILD_SUBREAPER
tool, fifo, *cmd = sys.argv[1:]
rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)       # opened, never read
p = subprocess.Popen([tool, "--folded", "-o", fifo, "--", *cmd],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
deadline = time.monotonic() + 60
ready = p.stdout.readline().decode()
pid = int(ready.split()[1])

def state():
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None

p.stdin.close()                                        # it ends: EOF, exit 3
while not (state() in ("t", "T") and select.select([rfd], [], [], 0)[0]):
    assert time.monotonic() < deadline and p.poll() is None, "no paused report"
    time.sleep(0.01)
time.sleep(0.3)
before = state()
p.kill()
p.wait()
states = []
while True:
    r, st = os.waitpid(pid, os.WNOHANG)
    if r:
        break
    states.append(state())
    if time.monotonic() > deadline:
        os.kill(pid, signal.SIGKILL)
        sys.exit(f"command never finished: states {sorted(set(states))}")
    time.sleep(0.01)
rest = p.stdout.read().decode()
print(json.dumps({"ready": ready.replace(str(pid), "PID"), "rest": rest, "before": before,
                  "states": sorted(set(s for s in states if s)),
                  "code": os.waitstatus_to_exitcode(st)}))
'''


def test_sigkill_during_final_report_leaves_command_running(bpf_ok, tmp_path):
    """pyleakbpf killed while the command is paused for the shutdown report:
    the kernel lets the command go on (never state T), its output and exit
    status are those of an untraced run."""
    plain = subprocess.run([PY, TARGET, "plain"], cwd=WORKLOADS, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=TIMEOUT)
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    r = subprocess.run([sys.executable, "-c", KILLER, str(TOOL), str(fifo), PY, TARGET, "plain"],
                       cwd=WORKLOADS, capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr.decode()
    got = json.loads(r.stdout)
    assert got["before"] == "t"            # in a ptrace stop when pyleakbpf died
    assert "T" not in got["states"], got
    assert got["code"] == plain.returncode == 3
    want = re.sub(rb"READY \d+", b"READY PID", plain.stdout).decode()
    assert got["ready"] + got["rest"] == want


def test_sigkill_while_tracing_leaves_command_running(bpf_ok, tmp_path):
    """Killed mid-run, pyleakbpf leaves a command that runs on untraced."""
    out = tmp_path / "report.txt"
    p, pid, site, ready = start([], "plain", out)
    p.kill()
    p.wait(timeout=TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while proc_field(pid, "TracerPid") != "0":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert proc_field(pid, "State")[0] in "SR"
    p.stdin.write(b"\n")
    p.stdin.close()
    assert _read_line(p.stdout, deadline, "the command's LINE") == "LINE\n"
    while not gone(pid):    # reaped by init: it ran to its end
        assert time.monotonic() < deadline
        time.sleep(0.01)


def wrapper_cases(tmp_path):
    sh = tmp_path / "python-wrapper"
    sh.write_text(f'#!/bin/sh\nexec {PY} "$@"\n')
    sh.chmod(0o755)
    return {"sh-exec": ([str(sh)], None),
            "env": (["/usr/bin/env", os.path.basename(PY)], "/usr/bin:/bin")}


@pytest.mark.parametrize("case", ["sh-exec", "env"])
def test_wrapper_is_followed_to_its_interpreter(bpf_ok, tmp_path, case):
    """A shell script that execs python3.11, and /usr/bin/env python3.11: the
    interpreter they exec is traced from its first line, and stderr says so."""
    cmd, path = wrapper_cases(tmp_path)[case]
    env = dict(os.environ, PATH=path) if path else None
    wl = str(WORKLOADS / "early_leak.py")
    plain = subprocess.run([PY, wl], cwd=WORKLOADS, capture_output=True, timeout=TIMEOUT)
    out = tmp_path / "report.txt"
    r = subprocess.run([str(TOOL), "-t", "50", "-o", str(out), "--", *cmd, wl], cwd=WORKLOADS,
                       env=env, capture_output=True, timeout=TIMEOUT)
    text = out.read_text()
    err = r.stderr.decode()
    save(f"launch-wrapper-{case}.txt", text + err)
    assert r.returncode == plain.returncode == 3, err
    assert r.stdout == plain.stdout
    assert "not CPython: following its execs" in err
    assert re.search(rf"pyleakbpf: PID \d+ exec'ed {re.escape(PY)}, a CPython interpreter", err)
    assert "(interpreter shutting down; paused for this report)" in text
    result = json.loads(r.stdout.decode().split("RESULT ", 1)[1])
    sites = {frame_loc(s["frames"][0]): s for s in Report(text).sites if s["frames"]}
    got = sites.get(loc(result["leak"]))
    assert got and abs(got["bytes"] - result["leaked_bytes"]) <= 0.2 * result["leaked_bytes"], text


COUNTER = r'''
import signal, sys, time
n = 0
def count(sig, frame):
    global n
    n += 1
signal.signal(signal.SIGINT, count)
print("READY", flush=True)
while not n:
    time.sleep(0.01)
time.sleep(1.5)
print("COUNT", n, flush=True)
sys.exit(10 + n)
'''


@pytest.mark.parametrize("args", [[], ["-d", "0.5"]], ids=["tracing", "after-d"])
def test_ctrl_c_in_a_terminal_reaches_the_command_once(bpf_ok, tmp_path, args):
    """Ctrl-C on a terminal signals pyleakbpf and the command alike: the
    command must get that SIGINT once, not once more from pyleakbpf."""
    import pty
    import select
    app = tmp_path / "count.py"
    app.write_text(COUNTER)
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(str(TOOL), [str(TOOL), "-o", str(tmp_path / "r.txt"), *args, "--", PY,
                             str(app)])
    buf = b""
    deadline = time.monotonic() + TIMEOUT

    def until(what):
        nonlocal buf
        while what not in buf:
            assert time.monotonic() < deadline, buf.decode(errors="replace")
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    buf += os.read(fd, 4096)
                except OSError:     # EIO: every writer has gone
                    return

    until(b"READY")
    if args:
        until(b"detached, waiting for PID")
    os.write(fd, b"\x03")
    until(b"COUNT")
    until(b"\x00never")
    _, st = os.waitpid(pid, 0)
    os.close(fd)
    assert b"COUNT 1" in buf, buf.decode(errors="replace")
    assert os.waitstatus_to_exitcode(st) == 11
