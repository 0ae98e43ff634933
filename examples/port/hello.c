/* hello.c - the smallest guest: proves a port boots, talks, keeps time,
 * and finds the machine's VirtIO devices.
 *
 *   make build/riscv64/hello.elf
 *   qemu-system-riscv64 -machine virt -bios none -m 256M -display none \
 *       -serial stdio -monitor none -nic none -kernel build/riscv64/hello.elf
 */
#define VIRTIO_IMPLEMENTATION   /* this file emits the library */
#include "port.h"

int main(void)
{
    const virtio_platform *p = port_platform();
    uint64_t t0 = port_now_us();
    uint32_t slot = 0, bdf = 0;
    int c = -1;
    port_printf("hello from %s\n", port_arch());
    port_pci_setup();
    while (virtio_mmio_find(p, port_mmio_base, port_mmio_stride, port_mmio_count, 0, &slot) == VIRTIO_OK) {
        virtio_device d;
        if (virtio_mmio_probe(&d, p, port_mmio_base + slot * port_mmio_stride) == VIRTIO_OK)
            port_printf("virtio-mmio slot %u: type %u %s\n", slot, d.device_id, d.legacy ? "legacy" : "modern");
        slot++;
    }
    while (virtio_pci_find(p, 0, &bdf) == VIRTIO_OK) {
        virtio_device d;
        virtio_result r = virtio_pci_probe(&d, p, bdf);
        port_printf("virtio-pci %02x:%02x.%x: type %u %s base %p (%s)\n", bdf >> 8, (bdf >> 3) & 31, bdf & 7,
                    d.device_id, d.legacy ? "legacy" : "modern", (void *)d.base, virtio_result_str(r));
        bdf++;
    }
    while (port_now_us() - t0 < 300000 && (c = port_getc()) < 0) {}
    if (c >= 0) port_printf("got '%c'\n", c);
    port_printf("uptime %u ms\n", (unsigned)((port_now_us() - t0) / 1000));
    return 0;
}
