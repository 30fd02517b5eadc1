/* ceiling: the least work a UDP DNS responder can do for speed.py's rows, as a ceiling to measure gtmd
 * against (issue 17: "close the gap to the C ceiling").
 *
 *   ceiling -p PORT [-s 127.0.0.1] [-b BATCH=64] [-r RCVBUF=4194304]
 *
 * One thread, one socket bound to the address, recvmmsg (MSG_WAITFORONE) and sendmmsg in batches, like
 * gtmd's UDP worker. The replies are the bytes gtmd sends for the same questions (header, question, one
 * A record with a compression pointer, an OPT record with the client subnet echoed when the query had
 * one), built from prebuilt answers with no zone, no table and no checks beyond what finding the
 * answer needs:
 *   www.lab.example A  -> 127.0.0.11   (the static row)
 *   fo.lab.example A   -> 192.0.2.11   (the failover row)
 *   near.lab.example A -> 192.0.2.1/.2/.3 by the client subnet's 10.1/16, 10.2/16, 10.3/16 (scope 16),
 *                         else 192.0.2.1 with scope 1 (the nearest + ECS row)
 * Anything else gets REFUSED with the question echoed. Loopback only. Stops on SIGTERM or SIGINT. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_BATCH 256
#define IN_LEN 512
#define OUT_LEN (IN_LEN + 64) /* the question echoed, one A record (16), an OPT (11) with a subnet option (<= 24) */

static const uint8_t WWW[] = "\3www\3lab\7example";
static const uint8_t FO[] = "\2fo\3lab\7example";
static const uint8_t NEAR[] = "\4near\3lab\7example";

static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static unsigned get16(const uint8_t *p) { return (unsigned)p[0] << 8 | p[1]; }

/* The client subnet option of an OPT record's data: the option's offset and length in `q`, or 0. */
static size_t find_ecs(const uint8_t *q, size_t rdata, size_t rdlen, size_t *optlen) {
    size_t o = rdata, end = rdata + rdlen;
    while (o + 4 <= end) {
        unsigned code = get16(q + o), len = get16(q + o + 2);
        if (o + 4 + len > end) return 0;
        if (code == 8 && len >= 4) { *optlen = len; return o; }
        o += 4 + len;
    }
    return 0;
}

/* One reply into `r` (room OUT_LEN); returns its length, 0 to send nothing. */
static size_t respond(const uint8_t *q, size_t n, uint8_t *r) {
    if (n < 17 || (q[2] & 0x80) || get16(q + 4) != 1) return 0;
    size_t o = 12;
    while (o < n && q[o] != 0) {
        if (q[o] > 63) return 0;
        o += 1 + q[o];
    }
    if (o + 5 > n) return 0;
    size_t qname_len = o + 1 - 12, qend = o + 5; /* with the root label, as the literals with their NUL */
    unsigned qtype = get16(q + o + 1);

    /* The OPT record, if the query's additional section starts with one. */
    size_t ecs = 0, ecs_len = 0;
    int edns = 0;
    if (get16(q + 10) >= 1 && qend + 11 <= n && q[qend] == 0 && get16(q + qend + 1) == 41) {
        size_t rdlen = get16(q + qend + 9);
        if (qend + 11 + rdlen > n) return 0;
        edns = 1;
        ecs = find_ecs(q, qend + 11, rdlen, &ecs_len);
        if (ecs_len > 4 + 16) return 0;
    }

    const uint8_t *addr = NULL;
    uint8_t near[4] = {192, 0, 2, 1}, scope = 0;
    if (qtype == 1 && get16(q + o + 3) == 1) {
        if (qname_len == sizeof WWW && memcmp(q + 12, WWW, sizeof WWW) == 0) {
            static const uint8_t a[4] = {127, 0, 0, 11};
            addr = a;
        } else if (qname_len == sizeof FO && memcmp(q + 12, FO, sizeof FO) == 0) {
            static const uint8_t a[4] = {192, 0, 2, 11};
            addr = a;
        } else if (qname_len == sizeof NEAR && memcmp(q + 12, NEAR, sizeof NEAR) == 0) {
            addr = near;
            scope = 1;
            if (ecs && get16(q + ecs + 4) == 1 && q[ecs + 6] >= 16 && ecs_len >= 6 && q[ecs + 8] == 10 &&
                q[ecs + 9] >= 1 && q[ecs + 9] <= 3) {
                near[3] = q[ecs + 9];
                scope = 16;
            }
        }
    }

    memcpy(r, q, qend);
    r[2] = (uint8_t)((q[2] & 0x79) | 0x84); /* QR, the query's opcode, AA, the query's RD */
    r[3] = addr ? 0 : 5;                  /* NOERROR or REFUSED */
    put16(r + 6, addr ? 1 : 0);
    put16(r + 8, 0);
    put16(r + 10, (unsigned)edns);
    size_t w = qend;
    if (addr) {
        static const uint8_t rr[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4};
        memcpy(r + w, rr, sizeof rr);
        memcpy(r + w + sizeof rr, addr, 4);
        w += sizeof rr + 4;
    }
    if (edns) {
        static const uint8_t opt[] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0};
        memcpy(r + w, opt, sizeof opt);
        w += sizeof opt;
        if (ecs && addr == near) {
            put16(r + w, (unsigned)(4 + ecs_len));
            memcpy(r + w + 2, q + ecs, 4 + ecs_len);
            r[w + 2 + 4 + 3] = scope;
            w += 2 + 4 + ecs_len;
        } else {
            put16(r + w, 0);
            w += 2;
        }
    }
    return w;
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static uint8_t in[MAX_BATCH][IN_LEN], out[MAX_BATCH][OUT_LEN];
static struct sockaddr_storage peer[MAX_BATCH];
static struct iovec riov[MAX_BATCH], siov[MAX_BATCH];
static struct mmsghdr rmsg[MAX_BATCH], smsg[MAX_BATCH];

int main(int argc, char **argv) {
    const char *addr = "127.0.0.1";
    int port = 0, batch = 64, rcvbuf = 4 << 20, c;
    while ((c = getopt(argc, argv, "s:p:b:r:")) != -1) {
        switch (c) {
        case 's': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'b': batch = atoi(optarg); break;
        case 'r': rcvbuf = atoi(optarg); break;
        default: fprintf(stderr, "usage: see the comment at the top of ceiling.c\n"); return 2;
        }
    }
    if (port <= 0 || port > 65535 || batch < 1 || batch > MAX_BATCH) {
        fprintf(stderr, "need -p PORT (1..65535), -b 1..%d\n", MAX_BATCH);
        return 2;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1 || (ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "-s: a 127.0.0.0/8 address, not %s\n", addr);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        perror("ceiling: socket");
        return 1;
    }
    prctl(PR_SET_NAME, "ceiling-udp"); /* speed.py counts threads named *udp* as the DNS threads */
    struct sigaction act = {.sa_handler = on_signal};
    sigaction(SIGTERM, &act, NULL);
    sigaction(SIGINT, &act, NULL);
    for (int i = 0; i < batch; i++) riov[i] = (struct iovec){in[i], IN_LEN};
    while (!stop) {
        for (int i = 0; i < batch; i++) {
            rmsg[i].msg_hdr = (struct msghdr){.msg_name = &peer[i], .msg_namelen = sizeof peer[i],
                                              .msg_iov = &riov[i], .msg_iovlen = 1};
        }
        int got = recvmmsg(fd, rmsg, (unsigned)batch, MSG_WAITFORONE, NULL);
        if (got < 0) {
            if (errno == EINTR) continue;
            perror("ceiling: recvmmsg");
            return 1;
        }
        int k = 0;
        for (int i = 0; i < got; i++) {
            if (rmsg[i].msg_hdr.msg_flags & MSG_TRUNC) continue;
            size_t len = respond(in[i], rmsg[i].msg_len, out[k]);
            if (len == 0) continue;
            siov[k].iov_base = out[k];
            siov[k].iov_len = len;
            smsg[k].msg_hdr = (struct msghdr){.msg_name = &peer[i], .msg_namelen = rmsg[i].msg_hdr.msg_namelen,
                                              .msg_iov = &siov[k], .msg_iovlen = 1};
            k++;
        }
        for (int done = 0; done < k;) {
            int s = sendmmsg(fd, smsg + done, (unsigned)(k - done), 0);
            if (s < 0) {
                if (errno == EINTR) continue;
                break; /* a full socket buffer or a gone peer: drop the rest, as a server does */
            }
            done += s;
        }
    }
    return 0;
}
