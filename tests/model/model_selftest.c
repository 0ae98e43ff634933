/* SPDX-License-Identifier: MIT OR Unlicense */
/* model_selftest.c - tests of the software VirtIO device itself, driving
   it by hand: register accesses through the platform hooks and ring memory
   written directly, no virtio.h implementation involved.

   cc -std=c99 -g -fsanitize=address,undefined -I. -Itests/model \
      tests/model/model.c tests/model/model_blk.c tests/model/model_selftest.c \
      -o build/model_selftest && build/model_selftest */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures, checks;
#define CHECK(c)                                                                       \
    do {                                                                               \
        checks++;                                                                      \
        if (!(c)) {                                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);      \
            failures++;                                                                \
        }                                                                              \
    } while (0)

/* ------------------------------------------------------------------ */
/* A minimal hand-written driver, per transport                         */
/* ------------------------------------------------------------------ */

#define K_MMIO 1
#define K_MMIO1 2
#define K_PCI 3
#define K_LPCI 4

typedef struct drv {
    model_bus *bus;
    virtio_platform *p;
    model *m;
    int kind;
    int space;
    uintptr_t base;        /* MMIO window / common cfg / legacy I/O base */
    uintptr_t notify;      /* PCI notify base */
    uint32_t notify_mul;
    uintptr_t isr, devcfg;
    uint32_t msix;         /* legacy PCI: MSI-X enabled (config at 24) */
} drv;

static uint32_t rd(drv *d, uintptr_t a, unsigned w) { return d->p->reg_read(d->p->user, d->space, a, w); }
static void wr(drv *d, uintptr_t a, unsigned w, uint32_t v) { d->p->reg_write(d->p->user, d->space, a, w, v); }
static uint32_t pcird(drv *d, unsigned off, unsigned w) { return d->p->pci_read(d->p->user, model_pci_bdf(d->m), off, w); }
static void pciwr(drv *d, unsigned off, unsigned w, uint32_t v) { d->p->pci_write(d->p->user, model_pci_bdf(d->m), off, w, v); }

static void *dalloc(drv *d, size_t size, size_t align, uint64_t *dev)
{
    void *p = d->p->dma_alloc(d->p->user, size, align, VIRTIO_MEM_DMA, dev);
    if (p) memset(p, 0, size);
    return p;
}

static void set_status(drv *d, uint32_t s)
{
    if (d->kind == K_MMIO || d->kind == K_MMIO1) wr(d, d->base + 0x70, 4, s);
    else if (d->kind == K_PCI) wr(d, d->base + 20, 1, s);
    else wr(d, d->base + 18, 1, s);
}

static uint32_t get_status(drv *d)
{
    if (d->kind == K_MMIO || d->kind == K_MMIO1) return rd(d, d->base + 0x70, 4);
    if (d->kind == K_PCI) return rd(d, d->base + 20, 1);
    return rd(d, d->base + 18, 1);
}

static uint64_t get_features(drv *d)
{
    uint64_t f;
    if (d->kind == K_MMIO || d->kind == K_MMIO1) {
        wr(d, d->base + 0x14, 4, 0);
        f = rd(d, d->base + 0x10, 4);
        if (d->kind == K_MMIO1) return f;
        wr(d, d->base + 0x14, 4, 1);
        return f | (uint64_t)rd(d, d->base + 0x10, 4) << 32;
    }
    if (d->kind == K_LPCI) return rd(d, d->base + 0, 4);
    wr(d, d->base + 0, 4, 0);
    f = rd(d, d->base + 4, 4);
    wr(d, d->base + 0, 4, 1);
    return f | (uint64_t)rd(d, d->base + 4, 4) << 32;
}

static void set_features(drv *d, uint64_t f)
{
    if (d->kind == K_MMIO || d->kind == K_MMIO1) {
        wr(d, d->base + 0x24, 4, 0);
        wr(d, d->base + 0x20, 4, (uint32_t)f);
        if (d->kind == K_MMIO1) return;
        wr(d, d->base + 0x24, 4, 1);
        wr(d, d->base + 0x20, 4, (uint32_t)(f >> 32));
    } else if (d->kind == K_LPCI) {
        wr(d, d->base + 4, 4, (uint32_t)f);
    } else {
        wr(d, d->base + 8, 4, 0);
        wr(d, d->base + 12, 4, (uint32_t)f);
        wr(d, d->base + 8, 4, 1);
        wr(d, d->base + 12, 4, (uint32_t)(f >> 32));
    }
}

/* Reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK. Returns 1 if the
   device kept FEATURES_OK (always 1 on legacy). */
static int negotiate(drv *d, uint64_t want)
{
    int legacy = d->kind == K_MMIO1 || d->kind == K_LPCI;
    uint32_t spins = 0;
    set_status(d, 0);
    while (get_status(d) != 0)
        if (++spins > 1000) return 0;
    set_status(d, MODEL_S_ACKNOWLEDGE);
    set_status(d, MODEL_S_ACKNOWLEDGE | MODEL_S_DRIVER);
    if (d->kind == K_MMIO1) wr(d, d->base + 0x28, 4, 4096);
    set_features(d, get_features(d) & want);
    if (legacy) return 1;
    set_status(d, MODEL_S_ACKNOWLEDGE | MODEL_S_DRIVER | MODEL_S_FEATURES_OK);
    return (get_status(d) & MODEL_S_FEATURES_OK) != 0;
}

static void driver_ok(drv *d)
{
    set_status(d, get_status(d) | MODEL_S_DRIVER_OK);
}

static uint32_t queue_max(drv *d, uint32_t q)
{
    if (d->kind == K_MMIO || d->kind == K_MMIO1) {
        wr(d, d->base + 0x30, 4, q);
        return rd(d, d->base + 0x34, 4);
    }
    if (d->kind == K_LPCI) {
        wr(d, d->base + 14, 2, q);
        return rd(d, d->base + 12, 2);
    }
    wr(d, d->base + 22, 2, q);
    return rd(d, d->base + 24, 2);
}

/* Modern transports: separate areas. */
static void queue_setup(drv *d, uint32_t q, uint32_t size, uint64_t desc, uint64_t drv_area, uint64_t dev_area)
{
    if (d->kind == K_MMIO) {
        wr(d, d->base + 0x30, 4, q);
        wr(d, d->base + 0x38, 4, size);
        wr(d, d->base + 0x80, 4, (uint32_t)desc);
        wr(d, d->base + 0x84, 4, (uint32_t)(desc >> 32));
        wr(d, d->base + 0x90, 4, (uint32_t)drv_area);
        wr(d, d->base + 0x94, 4, (uint32_t)(drv_area >> 32));
        wr(d, d->base + 0xa0, 4, (uint32_t)dev_area);
        wr(d, d->base + 0xa4, 4, (uint32_t)(dev_area >> 32));
        wr(d, d->base + 0x44, 4, 1);
    } else {
        wr(d, d->base + 22, 2, q);
        wr(d, d->base + 24, 2, size);
        wr(d, d->base + 32, 4, (uint32_t)desc);
        wr(d, d->base + 36, 4, (uint32_t)(desc >> 32));
        wr(d, d->base + 40, 4, (uint32_t)drv_area);
        wr(d, d->base + 44, 4, (uint32_t)(drv_area >> 32));
        wr(d, d->base + 48, 4, (uint32_t)dev_area);
        wr(d, d->base + 52, 4, (uint32_t)(dev_area >> 32));
        wr(d, d->base + 28, 2, 1);
    }
}

/* Legacy transports: one contiguous block given by its page number. */
static void queue_setup_legacy(drv *d, uint32_t q, uint32_t size, uint64_t base)
{
    if (d->kind == K_MMIO1) {
        wr(d, d->base + 0x30, 4, q);
        wr(d, d->base + 0x38, 4, size);
        wr(d, d->base + 0x3c, 4, 4096);
        wr(d, d->base + 0x40, 4, (uint32_t)(base / 4096));
    } else {
        wr(d, d->base + 14, 2, q);
        wr(d, d->base + 8, 4, (uint32_t)(base / 4096));
    }
}

static void notify(drv *d, uint32_t q)
{
    if (d->kind == K_MMIO || d->kind == K_MMIO1) wr(d, d->base + 0x50, 4, q);
    else if (d->kind == K_LPCI) wr(d, d->base + 16, 2, q);
    else {
        uint32_t off;
        wr(d, d->base + 22, 2, q);
        off = rd(d, d->base + 30, 2);
        wr(d, d->notify + off * d->notify_mul, 2, q);
    }
}

static uint32_t cfg32(drv *d, uint32_t off)
{
    if (d->kind == K_MMIO || d->kind == K_MMIO1) return rd(d, d->base + 0x100 + off, 4);
    if (d->kind == K_LPCI) return rd(d, d->base + (d->msix ? 24u : 20u) + off, 4);
    return rd(d, d->devcfg + off, 4);
}

/* ------------------------------------------------------------------ */
/* Rings and requests                                                   */
/* ------------------------------------------------------------------ */

typedef struct sring {
    uint32_t size;
    unsigned char *desc, *avail, *used;
    uint64_t desc_dev, avail_dev, used_dev;
    uint16_t avail_idx, used_seen;
} sring;

static void sring_alloc(drv *d, sring *r, uint32_t size, int legacy)
{
    memset(r, 0, sizeof *r);
    r->size = size;
    if (legacy) {
        size_t used_off = (16u * size + 6 + 2u * size + 4095) & ~(size_t)4095;
        size_t total = used_off + 6 + 8u * size;
        uint64_t base;
        unsigned char *b = (unsigned char *)dalloc(d, total, 4096, &base);
        r->desc = b;
        r->avail = b + 16u * size;
        r->used = b + used_off;
        r->desc_dev = base;
        r->avail_dev = base + 16u * size;
        r->used_dev = base + used_off;
    } else {
        r->desc = (unsigned char *)dalloc(d, 16u * size, 16, &r->desc_dev);
        r->avail = (unsigned char *)dalloc(d, 6 + 2u * size, 2, &r->avail_dev);
        r->used = (unsigned char *)dalloc(d, 6 + 8u * size, 4, &r->used_dev);
    }
}

static void put_desc(unsigned char *d, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    model_put64(d, addr);
    model_put32(d + 8, len);
    model_put16(d + 12, flags);
    model_put16(d + 14, next);
}

/* Packed layout: addr, len, id, flags. */
static void put_pdesc(unsigned char *d, uint64_t addr, uint32_t len, uint16_t id, uint16_t flags)
{
    model_put64(d, addr);
    model_put32(d + 8, len);
    model_put16(d + 12, id);
    model_put16(d + 14, flags);
}

static void sring_publish(sring *r, uint16_t head)
{
    model_put16(r->avail + 4 + 2u * (r->avail_idx & (r->size - 1)), head);
    r->avail_idx++;
    model_put16(r->avail + 2, r->avail_idx);
}

typedef struct req {
    unsigned char *hdr, *data, *st;
    uint64_t hdr_dev, data_dev, st_dev;
    uint32_t len;
} req;

static void req_alloc(drv *d, req *q, uint32_t type, uint64_t sector, uint32_t len)
{
    q->hdr = (unsigned char *)dalloc(d, 16, 16, &q->hdr_dev);
    q->data = len ? (unsigned char *)dalloc(d, len, 16, &q->data_dev) : NULL;
    q->st = (unsigned char *)dalloc(d, 1, 1, &q->st_dev);
    q->len = len;
    model_put32(q->hdr, type);
    model_put32(q->hdr + 4, 0);
    model_put64(q->hdr + 8, sector);
    q->st[0] = 0xff;
}

/* A 3-descriptor read/write chain at descriptors base..base+2. */
static void split_req(sring *r, uint16_t base, const req *q, int write_to_disk)
{
    put_desc(r->desc + 16u * base, q->hdr_dev, 16, 1, (uint16_t)(base + 1));
    put_desc(r->desc + 16u * (base + 1), q->data_dev, q->len, (uint16_t)(1 | (write_to_disk ? 0 : 2)), (uint16_t)(base + 2));
    put_desc(r->desc + 16u * (base + 2), q->st_dev, 1, 2, 0);
}

static int pattern_ok(const unsigned char *p, uint64_t off, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++)
        if (p[i] != model_blk_pattern(off + i)) return 0;
    return 1;
}

static model_bus *new_bus(void)
{
    model_bus *b = model_bus_new();
    if (!b) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return b;
}

/* ------------------------------------------------------------------ */
/* Tests                                                                */
/* ------------------------------------------------------------------ */

static void test_mmio_split(void)
{
    drv d;
    model_options o;
    model_blk_options bo;
    sring r;
    req q;
    model_qstats *qs;
    memset(&d, 0, sizeof d);
    d.bus = new_bus();
    d.p = &d.bus->platform;
    model_options_init(&o, MODEL_MMIO);
    model_blk_options_init(&bo);
    d.m = model_blk_new(d.bus, &o, &bo);
    CHECK(d.m != NULL);
    d.kind = K_MMIO;
    d.space = VIRTIO_SPACE_MEM;
    d.base = model_mmio_base(d.m);
    CHECK(rd(&d, d.base, 4) == 0x74726976u);
    CHECK(rd(&d, d.base + 4, 4) == 2);
    CHECK(rd(&d, d.base + 8, 4) == 2);
    CHECK(negotiate(&d, MODEL_F_VERSION_1 | MODEL_BLK_F_FLUSH));
    CHECK(model_features(d.m) == (MODEL_F_VERSION_1 | MODEL_BLK_F_FLUSH));
    CHECK(cfg32(&d, 0) == (1u << 20) / 512);           /* capacity, low half */
    CHECK(queue_max(&d, 0) == 256);
    CHECK(queue_max(&d, 1) == 0);
    sring_alloc(&d, &r, 8, 0);
    queue_setup(&d, 0, 8, r.desc_dev, r.avail_dev, r.used_dev);
    CHECK(model_queue_ready(d.m, 0));
    driver_ok(&d);
    req_alloc(&d, &q, MODEL_BLK_T_IN, 3, 1024);
    split_req(&r, 0, &q, 0);
    sring_publish(&r, 0);
    notify(&d, 0);
    CHECK(model_get16(r.used + 2) == 1);
    CHECK(model_get32(r.used + 4) == 0);               /* id = head */
    CHECK(model_get32(r.used + 8) == 1025);            /* data + status */
    CHECK(q.st[0] == MODEL_BLK_S_OK);
    CHECK(pattern_ok(q.data, 3 * 512, 1024));
    CHECK(rd(&d, d.base + 0x60, 4) == 1);              /* used-buffer interrupt */
    wr(&d, d.base + 0x64, 4, 1);
    CHECK(rd(&d, d.base + 0x60, 4) == 0);
    qs = model_queue_stats(d.m, 0);
    CHECK(qs->notifies == 1 && qs->chains == 1 && qs->interrupts == 1 && qs->notifies_unwanted == 0);
    /* A write, then read it back from the disk. */
    req_alloc(&d, &q, MODEL_BLK_T_OUT, 10, 512);
    memset(q.data, 0x3c, 512);
    split_req(&r, 3, &q, 1);
    sring_publish(&r, 3);
    notify(&d, 0);
    CHECK(model_get16(r.used + 2) == 2);
    CHECK(model_get32(r.used + 12) == 3 && model_get32(r.used + 16) == 1);
    CHECK(q.st[0] == MODEL_BLK_S_OK);
    CHECK(model_blk_disk(d.m, NULL)[10 * 512] == 0x3c && model_blk_disk(d.m, NULL)[11 * 512 - 1] == 0x3c);
    CHECK(model_blk_get_stats(d.m)->writes == 1 && model_blk_get_stats(d.m)->bytes_written == 512);
    /* Avail flags: NO_INTERRUPT suppresses the next interrupt. */
    model_put16(r.avail, 1);
    req_alloc(&d, &q, MODEL_BLK_T_FLUSH, 0, 0);
    put_desc(r.desc + 16 * 6, q.hdr_dev, 16, 1, 7);
    put_desc(r.desc + 16 * 7, q.st_dev, 1, 2, 0);
    sring_publish(&r, 6);
    notify(&d, 0);
    CHECK(q.st[0] == MODEL_BLK_S_OK);
    CHECK(qs->interrupts == 2 && qs->interrupts_suppressed == 1);
    CHECK(model_blk_get_stats(d.m)->flushes == 1);
    CHECK(d.bus->stats.bugs == 0);
    model_bus_free(d.bus);
}

typedef struct pring {
    uint32_t size;
    unsigned char *desc, *drv, *dev;
    uint64_t desc_dev, drv_dev, dev_dev;
    uint16_t pos, wrap, used_pos, used_wrap;
} pring;

static void pring_alloc(drv *d, pring *r, uint32_t size)
{
    memset(r, 0, sizeof *r);
    r->size = size;
    r->desc = (unsigned char *)dalloc(d, 16u * size, 16, &r->desc_dev);
    r->drv = (unsigned char *)dalloc(d, 4, 4, &r->drv_dev);
    r->dev = (unsigned char *)dalloc(d, 4, 4, &r->dev_dev);
    r->wrap = r->used_wrap = 1;
}

/* Post n segments as one chain with buffer id `id` (in the last
   descriptor); the first descriptor's flags are written last. */
static void pring_add(pring *r, const uint64_t *addr, const uint32_t *len, const uint16_t *wflag, uint32_t n, uint16_t id)
{
    uint16_t first_flags = 0, pos = r->pos, wrap = r->wrap;
    uint32_t k;
    for (k = 0; k < n; k++) {
        unsigned char *d = r->desc + 16u * pos;
        uint16_t f = (uint16_t)(wflag[k] | (k + 1 < n ? 1u : 0u) | (wrap ? 0x80u : 0x8000u));
        model_put64(d, addr[k]);
        model_put32(d + 8, len[k]);
        model_put16(d + 12, id);
        if (k == 0) first_flags = f;
        else model_put16(d + 14, f);
        if (++pos == r->size) {
            pos = 0;
            wrap ^= 1;
        }
    }
    model_put16(r->desc + 16u * r->pos + 14, first_flags);
    r->pos = pos;
    r->wrap = wrap;
}

/* Pop one used descriptor; returns 1 and id/len/flags, skipping ndesc. */
static int pring_pop(pring *r, uint32_t ndesc, uint16_t *id, uint32_t *len, uint16_t *flags)
{
    unsigned char *d = r->desc + 16u * r->used_pos;
    uint16_t f = model_get16(d + 14);
    int avail = (f & 0x80u) != 0, used = (f & 0x8000u) != 0;
    if (avail != used || used != (r->used_wrap != 0)) return 0;
    *id = model_get16(d + 12);
    *len = model_get32(d + 8);
    *flags = f;
    r->used_pos = (uint16_t)(r->used_pos + ndesc);
    if (r->used_pos >= r->size) {
        r->used_pos = (uint16_t)(r->used_pos - r->size);
        r->used_wrap ^= 1;
    }
    return 1;
}

static void test_mmio_packed(void)
{
    drv d;
    model_options o;
    model_blk_options bo;
    pring r;
    req q;
    uint64_t a[3];
    uint32_t l[3], i, len;
    uint16_t w[3], id, fl;
    unsigned char *table;
    uint64_t table_dev;
    memset(&d, 0, sizeof d);
    d.bus = new_bus();
    d.p = &d.bus->platform;
    model_options_init(&o, MODEL_MMIO);
    model_blk_options_init(&bo);
    d.m = model_blk_new(d.bus, &o, &bo);
    d.kind = K_MMIO;
    d.space = VIRTIO_SPACE_MEM;
    d.base = model_mmio_base(d.m);
    CHECK(negotiate(&d, MODEL_F_VERSION_1 | MODEL_F_RING_PACKED | MODEL_F_INDIRECT_DESC));
    pring_alloc(&d, &r, 7);   /* packed rings need not be a power of two */
    queue_setup(&d, 0, 7, r.desc_dev, r.drv_dev, r.dev_dev);
    CHECK(model_queue_ready(d.m, 0));
    driver_ok(&d);
    req_alloc(&d, &q, MODEL_BLK_T_IN, 7, 512);
    a[0] = q.hdr_dev; l[0] = 16; w[0] = 0;
    a[1] = q.data_dev; l[1] = 512; w[1] = 2;
    a[2] = q.st_dev; l[2] = 1; w[2] = 2;
    pring_add(&r, a, l, w, 3, 5);
    notify(&d, 0);
    CHECK(pring_pop(&r, 3, &id, &len, &fl));
    CHECK(id == 5 && len == 513);
    CHECK(fl == (0x80u | 0x8000u | 2u));               /* AVAIL = USED = wrap 1, WRITE */
    CHECK(q.st[0] == MODEL_BLK_S_OK && pattern_ok(q.data, 7 * 512, 512));
    /* An indirect write: one ring slot. */
    table = (unsigned char *)dalloc(&d, 48, 16, &table_dev);
    req_alloc(&d, &q, MODEL_BLK_T_OUT, 1, 512);
    memset(q.data, 0x77, 512);
    put_pdesc(table, q.hdr_dev, 16, 0, 0);
    put_pdesc(table + 16, q.data_dev, 512, 0, 0);
    put_pdesc(table + 32, q.st_dev, 1, 0, 2);
    a[0] = table_dev; l[0] = 48; w[0] = 4;
    pring_add(&r, a, l, w, 1, 2);
    notify(&d, 0);
    CHECK(pring_pop(&r, 1, &id, &len, &fl));
    CHECK(id == 2 && len == 1 && q.st[0] == MODEL_BLK_S_OK);
    CHECK(model_blk_disk(d.m, NULL)[512] == 0x77);
    CHECK(model_queue_stats(d.m, 0)->indirect == 1);
    /* Run around the ring several times: wrap counters must flip. */
    for (i = 0; i < 10; i++) {
        req_alloc(&d, &q, MODEL_BLK_T_IN, 10 + i, 512);
        a[0] = q.hdr_dev; l[0] = 16; w[0] = 0;
        a[1] = q.data_dev; l[1] = 512; w[1] = 2;
        a[2] = q.st_dev; l[2] = 1; w[2] = 2;
        pring_add(&r, a, l, w, 3, (uint16_t)i);
        notify(&d, 0);
        CHECK(pring_pop(&r, 3, &id, &len, &fl));
        CHECK(id == i && len == 513 && q.st[0] == 0 && pattern_ok(q.data, (10 + i) * 512, 512));
    }
    CHECK(model_queue_stats(d.m, 0)->chains == 12);
    CHECK(d.bus->stats.bugs == 0);
    model_bus_free(d.bus);
}

static void test_mmio_legacy(void)
{
    drv d;
    model_options o;
    model_blk_options bo;
    sring r;
    req q;
    memset(&d, 0, sizeof d);
    d.bus = new_bus();
    d.p = &d.bus->platform;
    model_options_init(&o, MODEL_MMIO_LEGACY);
    o.mmio_base = 0x0a000000;
    model_blk_options_init(&bo);
    d.m = model_blk_new(d.bus, &o, &bo);
    d.kind = K_MMIO1;
    d.space = VIRTIO_SPACE_MEM;
    d.base = 0x0a000000;
    CHECK(rd(&d, d.base + 4, 4) == 1);
    CHECK(negotiate(&d, MODEL_F_ANY_LAYOUT | MODEL_BLK_F_BLK_SIZE));
    CHECK(cfg32(&d, 20) == 512);                      /* blk_size */
    CHECK(queue_max(&d, 0) == 256);
    sring_alloc(&d, &r, 16, 1);
    queue_setup_legacy(&d, 0, 16, r.desc_dev);
    CHECK(model_queue_ready(d.m, 0));
    CHECK(rd(&d, d.base + 0x40, 4) == (uint32_t)(r.desc_dev / 4096));
    driver_ok(&d);
    CHECK(model_features(d.m) == MODEL_BLK_F_BLK_SIZE);   /* ANY_LAYOUT not offered */
    req_alloc(&d, &q, MODEL_BLK_T_IN, 100, 2048);
    split_req(&r, 0, &q, 0);
    sring_publish(&r, 0);
    notify(&d, 0);
    CHECK(model_get16(r.used + 2) == 1 && model_get32(r.used + 4) == 0 && model_get32(r.used + 8) == 2049);
    CHECK(q.st[0] == 0 && pattern_ok(q.data, 100 * 512, 2048));
    /* GET_ID */
    req_alloc(&d, &q, MODEL_BLK_T_GET_ID, 0, 20);
    split_req(&r, 3, &q, 0);
    sring_publish(&r, 3);
    notify(&d, 0);
    CHECK(q.st[0] == 0 && memcmp(q.data, "model-blk-serial\0\0\0\0", 20) == 0);
    /* Reading QueuePFN 0 after a reset. */
    set_status(&d, 0);
    CHECK(rd(&d, d.base + 0x40, 4) == 0);
    CHECK(!model_queue_ready(d.m, 0));
    CHECK(d.bus->stats.bugs == 0);
    model_bus_free(d.bus);
}

/* Walk the capability list like a driver: virtio caps by cfg_type. */
static void test_pci_modern(void)
{
    drv d;
    model_options o;
    model_blk_options bo;
    sring r;
    req q;
    uint32_t cap, n = 0, found = 0, bar = 0, offs[6] = {0, 0, 0, 0, 0, 0}, lens[6] = {0, 0, 0, 0, 0, 0}, mul = 0;
    uint32_t lo, hi, pcicfg = 0, s;
    uint64_t bar_addr, size;
    memset(&d, 0, sizeof d);
    d.bus = new_bus();
    d.bus->knobs.quiet = 1;
    d.p = &d.bus->platform;
    model_options_init(&o, MODEL_PCI_MODERN);
    o.bdf = 0x0010;                                   /* 00:02.0 */
    o.bar64 = 1;
    o.bar_mem = 0x8000000000ull;
    o.notify_mul = 8;
    model_blk_options_init(&bo);
    bo.num_queues = 2;
    d.m = model_blk_new(d.bus, &o, &bo);
    CHECK(d.m != NULL);
    d.kind = K_PCI;
    d.space = VIRTIO_SPACE_MEM;
    CHECK(d.p->pci_read(d.p->user, 0x0008, 0, 4) == 0xffffffffu);   /* nothing at 00:01.0 */
    CHECK(pcird(&d, 0, 2) == 0x1af4 && pcird(&d, 2, 2) == 0x1042);
    CHECK(pcird(&d, 8, 1) == 1);                       /* revision >= 1 */
    CHECK(pcird(&d, 6, 2) & 0x10u);                    /* capability list */
    for (cap = pcird(&d, 0x34, 1) & 0xfcu; cap && n < 48; n++, cap = pcird(&d, cap + 1, 1) & 0xfcu) {
        uint32_t t;
        if (pcird(&d, cap, 1) != 0x09) continue;
        t = pcird(&d, cap + 3, 1);
        if (t < 1 || t > 5) continue;
        found |= 1u << t;
        if (t == 1) bar = pcird(&d, cap + 4, 1);
        offs[t] = pcird(&d, cap + 8, 4);
        lens[t] = pcird(&d, cap + 12, 4);
        if (t == 2) mul = pcird(&d, cap + 16, 4);
        if (t == 5) pcicfg = cap;
    }
    CHECK(found == 0x3eu);                             /* common, notify, isr, device, pci_cfg */
    CHECK(bar == 4 && mul == 8 && lens[1] >= 56 && lens[3] >= 1 && lens[4] == 96 && lens[2] >= 8 + 2);
    lo = pcird(&d, 0x10 + 4 * bar, 4);
    hi = pcird(&d, 0x14 + 4 * bar, 4);
    CHECK((lo & 7u) == 4u);                            /* 64-bit memory BAR */
    bar_addr = ((uint64_t)hi << 32) | (lo & ~0xfu);
    CHECK(bar_addr == 0x8000000000ull);
    /* BAR sizing with decoding off. */
    pciwr(&d, 0x10 + 4 * bar, 4, 0xffffffffu);
    size = ~(uint64_t)(pcird(&d, 0x10 + 4 * bar, 4) & ~0xfu) + 1;
    size &= 0xffffffffu;
    CHECK(size == 0x4000);
    pciwr(&d, 0x10 + 4 * bar, 4, lo);
    CHECK(pcird(&d, 0x10 + 4 * bar, 4) == lo);
    d.base = (uintptr_t)bar_addr + offs[1];
    d.notify = (uintptr_t)bar_addr + offs[2];
    d.notify_mul = mul;
    d.isr = (uintptr_t)bar_addr + offs[3];
    d.devcfg = (uintptr_t)bar_addr + offs[4];
    /* Memory decoding is still off: an access is a bug. */
    s = (uint32_t)d.bus->stats.bugs;
    (void)rd(&d, d.base + 20, 1);
    CHECK(d.bus->stats.bugs == s + 1);
    /* The PCI_CFG window reaches the BAR without decoding. */
    pciwr(&d, pcicfg + 4, 1, bar);
    pciwr(&d, pcicfg + 8, 4, offs[1] + 18);            /* num_queues */
    pciwr(&d, pcicfg + 12, 4, 2);
    CHECK(pcird(&d, pcicfg + 16, 2) == 2);
    pciwr(&d, 4, 2, 6);                                /* memory + bus master */
    CHECK(rd(&d, d.base + 18, 2) == 2);
    CHECK(negotiate(&d, MODEL_F_VERSION_1 | MODEL_F_EVENT_IDX | MODEL_BLK_F_MQ));
    CHECK(cfg32(&d, 0) == 2048 && (rd(&d, d.devcfg + 34, 2) == 2));
    CHECK(queue_max(&d, 1) == 256);
    sring_alloc(&d, &r, 16, 0);
    queue_setup(&d, 1, 16, r.desc_dev, r.avail_dev, r.used_dev);
    CHECK(model_queue_ready(d.m, 1) && rd(&d, d.base + 24, 2) == 16);
    driver_ok(&d);
    req_alloc(&d, &q, MODEL_BLK_T_IN, 2047, 512);
    split_req(&r, 0, &q, 0);
    sring_publish(&r, 0);
    notify(&d, 1);                                     /* at notify + 1 * 8 */
    CHECK(model_get16(r.used + 2) == 1 && q.st[0] == 0 && pattern_ok(q.data, 2047 * 512, 512));
    CHECK(model_get16(r.used + 4 + 8 * 16) == 1);      /* avail_event: next index */
    CHECK(rd(&d, d.isr, 1) == 1);                      /* read clears */
    CHECK(rd(&d, d.isr, 1) == 0);
    /* Past the end of the disk: IOERR, not a driver bug. */
    req_alloc(&d, &q, MODEL_BLK_T_IN, 2048, 512);
    split_req(&r, 3, &q, 0);
    sring_publish(&r, 3);
    notify(&d, 1);
    CHECK(q.st[0] == MODEL_BLK_S_IOERR && model_get32(r.used + 12 + 4) == 513);
    CHECK(model_blk_get_stats(d.m)->range_errors == 1);
    CHECK(d.bus->stats.bugs == s + 1);
    model_bus_free(d.bus);
}

static void test_pci_legacy_msix(void)
{
    drv d;
    model_options o;
    model_blk_options bo;
    sring r;
    req q;
    uint32_t cap, msix = 0, io, n;
    memset(&d, 0, sizeof d);
    d.bus = new_bus();
    d.p = &d.bus->platform;
    model_options_init(&o, MODEL_PCI_TRANSITIONAL);
    o.msix_vectors = 2;
    model_blk_options_init(&bo);
    bo.queue_size = 64;
    d.m = model_blk_new(d.bus, &o, &bo);
    CHECK(d.m != NULL);
    d.kind = K_LPCI;
    d.space = VIRTIO_SPACE_IO;
    CHECK(pcird(&d, 2, 2) == 0x1001 && pcird(&d, 0x2e, 2) == 2 && pcird(&d, 8, 1) == 0);
    io = pcird(&d, 0x10, 4);
    CHECK((io & 1u) == 1u);
    d.base = io & ~3u;
    for (n = 0, cap = pcird(&d, 0x34, 1); cap && n < 48; n++, cap = pcird(&d, cap + 1, 1))
        if (pcird(&d, cap, 1) == 0x11) msix = cap;
    CHECK(msix != 0 && (pcird(&d, msix + 2, 2) & 0x7ffu) == 1);
    pciwr(&d, 4, 2, 5);                                /* I/O + bus master */
    CHECK(negotiate(&d, MODEL_BLK_F_SEG_MAX | MODEL_F_VERSION_1));
    CHECK(model_is_legacy(d.m));
    CHECK(cfg32(&d, 0) == 2048);                       /* config at 20 */
    pciwr(&d, msix + 2, 2, 0x8000);                    /* enable MSI-X: config moves to 24 */
    d.msix = 1;
    CHECK(cfg32(&d, 0) == 2048 && cfg32(&d, 12) == 126);
    wr(&d, d.base + 20, 2, 0);                         /* config vector 0 */
    CHECK(rd(&d, d.base + 20, 2) == 0);
    CHECK(queue_max(&d, 0) == 64);
    wr(&d, d.base + 22, 2, 1);                         /* queue 0 -> vector 1 */
    CHECK(rd(&d, d.base + 22, 2) == 1);
    wr(&d, d.base + 22, 2, 7);                         /* beyond the table: NO_VECTOR */
    CHECK(rd(&d, d.base + 22, 2) == 0xffff);
    wr(&d, d.base + 22, 2, 1);
    sring_alloc(&d, &r, 64, 1);
    queue_setup_legacy(&d, 0, 64, r.desc_dev);
    CHECK(model_queue_ready(d.m, 0));
    driver_ok(&d);
    CHECK(model_features(d.m) == MODEL_BLK_F_SEG_MAX);   /* VERSION_1 invisible on legacy */
    req_alloc(&d, &q, MODEL_BLK_T_IN, 5, 512);
    split_req(&r, 0, &q, 0);
    sring_publish(&r, 0);
    notify(&d, 0);
    CHECK(q.st[0] == 0 && pattern_ok(q.data, 5 * 512, 512));
    CHECK(d.m->stats.irq_lost == 1 && d.m->stats.msix == 0);   /* vector 1 is masked in the table */
    /* Unmask vector 1 in the MSI-X table (BAR 1). */
    pciwr(&d, 4, 2, 7);
    d.p->reg_write(d.p->user, VIRTIO_SPACE_MEM, (uintptr_t)(pcird(&d, 0x14, 4) & ~0xfu) + 16 + 12, 4, 0);
    req_alloc(&d, &q, MODEL_BLK_T_IN, 6, 512);
    split_req(&r, 3, &q, 0);
    sring_publish(&r, 3);
    notify(&d, 0);
    CHECK(q.st[0] == 0 && d.m->stats.msix == 1);
    CHECK(rd(&d, d.base + 19, 1) == 0);                 /* no ISR bit with MSI-X */
    CHECK(d.bus->stats.bugs == 0);
    model_bus_free(d.bus);
}

/* A legacy virtio-pci device that lied about a queue's size (the driver
   cannot write it there) lays the ring out as it said: a ring the driver
   built for the size it was told is used as such, no driver bug. */
static void size_lie(void *user, model *m, model_hostile *h)
{
    (void)user;
    (void)m;
    if (h->kind == MODEL_H_REG_READ && h->block == MODEL_REGS_LEGACY && h->offset == 12) h->value = 8;
}

static void test_pci_legacy_size_lie(void)
{
    drv d;
    model_options o;
    model_blk_options bo;
    sring r;
    req q;
    memset(&d, 0, sizeof d);
    d.bus = new_bus();
    d.p = &d.bus->platform;
    model_options_init(&o, MODEL_PCI_TRANSITIONAL);
    model_blk_options_init(&bo);
    bo.queue_size = 256;   /* its true ring would reach past the driver's two pages */
    d.m = model_blk_new(d.bus, &o, &bo);
    CHECK(d.m != NULL);
    d.kind = K_LPCI;
    d.space = VIRTIO_SPACE_IO;
    d.base = pcird(&d, 0x10, 4) & ~3u;
    pciwr(&d, 4, 2, 5);
    CHECK(negotiate(&d, MODEL_BLK_F_SEG_MAX | MODEL_F_VERSION_1));
    d.m->knobs.hostile = size_lie;
    CHECK(queue_max(&d, 0) == 8);
    d.m->knobs.hostile = NULL;
    sring_alloc(&d, &r, 8, 1);
    queue_setup_legacy(&d, 0, 8, r.desc_dev);
    CHECK(model_queue_ready(d.m, 0));
    driver_ok(&d);
    req_alloc(&d, &q, MODEL_BLK_T_IN, 5, 512);
    split_req(&r, 0, &q, 0);
    sring_publish(&r, 0);
    notify(&d, 0);
    CHECK(q.st[0] == 0 && pattern_ok(q.data, 5 * 512, 512));
    CHECK(d.bus->stats.bugs == 0);
    model_bus_free(d.bus);
}

static void test_bad_dma(void)
{
    drv d;
    model_options o;
    model_blk_options bo;
    sring r;
    req q;
    uint64_t priv_dev = 0, bugs;
    void *priv;
    memset(&d, 0, sizeof d);
    d.bus = new_bus();
    d.bus->knobs.quiet = 1;
    d.p = &d.bus->platform;
    model_options_init(&o, MODEL_MMIO);
    model_blk_options_init(&bo);
    d.m = model_blk_new(d.bus, &o, &bo);
    d.kind = K_MMIO;
    d.space = VIRTIO_SPACE_MEM;
    d.base = model_mmio_base(d.m);
    CHECK(negotiate(&d, MODEL_F_VERSION_1));
    sring_alloc(&d, &r, 8, 0);
    queue_setup(&d, 0, 8, r.desc_dev, r.avail_dev, r.used_dev);
    driver_ok(&d);
    /* Data buffer one byte past its allocation. */
    req_alloc(&d, &q, MODEL_BLK_T_IN, 0, 512);
    split_req(&r, 0, &q, 0);
    put_desc(r.desc + 16, q.data_dev + 1, 512, 3, 2);
    sring_publish(&r, 0);
    notify(&d, 0);
    CHECK(d.bus->stats.bugs == 1);
    CHECK(strstr(model_bus_last_bug(d.bus), "not inside any live DMA allocation") != NULL);
    CHECK(model_get16(r.used + 2) == 0);               /* nothing used */
    CHECK(model_status(d.m) & MODEL_S_NEEDS_RESET);
    CHECK(rd(&d, d.base + 0x60, 4) & 2u);              /* config change interrupt */
    CHECK(!model_queue_ready(d.m, 0));
    /* After a reset: a host pointer instead of a device address. */
    CHECK(negotiate(&d, MODEL_F_VERSION_1));
    sring_alloc(&d, &r, 8, 0);
    queue_setup(&d, 0, 8, r.desc_dev, r.avail_dev, r.used_dev);
    driver_ok(&d);
    req_alloc(&d, &q, MODEL_BLK_T_IN, 0, 512);
    split_req(&r, 0, &q, 0);
    put_desc(r.desc + 16, (uint64_t)(uintptr_t)q.data, 512, 3, 2);
    sring_publish(&r, 0);
    notify(&d, 0);
    CHECK(d.bus->stats.bugs == 2);
    /* Private memory handed to the device. */
    CHECK(negotiate(&d, MODEL_F_VERSION_1));
    sring_alloc(&d, &r, 8, 0);
    queue_setup(&d, 0, 8, r.desc_dev, r.avail_dev, r.used_dev);
    driver_ok(&d);
    priv = d.p->dma_alloc(d.p->user, 512, 16, VIRTIO_MEM_PRIVATE, &priv_dev);
    req_alloc(&d, &q, MODEL_BLK_T_IN, 0, 512);
    split_req(&r, 0, &q, 0);
    put_desc(r.desc + 16, priv_dev, 512, 3, 2);
    sring_publish(&r, 0);
    notify(&d, 0);
    CHECK(d.bus->stats.bugs == 3 && strstr(model_bus_last_bug(d.bus), "PRIVATE") != NULL);
    /* A buffer mapped TO_DEVICE used as device-writable. */
    {
        unsigned char buf[512];
        uint64_t dev = 0;
        size_t got = 0;
        CHECK(negotiate(&d, MODEL_F_VERSION_1));
        sring_alloc(&d, &r, 8, 0);
        queue_setup(&d, 0, 8, r.desc_dev, r.avail_dev, r.used_dev);
        driver_ok(&d);
        CHECK(d.p->dma_map(d.p->user, buf, sizeof buf, VIRTIO_DMA_TO_DEVICE, &dev, &got) == 0 && got == sizeof buf);
        req_alloc(&d, &q, MODEL_BLK_T_IN, 0, 512);
        split_req(&r, 0, &q, 0);
        put_desc(r.desc + 16, dev, 512, 3, 2);
        sring_publish(&r, 0);
        notify(&d, 0);
        CHECK(d.bus->stats.bugs == 4 && strstr(model_bus_last_bug(d.bus), "TO_DEVICE") != NULL);
        d.p->dma_unmap(d.p->user, buf, sizeof buf, VIRTIO_DMA_TO_DEVICE, dev);
        CHECK(d.bus->stats.live_maps == 0);
    }
    /* Registry misuse: wrong free size, double free, unknown unmap, and
       freeing ring memory of a live queue. */
    bugs = d.bus->stats.bugs;
    d.p->dma_free(d.p->user, priv, 256, VIRTIO_MEM_PRIVATE);
    CHECK(d.bus->stats.bugs == bugs + 1);
    d.p->dma_free(d.p->user, priv, 512, VIRTIO_MEM_PRIVATE);
    CHECK(d.bus->stats.bugs == bugs + 2);
    d.p->dma_unmap(d.p->user, priv, 16, VIRTIO_DMA_TO_DEVICE, 0x1234);
    CHECK(d.bus->stats.bugs == bugs + 3);
    CHECK(negotiate(&d, MODEL_F_VERSION_1));
    sring_alloc(&d, &r, 8, 0);
    queue_setup(&d, 0, 8, r.desc_dev, r.avail_dev, r.used_dev);
    driver_ok(&d);
    d.p->dma_free(d.p->user, r.used, 6 + 8 * 8, VIRTIO_MEM_DMA);
    CHECK(d.bus->stats.bugs == bugs + 4 && strstr(model_bus_last_bug(d.bus), "rings still use") != NULL);
    CHECK(!model_queue_ready(d.m, 0));
    /* A descriptor loop. */
    CHECK(negotiate(&d, MODEL_F_VERSION_1));
    sring_alloc(&d, &r, 8, 0);
    queue_setup(&d, 0, 8, r.desc_dev, r.avail_dev, r.used_dev);
    driver_ok(&d);
    req_alloc(&d, &q, MODEL_BLK_T_IN, 0, 512);
    put_desc(r.desc, q.hdr_dev, 16, 1, 1);
    put_desc(r.desc + 16, q.hdr_dev, 16, 1, 0);
    sring_publish(&r, 0);
    notify(&d, 0);
    CHECK(d.bus->stats.bugs == bugs + 5 && strstr(model_bus_last_bug(d.bus), "loops") != NULL);
    model_bus_free(d.bus);
}

static void test_deferred_reverse(void)
{
    drv d;
    model_options o;
    model_blk_options bo;
    sring r;
    req q[64];
    uint32_t i;
    model_qstats *qs;
    memset(&d, 0, sizeof d);
    d.bus = new_bus();
    d.p = &d.bus->platform;
    model_options_init(&o, MODEL_MMIO);
    o.mode = MODEL_DEFERRED;
    model_blk_options_init(&bo);
    d.m = model_blk_new(d.bus, &o, &bo);
    d.m->knobs.order = MODEL_ORDER_REVERSE;
    d.kind = K_MMIO;
    d.space = VIRTIO_SPACE_MEM;
    d.base = model_mmio_base(d.m);
    CHECK(negotiate(&d, MODEL_F_VERSION_1 | MODEL_F_EVENT_IDX));
    sring_alloc(&d, &r, 256, 0);
    queue_setup(&d, 0, 256, r.desc_dev, r.avail_dev, r.used_dev);
    driver_ok(&d);
    qs = model_queue_stats(d.m, 0);
    for (i = 0; i < 64; i++) {
        req_alloc(&d, &q[i], MODEL_BLK_T_IN, i, 512);
        split_req(&r, (uint16_t)(3 * i), &q[i], 0);
        sring_publish(&r, (uint16_t)(3 * i));
        notify(&d, 0);   /* a careless driver: only the first one was asked for */
    }
    CHECK(qs->notifies == 64 && qs->notifies_unwanted == 63 && qs->chains == 0);
    CHECK(model_get16(r.used + 2) == 0);
    model_put16(r.avail + 4 + 2 * 256, 63);           /* used_event: interrupt at the 64th */
    CHECK(model_run(d.m, 0) == 64);
    CHECK(qs->max_pending == 64 && qs->max_held == 64);
    CHECK(model_get16(r.used + 2) == 64);
    for (i = 0; i < 64; i++) {
        CHECK(model_get32(r.used + 4 + 8 * i) == 3 * (63 - i));   /* reversed */
        CHECK(q[i].st[0] == 0 && pattern_ok(q[i].data, i * 512, 512));
    }
    CHECK(qs->interrupts == 1);
    /* used_event behind: no interrupt for the next batch. */
    for (i = 0; i < 4; i++) {
        req_alloc(&d, &q[i], MODEL_BLK_T_IN, i, 512);
        split_req(&r, (uint16_t)(3 * i), &q[i], 0);
        sring_publish(&r, (uint16_t)(3 * i));
    }
    notify(&d, 0);
    CHECK(qs->notifies_unwanted == 63);                /* avail_event was 64 */
    model_put16(r.avail + 4 + 2 * 256, 10);
    d.m->knobs.order = MODEL_ORDER_SHUFFLE;
    CHECK(model_run(d.m, 2) == 2 && model_run(d.m, 0) == 2);
    CHECK(model_get16(r.used + 2) == 68 && qs->interrupts == 1 && qs->interrupts_suppressed == 2);
    CHECK(d.bus->stats.bugs == 0);
    model_bus_free(d.bus);
}

static uint32_t hostile_id;
static void hostile_hook(void *user, model *m, model_hostile *h)
{
    (void)user;
    (void)m;
    if (h->kind == MODEL_H_USED_ELEM) h->id = hostile_id;
    if (h->kind == MODEL_H_CONFIG_READ && h->offset == 0) h->value = 0xdeadbeefu;
}

static void test_knobs(void)
{
    drv d;
    model_options o;
    model_blk_options bo;
    sring r;
    req q;
    uint32_t g1, g2, k;
    memset(&d, 0, sizeof d);
    d.bus = new_bus();
    d.bus->knobs.quiet = 1;
    d.p = &d.bus->platform;
    model_options_init(&o, MODEL_MMIO);
    model_blk_options_init(&bo);
    d.m = model_blk_new(d.bus, &o, &bo);
    d.kind = K_MMIO;
    d.space = VIRTIO_SPACE_MEM;
    d.base = model_mmio_base(d.m);
    /* Generation counter bumps during config reads. */
    CHECK(negotiate(&d, MODEL_F_VERSION_1));
    d.m->knobs.gen_bump_every = 1;
    g1 = rd(&d, d.base + 0xfc, 4);
    (void)cfg32(&d, 0);
    g2 = rd(&d, d.base + 0xfc, 4);
    CHECK(g2 == g1 + 1);
    d.m->knobs.gen_bump_every = 0;
    /* Reset completes only after 3 status reads. */
    d.m->knobs.reset_delay = 3;
    set_status(&d, 0);
    for (k = 0; k < 3; k++) CHECK(get_status(&d) != 0);
    CHECK(get_status(&d) == 0);
    /* ... and writing status before that is a bug. */
    set_status(&d, MODEL_S_ACKNOWLEDGE);
    set_status(&d, 0);
    set_status(&d, MODEL_S_ACKNOWLEDGE);
    CHECK(d.bus->stats.bugs == 1);
    for (k = 0; k < 1000 && get_status(&d) != 0; k++) {
    }
    d.m->knobs.reset_delay = 0;
    /* Accepting a feature the device does not offer: FEATURES_OK refused. */
    set_status(&d, MODEL_S_ACKNOWLEDGE);
    set_status(&d, MODEL_S_ACKNOWLEDGE | MODEL_S_DRIVER);
    set_features(&d, MODEL_F_VERSION_1 | (1ull << 40));
    set_status(&d, MODEL_S_ACKNOWLEDGE | MODEL_S_DRIVER | MODEL_S_FEATURES_OK);
    CHECK(!(get_status(&d) & MODEL_S_FEATURES_OK));
    CHECK(d.bus->stats.bugs == 2 && d.m->stats.features_refused == 1);
    /* Feature override and refusal knob. */
    d.m->knobs.features_override_on = 1;
    d.m->knobs.features_override = MODEL_F_VERSION_1 | (1ull << 40);
    CHECK(get_features(&d) == (MODEL_F_VERSION_1 | (1ull << 40)));
    d.m->knobs.features_override_on = 0;
    d.m->knobs.refuse_features_ok = 1;
    CHECK(!negotiate(&d, MODEL_F_VERSION_1));
    d.m->knobs.refuse_features_ok = 0;
    /* Queue maximum override: 0 and odd sizes. */
    model_set_queue_max(d.m, 0, 0);
    CHECK(queue_max(&d, 0) == 0);
    model_set_queue_max(d.m, 0, 100);
    CHECK(queue_max(&d, 0) == 100);
    model_set_queue_max(d.m, 0, 256);
    /* NEEDS_RESET knob. */
    model_set_needs_reset(d.m);
    CHECK(get_status(&d) & MODEL_S_NEEDS_RESET);
    /* Error injection. */
    CHECK(negotiate(&d, MODEL_F_VERSION_1));
    sring_alloc(&d, &r, 8, 0);
    queue_setup(&d, 0, 8, r.desc_dev, r.avail_dev, r.used_dev);
    driver_ok(&d);
    model_blk_get_knobs(d.m)->fail_sector = 8;
    model_blk_get_knobs(d.m)->fail_count = 2;
    req_alloc(&d, &q, MODEL_BLK_T_IN, 6, 2048);
    split_req(&r, 0, &q, 0);
    sring_publish(&r, 0);
    notify(&d, 0);
    CHECK(q.st[0] == MODEL_BLK_S_IOERR && q.data[0] == 0xee && model_blk_get_stats(d.m)->injected_errors == 1);
    /* Notifications before DRIVER_OK are a bug. */
    CHECK(negotiate(&d, MODEL_F_VERSION_1));
    k = (uint32_t)d.bus->stats.bugs;
    notify(&d, 0);
    CHECK(d.bus->stats.bugs == k + 1);
    CHECK(d.bus->stats.bugs == 3);
    /* Hostile hook: used id and config value rewritten. */
    CHECK(negotiate(&d, MODEL_F_VERSION_1));
    sring_alloc(&d, &r, 8, 0);
    queue_setup(&d, 0, 8, r.desc_dev, r.avail_dev, r.used_dev);
    driver_ok(&d);
    d.m->knobs.hostile = hostile_hook;
    hostile_id = 0x4242;
    CHECK(cfg32(&d, 0) == 0xdeadbeefu);
    req_alloc(&d, &q, MODEL_BLK_T_IN, 0, 512);
    split_req(&r, 0, &q, 0);
    sring_publish(&r, 0);
    notify(&d, 0);
    CHECK(model_get32(r.used + 4) == 0x4242 && model_get16(r.used + 2) == 1);
    d.m->knobs.hostile = NULL;
    /* Tainted: a protocol violation is recorded but not counted ... */
    set_status(&d, MODEL_S_ACKNOWLEDGE);
    CHECK(d.bus->stats.bugs == 3 && d.bus->stats.relaxed == 1);
    /* ... an address the driver does not own still is. */
    put_desc(r.desc + 16, 0x10, 512, 3, 2);
    sring_publish(&r, 0);
    notify(&d, 0);
    CHECK(d.bus->stats.bugs == 4);
    model_bus_free(d.bus);
}

/* The packed driver event structure with EVENT_IDX. */
static void test_packed_event_idx(void)
{
    drv d;
    model_options o;
    model_blk_options bo;
    pring r;
    req q;
    uint64_t a[3];
    uint32_t l[3], i, len;
    uint16_t w[3], id, fl;
    memset(&d, 0, sizeof d);
    d.bus = new_bus();
    d.p = &d.bus->platform;
    model_options_init(&o, MODEL_PCI_MODERN);
    o.pci_enabled = 1;
    model_blk_options_init(&bo);
    d.m = model_blk_new(d.bus, &o, &bo);
    d.kind = K_PCI;
    d.space = VIRTIO_SPACE_MEM;
    d.base = 0xfe000000u;
    d.notify = 0xfe003000u;
    d.notify_mul = 4;
    d.devcfg = 0xfe002000u;
    CHECK(negotiate(&d, MODEL_F_VERSION_1 | MODEL_F_RING_PACKED | MODEL_F_EVENT_IDX));
    pring_alloc(&d, &r, 16);
    model_put16(r.drv + 2, 1);                         /* driver: DISABLE */
    queue_setup(&d, 0, 16, r.desc_dev, r.drv_dev, r.dev_dev);
    driver_ok(&d);
    d.m->knobs.notify = MODEL_NOTIFY_EVERY;
    d.m->knobs.notify_every = 4;
    for (i = 0; i < 6; i++) {
        req_alloc(&d, &q, MODEL_BLK_T_IN, i, 512);
        a[0] = q.hdr_dev; l[0] = 16; w[0] = 0;
        a[1] = q.data_dev; l[1] = 512; w[1] = 2;
        a[2] = q.st_dev; l[2] = 1; w[2] = 2;
        if (i == 3) {
            /* Interrupt exactly when slot 12 (the 5th chain) is used. */
            model_put16(r.drv, (uint16_t)(12 | 0x8000u));
            model_put16(r.drv + 2, 2);
        }
        pring_add(&r, a, l, w, 3, (uint16_t)i);
        notify(&d, 0);
        CHECK(pring_pop(&r, 3, &id, &len, &fl) && id == i && q.st[0] == 0);
    }
    /* Wraps at slot 16: chain 5 covers slots 15, 0, 1. */
    CHECK(model_queue_stats(d.m, 0)->interrupts == 1);
    CHECK(model_queue_stats(d.m, 0)->interrupts_suppressed == 5);
    /* Device event: DESC at avail position + 3 (every 4th descriptor). */
    CHECK(model_get16(r.dev + 2) == 2);
    CHECK(d.bus->stats.bugs == 0);
    model_bus_free(d.bus);
}

static void test_discard_and_ro(void)
{
    drv d;
    model_options o;
    model_blk_options bo;
    sring r;
    req q;
    unsigned char *seg;
    uint64_t seg_dev;
    memset(&d, 0, sizeof d);
    d.bus = new_bus();
    d.p = &d.bus->platform;
    model_options_init(&o, MODEL_MMIO);
    model_blk_options_init(&bo);
    bo.features |= MODEL_BLK_F_RO;
    d.m = model_blk_new(d.bus, &o, &bo);
    d.kind = K_MMIO;
    d.space = VIRTIO_SPACE_MEM;
    d.base = model_mmio_base(d.m);
    CHECK(negotiate(&d, MODEL_F_VERSION_1 | MODEL_BLK_F_WRITE_ZEROES | MODEL_BLK_F_RO));
    sring_alloc(&d, &r, 8, 0);
    queue_setup(&d, 0, 8, r.desc_dev, r.avail_dev, r.used_dev);
    driver_ok(&d);
    req_alloc(&d, &q, MODEL_BLK_T_OUT, 0, 512);
    split_req(&r, 0, &q, 1);
    sring_publish(&r, 0);
    notify(&d, 0);
    CHECK(q.st[0] == MODEL_BLK_S_IOERR && model_blk_get_stats(d.m)->ro_errors == 1);
    CHECK(pattern_ok(model_blk_disk(d.m, NULL), 0, 512));
    /* RO off: write zeroes over sectors 4..5. */
    model_bus_free(d.bus);
    d.bus = new_bus();
    d.p = &d.bus->platform;
    model_blk_options_init(&bo);
    d.m = model_blk_new(d.bus, &o, &bo);
    CHECK(negotiate(&d, MODEL_F_VERSION_1 | MODEL_BLK_F_WRITE_ZEROES));
    sring_alloc(&d, &r, 8, 0);
    queue_setup(&d, 0, 8, r.desc_dev, r.avail_dev, r.used_dev);
    driver_ok(&d);
    req_alloc(&d, &q, MODEL_BLK_T_WRITE_ZEROES, 0, 0);
    seg = (unsigned char *)dalloc(&d, 16, 16, &seg_dev);
    model_put64(seg, 4);
    model_put32(seg + 8, 2);
    model_put32(seg + 12, 0);
    put_desc(r.desc, q.hdr_dev, 16, 1, 1);
    put_desc(r.desc + 16, seg_dev, 16, 1, 2);
    put_desc(r.desc + 32, q.st_dev, 1, 2, 0);
    sring_publish(&r, 0);
    notify(&d, 0);
    CHECK(q.st[0] == 0 && model_blk_disk(d.m, NULL)[4 * 512] == 0 && model_blk_disk(d.m, NULL)[6 * 512 - 1] == 0);
    CHECK(pattern_ok(model_blk_disk(d.m, NULL) + 6 * 512, 6 * 512, 512));
    /* DISCARD was not negotiated: UNSUPP, and a driver bug. */
    d.bus->knobs.quiet = 1;
    model_put32(q.hdr, MODEL_BLK_T_DISCARD);
    sring_publish(&r, 0);
    notify(&d, 0);
    CHECK(q.st[0] == MODEL_BLK_S_UNSUPP && d.bus->stats.bugs == 1);
    model_bus_free(d.bus);
}

static void subsystem_lie(void *user, model *m, model_hostile *h)
{
    (void)user;
    (void)m;
    if (h->kind == MODEL_H_PCI_READ && h->offset == 0x2c) h->value = 0x1234;
}

/* Size BAR i with decoding off as firmware does; the address is restored. */
static uint64_t bar_size(drv *d, uint32_t i)
{
    uint32_t lo = pcird(d, 0x10 + 4 * i, 4), hi = 0, mlo, mhi = 0xffffffffu, is64 = (lo & 7u) == 4u;
    uint64_t mask;
    if (is64) hi = pcird(d, 0x14 + 4 * i, 4);
    pciwr(d, 0x10 + 4 * i, 4, 0xffffffffu);
    mlo = pcird(d, 0x10 + 4 * i, 4);
    if (is64) {
        pciwr(d, 0x14 + 4 * i, 4, 0xffffffffu);
        mhi = pcird(d, 0x14 + 4 * i, 4);
        pciwr(d, 0x14 + 4 * i, 4, hi);
    }
    pciwr(d, 0x10 + 4 * i, 4, lo);
    if (mlo == 0) return 0;
    mask = ((uint64_t)mhi << 32) | (mlo & ((mlo & 1u) ? ~3u : ~0xfu));
    if (!is64 && !(mlo & 1u)) mask |= 0xffffffff00000000ull;
    if (mlo & 1u) mask |= 0xffffffff00000000ull;
    return ~mask + 1;
}

/* BARs size like hardware: I/O, 32-bit, 64-bit and absent BARs; moving a
   BAR while it decodes is a bug; a BAR not restored loses the device. */
static void test_bar_sizing(void)
{
    drv d;
    model_options o;
    model_blk_options bo;
    uint32_t io;
    memset(&d, 0, sizeof d);
    d.bus = new_bus();
    d.bus->knobs.quiet = 1;
    d.p = &d.bus->platform;
    model_options_init(&o, MODEL_PCI_TRANSITIONAL);
    o.msix_vectors = 2;
    o.bar64 = 1;
    model_blk_options_init(&bo);
    d.m = model_blk_new(d.bus, &o, &bo);
    CHECK(d.m != NULL);
    io = pcird(&d, 0x10, 4);
    CHECK((io & 3u) == 1u);
    CHECK(bar_size(&d, 0) == 128);                     /* 24 + 60 config bytes -> 128 */
    CHECK(bar_size(&d, 1) == 0x1000);                  /* MSI-X, 32-bit memory */
    CHECK((pcird(&d, 0x14, 4) & 0xfu) == 0);
    CHECK(bar_size(&d, 2) == 0 && pcird(&d, 0x18, 4) == 0);   /* absent: reads 0 even after all-ones */
    CHECK((pcird(&d, 0x20, 4) & 7u) == 4u);            /* 64-bit */
    CHECK(bar_size(&d, 4) == 0x4000);
    CHECK(pcird(&d, 0x10, 4) == io);                   /* restored */
    CHECK(d.bus->stats.bugs == 0);
    /* With memory decoding on, sizing moves a live BAR: a bug. */
    pciwr(&d, 4, 2, 7);
    pciwr(&d, 0x20, 4, 0xffffffffu);
    CHECK(d.bus->stats.bugs == 1);
    pciwr(&d, 4, 2, 5);                                /* memory off: restoring is fine */
    pciwr(&d, 0x20, 4, 0xfe000004u);
    CHECK(d.bus->stats.bugs == 1);
    /* Not restored: the BAR decodes at its new address, the old one is void. */
    pciwr(&d, 0x20, 4, 0xfd000004u);
    pciwr(&d, 4, 2, 7);
    d.space = VIRTIO_SPACE_MEM;
    (void)rd(&d, 0xfe000000u + 20, 1);
    CHECK(d.bus->stats.bugs == 2 && d.bus->stats.unmapped_reg_accesses == 1);
    CHECK(rd(&d, 0xfd000000u + 20, 1) == 0);           /* device_status, where the BAR is now */
    CHECK(d.bus->stats.bugs == 2);
    /* I/O decoding off: an I/O access inside BAR 0 is a bug, even after a lie. */
    pciwr(&d, 4, 2, 6);
    d.m->knobs.hostile = subsystem_lie;
    CHECK(pcird(&d, 0x2c, 2) == 0x1234 && model_tainted(d.m));
    d.space = VIRTIO_SPACE_IO;
    (void)rd(&d, (io & ~3u) + 18, 1);
    CHECK(d.bus->stats.bugs == 3 && d.bus->stats.unmapped_reg_accesses == 2);
    model_bus_free(d.bus);
}

/* The capability layout moves the structures; the device decodes them
   only inside the BAR, and reads past a capability are bugs. */
static void test_pci_layout(void)
{
    drv d;
    model_options o;
    model_blk_options bo;
    model_pci_layout l, l0;
    sring r;
    req q;
    uint32_t bar_lo, cap, n, at[6] = { 0, 0, 0, 0, 0, 0 };
    uint64_t bar;
    memset(&d, 0, sizeof d);
    d.bus = new_bus();
    d.bus->knobs.quiet = 1;
    d.p = &d.bus->platform;
    model_options_init(&o, MODEL_PCI_MODERN);
    model_blk_options_init(&bo);
    bo.num_queues = 2;
    d.m = model_blk_new(d.bus, &o, &bo);
    d.kind = K_PCI;
    d.space = VIRTIO_SPACE_MEM;
    CHECK(model_pci_layout_get(d.m, &l0) == 0);
    CHECK(l0.cap[MODEL_CAP_COMMON].offset == 0 && l0.cap[MODEL_CAP_COMMON].length == 64 && l0.bar_size == 0x4000);
    CHECK(l0.cap[MODEL_CAP_NOTIFY].offset == 0x3000 && l0.cap[MODEL_CAP_NOTIFY].length == 6 && l0.notify_mul == 4);
    CHECK(l0.cap[MODEL_CAP_DEVICE].length == 96 && l0.queue_notify_off[1] == 1 && !model_tainted(d.m));
    /* Common config at BAR + 0xff8 (length 56) in a 4 KiB BAR, notify
       capability at 0xf0 in config space, queue 1 at notify offset 3 * 8. */
    l = l0;
    l.bar_size = 0x1000;
    l.cap[MODEL_CAP_COMMON].offset = 0xff8;
    l.cap[MODEL_CAP_COMMON].length = 56;
    l.cap[MODEL_CAP_ISR].offset = 0x100;
    l.cap[MODEL_CAP_DEVICE].offset = 0x200;
    l.cap[MODEL_CAP_NOTIFY].offset = 0x400;
    l.cap[MODEL_CAP_NOTIFY].length = 26;
    l.cap[MODEL_CAP_NOTIFY].at = 0xf0;
    l.notify_mul = 8;
    l.queue_notify_off[1] = 3;
    CHECK(model_pci_layout_set(d.m, &l) == 0);
    CHECK(!model_tainted(d.m));
    for (n = 0, cap = pcird(&d, 0x34, 1); cap && n < 48; n++, cap = pcird(&d, cap + 1, 1))
        if (pcird(&d, cap, 1) == 9 && pcird(&d, cap + 3, 1) < 6) at[pcird(&d, cap + 3, 1)] = cap;
    CHECK(at[2] == 0xf0 && at[1] == 0x40 && at[3] == 0x50 && at[4] == 0x60 && at[5] == 0x70);
    CHECK(pcird(&d, at[1] + 8, 4) == 0xff8 && pcird(&d, at[1] + 12, 4) == 56 && pcird(&d, 0xf2, 1) == 20);
    CHECK(d.bus->stats.bugs == 0);
    (void)pcird(&d, 0x100, 4);                         /* the multiplier would be here: past config space */
    CHECK(d.bus->stats.bugs == 1 && d.m->stats.cap_overreads == 1);
    (void)pcird(&d, at[5] + 20, 4);                    /* past the last capability */
    CHECK(d.bus->stats.bugs == 2 && d.m->stats.cap_overreads == 2);
    CHECK(bar_size(&d, 4) == 0x1000);
    bar_lo = pcird(&d, 0x20, 4);
    bar = bar_lo & ~0xfu;
    CHECK(bar == 0xfe000000u);
    pciwr(&d, 4, 2, 6);
    d.base = (uintptr_t)bar + 0xff8;
    d.notify = (uintptr_t)bar + 0x400;
    d.notify_mul = 8;
    d.isr = (uintptr_t)bar + 0x100;
    d.devcfg = (uintptr_t)bar + 0x200;
    wr(&d, d.base + 0, 4, 1);                          /* device_feature_select: inside */
    CHECK((rd(&d, d.base + 4, 4) & 1u) && d.bus->stats.bugs == 2);   /* VERSION_1 in word 1 */
    (void)rd(&d, d.base + 20, 1);                      /* device_status: past the BAR */
    CHECK(d.bus->stats.bugs == 3 && d.bus->stats.unmapped_reg_accesses == 1);
    /* The same device with the structures inside the BAR works, including
       the notify address of queue 1 at 0x400 + 24. */
    l.cap[MODEL_CAP_COMMON].offset = 0xf00;
    l.cap[MODEL_CAP_COMMON].length = 64;
    CHECK(model_pci_layout_set(d.m, &l) == 0);
    d.base = (uintptr_t)bar + 0xf00;
    CHECK(negotiate(&d, MODEL_F_VERSION_1 | MODEL_BLK_F_MQ));
    CHECK(cfg32(&d, 0) == 2048);
    sring_alloc(&d, &r, 8, 0);
    queue_setup(&d, 1, 8, r.desc_dev, r.avail_dev, r.used_dev);
    driver_ok(&d);
    wr(&d, d.base + 22, 2, 1);
    CHECK(rd(&d, d.base + 30, 2) == 3);                /* queue_notify_off */
    req_alloc(&d, &q, MODEL_BLK_T_IN, 7, 512);
    split_req(&r, 0, &q, 0);
    sring_publish(&r, 0);
    wr(&d, d.notify, 2, 1);                            /* queue 1 at queue 0's address: a bug */
    CHECK(d.bus->stats.bugs == 4 && model_get16(r.used + 2) == 0);
    notify(&d, 1);
    CHECK(model_get16(r.used + 2) == 1 && q.st[0] == 0 && pattern_ok(q.data, 7 * 512, 512));
    CHECK(d.bus->stats.bugs == 4);
    /* Layouts the library cannot see through taint the device; bad ones are refused. */
    l.bar_size = 3;
    CHECK(model_pci_layout_set(d.m, &l) == -1);
    l.bar_size = 0x1000;
    l.cap[MODEL_CAP_ISR].at = 0x3e;
    CHECK(model_pci_layout_set(d.m, &l) == -1);
    l.cap[MODEL_CAP_ISR].at = 0;
    l.cap[MODEL_CAP_ISR].offset = 0x410;              /* inside the notify structure */
    CHECK(model_pci_layout_set(d.m, &l) == 0 && model_tainted(d.m));
    model_pci_layout_reset(d.m);
    CHECK(model_pci_layout_get(d.m, &l) == 0 && l.bar_size == 0x4000 && l.cap[MODEL_CAP_ISR].offset == 0x1000);
    model_bus_free(d.bus);
}

/* A removed device answers all-ones everywhere and does nothing; it comes
   back as it was. The kvmtool quirks and the slow register channel. */
static void test_gone_and_quirks(void)
{
    drv d;
    model_options o;
    model_blk_options bo;
    sring r;
    req q;
    uint64_t t0;
    memset(&d, 0, sizeof d);
    d.bus = new_bus();
    d.p = &d.bus->platform;
    model_options_init(&o, MODEL_MMIO);
    model_blk_options_init(&bo);
    d.m = model_blk_new(d.bus, &o, &bo);
    d.kind = K_MMIO;
    d.space = VIRTIO_SPACE_MEM;
    d.base = model_mmio_base(d.m);
    CHECK(negotiate(&d, MODEL_F_VERSION_1));
    d.m->knobs.ignore_small_queue_size = 1;
    sring_alloc(&d, &r, 256, 0);
    queue_setup(&d, 0, 8, r.desc_dev, r.avail_dev, r.used_dev);   /* kvmtool: 256 entries anyway */
    CHECK(model_queue_size(d.m, 0) == 256 && d.m->stats.queue_sizes_ignored == 1);
    r.size = 256;
    driver_ok(&d);
    req_alloc(&d, &q, MODEL_BLK_T_IN, 1, 512);
    split_req(&r, 0, &q, 0);
    sring_publish(&r, 0);
    d.m->knobs.gone_after = 2;
    CHECK(rd(&d, d.base, 4) == 0x74726976u);           /* access 1 */
    CHECK(rd(&d, d.base, 4) == 0xffffffffu);           /* access 2: gone */
    CHECK(d.m->knobs.gone == 1 && d.m->knobs.gone_after == 0);
    CHECK(rd(&d, d.base + 0x70, 4) == 0xffffffffu && rd(&d, d.base + 0x100, 2) == 0xffffu);
    notify(&d, 0);                                     /* dropped: no DMA */
    CHECK(model_get16(r.used + 2) == 0 && d.m->stats.gone_accesses == 4);
    d.m->knobs.gone = 0;
    CHECK(rd(&d, d.base + 0x70, 4) == 0xf);            /* as it was */
    d.m->knobs.used_len = MODEL_USED_LEN_CHAIN;
    notify(&d, 0);
    CHECK(model_get16(r.used + 2) == 1 && model_get32(r.used + 8) == 16 + 512 + 1 && q.st[0] == 0);
    d.m->knobs.used_len = MODEL_USED_LEN_MOVED;        /* the block backend reports the bytes read */
    req_alloc(&d, &q, MODEL_BLK_T_IN, 2, 512);
    split_req(&r, 3, &q, 0);
    sring_publish(&r, 3);
    notify(&d, 0);
    CHECK(model_get16(r.used + 2) == 2 && model_get32(r.used + 16) == 512);
    /* A reset that has not completed leaves the rings to the device:
       handing their memory back is a bug; once it completes it is not. */
    d.m->knobs.used_len = MODEL_USED_LEN_EXACT;
    d.bus->knobs.quiet = 1;
    d.m->knobs.reset_delay = MODEL_FOREVER;
    set_status(&d, 0);
    CHECK(get_status(&d) != 0 && model_queue_ready(d.m, 0));
    d.p->dma_free(d.p->user, r.used, 6 + 8u * 256, VIRTIO_MEM_DMA);
    CHECK(d.bus->stats.bugs == 1);
    d.m->knobs.reset_delay = 0;                        /* the reset completes now */
    CHECK(get_status(&d) == 0 && !model_queue_ready(d.m, 0));
    d.p->dma_free(d.p->user, r.avail, 6 + 2u * 256, VIRTIO_MEM_DMA);
    CHECK(d.bus->stats.bugs == 1);
    d.bus->stats.bugs = 0;
    /* Every register access costs fake time; status reads are counted. */
    d.bus->knobs.reg_cost_us = 7;
    t0 = model_bus_clock(d.bus);
    d.m->stats.status_reads = 0;
    (void)get_status(&d);
    (void)get_status(&d);
    CHECK(model_bus_clock(d.bus) == t0 + 14 && d.m->stats.status_reads == 2);
    CHECK(d.bus->stats.bugs == 0);
    model_bus_free(d.bus);
    /* PCI: config space reads all-ones, writes are dropped; modern PCI
       reads the kept queue size back. */
    memset(&d, 0, sizeof d);
    d.bus = new_bus();
    d.p = &d.bus->platform;
    model_options_init(&o, MODEL_PCI_MODERN);
    o.pci_enabled = 1;
    d.m = model_blk_new(d.bus, &o, &bo);
    d.m->knobs.gone = 1;
    CHECK(pcird(&d, 0, 4) == 0xffffffffu && pcird(&d, 4, 2) == 0xffffu && pcird(&d, 0x34, 1) == 0xffu);
    pciwr(&d, 4, 2, 0);
    d.m->knobs.gone = 0;
    CHECK(pcird(&d, 4, 2) == 7 && pcird(&d, 0, 2) == 0x1af4);
    d.kind = K_PCI;
    d.space = VIRTIO_SPACE_MEM;
    d.base = 0xfe000000u;
    CHECK(negotiate(&d, MODEL_F_VERSION_1));
    d.m->knobs.ignore_small_queue_size = 1;
    wr(&d, d.base + 22, 2, 0);
    wr(&d, d.base + 24, 2, 16);
    CHECK(rd(&d, d.base + 24, 2) == 256);
    CHECK(d.bus->stats.bugs == 0);
    model_bus_free(d.bus);
}

/* Several devices on one bus, MMIO discovery with empty slots. */
static void test_bus(void)
{
    model_bus *b = new_bus();
    model_options o;
    model_blk_options bo;
    model *m1, *m2;
    virtio_platform *p = &b->platform;
    model_options_init(&o, MODEL_MMIO);
    model_blk_options_init(&bo);
    o.mmio_base = 0x10001000;
    m1 = model_blk_new(b, &o, &bo);
    o.mmio_base = 0x10001100;   /* overlaps the first window */
    b->knobs.quiet = 1;
    CHECK(model_blk_new(b, &o, &bo) == NULL);
    o.mmio_base = 0x10003000;
    m2 = model_blk_new(b, &o, &bo);
    CHECK(m1 && m2);
    CHECK(model_bus_add_mmio_empty(b, 0x10002000) == 0);
    CHECK(p->reg_read(p->user, VIRTIO_SPACE_MEM, 0x10002000, 4) == 0x74726976u);
    CHECK(p->reg_read(p->user, VIRTIO_SPACE_MEM, 0x10002008, 4) == 0);
    CHECK(p->reg_read(p->user, VIRTIO_SPACE_MEM, 0x10003008, 4) == 2);
    CHECK(b->stats.bugs == 0);
    (void)p->reg_read(p->user, VIRTIO_SPACE_MEM, 0x10004000, 4);
    CHECK(b->stats.bugs == 1 && b->stats.unmapped_reg_accesses == 1);
    /* DMA: window addresses differ from host pointers; split and bounce. */
    {
        unsigned char buf[8192];
        uint64_t dev = 0;
        size_t got = 0;
        unsigned char *h;
        b->knobs.dma_split = 1;
        b->knobs.dma_bounce = 1;
        memset(buf, 0x11, sizeof buf);
        CHECK(p->dma_map(p->user, buf + 100, 5000, VIRTIO_DMA_BIDIRECTIONAL, &dev, &got) == 0);
        CHECK(got <= 4096 && got >= 1 && dev != (uint64_t)(uintptr_t)(buf + 100));
        CHECK((dev & 4095u) == ((uintptr_t)(buf + 100) & 4095u));
        h = (unsigned char *)model_dma_host(b, dev, got);
        CHECK(h != NULL && h != buf + 100 && h[0] == 0x11);
        h[0] = 0x22;
        CHECK(buf[100] == 0x11);
        p->dma_unmap(p->user, buf + 100, got, VIRTIO_DMA_BIDIRECTIONAL, dev);
        CHECK(buf[100] == 0x22 && b->stats.live_maps == 0);
        b->knobs.alloc_fail_after = 1;
        CHECK(p->dma_alloc(p->user, 64, 64, VIRTIO_MEM_DMA, &dev) == NULL);
    }
    CHECK(b->stats.bugs == 1);
    model_bus_free(b);
}

/* The big-endian guest view, byte by byte with values worked out by hand.
   A device with one declared 4-byte field (0x11223344 at 0) and four
   undeclared bytes 01 02 03 04 at 4; cfg_seen records what the backend
   was told by a config write. */
static uint32_t cfg_seen;
static int cfg_note(model *m, void *state, uint32_t off, unsigned width, uint32_t value)
{
    (void)m;
    (void)state;
    (void)width;
    cfg_seen = off << 24 ^ value;
    return 1;
}

static int cfg_ignore(model *m, void *state, model_chain *c)
{
    (void)m;
    (void)state;
    (void)c;
    return MODEL_DONE;
}

static model *cfg_device(model_bus *b, uint32_t transport, drv *d)
{
    model_options o;
    model_backend be;
    model *m;
    memset(&be, 0, sizeof be);
    be.name = "cfg";
    be.device_id = 30;
    be.features = MODEL_F_VERSION_1;
    be.config_size = 8;
    be.num_queues = 1;
    be.queue_max[0] = 8;
    be.process = cfg_ignore;
    be.config_write = cfg_note;
    model_options_init(&o, transport);
    o.pci_enabled = 1;
    m = model_new(b, &o, &be);
    model_config_set(m, 0, 4, 0x11223344u);
    memcpy(model_config(m) + 4, "\1\2\3\4", 4);
    memset(d, 0, sizeof *d);
    d->bus = b;
    d->p = &b->platform;
    d->m = m;
    d->kind = transport == MODEL_MMIO_LEGACY ? K_MMIO1 : transport == MODEL_MMIO ? K_MMIO : K_LPCI;
    d->space = d->kind == K_LPCI ? VIRTIO_SPACE_IO : VIRTIO_SPACE_MEM;
    d->base = d->kind == K_LPCI ? o.bar_io : o.mmio_base;
    return m;
}

static uint32_t cfg_at(drv *d) { return d->kind == K_LPCI ? 20u : 0x100u; }

static void test_big_endian_guest(void)
{
    static const uint32_t tr[3] = { MODEL_MMIO, MODEL_MMIO_LEGACY, MODEL_PCI_LEGACY };
    /* What a 32-bit read at 0 and at 4 returns per transport, little- and
       big-endian guest: modern never changes; virtio-mmio v1 shows the
       declared field's big-endian bytes 11 22 33 44 through a little-endian
       register; legacy virtio-pci shows values (QEMU swaps each access). */
    static const uint32_t want[2][3][2] = {
        { { 0x11223344u, 0x04030201u }, { 0x11223344u, 0x04030201u }, { 0x11223344u, 0x04030201u } },
        { { 0x11223344u, 0x04030201u }, { 0x44332211u, 0x04030201u }, { 0x11223344u, 0x01020304u } },
    };
    uint32_t be, t;
    for (be = 0; be < 2; be++) {
        for (t = 0; t < 3; t++) {
            model_bus *b = new_bus();
            drv d;
            model *m;
            uintptr_t c;
            b->knobs.guest_big_endian = be;
            m = cfg_device(b, tr[t], &d);
            c = d.base + cfg_at(&d);
            CHECK(negotiate(&d, MODEL_F_VERSION_1));
            CHECK(model_guest_be(m) == (int)(be && t > 0));
            /* (Byte order only: reads that are not the fields' own
               accesses, each reported by the access check.) */
            b->knobs.quiet = 1;
            CHECK(rd(&d, c, 4) == want[be][t][0] && rd(&d, c + 4, 4) == want[be][t][1]);
            CHECK(rd(&d, c, 1) == (be && t > 0 ? 0x11u : 0x44u));   /* the first byte as it lies */
            CHECK(rd(&d, c + 2, 2) == (be && t == 1 ? 0x4433u : be && t == 2 ? 0x3344u : 0x1122u));
            CHECK(b->stats.bugs == 3);   /* bytes 4-7 read whole, a byte and a half of the field at 0 */
            b->stats.bugs = 0;
            b->knobs.quiet = 0;
            /* A write of the whole field reaches the backend as the value
               the driver meant: the read-back value of each window. */
            cfg_seen = 0;
            wr(&d, c, 4, want[be][t][0] ^ 0x01010101u);
            CHECK(cfg_seen == (0x11223344u ^ 0x01010101u));
            CHECK(b->stats.bugs == 0);
            if (be && t > 0) {   /* half of a big-endian field: the model cannot tell which half */
                b->knobs.quiet = 1;
                wr(&d, c + 2, 2, 0);
                CHECK(b->stats.bugs == 2);   /* the access check, then the half field */
            }
            model_bus_free(b);
        }
    }
    /* Rings and a blk request of a big-endian guest on legacy virtio-mmio:
       every ring field and the header big-endian, the used ring written
       big-endian; the configuration's capacity (2048) big-endian too. */
    {
        drv d;
        model_options o;
        model_blk_options bo;
        sring r;
        req q;
        unsigned char *e;
        memset(&d, 0, sizeof d);
        d.bus = new_bus();
        d.bus->knobs.guest_big_endian = 1;
        d.p = &d.bus->platform;
        model_options_init(&o, MODEL_MMIO_LEGACY);
        model_blk_options_init(&bo);
        d.m = model_blk_new(d.bus, &o, &bo);
        d.kind = K_MMIO1;
        d.space = VIRTIO_SPACE_MEM;
        d.base = o.mmio_base;
        CHECK(negotiate(&d, MODEL_F_ANY_LAYOUT));
        CHECK(cfg32(&d, 0) == 0 && cfg32(&d, 4) == 0x00080000u);   /* 00 00 00 00 00 00 08 00 */
        sring_alloc(&d, &r, 16, 1);
        queue_setup_legacy(&d, 0, 16, r.desc_dev);
        driver_ok(&d);
        req_alloc(&d, &q, MODEL_BLK_T_IN, 0, 1024);
        model_put32(q.hdr, 0);
        model_put64(q.hdr + 8, model_bswap64(9));   /* sector 9, big-endian */
        put_desc(r.desc, model_bswap64(q.hdr_dev), model_bswap32(16), model_bswap16(1), model_bswap16(1));
        put_desc(r.desc + 16, model_bswap64(q.data_dev), model_bswap32(1024), model_bswap16(3), model_bswap16(2));
        put_desc(r.desc + 32, model_bswap64(q.st_dev), model_bswap32(1), model_bswap16(2), 0);
        model_put16(r.avail + 4, 0);
        model_put16(r.avail + 2, model_bswap16(1));
        notify(&d, 0);
        e = r.used + 4;
        CHECK(r.used[2] == 0 && r.used[3] == 1);
        CHECK(model_get32(e) == 0 && model_get32(e + 4) == model_bswap32(1025));
        CHECK(q.st[0] == 0 && pattern_ok(q.data, 9 * 512, 1024));
        CHECK(d.bus->stats.bugs == 0);
        model_bus_free(d.bus);
    }
}

int main(void)
{
    test_mmio_split();
    test_mmio_packed();
    test_mmio_legacy();
    test_pci_modern();
    test_pci_legacy_msix();
    test_pci_legacy_size_lie();
    test_bad_dma();
    test_deferred_reverse();
    test_knobs();
    test_packed_event_idx();
    test_discard_and_ro();
    test_bus();
    test_bar_sizing();
    test_pci_layout();
    test_gone_and_quirks();
    test_big_endian_guest();
    printf("model_selftest: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
