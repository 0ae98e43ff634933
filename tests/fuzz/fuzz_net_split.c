/* fuzz_net_split.c - the network driver on a split ring against a hostile device (see target_net.h). */
#define FZ_RING VIRTIO_RING_SPLIT
#include "target_net.h"
