/* rng_test.c - QEMU guest for tests/qemu/test_rng.py.
 *
 * Drives virtio_rng.h on every virtio-rng device of the machine (the host
 * attaches one, reading a file the test wrote). At start each device hands
 * out 16 bytes with a blocking read ("VT RNG <i> ... first=<hex>"). Then,
 * on the host's command lines:
 *
 *   b I N   take N more bytes from device I with reads of 1..700 bytes,
 *           blocking (all-or-nothing) and not, some batched with
 *           VIRTIO_MORE; "VT BYTES I total=.. crc=.." covers every byte
 *           taken from that device since it started, in order, and how
 *           many non-blocking reads found nothing (empty=..)
 *   d I     every byte taken from device I so far (up to 16 KiB), as
 *           "VT DATA I <offset> <hex>" lines, then "VT DUMPED I <total>"
 *   q       refused and odd calls, shut down, all DMA memory back, "VT END"
 *
 * The host compares the bytes with its files; nothing here decides whether
 * a test passed.
 */
#define VIRTIO_IMPLEMENTATION
#include "vt.h"
#include "../../../virtio_rng.h"

#define NDEV 4

static virtio_device devs[VT_MAX_DEVS];
static virtio_rng rngs[NDEV];
static uint32_t crc[NDEV], total[NDEV], empties[NDEV];
static uint8_t taken[NDEV][16384];   /* what each device handed out, in order */
static uint8_t buf[4096];
static char line[128];
static int ndev;

static uint32_t parse_num(const char **s)
{
    uint32_t v = 0;
    while (**s == ' ') (*s)++;
    for (; **s >= '0' && **s <= '9'; (*s)++) v = v * 10u + (uint32_t)(**s - '0');
    return v;
}

/* One read; what it returns joins device i's stream. */
static virtio_result take(int i, size_t len, uint32_t flags, size_t *got)
{
    virtio_result r = virtio_rng_read(&rngs[i], buf, len, flags, got);
    if (r == VIRTIO_OK) {
        if ((flags & VIRTIO_RNG_WAIT) && *got != len) {
            port_printf("VT FAIL rng %d: a blocking read of %u gave %u bytes\n", i, (unsigned)len, (unsigned)*got);
            vt_failures++;
        }
        size_t k;
        for (k = 0; k < *got && total[i] + k < sizeof taken[i]; k++) taken[i][total[i] + k] = buf[k];
        crc[i] = vt_crc32(crc[i], buf, *got);
        total[i] += (uint32_t)*got;
    }
    return r;
}

static void bytes_line(int i)
{
    port_printf("VT BYTES %d total=%u crc=%08x empty=%u\n", i, total[i], crc[i], empties[i]);
}

/* b I N */
static void cmd_bytes(int i, uint32_t n)
{
    uint32_t end = total[i] + n, k = 0;
    uint64_t deadline = port_now_us() + 60000000u;
    while (total[i] < end && port_now_us() < deadline) {
        size_t len = 1 + (k * 389u + 7u) % 700u, got = 0;
        uint32_t mode = k++ % 3, flags;
        virtio_result r;
        if (len > end - total[i]) len = end - total[i];
        flags = mode == 0 ? VIRTIO_RNG_WAIT : mode == 2 ? VIRTIO_MORE : 0;
        if (flags == VIRTIO_RNG_WAIT && len > 256) len = 256;   /* at most buffers x buffer_size */
        r = take(i, len, flags, &got);
        if (mode == 2) virtio_rng_kick(&rngs[i]);
        if (r == VIRTIO_EMPTY) empties[i]++;
        if (r != VIRTIO_OK && r != VIRTIO_EMPTY) {
            port_printf("VT FAIL rng %d read: %s\n", i, virtio_result_str(r));
            vt_failures++;
            break;
        }
    }
    bytes_line(i);
}

/* d I */
static void cmd_dump(int i)
{
    uint32_t off, k, n = total[i] < sizeof taken[i] ? total[i] : (uint32_t)sizeof taken[i];
    for (off = 0; off < n; off += 64) {
        port_printf("VT DATA %d %u ", i, off);
        for (k = off; k < off + 64 && k < n; k++) port_printf("%02x", taken[i][k]);
        port_printf("\n");
    }
    port_printf("VT DUMPED %d %u\n", i, n);
}

/* Refused and odd calls, on a live device. */
static void bad_input(void)
{
    virtio_rng dead;
    size_t got = 5;
    memset(&dead, 0, sizeof dead);
    VT_EXPECT(virtio_rng_init(&rngs[0], &devs[0], 0), VIRTIO_ERR_STATE, "init twice");
    VT_EXPECT(virtio_rng_read(&rngs[0], buf, 257, VIRTIO_RNG_WAIT, &got), VIRTIO_ERR_TOO_BIG, "wait beyond capacity");
    VT_EXPECT(virtio_rng_read(&rngs[0], 0, 1, 0, &got), VIRTIO_ERR_INVALID_ARG, "NULL buffer");
    VT_EXPECT(virtio_rng_read(&rngs[0], buf, 0, 0, &got), VIRTIO_ERR_INVALID_ARG, "zero length");
    VT_EXPECT(virtio_rng_read(&rngs[0], buf, 1, 0x40, &got), VIRTIO_ERR_INVALID_ARG, "unknown flag");
    VT_EXPECT(virtio_rng_read(&dead, buf, 1, 0, &got), VIRTIO_ERR_STATE, "uninitialised");
    VT_EXPECT(virtio_rng_refresh(&rngs[0], 0), VIRTIO_OK, "refresh");
    VT_CHECK(got == 5, "bad input", "count written on error");
}

int main(void)
{
    size_t before, got = 0;
    int i;
    virtio_result r;
    port_pci_setup();
    ndev = vt_find(VIRTIO_DEVICE_RNG, devs, VT_MAX_DEVS);
    if (ndev > NDEV) ndev = NDEV;
    port_printf("VT DEVICES %d\n", ndev);
    before = port_dma_free_bytes();
    for (i = 0; i < ndev; i++) {
        if ((r = virtio_rng_init(&rngs[i], &devs[i], 0)) != VIRTIO_OK) {
            port_printf("VT FAIL init %d: %s\nVT END 1\n", i, virtio_result_str(r));
            return 1;
        }
        r = take(i, 16, VIRTIO_RNG_WAIT, &got);
        port_printf("VT RNG %d transport=%s packed=%u ok=%d first=", i, vt_transport(&rngs[i].dev), rngs[i].queue.packed,
                    r == VIRTIO_OK);
        for (got = 0; got < 16 && r == VIRTIO_OK; got++) port_printf("%02x", buf[got]);
        port_printf("\n");
    }
    port_printf("VT READY\n");
    while (vt_read_line(line, sizeof line, 120000) > 0) {
        const char *s = line + 1;
        int dev;
        if (line[0] == 'q') break;
        dev = (int)parse_num(&s);
        if (dev >= ndev) {
            port_printf("VT FAIL no device %d\n", dev);
            continue;
        }
        if (line[0] == 'b') cmd_bytes(dev, parse_num(&s));
        else if (line[0] == 'd') cmd_dump(dev);
        else port_printf("VT FAIL unknown command %s\n", line);
    }
    bad_input();
    for (i = ndev - 1; i >= 0; i--) {   /* newest first: the port's pool is a stack */
        VT_EXPECT(virtio_rng_shutdown(&rngs[i]), VIRTIO_OK, "shutdown");
        VT_EXPECT(virtio_rng_read(&rngs[i], buf, 1, 0, &got), VIRTIO_ERR_STATE, "read after shutdown");
    }
    port_printf("VT LEAK %d\n", (int)(before - port_dma_free_bytes()));
    port_printf("VT END %d\n", vt_failures);
    return vt_failures != 0;
}
