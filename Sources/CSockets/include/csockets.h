#ifndef GTMD_CSOCKETS_H
#define GTMD_CSOCKETS_H

/*
 * Small C shim for the UDP fast path: batched receive/send (recvmmsg/sendmmsg) and socket setup; and
 * for the health prober's TCP connects (an epoll set and non-blocking connects, connect_probe.c).
 * Swift's Glibc module does not expose mmsghdr/recvmmsg, so everything GNU-specific stays in
 * csockets.c. This header only uses opaque types, fixed-width integers and plain pointers so it
 * imports cleanly into Swift.
 *
 * Error convention: functions returning int return a negative errno value on failure.
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One batch of datagrams: n receive slots, n reply slots, n peer addresses, the mmsghdr arrays for
 * recvmmsg/sendmmsg and one `gtmd_pkt` descriptor per slot. Allocated once per worker, reused for every
 * batch. Not thread-safe: one batch belongs to one thread. */
typedef struct gtmd_batch gtmd_batch;

/* What the worker needs of one received datagram, filled by gtmd_batch_recv in one pass so the answering
 * loop reads plain fields instead of calling an accessor per field. */
typedef struct gtmd_pkt {
    const uint8_t *in;   /* the query bytes (len of them) */
    uint8_t *out;        /* the reply slot (gtmd_batch_out_cap bytes) */
    uint64_t addr[2];    /* sender address bytes in network order (IPv4: first 4 bytes, rest 0) */
    uint32_t len;        /* query length; 0 for an empty datagram */
    uint32_t out_len;    /* set by the caller: reply length, 0 = send nothing; above the capacity = nothing */
    uint16_t port;       /* sender port, host order */
    uint8_t family;      /* 4 or 6; 0 = unknown address family (drop) */
    uint8_t truncated;   /* 1 = the datagram did not fit the slot (MSG_TRUNC): drop */
} gtmd_pkt;

/* Allocates a batch of `n` messages (1...1024) with `in_size`-byte receive slots and `out_size`-byte
 * reply slots. `pktinfo` != 0: the socket delivers IP_PKTINFO / IPV6_PKTINFO (wildcard binds), so every
 * receive gets a control buffer and every reply leaves from the address its query was sent to; 0: no
 * control buffers at all. Returns NULL on bad arguments or out of memory. */
gtmd_batch *gtmd_batch_new(unsigned n, unsigned in_size, unsigned out_size, int pktinfo);
void gtmd_batch_free(gtmd_batch *b);

/* Capacity (number of messages) of the batch. */
unsigned gtmd_batch_capacity(const gtmd_batch *b);

/* Blocking recvmmsg(MSG_WAITFORONE) into the batch: waits for at least one datagram (or the socket's
 * receive timeout), then takes whatever else is already queued, up to capacity. Fills the descriptors
 * of the datagrams received (out_len = 0). Returns the number received (>= 0), or -errno (-EAGAIN /
 * -EWOULDBLOCK on receive timeout). EINTR is retried internally. */
int gtmd_batch_recv(gtmd_batch *b, int fd);

/* The descriptors; the first (value returned by gtmd_batch_recv) are valid after a receive. */
gtmd_pkt *gtmd_batch_pkts(gtmd_batch *b);

/* Capacity of every reply slot. */
unsigned gtmd_batch_out_cap(const gtmd_batch *b);

/* sendmmsg's every reply with 0 < out_len <= capacity to the peer it came from (from the address the
 * query was sent to, with pktinfo). Loops on partial sends; a message the kernel refuses (EAGAIN,
 * ECONNREFUSED, EPERM, ENETUNREACH, ...) is skipped. `count` is the number of datagrams of the last
 * receive. Returns the number of replies sent. */
int gtmd_batch_send(gtmd_batch *b, int fd, unsigned count);

/* 1 if the UDP socket was set up to deliver packet info (IP_PKTINFO / IPV6_RECVPKTINFO), else 0. */
int gtmd_udp_has_pktinfo(int fd);

/* Parses an IPv4 or IPv6 literal. Returns 4 or 6, or 0 if `host` is neither. */
int gtmd_parse_family(const char *host);

/* Creates a UDP socket bound to host:port with SO_REUSEPORT (and IPV6_V6ONLY for IPv6),
 * IP_PKTINFO / IPV6_RECVPKTINFO when host is the wildcard address (0.0.0.0 or ::), path MTU discovery
 * off (IP_MTU_DISCOVER / IPV6_MTU_DISCOVER = *_PMTUDISC_OMIT: no DF, ICMP-reported MTUs ignored),
 * SO_RCVBUF/SO_SNDBUF set to `buf_bytes` (0 = kernel default) and a receive timeout of
 * `recv_timeout_ms` (0 = none). Returns the fd, or -errno (-EAFNOSUPPORT if host is not an IP
 * literal). The socket is blocking and close-on-exec. */
int gtmd_udp_socket(const char *host, uint16_t port, int buf_bytes, int recv_timeout_ms);

/* The local port a socket is bound to (host order), or -errno. */
int gtmd_local_port(int fd);
/* A listening TCP socket on host:port (SO_REUSEADDR, IPV6_V6ONLY for IPv6, non-blocking, close-on-exec), for
 * the DNS listener to bind before anything serves and to hand to NIO later; -errno on failure. */
int gtmd_tcp_listener(const char *host, uint16_t port, int backlog);
/* listen(2) again on a listening socket: sets its backlog (NIO listens with its own default). */
int gtmd_listen(int fd, int backlog);

/* shutdown(fd, SHUT_RD): wakes a thread blocked in gtmd_batch_recv (Linux), while replies of a
 * batch in progress can still be sent. Returns 0 or -errno (-ENOTCONN is normal for UDP). */
int gtmd_shutdown_read(int fd);

/* close(fd). Returns 0 or -errno. */
int gtmd_close(int fd);

/* Names the calling thread (truncated to 15 bytes) for ps/top/gdb. Returns 0 or an errno value. */
int gtmd_set_thread_name(const char *name);

/* Human-readable text for a (positive) errno value; never NULL. */
const char *gtmd_strerror(int err);

/* TCP connect and plain HTTP probes (connect_probe.c): one epoll set per probing thread. Tags are the caller's 64-bit
 * handles, returned by gtmd_poll_wait for each ready descriptor. */

/* A new epoll set (close-on-exec), or -errno. */
int gtmd_poll_new(void);

/* An eventfd in set `ep` reported with `tag`: gtmd_poll_wake from any thread ends a wait. */
int gtmd_poll_wake_new(int ep, uint64_t tag);
int gtmd_poll_wake(int wake_fd);
/* Reads the eventfd's counter back to zero. */
void gtmd_poll_wake_drain(int wake_fd);

/* CLOCK_MONOTONIC in nanoseconds: the probe thread's clock (a vDSO read, no arithmetic on 128-bit durations). */
int64_t gtmd_monotonic_ns(void);

/* Waits up to timeout_ms (-1: no limit) for at most `max` (<= 64) ready descriptors of `ep` and writes
 * their tags; returns how many (0 on timeout or signal), or -errno. */
int gtmd_poll_wait(int ep, uint64_t *tags, int max, int timeout_ms);

/* Starts a non-blocking TCP connect to `addr` (a sockaddr_in or sockaddr_in6 of addr_len bytes). Returns
 * the socket: with *connected = 1 when the connect already succeeded, else in progress and watched by
 * `ep` under `tag` (one writable event when the handshake ends). Returns -errno when it failed at once. */
int gtmd_connect_start(int ep, const void *addr, uint32_t addr_len, uint64_t tag, int *connected);

/* The outcome of a connect that gtmd_connect_start left in progress (0: connected, or -errno); the socket
 * stays open (an HTTP probe goes on on it; gtmd_connect_close ends it). */
int gtmd_connect_error(int fd);

/* Watches `fd` in `ep` under `tag` for one event: readable (or the peer's end) when `readable`, else
 * writable. Returns 0 or -errno. */
int gtmd_poll_rearm(int ep, int fd, uint64_t tag, int readable);

/* Non-blocking send (no SIGPIPE) of up to len bytes: how many went (0: the socket buffer is full), or -errno. */
long gtmd_stream_send(int fd, const void *buf, size_t len);

/* gtmd_stream_recv's result at the end of the stream. */
#define GTMD_STREAM_EOF (-1000000L)

/* Non-blocking receive of up to len bytes: how many came (0: none yet), GTMD_STREAM_EOF, or -errno. */
long gtmd_stream_recv(int fd, void *buf, size_t len);

/* Closes a probe's socket with a reset (SO_LINGER 0), leaving no TIME_WAIT socket behind. */
void gtmd_connect_close(int fd);

#ifdef __cplusplus
}
#endif

#endif
