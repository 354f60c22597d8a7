#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Run the fuzz harnesses: replay every regression input of a target, then
# fuzz it for SECONDS from its seed corpus. One fuzzer at a time, niced.
# New corpus entries go to build/fuzz/corpus/<target> (the seeds in the
# repository are only read), crashes to build/fuzz/artifacts/<target>/.
#
#	tests/fuzz/run.sh BINDIR SECONDS TARGET...
set -eu
bindir=$1 secs=$2
shift 2
here=$(dirname "$0")
# a smaller quarantine than ASan's 256 MB: the machine is shared
: "${ASAN_OPTIONS:=quarantine_size_mb=64}"
export ASAN_OPTIONS
max_len() {
	case $1 in
	linetable) echo 4096 ;;
	maps) echo 4352 ;;
	elf|liveness) echo 65536 ;;
	heapscan) echo 16384 ;;
	*) echo 8192 ;;
	esac
}
for t in "$@"; do
	bin=$bindir/fuzz_$t
	work=$bindir/corpus/$t
	art=$bindir/artifacts/$t
	mkdir -p "$work" "$art"
	if ls "$here/regress/$t"/* >/dev/null 2>&1; then
		echo "fuzz: $t: replaying $(ls "$here/regress/$t" | wc -l) regression inputs"
		nice -n 10 "$bin" -runs=1 "$here/regress/$t"/* >"$art/replay.log" 2>&1 || {
			cat "$art/replay.log" >&2
			echo "fuzz: $t: a regression input fails" >&2
			exit 1
		}
	fi
	echo "fuzz: $t: ${secs}s"
	nice -n 10 "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 \
		-max_len="$(max_len "$t")" -artifact_prefix="$art/" -print_final_stats=1 \
		"$work" "$here/corpus/$t" >"$art/fuzz.log" 2>&1 || {
		tail -n 60 "$art/fuzz.log" >&2
		echo "fuzz: $t: failed, input in $art/ (full log $art/fuzz.log)" >&2
		exit 1
	}
	grep -E '^#[0-9]+.*DONE|stat::number_of_executed_units|stat::average_exec_per_sec' \
		"$art/fuzz.log" | sed "s/^/fuzz: $t: /"
done
