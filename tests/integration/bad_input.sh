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
kvm_case bad-cmdline-long && bad bad-cmdline-long "command line is 5000 bytes" \
    --kernel "$GUEST/hello.elf" --cmdline "$(head -c 5000 /dev/zero | tr '\0' x)"

# Offset in FILE of the first program header of TYPE (ELF64), found with od alone.
phdr_of_type() {
    local file=$1 want=$2 phoff phnum i
    phoff=$(od -An -t u8 -j 32 -N 8 "$file" | tr -d ' ')
    phnum=$(od -An -t u2 -j 56 -N 2 "$file" | tr -d ' ')
    for i in $(seq 0 $((phnum - 1))); do
        if [ "$(od -An -t u4 -j $((phoff + i * 56)) -N 4 "$file" | tr -d ' ')" = "$want" ]; then
            echo $((phoff + i * 56))
            return
        fi
    done
}
poke_u64() { # FILE OFFSET VALUE
    printf "$(printf '%016x' "$3" | sed -E 's/(..)(..)(..)(..)(..)(..)(..)(..)/\\x\8\\x\7\\x\6\\x\5\\x\4\\x\3\\x\2\\x\1/')" |
        dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# hello.elf with its first loadable segment moved to 1 GiB: outside 64 MiB of RAM.
cp "$GUEST/hello.elf" "$TMP/moved.elf"
poke_u64 "$TMP/moved.elf" $(($(phdr_of_type "$TMP/moved.elf" 1) + 24)) $((1 << 30))
kvm_case bad-segment-outside-ram && bad bad-segment-outside-ram "segment 0 .*outside guest RAM" \
    --kernel "$TMP/moved.elf" --memory 64M

# hello.elf whose Xen note no longer says PHYS32_ENTRY (type 18 becomes 19).
cp "$GUEST/hello.elf" "$TMP/nonote.elf"
note=$(od -An -t u8 -j $(($(phdr_of_type "$TMP/nonote.elf" 4) + 8)) -N 8 "$TMP/nonote.elf" | tr -d ' ')
printf '\023' | dd of="$TMP/nonote.elf" bs=1 seek=$((note + 8)) conv=notrunc status=none
kvm_case bad-no-pvh-note && bad bad-no-pvh-note "no PVH entry point" --kernel "$TMP/nonote.elf"

# A host program is an ELF too, but linked to run at address 0.
kvm_case bad-host-elf && bad bad-host-elf "overlaps the boot area" --kernel "$VMM"

# A big initrd that cannot fit beside the kernel in 4 MiB of RAM.
head -c $((8 << 20)) /dev/zero >"$TMP/big.img"
kvm_case bad-initrd-too-big && bad bad-initrd-too-big "does not fit" --kernel "$GUEST/hello.elf" --memory 4M \
    --initrd "$TMP/big.img"
