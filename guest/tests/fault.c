/*
 * fault: takes exceptions on purpose and recovers from them through an expectation hook.
 *   1. a read from an unmapped address -> #PF; the hook checks the vector, the faulting
 *      rip, the error code (not-present, read, supervisor) and cr2, then resumes after the
 *      faulting instruction;
 *   2. ud2 -> #UD, same idea.
 * PASS when both faults arrive exactly once with the expected state and execution resumes.
 */
#include "runtime.h"

const char test_title[] = "fault: expected #PF and #UD, reported and recovered";

/* PML4 slot 128 (256 TiB): canonical, never mapped (the identity map uses slot 0 only). */
#define UNMAPPED_ADDR 0x0000400000000000ULL

#define PF_ERR_P    0x01
#define PF_ERR_W    0x02
#define PF_ERR_U    0x04
#define PF_ERR_RSVD 0x08
#define PF_ERR_I    0x10

/* Labels around the faulting instructions, defined in the asm below. */
extern const char pf_insn[], pf_resume[], ud_insn[], ud_resume[];

static volatile unsigned expect_vector = ~0u;
static volatile unsigned hits;
static volatile bool state_ok;

static bool hook(struct cpu_regs *regs)
{
    uintptr_t want_rip, resume;
    bool ok;

    if (regs->vector != expect_vector)
        return false; /* not the one we provoked: let the runtime fail the test */
    hits++;
    if (regs->vector == 14) {
        want_rip = (uintptr_t)pf_insn;
        resume = (uintptr_t)pf_resume;
        ok = read_cr2() == UNMAPPED_ADDR &&
             (regs->error_code & (PF_ERR_P | PF_ERR_W | PF_ERR_U | PF_ERR_RSVD | PF_ERR_I)) == 0;
    } else {
        want_rip = (uintptr_t)ud_insn;
        resume = (uintptr_t)ud_resume;
        ok = true;
    }
    ok = ok && regs->rip == want_rip;
    if (!ok)
        printf("fault: unexpected state: rip=%#lx (want %#lx) err=%#lx cr2=%#lx\n", regs->rip,
               want_rip, regs->error_code, read_cr2());
    state_ok = ok;
    regs->rip = resume; /* skip the faulting instruction */
    return true;
}

/* noinline: the global labels inside must be emitted exactly once. */
static __attribute__((noinline)) uint64_t read_unmapped(void)
{
    uint64_t v = 0x1234;

    __asm__ volatile(".global pf_insn, pf_resume\n"
                     "pf_insn: movq (%1), %0\n"
                     "pf_resume:\n"
                     : "+r"(v)
                     : "r"(UNMAPPED_ADDR)
                     : "memory");
    return v;
}

static __attribute__((noinline)) void undefined_opcode(void)
{
    __asm__ volatile(".global ud_insn, ud_resume\n"
                     "ud_insn: ud2\n"
                     "ud_resume:\n" ::: "memory");
}

static void check(const char *what, unsigned vector, void (*provoke)(void))
{
    hits = 0;
    state_ok = false;
    expect_vector = vector;
    provoke();
    expect_vector = ~0u;
    if (hits == 1 && state_ok)
        printf("fault: %s: reported, checked and recovered\n", what);
    else
        test_fail("%s: %u exceptions seen, state %s", what, hits, state_ok ? "ok" : "wrong");
}

static void provoke_pf(void)
{
    uint64_t v = read_unmapped();

    if (v != 0x1234) /* the load must not have completed */
        test_fail("#PF: destination register changed to %#lx", v);
}

void test_main(void)
{
    exception_set_hook(hook);
    check("#PF on read of unmapped address", 14, provoke_pf);
    check("#UD on ud2", 6, undefined_opcode);
    exception_set_hook(NULL);
    test_pass();
}
