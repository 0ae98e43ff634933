/* fuzz_input_split.c - the input driver on a split ring against a hostile device (see target_input.h). */
#define FZ_RING VIRTIO_RING_SPLIT
#include "target_input.h"
