/* Linux uapi headers first, then ours with the implementation: no public
   name of ours may collide with theirs. */
#include <linux/virtio_ids.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_net.h>
#include <linux/virtio_input.h>
#include <linux/virtio_gpu.h>
#include <linux/virtio_console.h>
#include <linux/virtio_rng.h>
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
