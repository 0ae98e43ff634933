/* boot_stage.c - the smallest useful program on virtio_blk.h, for the
 * boot-stage size budget (bench/boot_size.py links it per architecture).
 *
 * A boot stage built as the header documents under BOOT STAGES: one
 * transport (virtio-mmio here, or PCI with BOOT_PCI), split rings, the
 * driver built with VIRTIO_BLK_MINIMAL; it probes the disk, reads, writes
 * and flushes. The platform gives a DMA pool and nothing else (identity
 * DMA, built-in barriers, plain register access, the spin bound for
 * waits). Never run: only its linked size is measured.
 */
#define VIRTIO_IMPLEMENTATION
#include "../virtio_blk.h"

static unsigned char pool[65536] __attribute__((aligned(4096)));
static size_t used;

static void *boot_alloc(void *user, size_t size, size_t align, int kind, uint64_t *dev)
{
    size_t at = (used + align - 1) & ~(align - 1);
    (void)user;
    (void)kind;
    if (at + size > sizeof pool) return 0;
    used = at + size;
    *dev = (uintptr_t)(pool + at);
    return pool + at;
}

static virtio_platform plat;
static virtio_device dev;
static virtio_blk disk;
static unsigned char sector[4096];

int boot_stage(void);
int boot_stage(void)
{
    plat.dma_alloc = boot_alloc;
#ifdef BOOT_PCI
    {
        uint32_t bdf = 0;
        plat.pci_ecam = 0x30000000;
        if (virtio_pci_find(&plat, VIRTIO_DEVICE_BLOCK, &bdf) != VIRTIO_OK ||
            virtio_pci_probe(&dev, &plat, bdf) != VIRTIO_OK)
            return 1;
    }
#else
    if (virtio_mmio_probe(&dev, &plat, 0x10001000) != VIRTIO_OK) return 1;
#endif
    if (virtio_blk_init(&disk, &dev, 0) != VIRTIO_OK) return 2;
    if (virtio_blk_read(&disk, 0, sector, sizeof sector) != VIRTIO_OK) return 3;
    if (virtio_blk_write(&disk, 8, sector, sizeof sector) != VIRTIO_OK) return 4;
    if (virtio_blk_flush(&disk) != VIRTIO_OK) return 5;
    return virtio_blk_shutdown(&disk) != VIRTIO_OK;
}
