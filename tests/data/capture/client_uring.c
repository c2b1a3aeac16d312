/* Connects to argv[1] through io_uring (IORING_OP_CONNECT), so no connect(2)
 * syscall is made; with argv[2], then stays alive that many seconds (so that its
 * /proc entry outlives the connect). Build: gcc -o client_uring client_uring.c -luring */
#include <liburing.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct io_uring ring;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (io_uring_queue_init(2, &ring, 0) < 0) { perror("io_uring_queue_init"); return 2; }
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_connect(sqe, fd, (struct sockaddr *)&a, sizeof a);
    /* SOCKWATCH_URING_ASYNC=1: have an io-wq worker run the connect. */
    if (getenv("SOCKWATCH_URING_ASYNC")) io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
    io_uring_submit(&ring);
    struct io_uring_cqe *cqe;
    io_uring_wait_cqe(&ring, &cqe);
    int res = cqe->res;
    if (res < 0) printf("connect: %s\n", strerror(-res));
    fflush(stdout);
    if (argc > 2) sleep(atoi(argv[2]));
    return res < 0;
}
