# CPU affinity from the domain XML (docs/domain-xml.md, "CPU affinity"): <vcpu cpuset>,
# <cputune><vcpupin>/<emulatorpin> in libvirt's cpuset syntax. At define, xenod refuses (with
# FILE:LINE) a CPU this host does not give its domains, a pin for a vCPU that does not exist
# and a reservation more than the pinned CPUs can give; dumpxml writes the pins back. Started
# (KVM, 2 host CPUs), each vCPU thread ("vcpuN") runs on its own pin and every other thread of
# the monitor on the emulator pin: read from /proc/PID/task/*/status, Cpus_allowed_list.
# Per-CPU admission: a reservation pinned to a CPU that has too little unreserved is refused.

AF_XENOD=$BUILD_DIR/bin/xenod
AF_XENCTL=$BUILD_DIR/bin/xenctl
AF=$TMP/a # short: the monitor's socket path under it must fit sun_path
mkdir -p "$AF"
export XENOD_SOCKET=$AF/xenod.sock
afx() { timeout -k 5 60 "$AF_XENCTL" "$@"; }
af_up() { [ -S "$XENOD_SOCKET" ] && curl -s --unix-socket "$XENOD_SOCKET" http://x/v1/host >/dev/null; }
# af_xml FILE NAME VCPUS VCPU_ATTRS CPUTUNE [XENO_CPU_ATTRS]
af_xml() {
    {
        printf '<domain type="kvm">\n  <name>%s</name>\n  <memory unit="MiB">64</memory>\n' "$2"
        printf '  <vcpu placement="static"%s>%s</vcpu>\n' "$4" "$3"
        printf '  <os><kernel>%s</kernel></os>\n' "$PWD/$GUEST/spin.elf"
        [ -z "${5:-}" ] || printf '  <cputune>\n%s\n  </cputune>\n' "$5"
        printf '  <metadata><xeno:sponsor xmlns:xeno="urn:xenoserver:domain:1">tests</xeno:sponsor>'
        [ -z "${6:-}" ] || printf '<xeno:cpu xmlns:xeno="urn:xenoserver:domain:1" %s/>' "$6"
        printf '</metadata>\n</domain>\n'
    } >"$1"
}
"$AF_XENOD" --state-dir "$AF/state" --socket "$XENOD_SOCKET" --cpus 2 >>"$AF/xenod.log" 2>&1 &
AF_XPID=$!
if ! wait_until 10 af_up; then
    fail affinity-xenod-starts "xenod did not come up: $(log_tail "$AF/xenod.log")"
    kill "$AF_XPID" 2>/dev/null
    return 0 2>/dev/null || exit 0
fi

# Refusals at define, each naming the file and the line.
af_xml "$AF/nocpu.xml" nocpu 1 ' cpuset="0,1000"' ''
out=$(afx define "$AF/nocpu.xml" 2>&1)
check affinity-refuses-missing-cpu '! afx info nocpu >/dev/null 2>&1 && grep -q "nocpu.xml:4: <vcpu>: cpuset names CPU 1000, which this host does not give its domains" <<<"$out"' "$out"
af_xml "$AF/novcpu.xml" novcpu 2 '' '    <vcpupin vcpu="2" cpuset="0"/>'
out=$(afx define "$AF/novcpu.xml" 2>&1)
check affinity-refuses-missing-vcpu '! afx info novcpu >/dev/null 2>&1 && grep -q "novcpu.xml:7: <vcpupin>: vCPU 2 does not exist: the domain has 2 (0 to 1)" <<<"$out"' "$out"
af_xml "$AF/badset.xml" badset 1 ' cpuset="1-0"' ''
out=$(afx define "$AF/badset.xml" 2>&1)
check affinity-refuses-bad-syntax 'grep -q "badset.xml:4: <vcpu>: cpuset .1-0. is not a CPU list" <<<"$out"' "$out"
af_xml "$AF/resv.xml" resv 2 '' '    <vcpupin vcpu="0" cpuset="0"/>
    <vcpupin vcpu="1" cpuset="0-1,^1"/>' 'reservation="120%"'
out=$(afx define "$AF/resv.xml" 2>&1)
check affinity-refuses-reservation-over-pins '! afx info resv >/dev/null 2>&1 && grep -q "resv.xml:7: <vcpupin>: a reservation of 120% is more than the CPUs its vCPUs are pinned to (0) can give" <<<"$out"' "$out"

# Accepted: the pins are kept, and written back by dumpxml.
af_xml "$AF/pinned.xml" pinned 2 ' cpuset="0-1"' '    <vcpupin vcpu="0" cpuset="1"/>
    <vcpupin vcpu="1" cpuset="0-1,^1"/>
    <emulatorpin cpuset="1"/>'
out=$(afx define "$AF/pinned.xml" 2>&1)
dump=$(afx dumpxml pinned 2>&1)
check affinity-define-and-dumpxml 'grep -q "<vcpupin vcpu=\"1\" cpuset=\"0-1,^1\"/>" <<<"$dump" && grep -q "<emulatorpin cpuset=\"1\"/>" <<<"$dump" && grep -q "cpuset=\"0-1\"" <<<"$dump" && ! grep -qi warning <<<"$out"' "$out; $dump"

# Started: the threads' CPUs.
af_allowed() { # PID: "COMM=LIST" for every thread
    local t
    for t in /proc/"$1"/task/*; do
        printf '%s=%s\n' "$(cat "$t/comm")" "$(awk '/^Cpus_allowed_list/ { print $2 }' "$t/status")"
    done
}
if kvm_case affinity-threads-pinned; then
    if [ "$(nproc)" -lt 2 ] && ! taskset -c 1 true 2>/dev/null; then
        skip affinity-threads-pinned "needs host CPUs 0 and 1"
    else
        out=$(afx start pinned 2>&1)
        pid=$(afx --json info pinned 2>/dev/null | jq -r .pid)
        wait_until 10 sh -c "grep -q vcpu1 /proc/$pid/task/*/comm" 2>/dev/null
        threads=$(af_allowed "$pid" 2>/dev/null)
        # kvm-nx-lpage-recovery (comm "kvm-nx-lpage-re") is KVM's own worker in the process's
        # thread group, created by the kernel per VM: not a monitor thread, not pinned by it.
        others=$(grep -v -e '^vcpu' -e '^kvm-' <<<"$threads" | grep -vc '=1$')
        check affinity-threads-pinned 'grep -qx "vcpu0=1" <<<"$threads" && grep -qx "vcpu1=0" <<<"$threads" && [ "$others" = 0 ] && [ "$(grep -c . <<<"$threads")" -ge 3 ]' "start: $out; $(tail -3 "$AF"/state/run/*/vmm.log 2>/dev/null); pid $pid; threads: $(tr '\n' ' ' <<<"$threads")"
        afx destroy pinned >/dev/null 2>&1
    fi
fi
# Per-CPU admission (docs/scheduling.md, "Pinned domains"): 60% pinned to CPU 1 runs; 40% more
# pinned there is refused although the host as a whole has 120% free; 40% pinned to CPU 0 runs.
if kvm_case affinity-admission-per-cpu; then
    af_xml "$AF/p60.xml" p60 1 ' cpuset="1"' '' 'reservation="60%"'
    af_xml "$AF/p40.xml" p40 1 ' cpuset="1"' '' 'reservation="40%"'
    af_xml "$AF/q40.xml" q40 1 ' cpuset="0"' '' 'reservation="40%"'
    out=$(for f in p60 p40 q40; do afx define "$AF/$f.xml"; done 2>&1)
    s60=$(afx start p60 2>&1)
    s40=$(afx start p40 2>&1)
    r40=$?
    q40=$(afx start q40 2>&1)
    rq=$?
    check affinity-admission-per-cpu '[ "$(afx --json info p60 | jq -r .state)" = running ] && [ $r40 != 0 ] && grep -q "domain p40 asks for a reservation of 40%, 40% of it on CPU 1 where its vCPUs are pinned, but only 30% of CPU 1.s 90% (100% less 10% headroom) is free: running domains hold 60% there (p60 60%); give p40 at most 30% with these pins" <<<"$s40" && [ $rq = 0 ]' "$out; p60: $s60; p40: $s40; q40: $q40"
    for f in p60 q40; do afx destroy "$f" >/dev/null 2>&1; done
fi
kill "$AF_XPID" 2>/dev/null
wait "$AF_XPID" 2>/dev/null
