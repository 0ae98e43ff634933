/* target_gpu.h - virtio_gpu.h against a fuzz-driven GPU.
 *
 * Included by fuzz_gpu_split.c and fuzz_gpu_packed.c with FZ_RING set.
 * The scripted device of fuzz.h (type 16) answers every command with the
 * right response type; the device stream rewrites responses (wrong type,
 * short, garbage display info and EDID) and ring values. The operation
 * stream creates and destroys framebuffers (driver-allocated and in
 * caller memory), sets scanouts, flushes rectangles, moves the cursor,
 * raises display-change events, reads EDID, sets NEEDS_RESET and
 * re-initialises. Caller pixel memory is device-readable only: the driver
 * must never write it.
 */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_gpu.h"
#include "fuzz.h"

#define GPU_FEATURES ((1ull << 1) | MODEL_F_INDIRECT_DESC | MODEL_F_EVENT_IDX | MODEL_F_VERSION_1)
#define GPU_NFB 3u

typedef struct gpu_fz {
    fz_env e;
    fz_dev *d;
    virtio_gpu_options o;
    virtio_gpu gpu;
    int up;
    virtio_gpu_fb fb[GPU_NFB];
    int live[GPU_NFB];
    fz_buf pix[GPU_NFB];        /* caller pixel memory (64 x 64 x 4) */
    uint64_t leaked_allocs, leaked_maps;   /* left by a reset that never completed */
} gpu_fz;

/* Nothing allocated beyond what a reset that never completed left. */
static void gpu_no_leaks(gpu_fz *t)
{
    FZ_ASSERT(t->e.bus->stats.live_allocs == t->leaked_allocs && t->e.bus->stats.live_maps == t->leaked_maps);
}

/* A reset that never completed (a lie, or a reset_delay longer than the platform timeout) leaves the memory the
   device may still use allocated and mapped: count from there. */
static void gpu_leaked(gpu_fz *t)
{
    t->leaked_allocs = t->e.bus->stats.live_allocs;
    t->leaked_maps = t->e.bus->stats.live_maps;
}

static virtio_result gpu_up(gpu_fz *t)
{
    uint64_t hung = t->e.bus->stats.log[VIRTIO_MSG_RESET_TIMEOUT];
    virtio_result r = fz_probe(&t->e);
    FZ_RESULT(r);
    if (r != VIRTIO_OK) return r;
    r = virtio_gpu_init(&t->gpu, &t->e.vdev, &t->o);
    FZ_RESULT(r);
    t->up = r == VIRTIO_OK;
    if (!t->up && (t->e.bus->stats.log[VIRTIO_MSG_RESET_TIMEOUT] != hung || t->e.lies || t->e.m->knobs.gone)) gpu_leaked(t);
    if (!t->up) gpu_no_leaks(t);
    return r;
}

static void gpu_release(gpu_fz *t, uint32_t i)
{
    t->live[i] = 0;
    t->pix[i].busy = 0;
}

static void gpu_down(gpu_fz *t)
{
    uint32_t i;
    int hung = t->up && t->gpu.priv.broken == 2;   /* a reset after a timeout never completed */
    for (i = 0; i < GPU_NFB && t->up; i++)
        if (t->live[i]) {
            FZ_RESULT(virtio_gpu_fb_destroy(&t->gpu, &t->fb[i]));
            gpu_release(t, i);
        }
    if (t->up) {
        virtio_result r = virtio_gpu_shutdown(&t->gpu);
        FZ_ASSERT(r == VIRTIO_OK || r == VIRTIO_ERR_TIMEOUT);
        if (r != VIRTIO_OK || hung) gpu_leaked(t);
    }
    FZ_ASSERT(virtio_gpu_shutdown(&t->gpu) == VIRTIO_ERR_STATE);
    t->up = 0;
    gpu_no_leaks(t);
}

static void gpu_check(gpu_fz *t)
{
    uint32_t i;
    for (i = 0; i < GPU_NFB; i++) fz_buf_check(&t->pix[i]);
    fz_no_bugs(&t->e);
}

static void gpu_ops(gpu_fz *t)
{
    static const uint32_t formats[] = { 1, 2, 3, 4, 67, 68, 121, 134, 0, 5 };
    fz_in *in = &t->e.ops;
    uint32_t steps = 0;
    while (fz_more(in) && steps++ < 64) {
        uint32_t op = fz_u8(in) % 18, v = fz_u8(in), i = v % GPU_NFB, w, h;
        uint32_t cursor[64 * 64];
        uint8_t edid[1024];
        virtio_gpu_mode mode;
        uint32_t changed;
        virtio_result r;
        if (!t->up && op != 13) continue;
        switch (op) {
        case 0:
        case 1:
            if (t->live[i]) break;
            w = 1 + fz_below(in, 64);
            h = 1 + fz_below(in, 64);
            if (v & 0x80) w = fz_u32(in), h = fz_u32(in);
            memset(&t->fb[i], 0xa5, sizeof t->fb[i]);
            r = virtio_gpu_fb_create(&t->gpu, &t->fb[i], w, h, formats[fz_below(in, 10)],
                                     op == 1 && w <= 64 && h <= 64 ? t->pix[i].data : 0);
            FZ_RESULT(r);
            if (r != VIRTIO_OK) {   /* *fb is written only on success */
                size_t k;
                for (k = 0; k < sizeof t->fb[i]; k++) FZ_ASSERT(((const uint8_t *)&t->fb[i])[k] == 0xa5);
            }
            if (r == VIRTIO_OK) {
                t->live[i] = 1;
                t->pix[i].busy = op == 1;   /* device-readable: the pattern must hold */
                t->pix[i].writable = 0;
            }
            break;
        case 2:
            if (!t->live[i]) break;
            FZ_RESULT(virtio_gpu_fb_destroy(&t->gpu, &t->fb[i]));
            gpu_release(t, i);
            break;
        case 3:
            if (!t->live[i]) break;
            FZ_RESULT(virtio_gpu_set_scanout(&t->gpu, fz_below(in, 18), &t->fb[i]));
            break;
        case 4:
            FZ_RESULT(virtio_gpu_disable_scanout(&t->gpu, fz_below(in, 18)));
            break;
        case 5:
            if (!t->live[i]) break;
            FZ_RESULT(virtio_gpu_flush(&t->gpu, &t->fb[i], fz_below(in, 70), fz_below(in, 70), fz_below(in, 70),
                                       fz_below(in, 70)));
            break;
        case 6:
            memset(cursor, (int)v, sizeof cursor);
            FZ_RESULT(virtio_gpu_cursor_set(&t->gpu, fz_below(in, 18), cursor, fz_below(in, 70), fz_below(in, 70),
                                            fz_u16(in), fz_u16(in)));
            break;
        case 7:
            FZ_RESULT(virtio_gpu_cursor_move(&t->gpu, fz_below(in, 18), fz_u16(in), fz_u16(in)));
            break;
        case 8:
            FZ_RESULT(virtio_gpu_cursor_hide(&t->gpu, fz_below(in, 18)));
            break;
        case 9:   /* the display changes */
            t->d->width = 1 + fz_below(in, 4096);
            t->d->height = 1 + fz_below(in, 4096);
            model_put32(model_config(t->e.m), model_get32(model_config(t->e.m)) | (v & 3));
            model_config_changed(t->e.m);
            break;
        case 10:
            r = virtio_gpu_refresh(&t->gpu, v & 0x80 ? 0 : &changed);
            FZ_RESULT(r);
            if (r == VIRTIO_OK && !(v & 0x80) && !t->e.lies && changed) FZ_ASSERT(t->gpu.outputs[0].width == t->d->width);
            break;
        case 11:
            r = virtio_gpu_get_edid(&t->gpu, fz_below(in, 18), edid, v & 1 ? fz_below(in, 1024) : 1024, &w);
            FZ_RESULT(r);
            if (r == VIRTIO_OK) {
                FZ_RESULT(virtio_gpu_edid_mode(edid, w < 1024 ? w : 1024, &mode));
                if (!t->e.lies && w >= 128) {
                    FZ_ASSERT(virtio_gpu_edid_mode(edid, w, &mode) == VIRTIO_OK);
                    FZ_ASSERT(mode.width == (t->d->width & 0xfff) && mode.height == (t->d->height & 0xfff));
                }
            }
            break;
        case 12:
            model_set_needs_reset(t->e.m);
            break;
        case 13:
            gpu_down(t);
            gpu_up(t);
            break;
        case 14:
            if (v & 1) model_interrupt(t->e.m, v % 2);
            else model_run(t->e.m, v >> 1);
            break;
        case 16: {   /* init on a running GPU: refused, nothing changes */
            uint64_t allocs = t->e.bus->stats.live_allocs;
            FZ_ASSERT(virtio_gpu_init(&t->gpu, &t->e.vdev, &t->o) == VIRTIO_ERR_STATE);
            FZ_ASSERT(t->e.bus->stats.live_allocs == allocs);
            break;
        }
        default:
            FZ_RESULT(virtio_gpu_display_info(&t->gpu));
            break;
        }
        gpu_check(t);
    }
}

static void gpu_recover(gpu_fz *t)
{
    uint32_t i;
    fz_honest(&t->e, 2, 256);
    t->e.lies = 0;
    memset(&t->o, 0, sizeof t->o);
    model_put32(model_config(t->e.m), 0);
    FZ_ASSERT(gpu_up(t) == VIRTIO_OK);
    FZ_ASSERT(t->gpu.outputs[0].enabled && t->gpu.outputs[0].width == t->d->width);
    FZ_ASSERT(virtio_gpu_fb_create(&t->gpu, &t->fb[0], 64, 64, VIRTIO_GPU_PIX_B8G8R8X8, t->pix[0].data) == VIRTIO_OK);
    t->live[0] = t->pix[0].busy = 1;
    t->pix[0].writable = 0;
    FZ_ASSERT(virtio_gpu_set_scanout(&t->gpu, 0, &t->fb[0]) == VIRTIO_OK);
    FZ_ASSERT(virtio_gpu_flush(&t->gpu, &t->fb[0], 1, 2, 30, 40) == VIRTIO_OK);
    gpu_check(t);
    gpu_down(t);
    for (i = 0; i < GPU_NFB; i++) FZ_ASSERT(!t->live[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gpu_fz t;
    uint64_t features = GPU_FEATURES;
    uint32_t k, i;
    memset(&t, 0, sizeof t);
    fz_env_init(&t.e, data, size);
    fz_bus(&t.e);
    fz_transport(&t.e, FZ_RING == VIRTIO_RING_PACKED);
    k = fz_u8(&t.e.ops);
    t.o.device.ring = FZ_RING;
    t.o.device.no_indirect = k & 1;
    t.o.device.no_event_idx = (k >> 1) & 1;
    t.o.no_edid = (k >> 2) & 1;
    if (k & 8) features &= ~(1ull << 1);
    if (FZ_RING == VIRTIO_RING_PACKED) features |= MODEL_F_RING_PACKED;
    for (i = 0; i < GPU_NFB; i++) fz_buf_new(&t.pix[i], 64 * 64 * 4);
    fz_dev_new(&t.e, 16, features, &t.d);
    fz_knobs(&t.e, 2);
    gpu_up(&t);
    gpu_ops(&t);
    gpu_down(&t);
    gpu_recover(&t);
    for (i = 0; i < GPU_NFB; i++) fz_buf_free(&t.pix[i]);
    model_bus_free(t.e.bus);
    return 0;
}
