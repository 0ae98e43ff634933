/* SPDX-License-Identifier: MIT OR Unlicense */
/* model_gpu.c - virtio-gpu 2D backend of the software VirtIO device
   (virtio 1.2 section 5.7). See model_gpu.h. */
#include "model_gpu.h"

#include <stdlib.h>
#include <string.h>

/* struct virtio_gpu_config (5.7.4). */
#define GC_EVENTS_READ 0u
#define GC_EVENTS_CLEAR 4u
#define GC_NUM_SCANOUTS 8u
#define GC_NUM_CAPSETS 12u
#define GC_BYTES 16u

/* struct virtio_gpu_ctrl_hdr: type, flags, fence_id, ctx_id, ring_idx, pad. */
#define HDR 24u
#define DISPLAY_INFO_BYTES (HDR + 16u * 24u)
#define EDID_RESP_BYTES (HDR + 8u + 1024u)
#define CURSOR_CMD 56u
#define MAX_ENTRIES 16384u

typedef struct entry {
    uint64_t addr;
    uint32_t len;
} entry;

typedef struct res {
    uint32_t id, format, width, height;
    uint8_t *px;                /* host storage, width * height * 4 */
    entry *ent;                 /* backing, NULL when detached */
    uint32_t nent;
    uint64_t backing_len;
} res;

typedef struct scanout {
    uint32_t width, height, connected;   /* the display */
    uint32_t res_id;                     /* shown resource, 0 = off */
    uint32_t rx, ry, rw, rh;             /* SET_SCANOUT rectangle in the resource */
    uint8_t *screen;                     /* rw * rh * 4 */
} scanout;

typedef struct gpu {
    model_gpu_options o;
    res **r;
    uint32_t nres, capres;
    uint64_t host_used;
    scanout so[MODEL_GPU_MAX_SCANOUTS];
    model_gpu_cursor cursor;
    model_gpu_knobs knobs;
    model_gpu_stats stats;
} gpu;

/* A parsed control request and the response being built. */
typedef struct req {
    uint8_t hdr[HDR];
    uint32_t type, flags;
    model_chain *c;
} req;

static int gpu_process(model *m, void *state, model_chain *c);

static gpu *gpu_of(model *m)
{
    const model_backend *be = model_backend_of(m);
    return be && be->process == gpu_process ? (gpu *)be->state : NULL;
}

void model_gpu_options_init(model_gpu_options *o)
{
    uint32_t i;
    memset(o, 0, sizeof *o);
    o->features = MODEL_F_VERSION_1 | MODEL_F_RING_PACKED | MODEL_F_EVENT_IDX | MODEL_F_INDIRECT_DESC | MODEL_GPU_F_EDID;
    o->num_scanouts = 1;
    for (i = 0; i < MODEL_GPU_MAX_SCANOUTS; i++) {
        o->width[i] = 1024;
        o->height[i] = 768;
    }
    o->queue_size = 256;
    o->host_memory = 64u << 20;
}

static res *find(gpu *g, uint32_t id)
{
    uint32_t i;
    if (id == 0) return NULL;
    for (i = 0; i < g->nres; i++)
        if (g->r[i]->id == id) return g->r[i];
    return NULL;
}

static int format_ok(uint32_t f)
{
    return (f >= 1 && f <= 4) || f == 67 || f == 68 || f == 121 || f == 134;
}

/* Is (x, y, w, h) a nonempty rectangle inside a w0 x h0 area? */
static int rect_in(uint32_t x, uint32_t y, uint32_t w, uint32_t h, uint32_t w0, uint32_t h0)
{
    return w && h && x < w0 && y < h0 && w <= w0 - x && h <= h0 - y;
}

static void scanout_off(scanout *s)
{
    free(s->screen);
    s->screen = NULL;
    s->res_id = 0;
    s->rx = s->ry = s->rw = s->rh = 0;
}

static void res_free(gpu *g, res *r)
{
    g->host_used -= (uint64_t)r->width * r->height * 4u;
    free(r->px);
    free(r->ent);
    free(r);
}

/* Copy backing bytes [off, off + len) into dst through the entries. */
static int backing_read(model *m, const res *r, uint64_t off, uint8_t *dst, uint64_t len)
{
    uint32_t i;
    for (i = 0; i < r->nent && len; i++) {
        uint64_t n;
        if (off >= r->ent[i].len) {
            off -= r->ent[i].len;
            continue;
        }
        n = r->ent[i].len - off;
        if (n > len) n = len;
        if (model_dma_read(m, r->ent[i].addr + off, dst, (size_t)n, "gpu backing") != 0) return -1;
        dst += n;
        len -= n;
        off = 0;
    }
    return len ? -1 : 0;
}

/* >>gpu.edid
   A 128-byte EDID 1.4 block whose first detailed timing is the display
   size at 60 Hz with a simple fixed blanking. */
void model_gpu_edid(model *m, uint32_t idx, uint8_t e[128])
{
    static const uint8_t magic[8] = { 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00 };
    static const char name[13] = { 'M', 'O', 'D', 'E', 'L', ' ', 'G', 'P', 'U', '\n', ' ', ' ', ' ' };
    gpu *g = gpu_of(m);
    uint32_t w = 1024, h = 768, hb = 160, vb = 30, clock, i, sum = 0;
    uint8_t *d;
    memset(e, 0, 128);
    if (g && idx < MODEL_GPU_MAX_SCANOUTS && g->so[idx].connected) {
        w = g->so[idx].width;
        h = g->so[idx].height;
    }
    if (w > 4095) w = 4095;   /* 12-bit fields */
    if (h > 4095) h = 4095;
    memcpy(e, magic, 8);
    e[8] = 0x34;              /* manufacturer "MDL", 5-bit letters, big-endian */
    e[9] = 0x8c;
    e[10] = 0x01;             /* product code */
    e[12] = (uint8_t)(idx + 1);   /* serial number */
    e[16] = 1;                /* week */
    e[17] = 2026 - 1990;      /* year */
    e[18] = 1;                /* EDID 1.4 */
    e[19] = 4;
    e[20] = 0xa5;             /* digital, 8 bits per colour, DisplayPort */
    e[21] = 52;               /* 52 x 29 cm */
    e[22] = 29;
    e[23] = 120;              /* gamma 2.2 */
    e[24] = 0x06;             /* RGB 4:4:4, preferred timing is native */
    for (i = 38; i < 54; i++) e[i] = 1;   /* standard timings unused */
    d = e + 54;
    clock = ((w + hb) * (h + vb) * 60u + 5000u) / 10000u;   /* 10 kHz units, rounded */
    if (clock > 0xffff) clock = 0xffff;
    d[0] = (uint8_t)clock;
    d[1] = (uint8_t)(clock >> 8);
    d[2] = (uint8_t)w;
    d[3] = (uint8_t)hb;
    d[4] = (uint8_t)((w >> 8) << 4 | (hb >> 8));
    d[5] = (uint8_t)h;
    d[6] = (uint8_t)vb;
    d[7] = (uint8_t)((h >> 8) << 4 | (vb >> 8));
    d[8] = 48;                /* hsync offset */
    d[9] = 32;                /* hsync width */
    d[10] = 3u << 4 | 5u;     /* vsync offset 3, width 5 */
    d[12] = 0x08;             /* image size 520 x 290 mm */
    d[13] = 0x22;
    d[14] = 0x21;
    d[17] = 0x18;             /* digital separate sync */
    d = e + 72;               /* display product name */
    d[3] = 0xfc;
    memcpy(d + 5, name, 13);
    e[90 + 3] = 0x10;         /* two dummy descriptors */
    e[108 + 3] = 0x10;
    for (i = 0; i < 127; i++) sum += e[i];
    e[127] = (uint8_t)(256u - (sum & 0xffu));
}

/* >>gpu.control */
static uint32_t create_2d(model *m, gpu *g, model_chain *c)
{
    uint8_t b[16];
    uint32_t id, fmt, w, h;
    uint64_t bytes;
    res *r;
    (void)m;
    model_chain_read(c, HDR, b, sizeof b);
    id = model_get32(b);
    fmt = model_get32(b + 4);
    w = model_get32(b + 8);
    h = model_get32(b + 12);
    if (id == 0 || find(g, id)) return MODEL_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    if (!format_ok(fmt) || w == 0 || h == 0) return MODEL_GPU_RESP_ERR_INVALID_PARAMETER;
    bytes = (uint64_t)w * h * 4u;
    if (bytes > g->o.host_memory - g->host_used) return MODEL_GPU_RESP_ERR_OUT_OF_MEMORY;
    if (g->nres == g->capres) {
        uint32_t cap = g->capres ? g->capres * 2 : 16;
        res **n = (res **)realloc(g->r, cap * sizeof *n);
        if (!n) return MODEL_GPU_RESP_ERR_OUT_OF_MEMORY;
        g->r = n;
        g->capres = cap;
    }
    r = (res *)calloc(1, sizeof *r);
    if (!r) return MODEL_GPU_RESP_ERR_OUT_OF_MEMORY;
    r->px = (uint8_t *)calloc(1, (size_t)bytes);
    if (!r->px) {
        free(r);
        return MODEL_GPU_RESP_ERR_OUT_OF_MEMORY;
    }
    r->id = id;
    r->format = fmt;
    r->width = w;
    r->height = h;
    g->r[g->nres++] = r;
    g->host_used += bytes;
    return MODEL_GPU_RESP_OK_NODATA;
}

static uint32_t unref(gpu *g, model_chain *c)
{
    uint8_t b[8];
    uint32_t id, i;
    model_chain_read(c, HDR, b, sizeof b);
    id = model_get32(b);
    for (i = 0; i < g->nres; i++)
        if (g->r[i]->id == id) break;
    if (id == 0 || i == g->nres) return MODEL_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    /* A resource going away takes its scanouts (and the cursor) with it. */
    {
        uint32_t k;
        for (k = 0; k < MODEL_GPU_MAX_SCANOUTS; k++)
            if (g->so[k].res_id == id) scanout_off(&g->so[k]);
        if (g->cursor.resource_id == id) g->cursor.visible = 0;
    }
    res_free(g, g->r[i]);
    g->r[i] = g->r[--g->nres];
    return MODEL_GPU_RESP_OK_NODATA;
}

static uint32_t set_scanout(gpu *g, model_chain *c)
{
    uint8_t b[24];
    uint32_t x, y, w, h, sid, id, row;
    scanout *s;
    res *r;
    model_chain_read(c, HDR, b, sizeof b);
    x = model_get32(b);
    y = model_get32(b + 4);
    w = model_get32(b + 8);
    h = model_get32(b + 12);
    sid = model_get32(b + 16);
    id = model_get32(b + 20);
    if (sid >= g->o.num_scanouts) return MODEL_GPU_RESP_ERR_INVALID_SCANOUT_ID;
    s = &g->so[sid];
    if (id == 0) {   /* 5.7.6.8: resource 0 disables the scanout */
        scanout_off(s);
        return MODEL_GPU_RESP_OK_NODATA;
    }
    if (!(r = find(g, id))) return MODEL_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    if (!rect_in(x, y, w, h, r->width, r->height)) return MODEL_GPU_RESP_ERR_INVALID_PARAMETER;
    scanout_off(s);
    s->screen = (uint8_t *)malloc((size_t)w * h * 4u);
    if (!s->screen) return MODEL_GPU_RESP_ERR_OUT_OF_MEMORY;
    s->res_id = id;
    s->rx = x;
    s->ry = y;
    s->rw = w;
    s->rh = h;
    /* The display now shows the resource as the host has it. */
    for (row = 0; row < h; row++)
        memcpy(s->screen + (size_t)row * w * 4u, r->px + ((size_t)(y + row) * r->width + x) * 4u, (size_t)w * 4u);
    return MODEL_GPU_RESP_OK_NODATA;
}

static uint32_t flush(gpu *g, model_chain *c)
{
    uint8_t b[24];
    uint32_t x, y, w, h, id, k;
    res *r;
    model_chain_read(c, HDR, b, sizeof b);
    x = model_get32(b);
    y = model_get32(b + 4);
    w = model_get32(b + 8);
    h = model_get32(b + 12);
    id = model_get32(b + 16);
    if (!(r = find(g, id))) return MODEL_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    if (!rect_in(x, y, w, h, r->width, r->height)) return MODEL_GPU_RESP_ERR_INVALID_PARAMETER;
    for (k = 0; k < g->o.num_scanouts; k++) {
        scanout *s = &g->so[k];
        uint32_t x0, y0, x1, y1, py;
        if (s->res_id != id) continue;
        /* The flushed rectangle clipped to what this scanout shows. */
        x0 = x > s->rx ? x : s->rx;
        y0 = y > s->ry ? y : s->ry;
        x1 = x + w < s->rx + s->rw ? x + w : s->rx + s->rw;
        y1 = y + h < s->ry + s->rh ? y + h : s->ry + s->rh;
        if (x0 >= x1 || y0 >= y1) continue;
        for (py = y0; py < y1; py++)
            memcpy(s->screen + ((size_t)(py - s->ry) * s->rw + (x0 - s->rx)) * 4u,
                   r->px + ((size_t)py * r->width + x0) * 4u, (size_t)(x1 - x0) * 4u);
        g->stats.flushes++;
        g->stats.flushed_pixels += (uint64_t)(x1 - x0) * (y1 - y0);
    }
    return MODEL_GPU_RESP_OK_NODATA;
}

static uint32_t transfer(model *m, gpu *g, model_chain *c)
{
    uint8_t b[32];
    uint32_t x, y, w, h, id, row;
    uint64_t off, stride;
    res *r;
    model_chain_read(c, HDR, b, sizeof b);
    x = model_get32(b);
    y = model_get32(b + 4);
    w = model_get32(b + 8);
    h = model_get32(b + 12);
    off = model_get64(b + 16);
    id = model_get32(b + 24);
    if (!(r = find(g, id))) return MODEL_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    if (!r->ent) return MODEL_GPU_RESP_ERR_UNSPEC;   /* nothing to transfer from */
    if (!rect_in(x, y, w, h, r->width, r->height)) return MODEL_GPU_RESP_ERR_INVALID_PARAMETER;
    /* Row n of the rectangle starts at offset + n * stride in the backing. */
    stride = (uint64_t)r->width * 4u;
    if (off > r->backing_len || (uint64_t)(h - 1) * stride + (uint64_t)w * 4u > r->backing_len - off)
        return MODEL_GPU_RESP_ERR_INVALID_PARAMETER;
    for (row = 0; row < h; row++)
        if (backing_read(m, r, off + row * stride, r->px + ((size_t)(y + row) * r->width + x) * 4u, (uint64_t)w * 4u))
            return MODEL_GPU_RESP_ERR_UNSPEC;
    g->stats.transfers++;
    g->stats.transferred_bytes += (uint64_t)w * h * 4u;
    return MODEL_GPU_RESP_OK_NODATA;
}

static uint32_t attach(model *m, gpu *g, model_chain *c)
{
    uint8_t b[16];
    uint32_t id, n, i;
    entry *ent;
    uint64_t total = 0;
    res *r;
    model_chain_read(c, HDR, b, 8);
    id = model_get32(b);
    n = model_get32(b + 4);
    if (!(r = find(g, id))) return MODEL_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    if (r->ent) return MODEL_GPU_RESP_ERR_UNSPEC;   /* already has backing */
    if (n == 0 || n > MAX_ENTRIES) return MODEL_GPU_RESP_ERR_INVALID_PARAMETER;
    if (c->read_len < HDR + 8u + 16u * (uint64_t)n) {
        model_bug(m, "gpu: ATTACH_BACKING with %u entries in %llu readable bytes", n, (unsigned long long)c->read_len);
        return MODEL_GPU_RESP_ERR_UNSPEC;
    }
    ent = (entry *)calloc(n, sizeof *ent);
    if (!ent) return MODEL_GPU_RESP_ERR_OUT_OF_MEMORY;
    for (i = 0; i < n; i++) {
        model_chain_read(c, HDR + 8u + 16u * i, b, 16);
        ent[i].addr = model_get64(b);
        ent[i].len = model_get32(b + 8);
        if (ent[i].len == 0 || !model_dma_host(m->bus, ent[i].addr, ent[i].len)) {
            model_bug(m, "gpu: backing entry %u (%#llx, %u bytes) is not driver memory", i,
                      (unsigned long long)ent[i].addr, ent[i].len);
            free(ent);
            return MODEL_GPU_RESP_ERR_UNSPEC;
        }
        total += ent[i].len;
    }
    r->ent = ent;
    r->nent = n;
    r->backing_len = total;
    return MODEL_GPU_RESP_OK_NODATA;
}

static uint32_t detach(gpu *g, model_chain *c)
{
    uint8_t b[8];
    res *r;
    model_chain_read(c, HDR, b, sizeof b);
    if (!(r = find(g, model_get32(b)))) return MODEL_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    if (!r->ent) return MODEL_GPU_RESP_ERR_UNSPEC;
    free(r->ent);
    r->ent = NULL;
    r->nent = 0;
    r->backing_len = 0;
    return MODEL_GPU_RESP_OK_NODATA;
}

/* Bytes each command carries after the header (shorter is a driver bug). */
static uint32_t cmd_body(uint32_t type)
{
    switch (type) {
    case MODEL_GPU_CMD_GET_DISPLAY_INFO: return 0;
    case MODEL_GPU_CMD_RESOURCE_CREATE_2D: return 16;
    case MODEL_GPU_CMD_RESOURCE_UNREF: return 8;
    case MODEL_GPU_CMD_SET_SCANOUT: return 24;
    case MODEL_GPU_CMD_RESOURCE_FLUSH: return 24;
    case MODEL_GPU_CMD_TRANSFER_TO_HOST_2D: return 32;
    case MODEL_GPU_CMD_RESOURCE_ATTACH_BACKING: return 8;
    case MODEL_GPU_CMD_RESOURCE_DETACH_BACKING: return 8;
    case MODEL_GPU_CMD_GET_EDID: return 8;
    default: return 0;
    }
}

static int control(model *m, gpu *g, model_chain *c)
{
    uint8_t hdr[HDR], resp[EDID_RESP_BYTES];
    uint32_t type, flags, rtype, rlen = HDR;
    memset(resp, 0, sizeof resp);
    c->used_len = 0;
    if (c->write_len < HDR) {
        model_bug(m, "gpu: control request with %llu writable bytes (a 24-byte response header at least)",
                  (unsigned long long)c->write_len);
        return MODEL_DONE;
    }
    if (c->read_len < HDR) {
        model_bug(m, "gpu: control request of %llu readable bytes (24-byte header)", (unsigned long long)c->read_len);
        model_put32(resp, MODEL_GPU_RESP_ERR_UNSPEC);
        model_chain_write(c, 0, resp, HDR);
        c->used_len = HDR;
        return MODEL_DONE;
    }
    model_chain_read(c, 0, hdr, HDR);
    type = model_get32(hdr);
    flags = model_get32(hdr + 4);
    g->stats.commands++;
    if (type >= 0x100 && type < 0x110) g->stats.by_type[type & 0xfu]++;
    if (c->read_len < HDR + cmd_body(type)) {
        model_bug(m, "gpu: command %#x of %llu readable bytes (%u needed)", type, (unsigned long long)c->read_len,
                  HDR + cmd_body(type));
        rtype = MODEL_GPU_RESP_ERR_UNSPEC;
    } else if (g->knobs.fail_cmd && g->knobs.fail_cmd == type) {
        rtype = g->knobs.fail_type ? g->knobs.fail_type : MODEL_GPU_RESP_ERR_UNSPEC;
    } else {
        switch (type) {
        case MODEL_GPU_CMD_GET_DISPLAY_INFO: {
            uint32_t i;
            if (c->write_len < DISPLAY_INFO_BYTES) {
                model_bug(m, "gpu: GET_DISPLAY_INFO with a %llu-byte response buffer", (unsigned long long)c->write_len);
                rtype = MODEL_GPU_RESP_ERR_UNSPEC;
                break;
            }
            for (i = 0; i < g->o.num_scanouts; i++) {
                uint8_t *p = resp + HDR + 24u * i;
                if (!g->so[i].connected) continue;
                model_put32(p + 8, g->so[i].width);
                model_put32(p + 12, g->so[i].height);
                model_put32(p + 16, 1);
            }
            rtype = MODEL_GPU_RESP_OK_DISPLAY_INFO;
            rlen = DISPLAY_INFO_BYTES;
            break;
        }
        case MODEL_GPU_CMD_GET_EDID: {
            uint8_t b[8];
            uint32_t sid;
            model_chain_read(c, HDR, b, sizeof b);
            sid = model_get32(b);
            if (!(model_features(m) & MODEL_GPU_F_EDID)) {
                model_bug(m, "gpu: GET_EDID without VIRTIO_GPU_F_EDID negotiated");
                rtype = MODEL_GPU_RESP_ERR_UNSPEC;
            } else if (c->write_len < EDID_RESP_BYTES) {
                model_bug(m, "gpu: GET_EDID with a %llu-byte response buffer", (unsigned long long)c->write_len);
                rtype = MODEL_GPU_RESP_ERR_UNSPEC;
            } else if (sid >= g->o.num_scanouts) {
                rtype = MODEL_GPU_RESP_ERR_INVALID_SCANOUT_ID;
            } else {
                model_put32(resp + HDR, 128);
                model_gpu_edid(m, sid, resp + HDR + 8);
                rtype = MODEL_GPU_RESP_OK_EDID;
                rlen = EDID_RESP_BYTES;
            }
            break;
        }
        case MODEL_GPU_CMD_RESOURCE_CREATE_2D: rtype = create_2d(m, g, c); break;
        case MODEL_GPU_CMD_RESOURCE_UNREF: rtype = unref(g, c); break;
        case MODEL_GPU_CMD_SET_SCANOUT: rtype = set_scanout(g, c); break;
        case MODEL_GPU_CMD_RESOURCE_FLUSH: rtype = flush(g, c); break;
        case MODEL_GPU_CMD_TRANSFER_TO_HOST_2D: rtype = transfer(m, g, c); break;
        case MODEL_GPU_CMD_RESOURCE_ATTACH_BACKING: rtype = attach(m, g, c); break;
        case MODEL_GPU_CMD_RESOURCE_DETACH_BACKING: rtype = detach(g, c); break;
        default: rtype = MODEL_GPU_RESP_ERR_UNSPEC; break;   /* 3D, blobs, unknown */
        }
    }
    if (rtype >= MODEL_GPU_RESP_ERR_UNSPEC) {
        g->stats.errors++;
        g->stats.last_error = rtype;
        rlen = HDR;
    }
    /* 5.7.6.7: a fenced request gets the fence back in its response. */
    if (flags & MODEL_GPU_FLAG_FENCE) {
        model_put32(resp + 4, MODEL_GPU_FLAG_FENCE);
        memcpy(resp + 8, hdr + 8, 12);   /* fence_id and ctx_id */
        g->stats.fences++;
        g->stats.last_fence = model_get64(hdr + 8);
    }
    /* Hostile answers for the tests that ask for them: the whole response
       is written, but with another type or a shorter used length. */
    if (g->knobs.bad_type || g->knobs.short_len) {
        uint32_t claimed = g->knobs.short_len && g->knobs.short_len < rlen ? g->knobs.short_len : rlen;
        if (g->knobs.bad_type) rtype = g->knobs.bad_type;
        if (g->knobs.bad_count && --g->knobs.bad_count == 0) g->knobs.bad_type = g->knobs.short_len = 0;
        model_put32(resp, rtype);
        model_chain_write(c, 0, resp, rlen);
        c->used_len = claimed;
        return MODEL_DONE;
    }
    model_put32(resp, rtype);
    model_chain_write(c, 0, resp, rlen);
    c->used_len = rlen;
    return MODEL_DONE;
}

/* >>gpu.cursor */
static int cursor(model *m, gpu *g, model_chain *c)
{
    uint8_t b[CURSOR_CMD];
    uint32_t type, sid, id;
    c->used_len = 0;
    if (c->read_len < CURSOR_CMD) {
        model_bug(m, "gpu: cursor command of %llu readable bytes (56 needed)", (unsigned long long)c->read_len);
        return MODEL_DONE;
    }
    model_chain_read(c, 0, b, CURSOR_CMD);
    type = model_get32(b);
    sid = model_get32(b + HDR);
    id = model_get32(b + HDR + 16);
    if (sid >= g->o.num_scanouts || (type != MODEL_GPU_CMD_UPDATE_CURSOR && type != MODEL_GPU_CMD_MOVE_CURSOR)) {
        g->stats.cursor_errors++;   /* no response on this queue: just ignored */
        return MODEL_DONE;
    }
    g->cursor.scanout = sid;
    g->cursor.x = model_get32(b + HDR + 4);
    g->cursor.y = model_get32(b + HDR + 8);
    if (type == MODEL_GPU_CMD_MOVE_CURSOR) {
        g->stats.cursor_moves++;
        return MODEL_DONE;
    }
    g->stats.cursor_updates++;
    if (id == 0) {
        g->cursor.visible = 0;
        g->cursor.resource_id = 0;
        return MODEL_DONE;
    }
    {
        res *r = find(g, id);
        uint32_t i;
        if (!r || r->width != MODEL_GPU_CURSOR || r->height != MODEL_GPU_CURSOR) {
            g->stats.cursor_errors++;
            return MODEL_DONE;
        }
        for (i = 0; i < MODEL_GPU_CURSOR * MODEL_GPU_CURSOR; i++) g->cursor.image[i] = model_get32(r->px + 4u * i);
    }
    g->cursor.visible = 1;
    g->cursor.resource_id = id;
    g->cursor.hot_x = model_get32(b + HDR + 20);
    g->cursor.hot_y = model_get32(b + HDR + 24);
    return MODEL_DONE;
}

static int gpu_process(model *m, void *state, model_chain *c)
{
    gpu *g = (gpu *)state;
    if (c->queue == 0) return control(m, g, c);
    return cursor(m, g, c);
}

/* events_clear is the one writable field: one 32-bit write (byte writes,
   as Linux's virtio-mmio version 1 driver makes them through a legacy
   interface, clear their own bits here, but the access check reports
   them as the driver bug they are: virtio 1.2 4.2.2.2). */
static int gpu_config_write(model *m, void *state, uint32_t off, unsigned width, uint32_t value)
{
    gpu *g = (gpu *)state;
    uint8_t *cfg = model_config(m);
    uint32_t mask;
    if (off == GC_EVENTS_CLEAR && width == 4) mask = value;
    else if (model_is_legacy(m) && width == 1 && off >= GC_EVENTS_CLEAR && off < GC_EVENTS_CLEAR + 4)
        mask = (value & 0xffu) << (8 * (off - GC_EVENTS_CLEAR));
    else return 0;   /* the rest is read-only */
    model_put32(cfg + GC_EVENTS_READ, model_get32(cfg + GC_EVENTS_READ) & ~mask);
    if (mask) g->stats.events_cleared++;
    return 1;
}

/* A reset forgets every resource and turns the scanouts off. */
static void gpu_reset(model *m, void *state)
{
    gpu *g = (gpu *)state;
    uint32_t i;
    (void)m;
    for (i = 0; i < MODEL_GPU_MAX_SCANOUTS; i++) scanout_off(&g->so[i]);
    for (i = 0; i < g->nres; i++) res_free(g, g->r[i]);
    g->nres = 0;
    memset(&g->cursor, 0, sizeof g->cursor);
}

static void gpu_destroy(void *state)
{
    gpu *g = (gpu *)state;
    uint32_t i;
    for (i = 0; i < MODEL_GPU_MAX_SCANOUTS; i++) scanout_off(&g->so[i]);
    for (i = 0; i < g->nres; i++) res_free(g, g->r[i]);
    free(g->r);
    free(g);
}

model *model_gpu_new(model_bus *bus, const model_options *o, const model_gpu_options *go)
{
    model_backend be;
    gpu *g;
    model *m;
    uint32_t i;
    if (!bus || !o || !go || go->num_scanouts == 0 || go->num_scanouts > MODEL_GPU_MAX_SCANOUTS) return NULL;
    g = (gpu *)calloc(1, sizeof *g);
    if (!g) return NULL;
    g->o = *go;
    for (i = 0; i < MODEL_GPU_MAX_SCANOUTS; i++) {
        g->so[i].width = go->width[i];
        g->so[i].height = go->height[i];
        g->so[i].connected = go->width[i] && go->height[i];
    }
    g->knobs.fail_type = MODEL_GPU_RESP_ERR_UNSPEC;
    memset(&be, 0, sizeof be);
    be.name = "gpu";
    be.device_id = 16;
    be.features = go->features;
    be.config_size = GC_BYTES;
    be.num_queues = 2;
    be.queue_max[0] = be.queue_max[1] = go->queue_size;
    be.pci_class = 0x038000u;   /* display controller, other */
    be.state = g;
    be.process = gpu_process;
    be.reset = gpu_reset;
    be.config_write = gpu_config_write;
    be.destroy = gpu_destroy;
    m = model_new(bus, o, &be);   /* destroys g on failure */
    if (!m) return NULL;
    model_put32(model_config(m) + GC_NUM_SCANOUTS, go->num_scanouts);
    model_put32(model_config(m) + GC_NUM_CAPSETS, 0);
    model_config_field(m, GC_EVENTS_READ, 4, 4);   /* four le32 fields: 32-bit accesses only */
    return m;
}

const uint8_t *model_gpu_screen(model *m, uint32_t sid, uint32_t *width, uint32_t *height)
{
    gpu *g = gpu_of(m);
    if (!g || sid >= MODEL_GPU_MAX_SCANOUTS || !g->so[sid].screen) return NULL;
    if (width) *width = g->so[sid].rw;
    if (height) *height = g->so[sid].rh;
    return g->so[sid].screen;
}

uint32_t model_gpu_pixel(model *m, uint32_t sid, uint32_t x, uint32_t y)
{
    uint32_t w, h;
    const uint8_t *s = model_gpu_screen(m, sid, &w, &h);
    if (!s || x >= w || y >= h) return 0;
    return model_get32(s + ((size_t)y * w + x) * 4u);
}

uint32_t model_gpu_decode(uint32_t format, const uint8_t px[4])
{
    switch (format) {
    case 1: case 2: return (uint32_t)px[2] << 16 | (uint32_t)px[1] << 8 | px[0];    /* B8G8R8A8, B8G8R8X8 */
    case 3: case 4: return (uint32_t)px[1] << 16 | (uint32_t)px[2] << 8 | px[3];    /* A8R8G8B8, X8R8G8B8 */
    case 67: case 134: return (uint32_t)px[0] << 16 | (uint32_t)px[1] << 8 | px[2]; /* R8G8B8A8, R8G8B8X8 */
    case 68: case 121: return (uint32_t)px[3] << 16 | (uint32_t)px[2] << 8 | px[1]; /* X8B8G8R8, A8B8G8R8 */
    default: return 0xff000000u;
    }
}

uint32_t model_gpu_rgb(model *m, uint32_t sid, uint32_t x, uint32_t y)
{
    gpu *g = gpu_of(m);
    uint32_t w, h;
    const uint8_t *s = model_gpu_screen(m, sid, &w, &h);
    res *r = g && sid < MODEL_GPU_MAX_SCANOUTS ? find(g, g->so[sid].res_id) : NULL;
    if (!s || !r || x >= w || y >= h) return 0xff000000u;
    return model_gpu_decode(r->format, s + ((size_t)y * w + x) * 4u);
}

uint32_t model_gpu_scanout_resource(model *m, uint32_t sid)
{
    gpu *g = gpu_of(m);
    return g && sid < MODEL_GPU_MAX_SCANOUTS ? g->so[sid].res_id : 0;
}

const uint8_t *model_gpu_resource(model *m, uint32_t id, uint32_t *width, uint32_t *height)
{
    gpu *g = gpu_of(m);
    res *r = g ? find(g, id) : NULL;
    if (!r) return NULL;
    if (width) *width = r->width;
    if (height) *height = r->height;
    return r->px;
}

uint32_t model_gpu_resources(model *m)
{
    gpu *g = gpu_of(m);
    return g ? g->nres : 0;
}

const model_gpu_cursor *model_gpu_get_cursor(model *m)
{
    gpu *g = gpu_of(m);
    return g ? &g->cursor : NULL;
}

void model_gpu_set_display(model *m, uint32_t sid, uint32_t width, uint32_t height, int connected)
{
    gpu *g = gpu_of(m);
    uint8_t *cfg;
    if (!g || sid >= MODEL_GPU_MAX_SCANOUTS) return;
    g->so[sid].width = width;
    g->so[sid].height = height;
    g->so[sid].connected = connected && width && height;
    cfg = model_config(m);
    model_put32(cfg + GC_EVENTS_READ, model_get32(cfg + GC_EVENTS_READ) | MODEL_GPU_EVENT_DISPLAY);
    model_config_changed(m);
}

model_gpu_knobs *model_gpu_get_knobs(model *m)
{
    gpu *g = gpu_of(m);
    return g ? &g->knobs : NULL;
}

model_gpu_stats *model_gpu_get_stats(model *m)
{
    gpu *g = gpu_of(m);
    return g ? &g->stats : NULL;
}
