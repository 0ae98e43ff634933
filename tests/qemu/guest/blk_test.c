/* blk_test.c - QEMU guest for tests/qemu/test_blk.py.
 *
 * Finds every virtio-blk device, reads the header the host put in sector
 * 0 (magic, seed, role) and exercises the driver on it. It reports what it
 * read (CRC32 of regions) and what it did; the host checks the image file
 * after QEMU exits, so a write that never reached the disk fails the test.
 *
 * Disk layout (bytes), written by the host:
 *   0          header: "VTDISK01", u64 seed, u32 role (1 rw, 2 ro, 3 4k)
 *   64 KiB     READ region, 1 MiB of pattern(seed)
 *   2 MiB      WRITE region, 1 MiB the guest fills with pattern(seed + 1)
 *   4 MiB      ZERO region, 256 KiB of pattern(seed): the guest zeroes the
 *              first half (write-zeroes) and discards the second half
 *   5 MiB      SPLIT region, 256 KiB written through a per-page mapping
 *   6 MiB      BOUNCE region, 256 KiB written through bounce buffers
 *   7 MiB      FILL region, 256 KiB written by 64 requests submitted with
 *              VIRTIO_MORE, more than a small ring holds
 */
#define VIRTIO_IMPLEMENTATION
#include "vt.h"
#include "../../../virtio_blk.h"

#define KiB 1024u
#define MiB (1024u * 1024u)
#define READ_OFF (64 * KiB)
#define READ_LEN (1 * MiB)
#define WRITE_OFF (2 * MiB)
#define WRITE_LEN (1 * MiB)
#define ZERO_OFF (4 * MiB)
#define ZERO_LEN (256 * KiB)
#define SPLIT_OFF (5 * MiB)
#define BOUNCE_OFF (6 * MiB)
#define SIDE_LEN (256 * KiB)
#define FILL_OFF (7 * MiB)
#define FILL_N 64u
#define BATCH_OFF (8 * MiB)
#define BATCH_N 160u   /* more than the 128 request slots the disk is set up with */
#define ASYNC_N 96

static uint8_t big[2 * MiB + 4096] __attribute__((aligned(4096)));
static uint8_t small[ASYNC_N][4096] __attribute__((aligned(4096)));
static virtio_blk disk;

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* A platform whose dma_map hands out at most one 4 KiB page per piece, as
   an IOMMU or a non-contiguous buffer would. */
static virtio_platform paged;
static int paged_map(void *user, void *ptr, size_t len, int dir, uint64_t *dev, size_t *mapped)
{
    uintptr_t a = (uintptr_t)ptr;
    size_t room = 4096 - (a & 4095u);
    (void)user; (void)dir;
    *dev = a;
    *mapped = len < room ? len : room;
    return 0;
}

/* A platform that bounces every transfer through its own pool (a
   restricted-DMA guest). Unmap copies device writes back. */
static virtio_platform bounced;
static uint8_t bounce_pool[256 * KiB] __attribute__((aligned(4096)));
static size_t bounce_used;
static unsigned bounce_maps, bounce_unmaps;
static int bounce_map(void *user, void *ptr, size_t len, int dir, uint64_t *dev, size_t *mapped)
{
    uint8_t *b;
    (void)user;
    if (len > sizeof bounce_pool / 2) len = sizeof bounce_pool / 2;
    if (bounce_used + len > sizeof bounce_pool) bounce_used = 0;   /* ring reuse: one request at a time */
    b = bounce_pool + bounce_used;
    bounce_used += (len + 63) & ~(size_t)63;
    if (dir != VIRTIO_DMA_FROM_DEVICE) memcpy(b, ptr, len);
    *dev = (uintptr_t)b;
    *mapped = len;
    bounce_maps++;
    return 0;
}
static void bounce_unmap(void *user, void *ptr, size_t len, int dir, uint64_t dev)
{
    (void)user;
    if (dir != VIRTIO_DMA_TO_DEVICE) memcpy(ptr, (void *)(uintptr_t)dev, len);
    bounce_unmaps++;
}

static int callbacks_seen;
static virtio_result callback_result;
static void on_done(virtio_blk *b, void *token, virtio_result r)
{
    (void)b;
    callbacks_seen += token == (void *)&callbacks_seen;
    if (r != VIRTIO_OK) callback_result = r;
}

static void report_disk(const char *role, const virtio_blk *b)
{
    const virtio_blk_info *in = &b->info;
    port_printf("VT DISK %s transport=%s packed=%u indirect=%u cap=%llu bs=%u ro=%u flush=%u wb=%u "
                "discard=%u wz=%u seg_max=%u size_max=%u qsize=%u\n",
                role, vt_transport(&b->dev), b->queue.packed, b->queue.indirect ? 1u : 0u,
                (unsigned long long)in->capacity, in->block_size, in->read_only, in->flush, in->writeback,
                in->discard, in->write_zeroes, in->seg_max, in->size_max, b->queue.size);
    /* The rest of info, as decoded from the configuration space: the host
       compares each field with the properties it gave QEMU. */
    port_printf("VT LAYOUT %s chs=%u/%u/%u pexp=%u align=%u min_io=%u opt_io=%u config_wce=%u "
                "discard=%u/%u/%u wz=%u/%u/%u\n",
                role, in->cylinders, in->heads, in->sectors, in->physical_block_exp, in->alignment_offset,
                in->min_io_size, in->opt_io_size, in->config_wce, in->max_discard_sectors, in->max_discard_seg,
                in->discard_sector_alignment, in->max_write_zeroes_sectors, in->max_write_zeroes_seg,
                in->write_zeroes_may_unmap);
}

/* Reads: whole region (sync, one 1 MiB request from an odd offset in a
   buffer), then 96 requests in flight at once. */
static void test_reads(const char *role, uint64_t seed)
{
    uint32_t bs = disk.info.block_size, i;
    uint8_t *buf = big + bs;   /* not 1 MiB aligned */
    void *tok;
    virtio_result res;
    uint32_t peak = 0, done = 0, bad = 0;

    VT_EXPECT(virtio_blk_read(&disk, READ_OFF / 512, buf, READ_LEN), VIRTIO_OK, "read 1MiB");
    port_printf("VT CRC %s %u %u %08x\n", role, READ_OFF, READ_LEN, vt_crc32(0, buf, READ_LEN));
    VT_CHECK(vt_check_pattern(seed, READ_OFF, buf, READ_LEN), "read pattern", role);

    /* Varied sizes, block multiples. */
    for (i = 1; i <= 16; i++) {
        uint32_t len = bs * i, off = READ_OFF + bs * (i * 7 % 64);
        memset(buf, 0, len);
        VT_EXPECT(virtio_blk_read(&disk, off / 512, buf, len), VIRTIO_OK, "read sized");
        VT_CHECK(vt_check_pattern(seed, off, buf, len), "read sized pattern", role);
    }

    /* Many in flight: submit all, kick once, then reap. */
    for (i = 0; i < ASYNC_N; i++) {
        virtio_blk_request rq;
        memset(&rq, 0, sizeof rq);
        rq.op = VIRTIO_BLK_OP_READ;
        rq.sector = (READ_OFF + ((i * 37u) % (READ_LEN / 4096)) * 4096u) / 512;
        rq.buf = small[i];
        rq.len = 4096;
        rq.token = small[i];
        rq.flags = i + 1 < ASYNC_N ? VIRTIO_MORE : 0;
        memset(small[i], 0xee, 4096);
        VT_EXPECT(virtio_blk_submit(&disk, &rq), VIRTIO_OK, "submit read");
        if (disk.inflight > peak) peak = disk.inflight;
    }
    while (done < ASYNC_N) {
        virtio_result r = virtio_blk_wait(&disk, &tok, &res);
        if (r != VIRTIO_OK) {
            VT_EXPECT(r, VIRTIO_OK, "wait async");
            break;
        }
        i = (uint32_t)(((uint8_t(*)[4096])tok) - small);
        if (i >= ASYNC_N || res != VIRTIO_OK ||
            !vt_check_pattern(seed, READ_OFF + ((i * 37u) % (READ_LEN / 4096)) * 4096u, small[i], 4096))
            bad++;
        done++;
    }
    port_printf("VT ASYNC %s submitted=%u completed=%u bad=%u peak=%u\n", role, ASYNC_N, done, bad, peak);
}

static void fill_write(uint64_t seed, uint32_t off, uint32_t len)
{
    vt_pattern(seed + 1, off, big, len);
}

/* Writes in mixed sizes and with callbacks, then flush. */
static void test_writes(const char *role, uint64_t seed)
{
    uint32_t bs = disk.info.block_size, pos = 0, step = 0, i;
    static const uint32_t sizes[] = { 1, 8, 3, 128, 16, 2, 64, 5 };   /* in blocks */
    while (pos < WRITE_LEN / 2) {
        uint32_t len = sizes[step++ % 8] * bs;
        if (pos + len > WRITE_LEN / 2) len = WRITE_LEN / 2 - pos;
        fill_write(seed, WRITE_OFF + pos, len);
        VT_EXPECT(virtio_blk_write(&disk, (WRITE_OFF + pos) / 512, big, len), VIRTIO_OK, "write sized");
        pos += len;
    }
    /* Second half: 8 async writes of 64 KiB with a completion callback. */
    fill_write(seed, WRITE_OFF + WRITE_LEN / 2, WRITE_LEN / 2);
    callbacks_seen = 0;
    callback_result = VIRTIO_OK;
    for (i = 0; i < 8; i++) {
        virtio_blk_request rq;
        memset(&rq, 0, sizeof rq);
        rq.op = VIRTIO_BLK_OP_WRITE;
        rq.sector = (WRITE_OFF + WRITE_LEN / 2 + i * 64 * KiB) / 512;
        rq.buf = big + i * 64 * KiB;
        rq.len = 64 * KiB;
        rq.token = &callbacks_seen;
        rq.callback = on_done;
        VT_EXPECT(virtio_blk_submit(&disk, &rq), VIRTIO_OK, "submit write");
    }
    {
        virtio_wait w;
        virtio_wait_start(&w, port_platform(), 10000);
        while (callbacks_seen < 8 && virtio_wait_step(&w) == VIRTIO_OK) virtio_blk_poll(&disk, 0, 0);
    }
    VT_CHECK(callbacks_seen == 8 && callback_result == VIRTIO_OK, "write callbacks", role);
    VT_EXPECT(virtio_blk_flush(&disk), VIRTIO_OK, "flush");
    port_printf("VT WROTE %s %u %u\n", role, WRITE_OFF, WRITE_LEN);
}

/* 64 writes submitted with VIRTIO_MORE, the last without: on a ring of 4
   entries (or 256 without indirect descriptors: 85 requests) most wait in
   the driver, which must notify what it posted when it can post no more
   (issue 11 item 2: they once waited for a kick that never came). The
   host finds the data in the image. */
static void test_fill(uint64_t seed)
{
    uint32_t i, done = 0, bad = 0;
    void *tok;
    virtio_result res;
    for (i = 0; i < FILL_N; i++) {
        virtio_blk_request rq;
        vt_pattern(seed + 4, FILL_OFF + i * 4096u, small[i], 4096);
        memset(&rq, 0, sizeof rq);
        rq.op = VIRTIO_BLK_OP_WRITE;
        rq.sector = (FILL_OFF + i * 4096u) / 512;
        rq.buf = small[i];
        rq.len = 4096;
        rq.token = small[i];
        rq.flags = i + 1 < FILL_N ? VIRTIO_MORE : 0;
        VT_EXPECT(virtio_blk_submit(&disk, &rq), VIRTIO_OK, "submit fill");
    }
    while (done < FILL_N) {
        virtio_result r = virtio_blk_wait(&disk, &tok, &res);
        if (r != VIRTIO_OK) {
            VT_EXPECT(r, VIRTIO_OK, "wait fill");
            break;
        }
        bad += res != VIRTIO_OK;
        done++;
    }
    VT_EXPECT(virtio_blk_flush(&disk), VIRTIO_OK, "fill flush");
    port_printf("VT FILLED rw %u %u done=%u bad=%u qsize=%u indirect=%u\n", FILL_OFF, FILL_N * 4096u, done, bad,
                disk.queue.size, disk.queue.indirect ? 1u : 0u);
}

/* The batched calls alone: BATCH_N writes and a flush handed over with
   virtio_blk_submit_batch (every one but the last with VIRTIO_MORE; more
   than the disk's 128 request slots, so batches are cut short) and
   taken back with virtio_blk_poll_batch only, never wait or kick. A
   batch cut short must notify what it handed over (it once did not, and
   a caller that only polled waited for ever). The host finds the data in
   the image. */
static void test_batch(uint64_t seed)
{
    static virtio_blk_request rq[BATCH_N + 1];
    virtio_blk_completion done[8];
    uint32_t i, n, sent = 0, got = 0, bad = 0, cut = 0;
    virtio_wait w;
    for (i = 0; i <= BATCH_N; i++) {
        memset(&rq[i], 0, sizeof rq[i]);
        rq[i].token = (void *)(uintptr_t)(i + 1);
        if (i == BATCH_N) {
            rq[i].op = VIRTIO_BLK_OP_FLUSH;
            break;
        }
        vt_pattern(seed + 5, BATCH_OFF + i * 4096u, big + i * 4096u, 4096);
        rq[i].op = VIRTIO_BLK_OP_WRITE;
        rq[i].sector = (BATCH_OFF + i * 4096u) / 512;
        rq[i].buf = big + i * 4096u;
        rq[i].len = 4096;
        rq[i].flags = VIRTIO_MORE;
    }
    virtio_wait_start(&w, port_platform(), 10000);
    while (got < BATCH_N + 1) {
        if (sent < BATCH_N + 1) {
            VT_EXPECT(virtio_blk_submit_batch(&disk, rq + sent, BATCH_N + 1 - sent, &n), VIRTIO_OK, "submit_batch");
            cut += n && n < BATCH_N + 1 - sent;   /* handed some over, not all */
            sent += n;
        }
        if (virtio_blk_poll_batch(&disk, done, 8, &n) == VIRTIO_OK) {
            for (i = 0; i < n; i++) bad += done[i].result != VIRTIO_OK;
            got += n;
        } else if (virtio_wait_step(&w) != VIRTIO_OK) {
            break;
        }
    }
    port_printf("VT BATCHED rw %u %u done=%u bad=%u cut=%u\n", BATCH_OFF, BATCH_N * 4096u, got, bad, cut);
}

static void test_zeroes(const char *role)
{
    uint32_t half = ZERO_LEN / 2;
    /* Not offered, or a limit below one block: refused, nothing sent. */
    if (disk.info.write_zeroes) {
        VT_EXPECT(virtio_blk_write_zeroes(&disk, ZERO_OFF / 512, half / 512, 0), VIRTIO_OK, "write zeroes");
        port_printf("VT ZEROED %s %u %u\n", role, ZERO_OFF, half);
    } else {
        VT_EXPECT(virtio_blk_write_zeroes(&disk, ZERO_OFF / 512, half / 512, 0), VIRTIO_ERR_UNSUPPORTED,
                  "write zeroes refused");
    }
    if (disk.info.discard) {
        VT_EXPECT(virtio_blk_discard(&disk, (ZERO_OFF + half) / 512, half / 512), VIRTIO_OK, "discard");
        port_printf("VT DISCARDED %s %u %u\n", role, ZERO_OFF + half, half);
    } else {
        VT_EXPECT(virtio_blk_discard(&disk, (ZERO_OFF + half) / 512, half / 512), VIRTIO_ERR_UNSUPPORTED,
                  "discard refused");
    }
}

static void test_edges(const char *role)
{
    uint64_t cap = disk.info.capacity;
    uint32_t bs = disk.info.block_size, bsec = bs / 512;
    VT_EXPECT(virtio_blk_read(&disk, cap - bsec, big, bs), VIRTIO_OK, "read last block");
    VT_EXPECT(virtio_blk_read(&disk, cap, big, bs), VIRTIO_ERR_RANGE, "read at capacity");
    VT_EXPECT(virtio_blk_read(&disk, cap - bsec, big, 2 * bs), VIRTIO_ERR_RANGE, "read across end");
    VT_EXPECT(virtio_blk_read(&disk, ~0ull - 7, big, bs), VIRTIO_ERR_RANGE, "read far");
    VT_EXPECT(virtio_blk_read(&disk, 0, 0, bs), VIRTIO_ERR_INVALID_ARG, "read NULL");
    VT_EXPECT(virtio_blk_read(&disk, 0, big, 0), VIRTIO_ERR_INVALID_ARG, "read 0 bytes");
    VT_EXPECT(virtio_blk_read(&disk, 0, big, bs + bs / 2), VIRTIO_ERR_INVALID_ARG, "read partial block");
    if (bs > 512) VT_EXPECT(virtio_blk_read(&disk, 1, big, bs), VIRTIO_ERR_INVALID_ARG, "read misaligned");
    port_printf("VT EDGES %s done\n", role);
}

/* Same disk, driven through a mapping hook: per-page pieces, at most 3
   per device request, so each caller request is split. */
static void test_split(uint64_t seed, const virtio_device *dev)
{
    virtio_blk_options o;
    virtio_device d = *dev;
    memset(&o, 0, sizeof o);
    o.max_segments = 3;
    o.max_requests = 4;
    paged = *port_platform();
    paged.dma_map = paged_map;
    d.platform = &paged;
    VT_EXPECT(virtio_blk_init(&disk, &d, &o), VIRTIO_OK, "init paged");
    vt_pattern(seed + 2, SPLIT_OFF, big + 100 * 512, SIDE_LEN);   /* buffer not page aligned */
    VT_EXPECT(virtio_blk_write(&disk, SPLIT_OFF / 512, big + 100 * 512, SIDE_LEN), VIRTIO_OK, "split write");
    memset(big, 0, SIDE_LEN + 4096);
    VT_EXPECT(virtio_blk_read(&disk, READ_OFF / 512, big + 7 * 512, SIDE_LEN), VIRTIO_OK, "split read");
    VT_CHECK(vt_check_pattern(seed, READ_OFF, big + 7 * 512, SIDE_LEN), "split read pattern", "rw");
    VT_EXPECT(virtio_blk_flush(&disk), VIRTIO_OK, "split flush");
    port_printf("VT SPLIT rw %u %u segs=%u\n", SPLIT_OFF, SIDE_LEN, disk.priv.segs);
    virtio_blk_shutdown(&disk);
}

static void test_bounce(uint64_t seed, const virtio_device *dev)
{
    virtio_device d = *dev;
    bounced = *port_platform();
    bounced.dma_map = bounce_map;
    bounced.dma_unmap = bounce_unmap;
    d.platform = &bounced;
    VT_EXPECT(virtio_blk_init(&disk, &d, 0), VIRTIO_OK, "init bounced");
    vt_pattern(seed + 3, BOUNCE_OFF, big, SIDE_LEN);
    VT_EXPECT(virtio_blk_write(&disk, BOUNCE_OFF / 512, big, SIDE_LEN), VIRTIO_OK, "bounce write");
    memset(big, 0, SIDE_LEN);
    VT_EXPECT(virtio_blk_read(&disk, READ_OFF / 512, big, SIDE_LEN), VIRTIO_OK, "bounce read");
    VT_CHECK(vt_check_pattern(seed, READ_OFF, big, SIDE_LEN), "bounce read pattern", "rw");
    VT_EXPECT(virtio_blk_flush(&disk), VIRTIO_OK, "bounce flush");
    VT_CHECK(bounce_maps > 0 && bounce_maps == bounce_unmaps, "bounce map/unmap balance", "rw");
    port_printf("VT BOUNCE rw %u %u maps=%u\n", BOUNCE_OFF, SIDE_LEN, bounce_maps);
    virtio_blk_shutdown(&disk);
}

static void wait_host(const char *what)
{
    uint64_t end = port_now_us() + 30u * 1000000u;
    port_printf("VT SYNC %s\n", what);
    while (port_getc() < 0)
        if (port_now_us() > end) {
            port_printf("VT FAIL sync %s timed out\n", what);
            return;
        }
}

int main(void)
{
    virtio_device devs[VT_MAX_DEVS];
    int n, i;
    port_pci_setup();
    n = vt_find(VIRTIO_DEVICE_BLOCK, devs, VT_MAX_DEVS);
    port_printf("VT DEVICES %d\n", n);
    for (i = 0; i < n; i++) {
        virtio_blk_options o;
        uint8_t hdr[512];
        uint64_t seed;
        uint32_t role;
        const char *name;
        char serial[21];
        virtio_result r;
        memset(&o, 0, sizeof o);
        o.max_requests = 128;
        r = virtio_blk_init(&disk, &devs[i], &o);
        if (r != VIRTIO_OK) {
            port_printf("VT FAIL init %s\n", virtio_result_str(r));
            continue;
        }
        if (virtio_blk_read(&disk, 0, big, disk.info.block_size) != VIRTIO_OK || memcmp(big, "VTDISK01", 8) != 0) {
            port_printf("VT FAIL header\n");
            continue;
        }
        memcpy(hdr, big, sizeof hdr);
        seed = rd64(hdr + 8);
        role = hdr[16];
        name = role == 1 ? "rw" : role == 2 ? "ro" : "4k";
        report_disk(name, &disk);
        if (virtio_blk_get_id(&disk, serial) == VIRTIO_OK) port_printf("VT SERIAL %s %s\n", name, serial);
        else port_printf("VT FAIL get_id\n");
        test_reads(name, seed);
        if (role == 2) {
            VT_EXPECT(virtio_blk_write(&disk, WRITE_OFF / 512, big, 4096), VIRTIO_ERR_READ_ONLY, "write ro");
            VT_EXPECT(virtio_blk_discard(&disk, WRITE_OFF / 512, 8), VIRTIO_ERR_READ_ONLY, "discard ro");
            VT_EXPECT(virtio_blk_write_zeroes(&disk, WRITE_OFF / 512, 8, 0), VIRTIO_ERR_READ_ONLY, "zeroes ro");
        } else {
            test_writes(name, seed);
            test_zeroes(name);
            if (role == 1) {
                test_fill(seed);
                test_batch(seed);
            }
        }
        test_edges(name);
        VT_EXPECT(virtio_blk_shutdown(&disk), VIRTIO_OK, "shutdown");
        if (role == 1) {
            test_split(seed, &devs[i]);
            test_bounce(seed, &devs[i]);
        }
    }
    wait_host("flushed");
    port_printf("VT END %d\n", vt_failures);
    return vt_failures != 0;
}
