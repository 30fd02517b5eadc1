#define _GNU_SOURCE
#include "csockets.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Room for one IP_PKTINFO or IPV6_PKTINFO control message, suitably aligned. */
union ctrl {
    struct cmsghdr align;
    char buf[64];
};

struct gtmd_batch {
    unsigned n;
    unsigned in_size;
    unsigned out_size;
    /* Distance between slots: the size rounded up to a cache line plus one more line, so the slots
     * do not all map to the same cache sets (a 4096-byte stride would alias in L1/L2). */
    unsigned in_stride;
    unsigned out_stride;
    /* Entries of the mmsghdr/descriptor arrays the last receive wrote (only these need resetting). */
    unsigned used;
    int pktinfo;
    uint8_t *in;                      /* n * in_stride */
    uint8_t *out;                     /* n * out_stride, inside out_base */
    uint8_t *out_base;
    gtmd_pkt *pkts;                   /* n */
    struct sockaddr_storage *peers;   /* n */
    struct iovec *rvec;               /* n */
    struct mmsghdr *rmsg;             /* n */
    struct iovec *svec;               /* n */
    struct mmsghdr *smsg;             /* n, compacted list of replies to send */
    union ctrl *rctrl;                /* n with pktinfo, else NULL: received IP_PKTINFO / IPV6_PKTINFO */
    union ctrl *sctrl;                /* n with pktinfo, else NULL: source-address control data of replies */
};

gtmd_batch *gtmd_batch_new(unsigned n, unsigned in_size, unsigned out_size, int pktinfo) {
    if (n == 0 || n > 1024 || in_size == 0 || out_size == 0 || in_size > 65536 || out_size > 65536)
        return NULL;
    gtmd_batch *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->n = n;
    b->in_size = in_size;
    b->out_size = out_size;
    b->pktinfo = pktinfo != 0;
    b->in_stride = ((in_size + 63u) & ~63u) + 64u;
    b->out_stride = ((out_size + 63u) & ~63u) + 64u;
    b->in = malloc((size_t)n * b->in_stride);
    /* Skew the reply slots by half a page against the query slots. */
    b->out_base = malloc((size_t)n * b->out_stride + 2048u);
    b->out = b->out_base ? b->out_base + 2048u : NULL;
    b->pkts = calloc(n, sizeof *b->pkts);
    b->peers = calloc(n, sizeof *b->peers);
    b->rvec = calloc(n, sizeof *b->rvec);
    b->rmsg = calloc(n, sizeof *b->rmsg);
    b->svec = calloc(n, sizeof *b->svec);
    b->smsg = calloc(n, sizeof *b->smsg);
    if (b->pktinfo) {
        b->rctrl = calloc(n, sizeof *b->rctrl);
        b->sctrl = calloc(n, sizeof *b->sctrl);
    }
    if (!b->in || !b->out || !b->pkts || !b->peers || !b->rvec || !b->rmsg || !b->svec || !b->smsg ||
        (b->pktinfo && (!b->rctrl || !b->sctrl))) {
        gtmd_batch_free(b);
        return NULL;
    }
    for (unsigned i = 0; i < n; i++) {
        b->rvec[i].iov_base = b->in + (size_t)i * b->in_stride;
        b->rvec[i].iov_len = in_size;
        b->rmsg[i].msg_hdr.msg_iov = &b->rvec[i];
        b->rmsg[i].msg_hdr.msg_iovlen = 1;
        b->rmsg[i].msg_hdr.msg_name = &b->peers[i];
        b->rmsg[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
        if (b->pktinfo) {
            b->rmsg[i].msg_hdr.msg_control = b->rctrl[i].buf;
            b->rmsg[i].msg_hdr.msg_controllen = sizeof b->rctrl[i].buf;
        }
        b->pkts[i].in = b->in + (size_t)i * b->in_stride;
        b->pkts[i].out = b->out + (size_t)i * b->out_stride;
    }
    return b;
}

void gtmd_batch_free(gtmd_batch *b) {
    if (!b) return;
    free(b->in);
    free(b->out_base);
    free(b->pkts);
    free(b->peers);
    free(b->rvec);
    free(b->rmsg);
    free(b->svec);
    free(b->smsg);
    free(b->rctrl);
    free(b->sctrl);
    free(b);
}

unsigned gtmd_batch_capacity(const gtmd_batch *b) { return b->n; }

gtmd_pkt *gtmd_batch_pkts(gtmd_batch *b) { return b->pkts; }

int gtmd_batch_recv(gtmd_batch *b, int fd) {
    /* recvmmsg writes only the entries it fills: reset those of the last receive. */
    for (unsigned i = 0; i < b->used; i++) {
        b->rmsg[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
        if (b->pktinfo) b->rmsg[i].msg_hdr.msg_controllen = sizeof b->rctrl[i].buf;
        b->rmsg[i].msg_hdr.msg_flags = 0;
        b->rmsg[i].msg_len = 0;
    }
    b->used = 0;
    int r;
    for (;;) {
        r = recvmmsg(fd, b->rmsg, b->n, MSG_WAITFORONE, NULL);
        if (r >= 0) break;
        if (errno == EINTR) continue;
        return -errno;
    }
    b->used = (unsigned)r;
    for (int i = 0; i < r; i++) {
        const struct msghdr *h = &b->rmsg[i].msg_hdr;
        gtmd_pkt *p = &b->pkts[i];
        unsigned len = b->rmsg[i].msg_len;
        p->truncated = (h->msg_flags & MSG_TRUNC) != 0 || len > b->in_size;
        p->len = len > b->in_size ? b->in_size : len;
        p->out_len = 0;
        const struct sockaddr_storage *ss = &b->peers[i];
        if (ss->ss_family == AF_INET && h->msg_namelen >= sizeof(struct sockaddr_in)) {
            const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
            p->addr[0] = 0;
            p->addr[1] = 0;
            memcpy(p->addr, &sin->sin_addr, 4);
            p->port = ntohs(sin->sin_port);
            p->family = 4;
        } else if (ss->ss_family == AF_INET6 && h->msg_namelen >= sizeof(struct sockaddr_in6)) {
            const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
            memcpy(p->addr, &sin6->sin6_addr, 16);
            p->port = ntohs(sin6->sin6_port);
            p->family = 6;
        } else {
            p->addr[0] = 0;
            p->addr[1] = 0;
            p->port = 0;
            p->family = 0;
        }
    }
    return r;
}

unsigned gtmd_batch_out_cap(const gtmd_batch *b) { return b->out_size; }

/* Puts one control message (level, type, data) into the reply's own control buffer. */
static void put_cmsg(gtmd_batch *b, unsigned i, struct msghdr *h, int level, int type, const void *data, size_t len) {
    h->msg_control = b->sctrl[i].buf;
    h->msg_controllen = CMSG_SPACE(len);
    struct cmsghdr *o = CMSG_FIRSTHDR(h);
    o->cmsg_level = level;
    o->cmsg_type = type;
    o->cmsg_len = CMSG_LEN(len);
    memcpy(CMSG_DATA(o), data, len);
}

/* If the i-th query arrived with packet info (wildcard socket), makes the reply leave from the address
 * the query was sent to, so clients of multi-homed hosts see the address they asked. */
static void set_reply_source(gtmd_batch *b, unsigned i, struct msghdr *h) {
    struct msghdr *r = &b->rmsg[i].msg_hdr;
    if (r->msg_controllen == 0 || (r->msg_flags & MSG_CTRUNC)) return;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(r); c; c = CMSG_NXTHDR(r, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
            c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
            struct in_pktinfo in;
            memcpy(&in, CMSG_DATA(c), sizeof in);
            in.ipi_spec_dst = in.ipi_addr;
            in.ipi_ifindex = 0;
            put_cmsg(b, i, h, IPPROTO_IP, IP_PKTINFO, &in, sizeof in);
            return;
        }
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
            c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
            struct in6_pktinfo in6;
            memcpy(&in6, CMSG_DATA(c), sizeof in6);
            put_cmsg(b, i, h, IPPROTO_IPV6, IPV6_PKTINFO, &in6, sizeof in6);
            return;
        }
    }
}

int gtmd_batch_send(gtmd_batch *b, int fd, unsigned count) {
    if (count > b->used) count = b->used;
    unsigned k = 0;
    for (unsigned i = 0; i < count; i++) {
        unsigned len = b->pkts[i].out_len;
        if (len == 0 || len > b->out_size) continue;
        b->svec[k].iov_base = b->pkts[i].out;
        b->svec[k].iov_len = len;
        struct msghdr *h = &b->smsg[k].msg_hdr;
        h->msg_name = &b->peers[i];
        h->msg_namelen = b->rmsg[i].msg_hdr.msg_namelen;
        h->msg_iov = &b->svec[k];
        h->msg_iovlen = 1;
        h->msg_control = NULL;
        h->msg_controllen = 0;
        h->msg_flags = 0;
        if (b->pktinfo) set_reply_source(b, i, h);
        b->smsg[k].msg_len = 0;
        k++;
    }
    unsigned done = 0, sent = 0;
    while (done < k) {
        int r = sendmmsg(fd, b->smsg + done, k - done, 0);
        if (r > 0) {
            done += (unsigned)r;
            sent += (unsigned)r;
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        /* r == 0 or an error on the first remaining message (EAGAIN, ECONNREFUSED, EPERM,
         * ENETUNREACH, EINVAL, ...): skip that message and go on with the rest. */
        done += 1;
    }
    return (int)sent;
}

int gtmd_udp_has_pktinfo(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return 0;
    int on = 0;
    socklen_t olen = sizeof on;
    if (ss.ss_family == AF_INET && getsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, &olen) == 0) return on != 0;
    if (ss.ss_family == AF_INET6 && getsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, &olen) == 0) return on != 0;
    return 0;
}

/* Fills `ss` from an IP literal; returns the family (4/6) or 0. */
static int parse_addr(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len) {
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        *len = sizeof *sin;
        return 4;
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        *len = sizeof *sin6;
        return 6;
    }
    return 0;
}

int gtmd_parse_family(const char *host) {
    struct sockaddr_storage ss;
    socklen_t len;
    return parse_addr(host, 0, &ss, &len);
}

int gtmd_udp_socket(const char *host, uint16_t port, int buf_bytes, int recv_timeout_ms) {
    struct sockaddr_storage ss;
    socklen_t len;
    int fam = parse_addr(host, port, &ss, &len);
    if (fam == 0) return -EAFNOSUPPORT;
    int fd = socket(fam == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) goto fail;
    if (fam == 6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) goto fail;
    /* Wildcard address: ask for the destination address of each query so replies can leave from it. */
    if (fam == 4 && ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY) &&
        setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) < 0) goto fail;
    if (fam == 6 && IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr) &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one) < 0) goto fail;
    /* Replies never carry DF and ignore the path MTU that ICMP "fragmentation needed" messages report, which
     * anyone can forge to have a server fragment its answers (the attacks on DNS through fragments); replies
     * are kept small by the EDNS buffer size instead. The route's MTU is not looked up per reply either.
     * Best effort: IP_PMTUDISC_OMIT needs Linux 3.15, DONT is the older equivalent without the ICMP part. */
    {
        int omit = fam == 4 ? IP_PMTUDISC_OMIT : IPV6_PMTUDISC_OMIT;
        int dont = fam == 4 ? IP_PMTUDISC_DONT : IPV6_PMTUDISC_DONT;
        int level = fam == 4 ? IPPROTO_IP : IPPROTO_IPV6;
        int opt = fam == 4 ? IP_MTU_DISCOVER : IPV6_MTU_DISCOVER;
        if (setsockopt(fd, level, opt, &omit, sizeof omit) < 0) (void)setsockopt(fd, level, opt, &dont, sizeof dont);
    }
    if (buf_bytes > 0) {
        /* Best effort: the kernel clamps to net.core.{r,w}mem_max. */
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf_bytes, sizeof buf_bytes);
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf_bytes, sizeof buf_bytes);
    }
    if (recv_timeout_ms > 0) {
        struct timeval tv;
        tv.tv_sec = recv_timeout_ms / 1000;
        tv.tv_usec = (recv_timeout_ms % 1000) * 1000;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) goto fail;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) goto fail;
    return fd;
fail:;
    int e = errno;
    close(fd);
    return -e;
}

int gtmd_tcp_listener(const char *host, uint16_t port, int backlog) {
    struct sockaddr_storage ss;
    socklen_t len;
    int fam = parse_addr(host, port, &ss, &len);
    if (fam == 0) return -EAFNOSUPPORT;
    int fd = socket(fam == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -errno;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) goto fail;
    if (fam == 6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) goto fail;
    if (bind(fd, (struct sockaddr *)&ss, len) < 0) goto fail;
    if (listen(fd, backlog) < 0) goto fail;
    return fd;
fail:;
    int e = errno;
    close(fd);
    return -e;
}

int gtmd_listen(int fd, int backlog) { return listen(fd, backlog) < 0 ? -errno : 0; }

int gtmd_local_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -errno;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -EAFNOSUPPORT;
}

int gtmd_shutdown_read(int fd) { return shutdown(fd, SHUT_RD) < 0 ? -errno : 0; }

int gtmd_close(int fd) { return close(fd) < 0 ? -errno : 0; }

int gtmd_set_thread_name(const char *name) {
    char buf[16];
    strncpy(buf, name, sizeof buf - 1);
    buf[sizeof buf - 1] = 0;
    return pthread_setname_np(pthread_self(), buf);
}

const char *gtmd_strerror(int err) {
    static __thread char buf[128];
    return strerror_r(err, buf, sizeof buf); /* GNU variant: returns a string, never NULL */
}
