/* Process churn for bench/forks.sh: fork a child that exits at once, RATE
 * times a second for SECS seconds, reaping each one. Prints the forks made.
 *   forker RATE SECS */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    double rate = atof(argv[1]), secs = atof(argv[2]);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long long t0 = start.tv_sec * 1000000000LL + start.tv_nsec;
    long long n = 0, total = (long long)(rate * secs);
    for (; n < total; n++) {
        long long due = t0 + (long long)(n * 1e9 / rate);
        struct timespec t = {due / 1000000000LL, due % 1000000000LL};
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
        pid_t p = fork();
        if (p == 0) _exit(0);
        if (p < 0) { perror("fork"); return 1; }
        waitpid(p, NULL, 0);
    }
    printf("%lld\n", n);
    return 0;
}
