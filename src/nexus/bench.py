"""``python -m nexus.bench``: nexus (compiled and pure Python) against a naive registry and the floor.

Everything runs in one process and one run, so the ratios compare like with like on this machine at
this moment. Three registries are measured: nexus with its compiled core, nexus as an install
without the extension has it (the pure-Python twins swapped into ``nexus.counters`` as the test
suite does, and ``Registry``'s class body rebuilt on the pure ``RegistryCore``), and
``nexus._naive.NaiveRegistry``, a competent hand-written first version (one lock around
everything, plain ints, fresh lists). The floor is one ``dict.get`` call on a dict shaped like the
model index.

Per-operation workloads run as unrolled loops (the timed statement written out 20 times, so loop
overhead is a few percent, and subtracted); the rounds of every case are interleaved and the best
round is kept, so noise from other processes hits all cases alike. Each statement is exactly what a
user writes: ``registry.get_backends_for_model(model_id)``, attribute lookup and call included.

The workloads (fleet: 1000 backends x 10 models drawn from 100 model ids, all healthy):

* w1 ``get_backends_for_model`` (target <= 2x floor), and its time at 10,000 backends over 10
  (target <= 1.5x);
* w2 ``increment_pending`` then ``decrement_pending`` by id (each <= 2x floor): a batch of
  increments then as many decrements, and alternating pairs;
* w3 a request cycle: pick the least-pending healthy backend of a model, then increment pending,
  count the request, record a latency, decrement pending (target >= 10x faster than naive);
* w4 build the fleet from scratch: models, backends, registration, status (>= 5x faster than naive);
* w5 memory per backend, measured with ``tracemalloc`` (<= 2 KB), with each backend's own ``Model``
  objects and, for comparison, with one shared ``Model`` per id;
* w6 ``get_healthy_backends`` and ``get_backend`` (each <= 2x floor);
* w7 w1 while another thread runs ``update_status``/``update_models`` in a loop (<= 1.5x w1 alone),
  as the reader thread's CPU time per call (with a GIL, wall time also counts the writer's turns).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import importlib
import json
import os
import platform
import random
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter
from types import ModuleType
from typing import Any

import nexus
from nexus import counters as selector
from nexus._naive import NaiveBackend, NaiveModel, NaiveRegistry
from nexus.enums import BackendStatus

__all__ = [
    "FLEET",
    "Flavour",
    "FleetSpec",
    "build_fleet",
    "flavours",
    "fleet_spec",
    "main",
    "measure_memory",
    "pick_least_pending",
    "run",
]

UNROLL = 20
"""How many times the timed statement is written out in each loop iteration."""

BATCH_S = 0.0015
"""Seconds per timed batch: short, so that among many rounds some run undisturbed on a busy machine."""

FLEET = (1000, 10, 100)
"""Default fleet: backends, models per backend, size of the model-id pool."""

LATENCY_MS = 42
"""The latency sample every request cycle records."""

_PICK_KEY = attrgetter("pending_requests", "priority", "avg_latency_ms", "id")


# ---- the fleet -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FleetSpec:
    """What to build: per backend its id, name, URL and model ids (the strings a config would give)."""

    backends: tuple[tuple[str, str, str, tuple[str, ...]], ...]
    model_pool: tuple[str, ...]

    @property
    def size(self) -> int:
        """Number of backends."""
        return len(self.backends)


def fleet_spec(
    n_backends: int = FLEET[0],
    models_per_backend: int = FLEET[1],
    pool: int = FLEET[2],
    seed: int = 7,
) -> FleetSpec:
    """A reproducible fleet: each backend serves ``models_per_backend`` ids drawn from ``pool``."""
    rng = random.Random(seed)
    model_pool = tuple(f"model-{i:03d}" for i in range(pool))
    per_backend = min(models_per_backend, pool)
    backends = tuple(
        (
            f"backend-{i:05d}",
            f"Backend {i}",
            f"http://10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}:11434",
            tuple(rng.sample(model_pool, per_backend)),
        )
        for i in range(n_backends)
    )
    return FleetSpec(backends, model_pool)


@dataclass
class Flavour:
    """One registry implementation under test.

    ``twin`` maps names of ``nexus.counters`` to what this flavour installs there while one of its
    registries is built or used (the swap ``tests/conftest.py`` does per test); ``compiled`` says
    whether the flavour runs the compiled core.
    """

    name: str
    make_registry: Callable[[], Any]
    model_type: Callable[..., Any]
    backend_type: Callable[..., Any]
    twin: dict[str, Any]
    compiled: bool = False
    bulk_add: bool = False

    def selector_names(self) -> dict[str, Any]:
        """What ``nexus.counters`` hands out for this flavour (as ``tests/conftest.py`` swaps)."""
        return dict(self.twin)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Make ``nexus.counters`` hand out this flavour's twin while a registry is built or used."""
        saved = {name: getattr(selector, name) for name in self.twin}
        for name, value in self.twin.items():
            setattr(selector, name, value)
        try:
            yield
        finally:
            for name, value in saved.items():
                setattr(selector, name, value)


# The names nexus.counters chooses between the compiled modules and their pure twins.
_TWIN_NAMES = {
    "Counters": "_counters",
    "CounterTable": "_counters",
    "Candidates": "_select",
    "select_backend": "_select",
    "Track": "_track",
}


def _twin(compiled: bool) -> dict[str, Any]:
    names = {}
    for name, module_name in _TWIN_NAMES.items():
        if not hasattr(selector, name):
            continue  # an older nexus without this part
        module = _optional_module(f"nexus.{module_name}{'' if compiled else '_py'}")
        if module is None:
            module = _optional_module(f"nexus.{module_name}_py")
        if module is not None:
            names[name] = getattr(module, name)
    return names


def pure_registry_class() -> type:
    """``Registry`` as an install without the extension has it: the same class body on the pure core.

    ``Registry`` inherits its per-request methods from ``RegistryCore``, chosen once at import (the
    compiled one here), and its ``select``/``track`` come from the compiled engine; swapping the
    counters twin does not reach those. This rebuilds the class on ``nexus._core_py.RegistryCore``
    with the pure ``select``/``track``, so that "nexus py" measures what ``NEXUS_NO_EXTENSIONS=1``
    gives, in the same process.
    """
    core = importlib.import_module("nexus._core_py")
    hot = set(getattr(core, "HOT_METHODS", ()))
    namespace = {
        key: value
        for key, value in vars(nexus.Registry).items()
        if key not in ("__dict__", "__weakref__") and key not in hot
    }
    select_py = _optional_module("nexus._select_py")
    track_py = _optional_module("nexus._track_py")
    if select_py is not None and hasattr(select_py, "registry_select"):
        namespace["select"] = select_py.registry_select
    if track_py is not None and hasattr(track_py, "registry_track"):
        namespace["track"] = track_py.registry_track
    return type("Registry", (core.RegistryCore,), namespace)


def flavours() -> list[Flavour]:
    """The registries to compare: nexus compiled (when built), nexus pure Python, naive."""
    found = []
    # NEXUS_NO_EXTENSIONS means "the pure twin only", here as everywhere else.
    if not selector.NO_EXTENSIONS and _optional_module("nexus._counters") is not None:
        found.append(
            Flavour(
                "nexus C",
                nexus.Registry,
                nexus.Model,
                nexus.Backend,
                _twin(compiled=True),
                compiled=True,
                bulk_add=True,
            )
        )
    found.append(
        Flavour(
            "nexus py",
            pure_registry_class(),
            nexus.Model,
            nexus.Backend,
            _twin(compiled=False),
            bulk_add=True,
        )
    )
    found.append(Flavour("naive", NaiveRegistry, NaiveModel, NaiveBackend, {}))
    return found


def _optional_module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def build_fleet(flavour: Flavour, spec: FleetSpec, *, shared_models: bool = False) -> Any:
    """Build the fleet from scratch: models, backends, registration, every backend marked healthy.

    Each backend gets its own ``Model`` objects, as from a configuration file or a discovery reply;
    with ``shared_models`` the backends share one object per model id instead.
    """
    with flavour.installed():
        make_model = flavour.model_type
        make_backend = flavour.backend_type
        registry = flavour.make_registry()
        if shared_models:
            pool = {m: make_model(m) for m in spec.model_pool}
            backends = [
                make_backend(backend_id, name, url, "ollama", [pool[m] for m in models])
                for backend_id, name, url, models in spec.backends
            ]
        else:
            backends = [
                make_backend(backend_id, name, url, "ollama", [make_model(m) for m in models])
                for backend_id, name, url, models in spec.backends
            ]
        if flavour.bulk_add:
            registry.add_backends(backends)
        else:
            for backend in backends:
                registry.add_backend(backend)
        for backend_id, _, _, _ in spec.backends:
            registry.update_status(backend_id, "healthy")
        return registry


def build_phases(flavour: Flavour, spec: FleetSpec) -> dict[str, float]:
    """``build_fleet`` timed step by step (seconds): models, backends, registration, statuses."""
    with flavour.installed():
        make_model = flavour.model_type
        make_backend = flavour.backend_type
        gc.collect()
        t0 = time.perf_counter()
        models = [[make_model(m) for m in ids] for _, _, _, ids in spec.backends]
        t1 = time.perf_counter()
        backends = [
            make_backend(backend_id, name, url, "ollama", own)
            for (backend_id, name, url, _), own in zip(spec.backends, models, strict=True)
        ]
        t2 = time.perf_counter()
        registry = flavour.make_registry()
        if flavour.bulk_add:
            registry.add_backends(backends)
        else:
            for backend in backends:
                registry.add_backend(backend)
        t3 = time.perf_counter()
        for backend_id, _, _, _ in spec.backends:
            registry.update_status(backend_id, "healthy")
        t4 = time.perf_counter()
    return {"models": t1 - t0, "backends": t2 - t1, "register": t3 - t2, "status": t4 - t3}


def pick_least_pending(registry: Any, model_id: str) -> Any:
    """The least-pending healthy backend of a model, in Python (ties: priority, latency, id)."""
    healthy = BackendStatus.HEALTHY
    candidates = [b for b in registry.get_backends_for_model(model_id) if b.status is healthy]
    return min(candidates, key=_PICK_KEY) if candidates else None


def has_select(registry: Any) -> bool:
    """Whether the registry offers ``select`` (nexus' pick engine; the naive registry has none)."""
    return callable(getattr(registry, "select", None)) and not isinstance(registry, NaiveRegistry)


def measure_memory(
    flavour: Flavour, fleet: tuple[int, int, int] = FLEET, *, shared_models: bool = False
) -> float:
    """Bytes held per backend once the fleet is built (``tracemalloc``).

    Counts everything the registry keeps alive: backends, models, index, counters and the backends'
    own id/name/url strings (built fresh, as a configuration file would give them). The spec tuples
    the fleet was described with are dropped before measuring. ``shared_models``: see
    ``build_fleet``.
    """
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        spec = fleet_spec(*fleet)
        size = spec.size
        registry = build_fleet(flavour, spec, shared_models=shared_models)
        del spec
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del registry
    return (after - before) / size


# ---- timing ----------------------------------------------------------------------------------------


def _loop(statement: str, names: Sequence[str], unroll: int = UNROLL) -> Callable[..., float]:
    """A function timing ``n`` iterations of ``statement`` written out ``unroll`` times."""
    body = "\n".join(f"        {statement}" for _ in range(unroll))
    source = (
        f"def timed(_n, {', '.join(names)}):\n"
        "    _it = _repeat(None, _n)\n"
        "    _t0 = _clock()\n"
        "    for _ in _it:\n"
        f"{body}\n"
        "    return _clock() - _t0\n"
    )
    namespace: dict[str, Any] = {"_repeat": repeat, "_clock": time.perf_counter}
    exec(compile(source, f"<bench: {statement}>", "exec"), namespace)  # the statement is fixed text
    return namespace["timed"]  # type: ignore[no-any-return]


@dataclass
class Case:
    """One timed statement in one environment; ``best`` is the best ns/op over the rounds."""

    key: tuple[str, str]
    statement: str
    env: dict[str, Any]
    ops_per_call: int = 1
    batch: int = 0
    best: float = float("inf")
    undo: Callable[[int], None] | None = None
    context: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext

    def __post_init__(self) -> None:
        self.timed = _loop(self.statement, list(self.env))

    def run_once(self) -> None:
        """Time one batch and keep it if it is the best so far."""
        with self.context():
            elapsed = self.timed(self.batch, **self.env)
        self.best = min(self.best, elapsed / (self.batch * UNROLL * self.ops_per_call) * 1e9)

    def calibrate(self, target_s: float) -> None:
        """Choose a batch size that takes about ``target_s`` seconds."""
        n = 8
        while True:
            with self.context():
                elapsed = self.timed(n, **self.env)
            if self.undo is not None:
                self.undo(n * UNROLL)
            if elapsed > target_s / 8 or n >= 1 << 22:
                break
            n *= 4
        self.batch = max(1, int(n * target_s / max(elapsed, 1e-9)))


class Progress:
    """One updating status line on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, stream: Any = None, enabled: bool = True) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled
        self.phase = ""
        self.started = time.monotonic()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def begin(self, phase: str) -> None:
        """Start a named phase."""
        self.phase = phase
        self.step("")

    def step(self, detail: str) -> None:
        """Report progress within the phase."""
        if not self.enabled:
            return
        text = f"[{time.monotonic() - self.started:5.1f}s] {self.phase} {detail}".rstrip()
        if self.tty:
            self.stream.write("\r\033[K" + text)
        elif not detail:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self) -> None:
        """End the status line."""
        if self.enabled and self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()


# ---- the workloads ---------------------------------------------------------------------------------


_W3_PICK_IN_PYTHON = (
    "_b = pick(r, k); _i = _b.id; r.increment_pending(_i); r.increment_total_requests(_i); "
    "r.update_latency(_i, 42); r.decrement_pending(_i)"
)
_W3_TRACK_PICK_IN_PYTHON = "with r.track(pick(r, k).id): pass"
_W3_TRACK_SELECT = "with r.track(r.select(k, strategy='least_pending')): pass"
_W3_SELECT = (
    "_b = r.select(k, strategy='least_pending'); _i = _b.id; r.increment_pending(_i); "
    "r.increment_total_requests(_i); r.update_latency(_i, 42); r.decrement_pending(_i)"
)


def _per_op_cases(
    built: dict[str, Any], by_name: dict[str, Flavour], spec: FleetSpec
) -> tuple[list[Case], dict[str, str]]:
    model_id = spec.model_pool[len(spec.model_pool) // 2]
    backend_id = spec.backends[len(spec.backends) // 2][0]
    any_registry = next(iter(built.values()))
    # The floor: one dict.get on a dict shaped like the model index (str keys -> tuples).
    index = {m: tuple(any_registry.get_backends_for_model(m)) for m in spec.model_pool}
    cases = [
        Case(("floor", "dict.get"), "d.get(k)", {"d": index, "k": model_id}),
        Case(("floor", "empty"), "pass", {"d": index, "k": model_id}),
    ]
    notes: dict[str, str] = {}
    for name, registry in built.items():
        env = {"r": registry, "k": model_id, "i": backend_id}
        context = by_name[name].installed
        # Each round runs the increments, then as many decrements: pending returns to 0 and the
        # decrement never meets the saturating (logging) path.
        undo = functools.partial(_repeat_call, registry.decrement_pending, backend_id)
        if has_select(registry):
            engine = "C" if by_name[name].compiled else "pure-Python"
            w3, how = _W3_SELECT, f"Registry.select(strategy='least_pending'), {engine} engine"
        else:
            w3, how = _W3_PICK_IN_PYTHON, "pick in Python (min over the healthy candidates)"
        notes[name] = how
        cases += [
            Case(("w1", name), "r.get_backends_for_model(k)", env, context=context),
            Case(("w2 inc", name), "r.increment_pending(i)", env, undo=undo, context=context),
            Case(("w2 dec", name), "r.decrement_pending(i)", env, context=context),
            Case(
                ("w2 pair", name),
                "r.increment_pending(i); r.decrement_pending(i)",
                env,
                context=context,
                ops_per_call=2,
            ),
            Case(("w6 healthy", name), "r.get_healthy_backends()", env, context=context),
            Case(("w6 get", name), "r.get_backend(i)", env, context=context),
            Case(("w3", name), w3, {**env, "pick": pick_least_pending}, context=context),
        ]
        if callable(getattr(registry, "track", None)):
            track = _W3_TRACK_SELECT if has_select(registry) else _W3_TRACK_PICK_IN_PYTHON
            cases.append(
                Case(
                    ("w3 track", name), track, {**env, "pick": pick_least_pending}, context=context
                )
            )
    return cases, notes


def _repeat_call(function: Callable[[str], object], argument: str, count: int) -> None:
    for _ in repeat(None, count):
        function(argument)


def _calibrate(cases: list[Case], target_s: float) -> None:
    """Choose every batch size; a ``w2 dec`` case runs exactly as many ops as its ``w2 inc``."""
    for case in cases:
        if case.key[0] != "w2 dec":
            case.calibrate(target_s)
    _pair_counts(cases)


def _pair_counts(cases: list[Case]) -> None:
    """Give each ``w2 dec`` case the batch of its ``w2 inc`` so pending never reaches 0 or grows."""
    by_key = {case.key: case for case in cases}
    for case in cases:
        if case.key[0] == "w2 dec":
            case.batch = by_key[("w2 inc", case.key[1])].batch


def _w7(
    built: dict[str, Any],
    by_name: dict[str, Flavour],
    spec: FleetSpec,
    duration_s: float,
    progress: Progress,
) -> dict[str, dict[str, float]]:
    """w1 alone and with a writer thread, per registry (see ``_readers_during_writes``)."""
    model_id = spec.model_pool[len(spec.model_pool) // 2]
    results = {}
    for name, registry in built.items():
        progress.step(name)
        with by_name[name].installed():
            results[name] = _readers_during_writes(registry, spec, model_id, duration_s)
    return results


def _readers_during_writes(
    registry: Any, spec: FleetSpec, model_id: str, duration_s: float
) -> dict[str, float]:
    """Mean CPU and wall time per w1 call, alone and while a thread rewrites the index.

    The writer flips one backend serving the queried model between two model lists (so the very
    index entry the reader reads is replaced every time) and re-marks it healthy, in a tight loop.
    CPU time is the reader thread's own (``time.thread_time``); wall time also counts the time the
    GIL spends with the writer. Means, not minima: a round the writer happened not to disturb
    proves nothing.
    """
    writer_id, _, _, models = next(b for b in spec.backends if model_id in b[3])
    model_type = type(registry.get_backend(writer_id).models[0])
    with_model = [model_type(m) for m in models]
    without_model = [model_type(m) for m in models if m != model_id]
    timed = _loop("r.get_backends_for_model(k)", ["r", "k"])
    probe = timed(50, registry, model_id)
    batch = max(10, int(50 * 0.002 / max(probe, 1e-9)))  # about 2 ms per sample
    rounds = max(5, int(duration_s / 0.004))  # samples alone, then as many with the writer

    def sample() -> tuple[float, float]:
        cpu_start = time.thread_time()
        wall = sum(timed(batch, registry, model_id) for _ in range(rounds))
        cpu = time.thread_time() - cpu_start
        scale = 1e9 / (batch * UNROLL * rounds)
        return cpu * scale, wall * scale

    stop = threading.Event()
    writes = 0

    def writer() -> None:
        nonlocal writes
        while not stop.is_set():
            registry.update_models(writer_id, without_model)
            registry.update_status(writer_id, "healthy")
            registry.update_models(writer_id, with_model)
            registry.update_status(writer_id, "healthy")
            writes += 4

    alone_cpu, alone_wall = sample()
    thread = threading.Thread(target=writer, name="nexus-bench-writer", daemon=True)
    thread.start()
    try:
        busy_cpu, busy_wall = sample()
    finally:
        stop.set()
        thread.join()
    return {
        "alone_cpu_ns": alone_cpu,
        "busy_cpu_ns": busy_cpu,
        "alone_wall_ns": alone_wall,
        "busy_wall_ns": busy_wall,
        "cpu_ratio": busy_cpu / alone_cpu,
        "wall_ratio": busy_wall / alone_wall,
        "writes": writes,
    }


def _w1_flatness(flavour: Flavour, small: int, large: int, rounds: int) -> dict[str, float]:
    """w1 at ``small`` and ``large`` backends (10 models each from the same pool of 100)."""
    times = {}
    registries = {n: build_fleet(flavour, fleet_spec(n)) for n in (small, large)}
    model_of = {n: fleet_spec(n).backends[0][3][0] for n in (small, large)}
    cases = {
        n: Case(
            ("w1 flat", str(n)),
            "r.get_backends_for_model(k)",
            {"r": r, "k": model_of[n]},
            context=flavour.installed,
        )
        for n, r in registries.items()
    }
    for case in cases.values():
        case.calibrate(BATCH_S)
    for _ in range(rounds):
        for case in cases.values():
            case.run_once()
    for n, case in cases.items():
        times[str(n)] = case.best
    return times


def _select_track_flatness(
    flavour: Flavour, small: int, large: int, rounds: int
) -> dict[str, float]:
    """Time select + track at ``small`` and ``large`` backends, for a model served by 10.

    Each fleet draws 10 models per backend from a pool as large as the fleet, so a model is served
    by about 10 backends whatever the fleet size; the one served by exactly 10 is queried.
    """
    cases = {}
    for n in (small, large):
        spec = fleet_spec(n, 10, n)
        registry = build_fleet(flavour, spec)
        with flavour.installed():
            served = {m: len(registry.get_backends_for_model(m)) for m in spec.model_pool}
        model_id = min(served, key=lambda m: (abs(served[m] - 10), m))
        cases[n] = Case(
            ("select+track flat", str(n)),
            _W3_TRACK_SELECT,
            {"r": registry, "k": model_id},
            context=flavour.installed,
        )
    for case in cases.values():
        case.calibrate(BATCH_S)
    for _ in range(rounds):
        for case in cases.values():
            case.run_once()
    return {str(n): case.best for n, case in cases.items()}


def _time_builds(
    flavours_: list[Flavour], spec: FleetSpec, rounds: int, progress: Progress
) -> dict[str, float]:
    best = {f.name: float("inf") for f in flavours_}
    for index in range(rounds):
        progress.step(f"round {index + 1}/{rounds}")
        for flavour in flavours_:
            gc.collect()
            start = time.perf_counter()
            registry = build_fleet(flavour, spec)
            elapsed = time.perf_counter() - start
            del registry
            best[flavour.name] = min(best[flavour.name], elapsed)
    return best


def run(
    rounds: int = 60,
    build_rounds: int = 5,
    fleet: tuple[int, int, int] = FLEET,
    flat_sizes: tuple[int, int] = (10, 10_000),
    progress: Progress | None = None,
    w7_seconds: float = 0.4,
) -> dict[str, Any]:
    """Run every workload once and return the results (what ``--json`` writes)."""
    progress = progress or Progress(enabled=False)
    spec = fleet_spec(*fleet)
    all_flavours = flavours()
    names = [f.name for f in all_flavours]

    progress.begin("building fleets")
    built = {f.name: build_fleet(f, spec) for f in all_flavours}

    progress.begin("w1 w2 w3 w6 vs floor")
    cases, w3_notes = _per_op_cases(built, {f.name: f for f in all_flavours}, spec)
    _calibrate(cases, BATCH_S)
    _interleaved(cases, rounds, progress)
    per_op: dict[str, dict[str, float]] = {}
    empty = next(c.best for c in cases if c.key == ("floor", "empty"))
    for case in cases:
        if case.key == ("floor", "empty"):
            continue
        per_op.setdefault(case.key[0], {})[case.key[1]] = max(case.best - empty, 0.0)

    progress.begin("w1 flatness")
    flat = {
        f.name: _w1_flatness(f, flat_sizes[0], flat_sizes[1], rounds)
        for f in all_flavours
        if f.twin
    }

    progress.begin("w4 build the fleet")
    builds = _time_builds(all_flavours, spec, build_rounds, progress)
    phases: dict[str, dict[str, float]] = {}
    for _ in range(build_rounds):
        for f in all_flavours:
            for phase, seconds in build_phases(f, spec).items():
                best = phases.setdefault(f.name, {}).get(phase, float("inf"))
                phases[f.name][phase] = min(best, seconds)

    progress.begin("w5 memory")
    memory = {f.name: measure_memory(f, fleet) for f in all_flavours}
    memory_shared = {f.name: measure_memory(f, fleet, shared_models=True) for f in all_flavours}

    progress.begin("w7 readers during writes")
    w7 = _w7(built, {f.name: f for f in all_flavours}, spec, w7_seconds, progress)

    progress.begin("select+track flatness")
    select_flat = {
        f.name: _select_track_flatness(f, 100, 10 * fleet[0], rounds)
        for f in all_flavours
        if f.twin and has_select(built[f.name])
    }
    progress.done()

    results = _summarise(
        names, spec, per_op, empty, flat, flat_sizes, builds, memory, w7, w3_notes, rounds
    )
    results["w5_bytes_per_backend_shared_models"] = memory_shared
    results["select_track_flatness_ns"] = select_flat
    for name, times in select_flat.items():
        small, large = sorted(times, key=int)
        results["ratios"][name]["select+track at 10x fleet / at 100"] = times[large] / times[small]
    results["w4_phases_s"] = phases
    return results


def _interleaved(cases: list[Case], rounds: int, progress: Progress) -> None:
    for index in range(rounds):
        progress.step(f"round {index + 1}/{rounds}")
        for case in cases:
            case.run_once()


def _summarise(
    names: list[str],
    spec: FleetSpec,
    per_op: dict[str, dict[str, float]],
    empty: float,
    flat: dict[str, dict[str, float]],
    flat_sizes: tuple[int, int],
    builds: dict[str, float],
    memory: dict[str, float],
    w7: dict[str, dict[str, float]],
    w3_notes: dict[str, str],
    rounds: int,
) -> dict[str, Any]:
    floor = per_op["floor"]["dict.get"]
    small, large = (str(n) for n in flat_sizes)
    ratios: dict[str, dict[str, float]] = {}
    for name in names:
        r: dict[str, float] = {}
        for key in ("w1", "w2 inc", "w2 dec", "w2 pair", "w6 healthy", "w6 get"):
            r[f"{key} / floor"] = per_op[key][name] / floor
        if name in flat:
            r["w1 at 10k / at 10"] = flat[name][large] / flat[name][small]
        r["w3 naive / this"] = per_op["w3"]["naive"] / per_op["w3"][name]
        if "w3 track" in per_op and name in per_op["w3 track"]:
            r["w3 track naive / this"] = per_op["w3 track"]["naive"] / per_op["w3 track"][name]
        r["w4 naive / this"] = builds["naive"] / builds[name]
        r["w5 bytes per backend"] = memory[name]
        r["w7 busy / alone (cpu)"] = w7[name]["cpu_ratio"]
        r["w7 busy / alone (wall)"] = w7[name]["wall_ratio"]
        ratios[name] = r
    return {
        "nexus_version": nexus.__version__,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "gil_enabled": getattr(sys, "_is_gil_enabled", lambda: True)(),
        "machine": platform.machine(),
        "processor": _cpu_name(),
        "cpus": os.cpu_count(),
        "atomic_implementation": getattr(_compiled_module(), "ATOMIC_IMPLEMENTATION", None),
        "fleet": {
            "backends": spec.size,
            "models_per_backend": len(spec.backends[0][3]),
            "model_pool": len(spec.model_pool),
        },
        "rounds": rounds,
        "loop_overhead_ns": empty,
        "floor_ns": floor,
        "ns_per_op": per_op,
        "w1_flatness_ns": flat,
        "w3_pick": w3_notes,
        "w4_build_s": builds,
        "w5_bytes_per_backend": memory,
        "w7": w7,
        "ratios": ratios,
    }


def _compiled_module() -> ModuleType | None:
    return _optional_module("nexus._counters")


def _cpu_name() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


# ---- the table -------------------------------------------------------------------------------------

TARGETS: dict[str, tuple[str, str, float]] = {
    # row: (ratio key, comparison, bound)
    "w1": ("w1 / floor", "<=", 2.0),
    "w1 flat": ("w1 at 10k / at 10", "<=", 1.5),
    "select flat": ("select+track at 10x fleet / at 100", "<=", 2.0),  # issue 6
    "w2 inc": ("w2 inc / floor", "<=", 2.0),
    "w2 dec": ("w2 dec / floor", "<=", 2.0),
    "w2 pair": ("w2 pair / floor", "<=", 2.0),
    "w3": ("w3 naive / this", ">=", 10.0),
    "w3 track": ("w3 track naive / this", ">=", 20.0),  # issue 6's target for select + track
    "w4": ("w4 naive / this", ">=", 5.0),
    "w5": ("w5 bytes per backend", "<=", 2048.0),
    "w6 healthy": ("w6 healthy / floor", "<=", 2.0),
    "w6 get": ("w6 get / floor", "<=", 2.0),
    "w7": ("w7 busy / alone (cpu)", "<=", 1.5),
}


def render(results: dict[str, Any]) -> str:
    """The results as a plain-text table (ns/op per registry, then the ratio the target is about)."""
    names = list(results["ratios"])
    per_op = results["ns_per_op"]
    fleet = results["fleet"]
    lines = [
        f"nexus {results['nexus_version']} on Python {results['python']} "
        f"({results['implementation']}, GIL {'on' if results['gil_enabled'] else 'off'}), "
        f"{results['processor']} x{results['cpus']}; "
        f"atomics: {results['atomic_implementation']}",
        f"fleet: {fleet['backends']} backends x {fleet['models_per_backend']} models from "
        f"{fleet['model_pool']} ids, all healthy; best of {results['rounds']} interleaved rounds, "
        f"loop overhead ({results['loop_overhead_ns']:.1f} ns) subtracted",
        "",
    ]
    head = ["workload", *names, "target", names[0], ""]
    rows: list[list[str]] = [head]
    primary = names[0]

    def verdict(row: str) -> tuple[str, str]:
        key, op, bound = TARGETS[row]
        value = results["ratios"][primary].get(key)
        if value is None:
            return "", ""
        shown = f"{value:.0f} B" if row == "w5" else f"{value:.2f}x"
        ok = value <= bound if op == "<=" else value >= bound
        return shown, "ok" if ok else "MISSED"

    def target_text(row: str) -> str:
        _, op, bound = TARGETS[row]
        if row == "w5":
            return f"{op} {bound / 1024:.0f} KB"
        if row in ("w3", "w3 track", "w4"):
            return f"{op} {bound:g}x faster than naive"
        if row in ("w1 flat",):
            return f"{op} {bound:g}x (10k vs 10 backends)"
        if row == "select flat":
            return f"{op} {bound:g}x (10k vs 100 backends)"
        if row == "w7":
            return f"{op} {bound:g}x w1 alone"
        return f"{op} {bound:g}x floor"

    def ns(value: float) -> str:
        return f"{value:,.0f} ns" if value >= 100 else f"{value:.1f} ns"

    rows.append(["floor: dict.get(k)", *[ns(results["floor_ns"])] * len(names), "", "", ""])
    labels = {
        "w1": "w1 get_backends_for_model",
        "w2 inc": "w2 increment_pending(id)",
        "w2 dec": "w2 decrement_pending(id)",
        "w2 pair": "w2 increment then decrement, per call",
        "w3": "w3 request cycle",
        "w3 track": "w3 the same with track()",
        "w6 healthy": "w6 get_healthy_backends",
        "w6 get": "w6 get_backend(id)",
    }
    keys = ["w1", "w2 inc", "w2 dec", "w2 pair", "w6 healthy", "w6 get", "w3"]
    if "w3 track" in per_op:
        keys.append("w3 track")
    for key in keys:
        rows.append(
            [labels[key], *[ns(per_op[key][n]) for n in names], target_text(key), *verdict(key)]
        )
    flat = results["w1_flatness_ns"]
    small, large = sorted(next(iter(flat.values())), key=int) if flat else ("10", "10000")
    rows.append(
        [
            f"w1 at {int(large):,} / at {int(small):,} backends",
            *[f"{flat[n][large] / flat[n][small]:.2f}x" if n in flat else "-" for n in names],
            target_text("w1 flat"),
            *verdict("w1 flat"),
        ]
    )
    select_flat = results.get("select_track_flatness_ns") or {}
    if select_flat:
        small, large = sorted(next(iter(select_flat.values())), key=int)
        rows.append(
            [
                f"select+track, 10 candidates: {int(large):,} / {int(small):,} backends",
                *[
                    f"{select_flat[n][large] / select_flat[n][small]:.2f}x"
                    if n in select_flat
                    else "-"
                    for n in names
                ],
                target_text("select flat"),
                *verdict("select flat"),
            ]
        )
    rows.append(
        [
            "w4 build the fleet",
            *[f"{results['w4_build_s'][n] * 1e3:,.1f} ms" for n in names],
            target_text("w4"),
            *verdict("w4"),
        ]
    )
    rows.append(
        [
            "w5 memory per backend",
            *[f"{results['w5_bytes_per_backend'][n]:,.0f} B" for n in names],
            target_text("w5"),
            *verdict("w5"),
        ]
    )
    rows.append(
        [
            "  the same, models shared",
            *[f"{results['w5_bytes_per_backend_shared_models'][n]:,.0f} B" for n in names],
            "",
            "",
            "",
        ]
    )
    rows.append(
        [
            "w7 w1 with a writer thread",
            *[f"{results['w7'][n]['cpu_ratio']:.2f}x" for n in names],
            target_text("w7"),
            *verdict("w7"),
        ]
    )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    for index, row in enumerate(rows):
        cells: list[str] = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append("ratios per registry (the target column applies to the first):")
    for name in names:
        r = results["ratios"][name]
        parts = [
            f"w1 {r['w1 / floor']:.2f}x",
            f"w2 {r['w2 inc / floor']:.2f}x/{r['w2 dec / floor']:.2f}x",
            f"w3 {r['w3 naive / this']:.1f}x",
            f"w4 {r['w4 naive / this']:.1f}x",
            f"w6 {r['w6 healthy / floor']:.2f}x/{r['w6 get / floor']:.2f}x",
            f"w7 cpu {r['w7 busy / alone (cpu)']:.2f}x wall {r['w7 busy / alone (wall)']:.2f}x",
        ]
        lines.append(f"  {name}: " + ", ".join(parts))
    for name, phase in results.get("w4_phases_s", {}).items():
        lines.append(
            f"w4 {name} step by step: "
            + ", ".join(f"{key} {seconds * 1e3:.1f} ms" for key, seconds in phase.items())
        )
    lines.append("w3 pick: " + "; ".join(f"{n}: {how}" for n, how in results["w3_pick"].items()))
    lines.append(
        "w7 is the reader thread's CPU time per op (thread_time); wall time includes the time the "
        "GIL is held by the writer."
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point: run, print the table, optionally write JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m nexus.bench",
        description="Benchmark nexus (compiled and pure Python) against a naive registry.",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument("--rounds", type=int, default=60, help="interleaved rounds (default 60)")
    parser.add_argument(
        "--build-rounds", type=int, default=5, help="rounds of w4, building the fleet (default 5)"
    )
    parser.add_argument(
        "--backends",
        type=int,
        default=FLEET[0],
        help=f"fleet size (default {FLEET[0]}; w1's flatness compares 10 with 10x this)",
    )
    parser.add_argument(
        "--w7-seconds",
        type=float,
        default=0.4,
        help="seconds of w1 sampling per registry, alone and with the writer (default 0.4)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.build_rounds < 1 or args.backends < 10:
        parser.error("--rounds and --build-rounds must be >= 1, --backends >= 10")
    progress = Progress(enabled=not args.quiet)
    results = run(
        rounds=args.rounds,
        build_rounds=args.build_rounds,
        fleet=(args.backends, FLEET[1], FLEET[2]),
        flat_sizes=(10, 10 * args.backends),
        progress=progress,
        w7_seconds=args.w7_seconds,
    )
    results["command"] = "python -m nexus.bench " + " ".join(sys.argv[1:] if argv is None else argv)
    print(render(results))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
            out.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
