/* Connects to argv[1] the way C programs usually do: with the whole sockaddr_un,
 * so whatever sits after sun_path's NUL (here, deliberate garbage) goes to the
 * kernel too. Prints the errno name on failure. Built with -m32 and given a second
 * argument "socketcall", it connects through socketcall(2) instead of connect(2).
 * With SW_STAY=N in its environment it stays alive N seconds after connecting. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(int argc, char **argv) {
    struct sockaddr_un a;
    memset(&a, 0xA5, sizeof a);
    a.sun_family = AF_UNIX;
    size_t n = strlen(argv[1]);
    memcpy(a.sun_path, argv[1], n);
    a.sun_path[n] = 0;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    int r;
#ifdef SYS_socketcall
    if (argc > 2 && strcmp(argv[2], "socketcall") == 0) {
        unsigned long args[3] = {(unsigned long)fd, (unsigned long)&a, sizeof a};
        r = syscall(SYS_socketcall, 3 /* SYS_CONNECT */, args);
    } else
#endif
        r = connect(fd, (struct sockaddr *)&a, sizeof a);
    if (r < 0) printf("connect: %s\n", strerror(errno));
    fflush(stdout);
    close(fd);
    const char *stay = getenv("SW_STAY");
    if (stay) sleep(atoi(stay));
    return r < 0;
}
