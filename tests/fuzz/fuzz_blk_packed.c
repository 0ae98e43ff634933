/* fuzz_blk_packed.c - the block driver on a packed ring against a hostile device (see target_blk.h). */
#define FZ_RING VIRTIO_RING_PACKED
#include "target_blk.h"
