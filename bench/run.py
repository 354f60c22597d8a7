#!/usr/bin/python3
"""make bench: what tracing costs a Python program, measured.

Runs the workloads in bench/workloads/ under each configuration (no tracing,
tracemalloc, pyleakbpf, the floor build, ...) on each Python build, several
rounds with the configurations in a new order every round, and writes
bench/results.md. Progress goes to stderr. See bench/README.md for what each
figure means.

Standard library only; run as root by /usr/bin/python3.
"""
import argparse
import json
import os
import random
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORKLOADS = BENCH / "workloads"
TOOL = ROOT / "pyleakbpf"
FLOOR = ROOT / "build" / "pyleakbpf-floor"
OUT = ROOT / "build" / "bench"          # per-run logs and reports, raw JSON

BUILDS = [
    ("debian", "/usr/bin/python3.11",
     "Debian python3.11: LTO+PGO, stripped, pymalloc inlined (partial coverage)"),
    ("pyenv", "/root/.pyenv/versions/3.11.7/bin/python3.11",
     "pyenv 3.11.7: shared libpython with symbols, no LTO"),
]

# Workload sizes: (full run, --quick). The full sizes keep `make bench`
# under 15 minutes on a 2-core VM where a uprobe trap costs microseconds;
# --scale multiplies them.
SIZES = {
    "churn": (100_000, 10_000),       # instances, 1% kept
    "churn-long": (60_000_000, 2_000_000),  # (a) long enough for --sample's windows
    "mixed": (3_000, 500),            # iterations of dict/str/list/json work
    "threaded": (5_000, 500),         # requests over 4 threads
    "depth": (50_000, 5_000),         # instances, at 1 and at 50 frames
    "stacks": (100_000, 2_000),       # distinct stacks, 10 blocks each
}
THREADS = 4
KEEP_PER_STACK = 10
BIG_MAPS = ["--max-stacks", "131072", "--max-allocs", "1100000", "--map-budget", "512"]

# name -> (label, interpreter -X options, tracer command or None)
CONFIGS = {
    "none": ("no tracing", [], None),
    "tm1": ("-X tracemalloc=1", ["-X", "tracemalloc=1"], None),
    "tm25": ("-X tracemalloc=25", ["-X", "tracemalloc=25"], None),
    "exact": ("pyleakbpf (exact)", [], [str(TOOL)]),
    "floor": ("floor: same hooks, empty BPF", [], [str(FLOOR)]),
    "sample": ("pyleakbpf --sample 2", [], [str(TOOL), "--sample", "2"]),
    "exact-big": ("pyleakbpf " + " ".join(BIG_MAPS), [], [str(TOOL), *BIG_MAPS]),
}

SETUP_TIMEOUT = 180     # start-up to READY (the stacks workload compiles 100k functions)
ATTACH_TIMEOUT = 120    # tracer start to "tracing PID"
REPORT_TIMEOUT = 180    # SIGINT to tracer exit
EXIT_TIMEOUT = 60       # workload exit after the last line

TRACING_LINE = "pyleakbpf: tracing PID"
HOOK_RE = re.compile(r"^  (\S+)\s+(\S+)\s+([\d,]+)  (.*)$")
OUTSTANDING_RE = re.compile(
    r"^outstanding \(allocated since tracing began, not freed\): (.+) in ([\d,]+) blocks? "
    r"at (\d+) sites?")
COUNTER_RE = re.compile(r"^  \s*([\d,]+)  (.+)$")

_live = {}              # pid -> Popen: every process started and not yet reaped


class RunFailed(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --- processes -----------------------------------------------------------

def spawn(argv, **kw):
    p = subprocess.Popen(argv, **kw)
    _live[p.pid] = p
    return p


def reap(p, status):
    p.returncode = os.waitstatus_to_exitcode(status)
    _live.pop(p.pid, None)


def kill(p):
    """SIGKILL p if it still runs, and reap it."""
    if p is None or p.pid not in _live:
        return
    try:
        p.kill()
    except ProcessLookupError:
        pass
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        log(f"bench: process {p.pid} survives SIGKILL")
    _live.pop(p.pid, None)


def kill_all():
    for p in list(_live.values()):
        kill(p)


def try_wait4(p):
    """Reap p if it has exited: its rusage, else None."""
    pid, status, ru = os.wait4(p.pid, os.WNOHANG)
    if pid == 0:
        return None
    reap(p, status)
    return ru


def wait4(p, timeout):
    """Wait for p; (seconds waited, rusage). Raises RunFailed on timeout."""
    t0 = time.monotonic()
    fd = os.pidfd_open(p.pid)
    try:
        if not select.select([fd], [], [], timeout)[0]:
            raise RunFailed(f"{Path(p.args[0]).name} did not exit within {timeout} s")
    finally:
        os.close(fd)
    waited = time.monotonic() - t0
    _, status, ru = os.wait4(p.pid, 0)
    reap(p, status)
    return waited, ru


# Tracers that have written their report and are still detaching (closing
# one uprobe link after another), with the result they belong to. They are
# reaped between runs, so a slow exit costs no benchmark time; a tracer that
# fails or hangs there still fails its run.
_detaching = []         # [Popen, result dict, SIGINT time]
MAX_DETACHING = 2


def reap_detaching(block=False):
    """Reap exited tracers; wait while more than MAX_DETACHING (all if block)."""
    while _detaching:
        keep = []
        for p, res, t_sig in _detaching:
            ru = try_wait4(p)
            if ru is None:
                if time.monotonic() - t_sig > REPORT_TIMEOUT:
                    kill(p)
                    res["ok"] = False
                    res["error"] = (f"tracer did not exit within {REPORT_TIMEOUT} s of "
                                    f"SIGINT (killed)")
                else:
                    keep.append((p, res, t_sig))
                continue
            res["exit_s_upper"] = time.monotonic() - t_sig
            res["tracer_maxrss_kib"] = max(res.get("tracer_maxrss_kib") or 0, ru.ru_maxrss)
            if p.returncode != 0 and res["ok"]:
                res["ok"] = False
                res["error"] = f"tracer exited with status {p.returncode} after its report"
        _detaching[:] = keep
        if len(_detaching) <= (0 if block else MAX_DETACHING):
            return
        time.sleep(0.01)


class Lines:
    """Lines of a pipe, with deadlines."""

    def __init__(self, stream):
        self.fd = stream.fileno()
        self.buf = b""

    def readline(self, timeout, what):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise RunFailed(f"no {what} within {timeout} s")
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise RunFailed(f"workload closed its output before {what}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace")


def send(p, text):
    try:
        p.stdin.write(text.encode() + b"\n")
        p.stdin.flush()
    except BrokenPipeError:
        raise RunFailed("workload exited early (stdin closed)")


def tail(path, n=5):
    try:
        lines = Path(path).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(lines[-n:])


def wait_for_text(path, text, p, timeout):
    """Poll file path until it holds text; fail if p exits first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if text in Path(path).read_text(errors="replace"):
                return
        except OSError:
            pass
        if p.poll() is not None:
            _live.pop(p.pid, None)
            raise RunFailed(f"tracer exited with status {p.returncode} before attaching: "
                            f"{tail(path)}")
        if time.monotonic() > deadline:
            raise RunFailed(f"tracer not attached within {timeout} s: {tail(path)}")
        time.sleep(0.01)


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    """utime + stime of pid in seconds, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_hwm_kib(pid):
    """Peak RSS (VmHWM) of pid in KiB, from /proc/PID/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def report_done(path):
    """The text report is all there: its last sections were written."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return False
    return "\nCounters:\n" in text and text.endswith("\n")


def map_memory(pid, names):
    """BPF maps the process holds open: {map id: (name, type, memlock bytes)}."""
    maps = {}
    fddir = f"/proc/{pid}/fd"
    for fd in os.listdir(fddir):
        try:
            if os.readlink(f"{fddir}/{fd}") != "anon_inode:bpf-map":
                continue
            info = {}
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    k, _, v = line.partition(":")
                    info[k.strip()] = v.strip()
        except OSError:
            continue
        mid = int(info.get("map_id", -1))
        name, typ = names.get(mid, ("?", "type " + info.get("map_type", "?")))
        maps[mid] = (name, typ, int(info.get("memlock", 0)))
    return maps


def bpftool_names():
    """map id -> (name, type) from `bpftool -j map show` (empty if bpftool fails)."""
    exe = shutil.which("bpftool") or "/usr/sbin/bpftool"
    try:
        r = subprocess.run([exe, "-j", "map", "show"], capture_output=True, text=True,
                           timeout=20)
        return {m["id"]: (m.get("name", ""), m.get("type", ""))
                for m in json.loads(r.stdout or "[]")}
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return {}


# --- reports ----------------------------------------------------------------

def parse_int(s):
    return int(s.replace(",", ""))


def parse_report(text):
    """Hooks, totals and counters of a text report."""
    hooks, counters, out = {}, {}, {}
    section = None
    for line in text.splitlines():
        m = OUTSTANDING_RE.match(line)
        if m:
            out = {"bytes_h": m.group(1), "blocks": parse_int(m.group(2)),
                   "sites": int(m.group(3))}
        if line.startswith("Hooks (events while tracing):"):
            section = "hooks"
            continue
        if line.startswith("Counters:"):
            section = "counters"
            continue
        if section == "hooks":
            m = HOOK_RE.match(line)
            if m:
                hooks[m.group(1)] = (m.group(2), parse_int(m.group(3)))
            else:
                section = None
        elif section == "counters":
            m = COUNTER_RE.match(line)
            if m:
                counters[m.group(2).strip()] = parse_int(m.group(1))
            else:
                section = None
    return hooks, counters, out


# --- one run ------------------------------------------------------------------

def run_one(py, job, rundir, loop_timeout, wait_exit=False):
    """Run one workload under one configuration; a dict of what was measured."""
    _, xopts, tracer = CONFIGS[job["config"]]
    rundir.mkdir(parents=True, exist_ok=True)
    res = {"ok": False}
    wl = tr = None
    report = rundir / "report.txt"
    for f in ("report.txt", "tracer.err", "tracer.out"):
        (rundir / f).unlink(missing_ok=True)
    try:
        with open(rundir / "workload.err", "wb") as err:
            wl = spawn([py, *xopts, str(WORKLOADS / job["script"]), *job["args"]],
                       cwd=WORKLOADS, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                       stderr=err, bufsize=0)
        out = Lines(wl.stdout)
        line = out.readline(SETUP_TIMEOUT, "READY")
        if line.strip() != "READY":
            raise RunFailed(f"workload said {line!r} instead of READY")
        if tracer:
            t0 = time.monotonic()
            with open(rundir / "tracer.out", "wb") as o, open(rundir / "tracer.err", "wb") as e:
                tr = spawn([*tracer, "-p", str(wl.pid), "-o", str(report)],
                           stdin=subprocess.DEVNULL, stdout=o, stderr=e)
            wait_for_text(rundir / "tracer.err", TRACING_LINE, tr, ATTACH_TIMEOUT)
            res["attach_s"] = time.monotonic() - t0
            for ln in (rundir / "tracer.err").read_text(errors="replace").splitlines():
                if ln.startswith(TRACING_LINE):
                    res["plan"] = re.sub(r"^pyleakbpf: tracing PID \d+ ", "", ln).replace(
                        "; Ctrl-C to report", "")
            cpu0 = proc_cpu(tr.pid)
        send(wl, "go")
        line = out.readline(loop_timeout, "loop result")
        try:
            res["result"] = json.loads(line)
            res["loop_s"] = float(res["result"]["loop_s"])
        except (ValueError, KeyError, TypeError):
            raise RunFailed(f"workload printed {line!r} instead of its JSON result")
        if tracer:
            if tr.poll() is not None:
                _live.pop(tr.pid, None)
                raise RunFailed(f"tracer died during the loop (status {tr.returncode}): "
                                f"{tail(rundir / 'tracer.err')}")
            res["tracer_cpu_loop_s"] = proc_cpu(tr.pid) - cpu0
            maps = map_memory(tr.pid, bpftool_names())
            res["maps"] = {str(k): v for k, v in maps.items()}
            res["maps_bytes"] = sum(v[2] for v in maps.values())
            # SIGINT: the tracer writes its report (one flush at its end), then
            # detaches and exits. The report is done at the file's last size
            # change, seen by polling every millisecond.
            t_sig = time.monotonic()
            os.kill(tr.pid, signal.SIGINT)
            last_size, t_last, ru = -1, t_sig, None
            while True:
                now = time.monotonic()
                try:
                    size = report.stat().st_size
                except OSError:
                    size = -1
                if size != last_size:
                    last_size, t_last = size, now
                ru = try_wait4(tr)
                if ru is not None:
                    res["exit_s"] = now - t_sig
                    break
                if size > 0 and now - t_last >= 0.05 and report_done(report):
                    # while it detaches: its CPU time and peak RSS so far
                    try:
                        res["tracer_cpu_s"] = proc_cpu(tr.pid)
                        res["tracer_maxrss_kib"] = proc_hwm_kib(tr.pid)
                    except OSError:
                        pass
                    break
                if now - t_sig > REPORT_TIMEOUT:
                    raise RunFailed(f"no complete report within {REPORT_TIMEOUT} s of SIGINT: "
                                    f"{tail(rundir / 'tracer.err')}")
                time.sleep(0.001)
            res["report_s"] = t_last - t_sig
            if ru is None and (wait_exit or job.get("wait_exit")):
                _, ru = wait4(tr, REPORT_TIMEOUT)
                res["exit_s"] = time.monotonic() - t_sig
            if ru is not None:
                # exited: rusage is exact (and covers the detach too)
                res["tracer_cpu_s"] = ru.ru_utime + ru.ru_stime
                res["tracer_maxrss_kib"] = ru.ru_maxrss
                if tr.returncode != 0:
                    raise RunFailed(f"tracer exited with status {tr.returncode}: "
                                    f"{tail(rundir / 'tracer.err')}")
            try:
                text = report.read_text(errors="replace")
            except OSError as e:
                raise RunFailed(f"no report: {e}")
            hooks, counters, totals = parse_report(text)
            if not hooks:
                raise RunFailed("report has no 'Hooks (events while tracing):' section")
            res["hooks"] = hooks
            res["events"] = sum(n for _, n in hooks.values())
            res["counters"] = counters
            res["outstanding"] = totals
        send(wl, "exit")
        wl.stdin.close()
        _, _ = wait4(wl, EXIT_TIMEOUT)
        if wl.returncode != 0:
            raise RunFailed(f"workload exited with status {wl.returncode}: "
                            f"{tail(rundir / 'workload.err')}")
        res["ok"] = True
        if tr is not None and tr.pid in _live:
            _detaching.append((tr, res, t_sig))
            tr = None
    except RunFailed as e:
        res["error"] = str(e)
        if "workload" in str(e) or "READY" in str(e) or "loop result" in str(e):
            err = tail(rundir / "workload.err", 3)
            if err:
                res["error"] += f" (workload stderr: {err})"
    except OSError as e:
        res["error"] = f"{type(e).__name__}: {e}"
    finally:
        kill(tr)
        kill(wl)
    return res


# --- the plan -------------------------------------------------------------------

def make_groups(args, sample_ok):
    """Groups of jobs; the jobs of a group are interleaved round by round."""
    q = 1 if args.quick else 0

    def n(name):
        return str(max(1, int(SIZES[name][q] * args.scale)))

    main_cfgs = ["none", "tm1", "tm25", "exact", "floor"]
    groups = [
        ("churn", "(a) object churn", [
            {"script": "churn.py", "args": ["--n", n("churn")], "config": c, "variant": ""}
            for c in main_cfgs]),
        ("mixed", "(b) mixed dict/str/list/json", [
            {"script": "mixed.py", "args": ["--n", n("mixed")], "config": c, "variant": ""}
            for c in main_cfgs]),
        ("threaded", "(c) threaded server-like", [
            {"script": "threaded.py", "args": ["--n", n("threaded"), "--threads", str(THREADS)],
             "config": c, "variant": ""} for c in main_cfgs]),
        # --sample attaches for 20 ms windows once a second: its cost shows
        # on a loop that runs for seconds, not on the short one above
        ("churn-long", "(a) object churn, long: sampling mode", [
            {"script": "churn.py", "args": ["--n", n("churn-long")], "config": c, "variant": ""}
            for c in (["none", "sample"] if sample_ok else [])]),
        ("depth", "stack depth: 1 vs 50 frames", [
            {"script": "churn.py", "args": ["--n", n("depth"), "--depth", str(d)],
             "config": c, "variant": f"depth {d}"}
            for d in (1, 50) for c in ("none", "exact")]),
        ("stacks", "report with many stacks", [
            {"script": "manystacks.py", "args": ["--stacks", n("stacks"),
                                                 "--keep", str(KEEP_PER_STACK)],
             "config": "exact-big", "variant": "", "wait_exit": True}]),
    ]
    if args.only:
        keep = set(args.only.split(","))
        groups = [g for g in groups if g[0] in keep]
    return groups


def sizes_text(args):
    q = 1 if args.quick else 0
    return {k: max(1, int(v[q] * args.scale)) for k, v in SIZES.items()}


# --- statistics -----------------------------------------------------------------

def med(xs):
    return statistics.median(xs) if xs else None


def fmt(x, spec=".3f", none="-"):
    return none if x is None else format(x, spec)


def mib(b):
    return None if b is None else b / 1048576


def summarize(runs):
    """runs: list of result dicts of one (build, job) -> summary."""
    ok = [r for r in runs if r["ok"]]
    s = {"n": len(runs), "ok": len(ok)}
    loops = [r["loop_s"] for r in ok]
    s["loop_med"], s["loop_min"], s["loop_max"] = (
        med(loops), min(loops, default=None), max(loops, default=None))
    for k in ("events", "tracer_cpu_s", "tracer_cpu_loop_s", "tracer_maxrss_kib",
              "maps_bytes", "report_s", "exit_s", "exit_s_upper", "attach_s"):
        vals = [r[k] for r in ok if r.get(k) is not None]
        s[k] = med(vals)
        s[k + "_max"] = max(vals, default=None)
    s["plan"] = next((r["plan"] for r in ok if r.get("plan")), None)
    s["hooks"] = next((r["hooks"] for r in ok if r.get("hooks")), None)
    s["last"] = ok[-1] if ok else None
    return s


def target_row(rows, what, build, measured, met):
    verdict = "n/a" if met is None else ("met" if met else "NOT met")
    rows.append(f"| {what} | {build} | {measured} | {verdict} |")


# --- results.md -------------------------------------------------------------------

def machine_info():
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1048576:.1f} GiB"
    except OSError:
        pass
    return cpu, os.cpu_count(), mem, os.uname().release


def git_commit():
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=20).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=20).stdout.strip()
        branch = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--abbrev-ref", "HEAD"],
                                capture_output=True, text=True, timeout=20).stdout.strip()
        return f"{rev} ({branch}{', uncommitted changes' if dirty else ''})"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def python_version(py):
    try:
        return subprocess.run([py, "-c", "import sys; print(sys.version.replace(chr(10), ' '))"],
                              capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def write_results(path, args, builds, skipped, groups, results, notes, wall_s, complete):
    """results[(build, group, job index)] = [run dicts]."""
    notes = list(notes)
    cpu, cores, mem, kernel = machine_info()
    sizes = sizes_text(args)
    L = []
    L.append("# pyleakbpf benchmark results")
    L.append("")
    if args.quick:
        L.append("**QUICK SMOKE RUN (`--quick`): tiny sizes, 1 run each. These numbers "
                 "only show that the harness works; they are not measurements.**")
        L.append("")
    if not complete:
        L.append("**INCOMPLETE: the run was interrupted; only the runs done are shown.**")
        L.append("")
    L.append(f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; `make bench` wall time "
             f"{wall_s / 60:.1f} min")
    L.append(f"- git commit: {git_commit()}")
    L.append(f"- machine: {cpu}, {cores} cores, {mem} RAM; kernel {kernel}")
    for name, py, desc in builds:
        L.append(f"- Python `{name}`: `{py}`, {python_version(py)}; {desc}")
    for name, py, why in skipped:
        L.append(f"- Python `{name}`: `{py}` SKIPPED: {why}")
    L.append(f"- runs per configuration: {args.runs} (median shown), configurations in a new "
             f"random order every round (seed {args.seed}); report-time runs: "
             f"{args.report_runs}")
    L.append(f"- sizes: (a) {sizes['churn']:,} instances; (b) {sizes['mixed']:,} iterations; "
             f"(c) {sizes['threaded']:,} requests over {THREADS} threads; depth variant "
             f"{sizes['depth']:,} instances; report: {sizes['stacks']:,} stacks x "
             f"{KEEP_PER_STACK} blocks")
    L.append(f"- tracers {'exit before the next run starts (--wait-exit)' if args.wait_exit else 'that have written their report detach while the next run starts (see the life-cycle table)'}")

    # summaries
    S = {}
    for (b, g, j), runs in results.items():
        S[(b, g, j)] = summarize(runs)

    def find(b, g, config, variant=""):
        for gname, _, jobs in groups:
            if gname != g:
                continue
            for j, job in enumerate(jobs):
                if job["config"] == config and job["variant"] == variant:
                    return S.get((b, g, j))
        return None

    # per-event costs
    def per_event(b, g, config, variant=""):
        s, base, ex = find(b, g, config, variant), find(b, g, "none", variant), \
            find(b, g, "exact", variant)
        if not s or not base or s["loop_med"] is None or base["loop_med"] is None:
            return None, None
        ev = s["events"]
        if not ev and config == "floor" and ex:
            ev = ex["events"]       # the floor build counts nothing
        if not ev:
            return None, ev
        return (s["loop_med"] - base["loop_med"]) / ev * 1e9, ev

    # the floor's hooks must be exact mode's; its counts are used if it has any
    for b, _, _ in builds:
        for gname, _, jobs in groups:
            fl, ex = find(b, gname, "floor"), find(b, gname, "exact")
            if not fl or not ex or not fl["hooks"] or not ex["hooks"]:
                continue
            if list(fl["hooks"]) != list(ex["hooks"]):
                notes.append(f"WARNING: {b} {gname}: the floor's hooks "
                             f"({', '.join(fl['hooks'])}) differ from pyleakbpf's "
                             f"({', '.join(ex['hooks'])}): the floor is not comparable")
    floor_counts = [r.get("events") for k, runs in results.items()
                    if groups_job(groups, k)["config"] == "floor" for r in runs if r["ok"]]
    if floor_counts and not any(floor_counts):
        notes.append("the floor build counts no events (its BPF programs return before "
                     "counting), though its report lists the same hooks: the floor's "
                     "per-event cost divides by pyleakbpf's (exact mode's) median event count "
                     "for the same workload and build, marked \"(exact's)\"")
    L += [f"- {nt}" for nt in notes]
    L.append("")

    # targets
    T = ["| target | build | measured | verdict |", "|---|---|---|---|"]
    for b, _, _ in builds:
        pe, _ = per_event(b, "churn", "exact")
        pf, _ = per_event(b, "churn", "floor")
        ratio = pe / pf if pe is not None and pf and pf > 0 else None
        target_row(T, "exact-mode per-event cost <= 1.3x the floor's (a)", b,
                   f"{fmt(pe, '.0f')} ns vs {fmt(pf, '.0f')} ns: {fmt(ratio, '.2f')}x",
                   None if ratio is None else ratio <= 1.3)
    for b, _, _ in builds:
        p1, _ = per_event(b, "depth", "exact", "depth 1")
        p50, _ = per_event(b, "depth", "exact", "depth 50")
        add = None if p1 is None or p50 is None else p50 - p1
        target_row(T, "50-frame stack walk adds <= 0.5 us per event", b,
                   f"{fmt(add and add / 1000, '.2f')} us ({fmt(p1, '.0f')} ns at 1 frame, "
                   f"{fmt(p50, '.0f')} ns at 50)", None if add is None else add <= 500)
    for b, _, _ in builds:
        s = find(b, "stacks", "exact-big")
        r = s and s["report_s"]
        sites = s and s["last"] and s["last"].get("outstanding", {}).get("sites")
        target_row(T, f"report with {sizes['stacks']:,} stacks <= 1 s", b,
                   f"{fmt(r, '.2f')} s ({fmt(sites, ',', '?')} sites)",
                   None if r is None else r <= 1.0)
    for b, _, _ in builds:
        vals = [S[k]["maps_bytes_max"] for k in S if k[0] == b and k[1] != "stacks"
                and S[k]["maps_bytes_max"] is not None
                and CONFIGS[groups_job(groups, k)["config"]][2] == [str(TOOL)]]
        m = max(vals, default=None)
        target_row(T, "kernel maps <= 64 MiB by default", b, f"{fmt(mib(m), '.1f')} MiB",
                   None if m is None else mib(m) <= 64)
    for b, _, _ in builds:
        s = find(b, "stacks", "exact-big")
        rss = s and s["tracer_maxrss_kib_max"]
        blocks = s and s["last"] and s["last"].get("outstanding", {}).get("blocks")
        target_row(T, "pyleakbpf RSS <= 100 MiB at 1M outstanding blocks", b,
                   f"{fmt(rss and rss / 1024, '.1f')} MiB at {fmt(blocks, ',', '?')} blocks",
                   None if rss is None else rss / 1024 <= 100)
    for b, _, _ in builds:
        s, base = find(b, "churn-long", "sample"), find(b, "churn-long", "none")
        if not s:
            target_row(T, "sampling mode slowdown on (a) <= 5%", b,
                       "not available (no --sample in ./pyleakbpf --help)", None)
        else:
            sl = (s["loop_med"] / base["loop_med"] - 1) if s["loop_med"] and base and \
                base["loop_med"] else None
            target_row(T, "sampling mode slowdown on (a) <= 5%", b,
                       f"{fmt(sl and sl * 100, '+.1f')}%", None if sl is None else sl <= 0.05)
    L.append("## Targets")
    L.append("")
    if args.quick:
        L.append("(quick run: the sizes are far below the targets' own; verdicts are only "
                 "indicative)")
        L.append("")
    L += T
    L.append("")

    # workload tables
    for gname, gtitle, jobs in groups:
        if gname in ("depth", "stacks"):
            continue
        size = {"churn": f"{sizes['churn']:,} instances, 1% kept",
                "churn-long": f"{sizes['churn-long']:,} instances, 1% kept",
                "mixed": f"{sizes['mixed']:,} iterations",
                "threaded": f"{sizes['threaded']:,} requests, {THREADS} threads"}[gname]
        L.append(f"## {gtitle} ({size})")
        L.append("")
        for b, _, _ in builds:
            L.append(f"### {b}")
            L.append("")
            L.append("| configuration | runs ok | loop s (median) | min | max | slowdown | "
                     "events | ns/event | vs floor | tracer CPU s (loop / total) | "
                     "tracer max RSS MiB | kernel maps MiB |")
            L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
            base = find(b, gname, "none")
            pf, _ = per_event(b, gname, "floor")
            for j, job in enumerate(jobs):
                s = S.get((b, gname, j))
                if not s:
                    continue
                slow = s["loop_med"] / base["loop_med"] if s["loop_med"] and base and \
                    base["loop_med"] else None
                pe, ev = per_event(b, gname, job["config"]) if CONFIGS[job["config"]][2] \
                    else (None, None)
                vs = pe / pf if pe is not None and pf else None
                evs = fmt(ev, ",")
                if job["config"] == "floor" and not s["events"] and ev:
                    evs += " (exact's)"
                cpu_s = (f"{fmt(s['tracer_cpu_loop_s'], '.2f')} / {fmt(s['tracer_cpu_s'], '.2f')}"
                         if CONFIGS[job["config"]][2] else "-")
                L.append(f"| {CONFIGS[job['config']][0]} | {s['ok']}/{s['n']} | "
                         f"{fmt(s['loop_med'])} | {fmt(s['loop_min'])} | {fmt(s['loop_max'])} | "
                         f"{fmt(slow, '.1f')}x | {evs} | {fmt(pe, '.0f')} | "
                         f"{fmt(vs, '.2f')}{'x' if vs is not None else ''} | {cpu_s} | "
                         f"{fmt(s['tracer_maxrss_kib_max'] and s['tracer_maxrss_kib_max'] / 1024, '.1f')} | "
                         f"{fmt(mib(s['maps_bytes_max']), '.1f')} |")
            ex = find(b, gname, "exact")
            if ex and ex["hooks"]:
                busy = ", ".join(f"{h} {n:,}" for h, (_, n) in ex["hooks"].items() if n)
                L.append("")
                L.append(f"Events by hook (pyleakbpf exact, last run): {busy or 'none'}")
            L.append("")

    # depth
    L.append(f"## Stack walk: {sizes['depth']:,} instances allocated at 1 and at 50 frames")
    L.append("")
    L.append("| build | depth | runs ok | untraced s | pyleakbpf s | events | ns/event |")
    L.append("|---|---|---|---|---|---|---|")
    for b, _, _ in builds:
        pes = {}
        for d in (1, 50):
            v = f"depth {d}"
            u, e = find(b, "depth", "none", v), find(b, "depth", "exact", v)
            if not u or not e:
                continue
            pe, ev = per_event(b, "depth", "exact", v)
            pes[d] = pe
            L.append(f"| {b} | {d} | {u['ok']}/{u['n']}, {e['ok']}/{e['n']} | "
                     f"{fmt(u['loop_med'])} | {fmt(e['loop_med'])} | {fmt(ev, ',')} | "
                     f"{fmt(pe, '.0f')} |")
        if pes.get(1) is not None and pes.get(50) is not None:
            add = pes[50] - pes[1]
            L.append(f"| {b} | 50 - 1 | | | | | **{add:+.0f}** ({add / 49:+.1f} per frame) |")
    L.append("")

    # report time
    L.append(f"## Report with {sizes['stacks']:,} distinct stacks x {KEEP_PER_STACK} blocks "
             f"(`{' '.join(BIG_MAPS)}`)")
    L.append("")
    L.append("| build | runs ok | loop s | outstanding blocks | sites | SIGINT -> report "
             "written s | SIGINT -> exit s | tracer CPU s (loop / total) | tracer max RSS MiB | "
             "kernel maps MiB | dropped / lost |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for b, _, _ in builds:
        s = find(b, "stacks", "exact-big")
        if not s:
            continue
        last = s["last"] or {}
        o = last.get("outstanding", {})
        c = last.get("counters", {})
        lost = [f"{v:,} {k}" for k, v in c.items() if v and ("dropped" in k or "lost" in k
                                                           or "not aggregated" in k)]
        L.append(f"| {b} | {s['ok']}/{s['n']} | {fmt(s['loop_med'])} | "
                 f"{fmt(o.get('blocks'), ',')} | {fmt(o.get('sites'), ',')} | "
                 f"{fmt(s['report_s'], '.3f')} | {fmt(s['exit_s'], '.3f')} | "
                 f"{fmt(s['tracer_cpu_loop_s'], '.2f')} / {fmt(s['tracer_cpu_s'], '.2f')} | "
                 f"{fmt(s['tracer_maxrss_kib_max'] and s['tracer_maxrss_kib_max'] / 1024, '.1f')} | "
                 f"{fmt(mib(s['maps_bytes_max']), '.1f')} | {'; '.join(lost) or 'none'} |")
    L.append("")

    # kernel maps breakdown, default sizes
    L.append("## Kernel maps of one pyleakbpf run with default sizes ((a), exact)")
    L.append("")
    for b, _, _ in builds:
        s = find(b, "churn", "exact")
        if not s or not s["last"] or not s["last"].get("maps"):
            continue
        maps = sorted(s["last"]["maps"].values(), key=lambda m: -m[2])
        L.append(f"- {b}: " + ", ".join(f"{n or '?'} ({t}) {m / 1048576:.2f} MiB"
                                        for n, t, m in maps)
                 + f"; total {sum(m[2] for m in maps) / 1048576:.1f} MiB")
    L.append("")

    # tracer life cycle
    L.append("## pyleakbpf life cycle (all runs of pyleakbpf and the floor, medians)")
    L.append("")
    L.append("| build | runs | start -> attached s | SIGINT -> report written s | "
             "SIGINT -> exit s | tracer CPU s at report |")
    L.append("|---|---|---|---|---|---|")
    for b, _, _ in builds:
        ok = [r for k, runs in results.items() if k[0] == b for r in runs
              if r["ok"] and r.get("report_s") is not None]
        if not ok:
            continue
        ex = [r["exit_s"] for r in ok if r.get("exit_s") is not None]
        up = [r["exit_s_upper"] for r in ok if r.get("exit_s_upper") is not None]
        exits = []
        if ex:
            exits.append(f"{med(ex):.2f} (max {max(ex):.2f}, {len(ex)} waited for)")
        if up:
            exits.append(f"<= {med(up):.2f} ({len(up)} seen between runs)")
        L.append(f"| {b} | {len(ok)} | {med([r['attach_s'] for r in ok]):.2f} | "
                 f"{med([r['report_s'] for r in ok]):.3f} | {'; '.join(exits) or '-'} | "
                 f"{fmt(med([r['tracer_cpu_s'] for r in ok if r.get('tracer_cpu_s') is not None]), '.2f')} |")
    L.append("")

    # plans
    L.append("## Probe plans (pyleakbpf's start-up line)")
    L.append("")
    for b, _, _ in builds:
        plan = next((S[k]["plan"] for k in S if k[0] == b and S[k]["plan"]), None)
        L.append(f"- {b}: `{plan or '?'}`")
    L.append("")

    # failures
    L.append("## Failed runs")
    L.append("")
    fails = []
    for (b, g, j), runs in results.items():
        job = groups_job(groups, (b, g, j))
        for i, r in enumerate(runs):
            if not r["ok"]:
                fails.append(f"- {b} {g} {job['variant']} {CONFIGS[job['config']][0]}, run "
                             f"{i + 1}: {r.get('error', '?')}")
    L += fails or ["none"]
    L.append("")
    Path(path).write_text("\n".join(L))
    return len(fails)


def groups_job(groups, key):
    _, g, j = key
    for gname, _, jobs in groups:
        if gname == g:
            return jobs[j]
    raise KeyError(key)


# --- main -------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per configuration (default 5)")
    ap.add_argument("--report-runs", type=int, default=1,
                    help="runs of the many-stacks report workload (default 1)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke mode: tiny sizes, 1 run of everything")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every workload size")
    ap.add_argument("--only", help="comma-separated groups: churn,mixed,threaded,depth,stacks")
    ap.add_argument("--builds", help="comma-separated builds (default: all present): "
                    + ",".join(b[0] for b in BUILDS))
    ap.add_argument("--seed", type=int, default=1, help="seed of the configuration order")
    ap.add_argument("--timeout", type=float, default=600,
                    help="seconds one loop may take before the run is failed (default 600)")
    ap.add_argument("--wait-exit", action="store_true",
                    help="wait for each tracer to exit before the next run (by default a "
                    "tracer that has written its report detaches while the next run starts)")
    ap.add_argument("-o", "--output", default=str(BENCH / "results.md"))
    args = ap.parse_args()
    if args.quick:
        args.runs = 1
        args.report_runs = 1
    if args.runs < 1 or args.report_runs < 1:
        ap.error("--runs and --report-runs must be at least 1")

    if os.geteuid() != 0:
        sys.exit("bench: must run as root (BPF)")
    for exe in (TOOL, FLOOR):
        if not os.access(exe, os.X_OK):
            sys.exit(f"bench: {exe} is not built (make && make floor)")

    notes = []
    helptext = subprocess.run([str(TOOL), "--help"], capture_output=True, text=True).stdout
    sample_ok = "--sample" in helptext
    if not sample_ok:
        notes.append("sampling mode: not available (`./pyleakbpf --help` has no `--sample`); "
                     "its configuration is skipped")
    notes.append("floor: build/pyleakbpf-floor attaches the same hooks with BPF programs "
                 "that return at once")

    builds, skipped = [], []
    want = set(args.builds.split(",")) if args.builds else None
    for name, py, desc in BUILDS:
        if want is not None and name not in want:
            continue
        if os.access(py, os.X_OK):
            builds.append((name, py, desc))
        else:
            skipped.append((name, py, "not installed here"))
            log(f"bench: {name} build {py} absent: skipped")
    if not builds:
        sys.exit("bench: no Python build to run")

    groups = make_groups(args, sample_ok)
    rng = random.Random(args.seed)
    schedule = []           # (build, group, round, [job indices in run order])
    for b, py, _ in builds:
        for gname, _, jobs in groups:
            rounds = args.report_runs if gname == "stacks" else args.runs
            for r in range(rounds):
                order = list(range(len(jobs)))
                rng.shuffle(order)
                schedule.append((b, py, gname, r, rounds, order))
    total = sum(len(s[5]) for s in schedule)
    log(f"bench: {total} runs on {', '.join(b[0] for b in builds)}; sizes {sizes_text(args)}; "
        f"results to {args.output}")

    def on_signal(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)

    results = {}
    t_start = time.monotonic()
    done = 0
    complete = False
    OUT.mkdir(parents=True, exist_ok=True)
    try:
        for b, py, gname, r, rounds, order in schedule:
            jobs = next(j for g, _, j in groups if g == gname)
            for j in order:
                job = jobs[j]
                done += 1
                reap_detaching(block=bool(job.get("wait_exit") or args.wait_exit))
                tag = f"{b}-{gname}-{job['config']}{'-' + job['variant'].replace(' ', '') if job['variant'] else ''}"
                res = run_one(py, job, OUT / tag, args.timeout, args.wait_exit)
                res["round"] = r
                results.setdefault((b, gname, j), []).append(res)
                el = time.monotonic() - t_start
                what = f"{b} {gname} {job['variant'] + ' ' if job['variant'] else ''}" \
                       f"{CONFIGS[job['config']][0]} run {r + 1}/{rounds}"
                if res["ok"]:
                    extra = f"loop {res['loop_s']:.3f} s"
                    if "events" in res:
                        extra += f", {res['events']:,} events, report {res['report_s']:.3f} s"
                else:
                    extra = f"FAILED: {res['error']}"
                log(f"[{done}/{total} {el / 60:.1f} min] {what}: {extra}")
        reap_detaching(block=True)
        complete = True
    except KeyboardInterrupt:
        log("bench: interrupted; writing what was measured")
    finally:
        kill_all()
    wall = time.monotonic() - t_start
    with open(OUT / "results.json", "w") as f:
        json.dump({f"{k[0]}/{k[1]}/{k[2]}": v for k, v in results.items()}, f, indent=1,
                  default=str)
    out = args.output if complete else str(OUT / "results.partial.md")
    nfail = write_results(out, args, builds, skipped, groups, results, notes, wall, complete)
    log(f"bench: wrote {out} ({wall / 60:.1f} min, {nfail} failed run(s))")
    if not complete:
        sys.exit(130)
    sys.exit(1 if nfail else 0)


if __name__ == "__main__":
    main()
