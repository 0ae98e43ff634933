/* riscv64 "virt" (QEMU 7.2, -bios none), addresses checked against the
   machine's device tree (-machine dumpdtb):
     0x00100000  SiFive test device: power-off with an exit code
     0x02000000  CLINT; mtime at +0xbff8 counts at 10 MHz (timebase-frequency)
     0x03000000  PCI I/O space (64 KiB)
     0x10000000  NS16550A UART
     0x10001000  8 virtio-mmio slots, 0x1000 apart
     0x30000000  PCIe ECAM, 256 buses
     0x40000000  PCI 32-bit memory window (1 GiB)
     0x80000000  RAM
     0x400000000 PCI 64-bit memory window (16 GiB)
   M-mode without paging reaches all of it directly. */
#include "../port.h"

#define UART 0x10000000u
#define UART_RBR 0   /* receive buffer (read) */
#define UART_THR 0   /* transmit holding (write) */
#define UART_LSR 5   /* line status: bit 0 data ready, bit 5 THR empty */
#define CLINT_MTIME 0x0200bff8u
#define SIFIVE_TEST 0x00100000u

const struct port_machine port_machine = {
    "riscv64",
    0x30000000u, 0x03000000u, 1,                  /* ECAM, I/O space, buses scanned */
    0x40000000u, 0x40000000u,                     /* 32-bit memory window */
    0x400000000ull, 0x400000000ull,               /* 64-bit memory window */
    0x1000u, 0xf000u,                             /* I/O ports handed out */
    1ull << 56,                                   /* no MMU in the way */
};
const uintptr_t port_mmio_base = 0x10001000u;
const uintptr_t port_mmio_stride = 0x1000u;
const uint32_t port_mmio_count = 8;

static volatile uint8_t *const uart = (volatile uint8_t *)UART;

/* The UART needs no setup under QEMU. Turning its FIFOs on would throw
   away a byte the host has already sent, so they stay off: QEMU then
   holds further input back until the guest has read the last byte. */
void port_arch_init(void) {}

void port_arch_putc(char c)
{
    while (!(uart[UART_LSR] & 0x20)) {}
    uart[UART_THR] = (uint8_t)c;
}

int port_arch_getc(void) { return (uart[UART_LSR] & 1) ? uart[UART_RBR] : -1; }

uint64_t port_arch_now_us(void) { return *(volatile uint64_t *)CLINT_MTIME / 10u; }

/* Give the host CPU back while waiting: arm the timer a few microseconds
   ahead and sleep in WFI. Interrupts stay off (mstatus.MIE = 0): WFI wakes
   on the pending timer anyway, and no handler runs. */
#define CLINT_MTIMECMP 0x02004000u
void port_arch_relax(void)
{
    volatile uint64_t *cmp = (volatile uint64_t *)CLINT_MTIMECMP;
    *cmp = *(volatile uint64_t *)CLINT_MTIME + 50;   /* 5 us */
    __asm__ volatile("csrs mie, %0" : : "r"(1u << 7));   /* MTIE: the timer may wake WFI */
    __asm__ volatile("wfi");
    *cmp = ~0ull;
}

/* SiFive test device: 0x5555 exits QEMU with status 0; (code << 16) |
   0x3333 exits with status `code` (16 bits; the shell sees code & 255). */
void port_arch_exit(int code)
{
    *(volatile uint32_t *)SIFIVE_TEST = code == 0 ? 0x5555u : ((uint32_t)code & 0xffffu) << 16 | 0x3333u;
    for (;;) __asm__ volatile("wfi");
}

void port_arch_poweroff(void) { port_arch_exit(0); }
