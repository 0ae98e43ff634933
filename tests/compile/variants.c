/* Built once per configuration macro (-DVIRTIO_NO_PCI, ...): each subset
   still compiles without warnings and links. */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_blk.h"
#include "../../virtio_net.h"
#include "../../virtio_input.h"
#include "../../virtio_gpu.h"
#include "../../virtio_console.h"
#include "../../virtio_rng.h"
#include "libc.h"
#include "use.h"
int main(void) { return vt_use_core() + vt_use_blk() + vt_use_net() + vt_use_input() + vt_use_gpu() + vt_use_console() + vt_use_rng() >= 0 ? 0 : 1; }
