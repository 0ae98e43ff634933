/* virtio_net.h alone emits the core and the network driver. */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_net.h"
