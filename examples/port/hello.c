/* hello.c - the smallest guest: proves a port boots, talks both ways,
 * keeps time, assigns PCI BARs and sees the machine's VirtIO devices.
 *
 * What it does: prints "hello from <arch>" and the machine layout the
 * port found ("machine: ..."); lists every PCI function with
 * its BARs after port_pci_setup() and every occupied virtio-mmio slot,
 * reading the registers itself so that this part checks the port alone;
 * then finds the same VirtIO devices through virtio.h (the smallest use
 * of the library); waits up to 1 s for a byte from the host and echoes it
 * (a digit 1-9 becomes the exit code, to show exit codes reaching the
 * host; 't' and 'f' test the trap handler with an illegal instruction and
 * a bad load); the idle hint's nap returns, with interrupts masked and
 * open. Anything wrong (a BAR outside the host bridge window, a
 * clock that does not advance, ...) prints "hello: FAIL ..." and exits 1.
 *
 * Build and boot it on every machine, with devices attached:
 *
 *   make -f examples/port/port.mk port-check
 *
 * or one by hand, typing a key within a second:
 *
 *   make build/riscv64/hello.elf
 *   qemu-system-riscv64 -machine virt -bios none -m 256M -nodefaults \
 *       -display none -serial stdio -monitor none \
 *       -kernel build/riscv64/hello.elf
 */
#define VIRTIO_IMPLEMENTATION   /* this file also emits the library */
#include "port.h"

static int failures;

static void fail(const char *what, uint64_t value)
{
    port_printf("hello: FAIL %s (%llx)\n", what, (unsigned long long)value);
    failures++;
}

/* Is [a, a + size) inside the window [base, base + wsize)? */
static int inside(uint64_t a, uint64_t size, uint64_t base, uint64_t wsize)
{
    return wsize && a >= base && a - base <= wsize && size <= wsize - (a - base);
}

static uint64_t bar_size(uint32_t bdf, unsigned off, uint32_t lo, uint32_t hi, int is_io, int is64)
{
    /* Size it again (decoding off meanwhile), the same way the port did. */
    uint32_t cmd = port_pci_read32(bdf, 4), mlo, mhi = 0xffffffffu;
    port_pci_write32(bdf, 4, cmd & 0xfffcu);
    port_pci_write32(bdf, off, 0xffffffffu);
    mlo = port_pci_read32(bdf, off);
    port_pci_write32(bdf, off, lo);
    if (mlo == 0) return 0;   /* not implemented */
    if (is64) {
        port_pci_write32(bdf, off + 4, 0xffffffffu);
        mhi = port_pci_read32(bdf, off + 4);
        port_pci_write32(bdf, off + 4, hi);
    }
    port_pci_write32(bdf, 4, cmd & 0xffffu);
    if (is_io) return ~(0xffffffffffff0000ull | (mlo & ~3u)) + 1;
    return ~((uint64_t)mhi << 32 | (mlo & ~15u)) + 1;
}

static void list_pci(void)
{
    const struct port_machine *m = &port_machine;
    uint32_t bus, dev, fn;
    for (bus = 0; bus < m->pci_buses; bus++)
        for (dev = 0; dev < 32; dev++)
            for (fn = 0; fn < 8; fn++) {
                uint32_t bdf = bus << 8 | dev << 3 | fn, id = port_pci_read32(bdf, 0), type;
                unsigned bar;
                if ((id & 0xffff) == 0xffff) {
                    if (fn == 0) break;
                    continue;
                }
                type = (port_pci_read32(bdf, 0x0c) >> 16) & 0xff;
                port_printf("pci %02x:%02x.%x %04x:%04x class %06x cmd %04x\n", bus, dev, fn, id & 0xffff,
                            id >> 16, port_pci_read32(bdf, 8) >> 8, port_pci_read32(bdf, 4) & 0xffff);
                for (bar = 0; bar < 6 && (type & 0x7f) == 0; bar++) {
                    unsigned off = 0x10 + 4 * bar;
                    uint32_t lo = port_pci_read32(bdf, off), hi = 0;
                    int is_io = lo & 1, is64 = !is_io && (lo & 6) == 4, ok;
                    uint64_t addr, size;
                    if (is64) hi = port_pci_read32(bdf, off + 4);
                    size = bar_size(bdf, off, lo, hi, is_io, is64);
                    addr = ((uint64_t)hi << 32 | lo) & (is_io ? ~3ull : ~15ull);
                    if (size == 0) continue;
                    port_printf("    BAR%u %s %llx size %llx\n", bar, is_io ? "io   " : is64 ? "mem64" : "mem32",
                                (unsigned long long)addr, (unsigned long long)size);
                    if (m->mem32_size == 0) ok = addr != 0 && addr + size <= m->addr_limit;   /* firmware's */
                    else if (is_io) ok = inside(addr, size, m->io_base, m->io_size);
                    else ok = inside(addr, size, m->mem32_base, m->mem32_size) ||
                              inside(addr, size, m->mem64_base, m->mem64_size);
                    if (!ok || (addr & (size - 1))) fail("BAR outside its window or misaligned", addr);
                    bar += (unsigned)is64;
                }
                if (fn == 0 && !(type & 0x80)) break;
            }
}

static void list_mmio(void)
{
    uint32_t i;
    for (i = 0; i < port_mmio_count; i++) {
        uintptr_t r = port_mmio_base + i * port_mmio_stride;
        if (port_reg_read32(r) != 0x74726976u) {   /* "virt" */
            fail("virtio-mmio slot without magic", i);
            continue;
        }
        if (port_reg_read32(r + 8) != 0)   /* device id 0: empty slot */
            port_printf("virtio-mmio slot %u at %p: version %u, device %u, vendor %x\n", i, (void *)r,
                        port_reg_read32(r + 4), port_reg_read32(r + 8), port_reg_read32(r + 12));
    }
}

#if defined(__x86_64__) || defined(__i386__)
/* What the x86 port relies on SeaBIOS for: ACPI registers at PMBASE, and
   (checked here only) on q35 MMCONFIG at 0xb0000000 agreeing with 0xcf8.
   "pc" (i440FX, host bridge 8086:1237) has no MMCONFIG; "microvm" has no
   PCI (the port found its virtio-mmio slots). */
static void check_x86(void)
{
    int q35 = port_pci_read32(0, 0x00) == 0x29c08086u;
    uint32_t lo = q35 ? port_pci_read32(0, 0x60) : 0, hi = q35 ? port_pci_read32(0, 0x64) : 0, dev;
    uint64_t base = ((uint64_t)hi << 32 | lo) & 0xff0000000ull;
    const volatile uint32_t *mb = (const volatile uint32_t *)port_multiboot_info();
    if (port_mmio_count) {
        port_printf("x86: microvm, %u virtio-mmio slots at %p, clock at %llu us\n", (unsigned)port_mmio_count,
                    (void *)port_mmio_base, (unsigned long long)port_now_us());
        if (port_now_us() == 0) fail("microvm: the clock does not run", 0);
    } else if (q35) {
        port_printf("x86: q35, PMBASE %x (ACPI %s), PCIEXBAR %llx (%s, %u MiB)\n", port_pci_read32(0xf8, 0x40) & 0xff80,
                    (port_pci_read32(0xf8, 0x44) & 0x80) ? "on" : "off", (unsigned long long)base,
                    (lo & 1) ? "on" : "off", 256u >> ((lo >> 1) & 3));
        if (!(lo & 1) || base != 0xb0000000u) fail("MMCONFIG not at 0xb0000000", base);
    } else {
        port_printf("x86: host bridge %x, PMBASE %x (PM %s)\n", port_pci_read32(0, 0x00), port_pci_read32(0x0b, 0x40) & 0xffc0,
                    (port_pci_read32(0x0b, 0x80) & 1) ? "on" : "off");
    }
    /* The loader's Multiboot block: flags bit 0 says mem_upper (KiB of RAM from 1 MiB) is there. */
    if (!mb || !(mb[0] & 1u)) fail("no Multiboot information block", (uintptr_t)mb);
    else port_printf("x86: Multiboot info at %p: %u KiB of RAM above 1 MiB\n", (const void *)mb, (unsigned)mb[2]);
    if (!port_mmio_count) {   /* the windows the port's library check holds SeaBIOS's BARs to */
        port_printf("x86: BAR windows mem %llx+%llx mem64 %llx+%llx io %x+%x\n",
                    (unsigned long long)port_machine.mem32_base, (unsigned long long)port_machine.mem32_size,
                    (unsigned long long)port_machine.mem64_base, (unsigned long long)port_machine.mem64_size,
                    (unsigned)port_machine.io_base, (unsigned)port_machine.io_size);
        if (!port_machine.mem32_size) fail("no BAR windows (no Multiboot memory map)", 0);
    }
    for (dev = 0; dev < 32 && (lo & 1); dev++) {
        uint32_t bdf = dev << 3, cf8 = port_pci_read32(bdf, 0);
        uint32_t mm = *(volatile uint32_t *)(uintptr_t)(base + ((uint64_t)bdf << 12));
        if (cf8 != mm) fail("MMCONFIG and 0xcf8 disagree", bdf);
    }
}
#endif

/* Unaligned loads and atomics on RAM: they fault or misbehave on the arm
   machines unless the MMU maps RAM as Normal memory. The struct is not
   accessed through a volatile pointer (clang 14 turns a volatile 64-bit
   access into armv7's ldrd/strd, which need alignment whatever the
   memory type); the empty asm makes the compiler store and load it. */
struct __attribute__((packed)) odd {
    uint8_t pad;
    uint32_t u32;
    uint64_t u64;
};

static void check_memory(void)
{
    static struct odd o;
    static volatile uint32_t counter;
    struct odd *v = &o;
    uint64_t dev = 0;
    void *p;
    v->u32 = 0x11223344u;
    v->u64 = 0x5566778899aabbccull;
    __asm__ volatile("" : : "r"(v) : "memory");
    __atomic_fetch_add(&counter, 5, __ATOMIC_SEQ_CST);
    if (v->u32 != 0x11223344u || v->u64 != 0x5566778899aabbccull || counter != 5)
        fail("unaligned access or atomic", v->u32);
    p = port_platform()->dma_alloc(0, 4096, 4096, VIRTIO_MEM_DMA, &dev);
    if (!p || ((uintptr_t)p & 4095) || dev != (uintptr_t)p) fail("dma_alloc", (uintptr_t)p);
    port_printf("memory: unaligned and atomic ok, dma pool %u KiB free at %p, free RAM from %p\n",
                (unsigned)(port_dma_free_bytes() >> 10), p, (void *)port_free_ram());
    if (port_free_ram() < (uintptr_t)p + port_dma_free_bytes()) fail("free RAM inside the DMA pool", port_free_ram());
    port_platform()->dma_free(0, p, 4096, VIRTIO_MEM_DMA);
}

/* Device types by name (virtio 1.2 section 5), those with a driver here
   and a few more. */
static const char *type_name(uint32_t id)
{
    switch (id) {
    case VIRTIO_DEVICE_NET: return "net";
    case VIRTIO_DEVICE_BLOCK: return "block";
    case VIRTIO_DEVICE_CONSOLE: return "console";
    case VIRTIO_DEVICE_RNG: return "rng";
    case VIRTIO_DEVICE_BALLOON: return "balloon";
    case VIRTIO_DEVICE_SCSI: return "scsi";
    case VIRTIO_DEVICE_9P: return "9p";
    case VIRTIO_DEVICE_GPU: return "gpu";
    case VIRTIO_DEVICE_INPUT: return "input";
    case VIRTIO_DEVICE_VSOCK: return "vsock";
    default: return "other";
    }
}

/* The same devices through the library: find, probe, describe. */
static void list_virtio(void)
{
    const virtio_platform *p = port_platform();
    uint32_t slot = 0, bdf = 0;
    while (virtio_mmio_find(p, port_mmio_base, port_mmio_stride, port_mmio_count, 0, &slot) == VIRTIO_OK) {
        virtio_device d;
        virtio_result r = virtio_mmio_probe(&d, p, port_mmio_base + slot * port_mmio_stride);
        if (r == VIRTIO_OK)
            port_printf("virtio-mmio slot %u: type %u %s %s\n", slot, d.device_id, d.legacy ? "legacy" : "modern",
                        type_name(d.device_id));
        else fail("virtio_mmio_probe", (uint64_t)(int64_t)r);
        slot++;
    }
    while (virtio_pci_find(p, 0, &bdf) == VIRTIO_OK) {
        virtio_device d;
        virtio_result r = virtio_pci_probe(&d, p, bdf);
        if (r == VIRTIO_OK)
            port_printf("virtio-pci %02x:%02x.%x: type %u %s %s base %p (%s)\n", bdf >> 8, (bdf >> 3) & 31, bdf & 7,
                        d.device_id, d.legacy ? "legacy" : "modern", type_name(d.device_id), (void *)d.base,
                        virtio_result_str(r));
        else fail("virtio_pci_probe", bdf);
        bdf++;
    }
}

/* The ports' idle hint naps (port_irq_nap): with interrupts masked, as
   a polling guest calls it, and open. Only the timer can end these naps
   (every device interrupt stays masked), so a nap that does not come back
   hangs here and the host's timeout reports it; one that came back but
   took a second missed its timer and was ended by something else. */
static void check_nap(void)
{
    uint64_t t0, t1, longest = 0;
    int i, bad = 0;
    for (i = 0; i < 200; i++) {
        if (i == 100) port_irq_enable();
        t0 = port_now_us();
        if (port_irq_nap(5) != 0) bad++;
        t1 = port_now_us();
        if (t1 - t0 > longest) longest = t1 - t0;
    }
    port_irq_disable();
    if (longest > 1000000u) fail("a nap outlived its 5 us timer by a second", longest);
    port_printf("nap: 200 naps (100 masked, 100 open), %d without a timer, longest %llu us\n", bad,
                (unsigned long long)longest);
}

int main(void)
{
    uint64_t t0 = port_now_us(), t1;
    int c = -1, code = 0;
    port_printf("hello from %s\n", port_arch());
    port_printf("time %llu us\n", (unsigned long long)t0);
    port_print_machine(&port_machine);
    check_memory();
#if defined(__x86_64__) || defined(__i386__)
    check_x86();
#endif
    port_printf("pci: %d BARs not placed\n", port_pci_setup());
    list_pci();
    list_mmio();
    list_virtio();
    check_nap();

    port_printf("waiting 1 s for a byte on the UART\n");
    t0 = port_now_us();
    while ((t1 = port_now_us()) - t0 < 1000000u && (c = port_getc()) < 0) {}
    if (c >= 0) {
        port_printf("got '%c' after %u ms\n", c, (unsigned)((t1 - t0) / 1000));
        if (c >= '1' && c <= '9') code = c - '0';
        if (c == 't') __builtin_trap();   /* exercise the trap handler: exits with PORT_EXIT_TRAP */
        if (c == 'f') failures += (int)*(volatile uint32_t *)(uintptr_t)port_machine.addr_limit;
    } else {
        port_printf("nothing received\n");
    }
    t1 = port_now_us();
    if (t1 <= t0) fail("clock does not advance", t1);
    port_printf("uptime %u ms, %d failure(s)\n", (unsigned)(t1 / 1000), failures);
    return failures ? 1 : code;
}
