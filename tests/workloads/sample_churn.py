"""(a) for the sampling mode: small objects made without pause, 1% kept.

Runs for the seconds given as second argument, or until a "stop" line
arrives, then reports how many it kept. With "threads" as first argument,
(c): worker threads serve requests from a queue, each request's objects
are freed at its end and one record per request is kept in a module-level
list. Both also keep a second kind at a quarter of the first one's rate.
"""
import os
import queue
import sys
import threading
import harness


class Item:
    __slots__ = ("a", "b", "c")


class Record:
    __slots__ = ("req", "user", "path", "status")


class Blob:
    __slots__ = tuple("f%d" % i for i in range(12))


kept = []
blobs = []
stop = threading.Event()


def churn():
    n = 0
    while not stop.is_set():
        for _ in range(1000):
            it = Item()  # leak
            n += 1
            if n % 100 == 0:
                kept.append(it)
            if n % 400 == 0:
                blobs.append(Blob())  # leak2


def handle(req):
    parts = [Item() for _ in range(20)]  # request
    rec = Record()  # leak-threads
    rec.req = req
    kept.append(rec)
    if len(parts) == 20 and rec.req == 7 and len(kept) % 4 == 0:
        blobs.append(Blob())  # leak2-threads
    return len(parts)


def serve(q):
    while True:
        req = q.get()
        if req is None:
            return
        handle(req)


def threads():
    q = queue.Queue(maxsize=1000)
    workers = [threading.Thread(target=serve, args=(q,)) for _ in range(4)]
    for w in workers:
        w.start()
    # requests are small ints (cached): the producer allocates nothing, so
    # all the retained memory is the workers' Records
    while not stop.is_set():
        q.put(7)
    for w in workers:
        q.put(None)
    for w in workers:
        w.join()


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "churn"
    print("READY", os.getpid(), flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    t = threading.Thread(target=threads if mode == "threads" else churn)
    t.start()
    print("RUNNING", flush=True)
    if len(sys.argv) > 2:
        stop.wait(float(sys.argv[2]))
    else:
        sys.stdin.readline()      # "stop"
    stop.set()
    t.join()
    suffix = "-threads" if mode == "threads" else ""
    print("RESULT " + __import__("json").dumps({
        "leaks": [
            {"site": harness.site("leak" + suffix, __file__), "count": len(kept),
             "bytes": len(kept) * sys.getsizeof(kept[0])},
            {"site": harness.site("leak2" + suffix, __file__), "count": len(blobs),
             "bytes": len(blobs) * sys.getsizeof(blobs[0])},
        ],
    }), flush=True)
    sys.stdin.readline()


if __name__ == "__main__":
    main()
