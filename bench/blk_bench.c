/* blk_bench.c - block throughput in QEMU (guest side of bench/run.py).
 *
 * Runs workloads on the first virtio-blk disk as bench/run.py asks, one
 * command line on the UART each:
 *   <r|w> <depth> <bytes> <count> <seq|rand> [each] [spin]
 *       keep <depth> requests of <bytes> in flight until <count> are
 *       done, at sequential or random sectors; "each" notifies the device
 *       per request instead of once per batch of refills. Each wait
 *       arms the request queue first, so that its interrupt (MSI-X, or
 *       the virtio-mmio / INTx line) ends the idle hook's nap at the
 *       first completion; "poll" leaves it unarmed (the nap ends on its
 *       5 us timer), "spin" polls without the idle hook (busy waiting)
 *   s <count>
 *       call the port's idle hook <count> times (what a sleep costs)
 *   q   end
 * A workload prints "VT START" as it begins and, at its end,
 * "VT BENCH <bytes> <requests> <us> <waits>" (waits: the empty polls of
 * virtio_blk_wait, each one call of the platform's idle hook).
 */
#define VIRTIO_IMPLEMENTATION
#include "../examples/port/port.h"
#include "../virtio_blk.h"

#define MiB (1024u * 1024u)
#define BUF_BYTES (16u * MiB)
static virtio_blk disk;
static uint8_t bufs[BUF_BYTES] __attribute__((aligned(4096)));
static uint32_t rng = 12345;
static virtio_platform platform;
static uint64_t waits;
static int spin, irq_ready, use_irq;
static uint64_t irqs;

/* Interrupts, for "irq": the request queue's completions end the idle
   hook's nap early. MSI-X: the vector says it all; virtio-mmio / INTx:
   reading the ISR acknowledges. */
static void msi_handler(void *arg)
{
    (void)arg;
    irqs++;
}

static void line_handler(void *arg)
{
    uint32_t isr = 0;
    (void)arg;
    virtio_device_isr(&disk.dev, &isr);
    if (isr) irqs++;
}

/* Before init: MSI-X entries 0 (configuration) and 1 (queue 0) and the
   plan init follows. */
static void irq_prepare(virtio_device *dev)
{
    uint64_t address;
    uint32_t data, e;
    if (dev->transport != VIRTIO_TRANSPORT_PCI) return;
    for (e = 0; e < 2; e++) {
        if (port_msi_alloc(msi_handler, 0, &address, &data, 0) != 0) return;
        if (virtio_pci_msix_set(dev, e, address, data) != VIRTIO_OK) return;
    }
    if (virtio_pci_msix_enable(dev, 1) != VIRTIO_OK || virtio_pci_msix_plan(dev, 0, 1) != VIRTIO_OK)
        virtio_pci_msix_enable(dev, 0);
}

/* After init: MSI-X if the device took the vector, else the line. */
static void irq_setup(void)
{
    uint32_t line;
    if (disk.dev.transport == VIRTIO_TRANSPORT_PCI && disk.queue.vector == 1) {
        irq_ready = 2;
        return;
    }
    if (disk.dev.transport == VIRTIO_TRANSPORT_PCI) virtio_pci_msix_enable(&disk.dev, 0);
    if (port_irq_line(&disk.dev, &line) == 0 && port_irq_attach(line, line_handler, 0) == 0) irq_ready = 1;
}

static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* The port's idle hook (or none: spin), counted. */
static void counted_idle(void *user)
{
    (void)user;
    waits++;
    if (use_irq && port_irq_nap(5) == 0) return;   /* the queue's interrupt ends it early */
    if (!spin) port_platform()->idle(port_platform()->user);
}

/* Keep `depth` requests of `len` bytes in flight until `total` requests
   are done. Completions are reaped in batches and the refills submitted
   with VIRTIO_MORE, so the device is notified once per batch, as an I/O
   stack would (or per request: `each`). */
static void run(uint32_t op, uint32_t depth, uint32_t len, uint32_t total, int random, int each)
{
    uint64_t span = disk.info.capacity / (len / 512), t0, t1, w0, i0;
    uint32_t submitted = 0, done = 0, slots = BUF_BYTES / len;
    void *tok;
    virtio_result res, r;
    port_printf("VT START\n");
    w0 = waits;
    i0 = irqs;
    t0 = port_now_us();
    while (done < total) {
        while (submitted < total && submitted - done < depth) {
            virtio_blk_request rq;
            memset(&rq, 0, sizeof rq);
            rq.op = op;
            rq.sector = (random ? next_rand() % span : submitted % span) * (len / 512);
            rq.len = len;
            rq.buf = bufs + (size_t)(submitted % slots) * len;
            rq.flags = !each && submitted + 1 < total && submitted + 1 - done < depth ? VIRTIO_MORE : 0;
            if (virtio_blk_submit(&disk, &rq) != VIRTIO_OK) break;
            submitted++;
        }
        virtio_blk_kick(&disk);
        if (use_irq) {
            int pending;
            virtio_queue_enable_cb(&disk.queue, &pending);
        }
        r = virtio_blk_wait(&disk, &tok, &res);
        while (r == VIRTIO_OK && res == VIRTIO_OK) {
            done++;
            r = virtio_blk_poll(&disk, &tok, &res);
        }
        if (r != VIRTIO_EMPTY || res != VIRTIO_OK) {
            port_printf("VT FAIL %s\n", virtio_result_str(r != VIRTIO_EMPTY ? r : res));
            return;
        }
    }
    t1 = port_now_us();
    if (use_irq) virtio_queue_disable_cb(&disk.queue);
    port_printf("VT IRQS %llu\n", (unsigned long long)(irqs - i0));
    port_printf("VT BENCH %llu %u %llu %llu\n", (unsigned long long)len * total, total, (unsigned long long)(t1 - t0),
                (unsigned long long)(waits - w0));
}

/* Is `w` one of the words in s? */
static int has_word(const char *s, const char *w)
{
    while (*s) {
        const char *a = s, *b = w;
        while (*a && *a == *b) a++, b++;
        if (!*b && (*a == ' ' || !*a)) return 1;
        while (*s && *s != ' ') s++;
        while (*s == ' ') s++;
    }
    return 0;
}

static uint32_t word(const char **s)
{
    uint32_t v = 0;
    while (**s == ' ') (*s)++;
    while (**s >= '0' && **s <= '9') v = v * 10u + (uint32_t)(*(*s)++ - '0');
    return v;
}

int main(void)
{
    virtio_device dev;
    virtio_result r = VIRTIO_ERR_NOT_FOUND;
    char line[80];
    port_pci_setup();
    platform = *port_platform();
    platform.idle = counted_idle;
    if (port_find_devices(VIRTIO_DEVICE_BLOCK, &dev, 1) == 1) {
        dev.platform = &platform;
        irq_prepare(&dev);
        r = virtio_blk_init(&disk, &dev, 0);
        if (r == VIRTIO_OK) irq_setup();
    }
    if (r != VIRTIO_OK) {
        port_printf("VT FAIL init %s\nVT END 1\n", virtio_result_str(r));
        return 1;
    }
    /* What decides how requests reach QEMU: ring format, notification
       suppression, the device's request limits. */
    port_printf("VT READY %s packed=%u event_idx=%d seg_max=%u size_max=%u queue=%u irq=%s\n",
                dev.transport == VIRTIO_TRANSPORT_MMIO ? "mmio" : "pci", disk.queue.packed,
                virtio_device_has(&disk.dev, VIRTIO_FEATURE_EVENT_IDX), disk.info.seg_max, disk.info.size_max,
                disk.queue.size, irq_ready == 2 ? "msix" : irq_ready ? "line" : "none");
    for (;;) {
        const char *s = line;
        uint32_t op, depth, len, count;
        int n = 0, c;
        while ((c = port_getc()) != '\n') {
            if (c < 0)
                port_arch_relax();
            else if (c != '\r' && n < (int)sizeof line - 1)
                line[n++] = (char)c;
        }
        line[n] = 0;
        if (line[0] == 'q') break;
        if (line[0] == 's') {
            uint64_t t0;
            uint32_t k;
            s = line + 1;
            count = word(&s);
            port_printf("VT START\n");
            t0 = port_now_us();
            for (k = 0; k < count; k++) port_arch_relax();
            port_printf("VT BENCH 0 %u %llu %u\n", count, (unsigned long long)(port_now_us() - t0), count);
            continue;
        }
        if (line[0] != 'r' && line[0] != 'w') continue;
        op = line[0] == 'r' ? VIRTIO_BLK_OP_READ : VIRTIO_BLK_OP_WRITE;
        s = line + 1;
        depth = word(&s);
        len = word(&s);
        count = word(&s);
        if (!depth || depth > 32 || len < 512 || len % 512 || len > BUF_BYTES / depth || !count) {
            port_printf("VT FAIL bad command: %s\n", line);
            continue;
        }
        spin = has_word(s, "spin");
        use_irq = irq_ready && !spin && !has_word(s, "poll");
        run(op, depth, len, count, has_word(s, "rand"), has_word(s, "each"));
    }
    port_printf("VT END 0\n");
    return 0;
}
