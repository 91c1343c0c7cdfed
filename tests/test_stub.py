"""``_counters.pyi`` describes both twins: same names, same parameters, same annotations.

The stub is read from next to the installed package, so running this against a wheel also proves
the wheel ships it. ``python -m mypy.stubtest nexus._counters`` checks the stub against the
compiled module in more depth (types of descriptors, disjoint bases); this test is the part that
runs everywhere, including on the pure twin, which stubtest cannot see through the stub.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

from nexus import _counters_py

STUB = Path(_counters_py.__file__).with_name("_counters.pyi")
TEST_ONLY_C = {"_hammer", "_hammer_one_thread"}  # test hooks of the compiled module alone


class Param(NamedTuple):
    name: str
    default: str | None  # source text of the default, None when required
    annotation: str | None


class Member(NamedTuple):
    kind: str  # "method" or "property"
    params: tuple[Param, ...]
    returns: str | None


def _text(node: ast.expr | None) -> str | None:
    return None if node is None else ast.unparse(node)


def _stub_function(node: ast.FunctionDef) -> Member:
    args = node.args
    positional = args.posonlyargs + args.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += args.defaults
    params = tuple(
        Param(arg.arg, _text(default), _text(arg.annotation))
        for arg, default in zip(positional, defaults, strict=True)
    )
    is_property = any(_text(d) == "property" for d in node.decorator_list)
    return Member("property" if is_property else "method", params, _text(node.returns))


def _stub() -> tuple[dict[str, dict[str, Member]], set[str]]:
    """Classes of the stub (name -> member -> Member) and its module-level names."""
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    classes: dict[str, dict[str, Member]] = {}
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names.add(node.name)
            classes[node.name] = {
                item.name: _stub_function(item)
                for item in node.body
                if isinstance(item, ast.FunctionDef)
            }
        elif isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return classes, names


def _runtime_member(cls: type, name: str) -> Member | None:
    raw = inspect.getattr_static(cls, name, None)
    if raw is None:
        return None
    if isinstance(raw, property):
        return Member("property", (), _annotation(inspect.signature(raw.fget).return_annotation))
    if inspect.isgetsetdescriptor(raw) or inspect.ismemberdescriptor(raw):
        return Member("property", (), None)
    signature = inspect.signature(getattr(cls, name))
    params = tuple(
        Param(
            p.name,
            None if p.default is inspect.Parameter.empty else repr(p.default),
            _annotation(p.annotation),
        )
        for p in signature.parameters.values()
    )
    return Member("method", params, _annotation(signature.return_annotation))


def _annotation(value: Any) -> str | None:
    if value is inspect.Parameter.empty or value is inspect.Signature.empty:
        return None
    return value if isinstance(value, str) else inspect.formatannotation(value)


def _public_members(cls: type) -> set[str]:
    """What a user may touch: public names, ``_force`` and the dunders the twins define."""
    own = set(vars(cls)) - {"__doc__", "__module__", "__slots__", "__pyx_vtable__", "__new__"}
    own -= {"__firstlineno__", "__static_attributes__"}  # added to every class by Python 3.13
    own -= {"__reduce__", "__setstate__", "__reduce_cython__", "__setstate_cython__"}
    return {n for n in own if not n.startswith("_") or n == "_force" or n.endswith("__")}


def test_stub_names_match_the_twin(twin: ModuleType) -> None:
    classes, names = _stub()
    if twin is _counters_py:
        assert names == set(_counters_py.__all__) | TEST_ONLY_C
        assert not any(hasattr(twin, name) for name in TEST_ONLY_C)
    else:
        assert all(hasattr(twin, name) for name in names)
    assert isinstance(twin.ATOMIC_IMPLEMENTATION, str)
    for class_name, members in classes.items():
        cls = getattr(twin, class_name)
        expected = set(members)
        if twin is not _counters_py:
            expected.discard("__init__")  # a cdef class takes its arguments in __cinit__
        assert _public_members(cls) == expected, class_name


def test_stub_signatures_match_the_twin(twin: ModuleType) -> None:
    classes, _ = _stub()
    compiled = twin is not _counters_py
    for class_name, members in classes.items():
        cls = getattr(twin, class_name)
        for name, stub_member in members.items():
            if compiled and name in ("__init__", "__repr__", "__len__"):
                continue  # slot wrappers of a cdef class carry no Python signature
            runtime = _runtime_member(cls, name)
            where = f"{class_name}.{name}"
            assert runtime is not None, where
            assert runtime.kind == stub_member.kind, where
            if runtime.kind == "property":
                if runtime.returns is not None:
                    assert runtime.returns == stub_member.returns, where
                continue
            assert [p.name for p in runtime.params] == [p.name for p in stub_member.params], where
            assert [p.default for p in runtime.params] == [p.default for p in stub_member.params], (
                where
            )
            if not compiled:  # the pure twin is annotated exactly like the stub
                assert runtime.params == stub_member.params, where
                assert runtime.returns == stub_member.returns, where


def test_stub_test_hooks_match_the_compiled_module(twin: ModuleType) -> None:
    if twin is _counters_py:
        return  # the pure twin has no test hooks; test_stub_names_match_the_twin checks that
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            stub_member = _stub_function(node)
            runtime = inspect.signature(getattr(twin, node.name))
            assert [p.name for p in stub_member.params] == list(runtime.parameters), node.name
