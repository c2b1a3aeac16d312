#!/usr/bin/env bash
# Captures ../journal-audit-<kernel>.export and .json: audit records as
# systemd-journald itself stores them (_TRANSPORT=audit, read from the audit
# multicast group), for `sockwatch scan`'s tests. `sockwatch run` watches a
# socket (it loads its rules and turns audit on, and puts both back when it
# stops); socat connects to it three times by its full name and once by a
# relative one. Needs root, socat, systemd-journald and a built sockwatch. Run it
# under the tests' lock without handing the lock to journald:
#   flock -o /run/sockwatch-tests.lock tests/data/capture/capture-journald.sh
# A journald this script starts is stopped again at the end (it turns kernel
# auditing off when it starts; sockwatch turns it on while it runs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${SOCKWATCH:-$here/../../../target/debug/sockwatch}
kernel=$(uname -r | cut -d. -f1-2)
work=$(mktemp -d /tmp/sw-journal.XXXXXX)
started_journald=
if ! pgrep -x systemd-journal >/dev/null; then
    bash "$here/../../env/setup-journald.sh"
    started_journald=$(pgrep -n -x systemd-journal)
fi
cleanup() {
    [ -n "${run_pid:-}" ] && kill "$run_pid" 2>/dev/null && wait "$run_pid" || true
    [ -n "${listen_pid:-}" ] && kill "$listen_pid" 2>/dev/null || true
    [ -n "$started_journald" ] && kill "$started_journald" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

since=$(date -u '+%F %T')
socat UNIX-LISTEN:"$work/real.sock",fork /dev/null &
listen_pid=$!
sleep 0.3
"$bin" --config /dev/null run --socket "$work/real.sock" --output stdout >/dev/null &
run_pid=$!
sleep 1.5
for _ in 1 2 3; do socat -u /dev/null UNIX-CONNECT:"$work/real.sock"; done
(cd "$work" && socat -u /dev/null UNIX-CONNECT:real.sock)
stat -c 'socket: %Hd:%Ld:%i (dev in decimal)' "$work/real.sock"
sleep 1
kill "$run_pid" && wait "$run_pid" || true
run_pid=
journalctl -o export --since "$since" _TRANSPORT=audit >"$here/../journal-audit-$kernel.export"
journalctl -o json --since "$since" _TRANSPORT=audit >"$here/../journal-audit-$kernel.json"
echo "wrote $here/../journal-audit-$kernel.export and .json"
