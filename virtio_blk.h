/* SPDX-License-Identifier: MIT OR Unlicense */
#if defined(VIRTIO_IMPLEMENTATION) && !defined(VIRTIO_BLK_IMPLEMENTATION)
#define VIRTIO_BLK_IMPLEMENTATION
#endif
#include "virtio.h"
#ifndef VIRTIO_BLK_H
#define VIRTIO_BLK_H
/*
virtio_blk.h - v0.3.0 - VirtIO block driver for virtio.h - MIT OR Unlicense

QUICK START

    #define VIRTIO_IMPLEMENTATION      // in one file
    #include "virtio_blk.h"

    virtio_device dev;                 // from virtio_mmio_probe / virtio_pci_probe
    virtio_blk disk;
    if (virtio_blk_init(&disk, &dev, NULL) == VIRTIO_OK) {
        printf("%llu sectors of 512 bytes, %u-byte blocks%s\n",
               disk.info.capacity, disk.info.block_size,
               disk.info.read_only ? ", read-only" : "");
        virtio_blk_read(&disk, 0, buf, 4096);        // blocking
        virtio_blk_write(&disk, 8, buf, 4096);
        virtio_blk_flush(&disk);
    }

    // Many requests in flight: submit, then poll.
    virtio_blk_request rq = {0};
    rq.op = VIRTIO_BLK_OP_READ; rq.sector = 64; rq.buf = big; rq.len = 1 << 20;
    rq.token = &my_state;
    virtio_blk_submit(&disk, &rq);
    void *tok; virtio_result res;
    while (virtio_blk_poll(&disk, &tok, &res) == VIRTIO_EMPTY) { do_other_work(); }

CONFIGURATION

    macro                        default   scope
    VIRTIO_BLK_IMPLEMENTATION    -         emit this driver (VIRTIO_IMPLEMENTATION implies it)

Runtime choices are in virtio_blk_options (all-zero = defaults).

UNITS AND LIMITS

Sectors are 512 bytes whatever the disk's logical block size (as in the
VirtIO specification); capacity is in sectors. Offsets and lengths of
reads, writes, discards and write-zeroes must be multiples of the logical
block size (info.block_size, 512 or 4096 on QEMU). A request of any length
is accepted: the driver cuts it into device requests that respect the
device's seg_max and size_max (and max_discard_sectors /
max_write_zeroes_sectors), keeps up to max_requests of them in flight, and
reports the caller's request complete when every piece is done (the first
error wins). One virtqueue (no multi-queue), no zoned commands, no
secure erase.

REQUESTS

virtio_blk_submit() hands over a request; the buffer belongs to the device
until the request completes. Completions come back from virtio_blk_poll()
(token and result), or, if the request has a callback, the callback runs
inside whichever call on this disk noticed the completion (poll, wait, or a
blocking call). The blocking calls (read, write, flush, discard,
write_zeroes, get_id) submit one request and wait for it; other requests
may stay in flight meanwhile.

UNTRUSTED DEVICE

The status byte is preset to an impossible value and must be written by
the device; config values are range-checked (block size a power of two in
[512, 65536], seg_max >= 1); the queue layer validates every used entry.
A wait that times out resets the device, so it can no longer write into the
caller's buffers, fails everything in flight with VIRTIO_ERR_TIMEOUT and
leaves the disk in VIRTIO_ERR_STATE until virtio_blk_init() is called again.

license: end of file (virtio.h)
*/

#if !defined(VIRTIO_KIT_VERSION) || VIRTIO_KIT_VERSION < 1 || VIRTIO_KIT_COMPAT > 1
#error "virtio_blk.h needs the virtio.h driver kit 1"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Request operations. */
#define VIRTIO_BLK_OP_READ 0
#define VIRTIO_BLK_OP_WRITE 1
#define VIRTIO_BLK_OP_FLUSH 2
#define VIRTIO_BLK_OP_DISCARD 3       /* buf unused; len = bytes to discard */
#define VIRTIO_BLK_OP_WRITE_ZEROES 4  /* buf unused; len = bytes to zero */
#define VIRTIO_BLK_OP_GET_ID 5        /* buf >= 20 bytes; gets the serial, NUL-padded */

/* Request flags. */
#define VIRTIO_BLK_REQ_MORE 1u   /* more requests follow: do not notify the device yet */
#define VIRTIO_BLK_REQ_UNMAP 2u  /* write-zeroes may deallocate the range */

typedef struct virtio_blk virtio_blk;

/* Completion callback: runs inside a call on `blk`; may submit new
   requests, must not call virtio_blk_shutdown. */
typedef void (*virtio_blk_callback)(virtio_blk *blk, void *token, virtio_result result);

/* One request. Copied by submit; only the buffer must stay valid.
     op        VIRTIO_BLK_OP_*
     flags     VIRTIO_BLK_REQ_* (default 0)
     sector    start, in 512-byte sectors
     buf, len  data (len in bytes)
     token     returned by poll, passed to the callback
     callback  NULL: completion is returned by virtio_blk_poll */
typedef struct virtio_blk_request {
    uint32_t op;
    uint32_t flags;
    uint64_t sector;
    void *buf;
    size_t len;
    void *token;
    virtio_blk_callback callback;
} virtio_blk_request;

/* Driver choices. Defaults (all zero):
     device        automatic ring format, indirect and event index if offered
     max_requests  64 device requests in flight (1..1024)
     max_segments  32 data pieces per device request, further bounded by
                   the device's seg_max (1..1024) */
typedef struct virtio_blk_options {
    virtio_device_options device;
    uint32_t max_requests;
    uint32_t max_segments;
} virtio_blk_options;

/* What the device told us, decoded. Fields the device did not offer hold
   the documented fallback. */
typedef struct virtio_blk_info {
    uint64_t capacity;             /* 512-byte sectors */
    uint32_t block_size;           /* logical block, bytes (BLK_SIZE; else 512) */
    uint32_t physical_block_exp;   /* log2(physical / logical) (TOPOLOGY; else 0) */
    uint32_t alignment_offset;     /* first aligned logical block (TOPOLOGY) */
    uint32_t min_io_size;          /* logical blocks (TOPOLOGY) */
    uint32_t opt_io_size;          /* logical blocks (TOPOLOGY) */
    uint32_t read_only;            /* RO */
    uint32_t size_max;             /* max bytes per segment (SIZE_MAX; else 0 = none) */
    uint32_t seg_max;              /* max segments per request (SEG_MAX; else 0 = none) */
    uint32_t cylinders, heads, sectors;   /* GEOMETRY; else 0 */
    uint32_t flush;                /* FLUSH offered: flushes reach the device */
    uint32_t writeback;            /* cache is write-back (CONFIG_WCE field, else = flush) */
    uint32_t config_wce;           /* CONFIG_WCE: virtio_blk_set_writeback works */
    uint32_t discard;              /* DISCARD offered with limits of at least one block */
    uint32_t max_discard_sectors, max_discard_seg, discard_sector_alignment;
    uint32_t write_zeroes;         /* WRITE_ZEROES offered with limits of at least one block */
    uint32_t max_write_zeroes_sectors, max_write_zeroes_seg, write_zeroes_may_unmap;
} virtio_blk_info;

/* A block device. Caller-owned, must not move after init. Readable: dev,
   queue, info, last_status (status byte of the last device request that
   completed: 0 OK, 1 IOERR, 2 UNSUPP, 0xff none written), inflight (caller
   requests not yet completed). */
struct virtio_blk {
    virtio_device dev;
    virtio_queue queue;
    virtio_blk_info info;
    uint32_t last_status;
    uint32_t inflight;
    struct {
        uint32_t magic;
        uint32_t broken;
        uint32_t slots;            /* device requests in flight at most */
        uint32_t segs;             /* data pieces per device request */
        uint32_t table;            /* one-piece requests use the slot's own table */
        unsigned char *dma;        /* per slot: header, range/id, status, table */
        uint64_t dma_dev;
        size_t dma_bytes;
        void *mem;                 /* private: slots, I/O records, sg lists */
        size_t mem_bytes;
        void *slot;                /* virtio__blk_slot[slots] */
        void *io;                  /* virtio__blk_io[slots] */
        virtio_sg *sg;             /* (segs + 2) per slot */
        uint16_t free_slot, free_io;
        uint16_t pend_head, pend_tail;   /* requests with pieces left to submit */
        uint16_t done_head, done_tail;   /* completed, waiting for virtio_blk_poll */
    } priv;
};

/* Initialise a block device on a probed device (copied into blk->dev):
   negotiate features, read the configuration into blk->info, set up the
   queue and request memory, set DRIVER_OK. in: dev, o (NULL = defaults).
   Returns VIRTIO_OK; VIRTIO_ERR_NOT_FOUND (dev is not a block device);
   VIRTIO_ERR_DEVICE (nonsense configuration); VIRTIO_ERR_NO_MEMORY; the
   errors of virtio_device_begin; VIRTIO_ERR_INVALID_ARG.
   Context: blocks for the reset (bounded); allocates through dma_alloc. */
VIRTIO_API virtio_result virtio_blk_init(virtio_blk *blk, const virtio_device *dev, const virtio_blk_options *o);

/* Reset the device and free the driver's memory. Requests in flight are
   abandoned without completion. Returns VIRTIO_OK, VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_blk_shutdown(virtio_blk *blk);

/* Hand a request to the device (see REQUESTS).
   Returns VIRTIO_OK; VIRTIO_ERR_INVALID_ARG (NULL, unknown op, zero or
   misaligned length or sector, GET_ID buffer < 20 bytes); VIRTIO_ERR_RANGE
   (beyond capacity); VIRTIO_ERR_READ_ONLY (write, discard or write-zeroes
   on a read-only disk); VIRTIO_ERR_UNSUPPORTED (discard / write-zeroes not
   offered); VIRTIO_ERR_NO_SPACE (max_requests caller requests in flight);
   VIRTIO_ERR_STATE (not initialised, or broken by a timeout). A request
   whose buffer cannot be cut into whole blocks within the segment limits
   (seg_max 1 and a dma_map that stops mid-block) completes with
   VIRTIO_ERR_TOO_BIG.
   Context: never blocks; no allocation. */
VIRTIO_API virtio_result virtio_blk_submit(virtio_blk *blk, const virtio_blk_request *rq);

/* Notify the device of requests submitted with VIRTIO_BLK_REQ_MORE.
   Returns VIRTIO_OK or VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_blk_kick(virtio_blk *blk);

/* Process completions: callbacks run; the first completed request without
   a callback is returned. out: token, result (either may be NULL).
   Returns VIRTIO_OK (one returned); VIRTIO_EMPTY (nothing completed);
   VIRTIO_ERR_DEVICE (device broke the protocol: everything in flight is
   failed, the disk needs virtio_blk_init); VIRTIO_ERR_STATE.
   Context: never blocks. */
VIRTIO_API virtio_result virtio_blk_poll(virtio_blk *blk, void **token, virtio_result *result);

/* Like virtio_blk_poll, but wait (bounded by the platform timeout) until
   a request without callback completes. Returns as poll, plus
   VIRTIO_ERR_TIMEOUT / VIRTIO_ERR_NEEDS_RESET (see UNTRUSTED DEVICE), and
   VIRTIO_EMPTY at once if nothing is in flight. */
VIRTIO_API virtio_result virtio_blk_wait(virtio_blk *blk, void **token, virtio_result *result);

/* Blocking I/O: submit one request and wait for it. sector in 512-byte
   units; len a multiple of info.block_size.
   Returns the request's result: VIRTIO_OK; VIRTIO_ERR_IO /
   VIRTIO_ERR_UNSUPPORTED (device status IOERR / UNSUPP); the argument
   errors of submit; VIRTIO_ERR_TIMEOUT; VIRTIO_ERR_NEEDS_RESET;
   VIRTIO_ERR_DEVICE. VIRTIO_ERR_NO_SPACE if max_requests requests are
   already in flight. Context: blocks, bounded by the platform timeout. */
VIRTIO_API virtio_result virtio_blk_read(virtio_blk *blk, uint64_t sector, void *buf, size_t len);
VIRTIO_API virtio_result virtio_blk_write(virtio_blk *blk, uint64_t sector, const void *buf, size_t len);

/* Make completed writes durable. Without FLUSH the device has no volatile
   cache and this returns VIRTIO_OK at once. Returns as virtio_blk_read. */
VIRTIO_API virtio_result virtio_blk_flush(virtio_blk *blk);

/* Discard (trim) or zero `count` sectors from `sector`. unmap: the device
   may deallocate zeroed sectors. Returns as virtio_blk_read, and
   VIRTIO_ERR_UNSUPPORTED when the device lacks the command. */
VIRTIO_API virtio_result virtio_blk_discard(virtio_blk *blk, uint64_t sector, uint64_t count);
VIRTIO_API virtio_result virtio_blk_write_zeroes(virtio_blk *blk, uint64_t sector, uint64_t count, int unmap);

/* Read the device's serial number (GET_ID) into serial[0..20], always
   NUL-terminated. Returns as virtio_blk_read. */
VIRTIO_API virtio_result virtio_blk_get_id(virtio_blk *blk, char serial[21]);

/* Switch the write cache between write-back (1) and write-through (0).
   Returns VIRTIO_OK; VIRTIO_ERR_UNSUPPORTED without CONFIG_WCE;
   VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_blk_set_writeback(virtio_blk *blk, int on);

/* Re-read the configuration into blk->info (after a configuration-change
   interrupt: the capacity of a resized disk). Returns VIRTIO_OK,
   VIRTIO_ERR_DEVICE, VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_blk_refresh(virtio_blk *blk);

#ifdef __cplusplus
}
#endif
#endif /* VIRTIO_BLK_H */

/* ==================================================================== */
/* Implementation                                                        */
/* ==================================================================== */
#if defined(VIRTIO_BLK_IMPLEMENTATION) && !defined(VIRTIO__BLK_DONE)
#define VIRTIO__BLK_DONE

/* Feature bits (virtio 1.2 5.2.3). */
#define VIRTIO__BLK_F_SIZE_MAX 1
#define VIRTIO__BLK_F_SEG_MAX 2
#define VIRTIO__BLK_F_GEOMETRY 4
#define VIRTIO__BLK_F_RO 5
#define VIRTIO__BLK_F_BLK_SIZE 6
#define VIRTIO__BLK_F_FLUSH 9
#define VIRTIO__BLK_F_TOPOLOGY 10
#define VIRTIO__BLK_F_CONFIG_WCE 11
#define VIRTIO__BLK_F_DISCARD 13
#define VIRTIO__BLK_F_WRITE_ZEROES 14

/* Configuration layout (virtio 1.2 5.2.4); each field names its guard. */
#define VIRTIO__BLK_CFG_CAPACITY 0        /* le64, always */
#define VIRTIO__BLK_CFG_SIZE_MAX 8        /* le32, SIZE_MAX */
#define VIRTIO__BLK_CFG_SEG_MAX 12        /* le32, SEG_MAX */
#define VIRTIO__BLK_CFG_CYLINDERS 16      /* le16, GEOMETRY */
#define VIRTIO__BLK_CFG_HEADS 18          /* u8, GEOMETRY */
#define VIRTIO__BLK_CFG_SECTORS 19        /* u8, GEOMETRY */
#define VIRTIO__BLK_CFG_BLK_SIZE 20       /* le32, BLK_SIZE */
#define VIRTIO__BLK_CFG_PHYS_EXP 24       /* u8, TOPOLOGY */
#define VIRTIO__BLK_CFG_ALIGN_OFF 25      /* u8, TOPOLOGY */
#define VIRTIO__BLK_CFG_MIN_IO 26         /* le16, TOPOLOGY */
#define VIRTIO__BLK_CFG_OPT_IO 28         /* le32, TOPOLOGY */
#define VIRTIO__BLK_CFG_WRITEBACK 32      /* u8, CONFIG_WCE */
#define VIRTIO__BLK_CFG_MAX_DISCARD 36    /* le32 x3, DISCARD: sectors, segs, alignment */
#define VIRTIO__BLK_CFG_MAX_WZ 48         /* le32 x2, WRITE_ZEROES: sectors, segs */
#define VIRTIO__BLK_CFG_WZ_UNMAP 56       /* u8, WRITE_ZEROES */

/* Request types and status (virtio 1.2 5.2.6). */
#define VIRTIO__BLK_T_IN 0u
#define VIRTIO__BLK_T_OUT 1u
#define VIRTIO__BLK_T_FLUSH 4u
#define VIRTIO__BLK_T_GET_ID 8u
#define VIRTIO__BLK_T_DISCARD 11u
#define VIRTIO__BLK_T_WRITE_ZEROES 13u
#define VIRTIO__BLK_S_OK 0u
#define VIRTIO__BLK_S_IOERR 1u
#define VIRTIO__BLK_S_UNSUPP 2u
#define VIRTIO__BLK_S_NONE 0xffu          /* preset: the device never writes it */
#define VIRTIO__BLK_ID_BYTES 20u

/* Per-slot DMA area: request header (type, reserved, sector), then the
   discard/write-zeroes range or the GET_ID answer, then the status, then
   the slot's indirect table for one-piece reads and writes (header, data,
   status; only the data entry changes per request). */
#define VIRTIO__BLK_HDR 0u
#define VIRTIO__BLK_DATA 16u
#define VIRTIO__BLK_STATUS 40u
#define VIRTIO__BLK_TABLE 48u
#define VIRTIO__BLK_STRIDE 96u

/* The per-request checks are inlined into submit. */
#if defined(__GNUC__) || defined(__clang__)
#define VIRTIO__BLK_INLINE static inline __attribute__((always_inline))
#else
#define VIRTIO__BLK_INLINE static inline
#endif
#define VIRTIO__BLK_MAGIC 0x626c6b21u     /* "blk!" */
#define VIRTIO__BLK_NONE 0xffffu
#define VIRTIO__BLK_WHOLE 0xfffeu          /* reap: a whole request finished (no record) */
#define VIRTIO__BLK_SYNC_TOKEN ((void *)0) /* sync requests are marked by state */

/* One caller request. */
typedef struct virtio__blk_io {
    void *token;
    virtio_blk_callback callback;
    unsigned char *buf;       /* next byte to submit */
    size_t left;              /* bytes not yet submitted */
    uint64_t sector;          /* next sector to submit */
    int result;
    uint32_t outstanding;     /* device requests in flight */
    uint16_t op, flags;
    uint16_t next;            /* free / pending / done list link */
    uint16_t state;           /* 0 free, 1 active, 2 done (sync, waiting), 3 done (on done list) */
} virtio__blk_io;

/* One device request in flight. */
typedef struct virtio__blk_slot {
    unsigned char *buf;       /* data start, for unmap and GET_ID copy-out */
    void *token;              /* a whole request (io == NONE): the caller's token */
    virtio_blk_callback callback;   /* ... and callback */
    uint16_t io;              /* the caller request this piece belongs to, or NONE */
    uint16_t nsg;             /* mapped data pieces */
    uint16_t next;            /* free list */
    uint8_t dir;              /* VIRTIO_DMA_* of the data */
    uint8_t busy;             /* posted to the device */
} virtio__blk_slot;

#define VIRTIO__BLK_IO_FREE 0
#define VIRTIO__BLK_IO_ACTIVE 1
#define VIRTIO__BLK_IO_SYNC_DONE 2
#define VIRTIO__BLK_IO_DONE 3
#define VIRTIO__BLK_IOF_SYNC 0x8000u      /* internal flag: a blocking call waits for it */

static inline virtio__blk_io *virtio__blk_ios(const virtio_blk *b) { return (virtio__blk_io *)b->priv.io; }
static inline virtio__blk_slot *virtio__blk_slots(const virtio_blk *b) { return (virtio__blk_slot *)b->priv.slot; }
static inline void virtio__blk_unmap(virtio_blk *b, uint32_t si);

static int virtio__blk_ok(const virtio_blk *b)
{
    return b && b->priv.magic == VIRTIO__BLK_MAGIC && !b->priv.broken;
}

static virtio_result virtio__blk_status(uint32_t s)
{
    if (s == VIRTIO__BLK_S_OK) return VIRTIO_OK;
    if (s == VIRTIO__BLK_S_IOERR) return VIRTIO_ERR_IO;
    if (s == VIRTIO__BLK_S_UNSUPP) return VIRTIO_ERR_UNSUPPORTED;
    return VIRTIO_ERR_DEVICE;
}

static virtio_result virtio__blk_read_info(virtio_blk *b)
{
    virtio_device *d = &b->dev;
    virtio_blk_info *in = &b->info;
    uint32_t v32, words[3];
    uint16_t v16;
    uint8_t v8;
    virtio_result r;
    VIRTIO_MEMSET(in, 0, sizeof(*in));
#define VIRTIO__BLK_TRY(x) do { if ((r = (x)) != VIRTIO_OK) return r; } while (0)
    VIRTIO__BLK_TRY(virtio_config_read64(d, VIRTIO__BLK_CFG_CAPACITY, &in->capacity));
    in->block_size = 512;
    if (virtio_device_has(d, VIRTIO__BLK_F_BLK_SIZE)) {
        VIRTIO__BLK_TRY(virtio_config_read32(d, VIRTIO__BLK_CFG_BLK_SIZE, &v32));
        if (v32 < 512 || v32 > 65536 || (v32 & (v32 - 1)) != 0) return VIRTIO_ERR_DEVICE;
        in->block_size = v32;
    }
    if (virtio_device_has(d, VIRTIO__BLK_F_SIZE_MAX)) {
        VIRTIO__BLK_TRY(virtio_config_read32(d, VIRTIO__BLK_CFG_SIZE_MAX, &in->size_max));
        if (in->size_max != 0 && in->size_max < 512) return VIRTIO_ERR_DEVICE;
    }
    if (virtio_device_has(d, VIRTIO__BLK_F_SEG_MAX)) {
        VIRTIO__BLK_TRY(virtio_config_read32(d, VIRTIO__BLK_CFG_SEG_MAX, &in->seg_max));
        if (in->seg_max == 0) return VIRTIO_ERR_DEVICE;
    }
    if (virtio_device_has(d, VIRTIO__BLK_F_GEOMETRY)) {
        VIRTIO__BLK_TRY(virtio_config_read16(d, VIRTIO__BLK_CFG_CYLINDERS, &v16));
        in->cylinders = v16;
        VIRTIO__BLK_TRY(virtio_config_read8(d, VIRTIO__BLK_CFG_HEADS, &v8));
        in->heads = v8;
        VIRTIO__BLK_TRY(virtio_config_read8(d, VIRTIO__BLK_CFG_SECTORS, &v8));
        in->sectors = v8;
    }
    if (virtio_device_has(d, VIRTIO__BLK_F_TOPOLOGY)) {
        VIRTIO__BLK_TRY(virtio_config_read8(d, VIRTIO__BLK_CFG_PHYS_EXP, &v8));
        in->physical_block_exp = v8;
        VIRTIO__BLK_TRY(virtio_config_read8(d, VIRTIO__BLK_CFG_ALIGN_OFF, &v8));
        in->alignment_offset = v8;
        VIRTIO__BLK_TRY(virtio_config_read16(d, VIRTIO__BLK_CFG_MIN_IO, &v16));
        in->min_io_size = v16;
        VIRTIO__BLK_TRY(virtio_config_read32(d, VIRTIO__BLK_CFG_OPT_IO, &in->opt_io_size));
    }
    in->read_only = (uint32_t)virtio_device_has(d, VIRTIO__BLK_F_RO);
    in->flush = (uint32_t)virtio_device_has(d, VIRTIO__BLK_F_FLUSH);
    in->config_wce = (uint32_t)virtio_device_has(d, VIRTIO__BLK_F_CONFIG_WCE);
    in->writeback = in->flush;
    if (in->config_wce) {
        VIRTIO__BLK_TRY(virtio_config_read8(d, VIRTIO__BLK_CFG_WRITEBACK, &v8));
        in->writeback = v8 != 0;
    }
    if (virtio_device_has(d, VIRTIO__BLK_F_DISCARD)) {
        VIRTIO__BLK_TRY(virtio_config_read(d, VIRTIO__BLK_CFG_MAX_DISCARD, words, sizeof words));
        in->max_discard_sectors = (uint32_t)virtio_load(d, &words[0], 4);
        in->max_discard_seg = (uint32_t)virtio_load(d, &words[1], 4);
        in->discard_sector_alignment = (uint32_t)virtio_load(d, &words[2], 4);
        /* Limits too small for one block: the command is unusable. */
        in->discard = in->max_discard_seg && in->max_discard_sectors >= in->block_size / 512u;
    }
    if (virtio_device_has(d, VIRTIO__BLK_F_WRITE_ZEROES)) {
        VIRTIO__BLK_TRY(virtio_config_read(d, VIRTIO__BLK_CFG_MAX_WZ, words, 8));
        in->max_write_zeroes_sectors = (uint32_t)virtio_load(d, &words[0], 4);
        in->max_write_zeroes_seg = (uint32_t)virtio_load(d, &words[1], 4);
        in->write_zeroes = in->max_write_zeroes_seg && in->max_write_zeroes_sectors >= in->block_size / 512u;
        VIRTIO__BLK_TRY(virtio_config_read8(d, VIRTIO__BLK_CFG_WZ_UNMAP, &v8));
        in->write_zeroes_may_unmap = v8;
    }
#undef VIRTIO__BLK_TRY
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_blk_init(virtio_blk *blk, const virtio_device *dev, const virtio_blk_options *o)
{
    virtio_blk_options def;
    virtio_queue_options qo;
    const virtio_platform *p;
    uint32_t slots, segs, qsize, i;
    size_t io_off, sg_off;
    virtio_result r;
    uint64_t want = VIRTIO_FEATURE_BIT(VIRTIO__BLK_F_SIZE_MAX) | VIRTIO_FEATURE_BIT(VIRTIO__BLK_F_SEG_MAX) |
                    VIRTIO_FEATURE_BIT(VIRTIO__BLK_F_GEOMETRY) | VIRTIO_FEATURE_BIT(VIRTIO__BLK_F_RO) |
                    VIRTIO_FEATURE_BIT(VIRTIO__BLK_F_BLK_SIZE) | VIRTIO_FEATURE_BIT(VIRTIO__BLK_F_FLUSH) |
                    VIRTIO_FEATURE_BIT(VIRTIO__BLK_F_TOPOLOGY) | VIRTIO_FEATURE_BIT(VIRTIO__BLK_F_CONFIG_WCE) |
                    VIRTIO_FEATURE_BIT(VIRTIO__BLK_F_DISCARD) | VIRTIO_FEATURE_BIT(VIRTIO__BLK_F_WRITE_ZEROES);
    if (!blk || !dev) return VIRTIO_ERR_INVALID_ARG;
    if (dev->device_id != VIRTIO_DEVICE_BLOCK) return VIRTIO_ERR_NOT_FOUND;
    if (!o) {
        VIRTIO_ZERO(&def);
        o = &def;
    }
    if (o->max_requests > 1024 || o->max_segments > 1024) return VIRTIO_ERR_INVALID_ARG;
    VIRTIO_ZERO(blk);
    blk->dev = *dev;
    p = blk->dev.platform;
    if ((r = virtio_device_begin(&blk->dev, want, &o->device)) != VIRTIO_OK) return r;
    if ((r = virtio__blk_read_info(blk)) != VIRTIO_OK) goto fail;

    slots = o->max_requests ? o->max_requests : 64u;
    segs = o->max_segments ? o->max_segments : 32u;
    if (blk->info.seg_max && segs > blk->info.seg_max) segs = blk->info.seg_max;
    /* With indirect descriptors a request takes one ring slot, so a ring
       as deep as the request table is enough; but no chain, indirect or
       not, may be longer than the ring (virtio 1.2 2.7.5.3.1). */
    VIRTIO_ZERO(&qo);
    qo.indirect = segs + 2;
    if (virtio_device_has(&blk->dev, VIRTIO_FEATURE_INDIRECT_DESC))
        for (qo.size = 4; qo.size < slots || qo.size < segs + 2; qo.size <<= 1) {}
    if ((r = virtio_queue_init(&blk->queue, &blk->dev, 0, &qo)) != VIRTIO_OK) goto fail;
    qsize = blk->queue.indirect ? blk->queue.indirect : blk->queue.size;
    if (qsize < 3) {
        r = VIRTIO_ERR_DEVICE;
        goto fail;
    }
    if (segs + 2 > qsize) segs = qsize - 2;
    /* One request must be able to carry a whole block. */
    if (blk->info.size_max && (uint64_t)segs * blk->info.size_max < blk->info.block_size) {
        r = VIRTIO_ERR_DEVICE;
        goto fail;
    }
    blk->priv.slots = slots;
    blk->priv.segs = segs;

    r = virtio_alloc(p, (size_t)slots * VIRTIO__BLK_STRIDE, 16, VIRTIO_MEM_DMA, (void **)&blk->priv.dma,
                     &blk->priv.dma_dev);
    if (r != VIRTIO_OK) goto fail;
    blk->priv.dma_bytes = (size_t)slots * VIRTIO__BLK_STRIDE;
    io_off = (size_t)slots * sizeof(virtio__blk_slot);
    io_off = (io_off + 15) & ~(size_t)15;
    sg_off = io_off + (size_t)slots * sizeof(virtio__blk_io);
    sg_off = (sg_off + 15) & ~(size_t)15;
    blk->priv.mem_bytes = sg_off + (size_t)slots * (segs + 2) * sizeof(virtio_sg);
    r = virtio_alloc(p, blk->priv.mem_bytes, 16, VIRTIO_MEM_PRIVATE, &blk->priv.mem, 0);
    if (r != VIRTIO_OK) goto fail;
    blk->priv.slot = blk->priv.mem;
    blk->priv.io = (unsigned char *)blk->priv.mem + io_off;
    blk->priv.sg = (virtio_sg *)(void *)((unsigned char *)blk->priv.mem + sg_off);
    for (i = 0; i < slots; i++) {
        virtio__blk_slots(blk)[i].next = (uint16_t)(i + 1 < slots ? i + 1 : VIRTIO__BLK_NONE);
        virtio__blk_ios(blk)[i].next = (uint16_t)(i + 1 < slots ? i + 1 : VIRTIO__BLK_NONE);
    }
    /* Identity DMA (no dma_map hook) and indirect descriptors: a read or
       write in one piece needs no scatter list, only its data entry. */
    blk->priv.table = blk->queue.indirect >= 3 && !p->dma_map;
    for (i = 0; blk->priv.table && i < 2 * slots; i++) {   /* entries 0 (header) and 2 (status) of each */
        uint32_t k = i & 1u ? 2 : 0;
        size_t off = (size_t)(i / 2) * VIRTIO__BLK_STRIDE;
        virtio_table_set(&blk->queue, blk->priv.dma + off + VIRTIO__BLK_TABLE, k, 3,
                         blk->priv.dma_dev + off + (k ? VIRTIO__BLK_STATUS : VIRTIO__BLK_HDR), k ? 1 : 16, k != 0);
    }
    blk->priv.free_slot = blk->priv.free_io = 0;
    blk->priv.pend_head = blk->priv.pend_tail = VIRTIO__BLK_NONE;
    blk->priv.done_head = blk->priv.done_tail = VIRTIO__BLK_NONE;
    blk->last_status = VIRTIO__BLK_S_NONE;
    if ((r = virtio_device_ready(&blk->dev)) != VIRTIO_OK) goto fail;
    blk->priv.magic = VIRTIO__BLK_MAGIC;
    return VIRTIO_OK;
fail:
    virtio_device_fail(&blk->dev);
    virtio_device_reset(&blk->dev);
    virtio_queue_destroy(&blk->queue);   /* VIRTIO_ERR_STATE if it was never set up */
    virtio_free(p, blk->priv.dma, blk->priv.dma_bytes, VIRTIO_MEM_DMA);
    virtio_free(p, blk->priv.mem, blk->priv.mem_bytes, VIRTIO_MEM_PRIVATE);
    blk->priv.dma = 0;
    blk->priv.mem = 0;
    return r;
}

VIRTIO_API virtio_result virtio_blk_shutdown(virtio_blk *blk)
{
    const virtio_platform *p;
    uint32_t i;
    if (!blk || blk->priv.magic != VIRTIO__BLK_MAGIC) return VIRTIO_ERR_STATE;
    p = blk->dev.platform;
    virtio_device_reset(&blk->dev);   /* stops the device touching memory */
    for (i = 0; i < blk->priv.slots; i++)   /* abandoned requests give their mappings back */
        if (virtio__blk_slots(blk)[i].busy) virtio__blk_unmap(blk, i);
    virtio_queue_destroy(&blk->queue);
    virtio_free(p, blk->priv.dma, blk->priv.dma_bytes, VIRTIO_MEM_DMA);
    virtio_free(p, blk->priv.mem, blk->priv.mem_bytes, VIRTIO_MEM_PRIVATE);
    blk->priv.magic = 0;
    blk->priv.dma = 0;
    blk->priv.mem = 0;
    return VIRTIO_OK;
}

/* >>blk.lists */
static void virtio__blk_append(virtio_blk *b, uint16_t *head, uint16_t *tail, uint16_t i)
{
    virtio__blk_ios(b)[i].next = VIRTIO__BLK_NONE;
    if (*tail == VIRTIO__BLK_NONE) *head = i;
    else virtio__blk_ios(b)[*tail].next = i;
    *tail = i;
}

static uint16_t virtio__blk_shift(virtio_blk *b, uint16_t *head, uint16_t *tail)
{
    uint16_t i = *head;
    if (i != VIRTIO__BLK_NONE) {
        *head = virtio__blk_ios(b)[i].next;
        if (*head == VIRTIO__BLK_NONE) *tail = VIRTIO__BLK_NONE;
    }
    return i;
}

static void virtio__blk_free_io(virtio_blk *b, uint16_t i)
{
    virtio__blk_io *io = &virtio__blk_ios(b)[i];
    io->state = VIRTIO__BLK_IO_FREE;
    io->next = b->priv.free_io;
    b->priv.free_io = i;
    b->inflight--;
}

/* A caller request has no pieces left in flight or to submit. Returns 1
   if it is a token request for the caller of reap to hand out (the record
   stays allocated until then), 0 if it was dealt with here. */
static int virtio__blk_finish(virtio_blk *b, uint16_t i)
{
    virtio__blk_io *io = &virtio__blk_ios(b)[i];
    if (io->flags & VIRTIO__BLK_IOF_SYNC) {
        io->state = VIRTIO__BLK_IO_SYNC_DONE;   /* the waiting call frees it */
        return 0;
    }
    if (io->callback) {
        void *token = io->token;
        virtio_blk_callback cb = io->callback;
        virtio_result res = (virtio_result)io->result;
        virtio__blk_free_io(b, i);
        cb(b, token, res);
        return 0;
    }
    io->state = VIRTIO__BLK_IO_DONE;
    return 1;
}

/* >>blk.issue
   Put pieces of caller request ii on the ring while slots are free.
   Returns VIRTIO_OK (all pieces or as many as fit are posted),
   VIRTIO_ERR_NO_SPACE (no slot or ring room now: try later), or the error
   that ended the request (mapping failed, the queue broke). */
static virtio_result virtio__blk_issue(virtio_blk *b, uint16_t ii)
{
    const virtio_platform *p = b->dev.platform;
    virtio__blk_io *io = &virtio__blk_ios(b)[ii];
    while (io->left) {
        uint16_t si = b->priv.free_slot;
        virtio__blk_slot *s;
        virtio_sg *sg;
        unsigned char *dma;
        uint64_t dma_dev;
        uint32_t type = VIRTIO__BLK_T_FLUSH, n = 0, out = 1, in = 1;
        size_t chunk = io->left;
        virtio_result r = VIRTIO_OK;
        if (si == VIRTIO__BLK_NONE) return VIRTIO_ERR_NO_SPACE;
        s = &virtio__blk_slots(b)[si];
        sg = b->priv.sg + (size_t)si * (b->priv.segs + 2);
        dma = b->priv.dma + (size_t)si * VIRTIO__BLK_STRIDE;
        dma_dev = b->priv.dma_dev + (uint64_t)si * VIRTIO__BLK_STRIDE;
        s->buf = io->buf;
        s->nsg = 0;
        s->dir = VIRTIO_DMA_TO_DEVICE;
        switch (io->op) {
        case VIRTIO_BLK_OP_READ:
        case VIRTIO_BLK_OP_WRITE: {
            int dir = io->op == VIRTIO_BLK_OP_READ ? VIRTIO_DMA_FROM_DEVICE : VIRTIO_DMA_TO_DEVICE;
            uint32_t bs = b->info.block_size;
            type = io->op == VIRTIO_BLK_OP_READ ? VIRTIO__BLK_T_IN : VIRTIO__BLK_T_OUT;
            if (!p->dma_map && (!b->info.size_max || io->left <= b->info.size_max) && io->left <= 0x80000000u) {
                sg[1].addr = (uint64_t)(uintptr_t)io->buf;   /* identity, one piece: the common case */
                sg[1].len = (uint32_t)io->left;
                n = 1;
            } else {
                r = virtio_dma_map(p, io->buf, io->left, dir, sg + 1, b->priv.segs, b->info.size_max, &n, &chunk);
                if (r == VIRTIO_OK && (chunk & (bs - 1)) != 0) {
                    /* Out of pieces mid-block: map again up to the last whole block. */
                    virtio_dma_unmap(p, io->buf, dir, sg + 1, n);
                    chunk &= ~(size_t)(bs - 1);
                    r = chunk ? virtio_dma_map(p, io->buf, chunk, dir, sg + 1, b->priv.segs, b->info.size_max, &n, 0)
                              : VIRTIO_ERR_TOO_BIG;
                }
            }
            s->dir = (uint8_t)dir;
            s->nsg = (uint16_t)n;
            if (dir == VIRTIO_DMA_FROM_DEVICE) in += n;
            else out += n;
            break;
        }
        case VIRTIO_BLK_OP_DISCARD:
        case VIRTIO_BLK_OP_WRITE_ZEROES: {
            int dz = io->op == VIRTIO_BLK_OP_DISCARD;
            uint64_t max = (dz ? b->info.max_discard_sectors : b->info.max_write_zeroes_sectors);
            uint64_t bsec = b->info.block_size / 512u;
            max &= ~(bsec - 1);   /* whole blocks (powers of two); at least one (read_info) */
            type = dz ? VIRTIO__BLK_T_DISCARD : VIRTIO__BLK_T_WRITE_ZEROES;
            if (io->left / 512u > max) chunk = (size_t)max * 512u;
            virtio_store(&b->dev, dma + VIRTIO__BLK_DATA, io->sector, 8);
            virtio_store(&b->dev, dma + VIRTIO__BLK_DATA + 8, chunk / 512u, 4);
            virtio_store(&b->dev, dma + VIRTIO__BLK_DATA + 12, (io->flags & VIRTIO_BLK_REQ_UNMAP) && !dz ? 1u : 0u, 4);
            sg[1].addr = dma_dev + VIRTIO__BLK_DATA;
            sg[1].len = 16;
            out = 2;
            n = 1;
            break;
        }
        case VIRTIO_BLK_OP_GET_ID:   /* one device request; left is 1 */
            type = VIRTIO__BLK_T_GET_ID;
            sg[1].addr = dma_dev + VIRTIO__BLK_DATA;
            sg[1].len = VIRTIO__BLK_ID_BYTES;
            VIRTIO_MEMSET(dma + VIRTIO__BLK_DATA, 0, VIRTIO__BLK_ID_BYTES);
            in = 2;
            n = 1;
            break;
        default:   /* FLUSH: one device request, left is 1 */
            break;
        }
        if (r != VIRTIO_OK) return r;
        virtio_store(&b->dev, dma + VIRTIO__BLK_HDR, type, 4);
        virtio_store(&b->dev, dma + VIRTIO__BLK_HDR + 4, 0, 4);
        virtio_store(&b->dev, dma + VIRTIO__BLK_HDR + 8,
                     type == VIRTIO__BLK_T_IN || type == VIRTIO__BLK_T_OUT ? io->sector : 0, 8);
        dma[VIRTIO__BLK_STATUS] = VIRTIO__BLK_S_NONE;
        sg[0].addr = dma_dev + VIRTIO__BLK_HDR;
        sg[0].len = 16;
        sg[n + 1].addr = dma_dev + VIRTIO__BLK_STATUS;
        sg[n + 1].len = 1;
        r = virtio_queue_add(&b->queue, sg, out, in, (void *)(uintptr_t)(si + 1u));
        if (r != VIRTIO_OK) {
            if (s->nsg && p->dma_unmap && io->op <= VIRTIO_BLK_OP_WRITE) virtio_dma_unmap(p, io->buf, s->dir, sg + 1, n);
            return r;   /* NO_SPACE: ring full, retried when something completes */
        }
        b->priv.free_slot = s->next;
        s->io = ii;
        s->busy = 1;
        io->outstanding++;
        if (io->buf) io->buf += chunk;   /* FLUSH and ranges have no buffer */
        io->sector += chunk / 512u;
        io->left -= chunk;
    }
    return VIRTIO_OK;
}

/* A whole request: a read or write (not a blocking call's) in one piece
   at the buffer's own address, nothing waiting ahead of it, a slot and a
   ring entry free. It needs no caller-request record: the slot carries
   the token and callback, and the slot's table already points at its
   header and status, so the header, the status preset and the data entry
   are all that change. */
static inline int virtio__blk_is_whole(const virtio_blk *b, const virtio_blk_request *rq, uint16_t extra)
{
    return b->priv.table && rq->op <= VIRTIO_BLK_OP_WRITE && !(extra & VIRTIO__BLK_IOF_SYNC) &&
           (!b->info.size_max || rq->len <= b->info.size_max) && rq->len <= 0x80000000u &&
           b->priv.pend_head == VIRTIO__BLK_NONE && b->priv.free_slot != VIRTIO__BLK_NONE && b->queue.num_free;
}

static virtio_result virtio__blk_issue_whole(virtio_blk *b, const virtio_blk_request *rq)
{
    uint16_t si = b->priv.free_slot;
    virtio__blk_slot *s = &virtio__blk_slots(b)[si];
    size_t off = (size_t)si * VIRTIO__BLK_STRIDE;
    unsigned char *dma = b->priv.dma + off;
    uint32_t len = (uint32_t)rq->len;
    int rd = rq->op == VIRTIO_BLK_OP_READ;
    virtio_result r;
    virtio_store(&b->dev, dma + VIRTIO__BLK_HDR, rd ? VIRTIO__BLK_T_IN : VIRTIO__BLK_T_OUT, 4);
    virtio_store(&b->dev, dma + VIRTIO__BLK_HDR + 4, 0, 4);
    virtio_store(&b->dev, dma + VIRTIO__BLK_HDR + 8, rq->sector, 8);
    dma[VIRTIO__BLK_STATUS] = VIRTIO__BLK_S_NONE;
    virtio_table_set(&b->queue, dma + VIRTIO__BLK_TABLE, 1, 3, (uint64_t)(uintptr_t)rq->buf, len, rd);
    r = virtio_queue_add_table(&b->queue, b->priv.dma_dev + off + VIRTIO__BLK_TABLE, 3, rd ? len + 1 : 1,
                               (void *)(uintptr_t)(si + 1u));
    if (r != VIRTIO_OK) return r;
    b->priv.free_slot = s->next;
    s->buf = (unsigned char *)rq->buf;
    s->token = rq->token;
    s->callback = rq->callback;
    s->io = VIRTIO__BLK_NONE;
    s->nsg = 0;   /* nothing mapped, nothing to unmap */
    s->busy = 1;
    b->inflight++;
    return VIRTIO_OK;
}

/* A whole request finished while nobody can take it now (a blocking call
   waits for another one, or the device failed): give it a record on the
   done list for virtio_blk_poll. One is free: the request still counts in
   inflight, and there are no more requests than records. */
static void virtio__blk_keep(virtio_blk *b, void *token, virtio_result result)
{
    uint16_t i = b->priv.free_io;
    virtio__blk_io *io = &virtio__blk_ios(b)[i];
    b->priv.free_io = io->next;
    io->token = token;
    io->callback = 0;
    io->result = result;
    io->flags = 0;
    io->outstanding = 0;
    io->left = 0;
    io->state = VIRTIO__BLK_IO_DONE;
    virtio__blk_append(b, &b->priv.done_head, &b->priv.done_tail, i);
}

/* Continue the pending requests, oldest first, while there is room. */
static void virtio__blk_pump(virtio_blk *b, int kick)
{
    int added = 0;
    while (b->priv.pend_head != VIRTIO__BLK_NONE) {
        uint16_t ii = b->priv.pend_head;
        virtio__blk_io *io = &virtio__blk_ios(b)[ii];
        uint32_t before = io->outstanding;
        virtio_result r = io->result == VIRTIO_OK ? virtio__blk_issue(b, ii) : (virtio_result)io->result;
        added |= io->outstanding != before;
        if (r == VIRTIO_ERR_NO_SPACE) break;
        /* Done submitting (all posted, or failed: no more pieces go out). */
        virtio__blk_shift(b, &b->priv.pend_head, &b->priv.pend_tail);
        if (r != VIRTIO_OK && io->result == VIRTIO_OK) io->result = r;
        io->left = 0;
        if (io->outstanding == 0 && virtio__blk_finish(b, ii))
            virtio__blk_append(b, &b->priv.done_head, &b->priv.done_tail, ii);
    }
    if (added && kick) virtio_queue_kick(&b->queue);
}

/* >>blk.complete
   Give back a slot's data mapping (the device is done with it). */
static inline void virtio__blk_unmap(virtio_blk *b, uint32_t si)
{
    virtio__blk_slot *s = &virtio__blk_slots(b)[si];
    uint16_t op;
    s->busy = 0;
    if (!b->dev.platform->dma_unmap || !s->nsg) return;
    op = virtio__blk_ios(b)[s->io].op;
    if (op == VIRTIO_BLK_OP_READ || op == VIRTIO_BLK_OP_WRITE)
        virtio_dma_unmap(b->dev.platform, s->buf, s->dir, b->priv.sg + (size_t)si * (b->priv.segs + 2) + 1, s->nsg);
}

/* Fail everything in flight (after a reset or a protocol violation; the
   device no longer touches memory). Token requests go to the done list. */
static void virtio__blk_abort(virtio_blk *b, virtio_result why)
{
    uint32_t i;
    b->priv.broken = 1;
    for (i = 0; i < b->priv.slots; i++) {
        virtio__blk_slot *s = &virtio__blk_slots(b)[i];
        if (!s->busy) continue;
        virtio__blk_unmap(b, i);
        if (s->io != VIRTIO__BLK_NONE) continue;
        if (s->callback) {   /* a whole request ends here */
            b->inflight--;
            s->callback(b, s->token, why);
        } else {
            virtio__blk_keep(b, s->token, why);
        }
    }
    b->priv.pend_head = b->priv.pend_tail = VIRTIO__BLK_NONE;
    for (i = 0; i < b->priv.slots; i++) {
        virtio__blk_io *io = &virtio__blk_ios(b)[i];
        if (io->state != VIRTIO__BLK_IO_ACTIVE) continue;
        if (io->result == VIRTIO_OK) io->result = why;
        io->outstanding = 0;
        io->left = 0;
        if (virtio__blk_finish(b, (uint16_t)i)) virtio__blk_append(b, &b->priv.done_head, &b->priv.done_tail, (uint16_t)i);
    }
}

/* Take one used device request. Returns VIRTIO_OK with *done set to a
   finished token request's record, to VIRTIO__BLK_WHOLE (a whole token
   request finished: *token, *result; it still counts in inflight), or to
   VIRTIO__BLK_NONE; VIRTIO_EMPTY; or an error (the device broke the
   protocol: it is reset, everything is failed). */
static virtio_result virtio__blk_reap(virtio_blk *b, uint16_t *done, void **token, virtio_result *result)
{
    void *cookie = 0;
    uint32_t len = 0, status;
    virtio__blk_slot *s;
    virtio__blk_io *io;
    uint16_t si, ii;
    virtio_result r = virtio_queue_pop(&b->queue, &cookie, &len);
    *done = VIRTIO__BLK_NONE;
    if (r != VIRTIO_OK) {
        if (r == VIRTIO_ERR_DEVICE) {   /* stop the device before the buffers go back */
            virtio_device_reset(&b->dev);
            virtio__blk_abort(b, r);
        }
        return r;
    }
    si = (uint16_t)((uintptr_t)cookie - 1u);   /* our own cookie, from private memory */
    s = &virtio__blk_slots(b)[si];
    ii = s->io;
    status = *(volatile unsigned char *)(b->priv.dma + (size_t)si * VIRTIO__BLK_STRIDE + VIRTIO__BLK_STATUS);
    virtio__blk_unmap(b, si);
    b->last_status = status;
    /* Free again; nothing reuses it before the callbacks and the pump below. */
    s->next = b->priv.free_slot;
    b->priv.free_slot = si;
    if (ii == VIRTIO__BLK_NONE) {   /* a whole request */
        virtio_result res = status == VIRTIO__BLK_S_OK ? VIRTIO_OK : virtio__blk_status(status);
        if (s->callback) {
            b->inflight--;
            s->callback(b, s->token, res);
        } else {
            *done = VIRTIO__BLK_WHOLE;
            *token = s->token;
            *result = res;
        }
    } else {
        io = &virtio__blk_ios(b)[ii];
        if (io->op == VIRTIO_BLK_OP_GET_ID && status == VIRTIO__BLK_S_OK)
            VIRTIO_MEMCPY(s->buf, b->priv.dma + (size_t)si * VIRTIO__BLK_STRIDE + VIRTIO__BLK_DATA,
                          VIRTIO__BLK_ID_BYTES);
        if (status != VIRTIO__BLK_S_OK && io->result == VIRTIO_OK) io->result = virtio__blk_status(status);
        /* Finished when nothing is in flight and nothing is left to send (a
           failed request with pieces unsent is ended by the pump). */
        if (--io->outstanding == 0 && io->left == 0 && virtio__blk_finish(b, ii)) *done = ii;
    }
    if (b->priv.pend_head != VIRTIO__BLK_NONE) virtio__blk_pump(b, 1);
    return VIRTIO_OK;
}

/* Hand out token request i: its token and result, and free it. */
static void virtio__blk_hand_out(virtio_blk *b, uint16_t i, void **token, virtio_result *result)
{
    virtio__blk_io *io = &virtio__blk_ios(b)[i];
    if (token) *token = io->token;
    if (result) *result = (virtio_result)io->result;
    virtio__blk_free_io(b, i);
}

/* Hand out a whole token request that reap just finished. */
static virtio_result virtio__blk_hand_whole(virtio_blk *b, void *tok, virtio_result res, void **token,
                                            virtio_result *result)
{
    if (token) *token = tok;
    if (result) *result = res;
    b->inflight--;
    return VIRTIO_OK;
}

/* >>blk.api */
VIRTIO__BLK_INLINE virtio_result virtio__blk_check(virtio_blk *b, const virtio_blk_request *rq)
{
    const virtio_blk_info *in = &b->info;
    uint64_t bsec = in->block_size / 512u;
    if (rq->op > VIRTIO_BLK_OP_GET_ID || (rq->flags & ~(VIRTIO_BLK_REQ_MORE | VIRTIO_BLK_REQ_UNMAP)))
        return VIRTIO_ERR_INVALID_ARG;
    if (rq->op == VIRTIO_BLK_OP_FLUSH) return VIRTIO_OK;
    if (rq->op == VIRTIO_BLK_OP_GET_ID) return rq->buf && rq->len >= VIRTIO__BLK_ID_BYTES ? VIRTIO_OK : VIRTIO_ERR_INVALID_ARG;
    if (rq->op != VIRTIO_BLK_OP_READ && in->read_only) return VIRTIO_ERR_READ_ONLY;
    if (rq->op == VIRTIO_BLK_OP_DISCARD && !in->discard) return VIRTIO_ERR_UNSUPPORTED;
    if (rq->op == VIRTIO_BLK_OP_WRITE_ZEROES && !in->write_zeroes) return VIRTIO_ERR_UNSUPPORTED;
    if ((rq->op <= VIRTIO_BLK_OP_WRITE && !rq->buf) || rq->len == 0 || (rq->len & (in->block_size - 1)) != 0 ||
        (rq->sector & (bsec - 1)) != 0)
        return VIRTIO_ERR_INVALID_ARG;
    if (rq->sector > in->capacity || rq->len / 512u > in->capacity - rq->sector) return VIRTIO_ERR_RANGE;
    return VIRTIO_OK;
}

static virtio_result virtio__blk_start(virtio_blk *b, const virtio_blk_request *rq, uint16_t extra, uint16_t *idx)
{
    virtio__blk_io *io;
    uint16_t i;
    virtio_result r;
    if (!virtio__blk_ok(b)) return VIRTIO_ERR_STATE;
    if (!rq) return VIRTIO_ERR_INVALID_ARG;
    if ((r = virtio__blk_check(b, rq)) != VIRTIO_OK) return r;
    /* One record's worth of requests at most, whichever way they go. */
    if (b->inflight >= b->priv.slots) return VIRTIO_ERR_NO_SPACE;
    if (virtio__blk_is_whole(b, rq, extra) && virtio__blk_issue_whole(b, rq) == VIRTIO_OK) {
        if (!(rq->flags & VIRTIO_BLK_REQ_MORE)) virtio_queue_kick(&b->queue);
        return VIRTIO_OK;
    }
    /* (else, a queue that broke meanwhile fails it below, as any request) */
    i = b->priv.free_io;
    io = &virtio__blk_ios(b)[i];
    b->priv.free_io = io->next;
    io->token = rq->token;
    io->callback = rq->callback;
    io->buf = (unsigned char *)rq->buf;
    io->left = rq->op == VIRTIO_BLK_OP_FLUSH || rq->op == VIRTIO_BLK_OP_GET_ID ? 1 : rq->len;   /* 1: one device request */
    io->sector = rq->sector;
    io->result = VIRTIO_OK;
    io->outstanding = 0;
    io->op = (uint16_t)rq->op;
    io->flags = (uint16_t)(rq->flags | extra);
    io->state = VIRTIO__BLK_IO_ACTIVE;
    b->inflight++;
    if (idx) *idx = i;
    if (rq->op == VIRTIO_BLK_OP_FLUSH && !b->info.flush) {   /* write-through device: nothing to flush */
        io->left = 0;
        if (virtio__blk_finish(b, i)) virtio__blk_append(b, &b->priv.done_head, &b->priv.done_tail, i);
        return VIRTIO_OK;
    }
    /* Straight onto the ring unless older requests are still waiting. */
    if (b->priv.pend_head == VIRTIO__BLK_NONE) {
        r = virtio__blk_issue(b, i);
        if (r == VIRTIO_OK && io->outstanding && !(rq->flags & VIRTIO_BLK_REQ_MORE)) virtio_queue_kick(&b->queue);
        if (r == VIRTIO_OK) return VIRTIO_OK;
        if (r != VIRTIO_ERR_NO_SPACE) {
            io->result = r;
            io->left = 0;
            if (io->outstanding == 0 && virtio__blk_finish(b, i))
                virtio__blk_append(b, &b->priv.done_head, &b->priv.done_tail, i);
            return VIRTIO_OK;   /* the request completes with the error */
        }
        if (io->outstanding && !(rq->flags & VIRTIO_BLK_REQ_MORE)) virtio_queue_kick(&b->queue);
    }
    virtio__blk_append(b, &b->priv.pend_head, &b->priv.pend_tail, i);
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_blk_submit(virtio_blk *blk, const virtio_blk_request *rq)
{
    return virtio__blk_start(blk, rq, 0, 0);
}

VIRTIO_API virtio_result virtio_blk_kick(virtio_blk *blk)
{
    if (!virtio__blk_ok(blk)) return VIRTIO_ERR_STATE;
    return virtio_queue_kick(&blk->queue);
}

VIRTIO_API virtio_result virtio_blk_poll(virtio_blk *blk, void **token, virtio_result *result)
{
    uint16_t done;
    virtio_result r;
    if (!blk || blk->priv.magic != VIRTIO__BLK_MAGIC) return VIRTIO_ERR_STATE;
    if ((done = virtio__blk_shift(blk, &blk->priv.done_head, &blk->priv.done_tail)) != VIRTIO__BLK_NONE) {
        virtio__blk_hand_out(blk, done, token, result);
        return VIRTIO_OK;
    }
    if (blk->priv.broken) return VIRTIO_ERR_STATE;
    for (;;) {
        void *tok;
        virtio_result res;
        r = virtio__blk_reap(blk, &done, &tok, &res);
        if (done == VIRTIO__BLK_WHOLE) return virtio__blk_hand_whole(blk, tok, res, token, result);
        if (r != VIRTIO_OK) {   /* EMPTY, or the abort put everything on the done list */
            if ((done = virtio__blk_shift(blk, &blk->priv.done_head, &blk->priv.done_tail)) == VIRTIO__BLK_NONE)
                return r;
            virtio__blk_hand_out(blk, done, token, result);
            return VIRTIO_OK;
        }
        if (done != VIRTIO__BLK_NONE) {
            virtio__blk_hand_out(blk, done, token, result);
            return VIRTIO_OK;
        }
    }
}

/* Wait until io `sync` finishes (sync != NONE) or any token request
   completes (sync == NONE). The wait bound restarts with each completion. */
static virtio_result virtio__blk_wait(virtio_blk *b, uint16_t sync, void **token, virtio_result *result)
{
    virtio_wait w;
    uint32_t status;
    uint16_t done;
    void *tok;
    virtio_result r, res;
    virtio_wait_start(&w, b->dev.platform, 0);
    for (;;) {
        if (sync != VIRTIO__BLK_NONE) {
            virtio__blk_io *io = &virtio__blk_ios(b)[sync];
            if (io->state == VIRTIO__BLK_IO_SYNC_DONE) {
                r = (virtio_result)io->result;
                virtio__blk_free_io(b, sync);
                return r;
            }
        } else if ((done = virtio__blk_shift(b, &b->priv.done_head, &b->priv.done_tail)) != VIRTIO__BLK_NONE) {
            virtio__blk_hand_out(b, done, token, result);
            return VIRTIO_OK;
        } else if (b->inflight == 0) {
            return VIRTIO_EMPTY;   /* only callback requests were in flight */
        }
        if (b->priv.broken) return VIRTIO_ERR_STATE;
        r = virtio__blk_reap(b, &done, &tok, &res);
        if (r == VIRTIO_OK) {
            if (done == VIRTIO__BLK_WHOLE) {
                if (sync == VIRTIO__BLK_NONE) return virtio__blk_hand_whole(b, tok, res, token, result);
                virtio__blk_keep(b, tok, res);   /* for poll */
            } else if (done != VIRTIO__BLK_NONE) {
                if (sync == VIRTIO__BLK_NONE) {
                    virtio__blk_hand_out(b, done, token, result);
                    return VIRTIO_OK;
                }
                virtio__blk_append(b, &b->priv.done_head, &b->priv.done_tail, done);   /* for poll */
            }
            virtio_wait_start(&w, b->dev.platform, 0);
            continue;
        }
        if (r != VIRTIO_EMPTY) continue;   /* the abort finished everything */
        if (virtio_wait_step(&w) != VIRTIO_OK ||
            ((w.spins & 1023u) == 0 && virtio_device_status(&b->dev, &status) == VIRTIO_ERR_NEEDS_RESET)) {
            r = virtio_device_status(&b->dev, &status) == VIRTIO_ERR_NEEDS_RESET ? VIRTIO_ERR_NEEDS_RESET
                                                                               : VIRTIO_ERR_TIMEOUT;
            /* Stop the device before giving buffers back to the caller. */
            virtio_device_reset(&b->dev);
            virtio__blk_abort(b, r);
        }
    }
}

VIRTIO_API virtio_result virtio_blk_wait(virtio_blk *blk, void **token, virtio_result *result)
{
    if (!blk || blk->priv.magic != VIRTIO__BLK_MAGIC) return VIRTIO_ERR_STATE;
    if (blk->priv.done_head == VIRTIO__BLK_NONE && blk->inflight == 0) return VIRTIO_EMPTY;
    return virtio__blk_wait(blk, VIRTIO__BLK_NONE, token, result);
}

static virtio_result virtio__blk_sync(virtio_blk *b, uint32_t op, uint32_t flags, uint64_t sector, void *buf,
                                      size_t len)
{
    virtio_blk_request rq;
    uint16_t i;
    virtio_result r;
    VIRTIO_ZERO(&rq);
    rq.op = op;
    rq.flags = flags;
    rq.sector = sector;
    rq.buf = buf;
    rq.len = len;
    if ((r = virtio__blk_start(b, &rq, VIRTIO__BLK_IOF_SYNC, &i)) != VIRTIO_OK) return r;
    return virtio__blk_wait(b, i, 0, 0);
}

VIRTIO_API virtio_result virtio_blk_read(virtio_blk *blk, uint64_t sector, void *buf, size_t len)
{
    return virtio__blk_sync(blk, VIRTIO_BLK_OP_READ, 0, sector, buf, len);
}

VIRTIO_API virtio_result virtio_blk_write(virtio_blk *blk, uint64_t sector, const void *buf, size_t len)
{
    /* The device only reads the buffer; the cast lets one request type serve both directions. */
    return virtio__blk_sync(blk, VIRTIO_BLK_OP_WRITE, 0, sector, (void *)(uintptr_t)buf, len);
}

VIRTIO_API virtio_result virtio_blk_flush(virtio_blk *blk)
{
    return virtio__blk_sync(blk, VIRTIO_BLK_OP_FLUSH, 0, 0, 0, 0);
}

static virtio_result virtio__blk_range(virtio_blk *b, uint32_t op, uint32_t flags, uint64_t sector, uint64_t count)
{
    if (count > ((size_t)-1) / 512u) return VIRTIO_ERR_RANGE;
    return virtio__blk_sync(b, op, flags, sector, 0, (size_t)(count * 512u));
}

VIRTIO_API virtio_result virtio_blk_discard(virtio_blk *blk, uint64_t sector, uint64_t count)
{
    return virtio__blk_range(blk, VIRTIO_BLK_OP_DISCARD, 0, sector, count);
}

VIRTIO_API virtio_result virtio_blk_write_zeroes(virtio_blk *blk, uint64_t sector, uint64_t count, int unmap)
{
    return virtio__blk_range(blk, VIRTIO_BLK_OP_WRITE_ZEROES, unmap ? VIRTIO_BLK_REQ_UNMAP : 0, sector, count);
}

VIRTIO_API virtio_result virtio_blk_get_id(virtio_blk *blk, char serial[21])
{
    char id[VIRTIO__BLK_ID_BYTES];
    virtio_result r;
    unsigned i;
    if (!serial) return VIRTIO_ERR_INVALID_ARG;
    r = virtio__blk_sync(blk, VIRTIO_BLK_OP_GET_ID, 0, 0, id, sizeof id);
    if (r != VIRTIO_OK) return r;
    for (i = 0; i < VIRTIO__BLK_ID_BYTES; i++) serial[i] = id[i];
    serial[VIRTIO__BLK_ID_BYTES] = 0;
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_blk_set_writeback(virtio_blk *blk, int on)
{
    uint8_t v;
    virtio_result r;
    if (!virtio__blk_ok(blk)) return VIRTIO_ERR_STATE;
    if (!blk->info.config_wce) return VIRTIO_ERR_UNSUPPORTED;
    if ((r = virtio_config_write(&blk->dev, VIRTIO__BLK_CFG_WRITEBACK, 1, on ? 1u : 0u)) != VIRTIO_OK) return r;
    if ((r = virtio_config_read8(&blk->dev, VIRTIO__BLK_CFG_WRITEBACK, &v)) != VIRTIO_OK) return r;
    blk->info.writeback = v != 0;
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_blk_refresh(virtio_blk *blk)
{
    if (!virtio__blk_ok(blk)) return VIRTIO_ERR_STATE;
    return virtio__blk_read_info(blk);
}

#endif /* VIRTIO_BLK_IMPLEMENTATION */
