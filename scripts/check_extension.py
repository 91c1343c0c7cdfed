"""Fail unless the installed nexus runs on its compiled modules (not the pure-Python twins).

Run from a directory without a ``src/`` checkout, after installing a wheel (cibuildwheel's test
step, ``scripts/version-matrix.sh``). Checks that every implementation the selector
``nexus.counters`` picked is compiled, that the metadata version is ``nexus.__version__``, and, on a
free-threaded interpreter, that importing nexus left the GIL disabled. Prints one summary line.
"""

from __future__ import annotations

import importlib.metadata
import sys
import sysconfig

import nexus
from nexus import counters


def main() -> int:
    """Check, print the summary line, and return the exit status."""
    problems = []
    if not nexus.USING_EXTENSION:
        problems.append("nexus.USING_EXTENSION is False: the pure-Python counters are in use")
    fallbacks = sorted(
        name
        for name in counters.__all__
        if str(getattr(getattr(counters, name), "__module__", "")).endswith("_py")
    )
    if fallbacks:
        problems.append(f"pure-Python twins in use for: {', '.join(fallbacks)}")
    metadata_version = importlib.metadata.version("nexus-registry")
    if metadata_version != nexus.__version__:
        problems.append(
            f"metadata version {metadata_version} != nexus.__version__ {nexus.__version__}"
        )
    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    gil_enabled = getattr(sys, "_is_gil_enabled", lambda: True)()
    if free_threaded and gil_enabled:
        problems.append("the GIL is enabled after importing nexus on a free-threaded interpreter")
    for problem in problems:
        print(f"check_extension: {problem}", file=sys.stderr)
    modules = sorted(
        {
            getattr(counters, name).__module__
            for name in counters.__all__
            if hasattr(getattr(counters, name), "__module__")
            and getattr(counters, name).__module__.startswith("nexus.")
        }
    )
    gil = ", GIL off" if free_threaded and not gil_enabled else ""
    print(
        f"nexus {nexus.__version__} from {nexus.__file__}: "
        f"{'compiled' if not problems else 'NOT compiled'} "
        f"({counters.ATOMIC_IMPLEMENTATION}{gil}; {', '.join(modules)})"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
