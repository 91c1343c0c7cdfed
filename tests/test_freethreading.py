"""Importing nexus must not turn the GIL back on under a free-threaded CPython.

An extension module that does not declare free-threading support (``Py_mod_gil``) makes a
free-threaded interpreter re-enable the GIL when it is imported, with only a RuntimeWarning to show
for it. Every compiled module of the installed package is imported in a fresh interpreter (the GIL
state is per process and cannot be reset), directly, so a missing build fails instead of quietly
falling back to the pure twin. On a GIL build there is nothing to check, and the test says so.
"""

from __future__ import annotations

import importlib.machinery
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import nexus

FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))

pytestmark = [
    pytest.mark.c_only,
    pytest.mark.skipif(
        not FREE_THREADED,
        reason="needs a free-threaded CPython (3.13t+); on a GIL build the GIL is always on",
    ),
]

PACKAGE_DIR = Path(nexus.__file__).parent

CHECK = """
import sys
import warnings

warnings.simplefilter("error")  # the "GIL has been enabled" RuntimeWarning fails the import
assert not sys._is_gil_enabled(), "the GIL was on before nexus was imported"
import importlib

import nexus

for name in sys.argv[1:]:
    importlib.import_module(name)
assert nexus.USING_EXTENSION, "nexus fell back to the pure-Python twin"
print("gil_enabled", sys._is_gil_enabled())
"""


def compiled_modules() -> list[str]:
    """``nexus.<name>`` of every extension module installed next to ``nexus/__init__.py``."""
    suffixes = sorted(importlib.machinery.EXTENSION_SUFFIXES, key=len, reverse=True)
    names = set()
    for path in PACKAGE_DIR.iterdir():
        suffix = next((s for s in suffixes if path.name.endswith(s)), None)  # longest: ".so" last
        if suffix is not None:
            names.add("nexus." + path.name[: -len(suffix)])
    return sorted(names)


def test_the_package_has_compiled_modules() -> None:
    assert "nexus._counters" in compiled_modules()


def test_import_nexus_keeps_the_gil_disabled() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON_GIL", "NEXUS_NO_EXTENSIONS")}
    modules = compiled_modules()
    result = subprocess.run(
        [sys.executable, "-c", CHECK, *modules],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["gil_enabled", "False"], (result.stdout, modules)
