/* Connection: one socket to one Redis server, with redis-py's handshake and encoding.
 *
 * A connection is used by one thread at a time (the pool hands it out). Every failure
 * other than an error reply closes the socket, so a connection that broke in the
 * middle of a command is never used again as it was. */
#include "connection.h"
#include "protocol.h"

#include <structmember.h>

#include <limits.h>
#include <string.h>
#include <unistd.h>

#define RECV_BUFFER_SIZE (64 * 1024)
#define KEEP_WRITE_BUFFER (1024 * 1024)   /* larger buffers are freed after use */

int
sf_conn_check(sf_state *st, PyObject *obj)
{
    return PyObject_TypeCheck(obj, st->ConnectionType);
}

/* ---------------------------------------------------------------- lifecycle */

void
sf_conn_set_service(sf_conn *c, PyObject *service)
{
    if (c->service == service)
        return;
    if (sf_conn_is_connected(c))
        sf_conn_disconnect(c);
    Py_XSETREF(c->service, Py_XNewRef(service));
    c->svc = service ? ((sf_service_obj *)service)->svc : NULL;
}

void
sf_conn_disconnect(sf_conn *c)
{
    if (c->fd_tracked) {
        if (c->fork_generation == sf_fork_generation)
            sf_service_remove_fd(c->svc, c->transport.fd);
        c->fd_tracked = 0;
    }
    /* No close_notify (redis-py sends none either); after fork the child frees its
     * copy of a TLS session without sending anything on it. */
    sf_transport_close(&c->transport, 0);
    if (c->reader != NULL) {
        sf_reader_free(c->reader);
        c->reader = NULL;
    }
    Py_CLEAR(c->reader_ctx.pending_exc);
    c->unread = 0;
    c->push_mode = 0;
    c->reconnect_marked = 0;
    if (c->wbuf.cap > KEEP_WRITE_BUFFER)
        sf_buf_free(&c->wbuf);
    c->wbuf.len = 0;
}

static PyObject *read_reply(sf_conn *c);

static void
touched(sf_conn *c)
{
    if (c->health_check_interval > 0)
        c->next_health_check = sf_monotonic() + c->health_check_interval;
}

void
sf_conn_drop_if_out_of_step(sf_conn *c)
{
    if (sf_conn_is_connected(c)
        && (c->unread != 0 || (c->reader != NULL && sf_reader_buffered(c->reader) != 0)))
        sf_conn_disconnect(c);
}

/* After the replies of one exchange were read: anything left in the reader came
 * unasked (a server out of step with us). The replies just read cannot be trusted
 * either (the first of them may have answered something else), so the connection is
 * closed and the exchange fails. 0, or -1 with ConnectionError set. */
static int
check_in_step(sf_conn *c)
{
    if (sf_reader_buffered(c->reader) == 0)
        return 0;
    sf_conn_disconnect(c);
    PyErr_SetString(c->st->ConnectionError,
                    "Protocol out of sync: the server sent more than the replies asked for; "
                    "connection closed");
    return -1;
}

/* Send all of buf before the running command's deadline (c->deadline), the GIL
 * released. 0, or -1 with the exception set (the caller closes the connection). */
static int
transport_send(sf_conn *c, const char *buf, size_t len)
{
    sf_io_error e;
    sf_interrupt_hook hook = sf_py_interrupt_hook();
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = sf_transport_send(&c->transport, buf, len, c->deadline, &hook, &e);
    Py_END_ALLOW_THREADS
    return r < 0 ? sf_io_raise(c->st, &e) : 0;
}

/* The user and password to AUTH with, from credential_provider or the options. */
static int
get_credentials(sf_conn *c, PyObject **user, PyObject **password)
{
    *user = *password = NULL;
    if (c->credential_provider != Py_None) {
        PyObject *creds = PyObject_CallMethod(c->credential_provider, "get_credentials", NULL);
        if (creds == NULL)
            return -1;
        PyObject *seq = PySequence_Tuple(creds);
        Py_DECREF(creds);
        if (seq == NULL)
            return -1;
        Py_ssize_t n = PyTuple_GET_SIZE(seq);
        if (n == 1) {
            *password = Py_NewRef(PyTuple_GET_ITEM(seq, 0));
        }
        else if (n == 2) {
            *user = Py_NewRef(PyTuple_GET_ITEM(seq, 0));
            *password = Py_NewRef(PyTuple_GET_ITEM(seq, 1));
        }
        else {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError,
                            "get_credentials() must return (password,) or (username, password)");
            return -1;
        }
        Py_DECREF(seq);
        return 0;
    }
    if (c->password != Py_None) {
        *password = Py_NewRef(c->password);
        if (c->username != Py_None)
            *user = Py_NewRef(c->username);
    }
    return 0;
}

/* AUTH, CLIENT SETNAME, SELECT (and ROLE for a service's master connections) in one
 * round trip; the rules are protocol.c's. */
static int
handshake(sf_conn *c)
{
    sf_handshake_params p = {NULL, NULL, c->client_name, c->db, c->svc != NULL};
    sf_handshake hs;
    if (get_credentials(c, &p.username, &p.password) < 0)
        return -1;
    c->wbuf.len = 0;
    int r = sf_handshake_build(c->st, &p, &c->encoder, &c->wbuf, &hs);
    Py_XDECREF(p.username);
    Py_XDECREF(p.password);
    if (r < 0)
        return -1;
    if (hs.count == 0)
        return 0;
    c->deadline = sf_deadline_after(c->socket_timeout);
    if (transport_send(c, c->wbuf.data, c->wbuf.len) < 0)
        return -1;
    c->reader_ctx.decode = 0;
    PyObject *replies[SF_HANDSHAKE_MAX_STEPS];
    int n = 0;
    for (; n < hs.count; n++) {
        replies[n] = read_reply(c);
        if (replies[n] == NULL)
            break;
    }
    PyObject *error = NULL;
    r = n == hs.count ? sf_handshake_check(c->st, &hs, replies, &error) : -1;
    for (int i = 0; i < n; i++)
        Py_DECREF(replies[i]);
    if (r == SF_HANDSHAKE_OK)
        return 0;
    if (r == SF_HANDSHAKE_NOT_MASTER) {
        /* The service forgets this address, so the next attempt asks Sentinel again. */
        const char *host = PyUnicode_AsUTF8(c->host);
        if (host == NULL) {
            Py_DECREF(error);
            return -1;
        }
        sf_service_invalidate(c->svc, host, c->port);
    }
    if (error != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(error), error);
        Py_DECREF(error);
    }
    return -1;
}

/* Open the transport to the address in host/port (or the unix socket). */
static int
open_socket(sf_conn *c)
{
    sf_endpoint ep = {
        .port = c->port,
        .connect_timeout = c->connect_timeout,
        .io_timeout = c->socket_timeout,
        .keepalive = c->keepalive,
        .keepalive_opts = c->keepalive_opts,
    };
    if (c->unix_socket_path != Py_None) {
        ep.unix_path = PyUnicode_AsUTF8(c->unix_socket_path);
        if (ep.unix_path == NULL)
            return -1;
    }
    else {
        ep.host = PyUnicode_AsUTF8(c->host);
        if (ep.host == NULL)
            return -1;
    }
    sf_tls_params tls;
    if (c->tls != Py_None) {
        char where[300];
        if (ep.unix_path != NULL)
            snprintf(where, sizeof where, "%s", ep.unix_path);
        else
            snprintf(where, sizeof where, "%s:%d", ep.host, ep.port);
        tls.ctx = sf_tls_context_ctx(c->tls, where);
        if (tls.ctx == NULL)
            return -1;
        tls.check_hostname = sf_tls_context_check_hostname(c->tls);
        tls.server_hostname = NULL;       /* the host dialled */
        if (c->server_hostname != Py_None) {
            tls.server_hostname = PyUnicode_AsUTF8(c->server_hostname);
            if (tls.server_hostname == NULL)
                return -1;
        }
        ep.tls = &tls;
    }
    sf_io_error e;
    sf_interrupt_hook hook = sf_py_interrupt_hook();
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = sf_transport_connect(&c->transport, &ep, &hook, &e);
    Py_END_ALLOW_THREADS
    return r < 0 ? sf_io_raise(c->st, &e) : 0;
}

static int
set_address(sf_conn *c, PyObject *address)
{
    PyObject *host, *port;
    if (!PyArg_ParseTuple(address, "OO;an address is a (host, port) pair", &host, &port))
        return -1;
    if (!PyUnicode_Check(host)) {
        PyErr_SetString(PyExc_TypeError, "host must be a str");
        return -1;
    }
    long p = PyLong_AsLong(port);
    if (p == -1 && PyErr_Occurred())
        return -1;
    if (p < 0 || p > 65535) {
        PyErr_Format(PyExc_ValueError, "invalid port %ld", p);
        return -1;
    }
    Py_SETREF(c->host, Py_NewRef(host));
    c->port = (int)p;
    return 0;
}

/* Connect to the address(es) the provider gives, in order, until one works.
 * The provider raises (e.g. SlaveNotFoundError) when it runs out. */
static int
open_from_provider(sf_conn *c)
{
    PyObject *addresses = PyObject_CallNoArgs(c->address_provider);
    if (addresses == NULL)
        return -1;
    PyObject *it = PyObject_GetIter(addresses);
    Py_DECREF(addresses);
    if (it == NULL)
        return -1;
    PyObject *address;
    while ((address = PyIter_Next(it)) != NULL) {
        int r = set_address(c, address);
        Py_DECREF(address);
        if (r == 0)
            r = open_socket(c);
        if (r == 0) {
            Py_DECREF(it);
            return 0;
        }
        if (!PyErr_ExceptionMatches(c->st->ConnectionError)) {
            Py_DECREF(it);
            return -1;
        }
        PyErr_Clear();     /* try the next address */
    }
    Py_DECREF(it);
    if (!PyErr_Occurred())
        PyErr_SetString(c->st->ConnectionError, "no address to connect to");
    return -1;
}

/* redis-py's connect callbacks (register_connect_callback): after every connect, each
 * live one is called with the connection (PubSub re-subscribes this way). They may
 * send commands on it; a connect inside them runs none. 0, or -1 with the exception
 * a callback raised. */
static int
run_connect_callbacks(sf_conn *c)
{
    PyObject *refs = PySequence_Tuple(c->connect_callbacks);
    if (refs == NULL)
        return -1;
    int rc = 0;
    c->in_connect_callbacks = 1;
    for (Py_ssize_t i = 0; rc == 0 && i < PyTuple_GET_SIZE(refs); i++) {
        PyObject *callback = PyObject_CallNoArgs(PyTuple_GET_ITEM(refs, i));
        if (callback == NULL) {
            rc = -1;
            break;
        }
        if (callback != Py_None) {
            PyObject *r = PyObject_CallOneArg(callback, (PyObject *)c);
            if (r == NULL)
                rc = -1;
            Py_XDECREF(r);
        }
        Py_DECREF(callback);
    }
    c->in_connect_callbacks = 0;
    Py_DECREF(refs);
    return rc;
}

int
sf_conn_ensure(sf_conn *c)
{
    if (sf_conn_is_connected(c)) {
        if (c->fork_generation == sf_fork_generation)
            return 0;
        /* Inherited from the parent process: drop our copy without a word on it. */
        sf_conn_disconnect(c);
    }
    if (c->rbuf == NULL) {
        c->rbuf = PyMem_Malloc(RECV_BUFFER_SIZE);
        if (c->rbuf == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        c->rbuf_size = RECV_BUFFER_SIZE;
    }
    int r, from_service = 0;
    if (c->svc != NULL) {
        /* Sentinel is replacing the master: wait (bounded) rather than write to it. */
        int ready = sf_service_wait_ready(c->svc);
        if (ready == SF_SERVICE_ISOLATED)
            PyErr_SetString(c->st->ConnectionError, sf_service_isolated_message);
        if (ready < 0)
            return -1;
        c->svc_epoch = sf_service_epoch(c->svc);
        char host[256];
        int port;
        if (sf_service_master(c->svc, host, sizeof host, &port)) {
            PyObject *h = PyUnicode_FromString(host);
            if (h == NULL)
                return -1;
            Py_SETREF(c->host, h);
            c->port = port;
            from_service = 1;
        }
    }
    c->reader = sf_reader_new(&c->reader_ctx);
    if (c->reader == NULL)
        return -1;
    r = c->address_provider != Py_None && !from_service ? open_from_provider(c) : open_socket(c);
    if (r == 0 && c->svc != NULL) {
        /* Tracked from the start: a switch while the handshake waits on a master that
         * hangs shuts it down too, instead of leaving it to socket_timeout. */
        c->fork_generation = sf_fork_generation;
        sf_service_add_fd(c->svc, c->transport.fd);
        c->fd_tracked = 1;
    }
    if (r == 0)
        r = handshake(c);
    if (r < 0) {
        sf_conn_disconnect(c);
        return -1;
    }
    c->fork_generation = sf_fork_generation;
    c->pid = (long)getpid();
    if (c->health_check_interval > 0)
        c->next_health_check = sf_monotonic() + c->health_check_interval;
    c->connects++;
    if (c->connect_callbacks != NULL && PyList_GET_SIZE(c->connect_callbacks) > 0
        && !c->in_connect_callbacks && run_connect_callbacks(c) < 0) {
        sf_conn_disconnect(c);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- I/O */

/* Read one reply before the running command's deadline (c->deadline); error replies
 * come back as exception instances. On any failure (socket, protocol, decoding) the
 * connection is closed and NULL returned. */
static PyObject *
read_reply_ex(sf_conn *c, int keep_on_timeout)
{
    for (;;) {
        PyObject *reply;
        int r = sf_reader_next(c->reader, &reply);
        if (r == 1)
            return reply;
        if (r < 0)
            break;
        sf_io_error e;
        sf_interrupt_hook hook = sf_py_interrupt_hook();
        ssize_t n;
        Py_BEGIN_ALLOW_THREADS
        n = sf_transport_recv(&c->transport, c->rbuf, c->rbuf_size, c->deadline, &hook, &e);
        Py_END_ALLOW_THREADS
        if (n < 0) {
            sf_io_raise(c->st, &e);
            /* The reader keeps a partial reply: the stream is still in step. */
            if (keep_on_timeout && e.code == SF_IO_TIMEOUT)
                return NULL;
            break;
        }
        if (sf_reader_feed(c->reader, c->rbuf, (size_t)n) < 0)
            break;
    }
    sf_conn_disconnect(c);
    return NULL;
}

static PyObject *
read_reply(sf_conn *c)
{
    return read_reply_ex(c, 0);
}

/* Send the write buffer: this starts the command's deadline, which also bounds the
 * reading of its reply (or of a pipeline's replies). */
static int
send_buffer(sf_conn *c)
{
    c->deadline = sf_deadline_after(c->socket_timeout);
    if (transport_send(c, c->wbuf.data, c->wbuf.len) < 0) {
        sf_conn_disconnect(c);
        return -1;
    }
    return 0;
}

static void
raise_reply_error(PyObject *exc)
{
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
}

/* PING if the connection sat idle longer than health_check_interval; on failure
 * reconnect once and PING again. */
static int
health_check(sf_conn *c)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (sf_conn_ensure(c) < 0)
            return -1;
        PyObject *ping = c->st->str_PING;
        c->wbuf.len = 0;
        if (sf_encode_command(c->st, &c->wbuf, &c->encoder, &ping, 1) < 0)
            return -1;
        if (send_buffer(c) == 0) {
            c->reader_ctx.decode = 0;
            PyObject *reply = read_reply(c);
            if (reply != NULL) {
                int good = PyBytes_Check(reply) && PyBytes_GET_SIZE(reply) == 4
                           && memcmp(PyBytes_AS_STRING(reply), "PONG", 4) == 0;
                Py_DECREF(reply);
                if (good) {
                    touched(c);
                    return 0;
                }
                sf_conn_disconnect(c);
                PyErr_SetString(c->st->ConnectionError, "Bad response from PING health check");
            }
        }
        if (attempt == 1 || !(PyErr_ExceptionMatches(c->st->ConnectionError)
                              || PyErr_ExceptionMatches(c->st->TimeoutError)))
            return -1;
        PyErr_Clear();
    }
    return -1;
}

/* Is a PING due? Only on a connection whose stream is in step: its reply would
 * otherwise be taken for another command's (or a pushed message for it). */
static inline int
health_check_due(sf_conn *c)
{
    return c->health_check_interval > 0 && c->unread == 0
           && sf_monotonic() > c->next_health_check;
}

/* A master connection made before a failover began must not take a new command to
 * the master being replaced: close it and raise ConnectionError, as a connection
 * dropped by the failover would (the retry policy reconnects, through the hold, to
 * the master that comes out of it). Not reconnected silently: whoever polls its
 * socket (kombu) must see that it changed. A connection that still owes replies, or
 * speaks unasked (Pub/Sub), keeps its stream; the switch shuts it down. The pools
 * retire their idle ones before this. 0, or -1 with the exception set. */
static int
refuse_if_stale(sf_conn *c)
{
    if (c->svc == NULL || !sf_conn_is_connected(c) || c->unread != 0 || c->push_mode
        || sf_service_epoch(c->svc) == c->svc_epoch)
        return 0;
    sf_conn_disconnect(c);
    PyErr_SetString(c->st->ConnectionError,
                    "Connection closed: a failover of the master began (command not sent)");
    return -1;
}

static int
prepare(sf_conn *c)
{
    if (refuse_if_stale(c) < 0 || sf_conn_ensure(c) < 0)
        return -1;
    if (health_check_due(c))
        return health_check(c);
    return 0;
}

/* prepare() for an exchange that reads its own replies (execute, execute_many): a
 * connect callback may have sent commands whose replies would come first. */
static int
prepare_exchange(sf_conn *c)
{
    if (prepare(c) < 0)
        return -1;
    if (c->unread == 0)
        return 0;
    sf_conn_disconnect(c);
    PyErr_SetString(c->st->ConnectionError,
                    "a connect callback left replies unread; connection closed");
    return -1;
}

/* READONLY on a Sentinel master connection: the master we write to was demoted.
 * Forget it, close, and raise ConnectionError so that the retry policy reconnects to
 * the one Sentinel names now. Returns NULL. */
static PyObject *
demoted(sf_conn *c)
{
    const char *host = PyUnicode_AsUTF8(c->host);
    if (host != NULL)
        sf_service_invalidate(c->svc, host, c->port);
    else
        PyErr_Clear();
    sf_conn_disconnect(c);
    PyErr_SetString(c->st->ConnectionError, "The previous master is now a slave");
    return NULL;
}

PyObject *
sf_conn_execute(sf_conn *c, PyObject *const *args, Py_ssize_t nargs, int read_flags)
{
    sf_conn_drop_if_out_of_step(c);
    if (prepare_exchange(c) < 0)
        return NULL;
    c->wbuf.len = 0;
    if (sf_encode_command(c->st, &c->wbuf, &c->encoder, args, nargs) < 0)
        return NULL;
    if (send_buffer(c) < 0)
        return NULL;
    c->reader_ctx.decode = c->decode_responses && !(read_flags & SF_READ_NEVER_DECODE);
    c->reader_ctx.shape = read_flags >> 1;     /* SF_READ_SHAPE */
    PyObject *reply = read_reply(c);
    c->reader_ctx.shape = SF_SHAPE_LIST;
    if (reply == NULL)
        return NULL;
    if (check_in_step(c) < 0) {
        Py_DECREF(reply);
        return NULL;
    }
    touched(c);
    sf_reply_kind kind = sf_classify_reply(c->st, reply, c->svc != NULL);
    if (kind != SF_REPLY_VALUE) {
        if (kind == SF_REPLY_DEMOTED) {
            Py_DECREF(reply);
            return demoted(c);
        }
        raise_reply_error(reply);
        Py_DECREF(reply);
        return NULL;
    }
    return reply;
}

static int
encode_many(sf_conn *c, PyObject *commands, Py_ssize_t *count)
{
    PyObject *seq = PySequence_Fast(commands, "commands must be a sequence of tuples");
    if (seq == NULL)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    c->wbuf.len = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *cmd = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyTuple_Check(cmd)) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_TypeError, "each command must be a tuple of arguments");
            return -1;
        }
        if (sf_encode_command(c->st, &c->wbuf, &c->encoder, &PyTuple_GET_ITEM(cmd, 0),
                              PyTuple_GET_SIZE(cmd)) < 0) {
            Py_DECREF(seq);
            return -1;
        }
    }
    Py_DECREF(seq);
    *count = n;
    return 0;
}

PyObject *
sf_conn_execute_many(sf_conn *c, PyObject *commands, int never_decode)
{
    Py_ssize_t n;
    sf_conn_drop_if_out_of_step(c);
    if (prepare_exchange(c) < 0)
        return NULL;
    if (encode_many(c, commands, &n) < 0)
        return NULL;
    PyObject *replies = PyList_New(n);
    if (replies == NULL)
        return NULL;
    if (n == 0)
        return replies;
    if (send_buffer(c) < 0) {
        Py_DECREF(replies);
        return NULL;
    }
    c->reader_ctx.decode = c->decode_responses && !never_decode;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *reply = read_reply(c);
        if (reply == NULL) {
            Py_DECREF(replies);
            return NULL;
        }
        PyList_SET_ITEM(replies, i, reply);
    }
    if (check_in_step(c) < 0) {
        Py_DECREF(replies);
        return NULL;
    }
    touched(c);
    return replies;
}

/* ---------------------------------------------------------------- Python API */

static int
parse_timeout(PyObject *obj, double *out, const char *name)
{
    if (obj == NULL || obj == Py_None) {
        *out = SF_NO_TIMEOUT;
        return 0;
    }
    double v = PyFloat_AsDouble(obj);
    if (v == -1.0 && PyErr_Occurred())
        return -1;
    if (v < 0 || v != v) {
        PyErr_Format(PyExc_ValueError, "%s must be a non-negative number or None", name);
        return -1;
    }
    *out = v;
    return 0;
}

static int
str_or_none(PyObject *obj, const char *name)
{
    if (obj == Py_None || PyUnicode_Check(obj) || PyBytes_Check(obj))
        return 0;
    PyErr_Format(PyExc_TypeError, "%s must be str, bytes or None, not %.100s", name,
                 Py_TYPE(obj)->tp_name);
    return -1;
}

/* A Python int that fits a C int, or -1 with OverflowError/TypeError set. */
static int
as_c_int(PyObject *o, int *out)
{
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < INT_MIN || v > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "socket option value out of range");
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* socket_keepalive_options {TCP_KEEPIDLE: 30, ...} -> pairs ending with -1 (PyMem),
 * for the transport; None -> NULL (redis-py's defaults). 0, or -1 with an exception. */
static int
keepalive_pairs(PyObject *options, int **out)
{
    *out = NULL;
    if (options == Py_None)
        return 0;
    Py_ssize_t n = PyDict_Size(options);
    int *pairs = PyMem_Malloc(sizeof(int) * (size_t)(2 * n + 1));
    if (pairs == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t pos = 0, i = 0;
    PyObject *key, *value;
    while (PyDict_Next(options, &pos, &key, &value)) {
        if (as_c_int(key, &pairs[i]) < 0 || as_c_int(value, &pairs[i + 1]) < 0) {
            PyMem_Free(pairs);
            return -1;
        }
        if (pairs[i] < 0) {
            PyMem_Free(pairs);
            PyErr_SetString(PyExc_ValueError, "invalid socket option");
            return -1;
        }
        i += 2;
    }
    pairs[i] = -1;
    *out = pairs;
    return 0;
}

static int
conn_init(sf_conn *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {
        "host", "port", "db", "username", "password", "client_name", "socket_timeout",
        "socket_connect_timeout", "socket_keepalive", "socket_keepalive_options",
        "encoding", "encoding_errors", "decode_responses", "health_check_interval",
        "unix_socket_path", "retry", "credential_provider", "address_provider", "tls",
        "server_hostname", NULL};
    PyObject *host = NULL, *username = Py_None, *password = Py_None, *client_name = Py_None;
    PyObject *socket_timeout = Py_None, *connect_timeout = Py_None, *ka_options = Py_None;
    PyObject *encoding = NULL, *errors = NULL, *unix_path = Py_None, *retry = Py_None;
    PyObject *cred = Py_None, *provider = Py_None, *tls = Py_None, *server_hostname = Py_None;
    int port = 6379, keepalive = 0, decode = 0;
    long db = 0;
    double hci = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$UilOOOOOpOUUpdOOOOOO:Connection", kwlist,
                                     &host, &port, &db, &username, &password, &client_name,
                                     &socket_timeout, &connect_timeout, &keepalive,
                                     &ka_options, &encoding, &errors, &decode, &hci,
                                     &unix_path, &retry, &cred, &provider, &tls,
                                     &server_hostname))
        return -1;
    if (tls != Py_None && !sf_tls_context_check(self->st, tls)) {
        PyErr_Format(PyExc_TypeError, "tls must be a TLSContext or None, not %.100s",
                     Py_TYPE(tls)->tp_name);
        return -1;
    }
    if (server_hostname != Py_None && !PyUnicode_Check(server_hostname)) {
        PyErr_SetString(PyExc_TypeError, "server_hostname must be a str or None");
        return -1;
    }
    if (str_or_none(username, "username") < 0 || str_or_none(password, "password") < 0
        || str_or_none(client_name, "client_name") < 0)
        return -1;
    if (unix_path != Py_None && !PyUnicode_Check(unix_path)) {
        PyErr_SetString(PyExc_TypeError, "unix_socket_path must be a str or None");
        return -1;
    }
    if (ka_options != Py_None && !PyDict_Check(ka_options)) {
        PyErr_SetString(PyExc_TypeError, "socket_keepalive_options must be a dict or None");
        return -1;
    }
    if (port < 0 || port > 65535) {
        PyErr_Format(PyExc_ValueError, "invalid port %d", port);
        return -1;
    }
    if (db < 0) {
        PyErr_SetString(PyExc_ValueError, "db must be a non-negative int");
        return -1;
    }
    if (provider != Py_None && !PyCallable_Check(provider)) {
        PyErr_SetString(PyExc_TypeError, "address_provider must be callable");
        return -1;
    }
    if (parse_timeout(socket_timeout, &self->socket_timeout, "socket_timeout") < 0
        || parse_timeout(connect_timeout, &self->connect_timeout, "socket_connect_timeout") < 0)
        return -1;
    if (hci < 0 || hci != hci) {
        PyErr_SetString(PyExc_ValueError, "health_check_interval must be >= 0");
        return -1;
    }
    sf_state *st = self->st;
    if (host == NULL)
        host = st->str_localhost;
    if (encoding == NULL)
        encoding = st->str_utf8;
    if (errors == NULL)
        errors = st->str_strict;

    /* Check the codec and error handler now rather than on first use. */
    PyObject *probe = PyUnicode_AsEncodedString(st->str_OK, PyUnicode_AsUTF8(encoding),
                                                PyUnicode_AsUTF8(errors));
    if (probe == NULL)
        return -1;
    Py_DECREF(probe);
    int *opts;
    if (keepalive_pairs(ka_options, &opts) < 0)
        return -1;

    sf_conn_disconnect(self);
    Py_XSETREF(self->host, Py_NewRef(host));
    self->port = port;
    self->db = db;
    Py_XSETREF(self->username, Py_NewRef(username));
    Py_XSETREF(self->password, Py_NewRef(password));
    Py_XSETREF(self->client_name, Py_NewRef(client_name));
    Py_XSETREF(self->unix_socket_path, Py_NewRef(unix_path));
    Py_XSETREF(self->retry, Py_NewRef(retry));
    Py_XSETREF(self->credential_provider, Py_NewRef(cred));
    Py_XSETREF(self->address_provider, Py_NewRef(provider));
    self->keepalive = keepalive;
    Py_XSETREF(self->tls, Py_NewRef(tls));
    Py_XSETREF(self->server_hostname, Py_NewRef(server_hostname));
    Py_XSETREF(self->keepalive_options, Py_NewRef(ka_options));
    PyMem_Free(self->keepalive_opts);
    self->keepalive_opts = opts;
    self->health_check_interval = hci;
    Py_XSETREF(self->encoding, Py_NewRef(encoding));
    Py_XSETREF(self->encoding_errors, Py_NewRef(errors));
    self->decode_responses = decode;

    const char *enc = PyUnicode_AsUTF8(encoding);
    const char *err = PyUnicode_AsUTF8(errors);
    if (enc == NULL || err == NULL)
        return -1;
    int utf8 = (strcmp(enc, "utf-8") == 0 || strcmp(enc, "utf8") == 0
                || strcmp(enc, "UTF-8") == 0 || strcmp(enc, "UTF8") == 0);
    int strict_utf8 = utf8 && strcmp(err, "strict") == 0;
    self->encoder.encoding = self->encoding;
    self->encoder.errors = self->encoding_errors;
    self->encoder.utf8_strict = strict_utf8;
    self->reader_ctx.st = st;
    self->reader_ctx.encoding = self->encoding;
    self->reader_ctx.errors = self->encoding_errors;
    self->reader_ctx.utf8_strict = strict_utf8;
    return 0;
}

static PyObject *
conn_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    sf_conn *self = (sf_conn *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->st = sf_state_from_type(type);
    if (self->st == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->transport = (sf_transport)SF_TRANSPORT_INIT;
    self->port = 6379;
    self->socket_timeout = self->connect_timeout = SF_NO_TIMEOUT;
    self->host = Py_NewRef(self->st->str_localhost);
    self->username = Py_NewRef(Py_None);
    self->password = Py_NewRef(Py_None);
    self->client_name = Py_NewRef(Py_None);
    self->unix_socket_path = Py_NewRef(Py_None);
    self->retry = Py_NewRef(Py_None);
    self->credential_provider = Py_NewRef(Py_None);
    self->address_provider = Py_NewRef(Py_None);
    self->keepalive_options = Py_NewRef(Py_None);
    self->tls = Py_NewRef(Py_None);
    self->server_hostname = Py_NewRef(Py_None);
    self->encoding = Py_NewRef(self->st->str_utf8);
    self->encoding_errors = Py_NewRef(self->st->str_strict);
    self->encoder.encoding = self->encoding;
    self->encoder.errors = self->encoding_errors;
    self->encoder.utf8_strict = 1;
    self->reader_ctx.st = self->st;
    self->reader_ctx.encoding = self->encoding;
    self->reader_ctx.errors = self->encoding_errors;
    self->reader_ctx.utf8_strict = 1;
    return (PyObject *)self;
}

static int
conn_traverse(sf_conn *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->retry);
    Py_VISIT(self->credential_provider);
    Py_VISIT(self->address_provider);
    Py_VISIT(self->keepalive_options);
    Py_VISIT(self->tls);
    Py_VISIT(self->service);
    Py_VISIT(self->connect_callbacks);
    return 0;
}

static int
conn_clear(sf_conn *self)
{
    if (self->fd_tracked) {
        sf_service_remove_fd(self->svc, self->transport.fd);
        self->fd_tracked = 0;
    }
    self->svc = NULL;
    Py_CLEAR(self->service);
    Py_CLEAR(self->retry);
    Py_CLEAR(self->credential_provider);
    Py_CLEAR(self->address_provider);
    Py_CLEAR(self->keepalive_options);
    Py_CLEAR(self->tls);
    Py_CLEAR(self->connect_callbacks);
    return 0;
}

static void
conn_dealloc(sf_conn *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->weakreflist != NULL)
        PyObject_ClearWeakRefs((PyObject *)self);
    sf_conn_disconnect(self);
    sf_buf_free(&self->wbuf);
    PyMem_Free(self->rbuf);
    PyMem_Free(self->keepalive_opts);
    conn_clear(self);
    Py_CLEAR(self->server_hostname);
    Py_CLEAR(self->host);
    Py_CLEAR(self->username);
    Py_CLEAR(self->password);
    Py_CLEAR(self->client_name);
    Py_CLEAR(self->unix_socket_path);
    Py_CLEAR(self->encoding);
    Py_CLEAR(self->encoding_errors);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *
conn_connect(sf_conn *self, PyObject *unused)
{
    if (sf_conn_ensure(self) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
conn_disconnect_py(sf_conn *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    /* accepts and ignores redis-py's *args (e.g. error) */
    sf_conn_disconnect(self);
    Py_RETURN_NONE;
}

static int
never_decode_kw(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, int *never_decode)
{
    *never_decode = 0;
    if (kwnames == NULL)
        return 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); i++) {
        const char *k = PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, i));
        if (k == NULL)
            return -1;
        if (strcmp(k, "never_decode") == 0 || strcmp(k, "disable_decoding") == 0) {
            int v = PyObject_IsTrue(args[nargs + i]);
            if (v < 0)
                return -1;
            *never_decode = v;
        }
        else {
            PyErr_Format(PyExc_TypeError, "unexpected keyword argument '%s'", k);
            return -1;
        }
    }
    return 0;
}

static PyObject *
conn_execute_py(sf_conn *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    int never_decode;
    if (never_decode_kw(args, nargs, kwnames, &never_decode) < 0)
        return NULL;
    return sf_conn_execute(self, args, nargs, never_decode);
}

static PyObject *
conn_execute_many_py(sf_conn *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    int never_decode;
    if (nargs != 1) {
        PyErr_SetString(PyExc_TypeError, "execute_many() takes one sequence of commands");
        return NULL;
    }
    if (never_decode_kw(args, nargs, kwnames, &never_decode) < 0)
        return NULL;
    return sf_conn_execute_many(self, args[0], never_decode);
}

/* The value of keyword `name` among a FASTCALL call's keywords, or NULL (borrowed). */
static PyObject *
keyword(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, const char *name)
{
    if (kwnames == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); i++) {
        if (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, i), name) == 0)
            return args[nargs + i];
    }
    return NULL;
}

/* redis-py's check_health=...: 1 (the default), 0, or -1 with an exception. */
static int
check_health_wanted(PyObject *value)
{
    return value == NULL ? 1 : PyObject_IsTrue(value);
}

/* Connect if needed, and PING first when a check is due and wanted. */
static int
prepare_send(sf_conn *c, int check_health)
{
    if (refuse_if_stale(c) < 0 || sf_conn_ensure(c) < 0)
        return -1;
    if (check_health && !c->push_mode && health_check_due(c))
        return health_check(c);
    return 0;
}

/* After commands went out without their replies being read: count what is owed. */
static void
note_sent(sf_conn *c, Py_ssize_t commands, Py_ssize_t push_commands, int countable)
{
    if (push_commands > 0) {
        /* From now on the server speaks unasked: the stream can never be counted again,
         * so the pool and execute() close this connection rather than reuse it. */
        c->push_mode = 1;
        c->unread = SF_UNREAD_UNKNOWN;
    }
    else if (!countable || c->unread == SF_UNREAD_UNKNOWN)
        c->unread = SF_UNREAD_UNKNOWN;
    else
        c->unread += commands;
}

static PyObject *
conn_send_command(sf_conn *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    /* redis-py passes the command's options as keywords too: only check_health counts */
    int check = check_health_wanted(keyword(args, nargs, kwnames, "check_health"));
    if (check < 0)
        return NULL;
    if (prepare_send(self, check) < 0)
        return NULL;
    self->wbuf.len = 0;
    if (sf_encode_command(self->st, &self->wbuf, &self->encoder, args, nargs) < 0)
        return NULL;
    /* The command's name as sent is what the server sees: judge that. */
    sf_command_counter counter = SF_COMMAND_COUNTER_INIT;
    sf_count_commands(&counter, self->wbuf.data, self->wbuf.len);
    if (send_buffer(self) < 0)
        return NULL;
    note_sent(self, 1, counter.push_commands, 1);
    Py_RETURN_NONE;
}

static PyObject *
conn_send_packed_command(sf_conn *self, PyObject *const *args, Py_ssize_t nargs,
                         PyObject *kwnames)
{
    if (nargs < 1 || nargs > 2) {
        PyErr_SetString(PyExc_TypeError,
                        "send_packed_command(command, check_health=True) takes the data to send");
        return NULL;
    }
    PyObject *check_arg = nargs == 2 ? args[1] : keyword(args, nargs, kwnames, "check_health");
    int check = check_health_wanted(check_arg);
    if (check < 0)
        return NULL;
    if (prepare_send(self, check) < 0)
        return NULL;
    PyObject *items = PyList_Check(args[0]) || PyTuple_Check(args[0])
                          ? Py_NewRef(args[0]) : PyTuple_Pack(1, args[0]);
    if (items == NULL)
        return NULL;
    PyObject *seq = PySequence_Fast(items, "data must be bytes or a sequence of bytes");
    Py_DECREF(items);
    if (seq == NULL)
        return NULL;
    int rc = 0;
    sf_command_counter counter = SF_COMMAND_COUNTER_INIT;
    self->deadline = sf_deadline_after(self->socket_timeout);
    for (Py_ssize_t i = 0; rc == 0 && i < PySequence_Fast_GET_SIZE(seq); i++) {
        Py_buffer view;
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, i), &view, PyBUF_SIMPLE) < 0) {
            rc = -1;
            break;
        }
        sf_count_commands(&counter, view.buf, (size_t)view.len);
        rc = transport_send(self, view.buf, (size_t)view.len);
        PyBuffer_Release(&view);
        if (rc < 0)
            sf_conn_disconnect(self);
    }
    Py_DECREF(seq);
    if (rc < 0)
        return NULL;
    /* What the data asks for, counted as it went out (whole commands only). */
    note_sent(self, counter.commands, counter.push_commands,
              !counter.broken && counter.state == 0);
    Py_RETURN_NONE;
}

/* A timeout argument: None -> SF_NO_TIMEOUT (forever), else seconds >= 0. */
static int
timeout_arg(PyObject *obj, double *out)
{
    if (obj == Py_None) {
        *out = SF_NO_TIMEOUT;
        return 0;
    }
    double v = PyFloat_AsDouble(obj);
    if (v == -1.0 && PyErr_Occurred())
        return -1;
    if (v != v) {
        PyErr_SetString(PyExc_ValueError, "timeout must be a number or None");
        return -1;
    }
    *out = v < 0 ? 0 : v;
    return 0;
}

static PyObject *
conn_read_response(sf_conn *self, PyObject *args, PyObject *kwds)
{
    /* redis-py: read_response(disable_decoding=False, *, timeout=<socket_timeout>,
     * disconnect_on_error=True, push_request=False) */
    static char *kwlist[] = {"disable_decoding", "timeout", "disconnect_on_error",
                             "push_request", NULL};
    int never_decode = 0, disconnect_on_error = 1, push_request = 0;
    PyObject *timeout = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|p$Opp:read_response", kwlist,
                                     &never_decode, &timeout, &disconnect_on_error,
                                     &push_request))
        return NULL;
    double t = self->socket_timeout;
    /* A bare object() is redis-py's SENTINEL (8.0's PubSub passes it): the default. */
    if (timeout != NULL && Py_TYPE(timeout) != &PyBaseObject_Type
        && timeout_arg(timeout, &t) < 0)
        return NULL;
    if (!sf_conn_is_connected(self)) {
        PyErr_SetString(self->st->ConnectionError, "Connection not open");
        return NULL;
    }
    self->deadline = sf_deadline_after(t);
    self->reader_ctx.decode = self->decode_responses && !never_decode;
    PyObject *reply = read_reply_ex(self, !disconnect_on_error);
    if (reply == NULL)
        return NULL;
    if (self->unread > 0 && self->unread != SF_UNREAD_UNKNOWN)
        self->unread--;
    touched(self);
    if (PyExceptionInstance_Check(reply)) {
        if (sf_classify_reply(self->st, reply, self->svc != NULL) == SF_REPLY_DEMOTED) {
            Py_DECREF(reply);
            return demoted(self);
        }
        raise_reply_error(reply);
        Py_CLEAR(reply);
    }
    return reply;
}

static PyObject *
conn_can_read(sf_conn *self, PyObject *args, PyObject *kwds)
{
    /* redis-py: True if a reply (or part of one) is buffered or arrives within
     * `timeout` seconds (None: wait for it); ConnectionError if the server closed. */
    static char *kwlist[] = {"timeout", NULL};
    PyObject *timeout = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:can_read", kwlist, &timeout))
        return NULL;
    double t = 0;
    if (timeout != NULL && timeout_arg(timeout, &t) < 0)
        return NULL;
    if (sf_conn_ensure(self) < 0)
        return NULL;
    if (sf_reader_buffered(self->reader) > 0)
        Py_RETURN_TRUE;
    sf_io_error e;
    int ready = sf_transport_has_input(&self->transport);
    if (!ready && t != 0) {
        sf_interrupt_hook hook = sf_py_interrupt_hook();
        double deadline = sf_deadline_after(t);
        Py_BEGIN_ALLOW_THREADS
        ready = sf_transport_wait_readable(&self->transport, deadline, &hook, &e);
        Py_END_ALLOW_THREADS
        if (ready < 0) {
            if (e.code != SF_IO_INTERRUPTED)   /* poll failed: the socket is unusable */
                sf_conn_disconnect(self);
            return sf_io_raise(self->st, &e), NULL;
        }
    }
    if (!ready)
        Py_RETURN_FALSE;
    /* Readable: data, or the end of the stream. Take what is there (no wait) so that
     * a closed connection is told apart from one holding a message. */
    int want;
    ssize_t n = sf_transport_read_nb(&self->transport, self->rbuf, self->rbuf_size, &want, &e);
    if (n < 0) {
        sf_conn_disconnect(self);
        return sf_io_raise(self->st, &e), NULL;
    }
    if (n > 0 && sf_reader_feed(self->reader, self->rbuf, (size_t)n) < 0) {
        sf_conn_disconnect(self);
        return NULL;
    }
    /* n == 0: TLS bytes that do not make a record yet: a reply is on its way. */
    Py_RETURN_TRUE;
}

static PyObject *
conn_pack_command(sf_conn *self, PyObject *const *args, Py_ssize_t nargs)
{
    sf_buf buf = {NULL, 0, 0};
    if (sf_encode_command(self->st, &buf, &self->encoder, args, nargs) < 0) {
        sf_buf_free(&buf);
        return NULL;
    }
    PyObject *b = PyBytes_FromStringAndSize(buf.data, (Py_ssize_t)buf.len);
    sf_buf_free(&buf);
    if (b == NULL)
        return NULL;
    PyObject *list = PyList_New(1);
    if (list == NULL) {
        Py_DECREF(b);
        return NULL;
    }
    PyList_SET_ITEM(list, 0, b);
    return list;
}

static PyObject *
conn_pack_commands(sf_conn *self, PyObject *commands)
{
    /* redis-py: pack_commands(commands) -> a list of encoded chunks; here one chunk */
    PyObject *seq = PySequence_Fast(commands, "commands must be a sequence of argument sequences");
    if (seq == NULL)
        return NULL;
    sf_buf buf = {NULL, 0, 0};
    int rc = 0;
    for (Py_ssize_t i = 0; rc == 0 && i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *cmd = PySequence_Fast(PySequence_Fast_GET_ITEM(seq, i),
                                        "each command must be a sequence of arguments");
        if (cmd == NULL) {
            rc = -1;
            break;
        }
        rc = sf_encode_command(self->st, &buf, &self->encoder, PySequence_Fast_ITEMS(cmd),
                               PySequence_Fast_GET_SIZE(cmd));
        Py_DECREF(cmd);
    }
    Py_DECREF(seq);
    PyObject *result = NULL;
    if (rc == 0) {
        PyObject *b = PyBytes_FromStringAndSize(buf.data, (Py_ssize_t)buf.len);
        if (b != NULL) {
            result = PyList_New(buf.len > 0 ? 1 : 0);
            if (result == NULL)
                Py_DECREF(b);
            else if (buf.len > 0)
                PyList_SET_ITEM(result, 0, b);
            else
                Py_DECREF(b);
        }
    }
    sf_buf_free(&buf);
    return result;
}

static PyObject *
conn_check_health(sf_conn *self, PyObject *unused)
{
    /* Not on a connection in push mode or owing replies: the PING's reply would be
     * mistaken for something else. */
    if (!self->push_mode && health_check_due(self)) {
        if (health_check(self) < 0)
            return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
conn_mark_for_reconnect(sf_conn *self, PyObject *unused)
{
    self->reconnect_marked = 1;
    Py_RETURN_NONE;
}

static PyObject *
conn_should_reconnect(sf_conn *self, PyObject *unused)
{
    return PyBool_FromLong(self->reconnect_marked);
}

static PyObject *
conn_reset_should_reconnect(sf_conn *self, PyObject *unused)
{
    self->reconnect_marked = 0;
    Py_RETURN_NONE;
}

static PyObject *
conn_repr(sf_conn *self)
{
    if (self->unix_socket_path != Py_None)
        return PyUnicode_FromFormat("<%s(path=%U,db=%ld)>", Py_TYPE(self)->tp_name,
                                    self->unix_socket_path, self->db);
    return PyUnicode_FromFormat("<%s(host=%U,port=%d,db=%ld)>", Py_TYPE(self)->tp_name,
                                self->host, self->port, self->db);
}

static PyObject *
timeout_value(double t)
{
    if (t < 0)
        Py_RETURN_NONE;
    return PyFloat_FromDouble(t);
}

static PyObject *get_socket_timeout(sf_conn *s, void *c) { return timeout_value(s->socket_timeout); }
static PyObject *get_connect_timeout(sf_conn *s, void *c) { return timeout_value(s->connect_timeout); }
static PyObject *get_is_connected(sf_conn *s, void *c) { return PyBool_FromLong(sf_conn_is_connected(s)); }
static PyObject *get_pid(sf_conn *s, void *c) { return PyLong_FromLong(s->pid ? s->pid : (long)getpid()); }
static PyObject *get_decode(sf_conn *s, void *c) { return PyBool_FromLong(s->decode_responses); }
static PyObject *get_keepalive(sf_conn *s, void *c) { return PyBool_FromLong(s->keepalive); }
static PyObject *get_hci(sf_conn *s, void *c) { return PyFloat_FromDouble(s->health_check_interval); }
static PyObject *get_fileno(sf_conn *s, void *c) { return PyLong_FromLong(s->transport.fd); }

static PyObject *
get_host(sf_conn *s, void *c)
{
    return Py_NewRef(s->host);
}

static int
set_host(sf_conn *s, PyObject *v, void *c)
{
    if (v == NULL || !PyUnicode_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "host must be a str");
        return -1;
    }
    Py_SETREF(s->host, Py_NewRef(v));
    return 0;
}

static PyObject *get_port(sf_conn *s, void *c) { return PyLong_FromLong(s->port); }

static int
set_port(sf_conn *s, PyObject *v, void *c)
{
    long p = v ? PyLong_AsLong(v) : -1;
    if (p == -1 && PyErr_Occurred())
        return -1;
    if (p < 0 || p > 65535) {
        PyErr_SetString(PyExc_ValueError, "invalid port");
        return -1;
    }
    s->port = (int)p;
    return 0;
}

static PyObject *get_retry(sf_conn *s, void *c) { return Py_NewRef(s->retry); }
static PyObject *get_push_mode(sf_conn *s, void *c) { return PyBool_FromLong(s->push_mode); }
static PyObject *get_connects(sf_conn *s, void *c) { return PyLong_FromUnsignedLong(s->connects); }

static PyObject *
get_next_health_check(sf_conn *s, void *c)
{
    return PyFloat_FromDouble(s->next_health_check);
}

static int
set_next_health_check(sf_conn *s, PyObject *v, void *c)
{
    double t = v ? PyFloat_AsDouble(v) : -1.0;
    if (t == -1.0 && (v == NULL || PyErr_Occurred())) {
        if (v == NULL)
            PyErr_SetString(PyExc_AttributeError, "cannot delete next_health_check");
        return -1;
    }
    s->next_health_check = t;
    return 0;
}

static PyObject *
get_connect_callbacks(sf_conn *s, void *c)
{
    if (s->connect_callbacks == NULL) {
        s->connect_callbacks = PyList_New(0);
        if (s->connect_callbacks == NULL)
            return NULL;
    }
    return Py_NewRef(s->connect_callbacks);
}

static int
set_connect_callbacks(sf_conn *s, PyObject *v, void *c)
{
    if (v != NULL && v != Py_None && !PyList_CheckExact(v)) {
        PyErr_SetString(PyExc_TypeError, "_connect_callbacks must be a list");
        return -1;
    }
    Py_XSETREF(s->connect_callbacks, v == NULL || v == Py_None ? NULL : Py_NewRef(v));
    return 0;
}
static PyObject *get_tls(sf_conn *s, void *c) { return Py_NewRef(s->tls); }
static PyObject *get_server_hostname(sf_conn *s, void *c) { return Py_NewRef(s->server_hostname); }

static int
set_retry(sf_conn *s, PyObject *v, void *c)
{
    Py_XSETREF(s->retry, Py_NewRef(v ? v : Py_None));
    return 0;
}

static PyGetSetDef conn_getset[] = {
    {"host", (getter)get_host, (setter)set_host, "Server host name or address.", NULL},
    {"port", (getter)get_port, (setter)set_port, "Server TCP port.", NULL},
    {"retry", (getter)get_retry, (setter)set_retry, "The Retry policy of this connection.", NULL},
    {"socket_timeout", (getter)get_socket_timeout, NULL, "Read/write timeout (None: none).", NULL},
    {"socket_connect_timeout", (getter)get_connect_timeout, NULL, "Connect timeout.", NULL},
    {"socket_keepalive", (getter)get_keepalive, NULL, "SO_KEEPALIVE on.", NULL},
    {"health_check_interval", (getter)get_hci, NULL, "Idle seconds before a PING check.", NULL},
    {"decode_responses", (getter)get_decode, NULL, "Replies decoded to str.", NULL},
    {"is_connected", (getter)get_is_connected, NULL, "True while the socket is open.", NULL},
    {"pid", (getter)get_pid, NULL, "Process that opened the socket.", NULL},
    {"_fileno", (getter)get_fileno, NULL, "Socket descriptor, -1 when closed.", NULL},
    {"tls", (getter)get_tls, NULL, "The TLSContext of this connection, or None (plain).", NULL},
    {"server_hostname", (getter)get_server_hostname, NULL,
     "Name sent in SNI and verified (None: the host dialled).", NULL},
    {"next_health_check", (getter)get_next_health_check, (setter)set_next_health_check,
     "Monotonic time after which the next command first PINGs (health_check_interval).",
     NULL},
    {"_connect_callbacks", (getter)get_connect_callbacks, (setter)set_connect_callbacks,
     "Weak references to the callables run after every connect.", NULL},
    {"_push_mode", (getter)get_push_mode, NULL,
     "True after SUBSCRIBE/PSUBSCRIBE/SSUBSCRIBE/MONITOR until the connection closes.", NULL},
    {"_connects", (getter)get_connects, NULL, "Successful connects so far.", NULL},
    {NULL},
};

static PyMemberDef conn_members[] = {
    {"db", T_LONG, offsetof(sf_conn, db), READONLY, "Database number."},
    {"username", T_OBJECT, offsetof(sf_conn, username), READONLY, "ACL user name."},
    {"password", T_OBJECT, offsetof(sf_conn, password), READONLY, "Password."},
    {"client_name", T_OBJECT, offsetof(sf_conn, client_name), READONLY, "CLIENT SETNAME value."},
    {"encoding", T_OBJECT, offsetof(sf_conn, encoding), READONLY, "Codec for str."},
    {"encoding_errors", T_OBJECT, offsetof(sf_conn, encoding_errors), READONLY, "Codec errors."},
    {"unix_socket_path", T_OBJECT, offsetof(sf_conn, unix_socket_path), READONLY, "Unix socket."},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(sf_conn, weakreflist), READONLY},
    {NULL},
};

static PyMethodDef conn_methods[] = {
    {"connect", (PyCFunction)conn_connect, METH_NOARGS,
     "Connect and handshake unless already connected."},
    {"disconnect", (PyCFunction)(void (*)(void))conn_disconnect_py,
     METH_FASTCALL | METH_KEYWORDS, "Close the socket."},
    {"execute", (PyCFunction)(void (*)(void))conn_execute_py, METH_FASTCALL | METH_KEYWORDS,
     "execute(*args, never_decode=False): send one command and return its reply."},
    {"execute_many", (PyCFunction)(void (*)(void))conn_execute_many_py,
     METH_FASTCALL | METH_KEYWORDS,
     "execute_many(commands): send commands in one write; return all replies, error "
     "replies as exception instances."},
    {"send_command", (PyCFunction)(void (*)(void))conn_send_command,
     METH_FASTCALL | METH_KEYWORDS, "Encode and send one command."},
    {"send_packed_command", (PyCFunction)(void (*)(void))conn_send_packed_command,
     METH_FASTCALL | METH_KEYWORDS, "Send already encoded bytes."},
    {"read_response", (PyCFunction)(void (*)(void))conn_read_response,
     METH_VARARGS | METH_KEYWORDS,
     "read_response(disable_decoding=False, *, timeout=socket_timeout, "
     "disconnect_on_error=True, push_request=False): read one reply; error replies "
     "are raised."},
    {"can_read", (PyCFunction)(void (*)(void))conn_can_read, METH_VARARGS | METH_KEYWORDS,
     "can_read(timeout=0): True if a reply is buffered or arrives within timeout."},
    {"pack_command", (PyCFunction)(void (*)(void))conn_pack_command, METH_FASTCALL,
     "Encode one command to RESP; returns a list of bytes."},
    {"pack_commands", (PyCFunction)conn_pack_commands, METH_O,
     "Encode many commands to RESP; returns a list of bytes."},
    {"check_health", (PyCFunction)conn_check_health, METH_NOARGS,
     "PING if the connection was idle longer than health_check_interval."},
    {"mark_for_reconnect", (PyCFunction)conn_mark_for_reconnect, METH_NOARGS,
     "Ask for a reconnect after the running command (redis-py)."},
    {"should_reconnect", (PyCFunction)conn_should_reconnect, METH_NOARGS,
     "True if mark_for_reconnect() was called since the last disconnect."},
    {"reset_should_reconnect", (PyCFunction)conn_reset_should_reconnect, METH_NOARGS,
     "Forget a mark_for_reconnect()."},
    {NULL},
};

static PyType_Slot conn_slots[] = {
    {Py_tp_doc, "A connection to one Redis server (socket, handshake, RESP)."},
    {Py_tp_new, conn_new},
    {Py_tp_init, conn_init},
    {Py_tp_dealloc, conn_dealloc},
    {Py_tp_traverse, conn_traverse},
    {Py_tp_clear, conn_clear},
    {Py_tp_repr, conn_repr},
    {Py_tp_methods, conn_methods},
    {Py_tp_members, conn_members},
    {Py_tp_getset, conn_getset},
    {0, NULL},
};

PyType_Spec sf_connection_spec = {
    .name = "sentinelfast._core.Connection",
    .basicsize = sizeof(sf_conn),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = conn_slots,
};
