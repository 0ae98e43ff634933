/* SPDX-License-Identifier: MIT OR Unlicense */
/* model_blk.c - block device backend of the software VirtIO device: a RAM
   disk answering IN, OUT, FLUSH, GET_ID, DISCARD and WRITE_ZEROES like a
   strict device (virtio 1.2 section 5.2). See model.h. */
#include "model.h"
#include "model_blk.h"

#include <stdlib.h>
#include <string.h>

/* Offsets in struct virtio_blk_config (5.2.4). */
#define BC_CAPACITY 0u
#define BC_SIZE_MAX 8u
#define BC_SEG_MAX 12u
#define BC_CYLINDERS 16u
#define BC_HEADS 18u
#define BC_SECTORS 19u
#define BC_BLK_SIZE 20u
#define BC_PHYS_EXP 24u
#define BC_ALIGN_OFF 25u
#define BC_MIN_IO 26u
#define BC_OPT_IO 28u
#define BC_WRITEBACK 32u
#define BC_NUM_QUEUES 34u
#define BC_MAX_DISCARD_SECTORS 36u
#define BC_MAX_DISCARD_SEG 40u
#define BC_DISCARD_ALIGN 44u
#define BC_MAX_WZ_SECTORS 48u
#define BC_MAX_WZ_SEG 52u
#define BC_WZ_MAY_UNMAP 56u
#define BC_SIZE 96u   /* through the zoned characteristics, all zero */

#define SECTOR 512u

typedef struct blk {
    model_blk_options o;
    uint8_t *disk;
    uint64_t size, capacity;
    model_blk_knobs knobs;
    model_blk_stats stats;
    int count_status;           /* model_blk_count_status */
} blk;

static int blk_process(model *m, void *state, model_chain *c);

static blk *blk_of(model *m)
{
    const model_backend *be = model_backend_of(m);
    return be->process == blk_process ? (blk *)be->state : NULL;
}

void model_blk_options_init(model_blk_options *o)
{
    memset(o, 0, sizeof *o);
    o->size = 1u << 20;
    o->features = MODEL_BLK_DEFAULT_FEATURES;
    o->num_queues = 1;
    o->queue_size = 256;
    o->size_max = 65536;
    o->seg_max = 126;
    o->cylinders = 2;
    o->heads = 16;
    o->sectors = 63;
    o->blk_size = 512;
    o->min_io_size = 1;
    o->opt_io_size = 8;
    o->writeback = 1;
    o->max_discard_sectors = 2048;
    o->max_discard_seg = 4;
    o->discard_sector_alignment = 8;
    o->max_write_zeroes_sectors = 2048;
    o->max_write_zeroes_seg = 4;
    o->write_zeroes_may_unmap = 1;
    memcpy(o->serial, "model-blk-serial", 17);
}

/* Does [sector, sector + count) touch the injected failure range? */
static int injected(const blk *b, uint64_t sector, uint64_t count)
{
    if (!b->knobs.fail_count || !count) return 0;
    return sector < b->knobs.fail_sector + b->knobs.fail_count && b->knobs.fail_sector < sector + count;
}

static int in_range(const blk *b, uint64_t sector, uint64_t count)
{
    return sector <= b->capacity && count <= b->capacity - sector;
}

/* Check the data segments of a request (bytes [start, start+len) of the
   readable or writable side) against SEG_MAX and SIZE_MAX. */
static int check_segments(model *m, blk *b, const model_chain *c, int write, uint64_t start, uint64_t len)
{
    uint64_t f = model_features(m), pos = 0;
    uint32_t i, first = write ? c->nread : 0, end = write ? c->nread + c->nwrite : c->nread, nseg = 0;
    int ok = 1;
    if (!len) return 1;
    for (i = first; i < end; i++) {
        uint64_t a = pos, z = pos + c->seg[i].len, lo = a > start ? a : start, hi = z < start + len ? z : start + len;
        pos = z;
        if (lo >= hi) continue;
        nseg++;
        if ((f & MODEL_BLK_F_SIZE_MAX) && hi - lo > b->o.size_max) {
            model_bug(m, "blk: data segment of %llu bytes exceeds size_max %u", (unsigned long long)(hi - lo), b->o.size_max);
            ok = 0;
        }
    }
    if ((f & MODEL_BLK_F_SEG_MAX) && nseg > b->o.seg_max) {
        model_bug(m, "blk: request with %u data segments exceeds seg_max %u", nseg, b->o.seg_max);
        ok = 0;
    }
    return ok;
}

/* DISCARD / WRITE_ZEROES (5.2.6): segments of {le64 sector, le32
   num_sectors, le32 flags} after the header. */
static uint8_t discard_like(model *m, blk *b, model_chain *c, uint32_t type, uint64_t din)
{
    int wz = type == MODEL_BLK_T_WRITE_ZEROES;
    uint64_t f = model_features(m), need = wz ? MODEL_BLK_F_WRITE_ZEROES : MODEL_BLK_F_DISCARD;
    uint32_t max_seg = wz ? b->o.max_write_zeroes_seg : b->o.max_discard_seg;
    uint32_t max_sec = wz ? b->o.max_write_zeroes_sectors : b->o.max_discard_sectors;
    uint64_t nseg, i;
    uint8_t seg[16], st = MODEL_BLK_S_OK;
    if (wz) b->stats.write_zeroes++;
    else b->stats.discards++;
    if (!(f & need)) {
        model_bug(m, "blk: %s request without VIRTIO_BLK_F_%s negotiated", wz ? "WRITE_ZEROES" : "DISCARD",
                  wz ? "WRITE_ZEROES" : "DISCARD");
        return MODEL_BLK_S_UNSUPP;
    }
    if (din == 0 || din % 16) {
        model_bug(m, "blk: %s data of %llu bytes is not a non-zero multiple of 16", wz ? "WRITE_ZEROES" : "DISCARD",
                  (unsigned long long)din);
        return MODEL_BLK_S_IOERR;
    }
    nseg = din / 16;
    if (nseg > max_seg) {
        model_bug(m, "blk: %s with %llu segments, more than the %u allowed", wz ? "WRITE_ZEROES" : "DISCARD",
                  (unsigned long long)nseg, max_seg);
        return MODEL_BLK_S_IOERR;
    }
    /* Validate everything before touching the disk. */
    for (i = 0; i < nseg; i++) {
        uint64_t sector;
        uint32_t num, flags;
        model_chain_read(c, 16 + 16 * i, seg, 16);
        sector = model_ld64(m, seg);
        num = model_ld32(m, seg + 8);
        flags = model_ld32(m, seg + 12);
        if (flags & ~1u) return MODEL_BLK_S_UNSUPP;             /* unknown flag */
        if (!wz && (flags & 1u)) return MODEL_BLK_S_UNSUPP;     /* unmap on discard */
        if (num > max_sec) {
            model_bug(m, "blk: %s segment of %u sectors exceeds the maximum %u", wz ? "WRITE_ZEROES" : "DISCARD", num, max_sec);
            return MODEL_BLK_S_IOERR;
        }
        if (!in_range(b, sector, num)) {
            b->stats.range_errors++;
            st = MODEL_BLK_S_IOERR;
        } else if (injected(b, sector, num)) {
            b->stats.injected_errors++;
            st = MODEL_BLK_S_IOERR;
        }
    }
    if (st != MODEL_BLK_S_OK) return st;
    if (f & MODEL_BLK_F_RO) {
        b->stats.ro_errors++;
        return MODEL_BLK_S_IOERR;
    }
    for (i = 0; i < nseg; i++) {
        model_chain_read(c, 16 + 16 * i, seg, 16);
        if (!b->o.no_data) memset(b->disk + model_ld64(m, seg) * SECTOR, 0, (size_t)model_ld32(m, seg + 8) * SECTOR);
    }
    return MODEL_BLK_S_OK;
}

/* Bytes moved to or from the disk, for kvmtool's used lengths. */
static void moved(model_chain *c, const blk *b, uint64_t n)
{
    model_chain_moved(c, (uint32_t)n + (b->count_status ? 1u : 0u));
}

/* One request (5.2.6): header (16 readable bytes), data, status (last
   writable byte). The whole writable area is written (data or 0xee
   filler) and used_len is always write_len. */
static int blk_process(model *m, void *state, model_chain *c)
{
    blk *b = (blk *)state;
    uint8_t hdr[16], st = MODEL_BLK_S_OK;
    uint64_t f = model_features(m), din, dout, sector, n;
    uint32_t type;
    b->stats.requests++;
    if (c->write_len == 0) {
        model_bug(m, "blk: request on queue %u without a device-writable status byte", c->queue);
        c->used_len = 0;
        return MODEL_DONE;
    }
    if (c->read_len < 16) {
        model_bug(m, "blk: request header of %llu readable bytes (16 needed)", (unsigned long long)c->read_len);
        st = MODEL_BLK_S_IOERR;
        din = dout = 0;
        goto reply;
    }
    if (model_is_legacy(m) && !(f & MODEL_F_ANY_LAYOUT) && m->knobs.strict_legacy_framing &&
        (c->seg[0].len != 16 || c->seg[c->nread + c->nwrite - 1].len != 1))
        model_bug(m, "blk: legacy request without ANY_LAYOUT needs a 16-byte header descriptor and a 1-byte status "
                     "descriptor (5.2.6.4)");
    model_chain_read(c, 0, hdr, 16);
    type = model_ld32(m, hdr);
    sector = model_ld64(m, hdr + 8);
    din = c->read_len - 16;
    dout = c->write_len - 1;
    switch (type) {
    case MODEL_BLK_T_IN:
        b->stats.reads++;
        if (din) model_bug(m, "blk: IN request with %llu device-readable data bytes", (unsigned long long)din);
        if (dout % SECTOR) {
            model_bug(m, "blk: IN data length %llu is not a multiple of 512", (unsigned long long)dout);
            st = MODEL_BLK_S_IOERR;
            break;
        }
        if (!check_segments(m, b, c, 1, 0, dout)) {
            st = MODEL_BLK_S_IOERR;
            break;
        }
        n = dout / SECTOR;
        if (!in_range(b, sector, n)) {
            b->stats.range_errors++;
            st = MODEL_BLK_S_IOERR;
        } else if (injected(b, sector, n)) {
            b->stats.injected_errors++;
            st = MODEL_BLK_S_IOERR;
        } else {
            if (!b->o.no_data) model_chain_write(c, 0, b->disk + sector * SECTOR, (size_t)dout);
            b->stats.bytes_read += dout;
            moved(c, b, dout);
        }
        break;
    case MODEL_BLK_T_OUT:
        b->stats.writes++;
        if (dout) model_bug(m, "blk: OUT request with %llu device-writable bytes before the status", (unsigned long long)dout);
        if (din % SECTOR) {
            model_bug(m, "blk: OUT data length %llu is not a multiple of 512", (unsigned long long)din);
            st = MODEL_BLK_S_IOERR;
            break;
        }
        if (!check_segments(m, b, c, 0, 16, din)) {
            st = MODEL_BLK_S_IOERR;
            break;
        }
        n = din / SECTOR;
        if (f & MODEL_BLK_F_RO) {
            b->stats.ro_errors++;   /* 5.2.6.2: IOERR, no data written */
            st = MODEL_BLK_S_IOERR;
        } else if (!in_range(b, sector, n)) {
            b->stats.range_errors++;
            st = MODEL_BLK_S_IOERR;
        } else if (injected(b, sector, n)) {
            b->stats.injected_errors++;
            st = MODEL_BLK_S_IOERR;
        } else {
            if (!b->o.no_data) model_chain_read(c, 16, b->disk + sector * SECTOR, (size_t)din);
            b->stats.bytes_written += din;
            moved(c, b, din);
            if (model_config(m)[BC_WRITEBACK]) b->stats.dirty++;
        }
        break;
    case MODEL_BLK_T_FLUSH:
        b->stats.flushes++;
        if (!(f & MODEL_BLK_F_FLUSH)) {
            model_bug(m, "blk: FLUSH request without VIRTIO_BLK_F_FLUSH negotiated");
            st = MODEL_BLK_S_UNSUPP;
            break;
        }
        if (sector) model_bug(m, "blk: FLUSH with sector %llu (must be 0)", (unsigned long long)sector);
        if (din || dout) model_bug(m, "blk: FLUSH carrying %llu data bytes", (unsigned long long)(din + dout));
        if (b->knobs.fail_flush) {
            b->stats.injected_errors++;
            st = MODEL_BLK_S_IOERR;
        } else {
            b->stats.dirty = 0;
        }
        break;
    case MODEL_BLK_T_GET_ID:
        b->stats.get_ids++;
        if (dout != 20) {
            model_bug(m, "blk: GET_ID with %llu writable data bytes (must be 20)", (unsigned long long)dout);
            st = MODEL_BLK_S_IOERR;
            break;
        }
        {
            uint8_t id[20];
            size_t l = strlen(b->o.serial);
            memset(id, 0, sizeof id);
            memcpy(id, b->o.serial, l > 20 ? 20 : l);
            model_chain_write(c, 0, id, 20);
        }
        break;
    case MODEL_BLK_T_DISCARD:
    case MODEL_BLK_T_WRITE_ZEROES: st = discard_like(m, b, c, type, din); break;
    default: st = MODEL_BLK_S_UNSUPP; break;
    }
reply:
    if (st != MODEL_BLK_S_OK && dout) model_chain_fill(c, 0, 0xee, (size_t)dout);
    model_chain_write(c, c->write_len - 1, &st, 1);
    c->used_len = (uint32_t)c->write_len;
    if (st == MODEL_BLK_S_OK) b->stats.ok++;
    else if (st == MODEL_BLK_S_IOERR) b->stats.ioerr++;
    else b->stats.unsupp++;
    return MODEL_DONE;
}

static int blk_features_ok(model *m, void *state, uint64_t f)
{
    (void)state;
    /* 5.2.5: CONFIG_WCE without FLUSH starts in writethrough. */
    if ((f & MODEL_BLK_F_CONFIG_WCE) && !(f & MODEL_BLK_F_FLUSH)) model_config(m)[BC_WRITEBACK] = 0;
    return 1;
}

static void blk_driver_ok(model *m, void *state)
{
    uint64_t f = model_features(m);
    (void)state;
    /* Without CONFIG_WCE the driver cannot choose; a driver without FLUSH
       gets writethrough, one with FLUSH writeback. */
    if (!(f & MODEL_BLK_F_CONFIG_WCE)) model_config(m)[BC_WRITEBACK] = (f & MODEL_BLK_F_FLUSH) ? 1 : 0;
}

static void blk_reset(model *m, void *state)
{
    blk *b = (blk *)state;
    model_config(m)[BC_WRITEBACK] = b->o.writeback ? 1 : 0;
}

static int blk_config_write(model *m, void *state, uint32_t off, unsigned width, uint32_t value)
{
    (void)state;
    if (off == BC_WRITEBACK && width == 1 && (model_features(m) & MODEL_BLK_F_CONFIG_WCE)) {
        if (value > 1) model_bug(m, "blk: writeback written with %u (0 or 1)", value);
        model_config(m)[BC_WRITEBACK] = value ? 1 : 0;
        return 1;
    }
    return 0;
}

static void blk_destroy(void *state)
{
    blk *b = (blk *)state;
    free(b->disk);
    free(b);
}

model *model_blk_new(model_bus *bus, const model_options *o, const model_blk_options *bo)
{
    model_backend be;
    blk *b;
    model *m;
    uint8_t *cfg;
    uint32_t i, nq;
    uint64_t k;
    if (!bus || !o || !bo || bo->num_queues == 0 || bo->num_queues > MODEL_MAX_QUEUES) return NULL;
    b = (blk *)calloc(1, sizeof *b);
    if (!b) return NULL;
    b->o = *bo;
    b->o.serial[20] = 0;
    b->size = bo->size;
    b->capacity = bo->size / SECTOR;
    b->disk = (uint8_t *)malloc(bo->size && !bo->no_data ? (size_t)bo->size : 1);
    if (!b->disk) {
        free(b);
        return NULL;
    }
    if (bo->no_data) {
        b->disk[0] = 0;
    } else if (bo->image) {
        size_t l = bo->image_len < bo->size ? bo->image_len : (size_t)bo->size;
        memcpy(b->disk, bo->image, l);
        memset(b->disk + l, 0, (size_t)bo->size - l);
    } else {
        for (k = 0; k < bo->size; k++) b->disk[k] = model_blk_pattern(k);
    }
    nq = bo->num_queues;
    memset(&be, 0, sizeof be);
    be.name = "blk";
    be.device_id = 2;
    be.features = bo->features | (nq > 1 ? MODEL_BLK_F_MQ : 0);
    be.config_size = BC_SIZE;
    be.num_queues = nq;
    for (i = 0; i < nq; i++) be.queue_max[i] = bo->queue_size;
    be.pci_class = 0x010000u;   /* mass storage, SCSI */
    be.state = b;
    be.process = blk_process;
    be.features_ok = blk_features_ok;
    be.driver_ok = blk_driver_ok;
    be.reset = blk_reset;
    be.config_write = blk_config_write;
    be.destroy = blk_destroy;
    m = model_new(bus, o, &be);   /* destroys b on failure */
    if (!m) return NULL;
    cfg = model_config(m);
    model_config_set(m, BC_CAPACITY, 8, b->capacity);
    model_config_set(m, BC_SIZE_MAX, 4, bo->size_max);
    model_config_set(m, BC_SEG_MAX, 4, bo->seg_max);
    model_config_set(m, BC_CYLINDERS, 2, bo->cylinders);
    cfg[BC_HEADS] = bo->heads;
    cfg[BC_SECTORS] = bo->sectors;
    model_config_set(m, BC_BLK_SIZE, 4, bo->blk_size);
    cfg[BC_PHYS_EXP] = bo->physical_block_exp;
    cfg[BC_ALIGN_OFF] = bo->alignment_offset;
    model_config_set(m, BC_MIN_IO, 2, bo->min_io_size);
    model_config_set(m, BC_OPT_IO, 4, bo->opt_io_size);
    cfg[BC_WRITEBACK] = bo->writeback ? 1 : 0;
    model_config_set(m, BC_NUM_QUEUES, 2, (uint16_t)nq);
    model_config_set(m, BC_MAX_DISCARD_SECTORS, 4, bo->max_discard_sectors);
    model_config_set(m, BC_MAX_DISCARD_SEG, 4, bo->max_discard_seg);
    model_config_set(m, BC_DISCARD_ALIGN, 4, bo->discard_sector_alignment);
    model_config_set(m, BC_MAX_WZ_SECTORS, 4, bo->max_write_zeroes_sectors);
    model_config_set(m, BC_MAX_WZ_SEG, 4, bo->max_write_zeroes_seg);
    cfg[BC_WZ_MAY_UNMAP] = bo->write_zeroes_may_unmap;
    return m;
}

uint8_t *model_blk_disk(model *m, uint64_t *size)
{
    blk *b = blk_of(m);
    if (!b) return NULL;
    if (size) *size = b->size;
    return b->disk;
}

model_blk_knobs *model_blk_get_knobs(model *m)
{
    blk *b = blk_of(m);
    return b ? &b->knobs : NULL;
}

void model_blk_count_status(model *m, int count_status)
{
    blk *b = blk_of(m);
    if (b) b->count_status = count_status != 0;
}

model_blk_stats *model_blk_get_stats(model *m)
{
    blk *b = blk_of(m);
    return b ? &b->stats : NULL;
}

model *model_blk_default(model_bus *b, uint32_t transport)
{
    model_options mo;
    model_blk_options bo;
    model_options_init(&mo, transport);
    model_blk_options_init(&bo);
    return model_blk_new(b, &mo, &bo);
}
