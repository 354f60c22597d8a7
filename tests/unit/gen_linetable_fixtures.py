#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""
Generate tests/unit/linetable_fixtures_3X.h from CPython 3.X itself.

Run it once under each version (3.8 .. 3.13), e.g.

    for py in /root/.pyenv/versions/3.8.18/bin/python3.8 \\
              /root/.pyenv/versions/3.9.18/bin/python3.9 \\
              /root/.pyenv/versions/3.10.13/bin/python3.10 \\
              /usr/bin/python3.11 \\
              /root/.pyenv/versions/3.12.1/bin/python3.12 \\
              /root/.pyenv/versions/3.13.0/bin/python3.13; do
        $py tests/unit/gen_linetable_fixtures.py
    done

For every code object compiled from the sources below (recursively through
co_consts), the header holds the line table (co_lnotab on 3.8/3.9,
co_linetable on 3.10+), co_firstlineno and, for every code unit (2 bytes)
of co_code, the line CPython reports for it: from co_lines() on 3.10+ (-1
where it says None), from dis.findlinestarts() on 3.8/3.9. Each of those
lines is also checked here against the interpreter's own C
PyCode_Addr2Line() (what frame.f_lineno uses); a disagreement stops the
script. test_linetable.c checks the decoders against every code unit.
"""
import ctypes
import dis
import opcode
import os
import sys
import textwrap
import types

if not (3, 8) <= sys.version_info[:2] <= (3, 14):
    sys.exit("gen_linetable_fixtures.py needs CPython 3.8 .. 3.14, got %s"
             % sys.version.split()[0])

HERE = os.path.dirname(os.path.abspath(__file__))
VER = "%d%d" % sys.version_info[:2]
OUT = os.path.join(HERE, "linetable_fixtures_%s.h" % VER)

# Hand-written sources, each a separate compilation unit.
SOURCES = {}

SOURCES["basic.py"] = textwrap.dedent('''\
    def simple(a, b):
        return a + b


    def multiline(x):
        y = (x +
             1,
             x *
             2)
        return foo(
            y,
            bar(
                x),
            baz=[1,
                 2,
                 3])


    def loops(n):
        t = 0
        for i in range(n):
            if i % 2:
                t += i
            else:
                continue
        while t > 10:
            t -= 3
            if t == 42:
                break
        return t


    def excs(path):
        try:
            f = open(path)
        except (OSError, ValueError) as e:
            print(e)
            raise
        except Exception:
            pass
        else:
            with f:
                return f.read()
        finally:
            print("done")


    @decorator(
        1,
        2)
    def decorated(a,
                  b=3,
                  *args,
                  **kw):
        return a


    def nested(k):
        def inner(x):
            def innermost(y):
                return x + y + k
            return innermost
        f = lambda z: (z,
                       k)
        return inner, f


    def comprehensions(seq):
        a = [x * 2 for x in seq if x]
        b = {x: y
             for x, y in seq}
        c = {x for x in seq}
        d = (x
             for x in seq)
        e = [[y for y in x]
             for x in seq]
        return a, b, c, d, e


    def gen(n):
        for i in range(n):
            yield i
        yield from range(
            n)


    async def coro(s):
        async with s as t:
            async for x in t:
                await x
        return [await y async for y in s]


    class Klass(Base, metaclass=Meta):
        attr = 1

        def method(self):
            return super().method()

        @property
        def prop(self):
            return self._p

        class Inner:
            def m(self):
                return 1


    def wide_columns(a):
        return a + WIDE + a.bit_length() + len(a) + a * 2 + a


    def globals_and_attrs(o):
        global G
        G = o.a.b.c.d
        o.x.y = G[1:2, ::3]
        del o.x
        assert o, "message"
        return not o
    ''').replace("WIDE", "a" + " + a" * 120)  # columns far past 255

# Long jumps between lines: forward gaps of 63/64/65/70/200/5000 lines,
# a backward jump of ~300 lines (end of a long loop body back to the for).
def _long_jumps():
    out = ["def long_jumps(a):", "    x = 1"]
    for gap in (62, 63, 64, 65, 70, 127, 128, 200, 1000, 5000):
        out.extend([""] * gap)
        out.append("    x = x + a  # after %d blank lines" % gap)
    out.append("    for i in range(a):")
    out.append("        x += i")
    out.extend([""] * 300)
    out.append("        x -= 1")
    out.append("    return (x,")
    out.extend([""] * 150)
    out.append("            a)")
    return "\n".join(out) + "\n"


SOURCES["long_jumps.py"] = _long_jumps()


# A very long function: thousands of lines, lines far above 1000, and a
# table long enough to exercise every entry kind many times over.
def _very_long():
    out = ["def very_long(a, b):", "    t = 0"]
    for i in range(1500):
        k = i % 6
        if k == 0:
            out.append("    t += a * %d" % i)
        elif k == 1:
            out.append("    if t > %d:" % i)
            out.append("        t -= b")
        elif k == 2:
            out.append("    t = (t +")
            out.append("         %d)" % i)
        elif k == 3:
            out.append("    b = [a, b, %d][t %% 3]" % i)
        elif k == 4:
            out.append("    a = f(a,")
            out.append("")
            out.append("          b)")
        else:
            out.append("    for _ in (): pass")
    out.append("    return t")
    return "\n".join(out) + "\n"


SOURCES["very_long.py"] = _very_long()

# A function whose first line is far past 1000 (firstlineno > 1000).
SOURCES["late_start.py"] = "\n" * 1234 + textwrap.dedent('''\
    def late(a):
        b = a + 1
        return (a,
                b)


    class Late:
        def m(self, q):
            return [q for q in range(q)]
    ''') + "\n" * 900 + textwrap.dedent('''\
    def later():
        return later
    ''')

# match (3.10+ syntax only).
if sys.version_info >= (3, 10):
    SOURCES["matching.py"] = textwrap.dedent('''\
    def matching(cmd):
        match cmd.split():
            case [action]:
                return action
            case [action, obj] if obj:
                return action, obj
            case {"x": x, **rest}:
                return x
            case Point(x=0, y=y):
                return y
            case _:
                return None


    ''')


# More than 256 constants and names in one function: EXTENDED_ARG on
# LOAD_CONST / STORE_NAME, and a body long enough for jumps past 255 units.
def _many_consts():
    out = ["def many_consts(a):"]
    for i in range(300):
        out.append("    v%d = %r if a else %d" % (i, "c%d" % i, i))
    out.append("    return a")
    return "\n".join(out) + "\n"


SOURCES["many_consts.py"] = _many_consts()

# Real code: stdlib modules, compiled from their source (of the version
# that runs this script).
STDLIB = ["textwrap.py", "shlex.py", "argparse.py", "fractions.py"]


def code_objects(co, acc):
    acc.append(co)
    for c in co.co_consts:
        if isinstance(c, types.CodeType):
            code_objects(c, acc)
    return acc


def c_bytes(b):
    lines = []
    for i in range(0, len(b), 16):
        lines.append("\t" + " ".join("0x%02x," % x for x in b[i:i + 16]))
    return "\n".join(lines)


def c_ints(v):
    lines = []
    for i in range(0, len(v), 16):
        lines.append("\t" + " ".join("%d," % x for x in v[i:i + 16]))
    return "\n".join(lines)


def unit_lines(co):
    """Line of every code unit, as co_lines() / dis.findlinestarts() say."""
    nunits = len(co.co_code) // 2
    if sys.version_info >= (3, 10):
        lines = [None] * nunits
        for start, end, line in co.co_lines():
            for u in range(start // 2, end // 2):
                lines[u] = -1 if line is None else line
        assert None not in lines, (co, "co_lines() leaves a gap")
        return lines
    starts = dict(dis.findlinestarts(co))
    assert 0 in starts, (co, "no line start at offset 0")
    lines, line = [], None
    for u in range(nunits):
        line = starts.get(2 * u, line)
        lines.append(line)
    return lines


def line_table(co):
    return bytes(co.co_lnotab if sys.version_info < (3, 10) else co.co_linetable)


def check_against_c(co, lines):
    """The interpreter's own PyCode_Addr2Line() must say the same."""
    addr2line = ctypes.pythonapi.PyCode_Addr2Line
    addr2line.argtypes = [ctypes.py_object, ctypes.c_int]
    addr2line.restype = ctypes.c_int
    for u, want in enumerate(lines):
        got = addr2line(co, 2 * u)
        if got != want:
            sys.exit("%s: code unit %d: PyCode_Addr2Line says %d, the Python API %d"
                     % (co, u, got, want))
    if addr2line(co, -1) != co.co_firstlineno:
        sys.exit("%s: PyCode_Addr2Line(-1) is not co_firstlineno" % co)


def features(co, lines):
    """What a code object exercises: EXTENDED_ARG, line steps back, steps of
    128 lines or more, code units without a line."""
    ext = opcode.opmap["EXTENDED_ARG"]
    code = co.co_code
    has = set()
    if any(code[i] == ext for i in range(0, len(code), 2)):
        has.add("extended_arg")
    prev = None
    for line in lines:
        if line < 0:
            has.add("no_line")
            continue
        if prev is not None and line < prev:
            has.add("line_back")
        if prev is not None and abs(line - prev) >= 128:
            has.add("long_step")
        prev = line
    return has


def main():
    units = list(SOURCES.items())
    libdir = os.path.dirname(textwrap.__file__)
    for name in STDLIB:
        with open(os.path.join(libdir, name)) as f:
            units.append((name, f.read()))

    fixtures, seen = [], {}
    for fname, src in units:
        top = compile(src, fname, "exec")
        for co in code_objects(top, []):
            lines = unit_lines(co)
            check_against_c(co, lines)
            for feat in features(co, lines):
                seen[feat] = seen.get(feat, 0) + 1
            name = getattr(co, "co_qualname", co.co_name)
            fixtures.append(("%s:%s" % (fname, name), co.co_firstlineno,
                             line_table(co), lines))
    want = {"extended_arg", "line_back", "long_step"}
    if sys.version_info >= (3, 10):
        want.add("no_line")
    missing = want - set(seen)
    if missing:
        sys.exit("no code object exercises %s" % ", ".join(sorted(missing)))

    pyver = sys.version.split()[0]
    p = "lt%s" % VER
    out = []
    out.append("/* SPDX-License-Identifier: GPL-2.0 */")
    out.append("/*")
    out.append(" * Generated from CPython %s by" % pyver)
    out.append(" *   python%d.%d tests/unit/gen_linetable_fixtures.py" % sys.version_info[:2])
    out.append(" * do not edit. Per code object: its line table, co_firstlineno and the line")
    out.append(" * CPython gives for every code unit (-1: none); see linetable_fixtures.h.")
    out.append(" * Code objects exercising: %s."
               % ", ".join("%s %d" % kv for kv in sorted(seen.items())))
    out.append(" */")
    out.append("#ifndef LINETABLE_FIXTURES_%s_H" % VER)
    out.append("#define LINETABLE_FIXTURES_%s_H" % VER)
    out.append("")
    out.append('#define LT%s_PYTHON "%s"' % (VER, pyver))
    out.append("")
    for i, (name, first, tab, lines) in enumerate(fixtures):
        out.append("/* %s */" % name)
        out.append("static const uint8_t %s_tab_%d[] = {" % (p, i))
        out.append(c_bytes(tab) if tab else "\t0")
        out.append("};")
        out.append("static const int %s_lines_%d[] = {" % (p, i))
        out.append(c_ints(lines) if lines else "\t0")
        out.append("};")
        out.append("")
    out.append("static const struct lt_fixture %s_fixtures[] = {" % p)
    for i, (name, first, tab, lines) in enumerate(fixtures):
        out.append('\t{ "%s", %d, %s_tab_%d, %d, %s_lines_%d, %d },'
                   % (name, first, p, i, len(tab), p, i, len(lines)))
    out.append("};")
    out.append("")
    out.append("#endif")

    with open(OUT, "w") as f:
        f.write("\n".join(out) + "\n")
    print("%s: %d code objects, %d code units, %d lines; %s" %
          (OUT, len(fixtures), sum(len(f[3]) for f in fixtures), len(out),
           ", ".join("%s %d" % kv for kv in sorted(seen.items()))))


if __name__ == "__main__":
    main()
