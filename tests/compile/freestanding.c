/* -ffreestanding -nostdlib: the library links with nothing but the
 * routines its objects reference on this compiler, target and -O level.
 * run.py passes them as -DVT_FS_<name> (FS_NEEDS there; the table in
 * tests/README.md), so a new dependency fails the link (memset is always
 * here: use.h calls it). memmove and memcmp are never among them.
 *
 * With -DVT_FS_LIBRARY_ONLY this is just the library (every header's
 * implementation, no use.h, nothing provided): run.py lists what that
 * object leaves undefined (nm -u) and compares it with FS_NEEDS. */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_blk.h"
#include "../../virtio_net.h"
#include "../../virtio_input.h"
#include "../../virtio_gpu.h"
#include "../../virtio_console.h"
#include "../../virtio_rng.h"
#ifndef VT_FS_LIBRARY_ONLY
#include "libc.h"
#include "use.h"

#ifdef __cplusplus
extern "C" {
#endif
void *memcpy(void *d, const void *s, size_t n);   /* memset: libc.h */
void __aeabi_memcpy(void *d, const void *s, size_t n);
void __aeabi_memcpy4(void *d, const void *s, size_t n);
void __aeabi_memcpy8(void *d, const void *s, size_t n);
void __aeabi_memclr(void *d, size_t n);
void __aeabi_memclr4(void *d, size_t n);
void __aeabi_memclr8(void *d, size_t n);
long long __ashldi3(long long a, int b);
long long __lshrdi3(long long a, int b);
void _start(void);
#ifdef __cplusplus
}
#endif

/* volatile: the compiler must not turn these loops back into calls. */
static inline void copy_bytes(void *d, const void *s, size_t n)
{
    volatile unsigned char *dp = (volatile unsigned char *)d;
    const unsigned char *sp = (const unsigned char *)s;
    while (n--) *dp++ = *sp++;
}
static inline void set_bytes(void *d, int c, size_t n)
{
    volatile unsigned char *dp = (volatile unsigned char *)d;
    while (n--) *dp++ = (unsigned char)c;
}

#ifdef VT_FS_memcpy
void *memcpy(void *d, const void *s, size_t n)
{
    copy_bytes(d, s, n);
    return d;
}
#endif
/* Always here: use.h (this test, not the library) calls memset itself.
   Whether the library needs it is the fs-needs check's business. */
void *memset(void *d, int c, size_t n)
{
    set_bytes(d, c, n);
    return d;
}
/* The ARM run-time ABI's names (RTABI §4.3.4), which clang calls instead
   of memcpy/memset on 32-bit ARM. */
#ifdef VT_FS___aeabi_memcpy
void __aeabi_memcpy(void *d, const void *s, size_t n) { copy_bytes(d, s, n); }
#endif
#ifdef VT_FS___aeabi_memcpy4
void __aeabi_memcpy4(void *d, const void *s, size_t n) { copy_bytes(d, s, n); }
#endif
#ifdef VT_FS___aeabi_memcpy8
void __aeabi_memcpy8(void *d, const void *s, size_t n) { copy_bytes(d, s, n); }
#endif
#ifdef VT_FS___aeabi_memclr
void __aeabi_memclr(void *d, size_t n) { set_bytes(d, 0, n); }
#endif
#ifdef VT_FS___aeabi_memclr4
void __aeabi_memclr4(void *d, size_t n) { set_bytes(d, 0, n); }
#endif
#ifdef VT_FS___aeabi_memclr8
void __aeabi_memclr8(void *d, size_t n) { set_bytes(d, 0, n); }
#endif
/* libgcc's 64-bit shifts, which gcc -Os calls on riscv32. Written with
   32-bit halves: a 64-bit shift here would call itself. */
#if defined(VT_FS___ashldi3) || defined(VT_FS___lshrdi3)
static inline unsigned long long halves(uint32_t hi, uint32_t lo) { return (unsigned long long)hi << 32 | lo; }
#endif
#ifdef VT_FS___ashldi3
long long __ashldi3(long long a, int b)
{
    uint32_t lo = (uint32_t)(unsigned long long)a, hi = (uint32_t)((unsigned long long)a >> 32);
    if (b & 32) {
        hi = lo << (b & 31);
        lo = 0;
    } else if (b & 31) {
        hi = hi << (b & 31) | lo >> (32 - (b & 31));
        lo <<= b & 31;
    }
    return (long long)halves(hi, lo);
}
#endif
#ifdef VT_FS___lshrdi3
long long __lshrdi3(long long a, int b)
{
    uint32_t lo = (uint32_t)(unsigned long long)a, hi = (uint32_t)((unsigned long long)a >> 32);
    if (b & 32) {
        lo = hi >> (b & 31);
        hi = 0;
    } else if (b & 31) {
        lo = lo >> (b & 31) | hi << (32 - (b & 31));
        hi >>= b & 31;
    }
    return (long long)halves(hi, lo);
}
#endif

static volatile int vt_sink;
void _start(void)
{
    vt_sink = vt_use_core() + vt_use_blk() + vt_use_net() + vt_use_input() + vt_use_gpu() + vt_use_console() + vt_use_rng();
    for (;;) {}
}
#endif
