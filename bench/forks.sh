#!/usr/bin/env bash
# Process churn: what following the host's forks and exits costs sockwatch.
# `sockwatch run` (release build, a JSON lines output) runs while
# bench/src/forker.c forks a child that exits at once, RATE times a second for
# SECS seconds (defaults 1000 and 30), on the host, with no connect at all.
# sockwatch's CPU time is the sum of its threads' run time from
# /proc/PID/task/*/schedstat (nanoseconds); wakeups are its context switches.
# The same window is measured once more with sockwatch idle (no forker), so the
# host's own background is visible beside it.
# Usage: sudo bench/forks.sh [RATE [SECS]]. Writes bench/results/forks.md.
set -euo pipefail
rate=${1:-1000}
secs=${2:-30}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
top=$(dirname "$here")
work=$(mktemp -d /tmp/sockwatch-forks.XXXXXX)
sw=""
trap '[ -n "$sw" ] && kill -TERM "$sw" 2>/dev/null && wait "$sw" 2>/dev/null; rm -rf "$work"' EXIT
(cd "$top" && cargo build --release --locked -q)
gcc -O2 -o "$work/forker" "$here/src/forker.c"
"$top/target/release/sockwatch" --config /dev/null run --output "jsonl:$work/findings.jsonl" 2> "$work/log" & sw=$!
wait_ready "$work/log"
sleep 2
runtime() { cpu_ns "$sw"; }
switches() { cat /proc/$sw/task/*/status | awk '/ctxt_switches/{n += $2} END{print n}'; }
forks() { awk '/^processes/{print $2}' /proc/stat; }
measure() { # $1: label; the rest: the command that fills the window
    local label=$1; shift
    local r0 s0 f0 t0 r1 s1 f1 t1
    r0=$(runtime); s0=$(switches); f0=$(forks); t0=$(date +%s.%N)
    "$@" > /dev/null
    r1=$(runtime); s1=$(switches); f1=$(forks); t1=$(date +%s.%N)
    awk -v l="$label" -v r=$((r1 - r0)) -v s=$((s1 - s0)) -v f=$((f1 - f0)) -v t0="$t0" -v t1="$t1" 'BEGIN{
        t = t1 - t0
        printf "| %s | %.1f | %d (%.0f/s) | %.3f s | %.2f%% | %d | %.3f |\n",
            l, t, f, f / t, r / 1e9, 100 * r / 1e9 / t, s, (f > 0 ? s / f : 0)
    }'
}
{
    echo "# Process churn ($(date -u +%Y-%m-%d), $rate forks/s for $secs s)"
    echo
    echo "| window | seconds | forks on the host | sockwatch CPU | of one core | wakeups | wakeups per fork |"
    echo "|---|---|---|---|---|---|---|"
    measure "forker at $rate/s" "$work/forker" "$rate" "$secs"
    measure "nothing started" sleep "$secs"
    echo
    echo "sockwatch peak RSS: $(awk '/^VmHWM/{printf "%.1f MiB", $2/1024}' "/proc/$sw/status")"
} > "$here/results/forks.md"
cat "$here/results/forks.md"
