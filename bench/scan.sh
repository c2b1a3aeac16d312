#!/usr/bin/env bash
# Scan throughput, side by side: `sockwatch scan` and `ausearch -k sockwatch --raw`
# on the same generated auditd log (bench/gen-auditlog.py: ENRICHED, about 1% of
# events connects to the watched socket, decoys, interleaving), in one run. Each
# tool runs 3 times pinned to one core (taskset -c 0) with the file in the page
# cache; the median is reported, with peak RSS from GNU time. laurel is not run:
# it is not on crates.io and this machine cannot fetch its source.
#
# Usage: sudo bench/scan.sh [SIZE_MB]   (default 1000)
# Needs: python3, auditd's ausearch, GNU time. Writes bench/results/scan.md.
set -euo pipefail
size=${1:-1000}
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
work=/var/tmp/sockwatch-bench-scan
mkdir -p "$work"
log=$work/audit-$size.log
inode=9805826
# Regenerated when the generator changed since.
[ "$log.expected" -nt "$here/gen-auditlog.py" ] || python3 "$here/gen-auditlog.py" "$log" "$size" "$inode" >/dev/null
expected=$(cat "$log.expected")
(cd "$top" && cargo build --release --locked -q)
bin=$top/target/release/sockwatch
bytes=$(stat -c %s "$log")
records=$(wc -l < "$log")
cat "$log" > /dev/null

declare -A secs rss count
for tool in sockwatch ausearch; do
    runs=()
    for i in 1 2 3; do
        case $tool in
            sockwatch) cmd=("$bin" --config /dev/null scan --socket-inode "fe:00:$inode" "$log") ;;
            ausearch) cmd=(ausearch -k sockwatch --raw -if "$log") ;;
        esac
        /usr/bin/time -f "%e %M" -o "$work/time" taskset -c 0 "${cmd[@]}" > "$work/out.$tool" 2> "$work/err.$tool" || true
        runs+=("$(cat "$work/time")")
    done
    median=$(printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p)
    secs[$tool]=${median%% *}
    rss[$tool]=$(printf '%s\n' "${runs[@]}" | awk '{print $2}' | sort -n | tail -1)
done
count[sockwatch]=$(wc -l < "$work/out.sockwatch")
count[ausearch]=$(grep -o 'msg=audit([^)]*)' "$work/out.ausearch" | sort -u | wc -l)

mbs() { awk -v b="$bytes" -v s="$1" 'BEGIN{printf "%.0f", b/1e6/s}'; }
rps() { awk -v r="$records" -v s="$1" 'BEGIN{printf "%.2f", r/1e6/s}'; }
ratio=$(awk -v a="${secs[ausearch]}" -v s="${secs[sockwatch]}" 'BEGIN{printf "%.1f", a/s}')
out=$here/results/scan.md
{
    echo "# Scan throughput ($(date -u +%Y-%m-%d), $(uname -r), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'))"
    echo
    echo "Input: $(awk -v b="$bytes" 'BEGIN{printf "%.0f", b/1e6}') MB generated auditd log (ENRICHED), $records records; $expected events are connects to the watched socket."
    echo "Each tool pinned to one core, file in the page cache, median of 3 runs; peak RSS is the largest of the 3."
    echo
    echo "| tool | seconds | MB/s | M records/s | peak RSS | events found (expected $expected) |"
    echo "|---|---|---|---|---|---|"
    for t in sockwatch ausearch; do
        echo "| $t | ${secs[$t]} | $(mbs "${secs[$t]}") | $(rps "${secs[$t]}") | $((rss[$t] / 1024)) MiB | ${count[$t]} |"
    done
    echo
    echo "sockwatch scan is ${ratio}x ausearch's throughput."
    echo
    echo "Commands: \`sockwatch scan --socket-inode fe:00:$inode FILE\`; \`ausearch -k sockwatch --raw -if FILE\`."
    echo "sockwatch's summary line: \`$(head -1 "$work/err.sockwatch")\`"
} > "$out"
cat "$out"
