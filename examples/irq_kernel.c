/* irq_kernel.c - virtio.h driven by interrupts, the way a small kernel
 * does it: submit work, sleep, let the interrupt handler take the
 * completions, wake up.
 *
 * What it shows, on every port (riscv64/32, aarch64/be, armv7, x86_64,
 * i686):
 *   - each device's interrupt found and wired: MSI-X on PCI where the
 *     machine has MSI (arm GICv2m, x86 local APIC): one table entry for
 *     configuration changes and one per queue, read back; a device that
 *     refuses a vector (or has too few, or no MSI-X) falls back to INTx.
 *     INTx on PCI otherwise (routed through the device tree's
 *     interrupt-map, or the interrupt line SeaBIOS wrote), and the
 *     virtio-mmio interrupt from the device tree;
 *   - the handler: INTx and virtio-mmio read and acknowledge the ISR
 *     (virtio_device_isr; a shared line may be another device's), MSI-X
 *     knows its queue from the vector. It drains the queue with the
 *     driver's poll calls, re-arms it with virtio_queue_enable_cb and
 *     drains again when that says completions are pending (with event
 *     index an armed queue interrupts once: no re-arm, no interrupt);
 *   - the kernel loop: with interrupts off it looks for work (free request
 *     slots, frames to answer), submits it, and when there is none it
 *     sleeps in port_irq_wait (wfi / hlt), which an interrupt that came
 *     after the look ends at once.
 * Traffic: block reads and writes, 16 in flight, of 4 to 64 KiB over two
 * regions of the first disk (the writes carry a seeded pattern the host
 * checks in the image; the reads are checked against the pattern the host
 * put there), then a flush; network frames both ways (frames of a seeded
 * pattern the guest originates, and an echo of every frame the host
 * sends); finally a configuration interrupt: the host takes the link down
 * and up, and the guest waits for both changes.
 *
 * The host (tests/qemu/test_irq.py) starts it with one line on the UART:
 *     go WSEED RSEED NSEED KIB FRAMES ECHOES MODE
 * (seeds in hex; KIB per region; MODE "msix", "intx": INTx even where
 * MSI-X would work, or "msixmasked": MSI-X on a function whose Function
 * Mask an earlier owner left set) and reads "VT" lines: how each device interrupts,
 * interrupts per source, completions, sleeps, wake-ups that found nothing
 * new, and handler drains that found nothing (busy polling would show
 * there). The host sends its echo frames one at a time once the block
 * traffic is done ("VT BLKDONE"), each when the guest says it goes to
 * sleep ("VT IDLE"), so each one must wake it.
 *
 *   make build/riscv64/irq_kernel.elf
 *   python3 tests/qemu/test_irq.py riscv64
 */
#define VIRTIO_IMPLEMENTATION
#include "../tests/qemu/guest/vt.h"
#include "../virtio_blk.h"
#include "../virtio_net.h"

#define KiB 1024u
#define SLOTS 16                    /* block requests in flight */
#define REQ_MAX (64 * KiB)
#define WRITE_AT (1024 * KiB)       /* byte offsets of the two regions on the disk */
#define READ_AT (8192 * KiB)
#define RING 64                     /* received frames waiting for the kernel loop */
#define FRAME_MAX 1518
#define WAIT_US 5000000u            /* a sleep longer than this is a lost interrupt */
#define ETH_GUEST 0x88b5            /* frames the guest originates */
#define ETH_ECHO 0x88b6             /* frames the host wants back */

enum { MODE_NONE, MODE_MMIO, MODE_INTX, MODE_MSIX };
static const char *const mode_name[] = { "none", "mmio", "intx", "msix" };

static virtio_blk blk;
static virtio_net nic;

/* ---- what the interrupt side did, for the report ----------------------- */
struct irqdev {
    const char *name;
    virtio_device *dev;
    int mode;
    uint32_t line;                  /* INTx / virtio-mmio source */
    uint64_t own, foreign;          /* line interrupts: this device's, another device's */
    uint32_t nvec;                  /* MSI-X entries: 0 configuration, 1 + i queue i */
    uint32_t vec_source[3];
    uint64_t vec_irqs[3];
    uint32_t (*drain)(int queue);   /* queue -1: all; returns what it handed back */
    void (*config)(void);
};
struct vector {
    struct irqdev *d;
    uint32_t entry;
};

static volatile uint32_t events;    /* bumped by handlers for anything new */
static uint64_t drains, empty_drains, passes, rearm_pending, stalls;
static volatile int failed_drain;

/* ---- block ---------------------------------------------------------------- */
static struct {
    uint8_t buf[REQ_MAX];
    volatile int state;             /* 0 free, 1 in flight, 2 done */
    virtio_result result;
    int write;
    uint64_t off;
    size_t len;
} slot[SLOTS];
static uint64_t wseed, rseed, region, w_next, r_next, nreq;
static uint64_t blk_done, blk_bad, blk_mismatch;
static int flush_state;             /* 0 not yet, 1 in flight, 2 done */
static volatile virtio_result flush_result;

/* Handler side: hand back everything completed, re-arm, and again while
   completions raced the arm. Bounded: a device that keeps completing
   cannot hold the handler (the kernel loop calls us again). */
static uint32_t blk_drain(int queue)
{
    int pending = 1, round;
    uint32_t total = 0;
    (void)queue;
    for (round = 0; pending && round < 64; round++) {
        void *tok;
        virtio_result res, r;
        uint32_t got = 0;
        while ((r = virtio_blk_poll(&blk, &tok, &res)) == VIRTIO_OK) {
            if (tok == (void *)&flush_state) {
                flush_result = res;
                flush_state = 2;
            } else {
                int i = (int)((uintptr_t)tok - 1);
                slot[i].result = res;
                slot[i].state = 2;
            }
            got++;
        }
        passes++;
        total += got;
        if (got) events++;
        if (r != VIRTIO_EMPTY) {
            failed_drain = 1;   /* broken: the loop reports it */
            break;
        }
        virtio_queue_enable_cb(&blk.queue, &pending);
        rearm_pending += (unsigned)pending;
    }
    return total;
}

static void blk_config(void)
{
    uint32_t changed = 0;
    virtio_blk_refresh(&blk, &changed);
    events++;
}

/* Kernel side: submit while slots are free, batched with VIRTIO_MORE. */
static int blk_submit_more(void)
{
    int i, n = 0;
    for (i = 0; i < SLOTS; i++) {
        virtio_blk_request rq;
        int write;
        if (slot[i].state != 0) continue;
        if (w_next >= region && r_next >= region) break;
        write = w_next < region && (nreq % 2 == 0 || r_next >= region);
        memset(&rq, 0, sizeof rq);
        slot[i].write = write;
        slot[i].len = (size_t)(4 * KiB) * (1 + (nreq * 5) % 16);
        slot[i].off = write ? w_next : r_next;
        if (slot[i].len > region - slot[i].off) slot[i].len = (size_t)(region - slot[i].off);
        slot[i].off += write ? WRITE_AT : READ_AT;
        if (write) vt_pattern(wseed, slot[i].off, slot[i].buf, slot[i].len);
        rq.op = write ? VIRTIO_BLK_OP_WRITE : VIRTIO_BLK_OP_READ;
        rq.flags = VIRTIO_MORE;
        rq.sector = slot[i].off / 512;
        rq.buf = slot[i].buf;
        rq.len = slot[i].len;
        rq.token = (void *)(uintptr_t)(i + 1);
        if (virtio_blk_submit(&blk, &rq) != VIRTIO_OK) {
            blk_bad++;
            break;
        }
        slot[i].state = 1;
        if (write) w_next += slot[i].len;
        else r_next += slot[i].len;
        nreq++;
        n++;
    }
    if (w_next >= region && r_next >= region && flush_state == 0) {
        int busy = 0;
        for (i = 0; i < SLOTS; i++) busy |= slot[i].state != 0;
        if (!busy) {   /* every write has completed: make them durable */
            virtio_blk_request rq;
            memset(&rq, 0, sizeof rq);
            rq.op = VIRTIO_BLK_OP_FLUSH;
            rq.token = &flush_state;
            if (virtio_blk_submit(&blk, &rq) == VIRTIO_OK) flush_state = 1;
            else blk_bad++;
            n++;
        }
    }
    if (n) virtio_blk_kick(&blk);
    return n;
}

/* Kernel side: look at finished requests (reads checked) and free them. */
static int blk_finish(void)
{
    int i, n = 0;
    for (i = 0; i < SLOTS; i++) {
        if (slot[i].state != 2) continue;
        if (slot[i].result != VIRTIO_OK) blk_bad++;
        else if (!slot[i].write && !vt_check_pattern(rseed, slot[i].off, slot[i].buf, slot[i].len)) blk_mismatch++;
        blk_done++;
        slot[i].state = 0;
        n++;
    }
    return n;
}

/* ---- network ---------------------------------------------------------------- */
static uint8_t ring[RING][FRAME_MAX];
static uint32_t ring_len[RING];
static volatile uint32_t ring_head, ring_tail;   /* handler adds at head, loop takes at tail */
static uint64_t nseed, frames_want, echoes_want, frames_sent, echoed, rx_frames, rx_other, tx_done, net_bad;
static volatile uint32_t link_changes;
static int rx_stalled;

static uint32_t rx_drain(void)
{
    int pending = 1, round;
    uint32_t total = 0;
    rx_stalled = 0;
    for (round = 0; pending && round < 64; round++) {
        uint32_t got = 0;
        virtio_result r = VIRTIO_OK;
        while (ring_head - ring_tail < RING) {
            virtio_net_frame f;
            r = virtio_net_receive(&nic, ring[ring_head % RING], FRAME_MAX, &f);
            if (r != VIRTIO_OK) break;
            ring_len[ring_head % RING] = f.len;
            ring_head++;
            got++;
        }
        passes++;
        total += got;
        if (got) events++;
        rx_frames += got;
        if (r == VIRTIO_OK) {   /* the ring is full: the loop drains again once it has room */
            rx_stalled = 1;
            stalls++;
            break;
        }
        if (r != VIRTIO_EMPTY && r != VIRTIO_ERR_TOO_BIG && r != VIRTIO_ERR_DEVICE) {
            failed_drain = 1;
            break;
        }
        if (r != VIRTIO_EMPTY) continue;   /* a dropped frame: there may be more */
        virtio_queue_enable_cb(&nic.rx, &pending);
        rearm_pending += (unsigned)pending;
    }
    return total;
}

static uint32_t tx_drain(void)
{
    int pending = 1, round;
    uint32_t total = 0;
    for (round = 0; pending && round < 64; round++) {
        uint32_t got = 0;
        if (virtio_net_reclaim(&nic, &got) != VIRTIO_OK) {
            failed_drain = 1;
            break;
        }
        passes++;
        total += got;
        if (got) events++;
        tx_done += got;
        virtio_queue_enable_cb(&nic.tx, &pending);
        rearm_pending += (unsigned)pending;
    }
    return total;
}

static uint32_t net_drain(int queue)
{
    uint32_t got = 0;
    if (queue != 1) got += rx_drain();   /* queue 0 receive, 1 transmit, -1 both */
    if (queue != 0) got += tx_drain();
    return got;
}

static void net_config(void)
{
    uint32_t changed = 0;
    if (virtio_net_refresh(&nic, &changed) == VIRTIO_OK && (changed & VIRTIO_NET_CHANGED_LINK)) link_changes++;
    events++;
}

static int net_send_more(void)
{
    static uint8_t out[FRAME_MAX];
    static const uint8_t peer[6] = { 0x02, 0, 0, 0, 0, 1 };
    int n = 0;
    virtio_result r;
    /* Answer the host first: each echo frame goes back as it came. */
    while (ring_tail != ring_head) {
        const uint8_t *f = ring[ring_tail % RING];
        uint32_t len = ring_len[ring_tail % RING];
        if (len >= 14 && f[12] == (ETH_ECHO >> 8) && f[13] == (ETH_ECHO & 0xff)) {
            r = virtio_net_send(&nic, f, len, 0);
            if (r == VIRTIO_ERR_NO_SPACE) return n;   /* a transmit interrupt will free buffers */
            if (r != VIRTIO_OK) net_bad++;
            echoed++;
        } else {
            rx_other++;
        }
        ring_tail++;
        n++;
    }
    if (rx_stalled) {   /* the handler left frames in the device for want of room */
        rx_drain();
        n++;
    }
    while (frames_sent < frames_want) {
        uint32_t i = (uint32_t)frames_sent, len = 60 + (i * 97u) % (1514 - 60 + 1);
        memcpy(out, peer, 6);
        memcpy(out + 6, nic.info.mac, 6);
        out[12] = ETH_GUEST >> 8;
        out[13] = ETH_GUEST & 0xff;
        out[14] = (uint8_t)(i >> 24);
        out[15] = (uint8_t)(i >> 16);
        out[16] = (uint8_t)(i >> 8);
        out[17] = (uint8_t)i;
        vt_pattern(nseed, (uint64_t)i << 12, out + 18, len - 18);
        r = virtio_net_send(&nic, out, len, 0);
        if (r == VIRTIO_ERR_NO_SPACE) break;
        if (r != VIRTIO_OK) net_bad++;
        frames_sent++;
        n++;
    }
    return n;
}

/* ---- interrupt handlers --------------------------------------------------- */
static struct irqdev blk_irq = { "blk", &blk.dev, MODE_NONE, 0, 0, 0, 0, { 0, 0, 0 }, { 0, 0, 0 }, blk_drain, blk_config };
static struct irqdev net_irq = { "net", &nic.dev, MODE_NONE, 0, 0, 0, 0, { 0, 0, 0 }, { 0, 0, 0 }, net_drain, net_config };
static struct vector vectors[2][3];

/* INTx and virtio-mmio: the ISR says whether it was us and why; reading
   it acknowledges (and lowers the line). */
static void line_handler(void *arg)
{
    struct irqdev *d = (struct irqdev *)arg;
    uint32_t isr = 0;
    virtio_device_isr(d->dev, &isr);
    if (!isr) {
        d->foreign++;
        return;
    }
    d->own++;
    if (isr & VIRTIO_ISR_QUEUE) {   /* some queue: which one, the ISR does not say */
        drains++;
        if (!d->drain(-1)) empty_drains++;
    }
    if (isr & VIRTIO_ISR_CONFIG) d->config();
}

/* MSI-X: the vector is the cause; no ISR read (virtio 1.2 4.1.4.5). */
static void vector_handler(void *arg)
{
    struct vector *v = (struct vector *)arg;
    v->d->vec_irqs[v->entry]++;
    if (v->entry == 0) {
        v->d->config();
        return;
    }
    drains++;
    if (!v->d->drain((int)v->entry - 1)) empty_drains++;
}

/* Mode "msixmasked": act as an earlier owner that left the MSI-X
   capability's Function Mask set (virtio_pci_msix_enable must clear it). */
static void mask_function(const virtio_device *d)
{
    uint32_t cap = port_pci_read32(d->bdf, 0x34) & 0xfcu, n;
    for (n = 0; cap >= 0x40 && n < 48; n++) {
        uint32_t v = port_pci_read32(d->bdf, cap);   /* id, next, message control */
        if ((v & 0xffu) == 0x11) {
            port_pci_write32(d->bdf, cap, v | 0x4000u << 16);
            return;
        }
        cap = v >> 8 & 0xfcu;
    }
}

/* MSI-X, before the driver's init: entries 0 (configuration) and 1 + i
   (queue i), each with its own MSI message, MSI-X on, and the plan that
   init follows (virtio 1.2 4.1.4.3.2: a queue's vector is set before the
   queue is enabled). dev is the probed device the driver will copy. */
static int msix_prepare(virtio_device *dev, struct irqdev *d, struct vector *v, uint32_t nq)
{
    uint32_t e;
    virtio_result r = VIRTIO_OK;
    for (e = 0; e <= nq && r == VIRTIO_OK; e++) {
        uint64_t address;
        uint32_t data;
        v[e].d = d;
        v[e].entry = e;
        if (port_msi_alloc(vector_handler, &v[e], &address, &data, &d->vec_source[e]) != 0) return -1;
        r = virtio_pci_msix_set(dev, e, address, data);   /* RANGE: the table is too small */
    }
    if (r == VIRTIO_OK) r = virtio_pci_msix_enable(dev, 1);
    if (r == VIRTIO_OK) r = virtio_pci_msix_plan(dev, 0, 1);
    if (r != VIRTIO_OK) {
        port_printf("VT REFUSED dev=%s step=table %s\n", d->name, virtio_result_str(r));
        virtio_pci_msix_enable(dev, 0);
        return -1;
    }
    return 0;
}

/* After init: the device must have taken every vector of the plan (it
   read them back). Any refusal: MSI-X off again, INTx instead. */
static int msix_taken(struct irqdev *d, virtio_queue *const *q, uint32_t nq)
{
    uint32_t i, ok = d->dev->config_vector == 0;
    for (i = 0; i < nq; i++) ok &= q[i]->vector == i + 1;
    if (!ok) {
        port_printf("VT REFUSED dev=%s step=vector %s\n", d->name, virtio_result_str(VIRTIO_ERR_UNSUPPORTED));
        virtio_pci_msix_enable(d->dev, 0);
        return -1;
    }
    d->nvec = nq + 1;
    return 0;
}

static void setup_irq(struct irqdev *d, virtio_queue *const *q, uint32_t nq, int msix)
{
    if (msix && msix_taken(d, q, nq) == 0) {
        d->mode = MODE_MSIX;
        port_printf("VT MODE dev=%s mode=msix sources=%u,%u,%u\n", d->name, (unsigned)d->vec_source[0],
                    (unsigned)d->vec_source[1], (unsigned)(nq > 1 ? d->vec_source[2] : 0));
        return;
    }
    if (port_irq_line(d->dev, &d->line) != 0 || port_irq_attach(d->line, line_handler, d) != 0) {
        port_printf("VT FAIL %s: no interrupt line\n", d->name);
        return;
    }
    d->mode = d->dev->transport == VIRTIO_TRANSPORT_MMIO ? MODE_MMIO : MODE_INTX;
    port_printf("VT MODE dev=%s mode=%s source=%u\n", d->name, mode_name[d->mode], (unsigned)d->line);
}

static void report(const struct irqdev *d)
{
    if (d->mode == MODE_MSIX)
        port_printf("VT IRQ dev=%s mode=msix config=%llu q0=%llu q1=%llu\n", d->name,
                    (unsigned long long)d->vec_irqs[0], (unsigned long long)d->vec_irqs[1],
                    (unsigned long long)d->vec_irqs[2]);
    else
        port_printf("VT IRQ dev=%s mode=%s own=%llu foreign=%llu\n", d->name, mode_name[d->mode],
                    (unsigned long long)d->own, (unsigned long long)d->foreign);
}

/* ---- the kernel ------------------------------------------------------------- */
static int read_line(char *buf, int cap)
{
    uint64_t end = port_now_us() + 120000000u;
    int n = 0;
    while (port_now_us() < end) {
        int c = port_getc();
        if (c < 0) continue;
        if (c == '\n' || c == '\r') {
            if (n == 0) continue;
            buf[n] = 0;
            return n;
        }
        if (n < cap - 1) buf[n++] = (char)c;
    }
    return -1;
}

static uint64_t parse_num(const char **s, int base)
{
    uint64_t v = 0;
    while (**s == ' ') (*s)++;
    for (;; (*s)++) {
        int c = **s, d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (base == 16 && c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else break;
        v = v * (unsigned)base + (unsigned)d;
    }
    return v;
}

static int all_done(void)
{
    return flush_state == 2 && frames_sent == frames_want && echoed >= echoes_want && ring_tail == ring_head;
}

/* Sleep until a handler has something new for us. Interrupts are off:
   whatever came since the last look is pending and ends the wait. */
static uint64_t looks, sleeps, wakes, idle_wakes, timeouts;
static int sleep_once(void)
{
    uint32_t before = events;
    sleeps++;
    if (!port_irq_wait(WAIT_US)) {
        timeouts++;
        return -1;
    }
    wakes++;
    if (events == before) idle_wakes++;
    return 0;
}

int main(void)
{
    virtio_device bdev, ndev;
    virtio_queue *blk_q[1], *net_q[2];
    int msix[2];
    char line[160];
    const char *s = line;
    int want_msix, stuck = 0, blk_reported = 0;
    uint32_t seen;
    uint64_t t0, t1;

    port_pci_setup();
    if (port_find_devices(VIRTIO_DEVICE_BLOCK, &bdev, 1) < 1 || port_find_devices(VIRTIO_DEVICE_NET, &ndev, 1) < 1) {
        port_printf("VT FAIL no block or network device\nVT END 1\n");
        return 1;
    }
    port_printf("VT READY blk=%s net=%s\n", vt_transport(&bdev), vt_transport(&ndev));
    if (read_line(line, sizeof line) < 0 || memcmp(line, "go ", 3) != 0) {
        port_printf("VT FAIL no go line\nVT END 1\n");
        return 1;
    }
    s += 3;
    wseed = parse_num(&s, 16);
    rseed = parse_num(&s, 16);
    nseed = parse_num(&s, 16);
    region = parse_num(&s, 10) * KiB;
    frames_want = parse_num(&s, 10);
    echoes_want = parse_num(&s, 10);
    while (*s == ' ') s++;
    want_msix = strcmp(s, "intx") == 0 ? 0 : strcmp(s, "msixmasked") == 0 ? 2 : 1;
    /* MSI-X is planned on the probed devices: the drivers' init sets each
       vector before it enables the queue. */
    if (want_msix == 2) {
        if (bdev.transport == VIRTIO_TRANSPORT_PCI) mask_function(&bdev);
        if (ndev.transport == VIRTIO_TRANSPORT_PCI) mask_function(&ndev);
    }
    msix[0] = want_msix && bdev.transport == VIRTIO_TRANSPORT_PCI && msix_prepare(&bdev, &blk_irq, vectors[0], 1) == 0;
    msix[1] = want_msix && ndev.transport == VIRTIO_TRANSPORT_PCI && msix_prepare(&ndev, &net_irq, vectors[1], 2) == 0;
    if (virtio_blk_init(&blk, &bdev, 0) != VIRTIO_OK || virtio_net_init(&nic, &ndev, 0) != VIRTIO_OK) {
        port_printf("VT FAIL init\nVT END 1\n");
        return 1;
    }
    port_printf("VT INIT packed=%u mac=%02x:%02x:%02x:%02x:%02x:%02x\n", blk.queue.packed, nic.info.mac[0],
                nic.info.mac[1], nic.info.mac[2], nic.info.mac[3], nic.info.mac[4], nic.info.mac[5]);

    /* Interrupts: MSI-X as planned if the devices took the vectors, else
       the line; queues armed, and whatever arrived before the arm drained. */
    blk_q[0] = &blk.queue;
    net_q[0] = &nic.rx;
    net_q[1] = &nic.tx;
    setup_irq(&blk_irq, blk_q, 1, msix[0]);
    setup_irq(&net_irq, net_q, 2, msix[1]);
    if (blk_irq.mode == MODE_NONE || net_irq.mode == MODE_NONE) {
        port_printf("VT END 1\n");
        return 1;
    }
    blk_drain(0);
    net_drain(-1);
    port_printf("VT GO\n");

    t0 = port_now_us();
    port_irq_enable();
    for (;;) {
        int progress;
        port_irq_disable();
        seen = events;
        progress = blk_finish();
        progress += blk_submit_more();
        if (flush_state == 2 && !blk_reported) {   /* the host starts its echo frames now */
            port_printf("VT BLKDONE\n");
            blk_reported = 1;
        }
        progress += net_send_more();
        if (failed_drain || all_done()) break;
        looks++;
        if (!progress && events == seen) {
            /* Echo phase: the host sends its next frame only once we
               sleep, so that each one must wake us. */
            if (blk_reported && frames_sent == frames_want) port_printf("VT IDLE %llu\n", (unsigned long long)echoed);
            if (sleep_once() != 0 && ++stuck >= 4) break;   /* 20 s without an interrupt */
        }
        port_irq_enable();   /* interrupts that came meanwhile are taken here */
    }
    t1 = port_now_us();
    report(&blk_irq);
    report(&net_irq);
    port_printf("VT COUNTS blk_done=%llu blk_bad=%llu mismatch=%llu flush=%d rx=%llu echoed=%llu other=%llu "
                "sent=%llu tx_done=%llu net_bad=%llu looks=%llu sleeps=%llu wakes=%llu idle_wakes=%llu timeouts=%llu "
                "drains=%llu empty_drains=%llu passes=%llu rearm_pending=%llu stalls=%llu ms=%llu\n",
                (unsigned long long)blk_done, (unsigned long long)blk_bad, (unsigned long long)blk_mismatch,
                flush_state == 2 ? (int)flush_result : 1, (unsigned long long)rx_frames,
                (unsigned long long)echoed, (unsigned long long)rx_other, (unsigned long long)frames_sent,
                (unsigned long long)tx_done, (unsigned long long)net_bad, (unsigned long long)looks,
                (unsigned long long)sleeps,
                (unsigned long long)wakes, (unsigned long long)idle_wakes, (unsigned long long)timeouts,
                (unsigned long long)drains, (unsigned long long)empty_drains, (unsigned long long)passes,
                (unsigned long long)rearm_pending,
                (unsigned long long)stalls, (unsigned long long)((t1 - t0) / 1000));
    /* A configuration interrupt: the host takes the link down and up. */
    if (!failed_drain && stuck < 4) {
        uint64_t s0 = sleeps, end = port_now_us() + 30000000u;
        port_printf("VT LINKWAIT\n");
        while (link_changes < 2 && port_now_us() < end) sleep_once();
        port_printf("VT LINK changes=%u up=%u sleeps=%llu\n", (unsigned)link_changes, (unsigned)nic.info.link_up,
                    (unsigned long long)(sleeps - s0));
        report(&net_irq);
    }
    VT_CHECK(!failed_drain, "drain", "a driver call failed in the handler");
    VT_CHECK(stuck < 4, "sleep", "no interrupt for 20 s");
    VT_CHECK(blk_bad == 0 && blk_mismatch == 0 && flush_result == VIRTIO_OK, "blk", "errors");
    VT_CHECK(net_bad == 0, "net", "send errors");
    VT_EXPECT(virtio_blk_shutdown(&blk), VIRTIO_OK, "blk shutdown");
    VT_EXPECT(virtio_net_shutdown(&nic), VIRTIO_OK, "net shutdown");
    port_printf("VT END %d\n", vt_failures);
    return vt_failures != 0;
}
