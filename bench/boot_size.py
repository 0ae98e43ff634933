#!/usr/bin/env python3
"""The boot-stage size budget: core + blk in the smallest build, linked.

Builds bench/boot_stage.c (probe, init, read, write, flush, shutdown on
one transport) at -Os for each architecture of the size table with
virtio_blk.h's VIRTIO_BLK_MINIMAL and virtio.h's VIRTIO_NO_* macros for
what it does not use, links it with --gc-sections (as a boot stage is
linked: what nothing calls is dropped), and reports the .text + .rodata
of the library: the program's own functions (boot_stage, its allocator)
and the C library's memcpy / memset are not counted. With --check, exits
1 if any architecture is above the budget (8 KiB).
"""
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUDGET = 8192
TARGETS = [("riscv64", "riscv64-unknown-elf", ["-mcmodel=medany"]), ("aarch64", "aarch64-unknown-elf", []),
           ("x86_64", "x86_64-unknown-elf", []), ("armv7 (32-bit)", "armv7a-none-eabi", os.environ.get("ARM_EXTRA", "").split()),
           ("i686 (32-bit)", "i686-unknown-elf", [])]
BUILDS = [("virtio-mmio", ["-DVIRTIO_NO_PCI"]), ("virtio-pci", ["-DVIRTIO_NO_MMIO", "-DBOOT_PCI"])]
COMMON = ["-DVIRTIO_BLK_MINIMAL", "-DVIRTIO_NO_LEGACY", "-DVIRTIO_NO_PACKED", "-DVIRTIO_NO_STRINGS",
          "-DVIRTIO_DIRECT_REGS", "-DVIRTIO_NO_INDIRECT", "-DVIRTIO_NO_EVENT_IDX", "-DVIRTIO_NO_DMA_MAP", "-DVIRTIO_NO_LOG"]
LIBC = r"""
#include <stddef.h>
void *memcpy(void *d, const void *s, size_t n) { unsigned char *a = d; const unsigned char *b = s; while (n--) *a++ = *b++; return d; }
void *memset(void *d, int v, size_t n) { unsigned char *a = d; while (n--) *a++ = (unsigned char)v; return d; }
void __aeabi_memclr(void *d, size_t n) { memset(d, 0, n); }
void __aeabi_memclr4(void *d, size_t n) { memset(d, 0, n); }
void __aeabi_memclr8(void *d, size_t n) { memset(d, 0, n); }
void __aeabi_memcpy(void *d, const void *s, size_t n) { memcpy(d, s, n); }
void __aeabi_memcpy4(void *d, const void *s, size_t n) { memcpy(d, s, n); }
void __aeabi_memcpy8(void *d, const void *s, size_t n) { memcpy(d, s, n); }
"""
NOT_LIBRARY = ("boot_stage", "boot_alloc", "memcpy", "memset")


def tool(name):
    return shutil.which("llvm-" + name) or name


def measure(tmp, triple, extra, flags):
    """Bytes of .text + .rodata the library adds to the linked program,
    and of those the block driver's functions (the rest is the core)."""
    cflags = ["clang", f"--target={triple}", "-Os"] + os.environ.get("BOOT_EXTRA", "").split() + [ "-ffreestanding", "-std=c99", "-ffunction-sections",
              "-fdata-sections"] + extra
    obj, libc, elf = (os.path.join(tmp, n) for n in ("boot.o", "libc.o", "boot.elf"))
    with open(os.path.join(tmp, "libc.c"), "w") as f:
        f.write(LIBC)
    subprocess.run(cflags + flags + ["-c", os.path.join(ROOT, "bench", "boot_stage.c"), "-o", obj], check=True)
    subprocess.run(cflags + ["-c", os.path.join(tmp, "libc.c"), "-o", libc], check=True)
    subprocess.run(["ld.lld", "-e", "boot_stage", "--gc-sections", "-static", obj, libc, "-o", elf], check=True)
    sections = subprocess.run([tool("size"), "-A", elf], capture_output=True, text=True, check=True).stdout
    total = sum(int(l.split()[1]) for l in sections.splitlines() if l.startswith((".text", ".rodata")))
    syms = subprocess.run([tool("nm"), "-S", "--radix=d", elf], capture_output=True, text=True, check=True).stdout
    blk = 0
    for line in syms.splitlines():
        w = line.split()
        if len(w) != 4 or w[2] not in "tT":
            continue
        if w[3] in NOT_LIBRARY or w[3].startswith("__aeabi_"):
            total -= int(w[1])
        elif "_blk_" in w[3]:
            blk += int(w[1])
    return total, blk


def main():
    check = "--check" in sys.argv[1:]
    tmp = tempfile.mkdtemp(prefix="vt-boot-")
    over = []
    try:
        print(f"| boot stage: core + blk linked, -Os, bytes of .text + .rodata (budget {BUDGET}) | "
              + " | ".join(b for b, _ in BUILDS) + " |")
        print("|---" * (len(BUILDS) + 1) + "|")
        for name, triple, extra in TARGETS:
            cells = []
            for build, flags in BUILDS:
                n, blk = measure(tmp, triple, extra, COMMON + flags)
                cells.append(f"{n} (core {n - blk}, blk {blk})" + ("" if n <= BUDGET else " over"))
                if n > BUDGET:
                    over.append(f"{name} {build}: {n}")
            print(f"| {name} | " + " | ".join(cells) + " |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if over:
        print(f"\nover the {BUDGET}-byte boot-stage budget: " + "; ".join(over))
    return 1 if check and over else 0


if __name__ == "__main__":
    sys.exit(main())
