/* resize_test.c - QEMU guest for test_blk.py's resize test.
 *
 * One virtio-blk disk that the host grows and shrinks under the running
 * guest (QMP block_resize). The host writes one command line on the UART;
 * the guest answers with "VT ..." lines:
 *
 *   wait CAP       poll virtio_blk_refresh until the capacity is CAP
 *                  sectors (10 s), report it and the changed bits
 *   write S SEED   write 4 KiB of pattern(SEED) at sector S, report the result
 *   read S         read 4 KiB at sector S, report the result and its CRC32
 *   quit
 */
#define VIRTIO_IMPLEMENTATION
#include "vt.h"
#include "../../../virtio_blk.h"

static uint8_t buf[4096] __attribute__((aligned(4096)));
static virtio_blk disk;

static uint64_t num(const char **s)
{
    uint64_t v = 0;
    while (**s == ' ') (*s)++;
    while (**s >= '0' && **s <= '9') v = v * 10u + (uint64_t)(*(*s)++ - '0');
    return v;
}

static void cmd_wait(uint64_t want)
{
    uint64_t end = port_now_us() + 10000000u;
    uint32_t seen = 0;
    while (disk.info.capacity != want && port_now_us() < end) {
        uint32_t changed = 0;
        virtio_result r = virtio_blk_refresh(&disk, &changed);
        if (r != VIRTIO_OK) {
            port_printf("VT FAIL refresh %s\n", virtio_result_str(r));
            return;
        }
        seen |= changed;
    }
    port_printf("VT CAPACITY %llu changed=%u\n", (unsigned long long)disk.info.capacity, seen);
}

int main(void)
{
    virtio_device devs[1];
    char line[96];
    virtio_result r;
    port_pci_setup();
    if (vt_find(VIRTIO_DEVICE_BLOCK, devs, 1) < 1 || (r = virtio_blk_init(&disk, &devs[0], 0)) != VIRTIO_OK) {
        port_printf("VT FAIL no disk\nVT END 1\n");
        return 1;
    }
    port_printf("VT CAPACITY %llu changed=0\n", (unsigned long long)disk.info.capacity);
    while (vt_read_line(line, sizeof line, 60000) > 0) {
        const char *s = line;
        if (!memcmp(line, "wait ", 5)) {
            s += 5;
            cmd_wait(num(&s));
        } else if (!memcmp(line, "write ", 6)) {
            uint64_t sector, seed;
            s += 6;
            sector = num(&s);
            seed = num(&s);
            vt_pattern(seed, sector * 512u, buf, sizeof buf);
            r = virtio_blk_write(&disk, sector, buf, sizeof buf);
            if (r == VIRTIO_OK) r = virtio_blk_flush(&disk);
            port_printf("VT WROTE %s\n", virtio_result_str(r));
        } else if (!memcmp(line, "read ", 5)) {
            s += 5;
            memset(buf, 0, sizeof buf);
            r = virtio_blk_read(&disk, num(&s), buf, sizeof buf);
            port_printf("VT READ %s %08x\n", virtio_result_str(r), vt_crc32(0, buf, sizeof buf));
        } else if (!strcmp(line, "quit")) {
            break;
        } else {
            port_printf("VT FAIL unknown command %s\n", line);
        }
    }
    VT_EXPECT(virtio_blk_shutdown(&disk), VIRTIO_OK, "shutdown");
    port_printf("VT END %d\n", vt_failures);
    return vt_failures != 0;
}
