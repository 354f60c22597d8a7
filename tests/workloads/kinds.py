"""Retains known amounts of several kinds of objects, one line per kind.

Each line's expected bytes are what sys.getsizeof reports for the objects it
keeps (the request sizes of their allocations); native memory is malloc'ed
through ctypes: libc's malloc directly, and a C library's function that
mallocs (its path is the first argument, if given).
"""
import ctypes
import sys
import harness

N = 2000
NATIVE = 200
NATIVE_SIZE = 4096

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
lib = None
if len(sys.argv) > 1:
    lib = ctypes.CDLL(sys.argv[1])
    lib.leak_buffer.restype = ctypes.c_void_p
    lib.leak_buffer.argtypes = [ctypes.c_size_t]


class Record:
    # slots: sys.getsizeof is then the whole allocation (a managed __dict__'s
    # values live in a second block that getsizeof does not count)
    __slots__ = ("id", "name", "peer")


keep = {}


def retain():
    keep["instances"] = [Record() for _ in range(N)]  # instances
    keep["dicts"] = [{"id": None, "name": None} for _ in range(N)]  # dicts
    keep["lists"] = [[None] * 8 for _ in range(N)]  # lists
    keep["strs"] = ["payload-%08d" % i * 4 for i in range(N)]  # strs
    keep["bytes"] = [b"%d" % i * 400 for i in range(N)]  # bytes
    grow = bytearray()
    for i in range(N):
        grow += b"x" * 64  # bytearray
    keep["bytearray"] = grow
    keep["ctypes"] = [libc.malloc(NATIVE_SIZE) for _ in range(NATIVE)]  # ctypes
    if lib:
        keep["native"] = [lib.leak_buffer(NATIVE_SIZE) for _ in range(NATIVE)]  # native


def scenario():
    retain()
    sizes = {
        "instances": sum(map(sys.getsizeof, keep["instances"])),
        "dicts": sum(map(sys.getsizeof, keep["dicts"])),
        "lists": sum(map(sys.getsizeof, keep["lists"])),
        "strs": sum(map(sys.getsizeof, keep["strs"])),
        "bytes": sum(map(sys.getsizeof, keep["bytes"])),
        # the buffer only: the bytearray object itself is another line's
        "bytearray": sys.getsizeof(keep["bytearray"]) - sys.getsizeof(bytearray()),
        "ctypes": NATIVE * NATIVE_SIZE,
    }
    if lib:
        sizes["native"] = NATIVE * NATIVE_SIZE
    return {"lines": {k: harness.site(k, __file__) for k in sizes}, "bytes": sizes}


if __name__ == "__main__":
    harness.run(scenario)
