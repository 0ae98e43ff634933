/* x86_64 and i686 "q35" (QEMU 7.2 with SeaBIOS 1.16), and "pc" (i440FX):
     port 0x3f8   COM1 (16550)
     port 0xf4    isa-debug-exit, when the command line adds it
     PMBASE       ACPI registers; SeaBIOS puts them at port 0x600 (read
                  back from q35's LPC bridge, 00:1f.0, register 0x40, or
                  pc's PIIX4 power management function, 00:01.3, 0x40)
     0xb0000000   PCIe ECAM (MMCONFIG), 256 buses, enabled by SeaBIOS; the
                  port and the library use ports 0xcf8/0xcfc instead
     0xfed00000   HPET, the clock (100 MHz, 64-bit: no wrap to handle)
   and "microvm" (qboot), found by its first virtio-mmio slot where q35
   and pc have no PCI host bridge:
     0xfeb00000   24 virtio-mmio slots, 0x200 apart (modern with
                  -global virtio-mmio.force-legacy=false); 8 without
                  the second I/O APIC
     0xfec10000   a second I/O APIC (GSIs 24-47): slot i raises GSI 24 + i
     0xfea00200   the ACPI generic event device's sleep control register
     the clock    the TSC, counted against the PIT's channel 0 at start
                  (no HPET, no PM timer)
   SeaBIOS has placed every BAR: 32-bit ones below 4 GiB (from 0xc0000000
   or the end of RAM up), 64-bit ones too unless they do not fit, in
   which case all of them move above 4 GiB (after any RAM there). start.S
   identity-maps the first 64 GiB on x86_64, enough for either; i686 runs
   without paging and reaches the first 4 GiB (with the command lines of
   the tests, everything SeaBIOS places is below). */
#include "../port.h"

#define COM1 0x3f8
#define DEBUG_EXIT 0xf4
#define LPC_BDF (0u << 8 | 31u << 3 | 0u)   /* 00:1f.0 */
#define LPC_PMBASE 0x40
#define LPC_ACPI_CNTL 0x44                   /* bit 7: ACPI I/O decoding on */
#define PIIX4_PM_BDF (0u << 8 | 1u << 3 | 3u) /* 00:01.3 on "pc" */
#define PIIX4_PM_ID 0x71138086u
#define PIIX4_PMREGMISC 0x80                 /* bit 0: PM I/O decoding on */
#define PM1_CNT 0x04                         /* offsets in the PMBASE block */
#define PM_TMR 0x08
#define HPET 0xfed00000u
#define HPET_CAP 0x000                       /* period in fs in bits 63:32 */
#define HPET_CONFIG 0x010                    /* bit 0: counter runs */
#define HPET_COUNTER 0x0f0
#define MICROVM_MMIO 0xfeb00000u
#define MICROVM_SLOTS 24u
#define MICROVM_IOAPIC2 0xfec10000u
#define MICROVM_SLEEP 0xfea00200u            /* GED sleep control: SLP_EN | S5 << 2 powers off */
#define PIT_CH0 0x40
#define PIT_CMD 0x43

/* No device tree on q35: the layout is fixed, and SeaBIOS did the rest. */
#if defined(__i386__)
#define ARCH "i686"
#define ADDR_LIMIT (1ull << 32)
#else
#define ARCH "x86_64"
#define ADDR_LIMIT (64ull << 30)   /* start.S maps 64 GiB */
#endif
struct port_machine port_machine = {
    ARCH,
    0, 0, 1,           /* config through 0xcf8, I/O through in/out, bus 0 (and the buses
                          SeaBIOS numbered behind bridges: port_arch_init) */
    0, 0, 0, 0, 0, 0,  /* the windows SeaBIOS placed the BARs in: port_arch_init */
    ADDR_LIMIT,
    0, 0, 0,           /* no virtio-mmio slots */
    0, 0, 0, 0, 0, 0, 0, {0, 0}, {0, 0}, 0, 0, 0,
    1,                 /* firmware placed the BARs */
};

static inline uint8_t inb(uint16_t p)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p));
    return v;
}
static inline uint32_t inl(uint16_t p)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p));
    return v;
}
static inline void outb(uint16_t p, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(p)); }
static inline void outw(uint16_t p, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(p)); }
static inline void outl(uint16_t p, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(p)); }
static inline uint32_t hpet(unsigned off) { return *(volatile uint32_t *)(uintptr_t)(HPET + off); }

static uint16_t pmbase;
static uint64_t hpet_fs;   /* femtoseconds per HPET tick; 0: use the PM timer */
static uint32_t pm_last;   /* PM timer: last 24-bit reading and the ticks summed */
static uint64_t pm_ticks;
static int microvm;
static uint64_t tsc_start, tsc_per_ms;   /* microvm's clock */

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

/* TSC ticks per millisecond, counted over 10 ms of the PIT's channel 0
   (1.193182 MHz; mode 0: its output rises at the end of the count, which
   the read-back command shows). Channel 2 would need the speaker port
   0x61 for its gate, and microvm has none. Interrupts are off; intc.c
   masks the 8259s before it opens them. With no PIT (pit=off), 1 GHz. */
static uint64_t tsc_count(void)
{
    uint64_t t0;
    uint32_t spins;
    outb(PIT_CMD, 0x30);   /* channel 0, low then high byte, mode 0 */
    outb(PIT_CH0, 11932 & 0xff);
    outb(PIT_CH0, 11932 >> 8);
    t0 = rdtsc();
    for (spins = 0;; spins++) {
        uint8_t st;
        outb(PIT_CMD, 0xe2);   /* read back channel 0's status */
        st = inb(PIT_CH0);
        if ((st & 0x3fu) != 0x30u || spins > 100000000u) return 1000000u;   /* no PIT there */
        if (st & 0x80u) break;
    }
    return (rdtsc() - t0) / 10u;
}

/* ---- exceptions and interrupts: a 256-entry IDT pointing at the stubs
   in start.S (exceptions 0-31, interrupts for intc.c above them).
   Interrupt gates (interrupts stay off inside), present, DPL 0, selector
   0x08 (the code segment): 16 bytes each in long mode, 8 in protected
   mode. */
extern const char port_x86_trap_stubs[];
static uint64_t idt[512];

static void idt_init(void)
{
    struct __attribute__((packed)) {
        uint16_t limit;
        uintptr_t base;
    } idtr;
    int i;
    for (i = 0; i < 256; i++) {
        uint64_t a = (uintptr_t)(port_x86_trap_stubs + 16 * i);
        uint64_t gate = (a & 0xffff) | 0x08u << 16 | 0x8e00ull << 32 | (a >> 16 & 0xffff) << 48;
#if defined(__i386__)
        idt[i] = gate;
#else
        idt[2 * i] = gate;
        idt[2 * i + 1] = a >> 32;
#endif
    }
#if defined(__i386__)
    idtr.limit = 256 * 8 - 1;
#else
    idtr.limit = sizeof idt - 1;
#endif
    idtr.base = (uintptr_t)idt;
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

/* From the stubs in start.S: the frame is the vector, the error code for
   the vectors that push one, then the faulting instruction's address. */
void port_x86_trap(const uintptr_t *frame, uintptr_t cr2);
void port_x86_trap(const uintptr_t *frame, uintptr_t cr2)
{
    uint64_t vec = frame[0];
    /* These vectors push an error code before rip. */
    int err = vec == 8 || (vec >= 10 && vec <= 14) || vec == 17 || vec == 21 || vec == 29 || vec == 30;
    port_trap(vec << 32 | (err ? (frame[1] & 0xffffffffu) : 0), frame[1 + err], cr2);
}

/* What the loader left in EAX and EBX (start.S keeps them). */
extern uint32_t port_x86_mb_magic, port_x86_mb_info;

uintptr_t port_multiboot_info(void) { return port_x86_mb_magic == 0x2badb002u ? port_x86_mb_info : 0; }

/* The windows SeaBIOS placed the BARs in, from where RAM ends (the
   loader's Multiboot memory map): above the RAM below 4 GiB up to the
   I/O APIC, above all RAM up to what the CPU maps, every I/O port.
   The library then uses no BAR outside them (virtio_platform.pci_windows);
   without a memory map there are none and it believes every BAR. */
static void bar_windows(void)
{
    const uint8_t *mb = (const uint8_t *)port_multiboot_info();
    uint64_t top32 = 0, top = 0;
    uint32_t at, len;
    if (!mb || !(*(const uint32_t *)mb & (1u << 6))) return;   /* flags: mmap_* valid */
    len = *(const uint32_t *)(mb + 44);
    at = *(const uint32_t *)(mb + 48);
    while (len >= 24) {   /* entries: size (of the rest), base, length, type */
        const uint8_t *e = (const uint8_t *)(uintptr_t)at;
        uint32_t size = *(const uint32_t *)e;
        uint64_t base, n, end;
        memcpy(&base, e + 4, 8);
        memcpy(&n, e + 12, 8);
        end = base + n;
        if (*(const uint32_t *)(e + 20) == 1) {   /* RAM */
            if (end > top) top = end;
            if (base < 0x100000000ull && end > top32) top32 = end > 0x100000000ull ? 0x100000000ull : end;
        }
        if (size + 4 > len) break;
        len -= size + 4;
        at += size + 4;
    }
    if (top32 >= 0xfec00000ull) return;
    port_machine.mem32_base = top32;
    port_machine.mem32_size = 0xfec00000ull - top32;
    if (top < 0x100000000ull) top = 0x100000000ull;
    if (ADDR_LIMIT > top) {
        port_machine.mem64_base = top;
        port_machine.mem64_size = ADDR_LIMIT - top;
    }
    port_machine.io_size = 0x10000;   /* all of it: a port is never RAM, and ICH9's SMBus sits at 0x700 */
}

void port_arch_init(uintptr_t boot_arg)
{
    uint32_t cap, version;
    (void)boot_arg;   /* no device tree: 0 (port_multiboot_info has the Multiboot block) */
    idt_init();
    /* microvm: no PCI host bridge, virtio-mmio slots at a fixed place. */
    if (port_pci_read32(0, 0x00) == 0xffffffffu &&
        *(volatile uint32_t *)(uintptr_t)MICROVM_MMIO == 0x74726976u) {   /* "virt" */
        microvm = 1;
        port_machine.pci_buses = 0;
        port_machine.mmio_base = MICROVM_MMIO;
        port_machine.mmio_stride = 0x200;
        port_machine.mmio_count = 8;   /* without the second I/O APIC (ioapic2=off) */
        *(volatile uint32_t *)(uintptr_t)MICROVM_IOAPIC2 = 1;   /* select its version register */
        version = *(volatile uint32_t *)(uintptr_t)(MICROVM_IOAPIC2 + 0x10u) & 0xffu;
        if (version >= 0x10u && version <= 0x2fu) {   /* an I/O APIC answers there */
            port_machine.mmio_count = MICROVM_SLOTS;
            port_machine.intc_base[1] = MICROVM_IOAPIC2;   /* for intc.c */
            port_machine.intc_size[1] = 0x1000;
        }
        tsc_per_ms = tsc_count();
        tsc_start = rdtsc();
        return;
    }
    /* Buses behind bridges on bus 0 (pcie-root-port, pci-bridge): SeaBIOS
       numbered them; scan up to the highest subordinate bus. */
    for (cap = 0; cap < 32u * 8u; cap++) {
        uint32_t id = port_pci_read32(cap, 0x00), hdr = port_pci_read32(cap, 0x0c) >> 16 & 0x7fu;
        uint32_t sub = port_pci_read32(cap, 0x18) >> 16 & 0xffu;
        if ((id & 0xffffu) != 0xffffu && hdr == 1 && sub >= port_machine.pci_buses) port_machine.pci_buses = sub + 1;
    }
    bar_windows();
    /* ACPI registers: where SeaBIOS put them, or at 0x600 if it did not
       (the same registers on both chipsets, behind another function). */
    if (port_pci_read32(PIIX4_PM_BDF, 0x00) == PIIX4_PM_ID) {
        pmbase = (uint16_t)(port_pci_read32(PIIX4_PM_BDF, LPC_PMBASE) & 0xffc0u);
        if (!pmbase || !(port_pci_read32(PIIX4_PM_BDF, PIIX4_PMREGMISC) & 1u)) {
            pmbase = 0x600;
            port_pci_write32(PIIX4_PM_BDF, LPC_PMBASE, pmbase | 1u);
            port_pci_write32(PIIX4_PM_BDF, PIIX4_PMREGMISC, port_pci_read32(PIIX4_PM_BDF, PIIX4_PMREGMISC) | 1u);
        }
    } else {
        pmbase = (uint16_t)(port_pci_read32(LPC_BDF, LPC_PMBASE) & 0xff80u);
        if (!pmbase || !(port_pci_read32(LPC_BDF, LPC_ACPI_CNTL) & 0x80u)) {
            pmbase = 0x600;
            port_pci_write32(LPC_BDF, LPC_PMBASE, pmbase | 1u);
            port_pci_write32(LPC_BDF, LPC_ACPI_CNTL, port_pci_read32(LPC_BDF, LPC_ACPI_CNTL) | 0x80u);
        }
    }
    /* The HPET main counter, if there is one (q35,hpet=off has none). */
    cap = hpet(HPET_CAP + 4);
    if (cap != 0 && cap != 0xffffffffu) {
        hpet_fs = cap;
        *(volatile uint32_t *)(uintptr_t)(HPET + HPET_CONFIG) |= 1u;
    } else {
        pm_last = inl((uint16_t)(pmbase + PM_TMR)) & 0xffffffu;
    }
}

void port_arch_putc(char c)
{
    while (!(inb(COM1 + 5) & 0x20)) {}   /* line status: transmitter empty */
    outb(COM1, (uint8_t)c);
}

int port_arch_getc(void) { return (inb(COM1 + 5) & 1) ? inb(COM1) : -1; }

uint64_t port_arch_now_us(void)
{
    if (microvm) {
        return (rdtsc() - tsc_start) * 1000u / tsc_per_ms;
    } else if (hpet_fs) {   /* 64-bit counter read as two halves: retry if the high half moved */
        uint32_t hi, lo;
        uint64_t t;
        do {
            hi = hpet(HPET_COUNTER + 4);
            lo = hpet(HPET_COUNTER);
        } while (hi != hpet(HPET_COUNTER + 4));
        t = (uint64_t)hi << 32 | lo;
        return t / 1000000000u * hpet_fs + t % 1000000000u * hpet_fs / 1000000000u;
    } else {         /* 24-bit PM timer at 3.579545 MHz: must be read every 4.6 s */
        uint32_t now = inl((uint16_t)(pmbase + PM_TMR)) & 0xffffffu;
        pm_ticks += (now - pm_last) & 0xffffffu;
        pm_last = now;
        return pm_ticks * 1000000u / 3579545u;
    }
}

/* Give the host CPU back while waiting: HLT until the local APIC's
   one-shot timer, 5 us ahead, or an interrupt (intc.c); without a local
   APIC, PAUSE. */
void port_arch_relax(void)
{
    if (port_irq_nap(5) != 0) __asm__ volatile("pause");
}

/* ACPI S5: SLP_EN with sleep type 0, which QEMU's ICH9 treats as
   power-off (on microvm: sleep type 5 to the event device); QEMU exits
   with status 0. */
void port_arch_poweroff(void)
{
    if (microvm) *(volatile uint8_t *)(uintptr_t)MICROVM_SLEEP = 5u << 2 | 1u << 5;
    else outw((uint16_t)(pmbase + PM1_CNT), 0x2000);
    for (;;) __asm__ volatile("cli; hlt");
}

/* A non-zero code goes to isa-debug-exit first: with
   -device isa-debug-exit,iobase=0xf4,iosize=4 QEMU exits with status
   (code << 1) | 1. Without that device the write is ignored and the
   machine powers off with status 0. */
void port_arch_exit(int code)
{
    if (code != 0) outl(DEBUG_EXIT, (uint32_t)code);
    port_arch_poweroff();
}
