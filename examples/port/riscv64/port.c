/* riscv64 and riscv32 "virt" (QEMU 7.2, -bios none). The layout comes
   from the device tree QEMU passes in a1 (fdt.c); QEMU 7.2 has:
     0x00100000  SiFive test device: power-off with an exit code
     0x02000000  CLINT; mtime at +0xbff8 counts at 10 MHz (timebase-frequency)
     0x03000000  PCI I/O space (64 KiB)
     0x0c000000  PLIC
     0x10000000  NS16550A UART
     0x10001000  8 virtio-mmio slots, 0x1000 apart
     0x30000000  PCIe ECAM, 256 buses
     0x40000000  PCI 32-bit memory window (1 GiB)
     0x80000000  RAM; the device tree near its end
     0x300000000 (riscv32) / 0x400000000 (riscv64) PCI 64-bit memory window
   M-mode without paging reaches physical addresses directly: all of them
   on riscv64, the first 4 GiB on riscv32 (no 64-bit window there; 64-bit
   BARs go to the 32-bit one). */
#include "../port.h"

#define UART_RBR 0   /* receive buffer (read) */
#define UART_THR 0   /* transmit holding (write) */
#define UART_LSR 5   /* line status: bit 0 data ready, bit 5 THR empty */
#define CLINT_MTIMECMP 0x4000u
#define CLINT_MTIME 0xbff8u

#if __riscv_xlen == 32
#define ARCH "riscv32"
#define ADDR_LIMIT (1ull << 32)
#else
#define ARCH "riscv64"
#define ADDR_LIMIT (1ull << 56)
#endif

/* Before the device tree is read, the UART and the test device are at
   QEMU's addresses, so that a missing tree can be reported and ends the
   run; the tree then replaces them, and gives everything else. */
struct port_machine port_machine = {
    ARCH,
    0, 0, 0, 0, 0, 0, 0, 0, 0,
    ADDR_LIMIT,
    0, 0, 0,
    0x10000000u,   /* uart */
    0, 0,          /* CLINT, timebase */
    0x00100000u,   /* SiFive test device */
    0, 0, 0, {0, 0}, {0, 0}, 0, 0, 0,
    0,             /* no firmware: port_pci_setup places the BARs */
};

static volatile uint8_t *uart(void) { return (volatile uint8_t *)port_machine.uart; }

/* mtime is 64-bit; riscv32 reads it as two halves, again if the high
   half moved in between. */
static uint64_t mtime(void)
{
    volatile uint32_t *t = (volatile uint32_t *)(port_machine.timer + CLINT_MTIME);
#if __riscv_xlen == 32
    uint32_t hi, lo;
    do {
        hi = t[1];
        lo = t[0];
    } while (hi != t[1]);
    return (uint64_t)hi << 32 | lo;
#else
    return *(volatile uint64_t *)t;
#endif
}

static void set_mtimecmp(uint64_t v)
{
    volatile uint32_t *c = (volatile uint32_t *)(port_machine.timer + CLINT_MTIMECMP);
#if __riscv_xlen == 32
    c[0] = 0xffffffffu;   /* never below both the old and the new value */
    c[1] = (uint32_t)(v >> 32);
    c[0] = (uint32_t)v;
#else
    *(volatile uint64_t *)c = v;
#endif
}

/* The UART needs no setup under QEMU. Turning its FIFOs on would throw
   away a byte the host has already sent, so they stay off: QEMU then
   holds further input back until the guest has read the last byte. */
void port_arch_init(uintptr_t boot_arg)
{
    port_machine_from_fdt(boot_arg, 0);
    if (!port_machine.timer || !port_machine.timer_hz) {
        port_printf("port: the device tree has no CLINT or timebase-frequency\n");
        port_exit(PORT_EXIT_NO_DT);
    }
}

void port_arch_putc(char c)
{
    while (!(uart()[UART_LSR] & 0x20)) {}
    uart()[UART_THR] = (uint8_t)c;
}

int port_arch_getc(void) { return (uart()[UART_LSR] & 1) ? uart()[UART_RBR] : -1; }

uint64_t port_arch_now_us(void)
{
    uint64_t t = mtime(), hz = port_machine.timer_hz;
    return t / hz * 1000000u + t % hz * 1000000u / hz;
}

/* Give the host CPU back while waiting: arm the timer a few microseconds
   ahead and sleep in WFI. Interrupts stay off (mstatus.MIE = 0): WFI wakes
   on the pending timer anyway, and no handler runs. */
void port_arch_relax(void)
{
    set_mtimecmp(mtime() + port_machine.timer_hz / 200000u);   /* 5 us */
    __asm__ volatile("csrs mie, %0" : : "r"(1u << 7));   /* MTIE: the timer may wake WFI */
    __asm__ volatile("wfi");
    set_mtimecmp(~0ull);
}

/* port_irq_wait's timeout: the CLINT's compare raises the machine timer
   interrupt (mcause 7), which intc.c silences with port_arch_timer(0). */
void port_arch_timer(uint64_t us)
{
    if (!us) {
        set_mtimecmp(~0ull);
        __asm__ volatile("csrc mie, %0" : : "r"(1u << 7));
        return;
    }
    set_mtimecmp(mtime() + us * (port_machine.timer_hz / 1000u) / 1000u + 1);
    __asm__ volatile("csrs mie, %0" : : "r"(1u << 7));
}

/* SiFive test device: 0x5555 exits QEMU with status 0; (code << 16) |
   0x3333 exits with status `code` (16 bits; the shell sees code & 255). */
void port_arch_exit(int code)
{
    *(volatile uint32_t *)port_machine.poweroff = code == 0 ? 0x5555u : ((uint32_t)code & 0xffffu) << 16 | 0x3333u;
    for (;;) __asm__ volatile("wfi");
}

void port_arch_poweroff(void) { port_arch_exit(0); }
