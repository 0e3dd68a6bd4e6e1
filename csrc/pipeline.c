/* PipelineCore: the base of sentinelfast.Pipeline (a subtype of Client). It keeps
 * redis-py's Pipeline state in C fields (command_stack, watching,
 * explicit_transaction, transaction, shard_hint, scripts) and runs the hot part of
 * a pipeline here: buffering a command, execute() of a plain pipeline or of a
 * MULTI/EXEC transaction (one write, the replies read and their response callbacks
 * applied in C), reset. The rare paths (WATCH on the pipeline's own connection,
 * NEVER_DECODE under decode_responses, annotating an error) call the Python methods
 * of sentinelfast.Pipeline, so subclasses may override them. */
#include "client.h"
#include "retry.h"

#include <string.h>

/* The buffered commands are kept in one of two forms. Usually as two C arrays (the
 * argument tuples, and the options dicts or NULL for none): buffering then makes no
 * (args, options) tuple, no empty dict and no list entry per command, and reset
 * keeps the arrays' room for the next batch. Once Python reads `command_stack`, the
 * commands move into that list of (args, options), which stays the only store (a
 * program may change it) until reset. */
typedef struct {
    sf_client client;
    PyObject *command_stack;   /* list of (args tuple, options dict), or NULL: arrays */
    PyObject **cmd_args;       /* the argument tuples (owned) */
    PyObject **cmd_options;    /* options dicts (owned) or NULL */
    Py_ssize_t ncmds, cmds_room;
    PyObject *scripts;         /* set of Script, or NULL until first asked for */
    PyObject *transaction;     /* as given to __init__ (truth value used) */
    PyObject *shard_hint;
    int watching;
    int explicit_transaction;
} sf_pipeline;

/* Is `name` the str or bytes "WATCH"? (redis-py compares the str.) */
static int
is_watch(PyObject *name)
{
    if (PyUnicode_CheckExact(name))
        return PyUnicode_IS_ASCII(name) && PyUnicode_GET_LENGTH(name) == 5
               && memcmp(PyUnicode_1BYTE_DATA(name), "WATCH", 5) == 0;
    if (PyUnicode_Check(name))
        return PyUnicode_CompareWithASCIIString(name, "WATCH") == 0;
    return 0;
}

static int
grow_arrays(sf_pipeline *self)
{
    Py_ssize_t room = self->cmds_room ? self->cmds_room * 2 : 64;
    if ((size_t)room > PY_SSIZE_T_MAX / sizeof(PyObject *)) {
        PyErr_NoMemory();
        return -1;
    }
    PyObject **a = PyMem_Realloc(self->cmd_args, (size_t)room * sizeof(PyObject *));
    if (a == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->cmd_args = a;
    PyObject **o = PyMem_Realloc(self->cmd_options, (size_t)room * sizeof(PyObject *));
    if (o == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->cmd_options = o;
    self->cmds_room = room;
    return 0;
}

/* Drop the commands held in the arrays; their room is kept. The arrays are taken
 * out while the references are dropped (a destructor may buffer a new command). */
static void
clear_arrays(sf_pipeline *self)
{
    PyObject **args = self->cmd_args, **options = self->cmd_options;
    Py_ssize_t n = self->ncmds, room = self->cmds_room;
    if (n == 0)
        return;
    self->cmd_args = self->cmd_options = NULL;
    self->ncmds = self->cmds_room = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_DECREF(args[i]);
        Py_XDECREF(options[i]);
    }
    if (self->cmd_args == NULL && self->cmd_options == NULL) {
        self->cmd_args = args;
        self->cmd_options = options;
        self->cmds_room = room;
    }
    else {
        PyMem_Free(args);
        PyMem_Free(options);
    }
}

static void
free_arrays(sf_pipeline *self)
{
    clear_arrays(self);
    PyMem_Free(self->cmd_args);
    PyMem_Free(self->cmd_options);
    self->cmd_args = self->cmd_options = NULL;
    self->cmds_room = 0;
}

/* list.append((args, options or {})); steals `argt` and `options`. */
static int
append_entry(PyObject *list, PyObject *argt, PyObject *options, int atomic)
{
    if (options == NULL && (options = PyDict_New()) == NULL) {
        Py_DECREF(argt);
        return -1;
    }
    PyObject *entry = PyTuple_New(2);
    if (entry == NULL) {
        Py_DECREF(argt);
        Py_DECREF(options);
        return -1;
    }
    PyTuple_SET_ITEM(entry, 0, argt);
    PyTuple_SET_ITEM(entry, 1, options);
    if (atomic && !PyObject_GC_IsTracked(options))   /* (a dict of atomic values) */
        PyObject_GC_UnTrack(entry);
    int r = PyList_Append(list, entry);
    Py_DECREF(entry);
    return r;
}

/* The commands as the list Python sees (made from the arrays on first use). */
static PyObject *
stack_list(sf_pipeline *self)
{
    if (self->command_stack != NULL)
        return self->command_stack;
    PyObject *list = PyList_New(0);
    if (list == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < self->ncmds; i++) {
        PyObject *argt = Py_NewRef(self->cmd_args[i]);
        PyObject *options = Py_XNewRef(self->cmd_options[i]);
        if (append_entry(list, argt, options, !PyObject_GC_IsTracked(argt)) < 0) {
            Py_DECREF(list);
            return NULL;
        }
    }
    clear_arrays(self);
    self->command_stack = list;
    return list;
}

static Py_ssize_t
stack_length(sf_pipeline *self)
{
    return self->command_stack != NULL ? PyList_GET_SIZE(self->command_stack) : self->ncmds;
}

/* Append a command (args, options) to the pipeline. */
static int
buffer_command(sf_pipeline *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *argt = PyTuple_New(nargs);
    if (argt == NULL)
        return -1;
    int atomic = 1;   /* only str, bytes, int, float: nothing a cycle can go through */
    for (Py_ssize_t i = 0; i < nargs; i++) {
        PyTypeObject *tp = Py_TYPE(args[i]);
        atomic &= tp == &PyUnicode_Type || tp == &PyBytes_Type || tp == &PyLong_Type
                  || tp == &PyFloat_Type;
        PyTuple_SET_ITEM(argt, i, Py_NewRef(args[i]));
    }
    /* CPython's own rule for tuples (which its collector applies later, after
     * traversing them once): a tuple of untracked objects need not be tracked. A
     * pipeline of 10,000 commands otherwise makes every young collection traverse
     * the whole stack. */
    if (atomic)
        PyObject_GC_UnTrack(argt);
    PyObject *options = NULL;
    if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0) {
        options = PyDict_New();
        for (Py_ssize_t i = 0; options != NULL && i < PyTuple_GET_SIZE(kwnames); i++)
            if (PyDict_SetItem(options, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0)
                Py_CLEAR(options);
        if (options == NULL) {
            Py_DECREF(argt);
            return -1;
        }
    }
    if (self->command_stack != NULL)   /* Python has the list: append to it */
        return append_entry(self->command_stack, argt, options, atomic);
    if (self->ncmds == self->cmds_room && grow_arrays(self) < 0) {
        Py_DECREF(argt);
        Py_XDECREF(options);
        return -1;
    }
    self->cmd_args[self->ncmds] = argt;
    self->cmd_options[self->ncmds] = options;
    self->ncmds++;
    return 0;
}

static PyObject *
pipeline_execute_command(sf_pipeline *self, PyObject *const *args, size_t nargsf,
                         PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "execute_command() needs a command name");
        return NULL;
    }
    /* redis-py's rule: while WATCHing (or for WATCH itself) before multi(), run the
     * command now on the pipeline's connection */
    if (!self->explicit_transaction && (self->watching || is_watch(args[0]))) {
        PyObject *immediate = PyObject_GetAttr((PyObject *)self,
                                               self->client.st->str_immediate_execute_command);
        if (immediate == NULL)
            return NULL;
        PyObject *r = PyObject_Vectorcall(immediate, args, nargs, kwnames);
        Py_DECREF(immediate);
        return r;
    }
    if (buffer_command(self, args, nargs, kwnames) < 0)
        return NULL;
    return Py_NewRef(self);
}

static PyObject *
pipeline_buffer(sf_pipeline *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "pipeline_execute_command() needs a command name");
        return NULL;
    }
    if (buffer_command(self, args, nargs, kwnames) < 0)
        return NULL;
    return Py_NewRef(self);
}

/* reset(): empty the stack; give back the pipeline's own connection (UNWATCHing
 * first) through redis-py's reset, which the Python class offers as _reset_watched. */
static PyObject *
pipeline_reset(sf_pipeline *self, PyObject *unused)
{
    if (self->client.connection != Py_None)
        return PyObject_CallMethod((PyObject *)self, "_reset_watched", NULL);
    Py_CLEAR(self->command_stack);
    clear_arrays(self);
    Py_CLEAR(self->scripts);
    self->watching = 0;
    self->explicit_transaction = 0;
    Py_RETURN_NONE;
}

/* self.reset(), looked up on the instance (a subclass may extend it). */
static int
call_reset(sf_pipeline *self)
{
    PyObject *r = PyObject_CallMethodNoArgs((PyObject *)self, self->client.st->str_reset);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* Raise the exception instance `exc` (borrowed). */
static void
raise_instance(PyObject *exc)
{
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
}

/* The commands of one execute(), taken out of the pipeline: what runs meanwhile
 * (the retry policy, callbacks, other threads) may buffer new commands or replace
 * command_stack, never change these. */
typedef struct {
    PyObject **args;       /* argument tuples (owned) */
    PyObject **options;    /* options dicts (owned) or NULL */
    Py_ssize_t n;
    Py_ssize_t room;       /* of the arrays, given back to the pipeline after */
} batch;

/* entry -> its (args, options), borrowed; -1 with TypeError for a malformed entry. */
static int
unpack_entry(PyObject *entry, PyObject **args, PyObject **options)
{
    if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 2
        || !PyTuple_Check(PyTuple_GET_ITEM(entry, 0))
        || PyTuple_GET_SIZE(PyTuple_GET_ITEM(entry, 0)) < 1
        || !PyDict_Check(PyTuple_GET_ITEM(entry, 1))) {
        PyErr_SetString(PyExc_TypeError, "command_stack entries must be (args, options)");
        return -1;
    }
    *args = PyTuple_GET_ITEM(entry, 0);
    *options = PyTuple_GET_ITEM(entry, 1);
    return 0;
}

static int
take_batch(sf_pipeline *self, batch *b)
{
    if (self->command_stack == NULL) {
        b->args = self->cmd_args;
        b->options = self->cmd_options;
        b->n = self->ncmds;
        b->room = self->cmds_room;
        self->cmd_args = self->cmd_options = NULL;
        self->ncmds = self->cmds_room = 0;
        return 0;
    }
    PyObject *list = self->command_stack;
    Py_ssize_t n = PyList_GET_SIZE(list);
    b->n = 0;
    b->room = n > 0 ? n : 1;
    b->args = PyMem_Malloc((size_t)b->room * sizeof(PyObject *));
    b->options = PyMem_Malloc((size_t)b->room * sizeof(PyObject *));
    if (b->args == NULL || b->options == NULL) {
        PyMem_Free(b->args);
        PyMem_Free(b->options);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *args, *options;
        if (unpack_entry(PyList_GET_ITEM(list, i), &args, &options) < 0) {
            for (Py_ssize_t k = 0; k < b->n; k++) {
                Py_DECREF(b->args[k]);
                Py_XDECREF(b->options[k]);
            }
            PyMem_Free(b->args);
            PyMem_Free(b->options);
            return -1;
        }
        b->args[i] = Py_NewRef(args);
        b->options[i] = Py_NewRef(options);
        b->n++;
    }
    return 0;
}

/* Drop the batch's commands; its arrays go back to the pipeline for the next one. */
static void
release_batch(sf_pipeline *self, batch *b)
{
    for (Py_ssize_t i = 0; i < b->n; i++) {
        Py_DECREF(b->args[i]);
        Py_XDECREF(b->options[i]);
    }
    if (self->cmd_args == NULL && self->cmd_options == NULL) {
        self->cmd_args = b->args;
        self->cmd_options = b->options;
        self->cmds_room = b->room;
        self->ncmds = 0;
    }
    else {
        PyMem_Free(b->args);
        PyMem_Free(b->options);
    }
}

/* The batch as redis-py's stack, a tuple of (args, options), for the Python methods. */
static PyObject *
batch_stack(batch *b)
{
    PyObject *stack = PyTuple_New(b->n);
    for (Py_ssize_t i = 0; stack != NULL && i < b->n; i++) {
        PyObject *options = b->options[i] ? Py_NewRef(b->options[i]) : PyDict_New();
        PyObject *entry = options ? PyTuple_Pack(2, b->args[i], options) : NULL;
        Py_XDECREF(options);
        if (entry == NULL)
            Py_CLEAR(stack);
        else
            PyTuple_SET_ITEM(stack, i, entry);
    }
    return stack;
}

/* Has the options dict (or NULL) `name`? (0/1, -1 on error) */
static inline int
has_option(PyObject *options, PyObject *name)
{
    return options == NULL || PyDict_GET_SIZE(options) == 0 ? 0
                                                            : PyDict_Contains(options, name);
}

/* The value of option `name`, borrowed, or NULL (an error set, or none). */
static inline PyObject *
option(PyObject *options, PyObject *name)
{
    return options == NULL || PyDict_GET_SIZE(options) == 0
               ? NULL
               : PyDict_GetItemWithError(options, name);
}

static int
any_never_decode(sf_state *st, batch *b)
{
    for (Py_ssize_t i = 0; i < b->n; i++) {
        int has = has_option(b->options[i], st->str_NEVER_DECODE);
        if (has != 0)
            return has;
    }
    return 0;
}

static PyObject *
send_undecoded_apart(sf_pipeline *self, batch *b)
{
    PyObject *stack = batch_stack(b);
    if (stack == NULL)
        return NULL;
    PyObject *replies = PyObject_CallMethod((PyObject *)self, "_send_undecoded_apart", "(O)",
                                            stack);
    Py_DECREF(stack);
    return replies;
}

/* Send `commands` (a list of argument tuples) in one write on one connection and
 * return the raw replies (a list). With the pipeline's own connection (WATCH),
 * through the Python _send (a lost connection while watching is a WatchError).
 * With `b` given, a NEVER_DECODE option under decode_responses sends through
 * _send_undecoded_apart instead. */
static PyObject *
send_commands(sf_pipeline *self, PyObject *commands, batch *b)
{
    sf_state *st = self->client.st;
    PyObject *own = self->client.connection;
    PyObject *replies;
    if (own != Py_None) {
        int apart = 0;
        if (b != NULL && ((sf_conn *)own)->decode_responses
            && (apart = any_never_decode(st, b)) < 0)
            return NULL;
        replies = apart ? send_undecoded_apart(self, b)
                        : PyObject_CallMethod((PyObject *)self, "_send", "(O)", commands);
    }
    else {
        sf_conn *conn = sf_client_acquire(&self->client);
        if (conn == NULL)
            return NULL;
        int apart = 0;
        if (b != NULL && conn->decode_responses && (apart = any_never_decode(st, b)) != 0) {
            sf_client_give_back(&self->client, conn);
            if (apart < 0)
                return NULL;
            replies = send_undecoded_apart(self, b);
        }
        else {
            replies = sf_retry_execute_many(conn, commands, 0);
            sf_client_give_back(&self->client, conn);
        }
    }
    if (replies != NULL && !PyList_Check(replies)) {
        Py_DECREF(replies);
        PyErr_SetString(PyExc_TypeError, "the replies of a pipeline must be a list");
        return NULL;
    }
    return replies;
}

/* With raise_on_error: the first ResponseError among `results` is annotated and
 * raised by the Python _raise_first_error. 0, or -1 with the exception set. */
static int
raise_first_error(sf_pipeline *self, batch *b, PyObject *results)
{
    PyObject *response_error = self->client.st->ResponseError;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(results); i++) {
        PyObject *r = PyList_GET_ITEM(results, i);
        if (!PyExceptionInstance_Check(r))
            continue;
        int is = PyObject_IsInstance(r, response_error);
        if (is < 0)
            return -1;
        if (is) {
            PyObject *stack = batch_stack(b);
            if (stack == NULL)
                return -1;
            PyObject *none = PyObject_CallMethod((PyObject *)self, "_raise_first_error", "OO",
                                                 stack, results);
            Py_DECREF(stack);
            if (none == NULL)
                return -1;
            Py_DECREF(none);
            return 0;
        }
    }
    return 0;
}

/* The replies through the response callbacks (a new list). */
static PyObject *
apply_callbacks(sf_pipeline *self, batch *b, PyObject *replies, PyObject *error_class)
{
    PyObject *out = PyList_New(b->n);
    for (Py_ssize_t i = 0; out != NULL && i < b->n; i++) {
        PyObject *r = sf_apply_callback(self->client.response_callbacks,
                                        PyTuple_GET_ITEM(b->args[i], 0), b->options[i],
                                        PyList_GET_ITEM(replies, i), error_class);
        if (r == NULL)
            Py_CLEAR(out);
        else
            PyList_SET_ITEM(out, i, r);
    }
    return out;
}

static PyObject *
run_pipeline(sf_pipeline *self, batch *b, int raise_on_error)
{
    PyObject *commands = PyList_New(b->n);
    if (commands == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < b->n; i++)
        PyList_SET_ITEM(commands, i, Py_NewRef(b->args[i]));
    PyObject *replies = send_commands(self, commands, b);
    Py_DECREF(commands);
    if (replies == NULL)
        return NULL;
    if (PyList_GET_SIZE(replies) != b->n) {
        Py_DECREF(replies);
        PyErr_SetString(self->client.st->ResponseError,
                        "Wrong number of response items from pipeline execution");
        return NULL;
    }
    PyObject *results = apply_callbacks(self, b, replies, self->client.st->ResponseError);
    Py_DECREF(replies);
    if (results != NULL && raise_on_error && raise_first_error(self, b, results) < 0)
        Py_CLEAR(results);
    return results;
}

/* An error reply to MULTI or to queueing that is not a ResponseError (LOADING:
 * BusyLoadingError; a ConnectionError) is raised, as redis-py raises it. */
static int
check_queued(sf_state *st, PyObject *reply, int *is_response_error)
{
    *is_response_error = 0;
    if (!PyExceptionInstance_Check(reply))
        return 0;
    int is = PyObject_IsInstance(reply, st->ResponseError);
    if (is < 0)
        return -1;
    if (!is) {
        raise_instance(reply);
        return -1;
    }
    *is_response_error = 1;
    return 0;
}

/* errors.append((index, value)), the list made on first use. */
static int
note_error(PyObject **errors, Py_ssize_t index, PyObject *value)
{
    if (*errors == NULL && (*errors = PyList_New(0)) == NULL)
        return -1;
    PyObject *i = PyLong_FromSsize_t(index);
    PyObject *pair = i ? PyTuple_Pack(2, i, value) : NULL;
    Py_XDECREF(i);
    if (pair == NULL)
        return -1;
    int r = PyList_Append(*errors, pair);
    Py_DECREF(pair);
    return r;
}

static PyObject *
annotate(sf_pipeline *self, PyObject *error, Py_ssize_t number, PyObject *args)
{
    return PyObject_CallMethod((PyObject *)self, "annotate_exception", "OnO", error, number,
                               args);
}

/* MULTI, the commands (those answered locally, with an EMPTY_RESPONSE option, are not
 * sent), EXEC: in one write; then redis-py's rules for the replies. */
static PyObject *
run_transaction(sf_pipeline *self, batch *b, int raise_on_error)
{
    sf_state *st = self->client.st;
    Py_ssize_t n = b->n, sent = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int local = has_option(b->options[i], st->str_EMPTY_RESPONSE);
        if (local < 0)
            return NULL;
        sent += !local;
    }
    PyObject *commands = PyList_New(sent + 2);
    if (commands == NULL)
        return NULL;
    PyObject *multi = PyTuple_Pack(1, st->str_MULTI);
    PyObject *exec = PyTuple_Pack(1, st->str_EXEC);
    if (multi == NULL || exec == NULL) {
        Py_XDECREF(multi);
        Py_XDECREF(exec);
        Py_DECREF(commands);
        return NULL;
    }
    PyList_SET_ITEM(commands, 0, multi);
    PyList_SET_ITEM(commands, sent + 1, exec);
    /* (the options dicts are the pipeline's own: nothing can change them between the
     * count and here, no Python code runs) */
    for (Py_ssize_t i = 0, j = 1; i < n && j <= sent; i++)
        if (has_option(b->options[i], st->str_EMPTY_RESPONSE) == 0)
            PyList_SET_ITEM(commands, j++, Py_NewRef(b->args[i]));
    PyObject *replies = send_commands(self, commands, NULL);
    Py_DECREF(commands);
    if (replies == NULL)
        return NULL;
    PyObject *errors = NULL, *result = NULL;
    if (PyList_GET_SIZE(replies) != sent + 2)
        goto wrong_number;
    int is_error;
    PyObject *first = PyList_GET_ITEM(replies, 0);
    if (check_queued(st, first, &is_error) < 0)
        goto done;
    if (is_error && note_error(&errors, 0, first) < 0)
        goto done;
    Py_ssize_t q = 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *local = option(b->options[i], st->str_EMPTY_RESPONSE);
        if (local != NULL) {
            if (note_error(&errors, i, local) < 0)
                goto done;
            continue;
        }
        if (PyErr_Occurred())
            goto done;
        if (q > sent)   /* (an options dict changed while the commands were out) */
            goto wrong_number;
        PyObject *reply = PyList_GET_ITEM(replies, q++);
        if (check_queued(st, reply, &is_error) < 0)
            goto done;
        if (is_error) {
            PyObject *none = annotate(self, reply, i + 1, b->args[i]);
            if (none == NULL)
                goto done;
            Py_DECREF(none);
            if (note_error(&errors, i, reply) < 0)
                goto done;
        }
    }
    PyObject *response = PyList_GET_ITEM(replies, sent + 1);
    if (PyExceptionInstance_Check(response)) {
        int aborted = PyObject_IsInstance(response, st->ExecAbortError);
        if (aborted < 0)
            goto done;
        /* the first error of queueing explains the abort (not a local reply) */
        PyObject *cause = response;
        for (Py_ssize_t k = 0; aborted && errors != NULL && k < PyList_GET_SIZE(errors); k++) {
            PyObject *e = PyTuple_GET_ITEM(PyList_GET_ITEM(errors, k), 1);
            if (PyExceptionInstance_Check(e)) {
                cause = e;
                break;
            }
        }
        raise_instance(cause);
        goto done;
    }
    self->watching = 0;   /* EXEC ends any WATCH */
    if (response == Py_None) {
        PyErr_SetString(st->WatchError, "Watched variable changed.");
        goto done;
    }
    if (!PyList_Check(response))
        goto wrong_number;
    for (Py_ssize_t k = 0; errors != NULL && k < PyList_GET_SIZE(errors); k++) {
        PyObject *pair = PyList_GET_ITEM(errors, k);
        if (PyList_Insert(response, PyLong_AsSsize_t(PyTuple_GET_ITEM(pair, 0)),
                          PyTuple_GET_ITEM(pair, 1)) < 0)
            goto done;
    }
    if (PyList_GET_SIZE(response) != n)
        goto wrong_number;
    if (raise_on_error && raise_first_error(self, b, response) < 0)
        goto done;
    result = apply_callbacks(self, b, response, Py_None);
    goto done;
wrong_number:
    PyErr_SetString(st->ResponseError, "Wrong number of response items from pipeline execution");
done:
    Py_XDECREF(errors);
    Py_DECREF(replies);
    return result;
}

static PyObject *
pipeline_execute(sf_pipeline *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const char *const kwlist[] = {"raise_on_error", NULL};
    PyObject *raise_obj = Py_True;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs > 1 || nargs + nkw > 1) {
        PyErr_SetString(PyExc_TypeError, "execute() takes at most one argument (raise_on_error)");
        return NULL;
    }
    if (nargs == 1)
        raise_obj = args[0];
    else if (nkw == 1) {
        if (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), kwlist[0]) != 0) {
            PyErr_Format(PyExc_TypeError, "execute() got an unexpected keyword argument '%U'",
                         PyTuple_GET_ITEM(kwnames, 0));
            return NULL;
        }
        raise_obj = args[0];
    }
    int raise_on_error = PyObject_IsTrue(raise_obj);
    if (raise_on_error < 0)
        return NULL;

    if (stack_length(self) == 0 && !self->watching)
        return PyList_New(0);
    PyObject *result = NULL;
    if (self->scripts != NULL) {
        int any = PyObject_IsTrue(self->scripts);
        if (any < 0)
            goto reset;
        if (any) {
            PyObject *r = PyObject_CallMethod((PyObject *)self, "load_scripts", NULL);
            if (r == NULL)
                goto reset;
            Py_DECREF(r);
        }
    }
    int transaction = self->explicit_transaction;
    if (!transaction && self->transaction != NULL
        && (transaction = PyObject_IsTrue(self->transaction)) < 0)
        goto reset;
    if (self->transaction == NULL)   /* (never initialised: redis-py's default) */
        transaction = 1;
    batch b;
    if (take_batch(self, &b) < 0)
        goto reset;
    result = transaction ? run_transaction(self, &b, raise_on_error)
                         : run_pipeline(self, &b, raise_on_error);
    release_batch(self, &b);
reset:
    /* finally: self.reset() (an error of reset replaces the pending one, which
     * becomes its context, as in Python) */
    {
        PyObject *pending = sf_err_fetch();
        if (call_reset(self) < 0) {
            Py_CLEAR(result);
            if (pending != NULL) {
                PyObject *now = sf_err_fetch();
                if (now != NULL) {
                    PyException_SetContext(now, pending);   /* steals `pending` */
                    sf_err_restore(now);
                }
                else {
                    sf_err_restore(pending);
                }
            }
        }
        else if (pending != NULL) {
            sf_err_restore(pending);
        }
    }
    return result;
}

static Py_ssize_t
pipeline_length(sf_pipeline *self)
{
    return stack_length(self);
}

static PyObject *
pipeline_enter(sf_pipeline *self, PyObject *unused)
{
    return Py_NewRef(self);
}

static PyObject *
pipeline_exit(sf_pipeline *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (call_reset(self) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* __del__: redis-py's resets (gives back a WATCH connection); errors are dropped. */
static void
pipeline_finalize(sf_pipeline *self)
{
    if (self->client.connection == NULL || self->client.connection == Py_None)
        return;   /* nothing to give back: the stack goes with the object */
    PyObject *pending = sf_err_fetch();
    if (call_reset(self) < 0)
        PyErr_Clear();
    if (pending != NULL)
        sf_err_restore(pending);
}

static PyObject *
pipeline_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    sf_pipeline *self = (sf_pipeline *)sf_client_new(type, args, kwds);
    if (self == NULL)
        return NULL;
    self->transaction = Py_NewRef(Py_True);
    self->shard_hint = Py_NewRef(Py_None);
    return (PyObject *)self;
}

static int
pipeline_init(sf_pipeline *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"connection_pool", "response_callbacks", "transaction",
                             "shard_hint", NULL};
    PyObject *pool, *callbacks, *transaction = Py_True, *shard_hint = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO|OO:Pipeline", kwlist, &pool, &callbacks,
                                     &transaction, &shard_hint))
        return -1;
    if (!PyMapping_Check(callbacks)) {
        PyErr_SetString(PyExc_TypeError, "response_callbacks must be a mapping");
        return -1;
    }
    Py_CLEAR(self->command_stack);
    clear_arrays(self);
    Py_XSETREF(self->client.connection_pool, Py_NewRef(pool));
    Py_XSETREF(self->client.response_callbacks, Py_NewRef(callbacks));
    Py_XSETREF(self->client.connection, Py_NewRef(Py_None));
    Py_XSETREF(self->transaction, Py_NewRef(transaction));
    Py_XSETREF(self->shard_hint, Py_NewRef(shard_hint));
    Py_CLEAR(self->scripts);
    self->watching = 0;
    self->explicit_transaction = 0;
    return 0;
}

static int
pipeline_traverse(sf_pipeline *self, visitproc visit, void *arg)
{
    Py_VISIT(self->command_stack);
    for (Py_ssize_t i = 0; i < self->ncmds; i++) {
        Py_VISIT(self->cmd_args[i]);
        Py_VISIT(self->cmd_options[i]);
    }
    Py_VISIT(self->scripts);
    Py_VISIT(self->transaction);
    Py_VISIT(self->shard_hint);
    return sf_client_traverse(&self->client, visit, arg);
}

static int
pipeline_clear(sf_pipeline *self)
{
    Py_CLEAR(self->command_stack);
    clear_arrays(self);
    Py_CLEAR(self->scripts);
    Py_CLEAR(self->transaction);
    Py_CLEAR(self->shard_hint);
    return sf_client_clear(&self->client);
}

static void
pipeline_dealloc(sf_pipeline *self)
{
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->command_stack);
    free_arrays(self);
    Py_CLEAR(self->scripts);
    Py_CLEAR(self->transaction);
    Py_CLEAR(self->shard_hint);
    sf_client_dealloc(&self->client);
}

/* ---------------------------------------------------------------- attributes */

static PyObject *
get_stack(sf_pipeline *s, void *c)
{
    return Py_XNewRef(stack_list(s));
}

static int
set_stack(sf_pipeline *s, PyObject *v, void *c)
{
    if (v == NULL || !PyList_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "command_stack must be a list");
        return -1;
    }
    clear_arrays(s);
    Py_XSETREF(s->command_stack, Py_NewRef(v));
    return 0;
}

static PyObject *
get_scripts(sf_pipeline *s, void *c)
{
    if (s->scripts == NULL && (s->scripts = PySet_New(NULL)) == NULL)
        return NULL;
    return Py_NewRef(s->scripts);
}

static int
set_scripts(sf_pipeline *s, PyObject *v, void *c)
{
    if (v == NULL) {
        PyErr_SetString(PyExc_AttributeError, "scripts cannot be deleted");
        return -1;
    }
    Py_XSETREF(s->scripts, Py_NewRef(v));
    return 0;
}

static PyObject *get_watching(sf_pipeline *s, void *c) { return PyBool_FromLong(s->watching); }
static PyObject *get_explicit(sf_pipeline *s, void *c)
{
    return PyBool_FromLong(s->explicit_transaction);
}

static int
set_flag(PyObject *v, int *flag, const char *name)
{
    if (v == NULL) {
        PyErr_Format(PyExc_AttributeError, "%s cannot be deleted", name);
        return -1;
    }
    int truth = PyObject_IsTrue(v);
    if (truth < 0)
        return -1;
    *flag = truth;
    return 0;
}

static int set_watching(sf_pipeline *s, PyObject *v, void *c)
{
    return set_flag(v, &s->watching, "watching");
}

static int set_explicit(sf_pipeline *s, PyObject *v, void *c)
{
    return set_flag(v, &s->explicit_transaction, "explicit_transaction");
}

static PyObject *
get_transaction(sf_pipeline *s, void *c)
{
    return Py_NewRef(s->transaction ? s->transaction : Py_True);
}

static int
set_transaction(sf_pipeline *s, PyObject *v, void *c)
{
    Py_XSETREF(s->transaction, Py_NewRef(v ? v : Py_True));
    return 0;
}

static PyObject *
get_shard_hint(sf_pipeline *s, void *c)
{
    return Py_NewRef(s->shard_hint ? s->shard_hint : Py_None);
}

static int
set_shard_hint(sf_pipeline *s, PyObject *v, void *c)
{
    Py_XSETREF(s->shard_hint, Py_NewRef(v ? v : Py_None));
    return 0;
}

static PyGetSetDef pipeline_getset[] = {
    {"command_stack", (getter)get_stack, (setter)set_stack,
     "The buffered commands: a list of (args, options).", NULL},
    {"scripts", (getter)get_scripts, (setter)set_scripts,
     "Scripts to load before execute() (a set).", NULL},
    {"watching", (getter)get_watching, (setter)set_watching,
     "True while WATCHing keys on the pipeline's own connection.", NULL},
    {"explicit_transaction", (getter)get_explicit, (setter)set_explicit,
     "True after multi().", NULL},
    {"transaction", (getter)get_transaction, (setter)set_transaction,
     "Wrap the commands in MULTI/EXEC (as given to the constructor).", NULL},
    {"shard_hint", (getter)get_shard_hint, (setter)set_shard_hint,
     "As given to the constructor (unused).", NULL},
    {NULL},
};

static PyMethodDef pipeline_methods[] = {
    {"execute_command", (PyCFunction)(void (*)(void))pipeline_execute_command,
     METH_FASTCALL | METH_KEYWORDS,
     "execute_command(*args, **options): buffer a command (run it now while WATCHing "
     "before multi()); returns the pipeline."},
    {"pipeline_execute_command", (PyCFunction)(void (*)(void))pipeline_buffer,
     METH_FASTCALL | METH_KEYWORDS,
     "pipeline_execute_command(*args, **options): buffer a command for execute()."},
    {"execute", (PyCFunction)(void (*)(void))pipeline_execute, METH_FASTCALL | METH_KEYWORDS,
     "execute(raise_on_error=True): send the buffered commands in one write and return "
     "their replies, in order; the pipeline is reset."},
    {"reset", (PyCFunction)pipeline_reset, METH_NOARGS,
     "Empty the pipeline; UNWATCH and give back its own connection, if any."},
    {"__enter__", (PyCFunction)pipeline_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)(void (*)(void))pipeline_exit, METH_FASTCALL, NULL},
    {NULL},
};

static PyType_Slot pipeline_slots[] = {
    {Py_tp_doc, "Base of sentinelfast.Pipeline: buffering and batch execution in C."},
    {Py_tp_new, pipeline_new},
    {Py_tp_init, pipeline_init},
    {Py_tp_finalize, pipeline_finalize},
    {Py_tp_dealloc, pipeline_dealloc},
    {Py_tp_traverse, pipeline_traverse},
    {Py_tp_clear, pipeline_clear},
    {Py_tp_methods, pipeline_methods},
    {Py_sq_length, pipeline_length},
    {Py_tp_getset, pipeline_getset},
    {0, NULL},
};

static PyType_Spec pipeline_spec = {
    .name = "sentinelfast._core.PipelineCore",
    .basicsize = sizeof(sf_pipeline),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .slots = pipeline_slots,
};

int
sf_pipeline_exec(PyObject *module, sf_state *st)
{
    PyObject *tp = PyType_FromModuleAndSpec(module, &pipeline_spec, (PyObject *)st->ClientType);
    if (tp == NULL)
        return -1;
    int r = PyModule_AddObjectRef(module, "PipelineCore", tp);
    Py_DECREF(tp);
    return r;
}
