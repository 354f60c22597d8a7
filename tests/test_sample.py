"""--sample: hooks attached in short windows; estimates scaled from them.

Ground truth comes from the workload, which keeps two kinds of objects at
known rates (4:1) while churning many more; the estimates of both must be
within 25% of what it kept, and the bigger leak must rank first. No timing
is asserted: the overhead is measured by `make bench`.
"""
import json
import os
import re
import time

import pytest

from conftest import BUILDS, TIMEOUT, Report, Traced, _read_line, frame_loc, loc, save

RUN_SECONDS = 30
SAMPLE = ["--sample", "10", "--no-types"]


def site_loc(site):
    for f in site["frames"]:
        if not f.get("native"):
            return f"{os.path.basename(f['file'])}:{f['line']}"
    return site["stack"]


@pytest.mark.parametrize("mode", ["churn", "threads"], ids=["a-churn", "c-threads"])
@pytest.mark.parametrize("build_name", ["debian", "pyenv"])
def test_sampled_estimate_of_known_leaks(bpf_ok, build_name, mode):
    python, desc, optional = BUILDS[build_name]
    if not os.path.exists(python):
        if optional:
            pytest.skip(f"SKIPPED build {build_name}: {python} is not installed ({desc})")
        pytest.fail(f"{python} missing")
    # (a) is read from the JSON report, (c) from the text one: both forms
    # carry the estimates and their bounds
    fmt = "json" if mode == "churn" else "text"
    t = Traced(python, "sample_churn.py", [*SAMPLE, "--json"] if fmt == "json" else SAMPLE,
               wl_args=(mode, str(RUN_SECONDS)))
    try:
        t.wl.stdin.write(b"go\n")
        t.wl.stdin.flush()
        deadline = time.monotonic() + RUN_SECONDS + TIMEOUT
        line = _read_line(t.wl.stdout, deadline, "RUNNING")
        assert line.startswith("RUNNING"), line
        line = _read_line(t.wl.stdout, deadline, "workload RESULT")
        assert line.startswith("RESULT "), line + t.dead_stderr()
        truth = json.loads(line[len("RESULT "):])
        rc, out, err = t.stop_tool()
        wrc, _, werr = t.finish(b"exit\n")
    finally:
        t.kill()
    save(f"sample-{mode}-{build_name}.{fmt}", out + err)
    assert rc == 0, err
    assert wrc == 0, werr
    if fmt == "json":
        doc = json.loads(out.splitlines()[0])
        windows, scale = doc["sampled"]["windows"], doc["sampled"]["scale"]
        ranked = [(site_loc(s), s["inuse_bytes"], s["inuse_objects"], s["err95"])
                  for s in doc["sites"] if s["inuse_bytes"] > 0]
    else:
        windows, scale, ranked = text_estimates(out)
    # one window a period; a period is at least the hooks' busy time / 10%
    assert windows >= RUN_SECONDS / 2, out[:2000]
    assert scale > 1, out[:2000]
    ranked.sort(key=lambda s: -s[1])
    by_loc = {}
    for s in ranked:
        by_loc.setdefault(s[0], s)
    big, small = truth["leaks"]
    assert ranked[0][0] == loc(big["site"]), ranked[:3]
    for leak in (big, small):
        got = by_loc.get(loc(leak["site"]))
        assert got, list(by_loc)
        for key, value, want in (("bytes", got[1], leak["bytes"]),
                                 ("objects", got[2], leak["count"])):
            assert abs(value - want) <= 0.25 * want, \
                f"{loc(leak['site'])} {key}: estimated {value}, kept {want}"
        # every estimate carries its 95% bound
        assert 0 < got[3] < 1, got


def text_estimates(out):
    """(windows, scale, [(leaf, bytes, objects, err95)]) of a sampled text
    report; --no-types: no objects: line and no type table in it."""
    m = re.search(r"^SAMPLED \(--sample\): allocator hooks attached in ([\d,]+) windows of "
                  r"\d+ ms", out, re.M)
    assert m, out[:2000]
    windows = int(m.group(1).replace(",", ""))
    m = re.search(r"^  estimates: what the windows saw x (\d+)\.", out, re.M)
    assert m, out[:2000]
    scale = int(m.group(1))
    assert "Outstanding objects by type" not in out and "\n  objects: " not in out, out[:3000]
    ranked = []
    for s in Report(out).sites:
        est = re.fullmatch(r"\+/-(\d+)% \(95%\), from ([\d,]+) sampled blocks?",
                           s["info"].get("estimate", ""))
        assert est, s
        assert int(est.group(2).replace(",", "")) > 0, s
        ranked.append((frame_loc(s["frames"][0]), s["bytes"], s["count"],
                       int(est.group(1)) / 100))
    return windows, scale, ranked
