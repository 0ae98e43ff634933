/* port.h - the bare-metal ports the examples and QEMU test guests run on.
 *
 * One small API over three QEMU machines (riscv64 "virt", aarch64 "virt",
 * x86_64 "q35"): a console on the UART, a microsecond clock, power-off, a
 * DMA pool and a filled-in virtio_platform. examples/port/README.md has
 * the memory maps. A guest provides main(); the startup code calls it and
 * powers the machine off with its return value.
 */
#ifndef PORT_H
#define PORT_H
#include <stddef.h>
#include <stdint.h>
#include "../../virtio.h"

void port_init(void);                        /* called by the startup code before main */
void port_putc(char c);
void port_puts(const char *s);
int port_getc(void);                         /* next byte from the UART, -1 if none waiting */
void port_printf(const char *fmt, ...);      /* %d %i %u %x %X %s %c %p %%, l/ll/z, width, 0 and - flags */
uint64_t port_now_us(void);                  /* monotonic microseconds since boot */
void port_exit(int code) __attribute__((noreturn));   /* power off; 0 = success */
const char *port_arch(void);

/* The platform for virtio.h: DMA pool, clock, PCI access, barriers. */
const virtio_platform *port_platform(void);
/* Bytes left in the DMA pool (for tests that look for leaks). */
size_t port_dma_free_bytes(void);

/* Where virtio-mmio devices may sit on this machine (count 0 on x86). */
extern const uintptr_t port_mmio_base;
extern const uintptr_t port_mmio_stride;
extern const uint32_t port_mmio_count;

/* Assign PCI BARs from the host bridge windows where no firmware did
   (riscv64, aarch64); on x86 SeaBIOS has done it already. */
void port_pci_setup(void);

/* libc subset for freestanding guests. */
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

/* Machine specifics, implemented per architecture. */
struct port_machine {
    const char *arch;
    uintptr_t pci_ecam, pci_io_base;         /* CPU addresses; 0 = none / x86 ports */
    uint32_t pci_buses;
    uint64_t mem32_base, mem32_size;         /* PCI memory window for BARs (0: firmware assigns) */
    uint64_t io_base, io_size;               /* PCI I/O window (port numbers) */
};
extern const struct port_machine port_machine;
void port_arch_init(void);
void port_arch_putc(char c);
int port_arch_getc(void);
uint64_t port_arch_now_us(void);
void port_arch_exit(int code) __attribute__((noreturn));
void port_arch_relax(void);
#endif
