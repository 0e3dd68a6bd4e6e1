/* The retry loop, as redis-py's Retry.call_with_retry runs it:
 *   failures = 0; backoff.reset()
 *   on an error in retry._supported_errors: failures += 1, disconnect,
 *   give up when retries >= 0 and failures > retries, else sleep
 *   backoff.compute(failures) and try again.
 * Nothing of the policy is looked at on the success path. */
#include "retry.h"
#include "backoff.h"

#include <time.h>

unsigned long sf_retry_count = 0;

/* The default budget of a Sentinel client's policy when the service's
 * down-after-milliseconds is unknown (sentinelfast.retry.FAILOVER_BUDGET_UNKNOWN is
 * the same figure, for Retry.call_with_retry), and what an election may add to it. */
#define DEFAULT_FAILOVER_BUDGET 30.0
#define ELECTION_ALLOWANCE 15.0

#define MAX_SLEEP 86400.0   /* a backoff longer than a day (or inf, nan) is cut to a day */

/* A sleep wakes at least this often to run signal handlers: a signal delivered to
 * another thread does not interrupt our nanosleep, but its handler must still run
 * (and Ctrl-C raise) within about this long. */
#define SIGNAL_CHECK_SLICE 0.05

int
sf_sleep(double seconds)
{
    if (!(seconds <= MAX_SLEEP))
        seconds = MAX_SLEEP;
    double deadline = sf_monotonic() + seconds;
    for (;;) {
        double left = deadline - sf_monotonic();
        if (left <= 0)
            return 0;
        if (left > SIGNAL_CHECK_SLICE)
            left = SIGNAL_CHECK_SLICE;
        struct timespec ts;
        ts.tv_sec = (time_t)left;
        ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
        Py_BEGIN_ALLOW_THREADS
        (void)nanosleep(&ts, NULL);   /* EINTR: the handlers run just below */
        Py_END_ALLOW_THREADS
        if (PyErr_CheckSignals() < 0)
            return -1;
    }
}

typedef struct {
    PyObject *retry;
    long retries;
    PyObject *supported;
    PyObject *backoff;
    double deadline;        /* monotonic; 0 = no time budget */
    sf_state *st;           /* backoff fast path: */
    sf_backoff *native;     /* p->backoff if exactly one of our C types, else NULL */
} policy;

/* retry._timeout: None = no time budget; a number of seconds; a negative number =
 * "as long as a failover of this service takes" (down-after + election). A Sentinel
 * service whose master was never known is not failing over: nothing is worth
 * waiting for, so that budget is zero and the first failure (MasterNotFoundError
 * after one round over the Sentinels) is raised at once, as redis-py does. */
static int
load_budget(sf_conn *conn, PyObject *retry, policy *p)
{
    p->deadline = 0;
    PyObject *t = PyObject_GetAttrString(retry, "_timeout");
    if (t == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
            return -1;
        PyErr_Clear();
        return 0;
    }
    if (t == Py_None) {
        Py_DECREF(t);
        return 0;
    }
    double seconds = PyFloat_AsDouble(t);
    Py_DECREF(t);
    if (seconds == -1.0 && PyErr_Occurred())
        return -1;
    if (seconds < 0 && conn->svc != NULL && !sf_service_master_ever_known(conn->svc)) {
        p->deadline = sf_monotonic();   /* > 0: the check after this failure gives up */
        return 0;
    }
    if (seconds < 0) {
        long down_after = conn->svc ? sf_service_down_after_ms(conn->svc) : 0;
        seconds = down_after > 0 ? down_after / 1000.0 + ELECTION_ALLOWANCE
                                 : DEFAULT_FAILOVER_BUDGET;
    }
    p->deadline = sf_monotonic() + seconds;
    return 0;
}

static int
load_policy(PyObject *retry, policy *p)
{
    p->retry = retry;
    p->supported = PyObject_GetAttrString(retry, "_supported_errors");
    if (p->supported == NULL)
        return -1;
    p->backoff = PyObject_GetAttrString(retry, "_backoff");
    if (p->backoff == NULL)
        return -1;
    PyObject *n = PyObject_GetAttrString(retry, "_retries");
    if (n == NULL)
        return -1;
    p->retries = PyLong_AsLong(n);
    Py_DECREF(n);
    if (p->retries == -1 && PyErr_Occurred())
        return -1;
    return 0;
}

static void
drop_policy(policy *p)
{
    Py_CLEAR(p->supported);
    Py_CLEAR(p->backoff);
}

/* After a failed attempt (exception set): 1 = try again, 0 = give up (exception
 * still set), -1 = a new error replaced it. `epoch_before`: the service's epoch when
 * the attempt started; if the master moved since (the monitor's switch shut the
 * connection down), the next attempt goes to the new master at once, without the
 * backoff's sleep. */
static int
should_retry(sf_conn *conn, policy *p, int *failures, unsigned long epoch_before)
{
    PyObject *exc = sf_err_fetch();
    if (p->supported == NULL) {
        if (load_policy(p->retry, p) < 0 || load_budget(conn, p->retry, p) < 0) {
            Py_XDECREF(exc);
            return -1;
        }
        /* backoff fast path: our C strategies are called directly */
        if ((p->st = sf_state_from_type(Py_TYPE(conn))) == NULL) {
            Py_XDECREF(exc);
            return -1;
        }
        p->native = sf_backoff_native(p->st, p->backoff);
        if (p->native != NULL)
            sf_backoff_reset(p->native);
        else {
            PyObject *r = PyObject_CallMethod(p->backoff, "reset", NULL);
            if (r == NULL) {
                Py_XDECREF(exc);
                return -1;
            }
            Py_DECREF(r);
        }
    }
    int match = PyErr_GivenExceptionMatches(exc, p->supported);
    if (!match) {
        sf_err_restore(exc);
        return 0;
    }
    (*failures)++;
    sf_conn_disconnect(conn);
    if ((p->retries >= 0 && *failures > p->retries)
        || (p->deadline > 0 && sf_monotonic() >= p->deadline)) {
        sf_err_restore(exc);
        return 0;
    }
    double seconds;
    if (p->native != NULL)   /* backoff fast path */
        seconds = sf_backoff_compute(p->st, p->native, *failures);
    else {
        PyObject *delay = PyObject_CallMethod(p->backoff, "compute", "i", *failures);
        if (delay == NULL) {
            Py_DECREF(exc);
            return -1;
        }
        seconds = PyFloat_AsDouble(delay);
        Py_DECREF(delay);
        if (seconds == -1.0 && PyErr_Occurred()) {
            Py_DECREF(exc);
            return -1;
        }
    }
    Py_DECREF(exc);
    if (conn->svc != NULL && sf_service_epoch(conn->svc) != epoch_before
        && !__atomic_load_n(&conn->svc->failover, __ATOMIC_ACQUIRE))
        seconds = 0;                  /* switched meanwhile: the new master is there now */
    if (p->deadline > 0 && sf_monotonic() + seconds > p->deadline)
        seconds = p->deadline - sf_monotonic();
    if (seconds > 0 && (conn->svc != NULL ? sf_service_backoff_sleep(conn->svc, seconds, epoch_before)
                                          : sf_sleep(seconds)) < 0)
        return -1;
    __atomic_add_fetch(&sf_retry_count, 1, __ATOMIC_RELAXED);
    return 1;
}

static inline unsigned long
service_epoch(sf_conn *conn)
{
    return conn->svc != NULL ? sf_service_epoch(conn->svc) : 0;
}

PyObject *
sf_retry_execute(sf_conn *conn, PyObject *const *args, Py_ssize_t nargs, int read_flags)
{
    unsigned long epoch = service_epoch(conn);
    PyObject *reply = sf_conn_execute(conn, args, nargs, read_flags);
    if (reply != NULL || conn->retry == Py_None)
        return reply;
    policy p = {conn->retry, 0, NULL, NULL, 0};
    int failures = 0;
    while (reply == NULL && should_retry(conn, &p, &failures, epoch) == 1) {
        epoch = service_epoch(conn);
        reply = sf_conn_execute(conn, args, nargs, read_flags);
    }
    drop_policy(&p);
    return reply;
}

PyObject *
sf_retry_execute_many(sf_conn *conn, PyObject *commands, int never_decode)
{
    unsigned long epoch = service_epoch(conn);
    PyObject *replies = sf_conn_execute_many(conn, commands, never_decode);
    if (replies != NULL || conn->retry == Py_None)
        return replies;
    policy p = {conn->retry, 0, NULL, NULL, 0};
    int failures = 0;
    while (replies == NULL && should_retry(conn, &p, &failures, epoch) == 1) {
        epoch = service_epoch(conn);
        replies = sf_conn_execute_many(conn, commands, never_decode);
    }
    drop_policy(&p);
    return replies;
}
