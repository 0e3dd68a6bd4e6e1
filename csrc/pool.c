/* ConnectionPool: thread-safe, LIFO, bounded, fork-safe.
 *
 * Thread safety: the lists are touched only while holding the GIL and without any
 * call that could release it in between, so get and release are atomic for Python
 * threads. Blocking pools wait for a release on a condition variable, with the GIL
 * released and in short slices so that Ctrl-C is seen.
 * Fork safety: a pool used in a child process after fork() forgets every connection
 * it had (their sockets belong to the parent) and starts empty. */
#include "pool.h"

#include <errno.h>
#include <structmember.h>
#include <sys/socket.h>
#include <time.h>

#define WAIT_SLICE 0.05   /* seconds between checks for signals while waiting */

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
    pthread_cond_init(&p->cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&p->mutex, NULL);
}

/* Close the sockets of the idle connections. */
static void
disconnect_available(sf_pool *p)
{
    Py_ssize_t n = PyList_GET_SIZE(p->available);
    for (Py_ssize_t i = 0; i < n; i++)
        sf_conn_disconnect((sf_conn *)PyList_GET_ITEM(p->available, i));
}

/* Forget every connection: the in-use ones are not taken back when released. */
static int
forget_all(sf_pool *p)
{
    PyObject *available = PyList_New(0);
    PyObject *in_use = PySet_New(NULL);
    if (available == NULL || in_use == NULL) {
        Py_XDECREF(available);
        Py_XDECREF(in_use);
        return -1;
    }
    disconnect_available(p);
    Py_SETREF(p->available, available);
    Py_SETREF(p->in_use, in_use);
    p->created = 0;
    return 0;
}

static int
check_fork(sf_pool *p)
{
    if (p->fork_generation == sf_fork_generation)
        return 0;
    /* In a child: the mutex may have been copied locked by a parent's thread. */
    init_sync(p);
    p->waiters = 0;
    p->fork_generation = sf_fork_generation;
    return forget_all(p);
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

/* Wait until some connection is released or the deadline passes.
 * 1 = something was released, 0 = timed out, -1 = exception (a signal). */
static int
wait_for_release(sf_pool *p, double deadline)
{
    unsigned long seen = p->releases;
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
        Py_BEGIN_ALLOW_THREADS
        pthread_mutex_lock(&p->mutex);
        while (p->releases == seen) {
            if (pthread_cond_timedwait(&p->cond, &p->mutex, &ts) == ETIMEDOUT)
                break;
        }
        released = p->releases != seen;
        pthread_mutex_unlock(&p->mutex);
        Py_END_ALLOW_THREADS
        if (released)
            break;
        if (PyErr_CheckSignals() < 0) {
            p->waiters--;
            return -1;
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
    if (sf_service_wait_ready(p->svc) < 0)
        return -1;
    unsigned long epoch = sf_service_epoch(p->svc);
    if (epoch != p->svc_epoch) {
        p->svc_epoch = epoch;
        p->epoch++;
        disconnect_available(p);
    }
    return 0;
}

sf_conn *
sf_pool_get(sf_pool *p)
{
    if (check_fork(p) < 0)
        return NULL;
    if (p->svc != NULL && follow_service(p) < 0)
        return NULL;
    double deadline = -1;
    for (;;) {
        Py_ssize_t n = PyList_GET_SIZE(p->available);
        sf_conn *conn = NULL;
        if (n > 0) {
            conn = (sf_conn *)Py_NewRef(PyList_GET_ITEM(p->available, n - 1));
            if (PyList_SetSlice(p->available, n - 1, n, NULL) < 0) {
                Py_DECREF(conn);
                return NULL;
            }
        }
        else if (p->created < p->max_connections) {
            p->created++;
            conn = make_connection(p);
            if (conn == NULL) {
                p->created--;
                return NULL;
            }
        }
        if (conn != NULL) {
            if (PySet_Add(p->in_use, (PyObject *)conn) < 0) {
                Py_DECREF(conn);
                return NULL;
            }
            /* Connected under an older epoch (e.g. to a demoted master): reconnect. */
            if (sf_conn_is_connected(conn) && conn->pool_epoch != p->epoch)
                sf_conn_disconnect(conn);
            conn->pool_epoch = p->epoch;
            if (conn->service != p->service)
                sf_conn_set_service(conn, p->service);
            return conn;
        }
        if (!p->blocking) {
            PyErr_SetString(p->st->MaxConnectionsError, "Too many connections");
            return NULL;
        }
        if (deadline < 0 && p->timeout >= 0)
            deadline = sf_monotonic() + p->timeout;
        int r = wait_for_release(p, p->timeout >= 0 ? deadline : -1);
        if (r < 0)
            return NULL;
        if (r == 0) {
            PyErr_SetString(p->st->ConnectionError, "No connection available.");
            return NULL;
        }
    }
}

void
sf_pool_release(sf_pool *p, sf_conn *conn)
{
    if (p->fork_generation != sf_fork_generation) {
        if (check_fork(p) < 0)
            PyErr_WriteUnraisable((PyObject *)p);
        return;        /* a connection of the parent's: not ours any more */
    }
    int r = PySet_Discard(p->in_use, (PyObject *)conn);
    if (r <= 0) {
        if (r < 0)
            PyErr_WriteUnraisable((PyObject *)p);
        return;        /* not handed out by this pool (or forgotten by reset()) */
    }
    if (sf_conn_is_connected(conn) && conn->pool_epoch != p->epoch)
        sf_conn_disconnect(conn);
    if (PyList_Append(p->available, (PyObject *)conn) < 0) {
        PyErr_WriteUnraisable((PyObject *)p);
        p->created--;
    }
    if (p->waiters > 0) {
        pthread_mutex_lock(&p->mutex);
        p->releases++;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->mutex);
    }
}

/* ---------------------------------------------------------------- Python API */

static PyObject *
pool_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    sf_pool *self = (sf_pool *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->st = sf_state_from_type(type);
    self->available = PyList_New(0);
    self->in_use = PySet_New(NULL);
    self->connection_kwargs = PyDict_New();
    if (self->st == NULL || self->available == NULL || self->in_use == NULL
        || self->connection_kwargs == NULL) {
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
    self->max_connections = max_connections;
    self->blocking = blocking;
    self->timeout = t;
    return 0;
}

static int
pool_traverse(sf_pool *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->connection_class);
    Py_VISIT(self->connection_kwargs);
    Py_VISIT(self->available);
    Py_VISIT(self->in_use);
    Py_VISIT(self->service);
    return 0;
}

static int
pool_clear(sf_pool *self)
{
    Py_CLEAR(self->connection_class);
    Py_CLEAR(self->connection_kwargs);
    Py_CLEAR(self->available);
    Py_CLEAR(self->in_use);
    Py_CLEAR(self->service);
    self->svc = NULL;
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
    pthread_cond_destroy(&self->cond);
    pthread_mutex_destroy(&self->mutex);
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
    if (self->created >= self->max_connections) {
        PyErr_SetString(self->st->MaxConnectionsError, "Too many connections");
        return NULL;
    }
    sf_conn *conn = make_connection(self);
    if (conn != NULL)
        self->created++;
    return (PyObject *)conn;
}

static PyObject *
pool_disconnect(sf_pool *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"inuse_connections", NULL};
    int inuse = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|p:disconnect", kwlist, &inuse))
        return NULL;
    if (check_fork(self) < 0)
        return NULL;
    disconnect_available(self);
    if (inuse) {
        /* Another thread may be blocked on these sockets: shut them down so that it
         * wakes with an error and closes the connection itself. */
        PyObject *it = PyObject_GetIter(self->in_use);
        if (it == NULL)
            return NULL;
        PyObject *c;
        while ((c = PyIter_Next(it)) != NULL) {
            sf_conn *conn = (sf_conn *)c;
            sf_transport_shutdown(&conn->transport);
            Py_DECREF(c);
        }
        Py_DECREF(it);
        if (PyErr_Occurred())
            return NULL;
        self->epoch++;
    }
    Py_RETURN_NONE;
}

static PyObject *
pool_retire(sf_pool *self, PyObject *unused)
{
    /* Idle connections close now; in-use ones when they are released. */
    if (check_fork(self) < 0)
        return NULL;
    self->epoch++;
    disconnect_available(self);
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
    self->svc_epoch = sf_service_epoch(self->svc);
    Py_RETURN_NONE;
}

static PyObject *
pool_reset(sf_pool *self, PyObject *unused)
{
    if (forget_all(self) < 0)
        return NULL;
    self->fork_generation = sf_fork_generation;
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

static PyObject *
get_available(sf_pool *self, void *closure)
{
    return PyList_GetSlice(self->available, 0, PyList_GET_SIZE(self->available));
}

static PyObject *
get_in_use(sf_pool *self, void *closure)
{
    return PySet_New(self->in_use);
}

static PyObject *
get_timeout(sf_pool *self, void *closure)
{
    if (self->timeout < 0)
        Py_RETURN_NONE;
    return PyFloat_FromDouble(self->timeout);
}

static PyGetSetDef pool_getset[] = {
    {"_available_connections", (getter)get_available, NULL, "Idle connections (a copy).", NULL},
    {"_in_use_connections", (getter)get_in_use, NULL, "Connections handed out (a copy).", NULL},
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
    {"_created_connections", T_PYSSIZET, offsetof(sf_pool, created), READONLY,
     "Connections made and not forgotten."},
    {"_epoch", T_ULONG, offsetof(sf_pool, epoch), READONLY,
     "Bumped whenever the pool's connections must be replaced."},
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
