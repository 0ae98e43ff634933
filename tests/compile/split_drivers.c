/* Split build, part 2: only the drivers, linked against split_core.c. */
#define VIRTIO_BLK_IMPLEMENTATION
#include "../../virtio_blk.h"
#include "libc.h"
#include "use.h"
int main(void) { return vt_use_core() + vt_use_blk() >= 0 ? 0 : 1; }
