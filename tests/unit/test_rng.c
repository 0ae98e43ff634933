/* test_rng.c - virtio_rng.h against the software device model.
 *
 * On every transport (MMIO v2 and v1, PCI modern, transitional, legacy)
 * and ring format the transport allows, the bytes handed out are exactly
 * the model's stream, in order, whatever the read sizes and flags. Then
 * the awkward devices: one that fills buffers a few bytes at a time (a
 * blocking read still completes), one that never fills them (bounded
 * waits, the caller's buffer untouched), one that holds buffers (a
 * rate-limited source), one that lies about lengths (zeros, never a
 * repeat of entropy already handed out), one that breaks the ring, asks
 * for a reset or never finishes one. Bad arguments, allocation failures,
 * notification batching (VIRTIO_MORE) and the memory figures of the
 * header's MEMORY section. Every test ends with no model bugs, no
 * mappings and (after shutdown) no allocations.
 */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_rng.h"
#include "model.h"
#include "model_rng.h"
#include "unit.h"

typedef struct renv {
    model_bus *bus;
    model *m;
    virtio_device dev;
    virtio_rng rng;
    uint64_t seed;
    uint64_t taken;   /* stream bytes checked so far */
} renv;

static int is_legacy(uint32_t t)
{
    return t == MODEL_MMIO_LEGACY || t == MODEL_PCI_LEGACY;
}

static virtio_result env_new(renv *e, uint32_t transport, uint32_t mode, const model_rng_options *ro)
{
    model_options mo;
    model_rng_options def;
    memset(e, 0, sizeof *e);
    if (!ro) {
        model_rng_options_init(&def);
        ro = &def;
    }
    e->seed = ro->seed;
    e->bus = model_bus_new();
    model_options_init(&mo, transport);
    mo.mode = mode;
    e->m = model_rng_new(e->bus, &mo, ro);
    if (!e->m) return VIRTIO_ERR_NOT_FOUND;
    return model_probe(e->m, &e->dev, 0);
}

static virtio_result env_up(renv *e, uint32_t transport, const virtio_rng_options *o)
{
    virtio_result r = env_new(e, transport, MODEL_IMMEDIATE, 0);
    if (r != VIRTIO_OK) return r;
    return virtio_rng_init(&e->rng, &e->dev, o);
}

static void env_down(renv *e)
{
    if (e->rng.priv.magic) CHECK_EQ(virtio_rng_shutdown(&e->rng), VIRTIO_OK);
    CHECK_EQ(e->bus->stats.bugs, 0);
    if (e->bus->stats.bugs) fprintf(stderr, "  model: %s\n", model_bus_last_bug(e->bus));
    CHECK_EQ(e->bus->stats.live_maps, 0);
    CHECK_EQ(e->bus->stats.live_allocs, 0);
    CHECK_EQ(e->bus->stats.unordered_frees, 0);   /* newest first */
    model_bus_free(e->bus);
}

/* The next n bytes handed out must be the next n of the stream. */
static int stream_ok(renv *e, const uint8_t *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (b[i] != model_rng_byte(e->seed, e->taken + i)) {
            fprintf(stderr, "  byte %llu: %02x, stream has %02x\n", (unsigned long long)(e->taken + i), b[i],
                    model_rng_byte(e->seed, e->taken + i));
            return 0;
        }
    e->taken += n;
    return 1;
}

/* >>rng.matrix: the stream arrives whole and in order. */
static void basic(uint32_t transport, uint32_t ring)
{
    static const size_t sizes[] = { 1, 7, 64, 65, 200, 256, 3, 1000, 31 };
    renv e;
    virtio_rng_options o;
    uint8_t buf[1024];
    size_t got = 0, total = 0, i;
    uint32_t changed = 77;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    CHECK_EQ(env_up(&e, transport, &o), VIRTIO_OK);
    if (!e.rng.priv.magic) {
        env_down(&e);
        return;
    }
    CHECK_EQ(e.rng.dev.priv.ring, ring);
    CHECK_EQ(e.rng.last_status, VIRTIO_RNG_STATUS_NONE);
    /* A blocking read of exactly 32 bytes: all of them, the stream's first. */
    memset(buf, 0, sizeof buf);
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 32, VIRTIO_RNG_WAIT, &got), VIRTIO_OK);
    CHECK_EQ(got, 32);
    CHECK(stream_ok(&e, buf, 32));
    CHECK_EQ(e.rng.last_status, 64);   /* the model fills whole 64-byte buffers */
    /* Mixed sizes, blocking and not: still the stream, in order. */
    for (i = 0; total < 20000; i++) {
        size_t want = sizes[i % (sizeof sizes / sizeof sizes[0])];
        uint32_t flags = (i & 1) && want <= 256 ? VIRTIO_RNG_WAIT : 0;
        virtio_result r = virtio_rng_read(&e.rng, buf, want, flags, &got);
        if (r == VIRTIO_EMPTY) continue;
        CHECK_EQ(r, VIRTIO_OK);
        if (r != VIRTIO_OK) break;
        CHECK(got >= 1 && got <= want);
        if (flags) CHECK_EQ(got, want);
        CHECK(stream_ok(&e, buf, got));
        total += got;
    }
    CHECK_EQ(e.rng.bytes, e.taken);
    CHECK_EQ(e.rng.empty, 0);
    CHECK_EQ(virtio_rng_refresh(&e.rng, &changed), VIRTIO_OK);
    CHECK_EQ(changed, 0);
    CHECK_EQ(virtio_rng_refresh(&e.rng, 0), VIRTIO_OK);
    CHECK_EQ(virtio_rng_shutdown(&e.rng), VIRTIO_OK);
    CHECK_EQ(model_status(e.m), 0);
    env_down(&e);
}

static void matrix(void)
{
    static const struct { uint32_t t; const char *name; } tr[] = {
        { MODEL_MMIO, "mmio" }, { MODEL_MMIO_LEGACY, "mmio-legacy" }, { MODEL_PCI_MODERN, "pci-modern" },
        { MODEL_PCI_TRANSITIONAL, "pci-transitional" }, { MODEL_PCI_LEGACY, "pci-legacy" },
    };
    unsigned t, ring;
    char label[128];
    for (t = 0; t < sizeof tr / sizeof tr[0]; t++)
        for (ring = VIRTIO_RING_SPLIT; ring <= VIRTIO_RING_PACKED; ring++) {
            if (is_legacy(tr[t].t) && ring == VIRTIO_RING_PACKED) continue;
            snprintf(label, sizeof label, "rng stream whole and in order, %s %s", tr[t].name,
                     ring == VIRTIO_RING_PACKED ? "packed" : "split");
            RUN(basic(tr[t].t, ring), label);
        }
}

/* A device that writes 3 bytes per buffer: a blocking read of 200 bytes
   needs more buffers than the driver has and still completes. */
static void stingy(uint32_t ring)
{
    renv e;
    virtio_rng_options o;
    uint8_t buf[256];
    size_t got = 0;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    model_rng_get_knobs(e.m)->max_per_buffer = 3;
    CHECK_EQ(virtio_rng_init(&e.rng, &e.dev, &o), VIRTIO_OK);
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 200, VIRTIO_RNG_WAIT, &got), VIRTIO_OK);
    CHECK_EQ(got, 200);
    CHECK(stream_ok(&e, buf, 200));
    CHECK_EQ(e.rng.last_status, 3);
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 256, VIRTIO_RNG_WAIT, &got), VIRTIO_OK);   /* the whole capacity */
    CHECK(stream_ok(&e, buf, 256));
    env_down(&e);
}

/* No entropy, ever: every buffer comes back empty. Non-blocking reads say
   EMPTY, blocking reads end at the timeout with the buffer untouched, and
   neither spins forever. */
static void dry(void)
{
    renv e;
    uint8_t buf[64];
    size_t got = 1234;
    uint32_t i;
    CHECK_EQ(env_new(&e, MODEL_MMIO, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    model_rng_get_knobs(e.m)->dry = 1;
    CHECK_EQ(virtio_rng_init(&e.rng, &e.dev, 0), VIRTIO_OK);
    for (i = 0; i < 10; i++) CHECK_EQ(virtio_rng_read(&e.rng, buf, sizeof buf, 0, &got), VIRTIO_EMPTY);
    CHECK(e.rng.empty >= 4);
    CHECK_EQ(e.rng.last_status, 0);
    memset(buf, 0xaa, sizeof buf);
    e.bus->stats.log[VIRTIO_MSG_TIMEOUT] = 0;
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 16, VIRTIO_RNG_WAIT, &got), VIRTIO_ERR_TIMEOUT);
    CHECK_EQ(got, 1234);
    for (i = 0; i < sizeof buf; i++) CHECK_EQ(buf[i], 0xaa);
    CHECK_EQ(e.bus->stats.log[VIRTIO_MSG_TIMEOUT], 1);
    CHECK(model_rng_get_stats(e.m)->empty > 100);   /* the device kept answering, the deadline held */
    /* Entropy again: the next bytes are the stream's first. */
    model_rng_get_knobs(e.m)->dry = 0;
    virtio_rng_kick(&e.rng);
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 16, VIRTIO_RNG_WAIT, &got), VIRTIO_OK);
    CHECK(stream_ok(&e, buf, 16));
    env_down(&e);
}

/* A slow source (buffers held, as QEMU's rate limit does): a blocking read
   times out untouched and what arrives later is kept for the next read;
   a blocking read also completes while the platform idles. */
static void held(void)
{
    renv e;
    uint8_t buf[300];
    size_t got = 0, i;
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    model_rng_get_knobs(e.m)->hold = 1;
    CHECK_EQ(virtio_rng_init(&e.rng, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(model_rng_held(e.m), 4);
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 8, 0, &got), VIRTIO_EMPTY);
    memset(buf, 0x55, sizeof buf);
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 100, VIRTIO_RNG_WAIT, &got), VIRTIO_ERR_TIMEOUT);
    for (i = 0; i < 100; i++) CHECK_EQ(buf[i], 0x55);
    CHECK_EQ(model_rng_release(e.m, 1), 1);   /* 64 bytes: not enough for 100 */
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 100, VIRTIO_RNG_WAIT, &got), VIRTIO_ERR_TIMEOUT);
    for (i = 0; i < 100; i++) CHECK_EQ(buf[i], 0x55);
    CHECK_EQ(model_rng_release(e.m, 1), 1);
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 100, VIRTIO_RNG_WAIT, &got), VIRTIO_OK);
    CHECK(stream_ok(&e, buf, 100));
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 100, 0, &got), VIRTIO_OK);   /* the other 28 */
    CHECK_EQ(got, 28);
    CHECK(stream_ok(&e, buf, 28));
    env_down(&e);

    /* Deferred device: the buffers are filled while the driver waits. */
    CHECK_EQ(env_new(&e, MODEL_MMIO_LEGACY, MODEL_DEFERRED, 0), VIRTIO_OK);
    e.m->knobs.run_on_idle = 1;
    CHECK_EQ(virtio_rng_init(&e.rng, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 256, VIRTIO_RNG_WAIT, &got), VIRTIO_OK);
    CHECK(stream_ok(&e, buf, 256));
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 257, VIRTIO_RNG_WAIT, &got), VIRTIO_ERR_TOO_BIG);
    env_down(&e);
}

/* The device claims a whole buffer but wrote 3 bytes: the rest must be
   zeros (wiped), not entropy handed out before. */
static int lie_len;
static void long_len(void *user, model *m, model_hostile *h)
{
    (void)user;
    (void)m;
    if (lie_len && h->kind == MODEL_H_RESPONSE) h->len = 64;
}

static void lying_length(uint32_t ring)
{
    renv e;
    virtio_rng_options o;
    uint8_t buf[256];
    size_t got = 0, i;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    o.buffers = 1;
    CHECK_EQ(env_new(&e, MODEL_PCI_TRANSITIONAL, MODEL_DEFERRED, 0), VIRTIO_OK);
    e.m->knobs.hostile = long_len;
    CHECK_EQ(virtio_rng_init(&e.rng, &e.dev, &o), VIRTIO_OK);
    CHECK_EQ(model_run(e.m, 0), 1);   /* honest: 64 bytes */
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 64, VIRTIO_RNG_WAIT, &got), VIRTIO_OK);
    CHECK(stream_ok(&e, buf, 64));
    /* The buffer is posted again; the device writes 3 bytes, claims 64. */
    model_rng_get_knobs(e.m)->max_per_buffer = 3;
    lie_len = 1;
    CHECK_EQ(model_run(e.m, 0), 1);
    lie_len = 0;
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 64, VIRTIO_RNG_WAIT, &got), VIRTIO_OK);
    CHECK(stream_ok(&e, buf, 3));
    for (i = 3; i < 64; i++) CHECK_EQ(buf[i], 0);
    env_down(&e);
}

/* A used id never posted breaks the ring: an error, no hang, then STATE;
   shutdown is clean and an honest device works after init. */
static void bad_id(void *user, model *m, model_hostile *h)
{
    (void)user;
    (void)m;
    if (h->kind == MODEL_H_USED_ELEM || h->kind == MODEL_H_PACKED_USED) h->id = 6;
}

static void hostile_id(uint32_t ring)
{
    renv e;
    virtio_rng_options o;
    uint8_t buf[32];
    size_t got;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    CHECK_EQ(env_new(&e, MODEL_MMIO, MODEL_DEFERRED, 0), VIRTIO_OK);
    CHECK_EQ(virtio_rng_init(&e.rng, &e.dev, &o), VIRTIO_OK);
    e.m->knobs.hostile = bad_id;
    model_run(e.m, 0);
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 32, VIRTIO_RNG_WAIT, &got), VIRTIO_ERR_DEVICE);
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 32, 0, &got), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_rng_kick(&e.rng), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_rng_refresh(&e.rng, 0), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_rng_shutdown(&e.rng), VIRTIO_OK);
    CHECK_EQ(e.bus->stats.live_allocs, 0);
    e.m->knobs.hostile = 0;
    e.m->knobs.run_on_idle = 1;
    CHECK_EQ(virtio_rng_init(&e.rng, &e.dev, &o), VIRTIO_OK);
    e.taken = model_rng_get_stats(e.m)->bytes;   /* what the broken ring held is gone */
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 32, VIRTIO_RNG_WAIT, &got), VIRTIO_OK);
    CHECK(stream_ok(&e, buf, 32));
    env_down(&e);
}

/* NEEDS_RESET: refresh reports it, a waiting read returns it. */
/* A queue that reads live right after the driver's reset: the device
   lies, and init says so (VIRTIO_ERR_DEVICE, not the kit's STATE). */
static void live_queue(void)
{
    renv e;
    uint8_t b[16];
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    e.m->knobs.hostile = model_hostile_queue_live;
    CHECK_EQ(virtio_rng_init(&e.rng, &e.dev, 0), VIRTIO_ERR_DEVICE);
    e.m->knobs.hostile = 0;
    CHECK_EQ(virtio_rng_init(&e.rng, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_rng_read(&e.rng, b, sizeof b, VIRTIO_RNG_WAIT, 0), VIRTIO_OK);
    env_down(&e);
}

static void needs_reset(void)
{
    renv e;
    uint8_t buf[16];
    size_t got;
    uint32_t changed = 5;
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    model_rng_get_knobs(e.m)->hold = 1;
    CHECK_EQ(virtio_rng_init(&e.rng, &e.dev, 0), VIRTIO_OK);
    model_set_needs_reset(e.m);
    CHECK_EQ(virtio_rng_refresh(&e.rng, &changed), VIRTIO_ERR_NEEDS_RESET);
    CHECK_EQ(changed, 5);
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 16, VIRTIO_RNG_WAIT, &got), VIRTIO_ERR_NEEDS_RESET);
    CHECK_EQ(virtio_rng_shutdown(&e.rng), VIRTIO_OK);
    model_rng_get_knobs(e.m)->hold = 0;
    CHECK_EQ(virtio_rng_init(&e.rng, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 16, VIRTIO_RNG_WAIT, &got), VIRTIO_OK);
    CHECK(stream_ok(&e, buf, 16));
    env_down(&e);
}

/* A reset that never finishes: shutdown says TIMEOUT, the object is shut
   down, and the memory the device may still write is not given back. */
static void reset_hangs(void)
{
    renv e;
    uint8_t buf[8];
    size_t got;
    CHECK_EQ(env_up(&e, MODEL_MMIO, 0), VIRTIO_OK);
    e.m->knobs.reset_delay = MODEL_FOREVER;
    CHECK_EQ(virtio_rng_shutdown(&e.rng), VIRTIO_ERR_TIMEOUT);
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 8, 0, &got), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_rng_shutdown(&e.rng), VIRTIO_ERR_STATE);
    CHECK_EQ(e.bus->stats.live_allocs, 4);   /* ring, shadow, buffers, stash */
    CHECK_EQ(e.bus->stats.frees, 0);
    /* init whose clean-up reset hangs leaks too: allocation failure late in init. */
    e.m->knobs.reset_delay = 0;
    CHECK_EQ(virtio_device_reset(&e.rng.dev), VIRTIO_OK);
    CHECK_EQ(e.bus->stats.bugs, 0);
    model_bus_free(e.bus);   /* frees what the driver had to leak */
}

/* Allocation failure at every step of init: an error, nothing leaked. */
static void alloc_failures(void)
{
    renv e;
    uint8_t buf[16];
    size_t got;
    uint32_t k;
    virtio_result r = VIRTIO_ERR_NO_MEMORY;
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    for (k = 1; k < 10 && r != VIRTIO_OK; k++) {
        e.bus->knobs.alloc_fail_after = k;
        r = virtio_rng_init(&e.rng, &e.dev, 0);
        e.bus->knobs.alloc_fail_after = 0;
        if (r == VIRTIO_OK) break;
        CHECK_EQ(r, VIRTIO_ERR_NO_MEMORY);
        CHECK_EQ(e.bus->stats.live_allocs, 0);
        CHECK((model_status(e.m) & MODEL_S_DRIVER_OK) == 0);
    }
    CHECK_EQ(k, 5);   /* four allocations, each failed once */
    CHECK_EQ(r, VIRTIO_OK);
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 16, VIRTIO_RNG_WAIT, &got), VIRTIO_OK);
    CHECK(stream_ok(&e, buf, 16));
    env_down(&e);
}

/* Notifications of queue 0 when a wait first idled. */
static model *idle_model;
static uint32_t idle_calls;
static uint64_t idle_first_notifies;
static void (*idle_orig)(void *);
static void idle_hook(void *user)
{
    if (idle_calls++ == 0) idle_first_notifies = model_queue_stats(idle_model, 0)->notifies;
    idle_orig(user);
}

/* VIRTIO_MORE posts without notifying; kick notifies. */
static void batching(void)
{
    renv e;
    virtio_rng_options o;
    uint8_t buf[64];
    size_t got;
    uint64_t before;
    memset(&o, 0, sizeof o);
    o.buffers = 2;
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_DEFERRED, 0), VIRTIO_OK);
    CHECK_EQ(virtio_rng_init(&e.rng, &e.dev, &o), VIRTIO_OK);
    CHECK_EQ(model_run(e.m, 0), 2);
    before = model_queue_stats(e.m, 0)->notifies;
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 64, VIRTIO_MORE, &got), VIRTIO_OK);   /* both buffers taken */
    CHECK(stream_ok(&e, buf, 64));
    CHECK_EQ(model_queue_stats(e.m, 0)->notifies, before);
    CHECK_EQ(virtio_rng_kick(&e.rng), VIRTIO_OK);
    CHECK_EQ(model_queue_stats(e.m, 0)->notifies, before + 1);
    CHECK_EQ(model_run(e.m, 0), 2);
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 64, 0, &got), VIRTIO_OK);   /* takes both again, notifies */
    CHECK(stream_ok(&e, buf, 64));
    CHECK_EQ(model_queue_stats(e.m, 0)->notifies, before + 2);
    CHECK_EQ(virtio_rng_kick(&e.rng), VIRTIO_OK);   /* nothing new: no notification */
    CHECK_EQ(model_queue_stats(e.m, 0)->notifies, before + 2);
    /* Posted with MORE, then a read that waits: it notifies first, though
       it posted nothing itself. */
    while (virtio_rng_read(&e.rng, buf, 64, 0, &got) == VIRTIO_OK) CHECK(stream_ok(&e, buf, got));   /* empty stash */
    CHECK_EQ(model_queue_stats(e.m, 0)->notifies, before + 2);
    CHECK_EQ(model_run(e.m, 0), 2);
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 64, VIRTIO_MORE, &got), VIRTIO_OK);   /* both in, both posted */
    CHECK(stream_ok(&e, buf, 64));
    CHECK_EQ(model_queue_stats(e.m, 0)->notifies, before + 2);
    e.m->knobs.run_on_idle = 1;
    idle_model = e.m;
    idle_orig = e.bus->platform.idle;
    e.bus->platform.idle = idle_hook;
    idle_calls = 0;
    while (virtio_rng_read(&e.rng, buf, 64, 0, &got) == VIRTIO_OK) CHECK(stream_ok(&e, buf, got));   /* the stash */
    CHECK_EQ(idle_calls, 0);
    CHECK_EQ(model_queue_stats(e.m, 0)->notifies, before + 2);
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 64, VIRTIO_RNG_WAIT, &got), VIRTIO_OK);   /* waits */
    CHECK(stream_ok(&e, buf, 64));
    CHECK(idle_calls > 0);
    CHECK_EQ(idle_first_notifies, before + 3);   /* told before it waited */
    e.bus->platform.idle = idle_orig;
    env_down(&e);
}

/* Bad arguments and states. */
static void bad_input(void)
{
    renv e;
    virtio_rng dead;
    virtio_rng_options o;
    uint8_t buf[16];
    size_t got = 9;
    model_bus *bus;
    model *blk;
    virtio_device bd;
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, 0), VIRTIO_OK);
    memset(&dead, 0, sizeof dead);
    memset(&o, 0, sizeof o);
    CHECK_EQ(virtio_rng_init(0, &e.dev, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_rng_init(&dead, 0, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_rng_init(&e.rng, &e.dev, 0), VIRTIO_ERR_STATE);   /* running: nothing changes */
    CHECK_EQ(model_status(e.m) & MODEL_S_DRIVER_OK, MODEL_S_DRIVER_OK);
    o.buffers = 33;
    CHECK_EQ(virtio_rng_init(&dead, &e.dev, &o), VIRTIO_ERR_INVALID_ARG);
    o.buffers = 0;
    o.buffer_size = 8;
    CHECK_EQ(virtio_rng_init(&dead, &e.dev, &o), VIRTIO_ERR_INVALID_ARG);
    o.buffer_size = 4097;
    CHECK_EQ(virtio_rng_init(&dead, &e.dev, &o), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_rng_read(&e.rng, 0, 4, 0, &got), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 0, 0, &got), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 4, 0x80, &got), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 4, VIRTIO_RNG_WAIT, 0), VIRTIO_OK);   /* NULL count */
    CHECK(stream_ok(&e, buf, 4));
    CHECK_EQ(got, 9);
    CHECK_EQ(virtio_rng_read(&dead, buf, 4, 0, &got), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_rng_read(0, buf, 4, 0, &got), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_rng_kick(&dead), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_rng_refresh(&dead, 0), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_rng_shutdown(&dead), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_rng_shutdown(&e.rng), VIRTIO_OK);
    CHECK_EQ(virtio_rng_shutdown(&e.rng), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_rng_read(&e.rng, buf, 4, 0, &got), VIRTIO_ERR_STATE);
    env_down(&e);

    /* Not an entropy device: refused before it is touched. */
    bus = model_bus_new();
    blk = model_blk_default(bus, MODEL_MMIO);
    CHECK_EQ(model_probe(blk, &bd, 0), VIRTIO_OK);
    CHECK_EQ(virtio_rng_init(&dead, &bd, 0), VIRTIO_ERR_NOT_FOUND);
    CHECK_EQ(model_status(blk), 0);
    model_bus_free(bus);
}

/* MEMORY figures: every allocation with default options, modern split. */
static size_t alloc_sizes[16], alloc_aligns[16], nalloc;
static void *(*real_alloc)(void *, size_t, size_t, int, uint64_t *);
static void *rec_alloc(void *user, size_t size, size_t align, int kind, uint64_t *dev)
{
    if (nalloc < 16) alloc_aligns[nalloc] = align, alloc_sizes[nalloc++] = size;
    return real_alloc(user, size, align, kind, dev);
}

static void memory(void)
{
    renv e;
    virtio_rng_options o;
    uint32_t ring, i;
    for (ring = VIRTIO_RING_SPLIT; ring <= VIRTIO_RING_PACKED; ring++) {
        CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_IMMEDIATE, 0), VIRTIO_OK);
        real_alloc = e.bus->platform.dma_alloc;
        e.bus->platform.dma_alloc = rec_alloc;
        nalloc = 0;
        memset(&o, 0, sizeof o);
        o.device.ring = ring;
        CHECK_EQ(virtio_rng_init(&e.rng, &e.dev, &o), VIRTIO_OK);
        CHECK_EQ(nalloc, 4);
        CHECK_EQ(alloc_sizes[0], ring == VIRTIO_RING_SPLIT ? 118 : 72);   /* ring of 4 entries (virtio_queue_init) */
        CHECK_EQ(alloc_sizes[1], 4 * SLOT);   /* its shadow: 64 bytes (48 on 32-bit CPUs) */
        CHECK_EQ(alloc_sizes[2], 256);   /* buffers */
        CHECK_EQ(alloc_sizes[3], 320);   /* stash */
        CHECK_EQ(alloc_aligns[0], 16);   /* the ring, on a modern transport */
        CHECK_EQ(alloc_aligns[2], 16);
        CHECK_EQ(alloc_aligns[3], 16);
        for (i = 0; i < nalloc; i++) CHECK(alloc_sizes[i] <= 4096);
        env_down(&e);
    }
}

int main(void)
{
    matrix();
    RUN(stingy(VIRTIO_RING_SPLIT), "rng 3 bytes per buffer: a blocking read of 200 still completes, split");
    RUN(stingy(VIRTIO_RING_PACKED), "rng 3 bytes per buffer: a blocking read of 200 still completes, packed");
    RUN(live_queue(), "rng a queue live right after the reset: init DEVICE, then honest works");
    RUN(dry(), "rng device that never fills: EMPTY, bounded TIMEOUT, buffer untouched");
    RUN(held(), "rng held buffers: TIMEOUT untouched, late bytes kept; filled while idling");
    RUN(lying_length(VIRTIO_RING_SPLIT), "rng length lie yields zeros, never old entropy, split");
    RUN(lying_length(VIRTIO_RING_PACKED), "rng length lie yields zeros, never old entropy, packed");
    RUN(hostile_id(VIRTIO_RING_SPLIT), "rng bad used id: DEVICE, STATE, clean shutdown, re-init, split");
    RUN(hostile_id(VIRTIO_RING_PACKED), "rng bad used id: DEVICE, STATE, clean shutdown, re-init, packed");
    RUN(needs_reset(), "rng NEEDS_RESET from refresh and a waiting read");
    RUN(reset_hangs(), "rng shutdown with a reset that never finishes: TIMEOUT, memory kept");
    RUN(alloc_failures(), "rng init under allocation failure at every step");
    RUN(batching(), "rng VIRTIO_MORE defers the notification, kick sends it, a wait sends it first");
    RUN(bad_input(), "rng bad arguments and states");
    RUN(memory(), "rng MEMORY figures: four allocations, none above 4096 bytes");
    UNIT_EXIT();
}
