"""Which counters implementation is active: ``nexus.USING_EXTENSION`` and ``NEXUS_NO_EXTENSIONS``.

``test_using_extension_matches_environment`` fails when the extension was not built and the suite
is not run with ``NEXUS_NO_EXTENSIONS`` set: a missing build is never silently tested as the twin.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import subprocess
import sys

import pytest

import nexus
from nexus import counters as selector

PROBE = """\
import json, nexus
from nexus import counters
backend = nexus.Backend("b", "B", "http://b:1", "ollama")
print(json.dumps({
    "using": nexus.USING_EXTENSION,
    "counters_module": counters.Counters.__module__,
    "backend_counters_module": type(backend._counters).__module__,
    "table_module": type(nexus.Registry()._table).__module__,
}))
"""


def extensions_disabled(value: str | None) -> bool:
    return value not in (None, "", "0")


def probe(env_value: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NEXUS_NO_EXTENSIONS"}
    if env_value is not None:
        env["NEXUS_NO_EXTENSIONS"] = env_value
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def probes() -> dict[str, dict]:
    return {"unset": probe(None), "1": probe("1"), "0": probe("0")}


def test_using_extension_matches_environment():
    expected = not extensions_disabled(os.environ.get("NEXUS_NO_EXTENSIONS"))
    assert nexus.USING_EXTENSION is expected
    assert selector.USING_EXTENSION is expected


def test_no_extensions_env_gives_the_pure_twin(probes):
    found = probes["1"]
    assert found["using"] is False
    assert found["counters_module"] == "nexus._counters_py"
    assert found["backend_counters_module"] == "nexus._counters_py"
    assert found["table_module"] == "nexus._counters_py"


def test_unset_env_gives_the_compiled_core(probes):
    # Fails if the extension was not built.
    found = probes["unset"]
    assert found["using"] is True
    assert found["counters_module"] == "nexus._counters"
    assert found["backend_counters_module"] == "nexus._counters"
    assert found["table_module"] == "nexus._counters"


def test_env_value_zero_means_not_disabled(probes):
    assert probes["0"] == probes["unset"]


@pytest.fixture(scope="module")
def pure_cli_run() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nexus"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, NEXUS_NO_EXTENSIONS="1"),
        check=False,
    )


def test_cli_header_names_the_core_in_use(pure_cli_run):
    assert pure_cli_run.returncode == 0, pure_cli_run.stderr
    assert "pure-Python twin" in pure_cli_run.stdout.splitlines()[0]


@pytest.fixture
def reload_selector():
    """Re-import ``nexus.counters`` under a patched environment; restore it afterwards."""
    patch = pytest.MonkeyPatch()

    def reload(env_value: str | None, implementation: str = "CPython"):
        if env_value is None:
            patch.delenv("NEXUS_NO_EXTENSIONS", raising=False)
        else:
            patch.setenv("NEXUS_NO_EXTENSIONS", env_value)
        patch.setattr(platform, "python_implementation", lambda: implementation)
        return importlib.reload(selector)

    yield reload
    patch.undo()
    importlib.reload(selector)


def compiled_available() -> bool:
    try:
        importlib.import_module("nexus._counters")
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("value", ["1", "yes", "true", "anything"])
def test_reimport_with_env_set_selects_the_pure_twin(reload_selector, value):
    module = reload_selector(value)
    assert module.USING_EXTENSION is False
    assert module.Counters.__module__ == "nexus._counters_py"
    assert module.CounterTable.__module__ == "nexus._counters_py"


@pytest.mark.parametrize("value", [None, "", "0"])
def test_reimport_with_env_unset_selects_the_compiled_core(reload_selector, value):
    module = reload_selector(value)
    assert module.USING_EXTENSION is compiled_available()
    expected = "nexus._counters" if compiled_available() else "nexus._counters_py"
    assert module.Counters.__module__ == expected


def test_reimport_off_cpython_selects_the_pure_twin(reload_selector):
    module = reload_selector(None, implementation="PyPy")
    assert module.USING_EXTENSION is False
    assert module.Counters.__module__ == "nexus._counters_py"


def test_backends_use_the_selected_implementation_at_call_time(reload_selector):
    module = reload_selector("1")
    backend = nexus.Backend("b", "B", "http://b:1", "ollama")
    assert type(backend._counters) is module.Counters
    registry = nexus.Registry()
    registry.add_backend(backend)
    assert registry.increment_pending("b") == 1


def test_public_names_are_importable_from_the_top_level():
    names = [
        "Backend",
        "BackendNotFoundError",
        "BackendStatus",
        "BackendType",
        "BackendView",
        "DiscoverySource",
        "DuplicateBackendError",
        "Model",
        "Registry",
        "RegistryError",
        "USING_EXTENSION",
        "ConfigError",
        "load_config",
    ]
    for name in names:
        assert name in nexus.__all__
        assert getattr(nexus, name) is not None
    assert isinstance(nexus.USING_EXTENSION, bool)
    assert isinstance(nexus.__version__, str)
