/* Helpers of the Client type used by other parts of the core. */
#ifndef SF_CLIENT_H
#define SF_CLIENT_H

#include "connection.h"

/* Run one command once (no retry policy, no response callback) on a connection of
 * `client` (a sentinelfast Redis). Error replies are raised. */
PyObject *sf_client_execute_once(sf_state *st, PyObject *client, PyObject *const *args,
                                 Py_ssize_t nargs);

#endif
