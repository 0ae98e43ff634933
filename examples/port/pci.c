/* pci.c - PCI configuration access for the ports, and BARs.
 *
 * The "virt" machines boot without firmware, so nobody has given the PCI
 * functions addresses: port_pci_setup() hands the host bridge windows
 * from the device tree (port_machine) to virtio_pci_assign(), which
 * sizes every BAR, places it and turns decoding and bus mastering on. On
 * x86 q35, SeaBIOS has already done that (port_machine.mem32_size is 0
 * there): port_pci_setup() only checks that the CPU reaches every BAR.
 *
 * Functions behind PCI-PCI bridges (-device pcie-root-port, bus=...)
 * are found too: virtio_pci_assign numbers the buses behind bridges on
 * virt, SeaBIOS does on q35 (x86_64/port.c then scans up to the highest
 * bus it numbered).
 */
#include "port.h"

#define CFG_ID 0x00
#define CFG_HEADER 0x0c           /* header type is byte 2 of this dword */
#define CFG_BAR0 0x10

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

/* SeaBIOS placed the BARs: check that the CPU reaches every memory BAR
   (x86_64 maps 64 GiB, i686 has 4 GiB). A BAR is naturally aligned to
   its size, a power of two, so one that starts below the limit (itself a
   power of two) also ends there. I/O BARs are always reachable. */
static int check_firmware(void)
{
    uint32_t bus, dev, fn, bar;
    int failed = 0;
    for (bus = 0; bus < port_machine.pci_buses; bus++) {
        for (dev = 0; dev < 32; dev++) {
            for (fn = 0; fn < 8; fn++) {
                uint32_t bdf = bus << 8 | dev << 3 | fn, type;
                if ((port_pci_read32(bdf, CFG_ID) & 0xffffu) == 0xffffu) {
                    if (fn == 0) break;   /* no device */
                    continue;
                }
                type = (port_pci_read32(bdf, CFG_HEADER) >> 16) & 0xffu;
                for (bar = 0; bar < 6 && (type & 0x7fu) == 0; bar++) {
                    uint32_t lo = port_pci_read32(bdf, CFG_BAR0 + 4 * bar);
                    uint64_t a = lo & ~15u;
                    if (lo & 1u) continue;   /* I/O */
                    if ((lo & 6u) == 4u) a |= (uint64_t)port_pci_read32(bdf, CFG_BAR0 + 4 * ++bar) << 32;
                    if (a >= port_machine.addr_limit) {
                        port_printf("port: pci %02x:%02x.%x BAR%u at %llx is beyond the CPU's map\n", bus, dev, fn,
                                    (lo & 6u) == 4u ? bar - 1 : bar, (unsigned long long)a);
                        failed++;
                    }
                }
                if (fn == 0 && !(type & 0x80u)) break;   /* single-function device */
            }
        }
    }
    return failed;
}

int port_pci_setup(void)
{
    static int done, failed;
    uint32_t unplaced = 0;
    if (done) return failed;
    done = 1;
    if (port_machine.firmware_bars || !port_platform()->pci_windows) return failed = check_firmware();
    /* The windows the device tree gave (port_init: those the CPU cannot
       reach are already left out): virtio_pci_assign does what firmware
       would. */
    if (virtio_pci_assign(port_platform(), port_platform()->pci_windows, &unplaced) != VIRTIO_OK)
        port_printf("port: %u PCI BARs did not fit the host bridge windows\n", (unsigned)unplaced);
    return failed = (int)unplaced;
}
