/* RESP command encoding by redis-py's rules:
 *   bytes, bytearray, memoryview (any C-contiguous buffer) -> sent as is
 *   str   -> encoded with the connection's encoding and error handler
 *   int, float -> their repr() (bool is refused, as in redis-py)
 *   anything else -> DataError("Invalid input of type: '<name>'. Convert to a bytes,
 *                    string, int or float first.") */
#include "resp_writer.h"

#include <string.h>

void
sf_buf_free(sf_buf *b)
{
    PyMem_Free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int
sf_buf_grow(sf_buf *b, size_t extra)
{
    size_t need = b->len + extra;
    if (need < b->len) {
        PyErr_NoMemory();
        return -1;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    char *data = PyMem_Realloc(b->data, cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

/* "<prefix><n>\r\n" */
static int
append_header(sf_buf *out, char prefix, size_t n)
{
    if (sf_buf_reserve(out, 24) < 0)
        return -1;
    char *p = out->data + out->len;
    *p++ = prefix;
    char digits[20];
    int nd = 0;
    do {
        digits[nd++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    while (nd)
        *p++ = digits[--nd];
    *p++ = '\r';
    *p++ = '\n';
    out->len = (size_t)(p - out->data);
    return 0;
}

static int
append_bulk(sf_buf *out, const char *s, size_t n)
{
    if (append_header(out, '$', n) < 0 || sf_buf_reserve(out, n + 2) < 0)
        return -1;
    memcpy(out->data + out->len, s, n);
    out->len += n;
    out->data[out->len++] = '\r';
    out->data[out->len++] = '\n';
    return 0;
}

int
sf_encoder_set(sf_encoder *enc, PyObject *encoding, PyObject *errors)
{
    const char *e = PyUnicode_AsUTF8(encoding);
    const char *h = e != NULL ? PyUnicode_AsUTF8(errors) : NULL;
    if (h == NULL)
        return -1;
    int utf8 = strcmp(e, "utf-8") == 0 || strcmp(e, "utf8") == 0
               || strcmp(e, "UTF-8") == 0 || strcmp(e, "UTF8") == 0;
    enc->encoding = encoding;
    enc->errors = errors;
    enc->utf8_strict = utf8 && strcmp(h, "strict") == 0;
    return 0;
}

/* redis-py names the type by its __name__ (no module prefix). */
static int
data_error(sf_state *st, PyObject *arg)
{
    PyObject *name = PyType_GetName(Py_TYPE(arg));
    if (name == NULL)
        return -1;
    PyErr_Format(st->DataError,
                 "Invalid input of type: '%U'. Convert to a bytes, string, int or float first.",
                 name);
    Py_DECREF(name);
    return -1;
}

static int
append_str(sf_buf *out, const sf_encoder *enc, PyObject *arg)
{
    if (enc->utf8_strict) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(arg, &n);
        if (s == NULL)
            return -1;
        return append_bulk(out, s, (size_t)n);
    }
    PyObject *b = PyUnicode_AsEncodedString(arg, PyUnicode_AsUTF8(enc->encoding),
                                            PyUnicode_AsUTF8(enc->errors));
    if (b == NULL)
        return -1;
    if (!PyBytes_Check(b)) {
        Py_DECREF(b);
        PyErr_SetString(PyExc_TypeError, "encoder did not return bytes");
        return -1;
    }
    int r = append_bulk(out, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
    Py_DECREF(b);
    return r;
}

static int
append_repr(sf_buf *out, PyObject *arg)
{
    PyObject *r = PyObject_Repr(arg);
    if (r == NULL)
        return -1;
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(r, &n);
    int rc = s ? append_bulk(out, s, (size_t)n) : -1;
    Py_DECREF(r);
    return rc;
}

static int
append_arg(sf_state *st, sf_buf *out, const sf_encoder *enc, PyObject *arg)
{
    PyTypeObject *tp = Py_TYPE(arg);
    if (tp == &PyBytes_Type)
        return append_bulk(out, PyBytes_AS_STRING(arg), (size_t)PyBytes_GET_SIZE(arg));
    if (tp == &PyUnicode_Type)
        return append_str(out, enc, arg);
    if (tp == &PyLong_Type) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(arg, &overflow);
        if (v == -1 && PyErr_Occurred())
            return -1;
        if (overflow)
            return append_repr(out, arg);
        char tmp[24];
        int n = snprintf(tmp, sizeof tmp, "%lld", v);
        return append_bulk(out, tmp, (size_t)n);
    }
    if (PyBytes_Check(arg))
        return append_bulk(out, PyBytes_AS_STRING(arg), (size_t)PyBytes_GET_SIZE(arg));
    if (PyByteArray_Check(arg) || PyMemoryView_Check(arg)) {
        Py_buffer view;
        if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
            return -1;
        int r = append_bulk(out, view.buf, (size_t)view.len);
        PyBuffer_Release(&view);
        return r;
    }
    if (PyBool_Check(arg))
        return data_error(st, arg);
    if (PyLong_Check(arg) || PyFloat_Check(arg))
        return append_repr(out, arg);
    if (PyUnicode_Check(arg))
        return append_str(out, enc, arg);
    return data_error(st, arg);
}

/* Count the words of a command name like "CONFIG GET" (split on ASCII whitespace). */
static Py_ssize_t
split_words(const char *s, Py_ssize_t n, const char **starts, Py_ssize_t *lens, Py_ssize_t max)
{
    Py_ssize_t count = 0, i = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'
                         || s[i] == '\v' || s[i] == '\f'))
            i++;
        if (i >= n)
            break;
        Py_ssize_t start = i;
        while (i < n && !(s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'
                          || s[i] == '\v' || s[i] == '\f'))
            i++;
        if (count < max) {
            starts[count] = s + start;
            lens[count] = i - start;
        }
        count++;
    }
    return count;
}

#define MAX_NAME_WORDS 8

int
sf_encode_command(sf_state *st, sf_buf *out, const sf_encoder *enc,
                  PyObject *const *args, Py_ssize_t nargs)
{
    size_t saved = out->len;
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "execute_command() needs a command name");
        return -1;
    }
    /* The command name may hold several words ("SENTINEL MASTERS"). */
    const char *name = NULL;
    Py_ssize_t name_len = 0;
    PyObject *first = args[0];
    if (PyUnicode_Check(first)) {
        name = PyUnicode_AsUTF8AndSize(first, &name_len);
        if (name == NULL)
            return -1;
    }
    else if (PyBytes_Check(first)) {
        name = PyBytes_AS_STRING(first);
        name_len = PyBytes_GET_SIZE(first);
        if (memchr(name, ' ', (size_t)name_len) == NULL)
            name = NULL;   /* redis-py splits bytes names only on a space */
    }

    const char *starts[MAX_NAME_WORDS];
    Py_ssize_t lens[MAX_NAME_WORDS];
    Py_ssize_t words = 1;
    if (name != NULL) {
        words = split_words(name, name_len, starts, lens, MAX_NAME_WORDS);
        if (words > MAX_NAME_WORDS) {
            PyErr_SetString(st->DataError, "command name has too many words");
            return -1;
        }
    }
    if (append_header(out, '*', (size_t)(words + nargs - 1)) < 0)
        goto error;
    Py_ssize_t i = 0;
    if (name != NULL) {
        for (Py_ssize_t w = 0; w < words; w++)
            if (append_bulk(out, starts[w], (size_t)lens[w]) < 0)
                goto error;
        i = 1;
    }
    for (; i < nargs; i++)
        if (append_arg(st, out, enc, args[i]) < 0)
            goto error;
    return 0;
error:
    out->len = saved;
    return -1;
}
