/* Backoff strategies (redis-py's redis.backoff) as heap types, and the C entry
 * points the retry loop uses for them instead of Python method calls. */
#ifndef SF_BACKOFF_H
#define SF_BACKOFF_H

#include "sentinelfast.h"

typedef enum {
    SF_BACKOFF_CONSTANT,
    SF_BACKOFF_NO,
    SF_BACKOFF_EXPONENTIAL,
    SF_BACKOFF_FULL_JITTER,
    SF_BACKOFF_EQUAL_JITTER,
    SF_BACKOFF_DECORRELATED_JITTER,
    SF_BACKOFF_EXPONENTIAL_WITH_JITTER,
} sf_backoff_kind;

typedef struct {
    PyObject_HEAD
    sf_backoff_kind kind;   /* of the C base type (inherited by Python subclasses) */
    double backoff;         /* ConstantBackoff, NoBackoff */
    double cap;             /* the others */
    double base;
    double previous;        /* DecorrelatedJitterBackoff */
} sf_backoff;

/* Create the backoff types, add them to `module` and keep them in `st`; seed
 * the PRNG. 0 or -1 with an exception set. */
int sf_backoff_exec(PyObject *module, sf_state *st);

/* `obj` if its type is exactly one of st's backoff types (not a subclass, which
 * may override compute/reset), else NULL. Never raises. */
sf_backoff *sf_backoff_native(sf_state *st, PyObject *obj);

/* backoff.reset() and backoff.compute(failures) of a native backoff; never raise. */
void sf_backoff_reset(sf_backoff *b);
double sf_backoff_compute(sf_state *st, sf_backoff *b, long long failures);

#endif
