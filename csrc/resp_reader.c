/* RESP2 reply reader: an incremental parser that builds Python objects directly.
 *
 * Input is appended to one buffer; `start` is the first byte not parsed yet. Each
 * item (a line, a bulk string header, a bulk string body) is consumed as soon as it
 * is parsed, so a reply's partial state is only: the lists being filled (an explicit
 * stack on the heap, one frame per open list, so nesting depth costs memory, never
 * C stack), a bulk string whose header was read, and how far the current line was
 * already searched for its CRLF (so a line fed in many pieces is scanned once).
 *
 * Errors while building one element (a decode error, an error_from_reply failure)
 * are deferred: the element becomes None, the reply is read to its end and then the
 * error is raised, so the stream stays in step. Protocol errors and allocation
 * failures of the parser itself (a list, the stack) leave the stream out of step:
 * the reader is marked broken and refuses any further use. */
#include "resp_reader.h"

#include <limits.h>
#include <string.h>

#define MIN_BUFFER 4096
#define KEEP_BUFFER (256 * 1024)   /* an emptied buffer larger than this is released */
#define MIN_STACK 8

typedef struct {
    PyObject *list;         /* owned; slots not filled yet are NULL */
    Py_ssize_t len;         /* elements the array announced */
    Py_ssize_t filled;      /* elements read */
    PyObject *member;       /* a scored frame's member waiting for its score, or NULL */
    int shape;              /* sf_reply_shape; SF_SHAPE_SCORED_PAIRS: `list` holds len/2
                               (member, score) tuples */
} sf_frame;

struct sf_reader {
    sf_reader_ctx *ctx;
    char *buf;
    size_t start;           /* first byte not parsed yet */
    size_t end;             /* one past the last byte fed */
    size_t cap;
    size_t scanned;         /* bytes after `start` already searched for the line's CRLF */
    long long bulk_len;     /* >= 0: a bulk header was read; its body and CRLF come next */
    size_t in_reply;        /* bytes of the unfinished reply already consumed */
    sf_frame *stack;        /* the lists being filled, outermost first */
    size_t depth;
    size_t stack_cap;
    int broken;
};

enum { NEED_MORE, ITEM, OPENED, FAILED };

/* ---------------------------------------------------------------- lifecycle */

sf_reader *
sf_reader_new(sf_reader_ctx *ctx)
{
    sf_reader *r = PyMem_RawCalloc(1, sizeof *r);
    if (r == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    r->ctx = ctx;
    r->bulk_len = -1;
    return r;
}

static void
drop_partial_reply(sf_reader *r)
{
    while (r->depth > 0) {
        r->depth--;
        Py_CLEAR(r->stack[r->depth].list);
        Py_CLEAR(r->stack[r->depth].member);
    }
}

void
sf_reader_free(sf_reader *r)
{
    if (r == NULL)
        return;
    drop_partial_reply(r);
    Py_CLEAR(r->ctx->pending_exc);
    PyMem_RawFree(r->stack);
    PyMem_RawFree(r->buf);
    PyMem_RawFree(r);
}

size_t
sf_reader_buffered(const sf_reader *r)
{
    return r->end - r->start + r->in_reply;
}

int
sf_reader_broken(const sf_reader *r)
{
    return r->broken;
}

static int
refuse_broken(sf_reader *r)
{
    PyErr_SetString(r->ctx->st->InvalidResponse,
                    "Protocol error: the reply stream is unusable after an earlier error");
    return -1;
}

/* The stream is out of step: keep the exception already set, drop everything else. */
static int
break_stream(sf_reader *r)
{
    r->broken = 1;
    drop_partial_reply(r);
    Py_CLEAR(r->ctx->pending_exc);
    return FAILED;
}

static int
protocol_error(sf_reader *r, const char *what)
{
    PyErr_Format(r->ctx->st->InvalidResponse, "Protocol error: %s", what);
    return break_stream(r);
}

/* ---------------------------------------------------------------- input */

int
sf_reader_feed(sf_reader *r, const char *data, size_t len)
{
    if (r->broken)
        return refuse_broken(r);
    if (len == 0)
        return 0;
    size_t pending = r->end - r->start;
    if (pending == 0) {
        r->start = r->end = 0;
        if (r->cap > KEEP_BUFFER && len <= KEEP_BUFFER) {
            PyMem_RawFree(r->buf);
            r->buf = NULL;
            r->cap = 0;
        }
    }
    if (r->cap - r->end >= len) {
        memcpy(r->buf + r->end, data, len);
        r->end += len;
        return 0;
    }
    if (len > SIZE_MAX - pending) {
        PyErr_NoMemory();
        break_stream(r);
        return -1;
    }
    size_t need = pending + len;
    if (r->start >= pending && r->cap >= need) {
        /* Reclaim the parsed prefix; it is at least as long as what moves, so each
         * byte is moved at most once per byte consumed before it. */
        memmove(r->buf, r->buf + r->start, pending);
    }
    else {
        size_t cap = r->cap > MIN_BUFFER / 2 ? r->cap : MIN_BUFFER / 2;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        char *buf = PyMem_RawMalloc(cap);
        if (buf == NULL) {
            PyErr_NoMemory();
            break_stream(r);
            return -1;
        }
        if (pending > 0)
            memcpy(buf, r->buf + r->start, pending);
        PyMem_RawFree(r->buf);
        r->buf = buf;
        r->cap = cap;
    }
    r->start = 0;
    r->end = pending;
    memcpy(r->buf + r->end, data, len);
    r->end += len;
    return 0;
}

static void
consume(sf_reader *r, size_t n)
{
    r->start += n;
    r->in_reply += n;
    r->scanned = 0;
}

/* Find the CRLF ending the line that starts at `start` (after its type byte):
 * 1 with *nl at its '\n', 0 when it has not arrived yet, -1 (protocol error set)
 * for a '\n' without its '\r'. Remembers how far it searched, so no byte is
 * searched twice however the line is split. */
static int
find_line_end(sf_reader *r, const char **nl)
{
    const char *p = r->buf + r->start;
    size_t avail = r->end - r->start;
    size_t from = r->scanned > 1 ? r->scanned : 1;
    const char *lf = from < avail ? memchr(p + from, '\n', avail - from) : NULL;
    if (lf == NULL) {
        r->scanned = avail;
        return 0;
    }
    if (lf - p < 2 || lf[-1] != '\r') {
        protocol_error(r, "line feed without carriage return");
        return -1;
    }
    *nl = lf;
    return 1;
}

/* A decimal integer as Redis writes it: optional '-', no leading zeros, no sign
 * on zero, within long long. 0 ok, -1 not a number. */
static int
parse_integer(const char *s, size_t n, long long *out)
{
    int negative = 0;
    if (n > 0 && s[0] == '-') {
        negative = 1;
        s++;
        n--;
    }
    if (n == 0 || n > 19 || s[0] < '0' || s[0] > '9' || (s[0] == '0' && (n > 1 || negative)))
        return -1;
    unsigned long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long long)(s[i] - '0');   /* 19 digits cannot wrap */
    }
    if (negative) {
        if (v > (unsigned long long)LLONG_MAX + 1)
            return -1;
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    }
    else {
        if (v > (unsigned long long)LLONG_MAX)
            return -1;
        *out = (long long)v;
    }
    return 0;
}

/* ---------------------------------------------------------------- objects */

/* Something of the reply could not be built (the error is set): remember the first
 * such error, raised once the whole reply is read. */
static void
defer_error(sf_reader *r)
{
    if (r->ctx->pending_exc == NULL)
        r->ctx->pending_exc = sf_err_fetch();
    else
        PyErr_Clear();
}

/* An element could not be built: defer the error, use None in its place. */
static PyObject *
placeholder(sf_reader *r)
{
    defer_error(r);
    return Py_NewRef(Py_None);
}

static PyObject *
make_error(sf_reader *r, const char *s, size_t n)
{
    PyObject *text = PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, "replace");
    if (text == NULL)
        return placeholder(r);
    PyObject *exc = PyObject_CallOneArg(r->ctx->st->error_from_reply, text);
    Py_DECREF(text);
    return exc != NULL ? exc : placeholder(r);
}

static PyObject *
make_string(sf_reader *r, const char *s, size_t n)
{
    sf_reader_ctx *ctx = r->ctx;
    PyObject *obj;
    if (!ctx->decode)
        obj = PyBytes_FromStringAndSize(s, (Py_ssize_t)n);
    else if (ctx->utf8_strict)
        obj = PyUnicode_DecodeUTF8(s, (Py_ssize_t)n, NULL);
    else {
        const char *enc = PyUnicode_AsUTF8(ctx->encoding);
        const char *errors = enc != NULL ? PyUnicode_AsUTF8(ctx->errors) : NULL;
        obj = errors != NULL ? PyUnicode_Decode(s, (Py_ssize_t)n, enc, errors) : NULL;
    }
    return obj != NULL ? obj : placeholder(r);
}

static int
push_list(sf_reader *r, PyObject *list, Py_ssize_t len, int shape)
{
    if (r->depth == r->stack_cap) {
        size_t cap = r->stack_cap ? r->stack_cap * 2 : MIN_STACK;
        sf_frame *stack = cap <= SIZE_MAX / sizeof *stack
                              ? PyMem_RawRealloc(r->stack, cap * sizeof *stack) : NULL;
        if (stack == NULL) {
            Py_DECREF(list);
            PyErr_NoMemory();
            return -1;
        }
        r->stack = stack;
        r->stack_cap = cap;
    }
    r->stack[r->depth++] = (sf_frame){.list = list, .len = len, .filled = 0, .shape = shape};
    return 0;
}

/* ---------------------------------------------------------------- parsing */

/* The common case of a reply's elements: a bulk string wholly in [p, lim), its
 * length of 1-18 digits without a leading zero. Framed in one pass, with no line
 * search and no parse state: the end of the item with *body and *len set, or NULL
 * (the general path then reads it, and finds any protocol error). */
static inline const char *
frame_whole_bulk(const char *p, const char *lim, const char **body, size_t *len)
{
    if (lim - p < 7 || p[0] != '$' || p[1] < '1' || p[1] > '9')
        return NULL;
    const char *q = p + 2;
    size_t n = (size_t)(p[1] - '0');
    while (q < lim && *q >= '0' && *q <= '9' && q - p <= 18)
        n = n * 10 + (size_t)(*q++ - '0');
    if (lim - q < 2 || q[0] != '\r' || q[1] != '\n')
        return NULL;
    q += 2;
    if ((size_t)(lim - q) < n + 2 || q[n] != '\r' || q[n + 1] != '\n')
        return NULL;
    *body = q;
    *len = n;
    return q + n + 2;
}

/* A whole bulk string (frame_whole_bulk) as the next item, no header read yet: 1 with
 * *obj set and the item consumed, or 0 having changed nothing. */
static inline int
take_whole_bulk(sf_reader *r, PyObject **obj)
{
    if (r->bulk_len >= 0 || r->buf == NULL)
        return 0;
    const char *p = r->buf + r->start, *body;
    size_t len;
    const char *next = frame_whole_bulk(p, r->buf + r->end, &body, &len);
    if (next == NULL)
        return 0;
    if (!r->ctx->decode) {
        *obj = PyBytes_FromStringAndSize(body, (Py_ssize_t)len);
        if (*obj == NULL)
            *obj = placeholder(r);
    }
    else {
        *obj = make_string(r, body, len);
    }
    consume(r, (size_t)(next - p));
    return 1;
}

/* Parse the next item at `start`: ITEM with *obj set (a complete value), OPENED
 * (a non-empty list was pushed), NEED_MORE, or FAILED (exception set, broken). */
static int
parse_item(sf_reader *r, PyObject **obj)
{
    size_t avail = r->end - r->start;
    if (avail == 0)
        return NEED_MORE;   /* (and r->buf may still be NULL) */
    const char *p = r->buf + r->start;

    if (r->bulk_len >= 0) {
        size_t body = (size_t)r->bulk_len;
        if (avail < body + 2)
            return NEED_MORE;
        if (p[body] != '\r' || p[body + 1] != '\n')
            return protocol_error(r, "bulk string not followed by CRLF");
        *obj = make_string(r, p, body);
        consume(r, body + 2);
        r->bulk_len = -1;
        return ITEM;
    }
    char type = p[0];
    if (type == '$' && take_whole_bulk(r, obj))
        return ITEM;
    if (type != '+' && type != '-' && type != ':' && type != '$' && type != '*') {
        char what[64];
        snprintf(what, sizeof what, "unexpected reply type byte 0x%02x", (unsigned char)type);
        return protocol_error(r, what);
    }
    const char *nl = NULL;
    int found = find_line_end(r, &nl);
    if (found <= 0)
        return found < 0 ? FAILED : NEED_MORE;
    const char *line = p + 1;
    size_t line_len = (size_t)(nl - 1 - line);
    size_t total = (size_t)(nl - p) + 1;
    long long n;

    switch (type) {
    case '+':
    case '-':
        /* A simple string never holds CR or LF (checked once, when complete). */
        if (memchr(line, '\r', line_len) != NULL)
            return protocol_error(r, "carriage return inside a simple string");
        *obj = type == '+' ? make_string(r, line, line_len) : make_error(r, line, line_len);
        consume(r, total);
        return ITEM;
    case ':':
        if (parse_integer(line, line_len, &n) < 0)
            return protocol_error(r, "bad integer value");
        *obj = PyLong_FromLongLong(n);
        if (*obj == NULL)
            *obj = placeholder(r);
        consume(r, total);
        return ITEM;
    case '$':
        if (parse_integer(line, line_len, &n) < 0)
            return protocol_error(r, "bad bulk string length");
        if (n < -1 || n > (long long)(PY_SSIZE_T_MAX - 2))
            return protocol_error(r, "bulk string length out of range");
        consume(r, total);
        if (n == -1) {
            *obj = Py_NewRef(Py_None);
            return ITEM;
        }
        r->bulk_len = n;
        return parse_item(r, obj);   /* the body may be here already (tail call, depth 1) */
    default: /* '*' */
        if (parse_integer(line, line_len, &n) < 0)
            return protocol_error(r, "bad array length");
        if (n < -1)
            return protocol_error(r, "array length out of range");
        consume(r, total);
        if (n == -1) {
            *obj = Py_NewRef(Py_None);
            return ITEM;
        }
        if ((unsigned long long)n > (unsigned long long)PY_SSIZE_T_MAX / sizeof(PyObject *)) {
            PyErr_NoMemory();
            return break_stream(r);
        }
        int shape = r->depth == 0 ? r->ctx->shape : SF_SHAPE_LIST;
        PyObject *list = PyList_New((Py_ssize_t)(shape == SF_SHAPE_SCORED_PAIRS ? n / 2 : n));
        if (list == NULL)
            return break_stream(r);   /* MemoryError: its elements cannot be placed */
        if (n == 0) {
            *obj = list;
            return ITEM;
        }
        if (push_list(r, list, (Py_ssize_t)n, shape) < 0)
            return break_stream(r);
        return OPENED;
    }
}

/* A scored frame's pair `index`: (its waiting member, score); `score` a new reference,
 * or NULL with float()'s error set (deferred: the pair becomes None). */
static void
add_scored_pair(sf_reader *r, sf_frame *top, Py_ssize_t index, PyObject *score)
{
    PyObject *pair = score != NULL ? PyTuple_New(2) : NULL;
    if (pair != NULL) {
        PyTuple_SET_ITEM(pair, 0, top->member);   /* steals the member */
        PyTuple_SET_ITEM(pair, 1, score);
        top->member = NULL;
    }
    else {
        Py_XDECREF(score);
        Py_CLEAR(top->member);
        pair = placeholder(r);
    }
    PyList_SET_ITEM(top->list, index, pair);
}

/* Put a complete element (a new reference, stolen) into the innermost open list:
 * the next slot of a list; in a scored frame, a member waits for its score, and a
 * score makes the pair (float(score), as redis-py's zset_score_pairs does). */
static inline void
add_element(sf_reader *r, sf_frame *top, PyObject *obj)
{
    if (top->shape == SF_SHAPE_LIST) {
        PyList_SET_ITEM(top->list, top->filled, obj);
    }
    else if (top->filled % 2 == 0) {
        top->member = obj;
    }
    else {
        PyObject *score = sf_score_to_float(obj);
        Py_DECREF(obj);
        add_scored_pair(r, top, top->filled / 2, score);
    }
    top->filled++;
}

/* Whole bulk strings straight into the innermost open list, all but its last
 * element (sf_reader_next completes lists): the tight loop of large replies. For
 * bytes it frames them as take_whole_bulk does, with the position in a local and the
 * reader's fields written once at the end; a score becomes a float straight from its
 * text. */
static inline void
fill_innermost(sf_reader *r)
{
    sf_frame *top = &r->stack[r->depth - 1];
    PyObject *item;
    if (r->ctx->decode || r->bulk_len >= 0 || r->buf == NULL) {
        while (top->filled < top->len - 1 && take_whole_bulk(r, &item))
            add_element(r, top, item);
        return;
    }
    const char *begin = r->buf + r->start, *p = begin, *lim = r->buf + r->end, *body, *next;
    Py_ssize_t filled = top->filled, last = top->len - 1;
    size_t len;
    while (filled < last && (next = frame_whole_bulk(p, lim, &body, &len)) != NULL) {
        if (top->shape == SF_SHAPE_SCORED_PAIRS && filled % 2 == 1) {
            add_scored_pair(r, top, filled / 2, sf_score_from_text(body, (Py_ssize_t)len));
        }
        else {
            item = PyBytes_FromStringAndSize(body, (Py_ssize_t)len);
            if (item == NULL)
                item = placeholder(r);
            if (top->shape == SF_SHAPE_LIST)
                PyList_SET_ITEM(top->list, filled, item);   /* steals item */
            else
                top->member = item;
        }
        filled++;
        p = next;
    }
    top->filled = filled;
    if (p != begin)
        consume(r, (size_t)(p - begin));
}

int
sf_reader_next(sf_reader *r, PyObject **reply)
{
    if (r->broken)
        return refuse_broken(r);
    for (;;) {
        PyObject *obj = NULL;
        int got = parse_item(r, &obj);
        if (got == NEED_MORE)
            return 0;
        if (got == FAILED)
            return -1;
        if (got == OPENED) {
            fill_innermost(r);
            continue;
        }
        /* A complete value: put it in its list; a list that is full is complete too. */
        while (r->depth > 0) {
            sf_frame *top = &r->stack[r->depth - 1];
            add_element(r, top, obj);
            if (top->filled < top->len) {
                obj = NULL;
                break;
            }
            obj = top->list;
            top->list = NULL;
            Py_CLEAR(top->member);      /* a scored array of odd length: the last is dropped */
            r->depth--;
        }
        if (obj == NULL) {
            fill_innermost(r);
            continue;
        }
        r->in_reply = 0;
        if (r->start == r->end)
            r->start = r->end = 0;
        if (r->ctx->pending_exc != NULL) {
            Py_DECREF(obj);
            PyObject *exc = r->ctx->pending_exc;
            r->ctx->pending_exc = NULL;
            sf_err_restore(exc);
            return -1;
        }
        *reply = obj;
        return 1;
    }
}
