#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with starting inputs: the hand-made seeds in
# fuzz/seeds/<target>/, the captures in tests/data (whole, cut into runs of
# lines, and line by line) and binary inputs built here (netlink datagrams,
# rules, fanotify events, process events, ACLs, argv). Nothing generated is
# committed: fuzz/corpus is ignored. What libFuzzer added before is kept.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")"
data=../tests/data
corpus=corpus
targets=(record netlink assemble logline scanner fanotify socket_acl lineage cgroup
         runtime_state monitor_argv config glob end_to_end)
for t in "${targets[@]}"; do
    mkdir -p "$corpus/$t"
    if [ -d "seeds/$t" ]; then cp seeds/"$t"/* "$corpus/$t/"; fi
done

# Little-endian (x86's native order) integers, as raw bytes.
le16() { printf "$(printf '\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)))"; }
le32() {
    printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) \
        $(($1 >> 16 & 255)) $(($1 >> 24 & 255)))"
}
zeros() { head -c "$1" /dev/zero; }

logs=("$data"/records-6.18.txt "$data"/malformed.txt "$data"/auditd-raw-6.18.log
      "$data"/auditd-enriched-6.18.log)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Whole logs and runs of 8 lines (an event or two each): the scan and the
# whole path. The scanner's first line is a --socket-inode value.
specs=("fe:00:10010627=/run/docker.sock" "fe:00:10010627=/run/docker.sock"
       "$(cat "$data"/auditd-6.18.socket)" "$(cat "$data"/auditd-6.18.socket)=/run/docker.sock")
for i in "${!logs[@]}"; do
    log=${logs[$i]}
    name=$(basename "$log")
    cp "$log" "$corpus/end_to_end/$name"
    { echo "${specs[$i]}"; cat "$log"; } > "$corpus/scanner/$name"
    split -l 8 -d -a 3 "$log" "$tmp/$name."
    for part in "$tmp/$name".*; do
        cp "$part" "$corpus/end_to_end/"
        { echo "${specs[$i]}"; cat "$part"; } > "$corpus/scanner/$(basename "$part")"
        cp "$part" "$corpus/assemble/"
    done
    # Single lines: the record and log line parsers.
    n=0
    while IFS= read -r line; do
        n=$((n + 1))
        printf '%s\n' "$line" > "$corpus/logline/$name.$n"
        printf '%s\n' "$line" > "$corpus/record/$name.$n"
    done < "$log"
done

# Netlink datagrams as the kernel sends records: the header (length, type,
# flags, sequence, port), then `audit(...): ...`. One per record of the
# capture, a few as the record target's form (type, then payload), and one
# datagram of two messages.
n=0
while IFS= read -r line; do
    [[ $line =~ ^type=([0-9]+)\ (.*)$ ]] || continue
    n=$((n + 1))
    rtype=${BASH_REMATCH[1]} payload=${BASH_REMATCH[2]}
    { le32 $((16 + ${#payload})); le16 "$rtype"; le16 0; le32 "$n"; le32 0; printf '%s' "$payload"
    } > "$corpus/netlink/record.$n"
    if [ $((n % 8)) -eq 1 ]; then
        { le16 "$rtype"; printf '%s' "$payload"; } > "$corpus/record/netlink.$n"
    fi
done < "$data"/records-6.18.txt
cat "$corpus/netlink/record.1" "$corpus/netlink/record.2" > "$corpus/netlink/two"

# struct audit_rule_data as AUDIT_LIST_RULES lists it: flags (the list),
# action, field_count, mask[64], fields[64], values[64], fieldflags[64],
# buflen, buf. sockwatch's own connect rule (exit list, always, arch=b64,
# -S connect, path=/run/docker.sock, key=sockwatch), and a task-list never
# rule (auditd's 10-no-audit.rules).
rule() { # list action mask1 "field value flags"... -- buf
    local list=$1 action=$2 mask1=$3
    shift 3
    local fields=() values=() flags=() buf
    while [ "$1" != -- ]; do
        read -r f v fl <<< "$1"
        fields+=("$f") values+=("$v") flags+=("$fl")
        shift
    done
    buf=$2
    le32 "$list"; le32 "$action"; le32 "${#fields[@]}"
    le32 0; le32 "$mask1"; zeros $((62 * 4))
    for a in fields values flags; do
        local -n arr=$a
        for x in "${arr[@]}"; do le32 "$x"; done
        zeros $(((64 - ${#fields[@]}) * 4))
    done
    le32 "${#buf}"; printf '%s' "$buf"
}
rule_msg() { # type, then the payload on stdin
    local payload
    payload=$(mktemp -p "$tmp")
    cat > "$payload"
    local len
    len=$(stat -c %s "$payload")
    le32 $((16 + len)); le16 "$1"; le16 2; le32 7; le32 0; cat "$payload"
}
rule 4 2 $((1 << 10)) "11 $((0xc000003e)) $((0x40000000))" "105 16 $((0x40000000))" \
    "210 9 $((0x40000000))" -- "/run/docker.socksockwatch" | rule_msg 1013 > "$corpus/netlink/rule.connect"
rule 1 0 0 -- "" | rule_msg 1013 > "$corpus/netlink/rule.task-never"
cat "$corpus/netlink/rule.connect" "$corpus/netlink/rule.task-never" > "$corpus/netlink/rules.two"

# fanotify: metadata (event_len, vers 3, reserved, metadata_len 24, mask,
# fd -1, pid), then a DFID_NAME record (type 2, length, fsid, handle_bytes,
# handle_type, the handle, "docker.sock" and its NUL, padded) and a FID one.
fan_info() { # type handle-bytes name
    local name=$3 len=$((4 + 8 + 4 + 4 + $2 + ${#3} + 1))
    local pad=$(((4 - len % 4) % 4))
    printf "\\x$(printf %02x "$1")\\x00"; le16 $((len + pad)); zeros 8
    le32 "$2"; le32 1; head -c "$2" /dev/zero | tr '\0' '\252'
    if [ -n "$name" ]; then printf '%s\0' "$name"; else printf '\0'; fi
    zeros "$pad"
}
fan_event() { # mask pid, the info records on stdin
    local info
    info=$(mktemp -p "$tmp")
    cat > "$info"
    le32 $((24 + $(stat -c %s "$info"))); printf '\x03\x00'; le16 24
    le32 "$1"; le32 0; le32 $((0xffffffff)); le32 "$2"; cat "$info"
}
fan_info 2 8 docker.sock | fan_event $((0x200)) 42 > "$corpus/fanotify/delete"
{ fan_info 2 8 docker.sock; fan_info 1 8 ""; } | fan_event $((0x4)) 43 > "$corpus/fanotify/attrib"
cat "$corpus/fanotify/delete" "$corpus/fanotify/attrib" > "$corpus/fanotify/two"

# Process events (struct proc_event: what, cpu, timestamp, then the event's
# data), as the lineage target reads them: capacity, count, then each with a
# length byte; then the simulated /proc of pids 1 to 8 (flags, cgroup,
# cmdline and program, each with a length byte); then (pid, ppid) queries.
id=3f1c2b9a8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170615f4e3
proc_event() { # what, then the 32-bit words of its data
    local what=$1
    shift
    printf "\\x$(printf %02x $((16 + 4 * $#)))"; le32 "$what"; zeros 12
    for w in "$@"; do le32 "$w"; done
}
byte() { printf "\\x$(printf %02x "$1")"; }
chunk() { byte ${#1}; printf '%s' "$1"; }
proc() { # flags cgroup cmdline (spaces for its NULs) exe
    byte "$1"; chunk "$2"; byte ${#3}; printf '%s' "$3" | tr ' ' '\0'; chunk "$4"
}
shim="/usr/bin/containerd-shim-runc-v2 -namespace moby -id $id "
{
    printf '\x06\x04'
    proc_event 1 1 1 2 2
    proc_event 1 2 2 3 3
    proc_event 1 3 3 4 4
    proc_event $((0x80000000)) 4 4 0 0 3 3
    proc 3 "0::/system.slice/containerd.service" "/sbin/init" "/sbin/init"
    proc 3 "0::/system.slice/containerd.service" "$shim" "/usr/bin/containerd-shim-runc-v2"
    proc 15 "0::/system.slice/docker-$id.scope" "sh" "/bin/sh"
    proc 64 "" "" ""
    proc 143 "0::/lxc.payload.web01" "init" "/sbin/init"
    proc 3 "0::/user.slice" "/usr/bin/dockerd" "/usr/bin/dockerd"
    proc 67 "0::/user.slice" "/tmp/containerd-shim" "/tmp/containerd-shim"
    proc 179 "0::/machine.slice/machine-build\\x2dbox.scope/payload" "bash" "/bin/bash"
    printf '\x04\x03\x09\x03\x09\x02\x03\x00\x05\x05\x09\x07\x09\x06'
} > "$corpus/lineage/shim-and-container"

# Runtime monitors' command lines, as /proc/PID/cmdline has them.
argv() { printf '%s\0' "$@"; }
argv /usr/bin/containerd-shim-runc-v2 -namespace moby -id $id -address /run/containerd/containerd.sock \
    > "$corpus/monitor_argv/shim-moby"
argv /usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id $id > "$corpus/monitor_argv/shim-k8s"
argv /usr/bin/conmon --api-version 1 -c $id -u $id -r /usr/bin/crun --exit-command /usr/bin/podman \
    > "$corpus/monitor_argv/conmon-podman"
argv /usr/bin/conmon -c $id -r /usr/bin/runc > "$corpus/monitor_argv/conmon-crio"
argv runc --root /run/docker/runtime-runc/moby --log x exec --process /tmp/p.json --detach $id \
    > "$corpus/monitor_argv/runc-exec"
argv "runc:[2:INIT]" > "$corpus/monitor_argv/runc-init"

# ACLs (version 2, then tag, perm, id entries) and permission changes: flags,
# the old ACL with a length byte, old and new mode, uid, gid, the new ACL.
acl() { # tag perm id ...
    le32 2
    while [ $# -gt 0 ]; do le16 "$1"; le16 "$2"; le32 "$3"; shift 3; done
}
acl 1 6 $((0xffffffff)) 4 6 $((0xffffffff)) 32 0 $((0xffffffff)) > "$tmp/plain.acl"
{
    byte 5; byte "$(stat -c %s "$tmp/plain.acl")"; cat "$tmp/plain.acl"
    le32 $((0140660)); le32 0; le32 998; le32 $((0140660)); le32 0; le32 998
    acl 1 6 $((0xffffffff)) 2 6 1000 4 6 $((0xffffffff)) 16 6 $((0xffffffff)) 32 0 $((0xffffffff))
} > "$corpus/socket_acl/setfacl"
{
    printf '\x01\x00'
    le32 $((0140660)); le32 0; le32 998; le32 $((0140666)); le32 0; le32 998
} > "$corpus/socket_acl/chmod-world"

# The configuration the package installs.
cp ../packaging/sockwatch.toml "$corpus/config/packaged.toml"

# The assembler's input: capacity, then operations (push: type, stamp, body;
# time passing; a deadline check).
printf '\x04\x00\x00\x00\x00\x01\x00\x00\x01\x00\x01\x02\x00\x00\x01\x10\x03\x05\x00\x06\x00\x00\x01\x20\x03\xff\x04' \
    > "$corpus/assemble/ops"

for t in "${targets[@]}"; do
    printf '%s: %s inputs\n' "$t" "$(find "$corpus/$t" -type f | wc -l)"
done
