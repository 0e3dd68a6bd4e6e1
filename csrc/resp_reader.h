/* RESP2 reply reader: bytes in, Python objects out, no I/O.
 *
 * Our own incremental parser (not hiredis's; DESIGN.md says why): replies of any
 * nesting depth on an explicit heap stack, each byte examined a bounded number of
 * times however the input is split, every allocation failure a MemoryError. */
#ifndef SF_RESP_READER_H
#define SF_RESP_READER_H

#include "sentinelfast.h"

/* How a top-level array is built (sf_reader_ctx.shape). */
typedef enum {
    SF_SHAPE_LIST = 0,          /* a list of its elements */
    SF_SHAPE_SCORED_PAIRS,      /* [m1, s1, m2, s2, ...] -> [(m1, float(s1)), ...], what
                                   redis-py's zset_score_pairs makes of a sorted-set reply
                                   WITHSCORES (an odd last element dropped, float()'s
                                   error raised once the reply is read), with no string
                                   object made for a score */
} sf_reply_shape;

/* How replies become objects: how to decode bulk and status strings, how to shape
 * the next reply, where a deferred error waits. Owned by the reader's user
 * (connection or Reader object). */
typedef struct {
    sf_state *st;
    int decode;             /* bulk/status strings -> str (decode_responses) */
    int utf8_strict;        /* decode with PyUnicode_DecodeUTF8(..., NULL) */
    PyObject *encoding;     /* borrowed from the owner */
    PyObject *errors;       /* borrowed from the owner */
    PyObject *pending_exc;  /* an error met while building a reply, raised once it is read */
    int shape;              /* sf_reply_shape of a top-level array opened while it is set
                               (the user sets it around the read of one reply) */
} sf_reader_ctx;

typedef struct sf_reader sf_reader;

/* A reader whose replies are Python objects: bytes (or str when ctx->decode),
 * int, list, None, and error replies as exception *instances* (not raised).
 * NULL with MemoryError set on failure. */
sf_reader *sf_reader_new(sf_reader_ctx *ctx);
void sf_reader_free(sf_reader *r);

/* Append `len` bytes to the input. 0, or -1 with MemoryError set (the reader is
 * then unusable). Amortised linear in the bytes fed. */
int sf_reader_feed(sf_reader *r, const char *data, size_t len);

/* Take one complete reply from the bytes fed so far.
 * Returns 1 with *reply set (a new reference), 0 when more input is needed,
 * -1 with an exception set:
 *   - InvalidResponse for a protocol error, MemoryError when a list or the parse
 *     stack cannot be allocated: the stream is out of step and the reader unusable
 *     (every later call fails with InvalidResponse);
 *   - an error met while building an element (e.g. UnicodeDecodeError): raised
 *     once the whole reply has been read, so the stream stays in step. */
int sf_reader_next(sf_reader *r, PyObject **reply);

/* Bytes fed that are not part of a reply returned by sf_reader_next yet (a reply
 * being read, or bytes after the last reply). After a reply is returned, nonzero
 * means the peer sent more than was asked for. No syscall, O(1). */
size_t sf_reader_buffered(const sf_reader *r);

/* 1 once a protocol or allocation error made the reader unusable. */
int sf_reader_broken(const sf_reader *r);

#endif
