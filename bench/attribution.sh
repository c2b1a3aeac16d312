#!/usr/bin/env bash
# Measures how many short-lived container clients sockwatch attributes to the right
# container (id, name and image), with real dockerd and Podman.
#
# For each runtime it starts one container, then makes N connects to the watched
# socket, each by a process that connects and exits at once (tests/data/capture/
# client.c, static), in two forms:
#   inside: a loop inside the running container starts the N clients;
#   exec:   N times `docker exec` / `podman exec` of the client.
# Both forms run with the machine otherwise idle, then with a busy loop on the
# other core. Each (form, load) uses its own alias of the socket inside the
# container, so findings are told apart by socket.path.
#
# Usage: sudo bench/attribution.sh [N]   (N defaults to 500)
# Needs: root, tests/env/setup-docker.sh and setup-podman.sh (run here), gcc.
# Writes: bench/results/attribution.md (and prints it).
set -euo pipefail
N=${1:-500}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
top=$(dirname "$here")
out=$here/results/attribution.md
work=$(mktemp -d /tmp/sockwatch-bench.XXXXXX)
hog=""
sw=""
cleanup() {
    [ -n "$hog" ] && kill "$hog" 2>/dev/null || true
    [ -n "$sw" ] && kill -TERM "$sw" 2>/dev/null && wait "$sw" 2>/dev/null || true
    docker rm -f sw-bench-docker >/dev/null 2>&1 || true
    podman rm -f -t 0 sw-bench-podman >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

"$top/tests/env/setup-docker.sh"
"$top/tests/env/setup-podman.sh"
(cd "$top" && cargo build --release -q)
gcc -O2 -static -o "$work/client" "$top/tests/data/capture/client.c"

"$top/target/release/sockwatch" --config /dev/null run --dedup-window 0 --output "jsonl:$work/findings.jsonl" 2>"$work/sockwatch.log" &
sw=$!
wait_ready "$work/sockwatch.log"

aliases=()
for f in inside exec; do for l in idle busy; do aliases+=(-v "/run/docker.sock:/s/$f-$l.sock"); done; done
start() { # runtime -> id
    local rt=$1 image=$2
    "$rt" run -d --name "sw-bench-$rt" --network none -v "$work/client:/client:ro" "${aliases[@]}" "$image" sleep 3600
}
docker_id=$(start docker sockwatch-test:latest)
podman_id=$(start podman localhost/sockwatch-test:latest)

run_form() { # runtime id form load
    local rt=$1 id=$2 form=$3 load=$4 sock=/s/$3-$4.sock t0
    t0=$(date +%s%N)
    if [ "$form" = inside ]; then
        "$rt" exec "$id" sh -c "i=0; while [ \$i -lt $N ]; do /client $sock >/dev/null; i=\$((i+1)); done"
    else
        for _ in $(seq "$N"); do "$rt" exec "$id" /client "$sock" >/dev/null; done
    fi
    echo "$rt $form $load: $N clients in $(( ($(date +%s%N) - t0) / 1000000 )) ms" >&2
}
for load in idle busy; do
    if [ "$load" = busy ]; then
        sh -c 'while :; do :; done' &
        hog=$!
    fi
    for rt in docker podman; do
        id=${rt}_id
        for form in inside exec; do run_form "$rt" "${!id}" "$form" "$load"; done
    done
    [ -n "$hog" ] && kill "$hog" && hog=""
done
sleep 1
kill -TERM "$sw"; wait "$sw" || true; sw=""

python3 - "$work/findings.jsonl" "$N" "$docker_id" "$podman_id" "$(tail -1 "$work/sockwatch.log")" > "$out" <<'PY'
import json, sys, collections, datetime, platform, subprocess
path, n, docker_id, podman_id, stats = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
want = {"docker": (docker_id, "sw-bench-docker", "sockwatch-test:latest"),
        "podman": (podman_id, "sw-bench-podman", "localhost/sockwatch-test:latest")}
rows = collections.defaultdict(lambda: collections.Counter())
for line in open(path):
    f = json.loads(line)
    p = f["socket"]["path"]
    if not p.startswith("/s/"):
        continue
    form, load = p[3:-5].split("-")
    c = f["container"]
    for rt, (i, name, image) in want.items():
        if c["id"] == i:
            key = (rt, form, load)
            rows[key]["findings"] += 1
            rows[key]["right"] += (c.get("name") == name and c.get("image") == image)
            rows[key]["by:" + (c.get("attributed_by") or "none")] += 1
            break
    else:
        rows[("?", form, load)]["findings"] += 1
        rows[("?", form, load)]["unattributed" if c["id"] is None else "wrong id"] += 1
print("# Attribution of short-lived clients\n")
print(f"Measured {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC by `bench/attribution.sh {n}` on "
      f"{platform.node()} (kernel {platform.release()}, {subprocess.getoutput('nproc')} cores). "
      "Each client connects to the watched /run/docker.sock (bind-mounted) and exits at once. "
      "'right' = finding with the container's full id, name and image; "
      "'busy' = a shell busy loop on the other core.\n")
print("| runtime | form | load | clients | findings | right id+name+image | share | attributed by |")
print("|---|---|---|---|---|---|---|---|")
for rt in ("docker", "podman"):
    for form in ("inside", "exec"):
        for load in ("idle", "busy"):
            r = rows[(rt, form, load)]
            by = ", ".join(f"{k[3:]} {v}" for k, v in sorted(r.items()) if k.startswith("by:"))
            print(f"| {rt} | {form} | {load} | {n} | {r['findings']} | {r['right']} | {100.0 * r['right'] / n:.1f}% | {by} |")
bad = {k: v for k, v in rows.items() if k[0] == "?"}
print(f"\nFindings not attributed to the bench containers: {sum(v['findings'] for v in bad.values())} {dict(bad) if bad else ''}\n")
print(f"sockwatch's counters at exit: `{stats.split('stopped: ')[-1]}`")
PY
cat "$out"
