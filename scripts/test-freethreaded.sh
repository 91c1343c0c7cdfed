#!/usr/bin/env bash
# The free-threaded leg: run the test suite on CPython 3.13t with the GIL off, in both modes (the
# compiled core and the pure-Python twin forced with NEXUS_NO_EXTENSIONS=1).
#
# With the GIL, Python threads take turns, so the thread tests cannot tell a lock-free read that is
# safe from one that only looks safe. On 3.13t (PEP 703) threads really run in parallel: this is
# where the pure twin's locks, the registry's snapshot publishing and the extension's
# free-threading declaration are actually tested.
#
#   scripts/test-freethreaded.sh [PYTEST_ARGS...]      # default: the whole suite, -q
#
# Steps: find the interpreter ($NEXUS_PY313T, default /opt/py313t/bin/python3.13t), building it
# with ../shared/tools/build-freethreaded-python (relative to the repository root) if it is
# missing; make a fresh venv; install nexus NON-editable, with its test extra, from a copy of the committed tree
# (git archive HEAD, so untracked or stale build products never leak in); check that the compiled
# core is in use and that importing nexus left the GIL disabled; run pytest with PYTHON_GIL=0,
# then again with NEXUS_NO_EXTENSIONS=1. Exits non-zero if anything fails.
#
# Environment: NEXUS_PY313T (interpreter), NEXUS_FT_KEEP=1 (keep the work directory),
# NEXUS_FT_WORKTREE=1 (test the working tree, uncommitted edits included, instead of HEAD).
set -euo pipefail

repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
python=${NEXUS_PY313T:-/opt/py313t/bin/python3.13t}
builder="$repo/../shared/tools/build-freethreaded-python"
pytest_args=("$@")
[ ${#pytest_args[@]} -gt 0 ] || pytest_args=(-q)

if [ ! -x "$python" ]; then
    if [ -x "$builder" ]; then
        echo "== building the free-threaded CPython 3.13t (about 10 minutes): $builder"
        PREFIX=$(dirname "$(dirname "$python")") "$builder" >&2
    else
        echo "test-freethreaded: no free-threaded interpreter at $python, and no builder at" >&2
        echo "  $builder" >&2
        echo "  Build CPython 3.13 with ./configure --disable-gil (or install python3.13t) and set" >&2
        echo "  NEXUS_PY313T to its path." >&2
        exit 2
    fi
fi
"$python" -c 'import sys, sysconfig; assert sysconfig.get_config_var("Py_GIL_DISABLED"), sys.version' \
    || { echo "test-freethreaded: $python is not a free-threaded build" >&2; exit 2; }

work=$(mktemp -d /tmp/nexus-ft.XXXXXX)
if [ "${NEXUS_FT_KEEP:-0}" = 1 ]; then
    echo "work directory: $work"
else
    trap 'rm -rf "$work"' EXIT
fi

echo "== venv ($("$python" --version), free-threaded)"
"$python" -m venv "$work/venv"
venv_python="$work/venv/bin/python"
"$venv_python" -m pip install --quiet --upgrade pip
# hypothesis 6.156 and later need a Rust core with no wheel for 3.13t; 6.155.x is pure Python.
# Installed first, so that the test extra below (hypothesis>=6.100) is already satisfied.
"$venv_python" -m pip install --quiet cython setuptools 'hypothesis<6.156'

echo "== install nexus (non-editable) from a copy of the tree"
mkdir "$work/src"
if [ "${NEXUS_FT_WORKTREE:-0}" = 1 ]; then
    (cd "$repo" && tar --exclude=.git --exclude='*.so' --exclude=build --exclude='*.egg-info' \
        --exclude='src/nexus/*.c' -cf - .) | tar -xf - -C "$work/src"
else
    git -C "$repo" archive HEAD | tar -x -C "$work/src"
fi
"$venv_python" -m pip install --quiet --no-build-isolation "$work/src[test]"

echo "== the compiled core is in use and the GIL stays off"
(cd "$work" && PYTHON_GIL=0 "$venv_python" - <<'PY'
import sys

import nexus
import nexus._counters

assert nexus.USING_EXTENSION, "nexus fell back to the pure-Python twin"
assert not sys._is_gil_enabled(), "importing nexus re-enabled the GIL"
print(f"nexus {nexus.__version__} from {nexus.__file__}; GIL enabled: {sys._is_gil_enabled()}")
PY
)
# Also without PYTHON_GIL=0: the extension must declare free-threading support, or CPython would
# turn the GIL back on at import.
(cd "$work" && "$venv_python" -c 'import sys, nexus; assert not sys._is_gil_enabled(), "GIL re-enabled"')

status=0
cd "$work/src"  # the tests import the installed nexus: this copy has no built extension in src/
echo "== pytest, GIL off, compiled core and pure twin (PYTHON_GIL=0)"
PYTHON_GIL=0 "$venv_python" -m pytest -p no:cacheprovider "${pytest_args[@]}" || status=1
echo "== pytest, GIL off, pure twin forced (PYTHON_GIL=0 NEXUS_NO_EXTENSIONS=1)"
PYTHON_GIL=0 NEXUS_NO_EXTENSIONS=1 "$venv_python" -m pytest -p no:cacheprovider \
    "${pytest_args[@]}" || status=1

if [ "$status" = 0 ]; then
    echo "== free-threaded leg passed"
else
    echo "== free-threaded leg FAILED" >&2
fi
exit "$status"
