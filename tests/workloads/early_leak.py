"""Leaks in its first milliseconds, prints, and exits with status 3."""
import json
import sys
import harness


class Conn:
    __slots__ = tuple("f%d" % i for i in range(20))


early = [Conn() for _ in range(5000)]  # early
print("RESULT " + json.dumps({"leak": harness.site("early", __file__),
                              "leaked_bytes": 5000 * sys.getsizeof(early[0])}), flush=True)
sys.exit(3)
