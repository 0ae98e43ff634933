/* fuzz_net_packed.c - the network driver on a packed ring against a hostile device (see target_net.h). */
#define FZ_RING VIRTIO_RING_PACKED
#include "target_net.h"
