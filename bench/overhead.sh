#!/usr/bin/env bash
# What the approach costs the host: nanoseconds per connect() (to a unix socket
# that is not watched, the common case) and per getpid(), in four states:
#   off        audit off, no rules
#   on         audit on, no rules
#   sockwatch  audit on, sockwatch's rules (-S connect -F path=/run/docker.sock,
#              b64, b32, socketcall, io_uring)
#   naive      audit on, `-a always,exit -F arch=b64 -S connect` with no path
#              filter (every connect makes records)
# bench/src/syscost.c times N calls, best of 5 rounds, pinned to one core.
# Usage: sudo bench/overhead.sh [N]. Writes bench/results/overhead.md; puts
# audit's enabled flag, rules and backlog limit back as they were.
set -euo pipefail
n=${1:-20000}
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
work=$(mktemp -d /tmp/sockwatch-overhead.XXXXXX)
read -r enabled backlog < <(auditctl -s | awk '/^enabled/{e=$2} /^backlog_limit/{b=$2} END{print e, b}')
server=""
cleanup() {
    auditctl -D -k naive >/dev/null 2>&1 || true
    "$top/target/release/sockwatch" --config /dev/null rules remove --all --no-persist >/dev/null 2>&1 || true
    auditctl -e "$enabled" -b "$backlog" >/dev/null
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
(cd "$top" && cargo build --release --locked -q)
gcc -O2 -o "$work/syscost" "$here/src/syscost.c"
gcc -O2 -o "$work/loadgen" "$here/src/loadgen.c"
"$work/loadgen" serve "$work/other.sock" & server=$!
sleep 0.3
measure() { taskset -c 1 "$work/syscost" "$work/other.sock" "$n"; }
declare -A res
auditctl -e 0 >/dev/null; res[off]=$(measure)
auditctl -e 1 >/dev/null; res[on]=$(measure)
"$top/target/release/sockwatch" --config /dev/null rules install --no-persist >/dev/null
res[sockwatch]=$(measure)
"$top/target/release/sockwatch" --config /dev/null rules remove --all --no-persist >/dev/null
auditctl -a always,exit -F arch=b64 -S connect -k naive >/dev/null
res[naive]=$(measure)
{
    echo "# Host overhead per syscall ($(date -u +%Y-%m-%d), $(uname -r), $n calls, best of 5)"
    echo
    echo "| state | connect() ns | getpid() ns |"
    echo "|---|---|---|"
    for s in off on sockwatch naive; do
        read -r c g <<< "${res[$s]}"
        echo "| $s | $c | $g |"
    done
    echo
    echo "connect() goes to a listening unix socket that is not watched; getpid() is a raw syscall."
} > "$here/results/overhead.md"
cat "$here/results/overhead.md"
