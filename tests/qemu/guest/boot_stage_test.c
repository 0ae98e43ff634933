/* boot_stage_test.c - QEMU guest for tests/qemu/test_boot_stage.py.
 *
 * The library built as virtio_blk.h's BOOT STAGES section documents (the
 * configuration bench/boot_size.py measures): VIRTIO_BLK_MINIMAL, one
 * transport (virtio-mmio; virtio-pci in boot_stage_pci_test, the same
 * source built with BOOT_STAGE_PCI), split rings, no
 * indirect descriptors, no event index, identity DMA, no MSI-X, no log,
 * plain register access, no strings. It drives every virtio-blk device of the machine:
 * at start each disk reports what init found and its header (sector 0,
 * written by the host: "VTDISK01", seed, role). Then, on the host's lines:
 *
 *   r I OFF LEN        read LEN bytes at byte offset OFF of disk I:
 *                      "VT READ I <result> crc=<crc32>"
 *   w I OFF LEN SEED   write vt_pattern(SEED, OFF) there, then flush:
 *                      "VT WRITE I <result> <flush result>"
 *   x I                refused calls on disk I (its size from init)
 *   q                  shut every disk down, "VT LEAK", "VT END"
 *
 * Results are printed as numbers (VIRTIO_NO_STRINGS has no texts). The host
 * compares the CRCs with its images and reads the written bytes back from
 * the image after QEMU exits; nothing here decides whether a test passed.
 */
#define VIRTIO_IMPLEMENTATION
#define VIRTIO_BLK_MINIMAL
#define VIRTIO_NO_LEGACY
#define VIRTIO_NO_PACKED
#define VIRTIO_NO_STRINGS
#define VIRTIO_NO_INDIRECT
#define VIRTIO_NO_EVENT_IDX
#define VIRTIO_NO_DMA_MAP
#define VIRTIO_NO_LOG
#define VIRTIO_NO_MSIX
#define VIRTIO_DIRECT_REGS
#ifdef BOOT_STAGE_PCI
#define VIRTIO_NO_MMIO
#else
#define VIRTIO_NO_PCI
#endif
#include "vt.h"
#include "../../../virtio_blk.h"

#define NDEV 4

static virtio_device devs[VT_MAX_DEVS];
static virtio_blk disks[NDEV];
static uint8_t buf[256 * 1024];
static char line[128];
static int ndev;

static uint64_t parse_num(const char **s)
{
    uint64_t v = 0;
    while (**s == ' ') (*s)++;
    for (; **s >= '0' && **s <= '9'; (*s)++) v = v * 10u + (uint64_t)(**s - '0');
    return v;
}

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    while (n--) v = v << 8 | p[n];
    return v;
}

#define EXPECT(expr, want, what)                                                                   \
    do {                                                                                           \
        int got_ = (int)(expr);                                                                    \
        if (got_ != (int)(want)) {                                                                 \
            vt_failures++;                                                                         \
            port_printf("VT FAIL %s: got %d want %d (line %d)\n", (what), got_, (int)(want), __LINE__); \
        }                                                                                          \
    } while (0)

/* Calls the boot-stage build refuses, and caller errors it still catches.
   None of them may reach the disk (the host checks the image). */
static void refused(virtio_blk *d)
{
    virtio_blk_request rq;
    uint64_t cap = d->info.capacity;
    size_t bs = d->info.block_size;
    uint32_t changed = 7;
    VIRTIO_ZERO(&rq);
    rq.op = VIRTIO_BLK_OP_WRITE;
    rq.buf = buf;
    rq.len = 512;
    EXPECT(virtio_blk_submit(d, &rq), VIRTIO_ERR_UNSUPPORTED, "submit");
    EXPECT(virtio_blk_discard(d, 0, 8), VIRTIO_ERR_UNSUPPORTED, "discard");
    EXPECT(virtio_blk_write_zeroes(d, 0, 8, 0), VIRTIO_ERR_UNSUPPORTED, "write_zeroes");
    EXPECT(virtio_blk_read(d, cap, buf, bs), VIRTIO_ERR_RANGE, "read past the end");
    EXPECT(virtio_blk_read(d, cap - bs / 512u, buf, 2 * bs), VIRTIO_ERR_RANGE, "read across the end");
    EXPECT(virtio_blk_write(d, cap - bs / 512u, buf, 2 * bs), d->info.read_only ? VIRTIO_ERR_READ_ONLY : VIRTIO_ERR_RANGE,
           "write across the end");
    EXPECT(virtio_blk_read(d, 0, buf, 100), VIRTIO_ERR_INVALID_ARG, "partial block");
    if (bs > 512) EXPECT(virtio_blk_read(d, 1, buf, bs), VIRTIO_ERR_INVALID_ARG, "sector inside a block");
    EXPECT(virtio_blk_read(d, 0, 0, 512), VIRTIO_ERR_INVALID_ARG, "NULL buffer");
    EXPECT(virtio_blk_refresh(d, &changed), VIRTIO_OK, "refresh");
    EXPECT(changed, 0, "refresh found changes");
    port_printf("VT REFUSED ok\n");
}

int main(void)
{
    size_t before;
    int i;
    virtio_result r;
    port_pci_setup();
    ndev = vt_find(VIRTIO_DEVICE_BLOCK, devs, VT_MAX_DEVS);
    if (ndev > NDEV) ndev = NDEV;
    port_printf("VT DEVICES %d\n", ndev);
    before = port_dma_free_bytes();
    for (i = 0; i < ndev; i++) {
        virtio_blk *d = &disks[i];
        if ((r = virtio_blk_init(d, &devs[i], 0)) != VIRTIO_OK) {
            port_printf("VT FAIL init %d: %d\nVT END 1\n", i, (int)r);
            return 1;
        }
        r = virtio_blk_read(d, 0, buf, d->info.block_size);   /* the header: sector 0 */
        port_printf("VT DISK %d transport=%s read=%d magic=%s seed=%llu role=%u capacity=%llu block=%u ro=%u flush=%u "
                    "queue=%u indirect=%u features=%llx\n",
                    i, vt_transport(&d->dev), (int)r, le(buf, 8) == le((const uint8_t *)"VTDISK01", 8) ? "ok" : "bad",
                    (unsigned long long)le(buf + 8, 8), (unsigned)le(buf + 16, 4),
                    (unsigned long long)d->info.capacity, (unsigned)d->info.block_size, (unsigned)d->info.read_only,
                    (unsigned)d->info.flush, (unsigned)d->queue.size, (unsigned)d->queue.indirect,
                    (unsigned long long)d->dev.features);
    }
    port_printf("VT READY\n");
    while (vt_read_line(line, sizeof line, 120000) > 0) {
        const char *s = line + 1;
        int dev;
        uint64_t off, len;
        if (line[0] == 'q') break;
        dev = (int)parse_num(&s);
        if (dev >= ndev) {
            port_printf("VT FAIL no device %d\n", dev);
            continue;
        }
        off = parse_num(&s);
        len = parse_num(&s);
        if ((line[0] == 'r' || line[0] == 'w') && len > sizeof buf) {
            port_printf("VT FAIL length %llu\n", (unsigned long long)len);
            continue;
        }
        if (line[0] == 'r') {
            VIRTIO_MEMSET(buf, 0xa5, (size_t)len);   /* not what a failed read would leave looking right */
            r = virtio_blk_read(&disks[dev], off / 512u, buf, (size_t)len);
            port_printf("VT READ %d %d crc=%08x\n", dev, (int)r, (unsigned)vt_crc32(0, buf, (size_t)len));
        } else if (line[0] == 'w') {
            virtio_result f;
            vt_pattern(parse_num(&s), off, buf, (size_t)len);
            r = virtio_blk_write(&disks[dev], off / 512u, buf, (size_t)len);
            f = virtio_blk_flush(&disks[dev]);
            port_printf("VT WRITE %d %d %d\n", dev, (int)r, (int)f);
        } else if (line[0] == 'x') {
            refused(&disks[dev]);
        } else {
            port_printf("VT FAIL unknown command %s\n", line);
        }
    }
    for (i = ndev - 1; i >= 0; i--) {   /* newest first: the port's pool is a stack */
        EXPECT(virtio_blk_shutdown(&disks[i]), VIRTIO_OK, "shutdown");
        EXPECT(virtio_blk_read(&disks[i], 0, buf, 512), VIRTIO_ERR_STATE, "read after shutdown");
    }
    port_printf("VT LEAK %d\n", (int)(before - port_dma_free_bytes()));
    port_printf("VT END %d\n", vt_failures);
    return vt_failures != 0;
}
