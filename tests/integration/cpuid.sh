# The machine contract (docs/machine.md, "CPUID"; issue 14 item 8): what a guest sees in
# CPUID is the policy, except for exactly the bits the monitor's start-up probe reports as
# not honoured by this host's KVM. On an honest host the report is empty and the guest sees
# the policy; on one that overlays host bits the test still passes, but only if the report
# is true, bit for bit.

# cpu_word FILE NAME FIELD: a field (intended, seen, volatile, extra, missing) of --cpu-report.
cpu_word() { sed -n "s/^word $2 .*$3=\(0x[0-9a-f]*\).*/\1/p" "$1"; }

kvm_case cpuid-report && {
    run_cmd cpuid-report "$VMM" --cpu-report
    expect cpuid-report 0 '^word 1\.ecx intended=0x[0-9a-f]{8} seen=' '^extra ' '^missing ' '^probe-us [0-9]+$'
}

# The docs' policy table names exactly the features the code offers, and hides the rest.
kvm_case cpuid-policy-docs && {
    code=$(sed -n 's/^policy \([a-z0-9_]*\) .* offered$/\1/p' "$TMP/cpuid-report.out" | sort)
    docs=$(sed -n '/^### Policy/,/^##/p' docs/machine.md | grep '^| `' | cut -d'|' -f3 |
        grep -o '`[a-z0-9_]*`' | tr -d '`' | sort)
    check cpuid-policy-docs '[ -n "$code" ] && [ "$code" = "$docs" ]' \
        "docs/machine.md's policy table and xeno-vmm --cpu-report differ: $(diff <(echo "$docs") <(echo "$code") | tr '\n' ' ')"
}

# The guest, in long mode and ring 0, sees for each register: the intended bits, plus the
# reported extra ones, less the reported missing ones (volatile bits aside); and the
# monitor's warning names the same features as the report.
kvm_case cpuid-guest && {
    run_vmm cpuid-guest "" --kernel "$GUEST/cpuid.elf"
    r=$TMP/cpuid-report.out
    bad=
    for w in 1.ecx 1.edx 7.0.ebx 7.0.ecx 7.0.edx d.0.eax d.1.eax 80000001.ecx 80000001.edx; do
        g=$(sed -n "s/^cpuid: $w=\(0x[0-9a-f]*\)\$/\1/p" "$TMP/cpuid-guest.out")
        i=$(cpu_word "$r" "$w" intended) v=$(cpu_word "$r" "$w" volatile)
        e=$(cpu_word "$r" "$w" extra) m=$(cpu_word "$r" "$w" missing) s=$(cpu_word "$r" "$w" seen)
        if [ -z "$g" ] || [ -z "$i" ] || [ -z "$m" ]; then
            bad="$bad $w:missing-line"
        elif (((g & ~v) != (((i | e) & ~m) & ~v))) || (((g & ~v) != (s & ~v))); then
            bad="$bad $w:guest=$g,intended=$i,extra=$e,missing=$m"
        fi
    done
    extra=$(sed -n 's/^extra //p' "$r") missing=$(sed -n 's/^missing //p' "$r")
    if [ "$extra" = - ] && [ "$missing" = - ]; then
        warned='! grep -q "does not honour the CPUID policy" "$TMP/cpuid-guest.err"'
    else
        [ "$extra" = - ] && extra=
        [ "$missing" = - ] && missing=
        warned='grep -qF "the guest sees extra [$extra], lacks [$missing]" "$TMP/cpuid-guest.err"'
    fi
    check cpuid-guest '[ $RC -eq 0 ] && [ -z "$bad" ] && eval "$warned"' \
        "rc $RC; registers off the report:${bad:- none}; warning: $(grep -o 'guest sees.*' "$TMP/cpuid-guest.err")"
}

# An operator narrowing the policy (--cpu-features-off) takes a feature KVM honours out of
# what the guest sees: lahf_lm (0x80000001 ECX bit 0) is on every x86-64 host we run on.
kvm_case cpuid-features-off && {
    run_vmm cpuid-off "" --kernel "$GUEST/cpuid.elf" --cpu-features-off=lahf_lm
    g=$(sed -n 's/^cpuid: 80000001.ecx=\(0x[0-9a-f]*\)$/\1/p' "$TMP/cpuid-off.out")
    check cpuid-features-off '[ $RC -eq 0 ] && [ -n "$g" ] && ((!(g & 1)))' "rc $RC, 80000001.ecx=$g"
    run_vmm cpuid-off-bad "" --kernel "$GUEST/cpuid.elf" --cpu-features-off=lahf_lm,nosuch
    expect cpuid-off-bad 1 "unknown CPU feature 'nosuch'"
}

# ---- Snapshots and migrations carry the features the guest could see; a destination or a
# restore whose guests would see fewer refuses the domain, naming what is missing, and the
# source keeps it. A host "with fewer features" is made the legitimate way: an operator's
# --cpu-features-off (like a narrower libvirt CPU model) that takes lahf_lm, which every host
# we run on honours, out of what the destination's guests see.
CPU_KEY=$TMP/cpu-mig.key
head -c 32 /dev/urandom | base64 >"$CPU_KEY"
chmod 600 "$CPU_KEY"
cpu_req() { printf '%s\n' "$2" | timeout 70 "$UNIXCAT" "$TMP/$1/control.sock" 2>&1 | grep -m1 -E '^(ok|err)'; }

# cpu_src NAME: a memfill guest under --run-dir (background, CPU_SRC_JOB), ready once its pid
# file is there.
cpu_src() {
    timeout -k 5 120 "$VMM" --run-dir "$TMP/$1" --name "$1" --kernel "$GUEST/memfill.elf" --memory 64M \
        --migrate-key "$CPU_KEY" </dev/null >"$TMP/$1.vmm.log" 2>&1 &
    CPU_SRC_JOB=$!
    wait_until 30 test -s "$TMP/$1/pid"
}

kvm_case cpuid-snapshot-record && {
    if cpu_src cpusave; then
        reply=$(cpu_req cpusave "save $TMP/cpu.snap")
        wait "$CPU_SRC_JOB"
        check cpuid-snapshot-record '[[ $reply == ok* ]]' "reply '$reply'"
    else
        fail cpuid-snapshot-record "monitor did not start: $(log_tail "$TMP/cpusave.vmm.log")"
    fi
}

# The same file restores where the guest sees all it saw, and is refused where it would not.
kvm_case cpuid-restore-refused && [ -s "$TMP/cpu.snap" ] && {
    run_vmm cpuid-restore-refused "" --restore "$TMP/cpu.snap" --cpu-features-off=lahf_lm
    check cpuid-restore-refused '[ $RC -ne 0 ] && grep -q "this host does not give its guests: lahf_lm" "$TMP/cpuid-restore-refused.err"' \
        "rc $RC: $(log_tail "$TMP/cpuid-restore-refused.err")"
    timeout -k 5 60 "$VMM" --restore "$TMP/cpu.snap" --run-dir "$TMP/cpurest" </dev/null >"$TMP/cpurest.log" 2>&1 &
    job=$!
    check cpuid-restore-same-host 'wait_until 30 test -s "$TMP/cpurest/pid" && [[ $(cpu_req cpurest status) == ok* ]] &&
        ! grep -q "predates the CPU feature record" "$TMP/cpurest.log"' \
        "$(log_tail "$TMP/cpurest.log")"
    cpu_req cpurest destroy >/dev/null
    wait "$job" 2>/dev/null
}

kvm_case cpuid-migrate-refused && {
    port=$((TEST_PORT_BASE + 1))
    timeout -k 5 60 "$VMM" --migrate-incoming "127.0.0.1:$port" --migrate-key "$CPU_KEY" --run-dir "$TMP/cpudst" \
        --cpu-features-off=lahf_lm </dev/null >"$TMP/cpudst.vmm.log" 2>&1 &
    dst=$!
    if wait_until 30 grep -q 'waiting for a migration' "$TMP/cpudst.vmm.log" && cpu_src cpumig; then
        reply=$(cpu_req cpumig "migrate 127.0.0.1:$port")
        check cpuid-migrate-refused '[[ $reply == err*lahf_lm*"runs on here"* ]]' "reply '$reply'"
        wait_until 30 eval '! kill -0 $dst 2>/dev/null'
        check cpuid-migrate-destination-says \
            'grep -q "this host does not give its guests: lahf_lm" "$TMP/cpudst.vmm.log" && [ ! -s "$TMP/cpudst/console.log" ]' \
            "$(log_tail "$TMP/cpudst.vmm.log")"
        check cpuid-migrate-source-keeps '[[ $(cpu_req cpumig status) == "ok state=running"* ]]' \
            "$(log_tail "$TMP/cpumig.vmm.log")"
        cpu_req cpumig destroy >/dev/null
        wait "$CPU_SRC_JOB" 2>/dev/null
    else
        fail cpuid-migrate-refused "monitors did not start: $(log_tail "$TMP/cpudst.vmm.log" "$TMP/cpumig.vmm.log")"
    fi
    kill "$dst" 2>/dev/null
    wait "$dst" 2>/dev/null
}

# The control channel's `cpu` request tells the same as the report (xenod and operators ask).
kvm_case cpuid-control && {
    if cpu_src cpuctl; then
        reply=$(cpu_req cpuctl cpu)
        extra=$(sed -n 's/^extra //p' "$TMP/cpuid-report.out")
        check cpuid-control '[[ $reply == "ok cpu_probe_us="[0-9]*" cpu_extra=$extra cpu_missing="* ]]' \
            "reply '$reply', report extra '$extra'"
        cpu_req cpuctl destroy >/dev/null
        wait "$CPU_SRC_JOB" 2>/dev/null
    else
        fail cpuid-control "monitor did not start: $(log_tail "$TMP/cpuctl.vmm.log")"
    fi
}

# Host info through xenod tells what the monitor's report tells (xenctl host, GET /v1/host):
# the same extra and missing features, and "kept" only where there are none.
kvm_case cpuid-host-info && {
    CH=$TMP/cpuhost
    mkdir -p "$CH"
    "$BUILD_DIR/bin/xenod" --state-dir "$CH/state" --socket "$CH/x.sock" >"$CH/xenod.log" 2>&1 &
    chpid=$!
    if wait_until 30 curl -sf --unix-socket "$CH/x.sock" http://x/v1/host -o /dev/null; then
        XENOD_SOCKET=$CH/x.sock timeout 20 "$BUILD_DIR/bin/xenctl" host >"$CH/host.txt" 2>&1
        XENOD_SOCKET=$CH/x.sock timeout 20 "$BUILD_DIR/bin/xenctl" --json host >"$CH/host.json" 2>&1
        extra=$(sed -n 's/^extra //p' "$TMP/cpuid-report.out") missing=$(sed -n 's/^missing //p' "$TMP/cpuid-report.out")
        [ "$extra" = - ] && extra=
        [ "$missing" = - ] && missing=
        got_extra=$(jq -r '.cpu_contract.extra | join(",")' "$CH/host.json")
        got_missing=$(jq -r '.cpu_contract.missing | join(",")' "$CH/host.json")
        check cpuid-host-info-json '[ "$got_extra" = "$extra" ] && [ "$got_missing" = "$missing" ] &&
            [ "$(jq -r .cpu_contract.honoured "$CH/host.json")" = "$([ -z "$extra$missing" ] && echo true || echo false)" ]' \
            "report extra '$extra' missing '$missing'; xenod: $(tr '\n' ' ' <"$CH/host.json")"
        if [ -z "$extra$missing" ]; then
            check cpuid-host-info-text 'grep -q "^CPU contract: *kept" "$CH/host.txt"' "$(cat "$CH/host.txt")"
        else
            first=${extra%%,*}
            check cpuid-host-info-text 'grep -q "^CPU contract: *NOT kept" "$CH/host.txt" &&
                grep -q "^CPU extra: .*\b$first\b" "$CH/host.txt"' "$(tr '\n' '|' <"$CH/host.txt")"
        fi
        check cpuid-host-info-logged 'grep -q "does not keep the CPUID policy" "$CH/xenod.log" || [ -z "$extra$missing" ]' \
            "$(tail -c 400 "$CH/xenod.log")"
    else
        fail cpuid-host-info "xenod did not start: $(tail -3 "$CH/xenod.log")"
    fi
    kill -TERM "$chpid" 2>/dev/null
    wait_until 30 gone "$chpid" || kill -KILL "$chpid" 2>/dev/null
    wait "$chpid" 2>/dev/null
}
