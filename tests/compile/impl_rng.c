/* virtio_rng.h alone emits the core and the entropy driver. */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_rng.h"
