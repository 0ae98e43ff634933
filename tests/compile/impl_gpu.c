/* virtio_gpu.h alone emits the core and the GPU driver. */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_gpu.h"
