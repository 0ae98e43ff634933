/* target_blk.h - virtio_blk.h against a fuzz-driven block device.
 *
 * Included by fuzz_blk_split.c and fuzz_blk_packed.c with FZ_RING set.
 * The device is the model's block backend with fuzz-chosen geometry,
 * limits and features, lying where the device stream says; the operation
 * stream submits, polls, waits, reads, writes, flushes, discards, asks
 * for the serial, resizes, injects I/O errors, sets NEEDS_RESET and
 * re-initialises. See fuzz.h for the properties checked.
 */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_blk.h"
#include "fuzz.h"

#define FZ_BUFSZ 16384u

typedef struct blk_fz {
    fz_env e;
    model_blk_options bo;
    virtio_blk_options o;
    virtio_blk blk;
    int up;
    fz_buf buf[FZ_NBUF];
    uint32_t busy_op[FZ_NBUF];  /* VIRTIO_BLK_OP_* in flight on this buffer */
    uint32_t inflight;          /* tokens in flight */
    uint32_t modifying;         /* writes / discards / zeroes in flight */
    uint8_t tokens[FZ_NBUF + 1];/* 1 = token (buffer index + 1, or FZ_NBUF for buffer-less) in flight */
    uint32_t nobuf_inflight;
    uint32_t changed;           /* virtio_blk_refresh's report */
    int leaked;                 /* a reset never finished: memory left to the device */
} blk_fz;

static void blk_release(blk_fz *t, uint32_t i)
{
    if (t->busy_op[i] == VIRTIO_BLK_OP_WRITE && t->modifying) t->modifying--;
    t->buf[i].busy = 0;
    fz_buf_fill(&t->buf[i]);
}

/* A completion: the token must be in flight, exactly once. */
static void blk_completed(blk_fz *t, void *token, virtio_result res)
{
    uintptr_t k = (uintptr_t)token;
    FZ_RESULT(res);
    FZ_ASSERT(k >= 1 && k <= FZ_NBUF + 1);
    if (k == FZ_NBUF + 1) {
        FZ_ASSERT(t->nobuf_inflight > 0);
        t->nobuf_inflight--;
        if (t->modifying) t->modifying--;
    } else {
        FZ_ASSERT(t->tokens[k - 1]);
        t->tokens[k - 1] = 0;
        blk_release(t, (uint32_t)(k - 1));
    }
    FZ_ASSERT(t->inflight > 0);
    t->inflight--;
}

/* Everything in flight is abandoned (shutdown): buffers come back. */
static void blk_abandon(blk_fz *t)
{
    uint32_t i;
    for (i = 0; i < FZ_NBUF; i++) {
        if (t->tokens[i]) blk_release(t, i);
        t->tokens[i] = 0;
    }
    t->inflight = t->modifying = t->nobuf_inflight = 0;
}

static void blk_check_bufs(blk_fz *t)
{
    uint32_t i;
    for (i = 0; i < FZ_NBUF; i++) fz_buf_check(&t->buf[i]);
    fz_no_bugs(&t->e);
}

static virtio_result blk_up(blk_fz *t)
{
    virtio_result r = fz_probe(&t->e);
    FZ_RESULT(r);
    if (r != VIRTIO_OK) return r;
    r = virtio_blk_init(&t->blk, &t->e.vdev, &t->o);
    if (getenv("FZ_DEBUG")) fprintf(stderr, "fuzz: init %d (%s)\n", (int)r, model_bus_last_bug(t->e.bus));
    FZ_RESULT(r);
    t->up = r == VIRTIO_OK;
    if (r == VIRTIO_ERR_TIMEOUT) t->leaked = 1;   /* a reset never finished: memory left to the device */
    return r;
}

/* Shut down. A reset that never finishes leaves the memory and the
   buffers in flight to the device: they stay busy, and leak checks end
   for this input. */
static void blk_down(blk_fz *t)
{
    virtio_result r = t->up ? virtio_blk_shutdown(&t->blk) : VIRTIO_OK;
    FZ_ASSERT(r == VIRTIO_OK || r == VIRTIO_ERR_TIMEOUT);
    FZ_ASSERT(t->blk.priv.magic == 0);
    t->up = 0;
    if (r != VIRTIO_OK) t->leaked = 1;
    if (t->leaked) return;
    blk_abandon(t);
    fz_no_leaks(&t->e);
}

/* Data on the model's disk equals bytes. */
static void blk_check_disk(blk_fz *t, uint64_t sector, const uint8_t *bytes, size_t len)
{
    uint64_t size;
    uint8_t *disk = model_blk_disk(t->e.m, &size);
    FZ_ASSERT(sector * 512 + len <= size);
    FZ_ASSERT(memcmp(disk + sector * 512, bytes, len) == 0);
}

static void blk_personality(blk_fz *t)
{
    static const uint32_t blk_sizes[] = { 512, 512, 4096, 1024, 0, 3, 65536, 131072 };
    static const uint32_t segs[] = { 126, 1, 2, 3, 0, 126, 4, 1024 };
    static const uint32_t sizes[] = { 65536, 512, 4096, 4095, 1, 1024, 8192, 65536 };
    fz_in *in = &t->e.ops;
    uint32_t k = fz_u8(in);
    model_blk_options_init(&t->bo);
    t->bo.size = 512ull * (8 + fz_below(in, 1024));
    t->bo.features = (MODEL_BLK_DEFAULT_FEATURES | MODEL_BLK_F_RO) & ~((uint64_t)fz_u16(in) << 1);
    if (!(k & 0x80)) t->bo.features &= ~MODEL_BLK_F_RO;
    if (FZ_RING == VIRTIO_RING_PACKED) t->bo.features |= MODEL_F_RING_PACKED | MODEL_F_VERSION_1;
    else t->bo.features &= ~MODEL_F_RING_PACKED;
    t->bo.blk_size = blk_sizes[k & 7];
    t->bo.seg_max = segs[(k >> 3) & 7];
    t->bo.size_max = sizes[fz_u8(in) & 7];
    t->bo.writeback = (uint8_t)((k >> 6) & 1);
    t->bo.max_discard_sectors = fz_below(in, 4096);
    t->bo.max_discard_seg = fz_below(in, 5);
    t->bo.discard_sector_alignment = fz_below(in, 16);
    t->bo.max_write_zeroes_sectors = fz_below(in, 4096);
    t->bo.max_write_zeroes_seg = fz_below(in, 5);
    k = fz_u8(in);
    memset(&t->o, 0, sizeof t->o);
    t->o.device.ring = FZ_RING;
    t->o.device.no_indirect = k & 1;
    t->o.device.no_event_idx = (k >> 1) & 1;
    t->o.max_requests = (k >> 2) & 1 ? fz_below(in, 70) : 0;
    t->o.max_segments = (k >> 3) & 1 ? fz_below(in, 40) : 0;
}

static model *blk_model(blk_fz *t)
{
    model_options mo;
    fz_options(&t->e, &mo);
    t->e.m = model_blk_new(t->e.bus, &mo, &t->bo);
    return t->e.m;
}

/* A request from the operation stream into *rq, its buffer marked busy
   meanwhile; 0 if that buffer (or the one buffer-less token, which
   *nobuf says is taken) is busy. */
static int blk_request(blk_fz *t, virtio_blk_request *rq, int *nobuf)
{
    fz_in *in = &t->e.ops;
    uint32_t i = fz_below(in, FZ_NBUF), k = fz_u8(in);
    memset(rq, 0, sizeof *rq);
    rq->op = fz_below(in, 7);
    rq->flags = k & 3;
    rq->sector = k & 4 ? fz_u32(in) : fz_below(in, 1100);
    rq->len = k & 8 ? fz_u16(in) : 512u * (1 + fz_below(in, 32));
    if (rq->len > FZ_BUFSZ) rq->len = FZ_BUFSZ;
    if (rq->op == VIRTIO_BLK_OP_DISCARD || rq->op == VIRTIO_BLK_OP_WRITE_ZEROES || rq->op == VIRTIO_BLK_OP_FLUSH) {
        if (t->nobuf_inflight >= 1 || *nobuf) return 0;
        *nobuf = 1;
        rq->buf = (k & 16) ? t->buf[i].data : 0;
        rq->token = (void *)(uintptr_t)(FZ_NBUF + 1);
    } else {
        if (t->buf[i].busy) return 0;
        t->buf[i].busy = 1;
        rq->buf = t->buf[i].data;
        rq->token = (void *)(uintptr_t)(i + 1);
    }
    return 1;
}

/* Request rq was handed over (in flight now), or refused (its buffer
   is the caller's again and must have kept its bytes). */
static void blk_handed(blk_fz *t, const virtio_blk_request *rq, int accepted)
{
    uint32_t i = (uint32_t)(uintptr_t)rq->token - 1;
    if (i == FZ_NBUF) {
        if (!accepted) return;
        t->inflight++;
        t->nobuf_inflight++;
        t->modifying++;   /* flushes counted too: simpler, only stricter */
        return;
    }
    if (!accepted) {
        t->buf[i].busy = 0;
        return;
    }
    t->inflight++;
    t->tokens[i] = 1;
    t->buf[i].writable = rq->op == VIRTIO_BLK_OP_READ || rq->op == VIRTIO_BLK_OP_GET_ID || rq->op > 5;
    t->busy_op[i] = rq->op;
    if (rq->op == VIRTIO_BLK_OP_WRITE) t->modifying++;
}

/* One submit from the operation stream. */
static void blk_submit(blk_fz *t)
{
    virtio_blk_request rq;
    virtio_result r;
    int nobuf = 0;
    if (!blk_request(t, &rq, &nobuf)) return;
    r = virtio_blk_submit(&t->blk, &rq);
    FZ_RESULT(r);
    blk_handed(t, &rq, r == VIRTIO_OK);
}

/* Up to n requests in one virtio_blk_submit_batch: a prefix is handed
   over, and the first one left out is refused alone too. */
static void blk_submit_batch(blk_fz *t, uint32_t n)
{
    virtio_blk_request rq[4];
    uint32_t k, m = 0, acc = 99;
    virtio_result r;
    int nobuf = 0;
    for (k = 0; k < n && k < 4; k++) m += (uint32_t)blk_request(t, &rq[m], &nobuf);
    r = virtio_blk_submit_batch(&t->blk, m ? rq : 0, m, &acc);
    FZ_RESULT(r);
    if (r != VIRTIO_OK) {
        FZ_ASSERT(acc == 99);   /* out-parameters only on success */
        acc = 0;
    }
    FZ_ASSERT(acc <= m);
    if (acc < m && r == VIRTIO_OK) FZ_ASSERT(virtio_blk_submit(&t->blk, &rq[acc]) != VIRTIO_OK);
    for (k = 0; k < m; k++) blk_handed(t, &rq[k], k < acc);
}

static void blk_ops(blk_fz *t)
{
    fz_in *in = &t->e.ops;
    uint32_t steps = 0;
    while (fz_more(in) && steps++ < 96) {
        uint32_t op = fz_u8(in) % 18, i = fz_below(in, FZ_NBUF);
        uint64_t sector = fz_below(in, 1100);
        size_t len = 512u * (1 + fz_below(in, 32));
        void *tok;
        virtio_result r, res;
        char serial[21];
        if (!t->up && op != 16) continue;
        if (getenv("FZ_DEBUG")) fprintf(stderr, "fuzz: op %u buf %u sector %llu len %zu\n", op, i, (unsigned long long)sector, len);
        switch (op) {
        case 0:
            blk_submit(t);
            break;
        case 1:
            blk_submit_batch(t, 1 + (i & 3));
            break;
        case 2:
            FZ_RESULT(virtio_blk_kick(&t->blk));
            break;
        case 3:
        case 4:
            if (op == 3 && (i & 1)) {   /* up to max at once */
                virtio_blk_completion c[8];
                uint32_t k, max = 1 + (i >> 1) % 8, got = 99;
                r = virtio_blk_poll_batch(&t->blk, c, max, &got);
                FZ_RESULT(r);
                if (r == VIRTIO_OK) FZ_ASSERT(got >= 1 && got <= max);
                else FZ_ASSERT(got == 99);
                for (k = 0; r == VIRTIO_OK && k < got; k++) blk_completed(t, c[k].token, c[k].result);
            } else {
                r = op == 3 ? virtio_blk_poll(&t->blk, &tok, &res) : virtio_blk_wait(&t->blk, &tok, &res);
                FZ_RESULT(r);
                if (r == VIRTIO_OK) blk_completed(t, tok, res);
                else if (r == VIRTIO_EMPTY && op == 4) FZ_ASSERT(t->inflight == 0);
            }
            if (r < 0 && r != VIRTIO_ERR_STATE && r != VIRTIO_ERR_NEEDS_RESET) {
                /* everything in flight failed: drain the failures */
                while (virtio_blk_poll(&t->blk, &tok, &res) == VIRTIO_OK) blk_completed(t, tok, res);
            }
            break;
        case 5:
        case 6: {
            uint32_t before = t->blk.inflight;
            if (t->buf[i].busy) break;
            t->buf[i].busy = 1;
            t->buf[i].writable = op == 5;
            r = op == 5 ? virtio_blk_read(&t->blk, sector, t->buf[i].data, len)
                        : virtio_blk_write(&t->blk, sector, t->buf[i].data, len);
            FZ_RESULT(r);
            if (r == VIRTIO_OK && !t->e.lies && !t->modifying) blk_check_disk(t, sector, t->buf[i].data, len);
            /* A reset that did not finish leaves the buffer the device's
               (the request stays in flight): never reuse it. */
            FZ_ASSERT(t->blk.inflight <= before + 1);
            if (t->blk.inflight > before) {
                FZ_ASSERT(r == VIRTIO_ERR_TIMEOUT || r == VIRTIO_ERR_NEEDS_RESET || r == VIRTIO_ERR_DEVICE || r == VIRTIO_ERR_GONE);
                break;
            }
            t->buf[i].busy = 0;
            if (op == 5) fz_buf_fill(&t->buf[i]);
            break;
        }
        case 7:
            FZ_RESULT(virtio_blk_flush(&t->blk));
            break;
        case 8:
            r = virtio_blk_get_id(&t->blk, serial);
            FZ_RESULT(r);
            FZ_ASSERT(r != VIRTIO_OK || memchr(serial, 0, 21));
            if (r == VIRTIO_OK && !t->e.lies) FZ_ASSERT(strcmp(serial, t->bo.serial) == 0);
            break;
        case 9:
            r = (i & 1) ? virtio_blk_discard(&t->blk, sector, len / 512)
                        : virtio_blk_write_zeroes(&t->blk, sector, len / 512, (int)(i & 2));
            FZ_RESULT(r);
            if (r == VIRTIO_OK && !(i & 1) && !t->e.lies && !t->modifying) {
                static const uint8_t zero[FZ_BUFSZ];
                blk_check_disk(t, sector, zero, len);
            }
            break;
        case 10:
            FZ_RESULT(virtio_blk_set_writeback(&t->blk, (int)(i & 1)));
            break;
        case 11:
            FZ_RESULT(virtio_blk_refresh(&t->blk, (i & 1) ? &t->changed : 0));
            break;
        case 12:
            model_set_needs_reset(t->e.m);
            break;
        case 13:   /* the disk grows or shrinks (a lie about the backing when it grows) */
            model_put64(model_config(t->e.m), fz_u32(in));
            model_config_changed(t->e.m);
            t->e.lies++;
            break;
        case 14: {
            model_blk_knobs *k = model_blk_get_knobs(t->e.m);
            k->fail_sector = sector;
            k->fail_count = i;
            k->fail_flush = i & 1;
            break;
        }
        case 15:
            if (i & 1) model_interrupt(t->e.m, 0);
            else model_run(t->e.m, i);
            break;
        case 16:   /* shut down and start again */
            blk_down(t);
            blk_up(t);
            break;
        default: {
            uint32_t v;
            FZ_RESULT(virtio_device_status(&t->blk.dev, &v));
            FZ_RESULT(virtio_device_isr(&t->blk.dev, &v));
            break;
        }
        }
        blk_check_bufs(t);
    }
}

/* After all that, the same device, honest again, must work. */
static void blk_recover(blk_fz *t)
{
    virtio_result r;
    fz_buf *b = &t->buf[0];
    model_blk_knobs *k = model_blk_get_knobs(t->e.m);
    fz_honest(&t->e, 1, t->bo.queue_size);
    t->e.bus->knobs.dma_split = 0;   /* whole blocks fit one piece even with seg_max 1 */
    k->fail_count = 0;
    k->fail_flush = 0;
    model_put64(model_config(t->e.m), t->bo.size / 512);
    t->e.lies = 0;
    memset(&t->o, 0, sizeof t->o);
    r = blk_up(t);
    if (r != VIRTIO_OK) {
        /* Only acceptable if a pristine device with this configuration is
           refused the same way. */
        blk_fz fresh;
        memset(&fresh, 0, sizeof fresh);
        fresh.e.bus = model_bus_new();
        fresh.e.bus->knobs.quiet = 1;
        fresh.e.transport = t->e.transport;
        fresh.e.legacy_probe = t->e.legacy_probe;
        fresh.bo = t->bo;
        fresh.e.ops.n = 0;
        FZ_ASSERT(blk_model(&fresh));
        r = fz_probe(&fresh.e);
        if (r == VIRTIO_OK) r = virtio_blk_init(&fresh.blk, &fresh.e.vdev, &t->o);
        if (r == VIRTIO_OK) fprintf(stderr, "fuzz: re-init after the run failed with %d, a fresh device works\n", (int)blk_up(t));
        FZ_ASSERT(r != VIRTIO_OK);
        if (r == VIRTIO_OK) virtio_blk_shutdown(&fresh.blk);
        model_bus_free(fresh.e.bus);
        return;
    }
    if (t->blk.info.capacity >= 16 && !t->blk.info.read_only && t->blk.info.block_size <= 4096) {
        r = virtio_blk_write(&t->blk, 8, b->data, 4096);
        if (r != VIRTIO_OK)
            fprintf(stderr, "fuzz: write after recovery: %d (capacity %llu, block %u, model: %s)\n", (int)r,
                    (unsigned long long)t->blk.info.capacity, t->blk.info.block_size, model_bus_last_bug(t->e.bus));
        FZ_ASSERT(r == VIRTIO_OK);
        blk_check_disk(t, 8, b->data, 4096);
        b->busy = b->writable = 1;
        memset(b->data, 0, 4096);
        FZ_ASSERT(virtio_blk_read(&t->blk, 8, b->data, 4096) == VIRTIO_OK);
        blk_check_disk(t, 8, b->data, 4096);
        b->busy = 0;
        fz_buf_fill(b);
    }
    blk_check_bufs(t);
    blk_down(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    blk_fz t;
    uint32_t i;
    memset(&t, 0, sizeof t);
    fz_env_init(&t.e, data, size);
    fz_bus(&t.e);
    fz_transport(&t.e, FZ_RING == VIRTIO_RING_PACKED);
    blk_personality(&t);
    for (i = 0; i < FZ_NBUF; i++) fz_buf_new(&t.buf[i], FZ_BUFSZ);
    fz_identity(&t.e, t.buf, FZ_NBUF);
    if (blk_model(&t)) {
        fz_knobs(&t.e, 1);
        blk_up(&t);
        blk_ops(&t);
        blk_check_bufs(&t);
        blk_down(&t);
        blk_recover(&t);
    }
    for (i = 0; i < FZ_NBUF; i++) fz_buf_free(&t.buf[i]);
    model_bus_free(t.e.bus);
    return 0;
}
