/* The bridge between the transport (no Python) and Python callers: the interrupt
 * hook that runs signal handlers on EINTR, and sf_io_error -> the exception redis-py
 * raises. */
#ifndef SF_IO_ERRORS_H
#define SF_IO_ERRORS_H

#include "sentinelfast.h"
#include "transport.h"

/* The hook's on_eintr: takes the GIL back (the thread state in `arg`), runs the
 * signal handlers, releases the GIL again. -1 if a handler raised. */
int sf_py_on_eintr(void *thread_state);

/* A hook for the calling thread. Call with the GIL held, right before releasing it
 * for the transport call, and pass any failure to sf_io_raise (a signal handler that
 * raised here leaves its exception set and the call returns SF_IO_INTERRUPTED):
 *
 *     sf_interrupt_hook hook = sf_py_interrupt_hook();
 *     Py_BEGIN_ALLOW_THREADS
 *     n = sf_transport_recv(&t, buf, cap, deadline, &hook, &e);
 *     Py_END_ALLOW_THREADS
 *     if (n < 0) return sf_io_raise(st, &e);
 */
static inline sf_interrupt_hook
sf_py_interrupt_hook(void)
{
    /* Run the handlers of signals delivered since the last check (while this thread
     * waited for the GIL, or between two waits): such a signal would not interrupt
     * the coming wait. A flag test when none is pending: no syscall. */
    int raised = PyErr_CheckSignals() < 0;
    sf_interrupt_hook h = {sf_py_on_eintr, PyThreadState_Get(), raised};
    return h;
}

/* Raise the exception for `e` (SF_IO_TIMEOUT: TimeoutError, SF_IO_NOMEM: MemoryError,
 * SF_IO_INTERRUPTED: the pending exception stays, anything else: ConnectionError).
 * Always returns -1. */
int sf_io_raise(sf_state *st, const sf_io_error *e);

/* The deadline of an operation that starts now and may last `timeout` seconds
 * (< 0: none). */
static inline double
sf_deadline_after(double timeout)
{
    return timeout >= 0 ? sf_monotonic() + timeout : SF_NO_DEADLINE;
}

#endif
