#!/bin/sh
# make demo: trace the bundled leaky service for a few seconds and report.
set -eu
cd "$(dirname "$0")/.."
PY=${PYTHON:-/usr/bin/python3.11}
mkdir -p build
"$PY" demo/leaky_app.py > build/demo-app.log 2>&1 &
APP=$!
trap 'kill $APP 2>/dev/null || true' EXIT INT TERM
until grep -q serving build/demo-app.log; do
	kill -0 $APP 2>/dev/null || { cat build/demo-app.log; exit 1; }
	sleep 0.1
done
echo "\$ sudo ./pyleakbpf -p $APP -d 5 -t 5        # $PY: demo/leaky_app.py"
./pyleakbpf -p $APP -d 5 -t 5
echo
echo "\$ sudo ./pyleakbpf -p $APP -d 3 --folded -o build/demo.folded"
./pyleakbpf -p $APP -d 3 --folded -o build/demo.folded
echo "build/demo.folded: $(wc -l < build/demo.folded) stacks; the biggest:"
awk '{print $NF "\t" $0}' build/demo.folded | sort -nr | head -3 | cut -f2 | cut -c1-150
echo
echo "\$ sudo ./pyleakbpf -p $APP -d 3 --cycles --gc -t 2"
./pyleakbpf -p $APP -d 3 --cycles --gc -t 2 | sed -n '/^Top/,/^Hooks/p' | grep -v '^Hooks'
