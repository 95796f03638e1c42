# Unit tests: one cmocka program per module under test (tests/unit/test_*.c), and the small
# programs the integration tests use (tests/tools/NAME.c). Each links the archives of the src/
# folders it includes and of what those may use (scripts/layers.py makevars), built with the
# same flags as the programs, so `make check` runs them under ASan and UBSan.
UNIT_SRCS  = $(wildcard tests/unit/test_*.c)
UNIT_BINS  = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRCS  = $(wildcard tests/tools/*.c)
TOOL_BINS  = $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/tools/%)

# LINK_name / LIBS_name for every test and tool, regenerated when a source or the table changes.
$(BUILD)/tests/link.mk: $(UNIT_SRCS) $(TOOL_SRCS) $(LAYERS)
	@mkdir -p $(@D)
	$(Q)$(LAYERS) makevars $(UNIT_SRCS) $(TOOL_SRCS) >$@
include $(BUILD)/tests/link.mk
LIBS_wsclient += -lssl # the WebSocket test client speaks TLS itself (OpenSSL)

.PHONY: unit-tests
unit-tests: $(UNIT_BINS) $(TOOL_BINS)

.SECONDEXPANSION:
$(BUILD)/tests/%: $(OBJ)/tests/unit/%.o $$(call stems_to_archives,$$(LINK_$$*))
	$(quiet) LD $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< -Wl,--start-group $(filter %.a,$^) -Wl,--end-group -lcmocka \
	    $(LIBS_$*) $(LDLIBS)

$(BUILD)/tests/tools/%: $(OBJ)/tests/tools/%.o $$(call stems_to_archives,$$(LINK_$$*))
	$(quiet) LD $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< -Wl,--start-group $(filter %.a,$^) -Wl,--end-group \
	    $(LIBS_$*) $(LDLIBS)

# Keep test and tool objects between runs (make would delete them as intermediates).
.SECONDARY: $(UNIT_SRCS:%.c=$(OBJ)/%.o) $(TOOL_SRCS:%.c=$(OBJ)/%.o)
