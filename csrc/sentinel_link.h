/* One link to one Sentinel, on the shared transport (transport.h): connect, AUTH,
 * PSUBSCRIBE, queries, as a non-blocking state machine that the monitor loop drives
 * from its poll(). Nothing here blocks the loop: connecting (getaddrinfo, TCP connect,
 * TLS handshake) runs in a short-lived worker thread that hands the connected
 * transport back (sf_link_connect_poll); everything after that is non-blocking reads
 * and writes. Replies are parsed with hiredis's reader (default redisReply objects),
 * commands encoded by sf_link_send. No Python, no GIL.
 *
 * A link is used by one thread at a time (the monitor loop); it has no lock. */
#ifndef SF_SENTINEL_LINK_H
#define SF_SENTINEL_LINK_H

#include <stddef.h>
#include <poll.h>
#include <hiredis/hiredis.h>

#include "transport.h"

typedef enum {
    SF_LINK_CLOSED = 0,
    SF_LINK_CONNECTING,       /* the worker thread is connecting */
    SF_LINK_HANDSHAKE,        /* connected; AUTH / PSUBSCRIBE sent, replies pending */
    SF_LINK_READY,            /* authenticated (and subscribed, for an event link) */
} sf_link_state;

typedef enum {
    SF_LINK_FAIL_NONE = 0,
    SF_LINK_FAIL_CONNECT,     /* could not connect (or TLS handshake failed) */
    SF_LINK_FAIL_IO,          /* the connection broke */
    SF_LINK_FAIL_TIMEOUT,     /* a reply did not come within the timeout */
    SF_LINK_FAIL_AUTH,        /* AUTH refused, or NOAUTH / WRONGPASS to a command */
    SF_LINK_FAIL_SUBSCRIBE,   /* PSUBSCRIBE refused for another reason */
    SF_LINK_FAIL_PROTOCOL,    /* unparsable reply */
    SF_LINK_FAIL_NOMEM,
} sf_link_failure;

/* What the replies are for. */
enum {
    SF_LINK_TAG_AUTH = 1,
    SF_LINK_TAG_PSUBSCRIBE,
    SF_LINK_TAG_MESSAGE,      /* a published message (event links) */
    SF_LINK_TAG_USER,         /* first tag value for the caller's queries */
};

/* How to reach a Sentinel; the strings and the TLS context must outlive the call to
 * sf_link_connect_start only (the worker thread copies them / takes a reference). */
typedef struct {
    const char *host;
    int port;
    double connect_timeout;
    SSL_CTX *tls_ctx;              /* NULL: plain TCP */
    const char *server_hostname;   /* TLS: SNI and verified name; NULL: host */
    int check_hostname;
} sf_link_target;

struct sf_connect_job;

#define SF_LINK_MAX_PENDING 256

typedef struct {
    int subscribe;                 /* an event link: PSUBSCRIBE * after AUTH */
    sf_link_state state;
    sf_transport t;
    redisReader *reader;
    char *out;                     /* encoded commands not yet written */
    size_t outlen, outoff, outcap;
    int want;                      /* what the transport waits for besides POLLIN */
    int tags[SF_LINK_MAX_PENDING]; /* replies expected, in order (a ring) */
    int args[SF_LINK_MAX_PENDING];
    int head, npending;
    double timeout;                /* for each batch of replies */
    double deadline;               /* the pending replies are due by then; 0: none due */
    struct sf_connect_job *job;
    sf_link_failure failure;
    char why[400];                 /* the last failure, for the log line */
} sf_link;

void sf_link_init(sf_link *l, int subscribe);

/* Start connecting (in a worker thread that writes one byte to `wake_fd` when done).
 * 0, or -1 if the thread could not start (failure/why set). */
int sf_link_connect_start(sf_link *l, const sf_link_target *target, double timeout, int wake_fd);

/* Collect a finished connect: 1 connected (now HANDSHAKE: AUTH and PSUBSCRIBE are
 * queued; username may be NULL, password NULL for no AUTH), 0 still connecting,
 * -1 failed (CLOSED, failure/why set). */
int sf_link_connect_poll(sf_link *l, const char *username, const char *password);

/* Queue a command (C strings) whose reply is reported with `tag` and `arg`.
 * 0, or -1 (out of memory / too many pending: the link failed). */
int sf_link_send(sf_link *l, int tag, int arg, int argc, const char *const *argv);

/* Fill the pollfd for this link; 0 if it has nothing to poll (closed/connecting). */
int sf_link_pollfd(const sf_link *l, struct pollfd *p);

/* Called for every complete reply (the link owns `r`; do not keep it). */
typedef void (*sf_link_reply_fn)(void *ctx, sf_link *l, int tag, int arg, const redisReply *r);

/* Do the I/O poll() allowed: write what is queued, read everything available, report
 * every reply. 0 go on, -1 failed (the link is closed; failure/why set). `*ready_now`
 * is set when the handshake completed in this call. */
int sf_link_io(sf_link *l, short revents, sf_link_reply_fn fn, void *ctx, int *ready_now);

/* Fail the link if its pending replies are overdue: -1 (closed, TIMEOUT), else 0. */
int sf_link_check_deadline(sf_link *l, double now);

/* Replies expected and not yet received. */
static inline int
sf_link_pending(const sf_link *l)
{
    return l->npending;
}

/* Close (a connect in flight is left to its thread, which cleans up). */
void sf_link_close(sf_link *l);

/* In a forked child: forget the parent's link without sending anything on it. */
void sf_link_forget_after_fork(sf_link *l);

#endif
