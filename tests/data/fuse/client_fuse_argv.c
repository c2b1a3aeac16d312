/* A process whose argv the kernel cannot read without asking a FUSE daemon.
 *
 * Usage: client_fuse_argv SOCKET FILE
 * Re-executes itself with a 12 KB argument, then maps FILE (on a FUSE mount
 * that never answers a READ) over the page of its argv strings that begins
 * after the first 128 bytes and within the first 4 KiB: audit's PROCTITLE (the
 * first 128 bytes) is read as usual, but a longer read of /proc/PID/cmdline
 * faults on that page and waits for the FUSE daemon. Then it connects to
 * SOCKET, prints the result and stays alive 60 s.
 * Build: cc -O1 -o client_fuse_argv client_fuse_argv.c */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define PAD 12000

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s SOCKET FILE\n", argv[0]); return 2; }
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)argv[0];
    uintptr_t b = (start + 128 + page - 1) & ~(page - 1);
    const char *tries = getenv("TRIES");
    int n = tries ? atoi(tries) : 0;
    if (argc < 4 || b + page > (uintptr_t)argv[3] + strlen(argv[3]) || b - start >= 4096) {
        /* Not laid out as needed yet: again with the pad, and with a longer
         * environment, which moves the argv strings down the stack. */
        if (n > 4) { fprintf(stderr, "cannot lay out the argv\n"); return 2; }
        static char pad[PAD + 1], shift[600];
        memset(pad, 'x', PAD);
        snprintf(shift, sizeof shift, "SHIFT=%*s", 100 * n + 1, "");
        char again[32];
        snprintf(again, sizeof again, "TRIES=%d", n + 1);
        char *args[] = {argv[0], argv[1], argv[2], pad, NULL};
        char *env[] = {again, shift, NULL};
        execve("/proc/self/exe", args, env);
        perror("execve");
        return 2;
    }
    char sock[108];
    strncpy(sock, argv[1], sizeof sock - 1);
    sock[sizeof sock - 1] = 0;
    int f = open(argv[2], O_RDONLY);
    if (f < 0) { perror("open"); return 2; }
    if (mmap((void *)b, page, PROT_READ, MAP_PRIVATE | MAP_FIXED, f, 0) == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, sock, sizeof sock);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    int r = connect(s, (struct sockaddr *)&a, sizeof a);
    printf("connect: %s (argv page at +%lu)\n", r ? "failed" : "ok", (unsigned long)(b - start));
    fflush(stdout);
    sleep(60);
    return r != 0;
}
