/* Load for bench/live.sh.
 *   loadgen serve PATH            accept and close connections on PATH forever
 *   loadgen connect PATH SECS OUT [RATE]
 *                                 connect to PATH for SECS seconds, as fast as
 *                                 possible or RATE per second; write to OUT one
 *                                 line per connect:
 *                                 the CLOCK_REALTIME nanoseconds when connect()
 *                                 returned, and its result (0 or errno)
 * One process makes every connect, so sockwatch's findings for its pid come in
 * the order of these lines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, argv[2], sizeof a.sun_path - 1);
    if (!strcmp(argv[1], "serve")) {
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        unlink(argv[2]);
        if (bind(s, (void *)&a, sizeof a) || listen(s, 4096)) { perror("bind/listen"); return 1; }
        for (;;) {
            int c = accept(s, NULL, NULL);
            if (c >= 0) close(c);
        }
    }
    if (argc < 5) return 2;
    double secs = atof(argv[3]);
    double rate = argc > 5 ? atof(argv[5]) : 0;
    long long start = now_ns(CLOCK_MONOTONIC);
    size_t cap = 1 << 22, n = 0;
    long long *when = malloc(cap * sizeof *when);
    int *res = malloc(cap * sizeof *res);
    long long end = now_ns(CLOCK_MONOTONIC) + (long long)(secs * 1e9);
    while (n < cap && now_ns(CLOCK_MONOTONIC) < end) {
        if (rate > 0) {
            long long due = start + (long long)(n * 1e9 / rate);
            struct timespec t = {due / 1000000000LL, due % 1000000000LL};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
        }
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        int r = connect(s, (void *)&a, sizeof a);
        when[n] = now_ns(CLOCK_REALTIME);
        res[n++] = r ? errno : 0;
        close(s);
    }
    FILE *f = fopen(argv[4], "w");
    for (size_t i = 0; i < n; i++) fprintf(f, "%lld %d\n", when[i], res[i]);
    fclose(f);
    printf("%zu\n", n);
    return 0;
}
