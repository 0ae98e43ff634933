/* port.h - the bare-metal ports the examples and QEMU test guests run on.
 *
 * One small API over eight QEMU machines: riscv64 and riscv32 "virt",
 * aarch64 "virt" (little- and big-endian), armv7 "virt" (little- and
 * big-endian), and x86_64 and
 * i686 "q35". It gives a guest program a console on the UART, a microsecond
 * clock, power-off with an exit code, a DMA pool, a filled-in
 * virtio_platform, PCI BAR assignment where no firmware did it, and
 * interrupts (controller, handlers, MSI, a sleep) for guests that want them.
 * On the "virt" machines the layout (UART, PCI, virtio-mmio slots,
 * interrupt controller) comes from the device tree QEMU hands the guest.
 * examples/port/README.md has the memory maps.
 *
 * A guest provides `int main(void)`. The startup code (<arch>/start.S)
 * sets up the CPU (stack, MMU or page tables, trap and interrupt
 * vectors; interrupts stay masked until a guest asks), calls
 * port_init() with the boot register that may point at the device tree,
 * then main(), then port_exit() with main's return value. Guests never
 * call port_init() themselves.
 */
#ifndef PORT_H
#define PORT_H
#include <stddef.h>
#include <stdint.h>
#include "../../virtio.h"   /* declarations only: for virtio_platform */

/* Machine layout, console, clock, PCI access: called by start.S before
   main(), never by guests. boot_arg is the register in which the loader
   may pass the device tree (riscv a1, aarch64 x0, arm r2; 0 if none). */
void port_init(uintptr_t boot_arg);

/* ---- console and time ------------------------------------------------ */
void port_putc(char c);                      /* '\n' goes out as "\r\n" */
void port_puts(const char *s);
int port_getc(void);                         /* byte from the UART, -1 if none waiting (never blocks) */
/* %d %i %u %x %X %s %c %p %%; l, ll and z sizes; width, '0' and '-' flags */
void port_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t port_now_us(void);                  /* monotonic microseconds (near 0 at boot) */
const char *port_arch(void);                 /* "riscv64", "riscv32", "aarch64", "aarch64be", "armv7", "armv7be", "x86_64", "i686" */

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

/* Where virtio-mmio devices may sit (count 0 on x86 q35), from the
   device tree. Slot i is at port_mmio_base + i * port_mmio_stride. */
#define port_mmio_base (port_machine.mmio_base)
#define port_mmio_stride (port_machine.mmio_stride)
#define port_mmio_count (port_machine.mmio_count)

/* Give every PCI function on the scanned buses its BARs (32- and 64-bit
   memory, I/O) from the host bridge windows and turn decoding and bus
   mastering on, through virtio_pci_assign(): the "virt" machines start
   without firmware. On x86 SeaBIOS has done it; there this only checks
   that the CPU reaches every BAR. Call it once before using PCI devices
   (calling it again does nothing). Returns the number of BARs that could
   not be placed or reached (0 = all fine). */
int port_pci_setup(void);

/* The VirtIO devices of `type` (0: any) on this machine, virtio-mmio slots
   first, then PCI functions, probed into devs[0..max). Returns how many;
   a device that fails to probe is reported on the console and skipped. */
int port_find_devices(uint32_t type, virtio_device *devs, int max);

/* 32-bit PCI configuration access (bdf = bus << 8 | dev << 3 | fn; off
   4-byte aligned), the way the port reaches it on this machine. Without
   PCI (port_machine.pci_buses 0) reads give all-ones. */
uint32_t port_pci_read32(uint32_t bdf, unsigned off);
void port_pci_write32(uint32_t bdf, unsigned off, uint32_t value);

/* A 32-bit little-endian device register (virtio-mmio, ECAM, PL011, ...)
   in CPU order: a big-endian CPU swaps what its load or store carries. */
static inline uint32_t port_le32(uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return __builtin_bswap32(v);
#else
    return v;
#endif
}
static inline uint32_t port_reg_read32(uintptr_t addr) { return port_le32(*(volatile uint32_t *)addr); }
static inline void port_reg_write32(uintptr_t addr, uint32_t v) { *(volatile uint32_t *)addr = port_le32(v); }

/* ---- interrupts ------------------------------------------------------------
   For guests that sleep until a device interrupts instead of polling
   (examples/irq_kernel.c). The ports themselves poll; on x86 and arm
   their idle hint naps on the timer (port_irq_nap), which sets the
   controller up with every device interrupt masked. One CPU and no
   nesting: handlers run with interrupts off, one at a time. The machine's
   controller comes from the device tree (port_machine.intc):
     riscv64, riscv32   the PLIC, the context of hart 0 in machine mode (the
                        ports run in M-mode); no MSI (QEMU's virt has no
                        IMSIC unless asked for one)
     aarch64, aarch64be, armv7
                        GICv2 (QEMU 7.2 virt's default without KVM), MSI
                        through its GICv2m frame
     x86_64, i686       the local APIC and the I/O APIC; the 8259s are
                        masked; MSI messages go to the local APIC
   A source is the controller's own number: PLIC source, GIC interrupt ID,
   I/O APIC input; an MSI message's source is the interrupt it raises
   (GIC SPI, x86 vector).

   The sleep that cannot miss an interrupt: with interrupts disabled,
   look for work; if there is none, port_irq_wait(). An interrupt that
   came after the look is pending and ends the wait at once. */
typedef void (*port_irq_handler)(void *arg);

/* Run fn(arg) each time `source` interrupts, and unmask it at the
   controller. Several handlers may share a source (INTx lines are
   shared): each runs, and each asks its own device whether it
   interrupted. Returns 0, or -1 (no controller the port knows, a source
   it does not have, the handler table is full). */
int port_irq_attach(uint32_t source, port_irq_handler fn, void *arg);

/* The line a VirtIO device interrupts on (for port_irq_attach): a
   virtio-mmio device's "interrupts" in the device tree; a PCI function's
   INTx pin, swizzled by each bridge above it, through the host bridge's
   interrupt-map (virt), or on x86 the
   interrupt line SeaBIOS wrote into its configuration space (an I/O APIC
   input, ISA numbering: PIRQ routing to IRQ 10 and 11). Returns 0, or -1
   (no interrupt for it). */
int port_irq_line(const virtio_device *dev, uint32_t *source);

/* A new MSI message that runs fn(arg): the address and data a device
   writes to raise it (virtio_pci_msix_set takes them), and the source it
   raises (may be NULL). arm: the GICv2m doorbell and an SPI of its range
   (edge-triggered); x86: 0xfee00000 | APIC ID << 12 and a vector. Returns
   0, or -1 (no MSI controller on this machine, or all taken). */
int port_msi_alloc(port_irq_handler fn, void *arg, uint64_t *address, uint32_t *data, uint32_t *source);

void port_irq_enable(void);     /* the CPU takes interrupts */
void port_irq_disable(void);    /* the CPU holds them off (as at boot) */

/* Sleep until handlers have run, at most timeout_us (a timer wakes the
   CPU; it runs no handler). Call it with interrupts disabled; it returns
   with them disabled: 1 when handlers ran, 0 when the time was up. */
int port_irq_wait(uint64_t timeout_us);

/* A short sleep for polling loops: until the timer fires `us`
   microseconds from now or an interrupt comes, whichever is first; the
   CPU's interrupt mask is left as the caller had it. The x86 and arm
   ports' idle hint (the virtio_platform's idle) naps 5 us, so a guest
   waiting for a device gives the host CPU back to QEMU's I/O threads
   instead of spinning. The first call sets the controller up (device
   interrupts stay masked). Returns 0, or -1 without a controller or timer
   that could end the sleep (the caller then spins). */
int port_irq_nap(uint64_t us);

/* ---- memory the guest may use after the port -------------------------- */
/* Where RAM no part of the port uses starts: past the image, the stack
   and the DMA pool (a bootloader puts what it loads there). */
uintptr_t port_free_ram(void);

/* x86: the Multiboot information block the loader left (EBX at entry,
   checked against the magic value in EAX; Multiboot 0.6.96 section 3.2).
   0 elsewhere, or if the loader was not a Multiboot one. */
uintptr_t port_multiboot_info(void);

/* ---- device tree --------------------------------------------------------
   A bounds-checked reader for the flattened device tree (Devicetree
   Specification v0.4, chapter 5). Nodes are named by the offset of their
   begin token; a damaged blob ends a walk early instead of faulting. */
struct port_fdt {
    const uint8_t *blob;
    uint32_t struct_off, struct_end;   /* structure block, offsets into blob */
    uint32_t strings_off, strings_end; /* strings block */
};
#define PORT_FDT_MAX (16u << 20)   /* the largest tree the ports read */
/* 1 if blob starts a device tree no larger than max bytes (and fills t), else 0. */
int port_fdt_open(struct port_fdt *t, const void *blob, uint32_t max);
/* Nodes in document order: start with *node = -1 and *depth = 0; each
   call moves to the next node and its depth (root 0). 0 at the end. */
int port_fdt_next(const struct port_fdt *t, int32_t *node, int *depth);
/* A property's value and length, or NULL if the node has none. */
const uint8_t *port_fdt_prop(const struct port_fdt *t, int32_t node, const char *name, uint32_t *len);
/* 1 if `compat` is one of the node's "compatible" strings. */
int port_fdt_compatible(const struct port_fdt *t, int32_t node, const char *compat);
/* The node's name ("serial@10000000"; "" for the root). */
const char *port_fdt_name(const struct port_fdt *t, int32_t node);
/* n big-endian 32-bit cells (n <= 2) as a number. */
uint64_t port_fdt_cells(const uint8_t *p, uint32_t n);

/* ---- libc subset for freestanding guests (and for the compiler) ------- */
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

/* ---- the machine --------------------------------------------------------
   Filled in by port_init(): on the "virt" machines from the device tree
   (see port_machine_from_fdt), on x86 q35 from constants and SeaBIOS.
   Guests read it; they never write it. */
struct port_machine {
    const char *arch;
    uintptr_t pci_ecam;        /* ECAM base; 0 = ports 0xcf8/0xcfc (x86) */
    uintptr_t pci_io_base;     /* CPU address of PCI I/O space; 0 = x86 in/out */
    uint32_t pci_buses;        /* buses scanned by the port and the library; 0 = no PCI */
    uint64_t mem32_base, mem32_size;   /* the PCI host bridge's windows for BARs */
    uint64_t mem64_base, mem64_size;   /* (size 0: none), where port_pci_setup places them */
    uint32_t io_base, io_size;         /* or firmware did (firmware_bars) */
    uint64_t addr_limit;       /* the CPU reaches physical addresses below this */
    uintptr_t mmio_base, mmio_stride;  /* virtio-mmio slots (port_mmio_*) */
    uint32_t mmio_count;
    uintptr_t uart;            /* console UART (/chosen stdout-path); 0 on x86 (port 0x3f8) */
    uintptr_t timer;           /* riscv: CLINT base */
    uint64_t timer_hz;         /* riscv: mtime rate (timebase-frequency) */
    uintptr_t poweroff;        /* riscv: SiFive test device */
    int psci_smc;              /* arm: PSCI calls through smc, not hvc */
    /* The interrupt controller, for guests that take interrupts (the
       ports themselves poll): its first "compatible" string (NULL: none
       found), phandle, and register regions (riscv PLIC: one; arm GICv2:
       distributor, CPU interface; GICv3: distributor, redistributors).
       The interrupt calls below use them. */
    const char *intc;
    uint32_t intc_phandle;
    uint64_t intc_base[2], intc_size[2];
    const void *dtb;           /* the device tree all this came from (NULL on x86) */
    uint32_t plic_context;     /* riscv PLIC: hart 0's machine-mode context */
    uint64_t msi_base;         /* arm: the GICv2m frame (0: no MSI) */
    int firmware_bars;         /* 1: firmware placed the BARs (x86: SeaBIOS), 0: port_pci_setup does */
};
extern struct port_machine port_machine;

/* Read the layout from the device tree at blob (at most max bytes) into
   *m, on top of what *m holds (addr_limit, defaults). 1 if the tree is
   valid and names a UART; 0 otherwise (*m may be partly written). */
int port_fdt_machine(const void *blob, uint32_t max, struct port_machine *m);

/* Interrupt `index` of a node of tree t, as the source number of its
   interrupt parent: the node whose first "reg" is at CPU address `where`, or with
   where 0 the first node compatible with `compat` (not NULL: the node
   must also be compatible). GIC specifiers give SPI n as 32 + n and PPI
   n as 16 + n, with their trigger flags (1 edge, 4 level); one-cell
   specifiers (the PLIC's) the number, flags 0. 1 if found, else 0. */
int port_fdt_irq(const struct port_fdt *t, const char *compat, uint64_t where, uint32_t index, uint32_t *source,
                 uint32_t *flags);
/* The interrupt of pin `pin` (1 INTA .. 4 INTD) of PCI function bdf on
   the root bus of the generic ECAM host bridge, through the bridge's
   interrupt-map. 1 if found, else 0. */
int port_fdt_pci_irq(const struct port_fdt *t, uint32_t bdf, uint32_t pin, uint32_t *source, uint32_t *flags);

/* One line, "machine: uart=... ecam=... mmio=base+stridexcount ...",
   of key=value words (hex numbers), for tests to compare with QEMU's
   own device tree (hello prints it). */
void port_print_machine(const struct port_machine *m);

/* Fill port_machine from the device tree at `boot_arg` or, failing that,
   at `fallback` (where the machine's loader is known to put one). Without
   a usable device tree it reports on the UART (port_machine.uart as the
   arch initialised it) and exits with PORT_EXIT_NO_DT. */
void port_machine_from_fdt(uintptr_t boot_arg, uintptr_t fallback);
#define PORT_EXIT_NO_DT 98

/* ---- what each <arch>/port.c provides -------------------------------- */
void port_arch_init(uintptr_t boot_arg);
void port_arch_putc(char c);
int port_arch_getc(void);
uint64_t port_arch_now_us(void);
void port_arch_relax(void);
void port_arch_exit(int code) __attribute__((noreturn));   /* pass code to the host if possible */
void port_arch_poweroff(void) __attribute__((noreturn));   /* plain power-off */

/* A one-shot timer interrupt `us` microseconds from now, for
   port_irq_wait's timeout (0 cancels it): riscv CLINT compare, arm
   generic virtual timer; x86's local APIC timer is in intc.c. */
void port_arch_timer(uint64_t us);

/* Called by the interrupt entry in start.S, interrupts off, with the
   cause (riscv mcause; x86 the vector; arm nothing: the GIC says). */
void port_irq_entry(uintptr_t cause);

/* Called by the trap vectors in start.S: report the exception, exit. */
void port_trap(uint64_t cause, uint64_t pc, uint64_t addr) __attribute__((noreturn));
#endif
