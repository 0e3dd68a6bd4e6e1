/* The per-service state that pools and connections follow (see sentinel_service.h),
 * and the Service type, its Python handle. */
#include "sentinel_service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define HOLD_SLICE 0.05

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

/* ================================================================ pools, connections */

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

long
sf_service_down_after_ms(sf_service *svc)
{
    service_lock(svc);
    long ms = svc->down_after_ms;
    service_unlock(svc);
    return ms;
}

/* ================================================================ the monitor's side */

int
sf_service_begin_failover(sf_service *svc, const char *host, int port, int *dropped)
{
    *dropped = 0;
    service_lock(svc);
    if (svc->settling && host != NULL && svc->host[0] != '\0'
        && (strcmp(svc->host, host) != 0 || svc->port != port)) {
        /* late news of the failover that already ended with our switch */
        service_unlock(svc);
        return -1;
    }
    int started = !svc->failover;
    svc->settling = 0;                /* news of a new failover: the last switch is history */
    if (started) {
        svc->failover_deadline = sf_monotonic() + svc->hold_timeout;
        __atomic_store_n(&svc->failover, 1, __ATOMIC_RELEASE);
        svc->failovers++;
        __atomic_add_fetch(&svc->epoch, 1, __ATOMIC_ACQ_REL);   /* pools retire idle ones */
        *dropped = drop_connections_locked(svc);
    }
    service_unlock(svc);
    return started;
}

int
sf_service_end_failover(sf_service *svc)
{
    service_lock(svc);
    int ended = svc->failover;
    __atomic_store_n(&svc->failover, 0, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&svc->changed);
    service_unlock(svc);
    return ended;
}

int
sf_service_expire_hold(sf_service *svc, double now)
{
    service_lock(svc);
    int expired = svc->failover && now >= svc->failover_deadline;
    if (expired) {
        __atomic_store_n(&svc->failover, 0, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&svc->changed);
    }
    service_unlock(svc);
    return expired;
}

double
sf_service_hold_deadline(sf_service *svc, double upto)
{
    service_lock(svc);
    if (svc->failover && svc->failover_deadline < upto)
        upto = svc->failover_deadline;
    service_unlock(svc);
    return upto;
}

void
sf_service_switch_master(sf_service *svc, const char *host, int port, long long config_epoch,
                         int from_switch_event, sf_switch_outcome *out)
{
    memset(out, 0, sizeof *out);
    service_lock(svc);
    int same = strcmp(svc->host, host) == 0 && svc->port == port;
    if (!from_switch_event && !same && svc->host[0] != '\0' && config_epoch >= 0
        && config_epoch < svc->config_epoch) {
        /* a Sentinel that has not heard of the last switch yet: not news */
        service_unlock(svc);
        return;
    }
    out->was_known = svc->host[0] != '\0';
    snprintf(out->old, sizeof out->old, "%s:%d", svc->host, svc->port);
    out->moved = !same;
    if (out->moved) {
        snprintf(svc->host, sizeof svc->host, "%s", host);
        svc->port = port;
        if (out->was_known) {
            __atomic_add_fetch(&svc->epoch, 1, __ATOMIC_ACQ_REL);
            svc->switches++;
            out->dropped = drop_connections_locked(svc);
        }
    }
    if (from_switch_event) {
        /* The new master's config-epoch is newer than the one we knew: at least +1. */
        if (out->moved && svc->config_epoch >= 0)
            svc->config_epoch++;
        svc->settling = 1;
    }
    else if (config_epoch > svc->config_epoch) {
        svc->config_epoch = config_epoch;
    }
    int was_failover = svc->failover;
    if (out->moved || from_switch_event) {
        __atomic_store_n(&svc->failover, 0, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&svc->changed);
        out->ended_failover = was_failover && !out->moved;
    }
    service_unlock(svc);
}

int
sf_service_is_settled_report(sf_service *svc, const char *host, int port, long long config_epoch,
                             long long current_epoch)
{
    service_lock(svc);
    long long known = svc->config_epoch > current_epoch ? svc->config_epoch : current_epoch;
    int settled = svc->settling
                  && ((strcmp(svc->host, host) == 0 && svc->port == port)
                      || config_epoch <= known);
    service_unlock(svc);
    return settled;
}

void
sf_service_mark_settled(sf_service *svc)
{
    service_lock(svc);
    svc->settling = 0;
    service_unlock(svc);
}

void
sf_service_set_down_after(sf_service *svc, long down_after_ms)
{
    service_lock(svc);
    svc->down_after_ms = down_after_ms;
    service_unlock(svc);
}

void
sf_service_set_hold_timeout(sf_service *svc, double hold_timeout)
{
    service_lock(svc);
    svc->hold_timeout = hold_timeout;
    service_unlock(svc);
}

void
sf_service_snapshot_of(sf_service *svc, sf_service_snapshot *snap)
{
    service_lock(svc);
    memcpy(snap->name, svc->name, sizeof snap->name);
    memcpy(snap->host, svc->host, sizeof snap->host);
    snap->port = svc->port;
    snap->config_epoch = svc->config_epoch;
    snap->epoch = svc->epoch;
    snap->failover = svc->failover;
    snap->switches = svc->switches;
    snap->failovers = svc->failovers;
    snap->connections_dropped = svc->connections_dropped;
    snap->holds = svc->holds;
    snap->role_refusals = svc->role_refusals;
    snap->nfds = svc->nfds;
    service_unlock(svc);
}

/* ================================================================ the Service type */

static PyObject *
service_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    const char *name;
    double hold_timeout = 5.0;
    static char *kwlist[] = {"name", "hold_timeout", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "s|d:Service", kwlist, &name, &hold_timeout))
        return NULL;
    if (strlen(name) >= SF_SERVICE_NAME_MAX) {
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
    self->svc->hold_timeout = hold_timeout;
    self->svc->config_epoch = -1;
    return (PyObject *)self;
}

PyObject *
sf_service_create(sf_state *st, const char *name, double hold_timeout)
{
    return PyObject_CallFunction((PyObject *)st->ServiceType, "sd", name, hold_timeout);
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
    sf_service_snapshot s;
    sf_service_snapshot_of(self->svc, &s);      /* copy under the lock, build after */
    PyObject *master = s.host[0] ? Py_BuildValue("(si)", s.host, s.port) : Py_NewRef(Py_None);
    if (master == NULL)
        return NULL;
    return Py_BuildValue(
        "{s:s,s:N,s:L,s:k,s:O,s:k,s:k,s:k,s:k,s:k,s:i}",
        "service", s.name, "master", master, "config_epoch", s.config_epoch < 0 ? 0 : s.config_epoch,
        "epoch", s.epoch, "failover_in_progress", s.failover ? Py_True : Py_False,
        "switches", s.switches, "failovers", s.failovers,
        "connections_dropped", s.connections_dropped, "holds", s.holds,
        "role_refusals", s.role_refusals, "tracked_connections", s.nfds);
}

static PyObject *
service_set_master(sf_service_obj *self, PyObject *args)
{
    const char *host;
    int port;
    if (!PyArg_ParseTuple(args, "si:set_master", &host, &port))
        return NULL;
    if (strlen(host) >= SF_HOST_MAX || port < 1 || port > 65535)
        Py_RETURN_NONE;               /* not an address a connection could use: no seed */
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
