# XenoServer build. `make` builds programs into build/bin and test kernels into build/guest.
# `make check` builds an ASan+UBSan copy of the programs into build/san and runs every test.
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

.PHONY: all programs guests check demo deps clean bench format
all: programs guests

LIB_SRCS    = $(wildcard src/lib/*.c)
VMM_SRCS    = $(wildcard src/vmm/*.c)
DAEMON_SRCS = $(wildcard src/daemon/*.c)
CTL_SRCS    = $(wildcard src/ctl/*.c)
SCHED_SRCS  = $(wildcard src/sched/*.c)
NET_SRCS    = $(wildcard src/net/*.c)
AUDIT_SRCS  = $(wildcard src/audit/*.c)
LIB_OBJS    = $(LIB_SRCS:%.c=$(OBJ)/%.o)
VMM_OBJS    = $(VMM_SRCS:%.c=$(OBJ)/%.o)
DAEMON_OBJS = $(DAEMON_SRCS:%.c=$(OBJ)/%.o)
CTL_OBJS    = $(CTL_SRCS:%.c=$(OBJ)/%.o)
NET_OBJS    = $(NET_SRCS:%.c=$(OBJ)/%.o)
# src/audit: the network audit engine (docs/audit.md), linked into xeno-netback, xenctl
# (`xenctl audit verify|query` read the flow log directly) and the unit tests.
AUDIT_OBJS  = $(AUDIT_SRCS:%.c=$(OBJ)/%.o)
# src/sched: the CPU scheduler's algorithm core (docs/scheduling.md), linked into the monitor,
# xenod (admission control) and the unit tests.
SCHED_OBJS  = $(SCHED_SRCS:%.c=$(OBJ)/%.o)
# Each program's main.c is the only thing unit tests cannot link against.
VMM_LIB_OBJS    = $(filter-out $(OBJ)/src/vmm/main.o,$(VMM_OBJS))
DAEMON_LIB_OBJS = $(filter-out $(OBJ)/src/daemon/main.o,$(DAEMON_OBJS))
NET_LIB_OBJS    = $(filter-out $(OBJ)/src/net/main.o,$(NET_OBJS))
# src/lib as an archive: each program links only the pieces it uses (and their libraries).
LIBXENO     = $(BUILD)/lib/libxeno.a

XML_LIBS    = -lxml2
DAEMON_LIBS = -lmicrohttpd -ljansson -lsqlite3 -lcrypto $(XML_LIBS)
CTL_LIBS    = -lcurl -ljansson
NET_LIBS    = -lseccomp
AUDIT_LIBS  = -lzstd -lcrypto -lm
# live migration's key handshake (HMAC-SHA256, src/vmm/migrate_proto.c)
VMM_LIBS    = -lcrypto

programs: $(BIN)/xeno-vmm $(BIN)/xenod $(BIN)/xenctl $(BIN)/xeno-netback

$(LIBXENO): $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && $(AR) rcs $@ $^

$(BIN)/xeno-vmm: $(VMM_OBJS) $(SCHED_OBJS) $(LIBXENO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(VMM_LIBS) $(LDLIBS)

# xenod reads snapshot files (restore) with the monitor's KVM-free format code.
# and names the network backend's drop reasons with its switch's table, and authenticates
# migrations between hosts with the monitors' handshake.
$(BIN)/xenod: $(DAEMON_OBJS) $(SCHED_OBJS) $(OBJ)/src/vmm/snapshot.o $(OBJ)/src/vmm/migrate_proto.o $(OBJ)/src/net/switch.o $(OBJ)/src/net/eth.o $(LIBXENO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(DAEMON_LIBS) $(LDLIBS)

$(BIN)/xenctl: $(CTL_OBJS) $(AUDIT_OBJS) $(OBJ)/src/net/eth.o $(LIBXENO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(CTL_LIBS) $(AUDIT_LIBS) $(LDLIBS)

# src/net: the network backend (vhost-user server, switch, QoS), one process per host.
$(BIN)/xeno-netback: $(NET_OBJS) $(AUDIT_OBJS) $(LIBXENO)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(NET_LIBS) $(AUDIT_LIBS) $(LDLIBS)

$(OBJ)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

include guest/guest.mk
include tests/tests.mk
include bench/bench.mk

deps:
	@scripts/install-deps.sh

demo: deps
	@$(MAKE) --no-print-directory all
	$(BIN)/xeno-vmm --kernel $(GUESTDIR)/demo.elf --memory 64M --vcpus 2

check: deps
	@$(MAKE) --no-print-directory guests
	@$(MAKE) --no-print-directory SAN=1 programs unit-tests
	tests/run.sh -j $${JOBS:-2} build/san

format:
	clang-format -i $(LIB_SRCS) $(VMM_SRCS) $(DAEMON_SRCS) $(CTL_SRCS) $(SCHED_SRCS) $(NET_SRCS) $(wildcard src/*/*.h)

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
