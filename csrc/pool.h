/* ConnectionPool: hands connections to threads, most recently used first. */
#ifndef SF_POOL_H
#define SF_POOL_H

#include "connection.h"
#include <pthread.h>

typedef struct {
    PyObject_HEAD
    sf_state *st;
    PyObject *connection_class;     /* callable(**connection_kwargs) -> Connection */
    PyObject *connection_kwargs;    /* dict */
    Py_ssize_t max_connections;
    int blocking;                   /* wait for a free connection instead of failing */
    double timeout;                 /* how long to wait (SF_NO_TIMEOUT = forever) */

    /* `lock` guards every field down to `closing`, without the GIL: it is held only
     * for short sections that call no Python and build no Python objects (reference
     * counts are incremented there, never decremented), so a thread holding the GIL
     * may wait for it. The pool holds one reference to each connection in `idle` and
     * `busy`; n_idle + n_busy <= created <= capacity (connections from
     * make_connection() are counted but not tracked), so moving a connection between
     * the two arrays never allocates. */
    pthread_mutex_t lock;
    pthread_cond_t released;        /* signalled when a connection (or a slot) frees up */
    sf_conn **idle;                 /* a stack: the end is the most recently used */
    sf_conn **busy;                 /* handed out, in no order */
    Py_ssize_t n_idle, n_busy, capacity;
    Py_ssize_t created;
    unsigned long epoch;            /* connections from older epochs are closed */
    unsigned long svc_epoch;        /* the service epoch last seen */
    unsigned long generation;       /* bumped by reset(): forgets every connection */
    unsigned long releases;         /* bumped on every release, for blocked waiters */
    int waiters;
    int closing;                    /* idle connections taken out to be closed */

    /* sf_fork_generation when the pool last (re)started; FORK_RESETTING while one
     * thread of a child process resets the pool (atomic). */
    unsigned long fork_generation;

    /* A Sentinel master pool: the service whose failovers it follows (or NULL). */
    PyObject *service;
    sf_service *svc;

    PyObject *weakreflist;
} sf_pool;

int sf_pool_check(sf_state *st, PyObject *obj);

/* A connection for one command or pipeline (a new reference), or NULL with
 * MaxConnectionsError / ConnectionError("No connection available.") set. */
sf_conn *sf_pool_get(sf_pool *pool);

/* Give a connection back (steals nothing; the pool keeps its own reference). */
void sf_pool_release(sf_pool *pool, sf_conn *conn);

#endif
