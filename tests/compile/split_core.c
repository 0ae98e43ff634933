/* Split build, part 1: only the core. */
#define VIRTIO_CORE_IMPLEMENTATION
#include "../../virtio_blk.h"
#include "../../virtio_net.h"
#include "../../virtio_input.h"
#include "../../virtio_gpu.h"
#include "../../virtio_console.h"
#include "../../virtio_rng.h"
