#!/usr/bin/env bash
# Captures ../auditd-<format>-<kernel>.log: real logs written by auditd (RAW with
# node=, and ENRICHED without), for `sockwatch scan`'s tests. The same clients as
# capture.sh connect to a socket directly, through a bind-mounted alias, refused,
# denied and through io_uring; auditd logs them with everything else it sees.
# Needs root, auditd, socat, gcc, liburing-dev and a built sockwatch. It loads
# sockwatch's rules and runs auditd for a few seconds, then puts the rules, the
# enabled flag and the backlog limit back as they were.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${SOCKWATCH:-$here/../../../target/debug/sockwatch}
kernel=$(uname -r | cut -d. -f1-2)
work=$(mktemp -d /tmp/sockwatch-capture.XXXXXX)
chmod 755 "$work"
read -r enabled backlog < <(auditctl -s | awk '/^enabled/{e=$2} /^backlog_limit/{b=$2} END{print e, b}')
cleanup() {
    kill %1 2>/dev/null || true
    [ -n "${auditd_pid:-}" ] && kill "$auditd_pid" 2>/dev/null && sleep 0.5
    umount "$work"/alias.sock 2>/dev/null || true
    "$bin" --config /dev/null rules remove --all --no-persist >/dev/null || true
    auditctl -e "$enabled" -b "$backlog" >/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

gcc -O1 -o "$work/client" "$here/client.c"
gcc -O1 -o "$work/client_uring" "$here/client_uring.c" -luring
socat UNIX-LISTEN:"$work/real.sock",fork,mode=600 EXEC:/bin/true &
python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$work/dead.sock"
sleep 0.3
touch "$work/alias.sock"
"$bin" --config /dev/null rules install --no-persist --socket "$work/real.sock" --socket "$work/dead.sock" >/dev/null

for format in raw enriched; do
    conf=$work/conf-$format
    mkdir -p "$conf"
    sed -e "s|^log_file = .*|log_file = $work/$format.log|" \
        -e "s|^log_format = .*|log_format = ${format^^}|" \
        -e "s|^name_format = .*|name_format = $([ $format = raw ] && echo user || echo none)|" \
        /etc/audit/auditd.conf > "$conf/auditd.conf"
    grep -q '^name = ' "$conf/auditd.conf" || echo "name = test-node" >> "$conf/auditd.conf"
    sed -i 's|^name = .*|name = test-node|' "$conf/auditd.conf"
    auditd -n -c "$conf" & auditd_pid=$!
    for _ in $(seq 50); do [ "$(auditctl -s | awk '/^pid/{print $2}')" = "$auditd_pid" ] && break; sleep 0.1; done
    auditctl -e 1 >/dev/null
    unshare -m --propagation private sh -c "mount --bind $work/real.sock $work/alias.sock; cd $work && ./client alias.sock"
    "$work/client" "$work/real.sock"
    "$work/client" "$work/dead.sock" || true
    setpriv --reuid 65534 --regid 65534 --clear-groups "$work/client" "$work/real.sock" || true
    "$work/client_uring" "$work/real.sock"
    sleep 0.5
    kill "$auditd_pid"; wait "$auditd_pid" || true; auditd_pid=
    cp "$work/$format.log" "$here/../auditd-$format-$kernel.log"
done
# The identity the tests match on: the socket's dev and inode, as PATH records write them.
python3 -c "import os,sys; s=os.stat(sys.argv[1]); print(f'{os.major(s.st_dev):02x}:{os.minor(s.st_dev):02x}:{s.st_ino}')" "$work/real.sock" > "$here/../auditd-$kernel.socket"
echo "captured: $(wc -l "$here"/../auditd-*-"$kernel".log | tail -1)"
