"""Build script: compiles the Cython modules (_counters, _select, _track, _core) unless told not to.

Environment switches:
  NEXUS_NO_EXTENSIONS=1  install the pure-Python twin only (also implied on PyPy).
  NEXUS_DEBUG_BUILD=1    -O0 -g3 with AddressSanitizer and UBSan (GCC/Clang), for hunting memory bugs.
"""

import os
import platform
import sys

from setuptools import Extension, setup


def _extensions() -> list:
    if os.environ.get("NEXUS_NO_EXTENSIONS", "") not in ("", "0"):
        return []
    if platform.python_implementation() != "CPython":
        return []
    from Cython.Build import cythonize

    compile_args: list[str] = []
    link_args: list[str] = []
    debug = os.environ.get("NEXUS_DEBUG_BUILD", "") not in ("", "0")
    if debug and sys.platform != "win32":
        sanitize = "-fsanitize=address,undefined"
        compile_args = ["-O0", "-g3", sanitize, "-fno-omit-frame-pointer"]
        link_args = [sanitize]
    extensions = [
        Extension(
            f"nexus.{name}",
            [f"src/nexus/{name}.pyx"],
            include_dirs=["src/nexus"],
            extra_compile_args=compile_args,
            extra_link_args=link_args,
        )
        for name in ("_counters", "_select", "_track", "_core")  # _select, _track cimport _counters
    ]
    return cythonize(
        extensions,
        include_path=["src"],
        compiler_directives={
            "language_level": 3,
            "freethreading_compatible": True,
            "embedsignature": True,
            "boundscheck": False,
            "wraparound": False,
            # No field-by-field pickling: for RoundRobin it casts to the _Atomic typedef, which
            # clang rejects (the macOS build), and a counter's state is not meant to be pickled.
            "auto_pickle": False,
        },
    )


setup(ext_modules=_extensions())
