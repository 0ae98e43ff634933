/* test_input.c - virtio_input.h against the software device model.
 *
 * Keyboard, mouse and tablet on every transport (MMIO v2 and v1, PCI
 * modern, transitional, legacy), split and packed rings where the
 * transport allows: the configuration queries (name, serial, ids, event
 * bits, axis ranges) and the role come from what the model answers;
 * injected events come back exactly and in order; a burst far larger than
 * the event queue arrives complete while the driver refills; LED updates
 * reach the model's status log; the text helper turns key events into
 * characters. Then hostile answers (a short event buffer, an overlong
 * one, an oversized config size, a device without a status queue or
 * with a device-config window too short) and bad caller input. The model reports any address or
 * protocol violation as a bug; every test ends with no bugs, no mappings
 * and (after shutdown) no allocations.
 */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_input.h"
#include "model.h"
#include "model_input.h"
#include "unit.h"

typedef struct inenv {
    model_bus *bus;
    model *m;
    virtio_device dev;
    virtio_input in;
} inenv;

static int is_legacy(uint32_t t)
{
    return t == MODEL_MMIO_LEGACY || t == MODEL_PCI_LEGACY;
}

/* Bus, device and probe; init is left to the test unless `o` is given. */
static virtio_result env_new(inenv *e, uint32_t transport, uint32_t mode, const model_input_options *io)
{
    model_options mo;
    memset(e, 0, sizeof *e);
    e->bus = model_bus_new();
    model_options_init(&mo, transport);
    mo.mode = mode;
    e->m = model_input_new(e->bus, &mo, io);
    if (!e->m) return VIRTIO_ERR_NOT_FOUND;
    return model_probe(e->m, &e->dev, 0);
}

static virtio_result env_up(inenv *e, uint32_t transport, uint32_t kind, const virtio_input_options *o)
{
    model_input_options io;
    virtio_result r;
    model_input_options_init(&io, kind);
    if ((r = env_new(e, transport, MODEL_IMMEDIATE, &io)) != VIRTIO_OK) return r;
    return virtio_input_init(&e->in, &e->dev, o);
}

static void env_down(inenv *e)
{
    if (e->in.priv.magic) CHECK_EQ(virtio_input_shutdown(&e->in), VIRTIO_OK);
    CHECK_EQ(e->bus->stats.bugs, 0);
    if (e->bus->stats.bugs) fprintf(stderr, "  model: %s\n", model_bus_last_bug(e->bus));
    CHECK_EQ(e->bus->stats.live_maps, 0);
    CHECK_EQ(e->bus->stats.live_allocs, 0);
    CHECK_EQ(e->bus->stats.unordered_frees, 0);   /* newest first */
    model_bus_free(e->bus);
}

/* Poll until an event arrives (the model delivers synchronously, so a
   few empty polls mean there is nothing). */
static virtio_result next_event(inenv *e, virtio_input_ev *ev)
{
    int tries;
    for (tries = 0; tries < 4; tries++) {
        virtio_result r = virtio_input_poll(&e->in, ev);
        if (r != VIRTIO_EMPTY) return r;
    }
    return VIRTIO_EMPTY;
}

static int expect_event(inenv *e, uint16_t type, uint16_t code, int32_t value)
{
    virtio_input_ev ev;
    if (next_event(e, &ev) != VIRTIO_OK) return 0;
    return ev.type == type && ev.code == code && ev.value == value;
}

/* >>input.matrix: one device kind on one configuration. */
static void basic(uint32_t transport, uint32_t ring, uint32_t kind)
{
    inenv e;
    virtio_input_options o;
    uint8_t bm[128];
    uint32_t n, i;
    virtio_input_axis ax;
    virtio_input_ev ev;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    CHECK_EQ(env_up(&e, transport, kind, &o), VIRTIO_OK);
    if (!e.in.priv.magic) {
        env_down(&e);
        return;
    }
    CHECK_EQ(e.in.dev.priv.ring, ring);
    /* Identity as the model describes it. */
    CHECK(strcmp(e.in.info.name, kind == MODEL_INPUT_KEYBOARD ? "model keyboard"
                                 : kind == MODEL_INPUT_MOUSE  ? "model mouse"
                                                              : "model tablet") == 0);
    CHECK_EQ(e.in.info.serial[0], 0);
    CHECK_EQ(e.in.info.bustype, 0x06);
    CHECK_EQ(e.in.info.vendor, 0x1af4);
    CHECK_EQ(e.in.info.product, kind);
    CHECK_EQ(e.in.info.version, 1);
    CHECK_EQ(e.in.info.role, kind == MODEL_INPUT_KEYBOARD ? VIRTIO_INPUT_ROLE_KEYBOARD
                             : kind == MODEL_INPUT_MOUSE  ? VIRTIO_INPUT_ROLE_MOUSE
                                                          : VIRTIO_INPUT_ROLE_TABLET);
    CHECK(e.in.info.ev_types & (1u << VIRTIO_INPUT_EV_KEY));
    CHECK_EQ(!!(e.in.info.ev_types & (1u << VIRTIO_INPUT_EV_LED)), kind == MODEL_INPUT_KEYBOARD);
    CHECK_EQ(!!(e.in.info.ev_types & (1u << VIRTIO_INPUT_EV_REL)), kind == MODEL_INPUT_MOUSE);
    CHECK_EQ(!!(e.in.info.ev_types & (1u << VIRTIO_INPUT_EV_ABS)), kind == MODEL_INPUT_TABLET);
    CHECK_EQ(e.in.info.ev_types & ~((1u << VIRTIO_INPUT_EV_KEY) | (1u << VIRTIO_INPUT_EV_LED) |
                                    (1u << VIRTIO_INPUT_EV_REL) | (1u << VIRTIO_INPUT_EV_ABS)), 0);
    /* Event bits. */
    CHECK_EQ(virtio_input_query_bits(&e.in, VIRTIO_INPUT_EV_KEY, bm, &n), VIRTIO_OK);
    if (kind == MODEL_INPUT_KEYBOARD) {
        CHECK_EQ(n, 32);   /* codes 1..255 */
        CHECK_EQ(bm[0], 0xfe);
        CHECK_EQ(bm[31], 0xff);
        CHECK_EQ(virtio_input_has_code(&e.in, VIRTIO_INPUT_EV_LED, VIRTIO_INPUT_LED_CAPSL), 1);
        CHECK_EQ(virtio_input_has_code(&e.in, VIRTIO_INPUT_EV_KEY, VIRTIO_INPUT_BTN_LEFT), 0);
    } else {
        CHECK_EQ(n, 0x112 / 8 + 1);
        CHECK_EQ(virtio_input_has_code(&e.in, VIRTIO_INPUT_EV_KEY, VIRTIO_INPUT_BTN_LEFT), 1);
        CHECK_EQ(virtio_input_has_code(&e.in, VIRTIO_INPUT_EV_KEY, 30), 0);
    }
    if (kind == MODEL_INPUT_MOUSE) {
        CHECK_EQ(virtio_input_query_bits(&e.in, VIRTIO_INPUT_EV_REL, bm, &n), VIRTIO_OK);
        CHECK_EQ(n, 2);
        CHECK_EQ(bm[0], 0x03);
        CHECK_EQ(bm[1], 0x01);
    }
    /* Axes: the tablet has X and Y, 0..32767; nothing else has any. */
    if (kind == MODEL_INPUT_TABLET) {
        for (i = 0; i < 2; i++) {
            memset(&ax, 0x55, sizeof ax);
            CHECK_EQ(virtio_input_query_abs(&e.in, i, &ax), VIRTIO_OK);
            CHECK_EQ(ax.min, 0);
            CHECK_EQ(ax.max, 32767);
            CHECK_EQ(ax.fuzz, 0);
            CHECK_EQ(ax.flat, 0);
            CHECK_EQ(ax.res, 0);
        }
        CHECK_EQ(virtio_input_query_abs(&e.in, 2, &ax), VIRTIO_ERR_UNSUPPORTED);
    } else {
        CHECK_EQ(virtio_input_query_abs(&e.in, 0, &ax), VIRTIO_ERR_UNSUPPORTED);
    }
    CHECK_EQ(virtio_input_query_bits(&e.in, 0x15, bm, &n), VIRTIO_ERR_UNSUPPORTED);   /* EV_FF */

    /* Events come back exactly, in order. */
    CHECK_EQ(virtio_input_poll(&e.in, &ev), VIRTIO_EMPTY);
    if (kind == MODEL_INPUT_KEYBOARD) {
        model_input_inject(e.m, VIRTIO_INPUT_EV_KEY, 30, 1);
        model_input_inject(e.m, VIRTIO_INPUT_EV_SYN, 0, 0);
        model_input_inject(e.m, VIRTIO_INPUT_EV_KEY, 30, 0);
        model_input_inject(e.m, VIRTIO_INPUT_EV_SYN, 0, 0);
        CHECK(expect_event(&e, VIRTIO_INPUT_EV_KEY, 30, 1));
        CHECK(expect_event(&e, VIRTIO_INPUT_EV_SYN, 0, 0));
        CHECK(expect_event(&e, VIRTIO_INPUT_EV_KEY, 30, 0));
        CHECK(expect_event(&e, VIRTIO_INPUT_EV_SYN, 0, 0));
        /* LEDs reach the device. */
        CHECK_EQ(virtio_input_set_leds(&e.in, VIRTIO_INPUT_LEDS_CAPS | VIRTIO_INPUT_LEDS_SCROLL), VIRTIO_OK);
        CHECK_EQ(model_input_get_stats(e.m)->leds, (1u << 1) | (1u << 2));
        CHECK_EQ(virtio_input_set_leds(&e.in, VIRTIO_INPUT_LEDS_NUM), VIRTIO_OK);
        CHECK_EQ(model_input_get_stats(e.m)->leds, 1u);
        CHECK_EQ(model_input_get_stats(e.m)->led_events, 6);
    } else if (kind == MODEL_INPUT_MOUSE) {
        model_input_inject(e.m, VIRTIO_INPUT_EV_REL, VIRTIO_INPUT_REL_X, -5);
        model_input_inject(e.m, VIRTIO_INPUT_EV_REL, VIRTIO_INPUT_REL_Y, 7);
        model_input_inject(e.m, VIRTIO_INPUT_EV_KEY, VIRTIO_INPUT_BTN_LEFT, 1);
        model_input_inject(e.m, VIRTIO_INPUT_EV_SYN, 0, 0);
        CHECK(expect_event(&e, VIRTIO_INPUT_EV_REL, VIRTIO_INPUT_REL_X, -5));
        CHECK(expect_event(&e, VIRTIO_INPUT_EV_REL, VIRTIO_INPUT_REL_Y, 7));
        CHECK(expect_event(&e, VIRTIO_INPUT_EV_KEY, VIRTIO_INPUT_BTN_LEFT, 1));
        CHECK(expect_event(&e, VIRTIO_INPUT_EV_SYN, 0, 0));
        CHECK_EQ(virtio_input_set_leds(&e.in, VIRTIO_INPUT_LEDS_CAPS), VIRTIO_ERR_UNSUPPORTED);
    } else {
        virtio_input_ev rep[8];
        uint32_t px;
        model_input_inject(e.m, VIRTIO_INPUT_EV_ABS, VIRTIO_INPUT_ABS_X, 32767);
        model_input_inject(e.m, VIRTIO_INPUT_EV_ABS, VIRTIO_INPUT_ABS_Y, 16384);
        model_input_inject(e.m, VIRTIO_INPUT_EV_SYN, 0, 0);
        CHECK_EQ(virtio_input_read_report(&e.in, rep, 8, &n), VIRTIO_OK);
        CHECK_EQ(n, 3);
        CHECK(rep[0].type == VIRTIO_INPUT_EV_ABS && rep[0].code == 0 && rep[0].value == 32767);
        CHECK(rep[1].type == VIRTIO_INPUT_EV_ABS && rep[1].code == 1 && rep[1].value == 16384);
        CHECK(rep[2].type == VIRTIO_INPUT_EV_SYN && rep[2].code == 0);
        CHECK_EQ(virtio_input_query_abs(&e.in, 0, &ax), VIRTIO_OK);
        CHECK_EQ(virtio_input_scale(&ax, rep[0].value, 1024, &px), VIRTIO_OK);
        CHECK_EQ(px, 1023);
        CHECK_EQ(virtio_input_scale(&ax, rep[1].value, 768, &px), VIRTIO_OK);
        CHECK_EQ(px, 384);
    }
    CHECK_EQ(virtio_input_poll(&e.in, &ev), VIRTIO_EMPTY);
    CHECK_EQ(model_input_pending(e.m), 0);
    CHECK_EQ(virtio_input_shutdown(&e.in), VIRTIO_OK);
    CHECK_EQ(model_status(e.m), 0);
    env_down(&e);
}

static void matrix(void)
{
    static const struct { uint32_t t; const char *name; } tr[] = {
        { MODEL_MMIO, "mmio" }, { MODEL_MMIO_LEGACY, "mmio-legacy" }, { MODEL_PCI_MODERN, "pci-modern" },
        { MODEL_PCI_TRANSITIONAL, "pci-transitional" }, { MODEL_PCI_LEGACY, "pci-legacy" },
    };
    static const char *const kinds[] = { "", "keyboard", "mouse", "tablet" };
    unsigned t, ring, kind;
    char label[128];
    for (t = 0; t < sizeof tr / sizeof tr[0]; t++)
        for (ring = VIRTIO_RING_SPLIT; ring <= VIRTIO_RING_PACKED; ring++) {
            if (is_legacy(tr[t].t) && ring == VIRTIO_RING_PACKED) continue;
            for (kind = MODEL_INPUT_KEYBOARD; kind <= MODEL_INPUT_TABLET; kind++) {
                snprintf(label, sizeof label, "input %s %s %s", kinds[kind], tr[t].name,
                         ring == VIRTIO_RING_PACKED ? "packed" : "split");
                RUN(basic(tr[t].t, ring, kind), label);
            }
        }
}

/* A burst of 1000 events (reports of three) into 16 posted buffers: the
   device holds what does not fit and sends more as the driver refills;
   every event arrives once, in order. */
static void burst(uint32_t transport, uint32_t ring, int reports, uint32_t notify_every)
{
    inenv e;
    virtio_input_options o;
    uint32_t i, got = 0, empties = 0;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    o.buffers = 16;
    CHECK_EQ(env_up(&e, transport, MODEL_INPUT_MOUSE, &o), VIRTIO_OK);
    if (notify_every) {   /* event index: the device asks to hear only every n-th buffer */
        e.m->knobs.notify = MODEL_NOTIFY_EVERY;
        e.m->knobs.notify_every = notify_every;
    }
    for (i = 0; i < 1000; i++) {
        uint32_t k = i % 3;
        CHECK_EQ(model_input_inject(e.m, k == 2 ? VIRTIO_INPUT_EV_SYN : VIRTIO_INPUT_EV_REL, k == 2 ? 0 : (uint16_t)k,
                                    k == 2 ? 0 : (int32_t)i),
                 0);
    }
    CHECK_EQ(model_input_get_stats(e.m)->delivered, 16);   /* only what fits */
    CHECK(model_input_pending(e.m) == 1000 - 16);
    while (got < 1000 && empties < 100) {
        virtio_input_ev evs[4];
        uint32_t n = 0, j;
        virtio_result r;
        if (reports) {
            r = virtio_input_read_report(&e.in, evs, 4, &n);
        } else {
            r = virtio_input_poll(&e.in, &evs[0]);
            n = 1;
        }
        if (r == VIRTIO_EMPTY) {
            empties++;
            continue;
        }
        CHECK_EQ(r, VIRTIO_OK);
        if (r != VIRTIO_OK) break;
        if (reports) CHECK_EQ(n, 3);
        for (j = 0; j < n; j++, got++) {
            uint32_t k = got % 3;
            CHECK_EQ(evs[j].type, k == 2 ? VIRTIO_INPUT_EV_SYN : VIRTIO_INPUT_EV_REL);
            CHECK_EQ(evs[j].code, k == 2 ? 0 : k);
            CHECK_EQ(evs[j].value, k == 2 ? 0 : (int32_t)got);
        }
    }
    /* The last report (event 999) has no SYN yet: read_report holds it. */
    CHECK_EQ(got, reports ? 999 : 1000);
    CHECK_EQ(model_input_pending(e.m), 0);
    CHECK_EQ(model_input_get_stats(e.m)->delivered, 1000);
    CHECK(model_input_get_stats(e.m)->max_pending >= 984);
    env_down(&e);
}

/* LED updates: two in flight at most while the device sits on them. */
static void leds_in_flight(void)
{
    inenv e;
    model_input_options io;
    const model_input_event *log;
    uint32_t n;
    model_input_options_init(&io, MODEL_INPUT_KEYBOARD);
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_DEFERRED, &io), VIRTIO_OK);
    CHECK_EQ(virtio_input_init(&e.in, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_input_set_leds(&e.in, VIRTIO_INPUT_LEDS_NUM), VIRTIO_OK);
    CHECK_EQ(virtio_input_set_leds(&e.in, VIRTIO_INPUT_LEDS_CAPS), VIRTIO_OK);
    CHECK_EQ(virtio_input_set_leds(&e.in, VIRTIO_INPUT_LEDS_SCROLL), VIRTIO_ERR_NO_SPACE);
    CHECK_EQ(model_input_get_stats(e.m)->status_events, 0);
    CHECK_EQ(model_run(e.m, 0), 6);
    CHECK_EQ(model_input_get_stats(e.m)->leds, VIRTIO_INPUT_LEDS_CAPS);
    CHECK_EQ(virtio_input_set_leds(&e.in, VIRTIO_INPUT_LEDS_SCROLL | VIRTIO_INPUT_LEDS_NUM), VIRTIO_OK);
    model_run(e.m, 0);
    CHECK_EQ(model_input_get_stats(e.m)->leds, VIRTIO_INPUT_LEDS_SCROLL | VIRTIO_INPUT_LEDS_NUM);
    /* Each update is NUML, CAPSL, SCROLLL, one event per buffer, no SYN. */
    log = model_input_status_log(e.m, &n);
    CHECK_EQ(n, 9);
    if (n == 9) {
        CHECK(log[0].type == VIRTIO_INPUT_EV_LED && log[0].code == 0 && log[0].value == 1);
        CHECK(log[1].type == VIRTIO_INPUT_EV_LED && log[1].code == 1 && log[1].value == 0);
        CHECK(log[2].type == VIRTIO_INPUT_EV_LED && log[2].code == 2 && log[2].value == 0);
        CHECK(log[4].code == 1 && log[4].value == 1);
        CHECK(log[8].code == 2 && log[8].value == 1);
    }
    /* Events still flow in deferred mode: the event queue is pulled. */
    model_input_inject(e.m, VIRTIO_INPUT_EV_KEY, 2, 1);
    CHECK(expect_event(&e, VIRTIO_INPUT_EV_KEY, 2, 1));
    env_down(&e);
}

/* The text helper on typed key events (US layout). */
static void type_key(model *m, uint16_t code, int shift)
{
    if (shift) model_input_inject(m, VIRTIO_INPUT_EV_KEY, VIRTIO_INPUT_KEY_LEFTSHIFT, 1);
    model_input_inject(m, VIRTIO_INPUT_EV_KEY, code, 1);
    model_input_inject(m, VIRTIO_INPUT_EV_SYN, 0, 0);
    model_input_inject(m, VIRTIO_INPUT_EV_KEY, code, 0);
    if (shift) model_input_inject(m, VIRTIO_INPUT_EV_KEY, VIRTIO_INPUT_KEY_LEFTSHIFT, 0);
    model_input_inject(m, VIRTIO_INPUT_EV_SYN, 0, 0);
}

static void keymap(void)
{
    /* "Hi, you!\n" as evdev codes: H i , space y o u ! Enter */
    static const struct { uint16_t code; int shift; } keys[] = {
        { 35, 1 }, { 23, 0 }, { 51, 0 }, { 57, 0 }, { 21, 0 }, { 24, 0 }, { 22, 0 }, { 2, 1 }, { 28, 0 },
    };
    inenv e;
    virtio_input_keys st;
    virtio_input_ev ev;
    char text[64], c;
    uint32_t n = 0, i;
    CHECK_EQ(env_up(&e, MODEL_MMIO, MODEL_INPUT_KEYBOARD, 0), VIRTIO_OK);
    memset(&st, 0, sizeof st);
    for (i = 0; i < sizeof keys / sizeof keys[0]; i++) type_key(e.m, keys[i].code, keys[i].shift);
    /* Caps lock flips letters, shift on top flips back; Ctrl+C is 3. */
    type_key(e.m, VIRTIO_INPUT_KEY_CAPSLOCK, 0);
    type_key(e.m, 30, 0);
    type_key(e.m, 30, 1);
    type_key(e.m, 2, 0);
    type_key(e.m, VIRTIO_INPUT_KEY_CAPSLOCK, 0);
    model_input_inject(e.m, VIRTIO_INPUT_EV_KEY, VIRTIO_INPUT_KEY_LEFTCTRL, 1);
    type_key(e.m, 46, 0);
    model_input_inject(e.m, VIRTIO_INPUT_EV_KEY, VIRTIO_INPUT_KEY_LEFTCTRL, 0);
    model_input_inject(e.m, VIRTIO_INPUT_EV_KEY, 48, 1);   /* b pressed, auto-repeated twice */
    model_input_inject(e.m, VIRTIO_INPUT_EV_KEY, 48, 2);
    model_input_inject(e.m, VIRTIO_INPUT_EV_KEY, 48, 2);
    model_input_inject(e.m, VIRTIO_INPUT_EV_KEY, 48, 0);
    while (next_event(&e, &ev) == VIRTIO_OK && n < sizeof text - 1)
        if (virtio_input_key_char(&st, &ev, &c) == VIRTIO_OK) text[n++] = c;
    text[n] = 0;
    CHECK(strcmp(text, "Hi, you!\nAa1\003bbb") == 0);
    if (strcmp(text, "Hi, you!\nAa1\003bbb") != 0) fprintf(stderr, "  typed: \"%s\"\n", text);
    CHECK_EQ(st.shift, 0);
    CHECK_EQ(st.ctrl, 0);
    CHECK_EQ(st.caps, 0);
    CHECK_EQ(model_input_pending(e.m), 0);
    env_down(&e);
}

/* Config details: serial, absent ids, a 128-byte name that fills the
   union without a NUL, an unusual axis, role from the bits. */
static void config_details(void)
{
    inenv e;
    model_input_options io;
    virtio_input_axis ax;
    uint32_t i;
    model_input_options_init(&io, MODEL_INPUT_KEYBOARD);
    for (i = 0; i < 128; i++) io.name[i] = (char)('a' + i % 26);
    io.name[128] = 0;
    strcpy(io.serial, "SN-0042");
    io.no_devids = 1;
    CHECK_EQ(env_new(&e, MODEL_PCI_TRANSITIONAL, MODEL_IMMEDIATE, &io), VIRTIO_OK);
    /* Absolute axes without ABS_X (a dial, say) do not make a tablet. */
    model_input_set_abs(e.m, 0x28, -100, 100, 2, 3, 4);   /* ABS_MISC */
    CHECK_EQ(virtio_input_init(&e.in, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(strlen(e.in.info.name), 128);
    CHECK(memcmp(e.in.info.name, io.name, 128) == 0);
    CHECK(strcmp(e.in.info.serial, "SN-0042") == 0);
    CHECK_EQ(e.in.info.bustype, 0);
    CHECK_EQ(e.in.info.vendor, 0);
    CHECK_EQ(e.in.info.role, VIRTIO_INPUT_ROLE_KEYBOARD);
    CHECK(e.in.info.ev_types & (1u << VIRTIO_INPUT_EV_ABS));
    CHECK_EQ(virtio_input_query_abs(&e.in, 0x28, &ax), VIRTIO_OK);
    CHECK(ax.min == -100 && ax.max == 100 && ax.fuzz == 2 && ax.flat == 3 && ax.res == 4);
    CHECK_EQ(virtio_input_query_abs(&e.in, 0, &ax), VIRTIO_ERR_UNSUPPORTED);
    env_down(&e);

    /* Nothing but EV_SYN: role unknown, the event queue still works. */
    model_input_options_init(&io, 0);
    CHECK_EQ(env_new(&e, MODEL_MMIO, MODEL_IMMEDIATE, &io), VIRTIO_OK);
    CHECK_EQ(virtio_input_init(&e.in, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(e.in.info.role, VIRTIO_INPUT_ROLE_UNKNOWN);
    CHECK_EQ(e.in.info.ev_types, 0);
    model_input_inject(e.m, VIRTIO_INPUT_EV_SYN, 0, 0);
    CHECK(expect_event(&e, VIRTIO_INPUT_EV_SYN, 0, 0));
    env_down(&e);
}

/* Hostile device: a used length shorter than one event. */
static int short_used;
static void short_event(void *user, model *m, model_hostile *h)
{
    (void)user;
    (void)m;
    if (h->queue != 0 || !short_used) return;
    if (h->kind == MODEL_H_USED_ELEM || h->kind == MODEL_H_PACKED_USED) {
        h->len = 4;
        short_used--;
    }
}

static void hostile_length(uint32_t ring)
{
    inenv e;
    virtio_input_options o;
    virtio_input_ev ev;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, MODEL_INPUT_KEYBOARD, &o), VIRTIO_OK);
    short_used = 1;
    e.m->knobs.hostile = short_event;
    model_input_inject(e.m, VIRTIO_INPUT_EV_KEY, 16, 1);
    model_input_inject(e.m, VIRTIO_INPUT_EV_KEY, 17, 1);
    CHECK_EQ(next_event(&e, &ev), VIRTIO_ERR_DEVICE);
    CHECK_EQ(e.in.dropped, 1);
    CHECK(expect_event(&e, VIRTIO_INPUT_EV_KEY, 17, 1));   /* the next one is fine */
    /* The dropped buffer went back: the queue is still full of buffers. */
    model_input_inject(e.m, VIRTIO_INPUT_EV_KEY, 18, 1);
    CHECK(expect_event(&e, VIRTIO_INPUT_EV_KEY, 18, 1));
    env_down(&e);
}

/* A used length longer than one event: virtio.h clamps it to the 8 bytes
   posted (counted in eventq.clamped) and the event is delivered; only
   shorter lengths are dropped (see EVENTS). */
static int long_used;
static void long_event(void *user, model *m, model_hostile *h)
{
    (void)user;
    (void)m;
    if (h->queue != 0 || !long_used) return;
    if (h->kind == MODEL_H_USED_ELEM || h->kind == MODEL_H_PACKED_USED) {
        h->len = 100;
        long_used--;
    }
}

static void long_length(uint32_t ring)
{
    inenv e;
    virtio_input_options o;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, MODEL_INPUT_KEYBOARD, &o), VIRTIO_OK);
    long_used = 1;
    e.m->knobs.hostile = long_event;
    model_input_inject(e.m, VIRTIO_INPUT_EV_KEY, 16, 1);
    model_input_inject(e.m, VIRTIO_INPUT_EV_KEY, 17, 1);
    CHECK(expect_event(&e, VIRTIO_INPUT_EV_KEY, 16, 1));   /* clamped, delivered */
    CHECK_EQ(e.in.eventq.clamped, 1);
    CHECK_EQ(e.in.dropped, 0);
    CHECK(expect_event(&e, VIRTIO_INPUT_EV_KEY, 17, 1));
    CHECK_EQ(e.in.eventq.clamped, 1);
    env_down(&e);
}

/* >>input.missing: a device without what an input device requires fails
   init with VIRTIO_ERR_DEVICE (before 0.3.9: RANGE, NOT_FOUND, STATE): a
   device-config window shorter than the fields (a virtio-pci DEVICE_CFG
   capability of 8 bytes: the union is at 8), no status queue (its
   maximum 0), a queue that reads live right after the reset. Nothing
   leaks; the device as it should be works after. */
static void missing_parts(void)
{
    inenv e;
    model_input_options io;
    model_pci_layout l;
    model_input_options_init(&io, MODEL_INPUT_KEYBOARD);
    /* The device-config window. */
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_IMMEDIATE, &io), VIRTIO_OK);
    CHECK_EQ(model_pci_layout_get(e.m, &l), 0);
    l.cap[MODEL_CAP_DEVICE].length = 8;
    CHECK_EQ(model_pci_layout_set(e.m, &l), 0);
    CHECK_EQ(model_probe(e.m, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_input_init(&e.in, &e.dev, 0), VIRTIO_ERR_DEVICE);
    CHECK_EQ(e.bus->stats.live_allocs, 0);
    CHECK((model_status(e.m) & MODEL_S_DRIVER_OK) == 0);
    model_pci_layout_reset(e.m);
    CHECK_EQ(model_probe(e.m, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_input_init(&e.in, &e.dev, 0), VIRTIO_OK);
    env_down(&e);
    /* No status queue. */
    CHECK_EQ(env_new(&e, MODEL_MMIO, MODEL_IMMEDIATE, &io), VIRTIO_OK);
    model_set_queue_max(e.m, 1, 0);
    CHECK_EQ(virtio_input_init(&e.in, &e.dev, 0), VIRTIO_ERR_DEVICE);
    CHECK_EQ(e.bus->stats.live_allocs, 0);
    model_set_queue_max(e.m, 1, 64);
    CHECK_EQ(virtio_input_init(&e.in, &e.dev, 0), VIRTIO_OK);
    env_down(&e);
    /* A queue live after the reset. */
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_IMMEDIATE, &io), VIRTIO_OK);
    e.m->knobs.hostile = model_hostile_queue_live;
    CHECK_EQ(virtio_input_init(&e.in, &e.dev, 0), VIRTIO_ERR_DEVICE);
    CHECK_EQ(e.bus->stats.live_allocs, 0);
    e.m->knobs.hostile = 0;
    CHECK_EQ(virtio_input_init(&e.in, &e.dev, 0), VIRTIO_OK);
    env_down(&e);
}

/* Hostile device: the config size byte claims more than the union holds. */
static void big_size(void *user, model *m, model_hostile *h)
{
    (void)user;
    (void)m;
    if (h->kind == MODEL_H_CONFIG_READ && h->offset == 2) h->value = 200;
}

static void hostile_config(void)
{
    inenv e;
    model_input_options io;
    model_input_options_init(&io, MODEL_INPUT_TABLET);
    CHECK_EQ(env_new(&e, MODEL_MMIO, MODEL_IMMEDIATE, &io), VIRTIO_OK);
    e.m->knobs.hostile = big_size;
    CHECK_EQ(virtio_input_init(&e.in, &e.dev, 0), VIRTIO_ERR_DEVICE);
    CHECK(model_status(e.m) == 0 || (model_status(e.m) & MODEL_S_FAILED));
    CHECK_EQ(e.bus->stats.live_allocs, 0);
    /* An honest device afterwards: init works. */
    e.m->knobs.hostile = 0;
    CHECK_EQ(virtio_input_init(&e.in, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(e.in.info.role, VIRTIO_INPUT_ROLE_TABLET);
    env_down(&e);
}

/* Bad caller input and object state. */
static void bad_input(void)
{
    inenv e;
    virtio_input dead;
    virtio_input_ev ev, evs[4];
    virtio_input_axis ax;
    virtio_input_keys keys;
    uint8_t bm[128];
    uint32_t n, px;
    char c;
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, MODEL_INPUT_TABLET, 0), VIRTIO_OK);
    memset(&dead, 0, sizeof dead);
    memset(&keys, 0, sizeof keys);
    CHECK_EQ(virtio_input_init(0, &e.dev, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_input_init(&dead, 0, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_input_poll(&dead, &ev), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_input_poll(0, &ev), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_input_poll(&e.in, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_input_read_report(&e.in, 0, 4, &n), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_input_read_report(&e.in, evs, 0, &n), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_input_read_report(&e.in, evs, 4, 0), VIRTIO_EMPTY);   /* count may be NULL */
    CHECK_EQ(virtio_input_read_report(&dead, evs, 4, &n), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_input_query_bits(&e.in, 0, bm, &n), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_input_query_bits(&e.in, 32, bm, &n), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_input_query_bits(&e.in, 1, 0, &n), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_input_query_bits(&e.in, 1, bm, 0), VIRTIO_OK);   /* bytes may be NULL */
    CHECK_EQ(virtio_input_query_bits(&dead, 1, bm, &n), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_input_has_code(&e.in, 1, 1024), 0);
    CHECK_EQ(virtio_input_has_code(&e.in, 1, 0x110), 1);
    CHECK_EQ(virtio_input_has_code(&e.in, 0, 0x110), 0);
    CHECK_EQ(virtio_input_has_code(&dead, 1, 0x110), 0);
    CHECK_EQ(virtio_input_has_code(0, 1, 0x110), 0);
    CHECK_EQ(virtio_input_query_abs(&e.in, 0x40, &ax), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_input_query_abs(&e.in, 0, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_input_query_abs(&dead, 0, &ax), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_input_set_leds(&dead, 1), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_input_set_leds(&e.in, 1), VIRTIO_ERR_UNSUPPORTED);   /* a tablet has no LEDs */
    CHECK_EQ(virtio_input_query_abs(&e.in, 0, &ax), VIRTIO_OK);
    CHECK_EQ(virtio_input_scale(0, 0, 10, &px), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_input_scale(&ax, 0, 0, &px), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_input_scale(&ax, 0, 10, 0), VIRTIO_OK);   /* out may be NULL */
    CHECK_EQ(virtio_input_scale(&ax, -50, 100, &px), VIRTIO_OK);   /* clamped */
    CHECK_EQ(px, 0);
    CHECK_EQ(virtio_input_scale(&ax, 99999, 100, &px), VIRTIO_OK);
    CHECK_EQ(px, 99);
    ax.max = ax.min;
    CHECK_EQ(virtio_input_scale(&ax, 0, 10, &px), VIRTIO_ERR_INVALID_ARG);
    ev.type = VIRTIO_INPUT_EV_KEY;
    ev.code = 30;
    ev.value = 1;
    CHECK_EQ(virtio_input_key_char(0, &ev, &c), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_input_key_char(&keys, 0, &c), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_input_key_char(&keys, &ev, 0), VIRTIO_OK);   /* ch may be NULL */
    ev.type = VIRTIO_INPUT_EV_REL;
    CHECK_EQ(virtio_input_key_char(&keys, &ev, &c), VIRTIO_EMPTY);
    ev.type = VIRTIO_INPUT_EV_KEY;
    ev.code = 600;
    CHECK_EQ(virtio_input_key_char(&keys, &ev, &c), VIRTIO_EMPTY);
    CHECK_EQ(virtio_input_shutdown(&dead), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_input_shutdown(&e.in), VIRTIO_OK);
    CHECK_EQ(virtio_input_shutdown(&e.in), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_input_poll(&e.in, &ev), VIRTIO_ERR_STATE);
    env_down(&e);
}

/* Not an input device: init refuses before touching it. */
static void wrong_device(void)
{
    model_bus *bus = model_bus_new();
    model *m = model_blk_default(bus, MODEL_MMIO);
    virtio_device dev;
    virtio_input in;
    CHECK_EQ(model_probe(m, &dev, 0), VIRTIO_OK);
    memset(&in, 0, sizeof in);   /* zero-filled before its first init */
    CHECK_EQ(virtio_input_init(&in, &dev, 0), VIRTIO_ERR_NOT_FOUND);
    CHECK_EQ(model_status(m), 0);
    CHECK_EQ(bus->stats.bugs, 0);
    model_bus_free(bus);
}

/* Shutdown and init again, a few times: nothing leaks, events still flow. */
static void reinit(void)
{
    inenv e;
    int i;
    CHECK_EQ(env_up(&e, MODEL_MMIO_LEGACY, MODEL_INPUT_KEYBOARD, 0), VIRTIO_OK);
    for (i = 0; i < 3; i++) {
        CHECK_EQ(virtio_input_shutdown(&e.in), VIRTIO_OK);
        CHECK_EQ(e.bus->stats.live_allocs, 0);
        CHECK_EQ(virtio_input_init(&e.in, &e.dev, 0), VIRTIO_OK);
        model_input_inject(e.m, VIRTIO_INPUT_EV_KEY, (uint16_t)(10 + i), 1);
        CHECK(expect_event(&e, VIRTIO_INPUT_EV_KEY, (uint16_t)(10 + i), 1));
    }
    env_down(&e);
}

/* Hostile device: a used id that was never posted breaks the event queue:
   the driver reports it, never hangs, and shuts down cleanly. */
static void bad_id(void *user, model *m, model_hostile *h)
{
    (void)user;
    (void)m;
    if (h->queue == 0 && (h->kind == MODEL_H_USED_ELEM || h->kind == MODEL_H_PACKED_USED)) h->id = 999;
}

static void hostile_id(uint32_t ring)
{
    inenv e;
    virtio_input_options o;
    virtio_input_ev ev, evs[8];
    uint32_t n;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    CHECK_EQ(env_up(&e, MODEL_MMIO, MODEL_INPUT_KEYBOARD, &o), VIRTIO_OK);
    e.m->knobs.hostile = bad_id;
    model_input_inject(e.m, VIRTIO_INPUT_EV_KEY, 16, 1);
    CHECK_EQ(virtio_input_poll(&e.in, &ev), VIRTIO_ERR_DEVICE);
    CHECK(virtio_input_poll(&e.in, &ev) < 0);
    CHECK(virtio_input_read_report(&e.in, evs, 8, &n) < 0);   /* returns, does not spin */
    CHECK_EQ(virtio_input_shutdown(&e.in), VIRTIO_OK);
    CHECK_EQ(e.bus->stats.live_allocs, 0);
    env_down(&e);
}

/* Allocation failure at every step of init: an error, nothing leaked, the
   device reset; then init works. */
static void alloc_failures(void)
{
    inenv e;
    model_input_options io;
    uint32_t k;
    virtio_result r = VIRTIO_ERR_NO_MEMORY;
    model_input_options_init(&io, MODEL_INPUT_KEYBOARD);
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_IMMEDIATE, &io), VIRTIO_OK);
    for (k = 1; k < 20 && r != VIRTIO_OK; k++) {
        e.bus->knobs.alloc_fail_after = k;
        r = virtio_input_init(&e.in, &e.dev, 0);
        e.bus->knobs.alloc_fail_after = 0;
        if (r == VIRTIO_OK) break;
        CHECK_EQ(r, VIRTIO_ERR_NO_MEMORY);
        CHECK_EQ(e.bus->stats.live_allocs, 0);
        CHECK((model_status(e.m) & MODEL_S_DRIVER_OK) == 0);
    }
    CHECK(k > 2);   /* some steps did fail */
    CHECK_EQ(r, VIRTIO_OK);
    model_input_inject(e.m, VIRTIO_INPUT_EV_KEY, 3, 1);
    CHECK(expect_event(&e, VIRTIO_INPUT_EV_KEY, 3, 1));
    env_down(&e);
}

/* A device queue smaller than the buffers asked for: the driver posts
   what fits and a burst still arrives complete. */
static void small_queue(void)
{
    inenv e;
    model_input_options io;
    virtio_input_options o;
    virtio_input_ev ev;
    uint32_t i, got = 0;
    model_input_options_init(&io, MODEL_INPUT_TABLET);
    io.queue_size = 8;
    memset(&o, 0, sizeof o);
    o.buffers = 64;
    CHECK_EQ(env_new(&e, MODEL_PCI_LEGACY, MODEL_IMMEDIATE, &io), VIRTIO_OK);
    CHECK_EQ(virtio_input_init(&e.in, &e.dev, &o), VIRTIO_OK);
    CHECK_EQ(e.in.priv.nbuf, 8);
    for (i = 0; i < 100; i++) model_input_inject(e.m, VIRTIO_INPUT_EV_ABS, (uint16_t)(i & 1), (int32_t)i);
    CHECK_EQ(model_input_get_stats(e.m)->delivered, 8);
    while (next_event(&e, &ev) == VIRTIO_OK) {
        CHECK(ev.type == VIRTIO_INPUT_EV_ABS && ev.code == (got & 1) && ev.value == (int32_t)got);
        got++;
    }
    CHECK_EQ(got, 100);
    env_down(&e);
}

/* read_report: a partial report is held, a report larger than the
   caller's array is kept for a bigger one, poll hands out held events. */
static void reports(void)
{
    inenv e;
    virtio_input_ev evs[8], ev;
    uint32_t n = 77, i;
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, MODEL_INPUT_MOUSE, 0), VIRTIO_OK);
    model_input_inject(e.m, VIRTIO_INPUT_EV_REL, 0, 1);
    model_input_inject(e.m, VIRTIO_INPUT_EV_REL, 1, 2);
    CHECK_EQ(virtio_input_read_report(&e.in, evs, 8, &n), VIRTIO_EMPTY);   /* no SYN yet */
    CHECK_EQ(n, 77);
    for (i = 0; i < 3; i++) model_input_inject(e.m, VIRTIO_INPUT_EV_KEY, (uint16_t)(0x110 + i), 1);
    model_input_inject(e.m, VIRTIO_INPUT_EV_SYN, 0, 0);
    CHECK_EQ(virtio_input_read_report(&e.in, evs, 4, &n), VIRTIO_ERR_TOO_BIG);   /* 6 events */
    CHECK_EQ(virtio_input_read_report(&e.in, evs, 8, &n), VIRTIO_OK);
    CHECK_EQ(n, 6);
    CHECK(evs[0].code == 0 && evs[1].code == 1 && evs[4].code == 0x112 && evs[5].type == VIRTIO_INPUT_EV_SYN);
    /* Held events come out of poll first, in order. */
    model_input_inject(e.m, VIRTIO_INPUT_EV_REL, 8, -1);
    model_input_inject(e.m, VIRTIO_INPUT_EV_REL, 0, 9);
    CHECK_EQ(virtio_input_read_report(&e.in, evs, 8, &n), VIRTIO_EMPTY);
    model_input_inject(e.m, VIRTIO_INPUT_EV_SYN, 0, 0);
    CHECK(expect_event(&e, VIRTIO_INPUT_EV_REL, 8, -1));
    CHECK(expect_event(&e, VIRTIO_INPUT_EV_REL, 0, 9));
    CHECK(expect_event(&e, VIRTIO_INPUT_EV_SYN, 0, 0));
    CHECK_EQ(virtio_input_poll(&e.in, &ev), VIRTIO_EMPTY);
    env_down(&e);
}

/* >>input.issue11 item 3a: a device that completes every event buffer
   with a length other than one event. Each is dropped, counted and
   reposted, and the device fills the reposted buffer at once with the
   next of thousands of events: one read_report call must not follow it
   (the old loop took every one of them in a single call). */
static int lie_len;
static void every_len_wrong(void *user, model *m, model_hostile *h)
{
    (void)user;
    (void)m;
    if (lie_len && h->queue == 0 && (h->kind == MODEL_H_USED_ELEM || h->kind == MODEL_H_PACKED_USED)) h->len = 7;
}

static void report_bounded(uint32_t ring)
{
    inenv e;
    virtio_input_options o;
    virtio_input_ev evs[8], ev;
    uint32_t i, n = 99, calls;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, MODEL_INPUT_MOUSE, &o), VIRTIO_OK);
    e.m->knobs.hostile = every_len_wrong;
    lie_len = 1;
    for (i = 0; i < 3000; i++) CHECK_EQ(model_input_inject(e.m, VIRTIO_INPUT_EV_REL, 0, (int32_t)i), 0);
    CHECK_EQ(virtio_input_read_report(&e.in, evs, 8, &n), VIRTIO_EMPTY);
    CHECK(e.in.dropped >= 1 && e.in.dropped <= e.in.priv.nbuf);
    CHECK_EQ(n, 99);
    CHECK_EQ(virtio_input_poll(&e.in, &ev), VIRTIO_ERR_DEVICE);   /* one per call */
    /* Every call makes bounded progress; the flood ends. */
    for (calls = 0; calls < 3000 && model_input_pending(e.m); calls++) virtio_input_read_report(&e.in, evs, 8, &n);
    CHECK_EQ(model_input_pending(e.m), 0);
    CHECK(calls >= 3000 / e.in.priv.nbuf - 2);
    /* An honest device again: the next report arrives whole. */
    lie_len = 0;
    while (virtio_input_poll(&e.in, &ev) != VIRTIO_EMPTY) {
    }
    model_input_inject(e.m, VIRTIO_INPUT_EV_REL, 1, 5);
    model_input_inject(e.m, VIRTIO_INPUT_EV_SYN, 0, 0);
    CHECK_EQ(virtio_input_read_report(&e.in, evs, 8, &n), VIRTIO_OK);
    CHECK(n == 2 && evs[0].code == 1 && evs[0].value == 5 && evs[1].type == VIRTIO_INPUT_EV_SYN);
    CHECK_EQ(e.in.priv.staged, 0);
    env_down(&e);
}

/* >>input.issue11 item 7: init on a running device changes nothing. */
static void init_twice(void)
{
    inenv e;
    uint64_t allocs;
    CHECK_EQ(env_up(&e, MODEL_MMIO, MODEL_INPUT_KEYBOARD, 0), VIRTIO_OK);
    allocs = e.bus->stats.live_allocs;
    CHECK_EQ(virtio_input_init(&e.in, &e.dev, 0), VIRTIO_ERR_STATE);
    CHECK_EQ(e.bus->stats.live_allocs, allocs);
    model_input_inject(e.m, VIRTIO_INPUT_EV_KEY, 30, 1);
    CHECK(expect_event(&e, VIRTIO_INPUT_EV_KEY, 30, 1));
    env_down(&e);
}

/* >>input.issue11 item 5: a shutdown whose reset never completes. */
static void reset_hangs(uint32_t transport)
{
    inenv e;
    uint64_t frees;
    CHECK_EQ(env_up(&e, transport, MODEL_INPUT_KEYBOARD, 0), VIRTIO_OK);
    frees = e.bus->stats.frees;
    e.m->knobs.reset_delay = MODEL_FOREVER;
    CHECK_EQ(virtio_input_shutdown(&e.in), VIRTIO_ERR_TIMEOUT);
    CHECK_EQ(e.bus->stats.bugs, 0);
    CHECK_EQ(e.bus->stats.frees, frees + 1);   /* the private staging area only */
    CHECK_EQ(virtio_input_shutdown(&e.in), VIRTIO_ERR_STATE);
    e.m->knobs.reset_delay = 0;
    CHECK_EQ(virtio_input_init(&e.in, &e.dev, 0), VIRTIO_OK);
    model_input_inject(e.m, VIRTIO_INPUT_EV_KEY, 31, 1);
    CHECK(expect_event(&e, VIRTIO_INPUT_EV_KEY, 31, 1));
    CHECK_EQ(virtio_input_shutdown(&e.in), VIRTIO_OK);
    CHECK_EQ(e.bus->stats.bugs, 0);
    model_bus_free(e.bus);
}

/* >>input.issue14: refresh re-reads the description; a failed read
   leaves info as it was. */
static void refresh(void)
{
    inenv e;
    virtio_input_info before;
    uint32_t ch = 99;
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, MODEL_INPUT_KEYBOARD, 0), VIRTIO_OK);
    CHECK_EQ(virtio_input_refresh(&e.in, &ch), VIRTIO_OK);
    CHECK_EQ(ch, 0);
    model_input_set_code(e.m, VIRTIO_INPUT_EV_REL, VIRTIO_INPUT_REL_X);
    before = e.in.info;
    e.m->knobs.hostile = big_size;   /* an answer larger than the union */
    ch = 99;
    CHECK_EQ(virtio_input_refresh(&e.in, &ch), VIRTIO_ERR_DEVICE);
    CHECK_EQ(ch, 99);
    CHECK(memcmp(&before, &e.in.info, sizeof before) == 0);
    e.m->knobs.hostile = 0;
    CHECK_EQ(virtio_input_refresh(&e.in, &ch), VIRTIO_OK);
    CHECK_EQ(ch, VIRTIO_INPUT_CHANGED_INFO);
    CHECK(e.in.info.ev_types & (1u << VIRTIO_INPUT_EV_REL));
    CHECK_EQ(e.in.info.role, VIRTIO_INPUT_ROLE_MOUSE);   /* relative axes outrank keys */
    CHECK(strcmp(e.in.info.name, "model keyboard") == 0);
    CHECK_EQ(virtio_input_refresh(&e.in, 0), VIRTIO_OK);
    CHECK_EQ(virtio_input_has_code(&e.in, VIRTIO_INPUT_EV_REL, VIRTIO_INPUT_REL_X), 1);
    env_down(&e);
}

/* >>input.issue13 item 5: defaults allocate nothing above a page, and
   the MEMORY section's figures hold (each allocation, in order). */
static struct {
    void *(*alloc)(void *, size_t, size_t, int, uint64_t *);
    size_t size[16], total;
    uint32_t count;
} mem;

static void *mem_alloc(void *user, size_t size, size_t align, int kind, uint64_t *dev)
{
    void *p = mem.alloc(user, size, align, kind, dev);
    if (p) {
        if (mem.count < 16) mem.size[mem.count] = size;
        mem.total += size;
        mem.count++;
    }
    return p;
}

static void memory(uint32_t transport, uint32_t ring, char *label, size_t cap)
{
    /* event ring of 64 and status ring of 8 (ring, shadow each), then 64 +
       6 events and 64 staged; split rings 16n + (6 + 2n), 4-aligned, +
       (6 + 8n), packed 16n + 8 */
    static const size_t want[2][6] = { { 1678, 64 * SLOT, 222, 8 * SLOT, 560, 512 },
                                       { 1032, 64 * SLOT, 136, 8 * SLOT, 560, 512 } };
    inenv e;
    model_input_options io;
    virtio_input_options o;
    uint32_t i;
    model_input_options_init(&io, MODEL_INPUT_TABLET);
    CHECK_EQ(env_new(&e, transport, MODEL_IMMEDIATE, &io), VIRTIO_OK);
    memset(&mem, 0, sizeof mem);
    mem.alloc = e.bus->platform.dma_alloc;
    e.bus->platform.dma_alloc = mem_alloc;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    CHECK_EQ(virtio_input_init(&e.in, &e.dev, &o), VIRTIO_OK);
    CHECK_EQ(e.in.priv.nbuf, 64);
    CHECK_EQ(mem.count, 6);
    for (i = 0; i < 6 && i < mem.count; i++) {
        CHECK_EQ(mem.size[i], want[ring - 1][i]);
        CHECK(mem.size[i] <= 4096);
    }
    /* virtio_input.h MEMORY: 3 392 bytes with packed rings (3 104 on
       32-bit CPUs) */
    if (ring == VIRTIO_RING_PACKED) CHECK_EQ(mem.total, sizeof(void *) == 8 ? 3392u : 3104u);
    snprintf(label, cap, "input memory, defaults, %s %s: %zu B in %u allocations, as MEMORY says",
             transport == MODEL_MMIO ? "mmio" : "pci-modern", ring == VIRTIO_RING_PACKED ? "packed" : "split",
             mem.total, mem.count);
    env_down(&e);
}

int main(void)
{
    matrix();
    RUN(burst(MODEL_MMIO, VIRTIO_RING_SPLIT, 0, 0), "input burst of 1000 into 16 buffers, poll, mmio split");
    RUN(burst(MODEL_PCI_MODERN, VIRTIO_RING_PACKED, 0, 0), "input burst of 1000 into 16 buffers, poll, pci-modern packed");
    RUN(burst(MODEL_PCI_LEGACY, VIRTIO_RING_SPLIT, 1, 0), "input burst of 1000 into 16 buffers, reports, pci-legacy");
    RUN(burst(MODEL_MMIO, VIRTIO_RING_PACKED, 1, 0), "input burst of 1000 into 16 buffers, reports, mmio packed");
    RUN(burst(MODEL_PCI_MODERN, VIRTIO_RING_SPLIT, 0, 5), "input burst of 1000, event index every 5th buffer, split");
    RUN(burst(MODEL_PCI_MODERN, VIRTIO_RING_PACKED, 1, 3), "input burst of 1000, event index every 3rd buffer, packed");
    RUN(leds_in_flight(), "input LED updates, two in flight, status log");
    RUN(keymap(), "input text helper: shift, caps lock, ctrl, repeat");
    RUN(config_details(), "input config: serial, no ids, 128-byte name, odd axis, no role");
    RUN(hostile_length(VIRTIO_RING_SPLIT), "input short used length dropped and re-posted, split");
    RUN(hostile_length(VIRTIO_RING_PACKED), "input short used length dropped and re-posted, packed");
    RUN(long_length(VIRTIO_RING_SPLIT), "input used length longer than one event: clamped, counted, delivered, split");
    RUN(long_length(VIRTIO_RING_PACKED), "input used length longer than one event: clamped, counted, delivered, packed");
    RUN(missing_parts(), "input device-config window too short, no status queue, a live queue: init says DEVICE");
    RUN(hostile_config(), "input config size above 128 fails init cleanly");
    RUN(bad_input(), "input bad arguments and states");
    RUN(wrong_device(), "input init on a block device is NOT_FOUND");
    RUN(reinit(), "input shutdown and re-init");
    RUN(hostile_id(VIRTIO_RING_SPLIT), "input used id never posted: error, no hang, clean shutdown, split");
    RUN(hostile_id(VIRTIO_RING_PACKED), "input used id never posted: error, no hang, clean shutdown, packed");
    RUN(alloc_failures(), "input init under allocation failure at every step");
    RUN(small_queue(), "input 8-entry device queue, 100-event burst");
    RUN(reports(), "input read_report: partial held, too big kept, poll drains held events");
    RUN(report_bounded(VIRTIO_RING_SPLIT), "input read_report bounded against a device that garbles every event, split");
    RUN(report_bounded(VIRTIO_RING_PACKED), "input read_report bounded against a device that garbles every event, packed");
    RUN(init_twice(), "input init on a running device: STATE, nothing leaked or changed");
    RUN(reset_hangs(MODEL_PCI_MODERN), "input shutdown whose reset never completes: TIMEOUT, device memory kept, pci-modern");
    RUN(reset_hangs(MODEL_MMIO_LEGACY), "input shutdown whose reset never completes: TIMEOUT, device memory kept, mmio-legacy");
    RUN(refresh(), "input refresh: a new event type changes info and role; a failed read keeps info");
    {
        char mlabel[256];
        RUN(memory(MODEL_PCI_MODERN, VIRTIO_RING_PACKED, mlabel, sizeof mlabel), mlabel);
        RUN(memory(MODEL_PCI_MODERN, VIRTIO_RING_SPLIT, mlabel, sizeof mlabel), mlabel);
        RUN(memory(MODEL_MMIO, VIRTIO_RING_PACKED, mlabel, sizeof mlabel), mlabel);
        RUN(memory(MODEL_MMIO, VIRTIO_RING_SPLIT, mlabel, sizeof mlabel), mlabel);
    }
    UNIT_EXIT();
}
