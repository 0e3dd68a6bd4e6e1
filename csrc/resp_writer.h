/* RESP command encoding: Python arguments -> "*N\r\n$len\r\narg\r\n..." */
#ifndef SF_RESP_WRITER_H
#define SF_RESP_WRITER_H

#include "sentinelfast.h"

/* A growable output buffer.  Appends check capacity inline and grow out of line. */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} sf_buf;

void sf_buf_free(sf_buf *b);
int sf_buf_grow(sf_buf *b, size_t extra);   /* 0 ok, -1 MemoryError set */

static inline int
sf_buf_reserve(sf_buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    return sf_buf_grow(b, extra);
}

/* How str arguments become bytes (redis-py's `encoding` / `encoding_errors`). */
typedef struct {
    PyObject *encoding;        /* str */
    PyObject *errors;          /* str */
    int utf8_strict;           /* fast path: PyUnicode_AsUTF8AndSize */
} sf_encoder;

/* Point `enc` at `encoding` and `errors` (borrowed, str) and pick the fast path
 * when they mean strict UTF-8. 0, or -1 with an exception set. */
int sf_encoder_set(sf_encoder *enc, PyObject *encoding, PyObject *errors);

/* Append one command.  `args` are the command's arguments as given to
 * execute_command; a str or bytes first argument containing spaces is split into
 * words, as redis-py does ("CONFIG GET" -> "CONFIG", "GET").
 * Returns 0, or -1 with DataError / TypeError / UnicodeError set; on error the
 * buffer is left as it was before the call. */
int sf_encode_command(sf_state *st, sf_buf *out, const sf_encoder *enc,
                      PyObject *const *args, Py_ssize_t nargs);

#endif
