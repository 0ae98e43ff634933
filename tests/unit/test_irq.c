/* test_irq.c - virtio.h's interrupt side against the model: MSI-X table
 * entries, enable, vectors read back and refused, the fall back to INTx,
 * legacy PCI's configuration moving while MSI-X is on, and the
 * arm / drain / re-check contract of virtio_queue_enable_cb (with event
 * index an armed queue interrupts once; a completion that raced the arm
 * shows up as pending), in both ring formats and with flag suppression.
 * The model counts every interrupt it sends (INTx / ISR, MSI-X messages,
 * messages lost to a masked or missing vector). QEMU's side of the same
 * story is tests/qemu/test_irq.py.
 */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_blk.h"
#include "model.h"
#include "unit.h"

static uint8_t buf[4096];

typedef struct env {
    model_bus *bus;
    model *m;
    virtio_device dev;
    virtio_blk blk;
} env;

/* A bus with one block device with `vectors` MSI-X entries, not probed. */
static void make(env *e, uint32_t transport, uint32_t vectors, uint32_t mode)
{
    model_options mo;
    model_blk_options bo;
    memset(e, 0, sizeof *e);
    e->bus = model_bus_new();
    model_options_init(&mo, transport);
    mo.mode = mode;
    mo.msix_vectors = vectors;
    model_blk_options_init(&bo);
    e->m = model_blk_new(e->bus, &mo, &bo);
}

static virtio_result up(env *e, uint32_t transport, uint32_t vectors, uint32_t mode, const virtio_blk_options *o)
{
    virtio_result r;
    make(e, transport, vectors, mode);
    r = model_probe(e->m, &e->dev, transport == MODEL_PCI_LEGACY);
    if (r != VIRTIO_OK) return r;
    return virtio_blk_init(&e->blk, &e->dev, o);
}

static void down(env *e)
{
    if (e->blk.priv.magic) virtio_blk_shutdown(&e->blk);
    CHECK_EQ(e->bus->stats.bugs, 0);
    if (e->bus->stats.bugs) fprintf(stderr, "  model: %s\n", model_bus_last_bug(e->bus));
    model_bus_free(e->bus);
}

static void opts(virtio_blk_options *o, uint32_t ring, int event_idx)
{
    memset(o, 0, sizeof *o);
    o->device.ring = ring;
    o->device.no_event_idx = !event_idx;
}

/* One MSI-X table entry as the device sees it (the table is in BAR 1). */
static uint32_t table(env *e, uint32_t entry, unsigned field)
{
    model_options mo;
    model_options_init(&mo, MODEL_PCI_MODERN);
    return e->bus->platform.reg_read(e->bus, VIRTIO_SPACE_MEM, mo.bar_msix + 16u * entry + field, 4);
}

/* Entries, enable, vectors: queue interrupts become MSI-X messages, the
   ISR stays out of it, and the table holds what was programmed. On
   legacy PCI the configuration moves by 4 bytes and back. */
static void msix_routes(uint32_t transport)
{
    env e;
    virtio_blk_options o;
    uint32_t isr = 1, e0, changed = 1;
    uint64_t cap = 0;
    opts(&o, VIRTIO_RING_SPLIT, 1);
    CHECK_EQ(up(&e, transport, 2, MODEL_IMMEDIATE, &o), VIRTIO_OK);
    cap = e.blk.info.capacity;
    for (e0 = 0; e0 < 2; e0++) CHECK_EQ(virtio_pci_msix_set(&e.blk.dev, e0, 0xfee01000u + e0, 0x40 + e0), VIRTIO_OK);
    CHECK_EQ(table(&e, 1, 0), 0xfee01001u);
    CHECK_EQ(table(&e, 1, 4), 0);
    CHECK_EQ(table(&e, 1, 8), 0x41);
    CHECK_EQ(table(&e, 1, 12), 0);   /* unmasked */
    CHECK_EQ(virtio_pci_msix_enable(&e.blk.dev, 1), VIRTIO_OK);
    CHECK_EQ(virtio_device_set_vector(&e.blk.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_queue_set_vector(&e.blk.queue, 1), VIRTIO_OK);
    if (transport == MODEL_PCI_LEGACY) {   /* the configuration now follows the vector registers */
        CHECK_EQ(virtio_blk_refresh(&e.blk, &changed), VIRTIO_OK);
        CHECK_EQ(changed, 0);
        CHECK_EQ(e.blk.info.capacity, cap);
    }
    CHECK_EQ(virtio_queue_enable_cb(&e.blk.queue, 0), VIRTIO_OK);
    CHECK_EQ(virtio_blk_read(&e.blk, 3, buf, 512), VIRTIO_OK);
    CHECK_EQ(buf[100], model_blk_pattern(3 * 512 + 100));
    CHECK(e.m->stats.msix >= 1);
    CHECK_EQ(e.m->stats.irqs, 0);
    CHECK_EQ(e.m->stats.irq_lost, 0);
    CHECK_EQ(virtio_device_isr(&e.blk.dev, &isr), VIRTIO_OK);   /* no shared ISR with MSI-X */
    CHECK_EQ(isr, 0);
    /* Off again: INTx and the ISR are back, and so is the layout. */
    CHECK_EQ(virtio_pci_msix_enable(&e.blk.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_queue_enable_cb(&e.blk.queue, 0), VIRTIO_OK);
    CHECK_EQ(virtio_blk_read(&e.blk, 4, buf, 512), VIRTIO_OK);
    CHECK(e.m->stats.irqs >= 1);
    CHECK_EQ(virtio_device_isr(&e.blk.dev, &isr), VIRTIO_OK);
    CHECK(isr & VIRTIO_ISR_QUEUE);
    CHECK_EQ(virtio_blk_refresh(&e.blk, &changed), VIRTIO_OK);
    CHECK_EQ(changed, 0);
    CHECK_EQ(e.blk.info.capacity, cap);
    down(&e);
}

/* A structures BAR grown to 2, 32 and 128 MiB, its notify structure at
   1 MiB: firmware moves the MSI-X BAR out of its way, and the driver's
   notifications (2-byte writes) and table writes each reach their own BAR (fuzz_rng_packed found the
   model's BARs overlapping: a notification landed in the MSI-X table).
   Modern and transitional, with notifications and messages counted. */
static void msix_big_bar(uint32_t transport)
{
    static const uint64_t sizes[] = { 2u << 20, 32u << 20, 128u << 20 };
    uint32_t i;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        env e;
        model_pci_layout l;
        uint32_t bar1;
        uint64_t kicks;
        make(&e, transport, 2, MODEL_IMMEDIATE);
        CHECK_EQ(model_pci_layout_get(e.m, &l), 0);
        l.bar_size = sizes[i];
        l.cap[MODEL_CAP_NOTIFY].offset = 0x100000;   /* where the MSI-X BAR's default address falls */
        CHECK_EQ(model_pci_layout_set(e.m, &l), 0);
        CHECK_EQ(model_tainted(e.m), 0);
        CHECK_EQ(model_probe(e.m, &e.dev, 0), VIRTIO_OK);
        CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, 0), VIRTIO_OK);
        bar1 = e.bus->platform.pci_read(e.bus, model_pci_bdf(e.m), 0x14, 4) & ~0xfu;
        CHECK_EQ(virtio_pci_msix_set(&e.blk.dev, 1, 0xfee02000u, 0x51), VIRTIO_OK);
        CHECK_EQ(e.bus->platform.reg_read(e.bus, VIRTIO_SPACE_MEM, bar1 + 16u + 8u, 4), 0x51);
        CHECK_EQ(virtio_pci_msix_enable(&e.blk.dev, 1), VIRTIO_OK);
        CHECK_EQ(virtio_queue_set_vector(&e.blk.queue, 1), VIRTIO_OK);
        CHECK_EQ(virtio_queue_enable_cb(&e.blk.queue, 0), VIRTIO_OK);
        kicks = model_queue_stats(e.m, 0)->notifies;
        CHECK_EQ(virtio_blk_read(&e.blk, 5, buf, 512), VIRTIO_OK);
        CHECK_EQ(buf[7], model_blk_pattern(5 * 512 + 7));
        CHECK(model_queue_stats(e.m, 0)->notifies > kicks);
        CHECK(e.m->stats.msix >= 1);
        down(&e);
    }
}

/* What cannot be had is refused with a code, and INTx still works: an
   entry or vector beyond the table, a function without MSI-X. */
static void msix_refused(void)
{
    env e;
    uint32_t isr = 0;
    CHECK_EQ(up(&e, MODEL_PCI_MODERN, 1, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    CHECK_EQ(virtio_pci_msix_set(&e.blk.dev, 0, 0xfee00000u, 0x40), VIRTIO_OK);
    CHECK_EQ(virtio_pci_msix_set(&e.blk.dev, 1, 0xfee00000u, 0x41), VIRTIO_ERR_RANGE);
    CHECK_EQ(virtio_queue_set_vector(&e.blk.queue, 0), VIRTIO_ERR_UNSUPPORTED);   /* MSI-X still off */
    CHECK_EQ(virtio_pci_msix_enable(&e.blk.dev, 1), VIRTIO_OK);
    CHECK_EQ(virtio_queue_set_vector(&e.blk.queue, 1), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_queue_set_vector(&e.blk.queue, 0x10000), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_queue_set_vector(&e.blk.queue, VIRTIO_MSIX_NONE), VIRTIO_OK);
    CHECK_EQ(virtio_pci_msix_enable(&e.blk.dev, 0), VIRTIO_OK);   /* the fall back */
    CHECK_EQ(virtio_queue_enable_cb(&e.blk.queue, 0), VIRTIO_OK);
    CHECK_EQ(virtio_blk_read(&e.blk, 0, buf, 512), VIRTIO_OK);
    CHECK(e.m->stats.irqs >= 1);
    CHECK_EQ(virtio_device_isr(&e.blk.dev, &isr), VIRTIO_OK);
    CHECK(isr & VIRTIO_ISR_QUEUE);
    down(&e);

    CHECK_EQ(up(&e, MODEL_PCI_MODERN, 0, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    CHECK_EQ(virtio_pci_msix_set(&e.blk.dev, 0, 0xfee00000u, 0x40), VIRTIO_ERR_UNSUPPORTED);
    CHECK_EQ(virtio_pci_msix_enable(&e.blk.dev, 1), VIRTIO_ERR_UNSUPPORTED);
    CHECK_EQ(virtio_device_set_vector(&e.blk.dev, 0), VIRTIO_ERR_UNSUPPORTED);
    down(&e);

    CHECK_EQ(up(&e, MODEL_MMIO, 0, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    CHECK_EQ(virtio_pci_msix_set(&e.blk.dev, 0, 0xfee00000u, 0x40), VIRTIO_ERR_UNSUPPORTED);
    CHECK_EQ(virtio_queue_set_vector(&e.blk.queue, 0), VIRTIO_ERR_UNSUPPORTED);
    down(&e);
}

/* The plan: MSI-X set up on the probed device before the driver's init;
   init routes the configuration and writes each queue's vector before it
   enables the queue (virtio 1.2 4.1.4.3.2), and reads both back. A spy on
   the common configuration sees the order. */
static struct {
    uintptr_t common;
    uint32_t sel, vec_before_enable, enables;
    void (*write)(void *user, int space, uintptr_t addr, unsigned width, uint32_t value);
} order;

static void order_write(void *user, int space, uintptr_t addr, unsigned width, uint32_t value)
{
    if (space == VIRTIO_SPACE_MEM && addr >= order.common && addr < order.common + 56) {
        uint32_t off = (uint32_t)(addr - order.common);
        if (off == 22) order.sel = value;                                   /* queue_select */
        if (off == 26 && value != VIRTIO_MSIX_NONE) order.vec_before_enable |= 1u << order.sel;   /* queue_msix_vector */
        if (off == 28) order.enables |= 1u << order.sel;                    /* queue_enable */
        if (off == 28 && !(order.vec_before_enable >> order.sel & 1u)) order.enables |= 0x100u;
    }
    order.write(user, space, addr, width, value);
}

static void msix_plan(uint32_t transport)
{
    env e;
    virtio_blk_options o;
    make(&e, transport, 2, MODEL_IMMEDIATE);
    CHECK_EQ(model_probe(e.m, &e.dev, transport == MODEL_PCI_LEGACY), VIRTIO_OK);
    CHECK_EQ(e.dev.msix_entries, 2);
    CHECK_EQ(virtio_pci_msix_set(&e.dev, 0, 0xfee00000u, 0x40), VIRTIO_OK);
    CHECK_EQ(virtio_pci_msix_set(&e.dev, 1, 0xfee00000u, 0x41), VIRTIO_OK);
    CHECK_EQ(virtio_pci_msix_enable(&e.dev, 1), VIRTIO_OK);
    CHECK_EQ(virtio_pci_msix_plan(&e.dev, 0, 2), VIRTIO_ERR_INVALID_ARG);   /* beyond the table */
    CHECK_EQ(virtio_pci_msix_plan(&e.dev, 0, 1), VIRTIO_OK);
    memset(&order, 0, sizeof order);
    order.common = e.dev.priv.win[0].addr;
    order.write = e.bus->platform.reg_write;
    e.bus->platform.reg_write = order_write;
    opts(&o, VIRTIO_RING_SPLIT, 1);
    CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, &o), VIRTIO_OK);
    e.bus->platform.reg_write = order.write;
    CHECK_EQ(e.blk.dev.config_vector, 0);
    CHECK_EQ(e.blk.queue.vector, 1);
    if (transport == MODEL_PCI_MODERN) {
        CHECK_EQ(order.enables, 1u);   /* queue 0 enabled, and only after its vector */
    }
    CHECK_EQ(virtio_queue_enable_cb(&e.blk.queue, 0), VIRTIO_OK);
    CHECK_EQ(virtio_blk_read(&e.blk, 2, buf, 512), VIRTIO_OK);
    CHECK_EQ(buf[7], model_blk_pattern(2 * 512 + 7));
    CHECK(e.m->stats.msix >= 1);
    CHECK_EQ(e.m->stats.irqs, 0);
    down(&e);
}

/* A device that reads back a vector it was never given (virtio 1.2
   4.1.5.1.2: it answers the vector, or NONE): the driver takes it as
   NONE, so no caller indexes its handlers with it; polling still works. */
static void vector_lie_hook(void *user, model *m, model_hostile *h)
{
    uint32_t legacy = *(uint32_t *)user;
    (void)m;
    if (h->kind != MODEL_H_REG_READ || h->width != 2) return;
    if ((!legacy && h->block == MODEL_REGS_COMMON && (h->offset == 16 || h->offset == 26)) ||
        (legacy && h->block == MODEL_REGS_LEGACY && (h->offset == 20 || h->offset == 22)))
        h->value = 0x7777;
}

static void msix_vector_lie(uint32_t transport)
{
    env e;
    uint32_t legacy = transport == MODEL_PCI_LEGACY;
    make(&e, transport, 2, MODEL_IMMEDIATE);
    CHECK_EQ(model_probe(e.m, &e.dev, (int)legacy), VIRTIO_OK);
    CHECK_EQ(virtio_pci_msix_set(&e.dev, 0, 0xfee00000u, 0x40), VIRTIO_OK);
    CHECK_EQ(virtio_pci_msix_set(&e.dev, 1, 0xfee00000u, 0x41), VIRTIO_OK);
    CHECK_EQ(virtio_pci_msix_enable(&e.dev, 1), VIRTIO_OK);
    CHECK_EQ(virtio_pci_msix_plan(&e.dev, 0, 1), VIRTIO_OK);
    e.m->knobs.hostile = vector_lie_hook;
    e.m->knobs.hostile_user = &legacy;
    CHECK_EQ(virtio_blk_init(&e.blk, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(e.blk.dev.config_vector, VIRTIO_MSIX_NONE);
    CHECK_EQ(e.blk.queue.vector, VIRTIO_MSIX_NONE);
    CHECK_EQ(virtio_queue_set_vector(&e.blk.queue, 1), VIRTIO_ERR_UNSUPPORTED);
    CHECK_EQ(e.blk.queue.vector, VIRTIO_MSIX_NONE);
    CHECK_EQ(virtio_device_set_vector(&e.blk.dev, 0), VIRTIO_ERR_UNSUPPORTED);
    CHECK_EQ(e.blk.dev.config_vector, VIRTIO_MSIX_NONE);
    CHECK_EQ(virtio_blk_read(&e.blk, 2, buf, 512), VIRTIO_OK);
    CHECK_EQ(buf[7], model_blk_pattern(2 * 512 + 7));
    e.m->knobs.hostile = 0;
    down(&e);
}

/* Submit n reads without notifying and without waiting. */
static void submit(env *e, uint32_t n)
{
    uint32_t i;
    for (i = 0; i < n; i++) {
        virtio_blk_request rq;
        memset(&rq, 0, sizeof rq);
        rq.op = VIRTIO_BLK_OP_READ;
        rq.flags = VIRTIO_MORE;
        rq.sector = i;
        rq.buf = buf + 512 * (i % 8);
        rq.len = 512;
        CHECK_EQ(virtio_blk_submit(&e->blk, &rq), VIRTIO_OK);
    }
    CHECK_EQ(virtio_blk_kick(&e->blk), VIRTIO_OK);
}

/* Hand back what completed; how many. */
static uint32_t drain(env *e)
{
    void *tok;
    virtio_result res;
    uint32_t n = 0;
    while (virtio_blk_poll(&e->blk, &tok, &res) == VIRTIO_OK) {
        CHECK_EQ(res, VIRTIO_OK);
        n++;
    }
    return n;
}

/* The contract a kernel relies on, with the device completing requests
   one at a time (deferred model): armed, the next completion interrupts;
   with event index only that one until the queue is re-armed, with flags
   every one; a completion between the drain and the arm is reported as
   pending (no interrupt will come for it); disabled, none. */
static void arm_contract(uint32_t ring, int event_idx)
{
    env e;
    virtio_blk_options o;
    model_qstats *qs;
    int pending = 1;
    opts(&o, ring, event_idx);
    CHECK_EQ(up(&e, MODEL_MMIO, 0, MODEL_DEFERRED, &o), VIRTIO_OK);
    qs = model_queue_stats(e.m, 0);
    submit(&e, 4);
    CHECK_EQ(virtio_queue_enable_cb(&e.blk.queue, &pending), VIRTIO_OK);
    CHECK_EQ(pending, 0);
    CHECK_EQ(model_run(e.m, 1), 1);
    CHECK_EQ(qs->interrupts, 1);
    CHECK_EQ(model_run(e.m, 1), 1);
    CHECK_EQ(qs->interrupts, event_idx ? 1 : 2);   /* event index: armed for one */
    CHECK_EQ(drain(&e), 2);
    /* The race: a completion after the drain, before the re-arm. */
    CHECK_EQ(model_run(e.m, 1), 1);
    CHECK_EQ(virtio_queue_enable_cb(&e.blk.queue, &pending), VIRTIO_OK);
    CHECK_EQ(pending, 1);
    CHECK_EQ(drain(&e), 1);
    CHECK_EQ(virtio_queue_enable_cb(&e.blk.queue, &pending), VIRTIO_OK);
    CHECK_EQ(pending, 0);
    CHECK_EQ(model_run(e.m, 1), 1);   /* armed again: this one interrupts */
    CHECK_EQ(qs->interrupts, event_idx ? 2 : 4);
    CHECK_EQ(drain(&e), 1);
    /* Disabled: nothing, however much completes. */
    CHECK_EQ(virtio_queue_disable_cb(&e.blk.queue), VIRTIO_OK);
    submit(&e, 4);
    CHECK_EQ(model_run(e.m, 0), 4);
    CHECK_EQ(qs->interrupts, event_idx ? 2 : 4);
    CHECK_EQ(drain(&e), 4);
    down(&e);
}

/* The MSI-X table as a spy sees it: every write to entries 0..3, with
   each entry's mask bit as last written. */
static struct {
    uintptr_t base;
    uint32_t masked[4];
    uint32_t writes_unmasked;   /* address or data written to an unmasked entry */
    void (*write)(void *user, int space, uintptr_t addr, unsigned width, uint32_t value);
} spy;

static void spy_write(void *user, int space, uintptr_t addr, unsigned width, uint32_t value)
{
    if (space == VIRTIO_SPACE_MEM && addr >= spy.base && addr < spy.base + 64) {
        uint32_t entry = (uint32_t)(addr - spy.base) / 16, field = (uint32_t)(addr - spy.base) % 16;
        if (field == 12) spy.masked[entry] = value & 1u;
        else if (!spy.masked[entry]) spy.writes_unmasked++;
    }
    spy.write(user, space, addr, width, value);
}

/* Regression: re-programming an entry (another CPU, another vector) must
   not change its address or data while it is unmasked: the PCI
   specification leaves the result undefined (a device may send a message
   made of half the old and half the new). Old code: the second
   virtio_pci_msix_set wrote address and data into a live entry. */
static void msix_reprogram_masked(void)
{
    env e;
    model_options mo;
    uint32_t i;
    CHECK_EQ(up(&e, MODEL_PCI_MODERN, 2, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    model_options_init(&mo, MODEL_PCI_MODERN);
    memset(&spy, 0, sizeof spy);
    spy.base = mo.bar_msix;
    for (i = 0; i < 2; i++) spy.masked[i] = table(&e, i, 12) & 1u;   /* entries start masked */
    spy.write = e.bus->platform.reg_write;
    e.bus->platform.reg_write = spy_write;
    CHECK_EQ(virtio_pci_msix_set(&e.blk.dev, 1, 0xfee00000u, 0x41), VIRTIO_OK);
    CHECK_EQ(virtio_pci_msix_enable(&e.blk.dev, 1), VIRTIO_OK);
    CHECK_EQ(virtio_queue_set_vector(&e.blk.queue, 1), VIRTIO_OK);
    CHECK_EQ(virtio_pci_msix_set(&e.blk.dev, 1, 0xfee02000u, 0x52), VIRTIO_OK);   /* moved while live */
    CHECK_EQ(spy.writes_unmasked, 0);
    CHECK_EQ(spy.masked[1], 0);   /* and live again */
    CHECK_EQ(table(&e, 1, 0), 0xfee02000u);
    CHECK_EQ(table(&e, 1, 8), 0x52);
    CHECK_EQ(virtio_queue_enable_cb(&e.blk.queue, 0), VIRTIO_OK);
    CHECK_EQ(virtio_blk_read(&e.blk, 1, buf, 512), VIRTIO_OK);
    CHECK(e.m->stats.msix >= 1);
    CHECK_EQ(e.m->stats.irq_lost, 0);
    e.bus->platform.reg_write = spy.write;
    down(&e);
}

/* Regression: virtio_pci_msix_enable(dev, 1) must leave MSI-X able to
   interrupt even when an earlier owner (firmware, a previous kernel)
   left the capability's Function Mask set: that bit masks every entry
   whatever its own mask says. Old code: enabled with the function still
   masked, every message was lost. */
static void msix_function_mask(void)
{
    env e;
    const virtio_platform *p;
    uint32_t cap;
    CHECK_EQ(up(&e, MODEL_PCI_MODERN, 2, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    p = e.blk.dev.platform;
    cap = e.blk.dev.priv.msix_cap;
    CHECK(cap != 0);
    p->pci_write(p->user, e.blk.dev.bdf, cap + 2, 2, p->pci_read(p->user, e.blk.dev.bdf, cap + 2, 2) | 0x4000u);
    CHECK_EQ(virtio_pci_msix_set(&e.blk.dev, 1, 0xfee00000u, 0x41), VIRTIO_OK);
    CHECK_EQ(virtio_pci_msix_enable(&e.blk.dev, 1), VIRTIO_OK);
    CHECK_EQ(virtio_queue_set_vector(&e.blk.queue, 1), VIRTIO_OK);
    CHECK_EQ(virtio_queue_enable_cb(&e.blk.queue, 0), VIRTIO_OK);
    CHECK_EQ(virtio_blk_read(&e.blk, 1, buf, 512), VIRTIO_OK);
    CHECK(e.m->stats.msix >= 1);
    CHECK_EQ(e.m->stats.irq_lost, 0);
    down(&e);
}

int main(void)
{
    RUN(msix_routes(MODEL_PCI_MODERN), "irq MSI-X entries, enable, vectors: messages instead of INTx, modern");
    RUN(msix_routes(MODEL_PCI_LEGACY), "irq MSI-X on legacy PCI: configuration moves by 4 and back");
    RUN(msix_big_bar(MODEL_PCI_MODERN), "irq regression: structures BAR of 2-128 MiB beside the MSI-X BAR, modern");
    RUN(msix_big_bar(MODEL_PCI_TRANSITIONAL), "irq regression: structures BAR of 2-128 MiB beside the MSI-X BAR, transitional");
    RUN(msix_refused(), "irq MSI-X refused (table too small, no capability, not PCI); INTx after");
    RUN(msix_vector_lie(MODEL_PCI_MODERN), "irq MSI-X vector read back as one never given: taken as NONE, pci-modern");
    RUN(msix_vector_lie(MODEL_PCI_LEGACY), "irq MSI-X vector read back as one never given: taken as NONE, pci-legacy");
    RUN(msix_plan(MODEL_PCI_MODERN), "irq MSI-X plan: init sets each queue vector before the enable, read back, modern");
    RUN(msix_plan(MODEL_PCI_LEGACY), "irq MSI-X plan: init sets the vectors, read back, legacy");
    RUN(arm_contract(VIRTIO_RING_SPLIT, 1), "irq arm once, re-arm, race seen as pending, split event index");
    RUN(arm_contract(VIRTIO_RING_PACKED, 1), "irq arm once, re-arm, race seen as pending, packed event index");
    RUN(arm_contract(VIRTIO_RING_SPLIT, 0), "irq every completion while armed, split flags");
    RUN(arm_contract(VIRTIO_RING_PACKED, 0), "irq every completion while armed, packed flags");
    RUN(msix_reprogram_masked(), "irq regression: an MSI-X entry is re-programmed masked, never live");
    RUN(msix_function_mask(), "irq regression: MSI-X enable clears a Function Mask left set");
    UNIT_EXIT();
}
