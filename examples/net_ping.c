/* net_ping.c - answer ARP and ping (ICMP echo) for 10.0.2.15.
 *
 * The smallest useful network stack: it owns one IPv4 address, replies to
 * ARP requests for it and to ICMP echo requests sent to it, and ignores
 * everything else. It shows virtio_net.h's zero-copy receive (borrow, then
 * give back) and send.
 *
 * Run it with a socket backend whose other end is a program of yours, e.g.
 *   make build/riscv64/net_ping.elf
 *   qemu-system-riscv64 -machine virt -bios none -m 256M -nodefaults \
 *       -display none -serial stdio -monitor none -kernel build/riscv64/net_ping.elf \
 *       -netdev dgram,id=n0,local.type=inet,local.host=127.0.0.1,local.port=5555,\
 *               remote.type=inet,remote.host=127.0.0.1,remote.port=5556 \
 *       -device virtio-net-device,netdev=n0
 * then send raw Ethernet frames as UDP datagrams to 127.0.0.1:5555
 * (tests/qemu/test_examples.py does exactly that).
 */
#define VIRTIO_IMPLEMENTATION
#include "port/port.h"
#include "../virtio_net.h"

static const uint8_t my_ip[4] = { 10, 0, 2, 15 };

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* RFC 1071 checksum of b[0..n). */
static uint16_t inet_sum(const uint8_t *b, size_t n)
{
    uint32_t s = 0;
    size_t i;
    for (i = 0; i + 1 < n; i += 2) s += (uint32_t)b[i] << 8 | b[i + 1];
    if (n & 1) s += (uint32_t)b[n - 1] << 8;
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* Build the reply to frame f (len bytes) in out; return its length or 0. */
static size_t answer(const virtio_net *nic, const uint8_t *f, size_t len, uint8_t *out)
{
    uint16_t type;
    if (len < 14) return 0;
    type = be16(f + 12);
    memcpy(out, f + 6, 6);                  /* back to the sender */
    memcpy(out + 6, nic->info.mac, 6);
    memcpy(out + 12, f + 12, 2);
    if (type == 0x0806 && len >= 42) {      /* ARP */
        const uint8_t *a = f + 14;
        if (be16(a + 6) != 1 || memcmp(a + 24, my_ip, 4) != 0) return 0;   /* request for us? */
        memcpy(out + 14, a, 6);             /* htype, ptype, hlen, plen */
        out[20] = 0, out[21] = 2;           /* reply */
        memcpy(out + 22, nic->info.mac, 6); /* sender: us */
        memcpy(out + 28, my_ip, 4);
        memcpy(out + 32, a + 8, 10);        /* target: the asker's MAC and IP */
        memset(out + 42, 0, 18);
        return 60;
    }
    if (type == 0x0800 && len >= 34) {      /* IPv4 */
        const uint8_t *ip = f + 14;
        size_t ihl = (size_t)(ip[0] & 15) * 4, total = be16(ip + 2);
        uint8_t *oip = out + 14, *icmp;
        uint16_t s;
        if ((ip[0] >> 4) != 4 || ihl < 20 || total < ihl + 8 || 14 + total > len) return 0;
        if (ip[9] != 1 || memcmp(ip + 16, my_ip, 4) != 0 || ip[ihl] != 8) return 0;   /* ICMP echo to us */
        memcpy(oip, ip, total);
        memcpy(oip + 12, my_ip, 4);         /* swap addresses */
        memcpy(oip + 16, ip + 12, 4);
        oip[8] = 64;                        /* fresh TTL */
        oip[10] = oip[11] = 0;
        s = inet_sum(oip, ihl);
        oip[10] = (uint8_t)(s >> 8), oip[11] = (uint8_t)s;
        icmp = oip + ihl;
        icmp[0] = 0;                        /* echo reply */
        icmp[2] = icmp[3] = 0;
        s = inet_sum(icmp, total - ihl);
        icmp[2] = (uint8_t)(s >> 8), icmp[3] = (uint8_t)s;
        return 14 + total < 60 ? 60 : 14 + total;
    }
    return 0;
}

int main(void)
{
    static virtio_net nic;
    static uint8_t out[2048];
    virtio_device dev;
    uint32_t replies = 0;
    virtio_result r;
    port_pci_setup();
    r = port_find_devices(VIRTIO_DEVICE_NET, &dev, 1) == 1 ? VIRTIO_OK : VIRTIO_ERR_NOT_FOUND;
    if (r == VIRTIO_OK) r = virtio_net_init(&nic, &dev, 0);
    if (r != VIRTIO_OK) {
        port_printf("no network device: %s\n", virtio_result_str(r));
        return 1;
    }
    port_printf("net_ping: %u.%u.%u.%u at %02x:%02x:%02x:%02x:%02x:%02x, press q to stop\n", my_ip[0], my_ip[1],
                my_ip[2], my_ip[3], nic.info.mac[0], nic.info.mac[1], nic.info.mac[2], nic.info.mac[3],
                nic.info.mac[4], nic.info.mac[5]);
    while (port_getc() != 'q') {
        virtio_net_frame f;
        size_t n;
        if (virtio_net_borrow(&nic, &f) != VIRTIO_OK) continue;
        n = answer(&nic, f.data, f.len, out);
        virtio_net_give_back(&nic, &f);
        if (n && virtio_net_send(&nic, out, n, 0) == VIRTIO_OK) port_printf("replied %u\n", ++replies);
    }
    port_printf("net_ping: %u replies\n", replies);
    return 0;
}
