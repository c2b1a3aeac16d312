/* Clock readings that survive a freeze, for bench/respond.sh.
 *   stampconnect connect PATH FILE   read CLOCK_REALTIME, connect to PATH at once,
 *                                    read it again, then beat
 *   stampconnect beat FILE           beat only (beside another client)
 * FILE is created and mapped shared, six 64-bit integers the host reads while
 * the process is frozen:
 *   [0] CLOCK_REALTIME ns just before connect()   [1] just after it returned
 *   [2] connect's result (0 or errno)             [3] the latest beat's time
 *   [4] beats so far                              [5] 1 once [0..2] are written
 * A beat stores the time every 100 us (a sleep, not a spin, so the client does
 * not take the CPU sockwatch needs), for at most 30 s. Once the cgroup is
 * frozen no beat comes: the last one is when the process last ran, so the
 * freeze took hold between it and the next one. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv) {
    int connecting = argc == 4 && !strcmp(argv[1], "connect");
    if (!connecting && !(argc == 3 && !strcmp(argv[1], "beat"))) return 2;
    const char *file = argv[argc - 1];
    int f = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (f < 0 || ftruncate(f, 6 * sizeof(int64_t))) return 1;
    volatile int64_t *m = mmap(NULL, 6 * sizeof(int64_t), PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
    if (m == MAP_FAILED) return 1;
    if (connecting) {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        strncpy(a.sun_path, argv[2], sizeof a.sun_path - 1);
        int s = socket(AF_UNIX, SOCK_STREAM, 0);
        m[5] = 0; /* the page is faulted in before the clock is read */
        /* Stored before connect(): the freeze may take hold as soon as it returns. */
        m[0] = now_ns();
        int r = connect(s, (struct sockaddr *)&a, sizeof a);
        m[1] = now_ns();
        m[2] = r < 0 ? errno : 0;
        m[5] = 1;
    }
    prctl(PR_SET_TIMERSLACK, 1UL); /* beats 100 us apart, not 150 */
    struct timespec pause = {0, 100000};
    int64_t end = now_ns() + 30 * 1000000000LL;
    for (int64_t n = 1;; n++) {
        int64_t t = now_ns();
        m[3] = t;
        m[4] = n;
        if (t > end) return 0;
        nanosleep(&pause, NULL);
    }
}
