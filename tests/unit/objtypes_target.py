# SPDX-License-Identifier: GPL-2.0
"""Target process for tests/unit/test_objtypes.c.

Makes objects of known types and prints where they are, one per line:

    obj NAME ADDR SIZE    ADDR is the PyObject * (what a tp_alloc slot returns)
    raw NAME ADDR SIZE    ADDR is the start of the block, before the pre-header
    non - ADDR SIZE       the block holds no object
    copy NAME ADDR SIZE   a copy of an object's header, next to an unmapped page
    hole - ADDR SIZE      that unmapped page
    freed NAME ADDR SIZE  the block held an object of type NAME, now freed
    many PATH N           PATH holds N records of four u64: object, pre-header
                          size, object size, index into the "kinds" line
    kinds NAME...

then "ready", and waits for stdin to close. SIZE is the size an allocator
was asked for: pre-header plus the object's own bytes (sys.getsizeof is not
that: it counts the buffers of lists, dicts and bytearrays).
Usage: objtypes_target.py [MANY_PATH N]
"""
import array
import ctypes
import mmap
import struct
import sys

HAVE_GC = 1 << 14
MANAGED_DICT = 1 << 4
# Types whose __sizeof__ is exactly the object's block (no outside buffer).
SELF_SIZED = (str, bytes, tuple, int, float)


class Connection:
    def __init__(self, host, port):
        self.host = host
        self.port = port


def preheader(o):
    flags = type(o).__flags__
    return (16 if flags & HAVE_GC else 0) + (16 if flags & MANAGED_DICT else 0)


def object_size(o):
    if type(o) in SELF_SIZED:
        return o.__sizeof__()
    return type(o).__basicsize__


def show(o):
    pre, size = preheader(o), object_size(o)
    name = type(o).__name__
    print(f"obj {name} {id(o):#x} {pre + size}")
    print(f"raw {name} {id(o) - pre:#x} {pre + size}")


def known():
    objs = [
        Connection("db.example", 5432),
        {"a": 1, "b": 2},
        [1, 2, 3],
        "hello world " * 3,
        "h\u00e9llo w\u00f6rld " * 2,
        "\u65e5\u672c\u8a9e\u306e\u6587\u5b57\u5217",
        bytes((i * 7) & 0xff for i in range(600)),
        bytearray(b"abcdef"),
        tuple(range(5)),
        12345678901234567890 * (len(sys.argv) + 1),
        -98765432109876543210 * (len(sys.argv) + 1),
        float(len(sys.argv)) + 0.25,
    ]
    for o in objs:
        show(o)
    raw = objs[6]
    print(f"non - {id(raw) + 32:#x} {len(raw)}")
    # a list's item array: object pointers, no object header
    items = ctypes.c_void_p.from_address(id(objs[2]) + 24).value
    print(f"non - {items:#x} {8 * len(objs[2])}")
    # a refcount then a pointer to an object that is not a type
    fake = struct.pack("QQ", 1, id(objs[1])) + bytes(48)
    print(f"non - {id(fake) + 32:#x} {len(fake)}")
    return objs, fake


def hole():
    """Two pages with an unmapped one between and float headers beside it.

    A copied header passes every check, which is what makes it useful here:
    blocks on both sides of a fault in the middle of one batched read.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                          ctypes.c_int, ctypes.c_int, ctypes.c_long)
    libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    page = mmap.PAGESIZE
    base = libc.mmap(None, 3 * page, mmap.PROT_READ | mmap.PROT_WRITE,
                     mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
    if libc.munmap(base + page, page):
        raise OSError(ctypes.get_errno(), "munmap")
    f = float(len(sys.argv)) + 0.75
    ctypes.memmove(base + page - 32, id(f), 24)
    ctypes.memmove(base + 2 * page, id(f), 24)
    print(f"copy float {base + page - 32:#x} 24")
    print(f"hole - {base + page:#x} {page}")
    print(f"copy float {base + 2 * page:#x} 24")
    return f


def freed():
    conns = [Connection("gone", i) for i in range(200)]
    where = [(id(c) - preheader(c), preheader(c) + object_size(c)) for c in conns]
    del conns
    for addr, size in where:
        print(f"freed Connection {addr:#x} {size}")


def many(path, n):
    kinds = [Connection, float, tuple, str, int]
    objs = []
    rec = array.array("Q")
    for i in range(n):
        k = i % len(kinds)
        if k == 0:
            o = Connection("h", i)
        elif k == 1:
            o = i + 0.5
        elif k == 2:
            o = (i, i)
        elif k == 3:
            o = f"s{i}"
        else:
            o = (i + 1) << 40
        objs.append(o)
        rec.extend((id(o), preheader(o), object_size(o), k))
    with open(path, "wb") as f:
        rec.tofile(f)
    print("kinds " + " ".join(k.__name__ for k in kinds))
    print(f"many {path} {n}")
    return objs


def main():
    keep = known(), hole()
    freed()
    if len(sys.argv) == 3:
        keep = (keep, many(sys.argv[1], int(sys.argv[2])))
    print("ready", flush=True)
    sys.stdin.read()


main()
