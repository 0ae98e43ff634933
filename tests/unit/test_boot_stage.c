/* test_boot_stage.c - the boot-stage build (virtio_blk.h, BOOT STAGES)
 * against the software device model: VIRTIO_BLK_MINIMAL with
 * VIRTIO_NO_LEGACY, VIRTIO_NO_PACKED, VIRTIO_NO_INDIRECT,
 * VIRTIO_NO_EVENT_IDX, VIRTIO_NO_DMA_MAP, VIRTIO_NO_MSIX, VIRTIO_NO_STRINGS
 * and VIRTIO_NO_LOG (not VIRTIO_DIRECT_REGS: the model is reached through
 * the register hooks). This binary covers virtio-mmio and virtio-pci;
 * test_boot_stage_mmio.c and test_boot_stage_pci.c build it again with one
 * transport, where the transport's operations are called directly instead
 * of through their table. Checks, on the model's side: a platform with DMA
 * mapping hooks is refused at probe; indirect descriptors and event index
 * are offered by the device but not negotiated; data lands on the model's
 * disk and reads back; every allocation is freed newest first, so a
 * stack-like pool (a boot stage's bump allocator) gets all of it back.
 */
#define VIRTIO_IMPLEMENTATION
#define VIRTIO_BLK_MINIMAL
#define VIRTIO_NO_LEGACY
#define VIRTIO_NO_PACKED
#define VIRTIO_NO_INDIRECT
#define VIRTIO_NO_EVENT_IDX
#define VIRTIO_NO_DMA_MAP
#define VIRTIO_NO_STRINGS
#define VIRTIO_NO_LOG
#define VIRTIO_NO_MSIX
#include "../../virtio_blk.h"
#include "model.h"
#ifndef BOOT_ONE
#define BOOT_ONE ""
#endif
#include "unit.h"

static uint8_t buf[1 << 18], buf2[1 << 18];

/* The model's allocator behind a stack discipline check: each free must
   be of the newest live allocation. */
static const virtio_platform *inner;
static void *stack[64];
static int depth, out_of_order;

static void *stack_alloc(void *user, size_t size, size_t align, int kind, uint64_t *dev)
{
    void *p = inner->dma_alloc(user, size, align, kind, dev);
    if (p && depth < 64) stack[depth++] = p;
    return p;
}

static void stack_free(void *user, void *ptr, size_t size, int kind)
{
    if (depth > 0 && stack[depth - 1] == ptr) depth--;
    else out_of_order++;
    inner->dma_free(user, ptr, size, kind);
}

static virtio_result probe(model *m, uint32_t transport, virtio_device *dev, const virtio_platform *p)
{
#ifndef VIRTIO_NO_MMIO
    if (transport == MODEL_MMIO) return virtio_mmio_probe(dev, p, model_mmio_base(m));
#endif
#ifndef VIRTIO_NO_PCI
    if (transport == MODEL_PCI_MODERN) return virtio_pci_probe(dev, p, model_pci_bdf(m));
#endif
    return VIRTIO_ERR_UNSUPPORTED;
}

static void run(uint32_t transport)
{
    model_bus *bus = model_bus_new();
    model_options mo;
    model_blk_options bo;
    virtio_platform plat;
    virtio_device dev;
    virtio_blk blk;
    model *m;
    size_t i;
    model_options_init(&mo, transport);
    model_blk_options_init(&bo);
    m = model_blk_new(bus, &mo, &bo);

    /* The model's platform maps buffers through hooks: refused, since this
       build would hand the device CPU addresses. */
    CHECK_EQ(probe(m, transport, &dev, &bus->platform), VIRTIO_ERR_INVALID_ARG);

    bus->knobs.dma_mode = MODEL_DMA_IDENTITY;
    bus->platform.dma_map = 0;
    bus->platform.dma_unmap = 0;
    CHECK_EQ(model_dma_ram(bus, buf, sizeof buf), 0);
    CHECK_EQ(model_dma_ram(bus, buf2, sizeof buf2), 0);
    inner = &bus->platform;
    plat = bus->platform;
    plat.dma_alloc = stack_alloc;
    plat.dma_free = stack_free;
    depth = out_of_order = 0;
    CHECK_EQ(probe(m, transport, &dev, &plat), VIRTIO_OK);
    memset(&blk, 0, sizeof blk);
    CHECK_EQ(virtio_blk_init(&blk, &dev, 0), VIRTIO_OK);
    /* Offered, compiled out, not negotiated. */
    CHECK(blk.dev.device_features >> VIRTIO_FEATURE_INDIRECT_DESC & 1u);
    CHECK(blk.dev.device_features >> VIRTIO_FEATURE_EVENT_IDX & 1u);
    CHECK_EQ(virtio_device_has(&blk.dev, VIRTIO_FEATURE_INDIRECT_DESC), 0);
    CHECK_EQ(virtio_device_has(&blk.dev, VIRTIO_FEATURE_EVENT_IDX), 0);
    CHECK_EQ(blk.queue.indirect, 0);
    CHECK_EQ(virtio_queue_add_table(&blk.queue, 0x1000, 2, 0, 0), VIRTIO_ERR_UNSUPPORTED);

    for (i = 0; i < sizeof buf2; i++) buf2[i] = (uint8_t)(i * 29 + 3);
    CHECK_EQ(virtio_blk_write(&blk, 64, buf2, sizeof buf2), VIRTIO_OK);
    CHECK_EQ(virtio_blk_flush(&blk), VIRTIO_OK);
    CHECK(memcmp(model_blk_disk(m, NULL) + 64 * 512, buf2, sizeof buf2) == 0);
    CHECK_EQ(virtio_blk_read(&blk, 64, buf, sizeof buf), VIRTIO_OK);
    CHECK(memcmp(buf, buf2, sizeof buf) == 0);
    CHECK_EQ(virtio_blk_read(&blk, blk.info.capacity, buf, 512), VIRTIO_ERR_RANGE);

    CHECK_EQ(virtio_blk_shutdown(&blk), VIRTIO_OK);
    CHECK_EQ(out_of_order, 0);   /* freed newest first */
    CHECK_EQ(depth, 0);          /* and all of it */
    CHECK_EQ(bus->stats.live_allocs, 0);
    CHECK_EQ(bus->stats.bugs, 0);
    if (bus->stats.bugs) fprintf(stderr, "  model: %s\n", model_bus_last_bug(bus));
    model_bus_free(bus);
}

#ifndef VIRTIO_NO_MMIO
/* A legacy device in a build without legacy support: virtio_mmio_find
   names its slot and the probe says why it cannot be used (before 0.3.9
   find skipped it, so the caller saw "no device"); a platform the probe
   refuses is refused by find at once. */
static void legacy_found_refused(void)
{
    model_bus *bus = model_bus_new();
    model_options mo;
    model_blk_options bo;
    virtio_platform plat, hooks;
    virtio_device dev;
    uint32_t slot = 0;
    model_options_init(&mo, MODEL_MMIO_LEGACY);
    mo.mmio_base = 0x10001200;
    model_blk_options_init(&bo);
    CHECK(model_blk_new(bus, &mo, &bo) != 0);
    CHECK_EQ(model_bus_add_mmio_empty(bus, 0x10001000), 0);
    hooks = plat = bus->platform;   /* hooks: the model's mapping hooks, which this build refuses */
    plat.dma_map = 0;
    plat.dma_unmap = 0;
    CHECK_EQ(virtio_mmio_find(&plat, 0x10001000, 0x200, 2, VIRTIO_DEVICE_BLOCK, &slot), VIRTIO_OK);
    CHECK_EQ(slot, 1);
    CHECK_EQ(virtio_mmio_probe(&dev, &plat, 0x10001200), VIRTIO_ERR_UNSUPPORTED);
    slot = 0;
    CHECK_EQ(virtio_mmio_find(&hooks, 0x10001000, 0x200, 2, 0, &slot), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(slot, 0);
    CHECK_EQ(bus->stats.bugs, 0);
    model_bus_free(bus);
}
#endif

int main(void)
{
#ifndef VIRTIO_NO_MMIO
    RUN(run(MODEL_MMIO), "boot stage mmio" BOOT_ONE ": hooks refused, no indirect/event idx, data, freed newest first");
    RUN(legacy_found_refused(), "boot stage mmio" BOOT_ONE ": a legacy device is found, and refused by the probe");
#endif
#ifndef VIRTIO_NO_PCI
    RUN(run(MODEL_PCI_MODERN),
        "boot stage pci-modern" BOOT_ONE ": hooks refused, no indirect/event idx, data, freed newest first");
#endif
    UNIT_EXIT();
}
