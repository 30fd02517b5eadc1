/* acceptor: the backend of the probe-load runs. Listens on 0.0.0.0:PORT (every 127.x address a TCP
 * check connects to lands here), accepts every connection and closes it at once, for SECS seconds.
 * Prints the number of connections accepted (also when stopped by SIGTERM or SIGINT). C instead of
 * Python so that 1,000 connections a second cost little CPU beside the server under test. With `http`, it
 * reads each request (up to its blank line, 100 ms at most) and answers `200 OK` with a 2-byte body first.
 *
 *   acceptor PORT SECS [http] */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

/* Reads one request head (blocking, 100 ms at most) and writes a fixed `200 OK`. */
static void answer(int c) {
    struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    size_t have = 0;
    while (have < sizeof buf - 1) {
        ssize_t n = recv(c, buf + have, sizeof buf - 1 - have, 0);
        if (n <= 0) return;
        have += (size_t)n;
        buf[have] = 0;
        if (strstr(buf, "\r\n\r\n")) break;
    }
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    (void)!send(c, ok, sizeof ok - 1, MSG_NOSIGNAL);
}

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv) {
    if (argc != 3 && !(argc == 4 && strcmp(argv[3], "http") == 0)) {
        fprintf(stderr, "usage: acceptor PORT SECS [http]\n");
        return 2;
    }
    int http = argc == 4;
    int port = atoi(argv[1]);
    double secs = atof(argv[2]);
    if (port <= 0 || port > 65535 || secs <= 0 || secs > 3600) { fprintf(stderr, "acceptor: bad arguments\n"); return 2; }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4096) != 0) { perror("acceptor"); return 1; }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned long accepted = 0;
    while (!stop) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >= secs) break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 200) <= 0) continue;
        for (;;) {
            int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
            if (c < 0) break;
            if (http) answer(c);
            close(c);
            accepted++;
        }
    }
    printf("accepted %lu\n", accepted);
    return 0;
}
