#!/usr/bin/env bash
# Version matrix: build the sdist once, then for every supported CPython on this machine build a
# wheel FROM THAT SDIST, install it in a fresh venv, check that the compiled core (not the pure
# twin) is in use, and run the test suite against the installed wheel. Prints a table and exits
# non-zero if any interpreter fails (or is missing, unless --skip-missing).
#
#   scripts/version-matrix.sh [--skip-missing] [--committed] [--keep] [--exclude LABEL]...
#                             [--python PATH]... [-- PYTEST_ARGS...]
#
#   --skip-missing  an expected interpreter that is not installed is reported as "missing" and
#                   skipped instead of failing the run (CI on a fresh machine of the same image)
#   --committed     build the sdist from `git archive HEAD` (default: the working tree as it is)
#   --keep          keep the work directory (sdist, wheels, venvs, logs) and print its path
#   --exclude LABEL leave out one default interpreter (e.g. 3.13t when another CI leg tests it),
#                   listed as "excluded" in the table (repeatable)
#   --python PATH   test these interpreters instead of the default list (repeatable)
#
# Default interpreters: CPython 3.10, 3.11, 3.12, 3.13 (and 3.14 if present) from pyenv
# ($PYENV_ROOT, default ~/.pyenv) or PATH, and the free-threaded 3.13t at
# $NEXUS_PY313T (default /opt/py313t/bin/python3.13t). Older CPythons found under pyenv get a
# "not supported" row: requires-python is >=3.10. One wheel build runs at a time (the machine
# is small); everything needs only the package index for the build and test dependencies.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
skip_missing=0
keep=0
committed=0
explicit=()
excluded=" "
pytest_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --skip-missing) skip_missing=1 ;;
        --keep) keep=1 ;;
        --committed) committed=1 ;;
        --python) explicit+=("$2"); shift ;;
        --exclude) excluded+="$2 "; shift ;;
        --) shift; pytest_args=("$@"); break ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "version-matrix: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

work=$(mktemp -d /tmp/nexus-matrix.XXXXXX)
if [ "$keep" = 1 ]; then
    echo "work directory: $work"
else
    trap 'rm -rf "$work"' EXIT
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
unset NEXUS_NO_EXTENSIONS  # the matrix is about the compiled core
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}

# ---- which interpreters --------------------------------------------------------------------------

# Newest pyenv patch release of minor version $1 (e.g. 3.12), else python$1 on PATH.
find_cpython() {
    local minor=$1 candidate best=""
    for candidate in "$pyenv_root"/versions/"$minor".*/bin/python"$minor"; do
        [ -x "$candidate" ] || continue
        case "$candidate" in *t/bin/*) continue ;; esac  # a free-threaded pyenv build
        best=$candidate  # the glob sorts, so the last match is the newest patch release
    done
    if [ -z "$best" ] && command -v "python$minor" >/dev/null 2>&1; then
        best=$(command -v "python$minor")
    fi
    echo "$best"
}

labels=()    # what the row is called (3.12, 3.13t, ...)
pythons=()   # interpreter path, or "" when missing
optional=()  # 1: absent is fine (3.14), 0: expected
if [ ${#explicit[@]} -gt 0 ]; then
    for py in "${explicit[@]}"; do
        labels+=("$(basename "$py")"); pythons+=("$(command -v "$py" 2>/dev/null || true)"); optional+=(0)
    done
else
    for minor in 3.10 3.11 3.12 3.13 3.14; do
        labels+=("$minor"); pythons+=("$(find_cpython "$minor")")
        optional+=("$([ "$minor" = 3.14 ] && echo 1 || echo 0)")
    done
    py313t=${NEXUS_PY313T:-/opt/py313t/bin/python3.13t}
    labels+=("3.13t"); pythons+=("$([ -x "$py313t" ] && echo "$py313t" || echo "")"); optional+=(0)
fi

# ---- the sdist, built once -----------------------------------------------------------------------

builder=""
for i in "${!pythons[@]}"; do
    if [ -n "${pythons[$i]}" ] && [[ "${labels[$i]}" != *t ]]; then builder=${pythons[$i]}; break; fi
done
if [ -z "$builder" ]; then  # only free-threaded interpreters: build the sdist with one of them
    for py in "${pythons[@]}"; do [ -n "$py" ] && { builder=$py; break; }; done
fi
if [ -z "$builder" ]; then
    # Nothing to build for: report every expected interpreter as missing.
    for i in "${!labels[@]}"; do echo "== ${labels[$i]}: MISSING" >&2; done
    [ "$skip_missing" = 1 ] && { echo "version-matrix: no interpreter found (--skip-missing)"; exit 0; }
    echo "version-matrix: FAILED, no interpreter found" >&2
    exit 1
fi
echo "== sdist (built once with $($builder --version 2>&1))"
"$builder" -m venv "$work/tools" && "$work/tools/bin/python" -m pip install --quiet build >"$work/tools.log" 2>&1 \
    || { echo "cannot install 'build'" >&2; exit 1; }
source_tree=$repo
if [ "$committed" = 1 ]; then
    source_tree="$work/tree"
    mkdir -p "$source_tree" && git -C "$repo" archive --format=tar HEAD | tar -x -C "$source_tree" \
        || { echo "version-matrix: git archive HEAD failed" >&2; exit 1; }
    echo "   from the committed tree: $(git -C "$repo" log -1 --format='%h %s' | cut -c1-70)"
fi
if ! "$work/tools/bin/python" -m build --sdist --outdir "$work/dist" "$source_tree" >"$work/sdist.log" 2>&1; then
    tail -30 "$work/sdist.log" >&2
    echo "version-matrix: building the sdist failed" >&2
    exit 1
fi
sdist=$(ls "$work"/dist/*.tar.gz)
echo "   $(basename "$sdist") ($(du -k "$sdist" | cut -f1) KiB)"
mkdir -p "$work/src" && tar -xzf "$sdist" -C "$work/src"
unpacked=$(ls -d "$work"/src/*/)
version=$(sed -n 's/^Version: //p' "$unpacked/PKG-INFO")

# The tests run from a directory holding only the tests and their config, so `import nexus` can
# only find the installed wheel (never src/).
suite="$work/suite"
mkdir -p "$suite" && cp -r "$unpacked/tests" "$unpacked/pyproject.toml" "$unpacked/README.md" "$suite/"
cp "$unpacked/scripts/check_extension.py" "$suite/" 2>/dev/null || cp "$repo/scripts/check_extension.py" "$suite/"

# ---- one interpreter -------------------------------------------------------------------------------

rows=()
failed=0
row() { rows+=("$(printf '| %-6s | %-28s | %-30s | %-28s | %6s |' "$@")"); }

check_one() {
    local label=$1 py=$2 dir="$work/py-$1" started elapsed version_line wheel ext tests
    started=$(date +%s)
    version_line=$("$py" -c 'import sys, sysconfig; ft = "t" if sysconfig.get_config_var("Py_GIL_DISABLED") else ""; print(f"{sys.version_info[0]}.{sys.version_info[1]}.{sys.version_info[2]}{ft}")')
    echo "== $label: $py ($version_line)"
    mkdir -p "$dir"
    if ! "$py" -m venv "$dir/venv" >"$dir/venv.log" 2>&1; then
        row "$label" "$version_line" "no venv (see log)" "not run" "-"; failed=1; return
    fi
    local vpy="$dir/venv/bin/python"
    # The wheel, built from the sdist in pip's isolated build env (setuptools + Cython from the index).
    if ! "$vpy" -m pip wheel --no-deps --wheel-dir "$dir/wheel" "$sdist" >"$dir/wheel.log" 2>&1; then
        tail -20 "$dir/wheel.log"
        row "$label" "$version_line" "BUILD FAILED" "not run" "$(( $(date +%s) - started ))s"
        failed=1; return
    fi
    wheel=$(ls "$dir"/wheel/*.whl)
    echo "   built $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB)"
    # Test dependencies: hypothesis >= 6.156 does not install on the free-threaded 3.13 here.
    local constraints=()
    if [[ "$version_line" == *t ]]; then
        echo "hypothesis<6.156" >"$dir/constraints.txt"; constraints=(-c "$dir/constraints.txt")
    fi
    if ! "$vpy" -m pip install --quiet "${constraints[@]}" "$wheel[test]" >"$dir/install.log" 2>&1; then
        tail -20 "$dir/install.log"
        row "$label" "$version_line" "INSTALL FAILED" "not run" "$(( $(date +%s) - started ))s"
        failed=1; return
    fi
    # Every implementation compiled (no pure twin), nexus imported from the venv (not src/), metadata
    # version = nexus.__version__, and on a free-threaded build the GIL still off after the import.
    if ext=$(cd "$suite" && "$vpy" check_extension.py 2>&1) \
            && (cd "$suite" && "$vpy" - "$version" <<'PY'
import importlib.metadata
import sys

import nexus

assert nexus.__file__.startswith(sys.prefix), f"nexus imported from {nexus.__file__}, not the venv"
assert importlib.metadata.version("nexus-registry") == sys.argv[1], "not the sdist's version"
PY
); then
        ext="yes ($(echo "$ext" | tail -1 | sed -E 's/.*compiled \(([^;]*);.*/\1/'))"
    else
        echo "$ext" | tail -5
        row "$label" "$version_line" "NO: $(echo "$ext" | head -1 | cut -c1-26)" "not run" "$(( $(date +%s) - started ))s"
        failed=1; return
    fi
    # The suite, against the installed wheel.
    local status=0
    (cd "$suite" && "$vpy" -m pytest -q -p no:cacheprovider "${pytest_args[@]}") >"$dir/pytest.log" 2>&1 || status=$?
    tests=$(grep -E '^(=+ )?[0-9]+ (passed|failed)|no tests ran|[0-9]+ error' "$dir/pytest.log" | tail -1 | sed -E 's/^=+ //; s/ =+$//; s/ in [0-9.]+s.*//')
    [ -n "$tests" ] || tests="pytest exit $status"
    if [ "$status" -ne 0 ]; then
        tail -30 "$dir/pytest.log"
        tests="FAILED: $tests"; failed=1
    fi
    elapsed=$(( $(date +%s) - started ))
    echo "   extension: $ext; tests: $tests; ${elapsed}s"
    row "$label" "$version_line" "$ext" "$tests" "${elapsed}s"
}

total_started=$(date +%s)
for i in "${!labels[@]}"; do
    label=${labels[$i]} py=${pythons[$i]}
    if [[ "$excluded" == *" $label "* ]]; then
        row "$label" "excluded (--exclude)" "-" "-" "-"
        continue
    fi
    if [ -z "$py" ]; then
        if [ "${optional[$i]}" = 1 ]; then
            row "$label" "not installed" "-" "-" "-"
        elif [ "$skip_missing" = 1 ]; then
            echo "== $label: MISSING (skipped: --skip-missing)"
            row "$label" "MISSING (skipped)" "-" "-" "-"
        else
            echo "== $label: MISSING" >&2
            row "$label" "MISSING" "-" "-" "-"; failed=1
        fi
        continue
    fi
    check_one "$label" "$py"
done

# CPythons under pyenv too old for requires-python >= 3.10: listed so the table covers them all.
if [ ${#explicit[@]} -eq 0 ]; then
    for dir in "$pyenv_root"/versions/*/; do
        name=$(basename "$dir")
        case "$name" in 2.*|3.[0-9].*) row "${name%.*}" "$name" "not supported (<3.10)" "-" "-" ;; esac
    done
fi

echo
echo "nexus-registry $version, wheels built from $(basename "$sdist"); total $(( $(date +%s) - total_started ))s"
echo
printf '| %-6s | %-28s | %-30s | %-28s | %6s |\n' "python" "interpreter" "extension in use" "tests (installed wheel)" "time"
printf '|%s|%s|%s|%s|%s|\n' "--------" "------------------------------" "--------------------------------" "------------------------------" "--------"
printf '%s\n' "${rows[@]}"
echo
if [ "$failed" -ne 0 ]; then
    echo "version-matrix: FAILED (logs: $work, kept)" >&2
    trap - EXIT
    exit 1
fi
echo "version-matrix: all interpreters passed"
