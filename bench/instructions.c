/* instructions.c - instructions per request in the drivers, under callgrind.
 *
 * The block driver runs 4 KiB reads against the software device model in
 * deferred mode (the device works only when this program calls
 * model_run), so the driver's own cost can be separated from the device's:
 * bench/instructions.py runs this under `valgrind --tool=callgrind` with
 * collection switched on only inside the driver's calls (and their
 * callees: queue, barriers, the register hook of the notification), and
 * divides by the requests. Requests go in batches of 32 (one notification
 * per batch), as an I/O stack that keeps a queue busy would issue them:
 * with the single calls (virtio_blk_submit with VIRTIO_MORE, then
 * virtio_blk_kick, virtio_blk_poll until empty) or the batched ones
 * (virtio_blk_submit_batch, virtio_blk_poll_batch), argument 3 "batch". The platform is the common
 * bare-metal one: identity DMA without map hooks and the built-in
 * barriers, so what is counted is the driver (the data buffers come from
 * dma_alloc, as the model requires). The register hooks stay: the model
 * is reached through them; one notification per batch goes through one.
 */
#ifdef INSTRUCTIONS_LIBRARY_TU
/* Built a second time with this macro: the library in its own translation
   unit, as most programs have it, so its entry points are real calls. */
#define VIRTIO_IMPLEMENTATION
#include "../virtio_blk.h"
#else
#include "../virtio_blk.h"
#include "model.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 32

int main(int argc, char **argv)
{
    uint8_t *bufs[BATCH];
    void *mem;
    long batches = argc > 1 ? atol(argv[1]) : 1000;
    int packed = argc > 2 && strcmp(argv[2], "packed") == 0;
    int batch = argc > 3 && strcmp(argv[3], "batch") == 0;
    model_bus *bus = model_bus_new();
    model_options mo;
    model_blk_options bo;
    virtio_device dev;
    virtio_blk blk;
    virtio_blk_options o;
    model *m;
    long b, done = 0;
    model_options_init(&mo, MODEL_PCI_MODERN);
    mo.mode = MODEL_DEFERRED;
    model_blk_options_init(&bo);
    bo.size = 64u << 20;
    m = model_blk_new(bus, &mo, &bo);
    bus->knobs.quiet = 1;
    bus->knobs.dma_mode = MODEL_DMA_IDENTITY;
    bus->platform.dma_map = 0;      /* identity DMA, as on most bare metal */
    bus->platform.dma_unmap = 0;
    bus->platform.mb = bus->platform.rmb = bus->platform.wmb = 0;   /* built-in barriers */
    memset(&blk, 0, sizeof blk);   /* zero-filled before its first init */
    memset(&o, 0, sizeof o);
    o.device.ring = packed ? VIRTIO_RING_PACKED : VIRTIO_RING_SPLIT;
    if (virtio_pci_probe(&dev, &bus->platform, model_pci_bdf(m)) != VIRTIO_OK ||
        virtio_blk_init(&blk, &dev, &o) != VIRTIO_OK)
        return 1;
    for (b = 0; b < BATCH; b++)
        if (virtio_alloc(&bus->platform, 4096, 4096, VIRTIO_MEM_DMA, &mem, 0) != VIRTIO_OK) return 4;
        else bufs[b] = (uint8_t *)mem;
    for (b = 0; b < batches; b++) {
        virtio_blk_request rq[BATCH];
        virtio_blk_completion c[BATCH];
        void *tok;
        virtio_result res;
        uint32_t i, n;
        memset(rq, 0, sizeof rq);
        for (i = 0; i < BATCH; i++) {
            rq[i].op = VIRTIO_BLK_OP_READ;
            rq[i].sector = (uint64_t)((b * BATCH + i) * 8) % (bo.size / 512 - 8);
            rq[i].buf = bufs[i];
            rq[i].len = 4096;
            rq[i].flags = batch && i + 1 == BATCH ? 0 : VIRTIO_MORE;
        }
        if (batch) {
            if (virtio_blk_submit_batch(&blk, rq, BATCH, &n) != VIRTIO_OK || n != BATCH) return 2;
            model_run(m, 0);
            while (virtio_blk_poll_batch(&blk, c, BATCH, &n) == VIRTIO_OK)
                for (i = 0; i < n; i++) done += c[i].result == VIRTIO_OK;
        } else {
            for (i = 0; i < BATCH; i++)
                if (virtio_blk_submit(&blk, &rq[i]) != VIRTIO_OK) return 2;
            virtio_blk_kick(&blk);
            model_run(m, 0);
            while (virtio_blk_poll(&blk, &tok, &res) == VIRTIO_OK) done += res == VIRTIO_OK;
        }
    }
    printf("requests %ld\n", done);
    virtio_blk_shutdown(&blk);
    model_bus_free(bus);
    return done == batches * BATCH ? 0 : 3;
}
#endif
