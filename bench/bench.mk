# Benchmarks (see bench/README.md). Included by the top Makefile.
#   make bench-programs   builds the benchmark programs into build/bench
#   make bench            builds everything and runs both benchmarks:
#                         bench/boot/run.sh (xeno-vmm vs QEMU microvm) and bench/control/run.sh
#   make bench-boot       only the boot benchmark
#   make bench-control    only the control-plane benchmark (xenod API latency)
#   make bench-sched      only the CPU scheduling benchmark (bench/sched/run.sh)
#   make bench-migrate    only the live migration benchmark (bench/migrate/run.sh)
#   make bench-net        only the network backend benchmark (bench/net/run.sh)
#   make bench-audit      only the network audit benchmark (bench/audit/run.sh)
#   make bench-snapshot   only the snapshot benchmark (bench/snapshot/run.sh)
#   make bench-metrics    only the /metrics scrape benchmark (bench/metrics/run.sh)
#   make bench-density    only the density benchmark (bench/density/run.sh: N idle domains)
#   make bench-blk-iosched only the disk I/O scheduler's cost per request (no device)
#   make bench-blk        only the disk backend benchmark (bench/blk/run.sh: xeno-blkback beside
#                         qemu-storage-daemon's vhost-user-blk export and raw io_uring)
# The benchmark programs are always built optimized and without sanitizers, whatever SAN is.

BENCH_DIR     = build/bench
BENCH_CFLAGS  = -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -MMD -MP

.PHONY: bench bench-programs bench-boot bench-control bench-sched bench-net

bench-programs: $(BENCH_DIR)/boot-bench $(BENCH_DIR)/control-bench $(BENCH_DIR)/sched-bench

$(BENCH_DIR)/boot-bench: bench/boot/boot_bench.c
	$(quiet) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(BENCH_CFLAGS) -o $@ $<

$(BENCH_DIR)/control-bench: bench/control/control_bench.c
	$(quiet) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(BENCH_CFLAGS) -o $@ $< -lcurl -ljansson -lpthread

$(BENCH_DIR)/sched-bench: bench/sched/sched_bench.c
	$(quiet) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(BENCH_CFLAGS) -o $@ $<

bench-boot:
	bench/boot/run.sh

.PHONY: bench-density
bench-density: programs guests
	bench/density/run.sh

.PHONY: bench-snapshot
bench-snapshot:
	bench/snapshot/run.sh

bench-sched:
	bench/sched/run.sh

bench-control:
	bench/control/run.sh

# Live migration: downtime, total time, bytes against touched memory; and save+copy+restore.
.PHONY: bench-migrate
bench-migrate:
	bench/migrate/run.sh

bench-net:
	bench/net/run.sh

# The switch and QoS library's decisions per second (bench/README.md, "bench/net: switch
# and QoS decisions"): one program, no guest, no root.
.PHONY: bench-net-switch
# (-MMD keeps only the last source's headers when one command compiles several: they are listed.)
$(BENCH_DIR)/net-switch-bench: bench/net/switch_bench.c src/lib/eth.c src/net/switch.c src/net/qos.c src/lib/err.c \
		src/lib/eth.h src/net/switch.h src/net/qos.h
	$(quiet) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(BENCH_CFLAGS) -Isrc -o $@ $(filter %.c,$^)

bench-net-switch: $(BENCH_DIR)/net-switch-bench
	$(BENCH_DIR)/net-switch-bench

# The audit engine (src/audit) compiled in from its sources with the benchmark's flags.
.PHONY: bench-audit
bench-programs: $(BENCH_DIR)/audit-bench

$(BENCH_DIR)/audit-bench: bench/audit/audit_bench.c $(wildcard src/audit/*.c) src/lib/eth.c src/lib/err.c \
		src/lib/siphash.c
	$(quiet) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(BENCH_CFLAGS) -Isrc -o $@ $(filter %.c,$^) -lzstd -lcrypto -lm

bench-audit:
	bench/audit/run.sh

# GET /metrics with 1000 defined domains (bench/README.md, "bench/metrics").
.PHONY: bench-metrics
bench-metrics: programs
	bench/metrics/run.sh

# One after the other, never at once: they share the host's CPUs.
bench:
	bench/boot/run.sh
	bench/control/run.sh
	bench/sched/run.sh
	bench/audit/run.sh
	bench/metrics/run.sh

# Billing: the ledger's postings per second, its size per domain-day and the time of an
# invoice of 1000 domains over 30 days (bench/README.md, "bench/billing"): no guest, no root.
.PHONY: bench-billing
bench-programs: $(BENCH_DIR)/billing-bench

$(BENCH_DIR)/billing-bench: bench/billing/billing_bench.c src/daemon/ledger.c src/daemon/invoice.c \
		src/daemon/ledger_rollup.c src/daemon/ledger_schema.c src/daemon/invoice_build.c src/daemon/prices.c src/daemon/meter.c \
		src/lib/err.c src/lib/log.c src/lib/siphash.c src/daemon/ledger_rollup.h \
		src/daemon/ledger.h src/daemon/invoice.h src/daemon/prices.h src/daemon/meter.h
	$(quiet) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(BENCH_CFLAGS) -Isrc -o $@ $(filter %.c,$^) -lsqlite3

bench-billing: $(BENCH_DIR)/billing-bench
	bench/billing/run.sh

# The disk I/O scheduler's cost per request (bench/README.md, "bench/blk: the I/O scheduler's
# decisions"): one program, no device, no root.
.PHONY: bench-blk-iosched
bench-programs: $(BENCH_DIR)/blk-iosched-bench

$(BENCH_DIR)/blk-iosched-bench: bench/blk/iosched_bench.c src/blk/iosched.c src/blk/iosched_limit.c \
		src/blk/iosched_heap.c src/blk/iosched_tree.c src/lib/err.c src/blk/iosched.h src/blk/iosched_limit.h \
		src/blk/iosched_heap.h src/blk/iosched_tree.h
	$(quiet) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(BENCH_CFLAGS) -Isrc -o $@ $(filter %.c,$^)

bench-blk-iosched: $(BENCH_DIR)/blk-iosched-bench
	$(BENCH_DIR)/blk-iosched-bench

# xeno-blkback driven by tests/tools/blk_driver, beside qemu-storage-daemon's vhost-user-blk
# export driven the same way and fio on io_uring, on one image file (bench/README.md,
# "bench/blk: xeno-blkback beside QEMU's export and raw io_uring").
.PHONY: bench-blk
bench-blk:
	bench/blk/run.sh

# Fleet: placements per second against a real etcd with simulated hosts, and the detection
# time of a dead host (bench/README.md, "bench/fleet"): no guest, no root; needs etcd.
.PHONY: bench-fleet
bench-programs: $(BENCH_DIR)/fleet-bench

$(BENCH_DIR)/fleet-bench: bench/fleet/fleet_bench.c $(wildcard src/fleet/*.c src/fleet/*.h) src/lib/err.c \
		src/sched/admit.c src/sched/admit.h src/lib/parse.c
	$(quiet) CC $@
	@mkdir -p $(@D)
	$(Q)$(CC) $(BENCH_CFLAGS) -Isrc -o $@ $(filter %.c,$^) -lcurl -ljansson -lcrypto -lpthread

bench-fleet: $(BENCH_DIR)/fleet-bench
	bench/fleet/run.sh
