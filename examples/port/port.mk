# port.mk - building bare-metal guests for the QEMU machines.
#
# Included by the top-level Makefile. A guest is one or more C files plus
# the port; declare it with one line:
#     $(eval $(call port_guest,NAME,SOURCES))
# which gives build/<arch>/NAME.elf for every architecture in PORT_ARCHES.
# x86_64 images are re-wrapped as ELF32, the format QEMU's Multiboot
# loader accepts; their code is still 64-bit.

PORT_ARCHES := riscv64 aarch64 x86_64
PORT_CC ?= clang
PORT_OBJCOPY ?= objcopy
PORT_WARN := -Wall -Wextra -Werror -pedantic -Wno-gnu-zero-variadic-macro-arguments
PORT_CFLAGS := -std=c99 -O2 -g -ffreestanding -fno-stack-protector -fno-pic -fno-common \
               -nostdlib -static -fuse-ld=lld $(PORT_WARN)
PORT_CFLAGS_riscv64 := --target=riscv64-unknown-elf -march=rv64imac -mabi=lp64 -mcmodel=medany -mno-relax
PORT_CFLAGS_aarch64 := --target=aarch64-unknown-elf -mstrict-align
PORT_CFLAGS_x86_64 := --target=x86_64-unknown-elf -mno-red-zone
PORT_DEPS := examples/port/port.h examples/port/common.c examples/port/port.mk \
             virtio.h virtio_blk.h virtio_net.h virtio_input.h virtio_gpu.h
port_srcs = examples/port/common.c examples/port/$(1)/port.c examples/port/$(1)/start.S

# $(call port_guest_arch,ARCH,NAME,SOURCES)
define port_guest_arch
build/$(1)/$(2).elf: $(3) $(call port_srcs,$(1)) examples/port/$(1)/link.ld $(PORT_DEPS) $$(wildcard $$(dir $(firstword $(3)))*.h)
	@mkdir -p build/$(1)
	@echo "  GUEST  $$@"
	@$$(PORT_CC) $$(PORT_CFLAGS) $$(PORT_CFLAGS_$(1)) -Wl,-T,examples/port/$(1)/link.ld \
		-o $$@$(if $(filter x86_64,$(1)),.64) $(3) $(call port_srcs,$(1))
	$(if $(filter x86_64,$(1)),@$$(PORT_OBJCOPY) -O elf32-i386 $$@.64 $$@)
endef

# $(call port_guest,NAME,SOURCES): the guest for every architecture.
define port_guest
$(foreach a,$(PORT_ARCHES),$(eval $(call port_guest_arch,$(a),$(1),$(2))))
guests: $(foreach a,$(PORT_ARCHES),build/$(a)/$(1).elf)
endef

# QEMU command lines the ports expect (the test runner builds its own).
PORT_QEMU_riscv64 := qemu-system-riscv64 -machine virt -bios none -m 256M
PORT_QEMU_aarch64 := qemu-system-aarch64 -machine virt,highmem=off -cpu cortex-a57 -m 256M
PORT_QEMU_x86_64 := qemu-system-x86_64 -machine q35 -m 256M -device isa-debug-exit,iobase=0xf4,iosize=4
PORT_QEMU_COMMON := -display none -serial stdio -monitor none -nic none -no-reboot
