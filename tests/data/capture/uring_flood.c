/* A flood of io_uring connects: uring_flood TARGET SECONDS, where TARGET is
 * "inet" (AF_INET to 127.0.0.1 port 9, refused at once) or a unix socket path.
 * Submits 32 connects per io_uring_enter, each on a fresh socket, for SECONDS
 * seconds, and prints how many it made and their rate.
 * Build: cc -O2 -o uring_flood uring_flood.c -luring */
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s inet|PATH SECONDS\n", argv[0]); return 2; }
    int inet = strcmp(argv[1], "inet") == 0;
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(9)};
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    strncpy(un.sun_path, argv[1], sizeof un.sun_path - 1);
    struct sockaddr *a = inet ? (struct sockaddr *)&in : (struct sockaddr *)&un;
    socklen_t alen = inet ? sizeof in : sizeof un;
    struct io_uring ring;
    if (io_uring_queue_init(BATCH, &ring, 0) < 0) { perror("io_uring_queue_init"); return 2; }
    double t0 = now(), until = t0 + atof(argv[2]);
    long n = 0;
    int fds[BATCH];
    while (now() < until) {
        for (int i = 0; i < BATCH; i++) {
            fds[i] = socket(inet ? AF_INET : AF_UNIX, SOCK_STREAM, 0);
            struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
            io_uring_prep_connect(sqe, fds[i], a, alen);
        }
        io_uring_submit_and_wait(&ring, BATCH);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&ring, head, cqe) seen++;
        io_uring_cq_advance(&ring, seen);
        for (int i = 0; i < BATCH; i++) close(fds[i]);
        n += BATCH;
    }
    double dt = now() - t0;
    printf("uring_flood: %ld connects in %.2f s, %.0f/s\n", n, dt, n / dt);
    return 0;
}
