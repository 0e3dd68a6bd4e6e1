/* The Sentinel monitor: a background loop that keeps subscriptions on the Sentinels'
 * event channels and re-checks each service's master, so that pools learn of a
 * failover from Sentinel itself rather than from an error.
 *
 * run() is the body of a background thread (started by sentinelfast.sentinel). It
 * holds the GIL only to hand collected events to Python; connecting, waiting and
 * parsing run without it, with hiredis's synchronous API. Per service it:
 *   - holds new commands and shuts down master connections when Sentinel starts a
 *     failover (+try-failover, +failover-state-*, +selected-slave, +promoted-slave,
 *     or a re-check that sees failover_in_progress), so no write reaches a master
 *     that is being demoted;
 *   - on +switch-master (or a re-check naming another master) moves the service to
 *     the new address: epoch + 1, master connections shut down, held commands go on;
 *   - re-checks every recheck_interval and whenever a Sentinel link comes back,
 *     trusting the Sentinel with the highest config-epoch (a Sentinel that has not
 *     heard of a failover yet still names the old master with an older epoch);
 *   - learns other Sentinels from SENTINEL SENTINELS and keeps the configured ones. */
#include "sentinel_monitor.h"
#include "sentinel_flags.h"

#include <hiredis/hiredis.h>

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINKS 32
#define MAX_SERVICES 64
#define HOLD_SLICE 0.05
#define LINK_RETRY 0.5

/* ================================================================ services */

static void
service_init_sync(sf_service *svc)
{
    pthread_mutex_init(&svc->mutex, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&svc->changed, &attr);
    pthread_condattr_destroy(&attr);
    svc->fork_generation = sf_fork_generation;
}

/* Lock, first repairing the state in a forked child (the monitor thread is gone
 * there and may have held the mutex at fork time). */
static void
service_lock(sf_service *svc)
{
    if (svc->fork_generation != sf_fork_generation) {
        service_init_sync(svc);
        svc->nfds = 0;
        __atomic_store_n(&svc->failover, 0, __ATOMIC_RELEASE);
    }
    pthread_mutex_lock(&svc->mutex);
}

static void
service_unlock(sf_service *svc)
{
    pthread_mutex_unlock(&svc->mutex);
}

/* Shut down every tracked master connection (the owners close them). Locked. */
static int
drop_connections_locked(sf_service *svc)
{
    int n = svc->nfds;
    for (int i = 0; i < n; i++)
        shutdown(svc->fds[i], SHUT_RDWR);
    svc->connections_dropped += (unsigned long)n;
    return n;
}

int
sf_service_wait_ready(sf_service *svc)
{
    if (!__atomic_load_n(&svc->failover, __ATOMIC_ACQUIRE))
        return 0;
    int counted = 0;
    for (;;) {
        int waiting;
        Py_BEGIN_ALLOW_THREADS
        service_lock(svc);
        double now = sf_monotonic();
        waiting = svc->failover && now < svc->failover_deadline;
        if (waiting) {
            if (!counted)
                svc->holds++;
            double until = svc->failover_deadline - now;
            if (until > HOLD_SLICE)
                until = HOLD_SLICE;
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            long nsec = ts.tv_nsec + (long)(until * 1e9);
            ts.tv_sec += nsec / 1000000000L;
            ts.tv_nsec = nsec % 1000000000L;
            pthread_cond_timedwait(&svc->changed, &svc->mutex, &ts);
            waiting = svc->failover && sf_monotonic() < svc->failover_deadline;
        }
        service_unlock(svc);
        Py_END_ALLOW_THREADS
        counted = 1;
        if (!waiting)
            return 0;
        if (PyErr_CheckSignals() < 0)
            return -1;
    }
}

int
sf_service_master(sf_service *svc, char *host, size_t hostlen, int *port)
{
    service_lock(svc);
    int known = svc->host[0] != '\0';
    if (known) {
        snprintf(host, hostlen, "%s", svc->host);
        *port = svc->port;
    }
    service_unlock(svc);
    return known;
}

void
sf_service_invalidate(sf_service *svc, const char *host, int port)
{
    service_lock(svc);
    if (strcmp(svc->host, host) == 0 && svc->port == port) {
        svc->host[0] = '\0';
        svc->role_refusals++;
    }
    service_unlock(svc);
}

void
sf_service_add_fd(sf_service *svc, int fd)
{
    service_lock(svc);
    if (svc->nfds == svc->capfds) {
        int cap = svc->capfds ? svc->capfds * 2 : 16;
        int *fds = realloc(svc->fds, (size_t)cap * sizeof(int));
        if (fds == NULL) {            /* untracked: it is closed on release instead */
            service_unlock(svc);
            return;
        }
        svc->fds = fds;
        svc->capfds = cap;
    }
    svc->fds[svc->nfds++] = fd;
    service_unlock(svc);
}

void
sf_service_remove_fd(sf_service *svc, int fd)
{
    if (svc->fork_generation != sf_fork_generation)
        return;                       /* the child's table starts empty */
    service_lock(svc);
    for (int i = 0; i < svc->nfds; i++) {
        if (svc->fds[i] == fd) {
            svc->fds[i] = svc->fds[--svc->nfds];
            break;
        }
    }
    service_unlock(svc);
}

/* ---------------------------------------------------------------- Service type */

static PyObject *
service_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    const char *name;
    double hold_timeout = 5.0;
    static char *kwlist[] = {"name", "hold_timeout", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "s|d:Service", kwlist, &name, &hold_timeout))
        return NULL;
    if (strlen(name) >= sizeof(((sf_service *)0)->name)) {
        PyErr_SetString(PyExc_ValueError, "service name too long");
        return NULL;
    }
    sf_service_obj *self = (sf_service_obj *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->svc = calloc(1, sizeof(sf_service));
    if (self->svc == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    service_init_sync(self->svc);
    snprintf(self->svc->name, sizeof self->svc->name, "%s", name);
    self->hold_timeout = hold_timeout;
    return (PyObject *)self;
}

static void
service_dealloc(sf_service_obj *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (self->svc != NULL) {
        pthread_cond_destroy(&self->svc->changed);
        pthread_mutex_destroy(&self->svc->mutex);
        free(self->svc->fds);
        free(self->svc);
    }
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *
service_state(sf_service_obj *self, PyObject *unused)
{
    sf_service *s = self->svc;
    service_lock(s);
    PyObject *master = s->host[0] ? Py_BuildValue("(si)", s->host, s->port) : Py_NewRef(Py_None);
    PyObject *d = master ? Py_BuildValue(
        "{s:s,s:N,s:L,s:k,s:O,s:k,s:k,s:k,s:k,s:k,s:i}",
        "service", s->name, "master", master, "config_epoch", s->config_epoch,
        "epoch", s->epoch, "failover_in_progress", s->failover ? Py_True : Py_False,
        "switches", s->switches, "failovers", s->failovers,
        "connections_dropped", s->connections_dropped, "holds", s->holds,
        "role_refusals", s->role_refusals, "tracked_connections", s->nfds) : NULL;
    service_unlock(s);
    return d;
}

static PyObject *
service_set_master(sf_service_obj *self, PyObject *args)
{
    const char *host;
    int port;
    if (!PyArg_ParseTuple(args, "si:set_master", &host, &port))
        return NULL;
    sf_service *s = self->svc;
    service_lock(s);
    if (s->host[0] == '\0') {         /* only seeds an unknown address */
        snprintf(s->host, sizeof s->host, "%s", host);
        s->port = port;
    }
    service_unlock(s);
    Py_RETURN_NONE;
}

static PyMethodDef service_methods[] = {
    {"state", (PyCFunction)service_state, METH_NOARGS,
     "What the monitor knows of the service, and its counters."},
    {"set_master", (PyCFunction)service_set_master, METH_VARARGS,
     "Seed the master address if none is known yet."},
    {NULL},
};

static PyType_Slot service_slots[] = {
    {Py_tp_doc, "Service(name, hold_timeout=5.0): shared failover state of one service."},
    {Py_tp_new, service_new},
    {Py_tp_dealloc, service_dealloc},
    {Py_tp_methods, service_methods},
    {0, NULL},
};

PyType_Spec sf_service_spec = {
    .name = "sentinelfast._core.Service",
    .basicsize = sizeof(sf_service_obj),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = service_slots,
};

/* ================================================================ monitor */

typedef struct {
    char host[256];
    int port;
    int configured;               /* given by the application: never dropped */
    redisContext *sub;            /* subscribed to every event channel */
    redisContext *cmd;            /* for re-check queries */
    double next_attempt;
    double quiet_until;           /* a query failed: skip it in re-checks until then */
    int up;
} link_t;

typedef struct {
    char kind[48];
    char service[128];
    char detail[512];
} event_t;

typedef struct {
    PyObject_HEAD
    sf_state *st;
    pthread_mutex_t mutex;        /* guards links, services, events, flags */
    link_t links[MAX_LINKS];
    int nlinks;
    sf_service_obj *services[MAX_SERVICES];  /* strong references */
    int nservices;
    event_t *events;
    int nevents, capevents;
    int wake[2];
    int stop;
    int running;
    int recheck_now;
    double next_recheck;
    double timeout;
    double recheck_interval;
    PyObject *on_event;
    unsigned long fork_generation;
    unsigned long events_received, rechecks, link_failures;
} sf_monitor;

static void
push_event(sf_monitor *m, const char *kind, const char *service, const char *fmt, ...)
{
    if (m->nevents == m->capevents) {
        int cap = m->capevents ? m->capevents * 2 : 16;
        event_t *ev = realloc(m->events, (size_t)cap * sizeof(event_t));
        if (ev == NULL)
            return;               /* events are informational: drop on OOM */
        m->events = ev;
        m->capevents = cap;
    }
    event_t *e = &m->events[m->nevents++];
    snprintf(e->kind, sizeof e->kind, "%s", kind);
    snprintf(e->service, sizeof e->service, "%s", service ? service : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->detail, sizeof e->detail, fmt, ap);
    va_end(ap);
}

static sf_service *
find_service(sf_monitor *m, const char *name)
{
    for (int i = 0; i < m->nservices; i++)
        if (strcmp(m->services[i]->svc->name, name) == 0)
            return m->services[i]->svc;
    return NULL;
}

static double
hold_timeout_of(sf_monitor *m, sf_service *svc)
{
    for (int i = 0; i < m->nservices; i++)
        if (m->services[i]->svc == svc)
            return m->services[i]->hold_timeout;
    return 5.0;
}

static void
begin_failover(sf_monitor *m, sf_service *svc, const char *why)
{
    service_lock(svc);
    int started = !svc->failover;
    int dropped = 0;
    if (started) {
        svc->failover_deadline = sf_monotonic() + hold_timeout_of(m, svc);
        __atomic_store_n(&svc->failover, 1, __ATOMIC_RELEASE);
        svc->failovers++;
        __atomic_add_fetch(&svc->epoch, 1, __ATOMIC_ACQ_REL);   /* pools retire idle ones */
        dropped = drop_connections_locked(svc);
    }
    service_unlock(svc);
    if (started)
        push_event(m, "failover-started", svc->name, "%s; writes held, %d connection(s) dropped",
                   why, dropped);
}

static void
end_failover(sf_monitor *m, sf_service *svc, const char *why)
{
    service_lock(svc);
    int ended = svc->failover;
    __atomic_store_n(&svc->failover, 0, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&svc->changed);
    service_unlock(svc);
    if (ended)
        push_event(m, "failover-ended", svc->name, "%s", why);
}

/* The master of `svc` is now host:port. `ends_failover`: the news ends a failover
 * even if the address is the one we had (+switch-master). A re-check naming the same
 * master during a failover must not end the hold: the Sentinel asked may not be the
 * one running it. */
static void
switch_master(sf_monitor *m, sf_service *svc, const char *host, int port, long long config_epoch,
              int ends_failover, const char *why)
{
    char old[300];
    service_lock(svc);
    int moved = strcmp(svc->host, host) != 0 || svc->port != port;
    int known = svc->host[0] != '\0';
    int dropped = 0;
    snprintf(old, sizeof old, "%s:%d", svc->host, svc->port);
    if (moved) {
        snprintf(svc->host, sizeof svc->host, "%s", host);
        svc->port = port;
        if (known) {
            __atomic_add_fetch(&svc->epoch, 1, __ATOMIC_ACQ_REL);
            svc->switches++;
            dropped = drop_connections_locked(svc);
        }
    }
    if (config_epoch > svc->config_epoch)
        svc->config_epoch = config_epoch;
    int was_failover = svc->failover;
    if (moved || ends_failover) {
        __atomic_store_n(&svc->failover, 0, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&svc->changed);
    }
    else {
        was_failover = 0;
    }
    service_unlock(svc);
    if (moved && known)
        push_event(m, "switch-master", svc->name, "%s -> %s:%d (%s); %d connection(s) dropped",
                   old, host, port, why, dropped);
    else if (moved)
        push_event(m, "master-known", svc->name, "%s:%d (%s)", host, port, why);
    if (was_failover && !moved)
        push_event(m, "failover-ended", svc->name, "%s", why);
}

/* ---------------------------------------------------------------- links */

static redisContext *
dial(sf_monitor *m, link_t *l)
{
    struct timeval tv;
    tv.tv_sec = (time_t)m->timeout;
    tv.tv_usec = (suseconds_t)((m->timeout - (double)tv.tv_sec) * 1e6);
    redisContext *c = redisConnectWithTimeout(l->host, l->port, tv);
    if (c == NULL)
        return NULL;
    if (c->err || redisSetTimeout(c, tv) != REDIS_OK) {
        redisFree(c);
        return NULL;
    }
    (void)fcntl(c->fd, F_SETFD, FD_CLOEXEC);
    return c;
}

static void
link_down(sf_monitor *m, link_t *l, const char *reason)
{
    char why[160];                 /* `reason` may point into the context freed below */
    snprintf(why, sizeof why, "%s", reason && reason[0] ? reason : "connection lost");
    if (l->sub) {
        redisFree(l->sub);
        l->sub = NULL;
    }
    if (l->cmd) {
        redisFree(l->cmd);
        l->cmd = NULL;
    }
    l->next_attempt = sf_monotonic() + LINK_RETRY;
    if (l->up) {
        l->up = 0;
        m->link_failures++;
        push_event(m, "sentinel-down", NULL, "%s:%d: %s", l->host, l->port, why);
    }
}

static void
link_up(sf_monitor *m, link_t *l)
{
    redisContext *c = dial(m, l);
    if (c == NULL) {
        link_down(m, l, "cannot connect");
        return;
    }
    redisReply *r = redisCommand(c, "PSUBSCRIBE *");
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        if (r)
            freeReplyObject(r);
        redisFree(c);
        link_down(m, l, "PSUBSCRIBE failed");
        return;
    }
    freeReplyObject(r);
    l->sub = c;
    l->quiet_until = 0;
    if (!l->up) {
        l->up = 1;
        push_event(m, "sentinel-up", NULL, "%s:%d", l->host, l->port);
    }
    m->recheck_now = 1;             /* events may have been missed while it was away */
}

static void
add_link(sf_monitor *m, const char *host, int port, int configured)
{
    for (int i = 0; i < m->nlinks; i++)
        if (m->links[i].port == port && strcmp(m->links[i].host, host) == 0)
            return;
    if (m->nlinks == MAX_LINKS)
        return;
    link_t *l = &m->links[m->nlinks++];
    memset(l, 0, sizeof *l);
    snprintf(l->host, sizeof l->host, "%s", host);
    l->port = port;
    l->configured = configured;
    if (!configured)
        push_event(m, "sentinel-learned", NULL, "%s:%d", host, port);
}

/* ---------------------------------------------------------------- events */

/* Split `s` on spaces into at most `max` words (modifies s). */
static int
words(char *s, char **w, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(s, " ", &save); t && n < max; t = strtok_r(NULL, " ", &save))
        w[n++] = t;
    return n;
}

/* The master name an instance event is about: "master <name> ..." or "... @ <name> ...". */
static const char *
event_master(char **w, int n)
{
    if (n >= 2 && strcmp(w[0], "master") == 0)
        return w[1];
    for (int i = 0; i + 1 < n; i++)
        if (strcmp(w[i], "@") == 0)
            return w[i + 1];
    return NULL;
}

static int
starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void
handle_event(sf_monitor *m, const char *channel, char *payload)
{
    char copy[512];
    snprintf(copy, sizeof copy, "%s", payload);
    char *w[16];
    int n = words(payload, w, 16);
    m->events_received++;

    if (strcmp(channel, "+switch-master") == 0 && n >= 5) {
        sf_service *svc = find_service(m, w[0]);
        if (svc)
            switch_master(m, svc, w[3], atoi(w[4]), 0, 1, "+switch-master");
        return;
    }
    const char *name = event_master(w, n);
    sf_service *svc = name ? find_service(m, name) : NULL;
    if (svc == NULL)
        return;
    if (strcmp(channel, "+try-failover") == 0 || starts(channel, "+failover-state-")
        || strcmp(channel, "+selected-slave") == 0 || strcmp(channel, "+promoted-slave") == 0
        || strcmp(channel, "+elected-leader") == 0) {
        if (strcmp(channel, "+failover-state-reconf-slaves") != 0)
            begin_failover(m, svc, channel);
        return;
    }
    if (starts(channel, "-failover-abort") || strcmp(channel, "+failover-end-for-timeout") == 0) {
        end_failover(m, svc, channel);
        m->recheck_now = 1;
        return;
    }
    if (strcmp(channel, "+sentinel") == 0 && n >= 4) {
        /* "sentinel <runid> <ip> <port> @ <master> ..." */
        add_link(m, w[2], atoi(w[3]), 0);
        return;
    }
    if (strcmp(channel, "+convert-to-slave") == 0 || strcmp(channel, "+odown") == 0
        || strcmp(channel, "-odown") == 0 || strcmp(channel, "+failover-end") == 0)
        push_event(m, channel + 1, svc->name, "%s", copy);
}

static void
handle_message(sf_monitor *m, redisReply *r)
{
    /* ["pmessage", pattern, channel, payload] */
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 4)
        return;
    redisReply *kind = r->element[0], *channel = r->element[2], *payload = r->element[3];
    if (kind->type != REDIS_REPLY_STRING || strcmp(kind->str, "pmessage") != 0
        || channel->type != REDIS_REPLY_STRING || payload->type != REDIS_REPLY_STRING)
        return;
    handle_event(m, channel->str, payload->str);
}

static void
read_link(sf_monitor *m, link_t *l)
{
    if (redisBufferRead(l->sub) != REDIS_OK) {
        link_down(m, l, l->sub->errstr[0] ? l->sub->errstr : "connection lost");
        return;
    }
    for (;;) {
        void *reply = NULL;
        if (redisGetReplyFromReader(l->sub, &reply) != REDIS_OK) {
            link_down(m, l, "protocol error");
            return;
        }
        if (reply == NULL)
            return;
        handle_message(m, reply);
        freeReplyObject(reply);
    }
}

/* ---------------------------------------------------------------- re-check */

static const char *
pair(redisReply *r, const char *key)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && v->type == REDIS_REPLY_STRING
            && strcmp(k->str, key) == 0)
            return v->str;
    }
    return NULL;
}

static int
flag(const char *flags, const char *f)
{
    return flags != NULL && sf_has_flag(flags, strlen(flags), f);
}

/* One query to one Sentinel. A Sentinel that failed to answer (down or hung) is left
 * out of re-checks for two intervals, so it does not stall the loop every time. */
static redisReply *
query(sf_monitor *m, link_t *l, const char *fmt, const char *arg)
{
    if (sf_monotonic() < l->quiet_until)
        return NULL;
    if (l->cmd == NULL && (l->cmd = dial(m, l)) == NULL) {
        l->quiet_until = sf_monotonic() + 2 * m->recheck_interval;
        return NULL;
    }
    redisReply *r = redisCommand(l->cmd, fmt, arg);
    if (r == NULL) {
        redisFree(l->cmd);
        l->cmd = NULL;
        l->quiet_until = sf_monotonic() + 2 * m->recheck_interval;
    }
    return r;
}

/* Ask every reachable Sentinel; trust the highest config-epoch. */
static void
recheck_service(sf_monitor *m, sf_service *svc)
{
    long long best_epoch = -1;
    char best_host[256] = "";
    int best_port = 0, in_progress = 0;
    long down_after = 0;
    for (int i = 0; i < m->nlinks; i++) {
        link_t *l = &m->links[i];
        if (!l->up)
            continue;
        redisReply *r = query(m, l, "SENTINEL MASTER %s", svc->name);
        if (r == NULL)
            continue;
        const char *flags = pair(r, "flags"), *ip = pair(r, "ip"), *port = pair(r, "port");
        const char *epoch = pair(r, "config-epoch"), *dam = pair(r, "down-after-milliseconds");
        if (flag(flags, "failover_in_progress"))
            in_progress = 1;
        if (ip && port && epoch && flag(flags, "master") && !flag(flags, "s_down")
            && !flag(flags, "o_down")) {
            long long e = atoll(epoch);
            if (e > best_epoch) {
                best_epoch = e;
                snprintf(best_host, sizeof best_host, "%s", ip);
                best_port = atoi(port);
            }
        }
        if (dam)
            down_after = atol(dam);
        freeReplyObject(r);

        /* learn the other Sentinels */
        r = query(m, l, "SENTINEL SENTINELS %s", svc->name);
        if (r && r->type == REDIS_REPLY_ARRAY) {
            for (size_t j = 0; j < r->elements; j++) {
                const char *sip = pair(r->element[j], "ip"), *sport = pair(r->element[j], "port");
                if (sip && sport)
                    add_link(m, sip, atoi(sport), 0);
            }
        }
        if (r)
            freeReplyObject(r);
    }
    if (down_after > 0) {
        service_lock(svc);
        svc->down_after_ms = down_after;
        service_unlock(svc);
    }
    if (in_progress)
        begin_failover(m, svc, "a Sentinel reports failover_in_progress");
    else if (best_epoch >= 0)
        switch_master(m, svc, best_host, best_port, best_epoch, 0, "re-check");
}

/* ---------------------------------------------------------------- the loop */

/* A hold that ran out without news: release it, and ask the Sentinels again. */
static void
expire_holds(sf_monitor *m)
{
    double now = sf_monotonic();
    for (int i = 0; i < m->nservices; i++) {
        sf_service *svc = m->services[i]->svc;
        service_lock(svc);
        int expired = svc->failover && now >= svc->failover_deadline;
        if (expired) {
            __atomic_store_n(&svc->failover, 0, __ATOMIC_RELEASE);
            pthread_cond_broadcast(&svc->changed);
        }
        service_unlock(svc);
        if (expired) {
            push_event(m, "failover-ended", svc->name, "hold timed out without +switch-master");
            m->recheck_now = 1;
        }
    }
}

/* One round: (re)connect links, re-check if due, wait for events. No GIL. */
static void
step(sf_monitor *m)
{
    pthread_mutex_lock(&m->mutex);
    expire_holds(m);
    double now = sf_monotonic();
    for (int i = 0; i < m->nlinks; i++)
        if (m->links[i].sub == NULL && now >= m->links[i].next_attempt)
            link_up(m, &m->links[i]);
    if (m->recheck_now || now >= m->next_recheck) {
        m->recheck_now = 0;
        m->rechecks++;
        for (int i = 0; i < m->nservices; i++)
            recheck_service(m, m->services[i]->svc);
        m->next_recheck = sf_monotonic() + m->recheck_interval;
    }
    struct pollfd fds[MAX_LINKS + 1];
    link_t *owner[MAX_LINKS + 1];
    int nfds = 0;
    fds[nfds].fd = m->wake[0];
    fds[nfds].events = POLLIN;
    owner[nfds++] = NULL;
    double wait = m->next_recheck - sf_monotonic();
    for (int i = 0; i < m->nservices; i++) {
        sf_service *svc = m->services[i]->svc;
        if (__atomic_load_n(&svc->failover, __ATOMIC_ACQUIRE)
            && svc->failover_deadline - sf_monotonic() < wait)
            wait = svc->failover_deadline - sf_monotonic();
    }
    for (int i = 0; i < m->nlinks; i++) {
        link_t *l = &m->links[i];
        if (l->sub) {
            fds[nfds].fd = l->sub->fd;
            fds[nfds].events = POLLIN;
            owner[nfds++] = l;
        }
        else if (l->next_attempt - sf_monotonic() < wait) {
            wait = l->next_attempt - sf_monotonic();
        }
    }
    pthread_mutex_unlock(&m->mutex);

    int ms = wait <= 0 ? 0 : (int)(wait * 1000) + 1;
    int r = poll(fds, (nfds_t)nfds, ms);
    if (r <= 0)
        return;                     /* timeout, or EINTR: the next round goes on */
    pthread_mutex_lock(&m->mutex);
    if (fds[0].revents) {
        char buf[64];
        while (read(m->wake[0], buf, sizeof buf) > 0)
            ;
    }
    for (int i = 1; i < nfds; i++)
        if (fds[i].revents && owner[i]->sub)
            read_link(m, owner[i]);
    pthread_mutex_unlock(&m->mutex);
}

/* Lock the monitor while holding the GIL. Never block on the mutex with the GIL held:
 * the loop may hold the mutex across network round trips, and a holder of the mutex
 * may be waiting for the GIL (deadlock). */
static void
lock_from_python(sf_monitor *m)
{
    if (pthread_mutex_trylock(&m->mutex) == 0)
        return;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&m->mutex);
    Py_END_ALLOW_THREADS
}

/* Hand the collected events to Python (GIL held). */
static int
deliver(sf_monitor *m)
{
    lock_from_python(m);
    event_t *events = m->events;
    int n = m->nevents;
    m->events = NULL;
    m->nevents = m->capevents = 0;
    pthread_mutex_unlock(&m->mutex);
    int rc = 0;
    for (int i = 0; i < n && m->on_event != Py_None; i++) {
        PyObject *detail = PyUnicode_DecodeUTF8(events[i].detail,
                                                (Py_ssize_t)strlen(events[i].detail), "replace");
        PyObject *r = detail == NULL ? NULL
                      : PyObject_CallFunction(m->on_event, "ssN", events[i].kind,
                                              events[i].service, detail);
        if (r == NULL)
            PyErr_WriteUnraisable(m->on_event);
        Py_XDECREF(r);
    }
    free(events);
    return rc;
}

static void
close_links(sf_monitor *m)
{
    for (int i = 0; i < m->nlinks; i++) {
        link_t *l = &m->links[i];
        if (l->sub)
            redisFree(l->sub);
        if (l->cmd)
            redisFree(l->cmd);
        l->sub = l->cmd = NULL;
        l->up = 0;
        l->next_attempt = 0;
        l->quiet_until = 0;
    }
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
        Py_BEGIN_ALLOW_THREADS
        pthread_mutex_lock(&m->mutex);
        stop = m->stop;
        pthread_mutex_unlock(&m->mutex);
        if (!stop)
            step(m);
        pthread_mutex_lock(&m->mutex);
        stop = m->stop;
        pthread_mutex_unlock(&m->mutex);
        Py_END_ALLOW_THREADS
        deliver(m);
        if (stop)
            break;
    }
    lock_from_python(m);
    close_links(m);
    m->running = 0;
    pthread_mutex_unlock(&m->mutex);
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
    (void)!write(m->wake[1], "x", 1);
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
    lock_from_python(m);
    for (int i = 0; i < m->nservices; i++) {
        if (strcmp(m->services[i]->svc->name, name) == 0) {
            m->services[i]->hold_timeout = hold;
            PyObject *found = Py_NewRef((PyObject *)m->services[i]);
            pthread_mutex_unlock(&m->mutex);
            return found;
        }
    }
    pthread_mutex_unlock(&m->mutex);
    if (m->nservices == MAX_SERVICES) {
        PyErr_SetString(PyExc_RuntimeError, "too many services for one Sentinel object");
        return NULL;
    }
    PyObject *svc = PyObject_CallFunction((PyObject *)m->st->ServiceType, "sd", name, hold);
    if (svc == NULL)
        return NULL;
    lock_from_python(m);
    m->services[m->nservices++] = (sf_service_obj *)Py_NewRef(svc);
    m->recheck_now = 1;
    pthread_mutex_unlock(&m->mutex);
    (void)!write(m->wake[1], "x", 1);
    return svc;
}

static PyObject *
monitor_stats(sf_monitor *m, PyObject *unused)
{
    lock_from_python(m);
    PyObject *sentinels = PyList_New(0);
    for (int i = 0; sentinels && i < m->nlinks; i++) {
        PyObject *t = Py_BuildValue("{s:(si),s:O,s:O}", "address", m->links[i].host,
                                    m->links[i].port, "up", m->links[i].up ? Py_True : Py_False,
                                    "configured", m->links[i].configured ? Py_True : Py_False);
        if (t == NULL || PyList_Append(sentinels, t) < 0)
            Py_CLEAR(sentinels);
        Py_XDECREF(t);
    }
    PyObject *d = sentinels ? Py_BuildValue("{s:N,s:k,s:k,s:k,s:O}", "sentinels", sentinels,
                                            "events_received", m->events_received,
                                            "rechecks", m->rechecks,
                                            "sentinel_link_failures", m->link_failures,
                                            "running", m->running ? Py_True : Py_False)
                            : NULL;
    pthread_mutex_unlock(&m->mutex);
    return d;
}

/* fork(): the forking thread holds the mutex across the fork (taken in
 * _lock_for_fork), so the loop is not in the middle of changing a hiredis context and
 * the child inherits consistent state. */
static PyObject *
monitor_lock_for_fork(sf_monitor *m, PyObject *unused)
{
    lock_from_python(m);
    Py_RETURN_NONE;
}

static PyObject *
monitor_unlock_after_fork(sf_monitor *m, PyObject *unused)
{
    pthread_mutex_unlock(&m->mutex);
    Py_RETURN_NONE;
}

static PyObject *
monitor_forget_after_fork(sf_monitor *m, PyObject *unused)
{
    /* In a forked child, with the mutex taken before the fork: the thread is gone;
     * close the child's copies of the parent's Sentinel sockets. */
    pthread_mutex_init(&m->mutex, NULL);
    for (int i = 0; i < m->nlinks; i++) {
        link_t *l = &m->links[i];
        if (l->sub)
            redisFree(l->sub);
        if (l->cmd)
            redisFree(l->cmd);
        l->sub = l->cmd = NULL;
        l->up = 0;
    }
    m->running = 0;
    m->stop = 0;
    m->nevents = 0;
    Py_RETURN_NONE;
}

static int
monitor_init(sf_monitor *m, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"sentinels", "socket_timeout", "recheck_interval", "on_event", NULL};
    PyObject *sentinels, *on_event = Py_None;
    double timeout = 0.5, interval = 5.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|ddO:Monitor", kwlist, &sentinels, &timeout,
                                     &interval, &on_event))
        return -1;
    if (timeout <= 0 || interval <= 0) {
        PyErr_SetString(PyExc_ValueError, "timeouts must be positive");
        return -1;
    }
    PyObject *seq = PySequence_Fast(sentinels, "sentinels must be a sequence of (host, port)");
    if (seq == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        const char *host;
        int port;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "si", &host, &port)) {
            Py_DECREF(seq);
            return -1;
        }
        add_link(m, host, port, 1);
    }
    Py_DECREF(seq);
    m->timeout = timeout;
    m->recheck_interval = interval;
    Py_XSETREF(m->on_event, Py_NewRef(on_event));
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
    m->on_event = Py_NewRef(Py_None);
    if (m->st == NULL || pipe2(m->wake, O_NONBLOCK | O_CLOEXEC) < 0) {
        if (!PyErr_Occurred())
            PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(m);
        return NULL;
    }
    pthread_mutex_init(&m->mutex, NULL);
    return (PyObject *)m;
}

static int
monitor_traverse(sf_monitor *m, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(m));
    Py_VISIT(m->on_event);
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
    monitor_clear(m);
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
    {Py_tp_doc, "Monitor(sentinels, socket_timeout=0.5, recheck_interval=5.0, on_event=None)"},
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
