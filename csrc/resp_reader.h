/* RESP reply parsing with hiredis's reader; replies become Python objects in the
 * reader's callbacks (no intermediate redisReply tree). */
#ifndef SF_RESP_READER_H
#define SF_RESP_READER_H

#include "sentinelfast.h"
#include <hiredis/hiredis.h>

/* What the callbacks need: how to decode bulk strings, where to stash an error. */
typedef struct {
    sf_state *st;
    int decode;             /* bulk/status strings -> str (decode_responses) */
    int utf8_strict;        /* decode with PyUnicode_DecodeUTF8(..., NULL) */
    PyObject *encoding;     /* borrowed from the connection */
    PyObject *errors;       /* borrowed from the connection */
    PyObject *pending_exc;  /* an exception raised inside a callback, re-raised later */
} sf_reader_ctx;

/* A reader whose replies are Python objects: bytes (or str when ctx->decode),
 * int, list, None, and error replies as exception *instances* (not raised). */
redisReader *sf_reader_new(sf_reader_ctx *ctx);
void sf_reader_free(redisReader *r);

/* Take one complete reply from the bytes fed so far.
 * Returns 1 with *reply set (a new reference), 0 when more input is needed,
 * -1 with an exception set: InvalidResponse for a protocol error, or the error a
 * callback raised (e.g. UnicodeDecodeError); after -1 the stream is unusable. */
int sf_reader_next(redisReader *r, PyObject **reply);

#endif
