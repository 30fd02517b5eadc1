/* TCP connect probes without an event-loop framework: a non-blocking connect watched by one epoll set,
 * and an eventfd that wakes the waiting thread. Used by the health scheduler's thread (one thread owns
 * one poller). See csockets.h for the contract. */
#define _GNU_SOURCE
#include "csockets.h"

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int gtmd_poll_new(void) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    return ep < 0 ? -errno : ep;
}

int gtmd_poll_wake_new(int ep, uint64_t tag) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) return -errno;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int gtmd_poll_wake(int wake_fd) {
    uint64_t one = 1;
    return write(wake_fd, &one, sizeof one) < 0 && errno != EAGAIN ? -errno : 0;
}

void gtmd_poll_wake_drain(int wake_fd) {
    uint64_t n;
    while (read(wake_fd, &n, sizeof n) > 0) {}
}

int64_t gtmd_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int gtmd_poll_wait(int ep, uint64_t *tags, int max, int timeout_ms) {
    struct epoll_event evs[64];
    if (max > 64) max = 64;
    int n = epoll_wait(ep, evs, max, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) tags[i] = evs[i].data.u64;
    return n;
}

int gtmd_connect_start(int ep, const void *addr, uint32_t addr_len, uint64_t tag, int *connected) {
    const struct sockaddr *sa = addr;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    *connected = 0;
    if (connect(fd, sa, (socklen_t)addr_len) == 0) {
        *connected = 1;
        return fd;
    }
    if (errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return -e;
    }
    /* Writable when the handshake ends either way; one event is all a probe needs. */
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLONESHOT, .data.u64 = tag};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int gtmd_connect_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    return -err;
}

int gtmd_poll_rearm(int ep, int fd, uint64_t tag, int readable) {
    struct epoll_event ev = {.events = (readable ? EPOLLIN | EPOLLRDHUP : EPOLLOUT) | EPOLLONESHOT, .data.u64 = tag};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) == 0) return 0;
    if (errno == ENOENT && epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0) return 0;
    return -errno;
}

long gtmd_stream_send(int fd, const void *buf, size_t len) {
    for (;;) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) return (long)n;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    }
}

long gtmd_stream_recv(int fd, void *buf, size_t len) {
    for (;;) {
        ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
        if (n > 0) return (long)n;
        if (n == 0) return GTMD_STREAM_EOF;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    }
}

void gtmd_connect_close(int fd) {
    /* Reset rather than FIN: no TIME_WAIT socket per probe on this side (a thousand probes a second would
     * keep some 60,000 of them and could use up the source ports towards one busy address). */
    struct linger reset = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    close(fd); /* also leaves the epoll set: the probe held the only reference */
}
