/* demo.c - the README's demo: a disk and a screen.
 *
 * Finds a virtio-blk disk, prints its identity and size and the message
 * stored in its first sector, then finds a virtio-gpu and draws a screen:
 * a gradient, a few shapes, and text in a small built-in font, including
 * what it just read from the disk. `make demo` runs it in QEMU (riscv64
 * "virt") and saves the screen as build/demo.png.
 *
 *   make demo
 */
#define VIRTIO_IMPLEMENTATION
#include "port/port.h"
#include "../virtio_blk.h"
#include "../virtio_gpu.h"

/* 5x7 glyphs for ASCII 32..95, one byte per row, bit 4 = leftmost. */
static const uint8_t font[64][7] = {
    {0x00,0x00,0x00,0x00,0x00,0x00,0x00}, /*   */
    {0x04,0x04,0x04,0x04,0x04,0x00,0x04}, /* ! */
    {0x0a,0x0a,0x00,0x00,0x00,0x00,0x00}, /* " */
    {0x0a,0x1f,0x0a,0x0a,0x0a,0x1f,0x0a}, /* # */
    {0x04,0x0f,0x14,0x0e,0x05,0x1e,0x04}, /* $ */
    {0x19,0x1a,0x04,0x04,0x08,0x16,0x06}, /* % */
    {0x0c,0x12,0x0c,0x08,0x15,0x12,0x0d}, /* & */
    {0x04,0x04,0x00,0x00,0x00,0x00,0x00}, /* ' */
    {0x02,0x04,0x08,0x08,0x08,0x04,0x02}, /* ( */
    {0x08,0x04,0x02,0x02,0x02,0x04,0x08}, /* ) */
    {0x00,0x0a,0x04,0x1f,0x04,0x0a,0x00}, /* star */
    {0x00,0x04,0x04,0x1f,0x04,0x04,0x00}, /* + */
    {0x00,0x00,0x00,0x00,0x06,0x04,0x08}, /* , */
    {0x00,0x00,0x00,0x1f,0x00,0x00,0x00}, /* - */
    {0x00,0x00,0x00,0x00,0x00,0x0c,0x0c}, /* . */
    {0x01,0x02,0x02,0x04,0x08,0x08,0x10}, /* slash */
    {0x0e,0x11,0x13,0x15,0x19,0x11,0x0e}, /* 0 */
    {0x04,0x0c,0x04,0x04,0x04,0x04,0x0e}, /* 1 */
    {0x0e,0x11,0x01,0x02,0x04,0x08,0x1f}, /* 2 */
    {0x1f,0x02,0x04,0x02,0x01,0x11,0x0e}, /* 3 */
    {0x02,0x06,0x0a,0x12,0x1f,0x02,0x02}, /* 4 */
    {0x1f,0x10,0x1e,0x01,0x01,0x11,0x0e}, /* 5 */
    {0x06,0x08,0x10,0x1e,0x11,0x11,0x0e}, /* 6 */
    {0x1f,0x01,0x02,0x04,0x08,0x08,0x08}, /* 7 */
    {0x0e,0x11,0x11,0x0e,0x11,0x11,0x0e}, /* 8 */
    {0x0e,0x11,0x11,0x0f,0x01,0x02,0x0c}, /* 9 */
    {0x00,0x0c,0x0c,0x00,0x0c,0x0c,0x00}, /* : */
    {0x00,0x0c,0x0c,0x00,0x0c,0x04,0x08}, /* ; */
    {0x02,0x04,0x08,0x10,0x08,0x04,0x02}, /* < */
    {0x00,0x00,0x1f,0x00,0x1f,0x00,0x00}, /* = */
    {0x08,0x04,0x02,0x01,0x02,0x04,0x08}, /* > */
    {0x0e,0x11,0x01,0x02,0x04,0x00,0x04}, /* ? */
    {0x0e,0x11,0x17,0x15,0x17,0x10,0x0e}, /* @ */
    {0x0e,0x11,0x11,0x1f,0x11,0x11,0x11}, /* A */
    {0x1e,0x11,0x11,0x1e,0x11,0x11,0x1e}, /* B */
    {0x0e,0x11,0x10,0x10,0x10,0x11,0x0e}, /* C */
    {0x1c,0x12,0x11,0x11,0x11,0x12,0x1c}, /* D */
    {0x1f,0x10,0x10,0x1e,0x10,0x10,0x1f}, /* E */
    {0x1f,0x10,0x10,0x1e,0x10,0x10,0x10}, /* F */
    {0x0e,0x11,0x10,0x17,0x11,0x11,0x0f}, /* G */
    {0x11,0x11,0x11,0x1f,0x11,0x11,0x11}, /* H */
    {0x0e,0x04,0x04,0x04,0x04,0x04,0x0e}, /* I */
    {0x07,0x02,0x02,0x02,0x02,0x12,0x0c}, /* J */
    {0x11,0x12,0x14,0x18,0x14,0x12,0x11}, /* K */
    {0x10,0x10,0x10,0x10,0x10,0x10,0x1f}, /* L */
    {0x11,0x1b,0x15,0x15,0x11,0x11,0x11}, /* M */
    {0x11,0x11,0x19,0x15,0x13,0x11,0x11}, /* N */
    {0x0e,0x11,0x11,0x11,0x11,0x11,0x0e}, /* O */
    {0x1e,0x11,0x11,0x1e,0x10,0x10,0x10}, /* P */
    {0x0e,0x11,0x11,0x11,0x15,0x12,0x0d}, /* Q */
    {0x1e,0x11,0x11,0x1e,0x14,0x12,0x11}, /* R */
    {0x0f,0x10,0x10,0x0e,0x01,0x01,0x1e}, /* S */
    {0x1f,0x04,0x04,0x04,0x04,0x04,0x04}, /* T */
    {0x11,0x11,0x11,0x11,0x11,0x11,0x0e}, /* U */
    {0x11,0x11,0x0a,0x0a,0x0a,0x04,0x04}, /* V */
    {0x11,0x11,0x11,0x15,0x15,0x15,0x0a}, /* W */
    {0x11,0x11,0x0a,0x04,0x0a,0x11,0x11}, /* X */
    {0x11,0x11,0x0a,0x04,0x04,0x04,0x04}, /* Y */
    {0x1f,0x01,0x02,0x04,0x08,0x10,0x1f}, /* Z */
    {0x0e,0x08,0x08,0x08,0x08,0x08,0x0e}, /* [ */
    {0x10,0x08,0x08,0x04,0x02,0x02,0x01}, /* backslash */
    {0x0e,0x02,0x02,0x02,0x02,0x02,0x0e}, /* ] */
    {0x04,0x0a,0x11,0x00,0x00,0x00,0x00}, /* ^ */
    {0x00,0x00,0x00,0x00,0x00,0x00,0x1f}, /* _ */
};

static virtio_gpu gpu;
static virtio_gpu_fb fb;

/* Colours are 0xRRGGBB here. The framebuffer holds B8G8R8X8 pixels: blue,
   green, red, unused at increasing addresses, so a pixel's 32-bit word
   differs between little- and big-endian CPUs; virtio_gpu_rgb makes the
   word, and reading a pixel back goes by its bytes. */
static void px(int x, int y, uint32_t c)
{
    if (x >= 0 && y >= 0 && (uint32_t)x < fb.width && (uint32_t)y < fb.height)
        ((uint32_t *)(void *)fb.pixels)[(uint32_t)y * fb.width + (uint32_t)x] =
            virtio_gpu_rgb(fb.format, c >> 16, (c >> 8) & 255, c & 255);
}

static uint32_t px_at(int x, int y)
{
    const uint8_t *p = fb.pixels + ((size_t)y * fb.width + (size_t)x) * 4u;
    return (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint32_t blend(uint32_t a, uint32_t b, uint32_t t)   /* t in 0..256 */
{
    uint32_t r = (((a >> 16) & 255) * (256 - t) + ((b >> 16) & 255) * t) >> 8;
    uint32_t g = (((a >> 8) & 255) * (256 - t) + ((b >> 8) & 255) * t) >> 8;
    uint32_t bl = ((a & 255) * (256 - t) + (b & 255) * t) >> 8;
    return r << 16 | g << 8 | bl;
}

static void text(int x, int y, int scale, uint32_t c, const char *s)
{
    for (; *s; s++, x += 6 * scale) {
        int ch = *s >= 'a' && *s <= 'z' ? *s - 32 : *s, row, col;
        if (ch < 32 || ch > 95) ch = '?';
        for (row = 0; row < 7; row++)
            for (col = 0; col < 5; col++)
                if (font[ch - 32][row] & (0x10 >> col)) {
                    int dx, dy;
                    for (dy = 0; dy < scale; dy++)
                        for (dx = 0; dx < scale; dx++) px(x + col * scale + dx, y + row * scale + dy, c);
                }
    }
}

static void disc(int cx, int cy, int r, uint32_t c, uint32_t alpha)
{
    int x, y;
    for (y = -r; y <= r; y++)
        for (x = -r; x <= r; x++)
            if (x * x + y * y <= r * r && cx + x >= 0 && cy + y >= 0 && (uint32_t)(cx + x) < fb.width &&
                (uint32_t)(cy + y) < fb.height)
                px(cx + x, cy + y, blend(px_at(cx + x, cy + y), c, alpha));
}

static void box(int x0, int y0, int w, int h, uint32_t c, uint32_t alpha)
{
    int x, y;
    for (y = y0; y < y0 + h; y++)
        for (x = x0; x < x0 + w; x++)
            if (x >= 0 && y >= 0 && (uint32_t)x < fb.width && (uint32_t)y < fb.height)
                px(x, y, blend(px_at(x, y), c, alpha));
}

static char *fmt_u(char *o, uint64_t v)
{
    char t[24];
    int n = 0;
    do t[n++] = (char)('0' + v % 10); while (v /= 10);
    while (n) *o++ = t[--n];
    *o = 0;
    return o;
}

static void draw(const char *disk_line, const char *msg)
{
    uint32_t x, y, w = fb.width, h = fb.height;
    char line[96], *o;
    for (y = 0; y < h; y++)   /* night-blue to teal, with a diagonal sheen */
        for (x = 0; x < w; x++) {
            uint32_t t = (y * 256) / h, s = ((x + y) * 64) / (w + h);
            px((int)x, (int)y, blend(blend(0x101838, 0x0f6b73, t), 0xffffff, s / 4));
        }
    disc((int)(w * 3 / 4), (int)(h / 3), (int)(h / 5), 0xffb347, 200);
    disc((int)(w * 3 / 4 + h / 8), (int)(h / 3 + h / 10), (int)(h / 7), 0xff5e7e, 150);
    disc((int)(w * 3 / 5), (int)(h / 2), (int)(h / 9), 0x7ee8fa, 160);
    box(40, (int)(h - 210), (int)(w - 80), 170, 0x000000, 110);
    text(40, 50, 8, 0xffffff, "VIRTIO.H");
    text(44, 130, 3, 0xd0f0ff, "ONE HEADER. EVERY VIRTIO DEVICE.");
    o = line;
    memcpy(o, "ARCH ", 5), o += 5;
    memcpy(o, port_arch(), strlen(port_arch())), o += strlen(port_arch());
    memcpy(o, "   SCREEN ", 10), o += 10;
    o = fmt_u(o, w), *o++ = 'X', o = fmt_u(o, h);
    text(60, (int)(h - 190), 3, 0xffe08a, line);
    text(60, (int)(h - 150), 3, 0xffffff, disk_line);
    text(60, (int)(h - 110), 3, 0x9dffb0, msg);
    text(60, (int)(h - 70), 2, 0xb0b0c0, "BLOCK  NET  INPUT  GPU  -  MMIO + PCI  -  SPLIT + PACKED");
}

int main(void)
{
    static virtio_blk disk;
    static uint8_t sector[4096];
    virtio_device dev;
    uint32_t i;
    char disk_line[96] = "NO DISK", msg[64] = "", serial[21] = "", *o;
    virtio_result r;
    port_pci_setup();

    /* The disk: identity, size, first sector. */
    if (port_find_devices(VIRTIO_DEVICE_BLOCK, &dev, 1) == 1) {
        if ((r = virtio_blk_init(&disk, &dev, 0)) == VIRTIO_OK) {
            virtio_blk_get_id(&disk, serial);
            port_printf("disk: serial \"%s\", %llu sectors (%llu KiB), %u-byte blocks%s\n", serial,
                        (unsigned long long)disk.info.capacity, (unsigned long long)disk.info.capacity / 2,
                        disk.info.block_size, disk.info.read_only ? ", read-only" : "");
            r = virtio_blk_read(&disk, 0, sector, disk.info.block_size);
            for (i = 0; r == VIRTIO_OK && i < sizeof msg - 1 && sector[i] >= 32 && sector[i] < 127; i++) msg[i] = (char)sector[i];
            port_printf("disk: first sector says \"%s\"\n", msg);
            o = disk_line;
            memcpy(o, "DISK ", 5), o += 5;
            for (i = 0; serial[i] && i < 20; i++) *o++ = serial[i];
            *o++ = ' ';
            o = fmt_u(o, disk.info.capacity / 2048);
            memcpy(o, " MIB", 5);
        } else {
            port_printf("disk: %s\n", virtio_result_str(r));
        }
    }

    /* The screen. */
    if (port_find_devices(VIRTIO_DEVICE_GPU, &dev, 1) != 1) {
        port_printf("no gpu: text only\n");
        return 0;
    }
    if ((r = virtio_gpu_init(&gpu, &dev, 0)) != VIRTIO_OK ||
        (r = virtio_gpu_fb_create(&gpu, &fb, gpu.outputs[0].width, gpu.outputs[0].height, VIRTIO_GPU_PIX_B8G8R8X8, 0)) != VIRTIO_OK ||
        (r = virtio_gpu_set_scanout(&gpu, 0, &fb)) != VIRTIO_OK) {
        port_printf("gpu: %s\n", virtio_result_str(r));
        return 1;
    }
    draw(disk_line, msg);
    r = virtio_gpu_flush(&gpu, &fb, 0, 0, fb.width, fb.height);
    port_printf("gpu: %ux%u drawn (%s); press q to quit\n", fb.width, fb.height, virtio_result_str(r));
    while (port_getc() != 'q') {}
    return 0;
}
