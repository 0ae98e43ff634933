/* console_test.c - QEMU guest for tests/qemu/test_console.py.
 *
 * Drives virtio_console.h on the machine's virtio-serial device (the host
 * attaches a virtconsole on port 0 and a virtserialport named "vt.port1"
 * on port 1, each on a chardev socket the test listens on). It reports
 * what the driver learnt about the device and its ports, checks the
 * documented error codes, prints "VT READY", then does what the host's
 * command lines on the UART ask:
 *
 *   w P SEED N   write N bytes of vt_pattern(SEED) to port P, in chunks of
 *                1..3000 bytes, mixing non-blocking writes, VIRTIO_MORE +
 *                kick, and VIRTIO_CONSOLE_WAIT; then a flush; "VT WROTE"
 *   r P N        "VT READING", then read N bytes from port P (blocking
 *                reads of 1..4096 bytes) and report their CRC32 and first
 *                bytes: "VT READ P N crc=.. first=.."
 *   x P N        echo: read N bytes from port P, writing each piece back
 *   e HEX        emergency-write these bytes: "VT EMERG <result>"
 *   m            shut down, initialise again without MULTIPORT ("VT CON")
 *   q            shut down, check that all DMA memory came back, "VT END"
 *
 * The host checks every byte at its sockets; nothing here decides whether
 * a test passed.
 */
#define VIRTIO_IMPLEMENTATION
#include "vt.h"
#include "../../../virtio_console.h"

static virtio_device devs[VT_MAX_DEVS];
static virtio_console con;
static uint8_t buf[8192];
static char line[256];

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

/* The device answers the control messages when it gets to them (QEMU's
   PCI transport after init returns): take port events until nothing has
   changed for 200 ms (3 s at most). */
static void settle(void)
{
    uint64_t start = port_now_us(), quiet = start;
    uint32_t changed;
    while (port_now_us() - quiet < 200000u && port_now_us() - start < 3000000u) {
        virtio_result r = virtio_console_refresh(&con, &changed);
        VT_EXPECT(r, VIRTIO_OK, "refresh");
        if (r != VIRTIO_OK) return;
        if (changed) quiet = port_now_us();
    }
}

static void report(void)
{
    uint32_t i;
    port_printf("VT CON transport=%s packed=%u multiport=%u max_ports=%u ports=%u emerg=%u size=%u",
                vt_transport(&con.dev), con.port[0].rxq.packed, con.info.multiport, con.info.max_ports,
                con.info.ports, con.info.emerg_write, con.info.size);
    for (i = 0; i < con.info.ports; i++)
        port_printf(" p%u=%u,%u,%u,%u name%u=%s", i, con.port[i].present, con.port[i].console, con.port[i].host_open,
                    con.port[i].guest_open, i, con.port[i].name[0] ? con.port[i].name : "-");
    port_printf(" dropped=%u\n", con.dropped);
}

static virtio_result up(int multiport)
{
    virtio_console_options o;
    memset(&o, 0, sizeof o);
    o.ports = multiport ? 2 : 1;
    o.no_multiport = !multiport;
    return virtio_console_init(&con, &devs[0], &o);
}

/* w P SEED N */
static void cmd_write(uint32_t p, uint64_t seed, uint32_t n)
{
    uint32_t off = 0, k = 0;
    virtio_result r = VIRTIO_OK;
    while (off < n && r == VIRTIO_OK) {
        uint32_t len = 1 + (k * 977u + 13u) % 3000u, mode = k++ % 3;
        size_t sent = 0;
        if (len > n - off) len = n - off;
        vt_pattern(seed, off, buf, len);
        if (mode == 0) {   /* blocking */
            r = virtio_console_write(&con, p, buf, len, VIRTIO_CONSOLE_WAIT, &sent);
        } else {           /* what fits now, notified now (1) or by a kick (2) */
            r = virtio_console_write(&con, p, buf, len, mode == 2 ? VIRTIO_MORE : 0, &sent);
            if (mode == 2) virtio_console_kick(&con);
            if (r == VIRTIO_ERR_NO_SPACE) r = virtio_console_write(&con, p, 0, 0, VIRTIO_CONSOLE_WAIT, 0);
        }
        off += (uint32_t)sent;
    }
    if (r == VIRTIO_OK) r = virtio_console_write(&con, p, 0, 0, VIRTIO_CONSOLE_WAIT, 0);   /* flush */
    port_printf("VT WROTE %u %u %s tx=%llu\n", p, off, virtio_result_str(r), (unsigned long long)con.port[p].tx_bytes);
}

/* r P N and x P N */
static void cmd_read(uint32_t p, uint32_t n, int echo)
{
    uint32_t got_total = 0, crc = 0, k = 0;
    uint8_t first[8];
    virtio_result r = VIRTIO_OK;
    port_printf("VT READING %u %u\n", p, n);
    while (got_total < n && r == VIRTIO_OK) {
        size_t want = 1 + (k++ * 1531u) % 4096u, got = 0, i;
        if (want > n - got_total) want = n - got_total;
        r = virtio_console_read(&con, p, buf, want, VIRTIO_CONSOLE_WAIT, &got);
        if (r != VIRTIO_OK) break;
        for (i = 0; i < got && got_total + i < 8; i++) first[got_total + i] = buf[i];
        crc = vt_crc32(crc, buf, got);
        got_total += (uint32_t)got;
        if (echo) r = virtio_console_write(&con, p, buf, got, VIRTIO_CONSOLE_WAIT, 0);
    }
    port_printf("VT %s %u %u %s crc=%08x first=", echo ? "ECHOED" : "READ", p, got_total, virtio_result_str(r), crc);
    for (k = 0; k < 8 && k < got_total; k++) port_printf("%02x", first[k]);
    port_printf("\n");
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void cmd_emerg(const char *s)
{
    uint32_t n = 0;
    for (; hexval(s[0]) >= 0 && hexval(s[1]) >= 0 && n < sizeof buf; s += 2)
        buf[n++] = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1]));
    port_printf("VT EMERG %s\n", virtio_result_str(virtio_console_emerg_write(&con, buf, n)));
}

static void bad_input(void)
{
    virtio_console dead;
    size_t got = 7;
    memset(&dead, 0, sizeof dead);
    VT_EXPECT(virtio_console_init(&con, &devs[0], 0), VIRTIO_ERR_STATE, "init twice");
    VT_EXPECT(virtio_console_read(&con, 0, 0, 4, 0, &got), VIRTIO_ERR_INVALID_ARG, "read NULL");
    VT_EXPECT(virtio_console_read(&con, 7, buf, 4, 0, &got), VIRTIO_ERR_INVALID_ARG, "read port 7");
    VT_EXPECT(virtio_console_write(&con, 0, 0, 4, 0, &got), VIRTIO_ERR_INVALID_ARG, "write NULL");
    VT_EXPECT(virtio_console_write(&con, 0, buf, 4, 0x40, &got), VIRTIO_ERR_INVALID_ARG, "write flags");
    VT_EXPECT(virtio_console_read(&dead, 0, buf, 4, 0, &got), VIRTIO_ERR_STATE, "read dead");
    VT_EXPECT(virtio_console_refresh(&dead, 0), VIRTIO_ERR_STATE, "refresh dead");
    VT_CHECK(got == 7, "bad input", "count written on error");
    /* Nothing has been sent to the guest yet. */
    VT_EXPECT(virtio_console_read(&con, 0, buf, 4, 0, &got), VIRTIO_EMPTY, "read empty");
}

int main(void)
{
    size_t before;
    int n;
    virtio_result r;
    port_pci_setup();
    n = vt_find(VIRTIO_DEVICE_CONSOLE, devs, VT_MAX_DEVS);
    port_printf("VT DEVICES %d\n", n);
    if (n < 1) {
        port_printf("VT FAIL no console device\nVT END 1\n");
        return 1;
    }
    before = port_dma_free_bytes();
    if ((r = up(1)) != VIRTIO_OK) {
        port_printf("VT FAIL init %s\nVT END 1\n", virtio_result_str(r));
        return 1;
    }
    settle();
    report();
    /* Bytes the host sent on port 1 before the guest opened it, read
       before the host says anything else (its lines to the UART would
       wake QEMU's main loop, which reads the socket, for us). */
    if (con.info.ports >= 2) cmd_read(1, 1000, 0);
    bad_input();
    port_printf("VT READY\n");
    while (vt_read_line(line, sizeof line, 120000) > 0) {
        const char *s = line + 1;
        uint32_t p, cnt;
        uint64_t seed;
        if (line[0] == 'q') break;
        switch (line[0]) {
        case 'w':
            p = (uint32_t)parse_num(&s, 10);
            seed = parse_num(&s, 16);
            cmd_write(p, seed, (uint32_t)parse_num(&s, 10));
            break;
        case 'r':
        case 'x':
            p = (uint32_t)parse_num(&s, 10);
            cnt = (uint32_t)parse_num(&s, 10);
            cmd_read(p, cnt, line[0] == 'x');
            break;
        case 'e':
            while (*s == ' ') s++;
            cmd_emerg(s);
            break;
        case 'm':
            VT_EXPECT(virtio_console_shutdown(&con), VIRTIO_OK, "shutdown");
            VT_EXPECT(up(0), VIRTIO_OK, "init without multiport");
            settle();
            report();
            port_printf("VT READY\n");
            break;
        default:
            port_printf("VT FAIL unknown command %s\n", line);
            break;
        }
    }
    VT_EXPECT(virtio_console_shutdown(&con), VIRTIO_OK, "shutdown");
    VT_EXPECT(virtio_console_shutdown(&con), VIRTIO_ERR_STATE, "shutdown twice");
    port_printf("VT LEAK %d\n", (int)(before - port_dma_free_bytes()));
    port_printf("VT END %d\n", vt_failures);
    return vt_failures != 0;
}
