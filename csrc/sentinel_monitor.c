/* The Sentinel monitor: the Monitor type and its loop, so that pools learn of a
 * failover from Sentinel itself rather than from an error.
 *
 * run() is the body of a background thread (started by sentinelfast.failover). It
 * holds the GIL only to hand collected events to Python; everything else runs
 * without it, in one thread that multiplexes every Sentinel link with poll():
 *   - two links per Sentinel (sentinel_link.c): an event link (AUTH, PSUBSCRIBE *)
 *     and a query link for re-checks (AUTH, SENTINEL MASTER / SENTINELS);
 *   - events are acted on as they are read (sentinel_events.c parses them): a hold
 *     on +try-failover and the other failover steps, the switch on +switch-master;
 *   - a re-check (every recheck_interval, when a link comes back, when a hold ends
 *     without news) sends its queries to every Sentinel at once and decides when all
 *     have answered or the timeout passed: the Sentinel with the highest config-epoch
 *     is trusted; one reporting failover_in_progress starts a hold, unless it is the
 *     tail of the switch we already made (sentinel_service.c);
 *   - Sentinels are learned from SENTINEL SENTINELS and +sentinel; the configured
 *     ones are kept; an address that is not valid is skipped with a log line.
 *
 * Locking: `mutex` guards what Python threads also touch (the Sentinel table's
 * addresses and states, the services, the event queue, the flags and counters). The
 * loop takes it only for short copies, never across I/O or a wait, and no Python
 * object is built and no Python called while it is held. The links' I/O state is the
 * loop's alone. `io_busy` marks the loop's (non-blocking, short) I/O passes; fork
 * waits for the end of one before it takes the mutex, so a child never inherits a
 * link in the middle of a change. Lock order: monitor mutex, then a service mutex;
 * the loop never holds both. */
#include "sentinel_monitor.h"
#include "promotion_probe.h"
#include "sentinel_events.h"
#include "sentinel_link.h"
#include "tls_context.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SENTINELS 32
#define MAX_SERVICES 64
#define MAX_FIP_REPORTS 8
#define LINK_RETRY 0.5
/* Bad-address reports remembered per Sentinel (logged once each). More than one round
 * and its events can bring, or they would evict each other and be logged every round. */
#define BAD_SEEN 64

enum { TAG_MASTER = SF_LINK_TAG_USER, TAG_SENTINELS, TAG_PING };

/* An event link that has nothing to say for a while is asked PING this often: a
 * Sentinel cut off by the network (no FIN, no RST) is found down within this plus
 * the timeout, not never. */
#define EVENT_LINK_PING_INTERVAL 1.0

typedef struct {
    /* under the mutex: read by stats() */
    char host[SF_HOST_MAX];
    int port;
    int configured;               /* given by the application: never dropped */
    int up;                       /* the event link is subscribed */
    /* the loop's own */
    sf_link events;               /* PSUBSCRIBE * */
    sf_link queries;              /* re-check queries */
    double next_attempt;          /* event link: connect again then */
    double quiet_until;           /* a query failed: left out of re-checks until then */
    int auth_failing;             /* logged once per series of failures */
    int down_reported;            /* a link that never came up was logged once */
    double next_ping;             /* event link: PING then (if nothing is pending) */
    int round_pending;            /* replies of the current re-check still expected */
    int round_wanted;             /* queries to send once the query link is up */
    unsigned long long bad_seen[BAD_SEEN];   /* recent bad-address reports: logged once each */
    int bad_next;
} sentinel_t;

typedef struct {
    int answers;
    long long best_epoch;
    char best_host[SF_HOST_MAX];
    int best_port;
    long down_after;
    int nfip, fip_overflow;
    struct {
        char host[SF_HOST_MAX];
        int port;
        long long epoch;
    } fip[MAX_FIP_REPORTS];
} round_acc;

typedef struct {
    char kind[48];
    char service[SF_SERVICE_NAME_MAX];
    char detail[512];
} event_t;

typedef struct {
    PyObject_HEAD
    sf_state *st;
    pthread_mutex_t mutex;        /* see the top of the file */
    pthread_cond_t io_idle;       /* broadcast when io_busy drops or fork_waiting ends */
    int io_busy;
    int fork_waiting;             /* a fork waits: the loop starts no I/O pass */
    sentinel_t sentinels[MAX_SENTINELS];
    int nsentinels;
    sf_service_obj *services[MAX_SERVICES];  /* strong references; only appended */
    int nservices;
    event_t *events;
    int nevents, capevents;
    int wake[2];                  /* socketpair: [0] polled by the loop */
    int stop, running, recheck_now;
    char *username, *password;    /* AUTH for the Sentinels (NULL: none) */
    /* immutable after __init__ */
    double timeout, connect_timeout, recheck_interval;
    PyObject *tls;                /* the TLSContext object or NULL */
    SSL_CTX *tls_ctx;             /* borrowed from `tls`; renewed by the loop's thread */
    double tls_next_refresh;
    char *server_hostname;
    int check_hostname;
    PyObject *on_event;
    /* the loop's own */
    double next_recheck;
    int round_active;
    double round_deadline;
    int round_nservices;
    round_acc *round;
    int odown[MAX_SERVICES];          /* per service: +odown seen (no -odown or switch since) */
    double minority_since;            /* fewer than a majority of the Sentinels up since then
                                         (0: a majority is up) */
    double majority_since;            /* a majority up again since then (0: never lost) */
    double round_started, checked_since;  /* the round under way began then; the last
                                             completed round began then */
    sf_probe probes[MAX_SERVICES];    /* per service: the promotion probe */
    unsigned long fork_generation;
    /* counters, under the mutex */
    unsigned long events_received, rechecks, link_failures, auth_failures, bad_addresses;
} sf_monitor;

/* ================================================================ small helpers */

static void
wake_loop(sf_monitor *m)
{
    (void)!send(m->wake[1], "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Queue an event for Python (no GIL needed). Takes the mutex. */
static void
push_event(sf_monitor *m, const char *kind, const char *service, const char *fmt, ...)
{
    event_t e;
    snprintf(e.kind, sizeof e.kind, "%s", kind);
    snprintf(e.service, sizeof e.service, "%s", service ? service : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.detail, sizeof e.detail, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&m->mutex);
    if (m->nevents == m->capevents) {
        int cap = m->capevents ? m->capevents * 2 : 16;
        event_t *ev = realloc(m->events, (size_t)cap * sizeof(event_t));
        if (ev == NULL) {          /* events are informational: drop on OOM */
            pthread_mutex_unlock(&m->mutex);
            return;
        }
        m->events = ev;
        m->capevents = cap;
    }
    m->events[m->nevents++] = e;
    pthread_mutex_unlock(&m->mutex);
}

static void
count(sf_monitor *m, unsigned long *counter)
{
    pthread_mutex_lock(&m->mutex);
    (*counter)++;
    pthread_mutex_unlock(&m->mutex);
}

static void
set_busy(sf_monitor *m, int busy)
{
    pthread_mutex_lock(&m->mutex);
    while (busy && m->fork_waiting)
        pthread_cond_wait(&m->io_idle, &m->mutex);
    m->io_busy = busy;
    if (!busy)
        pthread_cond_broadcast(&m->io_idle);
    pthread_mutex_unlock(&m->mutex);
}

/* Services known to the loop this round (entries below the count never change). */
static int
service_count(sf_monitor *m)
{
    pthread_mutex_lock(&m->mutex);
    int n = m->nservices;
    pthread_mutex_unlock(&m->mutex);
    return n;
}

static sf_service *
find_service(sf_monitor *m, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(m->services[i]->svc->name, name) == 0)
            return m->services[i]->svc;
    return NULL;
}

/* Add a Sentinel (the address was validated). Takes the mutex. */
static void
add_sentinel(sf_monitor *m, const char *host, int port, int configured)
{
    pthread_mutex_lock(&m->mutex);
    for (int i = 0; i < m->nsentinels; i++) {
        if (m->sentinels[i].port == port && strcmp(m->sentinels[i].host, host) == 0) {
            pthread_mutex_unlock(&m->mutex);
            return;
        }
    }
    if (m->nsentinels == MAX_SENTINELS) {
        pthread_mutex_unlock(&m->mutex);
        return;
    }
    sentinel_t *s = &m->sentinels[m->nsentinels];
    memset(s, 0, sizeof *s);
    snprintf(s->host, sizeof s->host, "%s", host);
    s->port = port;
    s->configured = configured;
    sf_link_init(&s->events, 1);
    sf_link_init(&s->queries, 0);
    m->nsentinels++;
    pthread_mutex_unlock(&m->mutex);
    if (!configured)
        push_event(m, "sentinel-learned", NULL, "%s:%d", host, port);
}

static int
sentinel_count(sf_monitor *m)
{
    pthread_mutex_lock(&m->mutex);
    int n = m->nsentinels;
    pthread_mutex_unlock(&m->mutex);
    return n;
}

/* Copy the credentials (under the mutex) for a handshake. */
static void
credentials(sf_monitor *m, char *user, size_t ucap, char *pass, size_t pcap, int *has_user,
            int *has_pass)
{
    pthread_mutex_lock(&m->mutex);
    *has_user = m->username != NULL;
    *has_pass = m->password != NULL;
    snprintf(user, ucap, "%s", m->username ? m->username : "");
    snprintf(pass, pcap, "%s", m->password ? m->password : "");
    pthread_mutex_unlock(&m->mutex);
}

static int
start_connect(sf_monitor *m, sentinel_t *s, sf_link *l)
{
    sf_link_target target = {
        .host = s->host,
        .port = s->port,
        .connect_timeout = m->connect_timeout,
        .tls_ctx = m->tls_ctx,
        .server_hostname = m->server_hostname,
        .check_hostname = m->check_hostname,
    };
    return sf_link_connect_start(l, &target, m->timeout, m->wake[1]);
}

/* A Sentinel named an invalid address: count it, and log it unless this Sentinel
 * reported the very same thing recently (re-checks would repeat it every interval). */
static void
bad_address(sf_monitor *m, sentinel_t *s, const char *service, const char *fmt, ...)
{
    char detail[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    count(m, &m->bad_addresses);
    unsigned long long h = 1469598103934665603ULL;     /* FNV-1a */
    for (const char *p = detail; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    for (int i = 0; i < BAD_SEEN; i++)
        if (s->bad_seen[i] == h)
            return;
    s->bad_seen[s->bad_next] = h;
    s->bad_next = (s->bad_next + 1) % BAD_SEEN;
    push_event(m, "sentinel-bad-address", service, "%s", detail);
}

/* ================================================================ acting on news */

static int
service_index(sf_monitor *m, int n, sf_service *svc)
{
    for (int i = 0; i < n; i++)
        if (m->services[i]->svc == svc)
            return i;
    return -1;
}

/* 1 a hold started, 0 one was running, -1 the news is about the master we left. */
static int
begin_failover(sf_monitor *m, sf_service *svc, const char *host, int port, const char *why)
{
    int started = sf_service_begin_failover(svc, host, port);
    if (started > 0)
        push_event(m, "failover-started", svc->name, "%s; writes held", why);
    return started;
}

static void
switch_master(sf_monitor *m, sf_service *svc, const char *host, int port, long long epoch,
              sf_switch_source source, const char *why)
{
    sf_switch_outcome o;
    sf_service_switch_master(svc, host, port, epoch, source, &o);
    int i = service_index(m, service_count(m), svc);
    if (i >= 0 && source != SF_SWITCH_FROM_REPORT) {
        sf_probe_stop(&m->probes[i]);
        m->odown[i] = 0;
    }
    if (o.moved && o.was_known)
        push_event(m, "switch-master", svc->name, "%s -> %s:%d (%s); %d connection(s) dropped",
                   o.old, host, port, why, o.dropped);
    else if (o.moved)
        push_event(m, "master-known", svc->name, "%s:%d (%s)", host, port, why);
    if (o.ended_failover)
        push_event(m, "failover-ended", svc->name, "%s", why);
}

static void
request_recheck(sf_monitor *m)
{
    pthread_mutex_lock(&m->mutex);
    m->recheck_now = 1;
    pthread_mutex_unlock(&m->mutex);
}

static int
channel_is_try_failover(const char *channel)
{
    return strcmp(channel, "+try-failover") == 0;
}

static void
handle_event(sf_monitor *m, sentinel_t *s, const redisReply *msg)
{
    const redisReply *channel = msg->element[2], *payload = msg->element[3];
    if (channel->type != REDIS_REPLY_STRING || payload->type != REDIS_REPLY_STRING)
        return;
    count(m, &m->events_received);
    sf_sentinel_event ev;
    sf_parse_sentinel_event(channel->str, (size_t)channel->len, payload->str,
                            (size_t)payload->len, &ev);
    if (ev.action == SF_EVENT_IGNORED)
        return;
    int n = service_count(m);
    sf_service *svc = find_service(m, n, ev.service);
    if (svc == NULL)
        return;
    int i = service_index(m, n, svc);
    switch (ev.action) {
    case SF_EVENT_SWITCH_MASTER:
        switch_master(m, svc, ev.host, ev.port, -1, SF_SWITCH_FROM_EVENT, "+switch-master");
        break;
    case SF_EVENT_PROMOTED:
        switch_master(m, svc, ev.host, ev.port, -1, SF_SWITCH_FROM_EVENT, "+promoted-slave");
        break;
    case SF_EVENT_FAILOVER_ELECTION:
        /* The master is down: nothing written now would land (hold at once). A planned
         * failover of a healthy master: writes go on until the replica is chosen. */
        if (i >= 0 && m->odown[i])
            begin_failover(m, svc, ev.has_master ? ev.master_host : NULL, ev.master_port,
                           channel->str);
        else if (channel_is_try_failover(channel->str))
            /* No hold in C; asyncio pools, whose holds follow events through their loop
             * (a loop may lag a Sentinel tick), start theirs here. */
            push_event(m, "failover-election", svc->name, "%s", channel->str);
        break;
    case SF_EVENT_FAILOVER_BEGIN: {
        int held = begin_failover(m, svc, ev.has_master ? ev.master_host : NULL,
                                  ev.master_port, channel->str);
        sf_node_access access;
        if (i >= 0 && held >= 0 && ev.has_instance && sf_service_probe_access(svc, &access)) {
            /* until the hold's deadline (after it, writes go on anyway) */
            sf_probe_start(&m->probes[i], ev.host, ev.port,
                           sf_service_hold_deadline(svc, sf_monotonic() + 60.0));
            if (access.tls_ctx != NULL)
                SSL_CTX_free(access.tls_ctx);
        }
        break;
    }
    case SF_EVENT_FAILOVER_ABORT: {
        /* After REPLICAOF NO ONE the leader can abort only for want of seeing the
         * promotion (-failover-abort-slave-timeout). Any other abort while the chosen
         * replica is being probed, or after the probe switched to it, comes from another
         * Sentinel that lost the election (-failover-abort-not-elected): the leader goes
         * on, and so does the client. */
        int slave_timeout = strcmp(channel->str, "-failover-abort-slave-timeout") == 0;
        if (!slave_timeout && i >= 0
            && (m->probes[i].active || sf_service_has_unconfirmed(svc)))
            break;
        if (i >= 0)
            sf_probe_stop(&m->probes[i]);
        sf_switch_outcome o;
        char back[SF_HOST_MAX];
        int back_port = 0;
        if (sf_service_revert_unconfirmed(svc, &o)) {
            if (!sf_service_master(svc, back, sizeof back, &back_port))
                snprintf(back, sizeof back, "?");
            push_event(m, "switch-master", svc->name,
                       "%s -> %s:%d (%s: back to the master the probe left); %d connection(s) "
                       "dropped", o.old, back, back_port, channel->str, o.dropped);
        }
        if (sf_service_end_failover(svc))
            push_event(m, "failover-ended", svc->name, "%s", channel->str);
        request_recheck(m);
        break;
    }
    case SF_EVENT_MASTER_DOWN:
    case SF_EVENT_MASTER_UP:
        if (i >= 0)
            m->odown[i] = ev.action == SF_EVENT_MASTER_DOWN;
        push_event(m, channel->str + 1, svc->name, "%.*s", (int)payload->len, payload->str);
        break;
    case SF_EVENT_SENTINEL_ADDED:
        add_sentinel(m, ev.host, ev.port, 0);
        break;
    case SF_EVENT_NOTICE:
        push_event(m, channel->str + 1, svc->name, "%.*s", (int)payload->len, payload->str);
        break;
    case SF_EVENT_BAD_ADDRESS:
        bad_address(m, s, svc->name, "%s from %s:%d skipped: %s", channel->str, s->host,
                    s->port, ev.why);
        break;
    default:
        break;
    }
}

/* ================================================================ re-check rounds */

static void
start_round(sf_monitor *m, double now)
{
    pthread_mutex_lock(&m->mutex);
    m->rechecks++;
    m->recheck_now = 0;
    int n = m->nservices;
    pthread_mutex_unlock(&m->mutex);
    m->next_recheck = now + m->recheck_interval;
    if (n == 0)
        return;
    free(m->round);
    m->round = calloc((size_t)n, sizeof(round_acc));
    if (m->round == NULL)
        return;
    for (int i = 0; i < n; i++)
        m->round[i].best_epoch = -1;
    m->round_nservices = n;
    m->round_active = 1;
    m->round_started = now;
    m->round_deadline = now + m->timeout
                        + (m->connect_timeout > 0 ? m->connect_timeout : m->timeout);
    int ns = sentinel_count(m);
    for (int i = 0; i < ns; i++) {
        sentinel_t *s = &m->sentinels[i];
        s->round_pending = 0;
        s->round_wanted = 0;
        if (!s->up || now < s->quiet_until)
            continue;
        s->round_wanted = 1;
        if (s->queries.state == SF_LINK_CLOSED && start_connect(m, s, &s->queries) < 0) {
            s->round_wanted = 0;
            s->quiet_until = now + 2 * m->recheck_interval;
        }
    }
}

/* Send the round's queries on a query link that can take them. */
static void
send_round_queries(sf_monitor *m, sentinel_t *s)
{
    if (!m->round_active || !s->round_wanted)
        return;
    if (s->queries.state != SF_LINK_HANDSHAKE && s->queries.state != SF_LINK_READY)
        return;
    s->round_wanted = 0;
    for (int i = 0; i < m->round_nservices; i++) {
        const char *name = m->services[i]->svc->name;
        const char *master[3] = {"SENTINEL", "MASTER", name};
        const char *sentinels[3] = {"SENTINEL", "SENTINELS", name};
        if (sf_link_send(&s->queries, TAG_MASTER, i, 3, master) < 0
            || sf_link_send(&s->queries, TAG_SENTINELS, i, 3, sentinels) < 0) {
            s->round_pending = 0;
            return;
        }
        s->round_pending += 2;
    }
}

static void
on_master_reply(sf_monitor *m, sentinel_t *s, int i, const redisReply *r)
{
    sf_master_report rep;
    if (sf_parse_master_reply(r, &rep) < 0)
        return;                       /* e.g. "ERR No such master with that name" */
    round_acc *acc = &m->round[i];
    const char *name = m->services[i]->svc->name;
    acc->answers++;
    if (rep.down_after_ms > 0)
        acc->down_after = rep.down_after_ms;
    if (!rep.has_address) {
        if (rep.why[0])
            bad_address(m, s, name, "SENTINEL MASTER from %s:%d skipped: %s", s->host, s->port,
                        rep.why);
        return;
    }
    if (rep.failover_in_progress) {
        if (acc->nfip == MAX_FIP_REPORTS) {
            acc->fip_overflow = 1;
            return;
        }
        snprintf(acc->fip[acc->nfip].host, SF_HOST_MAX, "%s", rep.host);
        acc->fip[acc->nfip].port = rep.port;
        acc->fip[acc->nfip].epoch = rep.config_epoch;
        acc->nfip++;
        return;                       /* its address is about to change: not a candidate */
    }
    if (rep.config_epoch >= 0 && rep.is_master && !rep.s_down && !rep.o_down
        && rep.config_epoch > acc->best_epoch) {
        acc->best_epoch = rep.config_epoch;
        snprintf(acc->best_host, sizeof acc->best_host, "%s", rep.host);
        acc->best_port = rep.port;
    }
}

static void
on_sentinels_reply(sf_monitor *m, sentinel_t *s, int i, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t j = 0; j < r->elements; j++) {
        char host[SF_HOST_MAX], why[SF_EVENT_WHY_MAX];
        int port;
        int ok = sf_parse_sentinel_entry(r->element[j], host, sizeof host, &port, why, sizeof why);
        if (ok > 0) {
            add_sentinel(m, host, port, 0);
        }
        else if (ok == 0) {
            bad_address(m, s, m->services[i]->svc->name,
                        "SENTINEL SENTINELS from %s:%d: entry skipped: %s", s->host, s->port, why);
        }
    }
}

/* A Sentinel reports failover_in_progress on one address while another, in the same
 * round, reports a healthy master at another address with a config-epoch at least as
 * new: that failover already produced this master. The leader keeps the flag (on the
 * old address, with the new epoch) while it reconfigures the replicas, up to
 * failover-timeout, after the others have switched on its hello messages; a client
 * that meets that moment (created then, or learning the switch from a re-check, not
 * from +switch-master) must not hold writes for it. A failover of the current
 * master reports the same address as the healthy reports: still in progress. */
static int
report_of_finished_failover(const round_acc *acc, int k)
{
    return acc->best_epoch >= 0 && acc->fip[k].epoch >= 0
           && acc->fip[k].epoch <= acc->best_epoch
           && (acc->fip[k].port != acc->best_port
               || strcmp(acc->fip[k].host, acc->best_host) != 0);
}

/* Decide: for each service, what the Sentinels said this round. */
static void
finish_round(sf_monitor *m)
{
    m->round_active = 0;
    m->checked_since = m->round_started;
    int ns = sentinel_count(m);
    for (int i = 0; i < ns; i++) {
        sentinel_t *s = &m->sentinels[i];
        if (s->round_pending > 0 || s->round_wanted) {
            /* did not answer in time: leave it out of re-checks for a while */
            sf_link_close(&s->queries);
            s->quiet_until = sf_monotonic() + 2 * m->recheck_interval;
        }
        s->round_pending = 0;
        s->round_wanted = 0;
    }
    for (int i = 0; i < m->round_nservices; i++) {
        sf_service *svc = m->services[i]->svc;
        round_acc *acc = &m->round[i];
        if (acc->down_after > 0)
            sf_service_set_down_after(svc, acc->down_after);
        int unsettled = acc->fip_overflow;
        char current[SF_HOST_MAX];
        int current_port = 0;
        int known = sf_service_master(svc, current, sizeof current, &current_port);
        long long current_epoch = -1;
        if (known && acc->best_epoch >= 0 && acc->best_port == current_port
            && strcmp(acc->best_host, current) == 0)
            current_epoch = acc->best_epoch;
        for (int k = 0; k < acc->nfip && !unsettled; k++)
            if (!report_of_finished_failover(acc, k)
                && !sf_service_is_settled_report(svc, acc->fip[k].host, acc->fip[k].port,
                                                 acc->fip[k].epoch, current_epoch))
                unsettled = 1;
        if (unsettled) {
            begin_failover(m, svc, NULL, 0, "a Sentinel reports failover_in_progress");
            continue;
        }
        if (acc->best_epoch >= 0)
            switch_master(m, svc, acc->best_host, acc->best_port, acc->best_epoch,
                          SF_SWITCH_FROM_REPORT, "re-check");
        if (acc->answers > 0 && acc->nfip == 0)
            sf_service_mark_settled(svc);
    }
    free(m->round);
    m->round = NULL;
    m->round_nservices = 0;
}

static int
round_done(sf_monitor *m, double now)
{
    if (now >= m->round_deadline)
        return 1;
    int ns = sentinel_count(m);
    for (int i = 0; i < ns; i++)
        if (m->sentinels[i].round_pending > 0 || m->sentinels[i].round_wanted)
            return 0;
    return 1;
}

/* ================================================================ links */

typedef struct {
    sf_monitor *m;
    sentinel_t *s;
} reply_ctx;

static void
on_reply(void *arg, sf_link *l, int tag, int i, const redisReply *r)
{
    reply_ctx *c = arg;
    if (tag == SF_LINK_TAG_MESSAGE) {
        handle_event(c->m, c->s, r);
        return;
    }
    if (tag == TAG_PING)
        return;                       /* the event link answered: it is alive */
    if (c->s->round_pending > 0)
        c->s->round_pending--;
    if (!c->m->round_active || i >= c->m->round_nservices)
        return;                       /* a late answer to a finished round */
    if (tag == TAG_MASTER)
        on_master_reply(c->m, c->s, i, r);
    else if (tag == TAG_SENTINELS)
        on_sentinels_reply(c->m, c->s, i, r);
}

static void
set_up(sf_monitor *m, sentinel_t *s, int up)
{
    pthread_mutex_lock(&m->mutex);
    s->up = up;
    pthread_mutex_unlock(&m->mutex);
}

/* A link failed (it is closed). */
static void
link_failed(sf_monitor *m, sentinel_t *s, sf_link *l)
{
    double now = sf_monotonic();
    if (l->failure == SF_LINK_FAIL_AUTH) {
        count(m, &m->auth_failures);
        if (!s->auth_failing)
            push_event(m, "sentinel-auth-failed", NULL, "%s:%d: %s", s->host, s->port, l->why);
        s->auth_failing = 1;
    }
    else if (l->failure == SF_LINK_FAIL_SUBSCRIBE) {
        push_event(m, "sentinel-subscribe-failed", NULL, "%s:%d: %s", s->host, s->port, l->why);
    }
    if (l == &s->queries) {
        s->round_pending = 0;
        s->round_wanted = 0;
        s->quiet_until = now + 2 * m->recheck_interval;
        return;
    }
    /* the event link: retry soon; a refused AUTH is retried at the re-check pace */
    int auth = l->failure == SF_LINK_FAIL_AUTH || l->failure == SF_LINK_FAIL_SUBSCRIBE;
    s->next_attempt = now + (auth ? m->recheck_interval : LINK_RETRY);
    sf_link_close(&s->queries);       /* re-checks ask only Sentinels whose events we get */
    s->round_pending = 0;
    s->round_wanted = 0;
    if (s->up) {
        set_up(m, s, 0);
        count(m, &m->link_failures);
        push_event(m, "sentinel-down", NULL, "%s:%d: %s", s->host, s->port, l->why);
        s->down_reported = 1;
    }
    else if (!s->down_reported && !auth) {
        /* never came up (unreachable, or it does not answer): say so once */
        push_event(m, "sentinel-down", NULL, "%s:%d: %s", s->host, s->port, l->why);
        s->down_reported = 1;
    }
}

static void
link_ready(sf_monitor *m, sentinel_t *s, sf_link *l)
{
    if (l == &s->queries) {
        send_round_queries(m, s);
        return;
    }
    s->auth_failing = 0;
    s->down_reported = 0;
    s->quiet_until = 0;
    if (!s->up) {
        set_up(m, s, 1);
        push_event(m, "sentinel-up", NULL, "%s:%d", s->host, s->port);
    }
    request_recheck(m);               /* events may have been missed while it was away */
}

/* A connect finished? Then start the handshake. */
static void
collect_connect(sf_monitor *m, sentinel_t *s, sf_link *l)
{
    if (l->state != SF_LINK_CONNECTING)
        return;
    char user[512], pass[512];
    int has_user, has_pass;
    credentials(m, user, sizeof user, pass, sizeof pass, &has_user, &has_pass);
    int rc = sf_link_connect_poll(l, has_user ? user : NULL, has_pass ? pass : NULL);
    if (rc < 0) {
        link_failed(m, s, l);
        return;
    }
    if (rc == 0)
        return;
    if (l->state == SF_LINK_READY)
        link_ready(m, s, l);
    else if (l == &s->queries)
        send_round_queries(m, s);      /* pipelined behind AUTH */
}

static void
do_io(sf_monitor *m, sentinel_t *s, sf_link *l, short revents)
{
    reply_ctx ctx = {m, s};
    int ready_now = 0;
    if (sf_link_io(l, revents, on_reply, &ctx, &ready_now) < 0) {
        link_failed(m, s, l);
        return;
    }
    if (ready_now)
        link_ready(m, s, l);
}

/* ================================================================ the loop */

/* The Sentinel-majority policy (Service.set_require_majority): a client that has not
 * reached a majority of the Sentinels it knows for longer than the service's
 * down-after-milliseconds may be on the wrong side of a partition, writing to a master
 * the others are replacing: its master commands wait, then fail, until a majority is
 * back. Returns when the loop must look again (HUGE_VAL: no deadline pending). */
static double
follow_sentinel_majority(sf_monitor *m, int n, int up, int known, double now)
{
    int majority = known > 0 && up > known / 2;
    if (majority && m->minority_since != 0) {
        m->majority_since = now;
        request_recheck(m);
    }
    if (majority)
        m->minority_since = 0;
    else if (m->minority_since == 0)
        m->minority_since = now;
    /* Back from the minority side, the master may have changed meanwhile: commands keep
     * waiting until a re-check begun after the majority came back has told which master
     * it is (else they would go, for a few milliseconds, to the old one). */
    int checked = m->checked_since >= m->majority_since;
    double next = HUGE_VAL;
    for (int i = 0; i < n; i++) {
        sf_service *svc = m->services[i]->svc;
        if (!sf_service_requires_majority(svc))
            continue;
        long down_after = sf_service_down_after_ms(svc);
        double grace = (down_after > 0 ? down_after : 5000) / 1000.0;
        int isolate = !majority ? now - m->minority_since >= grace
                                : __atomic_load_n(&svc->isolated, __ATOMIC_ACQUIRE) && !checked;
        if (!majority && !isolate && m->minority_since + grace < next)
            next = m->minority_since + grace;
        int changed = sf_service_set_isolated(svc, isolate);
        if (changed && isolate)
            push_event(m, "sentinels-unreachable", svc->name,
                       "%d of %d Sentinels reachable for %.1f s: master commands wait, then "
                       "fail, until a majority is back", up, known, now - m->minority_since);
        else if (changed)
            push_event(m, "sentinels-reachable", svc->name, "%d of %d Sentinels reachable",
                       up, known);
    }
    return next;
}

/* One round: (re)connect links, re-check if due, wait, do the I/O. No GIL; the mutex
 * only for short copies. */
static void
step(sf_monitor *m)
{
    set_busy(m, 1);
    double now = sf_monotonic();
    pthread_mutex_lock(&m->mutex);
    int want_recheck = m->recheck_now;
    int n = m->nservices;
    int ns = m->nsentinels;
    pthread_mutex_unlock(&m->mutex);

    for (int i = 0; i < n; i++) {
        sf_service *svc = m->services[i]->svc;
        if (sf_service_expire_hold(svc, now)) {
            push_event(m, "failover-ended", svc->name, "hold timed out without +switch-master");
            want_recheck = 1;
            if (m->round_active)
                request_recheck(m);   /* after the round under way */
        }
    }
    int up = 0;
    for (int i = 0; i < ns; i++) {
        sentinel_t *s = &m->sentinels[i];
        if (s->events.state == SF_LINK_CLOSED && now >= s->next_attempt
            && start_connect(m, s, &s->events) < 0)
            link_failed(m, s, &s->events);
        if (s->events.state == SF_LINK_READY && sf_link_pending(&s->events) == 0
            && now >= s->next_ping) {
            const char *argv[1] = {"PING"};
            s->next_ping = now + EVENT_LINK_PING_INTERVAL;
            if (sf_link_send(&s->events, TAG_PING, 0, 1, argv) < 0)
                link_failed(m, s, &s->events);
        }
        up += s->up;
    }
    double isolation_check = follow_sentinel_majority(m, n, up, ns, now);
    if (!m->round_active && (want_recheck || now >= m->next_recheck)) {
        start_round(m, now);
        for (int i = 0; i < ns; i++)
            send_round_queries(m, &m->sentinels[i]);
    }

    struct pollfd fds[2 * MAX_SENTINELS + MAX_SERVICES + 1];
    sentinel_t *owner[2 * MAX_SENTINELS + MAX_SERVICES + 1];
    sf_link *link[2 * MAX_SENTINELS + MAX_SERVICES + 1];
    int nfds = 0;
    fds[0].fd = m->wake[0];
    fds[0].events = POLLIN;
    fds[0].revents = 0;
    owner[0] = NULL;
    link[0] = NULL;
    nfds = 1;
    double until = m->next_recheck;
    if (m->round_active && m->round_deadline < until)
        until = m->round_deadline;
    if (isolation_check < until)
        until = isolation_check;
    for (int i = 0; i < n; i++)
        until = sf_service_hold_deadline(m->services[i]->svc, until);
    for (int i = 0; i < ns; i++) {
        sentinel_t *s = &m->sentinels[i];
        sf_link *both[2] = {&s->events, &s->queries};
        for (int k = 0; k < 2; k++) {
            if (sf_link_pollfd(both[k], &fds[nfds])) {
                owner[nfds] = s;
                link[nfds++] = both[k];
                if (both[k]->deadline > 0 && both[k]->deadline < until)
                    until = both[k]->deadline;
            }
        }
        if (s->events.state == SF_LINK_CLOSED && s->next_attempt < until)
            until = s->next_attempt;
        if (s->events.state == SF_LINK_READY && s->next_ping < until)
            until = s->next_ping;
    }
    /* the promotion probes (at most one per service, only during a failover) */
    sf_node_access access[MAX_SERVICES];
    int probe_fd[MAX_SERVICES];
    for (int i = 0; i < n; i++) {
        probe_fd[i] = -1;
        access[i].tls_ctx = NULL;
        if (!m->probes[i].active)
            continue;
        if (!sf_service_probe_access(m->services[i]->svc, &access[i])) {
            sf_probe_stop(&m->probes[i]);
            continue;
        }
        access[i].timeout = m->timeout;
        int polled = 0;
        until = sf_probe_prepare(&m->probes[i], now, &access[i], m->wake[1], until, &fds[nfds],
                                 &polled);
        if (polled) {
            owner[nfds] = NULL;
            link[nfds] = NULL;
            probe_fd[i] = nfds++;
        }
    }
    set_busy(m, 0);

    /* Events queued before the wait (a hold that expired, the Sentinel majority lost)
     * go to Python now, not after it: asyncio pools act on them. */
    pthread_mutex_lock(&m->mutex);
    int queued = m->nevents > 0;
    pthread_mutex_unlock(&m->mutex);
    double wait = queued ? 0 : until - sf_monotonic();
    int ms = wait <= 0 ? 0 : (int)(wait * 1000) + 1;
    int r = poll(fds, (nfds_t)nfds, ms);
    if (r < 0 && errno != EINTR)
        r = 0;

    set_busy(m, 1);
    if (r > 0 && fds[0].revents) {
        char buf[64];
        while (recv(m->wake[0], buf, sizeof buf, MSG_DONTWAIT) > 0)
            ;
    }
    ns = sentinel_count(m);
    for (int i = 0; i < ns; i++) {
        collect_connect(m, &m->sentinels[i], &m->sentinels[i].events);
        collect_connect(m, &m->sentinels[i], &m->sentinels[i].queries);
    }
    for (int i = 1; r > 0 && i < nfds; i++)
        if (fds[i].revents && link[i] != NULL)
            do_io(m, owner[i], link[i], fds[i].revents);
    now = sf_monotonic();
    for (int i = 0; i < n; i++) {
        if (!m->probes[i].active) {
            if (access[i].tls_ctx != NULL)
                SSL_CTX_free(access[i].tls_ctx);
            continue;
        }
        short revents = probe_fd[i] >= 0 && r > 0 ? fds[probe_fd[i]].revents : 0;
        char host[SF_HOST_MAX];
        int port = m->probes[i].port;
        snprintf(host, sizeof host, "%s", m->probes[i].host);
        if (sf_probe_after_poll(&m->probes[i], revents, now, &access[i]) == 1)
            switch_master(m, m->services[i]->svc, host, port, -1, SF_SWITCH_FROM_PROBE,
                          "the promoted replica answers ROLE as master");
        if (access[i].tls_ctx != NULL)
            SSL_CTX_free(access[i].tls_ctx);
    }
    for (int i = 0; i < ns; i++) {
        sentinel_t *s = &m->sentinels[i];
        if (sf_link_check_deadline(&s->events, now) < 0)
            link_failed(m, s, &s->events);
        if (sf_link_check_deadline(&s->queries, now) < 0)
            link_failed(m, s, &s->queries);
    }
    if (m->round_active && round_done(m, now))
        finish_round(m);
    set_busy(m, 0);
}

/* Lock the monitor while holding the GIL: never block on the mutex with the GIL held
 * (a holder of the mutex never waits for the GIL, but be safe all the same). */
static void
lock_from_python(sf_monitor *m)
{
    if (pthread_mutex_trylock(&m->mutex) == 0)
        return;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&m->mutex);
    Py_END_ALLOW_THREADS
}

/* Hand the collected events to Python (GIL held): take them under the mutex, build
 * and call after releasing it. */
static void
deliver(sf_monitor *m)
{
    lock_from_python(m);
    event_t *events = m->events;
    int n = m->nevents;
    m->events = NULL;
    m->nevents = m->capevents = 0;
    pthread_mutex_unlock(&m->mutex);
    for (int i = 0; i < n && m->on_event != NULL && m->on_event != Py_None; i++) {
        PyObject *detail = PyUnicode_DecodeUTF8(events[i].detail,
                                                (Py_ssize_t)strlen(events[i].detail), "replace");
        PyObject *service = detail == NULL ? NULL
                            : PyUnicode_DecodeUTF8(events[i].service,
                                                   (Py_ssize_t)strlen(events[i].service),
                                                   "replace");
        PyObject *r = service == NULL ? NULL
                      : PyObject_CallFunction(m->on_event, "sOO", events[i].kind, service,
                                              detail);
        if (r == NULL)
            PyErr_WriteUnraisable(m->on_event);
        Py_XDECREF(r);
        Py_XDECREF(service);
        Py_XDECREF(detail);
    }
    free(events);
}

/* What the loop knew of a Sentinel's links, forgotten when they are closed. */
static void
forget_link_state(sentinel_t *s)
{
    s->up = 0;
    s->next_attempt = 0;
    s->quiet_until = 0;
    s->round_pending = s->round_wanted = 0;
    s->down_reported = 0;
    s->auth_failing = 0;
}

static void
forget_round(sf_monitor *m)
{
    m->round_active = 0;
    free(m->round);
    m->round = NULL;
}

static void
close_links(sf_monitor *m)
{
    for (int i = 0; i < m->nsentinels; i++) {
        sentinel_t *s = &m->sentinels[i];
        sf_link_close(&s->events);
        sf_link_close(&s->queries);
        forget_link_state(s);
    }
    for (int i = 0; i < MAX_SERVICES; i++) {
        sf_probe_stop(&m->probes[i]);
        m->odown[i] = 0;
    }
    m->minority_since = m->majority_since = m->checked_since = 0;
    forget_round(m);
}

/* Ask the TLSContext for its SSL_CTX again (GIL held, the loop's thread, between two
 * steps): it is rebuilt when its certificate files changed. At most once per
 * re-check interval; a failure keeps the previous one and is logged. */
static void
refresh_tls(sf_monitor *m)
{
    if (m->tls == NULL)
        return;
    double now = sf_monotonic();
    if (now < m->tls_next_refresh)
        return;
    m->tls_next_refresh = now + m->recheck_interval;
    SSL_CTX *ctx = sf_tls_context_ctx(m->tls, NULL);
    if (ctx != NULL) {
        m->tls_ctx = ctx;             /* read only by this thread (start_connect) */
        return;
    }
    PyObject *exc = sf_err_fetch();
    PyObject *text = exc != NULL ? PyObject_Str(exc) : NULL;
    const char *msg = text != NULL ? PyUnicode_AsUTF8(text) : NULL;
    if (msg == NULL)
        PyErr_Clear();
    push_event(m, "sentinel-tls-failed", NULL, "%s; the previous TLS settings stay in use",
               msg ? msg : "cannot load the TLS settings");
    Py_XDECREF(text);
    Py_XDECREF(exc);
}

/* Block the asynchronous signals in the loop's thread while it waits and does I/O
 * without the GIL, so that the kernel hands them (Ctrl-C, SIGTERM, ...) to a thread
 * whose wait they can interrupt: a signal taken by this thread's poll() would only set
 * Python's flag, and a main thread blocked in a socket call would not see it until
 * that returns. Faults (SIGSEGV, ...) stay deliverable. The mask is restored before
 * Python code runs here (event listeners), so that what they start (threads,
 * subprocesses) does not inherit it. */
static void
block_async_signals(sigset_t *old)
{
    sigset_t async;
    sigfillset(&async);
    sigdelset(&async, SIGSEGV);
    sigdelset(&async, SIGBUS);
    sigdelset(&async, SIGFPE);
    sigdelset(&async, SIGILL);
    sigdelset(&async, SIGTRAP);
    sigdelset(&async, SIGABRT);
    pthread_sigmask(SIG_BLOCK, &async, old);
}

static PyObject *
monitor_run(sf_monitor *m, PyObject *unused)
{
    lock_from_python(m);
    if (m->running) {
        pthread_mutex_unlock(&m->mutex);
        PyErr_SetString(PyExc_RuntimeError, "the monitor is already running");
        return NULL;
    }
    m->running = 1;          /* `stop` is kept: a stop() issued before we got here counts */
    m->recheck_now = 1;
    m->fork_generation = sf_fork_generation;
    pthread_mutex_unlock(&m->mutex);
    for (;;) {
        int stop;
        sigset_t old_mask;
        Py_BEGIN_ALLOW_THREADS
        block_async_signals(&old_mask);
        pthread_mutex_lock(&m->mutex);
        stop = m->stop;
        pthread_mutex_unlock(&m->mutex);
        if (!stop)
            step(m);
        pthread_mutex_lock(&m->mutex);
        stop = m->stop;
        pthread_mutex_unlock(&m->mutex);
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
        Py_END_ALLOW_THREADS
        refresh_tls(m);
        deliver(m);
        if (stop)
            break;
    }
    Py_BEGIN_ALLOW_THREADS
    set_busy(m, 1);
    close_links(m);
    pthread_mutex_lock(&m->mutex);
    m->running = 0;
    m->io_busy = 0;
    pthread_cond_broadcast(&m->io_idle);
    pthread_mutex_unlock(&m->mutex);
    Py_END_ALLOW_THREADS
    deliver(m);
    Py_RETURN_NONE;
}

/* Set the loop's request flags from Python and wake the loop. */
static void
request(sf_monitor *m, int *flag, int value)
{
    lock_from_python(m);
    *flag = value;
    pthread_mutex_unlock(&m->mutex);
    wake_loop(m);
}

static PyObject *
monitor_arm(sf_monitor *m, PyObject *unused)
{
    request(m, &m->stop, 0);    /* before starting a thread on run() */
    Py_RETURN_NONE;
}

static PyObject *
monitor_stop(sf_monitor *m, PyObject *unused)
{
    request(m, &m->stop, 1);
    Py_RETURN_NONE;
}

static PyObject *
monitor_recheck(sf_monitor *m, PyObject *unused)
{
    request(m, &m->recheck_now, 1);
    Py_RETURN_NONE;
}

static PyObject *
monitor_service(sf_monitor *m, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"name", "hold_timeout", NULL};
    const char *name;
    double hold = 5.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "s|d:service", kwlist, &name, &hold))
        return NULL;
    /* Made before locking (no object is built under the mutex); the lookup and the
     * insertion are one critical section, so two threads get the same Service. */
    PyObject *fresh = sf_service_create(m->st, name, hold);
    if (fresh == NULL)
        return NULL;
    sf_service_obj *found = NULL;
    int full = 0;
    lock_from_python(m);
    for (int i = 0; i < m->nservices; i++) {
        if (strcmp(m->services[i]->svc->name, name) == 0) {
            found = m->services[i];
            Py_INCREF(found);        /* an incref only: no allocation, no Python code */
            break;
        }
    }
    if (found == NULL) {
        if (m->nservices == MAX_SERVICES) {
            full = 1;
        }
        else {
            Py_INCREF(fresh);
            m->services[m->nservices++] = (sf_service_obj *)fresh;
            m->recheck_now = 1;
        }
    }
    pthread_mutex_unlock(&m->mutex);
    if (full) {
        Py_DECREF(fresh);
        PyErr_SetString(PyExc_RuntimeError, "too many services for one Sentinel object");
        return NULL;
    }
    if (found != NULL) {
        Py_DECREF(fresh);
        sf_service_set_hold_timeout(found->svc, hold);
        return (PyObject *)found;
    }
    wake_loop(m);
    return fresh;
}

typedef struct {
    char host[SF_HOST_MAX];
    int port, up, configured;
} link_snapshot;

static PyObject *
monitor_stats(sf_monitor *m, PyObject *unused)
{
    link_snapshot links[MAX_SENTINELS];
    lock_from_python(m);
    int n = m->nsentinels;
    for (int i = 0; i < n; i++) {
        memcpy(links[i].host, m->sentinels[i].host, SF_HOST_MAX);
        links[i].port = m->sentinels[i].port;
        links[i].up = m->sentinels[i].up;
        links[i].configured = m->sentinels[i].configured;
    }
    unsigned long events = m->events_received, rechecks = m->rechecks;
    unsigned long failures = m->link_failures, auth = m->auth_failures;
    unsigned long bad = m->bad_addresses;
    int running = m->running;
    pthread_mutex_unlock(&m->mutex);

    PyObject *sentinels = PyList_New(0);
    for (int i = 0; sentinels && i < n; i++) {
        PyObject *t = Py_BuildValue("{s:(si),s:O,s:O}", "address", links[i].host, links[i].port,
                                    "up", links[i].up ? Py_True : Py_False,
                                    "configured", links[i].configured ? Py_True : Py_False);
        if (t == NULL || PyList_Append(sentinels, t) < 0)
            Py_CLEAR(sentinels);
        Py_XDECREF(t);
    }
    if (sentinels == NULL)
        return NULL;
    return Py_BuildValue("{s:N,s:k,s:k,s:k,s:k,s:k,s:O}", "sentinels", sentinels,
                         "events_received", events, "rechecks", rechecks,
                         "sentinel_link_failures", failures, "sentinel_auth_failures", auth,
                         "sentinel_bad_addresses", bad,
                         "running", running ? Py_True : Py_False);
}


static PyObject *
monitor_set_credentials(sf_monitor *m, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"username", "password", NULL};
    PyObject *username = Py_None, *password = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OO:set_credentials", kwlist, &username,
                                     &password))
        return NULL;
    char *user, *pass;
    if (sf_copy_credential(username, &user, "username") < 0)
        return NULL;
    if (sf_copy_credential(password, &pass, "password") < 0) {
        free(user);
        return NULL;
    }
    lock_from_python(m);
    char *old_user = m->username, *old_pass = m->password;
    m->username = pass != NULL ? user : NULL;   /* AUTH needs a password */
    m->password = pass;
    pthread_mutex_unlock(&m->mutex);
    if (pass == NULL)
        free(user);
    free(old_user);
    free(old_pass);
    Py_RETURN_NONE;
}

/* fork(): the forking thread waits for the loop to finish its current I/O pass (it
 * is short: non-blocking reads and writes, never a network wait) and holds the mutex
 * across the fork, so the child inherits every link between two changes. */
static PyObject *
monitor_lock_for_fork(sf_monitor *m, PyObject *unused)
{
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&m->mutex);
    m->fork_waiting = 1;              /* the loop starts no new pass meanwhile */
    while (m->io_busy)
        pthread_cond_wait(&m->io_idle, &m->mutex);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *
monitor_unlock_after_fork(sf_monitor *m, PyObject *unused)
{
    m->fork_waiting = 0;
    pthread_cond_broadcast(&m->io_idle);
    pthread_mutex_unlock(&m->mutex);
    Py_RETURN_NONE;
}

static PyObject *
monitor_forget_after_fork(sf_monitor *m, PyObject *unused)
{
    /* In a forked child, with the mutex taken before the fork: the thread is gone;
     * drop the parent's links (nothing is sent on them). */
    pthread_mutex_init(&m->mutex, NULL);
    pthread_cond_init(&m->io_idle, NULL);
    for (int i = 0; i < m->nsentinels; i++) {
        sentinel_t *s = &m->sentinels[i];
        sf_link_forget_after_fork(&s->events);
        sf_link_forget_after_fork(&s->queries);
        forget_link_state(s);
    }
    for (int i = 0; i < MAX_SERVICES; i++) {
        sf_probe_forget_after_fork(&m->probes[i]);
        m->odown[i] = 0;
    }
    m->minority_since = m->majority_since = m->checked_since = 0;
    forget_round(m);
    /* The wake socketpair is shared with the parent: a byte one process writes could
     * wake (and be drained by) the other's loop. The child gets its own. */
    int wake[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, wake) < 0)
        return PyErr_SetFromErrno(PyExc_OSError);
    close(m->wake[0]);
    close(m->wake[1]);
    m->wake[0] = wake[0];
    m->wake[1] = wake[1];
    m->io_busy = 0;
    m->fork_waiting = 0;
    m->running = 0;
    m->stop = 0;
    m->nevents = 0;
    Py_RETURN_NONE;
}

static int
monitor_init(sf_monitor *m, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"sentinels", "socket_timeout", "recheck_interval", "on_event",
                             "username", "password", "socket_connect_timeout", "tls",
                             "server_hostname", NULL};
    PyObject *sentinels, *on_event = Py_None, *username = Py_None, *password = Py_None;
    PyObject *connect_timeout = Py_None, *tls = Py_None, *server_hostname = Py_None;
    double timeout = 0.5, interval = 5.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|ddOOOOOO:Monitor", kwlist, &sentinels,
                                     &timeout, &interval, &on_event, &username, &password,
                                     &connect_timeout, &tls, &server_hostname))
        return -1;
    if (m->nsentinels > 0 || m->running) {
        PyErr_SetString(PyExc_RuntimeError, "Monitor.__init__ called twice");
        return -1;
    }
    if (!(timeout > 0) || !(interval > 0)) {
        PyErr_SetString(PyExc_ValueError, "timeouts must be positive");
        return -1;
    }
    double ctimeout = timeout;
    if (connect_timeout != Py_None) {
        ctimeout = PyFloat_AsDouble(connect_timeout);
        if (ctimeout == -1.0 && PyErr_Occurred())
            return -1;
        if (!(ctimeout > 0)) {
            PyErr_SetString(PyExc_ValueError, "socket_connect_timeout must be positive");
            return -1;
        }
    }
    SSL_CTX *tls_ctx = NULL;
    if (tls != Py_None) {
        if (!sf_tls_context_check(m->st, tls)) {
            PyErr_SetString(PyExc_TypeError, "Monitor(tls=...) takes a TLSContext or None");
            return -1;
        }
        /* built now, with the GIL: the loop only borrows it (the object is kept) */
        tls_ctx = sf_tls_context_ctx(tls, NULL);
        if (tls_ctx == NULL)
            return -1;
        m->check_hostname = sf_tls_context_check_hostname(tls);
    }
    char *host_name = NULL;
    if (sf_copy_credential(server_hostname, &host_name, "server_hostname") < 0)
        return -1;
    PyObject *seq = PySequence_Fast(sentinels, "sentinels must be a sequence of (host, port)");
    if (seq == NULL) {
        free(host_name);
        return -1;
    }
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        const char *host;
        int port;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "si", &host, &port)) {
            Py_DECREF(seq);
            free(host_name);
            return -1;
        }
        if (port < 1 || port > 65535 || !sf_valid_host(host, strlen(host))) {
            PyErr_Format(PyExc_ValueError, "invalid Sentinel address %s:%d", host, port);
            Py_DECREF(seq);
            free(host_name);
            return -1;
        }
        add_sentinel(m, host, port, 1);
    }
    Py_DECREF(seq);
    m->timeout = timeout;
    m->connect_timeout = ctimeout;
    m->recheck_interval = interval;
    m->server_hostname = host_name;
    if (tls_ctx != NULL) {
        Py_XSETREF(m->tls, Py_NewRef(tls));
        m->tls_ctx = tls_ctx;
        m->tls_next_refresh = sf_monotonic() + interval;
    }
    Py_XSETREF(m->on_event, Py_NewRef(on_event));
    PyObject *cred = Py_BuildValue("(OO)", username, password);
    if (cred == NULL)
        return -1;
    PyObject *r = monitor_set_credentials(m, cred, NULL);
    Py_DECREF(cred);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

static PyObject *
monitor_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    sf_monitor *m = (sf_monitor *)type->tp_alloc(type, 0);
    if (m == NULL)
        return NULL;
    m->st = sf_state_from_type(type);
    m->wake[0] = m->wake[1] = -1;
    for (int i = 0; i < MAX_SERVICES; i++)
        sf_probe_init(&m->probes[i]);
    m->on_event = Py_NewRef(Py_None);
    pthread_mutex_init(&m->mutex, NULL);
    pthread_cond_init(&m->io_idle, NULL);
    if (m->st == NULL
        || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, m->wake) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(m);
        return NULL;
    }
    return (PyObject *)m;
}

static int
monitor_traverse(sf_monitor *m, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(m));
    Py_VISIT(m->on_event);
    Py_VISIT(m->tls);
    return 0;
}

static int
monitor_clear(sf_monitor *m)
{
    Py_CLEAR(m->on_event);
    return 0;
}

static void
monitor_dealloc(sf_monitor *m)
{
    PyTypeObject *tp = Py_TYPE(m);
    PyObject_GC_UnTrack(m);
    close_links(m);
    for (int i = 0; i < m->nservices; i++)
        Py_CLEAR(m->services[i]);
    free(m->events);
    if (m->wake[0] >= 0)
        close(m->wake[0]);
    if (m->wake[1] >= 0)
        close(m->wake[1]);
    free(m->username);
    free(m->password);
    free(m->server_hostname);
    monitor_clear(m);
    Py_CLEAR(m->tls);
    pthread_cond_destroy(&m->io_idle);
    pthread_mutex_destroy(&m->mutex);
    tp->tp_free((PyObject *)m);
    Py_DECREF(tp);
}

static PyMethodDef monitor_methods[] = {
    {"run", (PyCFunction)monitor_run, METH_NOARGS,
     "The monitor loop; returns after stop(). Meant as a background thread's target."},
    {"stop", (PyCFunction)monitor_stop, METH_NOARGS,
     "Ask run() to return (also a run() about to start)."},
    {"arm", (PyCFunction)monitor_arm, METH_NOARGS,
     "Clear a stop request; call before starting a thread on run()."},
    {"recheck", (PyCFunction)monitor_recheck, METH_NOARGS, "Re-check the masters now."},
    {"service", (PyCFunction)(void (*)(void))monitor_service, METH_VARARGS | METH_KEYWORDS,
     "service(name, hold_timeout=5.0) -> the shared Service state for `name`."},
    {"set_credentials", (PyCFunction)(void (*)(void))monitor_set_credentials,
     METH_VARARGS | METH_KEYWORDS,
     "set_credentials(username=None, password=None): AUTH for links opened from now on."},
    {"stats", (PyCFunction)monitor_stats, METH_NOARGS, "Links and counters."},
    {"_lock_for_fork", (PyCFunction)monitor_lock_for_fork, METH_NOARGS,
     "Before fork(): hold the mutex across the fork."},
    {"_unlock_after_fork", (PyCFunction)monitor_unlock_after_fork, METH_NOARGS,
     "After fork() in the parent: release it."},
    {"_forget_after_fork", (PyCFunction)monitor_forget_after_fork, METH_NOARGS,
     "After fork() in the child: reset (the mutex is re-created)."},
    {NULL},
};

static PyType_Slot monitor_slots[] = {
    {Py_tp_doc, "Monitor(sentinels, socket_timeout=0.5, recheck_interval=5.0, on_event=None, "
                "username=None, password=None, socket_connect_timeout=None, tls=None, "
                "server_hostname=None)"},
    {Py_tp_new, monitor_new},
    {Py_tp_init, monitor_init},
    {Py_tp_dealloc, monitor_dealloc},
    {Py_tp_traverse, monitor_traverse},
    {Py_tp_clear, monitor_clear},
    {Py_tp_methods, monitor_methods},
    {0, NULL},
};

PyType_Spec sf_monitor_spec = {
    .name = "sentinelfast._core.Monitor",
    .basicsize = sizeof(sf_monitor),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = monitor_slots,
};
