# Shared by the tests/env/setup-*.sh scripts (sourced, not run). The caller sets
# TAG (its log prefix) and LOCK_FILE before sourcing.

log() { echo "$TAG: $*" >&2; }
die() { echo "$TAG: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
# One run at a time; the lock is released when the script exits.
exec 9>"$LOCK_FILE"
flock -w 600 9 || die "could not acquire $LOCK_FILE"

# Installs the Debian packages given that are missing (apt-get update only then).
ensure_packages() {
  local missing=() p out
  for p in "$@"; do
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]; then
      missing+=("$p")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "packages present"
    return
  fi
  log "installing ${missing[*]}"
  out=$(mktemp)
  if ! { apt-get -o DPkg::Lock::Timeout=300 update -qq &&
         apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"; } >"$out" 2>&1; then
    tail -n 30 "$out" >&2; rm -f "$out"; die "apt-get failed"
  fi
  rm -f "$out"
}

# Builds IMAGE with CLI (docker or podman) `import` from busybox-static and a
# symlink per applet. PATH puts /bin first so busybox applets win over host tools
# from a read-only /usr bind mount, and /usr/bin before /usr/local/bin so `docker`
# is docker.io's client.
import_busybox_image() {
  local cli=$1 image=$2 busybox root out
  log "building $image"
  busybox=$(command -v busybox || true)
  [ -n "$busybox" ] || die "busybox not found"
  root=$(mktemp -d)
  mkdir -p "$root"/{bin,dev,etc,proc,sys,tmp,var/run}
  chmod 1777 "$root/tmp"
  cp "$(readlink -f "$busybox")" "$root/bin/busybox"
  for a in $("$root/bin/busybox" --list) sh sleep cat echo ls true; do
    [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
  done
  printf 'root:x:0:0:root:/:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\n' >"$root/etc/group"
  if ! out=$(tar --numeric-owner --owner=0 --group=0 -C "$root" -cf - . |
      "$cli" import \
        -c 'ENV PATH=/bin:/usr/bin:/usr/sbin:/usr/local/bin' \
        -c 'CMD ["/bin/sh"]' \
        -c 'LABEL org.sockwatch.test=1' \
        - "$image" 2>&1); then
    rm -rf "$root"; echo "$out" >&2; die "$cli import failed"
  fi
  rm -rf "$root"
}
