/* What the bench generators (blast.c, ratelat.c) share: their query files, the sockets to the server, the
 * sendmmsg/recvmmsg vectors and the dnsperf-like statistics block. Query files have one query per line,
 *
 *     NAME TYPE [edns] [do] [ecs=ADDRESS/PREFIX]
 *
 * e.g. "www.lab.example A", "near.lab.example A ecs=10.2.3.0/24". The first two fields are dnsperf's
 * format, so plain dnsperf files work unchanged. `edns` adds an OPT record (UDP size 1232), `do` sets
 * its DO bit, `ecs=` adds an EDNS Client Subnet option (RFC 7871; implies edns) with the address cut
 * to PREFIX bits. Lines starting with '#' and blank lines are skipped. Every query is built once into
 * wire form; the generators only patch the ID. */
#ifndef BENCH_DNSQ_H
#define BENCH_DNSQ_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define DNSQ_MAX 8192
#define DNSQ_LEN 320
#define DNSQ_RX_LEN 4096

struct dnsq {
    uint8_t wire[DNSQ_LEN];
    uint16_t len;
};

static int dnsq_type(const char *s) {
    static const struct { const char *name; int code; } types[] = {
        {"A", 1}, {"NS", 2}, {"CNAME", 5}, {"SOA", 6}, {"PTR", 12}, {"MX", 15}, {"TXT", 16},
        {"AAAA", 28}, {"SRV", 33}, {"NAPTR", 35}, {"DS", 43}, {"DNSKEY", 48}, {"CAA", 257}, {"ANY", 255}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcasecmp(s, types[i].name) == 0) return types[i].code;
    if (strncasecmp(s, "TYPE", 4) == 0 && s[4]) return atoi(s + 4);
    return -1;
}

static void dnsq_put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

/* Builds one query from a line; returns 0, or -1 with a message on stderr. */
static int dnsq_build(const char *line, struct dnsq *q, const char *where) {
    char name[256], type[32], opt[96];
    int used = 0;
    if (sscanf(line, " %255s %31s%n", name, type, &used) != 2) {
        fprintf(stderr, "%s: need NAME TYPE\n", where);
        return -1;
    }
    int qtype = dnsq_type(type);
    if (qtype < 0 || qtype > 65535) {
        fprintf(stderr, "%s: unknown type %s\n", where, type);
        return -1;
    }
    int edns = 0, dnssec_ok = 0, ecs_family = 0, ecs_prefix = 0;
    uint8_t ecs_addr[16] = {0};
    const char *rest = line + used;
    int n;
    while (sscanf(rest, " %95s%n", opt, &n) == 1) {
        rest += n;
        if (strcmp(opt, "edns") == 0) edns = 1;
        else if (strcmp(opt, "do") == 0) edns = dnssec_ok = 1;
        else if (strncmp(opt, "ecs=", 4) == 0) {
            char *slash = strchr(opt + 4, '/');
            if (!slash) { fprintf(stderr, "%s: ecs= needs ADDRESS/PREFIX\n", where); return -1; }
            *slash = 0;
            ecs_prefix = atoi(slash + 1);
            if (inet_pton(AF_INET, opt + 4, ecs_addr) == 1 && ecs_prefix >= 0 && ecs_prefix <= 32) ecs_family = 1;
            else if (inet_pton(AF_INET6, opt + 4, ecs_addr) == 1 && ecs_prefix >= 0 && ecs_prefix <= 128) ecs_family = 2;
            else { fprintf(stderr, "%s: bad ecs= value\n", where); return -1; }
            edns = 1;
        } else {
            fprintf(stderr, "%s: unknown option %s\n", where, opt);
            return -1;
        }
    }
    uint8_t *p = q->wire;
    memset(p, 0, 12);
    dnsq_put16(p + 4, 1);                 /* QDCOUNT; flags 0 (no RD, as an authoritative sees) */
    size_t o = 12;
    const char *label = name;
    if (strcmp(name, ".") != 0) {
        while (*label) {
            const char *dot = strchr(label, '.');
            size_t l = dot ? (size_t)(dot - label) : strlen(label);
            if (l == 0 || l > 63 || o + l + 1 > 12 + 254) { fprintf(stderr, "%s: bad name %s\n", where, name); return -1; }
            p[o++] = (uint8_t)l;
            memcpy(p + o, label, l);
            o += l;
            label += l + (dot ? 1 : 0);
            if (!dot) break;
        }
    }
    p[o++] = 0;
    dnsq_put16(p + o, (unsigned)qtype); o += 2;
    dnsq_put16(p + o, 1); o += 2;        /* IN */
    if (edns) {
        dnsq_put16(p + 10, 1);            /* ARCOUNT */
        p[o++] = 0;                       /* root owner */
        dnsq_put16(p + o, 41); o += 2;    /* OPT */
        dnsq_put16(p + o, 1232); o += 2;  /* UDP payload size */
        p[o++] = 0; p[o++] = 0;           /* extended rcode, version */
        dnsq_put16(p + o, dnssec_ok ? 0x8000 : 0); o += 2;
        size_t rdlen_at = o;
        o += 2;
        if (ecs_family) {
            unsigned bytes = (unsigned)(ecs_prefix + 7) / 8;
            uint8_t a[16];
            memcpy(a, ecs_addr, 16);
            if (ecs_prefix % 8) a[bytes - 1] &= (uint8_t)(0xff << (8 - ecs_prefix % 8));
            dnsq_put16(p + o, 8); o += 2;              /* option code: ECS */
            dnsq_put16(p + o, 4 + bytes); o += 2;
            dnsq_put16(p + o, (unsigned)ecs_family); o += 2;
            p[o++] = (uint8_t)ecs_prefix;
            p[o++] = 0;                                  /* scope prefix */
            memcpy(p + o, a, bytes); o += bytes;
        }
        dnsq_put16(p + rdlen_at, (unsigned)(o - rdlen_at - 2));
    }
    q->len = (uint16_t)o;
    return 0;
}

/* Loads a query file; returns the number of queries (exits on errors or an empty file). */
static int dnsq_load(const char *path, struct dnsq *qs, int max) {
    FILE *f = fopen(path, "r");
    if (!f) { perror(path); exit(2); }
    char line[512], where[600];
    int n = 0, lineno = 0;
    while (n < max && fgets(line, sizeof line, f)) {
        lineno++;
        char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (*s == '#' || *s == '\n' || *s == 0) continue;
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        if (dnsq_build(s, &qs[n], where) != 0) exit(2);
        n++;
    }
    fclose(f);
    if (n == 0) { fprintf(stderr, "%s: no queries\n", path); exit(2); }
    return n;
}

static const char *dnsq_rcode_name(int rc) {
    static const char *names[16] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
                                    "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11",
                                    "RCODE12", "RCODE13", "RCODE14", "RCODE15"};
    return names[rc & 15];
}

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* SERVER:PORT into `to`; 0, or -1 with a message (PROG: -s must be an IPv4 loopback address). */
static int dnsq_target(const char *prog, const char *server, int port, struct sockaddr_in *to) {
    memset(to, 0, sizeof *to);
    to->sin_family = AF_INET;
    to->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, server, &to->sin_addr) != 1 || (ntohl(to->sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "%s: -s must be an IPv4 loopback address\n", prog);
        return -1;
    }
    return 0;
}

/* A non-blocking UDP socket connected to `to`, with a 4 MiB receive buffer (and send buffer when `sndbuf`);
 * the fd, or -1 with perror. */
static int dnsq_socket(const struct sockaddr_in *to, int sndbuf) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    int buf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    if (sndbuf) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    if (fd < 0 || connect(fd, (const struct sockaddr *)to, sizeof *to) != 0) {
        perror("socket");
        return -1;
    }
    return fd;
}

/* Points the first `n` send and receive messages at one buffer each (tx: DNSQ_LEN, rx: DNSQ_RX_LEN bytes). */
static void dnsq_mmsg_init(struct mmsghdr *tmsg, struct iovec *tvec, uint8_t (*tx)[DNSQ_LEN], struct mmsghdr *rmsg,
                           struct iovec *rvec, uint8_t (*rx)[DNSQ_RX_LEN], int n) {
    memset(tmsg, 0, sizeof *tmsg * (size_t)n);
    memset(rmsg, 0, sizeof *rmsg * (size_t)n);
    for (int i = 0; i < n; i++) {
        tvec[i].iov_base = tx[i];
        tmsg[i].msg_hdr.msg_iov = &tvec[i];
        tmsg[i].msg_hdr.msg_iovlen = 1;
        rvec[i].iov_base = rx[i];
        rvec[i].iov_len = sizeof rx[i];
        rmsg[i].msg_hdr.msg_iov = &rvec[i];
        rmsg[i].msg_hdr.msg_iovlen = 1;
    }
}

/* The head of the statistics block (the lines dnsperf prints first). */
static void dnsq_print_counts(uint64_t sent, uint64_t answered, uint64_t lost, uint64_t late) {
    printf("Statistics:\n\n");
    printf("  Queries sent:         %llu\n", (unsigned long long)sent);
    printf("  Queries completed:    %llu (%.2f%%)\n", (unsigned long long)answered, sent ? 100.0 * (double)answered / (double)sent : 0.0);
    printf("  Queries lost:         %llu (%.2f%%)\n", (unsigned long long)lost, sent ? 100.0 * (double)lost / (double)sent : 0.0);
    printf("  Late replies:         %llu\n", (unsigned long long)late);
}

/* The tail of the statistics block: response codes, run time, queries per second. */
static void dnsq_print_rates(const uint64_t rcodes[16], uint64_t answered, double elapsed) {
    printf("  Response codes:       ");
    const char *sep = "";
    for (int i = 0; i < 16; i++)
        if (rcodes[i]) {
            printf("%s%s %llu (%.2f%%)", sep, dnsq_rcode_name(i), (unsigned long long)rcodes[i],
                   100.0 * (double)rcodes[i] / (double)(answered ? answered : 1));
            sep = ", ";
        }
    printf("\n  Run time (s):         %.6f\n", elapsed);
    printf("  Queries per second:   %.6f\n", (double)answered / elapsed);
}

#endif
