"""(c) Threaded server-like: worker threads take "requests" from a queue.

Each request builds a few objects (a request, parsed headers, a response
with its body) that are dropped when it is done, and leaks one: a Record
kept in a module-level list, one per request.

    --n N          requests (default 100,000)
    --threads T    worker threads (default 4)
"""
import queue
import threading

from _proto import arg, finish, start

N = arg("n", 100_000)
THREADS = arg("threads", 4)

LEAKED = []        # the leak: one Record per request, never cleared


class Request:
    def __init__(self, rid, path):
        self.rid = rid
        self.path = path
        self.headers = {"host": "example.org", "x-id": str(rid)}


class Response:
    def __init__(self, status, body):
        self.status = status
        self.body = body


class Record:
    __slots__ = ("rid", "status")

    def __init__(self, rid, status):
        self.rid = rid
        self.status = status


def handle(req):
    parts = req.path.strip("/").split("/")
    body = "".join("<li>%s</li>" % p for p in parts)
    resp = Response(200, body.encode())
    LEAKED.append(Record(req.rid, resp.status))
    return len(resp.body)


def worker(q, out):
    done = 0
    while True:
        req = q.get()
        if req is None:
            break
        done += handle(req)
    out.append(done)


def serve(n, threads):
    q = queue.Queue(maxsize=1024)
    out = []
    ts = [threading.Thread(target=worker, args=(q, out)) for _ in range(threads)]
    for t in ts:
        t.start()
    for i in range(n):
        q.put(Request(i, "/api/v1/items/%d/detail" % i))
    for _ in ts:
        q.put(None)
    for t in ts:
        t.join()
    return sum(out)


t0 = start()
total = serve(N, THREADS)
finish(t0, n=N, threads=THREADS, leaked=len(LEAKED), check=total)
