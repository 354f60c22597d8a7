# SPDX-License-Identifier: GPL-2.0
"""Target process for tests/unit/test_liveness.c.

Allocates blocks of every kind the liveness checks know and prints them,
one per line, as

    KIND GROUP ADDR SIZE TYPE FROM

KIND: pym (pymalloc block), mal (glibc chunk), obj (PyObject * from
tp_alloc, TYPE its type); GROUP: keep or drop; FROM: py (CPython's
allocator functions returned ADDR: in a debug build their hooks put 16
bytes before it and 8 after) or libc. Before them "pool N" with pymalloc's
pool size and "debug 0|1"; after them "ready". On the line "free" from stdin it
frees every "drop" block, each through the path its allocator offers
(del for objects, libc free() for ctypes buffers), and prints "freed".
On "many PATH N" it allocates N more blocks (a mix of the kinds, all
kept) and writes them to PATH as records of four u64: addr, size, kind
(0 pym, 1 mal, 2 obj), type; then prints "many". EOF on stdin ends it.
"""
import array
import ctypes
import sys
import threading

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)

HAVE_GC = 1 << 14
MANAGED_DICT = 1 << 4
BYTES_HEAD = bytes.__basicsize__ - 1   # header of a bytes object, less its NUL
COUNT = 64


class Slots:
    # 50 slots: 432 bytes with the GC head, a size class little else uses
    # (a block freed is reused by the next allocation of its class)
    __slots__ = tuple("s%d" % i for i in range(50))


def preheader(o):
    flags = type(o).__flags__
    return (16 if flags & HAVE_GC else 0) + (16 if flags & MANAGED_DICT else 0)


def pool_size():
    v = sys.version_info
    return 16384 if v >= (3, 10) else 4096


held = {"keep": [], "drop": []}
mallocs = {"keep": [], "drop": []}


def show(kind, group, addr, size, typ=0, origin="py"):
    print(f"{kind} {group} {addr:#x} {size} {typ:#x} {origin}")


def make(group, i):
    # pymalloc: bytes of a rarely used class (433 bytes -> 448)
    b = b"p%03d" % i + b"x" * 396
    show("pym", group, id(b), BYTES_HEAD + len(b) + 1)
    # a tp_alloc'd instance: as an object, and as its pymalloc block
    o = Slots()
    pre = preheader(o)
    show("obj", group, id(o), pre + Slots.__basicsize__, id(Slots))
    show("pym", group, id(o) - pre, pre + Slots.__basicsize__)
    # a big bytes: pymalloc passes it to malloc (tcache-sized chunk)
    big = b"m%03d" % i + b"y" * 946
    show("mal", group, id(big), BYTES_HEAD + len(big) + 1)
    # a bigger one: past the tcache's sizes
    huge = b"h%03d" % i + b"z" * 1996
    show("mal", group, id(huge), BYTES_HEAD + len(huge) + 1)
    held[group] += [b, o, big, huge]
    # ctypes buffers straight from libc: a heap chunk past the tcache,
    # one in tcache range, an mmapped one, and fastbin-sized ones (freed,
    # 7 fill the tcache, the rest go to a fastbin)
    for size in (3000, 700, 300000, 120, 120):
        p = libc.malloc(size)
        ctypes.memset(p, 0x41, size)
        show("mal", group, p, size, 0, "libc")
        mallocs[group].append(p)


def many(path, n):
    rec = array.array("Q")
    keep = []
    for i in range(n):
        k = i % 10
        if k < 6:
            o = b"%07d" % i + b"q" * 25
            rec.extend((id(o), BYTES_HEAD + len(o) + 1, 0, 0))
        elif k < 9:
            o = Slots()
            rec.extend((id(o), preheader(o) + Slots.__basicsize__, 2, id(Slots)))
        else:
            o = b"%07d" % i + b"r" * 1500
            rec.extend((id(o), BYTES_HEAD + len(o) + 1, 1, 0))
        keep.append(o)
    with open(path, "wb") as f:
        rec.tofile(f)
    return keep


def churn(started):
    sizes = (8, 40, 120, 400, 433 - BYTES_HEAD - 1, 700, 983, 3000, 300000)
    rounds = 0
    while True:
        held = []
        for i, n in enumerate(sizes * 20):
            held.append(b"c" * n)
            held.append(Slots())
            p = libc.malloc(n)
            libc.free(p)
            if i % 3 == 0:
                del held[: len(held) // 2]
        rounds += 1
        if rounds == 20:
            started.set()


def main():
    print(f"pool {pool_size()}")
    print(f"debug {int(hasattr(sys, 'gettotalrefcount'))}")
    for i in range(COUNT):
        make("keep", i)
        make("drop", i)
    print("ready", flush=True)
    more = []
    for line in sys.stdin:
        words = line.split()
        if words == ["free"]:
            held["drop"].clear()
            for p in mallocs["drop"]:
                libc.free(p)
            mallocs["drop"].clear()
            print("freed", flush=True)
        elif words and words[0] == "many":
            more.append(many(words[1], int(words[2])))
            print("many", flush=True)
        elif words == ["churn"]:
            started = threading.Event()
            threading.Thread(target=churn, args=(started,), daemon=True).start()
            started.wait()
            print("churning", flush=True)


main()
