/* The guest-visible CPU features of the machine contract (docs/machine.md, "CPUID"): the
 * CPUID registers that hold feature bits, a name for each bit we know, and which bits the
 * policy offers. This table is the policy: the monitor's CPUID filter (vmm/core/cpuid.c)
 * derives its masks from it, the start-up probe reports against it, `xeno-vmm --cpu-report`
 * prints it and the docs' table is checked against that print (tests/integration/cpuid.sh).
 *
 * A feature set (struct cpu_features) is one 32-bit word per register below. Snapshots and
 * migrations carry the set the guest could see (struct snap_cpu_features, self-describing by
 * leaf/subleaf/register, so a later version may add registers). Pure data and functions: any
 * thread. */
#ifndef XENO_PROTO_CPU_FEATURES_H
#define XENO_PROTO_CPU_FEATURES_H

#include <stddef.h>
#include <stdint.h>

enum cpuf_reg { CPUF_EAX, CPUF_EBX, CPUF_ECX, CPUF_EDX };

/* The feature registers, in this order (index = word). */
enum cpuf_word {
    CPUF_1_ECX,
    CPUF_1_EDX,
    CPUF_7_EBX,
    CPUF_7_ECX,
    CPUF_7_EDX,
    CPUF_D0_EAX, /* XCR0 bits the guest may enable (x87, SSE, AVX state...) */
    CPUF_D1_EAX, /* XSAVEOPT, XSAVEC, XGETBV1, XSAVES */
    CPUF_X1_ECX, /* 0x80000001 */
    CPUF_X1_EDX,
    CPUF_WORDS
};

struct cpuf_word_id {
    uint32_t leaf, subleaf;
    uint32_t reg;     /* enum cpuf_reg */
    const char *name; /* "1.ecx", "7.0.ebx", ... */
};
extern const struct cpuf_word_id cpuf_word_ids[CPUF_WORDS];

struct cpu_features {
    uint32_t w[CPUF_WORDS];
};

/* One named bit. offered: the policy lets the guest see it (when KVM supports it). */
struct cpuf_bit {
    uint8_t word, bit, offered;
    const char *name;
};
extern const struct cpuf_bit cpuf_bits[];
extern const size_t cpuf_nbits;

/* The bits the policy offers. */
void cpuf_policy(struct cpu_features *out);
/* Bits that describe the guest's own state or topology rather than a feature: OSXSAVE and
 * OSPKE (follow the guest's CR4), HTT (set with more than one vCPU). Compares ignore them. */
void cpuf_volatile(struct cpu_features *out);

/* Bits of `want` that `have` lacks, volatile bits left out. Returns how many. */
unsigned cpuf_missing(const struct cpu_features *want, const struct cpu_features *have, struct cpu_features *missing);
/* The names of the bits set in f, comma-separated ("avx2,xsave,7.0.ebx.22" for a bit without a
 * name), "" for none; truncated to size (always terminated). Returns the full length. */
size_t cpuf_format(const struct cpu_features *f, char *buf, size_t size);
/* A comma-separated list of names (as cpuf_format writes, names or WORD.BIT) into a set.
 * 0, or -EINVAL with err_set() naming the unknown entry. */
int cpuf_parse(const char *list, struct cpu_features *out);

/* On the wire and on disk (little-endian): the guest-visible set, each register named by
 * leaf, subleaf and register so that a reader matches registers it knows and keeps the
 * others. Snapshot section SNAP_SEC_CPU_FEATURES, and the tail of the migration's config. */
#define SNAP_CPUF_VERSION 1
#define SNAP_CPUF_MAX 16
struct snap_cpu_features {
    uint32_t version; /* SNAP_CPUF_VERSION */
    uint32_t nwords;  /* 1..SNAP_CPUF_MAX; entries beyond are zero */
    struct {
        uint32_t leaf, subleaf, reg, bits;
    } w[SNAP_CPUF_MAX];
};

void cpuf_to_wire(const struct cpu_features *f, struct snap_cpu_features *out);
/* Checks a record read from outside (version, count, registers named at most once, reg < 4).
 * Fills *f with the registers we know; *unknown gets how many set bits are in registers we
 * do not know (a newer writer's: the caller cannot promise those). 0, or -EINVAL with err_set(). */
int cpuf_from_wire(const struct snap_cpu_features *in, struct cpu_features *f, unsigned *unknown);

#endif
