/* SPDX-License-Identifier: MIT OR Unlicense */
#if defined(VIRTIO_IMPLEMENTATION) && !defined(VIRTIO_RNG_IMPLEMENTATION)
#define VIRTIO_RNG_IMPLEMENTATION
#endif
#include "virtio.h"
#ifndef VIRTIO_RNG_H
#define VIRTIO_RNG_H
/*
virtio_rng.h - v0.3.11 - VirtIO entropy source driver for virtio.h - MIT OR Unlicense

QUICK START

    #define VIRTIO_IMPLEMENTATION      // in one file
    #include "virtio_rng.h"

    virtio_device dev;                 // from virtio_mmio_probe / virtio_pci_probe
    static virtio_rng rng;             // zero-filled: init refuses a running one
    uint8_t seed[32];
    size_t n;
    if (virtio_rng_init(&rng, &dev, NULL) == VIRTIO_OK &&
        virtio_rng_read(&rng, seed, sizeof seed, VIRTIO_RNG_WAIT, NULL) == VIRTIO_OK)
        use_seed(seed);                                    // all 32 bytes
    if (virtio_rng_read(&rng, seed, sizeof seed, 0, &n) == VIRTIO_OK)
        mix_in(seed, n);                                   // what was there, 1..32 bytes

CONFIGURATION

    macro                        default   scope
    VIRTIO_RNG_IMPLEMENTATION    -         emit this driver (VIRTIO_IMPLEMENTATION implies it)

Runtime choices are in virtio_rng_options (all-zero = defaults).

READING

The driver keeps `buffers` buffers of `buffer_size` bytes posted on the
device's one queue (virtio 1.2 section 5.4); the device fills them when it
has entropy. Whenever a call finds buffers returned, their bytes move to a
private stash, in the order the device returned them, and the buffers go
back to the device at once. Without flags a read never blocks: it takes
what is in the stash (VIRTIO_EMPTY if nothing). With VIRTIO_RNG_WAIT it
returns all `len` bytes or nothing: it waits (bounded by the platform
timeout) until that much has arrived, and only then copies; len may then
be at most buffers x buffer_size (256 by default). VIRTIO_MORE posts
buffers without notifying the device (virtio_rng_kick does).

UNTRUSTED DEVICE

The device writes only into the driver's buffers; a used length is clamped
to the buffer by the queue layer. Bytes are wiped from the buffers when
they are taken and from the stash when they are handed out, so a device
that reports a length without writing yields zeros, never a second copy of
entropy already given out. Buffers returned empty
are posted again and counted in `empty`; a device that returns nothing
forever cannot hold a call: each call handles at most one queue's worth of
buffers per round, and a wait ends at the platform timeout (it does not
restart on empty returns) or with VIRTIO_ERR_NEEDS_RESET. A queue the
device breaks (a bad used id or index) fails the call with
VIRTIO_ERR_DEVICE and the driver with VIRTIO_ERR_STATE until it is shut
down and initialised again.

INTERRUPTS

Everything works by polling. For interrupts, pass &rng.dev to
virtio_device_isr() and arm rng.queue with virtio_queue_enable_cb(). With
event index an armed queue interrupts once: re-arm after each drain and
drain again when enable_cb reports pending. The device has no
configuration; VIRTIO_ISR_CONFIG only matters for NEEDS_RESET, which
virtio_rng_refresh() reports.

MEMORY

At init, through dma_alloc: one ring (queue size = buffers rounded up to a
power of two; align 16, 4096 on legacy transports) with its private shadow
(VIRTIO_MEM_PRIVATE, 16 bytes per entry, 12 on 32-bit CPUs), one
VIRTIO_MEM_DMA block of buffers x buffer_size bytes (align 16) and the
stash, a VIRTIO_MEM_PRIVATE block of (buffers + 1) x buffer_size bytes
(align 16). Defaults on a modern transport: a 4-entry ring of 118 bytes
(split; 72 packed), a 64-byte shadow (48 on 32-bit CPUs), 256 bytes of
buffers, a 320-byte stash. Legacy transports put the ring's used part on
its own 4096-byte page (QEMU's legacy PCI queue has 8 entries whatever is
asked).

LIMITS

1 to 32 buffers (default 4, at most the queue size), 16 to 4096 bytes each
(default 64). One queue; the device has no configuration and no features.

license: end of file (virtio.h)
*/

#if !defined(VIRTIO_KIT_VERSION) || VIRTIO_KIT_VERSION < 2 || VIRTIO_KIT_COMPAT > 2
#error "virtio_rng.h needs the virtio.h driver kit 2"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Flag for virtio_rng_read: all len bytes, waiting (bounded) for them. */
#define VIRTIO_RNG_WAIT 2u
/* last_status before the device returned any buffer. */
#define VIRTIO_RNG_STATUS_NONE 0xffffffffu

/* Driver choices. Defaults (all zero):
     device       automatic ring format, indirect and event index if offered
     buffers      4 buffers posted (1..32, at most the queue size)
     buffer_size  64 bytes each (16..4096) */
typedef struct virtio_rng_options {
    virtio_device_options device;
    uint32_t buffers;
    uint32_t buffer_size;
} virtio_rng_options;

/* An entropy source. Caller-owned, must not move after init. Readable:
   dev, queue, last_status (bytes the device put in the last buffer it
   returned; VIRTIO_RNG_STATUS_NONE before any), empty (buffers returned
   with no bytes), bytes (entropy handed to the caller so far). The rest
   is private. */
typedef struct virtio_rng {
    virtio_device dev;
    virtio_queue queue;
    uint32_t last_status;
    uint32_t empty;
    uint64_t bytes;
    struct {
        uint32_t magic;
        uint32_t broken;          /* the queue broke: everything but shutdown refuses */
        uint32_t nbuf, bsize;
        unsigned char *buf;       /* DMA: nbuf buffers, each posted again at once */
        uint64_t buf_dev;
        size_t buf_bytes;
        unsigned char *stash;     /* private ring of (nbuf + 1) x bsize bytes received */
        size_t stash_bytes;
        uint32_t head;            /* oldest byte in the stash */
        uint32_t avail;           /* bytes in the stash */
    } priv;
} virtio_rng;

/* Initialise an entropy source on a probed device (copied into rng->dev);
   rng must be zero-filled or shut down (a running one is refused):
   set up the queue, post every buffer, set DRIVER_OK.
   Returns VIRTIO_OK; VIRTIO_ERR_STATE (rng is initialised: shut it down
   first; nothing is changed); VIRTIO_ERR_NOT_FOUND (not an entropy
   device); VIRTIO_ERR_INVALID_ARG (NULL, options out of range);
   VIRTIO_ERR_DEVICE (no queue, or a queue live right after the reset: see
   virtio_device_fault); VIRTIO_ERR_NO_MEMORY; the errors of
   virtio_device_begin and virtio_queue_init. If the reset after a failure
   does not finish, the memory already allocated is leaked, not freed.
   Context: blocks for the reset (bounded); allocates through dma_alloc. */
VIRTIO_API virtio_result virtio_rng_init(virtio_rng *rng, const virtio_device *dev, const virtio_rng_options *o);

/* Reset the device and free the driver's memory. Returns VIRTIO_OK;
   VIRTIO_ERR_TIMEOUT (the reset did not finish: the memory the device may
   still write is leaked, not freed; rng is shut down all the same);
   VIRTIO_ERR_STATE (not initialised). */
VIRTIO_API virtio_result virtio_rng_shutdown(virtio_rng *rng);

/* Take entropy. Without VIRTIO_RNG_WAIT: up to len bytes, what has
   arrived; with it: exactly len bytes, waiting for them, the buffer
   untouched unless they all came. VIRTIO_MORE: post used-up buffers
   without notifying the device. out: got (bytes copied, may be NULL).
   Returns VIRTIO_OK (got >= 1); VIRTIO_EMPTY (nothing there, without
   WAIT); VIRTIO_ERR_TIMEOUT (WAIT: not len bytes in time; what arrived
   stays for the next read); VIRTIO_ERR_NEEDS_RESET; VIRTIO_ERR_TOO_BIG
   (WAIT with len above buffers x buffer_size); VIRTIO_ERR_DEVICE (the
   device broke the queue); VIRTIO_ERR_INVALID_ARG (NULL buf, len 0,
   unknown flags); VIRTIO_ERR_STATE. Context: WAIT blocks, bounded by the
   platform timeout; otherwise never blocks. */
VIRTIO_API virtio_result virtio_rng_read(virtio_rng *rng, void *buf, size_t len, uint32_t flags, size_t *got);

/* Notify the device of buffers posted with VIRTIO_MORE. Returns
   VIRTIO_OK or VIRTIO_ERR_STATE. Context: one register write at most. */
VIRTIO_API virtio_result virtio_rng_kick(virtio_rng *rng);

/* The device has no configuration: *changed (may be NULL) is always 0.
   Returns VIRTIO_OK; VIRTIO_ERR_NEEDS_RESET (the device asks for a reset:
   shut down and initialise again); VIRTIO_ERR_STATE. Context: one
   register read. */
VIRTIO_API virtio_result virtio_rng_refresh(virtio_rng *rng, uint32_t *changed);

#ifdef __cplusplus
}
#endif
#endif /* VIRTIO_RNG_H */

/* ==================================================================== */
/* Implementation                                                        */
/* ==================================================================== */
#if defined(VIRTIO_RNG_IMPLEMENTATION) && !defined(VIRTIO__RNG_DONE)
#define VIRTIO__RNG_DONE

#define VIRTIO__RNG_MAGIC 0x726e6721u   /* "rng!" */

static int virtio__rng_ok(const virtio_rng *rng)
{
    return rng && rng->priv.magic == VIRTIO__RNG_MAGIC;
}

static virtio_result virtio__rng_post(virtio_rng *rng, uint32_t i)
{
    virtio_sg sg;
    sg.addr = rng->priv.buf_dev + (uint64_t)i * rng->priv.bsize;
    sg.len = rng->priv.bsize;
    sg.pad = 0;
    return virtio_queue_add(&rng->queue, &sg, 0, 1, (void *)(uintptr_t)(i + 1));
}

/* Move what the device returned into the stash and post the buffers
   again: at most one queue's worth, and only while the stash has room for
   a whole buffer (so a WAIT read of up to nbuf x bsize bytes always has a
   buffer with the device). Empty buffers go straight back. */
static virtio_result virtio__rng_harvest(virtio_rng *rng, uint32_t *reposted)
{
    uint32_t k;
    for (k = 0; k < rng->priv.nbuf && rng->priv.stash_bytes - rng->priv.avail >= rng->priv.bsize; k++) {
        void *cookie;
        uint32_t len, i, at, first;
        unsigned char *b;
        virtio_result r = virtio_queue_pop(&rng->queue, &cookie, &len);
        if (r == VIRTIO_EMPTY) return VIRTIO_OK;
        if (r != VIRTIO_OK) return r;
        i = (uint32_t)(uintptr_t)cookie - 1;
        VIRTIO_ASSERT(i < rng->priv.nbuf && len <= rng->priv.bsize);
        rng->last_status = len;
        if (len == 0) rng->empty++;
        b = rng->priv.buf + (size_t)i * rng->priv.bsize;
        at = rng->priv.head + rng->priv.avail;   /* both below the stash size: no division (32-bit Arm has none) */
        if (at >= rng->priv.stash_bytes) at -= (uint32_t)rng->priv.stash_bytes;
        first = (uint32_t)rng->priv.stash_bytes - at < len ? (uint32_t)rng->priv.stash_bytes - at : len;
        VIRTIO_MEMCPY(rng->priv.stash + at, b, first);
        VIRTIO_MEMCPY(rng->priv.stash, b + first, len - first);
        VIRTIO_MEMSET(b, 0, len);   /* a device that claims bytes without writing gives zeros */
        rng->priv.avail += len;
        if ((r = virtio__rng_post(rng, i)) != VIRTIO_OK) return r;
        (*reposted)++;
    }
    return VIRTIO_OK;
}

/* Give back what init allocated, newest first: a stack-like allocator
   gets everything back. Only once the device's reset is done. */
static void virtio__rng_free(virtio_rng *rng)
{
    const virtio_platform *p = rng->dev.platform;
    virtio_free(p, rng->priv.stash, rng->priv.stash_bytes, VIRTIO_MEM_PRIVATE);
    virtio_free(p, rng->priv.buf, rng->priv.buf_bytes, VIRTIO_MEM_DMA);
    if (rng->queue.dev) virtio_queue_destroy(&rng->queue);
}

VIRTIO_API virtio_result virtio_rng_init(virtio_rng *rng, const virtio_device *dev, const virtio_rng_options *o)
{
    virtio_rng_options def;
    virtio_queue_options qo;
    const virtio_platform *p;
    uint32_t i;
    void *m;   /* (what virtio_alloc gives, before it is typed) */
    virtio_result r;
    if (!rng || !dev) return VIRTIO_ERR_INVALID_ARG;
    if (rng->priv.magic == VIRTIO__RNG_MAGIC) return VIRTIO_ERR_STATE;
    if (dev->device_id != VIRTIO_DEVICE_RNG) return VIRTIO_ERR_NOT_FOUND;
    if (!o) {
        VIRTIO_ZERO(&def);
        o = &def;
    }
    if (o->buffers > 32 || (o->buffer_size && (o->buffer_size < 16 || o->buffer_size > 4096)))
        return VIRTIO_ERR_INVALID_ARG;
    VIRTIO_ZERO(rng);
    rng->dev = *dev;
    p = rng->dev.platform;
    rng->priv.nbuf = o->buffers ? o->buffers : 4;
    rng->priv.bsize = o->buffer_size ? o->buffer_size : 64;
    rng->last_status = VIRTIO_RNG_STATUS_NONE;
    if ((r = virtio_device_begin(&rng->dev, 0, &o->device)) != VIRTIO_OK) return r;
    VIRTIO_ZERO(&qo);
    for (qo.size = 1; qo.size < rng->priv.nbuf; qo.size <<= 1) {}
    if ((r = virtio_queue_init(&rng->queue, &rng->dev, 0, &qo)) != VIRTIO_OK) goto fail;
    if (rng->queue.size < rng->priv.nbuf) rng->priv.nbuf = rng->queue.size;
    rng->priv.buf_bytes = (size_t)rng->priv.nbuf * rng->priv.bsize;
    r = virtio_alloc(p, rng->priv.buf_bytes, 16, VIRTIO_MEM_DMA, &m, &rng->priv.buf_dev);
    if (r != VIRTIO_OK) goto fail;
    rng->priv.buf = (unsigned char *)m;
    rng->priv.stash_bytes = (size_t)(rng->priv.nbuf + 1) * rng->priv.bsize;
    r = virtio_alloc(p, rng->priv.stash_bytes, 16, VIRTIO_MEM_PRIVATE, &m, 0);
    if (r != VIRTIO_OK) goto fail;
    rng->priv.stash = (unsigned char *)m;
    for (i = 0; i < rng->priv.nbuf; i++)
        if ((r = virtio__rng_post(rng, i)) != VIRTIO_OK) goto fail;
    if ((r = virtio_device_ready(&rng->dev)) != VIRTIO_OK) goto fail;
    virtio_queue_kick(&rng->queue);
    rng->priv.magic = VIRTIO__RNG_MAGIC;
    return VIRTIO_OK;
fail:
    r = virtio_device_fault(r);   /* a device without what its type requires */
    virtio_device_fail(&rng->dev);
    if (virtio_device_reset(&rng->dev) != VIRTIO_OK) return r;   /* leaked: the device may still write */
    virtio__rng_free(rng);
    return r;
}

VIRTIO_API virtio_result virtio_rng_shutdown(virtio_rng *rng)
{
    if (!virtio__rng_ok(rng)) return VIRTIO_ERR_STATE;
    rng->priv.magic = 0;
    if (virtio_device_reset(&rng->dev) != VIRTIO_OK) return VIRTIO_ERR_TIMEOUT;   /* leaked, see above */
    virtio__rng_free(rng);
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_rng_read(virtio_rng *rng, void *buf, size_t len, uint32_t flags, size_t *got)
{
    unsigned char *out = (unsigned char *)buf;
    uint32_t reposted = 0, status;
    size_t done = 0;
    virtio_wait w;
    virtio_result r;
    if (!virtio__rng_ok(rng) || rng->priv.broken) return VIRTIO_ERR_STATE;
    if (!buf || !len || (flags & ~(VIRTIO_MORE | VIRTIO_RNG_WAIT))) return VIRTIO_ERR_INVALID_ARG;
    if ((flags & VIRTIO_RNG_WAIT) && len > (size_t)rng->priv.nbuf * rng->priv.bsize) return VIRTIO_ERR_TOO_BIG;
    r = virtio__rng_harvest(rng, &reposted);
    if (r == VIRTIO_OK && (flags & VIRTIO_RNG_WAIT) && rng->priv.avail < len) {
        /* All or nothing: the caller's buffer is written only once len
           bytes are here. The deadline does not move while we wait. */
        virtio_wait_start(&w, rng->dev.platform, 0);
        while (r == VIRTIO_OK && rng->priv.avail < len) {
            virtio_queue_kick(&rng->queue);   /* never wait on un-notified buffers (earlier VIRTIO_MORE ones too) */
            reposted = 0;
            if (virtio_wait_step(&w) != VIRTIO_OK) {
                virtio_log(rng->dev.platform, VIRTIO_LOG_WARN, VIRTIO_MSG_TIMEOUT, 0, rng->dev.device_id);
                r = virtio_device_status(&rng->dev, &status) == VIRTIO_ERR_NEEDS_RESET ? VIRTIO_ERR_NEEDS_RESET
                                                                                       : VIRTIO_ERR_TIMEOUT;
            } else if ((w.spins & 1023u) == 0 && virtio_device_status(&rng->dev, &status) == VIRTIO_ERR_NEEDS_RESET) {
                r = VIRTIO_ERR_NEEDS_RESET;
            } else {
                r = virtio__rng_harvest(rng, &reposted);
            }
        }
    }
    if (r == VIRTIO_OK && rng->priv.avail) {
        size_t first, cap = rng->priv.stash_bytes;
        done = len < rng->priv.avail ? len : rng->priv.avail;
        first = cap - rng->priv.head < done ? cap - rng->priv.head : done;
        VIRTIO_MEMCPY(out, rng->priv.stash + rng->priv.head, first);
        VIRTIO_MEMCPY(out + first, rng->priv.stash, done - first);
        VIRTIO_MEMSET(rng->priv.stash + rng->priv.head, 0, first);   /* handed out once only */
        VIRTIO_MEMSET(rng->priv.stash, 0, done - first);
        rng->priv.head += (uint32_t)done;
        if (rng->priv.head >= cap) rng->priv.head -= (uint32_t)cap;
        rng->priv.avail -= (uint32_t)done;
    }
    if (reposted && !(flags & VIRTIO_MORE)) virtio_queue_kick(&rng->queue);
    if (r == VIRTIO_ERR_DEVICE || r == VIRTIO_ERR_STATE) rng->priv.broken = 1;
    if (!done) return r == VIRTIO_OK ? VIRTIO_EMPTY : r;
    rng->bytes += done;
    if (got) *got = done;
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_rng_kick(virtio_rng *rng)
{
    if (!virtio__rng_ok(rng) || rng->priv.broken) return VIRTIO_ERR_STATE;
    return virtio_queue_kick(&rng->queue);
}

VIRTIO_API virtio_result virtio_rng_refresh(virtio_rng *rng, uint32_t *changed)
{
    uint32_t status;
    if (!virtio__rng_ok(rng) || rng->priv.broken) return VIRTIO_ERR_STATE;
    if (virtio_device_status(&rng->dev, &status) == VIRTIO_ERR_NEEDS_RESET) return VIRTIO_ERR_NEEDS_RESET;
    if (changed) *changed = 0;
    return VIRTIO_OK;
}

#endif /* VIRTIO_RNG_IMPLEMENTATION */
