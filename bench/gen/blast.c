/* blast: a saturating UDP DNS load generator for the throughput benchmarks (loopback only).
 *
 *   blast -p PORT -d QUERYFILE -l SECS [-s 127.0.0.1] [-c SOCKETS=4] [-w WINDOW=64] [-b BATCH=32]
 *         [-t TIMEOUT_MS=100]
 *
 * dnsperf sends and receives one datagram per system call on two threads; on a 2-core machine its core
 * is the limit before a fast server's is. blast keeps WINDOW queries in flight on each of SOCKETS
 * connected UDP sockets (distinct source ports), sends with sendmmsg and receives with recvmmsg in
 * batches of up to BATCH, busy-polling without blocking, so it spends far fewer cycles per query.
 *
 * Accounting: every socket keeps its in-flight queries in a FIFO in send order, with the send time.
 * A reply frees its query; a query at the head of the FIFO unanswered for TIMEOUT_MS is written off as
 * lost (its window place is freed); a reply to a written-off or unknown ID counts as late. A reply
 * must have QR set and the ID of a query in flight. The output imitates dnsperf's statistics block
 * (the harness parses both), plus the TC count. No latency is measured (see ratelat.c). */
#define _GNU_SOURCE
#include "dnsq.h"

#include <errno.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SOCKETS 64
#define MAX_BATCH 64
#define FIFO 65536              /* >= the largest window, a power of two */

static struct dnsq queries[DNSQ_MAX];

struct sock {
    int fd;
    uint16_t next_id;
    uint32_t head, tail;                  /* FIFO of in-flight IDs: [head, tail) */
    uint16_t fifo_id[FIFO];
    uint64_t fifo_sent[FIFO];
    uint8_t live[65536];                  /* 1 = ID in flight */
};

int main(int argc, char **argv) {
    const char *server = "127.0.0.1", *file = NULL;
    int port = 0, nsock = 4, window = 64, batch = 32, timeout_ms = 100, c;
    double secs = 0;
    while ((c = getopt(argc, argv, "s:p:d:l:c:w:b:t:")) != -1) {
        switch (c) {
        case 's': server = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'd': file = optarg; break;
        case 'l': secs = atof(optarg); break;
        case 'c': nsock = atoi(optarg); break;
        case 'w': window = atoi(optarg); break;
        case 'b': batch = atoi(optarg); break;
        case 't': timeout_ms = atoi(optarg); break;
        default: fprintf(stderr, "usage: see the comment at the top of blast.c\n"); return 2;
        }
    }
    if (!port || !file || secs <= 0 || secs > 600) { fprintf(stderr, "need -p PORT -d FILE -l SECS (<= 600)\n"); return 2; }
    if (nsock < 1 || nsock > MAX_SOCKETS || window < 1 || window > 4096 || batch < 1 || batch > MAX_BATCH) {
        fprintf(stderr, "-c 1..%d, -w 1..4096, -b 1..%d\n", MAX_SOCKETS, MAX_BATCH);
        return 2;
    }
    int nq = dnsq_load(file, queries, DNSQ_MAX);
    struct sockaddr_in to;
    if (dnsq_target("blast", server, port, &to) != 0) return 2;
    struct sock *socks = calloc((size_t)nsock, sizeof *socks);
    if (!socks) { perror("calloc"); return 1; }
    for (int s = 0; s < nsock; s++) {
        if ((socks[s].fd = dnsq_socket(&to, 1)) < 0) return 1;
        socks[s].next_id = (uint16_t)(s * 7919);
    }
    static uint8_t tx[MAX_BATCH][DNSQ_LEN], rx[MAX_BATCH][DNSQ_RX_LEN];
    struct iovec tvec[MAX_BATCH], rvec[MAX_BATCH];
    struct mmsghdr tmsg[MAX_BATCH], rmsg[MAX_BATCH];
    dnsq_mmsg_init(tmsg, tvec, tx, rmsg, rvec, rx, MAX_BATCH);
    uint64_t sent = 0, answered = 0, lost = 0, late = 0, malformed = 0, truncated = 0, rcodes[16] = {0};
    uint64_t timeout = (uint64_t)timeout_ms * 1000000u;
    unsigned next_query = 0;
    uint64_t start = now_ns(), end = start + (uint64_t)(secs * 1e9), t = start;
    while (t < end) {
        for (int s = 0; s < nsock; s++) {
            struct sock *k = &socks[s];
            int room = window - (int)(k->tail - k->head);
            if (room > batch) room = batch;
            if (room > 0) {
                for (int i = 0; i < room; i++) {
                    const struct dnsq *q = &queries[(next_query + (unsigned)i) % (unsigned)nq];
                    memcpy(tx[i], q->wire, q->len);
                    uint16_t id = (uint16_t)(k->next_id + i);
                    tx[i][0] = (uint8_t)(id >> 8);
                    tx[i][1] = (uint8_t)id;
                    tvec[i].iov_len = q->len;
                }
                int n = sendmmsg(k->fd, tmsg, (unsigned)room, 0);
                for (int i = 0; i < n; i++) {
                    uint16_t id = k->next_id++;
                    if (k->live[id]) late++;     /* cannot happen with window <= 4096 and the FIFO timeout */
                    k->live[id] = 1;
                    k->fifo_id[k->tail % FIFO] = id;
                    k->fifo_sent[k->tail % FIFO] = t;
                    k->tail++;
                }
                if (n > 0) {
                    next_query += (unsigned)n;
                    sent += (uint64_t)n;
                }
            }
            int n = recvmmsg(k->fd, rmsg, MAX_BATCH, 0, NULL);
            for (int i = 0; i < n; i++) {
                const uint8_t *r = rx[i];
                if (rmsg[i].msg_len < 12 || !(r[2] & 0x80)) { malformed++; continue; }
                uint16_t id = (uint16_t)(r[0] << 8 | r[1]);
                if (!k->live[id]) { late++; continue; }
                k->live[id] = 0;
                answered++;
                rcodes[r[3] & 15]++;
                if (r[2] & 0x02) truncated++;
            }
            /* Drop answered queries from the head; write off the ones older than the timeout. */
            while (k->head != k->tail) {
                uint16_t id = k->fifo_id[k->head % FIFO];
                if (k->live[id]) {
                    if (t - k->fifo_sent[k->head % FIFO] < timeout) break;
                    k->live[id] = 0;
                    lost++;
                }
                k->head++;
            }
        }
        t = now_ns();
    }
    double elapsed = (double)(t - start) / 1e9;
    for (int s = 0; s < nsock; s++)          /* still in flight at the end: neither answered nor lost */
        for (uint32_t h = socks[s].head; h != socks[s].tail; h++)
            if (socks[s].live[socks[s].fifo_id[h % FIFO]]) sent--;
    dnsq_print_counts(sent, answered, lost, late);
    printf("  Malformed replies:    %llu\n", (unsigned long long)malformed);
    printf("  Truncated replies:    %llu\n\n", (unsigned long long)truncated);
    dnsq_print_rates(rcodes, answered, elapsed);
    printf("  (blast: %d sockets x window %d, batch %d, timeout %d ms)\n", nsock, window, batch, timeout_ms);
    return 0;
}
