/* test_gpu.c - virtio_gpu.h against the software device model.
 *
 * Every transport (MMIO v2 and v1, PCI modern, transitional, legacy) with
 * split and packed rings where the transport allows: display info, EDID
 * fetched and decoded, a full-screen framebuffer (hundreds of pages,
 * driver-allocated or the caller's memory mapped page by page) shown on a
 * scanout and flushed, with every pixel compared on the model's screen; a
 * partial flush changes exactly its rectangle; the cursor image and
 * position reach the device. Then two scanouts, a display hotplug event
 * followed by a new framebuffer of the new size, device error responses
 * (natural and injected) surfacing as error codes, wrong response types
 * and short responses surfacing as VIRTIO_ERR_DEVICE, a cursor queue
 * broken by a bogus used id, control rings too small for a command and
 * devices without a cursor queue or a whole device-config window
 * (VIRTIO_ERR_DEVICE at init), timeouts, and bad caller input. The
 * model reports any address or protocol violation as a bug; every test
 * ends with no bugs and no mappings.
 */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_gpu.h"
#include "model.h"
#include "model_gpu.h"
#include "unit.h"

/* A failed virtio_gpu_fb_create leaves *fb as it was: fill it with 0xa5
   first (fb_poison), check every byte after (untouched, unit.h). */
static virtio_gpu_fb *fb_poison(virtio_gpu_fb *fb)
{
    memset(fb, 0xa5, sizeof *fb);
    return fb;
}
static uint8_t user_pixels[1024 * 768 * 4 + 4096];
static uint32_t cursor_img[64 * 64];

typedef struct gpuenv {
    model_bus *bus;
    model *m;
    virtio_device dev;
    virtio_gpu gpu;
} gpuenv;

static int is_legacy(uint32_t t)
{
    return t == MODEL_MMIO_LEGACY || t == MODEL_PCI_LEGACY;
}

static virtio_result env_new(gpuenv *e, uint32_t transport, uint32_t mode, const model_gpu_options *go)
{
    model_options mo;
    model_gpu_options def;
    memset(e, 0, sizeof *e);
    e->bus = model_bus_new();
    model_options_init(&mo, transport);
    mo.mode = mode;
    if (!go) {
        model_gpu_options_init(&def);
        go = &def;
    }
    e->m = model_gpu_new(e->bus, &mo, go);
    if (!e->m) return VIRTIO_ERR_NOT_FOUND;
    return model_probe(e->m, &e->dev, 0);
}

static virtio_result env_up(gpuenv *e, uint32_t transport, const model_gpu_options *go, const virtio_gpu_options *o)
{
    virtio_result r = env_new(e, transport, MODEL_IMMEDIATE, go);
    if (r != VIRTIO_OK) return r;
    return virtio_gpu_init(&e->gpu, &e->dev, o);
}

/* Shut down, checking that the driver gave its memory back newest first
   (what the caller freed before is the caller's order). */
static void gpu_down(gpuenv *e)
{
    uint64_t before = e->bus->stats.unordered_frees;
    CHECK_EQ(virtio_gpu_shutdown(&e->gpu), VIRTIO_OK);
    CHECK_EQ(e->bus->stats.unordered_frees, before);
}

static void env_down(gpuenv *e)
{
    if (e->gpu.priv.magic) gpu_down(e);
    CHECK_EQ(e->bus->stats.bugs, 0);
    if (e->bus->stats.bugs) fprintf(stderr, "  model: %s\n", model_bus_last_bug(e->bus));
    CHECK_EQ(e->bus->stats.live_maps, 0);
    model_bus_free(e->bus);
}

/* A pixel pattern that differs per position and per seed. */
static uint32_t pattern(uint32_t x, uint32_t y, uint32_t seed)
{
    uint32_t v = x * 2654435761u ^ y * 40503u ^ seed * 0x9e3779b9u;
    return (v ^ (v >> 15)) | 0xff000000u;
}

static void draw(virtio_gpu_fb *fb, uint32_t seed)
{
    uint32_t x, y;
    for (y = 0; y < fb->height; y++)
        for (x = 0; x < fb->width; x++) model_put32(fb->pixels + (size_t)y * fb->stride + 4u * x, pattern(x, y, seed));
}

/* Pixels of the screen of `scanout` that differ from what the rectangle
   rule expects: seed `in` inside (rx, ry, rw, rh), seed `out` elsewhere. */
static uint32_t screen_mismatches(model *m, uint32_t scanout, uint32_t w, uint32_t h, uint32_t rx, uint32_t ry,
                                  uint32_t rw, uint32_t rh, uint32_t in, uint32_t out)
{
    uint32_t sw = 0, sh = 0, x, y, bad = 0;
    if (!model_gpu_screen(m, scanout, &sw, &sh) || sw != w || sh != h) return 0xffffffffu;
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            int inside = x >= rx && x < rx + rw && y >= ry && y < ry + rh;
            if (model_gpu_pixel(m, scanout, x, y) != pattern(x, y, inside ? in : out)) bad++;
        }
    return bad;
}

/* The same for the host storage of a resource. */
static uint32_t resource_mismatches(model *m, uint32_t id, uint32_t rx, uint32_t ry, uint32_t rw, uint32_t rh, uint32_t in,
                                    uint32_t out)
{
    uint32_t w = 0, h = 0, x, y, bad = 0;
    const uint8_t *px = model_gpu_resource(m, id, &w, &h);
    if (!px) return 0xffffffffu;
    for (y = 0; y < h; y++)
        for (x = 0; x < w; x++) {
            int inside = x >= rx && x < rx + rw && y >= ry && y < ry + rh;
            if (model_get32(px + ((size_t)y * w + x) * 4u) != pattern(x, y, inside ? in : out)) bad++;
        }
    return bad;
}

/* >>gpu.matrix: the whole conversation on one configuration. */
static void basic(uint32_t transport, uint32_t ring, int user_memory)
{
    gpuenv e;
    virtio_gpu_options o;
    virtio_gpu_fb fb;
    virtio_gpu_mode mode;
    uint8_t edid[1024], want[128];
    uint32_t n, i;
    const model_gpu_cursor *cur;
    uint64_t flushed;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    CHECK_EQ(env_up(&e, transport, 0, &o), VIRTIO_OK);
    if (!e.gpu.priv.magic) {
        env_down(&e);
        return;
    }
    CHECK_EQ(e.gpu.dev.priv.ring, ring);
    CHECK_EQ(e.gpu.num_scanouts, 1);
    CHECK_EQ(e.gpu.outputs[0].enabled, 1);
    CHECK_EQ(e.gpu.outputs[0].width, 1024);
    CHECK_EQ(e.gpu.outputs[0].height, 768);
    CHECK_EQ(e.gpu.outputs[1].enabled, 0);
    /* EDID: the device's bytes, decoded to its preferred mode. */
    CHECK_EQ(e.gpu.edid, 1);
    CHECK_EQ(virtio_gpu_get_edid(&e.gpu, 0, edid, sizeof edid, &n), VIRTIO_OK);
    CHECK_EQ(n, 128);
    model_gpu_edid(e.m, 0, want);
    CHECK(memcmp(edid, want, 128) == 0);
    CHECK_EQ(virtio_gpu_edid_mode(edid, n, &mode), VIRTIO_OK);
    CHECK_EQ(mode.width, 1024);
    CHECK_EQ(mode.height, 768);
    CHECK_EQ(mode.refresh_hz, 60);
    CHECK_EQ(mode.pixel_clock_khz, 56690);
    CHECK_EQ(virtio_gpu_get_edid(&e.gpu, 0, edid, 100, &n), VIRTIO_ERR_TOO_BIG);

    /* A full-screen framebuffer: 3 MiB of backing. With the caller's
       memory and page-split DMA it is described in hundreds of entries. */
    if (user_memory) e.bus->knobs.dma_split = 1;
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, 1024, 768, VIRTIO_GPU_PIX_B8G8R8X8, user_memory ? user_pixels + 100 : 0),
             VIRTIO_OK);
    if (!fb.priv.magic) {
        env_down(&e);
        return;
    }
    if (user_memory) CHECK(fb.priv.nsg >= 768);
    CHECK_EQ(model_gpu_resources(e.m), 1);
    CHECK_EQ(virtio_gpu_set_scanout(&e.gpu, 0, &fb), VIRTIO_OK);
    CHECK_EQ(model_gpu_scanout_resource(e.m, 0), fb.resource_id);
    CHECK_EQ(model_gpu_pixel(e.m, 0, 5, 5), 0);   /* a new resource is black */
    draw(&fb, 1);
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &fb, 0, 0, 1024, 768), VIRTIO_OK);
    CHECK_EQ(screen_mismatches(e.m, 0, 1024, 768, 0, 0, 0, 0, 0, 1), 0);
    /* Partial flush: redraw everything, flush one rectangle. */
    draw(&fb, 2);
    flushed = model_gpu_get_stats(e.m)->flushed_pixels;
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &fb, 100, 50, 200, 120), VIRTIO_OK);
    CHECK_EQ(screen_mismatches(e.m, 0, 1024, 768, 100, 50, 200, 120, 2, 1), 0);
    CHECK_EQ(resource_mismatches(e.m, fb.resource_id, 100, 50, 200, 120, 2, 1), 0);   /* transfer: the rectangle only */
    CHECK_EQ(model_gpu_get_stats(e.m)->flushed_pixels - flushed, 200 * 120);            /* flush: the rectangle only */
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &fb, 1023, 767, 1, 1), VIRTIO_OK);   /* the last pixel */
    CHECK_EQ(model_gpu_pixel(e.m, 0, 1023, 767), pattern(1023, 767, 2));
    CHECK_EQ(model_gpu_pixel(e.m, 0, 1022, 767), pattern(1022, 767, 1));
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &fb, 1000, 0, 25, 1), VIRTIO_ERR_RANGE);

    /* Cursor: image, hot spot and position reach the device. */
    for (i = 0; i < 64 * 64; i++) cursor_img[i] = 0x80000000u | i * 77u;
    CHECK_EQ(virtio_gpu_cursor_set(&e.gpu, 0, cursor_img, 3, 4, 200, 300), VIRTIO_OK);
    cur = model_gpu_get_cursor(e.m);
    CHECK_EQ(cur->visible, 1);
    CHECK(memcmp(cur->image, cursor_img, sizeof cursor_img) == 0);
    CHECK(cur->hot_x == 3 && cur->hot_y == 4 && cur->x == 200 && cur->y == 300);
    CHECK_EQ(model_gpu_get_stats(e.m)->fences, 1);   /* the image transfer is fenced */
    CHECK_EQ(model_gpu_get_stats(e.m)->last_fence, e.gpu.priv.fence);
    CHECK_EQ(virtio_gpu_cursor_move(&e.gpu, 0, 10, 20), VIRTIO_OK);
    CHECK(cur->x == 10 && cur->y == 20 && cur->visible);
    CHECK_EQ(model_gpu_get_stats(e.m)->cursor_moves, 1);
    CHECK_EQ(virtio_gpu_cursor_hide(&e.gpu, 0), VIRTIO_OK);
    CHECK_EQ(cur->visible, 0);

    CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, &fb), VIRTIO_OK);
    CHECK_EQ(model_gpu_scanout_resource(e.m, 0), 0);
    CHECK_EQ(model_gpu_resources(e.m), 1);   /* the cursor's */
    CHECK_EQ(e.bus->stats.live_maps, 0);
    CHECK_EQ(model_gpu_get_stats(e.m)->errors, 0);
    gpu_down(&e);   /* the cursor's memory, then init's */
    CHECK_EQ(e.bus->stats.live_allocs, 0);
    CHECK_EQ(model_gpu_resources(e.m), 0);   /* the reset dropped them */
    env_down(&e);
}

static void matrix(void)
{
    static const struct { uint32_t t; const char *name; } tr[] = {
        { MODEL_MMIO, "mmio" }, { MODEL_MMIO_LEGACY, "mmio-legacy" }, { MODEL_PCI_MODERN, "pci-modern" },
        { MODEL_PCI_TRANSITIONAL, "pci-transitional" }, { MODEL_PCI_LEGACY, "pci-legacy" },
    };
    unsigned t, ring, user;
    char label[128];
    for (t = 0; t < sizeof tr / sizeof tr[0]; t++)
        for (ring = VIRTIO_RING_SPLIT; ring <= VIRTIO_RING_PACKED; ring++) {
            if (is_legacy(tr[t].t) && ring == VIRTIO_RING_PACKED) continue;
            for (user = 0; user < 2; user++) {
                snprintf(label, sizeof label, "gpu %s %s %s", tr[t].name, ring == VIRTIO_RING_PACKED ? "packed" : "split",
                         user ? "caller memory page-split" : "driver memory");
                RUN(basic(tr[t].t, ring, (int)user), label);
            }
        }
}

/* Two scanouts with their own framebuffers, then one framebuffer on both. */
static void two_scanouts(void)
{
    gpuenv e;
    model_gpu_options go;
    virtio_gpu_fb a, b;
    model_gpu_options_init(&go);
    go.num_scanouts = 2;
    go.width[1] = 640;
    go.height[1] = 480;
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, &go, 0), VIRTIO_OK);
    CHECK_EQ(e.gpu.num_scanouts, 2);
    CHECK(e.gpu.outputs[0].enabled && e.gpu.outputs[0].width == 1024 && e.gpu.outputs[0].height == 768);
    CHECK(e.gpu.outputs[1].enabled && e.gpu.outputs[1].width == 640 && e.gpu.outputs[1].height == 480);
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &a, 1024, 768, VIRTIO_GPU_PIX_B8G8R8A8, 0), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &b, 640, 480, VIRTIO_GPU_PIX_X8R8G8B8, 0), VIRTIO_OK);
    CHECK(a.resource_id != b.resource_id);
    CHECK_EQ(virtio_gpu_set_scanout(&e.gpu, 0, &a), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_set_scanout(&e.gpu, 1, &b), VIRTIO_OK);
    draw(&a, 10);
    draw(&b, 11);
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &a, 0, 0, 1024, 768), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &b, 0, 0, 640, 480), VIRTIO_OK);
    CHECK_EQ(screen_mismatches(e.m, 0, 1024, 768, 0, 0, 0, 0, 0, 10), 0);
    CHECK_EQ(screen_mismatches(e.m, 1, 640, 480, 0, 0, 0, 0, 0, 11), 0);
    /* b on both: a flush of b updates both screens, a's pixels are gone. */
    CHECK_EQ(virtio_gpu_set_scanout(&e.gpu, 0, &b), VIRTIO_OK);
    draw(&b, 12);
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &b, 0, 0, 640, 480), VIRTIO_OK);
    CHECK_EQ(screen_mismatches(e.m, 0, 640, 480, 0, 0, 0, 0, 0, 12), 0);
    CHECK_EQ(screen_mismatches(e.m, 1, 640, 480, 0, 0, 0, 0, 0, 12), 0);
    CHECK_EQ(model_gpu_get_stats(e.m)->flushes, 4);
    /* Destroying b turns both scanouts off. */
    CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, &b), VIRTIO_OK);
    CHECK_EQ(model_gpu_scanout_resource(e.m, 0), 0);
    CHECK_EQ(model_gpu_scanout_resource(e.m, 1), 0);
    CHECK_EQ(virtio_gpu_set_scanout(&e.gpu, 1, &a), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_disable_scanout(&e.gpu, 1), VIRTIO_OK);
    CHECK(model_gpu_screen(e.m, 1, 0, 0) == NULL);
    CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, &a), VIRTIO_OK);
    CHECK_EQ(model_gpu_resources(e.m), 0);
    env_down(&e);
}

/* The display changes size: event, new display info, new framebuffer. */
static int config_irqs;
static void count_irq(void *user, model *m, int queue)
{
    (void)user;
    (void)m;
    config_irqs += queue < 0;
}

static void display_change(uint32_t transport)
{
    gpuenv e;
    virtio_gpu_fb fb;
    virtio_gpu_mode mode;
    uint8_t edid[1024];
    uint32_t n;
    uint32_t changed = 99;
    CHECK_EQ(env_up(&e, transport, 0, 0), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, e.gpu.outputs[0].width, e.gpu.outputs[0].height,
                                  VIRTIO_GPU_PIX_B8G8R8X8, 0),
             VIRTIO_OK);
    CHECK_EQ(virtio_gpu_set_scanout(&e.gpu, 0, &fb), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_refresh(&e.gpu, &changed), VIRTIO_OK);
    CHECK_EQ(changed, 0);
    config_irqs = 0;
    e.m->knobs.on_interrupt = count_irq;
    model_gpu_set_display(e.m, 0, 800, 600, 1);
    CHECK_EQ(config_irqs, 1);
    CHECK_EQ(model_get32(model_config(e.m)), 1);   /* events_read */
    CHECK_EQ(virtio_gpu_refresh(&e.gpu, &changed), VIRTIO_OK);
    CHECK_EQ(changed, VIRTIO_GPU_CHANGED_DISPLAY);
    CHECK_EQ(model_get32(model_config(e.m)), 0);   /* cleared through events_clear */
    CHECK_EQ(model_gpu_get_stats(e.m)->events_cleared, 1);
    CHECK(e.gpu.outputs[0].enabled && e.gpu.outputs[0].width == 800 && e.gpu.outputs[0].height == 600);
    CHECK_EQ(virtio_gpu_refresh(&e.gpu, &changed), VIRTIO_OK);
    CHECK_EQ(changed, 0);
    CHECK_EQ(virtio_gpu_get_edid(&e.gpu, 0, edid, sizeof edid, &n), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_edid_mode(edid, n, &mode), VIRTIO_OK);
    CHECK(mode.width == 800 && mode.height == 600 && mode.refresh_hz == 60);
    /* Resize: a new framebuffer of the new size replaces the old one. */
    CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, &fb), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, e.gpu.outputs[0].width, e.gpu.outputs[0].height,
                                  VIRTIO_GPU_PIX_B8G8R8X8, 0),
             VIRTIO_OK);
    CHECK_EQ(virtio_gpu_set_scanout(&e.gpu, 0, &fb), VIRTIO_OK);
    draw(&fb, 7);
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &fb, 0, 0, fb.width, fb.height), VIRTIO_OK);
    CHECK_EQ(screen_mismatches(e.m, 0, 800, 600, 0, 0, 0, 0, 0, 7), 0);
    /* Unplugged: the output is reported disabled. */
    model_gpu_set_display(e.m, 0, 0, 0, 0);
    CHECK_EQ(virtio_gpu_refresh(&e.gpu, &changed), VIRTIO_OK);
    CHECK_EQ(changed, VIRTIO_GPU_CHANGED_DISPLAY);
    CHECK_EQ(e.gpu.outputs[0].enabled, 0);
    CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, &fb), VIRTIO_OK);
    env_down(&e);
}

/* Error responses from the device become error codes, with the type kept
   in last_status; nothing leaks, the GPU keeps working. */
static void error_responses(void)
{
    gpuenv e;
    model_gpu_options go;
    model_gpu_knobs *k;
    virtio_gpu_fb fb, fake;
    uint64_t allocs;
    model_gpu_options_init(&go);
    go.host_memory = 1u << 20;   /* 1 MiB of host resource memory */
    CHECK_EQ(env_up(&e, MODEL_MMIO, &go, 0), VIRTIO_OK);
    k = model_gpu_get_knobs(e.m);
    allocs = e.bus->stats.live_allocs;
    /* Natural: the host is out of memory for 1024x768. */
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, fb_poison(&fb), 1024, 768, VIRTIO_GPU_PIX_B8G8R8X8, 0), VIRTIO_ERR_NO_MEMORY);
    CHECK(untouched(&fb, sizeof fb));
    CHECK_EQ(e.gpu.last_status, MODEL_GPU_RESP_ERR_OUT_OF_MEMORY);
    CHECK_EQ(e.bus->stats.live_allocs, allocs);
    CHECK_EQ(model_gpu_resources(e.m), 0);
    /* Injected: ATTACH_BACKING fails; the resource is released again. */
    k->fail_cmd = MODEL_GPU_CMD_RESOURCE_ATTACH_BACKING;
    k->fail_type = MODEL_GPU_RESP_ERR_UNSPEC;
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, fb_poison(&fb), 256, 256, VIRTIO_GPU_PIX_B8G8R8X8, 0), VIRTIO_ERR_IO);
    CHECK(untouched(&fb, sizeof fb));
    CHECK_EQ(e.gpu.last_status, MODEL_GPU_RESP_ERR_UNSPEC);
    CHECK_EQ(model_gpu_resources(e.m), 0);
    CHECK_EQ(model_gpu_get_stats(e.m)->by_type[MODEL_GPU_CMD_RESOURCE_UNREF & 0xf], 1);
    CHECK_EQ(e.bus->stats.live_allocs, allocs);
    k->fail_cmd = MODEL_GPU_CMD_GET_EDID;
    k->fail_type = MODEL_GPU_RESP_ERR_INVALID_SCANOUT_ID;
    {
        uint8_t edid[1024];
        uint32_t n = 12345;
        CHECK_EQ(virtio_gpu_get_edid(&e.gpu, 0, edid, sizeof edid, &n), VIRTIO_ERR_IO);
        CHECK_EQ(n, 12345);   /* untouched on error */
        CHECK_EQ(e.gpu.last_status, MODEL_GPU_RESP_ERR_INVALID_SCANOUT_ID);
    }
    k->fail_cmd = 0;
    /* Natural: ids and rectangles the device does not know. */
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, 256, 256, VIRTIO_GPU_PIX_B8G8R8X8, 0), VIRTIO_OK);
    fake = fb;
    fake.resource_id = 999;
    CHECK_EQ(virtio_gpu_set_scanout(&e.gpu, 0, &fake), VIRTIO_ERR_IO);
    CHECK_EQ(e.gpu.last_status, MODEL_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &fake, 0, 0, 16, 16), VIRTIO_ERR_IO);
    CHECK_EQ(e.gpu.last_status, MODEL_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    fake = fb;
    fake.width = 512;   /* a rectangle beyond the resource */
    CHECK_EQ(virtio_gpu_set_scanout(&e.gpu, 0, &fake), VIRTIO_ERR_IO);
    CHECK_EQ(e.gpu.last_status, MODEL_GPU_RESP_ERR_INVALID_PARAMETER);
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &fake, 300, 0, 10, 10), VIRTIO_ERR_IO);
    CHECK_EQ(e.gpu.last_status, MODEL_GPU_RESP_ERR_INVALID_PARAMETER);
    CHECK_EQ(model_gpu_scanout_resource(e.m, 0), 0);
    /* The real one still works. */
    CHECK_EQ(virtio_gpu_set_scanout(&e.gpu, 0, &fb), VIRTIO_OK);
    draw(&fb, 3);
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &fb, 0, 0, 256, 256), VIRTIO_OK);
    CHECK_EQ(screen_mismatches(e.m, 0, 256, 256, 0, 0, 0, 0, 0, 3), 0);
    /* fb_destroy reports a failing UNREF but frees the memory anyway. */
    k->fail_cmd = MODEL_GPU_CMD_RESOURCE_UNREF;
    CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, &fb), VIRTIO_ERR_IO);
    CHECK_EQ(fb.priv.magic, 0);
    CHECK_EQ(e.bus->stats.live_allocs, allocs);
    k->fail_cmd = 0;
    CHECK(model_gpu_get_stats(e.m)->errors >= 8);
    env_down(&e);
}

/* A device answering with the wrong response type or a short used length:
   an error code (VIRTIO_ERR_DEVICE), never a crash, and the GPU recovers. */
static void wrong_responses(uint32_t ring)
{
    gpuenv e;
    virtio_gpu_options o;
    model_gpu_knobs *k;
    virtio_gpu_fb fb;
    virtio_gpu_output before;
    uint8_t edid[1024];
    uint32_t n;
    uint64_t allocs;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    CHECK_EQ(env_up(&e, MODEL_PCI_TRANSITIONAL, 0, &o), VIRTIO_OK);
    k = model_gpu_get_knobs(e.m);
    allocs = e.bus->stats.live_allocs;
    /* A NODATA command answered with OK_DISPLAY_INFO. */
    k->bad_type = MODEL_GPU_RESP_OK_DISPLAY_INFO;
    k->bad_count = 1;
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, fb_poison(&fb), 64, 64, VIRTIO_GPU_PIX_B8G8R8X8, 0), VIRTIO_ERR_DEVICE);
    CHECK(untouched(&fb, sizeof fb));
    CHECK_EQ(e.gpu.last_status, MODEL_GPU_RESP_OK_DISPLAY_INFO);
    CHECK_EQ(e.bus->stats.live_allocs, allocs);
    /* GET_DISPLAY_INFO answered with OK_NODATA: outputs stay as they were. */
    before = e.gpu.outputs[0];
    k->bad_type = MODEL_GPU_RESP_OK_NODATA;
    k->bad_count = 1;
    CHECK_EQ(virtio_gpu_display_info(&e.gpu), VIRTIO_ERR_DEVICE);
    CHECK(memcmp(&before, &e.gpu.outputs[0], sizeof before) == 0);
    /* A type nobody knows. */
    k->bad_type = 0x7777;
    k->bad_count = 1;
    CHECK_EQ(virtio_gpu_get_edid(&e.gpu, 0, edid, sizeof edid, &n), VIRTIO_ERR_DEVICE);
    CHECK_EQ(e.gpu.last_status, 0x7777);
    /* Short responses: less than a header, or a display info cut short. */
    k->short_len = 8;
    k->bad_count = 1;
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, fb_poison(&fb), 64, 64, VIRTIO_GPU_PIX_B8G8R8X8, 0), VIRTIO_ERR_DEVICE);
    CHECK(untouched(&fb, sizeof fb));
    CHECK_EQ(e.bus->stats.live_allocs, allocs);
    k->short_len = 100;
    k->bad_count = 1;
    CHECK_EQ(virtio_gpu_display_info(&e.gpu), VIRTIO_ERR_DEVICE);
    CHECK(memcmp(&before, &e.gpu.outputs[0], sizeof before) == 0);
    k->short_len = 24 + 4;
    k->bad_count = 1;
    CHECK_EQ(virtio_gpu_get_edid(&e.gpu, 0, edid, sizeof edid, &n), VIRTIO_ERR_DEVICE);
    /* An EDID response whose used length covers 10 of the 128 bytes its
       size field claims: the rest was never written by the device. */
    n = 4321;
    k->short_len = 24 + 8 + 10;
    k->bad_count = 1;
    CHECK_EQ(virtio_gpu_get_edid(&e.gpu, 0, edid, sizeof edid, &n), VIRTIO_ERR_DEVICE);
    CHECK_EQ(n, 4321);
    /* Honest again: everything works. */
    CHECK_EQ(virtio_gpu_display_info(&e.gpu), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, 64, 64, VIRTIO_GPU_PIX_B8G8R8X8, 0), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_set_scanout(&e.gpu, 0, &fb), VIRTIO_OK);
    draw(&fb, 5);
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &fb, 0, 0, 64, 64), VIRTIO_OK);
    CHECK_EQ(screen_mismatches(e.m, 0, 64, 64, 0, 0, 0, 0, 0, 5), 0);
    /* Every response wrong, during a flush's transfer + flush pair. */
    k->bad_type = MODEL_GPU_RESP_ERR_INVALID_PARAMETER;
    k->bad_count = 0;
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &fb, 0, 0, 64, 64), VIRTIO_ERR_IO);
    k->bad_type = 0;
    CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, &fb), VIRTIO_OK);
    env_down(&e);
}

/* A device whose every answer is wrong: init fails cleanly. */
static void hostile_init(void)
{
    gpuenv e;
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    model_gpu_get_knobs(e.m)->bad_type = MODEL_GPU_RESP_OK_EDID;
    CHECK_EQ(virtio_gpu_init(&e.gpu, &e.dev, 0), VIRTIO_ERR_DEVICE);
    CHECK_EQ(e.gpu.priv.magic, 0);
    CHECK_EQ(e.bus->stats.live_allocs, 0);
    CHECK_EQ(model_status(e.m), 0);
    model_gpu_get_knobs(e.m)->bad_type = 0;
    CHECK_EQ(virtio_gpu_init(&e.gpu, &e.dev, 0), VIRTIO_OK);
    env_down(&e);

    /* Zero scanouts, and more than 16: the device is refused. */
    {
        model_gpu_options go;
        model_gpu_options_init(&go);
        CHECK_EQ(env_new(&e, MODEL_MMIO, MODEL_IMMEDIATE, &go), VIRTIO_OK);
        model_put32(model_config(e.m) + 8, 0);
        CHECK_EQ(virtio_gpu_init(&e.gpu, &e.dev, 0), VIRTIO_ERR_DEVICE);
        model_put32(model_config(e.m) + 8, 17);
        CHECK_EQ(virtio_gpu_init(&e.gpu, &e.dev, 0), VIRTIO_ERR_DEVICE);
        CHECK_EQ(e.bus->stats.live_allocs, 0);
        env_down(&e);
    }
}

/* EDID not negotiated: by the driver's choice or the device's. */
static void no_edid(void)
{
    gpuenv e;
    virtio_gpu_options o;
    model_gpu_options go;
    uint8_t edid[1024];
    uint32_t n;
    memset(&o, 0, sizeof o);
    o.no_edid = 1;
    CHECK_EQ(env_up(&e, MODEL_MMIO, 0, &o), VIRTIO_OK);
    CHECK_EQ(e.gpu.edid, 0);
    CHECK_EQ(model_features(e.m) & MODEL_GPU_F_EDID, 0);
    CHECK_EQ(virtio_gpu_get_edid(&e.gpu, 0, edid, sizeof edid, &n), VIRTIO_ERR_UNSUPPORTED);
    CHECK_EQ(model_gpu_get_stats(e.m)->by_type[MODEL_GPU_CMD_GET_EDID & 0xf], 0);
    env_down(&e);
    model_gpu_options_init(&go);
    go.features &= ~MODEL_GPU_F_EDID;
    CHECK_EQ(env_up(&e, MODEL_PCI_LEGACY, &go, 0), VIRTIO_OK);
    CHECK_EQ(e.gpu.edid, 0);
    CHECK_EQ(virtio_gpu_get_edid(&e.gpu, 0, edid, sizeof edid, &n), VIRTIO_ERR_UNSUPPORTED);
    env_down(&e);
}

/* Deferred completion from the idle hook, and a device that never answers. */
static void deferred_and_timeout(void)
{
    gpuenv e;
    virtio_gpu_fb fb;
    CHECK_EQ(env_new(&e, MODEL_MMIO, MODEL_DEFERRED, 0), VIRTIO_OK);
    e.m->knobs.run_on_idle = 1;
    CHECK_EQ(virtio_gpu_init(&e.gpu, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, 320, 200, VIRTIO_GPU_PIX_R8G8B8A8, 0), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_set_scanout(&e.gpu, 0, &fb), VIRTIO_OK);
    draw(&fb, 9);
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &fb, 0, 0, 320, 200), VIRTIO_OK);
    CHECK_EQ(screen_mismatches(e.m, 0, 320, 200, 0, 0, 0, 0, 0, 9), 0);
    CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, &fb), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, 64, 64, VIRTIO_GPU_PIX_R8G8B8A8, 0), VIRTIO_OK);
    /* Nobody runs the device any more: the command times out, the device
       is reset (it still owned the request and response buffers) and the
       GPU refuses work until it is initialised again. */
    e.m->knobs.run_on_idle = 0;
    CHECK_EQ(virtio_gpu_display_info(&e.gpu), VIRTIO_ERR_TIMEOUT);
    CHECK_EQ(model_status(e.m), 0);
    e.m->knobs.run_on_idle = 1;   /* the device would answer now */
    CHECK_EQ(virtio_gpu_display_info(&e.gpu), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_gpu_set_scanout(&e.gpu, 0, &fb), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, &fb), VIRTIO_ERR_STATE);   /* memory released anyway */
    CHECK_EQ(fb.priv.magic, 0);
    CHECK_EQ(virtio_gpu_shutdown(&e.gpu), VIRTIO_OK);
    CHECK_EQ(e.bus->stats.live_allocs, 0);
    CHECK_EQ(virtio_gpu_init(&e.gpu, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, 64, 64, VIRTIO_GPU_PIX_R8G8B8A8, 0), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_set_scanout(&e.gpu, 0, &fb), VIRTIO_OK);
    draw(&fb, 4);
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &fb, 0, 0, 64, 64), VIRTIO_OK);
    CHECK_EQ(screen_mismatches(e.m, 0, 64, 64, 0, 0, 0, 0, 0, 4), 0);
    CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, &fb), VIRTIO_OK);
    env_down(&e);
}

/* Bad caller input and object state. */
static void bad_input(void)
{
    static const uint8_t hdr[8] = { 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00 };
    gpuenv e;
    virtio_gpu dead;
    virtio_gpu_fb fb, nofb;
    virtio_gpu_mode mode;
    uint8_t edid[1024];
    uint32_t n;
    uint32_t changed;
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, 0, 0), VIRTIO_OK);
    memset(&dead, 0, sizeof dead);
    memset(&nofb, 0, sizeof nofb);
    CHECK_EQ(virtio_gpu_init(0, &e.dev, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_init(&dead, 0, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_shutdown(&dead), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_gpu_display_info(&dead), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_gpu_display_info(0), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_gpu_get_edid(&dead, 0, edid, sizeof edid, &n), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_gpu_get_edid(&e.gpu, 1, edid, sizeof edid, &n), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_get_edid(&e.gpu, 0, 0, sizeof edid, &n), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_get_edid(&e.gpu, 0, edid, sizeof edid, 0), VIRTIO_OK);   /* size may be NULL */
    CHECK_EQ(virtio_gpu_fb_create(&dead, fb_poison(&fb), 64, 64, VIRTIO_GPU_PIX_B8G8R8X8, 0), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, 0, 64, 64, VIRTIO_GPU_PIX_B8G8R8X8, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, 0, 64, VIRTIO_GPU_PIX_B8G8R8X8, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, 64, 0, VIRTIO_GPU_PIX_B8G8R8X8, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, 16385, 1, VIRTIO_GPU_PIX_B8G8R8X8, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, 64, 64, 5, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, 64, 64, 0, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK(untouched(&fb, sizeof fb));   /* poisoned before the first of these */
    CHECK_EQ(model_gpu_get_stats(e.m)->by_type[1], 0);   /* no CREATE_2D reached the device */
    CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, &nofb), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_set_scanout(&e.gpu, 0, &nofb), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &nofb, 0, 0, 1, 1), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, 64, 32, VIRTIO_GPU_PIX_A8B8G8R8, 0), VIRTIO_OK);
    CHECK_EQ(fb.stride, 256);
    CHECK_EQ(fb.bytes, 64 * 32 * 4);
    CHECK_EQ(virtio_gpu_set_scanout(&e.gpu, 1, &fb), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_set_scanout(&dead, 0, &fb), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_gpu_disable_scanout(&e.gpu, 16), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &fb, 0, 0, 0, 1), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &fb, 0, 0, 1, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &fb, 64, 0, 1, 1), VIRTIO_ERR_RANGE);
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &fb, 0, 32, 1, 1), VIRTIO_ERR_RANGE);
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &fb, 1, 0, 64, 1), VIRTIO_ERR_RANGE);
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &fb, 0xffffffffu, 0, 2, 1), VIRTIO_ERR_RANGE);
    CHECK_EQ(virtio_gpu_cursor_move(&e.gpu, 0, 1, 1), VIRTIO_ERR_STATE);   /* no image yet */
    CHECK_EQ(virtio_gpu_cursor_set(&e.gpu, 0, 0, 0, 0, 0, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_cursor_set(&e.gpu, 1, cursor_img, 0, 0, 0, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_cursor_set(&e.gpu, 0, cursor_img, 64, 0, 0, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_cursor_set(&e.gpu, 0, cursor_img, 0, 64, 0, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_cursor_move(&e.gpu, 1, 1, 1), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_cursor_hide(&e.gpu, 1), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_cursor_hide(&dead, 0), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_gpu_refresh(&e.gpu, 0), VIRTIO_OK);   /* NULL: nothing stored */
    CHECK_EQ(virtio_gpu_refresh(&dead, &changed), VIRTIO_ERR_STATE);
    /* EDID decoding refuses what is not an EDID. */
    virtio_gpu_get_edid(&e.gpu, 0, edid, sizeof edid, &n);
    CHECK_EQ(virtio_gpu_edid_mode(0, 128, &mode), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_edid_mode(edid, 128, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_edid_mode(edid, 127, &mode), VIRTIO_ERR_INVALID_ARG);
    edid[20] ^= 1;   /* checksum broken */
    CHECK_EQ(virtio_gpu_edid_mode(edid, 128, &mode), VIRTIO_ERR_INVALID_ARG);
    edid[20] ^= 1;
    edid[0] = 1;     /* header broken */
    CHECK_EQ(virtio_gpu_edid_mode(edid, 128, &mode), VIRTIO_ERR_INVALID_ARG);
    memset(edid, 0, 128);   /* valid header and checksum, no detailed timing */
    memcpy(edid, hdr, 8);
    edid[127] = (uint8_t)(256 - 6 * 255 % 256);
    CHECK_EQ(virtio_gpu_edid_mode(edid, 128, &mode), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, &fb), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, &fb), VIRTIO_ERR_INVALID_ARG);   /* twice */
    CHECK_EQ(virtio_gpu_shutdown(&e.gpu), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_shutdown(&e.gpu), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_gpu_display_info(&e.gpu), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, 64, 64, VIRTIO_GPU_PIX_B8G8R8X8, 0), VIRTIO_ERR_STATE);
    env_down(&e);
}

/* EDID of a large screen, built here from VESA DisplayID 1.3: the base
   block's first descriptor is a display-range descriptor (no timing), and
   the preferred mode is a Type I timing (fields stored minus one, a
   24-bit pixel clock) in a DisplayID extension after a CEA one, as QEMU
   7.2 lays it out from 4096 pixels or a 655.36 MHz clock up. */
static void put_le16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static uint8_t fix_sum(const uint8_t *p, size_t n)
{
    uint32_t sum = 0;
    size_t i;
    for (i = 0; i < n; i++) sum += p[i];
    return (uint8_t)(0x100u - (sum & 0xffu));
}
static void did_timing(uint8_t *t, uint32_t clock, uint32_t w, uint32_t hb, uint32_t h, uint32_t vb, int preferred)
{
    memset(t, 0, 20);
    clock -= 1;
    t[0] = (uint8_t)clock;
    t[1] = (uint8_t)(clock >> 8);
    t[2] = (uint8_t)(clock >> 16);
    t[3] = preferred ? 0x88 : 0x08;
    put_le16(t + 4, w - 1);
    put_le16(t + 6, hb - 1);
    put_le16(t + 8, 48 - 1);
    put_le16(t + 10, 32 - 1);
    put_le16(t + 12, h - 1);
    put_le16(t + 14, vb - 1);
    put_le16(t + 16, 3 - 1);
    put_le16(t + 18, 5 - 1);
}
/* A 384-byte blob; the DisplayID section holds `n` timings in one block. */
static void edid_large(uint8_t *e, uint32_t n, int second_preferred)
{
    static const uint8_t hdr[8] = { 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00 };
    uint8_t *d = e + 256;
    uint32_t len = 3 + 20 * n;
    memset(e, 0, 384);
    memcpy(e, hdr, 8);
    e[18] = 1;
    e[19] = 4;
    e[54 + 3] = 0xfd;   /* display range limits: a descriptor, not a timing */
    e[126] = 2;
    e[127] = fix_sum(e, 127);
    e[128] = 0x02;      /* CEA-861, no timings */
    e[129] = 0x03;
    e[130] = 0x04;
    e[255] = fix_sum(e + 128, 127);
    d[0] = 0x70;        /* DisplayID extension */
    d[1] = 0x13;
    d[2] = (uint8_t)len;
    d[3] = 0x03;
    d[5] = 0x03;        /* Type I detailed timings */
    d[7] = (uint8_t)(20 * n);
    if (n == 2) did_timing(d + 8, 14850, 1920, 280, 1080, 45, 0);   /* 1080p60 */
    did_timing(d + 8 + 20 * (n - 1), 93203, 5120, 160, 2880, 62, n == 1 || second_preferred);
    d[5 + len] = fix_sum(d + 1, 4 + len);
    d[127] = fix_sum(d, 127);
}

static void edid_displayid(void)
{
    uint8_t e[384];
    virtio_gpu_mode mode;
    edid_large(e, 1, 1);
    memset(&mode, 0, sizeof mode);
    CHECK_EQ(virtio_gpu_edid_mode(e, 384, &mode), VIRTIO_OK);
    CHECK(mode.width == 5120 && mode.height == 2880);
    CHECK_EQ(mode.pixel_clock_khz, 932030);   /* above what the base block's 16 bits hold */
    CHECK_EQ(mode.refresh_hz, 60);
    edid_large(e, 2, 1);   /* the preferred of two */
    CHECK_EQ(virtio_gpu_edid_mode(e, 384, &mode), VIRTIO_OK);
    CHECK(mode.width == 5120 && mode.height == 2880 && mode.refresh_hz == 60);
    edid_large(e, 1, 1);   /* active fields use all 16 bits */
    put_le16(e + 256 + 8 + 4, 40000 - 1);
    e[256 + 5 + 23] = fix_sum(e + 257, 4 + 23);
    CHECK_EQ(virtio_gpu_edid_mode(e, 384, &mode), VIRTIO_OK);
    CHECK_EQ(mode.width, 40000);
    edid_large(e, 2, 0);   /* none preferred: the first */
    CHECK_EQ(virtio_gpu_edid_mode(e, 384, &mode), VIRTIO_OK);
    CHECK(mode.width == 1920 && mode.height == 1080 && mode.refresh_hz == 60 && mode.pixel_clock_khz == 148500);
    /* Refused, mode untouched: the blob ends before the extension, the
       section checksum is broken, the block runs past its section, no
       DisplayID extension is counted. */
    edid_large(e, 1, 1);
    memset(&mode, 0xa5, sizeof mode);
    CHECK_EQ(virtio_gpu_edid_mode(e, 256, &mode), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_edid_mode(e, 383, &mode), VIRTIO_ERR_INVALID_ARG);
    e[256 + 9] ^= 1;
    CHECK_EQ(virtio_gpu_edid_mode(e, 384, &mode), VIRTIO_ERR_INVALID_ARG);
    edid_large(e, 1, 1);
    e[256 + 7] = 40;   /* 40 bytes of timings in a 23-byte section */
    e[256 + 5 + 23] = (uint8_t)(e[256 + 5 + 23] - 20);
    CHECK_EQ(virtio_gpu_edid_mode(e, 384, &mode), VIRTIO_ERR_INVALID_ARG);
    edid_large(e, 1, 1);
    e[126] = 1;
    e[127] = (uint8_t)(e[127] + 1);
    CHECK_EQ(virtio_gpu_edid_mode(e, 384, &mode), VIRTIO_ERR_INVALID_ARG);
    CHECK(untouched(&mode, sizeof mode));
    e[126] = 200;   /* more than the blob holds: only what is there */
    e[127] = (uint8_t)(e[127] - 199);
    CHECK_EQ(virtio_gpu_edid_mode(e, 384, &mode), VIRTIO_OK);
    CHECK_EQ(mode.width, 5120);
    {   /* garbled extensions, in a heap copy of exactly the given size
           (ASan): never a read past it, only OK or INVALID_ARG */
        uint32_t k, seed = 12345, bad = 0;
        for (k = 0; k < 20000; k++) {
            uint32_t size, j, n;
            uint8_t *copy;
            virtio_result r;
            edid_large(e, 1 + (k & 1), (int)(k >> 1 & 1));
            seed = seed * 1103515245u + 12345u;
            for (j = 0, n = 1 + (seed >> 28); j < n; j++) {
                seed = seed * 1103515245u + 12345u;
                e[128 + (seed >> 8) % 256] = (uint8_t)(seed >> 16);
            }
            size = 128 + (seed >> 4) % 257;
            copy = (uint8_t *)malloc(size);
            memcpy(copy, e, size);
            r = virtio_gpu_edid_mode(copy, size, &mode);
            bad += r != VIRTIO_OK && r != VIRTIO_ERR_INVALID_ARG;
            bad += r == VIRTIO_OK && (mode.width > 65536 || mode.height > 65536);
            free(copy);
        }
        CHECK_EQ(bad, 0);
    }
}

/* Not a GPU: init refuses before touching it. */
static void wrong_device(void)
{
    model_bus *bus = model_bus_new();
    model *m = model_blk_default(bus, MODEL_PCI_MODERN);
    virtio_device dev;
    virtio_gpu gpu;
    CHECK_EQ(model_probe(m, &dev, 0), VIRTIO_OK);
    memset(&gpu, 0, sizeof gpu);   /* zero-filled before its first init */
    CHECK_EQ(virtio_gpu_init(&gpu, &dev, 0), VIRTIO_ERR_NOT_FOUND);
    CHECK_EQ(model_status(m), 0);
    CHECK_EQ(bus->stats.bugs, 0);
    model_bus_free(bus);
}

/* Allocation and mapping failures at every step of init and fb_create: an
   error, nothing leaked or left mapped, no resource left on the device. */
static void alloc_failures(void)
{
    gpuenv e;
    virtio_gpu_fb fb;
    uint32_t k;
    uint64_t allocs;
    virtio_result r = VIRTIO_ERR_NO_MEMORY;
    CHECK_EQ(env_new(&e, MODEL_MMIO, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    for (k = 1; k < 20; k++) {
        e.bus->knobs.alloc_fail_after = k;
        r = virtio_gpu_init(&e.gpu, &e.dev, 0);
        e.bus->knobs.alloc_fail_after = 0;
        if (r == VIRTIO_OK) break;
        CHECK_EQ(r, VIRTIO_ERR_NO_MEMORY);
        CHECK_EQ(e.bus->stats.live_allocs, 0);
    }
    CHECK(k > 2);
    CHECK_EQ(r, VIRTIO_OK);
    allocs = e.bus->stats.live_allocs;
    for (k = 1; k < 20; k++) {
        e.bus->knobs.alloc_fail_after = k;
        r = virtio_gpu_fb_create(&e.gpu, fb_poison(&fb), 300, 200, VIRTIO_GPU_PIX_B8G8R8X8, 0);
        e.bus->knobs.alloc_fail_after = 0;
        if (r == VIRTIO_OK) break;
        CHECK_EQ(r, VIRTIO_ERR_NO_MEMORY);
        CHECK(untouched(&fb, sizeof fb));
        CHECK_EQ(e.bus->stats.live_allocs, allocs);
        CHECK_EQ(model_gpu_resources(e.m), 0);
    }
    CHECK(k > 2);
    CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, &fb), VIRTIO_OK);
    /* The caller's memory, mapped page by page: the 5th page fails. */
    e.bus->knobs.dma_split = 1;
    e.bus->knobs.map_fail_after = 5;
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, fb_poison(&fb), 300, 200, VIRTIO_GPU_PIX_B8G8R8X8, user_pixels),
             VIRTIO_ERR_NO_MEMORY);
    CHECK(untouched(&fb, sizeof fb));
    e.bus->knobs.map_fail_after = 0;
    CHECK_EQ(e.bus->stats.live_maps, 0);
    CHECK_EQ(e.bus->stats.live_allocs, allocs);
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, 300, 200, VIRTIO_GPU_PIX_B8G8R8X8, user_pixels), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_set_scanout(&e.gpu, 0, &fb), VIRTIO_OK);
    draw(&fb, 6);
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &fb, 0, 0, 300, 200), VIRTIO_OK);
    CHECK_EQ(screen_mismatches(e.m, 0, 300, 200, 0, 0, 0, 0, 0, 6), 0);
    CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, &fb), VIRTIO_OK);
    CHECK_EQ(e.bus->stats.live_maps, 0);
    env_down(&e);
}

/* The cursor on the second scanout, and a cursor image that changes. */
static void cursor_second_scanout(void)
{
    gpuenv e;
    model_gpu_options go;
    const model_gpu_cursor *cur;
    uint32_t i;
    model_gpu_options_init(&go);
    go.num_scanouts = 2;
    CHECK_EQ(env_up(&e, MODEL_PCI_TRANSITIONAL, &go, 0), VIRTIO_OK);
    cur = model_gpu_get_cursor(e.m);
    for (i = 0; i < 64 * 64; i++) cursor_img[i] = 0xff000000u | i;
    CHECK_EQ(virtio_gpu_cursor_set(&e.gpu, 1, cursor_img, 63, 0, 5, 6), VIRTIO_OK);
    CHECK(cur->visible && cur->scanout == 1 && cur->hot_x == 63 && cur->x == 5 && cur->y == 6);
    CHECK(memcmp(cur->image, cursor_img, sizeof cursor_img) == 0);
    for (i = 0; i < 64 * 64; i++) cursor_img[i] = 0x10000000u | (i * 3u);
    CHECK_EQ(virtio_gpu_cursor_set(&e.gpu, 1, cursor_img, 0, 0, 7, 8), VIRTIO_OK);
    CHECK(memcmp(cur->image, cursor_img, sizeof cursor_img) == 0);
    CHECK_EQ(model_gpu_resources(e.m), 1);   /* the same cursor resource, reused */
    for (i = 0; i < 40; i++) CHECK_EQ(virtio_gpu_cursor_move(&e.gpu, 1, i, 2 * i), VIRTIO_OK);   /* > queue size */
    CHECK(cur->x == 39 && cur->y == 78);
    CHECK_EQ(model_gpu_get_stats(e.m)->cursor_moves, 40);
    CHECK_EQ(model_gpu_get_stats(e.m)->cursor_errors, 0);
    CHECK_EQ(model_gpu_get_stats(e.m)->fences, 2);
    env_down(&e);
}

/* The device asks for a reset while a command waits: NEEDS_RESET, then
   the GPU is reset and refuses work until it is initialised again. */
static void needs_reset(void)
{
    gpuenv e;
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_DEFERRED, 0), VIRTIO_OK);
    e.m->knobs.run_on_idle = 1;
    CHECK_EQ(virtio_gpu_init(&e.gpu, &e.dev, 0), VIRTIO_OK);
    e.m->knobs.run_on_idle = 0;
    model_set_needs_reset(e.m);
    CHECK_EQ(virtio_gpu_display_info(&e.gpu), VIRTIO_ERR_NEEDS_RESET);
    CHECK_EQ(model_status(e.m), 0);
    CHECK_EQ(virtio_gpu_display_info(&e.gpu), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_gpu_shutdown(&e.gpu), VIRTIO_OK);
    e.m->knobs.run_on_idle = 1;
    CHECK_EQ(virtio_gpu_init(&e.gpu, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(e.gpu.outputs[0].width, 1024);
    env_down(&e);
}

/* >>gpu.issue12: pixels on either byte order. Every format, colours
   written as words with virtio_gpu_rgb (even rows) and as bytes with
   virtio_gpu_put_rgb (odd rows), reach the screen as the colours meant:
   the model decodes each pixel's bytes by its format, as a display does,
   and a table states the bytes of one colour in each format. */
static void pixels(uint32_t transport)
{
    static const struct {
        uint32_t format;
        uint8_t bytes[4];   /* 0x123456 in memory, alpha/X 0xff */
    } fmt[] = {
        { VIRTIO_GPU_PIX_B8G8R8A8, { 0x56, 0x34, 0x12, 0xff } }, { VIRTIO_GPU_PIX_B8G8R8X8, { 0x56, 0x34, 0x12, 0xff } },
        { VIRTIO_GPU_PIX_A8R8G8B8, { 0xff, 0x12, 0x34, 0x56 } }, { VIRTIO_GPU_PIX_X8R8G8B8, { 0xff, 0x12, 0x34, 0x56 } },
        { VIRTIO_GPU_PIX_R8G8B8A8, { 0x12, 0x34, 0x56, 0xff } }, { VIRTIO_GPU_PIX_R8G8B8X8, { 0x12, 0x34, 0x56, 0xff } },
        { VIRTIO_GPU_PIX_A8B8G8R8, { 0xff, 0x56, 0x34, 0x12 } }, { VIRTIO_GPU_PIX_X8B8G8R8, { 0xff, 0x56, 0x34, 0x12 } },
    };
    gpuenv e;
    virtio_gpu_fb fb;
    uint32_t k, x, y, bad;
    uint8_t px[6];
    CHECK_EQ(env_up(&e, transport, 0, 0), VIRTIO_OK);
    for (k = 0; k < sizeof fmt / sizeof fmt[0]; k++) {
        const uint8_t *res;
        uint32_t f = fmt[k].format, w = 64, h = 48, word = virtio_gpu_rgb(f, 0x12, 0x34, 0x56);
        CHECK(memcmp(&word, fmt[k].bytes, 4) == 0);   /* the word, stored, is the format's bytes */
        CHECK_EQ(virtio_gpu_put_rgb(px + 1, f, 0x12, 0x34, 0x56), VIRTIO_OK);   /* unaligned */
        CHECK(memcmp(px + 1, fmt[k].bytes, 4) == 0);
        CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, w, h, f, 0), VIRTIO_OK);
        CHECK_EQ(virtio_gpu_set_scanout(&e.gpu, 0, &fb), VIRTIO_OK);
        for (y = 0; y < h; y++)
            for (x = 0; x < w; x++) {
                uint32_t c = pattern(x, y, k) & 0xffffffu;
                uint8_t *p = fb.pixels + (size_t)y * fb.stride + 4u * x;
                if (y & 1) CHECK_EQ(virtio_gpu_put_rgb(p, f, c >> 16, (c >> 8) & 255, c & 255), VIRTIO_OK);
                else ((uint32_t *)(void *)(fb.pixels + (size_t)y * fb.stride))[x] = virtio_gpu_rgb(f, c >> 16, (c >> 8) & 255, c & 255);
            }
        virtio_gpu_put_rgb(fb.pixels, f, 0x12, 0x34, 0x56);
        CHECK_EQ(virtio_gpu_flush(&e.gpu, &fb, 0, 0, w, h), VIRTIO_OK);
        res = model_gpu_resource(e.m, fb.resource_id, 0, 0);
        CHECK(res && memcmp(res, fmt[k].bytes, 4) == 0);
        CHECK_EQ(model_gpu_rgb(e.m, 0, 0, 0), 0x123456);
        for (y = 0, bad = 0; y < h; y++)
            for (x = (y == 0); x < w; x++) bad += model_gpu_rgb(e.m, 0, x, y) != (pattern(x, y, k) & 0xffffffu);
        CHECK_EQ(bad, 0);
        CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, &fb), VIRTIO_OK);
    }
    memset(px, 7, sizeof px);
    CHECK_EQ(virtio_gpu_rgb(5, 1, 2, 3), 0);
    CHECK_EQ(virtio_gpu_put_rgb(px, 5, 1, 2, 3), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_gpu_put_rgb(0, VIRTIO_GPU_PIX_B8G8R8X8, 1, 2, 3), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(px[0], 7);
    env_down(&e);
}

/* >>gpu.issue11 item 5: a shutdown whose reset never completes reports
   TIMEOUT and hands back nothing the device was given (the model calls
   freeing a live ring a driver bug). */
static void reset_hangs_shutdown(uint32_t transport)
{
    gpuenv e;
    virtio_gpu_fb fb;
    uint64_t frees;
    CHECK_EQ(env_up(&e, transport, 0, 0), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, 64, 64, VIRTIO_GPU_PIX_B8G8R8X8, 0), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, &fb), VIRTIO_OK);
    frees = e.bus->stats.frees;
    e.m->knobs.reset_delay = MODEL_FOREVER;
    CHECK_EQ(virtio_gpu_shutdown(&e.gpu), VIRTIO_ERR_TIMEOUT);
    CHECK_EQ(e.bus->stats.bugs, 0);
    CHECK_EQ(e.bus->stats.frees, frees);
    CHECK_EQ(virtio_gpu_shutdown(&e.gpu), VIRTIO_ERR_STATE);
    e.m->knobs.reset_delay = 0;
    CHECK_EQ(virtio_gpu_init(&e.gpu, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, 64, 64, VIRTIO_GPU_PIX_B8G8R8X8, 0), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_set_scanout(&e.gpu, 0, &fb), VIRTIO_OK);
    draw(&fb, 3);
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &fb, 0, 0, 64, 64), VIRTIO_OK);
    CHECK_EQ(screen_mismatches(e.m, 0, 64, 64, 0, 0, 0, 0, 0, 3), 0);
    CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, &fb), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_shutdown(&e.gpu), VIRTIO_OK);
    CHECK_EQ(e.bus->stats.bugs, 0);
    model_bus_free(e.bus);
}

/* >>gpu.issue11 item 5, the wait path: a command times out and the reset
   that should take the buffers back never completes. The framebuffer in
   the caller's memory stays mapped and nothing the device was given is
   freed; fb_destroy and shutdown say so. */
static void reset_hangs_wait(void)
{
    gpuenv e;
    virtio_gpu_fb fb;
    uint64_t allocs, maps, frees;
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_DEFERRED, 0), VIRTIO_OK);
    e.m->knobs.run_on_idle = 1;
    e.bus->knobs.dma_split = 1;
    CHECK_EQ(virtio_gpu_init(&e.gpu, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, 100, 50, VIRTIO_GPU_PIX_B8G8R8X8, user_pixels), VIRTIO_OK);
    CHECK(e.bus->stats.live_maps > 1);
    e.m->knobs.run_on_idle = 0;
    e.m->knobs.reset_delay = MODEL_FOREVER;
    allocs = e.bus->stats.live_allocs;
    maps = e.bus->stats.live_maps;
    frees = e.bus->stats.frees;
    CHECK_EQ(virtio_gpu_display_info(&e.gpu), VIRTIO_ERR_TIMEOUT);
    CHECK_EQ(e.gpu.priv.broken, 2);
    CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, &fb), VIRTIO_ERR_STATE);
    CHECK_EQ(fb.priv.magic, 0);
    CHECK_EQ(e.bus->stats.live_maps, maps);             /* still mapped: the device may read it */
    CHECK_EQ(e.bus->stats.live_allocs, allocs - 1);     /* only the private mapping record */
    CHECK_EQ(virtio_gpu_shutdown(&e.gpu), VIRTIO_ERR_TIMEOUT);
    CHECK_EQ(e.bus->stats.frees, frees + 1);
    CHECK_EQ(e.bus->stats.bugs, 0);
    model_bus_free(e.bus);
}

/* >>gpu.issue11 item 7: init on a running GPU changes nothing. */
static void init_twice(void)
{
    gpuenv e;
    virtio_gpu_fb fb;
    uint64_t allocs;
    CHECK_EQ(env_up(&e, MODEL_MMIO, 0, 0), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, 32, 32, VIRTIO_GPU_PIX_B8G8R8X8, 0), VIRTIO_OK);
    allocs = e.bus->stats.live_allocs;
    CHECK_EQ(virtio_gpu_init(&e.gpu, &e.dev, 0), VIRTIO_ERR_STATE);
    CHECK_EQ(e.bus->stats.live_allocs, allocs);
    CHECK_EQ(model_gpu_resources(e.m), 1);   /* the device was not reset */
    CHECK_EQ(virtio_gpu_set_scanout(&e.gpu, 0, &fb), VIRTIO_OK);
    draw(&fb, 8);
    CHECK_EQ(virtio_gpu_flush(&e.gpu, &fb, 0, 0, 32, 32), VIRTIO_OK);
    CHECK_EQ(screen_mismatches(e.m, 0, 32, 32, 0, 0, 0, 0, 0, 8), 0);
    CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, &fb), VIRTIO_OK);
    env_down(&e);
}

/* >>gpu.issue14: refresh. A display change whose GET_DISPLAY_INFO fails
   keeps the outputs as they were, and the next refresh tries again (the
   event was acknowledged already, so without that the change is lost). */
static void refresh_retry(uint32_t transport)
{
    gpuenv e;
    uint32_t ch = 99;
    CHECK_EQ(env_up(&e, transport, 0, 0), VIRTIO_OK);
    model_gpu_set_display(e.m, 0, 640, 400, 1);
    model_gpu_get_knobs(e.m)->fail_cmd = MODEL_GPU_CMD_GET_DISPLAY_INFO;
    CHECK_EQ(virtio_gpu_refresh(&e.gpu, &ch), VIRTIO_ERR_IO);
    CHECK_EQ(ch, 99);
    CHECK_EQ(e.gpu.last_status, MODEL_GPU_RESP_ERR_UNSPEC);
    CHECK(e.gpu.outputs[0].width == 1024 && e.gpu.outputs[0].height == 768);
    CHECK_EQ(model_get32(model_config(e.m)), 0);   /* acknowledged */
    model_gpu_get_knobs(e.m)->fail_cmd = 0;
    CHECK_EQ(virtio_gpu_refresh(&e.gpu, &ch), VIRTIO_OK);
    CHECK_EQ(ch, VIRTIO_GPU_CHANGED_DISPLAY);
    CHECK(e.gpu.outputs[0].width == 640 && e.gpu.outputs[0].height == 400);
    CHECK_EQ(e.gpu.last_status, MODEL_GPU_RESP_OK_DISPLAY_INFO);
    CHECK_EQ(virtio_gpu_refresh(&e.gpu, &ch), VIRTIO_OK);
    CHECK_EQ(ch, 0);
    model_gpu_set_display(e.m, 0, 800, 600, 1);
    CHECK_EQ(virtio_gpu_refresh(&e.gpu, 0), VIRTIO_OK);   /* NULL: not stored, still done */
    CHECK(e.gpu.outputs[0].width == 800 && e.gpu.outputs[0].height == 600);
    env_down(&e);
}

/* >>gpu.cursor_broken: a device that completes a cursor buffer with a
   used id it was never given breaks the cursor queue (virtio.h, UNTRUSTED
   DEVICE): the next cursor call says VIRTIO_ERR_DEVICE, every later one
   VIRTIO_ERR_STATE, never NO_SPACE (before 0.3.9 the error was dropped and
   every later call said NO_SPACE, so a caller retried forever). The control queue keeps
   working; after shutdown and init the cursor works again. */
static void cursor_bad_id(void *user, model *m, model_hostile *h)
{
    (void)user;
    (void)m;
    if (h->queue == 1 && (h->kind == MODEL_H_USED_ELEM || h->kind == MODEL_H_PACKED_USED)) h->id = 999;
}

static void cursor_broken(uint32_t ring)
{
    gpuenv e;
    virtio_gpu_options o;
    const model_gpu_cursor *cur;
    uint32_t i;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, 0, &o), VIRTIO_OK);
    CHECK_EQ(e.gpu.cursorq.packed, ring == VIRTIO_RING_PACKED);
    cur = model_gpu_get_cursor(e.m);
    for (i = 0; i < 64 * 64; i++) cursor_img[i] = 0xff000000u | i;
    CHECK_EQ(virtio_gpu_cursor_set(&e.gpu, 0, cursor_img, 1, 2, 3, 4), VIRTIO_OK);
    e.m->knobs.hostile = cursor_bad_id;
    /* Posted and completed with the bogus id: this call cannot know yet. */
    CHECK_EQ(virtio_gpu_cursor_move(&e.gpu, 0, 10, 20), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_cursor_move(&e.gpu, 0, 11, 21), VIRTIO_ERR_DEVICE);
    for (i = 0; i < 40; i++) CHECK_EQ(virtio_gpu_cursor_move(&e.gpu, 0, i, i), VIRTIO_ERR_STATE);   /* > slots */
    CHECK_EQ(virtio_gpu_cursor_hide(&e.gpu, 0), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_gpu_cursor_set(&e.gpu, 0, cursor_img, 0, 0, 5, 5), VIRTIO_ERR_STATE);
    CHECK_EQ(model_gpu_get_stats(e.m)->fences, 1);   /* no image transfer for a broken queue */
    CHECK(cur->x == 10 && cur->y == 20);
    /* The control queue is not the one that broke. */
    CHECK_EQ(virtio_gpu_display_info(&e.gpu), VIRTIO_OK);
    /* Reset by shutdown, an honest device again: the cursor works. */
    e.m->knobs.hostile = 0;
    CHECK_EQ(virtio_gpu_shutdown(&e.gpu), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_init(&e.gpu, &e.dev, &o), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_cursor_set(&e.gpu, 0, cursor_img, 1, 2, 3, 4), VIRTIO_OK);
    for (i = 0; i < 40; i++) CHECK_EQ(virtio_gpu_cursor_move(&e.gpu, 0, i, 2 * i), VIRTIO_OK);
    CHECK(cur->visible && cur->x == 39 && cur->y == 78);
    CHECK_EQ(virtio_gpu_cursor_hide(&e.gpu, 0), VIRTIO_OK);
    CHECK_EQ(cur->visible, 0);
    env_down(&e);
}

/* >>gpu.small_control: a control ring too small for the driver's
   commands (ATTACH_BACKING is three descriptors, flush keeps two
   commands of two in flight; an indirect table is capped at the ring
   size, virtio 1.2 2.7.5.3.1) is refused at init with VIRTIO_ERR_DEVICE,
   whether the device's maximum or the size it reads back makes it so.
   Before 0.3.9 init succeeded (or said INVALID_ARG) and every fb_create
   or flush failed after. Where the ring can work (4 entries, or 3 packed
   with INDIRECT_DESC) everything works. */
static uint32_t readback_lie;
static void small_readback(void *user, model *m, model_hostile *h)
{
    (void)user;
    (void)m;
    /* queue_size (common config 0x18) after the driver wrote 8 (control
       queue; the maximum reads 256, the cursor queue 16) */
    if (h->kind == MODEL_H_REG_READ && h->block == MODEL_REGS_COMMON && h->offset == 24 && h->value == 8)
        h->value = readback_lie;
}

static void small_control(uint32_t ring)
{
    gpuenv e;
    model_gpu_options go;
    virtio_gpu_options o;
    virtio_gpu_fb fb;
    uint32_t max, ind, size;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    for (ind = 0; ind < 2; ind++)
        for (max = 1; max <= 5; max++) {
            int works;
            model_gpu_options_init(&go);
            if (!ind) go.features &= ~MODEL_F_INDIRECT_DESC;
            CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_IMMEDIATE, &go), VIRTIO_OK);
            if (max <= 4) {
                model_set_queue_max(e.m, 0, max);
                size = max;
                if (ring == VIRTIO_RING_SPLIT && size == 3) size = 2;   /* (split: a power of two) */
            } else {   /* 5, 6: the maximum is fine, the size read back is 1 or 2 */
                readback_lie = ind ? 2 : 1;
                e.m->knobs.hostile = small_readback;
                size = readback_lie;
            }
            works = size >= 4 || (ind && size >= 3);
            if (!works) {
                CHECK_EQ(virtio_gpu_init(&e.gpu, &e.dev, &o), VIRTIO_ERR_DEVICE);
                CHECK_EQ(e.gpu.priv.magic, 0);
                CHECK_EQ(e.bus->stats.live_allocs, 0);
                CHECK((model_status(e.m) & MODEL_S_DRIVER_OK) == 0);
            } else {
                CHECK_EQ(virtio_gpu_init(&e.gpu, &e.dev, &o), VIRTIO_OK);
                CHECK_EQ(e.gpu.ctrlq.size, size);
                CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, 64, 64, VIRTIO_GPU_PIX_B8G8R8X8, 0), VIRTIO_OK);
                CHECK_EQ(virtio_gpu_set_scanout(&e.gpu, 0, &fb), VIRTIO_OK);
                draw(&fb, 9);
                CHECK_EQ(virtio_gpu_flush(&e.gpu, &fb, 0, 0, 64, 64), VIRTIO_OK);
                CHECK_EQ(screen_mismatches(e.m, 0, 64, 64, 0, 0, 0, 0, 0, 9), 0);
                CHECK_EQ(virtio_gpu_cursor_set(&e.gpu, 0, cursor_img, 0, 0, 1, 1), VIRTIO_OK);
                CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, &fb), VIRTIO_OK);
            }
            env_down(&e);
        }
}

/* >>gpu.missing: a device without what a GPU requires fails init with
   VIRTIO_ERR_DEVICE (before 0.3.9: RANGE, NOT_FOUND, STATE): a
   device-config window shorter than the fields (virtio-pci DEVICE_CFG
   capability of 8 bytes: num_scanouts is at 8), no cursor queue (its
   maximum 0), a queue that reads live right after the reset. Nothing
   leaks; the device as it should be works after. */
static void missing_parts(void)
{
    gpuenv e;
    model_pci_layout l;
    /* The device-config window. */
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    CHECK_EQ(model_pci_layout_get(e.m, &l), 0);
    l.cap[MODEL_CAP_DEVICE].length = 8;
    CHECK_EQ(model_pci_layout_set(e.m, &l), 0);
    CHECK_EQ(model_probe(e.m, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_init(&e.gpu, &e.dev, 0), VIRTIO_ERR_DEVICE);
    CHECK_EQ(e.bus->stats.live_allocs, 0);
    CHECK((model_status(e.m) & MODEL_S_DRIVER_OK) == 0);
    model_pci_layout_reset(e.m);
    CHECK_EQ(model_probe(e.m, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_gpu_init(&e.gpu, &e.dev, 0), VIRTIO_OK);
    env_down(&e);
    /* No cursor queue. */
    CHECK_EQ(env_new(&e, MODEL_MMIO, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    model_set_queue_max(e.m, 1, 0);
    CHECK_EQ(virtio_gpu_init(&e.gpu, &e.dev, 0), VIRTIO_ERR_DEVICE);
    CHECK_EQ(e.bus->stats.live_allocs, 0);
    model_set_queue_max(e.m, 1, 256);
    CHECK_EQ(virtio_gpu_init(&e.gpu, &e.dev, 0), VIRTIO_OK);
    env_down(&e);
    /* A queue live after the reset. */
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    e.m->knobs.hostile = model_hostile_queue_live;
    CHECK_EQ(virtio_gpu_init(&e.gpu, &e.dev, 0), VIRTIO_ERR_DEVICE);
    CHECK_EQ(e.bus->stats.live_allocs, 0);
    e.m->knobs.hostile = 0;
    CHECK_EQ(virtio_gpu_init(&e.gpu, &e.dev, 0), VIRTIO_OK);
    env_down(&e);
}

/* >>gpu.issue13 item 5: with defaults and a driver-allocated framebuffer,
   the pixels are the only allocation above a page; init's allocations are
   the MEMORY section's, in order. */
static struct {
    void *(*alloc)(void *, size_t, size_t, int, uint64_t *);
    size_t size[16], largest, second, total;
    uint32_t count;
} mem;

static void *mem_alloc(void *user, size_t size, size_t align, int kind, uint64_t *dev)
{
    void *p = mem.alloc(user, size, align, kind, dev);
    if (p) {
        if (mem.count < 16) mem.size[mem.count] = size;
        if (size > mem.largest) mem.second = mem.largest, mem.largest = size;
        else if (size > mem.second) mem.second = size;
        mem.total += size;
        mem.count++;
    }
    return p;
}

static void memory(uint32_t transport, uint32_t ring, char *label, size_t cap)
{
    /* control ring of 8 (ring, shadow, table index, 8 indirect tables of
       3), cursor ring of 16 (ring, shadow), commands; split rings 16n +
       (6 + 2n), 4-aligned, + (6 + 8n), packed 16n + 8 */
    const size_t index = sizeof(uint64_t) + sizeof(void *);
    const size_t want[2][7] = { { 222, 8 * SLOT, index, 384, 430, 16 * SLOT, 4096 },
                                { 136, 8 * SLOT, index, 384, 264, 16 * SLOT, 4096 } };
    gpuenv e;
    virtio_gpu_options o;
    virtio_gpu_fb fb;
    size_t init;
    uint32_t i;
    CHECK_EQ(env_new(&e, transport, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    memset(&mem, 0, sizeof mem);
    mem.alloc = e.bus->platform.dma_alloc;
    e.bus->platform.dma_alloc = mem_alloc;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    CHECK_EQ(virtio_gpu_init(&e.gpu, &e.dev, &o), VIRTIO_OK);
    CHECK_EQ(mem.count, 7);
    for (i = 0; i < 7 && i < mem.count; i++) CHECK_EQ(mem.size[i], want[ring - 1][i]);
    /* virtio_gpu.h MEMORY: 5 280 bytes with packed rings, 5 532 split
       (5 180 and 5 432 on 32-bit CPUs) */
    init = mem.total;
    CHECK_EQ(init, (ring == VIRTIO_RING_PACKED ? 5280u : 5532u) - (sizeof(void *) == 8 ? 0u : 100u));
    CHECK(mem.largest <= 4096);
    CHECK_EQ(virtio_gpu_fb_create(&e.gpu, &fb, 1024, 768, VIRTIO_GPU_PIX_B8G8R8X8, 0), VIRTIO_OK);
    CHECK_EQ(mem.largest, 1024 * 768 * 4);
    CHECK(mem.second <= 4096);
    snprintf(label, cap, "gpu memory, defaults, %s %s: init %zu B in 7 allocations as MEMORY says; a 1024x768 "
             "framebuffer (%zu B) the only one above %zu B", transport == MODEL_MMIO ? "mmio" : "pci-modern",
             ring == VIRTIO_RING_PACKED ? "packed" : "split", init, mem.largest, mem.second);
    CHECK_EQ(virtio_gpu_fb_destroy(&e.gpu, &fb), VIRTIO_OK);
    env_down(&e);
}

int main(void)
{
    matrix();
    RUN(two_scanouts(), "gpu two scanouts, one framebuffer on both");
    RUN(edid_displayid(), "gpu EDID of a large screen: the preferred mode from a DisplayID extension");
    RUN(display_change(MODEL_PCI_MODERN), "gpu display change event, re-read, resize, unplug, pci-modern");
    RUN(display_change(MODEL_MMIO_LEGACY), "gpu display change event, re-read, resize, unplug, mmio-legacy");
    RUN(display_change(MODEL_PCI_LEGACY), "gpu display change event, re-read, resize, unplug, pci-legacy");
    RUN(display_change(MODEL_MMIO), "gpu display change event, re-read, resize, unplug, mmio");
    RUN(error_responses(), "gpu error responses become error codes, nothing leaks");
    RUN(wrong_responses(VIRTIO_RING_SPLIT), "gpu wrong response type and short responses, split");
    RUN(wrong_responses(VIRTIO_RING_PACKED), "gpu wrong response type and short responses, packed");
    RUN(hostile_init(), "gpu init against wrong answers and scanout counts");
    RUN(no_edid(), "gpu without EDID (driver choice, device choice)");
    RUN(deferred_and_timeout(), "gpu deferred completion; a timeout resets and breaks the GPU until re-init");
    RUN(bad_input(), "gpu bad arguments and states");
    RUN(wrong_device(), "gpu init on a block device is NOT_FOUND");
    RUN(alloc_failures(), "gpu init and fb_create under allocation and mapping failures");
    RUN(needs_reset(), "gpu NEEDS_RESET during a command: reset, STATE, re-init works");
    RUN(cursor_second_scanout(), "gpu cursor on the second scanout, new image, 40 moves");
    RUN(pixels(MODEL_PCI_MODERN), "gpu pixels in all eight formats, word and byte stores, decoded by format on the screen");
    RUN(pixels(MODEL_MMIO_LEGACY), "gpu pixels in all eight formats, mmio-legacy");
    RUN(reset_hangs_shutdown(MODEL_PCI_MODERN), "gpu shutdown whose reset never completes: TIMEOUT, nothing handed back, pci-modern");
    RUN(reset_hangs_shutdown(MODEL_MMIO_LEGACY), "gpu shutdown whose reset never completes: TIMEOUT, nothing handed back, mmio-legacy");
    RUN(reset_hangs_wait(), "gpu command timeout whose reset never completes: framebuffer stays mapped, nothing freed");
    RUN(init_twice(), "gpu init on a running GPU: STATE, nothing reset or leaked");
    RUN(refresh_retry(MODEL_PCI_MODERN), "gpu refresh: failed display info keeps outputs and is retried, pci-modern");
    RUN(refresh_retry(MODEL_PCI_LEGACY), "gpu refresh: failed display info keeps outputs and is retried, pci-legacy");
    RUN(cursor_broken(VIRTIO_RING_SPLIT), "gpu cursor queue broken by a bogus used id: DEVICE, then STATE (never NO_SPACE), re-init works, split");
    RUN(cursor_broken(VIRTIO_RING_PACKED), "gpu cursor queue broken by a bogus used id: DEVICE, then STATE (never NO_SPACE), re-init works, packed");
    RUN(small_control(VIRTIO_RING_SPLIT), "gpu control queue of 1, 2 or 3 entries (or read back as 1 or 2) refused with DEVICE, 4 works, split");
    RUN(small_control(VIRTIO_RING_PACKED), "gpu control queue of 1 or 2 entries (or read back so) refused with DEVICE, 3 works with INDIRECT, 4 without, packed");
    RUN(missing_parts(), "gpu device-config window too short, no cursor queue, a live queue: init says DEVICE");
    {
        char mlabel[256];
        RUN(memory(MODEL_PCI_MODERN, VIRTIO_RING_PACKED, mlabel, sizeof mlabel), mlabel);
        RUN(memory(MODEL_PCI_MODERN, VIRTIO_RING_SPLIT, mlabel, sizeof mlabel), mlabel);
        RUN(memory(MODEL_MMIO, VIRTIO_RING_PACKED, mlabel, sizeof mlabel), mlabel);
        RUN(memory(MODEL_MMIO, VIRTIO_RING_SPLIT, mlabel, sizeof mlabel), mlabel);
    }
    UNIT_EXIT();
}
