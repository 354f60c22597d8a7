"""Object types of outstanding blocks, read from the target at report time."""
import json
import re
import subprocess

import pytest

from conftest import BUILDS, TIMEOUT, TOOL, WORKLOADS, Report, frame_loc, loc, save, trace_run

ROW = re.compile(r"^\s+([\d,]+)\s+([+-]\d+)?\s+[\d.]+ (?:B|KiB|MiB|GiB)\s+(\S+)$")


def type_table(text):
    rows, inside = {}, False
    for line in text.splitlines():
        if line.startswith("Outstanding objects by type"):
            inside = True
        elif inside:
            m = ROW.match(line)
            if not m:
                if line.strip().startswith("objects"):
                    continue
                break
            rows[m.group(3)] = int(m.group(1).replace(",", ""))
    return rows


# Dicts are seen where every allocation is: builds without LTO attached to,
# and the LTO build launched with PYTHONMALLOC=malloc (there the last report
# is written while the target is paused at Py_FinalizeEx, so its memory can
# still be read).
MODES = [("pyenv", "attach"), ("debug", "attach"), ("debian", "malloc"), ("debian", "attach")]


@pytest.mark.parametrize("build_name,mode", MODES, ids=[f"{b}-{m}" for b, m in MODES])
def test_type_table_counts(bpf_ok, build_name, mode, tmp_path):
    python, desc, optional = BUILDS[build_name]
    if optional and not __import__("os").path.exists(python):
        pytest.skip(f"SKIPPED build {build_name}: {python} is not installed ({desc})")
    if mode == "attach":
        want, _, text, _ = trace_run((build_name, python), "leak_types.py")
    else:
        out = tmp_path / "report.txt"
        r = subprocess.run([str(TOOL), "--malloc", "-o", str(out), "--", python,
                            str(WORKLOADS / "leak_types.py")], cwd=WORKLOADS,
                           input=b"go\nexit\n", capture_output=True, timeout=TIMEOUT)
        assert r.returncode == 0, r.stderr.decode()
        text = out.read_text()
        assert "paused for this report" in text
        want = json.loads(re.search(rb"RESULT (.*)", r.stdout).group(1).decode())
    save(f"types-{build_name}-{mode}.txt", text)
    rows = type_table(text)
    assert rows, text
    kinds = ["Connection", "dict"]
    if build_name == "debian" and mode == "attach":
        # pymalloc is inlined there: dicts are seen only in part, the report
        # says so, and the table must not contradict it
        kinds = ["Connection"]
        assert "are seen only when they take one of those" in text, text
        assert rows.get("dict", 0) < 0.5 * want["dict"], text
    for kind in kinds:
        got = rows.get(kind, 0)
        # the workload's own objects, plus those the interpreter made meanwhile
        # (in launch mode: since it started, about 1,300 dicts of imports)
        assert abs(got - want[kind]) <= 0.05 * want[kind], f"{kind}: {got} vs {want[kind]}\n{text}"
    # per site: the leaking line's dominant type is the class, all of them
    where = loc(want["sites"]["Connection"])
    at_line = [s for s in Report(text).sites if s["frames"] and frame_loc(s["frames"][0]) == where]
    assert at_line, f"no site at {where}\n{text}"
    objects = at_line[0]["info"].get("objects", "")
    m = re.match(r"Connection ([\d,]+) ", objects)
    assert m, f"{where}: objects: {objects!r}\n{text}"
    got = int(m.group(1).replace(",", ""))
    assert abs(got - want["Connection"]) <= 0.05 * want["Connection"], f"{where}: {objects}"
