#!/usr/bin/env bash
# Runs every test: the cmocka unit tests, then the integration tests that boot real
# kernels through xeno-vmm under KVM. Usage: tests/run.sh BUILD_DIR (build/san for the
# sanitizer build `make check` makes). Ends with "N passed, N failed, N skipped".
# A second argument, a shell pattern, runs only the unit tests and integration files whose
# name contains it (`tests/run.sh build/san snapshot`): for working on one piece.
set -u
BUILD_DIR=${1:-build}
ONLY=${2:-}
cd "$(dirname "$0")/.."
PASSED=0 FAILED=0 SKIPPED=0

# ASan's leak checker needs ptrace, which some sandboxes refuse; everything else stays on.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

echo "== unit tests"
for t in "$BUILD_DIR"/tests/test_*; do
    [ -x "$t" ] || continue
    [ -z "$ONLY" ] || [[ $(basename "$t") == *$ONLY* ]] || continue
    out=$("$t" 2>&1)
    rc=$?
    name=$(basename "$t")
    # cmocka prints "[       OK ] name" once per test, and a failed or skipped test's name
    # twice (as it happens and in the summary): count distinct names.
    ok=$(grep -c '^\[       OK \]' <<<"$out")
    bad=$(grep '^\[  FAILED  \] [a-z_]' <<<"$out" | sort -u | wc -l)
    sk=$(grep '^\[  SKIPPED \] [a-z_]' <<<"$out" | sort -u | wc -l)
    PASSED=$((PASSED + ok)) FAILED=$((FAILED + bad)) SKIPPED=$((SKIPPED + sk))
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
        FAILED=$((FAILED + 1)) # crashed or sanitizer report outside a test
        bad=1
    fi
    printf '%s: %d passed, %d failed, %d skipped\n' "$name" "$ok" "$bad" "$sk"
    [ "$bad" -eq 0 ] || printf '%s\n' "$out" | grep -vE '^\[ (RUN|      OK) ' | tail -40
done

echo "== integration tests"
. tests/lib.sh
for f in tests/integration/*.sh; do
    [ -z "$ONLY" ] || [[ $(basename "$f") == *$ONLY* ]] || continue
    echo "-- $f"
    . "$f"
done

printf '%d passed, %d failed, %d skipped\n' "$PASSED" "$FAILED" "$SKIPPED"
[ "$FAILED" -eq 0 ]
