#!/usr/bin/env python3
"""A FUSE file system that stops answering: the hostile mount of the stall test.

Speaks the kernel's FUSE protocol on /dev/fuse directly (no library). Mounts at
argv[1], writes argv[2] once the kernel's INIT is answered, and then:
- "argv" is a 4 KiB regular file that can be looked up, opened and mapped, but
  a READ of it is read and never answered: whoever faults its page in waits for
  as long as this process lives;
- any other name: its first LOOKUP is answered ENOENT (so the container's own
  connect to it fails at once); any later LOOKUP of it is held the same way;
- GETATTR and OPEN are answered, FORGET needs no answer, anything else gets
  ENOSYS (GETXATTR among them: audit reads an inode's file capabilities when it
  records a path).
Each held request is logged to stderr as "stall_fuse: holding OPCODE NAME".
"""
import ctypes
import os
import struct
import sys

FUSE_LOOKUP, FUSE_FORGET, FUSE_GETATTR, FUSE_OPEN, FUSE_READ = 1, 2, 3, 14, 15
FUSE_INIT, FUSE_BATCH_FORGET = 26, 42
S_IFDIR, S_IFREG = 0o040000, 0o100000
ARGV_INO = 2
IN_HEADER = struct.Struct("<IIQQIIIHH")  # len opcode unique nodeid uid gid pid extlen pad
DAY = 86400


def attr(ino, mode, size):
    # ino size blocks atime mtime ctime atimensec mtimensec ctimensec mode nlink uid gid rdev blksize flags
    return struct.pack("<QQQQQQIIIIIIIIII", ino, size, 8, 0, 0, 0, 0, 0, 0, mode, 1, 0, 0, 0, 4096, 0)


def attr_of(ino):
    return attr(1, S_IFDIR | 0o755, 0) if ino == 1 else attr(ARGV_INO, S_IFREG | 0o644, 4096)


def reply(fd, unique, body=b"", error=0):
    os.write(fd, struct.pack("<IiQ", 16 + len(body), error, unique) + body)


def hold(opcode, what):
    sys.stderr.write(f"stall_fuse: holding {opcode} {what}\n")
    sys.stderr.flush()


def main():
    mnt, ready = sys.argv[1], sys.argv[2]
    fd = os.open("/dev/fuse", os.O_RDWR)
    libc = ctypes.CDLL(None, use_errno=True)
    opts = f"fd={fd},rootmode=40000,user_id=0,group_id=0".encode()
    if libc.mount(b"stall", mnt.encode(), b"fuse", 0, opts) != 0:
        sys.exit(f"mount: {os.strerror(ctypes.get_errno())}")
    looked_up = set()
    while True:
        buf = os.read(fd, 1 << 20)
        _, opcode, unique, nodeid, *_ = IN_HEADER.unpack_from(buf)
        arg = buf[IN_HEADER.size:]
        if opcode in (FUSE_FORGET, FUSE_BATCH_FORGET):
            continue
        if opcode == FUSE_INIT:
            major, minor, readahead, flags = struct.unpack_from("<IIII", arg)
            # major minor max_readahead flags max_background congestion_threshold
            # max_write time_gran max_pages map_alignment flags2 max_stack_depth unused[6]
            body = struct.pack("<IIIIHHIIHHII24x", 7, min(minor, 31), 0, 0, 16, 12, 4096, 1, 1, 0, 0, 0)
            reply(fd, unique, body)
            with open(ready, "w") as f:
                f.write("mounted\n")
        elif opcode == FUSE_LOOKUP:
            name = arg.split(b"\0")[0].decode(errors="replace")
            if name == "argv":
                # nodeid generation entry_valid attr_valid entry_nsec attr_nsec, attr
                reply(fd, unique, struct.pack("<QQQQII", ARGV_INO, 1, DAY, DAY, 0, 0) + attr_of(ARGV_INO))
            elif name not in looked_up:
                looked_up.add(name)
                reply(fd, unique, error=-2)
            else:
                hold("LOOKUP", name)
        elif opcode == FUSE_GETATTR:
            reply(fd, unique, struct.pack("<QII", DAY, 0, 0) + attr_of(nodeid))
        elif opcode == FUSE_OPEN:
            reply(fd, unique, struct.pack("<QII", 1, 0, 0))
        elif opcode == FUSE_READ:
            hold("READ", "argv")
        else:
            reply(fd, unique, error=-38)


if __name__ == "__main__":
    main()
