#!/usr/bin/env bash
# Idle: `sockwatch run` (release build, a JSON lines output) with nothing
# happening, for SECS seconds (default 120). Wakeups are the daemon's context
# switches (voluntary + involuntary, all threads, /proc/PID/task/*/status); RSS
# is VmRSS at the end and VmHWM (peak).
#
# sockwatch follows forks and exits through the process connector, so a process
# started anywhere on the host is work for it, not idleness; and a host is rarely
# without any. So the window is sampled once a second (with shell builtins only:
# the sampling starts no process), and each second is put in one of two bins:
# seconds in which no process started (what "idle" means), and seconds in which
# some did (giving the wakeups per process started).
# Usage: sudo bench/idle.sh [SECS]. Writes bench/results/idle.md.
set -euo pipefail
secs=${1:-120}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
top=$(dirname "$here")
work=$(mktemp -d /tmp/sockwatch-idle.XXXXXX)
sw=""
trap '[ -n "$sw" ] && kill -TERM "$sw" 2>/dev/null && wait "$sw" 2>/dev/null; rm -rf "$work"' EXIT
(cd "$top" && cargo build --release --locked -q)
"$top/target/release/sockwatch" --config /dev/null run --output "jsonl:$work/findings.jsonl" 2> "$work/log" & sw=$!
wait_ready "$work/log"
sleep 2   # let start-up settle
switches() { # into $S, without starting a process
    local f k v n=0
    for f in /proc/$sw/task/*/status; do
        while read -r k v _; do
            case $k in voluntary_ctxt_switches: | nonvoluntary_ctxt_switches:) n=$((n + v)) ;; esac
        done < "$f"
    done
    S=$n
}
forks() { # into $F
    local k v
    while read -r k v _; do if [ "$k" = processes ]; then F=$v; fi; done < /proc/stat
}
exec {tick}<> <(:)   # read -t on it sleeps without starting a process
quiet=0 quiet_w=0 busy_f=0 busy_w=0
switches; forks
for _ in $(seq "$secs"); do
    s0=$S f0=$F
    read -r -t 1 -u "$tick" _ || true
    switches; forks
    if [ "$F" = "$f0" ]; then quiet=$((quiet + 1)); quiet_w=$((quiet_w + S - s0))
    else busy_f=$((busy_f + F - f0)); busy_w=$((busy_w + S - s0)); fi
done
rss=$(awk '/^VmRSS/{print $2}' "/proc/$sw/status")
hwm=$(awk '/^VmHWM/{print $2}' "/proc/$sw/status")
{
    echo "# Idle ($(date -u +%Y-%m-%d), ${secs} s)"
    echo
    echo "| measure | value |"
    echo "|---|---|"
    echo "| seconds in which no process started on the host | $quiet of $secs |"
    echo "| wakeups in those seconds | $quiet_w ($(awk -v w="$quiet_w" -v q="$quiet" 'BEGIN{printf "%.2f", q ? 60 * w / q : 0}') a minute) |"
    echo "| processes started in the other seconds | $busy_f |"
    echo "| wakeups in the other seconds | $busy_w ($(awk -v w="$busy_w" -v f="$busy_f" 'BEGIN{printf "%.2f", f ? w / f : 0}') per process started) |"
    echo "| RSS at idle (VmRSS) | $(awk -v k="$rss" 'BEGIN{printf "%.1f", k/1024}') MiB |"
    echo "| peak RSS (VmHWM) | $(awk -v k="$hwm" 'BEGIN{printf "%.1f", k/1024}') MiB |"
} > "$here/results/idle.md"
cat "$here/results/idle.md"
