#include "proto/cpu_features.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/err.h"

const struct cpuf_word_id cpuf_word_ids[CPUF_WORDS] = {
    [CPUF_1_ECX] = {1, 0, CPUF_ECX, "1.ecx"},
    [CPUF_1_EDX] = {1, 0, CPUF_EDX, "1.edx"},
    [CPUF_7_EBX] = {7, 0, CPUF_EBX, "7.0.ebx"},
    [CPUF_7_ECX] = {7, 0, CPUF_ECX, "7.0.ecx"},
    [CPUF_7_EDX] = {7, 0, CPUF_EDX, "7.0.edx"},
    [CPUF_D0_EAX] = {0xd, 0, CPUF_EAX, "d.0.eax"},
    [CPUF_D1_EAX] = {0xd, 1, CPUF_EAX, "d.1.eax"},
    [CPUF_X1_ECX] = {0x80000001, 0, CPUF_ECX, "80000001.ecx"},
    [CPUF_X1_EDX] = {0x80000001, 0, CPUF_EDX, "80000001.edx"},
};

/* Names as Linux's /proc/cpuinfo spells them. Offered (1): what guests can use on our hosts
 * and a snapshot can carry. Hidden (0), the reasons: everything resting on XSAVE (this KVM
 * cannot execute xsave/xrstor; its state is not in our snapshots), CX16 (cmpxchg16b fails in
 * KVM's emulator), MONITOR/MWAIT, VMX/SVM (no nesting), PDCM and performance counters, PCID
 * and INVPCID (state not carried), TSX, MPX, PT, SGX, and ARCH_CAPABILITIES (its MSR differs
 * between hosts and breaks migration). The 0x80000001 EDX bits that mirror leaf 1 carry an
 * "e_" prefix. */
#define O 1
#define H 0
const struct cpuf_bit cpuf_bits[] = {
    {CPUF_1_ECX, 0, O, "pni"},
    {CPUF_1_ECX, 1, O, "pclmulqdq"},
    {CPUF_1_ECX, 2, H, "dtes64"},
    {CPUF_1_ECX, 3, H, "monitor"},
    {CPUF_1_ECX, 4, H, "ds_cpl"},
    {CPUF_1_ECX, 5, H, "vmx"},
    {CPUF_1_ECX, 6, H, "smx"},
    {CPUF_1_ECX, 7, H, "est"},
    {CPUF_1_ECX, 8, H, "tm2"},
    {CPUF_1_ECX, 9, O, "ssse3"},
    {CPUF_1_ECX, 10, H, "cid"},
    {CPUF_1_ECX, 11, H, "sdbg"},
    {CPUF_1_ECX, 12, H, "fma"},
    {CPUF_1_ECX, 13, H, "cx16"},
    {CPUF_1_ECX, 14, H, "xtpr"},
    {CPUF_1_ECX, 15, H, "pdcm"},
    {CPUF_1_ECX, 17, H, "pcid"},
    {CPUF_1_ECX, 18, H, "dca"},
    {CPUF_1_ECX, 19, O, "sse4_1"},
    {CPUF_1_ECX, 20, O, "sse4_2"},
    {CPUF_1_ECX, 21, O, "x2apic"},
    {CPUF_1_ECX, 22, O, "movbe"},
    {CPUF_1_ECX, 23, O, "popcnt"},
    {CPUF_1_ECX, 24, O, "tsc_deadline_timer"},
    {CPUF_1_ECX, 25, O, "aes"},
    {CPUF_1_ECX, 26, H, "xsave"},
    {CPUF_1_ECX, 27, H, "osxsave"},
    {CPUF_1_ECX, 28, H, "avx"},
    {CPUF_1_ECX, 29, H, "f16c"},
    {CPUF_1_ECX, 30, O, "rdrand"},
    {CPUF_1_ECX, 31, O, "hypervisor"},
    {CPUF_1_EDX, 0, O, "fpu"},
    {CPUF_1_EDX, 1, O, "vme"},
    {CPUF_1_EDX, 2, O, "de"},
    {CPUF_1_EDX, 3, O, "pse"},
    {CPUF_1_EDX, 4, O, "tsc"},
    {CPUF_1_EDX, 5, O, "msr"},
    {CPUF_1_EDX, 6, O, "pae"},
    {CPUF_1_EDX, 7, O, "mce"},
    {CPUF_1_EDX, 8, O, "cx8"},
    {CPUF_1_EDX, 9, O, "apic"},
    {CPUF_1_EDX, 11, O, "sep"},
    {CPUF_1_EDX, 12, O, "mtrr"},
    {CPUF_1_EDX, 13, O, "pge"},
    {CPUF_1_EDX, 14, O, "mca"},
    {CPUF_1_EDX, 15, O, "cmov"},
    {CPUF_1_EDX, 16, O, "pat"},
    {CPUF_1_EDX, 17, O, "pse36"},
    {CPUF_1_EDX, 18, H, "pn"},
    {CPUF_1_EDX, 19, O, "clflush"},
    {CPUF_1_EDX, 21, H, "dts"},
    {CPUF_1_EDX, 22, H, "acpi"},
    {CPUF_1_EDX, 23, O, "mmx"},
    {CPUF_1_EDX, 24, O, "fxsr"},
    {CPUF_1_EDX, 25, O, "sse"},
    {CPUF_1_EDX, 26, O, "sse2"},
    {CPUF_1_EDX, 27, H, "ss"},
    {CPUF_1_EDX, 28, O, "ht"},
    {CPUF_1_EDX, 29, H, "tm"},
    {CPUF_1_EDX, 31, H, "pbe"},
    {CPUF_7_EBX, 0, O, "fsgsbase"},
    {CPUF_7_EBX, 1, H, "tsc_adjust"},
    {CPUF_7_EBX, 2, H, "sgx"},
    {CPUF_7_EBX, 3, O, "bmi1"},
    {CPUF_7_EBX, 4, H, "hle"},
    {CPUF_7_EBX, 5, H, "avx2"},
    {CPUF_7_EBX, 7, O, "smep"},
    {CPUF_7_EBX, 8, O, "bmi2"},
    {CPUF_7_EBX, 9, O, "erms"},
    {CPUF_7_EBX, 10, H, "invpcid"},
    {CPUF_7_EBX, 11, H, "rtm"},
    {CPUF_7_EBX, 12, H, "cqm"},
    {CPUF_7_EBX, 14, H, "mpx"},
    {CPUF_7_EBX, 15, H, "rdt_a"},
    {CPUF_7_EBX, 16, H, "avx512f"},
    {CPUF_7_EBX, 17, H, "avx512dq"},
    {CPUF_7_EBX, 18, O, "rdseed"},
    {CPUF_7_EBX, 19, O, "adx"},
    {CPUF_7_EBX, 20, O, "smap"},
    {CPUF_7_EBX, 21, H, "avx512ifma"},
    {CPUF_7_EBX, 23, O, "clflushopt"},
    {CPUF_7_EBX, 24, O, "clwb"},
    {CPUF_7_EBX, 25, H, "intel_pt"},
    {CPUF_7_EBX, 26, H, "avx512pf"},
    {CPUF_7_EBX, 27, H, "avx512er"},
    {CPUF_7_EBX, 28, H, "avx512cd"},
    {CPUF_7_EBX, 29, O, "sha_ni"},
    {CPUF_7_EBX, 30, H, "avx512bw"},
    {CPUF_7_EBX, 31, H, "avx512vl"},
    {CPUF_7_ECX, 1, H, "avx512vbmi"},
    {CPUF_7_ECX, 2, O, "umip"},
    {CPUF_7_ECX, 3, H, "pku"},
    {CPUF_7_ECX, 4, H, "ospke"},
    {CPUF_7_ECX, 5, H, "waitpkg"},
    {CPUF_7_ECX, 6, H, "avx512_vbmi2"},
    {CPUF_7_ECX, 7, H, "shstk"},
    {CPUF_7_ECX, 8, H, "gfni"},
    {CPUF_7_ECX, 9, H, "vaes"},
    {CPUF_7_ECX, 10, H, "vpclmulqdq"},
    {CPUF_7_ECX, 11, H, "avx512_vnni"},
    {CPUF_7_ECX, 12, H, "avx512_bitalg"},
    {CPUF_7_ECX, 14, H, "avx512_vpopcntdq"},
    {CPUF_7_ECX, 16, H, "la57"},
    {CPUF_7_ECX, 22, O, "rdpid"},
    {CPUF_7_ECX, 25, H, "cldemote"},
    {CPUF_7_ECX, 27, H, "movdiri"},
    {CPUF_7_ECX, 28, H, "movdir64b"},
    {CPUF_7_EDX, 2, H, "avx512_4vnniw"},
    {CPUF_7_EDX, 3, H, "avx512_4fmaps"},
    {CPUF_7_EDX, 4, O, "fsrm"},
    {CPUF_7_EDX, 8, H, "avx512_vp2intersect"},
    {CPUF_7_EDX, 10, O, "md_clear"},
    {CPUF_7_EDX, 14, H, "serialize"},
    {CPUF_7_EDX, 22, H, "amx_bf16"},
    {CPUF_7_EDX, 23, H, "avx512_fp16"},
    {CPUF_7_EDX, 24, H, "amx_tile"},
    {CPUF_7_EDX, 25, H, "amx_int8"},
    {CPUF_7_EDX, 26, O, "spec_ctrl"},
    {CPUF_7_EDX, 27, O, "intel_stibp"},
    {CPUF_7_EDX, 28, H, "flush_l1d"},
    {CPUF_7_EDX, 29, H, "arch_capabilities"},
    {CPUF_7_EDX, 31, O, "ssbd"},
    {CPUF_D0_EAX, 0, H, "xcr0_x87"},
    {CPUF_D0_EAX, 1, H, "xcr0_sse"},
    {CPUF_D0_EAX, 2, H, "xcr0_avx"},
    {CPUF_D0_EAX, 3, H, "xcr0_bndregs"},
    {CPUF_D0_EAX, 4, H, "xcr0_bndcsr"},
    {CPUF_D0_EAX, 5, H, "xcr0_opmask"},
    {CPUF_D0_EAX, 6, H, "xcr0_zmm_hi256"},
    {CPUF_D0_EAX, 7, H, "xcr0_hi16_zmm"},
    {CPUF_D0_EAX, 9, H, "xcr0_pkru"},
    {CPUF_D0_EAX, 17, H, "xcr0_xtilecfg"},
    {CPUF_D0_EAX, 18, H, "xcr0_xtiledata"},
    {CPUF_D1_EAX, 0, H, "xsaveopt"},
    {CPUF_D1_EAX, 1, H, "xsavec"},
    {CPUF_D1_EAX, 2, H, "xgetbv1"},
    {CPUF_D1_EAX, 3, H, "xsaves"},
    {CPUF_X1_ECX, 0, O, "lahf_lm"},
    {CPUF_X1_ECX, 1, H, "cmp_legacy"},
    {CPUF_X1_ECX, 2, H, "svm"},
    {CPUF_X1_ECX, 3, H, "extapic"},
    {CPUF_X1_ECX, 4, H, "cr8_legacy"},
    {CPUF_X1_ECX, 5, O, "abm"},
    {CPUF_X1_ECX, 6, O, "sse4a"},
    {CPUF_X1_ECX, 7, O, "misalignsse"},
    {CPUF_X1_ECX, 8, O, "3dnowprefetch"},
    {CPUF_X1_ECX, 9, H, "osvw"},
    {CPUF_X1_ECX, 10, H, "ibs"},
    {CPUF_X1_ECX, 11, H, "xop"},
    {CPUF_X1_ECX, 12, H, "skinit"},
    {CPUF_X1_ECX, 13, H, "wdt"},
    {CPUF_X1_ECX, 15, H, "lwp"},
    {CPUF_X1_ECX, 16, H, "fma4"},
    {CPUF_X1_ECX, 17, H, "tce"},
    {CPUF_X1_ECX, 21, H, "tbm"},
    {CPUF_X1_ECX, 22, H, "topoext"},
    {CPUF_X1_ECX, 23, H, "perfctr_core"},
    {CPUF_X1_ECX, 24, H, "perfctr_nb"},
    {CPUF_X1_ECX, 29, H, "mwaitx"},
    {CPUF_X1_EDX, 0, O, "e_fpu"},
    {CPUF_X1_EDX, 1, O, "e_vme"},
    {CPUF_X1_EDX, 2, O, "e_de"},
    {CPUF_X1_EDX, 3, O, "e_pse"},
    {CPUF_X1_EDX, 4, O, "e_tsc"},
    {CPUF_X1_EDX, 5, O, "e_msr"},
    {CPUF_X1_EDX, 6, O, "e_pae"},
    {CPUF_X1_EDX, 7, O, "e_mce"},
    {CPUF_X1_EDX, 8, O, "e_cx8"},
    {CPUF_X1_EDX, 9, O, "e_apic"},
    {CPUF_X1_EDX, 11, O, "syscall"},
    {CPUF_X1_EDX, 12, O, "e_mtrr"},
    {CPUF_X1_EDX, 13, O, "e_pge"},
    {CPUF_X1_EDX, 14, O, "e_mca"},
    {CPUF_X1_EDX, 15, O, "e_cmov"},
    {CPUF_X1_EDX, 16, O, "e_pat"},
    {CPUF_X1_EDX, 17, O, "e_pse36"},
    {CPUF_X1_EDX, 20, O, "nx"},
    {CPUF_X1_EDX, 22, O, "mmxext"},
    {CPUF_X1_EDX, 23, H, "e_mmx"},
    {CPUF_X1_EDX, 24, H, "e_fxsr"},
    {CPUF_X1_EDX, 25, O, "fxsr_opt"},
    {CPUF_X1_EDX, 26, O, "pdpe1gb"},
    {CPUF_X1_EDX, 27, O, "rdtscp"},
    {CPUF_X1_EDX, 29, O, "lm"},
    {CPUF_X1_EDX, 30, H, "3dnowext"},
    {CPUF_X1_EDX, 31, H, "3dnow"},
};
#undef O
#undef H
const size_t cpuf_nbits = sizeof(cpuf_bits) / sizeof(cpuf_bits[0]);

void cpuf_policy(struct cpu_features *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < cpuf_nbits; i++)
        if (cpuf_bits[i].offered)
            out->w[cpuf_bits[i].word] |= 1U << cpuf_bits[i].bit;
}

void cpuf_volatile(struct cpu_features *out)
{
    memset(out, 0, sizeof(*out));
    out->w[CPUF_1_ECX] = 1U << 27; /* osxsave */
    out->w[CPUF_1_EDX] = 1U << 28; /* ht */
    out->w[CPUF_7_ECX] = 1U << 4;  /* ospke */
}

unsigned cpuf_missing(const struct cpu_features *want, const struct cpu_features *have, struct cpu_features *missing)
{
    struct cpu_features vol;
    unsigned n = 0;
    cpuf_volatile(&vol);
    for (unsigned i = 0; i < CPUF_WORDS; i++) {
        missing->w[i] = want->w[i] & ~have->w[i] & ~vol.w[i];
        n += (unsigned)__builtin_popcount(missing->w[i]);
    }
    return n;
}

static const char *bit_name(unsigned word, unsigned bit)
{
    for (size_t i = 0; i < cpuf_nbits; i++)
        if (cpuf_bits[i].word == word && cpuf_bits[i].bit == bit)
            return cpuf_bits[i].name;
    return NULL;
}

size_t cpuf_format(const struct cpu_features *f, char *buf, size_t size)
{
    size_t n = 0;
    if (size)
        buf[0] = 0;
    for (unsigned w = 0; w < CPUF_WORDS; w++)
        for (unsigned b = 0; b < 32; b++) {
            if (!(f->w[w] & (1U << b)))
                continue;
            const char *name = bit_name(w, b);
            char tmp[48];
            if (!name) {
                snprintf(tmp, sizeof(tmp), "%s.%u", cpuf_word_ids[w].name, b);
                name = tmp;
            }
            int k = snprintf(buf + (n < size ? n : size), n < size ? size - n : 0, "%s%s", n ? "," : "", name);
            n += (size_t)k;
        }
    return n;
}

static int parse_one(const char *item, struct cpu_features *out)
{
    for (size_t i = 0; i < cpuf_nbits; i++)
        if (!strcmp(item, cpuf_bits[i].name)) {
            out->w[cpuf_bits[i].word] |= 1U << cpuf_bits[i].bit;
            return 0;
        }
    for (unsigned w = 0; w < CPUF_WORDS; w++) {
        size_t len = strlen(cpuf_word_ids[w].name);
        if (!strncmp(item, cpuf_word_ids[w].name, len) && item[len] == '.' && item[len + 1]) {
            char *end;
            unsigned long b = strtoul(item + len + 1, &end, 10);
            if (*end || b > 31)
                break;
            out->w[w] |= 1U << b;
            return 0;
        }
    }
    return err_set(EINVAL, "unknown CPU feature '%s' (see xeno-vmm --cpu-report)", item);
}

int cpuf_parse(const char *list, struct cpu_features *out)
{
    char item[64];
    memset(out, 0, sizeof(*out));
    while (*list) {
        size_t len = strcspn(list, ",");
        if (len == 0 || len >= sizeof(item))
            return err_set(EINVAL, "bad CPU feature list entry '%.*s'", (int)(len < 40 ? len : 40), list);
        memcpy(item, list, len);
        item[len] = 0;
        int r = parse_one(item, out);
        if (r < 0)
            return r;
        list += len;
        if (*list == ',')
            list++;
    }
    return 0;
}

void cpuf_to_wire(const struct cpu_features *f, struct snap_cpu_features *out)
{
    memset(out, 0, sizeof(*out));
    out->version = SNAP_CPUF_VERSION;
    out->nwords = CPUF_WORDS;
    for (unsigned i = 0; i < CPUF_WORDS; i++) {
        out->w[i].leaf = cpuf_word_ids[i].leaf;
        out->w[i].subleaf = cpuf_word_ids[i].subleaf;
        out->w[i].reg = cpuf_word_ids[i].reg;
        out->w[i].bits = f->w[i];
    }
}

int cpuf_from_wire(const struct snap_cpu_features *in, struct cpu_features *f, unsigned *unknown)
{
    memset(f, 0, sizeof(*f));
    *unknown = 0;
    if (in->version != SNAP_CPUF_VERSION)
        return err_set(EINVAL, "CPU feature record version %u (this monitor reads %u)", in->version, SNAP_CPUF_VERSION);
    if (in->nwords < 1 || in->nwords > SNAP_CPUF_MAX)
        return err_set(EINVAL, "CPU feature record with %u registers (1 to %d)", in->nwords, SNAP_CPUF_MAX);
    for (unsigned i = 0; i < SNAP_CPUF_MAX; i++) {
        if (i >= in->nwords) {
            if (in->w[i].leaf || in->w[i].subleaf || in->w[i].reg || in->w[i].bits)
                return err_set(EINVAL, "CPU feature record: entry %u beyond the count is not zero", i);
            continue;
        }
        if (in->w[i].reg > CPUF_EDX)
            return err_set(EINVAL, "CPU feature record: entry %u names register %u", i, in->w[i].reg);
        for (unsigned j = 0; j < i; j++)
            if (in->w[j].leaf == in->w[i].leaf && in->w[j].subleaf == in->w[i].subleaf && in->w[j].reg == in->w[i].reg)
                return err_set(EINVAL, "CPU feature record: register %#x.%u.%u given twice", in->w[i].leaf,
                               in->w[i].subleaf, in->w[i].reg);
        unsigned k;
        for (k = 0; k < CPUF_WORDS; k++)
            if (cpuf_word_ids[k].leaf == in->w[i].leaf && cpuf_word_ids[k].subleaf == in->w[i].subleaf &&
                cpuf_word_ids[k].reg == in->w[i].reg)
                break;
        if (k < CPUF_WORDS)
            f->w[k] = in->w[i].bits;
        else
            *unknown += (unsigned)__builtin_popcount(in->w[i].bits);
    }
    return 0;
}
