/* The retry loop: runs a command again on the errors a Retry policy names,
 * sleeping its backoff in between (without the GIL, interruptible). */
#ifndef SF_RETRY_H
#define SF_RETRY_H

#include "connection.h"

/* Run one command on `conn` under conn->retry (None = no retries).
 * Before each retry the connection is closed, so the next attempt reconnects
 * (and, for Sentinel-managed connections, asks Sentinel for the address again). */
PyObject *sf_retry_execute(sf_conn *conn, PyObject *const *args, Py_ssize_t nargs,
                           int read_flags);

/* The same for a batch of commands (pipelines). */
PyObject *sf_retry_execute_many(sf_conn *conn, PyObject *commands, int never_decode);

/* Sleep `seconds` with the GIL released; -1 if a signal handler raised. */
int sf_sleep(double seconds);

#endif
