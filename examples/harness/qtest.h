/* qtest.h - drive QEMU's devices from an ordinary Linux process.
 *
 * A client for QEMU's qtest protocol (a line-based text protocol on a
 * socket: "readl ADDR" -> "OK 0x...", "writew ADDR VALUE" -> "OK",
 * "inb PORT", "outl PORT VALUE", ...) and the virtio_platform that routes
 * virtio.h's register, PCI configuration and DMA hooks through it:
 *
 *   registers  reg_read/reg_write become qtest reads and writes of the
 *              machine's physical addresses; PCI I/O ports go to the host
 *              bridge's I/O window (MMIO at pio_base + port, riscv64 and
 *              aarch64 virt) or to qtest's port commands (x86).
 *   PCI config pci_read/pci_write: ECAM through qtest (virt machines) or
 *              ports 0xcf8/0xcfc (x86 q35).
 *   DMA        guest RAM is a file QEMU maps shared (memory-backend-file,
 *              share=on); this process maps the same file. dma_alloc hands
 *              out pages of it: CPU pointer = mapping + offset, device
 *              address = RAM base + offset, so the two differ. dma_map
 *              translates a buffer inside that RAM and bounces any other
 *              one (the process's heap or stack) through pages of it.
 *              VIRTIO_MEM_PRIVATE memory comes from the process's heap:
 *              the device cannot reach it at all.
 *   time       now_us from CLOCK_MONOTONIC; idle sleeps a few
 *              microseconds, so QEMU gets the CPU while a wait polls.
 *
 * The qtest server must run in QEMU without the qtest accelerator (Debian
 * builds none): tests/harness/test_harness.py shows the command line
 * (TCG, a parked CPU, the shared RAM file). Every function here exits the
 * process with status 3 if QEMU answers an error or goes away: a harness
 * cannot go on without its machine.
 */
#ifndef QTEST_H
#define QTEST_H
#include <stddef.h>
#include <stdint.h>
#include "../../virtio.h"

typedef struct qtest {
    int fd;
    char in[256];                 /* response bytes not yet consumed */
    size_t in_len;
    unsigned long commands;       /* qtest commands sent: one per register access */

    /* The machine (set by the caller before qtest_platform). */
    uint64_t ecam;                /* PCI ECAM base; 0: ports 0xcf8/0xcfc */
    uint64_t pio_base;            /* PCI I/O window (MMIO); 0: qtest in/out */

    /* Guest RAM shared with QEMU, and the DMA pool inside it. */
    unsigned char *ram;
    uint64_t ram_base;
    size_t ram_size;
    size_t pool_off;              /* first pool page, bytes from ram */
    size_t pool_pages;
    unsigned char *page_used;     /* one byte per pool page */

    /* Counters for leak checks and the report. */
    size_t dma_bytes, private_bytes, bounce_bytes;   /* outstanding now */
    unsigned long bounces, translations;
} qtest;

/* Connect to QEMU's qtest socket (a unix socket path). 0 or -1. */
int qtest_open(qtest *t, const char *path);
void qtest_close(qtest *t);

/* Memory reads and writes of width 1, 2, 4 or 8 bytes at a guest physical
   address, in the target's byte order (as its CPU would load them). */
uint64_t qtest_read(qtest *t, uint64_t addr, unsigned width);
void qtest_write(qtest *t, uint64_t addr, unsigned width, uint64_t value);

/* I/O port access (x86), width 1, 2 or 4. */
uint32_t qtest_in(qtest *t, uint16_t port, unsigned width);
void qtest_out(qtest *t, uint16_t port, unsigned width, uint32_t value);

/* Map the RAM file QEMU shares (size bytes of guest RAM at guest physical
   address base) and make [pool_off, pool_off + pool_size) of it the DMA
   pool (page-aligned). Everything else in RAM is QEMU's (firmware, device
   tree). 0 or -1. */
int qtest_map_ram(qtest *t, const char *file, uint64_t base, size_t size, size_t pool_off, size_t pool_size);

/* Fill *p with the hooks above (user = t). */
void qtest_platform(qtest *t, virtio_platform *p);

#endif
