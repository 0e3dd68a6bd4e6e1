/* One Sentinel link on the shared transport: see sentinel_link.h.
 *
 * Connecting in a worker thread: the transport's connect (getaddrinfo, each address
 * within the connect timeout, then the TLS handshake) blocks, and a Sentinel that
 * does not answer (a blackhole address, a stopped process) would otherwise hold up
 * the loop. The thread owns a job that it shares with the link through a small
 * reference count: whichever of the two lets go last frees it, so closing a link (or
 * the whole monitor) never waits for a connect in flight. */
#include "sentinel_link.h"
#include "sentinelfast.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK 16384
#define CONNECT_THREAD_STACK (256 * 1024)

/* ================================================================ the connect job */

typedef struct sf_connect_job {
    pthread_mutex_t mutex;
    int refs;                      /* the link and the thread */
    int done;
    char host[256];
    char server_hostname[256];
    int port;
    double connect_timeout;
    sf_tls_params tls;
    int use_tls;
    int wake_fd;                   /* a dup of the monitor's wake socket */
    int rc;
    sf_transport t;
    sf_io_error err;
} sf_connect_job;

static void
job_free(sf_connect_job *job)
{
    if (sf_transport_is_open(&job->t))
        sf_transport_close(&job->t, 0);
    if (job->tls.ctx != NULL)
        SSL_CTX_free(job->tls.ctx);
    if (job->wake_fd >= 0)
        close(job->wake_fd);
    pthread_mutex_destroy(&job->mutex);
    free(job);
}

/* Drop one reference; free the job with the last. */
static void
job_release(sf_connect_job *job)
{
    pthread_mutex_lock(&job->mutex);
    int last = --job->refs == 0;
    pthread_mutex_unlock(&job->mutex);
    if (last)
        job_free(job);
}

static void *
connect_thread(void *arg)
{
    sf_connect_job *job = arg;
    sf_endpoint ep;
    memset(&ep, 0, sizeof ep);
    ep.host = job->host;
    ep.port = job->port;
    ep.connect_timeout = job->connect_timeout;
    ep.io_timeout = -1.0;
    ep.keepalive = 1;
    ep.tls = job->use_tls ? &job->tls : NULL;
    ep.nonblocking = 1;
    sf_transport t = SF_TRANSPORT_INIT;
    sf_io_error err;
    memset(&err, 0, sizeof err);
    int rc = sf_transport_connect(&t, &ep, NULL, &err);
    pthread_mutex_lock(&job->mutex);
    job->rc = rc;
    job->t = t;
    job->err = err;
    job->done = 1;
    pthread_mutex_unlock(&job->mutex);
    if (job->wake_fd >= 0)
        (void)!send(job->wake_fd, "c", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    job_release(job);
    return NULL;
}

/* ================================================================ the link */

void
sf_link_init(sf_link *l, int subscribe)
{
    memset(l, 0, sizeof *l);
    l->subscribe = subscribe;
    l->t.fd = -1;
    l->t.io_timeout = -1.0;
}

static void
set_failure(sf_link *l, sf_link_failure f, const char *fmt, const char *detail)
{
    l->failure = f;
    snprintf(l->why, sizeof l->why, fmt, detail ? detail : "");
}

static void
release_io(sf_link *l)
{
    if (sf_transport_is_open(&l->t))
        sf_transport_close(&l->t, 0);
    if (l->reader != NULL) {
        redisReaderFree(l->reader);
        l->reader = NULL;
    }
    free(l->out);
    l->out = NULL;
    l->outlen = l->outoff = l->outcap = 0;
    l->head = l->npending = 0;
    l->deadline = 0;
    l->want = 0;
}

void
sf_link_close(sf_link *l)
{
    if (l->job != NULL) {
        job_release(l->job);
        l->job = NULL;
    }
    release_io(l);
    l->state = SF_LINK_CLOSED;
}

void
sf_link_forget_after_fork(sf_link *l)
{
    /* A connect in flight belonged to a thread that does not exist here: its job is
     * left as it is (it may be locked; a few hundred bytes). The transport knows it
     * was made in the parent and closes without sending anything. */
    l->job = NULL;
    release_io(l);
    l->state = SF_LINK_CLOSED;
}

static int
fail(sf_link *l, sf_link_failure f, const char *fmt, const char *detail)
{
    set_failure(l, f, fmt, detail);
    sf_link_close(l);
    return -1;
}

int
sf_link_connect_start(sf_link *l, const sf_link_target *target, double timeout, int wake_fd)
{
    sf_link_close(l);
    l->failure = SF_LINK_FAIL_NONE;
    l->timeout = timeout;
    sf_connect_job *job = calloc(1, sizeof *job);
    if (job == NULL)
        return fail(l, SF_LINK_FAIL_NOMEM, "out of memory%s", NULL);
    pthread_mutex_init(&job->mutex, NULL);
    job->refs = 2;
    job->t.fd = -1;
    job->wake_fd = -1;
    snprintf(job->host, sizeof job->host, "%s", target->host);
    job->port = target->port;
    job->connect_timeout = target->connect_timeout;
    if (target->tls_ctx != NULL) {
        SSL_CTX_up_ref(target->tls_ctx);
        job->use_tls = 1;
        job->tls.ctx = target->tls_ctx;
        job->tls.check_hostname = target->check_hostname;
        if (target->server_hostname != NULL) {
            snprintf(job->server_hostname, sizeof job->server_hostname, "%s",
                     target->server_hostname);
            job->tls.server_hostname = job->server_hostname;
        }
    }
    if (wake_fd >= 0)
        job->wake_fd = fcntl(wake_fd, F_DUPFD_CLOEXEC, 0);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, CONNECT_THREAD_STACK);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);    /* signals go to the other threads */
    pthread_t tid;
    int rc = pthread_create(&tid, &attr, connect_thread, job);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        job->refs = 1;
        job_release(job);
        return fail(l, SF_LINK_FAIL_CONNECT, "cannot start a connect thread: %s", strerror(rc));
    }
    l->job = job;
    l->state = SF_LINK_CONNECTING;
    return 0;
}

/* ---------------------------------------------------------------- commands */

static int
out_reserve(sf_link *l, size_t extra)
{
    if (l->outoff > 0 && l->outoff == l->outlen)
        l->outoff = l->outlen = 0;
    if (l->outcap - l->outlen >= extra)
        return 0;
    size_t cap = l->outcap ? l->outcap : 256;
    while (cap - l->outlen < extra)
        cap *= 2;
    char *p = realloc(l->out, cap);
    if (p == NULL)
        return -1;
    l->out = p;
    l->outcap = cap;
    return 0;
}

static void
out_append(sf_link *l, const char *s, size_t n)
{
    memcpy(l->out + l->outlen, s, n);
    l->outlen += n;
}

static void
expect(sf_link *l, int tag, int arg)
{
    int slot = (l->head + l->npending) % SF_LINK_MAX_PENDING;
    l->tags[slot] = tag;
    l->args[slot] = arg;
    if (l->npending++ == 0)
        l->deadline = sf_monotonic() + l->timeout;
}

int
sf_link_send(sf_link *l, int tag, int arg, int argc, const char *const *argv)
{
    if (l->state != SF_LINK_HANDSHAKE && l->state != SF_LINK_READY)
        return -1;
    if (l->npending == SF_LINK_MAX_PENDING)
        return fail(l, SF_LINK_FAIL_PROTOCOL, "too many replies pending%s", NULL);
    size_t need = 24;
    for (int i = 0; i < argc; i++)
        need += strlen(argv[i]) + 24;
    if (out_reserve(l, need) < 0)
        return fail(l, SF_LINK_FAIL_NOMEM, "out of memory%s", NULL);
    char head[32];
    int n = snprintf(head, sizeof head, "*%d\r\n", argc);
    out_append(l, head, (size_t)n);
    for (int i = 0; i < argc; i++) {
        size_t len = strlen(argv[i]);
        n = snprintf(head, sizeof head, "$%zu\r\n", len);
        out_append(l, head, (size_t)n);
        out_append(l, argv[i], len);
        out_append(l, "\r\n", 2);
    }
    expect(l, tag, arg);
    return 0;
}

int
sf_link_connect_poll(sf_link *l, const char *username, const char *password)
{
    if (l->state != SF_LINK_CONNECTING || l->job == NULL)
        return l->state == SF_LINK_CLOSED ? -1 : 1;
    sf_connect_job *job = l->job;
    pthread_mutex_lock(&job->mutex);
    int done = job->done;
    int rc = job->rc;
    sf_io_error err = job->err;
    if (done && rc == 0) {
        l->t = job->t;                /* the link owns the transport now */
        job->t.fd = -1;
        job->t.ssl = NULL;
    }
    pthread_mutex_unlock(&job->mutex);
    if (!done)
        return 0;
    job_release(job);
    l->job = NULL;
    if (rc != 0)
        return fail(l, SF_LINK_FAIL_CONNECT, "%s", err.msg[0] ? err.msg : "cannot connect");
    l->reader = redisReaderCreate();
    if (l->reader == NULL)
        return fail(l, SF_LINK_FAIL_NOMEM, "out of memory%s", NULL);
    l->state = SF_LINK_HANDSHAKE;
    if (password != NULL) {
        const char *argv[3] = {"AUTH", username, password};
        int sent = username != NULL ? sf_link_send(l, SF_LINK_TAG_AUTH, 0, 3, argv)
                                    : sf_link_send(l, SF_LINK_TAG_AUTH, 0, 2,
                                                   (const char *const[]){"AUTH", password});
        if (sent < 0)
            return -1;
    }
    if (l->subscribe) {
        const char *argv[2] = {"PSUBSCRIBE", "*"};
        if (sf_link_send(l, SF_LINK_TAG_PSUBSCRIBE, 0, 2, argv) < 0)
            return -1;
    }
    else if (password == NULL) {
        l->state = SF_LINK_READY;
    }
    return 1;
}

int
sf_link_pollfd(const sf_link *l, struct pollfd *p)
{
    if (l->state != SF_LINK_HANDSHAKE && l->state != SF_LINK_READY)
        return 0;
    p->fd = l->t.fd;
    p->events = POLLIN;
    if (l->outlen > l->outoff || l->want == POLLOUT)
        p->events |= POLLOUT;
    p->revents = 0;
    return 1;
}

/* ---------------------------------------------------------------- I/O */

static int
flush_out(sf_link *l)
{
    while (l->outoff < l->outlen) {
        int want = 0;
        sf_io_error e;
        ssize_t n = sf_transport_write_nb(&l->t, l->out + l->outoff, l->outlen - l->outoff,
                                          &want, &e);
        if (n < 0)
            return fail(l, SF_LINK_FAIL_IO, "%s", e.msg[0] ? e.msg : "write failed");
        if (n == 0) {
            l->want = want;
            return 0;
        }
        l->outoff += (size_t)n;
    }
    l->outoff = l->outlen = 0;
    l->want = 0;
    return 0;
}

static int
is_auth_error(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR
           && (strncmp(r->str, "NOAUTH", 6) == 0 || strncmp(r->str, "WRONGPASS", 9) == 0
               || strncmp(r->str, "ERR invalid password", 20) == 0
               || strncmp(r->str, "ERR AUTH", 8) == 0);
}

static int
is_pmessage(const redisReply *r)
{
    return r->type == REDIS_REPLY_ARRAY && r->elements == 4
           && r->element[0]->type == REDIS_REPLY_STRING && r->element[0]->len == 8
           && memcmp(r->element[0]->str, "pmessage", 8) == 0;
}

/* One complete reply. 0 go on, -1 failed. */
static int
on_reply(sf_link *l, const redisReply *r, sf_link_reply_fn fn, void *ctx, int *ready_now)
{
    if (l->subscribe && is_pmessage(r)) {
        if (l->state == SF_LINK_READY)
            fn(ctx, l, SF_LINK_TAG_MESSAGE, 0, r);
        return 0;
    }
    if (l->npending == 0)
        return fail(l, SF_LINK_FAIL_PROTOCOL, "unexpected reply%s", NULL);
    int tag = l->tags[l->head], arg = l->args[l->head];
    l->head = (l->head + 1) % SF_LINK_MAX_PENDING;
    if (--l->npending == 0)
        l->deadline = 0;
    else
        l->deadline = sf_monotonic() + l->timeout;   /* the next reply: a fresh allowance */
    if (is_auth_error(r))
        return fail(l, SF_LINK_FAIL_AUTH, "%s", r->str);
    switch (tag) {
    case SF_LINK_TAG_AUTH:
        if (r->type == REDIS_REPLY_ERROR)
            return fail(l, SF_LINK_FAIL_AUTH, "%s", r->str);
        if (!l->subscribe) {
            l->state = SF_LINK_READY;
            *ready_now = 1;
        }
        return 0;
    case SF_LINK_TAG_PSUBSCRIBE:
        if (r->type == REDIS_REPLY_ERROR)
            return fail(l, SF_LINK_FAIL_SUBSCRIBE, "PSUBSCRIBE refused: %s", r->str);
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 1
            || r->element[0]->type != REDIS_REPLY_STRING
            || strcmp(r->element[0]->str, "psubscribe") != 0)
            return fail(l, SF_LINK_FAIL_SUBSCRIBE, "PSUBSCRIBE: unexpected reply%s", NULL);
        l->state = SF_LINK_READY;
        *ready_now = 1;
        return 0;
    default:
        fn(ctx, l, tag, arg, r);
        return 0;
    }
}

int
sf_link_io(sf_link *l, short revents, sf_link_reply_fn fn, void *ctx, int *ready_now)
{
    *ready_now = 0;
    if (l->state != SF_LINK_HANDSHAKE && l->state != SF_LINK_READY)
        return 0;
    if (flush_out(l) < 0)
        return -1;
    if (!(revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL)) && l->want != POLLIN)
        return 0;
    char buf[READ_CHUNK];
    for (;;) {
        int want = 0;
        sf_io_error e;
        ssize_t n = sf_transport_read_nb(&l->t, buf, sizeof buf, &want, &e);
        if (n < 0)
            return fail(l, SF_LINK_FAIL_IO, "%s", e.msg[0] ? e.msg : "connection lost");
        if (n == 0) {
            if (want == POLLOUT)
                l->want = POLLOUT;
            break;
        }
        if (redisReaderFeed(l->reader, buf, (size_t)n) != REDIS_OK)
            return fail(l, SF_LINK_FAIL_NOMEM, "out of memory%s", NULL);
        for (;;) {
            void *reply = NULL;
            if (redisReaderGetReply(l->reader, &reply) != REDIS_OK)
                return fail(l, SF_LINK_FAIL_PROTOCOL, "protocol error: %s", l->reader->errstr);
            if (reply == NULL)
                break;
            int rc = on_reply(l, reply, fn, ctx, ready_now);
            freeReplyObject(reply);
            if (rc < 0)
                return -1;
        }
    }
    return flush_out(l);
}

int
sf_link_check_deadline(sf_link *l, double now)
{
    if ((l->state == SF_LINK_HANDSHAKE || l->state == SF_LINK_READY) && l->npending > 0
        && l->deadline > 0 && now >= l->deadline)
        return fail(l, SF_LINK_FAIL_TIMEOUT, "no reply within the timeout%s", NULL);
    return 0;
}
