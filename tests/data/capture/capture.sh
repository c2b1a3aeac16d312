#!/usr/bin/env bash
# Re-captures ../records-<kernel>.txt: real audit records for the unit tests.
# Needs root, socat, gcc and a built sockwatch (cargo build). It changes audit state
# only through `sockwatch run`, which restores it on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${SOCKWATCH:-$here/../../../target/debug/sockwatch}
out=$here/../records-$(uname -r | cut -d. -f1-2).txt
work=$(mktemp -d /tmp/sockwatch-capture.XXXXXX)
chmod 755 "$work"  # so that uid 65534 reaches the socket and is refused by its mode
id=$(printf 'd%.0s' $(seq 64))
cg=/sys/fs/cgroup/unified/docker/$id
[ -d /sys/fs/cgroup/unified ] || cg=/sys/fs/cgroup/docker/$id
cleanup() {
    kill %1 %2 %3 2>/dev/null || true
    wait 2>/dev/null || true
    umount "$work"/alias* 2>/dev/null || true
    rmdir "$cg" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

gcc -O1 -o "$work/client" "$here/client.c"
gcc -O1 -o "$work/client_uring" "$here/client_uring.c" -luring  # Debian: liburing-dev
socat UNIX-LISTEN:"$work/real.sock",fork,mode=600 EXEC:/bin/true & 
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$work/dead.sock"
sleep 0.3
: > "$out"
python3 "$here/reader.py" "$out" &
"$bin" run --socket "$work/real.sock" --socket "$work/dead.sock" --output "jsonl:$work/findings.jsonl" &
sleep 1
mkdir -p "$cg"
touch "$work/alias.sock" "$work/alias"$'\xff\xfe'" x.sock"
# 1. In a simulated container: bind-mounted alias, full sockaddr with garbage after
#    the NUL; then an alias whose name is not UTF-8 and holds a space.
unshare -m --propagation private sh -c "
    echo \$\$ > $cg/cgroup.procs
    mount --bind $work/real.sock $work/alias.sock
    mount --bind $work/real.sock '$work/alias'\$(printf '\377\376')' x.sock'
    cd $work && ./client alias.sock
    ./client '$work/alias'\$(printf '\377\376')' x.sock'
"
# 2. On the host, by the real name.
"$work/client" "$work/real.sock"
# 3. Refused: a socket file nobody listens on.
"$work/client" "$work/dead.sock" || true
# 4. Permission denied: mode 0600 socket, as nobody.
setpriv --reuid 65534 --regid 65534 --clear-groups "$work/client" "$work/real.sock" || true
# 5. Through io_uring, in the simulated container.
unshare -m --propagation private sh -c "echo \$\$ > $cg/cgroup.procs; $work/client_uring $work/real.sock"
# 6. Not a socket we watch, and not AF_UNIX: produce no record with our rules.
socat - UNIX-CONNECT:/dev/null </dev/null 2>/dev/null || true
sleep 1
kill -TERM %3; wait %3 || true
sleep 0.2
echo "captured $(wc -l < "$out") records into $out; findings:"
cat "$work/findings.jsonl"
