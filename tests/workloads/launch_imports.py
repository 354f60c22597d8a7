"""A launched service's shape: many imports at start-up, then a steady leak
among churn. Launch mode must rank the leak, not the imports."""
import decimal  # noqa: F401
import email.parser  # noqa: F401
import http.client  # noqa: F401
import json
import sys
import xml.dom.minidom  # noqa: F401
import harness

registry = []


def handle(i):
    registry.append({"id": i, "payload": "x%d" % i})  # leak
    return [str(j) for j in range(20)]


for i in range(5000):
    handle(i)
print("RESULT " + json.dumps({"leak": harness.site("leak", __file__)}), flush=True)
sys.exit(0)
