/* instructions_net.c - instructions per 64-byte frame in the network
 * driver, under callgrind (the companion of instructions.c).
 *
 * virtio_net.h runs against the software device model and
 * bench/instructions.py counts, with `valgrind --tool=callgrind
 * --collect-atstart=no --toggle-collect=<fn>`, only what executes inside
 * the driver calls of one direction:
 *
 *   tx    virtio_net_send (header, copy, descriptor; 31 frames of a batch
 *         with VIRTIO_MORE, the last one notifies) and virtio_net_reclaim
 *         (used buffers back on the free list)
 *   rx    virtio_net_receive (pop, copy out, repost, kick)
 *   rxzc  virtio_net_borrow and virtio_net_give_back (zero copy)
 *
 * The device never works inside those calls: the model runs in deferred
 * mode (transmit chains are consumed by model_run, called between
 * batches) and receive delivery is held (rx_hold) while the driver
 * reposts, then released between batches. Transmit notifies once per
 * batch; receive notifies its reposts once per frame, so instructions.py
 * subtracts the inclusive cost of the model's register hooks: the count is
 * the driver's side of each notification, not the model's bookkeeping.
 * Frames go in batches of 32 (64 buffers each way, so that a batch fits);
 * the platform is identity DMA without map hooks and the built-in
 * barriers.
 *
 * usage: instructions_net BATCHES split|packed tx|rx|rxzc
 */
#ifdef INSTRUCTIONS_LIBRARY_TU
/* Built a second time with this macro: the library in its own translation
   unit, so its entry points are real calls callgrind can toggle on. */
#define VIRTIO_IMPLEMENTATION
#include "../virtio_net.h"
#else
#include "../virtio_net.h"
#include "model.h"
#include "model_net.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 32
#define FRAME 64

int main(int argc, char **argv)
{
    long batches = argc > 1 ? atol(argv[1]) : 1000;
    int packed = argc > 2 && strcmp(argv[2], "packed") == 0;
    const char *dir = argc > 3 ? argv[3] : "tx";
    model_bus *bus = model_bus_new();
    model_options mo;
    model_net_options no;
    virtio_device dev;
    virtio_net nic;
    virtio_net_options o;
    model *m;
    uint8_t frame[FRAME], buf[2048];
    long b, done = 0;
    int i;
    model_options_init(&mo, MODEL_PCI_MODERN);
    mo.mode = MODEL_DEFERRED;
    model_net_options_init(&no);
    m = model_net_new(bus, &mo, &no);
    bus->knobs.quiet = 1;
    bus->knobs.dma_mode = MODEL_DMA_IDENTITY;
    bus->platform.dma_map = 0;      /* identity DMA, as on most bare metal */
    bus->platform.dma_unmap = 0;
    bus->platform.mb = bus->platform.rmb = bus->platform.wmb = 0;   /* built-in barriers */
    memset(&nic, 0, sizeof nic);   /* zero-filled before its first init */
    memset(&o, 0, sizeof o);
    o.rx_buffers = o.tx_buffers = 2 * BATCH;
    o.device.ring = packed ? VIRTIO_RING_PACKED : VIRTIO_RING_SPLIT;
    if (virtio_pci_probe(&dev, &bus->platform, model_pci_bdf(m)) != VIRTIO_OK ||
        virtio_net_init(&nic, &dev, &o) != VIRTIO_OK)
        return 1;
    memcpy(frame, nic.info.mac, 6);
    memset(frame + 6, 0x02, 6);
    frame[12] = 0x08;
    frame[13] = 0x00;
    for (i = 14; i < FRAME; i++) frame[i] = (uint8_t)i;
    for (b = 0; b < batches; b++) {
        if (strcmp(dir, "tx") == 0) {
            uint32_t n = 0;
            for (i = 0; i < BATCH; i++)
                if (virtio_net_send(&nic, frame, FRAME, i + 1 < BATCH ? VIRTIO_MORE : 0) != VIRTIO_OK) return 2;
            model_run(m, 0);
            if (virtio_net_reclaim(&nic, &n) != VIRTIO_OK) return 2;
            done += n;
            model_net_tx_clear(m);
        } else {
            virtio_net_frame f;
            model_net_get_knobs(m)->rx_hold = 0;
            for (i = 0; i < BATCH; i++) model_net_inject(m, frame, FRAME, 0);
            model_net_get_knobs(m)->rx_hold = 1;   /* reposts do not make the device work */
            for (i = 0; i < BATCH; i++) {
                if (strcmp(dir, "rx") == 0) {
                    if (virtio_net_receive(&nic, buf, sizeof buf, &f) != VIRTIO_OK) return 3;
                } else {
                    if (virtio_net_borrow(&nic, &f) != VIRTIO_OK) return 3;
                    if (virtio_net_give_back(&nic, &f) != VIRTIO_OK) return 3;
                }
                done += f.len == FRAME;
            }
        }
    }
    printf("frames %ld\n", done);
    virtio_net_shutdown(&nic);
    model_bus_free(bus);
    return done == batches * BATCH ? 0 : 4;
}
#endif
