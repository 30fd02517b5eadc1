/* connect_close: the floor of a TCP health probe on this machine. N times: a socket with TCP_NODELAY, a
 * blocking connect to 127.100.0.1:PORT (bench/gen/acceptor.c accepts and closes), close; then the CPU time
 * this process used per probe (user + system, from getrusage). On loopback the connecting side also runs
 * the handshake's softirq work, so this is close to all the kernel's cost of one probe.
 *
 *   acceptor PORT 30 & connect_close PORT N      (N <= 1,000,000) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: connect_close PORT N\n"); return 2; }
    int port = atoi(argv[1]), n = atoi(argv[2]);
    if (port <= 0 || port > 65535 || n < 1 || n > 1000000) { fprintf(stderr, "connect_close: bad arguments\n"); return 2; }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.100.0.1", &to.sin_addr);
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        if (fd < 0) { perror("socket"); return 1; }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, (struct sockaddr *)&to, sizeof to) != 0) { perror("connect"); return 1; }
        close(fd);
    }
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    double user = (double)r.ru_utime.tv_sec + (double)r.ru_utime.tv_usec / 1e6;
    double sys = (double)r.ru_stime.tv_sec + (double)r.ru_stime.tv_usec / 1e6;
    printf("%d connects: %.1f us CPU each (user %.1f, system %.1f)\n", n, (user + sys) / n * 1e6, user / n * 1e6,
           sys / n * 1e6);
    return 0;
}
