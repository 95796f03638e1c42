# libFuzzer harnesses (fuzz/README.md): one program per parser of outside data, fuzz/NAME.c ->
# build/fuzz/bin/NAME, built with clang (libFuzzer, ASan, UBSan) apart from the product's
# gcc build: its own objects and per-folder archives under build/fuzz, linked by the same
# table as the programs (scripts/layers.py makevars).
#   make fuzz [FUZZ_SECS=60] [FUZZ=NAME...]  fuzz each harness in turn, one core each
#   make fuzz-replay                         every seed and every past crash once (make check)
FUZZ_CC     ?= clang
FUZZ_SECS   ?= 60
FUZZ_BUILD   = build/fuzz
FUZZ_SRCS    = $(wildcard fuzz/*.c)
FUZZ_ALL     = $(FUZZ_SRCS:fuzz/%.c=%)
FUZZ        ?= $(FUZZ_ALL)
FUZZ_BINS    = $(FUZZ_ALL:%=$(FUZZ_BUILD)/bin/%)
FUZZ_SAN     = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  = -O1 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -MMD -MP -Isrc -I. $(FUZZ_SAN) \
               $(shell pkg-config --cflags libxml-2.0 2>/dev/null)
fuzz_archive = $(FUZZ_BUILD)/lib/lib$(if $(filter lib,$(1)),xeno,$(subst /,_,$(1))).a
fuzz_objs_of = $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(filter-out src/$(1)/main.c,$(wildcard src/$(1)/*.c)))
FUZZ_ARCHIVES = $(foreach f,$(LIB_FOLDERS),$(call fuzz_archive,$(f)))

.PHONY: fuzz fuzz-build fuzz-replay
fuzz-build: $(FUZZ_BINS)

# Product sources: coverage for libFuzzer (fuzzer-no-link) and the sanitizers. The product is
# written for and checked by gcc (-Werror there); clang's own warnings on it (GNU extensions
# used on purpose, libseccomp's macros) are not errors here.
$(FUZZ_BUILD)/obj/src/%.o: src/%.c
	$(quiet) CLANG $<
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -Wno-error -Wno-gnu-variable-sized-type-not-at-end -Wno-missing-field-initializers \
	    -fsanitize=fuzzer-no-link -c -o $@ $<

# Harnesses: warnings are errors, except clang's about a GNU extension the product's headers use
# on purpose (struct kvm_cpuid2 inside struct cpuid_table).
$(FUZZ_BUILD)/obj/fuzz/%.o: fuzz/%.c
	$(quiet) CLANG $<
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -Wno-gnu-variable-sized-type-not-at-end -fsanitize=fuzzer-no-link -c -o $@ $<

define FUZZ_ARCHIVE_RULE
$(call fuzz_archive,$(1)): $(call fuzz_objs_of,$(1))
	$$(quiet) AR $$@
	@mkdir -p $$(@D)
	$(Q)rm -f $$@ && $$(AR) rcs $$@ $$^
endef
$(foreach f,$(LIB_FOLDERS),$(eval $(call FUZZ_ARCHIVE_RULE,$(f))))

# FUZZ_LINK_NAME / FUZZ_LIBS_NAME: the archives and libraries of the folders NAME.c includes.
$(FUZZ_BUILD)/link.mk: $(FUZZ_SRCS) $(LAYERS)
	@mkdir -p $(@D)
	$(Q)$(LAYERS) makevars $(FUZZ_SRCS) | sed 's/^\(LINK\|LIBS\)_/FUZZ_\1_/' >$@
include $(FUZZ_BUILD)/link.mk

fuzz_stems = $(foreach s,$(1),$(filter $(FUZZ_BUILD)/lib/lib$(s).a,$(FUZZ_ARCHIVES)))
$(FUZZ_BUILD)/bin/%: $(FUZZ_BUILD)/obj/fuzz/%.o $$(call fuzz_stems,$$(FUZZ_LINK_$$*))
	$(quiet) LD $@
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< -Wl,--start-group $(filter %.a,$^) -Wl,--end-group \
	    $(FUZZ_LIBS_$*) -lzstd -lpthread

# Each harness for FUZZ_SECS seconds: new inputs go to build/fuzz/corpus/NAME (the checked-in
# seeds in fuzz/corpus/NAME are read, never written), crashes to build/fuzz/crashes/NAME/
# (copy one to fuzz/crashes/NAME/ with the fix, so fuzz-replay keeps checking it).
fuzz: $(FUZZ:%=$(FUZZ_BUILD)/bin/%)
	@for n in $(FUZZ); do \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$n $(FUZZ_BUILD)/crashes/$$n fuzz/corpus/$$n; \
	    echo "fuzz $$n: $(FUZZ_SECS)s"; \
	    $(FUZZ_BUILD)/bin/$$n -max_total_time=$(FUZZ_SECS) -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_BUILD)/crashes/$$n/ $(FUZZ_BUILD)/corpus/$$n fuzz/corpus/$$n || exit 1; \
	done

# Every checked-in input once, no fuzzing: a seed or past crash that now fails stops make check.
fuzz-replay: $(FUZZ_BINS)
	$(quiet) REPLAY "fuzz/corpus fuzz/crashes"
	$(Q)for n in $(FUZZ_ALL); do \
	    files=$$(find fuzz/corpus/$$n fuzz/crashes/$$n -type f 2>/dev/null | sort); \
	    [ -n "$$files" ] || { echo "fuzz-replay: $$n has no seeds in fuzz/corpus/$$n" >&2; exit 1; }; \
	    $(FUZZ_BUILD)/bin/$$n $$files >$(FUZZ_BUILD)/replay-$$n.log 2>&1 || \
	        { tail -40 $(FUZZ_BUILD)/replay-$$n.log; echo "fuzz-replay: $$n failed (log: $(FUZZ_BUILD)/replay-$$n.log)" >&2; exit 1; }; \
	done
.SECONDARY: $(FUZZ_SRCS:fuzz/%.c=$(FUZZ_BUILD)/obj/fuzz/%.o)

# The seeds that are binary formats (fuzz/make_seeds.py, and flow logs written by the
# product's own writer). Run by hand when a format changes; the results are checked in.
$(FUZZ_BUILD)/tools/flowlog_seed: fuzz/tools/flowlog_seed.c $(call fuzz_stems,audit xeno)
	$(quiet) CLANG $@
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -o $@ $< $(filter %.a,$^) -lzstd -lcrypto -lm \
	    -lxml2 -lpthread
.PHONY: fuzz-seeds
fuzz-seeds: $(FUZZ_BUILD)/tools/flowlog_seed
	fuzz/make_seeds.py
	$(FUZZ_BUILD)/tools/flowlog_seed fuzz/corpus/flowlog/three-blocks 8
	$(FUZZ_BUILD)/tools/flowlog_seed fuzz/corpus/flowlog/sealed 4 keyed
