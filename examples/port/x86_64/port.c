/* x86_64 "q35": COM1 at port 0x3f8, ACPI PM timer at 0x608 (SeaBIOS puts
   the ICH9 power-management block at 0x600), power-off through ACPI S5,
   or through isa-debug-exit (port 0xf4) to hand an exit status to the
   host when that device is present. SeaBIOS has assigned the PCI BARs;
   configuration space is reached through ports 0xcf8/0xcfc (the default
   of virtio.h on x86). */
#include "../port.h"

#define COM1 0x3f8
#define PM_TIMER 0x608
#define PM1_CNT 0x604
#define DEBUG_EXIT 0xf4

const struct port_machine port_machine = {
    "x86_64",
    0, 0, 1,          /* config through 0xcf8, port I/O, bus 0 */
    0, 0,             /* SeaBIOS assigned the BARs */
    0, 0,
};
const uintptr_t port_mmio_base = 0;
const uintptr_t port_mmio_stride = 0;
const uint32_t port_mmio_count = 0;

static inline uint8_t inb(uint16_t p)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p));
    return v;
}
static inline uint32_t inl(uint16_t p)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p));
    return v;
}
static inline void outb(uint16_t p, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(p)); }
static inline void outw(uint16_t p, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(p)); }
static inline void outl(uint16_t p, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(p)); }

static uint32_t tmr_last;
static uint64_t tmr_ticks;

void port_arch_init(void)
{
    tmr_last = inl(PM_TIMER) & 0xffffffu;
}

void port_arch_putc(char c)
{
    while (!(inb(COM1 + 5) & 0x20)) {}
    outb(COM1, (uint8_t)c);
}

int port_arch_getc(void)
{
    return (inb(COM1 + 5) & 1) ? inb(COM1) : -1;
}

uint64_t port_arch_now_us(void)
{
    /* The PM timer counts at 3.579545 MHz in 24 bits; keep a 64-bit sum. */
    uint32_t now = inl(PM_TIMER) & 0xffffffu;
    tmr_ticks += (now - tmr_last) & 0xffffffu;
    tmr_last = now;
    return tmr_ticks * 1000000u / 3579545u;
}

void port_arch_relax(void) { __asm__ volatile("pause"); }

void port_arch_exit(int code)
{
    if (code != 0) outl(DEBUG_EXIT, (uint32_t)code);   /* QEMU exits with (code << 1) | 1 */
    outw(PM1_CNT, 0x2000);                               /* SLP_EN, S5 */
    for (;;) __asm__ volatile("cli; hlt");
}
