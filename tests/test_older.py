"""--older: blocks younger than the cut-off are left out, in every format."""
import time

import pytest

from conftest import Report, Traced, folded_by_leaf, frame_loc, loc, save


LEAK_AGE = 1.5  # seconds the leak is let age before the report; --older 1


def run(build, args):
    """Trace until the leak, made before RESULT, is LEAK_AGE s old, then
    report (SIGINT): no fixed -d window that a slow run could outlast."""
    name, python = build
    t = Traced(python, "young_churn.py", args)
    try:
        result = t.run()
        made = time.monotonic()
        # the condition is the leak's age itself: wait it out, then report
        time.sleep(max(0.0, made + LEAK_AGE - time.monotonic()))
        rc, out, err = t.stop_tool()
        wrc, _, werr = t.finish()
    finally:
        t.kill()
    save(f"young_churn{'-'.join([''] + args)}-{name}.txt".replace("/", "_"), out + err)
    assert rc == 0, err
    assert wrc == 0, werr
    return result, out


def sites_by_loc(out):
    return {frame_loc(s["frames"][0]): s["bytes"] for s in Report(out).sites if s["frames"]}


@pytest.mark.parametrize("fmt", ["text", "folded"])
def test_older_drops_young_churn_keeps_leak(bpf_ok, build, fmt):
    extra = ["--folded"] if fmt == "folded" else []
    base, out_all = run(build, ["-t", "20", *extra])
    result, out_old = run(build, ["-t", "20", "--older", "1", *extra])
    if fmt == "text":
        every, old = sites_by_loc(out_all), sites_by_loc(out_old)
        assert "only blocks older than 1.0 s" in out_old
    else:
        every, old = folded_by_leaf(out_all), folded_by_leaf(out_old)
    leak, churn = loc(result["leak"]), loc(result["churn"])
    # without the filter the churn window is outstanding...
    assert every.get(churn, 0) >= 0.5 * result["window_bytes"], out_all
    # ...with it, only the old leak is left
    assert old.get(churn, 0) == 0, out_old
    want = result["leaked_bytes"]
    assert abs(old.get(leak, 0) - want) <= 0.2 * want, out_old
