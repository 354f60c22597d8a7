"""(e) Churn only: everything allocated is freed again."""
import sys
import harness

N_CHURN = 50000


class Message:
    __slots__ = tuple("f%d" % i for i in range(20))


def pump(n):
    for i in range(n):
        m = Message()  # churn
        m.f0 = i
    return n


def build_and_drop(n):
    for i in range(n // 10):
        batch = [Message() for _ in range(10)]  # churn2
        del batch


def scenario():
    pump(N_CHURN)
    build_and_drop(N_CHURN)
    return {
        "leak": None,
        "leaked_bytes": 0,
        "leaked_count": 0,
        "churn": [harness.site("churn", __file__), harness.site("churn2", __file__)],
        # Messages made at each churn line, and the size of one
        "churn_objects": [N_CHURN, N_CHURN],
        "object_bytes": sys.getsizeof(Message()),
    }


if __name__ == "__main__":
    harness.run(scenario)
