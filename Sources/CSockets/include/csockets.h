#ifndef GTMD_CSOCKETS_H
#define GTMD_CSOCKETS_H

/*
 * Small C shim for the UDP fast path: batched receive/send (recvmmsg/sendmmsg) and socket setup.
 * Swift's Glibc module does not expose mmsghdr/recvmmsg, so everything GNU-specific stays in
 * csockets.c. This header only uses opaque types, fixed-width integers and plain pointers so it
 * imports cleanly into Swift.
 *
 * Error convention: functions returning int return a negative errno value on failure.
 */

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One batch of datagrams: n input buffers, n output buffers, n peer addresses, and the
 * mmsghdr arrays for recvmmsg/sendmmsg. Allocated once per worker, reused for every batch.
 * Not thread-safe: one batch belongs to one thread. */
typedef struct gtmd_batch gtmd_batch;

/* Allocates a batch of `n` messages (1...1024) with `in_size`-byte receive buffers and
 * `out_size`-byte reply buffers. Returns NULL on bad arguments or out of memory. */
gtmd_batch *gtmd_batch_new(unsigned n, unsigned in_size, unsigned out_size);
void gtmd_batch_free(gtmd_batch *b);

/* Capacity (number of messages) of the batch. */
unsigned gtmd_batch_capacity(const gtmd_batch *b);

/* Blocking recvmmsg(MSG_WAITFORONE) into the batch: waits for at least one datagram (or the
 * socket's receive timeout), then takes whatever else is already queued, up to capacity.
 * Resets every reply length to 0. Returns the number of datagrams received (>= 0), or -errno
 * (-EAGAIN/-EWOULDBLOCK on receive timeout). EINTR is retried internally. */
int gtmd_batch_recv(gtmd_batch *b, int fd);

/* Accessors for the i-th received datagram (i < value returned by gtmd_batch_recv). */
const uint8_t *gtmd_batch_in(const gtmd_batch *b, unsigned i);
unsigned gtmd_batch_in_len(const gtmd_batch *b, unsigned i);
/* 1 if the datagram did not fit the receive buffer (MSG_TRUNC), else 0. */
int gtmd_batch_in_truncated(const gtmd_batch *b, unsigned i);

/* Copies the i-th sender's address into addr16 (16 bytes, network order; IPv4 uses the first 4
 * bytes and zeroes the rest) and its port (host order) into *port. Returns 4 or 6 for the
 * address family, or 0 if the family is unknown (addr16 zeroed, *port = 0). */
int gtmd_batch_peer(const gtmd_batch *b, unsigned i, void *addr16, uint16_t *port);

/* Reply buffer for the i-th datagram and its capacity. */
uint8_t *gtmd_batch_out(gtmd_batch *b, unsigned i);
unsigned gtmd_batch_out_cap(const gtmd_batch *b);
/* Sets the i-th reply length; 0 = send nothing. Lengths above the capacity are treated as 0. */
void gtmd_batch_set_out_len(gtmd_batch *b, unsigned i, unsigned len);

/* sendmmsg's every reply with length > 0 to the peer it came from (from the address the query was
 * sent to, on wildcard sockets). Loops on partial sends;
 * a message the kernel refuses (EAGAIN, ECONNREFUSED, EPERM, ENETUNREACH, ...) is skipped.
 * `count` is the number of datagrams of the last receive. Returns the number of replies sent. */
int gtmd_batch_send(gtmd_batch *b, int fd, unsigned count);

/* Parses an IPv4 or IPv6 literal. Returns 4 or 6, or 0 if `host` is neither. */
int gtmd_parse_family(const char *host);

/* Creates a UDP socket bound to host:port with SO_REUSEPORT (and IPV6_V6ONLY for IPv6),
 * IP_PKTINFO / IPV6_RECVPKTINFO when host is the wildcard address (0.0.0.0 or ::),
 * SO_RCVBUF/SO_SNDBUF set to `buf_bytes` (0 = kernel default) and a receive timeout of
 * `recv_timeout_ms` (0 = none). Returns the fd, or -errno (-EAFNOSUPPORT if host is not an IP
 * literal). The socket is blocking and close-on-exec. */
int gtmd_udp_socket(const char *host, uint16_t port, int buf_bytes, int recv_timeout_ms);

/* The local port a socket is bound to (host order), or -errno. */
int gtmd_local_port(int fd);

/* shutdown(fd, SHUT_RD): wakes a thread blocked in gtmd_batch_recv (Linux), while replies of a
 * batch in progress can still be sent. Returns 0 or -errno (-ENOTCONN is normal for UDP). */
int gtmd_shutdown_read(int fd);

/* close(fd). Returns 0 or -errno. */
int gtmd_close(int fd);

/* Names the calling thread (truncated to 15 bytes) for ps/top/gdb. Returns 0 or an errno value. */
int gtmd_set_thread_name(const char *name);

/* Human-readable text for a (positive) errno value; never NULL. */
const char *gtmd_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif
