/* fuzz_console_packed.c - the console driver on a packed ring against a hostile device (see target_console.h). */
#define FZ_RING VIRTIO_RING_PACKED
#include "target_console.h"
