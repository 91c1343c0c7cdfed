"""T08 live counters through the ``Registry``: pending, total, EMA latency, limits and warnings.

Every test runs against the compiled core and the pure-Python twin (the autouse ``twin`` fixture).
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus import Backend, BackendNotFoundError
from nexus import counters as selector

U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1


@pytest.fixture
def reg(registry, make_backend):
    """A registry with one backend, ``b1``."""
    registry.add_backend(make_backend("b1"))
    return registry


def backend_of(registry) -> Backend:
    return registry.get_backend("b1")


def nexus_warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "nexus" and r.levelno == logging.WARNING]


def test_increment_pending_success(reg):
    # pending_requests increases by 1
    reg.increment_pending("b1")
    assert backend_of(reg).pending_requests == 1
    reg.increment_pending("b1")
    assert backend_of(reg).pending_requests == 2


def test_increment_pending_returns_new_value(reg):
    # Returns the value after increment
    assert [reg.increment_pending("b1") for _ in range(5)] == [1, 2, 3, 4, 5]


def test_decrement_pending_success(reg):
    # pending_requests decreases by 1
    for _ in range(3):
        reg.increment_pending("b1")
    assert reg.decrement_pending("b1") == 2
    assert backend_of(reg).pending_requests == 2
    assert reg.decrement_pending("b1") == 1
    assert reg.decrement_pending("b1") == 0
    assert backend_of(reg).pending_requests == 0


def test_decrement_pending_clamps_to_zero(reg):
    # Never goes negative, stays at 0
    assert reg.decrement_pending("b1") == 0
    assert reg.decrement_pending("b1") == 0
    assert backend_of(reg).pending_requests == 0
    assert reg.increment_pending("b1") == 1  # and has not wrapped to 2**32-1 underneath


def test_decrement_pending_at_zero_logs_warning(reg, caplog):
    # Tracing warning emitted (use tracing-test or mock)
    with caplog.at_level(logging.WARNING, logger="nexus"):
        assert reg.decrement_pending("b1") == 0
    records = nexus_warnings(caplog)
    assert len(records) == 1
    assert "b1" in records[0].getMessage()


def test_decrement_pending_above_zero_logs_nothing(reg, caplog):
    reg.increment_pending("b1")
    with caplog.at_level(logging.DEBUG, logger="nexus"):
        assert reg.decrement_pending("b1") == 0
    assert nexus_warnings(caplog) == []


def test_decrement_pending_warning_names_the_right_backend(registry, make_backend, caplog):
    registry.add_backend(make_backend("alpha-gpu"))
    registry.add_backend(make_backend("beta-cpu"))
    registry.increment_pending("alpha-gpu")
    with caplog.at_level(logging.WARNING, logger="nexus"):
        registry.decrement_pending("alpha-gpu")
        registry.decrement_pending("beta-cpu")
    records = nexus_warnings(caplog)
    assert len(records) == 1
    assert "beta-cpu" in records[0].getMessage()
    assert "alpha-gpu" not in records[0].getMessage()


def test_update_latency_first_sample(reg):
    # First sample sets the initial value
    assert reg.update_latency("b1", 250) is None
    assert backend_of(reg).avg_latency_ms == 250


def test_update_latency_ema_calculation(reg):
    # Verify EMA: new = (sample + 4*old) / 5
    seen = []
    for sample in (100, 200, 150):
        reg.update_latency("b1", sample)
        seen.append(backend_of(reg).avg_latency_ms)
    assert seen == [100, 120, 126]
    reg.update_latency("b1", 7)
    assert backend_of(reg).avg_latency_ms == (7 + 4 * 126) // 5


def test_update_latency_zero_valid(reg):
    # 0ms is accepted as valid latency
    reg.update_latency("b1", 0)
    assert backend_of(reg).avg_latency_ms == 0
    reg.update_latency("b1", 100)
    reg.update_latency("b1", 0)
    assert backend_of(reg).avg_latency_ms == 80


def test_update_latency_when_current_is_zero_stores_the_sample(reg):
    # 1 then 0 brings the average to (0 + 4) // 5 == 0; the next sample is then stored as is.
    for sample, expected in [(1, 1), (0, 0), (50, 50), (0, 40)]:
        reg.update_latency("b1", sample)
        assert backend_of(reg).avg_latency_ms == expected


def test_update_latency_integer_arithmetic_truncates(reg):
    reg.update_latency("b1", 10)
    reg.update_latency("b1", 14)  # (14 + 40) // 5 == 10.8 -> 10
    assert backend_of(reg).avg_latency_ms == 10


def test_update_latency_at_u32_max_does_not_overflow(reg):
    reg.update_latency("b1", U32_MAX)
    assert backend_of(reg).avg_latency_ms == U32_MAX
    reg.update_latency("b1", U32_MAX)  # sample + 4*old needs 35 bits
    assert backend_of(reg).avg_latency_ms == U32_MAX
    reg.update_latency("b1", 0)
    assert backend_of(reg).avg_latency_ms == (4 * U32_MAX) // 5


def test_update_latency_large_old_value(reg):
    backend_of(reg)._counters._force(latency=U32_MAX - 1)
    reg.update_latency("b1", U32_MAX)
    assert backend_of(reg).avg_latency_ms == (U32_MAX + 4 * (U32_MAX - 1)) // 5


def test_update_latency_accepts_int_subclass(reg):
    class Millis(int):
        pass

    reg.update_latency("b1", Millis(40))
    assert backend_of(reg).avg_latency_ms == 40


@pytest.mark.parametrize("bad", [-1, U32_MAX + 1, 2**64, -(2**70)])
def test_update_latency_rejects_out_of_range(reg, bad):
    reg.update_latency("b1", 100)
    with pytest.raises(ValueError) as info:
        reg.update_latency("b1", bad)
    assert "latency_ms" in str(info.value)
    assert str(bad) in str(info.value)
    assert backend_of(reg).avg_latency_ms == 100


@pytest.mark.parametrize("bad", [1.0, 1.5, "10", None, True, False, b"1"])
def test_update_latency_rejects_non_int(reg, bad):
    reg.update_latency("b1", 100)
    with pytest.raises(TypeError) as info:
        reg.update_latency("b1", bad)
    assert "latency_ms" in str(info.value)
    assert backend_of(reg).avg_latency_ms == 100


def test_increment_total_requests_returns_new_value(reg):
    assert [reg.increment_total_requests("b1") for _ in range(3)] == [1, 2, 3]
    assert backend_of(reg).total_requests == 3
    assert backend_of(reg).pending_requests == 0


def test_counters_are_independent_per_backend(registry, make_backend):
    registry.add_backend(make_backend("a"))
    registry.add_backend(make_backend("b"))
    registry.increment_pending("a")
    registry.increment_total_requests("b")
    registry.update_latency("a", 9)
    a, b = registry.get_backend("a"), registry.get_backend("b")
    assert (a.pending_requests, a.total_requests, a.avg_latency_ms) == (1, 0, 9)
    assert (b.pending_requests, b.total_requests, b.avg_latency_ms) == (0, 1, 0)


def test_counters_read_live_from_the_backend_object(reg):
    backend = backend_of(reg)
    reg.increment_pending("b1")
    assert backend.pending_requests == 1
    reg.increment_pending("b1")
    assert backend.pending_requests == 2


# ---- limits: never wrap -----------------------------------------------------------------------


def test_increment_pending_at_u32_max_raises_overflow(reg):
    backend = backend_of(reg)
    backend._counters._force(pending=U32_MAX - 1)
    assert reg.increment_pending("b1") == U32_MAX
    with pytest.raises(OverflowError) as info:
        reg.increment_pending("b1")
    assert "b1" in str(info.value)
    assert backend.pending_requests == U32_MAX
    assert reg.decrement_pending("b1") == U32_MAX - 1


def test_increment_total_requests_at_u64_max_raises_overflow(reg):
    backend = backend_of(reg)
    backend._counters._force(total=U64_MAX - 1)
    assert reg.increment_total_requests("b1") == U64_MAX
    with pytest.raises(OverflowError) as info:
        reg.increment_total_requests("b1")
    assert "b1" in str(info.value)
    assert backend.total_requests == U64_MAX


def test_total_passes_the_32_bit_boundary(reg):
    backend_of(reg)._counters._force(total=U32_MAX)
    assert reg.increment_total_requests("b1") == 2**32
    assert backend_of(reg).total_requests == 2**32


def test_overflow_is_not_a_registry_error(reg):
    backend_of(reg)._counters._force(pending=U32_MAX)
    with pytest.raises(OverflowError) as info:
        reg.increment_pending("b1")
    assert not isinstance(info.value, BackendNotFoundError)


def test_overflow_leaves_the_rest_of_the_registry_unchanged(reg):
    backend_of(reg)._counters._force(pending=U32_MAX)
    before = reg.to_dict()
    with pytest.raises(OverflowError):
        reg.increment_pending("b1")
    assert reg.to_dict() == before


@pytest.mark.parametrize(
    "values", [{"pending": -1}, {"pending": U32_MAX + 1}, {"total": U64_MAX + 1}]
)
def test_force_rejects_out_of_range(twin, values):
    counters = twin.Counters("x")
    with pytest.raises(OverflowError):
        counters._force(**values)
    assert (counters.pending_requests, counters.total_requests) == (0, 0)


# ---- the Counters type itself (both twins) -----------------------------------------------------


def test_counters_object_api(twin):
    counters = twin.Counters("solo")
    assert counters.backend_id == "solo"
    assert (counters.pending_requests, counters.total_requests, counters.avg_latency_ms) == (
        0,
        0,
        0,
    )
    assert counters.increment_pending() == 1
    assert counters.decrement_pending() == 0
    assert counters.increment_total_requests() == 1
    assert counters.update_latency(100) == 100
    assert counters.update_latency(200) == 120
    assert "solo" in repr(counters)


def test_selector_hands_out_the_twin_under_test(twin, make_backend):
    assert selector.Counters is twin.Counters
    assert type(make_backend()._counters) is twin.Counters


def test_counter_table_unknown_id(twin):
    table = twin.CounterTable()
    with pytest.raises(BackendNotFoundError) as info:
        table.increment_pending("nope")
    assert info.value.backend_id == "nope"
    with pytest.raises(TypeError):
        table.increment_pending(5)


# ---- property: the counters behave like a simple reference model --------------------------------

OPS = st.lists(
    st.one_of(
        st.just(("inc", None)),
        st.just(("dec", None)),
        st.just(("total", None)),
        st.tuples(st.just("lat"), st.integers(0, U32_MAX)),
    ),
    max_size=60,
)


@given(ops=OPS)
def test_counters_match_reference_model(registry, make_backend, ops):
    backend = make_backend("p")
    registry.add_backend(backend)
    pending = total = latency = 0
    logger = logging.getLogger("nexus")
    previous = logger.disabled
    logger.disabled = True  # decrement-at-zero warnings are expected here
    try:
        for op, arg in ops:
            if op == "inc":
                pending += 1
                assert registry.increment_pending("p") == pending
            elif op == "dec":
                pending = max(pending - 1, 0)
                assert registry.decrement_pending("p") == pending
            elif op == "total":
                total += 1
                assert registry.increment_total_requests("p") == total
            else:
                latency = arg if latency == 0 else (arg + 4 * latency) // 5
                registry.update_latency("p", arg)
            assert backend.pending_requests == pending
            assert backend.total_requests == total
            assert backend.avg_latency_ms == latency
    finally:
        logger.disabled = previous
        registry.remove_backend("p")


@pytest.mark.c_only
@given(ops=OPS, start=st.integers(0, U32_MAX))
def test_compiled_and_pure_twins_agree(ops, start):
    import nexus._counters as compiled
    from nexus import _counters_py as pure

    logger = logging.getLogger("nexus")
    previous = logger.disabled
    logger.disabled = True
    try:
        pair = [compiled.Counters("t"), pure.Counters("t")]
        for counters in pair:
            counters._force(latency=start)
        for op, arg in ops:
            results = []
            for counters in pair:
                if op == "inc":
                    results.append(counters.increment_pending())
                elif op == "dec":
                    results.append(counters.decrement_pending())
                elif op == "total":
                    results.append(counters.increment_total_requests())
                else:
                    results.append(counters.update_latency(arg))
            assert results[0] == results[1]
            c, p = pair
            assert (c.pending_requests, c.total_requests, c.avg_latency_ms) == (
                p.pending_requests,
                p.total_requests,
                p.avg_latency_ms,
            )
    finally:
        logger.disabled = previous
