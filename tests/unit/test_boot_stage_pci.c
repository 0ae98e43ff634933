/* test_boot_stage_pci.c - test_boot_stage.c with virtio-pci alone: the
 * transport's operations called directly, not through their table. */
#define VIRTIO_NO_MMIO
#define BOOT_ONE " (one transport)"
#include "test_boot_stage.c"
