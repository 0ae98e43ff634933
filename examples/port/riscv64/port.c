/* riscv64 "virt": NS16550A UART at 0x10000000, CLINT mtime (10 MHz),
   SiFive test device for power-off, PCIe ECAM at 0x30000000. */
#include "../port.h"

#define UART 0x10000000u
#define UART_RBR 0
#define UART_THR 0
#define UART_LSR 5
#define CLINT_MTIME 0x0200bff8u
#define SIFIVE_TEST 0x00100000u

const struct port_machine port_machine = {
    "riscv64",
    0x30000000u, 0x03000000u, 1,   /* ECAM, I/O space, buses scanned */
    0x40000000u, 0x40000000u,      /* 32-bit memory window */
    0x1000u, 0xf000u,              /* I/O ports handed out */
};
const uintptr_t port_mmio_base = 0x10001000u;
const uintptr_t port_mmio_stride = 0x1000u;
const uint32_t port_mmio_count = 8;

static volatile uint8_t *const uart = (volatile uint8_t *)UART;

void port_arch_init(void) {}

void port_arch_putc(char c)
{
    while (!(uart[UART_LSR] & 0x20)) {}
    uart[UART_THR] = (uint8_t)c;
}

int port_arch_getc(void)
{
    return (uart[UART_LSR] & 1) ? uart[UART_RBR] : -1;
}

uint64_t port_arch_now_us(void)
{
    return *(volatile uint64_t *)CLINT_MTIME / 10u;
}

void port_arch_relax(void) {}

void port_arch_exit(int code)
{
    /* 0x5555: pass; (code << 16) | 0x3333: fail with that exit status. */
    *(volatile uint32_t *)SIFIVE_TEST = code == 0 ? 0x5555u : ((uint32_t)code << 16) | 0x3333u;
    for (;;) __asm__ volatile("wfi");
}
