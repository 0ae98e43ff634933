/* test_blk_minimal.c - virtio_blk.h built with VIRTIO_BLK_MINIMAL (the
 * boot-stage driver: blocking reads, writes and flushes, one request at a
 * time) against the software device model, on every transport: data on
 * the model's disk, the device and caller checks of the full driver, the
 * calls it leaves out answering VIRTIO_ERR_UNSUPPORTED, and the timeout
 * and stuck-reset rules.
 */
#define VIRTIO_BLK_MINIMAL
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_blk.h"
#include "model.h"
#include "unit.h"

static uint8_t buf[(1 << 20) + 4096], buf2[1 << 20];

static int matches_pattern(const uint8_t *p, uint64_t off, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] != model_blk_pattern(off + i)) return 0;
    return 1;
}

typedef struct env {
    model_bus *bus;
    model *m;
    virtio_device dev;
    virtio_blk blk;
} env;

static virtio_result up(env *e, uint32_t transport, const model_blk_options *bo, uint32_t mode)
{
    model_options mo;
    model_blk_options def;
    memset(e, 0, sizeof *e);
    e->bus = model_bus_new();
    model_options_init(&mo, transport);
    mo.mode = mode;
    if (!bo) {
        model_blk_options_init(&def);
        bo = &def;
    }
    e->m = model_blk_new(e->bus, &mo, bo);
    CHECK_EQ(model_probe(e->m, &e->dev, 0), VIRTIO_OK);
    return virtio_blk_init(&e->blk, &e->dev, 0);
}

static void down(env *e)
{
    if (e->blk.priv.magic) CHECK_EQ(virtio_blk_shutdown(&e->blk), VIRTIO_OK);
    CHECK_EQ(e->bus->stats.bugs, 0);
    if (e->bus->stats.bugs) fprintf(stderr, "  model: %s\n", model_bus_last_bug(e->bus));
    CHECK_EQ(e->bus->stats.live_allocs, 0);
    CHECK_EQ(e->bus->stats.live_maps, 0);
    CHECK_EQ(e->bus->stats.unordered_frees, 0);   /* newest first */
    model_bus_free(e->bus);
}

static void basic(uint32_t transport, int split_dma)
{
    env e;
    virtio_blk_request rq;
    void *tok;
    virtio_result res;
    char serial[21];
    size_t i;
    CHECK_EQ(up(&e, transport, 0, MODEL_IMMEDIATE), VIRTIO_OK);
    e.bus->knobs.dma_split = e.bus->knobs.dma_bounce = split_dma;
    CHECK_EQ(e.blk.queue.indirect, 0);   /* plain chains */
    CHECK_EQ(e.blk.info.capacity, 2048);
    CHECK_EQ(e.blk.info.cylinders, 0);   /* geometry and the rest are not read */
    CHECK_EQ(e.blk.info.discard, 0);
    for (i = 0; i < 65536; i++) buf2[i] = (uint8_t)(i * 13 + 7);
    CHECK_EQ(virtio_blk_write(&e.blk, 64, buf2 + 512, 65536 - 512), VIRTIO_OK);
    CHECK(memcmp(model_blk_disk(e.m, NULL) + 64 * 512, buf2 + 512, 65536 - 512) == 0);
    CHECK_EQ(virtio_blk_read(&e.blk, 0, buf + 3, 1u << 20), VIRTIO_OK);   /* the whole disk, odd address */
    CHECK(matches_pattern(buf + 3, 0, 64 * 512));
    CHECK(memcmp(buf + 3 + 64 * 512, buf2 + 512, 65536 - 512) == 0);
    CHECK(matches_pattern(buf + 3 + 64 * 512 + 65536 - 512, 64 * 512 + 65536 - 512, (1u << 20) - 64 * 512 - 65536 + 512));
    CHECK_EQ(virtio_blk_flush(&e.blk), VIRTIO_OK);
    CHECK_EQ(model_blk_get_stats(e.m)->flushes, 1);
    CHECK_EQ(virtio_blk_read(&e.blk, 2047, buf, 1024), VIRTIO_ERR_RANGE);
    CHECK_EQ(virtio_blk_read(&e.blk, 0, buf, 100), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_blk_read(&e.blk, 0, 0, 512), VIRTIO_ERR_INVALID_ARG);
    model_blk_get_knobs(e.m)->fail_sector = 10;
    model_blk_get_knobs(e.m)->fail_count = 1;
    CHECK_EQ(virtio_blk_read(&e.blk, 8, buf, 4096), VIRTIO_ERR_IO);
    CHECK_EQ(e.blk.last_status, 1);
    CHECK_EQ(virtio_blk_read(&e.blk, 16, buf, 4096), VIRTIO_OK);
    /* left out: a clear answer, nothing reaches the device */
    memset(&rq, 0, sizeof rq);
    rq.op = VIRTIO_BLK_OP_READ;
    rq.buf = buf;
    rq.len = 512;
    CHECK_EQ(virtio_blk_submit(&e.blk, &rq), VIRTIO_ERR_UNSUPPORTED);
    CHECK_EQ(virtio_blk_poll(&e.blk, &tok, &res), VIRTIO_ERR_UNSUPPORTED);
    {
        virtio_blk_completion c;
        uint32_t n = 7;
        CHECK_EQ(virtio_blk_submit_batch(&e.blk, &rq, 1, &n), VIRTIO_ERR_UNSUPPORTED);
        CHECK_EQ(virtio_blk_poll_batch(&e.blk, &c, 1, &n), VIRTIO_ERR_UNSUPPORTED);
        CHECK_EQ(n, 7);
    }
    CHECK_EQ(virtio_blk_wait(&e.blk, &tok, &res), VIRTIO_ERR_UNSUPPORTED);
    CHECK_EQ(virtio_blk_discard(&e.blk, 0, 8), VIRTIO_ERR_UNSUPPORTED);
    CHECK_EQ(virtio_blk_write_zeroes(&e.blk, 0, 8, 0), VIRTIO_ERR_UNSUPPORTED);
    CHECK_EQ(virtio_blk_get_id(&e.blk, serial), VIRTIO_ERR_UNSUPPORTED);
    CHECK_EQ(virtio_blk_set_writeback(&e.blk, 1), VIRTIO_ERR_UNSUPPORTED);
    CHECK_EQ(model_blk_get_stats(e.m)->discards, 0);
    down(&e);
}

/* Small segments: every request in pieces, one at a time; read-only. */
static void limits(void)
{
    env e;
    model_blk_options bo;
    size_t i;
    model_blk_options_init(&bo);
    bo.seg_max = 2;
    bo.size_max = 4096;
    bo.queue_size = 4;
    CHECK_EQ(up(&e, MODEL_PCI_MODERN, &bo, MODEL_IMMEDIATE), VIRTIO_OK);
    e.bus->knobs.dma_split = 1;
    for (i = 0; i < 262144; i++) buf2[i] = (uint8_t)(i * 31 + 5);
    CHECK_EQ(virtio_blk_write(&e.blk, 8, buf2 + 100, 262144), VIRTIO_OK);
    CHECK(memcmp(model_blk_disk(e.m, NULL) + 8 * 512, buf2 + 100, 262144) == 0);
    CHECK(model_blk_get_stats(e.m)->writes >= 262144 / 8192);
    memset(buf, 0, 262144);
    CHECK_EQ(virtio_blk_read(&e.blk, 8, buf + 7, 262144), VIRTIO_OK);
    CHECK(memcmp(buf + 7, buf2 + 100, 262144) == 0);
    down(&e);
    model_blk_options_init(&bo);
    bo.features |= MODEL_BLK_F_RO;
    bo.features &= ~MODEL_BLK_F_FLUSH;
    CHECK_EQ(up(&e, MODEL_MMIO_LEGACY, &bo, MODEL_IMMEDIATE), VIRTIO_OK);
    CHECK_EQ(virtio_blk_write(&e.blk, 0, buf, 512), VIRTIO_ERR_READ_ONLY);
    CHECK_EQ(virtio_blk_flush(&e.blk), VIRTIO_OK);   /* write-through: nothing to send */
    CHECK_EQ(model_blk_get_stats(e.m)->requests, 0);
    down(&e);
}

/* A device that never answers: timeout, the device is reset, the disk
   refuses work; with a reset that never finishes, nothing is unmapped or
   freed (shutdown says VIRTIO_ERR_TIMEOUT) and the request stays in
   flight (blk->inflight 1), as in the full driver. */
static void timeout(int stuck)
{
    env e;
    uint64_t maps, allocs;
    CHECK_EQ(up(&e, MODEL_PCI_MODERN, 0, MODEL_DEFERRED), VIRTIO_OK);
    e.bus->knobs.quiet = 1;
    if (stuck) e.m->knobs.reset_delay = MODEL_FOREVER;
    CHECK_EQ(virtio_blk_read(&e.blk, 0, buf, 4096), VIRTIO_ERR_TIMEOUT);
    /* inflight: whether the device may still own the caller's buffer */
    CHECK_EQ(e.blk.inflight, stuck ? 1u : 0u);
    CHECK_EQ(virtio_blk_read(&e.blk, 0, buf, 4096), VIRTIO_ERR_STATE);
    if (!stuck) {
        CHECK_EQ(e.bus->stats.live_maps, 0);
        CHECK_EQ(virtio_blk_shutdown(&e.blk), VIRTIO_OK);
        e.m->knobs.run_on_idle = 1;
        CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, 0), VIRTIO_OK);
        CHECK_EQ(virtio_blk_read(&e.blk, 0, buf, 4096), VIRTIO_OK);
        CHECK(matches_pattern(buf, 0, 4096));
        down(&e);
        return;
    }
    maps = e.bus->stats.live_maps;
    allocs = e.bus->stats.live_allocs;
    CHECK_EQ(maps, 1);
    CHECK_EQ(virtio_blk_shutdown(&e.blk), VIRTIO_ERR_TIMEOUT);
    CHECK_EQ(e.bus->stats.live_maps, maps);
    CHECK_EQ(e.bus->stats.live_allocs, allocs);
    CHECK_EQ(e.bus->stats.bugs, 0);
    model_bus_free(e.bus);
}

int main(void)
{
    static const struct { uint32_t t; const char *name; } tr[] = {
        { MODEL_MMIO, "mmio" }, { MODEL_MMIO_LEGACY, "mmio-legacy" }, { MODEL_PCI_MODERN, "pci-modern" },
        { MODEL_PCI_TRANSITIONAL, "pci-transitional" }, { MODEL_PCI_LEGACY, "pci-legacy" },
    };
    char label[128];
    unsigned t, d;
    for (t = 0; t < sizeof tr / sizeof tr[0]; t++)
        for (d = 0; d < 2; d++) {
            snprintf(label, sizeof label, "blk minimal %s%s", tr[t].name, d ? " page-split+bounce" : "");
            RUN(basic(tr[t].t, (int)d), label);
        }
    RUN(limits(), "blk minimal seg_max 2, size_max 4096, 4-entry ring; read-only, write-through");
    RUN(timeout(0), "blk minimal timeout resets the device, re-init works");
    RUN(timeout(1), "blk minimal timeout with a reset that never finishes: nothing freed, the request still in flight");
    UNIT_EXIT();
}
