/* common.c - the architecture-independent half of the ports: console
 * formatting, the libc subset, the DMA pool, the virtio_platform, and PCI
 * BAR assignment for machines without firmware. */
#include <stdarg.h>
#include "port.h"

/* ---- libc subset ---------------------------------------------------- */
void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *dp = d;
    const unsigned char *sp = s;
    /* Word copies when both are aligned: guests move megabytes. */
    if ((((uintptr_t)dp | (uintptr_t)sp) & 7) == 0) {
        while (n >= 8) {
            *(uint64_t *)(void *)dp = *(const uint64_t *)(const void *)sp;
            dp += 8;
            sp += 8;
            n -= 8;
        }
    }
    while (n--) *dp++ = *sp++;
    return d;
}

void *memmove(void *d, const void *s, size_t n)
{
    unsigned char *dp = d;
    const unsigned char *sp = s;
    if (dp <= sp || dp >= sp + n) return memcpy(d, s, n);
    while (n--) dp[n] = sp[n];
    return d;
}

void *memset(void *d, int c, size_t n)
{
    unsigned char *dp = d;
    if (((uintptr_t)dp & 7) == 0) {
        uint64_t v = (unsigned char)c * 0x0101010101010101ull;
        while (n >= 8) {
            *(uint64_t *)(void *)dp = v;
            dp += 8;
            n -= 8;
        }
    }
    while (n--) *dp++ = (unsigned char)c;
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y) return *x - *y;
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b) a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}

/* ---- console -------------------------------------------------------- */
void port_putc(char c)
{
    if (c == '\n') port_arch_putc('\r');
    port_arch_putc(c);
}

void port_puts(const char *s)
{
    while (*s) port_putc(*s++);
}

int port_getc(void) { return port_arch_getc(); }

static void put_num(unsigned long long v, unsigned base, int upper, int width, int zero, int left, int neg)
{
    char buf[24];
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    int n = 0, pad;
    do {
        buf[n++] = digits[v % base];
        v /= base;
    } while (v);
    if (neg) buf[n++] = '-';
    pad = width > n ? width - n : 0;
    if (!left && zero && neg) {   /* sign before the zeros */
        port_putc('-');
        n--;
    }
    if (!left) while (pad--) port_putc(zero ? '0' : ' ');
    while (n--) port_putc(buf[n]);
    if (left) while (pad--) port_putc(' ');
}

void port_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    for (; *fmt; fmt++) {
        int width = 0, zero = 0, left = 0, lng = 0;
        if (*fmt != '%') {
            port_putc(*fmt);
            continue;
        }
        fmt++;
        for (;; fmt++) {
            if (*fmt == '0') zero = 1;
            else if (*fmt == '-') left = 1;
            else break;
        }
        while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l' || *fmt == 'z') {
            lng += *fmt == 'z' ? 2 : 1;
            fmt++;
        }
        switch (*fmt) {
        case 'd':
        case 'i': {
            long long v = lng >= 2 ? va_arg(ap, long long) : lng ? va_arg(ap, long) : va_arg(ap, int);
            put_num(v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v, 10, 0, width, zero, left, v < 0);
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            unsigned long long v = lng >= 2 ? va_arg(ap, unsigned long long)
                                   : lng  ? va_arg(ap, unsigned long)
                                          : va_arg(ap, unsigned);
            put_num(v, *fmt == 'u' ? 10 : 16, *fmt == 'X', width, zero, left, 0);
            break;
        }
        case 'p':
            port_puts("0x");
            put_num((uintptr_t)va_arg(ap, void *), 16, 0, width, zero, left, 0);
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            int n = (int)strlen(s ? s : "(null)");
            if (!left) while (width-- > n) port_putc(' ');
            port_puts(s ? s : "(null)");
            if (left) while (width-- > n) port_putc(' ');
            break;
        }
        case 'c':
            port_putc((char)va_arg(ap, int));
            break;
        case '%':
            port_putc('%');
            break;
        default:
            port_putc('%');
            port_putc(*fmt);
            break;
        }
    }
    va_end(ap);
}

uint64_t port_now_us(void) { return port_arch_now_us(); }
const char *port_arch(void) { return port_machine.arch; }

void port_exit(int code)
{
    port_arch_exit(code);
}

/* ---- DMA pool --------------------------------------------------------
   A bump allocator over a static array (identity-mapped: device address =
   CPU address). Freeing the most recent block gives it back, alignment
   padding included; anything else stays allocated, which is what a
   bootloader wants anyway. */
#define POOL_BYTES (48u << 20)
#define POOL_UNDO 256
static uint8_t pool[POOL_BYTES] __attribute__((aligned(4096)));
static size_t pool_top;
static size_t undo[POOL_UNDO];   /* pool_top before each recorded allocation */
static unsigned undo_n, unrecorded;   /* allocations past the stack stay for good */

static void *pool_alloc(void *user, size_t size, size_t align, int kind, uint64_t *dev)
{
    size_t at = (pool_top + align - 1) & ~(align - 1);
    (void)user;
    (void)kind;
    if (at > POOL_BYTES || size > POOL_BYTES - at) return 0;
    if (undo_n < POOL_UNDO && !unrecorded) undo[undo_n++] = pool_top;
    else unrecorded++;
    pool_top = at + size;
    *dev = (uintptr_t)(pool + at);
    return pool + at;
}

static void pool_free(void *user, void *ptr, size_t size, int kind)
{
    (void)user;
    (void)kind;
    if ((uint8_t *)ptr + size != pool + pool_top) return;   /* not the newest block */
    if (unrecorded) unrecorded--;                           /* keep it: no undo entry */
    else if (undo_n) pool_top = undo[--undo_n];
}

size_t port_dma_free_bytes(void) { return POOL_BYTES - pool_top; }

static uint64_t plat_now(void *user)
{
    (void)user;
    return port_arch_now_us();
}

static void plat_idle(void *user)
{
    (void)user;
    port_arch_relax();
}

static void plat_log(void *user, int level, int id, const char *text, uint64_t value)
{
    (void)user;
    if (level <= VIRTIO_LOG_WARN)
        port_printf("virtio: %s (id %d, value %llx)\n", text ? text : "?", id, (unsigned long long)value);
}

static virtio_platform platform;

const virtio_platform *port_platform(void) { return &platform; }

void port_init(void)
{
    port_arch_init();
    platform.dma_alloc = pool_alloc;
    platform.dma_free = pool_free;
    platform.now_us = plat_now;
    platform.idle = plat_idle;
    platform.log = plat_log;
    platform.pci_ecam = port_machine.pci_ecam;
    platform.pci_io_base = port_machine.pci_io_base;
    platform.pci_buses = port_machine.pci_buses;
    platform.timeout_ms = 20000;   /* software emulation on a shared machine is slow */
}

/* ---- PCI BAR assignment ----------------------------------------------
   riscv64 and aarch64 "virt" start without firmware, so nobody has placed
   the BARs. Size each one (write all-ones, read back the mask), then give
   it the next naturally aligned range of the host bridge's window. */
static uint32_t cfg_rd(uint32_t bdf, unsigned off)
{
    return *(volatile uint32_t *)(port_machine.pci_ecam + ((uintptr_t)bdf << 12) + off);
}

static void cfg_wr(uint32_t bdf, unsigned off, uint32_t v)
{
    *(volatile uint32_t *)(port_machine.pci_ecam + ((uintptr_t)bdf << 12) + off) = v;
}

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

void port_pci_setup(void)
{
    uint64_t mem = port_machine.mem32_base, io = port_machine.io_base;
    uint32_t bdf;
    if (!port_machine.mem32_size || !port_machine.pci_ecam) return;   /* firmware did it */
    for (bdf = 0; bdf < port_machine.pci_buses * 256u; bdf++) {
        uint32_t id = cfg_rd(bdf, 0), bar, cmd;
        if ((id & 0xffff) == 0xffff) continue;
        if (((cfg_rd(bdf, 0x0c) >> 16) & 0x7f) != 0) continue;   /* only type-0 headers have 6 BARs */
        cmd = cfg_rd(bdf, 4) & 0xffff;
        cfg_wr(bdf, 4, cmd & ~3u);   /* no decoding while sizing */
        for (bar = 0; bar < 6; bar++) {
            unsigned off = 0x10 + 4 * bar;
            uint32_t orig = cfg_rd(bdf, off), lo, is64;
            uint64_t mask, size;
            cfg_wr(bdf, off, 0xffffffffu);
            lo = cfg_rd(bdf, off);
            if (lo == 0) {
                cfg_wr(bdf, off, orig);
                continue;   /* not implemented */
            }
            if (lo & 1) {   /* I/O */
                size = (~(lo & ~3u) + 1) & 0xffff;
                io = align_up(io, size);
                if (size == 0 || io + size > port_machine.io_base + port_machine.io_size) continue;
                cfg_wr(bdf, off, (uint32_t)io);
                io += size;
                continue;
            }
            is64 = ((lo >> 1) & 3) == 2;
            mask = lo & ~0xfu;
            if (is64) {
                cfg_wr(bdf, off + 4, 0xffffffffu);
                mask |= (uint64_t)cfg_rd(bdf, off + 4) << 32;
            } else {
                mask |= 0xffffffff00000000ull;
            }
            size = ~mask + 1;
            mem = align_up(mem, size);
            if (size == 0 || mem + size > port_machine.mem32_base + port_machine.mem32_size) {
                port_printf("port: BAR %u of %x does not fit\n", bar, bdf);
                continue;
            }
            cfg_wr(bdf, off, (uint32_t)mem);
            if (is64) cfg_wr(bdf, off + 4, (uint32_t)(mem >> 32));
            mem += size;
            bar += is64;
        }
        cfg_wr(bdf, 4, cmd | 7u);   /* I/O, memory, bus master */
    }
}
