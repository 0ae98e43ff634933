/* net_test.c - QEMU guest for tests/qemu/test_net.py.
 *
 * Drives virtio_net.h on whatever virtio-net device the machine has,
 * under the host's command: the host writes one command line on the UART,
 * the guest does it and answers with "VT ..." lines. The frames themselves
 * travel through QEMU's stream backend to a peer in the test runner, which
 * checks every byte.
 *
 *   echo N        send back each of the next N frames (copying and
 *                 zero-copy receive alternate)
 *   send SEED N   send N frames: sizes 60 to the MTU + 14 (at most 9216),
 *                 payload pattern(SEED)
 *   sendmore SEED N  the same, every frame posted with VIRTIO_MORE and one
 *                 virtio_net_kick at the end (N beyond the ring: a full
 *                 ring must notify by itself); both report how many sends
 *                 found the ring full (and were retried, for up to 5 s)
 *   hold          stop reading the network until the next command
 *   drain N       receive N frames, report their count, order and CRC
 *   collect MS    report the sequence numbers of frames arriving in MS ms
 *   promisc 0|1, allmulti 0|1, filter MAC[,MAC...], setmac MAC
 *   link          report link changes until the link was down and up again
 *   announce      wait for an announcement request, answer it
 *   quit
 */
#define VIRTIO_IMPLEMENTATION
#include "vt.h"
#include "../../../virtio_net.h"

static virtio_net nic;
#define FRAME_MAX 9216u   /* a 9000-byte MTU's frames, with a VLAN tag */
static uint8_t frame[FRAME_MAX], out[FRAME_MAX];

static uint32_t rd32be(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }
static void wr32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint64_t parse_num(const char **s, int base)
{
    uint64_t v = 0;
    while (**s == ' ') (*s)++;
    for (;; (*s)++) {
        int c = **s, d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (base == 16 && c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else break;
        v = v * (unsigned)base + (unsigned)d;
    }
    return v;
}

static int parse_mac(const char **s, uint8_t mac[6])
{
    int i;
    for (i = 0; i < 6; i++) {
        mac[i] = (uint8_t)parse_num(s, 16);
        if (i < 5 && **s != ':') return 0;
        if (i < 5) (*s)++;
    }
    return 1;
}

/* Receive one frame, alternating between copying and borrowing. */
static virtio_result get_frame(uint8_t *buf, uint32_t *len, uint32_t n)
{
    virtio_net_frame f;
    virtio_result r;
    if (n & 1) {
        r = virtio_net_borrow(&nic, &f);
        if (r != VIRTIO_OK) return r;
        if (f.len > FRAME_MAX) {
            virtio_net_give_back(&nic, &f);
            return VIRTIO_ERR_TOO_BIG;
        }
        memcpy(buf, f.data, f.len);
        *len = f.len;
        return virtio_net_give_back(&nic, &f);
    }
    r = virtio_net_receive(&nic, buf, FRAME_MAX, &f);
    if (r == VIRTIO_OK) *len = f.len;
    return r;
}

static virtio_result wait_frame(uint8_t *buf, uint32_t *len, uint32_t n, uint32_t ms)
{
    uint64_t end = port_now_us() + (uint64_t)ms * 1000u;
    for (;;) {
        virtio_result r = get_frame(buf, len, n);
        if (r != VIRTIO_EMPTY) return r;
        if (port_now_us() > end) return VIRTIO_ERR_TIMEOUT;
    }
}

static uint32_t tx_full;   /* sends that found the transmit ring full */

static virtio_result send_retry(const void *f, uint32_t len, uint32_t flags)
{
    uint64_t end = port_now_us() + 5000000u;
    for (;;) {
        virtio_result r = virtio_net_send(&nic, f, len, flags);
        if (r != VIRTIO_ERR_NO_SPACE || port_now_us() > end) return r;
        tx_full++;
    }
}

static void cmd_echo(uint32_t n)
{
    uint32_t i, len = 0, bad = 0;
    for (i = 0; i < n; i++) {
        virtio_result r = wait_frame(frame, &len, i, 20000);
        if (r != VIRTIO_OK) {
            port_printf("VT FAIL echo receive %u: %s\n", i, virtio_result_str(r));
            return;
        }
        if (send_retry(frame, len, 0) != VIRTIO_OK) bad++;
    }
    port_printf("VT ECHOED %u bad=%u\n", n, bad);
}

/* Frames the guest originates: dst = host peer, src = our MAC, ethertype
   0x88b5, then a sequence number and the pattern. */
static void cmd_send(uint64_t seed, uint32_t n, const uint8_t *dst, uint32_t flags)
{
    uint32_t i, bad = 0, max = nic.info.mtu + 14 < FRAME_MAX ? nic.info.mtu + 14 : FRAME_MAX;
    tx_full = 0;
    for (i = 0; i < n; i++) {
        uint32_t len = 60 + (i * 97u) % (max - 60 + 1);
        memcpy(out, dst, 6);
        memcpy(out + 6, nic.info.mac, 6);
        out[12] = 0x88;
        out[13] = 0xb5;
        wr32be(out + 14, i);
        vt_pattern(seed, (uint64_t)i << 12, out + 18, len - 18);
        if (send_retry(out, len, flags) != VIRTIO_OK) bad++;
    }
    if (virtio_net_kick(&nic) != VIRTIO_OK) bad++;
    virtio_net_reclaim(&nic, 0);
    port_printf("VT SENT %u bad=%u full=%u\n", n, bad, tx_full);
}

static void cmd_drain(uint32_t n)
{
    uint32_t got = 0, inorder = 1, crc = 0, len = 0;
    while (got < n) {
        if (wait_frame(frame, &len, got, 20000) != VIRTIO_OK) break;
        if (len < 18 || rd32be(frame + 14) != got) inorder = 0;
        crc = vt_crc32(crc, frame, len);
        got++;
    }
    port_printf("VT DRAINED got=%u inorder=%u crc=%08x rx_buffers=%u\n", got, inorder, crc, nic.priv.nrx);
}

static void cmd_collect(uint32_t ms)
{
    uint64_t end = port_now_us() + (uint64_t)ms * 1000u;
    uint32_t len = 0, n = 0;
    port_printf("VT COLLECTING\n");
    while (port_now_us() < end) {
        if (get_frame(frame, &len, n) != VIRTIO_OK) continue;
        n++;
        if (len >= 18) port_printf("VT GOT %u\n", rd32be(frame + 14));
    }
    port_printf("VT COLLECTED %u\n", n);
}

static void cmd_link(void)
{
    uint64_t end = port_now_us() + 30000000u;
    int saw_down = 0;
    port_printf("VT LINK %u\n", nic.info.link_up);
    while (port_now_us() < end) {
        uint32_t ev = 0;
        if (virtio_net_refresh(&nic, &ev) != VIRTIO_OK) break;
        if (!(ev & VIRTIO_NET_CHANGED_LINK)) continue;
        port_printf("VT LINK %u\n", nic.info.link_up);
        if (!nic.info.link_up) {
            saw_down = 1;
            VT_EXPECT(virtio_net_send(&nic, frame, 60, 0), VIRTIO_ERR_LINK_DOWN, "send while down");
        } else if (saw_down) {
            return;
        }
    }
    port_printf("VT FAIL link change not seen\n");
}

/* A gratuitous ARP for 10.0.2.15 from our MAC. */
static void cmd_announce(void)
{
    uint64_t end = port_now_us() + 30000000u;
    static const uint8_t ip[4] = { 10, 0, 2, 15 };
    while (port_now_us() < end) {
        uint32_t ev = 0;
        if (virtio_net_refresh(&nic, &ev) != VIRTIO_OK) break;
        if (!(ev & VIRTIO_NET_CHANGED_ANNOUNCE)) continue;
        memset(out, 0xff, 6);
        memcpy(out + 6, nic.info.mac, 6);
        out[12] = 0x08, out[13] = 0x06;                       /* ARP */
        out[14] = 0, out[15] = 1, out[16] = 8, out[17] = 0;   /* Ethernet, IPv4 */
        out[18] = 6, out[19] = 4, out[20] = 0, out[21] = 1;   /* request */
        memcpy(out + 22, nic.info.mac, 6);
        memcpy(out + 28, ip, 4);
        memset(out + 32, 0, 6);
        memcpy(out + 38, ip, 4);
        memset(out + 42, 0, 18);
        VT_EXPECT(virtio_net_send(&nic, out, 60, 0), VIRTIO_OK, "announce send");
        VT_EXPECT(virtio_net_announce_ack(&nic), VIRTIO_OK, "announce ack");
        port_printf("VT ANNOUNCED\n");
        return;
    }
    port_printf("VT FAIL no announcement request\n");
}

static void bad_input(void)
{
    virtio_net_frame f;
    uint8_t big[1600];
    memset(big, 0, sizeof big);
    VT_EXPECT(virtio_net_send(&nic, 0, 60, 0), VIRTIO_ERR_INVALID_ARG, "send NULL");
    VT_EXPECT(virtio_net_send(&nic, big, 0, 0), VIRTIO_ERR_INVALID_ARG, "send empty");
    VT_EXPECT(virtio_net_send(&nic, big, 10, 0), VIRTIO_ERR_INVALID_ARG, "send runt");
    VT_EXPECT(virtio_net_send(&nic, big, nic.info.mtu + 19, 0), VIRTIO_ERR_TOO_BIG, "send oversized");
    VT_EXPECT(virtio_net_send(&nic, big, nic.info.mtu + 15, 0), VIRTIO_ERR_TOO_BIG, "send untagged over the MTU");
    VT_EXPECT(virtio_net_receive(&nic, 0, 100, &f), VIRTIO_ERR_INVALID_ARG, "receive NULL");
    f.handle = 12345;
    VT_EXPECT(virtio_net_give_back(&nic, &f), VIRTIO_ERR_INVALID_ARG, "give back unknown");
    VT_EXPECT(virtio_net_set_mac_filter(&nic, 0, 65, 0, 0), VIRTIO_ERR_INVALID_ARG, "filter too long");
    VT_EXPECT(virtio_net_set_mac_filter(&nic, big, 1, big, 0xffffffffu), VIRTIO_ERR_INVALID_ARG, "filter counts wrap");
    VT_EXPECT(virtio_net_send(&nic, big, 60, 2), VIRTIO_ERR_INVALID_ARG, "send unknown flag");
    VT_EXPECT(virtio_net_refresh(&nic, 0), VIRTIO_OK, "refresh without out-parameter");
    if (!nic.info.csum) VT_EXPECT(virtio_net_send_csum(&nic, big, 60, 34, 6, 0), VIRTIO_ERR_UNSUPPORTED, "csum w/o CSUM");
}

int main(void)
{
    virtio_device devs[4];
    uint8_t peer[6] = { 0x02, 0, 0, 0, 0, 1 };
    char line[256];
    virtio_result r;
    int n;
    port_pci_setup();
    n = vt_find(VIRTIO_DEVICE_NET, devs, 4);
    if (n < 1) {
        port_printf("VT FAIL no net device\nVT END 1\n");
        return 1;
    }
    r = virtio_net_init(&nic, &devs[0], 0);
    if (r != VIRTIO_OK) {
        port_printf("VT FAIL init %s\nVT END 1\n", virtio_result_str(r));
        return 1;
    }
    port_printf("VT NIC transport=%s packed=%u mac=%02x:%02x:%02x:%02x:%02x:%02x mtu=%u link=%u status=%u "
                "mrg=%u csum=%u guest_csum=%u ctrl_rx=%u ctrl_mac=%u announce=%u hdr=%u\n",
                vt_transport(&nic.dev), nic.tx.packed, nic.info.mac[0], nic.info.mac[1], nic.info.mac[2],
                nic.info.mac[3], nic.info.mac[4], nic.info.mac[5], nic.info.mtu, nic.info.link_up,
                nic.info.has_status, nic.info.mrg_rxbuf, nic.info.csum, nic.info.guest_csum, nic.info.ctrl_rx,
                nic.info.ctrl_mac, nic.info.announce, nic.info.hdr_len);
    bad_input();
    VT_EXPECT(virtio_net_init(&nic, &devs[0], 0), VIRTIO_ERR_STATE, "init while running");
    port_printf("VT READY\n");
    while (vt_read_line(line, sizeof line, 120000) > 0) {
        const char *s = line;
        if (!strcmp(line, "quit")) break;
        if (!memcmp(line, "echo ", 5)) {
            s += 5;
            cmd_echo((uint32_t)parse_num(&s, 10));
        } else if (!memcmp(line, "send ", 5)) {
            uint64_t seed;
            s += 5;
            seed = parse_num(&s, 16);
            cmd_send(seed, (uint32_t)parse_num(&s, 10), peer, 0);
        } else if (!memcmp(line, "sendmore ", 9)) {
            uint64_t seed;
            s += 9;
            seed = parse_num(&s, 16);
            cmd_send(seed, (uint32_t)parse_num(&s, 10), peer, VIRTIO_MORE);
        } else if (!strcmp(line, "hold")) {
            port_printf("VT HOLDING\n");
        } else if (!memcmp(line, "drain ", 6)) {
            s += 6;
            cmd_drain((uint32_t)parse_num(&s, 10));
        } else if (!memcmp(line, "collect ", 8)) {
            s += 8;
            cmd_collect((uint32_t)parse_num(&s, 10));
        } else if (!memcmp(line, "promisc ", 8)) {
            r = virtio_net_set_promisc(&nic, line[8] == '1');
            port_printf("VT PROMISC %s\n", virtio_result_str(r));
        } else if (!memcmp(line, "allmulti ", 9)) {
            r = virtio_net_set_allmulti(&nic, line[9] == '1');
            port_printf("VT ALLMULTI %s\n", virtio_result_str(r));
        } else if (!memcmp(line, "filter ", 7)) {
            uint8_t uc[8][6], mc[8][6], mac[6];
            uint32_t nuc = 0, nmc = 0;
            s += 7;
            while (parse_mac(&s, mac) && nuc < 8 && nmc < 8) {
                if (mac[0] & 1) memcpy(mc[nmc++], mac, 6);
                else memcpy(uc[nuc++], mac, 6);
                if (*s != ',') break;
                s++;
            }
            r = virtio_net_set_mac_filter(&nic, uc[0], nuc, mc[0], nmc);
            port_printf("VT FILTER %s\n", virtio_result_str(r));
        } else if (!memcmp(line, "setmac ", 7)) {
            uint8_t mac[6];
            s += 7;
            r = parse_mac(&s, mac) ? virtio_net_set_mac(&nic, mac) : VIRTIO_ERR_INVALID_ARG;
            port_printf("VT SETMAC %s\n", virtio_result_str(r));
        } else if (!strcmp(line, "link")) {
            cmd_link();
            port_printf("VT LINKDONE\n");
        } else if (!strcmp(line, "announce")) {
            cmd_announce();
        } else {
            port_printf("VT FAIL unknown command %s\n", line);
        }
    }
    port_printf("VT STATS rx=%llu tx=%llu rx_errors=%llu\n", (unsigned long long)nic.stats.rx_frames,
                (unsigned long long)nic.stats.tx_frames, (unsigned long long)nic.stats.rx_errors);
    VT_EXPECT(virtio_net_shutdown(&nic), VIRTIO_OK, "shutdown");
    port_printf("VT END %d\n", vt_failures);
    return vt_failures != 0;
}
