/* SPDX-License-Identifier: MIT OR Unlicense */
#if defined(VIRTIO_IMPLEMENTATION) && !defined(VIRTIO_GPU_IMPLEMENTATION)
#define VIRTIO_GPU_IMPLEMENTATION
#endif
#include "virtio.h"
#ifndef VIRTIO_GPU_H
#define VIRTIO_GPU_H
/*
virtio_gpu.h - v0.3.11 - VirtIO 2D GPU driver for virtio.h - MIT OR Unlicense

QUICK START

    #define VIRTIO_IMPLEMENTATION      // in one file
    #include "virtio_gpu.h"

    virtio_device dev;                 // from virtio_mmio_probe / virtio_pci_probe
    static virtio_gpu gpu;             // zero-filled: init refuses a running one
    virtio_gpu_fb fb;
    if (virtio_gpu_init(&gpu, &dev, NULL) == VIRTIO_OK &&
        virtio_gpu_fb_create(&gpu, &fb, gpu.outputs[0].width, gpu.outputs[0].height,
                             VIRTIO_GPU_PIX_B8G8R8X8, NULL) == VIRTIO_OK &&
        virtio_gpu_set_scanout(&gpu, 0, &fb) == VIRTIO_OK) {
        // a red dot at (10, 10), right on either byte order
        virtio_gpu_put_rgb(fb.pixels + 4 * (10 * fb.width + 10), fb.format, 255, 0, 0);
        virtio_gpu_flush(&gpu, &fb, 0, 0, fb.width, fb.height);
    }

CONFIGURATION

    macro                        default   scope
    VIRTIO_GPU_IMPLEMENTATION    -         emit this driver (VIRTIO_IMPLEMENTATION implies it)

FRAMEBUFFERS

A framebuffer is a host 2D resource plus guest memory backing it. The
backing is either allocated by the driver (device-visible DMA memory) or
supplied by the caller; either way it is described to the device as a
scatter list built with virtio_dma_map, so memory that is only virtually
contiguous works when the platform's dma_map hook translates page by page.
The backing stays attached until virtio_gpu_fb_destroy: keep drawing into
fb.pixels and call virtio_gpu_flush for the damaged rectangle, which
transfers it to the host resource and flushes it to every scanout showing
the framebuffer. Platforms that bounce DMA must let the driver allocate
(pixels = NULL). All formats have 4 bytes per pixel; stride = width * 4.

PIXELS

A format names the order of its four bytes in memory: B8G8R8X8 is blue,
green, red, unused, at increasing addresses, whatever the CPU. So the
32-bit word a pixel holds depends on the CPU's byte order (0x00ff0000 is
red in B8G8R8X8 only on a little-endian CPU). virtio_gpu_rgb(format, r,
g, b) gives the word to store for a colour, right on either byte order
(alpha or X = 255); virtio_gpu_put_rgb stores one pixel as four bytes.

COMMANDS

Every control command waits for the device's response (bounded by the
platform timeout) and checks its type; an error response becomes an error
code. gpu.last_status keeps the response type behind the last call's
result: its first error response, else its last response (0x1100
OK_NODATA, 0x1101 OK_DISPLAY_INFO, 0x1104 OK_EDID, 0x1200.. errors; 0
before the first command). Transfer and flush are
queued back to back and answered together: the device processes the
control queue in order (the same assumption Linux's driver makes). The
cursor image is transferred with a fence before the cursor queue uses it.
A wait that times out (or a broken queue) resets the device, which still
owned the request and response buffers; the GPU then answers
VIRTIO_ERR_STATE until virtio_gpu_init() is called again
(virtio_gpu_fb_destroy still releases framebuffers, virtio_gpu_shutdown
still works). If that reset does not complete either, the device may still
use every buffer it was given: framebuffers destroyed from then on are
not freed or unmapped (their memory is leaked), nor is the driver's own
DMA memory at shutdown, which returns VIRTIO_ERR_TIMEOUT. The cursor
queue has no waits: a device that breaks its protocol there (completes a
buffer it was never given) gets VIRTIO_ERR_DEVICE from the next cursor
call and VIRTIO_ERR_STATE from every later one, until virtio_gpu_shutdown
and virtio_gpu_init; the control queue keeps working.

Commands, responses and the configuration fields are little-endian on
every transport: virtio-gpu has no legacy interface (virtio 1.2 5.7), and
devices reachable over a legacy transport (QEMU's virtio-mmio in legacy
mode) still use its 1.0 layout.

DISPLAY CHANGES

virtio_gpu_refresh reads the configuration's event bits; when the display
configuration changed it acknowledges the event, re-reads gpu.outputs and
reports VIRTIO_GPU_CHANGED_DISPLAY (if re-reading fails, the next refresh
tries again). Resize by destroying the framebuffer and creating one of the
new size.

INTERRUPTS

Every command waits for its own response, so the control and cursor
queues need no interrupts. The one interrupt worth taking is the
configuration change: virtio_device_isr(&gpu.dev, &isr) reports
VIRTIO_ISR_CONFIG, then call virtio_gpu_refresh (not from the interrupt
handler: it waits for a GET_DISPLAY_INFO response).

MEMORY

From dma_alloc: at init, given back at shutdown; per framebuffer, given
back by virtio_gpu_fb_destroy.

    what                          size                    align  kind
    commands and responses        4096                    64     DMA
    rings (virtio.h)              control ring of 8 entries, cursor ring
                                  of 16 (see virtio_queue_init)
    control ring's indirect       8 x 3 x 16 = 384        16     DMA
      tables (if offered)         and their index, 16     8      PRIVATE
    per framebuffer:
      pixels (pixels == NULL)     width x height x 4      4096   DMA
      backing entries             16 per piece            16     DMA
      mapping record              16 per piece            8      PRIVATE
    cursor image (first           a 64 x 64 framebuffer:
      virtio_gpu_cursor_set)      16384 + 16 + 16

At init the driver takes 5 280 bytes in 7 allocations with packed rings,
5 532 with split ones (shadows of 16 bytes per entry, an index of 16; on
32-bit CPUs 12 each: 100 bytes less; test_gpu checks them). A framebuffer
the driver allocates is one piece, so the only allocations above 4096
bytes are the pixels the caller asks for: 1280 x 800 is 4000 KiB,
1024 x 768 is 3 MiB, and the 64 x 64 cursor 16 KiB. Pixels in the caller's memory are mapped
page by page: up to width x height x 4 / 4096 + 2 pieces (16 KiB of
entries and 16 KiB of records for 1280 x 800).

LIMITS

2D only (no virgl, no blobs). Up to 16 scanouts. One cursor image at a
time (64x64, B8G8R8A8). A control queue of at least 4 entries (3 with
INDIRECT_DESC): a device that offers less is refused at init.

license: end of file (virtio.h)
*/

#if !defined(VIRTIO_KIT_VERSION) || VIRTIO_KIT_VERSION < 2 || VIRTIO_KIT_COMPAT > 2
#error "virtio_gpu.h needs the virtio.h driver kit 2"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Pixel formats (byte order in memory), all 4 bytes per pixel. */
#define VIRTIO_GPU_PIX_B8G8R8A8 1
#define VIRTIO_GPU_PIX_B8G8R8X8 2
#define VIRTIO_GPU_PIX_A8R8G8B8 3
#define VIRTIO_GPU_PIX_X8R8G8B8 4
#define VIRTIO_GPU_PIX_R8G8B8A8 67
#define VIRTIO_GPU_PIX_X8B8G8R8 68
#define VIRTIO_GPU_PIX_A8B8G8R8 121
#define VIRTIO_GPU_PIX_R8G8B8X8 134

#define VIRTIO_GPU_OUTPUTS 16        /* scanouts a device can have at most */

/* virtio_gpu_refresh: what changed */
#define VIRTIO_GPU_CHANGED_DISPLAY 1u   /* gpu->outputs re-read after a display change */
#define VIRTIO_GPU_CURSOR_SIZE 64    /* cursor images are 64 x 64 */

/* One scanout as the device reports it (GET_DISPLAY_INFO). */
typedef struct virtio_gpu_output {
    uint32_t enabled;
    uint32_t x, y, width, height;   /* preferred position and size */
    uint32_t flags;
} virtio_gpu_output;

/* A display mode decoded from EDID. */
typedef struct virtio_gpu_mode {
    uint32_t width, height;
    uint32_t refresh_hz;            /* 0 if the timing does not say */
    uint32_t pixel_clock_khz;
} virtio_gpu_mode;

/* A framebuffer. Readable: resource_id, width, height, format, stride,
   bytes, pixels. The rest is private. */
typedef struct virtio_gpu_fb {
    uint32_t resource_id;
    uint32_t width, height, format, stride;
    size_t bytes;
    uint8_t *pixels;
    struct {
        uint32_t magic;
        uint32_t owned;             /* pixels came from dma_alloc */
        uint64_t pixels_dev;
        unsigned char *entries;     /* DMA: mem entries for ATTACH_BACKING */
        uint64_t entries_dev;
        size_t entries_bytes;
        virtio_sg *sg;              /* private: the mapping, for unmap */
        uint32_t nsg, maxsg;
    } priv;
} virtio_gpu_fb;

/* Driver choices. Defaults (all zero):
     device    automatic ring format, indirect and event index if offered
     no_edid   nonzero: do not negotiate EDID */
typedef struct virtio_gpu_options {
    virtio_device_options device;
    uint32_t no_edid;
} virtio_gpu_options;

/* A GPU. Caller-owned, must not move after init. Readable: dev, ctrlq,
   cursorq, num_scanouts, outputs (refreshed by virtio_gpu_display_info and
   virtio_gpu_refresh), edid (EDID negotiated), last_status (response type
   behind the last call's result, see COMMANDS). The rest is private. */
typedef struct virtio_gpu {
    virtio_device dev;
    virtio_queue ctrlq, cursorq;
    uint32_t num_scanouts;
    virtio_gpu_output outputs[VIRTIO_GPU_OUTPUTS];
    uint32_t edid;
    uint32_t last_status;
    struct {
        uint32_t magic;
        uint32_t next_id;           /* next resource id to hand out */
        unsigned char *cmd;         /* DMA: requests and responses */
        uint64_t cmd_dev;
        uint64_t fence;
        uint32_t scanout_res[VIRTIO_GPU_OUTPUTS];
        uint32_t broken;            /* a wait failed: 1 the device was reset, 2 the reset did not complete */
        uint32_t display_pending;   /* a display event was acknowledged, outputs not yet re-read */
        uint32_t resp_len;          /* used length of the last response */
        virtio_gpu_fb cursor;       /* cursor image resource */
        uint32_t cursor_busy;       /* cursor command slots the device holds (bit mask) */
    } priv;
} virtio_gpu;

/* Initialise a GPU on a probed device (copied into gpu->dev); gpu must be
   zero-filled or shut down (a running one is refused): negotiate (EDID if
   offered), set up the control and cursor queues, set DRIVER_OK,
   read the display information into gpu->outputs.
   Returns VIRTIO_OK; VIRTIO_ERR_INVALID_ARG (NULL); VIRTIO_ERR_STATE (gpu
   is initialised and not shut down: nothing is changed);
   VIRTIO_ERR_NOT_FOUND (not a GPU); VIRTIO_ERR_DEVICE (0 or more than 16
   scanouts; a device without the queues or configuration its type
   requires: no cursor queue, a configuration window shorter than the
   fields, a queue live right after the reset; a control queue too small
   for a command: fewer than 4 entries, or 3 with INDIRECT_DESC);
   VIRTIO_ERR_NO_MEMORY; the errors of virtio_device_begin and of the
   GET_DISPLAY_INFO command.
   Context: blocks (bounded); allocates through dma_alloc (see MEMORY). */
VIRTIO_API virtio_result virtio_gpu_init(virtio_gpu *gpu, const virtio_device *dev, const virtio_gpu_options *o);

/* Reset the device and free the driver's memory (framebuffers the caller
   still holds must not be used afterwards; free them first with
   virtio_gpu_fb_destroy). Returns VIRTIO_OK; VIRTIO_ERR_TIMEOUT (the reset
   did not complete: the driver's DMA memory is leaked, see COMMANDS; gpu
   is shut down anyway); VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_gpu_shutdown(virtio_gpu *gpu);

/* Re-read the scanouts into gpu->outputs (GET_DISPLAY_INFO).
   Returns VIRTIO_OK or a command error (see COMMANDS). */
VIRTIO_API virtio_result virtio_gpu_display_info(virtio_gpu *gpu);

#define VIRTIO_GPU_EDID_MAX 1024   /* the largest EDID blob GET_EDID returns */

/* Read the EDID blob of a scanout (GET_EDID). out: buf[0..*size) (size
   may be NULL). The blob is at most VIRTIO_GPU_EDID_MAX (1024) bytes, a
   buffer that large always suffices: QEMU 7.2 reports 1024 whatever the
   EDID's own length (128 bytes per block).
   Returns VIRTIO_OK; VIRTIO_ERR_UNSUPPORTED (no EDID feature);
   VIRTIO_ERR_INVALID_ARG (unknown scanout, NULL); VIRTIO_ERR_TOO_BIG
   (blob larger than cap); a command error. */
VIRTIO_API virtio_result virtio_gpu_get_edid(virtio_gpu *gpu, uint32_t scanout, uint8_t *buf, uint32_t cap,
                                             uint32_t *size);

/* Decode the preferred mode of an EDID blob: the base block's first
   detailed timing; if that slot holds none (a large screen: QEMU leaves
   it empty from a 655.36 MHz pixel clock or 4096 pixels up), the
   preferred (else the first) Type I timing of a DisplayID extension.
   Returns VIRTIO_OK; VIRTIO_ERR_INVALID_ARG (NULL, shorter than 128 bytes,
   bad header or checksum, no detailed timing). */
VIRTIO_API virtio_result virtio_gpu_edid_mode(const uint8_t *edid, uint32_t size, virtio_gpu_mode *mode);

/* Create a framebuffer: a 2D resource of width x height in `format` with
   backing memory attached. pixels NULL: the driver allocates (zeroed);
   else the caller's memory of at least width * height * 4 bytes, which
   must stay valid until virtio_gpu_fb_destroy.
   Returns VIRTIO_OK; VIRTIO_ERR_INVALID_ARG (NULL, zero size, unknown
   format, larger than 16384 x 16384); VIRTIO_ERR_NO_MEMORY (dma_alloc
   failed, or the device answered OUT_OF_MEMORY: see last_status); a
   command error (the resource is released again). *fb is written only on
   VIRTIO_OK. */
VIRTIO_API virtio_result virtio_gpu_fb_create(virtio_gpu *gpu, virtio_gpu_fb *fb, uint32_t width, uint32_t height,
                                              uint32_t format, void *pixels);

/* Detach and release a framebuffer; scanouts showing it are disabled
   first. Returns VIRTIO_OK, VIRTIO_ERR_INVALID_ARG, VIRTIO_ERR_STATE (not
   initialised; or broken by a timeout, when the memory is released
   anyway), or a command error (the memory is released anyway). */
VIRTIO_API virtio_result virtio_gpu_fb_destroy(virtio_gpu *gpu, virtio_gpu_fb *fb);

/* Show fb on scanout (the whole framebuffer from its top-left corner).
   Returns VIRTIO_OK; VIRTIO_ERR_INVALID_ARG (unknown scanout, NULL or
   released fb); a command error. */
VIRTIO_API virtio_result virtio_gpu_set_scanout(virtio_gpu *gpu, uint32_t scanout, const virtio_gpu_fb *fb);

/* Turn a scanout off. Returns as virtio_gpu_set_scanout. */
VIRTIO_API virtio_result virtio_gpu_disable_scanout(virtio_gpu *gpu, uint32_t scanout);

/* Send the rectangle (x, y, w, h) of fb to the host and update every
   scanout showing it (TRANSFER_TO_HOST_2D + RESOURCE_FLUSH).
   Returns VIRTIO_OK; VIRTIO_ERR_INVALID_ARG (NULL, zero width or height);
   VIRTIO_ERR_RANGE (rectangle not inside the framebuffer); a command
   error. */
VIRTIO_API virtio_result virtio_gpu_flush(virtio_gpu *gpu, const virtio_gpu_fb *fb, uint32_t x, uint32_t y,
                                          uint32_t w, uint32_t h);

/* Set the cursor image (64 x 64 pixels, B8G8R8A8, row-major) with its
   hot spot, and show it at (x, y) on scanout. Returns VIRTIO_OK;
   VIRTIO_ERR_INVALID_ARG; VIRTIO_ERR_NO_MEMORY; VIRTIO_ERR_NO_SPACE (the
   device still holds every cursor command buffer: try again later);
   VIRTIO_ERR_DEVICE (the device broke the cursor queue's protocol, e.g.
   completed a buffer it was never given; later cursor calls return
   VIRTIO_ERR_STATE until virtio_gpu_shutdown and virtio_gpu_init); a
   command error. */
VIRTIO_API virtio_result virtio_gpu_cursor_set(virtio_gpu *gpu, uint32_t scanout, const uint32_t *image,
                                               uint32_t hot_x, uint32_t hot_y, uint32_t x, uint32_t y);

/* Move the cursor. Returns VIRTIO_OK, VIRTIO_ERR_INVALID_ARG,
   VIRTIO_ERR_STATE (no cursor image set, the GPU is not running, or the
   cursor queue is broken), VIRTIO_ERR_NO_SPACE (the device still holds
   every cursor command buffer: try again later), VIRTIO_ERR_DEVICE (the
   device broke the cursor queue, as for virtio_gpu_cursor_set).
   Context: never blocks. */
VIRTIO_API virtio_result virtio_gpu_cursor_move(virtio_gpu *gpu, uint32_t scanout, uint32_t x, uint32_t y);

/* Hide the cursor. Returns as virtio_gpu_cursor_move (no cursor image
   is needed). */
VIRTIO_API virtio_result virtio_gpu_cursor_hide(virtio_gpu *gpu, uint32_t scanout);

/* Check for display configuration changes (see DISPLAY CHANGES).
   out: changed (VIRTIO_GPU_CHANGED_* bits, 0 = nothing; may be NULL).
   On failure gpu->outputs is left as it was.
   Returns VIRTIO_OK, VIRTIO_ERR_STATE, VIRTIO_ERR_DEVICE (configuration
   never settled), or a command error. Context: blocks for one command
   (bounded) when the display changed. */
VIRTIO_API virtio_result virtio_gpu_refresh(virtio_gpu *gpu, uint32_t *changed);

/* Store colour (r, g, b), alpha or X = 255, as the four bytes of one
   pixel of `format` at px (any alignment). Returns VIRTIO_OK or
   VIRTIO_ERR_INVALID_ARG (NULL, unknown format). Inline: it is called
   per pixel. */
static inline virtio_result virtio_gpu_put_rgb(void *px, uint32_t format, uint32_t r, uint32_t g, uint32_t b)
{
    unsigned char *p = (unsigned char *)px;
    unsigned ri, gi, bi, ai;
    switch (format) {
    case VIRTIO_GPU_PIX_B8G8R8A8: case VIRTIO_GPU_PIX_B8G8R8X8: bi = 0, gi = 1, ri = 2, ai = 3; break;
    case VIRTIO_GPU_PIX_A8R8G8B8: case VIRTIO_GPU_PIX_X8R8G8B8: ai = 0, ri = 1, gi = 2, bi = 3; break;
    case VIRTIO_GPU_PIX_R8G8B8A8: case VIRTIO_GPU_PIX_R8G8B8X8: ri = 0, gi = 1, bi = 2, ai = 3; break;
    case VIRTIO_GPU_PIX_A8B8G8R8: case VIRTIO_GPU_PIX_X8B8G8R8: ai = 0, bi = 1, gi = 2, ri = 3; break;
    default: return VIRTIO_ERR_INVALID_ARG;
    }
    if (!p) return VIRTIO_ERR_INVALID_ARG;
    p[ri] = (unsigned char)r;
    p[gi] = (unsigned char)g;
    p[bi] = (unsigned char)b;
    p[ai] = 255;   /* where the format has no alpha, X: the device ignores it */
    return VIRTIO_OK;
}

/* The 32-bit value to store (as a uint32_t, in the CPU's byte order) for
   colour (r, g, b) in a framebuffer of `format`, with alpha or X = 255;
   0 for an unknown format. Right on little- and big-endian CPUs: the
   word is built from the format's byte order in memory (see PIXELS). */
static inline uint32_t virtio_gpu_rgb(uint32_t format, uint32_t r, uint32_t g, uint32_t b)
{
    unsigned char px[4];
    uint32_t v = 0;
    /* The bytes in memory order, read back as the CPU reads a word. */
    if (virtio_gpu_put_rgb(px, format, r, g, b) == VIRTIO_OK) VIRTIO_MEMCPY(&v, px, 4);
    return v;
}

#ifdef __cplusplus
}
#endif
#endif /* VIRTIO_GPU_H */

/* ==================================================================== */
/* Implementation                                                        */
/* ==================================================================== */
#if defined(VIRTIO_GPU_IMPLEMENTATION) && !defined(VIRTIO__GPU_DONE)
#define VIRTIO__GPU_DONE

#define VIRTIO__GPU_F_EDID 1

/* Configuration (virtio 1.2 5.7.4). */
#define VIRTIO__GPU_CFG_EVENTS_READ 0
#define VIRTIO__GPU_CFG_EVENTS_CLEAR 4
#define VIRTIO__GPU_CFG_NUM_SCANOUTS 8
#define VIRTIO__GPU_EVENT_DISPLAY 1u

/* Commands and responses (virtio 1.2 5.7.6.7). */
#define VIRTIO__GPU_CMD_GET_DISPLAY_INFO 0x0100u
#define VIRTIO__GPU_CMD_RESOURCE_CREATE_2D 0x0101u
#define VIRTIO__GPU_CMD_RESOURCE_UNREF 0x0102u
#define VIRTIO__GPU_CMD_SET_SCANOUT 0x0103u
#define VIRTIO__GPU_CMD_RESOURCE_FLUSH 0x0104u
#define VIRTIO__GPU_CMD_TRANSFER_TO_HOST_2D 0x0105u
#define VIRTIO__GPU_CMD_RESOURCE_ATTACH_BACKING 0x0106u
#define VIRTIO__GPU_CMD_RESOURCE_DETACH_BACKING 0x0107u
#define VIRTIO__GPU_CMD_GET_EDID 0x010au
#define VIRTIO__GPU_CMD_UPDATE_CURSOR 0x0300u
#define VIRTIO__GPU_CMD_MOVE_CURSOR 0x0301u
#define VIRTIO__GPU_RESP_OK_NODATA 0x1100u
#define VIRTIO__GPU_RESP_OK_DISPLAY_INFO 0x1101u
#define VIRTIO__GPU_RESP_OK_EDID 0x1104u
#define VIRTIO__GPU_RESP_ERR_OUT_OF_MEMORY 0x1201u
#define VIRTIO__GPU_FLAG_FENCE 1u

/* Sizes: control header (type, flags, fence_id, ctx_id, ring_idx, pad),
   display info response (header + 16 x (rect, enabled, flags)), EDID
   response (header, size, pad, 1024 bytes), cursor command. */
#define VIRTIO__GPU_HDR 24u
#define VIRTIO__GPU_DISPLAY_INFO_BYTES (VIRTIO__GPU_HDR + 16u * 24u)
#define VIRTIO__GPU_EDID_BYTES (VIRTIO__GPU_HDR + 8u + 1024u)
#define VIRTIO__GPU_CURSOR_CMD 56u

/* Layout of the command area: two request/response pairs (transfer and
   flush go together), then cursor commands. */
#define VIRTIO__GPU_REQ(i) ((i) * 0x600u)
#define VIRTIO__GPU_RESP(i) ((i) * 0x600u + 0x100u)
#define VIRTIO__GPU_CURSOR_AT(i) (0xc00u + (i) * 64u)
#define VIRTIO__GPU_CURSOR_SLOTS 16u
#define VIRTIO__GPU_CMD_BYTES 0x1000u

#define VIRTIO__GPU_MAGIC 0x67707521u      /* "gpu!" */
#define VIRTIO__GPU_FB_MAGIC 0x66622121u   /* "fb!!" */
#define VIRTIO__GPU_MAX_DIM 16384u

static int virtio__gpu_ok(const virtio_gpu *g)
{
    return g && g->priv.magic == VIRTIO__GPU_MAGIC && !g->priv.broken;
}

/* virtio-gpu's wire values are little-endian on every transport (it is a
   1.0-only device type), unlike virtio_load/virtio_store, which follow a
   legacy transport's guest order. A little-endian CPU stores them as they
   are (one store, like virtio_store); others byte by byte. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static inline void virtio__gpu_put(unsigned char *b, uint64_t v, unsigned bytes)
{
    VIRTIO_MEMCPY(b, &v, bytes);   /* the low-order bytes come first */
}

static inline uint32_t virtio__gpu_get(const unsigned char *b, unsigned bytes)
{
    uint32_t v = 0;
    VIRTIO_MEMCPY(&v, b, bytes);
    return v;
}
#else
static inline void virtio__gpu_put(unsigned char *b, uint64_t v, unsigned bytes)
{
    unsigned i;
    for (i = 0; i < bytes; i++) b[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t virtio__gpu_get(const unsigned char *b, unsigned bytes)
{
    uint32_t v = 0;
    while (bytes--) v = v << 8 | b[bytes];
    return v;
}
#endif

/* A 32-bit configuration field, read whole (virtio 1.2 4.2.2.2). The
   field is little-endian on every transport (see COMMANDS), but a legacy
   transport shows it in the guest's order: there the value is stored back
   as the bytes lie in the device and read as little-endian. */
static virtio_result virtio__gpu_cfg(virtio_gpu *g, uint32_t off, uint32_t *v)
{
    unsigned char b[4];
    virtio_result r = virtio_config_read32(&g->dev, off, v);
    if (r != VIRTIO_OK || !g->dev.legacy) return r;
    virtio_store(&g->dev, b, *v, 4);
    *v = virtio__gpu_get(b, 4);
    return VIRTIO_OK;
}

/* Clear event bits v (events_clear at off), one 32-bit write; on a legacy
   transport the value whose guest-order bytes are v's little-endian ones. */
static virtio_result virtio__gpu_clear(virtio_gpu *g, uint32_t off, uint32_t v)
{
    unsigned char b[4];
    if (g->dev.legacy) {
        virtio__gpu_put(b, v, 4);
        v = (uint32_t)virtio_load(&g->dev, b, 4);
    }
    return virtio_config_write(&g->dev, off, 4, v);
}

static int virtio__gpu_format_ok(uint32_t f)
{
    return (f >= 1 && f <= 4) || f == 67 || f == 68 || f == 121 || f == 134;
}

/* Start request slot i: header with command type and flags. */
static unsigned char *virtio__gpu_req(virtio_gpu *g, uint32_t i, uint32_t type, uint32_t flags, uint32_t bytes)
{
    unsigned char *b = g->priv.cmd + VIRTIO__GPU_REQ(i);
    VIRTIO_MEMSET(b, 0, bytes);
    virtio__gpu_put(b, type, 4);
    virtio__gpu_put(b + 4, flags, 4);
    if (flags & VIRTIO__GPU_FLAG_FENCE) virtio__gpu_put(b + 8, ++g->priv.fence, 8);
    return b;
}

/* Queue request slot i (bytes long, plus an optional second readable
   piece) with its response buffer. */
static virtio_result virtio__gpu_queue(virtio_gpu *g, uint32_t i, uint32_t bytes, const virtio_sg *extra,
                                       uint32_t resp_bytes)
{
    virtio_sg sg[3];
    uint32_t n = 0;
    unsigned char *resp = g->priv.cmd + VIRTIO__GPU_RESP(i);
    if (g->priv.broken) return VIRTIO_ERR_STATE;   /* the device was reset */
    sg[n].addr = g->priv.cmd_dev + VIRTIO__GPU_REQ(i);
    sg[n++].len = bytes;
    if (extra) sg[n++] = *extra;
    sg[n].addr = g->priv.cmd_dev + VIRTIO__GPU_RESP(i);
    sg[n++].len = resp_bytes;
    VIRTIO_MEMSET(resp, 0, VIRTIO__GPU_HDR);
    return virtio_queue_add(&g->ctrlq, sg, n - 1, 1, resp);
}

/* Wait for `count` responses and check each against `want`. */
static virtio_result virtio__gpu_wait(virtio_gpu *g, uint32_t count, uint32_t want, uint32_t min_len)
{
    virtio_result first = VIRTIO_OK;
    while (count--) {
        void *cookie;
        uint32_t len, type;
        virtio_result r = virtio_queue_wait(&g->ctrlq, &cookie, &len);
        if (r != VIRTIO_OK) {
            /* Timeout or a broken queue: stop the device, it owns our
               buffers. If it does not stop, nothing it was given may be
               handed back (broken 2). */
            g->priv.broken = virtio_device_reset(&g->dev) == VIRTIO_OK ? 1u : 2u;
            return r;
        }
        type = virtio__gpu_get((const unsigned char *)cookie, 4);
        g->priv.resp_len = len;
        if (first == VIRTIO_OK) g->last_status = type;   /* the first error stays */
        if (len < VIRTIO__GPU_HDR) r = VIRTIO_ERR_DEVICE;
        else if (type == want && len >= min_len) r = VIRTIO_OK;
        else if (type >= 0x1200u && type <= 0x12ffu)
            r = type == VIRTIO__GPU_RESP_ERR_OUT_OF_MEMORY ? VIRTIO_ERR_NO_MEMORY : VIRTIO_ERR_IO;
        else r = VIRTIO_ERR_DEVICE;
        if (first == VIRTIO_OK) first = r;
    }
    return first;
}

/* One command: slot 0, no payload beyond `bytes`, NODATA response. */
static virtio_result virtio__gpu_simple(virtio_gpu *g, uint32_t bytes)
{
    virtio_result r = virtio__gpu_queue(g, 0, bytes, 0, VIRTIO__GPU_HDR);
    if (r != VIRTIO_OK) return r;
    virtio_queue_kick(&g->ctrlq);
    return virtio__gpu_wait(g, 1, VIRTIO__GPU_RESP_OK_NODATA, VIRTIO__GPU_HDR);
}

static void virtio__gpu_rect(unsigned char *p, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
    virtio__gpu_put(p, x, 4);
    virtio__gpu_put(p + 4, y, 4);
    virtio__gpu_put(p + 8, w, 4);
    virtio__gpu_put(p + 12, h, 4);
}

VIRTIO_API virtio_result virtio_gpu_display_info(virtio_gpu *gpu)
{
    unsigned char *resp;
    uint32_t i;
    virtio_result r;
    if (!gpu || !gpu->priv.cmd || gpu->priv.broken) return VIRTIO_ERR_STATE;
    virtio__gpu_req(gpu, 0, VIRTIO__GPU_CMD_GET_DISPLAY_INFO, 0, VIRTIO__GPU_HDR);
    if ((r = virtio__gpu_queue(gpu, 0, VIRTIO__GPU_HDR, 0, VIRTIO__GPU_DISPLAY_INFO_BYTES)) != VIRTIO_OK) return r;
    virtio_queue_kick(&gpu->ctrlq);
    r = virtio__gpu_wait(gpu, 1, VIRTIO__GPU_RESP_OK_DISPLAY_INFO, VIRTIO__GPU_DISPLAY_INFO_BYTES);
    if (r != VIRTIO_OK) return r;
    resp = gpu->priv.cmd + VIRTIO__GPU_RESP(0) + VIRTIO__GPU_HDR;
    for (i = 0; i < VIRTIO_GPU_OUTPUTS; i++) {
        unsigned char *m = resp + 24u * i;
        virtio_gpu_output *o = &gpu->outputs[i];
        o->x = virtio__gpu_get(m, 4);
        o->y = virtio__gpu_get(m + 4, 4);
        o->width = virtio__gpu_get(m + 8, 4);
        o->height = virtio__gpu_get(m + 12, 4);
        o->enabled = i < gpu->num_scanouts && virtio__gpu_get(m + 16, 4) != 0;
        o->flags = virtio__gpu_get(m + 20, 4);
    }
    return VIRTIO_OK;
}

/* Release a framebuffer (after the device let go of it), newest first
   (fb_create took the pixels, then sg, then the entries). If the device
   could not be reset (broken 2) it may still read the backing: then only
   the private mapping record goes back, the rest is leaked. */
static void virtio__gpu_fb_free(virtio_gpu *g, virtio_gpu_fb *fb)
{
    const virtio_platform *p = g->dev.platform;
    int device_done = g->priv.broken != 2;
    if (device_done && fb->priv.entries) virtio_free(p, fb->priv.entries, fb->priv.entries_bytes, VIRTIO_MEM_DMA);
    if (device_done && fb->priv.sg && !fb->priv.owned)
        virtio_dma_unmap(p, fb->pixels, VIRTIO_DMA_TO_DEVICE, fb->priv.sg, fb->priv.nsg);
    if (fb->priv.sg) virtio_free(p, fb->priv.sg, (size_t)fb->priv.maxsg * sizeof(virtio_sg), VIRTIO_MEM_PRIVATE);
    if (device_done && fb->priv.owned) virtio_free(p, fb->pixels, fb->bytes, VIRTIO_MEM_DMA);
    fb->priv.magic = 0;
    fb->priv.sg = 0;
    fb->priv.entries = 0;
}

/* Give back what init (and cursor_set) allocated, newest first; nothing
   the device was given when its reset did not complete. */
static void virtio__gpu_release(virtio_gpu *g, int device_memory)
{
    if (!device_memory) g->priv.broken = 2;
    if (g->priv.cursor.priv.magic == VIRTIO__GPU_FB_MAGIC) virtio__gpu_fb_free(g, &g->priv.cursor);
    if (device_memory) {
        if (g->priv.cmd) virtio_free(g->dev.platform, g->priv.cmd, VIRTIO__GPU_CMD_BYTES, VIRTIO_MEM_DMA);
        if (g->cursorq.dev) virtio_queue_destroy(&g->cursorq);
        if (g->ctrlq.dev) virtio_queue_destroy(&g->ctrlq);
    }
    g->priv.cmd = 0;
}

VIRTIO_API virtio_result virtio_gpu_init(virtio_gpu *gpu, const virtio_device *dev, const virtio_gpu_options *o)
{
    virtio_gpu_options def;
    virtio_queue_options qo;
    const virtio_platform *p;
    void *m;   /* (what virtio_alloc gives, before it is typed) */
    virtio_result r;
    if (!gpu || !dev) return VIRTIO_ERR_INVALID_ARG;
    if (gpu->priv.magic == VIRTIO__GPU_MAGIC) return VIRTIO_ERR_STATE;   /* running: shut it down first */
    if (dev->device_id != VIRTIO_DEVICE_GPU) return VIRTIO_ERR_NOT_FOUND;
    if (!o) {
        VIRTIO_ZERO(&def);
        o = &def;
    }
    VIRTIO_ZERO(gpu);
    gpu->dev = *dev;
    p = gpu->dev.platform;
    r = virtio_device_begin(&gpu->dev, o->no_edid ? 0 : VIRTIO_FEATURE_BIT(VIRTIO__GPU_F_EDID), &o->device);
    if (r != VIRTIO_OK) return r;
    gpu->edid = (uint32_t)virtio_device_has(&gpu->dev, VIRTIO__GPU_F_EDID);
    if ((r = virtio__gpu_cfg(gpu, VIRTIO__GPU_CFG_NUM_SCANOUTS, &gpu->num_scanouts)) != VIRTIO_OK) goto fail;
    if (gpu->num_scanouts == 0 || gpu->num_scanouts > VIRTIO_GPU_OUTPUTS) {
        r = VIRTIO_ERR_DEVICE;
        goto fail;
    }
    /* Control: at most two commands in flight (transfer and flush); an
       indirect table keeps a 3-descriptor command in one slot of a small
       ring. Cursor: one slot per command buffer. */
    VIRTIO_ZERO(&qo);
    qo.size = 8;
    qo.indirect = 3;
    if ((r = virtio_queue_init(&gpu->ctrlq, &gpu->dev, 0, &qo)) != VIRTIO_OK) goto fail;
    /* The largest command is three descriptors (ATTACH_BACKING: request,
       entries, response) and flush keeps two commands of two in flight.
       With an indirect table of 3 (a ring of 3 or more entries: the core
       caps a table at the ring size, virtio 1.2 2.7.5.3.1) each takes one
       ring slot; without, the ring must hold 2 + 2 descriptors. A smaller
       ring (the device's maximum, or the size it read back) would fail
       every framebuffer or flush: the device is refused now. */
    if (gpu->ctrlq.indirect < 3 && gpu->ctrlq.size < 4) {
        r = VIRTIO_ERR_DEVICE;
        goto fail;
    }
    qo.size = VIRTIO__GPU_CURSOR_SLOTS;
    qo.indirect = 0;
    if ((r = virtio_queue_init(&gpu->cursorq, &gpu->dev, 1, &qo)) != VIRTIO_OK) goto fail;
    r = virtio_alloc(p, VIRTIO__GPU_CMD_BYTES, 64, VIRTIO_MEM_DMA, &m, &gpu->priv.cmd_dev);
    if (r != VIRTIO_OK) goto fail;
    gpu->priv.cmd = (unsigned char *)m;
    if ((r = virtio_device_ready(&gpu->dev)) != VIRTIO_OK) goto fail;
    gpu->priv.next_id = 1;
    gpu->priv.magic = VIRTIO__GPU_MAGIC;
    if ((r = virtio_gpu_display_info(gpu)) != VIRTIO_OK) {
        virtio_gpu_shutdown(gpu);
        return r;
    }
    return VIRTIO_OK;
fail:
    r = virtio_device_fault(r);   /* a device without what its type requires */
    virtio_device_fail(&gpu->dev);
    virtio__gpu_release(gpu, virtio_device_reset(&gpu->dev) == VIRTIO_OK);
    return r;
}

VIRTIO_API virtio_result virtio_gpu_shutdown(virtio_gpu *gpu)
{
    virtio_result r;
    if (!gpu || gpu->priv.magic != VIRTIO__GPU_MAGIC) return VIRTIO_ERR_STATE;   /* broken is fine */
    gpu->priv.magic = 0;
    r = virtio_device_reset(&gpu->dev);
    /* A device that did not stop before (broken 2) may still hold buffers
       of framebuffers leaked since; what is left goes back if it stops now. */
    if (r == VIRTIO_OK) gpu->priv.broken = 1;
    virtio__gpu_release(gpu, r == VIRTIO_OK);
    return r == VIRTIO_OK ? VIRTIO_OK : VIRTIO_ERR_TIMEOUT;
}

VIRTIO_API virtio_result virtio_gpu_get_edid(virtio_gpu *gpu, uint32_t scanout, uint8_t *buf, uint32_t cap,
                                             uint32_t *size)
{
    unsigned char *b;
    uint32_t n;
    virtio_result r;
    if (!virtio__gpu_ok(gpu)) return VIRTIO_ERR_STATE;
    if (!buf || scanout >= gpu->num_scanouts) return VIRTIO_ERR_INVALID_ARG;
    if (!gpu->edid) return VIRTIO_ERR_UNSUPPORTED;
    b = virtio__gpu_req(gpu, 0, VIRTIO__GPU_CMD_GET_EDID, 0, VIRTIO__GPU_HDR + 8);
    virtio__gpu_put(b + VIRTIO__GPU_HDR, scanout, 4);
    if ((r = virtio__gpu_queue(gpu, 0, VIRTIO__GPU_HDR + 8, 0, VIRTIO__GPU_EDID_BYTES)) != VIRTIO_OK) return r;
    virtio_queue_kick(&gpu->ctrlq);
    if ((r = virtio__gpu_wait(gpu, 1, VIRTIO__GPU_RESP_OK_EDID, VIRTIO__GPU_HDR + 8)) != VIRTIO_OK) return r;
    b = gpu->priv.cmd + VIRTIO__GPU_RESP(0);
    n = virtio__gpu_get(b + VIRTIO__GPU_HDR, 4);
    /* The blob must lie within what the device says it wrote. */
    if (n > VIRTIO_GPU_EDID_MAX || n > gpu->priv.resp_len - (VIRTIO__GPU_HDR + 8)) return VIRTIO_ERR_DEVICE;
    if (n > cap) return VIRTIO_ERR_TOO_BIG;
    VIRTIO_MEMCPY(buf, b + VIRTIO__GPU_HDR + 8, n);
    if (size) *size = n;
    return VIRTIO_OK;
}

/* Rounded refresh rate: pixel clock (10 kHz units) over the pixels of a
   frame, by shifts and subtractions (no division helper on 32-bit
   targets). 0 for an empty frame. */
static uint32_t virtio__gpu_refresh(uint32_t clock, uint32_t htotal, uint32_t vtotal)
{
    uint64_t total = (uint64_t)htotal * vtotal, n, rem = 0;
    uint32_t q = 0, bit;
    if (total == 0) return 0;
    n = (uint64_t)clock * 10000u + total / 2u;
    for (bit = 0; bit < 64; bit++) {
        rem = rem << 1 | n >> 63;
        n <<= 1;
        q <<= 1;
        if (rem >= total) {
            rem -= total;
            q |= 1u;
        }
    }
    return q;
}

/* An active or blanking field of a DisplayID timing: 16 bits, little
   endian, stored as value - 1. */
static uint32_t virtio__did16(const uint8_t *p) { return ((uint32_t)p[0] | (uint32_t)p[1] << 8) + 1u; }

/* The Type I timing (tag 3, 20 bytes each) of DisplayID extension block
   b to use: the first marked preferred, else the first; NULL if none or
   the section does not add up (DisplayID 1.3: header at 1..4, data
   blocks from 5, a checksum after them). */
static const uint8_t *virtio__gpu_displayid(const uint8_t *b)
{
    const uint8_t *first = 0;
    uint32_t len = b[2], o, k, sum = 0;
    if (b[0] != 0x70 || len > 128 - 6) return 0;
    for (o = 1; o <= len + 5; o++) sum += b[o];
    if ((sum & 0xffu) != 0) return 0;
    for (o = 5; o + 3 <= len + 5; o += 3u + b[o + 2]) {
        if (o + 3u + b[o + 2] > len + 5) break;   /* a block past the section */
        if (b[o] != 0x03) continue;
        for (k = 0; k + 20 <= b[o + 2]; k += 20) {
            const uint8_t *t = b + o + 3 + k;
            if (t[3] & 0x80u) return t;
            if (!first) first = t;
        }
    }
    return first;
}

VIRTIO_API virtio_result virtio_gpu_edid_mode(const uint8_t *edid, uint32_t size, virtio_gpu_mode *mode)
{
    static const uint8_t magic[8] = { 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00 };
    const uint8_t *d, *t = 0;
    uint32_t i, sum = 0, clock, hblank, vblank;
    if (!edid || !mode || size < 128) return VIRTIO_ERR_INVALID_ARG;
    for (i = 0; i < 8; i++)
        if (edid[i] != magic[i]) return VIRTIO_ERR_INVALID_ARG;
    for (i = 0; i < 128; i++) sum += edid[i];
    if ((sum & 0xffu) != 0) return VIRTIO_ERR_INVALID_ARG;
    /* The first 18-byte descriptor (offset 54) is the preferred timing
       when its pixel clock is nonzero (VESA E-EDID 1.4, 3.10.2). */
    d = edid + 54;
    clock = (uint32_t)d[0] | (uint32_t)d[1] << 8;   /* 10 kHz units */
    if (clock != 0) {
        mode->width = d[2] | (uint32_t)(d[4] >> 4) << 8;
        hblank = d[3] | (uint32_t)(d[4] & 0xfu) << 8;
        mode->height = d[5] | (uint32_t)(d[7] >> 4) << 8;
        vblank = d[6] | (uint32_t)(d[7] & 0xfu) << 8;
    } else {
        /* Extensions, as many as byte 126 says and the blob holds. */
        for (i = 1; i <= edid[126] && i < size / 128 && !t; i++) t = virtio__gpu_displayid(edid + 128 * i);
        if (!t) return VIRTIO_ERR_INVALID_ARG;
        clock = ((uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16) + 1u;
        mode->width = virtio__did16(t + 4);
        hblank = virtio__did16(t + 6);
        mode->height = virtio__did16(t + 12);
        vblank = virtio__did16(t + 14);
    }
    mode->pixel_clock_khz = clock * 10u;
    mode->refresh_hz = virtio__gpu_refresh(clock, mode->width + hblank, mode->height + vblank);
    return VIRTIO_OK;
}

/* >>gpu.fb */
VIRTIO_API virtio_result virtio_gpu_fb_create(virtio_gpu *gpu, virtio_gpu_fb *fb, uint32_t width, uint32_t height,
                                              uint32_t format, void *pixels)
{
    const virtio_platform *p;
    unsigned char *b;
    virtio_sg extra;
    uint32_t i;
    void *m;   /* (what virtio_alloc gives, before it is typed) */
    virtio_result r;
    virtio_gpu_fb f;   /* built here, handed out only on success */
    if (!virtio__gpu_ok(gpu)) return VIRTIO_ERR_STATE;
    if (!fb || width == 0 || height == 0 || width > VIRTIO__GPU_MAX_DIM || height > VIRTIO__GPU_MAX_DIM ||
        !virtio__gpu_format_ok(format))
        return VIRTIO_ERR_INVALID_ARG;
    p = gpu->dev.platform;
    VIRTIO_ZERO(&f);
    f.width = width;
    f.height = height;
    f.format = format;
    f.stride = width * 4u;
    f.bytes = (size_t)f.stride * height;
    if (pixels) {
        f.pixels = (uint8_t *)pixels;
    } else {
        if ((r = virtio_alloc(p, f.bytes, 4096, VIRTIO_MEM_DMA, &m, &f.priv.pixels_dev)) != VIRTIO_OK) return r;
        f.pixels = (uint8_t *)m;
        f.priv.owned = 1;
    }
    /* Describe the backing: one piece when the driver allocated it, else
       page by page (at most one piece per page). */
    f.priv.maxsg = f.priv.owned ? 1u : (uint32_t)(f.bytes / 4096u + 2u);
    r = virtio_alloc(p, (size_t)f.priv.maxsg * sizeof(virtio_sg), 8, VIRTIO_MEM_PRIVATE, &m, 0);
    if (r != VIRTIO_OK) goto fail_mem;
    f.priv.sg = (virtio_sg *)m;
    if (f.priv.owned) {
        f.priv.sg[0].addr = f.priv.pixels_dev;
        f.priv.sg[0].len = (uint32_t)f.bytes;
        f.priv.nsg = 1;
    } else if ((r = virtio_dma_map(p, f.pixels, f.bytes, VIRTIO_DMA_TO_DEVICE, f.priv.sg, f.priv.maxsg, 0,
                                   &f.priv.nsg, 0)) != VIRTIO_OK) {
        virtio_free(p, f.priv.sg, (size_t)f.priv.maxsg * sizeof(virtio_sg), VIRTIO_MEM_PRIVATE);
        f.priv.sg = 0;
        goto fail_mem;
    }
    f.priv.entries_bytes = (size_t)f.priv.nsg * 16u;
    r = virtio_alloc(p, f.priv.entries_bytes, 16, VIRTIO_MEM_DMA, &m, &f.priv.entries_dev);
    if (r != VIRTIO_OK) goto fail_all;
    f.priv.entries = (unsigned char *)m;
    for (i = 0; i < f.priv.nsg; i++) {
        virtio__gpu_put(f.priv.entries + 16u * i, f.priv.sg[i].addr, 8);
        virtio__gpu_put(f.priv.entries + 16u * i + 8, f.priv.sg[i].len, 4);
    }
    f.priv.magic = VIRTIO__GPU_FB_MAGIC;

    /* RESOURCE_CREATE_2D: resource id, format, width, height. */
    f.resource_id = gpu->priv.next_id++;
    b = virtio__gpu_req(gpu, 0, VIRTIO__GPU_CMD_RESOURCE_CREATE_2D, 0, VIRTIO__GPU_HDR + 16);
    virtio__gpu_put(b + VIRTIO__GPU_HDR, f.resource_id, 4);
    virtio__gpu_put(b + VIRTIO__GPU_HDR + 4, format, 4);
    virtio__gpu_put(b + VIRTIO__GPU_HDR + 8, width, 4);
    virtio__gpu_put(b + VIRTIO__GPU_HDR + 12, height, 4);
    if ((r = virtio__gpu_simple(gpu, VIRTIO__GPU_HDR + 16)) != VIRTIO_OK) goto fail_all;
    /* RESOURCE_ATTACH_BACKING: resource id, entry count, then the entries. */
    b = virtio__gpu_req(gpu, 0, VIRTIO__GPU_CMD_RESOURCE_ATTACH_BACKING, 0, VIRTIO__GPU_HDR + 8);
    virtio__gpu_put(b + VIRTIO__GPU_HDR, f.resource_id, 4);
    virtio__gpu_put(b + VIRTIO__GPU_HDR + 4, f.priv.nsg, 4);
    extra.addr = f.priv.entries_dev;
    extra.len = (uint32_t)f.priv.entries_bytes;
    extra.pad = 0;
    r = virtio__gpu_queue(gpu, 0, VIRTIO__GPU_HDR + 8, &extra, VIRTIO__GPU_HDR);
    if (r == VIRTIO_OK) {
        virtio_queue_kick(&gpu->ctrlq);
        r = virtio__gpu_wait(gpu, 1, VIRTIO__GPU_RESP_OK_NODATA, VIRTIO__GPU_HDR);
    }
    if (r != VIRTIO_OK) {
        uint32_t st = gpu->last_status;   /* the attach's answer, not the cleanup's */
        b = virtio__gpu_req(gpu, 0, VIRTIO__GPU_CMD_RESOURCE_UNREF, 0, VIRTIO__GPU_HDR + 8);
        virtio__gpu_put(b + VIRTIO__GPU_HDR, f.resource_id, 4);
        virtio__gpu_simple(gpu, VIRTIO__GPU_HDR + 8);
        gpu->last_status = st;
        goto fail_all;
    }
    *fb = f;
    return VIRTIO_OK;
fail_all:
    virtio__gpu_fb_free(gpu, &f);
    return r;
fail_mem:
    if (f.priv.owned) virtio_free(p, f.pixels, f.bytes, VIRTIO_MEM_DMA);
    return r;
}

static virtio_result virtio__gpu_scanout(virtio_gpu *g, uint32_t scanout, uint32_t res, uint32_t w, uint32_t h)
{
    unsigned char *b = virtio__gpu_req(g, 0, VIRTIO__GPU_CMD_SET_SCANOUT, 0, VIRTIO__GPU_HDR + 24);
    virtio_result r;
    virtio__gpu_rect(b + VIRTIO__GPU_HDR, 0, 0, w, h);
    virtio__gpu_put(b + VIRTIO__GPU_HDR + 16, scanout, 4);
    virtio__gpu_put(b + VIRTIO__GPU_HDR + 20, res, 4);
    r = virtio__gpu_simple(g, VIRTIO__GPU_HDR + 24);
    if (r == VIRTIO_OK) g->priv.scanout_res[scanout] = res;
    return r;
}

VIRTIO_API virtio_result virtio_gpu_fb_destroy(virtio_gpu *gpu, virtio_gpu_fb *fb)
{
    unsigned char *b;
    uint32_t i, st = 0;
    virtio_result r, r2;
    if (!gpu || gpu->priv.magic != VIRTIO__GPU_MAGIC) return VIRTIO_ERR_STATE;
    if (!fb || fb->priv.magic != VIRTIO__GPU_FB_MAGIC) return VIRTIO_ERR_INVALID_ARG;
    if (gpu->priv.broken) {   /* the device was reset (or could not be: then fb_free keeps it all) */
        virtio__gpu_fb_free(gpu, fb);
        return VIRTIO_ERR_STATE;
    }
    /* Every step is tried; the first failure is the result (and its
       response type stays in last_status). */
    r = VIRTIO_OK;
    for (i = 0; i < gpu->num_scanouts; i++)
        if (gpu->priv.scanout_res[i] == fb->resource_id && (r2 = virtio__gpu_scanout(gpu, i, 0, 0, 0)) != VIRTIO_OK &&
            r == VIRTIO_OK)
            r = r2, st = gpu->last_status;
    b = virtio__gpu_req(gpu, 0, VIRTIO__GPU_CMD_RESOURCE_DETACH_BACKING, 0, VIRTIO__GPU_HDR + 8);
    virtio__gpu_put(b + VIRTIO__GPU_HDR, fb->resource_id, 4);
    if ((r2 = virtio__gpu_simple(gpu, VIRTIO__GPU_HDR + 8)) != VIRTIO_OK && r == VIRTIO_OK)
        r = r2, st = gpu->last_status;
    b = virtio__gpu_req(gpu, 0, VIRTIO__GPU_CMD_RESOURCE_UNREF, 0, VIRTIO__GPU_HDR + 8);
    virtio__gpu_put(b + VIRTIO__GPU_HDR, fb->resource_id, 4);
    if ((r2 = virtio__gpu_simple(gpu, VIRTIO__GPU_HDR + 8)) != VIRTIO_OK && r == VIRTIO_OK)
        r = r2, st = gpu->last_status;
    if (r != VIRTIO_OK) gpu->last_status = st;
    virtio__gpu_fb_free(gpu, fb);
    return r;
}

VIRTIO_API virtio_result virtio_gpu_set_scanout(virtio_gpu *gpu, uint32_t scanout, const virtio_gpu_fb *fb)
{
    if (!virtio__gpu_ok(gpu)) return VIRTIO_ERR_STATE;
    if (!fb || fb->priv.magic != VIRTIO__GPU_FB_MAGIC || scanout >= gpu->num_scanouts) return VIRTIO_ERR_INVALID_ARG;
    return virtio__gpu_scanout(gpu, scanout, fb->resource_id, fb->width, fb->height);
}

VIRTIO_API virtio_result virtio_gpu_disable_scanout(virtio_gpu *gpu, uint32_t scanout)
{
    if (!virtio__gpu_ok(gpu)) return VIRTIO_ERR_STATE;
    if (scanout >= gpu->num_scanouts) return VIRTIO_ERR_INVALID_ARG;
    return virtio__gpu_scanout(gpu, scanout, 0, 0, 0);
}

/* Queue TRANSFER_TO_HOST_2D in slot `slot` (with a fence if asked). */
static virtio_result virtio__gpu_transfer(virtio_gpu *g, uint32_t slot, const virtio_gpu_fb *fb, uint32_t x,
                                          uint32_t y, uint32_t w, uint32_t h, uint32_t flags)
{
    unsigned char *b = virtio__gpu_req(g, slot, VIRTIO__GPU_CMD_TRANSFER_TO_HOST_2D, flags, VIRTIO__GPU_HDR + 32);
    virtio__gpu_rect(b + VIRTIO__GPU_HDR, x, y, w, h);
    /* Offset of the rectangle's first pixel in the backing. */
    virtio__gpu_put(b + VIRTIO__GPU_HDR + 16, (uint64_t)y * fb->stride + (uint64_t)x * 4u, 8);
    virtio__gpu_put(b + VIRTIO__GPU_HDR + 24, fb->resource_id, 4);
    return virtio__gpu_queue(g, slot, VIRTIO__GPU_HDR + 32, 0, VIRTIO__GPU_HDR);
}

VIRTIO_API virtio_result virtio_gpu_flush(virtio_gpu *gpu, const virtio_gpu_fb *fb, uint32_t x, uint32_t y,
                                          uint32_t w, uint32_t h)
{
    unsigned char *b;
    virtio_result r;
    if (!virtio__gpu_ok(gpu)) return VIRTIO_ERR_STATE;
    if (!fb || fb->priv.magic != VIRTIO__GPU_FB_MAGIC || w == 0 || h == 0) return VIRTIO_ERR_INVALID_ARG;
    if (x >= fb->width || y >= fb->height || w > fb->width - x || h > fb->height - y) return VIRTIO_ERR_RANGE;
    if ((r = virtio__gpu_transfer(gpu, 0, fb, x, y, w, h, 0)) != VIRTIO_OK) return r;
    b = virtio__gpu_req(gpu, 1, VIRTIO__GPU_CMD_RESOURCE_FLUSH, 0, VIRTIO__GPU_HDR + 24);
    virtio__gpu_rect(b + VIRTIO__GPU_HDR, x, y, w, h);
    virtio__gpu_put(b + VIRTIO__GPU_HDR + 16, fb->resource_id, 4);
    if ((r = virtio__gpu_queue(gpu, 1, VIRTIO__GPU_HDR + 24, 0, VIRTIO__GPU_HDR)) != VIRTIO_OK) {
        virtio_queue_kick(&gpu->ctrlq);
        virtio__gpu_wait(gpu, 1, VIRTIO__GPU_RESP_OK_NODATA, VIRTIO__GPU_HDR);
        return r;
    }
    virtio_queue_kick(&gpu->ctrlq);
    return virtio__gpu_wait(gpu, 2, VIRTIO__GPU_RESP_OK_NODATA, VIRTIO__GPU_HDR);
}

/* >>gpu.cursor
   Take back the cursor buffers the device is done with. A slot is free
   again only once the device gave it back (in any order): the cookie
   names it. A device that breaks the protocol (a used id it was never
   given) breaks the queue, and that is said, never taken for a busy one
   (NO_SPACE): VIRTIO_ERR_DEVICE once, then VIRTIO_ERR_STATE. */
static virtio_result virtio__gpu_cursor_reap(virtio_gpu *g)
{
    void *cookie;
    uint32_t len;
    virtio_result r;
    while ((r = virtio_queue_pop(&g->cursorq, &cookie, &len)) == VIRTIO_OK)
        g->priv.cursor_busy &= ~(1u << ((uint32_t)(uintptr_t)cookie - 1u));
    return r == VIRTIO_EMPTY ? VIRTIO_OK : r;
}

static virtio_result virtio__gpu_cursor_cmd(virtio_gpu *g, uint32_t type, uint32_t scanout, uint32_t x, uint32_t y,
                                            uint32_t res, uint32_t hx, uint32_t hy)
{
    uint32_t slot = 0;
    unsigned char *b;
    virtio_sg sg;
    virtio_result r;
    if ((r = virtio__gpu_cursor_reap(g)) != VIRTIO_OK) return r;
    while (slot < VIRTIO__GPU_CURSOR_SLOTS && (g->priv.cursor_busy >> slot) & 1u) slot++;
    if (slot == VIRTIO__GPU_CURSOR_SLOTS || g->cursorq.num_free == 0) return VIRTIO_ERR_NO_SPACE;
    b = g->priv.cmd + VIRTIO__GPU_CURSOR_AT(slot);
    VIRTIO_MEMSET(b, 0, VIRTIO__GPU_CURSOR_CMD);
    virtio__gpu_put(b, type, 4);
    /* cursor_pos: scanout, x, y, pad; then resource, hot_x, hot_y, pad. */
    virtio__gpu_put(b + VIRTIO__GPU_HDR, scanout, 4);
    virtio__gpu_put(b + VIRTIO__GPU_HDR + 4, x, 4);
    virtio__gpu_put(b + VIRTIO__GPU_HDR + 8, y, 4);
    virtio__gpu_put(b + VIRTIO__GPU_HDR + 16, res, 4);
    virtio__gpu_put(b + VIRTIO__GPU_HDR + 20, hx, 4);
    virtio__gpu_put(b + VIRTIO__GPU_HDR + 24, hy, 4);
    sg.addr = g->priv.cmd_dev + VIRTIO__GPU_CURSOR_AT(slot);
    sg.len = VIRTIO__GPU_CURSOR_CMD;
    sg.pad = 0;
    /* The cursor queue has no responses: the device just consumes. */
    if ((r = virtio_queue_add(&g->cursorq, &sg, 1, 0, (void *)(uintptr_t)(slot + 1u))) != VIRTIO_OK) return r;
    g->priv.cursor_busy |= 1u << slot;
    return virtio_queue_kick(&g->cursorq);
}

VIRTIO_API virtio_result virtio_gpu_cursor_set(virtio_gpu *gpu, uint32_t scanout, const uint32_t *image,
                                               uint32_t hot_x, uint32_t hot_y, uint32_t x, uint32_t y)
{
    virtio_gpu_fb *c;
    uint32_t i;
    virtio_result r;
    if (!virtio__gpu_ok(gpu)) return VIRTIO_ERR_STATE;
    if (!image || scanout >= gpu->num_scanouts || hot_x >= VIRTIO_GPU_CURSOR_SIZE || hot_y >= VIRTIO_GPU_CURSOR_SIZE)
        return VIRTIO_ERR_INVALID_ARG;
    /* A broken cursor queue is said before any work on the image. */
    if ((r = virtio__gpu_cursor_reap(gpu)) != VIRTIO_OK) return r;
    c = &gpu->priv.cursor;
    if (c->priv.magic != VIRTIO__GPU_FB_MAGIC) {
        r = virtio_gpu_fb_create(gpu, c, VIRTIO_GPU_CURSOR_SIZE, VIRTIO_GPU_CURSOR_SIZE, VIRTIO_GPU_PIX_B8G8R8A8, 0);
        if (r != VIRTIO_OK) return r;
    }
    /* Pixels as 0xAARRGGBB words, stored B, G, R, A. */
    for (i = 0; i < VIRTIO_GPU_CURSOR_SIZE * VIRTIO_GPU_CURSOR_SIZE; i++) {
        uint32_t v = image[i];
        c->pixels[4 * i] = (uint8_t)v;
        c->pixels[4 * i + 1] = (uint8_t)(v >> 8);
        c->pixels[4 * i + 2] = (uint8_t)(v >> 16);
        c->pixels[4 * i + 3] = (uint8_t)(v >> 24);
    }
    /* The image must be on the host before the cursor queue names it. */
    if ((r = virtio__gpu_transfer(gpu, 0, c, 0, 0, VIRTIO_GPU_CURSOR_SIZE, VIRTIO_GPU_CURSOR_SIZE,
                                  VIRTIO__GPU_FLAG_FENCE)) != VIRTIO_OK)
        return r;
    virtio_queue_kick(&gpu->ctrlq);
    if ((r = virtio__gpu_wait(gpu, 1, VIRTIO__GPU_RESP_OK_NODATA, VIRTIO__GPU_HDR)) != VIRTIO_OK) return r;
    return virtio__gpu_cursor_cmd(gpu, VIRTIO__GPU_CMD_UPDATE_CURSOR, scanout, x, y, c->resource_id, hot_x, hot_y);
}

VIRTIO_API virtio_result virtio_gpu_cursor_move(virtio_gpu *gpu, uint32_t scanout, uint32_t x, uint32_t y)
{
    if (!virtio__gpu_ok(gpu)) return VIRTIO_ERR_STATE;
    if (scanout >= gpu->num_scanouts) return VIRTIO_ERR_INVALID_ARG;
    if (gpu->priv.cursor.priv.magic != VIRTIO__GPU_FB_MAGIC) return VIRTIO_ERR_STATE;
    return virtio__gpu_cursor_cmd(gpu, VIRTIO__GPU_CMD_MOVE_CURSOR, scanout, x, y, gpu->priv.cursor.resource_id, 0, 0);
}

VIRTIO_API virtio_result virtio_gpu_cursor_hide(virtio_gpu *gpu, uint32_t scanout)
{
    if (!virtio__gpu_ok(gpu)) return VIRTIO_ERR_STATE;
    if (scanout >= gpu->num_scanouts) return VIRTIO_ERR_INVALID_ARG;
    return virtio__gpu_cursor_cmd(gpu, VIRTIO__GPU_CMD_UPDATE_CURSOR, scanout, 0, 0, 0, 0, 0);
}

/* >>gpu.events
   The event is acknowledged before the display is re-read, so a change
   that comes in between raises it again; a failed re-read is retried by
   the next refresh (display_pending). */
VIRTIO_API virtio_result virtio_gpu_refresh(virtio_gpu *gpu, uint32_t *changed)
{
    uint32_t ev;
    virtio_result r;
    if (!virtio__gpu_ok(gpu)) return VIRTIO_ERR_STATE;
    if ((r = virtio__gpu_cfg(gpu, VIRTIO__GPU_CFG_EVENTS_READ, &ev)) != VIRTIO_OK) return r;
    if (ev & VIRTIO__GPU_EVENT_DISPLAY) {
        r = virtio__gpu_clear(gpu, VIRTIO__GPU_CFG_EVENTS_CLEAR, VIRTIO__GPU_EVENT_DISPLAY);
        if (r != VIRTIO_OK) return r;
        gpu->priv.display_pending = 1;
    }
    if (gpu->priv.display_pending) {
        if ((r = virtio_gpu_display_info(gpu)) != VIRTIO_OK) return r;
        gpu->priv.display_pending = 0;
        if (changed) *changed = VIRTIO_GPU_CHANGED_DISPLAY;
    } else if (changed) {
        *changed = 0;
    }
    return VIRTIO_OK;
}

#endif /* VIRTIO_GPU_IMPLEMENTATION */
