/* The per-service state that pools and connections follow (see sentinel_service.h),
 * and the Service type, its Python handle. */
#include "sentinel_service.h"
#include "tls_context.h"

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

/* Wait on `changed` (locked) for at most `seconds`, and never longer than one slice:
 * the callers check for signals between two slices. */
static void
wait_changed_locked(sf_service *svc, double seconds)
{
    if (seconds > HOLD_SLICE)
        seconds = HOLD_SLICE;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long nsec = ts.tv_nsec + (long)(seconds * 1e9);
    ts.tv_sec += nsec / 1000000000L;
    ts.tv_nsec = nsec % 1000000000L;
    pthread_cond_timedwait(&svc->changed, &svc->mutex, &ts);
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

const char sf_service_isolated_message[] =
    "no majority of the Sentinels reachable: the master may be changing on the other side "
    "(Sentinel require_sentinel_majority=True)";

int
sf_service_wait_ready(sf_service *svc)
{
    if (!__atomic_load_n(&svc->failover, __ATOMIC_ACQUIRE)
        && !__atomic_load_n(&svc->isolated, __ATOMIC_ACQUIRE))
        return 0;
    int counted = 0, isolated = 0;
    double isolated_until = 0;
    for (;;) {
        int waiting;
        Py_BEGIN_ALLOW_THREADS
        service_lock(svc);
        double now = sf_monotonic();
        if (isolated_until == 0)
            isolated_until = now + svc->hold_timeout;
        isolated = svc->isolated;
        double deadline = svc->failover ? svc->failover_deadline : 0;
        if (isolated && isolated_until > deadline)
            deadline = isolated_until;
        waiting = (svc->failover || isolated) && now < deadline;
        if (waiting) {
            if (!counted)
                svc->holds++;
            wait_changed_locked(svc, deadline - now);
            isolated = svc->isolated;
            now = sf_monotonic();
            waiting = (svc->failover && now < svc->failover_deadline)
                      || (isolated && now < isolated_until);
        }
        service_unlock(svc);
        Py_END_ALLOW_THREADS
        counted = 1;
        if (!waiting)
            return isolated ? SF_SERVICE_ISOLATED : 0;
        if (PyErr_CheckSignals() < 0)
            return -1;
    }
}

int
sf_service_backoff_sleep(sf_service *svc, double seconds, unsigned long epoch)
{
    if (!(seconds <= 86400.0))
        seconds = 86400.0;
    double deadline = sf_monotonic() + seconds;
    for (;;) {
        int done;
        Py_BEGIN_ALLOW_THREADS
        service_lock(svc);
        double now = sf_monotonic();
        done = now >= deadline || (svc->epoch != epoch && !svc->failover);
        if (!done) {
            wait_changed_locked(svc, deadline - now);
            done = sf_monotonic() >= deadline || (svc->epoch != epoch && !svc->failover);
        }
        service_unlock(svc);
        Py_END_ALLOW_THREADS
        if (done)
            return 0;
        if (PyErr_CheckSignals() < 0)
            return -1;
    }
}

int
sf_service_requires_majority(sf_service *svc)
{
    service_lock(svc);
    int on = svc->require_majority;
    service_unlock(svc);
    return on;
}

int
sf_service_set_isolated(sf_service *svc, int isolated)
{
    service_lock(svc);
    int changed = svc->isolated != isolated;
    if (changed) {
        __atomic_store_n(&svc->isolated, isolated, __ATOMIC_RELEASE);
        if (isolated)
            __atomic_add_fetch(&svc->epoch, 1, __ATOMIC_ACQ_REL);
        pthread_cond_broadcast(&svc->changed);
    }
    service_unlock(svc);
    return changed;
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

int
sf_service_master_ever_known(sf_service *svc)
{
    return __atomic_load_n(&svc->master_ever_known, __ATOMIC_ACQUIRE);
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
sf_service_begin_failover(sf_service *svc, const char *host, int port)
{
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
        /* Pools retire their idle connections, and a connection in use goes through
         * the hold before its next command (connection.c). One waiting for a reply
         * keeps reading it: a write already sent is answered, a blocking pop or a
         * Pub/Sub message already on its way is delivered, not thrown away. The
         * switch shuts down what still talks to the old master. */
        __atomic_add_fetch(&svc->epoch, 1, __ATOMIC_ACQ_REL);
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

int
sf_service_probe_access(sf_service *svc, sf_node_access *a)
{
    memset(a, 0, sizeof *a);
    service_lock(svc);
    int enabled = svc->probe_enabled;
    if (enabled) {
        a->has_username = svc->probe_username != NULL;
        a->has_password = svc->probe_password != NULL;
        snprintf(a->username, sizeof a->username, "%s",
                 svc->probe_username ? svc->probe_username : "");
        snprintf(a->password, sizeof a->password, "%s",
                 svc->probe_password ? svc->probe_password : "");
        if (svc->probe_tls != NULL && SSL_CTX_up_ref(svc->probe_tls) == 1)
            a->tls_ctx = svc->probe_tls;
        else if (svc->probe_tls != NULL)
            enabled = 0;              /* cannot share the context: no probe this time */
        memcpy(a->server_hostname, svc->probe_server_hostname, sizeof a->server_hostname);
        a->check_hostname = svc->probe_check_hostname;
    }
    service_unlock(svc);
    return enabled;
}

int
sf_service_has_unconfirmed(sf_service *svc)
{
    service_lock(svc);
    int unconfirmed = svc->unconfirmed;
    service_unlock(svc);
    return unconfirmed;
}

int
sf_service_revert_unconfirmed(sf_service *svc, sf_switch_outcome *out)
{
    memset(out, 0, sizeof *out);
    service_lock(svc);
    int revert = svc->unconfirmed;
    if (revert) {
        snprintf(out->old, sizeof out->old, "%s:%d", svc->host, svc->port);
        memcpy(svc->host, svc->prev_host, sizeof svc->host);
        svc->port = svc->prev_port;
        svc->config_epoch = svc->prev_config_epoch;
        svc->unconfirmed = 0;
        svc->settling = 0;
        __atomic_add_fetch(&svc->epoch, 1, __ATOMIC_ACQ_REL);
        __atomic_add_fetch(&svc->generation, 1, __ATOMIC_ACQ_REL);
        out->moved = out->was_known = 1;
        out->dropped = drop_connections_locked(svc);
    }
    service_unlock(svc);
    return revert;
}

void
sf_service_switch_master(sf_service *svc, const char *host, int port, long long config_epoch,
                         sf_switch_source source, sf_switch_outcome *out)
{
    int from_switch_event = source != SF_SWITCH_FROM_REPORT;
    memset(out, 0, sizeof *out);
    service_lock(svc);
    int same = strcmp(svc->host, host) == 0 && svc->port == port;
    if (source == SF_SWITCH_FROM_PROBE && !same && svc->host[0] != '\0') {
        memcpy(svc->prev_host, svc->host, sizeof svc->prev_host);
        svc->prev_port = svc->port;
        svc->prev_config_epoch = svc->config_epoch;
        svc->unconfirmed = 1;
    }
    else if (same && (source == SF_SWITCH_FROM_EVENT || config_epoch >= 0)) {
        svc->unconfirmed = 0;         /* a Sentinel names what the probe saw */
    }
    if (!from_switch_event && !same && svc->host[0] != '\0' && config_epoch >= 0
        && config_epoch < svc->config_epoch) {
        /* a Sentinel that has not heard of the last switch yet: not news */
        service_unlock(svc);
        return;
    }
    out->was_known = svc->host[0] != '\0';
    snprintf(out->old, sizeof out->old, "%s:%d", svc->host, svc->port);
    out->moved = !same;
    __atomic_store_n(&svc->master_ever_known, 1, __ATOMIC_RELEASE);
    if (out->moved) {
        snprintf(svc->host, sizeof svc->host, "%s", host);
        svc->port = port;
        /* A new epoch even for the first address the monitor learns: a connection that a
         * pool opened meanwhile through discovery (asked while the service knew no master)
         * may have reached another node, e.g. the old master named by a Sentinel still
         * reconfiguring; it is retired, not used. */
        __atomic_add_fetch(&svc->epoch, 1, __ATOMIC_ACQ_REL);
        __atomic_add_fetch(&svc->generation, 1, __ATOMIC_ACQ_REL);
        out->dropped = drop_connections_locked(svc);
        if (out->was_known)
            svc->switches++;
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
    snap->isolated = svc->isolated;
    snap->master_ever_known = __atomic_load_n(&svc->master_ever_known, __ATOMIC_ACQUIRE);
    snap->down_after_ms = svc->down_after_ms;
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
        free(self->svc->probe_username);
        free(self->svc->probe_password);
        if (self->svc->probe_tls != NULL)
            SSL_CTX_free(self->svc->probe_tls);
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
        "{s:s,s:N,s:O,s:l,s:L,s:k,s:O,s:O,s:k,s:k,s:k,s:k,s:k,s:i}",
        "service", s.name, "master", master,
        "master_ever_known", s.master_ever_known ? Py_True : Py_False,
        "down_after_ms", s.down_after_ms,
        "config_epoch", s.config_epoch < 0 ? 0 : s.config_epoch,
        "epoch", s.epoch, "failover_in_progress", s.failover ? Py_True : Py_False,
        "sentinel_majority_lost", s.isolated ? Py_True : Py_False,
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
    __atomic_store_n(&s->master_ever_known, 1, __ATOMIC_RELEASE);   /* a Sentinel named one */
    service_unlock(s);
    Py_RETURN_NONE;
}

int
sf_copy_credential(PyObject *obj, char **out, const char *what)
{
    *out = NULL;
    if (obj == NULL || obj == Py_None)
        return 0;
    Py_ssize_t len;
    const char *text;
    if (PyBytes_Check(obj)) {
        text = PyBytes_AS_STRING(obj);
        len = PyBytes_GET_SIZE(obj);
    }
    else if (PyUnicode_Check(obj)) {
        text = PyUnicode_AsUTF8AndSize(obj, &len);
        if (text == NULL)
            return -1;
    }
    else {
        PyErr_Format(PyExc_TypeError, "%s must be str, bytes or None", what);
        return -1;
    }
    if ((size_t)len != strlen(text) || len > 400) {
        PyErr_Format(PyExc_ValueError, "invalid %s", what);
        return -1;
    }
    *out = strdup(text);
    if (*out == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static PyObject *
service_set_probe(sf_service_obj *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"enabled", "username", "password", "tls", "server_hostname", NULL};
    int enabled = 1;
    PyObject *username = Py_None, *password = Py_None, *tls = Py_None;
    const char *sni = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|pOOOz:set_probe", kwlist, &enabled,
                                     &username, &password, &tls, &sni))
        return NULL;
    sf_state *st = sf_state_from_type(Py_TYPE(self));
    if (st == NULL)
        return NULL;
    if (tls != Py_None && !sf_tls_context_check(st, tls)) {
        PyErr_SetString(PyExc_TypeError, "tls must be a TLSContext or None");
        return NULL;
    }
    if (sni != NULL && strlen(sni) >= SF_HOST_MAX) {
        PyErr_SetString(PyExc_ValueError, "server_hostname too long");
        return NULL;
    }
    SSL_CTX *ctx = NULL;
    int check_hostname = 0;
    if (enabled && tls != Py_None) {
        ctx = sf_tls_context_ctx(tls, NULL);    /* borrowed; built now (GIL held) */
        if (ctx == NULL)
            return NULL;
        if (SSL_CTX_up_ref(ctx) != 1) {
            PyErr_SetString(PyExc_RuntimeError, "SSL_CTX_up_ref failed");
            return NULL;
        }
        check_hostname = sf_tls_context_check_hostname(tls);
    }
    char *user = NULL, *pass = NULL;
    if (sf_copy_credential(username, &user, "username") < 0
        || sf_copy_credential(password, &pass, "password") < 0) {
        free(user);
        if (ctx != NULL)
            SSL_CTX_free(ctx);
        return NULL;
    }
    if (pass == NULL) {               /* AUTH needs a password */
        free(user);
        user = NULL;
    }
    sf_service *svc = self->svc;
    service_lock(svc);
    char *old_user = svc->probe_username, *old_pass = svc->probe_password;
    SSL_CTX *old_ctx = svc->probe_tls;
    svc->probe_enabled = enabled;
    svc->probe_username = user;
    svc->probe_password = pass;
    svc->probe_tls = ctx;
    snprintf(svc->probe_server_hostname, sizeof svc->probe_server_hostname, "%s",
             sni ? sni : "");
    svc->probe_check_hostname = check_hostname;
    service_unlock(svc);
    free(old_user);
    free(old_pass);
    if (old_ctx != NULL)
        SSL_CTX_free(old_ctx);
    Py_RETURN_NONE;
}

static PyObject *
service_set_require_majority(sf_service_obj *self, PyObject *arg)
{
    int on = PyObject_IsTrue(arg);
    if (on < 0)
        return NULL;
    sf_service *svc = self->svc;
    service_lock(svc);
    svc->require_majority = on;
    if (!on && svc->isolated) {
        __atomic_store_n(&svc->isolated, 0, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&svc->changed);
    }
    service_unlock(svc);
    Py_RETURN_NONE;
}

static PyObject *
service_generation(sf_service_obj *self, PyObject *unused)
{
    return PyLong_FromUnsignedLong(__atomic_load_n(&self->svc->generation, __ATOMIC_ACQUIRE));
}

static PyObject *
service_in_failover(sf_service_obj *self, PyObject *unused)
{
    return PyBool_FromLong(__atomic_load_n(&self->svc->failover, __ATOMIC_ACQUIRE));
}

static PyMethodDef service_methods[] = {
    {"generation", (PyCFunction)service_generation, METH_NOARGS,
     "generation()\nA number that changes whenever the master's address changes (a switch, "
     "or a\nprobe's switch undone); a failover beginning leaves it. Read without a lock."},
    {"in_failover", (PyCFunction)service_in_failover, METH_NOARGS,
     "in_failover()\nTrue while the monitor holds master commands for a failover in "
     "progress\n(until the switch, or the hold deadline). Read without a lock."},
    {"set_require_majority", (PyCFunction)service_set_require_majority, METH_O,
     "set_require_majority(on, /)\nWhile the monitor reaches fewer than a majority of the "
     "Sentinels for longer\nthan down-after-milliseconds, master commands wait (the hold "
     "timeout), then fail\nwith ConnectionError."},
    {"set_probe", (PyCFunction)(void (*)(void))service_set_probe, METH_VARARGS | METH_KEYWORDS,
     "set_probe(enabled=True, username=None, password=None, tls=None, server_hostname=None)\n"
     "How the monitor's promotion probe reaches the data nodes (ROLE to the replica being\n"
     "promoted); enabled=False: wait for Sentinel's +promoted-slave instead."},
    {"state", (PyCFunction)service_state, METH_NOARGS,
     "What the monitor knows of the service, and its counters."},
    {"set_master", (PyCFunction)service_set_master, METH_VARARGS,
     "Seed the master address if none is known yet (and remember that a master was known)."},
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
