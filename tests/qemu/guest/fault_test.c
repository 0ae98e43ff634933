/* fault_test.c - QEMU guest for tests/qemu/test_fault.py.
 *
 * The disk sits on QEMU's blkdebug driver, which fails reads and writes
 * touching sectors only the host knows. The guest reads 64 chunks (all in
 * flight at once) and writes 64 chunks, reporting each request's result
 * and what it read; the host decides whether exactly the requests over a
 * bad sector failed, whether the others returned the right data, and
 * whether every write that succeeded is in the image after the guest
 * flushed and powered off at once.
 */
#define VIRTIO_IMPLEMENTATION
#include "vt.h"
#include "../../../virtio_blk.h"

#define CHUNK 4096u
#define N 64u
#define STRIDE (2u * CHUNK)
#define READ_AT (64u * 1024u)
#define WRITE_AT (1024u * 1024u)

static virtio_blk disk;
static uint8_t bufs[N][CHUNK] __attribute__((aligned(4096)));
static virtio_result results[N];
static uint32_t done;

static void on_done(virtio_blk *b, void *token, virtio_result r)
{
    (void)b;
    results[(uint8_t(*)[CHUNK])token - bufs] = r;
    done++;
}

static void run(uint32_t op, uint32_t base, const char *tag)
{
    uint32_t i;
    virtio_wait w;
    done = 0;
    for (i = 0; i < N; i++) {
        virtio_blk_request rq;
        memset(&rq, 0, sizeof rq);
        rq.op = op;
        rq.sector = (base + i * STRIDE) / 512;   /* gaps: QEMU merges adjacent requests */
        rq.buf = bufs[i];
        rq.len = CHUNK;
        rq.token = bufs[i];
        rq.callback = on_done;
        rq.flags = i + 1 < N ? VIRTIO_MORE : 0;
        results[i] = VIRTIO_ERR_STATE;
        VT_EXPECT(virtio_blk_submit(&disk, &rq), VIRTIO_OK, "submit");
    }
    virtio_wait_start(&w, port_platform(), 30000);
    while (done < N && virtio_wait_step(&w) == VIRTIO_OK) virtio_blk_poll(&disk, 0, 0);
    for (i = 0; i < N; i++)
        port_printf("VT %s %u %d %08x\n", tag, i, (int)results[i],
                    results[i] == VIRTIO_OK ? vt_crc32(0, bufs[i], CHUNK) : 0u);
}

int main(void)
{
    virtio_device dev;
    virtio_blk_options o;
    uint64_t seed = 0;
    uint32_t i;
    virtio_result r;
    port_pci_setup();
    memset(&o, 0, sizeof o);
    o.max_requests = N;   /* all in flight at once */
    if (vt_find(VIRTIO_DEVICE_BLOCK, &dev, 1) != 1 || (r = virtio_blk_init(&disk, &dev, &o)) != VIRTIO_OK) {
        port_printf("VT FAIL no disk\nVT END 1\n");
        return 1;
    }
    VT_EXPECT(virtio_blk_read(&disk, 0, bufs[0], 512), VIRTIO_OK, "header");
    for (i = 0; i < 8; i++) seed |= (uint64_t)bufs[0][8 + i] << (8 * i);
    run(VIRTIO_BLK_OP_READ, READ_AT, "READ");
    for (i = 0; i < N; i++) vt_pattern(seed + 1, WRITE_AT + i * STRIDE, bufs[i], CHUNK);
    run(VIRTIO_BLK_OP_WRITE, WRITE_AT, "WRITE");
    VT_EXPECT(virtio_blk_flush(&disk), VIRTIO_OK, "flush");
    /* Blocking calls after errors still work. */
    VT_EXPECT(virtio_blk_read(&disk, 0, bufs[0], 512), VIRTIO_OK, "read after errors");
    port_printf("VT END %d\n", vt_failures);   /* and power off at once */
    return vt_failures != 0;
}
