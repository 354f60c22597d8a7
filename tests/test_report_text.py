"""The text report never contradicts itself: headings count what they head,
hints state what is true of that report."""
import re

from conftest import TIMEOUT, Report, Traced, save, trace_run

HEAD = re.compile(r"^(Top|The) (\d+) (sites|site) by outstanding bytes", re.M)


def heading(text):
    m = HEAD.search(text)
    assert m, text
    return m.group(1), int(m.group(2))


def test_heading_counts_the_sites_it_heads(bpf_ok):
    build = ("debian", "/usr/bin/python3.11")
    _, rep, text, _ = trace_run(build, "leak_registry.py", ["-t", "500"], tag="-t500")
    word, n = heading(text)
    assert word == "The" and n == len(rep.sites) and n < 500, text
    _, rep, text, _ = trace_run(build, "leak_registry.py", ["-t", "2"], tag="-t2")
    word, n = heading(text)
    assert (word, n) == ("Top", 2) and len(rep.sites) == 2, text


def test_suspects_hint_matches_the_report(bpf_ok):
    """Two interval reports of an idle workload: the first says the next is
    coming, the second that nothing grew, and neither claims a top list."""
    t = Traced("/usr/bin/python3.11", "leak_registry.py", ["--suspects", "0.5", "2"])
    try:
        out, err = t.tool.communicate(timeout=TIMEOUT)
        rc, _, werr = t.finish(b"")
    finally:
        t.kill()
    out = out.decode()
    save("suspects-hint.txt", out + err.decode())
    assert t.tool.returncode == 0, err.decode()
    reports = re.split(r"^(?=pyleakbpf: PID)", out, flags=re.M)[1:]
    assert len(reports) == 2, out
    first, second = reports
    assert "(first report: a score needs two reports; the next comes in 0.5 s;" in first
    assert "give an interval" not in out and "one report only" not in out
    m = re.search(r"^(Top|The|No) (\d+ )?leak suspects?:", second, re.M)
    assert m, second
    listed = len(Report(second).sites)
    if m.group(1) == "No":
        assert listed == 0 and "(no site grew)" in second, second
    else:
        assert int(m.group(2)) == listed, second


def test_single_report_suspects_hint(bpf_ok):
    build = ("debian", "/usr/bin/python3.11")
    _, _, text, _ = trace_run(build, "leak_registry.py", ["--suspects"], tag="-suspects")
    assert "(one report only: a score needs two, so sites are ranked by outstanding bytes;" \
        in text, text
    assert "next comes" not in text


def test_launch_ranks_the_program_not_its_imports(bpf_ok, tmp_path):
    """Launched with --malloc, every import is seen: it is summed in one
    line and the leak ranks first; no ranked site runs through importlib."""
    import json
    import subprocess
    from conftest import TOOL, WORKLOADS, frame_loc, loc
    out = tmp_path / "report.txt"
    r = subprocess.run([str(TOOL), "--malloc", "-t", "20", "-o", str(out), "--",
                        "/usr/bin/python3.11", str(WORKLOADS / "launch_imports.py")],
                       cwd=WORKLOADS, capture_output=True, timeout=TIMEOUT)
    text = out.read_text()
    save("launch-imports.txt", text + r.stderr.decode())
    assert r.returncode == 0, r.stderr.decode()
    want = json.loads(re.search(rb"RESULT (.*)", r.stdout).group(1).decode())
    m = re.search(r"^start-up and imports: .* in ([\d,]+) blocks at ([\d,]+) sites, not ranked"
                  r" below \(most of it: importing (\S+),", text, re.M)
    assert m and int(m.group(2).replace(",", "")) > 10, text
    rep = Report(text)
    assert rep.sites, text
    assert frame_loc(rep.sites[0]["frames"][0]) == loc(want["leak"]), text
    for site in rep.sites:
        assert not any("<frozen importlib._bootstrap" in f for f in site["frames"]), site
        assert not any(f.startswith("[no Python frames]") for f in site["frames"]), site


def test_site_objects_never_exceed_its_blocks(bpf_ok):
    """On the demo service (LTO build: frees and reuses no hook sees), each
    site's objects: counts add up to at most its block count."""
    import subprocess
    import time
    from conftest import ROOT, TOOL, _read_line
    app = subprocess.Popen(["/usr/bin/python3.11", str(ROOT / "demo" / "leaky_app.py")],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = _read_line(app.stdout, time.monotonic() + TIMEOUT, "demo serving")
        assert line.startswith("serving"), line
        r = subprocess.run([str(TOOL), "-p", str(app.pid), "-d", "3", "-t", "20"],
                           capture_output=True, text=True, timeout=TIMEOUT)
    finally:
        app.kill()
        app.wait()
    save("demo-objects.txt", r.stdout + r.stderr)
    assert r.returncode == 0, r.stderr
    rep = Report(r.stdout)
    checked = 0
    for site in rep.sites:
        objs = site["info"].get("objects")
        if not objs:
            continue
        counts = [int(c.replace(",", "")) for c in re.findall(r" ([\d,]+) \(", objs)]
        assert sum(counts) <= site["count"], f"{objs} in {site['count']} blocks\n{r.stdout}"
        checked += 1
    assert checked >= 3, r.stdout
