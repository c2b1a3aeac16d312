#!/usr/bin/env bash
# Prepare a local (rootful) Podman environment for sockwatch integration tests.
#
#  1. install missing Debian packages (podman socat busybox-static). podman
#     pulls in conmon, golang-github-containers-common and
#     containernetworking-plugins; its `crun | runc` dependency is met by the
#     runc that docker.io already installs. Recommends (buildah, slirp4netns,
#     fuse-overlayfs, uidmap, catatonit, ...) serve rootless mode or --init
#     only, so --no-install-recommends is enough.
#  2. make sure /etc/containers/containers.conf has `default_ulimits = []`
#     under [containers]. Podman's built-in default (nofile=1048576) makes
#     runc fail with "error setting rlimit type 7: operation not permitted"
#     here, because this machine has no CAP_SYS_RESOURCE and a hard nofile
#     limit below that. Other settings in an existing file are kept.
#  3. build the busybox-based image localhost/sockwatch-test:latest via
#     `podman import` (same tree as setup-docker.sh's sockwatch-test:latest)
#  4. verify that a container runs the host's /usr/bin/socat through the
#     read-only /usr, /lib, /lib64 bind mounts, and that it can connect to a
#     host unix socket bind-mounted into it
#
# No podman service is started: podman is daemonless (each container gets a
# conmon; with no systemd as PID 1 podman uses the cgroupfs manager, so a
# container's cgroup is /libpod_parent/libpod-<id>). Podman does not touch
# dockerd, which keeps running beside it.
#
# Idempotent; safe to run concurrently (serialised with flock). Quiet on success
# apart from one `setup-podman:` line per step on stderr.
set -euo pipefail

export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"
export DEBIAN_FRONTEND=noninteractive

IMAGE="localhost/sockwatch-test:latest"
CONTAINERS_CONF="/etc/containers/containers.conf"
LOCK_FILE="/run/sockwatch-test-setup-podman.lock"
PACKAGES=(podman socat busybox-static)
# The flags the tests use to run a container with the host's tools available.
RUN_FLAGS=(--rm --network none
  -v /usr:/usr:ro -v /lib:/lib:ro -v /lib64:/lib64:ro)

TAG=setup-podman
# shellcheck source=tests/env/common.sh
. "$(dirname "$0")/common.sh"

# --- 1. packages ------------------------------------------------------------
ensure_packages "${PACKAGES[@]}"
command -v conmon >/dev/null || die "conmon not found"
command -v crun >/dev/null || command -v runc >/dev/null || die "neither crun nor runc found"

# --- 2. containers.conf ----------------------------------------------------------
# Does the [containers] table of $1 set default_ulimits (uncommented)?
has_default_ulimits() {
  awk '
    /^[[:space:]]*\[/ { sect = $0; gsub(/[[:space:]]/, "", sect); next }
    sect == "[containers]" && /^[[:space:]]*default_ulimits[[:space:]]*=/ { found = 1 }
    END { exit !found }' "$1"
}
if [ ! -e "$CONTAINERS_CONF" ]; then
  log "writing $CONTAINERS_CONF"
  mkdir -p "$(dirname "$CONTAINERS_CONF")"
  cat >"$CONTAINERS_CONF" <<'EOF'
# Written by sockwatch tests/env/setup-podman.sh.
[containers]
# Podman's default (nofile=1048576) cannot be applied without CAP_SYS_RESOURCE;
# containers inherit podman's own limits instead.
default_ulimits = []
EOF
elif has_default_ulimits "$CONTAINERS_CONF"; then
  log "$CONTAINERS_CONF already sets default_ulimits"
else
  log "adding default_ulimits = [] to $CONTAINERS_CONF"
  tmp=$(mktemp "$CONTAINERS_CONF.XXXXXX")
  # Insert right after the [containers] header, or append that table.
  awk '
    { print }
    !done && /^[[:space:]]*\[[[:space:]]*containers[[:space:]]*\][[:space:]]*(#.*)?$/ {
      print "default_ulimits = []"; done = 1
    }
    END { if (!done) { print ""; print "[containers]"; print "default_ulimits = []" } }
  ' "$CONTAINERS_CONF" >"$tmp"
  chmod --reference="$CONTAINERS_CONF" "$tmp"
  mv "$tmp" "$CONTAINERS_CONF"
fi

# --- 3. test image --------------------------------------------------------------
if podman image exists "$IMAGE"; then
  log "image $IMAGE present"
else
  import_busybox_image podman "$IMAGE"
fi

# --- 4. verification ------------------------------------------------------------
if ! ver=$(podman run "${RUN_FLAGS[@]}" "$IMAGE" /usr/bin/socat -V 2>&1) ||
   ! grep -q 'socat version' <<<"$ver"; then
  echo "$ver" >&2
  grep -q 'setting rlimit' <<<"$ver" && die "rlimits refused: check default_ulimits in $CONTAINERS_CONF"
  die "socat inside a podman container failed"
fi
ver=$(sed -n 's/^socat version \([^ ]*\).*/\1/p' <<<"$ver" | head -n 1)

# A host unix socket, bind-mounted into the container, must be connectable.
sockdir=$(mktemp -d /tmp/sockwatch-podman-check.XXXXXX)
listener=""
cleanup() {
  if [ -n "$listener" ]; then kill "$listener" 2>/dev/null || true; wait "$listener" 2>/dev/null || true; fi
  rm -rf "$sockdir"
}
trap cleanup EXIT
sock="$sockdir/podman-check.sock"
socat "UNIX-LISTEN:$sock,fork" 'SYSTEM:echo OK' </dev/null >/dev/null 2>&1 9>&- &
listener=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || die "host socat listener did not create $sock"
if ! out=$(podman run "${RUN_FLAGS[@]}" -v "$sockdir:/check" "$IMAGE" \
      /usr/bin/socat -T 5 - UNIX-CONNECT:/check/podman-check.sock </dev/null 2>&1) ||
   [ "$(tail -n 1 <<<"$out")" != OK ]; then
  echo "$out" >&2; die "container could not talk to a bind-mounted host unix socket"
fi
cleanup; trap - EXIT
log "ok: podman $(podman version --format '{{.Client.Version}}') runs $IMAGE (socat $ver, host unix socket reachable)"
