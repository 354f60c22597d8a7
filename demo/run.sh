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
# Each step prints the command line it runs, pipes included, then its
# output: what the README shows is what that line printed.
step() {
	echo "\$ $*"
	sh -c "$*"
	echo
}
step "./pyleakbpf -p $APP -d 5 -t 5"
step "./pyleakbpf -p $APP -d 3 --folded -o build/demo.folded; wc -l < build/demo.folded; awk '{print \$NF, \$0}' build/demo.folded | sort -nr | head -3 | cut -d' ' -f2- | cut -c1-150"
step "./pyleakbpf -p $APP -d 3 --cycles --gc -t 2 | sed -n '/by bytes the cyclic GC freed/,/^Hooks/p' | grep -v '^Hooks'"
step "./pyleakbpf -p $APP --suspects -t 3 1 4 | awk '/^report 4/{p=1} p' | sed -n '/leak suspects*:/,/^Outstanding objects/p' | grep -v '^Outstanding objects'"
step "./pyleakbpf -p $APP -d 3 -t 3 --svg build/demo.svg --pprof build/demo.pb.gz > /dev/null; ls build/demo.svg build/demo.pb.gz"
if command -v go > /dev/null; then
	step "go tool pprof -top build/demo.pb.gz 2>/dev/null | head -12"
fi
