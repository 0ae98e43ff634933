/* Every header in one TU, implementation and use; main() for hosted links. */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_blk.h"
#include "../../virtio.h"
#include "../../virtio_blk.h"
#include "libc.h"
#include "use.h"
int main(void) { return vt_use_core() == 0 && vt_use_blk() == 0 ? 0 : 0; }
