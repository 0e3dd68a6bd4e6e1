/* sentinelfast._core: module definition (PEP 489 multi-phase init), module state,
 * the fork generation counter. */
#include "resp_reader.h"
#include "sentinelfast.h"

#include "sentinel_monitor.h"
#include "backoff.h"
#include "protocol.h"
#include "tls_context.h"

#include <hiredis/hiredis.h>

#include <pthread.h>
#include <time.h>

volatile unsigned long sf_fork_generation = 0;

static void
after_fork_in_child(void)
{
    sf_fork_generation++;
}

double
sf_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

sf_state *
sf_state_from_type(PyTypeObject *tp)
{
    PyObject *module = PyType_GetModuleByDef(tp, &sf_module_def);
    if (module == NULL)
        return NULL;
    return sf_state_from_module(module);
}

/* ---------------------------------------------------------------- state */

#define STATE_OBJECTS(X)                                                        \
    X(ConnectionType) X(PoolType) X(ClientType) X(ServiceType) X(MonitorType)   \
    X(HandshakeType) X(TLSContextType) X(ReaderType)                            \
    X(RedisError) X(ConnectionError) X(TimeoutError) X(AuthenticationError)     \
    X(BusyLoadingError) X(MaxConnectionsError) X(InvalidResponse)               \
    X(ResponseError) X(DataError) X(ReadOnlyError) X(ExecAbortError)            \
    X(WatchError) X(error_from_reply)                                           \
    X(str_OK) X(str_QUEUED) X(str_utf8) X(str_strict) X(str_NEVER_DECODE)       \
    X(str_EMPTY_RESPONSE) X(str_keys) X(str_connection_pool)                    \
    X(str_response_callbacks) X(str_AUTH) X(str_CLIENT_SETNAME) X(str_SELECT)   \
    X(str_PING) X(str_ROLE) X(str_localhost) X(str_SENTINEL) X(str_MASTER) X(str_SLAVES) \
    X(str_MULTI) X(str_EXEC) X(str_reset) X(str_immediate_execute_command)     \
    /* backoff.c */                                                             \
    X(ConstantBackoffType) X(NoBackoffType) X(ExponentialBackoffType)           \
    X(FullJitterBackoffType) X(EqualJitterBackoffType)                          \
    X(DecorrelatedJitterBackoffType) X(ExponentialWithJitterBackoffType)

static int
module_traverse(PyObject *module, visitproc visit, void *arg)
{
    sf_state *st = sf_state_from_module(module);
#define VISIT(name) Py_VISIT(st->name);
    STATE_OBJECTS(VISIT)
#undef VISIT
    return 0;
}

static int
module_clear(PyObject *module)
{
    sf_state *st = sf_state_from_module(module);
#define CLEAR(name) Py_CLEAR(st->name);
    STATE_OBJECTS(CLEAR)
#undef CLEAR
    return 0;
}

static void
module_free(void *module)
{
    module_clear((PyObject *)module);
}

static int
load_exceptions(sf_state *st)
{
    PyObject *mod = PyImport_ImportModule("sentinelfast.exceptions");
    if (mod == NULL)
        return -1;
#define LOAD(name)                                                  \
    if ((st->name = PyObject_GetAttrString(mod, #name)) == NULL) {  \
        Py_DECREF(mod);                                             \
        return -1;                                                  \
    }
    LOAD(RedisError) LOAD(ConnectionError) LOAD(TimeoutError) LOAD(AuthenticationError)
    LOAD(BusyLoadingError) LOAD(MaxConnectionsError) LOAD(InvalidResponse)
    LOAD(ResponseError) LOAD(DataError) LOAD(ReadOnlyError) LOAD(ExecAbortError)
    LOAD(WatchError) LOAD(error_from_reply)
#undef LOAD
    Py_DECREF(mod);
    return 0;
}

static int
intern_strings(sf_state *st)
{
#define STR(field, text)                                        \
    if ((st->field = PyUnicode_InternFromString(text)) == NULL) \
        return -1;
    STR(str_OK, "OK")
    STR(str_QUEUED, "QUEUED")
    STR(str_utf8, "utf-8")
    STR(str_strict, "strict")
    STR(str_NEVER_DECODE, "NEVER_DECODE")
    STR(str_EMPTY_RESPONSE, "EMPTY_RESPONSE")
    STR(str_keys, "keys")
    STR(str_connection_pool, "connection_pool")
    STR(str_response_callbacks, "response_callbacks")
    STR(str_AUTH, "AUTH")
    STR(str_CLIENT_SETNAME, "CLIENT SETNAME")
    STR(str_SELECT, "SELECT")
    STR(str_PING, "PING")
    STR(str_ROLE, "ROLE")
    STR(str_localhost, "localhost")
    STR(str_SENTINEL, "SENTINEL")
    STR(str_MASTER, "MASTER")
    STR(str_SLAVES, "SLAVES")
    STR(str_MULTI, "MULTI")
    STR(str_EXEC, "EXEC")
    STR(str_reset, "reset")
    STR(str_immediate_execute_command, "immediate_execute_command")
#undef STR
    return 0;
}

static int
add_type(PyObject *module, PyType_Spec *spec, PyTypeObject **slot, const char *name)
{
    PyObject *tp = PyType_FromModuleAndSpec(module, spec, NULL);
    if (tp == NULL)
        return -1;
    *slot = (PyTypeObject *)tp;
    return PyModule_AddObjectRef(module, name, tp);
}

static int
module_exec(PyObject *module)
{
    static int atfork_done = 0;
    sf_state *st = sf_state_from_module(module);
    if (intern_strings(st) < 0 || load_exceptions(st) < 0)
        return -1;
    if (add_type(module, &sf_connection_spec, &st->ConnectionType, "Connection") < 0
        || add_type(module, &sf_pool_spec, &st->PoolType, "Pool") < 0
        || add_type(module, &sf_client_spec, &st->ClientType, "Client") < 0
        || add_type(module, &sf_service_spec, &st->ServiceType, "Service") < 0
        || add_type(module, &sf_monitor_spec, &st->MonitorType, "Monitor") < 0
        || add_type(module, &sf_handshake_spec, &st->HandshakeType, "Handshake") < 0
        || add_type(module, &sf_tls_context_spec, &st->TLSContextType, "TLSContext") < 0
        || add_type(module, &sf_reader_spec, &st->ReaderType, "Reader") < 0)
        return -1;
    if (sf_backoff_exec(module, st) < 0)   /* backoff strategies */
        return -1;
    if (sf_pipeline_exec(module, st) < 0)  /* PipelineCore, a subtype of Client */
        return -1;
    if (sf_fast_command_exec(module) < 0)  /* FastCommand (GET/SET methods) */
        return -1;
    if (!atfork_done) {
        if (pthread_atfork(NULL, NULL, after_fork_in_child) != 0) {
            PyErr_SetString(PyExc_RuntimeError, "pthread_atfork failed");
            return -1;
        }
        atfork_done = 1;
    }
    if (PyModule_AddFunctions(module, sf_reply_parser_methods) < 0
        || PyModule_AddFunctions(module, sf_protocol_methods) < 0
        || PyModule_AddFunctions(module, sf_resp_methods) < 0)
        return -1;
    if (PyModule_AddIntConstant(module, "HANDSHAKE_OK", SF_HANDSHAKE_OK) < 0
        || PyModule_AddIntConstant(module, "HANDSHAKE_NOT_MASTER", SF_HANDSHAKE_NOT_MASTER) < 0
        || PyModule_AddIntConstant(module, "REPLY_VALUE", SF_REPLY_VALUE) < 0
        || PyModule_AddIntConstant(module, "REPLY_ERROR", SF_REPLY_ERROR) < 0
        || PyModule_AddIntConstant(module, "REPLY_DEMOTED", SF_REPLY_DEMOTED) < 0
        || PyModule_AddIntConstant(module, "SHAPE_LIST", SF_SHAPE_LIST) < 0
        || PyModule_AddIntConstant(module, "SHAPE_SCORED_PAIRS", SF_SHAPE_SCORED_PAIRS) < 0)
        return -1;
    if (PyModule_AddIntConstant(module, "HIREDIS_MAJOR", HIREDIS_MAJOR) < 0
        || PyModule_AddIntConstant(module, "HIREDIS_MINOR", HIREDIS_MINOR) < 0)
        return -1;
    return 0;
}

static PyObject *
fork_generation(PyObject *module, PyObject *unused)
{
    return PyLong_FromUnsignedLong(sf_fork_generation);
}

static PyObject *
retry_count(PyObject *module, PyObject *unused)
{
    return PyLong_FromUnsignedLong(__atomic_load_n(&sf_retry_count, __ATOMIC_RELAXED));
}

static PyMethodDef module_methods[] = {
    {"retry_count", retry_count, METH_NOARGS,
     "How many times the retry loop has run a command again, in this process."},
    {"discover_master", (PyCFunction)(void (*)(void))sf_discover_master, METH_FASTCALL,
     "discover_master(sentinels, service_name, min_other_sentinels) -> "
     "(index, (ip, port)) or (None, [errors])"},
    {"discover_replicas", (PyCFunction)(void (*)(void))sf_discover_replicas, METH_FASTCALL,
     "discover_replicas(sentinels, service_name) -> [(ip, port), ...]"},
    {"fork_generation", fork_generation, METH_NOARGS,
     "How many fork()s this process descends from since the module was loaded."},
    {NULL},
};

static PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, module_exec},
    {0, NULL},
};

PyModuleDef sf_module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "sentinelfast._core",
    .m_doc = "The native core of sentinelfast: sockets, RESP, connections, pools, "
             "Sentinel discovery and retries.",
    .m_size = sizeof(sf_state),
    .m_methods = module_methods,
    .m_slots = module_slots,
    .m_traverse = module_traverse,
    .m_clear = module_clear,
    .m_free = module_free,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    return PyModuleDef_Init(&sf_module_def);
}
