/* pci.c - PCI configuration access and BAR assignment, shared by the
 * ports.
 *
 * The "virt" machines boot without firmware, so nobody has given
 * the PCI functions addresses. port_pci_setup() does what firmware would:
 * size each BAR (write all-ones, read back which address bits stick),
 * place it at the next naturally aligned address of the host bridge's
 * window for its kind (I/O, 32-bit memory, 64-bit memory; port_machine
 * has them from the device tree), and turn on
 * decoding and bus mastering. On x86 q35, SeaBIOS has already done this;
 * port_machine.mem32_size is 0 there, and the same walk only checks that
 * every BAR got an address the CPU can reach.
 *
 * Only type-0 headers on the scanned buses are handled: QEMU puts
 * -device functions on the root bus unless told otherwise. Bridges are
 * reported and left alone (no secondary bus numbers, no bridge windows).
 */
#include "port.h"

#define CFG_ID 0x00
#define CFG_COMMAND 0x04          /* 16-bit command, then 16-bit status */
#define CFG_HEADER 0x0c           /* header type is byte 2 of this dword */
#define CFG_BAR0 0x10
#define CMD_IO 0x1u
#define CMD_MEM 0x2u
#define CMD_MASTER 0x4u

#if defined(__x86_64__) || defined(__i386__)
#define PORT_PCI_CF8 1
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
#endif

/* Configuration space: ECAM where the machine has it (little-endian
   registers, port_reg_*), else (x86) the 0xcf8 address / 0xcfc data port
   pair; nothing on buses the port does not reach. */
static uintptr_t ecam(uint32_t bdf, unsigned off)
{
    return port_machine.pci_ecam + ((uintptr_t)bdf << 12) + (off & 0xffcu);
}

uint32_t port_pci_read32(uint32_t bdf, unsigned off)
{
    if ((bdf >> 8) >= port_machine.pci_buses) return 0xffffffffu;
#if defined(PORT_PCI_CF8)
    if (!port_machine.pci_ecam) {
        outl(0xcf8, 0x80000000u | bdf << 8 | (off & 0xfcu));
        return inl(0xcfc);
    }
#endif
    return port_reg_read32(ecam(bdf, off));
}

void port_pci_write32(uint32_t bdf, unsigned off, uint32_t value)
{
    if ((bdf >> 8) >= port_machine.pci_buses) return;
#if defined(PORT_PCI_CF8)
    if (!port_machine.pci_ecam) {
        outl(0xcf8, 0x80000000u | bdf << 8 | (off & 0xfcu));
        outl(0xcfc, value);
        return;
    }
#endif
    port_reg_write32(ecam(bdf, off), value);
}

/* Address space handed out so far: [next, end). end 0 = no window. */
struct window {
    uint64_t next, end;
};

static int place(struct window *w, uint64_t size, uint64_t *addr)
{
    uint64_t a = (w->next + size - 1) & ~(size - 1);
    if (!w->end || a < w->next || a > w->end || size > w->end - a) return 0;
    if (a + size > port_machine.addr_limit) return 0;
    w->next = a + size;
    *addr = a;
    return 1;
}

static void where(uint32_t bdf, unsigned bar)
{
    port_printf("port: pci %02x:%02x.%x BAR%u: ", bdf >> 8, (bdf >> 3) & 31, bdf & 7, bar);
}

/* Size and place (or, after firmware, check) the BARs of one function.
   Returns how many BARs could not be used. */
static int setup_function(uint32_t bdf, struct window *io, struct window *m32, struct window *m64)
{
    int firmware = port_machine.mem32_size == 0, failed = 0;
    uint32_t cmd = port_pci_read32(bdf, CFG_COMMAND) & 0xffffu, enable = CMD_MASTER;
    unsigned bar;
    port_pci_write32(bdf, CFG_COMMAND, cmd & ~(CMD_IO | CMD_MEM));   /* no decoding while sizing */
    for (bar = 0; bar < 6; bar++) {
        unsigned off = CFG_BAR0 + 4 * bar;
        uint32_t lo = port_pci_read32(bdf, off), hi = 0, mlo, mhi = 0xffffffffu;
        int is_io, is64;
        uint64_t size, addr;
        struct window *w;
        port_pci_write32(bdf, off, 0xffffffffu);
        mlo = port_pci_read32(bdf, off);
        if (mlo == 0) continue;   /* BAR not implemented */
        is_io = mlo & 1;
        is64 = !is_io && (mlo & 6) == 4;
        if (is64) {
            hi = port_pci_read32(bdf, off + 4);
            port_pci_write32(bdf, off + 4, 0xffffffffu);
            mhi = port_pci_read32(bdf, off + 4);
        }
        if (is_io) size = ~(0xffffffffffff0000ull | (mlo & ~3u)) + 1;
        else size = ~((uint64_t)mhi << 32 | (mlo & ~15u)) + 1;
        if (firmware) {   /* keep what SeaBIOS chose; check it */
            addr = ((uint64_t)hi << 32 | lo) & (is_io ? ~3ull : ~15ull);
            port_pci_write32(bdf, off, lo);
            if (is64) port_pci_write32(bdf, off + 4, hi);
            if (addr == 0 || (!is_io && addr + size > port_machine.addr_limit)) {
                where(bdf, bar);
                port_printf("%s (address %llx, size %llx)\n", addr ? "beyond the CPU's map" : "not assigned",
                            (unsigned long long)addr, (unsigned long long)size);
                failed++;
            }
            bar += (unsigned)is64;
            continue;
        }
        w = is_io ? io : (is64 && m64->end) ? m64 : m32;
        if (!place(w, size, &addr)) {
            where(bdf, bar);
            port_printf("%s BAR of %llx bytes does not fit\n", is_io ? "I/O" : "memory", (unsigned long long)size);
            addr = 0;
            failed++;
        } else {
            enable |= is_io ? CMD_IO : CMD_MEM;
        }
        port_pci_write32(bdf, off, (uint32_t)addr);
        if (is64) port_pci_write32(bdf, off + 4, (uint32_t)(addr >> 32));
        bar += (unsigned)is64;
    }
    port_pci_write32(bdf, CFG_COMMAND, firmware ? cmd : (cmd | enable));
    return failed;
}

int port_pci_setup(void)
{
    static int done, failed;
    struct window io, m32, m64;
    uint32_t bus, dev, fn;
    if (done) return failed;
    done = 1;
    io.next = port_machine.io_base;
    io.end = (uint64_t)port_machine.io_base + port_machine.io_size;
    m32.next = port_machine.mem32_base;
    m32.end = port_machine.mem32_base + port_machine.mem32_size;
    m64.next = port_machine.mem64_base;
    m64.end = port_machine.mem64_base + port_machine.mem64_size;
    for (bus = 0; bus < port_machine.pci_buses; bus++) {
        for (dev = 0; dev < 32; dev++) {
            for (fn = 0; fn < 8; fn++) {
                uint32_t bdf = bus << 8 | dev << 3 | fn, type;
                if ((port_pci_read32(bdf, CFG_ID) & 0xffffu) == 0xffffu) {
                    if (fn == 0) break;   /* no device */
                    continue;
                }
                type = (port_pci_read32(bdf, CFG_HEADER) >> 16) & 0xffu;
                if ((type & 0x7fu) == 0) {
                    failed += setup_function(bdf, &io, &m32, &m64);
                } else if (port_machine.mem32_size) {
                    where(bdf, 0);
                    port_printf("header type %x (bridge) left alone\n", type & 0x7fu);
                }
                if (fn == 0 && !(type & 0x80u)) break;   /* single-function device */
            }
        }
    }
    return failed;
}
