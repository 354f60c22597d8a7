"""The test harness itself: when BPF tests may skip, and skips under CI.

A skip is only honest when BPF truly cannot run (no root, no BTF, the
kernel refusing bpf() itself); a tool that cannot load its own programs is
a failure. These run the real fixtures of conftest.py in a child pytest,
with a stand-in for pyleakbpf.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TIMEOUT, bpf_unavailable, bpf_verdict

TESTS = Path(__file__).resolve().parent

CHILD_CONFTEST = f'''
import importlib.util, sys
from pathlib import Path
sys.path.insert(0, {str(TESTS)!r})
spec = importlib.util.spec_from_file_location("real_conftest", {str(TESTS / "conftest.py")!r})
real = importlib.util.module_from_spec(spec)
spec.loader.exec_module(real)
real.TOOL = Path(__file__).parent / "fake-pyleakbpf"
bpf_ok = real.bpf_ok
pytest_runtest_makereport = real.pytest_runtest_makereport
'''

CHILD_TESTS = '''
import pytest

def test_needs_bpf(bpf_ok):
    pass

def test_skips():
    pytest.skip("something is missing")

@pytest.mark.xfail(strict=True, reason="known")
def test_xfails():
    assert False
'''


def child_pytest(tmp_path, tool_stderr, tool_rc, ci):
    """Run the child suite with a fake tool; {test name: outcome}."""
    (tmp_path / "conftest.py").write_text(CHILD_CONFTEST)
    (tmp_path / "test_child.py").write_text(CHILD_TESTS)
    fake = tmp_path / "fake-pyleakbpf"
    fake.write_text(f"#!/bin/sh\necho '{tool_stderr}' >&2\nexit {tool_rc}\n")
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci:
        env["CI"] = "1"
    r = subprocess.run([sys.executable, "-m", "pytest", "-rA", "-q", "-p", "no:cacheprovider",
                        str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=TIMEOUT)
    outcomes = dict((name, word.lower()) for word, name in
                    re.findall(r"^(PASSED|FAILED|SKIPPED|XFAIL|XPASS|ERROR) "
                               r"(?:\[\d+\] )?\S*?::?(test_\w+)", r.stdout, re.M))
    return r, outcomes


def test_bpf_syscall_probe_sees_missing_capabilities():
    """The probe asks the kernel itself: without capabilities bpf() says
    EPERM (unprivileged BPF is off here), with them it loads."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to drop capabilities")
    assert bpf_unavailable() is None
    code = f"import sys; sys.path.insert(0, {str(TESTS)!r}); import conftest; " \
           "print(conftest.bpf_unavailable())"
    r = subprocess.run(["setpriv", "--inh-caps=-all", "--bounding-set=-all",
                        sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert "EPERM" in r.stdout, r.stdout


@pytest.mark.parametrize("stderr", [
    "pyleakbpf: cannot open the BPF object: No such file or directory",
    "pyleakbpf: the kernel's BPF verifier rejected the programs (Invalid argument)",
    "pyleakbpf: cannot load the BPF programs: Invalid argument (BPF program is too large)",
    "pyleakbpf: permission denied loading BPF programs: run as root",
])
def test_tool_errors_are_failures_not_skips(stderr):
    """Where bpf() works, whatever the tool says, its failure is a failure."""
    assert bpf_verdict(None, 1, stderr)[0] == "fail"
    assert bpf_verdict("kernel has no BTF", 1, stderr)[0] == "skip"
    assert bpf_verdict(None, 0, "")[0] == "ok"


def test_bpf_ok_fails_on_broken_tool(tmp_path):
    """End to end: a tool that cannot open its BPF object fails the BPF
    tests (it used to skip them all and exit 0)."""
    if bpf_unavailable():
        pytest.skip(f"BPF unavailable here: {bpf_unavailable()}")
    r, got = child_pytest(tmp_path, "pyleakbpf: cannot open the BPF object: bad ELF", 1,
                          ci=False)
    # a fixture that fails makes an error: not a pass, not a skip
    assert got.get("test_needs_bpf") in ("failed", "error"), r.stdout
    assert "cannot open the BPF object" in r.stdout
    # outside CI an ordinary skip stays a skip
    assert re.search(r"^SKIPPED \[1\] test_child.py:\d+: something is missing", r.stdout,
                     re.M), r.stdout
    assert r.returncode != 0


def test_ci_turns_skips_into_failures(tmp_path):
    """With CI set a skip fails; xfail stays xfail; a working tool passes."""
    if bpf_unavailable():
        pytest.skip(f"BPF unavailable here: {bpf_unavailable()}")
    r, got = child_pytest(tmp_path, "", 0, ci=True)
    assert got == {"test_needs_bpf": "passed", "test_skips": "failed",
                   "test_xfails": "xfail"}, r.stdout
    assert "skipped under CI" in r.stdout
