/* aarch64 "virt" (QEMU 7.2, cortex-a57), little-endian (aarch64) or
   big-endian (aarch64be). The layout comes from the device tree QEMU
   puts at the start of RAM for an ELF image (x0 is 0 then; a loader that
   sets x0 to a tree is honoured). QEMU 7.2 has:
     0x08000000  GICv2 distributor, CPU interface at 0x08010000
     0x09000000  PL011 UART
     0x0a000000  32 virtio-mmio slots, 0x200 apart
     0x10000000  PCI 32-bit memory window, up to 0x3efeffff
     0x3eff0000  PCI I/O space (64 KiB)
     0x3f000000  PCIe ECAM, 16 buses (highmem=off only)
     0x40000000  RAM, the device tree first
     0x4010000000 PCIe ECAM, 256 buses (highmem=on, the default)
     0x8000000000 PCI 64-bit memory window, 512 GiB (highmem=on)
   PSCI for power-off (hvc, or smc if the tree says so); the generic
   timer for time. The MMU is on (start.S): identity map of the first
   TiB, devices Device-nGnRE, RAM write-back. Device registers are
   little-endian: the PL011 goes through port_reg_*. */
#include "../port.h"

#define PL011_DR 0x00
#define PL011_FR 0x18
#define PL011_FR_RXFE (1u << 4)   /* receive FIFO empty */
#define PL011_FR_TXFF (1u << 5)   /* transmit FIFO full */
#define PSCI_SYSTEM_OFF 0x84000008u

#if defined(__AARCH64EB__)
#define ARCH "aarch64be"
#else
#define ARCH "aarch64"
#endif

/* Before the device tree is read only the UART is known (QEMU's), so
   that a missing tree can be reported; the tree gives everything else. */
struct port_machine port_machine = {
    ARCH,
    0, 0, 0, 0, 0, 0, 0, 0, 0,
    1ull << 40,    /* the identity map covers 1 TiB */
    0, 0, 0,
    0x09000000u,   /* uart */
    0, 0, 0, 0, 0, 0, {0, 0}, {0, 0}, 0, 0, 0,
    0,             /* no firmware: port_pci_setup places the BARs */
};

extern uint8_t __ram_start[];   /* link.ld: where QEMU puts the device tree */
static uint64_t freq;           /* generic timer ticks per second */

static inline uint32_t rd(unsigned off) { return port_reg_read32(port_machine.uart + off); }
static inline void wr(unsigned off, uint32_t v) { port_reg_write32(port_machine.uart + off, v); }

void port_arch_init(uintptr_t boot_arg)
{
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(freq));
    if (!freq) freq = 62500000u;   /* QEMU's value, should firmware have left it 0 */
    port_machine_from_fdt(boot_arg, (uintptr_t)__ram_start);
}

void port_arch_putc(char c)
{
    while (rd(PL011_FR) & PL011_FR_TXFF) {}
    wr(PL011_DR, (uint8_t)c);
}

int port_arch_getc(void) { return (rd(PL011_FR) & PL011_FR_RXFE) ? -1 : (int)(rd(PL011_DR) & 0xff); }

uint64_t port_arch_now_us(void)
{
    uint64_t t;
    __asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(t) : : "memory");
    return t / freq * 1000000u + t % freq * 1000000u / freq;
}

/* Give the host CPU back while waiting: WFI until the virtual timer, 5 us
   ahead, or an interrupt (intc.c); without a GICv2 or the timer's line in
   the device tree, YIELD. */
void port_arch_relax(void)
{
    if (port_irq_nap(5) != 0) __asm__ volatile("yield");
}

/* port_irq_wait's timeout: the virtual timer's compare value (its PPI is
   in the device tree; intc.c disables the timer when it fires). */
void port_arch_timer(uint64_t us)
{
    uint64_t now;
    if (!us) {
        __asm__ volatile("msr cntv_ctl_el0, %0\n isb" : : "r"(0ull) : "memory");
        return;
    }
    __asm__ volatile("isb\n mrs %0, cntvct_el0" : "=r"(now) : : "memory");
    __asm__ volatile("msr cntv_cval_el0, %0" : : "r"(now + us * (freq / 1000u) / 1000u + 1));
    __asm__ volatile("msr cntv_ctl_el0, %0\n isb" : : "r"(1ull) : "memory");   /* enabled, not masked */
}

void port_arch_poweroff(void)
{
    register uint64_t x0 __asm__("x0") = PSCI_SYSTEM_OFF;
    if (port_machine.psci_smc) __asm__ volatile("smc #0" : "+r"(x0) : : "memory");
    else __asm__ volatile("hvc #0" : "+r"(x0) : : "memory");
    for (;;) __asm__ volatile("wfe");
}

/* PSCI SYSTEM_OFF always exits QEMU with status 0. A status only gets out
   through semihosting (QEMU -semihosting-config enable=on,target=native):
   SYS_EXIT with a parameter block of ADP_Stopped_ApplicationExit and the
   code. QEMU 7.2 reads the block's words little-endian even from a
   big-endian CPU (a big-endian block gives status 1), so aarch64be
   stores them swapped. Without semihosting the `hlt` is an undefined
   instruction; the trap vector then sees port_exit in progress and
   powers off through PSCI. */
#if defined(__AARCH64EB__)
#define SEMIHOSTING_WORD(v) __builtin_bswap64(v)
#else
#define SEMIHOSTING_WORD(v) (v)
#endif
void port_arch_exit(int code)
{
    static uint64_t block[2];
    register uint64_t x0 __asm__("x0") = 0x18;   /* SYS_EXIT */
    register uint64_t x1 __asm__("x1") = (uintptr_t)block;
    if (code == 0) port_arch_poweroff();
    block[0] = SEMIHOSTING_WORD(0x20026ull);     /* ADP_Stopped_ApplicationExit */
    block[1] = SEMIHOSTING_WORD((uint64_t)(int64_t)code);
    __asm__ volatile("hlt #0xf000" : "+r"(x0) : "r"(x1) : "memory");
    port_arch_poweroff();
}
