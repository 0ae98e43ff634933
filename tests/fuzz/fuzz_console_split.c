/* fuzz_console_split.c - the console driver on a split ring against a hostile device (see target_console.h). */
#define FZ_RING VIRTIO_RING_SPLIT
#include "target_console.h"
