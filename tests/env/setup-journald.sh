#!/usr/bin/env bash
# Starts systemd-journald by hand (there is no systemd as PID 1 on these
# machines) so the journald output can be tested against the real thing, and
# checks that journalctl reads what it stores. Idempotent. Note: journald turns
# kernel auditing off when it starts; sockwatch turns it back on when it runs.
set -euo pipefail
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"
TAG=setup-journald
LOCK_FILE=/run/sockwatch-test-setup-journald.lock
# shellcheck source=tests/env/common.sh
. "$(dirname "$0")/common.sh"

ensure_packages systemd
journald=/lib/systemd/systemd-journald
[ -x "$journald" ] || die "$journald not found"
# By its path: journal-remote and journal-upload share the truncated name.
if pgrep -f "^$journald" >/dev/null && [ -S /run/systemd/journal/socket ]; then
  log "journald already running"
else
  log "starting journald"
  # Sockets left by a journald that was killed would look ready but refuse.
  mkdir -p /run/systemd/journal
  rm -f /run/systemd/journal/socket /run/systemd/journal/stdout /run/systemd/journal/dev-log
  ( cd / && exec setsid nohup "$journald" </dev/null >/var/log/sockwatch-test-journald.log 2>&1 9>&- ) &
fi
marker="sockwatch-setup-$$-$RANDOM"
for _ in $(seq 100); do
  printf 'SYSLOG_IDENTIFIER=sockwatch-setup\nMESSAGE=%s\n' "$marker" |
    socat -u - UNIX-SENDTO:/run/systemd/journal/socket 2>/dev/null || true
  if journalctl -q -o cat SYSLOG_IDENTIFIER=sockwatch-setup 2>/dev/null | grep -qx "$marker"; then
    log "ok: journalctl reads what journald stores"
    exit 0
  fi
  sleep 0.1
done
tail -n 20 /var/log/sockwatch-test-journald.log >&2 || true
die "journald does not answer, or journalctl does not show a test entry"
