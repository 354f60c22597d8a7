"""Reports people act on: leak suspects, growth, and every output format
(text, folded, JSON, SVG, pprof) written from the same snapshot."""
import gzip
import json
import os
import pty
import re
import shutil
import subprocess
import time

import pytest

from conftest import (OUTPUT, TIMEOUT, TOOL, Report, Traced, _read_line, folded_by_leaf,
                      loc, save, trace_run)
import svgcheck

FOLDED_LINE = re.compile(r"^([^;\s][^;]*)(;[^;]+)* (\d+)$")


def step(t, deadline):
    t.wl.stdin.write(b"step\n")
    t.wl.stdin.flush()
    line = _read_line(t.wl.stdout, deadline, "workload DONE")
    assert line.startswith("DONE"), line + t.wl.stderr.read().decode()
    return json.loads(line.split(" ", 2)[2])


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
    t = Traced(python, "cache_and_leak.py", ["--suspects", "--json", "1", "5"])
    reports, info = [], None
    try:
        deadline = time.monotonic() + TIMEOUT
        for k in range(5):
            info = step(t, deadline)
            reports.append(json.loads(_read_line(t.tool.stdout, deadline, f"report {k + 1}")))
        rc, out, err = t.stop_tool(sig=None)
        t.finish(b"exit\n")
    finally:
        t.kill()
    save(f"suspects-{name}.json", "\n".join(json.dumps(r) for r in reports))
    assert rc == 0, err
    last = reports[-1]
    assert last["report"] == 5
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


def folded_lines(text):
    lines = text.splitlines()
    for line in lines:
        assert FOLDED_LINE.match(line), f"not folded-stack grammar: {line!r}"
    return lines


def pprof_top(path):
    r = subprocess.run(["go", "tool", "pprof", "-top", "-nodefraction=0", str(path)],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    return r.stdout


def pprof_total(path, index):
    """Sum of one sample type over all samples, from `go tool pprof -raw`."""
    r = subprocess.run(["go", "tool", "pprof", "-raw", str(path)], capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    total, inside = 0, False
    for line in r.stdout.splitlines():
        if line.startswith("Samples:"):
            inside = True
        elif line.startswith("Locations"):
            break
        elif inside and ":" in line and line.strip()[0].isdigit():
            total += int(line.split(":")[0].split()[index])
    return total


@pytest.fixture(scope="module")
def go_tool():
    if not shutil.which("go"):
        pytest.fail("go is missing: `make deps` installs golang-go")


def test_folded_pprof_json_totals_agree(bpf_ok, build, go_tool, tmp_path):
    """One workload, four runs; in each, the main format and the pprof file
    come from one snapshot, so their totals must be equal."""
    for fmt, args in (("text", []), ("folded", ["--folded"]), ("json", ["--json"]),
                      ("count", ["--folded", "--count"])):
        pp = tmp_path / f"{fmt}.pb.gz"
        result, _, out, _ = trace_run(build, "leak_registry.py",
                                      [*args, "-t", "5", "--pprof", str(pp)], tag=f"-{fmt}")
        assert gzip.open(pp).read(2), "pprof file is not gzip"
        inuse_space, inuse_objects = pprof_total(pp, 0), pprof_total(pp, 1)
        if fmt == "text":
            m = re.search(r"^outstanding .*?: .* in ([\d,]+) blocks", out, re.M)
            sites = Report(out).sites
            # the text report's per-site bytes are exact; its total is rounded
            assert sites
            top = pprof_top(pp)
            first = [l for l in top.splitlines() if re.match(r"^\s+[\d.]+[kMG]?B", l)][0]
            assert "open_connection" in first, top
            assert int(m.group(1).replace(",", "")) == inuse_objects
        elif fmt in ("folded", "count"):
            lines = folded_lines(out)
            total = sum(int(l.rsplit(" ", 1)[1]) for l in lines)
            assert total == (inuse_objects if fmt == "count" else inuse_space), (total, out)
            leaves = folded_by_leaf(out)
            want = result["leaked_count"] if fmt == "count" else result["leaked_bytes"]
            assert leaves.get(loc(result["leak"])) == want, leaves
        else:
            doc = json.loads(out.splitlines()[0])
            assert doc["outstanding_bytes"] == inuse_space
            assert doc["outstanding_blocks"] == inuse_objects
            assert sum(s["inuse_bytes"] for s in doc["sites"]) == inuse_space
            sites = {site_loc(s): s for s in doc["sites"]}
            assert sites[loc(result["leak"])]["inuse_bytes"] == result["leaked_bytes"]


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
        assert p.stdout.readline().startswith(b"READY")
        # stderr on a pseudo-terminal: the status line is drawn in place
        master, slave = pty.openpty()
        tool = subprocess.Popen([str(TOOL), "-p", str(p.pid), "-d", "2.5"],
                                stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        out = tool.communicate(timeout=TIMEOUT)[0]
        os.close(master)
        assert tool.returncode == 0
        assert re.search(rb"\r\x1b\[K\[pyleakbpf\] \d+ s  [\d,]+ events/s  outstanding .*  drops \d+",
                         seen), seen
        assert b"[pyleakbpf]" not in out
        # stderr a pipe: nothing of it
        r = subprocess.run([str(TOOL), "-p", str(p.pid), "-d", "1.5"], capture_output=True,
                           timeout=TIMEOUT)
        assert r.returncode == 0
        assert b"[pyleakbpf]" not in r.stderr and b"\x1b[K" not in r.stderr
    finally:
        p.kill()
        p.wait()
