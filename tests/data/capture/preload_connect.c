/* LD_PRELOAD=preload_connect.so SW_SOCK=PATH any-program: before the program's
 * main, names the process runc:[2:INIT] (as runc's set-up does), connects to
 * PATH, prints the result and exits. Run with the host's runc from a container
 * that mounts the host's /usr: the name and the program of runc's set-up, in a
 * workload's hands. Build: cc -shared -fPIC -o preload_connect.so preload_connect.c */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

__attribute__((constructor)) static void connect_first(void) {
    const char *path = getenv("SW_SOCK");
    if (!path) return;
    prctl(PR_SET_NAME, "runc:[2:INIT]");
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    int r = connect(fd, (struct sockaddr *)&a, sizeof a);
    printf("preload connect: %s\n", r == 0 ? "ok" : "failed");
    fflush(stdout);
    _exit(r != 0);
}
