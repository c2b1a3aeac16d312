#!/usr/bin/env bash
# sockwatch beside auditd, on the same records in one run: what each costs in
# CPU per 1000 connect events.
#
# auditd (Debian's auditd.conf, its log file moved into a scratch directory and
# not rotated: ENRICHED format, INCREMENTAL_ASYNC flushing) is registered as the
# audit daemon and receives the records by unicast; `sockwatch run` (release
# build, multicast, JSON lines, de-duplication off) receives a copy of the same
# records. One process in a real Docker container (bench/src/loadgen.c, the
# test image) connects to the watched socket as fast as it can for SECS seconds
# (default 20). Both daemons' CPU time (the scheduler's run time of all their
# threads) is read before and after, once both have written everything.
#
# Usage: sudo bench/vs-auditd.sh [SECS]   Needs: root, gcc, auditd, Docker
# (tests/env/setup-docker.sh). Writes bench/results/vs-auditd.md. Audit state
# and rules are put back as they were.
set -euo pipefail
secs=${1:-20}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
top=$(dirname "$here")
work=$(mktemp -d /tmp/sockwatch-vs.XXXXXX)
chmod 755 "$work"
server="" sw="" ad=""
enabled0=$(auditctl -s | awk '/^enabled/{print $2}')
cleanup() {
    docker rm -f sw-vs >/dev/null 2>&1 || true
    [ -n "$sw" ] && kill -TERM "$sw" 2>/dev/null && wait "$sw" 2>/dev/null || true
    [ -n "$ad" ] && kill -TERM "$ad" 2>/dev/null && wait "$ad" 2>/dev/null || true
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    auditctl -e "$enabled0" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
[ "$(auditctl -s | awk '/^pid/{print $2}')" = 0 ] || { echo "an audit daemon is already registered; stop it first" >&2; exit 1; }
(cd "$top" && cargo build --release --locked -q)
gcc -O2 -static -o "$work/loadgen" "$here/src/loadgen.c"
"$top/tests/env/setup-docker.sh" >&2
docker run -d --name sw-vs --network none -v "$work:$work" sockwatch-test:latest sleep 3600 >/dev/null

# Rotation off (Debian keeps five 8 MB files), so that every record it wrote
# can be counted; rotating would only add to auditd's cost.
sed -e "s|^log_file = .*|log_file = $work/audit.log|" \
    -e "s|^max_log_file_action = .*|max_log_file_action = ignore|" /etc/audit/auditd.conf > "$work/auditd.conf"
auditd -n -c "$work" & ad=$!
for _ in $(seq 50); do [ "$(auditctl -s | awk '/^pid/{print $2}')" = "$ad" ] && break; sleep 0.1; done
[ "$(auditctl -s | awk '/^pid/{print $2}')" = "$ad" ] || { echo "auditd did not register" >&2; exit 1; }

sock=$work/docker.sock
"$work/loadgen" serve "$sock" & server=$!
sleep 0.3
# Each at the priority it gives itself: auditd boosts its own by 4 (its
# priority_boost), sockwatch's unit sets Nice=-4.
nice -n "$(sed -n 's/^Nice=//p' "$top/packaging/sockwatch.service")" \
    "$top/target/release/sockwatch" --config /dev/null run --socket "$sock" --output "jsonl:$work/findings.jsonl" \
    --dedup-window 0 2> "$work/sockwatch.log" & sw=$!
wait_ready "$work/sockwatch.log"
lost0=$(auditctl -s | awk '/^lost/{print $2}')
cpu() { cpu_ns "$1"; }
sw0=$(cpu "$sw"); ad0=$(cpu "$ad")
made=$(docker exec sw-vs "$work/loadgen" connect "$sock" "$secs" "$work/connects")
# Both drain what is queued: wait until neither file grows for 2 s.
prev=""
while :; do
    now="$(stat -c %s "$work/findings.jsonl" "$work/audit.log" | tr '\n' ' ')"
    [ "$now" = "$prev" ] && break
    prev=$now; sleep 2
done
sw1=$(cpu "$sw"); ad1=$(cpu "$ad")
lost1=$(auditctl -s | awk '/^lost/{print $2}')
kill -TERM "$sw"; wait "$sw" || true; sw=""
kill -TERM "$ad"; wait "$ad" || true; ad=""
enobufs=$(grep -o 'lost_enobufs=[0-9]*' "$work/sockwatch.log" | tail -1 | cut -d= -f2 || true)
findings=$(grep -c '"comm":"loadgen"' "$work/findings.jsonl" || true)
logged=$(grep -c '^type=SYSCALL.*comm="loadgen".*key="sockwatch"' "$work/audit.log" || true)
clk=1000000000
python3 - "$made" "$secs" "$findings" "$logged" "$((sw1 - sw0))" "$((ad1 - ad0))" "$clk" \
    "$((lost1 - lost0))" "${enobufs:-?}" "auditd $(dpkg-query -W -f='${Version}' auditd 2>/dev/null || echo '?')" > "$here/results/vs-auditd.md" <<'PY'
import datetime, sys
made, secs, findings, logged, sw, ad, clk, lost, enobufs, version = sys.argv[1:]
made, secs, findings, logged, sw, ad, clk = int(made), float(secs), int(findings), int(logged), int(sw), int(ad), int(clk)
sw_s, ad_s = sw / clk, ad / clk
print(f"# sockwatch beside auditd ({datetime.date.today()}, {secs:.0f} s at full load)\n")
print(f"One container connects as fast as it can: {made} connects ({made / secs:.0f}/s). "
      f"{version} writes its ENRICHED log; sockwatch writes JSON lines.\n")
print("| daemon | events written | CPU | per 1000 connects |\n|---|---|---|---|")
print(f"| auditd | {logged} SYSCALL records of the client ({100 * logged / made:.2f}%) | {ad_s:.2f} s | {1000 * ad_s / made * 1000:.1f} ms |")
print(f"| sockwatch | {findings} findings ({100 * findings / made:.2f}%) | {sw_s:.2f} s | {1000 * sw_s / made * 1000:.1f} ms |")
print(f"\nsockwatch is {ad_s / max(sw_s, 1e-9):.1f}x cheaper than auditd on the same records.")
print(f"Records lost: kernel lost counter {lost}; ENOBUFS on sockwatch's socket {enobufs}.")
PY
cat "$here/results/vs-auditd.md"
