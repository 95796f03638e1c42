# Benchmarks (see bench/README.md). Included by the top Makefile.
#   make bench-programs   builds the benchmark programs into build/bench
#   make bench            builds everything and runs both benchmarks:
#                         bench/boot/run.sh (xeno-vmm vs QEMU microvm) and bench/control/run.sh
#   make bench-boot       only the boot benchmark
#   make bench-control    only the control-plane benchmark (xenod API latency)
#   make bench-sched      only the CPU scheduling benchmark (bench/sched/run.sh)
# The benchmark programs are always built optimized and without sanitizers, whatever SAN is.

BENCH_DIR     = build/bench
BENCH_CFLAGS  = -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -MMD -MP

.PHONY: bench bench-programs bench-boot bench-control bench-sched

bench-programs: $(BENCH_DIR)/boot-bench $(BENCH_DIR)/control-bench $(BENCH_DIR)/sched-bench

$(BENCH_DIR)/boot-bench: bench/boot/boot_bench.c
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $<

$(BENCH_DIR)/control-bench: bench/control/control_bench.c
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -lcurl -ljansson -lpthread

$(BENCH_DIR)/sched-bench: bench/sched/sched_bench.c
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $<

bench-boot:
	bench/boot/run.sh

bench-sched:
	bench/sched/run.sh

bench-control:
	bench/control/run.sh

# One after the other, never at once: they share the host's CPUs.
bench:
	bench/boot/run.sh
	bench/control/run.sh
	bench/sched/run.sh
