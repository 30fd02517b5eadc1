/* ratelat: a fixed-rate UDP DNS load generator that records every query's latency (loopback only).
 *
 *   ratelat -p PORT -d QUERYFILE -l SECS -r RATE [-s 127.0.0.1] [-c SOCKETS=1] [-t TIMEOUT_MS=1000]
 *           [-W WARMUP_SECS=0] [-H HISTOGRAM.csv]
 *
 * Query k is due at start + k / RATE (an open loop: a slow reply never delays the next query). The
 * generator busy-polls on its own core: when queries are due it sends them (sendmmsg, round robin over
 * SOCKETS connected sockets), otherwise it drains replies without blocking. A query's latency is the
 * time from when it was *due* to when its reply was read, so a stall of the generator or the server
 * shows up in the tail instead of being hidden (no coordinated omission). Queries unanswered
 * TIMEOUT_MS after they left count as lost and are not in the percentiles.
 *
 * Latencies go into a log-linear histogram (128 sub-buckets per power of two of nanoseconds, under
 * 0.8 % relative error, like HdrHistogram with 2 significant digits); percentiles are the upper edge
 * of the bucket that holds them. The first WARMUP_SECS are sent but not recorded. Output: dnsperf-like
 * counters, then `latency_us p50=... p90=... p99=... p999=... p9999=... max=... mean=...` and the
 * schedule check `send_lag_us p99=... max=...` (how far behind schedule queries left). -H writes the
 * non-empty buckets as CSV (upper_ns,count). */
#define _GNU_SOURCE
#include "dnsq.h"

#include <errno.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SOCKETS 64
#define MAX_BATCH 64
#define FIFO 65536
#define SUB 128
#define BUCKETS (64 * SUB + 2 * SUB)

static struct dnsq queries[DNSQ_MAX];

struct sock {
    int fd;
    uint16_t next_id;
    uint32_t head, tail;
    uint16_t fifo_id[FIFO];
    uint64_t due[65536];                  /* due time of the query with this ID */
    uint64_t sent_at[65536];              /* when it left (the loss timeout runs from here) */
    uint8_t live[65536];                  /* 1 = in flight; 2 = in flight, sent during the warm-up */
};

struct hist {
    uint64_t count[BUCKETS];
    uint64_t n, sum, max;
};

static unsigned bucket_of(uint64_t v) {
    if (v < 2 * SUB) return (unsigned)v;
    unsigned shift = (unsigned)(63 - __builtin_clzll(v)) - 7;
    return shift * SUB + (unsigned)(v >> shift);
}

static uint64_t bucket_top(unsigned b) {   /* largest value in bucket b */
    if (b < 2 * SUB) return b;
    unsigned shift = b / SUB - 1;
    uint64_t low = (uint64_t)(b - shift * SUB) << shift;
    return low + ((uint64_t)1 << shift) - 1;
}

static void hist_add(struct hist *h, uint64_t v) {
    h->count[bucket_of(v)]++;
    h->n++;
    h->sum += v;
    if (v > h->max) h->max = v;
}

static double hist_pct(const struct hist *h, double p) {
    if (!h->n) return 0;
    uint64_t want = (uint64_t)(p / 100.0 * (double)h->n + 0.999999);
    if (want < 1) want = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < BUCKETS; b++) {
        seen += h->count[b];
        if (seen >= want) {
            uint64_t top = bucket_top(b);
            return (double)(top < h->max ? top : h->max) / 1000.0;
        }
    }
    return (double)h->max / 1000.0;
}

static struct hist latency, lag;

int main(int argc, char **argv) {
    const char *server = "127.0.0.1", *file = NULL, *hist_file = NULL;
    int port = 0, nsock = 1, timeout_ms = 1000, c;
    double secs = 0, rate = 0, warmup = 0;
    while ((c = getopt(argc, argv, "s:p:d:l:r:c:t:W:H:")) != -1) {
        switch (c) {
        case 's': server = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'd': file = optarg; break;
        case 'l': secs = atof(optarg); break;
        case 'r': rate = atof(optarg); break;
        case 'c': nsock = atoi(optarg); break;
        case 't': timeout_ms = atoi(optarg); break;
        case 'W': warmup = atof(optarg); break;
        case 'H': hist_file = optarg; break;
        default: fprintf(stderr, "usage: see the comment at the top of ratelat.c\n"); return 2;
        }
    }
    if (!port || !file || secs <= 0 || secs > 600 || rate <= 0 || rate > 2e6 || warmup < 0 || warmup > 60) {
        fprintf(stderr, "need -p PORT -d FILE -l SECS (<= 600) -r RATE (<= 2e6)\n");
        return 2;
    }
    if (nsock < 1 || nsock > MAX_SOCKETS || timeout_ms < 1 || timeout_ms > 10000) {
        fprintf(stderr, "-c 1..%d, -t 1..10000\n", MAX_SOCKETS);
        return 2;
    }
    int nq = dnsq_load(file, queries, DNSQ_MAX);
    struct sockaddr_in to;
    if (dnsq_target("ratelat", server, port, &to) != 0) return 2;
    struct sock *socks = calloc((size_t)nsock, sizeof *socks);
    if (!socks) { perror("calloc"); return 1; }
    for (int s = 0; s < nsock; s++) {
        if ((socks[s].fd = dnsq_socket(&to, 0)) < 0) return 1;
        socks[s].next_id = (uint16_t)(s * 7919);
    }
    static uint8_t tx[MAX_BATCH][DNSQ_LEN], rx[MAX_BATCH][DNSQ_RX_LEN];
    struct iovec tvec[MAX_BATCH], rvec[MAX_BATCH];
    struct mmsghdr tmsg[MAX_BATCH], rmsg[MAX_BATCH];
    dnsq_mmsg_init(tmsg, tvec, tx, rmsg, rvec, rx, MAX_BATCH);
    uint64_t sent = 0, answered = 0, lost = 0, late = 0, malformed = 0, rcodes[16] = {0}, lagged = 0, send_failed = 0;
    uint64_t timeout = (uint64_t)timeout_ms * 1000000u;
    double period = 1e9 / rate;
    uint64_t start = now_ns();
    uint64_t record_from = start + (uint64_t)(warmup * 1e9);
    uint64_t total = (uint64_t)((warmup + secs) * rate);
    uint64_t k = 0;                         /* next query to send */
    uint64_t t = start, drain_until = 0;
    for (;;) {
        /* Send everything that is due, per socket in one sendmmsg. */
        if (k < total) {
            uint64_t due = start + (uint64_t)((double)k * period);
            if (due <= t) {
                int s = (int)(k % (uint64_t)nsock);
                struct sock *q = &socks[s];
                int n = 0;
                uint64_t dues[MAX_BATCH];
                while (n < MAX_BATCH && k + (uint64_t)n < total) {
                    uint64_t d = start + (uint64_t)((double)(k + (uint64_t)n) * period);
                    if (d > t) break;
                    const struct dnsq *src = &queries[(k + (uint64_t)n) % (uint64_t)nq];
                    memcpy(tx[n], src->wire, src->len);
                    uint16_t id = (uint16_t)(q->next_id + n);
                    tx[n][0] = (uint8_t)(id >> 8);
                    tx[n][1] = (uint8_t)id;
                    tvec[n].iov_len = src->len;
                    dues[n] = d;
                    n++;
                    if (nsock > 1) break;
                }
                /* With several sockets, one query per call (the next one is the next socket's);
                 * with one, every query that is due in one call. */
                int m = sendmmsg(q->fd, tmsg, (unsigned)n, 0);
                uint64_t after = now_ns();
                if (m < 0) m = 0;
                for (int i = 0; i < m; i++) {
                    uint16_t id = q->next_id++;
                    q->live[id] = dues[i] >= record_from ? 1 : 2;
                    q->due[id] = dues[i];
                    q->sent_at[id] = after;
                    q->fifo_id[q->tail++ % FIFO] = id;
                    if (dues[i] >= record_from) {
                        sent++;
                        hist_add(&lag, after - dues[i]);
                        if (after - dues[i] > 50000) lagged++;
                    }
                }
                /* A refused send (full buffer) is skipped, not retried: the schedule goes on. */
                if (m < n) send_failed += (uint64_t)(n - m);
                k += (uint64_t)n;
                t = after;
                if (k >= total) drain_until = t + timeout;
                continue;
            }
        } else if (t >= drain_until) {
            break;
        }
        /* Drain replies. */
        for (int s = 0; s < nsock; s++) {
            struct sock *q = &socks[s];
            int n = recvmmsg(q->fd, rmsg, MAX_BATCH, 0, NULL);
            if (n <= 0) continue;
            uint64_t at = now_ns();
            for (int i = 0; i < n; i++) {
                const uint8_t *r = rx[i];
                if (rmsg[i].msg_len < 12 || !(r[2] & 0x80)) { malformed++; continue; }
                uint16_t id = (uint16_t)(r[0] << 8 | r[1]);
                uint8_t state = q->live[id];
                if (!state) { late++; continue; }
                q->live[id] = 0;
                if (state == 2) continue;       /* warm-up */
                answered++;
                rcodes[r[3] & 15]++;
                hist_add(&latency, at - q->due[id]);
            }
        }
        t = now_ns();
        for (int s = 0; s < nsock; s++) {
            struct sock *q = &socks[s];
            while (q->head != q->tail) {
                uint16_t id = q->fifo_id[q->head % FIFO];
                if (q->live[id]) {
                    if (t - q->sent_at[id] < timeout) break;
                    if (q->live[id] == 1) lost++;
                    q->live[id] = 0;
                }
                q->head++;
            }
        }
    }
    double elapsed = secs;
    dnsq_print_counts(sent, answered, lost, late);
    printf("  Send failures:        %llu\n", (unsigned long long)send_failed);
    printf("  Malformed replies:    %llu\n\n", (unsigned long long)malformed);
    dnsq_print_rates(rcodes, answered, elapsed);
    printf("latency_us p50=%.2f p90=%.2f p99=%.2f p999=%.2f p9999=%.2f max=%.2f mean=%.2f\n",
           hist_pct(&latency, 50), hist_pct(&latency, 90), hist_pct(&latency, 99), hist_pct(&latency, 99.9),
           hist_pct(&latency, 99.99), (double)latency.max / 1000.0,
           latency.n ? (double)latency.sum / (double)latency.n / 1000.0 : 0.0);
    printf("send_lag_us p99=%.2f max=%.2f over50us=%llu\n", hist_pct(&lag, 99), (double)lag.max / 1000.0,
           (unsigned long long)lagged);
    if (hist_file) {
        FILE *f = fopen(hist_file, "w");
        if (!f) { perror(hist_file); return 1; }
        fprintf(f, "upper_ns,count\n");
        for (unsigned b = 0; b < BUCKETS; b++)
            if (latency.count[b]) fprintf(f, "%llu,%llu\n", (unsigned long long)bucket_top(b), (unsigned long long)latency.count[b]);
        fclose(f);
    }
    return 0;
}
