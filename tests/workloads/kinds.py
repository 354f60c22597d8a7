"""Retains known amounts of several kinds of objects, one line per kind.

Each line's expected bytes are what sys.getsizeof reports for the objects it
keeps (the request sizes of their allocations).
"""
import sys
import harness

N = 2000


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
    }
    return {"lines": {k: harness.site(k, __file__) for k in sizes}, "bytes": sizes}


if __name__ == "__main__":
    harness.run(scenario)
