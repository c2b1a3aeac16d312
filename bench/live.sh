#!/usr/bin/env bash
# Live load: a process in a (simulated) container connects to a watched socket
# as fast as it can for SECS seconds (default 30), with de-duplication off, while
# `sockwatch run` (release build) writes a JSON line per connect.
#
# Reports connects made against findings written, records lost (the kernel's
# lost counter and sockwatch's ENOBUFS count), sockwatch's CPU time per 1000
# events and its peak RSS, and the latency from connect() returning (the
# client's CLOCK_REALTIME) to the finding (its `time`, taken just before the
# line is written). The container is a real Docker container (tests/env/
# setup-docker.sh starts dockerd and builds the image), the client
# bench/src/loadgen.c, built static and run with `docker exec`. With
# LIVE_CONTAINER=simulated it is a cgroup named like Docker's plus a private
# mount namespace instead, as in the privileged tests.
#
# sockwatch runs at the priority its systemd unit gives it (the unit's Nice=,
# packaging/sockwatch.service); SOCKWATCH_NICE overrides it (0: the default).
#
# Usage: sudo bench/live.sh [SECS [RATE]]   Needs: root, gcc, auditd's auditctl.
# For experiments: SOCKWATCH_ARGS adds options to `sockwatch run` (such as
# `--jsonl-fsync never`), SOCKWATCH_PREFIX runs it under a command (`taskset -c 1`),
# BENCH_TMP puts the socket and findings elsewhere than /tmp.
# With RATE the client paces itself to RATE connects/s (latency when sockwatch
# is not saturated). Writes bench/results/live.md (live-RATE.md with a rate).
# Audit state is put back as it was.
set -euo pipefail
secs=${1:-30}
rate=${2:-0}
result=$([ "$rate" = 0 ] && echo live.md || echo "live-$rate.md")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
top=$(dirname "$here")
work=$(mktemp -d "${BENCH_TMP:-/tmp}/sockwatch-live.XXXXXX")
chmod 755 "$work"
id=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
cgroot=/sys/fs/cgroup/unified; [ -d $cgroot ] || cgroot=/sys/fs/cgroup
cg=$cgroot/docker/$id
server="" sw=""
mode=${LIVE_CONTAINER:-docker}
cleanup() {
    [ "$mode" = docker ] && docker rm -f sw-live >/dev/null 2>&1 || true
    [ -n "$sw" ] && kill -TERM "$sw" 2>/dev/null && wait "$sw" 2>/dev/null || true
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    rmdir "$cg" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
(cd "$top" && cargo build --release --locked -q)
gcc -O2 -static -o "$work/loadgen" "$here/src/loadgen.c"
if [ "$mode" = docker ]; then
    "$top/tests/env/setup-docker.sh" >&2
    docker run -d --name sw-live --network none -v "$work:$work" sockwatch-test:latest sleep 3600 >/dev/null
fi
sock=$work/docker.sock
"$work/loadgen" serve "$sock" & server=$!
sleep 0.3
lost0=$(auditctl -s | awk '/^lost/{print $2}')
nice=${SOCKWATCH_NICE:-$(sed -n 's/^Nice=//p' "$top/packaging/sockwatch.service")}
${SOCKWATCH_PREFIX:-} nice -n "${nice:-0}" "$top/target/release/sockwatch" --config /dev/null run --socket "$sock" --output "jsonl:$work/findings.jsonl" \
    --dedup-window 0 ${SOCKWATCH_ARGS:-} 2> "$work/sockwatch.log" & sw=$!
wait_ready "$work/sockwatch.log"
cpu() { cpu_ns "$sw"; }
switches() { cat /proc/$sw/task/*/status | awk '/^voluntary_ctxt_switches/{v += $2} /nonvoluntary_ctxt_switches/{n += $2} END{print v + n}'; }
involuntary() { cat /proc/$sw/task/*/status | awk '/nonvoluntary_ctxt_switches/{n += $2} END{print n}'; }
cpu0=$(cpu); sw0=$(switches); inv0=$(involuntary)
if [ "$mode" = docker ]; then
    made=$(docker exec sw-live "$work/loadgen" connect "$sock" "$secs" "$work/connects" "$rate")
else
    mkdir -p "$cg"
    made=$(unshare -m --propagation private sh -c "echo \$\$ > $cg/cgroup.procs; exec $work/loadgen connect $sock $secs $work/connects $rate")
fi
# Let sockwatch drain what is queued.
prev=-1
while :; do
    n=$(wc -l < "$work/findings.jsonl" 2>/dev/null || echo 0)
    [ "$n" = "$prev" ] && break
    prev=$n; sleep 1
done
cpu1=$(cpu); sw1=$(switches); inv1=$(involuntary)
hwm=$(awk '/^VmHWM/{print $2}' "/proc/$sw/status")
kill -TERM "$sw"; wait "$sw" || true; sw=""
lost1=$(auditctl -s | awk '/^lost/{print $2}')
enobufs=$(grep -o 'lost_enobufs=[0-9]*' "$work/sockwatch.log" | tail -1 | cut -d= -f2)
clk=1000000000
python3 - "$work" "$made" "$secs" "$((lost1 - lost0))" "${enobufs:-?}" "$((cpu1 - cpu0))" "$clk" "$hwm" "$rate" "$mode" "$((sw1 - sw0))" "$((inv1 - inv0))" "${nice:-0}" > "$here/results/$result" <<'PY'
import datetime, json, sys
work, made, secs, lost, enobufs, ticks, clk, hwm, rate, mode, wakeups, preempted, nice = sys.argv[1:]
made, secs, ticks, clk, hwm = int(made), float(secs), int(ticks), int(clk), int(hwm)
conn = [tuple(map(int, l.split())) for l in open(f"{work}/connects")]
fs = [json.loads(l) for l in open(f"{work}/findings.jsonl")]
fs = [f for f in fs if f.get("kind") == "finding" and f["process"]["comm"] == "loadgen"]
def ns(t):
    d = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp()) * 1_000_000_000 + d.microsecond * 1000
# The i-th finding belongs to the i-th connect only when none was lost.
paired = len(fs) == len(conn)
lat = sorted((ns(f["time"]) - c[0]) / 1e6 for c, f in zip(conn, fs)) if paired else []
pct = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))] if lat else float("nan")
ok = sum(1 for c in conn if c[1] == 0)
same_order = all(f["outcome"]["success"] == (c[1] == 0) for c, f in zip(conn, fs))
cpu_s = ticks / clk
pace = "as fast as it can" if rate == "0" else f"paced to {rate} connects/s"
print(f"# Live load ({datetime.date.today()}, {secs:.0f} s, {pace})\n")
where = "a Docker container (docker exec)" if mode == "docker" else "a simulated Docker container"
print(f"One process in {where} connects to the watched socket in a loop, {pace}; dedup off; sockwatch at nice {nice}.\n")
print("| measure | value |\n|---|---|")
print(f"| connects made | {made} ({made / secs:.0f}/s; {made - ok} failed) |")
print(f"| findings written | {len(fs)} ({100 * len(fs) / made:.2f}% of connects) |")
ids = {f["container"]["id"] for f in fs}
print(f"| containers named in them | {len(ids)} ({', '.join(sorted((i or 'null')[:12] for i in ids))}) |")
print(f"| records lost: kernel lost counter | {lost} |")
print(f"| records lost: ENOBUFS on sockwatch's socket | {enobufs} |")
print(f"| sockwatch CPU | {cpu_s:.2f} s, {1000 * cpu_s / max(len(fs), 1) * 1000:.1f} ms per 1k events |")
print(f"| sockwatch context switches | {wakeups} ({int(wakeups) / max(len(fs), 1) * 1000:.0f} per 1k events; {preempted} of them preemptions) |")
print(f"| sockwatch peak RSS (VmHWM) | {hwm / 1024:.1f} MiB |")
if paired:
    print(f"| latency p50 / p99 / max | {pct(50):.3f} / {pct(99):.3f} / {lat[-1]:.3f} ms |")
else:
    print("| latency p50 / p99 / max | not measured: with findings lost, connects and findings cannot be paired by order |")
print(f"| findings in connect order (outcomes line up) | {same_order} |")
PY
cat "$here/results/$result"
