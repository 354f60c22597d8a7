"""Launch mode and signals: keeps a known amount, prints READY with its
PID and that site, then waits on stdin. How a signal ends it depends on
argv[1]: "kbi" catches KeyboardInterrupt (exit 7), "handler" has its own
SIGINT/SIGTERM handler (exit 9), "plain" nothing. End of stdin: exit 3."""
import json
import os
import signal
import sys
import harness

mode = sys.argv[1] if len(sys.argv) > 1 else "plain"
kept = [bytearray(4096) for _ in range(2000)]  # kept


def on_signal(sig, frame):
    print("HANDLER", signal.Signals(sig).name, flush=True)
    sys.exit(9)


if mode == "handler":
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
try:
    print("READY", os.getpid(), json.dumps(harness.site("kept", __file__)), flush=True)
    line = sys.stdin.readline()
except KeyboardInterrupt:
    print("KBI", flush=True)
    sys.exit(7)
print("LINE" if line else "EOF", flush=True)
sys.exit(3)
