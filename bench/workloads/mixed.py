"""(b) Mixed: dicts, str, lists and json dumps/loads of small payloads.

    --n N    iterations (default 200,000); nothing is kept
"""
import json

from _proto import arg, finish, start

N = arg("n", 200_000)


def one(i):
    user = {"id": i, "name": "user-%d" % i, "tags": ["a", "b", str(i % 7)]}
    user["email"] = user["name"] + "@example.org"
    text = json.dumps(user)
    back = json.loads(text)
    parts = text.split(",")
    words = [w.strip().upper() for w in parts if w]
    return len(back["tags"]) + len(" ".join(words)) + len(f"{i}:{back['name']}")


def mixed(n):
    total = 0
    for i in range(n):
        total += one(i)
    return total


t0 = start()
total = mixed(N)
finish(t0, n=N, check=total)
