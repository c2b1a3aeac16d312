#!/usr/bin/env bash
# The cost of a huge argv: one process in a Docker container connects to a
# watched socket at a fixed rate, first with a plain argv, then with 1 MiB of
# non-UTF-8 bytes in its argv (8 arguments of 131000 bytes 0xff: one argument may
# not exceed 128 KiB). sockwatch reads the argv from /proc for every finding (the
# kernel's PROCTITLE stops at 128 bytes), so without a bound a container makes
# every connect cost megabytes of reading, hex-encoding and writing.
#
# Reports, for each run: connects, findings, sockwatch's CPU time per finding,
# its peak RSS (VmHWM), and the mean size of a finding's JSON line; then the
# ratio of CPU per finding, huge over plain.
#
# Usage: sudo bench/argv.sh [SECS [RATE]]   (default 20 s at 200 connects/s)
# SOCKWATCH_BIN runs another build instead of target/release/sockwatch (to
# compare with an older one) and writes bench/results/argv-other.md; otherwise
# it writes bench/results/argv.md. Audit state is put
# back as it was (sockwatch removes what it added).
set -euo pipefail
secs=${1:-20}
rate=${2:-200}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
top=$(dirname "$here")
work=$(mktemp -d /tmp/sockwatch-argv.XXXXXX)
chmod 755 "$work"
server="" sw=""
cleanup() {
    docker rm -f sw-argv >/dev/null 2>&1 || true
    [ -n "$sw" ] && kill -TERM "$sw" 2>/dev/null && wait "$sw" 2>/dev/null || true
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
(cd "$top" && cargo build --release --locked -q)
bin=${SOCKWATCH_BIN:-$top/target/release/sockwatch}
result=$([ -n "${SOCKWATCH_BIN:-}" ] && echo argv-other.md || echo argv.md)
gcc -O2 -static -o "$work/loadgen" "$here/src/loadgen.c"
"$top/tests/env/setup-docker.sh" >&2
docker run -d --name sw-argv --network none -v "$work:$work" sockwatch-test:latest sleep 3600 >/dev/null
sock=$work/docker.sock
"$work/loadgen" serve "$sock" & server=$!
sleep 0.3
clk=$(getconf CLK_TCK)

# run LABEL PAD: one run; prints "LABEL connects findings cpu_ticks hwm_kib mean_line_bytes"
run() {
    local label=$1 pad=$2 out=$work/findings-$1.jsonl
    "$bin" --config /dev/null run --socket "$sock" --output "jsonl:$out" --dedup-window 0 \
        2> "$work/sockwatch-$label.log" & sw=$!
    wait_ready "$work/sockwatch-$label.log"
    local cpu0 cpu1 made prev n hwm
    cpu0=$(awk '{print $14 + $15}' "/proc/$sw/stat")
    made=$(docker exec sw-argv sh -c "exec $work/loadgen connect $sock $secs $work/connects-$label $rate $pad")
    prev=-1
    while :; do
        n=$(grep -c '"kind":"finding"' "$out" 2>/dev/null || true)
        [ "$n" = "$prev" ] && break
        prev=$n; sleep 1
    done
    cpu1=$(awk '{print $14 + $15}' "/proc/$sw/stat")
    hwm=$(awk '/^VmHWM/{print $2}' "/proc/$sw/status")
    kill -TERM "$sw"; wait "$sw" || true; sw=""
    local mean
    mean=$(grep '"kind":"finding"' "$out" | awk '{s += length($0) + 1} END {printf "%d", NR ? s / NR : 0}')
    echo "$label $made $n $((cpu1 - cpu0)) $hwm $mean"
}
# Eight arguments of 131000 bytes 0xff, made inside the container.
one="\"\$(head -c 131000 /dev/zero | tr '\\0' '\\377')\""
big="$one $one $one $one $one $one $one $one"
plain=$(run plain "")
huge=$(run huge "$big")
python3 - "$plain" "$huge" "$clk" "$secs" "$rate" "$bin" > "$here/results/$result" <<'PY'
import datetime, sys
plain, huge, clk, secs, rate, binary = sys.argv[1:]
clk = int(clk)
rows = []
for line in (plain, huge):
    label, made, found, ticks, hwm, mean = line.split()
    made, found, ticks, hwm, mean = int(made), int(found), int(ticks), int(hwm), int(mean)
    rows.append((label, made, found, ticks / clk, hwm / 1024, mean))
per = [1000 * cpu / max(found, 1) for _, _, found, cpu, _, _ in rows]
print(f"# A huge argv ({datetime.date.today()}, {secs} s at {rate} connects/s per run)\n")
print("One process in a Docker container connects to the watched socket in a loop, "
      "first with a plain argv, then with 8 more arguments of 131000 bytes 0xff "
      "(1 MiB, not UTF-8); de-duplication off.\n")
if not binary.endswith("target/release/sockwatch"):
    print(f"Binary: `{binary}`.\n")
print("| argv | connects | findings | sockwatch CPU | per finding | peak RSS | mean line |")
print("|---|---|---|---|---|---|---|")
for (label, made, found, cpu, hwm, mean), p in zip(rows, per):
    print(f"| {label} | {made} | {found} | {cpu:.2f} s | {p:.3f} ms | {hwm:.1f} MiB | {mean} bytes |")
print(f"\nCPU per finding, huge over plain: **{per[1] / per[0]:.2f}x**.")
PY
cat "$here/results/$result"
