/* SPDX-License-Identifier: MIT OR Unlicense */
/* model.c - the software VirtIO device: DMA registry, transports (virtio-mmio
   v1/v2, virtio-pci modern/transitional/legacy), split and packed rings,
   event suppression, interrupts. Backends live in model_<dev>.c. See
   model.h for the API; section references are to VirtIO 1.2. */
#include "model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Under MemorySanitizer a fresh allocation is marked as never written
   (its 0xa5 filler notwithstanding), so reading DMA or private memory
   that neither the library nor the device has written is reported. */
#if defined(__has_feature)
#if __has_feature(memory_sanitizer)
#include <sanitizer/msan_interface.h>
#define MODEL_UNWRITTEN(p, n) __msan_poison((p), (n))
#endif
#endif
#ifndef MODEL_UNWRITTEN
#define MODEL_UNWRITTEN(p, n) ((void)(p), (void)(n))
#endif

/* ------------------------------------------------------------------ */
/* >>spec constants                                                    */
/* ------------------------------------------------------------------ */

#define DF_NEXT 1u
#define DF_WRITE 2u
#define DF_INDIRECT 4u
#define DF_AVAIL 0x80u
#define DF_USED 0x8000u
#define EV_ENABLE 0u
#define EV_DISABLE 1u
#define EV_DESC 2u
#define NO_VECTOR 0xffffu
#define PAGE 4096u
#define VENDOR_PCI 0x1af4u
#define MODEL_VENDOR_ID 0x6c646f6du /* "modl" */

/* virtio-mmio (4.2.2, legacy 4.2.4) */
#define M_MAGIC 0x000u
#define M_VERSION 0x004u
#define M_DEVICE_ID 0x008u
#define M_VENDOR_ID 0x00cu
#define M_DEV_FEAT 0x010u
#define M_DEV_FEAT_SEL 0x014u
#define M_DRV_FEAT 0x020u
#define M_DRV_FEAT_SEL 0x024u
#define M_GUEST_PAGE_SIZE 0x028u
#define M_QUEUE_SEL 0x030u
#define M_QUEUE_NUM_MAX 0x034u
#define M_QUEUE_NUM 0x038u
#define M_QUEUE_ALIGN 0x03cu
#define M_QUEUE_PFN 0x040u
#define M_QUEUE_READY 0x044u
#define M_QUEUE_NOTIFY 0x050u
#define M_INT_STATUS 0x060u
#define M_INT_ACK 0x064u
#define M_STATUS 0x070u
#define M_QUEUE_DESC_LO 0x080u
#define M_QUEUE_DESC_HI 0x084u
#define M_QUEUE_DRV_LO 0x090u
#define M_QUEUE_DRV_HI 0x094u
#define M_QUEUE_DEV_LO 0x0a0u
#define M_QUEUE_DEV_HI 0x0a4u
#define M_SHM_SEL 0x0acu
#define M_SHM_LEN_LO 0x0b0u
#define M_SHM_LEN_HI 0x0b4u
#define M_SHM_BASE_LO 0x0b8u
#define M_SHM_BASE_HI 0x0bcu
#define M_QUEUE_RESET 0x0c0u
#define M_CONFIG_GEN 0x0fcu
#define M_CONFIG 0x100u
#define MMIO_WINDOW 0x200u

/* virtio-pci common configuration (4.1.4.3) */
#define C_DFSELECT 0u
#define C_DF 4u
#define C_GFSELECT 8u
#define C_GF 12u
#define C_MSIX_CONFIG 16u
#define C_NUM_QUEUES 18u
#define C_STATUS 20u
#define C_GENERATION 21u
#define C_Q_SELECT 22u
#define C_Q_SIZE 24u
#define C_Q_MSIX 26u
#define C_Q_ENABLE 28u
#define C_Q_NOFF 30u
#define C_Q_DESC 32u
#define C_Q_DRIVER 40u
#define C_Q_DEVICE 48u
#define C_Q_NOTIF_DATA 56u
#define C_Q_RESET 58u
#define C_ADMIN_INDEX 60u
#define C_ADMIN_NUM 62u
#define COMMON_LEN 64u

/* legacy virtio-pci I/O header (4.1.4.10) */
#define L_HOST_FEATURES 0u
#define L_GUEST_FEATURES 4u
#define L_QUEUE_PFN 8u
#define L_QUEUE_NUM 12u
#define L_QUEUE_SEL 14u
#define L_QUEUE_NOTIFY 16u
#define L_STATUS 18u
#define L_ISR 19u
#define L_MSIX_CONFIG 20u
#define L_MSIX_QUEUE 22u

/* Layout of the modern memory BAR. */
#define BAR_COMMON 0x0000u
#define BAR_ISR 0x1000u
#define BAR_ISR_LEN 4u
#define BAR_DEVCFG 0x2000u
#define BAR_NOTIFY 0x3000u
#define MSIX_BAR_SIZE 0x1000u
#define MSIX_PBA 0x800u

/* PCI capability ids / virtio cfg types */
#define CAP_VENDOR 0x09u
#define CAP_MSIX 0x11u
#define VCAP_COMMON 1u
#define VCAP_NOTIFY 2u
#define VCAP_ISR 3u
#define VCAP_DEVICE 4u
#define VCAP_PCI_CFG 5u

/* ------------------------------------------------------------------ */
/* >>private types                                                     */
/* ------------------------------------------------------------------ */

#define P_READ 1u
#define P_WRITE 2u
#define R_ALLOC 1u
#define R_MAP 2u
#define R_RAM 3u   /* caller memory the device may use directly (identity DMA) */

typedef struct region {
    uint64_t dev, len;
    unsigned char *host;  /* what the device reads and writes */
    void *raw;            /* malloc block to free (allocation or bounce buffer) */
    void *cpu;            /* the driver's pointer (allocation: == host) */
    uint32_t type;        /* R_ALLOC / R_MAP / R_RAM */
    uint32_t perm;        /* P_READ | P_WRITE; 0 for private memory */
    int kind;             /* allocation kind */
    int dir;              /* mapping direction */
    int priv;             /* VIRTIO_MEM_PRIVATE */
    uint64_t seq;         /* allocation: its number, in order */
} region;

struct model_bus_priv {
    region *r;
    size_t n, cap;
    uint64_t next_dev;
    model *dev[MODEL_MAX_DEVICES];
    unsigned ndev;
    uintptr_t empty[MODEL_MAX_DEVICES];
    unsigned nempty;
    uint64_t clock;
    char last_bug[512];
    int in_idle;
};

#define CS_FREE 0u
#define CS_HELD 1u
#define CS_DONE 2u

typedef struct mq {
    uint32_t index, max, flags;
    uint32_t size;                 /* driver-chosen (PCI modern: reads back, starts at max) */
    uint32_t told;                 /* the size the driver last read, a lie included (legacy PCI:
                                      any read; modern PCI: a read after the last write, 0 if none) */
    uint64_t desc, drv, dev;       /* device addresses of the three areas */
    uint32_t ready, pfn, align;
    uint16_t msix;
    uint32_t broken, packed, event_idx, indirect;
    uint32_t big_endian;           /* ring fields big-endian (legacy, big-endian guest view) */
    unsigned char *hd, *hdrv, *hdev;  /* cached host pointers, valid while ready && !broken */
    /* split */
    uint16_t last_avail, used_idx, avail_at_notify, avail_event, used_flags;
    uint8_t *busy;                 /* per descriptor: 1 owned by the device, 2 being parsed */
    /* packed */
    uint32_t avail_pos, avail_wrap, used_pos, used_wrap;
    uint64_t avail_abs, used_abs, notify_abs, event_abs, pass_abs;
    uint32_t dev_event_flags;
    uint8_t *idbusy;               /* 65536-bit map of buffer ids in flight */
    uint32_t outstanding;          /* ring slots of chains the device holds */
    /* chains */
    model_chain *slot;
    uint32_t nslot;
    uint32_t *freel;
    uint32_t nfree;
    model_chain **batch;
    uint32_t held;
    uint32_t warned;
    model_qstats st;
} mq;

#define BAR_NONE 0u
#define BAR_IO 1u
#define BAR_MEM32 2u
#define BAR_MEM64 3u
#define BAR_MEM64_HI 4u

typedef struct bar {
    uint32_t type;
    uint64_t size, addr;
} bar;

#define IF_NONE 0u
#define IF_LEGACY 1u
#define IF_MODERN 2u

struct model_priv {
    model_options o;
    model_backend be;
    char name[80];
    uint8_t *cfg;
    uint8_t *cfg_field;            /* per byte: field width << 4 | position in it (model_config_set) */
    uint8_t *cfg_acc;              /* the same for access widths (model_config_set, model_config_field) */
    uint32_t cfg_size;
    mq *q;
    uint32_t nq;
    uint32_t status, reset_left, reset_shown;
    uint64_t drv_features, features;
    uint32_t dfsel, gfsel, qsel, page_size;
    uint32_t isr, generation, cfg_reads, gen_bumps;
    uint16_t msix_config;
    uint32_t iface;
    uint32_t tainted;
    uint32_t rng;
    uint32_t bm_warned;
    /* PCI */
    uint8_t pci[256];
    bar bars[6];
    uint32_t mem_bar, io_size;
    uint32_t cap_msix, cap_pcicfg;
    model_pci_layout lay, lay0;   /* current and creation-time virtio capabilities */
    uint32_t span_lo[8], span_hi[8], nspan;   /* config bytes each capability claims (cap_len) */
    uint8_t *msix_tab;
};

typedef struct model_priv P;

/* ------------------------------------------------------------------ */
/* >>small helpers                                                     */
/* ------------------------------------------------------------------ */

/* Ring fields: little-endian, or big-endian in a legacy ring of the
   big-endian guest view (q->big_endian, fixed when the queue is enabled). */
static uint16_t ld16(const mq *q, const unsigned char *p)
{
    return q->big_endian ? model_bswap16(model_get16(p)) : model_get16(p);
}
static uint32_t ld32(const mq *q, const unsigned char *p)
{
    return q->big_endian ? model_bswap32(model_get32(p)) : model_get32(p);
}
static uint64_t ld64(const mq *q, const unsigned char *p)
{
    return q->big_endian ? model_bswap64(model_get64(p)) : model_get64(p);
}
static void st16(const mq *q, unsigned char *p, uint32_t v)
{
    model_put16(p, q->big_endian ? model_bswap16((uint16_t)v) : (uint16_t)v);
}
static void st32(const mq *q, unsigned char *p, uint32_t v)
{
    model_put32(p, q->big_endian ? model_bswap32(v) : v);
}

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }
static int is_pow2(uint64_t v) { return v && !(v & (v - 1)); }
static int ranges_overlap(uint64_t a, uint64_t al, uint64_t b, uint64_t bl) { return al && bl && a < b + bl && b < a + al; }

/* The event-index test shared by both directions (2.7.7.2, 2.7.10). */
static int need_event(uint16_t ev, uint16_t newi, uint16_t old)
{
    return (uint16_t)(newi - ev - 1) < (uint16_t)(newi - old);
}

static void internal_error(const char *msg)
{
    fprintf(stderr, "model: internal error (backend or test misuse): %s\n", msg);
    abort();
}

static int is_mmio(const model *m) { return m->priv->o.transport == MODEL_MMIO || m->priv->o.transport == MODEL_MMIO_LEGACY; }
static int is_pci(const model *m) { return !is_mmio(m); }
static int legacy_if(const model *m) { return m->priv->iface == IF_LEGACY; }

/* ------------------------------------------------------------------ */
/* >>bugs                                                              */
/* ------------------------------------------------------------------ */

static int bus_tainted(const model_bus *b)
{
    unsigned d;
    for (d = 0; d < b->priv->ndev; d++)
        if (b->priv->dev[d]->priv->tainted) return 1;
    return 0;
}

/* strict: the driver handed the device memory it does not own (or misused
   the DMA registry); counted whatever the device did. Otherwise a protocol
   violation, which a tainted (lying) device may have provoked: then it is
   only recorded in stats.relaxed. */
static void vreport(model_bus *b, model *m, int strict, const char *fmt, va_list ap)
{
    char msg[512];
    int n, relaxed = !strict && (m ? m->priv->tainted != 0 : bus_tainted(b));
    n = snprintf(msg, sizeof msg, "model %s: %s: ", m ? m->priv->name : "bus",
                 relaxed ? "protocol violation after hostile device values (not counted)" : "driver bug");
    if (n < 0) n = 0;
    if ((size_t)n < sizeof msg) vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    memcpy(b->priv->last_bug, msg, sizeof msg);
    if (relaxed) {
        b->stats.relaxed++;
        if (m) m->stats.relaxed++;
        return;
    }
    b->stats.bugs++;
    if (m) m->stats.bugs++;
    if (!b->knobs.quiet) fprintf(stderr, "%s\n", msg);
    if (b->knobs.on_bug) b->knobs.on_bug(b->knobs.on_bug_user, m, msg);
    if (b->knobs.abort_on_bug) abort();
}

void model_bug(model *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(m->bus, m, 0, fmt, ap);
    va_end(ap);
}

#if defined(__GNUC__) || defined(__clang__)
static void strict_bug(model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
static void strict_bug(model *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(m->bus, m, 1, fmt, ap);
    va_end(ap);
}

#if defined(__GNUC__) || defined(__clang__)
static void bus_bug(model_bus *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
static void bus_bug(model_bus *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(b, NULL, 1, fmt, ap);
    va_end(ap);
}

/* Register decoding: a lying device may send the driver anywhere. */
#if defined(__GNUC__) || defined(__clang__)
static void bus_proto_bug(model_bus *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
static void bus_proto_bug(model_bus *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(b, NULL, 0, fmt, ap);
    va_end(ap);
}

const char *model_bus_last_bug(const model_bus *b) { return b->priv->last_bug; }
uint64_t model_bus_clock(const model_bus *b) { return b->priv->clock; }

/* ------------------------------------------------------------------ */
/* >>dma registry                                                      */
/* ------------------------------------------------------------------ */

/* Regions are kept sorted by device address. In window mode they never
   overlap; in identity mode a mapping may sit inside an allocation. */
static size_t reg_upper(const struct model_bus_priv *p, uint64_t dev)
{
    size_t lo = 0, hi = p->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->r[mid].dev <= dev) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static int reg_contains(const region *r, uint64_t addr, uint64_t len)
{
    return addr >= r->dev && addr - r->dev < r->len && len <= r->len - (addr - r->dev);
}

static region *reg_find(model_bus *b, uint64_t addr, uint64_t len)
{
    struct model_bus_priv *p = b->priv;
    size_t i;
    if (len == 0) len = 1;
    if (addr + len < addr) return NULL;
    i = reg_upper(p, addr);
    while (i > 0) {
        region *r = &p->r[--i];
        if (reg_contains(r, addr, len)) return r;
        if (b->knobs.dma_mode == MODEL_DMA_WINDOW) break;
    }
    return NULL;
}

static region *reg_insert(model_bus *b, const region *nr)
{
    struct model_bus_priv *p = b->priv;
    size_t i;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        region *r = (region *)realloc(p->r, cap * sizeof *r);
        if (!r) return NULL;
        p->r = r;
        p->cap = cap;
    }
    i = reg_upper(p, nr->dev);
    memmove(&p->r[i + 1], &p->r[i], (p->n - i) * sizeof *p->r);
    p->r[i] = *nr;
    p->n++;
    return &p->r[i];
}

static void reg_remove(model_bus *b, region *r)
{
    struct model_bus_priv *p = b->priv;
    size_t i = (size_t)(r - p->r);
    memmove(&p->r[i], &p->r[i + 1], (p->n - i - 1) * sizeof *p->r);
    p->n--;
}

/* Window mode: a fresh device range, page-aligned (or more), keeping the
   low page_off bits, followed by an unmapped guard page. */
static uint64_t window_alloc(model_bus *b, uint64_t len, uint64_t align, uint64_t page_off)
{
    struct model_bus_priv *p = b->priv;
    uint64_t base = p->next_dev > b->knobs.dma_base ? p->next_dev : b->knobs.dma_base;
    uint64_t dev;
    if (align < PAGE) align = PAGE;
    base = align_up(base, align);
    dev = base + page_off;
    p->next_dev = align_up(dev + len, PAGE) + PAGE;
    return dev;
}

static void queue_fail(model *m, mq *q);

/* The driver is giving back memory: no live queue and no chain the device
   still holds may point into it. */
static void check_release(model_bus *b, const region *r, const char *what)
{
    struct model_bus_priv *p = b->priv;
    unsigned d;
    for (d = 0; d < p->ndev; d++) {
        model *m = p->dev[d];
        uint32_t qi;
        for (qi = 0; qi < m->priv->nq; qi++) {
            mq *q = &m->priv->q[qi];
            uint32_t s, k;
            if (q->ready && !q->broken) {
                uint64_t a[3], l[3];
                int j;
                a[0] = q->desc; l[0] = (uint64_t)q->size * 16;
                a[1] = q->drv; l[1] = q->packed ? 4 : 6 + 2ull * q->size;
                a[2] = q->dev; l[2] = q->packed ? 4 : 6 + 8ull * q->size;
                for (j = 0; j < 3; j++) {
                    if (a[j] < r->dev + r->len && r->dev < a[j] + l[j]) {
                        model_bug(m, "%s of memory [%#llx, +%#llx) that queue %u's rings still use (reset the device first)",
                                  what, (unsigned long long)r->dev, (unsigned long long)r->len, qi);
                        queue_fail(m, q);
                        break;
                    }
                }
            }
            for (s = 0; s < q->nslot; s++) {
                model_chain *c = &q->slot[s];
                if (c->priv.state == CS_FREE) continue;
                for (k = 0; k < c->nread + c->nwrite; k++) {
                    const model_seg *g = &c->seg[k];
                    if (g->len && g->addr < r->dev + r->len && r->dev < g->addr + g->len) {
                        if (!m->priv->tainted)
                            model_bug(m, "%s of buffer [%#llx, +%#llx) while queue %u's chain %u (held by the device) still uses it",
                                      what, (unsigned long long)r->dev, (unsigned long long)r->len, qi, c->id);
                        k = c->nread + c->nwrite;
                    }
                }
            }
        }
    }
}

static void *hook_dma_alloc(void *user, size_t size, size_t align, int kind, uint64_t *dev_addr)
{
    model_bus *b = (model_bus *)user;
    region r;
    size_t a;
    unsigned char *raw, *host;
    if (b->knobs.alloc_fail_after && --b->knobs.alloc_fail_after == 0) return NULL;
    if (size == 0) {
        bus_bug(b, "dma_alloc of 0 bytes");
        return NULL;
    }
    if (!is_pow2(align)) {
        bus_bug(b, "dma_alloc alignment %zu is not a power of two", align);
        return NULL;
    }
    if (kind != VIRTIO_MEM_DMA && kind != VIRTIO_MEM_PRIVATE) bus_bug(b, "dma_alloc with unknown kind %d", kind);
    a = align < 16 ? 16 : align;
    raw = (unsigned char *)malloc(size + a);
    if (!raw) return NULL;
    host = raw + ((a - ((uintptr_t)raw & (a - 1))) & (a - 1));
    memset(host, 0xa5, size);   /* never hand out zeroes by accident */
    MODEL_UNWRITTEN(host, size);
    memset(&r, 0, sizeof r);
    r.dev = b->knobs.dma_mode == MODEL_DMA_WINDOW ? window_alloc(b, size, align, 0) : (uint64_t)(uintptr_t)host;
    r.len = size;
    r.host = host;
    r.raw = raw;
    r.cpu = host;
    r.type = R_ALLOC;
    r.kind = kind;
    r.priv = kind == VIRTIO_MEM_PRIVATE;
    r.perm = r.priv ? 0 : (P_READ | P_WRITE);
    r.seq = b->stats.allocs;
    if (!reg_insert(b, &r)) {
        free(raw);
        return NULL;
    }
    b->stats.allocs++;
    b->stats.live_allocs++;
    if (dev_addr) *dev_addr = r.dev;
    return host;
}

static void hook_dma_free(void *user, void *ptr, size_t size, int kind)
{
    model_bus *b = (model_bus *)user;
    struct model_bus_priv *p = b->priv;
    size_t i, k;
    for (i = 0; i < p->n; i++) {
        region *r = &p->r[i];
        if (r->type == R_ALLOC && r->cpu == ptr) {
            if (r->len != size) bus_bug(b, "dma_free(%p) with size %zu, allocated %llu", ptr, size, (unsigned long long)r->len);
            if (r->kind != kind) bus_bug(b, "dma_free(%p) with kind %d, allocated as %d", ptr, kind, r->kind);
            check_release(b, r, "dma_free");
            for (k = 0; k < p->n; k++)   /* a stack-like pool frees newest first */
                if (p->r[k].type == R_ALLOC && p->r[k].seq > r->seq) {
                    b->stats.unordered_frees++;
                    break;
                }
            free(r->raw);
            reg_remove(b, r);
            b->stats.frees++;
            b->stats.live_allocs--;
            return;
        }
    }
    bus_bug(b, "dma_free(%p): not a live allocation (double free?)", ptr);
}

static int hook_dma_map(void *user, void *ptr, size_t len, int dir, uint64_t *dev_addr, size_t *mapped)
{
    model_bus *b = (model_bus *)user;
    region r, *in;
    size_t n = len;
    uint64_t off = (uint64_t)((uintptr_t)ptr & (PAGE - 1));
    if (b->knobs.map_fail_after && --b->knobs.map_fail_after == 0) return -1;
    if (!ptr || len == 0) {
        bus_bug(b, "dma_map(%p, %zu): empty buffer", ptr, len);
        return -1;
    }
    if (dir != VIRTIO_DMA_TO_DEVICE && dir != VIRTIO_DMA_FROM_DEVICE && dir != VIRTIO_DMA_BIDIRECTIONAL) {
        bus_bug(b, "dma_map with unknown direction %d", dir);
        return -1;
    }
    /* Private memory must never become device-visible. */
    {
        struct model_bus_priv *p = b->priv;
        size_t i;
        for (i = 0; i < p->n; i++) {
            in = &p->r[i];
            if (in->priv && (unsigned char *)ptr < in->host + in->len && in->host < (unsigned char *)ptr + len) {
                bus_bug(b, "dma_map(%p, %zu) of VIRTIO_MEM_PRIVATE memory", ptr, len);
                return -1;
            }
        }
    }
    if (b->knobs.dma_split && n > PAGE - off) n = (size_t)(PAGE - off);
    memset(&r, 0, sizeof r);
    r.type = R_MAP;
    r.dir = dir;
    r.cpu = ptr;
    r.len = n;
    r.perm = (dir & VIRTIO_DMA_TO_DEVICE ? P_READ : 0) | (dir & VIRTIO_DMA_FROM_DEVICE ? P_WRITE : 0);
    if (b->knobs.dma_bounce) {
        unsigned char *raw = (unsigned char *)malloc(n + 2 * PAGE);
        if (!raw) return -1;
        r.raw = raw;
        r.host = raw + ((PAGE - ((uintptr_t)raw & (PAGE - 1))) & (PAGE - 1)) + off;
        if (dir & VIRTIO_DMA_TO_DEVICE) memcpy(r.host, ptr, n);
        else memset(r.host, 0xa5, n);
    } else {
        r.host = (unsigned char *)ptr;
    }
    r.dev = b->knobs.dma_mode == MODEL_DMA_WINDOW ? window_alloc(b, n, 1, off) : (uint64_t)(uintptr_t)r.host;
    if (!reg_insert(b, &r)) {
        free(r.raw);
        return -1;
    }
    b->stats.maps++;
    b->stats.live_maps++;
    *dev_addr = r.dev;
    *mapped = n;
    return 0;
}

static void hook_dma_unmap(void *user, void *ptr, size_t len, int dir, uint64_t dev_addr)
{
    model_bus *b = (model_bus *)user;
    struct model_bus_priv *p = b->priv;
    size_t i;
    for (i = 0; i < p->n; i++) {
        region *r = &p->r[i];
        if (r->type == R_MAP && r->dev == dev_addr) {
            if (r->cpu != ptr || r->len != len || r->dir != dir)
                bus_bug(b, "dma_unmap(%p, %zu, dir %d, %#llx) does not match dma_map(%p, %llu, dir %d)", ptr, len, dir,
                        (unsigned long long)dev_addr, r->cpu, (unsigned long long)r->len, r->dir);
            check_release(b, r, "dma_unmap");
            if (r->raw) {
                if (r->dir & VIRTIO_DMA_FROM_DEVICE) memcpy(r->cpu, r->host, (size_t)r->len);
                free(r->raw);
            }
            reg_remove(b, r);
            b->stats.unmaps++;
            b->stats.live_maps--;
            return;
        }
    }
    bus_bug(b, "dma_unmap(%p, %zu) of device address %#llx that is not mapped", ptr, len, (unsigned long long)dev_addr);
}

int model_dma_ram(model_bus *b, void *ptr, size_t len)
{
    region r;
    uint64_t a = (uint64_t)(uintptr_t)ptr;
    if (!ptr || !len) return -1;
    if (b->knobs.dma_mode == MODEL_DMA_WINDOW && a < b->knobs.dma_base + (1ull << 40) && a + len > b->knobs.dma_base)
        return -1;
    memset(&r, 0, sizeof r);
    r.dev = a;
    r.len = len;
    r.host = (unsigned char *)ptr;
    r.cpu = ptr;
    r.type = R_RAM;
    r.perm = P_READ | P_WRITE;
    return reg_insert(b, &r) ? 0 : -1;
}

void *model_dma_host(model_bus *b, uint64_t addr, size_t len)
{
    region *r = reg_find(b, addr, len);
    return r ? r->host + (addr - r->dev) : NULL;
}

uint64_t model_dma_addr(model_bus *b, const void *host)
{
    struct model_bus_priv *p = b->priv;
    size_t i;
    const unsigned char *h = (const unsigned char *)host;
    for (i = p->n; i-- > 0;) {
        region *r = &p->r[i];
        if (h >= r->host && h < r->host + r->len) return r->dev + (uint64_t)(h - r->host);
        if (r->cpu && h >= (const unsigned char *)r->cpu && h < (const unsigned char *)r->cpu + r->len)
            return r->dev + (uint64_t)(h - (const unsigned char *)r->cpu);
    }
    return 0;
}

/* Device access to driver memory. need: P_READ or P_WRITE. quiet: the
   device is tainted and the driver may legitimately have let go. */
static unsigned char *dma_ptr(model *m, uint64_t addr, uint64_t len, uint32_t need, const char *what, int quiet)
{
    region *r = reg_find(m->bus, addr, len);
    if (!r) {
        if (!quiet)
            strict_bug(m, "%s: device address range [%#llx, +%#llx) is not inside any live DMA allocation or mapping", what,
                       (unsigned long long)addr, (unsigned long long)len);
        return NULL;
    }
    if (r->priv) {
        if (!quiet)
            strict_bug(m, "%s: device address %#llx points into VIRTIO_MEM_PRIVATE memory", what, (unsigned long long)addr);
        return NULL;
    }
    if ((r->perm & need) != need) {
        if (!quiet)
            strict_bug(m, "%s: device %s at %#llx, but that memory is mapped %s", what, need & P_WRITE ? "writes" : "reads",
                      (unsigned long long)addr, r->dir == VIRTIO_DMA_TO_DEVICE ? "TO_DEVICE" : "FROM_DEVICE");
        return NULL;
    }
    return r->host + (addr - r->dev);
}

int model_dma_read(model *m, uint64_t addr, void *dst, size_t len, const char *what)
{
    unsigned char *h;
    if (len == 0) return 0;
    h = dma_ptr(m, addr, len, P_READ, what, 0);
    if (!h) return -1;
    memcpy(dst, h, len);
    return 0;
}

int model_dma_write(model *m, uint64_t addr, const void *src, size_t len, const char *what)
{
    unsigned char *h;
    if (len == 0) return 0;
    h = dma_ptr(m, addr, len, P_WRITE, what, 0);
    if (!h) return -1;
    memcpy(h, src, len);
    return 0;
}

/* ------------------------------------------------------------------ */
/* >>platform hooks (time, barriers, log)                              */
/* ------------------------------------------------------------------ */

static void hook_barrier(void *user) { (void)user; }

static uint64_t hook_now_us(void *user)
{
    model_bus *b = (model_bus *)user;
    b->priv->clock += b->knobs.clock_step_us;
    return b->priv->clock;
}

static void hook_idle(void *user)
{
    model_bus *b = (model_bus *)user;
    struct model_bus_priv *p = b->priv;
    unsigned d;
    if (p->in_idle) return;
    p->in_idle = 1;
    for (d = 0; d < p->ndev; d++)
        if (p->dev[d]->knobs.run_on_idle) model_run(p->dev[d], p->dev[d]->knobs.run_on_idle);
    p->in_idle = 0;
}

static void hook_log(void *user, int level, int id, const char *text, uint64_t value)
{
    model_bus *b = (model_bus *)user;
    b->stats.log_total++;
    if (id >= 0 && id < 64) b->stats.log[id]++;
    if (b->knobs.log_print)
        fprintf(stderr, "virtio log: level %d id %d %s (%#llx)\n", level, id, text ? text : "", (unsigned long long)value);
}

/* ------------------------------------------------------------------ */
/* >>hostile hook                                                      */
/* ------------------------------------------------------------------ */

static int hostile(model *m, model_hostile *h)
{
    model_hostile before;
    if (!m->knobs.hostile) return 0;
    before = *h;
    m->knobs.hostile(m->knobs.hostile_user, m, h);
    if (memcmp(&before, h, sizeof before) != 0) m->priv->tainted = 1;
    return h->skip != 0;
}

/* ------------------------------------------------------------------ */
/* >>interrupts                                                        */
/* ------------------------------------------------------------------ */

static int msix_enabled(const model *m)
{
    const P *p = m->priv;
    uint16_t ctl;
    if (!p->cap_msix) return 0;
    ctl = model_get16(&p->pci[p->cap_msix + 2]);
    return (ctl & 0x8000u) != 0;
}

static int msix_masked(const model *m)
{
    const P *p = m->priv;
    return (model_get16(&p->pci[p->cap_msix + 2]) & 0x4000u) != 0;
}

static void send_msix(model *m, uint16_t vec)
{
    P *p = m->priv;
    if (vec == NO_VECTOR || vec >= p->o.msix_vectors || msix_masked(m) ||
        (p->msix_tab && (model_get32(p->msix_tab + 16u * vec + 12) & 1u))) {
        m->stats.irq_lost++;
        return;
    }
    m->stats.msix++;
}

/* A used-buffer notification for q (2.7.7 / 2.8.10), or a configuration
   change (q == NULL). */
static void raise_irq(model *m, mq *q)
{
    P *p = m->priv;
    if (m->knobs.gone) return;
    if (q) {
        q->st.interrupts++;
        if (is_pci(m) && msix_enabled(m)) {
            send_msix(m, q->msix);
        } else {
            p->isr |= 1u;
            m->stats.irqs++;
        }
    } else {
        p->isr |= 2u;   /* set even with MSI-X (4.1.4.5) */
        m->stats.config_irqs++;
        if (is_pci(m) && msix_enabled(m)) send_msix(m, p->msix_config);
        else m->stats.irqs++;
    }
    if (m->knobs.on_interrupt) m->knobs.on_interrupt(m->knobs.on_interrupt_user, m, q ? (int)q->index : -1);
}

void model_interrupt(model *m, uint32_t qi)
{
    if (qi < m->priv->nq) raise_irq(m, &m->priv->q[qi]);
}

void model_config_changed(model *m)
{
    m->priv->generation++;
    raise_irq(m, NULL);
}

void model_set_needs_reset(model *m)
{
    P *p = m->priv;
    if (legacy_if(m)) return;
    p->status |= MODEL_S_NEEDS_RESET;
    if (p->status & MODEL_S_DRIVER_OK) raise_irq(m, NULL);
}

/* A strict device that finds the driver breaking a queue's rules stops
   using that queue and asks for a reset (2.1.2). */
static void queue_fail(model *m, mq *q)
{
    q->broken = 1;
    if (m->knobs.needs_reset_on_bug && !legacy_if(m)) model_set_needs_reset(m);
}

/* ------------------------------------------------------------------ */
/* >>queues: setup and teardown                                        */
/* ------------------------------------------------------------------ */

static void queue_free_state(mq *q)
{
    uint32_t i;
    for (i = 0; i < q->nslot; i++) {
        free(q->slot[i].seg);
        free(q->slot[i].priv.didx);
    }
    free(q->slot);
    free(q->freel);
    free(q->batch);
    free(q->busy);
    free(q->idbusy);
    q->slot = NULL;
    q->freel = NULL;
    q->batch = NULL;
    q->busy = NULL;
    q->idbusy = NULL;
    q->nslot = q->nfree = q->held = 0;
}

static void queue_reset(model *m, mq *q)
{
    queue_free_state(q);
    q->size = is_pci(m) ? q->max : 0;
    q->desc = q->drv = q->dev = 0;
    q->ready = q->pfn = q->broken = q->told = 0;
    q->align = 0;
    q->msix = NO_VECTOR;
    q->hd = q->hdrv = q->hdev = NULL;
    q->last_avail = q->used_idx = q->avail_at_notify = q->avail_event = q->used_flags = 0;
    q->avail_pos = q->used_pos = 0;
    q->avail_wrap = q->used_wrap = 1;
    q->avail_abs = q->used_abs = q->notify_abs = q->event_abs = q->pass_abs = 0;
    q->outstanding = 0;
    q->warned = 0;
}

static void write_notify_policy(model *m, mq *q);

/* Map one ring area; NULL (bug reported) if it is not device memory. */
static unsigned char *ring_area(model *m, mq *q, uint64_t addr, uint64_t len, uint64_t align, uint32_t need, const char *what)
{
    char w[96];
    snprintf(w, sizeof w, "queue %u %s", q->index, what);
    if (addr & (align - 1)) {
        model_bug(m, "%s at %#llx is not %llu-byte aligned", w, (unsigned long long)addr, (unsigned long long)align);
        return NULL;
    }
    return dma_ptr(m, addr, len, need, w, 0);
}

/* The driver enabled queue q (QueueReady / queue_enable / QueuePFN). */
static void queue_enable(model *m, mq *q)
{
    P *p = m->priv;
    uint32_t i, size = q->size, legacy = (uint32_t)legacy_if(m);
    uint64_t dl, al, ul;
    if (q->max == 0) {
        model_bug(m, "enabling queue %u which the device does not have (max size 0)", q->index);
        return;
    }
    if (q->ready) {
        model_bug(m, "queue %u enabled twice", q->index);
        return;
    }
    if (!(p->status & MODEL_S_DRIVER) || (!legacy && !(p->status & MODEL_S_FEATURES_OK))) {
        model_bug(m, "queue %u enabled in status %#x (needs DRIVER%s)", q->index, p->status, legacy ? "" : " and FEATURES_OK");
        return;
    }
    /* Legacy devices have no FEATURES_OK: what the driver wrote so far is
       in force from first use (3.1.2). */
    if (legacy) p->features = p->drv_features;
    q->packed = !legacy && (p->features & MODEL_F_RING_PACKED) != 0;
    q->big_endian = legacy && m->bus->knobs.guest_big_endian;   /* legacy rings are in the guest's order (2.4) */
    q->event_idx = (p->features & MODEL_F_EVENT_IDX) != 0;
    q->indirect = (p->features & MODEL_F_INDIRECT_DESC) != 0;
    if (size == 0 || size > q->max || size > MODEL_MAX_QUEUE_SIZE) {
        model_bug(m, "queue %u size %u (device maximum %u)", q->index, size, q->max);
        return;
    }
    if (!q->packed && !is_pow2(size)) {
        model_bug(m, "queue %u: split ring size %u is not a power of two", q->index, size);
        return;
    }
    if (legacy) {
        uint64_t base, page = is_mmio(m) ? p->page_size : PAGE, align = is_mmio(m) ? q->align : PAGE;
        if (is_mmio(m) && !is_pow2(page)) {
            model_bug(m, "queue %u: QueuePFN written with GuestPageSize %u (must be a power of two, written first)", q->index,
                      p->page_size);
            return;
        }
        if (!is_pow2(align)) {
            model_bug(m, "queue %u: QueueAlign %llu is not a power of two", q->index, (unsigned long long)align);
            return;
        }
        base = (uint64_t)q->pfn * page;
        q->desc = base;
        q->drv = base + 16ull * size;
        q->dev = align_up(q->drv + 6 + 2ull * size, align);
    }
    dl = 16ull * size;
    al = q->packed ? 4 : 6 + 2ull * size;
    ul = q->packed ? 4 : 6 + 8ull * size;
    q->hd = ring_area(m, q, q->desc, dl, 16, q->packed ? (P_READ | P_WRITE) : P_READ, "descriptor area");
    q->hdrv = q->hd ? ring_area(m, q, q->drv, al, q->packed ? 4 : 2, P_READ, "driver area") : NULL;
    q->hdev = q->hdrv ? ring_area(m, q, q->dev, ul, 4, P_WRITE, "device area") : NULL;
    if (!q->hdev) {
        q->hd = q->hdrv = NULL;
        queue_fail(m, q);
        return;
    }
    if ((q->desc < q->drv + al && q->drv < q->desc + dl) || (q->desc < q->dev + ul && q->dev < q->desc + dl) ||
        (q->drv < q->dev + ul && q->dev < q->drv + al)) {
        model_bug(m, "queue %u: descriptor, driver and device areas overlap", q->index);
        q->hd = q->hdrv = q->hdev = NULL;
        queue_fail(m, q);
        return;
    }
    if (!q->packed && ld16(q, q->hdev) != 0)
        model_bug(m, "queue %u: used ring flags are %#x at enable (driver must initialise them to 0)", q->index, ld16(q, q->hdev));
    if (q->packed) {
        for (i = 0; i < size; i++) {
            if (ld16(q, q->hd + 16u * i + 14) & (DF_AVAIL | DF_USED)) {
                model_bug(m, "queue %u: packed descriptor ring not zero-initialised (slot %u flags %#x)", q->index, i,
                          ld16(q, q->hd + 16u * i + 14));
                break;
            }
        }
    }
    q->nslot = size;
    q->slot = (model_chain *)calloc(size, sizeof *q->slot);
    q->freel = (uint32_t *)malloc(size * sizeof *q->freel);
    q->batch = (model_chain **)malloc(size * sizeof *q->batch);
    if (q->packed) q->idbusy = (uint8_t *)calloc(65536 / 8, 1);
    else q->busy = (uint8_t *)calloc(size, 1);
    if (!q->slot || !q->freel || !q->batch || (q->packed ? !q->idbusy : !q->busy)) internal_error("out of memory");
    for (i = 0; i < size; i++) q->freel[i] = size - 1 - i;
    q->nfree = size;
    q->ready = 1;
    write_notify_policy(m, q);
}

/* ------------------------------------------------------------------ */
/* >>queues: event suppression                                         */
/* ------------------------------------------------------------------ */

/* What the device tells the driver about available-buffer notifications
   (2.7.10, 2.8.14), per knobs.notify. Written after every pass over the
   ring and at enable. */
static void write_notify_policy(model *m, mq *q)
{
    model_hostile h;
    uint32_t every = m->knobs.notify_every ? m->knobs.notify_every : 1;
    if (!q->ready || q->broken || m->knobs.gone) return;
    memset(&h, 0, sizeof h);
    h.kind = MODEL_H_EVENT;
    h.queue = q->index;
    if (q->packed) {
        uint32_t fl = EV_ENABLE, ow = 0;
        if (m->knobs.notify == MODEL_NOTIFY_NEVER) {
            fl = EV_DISABLE;
        } else if (m->knobs.notify == MODEL_NOTIFY_STALE && q->event_idx) {
            /* As QEMU 7.2 after a stalled backend: the event armed where
               the pass began, then the pass took what came meanwhile. */
            uint64_t abs = q->pass_abs;
            fl = EV_DESC;
            ow = (uint32_t)(abs % q->size) | ((1u ^ (uint32_t)((abs / q->size) & 1)) << 15);
            q->event_abs = abs;
        } else if (m->knobs.notify == MODEL_NOTIFY_EVERY && q->event_idx) {
            uint64_t abs = q->avail_abs + every - 1;
            fl = EV_DESC;
            ow = (uint32_t)(abs % q->size) | ((1u ^ (uint32_t)((abs / q->size) & 1)) << 15);
            q->event_abs = abs;
        }
        h.value = ow;
        h.flags = fl;
        if (hostile(m, &h)) return;
        q->dev_event_flags = fl;
        st16(q, q->hdev, h.value);
        st16(q, q->hdev + 2, h.flags);
    } else if (q->event_idx) {
        uint16_t ev = q->last_avail;
        if (m->knobs.notify == MODEL_NOTIFY_NEVER) ev = (uint16_t)(q->last_avail - 1);
        else if (m->knobs.notify == MODEL_NOTIFY_EVERY) ev = (uint16_t)(q->last_avail + every - 1);
        h.value = ev;
        if (hostile(m, &h)) return;
        q->avail_event = ev;
        st16(q, q->hdev, h.flags);   /* the device MUST set flags to 0 with EVENT_IDX */
        st16(q, q->hdev + 4 + 8u * q->size, h.value);
    } else {
        uint32_t fl = m->knobs.notify == MODEL_NOTIFY_NEVER ? 1u : 0u;
        h.flags = fl;
        if (hostile(m, &h)) return;
        q->used_flags = (uint16_t)fl;
        st16(q, q->hdev, h.flags);
    }
}

/* Available descriptors in the packed ring ahead of the device, without
   consuming them. */
static uint32_t packed_ahead(const mq *q)
{
    uint32_t pos = q->avail_pos, wrap = q->avail_wrap, k;
    for (k = 0; k < q->size; k++) {
        uint16_t f = ld16(q, q->hd + 16u * pos + 14);
        if ((((f & DF_AVAIL) != 0) != (wrap != 0)) || (((f & DF_USED) != 0) == (wrap != 0))) break;
        if (++pos == q->size) {
            pos = 0;
            wrap ^= 1u;
        }
    }
    return k;
}

/* Was this notification one the device asked for? */
static void account_notify(model *m, mq *q)
{
    (void)m;
    q->st.notifies++;
    if (!q->ready || q->broken) return;
    if (q->packed) {
        uint64_t now = q->avail_abs + packed_ahead(q);
        if (now - q->avail_abs > q->st.max_pending) q->st.max_pending = now - q->avail_abs;
        if (now == q->notify_abs) q->st.notifies_empty++;
        else if (q->dev_event_flags == EV_DISABLE ||
                 (q->dev_event_flags == EV_DESC && !(q->event_abs >= q->notify_abs && q->event_abs < now)))
            q->st.notifies_unwanted++;
        q->notify_abs = now;
    } else {
        uint16_t now = ld16(q, q->hdrv + 2);
        uint16_t pend = (uint16_t)(now - q->last_avail);
        if (pend <= q->size && pend > q->st.max_pending) q->st.max_pending = pend;
        if (now == q->avail_at_notify) q->st.notifies_empty++;
        else if (q->event_idx ? !need_event(q->avail_event, now, q->avail_at_notify) : (q->used_flags & 1u))
            q->st.notifies_unwanted++;
        q->avail_at_notify = now;
    }
}

/* After publishing used entries [old, new): does the driver want a
   used-buffer notification (2.7.7.2, 2.8.10)? */
static int want_interrupt_split(model *m, mq *q, uint16_t old, uint16_t newi)
{
    uint16_t flags = ld16(q, q->hdrv);
    if (q->event_idx) {
        if (flags != 0 && !(q->warned & 1u)) {
            q->warned |= 1u;
            model_bug(m, "queue %u: avail.flags is %#x but must be 0 when VIRTIO_F_EVENT_IDX is negotiated (2.7.7.1)",
                      q->index, flags);
        }
        return need_event(ld16(q, q->hdrv + 4 + 2u * q->size), newi, old);
    }
    if (flags > 1 && !(q->warned & 2u)) {
        q->warned |= 2u;
        model_bug(m, "queue %u: avail.flags is %#x (must be 0 or 1)", q->index, flags);
    }
    return !(flags & 1u);
}

static int want_interrupt_packed(model *m, mq *q, uint64_t old, uint64_t newa)
{
    uint16_t ow = ld16(q, q->hdrv), fl = ld16(q, q->hdrv + 2);
    uint32_t off, w;
    uint64_t lap, ev;
    if ((fl & 3u) == EV_ENABLE) return 1;
    if ((fl & 3u) == EV_DISABLE) return 0;
    if ((fl & 3u) == 3u || !q->event_idx) {
        if (!(q->warned & 4u)) {
            q->warned |= 4u;
            model_bug(m, "queue %u: driver event flags %#x (%s)", q->index, fl,
                      (fl & 3u) == 3u ? "reserved value" : "RING_EVENT_FLAGS_DESC without VIRTIO_F_EVENT_IDX");
        }
        return 1;
    }
    off = ow & 0x7fffu;
    w = ow >> 15;
    if (off >= q->size) {
        if (!(q->warned & 8u)) {
            q->warned |= 8u;
            model_bug(m, "queue %u: driver event offset %u beyond the ring (%u)", q->index, off, q->size);
        }
        return 0;
    }
    /* The wrap counter says which lap: this one, or (if it differs) the
       previous one. */
    lap = newa / q->size;
    if ((1u ^ (uint32_t)(lap & 1)) == w) ev = lap * q->size + off;
    else if (lap > 0) ev = (lap - 1) * q->size + off;
    else return 0;
    return ev >= old && ev < newa;
}

/* ------------------------------------------------------------------ */
/* >>queues: chains                                                    */
/* ------------------------------------------------------------------ */

static model_chain *slot_get(model *m, mq *q)
{
    model_chain *c;
    if (q->nfree == 0) {
        if (!m->priv->tainted)
            model_bug(m, "queue %u: more chains in flight than the queue size %u", q->index, q->size);
        return NULL;
    }
    c = &q->slot[q->freel[--q->nfree]];
    c->m = m;
    c->queue = q->index;
    c->id = 0;
    c->nread = c->nwrite = 0;
    c->read_len = c->write_len = 0;
    c->used_len = 0;
    c->user = NULL;
    c->priv.moved = c->priv.has_moved = 0;
    c->priv.ndesc = 0;
    c->priv.state = CS_HELD;
    q->held++;
    if (q->held > q->st.max_held) q->st.max_held = q->held;
    return c;
}

static void slot_put(mq *q, model_chain *c)
{
    c->priv.state = CS_FREE;
    q->freel[q->nfree++] = (uint32_t)(c - q->slot);
    q->held--;
}

static int add_seg(model *m, mq *q, model_chain *c, uint64_t addr, uint32_t len, int write)
{
    char what[80];
    if (!write && c->nwrite) {
        model_bug(m, "queue %u chain %u: device-readable descriptor after a device-writable one (2.7.4.2)", q->index, c->id);
        return -1;
    }
    if (len == 0) {
        q->st.zero_len++;
    } else {
        snprintf(what, sizeof what, "queue %u %s descriptor", q->index, write ? "device-writable" : "device-readable");
        if (!dma_ptr(m, addr, len, write ? P_WRITE : P_READ, what, 0)) return -1;
    }
    if (c->read_len + c->write_len + len > 0xffffffffull) {
        model_bug(m, "queue %u: descriptor chain longer than 4 GiB (2.7.5.2)", q->index);
        return -1;
    }
    if (c->nread + c->nwrite == c->priv.segcap) {
        uint32_t cap = c->priv.segcap ? c->priv.segcap * 2 : 8;
        model_seg *s = (model_seg *)realloc(c->seg, cap * sizeof *s);
        if (!s) internal_error("out of memory");
        c->seg = s;
        c->priv.segcap = cap;
    }
    c->seg[c->nread + c->nwrite].addr = addr;
    c->seg[c->nread + c->nwrite].len = len;
    c->seg[c->nread + c->nwrite].write = write ? 1u : 0u;
    if (write) {
        c->nwrite++;
        c->write_len += len;
    } else {
        c->nread++;
        c->read_len += len;
    }
    return 0;
}

static int push_didx(model_chain *c, uint32_t i)
{
    if (c->priv.ndesc == c->priv.didxcap) {
        uint32_t cap = c->priv.didxcap ? c->priv.didxcap * 2 : 8;
        uint16_t *d = (uint16_t *)realloc(c->priv.didx, cap * sizeof *d);
        if (!d) internal_error("out of memory");
        c->priv.didx = d;
        c->priv.didxcap = cap;
    }
    c->priv.didx[c->priv.ndesc++] = (uint16_t)i;
    return 0;
}

/* Indirect table of a split ring (2.7.5.3). */
static int parse_indirect_split(model *m, mq *q, model_chain *c, uint64_t addr, uint32_t len)
{
    const unsigned char *tab;
    uint32_t cnt, j = 0, steps = 0;
    char what[64];
    if (len == 0 || len % 16) {
        model_bug(m, "queue %u chain %u: indirect table length %u is not a non-zero multiple of 16", q->index, c->id, len);
        return -1;
    }
    snprintf(what, sizeof what, "queue %u indirect table", q->index);
    tab = dma_ptr(m, addr, len, P_READ, what, 0);
    if (!tab) return -1;
    cnt = len / 16;
    q->st.indirect++;
    for (;;) {
        const unsigned char *e;
        uint16_t f;
        if (j >= cnt) {
            model_bug(m, "queue %u chain %u: indirect next %u beyond the table (%u entries)", q->index, c->id, j, cnt);
            return -1;
        }
        if (steps >= cnt || steps >= q->size) {
            model_bug(m, "queue %u chain %u: indirect chain loops or is longer than the queue size %u", q->index, c->id, q->size);
            return -1;
        }
        e = tab + 16u * j;
        f = ld16(q, e + 12);
        if (f & DF_INDIRECT) {
            model_bug(m, "queue %u chain %u: INDIRECT flag inside an indirect table (2.7.5.3.1)", q->index, c->id);
            return -1;
        }
        if (add_seg(m, q, c, ld64(q, e), ld32(q, e + 8), (f & DF_WRITE) != 0)) return -1;
        if (!(f & DF_NEXT)) return 0;
        j = ld16(q, e + 14);
        steps++;
    }
}

static int parse_split(model *m, mq *q, model_chain *c, uint32_t head)
{
    uint32_t i = head, n = 0, k;
    int tainted = (int)m->priv->tainted, r = -1;
    c->priv.ndesc = 0;
    for (;;) {
        const unsigned char *d;
        uint16_t f;
        if (i >= q->size) {
            model_bug(m, "queue %u: descriptor index %u out of range (queue size %u)", q->index, i, q->size);
            goto out;
        }
        if (q->busy[i] == 2) {
            model_bug(m, "queue %u: descriptor chain from head %u loops back to descriptor %u", q->index, head, i);
            goto out;
        }
        if (q->busy[i] == 1 && !tainted) {
            model_bug(m, "queue %u: descriptor %u made available again while the device still owns it", q->index, i);
            goto out;
        }
        if (n >= q->size) {
            model_bug(m, "queue %u: descriptor chain from head %u longer than the queue size", q->index, head);
            goto out;
        }
        q->busy[i] = 2;
        push_didx(c, i);
        d = q->hd + 16u * i;
        f = ld16(q, d + 12);
        if (f & DF_INDIRECT) {
            if (!q->indirect) {
                model_bug(m, "queue %u: INDIRECT descriptor without VIRTIO_F_INDIRECT_DESC negotiated", q->index);
                goto out;
            }
            if (f & DF_NEXT) {
                model_bug(m, "queue %u: descriptor %u has both INDIRECT and NEXT (2.7.5.3.1)", q->index, i);
                goto out;
            }
            if (parse_indirect_split(m, q, c, ld64(q, d), ld32(q, d + 8))) goto out;
            break;
        }
        if (add_seg(m, q, c, ld64(q, d), ld32(q, d + 8), (f & DF_WRITE) != 0)) goto out;
        if (!(f & DF_NEXT)) break;
        i = ld16(q, d + 14);
        n++;
    }
    r = 0;
out:
    for (k = 0; k < c->priv.ndesc; k++) q->busy[c->priv.didx[k]] = r == 0 ? 1 : 0;
    return r;
}

static int packed_avail(uint16_t f, uint32_t wrap)
{
    return ((f & DF_AVAIL) != 0) == (wrap != 0) && ((f & DF_USED) != 0) != (wrap != 0);
}

/* Take the next available chain of a split ring (2.7.13). */
static model_chain *fetch_split(model *m, mq *q)
{
    uint16_t aidx = ld16(q, q->hdrv + 2), pend = (uint16_t)(aidx - q->last_avail), head;
    model_chain *c;
    if (pend == 0) return NULL;
    if (pend > q->size) {
        model_bug(m, "queue %u: avail idx %u is %u entries ahead of the device (%u): more than the queue size %u", q->index, aidx,
                  pend, q->last_avail, q->size);
        queue_fail(m, q);
        return NULL;
    }
    if (pend > q->st.max_pending) q->st.max_pending = pend;
    head = ld16(q, q->hdrv + 4 + 2u * (q->last_avail & (q->size - 1)));
    c = slot_get(m, q);
    if (!c) {
        queue_fail(m, q);
        return NULL;
    }
    c->id = head;
    if (parse_split(m, q, c, head)) {
        slot_put(q, c);
        queue_fail(m, q);
        return NULL;
    }
    q->last_avail++;
    return c;
}

/* Take the next available chain of a packed ring (2.8.21). */
static model_chain *fetch_packed(model *m, mq *q)
{
    uint32_t pos = q->avail_pos, wrap = q->avail_wrap, n = 0, id = 0;
    uint16_t f = ld16(q, q->hd + 16u * pos + 14);
    model_chain *c;
    int tainted = (int)m->priv->tainted;
    if (!packed_avail(f, wrap)) return NULL;
    c = slot_get(m, q);
    if (!c) {
        queue_fail(m, q);
        return NULL;
    }
    for (;;) {
        const unsigned char *d = q->hd + 16u * pos;
        f = ld16(q, d + 14);
        if (n >= q->size) {
            model_bug(m, "queue %u: packed chain longer than the ring (%u)", q->index, q->size);
            goto bad;
        }
        if (n > 0 && !packed_avail(f, wrap)) {
            model_bug(m, "queue %u: packed chain continues into slot %u which is not available (flags %#x, wrap %u)", q->index,
                      pos, f, wrap);
            goto bad;
        }
        id = ld16(q, d + 12);
        c->id = id;
        if (f & DF_INDIRECT) {
            uint32_t len = ld32(q, d + 8), cnt, j;
            const unsigned char *tab;
            char what[64];
            if (!q->indirect) {
                model_bug(m, "queue %u: INDIRECT descriptor without VIRTIO_F_INDIRECT_DESC negotiated", q->index);
                goto bad;
            }
            if (n > 0 || (f & DF_NEXT)) {
                model_bug(m, "queue %u: packed indirect descriptor must be alone in its chain (2.8.19)", q->index);
                goto bad;
            }
            if (len == 0 || len % 16) {
                model_bug(m, "queue %u: indirect table length %u is not a non-zero multiple of 16", q->index, len);
                goto bad;
            }
            cnt = len / 16;
            if (cnt > q->size) {
                model_bug(m, "queue %u: indirect table of %u descriptors is longer than the queue size %u", q->index, cnt,
                          q->size);
                goto bad;
            }
            snprintf(what, sizeof what, "queue %u indirect table", q->index);
            tab = dma_ptr(m, ld64(q, d), len, P_READ, what, 0);
            if (!tab) goto bad;
            q->st.indirect++;
            for (j = 0; j < cnt; j++) {
                const unsigned char *e = tab + 16u * j;
                if (add_seg(m, q, c, ld64(q, e), ld32(q, e + 8), (ld16(q, e + 14) & DF_WRITE) != 0)) goto bad;
            }
        } else if (add_seg(m, q, c, ld64(q, d), ld32(q, d + 8), (f & DF_WRITE) != 0)) {
            goto bad;
        }
        n++;
        if (++pos == q->size) {
            pos = 0;
            wrap ^= 1u;
        }
        if (!(f & DF_NEXT) || (f & DF_INDIRECT)) break;
    }
    if ((q->idbusy[id >> 3] & (1u << (id & 7))) && !tainted) {
        model_bug(m, "queue %u: buffer id %u made available again while still in flight", q->index, id);
        goto bad;
    }
    if (q->outstanding + n > q->size && !tainted) {
        model_bug(m, "queue %u: %u descriptors in flight, more than the ring holds (%u)", q->index, q->outstanding + n, q->size);
        goto bad;
    }
    q->idbusy[id >> 3] = (uint8_t)(q->idbusy[id >> 3] | (1u << (id & 7)));
    q->outstanding += n;
    c->priv.ndesc = n;
    q->avail_pos = pos;
    q->avail_wrap = wrap;
    q->avail_abs += n;
    return c;
bad:
    slot_put(q, c);
    queue_fail(m, q);
    return NULL;
}

/* The device may use queue q now (2.1.2, 3.1.1; legacy devices may be
   used before DRIVER_OK). */
static int queue_live(model *m, mq *q)
{
    P *p = m->priv;
    if (!q->ready || q->broken || p->reset_left) return 0;
    if (p->status & (MODEL_S_NEEDS_RESET | MODEL_S_FAILED)) return 0;
    if (!legacy_if(m) && !(p->status & MODEL_S_DRIVER_OK)) return 0;
    if (is_pci(m) && !(model_get16(&p->pci[4]) & 4u)) {
        if (!p->bm_warned) {
            p->bm_warned = 1;
            model_bug(m, "the device has work on queue %u but bus mastering is disabled in the PCI command register", q->index);
        }
        return 0;
    }
    return 1;
}

static model_chain *fetch(model *m, mq *q)
{
    if (m->knobs.gone || !queue_live(m, q)) return NULL;
    return q->packed ? fetch_packed(m, q) : fetch_split(m, q);
}

static uint32_t rng_next(P *p)
{
    uint32_t x = p->rng ? p->rng : 1u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p->rng = x;
    return x;
}

/* The used length the device reports for c (knobs.used_len). */
static uint32_t reported_len(const model *m, const model_chain *c)
{
    uint64_t all = c->read_len + c->write_len;
    if (m->knobs.used_len == MODEL_USED_LEN_MOVED && c->priv.has_moved) return c->priv.moved;
    if (m->knobs.used_len == MODEL_USED_LEN_CHAIN) return all > 0xffffffffu ? 0xffffffffu : (uint32_t)all;
    return c->used_len;
}

/* Write the used entries of chains list[0..n) and decide on one interrupt. */
static void publish(model *m, mq *q, model_chain **list, uint32_t n)
{
    P *p = m->priv;
    uint32_t i;
    model_hostile h;
    if (n == 0) return;
    if (n > 1 && m->knobs.order == MODEL_ORDER_REVERSE) {
        for (i = 0; i < n / 2; i++) {
            model_chain *t = list[i];
            list[i] = list[n - 1 - i];
            list[n - 1 - i] = t;
        }
    } else if (n > 1 && m->knobs.order == MODEL_ORDER_SHUFFLE) {
        if (!p->rng) p->rng = m->knobs.seed ? m->knobs.seed : 1u;
        for (i = n - 1; i > 0; i--) {
            uint32_t j = rng_next(p) % (i + 1);
            model_chain *t = list[i];
            list[i] = list[j];
            list[j] = t;
        }
    }
    if (!q->ready || q->broken || m->knobs.gone) {
        for (i = 0; i < n; i++) slot_put(q, list[i]);
        return;
    }
    for (i = 0; m->knobs.hostile && i < n; i++) {
        memset(&h, 0, sizeof h);
        h.kind = MODEL_H_RESPONSE;
        h.queue = q->index;
        h.id = list[i]->id;
        h.len = list[i]->used_len;
        h.chain = list[i];
        hostile(m, &h);
        list[i]->used_len = h.len < list[i]->write_len ? h.len : (uint32_t)list[i]->write_len;
    }
    if (q->packed) {
        uint64_t old = q->used_abs;
        for (i = 0; i < n; i++) {
            model_chain *c = list[i];
            unsigned char *d;
            uint32_t w = q->used_wrap;
            memset(&h, 0, sizeof h);
            h.kind = MODEL_H_PACKED_USED;
            h.queue = q->index;
            h.offset = q->used_pos;
            h.id = c->id;
            h.len = reported_len(m, c);
            h.flags = (w ? (DF_AVAIL | DF_USED) : 0u) | (h.len ? DF_WRITE : 0u);
            if (!hostile(m, &h)) {
                d = q->hd + 16u * (h.offset % q->size);
                st16(q, d + 12, h.id);
                st32(q, d + 8, h.len);
                st16(q, d + 14, h.flags);   /* flags last: this makes it used */
            }
            q->idbusy[c->id >> 3] = (uint8_t)(q->idbusy[c->id >> 3] & ~(1u << (c->id & 7)));
            q->outstanding -= c->priv.ndesc <= q->outstanding ? c->priv.ndesc : q->outstanding;
            q->used_abs += c->priv.ndesc;
            q->used_pos = (uint32_t)(q->used_abs % q->size);
            q->used_wrap = 1u ^ (uint32_t)((q->used_abs / q->size) & 1);
            q->st.chains++;
            m->stats.chains++;
            slot_put(q, c);
        }
        if (want_interrupt_packed(m, q, old, q->used_abs)) raise_irq(m, q);
        else q->st.interrupts_suppressed++;
    } else {
        uint16_t old = q->used_idx;
        for (i = 0; i < n; i++) {
            model_chain *c = list[i];
            uint32_t k;
            memset(&h, 0, sizeof h);
            h.kind = MODEL_H_USED_ELEM;
            h.queue = q->index;
            h.offset = q->used_idx & (q->size - 1);
            h.id = c->id;
            h.len = reported_len(m, c);
            if (!hostile(m, &h)) {
                unsigned char *e = q->hdev + 4 + 8u * (h.offset % q->size);
                st32(q, e, h.id);
                st32(q, e + 4, h.len);
            }
            q->used_idx++;
            for (k = 0; k < c->priv.ndesc; k++) q->busy[c->priv.didx[k]] = 0;
            q->st.chains++;
            m->stats.chains++;
            slot_put(q, c);
        }
        memset(&h, 0, sizeof h);
        h.kind = MODEL_H_USED_IDX;
        h.queue = q->index;
        h.value = q->used_idx;
        if (!hostile(m, &h)) st16(q, q->hdev + 2, h.value);
        if (want_interrupt_split(m, q, old, q->used_idx)) raise_irq(m, q);
        else q->st.interrupts_suppressed++;
    }
}

static uint32_t run_queue(model *m, mq *q, uint32_t max)
{
    P *p = m->priv;
    uint32_t done = 0, nb = 0;
    model_chain *c;
    if (q->flags & MODEL_QF_PULL) return 0;
    q->pass_abs = q->avail_abs;
    while ((max == 0 || done < max) && (c = fetch(m, q)) != NULL) {
        int r;
        c->used_len = 0;
        r = p->be.process(m, p->be.state, c);
        done++;
        if (r == MODEL_DONE) {
            if (c->priv.state != CS_HELD) internal_error("process() returned MODEL_DONE for a chain it already completed");
            c->priv.state = CS_DONE;
            if (c->used_len > c->write_len) internal_error("process() set used_len beyond the writable bytes");
            q->batch[nb++] = c;
        }
        if (q->broken) break;
    }
    write_notify_policy(m, q);
    publish(m, q, q->batch, nb);
    return done;
}

uint32_t model_run_queue(model *m, uint32_t qi, uint32_t max)
{
    if (qi >= m->priv->nq) return 0;
    return run_queue(m, &m->priv->q[qi], max);
}

uint32_t model_run(model *m, uint32_t max)
{
    uint32_t qi, done = 0;
    for (qi = 0; qi < m->priv->nq && (max == 0 || done < max); qi++) done += run_queue(m, &m->priv->q[qi], max ? max - done : 0);
    return done;
}

model_chain *model_pop(model *m, uint32_t qi)
{
    mq *q;
    model_chain *c;
    if (qi >= m->priv->nq) return NULL;
    q = &m->priv->q[qi];
    c = fetch(m, q);
    write_notify_policy(m, q);
    return c;
}

void model_chain_complete(model_chain *c, uint32_t used_len)
{
    model *m = c->m;
    mq *q;
    if (!m || c->queue >= m->priv->nq) internal_error("model_chain_complete on a bad chain");
    q = &m->priv->q[c->queue];
    if (c->priv.state != CS_HELD || c < q->slot || c >= q->slot + q->nslot)
        internal_error("model_chain_complete on a chain the device does not hold (completed twice, or after a reset?)");
    if (used_len > c->write_len) internal_error("model_chain_complete: used_len beyond the writable bytes");
    c->used_len = used_len;
    c->priv.state = CS_DONE;
    publish(m, q, &c, 1);
}

void model_chain_moved(model_chain *c, uint32_t bytes)
{
    c->priv.moved = bytes;
    c->priv.has_moved = 1;
}

/* Copy between the chain's segments and a flat buffer. */
static size_t chain_copy(model_chain *c, uint64_t off, void *buf, const void *src, int fill, size_t len, int write)
{
    model *m = c->m;
    uint32_t first = write ? c->nread : 0, end = write ? c->nread + c->nwrite : c->nread, i;
    size_t done = 0;
    for (i = first; i < end && done < len; i++) {
        const model_seg *g = &c->seg[i];
        uint64_t n;
        unsigned char *h;
        char what[64];
        if (off >= g->len) {
            off -= g->len;
            continue;
        }
        n = g->len - off;
        if (n > len - done) n = len - done;
        snprintf(what, sizeof what, "queue %u chain %u buffer", c->queue, c->id);
        h = dma_ptr(m, g->addr + off, n, write ? P_WRITE : P_READ, what, (int)m->priv->tainted);
        if (!h) break;
        if (!write) memcpy((unsigned char *)buf + done, h, (size_t)n);
        else if (src) memcpy(h, (const unsigned char *)src + done, (size_t)n);
        else memset(h, fill, (size_t)n);
        done += (size_t)n;
        off = 0;
    }
    return done;
}

size_t model_chain_read(model_chain *c, uint64_t off, void *dst, size_t len) { return chain_copy(c, off, dst, NULL, 0, len, 0); }
size_t model_chain_write(model_chain *c, uint64_t off, const void *src, size_t len)
{
    return chain_copy(c, off, NULL, src, 0, len, 1);
}
size_t model_chain_fill(model_chain *c, uint64_t off, int v, size_t len) { return chain_copy(c, off, NULL, NULL, v, len, 1); }

/* ------------------------------------------------------------------ */
/* >>device: status, features, reset, notifications                    */
/* ------------------------------------------------------------------ */

static uint64_t offered(const model *m)
{
    uint64_t f = m->knobs.features_override_on ? m->knobs.features_override : m->priv->be.features;
    return legacy_if(m) ? (f & 0xffffffffull) : f;
}

static void device_reset(model *m)
{
    P *p = m->priv;
    uint32_t i;
    if (p->be.reset) p->be.reset(m, p->be.state);
    for (i = 0; i < p->nq; i++) queue_reset(m, &p->q[i]);
    p->status = 0;
    p->drv_features = p->features = 0;
    p->dfsel = p->gfsel = p->qsel = 0;
    p->page_size = 0;
    p->isr = 0;
    p->msix_config = NO_VECTOR;
    p->bm_warned = 0;   /* tainted stays: lies read at probe time outlive a reset */
    if (p->o.transport == MODEL_PCI_TRANSITIONAL) p->iface = IF_NONE;
    m->stats.resets++;
}

static void iface_use(model *m, uint32_t want)
{
    P *p = m->priv;
    if (p->iface == IF_NONE) p->iface = want;
    else if (p->iface != want)
        model_bug(m, "driver mixes the legacy and the modern interface of a transitional device without a reset");
}

static uint32_t status_read(model *m)
{
    P *p = m->priv;
    m->stats.status_reads++;
    if (p->reset_left) {
        /* The reset takes effect when it completes: until then the device
           still owns its rings and buffers (knobs.reset_delay). */
        if (p->reset_left != MODEL_FOREVER && --p->reset_left == 0) device_reset(m);
        return p->reset_shown;
    }
    return p->status;
}

static int features_acceptable(model *m)
{
    P *p = m->priv;
    uint64_t off = offered(m), f = p->drv_features;
    int ok = 1;
    if (f & ~off) {
        model_bug(m, "driver accepted feature bits %#llx that the device does not offer (offered %#llx)",
                  (unsigned long long)(f & ~off), (unsigned long long)off);
        ok = 0;
    }
    if ((off & MODEL_F_VERSION_1) && !(f & MODEL_F_VERSION_1)) {
        model_bug(m, "driver on the modern interface did not accept VIRTIO_F_VERSION_1");
        ok = 0;
    }
    if (m->knobs.refuse_features_ok) ok = 0;
    if (m->knobs.require_access_platform && (off & MODEL_F_ACCESS_PLATFORM) && !(f & MODEL_F_ACCESS_PLATFORM)) ok = 0;
    if (ok && p->be.features_ok && !p->be.features_ok(m, p->be.state, f)) ok = 0;
    return ok;
}

/* Device status (2.1, 3.1.1). */
static void status_write(model *m, uint32_t v)
{
    P *p = m->priv;
    uint32_t old, nv, add, legacy = (uint32_t)legacy_if(m);
    v &= 0xffu;
    if (p->reset_left) {
        /* Asking for the reset again is harmless; anything else is not. */
        if (v) model_bug(m, "device status written (%#x) before a reset completed (status must read back 0 first)", v);
        return;
    }
    if (v == 0) {
        if (m->knobs.reset_delay && p->status) {
            p->reset_left = m->knobs.reset_delay;   /* device_reset when it completes */
            p->reset_shown = p->status;
        } else {
            device_reset(m);
        }
        return;
    }
    old = p->status & ~MODEL_S_NEEDS_RESET;
    nv = v & ~MODEL_S_NEEDS_RESET;   /* the device's bit; a driver writing it back is harmless */
    if (old & ~nv) {
        model_bug(m, "status write %#x clears bits %#x without a reset", v, old & ~nv);
        nv |= old;
    }
    add = nv & ~old;
    if ((add & MODEL_S_DRIVER) && !(nv & MODEL_S_ACKNOWLEDGE)) model_bug(m, "status DRIVER set before ACKNOWLEDGE");
    if ((add & MODEL_S_FEATURES_OK) && !legacy) {
        if (!(nv & MODEL_S_DRIVER)) model_bug(m, "status FEATURES_OK set before DRIVER");
        if (features_acceptable(m)) {
            p->features = p->drv_features;
            m->stats.features_ok++;
        } else {
            nv &= ~MODEL_S_FEATURES_OK;
            m->stats.features_refused++;
        }
    }
    if (add & MODEL_S_DRIVER_OK) {
        if (!(nv & MODEL_S_DRIVER)) model_bug(m, "status DRIVER_OK set before DRIVER");
        if (!legacy && !(nv & MODEL_S_FEATURES_OK)) model_bug(m, "status DRIVER_OK set without FEATURES_OK");
        if (legacy) {
            uint64_t off = offered(m);
            if (p->drv_features & ~off)
                model_bug(m, "driver accepted feature bits %#llx that the device does not offer",
                          (unsigned long long)(p->drv_features & ~off));
            p->features = p->drv_features;
            if (p->be.features_ok) (void)p->be.features_ok(m, p->be.state, p->features);
        }
        m->stats.driver_ok++;
    }
    p->status = nv | (p->status & MODEL_S_NEEDS_RESET);
    if ((add & MODEL_S_DRIVER_OK) && p->be.driver_ok) p->be.driver_ok(m, p->be.state);
}

static void driver_features_write(model *m, uint32_t sel, uint32_t v)
{
    P *p = m->priv;
    if (!legacy_if(m) && (p->status & MODEL_S_FEATURES_OK)) {
        model_bug(m, "driver features written after FEATURES_OK");
        return;
    }
    if (legacy_if(m) && (p->status & MODEL_S_DRIVER_OK)) {
        model_bug(m, "driver features written after DRIVER_OK");
        return;
    }
    if (sel >= 2) {
        if (v) model_bug(m, "driver feature word %u written with %#x (no such features)", sel, v);
        return;
    }
    if (sel == 0) p->drv_features = (p->drv_features & ~0xffffffffull) | v;
    else p->drv_features = (p->drv_features & 0xffffffffull) | ((uint64_t)v << 32);
}

static uint32_t device_features_word(model *m, uint32_t sel)
{
    uint64_t f = offered(m);
    return sel == 0 ? (uint32_t)f : sel == 1 ? (uint32_t)(f >> 32) : 0;
}

static void do_notify(model *m, uint32_t qi)
{
    P *p = m->priv;
    mq *q;
    if (qi >= p->nq || !p->q[qi].ready) {
        model_bug(m, "notification for queue %u, which is not enabled", qi);
        return;
    }
    q = &p->q[qi];
    if (!legacy_if(m) && !(p->status & MODEL_S_DRIVER_OK)) {
        model_bug(m, "notification for queue %u before DRIVER_OK (3.1.1)", qi);
        q->st.notifies++;
        return;
    }
    account_notify(m, q);
    if (q->flags & MODEL_QF_PULL) {
        if (p->be.notify) p->be.notify(m, p->be.state, qi);
        return;
    }
    if (p->o.mode == MODEL_IMMEDIATE) run_queue(m, q, 0);
}

/* The queue size a write of v sets (kvmtool keeps its maximum). */
static uint32_t queue_size_taken(model *m, const mq *q, uint32_t v)
{
    if (m->knobs.ignore_small_queue_size && v && v < q->max) {
        m->stats.queue_sizes_ignored++;
        return q->max;
    }
    return v;
}

static mq *sel_queue(model *m)
{
    P *p = m->priv;
    return p->qsel < p->nq ? &p->q[p->qsel] : NULL;
}

/* A queue-configuration write for the selected queue: it must exist and
   (unless legacy PCI) not be live. */
static mq *queue_for_write(model *m, const char *reg)
{
    mq *q = sel_queue(m);
    if (!q || q->max == 0) {
        model_bug(m, "%s written for queue %u, which the device does not have", reg, m->priv->qsel);
        return NULL;
    }
    if (q->ready) {
        model_bug(m, "%s written for queue %u while it is enabled", reg, q->index);
        return NULL;
    }
    return q;
}

/* ------------------------------------------------------------------ */
/* >>device config space                                               */
/* ------------------------------------------------------------------ */

/* The window a configuration access came through. In the big-endian guest
   view a legacy interface holds each multi-byte field (model_config_set)
   in the guest's order (virtio 1.2 2.4: legacy devices use the guest's
   native endian), and the register shows those bytes as QEMU does:
   virtio-mmio v1 behind its little-endian register, so a field read whole
   comes out byte-swapped (the driver swaps it back); legacy virtio-pci as
   the value (QEMU's virtio_pci_config_read swaps for a big-endian guest). */
#define CFG_MODERN 0u
#define CFG_MMIO1 1u
#define CFG_LPCI 2u

/* Where byte i of the configuration, as window win shows it, is kept in
   p->cfg (little-endian fields). */
static uint32_t cfg_pos(const model *m, uint32_t i, uint32_t win)
{
    uint32_t f = m->priv->cfg_field[i], w = f >> 4, k = f & 15u;
    if (win == CFG_MODERN || !m->bus->knobs.guest_big_endian || w < 2) return i;
    return i - k + (w - 1 - k);
}

/* Shift of byte i of a w-byte register value in window win. */
static unsigned cfg_shift(const model *m, uint32_t i, unsigned w, uint32_t win)
{
    return 8u * (win == CFG_LPCI && m->bus->knobs.guest_big_endian ? w - 1 - i : i);
}

/* Is a w-byte access at off one of a field's own accesses (virtio 1.2
   4.1.3.1, 4.2.2.2: 8-bit fields with 8-bit accesses, 16-bit ones with
   aligned 16-bit accesses, 32- and 64-bit ones with aligned 32-bit
   accesses)? Bytes of no declared field are 8-bit fields (strings,
   arrays). (Relaxed after hostile values: a device that moved its
   configuration, as legacy virtio-pci does when MSI-X is turned on
   behind the driver's back, sees the driver's accesses elsewhere.) */
static void cfg_access_check(model *m, uint32_t off, unsigned w, const char *what)
{
    P *p = m->priv;
    uint32_t a, fw, at;
    if (off >= p->cfg_size) return;
    a = p->cfg_acc[off];
    fw = a ? a >> 4 : 1u;
    at = a & 15u;
    if (fw == 8) {   /* as two 32-bit halves */
        fw = 4;
        at &= 3u;
    }
    if (w != fw || at != 0)
        model_bug(m, "device config %s at %u with width %u: the field there is %u bytes wide%s (virtio 1.2 4.1.3.1)",
                   what, off, w, a ? a >> 4 : 1u, at ? ", and this is not its start" : "");
}

/* Device configuration: reads beyond the backend's bytes (but inside the
   window the transport gives it) read 0, writes there are dropped. */
static uint32_t cfg_read(model *m, uint32_t off, unsigned w, uint32_t win)
{
    P *p = m->priv;
    uint32_t v = 0, i;
    model_hostile h;
    m->stats.config_reads++;
    if (m->knobs.gen_bump_every && ++p->cfg_reads % m->knobs.gen_bump_every == 0 &&
        (m->knobs.gen_bump_max == 0 || p->gen_bumps < m->knobs.gen_bump_max)) {
        p->generation++;
        p->gen_bumps++;
        m->stats.generation_bumps++;
    }
    if (!legacy_if(m) && (off & (w - 1))) model_bug(m, "device config read at %u with width %u is not naturally aligned", off, w);
    cfg_access_check(m, off, w, "read");
    for (i = 0; i < w; i++)
        if (off + i < p->cfg_size) v |= (uint32_t)p->cfg[cfg_pos(m, off + i, win)] << cfg_shift(m, i, w, win);
    memset(&h, 0, sizeof h);
    h.kind = MODEL_H_CONFIG_READ;
    h.offset = off;
    h.width = w;
    h.value = v;
    hostile(m, &h);
    return h.value;
}

static void cfg_write(model *m, uint32_t off, unsigned w, uint32_t v, uint32_t win)
{
    P *p = m->priv;
    uint32_t i, field = 0;
    m->stats.config_writes++;
    if (!legacy_if(m) && (off & (w - 1))) {
        model_bug(m, "device config write at %u with width %u is not naturally aligned", off, w);
        return;
    }
    if ((uint64_t)off + w > p->cfg_size) return;
    cfg_access_check(m, off, w, "write");
    if (win != CFG_MODERN && m->bus->knobs.guest_big_endian) {
        /* The backend gets the little-endian value of the bytes written. */
        for (i = 0; i < w; i++) {
            uint32_t at = cfg_pos(m, off + i, win);
            if (at < off || at >= off + w) {
                model_bug(m, "device config write at %u width %u covers part of a %u-byte field", off, w,
                          p->cfg_field[off + i] >> 4);
                return;
            }
            field |= (v >> cfg_shift(m, i, w, win) & 0xffu) << (8 * (at - off));
        }
        v = field;
    }
    if (!p->be.config_write || !p->be.config_write(m, p->be.state, off, w, v))
        model_bug(m, "device config write at %u width %u (%#x): field is read-only", off, w, v);
}

/* ------------------------------------------------------------------ */
/* >>virtio-mmio                                                       */
/* ------------------------------------------------------------------ */

static uint32_t mmio_read(model *m, uint32_t off, unsigned w)
{
    P *p = m->priv;
    int legacy = p->o.transport == MODEL_MMIO_LEGACY;
    mq *q = sel_queue(m);
    if (off >= M_CONFIG) return cfg_read(m, off - M_CONFIG, w, legacy ? CFG_MMIO1 : CFG_MODERN);
    if (w != 4 || (off & 3u)) {
        model_bug(m, "virtio-mmio register %#x read with width %u (must be 32-bit aligned)", off, w);
        return 0;
    }
    switch (off) {
    case M_MAGIC: return 0x74726976u;
    case M_VERSION: return legacy ? 1u : 2u;
    case M_DEVICE_ID: return p->be.device_id;
    case M_VENDOR_ID: return MODEL_VENDOR_ID;
    case M_DEV_FEAT: return device_features_word(m, p->dfsel);
    case M_QUEUE_NUM_MAX: return q ? q->max : 0;
    case M_INT_STATUS: return p->isr;
    case M_STATUS: return status_read(m);
    default: break;
    }
    if (legacy && off == M_QUEUE_PFN) return q ? q->pfn : 0;
    if (!legacy) {
        switch (off) {
        case M_QUEUE_READY: return q ? q->ready : 0;
        case M_CONFIG_GEN: return p->generation;
        case M_SHM_LEN_LO:
        case M_SHM_LEN_HI:
        case M_SHM_BASE_LO:
        case M_SHM_BASE_HI: return 0xffffffffu;   /* no shared memory regions */
        case M_QUEUE_RESET: return 0;
        default: break;
        }
    }
    model_bug(m, "read of virtio-mmio register %#x (write-only or not present in version %d)", off, legacy ? 1 : 2);
    return 0;
}

static void mmio_write(model *m, uint32_t off, unsigned w, uint32_t v)
{
    P *p = m->priv;
    int legacy = p->o.transport == MODEL_MMIO_LEGACY;
    mq *q;
    if (off >= M_CONFIG) {
        cfg_write(m, off - M_CONFIG, w, v, p->o.transport == MODEL_MMIO_LEGACY ? CFG_MMIO1 : CFG_MODERN);
        return;
    }
    if (w != 4 || (off & 3u)) {
        model_bug(m, "virtio-mmio register %#x written with width %u (must be 32-bit aligned)", off, w);
        return;
    }
    switch (off) {
    case M_DEV_FEAT_SEL: p->dfsel = v; return;
    case M_DRV_FEAT: driver_features_write(m, p->gfsel, v); return;
    case M_DRV_FEAT_SEL: p->gfsel = v; return;
    case M_QUEUE_SEL: p->qsel = v; return;
    case M_QUEUE_NUM:
        if ((q = queue_for_write(m, "QueueNum")) != NULL) q->size = queue_size_taken(m, q, v);
        return;
    case M_QUEUE_NOTIFY: do_notify(m, v); return;
    case M_INT_ACK:
        if (v & ~3u) strict_bug(m, "InterruptACK %#x sets undefined bits (virtio 1.2 4.2.2.2)", v);
        p->isr &= ~v;
        return;
    case M_STATUS: status_write(m, v); return;
    default: break;
    }
    if (legacy) {
        switch (off) {
        case M_GUEST_PAGE_SIZE: p->page_size = v; return;
        case M_QUEUE_ALIGN:
            q = sel_queue(m);
            if (!q || q->max == 0) model_bug(m, "QueueAlign written for queue %u, which the device does not have", p->qsel);
            else q->align = v;
            return;
        case M_QUEUE_PFN:
            q = sel_queue(m);
            if (!q || q->max == 0) {
                model_bug(m, "QueuePFN written for queue %u, which the device does not have", p->qsel);
                return;
            }
            if (v == 0) {
                queue_reset(m, q);
                return;
            }
            if (q->ready) {
                model_bug(m, "QueuePFN of queue %u rewritten while in use", q->index);
                return;
            }
            q->pfn = v;
            queue_enable(m, q);
            return;
        default: break;
        }
    } else {
        switch (off) {
        case M_QUEUE_READY:
            q = sel_queue(m);
            if (!q || q->max == 0) {
                model_bug(m, "QueueReady written for queue %u, which the device does not have", p->qsel);
                return;
            }
            if (v == 1) queue_enable(m, q);
            else if (v == 0) queue_reset(m, q);
            else model_bug(m, "QueueReady written with %u", v);
            return;
        case M_QUEUE_DESC_LO:
        case M_QUEUE_DESC_HI:
        case M_QUEUE_DRV_LO:
        case M_QUEUE_DRV_HI:
        case M_QUEUE_DEV_LO:
        case M_QUEUE_DEV_HI: {
            uint64_t *a;
            q = queue_for_write(m, "queue address");
            if (!q) return;
            a = off < M_QUEUE_DRV_LO ? &q->desc : off < M_QUEUE_DEV_LO ? &q->drv : &q->dev;
            if (off & 4u) *a = (*a & 0xffffffffull) | ((uint64_t)v << 32);
            else *a = (*a & ~0xffffffffull) | v;
            return;
        }
        case M_SHM_SEL: return;
        case M_QUEUE_RESET: model_bug(m, "QueueReset written but VIRTIO_F_RING_RESET is not offered"); return;
        default: break;
        }
    }
    model_bug(m, "write of virtio-mmio register %#x (read-only or not present in version %d)", off, legacy ? 1 : 2);
}

/* ------------------------------------------------------------------ */
/* >>virtio-pci modern: common, ISR, notify                            */
/* ------------------------------------------------------------------ */

static unsigned common_width(uint32_t off)
{
    switch (off) {
    case C_DFSELECT: case C_DF: case C_GFSELECT: case C_GF: return 4;
    case C_STATUS: case C_GENERATION: return 1;
    case C_MSIX_CONFIG: case C_NUM_QUEUES: case C_Q_SELECT: case C_Q_SIZE: case C_Q_MSIX: case C_Q_ENABLE:
    case C_Q_NOFF: case C_Q_NOTIF_DATA: case C_Q_RESET: case C_ADMIN_INDEX: case C_ADMIN_NUM: return 2;
    default: break;
    }
    if (off >= C_Q_DESC && off < C_Q_NOTIF_DATA && (off & 3u) == 0) return 4;   /* 64-bit fields as 32-bit halves */
    return 0;
}

static uint16_t msix_vector_accept(model *m, uint32_t v)
{
    /* Without MSI-X (or beyond the table) the device answers NO_VECTOR. */
    if (v == NO_VECTOR || v >= m->priv->o.msix_vectors) return NO_VECTOR;
    return (uint16_t)v;
}

static uint32_t common_read(model *m, uint32_t off, unsigned w)
{
    P *p = m->priv;
    mq *q = sel_queue(m);
    if (off >= COMMON_LEN) return 0;   /* inside the capability's length, past the registers */
    if (common_width(off) != w) {
        model_bug(m, "common config offset %u read with width %u (field width %u)", off, w, common_width(off));
        return 0;
    }
    if (off != C_DFSELECT && off != C_DF && off != C_NUM_QUEUES && off != C_GENERATION) iface_use(m, IF_MODERN);
    switch (off) {
    case C_DFSELECT: return p->dfsel;
    case C_DF: return device_features_word(m, p->dfsel);
    case C_GFSELECT: return p->gfsel;
    case C_GF: return p->gfsel < 2 ? (uint32_t)(p->drv_features >> (32 * p->gfsel)) : 0;
    case C_MSIX_CONFIG: return p->msix_config;
    case C_NUM_QUEUES: return p->nq;
    case C_STATUS: return status_read(m);
    case C_GENERATION: return p->generation & 0xffu;
    case C_Q_SELECT: return p->qsel;
    case C_Q_SIZE: return q ? q->size : 0;
    case C_Q_MSIX: return q ? q->msix : NO_VECTOR;
    case C_Q_ENABLE: return q ? q->ready : 0;
    case C_Q_NOFF: return q ? p->lay.queue_notify_off[q->index] : 0;
    case C_Q_NOTIF_DATA: return 0;
    case C_Q_RESET: return 0;
    case C_ADMIN_INDEX: return p->nq;
    case C_ADMIN_NUM: return 0;
    default: break;
    }
    if (!q) return 0;
    {
        uint64_t a = off < C_Q_DRIVER ? q->desc : off < C_Q_DEVICE ? q->drv : q->dev;
        return (off & 4u) ? (uint32_t)(a >> 32) : (uint32_t)a;
    }
}

static void common_write(model *m, uint32_t off, unsigned w, uint32_t v)
{
    P *p = m->priv;
    mq *q;
    if (off >= COMMON_LEN) return;
    if (common_width(off) != w) {
        model_bug(m, "common config offset %u written with width %u (field width %u)", off, w, common_width(off));
        return;
    }
    if (off != C_STATUS || v != 0) iface_use(m, IF_MODERN);   /* a reset through either interface starts afresh */
    switch (off) {
    case C_DFSELECT: p->dfsel = v; return;
    case C_GFSELECT: p->gfsel = v; return;
    case C_GF: driver_features_write(m, p->gfsel, v); return;
    case C_MSIX_CONFIG: p->msix_config = msix_vector_accept(m, v); return;
    case C_STATUS: status_write(m, v); return;
    case C_Q_SELECT: p->qsel = v; return;
    case C_Q_SIZE:
        if ((q = queue_for_write(m, "queue_size")) != NULL) {
            if (v == 0) model_bug(m, "queue_size of queue %u written with 0", q->index);
            q->size = queue_size_taken(m, q, v);
            q->told = 0;
        }
        return;
    case C_Q_MSIX:
        q = sel_queue(m);
        if (!q || q->max == 0) model_bug(m, "queue_msix_vector written for queue %u, which the device does not have", p->qsel);
        else q->msix = msix_vector_accept(m, v);
        return;
    case C_Q_ENABLE:
        q = sel_queue(m);
        if (!q || q->max == 0) model_bug(m, "queue_enable written for queue %u, which the device does not have", p->qsel);
        else if (v != 1) model_bug(m, "queue_enable of queue %u written with %u (the driver MUST NOT write 0)", q->index, v);
        else {
            /* A device lays the ring out with the size it last said: a
               driver can only believe what it read back. */
            if (q->told && !q->ready) q->size = q->told;
            q->told = 0;
            queue_enable(m, q);
        }
        return;
    case C_Q_RESET: model_bug(m, "queue_reset written but VIRTIO_F_RING_RESET is not offered"); return;
    case C_DF: case C_NUM_QUEUES: case C_GENERATION: case C_Q_NOFF: case C_Q_NOTIF_DATA: case C_ADMIN_INDEX: case C_ADMIN_NUM:
        model_bug(m, "write to read-only common config field at offset %u", off);
        return;
    default: break;
    }
    q = queue_for_write(m, "queue address");
    if (q) {
        uint64_t *a = off < C_Q_DRIVER ? &q->desc : off < C_Q_DEVICE ? &q->drv : &q->dev;
        if (off & 4u) *a = (*a & 0xffffffffull) | ((uint64_t)v << 32);
        else *a = (*a & ~0xffffffffull) | v;
    }
}

/* A write at offset off of the notify structure: queue v's notify address
   is queue_notify_off(v) * notify_off_multiplier (4.1.4.4). */
static void notify_write(model *m, uint32_t off, unsigned w, uint32_t v)
{
    P *p = m->priv;
    if (w != 2) {
        model_bug(m, "queue notification written with width %u (16-bit without VIRTIO_F_NOTIFICATION_DATA)", w);
        return;
    }
    if (v >= p->nq) {
        model_bug(m, "queue notification with value %u at notify offset %u: no such queue", v, off);
        return;
    }
    if ((uint64_t)p->lay.queue_notify_off[v] * p->lay.notify_mul != off) {
        model_bug(m, "queue notification for queue %u at notify offset %u, not at its address %llu (queue_notify_off %u * multiplier %u)",
                  v, off, (unsigned long long)p->lay.queue_notify_off[v] * p->lay.notify_mul, p->lay.queue_notify_off[v],
                  p->lay.notify_mul);
        return;
    }
    iface_use(m, IF_MODERN);
    do_notify(m, v);
}

/* ------------------------------------------------------------------ */
/* >>virtio-pci legacy I/O header                                      */
/* ------------------------------------------------------------------ */

static uint32_t legacy_hdr(const model *m) { return msix_enabled(m) ? 24u : 20u; }

static unsigned legacy_width(const model *m, uint32_t off)
{
    switch (off) {
    case L_HOST_FEATURES: case L_GUEST_FEATURES: case L_QUEUE_PFN: return 4;
    case L_QUEUE_NUM: case L_QUEUE_SEL: case L_QUEUE_NOTIFY: return 2;
    case L_STATUS: case L_ISR: return 1;
    case L_MSIX_CONFIG: case L_MSIX_QUEUE: return msix_enabled(m) ? 2u : 0u;
    default: return 0;
    }
}

static uint32_t legacy_read(model *m, uint32_t off, unsigned w)
{
    P *p = m->priv;
    mq *q = sel_queue(m);
    uint32_t v;
    if (off >= legacy_hdr(m)) return cfg_read(m, off - legacy_hdr(m), w, CFG_LPCI);
    if (legacy_width(m, off) != w) {
        model_bug(m, "legacy virtio-pci register %u read with width %u", off, w);
        return 0;
    }
    iface_use(m, IF_LEGACY);
    switch (off) {
    case L_HOST_FEATURES: return device_features_word(m, 0);
    case L_GUEST_FEATURES: return (uint32_t)p->drv_features;
    case L_QUEUE_PFN: return q ? q->pfn : 0;
    case L_QUEUE_NUM: return q ? q->max : 0;
    case L_QUEUE_SEL: return p->qsel;
    case L_STATUS: return status_read(m);
    case L_ISR:
        v = p->isr;
        p->isr = 0;
        return v;
    case L_MSIX_CONFIG: return p->msix_config;
    case L_MSIX_QUEUE: return q ? q->msix : NO_VECTOR;
    default: break;
    }
    model_bug(m, "read of write-only legacy virtio-pci register %u", off);
    return 0;
}

static void legacy_write(model *m, uint32_t off, unsigned w, uint32_t v)
{
    P *p = m->priv;
    mq *q;
    if (off >= legacy_hdr(m)) {
        cfg_write(m, off - legacy_hdr(m), w, v, CFG_LPCI);
        return;
    }
    if (legacy_width(m, off) != w) {
        model_bug(m, "legacy virtio-pci register %u written with width %u", off, w);
        return;
    }
    if (off != L_STATUS || v != 0) iface_use(m, IF_LEGACY);
    switch (off) {
    case L_GUEST_FEATURES: driver_features_write(m, 0, v); return;
    case L_QUEUE_PFN:
        q = sel_queue(m);
        if (!q || q->max == 0) {
            model_bug(m, "queue PFN written for queue %u, which the device does not have", p->qsel);
            return;
        }
        if (v == 0) {
            queue_reset(m, q);
            return;
        }
        if (q->ready) {
            model_bug(m, "queue PFN of queue %u rewritten while in use", q->index);
            return;
        }
        q->pfn = v;
        /* Legacy PCI queues have the device's size, the one it announced:
           a device that lied about it lays the ring out as it said (it
           cannot blame the driver for a ring it described itself). */
        q->size = q->told && q->told < q->max ? q->told : q->max;
        queue_enable(m, q);
        return;
    case L_QUEUE_SEL: p->qsel = v; return;
    case L_QUEUE_NOTIFY: do_notify(m, v); return;
    case L_STATUS: status_write(m, v); return;
    case L_MSIX_CONFIG: p->msix_config = msix_vector_accept(m, v); return;
    case L_MSIX_QUEUE:
        q = sel_queue(m);
        if (!q || q->max == 0) model_bug(m, "queue MSI-X vector written for queue %u, which the device does not have", p->qsel);
        else q->msix = msix_vector_accept(m, v);
        return;
    default: break;
    }
    model_bug(m, "write to read-only legacy virtio-pci register %u", off);
}

/* ------------------------------------------------------------------ */
/* >>register decoding                                                 */
/* ------------------------------------------------------------------ */

#define T_NONE 0u
#define T_HOLE 100u
#define T_EMPTY 101u
#define T_OFF 102u    /* inside a BAR whose decoding is off; off = BAR index */

typedef struct target {
    model *m;
    uint32_t block, off;
} target;

/* Which structure of the device's BARs is at offset off of BAR i. */
static uint32_t bar_block(const model *m, uint32_t i, uint64_t off, uint32_t *boff)
{
    const P *p = m->priv;
    *boff = (uint32_t)off;
    if (p->bars[i].type == BAR_IO) return MODEL_REGS_LEGACY;
    if (p->o.msix_vectors && i == 1) return MODEL_REGS_MSIX;
    if (i != p->mem_bar) return T_HOLE;
    {   /* each structure where its capability says (PCI LAYOUT) */
        static const uint32_t blocks[5] = { 0, MODEL_REGS_COMMON, MODEL_REGS_NOTIFY, MODEL_REGS_ISR, MODEL_REGS_DEVCFG };
        uint32_t t;
        for (t = MODEL_CAP_COMMON; t <= MODEL_CAP_DEVICE; t++) {
            const model_pci_cap *c = &p->lay.cap[t];
            if (!c->omit && c->bar == i && off >= c->offset && off - c->offset < c->length) {
                *boff = (uint32_t)(off - c->offset);
                return blocks[t];
            }
        }
    }
    return T_HOLE;
}

static void decode(model_bus *b, int space, uintptr_t addr, target *t)
{
    struct model_bus_priv *bp = b->priv;
    unsigned d, i;
    t->m = NULL;
    t->block = T_NONE;
    t->off = 0;
    for (d = 0; d < bp->ndev; d++) {
        model *m = bp->dev[d];
        P *p = m->priv;
        if (is_mmio(m)) {
            if (space == VIRTIO_SPACE_MEM && addr >= p->o.mmio_base && addr - p->o.mmio_base < MMIO_WINDOW) {
                t->m = m;
                t->block = MODEL_REGS_MMIO;
                t->off = (uint32_t)(addr - p->o.mmio_base);
                return;
            }
            continue;
        }
        for (i = 0; i < 6; i++) {
            const bar *r = &p->bars[i];
            uint16_t cmd = model_get16(&p->pci[4]);
            if (r->type == BAR_NONE || r->type == BAR_MEM64_HI || r->addr == 0) continue;
            if ((r->type == BAR_IO) != (space == VIRTIO_SPACE_IO)) continue;
            if ((uint64_t)addr >= r->addr && (uint64_t)addr - r->addr < r->size) {
                t->m = m;
                if (!(cmd & (r->type == BAR_IO ? 1u : 2u))) {
                    t->block = T_OFF;
                    t->off = i;
                    return;
                }
                t->block = bar_block(m, i, (uint64_t)addr - r->addr, &t->off);
                return;
            }
        }
    }
    for (i = 0; i < bp->nempty; i++) {
        if (space == VIRTIO_SPACE_MEM && addr >= bp->empty[i] && addr - bp->empty[i] < MMIO_WINDOW) {
            t->block = T_EMPTY;
            t->off = (uint32_t)(addr - bp->empty[i]);
            return;
        }
    }
}

static uint32_t msix_read(model *m, uint32_t off, unsigned w)
{
    P *p = m->priv;
    uint32_t v = 0, i;
    if (w != 4 || (off & 3u)) {
        model_bug(m, "MSI-X table/PBA read at %#x with width %u (DWORD accesses only)", off, w);
        return 0;
    }
    if (off < 16u * p->o.msix_vectors) {
        for (i = 0; i < 4; i++) v |= (uint32_t)p->msix_tab[off + i] << (8 * i);
        return v;
    }
    return 0;   /* PBA: nothing pending */
}

static void msix_write(model *m, uint32_t off, unsigned w, uint32_t v)
{
    P *p = m->priv;
    if (w != 4 || (off & 3u)) {
        model_bug(m, "MSI-X table written at %#x with width %u (DWORD accesses only)", off, w);
        return;
    }
    if (off < 16u * p->o.msix_vectors) model_put32(p->msix_tab + off, v);
    else if (off >= MSIX_PBA) model_bug(m, "write to the read-only MSI-X PBA");
}

static uint32_t block_read(model *m, uint32_t block, uint32_t off, unsigned w)
{
    P *p = m->priv;
    uint32_t v = 0;
    model_hostile h;
    switch (block) {
    case MODEL_REGS_MMIO:
        if (off >= M_CONFIG) return mmio_read(m, off, w);   /* hostile CONFIG_READ inside */
        v = mmio_read(m, off, w);
        break;
    case MODEL_REGS_COMMON: v = common_read(m, off, w); break;
    case MODEL_REGS_ISR:
        if (w != 1) model_bug(m, "ISR status read at offset %u width %u (8-bit field)", off, w);
        if (off != 0) break;   /* inside the capability's length, past the register: 0 */
        v = p->isr;
        p->isr = 0;   /* reading acknowledges */
        break;
    case MODEL_REGS_DEVCFG: return cfg_read(m, off, w, CFG_MODERN);   /* the capability's length bounds it */
    case MODEL_REGS_NOTIFY: model_bug(m, "read of a queue notification address (write-only)"); break;
    case MODEL_REGS_LEGACY:
        if (off >= legacy_hdr(m)) return legacy_read(m, off, w);
        v = legacy_read(m, off, w);
        break;
    case MODEL_REGS_MSIX: v = msix_read(m, off, w); break;
    default: model_bug(m, "read at offset %#x of a device BAR where no virtio structure is (outside every capability)", off); return 0xffffffffu;
    }
    memset(&h, 0, sizeof h);
    h.kind = MODEL_H_REG_READ;
    h.block = block;
    h.offset = off;
    h.width = w;
    h.value = v;
    hostile(m, &h);
    if (block == MODEL_REGS_LEGACY && off == L_QUEUE_NUM && sel_queue(m)) sel_queue(m)->told = h.value & 0xffffu;
    if (block == MODEL_REGS_COMMON && off == C_Q_SIZE && w == 2 && sel_queue(m) && !sel_queue(m)->ready)
        sel_queue(m)->told = h.value & 0xffffu;
    return h.value;
}

static void block_write(model *m, uint32_t block, uint32_t off, unsigned w, uint32_t v)
{
    switch (block) {
    case MODEL_REGS_MMIO: mmio_write(m, off, w, v); break;
    case MODEL_REGS_COMMON: common_write(m, off, w, v); break;
    case MODEL_REGS_ISR: model_bug(m, "write to the read-only ISR status"); break;
    case MODEL_REGS_DEVCFG: cfg_write(m, off, w, v, CFG_MODERN); break;
    case MODEL_REGS_NOTIFY: notify_write(m, off, w, v); break;
    case MODEL_REGS_LEGACY: legacy_write(m, off, w, v); break;
    case MODEL_REGS_MSIX: msix_write(m, off, w, v); break;
    default: model_bug(m, "write at offset %#x of a device BAR where no virtio structure is (outside every capability)", off); break;
    }
}

static uint32_t empty_read(uint32_t off)
{
    switch (off) {
    case M_MAGIC: return 0x74726976u;
    case M_VERSION: return 2;
    case M_VENDOR_ID: return MODEL_VENDOR_ID;
    default: return 0;
    }
}

static int width_ok(unsigned w) { return w == 1 || w == 2 || w == 4; }

/* reset_delay lowered while a reset is in progress: it ends sooner. */
static void reset_clamp(model *m)
{
    if (m->priv->reset_left > m->knobs.reset_delay) {
        m->priv->reset_left = m->knobs.reset_delay;
        if (m->priv->reset_left == 0) device_reset(m);
    }
}

static uint32_t ones(unsigned w) { return w >= 4 ? 0xffffffffu : (1u << (8 * w)) - 1u; }

/* A removed device (knobs.gone, or gone_after running out) answers
   nothing: 1 if this access finds it gone (counted). */
static int gone_now(model *m)
{
    if (m->knobs.gone_after && --m->knobs.gone_after == 0) m->knobs.gone = 1;
    if (m->knobs.gone) m->stats.gone_accesses++;
    return m->knobs.gone != 0;
}

static const char *space_name(int space) { return space == VIRTIO_SPACE_IO ? "I/O" : "MEM"; }

/* An access where the driver has no business: nothing decodes the address,
   or the BAR that would is switched off. Strict whatever the device said:
   the library must stay inside windows it validated (virtio 1.2 4.1.4). */
static int outside(model_bus *b, const target *t, int space, uintptr_t addr, unsigned width, const char *dir)
{
    if (t->m && t->block != T_OFF) return 0;
    b->stats.unmapped_reg_accesses++;
    if (!t->m)
        bus_bug(b, "register %s (%s, width %u) at %#llx: no BAR and no MMIO window decodes this address", dir, space_name(space),
                width, (unsigned long long)addr);
    else
        strict_bug(t->m, "register %s (%s, width %u) at %#llx in BAR %u while the command register has its decoding off", dir,
                   space_name(space), width, (unsigned long long)addr, t->off);
    return 1;
}

static uint32_t hook_reg_read(void *user, int space, uintptr_t addr, unsigned width)
{
    model_bus *b = (model_bus *)user;
    target t;
    b->priv->clock += b->knobs.reg_cost_us;
    decode(b, space, addr, &t);
    if (t.block == T_EMPTY) return empty_read(t.off);
    if (t.m) t.m->stats.reg_reads++;
    /* A removed device's windows master-abort: all-ones, not a driver bug. */
    if (t.m && gone_now(t.m)) return ones(width);
    if (outside(b, &t, space, addr, width, "read")) return ones(width);
    reset_clamp(t.m);
    if (!width_ok(width)) {
        model_bug(t.m, "register read with width %u", width);
        return 0xffffffffu;
    }
    return block_read(t.m, t.block, t.off, width);
}

static void hook_reg_write(void *user, int space, uintptr_t addr, unsigned width, uint32_t value)
{
    model_bus *b = (model_bus *)user;
    target t;
    b->priv->clock += b->knobs.reg_cost_us;
    decode(b, space, addr, &t);
    if (t.block == T_EMPTY) {
        bus_proto_bug(b, "register write at %#lx in an empty virtio-mmio slot", (unsigned long)addr);
        return;
    }
    if (t.m) t.m->stats.reg_writes++;
    if (t.m && gone_now(t.m)) return;
    if (outside(b, &t, space, addr, width, "write")) return;
    reset_clamp(t.m);
    if (!width_ok(width)) {
        model_bug(t.m, "register write with width %u", width);
        return;
    }
    if (width < 4) value &= (1u << (8 * width)) - 1u;
    block_write(t.m, t.block, t.off, width, value);
}

/* ------------------------------------------------------------------ */
/* >>PCI configuration space                                           */
/* ------------------------------------------------------------------ */

static void bar_sync(P *p, uint32_t i)
{
    const bar *r = &p->bars[i];
    uint32_t v = 0;
    switch (r->type) {
    case BAR_IO: v = ((uint32_t)r->addr & ~3u) | 1u; break;
    case BAR_MEM32: v = (uint32_t)r->addr & ~0xfu; break;
    case BAR_MEM64: v = ((uint32_t)r->addr & ~0xfu) | 4u; break;
    case BAR_MEM64_HI: v = (uint32_t)(p->bars[i - 1].addr >> 32); break;
    default: v = 0; break;
    }
    model_put32(&p->pci[0x10 + 4 * i], v);
}

static void bar_write(P *p, uint32_t i, uint32_t v)
{
    bar *r = &p->bars[i];
    switch (r->type) {
    case BAR_IO: r->addr = (uint64_t)(v & ~3u) & ~(r->size - 1) & 0xffffffffull; break;
    case BAR_MEM32: r->addr = (uint64_t)(v & ~0xfu) & ~(r->size - 1) & 0xffffffffull; break;
    case BAR_MEM64: r->addr = (r->addr & ~0xffffffffull) | ((uint64_t)(v & ~0xfu) & ~(r->size - 1) & 0xffffffffull); break;
    case BAR_MEM64_HI: p->bars[i - 1].addr = (p->bars[i - 1].addr & 0xffffffffull) | ((uint64_t)v << 32); break;
    default: break;
    }
    bar_sync(p, i);
    if (r->type == BAR_MEM64) bar_sync(p, i + 1);
    if (r->type == BAR_MEM64_HI) bar_sync(p, i - 1);
}

/* The VIRTIO_PCI_CAP_PCI_CFG window (4.1.4.9): an access to pci_cfg_data
   goes to cap.bar at cap.offset with cap.length bytes. */
static uint32_t pcicfg_access(model *m, int write, uint32_t v)
{
    P *p = m->priv;
    uint32_t c = p->cap_pcicfg, i = p->pci[c + 4], off = model_get32(&p->pci[c + 8]), len = model_get32(&p->pci[c + 12]);
    uint32_t block, boff = 0;
    if (i > 5 || p->bars[i].type == BAR_NONE || p->bars[i].type == BAR_MEM64_HI) {
        model_bug(m, "VIRTIO_PCI_CAP_PCI_CFG access to BAR %u, which the device does not have", i);
        return 0;
    }
    if ((len != 1 && len != 2 && len != 4) || (off & (len - 1)) || off >= p->bars[i].size) {
        model_bug(m, "VIRTIO_PCI_CAP_PCI_CFG access with length %u at offset %#x", len, off);
        return 0;
    }
    block = bar_block(m, i, off, &boff);
    if (write) {
        block_write(m, block, boff, len, len < 4 ? (v & ((1u << (8 * len)) - 1u)) : v);
        return 0;
    }
    return block_read(m, block, boff, len);
}

/* Is config byte range [off, off+w) inside one capability's cap_len? */
static int in_capability(const P *p, uint32_t off, unsigned w)
{
    uint32_t i;
    for (i = 0; i < p->nspan; i++)
        if (off >= p->span_lo[i] && off + w <= p->span_hi[i]) return 1;
    return 0;
}

static uint32_t pci_read(model *m, uint32_t off, unsigned w)
{
    P *p = m->priv;
    uint32_t v = 0, i;
    model_hostile h;
    m->stats.pci_reads++;
    if (gone_now(m)) return ones(w);   /* master abort */
    if (off >= 0x40 && !in_capability(p, off, w)) {
        m->stats.cap_overreads++;
        model_bug(m, "PCI config read at %#x width %u outside every capability (past a capability's cap_len, or off the list)",
                  off, w);
    }
    if (off < 256) {
        if (p->cap_pcicfg && off >= p->cap_pcicfg + 16 && off < p->cap_pcicfg + 20) {
            v = pcicfg_access(m, 0, 0) >> (8 * (off - p->cap_pcicfg - 16));
        } else {
            for (i = 0; i < w; i++) v |= (uint32_t)p->pci[off + i] << (8 * i);
        }
    }
    if (w < 4) v &= (1u << (8 * w)) - 1u;
    if (off >= 0x10 && off < 0x28) return v;   /* the BARs are the decoder itself: no lies */
    memset(&h, 0, sizeof h);
    h.kind = MODEL_H_PCI_READ;
    h.offset = off;
    h.width = w;
    h.value = v;
    hostile(m, &h);
    return h.value;
}

static void pci_write(model *m, uint32_t off, unsigned w, uint32_t v)
{
    P *p = m->priv;
    uint32_t dw = off & ~3u, sh = 8 * (off & 3u), mask, old, nv;
    m->stats.pci_writes++;
    if (gone_now(m) || off >= 256) return;
    mask = (w == 4 ? 0xffffffffu : ((1u << (8 * w)) - 1u)) << sh;
    old = model_get32(&p->pci[dw]);
    nv = (old & ~mask) | ((v << sh) & mask);
    if (dw == 0x00 || dw == 0x08 || dw == 0x2c || (dw == 0x34 && (mask & 0xffu))) {
        model_bug(m, "write to read-only PCI config register %#x", off);
        return;
    }
    if (dw == 0x04) {
        if (mask & 0xffffu) model_put16(&p->pci[4], (uint16_t)(nv & 0x0547u));
        return;   /* status bits are RW1C; nothing to clear */
    }
    if (dw >= 0x10 && dw < 0x28) {
        uint32_t i = (dw - 0x10) / 4, type = p->bars[i].type == BAR_MEM64_HI ? BAR_MEM64 : p->bars[i].type;
        uint16_t cmd = model_get16(&p->pci[4]);
        /* Firmware sizes and assigns BARs with decoding off: a BAR that
           moves while it decodes may briefly claim someone else's range. */
        if (type != BAR_NONE && (cmd & (type == BAR_IO ? 1u : 2u)) && nv != old)
            model_bug(m, "BAR %u written with %#x while the command register decodes it (size or move BARs with decoding off)", i, nv);
        bar_write(p, i, nv);
        return;
    }
    if (dw == 0x3c) {
        if (mask & 0xffu) p->pci[0x3c] = (uint8_t)nv;
        return;
    }
    if (p->cap_msix && dw == p->cap_msix) {
        if (mask & 0xffff0000u) {
            uint16_t ctl = model_get16(&p->pci[dw + 2]);
            ctl = (uint16_t)((ctl & 0x3fffu) | ((nv >> 16) & 0xc000u));
            model_put16(&p->pci[dw + 2], ctl);
        }
        return;
    }
    if (p->cap_pcicfg && dw >= p->cap_pcicfg && dw < p->cap_pcicfg + 20) {
        uint32_t c = p->cap_pcicfg;
        if (dw == c + 4) {
            if (mask & 0xffu) p->pci[c + 4] = (uint8_t)nv;
        } else if (dw == c + 8 || dw == c + 12) {
            model_put32(&p->pci[dw], nv);
        } else if (dw == c + 16) {
            if (off != c + 16) model_bug(m, "partial write of pci_cfg_data at %#x", off);
            else pcicfg_access(m, 1, v);
        } else {
            model_bug(m, "write to read-only field of the PCI_CFG capability at %#x", off);
        }
        return;
    }
    if (dw >= 0x40) model_bug(m, "write to read-only PCI capability byte %#x", off);
}

static model *bdf_device(model_bus *b, uint32_t bdf)
{
    unsigned d;
    for (d = 0; d < b->priv->ndev; d++)
        if (is_pci(b->priv->dev[d]) && b->priv->dev[d]->priv->o.bdf == bdf) return b->priv->dev[d];
    return NULL;
}

static uint32_t hook_pci_read(void *user, uint32_t bdf, unsigned offset, unsigned width)
{
    model_bus *b = (model_bus *)user;
    model *m = bdf_device(b, bdf);
    b->priv->clock += b->knobs.reg_cost_us;
    if (!width_ok(width) || (offset & (width - 1)) || offset + width > 4096) {
        bus_proto_bug(b, "PCI config read of %02x:%02x.%u offset %#x width %u (must be 1, 2 or 4 bytes, aligned, below 4096)", bdf >> 8,
                (bdf >> 3) & 31u, bdf & 7u, offset, width);
        return 0xffffffffu;
    }
    if (!m) return width == 4 ? 0xffffffffu : (1u << (8 * width)) - 1u;   /* no function there */
    return pci_read(m, offset, width);
}

static void hook_pci_write(void *user, uint32_t bdf, unsigned offset, unsigned width, uint32_t value)
{
    model_bus *b = (model_bus *)user;
    model *m = bdf_device(b, bdf);
    b->priv->clock += b->knobs.reg_cost_us;
    if (!width_ok(width) || (offset & (width - 1)) || offset + width > 4096) {
        bus_proto_bug(b, "PCI config write of %02x:%02x.%u offset %#x width %u", bdf >> 8, (bdf >> 3) & 31u, bdf & 7u, offset, width);
        return;
    }
    if (!m) {
        bus_proto_bug(b, "PCI config write to %02x:%02x.%u where there is no function", bdf >> 8, (bdf >> 3) & 31u, bdf & 7u);
        return;
    }
    if (width < 4) value &= (1u << (8 * width)) - 1u;
    pci_write(m, offset, width, value);
}

static uint32_t next_pow2(uint32_t v)
{
    uint32_t r = 1;
    while (r < v) r <<= 1;
    return r;
}

/* Transitional device IDs (4.1.2.1). */
static uint32_t transitional_id(uint32_t type)
{
    switch (type) {
    case 1: return 0x1000;
    case 2: return 0x1001;
    case 5: return 0x1002;
    case 3: return 0x1003;
    case 8: return 0x1004;
    case 4: return 0x1005;
    case 9: return 0x1009;
    default: return 0x103f;
    }
}

static int clash(const model *a, const model *b);

/* Claim config bytes [at, at+len) for a capability (cap_len: what reads may
   touch; the written bytes may be more). */
static void add_span(P *p, uint32_t at, uint32_t len)
{
    uint32_t end = at + len > 256 ? 256 : at + len;
    if (p->nspan < 8 && end > at) {
        p->span_lo[p->nspan] = at;
        p->span_hi[p->nspan++] = end;
    }
}

/* Write one capability's bytes at `at` (those below 256) and link it in. */
static void put_cap(P *p, uint32_t *prev, uint32_t at, const uint8_t *bytes, uint32_t n)
{
    uint32_t i;
    p->pci[*prev] = (uint8_t)at;
    for (i = 0; i < n && at + i < 256; i++) p->pci[at + i] = bytes[i];
    *prev = at + 1;
}

static void vcap_bytes(uint8_t *c, uint32_t type, const model_pci_cap *vc, uint32_t cap_len)
{
    memset(c, 0, 20);
    c[0] = CAP_VENDOR;
    c[2] = (uint8_t)cap_len;
    c[3] = (uint8_t)type;
    c[4] = (uint8_t)vc->bar;
    model_put32(c + 8, vc->offset);
    model_put32(c + 12, vc->length);
}

/* Does the layout describe a device the library cannot see through
   (model.h PCI LAYOUT)? Then it is tainted like a lying device. */
static int layout_unresolvable(const P *p, const uint32_t *wlo, const uint32_t *whi, uint32_t nw)
{
    const model_pci_layout *l = &p->lay;
    uint32_t t, u;
    for (t = MODEL_CAP_COMMON; t <= MODEL_CAP_DEVICE; t++) {
        const model_pci_cap *c = &l->cap[t];
        if (c->omit) continue;
        if (c->bar < 6 && c->bar != p->mem_bar && p->bars[c->bar].type != BAR_NONE && p->bars[c->bar].type != BAR_MEM64_HI)
            return 1;   /* another BAR of ours: the structure is not what the driver finds there */
        for (u = t + 1; u <= MODEL_CAP_DEVICE; u++) {
            const model_pci_cap *d = &l->cap[u];
            if (!d->omit && c->bar == p->mem_bar && d->bar == p->mem_bar &&
                ranges_overlap(c->offset, c->length, d->offset, d->length) && c->offset < l->bar_size && d->offset < l->bar_size)
                return 1;   /* two structures claim the same registers */
        }
    }
    for (t = 0; t < nw; t++)
        for (u = t + 1; u < nw; u++)
            if (ranges_overlap(wlo[t], whi[t] - wlo[t], wlo[u], whi[u] - wlo[u])) return 1;
    return 0;
}

/* The memory BARs where firmware would put them: the structures BAR at
   o.bar_mem aligned to its size, the MSI-X BAR at o.bar_msix, unless a
   layout grew the structures BAR over it (from 2 MiB with the defaults):
   then just below the structures BAR, since no firmware lets two BARs
   overlap (the driver's accesses would reach the other one). */
static void place_bars(P *p)
{
    uint64_t base = p->o.bar_mem & ~(p->lay.bar_size - 1), x = p->o.bar_msix & ~(uint64_t)(MSIX_BAR_SIZE - 1);
    if (p->mem_bar < 6) p->bars[p->mem_bar].addr = base;
    if (p->o.msix_vectors) {
        if (p->mem_bar < 6 && ranges_overlap(x, MSIX_BAR_SIZE, base, p->lay.bar_size))
            x = base >= MSIX_BAR_SIZE ? base - MSIX_BAR_SIZE : base + p->lay.bar_size;
        p->bars[1].addr = x;
    }
}

/* Rebuild the capability list from p->lay (and the MSI-X / PCI_CFG
   capabilities) and size the structures BAR. */
static void apply_layout(model *m)
{
    P *p = m->priv;
    const model_pci_layout *l = &p->lay;
    static const uint32_t order[4] = { MODEL_CAP_COMMON, MODEL_CAP_NOTIFY, MODEL_CAP_ISR, MODEL_CAP_DEVICE };
    uint32_t at = 0x40, prev = 0x34, k, wlo[8], whi[8], nw = 0;
    uint16_t msix_ctl = p->cap_msix ? model_get16(&p->pci[p->cap_msix + 2]) : 0;
    uint8_t c[20];
    memset(p->pci + 0x40, 0, 256 - 0x40);
    p->pci[0x34] = 0;
    p->nspan = 0;
    p->cap_msix = p->cap_pcicfg = 0;
    if (p->o.msix_vectors) {
        memset(c, 0, sizeof c);
        c[0] = CAP_MSIX;
        model_put16(c + 2, (uint16_t)((p->o.msix_vectors - 1) | (msix_ctl & 0xc000u)));
        model_put32(c + 4, 1u);                 /* table: BAR 1 offset 0 */
        model_put32(c + 8, MSIX_PBA | 1u);      /* PBA: BAR 1 offset 0x800 */
        put_cap(p, &prev, at, c, 12);
        p->cap_msix = at;
        add_span(p, at, 12);
        wlo[nw] = at, whi[nw++] = at + 12;
        at += 12;
    }
    for (k = 0; k < 4; k++) {
        uint32_t t = order[k], std = t == MODEL_CAP_NOTIFY ? 20u : 16u, pos;
        const model_pci_cap *vc = &l->cap[t];
        uint32_t len = vc->cap_len ? vc->cap_len : std, wrote = len > std ? len : std;
        if (vc->omit) continue;
        pos = vc->at ? vc->at : at;
        if (pos + 2 > 256) continue;   /* no room left for an automatic one */
        vcap_bytes(c, t, vc, len);
        if (t == MODEL_CAP_NOTIFY) model_put32(c + 16, l->notify_mul);
        put_cap(p, &prev, pos, c, std);
        add_span(p, pos, len < 3 ? 3 : len);   /* id, next and cap_len are read to learn the rest */
        wlo[nw] = pos, whi[nw++] = pos + wrote;
        if (!vc->at) at = pos + ((wrote + 3u) & ~3u);
    }
    if (at + 20 <= 256) {   /* VIRTIO_PCI_CAP_PCI_CFG: a window onto the BARs */
        model_pci_cap w;
        memset(&w, 0, sizeof w);
        vcap_bytes(c, VCAP_PCI_CFG, &w, 20);
        put_cap(p, &prev, at, c, 20);
        p->cap_pcicfg = at;
        add_span(p, at, 20);
        wlo[nw] = at, whi[nw++] = at + 20;
    }
    p->pci[6] = p->pci[0x34] ? 0x10 : 0;   /* capability list */
    p->bars[p->mem_bar].size = l->bar_size;
    place_bars(p);
    bar_sync(p, p->mem_bar);
    if (p->o.bar64) bar_sync(p, p->mem_bar + 1);
    if (p->o.msix_vectors) bar_sync(p, 1);
    if (layout_unresolvable(p, wlo, whi, nw)) p->tainted = 1;
}

/* The layout model_new gives a modern device (model.h). */
static void default_layout(const P *p, model_pci_layout *l)
{
    uint64_t notify_len = p->o.notify_mul ? (uint64_t)(p->nq - 1) * p->o.notify_mul + 2 : 2, size = 0x4000;
    uint32_t i;
    memset(l, 0, sizeof *l);
    for (i = MODEL_CAP_COMMON; i <= MODEL_CAP_DEVICE; i++) l->cap[i].bar = p->o.bar_mem_index;
    l->cap[MODEL_CAP_COMMON].offset = BAR_COMMON;
    l->cap[MODEL_CAP_COMMON].length = COMMON_LEN;
    l->cap[MODEL_CAP_ISR].offset = BAR_ISR;
    l->cap[MODEL_CAP_ISR].length = 1;
    l->cap[MODEL_CAP_DEVICE].offset = BAR_DEVCFG;
    l->cap[MODEL_CAP_DEVICE].length = p->cfg_size;
    l->cap[MODEL_CAP_DEVICE].omit = p->cfg_size == 0;
    l->cap[MODEL_CAP_NOTIFY].offset = BAR_NOTIFY;
    l->cap[MODEL_CAP_NOTIFY].length = (uint32_t)notify_len;
    while (size < BAR_NOTIFY + notify_len) size <<= 1;
    l->bar_size = size;
    l->notify_mul = p->o.notify_mul;
    for (i = 0; i < p->nq; i++) l->queue_notify_off[i] = (uint16_t)i;
}

static void build_pci(model *m)
{
    P *p = m->priv;
    const model_options *o = &p->o;
    uint32_t t = o->transport, modern = t == MODEL_PCI_MODERN || t == MODEL_PCI_TRANSITIONAL;
    uint32_t legacy = t == MODEL_PCI_TRANSITIONAL || t == MODEL_PCI_LEGACY, i, cls;
    memset(p->pci, 0, sizeof p->pci);
    model_put16(&p->pci[0], VENDOR_PCI);
    model_put16(&p->pci[2], (uint16_t)(o->pci_device_id ? o->pci_device_id
                                       : t == MODEL_PCI_MODERN ? 0x1040u + p->be.device_id
                                                               : transitional_id(p->be.device_id)));
    model_put16(&p->pci[4], (uint16_t)(o->pci_enabled ? 7u : 0u));
    p->pci[8] = t == MODEL_PCI_MODERN ? 1 : 0;
    cls = p->be.pci_class ? p->be.pci_class : 0xff0000u;
    p->pci[9] = (uint8_t)cls;
    p->pci[10] = (uint8_t)(cls >> 8);
    p->pci[11] = (uint8_t)(cls >> 16);
    p->pci[0x0e] = o->multifunction ? 0x80 : 0;
    model_put16(&p->pci[0x2c], VENDOR_PCI);
    model_put16(&p->pci[0x2e], (uint16_t)(t == MODEL_PCI_MODERN ? 0x40u : p->be.device_id));
    p->pci[0x3c] = 0xff;
    p->pci[0x3d] = 1;
    memset(p->bars, 0, sizeof p->bars);
    if (legacy) {
        p->io_size = next_pow2(24 + p->cfg_size);
        if (p->io_size < 32) p->io_size = 32;
        p->bars[0].type = BAR_IO;
        p->bars[0].size = p->io_size;
        p->bars[0].addr = o->bar_io & ~(uint64_t)(p->io_size - 1);
    }
    if (o->msix_vectors) {
        p->bars[1].type = BAR_MEM32;
        p->bars[1].size = MSIX_BAR_SIZE;
        p->bars[1].addr = o->bar_msix & ~(uint64_t)(MSIX_BAR_SIZE - 1);
    }
    p->mem_bar = 6;
    if (modern) {
        p->mem_bar = o->bar_mem_index;
        p->bars[p->mem_bar].type = o->bar64 ? BAR_MEM64 : BAR_MEM32;
        if (o->bar64) p->bars[p->mem_bar + 1].type = BAR_MEM64_HI;
        default_layout(p, &p->lay);
        p->lay0 = p->lay;
    }
    for (i = 0; i < 6; i++) bar_sync(p, i);
    if (modern) {
        apply_layout(m);
    } else if (o->msix_vectors) {   /* legacy: the MSI-X capability alone */
        uint8_t c[12];
        uint32_t prev = 0x34;
        memset(c, 0, sizeof c);
        c[0] = CAP_MSIX;
        model_put16(c + 2, (uint16_t)(o->msix_vectors - 1));
        model_put32(c + 4, 1u);
        model_put32(c + 8, MSIX_PBA | 1u);
        put_cap(p, &prev, 0x40, c, 12);
        p->cap_msix = 0x40;
        add_span(p, 0x40, 12);
        p->pci[6] = 0x10;
    }
    p->msix_config = NO_VECTOR;
}

int model_pci_layout_get(const model *m, model_pci_layout *l)
{
    if (!m || !l || m->priv->mem_bar > 5) return -1;
    *l = m->priv->lay;
    return 0;
}

int model_pci_layout_set(model *m, const model_pci_layout *l)
{
    P *p;
    model_pci_layout old;
    bar saved, saved_msix;
    uint32_t t, d;
    if (!m || !l || m->priv->mem_bar > 5) return -1;
    p = m->priv;
    if (!is_pow2(l->bar_size) || l->bar_size < 16 || l->bar_size > 0x80000000ull) return -1;
    for (t = MODEL_CAP_COMMON; t <= MODEL_CAP_DEVICE; t++)
        if (l->cap[t].at && ((l->cap[t].at & 3u) || l->cap[t].at < 0x40 || l->cap[t].at > 0xfc)) return -1;
    old = p->lay;
    saved = p->bars[p->mem_bar];
    p->lay = *l;
    p->bars[p->mem_bar].size = l->bar_size;
    saved_msix = p->bars[1];
    place_bars(p);
    for (d = 0; d < m->bus->priv->ndev; d++) {
        if (m->bus->priv->dev[d] != m && clash(m, m->bus->priv->dev[d])) {
            p->lay = old;
            p->bars[p->mem_bar] = saved;
            p->bars[1] = saved_msix;
            return -1;
        }
    }
    apply_layout(m);
    return 0;
}

void model_pci_layout_reset(model *m)
{
    if (m && m->priv->mem_bar <= 5) (void)model_pci_layout_set(m, &m->priv->lay0);
}

/* ------------------------------------------------------------------ */
/* >>objects                                                           */
/* ------------------------------------------------------------------ */

model_bus *model_bus_new(void)
{
    model_bus *b = (model_bus *)calloc(1, sizeof *b);
    if (!b) return NULL;
    b->priv = (struct model_bus_priv *)calloc(1, sizeof *b->priv);
    if (!b->priv) {
        free(b);
        return NULL;
    }
    b->knobs.dma_mode = MODEL_DMA_WINDOW;
    b->knobs.dma_base = 0x740000000ull;
    b->knobs.clock_step_us = 1000;
    b->knobs.guest_big_endian = MODEL_GUEST_BIG_ENDIAN;
    b->platform.user = b;
    b->platform.reg_read = hook_reg_read;
    b->platform.reg_write = hook_reg_write;
    b->platform.pci_read = hook_pci_read;
    b->platform.pci_write = hook_pci_write;
    b->platform.pci_buses = 1;
    b->platform.dma_alloc = hook_dma_alloc;
    b->platform.dma_free = hook_dma_free;
    b->platform.dma_map = hook_dma_map;
    b->platform.dma_unmap = hook_dma_unmap;
    b->platform.mb = hook_barrier;
    b->platform.rmb = hook_barrier;
    b->platform.wmb = hook_barrier;
    b->platform.now_us = hook_now_us;
    b->platform.idle = hook_idle;
    b->platform.timeout_ms = 1000;
    b->platform.log = hook_log;
    return b;
}

void model_bus_free(model_bus *b)
{
    size_t i;
    if (!b) return;
    while (b->priv->ndev) model_free(b->priv->dev[b->priv->ndev - 1]);
    for (i = 0; i < b->priv->n; i++) free(b->priv->r[i].raw);
    free(b->priv->r);
    free(b->priv);
    free(b);
}

int model_bus_add_mmio_empty(model_bus *b, uintptr_t base)
{
    if (b->priv->nempty == MODEL_MAX_DEVICES) return -1;
    b->priv->empty[b->priv->nempty++] = base;
    return 0;
}

void model_options_init(model_options *o, uint32_t transport)
{
    memset(o, 0, sizeof *o);
    o->transport = transport;
    o->mode = MODEL_IMMEDIATE;
    o->mmio_base = 0x10001000u;
    o->bdf = 0x0008;
    o->bar_mem = 0xfe000000u;
    o->bar_mem_index = 4;
    o->bar_io = 0xc000;
    o->bar_msix = 0xfe100000u;
    o->notify_mul = 4;
}

/* Do two devices answer at the same addresses? */
static int clash(const model *a, const model *b)
{
    const P *pa = a->priv, *pb = b->priv;
    uint32_t i, j;
    if (is_mmio(a) && is_mmio(b)) return ranges_overlap(pa->o.mmio_base, MMIO_WINDOW, pb->o.mmio_base, MMIO_WINDOW);
    if (is_pci(a) && is_pci(b)) {
        if (pa->o.bdf == pb->o.bdf) return 1;
        for (i = 0; i < 6; i++)
            for (j = 0; j < 6; j++)
                if (pa->bars[i].type != BAR_NONE && pa->bars[i].type != BAR_MEM64_HI && pb->bars[j].type != BAR_NONE &&
                    pb->bars[j].type != BAR_MEM64_HI && (pa->bars[i].type == BAR_IO) == (pb->bars[j].type == BAR_IO) &&
                    ranges_overlap(pa->bars[i].addr, pa->bars[i].size, pb->bars[j].addr, pb->bars[j].size))
                    return 1;
        return 0;
    }
    {
        const model *mm = is_mmio(a) ? a : b, *pm = is_mmio(a) ? b : a;
        for (i = 0; i < 6; i++)
            if (pm->priv->bars[i].type == BAR_MEM32 || pm->priv->bars[i].type == BAR_MEM64)
                if (ranges_overlap(mm->priv->o.mmio_base, MMIO_WINDOW, pm->priv->bars[i].addr, pm->priv->bars[i].size)) return 1;
    }
    return 0;
}

static const char *transport_name(uint32_t t)
{
    switch (t) {
    case MODEL_MMIO: return "mmio";
    case MODEL_MMIO_LEGACY: return "mmio-v1";
    case MODEL_PCI_MODERN: return "pci";
    case MODEL_PCI_TRANSITIONAL: return "pci-transitional";
    case MODEL_PCI_LEGACY: return "pci-legacy";
    default: return "?";
    }
}

model *model_new(model_bus *b, const model_options *o, const model_backend *be)
{
    model *m;
    P *p;
    uint32_t i;
    const char *why = NULL;
    if (!b || !o || !be) return NULL;
    if (o->transport < MODEL_MMIO || o->transport > MODEL_PCI_LEGACY) why = "unknown transport";
    else if (!be->process || be->num_queues == 0 || be->num_queues > MODEL_MAX_QUEUES) why = "backend without process() or queues";
    else if (be->config_size > 0x1000 - 0x100) why = "config space too large";
    else if (o->msix_vectors > 256) why = "too many MSI-X vectors";
    else if ((o->transport == MODEL_PCI_MODERN || o->transport == MODEL_PCI_TRANSITIONAL) &&
             (o->bar_mem_index + (o->bar64 ? 1u : 0u) > 5 ||
              (o->transport == MODEL_PCI_TRANSITIONAL && o->bar_mem_index == 0) ||
              (o->msix_vectors && (o->bar_mem_index == 1 || (o->bar64 && o->bar_mem_index == 0)))))
        why = "bad bar_mem_index (BAR 0 is the legacy I/O BAR, BAR 1 the MSI-X BAR)";
    else if (o->notify_mul & 1u) why = "notify_mul must be even (4.1.4.4)";
    else if (b->priv->ndev == MODEL_MAX_DEVICES) why = "too many devices";
    for (i = 0; !why && i < be->num_queues; i++)
        if (be->queue_max[i] > MODEL_MAX_QUEUE_SIZE) why = "queue_max beyond 32768";
    if (why) {
        snprintf(b->priv->last_bug, sizeof b->priv->last_bug, "model_new: %s", why);
        if (be && be->destroy) be->destroy(be->state);
        return NULL;
    }
    m = (model *)calloc(1, sizeof *m);
    p = m ? (P *)calloc(1, sizeof *p) : NULL;
    if (!p) {
        free(m);
        if (be->destroy) be->destroy(be->state);
        return NULL;
    }
    m->bus = b;
    m->priv = p;
    p->o = *o;
    p->be = *be;
    p->nq = be->num_queues;
    p->cfg_size = be->config_size;
    p->cfg = (uint8_t *)calloc(p->cfg_size ? p->cfg_size : 1, 1);
    p->cfg_field = (uint8_t *)calloc(p->cfg_size ? p->cfg_size : 1, 1);
    p->cfg_acc = (uint8_t *)calloc(p->cfg_size ? p->cfg_size : 1, 1);
    p->q = (mq *)calloc(p->nq, sizeof *p->q);
    p->msix_tab = o->msix_vectors ? (uint8_t *)calloc(o->msix_vectors, 16) : NULL;
    if (!p->cfg || !p->cfg_field || !p->cfg_acc || !p->q || (o->msix_vectors && !p->msix_tab)) {
        free(p->cfg);
        free(p->cfg_field);
        free(p->cfg_acc);
        free(p->q);
        free(p->msix_tab);
        free(p);
        free(m);
        if (be->destroy) be->destroy(be->state);
        return NULL;
    }
    for (i = 0; i < o->msix_vectors; i++) model_put32(p->msix_tab + 16u * i + 12, 1u);   /* vectors start masked */
    for (i = 0; i < p->nq; i++) {
        mq *q = &p->q[i];
        q->index = i;
        q->max = be->queue_max[i];
        q->flags = be->queue_flags[i];
        queue_reset(m, q);
    }
    p->iface = o->transport == MODEL_MMIO_LEGACY || o->transport == MODEL_PCI_LEGACY ? IF_LEGACY
               : o->transport == MODEL_PCI_TRANSITIONAL                              ? IF_NONE
                                                                                     : IF_MODERN;
    p->msix_config = NO_VECTOR;
    if (is_pci(m)) build_pci(m);
    if (is_mmio(m))
        snprintf(p->name, sizeof p->name, "%s/%s@%#lx", be->name ? be->name : "dev", transport_name(o->transport),
                 (unsigned long)o->mmio_base);
    else
        snprintf(p->name, sizeof p->name, "%s/%s@%02x:%02x.%u", be->name ? be->name : "dev", transport_name(o->transport),
                 o->bdf >> 8, (o->bdf >> 3) & 31u, o->bdf & 7u);
    m->knobs.needs_reset_on_bug = 1;
    m->knobs.seed = 1;
    m->knobs.notify_every = 1;
    m->knobs.strict_legacy_framing = 1;
    for (i = 0; i < b->priv->ndev; i++) {
        if (clash(m, b->priv->dev[i])) {
            snprintf(b->priv->last_bug, sizeof b->priv->last_bug, "model_new: %s clashes with %s", p->name,
                     b->priv->dev[i]->priv->name);
            b->priv->dev[b->priv->ndev] = m;   /* so model_free finds it */
            b->priv->ndev++;
            model_free(m);
            return NULL;
        }
    }
    b->priv->dev[b->priv->ndev++] = m;
    return m;
}

void model_free(model *m)
{
    struct model_bus_priv *bp;
    P *p;
    unsigned d;
    uint32_t i;
    if (!m) return;
    bp = m->bus->priv;
    p = m->priv;
    for (d = 0; d < bp->ndev; d++) {
        if (bp->dev[d] == m) {
            memmove(&bp->dev[d], &bp->dev[d + 1], (bp->ndev - d - 1) * sizeof bp->dev[0]);
            bp->ndev--;
            break;
        }
    }
    if (p->be.destroy) p->be.destroy(p->be.state);
    for (i = 0; i < p->nq; i++) queue_free_state(&p->q[i]);
    free(p->q);
    free(p->cfg);
    free(p->cfg_field);
    free(p->cfg_acc);
    free(p->msix_tab);
    free(p);
    free(m);
}

uintptr_t model_mmio_base(const model *m) { return m->priv->o.mmio_base; }
/* Firmware's addresses again in every BAR (a driver's probe writes back
   what it read while sizing a BAR: after a lie there, the lie). */
void model_pci_reset_bars(model *m)
{
    P *p = m->priv;
    uint32_t i;
    if (is_mmio(m)) return;
    if (p->bars[0].type == BAR_IO) p->bars[0].addr = p->o.bar_io & ~(uint64_t)(p->io_size - 1);
    place_bars(p);
    for (i = 0; i < 6; i++) bar_sync(p, i);
}

uint32_t model_pci_bdf(const model *m) { return m->priv->o.bdf; }
uint32_t model_transport(const model *m) { return m->priv->o.transport; }
uint8_t *model_config(model *m) { return m->priv->cfg; }

void model_config_set(model *m, uint32_t off, unsigned width, uint64_t v)
{
    P *p = m->priv;
    unsigned i;
    if ((width != 1 && width != 2 && width != 4 && width != 8) || off > p->cfg_size || width > p->cfg_size - off)
        internal_error("model_config_set outside the configuration space");
    for (i = 0; i < width; i++) {
        p->cfg[off + i] = (uint8_t)(v >> (8 * i));
        p->cfg_field[off + i] = (uint8_t)(width << 4 | i);
        p->cfg_acc[off + i] = (uint8_t)(width << 4 | i);
    }
}

void model_config_field(model *m, uint32_t off, unsigned width, uint32_t count)
{
    P *p = m->priv;
    uint32_t i;
    if ((width != 1 && width != 2 && width != 4 && width != 8) || off > p->cfg_size ||
        (uint64_t)width * count > p->cfg_size - off)
        internal_error("model_config_field outside the configuration space");
    for (i = 0; i < width * count; i++) p->cfg_acc[off + i] = (uint8_t)(width == 1 ? 0 : width << 4 | i % width);
}

int model_guest_be(const model *m) { return legacy_if(m) && m->bus->knobs.guest_big_endian; }
const model_backend *model_backend_of(const model *m) { return &m->priv->be; }
uint32_t model_config_size(const model *m) { return m->priv->cfg_size; }
uint32_t model_status(const model *m) { return m->priv->status; }
uint64_t model_features(const model *m) { return m->priv->features; }
int model_is_legacy(const model *m) { return legacy_if(m); }
int model_tainted(const model *m) { return m->priv->tainted != 0; }
int model_reset_pending(const model *m) { return m->priv->reset_left != 0; }

void model_set_queue_max(model *m, uint32_t qi, uint32_t max)
{
    mq *q;
    if (qi >= m->priv->nq) return;
    q = &m->priv->q[qi];
    q->max = max > MODEL_MAX_QUEUE_SIZE ? MODEL_MAX_QUEUE_SIZE : max;
    if (!q->ready && is_pci(m)) q->size = q->max;
    if (!q->ready) q->told = 0;
}

int model_queue_ready(const model *m, uint32_t qi) { return qi < m->priv->nq && m->priv->q[qi].ready && !m->priv->q[qi].broken; }
uint32_t model_queue_size(const model *m, uint32_t qi) { return qi < m->priv->nq ? m->priv->q[qi].size : 0; }
model_qstats *model_queue_stats(model *m, uint32_t qi) { return qi < m->priv->nq ? &m->priv->q[qi].st : NULL; }
uint32_t model_held(const model *m, uint32_t qi) { return qi < m->priv->nq ? m->priv->q[qi].held : 0; }

void model_hostile_queue_live(void *user, model *m, model_hostile *h)
{
    (void)user;
    (void)m;
    if (h->kind == MODEL_H_REG_READ && ((h->block == MODEL_REGS_COMMON && h->offset == 28) ||
                                        (h->block == MODEL_REGS_MMIO && h->offset == 0x44)))
        h->value = 1;
}
