#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""
Generate the seed corpora of the fuzz harnesses, tests/fuzz/corpus/<target>/,
from real interpreters and real files of this machine:

    /usr/bin/python3 tests/fuzz/gen_seeds.py

linetable  co_linetable / co_lnotab of stdlib functions, per CPython build
symbolize  code objects, their str objects and line-table bytes, copied out of
           a live interpreter's memory (ctypes), pointers relocated into the
           harness image at FM_BASE
objtypes   objects of common types with their pre-headers, their type objects,
           metatype and tp_name strings, copied and relocated the same way
heapscan   pool headers of a live interpreter's pymalloc arenas
elf        small ELF files built here with gcc (PLT, DT_NEEDED, RUNPATH, a USDT
           note, build-id; a stripped one with its separate debug file)
maps       lines of a live interpreter's /proc/PID/maps and crafted ones
liveness   made up here: a glibc heap (tcache chunk, chunks, top), a pymalloc
           pool with a free list, an object and its type

Each interpreter dumps itself (this script re-runs itself under it with
--dump KIND); a missing interpreter is skipped. The header layouts are the
ones documented at the top of each tests/fuzz/fuzz_<target>.c.
"""
import ctypes
import glob
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
FM_BASE = 0x10000000
PYENV = "/root/.pyenv/versions"
PYTHONS = ["/usr/bin/python3.11"] + [
    "%s/bin/python3.%d" % (d, m) for d, m in sorted(
        (d, int(os.path.basename(d).split(".")[1])) for d in glob.glob(PYENV + "/3.*"))
    if m >= 8]


# ---------------------------------------------------------------- in the child

def mem(addr, n):
    return ctypes.string_at(addr, n)


class Image:
    """Ranges of this process's memory, laid out one after another at
    FM_BASE; every aligned word pointing into a copied range is moved."""

    def __init__(self):
        self.ranges = []        # (orig addr, length, new offset)
        self.size = 0

    def add(self, addr, n):
        for a, l, o in self.ranges:
            if a <= addr and addr + n <= a + l:
                return o + addr - a
        self.size = (self.size + 15) & ~15
        off = self.size + (addr & 15)
        self.ranges.append((addr, n, off))
        self.size = off + n
        return off

    def where(self, addr):
        for a, l, o in self.ranges:
            if a <= addr < a + l:
                return FM_BASE + o + addr - a
        return None

    def bytes(self):
        out = bytearray(self.size)
        for a, l, o in self.ranges:
            b = bytearray(mem(a, l))
            for i in range((8 - a % 8) % 8, l - 7, 8):
                w = struct.unpack_from("<Q", b, i)[0]
                n = self.where(w)
                if n is not None:
                    struct.pack_into("<Q", b, i, n)
            out[o:o + l] = b
        return bytes(out)


def code_objects():
    import json, textwrap, email.message, string
    src = textwrap.dedent('''
    def caf\u00e9(x):
        return x + 1

    class \u03a9mega:
        def m(self, y):
            for i in range(y):
                if i % 3:
                    continue
                yield i

    def \U00020000(a, b):
        try:
            return a / b
        except ZeroDivisionError:
            return None
    ''')
    ns = {}
    exec(compile(src, "/tmp/\u00fcnicode/__init__.py", "exec"), ns)
    return [ns["caf\u00e9"].__code__, ns["\u03a9mega"].m.__code__, ns["\U00020000"].__code__,
            json.dumps.__code__, textwrap.dedent.__code__, string.capwords.__code__,
            email.message.Message.get_all.__code__]


def dump_symbolize():
    minor = sys.version_info[1]
    out = []
    cos = code_objects()
    for k in range(0, len(cos), 3):
        group = cos[k:k + 3]
        img = Image()
        ptype = img.add(id(type(group[0])), 16)
        frames = []
        for co in group:
            off = img.add(id(co), min(sys.getsizeof(co), 512))
            lt = getattr(co, "co_linetable", None) if minor >= 10 else co.co_lnotab
            for o in (co.co_filename, co.co_qualname if minor >= 11 else co.co_name,
                      co.co_name, lt):
                img.add(id(o), sys.getsizeof(o))
            n = len(co.co_code) // 2
            frames.append((off, 0))
            frames.append((off, 2 * (n // 2)))
        frames = frames[:8]
        hdr = struct.pack("<BBIIQ", minor, len(frames), 0, 0x01000000 | 200,
                          FM_BASE + ptype)
        for off, instr in frames + [(0, 0)] * (8 - len(frames)):
            hdr += struct.pack("<II", off, instr)
        out.append(hdr + img.bytes())
    return out


def dump_objtypes():
    minor = sys.version_info[1]

    class Plain:
        pass

    class Slotted:
        __slots__ = ("a",)

    class Sub(str):
        pass

    p = Plain()
    p.x = 1
    s = Slotted()
    s.a = 2
    objs = [[1, 2, 3], {"k": 1}, (1, "x"), 12345678901234567890, -5, 1.5, "ascii",
            "caf\u00e9", "\u03a9", b"bytes", p, s, Sub("sub"), Plain, {1, 2}]
    out = []
    for k in range(0, len(objs), 5):
        img = Image()
        blocks = []
        for o in objs[k:k + 5]:
            t = type(o)
            flags = t.__flags__
            pre = 16 if flags & (1 << 14) else 0
            if minor >= 11 and flags & (1 << 4):
                pre += 16
            size = sys.getsizeof(o)
            boff = img.add(id(o) - pre, size + (0 if minor >= 11 else pre) + 32)
            blocks.append((boff, size if minor >= 11 else size + pre, 0))
            blocks.append((boff + pre, 0, 1))
            for ty in (t, type(t), type):
                img.add(id(ty), 416)
                name = ctypes.c_void_p.from_address(id(ty) + 24).value
                img.add(name, len(ctypes.string_at(name)) + 1)
        hdr = struct.pack("<BBII", minor, len(blocks), 0, 0x01000000 | 40)
        for off, size, isobj in blocks + [(0, 0, 0)] * (64 - len(blocks)):
            hdr += struct.pack("<iHB", off, min(size, 0xffff), isobj)
        out.append(hdr + img.bytes())
    return out


def dump_heapscan():
    pool = 16384 if sys.version_info[1] >= 10 else 4096
    small = 8 if pool == 4096 else 0        # header flag: 4 KiB pools
    keep = [[object() for _ in range(50)], [bytearray(n) for n in range(1, 300, 7)],
            [str(i) * (i % 40) for i in range(400)], [(i,) for i in range(100)]]
    pools = {}
    for lst in keep:
        for o in lst:
            pools.setdefault(id(o) & ~(pool - 1), None)
    pools = sorted(pools)[:40]
    hdrs = b""
    for i, real in enumerate(pools):
        h = bytearray(mem(real, 48))
        fb = struct.unpack_from("<Q", h, 8)[0]
        if fb and real <= fb < real + pool:
            struct.pack_into("<Q", h, 8, fb - real + FM_BASE + i * pool)
        hdrs += bytes(h)
    pages = len(pools) * pool // 4096
    out = []
    for flags, kinds in ((0, (0, 1 << 3)), (1, (0, 2 << 3)), (2, (4, 0)), (4, (0, 1))):
        m = struct.pack("<hHB", 0, pages, kinds[0]) + struct.pack("<hHB", pages, 8, kinds[1])
        m += b"\0" * (5 * 6)
        out.append(struct.pack("<BI", flags | small, 0 if flags != 4 else 0b1010) + m + hdrs)
    return out


def dump_linetable():
    import json, textwrap, string, email.message
    minor = sys.version_info[1]
    fmt = 0 if minor >= 11 else 1 if minor == 10 else 2
    out = []
    for f in (json.dumps, textwrap.dedent, string.capwords, email.message.Message.get_all,
              textwrap.TextWrapper._wrap_chunks):
        co = f.__code__
        tab = co.co_linetable if minor >= 10 else co.co_lnotab
        out.append(struct.pack("<Bii", fmt, co.co_firstlineno, len(co.co_code) // 4) + tab)
    return out


def dump_maps():
    with open("/proc/self/maps") as f:
        lines = f.read().splitlines(True)
    return [l.encode() for l in lines[:3] + lines[-3:]]


if len(sys.argv) == 3 and sys.argv[1] == "--dump":
    for i, b in enumerate(globals()["dump_" + sys.argv[2]]()):
        sys.stdout.write(b.hex() + "\n")
    sys.exit(0)


# --------------------------------------------------------------- in the parent

def save(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def from_pythons(kind, pythons):
    for py in pythons:
        if not os.access(py, os.X_OK):
            continue
        tag = os.path.basename(os.path.dirname(os.path.dirname(py))) \
            if py.startswith(PYENV) else "debian-" + os.path.basename(py)
        r = subprocess.run([py, __file__, "--dump", kind], capture_output=True, text=True)
        if r.returncode:
            print("%s: %s failed: %s" % (kind, py, r.stderr.strip().splitlines()[-1:]))
            continue
        for i, h in enumerate(r.stdout.split()):
            save(kind, "%s-%d" % (tag, i), bytes.fromhex(h))


ELF_SRC = r'''
#include <stdlib.h>
#include <string.h>
__asm__(".pushsection .note.stapsdt,\"?\",\"note\"\n"
	".balign 4\n.4byte 8f-7f, 2f-1f, 3\n7: .asciz \"stapsdt\"\n8: .balign 4\n"
	"1: .8byte 0, 0, 0\n.asciz \"python\"\n.asciz \"function__entry\"\n.asciz \"\"\n"
	"2: .balign 4\n.popsection\n");
int counter;
__attribute__((noinline)) int helper(int x) { return x * 3 + counter; }
int api_entry(const char *s) { return (int)strlen(s) + helper(2); }
void *api_alloc(size_t n) { return malloc(n); }
int main(void) { return api_entry("x") - 7; }
'''


def gen_elf():
    with tempfile.TemporaryDirectory() as t:
        c = os.path.join(t, "s.c")
        with open(c, "w") as f:
            f.write(ELF_SRC)
        small = ["-Os", "-Wl,-z,max-page-size=4096", "-Wl,-z,noseparate-code",
                 "-Wl,--build-id", "-fno-asynchronous-unwind-tables"]
        so, exe, pie = (os.path.join(t, n) for n in ("lib.so", "exe", "pie"))
        subprocess.check_call(["gcc", *small, "-shared", "-fPIC", "-Wl,-rpath,/opt/x/lib",
                               "-o", so, c, "-lm"])
        subprocess.check_call(["gcc", *small, "-no-pie", "-o", exe, c])
        subprocess.check_call(["gcc", *small, "-pie", "-fPIE", "-Wl,-z,now", "-o", pie, c])
        dbg = os.path.join(t, "d.debug")
        subprocess.check_call(["objcopy", "--only-keep-debug", so, dbg])
        stripped = os.path.join(t, "stripped.so")
        subprocess.check_call(["strip", "-o", stripped, so])
        subprocess.check_call(["objcopy", "--add-gnu-debuglink=" + dbg, stripped], cwd=t)
        rd = lambda p: open(p, "rb").read()
        for name, p in (("lib.so", so), ("exe", exe), ("pie-now", pie)):
            b = rd(p)
            save("elf", name, struct.pack("<I", len(b)) + b)
        b, d = rd(stripped), rd(dbg)
        save("elf", "stripped-debuglink", struct.pack("<I", len(b)) + b + d)


def gen_maps():
    from_pythons("maps", PYTHONS[:1])
    for i, l in enumerate([
            "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 \n",
            "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 [anon:pymalloc]\n",
            "55d0c0a00000-55d0c0b00000 r-xp 00001000 fd:01 1234567 /usr/bin/py thon (deleted)\n",
            "7ffd1000-7ffd2000 rw-p 00000000 00:00 0                          [stack]\n",
            "1000-2000 r--p 00000000 00:00 0 /" + "a" * 4000 + "\n"]):
        save("maps", "crafted-%d" % i, l.encode())


def gen_liveness():
    for pool in (16384, 4096):
        img = bytearray(2 * 16384 + 4096)
        # [heap]: tcache_perthread_struct chunk, then three chunks and the top
        struct.pack_into("<QQ", img, 0, 0, 0x290 | 1)
        a = 0x290
        chunks = []
        for sz in (0x30, 0x40, 0x20):
            struct.pack_into("<QQ", img, a, 0, sz | 1)
            chunks.append((a + 16, sz - 16))
            a += sz
        struct.pack_into("<QQ", img, a, 0, (16384 - a) | 1)          # top
        # a pool of 48-byte blocks at 16 KiB: 5 carved, 0-2 in use, 3 -> 4 free
        base, bs = 16384, 48
        hdr = struct.pack("<IIQQQIIII", 3, 0, FM_BASE + base + 48 + 3 * bs,
                          FM_BASE + 0x100000, FM_BASE + 0x100000, 0, 2,
                          48 + 5 * bs, pool - bs)
        img[base:base + 48] = hdr
        struct.pack_into("<Q", img, base + 48 + 3 * bs, FM_BASE + base + 48 + 4 * bs)
        # an object (refcount 1, type at 0x7000) in block 0, its type's refcount
        obj = base + 48
        struct.pack_into("<QQ", img, obj, 1, FM_BASE + 0x7000)
        struct.pack_into("<QQ", img, 0x7000, 5, FM_BASE + 0x7000)
        blocks = [(c, n, 1, 0) for c, n in chunks]
        blocks += [(base + 48 + i * bs, 40, 0, 0) for i in range(5)]
        blocks += [(obj, 0, 2, 0x7000)]
        for glibc in (1, 0):
            hdr = struct.pack("<BQIH", glibc | (2 if pool == 4096 else 0) | 4 | 8, 0, 0, 4)
            for off, n, kind, ty in blocks + [(0, 0, 0, 0)] * (32 - len(blocks)):
                hdr += struct.pack("<iIBI", off, n, kind, ty)
            save("liveness", "made-up-%d-%s" % (pool, "glibc" if glibc else "other"),
                 hdr + bytes(img))


def main():
    for t in ("linetable", "symbolize", "objtypes", "heapscan", "elf", "maps", "liveness"):
        for p in glob.glob(os.path.join(CORPUS, t, "*")):
            os.unlink(p)
    from_pythons("linetable", PYTHONS)
    from_pythons("symbolize", PYTHONS)
    from_pythons("objtypes", PYTHONS)
    from_pythons("heapscan", PYTHONS)
    gen_elf()
    gen_maps()
    gen_liveness()
    total = 0
    for t in sorted(os.listdir(CORPUS)):
        fs = glob.glob(os.path.join(CORPUS, t, "*"))
        sz = sum(os.path.getsize(f) for f in fs)
        total += sz
        print("%-10s %3d seeds %7d bytes" % (t, len(fs), sz))
    print("total %d bytes" % total)


if __name__ == "__main__":
    if sys.argv[1:] == ["--liveness"]:
        gen_liveness()      # only the made-up seeds (the dumped ones change per run)
    else:
        main()
