#!/usr/bin/env python3
"""Writes every audit record the kernel multicasts, one per line, as
`type=N audit(...): ...` with the payload's bytes untouched (so test data keeps
any non-UTF-8 bytes). Runs until killed. Used by capture.sh only."""
import socket, struct, sys

s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9)  # NETLINK_AUDIT
s.bind((0, 1))  # group bitmask: AUDIT_NLGRP_READLOG
out = open(sys.argv[1], "ab", buffering=0)
while True:
    d = s.recv(65536)
    mtype = struct.unpack_from("=H", d, 4)[0]
    payload = d[16:].rstrip(b"\0\n")
    out.write(b"type=%d " % mtype + payload + b"\n")
