"""(b) A cache kept in a class attribute that only ever grows."""
import sys
import harness

N_LEAK = 10000
N_CHURN = 50000


class Rendered:
    __slots__ = tuple("f%d" % i for i in range(20))

    def __init__(self, key):
        self.f0 = key


class TemplateCache:
    _cache = {}

    @classmethod
    def render(cls, key):
        hit = cls._cache.get(key)
        if hit is None:
            hit = Rendered(key)  # leak
            cls._cache[key] = hit
        return hit


def scratch(n):
    for i in range(n):
        tmp = Rendered(-i)  # churn
        del tmp


def scenario():
    for i in range(N_LEAK):
        TemplateCache.render(i)
    scratch(N_CHURN)
    one = next(iter(TemplateCache._cache.values()))
    return {
        "leak": harness.site("leak", __file__),
        "leaked_bytes": N_LEAK * sys.getsizeof(one),
        "leaked_count": N_LEAK,
        "churn": [harness.site("churn", __file__)],
    }


if __name__ == "__main__":
    harness.run(scenario)
