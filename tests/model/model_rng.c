/* SPDX-License-Identifier: MIT OR Unlicense */
/* model_rng.c - virtio-rng backend of the software VirtIO device
   (virtio 1.2 section 5.4). See model_rng.h. */
#include "model_rng.h"

#include <stdlib.h>
#include <string.h>

#define HOLD_MAX 1024u

typedef struct rng {
    model_rng_options o;
    model_rng_knobs knobs;
    model_rng_stats stats;
    model_chain *held[HOLD_MAX];
    uint32_t nheld;
} rng;

static int rng_process(model *m, void *state, model_chain *c);

static rng *rng_of(model *m)
{
    const model_backend *be = model_backend_of(m);
    return be && be->process == rng_process ? (rng *)be->state : NULL;
}

void model_rng_options_init(model_rng_options *o)
{
    memset(o, 0, sizeof *o);
    o->features = MODEL_F_VERSION_1 | MODEL_F_RING_PACKED | MODEL_F_EVENT_IDX | MODEL_F_INDIRECT_DESC;
    o->queue_size = 8;
    o->seed = 1;
}

/* Fill c with the next stream bytes as the knobs say, and return it. */
static void fill(model *m, rng *r, model_chain *c)
{
    uint32_t n = r->knobs.dry ? 0 : (uint32_t)c->write_len, i;
    uint8_t b[256];
    if (r->knobs.max_per_buffer && n > r->knobs.max_per_buffer) n = r->knobs.max_per_buffer;
    for (i = 0; i < n;) {
        uint32_t k, chunk = n - i < sizeof b ? n - i : (uint32_t)sizeof b;
        for (k = 0; k < chunk; k++) b[k] = model_rng_byte(r->o.seed, r->stats.bytes + i + k);
        model_chain_write(c, i, b, chunk);
        i += chunk;
    }
    r->stats.bytes += n;
    r->stats.buffers++;
    if (!n) r->stats.empty++;
    c->used_len = n;
    (void)m;
}

static int rng_process(model *m, void *state, model_chain *c)
{
    rng *r = (rng *)state;
    if (c->read_len) model_bug(m, "rng: buffer with %llu device-readable bytes", (unsigned long long)c->read_len);
    if (!c->write_len) model_bug(m, "rng: buffer with no writable byte");
    if (r->knobs.hold && r->nheld < HOLD_MAX) {
        r->held[r->nheld++] = c;
        if (r->nheld > r->stats.max_held) r->stats.max_held = r->nheld;
        return MODEL_HOLD;
    }
    fill(m, r, c);
    return MODEL_DONE;
}

uint32_t model_rng_release(model *m, uint32_t n)
{
    rng *r = rng_of(m);
    uint32_t done = 0, i;
    if (!r) return 0;
    while (r->nheld && (n == 0 || done < n)) {
        model_chain *c = r->held[0];
        for (i = 1; i < r->nheld; i++) r->held[i - 1] = r->held[i];
        r->nheld--;
        fill(m, r, c);
        model_chain_complete(c, c->used_len);
        done++;
    }
    return done;
}

static void rng_reset(model *m, void *state)
{
    (void)m;
    ((rng *)state)->nheld = 0;   /* the queue reset takes the chains back */
}

static void rng_destroy(void *state)
{
    free(state);
}

model *model_rng_new(model_bus *bus, const model_options *o, const model_rng_options *ro)
{
    model_backend be;
    rng *r;
    if (!bus || !o || !ro) return NULL;
    r = (rng *)calloc(1, sizeof *r);
    if (!r) return NULL;
    r->o = *ro;
    memset(&be, 0, sizeof be);
    be.name = "rng";
    be.device_id = 4;
    be.features = ro->features;
    be.num_queues = 1;
    be.queue_max[0] = ro->queue_size;
    be.state = r;
    be.process = rng_process;
    be.reset = rng_reset;
    be.destroy = rng_destroy;
    return model_new(bus, o, &be);   /* destroys r on failure */
}

uint32_t model_rng_held(model *m)
{
    rng *r = rng_of(m);
    return r ? r->nheld : 0;
}

model_rng_knobs *model_rng_get_knobs(model *m)
{
    rng *r = rng_of(m);
    return r ? &r->knobs : NULL;
}

model_rng_stats *model_rng_get_stats(model *m)
{
    rng *r = rng_of(m);
    return r ? &r->stats : NULL;
}
