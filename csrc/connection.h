/* The Connection type: one socket to one Redis server. */
#ifndef SF_CONNECTION_H
#define SF_CONNECTION_H

#include "sentinelfast.h"
#include "resp_reader.h"
#include "resp_writer.h"
#include "transport.h"
#include "io_errors.h"
#include "tls_context.h"
#include "sentinel_monitor.h"

typedef struct {
    PyObject_HEAD
    sf_state *st;
    sf_transport transport;         /* the byte stream; transport.fd is -1 when disconnected */
    unsigned long fork_generation;  /* sf_fork_generation when the socket was made */
    unsigned long pool_epoch;       /* the owning pool's epoch when connected */
    long pid;                       /* process that made the socket (for Python) */

    /* where to connect */
    PyObject *host;                 /* str */
    int port;
    PyObject *unix_socket_path;     /* str or None */
    PyObject *address_provider;     /* None, or callable -> iterable of (host, port) */

    /* handshake */
    long db;
    PyObject *username;             /* str/bytes or None */
    PyObject *password;
    PyObject *client_name;
    PyObject *credential_provider;  /* None or object with get_credentials() */

    /* socket options */
    double socket_timeout;          /* SF_NO_TIMEOUT = None */
    double connect_timeout;
    int keepalive;                  /* SO_KEEPALIVE */
    PyObject *keepalive_options;    /* dict {TCP_KEEPIDLE: 30, ...} or None: the defaults */
    int *keepalive_opts;            /* the same as C pairs ending with -1 (PyMem), or NULL */
    double deadline;                /* the running command's deadline (sf_monotonic time) */
    Py_ssize_t unread;              /* replies asked for by send_command/send_packed_command
                                       and not read yet; SF_UNREAD_UNKNOWN if uncountable */

    /* TLS */
    PyObject *tls;                  /* a TLSContext, or None: plain */
    PyObject *server_hostname;      /* str or None: SNI and the name verified (None: host) */
    double health_check_interval;
    double next_health_check;

    /* encoding */
    PyObject *encoding;
    PyObject *encoding_errors;
    int decode_responses;
    sf_encoder encoder;

    PyObject *retry;                /* a sentinelfast.retry.Retry */

    /* redis-py's Connection interface beyond commands (PubSub, Monitor, frameworks) */
    int push_mode;                  /* SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE or MONITOR was sent:
                                       the server sends messages nobody asked for until the
                                       connection closes (unread is SF_UNREAD_UNKNOWN) */
    int reconnect_marked;           /* mark_for_reconnect() since the last disconnect */
    int in_connect_callbacks;       /* running them: a reconnect inside runs none */
    unsigned long connects;         /* successful connects so far */
    PyObject *connect_callbacks;    /* NULL, or a list of weak references: each called
                                       gives a callable(connection) or None (dead) */

    /* Master connections of a Sentinel service: the failover state they follow
     * (NULL otherwise). Such a connection checks ROLE in its handshake, waits while a
     * failover runs, connects to the master the monitor knows, and turns READONLY
     * into a re-discovery. */
    PyObject *service;              /* the Service object (holds svc) or NULL */
    sf_service *svc;
    int fd_tracked;
    unsigned long svc_epoch;        /* the service's epoch when it connected: a failover
                                       begun since makes it stale for the next command */

    sf_reader *reader;
    sf_reader_ctx reader_ctx;
    sf_buf wbuf;
    char *rbuf;
    size_t rbuf_size;

    PyObject *weakreflist;
} sf_conn;

int sf_conn_check(sf_state *st, PyObject *obj);

#define SF_UNREAD_UNKNOWN PY_SSIZE_T_MAX

/* Close the connection if its stream is out of step with its commands: replies that
 * were asked for and never read (or cannot be counted: push mode), or bytes the
 * server sent beyond the replies read.
 * Whatever it read next could answer an earlier command, so it must not be used as
 * it is. Costs no syscall: the pool calls it on every hand-out. */
void sf_conn_drop_if_out_of_step(sf_conn *c);

/* SF_NO_TIMEOUT: a timeout in seconds that means "wait forever". */
#define SF_NO_TIMEOUT (-1.0)

static inline int
sf_conn_is_connected(const sf_conn *c)
{
    return sf_transport_is_open(&c->transport);
}

/* Make `conn` follow `service` (a Service object), or nothing (NULL). */
void sf_conn_set_service(sf_conn *conn, PyObject *service);      /* 1 if an sf_conn (or subclass) */

/* Connect (and handshake) unless connected; a socket inherited over fork() is dropped
 * first. 0, or -1 with an exception set. */
int sf_conn_ensure(sf_conn *c);
void sf_conn_disconnect(sf_conn *c);

/* How sf_conn_execute reads its reply (`read_flags`): SF_READ_NEVER_DECODE for bytes
 * even with decode_responses (NEVER_DECODE), or'ed with SF_READ_SHAPE(an
 * sf_reply_shape, resp_reader.h) for how an array reply is built. */
#define SF_READ_NEVER_DECODE 1
#define SF_READ_SHAPE(shape) ((shape) << 1)

/* One command: encode, send, read its reply. An error reply is raised as the
 * exception redis-py raises for it (the connection stays usable); any other failure
 * closes the connection. Returns a new reference or NULL. */
PyObject *sf_conn_execute(sf_conn *c, PyObject *const *args, Py_ssize_t nargs,
                          int read_flags);

/* Many commands (a sequence of argument tuples) in one write; returns the list of
 * replies, error replies as exception instances in place. */
PyObject *sf_conn_execute_many(sf_conn *c, PyObject *commands, int never_decode);

#endif
