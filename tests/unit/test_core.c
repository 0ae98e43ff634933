/* test_core.c - virtio.h's transports and virtqueues against the model.
 *
 * Ring mechanics that a real device rarely shows: 16-bit index
 * wrap-around (70 000 requests through an 8-entry ring), packed-ring wrap
 * counters on an odd-sized ring with chains straddling the end, indirect
 * and direct chains, event-index arithmetic (the device asks for every
 * n-th notification; the driver must send exactly those), interrupt
 * enabling, queue-size clamping, config generation retry, resets that do
 * not finish, refused features, hostile used ids, allocation failure,
 * discovery. The model checks every ring access against the spec.
 */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_blk.h"
#include "model.h"
#include "unit.h"

static uint8_t buf[1 << 17];

typedef struct env {
    model_bus *bus;
    model *m;
    virtio_device dev;
    virtio_blk blk;
} env;

static virtio_result up(env *e, uint32_t transport, uint32_t qmax, const virtio_blk_options *o, uint32_t mode)
{
    model_options mo;
    model_blk_options bo;
    virtio_result r;
    memset(e, 0, sizeof *e);
    e->bus = model_bus_new();
    model_options_init(&mo, transport);
    mo.mode = mode;
    model_blk_options_init(&bo);
    if (qmax) bo.queue_size = qmax;
    e->m = model_blk_new(e->bus, &mo, &bo);
    if (transport == MODEL_MMIO || transport == MODEL_MMIO_LEGACY)
        r = virtio_mmio_probe(&e->dev, &e->bus->platform, model_mmio_base(e->m));
    else
        r = virtio_pci_probe(&e->dev, &e->bus->platform, model_pci_bdf(e->m));
    if (r != VIRTIO_OK) return r;
    return virtio_blk_init(&e->blk, &e->dev, o);
}

static void down(env *e)
{
    if (e->blk.priv.magic) virtio_blk_shutdown(&e->blk);
    CHECK_EQ(e->bus->stats.bugs, 0);
    if (e->bus->stats.bugs) fprintf(stderr, "  model: %s\n", model_bus_last_bug(e->bus));
    model_bus_free(e->bus);
}

static void ring_opts(virtio_blk_options *o, uint32_t ring, int indirect, int event_idx)
{
    memset(o, 0, sizeof *o);
    o->device.ring = ring;
    o->device.no_indirect = !indirect;
    o->device.no_event_idx = !event_idx;
}

/* 70 000 requests through an 8-entry ring: every index wraps past 65535. */
static void wraparound(uint32_t ring, int indirect)
{
    env e;
    virtio_blk_options o;
    uint32_t i;
    ring_opts(&o, ring, indirect, 1);
    o.max_requests = 2;
    CHECK_EQ(up(&e, MODEL_PCI_MODERN, 8, &o, MODEL_IMMEDIATE), VIRTIO_OK);
    CHECK_EQ(e.blk.queue.size, 8);
    for (i = 0; i < 70000 && !unit_fails; i++) {
        uint32_t sec = (i * 7u) % 2040;
        CHECK_EQ(virtio_blk_read(&e.blk, sec, buf, 512), VIRTIO_OK);
        CHECK_EQ(buf[17], model_blk_pattern(sec * 512 + 17));
    }
    CHECK_EQ(model_queue_stats(e.m, 0)->chains, 70000);
    if (!e.blk.queue.packed) CHECK_EQ((uint16_t)e.blk.queue.priv.split.avail_idx, (uint16_t)70000);
    down(&e);
}

/* Packed ring of 5 entries, direct chains of 3 descriptors: chains
   straddle the end of the ring and the wrap counters flip mid-chain. */
static void packed_odd(void)
{
    env e;
    virtio_blk_options o;
    uint32_t i;
    ring_opts(&o, VIRTIO_RING_PACKED, 0, 1);
    o.max_requests = 1;
    CHECK_EQ(up(&e, MODEL_MMIO, 5, &o, MODEL_IMMEDIATE), VIRTIO_OK);
    CHECK_EQ(e.blk.queue.size, 5);
    CHECK_EQ(e.blk.queue.indirect, 0);
    for (i = 0; i < 1000 && !unit_fails; i++) {
        CHECK_EQ(virtio_blk_read(&e.blk, i % 2000, buf, 1024), VIRTIO_OK);
        CHECK_EQ(buf[700], model_blk_pattern((i % 2000) * 512 + 700));
    }
    CHECK_EQ(model_queue_stats(e.m, 0)->indirect, 0);
    down(&e);
}

/* Long scatter lists: indirect tables when negotiated, direct chains
   otherwise; both deliver the same bytes. */
static void chains(int indirect)
{
    env e;
    virtio_blk_options o;
    ring_opts(&o, VIRTIO_RING_SPLIT, indirect, 1);
    o.max_segments = 20;
    CHECK_EQ(up(&e, MODEL_MMIO, 64, &o, MODEL_IMMEDIATE), VIRTIO_OK);
    e.bus->knobs.dma_split = 1;   /* one piece per 4 KiB page */
    CHECK_EQ(virtio_blk_read(&e.blk, 0, buf + 2048, 16 * 4096), VIRTIO_OK);
    CHECK_EQ(buf[2048 + 16 * 4096 - 1], model_blk_pattern(16 * 4096 - 1));
    CHECK_EQ(buf[2048 + 5000], model_blk_pattern(5000));
    if (indirect) CHECK(model_queue_stats(e.m, 0)->indirect > 0);
    else CHECK_EQ(model_queue_stats(e.m, 0)->indirect, 0);
    down(&e);
}

/* The device wants every 4th notification (EVENT_IDX): the driver must send
   those and no other; NEVER: none at all, in both ring formats and with
   flag-based suppression too. */
static void event_idx(uint32_t ring, int ev, uint32_t policy)
{
    env e;
    virtio_blk_options o;
    model_qstats *qs;
    uint32_t i;
    ring_opts(&o, ring, 1, ev);
    CHECK_EQ(up(&e, MODEL_PCI_MODERN, 64, &o, MODEL_IMMEDIATE), VIRTIO_OK);
    e.m->knobs.notify = policy;
    e.m->knobs.notify_every = 4;
    /* Batches of 4 requests; a device that wants every 4th notification
       gets one per batch and processes the batch then. */
    for (i = 0; i < 200; i++) {
        virtio_blk_request rq;
        void *tok;
        virtio_result res;
        memset(&rq, 0, sizeof rq);
        rq.op = VIRTIO_BLK_OP_READ;
        rq.sector = i;
        rq.buf = buf + (i % 4) * 512;
        rq.len = 512;
        CHECK_EQ(virtio_blk_submit(&e.blk, &rq), VIRTIO_OK);
        if (i % 4 != 3) continue;
        if (policy == MODEL_NOTIFY_NEVER) model_run(e.m, 0);   /* the device polls by itself */
        while (e.blk.inflight) {
            if (virtio_blk_poll(&e.blk, &tok, &res) == VIRTIO_EMPTY) model_run(e.m, 0);
            else CHECK_EQ(res, VIRTIO_OK);
        }
    }
    qs = model_queue_stats(e.m, 0);
    /* The first request may be notified before the device has written its
       suppression state; after that the driver sends exactly what it asks. */
    CHECK_EQ(qs->notifies_unwanted, 0);
    if (policy == MODEL_NOTIFY_NEVER) CHECK(qs->notifies <= 1);
    if (policy == MODEL_NOTIFY_EVERY) CHECK(qs->notifies >= 200 / 4 && qs->notifies <= 200 / 4 + 1);
    if (policy == MODEL_NOTIFY_ALWAYS) CHECK_EQ(qs->notifies, 200);

    down(&e);
}

/* Interrupts: off by default (the library polls), on when asked; the ISR
   tells which kind. */
static void interrupts(uint32_t ring, int ev)
{
    env e;
    virtio_blk_options o;
    model_qstats *qs;
    uint32_t isr = 0;
    int pending = 1;
    ring_opts(&o, ring, 1, ev);
    CHECK_EQ(up(&e, MODEL_MMIO, 64, &o, MODEL_IMMEDIATE), VIRTIO_OK);
    qs = model_queue_stats(e.m, 0);
    CHECK_EQ(virtio_blk_read(&e.blk, 0, buf, 512), VIRTIO_OK);
    CHECK_EQ(qs->interrupts, 0);
    CHECK_EQ(virtio_queue_enable_cb(&e.blk.queue, &pending), VIRTIO_OK);
    CHECK_EQ(pending, 0);
    CHECK_EQ(virtio_blk_read(&e.blk, 0, buf, 512), VIRTIO_OK);
    CHECK(qs->interrupts >= 1);
    CHECK_EQ(virtio_device_isr(&e.blk.dev, &isr), VIRTIO_OK);
    CHECK(isr & VIRTIO_ISR_QUEUE);
    CHECK_EQ(virtio_device_isr(&e.blk.dev, &isr), VIRTIO_OK);   /* acknowledged: now clear */
    CHECK_EQ(isr, 0);
    CHECK_EQ(virtio_queue_disable_cb(&e.blk.queue), VIRTIO_OK);
    down(&e);
}

/* The queue API itself: argument checks, full ring, empty pop. */
/* A deferred block device with 4-entry queues: the queue tests' device. */
static model *small_blk(model_bus *bus, uint32_t transport)
{
    model_options mo;
    model_blk_options bo;
    model_options_init(&mo, transport);
    mo.mode = MODEL_DEFERRED;
    model_blk_options_init(&bo);
    bo.queue_size = 4;
    return model_blk_new(bus, &mo, &bo);
}

static void queue_api(uint32_t ring)
{
    model_bus *bus = model_bus_new();
    model *m;
    virtio_device dev;
    virtio_device_options dopt;
    virtio_queue q;
    virtio_sg sg[3];
    void *cookie = 0;
    uint32_t len = 0;
    uint64_t hdr_dev = 0, st_dev = 0, data_dev = 0;
    uint8_t *hdr = 0, *st = 0, *data = 0;
    m = small_blk(bus, MODEL_PCI_MODERN);
    memset(&dopt, 0, sizeof dopt);
    dopt.ring = ring;
    dopt.no_indirect = 1;
    CHECK_EQ(virtio_pci_probe(&dev, &bus->platform, model_pci_bdf(m)), VIRTIO_OK);
    CHECK_EQ(virtio_device_begin(&dev, 0, &dopt), VIRTIO_OK);
    CHECK_EQ(virtio_queue_init(&q, &dev, 5, 0), VIRTIO_ERR_NOT_FOUND);   /* no such queue */
    CHECK_EQ(virtio_queue_init(&q, &dev, 0, 0), VIRTIO_OK);
    {
        virtio_queue again;
        CHECK_EQ(virtio_queue_init(&again, &dev, 0, 0), VIRTIO_ERR_STATE);   /* already live */
    }
    CHECK_EQ(virtio_device_ready(&dev), VIRTIO_OK);
    CHECK_EQ(virtio_alloc(&bus->platform, 16, 16, VIRTIO_MEM_DMA, (void **)&hdr, &hdr_dev), VIRTIO_OK);
    CHECK_EQ(virtio_alloc(&bus->platform, 512, 16, VIRTIO_MEM_DMA, (void **)&data, &data_dev), VIRTIO_OK);
    CHECK_EQ(virtio_alloc(&bus->platform, 4, 4, VIRTIO_MEM_DMA, (void **)&st, &st_dev), VIRTIO_OK);
    /* A read of sector 0: header, 512 writable bytes, status byte. */
    sg[0].addr = hdr_dev, sg[0].len = 16;
    sg[1].addr = data_dev, sg[1].len = 512;
    sg[2].addr = st_dev, sg[2].len = 1;
    CHECK_EQ(virtio_queue_pop(&q, &cookie, &len), VIRTIO_EMPTY);
    CHECK_EQ(virtio_queue_add(&q, sg, 0, 0, 0), VIRTIO_ERR_INVALID_ARG);
    sg[2].len = 0;
    CHECK_EQ(virtio_queue_add(&q, sg, 1, 2, 0), VIRTIO_ERR_INVALID_ARG);   /* zero length */
    sg[2].len = 1;
    CHECK_EQ(virtio_queue_add(&q, 0, 1, 0, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_queue_add_table(&q, hdr_dev, 3, 513, 0), VIRTIO_ERR_UNSUPPORTED);   /* no indirect */
    CHECK_EQ(virtio_queue_add(&q, sg, 1, 2, (void *)1), VIRTIO_OK);
    CHECK_EQ(q.num_free, 1);   /* 4 entries, 3 used, no indirect tables */
    CHECK_EQ(virtio_queue_add(&q, sg, 1, 2, 0), VIRTIO_ERR_NO_SPACE);
    CHECK_EQ(virtio_queue_kick(&q), VIRTIO_OK);
    CHECK_EQ(model_run(m, 0), 1);
    CHECK_EQ(virtio_queue_pop(&q, &cookie, &len), VIRTIO_OK);
    CHECK(cookie == (void *)1);
    CHECK_EQ(len, 513);                   /* data and status written */
    CHECK_EQ(st[0], 0);
    CHECK_EQ(data[100], model_blk_pattern(100));
    CHECK_EQ(virtio_queue_pop(&q, &cookie, &len), VIRTIO_EMPTY);
    CHECK_EQ(q.num_free, 4);
    CHECK_EQ(virtio_device_reset(&dev), VIRTIO_OK);
    CHECK_EQ(virtio_queue_destroy(&q), VIRTIO_OK);
    virtio_free(&bus->platform, st, 4, VIRTIO_MEM_DMA);
    virtio_free(&bus->platform, data, 512, VIRTIO_MEM_DMA);
    virtio_free(&bus->platform, hdr, 16, VIRTIO_MEM_DMA);
    CHECK_EQ(bus->stats.bugs, 0);
    CHECK_EQ(bus->stats.live_allocs, 0);
    model_bus_free(bus);
}

/* Driver-built tables: one table per request, written once with
   virtio_table_set, posted with virtio_queue_add_table; each takes one
   ring entry, the device follows the table to the right buffers. */
static void queue_tables(uint32_t ring)
{
    model_bus *bus = model_bus_new();
    model *m;
    virtio_device dev;
    virtio_device_options dopt;
    virtio_queue_options qo;
    virtio_queue q;
    uint64_t mem_dev = 0;
    uint8_t *mem = 0;   /* per request i (0..3): table at 64 i, header at 256 + 16 i, status at 320 + i, data at 512 i + 512 */
    uint32_t i, len = 0, seen = 0;
    void *cookie = 0;
    m = small_blk(bus, MODEL_MMIO);
    memset(&dopt, 0, sizeof dopt);
    dopt.ring = ring;
    memset(&qo, 0, sizeof qo);
    qo.indirect = 3;
    CHECK_EQ(model_probe(m, &dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_device_begin(&dev, 0, &dopt), VIRTIO_OK);
    CHECK_EQ(virtio_queue_init(&q, &dev, 0, &qo), VIRTIO_OK);
    CHECK_EQ(q.indirect, 3);
    CHECK_EQ(virtio_device_ready(&dev), VIRTIO_OK);
    CHECK_EQ(virtio_alloc(&bus->platform, 512 * 5, 16, VIRTIO_MEM_DMA, (void **)&mem, &mem_dev), VIRTIO_OK);
    CHECK_EQ(virtio_queue_add_table(&q, mem_dev, 0, 0, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_queue_add_table(&q, mem_dev, 5, 0, 0), VIRTIO_ERR_INVALID_ARG);   /* longer than the ring */
    for (i = 0; i < 4; i++) {   /* reads of sectors 1, 3, 5, 7 */
        uint8_t *hdr = mem + 256 + 16 * i;
        memset(hdr, 0, 16);
        hdr[8] = (uint8_t)(2 * i + 1);
        mem[320 + i] = 0xff;
        virtio_table_set(&q, mem + 64 * i, 0, 3, mem_dev + 256 + 16 * i, 16, 0);
        virtio_table_set(&q, mem + 64 * i, 1, 3, mem_dev + 512 * (i + 1), 512, 1);
        virtio_table_set(&q, mem + 64 * i, 2, 3, mem_dev + 320 + i, 1, 1);
        CHECK_EQ(virtio_queue_add_table(&q, mem_dev + 64 * i, 3, 513, (void *)(uintptr_t)(i + 1)), VIRTIO_OK);
    }
    CHECK_EQ(q.num_free, 0);
    CHECK_EQ(virtio_queue_add_table(&q, mem_dev, 3, 513, 0), VIRTIO_ERR_NO_SPACE);
    CHECK_EQ(virtio_queue_kick(&q), VIRTIO_OK);
    CHECK_EQ(model_run(m, 0), 4);
    while (virtio_queue_pop(&q, &cookie, &len) == VIRTIO_OK) {
        i = (uint32_t)(uintptr_t)cookie - 1;
        CHECK(i < 4);
        if (i >= 4) break;
        seen |= 1u << i;
        CHECK_EQ(len, 513);
        CHECK_EQ(mem[320 + i], 0);
        CHECK_EQ(mem[512 * (i + 1) + 7], model_blk_pattern((2 * i + 1) * 512 + 7));
    }
    CHECK_EQ(seen, 15);
    CHECK_EQ(q.num_free, 4);
    CHECK_EQ(virtio_device_reset(&dev), VIRTIO_OK);
    CHECK_EQ(virtio_queue_destroy(&q), VIRTIO_OK);
    CHECK_EQ(virtio_queue_add_table(&q, mem_dev, 3, 513, 0), VIRTIO_ERR_STATE);
    virtio_free(&bus->platform, mem, 512 * 5, VIRTIO_MEM_DMA);
    CHECK_EQ(bus->stats.bugs, 0);
    CHECK_EQ(bus->stats.live_allocs, 0);
    model_bus_free(bus);
}

/* QueueNumMax 0 (absent), 3, 2048: split rounds to a power of two,
   everything is clamped to VIRTIO_MAX_QUEUE_SIZE. */
static void queue_sizes(uint32_t ring)
{
    static const uint32_t max[] = { 3, 100, 2048, 1 };
    uint32_t i;
    for (i = 0; i < sizeof max / sizeof max[0]; i++) {
        env e;
        virtio_blk_options o;
        uint32_t want = max[i] > VIRTIO_MAX_QUEUE_SIZE ? VIRTIO_MAX_QUEUE_SIZE : max[i];
        virtio_result r;
        ring_opts(&o, ring, 1, 1);
        o.max_requests = 1024;
        r = up(&e, MODEL_MMIO, max[i], &o, MODEL_IMMEDIATE);
        if (ring == VIRTIO_RING_SPLIT)
            while (want & (want - 1)) want &= want - 1;
        if (want < 3) {
            CHECK(r != VIRTIO_OK);   /* a blk request needs 3 descriptors */
        } else {
            CHECK_EQ(r, VIRTIO_OK);
            CHECK_EQ(e.blk.queue.size, want);
            CHECK_EQ(virtio_blk_read(&e.blk, 0, buf, 512), VIRTIO_OK);
        }
        down(&e);
    }
    {
        env e;
        memset(&e, 0, sizeof e);
        e.bus = model_bus_new();
        e.m = model_blk_default(e.bus, MODEL_MMIO);
        model_set_queue_max(e.m, 0, 0);
        CHECK_EQ(model_probe(e.m, &e.dev, 0), VIRTIO_OK);
        CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, 0), VIRTIO_ERR_NOT_FOUND);
        down(&e);
    }
}

/* A device whose used ring names an id that is not in flight. */
static void hostile_id_hook(void *user, model *m, model_hostile *h)
{
    (void)user;
    (void)m;
    if (h->kind == MODEL_H_USED_ELEM || h->kind == MODEL_H_PACKED_USED) h->id += 1;
}

static void hostile_used_id(uint32_t ring)
{
    env e;
    virtio_blk_options o;
    ring_opts(&o, ring, 1, 1);
    CHECK_EQ(up(&e, MODEL_PCI_MODERN, 64, &o, MODEL_IMMEDIATE), VIRTIO_OK);
    e.m->knobs.hostile = hostile_id_hook;
    memset(buf, 0x77, 512);
    CHECK_EQ(virtio_blk_read(&e.blk, 0, buf, 512), VIRTIO_ERR_DEVICE);
    CHECK(e.blk.queue.priv.broken);
    CHECK(e.bus->stats.log[VIRTIO_MSG_BAD_USED_ID] >= 1);
    CHECK_EQ(virtio_blk_read(&e.blk, 0, buf, 512), VIRTIO_ERR_STATE);
    e.m->knobs.hostile = 0;
    virtio_blk_shutdown(&e.blk);
    CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, &o), VIRTIO_OK);
    CHECK_EQ(virtio_blk_read(&e.blk, 0, buf, 512), VIRTIO_OK);
    CHECK_EQ(buf[3], model_blk_pattern(3));
    e.bus->stats.bugs = 0;   /* tainted device: the model counts differently */
    down(&e);
}

/* Handshake failures: a reset that never finishes, refused features,
   config that never settles, missing ACCESS_PLATFORM. */
static void handshake(void)
{
    env e;
    uint32_t v = 0;
    model_options mo;
    model_blk_options bo;
    memset(&e, 0, sizeof e);
    e.bus = model_bus_new();
    model_options_init(&mo, MODEL_PCI_MODERN);
    model_blk_options_init(&bo);
    e.m = model_blk_new(e.bus, &mo, &bo);
    CHECK_EQ(virtio_pci_probe(&e.dev, &e.bus->platform, model_pci_bdf(e.m)), VIRTIO_OK);
    e.m->knobs.reset_delay = 3;   /* a reset that takes a while is fine */
    CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, 0), VIRTIO_OK);
    virtio_blk_shutdown(&e.blk);
    e.m->knobs.reset_delay = 0;
    e.m->knobs.refuse_features_ok = 1;
    CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, 0), VIRTIO_ERR_FEATURES);
    CHECK(model_status(e.m) & MODEL_S_FAILED);
    e.m->knobs.refuse_features_ok = 0;
    CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, 0), VIRTIO_OK);
    e.m->knobs.gen_bump_every = 1;   /* the generation changes on every read */
    CHECK_EQ(virtio_config_read32(&e.blk.dev, 20, &v), VIRTIO_ERR_DEVICE);
    e.m->knobs.gen_bump_max = e.m->stats.generation_bumps + 3;   /* ... a few times, then settles */
    CHECK_EQ(virtio_config_read32(&e.blk.dev, 20, &v), VIRTIO_OK);
    e.m->knobs.gen_bump_every = 0;
    CHECK_EQ(virtio_config_read32(&e.blk.dev, 0x1000, &v), VIRTIO_ERR_RANGE);
    CHECK_EQ(virtio_config_read32(&e.blk.dev, 2, &v), VIRTIO_ERR_INVALID_ARG);   /* misaligned */
    virtio_blk_shutdown(&e.blk);
    e.bus->platform.flags |= VIRTIO_PLATFORM_FORCE_ACCESS_PLATFORM;   /* not offered: refused */
    CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, 0), VIRTIO_ERR_UNSUPPORTED);
    CHECK(e.bus->stats.log[VIRTIO_MSG_NO_ACCESS_PLATFORM] >= 1);
    e.m->knobs.features_override_on = 1;
    e.m->knobs.features_override = MODEL_BLK_DEFAULT_FEATURES | MODEL_F_ACCESS_PLATFORM;
    CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, 0), VIRTIO_OK);   /* offered: accepted */
    CHECK(virtio_device_has(&e.blk.dev, 33));
    virtio_blk_shutdown(&e.blk);
    e.m->knobs.features_override = (1ull << 32);   /* VERSION_1 only */
    CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, 0), VIRTIO_ERR_UNSUPPORTED);
    e.bus->platform.flags = 0;
    e.m->knobs.features_override = 0;   /* a modern device without VERSION_1 */
    CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, 0), VIRTIO_ERR_UNSUPPORTED);
    e.m->knobs.features_override_on = 0;
    down(&e);
}

/* A reset that never finishes: the wait ends with TIMEOUT, logged. */
static void reset_never(void)
{
    model_bus *bus = model_bus_new();
    model_options mo;
    model_blk_options bo;
    model *m;
    virtio_device dev;
    virtio_blk blk;
    model_options_init(&mo, MODEL_MMIO);
    model_blk_options_init(&bo);
    m = model_blk_new(bus, &mo, &bo);
    CHECK_EQ(virtio_mmio_probe(&dev, &bus->platform, model_mmio_base(m)), VIRTIO_OK);
    CHECK_EQ(virtio_blk_init(&blk, &dev, 0), VIRTIO_OK);
    m->knobs.reset_delay = MODEL_FOREVER;
    CHECK_EQ(virtio_device_reset(&blk.dev), VIRTIO_ERR_TIMEOUT);
    CHECK(bus->stats.log[VIRTIO_MSG_RESET_TIMEOUT] >= 1);
    CHECK_EQ(bus->stats.bugs, 0);
    model_bus_free(bus);
}

/* Allocation failures anywhere in init return NO_MEMORY and leak nothing. */
static void alloc_failures(void)
{
    uint32_t n;
    for (n = 1; n <= 8; n++) {
        env e;
        model_options mo;
        model_blk_options bo;
        virtio_result r;
        memset(&e, 0, sizeof e);
        e.bus = model_bus_new();
        model_options_init(&mo, MODEL_MMIO);
        model_blk_options_init(&bo);
        e.m = model_blk_new(e.bus, &mo, &bo);
        CHECK_EQ(virtio_mmio_probe(&e.dev, &e.bus->platform, model_mmio_base(e.m)), VIRTIO_OK);
        e.bus->knobs.alloc_fail_after = n;
        r = virtio_blk_init(&e.blk, &e.dev, 0);
        if (r == VIRTIO_OK) {
            virtio_blk_shutdown(&e.blk);
        } else {
            CHECK_EQ(r, VIRTIO_ERR_NO_MEMORY);
        }
        CHECK_EQ(e.bus->stats.live_allocs, 0);
        e.bus->knobs.alloc_fail_after = 0;
        down(&e);
    }
}

/* Discovery: PCI functions among others, MMIO slots with empty ones. */
static void discovery(void)
{
    model_bus *bus = model_bus_new();
    model_options mo;
    model_blk_options bo;
    uint32_t bdf = 0, slot = 0;
    model_blk_options_init(&bo);
    model_options_init(&mo, MODEL_PCI_MODERN);
    mo.bdf = 3 << 3;
    CHECK(model_blk_new(bus, &mo, &bo) != 0);
    model_options_init(&mo, MODEL_PCI_LEGACY);
    mo.bdf = 5 << 3;
    mo.bar_io = 0xd000;
    mo.bar_mem = 0xfd000000;
    CHECK(model_blk_new(bus, &mo, &bo) != 0);
    bus->platform.pci_buses = 1;
    CHECK_EQ(virtio_pci_find(&bus->platform, VIRTIO_DEVICE_BLOCK, &bdf), VIRTIO_OK);
    CHECK_EQ(bdf, 3 << 3);
    bdf++;
    CHECK_EQ(virtio_pci_find(&bus->platform, VIRTIO_DEVICE_BLOCK, &bdf), VIRTIO_OK);
    CHECK_EQ(bdf, 5 << 3);
    bdf++;
    CHECK_EQ(virtio_pci_find(&bus->platform, VIRTIO_DEVICE_BLOCK, &bdf), VIRTIO_ERR_NOT_FOUND);
    bdf = 0;
    CHECK_EQ(virtio_pci_find(&bus->platform, VIRTIO_DEVICE_NET, &bdf), VIRTIO_ERR_NOT_FOUND);
    {   /* a window of 8 slots: empty ones, and the device in slot 2 */
        uint32_t i;
        for (i = 0; i < 8; i++)
            if (i != 2) CHECK_EQ(model_bus_add_mmio_empty(bus, 0x10001000 + 0x200 * i), 0);
    }
    model_options_init(&mo, MODEL_MMIO);
    mo.mmio_base = 0x10001400;
    CHECK(model_blk_new(bus, &mo, &bo) != 0);
    CHECK_EQ(virtio_mmio_find(&bus->platform, 0x10001000, 0x200, 8, VIRTIO_DEVICE_BLOCK, &slot), VIRTIO_OK);
    CHECK_EQ(slot, 2);
    slot++;
    CHECK_EQ(virtio_mmio_find(&bus->platform, 0x10001000, 0x200, 8, 0, &slot), VIRTIO_ERR_NOT_FOUND);
    CHECK_EQ(bus->stats.bugs, 0);
    model_bus_free(bus);
}

int main(void)
{
    RUN(wraparound(VIRTIO_RING_SPLIT, 1), "core 70000 requests wrap 16-bit indices, split");
    RUN(wraparound(VIRTIO_RING_SPLIT, 0), "core 70000 requests wrap 16-bit indices, split direct chains");
    RUN(wraparound(VIRTIO_RING_PACKED, 1), "core 70000 requests wrap, packed");
    RUN(wraparound(VIRTIO_RING_PACKED, 0), "core 70000 requests wrap, packed direct chains");
    RUN(packed_odd(), "core packed ring of 5 with chains across the wrap");
    RUN(chains(1), "core 16-page scatter list in an indirect table");
    RUN(chains(0), "core 16-page scatter list as a direct chain");
    RUN(event_idx(VIRTIO_RING_SPLIT, 1, MODEL_NOTIFY_EVERY), "core event index: every 4th notification, split");
    RUN(event_idx(VIRTIO_RING_PACKED, 1, MODEL_NOTIFY_EVERY), "core event index: every 4th notification, packed");
    RUN(event_idx(VIRTIO_RING_SPLIT, 1, MODEL_NOTIFY_NEVER), "core event index: no notifications, split");
    RUN(event_idx(VIRTIO_RING_PACKED, 1, MODEL_NOTIFY_NEVER), "core event index: no notifications, packed");
    RUN(event_idx(VIRTIO_RING_SPLIT, 0, MODEL_NOTIFY_NEVER), "core NO_NOTIFY flag, split");
    RUN(event_idx(VIRTIO_RING_PACKED, 0, MODEL_NOTIFY_NEVER), "core DISABLE flag, packed");
    RUN(event_idx(VIRTIO_RING_SPLIT, 1, MODEL_NOTIFY_ALWAYS), "core notification per request when asked, split");
    RUN(interrupts(VIRTIO_RING_SPLIT, 1), "core interrupts off by default, on when enabled, split");
    RUN(interrupts(VIRTIO_RING_PACKED, 1), "core interrupts off by default, on when enabled, packed");
    RUN(interrupts(VIRTIO_RING_SPLIT, 0), "core interrupts with flag suppression, split");
    RUN(queue_api(VIRTIO_RING_SPLIT), "core queue API: arguments, full ring, pop order, split");
    RUN(queue_api(VIRTIO_RING_PACKED), "core queue API: arguments, full ring, pop order, packed");
    RUN(queue_tables(VIRTIO_RING_SPLIT), "core driver-built indirect tables, split");
    RUN(queue_tables(VIRTIO_RING_PACKED), "core driver-built indirect tables, packed");
    RUN(queue_sizes(VIRTIO_RING_SPLIT), "core queue sizes 3/100/2048/1/0, split");
    RUN(queue_sizes(VIRTIO_RING_PACKED), "core queue sizes 3/100/2048/1/0, packed");
    RUN(hostile_used_id(VIRTIO_RING_SPLIT), "core used id not in flight breaks the queue, re-init works, split");
    RUN(hostile_used_id(VIRTIO_RING_PACKED), "core used id not in flight breaks the queue, re-init works, packed");
    RUN(reset_never(), "core a reset that never finishes times out");
    RUN(handshake(), "core slow reset, features refused, config unstable, ACCESS_PLATFORM");
    RUN(alloc_failures(), "core every allocation failure in init: NO_MEMORY, no leak");
    RUN(discovery(), "core PCI and MMIO discovery");
    UNIT_EXIT();
}
