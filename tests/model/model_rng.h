/* SPDX-License-Identifier: MIT OR Unlicense */
/* model_rng.h - virtio-rng backend of the software VirtIO device (device
   id 4, virtio 1.2 section 5.4). See model.h for the model itself.

   One request queue: every buffer the driver posts is filled with the
   next bytes of a known stream, model_rng_byte(seed, offset), so a test
   knows exactly which bytes the driver must hand out and in which order.
   Knobs make the device stingy (at most max_per_buffer bytes per buffer),
   dry (buffers come back with 0 bytes, forever) or slow (buffers are held
   until the test releases them, as a rate-limited or starved source
   would).

       model_rng_options ro;
       model_rng_options_init(&ro);           // QEMU's queue size 8, seed 1
       m = model_rng_new(bus, &o, &ro);
       ... virtio_rng_init, virtio_rng_read ...
       buf[i] == model_rng_byte(ro.seed, i)   // for the i-th byte handed out

   Driver bugs reported: buffers with device-readable bytes or with no
   writable byte (virtio 1.2 5.4.6.1: the driver MUST NOT place
   driver-readable buffers). */
#ifndef MODEL_RNG_H
#define MODEL_RNG_H
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct model_rng_options {
    uint64_t features;          /* offered [VERSION_1 | RING_PACKED | EVENT_IDX | INDIRECT_DESC] */
    uint32_t queue_size;        /* QueueNumMax [8, as QEMU] */
    uint64_t seed;              /* stream seed [1] */
} model_rng_options;

/* Runtime behaviour: model_rng_get_knobs(m); change any time. */
typedef struct model_rng_knobs {
    uint32_t max_per_buffer;    /* write at most this many bytes per buffer, 0 = fill it [0] */
    uint32_t dry;               /* return every buffer with 0 bytes [0] */
    uint32_t hold;              /* keep buffers until model_rng_release [0] */
} model_rng_knobs;

typedef struct model_rng_stats {
    uint64_t buffers;           /* buffers returned */
    uint64_t bytes;             /* stream bytes written (= the next stream offset) */
    uint64_t empty;             /* buffers returned with 0 bytes */
    uint64_t max_held;          /* most buffers held at once */
} model_rng_stats;

void model_rng_options_init(model_rng_options *o);
/* An entropy device on bus b; NULL on error (see model_bus_last_bug). */
model *model_rng_new(model_bus *b, const model_options *o, const model_rng_options *ro);
/* Complete up to n held buffers (0 = all) as the knobs say now. Returns
   how many were completed. */
uint32_t model_rng_release(model *m, uint32_t n);
uint32_t model_rng_held(model *m);
model_rng_knobs *model_rng_get_knobs(model *m);
model_rng_stats *model_rng_get_stats(model *m);

/* Byte `offset` of the stream of `seed` (splitmix64 of seed and word). */
static inline uint8_t model_rng_byte(uint64_t seed, uint64_t offset)
{
    uint64_t z = seed * 0x9e3779b97f4a7c15ull + (offset >> 3) * 0xbf58476d1ce4e5b9ull + 1;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (uint8_t)(z >> (8 * (offset & 7)));
}

#ifdef __cplusplus
}
#endif
#endif /* MODEL_RNG_H */
