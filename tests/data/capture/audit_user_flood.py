#!/usr/bin/env python3
"""A flood of audit user messages: audit_user_flood.py SECONDS.

Sends AUDIT_USER_AUTH (1100) messages over NETLINK_AUDIT as fast as it can for
SECONDS seconds, as any process with CAP_AUDIT_WRITE may (Docker grants it to
containers by default), and prints how many it sent and refused.
"""
import errno
import socket
import struct
import sys
import time

NETLINK_AUDIT, AUDIT_USER_AUTH, NLM_F_REQUEST = 9, 1100, 1


def main():
    seconds = float(sys.argv[1])
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT)
    body = b"op=flood acct=\"sockwatch-test\" res=success\0"
    sent = refused = 0
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        for _ in range(256):
            msg = struct.pack("<IHHII", 16 + len(body), AUDIT_USER_AUTH, NLM_F_REQUEST, sent, 0) + body
            try:
                s.send(msg)
                sent += 1
            except OSError as e:
                if e.errno in (errno.ECONNREFUSED, errno.EPERM):
                    sys.exit(f"audit_user_flood: the kernel refuses user messages: {e}")
                refused += 1
    print(f"audit_user_flood: {sent} messages sent, {refused} refused, in {seconds:.0f} s ({sent / seconds:.0f}/s)")


if __name__ == "__main__":
    main()
