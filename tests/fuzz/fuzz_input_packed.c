/* fuzz_input_packed.c - the input driver on a packed ring against a hostile device (see target_input.h). */
#define FZ_RING VIRTIO_RING_PACKED
#include "target_input.h"
