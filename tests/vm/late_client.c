/* A container's process for the late-audit check of tests/vm/debian-guest.sh:
 *
 *   late_client SOCKET FIFO SECONDS
 *
 * Blocks until someone writes to FIFO, then connects to SOCKET from this same
 * task (no fork, no exec: the kernel gives a task an audit context, or not, when
 * it creates it, and only once audit has ever been enabled since boot), prints
 * "connect: ok" or the errno text, and stays SECONDS more, so that its container
 * is alive when sockwatch looks at it. The guest starts it before audit is turned
 * on, and again after, as the control. Built with gcc -static on the host
 * (tests/vm/debian-host.sh) into the harness's container image. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: late_client SOCKET FIFO SECONDS\n");
        return 2;
    }
    int f = open(argv[2], O_RDONLY); /* returns once a writer has it open */
    if (f < 0) {
        printf("open %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    char c;
    (void)!read(f, &c, 1);
    close(f);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    int r = connect(fd, (struct sockaddr *)&a, sizeof a);
    printf("connect: %s\n", r < 0 ? strerror(errno) : "ok");
    fflush(stdout);
    close(fd);
    sleep((unsigned)atoi(argv[3]));
    return r < 0;
}
