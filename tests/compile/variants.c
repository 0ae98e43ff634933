/* Built once per configuration macro (-DVIRTIO_NO_PCI, ...): each subset
   still compiles without warnings and links. */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_blk.h"
#include "libc.h"
#include "use.h"
int main(void) { return vt_use_core() + vt_use_blk() >= 0 ? 0 : 1; }
