/* SPDX-License-Identifier: MIT OR Unlicense */
/* model_input.h - virtio-input backend of the software VirtIO device
   (device id 18, virtio 1.2 section 5.8). See model.h for the model itself.

   A keyboard, mouse or tablet: the configuration space answers
   select/subsel queries (ID_NAME, ID_SERIAL, ID_DEVIDS, PROP_BITS, EV_BITS
   per event type, ABS_INFO per axis); events injected by the test are
   delivered in order into the buffers the driver posts on the event queue
   (queued while it has none posted, sent from the notify callback when
   buffers arrive); events the driver sends on the status queue (LEDs) are
   recorded.

       model_input_options io;
       model_input_options_init(&io, MODEL_INPUT_KEYBOARD);
       m = model_input_new(bus, &o, &io);
       ... virtio_input_init ...
       model_input_inject(m, 1, 30, 1);      // EV_KEY KEY_A press
       model_input_inject(m, 0, 0, 0);       // SYN_REPORT

   Driver bugs reported: event buffers that are not exactly one writable
   8-byte event (shorter ones) or carry readable bytes, status buffers
   that are not whole readable events, config writes other than select and
   subsel. */
#ifndef MODEL_INPUT_H
#define MODEL_INPUT_H
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MODEL_INPUT_KEYBOARD 1
#define MODEL_INPUT_MOUSE 2
#define MODEL_INPUT_TABLET 3

/* Config selectors (5.8.4). */
#define MODEL_INPUT_CFG_UNSET 0x00
#define MODEL_INPUT_CFG_ID_NAME 0x01
#define MODEL_INPUT_CFG_ID_SERIAL 0x02
#define MODEL_INPUT_CFG_ID_DEVIDS 0x03
#define MODEL_INPUT_CFG_PROP_BITS 0x10
#define MODEL_INPUT_CFG_EV_BITS 0x11
#define MODEL_INPUT_CFG_ABS_INFO 0x12

#define MODEL_INPUT_EVENTS_MAX 8192u   /* injected events waiting for buffers */

/* One evdev event as it crosses the queues. */
typedef struct model_input_event {
    uint16_t type, code;
    int32_t value;
} model_input_event;

typedef struct model_input_options {
    uint32_t kind;              /* MODEL_INPUT_* [KEYBOARD] */
    uint64_t features;          /* offered [VERSION_1 | RING_PACKED | EVENT_IDX | INDIRECT_DESC] */
    uint32_t queue_size;        /* QueueNumMax of both queues [64] */
    char name[129];             /* ID_NAME [per kind, e.g. "model keyboard"] */
    char serial[129];           /* ID_SERIAL ["" = absent] */
    uint32_t no_devids;         /* nonzero: ID_DEVIDS answers size 0 [0] */
    uint16_t bustype, vendor, product, version;   /* [0x06 (virtual), 0x1af4, kind, 1] */
    int32_t abs_max;            /* tablet: ABS_X and ABS_Y range 0..abs_max [32767] */
} model_input_options;

typedef struct model_input_stats {
    uint64_t injected;          /* events handed to model_input_inject */
    uint64_t delivered;         /* events written into driver buffers */
    uint64_t overflow;          /* injections refused: MODEL_INPUT_EVENTS_MAX waiting */
    uint64_t dropped_on_reset;  /* pending events a device reset discarded */
    uint64_t max_pending;       /* most events waiting for buffers at once */
    uint64_t status_events;     /* events received on the status queue */
    uint64_t led_events;        /* ... of type EV_LED */
    uint32_t leds;              /* LED state: bit n = LED code n is on */
    uint32_t cfg_selects;       /* select/subsel writes */
} model_input_stats;

void model_input_options_init(model_input_options *o, uint32_t kind);
/* An input device on bus b; NULL on error (see model_bus_last_bug). */
model *model_input_new(model_bus *b, const model_options *o, const model_input_options *io);
/* Queue one event for the driver; delivered at once when it has buffers
   posted, else when it posts some. 0 on success, -1 if m is not an input
   device or MODEL_INPUT_EVENTS_MAX events are already waiting. */
int model_input_inject(model *m, uint16_t type, uint16_t code, int32_t value);
/* Events injected but not yet delivered. */
uint32_t model_input_pending(model *m);
/* Change the answers: add a code to EV_BITS of `type` (make the type
   present), or set ABS_INFO of an axis (also adds it to EV_BITS of EV_ABS). */
void model_input_set_code(model *m, uint16_t type, uint16_t code);
void model_input_set_abs(model *m, uint16_t axis, int32_t min, int32_t max, int32_t fuzz, int32_t flat, int32_t res);
/* Every status-queue event so far (oldest first, at most 256 kept). */
const model_input_event *model_input_status_log(model *m, uint32_t *count);
model_input_stats *model_input_get_stats(model *m);

#ifdef __cplusplus
}
#endif
#endif /* MODEL_INPUT_H */
