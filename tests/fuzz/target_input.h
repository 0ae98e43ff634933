/* target_input.h - virtio_input.h against a fuzz-driven input device.
 *
 * Included by fuzz_input_split.c and fuzz_input_packed.c with FZ_RING
 * set. The scripted device of fuzz.h (type 18) plays a keyboard, mouse or
 * tablet; the operation stream delivers events (well-formed, short or
 * raw), polls them one by one or as reports, queries the configuration,
 * sets LEDs, sets NEEDS_RESET and re-initialises. While the device is
 * honest, events come back exactly in the order delivered, none lost.
 */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_input.h"
#include "fuzz.h"

#define IN_FEATURES (MODEL_F_INDIRECT_DESC | MODEL_F_EVENT_IDX | MODEL_F_VERSION_1)
#define IN_EXPECT 512u

typedef struct in_fz {
    fz_env e;
    fz_dev *d;
    virtio_input_options o;
    virtio_input in;
    int up;
    uint32_t expect[IN_EXPECT];   /* (type << 16 | code), value = index */
    int32_t value[IN_EXPECT];
    uint32_t ehead, ecount, seq;
    uint64_t leaked_allocs, leaked_maps;   /* left by a reset that never completed */
} in_fz;

/* Nothing allocated beyond what a reset that never completed left. */
static void in_no_leaks(in_fz *t)
{
    FZ_ASSERT(t->e.bus->stats.live_allocs == t->leaked_allocs && t->e.bus->stats.live_maps == t->leaked_maps);
}

/* A reset that never completed (a lie, or a reset_delay longer than the platform timeout) leaves the memory the
   device may still write allocated: count from there. */
static void in_leaked(in_fz *t)
{
    t->leaked_allocs = t->e.bus->stats.live_allocs;
    t->leaked_maps = t->e.bus->stats.live_maps;
}

static virtio_result in_up(in_fz *t)
{
    uint64_t hung = t->e.bus->stats.log[VIRTIO_MSG_RESET_TIMEOUT];
    virtio_result r = fz_probe(&t->e);
    FZ_RESULT(r);
    if (r != VIRTIO_OK) return r;
    r = virtio_input_init(&t->in, &t->e.vdev, &t->o);
    FZ_RESULT(r);
    t->up = r == VIRTIO_OK;
    if (!t->up && (t->e.bus->stats.log[VIRTIO_MSG_RESET_TIMEOUT] != hung || t->e.lies || t->e.m->knobs.gone)) in_leaked(t);
    if (!t->up) in_no_leaks(t);
    t->ehead = t->ecount = 0;
    return r;
}

static void in_down(in_fz *t)
{
    virtio_result r = t->up ? virtio_input_shutdown(&t->in) : VIRTIO_OK;
    FZ_ASSERT(r == VIRTIO_OK || r == VIRTIO_ERR_TIMEOUT);
    if (r != VIRTIO_OK) in_leaked(t);
    FZ_ASSERT(virtio_input_shutdown(&t->in) == VIRTIO_ERR_STATE);
    t->up = 0;
    in_no_leaks(t);
}

static void in_deliver(in_fz *t, uint16_t type, uint16_t code, int32_t value)
{
    uint8_t ev[8];
    model_put16(ev, type);
    model_put16(ev + 2, code);
    model_put32(ev + 4, (uint32_t)value);
    if (!fz_deliver(&t->e, 0, ev, 8)) return;   /* no buffer: the device drops it */
    if (t->ecount == IN_EXPECT) {
        t->e.lies++;
        return;
    }
    t->expect[(t->ehead + t->ecount) % IN_EXPECT] = (uint32_t)type << 16 | code;
    t->value[(t->ehead + t->ecount) % IN_EXPECT] = value;
    t->ecount++;
}

static void in_got(in_fz *t, const virtio_input_ev *ev)
{
    if (t->e.lies) return;
    FZ_ASSERT(t->ecount > 0);
    FZ_ASSERT(t->expect[t->ehead] == ((uint32_t)ev->type << 16 | ev->code));
    FZ_ASSERT(t->value[t->ehead] == ev->value);
    t->ehead = (t->ehead + 1) % IN_EXPECT;
    t->ecount--;
}

static void in_ops(in_fz *t)
{
    fz_in *in = &t->e.ops;
    uint32_t steps = 0;
    while (fz_more(in) && steps++ < 128) {
        uint32_t op = fz_u8(in) % 16, v = fz_u8(in), n, i;
        virtio_input_ev ev, evs[80];
        virtio_input_axis ax;
        uint8_t bm[128];
        int yes;
        virtio_result r;
        if (!t->up && op != 11) continue;
        switch (op) {
        case 0:
        case 1:   /* a burst of events, usually ending in SYN_REPORT */
            n = 1 + v % 70;
            for (i = 0; i < n; i++)
                in_deliver(t, i + 1 == n && !(v & 0x80) ? 0 : (uint16_t)(1 + i % 3), (uint16_t)(t->seq % 300),
                           (int32_t)t->seq++);
            break;
        case 2:
            r = virtio_input_poll(&t->in, &ev);
            FZ_RESULT(r);
            if (r == VIRTIO_OK) in_got(t, &ev);
            break;
        case 3:
            n = 0;
            r = virtio_input_read_report(&t->in, evs, v % 81, v & 0x80 ? 0 : &n);
            FZ_RESULT(r);
            if (v & 0x80) {   /* no count: how many were taken is unknown now */
                if (r == VIRTIO_OK) t->e.lies++;
                break;
            }
            if (r == VIRTIO_OK) {
                FZ_ASSERT(n <= v % 81);
                for (i = 0; i < n; i++) in_got(t, &evs[i]);
            }
            break;
        case 4:
            r = virtio_input_query_bits(&t->in, v % 0x20, bm, &n);
            FZ_RESULT(r);
            FZ_ASSERT(r != VIRTIO_OK || n <= 128);
            break;
        case 5:
            yes = virtio_input_has_code(&t->in, v % 0x20, fz_u16(in));
            FZ_ASSERT(yes == 0 || yes == 1);
            break;
        case 6:
            r = virtio_input_query_abs(&t->in, v % 0x40, &ax);
            FZ_RESULT(r);
            if (r == VIRTIO_OK) FZ_RESULT(virtio_input_scale(&ax, (int32_t)fz_u32(in), fz_u16(in), &n));
            break;
        case 7:
            FZ_RESULT(virtio_input_set_leds(&t->in, v));
            break;
        case 8:   /* raw bytes: short or odd events */
            t->e.lies++;
            fz_deliver(&t->e, 0, 0, fz_below(in, 12));
            break;
        case 9:
            model_set_needs_reset(t->e.m);
            break;
        case 10:
            if (v & 1) model_interrupt(t->e.m, v % 2);
            else model_run(t->e.m, v >> 1);
            break;
        case 11:
            in_down(t);
            in_up(t);
            break;
        case 12: {   /* init on a running device: refused, nothing changes */
            uint64_t allocs = t->e.bus->stats.live_allocs;
            FZ_ASSERT(virtio_input_init(&t->in, &t->e.vdev, &t->o) == VIRTIO_ERR_STATE);
            FZ_ASSERT(t->e.bus->stats.live_allocs == allocs);
            break;
        }
        case 13:
            FZ_RESULT(virtio_input_refresh(&t->in, v & 1 ? 0 : &n));
            break;
        default:
            FZ_RESULT(virtio_device_status(&t->in.dev, &n));
            break;
        }
        fz_no_bugs(&t->e);
    }
}

static void in_recover(in_fz *t)
{
    virtio_input_ev ev;
    fz_honest(&t->e, 2, 256);
    t->e.lies = 0;
    memset(&t->o, 0, sizeof t->o);
    FZ_ASSERT(in_up(t) == VIRTIO_OK);
    in_deliver(t, 1, 30, 1);
    in_deliver(t, 0, 0, 0);
    FZ_ASSERT(t->ecount == 2);
    FZ_ASSERT(virtio_input_poll(&t->in, &ev) == VIRTIO_OK);
    in_got(t, &ev);
    FZ_ASSERT(virtio_input_poll(&t->in, &ev) == VIRTIO_OK);
    in_got(t, &ev);
    FZ_ASSERT(virtio_input_poll(&t->in, &ev) == VIRTIO_EMPTY);
    fz_no_bugs(&t->e);
    in_down(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    in_fz t;
    uint64_t features = IN_FEATURES;
    uint32_t k;
    memset(&t, 0, sizeof t);
    fz_env_init(&t.e, data, size);
    fz_bus(&t.e);
    fz_transport(&t.e, FZ_RING == VIRTIO_RING_PACKED);
    k = fz_u8(&t.e.ops);
    t.o.device.ring = FZ_RING;
    t.o.device.no_indirect = k & 1;
    t.o.device.no_event_idx = (k >> 1) & 1;
    if (k & 4) t.o.buffers = fz_below(&t.e.ops, 600);
    if (k & 8) features &= ~MODEL_F_EVENT_IDX;
    if (FZ_RING == VIRTIO_RING_PACKED) features |= MODEL_F_RING_PACKED;
    fz_dev_new(&t.e, 18, features, &t.d);
    fz_knobs(&t.e, 2);
    in_up(&t);
    in_ops(&t);
    in_down(&t);
    in_recover(&t);
    model_bus_free(t.e.bus);
    return 0;
}
