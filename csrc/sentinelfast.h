/* sentinelfast._core: shared declarations.
 *
 * The module keeps everything in its module state (PEP 489); objects reach it
 * through their heap type (see sf_state_from_type). */
#ifndef SENTINELFAST_H
#define SENTINELFAST_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "py_compat.h"

typedef struct {
    /* heap types */
    PyTypeObject *ConnectionType;
    PyTypeObject *PoolType;
    PyTypeObject *ClientType;
    PyTypeObject *ServiceType;
    PyTypeObject *MonitorType;
    PyTypeObject *HandshakeType;
    PyTypeObject *TLSContextType;           /* tls_context.c */
    PyTypeObject *ReaderType;       /* resp_python.c */

    /* exception classes, from sentinelfast.exceptions */
    PyObject *RedisError;
    PyObject *ConnectionError;
    PyObject *TimeoutError;
    PyObject *AuthenticationError;
    PyObject *BusyLoadingError;
    PyObject *MaxConnectionsError;
    PyObject *InvalidResponse;
    PyObject *ResponseError;
    PyObject *DataError;
    PyObject *ReadOnlyError;
    PyObject *ExecAbortError;
    PyObject *WatchError;
    PyObject *error_from_reply;   /* callable: str -> exception instance */

    /* interned strings */
    PyObject *str_OK;
    PyObject *str_QUEUED;
    PyObject *str_utf8;
    PyObject *str_strict;
    PyObject *str_NEVER_DECODE;
    PyObject *str_EMPTY_RESPONSE;
    PyObject *str_keys;
    PyObject *str_AUTH;
    PyObject *str_CLIENT_SETNAME;
    PyObject *str_SELECT;
    PyObject *str_PING;
    PyObject *str_ROLE;
    PyObject *str_localhost;
    PyObject *str_SENTINEL;
    PyObject *str_MASTER;
    PyObject *str_SLAVES;
    PyObject *str_connection_pool;
    PyObject *str_response_callbacks;
    PyObject *str_MULTI;                    /* pipeline.c */
    PyObject *str_EXEC;
    PyObject *str_reset;
    PyObject *str_immediate_execute_command;

    /* backoff strategies (backoff.c): heap types and the PRNG they draw from */
    PyTypeObject *ConstantBackoffType;
    PyTypeObject *NoBackoffType;
    PyTypeObject *ExponentialBackoffType;
    PyTypeObject *FullJitterBackoffType;
    PyTypeObject *EqualJitterBackoffType;
    PyTypeObject *DecorrelatedJitterBackoffType;
    PyTypeObject *ExponentialWithJitterBackoffType;
    uint64_t rng[4];                        /* xoshiro256** state */
    unsigned long rng_fork_generation;      /* reseeded when sf_fork_generation moves */
    /* end backoff */
} sf_state;

extern PyModuleDef sf_module_def;

static inline sf_state *
sf_state_from_module(PyObject *module)
{
    return (sf_state *)PyModule_GetState(module);
}

/* Module state for an instance of one of our heap types (or a Python subclass). */
sf_state *sf_state_from_type(PyTypeObject *tp);

/* Incremented in the child after every fork(); a connection made under another
 * generation belongs to the parent and is never used by the child. */
extern volatile unsigned long sf_fork_generation;

/* The pending exception as one object (PyErr_GetRaisedException before 3.12). */
static inline PyObject *
sf_err_fetch(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (type == NULL)
        return NULL;
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL && value != NULL)
        PyException_SetTraceback(value, tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

/* Raise `exc` (an exception instance; the reference is stolen). */
static inline void
sf_err_restore(PyObject *exc)
{
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyErr_Restore(Py_NewRef((PyObject *)Py_TYPE(exc)), exc, PyException_GetTraceback(exc));
#endif
}

/* Monotonic clock in seconds. */
double sf_monotonic(void);

/* Type specs, defined in their own files. */
extern PyType_Spec sf_connection_spec;
extern PyType_Spec sf_pool_spec;
extern PyType_Spec sf_client_spec;
extern PyType_Spec sf_reader_spec;           /* resp_python.c */

/* Commands retried by the retry loop since the module was loaded (all threads). */
extern unsigned long sf_retry_count;

/* Module-level functions defined outside module.c */
extern PyMethodDef sf_reply_parser_methods[];   /* reply_parsers.c */

/* The response callback for command `name` in `callbacks` (a new reference), or
 * NULL: none (no error set) or an error (set). Plain and case-insensitive dicts
 * (redis-py's CaseInsensitiveDict keeps upper-case keys) are read directly; a
 * lower-case name, or any other mapping, goes through the mapping's get(). */
PyObject *sf_callback_lookup(PyObject *callbacks, PyObject *name);   /* reply_parsers.c */
/* float(score) of a sorted-set score, bit for bit and with float()'s errors (NULL with
 * the error set): from the reply object (bytes or str), or from its text. */
PyObject *sf_score_to_float(PyObject *score);                        /* reply_parsers.c */
PyObject *sf_score_from_text(const char *text, Py_ssize_t len);      /* reply_parsers.c */
/* The sf_reply_shape (resp_reader.h) in which the reader builds a reply so that it is
 * already what `callback` called with `options` (a dict or NULL) makes of an array:
 * SF_SHAPE_SCORED_PAIRS for the C sorted-set parser with withscores (score_cast_func
 * absent or float); 0 (a list): the callback has to run. -1 on error. */
int sf_callback_reply_shape(PyObject *callback, PyObject *options);  /* reply_parsers.c */
/* stack: [(args, options)], replies: raw replies in the same order -> the replies
 * through their response callbacks (a new list). Error replies stay exception
 * instances; with an `EMPTY_RESPONSE` option an instance of `error_class` becomes
 * that value (pass None to keep every error). reply_parsers.c */
PyObject *sf_apply_callbacks(PyObject *stack, PyObject *replies, PyObject *callbacks,
                             PyObject *error_class);
/* The same for one reply of command `name` (options: a dict, or NULL for none). */
PyObject *sf_apply_callback(PyObject *callbacks, PyObject *name, PyObject *options,
                            PyObject *reply, PyObject *error_class);
/* Creates _core.PipelineCore (a subtype of Client) and adds it to the module. pipeline.c */
int sf_pipeline_exec(PyObject *module, sf_state *st);
/* Creates _core.FastCommand and adds it to the module. fast_command.c */
int sf_fast_command_exec(PyObject *module);
extern PyMethodDef sf_resp_methods[];           /* resp_python.c: encode_command */
PyObject *sf_discover_master(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *sf_discover_replicas(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

#endif
