"""Reports people act on: leak suspects, growth, and every output format
(text, folded, JSON, SVG, pprof) written from the same snapshot."""
import gzip
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import time

import pytest

from conftest import (BUILDS, OUTPUT, TIMEOUT, TOOL, WORKLOADS, Report, Traced, _read_line,
                      folded_by_leaf, frame_loc, loc, save, trace_run)
import svgcheck

FOLDED_LINE = re.compile(r"^([^;\s][^;]*)(;[^;]+)* (\d+)$")


# Interval of the suspects tests' reports, seconds.
SUSPECT_INTERVAL = 1.5


def step(t, deadline):
    """One step of the workload, wholly between two interval reports: the
    tool is stopped meanwhile (its probes still record), so however slow
    the step, the next report comes after it (at once if it is overdue)."""
    t.tool.send_signal(signal.SIGSTOP)
    began = time.monotonic()
    try:
        t.wl.stdin.write(b"step\n")
        t.wl.stdin.flush()
        line = _read_line(t.wl.stdout, deadline, "workload DONE")
    finally:
        t.tool.send_signal(signal.SIGCONT)
    assert line.startswith("DONE"), line + t.dead_stderr()
    info = json.loads(line.split(" ", 2)[2])
    # a step longer than an interval would make the tool catch up with two
    # reports in a row, one of them with no step: say so, not a wrong rank
    info["step_s"] = time.monotonic() - began
    return info


def site_loc(site):
    """Innermost Python frame of a JSON site, as file:line."""
    for f in site["frames"]:
        if not f.get("native"):
            return f"{os.path.basename(f['file'])}:{f['line']}"
    return site["stack"]


def test_suspects_rank_steady_leak_above_plateaued_cache(bpf_ok, build):
    """After 4 intervals the steady leak ranks first; the cache that filled
    and stopped does not rank above it, though it holds more bytes."""
    name, python = build
    t = Traced(python, "cache_and_leak.py",
               ["--suspects", "--json", str(SUSPECT_INTERVAL), "5"])
    reports, info, steps = [], None, []
    try:
        deadline = time.monotonic() + TIMEOUT
        for k in range(5):
            info = step(t, deadline)
            steps.append(round(info["step_s"], 2))
            reports.append(json.loads(_read_line(t.tool.stdout, deadline, f"report {k + 1}")))
        rc, out, err = t.stop_tool(sig=None)
        wrc, _, werr = t.finish(b"exit\n")
    finally:
        t.kill()
    save(f"suspects-{name}.json", "\n".join(json.dumps(r) for r in reports))
    assert rc == 0, err
    assert wrc == 0, werr
    last = reports[-1]
    assert last["report"] == 5
    assert max(steps) < SUSPECT_INTERVAL, f"steps took {steps} s: the machine is too slow"
    by_loc = {}
    for rank, s in enumerate(last["sites"]):
        by_loc.setdefault(site_loc(s), (rank, s))
    leak, cache = loc(info["leak"]), loc(info["cache"])
    assert leak in by_loc and cache in by_loc, list(by_loc)
    leak_rank, leak_site = by_loc[leak]
    cache_rank, cache_site = by_loc[cache]
    # the cache is the bigger site: ranking by bytes would put it first
    assert cache_site["inuse_bytes"] > leak_site["inuse_bytes"]
    assert leak_rank == 0, json.dumps(last["sites"][:3], indent=1)
    assert cache_site["suspect_score"] < leak_site["suspect_score"]
    assert leak_site["grew_intervals"] == leak_site["intervals"] == 5
    # growth since the previous report: one step of the leak, none of the cache
    want = info["leak_step_bytes"]
    assert abs(leak_site["change_since_previous"] - want) <= 0.25 * want, leak_site
    assert cache_site["change_since_previous"] == 0, cache_site


UNITS = {"B": 1, "KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3}


def signed_bytes(text):
    """'+62.5 KiB' -> 64000 (as printed, rounded)"""
    m = re.fullmatch(r"([+-]?[\d.]+) (B|KiB|MiB|GiB)", text.strip())
    assert m, text
    return float(m.group(1)) * UNITS[m.group(2)]


def test_suspects_text_growth_and_suspect_lines(bpf_ok):
    """The same drive in the text report: the growth: and suspect: lines
    under each site say what the JSON says (one build: the text is written
    from the same figures on every build)."""
    python = BUILDS["debian"][0]
    t = Traced(python, "cache_and_leak.py",
               ["--suspects", "-t", "50", str(SUSPECT_INTERVAL), "5"])
    seen, info, steps, kept = [], None, [], []
    try:
        deadline = time.monotonic() + TIMEOUT
        for k in range(5):
            info = step(t, deadline)
            steps.append(round(info["step_s"], 2))
            kept.append(info["leak_bytes"])
            while True:
                line = _read_line(t.tool.stdout, deadline, f"report {k + 1}")
                assert line, "".join(seen)
                seen.append(line)
                if re.match(rf"^report {k + 1} \(interval\)", line):
                    break
        rc, out, err = t.stop_tool(sig=None)
        wrc, _, werr = t.finish(b"exit\n")
    finally:
        t.kill()
    text = "".join(seen) + out
    save("suspects-text-debian.txt", text + err)
    assert rc == 0, err
    assert wrc == 0, werr
    assert max(steps) < SUSPECT_INTERVAL, f"steps took {steps} s: the machine is too slow"
    last = Report(text[text.rindex("\nreport 5 (interval)"):])
    assert re.search(r"^(Top|The) \d+ leak suspects?: sites whose outstanding bytes grew steadily",
                     text.split("report 5 (interval)")[-1], re.M), text
    by_loc = {}
    for s_ in last.sites:
        by_loc.setdefault(frame_loc(s_["frames"][0]), s_)
    leak = by_loc.get(loc(info["leak"]))
    assert leak and last.sites[0] is leak, text
    # the cache stopped growing: score 0, so it is no suspect at all
    assert loc(info["cache"]) not in by_loc, text
    sus = re.fullmatch(r"score (\d+) B/s \(slope (\S+ \S+)/s, grew in (\d+) of (\d+) "
                       r"intervals, (\d+)% of it in the later half\)", leak["info"]["suspect"])
    assert sus, leak["info"]
    assert (int(sus.group(3)), int(sus.group(4))) == (5, 5), leak["info"]
    assert int(sus.group(1)) > 0 and 30 <= int(sus.group(5)) <= 70, leak["info"]
    want = info["leak_step_bytes"]
    slope = want / SUSPECT_INTERVAL
    assert abs(signed_bytes(sus.group(2)) - slope) <= 0.25 * slope, leak["info"]
    growth = re.fullmatch(r"(\S+ \S+) since the previous report, (\S+ \S+) since report 1",
                          leak["info"]["growth"])
    assert growth, leak["info"]
    assert abs(signed_bytes(growth.group(1)) - want) <= 0.25 * want, leak["info"]
    since_first = kept[-1] - kept[0]
    assert abs(signed_bytes(growth.group(2)) - since_first) <= 0.25 * since_first, leak["info"]
    # the cache is there, in the first report (ranked by score with the rest)
    first = Report(text[:text.index("\nreport 2 (interval)")])
    assert loc(info["cache"]) in {frame_loc(x["frames"][0]) for x in first.sites}, text


def folded_lines(text):
    lines = text.splitlines()
    for line in lines:
        assert FOLDED_LINE.match(line), f"not folded-stack grammar: {line!r}"
    return lines


@pytest.fixture(scope="module")
def go_tool():
    if not shutil.which("go"):
        pytest.fail("go is missing: `make deps` installs golang-go")


def pprof_samples(path):
    """Every sample of the profile, read back by `go tool pprof -raw`:
    [(inuse_space, inuse_objects, alloc_space, alloc_objects), frames]
    with frames innermost first as 'function (file:line)' (native frames:
    'lib.so!symbol (native caller)', as in the text report)."""
    r = subprocess.run(["go", "tool", "pprof", "-raw", str(path)], capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    text = r.stdout
    assert "inuse_space/bytes[dflt] inuse_objects/count alloc_space/bytes " \
           "alloc_objects/count" in text, text[:600]
    locs = {}
    for m in re.finditer(r"^\s+(\d+): 0x[0-9a-f]+ M=\d+ (\S+) (.*):(\d+) s=\d+\(\)$",
                         text, re.M):
        func, file, line = m.group(2), m.group(3), m.group(4)
        locs[m.group(1)] = f"{func} (native caller)" if not file else f"{func} ({file}:{line})"
    samples = []
    for m in re.finditer(r"^\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+): ([\d ]+)$", text, re.M):
        samples.append((tuple(int(m.group(i)) for i in range(1, 5)),
                        [locs[i] for i in m.group(5).split()]))
    assert samples, text
    return samples


def pprof_top_functions(path, index):
    """Function names of `go tool pprof -top -sample_index=index`, by flat value."""
    r = subprocess.run(["go", "tool", "pprof", "-top", "-nodefraction=0",
                        f"-sample_index={index}", str(path)],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert re.search(rf"^Type: {index}$", r.stdout, re.M), r.stdout
    return [l.split()[-1] for l in r.stdout.splitlines()
            if re.match(r"^\s*[\d.]+[kMG]?B?\s+[\d.]+%", l)]


def svg_total(path):
    """(total, in bytes?) the SVG flame graph's script was given."""
    m = re.search(r"var FG = \{ total: (\d+), bytes: (true|false),", path.read_text())
    assert m, "no FG settings in the SVG"
    return int(m.group(1)), m.group(2) == "true"


def check_text_against_pprof(out, samples, result):
    """--full-path text: each ranked site is a pprof sample with the same
    frames and the same outstanding bytes and blocks, and allocated blocks."""
    sites = Report(out).sites
    assert len(sites) == 5, out
    by_stack = {}
    for values, frames in samples:
        by_stack.setdefault(tuple(frames), []).append(values)
    for site in sites:
        got = by_stack.get(tuple(site["frames"]))
        assert got and len(got) == 1, f"site {site['frames']} not one pprof sample"
        inuse_space, inuse_objects, alloc_space, alloc_objects = got[0]
        assert (site["bytes"], site["count"]) == (inuse_space, inuse_objects), site
        m = re.search(rf"^#{site['rank']} .* allocated in ([\d,]+) blocks? while tracing\)",
                      out, re.M)
        assert int(m.group(1).replace(",", "")) == alloc_objects, site
    # --full-path: the leak's frame names the workload's file in full
    assert sites[0]["frames"][0] == \
        f"open_connection ({WORKLOADS / result['leak']['file']}:{result['leak']['line']})", out


def check_json_against_pprof(doc, samples, result):
    """Per site: all four values equal the pprof sample of the same stack;
    the churn's allocations are all there although none is outstanding."""
    by_stack = {tuple(frames): values for values, frames in samples}
    for site in doc["sites"]:
        frames = tuple(f"{f['function']} (native caller)" if f.get("native") else
                       f"{f['function']} ({f['file']}:{f['line']})" for f in site["frames"])
        want = (site["inuse_bytes"], site["inuse_objects"], site["alloc_bytes"],
                site["alloc_objects"])
        assert by_stack.get(frames) == want, (site["stack"], want)
    assert len(doc["sites"]) == len(by_stack)
    churn = [s for s in doc["sites"] if site_loc(s) == loc(result["churn"][0])]
    size = result["leaked_bytes"] // result["leaked_count"]
    assert sum(s["alloc_objects"] for s in churn) == result["churn_count"], churn
    assert sum(s["alloc_bytes"] for s in churn) == result["churn_count"] * size, churn
    assert sum(s["inuse_objects"] for s in churn) <= 0.01 * result["churn_count"], churn


def check_json_sections(doc, result, build):
    """types, coverage, hooks and counters of a JSON report."""
    types = {t["type"]: t for t in doc["types"]}
    conn = types.get("Connection")
    assert conn and conn["objects"] == result["leaked_count"] == conn["change"], doc["types"]
    assert conn["bytes"] == result["leaked_bytes"], conn
    build_name = build[0]
    cov = doc["coverage"]
    assert cov["mode"] == ("inlined" if build_name == "debian" else "entry-points"), cov
    share = cov["attributed_share"]
    assert share is not None and 0.5 <= share <= 1.0, cov
    assert cov["pymalloc_tracked_bytes"] >= result["leaked_bytes"], cov
    assert cov["pymalloc_growth_bytes"] > 0 and cov["other_tracked_bytes"] >= 0, cov
    hooks = doc["hooks"]
    # the hooks are the plan's, in its order
    explain = subprocess.run([str(TOOL), "--explain", "--", build[1], "app.py"],
                             capture_output=True, text=True, timeout=TIMEOUT)
    assert explain.returncode == 0, explain.stderr
    planned = re.findall(r"^  (\S+)\s+(?:alloc|realloc|free|shutdown)\s", explain.stdout, re.M)
    assert list(hooks) == planned, (list(hooks), planned)
    assert all(isinstance(v, int) and v >= 0 for v in hooks.values()), hooks
    alloc_hook = "PyType_GenericAlloc" if build_name == "debian" else "PyObject_Malloc"
    assert hooks[alloc_hook] >= result["leaked_count"] + result["churn_count"], hooks
    counters = doc["counters"]
    assert len(counters) >= 15 and all(isinstance(v, int) for v in counters.values()), counters
    for name in ("allocations dropped", "stacks lost", "allocator calls seen only half",
                 "stack reads that failed", "stacks truncated at 127 frames"):
        found = [v for k, v in counters.items() if k.startswith(name)]
        assert found == [0], (name, counters)


def test_folded_pprof_json_totals_agree(bpf_ok, build, go_tool, tmp_path):
    """One workload, four runs; in each, the main format and the pprof file
    (and the SVG) come from one snapshot, so their figures must be equal."""
    for fmt, args in (("text", ["--full-path"]), ("folded", ["--folded"]),
                      ("json", ["--json"]), ("count", ["--folded", "--count"])):
        pp = tmp_path / f"{fmt}.pb.gz"
        svg = tmp_path / f"{fmt}.svg"
        extra = ["--svg", str(svg)] if fmt in ("folded", "count") else []
        result, _, out, _ = trace_run(build, "leak_registry.py",
                                      [*args, *extra, "-t", "5", "--pprof", str(pp)],
                                      tag=f"-{fmt}")
        assert gzip.open(pp).read(2), "pprof file is not gzip"
        samples = pprof_samples(pp)
        inuse_space = sum(v[0] for v, _ in samples)
        inuse_objects = sum(v[1] for v, _ in samples)
        if fmt == "text":
            m = re.search(r"^outstanding .*?: .* in ([\d,]+) blocks", out, re.M)
            # the text report's per-site bytes are exact; its total is rounded
            assert int(m.group(1).replace(",", "")) == inuse_objects
            check_text_against_pprof(out, samples, result)
            top = pprof_top_functions(pp, "inuse_space")
            assert top[0] == "open_connection", top
            # the allocations read back: the churn allocated most, in bytes
            # and in objects, though it holds nothing
            assert pprof_top_functions(pp, "alloc_space")[0] == "churn"
            assert pprof_top_functions(pp, "alloc_objects")[0] == "churn"
        elif fmt in ("folded", "count"):
            lines = folded_lines(out)
            total = sum(int(l.rsplit(" ", 1)[1]) for l in lines)
            assert total == (inuse_objects if fmt == "count" else inuse_space), (total, out)
            leaves = folded_by_leaf(out)
            want = result["leaked_count"] if fmt == "count" else result["leaked_bytes"]
            assert leaves.get(loc(result["leak"])) == want, leaves
            # the SVG of the same snapshot: same total, same unit
            assert svg_total(svg) == (total, fmt == "folded")
        else:
            doc = json.loads(out.splitlines()[0])
            assert doc["outstanding_bytes"] == inuse_space
            assert doc["outstanding_blocks"] == inuse_objects
            assert sum(s["inuse_bytes"] for s in doc["sites"]) == inuse_space
            sites = {site_loc(s): s for s in doc["sites"]}
            assert sites[loc(result["leak"])]["inuse_bytes"] == result["leaked_bytes"]
            check_json_against_pprof(doc, samples, result)
            check_json_sections(doc, result, build)


def test_svg_flame_graph_renders(bpf_ok, build, tmp_path):
    name, python = build
    svg = tmp_path / "leak.svg"
    result, _, out, _ = trace_run(build, "leak_registry.py", ["--svg", str(svg)], tag="-svg")
    frame = [f for f in Report(out).sites[0]["frames"]][0]
    assert loc(result["leak"]) in frame
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shutil.copy(svg, OUTPUT / f"leak-{name}.svg")
    attrs = svgcheck.check_svg(str(svg), frame, str(OUTPUT / f"leak-{name}.png"))
    assert float(attrs["data-share"]) > 10


def test_live_status_only_on_a_terminal(bpf_ok):
    python = "/usr/bin/python3.11"
    p = subprocess.Popen([python, "-c", "import sys; print('READY', flush=True); sys.stdin.read()"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert _read_line(p.stdout, time.monotonic() + TIMEOUT, "READY").startswith("READY")
        # stderr on a pseudo-terminal: the status line is drawn in place;
        # read until it is seen (with a deadline), then end the trace
        status = re.compile(rb"\r\x1b\[K\[pyleakbpf\] \d+ s  [\d,]+ events/s  "
                            rb"outstanding .*  drops \d+")
        master, slave = pty.openpty()
        tool = subprocess.Popen([str(TOOL), "-p", str(p.pid)],
                                stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        seen = b""
        deadline = time.monotonic() + TIMEOUT
        try:
            while not status.search(seen):
                left = deadline - time.monotonic()
                assert left > 0, f"no status line on the terminal: {seen!r}"
                if not select.select([master], [], [], left)[0]:
                    continue
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            tool.send_signal(signal.SIGINT)
            out = tool.communicate(timeout=TIMEOUT)[0]
        finally:
            if tool.poll() is None:
                tool.kill()
                tool.wait()
            os.close(master)
        assert tool.returncode == 0
        assert status.search(seen), seen
        assert b"[pyleakbpf]" not in out and b"report 1 (interrupted)" in out
        # stderr a pipe: nothing of it
        r = subprocess.run([str(TOOL), "-p", str(p.pid), "-d", "1.5"], capture_output=True,
                           timeout=TIMEOUT)
        assert r.returncode == 0
        assert b"[pyleakbpf]" not in r.stderr and b"\x1b[K" not in r.stderr
    finally:
        p.kill()
        p.wait()


def test_json_counters_are_the_text_counters(bpf_ok):
    """Both forms of a report list the same counters."""
    p = subprocess.Popen([BUILDS["debian"][0], "-c", "import sys; sys.stdin.read()"],
                         stdin=subprocess.PIPE)
    try:
        runs = [subprocess.run([str(TOOL), "-p", str(p.pid), "-d", "0.3", *extra],
                               capture_output=True, text=True, timeout=TIMEOUT)
                for extra in ([], ["--json"])]
    finally:
        p.stdin.close()
        p.wait(timeout=TIMEOUT)
    for r in runs:
        assert r.returncode == 0, r.stderr
    text = runs[0].stdout
    names = re.findall(r"^\s+[\d,]+  (\S.*)$", text[text.index("\nCounters:"):], re.M)
    assert len(names) >= 20, text
    json_names = [re.sub(r"\s+", " ", n) for n in json.loads(runs[1].stdout)["counters"]]
    # the text wraps one long name over two lines: compare by first words
    assert [n.split(" (")[0] for n in json_names] == [n.split(" (")[0] for n in names]
