/* input_echo.c - type on a VirtIO keyboard, move a VirtIO mouse or tablet,
 * and watch it on the serial console.
 *
 * Shows virtio_input.h on a bare-metal port: finding every virtio-input
 * device (virtio-mmio and PCI), telling keyboards, mice and tablets apart
 * (info.role), turning key events into text with the US-layout helper
 * (shift, caps lock, ctrl), driving the caps lock LED through the status
 * queue, grouping pointer events into reports (virtio_input_read_report)
 * and mapping tablet coordinates onto a screen with ABS_INFO
 * (virtio_input_query_abs + virtio_input_scale). Typed text is echoed;
 * each pointer report prints one line. Ctrl+D powers the machine off.
 *
 * With a QEMU window (x86_64: q35 has a VGA display; riscv64 and aarch64
 * need one, e.g. -device ramfb): type into the window.
 *
 *   make build/x86_64/input_echo.elf
 *   qemu-system-x86_64 -machine q35 -m 256M -serial stdio -monitor none \
 *       -device isa-debug-exit,iobase=0xf4,iosize=4 -nic none \
 *       -device virtio-keyboard-pci -device virtio-mouse-pci \
 *       -device virtio-tablet-pci -kernel build/x86_64/input_echo.elf
 *
 * Headless, with the monitor on a second terminal (telnet 127.0.0.1 4444,
 * then e.g. "sendkey shift-h", "sendkey i", "sendkey ret",
 * "mouse_move 100 200", "mouse_button 1"):
 *
 *   make build/riscv64/input_echo.elf
 *   qemu-system-riscv64 -machine virt -bios none -m 256M -display none \
 *       -serial stdio -nic none -monitor telnet:127.0.0.1:4444,server=on,wait=off \
 *       -device virtio-keyboard-device -device virtio-tablet-device \
 *       -kernel build/riscv64/input_echo.elf
 *
 * (QEMU gives mouse buttons to the pointing device the guest activated
 * last, and HMP mouse_move moves the tablet while one is active.)
 */
#define VIRTIO_IMPLEMENTATION   /* this file emits the library */
#include "port/port.h"
#include "../virtio_input.h"

#define MAX_DEVS 8
#define SCREEN_W 1024u
#define SCREEN_H 768u

static virtio_input devs[MAX_DEVS];
static virtio_input_axis axis[MAX_DEVS][2];
static int ndevs;
static int mid_line;   /* typed text on the current line */

static void add_device(const virtio_device *d)
{
    virtio_input *in = &devs[ndevs];
    static const char *const roles[] = { "unknown", "keyboard", "mouse", "tablet" };
    virtio_result r = virtio_input_init(in, d, 0);
    if (r != VIRTIO_OK) {
        port_printf("virtio-input: %s\n", virtio_result_str(r));
        return;
    }
    port_printf("%s: %s%s%s\n", roles[in->info.role], in->info.name, in->info.serial[0] ? ", serial " : "",
                in->info.serial);
    if (in->info.role == VIRTIO_INPUT_ROLE_TABLET &&
        (virtio_input_query_abs(in, VIRTIO_INPUT_ABS_X, &axis[ndevs][0]) != VIRTIO_OK ||
         virtio_input_query_abs(in, VIRTIO_INPUT_ABS_Y, &axis[ndevs][1]) != VIRTIO_OK)) {
        port_printf("  (no usable X/Y ranges: ignored)\n");
        virtio_input_shutdown(in);
        return;
    }
    ndevs++;
}

static void find_devices(void)
{
    virtio_device d[MAX_DEVS];
    int i, n;
    port_pci_setup();
    n = port_find_devices(VIRTIO_DEVICE_INPUT, d, MAX_DEVS);
    for (i = 0; i < n; i++) add_device(&d[i]);
}

static void new_line(void)
{
    if (mid_line) port_putc('\n');
    mid_line = 0;
}

/* Keyboard: text, and the caps lock LED. Returns 0 on Ctrl+D. */
static int keyboard(virtio_input *in, virtio_input_keys *keys, uint32_t *leds)
{
    virtio_input_ev ev;
    char c;
    while (virtio_input_poll(in, &ev) == VIRTIO_OK) {
        if (virtio_input_key_char(keys, &ev, &c) == VIRTIO_OK) {
            if (c == 4) return 0;                 /* Ctrl+D */
            if (c == '\b') {
                port_puts("\b \b");
            } else if (c == '\n') {
                port_putc('\n');
                mid_line = 0;
            } else if (c == '\t' || (unsigned char)c >= ' ') {
                port_putc(c);
                mid_line = 1;
            }
        }
    }
    /* The LED follows caps lock; if the device is still busy with an
       earlier update, this is tried again on the next round. */
    if (((*leds & VIRTIO_INPUT_LEDS_CAPS) != 0) != (keys->caps != 0)) {
        uint32_t want = keys->caps ? VIRTIO_INPUT_LEDS_CAPS : 0;
        if (virtio_input_set_leds(in, want) == VIRTIO_OK) *leds = want;
    }
    return 1;
}

static void buttons(const virtio_input_ev *ev)
{
    static const char *const names[] = { "left", "right", "middle", "side", "extra" };
    if (ev->type == VIRTIO_INPUT_EV_KEY && ev->code >= VIRTIO_INPUT_BTN_LEFT && ev->code < VIRTIO_INPUT_BTN_LEFT + 5)
        port_printf(" %s %s", names[ev->code - VIRTIO_INPUT_BTN_LEFT], ev->value ? "down" : "up");
}

/* Mouse: one line per report, moving a pointer kept on the screen. */
static void mouse(virtio_input *in, int32_t *px, int32_t *py)
{
    virtio_input_ev evs[64];
    uint32_t n, i;
    while (virtio_input_read_report(in, evs, 64, &n) == VIRTIO_OK) {
        int32_t dx = 0, dy = 0, wheel = 0;
        for (i = 0; i < n; i++) {
            if (evs[i].type != VIRTIO_INPUT_EV_REL) continue;
            if (evs[i].code == VIRTIO_INPUT_REL_X) dx += evs[i].value;
            if (evs[i].code == VIRTIO_INPUT_REL_Y) dy += evs[i].value;
            if (evs[i].code == VIRTIO_INPUT_REL_WHEEL) wheel += evs[i].value;
        }
        *px += dx;
        *py += dy;
        *px = *px < 0 ? 0 : *px >= (int32_t)SCREEN_W ? (int32_t)SCREEN_W - 1 : *px;
        *py = *py < 0 ? 0 : *py >= (int32_t)SCREEN_H ? (int32_t)SCREEN_H - 1 : *py;
        new_line();
        port_printf("[mouse] pointer at %d,%d", *px, *py);
        if (dx || dy) port_printf(" (moved %d,%d)", dx, dy);
        if (wheel) port_printf(" wheel %d", wheel);
        for (i = 0; i < n; i++) buttons(&evs[i]);
        port_putc('\n');
    }
}

/* Tablet: absolute positions scaled to the screen. */
static void tablet(virtio_input *in, const virtio_input_axis ax[2], uint32_t *x, uint32_t *y)
{
    virtio_input_ev evs[64];
    uint32_t n, i;
    while (virtio_input_read_report(in, evs, 64, &n) == VIRTIO_OK) {
        int32_t wheel = 0;
        for (i = 0; i < n; i++) {
            if (evs[i].type == VIRTIO_INPUT_EV_REL && evs[i].code == VIRTIO_INPUT_REL_WHEEL) wheel += evs[i].value;
            if (evs[i].type != VIRTIO_INPUT_EV_ABS) continue;
            if (evs[i].code == VIRTIO_INPUT_ABS_X) virtio_input_scale(&ax[0], evs[i].value, SCREEN_W, x);
            if (evs[i].code == VIRTIO_INPUT_ABS_Y) virtio_input_scale(&ax[1], evs[i].value, SCREEN_H, y);
        }
        new_line();
        port_printf("[tablet] pointer at %u,%u of %ux%u", *x, *y, SCREEN_W, SCREEN_H);
        if (wheel) port_printf(" wheel %d", wheel);
        for (i = 0; i < n; i++) buttons(&evs[i]);
        port_putc('\n');
    }
}

int main(void)
{
    virtio_input_keys keys[MAX_DEVS];
    uint32_t leds[MAX_DEVS], tx = 0, ty = 0;
    int32_t mx = SCREEN_W / 2, my = SCREEN_H / 2;
    int i;
    port_printf("input_echo on %s\n", port_arch());
    find_devices();
    if (!ndevs) {
        port_printf("no virtio-input devices: add -device virtio-keyboard-pci (or -device on mmio)\n");
        return 1;
    }
    memset(keys, 0, sizeof keys);
    memset(leds, 0, sizeof leds);
    port_printf("type away (Ctrl+D ends)\n");
    for (;;) {
        for (i = 0; i < ndevs; i++) {
            switch (devs[i].info.role) {
            case VIRTIO_INPUT_ROLE_KEYBOARD:
                if (!keyboard(&devs[i], &keys[i], &leds[i])) {
                    new_line();
                    port_printf("bye\n");
                    for (i = 0; i < ndevs; i++) virtio_input_shutdown(&devs[i]);
                    return 0;
                }
                break;
            case VIRTIO_INPUT_ROLE_MOUSE: mouse(&devs[i], &mx, &my); break;
            case VIRTIO_INPUT_ROLE_TABLET: tablet(&devs[i], axis[i], &tx, &ty); break;
            default: {
                virtio_input_ev ev;
                while (virtio_input_poll(&devs[i], &ev) == VIRTIO_OK) {}
            }
            }
        }
    }
}
