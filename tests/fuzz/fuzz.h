/* fuzz.h - what every libFuzzer target in tests/fuzz/ shares.
 *
 * The fuzz input plays the device. It is split in two streams:
 *
 *   [u16 L][L bytes: device stream][rest: operation stream]
 *
 * The operation stream describes the device's personality (transport,
 * offered features, queue maxima, reset delay, generation bumps, DMA
 * quirks, allocation failures, processing order; on modern PCI the
 * capability layout: offsets and lengths inside, across and past the
 * BAR, 32-bit wrap-around, BAR size, notify multiplier and notify offsets,
 * capability positions; kvmtool's quirks; the moment the device
 * disappears and reads all-ones) and then a list of calls the caller
 * makes. The device stream is a list of lies, each
 *
 *   [skip u8][kind u8][op u8][operand u32]
 *
 * meaning: let `skip` hostile-hook calls of `kind` (MODEL_H_*, 0 = any)
 * pass honestly, then change the next one with `op`. When the stream runs
 * out the device tells the truth, so short inputs reach deep honest code
 * and a few bytes place a lie exactly where the fuzzer wants it.
 *
 * Properties checked for every input (a violation aborts, which libFuzzer
 * reports as a crash with the input saved):
 *   - no crash, no out-of-bounds access, no undefined behaviour (ASan,
 *     UBSan), no hang (every wait is bounded by the fake clock; run.py
 *     also gives libFuzzer a per-input timeout);
 *   - every call returns VIRTIO_OK, VIRTIO_EMPTY or a documented error code;
 *   - caller buffers that are not handed to the driver keep their contents
 *     (each is filled with a known pattern while idle), and bytes around
 *     every caller buffer are never written (guard zones);
 *   - the model's DMA and address checks stay strict even after a lie:
 *     every address the driver hands the device lies in memory it
 *     allocated or mapped for that direction, and every register access
 *     lies in a window a BAR or an MMIO slot decodes, whatever the
 *     capabilities say (bus->stats.bugs stays 0);
 *   - while the device has not lied, results are right (data read back
 *     matches the model's disk, frames arrive as sent);
 *   - shutdown frees every allocation and mapping, and afterwards the same
 *     device, now honest, can be probed, initialised and used again with
 *     correct results.
 */
#ifndef FUZZ_H
#define FUZZ_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define FZ_ASSERT(c)                                                                      \
    do {                                                                                  \
        if (!(c)) {                                                                       \
            fprintf(stderr, "fuzz property violated: %s (%s:%d)\n", #c, __FILE__, __LINE__); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

/* ------------------------------------------------------------------ */
/* Input streams                                                        */
/* ------------------------------------------------------------------ */

typedef struct fz_in {
    const uint8_t *p;
    size_t n, i;
} fz_in;

static uint32_t fz_u8(fz_in *f)
{
    return f->i < f->n ? f->p[f->i++] : 0u;
}

static uint32_t fz_u16(fz_in *f)
{
    uint32_t v = fz_u8(f);
    return v | fz_u8(f) << 8;
}

static uint32_t fz_u32(fz_in *f)
{
    uint32_t v = fz_u16(f);
    return v | fz_u16(f) << 16;
}

static int fz_more(const fz_in *f)
{
    return f->i < f->n;
}

/* A value in [0, n) (n <= 65536). */
static uint32_t fz_below(fz_in *f, uint32_t n)
{
    if (n <= 1) return 0;
    return (n <= 256 ? fz_u8(f) : fz_u16(f)) % n;
}

/* ------------------------------------------------------------------ */
/* Environment                                                          */
/* ------------------------------------------------------------------ */

typedef struct fz_env {
    fz_in ops, dev;
    model_bus *bus;
    model *m;
    virtio_device vdev;
    uint32_t transport;
    uint32_t legacy_probe;      /* transitional PCI: probe the legacy interface */
    uint32_t mode;              /* MODEL_IMMEDIATE / MODEL_DEFERRED */
    uint32_t lies;              /* values the device changed so far */
    uint32_t pci_lies;          /* of them, in PCI configuration space: the BAR sizing in
                                   probe writes back what it read, so such a lie can
                                   outlive itself in the function's registers */
    uint32_t identity;          /* wanted: identity DMA, no map hooks (modern transports) */
    /* device record read by fz_options, applied by fz_knobs once the model exists */
    uint32_t lay_sel, lay_how[5], lay_val[5], lay_bar, lay_mul, lay_q, lay_noff;
    uint32_t quirks, gone_after;
    /* current record of the device stream */
    int have;
    uint32_t skip, kind, op, operand;
} fz_env;

/* Split the input into its two streams. */
static void fz_env_init(fz_env *e, const uint8_t *data, size_t size)
{
    size_t l;
    memset(e, 0, sizeof *e);
    l = size >= 2 ? (size_t)(data[0] | data[1] << 8) : 0;
    data += size >= 2 ? 2 : size;
    size -= size >= 2 ? 2 : size;
    if (l > size) l = size;
    e->dev.p = data;
    e->dev.n = l;
    e->ops.p = data + l;
    e->ops.n = size - l;
}

static void fz_bytes(fz_in *f, uint8_t *dst, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) dst[i] = (uint8_t)fz_u8(f);
}

/* Apply one lie to h. */
static void fz_lie(fz_env *e, model_hostile *h)
{
    uint32_t v = e->operand;
    e->lies++;
    if (h->kind == MODEL_H_PCI_READ) e->pci_lies++;
    switch (e->op % 8) {
    case 0:   /* replace the main value */
        if (h->kind == MODEL_H_USED_ELEM || h->kind == MODEL_H_PACKED_USED) h->id = v & 0xffffu;
        else if (h->kind == MODEL_H_RESPONSE) h->len = v;
        else h->value = v;
        break;
    case 1:   /* flip one bit */
        if (h->kind == MODEL_H_USED_ELEM || h->kind == MODEL_H_PACKED_USED) h->id ^= 1u << (v % 16);
        else if (h->kind == MODEL_H_RESPONSE) h->len ^= 1u << (v % 32);
        else h->value ^= 1u << (v % 32);
        break;
    case 2:   /* nudge by a little */
        if (h->kind == MODEL_H_USED_ELEM || h->kind == MODEL_H_PACKED_USED) h->id += (v % 5) - 2;
        else h->value += (v % 5) - 2;
        h->len += (v >> 8) % 3;
        break;
    case 3:
        h->len = v;
        break;
    case 4:
        h->flags = v;
        break;
    case 5:
        h->skip = 1;
        break;
    case 6:
        h->offset = v;
        break;
    default:   /* rewrite reply bytes (responses) with bytes from the device stream */
        if (h->kind == MODEL_H_RESPONSE && h->chain && h->chain->write_len) {
            uint8_t b[64];
            size_t n = v % sizeof b;
            fz_bytes(&e->dev, b, n);
            model_chain_write(h->chain, (v >> 8) % h->chain->write_len, b, n);
            h->value = 1;
        } else {
            h->value = ~h->value;
        }
        break;
    }
}

static void fz_hostile(void *user, model *m, model_hostile *h)
{
    fz_env *e = (fz_env *)user;
    (void)m;
    if (!e->have) {
        if (!fz_more(&e->dev)) return;
        e->skip = fz_u8(&e->dev);
        e->kind = fz_u8(&e->dev) % 9;
        e->op = fz_u8(&e->dev);
        e->operand = fz_u32(&e->dev);
        e->have = 1;
    }
    if (e->kind && e->kind != h->kind) return;
    if (e->skip) {
        e->skip--;
        return;
    }
    e->have = 0;
    if (getenv("FZ_DEBUG"))
        fprintf(stderr, "fuzz: lie op %u operand %#x to kind %u block %u off %#x (value %#x id %u len %u)\n", e->op % 8, e->operand, h->kind, h->block, h->offset,
                h->value, h->id, h->len);
    fz_lie(e, h);
}

/* fz_hostile for devices that write into the driver's buffers (console,
   entropy): a packed used descriptor is not given NEXT or INDIRECT, or
   the model would later take that slot for one the driver made available
   (an indirect table made of entropy, say) and blame the driver for
   addresses the device wrote itself. */
static void fz_hostile_plain_used(void *user, model *m, model_hostile *h)
{
    fz_hostile(user, m, h);
    if (h->kind == MODEL_H_PACKED_USED) h->flags &= ~5u;   /* NEXT, INDIRECT */
}

/* A new bus with fuzz-chosen platform behaviour. */
static void fz_bus(fz_env *e)
{
    uint32_t k;
    e->bus = model_bus_new();
    FZ_ASSERT(e->bus);
    e->bus->knobs.quiet = !getenv("FZ_DEBUG");
    e->bus->knobs.log_print = getenv("FZ_DEBUG") != 0;
    e->bus->knobs.abort_on_bug = getenv("FZ_ABORT") != 0;   /* a stack trace at the first bug */
    e->bus->platform.timeout_ms = 1 + fz_below(&e->ops, 40);
    k = fz_u8(&e->ops);
    e->bus->knobs.dma_split = k & 1;
    e->bus->knobs.dma_bounce = (k >> 1) & 1;
    if (k & 4) e->bus->knobs.alloc_fail_after = 1 + fz_below(&e->ops, 12);
    if (k & 8) e->bus->knobs.map_fail_after = 1 + fz_below(&e->ops, 40);
    e->identity = (k >> 4) & 1;
}

/* Transport: packed rings need a modern interface. */
static uint32_t fz_transport(fz_env *e, int packed)
{
    static const uint32_t all[] = { MODEL_MMIO, MODEL_MMIO_LEGACY, MODEL_PCI_MODERN, MODEL_PCI_TRANSITIONAL,
                                    MODEL_PCI_LEGACY };
    static const uint32_t modern[] = { MODEL_MMIO, MODEL_PCI_MODERN, MODEL_PCI_TRANSITIONAL };
    e->transport = packed ? modern[fz_below(&e->ops, 3)] : all[fz_below(&e->ops, 5)];
    e->legacy_probe = !packed && e->transport == MODEL_PCI_TRANSITIONAL && (fz_u8(&e->ops) & 1);
    return e->transport;
}

/* The capability layout record (k & 0x10 in fz_options): which
   capabilities change and how, the BAR size, the multiplier, one queue's
   notify offset. */
static void fz_layout_read(fz_env *e)
{
    uint32_t t;
    e->lay_sel = fz_u8(&e->ops);
    for (t = MODEL_CAP_COMMON; t <= MODEL_CAP_DEVICE; t++) {
        if (!(e->lay_sel & (1u << (t - 1)))) continue;
        e->lay_how[t] = fz_u8(&e->ops);
        e->lay_val[t] = fz_u32(&e->ops);
    }
    if (e->lay_sel & 0x10) e->lay_bar = fz_u8(&e->ops);
    if (e->lay_sel & 0x20) e->lay_mul = fz_u32(&e->ops);
    if (e->lay_sel & 0x40) {
        e->lay_q = fz_u8(&e->ops);
        e->lay_noff = fz_u16(&e->ops);
    }
}

/* Apply it (modern PCI only). A layout the library cannot see through
   taints the device, which then counts as having lied. */
static void fz_layout_apply(fz_env *e)
{
    model_pci_layout l;
    uint32_t t;
    if (!e->lay_sel || model_pci_layout_get(e->m, &l) != 0) return;
    if (e->lay_sel & 0x10) l.bar_size = 16ull << (e->lay_bar % 24);   /* 16 bytes .. 128 MiB */
    for (t = MODEL_CAP_COMMON; t <= MODEL_CAP_DEVICE; t++) {
        model_pci_cap *c = &l.cap[t];
        uint32_t how = e->lay_how[t], v = e->lay_val[t];
        if (!(e->lay_sel & (1u << (t - 1)))) continue;
        switch (how & 7) {
        case 0: c->offset = v; break;                                          /* anywhere */
        case 1: c->offset = (uint32_t)l.bar_size + (v & 0xffffu); break;        /* past the BAR */
        case 2: c->offset = (uint32_t)l.bar_size - (v & 0xffu); break;          /* across its end */
        case 3: c->offset = 0u - (v & 0xffu); break;                            /* offset + length wraps */
        case 4: c->length = v; break;
        case 5: c->omit = 1; break;
        case 6: c->bar = v & 0xffu; break;
        default: c->at = 0x40 + 4 * (v % 48); break;                            /* moved in config space */
        }
        if (how & 0x08) c->length = (how & 0x10) ? v >> 16 : v & 0xffu;
        if (how & 0x20) c->cap_len = v >> 24;
    }
    if (e->lay_sel & 0x20) l.notify_mul = e->lay_mul;
    if (e->lay_sel & 0x40) l.queue_notify_off[e->lay_q % MODEL_MAX_QUEUES] = (uint16_t)e->lay_noff;
    if (model_pci_layout_set(e->m, &l) == 0 && model_tainted(e->m)) e->lies++;
}

static void fz_options(fz_env *e, model_options *o)
{
    uint32_t k;
    model_options_init(o, e->transport);
    k = fz_u8(&e->ops);
    o->mode = e->mode = k & 1 ? MODEL_DEFERRED : MODEL_IMMEDIATE;
    o->msix_vectors = k & 2 ? 4 : 0;
    o->bar64 = (k >> 2) & 1;
    o->notify_mul = (k >> 3) & 1 ? 0 : 4;
    if (k & 0x10) fz_layout_read(e);
    if (k & 0x20) {   /* kvmtool's quirks, a device that disappears */
        e->quirks = fz_u8(&e->ops);
        if (e->quirks & 8) e->gone_after = 1 + fz_u16(&e->ops);
    }
}

/* Device knobs from the operation stream (after model_*_new). */
static void fz_knobs(fz_env *e, uint32_t nq)
{
    static const uint32_t qmax[] = { 0, 1, 2, 3, 4, 5, 7, 8, 16, 17, 64, 255, 256, 1023, 1024, 32768 };
    static const uint32_t delays[] = { 0, 0, 1, 3, MODEL_FOREVER };
    uint32_t k = fz_u8(&e->ops), q;
    model_knobs *kn = &e->m->knobs;
    kn->hostile = fz_hostile;
    kn->hostile_user = e;
    kn->reset_delay = delays[k % 5];
    kn->refuse_features_ok = (k & 0xf8) == 0x08;
    kn->gen_bump_every = (k >> 4) & 3;
    kn->gen_bump_max = kn->gen_bump_every ? 1 + ((k >> 6) & 3) * 3 : 0;
    k = fz_u8(&e->ops);
    kn->order = k % 3;
    kn->seed = k;
    kn->notify = (k >> 2) % 4;   /* MODEL_NOTIFY_ALWAYS .. MODEL_NOTIFY_STALE */
    kn->notify_every = 1 + ((k >> 4) & 3);
    kn->run_on_idle = 1 + ((k >> 6) & 3);
    for (q = 0; q < nq; q++) {
        k = fz_u8(&e->ops);
        if (k & 0x80) model_set_queue_max(e->m, q, (k & 0x40) ? fz_u16(&e->ops) : qmax[k % 16]);
    }
    fz_layout_apply(e);
    /* kvmtool keeps its queue size; only where the size reads back (a
       modern PCI interface) can a driver that asks for less notice. */
    kn->ignore_small_queue_size = (e->quirks & 1) && (e->transport == MODEL_PCI_MODERN ||
                                                      (e->transport == MODEL_PCI_TRANSITIONAL && !e->legacy_probe));
    kn->used_len = (e->quirks >> 1) % 3;
    kn->gone_after = e->gone_after;
    if (getenv("FZ_DEBUG"))
        fprintf(stderr, "fuzz: transport %u layout %#x (tainted %d) quirks %#x gone after %u\n", e->transport, e->lay_sel,
                model_tainted(e->m), e->quirks, e->gone_after);
}

/* Probe the model through its transport. */
static virtio_result fz_probe(fz_env *e)
{
    return model_probe(e->m, &e->vdev, e->legacy_probe);
}

/* A reset the device never finished (or a device that went away) ends:
   the device is back and honest, so the owner can take its memory back.
   gone_after too: a countdown still running would take it away again in
   the middle of that reset. */
static void fz_back(fz_env *e)
{
    model_knobs *kn = &e->m->knobs;
    kn->reset_delay = 0;
    kn->gone = kn->gone_after = 0;
    kn->hostile = 0;
}

/* The device becomes honest again and normal: no lies, no failures, no
   reset delay, default queue sizes. */
static void fz_honest(fz_env *e, uint32_t nq, uint32_t qmax)
{
    uint32_t q;
    model_knobs *kn = &e->m->knobs;
    kn->hostile = 0;
    kn->gone = kn->gone_after = 0;
    kn->ignore_small_queue_size = 0;
    kn->used_len = MODEL_USED_LEN_EXACT;
    model_pci_layout_reset(e->m);
    kn->reset_delay = 0;
    kn->refuse_features_ok = 0;
    kn->features_override_on = 0;
    kn->gen_bump_every = 0;
    e->bus->knobs.alloc_fail_after = 0;
    e->bus->knobs.map_fail_after = 0;
    model_pci_reset_bars(e->m);   /* firmware's BAR addresses again, whatever the run left there */
    for (q = 0; q < nq; q++) model_set_queue_max(e->m, q, qmax);
}

static int fz_result_ok(int r)
{
    return r == VIRTIO_OK || r == VIRTIO_EMPTY || (r <= VIRTIO_ERR_INVALID_ARG && r >= VIRTIO_ERR_GONE);
}

#define FZ_RESULT(r)                                                                      \
    do {                                                                                  \
        int fz_r_ = (int)(r);                                                             \
        if (!fz_result_ok(fz_r_)) {                                                       \
            fprintf(stderr, "fuzz: undocumented result %d at %s:%d\n", fz_r_, __FILE__, __LINE__); \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

/* The model's DMA and address checks never relax: an address outside the
   driver's memory, or a register access outside every decoded window, is a
   real bug even after the device lied. */
static void fz_no_bugs(fz_env *e)
{
    if (e->bus->stats.bugs) {
        fprintf(stderr, "fuzz: model found a driver bug: %s\n", model_bus_last_bug(e->bus));
        abort();
    }
}

/* Everything came back after shutdown, unless the device never finished
   its reset (or is gone): then what it may still write stays with it. */
static void fz_no_leaks(fz_env *e)
{
    if (e->m->knobs.gone || model_reset_pending(e->m)) return;
    if (e->bus->stats.live_allocs || e->bus->stats.live_maps) {
        fprintf(stderr, "fuzz: %llu allocations and %llu mappings left after shutdown\n",
                (unsigned long long)e->bus->stats.live_allocs, (unsigned long long)e->bus->stats.live_maps);
        abort();
    }
}

/* ------------------------------------------------------------------ */
/* Caller buffers with guard zones and an idle pattern                  */
/* ------------------------------------------------------------------ */

#define FZ_GUARD 64u
#define FZ_NBUF 8u

typedef struct fz_buf {
    uint8_t *mem;               /* guard | data | guard */
    uint8_t *data;
    size_t size;
    int busy;                   /* handed to the driver */
    int writable;               /* the driver may write it while busy */
} fz_buf;

static uint8_t fz_pattern(const fz_buf *b, size_t i)
{
    return (uint8_t)(0xa5u ^ (i * 7u) ^ (uintptr_t)b);
}

static void fz_buf_fill(fz_buf *b)
{
    size_t i;
    for (i = 0; i < b->size; i++) b->data[i] = fz_pattern(b, i);
}

static void fz_buf_new(fz_buf *b, size_t size)
{
    b->mem = (uint8_t *)malloc(size + 2 * FZ_GUARD);
    FZ_ASSERT(b->mem);
    memset(b->mem, 0xee, FZ_GUARD);
    memset(b->mem + FZ_GUARD + size, 0xee, FZ_GUARD);
    b->data = b->mem + FZ_GUARD;
    b->size = size;
    b->busy = 0;
    fz_buf_fill(b);
}

/* Guards are intact; idle buffers (and busy read-only ones) hold the pattern. */
static void fz_buf_check(const fz_buf *b)
{
    size_t i;
    for (i = 0; i < FZ_GUARD; i++) {
        FZ_ASSERT(b->mem[i] == 0xee);
        FZ_ASSERT(b->mem[FZ_GUARD + b->size + i] == 0xee);
    }
    if (b->busy && b->writable) return;
    for (i = 0; i < b->size; i++)
        if (b->data[i] != fz_pattern(b, i)) {
            fprintf(stderr, "fuzz: byte %zu of a caller buffer the driver does not own was written\n", i);
            abort();
        }
}

static void fz_buf_free(fz_buf *b)
{
    free(b->mem);
    b->mem = b->data = 0;
}

/* Identity DMA, if fz_bus chose it and the transport can address host
   memory (legacy ones cannot): device address == CPU address, no map
   hooks, as on most bare metal; the caller buffers' data (not their
   guards) are RAM the device may use. Before the driver allocates. */
static void fz_identity(fz_env *e, fz_buf *bufs, uint32_t n)
{
    uint32_t i;
    if (!e->identity || e->legacy_probe || e->transport == MODEL_MMIO_LEGACY || e->transport == MODEL_PCI_LEGACY) {
        e->identity = 0;
        return;
    }
    e->bus->knobs.dma_mode = MODEL_DMA_IDENTITY;
    e->bus->platform.dma_map = 0;
    e->bus->platform.dma_unmap = 0;
    for (i = 0; i < n; i++) FZ_ASSERT(model_dma_ram(e->bus, bufs[i].data, bufs[i].size) == 0);
}

/* ------------------------------------------------------------------ */
/* A scripted device for the core, net, input and gpu targets            */
/* ------------------------------------------------------------------ */

/* Answers requests the way a plain device of its type would; the hostile
   hook (MODEL_H_RESPONSE) garbles the answers. Queues the device fills
   itself (net receive, input events) are MODEL_QF_PULL: the operation
   stream delivers into them with fz_deliver. */
typedef struct fz_dev {
    uint32_t type;
    uint32_t width, height;     /* gpu: display size reported */
    uint32_t tx_frames;         /* net: frames sent by the driver */
    uint8_t last_tx[4096];
    uint32_t last_tx_len;
    uint32_t leds;              /* input: status events received */
    uint32_t role;              /* input: 0 keyboard, 1 mouse, 2 tablet */
} fz_dev;

static void fz_dev_gpu(fz_dev *d, model_chain *c)
{
    uint8_t req[24], resp[32 + 1024];
    uint32_t type, rtype = 0x1100u, n = 24, i;
    memset(req, 0, sizeof req);
    memset(resp, 0, sizeof resp);
    model_chain_read(c, 0, req, sizeof req);
    type = model_get32(req);
    if (type == 0x0100u) {   /* GET_DISPLAY_INFO */
        rtype = 0x1101u;
        n = 24 + 16 * 24;
        for (i = 0; i < 2; i++) {
            model_put32(resp + 24 + 24 * i + 8, d->width);
            model_put32(resp + 24 + 24 * i + 12, d->height);
            model_put32(resp + 24 + 24 * i + 16, 1);
        }
    } else if (type == 0x010au) {   /* GET_EDID: header, a detailed timing */
        static const uint8_t magic[8] = { 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 };
        uint8_t *edid = resp + 32, sum = 0;
        rtype = 0x1104u;
        n = 32 + 1024;
        model_put32(resp + 24, 128);
        memcpy(edid, magic, 8);
        edid[18] = 1;
        edid[19] = 4;
        model_put16(edid + 54, 10000);
        edid[56] = (uint8_t)d->width;
        edid[58] = (uint8_t)((d->width >> 8) << 4);
        edid[59] = (uint8_t)d->height;
        edid[61] = (uint8_t)((d->height >> 8) << 4);
        for (i = 0; i < 127; i++) sum = (uint8_t)(sum + edid[i]);
        edid[127] = (uint8_t)(0x100u - sum);
    }
    model_put32(resp, rtype);
    model_put32(resp + 4, model_get32(req + 4) & 1u);   /* fence flag echoed */
    memcpy(resp + 8, req + 8, 8);
    if (n > c->write_len) n = (uint32_t)c->write_len;
    model_chain_write(c, 0, resp, n);
    c->used_len = n;
}

static int fz_dev_process(model *m, void *state, model_chain *c)
{
    fz_dev *d = (fz_dev *)state;
    (void)m;
    if (d->type == 1 && c->queue == 1) {   /* net transmit */
        uint32_t n = c->read_len < sizeof d->last_tx ? (uint32_t)c->read_len : (uint32_t)sizeof d->last_tx;
        d->last_tx_len = (uint32_t)model_chain_read(c, 0, d->last_tx, n);
        d->tx_frames++;
    } else if (d->type == 1 && c->write_len) {   /* net control: acknowledge */
        uint8_t ok = 0;
        model_chain_write(c, c->write_len - 1, &ok, 1);
        c->used_len = 1;
    } else if (d->type == 18) {   /* input status */
        d->leds++;
    } else if (d->type == 16 && c->write_len) {
        fz_dev_gpu(d, c);
    } else if (c->write_len) {   /* generic: fill what the driver lets us write */
        uint64_t i;
        for (i = 0; i < c->write_len; i += 1) {
            uint8_t b = (uint8_t)(c->id + i);
            model_chain_write(c, i, &b, 1);
            if (i > 256) break;
        }
        c->used_len = (uint32_t)(i < c->write_len ? i + 1 : c->write_len);
    }
    return MODEL_DONE;
}

/* Input configuration: answer select/subsel like a small keyboard, mouse
   or tablet. */
static int fz_dev_config_write(model *m, void *state, uint32_t off, unsigned width, uint32_t value)
{
    fz_dev *d = (fz_dev *)state;
    uint8_t *cfg = model_config(m), n = 0, *u = cfg + 8;
    if (d->type == 1) {   /* net: the MAC is writable on legacy interfaces */
        if (off + width > 6) return 0;
        while (width--) cfg[off++] = (uint8_t)value, value >>= 8;
        return 1;
    }
    if (d->type == 16) {   /* gpu: events_clear */
        if (off == 4 && width == 4) model_put32(cfg, model_get32(cfg) & ~value);
        return off == 4;
    }
    if (d->type != 18 || width != 1 || off > 1) return 0;
    cfg[off] = (uint8_t)value;
    memset(u, 0, 128);
    switch (cfg[0]) {
    case 0x01:
        memcpy(u, "fuzz input", 10);
        n = 10;
        break;
    case 0x03:
        model_put16(u, 6);
        model_put16(u + 2, 0x627);
        n = 8;
        break;
    case 0x11:
        if (cfg[1] == 1) {   /* keys and buttons */
            memset(u, 0xff, 16);
            u[34] = 0x3f;    /* BTN_LEFT.. */
            n = 36;
        } else if (cfg[1] == 2 && d->role == 1) {
            u[0] = 3;
            n = 1;
        } else if (cfg[1] == 3 && d->role == 2) {
            u[0] = 3;
            n = 1;
        } else if (cfg[1] == 0x11 && d->role == 0) {
            u[0] = 7;
            n = 1;
        }
        break;
    case 0x12:
        if (d->role == 2 && cfg[1] < 2) {
            model_put32(u + 4, 32767);
            n = 20;
        }
        break;
    default:
        break;
    }
    cfg[2] = n;
    model_config_field(m, 8, 1, 128);   /* the union's fields: le16 IDs, le32 axis values, else bytes */
    if (cfg[0] == 0x03) model_config_field(m, 8, 2, 4);
    if (cfg[0] == 0x12) model_config_field(m, 8, 4, 5);
    return 1;
}

static void fz_dev_destroy(void *state)
{
    free(state);
}

/* A scripted device of `type` (1 net, 16 gpu, 18 input, else generic). */
static model *fz_dev_new(fz_env *e, uint32_t type, uint64_t features, fz_dev **out)
{
    model_options o;
    model_backend be;
    fz_dev *d = (fz_dev *)calloc(1, sizeof *d);
    model *m;
    uint32_t q;
    FZ_ASSERT(d);
    d->type = type;
    d->width = 1 + fz_below(&e->ops, 2048);
    d->height = 1 + fz_below(&e->ops, 2048);
    d->role = fz_below(&e->ops, 3);
    memset(&be, 0, sizeof be);
    be.name = "fuzz";
    be.device_id = type;
    be.features = features;
    be.num_queues = type == 1 ? 3 : 2;
    for (q = 0; q < be.num_queues; q++) be.queue_max[q] = 256;
    if (type == 1 || type == 18) be.queue_flags[0] = MODEL_QF_PULL;
    be.config_size = type == 18 ? 136 : type == 16 ? 16 : type == 1 ? 12 : 8;
    be.state = d;
    be.process = fz_dev_process;
    be.config_write = fz_dev_config_write;
    be.destroy = fz_dev_destroy;
    fz_options(e, &o);
    m = model_new(e->bus, &o, &be);
    FZ_ASSERT(m);
    if (type == 1) {   /* mac, status (link up), pairs, mtu */
        uint8_t *c = model_config(m);
        c[0] = 0x52;
        c[5] = 0x01;
        model_put16(c + 6, 1);
        model_put16(c + 8, 1);
        model_put16(c + 10, (uint16_t)(68 + fz_below(&e->ops, 3000)));
        model_config_field(m, 6, 2, 3);   /* (for the access check: 16-bit fields) */
    } else if (type == 16) {
        model_put32(model_config(m) + 8, 1 + fz_below(&e->ops, 16));
        model_config_field(m, 0, 4, 4);
    }
    *out = d;
    e->m = m;
    return m;
}

/* Deliver up to `len` bytes from the operation stream (or `data`) into the
   next posted buffer of a device-filled queue. Returns 0 if none posted. */
static int fz_deliver(fz_env *e, uint32_t queue, const uint8_t *data, uint32_t len)
{
    model_chain *c = model_pop(e->m, queue);
    uint8_t tmp[2048];
    if (!c) return 0;
    if (!data) {
        if (len > sizeof tmp) len = sizeof tmp;
        fz_bytes(&e->ops, tmp, len);
        data = tmp;
    }
    if (len > c->write_len) len = (uint32_t)c->write_len;
    model_chain_write(c, 0, data, len);
    model_chain_complete(c, len);
    return 1;
}

#endif
