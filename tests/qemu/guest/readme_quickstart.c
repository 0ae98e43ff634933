/* readme_quickstart.c - README.md's first C block, run as a reader pastes it.
 *
 * readme_extract.py splits the block: its #define and #include lines
 * come first here, its statements are main's body, unchanged. This file
 * supplies only what the block leaves to its reader (the buffer and the
 * DMA hook, which takes memory from the port's pool), then reports what
 * the block did: "VT README capacity=<sectors> crc=<crc32 of buf>". The
 * host (tests/qemu/test_examples.py, readme_quickstart) compares both
 * with its disk image. The block's addresses are riscv "virt"'s.
 */
#include "readme_head.inc"
#include "vt.h"

static uint8_t buf[4096];

static void *my_dma_alloc(void *user, size_t size, size_t align, int kind, uint64_t *dev_addr)
{
    const virtio_platform *p = port_platform();
    (void)user;
    return p->dma_alloc(p->user, size, align, kind, dev_addr);
}

int main(void)
{
#include "readme_body.inc"
/* (at the block's indentation: its last line is the body of an if) */
port_printf("VT README capacity=%llu crc=%08x\n", (unsigned long long)disk.info.capacity, vt_crc32(0, buf, sizeof buf));
    port_printf("VT END 0\n");
    return 0;
}
