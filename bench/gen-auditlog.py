#!/usr/bin/env python3
"""Writes a synthetic auditd log (ENRICHED format, as Debian's auditd writes by
default) of about SIZE bytes, with a realistic mix, for bench/scan.sh:

- most events are other syscalls: openat and execve (SYSCALL, CWD, PATH x2,
  PROCTITLE), connect to AF_INET (SYSCALL, SOCKADDR, PROCTITLE) and user-space
  records (USER_ACCT, CRED_ACQ, USER_START);
- about 1% are connects to the watched socket (key "sockwatch"): by its name, by
  /var/run/docker.sock, under alias names (bind mounts inside containers), some
  failing (EACCES, half of those denied by AppArmor with an AVC record before the
  SYSCALL; ECONNREFUSED), some through io_uring (URINGOP + io_uring_enter, half of
  them in a batch whose first op is not the connect);
- decoys: connects to other files named *docker.sock (other inodes), logged by a
  naive `-S connect` rule (key "connect-all");
- events interleave: now and then the records of two events alternate.

The record texts are copied from real 6.18 records (tests/data/). Prints the
number of events that must become findings; writes it to OUT.expected too.

Usage: gen-auditlog.py OUT [SIZE_MB] [INODE]
"""
import os
import random
import sys

out = sys.argv[1]
size = int(sys.argv[2]) * 1_000_000 if len(sys.argv) > 2 else 1_000_000_000
inode = int(sys.argv[3]) if len(sys.argv) > 3 else 9805826
rng = random.Random(1019)
GS = "\x1d"
DEV = "fe:00"


def hexs(s):
    return s.encode().hex().upper()


def syscall(stamp, nr, success, exit_, a0, items, pid, comm, exe, key, extra=""):
    return (
        f"type=SYSCALL msg=audit({stamp}): arch=c000003e syscall={nr} success={success} exit={exit_} "
        f"a0={a0} a1=7ffd3c1e9a20 a2=6e a3=7f1a2b3c4d5e items={items} ppid={pid - 3} pid={pid} "
        f"auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 "
        f'comm="{comm}" exe="{exe}"{extra} key={key}'
        f'{GS}ARCH=x86_64 SYSCALL={ {42: "connect", 257: "openat", 59: "execve", 426: "io_uring_enter"}.get(nr, "unknown") } '
        f'AUID="unset" UID="root" GID="root" EUID="root" SUID="root" FSUID="root" EGID="root" SGID="root" FSGID="root"'
    )


def path(stamp, item, name, ino, mode="0100644", nametype="NORMAL"):
    return (
        f'type=PATH msg=audit({stamp}): item={item} name="{name}" inode={ino} dev={DEV} mode={mode} ouid=0 ogid=0 '
        f"rdev=00:00 nametype={nametype} cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0"
        f'{GS}OUID="root" OGID="root"'
    )


def cwd(stamp, d="/"):
    return f'type=CWD msg=audit({stamp}): cwd="{d}"'


def proctitle(stamp, argv):
    return f"type=PROCTITLE msg=audit({stamp}): proctitle={hexs(chr(0).join(argv))}"


def sockaddr_unix(stamp, p):
    raw = (b"\x01\x00" + p.encode() + b"\x00").hex().upper()
    return f"type=SOCKADDR msg=audit({stamp}): saddr={raw}{GS}SADDR={{ saddr_fam=local path={p} }}"


PROGS = [("bash", "/usr/bin/bash"), ("python3", "/usr/bin/python3.11"), ("nginx", "/usr/sbin/nginx"), ("sshd", "/usr/sbin/sshd"), ("cron", "/usr/sbin/cron")]
FILES = ["/etc/passwd", "/etc/ld.so.cache", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/var/log/nginx/access.log", "/proc/self/status", "/etc/nsswitch.conf"]
ALIASES = ["/run/docker.sock", "/var/run/docker.sock", "/tmp/x.sock", "/host/run/docker.sock", "docker.sock", "/var/run/d.sock"]
DECOYS = ["/tmp/docker.sock", "/home/dev/docker.sock", "/run/user/1000/docker.sock", "/srv/fake/docker.sock"]


def other_event(stamp, pid):
    r = rng.random()
    comm, exe = rng.choice(PROGS)
    if r < 0.55:
        f = rng.choice(FILES)
        return [
            syscall(stamp, 257, "yes", 3, "ffffff9c", 2, pid, comm, exe, "(null)"),
            cwd(stamp, "/root"),
            path(stamp, 0, os.path.dirname(f), 131073, "040755", "PARENT"),
            path(stamp, 1, f, rng.randint(100000, 9999999)),
            proctitle(stamp, [comm, "-c", "true"]),
        ]
    if r < 0.75:
        return [
            syscall(stamp, 59, "yes", 0, "55d4c3b2a190", 2, pid, comm, exe, '"exec"'),
            f'type=EXECVE msg=audit({stamp}): argc=3 a0="{comm}" a1="-c" a2="echo hello"',
            cwd(stamp, "/root"),
            path(stamp, 0, exe, rng.randint(100000, 9999999), "0100755"),
            path(stamp, 1, "/lib64/ld-linux-x86-64.so.2", 1447, "0100755"),
            proctitle(stamp, [comm, "-c", "echo hello"]),
        ]
    if r < 0.93:
        return [
            syscall(stamp, 42, "no", -115, "5", 0, pid, comm, exe, '"connect-all"'),
            f"type=SOCKADDR msg=audit({stamp}): saddr=02000050C0A8000A0000000000000000{GS}SADDR={{ saddr_fam=inet laddr=192.168.0.10 lport=80 }}",
            proctitle(stamp, [comm, "http://192.168.0.10/"]),
        ]
    if r < 0.97:
        d = rng.choice(DECOYS)
        return [
            syscall(stamp, 42, "yes", 0, "3", 1, pid, "curl", "/usr/bin/curl", '"connect-all"'),
            sockaddr_unix(stamp, d),
            cwd(stamp, "/"),
            path(stamp, 0, d, rng.randint(100000, 9999999) * 2 + 1 if True else 0, "0140755"),
            proctitle(stamp, ["curl", "--unix-socket", d, "http://x/"]),
        ]
    kind = rng.choice(["USER_ACCT", "CRED_ACQ", "USER_START"])
    return [
        f"type={kind} msg=audit({stamp}): pid={pid} uid=0 auid=0 ses=3 subj=unconfined "
        f"msg='op=PAM:accounting grantors=pam_permit acct=\"root\" exe=\"/usr/sbin/cron\" hostname=? addr=? terminal=cron res=success'"
        f'{GS}UID="root" AUID="root"'
    ]


def watched_event(stamp, pid):
    name = rng.choice(ALIASES)
    r = rng.random()
    success, exit_ = ("yes", 0)
    lsm = []
    if r < 0.1:
        success, exit_ = "no", -13
        # Half the denials by an LSM, whose record comes before the SYSCALL.
        if rng.random() < 0.5:
            lsm = [
                f'type=AVC msg=audit({stamp}): apparmor="DENIED" operation="connect" class="file" profile="docker-default" '
                f'name="{name}" pid={pid} comm="docker" requested_mask="wr" denied_mask="wr" fsuid=0 ouid=0'
            ]
    elif r < 0.2:
        success, exit_ = "no", -111
    if rng.random() < 0.1:
        # An io_uring batch: another op first, then the connect.
        other_op = [f"type=URINGOP msg=audit({stamp}): uring_op=22 success=yes exit=0 items=0 ppid={pid - 1} pid={pid} uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 key=\"sockwatch\""] if rng.random() < 0.5 else []
        return other_op + [
            f"type=URINGOP msg=audit({stamp}): uring_op=16 success=yes exit=0 items=1 ppid={pid - 1} pid={pid} uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 key=\"sockwatch\"",
            syscall(stamp, 426, "yes", 1, "4", 1, pid, "client_uring", "/usr/local/bin/client_uring", '"sockwatch"'),
            sockaddr_unix(stamp, name),
            cwd(stamp, "/"),
            path(stamp, 0, name, inode, "0140660"),
            proctitle(stamp, ["client_uring", name]),
        ]
    return lsm + [
        syscall(stamp, 42, success, exit_, "3", 1, pid, "docker", "/usr/bin/docker", '"sockwatch"'),
        sockaddr_unix(stamp, name),
        cwd(stamp, "/"),
        path(stamp, 0, name, inode, "0140660"),
        proctitle(stamp, ["docker", "-H", "unix://" + name, "ps"]),
    ]


def main():
    written = 0
    expected = 0
    serial = 1000
    sec = 1795800000
    msec = 0
    pending = None
    with open(out, "w", encoding="utf-8", newline="\n") as f:
        buf = []
        while written < size:
            serial += 1
            msec += rng.randint(0, 3)
            if msec > 999:
                sec += 1
                msec -= 1000
            stamp = f"{sec}.{msec:03d}:{serial}"
            pid = rng.randint(1000, 400000)
            if rng.random() < 0.01:
                ev = watched_event(stamp, pid)
                expected += 1
            else:
                ev = other_event(stamp, pid)
            # Interleave: hold back one event in 50 and alternate its records
            # with the next one's.
            if pending is not None:
                mixed = []
                for i in range(max(len(pending), len(ev))):
                    if i < len(pending):
                        mixed.append(pending[i])
                    if i < len(ev):
                        mixed.append(ev[i])
                ev, pending = mixed, None
            elif rng.random() < 0.02:
                pending = ev
                continue
            text = "\n".join(ev) + "\n"
            buf.append(text)
            written += len(text)
            if len(buf) >= 4096:
                f.write("".join(buf))
                buf.clear()
        if pending is not None:
            buf.append("\n".join(pending) + "\n")
        f.write("".join(buf))
    with open(out + ".expected", "w") as e:
        e.write(f"{expected}\n")
    print(expected)


main()
