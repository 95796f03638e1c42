# Benchmarks (see bench/README.md). Included by the top Makefile.
#   make bench-programs   builds the benchmark programs into build/bench
#   make bench            builds everything and runs bench/boot/run.sh (xeno-vmm vs QEMU microvm)
# The benchmark programs are always built optimized and without sanitizers, whatever SAN is.

BENCH_DIR     = build/bench
BENCH_CFLAGS  = -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -MMD -MP

.PHONY: bench bench-programs

bench-programs: $(BENCH_DIR)/boot-bench

$(BENCH_DIR)/boot-bench: bench/boot/boot_bench.c
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $<

bench:
	bench/boot/run.sh
