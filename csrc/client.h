/* The Client type (base of sentinelfast.Redis) and what other parts of the core
 * use of it: its layout (the Pipeline type extends it), taking and giving back a
 * connection, running a command once. */
#ifndef SF_CLIENT_H
#define SF_CLIENT_H

#include "connection.h"

typedef struct {
    PyObject_HEAD
    sf_state *st;
    PyObject *connection_pool;      /* a Pool (fast path) or any object with
                                       get_connection()/release() */
    PyObject *response_callbacks;   /* dict: command name -> callable(reply, **options) */
    PyObject *connection;           /* single_connection_client: its Connection, or None */
    PyThread_type_lock single_lock; /* serialises use of `connection` */
    PyObject *weakreflist;
} sf_client;

/* A connection from the client's pool (a new reference), or NULL with an exception. */
sf_conn *sf_client_acquire(sf_client *self);

/* Give `conn` back to the client's pool and drop the reference; a pending exception
 * is kept. */
void sf_client_give_back(sf_client *self, sf_conn *conn);

/* tp_new of Client (fields set to None / an empty dict), for subtypes in C. */
PyObject *sf_client_new(PyTypeObject *type, PyObject *args, PyObject *kwds);

/* The Client parts of tp_traverse / tp_clear / tp_dealloc, for subtypes in C. */
int sf_client_traverse(sf_client *self, visitproc visit, void *arg);
int sf_client_clear(sf_client *self);
void sf_client_dealloc(sf_client *self);

/* Run one command once (no retry policy, no response callback) on a connection of
 * `client` (a sentinelfast Redis). Error replies are raised. */
PyObject *sf_client_execute_once(sf_state *st, PyObject *client, PyObject *const *args,
                                 Py_ssize_t nargs);

#endif
