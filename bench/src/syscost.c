/* Cost per call of connect() to a unix socket (not the watched one, the
 * common case on a host) and of getpid(), for bench/overhead.sh.
 *   syscost PATH N   prints "connect_ns getpid_ns" (the best of 5 rounds) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, argv[1], sizeof a.sun_path - 1);
    long n = atol(argv[2]);
    int fds[2048];
    double best_c = 1e18, best_g = 1e18;
    for (int round = 0; round < 5; round++) {
        double total = 0;
        /* connect() alone is timed: socket() and close() are outside */
        for (long i = 0; i < n; i += 2048) {
            int k = n - i < 2048 ? n - i : 2048;
            for (int j = 0; j < k; j++) fds[j] = socket(AF_UNIX, SOCK_STREAM, 0);
            double c0 = now();
            for (int j = 0; j < k; j++) connect(fds[j], (void *)&a, sizeof a);
            total += now() - c0;
            for (int j = 0; j < k; j++) close(fds[j]);
        }
        if (total / n < best_c) best_c = total / n;
        double g0 = now();
        for (long i = 0; i < n; i++) syscall(SYS_getpid);
        double g = (now() - g0) / n;
        if (g < best_g) best_g = g;
    }
    printf("%.0f %.0f\n", best_c, best_g);
    return 0;
}
