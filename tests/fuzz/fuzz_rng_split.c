/* fuzz_rng_split.c - the entropy driver on a split ring against a hostile device (see target_rng.h). */
#define FZ_RING VIRTIO_RING_SPLIT
#include "target_rng.h"
