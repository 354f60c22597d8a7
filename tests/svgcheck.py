"""Checks of an SVG flame graph (pyleakbpf --svg) as a browser sees it.

check_svg() runs xmllint for well-formedness, then headless chromium twice:
once for a screenshot of the graph as first shown, once with a URL hash
(#zoom=FRAME&search=REGEX) that makes the graph's own script zoom to a
frame and search for it. The script reports back through attributes of the
<svg> element, which --dump-dom prints: data-ok="1" once it has run,
data-error on any exception, data-zoom and data-matches/data-share for
the actions. Uncaught errors printed to chromium's console log count too.

Standard library only, so it runs under /usr/bin/python3 beside pytest.
"""
import html
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from urllib.parse import quote

TIMEOUT = 90
MAX_WINDOW_H = 4000


def _js_regex_literal(text):
    """A JS regular expression source matching exactly text."""
    return "^" + re.sub(r"[\\^$.*+?()[\]{}|/]", lambda m: "\\" + m.group(0), text) + "$"


def _chromium(url, *args):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        raise AssertionError("svgcheck: chromium not found (make deps installs it)")
    with tempfile.TemporaryDirectory(prefix="svgcheck-") as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu",
               "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0",
               *args, url]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True,
                               timeout=TIMEOUT, cwd=profile)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"svgcheck: chromium took over {TIMEOUT} s: {cmd}")
    errors = [l for l in r.stderr.splitlines()
              if "CONSOLE" in l and ("Uncaught" in l or ":ERROR:" in l)]
    if r.returncode or errors:
        raise AssertionError(f"svgcheck: chromium on {url} exited {r.returncode}, "
                             f"console errors:\n" + "\n".join(errors or [r.stderr[-2000:]]))
    return r.stdout


def _png_distinct_bytes(path):
    """Distinct byte values in the PNG's pixel data: a blank image has few."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError(f"svgcheck: {path} is not a PNG")
    pos, idat = 8, b""
    while pos + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    return len(set(zlib.decompress(idat)))


def _svg_attrs(dom):
    """Attributes of the first <svg> start tag in a serialized DOM."""
    m = re.search(r'<svg((?:\s+[\w:.-]+="[^"]*")*)\s*/?>', dom)
    if not m:
        raise AssertionError("svgcheck: no <svg> element in chromium's DOM dump:\n"
                             + dom[:2000])
    return {k: html.unescape(v) for k, v in re.findall(r'([\w:.-]+)="([^"]*)"', m.group(1))}


def check_svg(path, expect_frame, screenshot_png):
    """Assert that path is a working flame graph; return the <svg> attributes.

    expect_frame is the exact name of a frame the graph must hold (as in
    the folded stacks); None for a graph with nothing to show, when only
    the script's start is checked. screenshot_png receives the rendering.
    """
    path = os.path.abspath(path)
    r = subprocess.run(["xmllint", "--noout", path], capture_output=True, text=True)
    if r.returncode:
        raise AssertionError(f"svgcheck: xmllint: {path} is not well-formed XML:\n"
                             + r.stderr[-3000:])
    with open(path, encoding="utf-8") as f:
        m = re.search(r'<svg[^>]*\sheight="(\d+)"', f.read(4096))
    height = min(max(int(m.group(1)) if m else 800, 800), MAX_WINDOW_H)

    url = "file://" + quote(path)
    if os.path.exists(screenshot_png):
        os.unlink(screenshot_png)
    _chromium(url, "--screenshot=" + os.path.abspath(screenshot_png),
              f"--window-size=1200,{height}")
    if not os.path.exists(screenshot_png) or _png_distinct_bytes(screenshot_png) < 16:
        raise AssertionError(f"svgcheck: chromium drew nothing for {path} "
                             f"(screenshot {screenshot_png} missing or blank)")

    if expect_frame is not None:
        url += ("#zoom=" + quote(expect_frame, safe="")
                + "&search=" + quote(_js_regex_literal(expect_frame), safe=""))
    attrs = _svg_attrs(_chromium(url, "--dump-dom"))
    if attrs.get("data-error"):
        raise AssertionError(f"svgcheck: the script of {path} failed: {attrs['data-error']}")
    if attrs.get("data-ok") != "1":
        raise AssertionError(f"svgcheck: the script of {path} did not run to its end "
                             f"(no data-ok on <svg>: {attrs})")
    if expect_frame is None:
        return attrs
    if attrs.get("data-zoom") != expect_frame:
        raise AssertionError(f"svgcheck: zoom to {expect_frame!r} did not happen: "
                             f"data-zoom={attrs.get('data-zoom')!r}")
    if int(attrs.get("data-matches") or 0) < 1 or float(attrs.get("data-share") or 0) <= 0:
        raise AssertionError(f"svgcheck: search for {expect_frame!r} matched nothing: "
                             f"data-matches={attrs.get('data-matches')!r} "
                             f"data-share={attrs.get('data-share')!r}")
    return attrs


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: svgcheck.py FILE.svg SCREENSHOT.png [FRAME]")
    print(check_svg(sys.argv[1], sys.argv[3] if len(sys.argv) == 4 else None, sys.argv[2]))
