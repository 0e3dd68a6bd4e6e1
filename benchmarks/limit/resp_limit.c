/*
 * resp_limit.c -- the "limit" the benchmarks compare against: the same network work
 * as the Python clients (same commands, same keys, same request/response or pipeline
 * pattern) done by a minimal C loop over a raw TCP socket. Commands are encoded once,
 * up front, by hand (RESP2); replies are only framed (their length is found), never
 * turned into objects. No hiredis, no allocation per command, one write() and
 * normally one read() per request. Prints one JSON object on stdout:
 *
 *   {"ops": N, "commands": C, "seconds": S, "utime": U, "stime": T}
 *
 * Usage (COUNT < 0: run for DURATION seconds; COUNT >= 0: run exactly COUNT operations
 * after the warm-up, 0 being the baseline for syscall counts):
 *   resp_limit HOST PORT DURATION COUNT rr ARG...            one command, request/response
 *   resp_limit HOST PORT DURATION COUNT pipe N TX KEY VALUE   pipelines of N commands
 *        (alternating SET KEY:i VALUE / GET KEY:i, i = 0..N/2-1; TX=1 wraps them in MULTI/EXEC)
 *   resp_limit HOST PORT DURATION COUNT threads T ARG...      T threads, one connection each, rr
 *   resp_limit HOST PORT DURATION COUNT sentinel SERVICE KEY
 *        (HOST:PORT is a Sentinel: per operation, connect to it, SENTINEL
 *         GET-MASTER-ADDR-BY-NAME, close, connect to the master, GET KEY, close)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
    fprintf(stderr, "resp_limit: %s: %s\n", what, errno ? strerror(errno) : "error");
    exit(2);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double tv(struct timeval t) { return (double)t.tv_sec + t.tv_usec / 1e6; }

/* ---- growable byte buffer ---------------------------------------------------------------- */
typedef struct { char *p; size_t len, cap; } buf_t;

static void buf_reserve(buf_t *b, size_t extra) {
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    b->p = realloc(b->p, cap);
    if (!b->p) die("realloc");
    b->cap = cap;
}

static void buf_add(buf_t *b, const char *s, size_t n) {
    buf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void encode(buf_t *b, int argc, const char **argv) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "*%d\r\n", argc);
    buf_add(b, tmp, (size_t)n);
    for (int i = 0; i < argc; i++) {
        size_t len = strlen(argv[i]);
        n = snprintf(tmp, sizeof tmp, "$%zu\r\n", len);
        buf_add(b, tmp, (size_t)n);
        buf_add(b, argv[i], len);
        buf_add(b, "\r\n", 2);
    }
}

/* ---- RESP2 framing: length of the complete reply at p, or -1 if more bytes are needed ----- */
static long parse_int(const char *p, const char *end, const char **after) {
    const char *q = memchr(p, '\r', (size_t)(end - p));
    if (!q || q + 1 >= end) return -2;  /* incomplete line */
    long v = strtol(p, NULL, 10);
    *after = q + 2;
    return v;
}

static long frame(const char *start, const char *end) {
    const char *p = start, *after;
    if (p >= end) return -1;
    switch (*p) {
    case '+': case '-': case ':': {
        const char *q = memchr(p, '\r', (size_t)(end - p));
        if (!q || q + 1 >= end) return -1;
        return (long)(q + 2 - start);
    }
    case '$': {
        long n = parse_int(p + 1, end, &after);
        if (n == -2) return -1;
        if (n < 0) return (long)(after - start);
        if (after + n + 2 > end) return -1;
        return (long)(after + n + 2 - start);
    }
    case '*': {
        long n = parse_int(p + 1, end, &after);
        if (n == -2) return -1;
        p = after;
        for (long i = 0; i < n; i++) {
            long m = frame(p, end);
            if (m < 0) return -1;
            p += m;
        }
        return (long)(p - start);
    }
    default:
        fprintf(stderr, "resp_limit: unexpected reply byte %d\n", *p);
        exit(2);
    }
}

/* ---- connection -------------------------------------------------------------------------- */
typedef struct { int fd; buf_t in; size_t pos; } conn_t;

static int connect_to(const char *host, int port) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        errno = 0;
        die("host must be an IPv4 address");
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect");
    return fd;
}

static void send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            die("write");
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Read until `count` complete replies are buffered; consume them. Returns the start of the
 * last reply (valid until the next call) and its length in *len. */
static const char *read_replies(conn_t *c, long count, long *len) {
    const char *last = NULL;
    while (count > 0) {
        long m = frame(c->in.p + c->pos, c->in.p + c->in.len);
        if (m >= 0) {
            last = c->in.p + c->pos;
            *len = m;
            c->pos += (size_t)m;
            count--;
            continue;
        }
        /* need more bytes: compact, then read */
        if (c->pos) {
            memmove(c->in.p, c->in.p + c->pos, c->in.len - c->pos);
            c->in.len -= c->pos;
            c->pos = 0;
        }
        buf_reserve(&c->in, 256 * 1024);
        ssize_t r = read(c->fd, c->in.p + c->in.len, c->in.cap - c->in.len);
        if (r < 0) {
            if (errno == EINTR) continue;
            die("read");
        }
        if (r == 0) {
            errno = 0;
            die("connection closed by server");
        }
        c->in.len += (size_t)r;
    }
    if (c->pos == c->in.len) c->pos = c->in.len = 0;
    return last;
}

/* ---- workloads --------------------------------------------------------------------------- */
typedef struct {
    const char *host;
    int port;
    double duration;
    long count;
    buf_t req;       /* what one operation writes */
    long replies;    /* replies per operation */
    long commands;   /* Redis commands per operation */
    long ops;        /* result */
} job_t;

static volatile int stop_flag;

static void *run_rr(void *arg) {
    job_t *j = arg;
    conn_t c = {connect_to(j->host, j->port), {0}, 0};
    long len;
    /* warm-up */
    for (int i = 0; i < 10; i++) {
        send_all(c.fd, j->req.p, j->req.len);
        read_replies(&c, j->replies, &len);
    }
    long ops = 0;
    if (j->count >= 0) {
        for (; ops < j->count; ops++) {
            send_all(c.fd, j->req.p, j->req.len);
            read_replies(&c, j->replies, &len);
        }
    } else {
        while (!stop_flag) {
            for (int i = 0; i < 8; i++) {
                send_all(c.fd, j->req.p, j->req.len);
                read_replies(&c, j->replies, &len);
            }
            ops += 8;
        }
    }
    close(c.fd);
    free(c.in.p);
    j->ops = ops;
    return NULL;
}

static void *timer(void *arg) {
    double d = *(double *)arg;
    struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
    stop_flag = 1;
    return NULL;
}

static long sentinel_op(const char *host, int port, const buf_t *ask, const char *key) {
    conn_t s = {connect_to(host, port), {0}, 0};
    long len;
    send_all(s.fd, ask->p, ask->len);
    const char *r = read_replies(&s, 1, &len);
    /* *2\r\n$<n>\r\n<ip>\r\n$<n>\r\n<port>\r\n */
    char ip[64], portbuf[16];
    const char *p = memchr(r, '\n', (size_t)len) + 1;          /* after *2 */
    long n = strtol(p + 1, NULL, 10);
    p = memchr(p, '\n', (size_t)(r + len - p)) + 1;
    if (n <= 0 || n >= (long)sizeof ip) { errno = 0; die("bad SENTINEL reply"); }
    memcpy(ip, p, (size_t)n); ip[n] = 0;
    p += n + 2;
    long m = strtol(p + 1, NULL, 10);
    p = memchr(p, '\n', (size_t)(r + len - p)) + 1;
    if (m <= 0 || m >= (long)sizeof portbuf) { errno = 0; die("bad SENTINEL reply"); }
    memcpy(portbuf, p, (size_t)m); portbuf[m] = 0;
    close(s.fd);
    free(s.in.p);

    conn_t c = {connect_to(ip, atoi(portbuf)), {0}, 0};
    buf_t get = {0};
    const char *argv[] = {"GET", key};
    encode(&get, 2, argv);
    send_all(c.fd, get.p, get.len);
    read_replies(&c, 1, &len);
    close(c.fd);
    free(c.in.p);
    free(get.p);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: resp_limit HOST PORT DURATION COUNT MODE ARGS...\n");
        return 2;
    }
    job_t base;
    memset(&base, 0, sizeof base);
    base.host = argv[1];
    base.port = atoi(argv[2]);
    base.duration = atof(argv[3]);
    base.count = atol(argv[4]);
    const char *mode = argv[5];
    int nthreads = 1;
    struct rusage ru0, ru1;
    double t0, t1;
    long ops = 0, commands_per_op = 1;

    if (!strcmp(mode, "rr") || !strcmp(mode, "threads")) {
        int first = 6;
        if (!strcmp(mode, "threads")) {
            nthreads = atoi(argv[6]);
            first = 7;
        }
        if (argc <= first) { fprintf(stderr, "missing command\n"); return 2; }
        encode(&base.req, argc - first, (const char **)argv + first);
        base.replies = 1;
    } else if (!strcmp(mode, "pipe")) {
        if (argc < 10) { fprintf(stderr, "pipe N TX KEY VALUE\n"); return 2; }
        long n = atol(argv[6]);
        int tx = atoi(argv[7]);
        const char *key = argv[8], *value = argv[9];
        char k[256];
        if (tx) { const char *a[] = {"MULTI"}; encode(&base.req, 1, a); }
        for (long i = 0; i < n / 2; i++) {
            snprintf(k, sizeof k, "%s:%ld", key, i);
            const char *s[] = {"SET", k, value};
            encode(&base.req, 3, s);
            const char *g[] = {"GET", k};
            encode(&base.req, 2, g);
        }
        if (tx) { const char *a[] = {"EXEC"}; encode(&base.req, 1, a); }
        base.replies = tx ? n + 2 : n;
        commands_per_op = n;
    } else if (!strcmp(mode, "sentinel")) {
        if (argc < 8) { fprintf(stderr, "sentinel SERVICE KEY\n"); return 2; }
        buf_t ask = {0};
        const char *a[] = {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", argv[6]};
        encode(&ask, 3, a);
        sentinel_op(base.host, base.port, &ask, argv[7]);  /* warm-up */
        getrusage(RUSAGE_SELF, &ru0);
        t0 = now();
        if (base.count >= 0) {
            for (; ops < base.count; ops++) sentinel_op(base.host, base.port, &ask, argv[7]);
        } else {
            do { ops += sentinel_op(base.host, base.port, &ask, argv[7]); }
            while (now() - t0 < base.duration);
        }
        t1 = now();
        getrusage(RUSAGE_SELF, &ru1);
        goto report;
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }

    {
        job_t *jobs = calloc((size_t)nthreads, sizeof *jobs);
        pthread_t *tids = calloc((size_t)nthreads, sizeof *tids);
        pthread_t tt;
        getrusage(RUSAGE_SELF, &ru0);
        t0 = now();
        if (base.count < 0) pthread_create(&tt, NULL, timer, &base.duration);
        for (int i = 0; i < nthreads; i++) {
            jobs[i] = base;
            if (nthreads == 1) run_rr(&jobs[i]);
            else pthread_create(&tids[i], NULL, run_rr, &jobs[i]);
        }
        for (int i = 0; i < nthreads; i++) {
            if (nthreads > 1) pthread_join(tids[i], NULL);
            ops += jobs[i].ops;
        }
        t1 = now();
        getrusage(RUSAGE_SELF, &ru1);
        if (base.count < 0) pthread_join(tt, NULL);
    }

report:
    printf("{\"ops\": %ld, \"commands\": %ld, \"seconds\": %.6f, \"utime\": %.6f, \"stime\": %.6f}\n",
           ops, ops * commands_per_op, t1 - t0,
           tv(ru1.ru_utime) - tv(ru0.ru_utime), tv(ru1.ru_stime) - tv(ru0.ru_stime));
    return 0;
}
