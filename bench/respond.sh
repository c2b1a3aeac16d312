#!/usr/bin/env bash
# Containment latency: how soon after a container's connect to Docker's socket
# `sockwatch run --respond freeze` has the container frozen, measured against
# clocks other than the audit stamp.
#
# The finding's response.latency_us runs from the connect's audit stamp to the
# moment the freeze was written. The stamp comes from the kernel's coarse clock
# and is printed in milliseconds, so it can be earlier than the connect. Here
# the connect's time is taken two more ways, and the stamp's error is measured:
#
#   the kernel's tracer: the connect system call's entry (the syscalls
#     sys_enter_connect tracepoint, in a tracing instance of this script's own,
#     on the monotonic clock, turned into wall time by the offset between the
#     two clocks read at the start); this works for any client, the docker CLI
#     included;
#   the client's own clock: bench/src/stampconnect.c (static) reads
#     CLOCK_REALTIME just before connect() and, after it, stores the time every
#     100 us in a file shared with the host. Once the container is frozen the
#     stores stop: the last one is when it last ran.
#
# The freeze written is the audit stamp + latency_us (sockwatch's wall clock
# when the write returned).
#
#   client trials (N, default 100): a real Docker container with the socket
#     mounted runs the client.
#   CLI trials (M, default 20): the container runs the real docker CLI,
#     `docker run --rm -v /:/host sockwatch-test:latest true`; dockerd's events
#     show whether any container was created.
#   control (M): the same CLI with `--respond none`, which must succeed; the
#     tracer also records the CLI's writes, so the time from its connect to its
#     create request (the window a freeze has to land in) is measured too.
#
# sockwatch (release build) runs at the unit's priority (SOCKWATCH_NICE
# overrides it), watching /run/docker.sock, `--respond freeze`. Each trial's
# container is killed while frozen, thawed with `sockwatch release`, removed.
# The tests' lock (/run/sockwatch-tests.lock) is held throughout: a test's
# container reaching the socket meanwhile would be frozen too.
#
# Usage: sudo bench/respond.sh [N [M]]   Needs: root, gcc, python3, tracefs;
# dockerd and the test image (tests/env/setup-docker.sh, run here).
# Writes bench/results/respond.md (and prints it). Audit state is put back as it was.
set -euo pipefail
n=${1:-100}
m=${2:-20}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
top=$(dirname "$here")
out=$here/results/respond.md
work=$(mktemp -d /tmp/sockwatch-respond.XXXXXX)
chmod 755 "$work"
image=sockwatch-test:latest
bin=${CARGO_TARGET_DIR:-$top/target}/release/sockwatch
tr=/sys/kernel/tracing/instances/sockwatch-respond-$$
sw="" current="" current_fz=""

# The freezer of a running container: v1's freezer.state, else cgroup v2's
# directory (cgroup.events says "frozen 1").
freezer_of() {
    local pid p
    pid=$(docker inspect -f '{{.State.Pid}}' "$1")
    p=$(awk -F: '$2 ~ /(^|,)freezer(,|$)/ {print $3}' "/proc/$pid/cgroup")
    if [ -n "$p" ] && [ "$p" != / ]; then
        echo "/sys/fs/cgroup/freezer$p"
    else
        p=$(awk -F: '$1 == "0" {print $3}' "/proc/$pid/cgroup")
        if [ -e /sys/fs/cgroup/cgroup.controllers ]; then echo "/sys/fs/cgroup$p"; else echo "/sys/fs/cgroup/unified$p"; fi
    fi
}
freezer_state() {
    if [ -e "$1/freezer.state" ]; then
        cat "$1/freezer.state"
    elif grep -qx 'frozen 1' "$1/cgroup.events" 2>/dev/null; then
        echo FROZEN
    else
        echo THAWED
    fi
}
# Kill while frozen (the signal waits for the thaw), thaw, remove.
takedown() {
    local id=$1 fz=$2
    [ -n "$fz" ] && { xargs -r kill -9 < "$fz/cgroup.procs"; } 2>/dev/null || true
    "$bin" --config "$work/sockwatch.toml" release "$id" >> "$work/release.log" 2>&1 || true
    docker wait "$id" >/dev/null 2>&1 || true
    docker logs "$id" > "$work/logs-$id" 2>&1 || true
    docker rm -f "$id" >/dev/null 2>&1 || true
}
cleanup() {
    [ -n "$current" ] && takedown "$current" "$current_fz"
    [ -n "$sw" ] && kill -TERM "$sw" 2>/dev/null && wait "$sw" 2>/dev/null || true
    if [ -d "$tr" ]; then
        echo 0 > "$tr/tracing_on"
        echo 0 > "$tr/events/syscalls/sys_enter_connect/enable"
        echo 0 > "$tr/events/syscalls/sys_enter_write/enable"
        rmdir "$tr"
    fi
    rm -rf "$work"
}
trap cleanup EXIT

"$top/tests/env/setup-docker.sh" >&2
(cd "$top" && cargo build --release --locked -q)
gcc -O2 -static -o "$work/stampconnect" "$here/src/stampconnect.c"
exec 8>/run/sockwatch-tests.lock
flock 8
printf 'outputs = ["jsonl:%s"]\n' "$work/findings.jsonl" > "$work/sockwatch.toml"
nice=${SOCKWATCH_NICE:-$(sed -n 's/^Nice=//p' "$top/packaging/sockwatch.service")}
# start_sockwatch MODE: sockwatch run --respond MODE, until it is ready.
start_sockwatch() {
    nice -n "${nice:-0}" "$bin" --config "$work/sockwatch.toml" run --socket /var/run/docker.sock \
        --respond "$1" --dedup-window 0 2> "$work/sockwatch-$1.log" 8>&- & sw=$!
    wait_ready "$work/sockwatch-$1.log"
    grep -q "ready:" "$work/sockwatch-$1.log" || { cat "$work/sockwatch-$1.log" >&2; exit 1; }
}
start_sockwatch freeze
before=$(docker ps -aq --no-trunc | sort)

mkdir "$tr"
echo mono > "$tr/trace_clock"
echo 1 > "$tr/options/record-tgid"
echo 1 > "$tr/events/syscalls/sys_enter_connect/enable"
# The docker CLI's requests: its writes on the connection (the control's create).
echo 'comm == "docker"' > "$tr/events/syscalls/sys_enter_write/filter"
echo 1 > "$tr/events/syscalls/sys_enter_write/enable"
clock_offset() { python3 -c 'import time; print(time.clock_gettime_ns(time.CLOCK_REALTIME) - time.clock_gettime_ns(time.CLOCK_MONOTONIC))'; }
clock_offset > "$work/offset"
cut -d' ' -f1-3 /proc/loadavg > "$work/load"
echo 1 > "$tr/tracing_on"

# trial KIND I: one container, until it is frozen and a moment after; a line
# to $work/trials: kind i id freezer-state containers-created-by-others
trial() {
    local kind=$1 i=$2 t0 id fz state created script
    echo > "$tr/trace"
    t0=$(date +%s.%N)
    if [ "$kind" = client ]; then
        script="sleep 0.3; exec /w/stampconnect connect /var/run/docker.sock /w/beat-$i"
        id=$(docker run -d --network none -v "$work:/w" -v /var/run/docker.sock:/var/run/docker.sock \
            "$image" sh -c "$script")
    else
        script="sleep 0.3; docker run --rm -v /:/host $image true; echo \"docker exited \$?\""
        id=$(docker run -d --network none -v /usr:/usr:ro -v /lib:/lib:ro -v /lib64:/lib64:ro \
            -v /var/run/docker.sock:/var/run/docker.sock "$image" sh -c "$script")
    fi
    current=$id
    fz=$(freezer_of "$id")
    current_fz=$fz
    for _ in $(seq 1000); do grep -q "\"id\":\"$id\"" "$work/findings.jsonl" 2>/dev/null && break; sleep 0.01; done
    if [ "$kind" = control ]; then
        docker wait "$id" >/dev/null
    else
        for _ in $(seq 100); do [ "$(freezer_state "$fz")" = FROZEN ] && break; sleep 0.01; done
    fi
    state=$(freezer_state "$fz")
    # Long enough for a create request that got through to show.
    sleep "$([ "$kind" = cli ] && echo 2 || echo 0.2)"
    created=$(docker events --since "$t0" --until "$(date +%s.%N)" --filter type=container \
        --format '{{.ID}} {{.Action}}' | awk -v me="$id" '$1 != me && $2 == "create"' | wc -l)
    grep -v '^#' "$tr/trace" | sed "s/^/$kind $i /" >> "$work/traced" || true
    echo "$kind $i $id $state $created" >> "$work/trials"
    takedown "$id" "$fz"
    current="" current_fz=""
    # What an attacker got created goes too (counted above).
    comm -13 <(echo "$before") <(docker ps -aq --no-trunc | sort) | xargs -r docker rm -f >/dev/null
}
for i in $(seq "$n"); do trial client "$i"; done
for i in $(seq "$m"); do trial cli "$i"; done
# The control: the same CLI, reported only, to see when it sends its create.
kill -TERM "$sw"; wait "$sw" || true; sw=""
start_sockwatch none
for i in $(seq "$m"); do trial control "$i"; done
clock_offset >> "$work/offset"
cut -d' ' -f1-3 /proc/loadavg >> "$work/load"
kill -TERM "$sw"; wait "$sw" || true; sw=""

hz=$(zcat /proc/config.gz 2>/dev/null | sed -n 's/^CONFIG_HZ=//p' || true)
python3 - "$work" "$n" "$m" "${nice:-0}" "${hz:-unknown}" > "$out" <<'PY'
import collections, datetime, json, os, platform, re, struct, subprocess, sys
work, n, m, nice, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
def ns(t):
    d = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp()) * 1_000_000_000 + d.microsecond * 1000
offsets = [int(l) for l in open(f"{work}/offset")]
# The tracer's connects and the CLI's writes, by trial and thread group:
# (wall time ns, call, fd), in order.
traced = collections.defaultdict(list)
line_re = re.compile(r"^(\w+) (\d+) .*?-\d+\s+\(\s*(\d+)\)\s+\[\d+\]\s+\S+\s+(\d+)\.(\d+): (sys_connect|sys_write)\(fd: (\w+)")
for l in open(f"{work}/traced") if os.path.exists(f"{work}/traced") else []:
    mt = line_re.match(l)
    if mt:
        kind, i, tgid, s, us, call, fd = mt.groups()
        t = int(s) * 1_000_000_000 + int(us.ljust(9, "0")[:9]) + offsets[0]
        traced[(kind, i, int(tgid))].append((t, call, int(fd, 0)))
first = {}
for line in open(f"{work}/findings.jsonl"):
    r = json.loads(line)
    if r.get("kind") == "finding" and r["signature"]["id"] == "TRC-1019":
        first.setdefault(r["container"]["id"], r)
def pct(v, p):
    v = sorted(v)
    k = max(1, -(-p * len(v) // 100))
    return v[int(k) - 1]
def row(name, v):
    if not v:
        return f"| {name} | - | - | - | - | 0 |"
    return f"| {name} | {min(v):.3f} | {pct(v, 50):.3f} | {pct(v, 99):.3f} | {max(v):.3f} | {len(v)} |"
rows = collections.defaultdict(list)
for kind, i, cid, state, created in (l.split() for l in open(f"{work}/trials")):
    f = first.get(cid)
    resp = (f or {}).get("response") or {}
    r = dict(found=f is not None, result=resp.get("result"), state=state, created=int(created),
             lat=resp.get("latency_us"), audit=ns(f["audit"]["time"]) if f else None,
             t0=None, t1=None, beat=None, traced=None, ping=None, create=None,
             logs=open(f"{work}/logs-{cid}", errors="replace").read().strip() if os.path.exists(f"{work}/logs-{cid}") else "")
    r["written"] = r["audit"] + r["lat"] * 1000 if f and r["lat"] is not None else None
    ev = traced.get((kind, i, f["process"]["pid"]), []) if f else []
    if kind == "control":
        # The connection the CLI talks on: its first connect whose fd is then
        # written; the first write is the ping, the second the create.
        for j, (t, call, fd) in enumerate(ev):
            if call != "sys_connect":
                continue
            w = []
            for t2, call2, fd2 in ev[j + 1:]:
                if fd2 != fd:
                    continue
                if call2 == "sys_connect":
                    break
                w.append(t2)
            if len(w) >= 2:
                r["traced"], r["ping"], r["create"] = t, w[0], w[1]
                break
    else:
        # The connect the finding is about: the first at or after its audit
        # stamp, which is never later than the connect (earlier connects, such
        # as glibc's to nscd, are left out).
        c = [t for t, call, _ in ev if call == "sys_connect" and r["audit"] is not None and t >= r["audit"]]
        r["traced"] = c[0] if c and (r["written"] is None or c[0] <= r["written"]) else None
    if kind == "client":
        raw = open(f"{work}/beat-{i}", "rb").read()
        if len(raw) == 48:
            t0, t1, err, beat, beats, returned = struct.unpack("6q", raw)
            r["t0"] = t0 or None
            r["t1"] = t1 if returned else None
            r["beat"] = beat if beats else None
    rows[kind].append(r)
ms = lambda x: x / 1e6
cli = f"`docker run --rm -v /:/host sockwatch-test:latest true`"
print(f"# Containment latency (`respond.sh {n} {m}`, {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC)\n")
print(f"{platform.node()}: kernel {platform.release()}, CONFIG_HZ={hz}, {subprocess.getoutput('nproc')} cores; "
      f"sockwatch at nice {nice}; Docker's freezer: "
      f"{'cgroup v1' if os.path.isdir('/sys/fs/cgroup/freezer/docker') else 'cgroup v2'}. "
      f"Wall minus monotonic clock moved {abs(offsets[-1] - offsets[0]) / 1e3:.0f} us over the run. "
      f"Load average (1, 5, 15 min) at the start and the end: {' and '.join(l.strip() for l in open(f'{work}/load'))}.\n")
for kind, title in (("client", f"Client trials, `--respond freeze`: a static client's connect() ({n})"),
                    ("cli", f"CLI trials, `--respond freeze`: {cli} in the container ({m})")):
    rs = rows[kind]
    ok = [r for r in rs if r["found"] and r["result"] in ("frozen", "freezing") and r["state"] == "FROZEN" and r["created"] == 0]
    results = collections.Counter(r["result"] for r in rs)
    print(f"## {title}\n")
    print(f"contained (finding, response frozen or freezing, freezer FROZEN, no container created): "
          f"{len(ok)} of {len(rs)}; results: {dict(results)}; containers created: {sum(r['created'] for r in rs)}\n")
    print("| ms | min | p50 | p99 | max | trials |\n|---|---|---|---|---|---|")
    print(row("latency_us as reported: audit stamp -> freeze written", [r["lat"] / 1000 for r in rs if r["lat"] is not None]))
    tr = [r for r in rs if r["traced"] and r["written"]]
    print(row("traced connect -> freeze written", [ms(r["written"] - r["traced"]) for r in tr]))
    print(row("audit stamp - traced connect", [ms(r["audit"] - r["traced"]) for r in tr]))
    c = [r for r in rs if r["t0"] and r["written"]]
    if c:
        print(row("client's clock before connect() -> freeze written", [ms(r["written"] - r["t0"]) for r in c]))
        print(row("audit stamp - client's clock before connect()", [ms(r["audit"] - r["t0"]) for r in c]))
        print(row("traced connect - client's clock before connect()", [ms(r["traced"] - r["t0"]) for r in c if r["traced"]]))
        print(row("connect() in the client (after returned - before)", [ms(r["t1"] - r["t0"]) for r in c if r["t1"]]))
        print(row("client's connect -> its last beat (it stopped running)", [ms(r["beat"] - r["t0"]) for r in c if r["beat"]]))
        print(f"\nfrozen before connect() returned to the client: {sum(1 for r in c if r['t1'] is None)} of {len(c)}")
    print("\nper trial, latency_us as reported / traced connect -> freeze written (us):\n")
    print(", ".join(f"{r['lat']}/" + (f"{(r['written'] - r['traced']) // 1000}" if r["traced"] and r["written"] else "-") for r in rs) + "\n")
    print(f"what the containers printed: {sorted(collections.Counter(r['logs'] for r in rs).items())}\n")
rs = rows["control"]
print(f"## Control, `--respond none`: {cli} in the container ({m})\n")
print(f"containers created: {sum(r['created'] for r in rs)} in {len(rs)} trials; "
      f"what the containers printed: {sorted(collections.Counter(r['logs'] for r in rs).items())}\n")
print("| ms | min | p50 | p99 | max | trials |\n|---|---|---|---|---|---|")
w = [r for r in rs if r["create"]]
print(row("traced connect -> the CLI's first request written (ping)", [ms(r["ping"] - r["traced"]) for r in w]))
print(row("traced connect -> its second request written (create)", [ms(r["create"] - r["traced"]) for r in w]))
PY
cat "$out"
