/* sentinelfast._core: differences between the supported CPython versions (3.10-3.13).
 *
 * Included by sentinelfast.h right after Python.h, so every file sees the same API
 * whatever the interpreter it is built for. */
#ifndef SENTINELFAST_PY_COMPAT_H
#define SENTINELFAST_PY_COMPAT_H

#include <Python.h>
#include <stddef.h>     /* offsetof: Python.h stopped including it in 3.12 */

#if PY_VERSION_HEX < 0x030B0000
/* 3.10 lacks the type-introspection calls added in 3.11; these give the same results
 * for the heap types and builtin types this module asks about. */

/* New reference to type.__name__, or NULL with an exception set. */
static inline PyObject *
PyType_GetName(PyTypeObject *type)
{
    return PyObject_GetAttrString((PyObject *)type, "__name__");
}

/* New reference to type.__qualname__, or NULL with an exception set. */
static inline PyObject *
PyType_GetQualName(PyTypeObject *type)
{
    return PyObject_GetAttrString((PyObject *)type, "__qualname__");
}

/* Borrowed reference to the module whose definition is `def`, found on the first heap
 * type in type's MRO that was created by it; NULL with TypeError if there is none. */
static inline PyObject *
PyType_GetModuleByDef(PyTypeObject *type, PyModuleDef *def)
{
    PyObject *mro = type->tp_mro;
    if (mro != NULL && PyTuple_Check(mro)) {
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(mro); i++) {
            PyTypeObject *base = (PyTypeObject *)PyTuple_GET_ITEM(mro, i);
            if (!(base->tp_flags & Py_TPFLAGS_HEAPTYPE))
                continue;
            PyObject *module = ((PyHeapTypeObject *)base)->ht_module;
            if (module != NULL && PyModule_GetDef(module) == def)
                return module;
        }
    }
    PyErr_Format(PyExc_TypeError, "PyType_GetModuleByDef: no superclass of '%s' has "
                 "the given module", type->tp_name);
    return NULL;
}
#endif

#endif /* SENTINELFAST_PY_COMPAT_H */
