"""A small request-handling service with the classic leaks, for `make demo`.

- every connection is appended to a module-level registry, never removed;
- rendered pages are cached in a class attribute that only grows;
- a handler and its runner point at each other (a cycle the GC must free);
- a "C extension" (libc's malloc through ctypes) keeps a buffer per 50
  requests and never frees it;
- everything else is churn that is freed right away.
"""
import ctypes
import sys
import time

_libc = ctypes.CDLL(None)
_libc.malloc.restype = ctypes.c_void_p
_libc.malloc.argtypes = [ctypes.c_size_t]
_native = []


class Connection:
    def __init__(self, peer):
        self.peer = peer
        self.opened = time.monotonic()
        self.requests = 0


_connections = []  # module-level registry, never cleaned


def accept(n):
    conn = Connection(("10.0.0.%d" % (n % 250), 40000 + n))
    _connections.append(conn)
    return conn


class Page:
    __slots__ = ("path", "body", "etag", "headers")

    def __init__(self, path):
        self.path = path
        self.body = None
        self.etag = None
        self.headers = None


class Renderer:
    _cache = {}  # class attribute: one entry per distinct path, forever

    @classmethod
    def render(cls, path):
        page = cls._cache.get(path)
        if page is None:
            page = Page(path)
            cls._cache[path] = page
        return page


class Runner:
    def __init__(self):
        self.handler = None


class Handler:
    def __init__(self, runner):
        self.runner = runner
        runner.handler = self  # handler <-> runner cycle


def compress(n):
    if n % 50 == 0:
        _native.append(_libc.malloc(4096))  # native buffer, never freed


def handle(n):
    conn = accept(n)
    compress(n)
    page = Renderer.render("/item/%d" % n)
    job = Handler(Runner())
    scratch = [Page("/tmp") for _ in range(4)]  # churn
    conn.requests += 1
    return page, job, scratch


def main():
    print("serving", flush=True)
    n = 0
    while True:
        for _ in range(200):
            handle(n)
            n += 1
        time.sleep(0.01)


if __name__ == "__main__":
    main()
