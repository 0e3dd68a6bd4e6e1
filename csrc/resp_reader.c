/* hiredis reader callbacks that build Python objects directly.
 *
 * A callback never returns NULL for a Python error: hiredis would report that as
 * "out of memory". Instead the exception is stashed in the context, a placeholder
 * (None) takes the object's place, and sf_reader_next raises it once the whole
 * reply has been read, so the stream stays in step. */
#include "resp_reader.h"

#if HIREDIS_MAJOR >= 1
typedef size_t sf_array_len;
#else
typedef int sf_array_len;
#endif

static void
stash_error(sf_reader_ctx *ctx)
{
    if (ctx->pending_exc == NULL)
        ctx->pending_exc = sf_err_fetch();
    else
        PyErr_Clear();
}

/* Attach `obj` to its parent list (if it has one) and return it. */
static void *
attach(const redisReadTask *task, PyObject *obj)
{
    if (task->parent != NULL) {
        PyObject *parent = (PyObject *)task->parent->obj;
        PyList_SET_ITEM(parent, task->idx, obj);   /* steals the reference */
    }
    return obj;
}

static void *
placeholder(const redisReadTask *task, sf_reader_ctx *ctx)
{
    stash_error(ctx);
    return attach(task, Py_NewRef(Py_None));
}

static PyObject *
error_instance(sf_reader_ctx *ctx, const char *s, size_t len)
{
    PyObject *text = PyUnicode_DecodeUTF8(s, (Py_ssize_t)len, "replace");
    if (text == NULL)
        return NULL;
    PyObject *exc = PyObject_CallOneArg(ctx->st->error_from_reply, text);
    Py_DECREF(text);
    return exc;
}

static void *
create_string(const redisReadTask *task, char *s, size_t len)
{
    sf_reader_ctx *ctx = task->privdata;
    PyObject *obj;
    if (task->type == REDIS_REPLY_ERROR)
        obj = error_instance(ctx, s, len);
    else if (!ctx->decode)
        obj = PyBytes_FromStringAndSize(s, (Py_ssize_t)len);
    else if (ctx->utf8_strict)
        obj = PyUnicode_DecodeUTF8(s, (Py_ssize_t)len, NULL);
    else
        obj = PyUnicode_Decode(s, (Py_ssize_t)len, PyUnicode_AsUTF8(ctx->encoding),
                               PyUnicode_AsUTF8(ctx->errors));
    if (obj == NULL)
        return placeholder(task, ctx);
    return attach(task, obj);
}

static void *
create_array(const redisReadTask *task, sf_array_len len)
{
    sf_reader_ctx *ctx = task->privdata;
    PyObject *obj = PyList_New((Py_ssize_t)len);
    if (obj == NULL)
        return placeholder(task, ctx);
    return attach(task, obj);
}

static void *
create_integer(const redisReadTask *task, long long value)
{
    sf_reader_ctx *ctx = task->privdata;
    PyObject *obj = PyLong_FromLongLong(value);
    if (obj == NULL)
        return placeholder(task, ctx);
    return attach(task, obj);
}

static void *
create_nil(const redisReadTask *task)
{
    return attach(task, Py_NewRef(Py_None));
}

static void
free_object(void *obj)
{
    Py_XDECREF((PyObject *)obj);
}

static redisReplyObjectFunctions python_objects = {
    .createString = create_string,
    .createArray = create_array,
    .createInteger = create_integer,
    .createNil = create_nil,
    .freeObject = free_object,
};

redisReader *
sf_reader_new(sf_reader_ctx *ctx)
{
    redisReader *r = redisReaderCreateWithFunctions(&python_objects);
    if (r == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    r->privdata = ctx;
    return r;
}

void
sf_reader_free(redisReader *r)
{
    if (r != NULL)
        redisReaderFree(r);
}

int
sf_reader_next(redisReader *r, PyObject **reply)
{
    sf_reader_ctx *ctx = r->privdata;
    void *obj = NULL;
    if (redisReaderGetReply(r, &obj) == REDIS_ERR) {
        Py_CLEAR(ctx->pending_exc);
        PyErr_Format(ctx->st->InvalidResponse, "Protocol error: %s", r->errstr);
        return -1;
    }
    if (obj == NULL)
        return 0;
    if (ctx->pending_exc != NULL) {
        Py_DECREF((PyObject *)obj);
        sf_err_restore(ctx->pending_exc);
        ctx->pending_exc = NULL;
        return -1;
    }
    *reply = obj;
    return 1;
}
