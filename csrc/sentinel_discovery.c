/* Sentinel discovery: ask the Sentinels, in order, where the master and the replicas
 * of a service are.
 *
 * Each Sentinel is asked once per discovery, with its own socket timeouts and no
 * retries, so a dead or hung Sentinel costs at most one timeout before the next one
 * is asked. The caller (sentinelfast.sentinel.Sentinel) moves the Sentinel that
 * answered to the front of its list. */
#include "client.h"
#include "sentinel_flags.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Value of `field` in a flat [field, value, field, value, ...] reply, or NULL. */
static PyObject *
field(PyObject *pairs, const char *name)
{
    Py_ssize_t n = PyList_GET_SIZE(pairs);
    size_t len = strlen(name);
    for (Py_ssize_t i = 0; i + 1 < n; i += 2) {
        PyObject *key = PyList_GET_ITEM(pairs, i);
        if (PyBytes_Check(key) && (size_t)PyBytes_GET_SIZE(key) == len
            && memcmp(PyBytes_AS_STRING(key), name, len) == 0)
            return PyList_GET_ITEM(pairs, i + 1);
    }
    return NULL;
}

/* Does the comma-separated `flags` value contain `flag`? */
static int
has_flag(PyObject *flags, const char *flag)
{
    return flags != NULL && PyBytes_Check(flags)
           && sf_has_flag(PyBytes_AS_STRING(flags), (size_t)PyBytes_GET_SIZE(flags), flag);
}

static long
int_field(PyObject *pairs, const char *name)
{
    PyObject *v = field(pairs, name);
    if (v == NULL || !PyBytes_Check(v))
        return -1;
    return strtol(PyBytes_AS_STRING(v), NULL, 10);
}

/* A port as Sentinel sends it: decimal digits only, 1-65535; else -1. */
static long
port_of(PyObject *value)
{
    if (value == NULL || !PyBytes_Check(value))
        return -1;
    const char *text = PyBytes_AS_STRING(value);
    Py_ssize_t len = PyBytes_GET_SIZE(value);
    if (len == 0 || text[0] < '0' || text[0] > '9')   /* no sign, no blank */
        return -1;
    char *end;
    errno = 0;
    long port = strtol(text, &end, 10);
    if (errno != 0 || end != text + len || port < 1 || port > 65535)
        return -1;
    return port;
}

/* The (ip: str, port: int) of a state reply, checked: the host must be non-empty
 * UTF-8 without NUL, the port 1-65535. Returns a new reference; or NULL and
 * *problem (a new reference: what is wrong, for the log) if the address is not
 * usable; or NULL with an exception set. */
static PyObject *
address_of(PyObject *pairs, PyObject **problem)
{
    *problem = NULL;
    PyObject *ip = field(pairs, "ip");
    PyObject *port_value = field(pairs, "port");
    if (ip == NULL || !PyBytes_Check(ip) || port_value == NULL || !PyBytes_Check(port_value)) {
        *problem = PyUnicode_FromString("no ip/port in the reply");
        return NULL;
    }
    const char *text = PyBytes_AS_STRING(ip);
    Py_ssize_t len = PyBytes_GET_SIZE(ip);
    PyObject *host = PyUnicode_DecodeUTF8(text, len, "strict");
    if (host == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
            return NULL;
        PyErr_Clear();
    }
    long port = port_of(port_value);
    if (host == NULL || len == 0 || memchr(text, '\0', (size_t)len) != NULL || port < 0) {
        Py_XDECREF(host);
        /* The host as redis-py decodes it (invalid bytes replaced) for the message. */
        PyObject *shown = PyUnicode_DecodeUTF8(text, len, "replace");
        if (shown == NULL)
            return NULL;
        *problem = PyUnicode_FromFormat("invalid address: ip %R, port %R", shown, port_value);
        Py_DECREF(shown);
        return NULL;
    }
    PyObject *address = Py_BuildValue("(Nl)", host, port);
    return address;
}

/* Log (WARNING, logger sentinelfast.sentinel) that part of a Sentinel's answer is
 * not used: `skipped` says which. */
static int
warn_skipped(PyObject *client, PyObject *service_name, PyObject *problem, const char *skipped)
{
    PyObject *logging = PyImport_ImportModule("logging");
    if (logging == NULL)
        return -1;
    PyObject *logger = PyObject_CallMethod(logging, "getLogger", "s", "sentinelfast.sentinel");
    Py_DECREF(logging);
    if (logger == NULL)
        return -1;
    PyObject *r = PyObject_CallMethod(logger, "warning", "sOOOs",
                                      "Sentinel %r, service %r: %s; %s",
                                      client, service_name, problem, skipped);
    Py_DECREF(logger);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

static int
is_transport_error(sf_state *st)
{
    return PyErr_ExceptionMatches(st->ConnectionError) || PyErr_ExceptionMatches(st->TimeoutError);
}

/* "<client repr> - <exception repr>" for the MasterNotFoundError message. */
static int
collect_error(PyObject *errors, PyObject *client)
{
    PyObject *exc = sf_err_fetch();
    PyObject *text = PyUnicode_FromFormat("%R - %R", client, exc);
    Py_XDECREF(exc);
    if (text == NULL)
        return -1;
    int r = PyList_Append(errors, text);
    Py_DECREF(text);
    return r;
}

/* discover_master(sentinels, service_name, min_other_sentinels)
 *   -> (index, (ip, port))  the first Sentinel whose view passes the state check
 *   -> (None, [errors])     no Sentinel knows a healthy master */
PyObject *
sf_discover_master(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    sf_state *st = sf_state_from_module(module);
    if (nargs != 3 || !PyList_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError,
                        "discover_master(sentinels: list, service_name, min_other_sentinels)");
        return NULL;
    }
    long min_other = PyLong_AsLong(args[2]);
    if (min_other == -1 && PyErr_Occurred())
        return NULL;
    PyObject *sentinels = PySequence_List(args[0]);   /* a copy: the list may change */
    PyObject *errors = PyList_New(0);
    if (sentinels == NULL || errors == NULL)
        goto fail;
    PyObject *command[] = {st->str_SENTINEL, st->str_MASTER, args[1]};
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(sentinels); i++) {
        PyObject *client = PyList_GET_ITEM(sentinels, i);
        PyObject *state = sf_client_execute_once(st, client, command, 3);
        if (state == NULL) {
            if (is_transport_error(st)) {
                if (collect_error(errors, client) < 0)
                    goto fail;
                continue;
            }
            if (PyErr_ExceptionMatches(st->ResponseError)) {   /* unknown service here */
                PyErr_Clear();
                continue;
            }
            goto fail;
        }
        if (!PyList_Check(state)) {
            Py_DECREF(state);
            continue;
        }
        PyObject *flags = field(state, "flags");
        int healthy = has_flag(flags, "master") && !has_flag(flags, "s_down")
                      && !has_flag(flags, "o_down")
                      && int_field(state, "num-other-sentinels") >= min_other;
        if (!healthy) {
            Py_DECREF(state);
            continue;
        }
        PyObject *problem;
        PyObject *address = address_of(state, &problem);
        Py_DECREF(state);
        if (address == NULL) {
            if (problem == NULL)
                goto fail;
            /* Not usable: say so, and ask the next Sentinel. */
            PyObject *text = PyUnicode_FromFormat("%R - %U", client, problem);
            int r = text == NULL ? -1 : PyList_Append(errors, text);
            Py_XDECREF(text);
            if (r < 0 || warn_skipped(client, args[1], problem, "asking the next Sentinel") < 0) {
                Py_DECREF(problem);
                goto fail;
            }
            Py_DECREF(problem);
            continue;
        }
        Py_DECREF(sentinels);
        Py_DECREF(errors);
        return Py_BuildValue("(nN)", i, address);
    }
    Py_DECREF(sentinels);
    return Py_BuildValue("(ON)", Py_None, errors);
fail:
    Py_XDECREF(sentinels);
    Py_XDECREF(errors);
    return NULL;
}

/* discover_replicas(sentinels, service_name) -> [(ip, port), ...]
 * from the first Sentinel that knows at least one usable replica: not subjectively or
 * objectively down, and not disconnected from the Sentinel. */
PyObject *
sf_discover_replicas(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    sf_state *st = sf_state_from_module(module);
    if (nargs != 2 || !PyList_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "discover_replicas(sentinels: list, service_name)");
        return NULL;
    }
    PyObject *sentinels = PySequence_List(args[0]);
    if (sentinels == NULL)
        return NULL;
    PyObject *command[] = {st->str_SENTINEL, st->str_SLAVES, args[1]};
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(sentinels); i++) {
        PyObject *client = PyList_GET_ITEM(sentinels, i);
        PyObject *reply = sf_client_execute_once(st, client, command, 3);
        if (reply == NULL) {
            if (is_transport_error(st) || PyErr_ExceptionMatches(st->ResponseError)) {
                PyErr_Clear();
                continue;
            }
            Py_DECREF(sentinels);
            return NULL;
        }
        PyObject *alive = PyList_New(0);
        if (alive == NULL || !PyList_Check(reply)) {
            Py_XDECREF(alive);
            Py_DECREF(reply);
            if (PyErr_Occurred()) {
                Py_DECREF(sentinels);
                return NULL;
            }
            continue;
        }
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(reply); j++) {
            PyObject *replica = PyList_GET_ITEM(reply, j);
            if (!PyList_Check(replica))
                continue;
            PyObject *flags = field(replica, "flags");
            if (has_flag(flags, "s_down") || has_flag(flags, "o_down")
                || has_flag(flags, "disconnected"))
                continue;
            PyObject *problem = NULL;
            PyObject *address = address_of(replica, &problem);
            if (address == NULL && problem != NULL) {   /* skip this replica */
                int r = warn_skipped(client, args[1], problem, "replica skipped");
                Py_DECREF(problem);
                if (r == 0)
                    continue;
            }
            if (address == NULL || PyList_Append(alive, address) < 0) {
                Py_XDECREF(address);
                Py_DECREF(alive);
                Py_DECREF(reply);
                Py_DECREF(sentinels);
                return NULL;
            }
            Py_DECREF(address);
        }
        Py_DECREF(reply);
        if (PyList_GET_SIZE(alive) > 0) {
            Py_DECREF(sentinels);
            return alive;
        }
        Py_DECREF(alive);
    }
    Py_DECREF(sentinels);
    return PyList_New(0);
}
