"""(a) Object churn: N small instances of a user class, 1% kept.

    --n N        instances created (default 2,000,000)
    --depth D    Python frames on the stack at each allocation, <module>
                 included (default 2: the loop runs in a function called
                 from <module>); the stack-walk variant uses 1 and 50.
"""
from _proto import arg, frames, finish, start

N = arg("n", 2_000_000)
DEPTH = arg("depth", 2)


class Point:
    __slots__ = ("x", "y")

    def __init__(self, x, y):
        self.x = x
        self.y = y


kept = []


def churn(n):
    keep = kept.append
    for i in range(n):
        p = Point(i, i)
        if i % 100 == 0:
            keep(p)
    return frames()


def descend(k, n):
    """k frames of descend, then churn's."""
    if k > 1:
        return descend(k - 1, n)
    return churn(n)


if DEPTH <= 1:
    # the loop at module level: <module> is the only frame
    t0 = start()
    keep = kept.append
    for i in range(N):
        p = Point(i, i)
        if i % 100 == 0:
            keep(p)
    finish(t0, n=N, kept=len(kept), frames=frames())
else:
    t0 = start()
    # <module> + (DEPTH - 2) x descend + churn
    depth = churn(N) if DEPTH == 2 else descend(DEPTH - 2, N)
    finish(t0, n=N, kept=len(kept), frames=depth)
