# virtio.h - make targets. `make test` runs everything CI runs.
.PHONY: all test demo bench bench-peers guests clean compile unit unit-run unit-msan-run unit-tcc-run unit-mips-run fuzz fuzz-smoke
all: guests

include examples/port/port.mk
include tests/model/Makefile.inc

# ---- host unit tests: tests/unit/test_*.c, each a program against the
# device model, under ASan and UBSan. Each prints PASS/FAIL lines.
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,build/unit/%,$(UNIT_SRCS))
UNIT_CFLAGS := $(MODEL_CFLAGS) -Wno-conversion -DVIRTIO_DEBUG
LIB_HDRS := virtio.h virtio_blk.h virtio_net.h virtio_input.h virtio_gpu.h virtio_console.h virtio_rng.h

build/unit/%: tests/unit/%.c tests/unit/unit.h $(MODEL_SRCS) $(MODEL_HDRS) $(LIB_HDRS)
	@mkdir -p build/unit
	@echo "  UNIT   $@"
	@$(MODEL_CC) $(UNIT_CFLAGS) $(MODEL_INC) -Itests/unit $< $(MODEL_SRCS) -o $@

# test_boot_fdt compiles the bootloader example itself.
build/unit/test_boot_fdt: examples/boot_linux.c examples/port/port.h

# Two more builds of tests/unit/test_*.c, each against the model compiled
# once with the same flags (build/<name>/model/*.o); result lines say
# "unit-be" / "unit-bytewise".
#   unit-be        -DVIRTIO_BIG_ENDIAN=1: the library speaks as a big-endian
#                  CPU (legacy rings, payloads and configuration in its
#                  order) and the model plays the device side of a
#                  big-endian guest (model.h, BIG-ENDIAN GUEST), so a
#                  byte-order slip fails here on a little-endian host.
#   unit-bytewise  a compiler that says nothing about itself: no byte-order
#                  macros, not GCC-compatible, so the byte-wise fallbacks
#                  (virtio_store/virtio_load, VIRTIO_MEMCPY, the gpu and
#                  input drivers' little-endian helpers) are what runs.
UNIT_BE_BINS := $(patsubst %,build/unit-be/test_%,core blk blk_minimal boot_stage net console rng input gpu)
UNIT_BYTEWISE_BINS := $(patsubst %,build/unit-bytewise/test_%,blk input gpu)

define unit_build
$(1)_MODEL_OBJS := $$(patsubst tests/model/%.c,build/$(1)/model/%.o,$$(MODEL_SRCS))
.SECONDARY: $$($(1)_MODEL_OBJS)
build/$(1)/model/%.o: tests/model/%.c $$(MODEL_HDRS)
	@mkdir -p $$(@D)
	@$$(MODEL_CC) $$(MODEL_CFLAGS) $(2) $$(MODEL_INC) -c $$< -o $$@
build/$(1)/%: tests/unit/%.c tests/unit/unit.h $$($(1)_MODEL_OBJS) $$(LIB_HDRS)
	@echo "  UNIT   $$@"
	@$$(MODEL_CC) $$(UNIT_CFLAGS) $(2) -DUNIT_TAG='"$(1)"' $$(MODEL_INC) -Itests/unit $$< $$($(1)_MODEL_OBJS) -o $$@
endef
$(eval $(call unit_build,unit-be,-DVIRTIO_BIG_ENDIAN=1))
$(eval $(call unit_build,unit-bytewise,-U__BYTE_ORDER__ -U__GNUC__ -U__clang__))

unit: $(UNIT_BINS) $(UNIT_BE_BINS) $(UNIT_BYTEWISE_BINS) build/model_selftest

unit-run: unit
	@./build/model_selftest >/dev/null 2>&1 && echo "PASS model selftest" || echo "FAIL model selftest: run ./build/model_selftest"
	@for t in $(UNIT_BINS) $(UNIT_BE_BINS) $(UNIT_BYTEWISE_BINS); do $$t || echo "FAIL $$t: exit status $$?"; done

# The unit tests once more under MemorySanitizer (clang; it cannot share
# a build with ASan): a read of memory that nothing wrote fails, in the
# library, the model or a test (a driver object never zeroed before its
# first init: every driver's init reads it to refuse a running one). The
# model marks fresh DMA and private allocations unwritten (model.c).
UNIT_MSAN_CFLAGS := $(filter-out -fsanitize=% -fno-sanitize-recover=%,$(UNIT_CFLAGS)) \
	-fsanitize=memory -fsanitize-memory-track-origins -fno-sanitize-recover=memory -DUNIT_TAG='"unit-msan"'
UNIT_MSAN_BINS := $(patsubst tests/unit/%.c,build/unit-msan/%,$(UNIT_SRCS))
build/unit-msan/%: tests/unit/%.c tests/unit/unit.h $(MODEL_SRCS) $(MODEL_HDRS) $(LIB_HDRS)
	@mkdir -p build/unit-msan
	@echo "  UNIT   $@"
	@clang $(UNIT_MSAN_CFLAGS) $(MODEL_INC) -Itests/unit $< $(MODEL_SRCS) -o $@
build/unit-msan/test_boot_fdt: examples/boot_linux.c examples/port/port.h
unit-msan-run: $(UNIT_MSAN_BINS)
	@for t in $(UNIT_MSAN_BINS); do $$t || echo "FAIL $$t: exit status $$?"; done

# And built by the Tiny C Compiler (tcc, a third C99 compiler with its
# own preprocessor and none of GCC's optimisations; no sanitizers): all
# but test_boot_fdt, whose bootloader example has x86 assembly tcc does
# not take. Skipped where tcc is missing (.ci/run installs it).
UNIT_TCC_BINS := $(patsubst tests/unit/%.c,build/unit-tcc/%,$(filter-out tests/unit/test_boot_fdt.c,$(UNIT_SRCS)))
build/unit-tcc/%: tests/unit/%.c tests/unit/unit.h $(MODEL_SRCS) $(MODEL_HDRS) $(LIB_HDRS)
	@mkdir -p build/unit-tcc
	@echo "  UNIT   $@"
	@tcc -std=c99 -g -Wall -Werror -DVIRTIO_DEBUG -DUNIT_TAG='"unit-tcc"' $(MODEL_INC) -Itests/unit $< $(MODEL_SRCS) -o $@
unit-tcc-run:
	@if ! command -v tcc >/dev/null; then \
		echo "SKIP unit-tcc: needs tcc (apt-get install tcc)"; \
	else \
		$(MAKE) -s $(UNIT_TCC_BINS) && \
		for t in $(UNIT_TCC_BINS); do $$t || echo "FAIL $$t: exit status $$?"; done; \
	fi

# The unit tests once more on a 32-bit big-endian CPU: MIPS32, built with
# Debian's cross gcc (static, no sanitizers) and run under qemu-mips
# (user-mode emulation); the model plays the big-endian guest. Left out:
# test_boot_fdt (the bootloader example is aarch64 and x86_64 only) and
# the model's selftest (its hand-written driver assumes a 64-bit
# little-endian host). .ci/run installs the tools.
UNIT_MIPS_CC ?= mips-linux-gnu-gcc
UNIT_MIPS_CFLAGS := $(filter-out -fsanitize=% -fno-sanitize-recover=%,$(UNIT_CFLAGS)) -Wno-sign-conversion -static -DUNIT_TAG='"unit-mips"'
UNIT_MIPS_BINS := $(patsubst tests/unit/%.c,build/unit-mips/%,$(filter-out tests/unit/test_boot_fdt.c,$(UNIT_SRCS)))
build/unit-mips/%: tests/unit/%.c tests/unit/unit.h $(MODEL_SRCS) $(MODEL_HDRS) $(LIB_HDRS)
	@mkdir -p build/unit-mips
	@echo "  UNIT   $@"
	@$(UNIT_MIPS_CC) $(UNIT_MIPS_CFLAGS) $(MODEL_INC) -Itests/unit $< $(MODEL_SRCS) -o $@
unit-mips-run:
	@if ! command -v $(UNIT_MIPS_CC) >/dev/null || ! command -v qemu-mips >/dev/null; then \
		echo "SKIP unit-mips: needs $(UNIT_MIPS_CC) and qemu-mips (apt-get install gcc-mips-linux-gnu libc6-dev-mips-cross qemu-user)"; \
	else \
		$(MAKE) -s $(UNIT_MIPS_BINS) && \
		for t in $(UNIT_MIPS_BINS); do qemu-mips $$t || echo "FAIL $$t: exit status $$?"; done; \
	fi

# ---- fuzzers: tests/fuzz/fuzz_*.c, libFuzzer with ASan and UBSan, the
# input plays the device. Corpora live in tests/fuzz/corpus/<name>/.
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRCS))
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 10

build/fuzz/%: tests/fuzz/%.c $(wildcard tests/fuzz/*.h) $(MODEL_SRCS) $(MODEL_HDRS) $(LIB_HDRS)
	@mkdir -p build/fuzz
	@echo "  FUZZ   $@"
	@clang -std=c99 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -DVIRTIO_DEBUG \
		-fno-sanitize-recover=undefined $(MODEL_INC) -Itests/fuzz $< $(MODEL_SRCS) -o $@

fuzz: $(FUZZ_BINS)
	@python3 tests/fuzz/run.py --seconds $(FUZZ_SECONDS) $(FUZZ_BINS)

fuzz-smoke: $(FUZZ_BINS)
	@python3 tests/fuzz/run.py --smoke --seconds $(FUZZ_SMOKE_SECONDS) $(FUZZ_BINS)

$(eval $(call port_guest,blk_test,tests/qemu/guest/blk_test.c))
$(eval $(call port_guest,net_test,tests/qemu/guest/net_test.c))
$(eval $(call port_guest,input_test,tests/qemu/guest/input_test.c))
$(eval $(call port_guest,gpu_test,tests/qemu/guest/gpu_test.c))
$(eval $(call port_guest,fault_test,tests/qemu/guest/fault_test.c))
$(eval $(call port_guest,resize_test,tests/qemu/guest/resize_test.c))
$(eval $(call port_guest,console_test,tests/qemu/guest/console_test.c))
$(eval $(call port_guest,rng_test,tests/qemu/guest/rng_test.c))
$(eval $(call port_guest,boot_stage_test,tests/qemu/guest/boot_stage_test.c))
# The boot-stage guest is compiled as bench/boot_size.py measures the
# build (-Os, no FP or SIMD registers, as boot stages are built), so the bytes
# of the budget are the bytes that run in tests/qemu/test_boot_stage.py:
# boot_stage_test on virtio-mmio (x86: microvm), boot_stage_pci_test
# (BOOT_STAGE_PCI) on virtio-pci.
BOOT_STAGE_OBJ = $(PORT_BUILD)/$(1)/obj/boot_stage_test/boot_stage_test.o
$(eval $(call port_guest,boot_stage_pci_test,tests/qemu/guest/boot_stage_test.c))
BOOT_STAGE_PCI_OBJ = $(PORT_BUILD)/$(1)/obj/boot_stage_pci_test/boot_stage_test.o
$(foreach a,$(PORT_ARCHES),$(eval $(call BOOT_STAGE_PCI_OBJ,$(a)): PORT_CFLAGS_$(a) += -DBOOT_STAGE_PCI))
$(foreach o,BOOT_STAGE_OBJ BOOT_STAGE_PCI_OBJ,$(foreach a,$(PORT_ARCHES),$(eval $(call $(o),$(a)): PORT_CFLAGS_$(a) += -Os)))
$(foreach o,BOOT_STAGE_OBJ BOOT_STAGE_PCI_OBJ,$(foreach a,aarch64 aarch64be x86_64 i686,\
  $(eval $(call $(o),$(a)): PORT_CFLAGS_$(a) += -mgeneral-regs-only)))
$(foreach a,$(PORT_ARCHES),$(call BOOT_STAGE_OBJ,$(a)) $(call BOOT_STAGE_PCI_OBJ,$(a))): Makefile
$(eval $(call port_guest,blk_bench,bench/blk_bench.c))
$(eval $(call port_guest,net_bench,bench/net_bench.c))
$(eval $(call port_guest,gpu_bench,bench/gpu_bench.c))
$(eval $(call port_guest,demo,examples/demo.c))
$(eval $(call port_guest,net_ping,examples/net_ping.c))
$(eval $(call port_guest,input_echo,examples/input_echo.c))
$(eval $(call port_guest,boot_linux,examples/boot_linux.c))
$(eval $(call port_guest,irq_kernel,examples/irq_kernel.c))
# README.md's first C block, compiled as written (test_examples.py runs it).
README_INC := build/readme/readme_head.inc build/readme/readme_body.inc
$(README_INC) &: README.md tests/qemu/guest/readme_extract.py
	@python3 tests/qemu/guest/readme_extract.py README.md build/readme
$(eval $(call port_guest,readme_quickstart,tests/qemu/guest/readme_quickstart.c))
README_OBJ = $(PORT_BUILD)/$(1)/obj/readme_quickstart/readme_quickstart.o
$(foreach a,$(PORT_ARCHES),$(eval $(call README_OBJ,$(a)): $(README_INC)))
$(foreach a,$(PORT_ARCHES),$(eval $(call README_OBJ,$(a)): PORT_CFLAGS_$(a) += -Ibuild/readme -I.))

test: guests
	python3 tests/run.py

demo: build/riscv64/demo.elf
	python3 examples/demo.py

bench: guests
	python3 bench/run.py

# virtio.h beside U-Boot and a Linux guest with fio (Debian's packages,
# downloaded once into build/): not part of `make test`.
bench-peers: build/riscv64/blk_bench.elf build/x86_64/blk_bench.elf
	python3 bench/peers.py

compile:
	python3 tests/compile/run.py

clean:
	rm -rf build
