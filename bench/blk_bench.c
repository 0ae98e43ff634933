/* blk_bench.c - block throughput in QEMU (guest side of bench/run.py).
 *
 * On the first virtio-blk disk: sequential 1 MiB reads with 16 in flight,
 * 4 KiB random reads at queue depth 1 and 32, sequential 1 MiB writes
 * with 16 in flight. Prints "VT BENCH <name> <bytes> <requests> <us>".
 */
#define VIRTIO_IMPLEMENTATION
#include "../examples/port/port.h"
#include "../virtio_blk.h"

#define MiB (1024u * 1024u)
static virtio_blk disk;
static uint8_t big[16][MiB] __attribute__((aligned(4096)));
static uint8_t small[32][4096] __attribute__((aligned(4096)));
static uint32_t rng = 12345;

static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* Keep `depth` requests of `len` bytes in flight until `total` requests
   are done; sector chosen at random or sequentially. Completions are
   reaped in batches and the refills submitted with VIRTIO_MORE,
   so the device is notified once per batch, as an I/O stack would. */
static void run(const char *name, uint32_t op, uint32_t depth, uint32_t len, uint32_t total, int random)
{
    uint64_t span = disk.info.capacity / (len / 512), t0, t1;
    uint32_t submitted = 0, done = 0;
    void *tok;
    virtio_result res, r;
    t0 = port_now_us();
    while (done < total) {
        while (submitted < total && submitted - done < depth) {
            virtio_blk_request rq;
            memset(&rq, 0, sizeof rq);
            rq.op = op;
            rq.sector = (random ? next_rand() % span : submitted % span) * (len / 512);
            rq.len = len;
            rq.buf = len == MiB ? (void *)big[submitted % 16] : (void *)small[submitted % 32];
            rq.flags = submitted + 1 < total && submitted + 1 - done < depth ? VIRTIO_MORE : 0;
            if (virtio_blk_submit(&disk, &rq) != VIRTIO_OK) break;
            submitted++;
        }
        virtio_blk_kick(&disk);
        r = virtio_blk_wait(&disk, &tok, &res);
        while (r == VIRTIO_OK && res == VIRTIO_OK) {
            done++;
            r = virtio_blk_poll(&disk, &tok, &res);
        }
        if (r != VIRTIO_EMPTY || res != VIRTIO_OK) {
            port_printf("VT FAIL %s %s\n", name, virtio_result_str(r != VIRTIO_EMPTY ? r : res));
            return;
        }
    }
    t1 = port_now_us();
    port_printf("VT BENCH %s %llu %u %llu\n", name, (unsigned long long)len * total, total,
                (unsigned long long)(t1 - t0));
}

int main(void)
{
    virtio_device dev;
    virtio_result r = VIRTIO_ERR_NOT_FOUND;
    port_pci_setup();
    if (port_find_devices(VIRTIO_DEVICE_BLOCK, &dev, 1) == 1) r = virtio_blk_init(&disk, &dev, 0);
    if (r != VIRTIO_OK) {
        port_printf("VT FAIL init %s\nVT END 1\n", virtio_result_str(r));
        return 1;
    }
    port_printf("VT DISK %s packed=%u\n", dev.transport == VIRTIO_TRANSPORT_MMIO ? "mmio" : "pci", disk.queue.packed);
    /* Long enough (about a second each here) that a scheduling hiccup on
       a shared host does not decide the figure. */
    run("seqread_1m_qd16", VIRTIO_BLK_OP_READ, 16, MiB, 8192, 0);
    run("randread_4k_qd1", VIRTIO_BLK_OP_READ, 1, 4096, 16000, 1);
    run("randread_4k_qd32", VIRTIO_BLK_OP_READ, 32, 4096, 100000, 1);
    run("seqwrite_1m_qd16", VIRTIO_BLK_OP_WRITE, 16, MiB, 4096, 0);
    port_printf("VT END 0\n");
    return 0;
}
