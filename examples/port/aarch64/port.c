/* aarch64 "virt" (highmem=off): PL011 UART at 0x09000000, generic timer,
   PSCI (hvc) for power-off, PCIe ECAM at 0x3f000000 (16 buses). */
#include "../port.h"

#define PL011 0x09000000u
#define PL011_DR 0x00
#define PL011_FR 0x18
#define PL011_FR_RXFE (1u << 4)
#define PL011_FR_TXFF (1u << 5)

const struct port_machine port_machine = {
    "aarch64",
    0x3f000000u, 0x3eff0000u, 1,   /* ECAM, I/O space, buses scanned */
    0x10000000u, 0x2eff0000u,      /* 32-bit memory window */
    0x1000u, 0xf000u,              /* I/O ports handed out */
};
const uintptr_t port_mmio_base = 0x0a000000u;
const uintptr_t port_mmio_stride = 0x200u;
const uint32_t port_mmio_count = 32;

static uint64_t freq;

static inline uint32_t rd(unsigned off) { return *(volatile uint32_t *)(uintptr_t)(PL011 + off); }
static inline void wr(unsigned off, uint32_t v) { *(volatile uint32_t *)(uintptr_t)(PL011 + off) = v; }

void port_arch_init(void)
{
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(freq));
    if (!freq) freq = 62500000u;
}

void port_arch_putc(char c)
{
    while (rd(PL011_FR) & PL011_FR_TXFF) {}
    wr(PL011_DR, (uint8_t)c);
}

int port_arch_getc(void)
{
    return (rd(PL011_FR) & PL011_FR_RXFE) ? -1 : (int)(rd(PL011_DR) & 0xff);
}

uint64_t port_arch_now_us(void)
{
    uint64_t t;
    __asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(t));
    return t / (freq / 1000000u);
}

void port_arch_relax(void) { __asm__ volatile("yield"); }

void port_arch_exit(int code)
{
    register uint64_t x0 __asm__("x0") = 0x84000008u;   /* PSCI SYSTEM_OFF */
    (void)code;   /* QEMU's PSCI cannot carry a status: the runner reads "VT END" */
    __asm__ volatile("hvc #0" : "+r"(x0) : : "memory");
    for (;;) __asm__ volatile("wfe");
}
