# XenoServer build. `make` builds programs into build/bin and test kernels into build/guest.
# `make check` builds an ASan+UBSan copy of the programs into build/san and runs every test,
# after replaying the fuzz harnesses' seeds and past crashes (fuzz/fuzz.mk, `make fuzz`).
# `make demo` boots the demo kernel with its console on this terminal.

CC      ?= gcc
SAN     ?= 0
ifeq ($(SAN),1)
BUILD   ?= build/san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD   ?= build
SANFLAGS =
endif
GUESTDIR = build/guest

CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -MMD -MP -Isrc $(SANFLAGS)
CFLAGS  += $(shell pkg-config --cflags libxml-2.0 2>/dev/null)
LDFLAGS += $(SANFLAGS)
LDLIBS  += -lpthread

BIN      = $(BUILD)/bin
OBJ      = $(BUILD)/obj

.PHONY: all programs guests check demo deps clean bench format lint
all: programs guests

# Quiet by default: one short line per step (`CC src/vmm/core/vm.c`); `make V=1` prints the
# full commands.
ifeq ($(V),1)
Q =
quiet = @:
else
Q = @
quiet = @printf '  %-6s %s\n'
endif

# Every folder of src/ builds one static archive of its objects but main.c: build/lib/
# lib<folder>.a, with vmm/core -> libvmm_core.a and lib -> libxeno.a. scripts/layers.py is the table of which
# folder may use which (`make lint` enforces it on every #include); a program links its own
# folder's archive and the archives of everything that folder may use, a test or tool those of
# the folders it includes, and the linker takes only the objects they reference.
LAYERS    = scripts/layers.py
FOLDERS  := $(shell $(LAYERS) archives | cut -d' ' -f1)
LIBDIR    = $(BUILD)/lib
archive   = $(LIBDIR)/lib$(if $(filter lib,$(1)),xeno,$(subst /,_,$(1))).a
objs_of   = $(patsubst %.c,$(OBJ)/%.o,$(filter-out src/$(1)/main.c,$(wildcard src/$(1)/*.c)))
# Folders with objects besides main.c (src/vmm holds only main.c: its archive would be empty).
LIB_FOLDERS := $(foreach f,$(FOLDERS),$(if $(call objs_of,$(f)),$(f)))
ALL_ARCHIVES = $(foreach f,$(LIB_FOLDERS),$(call archive,$(f)))
# stems_to_archives STEMS: archive paths of the stems scripts/layers.py printed (empty skipped)
stems_to_archives = $(foreach s,$(1),$(filter $(LIBDIR)/lib$(s).a,$(ALL_ARCHIVES)))

define ARCHIVE_RULE
$(call archive,$(1)): $(call objs_of,$(1))
	$$(quiet) AR $$@
	@mkdir -p $$(@D)
	$(Q)rm -f $$@ && $$(AR) rcs $$@ $$^
endef
$(foreach f,$(LIB_FOLDERS),$(eval $(call ARCHIVE_RULE,$(f))))

# PROGRAM_RULE NAME FOLDER: build/bin/NAME from src/FOLDER/main.c.
define PROGRAM_RULE
PROG_LINK_$(1) := $$(shell $(LAYERS) link $(2))
$(BIN)/$(1): $(OBJ)/src/$(2)/main.o $$(call stems_to_archives,$$(wordlist 1,99,$$(filter-out -l%,$$(PROG_LINK_$(1)))))
	$$(quiet) LD $$@
	@mkdir -p $$(@D)
	$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$< -Wl,--start-group $$(filter %.a,$$^) -Wl,--end-group \
	    $$(filter -l%,$$(PROG_LINK_$(1))) $$(LDLIBS)
endef
PROGRAMS = xeno-vmm:vmm xenod:daemon xenctl:ctl xeno-netback:net xeno-blkback:blk
$(foreach p,$(PROGRAMS),$(eval $(call PROGRAM_RULE,$(word 1,$(subst :, ,$(p))),$(word 2,$(subst :, ,$(p))))))
programs: $(foreach p,$(PROGRAMS),$(BIN)/$(word 1,$(subst :, ,$(p))))

$(OBJ)/%.o: %.c
	$(quiet) CC $<
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

include guest/guest.mk
include tests/tests.mk
include bench/bench.mk
include fuzz/fuzz.mk

deps:
	@scripts/install-deps.sh

demo: deps
	@$(MAKE) --no-print-directory all
	$(BIN)/xeno-vmm --kernel $(GUESTDIR)/demo.elf --memory 64M --vcpus 2

check: deps
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory guests $(BIN)/xeno-vmm
	@$(MAKE) --no-print-directory SAN=1 programs unit-tests
	@$(MAKE) --no-print-directory -j$${JOBS:-2} fuzz-replay
	tests/run.sh -j $${JOBS:-2} build/san

SOURCES = $(shell find src tests/unit tests/tools bench fuzz -name '*.[ch]' | sort)
format:
	clang-format -i $(SOURCES)

# Checks that need no build: formatting of every C source, the layering of src/
# (scripts/layers.py) and its size limits (scripts/check-size.sh: no .c file over 800 lines,
# no function over 120). `make check` runs them first.
lint:
	$(quiet) FORMAT "src tests bench fuzz"
	$(Q)clang-format --dry-run -Werror $(SOURCES)
	$(quiet) LAYERS $(LAYERS)
	$(Q)$(LAYERS) check
	$(quiet) SIZES scripts/check-size.sh
	$(Q)scripts/check-size.sh

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
