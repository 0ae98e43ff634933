/* armv7 "virt" (QEMU 7.2, cortex-a15, highmem=off), little-endian or
   big-endian (armv7be: BE8, big-endian data, little-endian instructions;
   QEMU runs the CPU so for a BE8 image). The layout comes
   from the device tree QEMU puts at the start of RAM for an ELF image.
   QEMU 7.2 has the same low map as aarch64:
     0x08000000  GICv2 distributor, CPU interface at 0x08010000
     0x09000000  PL011 UART
     0x0a000000  32 virtio-mmio slots, 0x200 apart
     0x10000000  PCI 32-bit memory window, up to 0x3efeffff
     0x3eff0000  PCI I/O space (64 KiB)
     0x3f000000  PCIe ECAM, 16 buses
     0x40000000  RAM, the device tree first
   With highmem=on (the default) QEMU moves the ECAM to 0x4010000000,
   beyond a 32-bit address: the port then reports that it has no PCI.
   PSCI for power-off (hvc, or smc if the tree says so); the generic
   timer for time. The MMU is on (start.S): identity map, first GiB
   Device, RAM write-back. */
#include "../port.h"

#define PL011_DR 0x00
#define PL011_FR 0x18
#define PL011_FR_RXFE (1u << 4)   /* receive FIFO empty */
#define PL011_FR_TXFF (1u << 5)   /* transmit FIFO full */
#define PSCI_SYSTEM_OFF 0x84000008u

/* Before the device tree is read only the UART is known (QEMU's), so
   that a missing tree can be reported; the tree gives everything else. */
struct port_machine port_machine = {
#if defined(__ARMEB__)
    "armv7be",
#else
    "armv7",
#endif
    0, 0, 0, 0, 0, 0, 0, 0, 0,
    1ull << 32,    /* 32-bit addresses, no LPAE */
    0, 0, 0,
    0x09000000u,   /* uart */
    0, 0, 0, 0, 0, 0, {0, 0}, {0, 0}, 0, 0, 0,
    0,             /* no firmware: port_pci_setup places the BARs */
};

extern uint8_t __ram_start[];   /* link.ld: where QEMU puts the device tree */
static uint32_t freq;           /* generic timer ticks per second */

static inline uint32_t rd(unsigned off) { return port_reg_read32(port_machine.uart + off); }
static inline void wr(unsigned off, uint32_t v) { port_reg_write32(port_machine.uart + off, v); }

void port_arch_init(uintptr_t boot_arg)
{
    __asm__ volatile("mrc p15, 0, %0, c14, c0, 0" : "=r"(freq));   /* CNTFRQ */
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
    __asm__ volatile("isb; mrrc p15, 1, %Q0, %R0, c14" : "=r"(t) : : "memory");   /* CNTVCT */
    return t / freq * 1000000u + t % freq * 1000000u / freq;
}

void port_arch_relax(void) { __asm__ volatile("yield"); }

/* port_irq_wait's timeout: the virtual timer's compare value, CNTV_CVAL
   and CNTV_CTL through CP15 (its PPI is in the device tree; intc.c
   disables the timer when it fires). */
void port_arch_timer(uint64_t us)
{
    uint64_t now;
    if (!us) {
        __asm__ volatile("mcr p15, 0, %0, c14, c3, 1\n isb" : : "r"(0u) : "memory");
        return;
    }
    __asm__ volatile("isb\n mrrc p15, 1, %Q0, %R0, c14" : "=r"(now) : : "memory");
    now += us * (freq / 1000u) / 1000u + 1;
    __asm__ volatile("mcrr p15, 3, %Q0, %R0, c14" : : "r"(now));
    __asm__ volatile("mcr p15, 0, %0, c14, c3, 1\n isb" : : "r"(1u) : "memory");   /* enabled, not masked */
}

void port_arch_poweroff(void)
{
    register uint32_t r0 __asm__("r0") = PSCI_SYSTEM_OFF;
    if (port_machine.psci_smc) __asm__ volatile("smc #0" : "+r"(r0) : : "memory");
    else __asm__ volatile("hvc #0" : "+r"(r0) : : "memory");
    for (;;) __asm__ volatile("wfe");
}

/* PSCI SYSTEM_OFF always exits QEMU with status 0. A status only gets out
   through semihosting (QEMU -semihosting-config enable=on,target=native):
   SYS_EXIT_EXTENDED (the 32-bit SYS_EXIT carries no code) with a block of
   ADP_Stopped_ApplicationExit and the code. QEMU 7.2 reads the block's
   words little-endian even from a big-endian CPU (as on aarch64be), so
   armv7be stores them swapped. Without semihosting the `svc` lands in our
   vector; the trap handler then sees port_exit in progress and powers
   off through PSCI. */
#if defined(__ARMEB__)
#define SEMIHOSTING_WORD(v) __builtin_bswap32(v)
#else
#define SEMIHOSTING_WORD(v) (v)
#endif
void port_arch_exit(int code)
{
    static uint32_t block[2];
    register uint32_t r0 __asm__("r0") = 0x20;   /* SYS_EXIT_EXTENDED */
    register uint32_t r1 __asm__("r1") = (uintptr_t)block;
    if (code == 0) port_arch_poweroff();
    block[0] = SEMIHOSTING_WORD(0x20026u);       /* ADP_Stopped_ApplicationExit */
    block[1] = SEMIHOSTING_WORD((uint32_t)code);
    __asm__ volatile("svc #0x123456" : "+r"(r0) : "r"(r1) : "memory");
    port_arch_poweroff();
}

/* From the vectors in start.S: which vector (0 reset ... 4 data abort ...
   7 FIQ) and the link register the exception left. The report gives the
   fault status and address registers of the abort kinds. */
void port_arm_trap(uint32_t vector, uint32_t lr) __attribute__((noreturn));
void port_arm_trap(uint32_t vector, uint32_t lr)
{
    uint32_t fsr = 0, far = 0;
    if (vector == 3) {   /* prefetch abort: IFSR, IFAR */
        __asm__ volatile("mrc p15, 0, %0, c5, c0, 1" : "=r"(fsr));
        __asm__ volatile("mrc p15, 0, %0, c6, c0, 2" : "=r"(far));
    } else if (vector == 4) {   /* data abort: DFSR, DFAR */
        __asm__ volatile("mrc p15, 0, %0, c5, c0, 0" : "=r"(fsr));
        __asm__ volatile("mrc p15, 0, %0, c6, c0, 0" : "=r"(far));
    }
    /* lr is 4 past the instruction (8 for a data abort) */
    port_trap((uint64_t)vector << 32 | fsr, lr - (vector == 4 ? 8u : 4u), far);
}
