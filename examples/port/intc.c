/* intc.c - interrupts for the ports: the machine's interrupt controller
 * (riscv PLIC; arm GICv2 and its GICv2m MSI frame; x86 local APIC and
 * I/O APIC), the CPU's interrupt mask and sleep, and the table of
 * handlers. port.h ("interrupts") has the API; each <arch>/start.S sends
 * interrupts to port_irq_entry. Nothing here runs before a guest calls
 * it or, on x86 and arm, the platform's idle hook first naps
 * (port_irq_nap): then the controller is set up with every device
 * interrupt masked and only the timer let through.
 *
 * The timeout of port_irq_wait is a one-shot timer interrupt that runs no
 * handler: riscv's CLINT compare and the arm generic timer (in
 * <arch>/port.c, port_arch_timer), the x86 local APIC timer (here).
 */
#include "port.h"

#define MAX_HANDLERS 32

static struct {
    uint32_t source;
    port_irq_handler fn;
    void *arg;
} handlers[MAX_HANDLERS];
static unsigned nhandlers;
static volatile uint32_t handled;   /* device interrupts taken (the timer's not counted) */
static int state;                   /* 0 not set up yet, 1 ready, -1 no controller we know */

/* One device interrupt: every handler of its source runs. */
static void dispatch(uint32_t source)
{
    unsigned i;
    for (i = 0; i < nhandlers; i++)
        if (handlers[i].source == source) handlers[i].fn(handlers[i].arg);
    handled++;
}

/* Each controller below provides: ctrl_init (0 or -1), ctrl_unmask
   (source), ctrl_config (the trigger of a line the device tree
   describes), ctrl_msi (a new MSI message), the CPU's mask and sleep,
   and port_irq_entry. */

#if defined(__riscv)
/* ---- riscv: the PLIC (the SiFive layout QEMU's virt uses) -------------
   Source priorities at 4 * source, enable bits per context at 0x2000 +
   0x80 * context, then per context at 0x200000 + 0x1000 * context the
   threshold and the claim / complete register. A priority above the
   threshold (0) lets a source through; claim takes the highest pending
   one, and writing it back completes it. The ports run in machine mode:
   the context is hart 0's M-mode one (port_machine.plic_context, from the
   PLIC's interrupts-extended). */
#define PLIC_ENABLE 0x2000u
#define PLIC_CONTEXT 0x200000u
#define PLIC_MAX_SOURCE 1023u
#define MIE_MEIE (1u << 11)

static uintptr_t plic;

static uintptr_t plic_ctx(unsigned off)
{
    return plic + PLIC_CONTEXT + 0x1000u * port_machine.plic_context + off;
}

static int ctrl_init(void)
{
    const char *c = port_machine.intc;
    unsigned i;
    if (!c || (strcmp(c, "sifive,plic-1.0.0") != 0 && strcmp(c, "riscv,plic0") != 0)) return -1;
    plic = (uintptr_t)port_machine.intc_base[0];
    for (i = 0; i <= PLIC_MAX_SOURCE / 32; i++)
        port_reg_write32(plic + PLIC_ENABLE + 0x80u * port_machine.plic_context + 4 * i, 0);
    port_reg_write32(plic_ctx(0), 0);   /* threshold */
    __asm__ volatile("csrs mie, %0" : : "r"(MIE_MEIE));
    return 0;
}

static int ctrl_unmask(uint32_t source)
{
    uintptr_t en = plic + PLIC_ENABLE + 0x80u * port_machine.plic_context + 4 * (source / 32);
    if (source == 0 || source > PLIC_MAX_SOURCE) return -1;
    port_reg_write32(plic + 4 * source, 1);   /* priority 1: above the threshold */
    port_reg_write32(en, port_reg_read32(en) | 1u << (source % 32));
    return 0;
}

static int ctrl_config(uint32_t source, uint32_t flags)
{
    (void)source;
    (void)flags;   /* QEMU's PLIC sources are level-triggered, nothing to choose */
    return 0;
}

static int ctrl_msi(uint32_t *source, uint64_t *address, uint32_t *data)
{
    (void)source;
    (void)address;
    (void)data;
    return -1;   /* no IMSIC on QEMU's default virt */
}

static int timer_ok(void) { return 1; }   /* the CLINT is always there */
static int cpu_masked(void)
{
    uintptr_t m;
    __asm__ volatile("csrr %0, mstatus" : "=r"(m));
    return !(m & 8u);
}
static void cpu_on(void) { __asm__ volatile("csrsi mstatus, 8" : : : "memory"); }
static void cpu_off(void) { __asm__ volatile("csrci mstatus, 8" : : : "memory"); }
/* WFI wakes on an interrupt enabled in mie even while mstatus.MIE is 0;
   it is taken when MIE opens for one instruction. */
static void cpu_sleep(void) { __asm__ volatile("wfi\n csrsi mstatus, 8\n csrci mstatus, 8" : : : "memory"); }

/* From trap_entry in start.S for every interrupt: mcause. */
void port_irq_entry(uintptr_t cause)
{
    uintptr_t code = cause & 0xffu;
    if (code == 7) {   /* machine timer: port_irq_wait's timeout */
        port_arch_timer(0);
    } else if (code == 11 && plic) {   /* machine external: the PLIC */
        uint32_t id, n;
        for (n = 0; n < 64 && (id = port_reg_read32(plic_ctx(4))) != 0; n++) {
            dispatch(id);
            port_reg_write32(plic_ctx(4), id);   /* complete */
        }
    }
}

#elif defined(__aarch64__) || defined(__arm__)
/* ---- arm: GICv2 and the GICv2m MSI frame --------------------------------
   QEMU 7.2's virt builds a GICv2 without security extensions when no
   gic-version is asked for (KVM aside): group 0 goes to IRQ. Distributor
   (intc_base[0]): enables, priorities, targets, trigger configuration;
   CPU interface (intc_base[1]): priority mask, acknowledge, end of
   interrupt. The GICv2m frame turns a device's write of an interrupt ID
   to its doorbell (MSI_SETSPI_NS) into an edge on that SPI; MSI_TYPER
   says which SPIs it owns. */
#define GICD_CTLR 0x000u
#define GICD_ISENABLER 0x100u
#define GICD_IPRIORITYR 0x400u
#define GICD_ITARGETSR 0x800u
#define GICD_ICFGR 0xc00u
#define GICC_CTLR 0x00u
#define GICC_PMR 0x04u
#define GICC_IAR 0x0cu
#define GICC_EOIR 0x10u
#define GIC_SPURIOUS 1020u
#define V2M_TYPER 0x008u
#define V2M_SETSPI 0x040u

static uintptr_t gicd, gicc;
static uint32_t timer_id = GIC_SPURIOUS, msi_next, msi_end;

/* Replace byte `id % 4` of the 32-bit register holding byte-wide fields. */
static void gicd_byte(unsigned base, uint32_t id, uint32_t v)
{
    uintptr_t a = gicd + base + (id & ~3u);
    unsigned sh = 8 * (id & 3u);
    port_reg_write32(a, (port_reg_read32(a) & ~(0xffu << sh)) | v << sh);
}

static int ctrl_unmask(uint32_t source)
{
    if (source >= GIC_SPURIOUS) return -1;
    gicd_byte(GICD_IPRIORITYR, source, 0x80);                   /* below the mask (0xf0): signalled */
    if (source >= 32) gicd_byte(GICD_ITARGETSR, source, 0x01);  /* CPU 0 (ignored on one CPU) */
    port_reg_write32(gicd + GICD_ISENABLER + 4 * (source / 32), 1u << (source % 32));
    return 0;
}

/* SPIs only (PPIs keep their configuration): flags bit 0 = edge. */
static int ctrl_config(uint32_t source, uint32_t flags)
{
    uintptr_t a = gicd + GICD_ICFGR + 4 * (source / 16);
    uint32_t bit = 2u << (2 * (source % 16));
    if (source >= GIC_SPURIOUS) return -1;
    if (source >= 32) port_reg_write32(a, (flags & 1u) ? port_reg_read32(a) | bit : port_reg_read32(a) & ~bit);
    return 0;
}

static int ctrl_init(void)
{
    const char *c = port_machine.intc;
    struct port_fdt t;
    uint32_t flags;
    /* GICv2 ("arm,cortex-a15-gic", "arm,gic-400", ...): two regions. A
       GICv3 ("arm,gic-v3") is programmed differently and not handled. */
    if (!c || !port_machine.intc_base[0] || !port_machine.intc_base[1] || strcmp(c, "arm,gic-v3") == 0) return -1;
    gicd = (uintptr_t)port_machine.intc_base[0];
    gicc = (uintptr_t)port_machine.intc_base[1];
    port_reg_write32(gicd + GICD_CTLR, 0);
    port_reg_write32(gicc + GICC_PMR, 0xf0);
    port_reg_write32(gicc + GICC_CTLR, 1);
    port_reg_write32(gicd + GICD_CTLR, 1);
    if (port_machine.msi_base) {
        uint32_t t = port_reg_read32((uintptr_t)port_machine.msi_base + V2M_TYPER);
        msi_next = t >> 16 & 0x3ffu;
        msi_end = msi_next + (t & 0x3ffu);
        if (msi_end > GIC_SPURIOUS) msi_end = GIC_SPURIOUS;
    }
    /* The virtual timer, for port_irq_wait's timeout: the third entry of
       the architected timer's "interrupts" (secure, non-secure physical,
       virtual, hypervisor). */
    if (port_fdt_open(&t, port_machine.dtb, PORT_FDT_MAX) &&
        (port_fdt_irq(&t, "arm,armv8-timer", 0, 2, &timer_id, &flags) ||
         port_fdt_irq(&t, "arm,armv7-timer", 0, 2, &timer_id, &flags)))
        ctrl_unmask(timer_id);
    return 0;
}

static int ctrl_msi(uint32_t *source, uint64_t *address, uint32_t *data)
{
    if (msi_next >= msi_end) return -1;
    *source = msi_next++;
    *address = port_machine.msi_base + V2M_SETSPI;
    *data = *source;
    return ctrl_config(*source, 1);   /* a doorbell write is an edge */
}

static int timer_ok(void) { return timer_id < GIC_SPURIOUS; }   /* else nothing would end a WFI */
#if defined(__aarch64__)
static int cpu_masked(void)
{
    uint64_t daif;
    __asm__ volatile("mrs %0, daif" : "=r"(daif));
    return (daif & 0x80u) != 0;   /* PSTATE.I */
}
static void cpu_on(void) { __asm__ volatile("msr daifclr, #2" : : : "memory"); }
static void cpu_off(void) { __asm__ volatile("msr daifset, #2" : : : "memory"); }
/* WFI wakes on a pending IRQ even while PSTATE.I masks it; unmasking for
   a moment takes it. */
static void cpu_sleep(void) { __asm__ volatile("wfi\n msr daifclr, #2\n isb\n msr daifset, #2" : : : "memory"); }
#else
static int cpu_masked(void)
{
    uint32_t cpsr;
    __asm__ volatile("mrs %0, cpsr" : "=r"(cpsr));
    return (cpsr & 0x80u) != 0;   /* CPSR.I */
}
static void cpu_on(void) { __asm__ volatile("cpsie i" : : : "memory"); }
static void cpu_off(void) { __asm__ volatile("cpsid i" : : : "memory"); }
static void cpu_sleep(void) { __asm__ volatile("wfi\n cpsie i\n isb\n cpsid i" : : : "memory"); }
#endif

/* From the IRQ vector in start.S. */
void port_irq_entry(uintptr_t cause)
{
    uint32_t n;
    (void)cause;
    for (n = 0; n < 64 && gicc; n++) {
        uint32_t iar = port_reg_read32(gicc + GICC_IAR), id = iar & 0x3ffu;
        if (id >= GIC_SPURIOUS) break;
        if (id == timer_id) port_arch_timer(0);   /* port_irq_wait's timeout: silence it */
        else dispatch(id);
        port_reg_write32(gicc + GICC_EOIR, iar);
    }
}

#elif defined(__x86_64__) || defined(__i386__)
/* ---- x86 q35, pc, microvm: local APIC and I/O APICs ------------------
   No ACPI here: the I/O APIC is at the chipset's default 0xfec00000 (as
   QEMU's MADT says), the local APIC where IA32_APIC_BASE says; microvm
   has a second I/O APIC (port_machine.intc_base[1]) with the GSIs after
   the first's 24. GSI n raises vector 0x30 + n, level-triggered and
   active high (what QEMU's q35 PCI interrupt links and virtio-mmio
   lines are); MSI messages get vectors from 0x60. The 8259s that the
   firmware set up are masked for good. */
#define LAPIC_ID 0x020u
#define LAPIC_TPR 0x080u
#define LAPIC_EOI 0x0b0u
#define LAPIC_SVR 0x0f0u
#define LAPIC_LVT_TIMER 0x320u
#define LAPIC_TIMER_INIT 0x380u
#define LAPIC_TIMER_NOW 0x390u
#define LAPIC_TIMER_DIV 0x3e0u
#define IOAPIC 0xfec00000u
#define VEC_LINE 0x30u
#define VEC_MSI 0x60u   /* GSIs 0-47 below */
#define VEC_TIMER 0xe0u
#define VEC_SPURIOUS 0xffu

static uintptr_t lapic;
static uint32_t apic_id, ioapic_pins, first_pins, msi_next = VEC_MSI;
static uint64_t timer_per_ms;   /* local APIC timer ticks per millisecond (divided by 16) */

static inline void outb(uint16_t p, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(p)); }
static uint32_t lapic_rd(unsigned off) { return *(volatile uint32_t *)(lapic + off); }
static void lapic_wr(unsigned off, uint32_t v) { *(volatile uint32_t *)(lapic + off) = v; }
static uint32_t ioapic_rd(uintptr_t at, uint32_t reg)
{
    *(volatile uint32_t *)at = reg;   /* IOREGSEL, then IOWIN at +0x10 */
    return *(volatile uint32_t *)(at + 0x10u);
}
static void ioapic_wr(uintptr_t at, uint32_t reg, uint32_t v)
{
    *(volatile uint32_t *)at = reg;
    *(volatile uint32_t *)(at + 0x10u) = v;
}
/* The redirection entry of GSI n (n < ioapic_pins): its I/O APIC and its
   register there. */
static uintptr_t gsi_entry(uint32_t n, uint32_t *reg)
{
    *reg = 0x10u + 2u * (n < first_pins ? n : n - first_pins);
    return n < first_pins ? IOAPIC : (uintptr_t)port_machine.intc_base[1];
}

static int ctrl_init(void)
{
    uint32_t lo, hi, i, cur, reg;
    uint64_t t0, t1;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0x1bu));   /* IA32_APIC_BASE */
    if (!(lo & 0x800u)) return -1;                                /* APIC globally off */
    lapic = (uintptr_t)(lo & 0xfffff000u);
    outb(0x21, 0xff);   /* mask both 8259s */
    outb(0xa1, 0xff);
    lapic_wr(LAPIC_SVR, 0x100u | VEC_SPURIOUS);   /* software enable */
    lapic_wr(LAPIC_TPR, 0);
    apic_id = lapic_rd(LAPIC_ID) >> 24;
    ioapic_pins = first_pins = (ioapic_rd(IOAPIC, 1) >> 16 & 0xffu) + 1;   /* 24 on QEMU */
    if (port_machine.intc_base[1]) ioapic_pins += (ioapic_rd((uintptr_t)port_machine.intc_base[1], 1) >> 16 & 0xffu) + 1;
    if (ioapic_pins > VEC_MSI - VEC_LINE) ioapic_pins = VEC_MSI - VEC_LINE;
    for (i = 0; i < ioapic_pins; i++) {
        uintptr_t at = gsi_entry(i, &reg);
        ioapic_wr(at, reg, 1u << 16);   /* masked */
    }
    /* The timer's rate, against the port's clock: 10 ms of counting. */
    lapic_wr(LAPIC_TIMER_DIV, 0x3);   /* divide by 16 */
    lapic_wr(LAPIC_LVT_TIMER, 1u << 16 | VEC_TIMER);
    t0 = port_now_us();
    lapic_wr(LAPIC_TIMER_INIT, 0xffffffffu);
    while ((t1 = port_now_us()) - t0 < 10000) {}
    cur = lapic_rd(LAPIC_TIMER_NOW);
    lapic_wr(LAPIC_TIMER_INIT, 0);
    timer_per_ms = (uint64_t)(0xffffffffu - cur) * 1000u / (t1 - t0);
    if (!timer_per_ms) timer_per_ms = 1;
    return 0;
}

static int ctrl_unmask(uint32_t source)
{
    uint32_t reg;
    uintptr_t at;
    if (source >= VEC_MSI && source < VEC_TIMER) return 0;   /* an MSI vector: nothing to unmask here */
    if (source >= ioapic_pins) return -1;
    at = gsi_entry(source, &reg);
    ioapic_wr(at, reg + 1u, apic_id << 24);
    ioapic_wr(at, reg, (VEC_LINE + source) | 1u << 15);   /* level, active high, fixed, unmasked */
    return 0;
}

static int ctrl_config(uint32_t source, uint32_t flags)
{
    (void)flags;
    return source < ioapic_pins ? 0 : -1;
}

static int ctrl_msi(uint32_t *source, uint64_t *address, uint32_t *data)
{
    if (msi_next >= VEC_TIMER) return -1;
    *source = msi_next++;
    *address = 0xfee00000u | apic_id << 12;   /* physical destination, no redirection hint */
    *data = *source;                           /* fixed delivery, edge */
    return 0;
}

static int timer_ok(void) { return 1; }   /* calibrated by ctrl_init */
static int cpu_masked(void)
{
    uintptr_t f;
    __asm__ volatile("pushf\n pop %0" : "=r"(f));
    return !(f & 0x200u);   /* EFLAGS.IF */
}
static void cpu_on(void) { __asm__ volatile("sti" : : : "memory"); }
static void cpu_off(void) { __asm__ volatile("cli" : : : "memory"); }
/* STI takes effect after the next instruction: an interrupt pending now
   ends the HLT instead of slipping in before it. */
static void cpu_sleep(void) { __asm__ volatile("sti\n hlt\n cli" : : : "memory"); }

void port_arch_timer(uint64_t us)
{
    uint64_t n = us * timer_per_ms / 1000u;
    if (!lapic) return;
    lapic_wr(LAPIC_TIMER_INIT, 0);
    if (!us) return;
    lapic_wr(LAPIC_LVT_TIMER, VEC_TIMER);   /* one-shot, unmasked */
    lapic_wr(LAPIC_TIMER_INIT, n == 0 ? 1u : n > 0xffffffffu ? 0xffffffffu : (uint32_t)n);
}

/* From the interrupt stubs in start.S: the vector. */
void port_irq_entry(uintptr_t vector)
{
    if (vector == VEC_SPURIOUS) return;   /* no EOI for the spurious vector */
    if (vector >= VEC_LINE && vector < VEC_LINE + ioapic_pins) dispatch((uint32_t)vector - VEC_LINE);
    else if (vector >= VEC_MSI && vector < msi_next) dispatch((uint32_t)vector);
    lapic_wr(LAPIC_EOI, 0);
}
#else
#error "intc.c: no interrupt controller for this architecture"
#endif

/* ---- the API (port.h) ----------------------------------------------- */
static int ready(void)
{
    if (!state) state = ctrl_init() == 0 ? 1 : -1;
    return state > 0;
}

int port_irq_attach(uint32_t source, port_irq_handler fn, void *arg)
{
    if (!fn || !ready() || nhandlers == MAX_HANDLERS) return -1;
    handlers[nhandlers].source = source;
    handlers[nhandlers].fn = fn;
    handlers[nhandlers].arg = arg;
    nhandlers++;   /* before the unmask: an interrupt already pending finds its handler */
    if (ctrl_unmask(source) == 0) return 0;
    nhandlers--;
    return -1;
}

#if !defined(__x86_64__) && !defined(__i386__)
/* INTx behind PCI-PCI bridges: the host bridge's interrupt-map knows only
   the functions on bus 0. Each bridge passes a pin on as the standard
   swizzle (PCI-to-PCI Bridge 1.2, 9.1): pin + device number of the
   function below it, modulo 4. Walk up, bridge by bridge, to bus 0; *bdf
   and *pin become what the host bridge sees. 0 if a bus has no bridge
   above it (or the walk loops). */
static int pci_swizzle(uint32_t *bdf, uint32_t *pin)
{
    uint32_t hops;
    for (hops = 0; *bdf >> 8 && hops < 8; hops++) {
        uint32_t bus = *bdf >> 8, up;
        for (up = 0; up < (port_machine.pci_buses << 8); up++) {
            uint32_t id = port_pci_read32(up, 0), hdr, busreg;
            if ((id & 0xffffu) == 0xffffu) {
                if (!(up & 7)) up += 7;   /* no function 0: the device is absent */
                continue;
            }
            hdr = port_pci_read32(up, 0x0c) >> 16 & 0x7fu;
            busreg = port_pci_read32(up, 0x18);   /* primary, secondary, subordinate */
            if (hdr == 1 && (busreg >> 8 & 0xffu) == bus) break;
        }
        if (up >= (port_machine.pci_buses << 8)) return 0;
        *pin = ((*pin - 1) + (*bdf >> 3 & 0x1fu)) % 4 + 1;
        *bdf = up;
    }
    return *bdf >> 8 == 0;
}
#endif

int port_irq_line(const virtio_device *dev, uint32_t *source)
{
    uint32_t src = 0, flags = 0;
    if (!dev || !source || !ready()) return -1;
#if defined(__x86_64__) || defined(__i386__)
    if (dev->transport == VIRTIO_TRANSPORT_MMIO) {
        /* microvm with its second I/O APIC: slot i raises GSI 24 + i. */
        uintptr_t slot = (dev->base - port_mmio_base) / (port_mmio_stride ? port_mmio_stride : 1);
        if (!port_machine.intc_base[1] || dev->base < port_mmio_base || slot >= port_mmio_count) return -1;
        src = 24u + (uint32_t)slot;
    } else {
        uint32_t r = port_pci_read32(dev->bdf, 0x3c);   /* interrupt line, then pin */
        if (dev->transport != VIRTIO_TRANSPORT_PCI || !(r >> 8 & 0xffu)) return -1;
        src = r & 0xffu;
    }
#else
    {
        struct port_fdt t;
        if (!port_fdt_open(&t, port_machine.dtb, PORT_FDT_MAX)) return -1;
        if (dev->transport == VIRTIO_TRANSPORT_MMIO) {
            if (!port_fdt_irq(&t, "virtio,mmio", dev->base, 0, &src, &flags)) return -1;
        } else {
            uint32_t pin = port_pci_read32(dev->bdf, 0x3c) >> 8 & 0xffu, bdf = dev->bdf;
            if (pin < 1 || pin > 4 || !pci_swizzle(&bdf, &pin) || !port_fdt_pci_irq(&t, bdf, pin, &src, &flags)) return -1;
        }
    }
#endif
    if (ctrl_config(src, flags) != 0) return -1;
    *source = src;
    return 0;
}

int port_msi_alloc(port_irq_handler fn, void *arg, uint64_t *address, uint32_t *data, uint32_t *source)
{
    uint32_t src;
    if (!fn || !address || !data || !ready() || ctrl_msi(&src, address, data) != 0) return -1;
    if (port_irq_attach(src, fn, arg) != 0) return -1;
    if (source) *source = src;
    return 0;
}

void port_irq_enable(void)
{
    if (ready()) cpu_on();
}

void port_irq_disable(void) { cpu_off(); }

int port_irq_wait(uint64_t timeout_us)
{
    uint32_t seen = handled;
    uint64_t start = port_now_us(), now;
    if (!ready()) return 0;
    while (handled == seen && (now = port_now_us()) - start < timeout_us) {
        port_arch_timer(timeout_us - (now - start));
        cpu_sleep();
    }
    port_arch_timer(0);
    return handled != seen;
}

int port_irq_nap(uint64_t us)
{
    int masked = cpu_masked();
    if (!ready() || !timer_ok()) return -1;
    /* Armed with interrupts open, a 5 us timer can fire before the WFI or
       HLT, which would then wait for an interrupt that never comes: arm
       it masked and sleep the way port_irq_wait does (the pending timer
       ends the sleep and is taken, silenced, in cpu_sleep's moment of
       open interrupts), then open them again if they were. */
    cpu_off();
    port_arch_timer(us ? us : 1);   /* 0 would cancel the timer and leave nothing to end the sleep */
    cpu_sleep();
    port_arch_timer(0);
    if (!masked) cpu_on();
    return 0;
}
