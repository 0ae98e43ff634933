/* virtio_blk.h alone emits the core and the block driver. */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_blk.h"
