/* fuzz_gpu_packed.c - the gpu driver on a packed ring against a hostile device (see target_gpu.h). */
#define FZ_RING VIRTIO_RING_PACKED
#include "target_gpu.h"
