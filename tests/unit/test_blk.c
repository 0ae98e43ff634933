/* test_blk.c - virtio_blk.h against the software device model.
 *
 * Every transport (MMIO v2 and v1, PCI modern, transitional probed both
 * ways, legacy with and without MSI-X) with split and packed rings, plain
 * and page-split + bounce DMA, immediate and shuffled deferred
 * completion; then the cases QEMU cannot produce on demand: segment and
 * size limits that force splitting, 4 KiB blocks, read-only, 100 requests
 * completing out of order, timeouts, NEEDS_RESET, flush errors, cache mode
 * and resize. Effects are checked on the model's RAM disk and counters;
 * the model reports any address or protocol violation as a bug.
 */
#define _DEFAULT_SOURCE 1   /* mmap's MAP_ANONYMOUS and MAP_NORESERVE (huge_request) */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_blk.h"
#include "model.h"
#include "model_blk.h"
#include "unit.h"

static uint8_t buf[1 << 22], buf2[1 << 22];

/* Set: devices see CPU addresses and the platform has no dma_map hook
   (bare metal's usual setup, where one-piece reads and writes take the
   slot's prebuilt indirect table); clear: the model's DMA window, every
   buffer mapped through the hooks. On a legacy transport allocations stay
   in the window (legacy rings must lie below 16 TiB) and the caller's
   buffers are seen at their CPU addresses, unless identity is 2. */
static int identity;
static void *(*real_alloc)(void *, size_t, size_t, int, uint64_t *);
/* identity 2 on a 64-bit CPU: device addresses at 16 TiB or above, as a
   64-bit host's heap mostly is (ASan's always; not a non-PIE program's
   brk heap, so the test moves that one up). The device never sees them:
   the legacy rings they would hold are refused. */
static void *high_alloc(void *user, size_t size, size_t align, int kind, uint64_t *dev)
{
    void *p = real_alloc(user, size, align, kind, dev);
    if (p && *dev < ((uint64_t)1 << 44)) *dev += (uint64_t)1 << 44;
    return p;
}
static void bus_dma(model_bus *bus, int legacy)
{
    if (!identity) return;
    if (!legacy || identity == 2) bus->knobs.dma_mode = MODEL_DMA_IDENTITY;
    if (identity == 2 && sizeof(void *) == 8) {
        real_alloc = bus->platform.dma_alloc;
        bus->platform.dma_alloc = high_alloc;
    }
    bus->platform.dma_map = 0;
    bus->platform.dma_unmap = 0;
    CHECK_EQ(model_dma_ram(bus, buf, sizeof buf), 0);
    CHECK_EQ(model_dma_ram(bus, buf2, sizeof buf2), 0);
}

typedef struct blkenv {
    model_bus *bus;
    model *m;
    virtio_device dev;
    virtio_blk blk;
} blkenv;

/* A model block device behind `transport`, probed and initialised. */
static virtio_result env_up(blkenv *e, uint32_t transport, const model_blk_options *bo, const virtio_blk_options *o,
                            int legacy_probe, int msix)
{
    model_options mo;
    model_blk_options def;
    virtio_result r;
    memset(e, 0, sizeof *e);
    e->bus = model_bus_new();
    model_options_init(&mo, transport);
    mo.msix_vectors = (uint32_t)msix;
    if (!bo) {
        model_blk_options_init(&def);
        bo = &def;
    }
    e->m = model_blk_new(e->bus, &mo, bo);
    if (!e->m) return VIRTIO_ERR_NOT_FOUND;
    bus_dma(e->bus, transport == MODEL_MMIO_LEGACY || transport == MODEL_PCI_LEGACY || legacy_probe);
    if ((r = model_probe(e->m, &e->dev, legacy_probe)) != VIRTIO_OK) return r;
    return virtio_blk_init(&e->blk, &e->dev, o);
}

static void env_down(blkenv *e)
{
    if (e->blk.priv.magic) virtio_blk_shutdown(&e->blk);
    CHECK_EQ(e->bus->stats.bugs, 0);
    if (e->bus->stats.bugs) fprintf(stderr, "  model: %s\n", model_bus_last_bug(e->bus));
    CHECK_EQ(e->bus->stats.live_maps, 0);
    CHECK_EQ(e->bus->stats.unordered_frees, 0);   /* newest first */
    model_bus_free(e->bus);
}

static int matches_pattern(const uint8_t *p, uint64_t off, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] != model_blk_pattern(off + i)) return 0;
    return 1;
}

/* kvmtool's quirks for basic() (where the model has them): 1, used
   lengths are the bytes moved to or from the disk (a write of N bytes
   reports N though the device wrote 1); 2, N + 1; and a queue size below
   the maximum is ignored. */
static int kvmtool;

/* The basic conversation on one configuration. */
static void basic(uint32_t transport, int legacy_probe, int msix, uint32_t ring, int dma, int deferred)
{
    blkenv e;
    virtio_blk_options o;
    char serial[21];
    size_t i;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    identity = dma == 2;
    CHECK_EQ(env_up(&e, transport, 0, &o, legacy_probe, msix), VIRTIO_OK);
    identity = 0;
    if (!e.blk.priv.magic) {
        env_down(&e);
        return;
    }
    e.bus->knobs.dma_split = e.bus->knobs.dma_bounce = dma == 1;
    if (kvmtool) {
        e.m->knobs.used_len = MODEL_USED_LEN_MOVED;
        e.m->knobs.ignore_small_queue_size = 1;
        model_blk_count_status(e.m, kvmtool == 2);
    }
    CHECK_EQ(e.blk.priv.table, dma == 2);   /* the model offers indirect descriptors everywhere */
    if (deferred) {
        /* Complete from the idle hook, shuffled: the driver waits for real. */
        e.m->knobs.run_on_idle = 3;
        e.m->knobs.order = MODEL_ORDER_SHUFFLE;
    }
    CHECK_EQ(e.blk.info.capacity, 2048);   /* every field as model_blk_options_init set it */
    CHECK_EQ(e.blk.info.size_max, 65536);
    CHECK_EQ(e.blk.info.seg_max, 126);
    CHECK(e.blk.info.cylinders == 2 && e.blk.info.heads == 16 && e.blk.info.sectors == 63);
    CHECK_EQ(e.blk.info.block_size, 512);
    CHECK(e.blk.info.physical_block_exp == 0 && e.blk.info.alignment_offset == 0);
    CHECK(e.blk.info.min_io_size == 1 && e.blk.info.opt_io_size == 8);
    CHECK(e.blk.info.max_discard_sectors == 2048 && e.blk.info.max_discard_seg == 4);
    CHECK_EQ(e.blk.info.discard_sector_alignment, 8);
    CHECK(e.blk.info.max_write_zeroes_sectors == 2048 && e.blk.info.max_write_zeroes_seg == 4);
    CHECK_EQ(e.blk.info.write_zeroes_may_unmap, 1);
    CHECK_EQ(e.blk.queue.packed, ring == VIRTIO_RING_PACKED);
    CHECK_EQ(virtio_blk_read(&e.blk, 3, buf + 1, 4096), VIRTIO_OK);   /* odd buffer address */
    CHECK(matches_pattern(buf + 1, 3 * 512, 4096));
    for (i = 0; i < 65536; i++) buf2[i] = (uint8_t)(i * 7 + 1);
    CHECK_EQ(virtio_blk_write(&e.blk, 100, buf2 + 512, 65536 - 512), VIRTIO_OK);
    CHECK(memcmp(model_blk_disk(e.m, NULL) + 100 * 512, buf2 + 512, 65536 - 512) == 0);
    CHECK_EQ(virtio_blk_read(&e.blk, 0, buf, 1 << 20), VIRTIO_OK);   /* the whole disk */
    CHECK(memcmp(buf + 100 * 512, buf2 + 512, 65536 - 512) == 0);
    CHECK(matches_pattern(buf, 0, 100 * 512));
    CHECK_EQ(virtio_blk_flush(&e.blk), VIRTIO_OK);
    CHECK_EQ(model_blk_get_stats(e.m)->flushes, 1);
    if (e.blk.info.discard) {
        CHECK_EQ(virtio_blk_write_zeroes(&e.blk, 300, 8, 0), VIRTIO_OK);
        for (i = 0; i < 8 * 512; i++) CHECK_EQ(model_blk_disk(e.m, NULL)[300 * 512 + i], 0);
        CHECK_EQ(virtio_blk_discard(&e.blk, 200, 8), VIRTIO_OK);
        CHECK_EQ(model_blk_get_stats(e.m)->discards, 1);
    }
    CHECK_EQ(virtio_blk_get_id(&e.blk, serial), VIRTIO_OK);
    CHECK(strcmp(serial, "model-blk-serial") == 0);
    /* Rounds of requests in flight, more in all than a shrunk ring holds
       (past the wrap of a ring that device and driver size differently). */
    for (i = 0; i < 3 * e.blk.priv.slots; i++) {
        virtio_blk_request rq;
        void *tok;
        virtio_result res;
        uint32_t k = (uint32_t)(i % e.blk.priv.slots);
        memset(&rq, 0, sizeof rq);
        rq.op = VIRTIO_BLK_OP_READ;
        rq.sector = 1024 + (uint64_t)(i % 100) * 8;   /* untouched by the writes above */
        rq.buf = buf2 + (size_t)k * 4096;
        rq.len = 4096;
        rq.token = (void *)(uintptr_t)(i + 1);
        rq.flags = k + 1 < e.blk.priv.slots ? VIRTIO_MORE : 0;
        CHECK_EQ(virtio_blk_submit(&e.blk, &rq), VIRTIO_OK);
        while (k + 1 == e.blk.priv.slots && virtio_blk_wait(&e.blk, &tok, &res) == VIRTIO_OK) {
            size_t j = (uintptr_t)tok - 1;
            CHECK_EQ(res, VIRTIO_OK);
            CHECK(matches_pattern(buf2 + (j % e.blk.priv.slots) * 4096, (1024 + (uint64_t)(j % 100) * 8) * 512, 4096));
        }
    }
    CHECK_EQ(e.blk.inflight, 0);
    CHECK_EQ(virtio_blk_read(&e.blk, 2048, buf, 512), VIRTIO_ERR_RANGE);
    CHECK_EQ(virtio_blk_read(&e.blk, 2047, buf, 1024), VIRTIO_ERR_RANGE);
    model_blk_get_knobs(e.m)->fail_sector = 10;
    model_blk_get_knobs(e.m)->fail_count = 1;
    CHECK_EQ(virtio_blk_read(&e.blk, 8, buf, 4096), VIRTIO_ERR_IO);
    CHECK_EQ(e.blk.last_status, 1);
    CHECK_EQ(virtio_blk_read(&e.blk, 16, buf, 4096), VIRTIO_OK);   /* still usable */
    CHECK_EQ(e.blk.queue.clamped != 0, kvmtool != 0);   /* overstated write lengths: clamped, counted */
    CHECK_EQ(virtio_blk_shutdown(&e.blk), VIRTIO_OK);
    CHECK_EQ(e.bus->stats.live_allocs, 0);
    env_down(&e);
}

static void matrix(void)
{
    static const struct { uint32_t t; int legacy_probe, msix; const char *name; } tr[] = {
        { MODEL_MMIO, 0, 0, "mmio" }, { MODEL_MMIO_LEGACY, 0, 0, "mmio-legacy" },
        { MODEL_PCI_MODERN, 0, 0, "pci-modern" }, { MODEL_PCI_TRANSITIONAL, 0, 0, "pci-transitional" },
        { MODEL_PCI_TRANSITIONAL, 1, 0, "pci-transitional-as-legacy" }, { MODEL_PCI_LEGACY, 0, 0, "pci-legacy" },
        { MODEL_PCI_LEGACY, 0, 4, "pci-legacy-msix" },
    };
    unsigned t, ring, dma, deferred;
    char label[128];
    for (t = 0; t < sizeof tr / sizeof tr[0]; t++)
        for (ring = VIRTIO_RING_SPLIT; ring <= VIRTIO_RING_PACKED; ring++) {
            int legacy = tr[t].t == MODEL_MMIO_LEGACY || tr[t].t == MODEL_PCI_LEGACY || tr[t].legacy_probe;
            if (legacy && ring == VIRTIO_RING_PACKED) continue;
            for (dma = 0; dma < 3; dma++)
                for (deferred = 0; deferred < 2; deferred++) {
                    snprintf(label, sizeof label, "blk %s %s%s%s", tr[t].name, ring == VIRTIO_RING_PACKED ? "packed" : "split",
                             dma == 1 ? " page-split+bounce" : dma == 2 ? " identity-dma" : "",
                             deferred ? " deferred-shuffled" : "");
                    RUN(basic(tr[t].t, tr[t].legacy_probe, tr[t].msix, ring, (int)dma, (int)deferred), label);
                }
        }
    for (kvmtool = 1; kvmtool <= 2; kvmtool++)
        for (t = 0; t < sizeof tr / sizeof tr[0]; t++)
            for (dma = 0; dma < 2; dma++) {
                snprintf(label, sizeof label, "blk %s kvmtool (used length = bytes moved%s)%s", tr[t].name,
                         kvmtool == 2 ? " + 1" : "", dma ? " page-split+bounce" : "");
                RUN(basic(tr[t].t, tr[t].legacy_probe, tr[t].msix, VIRTIO_RING_SPLIT, (int)dma, 1), label);   /* kvmtool: split only */
            }
    kvmtool = 0;
}

/* 100 requests in flight, completed in reverse, each token exactly once. */
static void many_in_flight(uint32_t ring)
{
    blkenv e;
    virtio_blk_options o;
    model_options mo;
    model_blk_options bo;
    int seen[100];
    uint32_t i, got = 0;
    void *tok;
    virtio_result res;
    memset(&o, 0, sizeof o);
    memset(seen, 0, sizeof seen);
    o.device.ring = ring;
    o.max_requests = 128;
    memset(&e, 0, sizeof e);
    e.bus = model_bus_new();
    model_options_init(&mo, MODEL_PCI_MODERN);
    mo.mode = MODEL_DEFERRED;
    model_blk_options_init(&bo);
    e.m = model_blk_new(e.bus, &mo, &bo);
    bus_dma(e.bus, 0);
    e.m->knobs.order = MODEL_ORDER_REVERSE;
    CHECK_EQ(model_probe(e.m, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, &o), VIRTIO_OK);
    for (i = 0; i < 100; i++) {
        virtio_blk_request rq;
        memset(&rq, 0, sizeof rq);
        rq.op = VIRTIO_BLK_OP_READ;
        rq.sector = (i * 13u) % 2040;
        rq.buf = buf + i * 4096;
        rq.len = 4096;
        rq.token = (void *)(uintptr_t)(i + 1);
        rq.flags = i + 1 < 100 ? VIRTIO_MORE : 0;
        CHECK_EQ(virtio_blk_submit(&e.blk, &rq), VIRTIO_OK);
    }
    CHECK_EQ(e.blk.inflight, 100);
    CHECK_EQ(virtio_blk_poll(&e.blk, &tok, &res), VIRTIO_EMPTY);   /* nothing done yet */
    CHECK(model_queue_stats(e.m, 0)->max_pending >= 64);
    model_run(e.m, 0);
    while (virtio_blk_poll(&e.blk, &tok, &res) == VIRTIO_OK) {
        uint32_t k = (uint32_t)(uintptr_t)tok - 1;
        CHECK(k < 100 && !seen[k]);
        if (k < 100) seen[k]++;
        CHECK_EQ(res, VIRTIO_OK);
        CHECK(matches_pattern(buf + k * 4096, ((k * 13u) % 2040) * 512, 4096));
        got++;
    }
    CHECK_EQ(got, 100);
    CHECK_EQ(e.blk.inflight, 0);
    env_down(&e);
}

/* Segment and size limits: a 1 MiB request over 4 KiB pages, seg_max 2,
   size_max 4096: many device requests, one completion, right data. */
static void splitting(void)
{
    blkenv e;
    model_blk_options bo;
    virtio_blk_options o;
    size_t i;
    model_blk_options_init(&bo);
    bo.seg_max = 2;
    bo.size_max = 4096;
    memset(&o, 0, sizeof o);
    o.max_requests = 4;
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, &bo, &o, 0, 0), VIRTIO_OK);
    e.bus->knobs.dma_split = 1;
    CHECK_EQ(e.blk.priv.segs, 2);
    for (i = 0; i < (1u << 20); i++) buf2[i] = (uint8_t)(i * 31 + 5);
    CHECK_EQ(virtio_blk_write(&e.blk, 0, buf2 + 100 * 512, 1u << 20), VIRTIO_OK);   /* not page aligned */
    CHECK(memcmp(model_blk_disk(e.m, NULL), buf2 + 100 * 512, 1u << 20) == 0);
    CHECK(model_blk_get_stats(e.m)->writes >= (1u << 20) / 8192);   /* at most 2 x 4 KiB per request */
    memset(buf, 0, 1u << 20);
    CHECK_EQ(virtio_blk_read(&e.blk, 0, buf + 7, 1u << 20), VIRTIO_OK);
    CHECK(memcmp(buf + 7, buf2 + 100 * 512, 1u << 20) == 0);
    env_down(&e);
}

static void block_4k(void)
{
    blkenv e;
    model_blk_options bo;
    model_blk_options_init(&bo);
    bo.blk_size = 4096;
    CHECK_EQ(env_up(&e, MODEL_MMIO, &bo, 0, 0, 0), VIRTIO_OK);
    CHECK_EQ(e.blk.info.block_size, 4096);
    CHECK_EQ(virtio_blk_read(&e.blk, 8, buf, 4096), VIRTIO_OK);
    CHECK(matches_pattern(buf, 8 * 512, 4096));
    CHECK_EQ(virtio_blk_read(&e.blk, 1, buf, 4096), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_blk_read(&e.blk, 8, buf, 512), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_blk_write(&e.blk, 16, buf, 8192), VIRTIO_OK);
    CHECK_EQ(model_blk_get_stats(e.m)->requests, 2);   /* the bad ones never reached the device */
    env_down(&e);
}

static void read_only(void)
{
    blkenv e;
    model_blk_options bo;
    model_blk_options_init(&bo);
    bo.features |= 1ull << 5;   /* RO */
    CHECK_EQ(env_up(&e, identity ? MODEL_PCI_MODERN : MODEL_PCI_LEGACY, &bo, 0, 0, 0), VIRTIO_OK);   /* legacy: not with identity DMA */
    CHECK_EQ(e.blk.info.read_only, 1);
    memset(buf, 0xab, 4096);
    CHECK_EQ(virtio_blk_write(&e.blk, 0, buf, 4096), VIRTIO_ERR_READ_ONLY);
    CHECK_EQ(virtio_blk_write_zeroes(&e.blk, 0, 8, 0), VIRTIO_ERR_READ_ONLY);
    CHECK_EQ(model_blk_get_stats(e.m)->writes, 0);
    CHECK(matches_pattern(model_blk_disk(e.m, NULL), 0, 4096));
    CHECK_EQ(virtio_blk_read(&e.blk, 0, buf, 4096), VIRTIO_OK);
    env_down(&e);
}

/* A device that never answers: the blocking call times out, the device is
   reset (so it can no longer write into the buffer) and the disk refuses
   further work until it is initialised again. */
static void timeout_and_recovery(void)
{
    blkenv e;
    model_options mo;
    model_blk_options bo;
    memset(&e, 0, sizeof e);
    e.bus = model_bus_new();
    model_options_init(&mo, MODEL_MMIO);
    mo.mode = MODEL_DEFERRED;   /* and nobody runs the chains */
    model_blk_options_init(&bo);
    e.m = model_blk_new(e.bus, &mo, &bo);
    bus_dma(e.bus, 0);
    CHECK_EQ(model_probe(e.m, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_blk_read(&e.blk, 0, buf, 4096), VIRTIO_ERR_TIMEOUT);
    CHECK_EQ(model_status(e.m), 0);   /* reset */
    CHECK_EQ(virtio_blk_read(&e.blk, 0, buf, 4096), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_blk_shutdown(&e.blk), VIRTIO_OK);
    e.m->knobs.run_on_idle = 1;
    CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_blk_read(&e.blk, 0, buf, 4096), VIRTIO_OK);
    CHECK(matches_pattern(buf, 0, 4096));
    env_down(&e);
}

/* Completion callback of the tests below: counts calls for &cb_count,
   keeps the last error. */
static int cb_count;
static virtio_result cb_result;
static void on_done(virtio_blk *b, void *token, virtio_result r)
{
    (void)b;
    cb_count += token == &cb_count;
    if (r != VIRTIO_OK) cb_result = r;
}

static void needs_reset(void)
{
    blkenv e;
    model_options mo;
    model_blk_options bo;
    virtio_blk_request rq;
    void *tok;
    virtio_result res;
    memset(&e, 0, sizeof e);
    e.bus = model_bus_new();
    model_options_init(&mo, MODEL_PCI_MODERN);
    mo.mode = MODEL_DEFERRED;
    model_blk_options_init(&bo);
    e.m = model_blk_new(e.bus, &mo, &bo);
    bus_dma(e.bus, 0);
    CHECK_EQ(model_probe(e.m, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, 0), VIRTIO_OK);
    memset(&rq, 0, sizeof rq);
    rq.op = VIRTIO_BLK_OP_READ;
    rq.buf = buf;
    rq.len = 4096;
    rq.token = &cb_count;
    rq.callback = on_done;
    cb_count = 0;
    cb_result = VIRTIO_OK;
    CHECK_EQ(virtio_blk_submit(&e.blk, &rq), VIRTIO_OK);       /* a callback request ... */
    rq.token = &rq;
    rq.callback = 0;
    CHECK_EQ(virtio_blk_submit(&e.blk, &rq), VIRTIO_OK);       /* ... and a token request */
    model_set_needs_reset(e.m);
    CHECK_EQ(virtio_blk_wait(&e.blk, &tok, &res), VIRTIO_OK);   /* the request is failed ... */
    CHECK(tok == &rq);
    CHECK_EQ(res, VIRTIO_ERR_NEEDS_RESET);                      /* ... with the reason */
    CHECK_EQ(cb_count, 1);                                      /* the callback saw it too */
    CHECK_EQ(cb_result, VIRTIO_ERR_NEEDS_RESET);
    CHECK_EQ(e.blk.inflight, 0);
    CHECK_EQ(virtio_blk_submit(&e.blk, &rq), VIRTIO_ERR_STATE);
    virtio_blk_shutdown(&e.blk);
    e.m->knobs.run_on_idle = 1;
    CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_blk_read(&e.blk, 0, buf, 4096), VIRTIO_OK);
    env_down(&e);
}

static void flush_error_and_cache(void)
{
    blkenv e;
    uint64_t cap = 0;
    uint32_t changed = 0;
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, 0, 0, 0, 0), VIRTIO_OK);
    model_blk_get_knobs(e.m)->fail_flush = 1;
    CHECK_EQ(virtio_blk_flush(&e.blk), VIRTIO_ERR_IO);
    model_blk_get_knobs(e.m)->fail_flush = 0;
    CHECK_EQ(virtio_blk_flush(&e.blk), VIRTIO_OK);
    if (e.blk.info.config_wce) {
        CHECK_EQ(virtio_blk_set_writeback(&e.blk, 0), VIRTIO_OK);
        CHECK_EQ(e.blk.info.writeback, 0);
        CHECK_EQ(virtio_blk_set_writeback(&e.blk, 1), VIRTIO_OK);
        CHECK_EQ(e.blk.info.writeback, 1);
    }
    /* The device grows: refresh sees the new capacity. */
    model_put64(model_config(e.m), 4096);
    model_config_changed(e.m);
    CHECK_EQ(virtio_blk_refresh(&e.blk, &changed), VIRTIO_OK);
    CHECK_EQ(changed, VIRTIO_BLK_CHANGED_CAPACITY);
    cap = e.blk.info.capacity;
    CHECK_EQ(cap, 4096);
    env_down(&e);
}

/* Callbacks run only inside poll (and wait); requests a blocking call
   reaped, with or without callback, wait for virtio_blk_poll. */
static void callbacks_and_tokens(void)
{
    blkenv e;
    model_options mo;
    model_blk_options bo;
    uint32_t i, tokens = 0;
    void *tok;
    virtio_result res;
    memset(&e, 0, sizeof e);
    e.bus = model_bus_new();
    model_options_init(&mo, MODEL_MMIO);
    mo.mode = MODEL_DEFERRED;
    model_blk_options_init(&bo);
    e.m = model_blk_new(e.bus, &mo, &bo);
    bus_dma(e.bus, 0);
    e.m->knobs.run_on_idle = 2;
    CHECK_EQ(model_probe(e.m, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, 0), VIRTIO_OK);
    cb_count = 0;
    cb_result = VIRTIO_OK;
    for (i = 0; i < 12; i++) {
        virtio_blk_request rq;
        memset(&rq, 0, sizeof rq);
        rq.op = i < 8 ? VIRTIO_BLK_OP_WRITE : VIRTIO_BLK_OP_READ;
        rq.sector = i * 8;
        rq.buf = i < 8 ? buf2 : buf + i * 4096;
        rq.len = 4096;
        rq.token = i < 8 ? (void *)&cb_count : (void *)(uintptr_t)i;
        rq.callback = i < 8 ? on_done : 0;
        CHECK_EQ(virtio_blk_submit(&e.blk, &rq), VIRTIO_OK);
    }
    /* A blocking call in the middle reaps what completes meanwhile but
       runs no callback: they wait for poll. */
    CHECK_EQ(virtio_blk_read(&e.blk, 200, buf, 4096), VIRTIO_OK);
    CHECK(model_blk_get_stats(e.m)->requests > 1);
    CHECK_EQ(cb_count, 0);
    for (;;) {
        virtio_result r = virtio_blk_poll(&e.blk, &tok, &res);
        if (r == VIRTIO_EMPTY) {
            if (!e.blk.inflight) break;
            model_run(e.m, 0);
            continue;
        }
        CHECK_EQ(r, VIRTIO_OK);
        if (r != VIRTIO_OK) break;
        CHECK((uintptr_t)tok >= 8 && (uintptr_t)tok < 12);
        CHECK_EQ(res, VIRTIO_OK);
        tokens++;
    }
    CHECK_EQ(tokens, 4);
    CHECK_EQ(cb_count, 8);
    CHECK_EQ(cb_result, VIRTIO_OK);
    CHECK(memcmp(model_blk_disk(e.m, NULL), buf2, 4096) == 0);
    env_down(&e);
}


/* A model block device in deferred mode (nothing completes unless the
   test runs the device), probed; not initialised. */
static void env_deferred(blkenv *e, uint32_t transport, const model_blk_options *bo)
{
    model_options mo;
    model_blk_options def;
    memset(e, 0, sizeof *e);
    e->bus = model_bus_new();
    model_options_init(&mo, transport);
    mo.mode = MODEL_DEFERRED;
    if (!bo) {
        model_blk_options_init(&def);
        bo = &def;
    }
    e->m = model_blk_new(e->bus, &mo, bo);
    bus_dma(e->bus, transport == MODEL_MMIO_LEGACY || transport == MODEL_PCI_LEGACY);
    CHECK_EQ(model_probe(e->m, &e->dev, 0), VIRTIO_OK);
}

/* Issue 11 item 2: requests submitted with VIRTIO_MORE until the ring is
   full, the last one without it. The ones that did not fit wait in the
   driver; the ones on the ring must have been notified, or nothing ever
   completes (seen: every request timed out). Rings of 4 and 8 entries,
   with and without indirect descriptors (3 descriptors a request). */
static void full_ring(uint32_t transport, uint32_t qsize, int indirect, int deferred)
{
    blkenv e;
    model_blk_options bo;
    virtio_blk_options o;
    uint32_t i, got = 0, n = 40;
    void *tok;
    virtio_result res, r;
    model_blk_options_init(&bo);
    bo.queue_size = qsize;
    if (!indirect) bo.features &= ~MODEL_F_INDIRECT_DESC;
    memset(&o, 0, sizeof o);
    o.max_requests = 64;
    if (deferred) {
        env_deferred(&e, transport, &bo);
        e.m->knobs.run_on_idle = 1;
        CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, &o), VIRTIO_OK);
    } else {
        CHECK_EQ(env_up(&e, transport, &bo, &o, 0, 0), VIRTIO_OK);
    }
    CHECK_EQ(e.blk.queue.size, qsize);
    for (i = 0; i < n; i++) {
        virtio_blk_request rq;
        memset(&rq, 0, sizeof rq);
        rq.op = VIRTIO_BLK_OP_READ;
        rq.sector = i * 8;
        rq.buf = buf + i * 4096;
        rq.len = 4096;
        rq.token = (void *)(uintptr_t)(i + 1);
        rq.flags = i + 1 < n ? VIRTIO_MORE : 0;
        CHECK_EQ(virtio_blk_submit(&e.blk, &rq), VIRTIO_OK);
    }
    while ((r = virtio_blk_wait(&e.blk, &tok, &res)) == VIRTIO_OK) {
        uint32_t k = (uint32_t)(uintptr_t)tok - 1;
        CHECK_EQ(res, VIRTIO_OK);
        CHECK(k < n && matches_pattern(buf + k * 4096, (uint64_t)k * 8 * 512, 4096));
        got++;
    }
    CHECK_EQ(r, VIRTIO_EMPTY);
    CHECK_EQ(got, n);
    CHECK_EQ(e.bus->stats.log[VIRTIO_MSG_TIMEOUT], 0);
    CHECK_EQ(virtio_blk_read(&e.blk, 8, buf, 4096), VIRTIO_OK);   /* and the disk still works */
    env_down(&e);
}

/* The batched calls (issue 15 item 4), on a device that takes only what
   it was notified of (immediate mode). 40 writes of 4 KiB, every one but
   the last with VIRTIO_MORE, every fifth with a callback, through 16
   request slots: submit_batch hands over a prefix and poll_batch, called
   alone (no wait, no kick), hands back at most `max` at a time until all
   40 are done, each token once; the blocks are then on the model's disk.
   Each batch is cut short (no slot left), and a batch cut short is
   notified whatever its flags say; seen: the 16 it handed over waited for
   a kick that never came. Then: a batch that stops at a bad request
   (misaligned) still notifies the ones before it; one wholly accepted
   whose last request carries VIRTIO_MORE is not notified until kick. */
static void batch(uint32_t ring, uint32_t max)
{
    blkenv e;
    virtio_blk_options o;
    virtio_blk_request rq[40];
    virtio_blk_completion done[8];
    uint8_t *disk;
    int seen[40];
    uint32_t i, n, sent = 0, got = 0, polls = 0, calls = 0;
    uint64_t kicks;
    memset(&o, 0, sizeof o);
    memset(seen, 0, sizeof seen);
    o.device.ring = ring;
    o.max_requests = 16;
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, 0, &o, 0, 0), VIRTIO_OK);
    disk = model_blk_disk(e.m, 0);
    memset(rq, 0, sizeof rq);
    for (i = 0; i < 40; i++) {
        memset(buf2 + i * 4096, (int)(i * 5 + 1), 4096);
        rq[i].op = VIRTIO_BLK_OP_WRITE;
        rq[i].sector = i * 8;
        rq[i].buf = buf2 + i * 4096;
        rq[i].len = 4096;
        rq[i].flags = i + 1 < 40 ? VIRTIO_MORE : 0;
        rq[i].token = i % 5 == 4 ? (void *)&cb_count : (void *)(uintptr_t)(i + 1);
        rq[i].callback = i % 5 == 4 ? on_done : 0;
    }
    cb_count = 0;
    cb_result = VIRTIO_OK;
    while ((sent < 40 || e.blk.inflight) && polls++ < 200) {
        virtio_result r;
        if (sent < 40) {
            n = 99;
            CHECK_EQ(virtio_blk_submit_batch(&e.blk, rq + sent, 40 - sent, &n), VIRTIO_OK);
            CHECK(n <= 16 && n == e.blk.inflight);
            calls++;
            sent += n;
        }
        while ((r = virtio_blk_poll_batch(&e.blk, done, max, &n)) == VIRTIO_OK) {
            CHECK(n >= 1 && n <= max);
            for (i = 0; i < n; i++) {
                uint32_t k = (uint32_t)(uintptr_t)done[i].token - 1;
                CHECK_EQ(done[i].result, VIRTIO_OK);
                CHECK(k < 40 && k % 5 != 4 && !seen[k]);   /* callbacks' requests never come back here */
                if (k < 40) seen[k]++;
                got++;
            }
        }
        CHECK_EQ(r, VIRTIO_EMPTY);
    }
    CHECK_EQ(sent, 40);
    CHECK_EQ(got, 32);
    CHECK_EQ(cb_count, 8);
    CHECK_EQ(cb_result, VIRTIO_OK);
    CHECK(calls >= 3);   /* 16 slots: cut short at least twice */
    for (i = 0; i < 40; i++) CHECK(all_bytes(disk + i * 4096, 4096, i * 5 + 1));

    /* Stopped at a bad request: the ones before it are notified. */
    for (i = 0; i < 4; i++) {
        rq[i].op = VIRTIO_BLK_OP_READ;
        rq[i].buf = buf + i * 4096;
        rq[i].flags = VIRTIO_MORE;
        rq[i].token = (void *)(uintptr_t)(i + 1);
        rq[i].callback = 0;
    }
    rq[2].len = 100;
    memset(buf, 0, 2 * 4096);
    n = 99;
    CHECK_EQ(virtio_blk_submit_batch(&e.blk, rq, 4, &n), VIRTIO_OK);
    CHECK_EQ(n, 2);
    CHECK_EQ(virtio_blk_submit(&e.blk, &rq[2]), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_blk_poll_batch(&e.blk, done, 8, &n), VIRTIO_OK);
    CHECK_EQ(n, 2);
    CHECK(all_bytes(buf, 4096, 1) && all_bytes(buf + 4096, 4096, 6));
    rq[2].len = 4096;

    /* Wholly accepted, the last with VIRTIO_MORE: the caller notifies. */
    kicks = model_queue_stats(e.m, 0)->notifies;
    CHECK_EQ(virtio_blk_submit_batch(&e.blk, rq, 4, 0), VIRTIO_OK);
    CHECK_EQ(model_queue_stats(e.m, 0)->notifies, kicks);
    CHECK_EQ(virtio_blk_poll_batch(&e.blk, done, 8, &n), VIRTIO_EMPTY);
    CHECK_EQ(virtio_blk_kick(&e.blk), VIRTIO_OK);
    CHECK_EQ(virtio_blk_poll_batch(&e.blk, done, 8, 0), VIRTIO_OK);   /* count may be NULL */
    CHECK_EQ(virtio_blk_poll_batch(&e.blk, done, 8, &n), VIRTIO_EMPTY);
    CHECK_EQ(virtio_blk_submit_batch(&e.blk, rq, 0, &n), VIRTIO_OK);   /* nothing: nothing notified */
    CHECK_EQ(n, 0);
    CHECK_EQ(model_queue_stats(e.m, 0)->notifies, kicks + 1);
    CHECK_EQ(e.blk.inflight, 0);
    env_down(&e);
}

/* submit_batch gathers one-piece reads and writes and posts them
   together; anything else (a write larger than size_max, a flush, a
   request behind waiting ones) goes the ordinary way. On a ring of 8 with
   32 slots, one batch of 24: 5 one-block writes, a 128 KiB write over
   them (two segments), writes until the ring is full (the rest wait in
   the driver), a flush among those, and last a write of block 0 again.
   The device must see them in the caller's order: the disk holds the
   128 KiB write over blocks 1..4 and the last write in block 0. Then on
   a broken queue a batch is accepted and every request completes with
   STATE, as single submits do. With a dma_map hook nothing is gathered:
   the same results the ordinary way. */
static void batch_mixed(uint32_t ring, int identity_dma)
{
    blkenv e;
    model_blk_options bo;
    virtio_blk_options o;
    virtio_blk_request rq[24];
    virtio_blk_completion done[32];
    uint8_t *disk;
    uint32_t i, k, n = 0, got = 0, polls = 0, seen[24];
    virtio_result r;
    model_blk_options_init(&bo);
    bo.queue_size = 8;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    o.max_requests = 32;
    identity = identity_dma;   /* (a mapping hook: nothing gathered) */
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, &bo, &o, 0, 0), VIRTIO_OK);
    identity = 0;
    CHECK_EQ(e.blk.queue.size, 8);
    CHECK_EQ(e.blk.priv.one_max > 0, identity_dma);
    CHECK(e.blk.info.flush);
    disk = model_blk_disk(e.m, 0);
    memset(rq, 0, sizeof rq);
    memset(seen, 0, sizeof seen);
    for (i = 0; i < 24; i++) {
        rq[i].op = VIRTIO_BLK_OP_WRITE;
        rq[i].sector = i < 5 ? 8 * i : 8 * (i + 32);   /* blocks 0..4, then from 37 */
        rq[i].buf = buf2 + i * 4096;
        rq[i].len = 4096;
        rq[i].flags = VIRTIO_MORE;
        rq[i].token = (void *)(uintptr_t)(i + 1);
        memset(buf2 + i * 4096, (int)(i + 1), 4096);
    }
    rq[5].sector = 0;      /* 128 KiB over blocks 0..31 from buf2 + 512 KiB */
    rq[5].buf = buf2 + 512 * 1024;
    rq[5].len = 128 * 1024;
    memset(buf2 + 512 * 1024, 0x5a, 128 * 1024);
    rq[12].op = VIRTIO_BLK_OP_FLUSH;
    rq[12].sector = 0;
    rq[12].buf = 0;
    rq[12].len = 0;
    rq[23].sector = 0;     /* block 0 again: this one is on the disk */
    rq[23].flags = 0;
    CHECK_EQ(virtio_blk_submit_batch(&e.blk, rq, 24, &n), VIRTIO_OK);
    CHECK_EQ(n, 24);
    while (got < 24 && polls++ < 100) {
        while ((r = virtio_blk_poll_batch(&e.blk, done, 32, &n)) == VIRTIO_OK) {
            for (i = 0; i < n; i++) {
                k = (uint32_t)(uintptr_t)done[i].token - 1;
                CHECK(k < 24 && !seen[k]);
                if (k < 24) seen[k]++;
                CHECK_EQ(done[i].result, VIRTIO_OK);
            }
            got += n;
        }
        CHECK_EQ(r, VIRTIO_EMPTY);
        virtio_blk_kick(&e.blk);
    }
    CHECK_EQ(got, 24);
    CHECK_EQ(e.blk.inflight, 0);
    CHECK(all_bytes(disk, 4096, 24));
    CHECK(all_bytes(disk + 4096, 31 * 4096, 0x5a));
    for (i = 6; i < 23; i++)
        if (i != 12) CHECK(all_bytes(disk + 4096 * (i + 32), 4096, i + 1));
    CHECK_EQ(model_queue_stats(e.m, 0)->chains, 24);

    /* A queue broken under the driver: accepted, each ends with STATE. */
    e.blk.queue.priv.broken = 1;
    for (i = 0; i < 4; i++) rq[i].op = VIRTIO_BLK_OP_READ, rq[i].buf = buf + 4096 * i, rq[i].sector = 8 * i;
    memset(buf, 0xa5, 4 * 4096);
    CHECK_EQ(virtio_blk_submit_batch(&e.blk, rq, 4, &n), VIRTIO_OK);
    CHECK_EQ(n, 4);
    CHECK_EQ(virtio_blk_poll_batch(&e.blk, done, 32, &n), VIRTIO_OK);
    CHECK_EQ(n, 4);
    for (i = 0; i < n && i < 4; i++) {
        CHECK_EQ((uint32_t)(uintptr_t)done[i].token, i + 1);
        CHECK_EQ(done[i].result, VIRTIO_ERR_STATE);
    }
    CHECK(untouched(buf, 4 * 4096));
    CHECK_EQ(e.blk.inflight, 0);
    CHECK_EQ(model_queue_stats(e.m, 0)->chains, 24);
    e.blk.queue.priv.broken = 0;
    env_down(&e);
}

/* Issue 11 item 3(b): a refresh that reads a discard limit of 0 while a
   discard still has pieces to post. Pieces of 0 sectors never end the
   request (seen: a wait that never returned). Now the rest fails with
   VIRTIO_ERR_UNSUPPORTED, and what was posted completes. */
static void refresh_takes_discard_away(void)
{
    blkenv e;
    model_blk_options bo;
    virtio_blk_options o;
    virtio_blk_request rq;
    void *tok;
    virtio_result res;
    uint32_t changed = 0;
    model_blk_options_init(&bo);
    bo.max_discard_sectors = 8;
    memset(&o, 0, sizeof o);
    o.max_requests = 2;
    env_deferred(&e, MODEL_PCI_MODERN, &bo);
    CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, &o), VIRTIO_OK);
    memset(&rq, 0, sizeof rq);
    rq.op = VIRTIO_BLK_OP_DISCARD;
    rq.len = 1024 * 512;   /* 128 pieces of 8 sectors, 2 in flight */
    rq.token = &rq;
    CHECK_EQ(virtio_blk_submit(&e.blk, &rq), VIRTIO_OK);
    model_put32(model_config(e.m) + 36, 0);   /* max_discard_sectors */
    model_config_changed(e.m);
    CHECK_EQ(virtio_blk_refresh(&e.blk, &changed), VIRTIO_OK);
    CHECK_EQ(changed, VIRTIO_BLK_CHANGED_LIMITS);
    CHECK_EQ(e.blk.info.discard, 0);
    e.m->knobs.run_on_idle = 1;
    CHECK_EQ(virtio_blk_wait(&e.blk, &tok, &res), VIRTIO_OK);
    CHECK(tok == &rq);
    CHECK_EQ(res, VIRTIO_ERR_UNSUPPORTED);
    CHECK_EQ(model_blk_get_stats(e.m)->discards, 2);   /* the two in flight */
    CHECK_EQ(virtio_blk_discard(&e.blk, 0, 8), VIRTIO_ERR_UNSUPPORTED);
    CHECK_EQ(e.bus->stats.log[VIRTIO_MSG_TIMEOUT], 0);
    env_down(&e);
}

/* Issue 11 item 3(c): a callback that resubmits, on a device that
   completes at once. One poll handles at most one queue's worth (seen:
   200 000 callbacks in one call); completions callbacks never run inside
   submit (seen: a flush without FLUSH recursed through submit). */
static int resubmits, resubmit_limit, in_submit, cb_in_submit;
static void resubmit(virtio_blk *b, void *token, virtio_result r)
{
    virtio_blk_request rq;
    (void)token;
    cb_in_submit += in_submit;
    if (r != VIRTIO_OK) return;   /* failed by the timeout below */
    if (++resubmits >= resubmit_limit) return;
    memset(&rq, 0, sizeof rq);
    rq.op = resubmits & 1 ? VIRTIO_BLK_OP_FLUSH : VIRTIO_BLK_OP_READ;
    rq.buf = buf;
    rq.len = 4096;
    rq.callback = resubmit;
    in_submit = 1;
    CHECK_EQ(virtio_blk_submit(b, &rq), VIRTIO_OK);
    in_submit = 0;
    CHECK_EQ(virtio_blk_poll(b, 0, 0), VIRTIO_ERR_STATE);   /* not from a callback */
    {
        virtio_blk_completion c;
        CHECK_EQ(virtio_blk_poll_batch(b, &c, 1, 0), VIRTIO_ERR_STATE);
    }
    CHECK_EQ(virtio_blk_shutdown(b), VIRTIO_ERR_STATE);
}

static void bounded_callbacks(int flush)
{
    blkenv e;
    model_blk_options bo;
    virtio_blk_request rq;
    uint32_t polls = 0;
    model_blk_options_init(&bo);
    if (!flush) bo.features &= ~MODEL_BLK_F_FLUSH;
    CHECK_EQ(env_up(&e, MODEL_MMIO, &bo, 0, 0, 0), VIRTIO_OK);
    resubmits = cb_in_submit = 0;
    resubmit_limit = 5000;
    memset(&rq, 0, sizeof rq);
    rq.op = VIRTIO_BLK_OP_FLUSH;
    rq.callback = resubmit;
    in_submit = 1;
    CHECK_EQ(virtio_blk_submit(&e.blk, &rq), VIRTIO_OK);
    in_submit = 0;
    CHECK_EQ(resubmits, 0);
    CHECK_EQ(virtio_blk_poll(&e.blk, 0, 0), VIRTIO_EMPTY);
    CHECK(resubmits >= 1 && resubmits <= (int)e.blk.queue.size);
    while (resubmits < resubmit_limit && polls++ < 1000) CHECK_EQ(virtio_blk_poll(&e.blk, 0, 0), VIRTIO_EMPTY);
    CHECK_EQ(resubmits, resubmit_limit);
    CHECK_EQ(cb_in_submit, 0);
    CHECK_EQ(e.blk.inflight, 0);
    /* wait is bounded by time, whatever the callbacks do */
    e.bus->platform.timeout_ms = 20;
    resubmits = 0;
    resubmit_limit = 1 << 30;
    rq.op = VIRTIO_BLK_OP_READ;
    rq.buf = buf;
    rq.len = 4096;
    CHECK_EQ(virtio_blk_submit(&e.blk, &rq), VIRTIO_OK);
    CHECK_EQ(virtio_blk_wait(&e.blk, 0, 0), VIRTIO_ERR_STATE);   /* timed out: the device was reset */
    CHECK(resubmits > 1000);
    CHECK_EQ(e.blk.inflight, 0);   /* ... and the last resubmission failed: not in flight */
    env_down(&e);
}

/* Issue 11 item 4: a refresh that fails (the configuration generation
   never settles) keeps the old information: flushes still reach the
   device, read-only still holds (seen: a zeroed info, flush returning OK
   without sending FLUSH). */
static void failed_refresh(void)
{
    blkenv e;
    model_blk_options bo;
    virtio_blk_info before;
    uint32_t changed = 77;
    model_blk_options_init(&bo);
    bo.features |= MODEL_BLK_F_RO;
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, &bo, 0, 0, 0), VIRTIO_OK);
    before = e.blk.info;
    e.m->knobs.gen_bump_every = 1;
    CHECK_EQ(virtio_blk_refresh(&e.blk, &changed), VIRTIO_ERR_DEVICE);
    CHECK_EQ(changed, 77);   /* not written on failure */
    CHECK(memcmp(&before, &e.blk.info, sizeof before) == 0);
    e.m->knobs.gen_bump_every = 0;
    CHECK_EQ(virtio_blk_flush(&e.blk), VIRTIO_OK);
    CHECK_EQ(model_blk_get_stats(e.m)->flushes, 1);
    CHECK_EQ(virtio_blk_write(&e.blk, 0, buf, 512), VIRTIO_ERR_READ_ONLY);
    /* a block size no device may switch to while buffers are cut for the old one */
    model_put32(model_config(e.m) + 20, 4096);
    model_config_changed(e.m);
    CHECK_EQ(virtio_blk_refresh(&e.blk, 0), VIRTIO_ERR_DEVICE);
    CHECK_EQ(e.blk.info.block_size, 512);
    model_put32(model_config(e.m) + 20, 512);
    model_put64(model_config(e.m), 1024);
    model_config_changed(e.m);
    CHECK_EQ(virtio_blk_refresh(&e.blk, 0), VIRTIO_OK);   /* NULL: not reported */
    CHECK_EQ(e.blk.info.capacity, 1024);
    CHECK_EQ(virtio_blk_read(&e.blk, 1024, buf, 512), VIRTIO_ERR_RANGE);
    env_down(&e);
}

static void bad_used_id(void *user, model *m, model_hostile *h)
{
    (void)user;
    (void)m;
    if (h->kind == MODEL_H_USED_ELEM || h->kind == MODEL_H_PACKED_USED) h->id = 999;
}

/* Issue 11 item 5: a reset that never finishes. Nothing the device may
   still own goes back: no unmap, no free, no request handed back as done
   (seen: every path ignored the reset's result). */
static void stuck_reset(int how)
{
    blkenv e;
    virtio_blk_request rq;
    uint64_t maps, allocs;
    void *tok;
    virtio_result res;
    env_deferred(&e, MODEL_PCI_MODERN, 0);
    e.bus->knobs.quiet = 1;
    CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, 0), VIRTIO_OK);
    memset(&rq, 0, sizeof rq);
    rq.op = VIRTIO_BLK_OP_READ;
    rq.buf = buf2;
    rq.len = 8192;
    rq.token = &rq;
    CHECK_EQ(virtio_blk_submit(&e.blk, &rq), VIRTIO_OK);
    e.m->knobs.reset_delay = MODEL_FOREVER;
    maps = e.bus->stats.live_maps;
    allocs = e.bus->stats.live_allocs;
    CHECK(maps > 0);
    if (how == 0) {          /* shutdown */
        CHECK_EQ(virtio_blk_shutdown(&e.blk), VIRTIO_ERR_TIMEOUT);
        CHECK_EQ(e.blk.priv.magic, 0);
    } else if (how == 1) {   /* a blocking call times out */
        CHECK_EQ(virtio_blk_read(&e.blk, 0, buf, 4096), VIRTIO_ERR_TIMEOUT);
        CHECK_EQ(e.blk.inflight, 2);   /* both still the device's */
        maps++;                        /* the read's own buffer stays mapped too */
        CHECK_EQ(virtio_blk_poll(&e.blk, &tok, &res), VIRTIO_ERR_STATE);
        CHECK_EQ(virtio_blk_shutdown(&e.blk), VIRTIO_ERR_TIMEOUT);
    } else {                 /* the device breaks the protocol */
        e.m->knobs.hostile = bad_used_id;
        model_run(e.m, 0);
        CHECK_EQ(virtio_blk_poll(&e.blk, &tok, &res), VIRTIO_ERR_DEVICE);
        CHECK_EQ(virtio_blk_poll(&e.blk, &tok, &res), VIRTIO_ERR_STATE);
        CHECK_EQ(e.blk.inflight, 1);
        CHECK_EQ(virtio_blk_shutdown(&e.blk), VIRTIO_ERR_TIMEOUT);
    }
    CHECK_EQ(e.bus->stats.live_maps, maps);
    CHECK_EQ(e.bus->stats.live_allocs, allocs);
    CHECK_EQ(e.bus->stats.bugs, 0);
    model_bus_free(e.bus);
}

/* Issue 11 item 7: init on a running disk (a request in flight) is
   refused and changes nothing (seen: four allocations and a mapping
   leaked). */
static void init_twice(void)
{
    blkenv e;
    virtio_blk_request rq;
    uint64_t allocs;
    void *tok;
    virtio_result res;
    env_deferred(&e, MODEL_MMIO, 0);
    CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, 0), VIRTIO_OK);
    memset(&rq, 0, sizeof rq);
    rq.op = VIRTIO_BLK_OP_READ;
    rq.buf = buf;
    rq.len = 4096;
    rq.token = &rq;
    CHECK_EQ(virtio_blk_submit(&e.blk, &rq), VIRTIO_OK);
    allocs = e.bus->stats.live_allocs;
    CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, 0), VIRTIO_ERR_STATE);
    CHECK_EQ(e.bus->stats.live_allocs, allocs);
    model_run(e.m, 0);
    CHECK_EQ(virtio_blk_poll(&e.blk, &tok, &res), VIRTIO_OK);
    CHECK(tok == &rq && res == VIRTIO_OK && matches_pattern(buf, 0, 4096));
    CHECK_EQ(virtio_blk_shutdown(&e.blk), VIRTIO_OK);
    CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, 0), VIRTIO_OK);   /* after shutdown: fine */
    env_down(&e);
}

/* Issue 11 item 9(a): the ring keeps the device's size (seen: shrunk to
   64 entries, which kvmtool ignores); a caller may ask for less. */
static void queue_size(void)
{
    blkenv e;
    virtio_blk_options o;
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, 0, 0, 0, 0), VIRTIO_OK);
    CHECK_EQ(e.blk.queue.size, 256);
    env_down(&e);
    memset(&o, 0, sizeof o);
    o.queue_size = 16;
    CHECK_EQ(env_up(&e, MODEL_MMIO, 0, &o, 0, 0), VIRTIO_OK);
    CHECK_EQ(e.blk.queue.size, 16);
    CHECK_EQ(virtio_blk_read(&e.blk, 0, buf, 65536), VIRTIO_OK);
    CHECK(matches_pattern(buf, 0, 65536));
    env_down(&e);
}


/* Issue 13 item 5 / MEMORY: with the default options on modern
   transports, no allocation of the driver's own is above 4096 bytes (the
   queue's are virtio.h's), with and without the unmap lists a dma_unmap
   hook needs; and what the header's MEMORY section says is what it takes. */
static size_t allocs[64], nallocs;
#if SIZE_MAX > 0xffffffffu
#include <sys/mman.h>
/* A request of 5 GiB and a block on a device without SIZE_MAX: the driver
   cuts it into device requests of at most 1 GiB, so no chain reaches 4 GiB
   (virtio 1.2 2.7.5.2; the model reports a longer one). The model moves
   no bytes (no_data), so the buffer is address space only, never touched. */
static void huge_request(int write)
{
    blkenv e;
    model_blk_options bo;
    const model_blk_stats *st;
    const size_t len = ((size_t)5 << 30) + 4096;
    int was = identity;
    void *big = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(big != MAP_FAILED);
    if (big == MAP_FAILED) return;
    model_blk_options_init(&bo);
    bo.size = (uint64_t)6 << 30;
    bo.no_data = 1;
    bo.features &= ~MODEL_BLK_F_SIZE_MAX;
    identity = 1;   /* buffers at their CPU address: no mapping hook reads them */
    CHECK_EQ(env_up(&e, MODEL_MMIO, &bo, 0, 0, 0), VIRTIO_OK);
    identity = was;
    CHECK_EQ(e.blk.info.size_max, 0);
    CHECK_EQ(model_dma_ram(e.bus, big, len), 0);
    if (write)
        CHECK_EQ(virtio_blk_write(&e.blk, 8, big, len), VIRTIO_OK);
    else
        CHECK_EQ(virtio_blk_read(&e.blk, 8, big, len), VIRTIO_OK);
    st = model_blk_get_stats(e.m);
    CHECK_EQ(write ? st->writes : st->reads, 6);   /* 5 x 1 GiB, then 4 KiB */
    CHECK_EQ(write ? st->bytes_written : st->bytes_read, (uint64_t)len);
    CHECK_EQ(st->range_errors, 0);
    env_down(&e);
    munmap(big, len);
}
#endif

static int alloc_kind[64];
static void *alloc_at[64];
static void *counting_alloc(void *user, size_t size, size_t align, int kind, uint64_t *dev)
{
    void *p = real_alloc(user, size, align, kind, dev);
    if (nallocs < 64) {
        alloc_at[nallocs] = p;
        alloc_kind[nallocs] = kind;
        allocs[nallocs++] = size;
    }
    return p;
}

static void memory(uint32_t transport, int identity_dma)
{
    blkenv e;
    size_t i, driver = 0, big = 0;
    identity = identity_dma;
    memset(&e, 0, sizeof e);
    e.bus = model_bus_new();
    {
        model_options mo;
        model_blk_options bo;
        model_options_init(&mo, transport);
        model_blk_options_init(&bo);
        e.m = model_blk_new(e.bus, &mo, &bo);
    }
    bus_dma(e.bus, transport == MODEL_MMIO_LEGACY || transport == MODEL_PCI_LEGACY);
    identity = 0;
    real_alloc = e.bus->platform.dma_alloc;
    e.bus->platform.dma_alloc = counting_alloc;
    nallocs = 0;
    CHECK_EQ(model_probe(e.m, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, 0), VIRTIO_OK);
    for (i = 0; i < nallocs; i++) {
        uint32_t k, queue_own = 0;
        if (allocs[i] > big) big = allocs[i];   /* the queue's pieces count too */
        for (k = 0; k < 5; k++) queue_own |= alloc_at[i] == e.blk.queue.priv.mem.ptr[k];
        for (k = 0; k < e.blk.queue.priv.mem.pieces; k++) queue_own |= alloc_at[i] == e.blk.queue.priv.mem.tables[k];
        if (!queue_own) driver += allocs[i];
    }
    CHECK(big <= 4096);
    /* MEMORY: 32 slots + a 10-entry list, 32 x 96 DMA bytes, and 32 x 8 x 16 with dma_unmap */
    CHECK_EQ(driver, 32 * sizeof(virtio__blk_slot) + 10 * 16 + 32 * 96 + (identity_dma ? 0 : 32 * 8 * 16));
    CHECK_EQ(virtio_blk_read(&e.blk, 0, buf, 4096), VIRTIO_OK);
    env_down(&e);
}

/* Legacy transports take a 32-bit page frame: ring memory at 16 TiB or
   above (identity DMA of a 64-bit host's heap: bus_dma) is refused, never
   truncated. A 32-bit CPU has no memory up there: the same setup works. */
/* MEMORY's totals with the queue: a 256-entry split ring as QEMU 7.2's
   virtio-blk offers, and options.queue_size 32 (64-bit CPUs). */
static void memory_totals(uint32_t queue_size, size_t want_dma, size_t want_private, size_t want_count)
{
    model_bus *bus = model_bus_new();
    model_options mo;
    model_blk_options bo;
    model *m;
    virtio_device dev;
    virtio_blk b;
    virtio_blk_options o;
    size_t i, bytes[2] = { 0, 0 };
    memset(&b, 0, sizeof b);
    model_options_init(&mo, MODEL_PCI_MODERN);
    model_blk_options_init(&bo);
    m = model_blk_new(bus, &mo, &bo);
    model_set_queue_max(m, 0, 256);
    bus->platform.dma_map = 0;
    bus->platform.dma_unmap = 0;
    real_alloc = bus->platform.dma_alloc;
    bus->platform.dma_alloc = counting_alloc;
    nallocs = 0;
    memset(&o, 0, sizeof o);
    o.device.ring = VIRTIO_RING_SPLIT;
    o.queue_size = queue_size;
    CHECK_EQ(model_probe(m, &dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_blk_init(&b, &dev, &o), VIRTIO_OK);
    CHECK_EQ(nallocs, want_count);
    for (i = 0; i < nallocs && i < 64; i++) bytes[alloc_kind[i] == VIRTIO_MEM_PRIVATE] += allocs[i];
    if (sizeof(void *) == 8) {
        CHECK_EQ(bytes[0], want_dma);
        CHECK_EQ(bytes[1], want_private);
    }
    CHECK_EQ(virtio_blk_shutdown(&b), VIRTIO_OK);
    CHECK_EQ(bus->stats.live_allocs, 0);
    model_bus_free(bus);
}

static void legacy_high_memory(uint32_t transport)
{
    blkenv e;
    int high = sizeof(void *) == 8;
    identity = 2;
    CHECK_EQ(env_up(&e, transport, 0, 0, 0, 0), high ? VIRTIO_ERR_UNSUPPORTED : VIRTIO_OK);
    identity = 0;
    if (high) CHECK_EQ(e.bus->stats.live_allocs, 0);
    else CHECK_EQ(virtio_blk_read(&e.blk, 0, buf, 4096), VIRTIO_OK);
    env_down(&e);
}

int main(void)
{
    char label[128];
    matrix();
    RUN(legacy_high_memory(MODEL_PCI_LEGACY), "blk legacy PCI refuses a ring above 16 TiB (64-bit CPUs)");
    RUN(legacy_high_memory(MODEL_MMIO_LEGACY), "blk legacy MMIO refuses a ring above 16 TiB (64-bit CPUs)");
    RUN(full_ring(MODEL_PCI_MODERN, 4, 0, 0), "blk full ring notified: 4 entries, no indirect, MORE (issue 11.2)");
    RUN(full_ring(MODEL_PCI_MODERN, 4, 1, 0), "blk full ring notified: 4 entries, indirect, MORE");
    RUN(full_ring(MODEL_PCI_LEGACY, 8, 0, 1), "blk full ring notified: legacy PCI, 8 entries, deferred");
    RUN(full_ring(MODEL_MMIO, 8, 1, 1), "blk full ring notified: MMIO, 8 entries, indirect, deferred");
    RUN(batch(VIRTIO_RING_SPLIT, 7), "blk submit_batch + poll_batch alone: batches cut short are notified, split");
    RUN(batch(VIRTIO_RING_PACKED, 1), "blk submit_batch + poll_batch alone: batches cut short are notified, packed");
    identity = 1;   /* one-piece requests gathered and posted together */
    RUN(batch(VIRTIO_RING_SPLIT, 3), "blk submit_batch + poll_batch alone, identity DMA: batches cut short are notified, split");
    RUN(batch(VIRTIO_RING_PACKED, 8), "blk submit_batch + poll_batch alone, identity DMA: batches cut short are notified, packed");
    identity = 0;
    RUN(batch_mixed(VIRTIO_RING_SPLIT, 1), "blk submit_batch mixing gathered and ordinary requests on a ring of 8: device order is the caller's, split");
    RUN(batch_mixed(VIRTIO_RING_PACKED, 1), "blk submit_batch mixing gathered and ordinary requests on a ring of 8: device order is the caller's, packed");
    RUN(batch_mixed(VIRTIO_RING_SPLIT, 0), "blk submit_batch with a dma_map hook (nothing gathered): the same order and data, split");
    RUN(refresh_takes_discard_away(), "blk refresh to a discard limit of 0 ends the discard (issue 11.3b)");
    RUN(bounded_callbacks(1), "blk resubmitting callbacks: poll and wait bounded (issue 11.3c)");
    RUN(bounded_callbacks(0), "blk flush without FLUSH completes at poll, not in submit (issue 11.3c)");
    RUN(failed_refresh(), "blk failed refresh keeps the old info (issue 11.4)");
    RUN(stuck_reset(0), "blk shutdown: reset never finishes, nothing freed (issue 11.5)");
    RUN(stuck_reset(1), "blk timeout: reset never finishes, nothing handed back (issue 11.5)");
    RUN(stuck_reset(2), "blk protocol error: reset never finishes, nothing handed back (issue 11.5)");
    RUN(init_twice(), "blk init on a running disk is refused (issue 11.7)");
    RUN(memory(MODEL_PCI_MODERN, 0), "blk MEMORY: no allocation of its own above 4096 bytes (dma_unmap hook)");
    RUN(memory(MODEL_MMIO, 1), "blk MEMORY: no allocation of its own above 4096 bytes (identity DMA)");
    RUN(memory_totals(0, 50702, 7328, 22), "blk MEMORY totals: 256-entry split queue, 50702 + 7328 bytes in 22");
    RUN(memory_totals(32, 9038, 3520, 7), "blk MEMORY totals: queue_size 32, 9038 + 3520 bytes in 7");
    RUN(queue_size(), "blk keeps the device's queue size unless asked for less (issue 11.9a)");
#if SIZE_MAX > 0xffffffffu
    RUN(huge_request(0), "blk 5 GiB read without SIZE_MAX: device requests of 1 GiB, no chain of 4 GiB");
    RUN(huge_request(1), "blk 5 GiB write without SIZE_MAX: device requests of 1 GiB, no chain of 4 GiB");
#endif
    for (identity = 0; identity < 2; identity++) {
        const char *d = identity ? ", identity DMA" : "";
#define RUN_D(call, what)                                        \
    do {                                                         \
        snprintf(label, sizeof label, "%s%s", what, d);          \
        RUN(call, label);                                        \
    } while (0)
        RUN_D(many_in_flight(VIRTIO_RING_SPLIT), "blk 100 in flight, reverse completion, split");
        RUN_D(many_in_flight(VIRTIO_RING_PACKED), "blk 100 in flight, reverse completion, packed");
        RUN_D(splitting(), "blk 1 MiB over pages with seg_max 2, size_max 4096");
        RUN_D(block_4k(), "blk 4096-byte blocks");
        RUN_D(read_only(), "blk read-only refuses writes before the device");
        RUN_D(timeout_and_recovery(), "blk timeout resets the device, re-init works");
        RUN_D(needs_reset(), "blk NEEDS_RESET fails requests in flight, re-init works");
        RUN_D(flush_error_and_cache(), "blk flush error, write cache switch, resize");
        RUN_D(callbacks_and_tokens(), "blk callbacks and tokens around a blocking call");
    }
    UNIT_EXIT();
}
