/* virtio_input.h alone emits the core and the input driver. */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_input.h"
