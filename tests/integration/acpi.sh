# ACPI tables (src/vmm/boot/acpi.c, docs/machine.md). For 1, 2 and 4 vCPUs:
#   - `xeno-vmm --dump-acpi DIR` writes the tables the configuration gets and lists its
#     devices; every table but the RSDP goes through `iasl -d` without complaint, and the
#     disassembly compiles back (`iasl -oa`, no optimisation) to the very same bytes;
#   - the disassembled MADT has one enabled local APIC per vCPU, IDs 0..N-1, and the IOAPIC;
#   - the disassembled FADT is hardware-reduced with its sleep registers at ports 0x600/0x601;
#   - the disassembled DSDT lists exactly the devices the monitor reported: LNRO0005, their
#     Memory32Fixed base and length and their Interrupt;
#   - the RSDP (which iasl does not read) has its signature, revision 2, both checksums;
#   - the acpi kernel boots, finds the same tables and devices and powers off through them.
# The device count is whatever the monitor reports: it grows as devices are added.

have_iasl() { command -v iasl >/dev/null 2>&1; }

# Sum of the first N bytes of FILE, mod 256.
bytes_sum() {
    od -An -v -t u1 -N "$2" "$1" | tr -s ' ' '\n' | awk 'NF { s += $1 } END { print s % 256 }'
}

# The "Name : value" field of an iasl data-table disassembly (first match after a line
# matching AFTER, if given), e.g. field facp.dsl "Address" "Sleep Control Register".
field() {
    awk -v name="$2" -v after="${3:-}" '
        after != "" && !seen && index($0, after) { seen = 1; next }
        (after == "" || seen) && $0 ~ "\\] +" name " : " { sub(/.* : /, ""); print; exit }' "$1"
}

# iasl -d on DIR/T.dat, then the .dsl compiled back must give the same bytes after the
# 36-byte header (whose compiler ID and checksum iasl rewrites). Prints what went wrong.
iasl_round_trip() {
    local dir=$1 t=$2 out
    out=$(cd "$dir" && iasl -d "$t.dat" 2>&1) || { echo "iasl -d $t.dat failed: $out"; return 1; }
    if grep -Eiq '(^|[^0-9] )(error|warning)' <<<"$out"; then
        echo "iasl -d $t.dat: $(grep -Ei 'error|warning' <<<"$out" | head -3 | tr '\n' '|')"
        return 1
    fi
    out=$(cd "$dir" && iasl -oa -p "re_$t" "$t.dsl" 2>&1) || { echo "iasl $t.dsl failed: $out"; return 1; }
    if ! grep -q 'Compilation successful. 0 Errors, 0 Warnings' <<<"$out"; then
        echo "iasl $t.dsl: $(grep -Ei 'error|warning' <<<"$out" | head -3 | tr '\n' '|')"
        return 1
    fi
    if ! cmp -s <(tail -c +37 "$dir/$t.dat") <(tail -c +37 "$dir/re_$t.aml"); then
        echo "$t.dsl compiles back to different bytes"
        return 1
    fi
}

# The DSDT's Device blocks as "NAME HID BASE LENGTH IRQ" lines, from iasl's ASL.
dsdt_devices() {
    awk '
        /Device \(/ { if (name != "") print name, hid, base, len, irq; match($0, /Device \([A-Z0-9_]+/);
                      name = substr($0, RSTART + 8, RLENGTH - 8); hid = base = len = irq = "-"; inirq = 0 }
        /Name \(_HID, "/ { split($0, q, "\""); hid = q[2] }
        /\/\/ Address Base/ { gsub(/[ ,]|\/\/.*/, ""); base = tolower($0) }
        /\/\/ Address Length/ { gsub(/[ ,]|\/\/.*/, ""); len = tolower($0) }
        /Interrupt \(/ { inirq = 1 }
        inirq && /^ *0x[0-9A-Fa-f]+,?$/ { gsub(/[ ,]/, ""); irq = tolower($0); inirq = 0 }
        END { if (name != "") print name, hid, base, len, irq }' "$1"
}

# The monitor's device lines ("acpi: device VR00 NAME base=0x.. size=0x.. gsi=N") in the
# same form, numbers as iasl prints them.
reported_devices() {
    sed -nE 's/^acpi: device ([A-Z0-9]+) [^ ]+ base=0x([0-9a-f]+) size=0x([0-9a-f]+) gsi=([0-9]+)$/\1 \2 \3 \4/p' "$1" |
        while read -r name base size gsi; do
            printf '%s LNRO0005 0x%08x 0x%08x 0x%08x\n' "$name" "$((16#$base))" "$((16#$size))" "$gsi"
        done
}

for n in 1 2 4; do
    dir="$TMP/acpi-$n"
    mkdir -p "$dir"

    kvm_case "acpi-dump-$n" || continue
    run_vmm "acpi-dump-$n" "" --dump-acpi "$dir" --vcpus "$n"
    expect "acpi-dump-$n" 0 "^acpi: $n vCPUs, [0-9]+ devices; tables in "
    ndev=$(sed -nE 's/^acpi: [0-9]+ vCPUs, ([0-9]+) devices;.*/\1/p' "$TMP/acpi-dump-$n.out")
    ndev=${ndev:-0}

    # The RSDP by hand: signature, revision, both checksums, an XSDT in the tables' area.
    why=""
    [ "$(head -c 8 "$dir/rsdp.dat" 2>/dev/null)" = "RSD PTR " ] || why="no RSDP signature"
    [ -z "$why" ] && [ "$(od -An -t u1 -j 15 -N 1 "$dir/rsdp.dat" | tr -d ' ')" = 2 ] || why=${why:-"revision is not 2"}
    [ -z "$why" ] && [ "$(bytes_sum "$dir/rsdp.dat" 20)" = 0 ] || why=${why:-"the 20-byte checksum fails"}
    [ -z "$why" ] && [ "$(bytes_sum "$dir/rsdp.dat" 36)" = 0 ] || why=${why:-"the extended checksum fails"}
    xsdt=$(od -An -t u8 -j 24 -N 8 "$dir/rsdp.dat" 2>/dev/null | tr -d ' ')
    [ -z "$why" ] && [ "${xsdt:-0}" -ge $((0xe0000)) ] && [ "${xsdt:-0}" -lt $((0xf0000)) ] ||
        why=${why:-"XSDT address ${xsdt:-?} outside 0xe0000-0xeffff"}
    if [ -z "$why" ]; then pass "acpi-rsdp-$n"; else fail "acpi-rsdp-$n" "$why"; fi

    if ! have_iasl; then
        fail "acpi-iasl-$n" "iasl not installed (Debian package acpica-tools; make check installs it via scripts/install-deps.sh)"
    else
        why=""
        for t in xsdt facp apic dsdt; do
            why=$(iasl_round_trip "$dir" "$t") || break
            why=""
        done
        if [ -z "$why" ]; then pass "acpi-iasl-$n"; else fail "acpi-iasl-$n" "$why"; fi

        # MADT: N enabled local APICs with IDs 0..N-1, one IOAPIC at 0xfec00000.
        ids=$(awk '/Local Apic ID :/ { print $NF }' "$dir/apic.dsl" | tr '\n' ' ')
        want=$(for i in $(seq 0 $((n - 1))); do printf '%02X ' "$i"; done)
        enabled=$(grep -c 'Processor Enabled : 1' "$dir/apic.dsl")
        ioapic=$(field "$dir/apic.dsl" "Address" "[I/O APIC]")
        if [ "$ids" = "$want" ] && [ "$enabled" = "$n" ] && [ "$ioapic" = FEC00000 ]; then
            pass "acpi-madt-$n"
        else
            fail "acpi-madt-$n" "APIC IDs '$ids' (want '$want'), $enabled enabled, IOAPIC at '$ioapic'"
        fi

        # FADT: hardware-reduced, sleep control/status registers at I/O ports 0x600/0x601.
        hw=$(grep -c 'Hardware Reduced (V5) : 1' "$dir/facp.dsl")
        ctl=$(field "$dir/facp.dsl" "Address" "Sleep Control Register")
        ctl_space=$(field "$dir/facp.dsl" "Space ID" "Sleep Control Register")
        sts=$(field "$dir/facp.dsl" "Address" "Sleep Status Register")
        if [ "$hw" = 1 ] && [ "$ctl" = 0000000000000600 ] && [ "$sts" = 0000000000000601 ] &&
            [ "${ctl_space%% *}" = 01 ]; then
            pass "acpi-fadt-$n"
        else
            fail "acpi-fadt-$n" "hw-reduced $hw, sleep control '$ctl' (space '$ctl_space'), status '$sts'"
        fi

        # DSDT: exactly the reported devices, in order, with their resources; and _S5.
        got=$(dsdt_devices "$dir/dsdt.dsl")
        want=$(reported_devices "$TMP/acpi-dump-$n.out")
        if [ "$got" != "$want" ]; then
            fail "acpi-dsdt-$n" "DSDT devices '$(tr '\n' '|' <<<"$got")', monitor reported '$(tr '\n' '|' <<<"$want")'"
        elif [ "$(grep -c . <<<"$want")" != "$ndev" ] && [ "$ndev" != 0 ]; then
            fail "acpi-dsdt-$n" "$ndev devices announced, $(grep -c . <<<"$want") listed"
        elif ! grep -q 'Name (_S5, Package' "$dir/dsdt.dsl"; then
            fail "acpi-dsdt-$n" "no _S5 package"
        else
            pass "acpi-dsdt-$n"
        fi
    fi

    # The guest's view: the same LAPIC count and the same devices, then a clean power-off.
    kvm_case "acpi-boot-$n" || continue
    run_vmm "acpi-boot-$n" "" --kernel "$GUEST/acpi.elf" --memory 64M --vcpus "$n"
    pats=("^Test result: PASS" "^acpi: $n LAPICs, $n vCPUs" "^acpi: $ndev virtio-mmio devices in the DSDT"
        "guest powered off")
    while read -r name base size gsi; do
        [ -n "$name" ] && pats+=("^acpi: device $name base=0x$base size=0x$size gsi=$gsi uid=")
    done < <(sed -nE 's/^acpi: device ([A-Z0-9]+) [^ ]+ base=0x([0-9a-f]+) size=0x([0-9a-f]+) gsi=([0-9]+)$/\1 \2 \3 \4/p' \
        "$TMP/acpi-dump-$n.out")
    expect "acpi-boot-$n" 0 "${pats[@]}"
done

# --dump-acpi into a directory that is not there: bad input, the path named.
kvm_case acpi-dump-bad-dir && {
    run_vmm acpi-dump-bad-dir "" --dump-acpi "$TMP/no/such/dir"
    expect acpi-dump-bad-dir 1 "$TMP/no/such/dir/rsdp.dat"
}
