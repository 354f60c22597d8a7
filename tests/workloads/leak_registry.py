"""(a) Connections appended to a module-level registry and never removed."""
import sys
import harness

N_LEAK = 10000
N_CHURN = 50000


class Connection:
    __slots__ = tuple("f%d" % i for i in range(20))

    def __init__(self, n):
        self.f0 = n


registry = []


def open_connection(n):
    return Connection(n)  # leak


def handle_request(n):
    conn = open_connection(n)
    registry.append(conn)


def serve(n):
    for i in range(n):
        handle_request(i)


def churn(n):
    total = 0
    for i in range(n):
        c = Connection(i)  # churn
        total += c.f0
    return total


def scenario():
    serve(N_LEAK)
    churn(N_CHURN)
    return {
        "leak": harness.site("leak", __file__),
        "leaked_bytes": N_LEAK * sys.getsizeof(registry[0]),
        "leaked_count": N_LEAK,
        "churn": [harness.site("churn", __file__)],
        "churn_count": N_CHURN,
    }


if __name__ == "__main__":
    harness.run(scenario)
