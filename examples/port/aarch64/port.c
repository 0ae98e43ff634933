/* aarch64 "virt" (QEMU 7.2, highmem=off, cortex-a57), addresses checked
   against the machine's device tree (-machine dumpdtb):
     0x09000000  PL011 UART
     0x0a000000  32 virtio-mmio slots, 0x200 apart
     0x10000000  PCI 32-bit memory window, up to 0x3efeffff
     0x3eff0000  PCI I/O space (64 KiB)
     0x3f000000  PCIe ECAM, 16 buses (highmem=off)
     0x40000000  RAM
   PSCI through `hvc` for power-off; the generic timer for time. The MMU
   is on (start.S): identity map, first GiB Device-nGnRE, RAM write-back. */
#include "../port.h"

#define PL011 0x09000000u
#define PL011_DR 0x00
#define PL011_FR 0x18
#define PL011_FR_RXFE (1u << 4)   /* receive FIFO empty */
#define PL011_FR_TXFF (1u << 5)   /* transmit FIFO full */
#define PSCI_SYSTEM_OFF 0x84000008u

const struct port_machine port_machine = {
    "aarch64",
    0x3f000000u, 0x3eff0000u, 1,   /* ECAM, I/O space, buses scanned */
    0x10000000u, 0x2eff0000u,      /* 32-bit memory window */
    0, 0,                          /* no 64-bit window with highmem=off */
    0x1000u, 0xf000u,              /* I/O ports handed out */
    1ull << 32,                    /* the identity map covers 4 GiB */
};
const uintptr_t port_mmio_base = 0x0a000000u;
const uintptr_t port_mmio_stride = 0x200u;
const uint32_t port_mmio_count = 32;

static uint64_t freq;   /* generic timer ticks per second */

static inline uint32_t rd(unsigned off) { return *(volatile uint32_t *)(uintptr_t)(PL011 + off); }
static inline void wr(unsigned off, uint32_t v) { *(volatile uint32_t *)(uintptr_t)(PL011 + off) = v; }

void port_arch_init(void)
{
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(freq));
    if (!freq) freq = 62500000u;   /* QEMU's value, should firmware have left it 0 */
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

void port_arch_relax(void) { __asm__ volatile("yield"); }

void port_arch_poweroff(void)
{
    register uint64_t x0 __asm__("x0") = PSCI_SYSTEM_OFF;
    __asm__ volatile("hvc #0" : "+r"(x0) : : "memory");
    for (;;) __asm__ volatile("wfe");
}

/* PSCI SYSTEM_OFF always exits QEMU with status 0. A status only gets out
   through semihosting (QEMU -semihosting-config enable=on,target=native):
   SYS_EXIT with ADP_Stopped_ApplicationExit and the code. Without
   semihosting the `hlt` is an undefined instruction; the trap vector then
   sees port_exit in progress and powers off through PSCI. */
void port_arch_exit(int code)
{
    static uint64_t block[2];
    register uint64_t x0 __asm__("x0") = 0x18;   /* SYS_EXIT */
    register uint64_t x1 __asm__("x1") = (uintptr_t)block;
    if (code == 0) port_arch_poweroff();
    block[0] = 0x20026;                          /* ADP_Stopped_ApplicationExit */
    block[1] = (uint64_t)(int64_t)code;
    __asm__ volatile("hlt #0xf000" : "+r"(x0) : "r"(x1) : "memory");
    port_arch_poweroff();
}
