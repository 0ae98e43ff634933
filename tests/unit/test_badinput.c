/* test_badinput.c - every public function with bad caller input.
 *
 * A table per header: each row is one call with a NULL, zero, out-of-range
 * or wrong-state argument (including objects never initialised and
 * objects already shut down) and the error code its comment documents.
 * The process must neither crash nor trip ASan/UBSan, and every answer
 * must be exactly the documented one.
 */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_blk.h"
#include "../../virtio_gpu.h"
#include "../../virtio_input.h"
#include "../../virtio_net.h"
#include "model.h"
#include "unit.h"

static int rows;
#define ROW(call, want)                                                                       \
    do {                                                                                      \
        rows++;                                                                               \
        CHECK_EQ((call), (want));                                                             \
    } while (0)

static uint8_t buf[8192];

/* A device type no driver here handles (entropy source). */
static int rng_process(model *m, void *state, model_chain *c)
{
    (void)m;
    (void)state;
    c->used_len = 0;
    return MODEL_DONE;
}

static void core_rows(void)
{
    model_bus *bus = model_bus_new();
    model_options mo;
    model_blk_options bo;
    model *m;
    virtio_platform nodma;
    virtio_device d, d0;
    virtio_queue q, q0;
    virtio_sg sg[2];
    virtio_wait w;
    uint32_t v = 0, n = 0;
    uint64_t v64 = 0;
    uint16_t v16 = 0;
    uint64_t u64 = 0;
    uint8_t v8 = 0;
    void *ptr = 0;
    int pending = 0;
    memset(&d0, 0, sizeof d0);
    memset(&q0, 0, sizeof q0);
    memset(sg, 0, sizeof sg);
    model_options_init(&mo, MODEL_PCI_MODERN);
    model_blk_options_init(&bo);
    m = model_blk_new(bus, &mo, &bo);
    CHECK(model_bus_add_mmio_empty(bus, 0x10001000) == 0);
    nodma = bus->platform;
    nodma.dma_alloc = 0;

    ROW(virtio_result_str(-999)[0] == 'V', 1);   /* unknown codes still get a name */
    ROW(virtio_result_str(VIRTIO_ERR_TOO_BIG)[0] == 'V', 1);

    memset(&d, 0xa5, sizeof d);   /* no failing probe below writes it (out-parameters only on success) */
    ROW(virtio_mmio_probe(0, &bus->platform, 0x10001000), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_mmio_probe(&d, 0, 0x10001000), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_mmio_probe(&d, &nodma, 0x10001000), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_mmio_probe(&d, &bus->platform, 0x10001000), VIRTIO_ERR_NOT_FOUND);   /* empty slot */
    ROW(virtio_mmio_find(0, 0x10001000, 0x200, 1, 0, &v), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_mmio_find(&bus->platform, 0x10001000, 0x200, 1, 0, 0), VIRTIO_ERR_INVALID_ARG);
    v = 0;   /* a platform the probe refuses: said at once, not "no device" in every slot */
    ROW(virtio_mmio_find(&nodma, 0x10001000, 0x200, 1, 0, &v), VIRTIO_ERR_INVALID_ARG);
    v = 0;
    ROW(virtio_mmio_find(&bus->platform, 0x10001000, 0x200, 0, 0, &v), VIRTIO_ERR_NOT_FOUND);

    ROW(virtio_pci_probe(0, &bus->platform, model_pci_bdf(m)), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_pci_probe(&d, 0, model_pci_bdf(m)), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_pci_probe(&d, &bus->platform, 0x10000), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_pci_probe(&d, &bus->platform, 0x0010), VIRTIO_ERR_NOT_FOUND);   /* nothing at 00:02.0 */
    ROW(virtio_pci_probe_legacy(&d, &bus->platform, model_pci_bdf(m)), VIRTIO_ERR_UNSUPPORTED);   /* modern-only */
    ROW(virtio_pci_probe_legacy(0, &bus->platform, 0), VIRTIO_ERR_INVALID_ARG);
    {
        unsigned char fill[sizeof d];
        memset(fill, 0xa5, sizeof fill);
        ROW(memcmp(&d, fill, sizeof d) == 0, 1);
    }
    ROW(virtio_pci_find(0, 0, &v), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_pci_find(&bus->platform, 0, 0), VIRTIO_ERR_INVALID_ARG);
    v = 0x100;   /* past the one bus scanned */
    ROW(virtio_pci_find(&bus->platform, 0, &v), VIRTIO_ERR_NOT_FOUND);

    /* A device never probed, and a probed one before begin. */
    ROW(virtio_device_begin(&d0, 0, 0), VIRTIO_ERR_STATE);
    ROW(virtio_device_begin(0, 0, 0), VIRTIO_ERR_STATE);
    ROW(virtio_device_offer(&d0, &u64), VIRTIO_ERR_STATE);
    ROW(virtio_device_offer(0, &u64), VIRTIO_ERR_STATE);
    ROW(virtio_device_ready(&d0), VIRTIO_ERR_STATE);
    ROW(virtio_device_reset(&d0), VIRTIO_ERR_STATE);
    ROW(virtio_device_fail(&d0), VIRTIO_ERR_STATE);
    ROW(virtio_device_status(&d0, &v), VIRTIO_ERR_STATE);
    ROW(virtio_device_isr(&d0, &v), VIRTIO_ERR_STATE);
    ROW(virtio_device_has(0, 1), 0);
    ROW(virtio_config_read(&d0, 0, buf, 4), VIRTIO_ERR_STATE);
    ROW(virtio_config_read32(&d0, 0, &v), VIRTIO_ERR_STATE);
    ROW(virtio_config_read_fields(&d0, 0, 4, 1, &v), VIRTIO_ERR_STATE);
    ROW(virtio_config_write(&d0, 0, 4, 0), VIRTIO_ERR_STATE);
    ROW(virtio_queue_init(&q, &d0, 0, 0), VIRTIO_ERR_STATE);
    ROW(virtio_device_set_vector(&d0, 0), VIRTIO_ERR_STATE);
    ROW(virtio_pci_msix_set(&d0, 0, 0xfee00000u, 0), VIRTIO_ERR_STATE);
    ROW(virtio_pci_msix_enable(&d0, 1), VIRTIO_ERR_STATE);
    ROW(virtio_pci_msix_plan(&d0, 0, 1), VIRTIO_ERR_STATE);
    ROW(virtio_pci_msix_plan(0, 0, 1), VIRTIO_ERR_STATE);
    ROW(virtio_pci_assign(0, 0, &v), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_pci_assign(&bus->platform, 0, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_pci_probe(&d, &bus->platform, model_pci_bdf(m)), VIRTIO_OK);
    ROW(virtio_device_ready(&d), VIRTIO_ERR_STATE);   /* before begin */
    ROW(virtio_queue_init(&q, &d, 0, 0), VIRTIO_ERR_STATE);
    ROW(virtio_queue_init(0, &d, 0, 0), VIRTIO_ERR_INVALID_ARG);
    {
        virtio_device_options bad;
        memset(&bad, 0, sizeof bad);
        bad.ring = 7;
        ROW(virtio_device_begin(&d, 0, &bad), VIRTIO_ERR_INVALID_ARG);
    }
    ROW(virtio_device_status(&d, 0), VIRTIO_OK);   /* out-parameters may be NULL */
    ROW(virtio_device_isr(&d, 0), VIRTIO_OK);
    ROW(virtio_device_has(&d, 64), 0);
    ROW(virtio_config_read(&d, 0, 0, 4), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_config_read(&d, d.config_size, buf, 1), VIRTIO_ERR_RANGE);
    ROW(virtio_config_read(&d, 0xfffffff0u, buf, 32), VIRTIO_ERR_RANGE);
    ROW(virtio_config_read(&d, 0, buf, 257), VIRTIO_ERR_TOO_BIG);   /* one snapshot at most 256 bytes */
    ROW(virtio_config_read8(&d, 0, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_config_read_fields(&d, 0, 4, 1, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_config_read_fields(&d, 0, 3, 1, &v), VIRTIO_ERR_INVALID_ARG);   /* widths 1, 2, 4 */
    ROW(virtio_config_read_fields(&d, 0, 8, 1, &v), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_config_read_fields(&d, 2, 4, 1, &v), VIRTIO_ERR_INVALID_ARG);   /* misaligned */
    ROW(virtio_config_read_fields(&d, 0, 4, 65, &v), VIRTIO_ERR_TOO_BIG);
    ROW(virtio_config_read_fields(&d, d.config_size, 1, 1, &v), VIRTIO_ERR_RANGE);
    ROW(virtio_config_read16(&d, 1, &v16), VIRTIO_ERR_INVALID_ARG);   /* misaligned */
    ROW(virtio_config_read64(&d, 0, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_config_read8(&d, 0x7fffffff, &v8), VIRTIO_ERR_RANGE);
    ROW(virtio_config_write(&d, 0, 3, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_config_write(&d, 2, 4, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_config_write(&d, d.config_size, 1, 0), VIRTIO_ERR_RANGE);
    ROW(virtio_device_offer(&d, 0), VIRTIO_OK);
    ROW(virtio_device_offer(&d, &u64), VIRTIO_OK);
    ROW(u64 != 0, 1);
    ROW(virtio_device_begin(&d, 0, 0), VIRTIO_OK);
    ROW(virtio_queue_init(&q, &d, 0x10000, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_queue_init(&q, &d, 0, 0), VIRTIO_OK);

    /* Queues never initialised, and bad arguments on a live one. */
    ROW(virtio_queue_add(&q0, sg, 1, 0, 0), VIRTIO_ERR_STATE);
    ROW(virtio_queue_add(0, sg, 1, 0, 0), VIRTIO_ERR_STATE);
    ROW(virtio_queue_add_table(&q0, 0x1000, 3, 0, 0), VIRTIO_ERR_STATE);
    ROW(virtio_queue_add_table(0, 0x1000, 3, 0, 0), VIRTIO_ERR_STATE);
    ROW(virtio_queue_kick(&q0), VIRTIO_ERR_STATE);
    ROW(virtio_queue_notify(&q0), VIRTIO_ERR_STATE);
    ROW(virtio_queue_notify(0), VIRTIO_ERR_STATE);
    ROW(virtio_queue_pop(&q0, &ptr, &v), VIRTIO_ERR_STATE);
    ROW(virtio_queue_pop_many(&q0, &ptr, &v, 1, &n), VIRTIO_ERR_STATE);
    ROW(virtio_queue_pop_many(0, &ptr, &v, 1, &n), VIRTIO_ERR_STATE);
    ROW(virtio_queue_wait(&q0, &ptr, &v), VIRTIO_ERR_STATE);
    ROW(virtio_queue_enable_cb(&q0, &pending), VIRTIO_ERR_STATE);
    ROW(virtio_queue_disable_cb(&q0), VIRTIO_ERR_STATE);
    ROW(virtio_queue_destroy(&q0), VIRTIO_ERR_STATE);
    ROW(virtio_queue_add(&q, 0, 1, 0, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_queue_add(&q, sg, 0, 0, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_queue_add(&q, sg, 1, 0, 0), VIRTIO_ERR_INVALID_ARG);   /* zero-length piece */
    ROW(virtio_queue_add(&q, sg, 0xffffffffu, 2, 0), VIRTIO_ERR_INVALID_ARG);   /* out + in overflows */
    ROW(virtio_queue_add_table(&q, 0x1000, 0, 0, 0), virtio_device_has(&d, VIRTIO_FEATURE_INDIRECT_DESC) ? VIRTIO_ERR_INVALID_ARG : VIRTIO_ERR_UNSUPPORTED);
    ROW(virtio_queue_add_table(&q, 0x1000, 0x10000, 0, 0), virtio_device_has(&d, VIRTIO_FEATURE_INDIRECT_DESC) ? VIRTIO_ERR_INVALID_ARG : VIRTIO_ERR_UNSUPPORTED);
    ROW(virtio_queue_set_vector(&q, 0), VIRTIO_ERR_UNSUPPORTED);   /* MSI-X is off */
    ROW(virtio_queue_set_vector(&q0, 0), VIRTIO_ERR_STATE);
    ROW(virtio_device_set_vector(&d, 0x10000), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_queue_enable_cb(&q, 0), VIRTIO_OK);
    ROW(virtio_queue_disable_cb(&q), VIRTIO_OK);
    ROW(virtio_queue_pop(&q, &ptr, &v), VIRTIO_EMPTY);
    ROW(virtio_queue_pop_many(&q, 0, &v, 1, &n), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_queue_pop_many(&q, &ptr, &v, 1, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_queue_pop_many(&q, &ptr, 0, 1, &n), VIRTIO_EMPTY);
    ROW(virtio_device_reset(&d), VIRTIO_OK);
    ROW(virtio_queue_destroy(&q), VIRTIO_OK);
    ROW(virtio_queue_destroy(&q), VIRTIO_ERR_STATE);   /* twice */

    /* Memory helpers. */
    ROW(virtio_alloc(0, 16, 16, VIRTIO_MEM_DMA, &ptr, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_alloc(&bus->platform, 16, 16, VIRTIO_MEM_DMA, 0, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_alloc(&bus->platform, 0, 16, VIRTIO_MEM_DMA, &ptr, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_alloc(&bus->platform, 16, 3, VIRTIO_MEM_DMA, &ptr, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_alloc(&nodma, 16, 16, VIRTIO_MEM_DMA, &ptr, 0), VIRTIO_ERR_INVALID_ARG);
    bus->knobs.alloc_fail_after = 1;
    ROW(virtio_alloc(&bus->platform, 16, 16, VIRTIO_MEM_DMA, &ptr, &v64), VIRTIO_ERR_NO_MEMORY);
    virtio_free(0, buf, 16, VIRTIO_MEM_DMA);   /* harmless */
    virtio_free(&bus->platform, 0, 16, VIRTIO_MEM_DMA);
    ROW(virtio_dma_map(0, buf, 16, VIRTIO_DMA_TO_DEVICE, sg, 2, 0, &n, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_dma_map(&bus->platform, 0, 16, VIRTIO_DMA_TO_DEVICE, sg, 2, 0, &n, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_dma_map(&bus->platform, buf, 16, VIRTIO_DMA_TO_DEVICE, 0, 2, 0, &n, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_dma_map(&bus->platform, buf, 16, VIRTIO_DMA_TO_DEVICE, sg, 2, 0, 0, 0), VIRTIO_ERR_INVALID_ARG);
    bus->knobs.dma_split = 1;
    ROW(virtio_dma_map(&bus->platform, buf + 4000, 8192, VIRTIO_DMA_TO_DEVICE, sg, 2, 0, &n, 0), VIRTIO_ERR_TOO_BIG);
    ROW(bus->stats.live_maps, 0);   /* nothing stays mapped */
    bus->knobs.map_fail_after = 1;
    ROW(virtio_dma_map(&bus->platform, buf, 16, VIRTIO_DMA_TO_DEVICE, sg, 2, 0, &n, 0), VIRTIO_ERR_NO_MEMORY);
    virtio_dma_unmap(0, buf, VIRTIO_DMA_TO_DEVICE, sg, 1);   /* harmless */
    virtio_log(0, VIRTIO_LOG_ERROR, VIRTIO_MSG_DRIVER, 0, 0);
    virtio_log(&bus->platform, VIRTIO_LOG_ERROR, 999, 0, 0);   /* unknown id: no text, no crash */
    virtio_wait_start(&w, &bus->platform, 1);
    while (virtio_wait_step(&w) == VIRTIO_OK) {}
    ROW(virtio_wait_step(&w), VIRTIO_ERR_TIMEOUT);
    ROW(virtio_wait_step(0), VIRTIO_ERR_INVALID_ARG);
    memset(&w, 0, sizeof w);   /* never started */
    ROW(virtio_wait_step(&w), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_device_wait_step(&d, &w), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_device_wait_step(&d, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_device_wait_step(0, 0), VIRTIO_ERR_STATE);
    {   /* a device never probed: refused at the first status look (bounded) */
        virtio_result r;
        uint32_t k = 0;
        virtio_wait_start(&w, &bus->platform, 1);
        while ((r = virtio_device_wait_step(&d0, &w)) == VIRTIO_OK && ++k < 1000000) {}
        ROW(r, VIRTIO_ERR_STATE);
        virtio_wait_start(&w, &bus->platform, 1);
        while ((r = virtio_device_wait_step(&d, &w)) == VIRTIO_OK && ++k < 2000000) {}
        ROW(r, VIRTIO_ERR_TIMEOUT);   /* a live one: the wait ends */
    }
    ROW(bus->stats.bugs, 0);
    model_bus_free(bus);
}

static void blk_rows(void)
{
    model_bus *bus = model_bus_new();
    model_options mo;
    model_blk_options bo;
    model_backend rng;
    model *m;
    virtio_device d, other;
    virtio_blk b, b0;
    virtio_blk_options o;
    virtio_blk_request rq;
    virtio_blk_completion done[2];
    char id[21];
    void *tok;
    virtio_result res;
    uint32_t n;
    memset(&b, 0, sizeof b);   /* objects start zero-filled (the drivers' contract) */
    memset(&b0, 0, sizeof b0);
    memset(&rng, 0, sizeof rng);
    model_options_init(&mo, MODEL_MMIO);
    mo.mode = MODEL_DEFERRED;
    model_blk_options_init(&bo);
    bo.features &= ~((1ull << 11) | (1ull << 13) | (1ull << 14));   /* no CONFIG_WCE, DISCARD, WRITE_ZEROES */
    m = model_blk_new(bus, &mo, &bo);
    m->knobs.run_on_idle = 1;
    rng.name = "rng";
    rng.device_id = 4;
    rng.features = MODEL_F_VERSION_1;
    rng.num_queues = 1;
    rng.queue_max[0] = 8;
    rng.process = rng_process;
    model_options_init(&mo, MODEL_PCI_MODERN);
    CHECK(model_new(bus, &mo, &rng) != 0);
    CHECK_EQ(virtio_mmio_probe(&d, &bus->platform, model_mmio_base(m)), VIRTIO_OK);
    CHECK_EQ(virtio_pci_probe(&other, &bus->platform, 0x0008), VIRTIO_OK);

    /* Never initialised. */
    memset(&rq, 0, sizeof rq);
    ROW(virtio_blk_submit(&b0, &rq), VIRTIO_ERR_STATE);
    ROW(virtio_blk_submit_batch(&b0, &rq, 1, &n), VIRTIO_ERR_STATE);
    ROW(virtio_blk_submit_batch(0, &rq, 1, &n), VIRTIO_ERR_STATE);
    ROW(virtio_blk_kick(&b0), VIRTIO_ERR_STATE);
    ROW(virtio_blk_poll(&b0, &tok, &res), VIRTIO_ERR_STATE);
    ROW(virtio_blk_poll_batch(&b0, done, 2, &n), VIRTIO_ERR_STATE);
    ROW(virtio_blk_poll_batch(0, done, 2, &n), VIRTIO_ERR_STATE);
    ROW(virtio_blk_poll_batch(&b0, 0, 0, &n), VIRTIO_ERR_STATE);
    ROW(virtio_blk_wait(&b0, &tok, &res), VIRTIO_ERR_STATE);
    ROW(virtio_blk_read(&b0, 0, buf, 512), VIRTIO_ERR_STATE);
    ROW(virtio_blk_write(&b0, 0, buf, 512), VIRTIO_ERR_STATE);
    ROW(virtio_blk_flush(&b0), VIRTIO_ERR_STATE);
    ROW(virtio_blk_discard(&b0, 0, 1), VIRTIO_ERR_STATE);
    ROW(virtio_blk_write_zeroes(&b0, 0, 1, 0), VIRTIO_ERR_STATE);
    ROW(virtio_blk_get_id(&b0, id), VIRTIO_ERR_STATE);
    ROW(virtio_blk_set_writeback(&b0, 1), VIRTIO_ERR_STATE);
    ROW(virtio_blk_refresh(&b0, 0), VIRTIO_ERR_STATE);
    ROW(virtio_blk_shutdown(&b0), VIRTIO_ERR_STATE);
    ROW(virtio_blk_read(0, 0, buf, 512), VIRTIO_ERR_STATE);

    /* init itself. */
    ROW(virtio_blk_init(0, &d, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_blk_init(&b, 0, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_blk_init(&b, &other, 0), VIRTIO_ERR_NOT_FOUND);   /* not a block device */
    memset(&o, 0, sizeof o);
    o.max_requests = 5000;
    ROW(virtio_blk_init(&b, &d, &o), VIRTIO_ERR_INVALID_ARG);
    o.max_requests = 2;
    o.queue_size = 3;   /* no ring for a request of three descriptors: the caller's choice, not the device's */
    ROW(virtio_blk_init(&b, &d, &o), VIRTIO_ERR_INVALID_ARG);
    o.queue_size = 1;
    ROW(virtio_blk_init(&b, &d, &o), VIRTIO_ERR_INVALID_ARG);
    o.queue_size = 4;
    ROW(virtio_blk_init(&b, &d, &o), VIRTIO_OK);

    /* Bad requests on a live disk. */
    ROW(virtio_blk_submit(&b, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_blk_submit_batch(&b, 0, 1, &n), VIRTIO_ERR_INVALID_ARG);
    n = 7;
    ROW(virtio_blk_submit_batch(&b, 0, 0, &n), VIRTIO_OK);   /* nothing to do */
    ROW(n, 0);
    ROW(virtio_blk_poll_batch(&b, 0, 2, &n), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_blk_poll_batch(&b, done, 0, &n), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_blk_poll_batch(&b, done, 2, &n), VIRTIO_EMPTY);
    rq.op = 99;
    ROW(virtio_blk_submit(&b, &rq), VIRTIO_ERR_INVALID_ARG);
    n = 7;
    ROW(virtio_blk_submit_batch(&b, &rq, 1, &n), VIRTIO_OK);   /* refused: none accepted */
    ROW(n, 0);
    rq.op = VIRTIO_BLK_OP_READ;
    rq.flags = 0x80;
    ROW(virtio_blk_submit(&b, &rq), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_blk_read(&b, 0, 0, 512), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_blk_read(&b, 0, buf, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_blk_read(&b, 0, buf, 100), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_blk_read(&b, b.info.capacity, buf, 512), VIRTIO_ERR_RANGE);
    ROW(virtio_blk_read(&b, ~0ull, buf, 512), VIRTIO_ERR_RANGE);
    ROW(virtio_blk_write(&b, b.info.capacity - 1, buf, 1024), VIRTIO_ERR_RANGE);
    ROW(virtio_blk_discard(&b, 0, 8), VIRTIO_ERR_UNSUPPORTED);
    ROW(virtio_blk_write_zeroes(&b, 0, 8, 1), VIRTIO_ERR_UNSUPPORTED);
    ROW(virtio_blk_discard(&b, 0, ~0ull), VIRTIO_ERR_RANGE);
    ROW(virtio_blk_set_writeback(&b, 0), VIRTIO_ERR_UNSUPPORTED);
    ROW(virtio_blk_get_id(&b, 0), VIRTIO_ERR_INVALID_ARG);
    rq.flags = 0;
    rq.op = VIRTIO_BLK_OP_GET_ID;
    rq.buf = buf;
    rq.len = 19;
    ROW(virtio_blk_submit(&b, &rq), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_blk_wait(&b, &tok, &res), VIRTIO_EMPTY);   /* nothing in flight */
    /* Too many in flight. */
    m->knobs.run_on_idle = 0;
    rq.op = VIRTIO_BLK_OP_READ;
    rq.len = 512;
    ROW(virtio_blk_submit(&b, &rq), VIRTIO_OK);
    ROW(virtio_blk_submit(&b, &rq), VIRTIO_OK);
    ROW(virtio_blk_submit(&b, &rq), VIRTIO_ERR_NO_SPACE);
    ROW(virtio_blk_read(&b, 0, buf, 512), VIRTIO_ERR_NO_SPACE);
    model_run(m, 0);
    ROW(virtio_blk_poll(&b, &tok, &res), VIRTIO_OK);
    ROW(virtio_blk_poll(&b, 0, 0), VIRTIO_OK);   /* NULL outs are allowed */
    ROW(virtio_blk_poll(&b, &tok, &res), VIRTIO_EMPTY);
    ROW(virtio_blk_shutdown(&b), VIRTIO_OK);
    /* Shut down. */
    ROW(virtio_blk_read(&b, 0, buf, 512), VIRTIO_ERR_STATE);
    ROW(virtio_blk_poll(&b, &tok, &res), VIRTIO_ERR_STATE);
    ROW(virtio_blk_poll_batch(&b, done, 2, &n), VIRTIO_ERR_STATE);
    ROW(virtio_blk_submit_batch(&b, &rq, 1, &n), VIRTIO_ERR_STATE);
    ROW(virtio_blk_shutdown(&b), VIRTIO_ERR_STATE);
    ROW(bus->stats.bugs, 0);
    model_bus_free(bus);
}

/* The other drivers, on objects that were never initialised and with NULL
   arguments (their live-device error cases are in test_net.c,
   test_input.c and test_gpu.c). */
static void other_rows(void)
{
    virtio_device d0;
    virtio_net n0;
    virtio_net_frame f;
    virtio_input i0;
    virtio_input_ev ev;
    virtio_input_axis ax;
    virtio_input_keys keys;
    virtio_gpu g0;
    virtio_gpu_fb fb0;
    virtio_gpu_mode mode;
    uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 }, bm[128], edid[128];
    uint32_t v = 0;
    char c;
    memset(&d0, 0, sizeof d0);
    memset(&n0, 0, sizeof n0);
    memset(&i0, 0, sizeof i0);
    memset(&g0, 0, sizeof g0);
    memset(&fb0, 0, sizeof fb0);
    memset(&ev, 0, sizeof ev);   /* type 0: no key */
    memset(&keys, 0, sizeof keys);
    memset(&ax, 0, sizeof ax);
    memset(&f, 0, sizeof f);
    memset(edid, 0, sizeof edid);

    ROW(virtio_net_init(0, &d0, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_net_init(&n0, 0, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_net_init(&n0, &d0, 0), VIRTIO_ERR_NOT_FOUND);   /* device_id 0 */
    memset(&n0, 0, sizeof n0);
    ROW(virtio_net_shutdown(&n0), VIRTIO_ERR_STATE);
    ROW(virtio_net_send(&n0, buf, 60, 0), VIRTIO_ERR_STATE);
    ROW(virtio_net_send_csum(&n0, buf, 60, 34, 6, 0), VIRTIO_ERR_STATE);
    ROW(virtio_net_reclaim(&n0, &v), VIRTIO_ERR_STATE);
    ROW(virtio_net_receive(&n0, buf, sizeof buf, &f), VIRTIO_ERR_STATE);
    ROW(virtio_net_borrow(&n0, &f), VIRTIO_ERR_STATE);
    ROW(virtio_net_give_back(&n0, &f), VIRTIO_ERR_STATE);
    ROW(virtio_net_refresh(&n0, &v), VIRTIO_ERR_STATE);
    ROW(virtio_net_set_promisc(&n0, 1), VIRTIO_ERR_STATE);
    ROW(virtio_net_set_allmulti(&n0, 1), VIRTIO_ERR_STATE);
    ROW(virtio_net_set_mac_filter(&n0, 0, 0, 0, 0), VIRTIO_ERR_STATE);
    ROW(virtio_net_set_mac(&n0, mac), VIRTIO_ERR_STATE);
    ROW(virtio_net_announce_ack(&n0), VIRTIO_ERR_STATE);
    ROW(virtio_net_send(0, buf, 60, 0), VIRTIO_ERR_STATE);
    ROW(virtio_net_kick(&n0), VIRTIO_ERR_STATE);

    ROW(virtio_input_init(0, &d0, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_input_init(&i0, 0, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_input_init(&i0, &d0, 0), VIRTIO_ERR_NOT_FOUND);
    memset(&i0, 0, sizeof i0);
    ROW(virtio_input_shutdown(&i0), VIRTIO_ERR_STATE);
    ROW(virtio_input_poll(&i0, &ev), VIRTIO_ERR_STATE);
    ROW(virtio_input_read_report(&i0, &ev, 1, &v), VIRTIO_ERR_STATE);
    ROW(virtio_input_query_bits(&i0, 1, bm, &v), VIRTIO_ERR_STATE);
    ROW(virtio_input_has_code(&i0, 1, 30), 0);   /* a predicate: 0 for a bad object */
    ROW(virtio_input_refresh(&i0, &v), VIRTIO_ERR_STATE);
    ROW(virtio_input_query_abs(&i0, 0, &ax), VIRTIO_ERR_STATE);
    ROW(virtio_input_set_leds(&i0, 1), VIRTIO_ERR_STATE);
    ROW(virtio_input_scale(0, 1, 10, &v), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_input_scale(&ax, 1, 10, &v), VIRTIO_ERR_INVALID_ARG);   /* empty axis */
    ax.max = 100;
    ROW(virtio_input_scale(&ax, 1, 0, &v), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_input_scale(&ax, 1, 10, 0), VIRTIO_OK);   /* out may be NULL */
    ROW(virtio_input_scale(&ax, 1000, 10, &v), VIRTIO_OK);   /* clamped */
    ROW(v, 9);
    ROW(virtio_input_key_char(0, &ev, &c), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_input_key_char(&keys, 0, &c), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_input_key_char(&keys, &ev, 0), VIRTIO_EMPTY);   /* ch may be NULL; ev is no key */
    ev.type = VIRTIO_INPUT_EV_KEY;
    ev.code = 999;
    ev.value = 1;
    ROW(virtio_input_key_char(&keys, &ev, &c), VIRTIO_EMPTY);   /* a code beyond the table */

    ROW(virtio_gpu_init(0, &d0, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_gpu_init(&g0, 0, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_gpu_init(&g0, &d0, 0), VIRTIO_ERR_NOT_FOUND);
    memset(&g0, 0, sizeof g0);
    ROW(virtio_gpu_shutdown(&g0), VIRTIO_ERR_STATE);
    ROW(virtio_gpu_display_info(&g0), VIRTIO_ERR_STATE);
    ROW(virtio_gpu_display_info(0), VIRTIO_ERR_STATE);
    ROW(virtio_gpu_get_edid(&g0, 0, edid, sizeof edid, &v), VIRTIO_ERR_STATE);
    ROW(virtio_gpu_fb_create(&g0, &fb0, 64, 64, VIRTIO_GPU_PIX_B8G8R8X8, 0), VIRTIO_ERR_STATE);
    ROW(virtio_gpu_fb_destroy(&g0, &fb0), VIRTIO_ERR_STATE);
    ROW(virtio_gpu_set_scanout(&g0, 0, &fb0), VIRTIO_ERR_STATE);
    ROW(virtio_gpu_disable_scanout(&g0, 0), VIRTIO_ERR_STATE);
    ROW(virtio_gpu_flush(&g0, &fb0, 0, 0, 1, 1), VIRTIO_ERR_STATE);
    ROW(virtio_gpu_cursor_set(&g0, 0, (const uint32_t *)(const void *)buf, 0, 0, 0, 0), VIRTIO_ERR_STATE);
    ROW(virtio_gpu_cursor_move(&g0, 0, 0, 0), VIRTIO_ERR_STATE);
    ROW(virtio_gpu_cursor_hide(&g0, 0), VIRTIO_ERR_STATE);
    ROW(virtio_gpu_refresh(&g0, &v), VIRTIO_ERR_STATE);
    ROW(virtio_gpu_edid_mode(0, 128, &mode), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_gpu_edid_mode(edid, 127, &mode), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_gpu_edid_mode(edid, 128, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_gpu_edid_mode(edid, 128, &mode), VIRTIO_ERR_INVALID_ARG);   /* no EDID header */
}

/* The console and entropy drivers (virtio_console.h, virtio_rng.h):
   included here, after the others, which also proves a late include still
   emits their implementations. This file's globals `buf` and `rows` are in
   scope by now, and the implementations' parameters of those names would
   trip -Wshadow. */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#endif
#include "../../virtio_console.h"
#include "../../virtio_rng.h"
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif
#include "model_console.h"
#include "model_rng.h"

static void console_rows(void)
{
    model_bus *bus = model_bus_new();
    model_options mo;
    model_console_options co;
    model *m;
    virtio_device d, other, d0;
    virtio_console c, c0;
    virtio_console_options o;
    size_t n = 0;
    uint32_t changed = 0;
    memset(&c0, 0, sizeof c0);
    memset(&d0, 0, sizeof d0);
    model_options_init(&mo, MODEL_MMIO);
    model_console_options_init(&co);
    m = model_console_new(bus, &mo, &co);
    CHECK(m != 0);
    CHECK(model_blk_default(bus, MODEL_PCI_MODERN) != 0);
    CHECK_EQ(virtio_mmio_probe(&d, &bus->platform, model_mmio_base(m)), VIRTIO_OK);
    CHECK_EQ(virtio_pci_probe(&other, &bus->platform, 0x0008), VIRTIO_OK);

    /* Never initialised. */
    ROW(virtio_console_shutdown(&c0), VIRTIO_ERR_STATE);
    ROW(virtio_console_read(&c0, 0, buf, 16, 0, &n), VIRTIO_ERR_STATE);
    ROW(virtio_console_write(&c0, 0, buf, 16, 0, &n), VIRTIO_ERR_STATE);
    ROW(virtio_console_kick(&c0), VIRTIO_ERR_STATE);
    ROW(virtio_console_emerg_write(&c0, buf, 1), VIRTIO_ERR_STATE);
    ROW(virtio_console_refresh(&c0, &changed), VIRTIO_ERR_STATE);
    ROW(virtio_console_read(0, 0, buf, 16, 0, &n), VIRTIO_ERR_STATE);
    ROW(virtio_console_shutdown(0), VIRTIO_ERR_STATE);

    /* init itself. */
    ROW(virtio_console_init(0, &d, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_console_init(&c, 0, 0), VIRTIO_ERR_INVALID_ARG);
    memset(&c, 0, sizeof c);
    ROW(virtio_console_init(&c, &other, 0), VIRTIO_ERR_NOT_FOUND);   /* a block device */
    ROW(virtio_console_init(&c, &d0, 0), VIRTIO_ERR_NOT_FOUND);      /* never probed */
    memset(&o, 0, sizeof o);
    o.ports = VIRTIO_CONSOLE_MAX_PORTS + 1;
    ROW(virtio_console_init(&c, &d, &o), VIRTIO_ERR_INVALID_ARG);
    o.ports = 2;
    o.no_multiport = 1;
    ROW(virtio_console_init(&c, &d, &o), VIRTIO_ERR_INVALID_ARG);
    memset(&o, 0, sizeof o);
    o.buffers = 33;
    ROW(virtio_console_init(&c, &d, &o), VIRTIO_ERR_INVALID_ARG);
    o.buffers = 0;
    o.buffer_size = 8;
    ROW(virtio_console_init(&c, &d, &o), VIRTIO_ERR_INVALID_ARG);
    o.buffer_size = 8192;
    ROW(virtio_console_init(&c, &d, &o), VIRTIO_ERR_INVALID_ARG);
    o.buffer_size = 0;
    o.ports = 2;
    ROW(virtio_console_init(&c, &d, &o), VIRTIO_OK);
    ROW(virtio_console_init(&c, &d, &o), VIRTIO_ERR_STATE);   /* running */

    /* Bad calls on a live console. */
    ROW(virtio_console_read(&c, 0, 0, 16, 0, &n), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_console_read(&c, 0, buf, 0, 0, &n), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_console_read(&c, 2, buf, 16, 0, &n), VIRTIO_ERR_INVALID_ARG);   /* port not served */
    ROW(virtio_console_read(&c, 0, buf, 16, 4, &n), VIRTIO_ERR_INVALID_ARG);   /* unknown flag */
    ROW(virtio_console_read(&c, 0, buf, 16, 0, &n), VIRTIO_EMPTY);
    ROW(virtio_console_read(&c, 1, buf, 16, 0, 0), VIRTIO_EMPTY);
    ROW(virtio_console_write(&c, 0, 0, 16, 0, &n), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_console_write(&c, 0xffffffffu, buf, 16, 0, &n), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_console_write(&c, 0, buf, 16, 0x100, &n), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_console_write(&c, 0, buf, 16, VIRTIO_CONSOLE_WAIT, 0), VIRTIO_OK);   /* NULL count */
    ROW(virtio_console_write(&c, 1, 0, 0, VIRTIO_CONSOLE_WAIT, &n), VIRTIO_OK);      /* flush */
    ROW(virtio_console_emerg_write(&c, 0, 4), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_console_emerg_write(&c, 0, 0), VIRTIO_OK);
    ROW(virtio_console_refresh(&c, 0), VIRTIO_OK);
    ROW(virtio_console_kick(&c), VIRTIO_OK);
    ROW(virtio_console_shutdown(&c), VIRTIO_OK);
    /* Shut down. */
    ROW(virtio_console_read(&c, 0, buf, 16, 0, &n), VIRTIO_ERR_STATE);
    ROW(virtio_console_write(&c, 0, buf, 16, 0, &n), VIRTIO_ERR_STATE);
    ROW(virtio_console_emerg_write(&c, buf, 1), VIRTIO_ERR_STATE);
    ROW(virtio_console_refresh(&c, &changed), VIRTIO_ERR_STATE);
    ROW(virtio_console_kick(&c), VIRTIO_ERR_STATE);
    ROW(virtio_console_shutdown(&c), VIRTIO_ERR_STATE);
    ROW(bus->stats.bugs, 0);
    ROW(bus->stats.live_allocs, 0);
    model_bus_free(bus);
}

static void rng_rows(void)
{
    model_bus *bus = model_bus_new();
    model_options mo;
    model_rng_options ro;
    model *m;
    virtio_device d, other, d0;
    virtio_rng r, r0;
    virtio_rng_options o;
    size_t n = 0;
    uint32_t changed = 0;
    memset(&r0, 0, sizeof r0);
    memset(&d0, 0, sizeof d0);
    model_options_init(&mo, MODEL_PCI_LEGACY);
    model_rng_options_init(&ro);
    m = model_rng_new(bus, &mo, &ro);
    CHECK(m != 0);
    CHECK(model_blk_default(bus, MODEL_MMIO) != 0);
    CHECK_EQ(virtio_pci_probe(&d, &bus->platform, model_pci_bdf(m)), VIRTIO_OK);
    CHECK_EQ(virtio_mmio_probe(&other, &bus->platform, 0x10001000), VIRTIO_OK);

    /* Never initialised. */
    ROW(virtio_rng_shutdown(&r0), VIRTIO_ERR_STATE);
    ROW(virtio_rng_read(&r0, buf, 16, 0, &n), VIRTIO_ERR_STATE);
    ROW(virtio_rng_kick(&r0), VIRTIO_ERR_STATE);
    ROW(virtio_rng_refresh(&r0, &changed), VIRTIO_ERR_STATE);
    ROW(virtio_rng_read(0, buf, 16, 0, &n), VIRTIO_ERR_STATE);
    ROW(virtio_rng_shutdown(0), VIRTIO_ERR_STATE);

    /* init itself. */
    ROW(virtio_rng_init(0, &d, 0), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_rng_init(&r, 0, 0), VIRTIO_ERR_INVALID_ARG);
    memset(&r, 0, sizeof r);
    ROW(virtio_rng_init(&r, &other, 0), VIRTIO_ERR_NOT_FOUND);
    ROW(virtio_rng_init(&r, &d0, 0), VIRTIO_ERR_NOT_FOUND);
    memset(&o, 0, sizeof o);
    o.buffers = 33;
    ROW(virtio_rng_init(&r, &d, &o), VIRTIO_ERR_INVALID_ARG);
    o.buffers = 0;
    o.buffer_size = 15;
    ROW(virtio_rng_init(&r, &d, &o), VIRTIO_ERR_INVALID_ARG);
    o.buffer_size = 4097;
    ROW(virtio_rng_init(&r, &d, &o), VIRTIO_ERR_INVALID_ARG);
    o.buffer_size = 0;
    o.device.ring = VIRTIO_RING_PACKED;   /* a legacy interface has no packed rings */
    ROW(virtio_rng_init(&r, &d, &o), VIRTIO_ERR_UNSUPPORTED);
    o.device.ring = 0;
    ROW(virtio_rng_init(&r, &d, &o), VIRTIO_OK);
    ROW(virtio_rng_init(&r, &d, &o), VIRTIO_ERR_STATE);   /* running */

    /* Bad calls on a live source. */
    ROW(virtio_rng_read(&r, 0, 16, 0, &n), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_rng_read(&r, buf, 0, 0, &n), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_rng_read(&r, buf, 16, 1u << 5, &n), VIRTIO_ERR_INVALID_ARG);
    ROW(virtio_rng_read(&r, buf, 4 * 64 + 1, VIRTIO_RNG_WAIT, &n), VIRTIO_ERR_TOO_BIG);
    ROW(virtio_rng_read(&r, buf, 4 * 64, VIRTIO_RNG_WAIT, 0), VIRTIO_OK);   /* NULL count */
    ROW(virtio_rng_refresh(&r, 0), VIRTIO_OK);
    ROW(virtio_rng_kick(&r), VIRTIO_OK);
    ROW(virtio_rng_shutdown(&r), VIRTIO_OK);
    /* Shut down. */
    ROW(virtio_rng_read(&r, buf, 16, 0, &n), VIRTIO_ERR_STATE);
    ROW(virtio_rng_kick(&r), VIRTIO_ERR_STATE);
    ROW(virtio_rng_refresh(&r, &changed), VIRTIO_ERR_STATE);
    ROW(virtio_rng_shutdown(&r), VIRTIO_ERR_STATE);
    ROW(bus->stats.bugs, 0);
    ROW(bus->stats.live_allocs, 0);
    model_bus_free(bus);
}

int main(void)
{
    RUN(core_rows(), "bad input: virtio.h, every public function");
    RUN(blk_rows(), "bad input: virtio_blk.h, every public function");
    RUN(other_rows(), "bad input: net, input, gpu on uninitialised objects and NULLs");
    RUN(console_rows(), "bad input: virtio_console.h, every public function");
    RUN(rng_rows(), "bad input: virtio_rng.h, every public function");
    printf("(%d calls checked)\n", rows);
    UNIT_EXIT();
}
