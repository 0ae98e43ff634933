# port.mk - build bare-metal guests for the QEMU machines (GNU make).
#
# Included by the top-level Makefile; also works on its own from the
# repository root:  make -f examples/port/port.mk port-check
#
# A guest is one or more C files plus the port. Declare it with one line:
#     $(eval $(call port_guest,NAME,SOURCES))
# to get $(PORT_BUILD)/<arch>/NAME.elf for every arch in PORT_ARCHES, all
# of them prerequisites of the `guests` target. Objects go to
# $(PORT_BUILD)/<arch>/obj/NAME/ (the port's own to .../obj/port/), with
# header dependencies from -MMD. Every .elf boots with -kernel on its
# machine, x86_64 included (Multiboot; see x86_64/start.S).
# Declaring the same NAME twice keeps the first declaration.

# On its own, `make -f examples/port/port.mk` builds every declared guest.
ifeq ($(.DEFAULT_GOAL),)
.DEFAULT_GOAL := guests
endif

PORT_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
PORT_ARCHES := riscv64 aarch64 x86_64 riscv32 aarch64be armv7 i686 armv7be
# The folder each arch's port.c, start.S and link.ld come from: riscv32
# shares riscv64's (xlen decides the rest), aarch64be aarch64's, armv7be
# armv7's, i686 x86_64's.
PORT_SRCDIR_riscv64 := riscv64
PORT_SRCDIR_riscv32 := riscv64
PORT_SRCDIR_aarch64 := aarch64
PORT_SRCDIR_aarch64be := aarch64
PORT_SRCDIR_armv7 := armv7
PORT_SRCDIR_armv7be := armv7
PORT_SRCDIR_x86_64 := x86_64
PORT_SRCDIR_i686 := x86_64
PORT_BUILD ?= build
PORT_CC ?= clang
# make V=1 shows the commands.
PORT_Q = $(if $(V),,@)

PORT_WARN := -Wall -Wextra -Werror -pedantic -Wno-gnu-zero-variadic-macro-arguments
PORT_CFLAGS := -std=c99 -O2 -g -ffreestanding -fno-stack-protector -fno-pic -fno-common \
               -fno-asynchronous-unwind-tables $(PORT_WARN)
# Guests link with lld directly: clang 14's driver knows no bare-metal
# toolchain for aarch64_be (it would hand the link to the host's gcc).
PORT_LD ?= ld.lld
PORT_LDFLAGS := -static --build-id=none
PORT_CFLAGS_riscv64 := --target=riscv64-unknown-elf -march=rv64imac -mabi=lp64 -mcmodel=medany -mno-relax
PORT_CFLAGS_riscv32 := --target=riscv32-unknown-elf -march=rv32imac -mabi=ilp32 -mcmodel=medany -mno-relax
PORT_CFLAGS_aarch64 := --target=aarch64-unknown-elf -mcpu=cortex-a57
PORT_CFLAGS_aarch64be := --target=aarch64_be-unknown-elf -mcpu=cortex-a57
PORT_CFLAGS_armv7 := --target=armv7a-none-eabi -mcpu=cortex-a15 -marm -mfloat-abi=soft -fno-unwind-tables
PORT_CFLAGS_x86_64 := --target=x86_64-unknown-elf -mno-red-zone
PORT_CFLAGS_i686 := --target=i686-unknown-elf -mno-sse
PORT_CFLAGS_armv7be := --target=armebv7a-none-eabi -mcpu=cortex-a15 -marm -mfloat-abi=soft -fno-unwind-tables
# armv7be links with GNU ld (binutils-arm-none-eabi): BE8 images need
# --be8, which ld.lld 14 does not have.
PORT_LD_armv7be := arm-none-eabi-ld
PORT_LDFLAGS_armv7be := -EB --be8 --no-warn-execstack
PORT_SRCS = $(PORT_DIR)/common.c $(PORT_DIR)/pci.c $(PORT_DIR)/fdt.c $(PORT_DIR)/intc.c \
            $(PORT_DIR)/$(PORT_SRCDIR_$(1))/port.c $(PORT_DIR)/$(PORT_SRCDIR_$(1))/start.S

# $(call port_obj,ARCH,NAME,SOURCE): where SOURCE's object goes.
port_obj = $(PORT_BUILD)/$(1)/obj/$(2)/$(basename $(notdir $(3))).o

# $(call port_compile,ARCH,NAME,SOURCE): the rule for one object.
define port_compile
$(call port_obj,$(1),$(2),$(3)): $(3) $(PORT_DIR)/port.mk
	@mkdir -p $$(@D)
	$$(if $$(V),,@echo "  CC     $$@")
	$$(PORT_Q)$$(PORT_CC) $$(PORT_CFLAGS) $$(PORT_CFLAGS_$(1)) -MMD -MP -c -o $$@ $$<
-include $(basename $(call port_obj,$(1),$(2),$(3))).d
endef

# The port itself, once per arch.
$(foreach a,$(PORT_ARCHES),$(foreach s,$(call PORT_SRCS,$(a)),$(eval $(call port_compile,$(a),port,$(s)))))
port_objs = $(foreach s,$(call PORT_SRCS,$(1)),$(call port_obj,$(1),port,$(s)))

# $(call port_guest_arch,ARCH,NAME,SOURCES)
define port_guest_arch
$(foreach s,$(3),$(eval $(call port_compile,$(1),$(2),$(s))))
$(PORT_BUILD)/$(1)/$(2).elf: $(foreach s,$(3),$(call port_obj,$(1),$(2),$(s))) $(call port_objs,$(1)) $(PORT_DIR)/$(PORT_SRCDIR_$(1))/link.ld
	$$(if $$(V),,@echo "  GUEST  $$@")
	$$(PORT_Q)$$(or $$(PORT_LD_$(1)),$$(PORT_LD)) $$(PORT_LDFLAGS) $$(PORT_LDFLAGS_$(1)) -T $(PORT_DIR)/$(PORT_SRCDIR_$(1))/link.ld -o $$@ \
		$(foreach s,$(3),$(call port_obj,$(1),$(2),$(s))) $(call port_objs,$(1))
endef

# $(call port_guest,NAME,SOURCES): NAME for every architecture.
define port_guest
$(if $(PORT_GUEST_$(1)),,$(eval PORT_GUEST_$(1) := $(2))
$(foreach a,$(PORT_ARCHES),$(eval $(call port_guest_arch,$(a),$(1),$(2))))
guests: $(foreach a,$(PORT_ARCHES),$(PORT_BUILD)/$(a)/$(1).elf))
endef

.PHONY: guests port-check
$(eval $(call port_guest,hello,$(PORT_DIR)/hello.c))

# QEMU command lines the ports expect: the UART on stdin/stdout, no
# monitor, no display, no default devices or NICs, power-off ends QEMU.
# x86_64 adds isa-debug-exit (non-zero exit codes) and the arm machines
# semihosting (ditto); both are optional: without them every exit status
# is 0 and the "port: exit <code>" line on the UART is what tells. armv7
# needs highmem=off: QEMU would otherwise put the PCIe ECAM above 4 GiB.
PORT_QEMU_COMMON := -m 256M -smp 1 -display none -serial stdio -monitor none -nodefaults -nic none -no-reboot
PORT_QEMU_SEMIHOSTING := -semihosting-config enable=on,target=native
PORT_QEMU_riscv64 := qemu-system-riscv64 -machine virt -bios none $(PORT_QEMU_COMMON)
PORT_QEMU_riscv32 := qemu-system-riscv32 -machine virt -bios none $(PORT_QEMU_COMMON)
PORT_QEMU_aarch64 := qemu-system-aarch64 -machine virt -cpu cortex-a57 $(PORT_QEMU_SEMIHOSTING) $(PORT_QEMU_COMMON)
PORT_QEMU_aarch64be := $(PORT_QEMU_aarch64)
PORT_QEMU_armv7 := qemu-system-arm -machine virt,highmem=off -cpu cortex-a15 $(PORT_QEMU_SEMIHOSTING) \
                   $(PORT_QEMU_COMMON)
PORT_QEMU_armv7be := $(PORT_QEMU_armv7)
PORT_QEMU_x86_64 := qemu-system-x86_64 -machine q35 -device isa-debug-exit,iobase=0xf4,iosize=4 \
                    $(PORT_QEMU_COMMON)
PORT_QEMU_i686 := qemu-system-i386 -machine q35 -device isa-debug-exit,iobase=0xf4,iosize=4 $(PORT_QEMU_COMMON)

# Boot hello on every machine with VirtIO devices attached and check what
# it prints and how QEMU exits (examples/port/check.sh). PORT_ARCHES=...
# on the make command line narrows it.
port-check: $(foreach a,$(PORT_ARCHES),$(PORT_BUILD)/$(a)/hello.elf)
	PORT_BUILD='$(PORT_BUILD)' PORT_ARCHES='$(PORT_ARCHES)' \
	$(foreach a,$(PORT_ARCHES),PORT_QEMU_$(a)='$(PORT_QEMU_$(a))') sh $(PORT_DIR)/check.sh
