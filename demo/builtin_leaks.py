"""Leaks only built-in objects (dicts, str): invisible to attach mode on an
LTO build such as Debian's python3.11, found with launch mode and --malloc."""
sessions = []


def remember(i):
    sessions.append({"id": i, "user": "user-%06d" % i})


for i in range(20000):
    remember(i)
print("done:", len(sessions), "sessions kept")
