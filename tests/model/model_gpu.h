/* SPDX-License-Identifier: MIT OR Unlicense */
/* model_gpu.h - virtio-gpu 2D backend of the software VirtIO device
   (device id 16, virtio 1.2 section 5.7). See model.h for the model itself.

   Control queue (0): GET_DISPLAY_INFO, GET_EDID (with F_EDID), RESOURCE_
   CREATE_2D, RESOURCE_UNREF, SET_SCANOUT, RESOURCE_FLUSH, TRANSFER_TO_
   HOST_2D, RESOURCE_ATTACH_BACKING, RESOURCE_DETACH_BACKING; anything else
   answers ERR_UNSPEC. Cursor queue (1): UPDATE_CURSOR, MOVE_CURSOR.

   Each resource has host-side pixel storage (4 bytes per pixel, copied as
   raw bytes whatever the format) that TRANSFER_TO_HOST_2D fills from the
   guest backing, read through model DMA. Each scanout has a "screen" of
   its SET_SCANOUT rectangle's size: SET_SCANOUT shows the resource's host
   contents as they are, and after that only RESOURCE_FLUSH changes the
   screen, for the flushed rectangle. Requests with bad ids or rectangles
   get the error responses a real device gives (the test checks them);
   malformed requests (too short, GET_EDID without the feature, backing
   entries outside driver memory) are driver bugs. The fence flag and
   fence id are echoed in the response.

       model_gpu_options go;
       model_gpu_options_init(&go);            // one 1024x768 scanout, EDID
       m = model_gpu_new(bus, &o, &go);
       ... virtio_gpu_init, fb_create, set_scanout, flush ...
       model_gpu_pixel(m, 0, 10, 10);          // what the screen shows
       model_gpu_set_display(m, 0, 800, 600, 1);   // hotplug: EVENT_DISPLAY
*/
#ifndef MODEL_GPU_H
#define MODEL_GPU_H
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MODEL_GPU_F_VIRGL (1ull << 0)
#define MODEL_GPU_F_EDID (1ull << 1)
#define MODEL_GPU_MAX_SCANOUTS 16u
#define MODEL_GPU_CURSOR 64u            /* cursor images are 64 x 64 */

/* Commands and responses (5.7.6.7). */
#define MODEL_GPU_CMD_GET_DISPLAY_INFO 0x0100u
#define MODEL_GPU_CMD_RESOURCE_CREATE_2D 0x0101u
#define MODEL_GPU_CMD_RESOURCE_UNREF 0x0102u
#define MODEL_GPU_CMD_SET_SCANOUT 0x0103u
#define MODEL_GPU_CMD_RESOURCE_FLUSH 0x0104u
#define MODEL_GPU_CMD_TRANSFER_TO_HOST_2D 0x0105u
#define MODEL_GPU_CMD_RESOURCE_ATTACH_BACKING 0x0106u
#define MODEL_GPU_CMD_RESOURCE_DETACH_BACKING 0x0107u
#define MODEL_GPU_CMD_GET_EDID 0x010au
#define MODEL_GPU_CMD_UPDATE_CURSOR 0x0300u
#define MODEL_GPU_CMD_MOVE_CURSOR 0x0301u
#define MODEL_GPU_RESP_OK_NODATA 0x1100u
#define MODEL_GPU_RESP_OK_DISPLAY_INFO 0x1101u
#define MODEL_GPU_RESP_OK_EDID 0x1104u
#define MODEL_GPU_RESP_ERR_UNSPEC 0x1200u
#define MODEL_GPU_RESP_ERR_OUT_OF_MEMORY 0x1201u
#define MODEL_GPU_RESP_ERR_INVALID_SCANOUT_ID 0x1202u
#define MODEL_GPU_RESP_ERR_INVALID_RESOURCE_ID 0x1203u
#define MODEL_GPU_RESP_ERR_INVALID_CONTEXT_ID 0x1204u
#define MODEL_GPU_RESP_ERR_INVALID_PARAMETER 0x1205u
#define MODEL_GPU_FLAG_FENCE 1u
#define MODEL_GPU_EVENT_DISPLAY 1u

typedef struct model_gpu_options {
    uint64_t features;          /* offered [VERSION_1 | RING_PACKED | EVENT_IDX | INDIRECT_DESC | F_EDID] */
    uint32_t num_scanouts;      /* 1..16 [1] */
    uint32_t width[MODEL_GPU_MAX_SCANOUTS];    /* display size per scanout; height 0 = */
    uint32_t height[MODEL_GPU_MAX_SCANOUTS];   /* not connected [1024 x 768 each] */
    uint32_t queue_size;        /* QueueNumMax of both queues [256] */
    uint64_t host_memory;       /* resource storage before ERR_OUT_OF_MEMORY [64 MiB] */
} model_gpu_options;

/* Behaviour switches for hostile tests: model_gpu_get_knobs(m). */
typedef struct model_gpu_knobs {
    uint32_t bad_type;          /* nonzero: control responses carry this type instead [0] */
    uint32_t short_len;         /* nonzero: control responses claim this used length [0] */
    uint32_t bad_count;         /* how many responses bad_type/short_len apply to, 0 = all [0] */
    uint32_t fail_cmd;          /* command type answered with fail_type (0 = off) [0] */
    uint32_t fail_type;         /* the error response for fail_cmd [ERR_UNSPEC] */
} model_gpu_knobs;

typedef struct model_gpu_stats {
    uint64_t commands;          /* control commands answered */
    uint64_t by_type[16];       /* control commands by (type & 0xf), 0x100..0x10f */
    uint64_t errors;            /* error responses */
    uint32_t last_error;        /* type of the last error response */
    uint64_t fences;            /* fenced commands */
    uint64_t last_fence;        /* fence id of the last fenced command */
    uint64_t flushes;           /* RESOURCE_FLUSH that reached a screen */
    uint64_t flushed_pixels;    /* screen pixels those flushes wrote */
    uint64_t transfers, transferred_bytes;
    uint64_t cursor_updates, cursor_moves, cursor_errors;
    uint64_t events_cleared;    /* events_clear writes */
} model_gpu_stats;

/* Where the cursor is (the last cursor-queue command). */
typedef struct model_gpu_cursor {
    uint32_t visible;           /* UPDATE_CURSOR with a resource */
    uint32_t scanout, x, y;
    uint32_t hot_x, hot_y;
    uint32_t resource_id;
    uint32_t image[MODEL_GPU_CURSOR * MODEL_GPU_CURSOR];   /* little-endian words of the image */
} model_gpu_cursor;

void model_gpu_options_init(model_gpu_options *o);
/* A GPU on bus b; NULL on error (see model_bus_last_bug). */
model *model_gpu_new(model_bus *b, const model_options *o, const model_gpu_options *go);
/* The screen of a scanout: width * height pixels, 4 bytes each, rows
   width * 4 bytes apart; NULL if no resource is shown there. */
const uint8_t *model_gpu_screen(model *m, uint32_t scanout, uint32_t *width, uint32_t *height);
/* One screen pixel as a little-endian word (0 if nothing is there). */
uint32_t model_gpu_pixel(model *m, uint32_t scanout, uint32_t x, uint32_t y);
/* The colour a display shows for a screen pixel, 0xRRGGBB, decoded from
   the pixel's four bytes by the format of the resource on that scanout
   (each format names its byte order in memory, virtio 1.2 5.7.6.8), as a
   host display would: independent of any CPU's word order. 0xff000000
   if nothing is there. */
uint32_t model_gpu_rgb(model *m, uint32_t scanout, uint32_t x, uint32_t y);
/* The same decoding for four bytes of `format` (0xff000000: unknown). */
uint32_t model_gpu_decode(uint32_t format, const uint8_t px[4]);
/* The resource a scanout shows (0: none). */
uint32_t model_gpu_scanout_resource(model *m, uint32_t scanout);
/* Host storage of a resource (width * height * 4 bytes); NULL if none. */
const uint8_t *model_gpu_resource(model *m, uint32_t id, uint32_t *width, uint32_t *height);
/* Resources alive on the device. */
uint32_t model_gpu_resources(model *m);
const model_gpu_cursor *model_gpu_get_cursor(model *m);
/* Change the display of a scanout (height 0 or !connected: unplugged):
   sets VIRTIO_GPU_EVENT_DISPLAY in events_read and sends a configuration
   change interrupt. */
void model_gpu_set_display(model *m, uint32_t scanout, uint32_t width, uint32_t height, int connected);
/* The EDID blob the device gives for a scanout (128 bytes). */
void model_gpu_edid(model *m, uint32_t scanout, uint8_t edid[128]);
model_gpu_knobs *model_gpu_get_knobs(model *m);
model_gpu_stats *model_gpu_get_stats(model *m);

#ifdef __cplusplus
}
#endif
#endif /* MODEL_GPU_H */
