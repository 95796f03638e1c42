# Test-guest kernels, included by the top Makefile (which sets GUESTDIR = build/guest).
# Every guest/tests/NAME.c becomes $(GUESTDIR)/NAME.elf, linked with the runtime in
# guest/runtime. The guests are freestanding, so they use their own flags and never the
# host programs' CFLAGS (which may carry sanitizers).

GUEST_CC      ?= gcc
GUEST_OBJDIR  := $(GUESTDIR)/obj
GUEST_CFLAGS  := -std=c11 -O2 -g -ffreestanding -fno-pic -fno-pie -mcmodel=small \
                 -mno-red-zone -mgeneral-regs-only -fno-stack-protector \
                 -fno-asynchronous-unwind-tables -fcf-protection=none \
                 -fno-tree-loop-distribute-patterns -ffunction-sections -fdata-sections \
                 -Wall -Wextra -Werror -MMD -MP -Iguest/include
GUEST_ASFLAGS := -ffreestanding -fno-pic -fno-pie -Wall -Wextra -Werror -MMD -MP \
                 -Iguest/include
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,-T,guest/link.ld -Wl,--gc-sections \
                 -Wl,--build-id=none -Wl,-z,max-page-size=0x1000 -Wl,-z,noexecstack

GUEST_RT_SRCS := $(sort $(wildcard guest/runtime/*.c guest/runtime/*.S))
GUEST_RT_OBJS := $(patsubst guest/%,$(GUEST_OBJDIR)/%.o,$(GUEST_RT_SRCS))
GUEST_NAMES   := $(sort $(basename $(notdir $(wildcard guest/tests/*.c))))
GUEST_ELFS    := $(GUEST_NAMES:%=$(GUESTDIR)/%.elf)

.PHONY: guests
guests: $(GUEST_ELFS)

GUEST_TEST_OBJS := $(GUEST_NAMES:%=$(GUEST_OBJDIR)/tests/%.c.o)

# Static pattern rules: the objects are explicit targets, so make keeps them between runs.
$(GUEST_ELFS): $(GUESTDIR)/%.elf: $(GUEST_OBJDIR)/tests/%.c.o $(GUEST_RT_OBJS) guest/link.ld
	$(quiet) LD $@
	@mkdir -p $(@D)
	$(Q)$(GUEST_CC) $(GUEST_LDFLAGS) -o $@ $< $(GUEST_RT_OBJS)

$(filter %.c.o,$(GUEST_RT_OBJS) $(GUEST_TEST_OBJS)): $(GUEST_OBJDIR)/%.c.o: guest/%.c guest/guest.mk
	$(quiet) CC $<
	@mkdir -p $(@D)
	$(Q)$(GUEST_CC) $(GUEST_CFLAGS) -c -o $@ $<

$(filter %.S.o,$(GUEST_RT_OBJS)): $(GUEST_OBJDIR)/%.S.o: guest/%.S guest/guest.mk
	$(quiet) AS $<
	@mkdir -p $(@D)
	$(Q)$(GUEST_CC) $(GUEST_ASFLAGS) -c -o $@ $<
