/* SPDX-License-Identifier: MIT OR Unlicense */
#if defined(VIRTIO_IMPLEMENTATION) && !defined(VIRTIO_INPUT_IMPLEMENTATION)
#define VIRTIO_INPUT_IMPLEMENTATION
#endif
#include "virtio.h"
#ifndef VIRTIO_INPUT_H
#define VIRTIO_INPUT_H
/*
virtio_input.h - v0.3.11 - VirtIO input driver (keyboard, mouse, tablet) for virtio.h - MIT OR Unlicense

QUICK START

    #define VIRTIO_IMPLEMENTATION      // in one file
    #include "virtio_input.h"

    virtio_device dev;                 // from virtio_mmio_probe / virtio_pci_probe
    static virtio_input kbd;           // zero-filled: init refuses a running one
    virtio_input_keys keys;            // modifier and lock state, all off:
    VIRTIO_ZERO(&keys);
    virtio_input_ev ev;
    char c;
    if (virtio_input_init(&kbd, &dev, NULL) == VIRTIO_OK &&
        kbd.info.role == VIRTIO_INPUT_ROLE_KEYBOARD)
        for (;;)
            if (virtio_input_poll(&kbd, &ev) == VIRTIO_OK &&
                virtio_input_key_char(&keys, &ev, &c) == VIRTIO_OK)
                putchar(c);

CONFIGURATION

    macro                          default   scope
    VIRTIO_INPUT_IMPLEMENTATION    -         emit this driver (VIRTIO_IMPLEMENTATION implies it)

EVENTS

Events are Linux evdev triples (type, code, value), delivered in the order
the device produced them. The event queue is kept full: each buffer is
posted again as soon as its event has been taken, so any number of events
arrive as long as the driver is polled often enough. A device hands over
whole reports (the events up to SYN_REPORT) and needs a free buffer for
each of their events at that moment: QEMU drops a report that does not fit
(trace event virtio_input_queue_full), so poll at least once per `buffers`
events, and a single report longer than `buffers` never arrives.
virtio_input_read_report() groups events up to and including SYN_REPORT.
Each call takes at most `buffers` events off the queue, however many the
device hands over: a buffer the device completes with a length shorter
than one event (8 bytes) is dropped, reposted and counted in `dropped`
(virtio_input_poll returns VIRTIO_ERR_DEVICE for it), and a device that
keeps doing so cannot hold a call. A length longer than one event is
clamped to 8 bytes by virtio.h (counted in eventq.clamped) and the event
is delivered. The VIRTIO_INPUT_EV_* / _KEY_* / _BTN_* / _REL_* / _ABS_*
/ _LED_* constants are the evdev values this driver and its users need,
under our own names.
Events, the status queue and the configuration union are little-endian
whatever the transport: virtio-input has no legacy interface (virtio 1.2
5.8), and devices that are reachable over a legacy transport (QEMU's
virtio-mmio in legacy mode) still use its 1.0 layout.

ROLES

info.role is decided from the event bits: EV_ABS with ABS_X means a tablet
(or touch screen), else EV_REL means a mouse, else EV_KEY means a keyboard.
Absolute and relative devices are checked first because QEMU's mice and
tablets also report button keys.

CONFIGURATION CHANGES

virtio_input_refresh re-reads what the device says about itself into
info (name, serial, ids, properties, event types, role) and reports
VIRTIO_INPUT_CHANGED_INFO when any of it changed.

INTERRUPTS

Arm the event queue with virtio_queue_enable_cb(&in.eventq, &pending);
the status queue (LEDs) is reclaimed by virtio_input_set_leds and needs no
interrupt. In the handler, virtio_device_isr(&in.dev, &isr) acknowledges:
VIRTIO_ISR_QUEUE means drain (virtio_input_poll or virtio_input_read_report
until VIRTIO_EMPTY), VIRTIO_ISR_CONFIG means virtio_input_refresh. With
event index an armed queue interrupts once: after each drain call
virtio_queue_enable_cb again, and if it reports pending, drain again
before sleeping. Draining to VIRTIO_EMPTY also notifies the device of
every buffer reposted, so it never runs dry unseen.

MEMORY

All from dma_alloc at init, given back at shutdown (newest first).

    what                         size                      align  kind
    event buffers + LED events   (buffers + 6) x 8         8      DMA
    report staging               buffers x 8               8      PRIVATE
    rings (virtio.h)             event ring of `buffers` entries, status
                                 ring of 8 (rounded up to a power of two,
                                 see virtio_queue_init)

Defaults (64 buffers): 560 bytes of events, 512 bytes of staging, and the
two rings with their shadows: 3 392 bytes in 6 allocations with packed
rings, 4 124 with split ones (shadows of 16 bytes per entry; 12 on 32-bit
CPUs: 3 104 packed; test_input checks them), none above 4096 bytes on a
modern transport. `buffers` is the knob (up to 1024: then 8240 bytes of
events in one allocation, and a 16 KiB ring). Legacy PCI devices fix
their ring sizes.

RESET AND SHUTDOWN

virtio_input_shutdown resets the device before it gives memory back. If
the reset does not complete, the device may still write the rings and
event buffers: they are leaked, never freed, and shutdown returns
VIRTIO_ERR_TIMEOUT (the object is shut down all the same).

LIMITS

Up to 1024 event buffers (default 64, at most the queue size). Config
strings are at most 128 bytes. The text helper knows the US layout only.
LED updates: three status buffers each (NUML, CAPSL, SCROLLL, no
SYN_REPORT: QEMU 7.2 complains about any other type); up to two updates in
flight.

license: end of file (virtio.h)
*/

#if !defined(VIRTIO_KIT_VERSION) || VIRTIO_KIT_VERSION < 2 || VIRTIO_KIT_COMPAT > 2
#error "virtio_input.h needs the virtio.h driver kit 2"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* evdev event types and the codes used here (Linux input-event-codes). */
#define VIRTIO_INPUT_EV_SYN 0x00
#define VIRTIO_INPUT_EV_KEY 0x01
#define VIRTIO_INPUT_EV_REL 0x02
#define VIRTIO_INPUT_EV_ABS 0x03
#define VIRTIO_INPUT_EV_MSC 0x04
#define VIRTIO_INPUT_EV_LED 0x11
#define VIRTIO_INPUT_EV_MAX 0x1f
#define VIRTIO_INPUT_SYN_REPORT 0
#define VIRTIO_INPUT_REL_X 0x00
#define VIRTIO_INPUT_REL_Y 0x01
#define VIRTIO_INPUT_REL_WHEEL 0x08
#define VIRTIO_INPUT_ABS_X 0x00
#define VIRTIO_INPUT_ABS_Y 0x01
#define VIRTIO_INPUT_BTN_LEFT 0x110
#define VIRTIO_INPUT_BTN_RIGHT 0x111
#define VIRTIO_INPUT_BTN_MIDDLE 0x112
#define VIRTIO_INPUT_KEY_LEFTSHIFT 42
#define VIRTIO_INPUT_KEY_RIGHTSHIFT 54
#define VIRTIO_INPUT_KEY_CAPSLOCK 58
#define VIRTIO_INPUT_KEY_LEFTCTRL 29
#define VIRTIO_INPUT_KEY_RIGHTCTRL 97
#define VIRTIO_INPUT_LED_NUML 0
#define VIRTIO_INPUT_LED_CAPSL 1
#define VIRTIO_INPUT_LED_SCROLLL 2

/* Device roles (info.role). */
#define VIRTIO_INPUT_ROLE_UNKNOWN 0
#define VIRTIO_INPUT_ROLE_KEYBOARD 1
#define VIRTIO_INPUT_ROLE_MOUSE 2
#define VIRTIO_INPUT_ROLE_TABLET 3

/* virtio_input_refresh: what changed */
#define VIRTIO_INPUT_CHANGED_INFO 1u   /* info (identity, event types, role) */

/* Bits for virtio_input_set_leds. */
#define VIRTIO_INPUT_LEDS_NUM (1u << VIRTIO_INPUT_LED_NUML)
#define VIRTIO_INPUT_LEDS_CAPS (1u << VIRTIO_INPUT_LED_CAPSL)
#define VIRTIO_INPUT_LEDS_SCROLL (1u << VIRTIO_INPUT_LED_SCROLLL)

/* One event. */
typedef struct virtio_input_ev {
    uint16_t type;
    uint16_t code;
    int32_t value;
} virtio_input_ev;

/* Range of an absolute axis (ABS_INFO). */
typedef struct virtio_input_axis {
    int32_t min, max, fuzz, flat, res;
} virtio_input_axis;

/* What the device says about itself. */
typedef struct virtio_input_info {
    char name[129];             /* ID_NAME, NUL-terminated */
    char serial[129];           /* ID_SERIAL, NUL-terminated (may be empty) */
    uint16_t bustype, vendor, product, version;   /* ID_DEVIDS (0 if absent) */
    uint32_t role;              /* VIRTIO_INPUT_ROLE_* */
    uint32_t ev_types;          /* bit n set: the device reports event type n */
    uint8_t props[16];          /* PROP_BITS (first 128 properties) */
} virtio_input_info;

/* Driver choices. Defaults (all zero):
     device    automatic ring format, indirect and event index if offered
     buffers   64 event buffers (bounded by the queue size) */
typedef struct virtio_input_options {
    virtio_device_options device;
    uint32_t buffers;
} virtio_input_options;

/* An input device. Caller-owned, must not move after init. Readable: dev,
   eventq, statusq, info, dropped (buffers the device returned shorter
   than one event). The rest is private. */
typedef struct virtio_input {
    virtio_device dev;
    virtio_queue eventq, statusq;
    virtio_input_info info;
    uint32_t dropped;
    struct {
        uint32_t magic;
        uint32_t nbuf;
        unsigned char *evbuf;         /* DMA: nbuf events, then status events */
        uint64_t evbuf_dev;
        size_t evbuf_bytes;
        uint32_t repost;              /* reposted since the last kick */
        uint32_t sts_busy;            /* status slots the device has not returned */
        virtio_input_ev *stage;       /* private: events of the report being gathered */
        uint32_t staged;
        uint32_t stage_done;          /* staged events end with SYN_REPORT */
    } priv;
} virtio_input;

/* Modifier state for the text helper. Zero-initialise. */
typedef struct virtio_input_keys {
    uint32_t shift, ctrl, caps;
} virtio_input_keys;

/* Initialise an input device on a probed device (copied into in->dev);
   in must be zero-filled or shut down (a running one is refused): read
   name, serial, ids, properties and event types into in->info,
   decide the role, fill the event queue, set DRIVER_OK.
   Returns VIRTIO_OK; VIRTIO_ERR_INVALID_ARG (NULL); VIRTIO_ERR_STATE (in
   is initialised and not shut down: nothing is changed);
   VIRTIO_ERR_NOT_FOUND (not an input device); VIRTIO_ERR_NO_MEMORY;
   VIRTIO_ERR_DEVICE (a config answer larger than its field; a device
   without the queues or configuration its type requires: no status
   queue, a configuration window shorter than the fields, a queue live
   right after the reset); the errors of virtio_device_begin.
   Context: blocks for the reset (bounded); allocates through dma_alloc
   (see MEMORY). */
VIRTIO_API virtio_result virtio_input_init(virtio_input *in, const virtio_device *dev,
                                           const virtio_input_options *o);

/* Reset the device and free the driver's memory. Returns VIRTIO_OK;
   VIRTIO_ERR_TIMEOUT (the reset did not complete: the memory the device
   may still write is leaked, see RESET AND SHUTDOWN; in is shut down
   anyway); VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_input_shutdown(virtio_input *in);

/* Take the next event. out: ev. Returns VIRTIO_OK; VIRTIO_EMPTY;
   VIRTIO_ERR_DEVICE (a buffer shorter than one event: dropped and
   re-posted, `dropped` counts them; or the event queue broke);
   VIRTIO_ERR_INVALID_ARG; VIRTIO_ERR_STATE.
   Context: never blocks. Do not mix with read_report while it holds a
   partial report (poll returns the held events first). */
VIRTIO_API virtio_result virtio_input_poll(virtio_input *in, virtio_input_ev *ev);

/* Collect one report: the events up to and including SYN_REPORT.
   out: evs[0..*count) (count may be NULL). Returns VIRTIO_OK (a whole
   report, or `buffers`
   events without a SYN_REPORT when the device sent that many);
   VIRTIO_EMPTY (no complete report yet: the events so far are held; also
   when this call has taken `buffers` events, dropped ones included:
   call again); VIRTIO_ERR_TOO_BIG (the report has more than max events:
   it is kept, ask again with more room); VIRTIO_ERR_INVALID_ARG;
   VIRTIO_ERR_STATE; VIRTIO_ERR_DEVICE (the event queue broke).
   Context: never blocks; at most `buffers` events per call. */
VIRTIO_API virtio_result virtio_input_read_report(virtio_input *in, virtio_input_ev *evs, uint32_t max,
                                                  uint32_t *count);

/* Which codes of event type `type` the device reports (EV_BITS).
   out: bitmap[0..*bytes) (bit n = code n; at most 128 bytes; bytes may be
   NULL).
   Returns VIRTIO_OK; VIRTIO_ERR_UNSUPPORTED (the device does not report
   that type); VIRTIO_ERR_INVALID_ARG; VIRTIO_ERR_STATE; VIRTIO_ERR_DEVICE. */
VIRTIO_API virtio_result virtio_input_query_bits(virtio_input *in, uint32_t type, uint8_t bitmap[128],
                                                 uint32_t *bytes);

/* Does the device report (type, code)? Returns 1 or 0 (0 also for an
   absent type, a code of 1024 or more, a device that does not answer,
   and an uninitialised in). */
VIRTIO_API int virtio_input_has_code(virtio_input *in, uint32_t type, uint32_t code);

/* Range of absolute axis `axis` (ABS_INFO). Returns VIRTIO_OK;
   VIRTIO_ERR_UNSUPPORTED (no EV_ABS, or no such axis);
   VIRTIO_ERR_INVALID_ARG; VIRTIO_ERR_STATE; VIRTIO_ERR_DEVICE. */
VIRTIO_API virtio_result virtio_input_query_abs(virtio_input *in, uint32_t axis, virtio_input_axis *out);

/* Map an absolute value from the axis range to [0, range): e.g. a screen
   coordinate. Values outside the axis range are clamped. out may be NULL.
   Returns VIRTIO_OK or VIRTIO_ERR_INVALID_ARG (NULL axis, range 0, empty
   axis). */
VIRTIO_API virtio_result virtio_input_scale(const virtio_input_axis *axis, int32_t value, uint32_t range,
                                            uint32_t *out);

/* Re-read the device's description into info (see CONFIGURATION
   CHANGES). out: changed (VIRTIO_INPUT_CHANGED_* bits, 0 = nothing; may
   be NULL). On failure info is left as it was.
   Returns VIRTIO_OK; VIRTIO_ERR_DEVICE (an answer larger than its field,
   a configuration that never settles); VIRTIO_ERR_STATE.
   Context: about 40 configuration accesses. */
VIRTIO_API virtio_result virtio_input_refresh(virtio_input *in, uint32_t *changed);

/* Set the keyboard LEDs (VIRTIO_INPUT_LEDS_* bits) through the status
   queue: one EV_LED event each for NUML, CAPSL and SCROLLL.
   Returns VIRTIO_OK; VIRTIO_ERR_UNSUPPORTED (no EV_LED);
   VIRTIO_ERR_NO_SPACE (the device has not yet taken the previous two
   updates: try again later); VIRTIO_ERR_DEVICE (the status queue broke);
   VIRTIO_ERR_STATE. Context: never blocks. */
VIRTIO_API virtio_result virtio_input_set_leds(virtio_input *in, uint32_t leds);

/* Text helper: feed every event; key presses (and autorepeats) of
   printable keys on a US layout come back as characters, honouring shift
   and caps lock ('\n' for Enter, '\b' for Backspace, '\t' for Tab).
   Ctrl+letter gives the control character (Ctrl+C = 3).
   The modifier state in keys follows every event. Returns VIRTIO_OK (*ch
   set unless ch is NULL), VIRTIO_EMPTY (no character),
   VIRTIO_ERR_INVALID_ARG (NULL keys or ev). */
VIRTIO_API virtio_result virtio_input_key_char(virtio_input_keys *keys, const virtio_input_ev *ev, char *ch);

#ifdef __cplusplus
}
#endif
#endif /* VIRTIO_INPUT_H */

/* ==================================================================== */
/* Implementation                                                        */
/* ==================================================================== */
#if defined(VIRTIO_INPUT_IMPLEMENTATION) && !defined(VIRTIO__INPUT_DONE)
#define VIRTIO__INPUT_DONE

/* Configuration (virtio 1.2 5.8.4): select, subsel, size, then a union. */
#define VIRTIO__INPUT_CFG_SELECT 0
#define VIRTIO__INPUT_CFG_SUBSEL 1
#define VIRTIO__INPUT_CFG_SIZE 2
#define VIRTIO__INPUT_CFG_U 8
#define VIRTIO__INPUT_SEL_ID_NAME 0x01
#define VIRTIO__INPUT_SEL_ID_SERIAL 0x02
#define VIRTIO__INPUT_SEL_ID_DEVIDS 0x03
#define VIRTIO__INPUT_SEL_PROP_BITS 0x10
#define VIRTIO__INPUT_SEL_EV_BITS 0x11
#define VIRTIO__INPUT_SEL_ABS_INFO 0x12
#define VIRTIO__INPUT_EVENT_BYTES 8u   /* le16 type, le16 code, le32 value */
#define VIRTIO__INPUT_STATUS_SLOTS 6u   /* two LED updates in flight */
#define VIRTIO__INPUT_MAGIC 0x696e7021u  /* "inp!" */

static int virtio__input_ok(const virtio_input *in)
{
    return in && in->priv.magic == VIRTIO__INPUT_MAGIC;
}

/* virtio-input's wire values are little-endian on every transport (it is
   a 1.0-only device type), unlike virtio_load/virtio_store, which follow
   a legacy transport's guest order. A little-endian CPU loads them as
   they are (one load, like virtio_load); others byte by byte. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static inline uint32_t virtio__input_le(const unsigned char *b, unsigned bytes)
{
    uint32_t v = 0;
    VIRTIO_MEMCPY(&v, b, bytes);   /* the low-order bytes come first */
    return v;
}

static inline void virtio__input_put_le(unsigned char *b, uint32_t v, unsigned bytes)
{
    VIRTIO_MEMCPY(b, &v, bytes);
}
#else
static inline uint32_t virtio__input_le(const unsigned char *b, unsigned bytes)
{
    uint32_t v = 0;
    while (bytes--) v = v << 8 | b[bytes];
    return v;
}

static inline void virtio__input_put_le(unsigned char *b, uint32_t v, unsigned bytes)
{
    unsigned i;
    for (i = 0; i < bytes; i++) b[i] = (unsigned char)(v >> (8 * i));
}
#endif

/* Select (sel, subsel) and read up to `cap` bytes of the answer into buf
   as they lie in the device: fields of 1 << shift bytes (1: strings and
   bitmaps; 2: DEVIDS; 4: ABS_INFO), each with one access of its width
   (virtio 1.2 4.2.2.2), whole fields only. out: *size = bytes read (0 =
   nothing). */
static virtio_result virtio__input_cfg(virtio_input *in, uint32_t sel, uint32_t subsel, unsigned shift, void *buf,
                                       uint32_t cap, uint32_t *size)
{
    union {
        uint16_t h[64];
        uint32_t w[32];
    } f;
    unsigned width = 1u << shift;   /* (shifts, not divisions: no division helpers on 32-bit Arm) */
    uint32_t i;
    uint8_t n;
    virtio_result r;
    if ((r = virtio_config_write(&in->dev, VIRTIO__INPUT_CFG_SELECT, 1, sel)) != VIRTIO_OK) return r;
    if ((r = virtio_config_write(&in->dev, VIRTIO__INPUT_CFG_SUBSEL, 1, subsel)) != VIRTIO_OK) return r;
    if ((r = virtio_config_read8(&in->dev, VIRTIO__INPUT_CFG_SIZE, &n)) != VIRTIO_OK) return r;
    if (n > 128) return VIRTIO_ERR_DEVICE;   /* the union holds 128 bytes */
    if (n > cap) n = (uint8_t)cap;
    n = (uint8_t)(n & ~(width - 1));
    if (width == 1 && n && (r = virtio_config_read(&in->dev, VIRTIO__INPUT_CFG_U, buf, n)) != VIRTIO_OK) return r;
    if (width > 1 && n) {
        if ((r = virtio_config_read_fields(&in->dev, VIRTIO__INPUT_CFG_U, width, n >> shift, &f)) != VIRTIO_OK)
            return r;
        /* (the device's order: little-endian, or a legacy transport's) */
        for (i = 0; i < (uint32_t)n >> shift; i++)
            virtio_store(&in->dev, (unsigned char *)buf + (i << shift), width == 2 ? f.h[i] : f.w[i], width);
    }
    *size = n;
    return VIRTIO_OK;
}

static int virtio__input_bit(const uint8_t *bm, uint32_t bytes, uint32_t bit)
{
    return bit / 8 < bytes && ((uint32_t)bm[bit / 8] >> (bit % 8) & 1u);
}

/* Read the device's description into *f (zeroed first, so that two
   readings of the same answers compare equal byte for byte). Missing
   items are simply empty. */
static virtio_result virtio__input_describe(virtio_input *in, virtio_input_info *f)
{
    uint8_t bm[128];
    uint32_t n, i;
    virtio_result r;
    VIRTIO_ZERO(f);
#define VIRTIO__INPUT_TRY(x) do { if ((r = (x)) != VIRTIO_OK) return r; } while (0)
    VIRTIO__INPUT_TRY(virtio__input_cfg(in, VIRTIO__INPUT_SEL_ID_NAME, 0, 0, f->name, 128, &n));
    f->name[n] = 0;
    VIRTIO__INPUT_TRY(virtio__input_cfg(in, VIRTIO__INPUT_SEL_ID_SERIAL, 0, 0, f->serial, 128, &n));
    f->serial[n] = 0;
    VIRTIO__INPUT_TRY(virtio__input_cfg(in, VIRTIO__INPUT_SEL_ID_DEVIDS, 0, 1, bm, 8, &n));
    if (n == 8) {
        f->bustype = (uint16_t)virtio__input_le(bm, 2);
        f->vendor = (uint16_t)virtio__input_le(bm + 2, 2);
        f->product = (uint16_t)virtio__input_le(bm + 4, 2);
        f->version = (uint16_t)virtio__input_le(bm + 6, 2);
    }
    VIRTIO__INPUT_TRY(virtio__input_cfg(in, VIRTIO__INPUT_SEL_PROP_BITS, 0, 0, f->props, 16, &n));
    for (i = 1; i <= VIRTIO_INPUT_EV_MAX; i++) {
        VIRTIO__INPUT_TRY(virtio__input_cfg(in, VIRTIO__INPUT_SEL_EV_BITS, i, 0, bm, sizeof bm, &n));
        if (n) f->ev_types |= 1u << i;
    }
    /* Role: absolute and relative axes outrank keys (mice have buttons). */
    f->role = VIRTIO_INPUT_ROLE_UNKNOWN;
    if (f->ev_types & (1u << VIRTIO_INPUT_EV_ABS)) {
        VIRTIO__INPUT_TRY(virtio__input_cfg(in, VIRTIO__INPUT_SEL_EV_BITS, VIRTIO_INPUT_EV_ABS, 0, bm, sizeof bm, &n));
        if (virtio__input_bit(bm, n, VIRTIO_INPUT_ABS_X)) f->role = VIRTIO_INPUT_ROLE_TABLET;
    }
#undef VIRTIO__INPUT_TRY
    if (!f->role && (f->ev_types & (1u << VIRTIO_INPUT_EV_REL))) f->role = VIRTIO_INPUT_ROLE_MOUSE;
    if (!f->role && (f->ev_types & (1u << VIRTIO_INPUT_EV_KEY))) f->role = VIRTIO_INPUT_ROLE_KEYBOARD;
    return VIRTIO_OK;
}

static virtio_result virtio__input_post(virtio_input *in, uint32_t i)
{
    virtio_sg sg;
    sg.addr = in->priv.evbuf_dev + (uint64_t)i * VIRTIO__INPUT_EVENT_BYTES;
    sg.len = VIRTIO__INPUT_EVENT_BYTES;
    sg.pad = 0;
    in->priv.repost++;
    return virtio_queue_add(&in->eventq, &sg, 0, 1, (void *)(uintptr_t)(i + 1));
}

/* Notify the device of reposted buffers, if any. */
static void virtio__input_kick(virtio_input *in)
{
    if (in->priv.repost) {
        virtio_queue_kick(&in->eventq);
        in->priv.repost = 0;
    }
}

/* Give back what init allocated, newest first; with device_memory 0 (the
   reset did not complete) only the private staging area: what the device
   may still write is leaked rather than handed out again. */
static void virtio__input_release(virtio_input *in, int device_memory)
{
    const virtio_platform *p = in->dev.platform;
    virtio_free(p, in->priv.stage, (size_t)in->priv.nbuf * sizeof(virtio_input_ev), VIRTIO_MEM_PRIVATE);
    in->priv.stage = 0;
    if (!device_memory) return;
    virtio_free(p, in->priv.evbuf, in->priv.evbuf_bytes, VIRTIO_MEM_DMA);
    if (in->statusq.dev) virtio_queue_destroy(&in->statusq);
    if (in->eventq.dev) virtio_queue_destroy(&in->eventq);
}

VIRTIO_API virtio_result virtio_input_init(virtio_input *in, const virtio_device *dev,
                                           const virtio_input_options *o)
{
    virtio_input_options def;
    virtio_queue_options qo;
    const virtio_platform *p;
    uint32_t i;
    void *m;   /* (what virtio_alloc gives, before it is typed) */
    virtio_result r;
    if (!in || !dev) return VIRTIO_ERR_INVALID_ARG;
    if (in->priv.magic == VIRTIO__INPUT_MAGIC) return VIRTIO_ERR_STATE;   /* running: shut it down first */
    if (dev->device_id != VIRTIO_DEVICE_INPUT) return VIRTIO_ERR_NOT_FOUND;
    if (!o) {
        VIRTIO_ZERO(&def);
        o = &def;
    }
    VIRTIO_ZERO(in);
    in->dev = *dev;
    p = in->dev.platform;
    if ((r = virtio_device_begin(&in->dev, 0, &o->device)) != VIRTIO_OK) return r;
    if ((r = virtio__input_describe(in, &in->info)) != VIRTIO_OK) goto fail;

    /* Queues: events in (one ring entry per buffer), status (LEDs) out:
       two updates of three events in flight. */
    in->priv.nbuf = o->buffers ? o->buffers : 64u;
    if (in->priv.nbuf > 1024) in->priv.nbuf = 1024;
    VIRTIO_ZERO(&qo);
    qo.size = 1;
    while (qo.size < in->priv.nbuf) qo.size <<= 1;
    if ((r = virtio_queue_init(&in->eventq, &in->dev, 0, &qo)) != VIRTIO_OK) goto fail;
    qo.size = 8;
    if ((r = virtio_queue_init(&in->statusq, &in->dev, 1, &qo)) != VIRTIO_OK) goto fail;
    if (in->priv.nbuf > in->eventq.size) in->priv.nbuf = in->eventq.size;
    in->priv.evbuf_bytes = (size_t)(in->priv.nbuf + VIRTIO__INPUT_STATUS_SLOTS) * VIRTIO__INPUT_EVENT_BYTES;
    r = virtio_alloc(p, in->priv.evbuf_bytes, 8, VIRTIO_MEM_DMA, &m, &in->priv.evbuf_dev);
    if (r != VIRTIO_OK) goto fail;
    in->priv.evbuf = (unsigned char *)m;
    r = virtio_alloc(p, (size_t)in->priv.nbuf * sizeof(virtio_input_ev), 8, VIRTIO_MEM_PRIVATE, &m, 0);
    if (r != VIRTIO_OK) goto fail;
    in->priv.stage = (virtio_input_ev *)m;
    for (i = 0; i < in->priv.nbuf; i++)
        if ((r = virtio__input_post(in, i)) != VIRTIO_OK) goto fail;
    if ((r = virtio_device_ready(&in->dev)) != VIRTIO_OK) goto fail;
    virtio__input_kick(in);
    in->priv.magic = VIRTIO__INPUT_MAGIC;
    return VIRTIO_OK;
fail:
    r = virtio_device_fault(r);   /* a device without what its type requires */
    virtio_device_fail(&in->dev);
    virtio__input_release(in, virtio_device_reset(&in->dev) == VIRTIO_OK);
    return r;
}

VIRTIO_API virtio_result virtio_input_shutdown(virtio_input *in)
{
    virtio_result r;
    if (!virtio__input_ok(in)) return VIRTIO_ERR_STATE;
    in->priv.magic = 0;
    r = virtio_device_reset(&in->dev);
    virtio__input_release(in, r == VIRTIO_OK);
    return r == VIRTIO_OK ? VIRTIO_OK : VIRTIO_ERR_TIMEOUT;
}

/* One event from the device, straight from the queue. */
static virtio_result virtio__input_take(virtio_input *in, virtio_input_ev *ev)
{
    void *cookie;
    uint32_t len, i;
    unsigned char *b;
    virtio_result r = virtio_queue_pop(&in->eventq, &cookie, &len);
    if (r != VIRTIO_OK) return r;
    i = (uint32_t)((uintptr_t)cookie - 1);
    b = in->priv.evbuf + (size_t)i * VIRTIO__INPUT_EVENT_BYTES;
    if (len != VIRTIO__INPUT_EVENT_BYTES) {
        r = VIRTIO_ERR_DEVICE;
        in->dropped++;
    } else {
        ev->type = (uint16_t)virtio__input_le(b, 2);
        ev->code = (uint16_t)virtio__input_le(b + 2, 2);
        ev->value = (int32_t)virtio__input_le(b + 4, 4);
    }
    virtio__input_post(in, i);
    /* Kick in batches: the device only needs to know when it ran dry. */
    if (in->priv.repost >= in->priv.nbuf / 4 || in->eventq.num_free == 0) virtio__input_kick(in);
    return r;
}

VIRTIO_API virtio_result virtio_input_poll(virtio_input *in, virtio_input_ev *ev)
{
    virtio_result r;
    if (!virtio__input_ok(in)) return VIRTIO_ERR_STATE;
    if (!ev) return VIRTIO_ERR_INVALID_ARG;
    if (in->priv.staged) {   /* events held by read_report come first */
        uint32_t i;
        *ev = in->priv.stage[0];
        for (i = 1; i < in->priv.staged; i++) in->priv.stage[i - 1] = in->priv.stage[i];   /* overlapping */
        if (--in->priv.staged == 0) in->priv.stage_done = 0;
        return VIRTIO_OK;
    }
    r = virtio__input_take(in, ev);
    if (r != VIRTIO_OK) virtio__input_kick(in);
    return r;
}

VIRTIO_API virtio_result virtio_input_read_report(virtio_input *in, virtio_input_ev *evs, uint32_t max,
                                                  uint32_t *count)
{
    virtio_result r;
    uint32_t taken = 0;
    if (!virtio__input_ok(in)) return VIRTIO_ERR_STATE;
    if (!evs || max == 0) return VIRTIO_ERR_INVALID_ARG;
    /* Bounded: at most nbuf events leave the queue in one call, dropped
       ones included, whatever the device keeps completing. */
    while (!in->priv.stage_done && in->priv.staged < in->priv.nbuf) {
        virtio_input_ev ev;
        if (taken++ == in->priv.nbuf) {
            virtio__input_kick(in);
            return VIRTIO_EMPTY;
        }
        r = virtio__input_take(in, &ev);
        if (r == VIRTIO_ERR_DEVICE) continue;   /* dropped, counted */
        if (r != VIRTIO_OK) {
            virtio__input_kick(in);
            return r;
        }
        in->priv.stage[in->priv.staged++] = ev;
        if (ev.type == VIRTIO_INPUT_EV_SYN && ev.code == VIRTIO_INPUT_SYN_REPORT) in->priv.stage_done = 1;
    }
    virtio__input_kick(in);
    if (in->priv.staged > max) return VIRTIO_ERR_TOO_BIG;
    VIRTIO_MEMCPY(evs, in->priv.stage, in->priv.staged * sizeof(*evs));
    if (count) *count = in->priv.staged;
    in->priv.staged = 0;
    in->priv.stage_done = 0;
    return VIRTIO_OK;
}

/* >>input.config */
VIRTIO_API virtio_result virtio_input_refresh(virtio_input *in, uint32_t *changed)
{
    virtio_input_info f;
    const unsigned char *x = (const unsigned char *)&f, *y = (const unsigned char *)&in->info;
    size_t i = 0;
    virtio_result r;
    if (!virtio__input_ok(in)) return VIRTIO_ERR_STATE;
    if ((r = virtio__input_describe(in, &f)) != VIRTIO_OK) return r;
    /* Both were zeroed before they were filled: compare every byte. */
    while (i < sizeof f && x[i] == y[i]) i++;
    if (i < sizeof f) VIRTIO_MEMCPY(&in->info, &f, sizeof f);
    if (changed) *changed = i < sizeof f ? VIRTIO_INPUT_CHANGED_INFO : 0u;
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_input_query_bits(virtio_input *in, uint32_t type, uint8_t bitmap[128],
                                                 uint32_t *bytes)
{
    uint32_t n;
    virtio_result r;
    if (!virtio__input_ok(in)) return VIRTIO_ERR_STATE;
    if (!bitmap || type == 0 || type > VIRTIO_INPUT_EV_MAX) return VIRTIO_ERR_INVALID_ARG;
    if (!(in->info.ev_types & (1u << type))) return VIRTIO_ERR_UNSUPPORTED;
    if ((r = virtio__input_cfg(in, VIRTIO__INPUT_SEL_EV_BITS, type, 0, bitmap, 128, &n)) != VIRTIO_OK) return r;
    if (n == 0) return VIRTIO_ERR_UNSUPPORTED;
    if (bytes) *bytes = n;
    return VIRTIO_OK;
}

VIRTIO_API int virtio_input_has_code(virtio_input *in, uint32_t type, uint32_t code)
{
    uint8_t bm[128];
    uint32_t n;
    if (code >= 1024 || virtio_input_query_bits(in, type, bm, &n) != VIRTIO_OK) return 0;
    return virtio__input_bit(bm, n, code);
}

VIRTIO_API virtio_result virtio_input_query_abs(virtio_input *in, uint32_t axis, virtio_input_axis *out)
{
    uint8_t b[20];
    uint32_t n;
    virtio_result r;
    if (!virtio__input_ok(in)) return VIRTIO_ERR_STATE;
    if (!out || axis > 0x3f) return VIRTIO_ERR_INVALID_ARG;
    if (!(in->info.ev_types & (1u << VIRTIO_INPUT_EV_ABS))) return VIRTIO_ERR_UNSUPPORTED;
    if ((r = virtio__input_cfg(in, VIRTIO__INPUT_SEL_ABS_INFO, axis, 2, b, sizeof b, &n)) != VIRTIO_OK) return r;
    if (n < 8) return VIRTIO_ERR_UNSUPPORTED;   /* at least min and max */
    if (n < 20) VIRTIO_MEMSET(b + n, 0, 20 - n);
    out->min = (int32_t)virtio__input_le(b, 4);
    out->max = (int32_t)virtio__input_le(b + 4, 4);
    out->fuzz = (int32_t)virtio__input_le(b + 8, 4);
    out->flat = (int32_t)virtio__input_le(b + 12, 4);
    out->res = (int32_t)virtio__input_le(b + 16, 4);
    return VIRTIO_OK;
}

/* n / d without the compiler's 64-bit division helpers, which a
   freestanding 32-bit build may not have. */
static uint64_t virtio__input_udiv(uint64_t n, uint64_t d)
{
    uint64_t q = 0, rem = 0;
    int i;
    for (i = 63; i >= 0; i--) {
        rem = rem << 1 | ((n >> i) & 1u);
        if (rem >= d) {
            rem -= d;
            q |= 1ull << i;
        }
    }
    return q;
}

VIRTIO_API virtio_result virtio_input_scale(const virtio_input_axis *axis, int32_t value, uint32_t range,
                                            uint32_t *out)
{
    uint64_t span, v;
    if (!axis || range == 0 || axis->max <= axis->min) return VIRTIO_ERR_INVALID_ARG;
    span = (uint64_t)((int64_t)axis->max - axis->min);
    if (value < axis->min) value = axis->min;
    if (value > axis->max) value = axis->max;
    v = (uint64_t)((int64_t)value - axis->min);
    /* Map [min, max] onto [0, range - 1], rounding to nearest. */
    if (out) *out = (uint32_t)virtio__input_udiv(v * (range - 1u) + span / 2, span);
    return VIRTIO_OK;
}

/* >>input.status
   Each LED event is its own buffer (QEMU reads one event per buffer), in a
   status slot that stays untouched until the device gives it back. */
VIRTIO_API virtio_result virtio_input_set_leds(virtio_input *in, uint32_t leds)
{
    static const uint16_t codes[3] = { VIRTIO_INPUT_LED_NUML, VIRTIO_INPUT_LED_CAPSL, VIRTIO_INPUT_LED_SCROLLL };
    void *cookie;
    uint32_t len, k, n = 0, slot[3];
    virtio_result r;
    if (!virtio__input_ok(in)) return VIRTIO_ERR_STATE;
    if (!(in->info.ev_types & (1u << VIRTIO_INPUT_EV_LED))) return VIRTIO_ERR_UNSUPPORTED;
    while ((r = virtio_queue_pop(&in->statusq, &cookie, &len)) != VIRTIO_EMPTY) {
        uint32_t s = (uint32_t)((uintptr_t)cookie - 1);
        if (r != VIRTIO_OK) return r;
        if (s < VIRTIO__INPUT_STATUS_SLOTS) in->priv.sts_busy &= ~(1u << s);
    }
    for (k = 0; k < VIRTIO__INPUT_STATUS_SLOTS && n < 3; k++)
        if (!(in->priv.sts_busy & (1u << k))) slot[n++] = k;
    if (n < 3 || in->statusq.num_free < 3) return VIRTIO_ERR_NO_SPACE;
    for (k = 0; k < 3; k++) {
        size_t off = (size_t)(in->priv.nbuf + slot[k]) * VIRTIO__INPUT_EVENT_BYTES;
        unsigned char *b = in->priv.evbuf + off;
        virtio_sg sg;
        virtio__input_put_le(b, VIRTIO_INPUT_EV_LED, 2);
        virtio__input_put_le(b + 2, codes[k], 2);
        virtio__input_put_le(b + 4, (leds >> codes[k]) & 1u, 4);
        sg.addr = in->priv.evbuf_dev + off;
        sg.len = VIRTIO__INPUT_EVENT_BYTES;
        sg.pad = 0;
        if ((r = virtio_queue_add(&in->statusq, &sg, 1, 0, (void *)(uintptr_t)(slot[k] + 1))) != VIRTIO_OK) {
            if (k) virtio_queue_kick(&in->statusq);
            return r;
        }
        in->priv.sts_busy |= 1u << slot[k];
    }
    return virtio_queue_kick(&in->statusq);
}

/* >>input.text
   US layout, evdev key codes 1..57: unshifted and shifted characters. */
VIRTIO_API virtio_result virtio_input_key_char(virtio_input_keys *keys, const virtio_input_ev *ev, char *ch)
{
    static const char plain[] = "\0\033" "1234567890-=\b\tqwertyuiop[]\n\0asdfghjkl;'`\0\\zxcvbnm,./\0*\0 ";
    static const char shifted[] = "\0\033" "!@#$%^&*()_+\b\tQWERTYUIOP{}\n\0ASDFGHJKL:\"~\0|ZXCVBNM<>?\0*\0 ";
    uint32_t code;
    char c;
    if (!keys || !ev) return VIRTIO_ERR_INVALID_ARG;
    if (ev->type != VIRTIO_INPUT_EV_KEY) return VIRTIO_EMPTY;
    code = ev->code;
    if (code == VIRTIO_INPUT_KEY_LEFTSHIFT || code == VIRTIO_INPUT_KEY_RIGHTSHIFT) {
        uint32_t bit = code == VIRTIO_INPUT_KEY_LEFTSHIFT ? 1u : 2u;
        keys->shift = ev->value ? (keys->shift | bit) : (keys->shift & ~bit);
        return VIRTIO_EMPTY;
    }
    if (code == VIRTIO_INPUT_KEY_LEFTCTRL || code == VIRTIO_INPUT_KEY_RIGHTCTRL) {
        uint32_t bit = code == VIRTIO_INPUT_KEY_LEFTCTRL ? 1u : 2u;
        keys->ctrl = ev->value ? (keys->ctrl | bit) : (keys->ctrl & ~bit);
        return VIRTIO_EMPTY;
    }
    if (ev->value == 0) return VIRTIO_EMPTY;   /* releases produce nothing; 1 press, 2 repeat */
    if (code == VIRTIO_INPUT_KEY_CAPSLOCK) {
        if (ev->value == 1) keys->caps ^= 1u;
        return VIRTIO_EMPTY;
    }
    if (code >= sizeof plain - 1) return VIRTIO_EMPTY;
    c = keys->shift ? shifted[code] : plain[code];
    if (c >= 'a' && c <= 'z' && keys->caps) c = (char)(c - 'a' + 'A');
    else if (c >= 'A' && c <= 'Z' && keys->caps) c = (char)(c - 'A' + 'a');
    if (c == 0) return VIRTIO_EMPTY;
    if (keys->ctrl && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) c = (char)((c & 0x1f));
    if (ch) *ch = c;
    return VIRTIO_OK;
}

#endif /* VIRTIO_INPUT_IMPLEMENTATION */
