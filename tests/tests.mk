# Unit tests: one cmocka program per module under test, linked against the monitor's objects
# (built with the same flags, so `make check` runs them under ASan and UBSan).
UNIT_SRCS  = $(wildcard tests/unit/test_*.c)
UNIT_BINS  = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: unit-tests
unit-tests: $(UNIT_BINS)

$(BUILD)/tests/%: $(OBJ)/tests/unit/%.o $(VMM_LIB_OBJS) $(LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# Keep unit-test objects between runs (make would delete them as intermediates).
.SECONDARY: $(UNIT_SRCS:%.c=$(OBJ)/%.o)
