"""Leaks instances of a user class and dicts, for the type table."""
import harness

N_CONN = 20000
N_DICT = 40000


class Connection:
    def __init__(self, n):
        self.n = n
        self.peer = None


registry = []
settings = []


def scenario():
    for i in range(N_CONN):
        registry.append(Connection(i))  # connections
    for i in range(N_DICT):
        settings.append({"id": i, "name": "x"})  # dicts
    return {"Connection": N_CONN, "dict": N_DICT,
            "sites": {"Connection": harness.site("connections", __file__),
                      "dict": harness.site("dicts", __file__)}}


if __name__ == "__main__":
    harness.run(scenario)
