"""werkzeug's cached_property returning an object that holds its owner."""
import gc
import sys
import harness

try:
    from werkzeug.utils import cached_property
except ImportError:  # an interpreter outside Debian's site dirs (pyenv)
    sys.path.append("/usr/lib/python3/dist-packages")
    from werkzeug.utils import cached_property

N = 5000


class Session:
    def __init__(self, owner):
        self.owner = owner


class Request:
    @cached_property
    def session(self):
        return Session(self)


def handle(n):
    for _ in range(n):
        req = Request()  # owner
        req.session  # the cached value points back at req: a cycle


def scenario():
    handle(N)
    gc.collect()
    return {"owner": harness.site("owner", __file__), "objects": N}


if __name__ == "__main__":
    harness.run(scenario)
