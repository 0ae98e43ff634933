/* target_rng.h - virtio_rng.h against a fuzz-driven entropy device.
 *
 * Included by fuzz_rng_split.c and fuzz_rng_packed.c with FZ_RING set.
 * The device is the model's (model_rng.c) with the fuzz input choosing
 * how it behaves (bytes per buffer, dry spells, held buffers, completion
 * order) and lying through fuzz.h's hostile hook; the operation stream
 * reads in every size and mode, toggles the device, asks for resets and
 * re-initialises. While the device is honest and completes in order,
 * every byte handed out is the model's stream byte at the next offset,
 * and a WAIT read returns all its bytes or leaves the caller's buffer as
 * it was.
 */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_rng.h"
#include "fuzz.h"
#include "model_rng.h"

typedef struct rng_fz {
    fz_env e;
    model_rng_options ro;
    virtio_rng_options o;
    virtio_rng rng;
    int up;
    int exact;                  /* bytes must follow the stream: in-order completions, no lie yet */
    uint64_t next;              /* stream offset of the next byte handed out */
} rng_fz;

/* A reset that never finished left the driver's memory with the device
   (as documented); once the reset is done, give it back as the owner of
   the object would. */
static void rng_reclaim(rng_fz *t)
{
    const virtio_platform *p = &t->e.bus->platform;
    /* (a reset that cannot finish: one that never ends, a device that is
       gone, or a lie about the status) */
    FZ_ASSERT(t->e.m->knobs.reset_delay == MODEL_FOREVER || t->e.m->knobs.gone || t->e.lies);
    fz_back(&t->e);
    FZ_ASSERT(virtio_device_reset(&t->rng.dev) == VIRTIO_OK);
    virtio_free(p, t->rng.priv.stash, t->rng.priv.stash_bytes, VIRTIO_MEM_PRIVATE);
    virtio_free(p, t->rng.priv.buf, t->rng.priv.buf_bytes, VIRTIO_MEM_DMA);
    if (t->rng.queue.dev) virtio_queue_destroy(&t->rng.queue);
}

static virtio_result rng_up(rng_fz *t)
{
    virtio_result r = fz_probe(&t->e);
    FZ_RESULT(r);
    if (r != VIRTIO_OK) return r;
    t->next = model_rng_get_stats(t->e.m)->bytes;   /* earlier buffers died with the reset */
    r = virtio_rng_init(&t->rng, &t->e.vdev, &t->o);
    FZ_RESULT(r);
    t->up = r == VIRTIO_OK;
    if (r != VIRTIO_OK && t->e.bus->stats.live_allocs) rng_reclaim(t);
    return r;
}

static void rng_down(rng_fz *t)
{
    virtio_result r;
    if (t->up) {
        r = virtio_rng_shutdown(&t->rng);
        FZ_RESULT(r);
        if (r == VIRTIO_ERR_TIMEOUT) rng_reclaim(t);
        else FZ_ASSERT(r == VIRTIO_OK);
    }
    t->up = 0;
    fz_no_leaks(&t->e);
}

/* Check n bytes handed out against the stream. */
static void rng_got(rng_fz *t, const uint8_t *b, size_t n)
{
    size_t i;
    /* (kvmtool's used lengths are the bytes moved, or the whole chain: an
       entropy source's length is its data, so those are lies here) */
    if (t->exact && !t->e.lies && t->e.m->knobs.used_len == MODEL_USED_LEN_EXACT && t->e.m->knobs.order == MODEL_ORDER_FIFO)
        for (i = 0; i < n; i++) FZ_ASSERT(b[i] == model_rng_byte(t->ro.seed, t->next + i));
    t->next += n;
}

static void rng_ops(rng_fz *t, fz_buf *buf)
{
    fz_in *in = &t->e.ops;
    uint32_t steps = 0;
    while (fz_more(in) && steps++ < 128) {
        uint32_t op = fz_u8(in) % 12, v = fz_u16(in), flags, n;
        size_t got = 0, len, cap = (size_t)t->rng.priv.nbuf * t->rng.priv.bsize;
        virtio_result r;
        model_rng_knobs *k = model_rng_get_knobs(t->e.m);
        if (!t->up && op != 9) continue;
        switch (op) {
        case 0:
        case 1:
        case 2:   /* a read: size, WAIT, MORE from the stream */
            len = 1 + v % buf->size;
            flags = (op == 1 ? VIRTIO_RNG_WAIT : 0) | (v >> 15 ? VIRTIO_MORE : 0);
            buf->busy = buf->writable = 1;
            r = virtio_rng_read(&t->rng, buf->data, len, flags, &got);
            buf->busy = 0;
            FZ_RESULT(r);
            if (r == VIRTIO_OK) {
                FZ_ASSERT(got >= 1 && got <= len);
                if (flags & VIRTIO_RNG_WAIT) FZ_ASSERT(got == len && len <= cap);
                rng_got(t, buf->data, got);
                fz_buf_fill(buf);
            } else {
                FZ_ASSERT(r != VIRTIO_ERR_TOO_BIG || ((flags & VIRTIO_RNG_WAIT) && len > cap));
                fz_buf_check(buf);   /* a failed read leaves the buffer alone */
            }
            break;
        case 3:
            k->max_per_buffer = v % 80;
            break;
        case 4:
            k->dry = v & 1;
            break;
        case 5:
            k->hold = v & 1;
            if (!(v & 1)) model_rng_release(t->e.m, v >> 1 & 15);
            break;
        case 6:
            if (v & 1) model_interrupt(t->e.m, 0);
            else model_run(t->e.m, v >> 1 & 15);
            break;
        case 7:
            FZ_RESULT(virtio_rng_kick(&t->rng));
            FZ_RESULT(virtio_rng_refresh(&t->rng, v & 1 ? &n : 0));
            break;
        case 8:
            model_set_needs_reset(t->e.m);
            break;
        case 9:
            rng_down(t);
            rng_up(t);
            break;
        default:
            FZ_RESULT(virtio_device_status(&t->rng.dev, &n));
            break;
        }
        fz_no_bugs(&t->e);
    }
}

/* The device honest again: init works and the stream comes through. */
static void rng_recover(rng_fz *t, fz_buf *buf)
{
    size_t got = 0;
    model_rng_knobs *k = model_rng_get_knobs(t->e.m);
    virtio_result r;
    fz_honest(&t->e, 1, 8);
    t->e.lies = 0;
    t->e.m->knobs.order = MODEL_ORDER_FIFO;
    t->e.m->knobs.run_on_idle = 1;
    k->dry = k->hold = k->max_per_buffer = 0;
    t->exact = 1;
    memset(&t->o, 0, sizeof t->o);
    t->o.device.ring = FZ_RING;
    r = rng_up(t);
    /* A lie read back from a BAR while the driver sized it was written
       back into the function: that damage outlives the lie. */
    if (r != VIRTIO_OK && t->e.pci_lies) return;
    FZ_ASSERT(r == VIRTIO_OK);
    buf->busy = buf->writable = 1;
    FZ_ASSERT(virtio_rng_read(&t->rng, buf->data, 32, VIRTIO_RNG_WAIT, &got) == VIRTIO_OK);
    buf->busy = 0;
    FZ_ASSERT(got == 32);
    rng_got(t, buf->data, got);
    fz_buf_fill(buf);
    fz_no_bugs(&t->e);
    rng_down(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rng_fz t;
    model_options mo;
    fz_buf buf;
    uint32_t k;
    memset(&t, 0, sizeof t);
    fz_env_init(&t.e, data, size);
    fz_bus(&t.e);
    fz_transport(&t.e, FZ_RING == VIRTIO_RING_PACKED);
    model_rng_options_init(&t.ro);
    k = fz_u8(&t.e.ops);
    t.ro.seed = 1 + fz_u8(&t.e.ops);
    if (k & 1) t.ro.features &= ~MODEL_F_EVENT_IDX;
    if (k & 2) t.ro.features &= ~MODEL_F_INDIRECT_DESC;
    if (FZ_RING != VIRTIO_RING_PACKED) t.ro.features &= ~MODEL_F_RING_PACKED;
    t.o.device.ring = FZ_RING;
    t.o.device.no_event_idx = (k >> 2) & 1;
    if (k & 8) t.o.buffers = fz_below(&t.e.ops, 40);
    if (k & 16) t.o.buffer_size = fz_below(&t.e.ops, 4200);
    fz_options(&t.e, &mo);
    t.e.m = model_rng_new(t.e.bus, &mo, &t.ro);
    FZ_ASSERT(t.e.m);
    fz_knobs(&t.e, 1);
    t.e.m->knobs.hostile = fz_hostile_plain_used;
    t.e.m->knobs.hostile_user = &t;
    t.exact = 1;
    fz_buf_new(&buf, 1024);
    fz_identity(&t.e, &buf, 1);
    rng_up(&t);
    rng_ops(&t, &buf);
    rng_down(&t);
    rng_recover(&t, &buf);
    fz_buf_check(&buf);
    fz_buf_free(&buf);
    model_bus_free(t.e.bus);
    return 0;
}
