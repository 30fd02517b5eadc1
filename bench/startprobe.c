// startprobe: time from exec of a DNS server to its first correct answer on loopback (bench/startup.py).
//
//   startprobe -p PORT [-a 127.0.0.1] [-q www.lab.example] [-e 127.0.0.11] [-i 500] [-t 20000] [-n 100000]
//              [-c CPU] [-C CPU] [-d DIR] [-l LOG] -- SERVER ARGS...
//
// Opens a UDP socket, takes the monotonic time, forks and execs SERVER (in DIR, pinned to CPU -c, stdout and
// stderr to LOG), then sends an A query for -q every -i microseconds (each waits at most that long for a reply;
// at most -n queries and -t milliseconds) until a reply with RCODE NOERROR carries the A record -e. Prints
//   ok MS PID QUERIES CPU_MS FAULTS THREADS
//      (MS: exec to that reply, milliseconds; CPU_MS: CPU time the server process spent until then, all its
//      threads, from /proc/PID/task/*/schedstat, child processes and threads that already ended not counted;
//      FAULTS: its minor page faults until then; THREADS: its threads then; both from /proc/PID/stat)
// or `fail REASON PID QUERIES`, then waits for its stdin to close and stops the server (SIGTERM, SIGKILL after
// 5 s). The server keeps running meanwhile, so the caller can read its memory and load it.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int pin(pid_t pid, int cpu) {
    if (cpu < 0) return 0;
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    return sched_setaffinity(pid, sizeof s, &s);
}

// A query for NAME A with id ID (RD off, no EDNS); returns its length.
static int build_query(uint8_t *buf, uint16_t id, const char *name) {
    int n = 0;
    buf[n++] = id >> 8; buf[n++] = id & 0xff;
    buf[n++] = 0; buf[n++] = 0;           // flags: QUERY, RD off
    buf[n++] = 0; buf[n++] = 1;           // QDCOUNT 1
    memset(buf + n, 0, 6); n += 6;        // AN, NS, AR
    const char *p = name;
    while (*p) {
        const char *dot = strchr(p, '.');
        int len = dot ? (int)(dot - p) : (int)strlen(p);
        buf[n++] = (uint8_t)len;
        memcpy(buf + n, p, len); n += len;
        p += len; if (*p == '.') p++;
    }
    buf[n++] = 0;
    buf[n++] = 0; buf[n++] = 1;           // QTYPE A
    buf[n++] = 0; buf[n++] = 1;           // QCLASS IN
    return n;
}

// Skips a (possibly compressed) name at off; returns the offset after it, or -1.
static int skip_name(const uint8_t *m, int len, int off) {
    while (off < len) {
        uint8_t l = m[off];
        if (l == 0) return off + 1;
        if ((l & 0xc0) == 0xc0) return off + 2 <= len ? off + 2 : -1;
        off += 1 + l;
    }
    return -1;
}

// A reply to one of our queries (id in [first, last]) with NOERROR and an A record equal to want.
static int correct(const uint8_t *m, int len, uint16_t first, uint16_t last, struct in_addr want) {
    if (len < 12) return 0;
    uint16_t id = (m[0] << 8) | m[1];
    if ((uint16_t)(id - first) > (uint16_t)(last - first)) return 0;
    if (!(m[2] & 0x80) || (m[3] & 0x0f) != 0) return 0;
    int qd = (m[4] << 8) | m[5], an = (m[6] << 8) | m[7];
    int off = 12;
    for (int i = 0; i < qd; i++) {
        off = skip_name(m, len, off);
        if (off < 0 || off + 4 > len) return 0;
        off += 4;
    }
    for (int i = 0; i < an; i++) {
        off = skip_name(m, len, off);
        if (off < 0 || off + 10 > len) return 0;
        int type = (m[off] << 8) | m[off + 1];
        int rdlen = (m[off + 8] << 8) | m[off + 9];
        off += 10;
        if (off + rdlen > len) return 0;
        if (type == 1 && rdlen == 4 && memcmp(m + off, &want, 4) == 0) return 1;
        off += rdlen;
    }
    return 0;
}

// CPU time (ms) of every live thread of pid: the first field of /proc/PID/task/TID/schedstat (ns on CPU).
static double cpu_ms(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d) return -1;
    double total = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char f[320];  /* d_name is up to 255 bytes */
        snprintf(f, sizeof f, "/proc/%d/task/%s/schedstat", (int)pid, e->d_name);
        FILE *fp = fopen(f, "r");
        if (!fp) continue;
        unsigned long long ns = 0;
        if (fscanf(fp, "%llu", &ns) == 1) total += ns / 1e6;
        fclose(fp);
    }
    closedir(d);
    return total;
}

// Minor page faults of the process until now (field 10 of /proc/PID/stat: all its threads, ended ones too) and
// its live threads (field 20); -1 when unreadable.
static void faults_threads(pid_t pid, long *minflt, long *threads) {
    *minflt = -1;
    *threads = -1;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp) return;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = 0;
    char *p = strrchr(buf, ')');  /* the command name may hold spaces; fields 3.. follow its ')' */
    if (!p) return;
    long v[2];
    int got = sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %ld %*u %*u %*u %*u %*u %*d %*d %*d %*d %ld",
                     &v[0], &v[1]);
    if (got == 2) { *minflt = v[0]; *threads = v[1]; }
}

static void stop(pid_t pid) {
    if (kill(pid, SIGTERM) != 0) { waitpid(pid, NULL, 0); return; }
    for (int i = 0; i < 500; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid) return;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int main(int argc, char **argv) {
    const char *addr = "127.0.0.1", *qname = "www.lab.example", *expect = "127.0.0.11";
    const char *dir = NULL, *logfile = "/dev/null";
    int port = 0, interval_us = 500, timeout_ms = 20000, max_queries = 100000, cpu = -1, my_cpu = -1;
    int opt;
    while ((opt = getopt(argc, argv, "+p:a:q:e:i:t:n:c:C:d:l:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'a': addr = optarg; break;
        case 'q': qname = optarg; break;
        case 'e': expect = optarg; break;
        case 'i': interval_us = atoi(optarg); break;
        case 't': timeout_ms = atoi(optarg); break;
        case 'n': max_queries = atoi(optarg); break;
        case 'c': cpu = atoi(optarg); break;
        case 'C': my_cpu = atoi(optarg); break;
        case 'd': dir = optarg; break;
        case 'l': logfile = optarg; break;
        default: fprintf(stderr, "startprobe: see the header of bench/startprobe.c\n"); return 2;
        }
    }
    if (port <= 0 || optind >= argc) { fprintf(stderr, "startprobe: -p PORT -- SERVER ARGS... needed\n"); return 2; }
    struct in_addr want;
    if (inet_pton(AF_INET, expect, &want) != 1) { fprintf(stderr, "startprobe: -e %s\n", expect); return 2; }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, addr, &to.sin_addr) != 1) { fprintf(stderr, "startprobe: -a %s\n", addr); return 2; }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof to) != 0) { perror("startprobe: socket"); return 2; }
    if (pin(0, my_cpu) != 0) perror("startprobe: own affinity");
    int log = open(logfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log < 0) { perror(logfile); return 2; }
    uint8_t q[512], r[4096];

    double t0 = now_ms();
    pid_t pid = fork();
    if (pid < 0) { perror("startprobe: fork"); return 2; }
    if (pid == 0) {
        if (pin(0, cpu) != 0) perror("startprobe: server affinity");
        if (dir && chdir(dir) != 0) { perror(dir); _exit(127); }
        dup2(log, 1); dup2(log, 2);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        execvp(argv[optind], argv + optind);
        perror(argv[optind]);
        _exit(127);
    }
    close(log);

    uint16_t first = (uint16_t)(getpid() * 7919u), id = first;
    int sent = 0;
    const char *fail = NULL;
    double ms = -1;
    for (;;) {
        double t = now_ms();
        if (t - t0 > timeout_ms) { fail = "timeout"; break; }
        if (sent >= max_queries) { fail = "max-queries"; break; }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) { fail = "server-exited"; pid = 0; break; }
        int n = build_query(q, id, qname);
        if (send(fd, q, n, 0) >= 0) sent++;   // ECONNREFUSED (nothing bound yet) is expected early on
        id++;
        double until = t + interval_us / 1e3;
        int done = 0;
        for (;;) {
            int wait_us = (int)((until - now_ms()) * 1e3);
            if (wait_us <= 0) break;
            struct timespec ts = {0, (long)wait_us * 1000};
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (ppoll(&p, 1, &ts, NULL) <= 0) break;
            ssize_t got = recv(fd, r, sizeof r, MSG_DONTWAIT);
            if (got < 0) continue;   // ECONNREFUSED from an earlier query, or nothing after all
            if (correct(r, (int)got, first, (uint16_t)(id - 1), want)) { ms = now_ms() - t0; done = 1; break; }
        }
        if (done) break;
    }
    if (fail) printf("fail %s %d %d\n", fail, (int)pid, sent);
    else {
        double cpu = cpu_ms(pid);
        long minflt, threads;
        faults_threads(pid, &minflt, &threads);
        printf("ok %.3f %d %d %.3f %ld %ld\n", ms, (int)pid, sent, cpu, minflt, threads);
    }
    fflush(stdout);
    // Hold the server until the caller is done with it (stdin closes).
    char buf[64];
    while (read(0, buf, sizeof buf) > 0) {}
    if (pid > 0) stop(pid);
    return fail ? 1 : 0;
}
