/* Protocol rules without I/O: the handshake's commands and the judgement of their
 * replies, and the meaning of a command's reply for its connection. */
#include "protocol.h"

#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- handshake */

static int
append(sf_state *st, sf_buf *out, const sf_encoder *enc, Py_ssize_t n, PyObject **args)
{
    return sf_encode_command(st, out, enc, args, n);
}

int
sf_handshake_build(sf_state *st, const sf_handshake_params *p, const sf_encoder *enc,
                   sf_buf *out, sf_handshake *hs)
{
    size_t start = out->len;
    hs->count = 0;
    if (p->password != NULL && p->password != Py_None) {
        PyObject *args[3];
        Py_ssize_t n = 0;
        args[n++] = st->str_AUTH;
        if (p->username != NULL && p->username != Py_None)
            args[n++] = p->username;
        args[n++] = p->password;
        if (append(st, out, enc, n, args) < 0)
            goto fail;
        hs->steps[hs->count++] = SF_STEP_AUTH;
    }
    if (p->client_name != NULL && p->client_name != Py_None) {
        PyObject *args[] = {st->str_CLIENT_SETNAME, p->client_name};
        if (append(st, out, enc, 2, args) < 0)
            goto fail;
        hs->steps[hs->count++] = SF_STEP_SETNAME;
    }
    if (p->db != 0) {
        PyObject *db = PyLong_FromLong(p->db);
        if (db == NULL)
            goto fail;
        PyObject *args[] = {st->str_SELECT, db};
        int r = append(st, out, enc, 2, args);
        Py_DECREF(db);
        if (r < 0)
            goto fail;
        hs->steps[hs->count++] = SF_STEP_SELECT;
    }
    if (p->check_role) {
        PyObject *role = st->str_ROLE;
        if (append(st, out, enc, 1, &role) < 0)
            goto fail;
        hs->steps[hs->count++] = SF_STEP_ROLE;
    }
    return 0;
fail:
    out->len = start;
    hs->count = 0;
    return -1;
}

static int
is_ok(PyObject *reply)
{
    if (PyBytes_Check(reply))
        return PyBytes_GET_SIZE(reply) == 2 && memcmp(PyBytes_AS_STRING(reply), "OK", 2) == 0;
    if (PyUnicode_Check(reply))
        return PyUnicode_CompareWithASCIIString(reply, "OK") == 0;
    return 0;
}

/* ROLE's first element is "master" on a master. */
static int
says_master(PyObject *reply)
{
    if (!PyList_Check(reply) || PyList_GET_SIZE(reply) == 0)
        return 0;
    PyObject *role = PyList_GET_ITEM(reply, 0);
    if (PyBytes_Check(role))
        return PyBytes_GET_SIZE(role) == 6 && memcmp(PyBytes_AS_STRING(role), "master", 6) == 0;
    if (PyUnicode_Check(role))
        return PyUnicode_CompareWithASCIIString(role, "master") == 0;
    return 0;
}

static PyObject *
new_error(PyObject *cls, const char *message)
{
    return PyObject_CallFunction(cls, "s", message);
}

int
sf_handshake_check(sf_state *st, const sf_handshake *hs, PyObject *const *replies,
                   PyObject **error)
{
    *error = NULL;
    for (int i = 0; i < hs->count; i++) {
        PyObject *reply = replies[i];
        if (PyExceptionInstance_Check(reply)) {
            *error = Py_NewRef(reply);
            return SF_HANDSHAKE_FAILED;
        }
        switch (hs->steps[i]) {
        case SF_STEP_ROLE:
            if (!says_master(reply)) {
                *error = new_error(st->ConnectionError,
                                   "The server is not a master (ROLE check); asking Sentinel "
                                   "again");
                return *error ? SF_HANDSHAKE_NOT_MASTER : -1;
            }
            break;
        case SF_STEP_AUTH:
            if (!is_ok(reply)) {
                *error = new_error(st->AuthenticationError, "Invalid Username or Password");
                return *error ? SF_HANDSHAKE_FAILED : -1;
            }
            break;
        case SF_STEP_SETNAME:
            if (!is_ok(reply)) {
                *error = new_error(st->ConnectionError, "Error setting client name");
                return *error ? SF_HANDSHAKE_FAILED : -1;
            }
            break;
        case SF_STEP_SELECT:
            if (!is_ok(reply)) {
                *error = new_error(st->ConnectionError, "Invalid Database");
                return *error ? SF_HANDSHAKE_FAILED : -1;
            }
            break;
        }
    }
    return SF_HANDSHAKE_OK;
}

/* ---------------------------------------------------------------- replies */

sf_reply_kind
sf_classify_reply(sf_state *st, PyObject *reply, int follows_master)
{
    if (!PyExceptionInstance_Check(reply))
        return SF_REPLY_VALUE;
    if (follows_master && PyObject_TypeCheck(reply, (PyTypeObject *)st->ReadOnlyError))
        return SF_REPLY_DEMOTED;
    return SF_REPLY_ERROR;
}

/* ---------------------------------------------------------------- counting commands */

enum {
    AT_COMMAND,      /* expect '*' */
    ARRAY_LEN,       /* digits of the array length, up to '\r' */
    ARRAY_LF,        /* '\n' after the array length */
    AT_BULK,         /* expect '$' */
    BULK_LEN,        /* digits of the bulk length, up to '\r' */
    BULK_LF,         /* '\n' after the bulk length */
    BULK_BODY,       /* skip the payload and its CRLF */
};

#define MAX_LEN (1LL << 40)

sf_command_kind_t
sf_command_kind(const char *name, size_t len)
{
    static const struct { const char *name; sf_command_kind_t kind; } known[] = {
        {"SUBSCRIBE", SF_COMMAND_PUSH}, {"PSUBSCRIBE", SF_COMMAND_PUSH},
        {"SSUBSCRIBE", SF_COMMAND_PUSH}, {"MONITOR", SF_COMMAND_PUSH},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strlen(known[i].name) == len && strncasecmp(known[i].name, name, len) == 0)
            return known[i].kind;
    }
    return SF_COMMAND_ORDINARY;
}

/* A whole command was counted: note what it means for the connection. */
static void
command_done(sf_command_counter *c)
{
    c->commands++;
    if (c->name_total == (long long)c->name_len
        && sf_command_kind(c->name, c->name_len) == SF_COMMAND_PUSH)
        c->push_commands++;
}

void
sf_count_commands(sf_command_counter *c, const char *data, size_t len)
{
    size_t i = 0;
    while (i < len && !c->broken) {
        char ch = data[i];
        switch (c->state) {
        case AT_COMMAND:
        case AT_BULK:
            if (ch != (c->state == AT_COMMAND ? '*' : '$')) {
                c->broken = 1;
                break;
            }
            c->number = 0;
            c->state = c->state == AT_COMMAND ? ARRAY_LEN : BULK_LEN;
            i++;
            break;
        case ARRAY_LEN:
        case BULK_LEN:
            if (ch == '\r') {
                c->state = c->state == ARRAY_LEN ? ARRAY_LF : BULK_LF;
            }
            else if (ch >= '0' && ch <= '9' && c->number < MAX_LEN) {
                c->number = c->number * 10 + (ch - '0');
            }
            else {
                c->broken = 1;
                break;
            }
            i++;
            break;
        case ARRAY_LF:
            if (ch != '\n' || c->number == 0) {
                c->broken = 1;
                break;
            }
            c->bulks_left = c->number;
            c->name_len = 0;
            c->name_total = -1;          /* the next bulk is the name */
            c->state = AT_BULK;
            i++;
            break;
        case BULK_LF:
            if (ch != '\n') {
                c->broken = 1;
                break;
            }
            c->skip = c->number + 2;
            c->in_name = c->name_total < 0;
            if (c->in_name)
                c->name_total = c->number;
            c->state = BULK_BODY;
            i++;
            break;
        case BULK_BODY: {
            size_t take = len - i;
            if ((long long)take > c->skip)
                take = (size_t)c->skip;
            if (c->in_name && c->name_total <= SF_COMMAND_NAME_MAX) {
                /* keep the name's payload bytes (not its CRLF) */
                long long done = c->name_total + 2 - c->skip;   /* payload bytes seen */
                for (size_t k = 0; k < take && done + (long long)k < c->name_total; k++)
                    c->name[c->name_len++] = data[i + k];
            }
            c->skip -= (long long)take;
            i += take;
            if (c->skip == 0) {
                c->in_name = 0;
                if (--c->bulks_left == 0) {
                    command_done(c);
                    c->state = AT_COMMAND;
                }
                else {
                    c->state = AT_BULK;
                }
            }
            break;
        }
        }
    }
}

/* ---------------------------------------------------------------- Python API */

/* _core.Handshake: the handshake of one connection, for front ends that do their
 * own I/O (asyncio). `commands` is what to send; `check(replies)` judges what came
 * back. */
typedef struct {
    PyObject_HEAD
    sf_state *st;
    sf_handshake hs;
    PyObject *commands;     /* bytes */
} sf_handshake_obj;

static int
utf8_strict(const char *encoding, const char *errors)
{
    return (strcmp(encoding, "utf-8") == 0 || strcmp(encoding, "utf8") == 0
            || strcmp(encoding, "UTF-8") == 0 || strcmp(encoding, "UTF8") == 0)
           && strcmp(errors, "strict") == 0;
}

static PyObject *
handshake_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"username", "password", "client_name", "db", "check_role",
                             "encoding", "encoding_errors", NULL};
    sf_handshake_params p = {Py_None, Py_None, Py_None, 0, 0};
    PyObject *encoding = NULL, *errors = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$OOOlpUU:Handshake", kwlist, &p.username,
                                     &p.password, &p.client_name, &p.db, &p.check_role,
                                     &encoding, &errors))
        return NULL;
    sf_state *st = sf_state_from_type(type);
    if (st == NULL)
        return NULL;
    if (p.db < 0) {
        PyErr_SetString(PyExc_ValueError, "db must be a non-negative int");
        return NULL;
    }
    sf_encoder enc;
    enc.encoding = encoding ? encoding : st->str_utf8;
    enc.errors = errors ? errors : st->str_strict;
    const char *e = PyUnicode_AsUTF8(enc.encoding), *r = PyUnicode_AsUTF8(enc.errors);
    if (e == NULL || r == NULL)
        return NULL;
    enc.utf8_strict = utf8_strict(e, r);

    sf_handshake_obj *self = (sf_handshake_obj *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->st = st;
    sf_buf out = {NULL, 0, 0};
    if (sf_handshake_build(st, &p, &enc, &out, &self->hs) < 0) {
        sf_buf_free(&out);
        Py_DECREF(self);
        return NULL;
    }
    self->commands = PyBytes_FromStringAndSize(out.data ? out.data : "", (Py_ssize_t)out.len);
    sf_buf_free(&out);
    if (self->commands == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static PyObject *
handshake_check(sf_handshake_obj *self, PyObject *replies)
{
    PyObject *seq = PySequence_Fast(replies, "replies must be a sequence");
    if (seq == NULL)
        return NULL;
    if (PySequence_Fast_GET_SIZE(seq) != self->hs.count) {
        PyErr_Format(PyExc_ValueError, "expected %d replies, got %zd", self->hs.count,
                     PySequence_Fast_GET_SIZE(seq));
        Py_DECREF(seq);
        return NULL;
    }
    PyObject *error;
    int r = sf_handshake_check(self->st, &self->hs, PySequence_Fast_ITEMS(seq), &error);
    Py_DECREF(seq);
    if (r < 0)
        return NULL;
    if (r == SF_HANDSHAKE_OK)
        return PyLong_FromLong(SF_HANDSHAKE_OK);
    if (r == SF_HANDSHAKE_NOT_MASTER) {
        Py_DECREF(error);
        return PyLong_FromLong(SF_HANDSHAKE_NOT_MASTER);
    }
    PyErr_SetObject((PyObject *)Py_TYPE(error), error);
    Py_DECREF(error);
    return NULL;
}

static PyObject *
handshake_get_commands(sf_handshake_obj *self, void *unused)
{
    return Py_NewRef(self->commands);
}

static PyObject *
handshake_get_count(sf_handshake_obj *self, void *unused)
{
    return PyLong_FromLong(self->hs.count);
}

static void
handshake_dealloc(sf_handshake_obj *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    Py_CLEAR(self->commands);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static PyMethodDef handshake_methods[] = {
    {"check", (PyCFunction)handshake_check, METH_O,
     "check(replies) -> HANDSHAKE_OK or HANDSHAKE_NOT_MASTER; raises the error redis-py "
     "raises for a failed AUTH, CLIENT SETNAME or SELECT."},
    {NULL},
};

static PyGetSetDef handshake_getset[] = {
    {"commands", (getter)handshake_get_commands, NULL, "The commands to send, encoded.", NULL},
    {"reply_count", (getter)handshake_get_count, NULL, "How many replies check() wants.",
     NULL},
    {NULL},
};

static PyType_Slot handshake_slots[] = {
    {Py_tp_doc, "Handshake(*, username=None, password=None, client_name=None, db=0, "
                "check_role=False, encoding='utf-8', encoding_errors='strict'): the commands "
                "a new connection sends and the judgement of their replies, without I/O."},
    {Py_tp_new, handshake_new},
    {Py_tp_dealloc, handshake_dealloc},
    {Py_tp_methods, handshake_methods},
    {Py_tp_getset, handshake_getset},
    {0, NULL},
};

PyType_Spec sf_handshake_spec = {
    .name = "sentinelfast._core.Handshake",
    .basicsize = sizeof(sf_handshake_obj),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = handshake_slots,
};

static PyObject *
classify_reply_py(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "classify_reply(reply, follows_master)");
        return NULL;
    }
    int follows = PyObject_IsTrue(args[1]);
    if (follows < 0)
        return NULL;
    return PyLong_FromLong(sf_classify_reply(sf_state_from_module(module), args[0], follows));
}

PyMethodDef sf_protocol_methods[] = {
    {"classify_reply", (PyCFunction)(void (*)(void))classify_reply_py, METH_FASTCALL,
     "classify_reply(reply, follows_master) -> REPLY_VALUE, REPLY_ERROR or REPLY_DEMOTED "
     "(READONLY from a Sentinel master: forget the address and reconnect)."},
    {NULL},
};
