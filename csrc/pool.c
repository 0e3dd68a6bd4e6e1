/* ConnectionPool: thread-safe, LIFO, bounded, fork-safe.
 *
 * Thread safety does not rely on the GIL: the pool's own mutex guards its state (see
 * pool.h). Sections under the mutex move connection pointers between two C arrays
 * and update counters; everything that can call Python (making a connection,
 * closing one, dropping references) happens after the mutex is released, on
 * connections that the calling thread alone holds at that moment. get and release
 * take the mutex once each and allocate nothing.
 * Blocking pools wait for a release on a condition variable, with the GIL released
 * and in short slices so that Ctrl-C is seen.
 * Fork safety: a pool used in a child process after fork() forgets every connection
 * it had (their sockets belong to the parent) and starts empty. */
#include "pool.h"

#include <errno.h>
#include <sched.h>
#include <structmember.h>
#include <sys/socket.h>
#include <time.h>

#define WAIT_SLICE 0.05   /* seconds between checks for signals while waiting */
#define FORK_RESETTING ((unsigned long)-1)

int
sf_pool_check(sf_state *st, PyObject *obj)
{
    return PyObject_TypeCheck(obj, st->PoolType);
}

static void
init_sync(sf_pool *p)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->released, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&p->lock, NULL);
}

static inline void lock(sf_pool *p) { pthread_mutex_lock(&p->lock); }
static inline void unlock(sf_pool *p) { pthread_mutex_unlock(&p->lock); }

/* Under the lock: make room for `created + 1` connections. 0, or -1 (no memory;
 * nothing changed). Allocates with the raw allocator: no GIL needed. */
static int
reserve_slot(sf_pool *p)
{
    if (p->created < p->capacity)
        return 0;
    Py_ssize_t cap = p->capacity < 8 ? 8 : p->capacity * 2;
    if (cap > p->max_connections)
        cap = p->max_connections;
    if (cap <= p->created || (size_t)cap > PY_SSIZE_T_MAX / sizeof(sf_conn *))
        return -1;
    sf_conn **idle = PyMem_RawRealloc(p->idle, (size_t)cap * sizeof(sf_conn *));
    if (idle == NULL)
        return -1;
    p->idle = idle;
    sf_conn **busy = PyMem_RawRealloc(p->busy, (size_t)cap * sizeof(sf_conn *));
    if (busy == NULL)
        return -1;                  /* idle grew, capacity did not: harmless */
    p->busy = busy;
    p->capacity = cap;
    return 0;
}

/* Under the lock: remove `conn` from `busy`. 1 if it was there, else 0. The most
 * recently handed out connections are at the end: search from there. */
static int
take_from_busy(sf_pool *p, sf_conn *conn)
{
    for (Py_ssize_t i = p->n_busy - 1; i >= 0; i--) {
        if (p->busy[i] == conn) {
            p->busy[i] = p->busy[--p->n_busy];
            return 1;
        }
    }
    return 0;
}

/* Under the lock: wake waiters after connections or slots freed up. */
static void
wake_waiters(sf_pool *p, int all)
{
    p->releases++;
    if (p->waiters > 0) {
        if (all)
            pthread_cond_broadcast(&p->released);
        else
            pthread_cond_signal(&p->released);
    }
}

/* Close the sockets of the idle connections. They are moved to `busy` while they
 * are closed (this thread holds a reference of its own to each meanwhile), then
 * given back; a get() meanwhile waits for them instead of failing. 0, or -1 with
 * MemoryError. */
static int
close_idle(sf_pool *p)
{
    lock(p);
    Py_ssize_t n = p->n_idle;
    unlock(p);
    if (n == 0)
        return 0;
    sf_conn **taken = PyMem_Malloc((size_t)n * sizeof(sf_conn *));
    if (taken == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t k = 0, kept = 0;
    lock(p);
    unsigned long generation = p->generation;
    for (Py_ssize_t i = 0; i < p->n_idle; i++) {
        sf_conn *c = p->idle[i];
        if (sf_conn_is_connected(c) && k < n) {
            Py_INCREF(c);
            taken[k++] = c;
            p->busy[p->n_busy++] = c;
        }
        else {
            p->idle[kept++] = c;
        }
    }
    p->n_idle = kept;
    if (k > 0)
        p->closing++;
    unlock(p);
    if (k == 0) {
        PyMem_Free(taken);
        return 0;
    }

    for (Py_ssize_t i = 0; i < k; i++)
        sf_conn_disconnect(taken[i]);

    lock(p);
    if (p->generation == generation) {   /* else a reset forgot them meanwhile */
        for (Py_ssize_t i = 0; i < k; i++) {
            if (take_from_busy(p, taken[i]))
                p->idle[p->n_idle++] = taken[i];
        }
        p->closing--;
        wake_waiters(p, 1);
    }
    unlock(p);
    for (Py_ssize_t i = 0; i < k; i++)
        Py_DECREF(taken[i]);
    PyMem_Free(taken);
    return 0;
}

/* Forget every connection: idle ones are closed, in-use ones are not taken back
 * when released. */
static void
forget_all(sf_pool *p)
{
    lock(p);
    sf_conn **idle = p->idle, **busy = p->busy;
    Py_ssize_t n_idle = p->n_idle, n_busy = p->n_busy;
    p->idle = p->busy = NULL;
    p->n_idle = p->n_busy = p->capacity = 0;
    p->created = 0;
    p->closing = 0;
    p->generation++;
    wake_waiters(p, 1);
    unlock(p);
    for (Py_ssize_t i = 0; i < n_idle; i++) {
        sf_conn_disconnect(idle[i]);
        Py_DECREF(idle[i]);
    }
    for (Py_ssize_t i = 0; i < n_busy; i++)
        Py_DECREF(busy[i]);
    PyMem_RawFree(idle);
    PyMem_RawFree(busy);
}

/* After fork(), in the child: one thread resets the pool (its mutex may have been
 * copied locked by a thread of the parent), the others wait for it. */
static int
check_fork(sf_pool *p)
{
    unsigned long now = sf_fork_generation;
    unsigned long mine = __atomic_load_n(&p->fork_generation, __ATOMIC_ACQUIRE);
    if (mine == now)
        return 0;
    if (mine != FORK_RESETTING
        && __atomic_compare_exchange_n(&p->fork_generation, &mine, FORK_RESETTING, 0,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        init_sync(p);
        p->waiters = 0;
        forget_all(p);
        __atomic_store_n(&p->fork_generation, now, __ATOMIC_RELEASE);
        return 0;
    }
    /* Another thread of this child resets it; it may need the GIL to finish. */
    while (__atomic_load_n(&p->fork_generation, __ATOMIC_ACQUIRE) == FORK_RESETTING) {
        Py_BEGIN_ALLOW_THREADS
        sched_yield();
        Py_END_ALLOW_THREADS
    }
    return 0;
}

static sf_conn *
make_connection(sf_pool *p)
{
    PyObject *empty = PyTuple_New(0);
    if (empty == NULL)
        return NULL;
    PyObject *conn = PyObject_Call(p->connection_class, empty, p->connection_kwargs);
    Py_DECREF(empty);
    if (conn == NULL)
        return NULL;
    if (!sf_conn_check(p->st, conn)) {
        PyErr_Format(PyExc_TypeError, "connection_class must make sentinelfast Connections, "
                     "not %.100s", Py_TYPE(conn)->tp_name);
        Py_DECREF(conn);
        return NULL;
    }
    return (sf_conn *)conn;
}

/* Count a new connection (under the lock). 0, or -1 if out of memory. */
static int
count_new_connection(sf_pool *p)
{
    if (reserve_slot(p) < 0)
        return -1;
    p->created++;
    return 0;
}

/* A connection that was counted but could not be made: free its slot. */
static void
uncount_connection(sf_pool *p, unsigned long generation)
{
    lock(p);
    if (p->generation == generation) {
        p->created--;
        wake_waiters(p, 0);
    }
    unlock(p);
}

/* Wait (the lock held on entry and on return, the GIL released meanwhile) until a
 * release since `seen` or the deadline. 1 = something was released, 0 = timed
 * out, -1 = exception (a signal). */
static int
wait_for_release(sf_pool *p, unsigned long seen, double deadline)
{
    int released = 0;
    p->waiters++;
    for (;;) {
        double slice = WAIT_SLICE;
        if (deadline >= 0) {
            double left = deadline - sf_monotonic();
            if (left <= 0)
                break;
            if (left < slice)
                slice = left;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long nsec = ts.tv_nsec + (long)(slice * 1e9);
        ts.tv_sec += nsec / 1000000000L;
        ts.tv_nsec = nsec % 1000000000L;
        /* Never wait for the GIL while holding the lock: release the lock first. */
        unlock(p);
        Py_BEGIN_ALLOW_THREADS
        lock(p);
        while (p->releases == seen) {
            if (pthread_cond_timedwait(&p->released, &p->lock, &ts) == ETIMEDOUT)
                break;
        }
        released = p->releases != seen;
        unlock(p);
        Py_END_ALLOW_THREADS
        int interrupted = !released && PyErr_CheckSignals() < 0;
        lock(p);
        if (released || interrupted) {
            p->waiters--;
            return interrupted ? -1 : 1;
        }
    }
    p->waiters--;
    return released;
}

/* Follow the service: wait while Sentinel runs a failover; when the master moved,
 * retire every connection made before. */
static int
follow_service(sf_pool *p)
{
    int ready = sf_service_wait_ready(p->svc);
    if (ready == SF_SERVICE_ISOLATED)
        PyErr_SetString(p->st->ConnectionError, sf_service_isolated_message);
    if (ready < 0)
        return -1;
    unsigned long epoch = sf_service_epoch(p->svc);
    lock(p);
    int moved = epoch != p->svc_epoch;
    if (moved) {
        p->svc_epoch = epoch;
        p->epoch++;
    }
    unlock(p);
    return moved ? close_idle(p) : 0;
}

sf_conn *
sf_pool_get(sf_pool *p)
{
    if (check_fork(p) < 0)
        return NULL;
    if (p->svc != NULL && follow_service(p) < 0)
        return NULL;
    double deadline = -1;
    sf_conn *conn;
    unsigned long epoch, generation;
    int made = 0;
    lock(p);
    for (;;) {
        epoch = p->epoch;
        generation = p->generation;
        if (p->n_idle > 0) {
            conn = p->idle[--p->n_idle];
            p->busy[p->n_busy++] = conn;
            Py_INCREF(conn);
            break;
        }
        if (p->created < p->max_connections) {
            if (count_new_connection(p) < 0) {
                unlock(p);
                PyErr_NoMemory();
                return NULL;
            }
            made = 1;
            break;
        }
        if (!p->blocking && p->closing == 0) {
            unlock(p);
            PyErr_SetString(p->st->MaxConnectionsError, "Too many connections");
            return NULL;
        }
        /* A blocking pool, or idle connections being closed: wait for them. */
        if (deadline < 0 && p->timeout >= 0)
            deadline = sf_monotonic() + p->timeout;
        int r = wait_for_release(p, p->releases,
                                 p->blocking && p->timeout >= 0 ? deadline : -1);
        if (r <= 0) {
            unlock(p);
            if (r == 0)
                PyErr_SetString(p->st->ConnectionError, "No connection available.");
            return NULL;
        }
    }
    unlock(p);

    if (made) {
        conn = make_connection(p);
        if (conn == NULL) {
            uncount_connection(p, generation);
            return NULL;
        }
        lock(p);
        if (p->generation == generation) {   /* else forgotten by a reset meanwhile */
            p->busy[p->n_busy++] = conn;
            Py_INCREF(conn);
        }
        unlock(p);
    }
    /* From here on this thread alone uses the connection. */
    if (sf_conn_is_connected(conn) && conn->pool_epoch != epoch)
        sf_conn_disconnect(conn);   /* connected under an older epoch (a demoted master) */
    sf_conn_drop_if_out_of_step(conn);  /* a reply owed, or bytes nobody asked for */
    conn->pool_epoch = epoch;
    if (conn->service != p->service)
        sf_conn_set_service(conn, p->service);
    return conn;
}

void
sf_pool_release(sf_pool *p, sf_conn *conn)
{
    unsigned long mine = __atomic_load_n(&p->fork_generation, __ATOMIC_ACQUIRE);
    if (mine != sf_fork_generation) {
        check_fork(p);
        return;        /* a connection of the parent's: not ours any more */
    }
    lock(p);
    if (sf_conn_is_connected(conn) && (conn->pool_epoch != p->epoch || conn->push_mode)) {
        /* Made before the pool's connections were retired, or subscribed (the server
         * would go on pushing to an idle connection): close it first, out of the lock
         * (it stays in `busy`, held by this thread, meanwhile). */
        int ours = 0;
        for (Py_ssize_t i = 0; i < p->n_busy && !ours; i++)
            ours = p->busy[i] == conn;
        unsigned long generation = p->generation;
        unlock(p);
        if (!ours)
            return;    /* not handed out by this pool (or forgotten by reset()) */
        sf_conn_disconnect(conn);
        lock(p);
        if (p->generation != generation) {
            unlock(p);
            return;
        }
    }
    if (take_from_busy(p, conn)) {
        p->idle[p->n_idle++] = conn;
        wake_waiters(p, 0);
    }
    unlock(p);
}

/* ---------------------------------------------------------------- Python API */

static PyObject *
pool_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    sf_pool *self = (sf_pool *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->st = sf_state_from_type(type);
    self->connection_kwargs = PyDict_New();
    if (self->st == NULL || self->connection_kwargs == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->connection_class = Py_NewRef((PyObject *)self->st->ConnectionType);
    self->max_connections = 100;
    self->timeout = SF_NO_TIMEOUT;
    self->fork_generation = sf_fork_generation;
    init_sync(self);
    return (PyObject *)self;
}

static int
pool_init(sf_pool *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"connection_class", "connection_kwargs", "max_connections",
                             "blocking", "timeout", NULL};
    PyObject *cls, *kwargs, *timeout = Py_None;
    Py_ssize_t max_connections = 100;
    int blocking = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO!|npO:Pool", kwlist, &cls, &PyDict_Type,
                                     &kwargs, &max_connections, &blocking, &timeout))
        return -1;
    if (!PyCallable_Check(cls)) {
        PyErr_SetString(PyExc_TypeError, "connection_class must be callable");
        return -1;
    }
    if (max_connections < 0) {
        PyErr_SetString(PyExc_ValueError, "\"max_connections\" must be a positive integer");
        return -1;
    }
    double t = SF_NO_TIMEOUT;
    if (timeout != Py_None) {
        t = PyFloat_AsDouble(timeout);
        if (t == -1.0 && PyErr_Occurred())
            return -1;
        if (t < 0) {
            PyErr_SetString(PyExc_ValueError, "timeout must be >= 0 or None");
            return -1;
        }
    }
    Py_SETREF(self->connection_class, Py_NewRef(cls));
    Py_SETREF(self->connection_kwargs, Py_NewRef(kwargs));
    lock(self);
    self->max_connections = max_connections;
    self->blocking = blocking;
    self->timeout = t;
    unlock(self);
    return 0;
}

static int
pool_traverse(sf_pool *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->connection_class);
    Py_VISIT(self->connection_kwargs);
    Py_VISIT(self->service);
    /* The lock's holders never need the GIL nor stop for the garbage collector. */
    int r = 0;
    lock(self);
    for (Py_ssize_t i = 0; i < self->n_idle && r == 0; i++)
        r = visit((PyObject *)self->idle[i], arg);
    for (Py_ssize_t i = 0; i < self->n_busy && r == 0; i++)
        r = visit((PyObject *)self->busy[i], arg);
    unlock(self);
    return r;
}

static int
pool_clear(sf_pool *self)
{
    Py_CLEAR(self->connection_class);
    Py_CLEAR(self->connection_kwargs);
    Py_CLEAR(self->service);
    self->svc = NULL;
    forget_all(self);
    return 0;
}

static void
pool_dealloc(sf_pool *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weakreflist != NULL)
        PyObject_ClearWeakRefs((PyObject *)self);
    pool_clear(self);
    pthread_cond_destroy(&self->released);
    pthread_mutex_destroy(&self->lock);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *
pool_get_connection(sf_pool *self, PyObject *args, PyObject *kwds)
{
    /* redis-py's (command_name, *keys, **options) are accepted and ignored */
    return (PyObject *)sf_pool_get(self);
}

static PyObject *
pool_release_py(sf_pool *self, PyObject *conn)
{
    if (!sf_conn_check(self->st, conn)) {
        PyErr_SetString(PyExc_TypeError, "release() takes a Connection");
        return NULL;
    }
    sf_pool_release(self, (sf_conn *)conn);
    Py_RETURN_NONE;
}

static PyObject *
pool_make_connection(sf_pool *self, PyObject *unused)
{
    check_fork(self);
    lock(self);
    int full = self->created >= self->max_connections;
    int counted = !full && count_new_connection(self) == 0;
    unsigned long generation = self->generation;
    unlock(self);
    if (full) {
        PyErr_SetString(self->st->MaxConnectionsError, "Too many connections");
        return NULL;
    }
    if (!counted)
        return PyErr_NoMemory();
    sf_conn *conn = make_connection(self);
    if (conn == NULL)
        uncount_connection(self, generation);
    return (PyObject *)conn;
}

static PyObject *
pool_disconnect(sf_pool *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"inuse_connections", NULL};
    int inuse = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|p:disconnect", kwlist, &inuse))
        return NULL;
    check_fork(self);
    if (close_idle(self) < 0)
        return NULL;
    if (inuse) {
        /* Another thread may be blocked on these sockets: shut them down so that it
         * wakes with an error and closes the connection itself. */
        lock(self);
        for (Py_ssize_t i = 0; i < self->n_busy; i++) {
            int fd = __atomic_load_n(&self->busy[i]->transport.fd, __ATOMIC_RELAXED);
            if (fd >= 0)
                shutdown(fd, SHUT_RDWR);
        }
        self->epoch++;
        unlock(self);
    }
    Py_RETURN_NONE;
}

static PyObject *
pool_retire(sf_pool *self, PyObject *unused)
{
    /* Idle connections close now; in-use ones when they are released. */
    check_fork(self);
    lock(self);
    self->epoch++;
    unlock(self);
    if (close_idle(self) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
pool_attach_service(sf_pool *self, PyObject *service)
{
    if (service == Py_None) {
        Py_CLEAR(self->service);
        self->svc = NULL;
        Py_RETURN_NONE;
    }
    if (!PyObject_TypeCheck(service, self->st->ServiceType)) {
        PyErr_SetString(PyExc_TypeError, "_attach_service() takes a Service or None");
        return NULL;
    }
    Py_XSETREF(self->service, Py_NewRef(service));
    self->svc = ((sf_service_obj *)service)->svc;
    lock(self);
    self->svc_epoch = sf_service_epoch(self->svc);
    unlock(self);
    Py_RETURN_NONE;
}

static PyObject *
pool_reset(sf_pool *self, PyObject *unused)
{
    check_fork(self);
    forget_all(self);
    Py_RETURN_NONE;
}

static PyObject *
pool_owns_connection(sf_pool *self, PyObject *conn)
{
    if (!sf_conn_check(self->st, conn))
        Py_RETURN_FALSE;
    return PyBool_FromLong(((sf_conn *)conn)->fork_generation == sf_fork_generation
                           || !sf_conn_is_connected((sf_conn *)conn));
}

/* New references to the idle (or in-use) connections, copied under the lock into
 * an array allocated before it: *out (PyMem_Free it) and the count, or -1. */
static Py_ssize_t
snapshot(sf_pool *self, int busy, sf_conn ***out)
{
    for (;;) {
        lock(self);
        Py_ssize_t cap = self->capacity;
        unlock(self);
        sf_conn **copy = PyMem_Malloc((size_t)(cap > 0 ? cap : 1) * sizeof(sf_conn *));
        if (copy == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        lock(self);
        if (self->capacity != cap) {       /* grew meanwhile: try again */
            unlock(self);
            PyMem_Free(copy);
            continue;
        }
        Py_ssize_t n = busy ? self->n_busy : self->n_idle;
        sf_conn **from = busy ? self->busy : self->idle;
        for (Py_ssize_t i = 0; i < n; i++) {
            copy[i] = from[i];
            Py_INCREF(copy[i]);
        }
        unlock(self);
        *out = copy;
        return n;
    }
}

static PyObject *
get_connections(sf_pool *self, void *closure)
{
    int busy = closure != NULL;
    sf_conn **conns;
    Py_ssize_t n = snapshot(self, busy, &conns);
    if (n < 0)
        return NULL;
    PyObject *result = busy ? PySet_New(NULL) : PyList_New(n);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (result != NULL && !busy)
            PyList_SET_ITEM(result, i, (PyObject *)conns[i]);   /* steals */
        else {
            if (result != NULL && PySet_Add(result, (PyObject *)conns[i]) < 0)
                Py_CLEAR(result);
            Py_DECREF(conns[i]);
        }
    }
    PyMem_Free(conns);
    return result;
}

static PyObject *
get_created(sf_pool *self, void *closure)
{
    lock(self);
    Py_ssize_t n = self->created;
    unlock(self);
    return PyLong_FromSsize_t(n);
}

static PyObject *
get_epoch(sf_pool *self, void *closure)
{
    lock(self);
    unsigned long epoch = self->epoch;
    unlock(self);
    return PyLong_FromUnsignedLong(epoch);
}

static PyObject *
get_timeout(sf_pool *self, void *closure)
{
    if (self->timeout < 0)
        Py_RETURN_NONE;
    return PyFloat_FromDouble(self->timeout);
}

static PyGetSetDef pool_getset[] = {
    {"_available_connections", (getter)get_connections, NULL,
     "Idle connections, most recently used last (a copy).", NULL},
    {"_in_use_connections", (getter)get_connections, NULL, "Connections handed out (a copy).",
     "busy"},
    {"_created_connections", (getter)get_created, NULL, "Connections made and not forgotten.",
     NULL},
    {"_epoch", (getter)get_epoch, NULL,
     "Bumped whenever the pool's connections must be replaced.", NULL},
    {"timeout", (getter)get_timeout, NULL, "How long a blocking pool waits.", NULL},
    {NULL},
};

static PyMemberDef pool_members[] = {
    {"connection_class", T_OBJECT, offsetof(sf_pool, connection_class), READONLY,
     "Class of the connections made."},
    {"connection_kwargs", T_OBJECT, offsetof(sf_pool, connection_kwargs), READONLY,
     "Keyword arguments for new connections."},
    {"max_connections", T_PYSSIZET, offsetof(sf_pool, max_connections), READONLY,
     "Most connections this pool makes."},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(sf_pool, weakreflist), READONLY},
    {NULL},
};

static PyMethodDef pool_methods[] = {
    {"get_connection", (PyCFunction)(void (*)(void))pool_get_connection,
     METH_VARARGS | METH_KEYWORDS, "Take a connection (most recently used first)."},
    {"release", (PyCFunction)pool_release_py, METH_O, "Give a connection back."},
    {"make_connection", (PyCFunction)pool_make_connection, METH_NOARGS,
     "Create a new connection counted against max_connections."},
    {"disconnect", (PyCFunction)(void (*)(void))pool_disconnect, METH_VARARGS | METH_KEYWORDS,
     "disconnect(inuse_connections=True): close the pool's connections."},
    {"_retire_connections", (PyCFunction)pool_retire, METH_NOARGS,
     "Close idle connections now and in-use ones when released."},
    {"_attach_service", (PyCFunction)pool_attach_service, METH_O,
     "Follow a Service's failovers (Sentinel master pools)."},
    {"reset", (PyCFunction)pool_reset, METH_NOARGS,
     "Forget every connection (idle ones are closed)."},
    {"owns_connection", (PyCFunction)pool_owns_connection, METH_O,
     "True if the connection belongs to this process."},
    {NULL},
};

static PyType_Slot pool_slots[] = {
    {Py_tp_doc, "Pool(connection_class, connection_kwargs, max_connections=100, blocking=False, "
                "timeout=None): a thread-safe, fork-safe pool of connections."},
    {Py_tp_new, pool_new},
    {Py_tp_init, pool_init},
    {Py_tp_dealloc, pool_dealloc},
    {Py_tp_traverse, pool_traverse},
    {Py_tp_clear, pool_clear},
    {Py_tp_methods, pool_methods},
    {Py_tp_members, pool_members},
    {Py_tp_getset, pool_getset},
    {0, NULL},
};

PyType_Spec sf_pool_spec = {
    .name = "sentinelfast._core.Pool",
    .basicsize = sizeof(sf_pool),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = pool_slots,
};
