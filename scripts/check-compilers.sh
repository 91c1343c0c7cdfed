#!/usr/bin/env bash
# Build the extensions with each compiler/branch of _atomic.h that Linux can reach, and run the
# counter, concurrency, select and track tests against each build:
#
#   gcc   -std=c11    -> the <stdatomic.h> branch          (manylinux, musllinux)
#   gcc   -std=gnu99  -> the GCC/Clang __atomic builtins   (compilers without <stdatomic.h>)
#   clang -std=c11    -> <stdatomic.h> under clang         (the compiler of every macOS wheel)
#
# clang is stricter than gcc about _Atomic types (a cast to one is an error), so this catches macOS
# build breaks on Linux. MSVC (the Interlocked* branch) cannot be checked here. Each build happens
# in a temporary copy of the tree, one at a time; the repository's in-place build is not touched.
#
#   scripts/check-compilers.sh            (clang missing: says so loudly and skips that leg)
#   PYTHON=/path/to/python scripts/check-compilers.sh
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
work=$(mktemp -d /tmp/nexus-compilers.XXXXXX)
trap 'rm -rf "$work"' EXIT
export PIP_DISABLE_PIP_VERSION_CHECK=1
unset NEXUS_NO_EXTENSIONS

"$PYTHON" -m venv "$work/venv" \
    && "$work/venv/bin/python" -m pip install --quiet "Cython>=3.1" "setuptools>=77" pytest \
        "hypothesis<6.156" >"$work/pip.log" 2>&1 \
    || { cat "$work/pip.log"; echo "check-compilers: cannot set up the venv" >&2; exit 1; }
vpy="$work/venv/bin/python"
tests=()
for name in test_counters test_hammer test_concurrency test_select test_track test_core; do
    [ -e "$repo/tests/$name.py" ] && tests+=("tests/$name.py")
done

failed=0
results=()
leg() {  # leg NAME CC CFLAGS EXPECTED_IMPLEMENTATION
    local name=$1 cc=$2 cflags=$3 expected=$4 dir="$work/$1" impl status=0
    if ! command -v "$cc" >/dev/null 2>&1; then
        echo "!! $name: $cc is not installed (apt-get install $cc): leg SKIPPED" >&2
        results+=("$name: SKIPPED ($cc missing)")
        return
    fi
    mkdir -p "$dir"
    cp -r "$repo/src" "$repo/tests" "$repo/setup.py" "$repo/pyproject.toml" "$repo/README.md" "$dir/"
    find "$dir/src" \( -name '*.so' -o -name '*.pyd' -o -name '*.c' \) -delete
    echo "== $name: CC=$cc CFLAGS=$cflags"
    if ! (cd "$dir" && CC=$cc LDSHARED="$cc -shared" CFLAGS="$cflags" \
            "$vpy" setup.py -q build_ext --inplace) >"$dir/build.log" 2>&1; then
        grep -E 'error' "$dir/build.log" | head -10
        results+=("$name: BUILD FAILED"); failed=1; return
    fi
    impl=$(cd "$work" && PYTHONPATH="$dir/src" "$vpy" -c \
        'import nexus._counters as c; print(c.ATOMIC_IMPLEMENTATION)')
    if [ "$impl" != "$expected" ]; then
        results+=("$name: built the $impl branch, expected $expected"); failed=1; return
    fi
    (cd "$dir" && PYTHONPATH="$dir/src" "$vpy" -m pytest -q -p no:cacheprovider "${tests[@]}") \
        >"$dir/pytest.log" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        tail -20 "$dir/pytest.log"
        results+=("$name ($impl): TESTS FAILED"); failed=1; return
    fi
    results+=("$name ($impl, $(grep -cE 'warning:' "$dir/build.log") compiler warnings): $(tail -1 "$dir/pytest.log")")
}

leg gcc-c11 gcc "-std=c11" c11-stdatomic
leg gcc-gnu99 gcc "-std=gnu99" gnu-builtins
leg clang-c11 clang "-std=c11" c11-stdatomic

echo
printf '%s\n' "${results[@]}"
[ "$failed" -eq 0 ] || { echo "check-compilers: FAILED" >&2; exit 1; }
echo "check-compilers: ok"
