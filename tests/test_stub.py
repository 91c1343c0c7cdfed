"""Each ``.pyi`` stub of a compiled module describes both twins: same names, parameters, annotations.

The stubs are read from next to the installed package, so running this against a wheel also proves
the wheel ships them. ``python -m mypy.stubtest`` checks each stub against its compiled module in
more depth (descriptor kinds, disjoint bases); this test is the part that runs everywhere, and the
only check of the pure twins, which stubtest cannot see through the stubs.

Every test runs once per twin (the ``twin`` fixture): with ``c-extension`` the stubs are compared
with the compiled modules (names and parameter names: Cython keeps no annotations), with
``pure-python`` with the pure twins (names, parameters, defaults and annotations, exactly).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import types
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import pytest

import nexus

PACKAGE = Path(nexus.__file__).parent
# compiled module -> its pure twin, for every stub that ships
TWINS = {
    name: f"{name}_py"
    for name in ("_counters", "_select", "_track", "_core")
    if (PACKAGE / f"{name}.pyi").exists()
}
# Names a stub declares for the compiled module alone (test hooks), per module.
COMPILED_ONLY = {"_counters": {"_hammer", "_hammer_one_thread"}}
# Dunders of a cdef class with no Python-level signature (slot wrappers) or set up by __cinit__.
SLOT_WRAPPERS = {"__init__", "__repr__", "__len__", "__enter__", "__exit__"}


class Param(NamedTuple):
    name: str
    kind: str  # "positional-only", "positional", "keyword-only"
    default: str | None  # source text of the default, None when required
    annotation: str | None


class Member(NamedTuple):
    kind: str  # "method", "staticmethod" or "property"
    params: tuple[Param, ...] | None  # None: a compiled method without introspectable signature
    returns: str | None


def _text(node: ast.expr | None) -> str | None:
    return None if node is None else ast.unparse(node)


def _stub_function(node: ast.FunctionDef | ast.AsyncFunctionDef) -> Member:
    args = node.args
    positional = [(a, "positional-only") for a in args.posonlyargs]
    positional += [(a, "positional") for a in args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += args.defaults
    params = [
        Param(arg.arg, kind, _text(default), _text(arg.annotation))
        for (arg, kind), default in zip(positional, defaults, strict=True)
    ]
    params += [
        Param(arg.arg, "keyword-only", _text(default), _text(arg.annotation))
        for arg, default in zip(args.kwonlyargs, args.kw_defaults, strict=True)
    ]
    decorators = {_text(d) for d in node.decorator_list}
    kind = "property" if "property" in decorators else "method"
    if "staticmethod" in decorators:
        kind = "staticmethod"
    return Member(kind, tuple(params), _text(node.returns))


def _stub(module: str) -> tuple[dict[str, dict[str, Member]], dict[str, Member | None]]:
    """Classes (name -> member -> Member) and module-level names (function Member or None)."""
    tree = ast.parse((PACKAGE / f"{module}.pyi").read_text(encoding="utf-8"))
    classes: dict[str, dict[str, Member]] = {}
    names: dict[str, Member | None] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names[node.name] = None
            members: dict[str, Member] = {}
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    if item.name == "__new__" or any(
                        _text(d) == f"{item.name}.setter" for d in item.decorator_list
                    ):
                        continue  # __new__: construction; a setter: of the property above it
                    members[item.name] = _stub_function(item)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    members[item.target.id] = Member("property", (), _text(item.annotation))
            classes[node.name] = members
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names[node.name] = _stub_function(node)
        elif isinstance(node, ast.ImportFrom):  # explicit re-exports: `import X as X`
            names.update({alias.name: None for alias in node.names if alias.asname == alias.name})
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = None
    return classes, names


def _annotation(value: Any) -> str | None:
    if value is inspect.Parameter.empty or value is inspect.Signature.empty:
        return None
    return value if isinstance(value, str) else inspect.formatannotation(value)


_KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: "positional-only",
    inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
    inspect.Parameter.KEYWORD_ONLY: "keyword-only",
}


def _runtime_function(function: Any, kind: str = "method") -> Member:
    # A compiled method built with binding=False is a plain C method: no signature to compare
    # (3.13+ reports a generic ``(self, object, /)`` for a one-argument one).
    if isinstance(function, (types.MethodDescriptorType, types.BuiltinFunctionType)):
        return Member(kind, None, None)
    try:
        signature = inspect.signature(function)
    except ValueError:
        return Member(kind, None, None)
    params = tuple(
        Param(
            p.name,
            _KINDS.get(p.kind, str(p.kind)),
            None if p.default is inspect.Parameter.empty else repr(p.default),
            _annotation(p.annotation),
        )
        for p in signature.parameters.values()
    )
    return Member(kind, params, _annotation(signature.return_annotation))


def _runtime_member(cls: type, name: str) -> Member | None:
    raw = inspect.getattr_static(cls, name, None)
    if raw is None:
        return None
    if isinstance(raw, property):
        assert raw.fget is not None
        return Member("property", (), _annotation(inspect.signature(raw.fget).return_annotation))
    if inspect.isgetsetdescriptor(raw) or inspect.ismemberdescriptor(raw):
        return Member("property", (), None)
    if isinstance(raw, staticmethod):
        return _runtime_function(raw.__func__, "staticmethod")
    return _runtime_function(getattr(cls, name))


def _public_members(cls: type) -> set[str]:
    """What a user may touch: public names, ``_force`` and the dunders the twins define."""
    own = set(vars(cls)) - {"__doc__", "__module__", "__slots__", "__pyx_vtable__", "__new__"}
    own -= {"__firstlineno__", "__static_attributes__", "__annotations__", "__dict__"}
    own -= {"__weakref__", "__reduce__", "__setstate__", "__reduce_cython__", "__setstate_cython__"}
    return {n for n in own if not n.startswith("_") or n == "_force" or n.endswith("__")}


def _implementation(module: str, twin: ModuleType) -> tuple[ModuleType, bool]:
    compiled = twin.__name__ == "nexus._counters"
    return importlib.import_module(f"nexus.{module if compiled else TWINS[module]}"), compiled


@pytest.mark.parametrize("module", sorted(TWINS))
def test_stub_names_match_the_twin(module: str, twin: ModuleType) -> None:
    implementation, compiled = _implementation(module, twin)
    classes, names = _stub(module)
    only_compiled = COMPILED_ONLY.get(module, set())
    public = {name for name in names if not name.startswith("_")}
    if compiled:
        missing = [name for name in names if not hasattr(implementation, name)]
        assert not missing, f"{module}: in the stub, not in the compiled module: {missing}"
        exported = getattr(implementation, "__all__", None)
        if exported is not None:
            assert set(exported) == public, module
    else:
        assert set(names) - only_compiled == set(implementation.__all__), module
        assert not [name for name in only_compiled if hasattr(implementation, name)], module
    for class_name, members in classes.items():
        cls = getattr(implementation, class_name)
        expected = set(members)
        if compiled:
            expected.discard("__init__")  # a cdef class takes its arguments in __cinit__
        where = f"{module}.{class_name}"
        assert _public_members(cls) - {"__init__"} == expected - {"__init__"}, where


@pytest.mark.parametrize("module", sorted(TWINS))
def test_stub_signatures_match_the_twin(module: str, twin: ModuleType) -> None:
    implementation, compiled = _implementation(module, twin)
    classes, names = _stub(module)
    checks: list[tuple[str, Member, Member | None]] = []
    for class_name, members in classes.items():
        cls = getattr(implementation, class_name)
        for name, stub_member in members.items():
            if compiled and name in SLOT_WRAPPERS:
                continue  # slot wrappers of a cdef class carry no Python signature
            checks.append((f"{class_name}.{name}", stub_member, _runtime_member(cls, name)))
    for name, stub_function in names.items():
        if stub_function is not None and hasattr(implementation, name):
            runtime_function = _runtime_function(getattr(implementation, name))
            checks.append((name, stub_function, runtime_function))
    for where, stub_member, runtime in checks:
        where = f"{module}.{where}"
        assert runtime is not None, where
        assert runtime.kind == stub_member.kind, where
        if runtime.kind == "property":
            if runtime.returns is not None:
                assert runtime.returns == stub_member.returns, where
            continue
        assert stub_member.params is not None, where
        if runtime.params is None:
            assert compiled, where
            continue
        stub_params = tuple(
            p._replace(default=_resolve_default(p.default, implementation))
            for p in stub_member.params
        )
        assert [p.name for p in runtime.params] == [p.name for p in stub_params], where
        assert [p.default for p in runtime.params] == [p.default for p in stub_params], where
        if not compiled:  # the pure twin is annotated exactly like the stub
            assert runtime.params == stub_params, where
            assert runtime.returns == stub_member.returns, where


def _resolve_default(text: str | None, module: ModuleType) -> str | None:
    """A stub default naming a module constant (``= DEFAULT_WEIGHTS``), as the runtime repr."""
    if text is not None and text.isidentifier() and hasattr(module, text):
        return repr(getattr(module, text))
    return text
