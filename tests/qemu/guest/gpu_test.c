/* gpu_test.c - QEMU guest for tests/qemu/test_gpu.py.
 *
 * Drives virtio_gpu.h under the host's command (one line on the UART per
 * step); after each step the host takes a QMP screendump and checks the
 * pixels. The colours come from a seed the host picks, so nothing here can
 * pass by accident.
 *
 *   draw SEED K          every scanout gets a framebuffer of its reported
 *                        size filled with pattern(SEED, scanout), flushed;
 *                        framebuffers take the eight pixel formats in turn
 *                        from formats[K] (the host compares colours, so
 *                        the format must not matter: virtio_gpu_rgb maps)
 *   partial SEED X Y W H scanout 0's framebuffer is refilled with
 *                        pattern(SEED) everywhere, but only (X,Y,W,H) flushed
 *   cursor SEED X Y      a 64x64 cursor image from SEED, shown at (X,Y) and
 *                        moved to (X+10,Y+20); then the cursor's own resource
 *                        is put on the last scanout so the host can see it
 *   resize W H SEED      scanout 0 gets a new W x H framebuffer
 *   quit
 */
#define VIRTIO_IMPLEMENTATION
#include "vt.h"
#include "../../../virtio_gpu.h"

static virtio_gpu gpu;
static virtio_gpu_fb fbs[VIRTIO_GPU_OUTPUTS];
static uint32_t cursor_img[64 * 64];

/* Colour of pixel (x, y) as 0x00RRGGBB; test_gpu.py has the same. */
static uint32_t color(uint32_t seed, uint32_t x, uint32_t y)
{
    uint32_t r = (x * 7u + y * 3u + seed) & 255u;
    uint32_t g = ((x * 5u) ^ (y * 11u) ^ (seed >> 8)) & 255u;
    uint32_t b = (x + y * 13u + (seed >> 16)) & 255u;
    return r << 16 | g << 8 | b;
}

/* Pixels as 32-bit words, right for fb's format on either byte order:
   virtio_gpu_rgb, not a hard-coded 0x00RRGGBB. */
static void fill(virtio_gpu_fb *fb, uint32_t seed)
{
    uint32_t x, y;
    for (y = 0; y < fb->height; y++) {
        uint32_t *row = (uint32_t *)(void *)(fb->pixels + (size_t)y * fb->stride);
        for (x = 0; x < fb->width; x++) {
            uint32_t c = color(seed, x, y);
            row[x] = virtio_gpu_rgb(fb->format, c >> 16, (c >> 8) & 255u, c & 255u);
        }
    }
}

static const uint32_t formats[8] = { VIRTIO_GPU_PIX_B8G8R8X8, VIRTIO_GPU_PIX_R8G8B8X8, VIRTIO_GPU_PIX_X8R8G8B8,
                                     VIRTIO_GPU_PIX_A8B8G8R8, VIRTIO_GPU_PIX_B8G8R8A8, VIRTIO_GPU_PIX_R8G8B8A8,
                                     VIRTIO_GPU_PIX_A8R8G8B8, VIRTIO_GPU_PIX_X8B8G8R8 };
static uint32_t next_format;

static int read_line(char *buf, int cap)
{
    uint64_t end = port_now_us() + 120000000u;
    int n = 0;
    while (port_now_us() < end) {
        int c = port_getc();
        if (c < 0) continue;
        if (c == '\n') {
            buf[n] = 0;
            return n;
        }
        if (n < cap - 1) buf[n++] = (char)c;
    }
    return -1;
}

static uint32_t num(const char **s)
{
    uint32_t v = 0;
    while (**s == ' ') (*s)++;
    while (**s >= '0' && **s <= '9') v = v * 10 + (uint32_t)(*(*s)++ - '0');
    return v;
}

static void setup_fb(uint32_t i, uint32_t w, uint32_t h, uint32_t seed)
{
    if (fbs[i].resource_id) {
        VT_EXPECT(virtio_gpu_fb_destroy(&gpu, &fbs[i]), VIRTIO_OK, "fb destroy");
        memset(&fbs[i], 0, sizeof fbs[i]);
    }
    VT_EXPECT(virtio_gpu_fb_create(&gpu, &fbs[i], w, h, formats[next_format++ % 8], 0), VIRTIO_OK, "fb create");
    fill(&fbs[i], seed);
    VT_EXPECT(virtio_gpu_set_scanout(&gpu, i, &fbs[i]), VIRTIO_OK, "set scanout");
    VT_EXPECT(virtio_gpu_flush(&gpu, &fbs[i], 0, 0, w, h), VIRTIO_OK, "flush");
}

static void bad_input(void)
{
    virtio_gpu_fb fb;
    memset(&fb, 0, sizeof fb);
    VT_EXPECT(virtio_gpu_fb_create(&gpu, &fb, 0, 10, VIRTIO_GPU_PIX_B8G8R8X8, 0), VIRTIO_ERR_INVALID_ARG, "zero width");
    VT_EXPECT(virtio_gpu_fb_create(&gpu, &fb, 10, 10, 99, 0), VIRTIO_ERR_INVALID_ARG, "bad format");
    VT_EXPECT(virtio_gpu_fb_create(&gpu, 0, 10, 10, VIRTIO_GPU_PIX_B8G8R8X8, 0), VIRTIO_ERR_INVALID_ARG, "NULL fb");
    VT_EXPECT(virtio_gpu_set_scanout(&gpu, gpu.num_scanouts, &fbs[0]), VIRTIO_ERR_INVALID_ARG, "unknown scanout");
    VT_EXPECT(virtio_gpu_flush(&gpu, &fbs[0], 0, 0, 0, 1), VIRTIO_ERR_INVALID_ARG, "zero-size flush");
    VT_EXPECT(virtio_gpu_flush(&gpu, &fbs[0], fbs[0].width - 1, 0, 2, 1), VIRTIO_ERR_RANGE, "flush past right");
    VT_EXPECT(virtio_gpu_flush(&gpu, &fbs[0], 0, fbs[0].height, 1, 1), VIRTIO_ERR_RANGE, "flush below");
    VT_EXPECT(virtio_gpu_flush(&gpu, &fb, 0, 0, 1, 1), VIRTIO_ERR_INVALID_ARG, "flush of no fb");
    VT_EXPECT(virtio_gpu_cursor_move(&gpu, 99, 0, 0), VIRTIO_ERR_INVALID_ARG, "cursor bad scanout");
}

int main(void)
{
    virtio_device devs[2];
    char line[128];
    uint32_t i;
    virtio_result r;
    port_pci_setup();
    if (vt_find(VIRTIO_DEVICE_GPU, devs, 2) < 1) {
        port_printf("VT FAIL no gpu\nVT END 1\n");
        return 1;
    }
    r = virtio_gpu_init(&gpu, &devs[0], 0);
    if (r != VIRTIO_OK) {
        port_printf("VT FAIL init %s\nVT END 1\n", virtio_result_str(r));
        return 1;
    }
    VT_EXPECT(virtio_gpu_init(&gpu, &devs[0], 0), VIRTIO_ERR_STATE, "init while running");
    VT_EXPECT(virtio_gpu_refresh(&gpu, 0), VIRTIO_OK, "refresh without out-parameter");
    port_printf("VT GPU transport=%s packed=%u scanouts=%u edid=%u\n", vt_transport(&gpu.dev), gpu.ctrlq.packed,
                gpu.num_scanouts, gpu.edid);
    for (i = 0; i < gpu.num_scanouts; i++)
        port_printf("VT OUTPUT %u enabled=%u w=%u h=%u\n", i, gpu.outputs[i].enabled, gpu.outputs[i].width,
                    gpu.outputs[i].height);
    if (gpu.edid) {
        static uint8_t edid[1024];
        uint32_t n = 0;
        virtio_gpu_mode mode;
        VT_EXPECT(virtio_gpu_get_edid(&gpu, 0, edid, sizeof edid, &n), VIRTIO_OK, "get edid");
        if (virtio_gpu_edid_mode(edid, n, &mode) == VIRTIO_OK)
            port_printf("VT EDID bytes=%u w=%u h=%u hz=%u\n", n, mode.width, mode.height, mode.refresh_hz);
        else
            port_printf("VT FAIL edid decode (%u bytes)\n", n);
    } else {
        uint8_t b[8];
        uint32_t n;
        VT_EXPECT(virtio_gpu_get_edid(&gpu, 0, b, sizeof b, &n), VIRTIO_ERR_UNSUPPORTED, "edid without feature");
    }
    port_printf("VT READY\n");
    while (read_line(line, sizeof line) > 0) {
        const char *s = line;
        if (!memcmp(line, "draw ", 5)) {
            uint32_t seed;
            s += 5;
            seed = num(&s);
            next_format = num(&s);
            for (i = 0; i < gpu.num_scanouts; i++) {
                uint32_t w = gpu.outputs[i].width ? gpu.outputs[i].width : 640;
                uint32_t h = gpu.outputs[i].height ? gpu.outputs[i].height : 480;
                setup_fb(i, w, h, seed + i);
                port_printf("VT DRAWN %u %u %u format=%u\n", i, w, h, fbs[i].format);
            }
            bad_input();
        } else if (!memcmp(line, "partial ", 8)) {
            uint32_t seed, x, y, w, h;
            s += 8;
            seed = num(&s), x = num(&s), y = num(&s), w = num(&s), h = num(&s);
            fill(&fbs[0], seed);
            VT_EXPECT(virtio_gpu_flush(&gpu, &fbs[0], x, y, w, h), VIRTIO_OK, "partial flush");
            port_printf("VT PARTIAL\n");
        } else if (!memcmp(line, "cursor ", 7)) {
            uint32_t seed, x, y, last = gpu.num_scanouts - 1;
            s += 7;
            seed = num(&s), x = num(&s), y = num(&s);
            for (i = 0; i < 64 * 64; i++) cursor_img[i] = 0xff000000u | color(seed, i % 64, i / 64);
            VT_EXPECT(virtio_gpu_cursor_set(&gpu, 0, cursor_img, 3, 4, x, y), VIRTIO_OK, "cursor set");
            VT_EXPECT(virtio_gpu_cursor_move(&gpu, 0, x + 10, y + 20), VIRTIO_OK, "cursor move");
            /* Show the cursor's resource itself, to prove its pixels reached the host. */
            VT_EXPECT(virtio_gpu_set_scanout(&gpu, last, &gpu.priv.cursor), VIRTIO_OK, "scanout cursor");
            VT_EXPECT(virtio_gpu_flush(&gpu, &gpu.priv.cursor, 0, 0, 64, 64), VIRTIO_OK, "flush cursor");
            port_printf("VT CURSOR %u\n", last);
        } else if (!memcmp(line, "resize ", 7)) {
            uint32_t w, h, seed;
            s += 7;
            w = num(&s), h = num(&s), seed = num(&s);
            setup_fb(0, w, h, seed);
            port_printf("VT RESIZED %u %u format=%u\n", w, h, fbs[0].format);
        } else if (!memcmp(line, "nomem ", 6)) {
            /* A framebuffer the host has no memory for (max_hostmem): the
               error, and nothing left behind. */
            virtio_gpu_fb big;
            uint32_t w, h;
            s += 6;
            w = num(&s), h = num(&s);
            memset(&big, 0, sizeof big);
            r = virtio_gpu_fb_create(&gpu, &big, w, h, VIRTIO_GPU_PIX_B8G8R8X8, 0);
            port_printf("VT NOMEM result=%d status=0x%x id=%u\n", (int)r, gpu.last_status, big.resource_id);
            if (r == VIRTIO_OK) VT_EXPECT(virtio_gpu_fb_destroy(&gpu, &big), VIRTIO_OK, "destroy the fb that fit");
        } else if (!strcmp(line, "quit")) {
            break;
        } else {
            port_printf("VT FAIL unknown command %s\n", line);
        }
    }
    for (i = 0; i < gpu.num_scanouts; i++)
        if (fbs[i].resource_id) VT_EXPECT(virtio_gpu_fb_destroy(&gpu, &fbs[i]), VIRTIO_OK, "final destroy");
    VT_EXPECT(virtio_gpu_shutdown(&gpu), VIRTIO_OK, "shutdown");
    port_printf("VT END %d\n", vt_failures);
    return vt_failures != 0;
}
