/* Writes every audit record the kernel multicasts (NETLINK_AUDIT, group
 * AUDIT_NLGRP_READLOG) to standard output, one per line, as
 * `type=N audit(...): ...`, as tests/data/capture/reader.py does, flushing each
 * line. Runs until killed. Read-only: it changes no audit state (no auditctl).
 * The guest harness uses it to see which records of an event arrive without EOE.
 * Built with gcc -static on the host (tests/vm/debian-host.sh). */
#include <linux/netlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
    int s = socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT);
    if (s < 0) { perror("socket"); return 1; }
    struct sockaddr_nl a;
    memset(&a, 0, sizeof a);
    a.nl_family = AF_NETLINK;
    a.nl_groups = 1; /* AUDIT_NLGRP_READLOG */
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 1; }
    int big = 8 << 20;
    setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    static char buf[65536];
    for (;;) {
        ssize_t n = recv(s, buf, sizeof buf, 0);
        if (n < 0) {
            perror("recv"); /* ENOBUFS: records lost; keep reading */
            continue;
        }
        if ((size_t)n < sizeof(struct nlmsghdr)) continue;
        struct nlmsghdr *h = (struct nlmsghdr *)buf;
        size_t len = (size_t)n - NLMSG_HDRLEN;
        char *p = buf + NLMSG_HDRLEN;
        while (len > 0 && (p[len - 1] == 0 || p[len - 1] == '\n')) len--;
        printf("type=%u %.*s\n", h->nlmsg_type, (int)len, p);
        fflush(stdout);
    }
}
