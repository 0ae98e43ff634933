/* fuzz_blk_split.c - the block driver on a split ring against a hostile device (see target_blk.h). */
#define FZ_RING VIRTIO_RING_SPLIT
#include "target_blk.h"
