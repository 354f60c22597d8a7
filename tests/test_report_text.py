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
