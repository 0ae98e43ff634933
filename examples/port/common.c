/* common.c - the architecture-independent half of the ports: the libc
 * subset (and the compiler's helpers on 32-bit targets), console
 * formatting, the DMA pool, the virtio_platform, power-off and the trap
 * report. PCI BAR assignment is in pci.c, the device tree in fdt.c. */
#include <stdarg.h>
#include "port.h"

/* ---- libc subset -------------------------------------------------------
   The compiler may turn loops and struct copies into calls to these, and
   virtio.h's VIRTIO_MEMCPY/VIRTIO_MEMSET default to __builtin_memcpy/
   __builtin_memset, which become calls too. */
void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *dp = (unsigned char *)d;
    const unsigned char *sp = (const unsigned char *)s;
    /* Word copies when both are aligned: guests move megabytes. */
    if ((((uintptr_t)dp | (uintptr_t)sp) & 7) == 0) {
        for (; n >= 8; n -= 8, dp += 8, sp += 8) *(uint64_t *)(void *)dp = *(const uint64_t *)(const void *)sp;
    }
    while (n--) *dp++ = *sp++;
    return d;
}

void *memmove(void *d, const void *s, size_t n)
{
    unsigned char *dp = (unsigned char *)d;
    const unsigned char *sp = (const unsigned char *)s;
    if (dp <= sp || dp >= sp + n) return memcpy(d, s, n);
    while (n--) dp[n] = sp[n];   /* overlapping, destination above: copy backwards */
    return d;
}

void *memset(void *d, int c, size_t n)
{
    unsigned char *dp = (unsigned char *)d;
    if (((uintptr_t)dp & 7) == 0) {
        uint64_t v = (unsigned char)c * 0x0101010101010101ull;
        for (; n >= 8; n -= 8, dp += 8) *(uint64_t *)(void *)dp = v;
    }
    while (n--) *dp++ = (unsigned char)c;
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
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
    for (; *a && *a == *b; a++, b++) {}
    return (unsigned char)*a - (unsigned char)*b;
}

#if defined(__ARM_EABI__)
/* The ARM run-time ABI (RTABI §4.3.4) names its own copy and clear
   routines, and clang calls them for struct copies and zeroing. The
   4/8 variants only promise aligned pointers; these do not rely on it. */
void __aeabi_memcpy(void *d, const void *s, size_t n);
void __aeabi_memcpy4(void *d, const void *s, size_t n);
void __aeabi_memcpy8(void *d, const void *s, size_t n);
void __aeabi_memmove(void *d, const void *s, size_t n);
void __aeabi_memmove4(void *d, const void *s, size_t n);
void __aeabi_memmove8(void *d, const void *s, size_t n);
void __aeabi_memset(void *d, size_t n, int c);
void __aeabi_memset4(void *d, size_t n, int c);
void __aeabi_memset8(void *d, size_t n, int c);
void __aeabi_memclr(void *d, size_t n);
void __aeabi_memclr4(void *d, size_t n);
void __aeabi_memclr8(void *d, size_t n);
void __aeabi_memcpy(void *d, const void *s, size_t n) { memcpy(d, s, n); }
void __aeabi_memcpy4(void *d, const void *s, size_t n) { memcpy(d, s, n); }
void __aeabi_memcpy8(void *d, const void *s, size_t n) { memcpy(d, s, n); }
void __aeabi_memmove(void *d, const void *s, size_t n) { memmove(d, s, n); }
void __aeabi_memmove4(void *d, const void *s, size_t n) { memmove(d, s, n); }
void __aeabi_memmove8(void *d, const void *s, size_t n) { memmove(d, s, n); }
void __aeabi_memset(void *d, size_t n, int c) { memset(d, c, n); }
void __aeabi_memset4(void *d, size_t n, int c) { memset(d, c, n); }
void __aeabi_memset8(void *d, size_t n, int c) { memset(d, c, n); }
void __aeabi_memclr(void *d, size_t n) { memset(d, 0, n); }
void __aeabi_memclr4(void *d, size_t n) { memset(d, 0, n); }
void __aeabi_memclr8(void *d, size_t n) { memset(d, 0, n); }
#endif

#if UINTPTR_MAX == 0xffffffffu
/* 32-bit CPUs divide 64-bit numbers in a library routine (libgcc /
   compiler-rt names; the ARM EABI entry points in armv7/start.S call
   port_udivmod64). Shift and subtract: at most 64 steps. */
uint64_t port_udivmod64(uint64_t n, uint64_t d, uint64_t *rem);
uint64_t __udivdi3(uint64_t n, uint64_t d);
uint64_t __umoddi3(uint64_t n, uint64_t d);
int64_t __divdi3(int64_t n, int64_t d);
int64_t __moddi3(int64_t n, int64_t d);
int64_t port_divmod64(int64_t n, int64_t d, int64_t *rem);

uint64_t port_udivmod64(uint64_t n, uint64_t d, uint64_t *rem)
{
    uint64_t q = 0, r = 0;
    int i;
    if (d == 0) __builtin_trap();   /* as the hardware would: a reported exception */
    if ((n >> 32) == 0 && (d >> 32) == 0) {   /* the CPU's own 32-bit divide */
        q = (uint32_t)n / (uint32_t)d;
        r = (uint32_t)n % (uint32_t)d;
    } else {
        for (i = 63; i >= 0; i--) {
            r = r << 1 | (n >> i & 1u);
            if (r >= d) {
                r -= d;
                q |= 1ull << i;
            }
        }
    }
    if (rem) *rem = r;
    return q;
}

/* Truncating division, remainder with the sign of the dividend (C99 6.5.5). */
int64_t port_divmod64(int64_t n, int64_t d, int64_t *rem)
{
    uint64_t un = n < 0 ? 0ull - (uint64_t)n : (uint64_t)n, ud = d < 0 ? 0ull - (uint64_t)d : (uint64_t)d, ur;
    uint64_t q = port_udivmod64(un, ud, &ur);
    if (rem) *rem = n < 0 ? (int64_t)(0ull - ur) : (int64_t)ur;
    return (n < 0) != (d < 0) ? (int64_t)(0ull - q) : (int64_t)q;
}

uint64_t __udivdi3(uint64_t n, uint64_t d) { return port_udivmod64(n, d, 0); }
uint64_t __umoddi3(uint64_t n, uint64_t d)
{
    uint64_t r;
    port_udivmod64(n, d, &r);
    return r;
}
int64_t __divdi3(int64_t n, int64_t d) { return port_divmod64(n, d, 0); }
int64_t __moddi3(int64_t n, int64_t d)
{
    int64_t r;
    port_divmod64(n, d, &r);
    return r;
}
#endif

/* ---- console ------------------------------------------------------------ */
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

static void pad(int n, char c)
{
    while (n-- > 0) port_putc(c);
}

/* One number: digits of v in `base`, a '-' if neg, padded to width. */
static void put_num(unsigned long long v, unsigned base, int upper, int neg, int width, int zero, int left)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char buf[24];
    int n = 0;
    do {
        buf[n++] = digits[v % base];
        v /= base;
    } while (v);
    width -= n + neg;
    if (!left && !zero) pad(width, ' ');
    if (neg) port_putc('-');
    if (!left && zero) pad(width, '0');
    while (n) port_putc(buf[--n]);
    if (left) pad(width, ' ');
}

void port_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    for (; *fmt; fmt++) {
        int width = 0, zero = 0, left = 0, size = 0;   /* size: 0 int, 1 long, 2 long long / size_t */
        if (*fmt != '%') {
            port_putc(*fmt);
            continue;
        }
        for (fmt++; *fmt == '0' || *fmt == '-'; fmt++) {
            if (*fmt == '0') zero = 1;
            else left = 1;
        }
        for (; *fmt >= '0' && *fmt <= '9'; fmt++) width = width * 10 + (*fmt - '0');
        for (; *fmt == 'l' || *fmt == 'z'; fmt++) size += *fmt == 'z' ? 2 : 1;
        switch (*fmt) {
        case 'd':
        case 'i': {
            long long v = size >= 2 ? va_arg(ap, long long) : size ? va_arg(ap, long) : va_arg(ap, int);
            unsigned long long m = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
            put_num(m, 10, 0, v < 0, width, zero, left);
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            unsigned long long v = size >= 2 ? va_arg(ap, unsigned long long)
                                   : size    ? va_arg(ap, unsigned long)
                                             : va_arg(ap, unsigned);
            put_num(v, *fmt == 'u' ? 10 : 16, *fmt == 'X', 0, width, zero, left);
            break;
        }
        case 'p':
            port_puts("0x");
            put_num((uintptr_t)va_arg(ap, void *), 16, 0, 0, width, zero, left);
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            int n;
            if (!s) s = "(null)";
            n = (int)strlen(s);
            if (!left) pad(width - n, ' ');
            port_puts(s);
            if (left) pad(width - n, ' ');
            break;
        }
        case 'c':
            port_putc((char)va_arg(ap, int));
            break;
        case '%':
            port_putc('%');
            break;
        case '\0':
            fmt--;   /* a lone '%' at the end */
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

/* ---- power-off and traps -------------------------------------------------
   `exiting` makes a second exit, or a trap raised by the exit path itself
   (aarch64 semihosting when QEMU runs without it), a plain power-off. */
static volatile int exiting;

void port_exit(int code)
{
    if (exiting) port_arch_poweroff();
    exiting = 1;
    port_printf("port: exit %d\n", code);
    port_arch_exit(code);
}

void port_trap(uint64_t cause, uint64_t pc, uint64_t addr)
{
    if (exiting) port_arch_poweroff();
    port_printf("\nport: trap on %s: cause %llx, pc %llx, address %llx\n", port_machine.arch,
                (unsigned long long)cause, (unsigned long long)pc, (unsigned long long)addr);
    port_exit(PORT_EXIT_TRAP);
}

/* ---- DMA pool -------------------------------------------------------------
   A bump allocator over the RAM after the image (the linker script places
   __pool_start/__pool_end; nothing is loaded or zeroed there). Device
   address = CPU address: all three machines are identity-mapped and
   DMA-coherent. Frees in reverse order of allocation give the memory back,
   alignment padding included (so leak checks with port_dma_free_bytes()
   come out exact); any other free is ignored, which is what a bootloader
   wants anyway. */
#define POOL_UNDO 256
extern uint8_t __pool_start[], __pool_end[];
static size_t pool_top;
static size_t pool_undo[POOL_UNDO];   /* pool_top before each live allocation, oldest first */
static size_t pool_live;              /* allocations not freed (or whose free was ignored) */

static size_t pool_bytes(void) { return (size_t)(__pool_end - __pool_start); }

static void *pool_alloc(void *user, size_t size, size_t align, int kind, uint64_t *dev)
{
    size_t at;
    (void)user;
    (void)kind;   /* one pool: nothing here is hidden from devices */
    if (align < 16) align = 16;
    if (align & (align - 1)) return 0;
    at = (pool_top + align - 1) & ~(align - 1);
    if (at > pool_bytes() || size > pool_bytes() - at) return 0;
    if (pool_live < POOL_UNDO) pool_undo[pool_live] = pool_top;
    pool_live++;
    pool_top = at + size;
    *dev = (uintptr_t)(__pool_start + at);
    return __pool_start + at;
}

static void pool_free(void *user, void *ptr, size_t size, int kind)
{
    (void)user;
    (void)kind;
    if (!ptr || (uint8_t *)ptr + size != __pool_start + pool_top || pool_live == 0) return;   /* not the newest */
    pool_live--;
    /* Past POOL_UNDO live blocks the padding before this one stays used. */
    pool_top = pool_live < POOL_UNDO ? pool_undo[pool_live] : (size_t)((uint8_t *)ptr - __pool_start);
}

size_t port_dma_free_bytes(void) { return pool_bytes() - pool_top; }

/* The pool is the last thing the port places in RAM (link.ld). */
uintptr_t port_free_ram(void) { return (uintptr_t)__pool_end; }

#if !defined(__x86_64__) && !defined(__i386__)
uintptr_t port_multiboot_info(void) { return 0; }   /* x86_64/port.c has the real one */
#endif

/* ---- the virtio_platform ---------------------------------------------------- */
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
static virtio_pci_windows windows;

const virtio_platform *port_platform(void) { return &platform; }

void port_init(uintptr_t boot_arg)
{
    port_arch_init(boot_arg);
    platform.dma_alloc = pool_alloc;
    platform.dma_free = pool_free;
    platform.now_us = plat_now;
    platform.idle = plat_idle;
    platform.log = plat_log;
    platform.pci_ecam = port_machine.pci_ecam;
    platform.pci_io_base = port_machine.pci_io_base;
    platform.pci_buses = port_machine.pci_buses;
    if (port_machine.mem32_size || port_machine.mem64_size || port_machine.io_size) {
        /* The host bridge windows (from the device tree, less what the CPU
           cannot reach; x86: around SeaBIOS's RAM): port_pci_setup places
           the BARs in them (x86: SeaBIOS did), and the probe uses no BAR
           outside them. */
        windows.mem_base = port_machine.mem32_base;
        windows.mem_size = port_machine.mem32_size;
        windows.mem64_base = port_machine.mem64_base;
        windows.mem64_size = port_machine.mem64_size;
        windows.io_base = port_machine.io_base;
        windows.io_size = port_machine.io_size;
        platform.pci_windows = &windows;
    }
    platform.timeout_ms = 20000;   /* software emulation on a shared machine is slow */
}

/* ---- device discovery ------------------------------------------------ */
int port_find_devices(uint32_t type, virtio_device *devs, int max)
{
    const virtio_platform *p = port_platform();
    uint32_t slot = 0, bdf = 0;
    int n = 0;
    while (n < max && port_mmio_count &&
           virtio_mmio_find(p, port_mmio_base, port_mmio_stride, port_mmio_count, type, &slot) == VIRTIO_OK) {
        virtio_result r = virtio_mmio_probe(&devs[n], p, port_mmio_base + slot * port_mmio_stride);
        if (r == VIRTIO_OK) n++;
        else port_printf("port: virtio-mmio slot %u: %s\n", (unsigned)slot, virtio_result_str(r));
        slot++;
    }
    while (n < max && port_machine.pci_buses && virtio_pci_find(p, type, &bdf) == VIRTIO_OK) {
        virtio_result r = virtio_pci_probe(&devs[n], p, bdf);
        if (r == VIRTIO_OK) n++;
        else port_printf("port: virtio-pci %x: %s\n", (unsigned)bdf, virtio_result_str(r));
        bdf++;
    }
    return n;
}
