/* fuzz_blk_boot.c - the boot-stage build (virtio_blk.h, BOOT STAGES, less
   VIRTIO_DIRECT_REGS and the one transport: the model is reached through
   the register hooks) on a split ring against a hostile device (see
   target_blk.h). Calls the build leaves out answer VIRTIO_ERR_UNSUPPORTED;
   probes of legacy transports and of platforms with DMA mapping hooks are
   refused; every check of the device stays and is fuzzed here. */
#define VIRTIO_BLK_MINIMAL
#define VIRTIO_NO_LEGACY
#define VIRTIO_NO_PACKED
#define VIRTIO_NO_INDIRECT
#define VIRTIO_NO_EVENT_IDX
#define VIRTIO_NO_DMA_MAP
#define VIRTIO_NO_MSIX
#define VIRTIO_NO_STRINGS
#define VIRTIO_NO_LOG
#define FZ_RING VIRTIO_RING_SPLIT
#include "target_blk.h"
