#!/usr/bin/env bash
# Prepare a local Docker environment for sockwatch integration tests.
#
#  1. install missing Debian packages (docker.io socat busybox-static curl)
#  2. start dockerd (vfs, no bridge, no iptables) if /run/docker.sock is not answering
#  3. build the busybox-based image sockwatch-test:latest via `docker import`
#  4. verify that a container can talk to the host daemon through a bind-mounted
#     /var/run/docker.sock using the host's /usr/bin/docker and /usr/bin/socat
#
# Idempotent; safe to run concurrently (serialised with flock). Quiet on success
# apart from one `setup-docker:` line per step on stderr. dockerd is left running.
set -euo pipefail

export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"
export DOCKER_HOST="unix:///run/docker.sock"
export DEBIAN_FRONTEND=noninteractive

IMAGE="sockwatch-test:latest"
DOCKERD_LOG="/var/log/sockwatch-test-dockerd.log"
DOCKERD_TIMEOUT="${SOCKWATCH_DOCKERD_TIMEOUT:-60}"
LOCK_FILE="/run/sockwatch-test-setup-docker.lock"
PACKAGES=(docker.io socat busybox-static curl)
# The exact flags the tests use to run a container that can reach the host daemon.
RUN_FLAGS=(--rm
  -v /var/run/docker.sock:/var/run/docker.sock
  -v /usr:/usr:ro -v /lib:/lib:ro -v /lib64:/lib64:ro)

TAG=setup-docker
# shellcheck source=tests/env/common.sh
. "$(dirname "$0")/common.sh"

# --- 1. packages ------------------------------------------------------------
ensure_packages "${PACKAGES[@]}"

# --- 2. dockerd ---------------------------------------------------------------
docker_up() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
# A live (not zombie) dockerd from /run/docker.pid. A session's processes are
# killed when it ends, so the pid file may name a dead or unreaped dockerd.
dockerd_pid() {
  local pid state
  pid=$(cat /run/docker.pid 2>/dev/null || true)
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = dockerd ] || return 0
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
  case "$state" in Z|X|"") ;; *) echo "$pid" ;; esac
}
start_dockerd() {
  log "starting dockerd (log: $DOCKERD_LOG)"
  # dockerd (docker.io 20.10) spawns and supervises its own containerd under
  # /run/docker/containerd when /run/containerd/containerd.sock does not exist,
  # so no separate containerd (or systemd) is needed. A stale pid file would
  # make it refuse to start.
  rm -f /run/docker.pid
  echo "=== $(date -Is) starting dockerd" >>"$DOCKERD_LOG"
  ( cd / && exec setsid nohup dockerd --iptables=false --ip6tables=false \
      --bridge=none --storage-driver=vfs \
      </dev/null >>"$DOCKERD_LOG" 2>&1 9>&- ) &  # 9>&-: don't hold our lock
  pid=$!
}

if docker_up; then
  log "dockerd already running"
else
  pid=$(dockerd_pid)
  if [ -n "$pid" ]; then
    log "dockerd (pid $pid) running but not answering yet; waiting"
  else
    start_dockerd
  fi
  deadline=$((SECONDS + DOCKERD_TIMEOUT))
  restarted=0
  until docker_up; do
    if [ -z "$(dockerd_pid)" ] && ! kill -0 "$pid" 2>/dev/null; then
      if [ "$restarted" -eq 0 ]; then
        restarted=1
        start_dockerd
      else
        tail -n 30 "$DOCKERD_LOG" >&2; die "dockerd exited"
      fi
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 30 "$DOCKERD_LOG" >&2; die "dockerd not answering after ${DOCKERD_TIMEOUT}s"
    fi
    sleep 0.5
  done
fi

# --- 3. test image --------------------------------------------------------------
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "image $IMAGE present"
else
  import_busybox_image docker "$IMAGE"
fi

# --- 4. verification ------------------------------------------------------------
if ! ver=$(docker run "${RUN_FLAGS[@]}" "$IMAGE" \
      /usr/bin/docker version --format '{{.Server.Version}}' 2>&1); then
  echo "$ver" >&2; die "docker client inside container failed"
fi
if ! out=$(docker run "${RUN_FLAGS[@]}" "$IMAGE" /bin/sh -c \
      '/usr/bin/socat -V >/dev/null &&
       printf "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n" |
         /usr/bin/socat - UNIX-CONNECT:/var/run/docker.sock' 2>&1) ||
   ! grep -q '^OK' <<<"$(tail -n 1 <<<"$out")"; then
  echo "$out" >&2; die "socat inside container failed"
fi
log "ok: server $ver reachable from inside a container (docker + socat)"
