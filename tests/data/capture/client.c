/* Connects to argv[1] the way C programs usually do: with the whole sockaddr_un,
 * so whatever sits after sun_path's NUL (here, deliberate garbage) goes to the
 * kernel too. Prints the errno name on failure. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct sockaddr_un a;
    memset(&a, 0xA5, sizeof a);
    a.sun_family = AF_UNIX;
    size_t n = strlen(argv[1]);
    memcpy(a.sun_path, argv[1], n);
    a.sun_path[n] = 0;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        printf("connect: %s\n", strerror(errno));
        return 1;
    }
    close(fd);
    return 0;
}
