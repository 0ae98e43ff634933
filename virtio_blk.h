/* SPDX-License-Identifier: MIT OR Unlicense */
#if defined(VIRTIO_IMPLEMENTATION) && !defined(VIRTIO_BLK_IMPLEMENTATION)
#define VIRTIO_BLK_IMPLEMENTATION
#endif
#include "virtio.h"
#ifndef VIRTIO_BLK_H
#define VIRTIO_BLK_H
/*
virtio_blk.h - v0.3.11 - VirtIO block driver for virtio.h - MIT OR Unlicense

QUICK START

    #define VIRTIO_IMPLEMENTATION      // in one file
    #include "virtio_blk.h"

    virtio_device dev;                 // from virtio_mmio_probe / virtio_pci_probe
    static virtio_blk disk;            // zero-filled: init refuses a running disk
    if (virtio_blk_init(&disk, &dev, NULL) == VIRTIO_OK) {
        printf("%llu sectors of 512 bytes, %u-byte blocks%s\n",
               (unsigned long long)disk.info.capacity, disk.info.block_size,
               disk.info.read_only ? ", read-only" : "");
        virtio_blk_read(&disk, 0, buf, 4096);        // blocking
        virtio_blk_write(&disk, 8, buf, 4096);
        virtio_blk_flush(&disk);
    }

    // Many requests in flight: submit, then poll.
    virtio_blk_request rq;
    VIRTIO_ZERO(&rq);                  // zero fields get defaults
    rq.op = VIRTIO_BLK_OP_READ; rq.sector = 64; rq.buf = big; rq.len = 1 << 20;
    rq.token = &my_state;
    void *tok; virtio_result res;
    if (virtio_blk_submit(&disk, &rq) == VIRTIO_OK) {      // queued and notified
        do_other_work();
        if (virtio_blk_poll(&disk, &tok, &res) == VIRTIO_EMPTY)   // not done yet:
            virtio_blk_wait(&disk, &tok, &res);             // bounded wait
        // tok == &my_state; res is the request's own result
    }

CONFIGURATION

    macro                        default   scope
    VIRTIO_BLK_IMPLEMENTATION    -         emit this driver (VIRTIO_IMPLEMENTATION implies it)
    VIRTIO_BLK_MINIMAL           -         impl-only; the smallest driver, for boot stages:
                                           init, read, write, flush, refresh, shutdown, one
                                           request at a time; every other call answers
                                           VIRTIO_ERR_UNSUPPORTED (see BOOT STAGES)

Runtime choices are in virtio_blk_options (all-zero = defaults).

UNITS AND LIMITS

Sectors are 512 bytes whatever the disk's logical block size (as in the
VirtIO specification); capacity is in sectors. Offsets and lengths of
reads, writes, discards and write-zeroes must be multiples of the logical
block size (info.block_size, 512 or 4096 on QEMU). A request of any length
is accepted: the driver cuts it into device requests that respect the
device's seg_max and size_max (and max_discard_sectors /
max_write_zeroes_sectors), at most 1 GiB each (a descriptor chain stays
below 4 GiB), and reports the caller's request complete when
every piece is done (the first error wins). One virtqueue (no
multi-queue), no zoned commands, no secure erase.

REQUESTS

The disk has max_requests request slots. A caller request takes one slot
when it is submitted (VIRTIO_ERR_NO_SPACE if none is free) and keeps it
until it is handed back; while slots are free, a request cut into pieces
borrows more of them to keep several pieces in flight. The buffer belongs
to the device until the request is handed back: by virtio_blk_poll or
virtio_blk_wait (token and result), or, if the request has a callback, by
the callback, which runs inside virtio_blk_poll or virtio_blk_wait only,
never inside submit or a blocking call (a blocking call that notices a
completion parks it for the next poll). The blocking calls (read, write,
flush, discard, write_zeroes, get_id) submit one request and wait for it;
other requests may stay in flight meanwhile.

Notification: every call that posts requests notifies the device, unless
the request carries VIRTIO_MORE (then virtio_blk_kick, or the next request
without it, does). Posted work is never left unnotified when the driver
cannot post more: a request that does not fit the ring (or finds no slot
for its next piece) notifies at once, and so do completions that let
waiting pieces onto the ring, and every wait.

Bounded work: submit posts at most one request's pieces and never runs a
callback; poll handles at most one queue's worth of completions
(queue.size) per call; a wait ends by the platform timeout, which neither
the device nor a resubmitting callback can extend (a blocking call's
deadline restarts only when a piece of its own request completes, and a
request has a finite number of pieces).

INTERRUPTS

The driver polls by default. For interrupt-driven use arm the request
queue (virtio_queue_enable_cb(&disk.queue, &pending)), and in the handler
call virtio_device_isr(&disk.dev, &isr) (INTx, virtio-mmio):
VIRTIO_ISR_QUEUE means completions (drain them with virtio_blk_poll until
it returns anything but VIRTIO_OK, then re-arm; if enable_cb reports
pending, drain again: with event index an armed queue interrupts once),
VIRTIO_ISR_CONFIG means the configuration changed (call
virtio_blk_refresh). With MSI-X (virtio.h, THREADS, INTERRUPTS AND WAITS)
the request queue is queue 0: plan it before virtio_blk_init, and
disk.queue.vector says what the device took. Some requests finish with
no interrupt: a flush on a disk without a write cache, a request that
failed before it reached the device, and completions a blocking call set
aside; poll once before you sleep. Not concurrently with other calls on
the same disk.

MEMORY

virtio_blk_init allocates, and virtio_blk_shutdown frees (through the
platform's dma_alloc / dma_free):
  request slots   max_requests * 88 bytes + (segs + 2) * 16 (a scatter
                  list for posting), 16-aligned, VIRTIO_MEM_PRIVATE (64-bit
                  targets; 56 bytes a slot on most 32-bit ones, 54 where
                  ints are 2-byte aligned as on m68k)
  request memory  max_requests * 96 bytes, 16-aligned, VIRTIO_MEM_DMA: per
                  slot a 3-entry indirect table, the request header, the
                  discard range or serial number, the status byte
  unmap lists     only with a dma_unmap hook: max_requests * segs * 16
                  bytes, 16-aligned, VIRTIO_MEM_PRIVATE
  the queue       virtio_queue_init's allocations for the device's queue
                  size (or options.queue_size if smaller), with indirect
                  tables of segs + 2 entries (see virtio.h)
where segs = max_segments bounded by the device's seg_max. With the
defaults (32 requests, 8 segments): 2976 + 3072 (+ 4096 with dma_unmap)
bytes, no allocation above 4096 bytes from the driver itself. With the
queue, in all: on QEMU 7.2's virtio-blk (a 256-entry split ring) 50 702
bytes of DMA memory and 7 328 private in 22 allocations on a 64-bit CPU,
most of it the queue's 256 indirect tables (40 960 bytes, in pieces of
2 560); options.queue_size = 32 takes that to 9 038 and 3 520 in 7.
If a reset does not finish (shutdown, a timeout, a protocol error), the
device may still write every buffer it was given: nothing is unmapped,
freed or handed back, the memory is leaked (see UNTRUSTED DEVICE).

UNTRUSTED DEVICE

The status byte is preset to an impossible value and must be written by
the device; config values are range-checked (block size a power of two in
[512, 65536], seg_max >= 1, a discard or write-zeroes limit below one
block makes the command unsupported); the queue layer validates every
used entry. A wait that times out, a device that asks for a reset, or one
that breaks the queue protocol gets reset; if the reset finishes, every
request in flight is failed (VIRTIO_ERR_TIMEOUT, VIRTIO_ERR_NEEDS_RESET,
VIRTIO_ERR_DEVICE) and the disk refuses work (VIRTIO_ERR_STATE) until
virtio_blk_shutdown and virtio_blk_init. If the reset does not finish,
the device may still write into every buffer in flight, so none is
handed back: those requests never complete (blk->inflight stays
nonzero), the blocking call that noticed returns its error while its own
buffer is still the device's, and virtio_blk_shutdown returns
VIRTIO_ERR_TIMEOUT and leaks the driver's memory. Never reuse those
buffers.

BOOT STAGES

Built with VIRTIO_BLK_MINIMAL, the driver keeps every check of the device
and the caller but only blocking reads, writes and flushes, one device
request at a time, with plain chains (no indirect tables, one request
slot). It negotiates only SIZE_MAX, SEG_MAX, RO, BLK_SIZE and FLUSH:
info's geometry, topology, cache-mode and discard fields stay 0. The
smallest build adds virtio.h's subtractions for what a boot stage does not
use; none of them removes a check of the device:

    #define VIRTIO_IMPLEMENTATION
    #define VIRTIO_BLK_MINIMAL
    #define VIRTIO_NO_PCI          // or VIRTIO_NO_MMIO: one transport
    #define VIRTIO_NO_LEGACY       // modern devices only
    #define VIRTIO_NO_PACKED       // split rings
    #define VIRTIO_NO_INDIRECT
    #define VIRTIO_NO_EVENT_IDX
    #define VIRTIO_NO_DMA_MAP      // buffers at their CPU address
    #define VIRTIO_NO_MSIX         // polling (or INTx)
    #define VIRTIO_DIRECT_REGS     // volatile register access, no hooks
    #define VIRTIO_NO_STRINGS
    #define VIRTIO_NO_LOG
    #include "virtio_blk.h"

Compiled as boot stages are (no FP or SIMD registers: -mgeneral-regs-only
on aarch64 and x86, soft float on armv7) and linked with --gc-sections,
core + driver take (.text + .rodata, clang 14 -Os, bench/boot_size.py):
on virtio-mmio 6.1 KiB on riscv64, 5.0 KiB on armv7 Thumb-2, 7.0 KiB on
aarch64 and x86_64, 7.6 KiB on armv7 Arm, all within 8 KiB; on
virtio-pci 1.6 to 2.4 KiB more (BAR sizing and the capability walk:
within 8 KiB on riscv64, riscv32 and armv7 Thumb-2). The driver's share is
1.6 to 2.4 KiB. With a single transport its operations are direct calls
(no table). tests/qemu/test_boot_stage.py runs this build on QEMU disks,
on every architecture (x86 virtio-mmio on QEMU's microvm).

license: end of file (virtio.h)
*/

#if !defined(VIRTIO_KIT_VERSION) || VIRTIO_KIT_VERSION < 3 || VIRTIO_KIT_COMPAT > 3
#error "virtio_blk.h needs the virtio.h driver kit 3"
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

/* Request flags: VIRTIO_MORE (virtio.h: post, do not notify yet) and */
#define VIRTIO_BLK_REQ_UNMAP 2u  /* write-zeroes may deallocate the range */

/* What virtio_blk_refresh found changed in blk->info. */
#define VIRTIO_BLK_CHANGED_CAPACITY 1u   /* capacity (a resized disk) */
#define VIRTIO_BLK_CHANGED_WRITEBACK 2u  /* writeback (the cache mode) */
#define VIRTIO_BLK_CHANGED_LIMITS 4u     /* size_max, seg_max, discard and write-zeroes limits */
#define VIRTIO_BLK_CHANGED_LAYOUT 8u     /* geometry and topology */

typedef struct virtio_blk virtio_blk;

/* Completion callback: runs inside virtio_blk_poll or virtio_blk_wait;
   may submit requests and make blocking calls; must not call
   virtio_blk_poll, virtio_blk_wait or virtio_blk_shutdown (they answer
   VIRTIO_ERR_STATE there). */
typedef void (*virtio_blk_callback)(virtio_blk *blk, void *token, virtio_result result);

/* One request. Copied by submit; only the buffer must stay valid.
     op        VIRTIO_BLK_OP_*
     flags     VIRTIO_MORE, VIRTIO_BLK_REQ_UNMAP (default 0)
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

/* One completed request, as virtio_blk_poll_batch hands it back. */
typedef struct virtio_blk_completion {
    void *token;
    virtio_result result;
} virtio_blk_completion;

/* Driver choices. Defaults (all zero):
     device        automatic ring format, indirect and event index if offered
     max_requests  32 request slots (1..1024; see REQUESTS)
     max_segments  8 data pieces per device request, further bounded by
                   the device's seg_max (1..1024; matters only with a
                   dma_map hook, or beyond size_max)
     queue_size    0 = the device's queue size; n >= 4: at most n entries
                   (a device may keep its own size: the driver follows it) */
typedef struct virtio_blk_options {
    virtio_device_options device;
    uint32_t max_requests;
    uint32_t max_segments;
    uint32_t queue_size;
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

/* A block device. Caller-owned, must not move after init; zero it before
   the first init. Readable: dev, queue, info, last_status (status byte of
   the last device request that completed: 0 OK, 1 IOERR, 2 UNSUPP, 0xff
   none written), inflight (caller requests not yet handed back; after a
   reset that did not finish, the requests whose buffers the device may
   still own). */
struct virtio_blk {
    virtio_device dev;
    virtio_queue queue;
    virtio_blk_info info;
    uint32_t last_status;
    uint32_t inflight;
    struct {
        uint32_t magic;
        uint32_t broken;           /* 1: reset, everything failed; 2: reset did not finish */
        uint32_t in_callback;
        uint32_t slots;            /* request slots */
        uint32_t segs;             /* data pieces per device request */
        uint32_t segs_init;        /* ... as set up (the unmap lists' size) */
        uint32_t table;            /* one-piece reads and writes use the slot's own table */
        size_t one_max;            /* ... up to this many bytes */
        unsigned char *dma;        /* per slot: table, header, range/id, status */
        uint64_t dma_dev;
        void *mem;                 /* slots, then the posting scatter list */
        virtio_sg *sg;             /* posting scatter list (segs + 2) */
        virtio_sg *unmap;          /* per slot: its mapped pieces (dma_unmap hook only) */
        uint16_t free_slot;
        uint16_t pend_head, pend_tail;   /* requests with pieces left to post */
        uint16_t done_head, done_tail;   /* finished, waiting for poll or wait */
    } priv;
};

/* Initialise a block device on a probed device (copied into blk->dev);
   blk must be zero-filled or shut down (a running one is refused):
   negotiate features, read the configuration into blk->info, set up the
   queue and request memory, set DRIVER_OK. in: dev, o (NULL = defaults).
   Returns VIRTIO_OK; VIRTIO_ERR_STATE (blk is initialised and not shut
   down: nothing is changed); VIRTIO_ERR_NOT_FOUND (dev is not a block
   device); VIRTIO_ERR_DEVICE (nonsense configuration, a queue too small
   for a request, or a device without the queue or configuration fields
   its type requires: see virtio_device_fault); VIRTIO_ERR_NO_MEMORY; the
   errors of virtio_device_begin and virtio_queue_init;
   VIRTIO_ERR_INVALID_ARG (NULL, options out of range); VIRTIO_ERR_TIMEOUT
   (a reset did not finish: what was allocated is left to the device,
   leaked).
   Context: blocks for the reset (bounded); allocates through dma_alloc. */
VIRTIO_API virtio_result virtio_blk_init(virtio_blk *blk, const virtio_device *dev, const virtio_blk_options *o);

/* Reset the device and free the driver's memory. Requests in flight are
   abandoned without completion. Returns VIRTIO_OK; VIRTIO_ERR_TIMEOUT
   (the reset did not finish: the device may still use the memory, which
   is leaked, not freed; blk is shut down all the same); VIRTIO_ERR_STATE
   (not initialised, or inside a callback). */
VIRTIO_API virtio_result virtio_blk_shutdown(virtio_blk *blk);

/* Hand a request to the device (see REQUESTS).
   Returns VIRTIO_OK; VIRTIO_ERR_INVALID_ARG (NULL, unknown op or flag,
   zero or misaligned length or sector, GET_ID buffer < 20 bytes);
   VIRTIO_ERR_RANGE (beyond capacity); VIRTIO_ERR_READ_ONLY (write,
   discard or write-zeroes on a read-only disk); VIRTIO_ERR_UNSUPPORTED
   (discard / write-zeroes not offered); VIRTIO_ERR_NO_SPACE (no request
   slot free); VIRTIO_ERR_STATE (not initialised, or broken). A request
   that cannot be carried out once accepted (seg_max 1 and a dma_map that
   stops mid-block: VIRTIO_ERR_TOO_BIG; a mapping failure; a discard whose
   limit a refresh took away) completes with that error.
   Context: never blocks, runs no callback; no allocation. */
VIRTIO_API virtio_result virtio_blk_submit(virtio_blk *blk, const virtio_blk_request *rq);

/* Submit rq[0..n) in order, as virtio_blk_submit would, stopping at the
   first one submit would refuse; notify once at the end, unless all n
   were accepted and rq[n-1] carries VIRTIO_MORE (a batch cut short is
   always notified: what was handed over must not wait for the rest).
   Reads and writes of one piece (identity DMA, INDIRECT_DESC, at most
   size_max bytes) are put on the ring up to 16 at a time, under one
   write barrier: cheaper per request than submit.
   out: accepted (may be NULL), how many (a prefix of rq) were handed
   over: submit the next one alone to learn why it was refused.
   Returns VIRTIO_OK; VIRTIO_ERR_INVALID_ARG (rq NULL with n > 0);
   VIRTIO_ERR_STATE. Context: as submit. */
VIRTIO_API virtio_result virtio_blk_submit_batch(virtio_blk *blk, const virtio_blk_request *rq, uint32_t n,
                                                 uint32_t *accepted);

/* Notify the device of requests submitted with VIRTIO_MORE.
   Returns VIRTIO_OK or VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_blk_kick(virtio_blk *blk);

/* Process completions: callbacks run; the first finished request without
   a callback is handed back. out: token, result (either may be NULL).
   Returns VIRTIO_OK (one handed back); VIRTIO_EMPTY (none now: nothing
   completed, or one queue's worth of completions went to callbacks);
   VIRTIO_ERR_DEVICE (the device broke the protocol: it was reset and
   everything in flight failed, see UNTRUSTED DEVICE); VIRTIO_ERR_STATE
   (not initialised, broken and nothing left to hand back, or inside a
   callback). Context: never blocks; bounded (see REQUESTS). */
VIRTIO_API virtio_result virtio_blk_poll(virtio_blk *blk, void **token, virtio_result *result);

/* Like virtio_blk_poll, handing back up to max finished requests without
   callback into done[0..*count). out: done (not NULL when max > 0),
   count (may be NULL). Returns as virtio_blk_poll (VIRTIO_OK: *count >=
   1); VIRTIO_ERR_INVALID_ARG (done NULL, max 0). */
VIRTIO_API virtio_result virtio_blk_poll_batch(virtio_blk *blk, virtio_blk_completion *done, uint32_t max,
                                               uint32_t *count);

/* Like virtio_blk_poll, but wait until a request without callback is
   handed back, at most the platform timeout from the call (see UNTRUSTED
   DEVICE for what a timeout does). Returns as poll, plus
   VIRTIO_ERR_TIMEOUT / VIRTIO_ERR_NEEDS_RESET (when the reset did not
   finish; otherwise the requests are handed back with that result), and
   VIRTIO_EMPTY when nothing is in flight (at once, or once the callbacks
   of the last requests ran). */
VIRTIO_API virtio_result virtio_blk_wait(virtio_blk *blk, void **token, virtio_result *result);

/* Blocking I/O: submit one request and wait for it. sector in 512-byte
   units; len a multiple of info.block_size.
   Returns the request's result: VIRTIO_OK; VIRTIO_ERR_IO /
   VIRTIO_ERR_UNSUPPORTED (device status IOERR / UNSUPP); the argument
   errors of submit (VIRTIO_ERR_NO_SPACE when every slot is taken);
   VIRTIO_ERR_TIMEOUT; VIRTIO_ERR_NEEDS_RESET; VIRTIO_ERR_DEVICE.
   Context: blocks, bounded by the platform timeout per piece of the
   request; runs no callback. */
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
   NUL-terminated; serial is written only on VIRTIO_OK. Returns as
   virtio_blk_read, and VIRTIO_ERR_INVALID_ARG for a NULL serial. */
VIRTIO_API virtio_result virtio_blk_get_id(virtio_blk *blk, char serial[21]);

/* Switch the write cache between write-back (1) and write-through (0).
   Returns VIRTIO_OK; VIRTIO_ERR_UNSUPPORTED without CONFIG_WCE;
   VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_blk_set_writeback(virtio_blk *blk, int on);

/* Re-read the configuration into blk->info (after VIRTIO_ISR_CONFIG, or
   now and then when polling: a resized disk, a changed cache mode).
   out: changed (may be NULL), VIRTIO_BLK_CHANGED_* bits, 0 = nothing.
   On failure blk->info is left as it was. Features (read_only, flush)
   never change after init. Pieces of a discard or write-zeroes still to
   be posted when a refresh leaves the command unusable fail with
   VIRTIO_ERR_UNSUPPORTED. Returns VIRTIO_OK; VIRTIO_ERR_DEVICE (the
   generation never settled, or a value no device may report now: another
   block size, seg_max 0, size_max from 1 to 511 or too small for a
   block; size_max 0 means no limit);
   VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_blk_refresh(virtio_blk *blk, uint32_t *changed);

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

/* Per-slot DMA area: the slot's indirect table for one-piece reads and
   writes (header, data, status; only the data entry changes per
   request), the request header (type, reserved, sector), the
   discard/write-zeroes range or the GET_ID answer, the status byte. */
#define VIRTIO__BLK_TABLE 0u
#define VIRTIO__BLK_HDR 48u
#define VIRTIO__BLK_DATA 64u
#define VIRTIO__BLK_STATUS 88u
#define VIRTIO__BLK_STRIDE 96u
/* A slot's DMA area, which is 16-byte aligned (virtio_alloc checked the
   block, the stride keeps it): said to the compiler, the header's
   fields are single stores where unaligned ones would be byte by byte. */
#if defined(__GNUC__) || defined(__clang__)
#define VIRTIO__BLK_AREA(s) ((unsigned char *)__builtin_assume_aligned((s)->dma, 16))
#else
#define VIRTIO__BLK_AREA(s) ((s)->dma)
#endif

/* The per-request checks are inlined into submit. */
#if defined(__GNUC__) || defined(__clang__)
#define VIRTIO__BLK_INLINE static inline __attribute__((always_inline))
#else
#define VIRTIO__BLK_INLINE static inline
#endif
#if (defined(__GNUC__) || defined(__clang__)) && !defined(VIRTIO_BLK_MINIMAL)
#define VIRTIO__BLK_NOINLINE __attribute__((noinline))
#else
#define VIRTIO__BLK_NOINLINE   /* (smallest driver: one caller each) */
#endif
#if defined(__GNUC__) || defined(__clang__)
#define VIRTIO__BLK_OUTLINE __attribute__((noinline))   /* cold, called twice or more */
#else
#define VIRTIO__BLK_OUTLINE
#endif
#define VIRTIO__BLK_MAGIC 0x626c6b21u
#define VIRTIO__BLK_CHUNK 16u              /* used buffers taken per virtio_queue_pop_many */     /* "blk!" */
#define VIRTIO__BLK_NONE 0xffffu
#define VIRTIO__BLK_SYNC 0x80u            /* request flag: a blocking call waits for it */
#define VIRTIO__BLK_FLAGS (VIRTIO_MORE | VIRTIO_BLK_REQ_UNMAP)
#define VIRTIO__BLK_BROKEN 1u             /* reset, everything in flight failed */
#define VIRTIO__BLK_DEAD 2u               /* reset did not finish: nothing goes back */

/* A request slot. A caller request lives in the slot it took at submit
   (its home): token, callback, cursor, result. Each device request (a
   piece) in flight occupies a slot too: the first piece its home, later
   ones the home again or a free slot borrowed for that piece. So one
   record serves both, and a request with its own slot always has a slot
   for its next piece. */
typedef struct virtio__blk_slot {
    void *token;                 /* home: the caller's token and callback */
    virtio_blk_callback callback;
    unsigned char *buf;          /* home: next byte to post (NULL: no data) */
    unsigned char *piece;        /* piece: its data (unmap, GET_ID copy-out) */
    uint64_t sector;             /* home: next sector to post */
    size_t left;                 /* home: bytes not posted yet (FLUSH, GET_ID: 1) */
    unsigned char *dma;          /* the slot's DMA area */
    struct virtio__blk_slot *home;   /* piece: the request it belongs to */
    int32_t result;              /* home: the first error */
    uint16_t self;               /* this slot's index (list links are indices) */
    uint16_t next;               /* free / pending / done list */
    uint16_t outstanding;        /* home: pieces posted, not yet used */
    uint16_t nsg;                /* piece: data pieces mapped through dma_map */
    uint8_t op;                  /* VIRTIO_BLK_OP_* (piece: its request's) */
    uint8_t flags;               /* home: VIRTIO_BLK_REQ_UNMAP, VIRTIO__BLK_SYNC */
    uint8_t state;               /* VIRTIO__BLK_ST_* */
    uint8_t posted;              /* a piece in this slot is the device's */
    uint8_t slow;                /* piece: its completion needs more than the status byte
                                    (an unmap, the GET_ID answer, a borrowed slot) */
} virtio__blk_slot;

/* Request slots: one in the smallest driver, a constant the compiler
   folds into the loops over them. */
#ifdef VIRTIO_BLK_MINIMAL
#define VIRTIO__BLK_SLOTS(b) 1u
#else
#define VIRTIO__BLK_SLOTS(b) ((b)->priv.slots)
#endif

#define VIRTIO__BLK_ST_FREE 0     /* on the free list */
#define VIRTIO__BLK_ST_LIVE 1     /* home of a request in progress */
#define VIRTIO__BLK_ST_DONE 2     /* home of a finished request, not handed back */
#define VIRTIO__BLK_ST_PIECE 3    /* borrowed for another request's piece */

static inline virtio__blk_slot *virtio__blk_slots(const virtio_blk *b) { return (virtio__blk_slot *)b->priv.mem; }
static inline virtio__blk_slot *virtio__blk_at(const virtio_blk *b, uint32_t i) { return virtio__blk_slots(b) + i; }

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

/* >>blk.config
   Read the configuration into *in (blk->info is not touched). */
static virtio_result virtio__blk_read_info(virtio_blk *b, virtio_blk_info *in)
{
    virtio_device *d = &b->dev;
    uint32_t v32;
#ifndef VIRTIO_BLK_MINIMAL
    uint32_t words[3];
    uint16_t v16;
    uint8_t v8;
#endif
    virtio_result r;
    VIRTIO_ZERO(in);
#define VIRTIO__BLK_TRY(x) do { if ((r = (x)) != VIRTIO_OK) return r; } while (0)
    VIRTIO__BLK_TRY(virtio_config_read64(d, VIRTIO__BLK_CFG_CAPACITY, &in->capacity));
    in->block_size = 512;
    if (virtio_device_has(d, VIRTIO__BLK_F_BLK_SIZE)) {
        VIRTIO__BLK_TRY(virtio_config_read32(d, VIRTIO__BLK_CFG_BLK_SIZE, &v32));
        /* A power of two: (v ^ (v - 1)) < v is v & (v - 1) != 0 for v > 0,
           written so that clang makes no population count of it. */
        if (v32 < 512 || v32 > 65536 || (v32 ^ (v32 - 1)) < v32) return VIRTIO_ERR_DEVICE;
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
#ifndef VIRTIO_BLK_MINIMAL   /* (not negotiated there) */
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
#endif
    in->read_only = (uint32_t)virtio_device_has(d, VIRTIO__BLK_F_RO);
    in->flush = (uint32_t)virtio_device_has(d, VIRTIO__BLK_F_FLUSH);
    in->writeback = in->flush;
#ifndef VIRTIO_BLK_MINIMAL
    in->config_wce = (uint32_t)virtio_device_has(d, VIRTIO__BLK_F_CONFIG_WCE);
    if (in->config_wce) {
        VIRTIO__BLK_TRY(virtio_config_read8(d, VIRTIO__BLK_CFG_WRITEBACK, &v8));
        in->writeback = v8 != 0;
    }
    if (virtio_device_has(d, VIRTIO__BLK_F_DISCARD)) {
        VIRTIO__BLK_TRY(virtio_config_read_fields(d, VIRTIO__BLK_CFG_MAX_DISCARD, 4, 3, words));
        in->max_discard_sectors = words[0];
        in->max_discard_seg = words[1];
        in->discard_sector_alignment = words[2];
        /* Limits too small for one block: the command is unusable. */
        in->discard = in->max_discard_seg && in->max_discard_sectors >= in->block_size / 512u;
    }
    if (virtio_device_has(d, VIRTIO__BLK_F_WRITE_ZEROES)) {
        VIRTIO__BLK_TRY(virtio_config_read_fields(d, VIRTIO__BLK_CFG_MAX_WZ, 4, 2, words));
        in->max_write_zeroes_sectors = words[0];
        in->max_write_zeroes_seg = words[1];
        in->write_zeroes = in->max_write_zeroes_seg && in->max_write_zeroes_sectors >= in->block_size / 512u;
        VIRTIO__BLK_TRY(virtio_config_read8(d, VIRTIO__BLK_CFG_WZ_UNMAP, &v8));
        in->write_zeroes_may_unmap = v8;
    }
#endif
#undef VIRTIO__BLK_TRY
    return VIRTIO_OK;
}

/* Data pieces per device request for these limits, or 0 if a request
   could not carry one whole block. */
static VIRTIO__BLK_OUTLINE uint32_t virtio__blk_segs(const virtio_blk_info *in, uint32_t want)
{
    uint32_t segs = in->seg_max && want > in->seg_max ? in->seg_max : want;
    if (in->size_max && (uint64_t)segs * in->size_max < in->block_size) return 0;
    return segs;
}

/* The longest read or write posted in one piece through a slot's table
   (0: tables unused). Descriptor lengths are 32-bit. */
static void virtio__blk_limits(virtio_blk *b)
{
#ifdef VIRTIO_BLK_MINIMAL
    (void)b;   /* (no tables: 0, as init left it) */
#else
    uint32_t m = b->info.size_max && b->info.size_max < 0x40000000u ? b->info.size_max : 0x40000000u;   /* 1 GiB, as post_any */
    b->priv.one_max = b->priv.table ? m : 0;
#endif
}

/* >>blk.lists */
#ifndef VIRTIO_BLK_MINIMAL
static void virtio__blk_append(virtio_blk *b, uint16_t *head, uint16_t *tail, virtio__blk_slot *h)
{
    uint16_t i = h->self;
    h->next = VIRTIO__BLK_NONE;
    if (*tail == VIRTIO__BLK_NONE) *head = i;
    else virtio__blk_at(b, *tail)->next = i;
    *tail = i;
}

static virtio__blk_slot *virtio__blk_shift(virtio_blk *b, uint16_t *head, uint16_t *tail)
{
    virtio__blk_slot *h;
    if (*head == VIRTIO__BLK_NONE) return 0;
    h = virtio__blk_at(b, *head);
    *head = h->next;
    if (*head == VIRTIO__BLK_NONE) *tail = VIRTIO__BLK_NONE;
    return h;
}

/* Request h has nothing in flight and nothing left to post. A blocking
   call's request is taken by that call; the others wait on the done list
   for poll or wait (callbacks never run here). */
static void virtio__blk_finish(virtio_blk *b, virtio__blk_slot *h)
{
    h->state = VIRTIO__BLK_ST_DONE;
    if (!(h->flags & VIRTIO__BLK_SYNC)) virtio__blk_append(b, &b->priv.done_head, &b->priv.done_tail, h);
}

/* Request h posts no more pieces (an error ended it). */
static void virtio__blk_end(virtio_blk *b, virtio__blk_slot *h, virtio_result r)
{
    if (h->result == VIRTIO_OK) h->result = r;
    h->left = 0;
    if (h->outstanding == 0) virtio__blk_finish(b, h);
}

#endif

/* Back to the free list: a request handed back, or a borrowed slot. */
static inline void virtio__blk_free(virtio_blk *b, virtio__blk_slot *s)
{
    s->state = VIRTIO__BLK_ST_FREE;
    s->next = b->priv.free_slot;
    b->priv.free_slot = s->self;
}

/* Give back slot s's data mapping (the device is done with it). */
static void virtio__blk_unmap(virtio_blk *b, virtio__blk_slot *s)
{
    virtio_dma_unmap(b->dev.platform, s->piece, s->op == VIRTIO_BLK_OP_READ ? VIRTIO_DMA_FROM_DEVICE : VIRTIO_DMA_TO_DEVICE,
                     b->priv.unmap + (size_t)s->self * b->priv.segs_init, s->nsg);
    s->nsg = 0;
}

/* Piece s (of request h) was posted: account for `chunk` bytes. */
static inline void virtio__blk_posted(virtio__blk_slot *h, virtio__blk_slot *s, size_t chunk)
{
    s->home = h;
    s->posted = 1;
    h->outstanding++;
    if (h->buf) h->buf += chunk;   /* FLUSH and ranges have no buffer */
    h->sector += chunk / 512u;
    h->left -= chunk;
}

/* >>blk.post
   Post the next piece of request h in slot s (h itself, or a free slot
   the caller borrows). Returns VIRTIO_OK; VIRTIO_ERR_NO_SPACE (the ring is
   full: nothing changed); or the error that ends the request (mapping
   failed, a block that cannot be carried, a command a refresh took away).
   This is the general way; virtio__blk_post below takes the common one. */
static VIRTIO__BLK_NOINLINE virtio_result virtio__blk_post_any(virtio_blk *b, virtio__blk_slot *h, virtio__blk_slot *s)
{
    const virtio_platform *p = b->dev.platform;
    unsigned char *dma = VIRTIO__BLK_AREA(s);
    uint64_t dev = b->priv.dma_dev + (uint64_t)(dma - b->priv.dma);
    virtio_sg *sg = b->priv.sg;
    size_t chunk = h->left;
    uint32_t type = VIRTIO__BLK_T_FLUSH, out = 1, in = 1, n = 0;
    int rd = h->op == VIRTIO_BLK_OP_READ;
    virtio_result r = VIRTIO_OK;
    if (h->op <= VIRTIO_BLK_OP_WRITE) {
        uint32_t bs = b->info.block_size;
        type = rd ? VIRTIO__BLK_T_IN : VIRTIO__BLK_T_OUT;
        if (chunk >> 30) chunk = (size_t)1 << 30;   /* 1 GiB: a chain stays below 4 GiB (virtio 1.2 2.7.5.2) */
        r = virtio_dma_map(p, h->buf, chunk, rd ? VIRTIO_DMA_FROM_DEVICE : VIRTIO_DMA_TO_DEVICE, sg + 1, b->priv.segs,
                           b->info.size_max, &n, &chunk);
        if (r == VIRTIO_OK && (chunk & (bs - 1)) != 0) {
            /* Out of pieces mid-block: map again up to the last whole block. */
            virtio_dma_unmap(p, h->buf, rd ? VIRTIO_DMA_FROM_DEVICE : VIRTIO_DMA_TO_DEVICE, sg + 1, n);
            chunk &= ~(size_t)(bs - 1);
            r = chunk ? virtio_dma_map(p, h->buf, chunk, rd ? VIRTIO_DMA_FROM_DEVICE : VIRTIO_DMA_TO_DEVICE, sg + 1,
                                       b->priv.segs, b->info.size_max, &n, 0)
                      : VIRTIO_ERR_TOO_BIG;
        }
        if (r != VIRTIO_OK) return r;
        if (rd) in += n;
        else out += n;
#ifndef VIRTIO_BLK_MINIMAL
    } else if (h->op == VIRTIO_BLK_OP_GET_ID) {   /* one device request; left is 1 */
        type = VIRTIO__BLK_T_GET_ID;
        sg[1].addr = dev + VIRTIO__BLK_DATA;
        sg[1].len = VIRTIO__BLK_ID_BYTES;
        in = 2;
    } else if (h->op != VIRTIO_BLK_OP_FLUSH) {    /* DISCARD, WRITE_ZEROES: one range per request */
        int dz = h->op == VIRTIO_BLK_OP_DISCARD;
        uint64_t max = dz ? b->info.max_discard_sectors : b->info.max_write_zeroes_sectors;
        /* A refresh may have taken the command away; pieces of no block
           would never end the request. */
        if (!(dz ? b->info.discard : b->info.write_zeroes)) return VIRTIO_ERR_UNSUPPORTED;
        max &= ~(uint64_t)(b->info.block_size / 512u - 1);   /* whole blocks; at least one (read_info) */
        type = dz ? VIRTIO__BLK_T_DISCARD : VIRTIO__BLK_T_WRITE_ZEROES;
        if (chunk / 512u > max) chunk = (size_t)max * 512u;
        virtio_store(&b->dev, dma + VIRTIO__BLK_DATA, h->sector, 8);
        virtio_store(&b->dev, dma + VIRTIO__BLK_DATA + 8, chunk / 512u, 4);
        virtio_store(&b->dev, dma + VIRTIO__BLK_DATA + 12, (h->flags & VIRTIO_BLK_REQ_UNMAP) && !dz ? 1u : 0u, 4);
        sg[1].addr = dev + VIRTIO__BLK_DATA;
        sg[1].len = 16;
        out = 2;
#endif
    }   /* else FLUSH: header and status only; left is 1 */
    virtio_store(&b->dev, dma + VIRTIO__BLK_HDR, type, 4);
    virtio_store(&b->dev, dma + VIRTIO__BLK_HDR + 4, 0, 4);
    virtio_store(&b->dev, dma + VIRTIO__BLK_HDR + 8, h->op <= VIRTIO_BLK_OP_WRITE ? h->sector : 0, 8);
    dma[VIRTIO__BLK_STATUS] = VIRTIO__BLK_S_NONE;
    sg[0].addr = dev + VIRTIO__BLK_HDR;
    sg[0].len = 16;
    sg[out + in - 1].addr = dev + VIRTIO__BLK_STATUS;
    sg[out + in - 1].len = 1;
    r = virtio_queue_add(&b->queue, sg, out, in, s);
    if (r != VIRTIO_OK) {
        if (n) virtio_dma_unmap(p, h->buf, rd ? VIRTIO_DMA_FROM_DEVICE : VIRTIO_DMA_TO_DEVICE, sg + 1, n);
        return r;   /* NO_SPACE: ring full, retried when something completes */
    }
#ifndef VIRTIO_NO_DMA_MAP   /* (no dma_unmap hook there: nothing to undo) */
    if (n && b->priv.unmap) {   /* keep the pieces for the unmap at completion */
        VIRTIO_MEMCPY(b->priv.unmap + (size_t)s->self * b->priv.segs_init, sg + 1, n * sizeof(virtio_sg));
        s->nsg = (uint16_t)n;
    }
#endif
    s->op = h->op;
    s->piece = h->buf;
#ifndef VIRTIO_BLK_MINIMAL   /* (read by the completion path the smallest driver does not have) */
    s->slow = s->nsg || h->op == VIRTIO_BLK_OP_GET_ID || s != h;
#endif
    virtio__blk_posted(h, s, chunk);
    return VIRTIO_OK;
}

#ifndef VIRTIO_BLK_MINIMAL
/* A read or write that fits one piece at the buffer's own address
   (identity DMA, indirect descriptors) goes through slot s's table, whose
   header and status entries never change: write the rest and say what to
   post. */
VIRTIO__BLK_INLINE void virtio__blk_fill_one(virtio_blk *b, virtio__blk_slot *s, uint32_t op, void *buf,
                                             uint64_t sector, size_t len, virtio_table_post *t)
{
    unsigned char *dma = VIRTIO__BLK_AREA(s);
    int rd = op == VIRTIO_BLK_OP_READ;
    virtio_store(&b->dev, dma + VIRTIO__BLK_HDR, rd ? VIRTIO__BLK_T_IN : VIRTIO__BLK_T_OUT, 4);
    virtio_store(&b->dev, dma + VIRTIO__BLK_HDR + 4, 0, 4);
    virtio_store(&b->dev, dma + VIRTIO__BLK_HDR + 8, sector, 8);
    dma[VIRTIO__BLK_STATUS] = VIRTIO__BLK_S_NONE;
    virtio_table_set(&b->queue, dma + VIRTIO__BLK_TABLE, 1, 3, (uint64_t)(uintptr_t)buf, (uint32_t)len, rd);
    t->table_dev = b->priv.dma_dev + (uint64_t)(dma - b->priv.dma) + VIRTIO__BLK_TABLE;
    t->count = 3;
    t->in_len = rd ? (uint32_t)len + 1u : 1u;
    t->cookie = s;
}

/* Slot s holds a one-piece op of request h: what completion reads. */
static inline void virtio__blk_mark_one(virtio__blk_slot *h, virtio__blk_slot *s, uint32_t op)
{
    s->op = (uint8_t)op;
    s->slow = s != h;
    s->home = h;
    s->posted = 1;
}

/* Post as virtio__blk_post_any, the one-piece way above. */
VIRTIO__BLK_INLINE virtio_result virtio__blk_post_one(virtio_blk *b, virtio__blk_slot *h, virtio__blk_slot *s,
                                                     uint32_t op, void *buf, uint64_t sector, size_t len)
{
    virtio_table_post t;
    virtio_result r;
    virtio__blk_fill_one(b, s, op, buf, sector, len, &t);
    if ((r = virtio_queue_add_table(&b->queue, t.table_dev, t.count, t.in_len, t.cookie)) != VIRTIO_OK) return r;
    virtio__blk_mark_one(h, s, op);
    return VIRTIO_OK;
}

/* The next piece of h in s, the common way when it fits one piece. */
VIRTIO__BLK_INLINE virtio_result virtio__blk_post(virtio_blk *b, virtio__blk_slot *h, virtio__blk_slot *s)
{
    virtio_result r;
    if (h->op > VIRTIO_BLK_OP_WRITE || h->left > b->priv.one_max) return virtio__blk_post_any(b, h, s);
    if ((r = virtio__blk_post_one(b, h, s, h->op, h->buf, h->sector, h->left)) != VIRTIO_OK) return r;
    h->outstanding++;
    h->left = 0;   /* (buf and sector are not needed any more) */
    return VIRTIO_OK;
}

/* Post waiting pieces, oldest request first, while slots and ring room
   last: a request posts in its own slot when that is idle, else in a
   borrowed free one. A request whose piece cannot be posted, or whose
   earlier piece failed, ends (its pieces in flight still complete).
   Returns nonzero if anything was posted (the caller notifies). */
static int virtio__blk_pump(virtio_blk *b)
{
    int added = 0;
    while (b->priv.pend_head != VIRTIO__BLK_NONE) {
        virtio__blk_slot *h = virtio__blk_at(b, b->priv.pend_head), *s;
        virtio_result r = (virtio_result)h->result;
        while (r == VIRTIO_OK && h->left) {
            if (!h->posted) {
                s = h;
            } else if (b->priv.free_slot != VIRTIO__BLK_NONE) {
                s = virtio__blk_at(b, b->priv.free_slot);
            } else {
                r = VIRTIO_ERR_NO_SPACE;
                break;
            }
            if ((r = virtio__blk_post(b, h, s)) != VIRTIO_OK) break;
            if (s != h) {
                b->priv.free_slot = s->next;
                s->state = VIRTIO__BLK_ST_PIECE;
            }
            added = 1;
        }
        if (r == VIRTIO_ERR_NO_SPACE) break;
        virtio__blk_shift(b, &b->priv.pend_head, &b->priv.pend_tail);
        virtio__blk_end(b, h, r);
    }
    return added;
}

#endif

/* >>blk.complete
   The device cannot be trusted any more (a timeout, NEEDS_RESET, a broken
   queue): reset it. If the reset finished, the device no longer touches
   memory: every piece is unmapped and every request ends with `why`
   (parked for poll, or taken by its blocking call). If it did not, the
   device may still write every buffer it holds: nothing goes back, the
   requests stay in flight for good (the disk is dead). */
#ifdef VIRTIO_BLK_MINIMAL
/* (The smallest driver: only slot 0, the blocking call's, which returns
   `why` itself; no lists.) */
static void virtio__blk_fail(virtio_blk *b, virtio_result why)
{
    virtio__blk_slot *h = virtio__blk_at(b, 0);
    (void)why;
    if (virtio_device_reset(&b->dev) != VIRTIO_OK) {
        b->priv.broken = VIRTIO__BLK_DEAD;
        b->inflight = 1;   /* the blocking call's request: the device may still own its buffer */
        return;
    }
    b->priv.broken = VIRTIO__BLK_BROKEN;
    h->posted = 0;
    if (h->nsg) virtio__blk_unmap(b, h);
}
#else
static void virtio__blk_fail(virtio_blk *b, virtio_result why)
{
    uint32_t i;
    if (b->priv.broken) return;
    if (virtio_device_reset(&b->dev) != VIRTIO_OK) {
        b->priv.broken = VIRTIO__BLK_DEAD;
        return;
    }
    b->priv.broken = VIRTIO__BLK_BROKEN;
    for (i = 0; i < b->priv.slots; i++) {
        virtio__blk_slot *s = virtio__blk_at(b, i);
        if (!s->posted) continue;
        s->posted = 0;
        if (s->nsg) virtio__blk_unmap(b, s);
        if (s->state == VIRTIO__BLK_ST_PIECE) virtio__blk_free(b, s);
    }
    b->priv.pend_head = b->priv.pend_tail = VIRTIO__BLK_NONE;
    for (i = 0; i < b->priv.slots; i++) {
        virtio__blk_slot *h = virtio__blk_at(b, i);
        if (h->state != VIRTIO__BLK_ST_LIVE) continue;
        h->outstanding = 0;
        virtio__blk_end(b, h, why);
    }
}
#endif

/* The rest of a completion, for pieces that need it: the unmap, an
   error status, the GET_ID answer, a borrowed slot back. */
static VIRTIO__BLK_NOINLINE void virtio__blk_reap_any(virtio_blk *b, virtio__blk_slot *s, uint32_t st)
{
    virtio__blk_slot *h = s->home;
    if (s->nsg) virtio__blk_unmap(b, s);
    if (st != VIRTIO__BLK_S_OK) {
        if (h->result == VIRTIO_OK) h->result = virtio__blk_status(st);
    }
#ifndef VIRTIO_BLK_MINIMAL   /* (there no GET_ID, and every piece is in its request's slot) */
    else if (s->op == VIRTIO_BLK_OP_GET_ID) {   /* copied out only once the device answered OK */
        VIRTIO_MEMCPY(s->piece, s->dma + VIRTIO__BLK_DATA, VIRTIO__BLK_ID_BYTES);
    }
    if (s != h) virtio__blk_free(b, s);
#endif
}

#ifndef VIRTIO_BLK_MINIMAL
/* A device request the ring gave back (cookie: its slot): its status,
   and what reap_any does; then post waiting pieces. out: home, the
   request it belongs to. Returns that request if it has just finished
   (not yet parked or handed back), else NULL. */
VIRTIO__BLK_INLINE virtio__blk_slot *virtio__blk_took(virtio_blk *b, void *cookie, virtio__blk_slot **home)
{
    virtio__blk_slot *s = (virtio__blk_slot *)cookie, *h;   /* our own cookie, from the queue's private shadow */
    uint32_t st = *(volatile unsigned char *)(s->dma + VIRTIO__BLK_STATUS);
    b->last_status = st;
    s->posted = 0;
    *home = h = s->home;
    if (s->slow || st != VIRTIO__BLK_S_OK) virtio__blk_reap_any(b, s, st);
    if (b->priv.pend_head != VIRTIO__BLK_NONE && virtio__blk_pump(b)) virtio_queue_kick(&b->queue);
    return --h->outstanding == 0 && h->left == 0 ? h : 0;
}

/* Take one used device request (virtio__blk_took). out: home; fin, the
   request if it has just finished, else NULL. Returns VIRTIO_OK,
   VIRTIO_EMPTY, or VIRTIO_ERR_DEVICE (the device broke the queue
   protocol: it was failed) or VIRTIO_ERR_STATE. */
VIRTIO__BLK_INLINE virtio_result virtio__blk_reap(virtio_blk *b, virtio__blk_slot **home, virtio__blk_slot **fin)
{
    void *cookie = 0;
    virtio_result r = virtio_queue_pop(&b->queue, &cookie, 0);
    if (r != VIRTIO_OK) {
        if (r == VIRTIO_ERR_DEVICE) virtio__blk_fail(b, r);
        return r;
    }
    *fin = virtio__blk_took(b, cookie, home);
    return VIRTIO_OK;
}

#endif

/* >>blk.init */
/* Bytes of the private block: the slots, then the posting scatter list. */
static size_t virtio__blk_sg_off(uint32_t slots) { return ((size_t)slots * sizeof(virtio__blk_slot) + 15) & ~(size_t)15; }

static void virtio__blk_free_mem(virtio_blk *b)
{
    const virtio_platform *p = b->dev.platform;
    /* Newest first, the queue last (init set it up first): a stack-like
       pool, a boot stage's usual allocator, gets everything back. */
#ifndef VIRTIO_NO_DMA_MAP   /* (there never allocated) */
    virtio_free(p, b->priv.unmap, (size_t)VIRTIO__BLK_SLOTS(b) * b->priv.segs_init * sizeof(virtio_sg), VIRTIO_MEM_PRIVATE);
#endif
    virtio_free(p, b->priv.dma, (size_t)VIRTIO__BLK_SLOTS(b) * VIRTIO__BLK_STRIDE, VIRTIO_MEM_DMA);
    virtio_free(p, b->priv.mem, virtio__blk_sg_off(VIRTIO__BLK_SLOTS(b)) + (b->priv.segs_init + 2) * sizeof(virtio_sg),
                VIRTIO_MEM_PRIVATE);
    virtio_queue_destroy(&b->queue);   /* (VIRTIO_ERR_STATE if it was never set up) */
    b->priv.unmap = 0;
    b->priv.dma = 0;
    b->priv.mem = 0;
}

VIRTIO_API virtio_result virtio_blk_init(virtio_blk *blk, const virtio_device *dev, const virtio_blk_options *o)
{
    virtio_blk_options def;
    virtio_queue_options qo;
    const virtio_platform *p;
    uint32_t slots, segs, qmax, i;
    size_t sg_off;
    void *m;   /* (what virtio_alloc gives, before it is typed) */
    virtio_result r;
    uint64_t want = VIRTIO_FEATURE_BIT(VIRTIO__BLK_F_SIZE_MAX) | VIRTIO_FEATURE_BIT(VIRTIO__BLK_F_SEG_MAX) |
                    VIRTIO_FEATURE_BIT(VIRTIO__BLK_F_RO) | VIRTIO_FEATURE_BIT(VIRTIO__BLK_F_BLK_SIZE) |
                    VIRTIO_FEATURE_BIT(VIRTIO__BLK_F_FLUSH);
#ifndef VIRTIO_BLK_MINIMAL
    want |= VIRTIO_FEATURE_BIT(VIRTIO__BLK_F_GEOMETRY) | VIRTIO_FEATURE_BIT(VIRTIO__BLK_F_TOPOLOGY) |
            VIRTIO_FEATURE_BIT(VIRTIO__BLK_F_CONFIG_WCE) | VIRTIO_FEATURE_BIT(VIRTIO__BLK_F_DISCARD) |
            VIRTIO_FEATURE_BIT(VIRTIO__BLK_F_WRITE_ZEROES);
#endif
    if (!blk || !dev) return VIRTIO_ERR_INVALID_ARG;
    /* A running disk is not set up again over itself: its memory and
       the device's requests would be lost. */
    if (blk->priv.magic == VIRTIO__BLK_MAGIC) return VIRTIO_ERR_STATE;
    if (dev->device_id != VIRTIO_DEVICE_BLOCK) return VIRTIO_ERR_NOT_FOUND;
    if (!o) {
        VIRTIO_ZERO(&def);
        o = &def;
    }
    /* (queue_size 1 to 3: no ring for a request of three descriptors) */
    if (o->max_requests > 1024 || o->max_segments > 1024 || o->queue_size - 1u < 3u) return VIRTIO_ERR_INVALID_ARG;
    VIRTIO_ZERO(blk);
    blk->dev = *dev;
    p = blk->dev.platform;
    if ((r = virtio_device_begin(&blk->dev, want, &o->device)) != VIRTIO_OK) return r;
    if ((r = virtio__blk_read_info(blk, &blk->info)) != VIRTIO_OK) goto fail;
    segs = virtio__blk_segs(&blk->info, o->max_segments ? o->max_segments : 8u);
    /* The ring has the device's size unless the caller asks for less
       (a device may keep its own size anyway: the core follows it). No
       chain, indirect or not, may be longer than the ring (virtio 1.2
       2.7.5.3.1). */
    VIRTIO_ZERO(&qo);
    qo.size = o->queue_size;
#ifdef VIRTIO_BLK_MINIMAL
    slots = 1;   /* one request at a time, plain chains */
#else
    slots = o->max_requests ? o->max_requests : 32u;
    qo.indirect = segs + 2;
#endif
    if ((r = virtio_queue_init(&blk->queue, &blk->dev, 0, &qo)) != VIRTIO_OK) goto fail;
    qmax = blk->queue.indirect ? blk->queue.indirect : blk->queue.size;
    if (qmax < 3) {
        r = VIRTIO_ERR_DEVICE;
        goto fail;
    }
    if (segs + 2 > qmax) segs = qmax - 2;
    segs = virtio__blk_segs(&blk->info, segs);
    if (segs == 0) {   /* a device request could not carry one block */
        r = VIRTIO_ERR_DEVICE;
        goto fail;
    }
    blk->priv.slots = slots;
    blk->priv.segs = blk->priv.segs_init = segs;
    sg_off = virtio__blk_sg_off(slots);
    r = virtio_alloc(p, sg_off + (segs + 2) * sizeof(virtio_sg), 16, VIRTIO_MEM_PRIVATE, &blk->priv.mem, 0);
    if (r != VIRTIO_OK) goto fail;
    blk->priv.sg = (virtio_sg *)(void *)((unsigned char *)blk->priv.mem + sg_off);
    r = virtio_alloc(p, (size_t)slots * VIRTIO__BLK_STRIDE, 16, VIRTIO_MEM_DMA, &m, &blk->priv.dma_dev);
    if (r != VIRTIO_OK) goto fail;
    blk->priv.dma = (unsigned char *)m;
#ifndef VIRTIO_NO_DMA_MAP
    if (p->dma_unmap) {
        r = virtio_alloc(p, (size_t)slots * segs * sizeof(virtio_sg), 16, VIRTIO_MEM_PRIVATE, &m, 0);
        if (r != VIRTIO_OK) goto fail;
        blk->priv.unmap = (virtio_sg *)m;
    }
#endif
    for (i = 0; i < slots; i++) {
        virtio__blk_slot *sl = virtio__blk_at(blk, i);
        sl->self = (uint16_t)i;
        sl->next = (uint16_t)(i + 1 < slots ? i + 1 : VIRTIO__BLK_NONE);
        sl->dma = blk->priv.dma + (size_t)i * VIRTIO__BLK_STRIDE;
    }
#ifndef VIRTIO_BLK_MINIMAL
    /* Identity DMA (no dma_map hook) and indirect descriptors: a read or
       write in one piece needs no scatter list, only its data entry. */
    if (blk->queue.indirect >= 3 && !p->dma_map) {
        blk->priv.table = 1;
        for (i = 0; i < 2 * slots; i++) {   /* entries 0 (header) and 2 (status) of each */
            uint32_t k = i & 1u ? 2 : 0;
            size_t off = (size_t)(i / 2) * VIRTIO__BLK_STRIDE;
            virtio_table_set(&blk->queue, blk->priv.dma + off + VIRTIO__BLK_TABLE, k, 3,
                             blk->priv.dma_dev + off + (k ? VIRTIO__BLK_STATUS : VIRTIO__BLK_HDR), k ? 1 : 16, k != 0);
        }
    }
#endif
    virtio__blk_limits(blk);
    blk->priv.free_slot = 0;
    blk->priv.pend_head = blk->priv.pend_tail = VIRTIO__BLK_NONE;
    blk->priv.done_head = blk->priv.done_tail = VIRTIO__BLK_NONE;
    blk->last_status = VIRTIO__BLK_S_NONE;
    if ((r = virtio_device_ready(&blk->dev)) != VIRTIO_OK) goto fail;
    blk->priv.magic = VIRTIO__BLK_MAGIC;
    return VIRTIO_OK;
fail:
    r = virtio_device_fault(r);   /* a device without what its type requires */
    virtio_device_fail(&blk->dev);
    /* The rings were registered: they go back only once the device let go. */
    if (virtio_device_reset(&blk->dev) != VIRTIO_OK) return VIRTIO_ERR_TIMEOUT;
    virtio__blk_free_mem(blk);
    return r;
}

VIRTIO_API virtio_result virtio_blk_shutdown(virtio_blk *blk)
{
    uint32_t i;
    if (!blk || blk->priv.magic != VIRTIO__BLK_MAGIC || blk->priv.in_callback) return VIRTIO_ERR_STATE;
    blk->priv.magic = 0;
    /* Only a reset that finished stops the device touching memory. */
    if (virtio_device_reset(&blk->dev) != VIRTIO_OK) return VIRTIO_ERR_TIMEOUT;
    for (i = 0; i < VIRTIO__BLK_SLOTS(blk); i++) {   /* abandoned requests give their mappings back */
        virtio__blk_slot *s = virtio__blk_at(blk, i);
        if (s->posted && s->nsg) virtio__blk_unmap(blk, s);
    }
    virtio__blk_free_mem(blk);
    return VIRTIO_OK;
}

/* >>blk.api */
/* The other operations' checks (FLUSH, GET_ID, DISCARD, WRITE_ZEROES). */
static VIRTIO__BLK_NOINLINE virtio_result virtio__blk_check_any(virtio_blk *b, const virtio_blk_request *rq)
{
    const virtio_blk_info *in = &b->info;
    if (rq->op > VIRTIO_BLK_OP_GET_ID || (rq->flags & ~VIRTIO__BLK_FLAGS)) return VIRTIO_ERR_INVALID_ARG;
#ifdef VIRTIO_BLK_MINIMAL
    (void)in;   /* (only blocking flushes get here) */
    return VIRTIO_OK;
#else
    if (rq->op == VIRTIO_BLK_OP_FLUSH) return VIRTIO_OK;
    if (rq->op == VIRTIO_BLK_OP_GET_ID) return rq->buf && rq->len >= VIRTIO__BLK_ID_BYTES ? VIRTIO_OK : VIRTIO_ERR_INVALID_ARG;
    if (in->read_only) return VIRTIO_ERR_READ_ONLY;
    if (!(rq->op == VIRTIO_BLK_OP_DISCARD ? in->discard : in->write_zeroes)) return VIRTIO_ERR_UNSUPPORTED;
    if (rq->len == 0 || (((size_t)rq->sector << 9 | rq->len) & (in->block_size - 1)) != 0) return VIRTIO_ERR_INVALID_ARG;
    if (rq->sector > in->capacity || rq->len / 512u > in->capacity - rq->sector) return VIRTIO_ERR_RANGE;
    return VIRTIO_OK;
#endif
}

/* A request's arguments against the disk. Reads and writes inline: whole
   blocks (sector << 9 keeps the low bits that matter, block sizes being
   at most 64 KiB), inside the capacity, not writing a read-only disk. */
VIRTIO__BLK_INLINE virtio_result virtio__blk_check(virtio_blk *b, const virtio_blk_request *rq)
{
    const virtio_blk_info *in = &b->info;
    if (rq->op > VIRTIO_BLK_OP_WRITE) return virtio__blk_check_any(b, rq);
    if ((rq->flags & ~VIRTIO__BLK_FLAGS) || !rq->buf || rq->len == 0 ||
        (((size_t)rq->sector << 9 | rq->len) & (in->block_size - 1)) != 0)
        return VIRTIO_ERR_INVALID_ARG;
    if (rq->op == VIRTIO_BLK_OP_WRITE && in->read_only) return VIRTIO_ERR_READ_ONLY;
    if (rq->sector > in->capacity || rq->len / 512u > in->capacity - rq->sector) return VIRTIO_ERR_RANGE;
    return VIRTIO_OK;
}

#ifndef VIRTIO_BLK_MINIMAL
/* Check request rq and take a slot for it (LIVE, counted in inflight). */
VIRTIO__BLK_INLINE virtio_result virtio__blk_take(virtio_blk *b, const virtio_blk_request *rq, virtio__blk_slot **out)
{
    virtio__blk_slot *h;
    virtio_result r;
    if ((r = virtio__blk_check(b, rq)) != VIRTIO_OK) return r;
    if (b->priv.free_slot == VIRTIO__BLK_NONE) return VIRTIO_ERR_NO_SPACE;
    h = virtio__blk_at(b, b->priv.free_slot);
    b->priv.free_slot = h->next;
    h->token = rq->token;
    h->callback = rq->callback;
    h->result = VIRTIO_OK;
    h->state = VIRTIO__BLK_ST_LIVE;
    b->inflight++;
    *out = h;
    return VIRTIO_OK;
}

/* Request h is one piece, posted (or about to be, in a batch). */
static inline void virtio__blk_one_out(virtio__blk_slot *h, uint32_t op)
{
    h->outstanding = 1;
    h->left = 0;
    h->op = (uint8_t)op;
    h->flags = 0;
}

/* Post the gathered one-piece requests t[0..n) together; those the ring
   refuses (a broken queue) complete with its answer. */
static void virtio__blk_post_gathered(virtio_blk *b, virtio_table_post *t, uint32_t n)
{
    uint32_t k = 0;
    virtio_result r;
    if (n == 0) return;
    r = virtio_queue_add_tables(&b->queue, t, n, &k);
    for (; k < n; k++) {
        virtio__blk_slot *h = (virtio__blk_slot *)t[k].cookie;
        h->posted = 0;
        h->outstanding = 0;
        virtio__blk_end(b, h, r);
    }
}

/* Take a slot for request rq and post what fits. extra: VIRTIO__BLK_SYNC
   (a blocking call's), VIRTIO_MORE (the caller notifies). Never runs a
   callback: a request that ends here is parked for poll. */
VIRTIO__BLK_INLINE virtio_result virtio__blk_start(virtio_blk *b, const virtio_blk_request *rq, uint32_t extra,
                                                   virtio__blk_slot **out)
{
    virtio__blk_slot *h;
    virtio_result r;
    if ((r = virtio__blk_take(b, rq, &h)) != VIRTIO_OK) return r;
    if (out) *out = h;
    /* The common case, straight from rq: a read or write in one piece,
       nothing waiting ahead of it. */
    if (rq->op <= VIRTIO_BLK_OP_WRITE && b->priv.pend_head == VIRTIO__BLK_NONE && rq->len <= b->priv.one_max &&
        !(extra & VIRTIO__BLK_SYNC) &&
        virtio__blk_post_one(b, h, h, rq->op, rq->buf, rq->sector, rq->len) == VIRTIO_OK) {
        virtio__blk_one_out(h, rq->op);
        if (!((rq->flags | extra) & VIRTIO_MORE)) virtio_queue_kick(&b->queue);
        return VIRTIO_OK;
    }
    h->buf = (unsigned char *)rq->buf;
    h->sector = rq->sector;
    h->left = rq->op == VIRTIO_BLK_OP_FLUSH || rq->op == VIRTIO_BLK_OP_GET_ID ? 1 : rq->len;   /* 1: one device request */
    h->outstanding = 0;
    h->op = (uint8_t)rq->op;
    h->flags = (uint8_t)((rq->flags & VIRTIO_BLK_REQ_UNMAP) | (extra & VIRTIO__BLK_SYNC));
    if (rq->op == VIRTIO_BLK_OP_FLUSH && !b->info.flush) {   /* write-through device: nothing to flush */
        virtio__blk_end(b, h, VIRTIO_OK);
        return VIRTIO_OK;
    }
    /* Straight onto the ring unless older requests are waiting. */
    if (b->priv.pend_head == VIRTIO__BLK_NONE) {
        r = virtio__blk_post_any(b, h, h);
        if (r == VIRTIO_OK && h->left == 0) {
            if (!((rq->flags | extra) & VIRTIO_MORE)) virtio_queue_kick(&b->queue);
            return VIRTIO_OK;
        }
        if (r != VIRTIO_OK && r != VIRTIO_ERR_NO_SPACE) {
            virtio__blk_end(b, h, r);   /* completes with the error */
            if (h->outstanding && !((rq->flags | extra) & VIRTIO_MORE)) virtio_queue_kick(&b->queue);
            return VIRTIO_OK;
        }
    }
    virtio__blk_append(b, &b->priv.pend_head, &b->priv.pend_tail, h);
    virtio__blk_pump(b);
    /* Pieces left over (no slot or ring room): what is posted cannot wait
       for a kick that might never come. */
    if (h->left || !((rq->flags | extra) & VIRTIO_MORE)) virtio_queue_kick(&b->queue);
    return VIRTIO_OK;
}

#endif

VIRTIO_API virtio_result virtio_blk_submit(virtio_blk *blk, const virtio_blk_request *rq)
{
#ifdef VIRTIO_BLK_MINIMAL
    (void)blk;
    (void)rq;
    return VIRTIO_ERR_UNSUPPORTED;
#else
    if (!virtio__blk_ok(blk)) return VIRTIO_ERR_STATE;
    if (!rq) return VIRTIO_ERR_INVALID_ARG;
    return virtio__blk_start(blk, rq, 0, 0);
#endif
}

VIRTIO_API virtio_result virtio_blk_submit_batch(virtio_blk *blk, const virtio_blk_request *rq, uint32_t n,
                                                 uint32_t *accepted)
{
#ifdef VIRTIO_BLK_MINIMAL
    (void)blk;
    (void)rq;
    (void)n;
    (void)accepted;
    return VIRTIO_ERR_UNSUPPORTED;
#else
    virtio_table_post t[VIRTIO__BLK_CHUNK];
    virtio__blk_slot *h;
    uint32_t i, k = 0;
    if (!virtio__blk_ok(blk)) return VIRTIO_ERR_STATE;
    if (!rq && n) return VIRTIO_ERR_INVALID_ARG;
    for (i = 0; i < n; i++) {
        const virtio_blk_request *req = &rq[i];
        /* virtio__blk_start's common case, gathered and posted together. */
        if (req->op <= VIRTIO_BLK_OP_WRITE && req->len <= blk->priv.one_max &&
            blk->priv.pend_head == VIRTIO__BLK_NONE && blk->queue.num_free > k) {
            if (virtio__blk_take(blk, req, &h) != VIRTIO_OK) break;
            virtio__blk_fill_one(blk, h, req->op, req->buf, req->sector, req->len, &t[k++]);
            virtio__blk_mark_one(h, h, req->op);
            virtio__blk_one_out(h, req->op);
            if (k == VIRTIO__BLK_CHUNK) {
                virtio__blk_post_gathered(blk, t, k);
                k = 0;
            }
            continue;
        }
        virtio__blk_post_gathered(blk, t, k);   /* (in order, before anything else) */
        k = 0;
        {   /* any other request: as submit would, notified below */
            virtio_blk_request more = *req;
            more.flags |= VIRTIO_MORE;
            if (virtio_blk_submit(blk, &more) != VIRTIO_OK) break;
        }
    }
    virtio__blk_post_gathered(blk, t, k);
    if (i && (i < n || !(rq[n - 1].flags & VIRTIO_MORE))) virtio_queue_kick(&blk->queue);
    if (accepted) *accepted = i;
    return VIRTIO_OK;
#endif
}

VIRTIO_API virtio_result virtio_blk_kick(virtio_blk *blk)
{
    if (!virtio__blk_ok(blk)) return VIRTIO_ERR_STATE;
    return virtio_queue_kick(&blk->queue);
}

#ifndef VIRTIO_BLK_MINIMAL
/* Hand back finished requests: parked ones first, then what the ring
   gives, at most one queue's worth per call. Callbacks run here (and
   only here); up to max requests without one go to out[]. */
VIRTIO__BLK_INLINE virtio_result virtio__blk_collect(virtio_blk *b, virtio_blk_completion *out, uint32_t max,
                                                     uint32_t *count)
{
    void *ck[VIRTIO__BLK_CHUNK];
    virtio__blk_slot *fin[VIRTIO__BLK_CHUNK];
    uint32_t n = 0, budget, broken, i, got, nf;
    virtio_result r = VIRTIO_OK;
    if (!b || b->priv.magic != VIRTIO__BLK_MAGIC || b->priv.in_callback) return VIRTIO_ERR_STATE;
    /* (a broken disk hands back only what is parked; only a failed pop,
       which ends the loop, or a callback can break it meanwhile) */
    broken = b->priv.broken;
    for (budget = b->queue.size; budget && n < max;) {
        nf = 0;
        if (b->priv.done_head != VIRTIO__BLK_NONE) {
            fin[nf++] = virtio__blk_shift(b, &b->priv.done_head, &b->priv.done_tail);
            budget--;
        } else {
            /* Several at once, no more than out[] can still take (each
               finishes at most one request) nor the budget allows. */
            uint32_t want = max - n < budget ? max - n : budget;
            if (broken) break;
            got = 1;
            r = want == 1 ? virtio_queue_pop(&b->queue, &ck[0], 0)
                          : virtio_queue_pop_many(&b->queue, ck, 0, want < VIRTIO__BLK_CHUNK ? want : VIRTIO__BLK_CHUNK, &got);
            if (r != VIRTIO_OK) {
                if (r == VIRTIO_ERR_DEVICE) virtio__blk_fail(b, r);
                break;
            }
            budget -= got;
            for (i = 0; i < got; i++) {
                virtio__blk_slot *home, *h = virtio__blk_took(b, ck[i], &home);
                if (!h) continue;
                if (h->flags & VIRTIO__BLK_SYNC) virtio__blk_finish(b, h);   /* a blocking call's (it takes it itself) */
                else fin[nf++] = h;
            }
        }
        for (i = 0; i < nf; i++) {
            virtio__blk_slot *h = fin[i];
            if (h->callback) {   /* callbacks run here, and only here */
                void *tok = h->token;
                virtio_blk_callback cb = h->callback;
                virtio_result res = (virtio_result)h->result;
                virtio__blk_free(b, h);
                b->inflight--;
                b->priv.in_callback = 1;
                cb(b, tok, res);
                b->priv.in_callback = 0;
                broken = b->priv.broken;
                continue;
            }
            out[n].token = h->token;
            out[n].result = (virtio_result)h->result;
            virtio__blk_free(b, h);
            b->inflight--;
            n++;
        }
    }
    if (n) {
        if (count) *count = n;
        return VIRTIO_OK;
    }
    if (r == VIRTIO_OK) return b->priv.broken ? VIRTIO_ERR_STATE : VIRTIO_EMPTY;
    return r;
}

#endif

VIRTIO_API virtio_result virtio_blk_poll(virtio_blk *blk, void **token, virtio_result *result)
{
#ifdef VIRTIO_BLK_MINIMAL
    (void)blk;
    (void)token;
    (void)result;
    return VIRTIO_ERR_UNSUPPORTED;
#else
    virtio_blk_completion c;
    virtio_result r = virtio__blk_collect(blk, &c, 1, 0);
    if (r == VIRTIO_OK) {
        if (token) *token = c.token;
        if (result) *result = c.result;
    }
    return r;
#endif
}

VIRTIO_API virtio_result virtio_blk_poll_batch(virtio_blk *blk, virtio_blk_completion *done, uint32_t max,
                                               uint32_t *count)
{
#ifdef VIRTIO_BLK_MINIMAL
    (void)blk;
    (void)done;
    (void)max;
    (void)count;
    return VIRTIO_ERR_UNSUPPORTED;
#else
    if (!done || !max) return blk && blk->priv.magic == VIRTIO__BLK_MAGIC ? VIRTIO_ERR_INVALID_ARG : VIRTIO_ERR_STATE;
    return virtio__blk_collect(blk, done, max, count);
#endif
}

/* Should a wait give up? The platform timeout passed, or (looked at every
   10 ms) the device asks for a reset or is gone. Returns why, or VIRTIO_OK. */
static virtio_result virtio__blk_expired(virtio_blk *b, virtio_wait *w)
{
    return virtio_device_wait_step(&b->dev, w);
}

VIRTIO_API virtio_result virtio_blk_wait(virtio_blk *blk, void **token, virtio_result *result)
{
#ifdef VIRTIO_BLK_MINIMAL
    (void)blk;
    (void)token;
    (void)result;
    return VIRTIO_ERR_UNSUPPORTED;
#else
    virtio_wait w;
    virtio_result r;
    if (!blk || blk->priv.magic != VIRTIO__BLK_MAGIC || blk->priv.in_callback) return VIRTIO_ERR_STATE;
    if (!blk->priv.broken) virtio_queue_kick(&blk->queue);   /* nothing posted waits unnotified */
    /* One deadline for the whole call: completions, callbacks and what
       they submit do not move it. */
    virtio_wait_start(&w, blk->dev.platform, 0);
    for (;;) {
        r = virtio_blk_poll(blk, token, result);
        if (r != VIRTIO_EMPTY || blk->inflight == 0) return r;
        if ((r = virtio__blk_expired(blk, &w)) != VIRTIO_OK) {
            virtio__blk_fail(blk, r);   /* parks everything, unless the reset did not finish */
            if (blk->priv.broken == VIRTIO__BLK_DEAD && blk->priv.done_head == VIRTIO__BLK_NONE) return r;
        }
    }
#endif
}

#ifndef VIRTIO_BLK_MINIMAL
/* Wait for blocking request h. Completions of other requests are parked
   for poll. The deadline restarts only when a piece of h completes
   (finitely many). Returns h's result and gives its slot back; or, if
   the device failed and the reset did not finish, the reason (h stays
   the device's). */
static virtio_result virtio__blk_await(virtio_blk *b, virtio__blk_slot *h)
{
    virtio_wait w;
    virtio_result r = VIRTIO_OK;
    uint32_t n;
    virtio_queue_kick(&b->queue);
    virtio_wait_start(&w, b->dev.platform, 0);
    for (;;) {
        if (h->state == VIRTIO__BLK_ST_DONE) {
            r = (virtio_result)h->result;
            virtio__blk_free(b, h);
            b->inflight--;
            return r;
        }
        if (b->priv.broken) return r != VIRTIO_OK ? r : VIRTIO_ERR_STATE;   /* dead: h stays the device's */
        for (n = b->queue.size; n; n--) {
            virtio__blk_slot *home, *f;
            if ((r = virtio__blk_reap(b, &home, &f)) != VIRTIO_OK) break;
            if (home == h) virtio_wait_start(&w, b->dev.platform, 0);
            if (f) virtio__blk_finish(b, f);
            if (h->state == VIRTIO__BLK_ST_DONE) break;
        }
        if (r == VIRTIO_EMPTY && (r = virtio__blk_expired(b, &w)) != VIRTIO_OK) virtio__blk_fail(b, r);
        else if (r == VIRTIO_EMPTY) r = VIRTIO_OK;
    }
}

static virtio_result virtio__blk_sync(virtio_blk *b, uint32_t op, uint32_t flags, uint64_t sector, void *buf,
                                      size_t len)
{
    virtio_blk_request rq;
    virtio__blk_slot *h = 0;
    virtio_result r;
    if (!virtio__blk_ok(b)) return VIRTIO_ERR_STATE;
    VIRTIO_ZERO(&rq);
    rq.op = op;
    rq.flags = flags;
    rq.sector = sector;
    rq.buf = buf;
    rq.len = len;
    if ((r = virtio__blk_start(b, &rq, VIRTIO__BLK_SYNC | VIRTIO_MORE, &h)) != VIRTIO_OK) return r;
    return virtio__blk_await(b, h);
}

#else
/* The smallest driver (VIRTIO_BLK_MINIMAL): one request at a time, piece
   by piece through slot 0, each waited for before the next is posted
   (the deadline restarts with each piece). The checks are those of the
   full driver; a timeout or a protocol error fails the disk as there. */
static virtio_result virtio__blk_sync(virtio_blk *b, uint32_t op, uint32_t flags, uint64_t sector, void *buf,
                                      size_t len)
{
    virtio__blk_slot *h = virtio__blk_at(b, 0);
    virtio_blk_request rq;
    virtio_wait w;
    void *cookie;
    virtio_result r;
    if (!virtio__blk_ok(b)) return VIRTIO_ERR_STATE;
    VIRTIO_ZERO(&rq);
    rq.op = op;
    rq.flags = flags;
    rq.sector = sector;
    rq.buf = buf;
    rq.len = len;
    if ((r = virtio__blk_check(b, &rq)) != VIRTIO_OK) return r;
    if (op == VIRTIO_BLK_OP_FLUSH && !b->info.flush) return VIRTIO_OK;   /* write-through device */
    h->buf = (unsigned char *)buf;
    h->sector = sector;
    h->left = op == VIRTIO_BLK_OP_FLUSH ? 1 : len;
    h->op = (uint8_t)op;
    h->flags = VIRTIO__BLK_SYNC;
    h->state = VIRTIO__BLK_ST_LIVE;
    h->result = VIRTIO_OK;
    while (h->left && h->result == VIRTIO_OK) {
        if ((r = virtio__blk_post_any(b, h, h)) != VIRTIO_OK) return r;   /* the ring is empty: no NO_SPACE */
        virtio_queue_kick(&b->queue);
        virtio_wait_start(&w, b->dev.platform, 0);
        while ((r = virtio_queue_pop(&b->queue, &cookie, 0)) == VIRTIO_EMPTY)
            if ((r = virtio__blk_expired(b, &w)) != VIRTIO_OK) break;
        if (r != VIRTIO_OK) {
            virtio__blk_fail(b, r);   /* the piece ends with r, unless the reset did not finish */
            return r;
        }
        h->posted = 0;
        h->outstanding = 0;
        b->last_status = *(volatile unsigned char *)(h->dma + VIRTIO__BLK_STATUS);
        virtio__blk_reap_any(b, h, b->last_status);
    }
    h->state = VIRTIO__BLK_ST_FREE;
    return (virtio_result)h->result;
}
#endif

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

#ifndef VIRTIO_BLK_MINIMAL
static virtio_result virtio__blk_range(virtio_blk *b, uint32_t op, uint32_t flags, uint64_t sector, uint64_t count)
{
    if (count > ((size_t)-1) / 512u) return VIRTIO_ERR_RANGE;
    return virtio__blk_sync(b, op, flags, sector, 0, (size_t)(count * 512u));
}
#endif

VIRTIO_API virtio_result virtio_blk_discard(virtio_blk *blk, uint64_t sector, uint64_t count)
{
#ifdef VIRTIO_BLK_MINIMAL
    (void)blk;
    (void)sector;
    (void)count;
    return VIRTIO_ERR_UNSUPPORTED;
#else
    return virtio__blk_range(blk, VIRTIO_BLK_OP_DISCARD, 0, sector, count);
#endif
}

VIRTIO_API virtio_result virtio_blk_write_zeroes(virtio_blk *blk, uint64_t sector, uint64_t count, int unmap)
{
#ifdef VIRTIO_BLK_MINIMAL
    (void)blk;
    (void)sector;
    (void)count;
    (void)unmap;
    return VIRTIO_ERR_UNSUPPORTED;
#else
    return virtio__blk_range(blk, VIRTIO_BLK_OP_WRITE_ZEROES, unmap ? VIRTIO_BLK_REQ_UNMAP : 0, sector, count);
#endif
}

VIRTIO_API virtio_result virtio_blk_get_id(virtio_blk *blk, char serial[21])
{
#ifdef VIRTIO_BLK_MINIMAL
    (void)blk;
    (void)serial;
    return VIRTIO_ERR_UNSUPPORTED;
#else
    char id[VIRTIO__BLK_ID_BYTES];
    virtio_result r;
    if (!serial) return VIRTIO_ERR_INVALID_ARG;
    r = virtio__blk_sync(blk, VIRTIO_BLK_OP_GET_ID, 0, 0, id, sizeof id);
    if (r != VIRTIO_OK) return r;
    VIRTIO_MEMCPY(serial, id, VIRTIO__BLK_ID_BYTES);
    serial[VIRTIO__BLK_ID_BYTES] = 0;
    return VIRTIO_OK;
#endif
}

VIRTIO_API virtio_result virtio_blk_set_writeback(virtio_blk *blk, int on)
{
#ifdef VIRTIO_BLK_MINIMAL
    (void)blk;
    (void)on;
    return VIRTIO_ERR_UNSUPPORTED;
#else
    uint8_t v;
    virtio_result r;
    if (!virtio__blk_ok(blk)) return VIRTIO_ERR_STATE;
    if (!blk->info.config_wce) return VIRTIO_ERR_UNSUPPORTED;
    if ((r = virtio_config_write(&blk->dev, VIRTIO__BLK_CFG_WRITEBACK, 1, on ? 1u : 0u)) != VIRTIO_OK) return r;
    if ((r = virtio_config_read8(&blk->dev, VIRTIO__BLK_CFG_WRITEBACK, &v)) != VIRTIO_OK) return r;
    blk->info.writeback = v != 0;
    return VIRTIO_OK;
#endif
}

VIRTIO_API virtio_result virtio_blk_refresh(virtio_blk *blk, uint32_t *changed)
{
    virtio_blk_info in;
    const virtio_blk_info *o;
    uint32_t c = 0, segs;
    virtio_result r;
    if (!virtio__blk_ok(blk)) return VIRTIO_ERR_STATE;
    /* Into a copy: a failed read leaves the disk as it was (a zeroed
       info would turn flushes into no-ops and lift read-only). */
    if ((r = virtio__blk_read_info(blk, &in)) != VIRTIO_OK) return r;
    o = &blk->info;
    segs = virtio__blk_segs(&in, blk->priv.segs_init);
    /* Buffers in flight were cut for the old block size. */
    if (in.block_size != o->block_size || segs == 0) return VIRTIO_ERR_DEVICE;
    if (in.capacity != o->capacity) c |= VIRTIO_BLK_CHANGED_CAPACITY;
    if (in.writeback != o->writeback) c |= VIRTIO_BLK_CHANGED_WRITEBACK;
    if (in.size_max != o->size_max || in.seg_max != o->seg_max || in.discard != o->discard ||
        in.max_discard_sectors != o->max_discard_sectors || in.max_discard_seg != o->max_discard_seg ||
        in.discard_sector_alignment != o->discard_sector_alignment || in.write_zeroes != o->write_zeroes ||
        in.max_write_zeroes_sectors != o->max_write_zeroes_sectors ||
        in.max_write_zeroes_seg != o->max_write_zeroes_seg || in.write_zeroes_may_unmap != o->write_zeroes_may_unmap)
        c |= VIRTIO_BLK_CHANGED_LIMITS;
    if (in.cylinders != o->cylinders || in.heads != o->heads || in.sectors != o->sectors ||
        in.physical_block_exp != o->physical_block_exp || in.alignment_offset != o->alignment_offset ||
        in.min_io_size != o->min_io_size || in.opt_io_size != o->opt_io_size)
        c |= VIRTIO_BLK_CHANGED_LAYOUT;
    blk->info = in;
    blk->priv.segs = segs;
    virtio__blk_limits(blk);
    if (changed) *changed = c;
    return VIRTIO_OK;
}

#endif /* VIRTIO_BLK_IMPLEMENTATION */
