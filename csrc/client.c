/* Client: the base type of sentinelfast.Redis. execute_command runs here:
 * take a connection from the pool, run the command under the retry policy, give
 * the connection back, apply the response callback. */
#include "client.h"
#include "pool.h"
#include "retry.h"
#include "resp_reader.h"

#include <structmember.h>

/* Options redis-py handles itself and does not give to the callback. */
typedef struct {
    int never_decode;
    PyObject *empty_response;   /* borrowed, or NULL */
    PyObject *callback_kwargs;  /* new dict or NULL */
} command_options;

static int
parse_options(sf_state *st, PyObject *const *kwvalues, PyObject *kwnames, command_options *o)
{
    o->never_decode = 0;
    o->empty_response = NULL;
    o->callback_kwargs = NULL;
    if (kwnames == NULL)
        return 0;
    Py_ssize_t n = PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, i);
        PyObject *value = kwvalues[i];
        if (PyUnicode_Compare(key, st->str_NEVER_DECODE) == 0) {
            /* redis-py's rule: the option's presence, not its value (its commands
             * pass NEVER_DECODE=[], which is false) */
            o->never_decode = 1;
            continue;
        }
        if (PyUnicode_Compare(key, st->str_EMPTY_RESPONSE) == 0) {
            o->empty_response = value;
            continue;
        }
        if (PyUnicode_Compare(key, st->str_keys) == 0)
            continue;
        if (o->callback_kwargs == NULL && (o->callback_kwargs = PyDict_New()) == NULL)
            return -1;
        if (PyDict_SetItem(o->callback_kwargs, key, value) < 0)
            return -1;
    }
    return 0;
}

/* Take a connection: from our own Pool directly, else through the object's methods. */
sf_conn *
sf_client_acquire(sf_client *self)
{
    PyObject *pool = self->connection_pool;
    if (sf_pool_check(self->st, pool))
        return sf_pool_get((sf_pool *)pool);
    PyObject *conn = PyObject_CallMethod(pool, "get_connection", NULL);
    if (conn != NULL && !sf_conn_check(self->st, conn)) {
        PyErr_SetString(PyExc_TypeError, "the pool returned something that is not a Connection");
        Py_CLEAR(conn);
    }
    return (sf_conn *)conn;
}

void
sf_client_give_back(sf_client *self, sf_conn *conn)
{
    PyObject *pool = self->connection_pool;
    if (sf_pool_check(self->st, pool)) {
        sf_pool_release((sf_pool *)pool, conn);
    }
    else {
        PyObject *exc = sf_err_fetch();
        PyObject *r = PyObject_CallMethod(pool, "release", "O", (PyObject *)conn);
        if (r == NULL)
            PyErr_WriteUnraisable(pool);
        Py_XDECREF(r);
        if (exc != NULL)
            sf_err_restore(exc);
    }
    Py_DECREF(conn);
}

static int
lock_single(sf_client *self)
{
    if (PyThread_acquire_lock(self->single_lock, NOWAIT_LOCK))
        return 0;
    PyLockStatus r;
    do {
        Py_BEGIN_ALLOW_THREADS
        r = PyThread_acquire_lock_timed(self->single_lock, 50000, 0);
        Py_END_ALLOW_THREADS
        if (r != PY_LOCK_ACQUIRED && PyErr_CheckSignals() < 0)
            return -1;
    } while (r != PY_LOCK_ACQUIRED);
    return 0;
}

/* Run one command (args) or a batch (commands) on the dedicated connection or one
 * from the pool. `read_flags`: SF_READ_* for one command, never_decode for a batch. */
static PyObject *
with_connection(sf_client *self, PyObject *const *args, Py_ssize_t nargs, PyObject *commands,
                int read_flags)
{
    PyObject *reply;
    if (self->connection != Py_None) {
        if (lock_single(self) < 0)
            return NULL;
        sf_conn *conn = (sf_conn *)self->connection;
        reply = commands ? sf_retry_execute_many(conn, commands, read_flags)
                         : sf_retry_execute(conn, args, nargs, read_flags);
        PyThread_release_lock(self->single_lock);
        return reply;
    }
    sf_conn *conn = sf_client_acquire(self);
    if (conn == NULL)
        return NULL;
    reply = commands ? sf_retry_execute_many(conn, commands, read_flags)
                     : sf_retry_execute(conn, args, nargs, read_flags);
    sf_client_give_back(self, conn);
    return reply;
}

/* Did the reader build `reply` in `shape` (sf_callback_reply_shape), so that it is the
 * callback's result already? A RESP2 reply as read holds no tuple; a reply that is no
 * array is read as it is (an empty one reads the same either way), and the callback
 * runs on it. */
static int
is_shaped(PyObject *reply, int shape)
{
    return shape == SF_SHAPE_SCORED_PAIRS && PyList_CheckExact(reply)
           && PyList_GET_SIZE(reply) > 0 && PyTuple_CheckExact(PyList_GET_ITEM(reply, 0));
}

static PyObject *
client_execute_command(sf_client *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "execute_command() needs a command name");
        return NULL;
    }
    command_options o;
    if (parse_options(self->st, args + nargs, kwnames, &o) < 0) {
        Py_XDECREF(o.callback_kwargs);
        return NULL;
    }
    PyObject *callback = sf_callback_lookup(self->response_callbacks, args[0]);
    int shape = callback != NULL ? sf_callback_reply_shape(callback, o.callback_kwargs)
                                 : PyErr_Occurred() ? -1 : SF_SHAPE_LIST;
    if (shape < 0) {
        Py_XDECREF(callback);
        Py_XDECREF(o.callback_kwargs);
        return NULL;
    }
    int read_flags = (o.never_decode ? SF_READ_NEVER_DECODE : 0) | SF_READ_SHAPE(shape);
    PyObject *reply = with_connection(self, args, nargs, NULL, read_flags);
    PyObject *result = reply;
    if (reply == NULL) {
        if (o.empty_response != NULL && PyErr_ExceptionMatches(self->st->ResponseError)) {
            PyErr_Clear();
            result = Py_NewRef(o.empty_response);
        }
    }
    else if (callback != NULL && !is_shaped(reply, shape)) {
        result = PyObject_VectorcallDict(callback, &reply, 1, o.callback_kwargs);
        Py_DECREF(reply);
    }
    Py_XDECREF(callback);
    Py_XDECREF(o.callback_kwargs);
    return result;
}

static PyObject *
client_execute_many(sf_client *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    if (nargs != 1 || kwnames != NULL) {
        PyErr_SetString(PyExc_TypeError, "_execute_many(commands) takes one sequence");
        return NULL;
    }
    return with_connection(self, NULL, 0, args[0], 0);
}

PyObject *
sf_client_execute_once(sf_state *st, PyObject *client, PyObject *const *args, Py_ssize_t nargs)
{
    if (!PyObject_TypeCheck(client, st->ClientType)) {
        PyErr_Format(PyExc_TypeError, "expected a sentinelfast Redis client, not %.100s",
                     Py_TYPE(client)->tp_name);
        return NULL;
    }
    sf_client *self = (sf_client *)client;
    if (self->connection != Py_None) {
        if (lock_single(self) < 0)
            return NULL;
        PyObject *reply = sf_conn_execute((sf_conn *)self->connection, args, nargs, 1);
        PyThread_release_lock(self->single_lock);
        return reply;
    }
    sf_conn *conn = sf_client_acquire(self);
    if (conn == NULL)
        return NULL;
    PyObject *reply = sf_conn_execute(conn, args, nargs, 1);
    sf_client_give_back(self, conn);
    return reply;
}

PyObject *
sf_client_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    sf_client *self = (sf_client *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->st = sf_state_from_type(type);
    self->response_callbacks = PyDict_New();
    self->single_lock = PyThread_allocate_lock();
    if (self->st == NULL || self->response_callbacks == NULL || self->single_lock == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->connection_pool = Py_NewRef(Py_None);
    self->connection = Py_NewRef(Py_None);
    return (PyObject *)self;
}

int
sf_client_traverse(sf_client *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->connection_pool);
    Py_VISIT(self->response_callbacks);
    Py_VISIT(self->connection);
    return 0;
}

int
sf_client_clear(sf_client *self)
{
    Py_CLEAR(self->connection_pool);
    Py_CLEAR(self->response_callbacks);
    Py_CLEAR(self->connection);
    return 0;
}

void
sf_client_dealloc(sf_client *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weakreflist != NULL)
        PyObject_ClearWeakRefs((PyObject *)self);
    sf_client_clear(self);
    if (self->single_lock != NULL)
        PyThread_free_lock(self->single_lock);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *get_pool(sf_client *s, void *c) { return Py_NewRef(s->connection_pool); }

static int
set_pool(sf_client *s, PyObject *v, void *c)
{
    Py_XSETREF(s->connection_pool, Py_NewRef(v ? v : Py_None));
    return 0;
}

static PyObject *get_callbacks(sf_client *s, void *c) { return Py_NewRef(s->response_callbacks); }

static int
set_callbacks(sf_client *s, PyObject *v, void *c)
{
    if (v == NULL || !PyMapping_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "response_callbacks must be a mapping");
        return -1;
    }
    Py_XSETREF(s->response_callbacks, Py_NewRef(v));
    return 0;
}

static PyObject *get_connection(sf_client *s, void *c) { return Py_NewRef(s->connection); }

static int
set_connection(sf_client *s, PyObject *v, void *c)
{
    if (v != NULL && v != Py_None && !sf_conn_check(s->st, v)) {
        PyErr_SetString(PyExc_TypeError, "connection must be a Connection or None");
        return -1;
    }
    Py_XSETREF(s->connection, Py_NewRef(v ? v : Py_None));
    return 0;
}

static PyGetSetDef client_getset[] = {
    {"connection_pool", (getter)get_pool, (setter)set_pool, "The client's connection pool.", NULL},
    {"response_callbacks", (getter)get_callbacks, (setter)set_callbacks,
     "Command name -> callable(reply, **options) applied to replies.", NULL},
    {"connection", (getter)get_connection, (setter)set_connection,
     "The dedicated connection of a single_connection_client, else None.", NULL},
    {NULL},
};

static PyMemberDef client_members[] = {
    {"__weaklistoffset__", T_PYSSIZET, offsetof(sf_client, weakreflist), READONLY},
    {NULL},
};

static PyMethodDef client_methods[] = {
    {"execute_command", (PyCFunction)(void (*)(void))client_execute_command,
     METH_FASTCALL | METH_KEYWORDS,
     "execute_command(*args, **options): run one command and return its parsed reply."},
    {"_execute_many", (PyCFunction)(void (*)(void))client_execute_many,
     METH_FASTCALL | METH_KEYWORDS,
     "_execute_many(commands): send many commands in one write on one connection and "
     "return the raw replies (error replies as exception instances)."},
    {NULL},
};

static PyType_Slot client_slots[] = {
    {Py_tp_doc, "Base of sentinelfast.Redis: the native command path."},
    {Py_tp_new, sf_client_new},
    {Py_tp_dealloc, sf_client_dealloc},
    {Py_tp_traverse, sf_client_traverse},
    {Py_tp_clear, sf_client_clear},
    {Py_tp_methods, client_methods},
    {Py_tp_members, client_members},
    {Py_tp_getset, client_getset},
    {0, NULL},
};

PyType_Spec sf_client_spec = {
    .name = "sentinelfast._core.Client",
    .basicsize = sizeof(sf_client),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = client_slots,
};
