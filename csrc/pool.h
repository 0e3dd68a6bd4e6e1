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

    /* Guarded by the GIL: no call in get/release lets it go between reading and
     * updating these. */
    PyObject *available;            /* list used as a stack: the end is the MRU */
    PyObject *in_use;               /* set */
    Py_ssize_t created;
    unsigned long fork_generation;
    unsigned long epoch;            /* connections from older epochs are closed */

    /* Blocking pools: waiters sleep on `cond` without the GIL. */
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    unsigned long releases;         /* bumped under `mutex` on every release */
    int waiters;

    /* A Sentinel master pool: the service whose failovers it follows (or NULL). */
    PyObject *service;
    sf_service *svc;
    unsigned long svc_epoch;

    PyObject *weakreflist;
} sf_pool;

int sf_pool_check(sf_state *st, PyObject *obj);

/* A connection for one command or pipeline (a new reference), or NULL with
 * MaxConnectionsError / ConnectionError("No connection available.") set. */
sf_conn *sf_pool_get(sf_pool *pool);

/* Give a connection back (steals nothing; the pool keeps its own reference). */
void sf_pool_release(sf_pool *pool, sf_conn *conn);

#endif
