/* Response callbacks on the hot path, in C: the reply shapes redis-py returns for
 * SET, HGETALL and the ZRANGE family, and the per-reply loop of pipelines.
 * Each behaves exactly as its Python counterpart documented in
 * sentinelfast/commands/parsers.py. */
#include "sentinelfast.h"
#include "resp_reader.h"

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
    /* Sized for its pairs up front: no resize while it fills. */
    PyObject *d = _PyDict_NewPresized(n / 2);
    for (Py_ssize_t i = 0; d != NULL && i + 1 < n; i += 2) {
        if (PyDict_SetItem(d, items[i], items[i + 1]) < 0)
            Py_CLEAR(d);
    }
    Py_DECREF(seq);
    return d;
}

/* Powers of ten a double holds exactly. */
static const double exact_powers_of_ten[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
};

/* A score as Redis usually writes it, [-]digits[.digits] with at most 15 digits in
 * all: 1 with *out set to exactly what float() gives, 0 for anything else (the
 * caller then takes the general path). With at most 15 digits the digits form an
 * integer a double holds exactly, and so is the power of ten dividing it; IEEE
 * division rounds the quotient correctly, which is float()'s result too. */
static int
short_decimal_to_double(const char *s, Py_ssize_t n, double *out)
{
    const char *p = s, *end = s + n;
    int negative = p < end && *p == '-';
    p += negative;
    const char *first = p;
    unsigned long long digits = 0;   /* wraps only past 15 digits, which are refused */
    while (p < end && (unsigned char)(*p - '0') < 10)
        digits = digits * 10 + (unsigned)(*p++ - '0');
    Py_ssize_t whole = p - first, fraction = 0;
    if (whole == 0)
        return 0;
    if (p < end) {
        if (*p != '.')
            return 0;
        const char *after_point = ++p;
        while (p < end && (unsigned char)(*p - '0') < 10)
            digits = digits * 10 + (unsigned)(*p++ - '0');
        fraction = p - after_point;
        if (fraction == 0 || p != end)
            return 0;
    }
    if (whole + fraction > 15)
        return 0;
    double v = (double)digits;
    if (fraction > 0)
        v /= exact_powers_of_ten[fraction];
    *out = negative ? -v : v;
    return 1;
}

/* float(score) for a bytes or str score, without the generic float() path. */
PyObject *
sf_score_to_float(PyObject *score)
{
    const char *s = NULL;
    Py_ssize_t n = 0;
    if (PyBytes_Check(score)) {
        s = PyBytes_AS_STRING(score);
        n = PyBytes_GET_SIZE(score);
    }
    else if (PyUnicode_Check(score)) {
        s = PyUnicode_AsUTF8AndSize(score, &n);
    }
    double fast;
    if (s != NULL && short_decimal_to_double(s, n, &fast))
        return PyFloat_FromDouble(fast);
    if (s != NULL) {
        char *end;
        double v = PyOS_string_to_double(s, &end, NULL);
        /* The whole score (a NUL inside it is not its end, as for float()). */
        if (!(v == -1.0 && PyErr_Occurred()) && end == s + n && n > 0)
            return PyFloat_FromDouble(v);
        PyErr_Clear();
    }
    else if (PyErr_Occurred()) {
        return NULL;
    }
    return PyNumber_Float(score);   /* the exact error float() gives */
}

PyObject *
sf_score_from_text(const char *text, Py_ssize_t len)
{
    double fast;
    if (short_decimal_to_double(text, len, &fast))
        return PyFloat_FromDouble(fast);
    PyObject *score = PyBytes_FromStringAndSize(text, len);
    if (score == NULL)
        return NULL;
    PyObject *v = sf_score_to_float(score);
    Py_DECREF(score);
    return v;
}

/* cast(score); a ValueError/TypeError is retried with float(score) first, as redis-py
 * does for scores in exponent form given to e.g. int. */
static PyObject *
cast_score(PyObject *cast, PyObject *score)
{
    if (cast == (PyObject *)&PyFloat_Type)
        return sf_score_to_float(score);
    PyObject *v = PyObject_CallOneArg(cast, score);
    if (v != NULL || !(PyErr_ExceptionMatches(PyExc_ValueError)
                       || PyErr_ExceptionMatches(PyExc_TypeError)))
        return v;
    PyErr_Clear();
    PyObject *f = sf_score_to_float(score);
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
        PyObject *pair = score ? PyTuple_New(2) : NULL;
        if (pair != NULL) {
            PyTuple_SET_ITEM(pair, 0, Py_NewRef(items[2 * i]));
            PyTuple_SET_ITEM(pair, 1, score);   /* steals score */
        }
        else {
            Py_XDECREF(score);
        }
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
    Py_ssize_t pos = 0, passed = 0;
    PyObject *k, *v;
    while (PyDict_Next(options, &pos, &k, &v))
        if (!(PyUnicode_Check(k) && is_client_option(k)))
            passed++;
    if (passed == 0)   /* only options for the client (keys=[name]): no dict to build */
        return PyObject_CallOneArg(callback, reply);
    PyObject *kwargs = PyDict_New();
    if (kwargs == NULL)
        return NULL;
    pos = 0;
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

/* Has `name` (str or bytes) an ASCII lower-case letter? Command names are short. */
static int
has_lower(PyObject *name)
{
    if (PyUnicode_Check(name)) {
        if (!PyUnicode_IS_ASCII(name))
            return 1;
        const Py_UCS1 *c = PyUnicode_1BYTE_DATA(name);
        for (Py_ssize_t i = 0, n = PyUnicode_GET_LENGTH(name); i < n; i++)
            if (c[i] >= 'a' && c[i] <= 'z')
                return 1;
        return 0;
    }
    if (PyBytes_Check(name)) {
        const char *c = PyBytes_AS_STRING(name);
        for (Py_ssize_t i = 0, n = PyBytes_GET_SIZE(name); i < n; i++)
            if (c[i] >= 'a' && c[i] <= 'z')
                return 1;
    }
    return 0;
}

PyObject *
sf_callback_lookup(PyObject *callbacks, PyObject *name)
{
    if (PyDict_Check(callbacks)) {
        PyObject *callback = PyDict_GetItemWithError(callbacks, name);
        if (callback != NULL || PyErr_Occurred())
            return Py_XNewRef(callback);
        if (PyDict_CheckExact(callbacks) || !has_lower(name))
            return NULL;
    }
    if (PyBytes_Check(name))      /* redis-py's table is keyed by str */
        return NULL;
    PyObject *callback = PyObject_CallMethod(callbacks, "get", "O", name);
    if (callback == Py_None)
        Py_CLEAR(callback);
    return callback;
}

PyObject *
sf_apply_callback(PyObject *callbacks, PyObject *name, PyObject *options, PyObject *reply,
                  PyObject *error_class)
{
    if (PyExceptionInstance_Check(reply)) {
        PyObject *empty = NULL;
        if (error_class != Py_None && options != NULL && PyDict_Check(options)
            && PyDict_GET_SIZE(options) != 0) {
            int is = PyObject_IsInstance(reply, error_class);
            if (is < 0)
                return NULL;
            if (is)
                empty = PyDict_GetItemString(options, "EMPTY_RESPONSE");
        }
        return Py_NewRef(empty ? empty : reply);
    }
    PyObject *callback = sf_callback_lookup(callbacks, name);
    if (callback == NULL)
        return PyErr_Occurred() ? NULL : Py_NewRef(reply);
    PyObject *result = call_callback(callback, reply, options);
    Py_DECREF(callback);
    return result;
}

PyObject *
sf_apply_callbacks(PyObject *stack_obj, PyObject *replies_obj, PyObject *callbacks,
                   PyObject *error_class)
{
    PyObject *stack = PySequence_Fast(stack_obj, "stack must be a sequence");
    PyObject *replies = stack ? PySequence_Fast(replies_obj, "replies must be a sequence") : NULL;
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
        PyObject *result = sf_apply_callback(callbacks, PyTuple_GET_ITEM(cmd, 0), options,
                                             reply, error_class);
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

/* apply_callbacks(stack, replies, callbacks, response_error_class) */
static PyObject *
apply_callbacks(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError,
                        "apply_callbacks(stack, replies, callbacks, response_error_class)");
        return NULL;
    }
    return sf_apply_callbacks(args[0], args[1], args[2], args[3]);
}

int
sf_callback_reply_shape(PyObject *callback, PyObject *options)
{
    if (options == NULL || !PyCFunction_Check(callback)
        || PyCFunction_GET_FUNCTION(callback) != (PyCFunction)(void (*)(void))parse_zset_range)
        return SF_SHAPE_LIST;
    PyObject *withscores = PyDict_GetItemString(options, "withscores");   /* borrowed */
    PyObject *cast = PyDict_GetItemString(options, "score_cast_func");
    if (withscores == NULL || (cast != NULL && cast != (PyObject *)&PyFloat_Type))
        return SF_SHAPE_LIST;
    int want = PyObject_IsTrue(withscores);
    return want < 0 ? -1 : want ? SF_SHAPE_SCORED_PAIRS : SF_SHAPE_LIST;
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
