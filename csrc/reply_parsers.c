/* Response callbacks on the hot path, in C: the reply shapes redis-py returns for
 * SET, HGETALL and the ZRANGE family, and the per-reply loop of pipelines.
 * Each behaves exactly as its Python counterpart documented in
 * sentinelfast/commands/parsers.py. */
#include "sentinelfast.h"

#include <string.h>

/* kwargs[name] from a vectorcall keyword list, borrowed, or NULL. */
static PyObject *
keyword(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, const char *name)
{
    if (kwnames == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); i++)
        if (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, i), name) == 0)
            return args[nargs + i];
    return NULL;
}

static int
one_positional(Py_ssize_t nargs, const char *fn)
{
    if (nargs == 1)
        return 0;
    PyErr_Format(PyExc_TypeError, "%s() takes exactly one positional argument", fn);
    return -1;
}

/* SET -> True if OK, the reply itself if falsy (None), the old value with get=True. */
static PyObject *
parse_set_result(PyObject *module, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (one_positional(nargs, "parse_set_result") < 0)
        return NULL;
    PyObject *response = args[0];
    PyObject *get = keyword(args, nargs, kwnames, "get");
    if (get != NULL) {
        int truth = PyObject_IsTrue(get);
        if (truth < 0)
            return NULL;
        if (truth)
            return Py_NewRef(response);
    }
    int truth = PyObject_IsTrue(response);
    if (truth < 0)
        return NULL;
    if (!truth)
        return Py_NewRef(response);
    if (PyBytes_Check(response))
        return PyBool_FromLong(PyBytes_GET_SIZE(response) == 2
                               && memcmp(PyBytes_AS_STRING(response), "OK", 2) == 0);
    if (PyUnicode_Check(response))
        return PyBool_FromLong(PyUnicode_CompareWithASCIIString(response, "OK") == 0);
    Py_RETURN_FALSE;
}

/* [k1, v1, k2, v2, ...] -> {k1: v1, ...}; nil or empty -> {}. */
static PyObject *
pairs_to_dict(PyObject *module, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (one_positional(nargs, "pairs_to_dict") < 0)
        return NULL;
    PyObject *response = args[0];
    if (response == Py_None)
        return PyDict_New();
    PyObject *seq = PySequence_Fast(response, "pairs_to_dict() needs a sequence");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *d = PyDict_New();
    for (Py_ssize_t i = 0; d != NULL && i + 1 < n; i += 2) {
        if (PyDict_SetItem(d, items[i], items[i + 1]) < 0)
            Py_CLEAR(d);
    }
    Py_DECREF(seq);
    return d;
}

/* float(score) for a bytes or str score, without the generic float() path. */
static PyObject *
score_to_float(PyObject *score)
{
    const char *s = NULL;
    if (PyBytes_Check(score))
        s = PyBytes_AS_STRING(score);
    else if (PyUnicode_Check(score))
        s = PyUnicode_AsUTF8(score);
    if (s != NULL) {
        char *end;
        double v = PyOS_string_to_double(s, &end, NULL);
        if (!(v == -1.0 && PyErr_Occurred()) && *end == '\0' && end != s)
            return PyFloat_FromDouble(v);
        PyErr_Clear();
    }
    else if (PyErr_Occurred()) {
        return NULL;
    }
    return PyNumber_Float(score);   /* the exact error float() gives */
}

/* cast(score); a ValueError/TypeError is retried with float(score) first, as redis-py
 * does for scores in exponent form given to e.g. int. */
static PyObject *
cast_score(PyObject *cast, PyObject *score)
{
    if (cast == (PyObject *)&PyFloat_Type)
        return score_to_float(score);
    PyObject *v = PyObject_CallOneArg(cast, score);
    if (v != NULL || !(PyErr_ExceptionMatches(PyExc_ValueError)
                       || PyErr_ExceptionMatches(PyExc_TypeError)))
        return v;
    PyErr_Clear();
    PyObject *f = score_to_float(score);
    if (f == NULL)
        return NULL;
    v = PyObject_CallOneArg(cast, f);
    Py_DECREF(f);
    return v;
}

/* ZRANGE family: members, or [(member, score_cast_func(score)), ...] with withscores. */
static PyObject *
parse_zset_range(PyObject *module, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (one_positional(nargs, "parse_zset_range") < 0)
        return NULL;
    PyObject *response = args[0];
    PyObject *withscores = keyword(args, nargs, kwnames, "withscores");
    int want = withscores ? PyObject_IsTrue(withscores) : 0;
    if (want < 0)
        return NULL;
    int nonempty = PyObject_IsTrue(response);
    if (nonempty < 0)
        return NULL;
    if (!want || !nonempty)
        return Py_NewRef(response);
    PyObject *cast = keyword(args, nargs, kwnames, "score_cast_func");
    if (cast == NULL)
        cast = (PyObject *)&PyFloat_Type;
    PyObject *seq = PySequence_Fast(response, "a sorted-set reply must be a sequence");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq) / 2;
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *out = PyList_New(n);
    for (Py_ssize_t i = 0; out != NULL && i < n; i++) {
        PyObject *score = cast_score(cast, items[2 * i + 1]);
        PyObject *pair = score ? PyTuple_Pack(2, items[2 * i], score) : NULL;
        Py_XDECREF(score);
        if (pair == NULL)
            Py_CLEAR(out);
        else
            PyList_SET_ITEM(out, i, pair);
    }
    Py_DECREF(seq);
    return out;
}

/* Options the client consumes itself; the rest go to the callback. */
static int
is_client_option(PyObject *key)
{
    return PyUnicode_CompareWithASCIIString(key, "keys") == 0
           || PyUnicode_CompareWithASCIIString(key, "NEVER_DECODE") == 0
           || PyUnicode_CompareWithASCIIString(key, "EMPTY_RESPONSE") == 0;
}

static PyObject *
call_callback(PyObject *callback, PyObject *reply, PyObject *options)
{
    if (options == NULL || !PyDict_Check(options) || PyDict_GET_SIZE(options) == 0)
        return PyObject_CallOneArg(callback, reply);
    PyObject *kwargs = PyDict_New();
    if (kwargs == NULL)
        return NULL;
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(options, &pos, &k, &v)) {
        if (PyUnicode_Check(k) && is_client_option(k))
            continue;
        if (PyDict_SetItem(kwargs, k, v) < 0) {
            Py_DECREF(kwargs);
            return NULL;
        }
    }
    PyObject *r = PyObject_VectorcallDict(callback, &reply, 1, kwargs);
    Py_DECREF(kwargs);
    return r;
}

/* apply_callbacks(stack, replies, callbacks, response_error_class)
 * stack: [(args, options)], replies: raw replies in the same order.
 * Error replies stay exception instances; with an `EMPTY_RESPONSE` option a
 * ResponseError becomes that value (pass None as the class to keep every error). */
static PyObject *
apply_callbacks(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError,
                        "apply_callbacks(stack, replies, callbacks, response_error_class)");
        return NULL;
    }
    PyObject *stack = PySequence_Fast(args[0], "stack must be a sequence");
    PyObject *replies = stack ? PySequence_Fast(args[1], "replies must be a sequence") : NULL;
    PyObject *callbacks = args[2], *error_class = args[3];
    PyObject *out = NULL;
    if (replies == NULL)
        goto done;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(stack);
    if (PySequence_Fast_GET_SIZE(replies) != n) {
        PyErr_SetString(PyExc_ValueError, "stack and replies differ in length");
        goto done;
    }
    out = PyList_New(n);
    for (Py_ssize_t i = 0; out != NULL && i < n; i++) {
        PyObject *entry = PySequence_Fast_GET_ITEM(stack, i);
        PyObject *reply = PySequence_Fast_GET_ITEM(replies, i);
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 2
            || !PyTuple_Check(PyTuple_GET_ITEM(entry, 0))
            || PyTuple_GET_SIZE(PyTuple_GET_ITEM(entry, 0)) < 1) {
            PyErr_SetString(PyExc_TypeError, "stack entries must be (args, options)");
            Py_CLEAR(out);
            break;
        }
        PyObject *cmd = PyTuple_GET_ITEM(entry, 0), *options = PyTuple_GET_ITEM(entry, 1);
        PyObject *result;
        if (PyExceptionInstance_Check(reply)) {
            PyObject *empty = NULL;
            if (error_class != Py_None && PyDict_Check(options)
                && PyObject_IsInstance(reply, error_class) == 1)
                empty = PyDict_GetItemString(options, "EMPTY_RESPONSE");
            result = Py_NewRef(empty ? empty : reply);
        }
        else {
            PyObject *name = PyTuple_GET_ITEM(cmd, 0), *callback;
            if (PyDict_Check(callbacks)) {
                callback = Py_XNewRef(PyDict_GetItemWithError(callbacks, name));
            }
            else {   /* any mapping */
                callback = PyObject_CallMethod(callbacks, "get", "O", name);
                if (callback == Py_None)
                    Py_CLEAR(callback);
            }
            if (callback == NULL && PyErr_Occurred())
                result = NULL;
            else
                result = callback ? call_callback(callback, reply, options) : Py_NewRef(reply);
            Py_XDECREF(callback);
        }
        if (result == NULL)
            Py_CLEAR(out);
        else
            PyList_SET_ITEM(out, i, result);
    }
done:
    Py_XDECREF(stack);
    Py_XDECREF(replies);
    return out;
}

PyMethodDef sf_reply_parser_methods[] = {
    {"parse_set_result", (PyCFunction)(void (*)(void))parse_set_result,
     METH_FASTCALL | METH_KEYWORDS, "SET reply -> True/None (the old value with get=True)."},
    {"pairs_to_dict", (PyCFunction)(void (*)(void))pairs_to_dict, METH_FASTCALL | METH_KEYWORDS,
     "[k1, v1, ...] -> {k1: v1, ...} (nil -> {})."},
    {"parse_zset_range", (PyCFunction)(void (*)(void))parse_zset_range,
     METH_FASTCALL | METH_KEYWORDS,
     "ZRANGE family reply -> members, or (member, score) pairs with withscores=True."},
    {"apply_callbacks", (PyCFunction)(void (*)(void))apply_callbacks, METH_FASTCALL,
     "apply_callbacks(stack, replies, callbacks, response_error_class) -> parsed replies."},
    {NULL},
};
