/* port.h - the bare-metal ports the examples and QEMU test guests run on.
 *
 * One small API over three QEMU machines: riscv64 "virt", aarch64 "virt"
 * (highmem=off) and x86_64 "q35". It gives a guest program a console on
 * the UART, a microsecond clock, power-off with an exit code, a DMA pool,
 * a filled-in virtio_platform and, where no firmware did it, PCI BAR
 * assignment. examples/port/README.md has the memory maps.
 *
 * A guest provides `int main(void)`. The startup code (<arch>/start.S)
 * sets up the CPU (stack, MMU or page tables, trap vector), calls
 * port_init(), then main(), then port_exit() with main's return value.
 * Guests never call port_init() themselves.
 */
#ifndef PORT_H
#define PORT_H
#include <stddef.h>
#include <stdint.h>
#include "../../virtio.h"   /* declarations only: for virtio_platform */

/* Console, clock, trap vectors, PCI access: called by start.S before
   main(), never by guests. */
void port_init(void);

/* ---- console and time ------------------------------------------------ */
void port_putc(char c);                      /* '\n' goes out as "\r\n" */
void port_puts(const char *s);
int port_getc(void);                         /* byte from the UART, -1 if none waiting (never blocks) */
/* %d %i %u %x %X %s %c %p %%; l, ll and z sizes; width, '0' and '-' flags */
void port_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t port_now_us(void);                  /* monotonic microseconds (near 0 at boot) */
const char *port_arch(void);                 /* "riscv64", "aarch64" or "x86_64" */

/* Power the machine off. The code reaches QEMU's exit status where the
   machine can carry it (README.md, "Exit codes"); the port also prints
   "port: exit <code>" as the last UART line, for every machine. */
void port_exit(int code) __attribute__((noreturn));
#define PORT_EXIT_TRAP 99   /* the code port_exit gets after a CPU exception */

/* ---- VirtIO ------------------------------------------------------------ */
/* The platform for virtio.h: DMA pool (identity device addresses),
   clock, idle hint, PCI configuration access, a log on the UART. */
const virtio_platform *port_platform(void);
size_t port_dma_free_bytes(void);            /* what the pool has left (leak checks) */

/* Where virtio-mmio devices may sit (count 0 on x86 q35). Slot i is at
   port_mmio_base + i * port_mmio_stride. */
extern const uintptr_t port_mmio_base;
extern const uintptr_t port_mmio_stride;
extern const uint32_t port_mmio_count;

/* Give every PCI function on the scanned buses its BARs (32- and 64-bit
   memory, I/O) from the host bridge windows and turn decoding and bus
   mastering on: riscv64 and aarch64 start without firmware. On x86
   SeaBIOS has done it; there this only checks the result. Call it once
   before using PCI devices (calling it again does nothing). Returns the
   number of BARs that could not be placed (0 = all fine). */
int port_pci_setup(void);

/* The VirtIO devices of `type` (0: any) on this machine, virtio-mmio slots
   first, then PCI functions, probed into devs[0..max). Returns how many;
   a device that fails to probe is reported on the console and skipped. */
int port_find_devices(uint32_t type, virtio_device *devs, int max);

/* 32-bit PCI configuration access (bdf = bus << 8 | dev << 3 | fn; off
   4-byte aligned), the way the port reaches it on this machine. */
uint32_t port_pci_read32(uint32_t bdf, unsigned off);
void port_pci_write32(uint32_t bdf, unsigned off, uint32_t value);

/* ---- libc subset for freestanding guests (and for the compiler) ------- */
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

/* ---- what each <arch>/port.c provides -------------------------------- */
struct port_machine {
    const char *arch;
    uintptr_t pci_ecam;        /* ECAM base; 0 = ports 0xcf8/0xcfc (x86) */
    uintptr_t pci_io_base;     /* CPU address of PCI I/O space; 0 = x86 in/out */
    uint32_t pci_buses;        /* buses scanned by the port and the library */
    uint64_t mem32_base, mem32_size;   /* PCI memory windows for BARs; */
    uint64_t mem64_base, mem64_size;   /* mem32_size 0: firmware assigned them */
    uint32_t io_base, io_size;         /* PCI I/O ports handed out */
    uint64_t addr_limit;       /* the CPU reaches physical addresses below this */
};
extern const struct port_machine port_machine;

void port_arch_init(void);
void port_arch_putc(char c);
int port_arch_getc(void);
uint64_t port_arch_now_us(void);
void port_arch_relax(void);
void port_arch_exit(int code) __attribute__((noreturn));   /* pass code to the host if possible */
void port_arch_poweroff(void) __attribute__((noreturn));   /* plain power-off */

/* Called by the trap vectors in start.S: report the exception, exit. */
void port_trap(uint64_t cause, uint64_t pc, uint64_t addr) __attribute__((noreturn));
#endif
