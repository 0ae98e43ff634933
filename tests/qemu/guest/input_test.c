/* input_test.c - QEMU guest for tests/qemu/test_input.py.
 *
 * Finds every virtio-input device (the host attaches a keyboard, a mouse
 * and a tablet), reports what each says about itself (name, serial, ids,
 * event bits, axis ranges), checks the documented error codes, prints
 * "VT READY" and then polls all devices, doing what single bytes on the
 * UART ask:
 *
 *   e  echo: print every event as "VT EV <dev> <type> <code> <value>"
 *   q  quiet: record events instead of printing them
 *   d  dump: take what is waiting, print the recorded events as EV lines,
 *      then "VT DUMP <n>"
 *   g  take what is waiting, then "VT GOT <events recorded>"
 *   p  pause: stop taking events ("VT PAUSED"); r: resume ("VT RESUMED")
 *   R  read reports (virtio_input_read_report, room for 8 events first:
 *      "VT TOOBIG <dev>" when that is too small, then "VT RPT <dev> <n>"
 *      and the EV lines); P: back to virtio_input_poll
 *   c  clear the text line and the modifier state
 *   l<hex digit>  set the keyboard LEDs to that mask, 8 times over (each
 *      update waits until the device has taken the previous ones)
 *   m, t  shut the mouse / tablet down and initialise it again: QEMU then
 *      routes mouse buttons to it (the last device activated wins)
 *   x  final checks, "VT END <failures>"
 *
 * Keyboard events also go through virtio_input_key_char: Enter prints the
 * line as "VT LINE <hex of the characters>", and a caps lock toggle sets
 * the caps LED like a real keyboard driver ("VT CAPSLED <bits> <result>").
 * The host decides every event it injects and compares; nothing here
 * decides whether a test passed.
 */
#define VIRTIO_IMPLEMENTATION
#include "vt.h"
#include "../../../virtio_input.h"

#define NDEV 4
#define LOG_MAX 4096

static virtio_device devs[VT_MAX_DEVS];
static virtio_input ins[NDEV];
static int live[NDEV];
static int ndev;

static struct {
    uint8_t dev;
    virtio_input_ev ev;
} logbuf[LOG_MAX];
static uint32_t nlog, log_over;

static virtio_input_keys keys;
static char line[256];
static uint32_t line_len;
static uint32_t leds;   /* what we last asked the keyboard to show */
static virtio_input_axis axes[NDEV][2];   /* ABS_X, ABS_Y of each tablet */
#define SCREEN_W 1024u
#define SCREEN_H 768u

static const char *tag(int i)
{
    switch (ins[i].info.role) {
    case VIRTIO_INPUT_ROLE_KEYBOARD: return "kbd";
    case VIRTIO_INPUT_ROLE_MOUSE: return "mouse";
    case VIRTIO_INPUT_ROLE_TABLET: return "tablet";
    default: return "unknown";
    }
}

static int find_role(uint32_t role)
{
    int i;
    for (i = 0; i < ndev; i++)
        if (live[i] && ins[i].info.role == role) return i;
    return -1;
}

static void print_hex(const uint8_t *b, uint32_t n)
{
    uint32_t i;
    for (i = 0; i < n; i++) port_printf("%02x", b[i]);
}

static void report_device(int i)
{
    virtio_input *in = &ins[i];
    const virtio_input_info *f = &in->info;
    uint8_t bm[128], bm2[128];
    uint32_t n, t, c;
    port_printf("VT DEV %s transport=%s packed=%u role=%u ev=%x bus=%x vendor=%x product=%x version=%x "
                "qsize=%u free=%u props=",
                tag(i), vt_transport(&in->dev), in->eventq.packed, f->role, f->ev_types, f->bustype, f->vendor,
                f->product, f->version, in->eventq.size, in->eventq.num_free);
    print_hex(f->props, sizeof f->props);
    port_printf("\n");
    port_printf("VT NAME %s %s\n", tag(i), f->name);
    port_printf("VT SERIAL %s %s\n", tag(i), f->serial);
    for (t = 1; t <= VIRTIO_INPUT_EV_MAX; t++) {
        virtio_result r;
        memset(bm, 0, sizeof bm);
        r = virtio_input_query_bits(in, t, bm, &n);
        if (!(f->ev_types & (1u << t))) {
            VT_EXPECT(r, VIRTIO_ERR_UNSUPPORTED, "query_bits absent type");
            continue;
        }
        if (r != VIRTIO_OK) {
            VT_EXPECT(r, VIRTIO_OK, "query_bits");
            continue;
        }
        port_printf("VT BITS %s %u ", tag(i), t);
        print_hex(bm, n);
        port_printf("\n");
        /* has_code agrees with the bitmap for every code. */
        memset(bm2, 0, sizeof bm2);
        for (c = 0; c < 1024; c++) {
            int yes = virtio_input_has_code(in, t, c);
            if (yes == 1) bm2[c / 8] |= (uint8_t)(1u << (c % 8));
            else VT_CHECK(yes == 0, "has_code value", tag(i));
        }
        VT_CHECK(memcmp(bm, bm2, n) == 0, "has_code vs query_bits", tag(i));
        if (t == VIRTIO_INPUT_EV_ABS) {
            for (c = 0; c < n * 8 && c < 64; c++) {
                virtio_input_axis ax;
                if (!((bm[c / 8] >> (c % 8)) & 1u)) {
                    if (c < 0x40) VT_EXPECT(virtio_input_query_abs(in, c, &ax), VIRTIO_ERR_UNSUPPORTED,
                                            "query_abs absent axis");
                    continue;
                }
                if (virtio_input_query_abs(in, c, &ax) == VIRTIO_OK)
                    port_printf("VT ABS %s %u %d %d %d %d %d\n", tag(i), c, ax.min, ax.max, ax.fuzz, ax.flat,
                                ax.res);
                else
                    port_printf("VT FAIL query_abs %s axis %u\n", tag(i), c);
            }
        }
    }
}

/* The documented error codes, on real devices. */
static void check_errors(void)
{
    virtio_input dead, tmp;
    virtio_device notinput;
    virtio_input_ev ev, evs[4];
    virtio_input_axis ax;
    virtio_input_keys k;
    uint8_t bm[128];
    uint32_t n, u;
    int kb = find_role(VIRTIO_INPUT_ROLE_KEYBOARD), ms = find_role(VIRTIO_INPUT_ROLE_MOUSE),
        tb = find_role(VIRTIO_INPUT_ROLE_TABLET);
    char ch;

    memset(&dead, 0, sizeof dead);
    memset(&tmp, 0, sizeof tmp);
    VT_EXPECT(virtio_input_init(0, &devs[0], 0), VIRTIO_ERR_INVALID_ARG, "init NULL in");
    VT_EXPECT(virtio_input_init(&tmp, 0, 0), VIRTIO_ERR_INVALID_ARG, "init NULL dev");
    notinput = devs[0];
    notinput.device_id = VIRTIO_DEVICE_BLOCK;
    VT_EXPECT(virtio_input_init(&tmp, &notinput, 0), VIRTIO_ERR_NOT_FOUND, "init not input");
    VT_EXPECT(virtio_input_poll(&dead, &ev), VIRTIO_ERR_STATE, "poll uninitialised");
    VT_EXPECT(virtio_input_poll(0, &ev), VIRTIO_ERR_STATE, "poll NULL in");
    VT_EXPECT(virtio_input_read_report(&dead, evs, 4, &n), VIRTIO_ERR_STATE, "report uninitialised");
    VT_EXPECT(virtio_input_query_bits(&dead, 1, bm, &n), VIRTIO_ERR_STATE, "bits uninitialised");
    VT_EXPECT(virtio_input_query_abs(&dead, 0, &ax), VIRTIO_ERR_STATE, "abs uninitialised");
    VT_EXPECT(virtio_input_set_leds(&dead, 0), VIRTIO_ERR_STATE, "leds uninitialised");
    VT_EXPECT(virtio_input_set_leds(0, 0), VIRTIO_ERR_STATE, "leds NULL");
    VT_EXPECT(virtio_input_shutdown(&dead), VIRTIO_ERR_STATE, "shutdown uninitialised");
    VT_EXPECT(virtio_input_shutdown(0), VIRTIO_ERR_STATE, "shutdown NULL");
    VT_EXPECT(virtio_input_scale(0, 0, 10, &u), VIRTIO_ERR_INVALID_ARG, "scale NULL axis");
    ax.min = 0; ax.max = 100; ax.fuzz = ax.flat = ax.res = 0;
    VT_EXPECT(virtio_input_scale(&ax, 0, 10, 0), VIRTIO_OK, "scale NULL out");
    VT_EXPECT(virtio_input_scale(&ax, 0, 0, &u), VIRTIO_ERR_INVALID_ARG, "scale range 0");
    u = 99;
    VT_EXPECT(virtio_input_scale(&ax, -5, 11, &u), VIRTIO_OK, "scale below");
    VT_CHECK(u == 0, "scale clamps below", "");
    VT_EXPECT(virtio_input_scale(&ax, 500, 11, &u), VIRTIO_OK, "scale above");
    VT_CHECK(u == 10, "scale clamps above", "");
    ax.max = 0;
    VT_EXPECT(virtio_input_scale(&ax, 0, 10, &u), VIRTIO_ERR_INVALID_ARG, "scale empty axis");
    memset(&k, 0, sizeof k);
    ev.type = VIRTIO_INPUT_EV_KEY; ev.code = 30; ev.value = 1;
    VT_EXPECT(virtio_input_key_char(0, &ev, &ch), VIRTIO_ERR_INVALID_ARG, "key_char NULL keys");
    VT_EXPECT(virtio_input_key_char(&k, 0, &ch), VIRTIO_ERR_INVALID_ARG, "key_char NULL ev");
    VT_EXPECT(virtio_input_key_char(&k, &ev, 0), VIRTIO_OK, "key_char NULL ch");
    ev.type = VIRTIO_INPUT_EV_REL;
    VT_EXPECT(virtio_input_key_char(&k, &ev, &ch), VIRTIO_EMPTY, "key_char not a key");
    ev.type = VIRTIO_INPUT_EV_KEY; ev.code = 0x110;
    VT_EXPECT(virtio_input_key_char(&k, &ev, &ch), VIRTIO_EMPTY, "key_char button");

    if (kb >= 0) {
        virtio_input *in = &ins[kb];
        VT_EXPECT(virtio_input_poll(in, 0), VIRTIO_ERR_INVALID_ARG, "poll NULL ev");
        VT_EXPECT(virtio_input_read_report(in, 0, 4, &n), VIRTIO_ERR_INVALID_ARG, "report NULL evs");
        VT_EXPECT(virtio_input_read_report(in, evs, 0, &n), VIRTIO_ERR_INVALID_ARG, "report max 0");
        VT_EXPECT(virtio_input_query_bits(in, 0, bm, &n), VIRTIO_ERR_INVALID_ARG, "bits type 0");
        VT_EXPECT(virtio_input_query_bits(in, 32, bm, &n), VIRTIO_ERR_INVALID_ARG, "bits type 32");
        VT_EXPECT(virtio_input_query_bits(in, VIRTIO_INPUT_EV_KEY, 0, &n), VIRTIO_ERR_INVALID_ARG, "bits NULL");
        VT_EXPECT(virtio_input_query_bits(in, VIRTIO_INPUT_EV_KEY, bm, 0), VIRTIO_OK, "bits NULL n");
        VT_EXPECT(virtio_input_query_bits(in, VIRTIO_INPUT_EV_ABS, bm, &n), VIRTIO_ERR_UNSUPPORTED, "kbd abs bits");
        VT_EXPECT(virtio_input_query_bits(in, VIRTIO_INPUT_EV_REL, bm, &n), VIRTIO_ERR_UNSUPPORTED, "kbd rel bits");
        VT_CHECK(virtio_input_has_code(in, VIRTIO_INPUT_EV_ABS, 0) == 0, "has_code absent type", "kbd");
        VT_CHECK(virtio_input_has_code(in, VIRTIO_INPUT_EV_KEY, 1024) == 0, "has_code code 1024", "kbd");
        VT_CHECK(virtio_input_has_code(in, VIRTIO_INPUT_EV_KEY, 30) == 1, "has_code KEY_A", "kbd");
        VT_EXPECT(virtio_input_query_abs(in, 0, &ax), VIRTIO_ERR_UNSUPPORTED, "kbd query_abs");
        VT_EXPECT(virtio_input_query_abs(in, 0, 0), VIRTIO_ERR_INVALID_ARG, "query_abs NULL");
        VT_EXPECT(virtio_input_query_abs(in, 0x40, &ax), VIRTIO_ERR_INVALID_ARG, "query_abs axis 0x40");
        VT_EXPECT(virtio_input_poll(in, &ev), VIRTIO_EMPTY, "kbd poll idle");
        VT_EXPECT(virtio_input_read_report(in, evs, 4, &n), VIRTIO_EMPTY, "kbd report idle");
    } else {
        port_printf("VT FAIL no keyboard\n");
    }
    if (ms >= 0) {
        VT_EXPECT(virtio_input_set_leds(&ins[ms], 0), VIRTIO_ERR_UNSUPPORTED, "mouse leds");
        VT_EXPECT(virtio_input_query_abs(&ins[ms], 0, &ax), VIRTIO_ERR_UNSUPPORTED, "mouse query_abs");
    } else {
        port_printf("VT FAIL no mouse\n");
    }
    if (tb >= 0) {
        VT_EXPECT(virtio_input_set_leds(&ins[tb], 0), VIRTIO_ERR_UNSUPPORTED, "tablet leds");
    } else {
        port_printf("VT FAIL no tablet\n");
    }
    port_printf("VT ERRORS checked\n");
}

/* init + shutdown gives all memory back (the port's pool frees LIFO). */
static void check_lifecycle(void)
{
    size_t before = port_dma_free_bytes();
    virtio_input tmp;
    if (!ndev) return;
    memset(&tmp, 0, sizeof tmp);   /* zero-filled before its first init */
    /* A second driver on a device already in use would disturb it: use
       the device of index 0 and initialise it again afterwards. */
    VT_EXPECT(virtio_input_init(&ins[0], &devs[0], 0), VIRTIO_ERR_STATE, "init while running");
    VT_EXPECT(virtio_input_shutdown(&ins[0]), VIRTIO_OK, "shutdown");
    VT_EXPECT(virtio_input_shutdown(&ins[0]), VIRTIO_ERR_STATE, "shutdown twice");
    memset(&tmp, 0, sizeof tmp);
    before = port_dma_free_bytes();
    VT_EXPECT(virtio_input_init(&tmp, &devs[0], 0), VIRTIO_OK, "init tmp");
    VT_EXPECT(virtio_input_shutdown(&tmp), VIRTIO_OK, "shutdown tmp");
    port_printf("VT MEMORY before=%u after=%u\n", (unsigned)before, (unsigned)port_dma_free_bytes());
    VT_CHECK(before == port_dma_free_bytes(), "init + shutdown leaks DMA memory", "input");
    VT_EXPECT(virtio_input_init(&ins[0], &devs[0], 0), VIRTIO_OK, "init again");
}

static void set_leds_checked(uint32_t bits, const char *what)
{
    int round;
    uint32_t waits = 0;
    virtio_result r = VIRTIO_OK;
    int kb = find_role(VIRTIO_INPUT_ROLE_KEYBOARD);
    if (kb < 0) return;
    /* Eight updates: more than the status queue holds at once, so each
       one has to wait until the device took the ones before. */
    for (round = 0; round < 8; round++) {
        uint64_t end = port_now_us() + 2000000u;
        while ((r = virtio_input_set_leds(&ins[kb], bits)) == VIRTIO_ERR_NO_SPACE && port_now_us() < end) waits++;
        if (r != VIRTIO_OK) break;
    }
    leds = bits;
    port_printf("VT %s %x %s waits=%u\n", what, bits, virtio_result_str(r), waits);
}

static void on_event(int i, const virtio_input_ev *ev, int quiet)
{
    char ch;
    if (quiet) {
        if (nlog < LOG_MAX) {
            logbuf[nlog].dev = (uint8_t)i;
            logbuf[nlog].ev = *ev;
            nlog++;
        } else {
            log_over++;
        }
    } else {
        port_printf("VT EV %s %u %u %d\n", tag(i), ev->type, ev->code, ev->value);
    }
    if (ev->type == VIRTIO_INPUT_EV_ABS && ev->code <= VIRTIO_INPUT_ABS_Y && !quiet) {
        /* Where a pointer on a SCREEN_W x SCREEN_H screen goes. */
        uint32_t at = 0;
        VT_EXPECT(virtio_input_scale(&axes[i][ev->code], ev->value, ev->code ? SCREEN_H : SCREEN_W, &at), VIRTIO_OK,
                  "scale");
        port_printf("VT SCALED %s %u %d %u\n", tag(i), ev->code, ev->value, at);
    }
    if (ins[i].info.role != VIRTIO_INPUT_ROLE_KEYBOARD) return;
    if (virtio_input_key_char(&keys, ev, &ch) == VIRTIO_OK) {
        if (ch == '\n') {
            port_printf("VT LINE ");
            print_hex((const uint8_t *)line, line_len);
            port_printf("\n");
            line_len = 0;
        } else if (line_len < sizeof line) {
            line[line_len++] = ch;
        }
    }
    if (((leds & VIRTIO_INPUT_LEDS_CAPS) != 0) != (keys.caps != 0))
        set_leds_checked(keys.caps ? (leds | VIRTIO_INPUT_LEDS_CAPS) : (leds & ~VIRTIO_INPUT_LEDS_CAPS), "CAPSLED");
}

static void reinit(uint32_t role)
{
    int i = find_role(role);
    virtio_result r;
    if (i < 0) {
        port_printf("VT FAIL reinit: no such device\n");
        return;
    }
    VT_EXPECT(virtio_input_shutdown(&ins[i]), VIRTIO_OK, "reinit shutdown");
    r = virtio_input_init(&ins[i], &devs[i], 0);
    if (r != VIRTIO_OK) live[i] = 0;
    else if (role == VIRTIO_INPUT_ROLE_TABLET) {
        VT_EXPECT(virtio_input_query_abs(&ins[i], VIRTIO_INPUT_ABS_X, &axes[i][0]), VIRTIO_OK, "abs x");
        VT_EXPECT(virtio_input_query_abs(&ins[i], VIRTIO_INPUT_ABS_Y, &axes[i][1]), VIRTIO_OK, "abs y");
    }
    port_printf("VT REINIT %s %s free=%u\n", tag(i), virtio_result_str(r), ins[i].eventq.num_free);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static void final_checks(void)
{
    int i;
    for (i = 0; i < ndev; i++) {
        virtio_input_ev ev;
        if (!live[i]) continue;
        /* Everything was taken: every buffer is posted again. */
        VT_EXPECT(virtio_input_poll(&ins[i], &ev), VIRTIO_EMPTY, "poll at end");
        port_printf("VT STAT %s dropped=%u free=%u nbuf=%u\n", tag(i), ins[i].dropped, ins[i].eventq.num_free,
                    ins[i].priv.nbuf);
        VT_CHECK(ins[i].eventq.num_free == ins[i].eventq.size - ins[i].priv.nbuf, "event queue not full", tag(i));
        VT_EXPECT(virtio_input_shutdown(&ins[i]), VIRTIO_OK, "shutdown");
    }
}

/* Take every event waiting on every device. */
static void service(int quiet, int reports)
{
    int i;
    for (i = 0; i < ndev; i++) {
        virtio_input_ev ev, evs[64];
        uint32_t n, k;
        virtio_result r;
        if (!live[i]) continue;
        if (!reports) {
            while ((r = virtio_input_poll(&ins[i], &ev)) == VIRTIO_OK) on_event(i, &ev, quiet);
            if (r != VIRTIO_EMPTY) port_printf("VT FAIL poll %s %s\n", tag(i), virtio_result_str(r));
            continue;
        }
        for (;;) {
            r = virtio_input_read_report(&ins[i], evs, 8, &n);
            if (r == VIRTIO_ERR_TOO_BIG) {
                port_printf("VT TOOBIG %s\n", tag(i));
                r = virtio_input_read_report(&ins[i], evs, 64, &n);
            }
            if (r != VIRTIO_OK) break;
            port_printf("VT RPT %s %u\n", tag(i), n);
            for (k = 0; k < n; k++) on_event(i, &evs[k], quiet);
        }
        if (r != VIRTIO_EMPTY) port_printf("VT FAIL report %s %s\n", tag(i), virtio_result_str(r));
    }
}

int main(void)
{
    int i, quiet = 0, paused = 0, reports = 0;
    uint64_t idle_end;
    port_pci_setup();
    ndev = vt_find(VIRTIO_DEVICE_INPUT, devs, VT_MAX_DEVS);
    if (ndev > NDEV) ndev = NDEV;
    port_printf("VT DEVICES %d\n", ndev);
    for (i = 0; i < ndev; i++) {
        virtio_result r = virtio_input_init(&ins[i], &devs[i], 0);
        if (r != VIRTIO_OK) {
            port_printf("VT FAIL init %d %s\n", i, virtio_result_str(r));
            continue;
        }
        live[i] = 1;
    }
    check_lifecycle();
    for (i = 0; i < ndev; i++) {
        if (!live[i]) continue;
        report_device(i);
        if (ins[i].info.role == VIRTIO_INPUT_ROLE_TABLET) {
            VT_EXPECT(virtio_input_query_abs(&ins[i], VIRTIO_INPUT_ABS_X, &axes[i][0]), VIRTIO_OK, "abs x");
            VT_EXPECT(virtio_input_query_abs(&ins[i], VIRTIO_INPUT_ABS_Y, &axes[i][1]), VIRTIO_OK, "abs y");
        }
    }
    check_errors();
    port_printf("VT READY\n");
    /* The host talks to us within a minute; a guest left alone ends. */
    idle_end = port_now_us() + 60000000u;
    for (;;) {
        int c = port_getc();
        if (c >= 0) {
            idle_end = port_now_us() + 60000000u;
            if (c == 'x') break;
            switch (c) {
            case 'e': quiet = 0; port_printf("VT ECHO\n"); break;
            case 'q': quiet = 1; nlog = log_over = 0; port_printf("VT QUIET\n"); break;
            case 'd': {
                uint32_t k;
                /* Whatever QEMU had delivered when the host asked is in. */
                service(quiet, reports);
                for (k = 0; k < nlog; k++)
                    port_printf("VT EV %s %u %u %d\n", tag(logbuf[k].dev), logbuf[k].ev.type, logbuf[k].ev.code,
                                logbuf[k].ev.value);
                port_printf("VT DUMP %u over=%u\n", nlog, log_over);
                nlog = log_over = 0;
                break;
            }
            case 'g':
                service(quiet, reports);
                port_printf("VT GOT %u\n", nlog);
                break;
            case 'p': paused = 1; port_printf("VT PAUSED\n"); break;
            case 'r': paused = 0; port_printf("VT RESUMED\n"); break;
            case 'R': reports = 1; port_printf("VT REPORTS\n"); break;
            case 'P': reports = 0; port_printf("VT POLLING\n"); break;
            case 'c':
                line_len = 0;
                memset(&keys, 0, sizeof keys);
                port_printf("VT CLEARED\n");
                break;
            case 'l': {
                int h = -1;
                uint64_t end = port_now_us() + 1000000u;
                while (h < 0 && port_now_us() < end) h = port_getc();
                if (hexval(h) < 0) port_printf("VT FAIL bad led mask\n");
                else set_leds_checked((uint32_t)hexval(h), "LEDS");
                break;
            }
            case 'm': reinit(VIRTIO_INPUT_ROLE_MOUSE); break;
            case 't': reinit(VIRTIO_INPUT_ROLE_TABLET); break;
            default: break;
            }
        } else if (port_now_us() > idle_end) {
            port_printf("VT FAIL host went quiet\n");
            break;
        }
        if (!paused) service(quiet, reports);
    }
    final_checks();
    port_printf("VT END %d\n", vt_failures);
    return vt_failures != 0;
}
