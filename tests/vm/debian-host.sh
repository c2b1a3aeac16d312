#!/usr/bin/env bash
# A real Debian 12 host in a qemu guest: builds its root file system in cached
# layers and boots it with the packaged sockwatch.service and a test harness
# (tests/vm/debian-guest.sh) that writes its results to a second disk.
#
#   debian-host.sh image FLAVOUR DEB        build (or reuse) the image for a kernel
#   debian-host.sh boot FLAVOUR MODE OUTDIR [KERNEL-PARAMETER...]
#                                           boot it; results land in OUTDIR
#
# FLAVOUR: 6.1 (bookworm's linux-image-cloud-amd64), 6.12 (bookworm-backports'),
# or 5.10 (bullseye's linux-image-amd64: Debian 11's kernel, generic because the
# cloud one has no x32 ABI, on the same Debian 12 system).
# MODE: full (every check; sw.late=1: sockwatch.service does not start at boot,
# the guest starts it after a container, see debian-guest.sh), locked
# (lockdown=confidentiality, checks 1-3 and 6) or old (checks 1, 2 and 11).
# KERNEL-PARAMETERs go on the kernel command line too (audit=1, syscall.x32=y).
#
# Layers, under $SOCKWATCH_VM_CACHE/debian-host (/var/cache/sockwatch-tests by
# default, shared with locked-audit.sh), each keyed by a hash of what makes it
# (the function that builds it, its package list, its parent's key):
#   base-KEY/          debootstrap --variant=minbase bookworm + packages
#   kernel-FLAVOUR-KEY/  base + the kernel package (initramfs-tools makes its initrd)
#   image-FLAVOUR-KEY/   root.ext4 (kernel layer + sockwatch .deb installed with apt
#                        + harness), vmlinuz and initrd.img copied out of its /boot
# A second run with a new .deb rebuilds only the image layer.
#
# Nothing starts inside the chroot while it is built: a policy-rc.d that exits
# 101 is in place while packages install (and is removed from every layer), and
# auditctl is diverted to a no-op then (auditd's postinst runs augenrules). The
# build runs in a private mount namespace, so nothing it mounts reaches the host.
# The host's audit, Docker and fanotify state are never touched.
#
# Lines starting with "SWVM-TIME: " give timings; the Rust test prints them.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${SOCKWATCH_VM_CACHE:-/var/cache/sockwatch-tests}/debian-host
suite=bookworm
# The Debian archive apt is configured with on this machine (the first source
# that serves $suite itself), unless SOCKWATCH_VM_MIRROR names another.
apt_mirror() {
    apt-get indextargets --format '$(REPO_URI) $(CODENAME)' 2>/dev/null \
        | awk -v s="$suite" '$2 == s { sub(/\/$/, "", $1); print $1; exit }'
}
mirror=${SOCKWATCH_VM_MIRROR:-$(apt_mirror)}
[ -n "$mirror" ] || { echo "debian-host: apt has no source for $suite (run apt-get update, or set SOCKWATCH_VM_MIRROR)" >&2; exit 1; }
mkdir -p "$cache"
exec 3>&1  # timings reach the caller even from inside $(...)

# What the base layer holds: minbase plus these. initramfs-tools is here so the
# two kernel layers do not both install it. apparmor: Debian's kernels enable
# AppArmor, and dockerd then refuses to start containers without apparmor_parser
# (docker.io recommends it; every standard Debian install has it).
base_packages="systemd systemd-sysv udev dbus docker.io apparmor busybox-static socat kmod auditd initramfs-tools zstd"

say() { printf 'debian-host: %s\n' "$*" >&2; }
timing() { printf 'SWVM-TIME: %s\n' "$*" >&3; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
hash() { sha256sum | cut -c1-16; }

# Runs COMMAND... inside the chroot DIR with /proc, /sys and /dev/pts mounted
# (in this process's private mount namespace) and the build-time guards in place.
in_chroot() {
    local dir=$1; shift
    chroot "$dir" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        LC_ALL=C.UTF-8 HOME=/root "$@"
}

guard_on() { # DIR: no service may start; auditctl is a no-op
    local dir=$1
    mountpoint -q "$dir/proc" || mount -t proc proc "$dir/proc"
    mountpoint -q "$dir/sys" || mount -t sysfs sys "$dir/sys"
    mountpoint -q "$dir/dev/pts" || mount -t devpts -o newinstance,ptmxmode=0666 devpts "$dir/dev/pts"
    printf '#!/bin/sh\nexit 101\n' > "$dir/usr/sbin/policy-rc.d"
    chmod 755 "$dir/usr/sbin/policy-rc.d"
    in_chroot "$dir" dpkg-divert --quiet --local --rename --add /sbin/auditctl
    if [ ! -e "$dir/sbin/auditctl" ]; then
        printf '#!/bin/sh\n# diverted while the image is built\nexit 0\n' > "$dir/sbin/auditctl"
        chmod 755 "$dir/sbin/auditctl"
    fi
}

guard_off() { # DIR: undo guard_on; the layer is left as a booted system needs it
    local dir=$1
    rm -f "$dir/usr/sbin/policy-rc.d"
    if grep -q 'diverted while the image is built' "$dir/sbin/auditctl" 2>/dev/null; then
        rm -f "$dir/sbin/auditctl"
    fi
    in_chroot "$dir" dpkg-divert --quiet --local --rename --remove /sbin/auditctl
    in_chroot "$dir" apt-get clean
    umount "$dir/dev/pts" 2>/dev/null || true
    umount "$dir/sys" 2>/dev/null || true
    umount "$dir/proc" 2>/dev/null || true
}

build_base() { # DIR
    local dir=$1
    debootstrap --variant=minbase --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
        "$suite" "$dir" "$mirror" >"$dir.debootstrap.log" 2>&1 \
        || { tail -30 "$dir.debootstrap.log" >&2; return 1; }
    rm -f "$dir.debootstrap.log"
    cat > "$dir/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $mirror $suite-backports main
EOF
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' > "$dir/etc/apt/apt.conf.d/90sockwatch-vm"
    guard_on "$dir"
    in_chroot "$dir" apt-get update -qq
    # shellcheck disable=SC2086
    in_chroot "$dir" apt-get install -y -qq $base_packages >/dev/null
    echo sw-guest > "$dir/etc/hostname"
    printf '127.0.0.1 localhost\n127.0.1.1 sw-guest\n' > "$dir/etc/hosts"
    printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' > "$dir/etc/fstab"
    # auditd is in the image for auditctl and for check 9, which starts it by hand.
    in_chroot "$dir" systemctl disable auditd.service >/dev/null 2>&1 || true
    # Timers that would compete for the guest's CPU during the checks.
    for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer dpkg-db-backup.timer; do
        in_chroot "$dir" systemctl mask "$u" >/dev/null 2>&1 || true
    done
    # The journal on disk, so that the whole boot is there to read.
    mkdir -p "$dir/var/log/journal"
    guard_off "$dir"
}

build_kernel() { # DIR FLAVOUR
    local dir=$1 flavour=$2 pkg=linux-image-cloud-amd64 target=()
    guard_on "$dir"
    case $flavour in
        6.12) target=(-t "$suite-backports") ;;
        5.10)
            # Debian 11's kernel on this Debian 12 system: its source line is in
            # this layer only, and only the kernel comes from it (bookworm's
            # initramfs-tools makes the initrd). The generic flavour, not cloud:
            # only it has the x32 ABI (CONFIG_X86_X32, off unless syscall.x32=y).
            printf 'deb %s bullseye main\n' "$mirror" > "$dir/etc/apt/sources.list.d/bullseye.list"
            in_chroot "$dir" apt-get update -qq
            pkg=linux-image-amd64/bullseye
            ;;
    esac
    in_chroot "$dir" apt-get install -y -qq "${target[@]}" "$pkg" >/dev/null
    guard_off "$dir"
    ls "$dir"/boot/vmlinuz-* "$dir"/boot/initrd.img-* >/dev/null
}

build_image() { # DIR (a copy of the kernel layer) OUT DEB
    local dir=$1 out=$2 deb=$3 h
    h=$dir/var/lib/sockwatch-vmtest
    # The harness's drop-in first, so that the unit's first start already has it:
    # every connect reported on its own (--dedup-window 0).
    mkdir -p "$dir/etc/systemd/system/sockwatch.service.d"
    printf '[Service]\nExecStart=\nExecStart=/usr/sbin/sockwatch run --dedup-window 0\n' \
        > "$dir/etc/systemd/system/sockwatch.service.d/50-vmtest.conf"
    # Not at boot when the kernel command line has sw.late=1: the guest starts
    # the unit itself, after a container (it clears this with a drop-in in /run).
    printf '[Unit]\nConditionKernelCommandLine=!sw.late=1\n' \
        > "$dir/etc/systemd/system/sockwatch.service.d/40-vmtest-late.conf"
    guard_on "$dir"
    cp "$deb" "$dir/tmp/"
    in_chroot "$dir" sh -c "cd /tmp && apt-get install -y -qq ./$(basename "$deb")" >/dev/null
    rm -f "$dir/tmp/$(basename "$deb")"
    guard_off "$dir"
    [ -x "$dir/usr/sbin/sockwatch" ]
    # The harness: guest script, its unit, the static helpers, the container image.
    mkdir -p "$h"
    install -m 755 "$here/debian-guest.sh" "$h/guest.sh"
    gcc -static -O1 -o "$h/lockdown_probe" "$here/lockdown_probe.c"
    gcc -static -O1 -o "$h/audit_reader" "$here/audit_reader.c"
    local ct; ct=$(mktemp -d)
    mkdir -p "$ct/bin" "$ct/tmp" "$ct/etc"
    cp "$(readlink -f "$(command -v busybox)")" "$ct/bin/busybox"
    for a in $("$ct/bin/busybox" --list); do [ -e "$ct/bin/$a" ] || ln -s busybox "$ct/bin/$a"; done
    gcc -static -O1 -o "$ct/client" "$repo/tests/data/capture/client.c"
    gcc -static -O1 -o "$ct/late_client" "$here/late_client.c"
    tar -C "$ct" -cf "$h/sw-image.tar" .
    rm -rf "$ct"
    cat > "$dir/etc/systemd/system/sockwatch-vmtest.service" <<'EOF'
[Unit]
Description=sockwatch VM checks
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/var/lib/sockwatch-vmtest/guest.sh
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity
[Install]
WantedBy=multi-user.target
EOF
    mkdir -p "$dir/etc/systemd/system/multi-user.target.wants"
    ln -sf /etc/systemd/system/sockwatch-vmtest.service "$dir/etc/systemd/system/multi-user.target.wants/sockwatch-vmtest.service"
    [ ! -e "$dir/usr/sbin/policy-rc.d" ]
    cp "$(ls "$dir"/boot/vmlinuz-* | tail -1)" "$out/vmlinuz"
    cp "$(ls "$dir"/boot/initrd.img-* | tail -1)" "$out/initrd.img"
    local mb; mb=$(du -sm "$dir" | cut -f1)
    truncate -s "$(( mb + 3072 ))M" "$out/root.ext4"
    mkfs.ext4 -q -F -L swroot -d "$dir" "$out/root.ext4"
}

# The layer at $cache/NAME-KEY, built by FUNCTION from a copy of PARENT (or from
# nothing), unless it is there already. Older layers of the same NAME go.
layer() { # NAME KEY PARENT FUNCTION ARGS...
    local name=$1 key=$2 parent=$3 fn=$4; shift 4
    local dir=$cache/$name-$key t0
    if [ -e "$dir/.done" ]; then
        timing "layer $name cached ($key)"
        echo "$dir"
        return
    fi
    t0=$(now)
    rm -rf "$dir" "$dir.tmp"
    if [ -n "$parent" ]; then
        cp -a --reflink=auto "$parent" "$dir.tmp"
        rm -f "$dir.tmp/.done"
    fi
    say "building layer $name ($key)"
    # A private mount namespace: proc and sys mounted in the chroot vanish with it.
    unshare -m --propagation private bash -c "$(declare -f say in_chroot guard_on guard_off "$fn"); \
        $(declare -p suite mirror base_packages here repo); set -euo pipefail; $fn \"\$@\"" \
        _ "$dir.tmp" "$@" >&2
    for old in "$cache/$name"-*; do
        [ "$old" = "$dir.tmp" ] || rm -rf "$old"
    done
    touch "$dir.tmp/.done"
    mv "$dir.tmp" "$dir"
    timing "layer $name built in $(since "$t0") s ($key)"
    echo "$dir"
}

# Sets kernel and kk: the kernel layer's directory and key (and builds base).
kernel_layer() { # FLAVOUR
    local flavour=$1 kb base
    kb=$( { declare -f build_base guard_on guard_off; echo "$suite $mirror $base_packages"; } | hash)
    base=$(layer base "$kb" "" build_base)
    kk=$( { echo "$kb $flavour"; declare -f build_kernel; } | hash)
    kernel=$(layer "kernel-$flavour" "$kk" "$base" build_kernel "$flavour")
}

image() { # FLAVOUR DEB
    local flavour=$1 deb; deb=$(readlink -f "$2")
    case $flavour in 5.10|6.1|6.12) ;; *) say "unknown flavour $flavour"; exit 2 ;; esac
    exec 9>"$cache/lock"
    flock 9
    local t0; t0=$(now)
    local ki img kernel kk
    kernel_layer "$flavour"
    ki=$( { echo "$kk"; declare -f build_image; sha256sum "$deb" "$here/debian-guest.sh" "$here/lockdown_probe.c" \
        "$here/audit_reader.c" "$here/late_client.c" "$repo/tests/data/capture/client.c" | cut -d' ' -f1; } | hash)
    img=$cache/image-$flavour-$ki
    if [ -e "$img/.done" ]; then
        timing "layer image-$flavour cached ($ki)"
    else
        local t1; t1=$(now)
        rm -rf "$cache/image-$flavour"-* "$cache/rootfs-$flavour.tmp"
        mkdir -p "$img.tmp"
        cp -a --reflink=auto "$kernel" "$cache/rootfs-$flavour.tmp"
        rm -f "$cache/rootfs-$flavour.tmp/.done"
        unshare -m --propagation private bash -c "$(declare -f say in_chroot guard_on guard_off build_image); \
            $(declare -p here repo); set -euo pipefail; build_image \"\$@\"" \
            _ "$cache/rootfs-$flavour.tmp" "$img.tmp" "$deb" >&2
        rm -rf "$cache/rootfs-$flavour.tmp"
        touch "$img.tmp/.done"
        mv "$img.tmp" "$img"
        timing "layer image-$flavour built in $(since "$t1") s ($ki)"
    fi
    timing "image $flavour ready in $(since "$t0") s"
    echo "IMAGE=$img"
}

boot() { # FLAVOUR MODE OUTDIR [KERNEL-PARAMETER...]
    local flavour=$1 mode=$2 out=$3 limit=${SOCKWATCH_VM_TIMEOUT:-900}
    shift 3
    local img; img=$(ls -d "$cache/image-$flavour"-* 2>/dev/null | grep -v '\.tmp$' | head -1)
    [ -n "$img" ] && [ -e "$img/.done" ] || { say "no image for $flavour: run '$0 image $flavour DEB' first"; exit 1; }
    mkdir -p "$out"
    local append="root=/dev/vda rw console=ttyS0 loglevel=4 panic=-1 sw.mode=$mode"
    case $mode in
        full) append="$append sw.late=1" ;;
        locked) append="$append lockdown=confidentiality" ;;
        old) ;;
        *) say "unknown mode $mode"; exit 2 ;;
    esac
    [ $# -eq 0 ] || append="$append $*"
    truncate -s 0 "$out/results.img"
    truncate -s 256M "$out/results.img"
    say "booting $flavour $mode${1:+ ($*)} (timeout ${limit}s)"
    local t0 rc=0; t0=$(now)
    # The root image is opened with snapshot=on: the guest's writes go to a
    # throw-away overlay, so every boot starts from the same image.
    timeout "$limit" qemu-system-x86_64 -accel tcg -cpu max,-cx16 -m 2048 -smp 2 \
        -display none -monitor none -no-reboot -nic none \
        -serial "file:$out/console.log" \
        -kernel "$img/vmlinuz" -initrd "$img/initrd.img" -append "$append" \
        -drive "file=$img/root.ext4,format=raw,if=virtio,snapshot=on" \
        -drive "file=$out/results.img,format=raw,if=virtio" </dev/null || rc=$?
    timing "guest $flavour $mode ran $(since "$t0") s (qemu rc=$rc)"
    if [ "$rc" -ne 0 ]; then
        say "qemu failed or timed out (rc=$rc); the console's tail:"
        tr -d '\r' < "$out/console.log" | tail -60 >&2
    fi
    mkdir -p "$out/results"
    if tar -C "$out/results" -xf "$out/results.img" 2>/dev/null; then
        rm -f "$out/results.img"
    else
        say "no results on the results disk"
        [ "$rc" -ne 0 ] || rc=1
    fi
    return "$rc"
}

case ${1:-} in
    image) shift; image "$@" ;;
    layers) shift; exec 9>"$cache/lock"; flock 9; kernel_layer "$1"; echo "KERNEL_LAYER=$kernel" ;;
    boot) shift; boot "$@" ;;
    *) echo "usage: $0 image FLAVOUR DEB | boot FLAVOUR MODE OUTDIR [KERNEL-PARAMETER...]" >&2; exit 2 ;;
esac
