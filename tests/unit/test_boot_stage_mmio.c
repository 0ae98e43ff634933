/* test_boot_stage_mmio.c - test_boot_stage.c with virtio-mmio alone: the
 * transport's operations called directly, not through their table. */
#define VIRTIO_NO_PCI
#define BOOT_ONE " (one transport)"
#include "test_boot_stage.c"
