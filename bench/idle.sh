#!/usr/bin/env bash
# Idle: `sockwatch run` (release build, default outputs to a JSON lines file)
# with nothing happening, for SECS seconds (default 60). Wakeups are the
# daemon's context switches (voluntary + involuntary, /proc/PID/status) over the
# window (all threads); RSS is VmRSS at the end and VmHWM (peak). The host's forks in the
# window (/proc/stat "processes") are reported beside them: sockwatch follows
# forks and exits through the process connector, so a fork anywhere on the host
# is work for it, not idleness.
# Usage: sudo bench/idle.sh [SECS]. Writes bench/results/idle.md.
set -euo pipefail
secs=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
work=$(mktemp -d /tmp/sockwatch-idle.XXXXXX)
sw=""
trap '[ -n "$sw" ] && kill -TERM "$sw" 2>/dev/null && wait "$sw" 2>/dev/null; rm -rf "$work"' EXIT
(cd "$top" && cargo build --release --locked -q)
"$top/target/release/sockwatch" --config /dev/null run --output "jsonl:$work/findings.jsonl" 2> "$work/log" & sw=$!
for _ in $(seq 100); do grep -q ready "$work/log" && break; sleep 0.1; done
sleep 2   # let start-up settle
switches() { cat /proc/$sw/task/*/status | awk '/ctxt_switches/{n += $2} END{print n}'; }
forks() { awk '/^processes/{print $2}' /proc/stat; }
s0=$(switches); f0=$(forks)
sleep "$secs"
s1=$(switches); f1=$(forks)
rss=$(awk '/^VmRSS/{print $2}' "/proc/$sw/status")
hwm=$(awk '/^VmHWM/{print $2}' "/proc/$sw/status")
{
    echo "# Idle ($(date -u +%Y-%m-%d), ${secs} s)"
    echo
    echo "| measure | value |"
    echo "|---|---|"
    echo "| wakeups (context switches) in ${secs} s | $((s1 - s0)) |"
    echo "| wakeups per second | $(awk -v n=$((s1 - s0)) -v s="$secs" 'BEGIN{printf "%.3f", n/s}') |"
    echo "| forks on the host in the window (besides this script's sleep) | $((f1 - f0 - 1)) |"
    echo "| wakeups per process started | $(awk -v n=$((s1 - s0)) -v f=$((f1 - f0)) 'BEGIN{printf "%.2f", n/f}') (the sleep included; the 60 s audit-state check counted in) |"
    echo "| RSS at idle (VmRSS) | $(awk -v k="$rss" 'BEGIN{printf "%.1f", k/1024}') MiB |"
    echo "| peak RSS (VmHWM) | $(awk -v k="$hwm" 'BEGIN{printf "%.1f", k/1024}') MiB |"
} > "$here/results/idle.md"
cat "$here/results/idle.md"
