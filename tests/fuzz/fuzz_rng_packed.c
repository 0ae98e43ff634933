/* fuzz_rng_packed.c - the entropy driver on a packed ring against a hostile device (see target_rng.h). */
#define FZ_RING VIRTIO_RING_PACKED
#include "target_rng.h"
