# Bad input never boots anything: a clear one-line error naming the problem, status 1.

bad() { # NAME PATTERN ARGS...
    local name=$1 pat=$2
    shift 2
    run_vmm "$name" "" "$@"
    expect "$name" 1 "$pat"
}

printf 'this is not a kernel\n' >"$TMP/notelf"
: >"$TMP/empty"
bad bad-missing-kernel "kernel '$TMP/none.elf': No such file" --kernel "$TMP/none.elf"
bad bad-directory-kernel "not a regular file" --kernel "$TMP"
bad bad-not-elf "not an ELF file" --kernel "$TMP/notelf"
bad bad-empty-kernel "not an ELF file" --kernel "$TMP/empty"
bad bad-device-kernel "not a regular file" --kernel /dev/null
bad bad-no-kernel "no kernel given" --memory 64M
bad bad-missing-initrd "initrd '$TMP/none.img': No such file" --kernel "$GUEST/hello.elf" --initrd "$TMP/none.img"
bad bad-memory-unit "unknown size unit" --kernel "$GUEST/hello.elf" --memory 64X
bad bad-memory-junk "is not a number" --kernel "$GUEST/hello.elf" --memory lots
bad bad-memory-small "at least 4 MiB" --kernel "$GUEST/hello.elf" --memory 1M
bad bad-memory-unaligned "multiple of 4 KiB" --kernel "$GUEST/hello.elf" --memory 5001K
bad bad-memory-host "more than this host" --kernel "$GUEST/hello.elf" --memory 64T
bad bad-memory-overflow "too large" --kernel "$GUEST/hello.elf" --memory 99999999999999999999
bad bad-vcpus-zero "out of range" --kernel "$GUEST/hello.elf" --vcpus 0
bad bad-vcpus-many "out of range" --kernel "$GUEST/hello.elf" --vcpus 33
bad bad-vcpus-text "not a number" --kernel "$GUEST/hello.elf" --vcpus two
bad bad-on-reboot "expected exit or restart" --kernel "$GUEST/hello.elf" --on-reboot maybe
bad bad-option "unknown" --kernel "$GUEST/hello.elf" --frobnicate
bad bad-extra-arg "unexpected argument" --kernel "$GUEST/hello.elf" extra

# Needs KVM: these are found while loading the image into a real VM's RAM.
kvm_case bad-no-pvh-note && bad bad-no-pvh-note "segment|PVH" --kernel "$VMM"
kvm_case bad-cmdline-long && bad bad-cmdline-long "command line is 5000 bytes" \
    --kernel "$GUEST/hello.elf" --cmdline "$(head -c 5000 /dev/zero | tr '\0' x)"

# A copy of hello.elf with its first loadable segment moved to 1 GiB: outside 64 MiB of RAM.
moved="$TMP/moved.elf"
cp "$GUEST/hello.elf" "$moved"
phoff=$(od -An -t u8 -j 32 -N 8 "$moved" | tr -d ' ')
i=0
while :; do
    type=$(od -An -t u4 -j $((phoff + i * 56)) -N 4 "$moved" | tr -d ' ')
    [ "$type" = 1 ] && break
    i=$((i + 1))
done
printf '\000\000\000\100\000\000\000\000' | dd of="$moved" bs=1 seek=$((phoff + i * 56 + 24)) conv=notrunc status=none
kvm_case bad-segment-outside-ram && bad bad-segment-outside-ram "outside guest RAM" --kernel "$moved" --memory 64M

# A big initrd that cannot fit beside the kernel in 4 MiB of RAM.
head -c $((8 << 20)) /dev/zero >"$TMP/big.img"
kvm_case bad-initrd-too-big && bad bad-initrd-too-big "does not fit" --kernel "$GUEST/hello.elf" --memory 4M \
    --initrd "$TMP/big.img"
