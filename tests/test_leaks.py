"""Known leaks, on each CPython 3.11 build of the matrix (real BPF)."""
import json
import re
import time

import pytest

from conftest import BUILDS, TIMEOUT, Report, Traced, _read_line, frame_loc, loc, save, trace_run

# A churn site may hold a few blocks at the moment of the report; a leak
# here is 30 times bigger (10,000 objects of 192 bytes).
CHURN_THRESHOLD = 64 * 1024

CASES = {
    "a_registry": "leak_registry.py",
    "b_class_cache": "leak_class_cache.py",
    "c_deep": "leak_deep.py",
    "d_thread": "leak_thread.py",
}


def trace(build, workload, args=(), tag=""):
    return trace_run(build, workload, args, tag=tag)[:3]


@pytest.mark.parametrize("case", list(CASES))
def test_leak_ranked_first(bpf_ok, build, case):
    result, rep, out = trace(build, CASES[case])
    assert rep.sites, out
    top = rep.sites[0]
    assert frame_loc(top["frames"][0]) == loc(result["leak"]), out
    want = result["leaked_bytes"]
    assert abs(top["bytes"] - want) <= 0.2 * want, \
        f"{top['bytes']} outstanding at the leak line, workload leaked {want}\n{out}"
    churn = {loc(c) for c in result["churn"]}
    for s in rep.sites:
        if s["frames"] and frame_loc(s["frames"][0]) in churn:
            assert s["bytes"] < CHURN_THRESHOLD, f"churn site over threshold:\n{out}"
    if case == "c_deep":
        depth = sum(1 for f in top["frames"] if f.startswith(result["recursive"] + " "))
        assert depth >= result["depth"], f"only {depth} recursive frames\n{out}"
    # what the hooks caught, per build (kept in tests/output for the notes)
    assert sum(rep.hooks.values()) > 0, out
    # attached while the workload was idle: every call seen whole (this
    # also checks the nesting logic on tail calls such as PyMem_RawRealloc)
    assert rep.counter("allocator calls seen only half") == 0, out
    assert rep.counter("allocations dropped") == 0, out


# Counters that must stay 0 when nothing overflows: a drop anywhere would
# make "nothing outstanding" meaningless.
DROPS = ("allocations dropped", "stacks lost", "allocations not aggregated",
         "calls not followed", "calls nested too deep", "stack reads that failed",
         "new-stack notices dropped", "allocator calls seen only half")


def json_site_loc(site):
    f = site["frames"][0]
    return f"{f['file'].rsplit('/', 1)[-1]}:{f['line']}" if "line" in f else site["stack"]


def test_churn_only_reports_nothing(bpf_ok, build):
    result, _, out = trace(build, "churn_only.py", ["--json"])
    doc = json.loads(out.splitlines()[0])
    big = [s for s in doc["sites"] if s["inuse_bytes"] >= CHURN_THRESHOLD]
    assert not big, f"sites over {CHURN_THRESHOLD} bytes with no leak:\n{out}"
    # the churn was seen, at its own lines: every Message allocated there,
    # (almost) none of them outstanding
    by_loc = {}
    for s in doc["sites"]:
        by_loc.setdefault(json_site_loc(s), []).append(s)
    for where, made in zip(result["churn"], result["churn_objects"]):
        sites = by_loc.get(loc(where), [])
        alloc = sum(s["alloc_objects"] for s in sites)
        alloc_bytes = sum(s["alloc_bytes"] for s in sites)
        inuse = sum(s["inuse_objects"] for s in sites)
        assert alloc >= made, f"{loc(where)}: {alloc} allocations seen, made {made}\n{out}"
        assert alloc_bytes >= made * result["object_bytes"], (loc(where), alloc_bytes)
        assert inuse <= 0.01 * made, f"{loc(where)}: {inuse} outstanding\n{out}"
    # and nothing was dropped on the way
    for name, value in doc["counters"].items():
        if name.startswith(DROPS):
            assert value == 0, f"{name}: {value}\n{out}"
    assert sum(1 for n in doc["counters"] if n.startswith(DROPS)) == len(DROPS), \
        list(doc["counters"])


def test_stack_truncated_at_127_frames(bpf_ok):
    """A leak 200 frames deep: its stack keeps the 127 innermost frames,
    gets a [truncated] root, and the counter says so. Build-independent
    (the BPF walker's limit): one build."""
    result, rep, out, _ = trace_run(("debian", BUILDS["debian"][0]), "leak_deep.py",
                                    wl_args=("200",))
    top = rep.sites[0]
    assert frame_loc(top["frames"][0]) == loc(result["leak"]), out
    assert top["frames"][-1].startswith("[truncated"), out
    assert len(top["frames"]) == 127 + 1, f"{len(top['frames'])} frames\n{out}"
    assert all(f.startswith("descend ") for f in top["frames"][1:-1]), out
    assert rep.counter("stacks truncated at 127 frames") >= 1, out
    want = result["leaked_bytes"]
    assert abs(top["bytes"] - want) <= 0.2 * want, out


def test_stack_recycling_and_lost_stacks(bpf_ok):
    """--max-stacks 256: 1000 churn stacks fill the map; once idle they are
    recycled (their totals kept), and of 600 leaking stacks those that do
    not fit go to [lost stack], bytes kept. Build-independent: one build."""
    python = BUILDS["debian"][0]
    t = Traced(python, "many_stacks.py", ["--max-stacks", "256", "-t", "3", "0.3"])
    seen = []
    deadline = time.monotonic() + TIMEOUT

    def phase(name):
        t.wl.stdin.write(name.encode() + b"\n")
        t.wl.stdin.flush()
        line = _read_line(t.wl.stdout, deadline, f"workload DONE {name}")
        assert line.startswith(f"DONE {name} "), line
        return json.loads(line.split(" ", 2)[2])

    try:
        churn = phase("churn")
        # await the sweeps that find the churn stacks idle (two, 200 ms apart)
        recycled = re.compile(r"^\s+([\d,]+)  idle stacks recycled")
        while True:
            line = _read_line(t.tool.stdout, deadline, "stacks recycled")
            assert line, "".join(seen)
            seen.append(line)
            m = recycled.match(line)
            if m and int(m.group(1).replace(",", "")) > 0:
                break
        leak = phase("leak")
        rc, out, err = t.stop_tool()
        wrc, _, werr = t.finish(b"exit\n")
    finally:
        t.kill()
    text = "".join(seen) + out
    save("many-stacks-debian.txt", text + err)
    assert rc == 0, err
    assert wrc == 0, werr
    last = text[text.rindex("\nreport "):]
    rep = Report(last)
    # the map held 256 stacks, nearly all of them idle churn by then
    assert rep.counter("idle stacks recycled") >= 128, last
    lost = rep.counter("stacks lost")
    assert lost and lost > 0, last
    # every leaked block is outstanding somewhere: at its own stack (those
    # that found room after the recycling) or at [lost stack]
    total = re.search(r"^outstanding \(allocated since tracing began, not freed\): .* in "
                      r"([\d,]+) blocks at ([\d,]+) sites", last, re.M)
    assert int(total.group(1).replace(",", "")) >= leak["objects"], last
    assert int(total.group(2).replace(",", "")) >= 128, "recycled room not reused\n" + last
    lost_sites = [s for s in rep.sites if len(s["frames"]) == 1
                  and s["frames"][0].startswith("[lost stack")]
    assert lost_sites and lost_sites[0]["bytes"] > 0, last
    # recycled stacks keep their totals: nothing allocated is forgotten
    alloc = re.search(r"^allocated while tracing: .* in ([\d,]+) blocks", last, re.M)
    assert int(alloc.group(1).replace(",", "")) >= churn["objects"] + leak["objects"], last


def test_code_object_address_reuse(bpf_ok):
    """A code object dies and another is made at its address: the new
    stack is named after the new code, and the counter says it was found
    replaced. Build-independent (the symbolizer's cache): one build."""
    python = BUILDS["debian"][0]
    t = Traced(python, "code_reuse.py", ["-t", "50", "0.3"])
    seen = []
    deadline = time.monotonic() + TIMEOUT

    def phase(name):
        t.wl.stdin.write(name.encode() + b"\n")
        t.wl.stdin.flush()
        line = _read_line(t.wl.stdout, deadline, f"workload DONE {name}")
        assert line.startswith(f"DONE {name} "), line
        return json.loads(line.split(" ", 2)[2])

    try:
        phase("first")
        # await a report that shows first_fn: its stack is symbolized
        while True:
            line = _read_line(t.tool.stdout, deadline, "first_fn in a report")
            assert line, "".join(seen)
            seen.append(line)
            if line.startswith("    first_fn (generated.py:"):
                break
        second = phase("second")
        rc, out, err = t.stop_tool()
        wrc, _, werr = t.finish(b"exit\n")
    finally:
        t.kill()
    text = "".join(seen) + out
    save("code-reuse-debian.txt", text + err)
    assert rc == 0, err
    assert wrc == 0, werr
    assert second["reused"], f"no code object landed at the freed address: {second}"
    last = text[text.rindex("\nreport "):]
    rep = Report(last)
    leaves = {s["frames"][0].split(" (")[0]: s for s in rep.sites if s["frames"]}
    assert "second_fn" in leaves, last
    assert abs(leaves["second_fn"]["bytes"] - second["bytes"]) <= 0.2 * second["bytes"], last
    assert "first_fn" in leaves, last  # recorded before the reuse: keeps its name
    assert rep.counter("code objects found replaced") >= 1, last


FRAME = r"(\[unknown\]|\[truncated\]|\[no Python frames\]|\[no Python thread state\]|" \
        r"[^;]+ \([^;]+:(\d+|\?)\))"
FOLDED = re.compile(rf"^{FRAME}(;{FRAME})* (\d+)$")


def test_folded_output(bpf_ok, build):
    result, _, out = trace(build, "leak_registry.py", ["--folded"], tag="-folded")
    lines = out.splitlines()
    assert lines, "no folded output"
    total_leak = 0
    for line in lines:
        m = FOLDED.match(line)
        assert m, f"not a folded line: {line!r}"
        stack, count = line.rsplit(" ", 1)
        frames = stack.split(";")
        if frame_loc(frames[-1]) == loc(result["leak"]):
            total_leak += int(count)
            # root first: the module frame starts the stack
            assert frames[0].startswith("<module> (leak_registry.py:"), line
    want = result["leaked_bytes"]
    assert abs(total_leak - want) <= 0.2 * want, out
    assert len(set(s.rsplit(" ", 1)[0] for s in lines)) == len(lines), "stacks not merged"
