/* virtio_console.h alone emits the core and the console driver. */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_console.h"
