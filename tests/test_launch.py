"""Launch mode: probes attached before the program's first Python line."""
import re
import subprocess

import pytest

from conftest import BUILDS, TIMEOUT, TOOL, WORKLOADS, Report, frame_loc, loc, save, trace_run


def launch(python, workload, args=(), stdin=b"", tmp_path=None):
    out = tmp_path / "report.txt"
    r = subprocess.run([str(TOOL), "-t", "500", "-o", str(out), *args, "--", python,
                        str(WORKLOADS / workload)], cwd=WORKLOADS, input=stdin,
                       capture_output=True, timeout=TIMEOUT)
    return r, out.read_text()


def test_early_leak_caught_and_exit_status_kept(bpf_ok, build, tmp_path):
    name, python = build
    plain = subprocess.run([python, str(WORKLOADS / "early_leak.py")], cwd=WORKLOADS,
                           capture_output=True, timeout=TIMEOUT)
    r, text = launch(python, "early_leak.py", tmp_path=tmp_path)
    save(f"launch-early-{name}.txt", text + r.stderr.decode())
    assert plain.returncode == 3
    assert r.returncode == 3, r.stderr.decode()
    assert r.stdout == plain.stdout
    assert "(target exited)" in text and "launched" in text
    result = __import__("json").loads(r.stdout.decode().split("RESULT ", 1)[1])
    sites = {frame_loc(s["frames"][0]): s for s in Report(text).sites if s["frames"]}
    got = sites.get(loc(result["leak"]))
    assert got, text
    want = result["leaked_bytes"]
    assert abs(got["bytes"] - want) <= 0.2 * want, text


def test_bad_command(bpf_ok, tmp_path):
    r = subprocess.run([str(TOOL), "--", "/nonexistent/python3"], capture_output=True,
                       text=True, timeout=TIMEOUT)
    assert r.returncode != 0 and r.stderr.startswith("pyleakbpf: cannot run /nonexistent")
    r = subprocess.run([str(TOOL), "--", "/bin/true"], capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode != 0 and "is not CPython" in r.stderr


# Where every kind of object is seen: builds without LTO attached to, and
# the LTO build launched with PYTHONMALLOC=malloc.
KIND_MODES = [("pyenv", "attach"), ("debug", "attach"), ("debian", "malloc")]


@pytest.mark.parametrize("build_name,mode", KIND_MODES, ids=[f"{b}-{m}" for b, m in KIND_MODES])
def test_kinds_attributed_to_their_lines(bpf_ok, build_name, mode, tmp_path):
    python, desc, optional = BUILDS[build_name]
    if optional and not __import__("os").path.exists(python):
        pytest.skip(f"SKIPPED build {build_name}: {python} is not installed ({desc})")
    if mode == "attach":
        result, _, text, _ = trace_run((build_name, python), "kinds.py", ["-t", "50"])
    else:
        r, text = launch(python, "kinds.py", ["--malloc"], stdin=b"go\nexit\n",
                         tmp_path=tmp_path)
        assert r.returncode == 0, r.stderr.decode()
        assert "PYTHONMALLOC=malloc" in text
        result = __import__("json").loads(
            re.search(rb"RESULT (.*)", r.stdout).group(1).decode())
    save(f"kinds-{build_name}-{mode}.txt", text)
    sites = {frame_loc(s["frames"][0]): s["bytes"] for s in Report(text).sites if s["frames"]}
    for kind, want in result["bytes"].items():
        got = sites.get(loc(result["lines"][kind]), 0)
        # at least 95% of what the line retains; a little more is the list
        # holding the objects (its item array is allocated on the same line)
        assert 0.95 * want <= got <= 1.25 * want, \
            f"{kind}: {got} bytes at {loc(result['lines'][kind])}, retained {want}\n{text}"
