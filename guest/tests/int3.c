/*
 * int3: a breakpoint in ring 0 is delivered as #BP through the IDT (vector 3, a trap: the
 * saved rip is the byte after the 0xcc) and execution resumes after it. Three times, so a
 * monitor that injects #BP on KVM's behalf (docs/machine.md, "Instructions to avoid") is
 * seen to do it every time and to leave the registers alone.
 * PASS when each int3 reaches the handler exactly once with rip just after the 0xcc and
 * the registers live across it are intact.
 */
#include "runtime.h"

const char test_title[] = "int3: #BP in ring 0 reaches the IDT handler and resumes";

extern const char bp_insn[], bp_resume[];

static volatile unsigned hits;
static volatile bool rip_ok;

static bool hook(struct cpu_regs *regs)
{
    if (regs->vector != 3)
        return false;
    hits++;
    rip_ok = regs->rip == (uintptr_t)bp_resume;
    if (!rip_ok)
        printf("int3: handler saw rip=%#lx, want %#lx (just after the int3 at %#lx)\n", regs->rip, (uintptr_t)bp_resume,
               (uintptr_t)bp_insn);
    return true; /* #BP is a trap: rip already points past the instruction */
}

static __attribute__((noinline)) uint64_t breakpoint(uint64_t v)
{
    __asm__ volatile(".global bp_insn, bp_resume\n"
                     "bp_insn: int3\n"
                     "bp_resume:\n"
                     : "+r"(v)
                     :
                     : "memory");
    return v;
}

void test_main(void)
{
    exception_set_hook(hook);
    for (unsigned i = 0; i < 3; i++) {
        uint64_t marker = 0x1234567800000000ULL | i;
        hits = 0;
        rip_ok = false;
        uint64_t back = breakpoint(marker);
        if (hits != 1 || !rip_ok || back != marker) {
            test_fail("int3 #%u: %u #BP seen, rip %s, register %s", i, hits, rip_ok ? "ok" : "wrong",
                      back == marker ? "kept" : "changed");
            break;
        }
        printf("int3: #%u reported by the handler at rip=%#lx and resumed\n", i, (uintptr_t)bp_resume);
    }
    exception_set_hook(NULL);
    test_pass();
}
