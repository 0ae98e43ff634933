/* gpu_bench.c - GPU flushes per second in QEMU (guest side of bench/run.py).
 *
 * A 1280x800 framebuffer on scanout 0; full-frame transfer+flush, then
 * 64x64 rectangle flushes. Prints "VT BENCH <name> <flushes> <us>".
 */
#define VIRTIO_IMPLEMENTATION
#include "../examples/port/port.h"
#include "../virtio_gpu.h"

static virtio_gpu gpu;
static virtio_gpu_fb fb;

static void run(const char *name, uint32_t w, uint32_t h, uint32_t count)
{
    uint64_t t0 = port_now_us();
    uint32_t i;
    for (i = 0; i < count; i++) {
        uint32_t x = (i * 64u) % (fb.width - w + 1), y = (i * 48u) % (fb.height - h + 1);
        ((uint32_t *)(void *)fb.pixels)[y * fb.width + x] = i;   /* something changed */
        if (virtio_gpu_flush(&gpu, &fb, x, y, w, h) != VIRTIO_OK) {
            port_printf("VT FAIL %s\n", name);
            return;
        }
    }
    port_printf("VT BENCH %s %u %llu\n", name, count, (unsigned long long)(port_now_us() - t0));
}

int main(void)
{
    virtio_device dev;
    virtio_result r = VIRTIO_ERR_NOT_FOUND;
    port_pci_setup();
    if (port_find_devices(VIRTIO_DEVICE_GPU, &dev, 1) == 1) r = virtio_gpu_init(&gpu, &dev, 0);
    if (r == VIRTIO_OK) r = virtio_gpu_fb_create(&gpu, &fb, 1280, 800, VIRTIO_GPU_PIX_B8G8R8X8, 0);
    if (r == VIRTIO_OK) r = virtio_gpu_set_scanout(&gpu, 0, &fb);
    if (r != VIRTIO_OK) {
        port_printf("VT FAIL init %s\nVT END 1\n", virtio_result_str(r));
        return 1;
    }
    run("full_1280x800", 1280, 800, 300);
    run("rect_64x64", 64, 64, 3000);
    port_printf("VT END 0\n");
    return 0;
}
