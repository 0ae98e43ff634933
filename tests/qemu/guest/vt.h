/* vt.h - shared helpers for the QEMU test guests (tests/qemu/guest/).
 *
 * A guest finds VirtIO devices on whatever transport the runner gave the
 * machine, runs its checks, and reports on the UART in lines the host
 * parses (tests/qemu/qemu.py):
 *     VT <key> <words...>      facts the host verifies from outside
 *     VT FAIL <what> <detail>  a check inside the guest failed
 *     VT END <code>            last line; the guest then powers off
 * Nothing here decides whether a test passed: the host does, from the
 * image, the socket peer or the screendump.
 */
#ifndef VT_H
#define VT_H
#include "../../../examples/port/port.h"
#include "../../../virtio.h"

#define VT_MAX_DEVS 16

/* All VirtIO devices of `type` on MMIO and PCI. Returns how many. */
#define vt_find port_find_devices

static inline const char *vt_transport(const virtio_device *d)
{
    if (d->transport == VIRTIO_TRANSPORT_MMIO) return d->legacy ? "mmio-legacy" : "mmio-modern";
    return d->legacy ? "pci-legacy" : "pci-modern";
}

static inline uint32_t vt_crc32(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *b = (const uint8_t *)buf;
    crc = ~crc;
    while (len--) {
        int k;
        crc ^= *b++;
        for (k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* The test pattern: 8 bytes per 8-byte word of the disk, from splitmix64
   of (seed, word index). tests/qemu/qemu.py computes the same bytes. */
static inline uint64_t vt_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline void vt_pattern(uint64_t seed, uint64_t offset, void *buf, size_t len)
{
    uint8_t *b = (uint8_t *)buf;
    size_t i;
    for (i = 0; i < len; i++) {
        uint64_t o = offset + i;
        uint64_t w = vt_mix(seed * 0x100000001ull + (o >> 3) * 0x9e3779b97f4a7c15ull);
        b[i] = (uint8_t)(w >> (8 * (o & 7)));
    }
}
static inline int vt_check_pattern(uint64_t seed, uint64_t offset, const void *buf, size_t len)
{
    const uint8_t *b = (const uint8_t *)buf;
    uint8_t tmp[64];
    size_t i, n;
    for (i = 0; i < len; i += n) {
        n = len - i < sizeof tmp ? len - i : sizeof tmp;
        vt_pattern(seed, offset + i, tmp, n);
        if (memcmp(tmp, b + i, n) != 0) return 0;
    }
    return 1;
}

/* One line from the UART (CR or LF ends it, empty lines skipped) into
   b[0..cap), NUL-terminated; its length, or -1 after timeout_ms. */
static inline int vt_read_line(char *b, int cap, uint32_t timeout_ms)
{
    uint64_t end = port_now_us() + (uint64_t)timeout_ms * 1000u;
    int n = 0;
    while (port_now_us() < end) {
        int c = port_getc();
        if (c < 0) continue;
        if (c == '\n' || c == '\r') {
            if (n == 0) continue;
            b[n] = 0;
            return n;
        }
        if (n < cap - 1) b[n++] = (char)c;
    }
    return -1;
}

static int vt_failures;
#define VT_CHECK(cond, what, detail)                                                   \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            vt_failures++;                                                             \
            port_printf("VT FAIL %s %s (line %d)\n", (what), (detail), __LINE__);      \
        }                                                                              \
    } while (0)
#define VT_EXPECT(expr, want, what)                                                    \
    do {                                                                               \
        virtio_result vt_r_ = (expr);                                                  \
        if (vt_r_ != (want)) {                                                         \
            vt_failures++;                                                             \
            port_printf("VT FAIL %s got %s want %s (line %d)\n", (what),               \
                        virtio_result_str(vt_r_), virtio_result_str(want), __LINE__);  \
        }                                                                              \
    } while (0)

#endif
