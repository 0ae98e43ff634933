/* SPDX-License-Identifier: MIT OR Unlicense */
/* model_input.c - virtio-input backend of the software VirtIO device
   (virtio 1.2 section 5.8). See model_input.h. */
#include "model_input.h"

#include <stdlib.h>
#include <string.h>

/* struct virtio_input_config (5.8.4): select, subsel, size, 5 reserved
   bytes, then a 128-byte union. */
#define IC_SELECT 0u
#define IC_SUBSEL 1u
#define IC_SIZE 2u
#define IC_U 8u
#define IC_BYTES 136u

#define EV_SYN 0x00
#define EV_KEY 0x01
#define EV_REL 0x02
#define EV_ABS 0x03
#define EV_LED 0x11
#define EV_TYPES 32u
#define EVENT_BYTES 8u
#define STATUS_LOG 256u

typedef struct axis {
    int32_t v[5];               /* min, max, fuzz, flat, res */
} axis;

typedef struct input {
    model_input_options o;
    uint8_t bits[EV_TYPES][128];   /* EV_BITS answers, bit n = code n */
    axis abs[64];
    model_input_event *fifo;       /* events waiting for buffers (ring) */
    uint32_t head, count;
    model_input_event status[STATUS_LOG];
    uint32_t nstatus;
    model_input_stats stats;
} input;

static int input_process(model *m, void *state, model_chain *c);

static input *input_of(model *m)
{
    const model_backend *be = model_backend_of(m);
    return be && be->process == input_process ? (input *)be->state : NULL;
}

void model_input_options_init(model_input_options *o, uint32_t kind)
{
    static const char *const names[] = { "model input", "model keyboard", "model mouse", "model tablet" };
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->features = MODEL_F_VERSION_1 | MODEL_F_RING_PACKED | MODEL_F_EVENT_IDX | MODEL_F_INDIRECT_DESC;
    o->queue_size = 64;
    strcpy(o->name, names[kind <= MODEL_INPUT_TABLET ? kind : 0]);
    o->bustype = 0x06;
    o->vendor = 0x1af4;
    o->product = (uint16_t)kind;
    o->version = 1;
    o->abs_max = 32767;
}

static void set_bit(input *in, uint32_t type, uint32_t code)
{
    if (type < EV_TYPES && code < 1024) in->bits[type][code / 8] |= (uint8_t)(1u << (code % 8));
}

/* Bytes of a bitmap up to its last nonzero byte (the size the device
   reports: 0 means "nothing of this kind"). */
static uint32_t bitmap_size(const uint8_t *bm)
{
    uint32_t n = 128;
    while (n && !bm[n - 1]) n--;
    return n;
}

/* Fill the union and size for the current select/subsel (5.8.5: the
   device answers as soon as both are written). */
static void answer(model *m, input *in)
{
    uint8_t *cfg = model_config(m), *u = cfg + IC_U, sel = cfg[IC_SELECT], sub = cfg[IC_SUBSEL];
    uint32_t size = 0, i;
    memset(u, 0, 128);
    switch (sel) {
    case MODEL_INPUT_CFG_ID_NAME:
    case MODEL_INPUT_CFG_ID_SERIAL: {
        const char *s = sel == MODEL_INPUT_CFG_ID_NAME ? in->o.name : in->o.serial;
        if (sub == 0) {
            size = (uint32_t)strlen(s);
            if (size > 128) size = 128;
            memcpy(u, s, size);   /* not NUL-terminated when it fills the union */
        }
        break;
    }
    case MODEL_INPUT_CFG_ID_DEVIDS:
        if (sub == 0 && !in->o.no_devids) {
            model_put16(u, in->o.bustype);
            model_put16(u + 2, in->o.vendor);
            model_put16(u + 4, in->o.product);
            model_put16(u + 6, in->o.version);
            size = 8;
        }
        break;
    case MODEL_INPUT_CFG_PROP_BITS: break;   /* no properties */
    case MODEL_INPUT_CFG_EV_BITS:
        if (sub < EV_TYPES) {
            size = bitmap_size(in->bits[sub]);
            memcpy(u, in->bits[sub], size);
        }
        break;
    case MODEL_INPUT_CFG_ABS_INFO:
        if (sub < 64 && ((unsigned)in->bits[EV_ABS][sub / 8] >> (sub % 8)) & 1u) {
            for (i = 0; i < 5; i++) model_put32(u + 4 * i, (uint32_t)in->abs[sub].v[i]);
            size = 20;
        }
        break;
    default: break;   /* UNSET and unknown selectors: size 0 */
    }
    cfg[IC_SIZE] = (uint8_t)size;
    /* what the union holds now: le16 IDs, le32 axis values, else bytes */
    model_config_field(m, IC_U, 1, 128);
    if (sel == MODEL_INPUT_CFG_ID_DEVIDS) model_config_field(m, IC_U, 2, 4);
    if (sel == MODEL_INPUT_CFG_ABS_INFO) model_config_field(m, IC_U, 4, 5);
}

static int input_config_write(model *m, void *state, uint32_t off, unsigned width, uint32_t value)
{
    input *in = (input *)state;
    if ((off != IC_SELECT && off != IC_SUBSEL) || width != 1) return 0;   /* everything else is read-only */
    model_config(m)[off] = (uint8_t)value;
    in->stats.cfg_selects++;
    answer(m, in);
    return 1;
}

/* Hand waiting events to the driver while it has buffers posted. */
static void deliver(model *m, input *in)
{
    while (in->count && (model_status(m) & MODEL_S_DRIVER_OK) && model_queue_ready(m, 0)) {
        const model_input_event *e = &in->fifo[in->head];
        uint8_t b[EVENT_BYTES];
        model_chain *c = model_pop(m, 0);
        if (!c) return;   /* none posted: wait for the next notify */
        if (c->read_len) model_bug(m, "input: event buffer with %llu device-readable bytes", (unsigned long long)c->read_len);
        if (c->write_len < EVENT_BYTES) {
            model_bug(m, "input: event buffer of %llu writable bytes (8 needed)", (unsigned long long)c->write_len);
            model_chain_complete(c, 0);
            continue;
        }
        model_put16(b, e->type);
        model_put16(b + 2, e->code);
        model_put32(b + 4, (uint32_t)e->value);
        model_chain_write(c, 0, b, EVENT_BYTES);
        model_chain_complete(c, EVENT_BYTES);
        in->head = (in->head + 1) % MODEL_INPUT_EVENTS_MAX;
        in->count--;
        in->stats.delivered++;
    }
}

static void input_notify(model *m, void *state, uint32_t queue)
{
    if (queue == 0) deliver(m, (input *)state);
}

static void input_driver_ok(model *m, void *state)
{
    deliver(m, (input *)state);
}

/* Status queue (5.8.6.2): each buffer carries whole events for the device. */
static int input_process(model *m, void *state, model_chain *c)
{
    input *in = (input *)state;
    uint64_t off;
    c->used_len = 0;
    if (c->queue != 1) {
        model_bug(m, "input: queue %u processed by the device", c->queue);
        return MODEL_DONE;
    }
    if (c->write_len) model_bug(m, "input: status buffer with %llu device-writable bytes", (unsigned long long)c->write_len);
    if (c->read_len == 0 || c->read_len % EVENT_BYTES)
        model_bug(m, "input: status buffer of %llu bytes is not whole 8-byte events", (unsigned long long)c->read_len);
    for (off = 0; off + EVENT_BYTES <= c->read_len; off += EVENT_BYTES) {
        uint8_t b[EVENT_BYTES];
        model_input_event e;
        model_chain_read(c, off, b, EVENT_BYTES);
        e.type = model_get16(b);
        e.code = model_get16(b + 2);
        e.value = (int32_t)model_get32(b + 4);
        in->stats.status_events++;
        if (in->nstatus < STATUS_LOG) in->status[in->nstatus++] = e;
        if (e.type == EV_LED && e.code < 32) {
            in->stats.led_events++;
            if (e.value) in->stats.leds |= 1u << e.code;
            else in->stats.leds &= ~(1u << e.code);
        }
    }
    return MODEL_DONE;
}

static void input_reset(model *m, void *state)
{
    input *in = (input *)state;
    uint8_t *cfg = model_config(m);
    in->stats.dropped_on_reset += in->count;
    in->head = in->count = 0;
    cfg[IC_SELECT] = cfg[IC_SUBSEL] = 0;
    answer(m, in);
}

static void input_destroy(void *state)
{
    input *in = (input *)state;
    free(in->fifo);
    free(in);
}

model *model_input_new(model_bus *bus, const model_options *o, const model_input_options *io)
{
    model_backend be;
    input *in;
    model *m;
    uint32_t i;
    if (!bus || !o || !io) return NULL;
    in = (input *)calloc(1, sizeof *in);
    if (!in) return NULL;
    in->fifo = (model_input_event *)calloc(MODEL_INPUT_EVENTS_MAX, sizeof *in->fifo);
    if (!in->fifo) {
        free(in);
        return NULL;
    }
    in->o = *io;
    in->o.name[128] = in->o.serial[128] = 0;
    set_bit(in, EV_SYN, 0);
    switch (io->kind) {
    case MODEL_INPUT_KEYBOARD:
        for (i = 1; i < 256; i++) set_bit(in, EV_KEY, i);   /* KEY_ESC .. the usual keyboard range */
        set_bit(in, EV_LED, 0);
        set_bit(in, EV_LED, 1);
        set_bit(in, EV_LED, 2);
        break;
    case MODEL_INPUT_MOUSE:
        for (i = 0x110; i <= 0x114; i++) set_bit(in, EV_KEY, i);   /* BTN_LEFT .. BTN_EXTRA */
        set_bit(in, EV_REL, 0);
        set_bit(in, EV_REL, 1);
        set_bit(in, EV_REL, 8);   /* wheel */
        break;
    case MODEL_INPUT_TABLET:
        for (i = 0x110; i <= 0x112; i++) set_bit(in, EV_KEY, i);
        for (i = 0; i < 2; i++) {
            set_bit(in, EV_ABS, i);
            in->abs[i].v[1] = io->abs_max;
        }
        break;
    default: break;   /* nothing: the test describes it with model_input_set_code */
    }
    memset(&be, 0, sizeof be);
    be.name = "input";
    be.device_id = 18;
    be.features = io->features;
    be.config_size = IC_BYTES;
    be.num_queues = 2;
    be.queue_max[0] = be.queue_max[1] = io->queue_size;
    be.queue_flags[0] = MODEL_QF_PULL;
    be.pci_class = 0x098000u;   /* input device, other */
    be.state = in;
    be.process = input_process;
    be.notify = input_notify;
    be.driver_ok = input_driver_ok;
    be.reset = input_reset;
    be.config_write = input_config_write;
    be.destroy = input_destroy;
    m = model_new(bus, o, &be);   /* destroys in on failure */
    if (!m) return NULL;
    answer(m, in);
    return m;
}

int model_input_inject(model *m, uint16_t type, uint16_t code, int32_t value)
{
    input *in = input_of(m);
    model_input_event *e;
    if (!in) return -1;
    if (in->count == MODEL_INPUT_EVENTS_MAX) {
        in->stats.overflow++;
        return -1;
    }
    e = &in->fifo[(in->head + in->count) % MODEL_INPUT_EVENTS_MAX];
    e->type = type;
    e->code = code;
    e->value = value;
    in->count++;
    in->stats.injected++;
    if (in->count > in->stats.max_pending) in->stats.max_pending = in->count;
    deliver(m, in);
    return 0;
}

uint32_t model_input_pending(model *m)
{
    input *in = input_of(m);
    return in ? in->count : 0;
}

void model_input_set_code(model *m, uint16_t type, uint16_t code)
{
    input *in = input_of(m);
    if (in) set_bit(in, type, code);
}

void model_input_set_abs(model *m, uint16_t ax, int32_t min, int32_t max, int32_t fuzz, int32_t flat, int32_t res)
{
    input *in = input_of(m);
    if (!in || ax >= 64) return;
    set_bit(in, EV_ABS, ax);
    in->abs[ax].v[0] = min;
    in->abs[ax].v[1] = max;
    in->abs[ax].v[2] = fuzz;
    in->abs[ax].v[3] = flat;
    in->abs[ax].v[4] = res;
}

const model_input_event *model_input_status_log(model *m, uint32_t *count)
{
    input *in = input_of(m);
    if (count) *count = in ? in->nstatus : 0;
    return in ? in->status : NULL;
}

model_input_stats *model_input_get_stats(model *m)
{
    input *in = input_of(m);
    return in ? &in->stats : NULL;
}
