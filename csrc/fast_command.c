/* FastCommand: a method of sentinelfast.Redis for a hot command whose redis-py
 * method, called with exactly its required positional arguments, only sends the
 * command with those arguments (GET name, SET name value). Called that way it runs
 * self.execute_command(NAME, *args) directly, without the Python frame of redis-py's
 * method; called any other way (options, keywords) it runs redis-py's method, so the
 * result is redis-py's in every case. A subclass's execute_command is honoured (it is
 * looked up on the instance). It is a method descriptor: `obj.get(...)` binds
 * nothing.
 *
 * A keys command (MGET) takes one list or tuple of keys: called with exactly one
 * non-empty list or tuple it runs self.execute_command(NAME, *keys, keys=[*keys]),
 * what redis-py's method sends and passes (its list_or_args), without that method's
 * frame, import and list building; called any other way, redis-py's method runs. */
#include "sentinelfast.h"

#include <string.h>
#include <structmember.h>

#define FAST_COMMAND_MAX_ARITY 6

typedef struct {
    PyObject_HEAD
    PyObject *name;             /* the command name sent, str */
    PyObject *fallback;         /* redis-py's method (a function taking self first) */
    PyObject *execute_command;  /* interned "execute_command" */
    PyObject *keys_kwnames;     /* ("keys",) for a keys command, else NULL */
    Py_ssize_t arity;           /* positional arguments (after self) of the fast path */
    vectorcallfunc vectorcall;
} sf_fast_command;

static PyObject *
fast_command_call(sf_fast_command *self, PyObject *const *args, size_t nargsf,
                  PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (kwnames != NULL || nargs != self->arity + 1)
        return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
    /* [instance, NAME, arg...] -> instance.execute_command(NAME, arg...) */
    PyObject *call[FAST_COMMAND_MAX_ARITY + 2];
    call[0] = args[0];
    call[1] = self->name;
    for (Py_ssize_t i = 1; i < nargs; i++)
        call[i + 1] = args[i];
    return PyObject_VectorcallMethod(self->execute_command, call, (size_t)(nargs + 1), NULL);
}

#define KEYS_ON_STACK 32

/* [instance, [k1, ...]] -> instance.execute_command(NAME, k1, ..., keys=[k1, ...]) */
static PyObject *
fast_keys_command_call(sf_fast_command *self, PyObject *const *args, size_t nargsf,
                       PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    PyObject *keys = nargs == 2 ? args[1] : NULL;
    if (kwnames != NULL || keys == NULL || !(PyList_CheckExact(keys) || PyTuple_CheckExact(keys))
        || PySequence_Fast_GET_SIZE(keys) == 0)
        return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
    PyObject *list = PySequence_List(keys);   /* a copy: the caller's list may change */
    if (list == NULL)
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(list);
    PyObject *stack[KEYS_ON_STACK + 3], **call = stack;
    if (n > KEYS_ON_STACK && (call = PyMem_New(PyObject *, (size_t)n + 3)) == NULL) {
        Py_DECREF(list);
        return PyErr_NoMemory();
    }
    call[0] = args[0];
    call[1] = self->name;
    memcpy(call + 2, PySequence_Fast_ITEMS(list), (size_t)n * sizeof(PyObject *));
    call[n + 2] = list;
    PyObject *result = PyObject_VectorcallMethod(self->execute_command, call, (size_t)(n + 2),
                                                 self->keys_kwnames);
    if (call != stack)
        PyMem_Free(call);
    Py_DECREF(list);
    return result;
}

static PyObject *
fast_command_get(PyObject *self, PyObject *obj, PyObject *type)
{
    if (obj == NULL || obj == Py_None)
        return Py_NewRef(self);
    return PyMethod_New(self, obj);
}

static PyObject *
fast_command_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"name", "fallback", "arity", "keys", NULL};
    PyObject *name, *fallback;
    Py_ssize_t arity;
    int keys = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "UOn|$p:FastCommand", kwlist, &name, &fallback,
                                     &arity, &keys))
        return NULL;
    if (keys && arity != 1) {
        PyErr_SetString(PyExc_ValueError, "a keys command takes one argument (arity 1)");
        return NULL;
    }
    if (arity < 0 || arity > FAST_COMMAND_MAX_ARITY) {
        PyErr_Format(PyExc_ValueError, "arity must be between 0 and %d",
                     FAST_COMMAND_MAX_ARITY);
        return NULL;
    }
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "fallback must be callable");
        return NULL;
    }
    sf_fast_command *self = (sf_fast_command *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->execute_command = PyUnicode_InternFromString("execute_command");
    if (self->execute_command == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    if (keys && (self->keys_kwnames = Py_BuildValue("(s)", "keys")) == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->name = Py_NewRef(name);
    self->fallback = Py_NewRef(fallback);
    self->arity = arity;
    self->vectorcall = keys ? (vectorcallfunc)fast_keys_command_call
                            : (vectorcallfunc)fast_command_call;
    return (PyObject *)self;
}

static int
fast_command_traverse(sf_fast_command *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->name);
    Py_VISIT(self->fallback);
    return 0;
}

static int
fast_command_clear(sf_fast_command *self)
{
    Py_CLEAR(self->name);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->execute_command);
    Py_CLEAR(self->keys_kwnames);
    return 0;
}

static void
fast_command_dealloc(sf_fast_command *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    fast_command_clear(self);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

/* __doc__, __name__, __qualname__, __module__: redis-py's method's (help() and
 * inspect.signature, through __wrapped__, show redis-py's). */
static PyObject *
fallback_attr(sf_fast_command *self, void *name)
{
    return PyObject_GetAttrString(self->fallback, (const char *)name);
}

static PyObject *
get_wrapped(sf_fast_command *self, void *c)
{
    return Py_NewRef(self->fallback);
}

static PyObject *
get_command(sf_fast_command *self, void *c)
{
    return Py_NewRef(self->name);
}

static PyGetSetDef fast_command_getset[] = {
    {"__doc__", (getter)fallback_attr, NULL, NULL, "__doc__"},
    {"__name__", (getter)fallback_attr, NULL, NULL, "__name__"},
    {"__qualname__", (getter)fallback_attr, NULL, NULL, "__qualname__"},
    {"__module__", (getter)fallback_attr, NULL, NULL, "__module__"},
    {"__wrapped__", (getter)get_wrapped, NULL, "redis-py's method.", NULL},
    {"command", (getter)get_command, NULL, "The command name sent on the fast path.", NULL},
    {NULL},
};

static PyMemberDef fast_command_members[] = {
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(sf_fast_command, vectorcall), READONLY},
    {NULL},
};

static PyType_Slot fast_command_slots[] = {
    /* (no Py_tp_doc: an instance's __doc__ is redis-py's method's, from the getter) */
    {Py_tp_new, fast_command_new},
    {Py_tp_call, PyVectorcall_Call},
    {Py_tp_descr_get, fast_command_get},
    {Py_tp_dealloc, fast_command_dealloc},
    {Py_tp_traverse, fast_command_traverse},
    {Py_tp_clear, fast_command_clear},
    {Py_tp_getset, fast_command_getset},
    {Py_tp_members, fast_command_members},
    {0, NULL},
};

static PyType_Spec fast_command_spec = {
    .name = "sentinelfast._core.FastCommand",
    .basicsize = sizeof(sf_fast_command),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL
             | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .slots = fast_command_slots,
};

int
sf_fast_command_exec(PyObject *module)
{
    PyObject *tp = PyType_FromModuleAndSpec(module, &fast_command_spec, NULL);
    if (tp == NULL)
        return -1;
    int r = PyModule_AddObjectRef(module, "FastCommand", tp);
    Py_DECREF(tp);
    return r;
}
