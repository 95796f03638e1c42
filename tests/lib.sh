# Shared helpers for the integration tests (sourced by tests/run.sh).
# Each check ends in exactly one of pass/fail/skip, which tests/run.sh counts.

VMM=${VMM:-$BUILD_DIR/bin/xeno-vmm}
GUEST=${GUEST:-build/guest}
TMP=$(mktemp -d /tmp/xeno-tests.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

pass() { PASSED=$((PASSED + 1)); printf 'PASS %s\n' "$1"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL %s: %s\n' "$1" "$2"; }
skip() { SKIPPED=$((SKIPPED + 1)); printf 'SKIP %s: %s\n' "$1" "$2"; }

have_kvm() { [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; }

# run_vmm NAME STDIN_TEXT ARGS...: runs the monitor with a time limit; leaves
# $TMP/NAME.out, $TMP/NAME.err and $RC.
run_vmm() {
    local name=$1 input=$2
    shift 2
    printf '%b' "$input" | timeout -k 5 ${TIMEOUT:-120} "$VMM" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
    RC=$?
}

# expect NAME WANT_RC PATTERN...: checks $RC and that each extended regex matches
# stdout+stderr of the last run_vmm NAME.
expect() {
    local name=$1 want=$2 pat
    shift 2
    if [ "$RC" -ne "$want" ]; then
        fail "$name" "exit status $RC, expected $want; stderr: $(tail -c 600 "$TMP/$name.err" | tr '\n' '|')"
        return
    fi
    for pat in "$@"; do
        if ! cat "$TMP/$name.out" "$TMP/$name.err" | grep -Eq -- "$pat"; then
            fail "$name" "output lacks /$pat/; got: $(cat "$TMP/$name.out" "$TMP/$name.err" | tail -c 600 | tr '\n' '|')"
            return
        fi
    done
    pass "$name"
}

# boot_test NAME KERNEL INPUT WANT_RC PATTERN... -- ARGS...: a KVM case.
kvm_case() {
    local name=$1
    if ! have_kvm; then
        skip "$name" "no usable /dev/kvm on this machine"
        return 1
    fi
    return 0
}
