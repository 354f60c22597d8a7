"""The cyclic GC: pauses per generation and the sites that make cycles."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import (BUILDS, TIMEOUT, WORKLOADS, Traced, folded_by_leaf, frame_loc, loc, save,
                      trace_run)


def trace(build, workload, args, wl_args=()):
    return trace_run(build, workload, args, wl_args=wl_args)


def by_loc(sites):
    return {frame_loc(s["frames"][0]): s for s in sites if s["frames"]}


def test_cycle_site_ranked_first(bpf_ok, build):
    result, rep, out, _ = trace(build, "gc_cycles.py", ["--cycles", "--gc"])
    cycles = rep.cycles()
    assert cycles, out
    top = cycles[0]
    assert frame_loc(top["frames"][0]) == loc(result["cycle"]), out
    want = result["objects"]
    assert abs(top["count"] - want) <= 0.1 * want, f"{top['count']} GC-freed, made {want}\n{out}"
    assert loc(result["churn"]) not in by_loc(cycles), f"churn shown as GC-freed\n{out}"
    # the GC table agrees with gc.get_stats() taken around the traced window
    table = rep.gc_table()
    for gen, stats in enumerate(result["gc"]):
        assert table.get(gen) == (stats["collections"], stats["collected"]), \
            f"generation {gen}: report {table.get(gen)}, gc.get_stats() {stats}\n{out}"
    assert "GC data unavailable" not in out


def test_weakref_backreference_is_no_cycle(bpf_ok, build):
    result, rep, out, _ = trace(build, "gc_cycles.py", ["--cycles"], wl_args=("weak",))
    cycles = by_loc(rep.cycles())
    assert loc(result["cycle"]) not in cycles, out
    # the table is not empty: the self-referencing handlers are found, all
    # of them, and only by the GC
    control = cycles.get(loc(result["control"]))
    assert control, f"control cycles {loc(result['control'])} not found\n{out}"
    want = result["control_objects"]
    assert want <= control["count"] <= 1.1 * want, out
    assert control["share"] == 100, out


def test_cached_property_owner_is_cycle_site(bpf_ok, build):
    result, rep, out, _ = trace(build, "gc_cached_property.py", ["--cycles"])
    site = by_loc(rep.cycles()).get(loc(result["owner"]))
    assert site, f"owner line {loc(result['owner'])} not among cycle sites\n{out}"
    assert site["count"] >= result["objects"], out


def test_del_in_cycle_reported_and_finalized(bpf_ok, build):
    result, rep, out, wout = trace(build, "gc_del_cycle.py", ["--cycles"])
    site = by_loc(rep.cycles()).get(loc(result["site"]))
    assert site and site["count"] >= result["objects"], out
    assert result["finalized"] == result["objects"]
    # the finalizers' output is what it is without the tracer
    name, python = build
    plain = subprocess.run([python, str(WORKLOADS / "gc_del_cycle.py")], cwd=WORKLOADS,
                           input=b"go\nexit\n", capture_output=True, timeout=TIMEOUT)
    assert re.sub(r"READY \d+", "", wout) == re.sub(r"READY \d+", "", plain.stdout.decode())


def test_cycles_folded(bpf_ok, build):
    result, _, out, _ = trace(build, "gc_cycles.py", ["--cycles", "--folded"])
    weights = folded_by_leaf(out)
    top = max(weights, key=weights.get)
    assert top == loc(result["cycle"]), out


def test_gc_data_unavailable_said_not_zeros(bpf_ok, tmp_path):
    """An interpreter with neither USDT probes nor a gc_collect_main symbol
    (pyenv's libpython, stripped, found first by the dynamic loader): the
    report says GC data is unavailable instead of printing a table of zeros."""
    python, desc, optional = BUILDS["pyenv"]
    if not os.path.exists(python):
        pytest.skip(f"SKIPPED build pyenv: {python} is not installed ({desc})")
    lib = os.path.join(os.path.dirname(os.path.dirname(python)), "lib", "libpython3.11.so.1.0")
    subprocess.run(["strip", "--strip-all", "-o", str(tmp_path / os.path.basename(lib)), lib],
                   check=True, timeout=TIMEOUT)
    env = dict(os.environ, LD_LIBRARY_PATH=str(tmp_path))
    t = Traced(python, "gc_cycles.py", ["--gc", "--cycles"], env=env)
    try:
        t.run()
        rc, out, err = t.stop_tool()
        wrc, _, werr = t.finish()
    finally:
        t.kill()
    save("gc-unavailable-pyenv-stripped.txt", t.banner + out + err)
    assert rc == 0, err
    assert wrc == 0, werr
    assert str(tmp_path) in t.banner and "GC: none" in t.banner, t.banner
    why = "has no USDT probes and no gc_collect_main symbol"
    assert re.search(rf"^GC: GC data unavailable: .*{why}", out, re.M), out
    assert re.search(rf"^Cycles: no attribution: GC data unavailable: .*{why}", out, re.M), out
    assert "GC pauses" not in out and "freed by the GC" not in out, out
