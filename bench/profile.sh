#!/usr/bin/env bash
# Profiles the two hot paths, with the `profiling` build (release code with line
# tables, Cargo.toml):
#   scan: callgrind (instruction counts, repeatable) over a 5 MB slice of the
#         generated log; prints the functions by inclusive instructions.
#   run:  perf record of the live daemon for 8 s while bench/src/loadgen.c
#         connects from a simulated container; prints the report by symbol.
# Usage: sudo bench/profile.sh [scan|run|both]. Needs valgrind, linux-perf, gcc.
set -euo pipefail
what=${1:-both}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
top=$(dirname "$here")
work=$(mktemp -d /tmp/sockwatch-profile.XXXXXX)
trap 'pkill -f "$work/loadgen serve" 2>/dev/null || true; rm -rf "$work"' EXIT
(cd "$top" && cargo build --profile profiling --locked -q)
bin=$top/target/profiling/sockwatch
if [ "$what" != run ]; then
    python3 "$here/gen-auditlog.py" "$work/slice.log" 5 9805826 >/dev/null
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$bin" --config /dev/null scan \
        --socket-inode fe:00:9805826 "$work/slice.log" > /dev/null 2> "$work/vg.err"
    grep "refs" "$work/vg.err"
    callgrind_annotate --inclusive=yes "$work/cg.out" | grep -E "sockwatch::" | head -25
fi
if [ "$what" != scan ]; then
    gcc -O2 -o "$work/loadgen" "$here/src/loadgen.c"
    "$work/loadgen" serve "$work/d.sock" &
    sleep 0.3
    "$bin" --config /dev/null run --socket "$work/d.sock" --output "jsonl:$work/f.jsonl" --dedup-window 0 2> "$work/log" &
    sw=$!
    wait_ready "$work/log"
    id=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    cg=/sys/fs/cgroup/unified/docker/$id; [ -d /sys/fs/cgroup/unified ] || cg=/sys/fs/cgroup/docker/$id
    mkdir -p "$cg"
    unshare -m --propagation private sh -c "echo \$\$ > $cg/cgroup.procs; exec $work/loadgen connect $work/d.sock 12 $work/conn" > /dev/null &
    sleep 2
    perf record -F 999 -g -p "$sw" -o "$work/perf.data" -- sleep 8 2>/dev/null
    wait %3 2>/dev/null || sleep 4
    kill -TERM "$sw"; wait "$sw" || true
    rmdir "$cg" 2>/dev/null || true
    perf report -i "$work/perf.data" --children --stdio --sort sym 2>/dev/null | grep -E "^ +[0-9]" | head -30
fi
