/* The core alone: one implementation TU plus a user of every function. */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio.h"
