/* -ffreestanding -nostdlib: the library needs nothing but these four. */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_blk.h"
#include "../../virtio_net.h"
#include "../../virtio_input.h"
#include "../../virtio_gpu.h"
#include "../../virtio_console.h"
#include "../../virtio_rng.h"
#include "libc.h"
#include "use.h"

#ifdef __cplusplus
extern "C" {
#endif
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void _start(void);
#ifdef __cplusplus
}
#endif
void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *dp = (unsigned char *)d;
    const unsigned char *sp = (const unsigned char *)s;
    while (n--) *dp++ = *sp++;
    return d;
}
void *memmove(void *d, const void *s, size_t n)
{
    unsigned char *dp = (unsigned char *)d;
    const unsigned char *sp = (const unsigned char *)s;
    if (dp < sp) while (n--) *dp++ = *sp++;
    else while (n--) dp[n] = sp[n];
    return d;
}
void *memset(void *d, int c, size_t n)
{
    unsigned char *dp = (unsigned char *)d;
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
#if defined(__ARM_EABI__)
/* ARM EABI names the same four routines differently; a bare-metal libc
   provides both. */
#ifdef __cplusplus
extern "C" {
#endif
void __aeabi_memcpy(void *d, const void *s, size_t n);
void __aeabi_memcpy4(void *d, const void *s, size_t n);
void __aeabi_memcpy8(void *d, const void *s, size_t n);
void __aeabi_memclr(void *d, size_t n);
void __aeabi_memclr4(void *d, size_t n);
void __aeabi_memclr8(void *d, size_t n);
void __aeabi_memset(void *d, size_t n, int c);
#ifdef __cplusplus
}
#endif
void __aeabi_memcpy(void *d, const void *s, size_t n) { memmove(d, s, n); }
void __aeabi_memcpy4(void *d, const void *s, size_t n) { memmove(d, s, n); }
void __aeabi_memcpy8(void *d, const void *s, size_t n) { memmove(d, s, n); }
void __aeabi_memclr(void *d, size_t n) { memset(d, 0, n); }
void __aeabi_memclr4(void *d, size_t n) { memset(d, 0, n); }
void __aeabi_memclr8(void *d, size_t n) { memset(d, 0, n); }
void __aeabi_memset(void *d, size_t n, int c) { memset(d, c, n); }
#endif
static volatile int vt_sink;
void _start(void)
{
    vt_sink = vt_use_core() + vt_use_blk() + vt_use_net() + vt_use_input() + vt_use_gpu() + vt_use_console() + vt_use_rng();
    for (;;) {}
}
