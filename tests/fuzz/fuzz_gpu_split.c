/* fuzz_gpu_split.c - the gpu driver on a split ring against a hostile device (see target_gpu.h). */
#define FZ_RING VIRTIO_RING_SPLIT
#include "target_gpu.h"
