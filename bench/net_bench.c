/* net_bench.c - network frames per second in QEMU (guest side of bench/run.py).
 *
 * Commands on the UART:
 *   tx N SIZE   send N frames of SIZE bytes as fast as the ring allows
 *               (posted with VIRTIO_MORE: the device is notified when
 *               the ring is full, and once at the end)
 *   rx N        receive N frames (the host sends them as fast as it can)
 * Each prints "VT BENCH <name> <frames> <us>". 128 receive and 64
 * transmit buffers (the driver's defaults are smaller, for bootloaders).
 */
#define VIRTIO_IMPLEMENTATION
#include "../examples/port/port.h"
#include "../virtio_net.h"

static virtio_net nic;
static uint8_t frame[2048];

static uint32_t num(const char **s)
{
    uint32_t v = 0;
    while (**s == ' ') (*s)++;
    while (**s >= '0' && **s <= '9') v = v * 10 + (uint32_t)(*(*s)++ - '0');
    return v;
}

int main(void)
{
    virtio_device dev;
    virtio_net_options o;
    char line[64];
    int n = 0;
    virtio_result r = VIRTIO_ERR_NOT_FOUND;
    port_pci_setup();
    memset(&o, 0, sizeof o);
    o.rx_buffers = 128;
    o.tx_buffers = 64;
    if (port_find_devices(VIRTIO_DEVICE_NET, &dev, 1) == 1) r = virtio_net_init(&nic, &dev, &o);
    if (r != VIRTIO_OK) {
        port_printf("VT FAIL init %s\nVT END 1\n", virtio_result_str(r));
        return 1;
    }
    port_printf("VT READY\n");
    for (;;) {
        int c = port_getc();
        const char *s = line;
        uint64_t t0;
        uint32_t count, size, i;
        if (c < 0) continue;
        if (c != '\n') {
            if (n < (int)sizeof line - 1) line[n++] = (char)c;
            continue;
        }
        line[n] = 0;
        n = 0;
        if (line[0] == 'q') break;
        s = line + 2;
        count = num(&s);
        if (line[0] == 't') {
            size = num(&s);
            memset(frame, 0xff, 6);
            memcpy(frame + 6, nic.info.mac, 6);
            frame[12] = 0x88, frame[13] = 0xb5;
            t0 = port_now_us();
            for (i = 0; i < count;) {
                r = virtio_net_send(&nic, frame, size, VIRTIO_MORE);
                if (r == VIRTIO_OK) i++;
                else if (r != VIRTIO_ERR_NO_SPACE) break;
            }
            virtio_net_kick(&nic);
            port_printf("VT BENCH tx_%u %u %llu\n", size, i, (unsigned long long)(port_now_us() - t0));
        } else if (line[0] == 'r') {
            virtio_net_frame f;
            t0 = 0;
            for (i = 0; i < count;) {
                if (virtio_net_borrow(&nic, &f) != VIRTIO_OK) continue;
                if (i++ == 0) t0 = port_now_us();
                size = f.len;
                virtio_net_give_back(&nic, &f);
            }
            port_printf("VT BENCH rx_%u %u %llu\n", size, count - 1, (unsigned long long)(port_now_us() - t0));
        }
    }
    port_printf("VT END 0\n");
    return 0;
}
