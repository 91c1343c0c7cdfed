/*
 * _pydict.h -- a dict lookup that returns a STRONG reference, for every compiled nexus module.
 *
 * PyDict_GetItemWithError returns a borrowed reference; without a GIL (3.13t and later) another
 * thread may delete the entry and free the value before the caller's Py_INCREF. PyDict_GetItemRef
 * (3.13+) takes the reference inside the dict's own lock. Returns 1 (found, *result is a new
 * reference), 0 (absent, *result is NULL) or -1 (error set).
 */
#ifndef NEXUS_PYDICT_H
#define NEXUS_PYDICT_H

#include <Python.h>

static inline int nexus_dict_get_ref(PyObject *dict, PyObject *key, PyObject **result) {
#if PY_VERSION_HEX >= 0x030D0000
    return PyDict_GetItemRef(dict, key, result);
#else
    *result = PyDict_GetItemWithError(dict, key);
    if (*result == NULL) return PyErr_Occurred() ? -1 : 0;
    Py_INCREF(*result);
    return 1;
#endif
}

#endif /* NEXUS_PYDICT_H */
