/* Backoff strategies, as redis-py's redis.backoff defines them (redis-py 8.1):
 *
 *   ConstantBackoff(backoff)        backoff
 *   NoBackoff()                     0 (a ConstantBackoff)
 *   ExponentialBackoff(cap, base)   min(cap, base * 2**failures)
 *   FullJitterBackoff               uniform(0, min(cap, base * 2**failures))
 *   EqualJitterBackoff              t = min(cap, base * 2**failures) / 2; t + uniform(0, t)
 *   DecorrelatedJitterBackoff       prev = min(cap, uniform(base, max(base, prev * 3)))
 *   ExponentialWithJitterBackoff    min(cap, random() * base * 2**failures)
 *
 * with uniform(a, b) = a + (b - a) * random() as Python's random.uniform, random()
 * in [0, 1). min/max keep Python's argument order (min(a, b) is b only if b < a) so
 * NaN behaves the same. Unlike Python, a huge failure count does not raise
 * OverflowError: base * 2**failures becomes inf, and min(cap, inf) is cap.
 *
 * Randomness comes from a xoshiro256** generator in the module state, seeded from
 * getrandom() at module exec and again in a forked child (so parent and children
 * do not back off in lockstep). The GIL serialises its use.
 *
 * The types are immutable (like built-in types: their methods cannot be patched),
 * which is what lets the retry loop call compute/reset in C for instances of
 * exactly these types; a Python subclass may override them and goes through
 * method calls.
 *
 * Instances hold no Python references (not GC-tracked); Python subclasses get a
 * __dict__ and GC from the type machinery. copy/deepcopy/pickle go through
 * object.__reduce_ex__ with our __getstate__/__setstate__ (a dict of attributes). */
#include "backoff.h"

#include <limits.h>
#include <math.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#if PY_VERSION_HEX < 0x030C0000
#include <structmember.h>
#define Py_T_DOUBLE T_DOUBLE
#endif

#define DEFAULT_CAP 0.512
#define DEFAULT_BASE 0.008

/* 2**n overflows (underflows) every finite nonzero double beyond this. */
#define MAX_EXPONENT 4096

/* ---------------------------------------------------------------- PRNG */

static uint64_t
splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void
rng_seed(sf_state *st)
{
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec)
               ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)st;
    }
    for (int i = 0; i < 4; i++)
        st->rng[i] = splitmix64(&seed);   /* never all zero */
    st->rng_fork_generation = sf_fork_generation;
}

static inline uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* A double in [0, 1), 53 random bits (as random.random()). */
static double
rng_random(sf_state *st)
{
    if (st->rng_fork_generation != sf_fork_generation)
        rng_seed(st);
    uint64_t *s = st->rng;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return (double)(result >> 11) * 0x1.0p-53;
}

/* ---------------------------------------------------------------- formulas */

/* `failures` as compute() received it: an int (clamped), or any other real. */
typedef struct {
    int is_int;
    long long n;
    double d;
} exponent;

/* x * 2**failures */
static double
times_pow2(double x, const exponent *e)
{
    if (e->is_int) {
        long long n = e->n;
        if (n > MAX_EXPONENT)
            n = MAX_EXPONENT;
        else if (n < -MAX_EXPONENT)
            n = -MAX_EXPONENT;
        return ldexp(x, (int)n);   /* exact, as float * 2**n is in Python */
    }
    return x * pow(2.0, e->d);
}

/* Python's min(a, b) and max(a, b) */
static inline double
py_min(double a, double b)
{
    return b < a ? b : a;
}

static inline double
py_max(double a, double b)
{
    return b > a ? b : a;
}

static double
compute(sf_state *st, sf_backoff *b, const exponent *e)
{
    double t;
    switch (b->kind) {
    case SF_BACKOFF_CONSTANT:
    case SF_BACKOFF_NO:
        return b->backoff;
    case SF_BACKOFF_EXPONENTIAL:
        return py_min(b->cap, times_pow2(b->base, e));
    case SF_BACKOFF_FULL_JITTER:
        t = py_min(b->cap, times_pow2(b->base, e));
        return t * rng_random(st);
    case SF_BACKOFF_EQUAL_JITTER:
        t = py_min(b->cap, times_pow2(b->base, e)) / 2;
        return t + t * rng_random(st);
    case SF_BACKOFF_DECORRELATED_JITTER: {
        double upper = py_max(b->base, b->previous * 3);
        t = b->base + (upper - b->base) * rng_random(st);
        b->previous = py_min(b->cap, t);
        return b->previous;
    }
    case SF_BACKOFF_EXPONENTIAL_WITH_JITTER:
        return py_min(b->cap, times_pow2(rng_random(st) * b->base, e));
    }
    return 0.0;
}

/* ---------------------------------------------------------------- C API */

sf_backoff *
sf_backoff_native(sf_state *st, PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    if (tp == st->ConstantBackoffType || tp == st->NoBackoffType
        || tp == st->ExponentialBackoffType || tp == st->FullJitterBackoffType
        || tp == st->EqualJitterBackoffType || tp == st->DecorrelatedJitterBackoffType
        || tp == st->ExponentialWithJitterBackoffType)
        return (sf_backoff *)obj;
    return NULL;
}

void
sf_backoff_reset(sf_backoff *b)
{
    b->previous = 0.0;
}

double
sf_backoff_compute(sf_state *st, sf_backoff *b, long long failures)
{
    exponent e = {1, failures, 0.0};
    return compute(st, b, &e);
}

/* ---------------------------------------------------------------- methods */

static int
is_constant(const sf_backoff *b)
{
    return b->kind == SF_BACKOFF_CONSTANT || b->kind == SF_BACKOFF_NO;
}

static PyObject *
backoff_compute_method(PyObject *self, PyTypeObject *cls, PyObject *const *args,
                       Py_ssize_t nargs, PyObject *kwnames)
{
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    PyObject *failures;
    if (nargs + nkw != 1) {
        PyErr_Format(PyExc_TypeError,
                     "compute() takes exactly one argument (failures) (%zd given)",
                     nargs + nkw);
        return NULL;
    }
    if (nkw == 1) {
        int r = PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "failures");
        if (r != 0) {
            PyErr_Format(PyExc_TypeError, "compute() got an unexpected keyword argument '%S'",
                         PyTuple_GET_ITEM(kwnames, 0));
            return NULL;
        }
    }
    failures = args[0];

    exponent e = {0, 0, 0.0};
    if (is_constant((sf_backoff *)self))
        ;   /* failures is not looked at (redis-py) */
    else if (PyLong_Check(failures)) {
        int overflow;
        e.is_int = 1;
        e.n = PyLong_AsLongLongAndOverflow(failures, &overflow);
        if (e.n == -1 && PyErr_Occurred())
            return NULL;
        if (overflow)
            e.n = overflow > 0 ? LLONG_MAX : LLONG_MIN;
    }
    else {
        e.d = PyFloat_AsDouble(failures);
        if (e.d == -1.0 && PyErr_Occurred())
            return NULL;
    }
    sf_state *st = (sf_state *)PyType_GetModuleState(cls);
    if (st == NULL)
        return NULL;
    return PyFloat_FromDouble(compute(st, (sf_backoff *)self, &e));
}

static PyObject *
backoff_reset_method(PyObject *self, PyObject *unused)
{
    sf_backoff_reset((sf_backoff *)self);
    Py_RETURN_NONE;
}

/* {"_backoff": ...} or {"_cap": ..., "_base": ...[, "_previous_backoff": ...]},
 * plus a subclass instance's __dict__. */
static PyObject *
backoff_getstate(PyObject *self, PyObject *unused)
{
    sf_backoff *b = (sf_backoff *)self;
    PyObject *state;
    if (Py_TYPE(self)->tp_dictoffset != 0) {
        PyObject *d = PyObject_GenericGetDict(self, NULL);
        if (d == NULL)
            return NULL;
        state = PyDict_Copy(d);
        Py_DECREF(d);
    }
    else
        state = PyDict_New();
    if (state == NULL)
        return NULL;

    struct { const char *name; double value; int present; } fields[] = {
        {"_backoff", b->backoff, is_constant(b)},
        {"_cap", b->cap, !is_constant(b)},
        {"_base", b->base, !is_constant(b)},
        {"_previous_backoff", b->previous, b->kind == SF_BACKOFF_DECORRELATED_JITTER},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (!fields[i].present)
            continue;
        PyObject *v = PyFloat_FromDouble(fields[i].value);
        if (v == NULL || PyDict_SetItemString(state, fields[i].name, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(state);
            return NULL;
        }
        Py_DECREF(v);
    }
    return state;
}

static PyObject *
backoff_setstate(PyObject *self, PyObject *state)
{
    if (state == Py_None)
        Py_RETURN_NONE;
    if (!PyDict_Check(state)) {
        PyErr_Format(PyExc_TypeError, "%s.__setstate__: state must be a dict, not %.100s",
                     Py_TYPE(self)->tp_name, Py_TYPE(state)->tp_name);
        return NULL;
    }
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(state, &pos, &key, &value)) {
        /* setattr may run Python code (a subclass's __setattr__); hold on to the
         * pair in case it mutates the dict. */
        Py_INCREF(key);
        Py_INCREF(value);
        int r = PyObject_SetAttr(self, key, value);
        Py_DECREF(key);
        Py_DECREF(value);
        if (r < 0)
            return NULL;
    }
    Py_RETURN_NONE;
}

/* ---------------------------------------------------------------- slots */

static PyObject *
backoff_alloc(PyTypeObject *type, sf_backoff_kind kind)
{
    sf_backoff *b = (sf_backoff *)type->tp_alloc(type, 0);
    if (b == NULL)
        return NULL;
    b->kind = kind;
    b->backoff = 0.0;
    b->cap = DEFAULT_CAP;
    b->base = DEFAULT_BASE;
    b->previous = 0.0;
    return (PyObject *)b;
}

/* One tp_new per C type: a Python subclass inherits its base's, so `kind` always
 * names the C type whose formula applies. Arguments are left to __init__. */
#define DEFINE_NEW(fn, kind)                                        \
    static PyObject *                                               \
    fn(PyTypeObject *type, PyObject *args, PyObject *kwds)          \
    {                                                               \
        return backoff_alloc(type, kind);                           \
    }
DEFINE_NEW(constant_new, SF_BACKOFF_CONSTANT)
DEFINE_NEW(no_new, SF_BACKOFF_NO)
DEFINE_NEW(exponential_new, SF_BACKOFF_EXPONENTIAL)
DEFINE_NEW(full_jitter_new, SF_BACKOFF_FULL_JITTER)
DEFINE_NEW(equal_jitter_new, SF_BACKOFF_EQUAL_JITTER)
DEFINE_NEW(decorrelated_new, SF_BACKOFF_DECORRELATED_JITTER)
DEFINE_NEW(exponential_with_jitter_new, SF_BACKOFF_EXPONENTIAL_WITH_JITTER)
#undef DEFINE_NEW

static void
backoff_dealloc(PyObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static int
constant_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"backoff", NULL};
    double backoff;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "d:ConstantBackoff", kwlist, &backoff))
        return -1;
    ((sf_backoff *)self)->backoff = backoff;
    return 0;
}

static int
no_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, ":NoBackoff", kwlist))
        return -1;
    ((sf_backoff *)self)->backoff = 0.0;
    return 0;
}

static int
capped_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"cap", "base", NULL};
    double cap = DEFAULT_CAP, base = DEFAULT_BASE;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|dd:__init__", kwlist, &cap, &base))
        return -1;
    sf_backoff *b = (sf_backoff *)self;
    b->cap = cap;
    b->base = base;
    b->previous = 0.0;
    return 0;
}

static PyObject *
backoff_repr(PyObject *self)
{
    sf_backoff *b = (sf_backoff *)self;
    PyObject *name = PyType_GetQualName(Py_TYPE(self));
    if (name == NULL)
        return NULL;
    PyObject *result = NULL;
    if (b->kind == SF_BACKOFF_NO) {
        result = PyUnicode_FromFormat("%U()", name);
    }
    else if (b->kind == SF_BACKOFF_CONSTANT) {
        PyObject *v = PyFloat_FromDouble(b->backoff);
        if (v != NULL)
            result = PyUnicode_FromFormat("%U(backoff=%R)", name, v);
        Py_XDECREF(v);
    }
    else {
        PyObject *cap = PyFloat_FromDouble(b->cap);
        PyObject *base = cap ? PyFloat_FromDouble(b->base) : NULL;
        if (base != NULL)
            result = PyUnicode_FromFormat("%U(cap=%R, base=%R)", name, cap, base);
        Py_XDECREF(cap);
        Py_XDECREF(base);
    }
    Py_DECREF(name);
    return result;
}

/* redis-py: hash((self._backoff,)) or hash((self._base, self._cap)) */
static Py_hash_t
backoff_hash(PyObject *self)
{
    sf_backoff *b = (sf_backoff *)self;
    PyObject *t;
    if (is_constant(b))
        t = Py_BuildValue("(d)", b->backoff);
    else
        t = Py_BuildValue("(dd)", b->base, b->cap);
    if (t == NULL)
        return -1;
    Py_hash_t h = PyObject_Hash(t);
    Py_DECREF(t);
    return h;
}

/* redis-py: NotImplemented unless isinstance(other, <the class defining __eq__>),
 * which is ConstantBackoff for NoBackoff; then equal fields. */
static PyObject *
backoff_richcompare(PyObject *self, PyObject *other, int op)
{
    if (op != Py_EQ && op != Py_NE)
        Py_RETURN_NOTIMPLEMENTED;
    sf_state *st = sf_state_from_type(Py_TYPE(self));
    if (st == NULL)
        return NULL;
    sf_backoff *a = (sf_backoff *)self;
    PyTypeObject *cls = NULL;
    switch (a->kind) {
    case SF_BACKOFF_CONSTANT:
    case SF_BACKOFF_NO: cls = st->ConstantBackoffType; break;
    case SF_BACKOFF_EXPONENTIAL: cls = st->ExponentialBackoffType; break;
    case SF_BACKOFF_FULL_JITTER: cls = st->FullJitterBackoffType; break;
    case SF_BACKOFF_EQUAL_JITTER: cls = st->EqualJitterBackoffType; break;
    case SF_BACKOFF_DECORRELATED_JITTER: cls = st->DecorrelatedJitterBackoffType; break;
    case SF_BACKOFF_EXPONENTIAL_WITH_JITTER: cls = st->ExponentialWithJitterBackoffType; break;
    }
    if (cls == NULL || !PyObject_TypeCheck(other, cls))
        Py_RETURN_NOTIMPLEMENTED;
    sf_backoff *b = (sf_backoff *)other;
    int equal = is_constant(a) ? a->backoff == b->backoff
                               : a->base == b->base && a->cap == b->cap;
    return PyBool_FromLong(op == Py_EQ ? equal : !equal);
}

/* ---------------------------------------------------------------- specs */

#define COMPUTE_DOC "compute($self, /, failures)\n--\n\n"
#define COMMON_METHODS(compute_doc)                                                     \
    {"compute", (PyCFunction)(void (*)(void))backoff_compute_method,                    \
     METH_METHOD | METH_FASTCALL | METH_KEYWORDS, COMPUTE_DOC compute_doc},             \
    {"reset", backoff_reset_method, METH_NOARGS,                                        \
     "reset($self, /)\n--\n\nForget state kept between the failures of one operation "  \
     "(called once at the start of every retried operation)."},                         \
    {"__getstate__", backoff_getstate, METH_NOARGS,                                     \
     "__getstate__($self, /)\n--\n\nThe attributes, for copy, deepcopy and pickle."},   \
    {"__setstate__", backoff_setstate, METH_O,                                          \
     "__setstate__($self, state, /)\n--\n\nRestore the attributes __getstate__ returned."}

static PyMethodDef constant_methods[] = {
    COMMON_METHODS("Seconds to wait after the failures-th failure: always backoff."),
    {NULL},
};
static PyMethodDef exponential_methods[] = {
    COMMON_METHODS("min(cap, base * 2**failures)."),
    {NULL},
};
static PyMethodDef full_jitter_methods[] = {
    COMMON_METHODS("A uniform draw in [0, min(cap, base * 2**failures)]."),
    {NULL},
};
static PyMethodDef equal_jitter_methods[] = {
    COMMON_METHODS("Half of min(cap, base * 2**failures) plus a uniform draw over the "
                   "other half."),
    {NULL},
};
static PyMethodDef decorrelated_methods[] = {
    COMMON_METHODS("min(cap, a uniform draw in [base, max(base, 3 * previous)]); "
                   "remembers it as the previous delay."),
    {NULL},
};
static PyMethodDef exponential_with_jitter_methods[] = {
    COMMON_METHODS("min(cap, random() * base * 2**failures)."),
    {NULL},
};
#undef COMMON_METHODS

static PyMemberDef constant_members[] = {
    {"_backoff", Py_T_DOUBLE, offsetof(sf_backoff, backoff), 0, "Seconds to wait."},
    {NULL},
};

#define CAPPED_MEMBERS                                                              \
    {"_cap", Py_T_DOUBLE, offsetof(sf_backoff, cap), 0, "Longest delay, seconds."}, \
    {"_base", Py_T_DOUBLE, offsetof(sf_backoff, base), 0, "Base delay, seconds."}

static PyMemberDef capped_members[] = {
    CAPPED_MEMBERS,
    {NULL},
};
static PyMemberDef decorrelated_members[] = {
    CAPPED_MEMBERS,
    {"_previous_backoff", Py_T_DOUBLE, offsetof(sf_backoff, previous), 0,
     "The delay compute() returned last (0 after reset())."},
    {NULL},
};
#undef CAPPED_MEMBERS

#define SPEC(var, pyname, doc, new_fn, init_fn, methods, members)  \
    static PyType_Slot var##_slots[] = {                           \
        {Py_tp_doc, (void *)(doc)},                                \
        {Py_tp_new, new_fn},                                       \
        {Py_tp_init, init_fn},                                     \
        {Py_tp_dealloc, backoff_dealloc},                          \
        {Py_tp_repr, backoff_repr},                                \
        {Py_tp_hash, backoff_hash},                                \
        {Py_tp_richcompare, backoff_richcompare},                  \
        {Py_tp_methods, methods},                                  \
        {Py_tp_members, members},                                  \
        {0, NULL},                                                 \
    };                                                             \
    static PyType_Spec var##_spec = {                              \
        .name = "sentinelfast._core." pyname,                      \
        .basicsize = sizeof(sf_backoff),                           \
        .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE          \
                 | Py_TPFLAGS_IMMUTABLETYPE,                       \
        .slots = var##_slots,                                      \
    };

#define CAPPED_SIG "(cap=0.512, base=0.008)\n--\n\n"

SPEC(constant, "ConstantBackoff",
     "ConstantBackoff(backoff)\n--\n\nWait `backoff` seconds after every failure.",
     constant_new, constant_init, constant_methods, constant_members)
/* NoBackoff's methods and members come from its base, ConstantBackoff. */
static PyType_Slot no_slots[] = {
    {Py_tp_doc, (void *)"NoBackoff()\n--\n\nRetry at once (a ConstantBackoff of 0)."},
    {Py_tp_new, no_new},
    {Py_tp_init, no_init},
    {Py_tp_repr, backoff_repr},
    {0, NULL},
};
static PyType_Spec no_spec = {
    .name = "sentinelfast._core.NoBackoff",
    .basicsize = sizeof(sf_backoff),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = no_slots,
};
SPEC(exponential, "ExponentialBackoff",
     "ExponentialBackoff" CAPPED_SIG
     "Wait min(cap, base * 2**failures) seconds after the failures-th failure.",
     exponential_new, capped_init, exponential_methods, capped_members)
SPEC(full_jitter, "FullJitterBackoff",
     "FullJitterBackoff" CAPPED_SIG
     "Wait a uniform draw between 0 and min(cap, base * 2**failures) seconds.",
     full_jitter_new, capped_init, full_jitter_methods, capped_members)
SPEC(equal_jitter, "EqualJitterBackoff",
     "EqualJitterBackoff" CAPPED_SIG
     "Wait half of min(cap, base * 2**failures) plus a uniform draw over the other half "
     "(redis-py's default_backoff()).",
     equal_jitter_new, capped_init, equal_jitter_methods, capped_members)
SPEC(decorrelated, "DecorrelatedJitterBackoff",
     "DecorrelatedJitterBackoff" CAPPED_SIG
     "Wait min(cap, a uniform draw between base and 3 times the previous delay); "
     "reset() forgets the previous delay.",
     decorrelated_new, capped_init, decorrelated_methods, decorrelated_members)
SPEC(exponential_with_jitter, "ExponentialWithJitterBackoff",
     "ExponentialWithJitterBackoff" CAPPED_SIG
     "Wait min(cap, random() * base * 2**failures) seconds (redis-py 8's client default).",
     exponential_with_jitter_new, capped_init, exponential_with_jitter_methods,
     capped_members)
#undef SPEC
#undef CAPPED_SIG

/* ---------------------------------------------------------------- exec */

static int
add_backoff_type(PyObject *module, PyType_Spec *spec, PyObject *base, PyTypeObject **slot)
{
    PyObject *tp = PyType_FromModuleAndSpec(module, spec, base);
    if (tp == NULL)
        return -1;
    *slot = (PyTypeObject *)tp;   /* the state owns this reference */
    return PyModule_AddType(module, (PyTypeObject *)tp);
}

int
sf_backoff_exec(PyObject *module, sf_state *st)
{
    rng_seed(st);
    if (add_backoff_type(module, &constant_spec, NULL, &st->ConstantBackoffType) < 0
        || add_backoff_type(module, &no_spec, (PyObject *)st->ConstantBackoffType,
                            &st->NoBackoffType) < 0
        || add_backoff_type(module, &exponential_spec, NULL, &st->ExponentialBackoffType) < 0
        || add_backoff_type(module, &full_jitter_spec, NULL, &st->FullJitterBackoffType) < 0
        || add_backoff_type(module, &equal_jitter_spec, NULL, &st->EqualJitterBackoffType) < 0
        || add_backoff_type(module, &decorrelated_spec, NULL,
                            &st->DecorrelatedJitterBackoffType) < 0
        || add_backoff_type(module, &exponential_with_jitter_spec, NULL,
                            &st->ExponentialWithJitterBackoffType) < 0)
        return -1;
    return 0;
}
