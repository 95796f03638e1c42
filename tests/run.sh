#!/usr/bin/env bash
# Runs every test: the cmocka unit tests, then the integration tests that boot real
# kernels through xeno-vmm under KVM. Ends with "N passed, N failed, N skipped" and a
# non-zero status when anything failed.
#
# usage: tests/run.sh [-j JOBS] BUILD_DIR [PATTERN]
#   BUILD_DIR  build/san for the sanitizer build `make check` makes
#   PATTERN    runs only the unit tests and integration files whose name contains it
#              (`tests/run.sh build/san snapshot`): for working on one piece
#   -j JOBS    how many tests run at once (default: $JOBS, else 1). Each integration file
#              runs in a subshell of its own with its own temporary directory (tests/lib.sh);
#              its output is held until it ends and then printed whole. A file whose first
#              lines hold "# test-harness: serial" runs alone, after the others (it measures
#              CPU time or deadlines that a busy machine would skew: tests/README.md).
set -u
JOBS=${JOBS:-1}
while getopts 'j:' opt; do
    case $opt in
    j) JOBS=$OPTARG ;;
    *)
        echo "usage: tests/run.sh [-j JOBS] BUILD_DIR [PATTERN]" >&2
        exit 2
        ;;
    esac
done
shift $((OPTIND - 1))
if ! [[ $JOBS =~ ^[1-9][0-9]*$ ]]; then
    echo "tests/run.sh: -j takes a positive number, not '$JOBS'" >&2
    exit 2
fi
export BUILD_DIR=${1:-build}
ONLY=${2:-}
cd "$(dirname "$0")/.." || exit 2
PASSED=0 FAILED=0 SKIPPED=0
START=$SECONDS

# ASan's leak checker needs ptrace, which some sandboxes refuse; everything else stays on.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

OUT=$(mktemp -d /tmp/xeno-run.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

# ---- a pool of at most JOBS background tasks; each task's report runs when it ends --------
declare -A POOL=() # pid -> "REPORT-FUNCTION ARG..."
pool_reap_one() {
    local pid=
    wait -n -p pid
    [ -n "$pid" ] || return 1
    ${POOL[$pid]}
    unset "POOL[$pid]"
}
pool_run() { # REPORT TASK ARG...: starts TASK ARG... once a slot is free
    local report=$1
    shift
    while [ "${#POOL[@]}" -ge "$JOBS" ]; do pool_reap_one; done
    "$@" &
    POOL[$!]="$report $*"
}
pool_drain() { while [ "${#POOL[@]}" -gt 0 ]; do pool_reap_one || break; done; }

# ---- unit tests ----------------------------------------------------------------------------
unit_task() { # PROGRAM
    local name
    name=$(basename "$1")
    "$1" >"$OUT/$name.out" 2>&1
    echo $? >"$OUT/$name.rc"
}
unit_report() { # unit_task PROGRAM
    local name out rc ok bad sk
    name=$(basename "$2")
    out=$(cat "$OUT/$name.out" 2>/dev/null)
    rc=$(cat "$OUT/$name.rc" 2>/dev/null || echo 1)
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
}

echo "== unit tests"
for t in "$BUILD_DIR"/tests/test_*; do
    [ -f "$t" ] || continue
    [ -z "$ONLY" ] || [[ $(basename "$t") == *$ONLY* ]] || continue
    if [ ! -x "$t" ] || [ ! -s "$t" ]; then # a link interrupted halfway leaves such a file
        printf '%s: not a program (an interrupted build?): 1 failed\n' "$(basename "$t")"
        FAILED=$((FAILED + 1))
        continue
    fi
    pool_run unit_report unit_task "$t"
done
pool_drain

# ---- integration files ---------------------------------------------------------------------
# integration_task FILE INDEX: the file in a subshell of its own, after tests/lib.sh; all of
# its output in $OUT/NAME.log, its counts in $OUT/NAME.counts (written by lib.sh's exit trap).
integration_task() {
    local name
    name=$(basename "$1" .sh)
    (
        TEST_NAME=$name TEST_INDEX=$2 TEST_COUNTS=$OUT/$name.counts TEST_FILE_DONE=
        . tests/lib.sh
        # shellcheck disable=SC1090 # the file this task runs
        . "$1"
        TEST_FILE_DONE=1
    ) </dev/null >"$OUT/$name.log" 2>&1
}
integration_report() { # integration_task FILE INDEX
    local name p=0 f=0 s=0 ended=0
    name=$(basename "$2" .sh)
    echo "-- $2 ($(($(date +%s) - $(stat -c %Y "$OUT/$name.start"))) s)"
    cat "$OUT/$name.log"
    [ -s "$OUT/$name.counts" ] && read -r p f s ended <"$OUT/$name.counts"
    if [ "$ended" != 1 ]; then
        f=$((f + 1))
        printf 'FAIL %s: the file stopped before its end (see the lines above)\n' "$name"
    fi
    PASSED=$((PASSED + p)) FAILED=$((FAILED + f)) SKIPPED=$((SKIPPED + s))
}
integration_start() { # FILE INDEX
    touch "$OUT/$(basename "$1" .sh).start"
    integration_task "$@"
}
is_serial() { head -20 "$1" | grep -q '^# test-harness: serial'; }

echo "== integration tests"
index=0 serial=()
for f in tests/integration/*.sh; do
    index=$((index + 1))
    [ -z "$ONLY" ] || [[ $(basename "$f") == *$ONLY* ]] || continue
    if is_serial "$f"; then
        serial+=("$f $index")
        continue
    fi
    pool_run integration_report integration_start "$f" "$index"
done
pool_drain
for s in "${serial[@]}"; do
    # shellcheck disable=SC2086 # "FILE INDEX"
    pool_run integration_report integration_start $s
    pool_drain
done

printf '(%d s)\n' $((SECONDS - START))
printf '%d passed, %d failed, %d skipped\n' "$PASSED" "$FAILED" "$SKIPPED"
[ "$FAILED" -eq 0 ]
