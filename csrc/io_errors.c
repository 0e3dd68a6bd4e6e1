/* Python side of the transport: the EINTR hook and the exceptions for sf_io_error. */
#include "io_errors.h"

int
sf_py_on_eintr(void *thread_state)
{
    PyEval_RestoreThread((PyThreadState *)thread_state);
    int r = PyErr_CheckSignals();
    (void)PyEval_SaveThread();
    return r < 0 ? -1 : 0;
}

int
sf_io_raise(sf_state *st, const sf_io_error *e)
{
    switch (e->code) {
    case SF_IO_INTERRUPTED:
        if (!PyErr_Occurred())
            PyErr_SetString(st->ConnectionError, "interrupted");
        break;
    case SF_IO_TIMEOUT:
        PyErr_SetString(st->TimeoutError, e->msg);
        break;
    case SF_IO_NOMEM:
        PyErr_NoMemory();
        break;
    default:
        PyErr_SetString(st->ConnectionError, e->msg);
        break;
    }
    return -1;
}
