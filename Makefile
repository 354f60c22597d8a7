# pyleakbpf: build, test, demo. As root on Debian 12, `make demo` and
# `make test` install what is missing (see `deps`) and need nothing else.

CLANG    ?= clang
CC       ?= cc
BPFTOOL  ?= bpftool
PYTEST   ?= /usr/bin/python3 -m pytest
ARCH     := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)

OUT      := build
BPF_OBJ  := $(OUT)/pyleak.bpf.o
SKEL     := $(OUT)/pyleak.skel.h
BIN      := pyleakbpf

CFLAGS   ?= -O2 -g
CFLAGS   += -Wall -Wextra -Wno-unused-parameter -std=gnu11 -D_GNU_SOURCE \
	    -Ibpf -I$(OUT) -Iuser
LDLIBS   := -lbpf -lelf -lz -lpthread -lm

BPF_CFLAGS := -O2 -g -target bpf -D__TARGET_ARCH_$(ARCH) -Wall \
	      -Ivmlinux -Ibpf -I/usr/include/$(MULTIARCH)

USER_SRC := user/main.c user/cli.c user/run.c user/window.c \
	    user/target.c user/elffile.c user/pyversions.c user/probes.c \
	    user/symbolize.c user/linetable.c user/memread.c user/native.c user/objtypes.c \
	    user/heapscan.c user/fmt.c \
	    user/report.c user/snapshot.c user/startup.c user/gcstats.c user/sitetypes.c \
	    user/coverage.c user/sampling.c user/history.c \
	    user/profile.c user/out_text.c user/out_folded.c user/out_json.c \
	    user/out_files.c user/out_pprof.c user/out_svg.c user/launch.c
# liveness from outside: is an outstanding block still allocated?
USER_SRC += user/liveness.c user/liveness_glibc.c
USER_OBJ := $(patsubst user/%.c,$(OUT)/%.o,$(USER_SRC))
LIB_OBJ  := $(filter-out $(OUT)/main.o,$(USER_OBJ))

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(OUT)/unit_tests

# Debian packages the build, tests and demo need (golang-go: the tests read
# the pprof output with go tool pprof, as users and backends would;
# chromium and libxml2-utils: they open the SVG flame graph in a browser;
# libclang-rt-14-dev: libFuzzer and the sanitizers of make fuzz, unit-asan;
# python3-scalene: the benchmark compares with it, and its site-packages
# .pth files keep the unit tests honest about isolating interpreters).
DEB_PKGS := clang libclang-rt-14-dev llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config \
	    make gcc binutils util-linux python3 python3-pytest python3.11 python3.11-dbg \
	    python3-werkzeug python3-scalene golang-go chromium libxml2-utils
DEPS_STAMP := $(OUT)/.deps

.PHONY: all deps test unit integration demo floor bench vmtest clean fuzz fuzz-short fuzz-build unit-asan

all: $(BIN)

# Install missing Debian packages (root only; skipped when all are present).
deps: $(DEPS_STAMP)
$(DEPS_STAMP):
	@mkdir -p $(OUT)
	@missing=$$(for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "deps: installing $$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "deps: need root to apt-get install: $$missing" >&2; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	fi
	@touch $@

$(OUT):
	@mkdir -p $@

$(BPF_OBJ): bpf/pyleak.bpf.c bpf/pystack.bpf.h bpf/pyleak.h | $(DEPS_STAMP) $(OUT)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(SKEL): $(BPF_OBJ)
	$(BPFTOOL) gen skeleton $< > $@

$(OUT)/%.o: user/%.c user/*.h bpf/pyleak.h $(SKEL) | $(OUT)
	$(CC) $(CFLAGS) -c $< -o $@

$(BIN): $(USER_OBJ)
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# The benchmark's floor: same loader and hooks, BPF programs that return at
# once (-DPYLEAK_FLOOR), so only the uprobe traps are paid.
FLOOR_DIR := $(OUT)/floor
FLOOR_BIN := $(OUT)/pyleakbpf-floor
FLOOR_OBJ := $(patsubst user/%.c,$(FLOOR_DIR)/%.o,$(USER_SRC))

floor: $(FLOOR_BIN)

$(FLOOR_DIR)/pyleak.bpf.obj: bpf/pyleak.bpf.c bpf/pystack.bpf.h bpf/pyleak.h | $(DEPS_STAMP)
	@mkdir -p $(FLOOR_DIR)
	$(CLANG) $(BPF_CFLAGS) -DPYLEAK_FLOOR -c $< -o $@

$(FLOOR_DIR)/pyleak.skel.h: $(FLOOR_DIR)/pyleak.bpf.obj
	$(BPFTOOL) gen skeleton $< name pyleak_bpf > $@

$(FLOOR_DIR)/%.o: user/%.c user/*.h bpf/pyleak.h $(FLOOR_DIR)/pyleak.skel.h
	$(CC) $(filter-out -I$(OUT),$(CFLAGS)) -I$(FLOOR_DIR) -c $< -o $@

$(FLOOR_BIN): $(FLOOR_OBJ)
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(UNIT_BIN): $(UNIT_SRC) tests/unit/unit.h $(LIB_OBJ)
	$(CC) $(CFLAGS) -Itests/unit $(UNIT_SRC) $(LIB_OBJ) $(LDLIBS) -o $@

unit: $(UNIT_BIN)
	./$(UNIT_BIN)

integration: $(BIN)
	$(PYTEST) -ra -v tests

test: $(DEPS_STAMP)
	$(MAKE) $(BIN) $(UNIT_BIN)
	./$(UNIT_BIN)
	$(PYTEST) -ra -v tests

demo: $(DEPS_STAMP)
	$(MAKE) $(BIN)
	./demo/run.sh

# The benchmark (not a test): overhead of tracing per workload, build and
# configuration, written to bench/results.md. Needs root; a missing pyenv
# build is skipped. `make bench BENCH_ARGS=--quick` is a two-minute smoke run.
BENCH_ARGS ?=
bench: $(BIN) floor
	/usr/bin/python3 bench/run.py $(BENCH_ARGS)

# Fuzzing (libFuzzer, clang): every parser of memory and files the target
# controls, over a fake address space (tests/fuzz/). `make fuzz` runs each
# harness FUZZ_SECONDS; `make fuzz-short` all of them in about 90 s (CI).
# Both first replay tests/fuzz/regress/<target>/.
FUZZ_DIR     := $(OUT)/fuzz
FUZZ_TARGETS := linetable symbolize objtypes heapscan elf maps \
		$(if $(wildcard user/liveness.c),liveness)
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS  := -O1 -g -fno-omit-frame-pointer -std=gnu11 -D_GNU_SOURCE -Wall \
		-Wno-unused-parameter -fsanitize=address,undefined \
		-fno-sanitize-recover=undefined -Ibpf -Iuser -Itests/fuzz
FUZZ_LIB_SRC := user/target.c user/elffile.c user/pyversions.c user/symbolize.c \
		user/native.c user/objtypes.c user/heapscan.c \
		$(wildcard user/linetable.c user/liveness.c user/liveness_glibc.c)
FUZZ_LIB_OBJ := $(patsubst user/%.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_LIB_SRC)) \
		$(FUZZ_DIR)/obj/fakemem.o
FUZZ_BINS    := $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_TARGETS))

$(FUZZ_DIR)/obj/%.o: user/%.c user/*.h bpf/pyleak.h tests/fuzz/coverage-ignore.txt | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
		-fsanitize-coverage-ignorelist=tests/fuzz/coverage-ignore.txt -c $< -o $@

# not inlined, so that the ignore list can name the radix sort
$(FUZZ_DIR)/obj/objtypes.o $(FUZZ_DIR)/obj/liveness.o: FUZZ_CFLAGS += -fno-inline

# the fake target is not what is fuzzed: no coverage, no comparison tracing
$(FUZZ_DIR)/obj/fakemem.o: tests/fuzz/fakemem.c tests/fuzz/fakemem.h user/*.h
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fakemem.h $(FUZZ_LIB_OBJ)
	$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_LIB_OBJ) -lelf -lz -o $@

fuzz-build: $(FUZZ_LIB_OBJ) $(FUZZ_BINS)

fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-short: fuzz-build
	tests/fuzz/run.sh $(FUZZ_DIR) 14 $(FUZZ_TARGETS)

# The unit tests built with AddressSanitizer and UBSan (own objects, own dir).
ASAN_DIR    := $(OUT)/asan
ASAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	       -fno-sanitize-recover=undefined
ASAN_OBJ    := $(patsubst $(OUT)/%.o,$(ASAN_DIR)/%.o,$(LIB_OBJ))

$(ASAN_DIR)/%.o: user/%.c user/*.h bpf/pyleak.h $(SKEL)
	@mkdir -p $(dir $@)
	$(CLANG) $(CFLAGS) $(ASAN_CFLAGS) -c $< -o $@

$(ASAN_DIR)/unit_tests: $(UNIT_SRC) tests/unit/unit.h $(ASAN_OBJ)
	$(CLANG) $(CFLAGS) $(ASAN_CFLAGS) -Itests/unit $(UNIT_SRC) $(ASAN_OBJ) $(LDLIBS) -o $@

unit-asan: $(ASAN_DIR)/unit_tests
	./$(ASAN_DIR)/unit_tests

# The core integration tests on Debian 12's own kernel (6.1), booted in
# QEMU on the host's / shared read-only (tests/vm/run.sh); the kernel
# package and the initramfs live in build/vm/. Its own packages, installed
# by the same `deps` rule. tests/vm/run.sh exits with the guest's pytest
# exit code (make then fails); VMTEST_K, VMTEST_FILES: which tests.
VM_PKGS := qemu-system-x86 busybox-static kmod cpio
VM_DEPS_STAMP := $(OUT)/.vmdeps
VMTEST_K ?=

ifneq ($(DEPS_STAMP),$(VM_DEPS_STAMP))
$(VM_DEPS_STAMP):
	@$(MAKE) --no-print-directory DEB_PKGS='$(VM_PKGS)' DEPS_STAMP=$@ $@
endif

vmtest: $(DEPS_STAMP) $(VM_DEPS_STAMP)
	$(MAKE) $(BIN)
	VMTEST_K='$(VMTEST_K)' tests/vm/run.sh

clean:
	rm -rf $(OUT) $(BIN)
