# Unit tests: one cmocka program per module under test, linked against the monitor's and daemon's objects
# (built with the same flags, so `make check` runs them under ASan and UBSan).
UNIT_SRCS  = $(wildcard tests/unit/test_*.c)
UNIT_BINS  = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: unit-tests
unit-tests: $(UNIT_BINS)

$(BUILD)/tests/%: $(OBJ)/tests/unit/%.o $(VMM_LIB_OBJS) $(DAEMON_LIB_OBJS) $(NET_LIB_OBJS) $(AUDIT_OBJS) $(SCHED_OBJS) $(LIBXENO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(DAEMON_LIBS) $(NET_LIBS) $(VMM_LIBS) $(AUDIT_LIBS) $(LDLIBS)

# xenctl's pure pieces (tests/unit/test_ctl_*.c) link against its objects but main.o, and
# nothing of the monitor or daemon. Make prefers this rule: its stem is the shorter.
CTL_LIB_OBJS = $(filter-out $(OBJ)/src/ctl/main.o,$(CTL_OBJS))

$(BUILD)/tests/test_ctl_%: $(OBJ)/tests/unit/test_ctl_%.o $(CTL_LIB_OBJS) $(AUDIT_OBJS) $(OBJ)/src/net/eth.o $(LIBXENO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(CTL_LIBS) $(AUDIT_LIBS) $(LDLIBS)

# xenod's pieces (tests/unit/test_daemon_*.c) link against what xenod links but main.o: the
# daemon's objects, the scheduler's admission core and the few monitor/backend objects xenod
# uses (snapshot format, migration handshake, the switch's drop-reason names).
XENOD_TEST_OBJS = $(DAEMON_LIB_OBJS) $(SCHED_OBJS) $(OBJ)/src/vmm/snapshot.o $(OBJ)/src/vmm/migrate_proto.o \
                  $(OBJ)/src/net/switch.o $(OBJ)/src/net/eth.o

$(BUILD)/tests/test_daemon_%: $(OBJ)/tests/unit/test_daemon_%.o $(XENOD_TEST_OBJS) $(LIBXENO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(DAEMON_LIBS) $(LDLIBS)

# Keep unit-test objects between runs (make would delete them as intermediates).
.SECONDARY: $(UNIT_SRCS:%.c=$(OBJ)/%.o)

# Small programs the integration tests use (tests/tools/NAME.c -> $(BUILD)/tests/tools/NAME),
# built with the unit tests. They may use src/lib.
TOOL_SRCS  = $(wildcard tests/tools/*.c)
TOOL_BINS  = $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/tools/%)

unit-tests: $(TOOL_BINS)

$(BUILD)/tests/tools/%: $(OBJ)/tests/tools/%.o $(LIBXENO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.SECONDARY: $(TOOL_SRCS:%.c=$(OBJ)/%.o)

# audit_replay drives the audit engine (src/audit) itself: an explicit rule wins over the one above.
$(BUILD)/tests/tools/audit_replay: $(OBJ)/tests/tools/audit_replay.o $(AUDIT_OBJS) $(OBJ)/src/net/eth.o $(LIBXENO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(AUDIT_LIBS) $(LDLIBS)
