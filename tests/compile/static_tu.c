/* VIRTIO_STATIC: the whole library private to this TU; unused functions
   must not warn. */
#define VIRTIO_STATIC
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_blk.h"
#include "../../virtio_net.h"
#include "../../virtio_input.h"
#include "../../virtio_gpu.h"
#include "../../virtio_console.h"
#include "../../virtio_rng.h"
int main(void) { return 0; }
