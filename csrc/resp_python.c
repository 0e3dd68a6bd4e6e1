/* The I/O-free protocol layer for Python: `_core.Reader` (bytes in, replies out)
 * and `_core.encode_command` (arguments in, bytes out). The blocking Connection
 * drives the same C reader and encoder; an asyncio client drives these. */
#include "sentinelfast.h"
#include "resp_reader.h"
#include "resp_writer.h"

#include <structmember.h>

#include <string.h>

/* ---------------------------------------------------------------- Reader */

typedef struct {
    PyObject_HEAD
    sf_reader *reader;
    sf_reader_ctx ctx;
    PyObject *encoding;          /* str */
    PyObject *encoding_errors;   /* str */
    int busy;                    /* a call is running (another thread, or re-entered from a codec) */
} reader_obj;

static int
enter(reader_obj *self)
{
    if (__atomic_exchange_n(&self->busy, 1, __ATOMIC_ACQUIRE)) {
        PyErr_SetString(PyExc_RuntimeError,
                        "Reader is already in use (by another thread or re-entered)");
        return -1;
    }
    return 0;
}

static void
leave(reader_obj *self)
{
    __atomic_store_n(&self->busy, 0, __ATOMIC_RELEASE);
}

static PyObject *
reader_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"decode_responses", "encoding", "encoding_errors", NULL};
    int decode = 0;
    PyObject *encoding = NULL, *errors = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$pUU:Reader", kwlist,
                                     &decode, &encoding, &errors))
        return NULL;
    sf_state *st = sf_state_from_type(type);
    if (st == NULL)
        return NULL;
    if (encoding == NULL)
        encoding = st->str_utf8;
    if (errors == NULL)
        errors = st->str_strict;
    /* Check the codec and error handler now rather than on the first reply. */
    const char *enc = PyUnicode_AsUTF8(encoding);
    const char *err = enc != NULL ? PyUnicode_AsUTF8(errors) : NULL;
    if (err == NULL)
        return NULL;
    PyObject *probe = PyUnicode_Decode("OK", 2, enc, err);
    if (probe == NULL)
        return NULL;
    Py_DECREF(probe);
    PyObject *handler = PyCodec_LookupError(err);
    if (handler == NULL)
        return NULL;
    Py_DECREF(handler);

    reader_obj *self = (reader_obj *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->encoding = Py_NewRef(encoding);
    self->encoding_errors = Py_NewRef(errors);
    self->ctx.st = st;
    self->ctx.decode = decode;
    self->ctx.encoding = self->encoding;
    self->ctx.errors = self->encoding_errors;
    self->ctx.utf8_strict = (strcmp(enc, "utf-8") == 0 || strcmp(enc, "utf8") == 0
                             || strcmp(enc, "UTF-8") == 0 || strcmp(enc, "UTF8") == 0)
                            && strcmp(err, "strict") == 0;
    self->reader = sf_reader_new(&self->ctx);
    if (self->reader == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void
reader_dealloc(reader_obj *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    sf_reader_free(self->reader);
    Py_CLEAR(self->ctx.pending_exc);
    Py_CLEAR(self->encoding);
    Py_CLEAR(self->encoding_errors);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyObject *
reader_feed(reader_obj *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"data", "offset", "length", NULL};
    Py_buffer view;
    Py_ssize_t offset = 0, length = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*|nn:feed", kwlist, &view, &offset, &length))
        return NULL;
    PyObject *result = NULL;
    if (offset < 0 || offset > view.len) {
        PyErr_SetString(PyExc_ValueError, "offset out of range");
        goto done;
    }
    if (length == -1)
        length = view.len - offset;
    if (length < 0 || length > view.len - offset) {
        PyErr_SetString(PyExc_ValueError, "length out of range");
        goto done;
    }
    if (enter(self) < 0)
        goto done;
    int r = sf_reader_feed(self->reader, (const char *)view.buf + offset, (size_t)length);
    leave(self);
    if (r == 0)
        result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&view);
    return result;
}

static PyObject *
reader_gets(reader_obj *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    /* (no argument parser: gets() runs once a reply on the asyncio client's hot path) */
    long shape = SF_SHAPE_LIST;
    Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs != 0 || nkw > 1
        || (nkw == 1 && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "shape"))) {
        PyErr_SetString(PyExc_TypeError, "gets() takes only the keyword argument shape");
        return NULL;
    }
    if (nkw == 1) {
        shape = PyLong_AsLong(args[0]);
        if (shape == -1 && PyErr_Occurred())
            return NULL;
        if (shape != SF_SHAPE_LIST && shape != SF_SHAPE_SCORED_PAIRS) {
            PyErr_SetString(PyExc_ValueError, "shape must be one of the SHAPE_* constants");
            return NULL;
        }
    }
    if (enter(self) < 0)
        return NULL;
    PyObject *reply = NULL;
    self->ctx.shape = (int)shape;
    int r = sf_reader_next(self->reader, &reply);
    self->ctx.shape = SF_SHAPE_LIST;
    leave(self);
    if (r < 0)
        return NULL;
    if (r == 0)
        Py_RETURN_FALSE;
    return reply;
}

static PyObject *
reader_buffered(reader_obj *self, PyObject *unused)
{
    return PyLong_FromSize_t(sf_reader_buffered(self->reader));
}

static PyObject *
reader_has_data(reader_obj *self, PyObject *unused)
{
    return PyBool_FromLong(sf_reader_buffered(self->reader) > 0);
}

static PyObject *
reader_get_broken(reader_obj *self, void *closure)
{
    return PyBool_FromLong(sf_reader_broken(self->reader));
}

static PyObject *
reader_get_decode(reader_obj *self, void *closure)
{
    return PyBool_FromLong(self->ctx.decode);
}

static PyMethodDef reader_methods[] = {
    {"feed", (PyCFunction)(void (*)(void))reader_feed, METH_VARARGS | METH_KEYWORDS,
     "feed(data, offset=0, length=-1)\n--\n\n"
     "Append data[offset:offset+length] (any bytes-like object) to the input."},
    {"gets", (PyCFunction)(void (*)(void))reader_gets, METH_FASTCALL | METH_KEYWORDS,
     "gets(*, shape=SHAPE_LIST)\n--\n\n"
     "The next complete reply, or False when more input is needed. `shape` says how a "
     "reply that is an array and starts in this call is built: SHAPE_LIST a list, "
     "SHAPE_SCORED_PAIRS what redis-py's zset_score_pairs makes of it "
     "([(member, float(score)), ...]). Error replies are "
     "returned as exception instances (ResponseError and its subclasses). Raises "
     "InvalidResponse for a protocol error and MemoryError when a reply cannot be "
     "stored; after either the reader is broken and every call raises InvalidResponse. "
     "A decode error is raised once its whole reply has been read (the stream stays usable)."},
    {"buffered", (PyCFunction)reader_buffered, METH_NOARGS,
     "buffered()\n--\n\n"
     "How many bytes were fed that are not part of a reply returned yet."},
    {"has_data", (PyCFunction)reader_has_data, METH_NOARGS,
     "has_data()\n--\n\nbuffered() > 0."},
    {NULL},
};

static PyGetSetDef reader_getset[] = {
    {"broken", (getter)reader_get_broken, NULL,
     "True once a protocol error or an allocation failure made the reader unusable.", NULL},
    {"decode_responses", (getter)reader_get_decode, NULL,
     "Whether bulk and status strings become str.", NULL},
    {NULL},
};

static PyMemberDef reader_members[] = {
    {"encoding", T_OBJECT_EX, offsetof(reader_obj, encoding), READONLY,
     "Codec for decoding replies when decode_responses is true."},
    {"encoding_errors", T_OBJECT_EX, offsetof(reader_obj, encoding_errors), READONLY,
     "Error handler for decoding."},
    {NULL},
};

static PyType_Slot reader_slots[] = {
    {Py_tp_doc, "Reader(*, decode_responses=False, encoding='utf-8', encoding_errors='strict')\n"
                "--\n\n"
                "An I/O-free RESP2 reply reader: feed() bytes as they arrive, gets() replies.\n"
                "Replies are bytes (str when decode_responses), int, list, None, and error\n"
                "replies as instances of the sentinelfast.exceptions class redis-py uses.\n"
                "Used by one thread at a time."},
    {Py_tp_new, reader_new},
    {Py_tp_dealloc, reader_dealloc},
    {Py_tp_methods, reader_methods},
    {Py_tp_getset, reader_getset},
    {Py_tp_members, reader_members},
    {0, NULL},
};

PyType_Spec sf_reader_spec = {
    .name = "sentinelfast._core.Reader",
    .basicsize = sizeof(reader_obj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = reader_slots,
};

/* ---------------------------------------------------------------- encode_command */

static PyObject *
encode_command(PyObject *module, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    sf_state *st = sf_state_from_module(module);
    PyObject *encoding = st->str_utf8, *errors = st->str_strict;
    Py_ssize_t nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i), *value = args[nargs + i];
        PyObject **slot;
        if (PyUnicode_CompareWithASCIIString(name, "encoding") == 0)
            slot = &encoding;
        else if (PyUnicode_CompareWithASCIIString(name, "errors") == 0)
            slot = &errors;
        else {
            PyErr_Format(PyExc_TypeError,
                         "encode_command() got an unexpected keyword argument '%U'", name);
            return NULL;
        }
        if (!PyUnicode_Check(value)) {
            PyErr_Format(PyExc_TypeError, "encode_command() argument '%U' must be str", name);
            return NULL;
        }
        *slot = value;
    }
    sf_encoder enc;
    if (sf_encoder_set(&enc, encoding, errors) < 0)
        return NULL;
    sf_buf out = {0};
    PyObject *result = NULL;
    if (sf_encode_command(st, &out, &enc, args, nargs) == 0)
        result = PyBytes_FromStringAndSize(out.data, (Py_ssize_t)out.len);
    sf_buf_free(&out);
    return result;
}

PyMethodDef sf_resp_methods[] = {
    {"encode_command", (PyCFunction)(void (*)(void))encode_command,
     METH_FASTCALL | METH_KEYWORDS,
     "encode_command(*args, encoding='utf-8', errors='strict') -> bytes\n--\n\n"
     "One command in RESP, by the connection's rules (redis-py's): a command name "
     "with spaces is split into words; bytes-like arguments are sent as is, str "
     "encoded, int and float formatted with repr(); bool, None and other types raise "
     "DataError."},
    {NULL},
};
