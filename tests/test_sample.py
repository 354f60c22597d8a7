"""--sample: hooks attached in short windows; estimates scaled from them.

Ground truth comes from the workload, which keeps two kinds of objects at
known rates (4:1) while churning many more; the estimates of both must be
within 25% of what it kept, and the bigger leak must rank first. No timing
is asserted: the overhead is measured by `make bench`.
"""
import json
import os
import time

import pytest

from conftest import BUILDS, TIMEOUT, Traced, _read_line, loc, save

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
    t = Traced(python, "sample_churn.py", [*SAMPLE, "--json"],
               wl_args=(mode, str(RUN_SECONDS)))
    try:
        t.wl.stdin.write(b"go\n")
        t.wl.stdin.flush()
        deadline = time.monotonic() + RUN_SECONDS + TIMEOUT
        line = _read_line(t.wl.stdout, deadline, "RUNNING")
        assert line.startswith("RUNNING"), line
        line = _read_line(t.wl.stdout, deadline, "workload RESULT")
        assert line.startswith("RESULT "), line + t.wl.stderr.read().decode()
        truth = json.loads(line[len("RESULT "):])
        rc, out, err = t.stop_tool()
        t.finish(b"exit\n")
    finally:
        t.kill()
    save(f"sample-{mode}-{build_name}.json", out + err)
    assert rc == 0, err
    doc = json.loads(out.splitlines()[0])
    # one window a period; a period is at least the hooks' busy time / 10%
    assert doc["sampled"]["windows"] >= RUN_SECONDS / 2
    assert doc["sampled"]["scale"] > 1, doc["sampled"]
    ranked = [s for s in doc["sites"] if s["inuse_bytes"] > 0]
    ranked.sort(key=lambda s: -s["inuse_bytes"])
    by_loc = {}
    for s in ranked:
        by_loc.setdefault(site_loc(s), s)
    big, small = truth["leaks"]
    assert site_loc(ranked[0]) == loc(big["site"]), \
        [(site_loc(s), s["inuse_bytes"]) for s in ranked[:3]]
    for leak in (big, small):
        got = by_loc.get(loc(leak["site"]))
        assert got, list(by_loc)
        for key, want in (("inuse_bytes", leak["bytes"]), ("inuse_objects", leak["count"])):
            assert abs(got[key] - want) <= 0.25 * want, \
                f"{loc(leak['site'])} {key}: estimated {got[key]}, kept {want}"
        # every estimate carries its 95% bound
        assert 0 < got["err95"] < 1, got
