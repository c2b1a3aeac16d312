#!/usr/bin/env bash
# Containment latency: how soon after a container's connect to Docker's socket
# `sockwatch run --respond freeze` has the container frozen, measured with the
# container's own clock rather than taken from the audit stamp.
#
# The finding's response.latency_us runs from the connect's audit stamp to the
# moment the freeze was written. The stamp comes from the kernel's coarse clock
# (updated once a tick: 4 ms at HZ=250) and is printed in milliseconds, so it can
# be earlier than the connect by up to a tick and a millisecond. Here each trial
# measures that instead of assuming it:
#
#   client trials (N, default 100): a real Docker container with the socket
#     mounted runs bench/src/stampconnect.c (static), which reads CLOCK_REALTIME
#     just before connect() and, after it, keeps storing the time every 100 us
#     into a file shared with the host. Once the container is frozen the beats
#     stop: the last one is when it last ran.
#   CLI trials (M, default 20): the container runs the real docker CLI,
#     `docker run --rm -v /:/host sockwatch-test:latest true`, with the same
#     beat running beside it; here the connect time is known only from the
#     audit stamp. dockerd's events show whether any container was created.
#
# From the trials: audit stamp - connect (the stamp's error), connect -> freeze
# written (audit stamp + latency_us, against the client's clock), connect -> last
# beat (when the container stopped running), and latency_us as reported.
#
# sockwatch (release build) runs at the unit's priority (SOCKWATCH_NICE
# overrides it), watching /run/docker.sock, `--respond freeze`. Each trial's
# container is killed while frozen, thawed with `sockwatch release`, removed.
#
# Usage: sudo bench/respond.sh [N [M]]   Needs: root, gcc, python3; dockerd and the
# test image (tests/env/setup-docker.sh, run here).
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
sw="" current="" current_fz=""
bin=$top/target/release/sockwatch

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
    [ -n "$fz" ] && xargs -r kill -9 < "$fz/cgroup.procs" 2>/dev/null || true
    "$bin" --config "$work/sockwatch.toml" release "$id" >> "$work/release.log" 2>&1 || true
    docker wait "$id" >/dev/null 2>&1 || true
    docker logs "$id" > "$work/logs-$id" 2>&1 || true
    docker rm -f "$id" >/dev/null 2>&1 || true
}
cleanup() {
    [ -n "$current" ] && takedown "$current" "$current_fz"
    [ -n "$sw" ] && kill -TERM "$sw" 2>/dev/null && wait "$sw" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$top/tests/env/setup-docker.sh" >&2
(cd "$top" && cargo build --release --locked -q)
gcc -O2 -static -o "$work/stampconnect" "$here/src/stampconnect.c"
printf 'outputs = ["jsonl:%s"]\n' "$work/findings.jsonl" > "$work/sockwatch.toml"
nice=${SOCKWATCH_NICE:-$(sed -n 's/^Nice=//p' "$top/packaging/sockwatch.service")}
nice -n "${nice:-0}" "$bin" --config "$work/sockwatch.toml" run --socket /var/run/docker.sock \
    --respond freeze --dedup-window 0 2> "$work/sockwatch.log" & sw=$!
wait_ready "$work/sockwatch.log"
grep -q "ready:" "$work/sockwatch.log" || { cat "$work/sockwatch.log" >&2; exit 1; }
before=$(docker ps -aq --no-trunc | sort)

# trial KIND I: one container, until it is frozen and a moment after; a line
# to $work/trials: kind i id freezer-state containers-created-by-others
trial() {
    local kind=$1 i=$2 t0 id fz state created script
    t0=$(date +%s.%N)
    if [ "$kind" = client ]; then
        script="sleep 0.3; exec /w/stampconnect connect /var/run/docker.sock /w/beat-$kind-$i"
        id=$(docker run -d --network none -v "$work:/w" -v /var/run/docker.sock:/var/run/docker.sock \
            "$image" sh -c "$script")
    else
        script="/w/stampconnect beat /w/beat-$kind-$i & sleep 0.3; docker run --rm -v /:/host $image true; echo \"docker exited \$?\""
        id=$(docker run -d --network none -v /usr:/usr:ro -v /lib:/lib:ro -v /lib64:/lib64:ro \
            -v "$work:/w" -v /var/run/docker.sock:/var/run/docker.sock "$image" sh -c "$script")
    fi
    current=$id
    fz=$(freezer_of "$id")
    current_fz=$fz
    for _ in $(seq 1000); do grep -q "\"id\":\"$id\"" "$work/findings.jsonl" 2>/dev/null && break; sleep 0.01; done
    for _ in $(seq 100); do [ "$(freezer_state "$fz")" = FROZEN ] && break; sleep 0.01; done
    state=$(freezer_state "$fz")
    # Long enough for a create request that got through to show.
    sleep "$([ "$kind" = client ] && echo 0.2 || echo 2)"
    created=$(docker events --since "$t0" --until "$(date +%s.%N)" --filter type=container \
        --format '{{.ID}} {{.Action}}' | awk -v me="$id" '$1 != me && $2 == "create"' | wc -l)
    echo "$kind $i $id $state $created" >> "$work/trials"
    takedown "$id" "$fz"
    current="" current_fz=""
}
for i in $(seq "$n"); do trial client "$i"; done
for i in $(seq "$m"); do trial cli "$i"; done
left=$(comm -13 <(echo "$before") <(docker ps -aq --no-trunc | sort) | wc -l)
kill -TERM "$sw"; wait "$sw" || true; sw=""

hz=$(zcat /proc/config.gz 2>/dev/null | sed -n 's/^CONFIG_HZ=//p' || true)
python3 - "$work" "$n" "$m" "$left" "${nice:-0}" "${hz:-unknown}" > "$out" <<'PY'
import datetime, json, os, platform, struct, subprocess, sys
work, n, m, left, nice, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
def ns(t):
    d = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp()) * 1_000_000_000 + d.microsecond * 1000
first = {}
for line in open(f"{work}/findings.jsonl"):
    r = json.loads(line)
    if r.get("kind") == "finding" and r["signature"]["id"] == "TRC-1019":
        first.setdefault(r["container"]["id"], r)
trials = [l.split() for l in open(f"{work}/trials")]
def pct(v, p):
    v = sorted(v)
    if not v:
        return float("nan")
    k = max(1, -(-p * len(v) // 100))
    return v[int(k) - 1]
def row(name, v, unit="ms"):
    return f"| {name} | {min(v):.3f} | {pct(v, 50):.3f} | {pct(v, 99):.3f} | {max(v):.3f} |" if v else f"| {name} | - | - | - | - |"
rows = {"client": [], "cli": []}
for kind, i, cid, state, created in trials:
    f = first.get(cid)
    raw = open(f"{work}/beat-{kind}-{i}", "rb").read()
    t0, t1, err, beat, beats, stamped = struct.unpack("6q", raw) if len(raw) == 48 else (0,) * 6
    resp = (f or {}).get("response") or {}
    logs = open(f"{work}/logs-{cid}", errors="replace").read().strip() if os.path.exists(f"{work}/logs-{cid}") else ""
    rows[kind].append(dict(
        found=f is not None, result=resp.get("result"), state=state, created=int(created),
        lat=resp.get("latency_us"), audit=ns(f["audit"]["time"]) if f else None,
        t0=t0 if stamped else None, t1=t1 if stamped else None, beat=beat, logs=logs))
ms = lambda x: x / 1e6
print(f"# Containment latency (`respond.sh {n} {m}`, {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC)\n")
print(f"{platform.node()}: kernel {platform.release()}, CONFIG_HZ={hz}, {subprocess.getoutput('nproc')} cores; "
      f"sockwatch `run --respond freeze` at nice {nice}; Docker's freezer: "
      f"{'cgroup v1' if os.path.isdir('/sys/fs/cgroup/freezer/docker') else 'cgroup v2'}.\n")
for kind, title in (("client", f"Client trials: a static client's connect() ({n})"),
                    ("cli", f"CLI trials: `docker run --rm -v /:/host {'sockwatch-test:latest'} true` in the container ({m})")):
    rs = rows[kind]
    ok = [r for r in rs if r["found"] and r["result"] in ("frozen", "freezing") and r["state"] == "FROZEN" and r["created"] == 0]
    print(f"## {title}\n")
    results = {}
    for r in rs:
        results[r["result"]] = results.get(r["result"], 0) + 1
    print(f"contained (finding, response frozen or freezing, freezer FROZEN, no container created): "
          f"{len(ok)} of {len(rs)}; results: {results}; containers created by the attackers: "
          f"{sum(r['created'] for r in rs)}\n")
    print("| measure (ms) | min | p50 | p99 | max |\n|---|---|---|---|---|")
    lat = [r["lat"] / 1000 for r in rs if r["lat"] is not None]
    print(row("latency_us as reported (audit stamp -> freeze written)", lat))
    withb = [r for r in rs if r["audit"] and r["beat"]]
    print(row("audit stamp -> last beat (the container stopped running)", [ms(r["beat"] - r["audit"]) for r in withb]))
    c = [r for r in rs if r["t0"] and r["audit"]]
    if c:
        print(row("audit stamp - client's clock before connect()", [ms(r["audit"] - r["t0"]) for r in c]))
        print(row("connect() itself (client's clock, before to after)", [ms(r["t1"] - r["t0"]) for r in c]))
        print(row("client's connect -> freeze written (audit stamp + latency_us)",
                  [ms(r["audit"] + r["lat"] * 1000 - r["t0"]) for r in c if r["lat"] is not None]))
        print(row("client's connect -> last beat", [ms(r["beat"] - r["t0"]) for r in c if r["beat"]]))
    print()
    print("per trial (latency_us reported; client's connect -> last beat, ms):\n")
    print(", ".join(f"{r['lat']}" + (f" ({ms(r['beat'] - r['t0']):.2f})" if r["t0"] and r["beat"] else "") for r in rs) + "\n")
    printed = sorted({r["logs"] for r in rs})
    print(f"what the containers printed: {printed}\n")
print(f"containers left behind: {left}")
PY
cat "$out"
