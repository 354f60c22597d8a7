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
echo
echo "\$ sudo ./pyleakbpf -p $APP --suspects -t 3 1 4     # 4 reports, 1 s apart; the last one:"
./pyleakbpf -p $APP --suspects -t 3 1 4 | awk '/^report 4/{p=1} p' | sed -n '/^Top/,/^Outstanding objects/p' | grep -v '^Outstanding objects'
echo
echo "\$ sudo ./pyleakbpf -p $APP -d 3 -t 3 --svg build/demo.svg --pprof build/demo.pb.gz > /dev/null"
./pyleakbpf -p $APP -d 3 -t 3 --svg build/demo.svg --pprof build/demo.pb.gz > /dev/null
echo "build/demo.svg: open it in a browser (hover, click to zoom, Ctrl-F to search)"
if command -v go > /dev/null; then
	echo "\$ go tool pprof -top build/demo.pb.gz | head -12"
	go tool pprof -top build/demo.pb.gz 2>/dev/null | head -12
fi
