"""Hostile input: a hypothesis fuzz of every public entry point of nexus.

Every constructor (``Model``, ``Backend``, ``BackendView``, ``Registry``), ``Model.from_dict``,
``BackendView.from_dict``/``from_backend``, every public method of ``Registry`` (found by
introspection, so a method added later is fuzzed too) and the config loader (``parse_config``,
``load_config``, ``Registry.from_config``) get arbitrary Python objects: ``None``, huge and negative
ints, ``bool``, NaN and infinities, bytes, very long and non-ASCII strings (lone surrogates and NUL
included), nested containers, and objects whose ``__eq__``/``__hash__``/``__str__``/``__repr__``
(and more) raise -- also as ``str`` and ``int`` subclasses, which pass ``isinstance`` checks.

The contract: only ``TypeError``, ``ValueError`` or a ``RegistryError`` may come out; after every
rejected registry call ``to_dict()`` is exactly what it was before (and the self-check finds
nothing to repair after any call); the interpreter never crashes.

Hostile objects are generated as ``Make`` recipes with a safe ``repr`` and built inside the test,
so hypothesis can always print a failing example.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import nexus
from nexus import Backend, BackendView, Model, Registry, RegistryError
from nexus.config import load_config, parse_config

ALLOWED = (TypeError, ValueError, RegistryError)


class Boom(Exception):
    """What hostile objects raise: never one of the allowed errors, so any leak fails the test."""


def _boom(*_args: object, **_kwargs: object) -> Any:
    raise Boom("hostile")


class Hostile:
    """Raises from every special method a library might call on an argument."""

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _boom
    __hash__ = __str__ = __repr__ = __format__ = __bool__ = _boom  # type: ignore[assignment]
    __len__ = __iter__ = __index__ = __int__ = __float__ = __fspath__ = _boom  # type: ignore[assignment]
    __getitem__ = __contains__ = __reduce__ = _boom


class HostileStr(str):
    """A ``str`` that passes ``isinstance(x, str)`` but whose dunders raise (hash too)."""

    __eq__ = __ne__ = __hash__ = __str__ = __repr__ = __format__ = _boom  # type: ignore[assignment]
    __len__ = __iter__ = __getitem__ = __add__ = __mod__ = _boom  # type: ignore[assignment]
    lower = strip = rstrip = encode = endswith = startswith = _boom  # type: ignore[assignment]


class SneakyStr(str):
    """Usable as a dict key (real ``str`` hash) but ``__eq__``/``__str__``/``__repr__`` raise."""

    __hash__ = str.__hash__
    __eq__ = __ne__ = __str__ = __repr__ = __format__ = _boom  # type: ignore[assignment]


class HostileInt(int):
    """An ``int`` whose dunders raise."""

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _boom
    __hash__ = __str__ = __repr__ = __format__ = __index__ = __int__ = _boom  # type: ignore[assignment]
    __bool__ = __add__ = __sub__ = __mul__ = __floordiv__ = _boom  # type: ignore[assignment]


class HostileMapping(Mapping):
    """A ``Mapping`` that cannot be read."""

    __getitem__ = __iter__ = __len__ = items = keys = values = get = _boom  # type: ignore[assignment]


class HostileIterable:
    """Yields one good-looking item, then raises."""

    def __iter__(self) -> Iterator[object]:
        yield Model("fine")
        raise Boom("mid-iteration")


class BadPath(os.PathLike):
    """A path whose ``__fspath__`` returns something that is not a path."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __fspath__(self) -> Any:
        return self.value


class Make:
    """A recipe for a hostile object (built in the test; its repr is safe for hypothesis)."""

    def __init__(self, kind: str, arg: object = None) -> None:
        self.kind, self.arg = kind, arg

    def __repr__(self) -> str:
        return f"Make({self.kind!r}, {self.arg!r})"


def realize(value: object) -> object:
    """Build the objects a recipe describes, recursively through containers."""
    if isinstance(value, Make):
        makers = {
            "hostile": lambda arg: Hostile(),
            "hostile_str": lambda arg: HostileStr(arg),
            "sneaky_str": lambda arg: SneakyStr(arg),
            "hostile_int": lambda arg: HostileInt(arg),
            "hostile_mapping": lambda arg: HostileMapping(),
            "hostile_iterable": lambda arg: HostileIterable(),
            "bad_path": lambda arg: BadPath(realize(arg)),
            "generator": lambda arg: (item for item in realize(arg)),
            "model": lambda arg: Model(arg),
            "object": lambda arg: object(),
            "type": lambda arg: Model,
        }
        return makers[value.kind](value.arg)
    if isinstance(value, list):
        return [realize(item) for item in value]
    if isinstance(value, tuple):
        return tuple(realize(item) for item in value)
    if isinstance(value, dict):
        built = {}
        for key, item in value.items():
            with contextlib.suppress(Boom):  # a hostile key equal to one already there
                built[realize(key)] = realize(item)
        return built
    return value


# ---- strategies -------------------------------------------------------------------------------------

texts = st.one_of(
    st.text(max_size=20),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=40),  # surrogates, NUL...
    st.sampled_from(["", " ", "\x00", "\ud800", "é", "模型", "🦙", "healthy", "ollama"]),
    st.sampled_from(["a" * 10_000, "é" * 1001, "模" * 1001 + "\ud800", "\x00" * 2000]),  # long
)
ints = st.one_of(
    st.integers(-10, 10),
    st.integers(),
    st.sampled_from([2**31 - 1, -(2**31), 2**31, 2**32 - 1, 2**32, 2**63, 2**64 - 1, 2**64, -1]),
    st.sampled_from([10**100, -(10**100), 2**1000]),
)
floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308]),
)
hostile_atoms = st.one_of(
    st.just(Make("hostile")),
    st.builds(Make, st.just("hostile_str"), st.sampled_from(["a", "healthy", "http://x"])),
    st.builds(Make, st.just("sneaky_str"), st.sampled_from(["a", "id", "llama3"])),
    st.builds(Make, st.just("hostile_int"), st.sampled_from([0, 1, 5, 2**40])),
    st.just(Make("hostile_mapping")),
    st.just(Make("hostile_iterable")),
    st.just(Make("object")),
    st.just(Make("type")),
)
plain_atoms = st.one_of(
    st.none(),
    st.booleans(),
    ints,
    floats,
    texts,
    st.binary(max_size=20),
    st.just(bytearray(b"x")),
    st.complex_numbers(allow_nan=True),
)
atoms = st.one_of(plain_atoms, hostile_atoms)
anything = st.recursive(
    atoms,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(st.one_of(st.text(max_size=8), ints, st.none()), children, max_size=4),
        st.builds(Make, st.just("generator"), st.lists(children, max_size=3)),
        st.builds(Make, st.just("bad_path"), children),
    ),
    max_leaves=8,
)


def arg(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A valid value about half the time, anything at all otherwise."""
    return st.one_of(valid, anything)


backend_ids = st.sampled_from(["a", "b", "c", "new", "zz"])
model_ids = st.sampled_from(["llama3", "mistral", "vision", "nope"])
statuses = st.sampled_from(["healthy", "unhealthy", "unknown", "draining", *nexus.BackendStatus])
valid_models = st.lists(model_ids, unique=True, max_size=3).map(
    lambda ids: [Make("model", model_id) for model_id in ids]
)
valid_urls = st.sampled_from(["http://h.local:1", "https://x.example/v1/", "http://a.local:11434"])


def fields_of(
    draw: st.DrawFn, valid: dict[str, st.SearchStrategy[Any]], required: tuple[str, ...]
) -> dict[str, Any]:
    """Keyword arguments: each field valid, hostile or (if optional) left out."""
    kwargs: dict[str, Any] = {}
    for name, strategy in valid.items():
        if name not in required and draw(st.booleans()):
            continue
        kwargs[name] = draw(arg(strategy))
    return kwargs


MODEL_VALID = {
    "id": model_ids,
    "name": texts,
    "context_length": st.integers(0, 2**32 - 1),
    "supports_vision": st.booleans(),
    "supports_tools": st.booleans(),
    "supports_json_mode": st.booleans(),
    "max_output_tokens": st.none() | st.integers(0, 2**32 - 1),
}
BACKEND_VALID = {
    "id": backend_ids,
    "name": st.text(min_size=1, max_size=10),
    "url": valid_urls,
    "backend_type": st.sampled_from(["ollama", "vllm", *nexus.BackendType]),
    "models": valid_models,
    "discovery_source": st.sampled_from(["static", "mdns", *nexus.DiscoverySource]),
    "metadata": st.none() | st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    "priority": st.integers(-(2**31), 2**31 - 1),
}


def call(function: Any, *args: Any, **kwargs: Any) -> tuple[bool, Any]:
    """``(True, result)``, or ``(False, error)`` for an allowed error; anything else fails."""
    try:
        return True, function(*args, **kwargs)
    except ALLOWED as exc:
        str(exc)  # the message itself must be buildable
        return False, exc


# ---- value types ------------------------------------------------------------------------------------


@given(data=st.data())
def test_fuzz_model_constructor(data: st.DataObject) -> None:
    kwargs = realize(data.draw(st.composite(lambda d: fields_of(d, MODEL_VALID, ("id",)))()))
    ok, model = call(Model, **kwargs)
    if ok:
        assert Model.from_dict(model.to_dict()) == model
        assert hash(model) == hash(Model.from_dict(model.to_dict()))


@given(data=st.data())
def test_fuzz_model_from_dict(data: st.DataObject) -> None:
    keys = st.one_of(
        st.sampled_from(list(MODEL_VALID)),
        st.text(max_size=6),
        ints,
        st.none(),
        st.builds(Make, st.just("sneaky_str"), st.sampled_from(["id", "name"])),
    )
    payload = data.draw(
        st.one_of(
            anything,
            st.dictionaries(keys, anything, max_size=8),
            st.composite(lambda d: fields_of(d, MODEL_VALID, ("id",)))(),
        )
    )
    ok, model = call(Model.from_dict, realize(payload))
    if ok:
        assert Model.from_dict(model.to_dict()) == model


@given(data=st.data())
def test_fuzz_backend_constructor(data: st.DataObject) -> None:
    required = ("id", "name", "url", "backend_type")
    kwargs = realize(data.draw(st.composite(lambda d: fields_of(d, BACKEND_VALID, required))()))
    ok, backend = call(Backend, **kwargs)
    if ok:
        view = backend.view()
        assert BackendView.from_dict(view.to_dict()) == view
        assert BackendView.from_dict(view.to_dict()).to_json() == view.to_json()


def _valid_view_dict() -> dict[str, Any]:
    backend = Backend("v", "V", "http://v.local:1", "exo", [Model("m")], metadata={"k": "v"})
    return backend.view().to_dict()


@given(
    replaced=st.dictionaries(st.sampled_from(list(_valid_view_dict())), anything, max_size=4),
    dropped=st.sets(st.sampled_from(list(_valid_view_dict())), max_size=2),
    extra=st.dictionaries(st.one_of(st.text(max_size=5), ints), anything, max_size=2),
    as_constructor=st.booleans(),
)
def test_fuzz_backend_view(
    replaced: dict[str, Any], dropped: set[str], extra: dict[Any, Any], as_constructor: bool
) -> None:
    """``BackendView.from_dict`` and the constructor, from a valid dict with fields replaced."""
    payload = _valid_view_dict()
    payload.update(realize(replaced))
    for key in dropped:
        payload.pop(key, None)
    if as_constructor:
        payload.pop("models", None)
        ok, view = call(BackendView, **{k: v for k, v in payload.items() if type(k) is str})
    else:
        payload.update(realize(extra))
        ok, view = call(BackendView.from_dict, payload)
    if ok:
        assert BackendView.from_dict(view.to_dict()) == view


@given(value=anything)
def test_fuzz_from_backend_and_registry_constructor(value: Any) -> None:
    value = realize(value)
    call(BackendView.from_backend, value)
    with pytest.raises(TypeError):
        Registry(value)
    assert Registry().to_dict() == {"backends": []}


# ---- every public Registry method ---------------------------------------------------------------------

# A new, valid Backend (built in the test, so that each call gets its own object).
valid_backends = st.fixed_dictionaries(BACKEND_VALID).map(lambda kw: Make("backend_kwargs", kw))

# Valid values for parameters of these names (other parameters get anything at all).
PARAMETER_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "backend_id": backend_ids,
    "model_id": model_ids,
    "status": statuses,
    "error": st.none() | st.text(max_size=5),
    "models": valid_models,
    "latency_ms": st.integers(0, 2**32 - 1),
    "url": valid_urls,
    "instance": st.sampled_from(["svc-1", "svc-2"]),
    "indent": st.none() | st.integers(0, 4),
    "backend": st.one_of(backend_ids, valid_backends),
    "backends": st.lists(st.one_of(valid_backends, anything), max_size=3),
}


def _signature(*names: str) -> inspect.Signature:
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return inspect.Signature([inspect.Parameter(name, positional) for name in ("self", *names)])


# The contract's signatures, for methods compiled without an introspectable signature.
KNOWN_SIGNATURES = {
    "get_backend": _signature("backend_id"),
    "get_all_backends": _signature(),
    "get_healthy_backends": _signature(),
    "get_backends_for_model": _signature("model_id"),
    "increment_pending": _signature("backend_id"),
    "decrement_pending": _signature("backend_id"),
    "increment_total_requests": _signature("backend_id"),
    "update_latency": _signature("backend_id", "latency_ms"),
    "__len__": _signature(),
    "__iter__": _signature(),
    "__contains__": _signature("backend_id"),
}


def public_methods() -> dict[str, inspect.Signature | None]:
    """Every public method of ``Registry`` (and ``in``/``len``/``iter``), with its signature."""
    methods = {}
    for name in sorted(dir(Registry)):
        if name.startswith("_") and name not in ("__contains__", "__len__", "__iter__"):
            continue
        attribute = inspect.getattr_static(Registry, name)
        if isinstance(attribute, (classmethod, staticmethod, property)):
            continue  # from_config: fuzzed with the config loader below
        function = getattr(Registry, name)
        if not callable(function):
            continue
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):  # an extension method without a text signature
            signature = KNOWN_SIGNATURES.get(name)
        methods[name] = signature
    return methods


METHODS = public_methods()


def test_public_methods_found() -> None:
    """The introspection sees the contract's methods (so the fuzz below covers them)."""
    contract = {
        "add_backend", "remove_backend", "get_backend", "get_all_backends",
        "get_healthy_backends", "get_backends_for_model", "backend_count", "model_count",
        "update_status", "update_models", "increment_pending", "decrement_pending",
        "increment_total_requests", "update_latency", "has_backend_url", "set_mdns_instance",
        "find_by_mdns_instance", "to_dict", "to_json", "__contains__", "__len__", "__iter__",
    }  # fmt: skip
    assert contract <= set(METHODS)


@st.composite
def method_calls(draw: st.DrawFn) -> tuple[str, list[Any], dict[str, Any]]:
    name = draw(st.sampled_from(sorted(METHODS)))
    signature = METHODS[name]
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    if signature is None:  # unknown shape: 0..3 positional arguments of any kind
        return name, draw(st.lists(anything, max_size=3)), kwargs
    parameters = [p for p in signature.parameters.values() if p.name != "self"]
    for parameter in parameters:
        strategy = arg(PARAMETER_VALUES.get(parameter.name, anything))
        optional = parameter.default is not inspect.Parameter.empty
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if optional and draw(st.integers(0, 2)) == 0:
            continue
        if parameter.kind is parameter.KEYWORD_ONLY or (optional and draw(st.booleans())):
            kwargs[parameter.name] = draw(strategy)
        else:
            if len(args) < len([p for p in parameters if p.kind is not p.KEYWORD_ONLY]):
                args.append(draw(strategy))
    if draw(st.integers(0, 9)) == 0:  # now and then a wrong arity
        args.append(draw(anything))
    return name, args, kwargs


def realize_call_value(value: Any) -> Any:
    if isinstance(value, Make) and value.kind == "backend_kwargs":
        return Backend(**realize(value.arg))
    if isinstance(value, list):
        return [realize_call_value(item) for item in value]
    return realize(value)


def seeded_registry() -> Registry:
    registry = Registry()
    registry.add_backends(
        [
            Backend("a", "A", "http://a.local:11434", "ollama", [Model("llama3")]),
            Backend("b", "B", "http://b.local:8000/", "vllm", [Model("llama3"), Model("mistral")]),
            Backend("c", "C", "http://c.local:1", "exo", [Model("vision", supports_vision=True)]),
        ]
    )
    registry.update_status("a", "healthy")
    registry.update_status("b", "draining", "busy")
    registry.set_mdns_instance("c", "svc-1")
    registry.increment_pending("b")
    registry.update_latency("b", 120)
    return registry


@given(calls=st.lists(method_calls(), min_size=1, max_size=12))
@example(calls=[("add_backends", [Make("hostile")], {})])  # found: the iteration error leaked
@example(calls=[("add_backends", [Make("hostile_iterable")], {})])
@example(calls=[("to_json", [], {"indent": Make("hostile")})])  # found: leaked from json.dumps
@example(calls=[("to_json", [], {"indent": 10**100})])  # found: OverflowError from json.dumps
def test_fuzz_every_registry_method(calls: list[tuple[str, list[Any], dict[str, Any]]]) -> None:
    """Random calls with valid and hostile arguments; a rejected call changes nothing."""
    registry = seeded_registry()
    for name, raw_args, raw_kwargs in calls:
        args = [realize_call_value(a) for a in raw_args]
        kwargs = {k: realize_call_value(v) for k, v in raw_kwargs.items()}
        before = registry.to_dict()
        ok, result = call(getattr(registry, name), *args, **kwargs)
        if not ok:
            assert registry.to_dict() == before, f"{name} was rejected but changed the registry"
        elif hasattr(result, "__enter__") and hasattr(result, "__exit__"):
            with result:  # e.g. a request-tracking context manager
                pass
        elif isinstance(result, Iterator):
            list(result)
        assert registry.check_consistency() == []
        registry.to_json()


# ---- the config loader -------------------------------------------------------------------------------

toml_keys = st.sampled_from(["id", "name", "url", "type", "priority", "metadata", "models", "junk"])
toml_scalars = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["ollama", "vllm", "http://h.local:1", "https://x/", "llama3", "é🦙"]),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
toml_values = st.recursive(
    toml_scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["id", "name", "context_length", "x"]), children, max_size=3
        )
    ),
    max_leaves=6,
)


def toml_value(value: Any) -> str:
    """TOML text for ``value`` as an inline value (strings JSON-escaped, which TOML accepts)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        import json

        return json.dumps(value)  # lone surrogates become \ud800: TOML rejects them, as it should
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return "{" + ", ".join(f"{json_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def json_key(key: str) -> str:
    import json

    return json.dumps(key)


@st.composite
def toml_documents(draw: st.DrawFn) -> str:
    entries = draw(
        st.lists(
            st.one_of(
                st.fixed_dictionaries(
                    {
                        "name": st.just("N"),
                        "url": st.just("http://n.local:1"),
                        "type": st.just("ollama"),
                    },
                    optional={
                        "id": toml_values,
                        "priority": toml_values,
                        "metadata": toml_values,
                        "models": st.lists(
                            st.dictionaries(
                                st.sampled_from(list(MODEL_VALID) + ["junk"]),
                                toml_values,
                                max_size=4,
                            ),
                            max_size=3,
                        ),
                    },
                ),
                st.dictionaries(toml_keys, toml_values, max_size=6),
            ),
            max_size=3,
        )
    )
    body = "backends = " + toml_value(entries)
    extra = draw(st.sampled_from(["", "\n[other]\nx = 1", "\nbackends = 5", "\n[[backends]]"]))
    return body + extra


@given(text=st.one_of(toml_documents(), st.text(max_size=200), st.binary(max_size=200), anything))
def test_fuzz_parse_config(text: Any) -> None:
    ok, backends = call(parse_config, realize(text))
    if ok:
        assert all(b.discovery_source is nexus.DiscoverySource.STATIC for b in backends)
        registry = Registry()
        registry.add_backends(backends)
        assert registry.check_consistency() == []


@given(
    content=st.one_of(toml_documents(), st.binary(max_size=100)),
    path_kind=st.sampled_from(["file", "str", "missing", "directory", "hostile"]),
    hostile_path=anything,
)
@example(  # found by this fuzz: a str subclass from __fspath__ reached an f-string in load_config
    content=b"", path_kind="hostile", hostile_path=Make("bad_path", Make("hostile_str", "a"))
)
def test_fuzz_load_config(
    tmp_path_factory, content: Any, path_kind: str, hostile_path: Any
) -> None:
    directory = tmp_path_factory.mktemp("cfg")
    path = directory / "backends.toml"
    path.write_bytes(
        content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    )
    target: Any = {
        "file": path,
        "str": str(path),
        "missing": directory / "missing.toml",
        "directory": directory,
        "hostile": realize(hostile_path),
    }[path_kind]
    call(load_config, target)
    ok, registry = call(Registry.from_config, target)
    if ok:
        assert registry.check_consistency() == []


def test_load_config_with_hostile_fspath_result_is_a_config_error(tmp_path) -> None:
    """Regression: ``__fspath__`` returning a ``str`` subclass whose ``__format__`` raises."""
    missing = HostileStr(str(tmp_path / "missing.toml"))
    with pytest.raises(nexus.ConfigError, match="cannot read the configuration file"):
        load_config(BadPath(missing))


@pytest.mark.parametrize("indent", [10**100, 2**40, -1, 101])
def test_to_json_refuses_an_indent_json_cannot_build(indent: int) -> None:
    """Regression: ``json.dumps`` builds ``" " * indent`` (OverflowError, or MemoryError)."""
    with pytest.raises(ValueError, match="indent"):
        seeded_registry().to_json(indent=indent)


@pytest.mark.parametrize("indent", [True, 1.5, "  ", Hostile()])
def test_to_json_refuses_an_indent_of_another_type(indent: object) -> None:
    with pytest.raises(TypeError, match="indent"):
        seeded_registry().to_json(indent=indent)


def test_to_json_indent_still_works() -> None:
    registry = seeded_registry()
    assert registry.to_json(indent=2).startswith('{\n  "backends"')
    assert registry.to_json(indent=0).startswith('{\n"backends"')
    assert "\n" not in registry.to_json()
