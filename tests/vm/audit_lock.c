/* Locks the kernel's audit configuration (AUDIT_SET enabled=2, as `auditctl -e 2`)
 * until reboot. Only ever run inside the throw-away test VM. */
#include <linux/audit.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
    int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT);
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    struct {
        struct nlmsghdr h;
        struct audit_status s;
    } req;
    memset(&req, 0, sizeof req);
    req.h.nlmsg_len = sizeof req;
    req.h.nlmsg_type = AUDIT_SET;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req.h.nlmsg_seq = 1;
    req.s.mask = AUDIT_STATUS_ENABLED;
    req.s.enabled = 2;
    if (sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
        perror("sendto");
        return 1;
    }
    char buf[8192];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (n < (ssize_t)sizeof *h || h->nlmsg_type != NLMSG_ERROR) {
        fprintf(stderr, "audit-lock: no ack\n");
        return 1;
    }
    int err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
    if (err) {
        fprintf(stderr, "audit-lock: %s\n", strerror(-err));
        return 1;
    }
    return 0;
}
