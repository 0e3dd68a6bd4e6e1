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

/* Write "<prefix><n>\r\n" at p (at most 23 bytes); the end. Counts and lengths below
 * 100, the usual ones, without a loop. */
static inline char *
put_header(char *p, char prefix, size_t n)
{
    *p++ = prefix;
    if (n < 10) {
        *p++ = (char)('0' + n);
    }
    else if (n < 100) {
        *p++ = (char)('0' + n / 10);
        *p++ = (char)('0' + n % 10);
    }
    else {
        char digits[20];
        int nd = 0;
        do {
            digits[nd++] = (char)('0' + n % 10);
            n /= 10;
        } while (n);
        while (nd)
            *p++ = digits[--nd];
    }
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

#define HEADER_MAX 24

static int
append_header(sf_buf *out, char prefix, size_t n)
{
    if (sf_buf_reserve(out, HEADER_MAX) < 0)
        return -1;
    out->len = (size_t)(put_header(out->data + out->len, prefix, n) - out->data);
    return 0;
}

/* "$<n>\r\n<s>\r\n", with one check of the room for it all. */
static int
append_bulk(sf_buf *out, const char *s, size_t n)
{
    if (n > SIZE_MAX - HEADER_MAX - 2) {
        PyErr_NoMemory();
        return -1;
    }
    if (sf_buf_reserve(out, HEADER_MAX + n + 2) < 0)
        return -1;
    char *p = put_header(out->data + out->len, '$', n);
    memcpy(p, s, n);
    p += n;
    *p++ = '\r';
    *p++ = '\n';
    out->len = (size_t)(p - out->data);
    return 0;
}

/* An int that fits a long long, in decimal (what repr() gives). */
static int
append_integer(sf_buf *out, long long v)
{
    char digits[24], *end = digits + sizeof digits, *p = end;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    return append_bulk(out, p, (size_t)(end - p));
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
    if (PyUnicode_IS_COMPACT_ASCII(arg) && enc->utf8_strict)   /* its bytes are its UTF-8 */
        return append_bulk(out, (const char *)PyUnicode_DATA(arg),
                           (size_t)PyUnicode_GET_LENGTH(arg));
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
        return append_integer(out, v);
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

static int
is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* The next word of a command name like "CONFIG GET" (split on ASCII whitespace,
 * as bytes.split() does) at or after *pos: 1 with *word, *len set, 0 at the end. */
static int
next_word(const char *s, Py_ssize_t n, Py_ssize_t *pos, const char **word, Py_ssize_t *len)
{
    Py_ssize_t i = *pos;
    while (i < n && is_space(s[i]))
        i++;
    if (i >= n)
        return 0;
    Py_ssize_t start = i;
    while (i < n && !is_space(s[i]))
        i++;
    *word = s + start;
    *len = i - start;
    *pos = i;
    return 1;
}

int
sf_encode_command(sf_state *st, sf_buf *out, const sf_encoder *enc,
                  PyObject *const *args, Py_ssize_t nargs)
{
    size_t saved = out->len;
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "execute_command() needs a command name");
        return -1;
    }
    /* The command name may hold several words ("SENTINEL MASTERS"): redis-py splits
     * a str name always, a bytes or bytearray name when it holds a space. */
    const char *name = NULL;
    Py_ssize_t name_len = 0;
    PyObject *first = args[0];
    if (PyUnicode_Check(first)) {
        name = PyUnicode_AsUTF8AndSize(first, &name_len);
        if (name == NULL)
            return -1;
    }
    else if (PyBytes_Check(first) || PyByteArray_Check(first)) {
        name = PyBytes_Check(first) ? PyBytes_AS_STRING(first) : PyByteArray_AS_STRING(first);
        name_len = PyBytes_Check(first) ? PyBytes_GET_SIZE(first) : PyByteArray_GET_SIZE(first);
        if (memchr(name, ' ', (size_t)name_len) == NULL)
            name = NULL;
    }

    Py_ssize_t words = 1;
    const char *word;
    Py_ssize_t word_len, pos = 0;
    if (name != NULL) {
        Py_ssize_t k = 0;
        while (k < name_len && !is_space(name[k]))
            k++;
        if (k == name_len && name_len > 0) {
            /* one word, the usual case ("GET"): sent as it is */
            if (append_header(out, '*', (size_t)nargs) < 0
                || append_bulk(out, name, (size_t)name_len) < 0)
                goto error;
            for (Py_ssize_t i = 1; i < nargs; i++)
                if (append_arg(st, out, enc, args[i]) < 0)
                    goto error;
            return 0;
        }
        for (words = 0; next_word(name, name_len, &pos, &word, &word_len); words++)
            ;
    }
    if (append_header(out, '*', (size_t)(words + nargs - 1)) < 0)
        goto error;
    Py_ssize_t i = 0;
    if (name != NULL) {
        /* (a bytearray cannot change here: nothing below runs Python code before
         * the words are copied) */
        for (pos = 0; next_word(name, name_len, &pos, &word, &word_len);)
            if (append_bulk(out, word, (size_t)word_len) < 0)
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
