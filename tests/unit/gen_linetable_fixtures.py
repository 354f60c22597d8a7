#!/usr/bin/python3.11
# SPDX-License-Identifier: GPL-2.0
"""
Generate tests/unit/linetable_fixtures.h from CPython 3.11 itself.

Run with /usr/bin/python3.11 (any CPython 3.11 works; the table format is
the 3.11 one, PEP 657):

    /usr/bin/python3.11 tests/unit/gen_linetable_fixtures.py

For every code object compiled from the sources below (recursively through
co_consts), the header holds co_linetable, co_firstlineno and, for every
code unit index 0 .. len(co_code)//2 - 1, the line CPython reports for it in
code.co_positions() (-1 where it reports None). test_linetable.c checks
linetable311_line() against every one of those indices.
"""
import os
import sys
import textwrap
import types

if sys.version_info[:2] != (3, 11):
    sys.exit("gen_linetable_fixtures.py needs CPython 3.11 (run /usr/bin/python3.11), "
             "got %s" % sys.version.split()[0])

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "linetable_fixtures.h")

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

# Real code: a stdlib module, compiled from its source.
STDLIB = ["textwrap.py", "shlex.py"]


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


def main():
    units = list(SOURCES.items())
    libdir = os.path.dirname(textwrap.__file__)
    for name in STDLIB:
        with open(os.path.join(libdir, name)) as f:
            units.append((name, f.read()))

    fixtures = []
    for fname, src in units:
        top = compile(src, fname, "exec")
        for co in code_objects(top, []):
            nunits = len(co.co_code) // 2
            pos = list(co.co_positions())
            assert len(pos) == nunits, (co, len(pos), nunits)
            lines = [-1 if p[0] is None else p[0] for p in pos]
            fixtures.append(("%s:%s" % (fname, co.co_qualname), co.co_firstlineno,
                             bytes(co.co_linetable), lines))

    out = []
    out.append("/* SPDX-License-Identifier: GPL-2.0 */")
    out.append("/*")
    out.append(" * Generated by tests/unit/gen_linetable_fixtures.py from CPython %s;"
               % sys.version.split()[0])
    out.append(" * do not edit. Per code object: co_linetable, co_firstlineno, and the line")
    out.append(" * code.co_positions() gives for every code unit (-1: None).")
    out.append(" */")
    out.append("#ifndef LINETABLE_FIXTURES_H")
    out.append("#define LINETABLE_FIXTURES_H")
    out.append("")
    out.append("#include <stddef.h>")
    out.append("#include <stdint.h>")
    out.append("")
    out.append('#define LT_FIXTURES_PYTHON "%s"' % sys.version.split()[0])
    out.append("")
    out.append("struct lt_fixture {")
    out.append("\tconst char *name;")
    out.append("\tint firstlineno;")
    out.append("\tconst uint8_t *table;")
    out.append("\tsize_t table_len;")
    out.append("\tconst int *lines;\t/* one per code unit */")
    out.append("\tint nunits;")
    out.append("};")
    out.append("")
    for i, (name, first, tab, lines) in enumerate(fixtures):
        out.append("/* %s */" % name)
        out.append("static const uint8_t lt_tab_%d[] = {" % i)
        if tab:
            out.append(c_bytes(tab))
        else:
            out.append("\t0")
        out.append("};")
        out.append("static const int lt_lines_%d[] = {" % i)
        out.append(c_ints(lines) if lines else "\t0")
        out.append("};")
        out.append("")
    out.append("static const struct lt_fixture lt_fixtures[] = {")
    for i, (name, first, tab, lines) in enumerate(fixtures):
        out.append('\t{ "%s", %d, lt_tab_%d, %d, lt_lines_%d, %d },'
                   % (name, first, i, len(tab), i, len(lines)))
    out.append("};")
    out.append("")
    out.append("#define LT_NFIXTURES (sizeof(lt_fixtures) / sizeof(lt_fixtures[0]))")
    out.append("")
    out.append("#endif")

    with open(OUT, "w") as f:
        f.write("\n".join(out) + "\n")
    print("%s: %d code objects, %d code units" %
          (OUT, len(fixtures), sum(len(f[3]) for f in fixtures)))


if __name__ == "__main__":
    main()
