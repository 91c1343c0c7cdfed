"""T04 errors: the exception hierarchy, the ids they carry and their messages."""

from __future__ import annotations

import pickle

import pytest

from nexus import (
    BackendNotFoundError,
    ConfigError,
    DuplicateBackendError,
    RegistryError,
)


def test_error_duplicate_backend(registry, make_backend):
    # DuplicateBackend error contains the ID
    error = DuplicateBackendError("gpu-1")
    assert error.backend_id == "gpu-1"
    registry.add_backend(make_backend("gpu-1"))
    with pytest.raises(DuplicateBackendError) as info:
        registry.add_backend(make_backend("gpu-1"))
    assert info.value.backend_id == "gpu-1"
    assert "gpu-1" in str(info.value)


def test_error_backend_not_found(registry):
    # BackendNotFound error contains the ID
    error = BackendNotFoundError("ghost")
    assert error.backend_id == "ghost"
    with pytest.raises(BackendNotFoundError) as info:
        registry.remove_backend("ghost")
    assert info.value.backend_id == "ghost"
    assert "ghost" in str(info.value)


def test_error_display():
    # Errors implement Display with useful messages
    assert str(DuplicateBackendError("gpu-1")) == "backend already exists: gpu-1"
    assert str(BackendNotFoundError("gpu-1")) == "backend not found: gpu-1"
    assert "gpu-1" in repr(DuplicateBackendError("gpu-1"))
    assert "gpu-1" in repr(BackendNotFoundError("gpu-1"))


def test_error_hierarchy():
    assert issubclass(RegistryError, Exception)
    assert issubclass(DuplicateBackendError, RegistryError)
    assert issubclass(BackendNotFoundError, RegistryError)
    assert issubclass(BackendNotFoundError, KeyError)
    assert not issubclass(DuplicateBackendError, KeyError)
    assert not issubclass(RegistryError, (TypeError, ValueError))


def test_backend_not_found_is_caught_as_key_error(registry):
    with pytest.raises(KeyError):
        registry.update_status("ghost", "healthy")


def test_backend_not_found_str_is_not_key_error_quoting():
    # KeyError's str() would quote the key; this one reads as a sentence.
    assert str(BackendNotFoundError("a b")) == "backend not found: a b"


@pytest.mark.parametrize("error_type", [DuplicateBackendError, BackendNotFoundError])
def test_errors_survive_pickling(error_type):
    again = pickle.loads(pickle.dumps(error_type("gpu-1")))
    assert type(again) is error_type
    assert again.backend_id == "gpu-1"
    assert str(again) == str(error_type("gpu-1"))


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)
    assert str(ConfigError("x.toml: bad")) == "x.toml: bad"
