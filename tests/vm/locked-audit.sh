#!/usr/bin/env bash
# Boots a Debian kernel under qemu (TCG) with a busybox initramfs, locks audit
# there (enabled=2), and runs `sockwatch rules install` and `sockwatch run` in it.
# The guest's console goes to stdout, with marker lines the test reads. The host's
# audit state is never touched: locking is irreversible until reboot.
# Usage: locked-audit.sh SOCKWATCH_BINARY [preloaded]
# With `preloaded`, sockwatch's rules are loaded before the lock, and `run` must
# start and work with them.
# Needs: qemu-system-x86_64, busybox-static, gcc (static libc), and apt access to
# Debian's kernel package the first time (cached in $SOCKWATCH_VM_CACHE).
set -euo pipefail
bin=$(readlink -f "$1")
mode=${2:-plain}
here=$(cd "$(dirname "$0")" && pwd)
cache=${SOCKWATCH_VM_CACHE:-/var/cache/sockwatch-tests}
mkdir -p "$cache"
kernel=$cache/vmlinuz
if [ ! -s "$kernel" ]; then
    pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
    [ -n "$pkg" ] || { echo "locked-audit: no linux-image package found (apt-get update?)" >&2; exit 1; }
    dl=$(mktemp -d)
    (cd "$dl" && apt-get download -q "$pkg" >/dev/null 2>&1)
    dpkg-deb -x "$dl"/*.deb "$dl/x"
    cp "$dl"/x/boot/vmlinuz-* "$kernel.tmp" && mv "$kernel.tmp" "$kernel"
    rm -rf "$dl"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,proc,sys,dev,run,tmp}
cp "$(readlink -f "$(command -v busybox)")" "$root/bin/busybox"
gcc -static -O1 -o "$root/audit-lock" "$here/audit_lock.c"
cp "$bin" "$root/sockwatch"
for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    cp --parents -L "$lib" "$root"
done
echo "$mode" > "$root/mode"
cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
echo "SW: kernel $(uname -r)"
if [ "$(cat /mode)" = preloaded ]; then
    /sockwatch --config /dev/null rules install --no-persist >/tmp/out 2>&1
    echo "SW: preload rc=$?"
    /audit-lock && echo "SW: audit locked"
    /sockwatch --config /dev/null run --output stdout >/tmp/out 2>/tmp/err &
    pid=$!
    sleep 3
    kill -TERM $pid
    wait $pid
    echo "SW: run rc=$?"
    sed 's/^/SW: run stderr: /' /tmp/err
    echo "SW: done"
    poweroff -f
fi
/audit-lock && echo "SW: audit locked"
/sockwatch --config /dev/null rules install --no-persist >/tmp/out 2>/tmp/err
echo "SW: install rc=$? stderr-lines=$(wc -l </tmp/err)"
sed 's/^/SW: install stderr: /' /tmp/err
/sockwatch --config /dev/null run --output stdout >/tmp/out 2>/tmp/err
echo "SW: run rc=$?"
sed 's/^/SW: run stderr: /' /tmp/err
/sockwatch --config /dev/null rules status >/tmp/out 2>&1
echo "SW: status rc=$?"
sed 's/^/SW: status: /' /tmp/out
echo "SW: done"
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$work/initrd"
timeout 180 qemu-system-x86_64 -accel tcg -m 512 -nographic -no-reboot -monitor none \
    -kernel "$kernel" -initrd "$work/initrd" \
    -append "console=ttyS0 panic=-1 audit=1 quiet loglevel=1" </dev/null | tr -d '\r'
