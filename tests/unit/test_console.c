/* test_console.c - virtio_console.h against the software device model.
 *
 * On every transport (MMIO v2 and v1, PCI modern, transitional, legacy),
 * ring format and with and without MULTIPORT: what the driver learns about
 * the ports matches what the model says (present, console, open, names,
 * sizes); bytes written reach the model's host end exactly and in order,
 * bytes the model sends come back exactly and in order, in bursts far
 * larger than the buffers, to the right port; the emergency write lands
 * in the model's log (NUL included); size changes and port hot-plug are
 * reported by refresh. Then notification batching (VIRTIO_MORE), a device
 * that stops taking buffers (NO_SPACE, bounded TIMEOUT, flush), bounded
 * blocking reads, hostile control messages, a broken ring, zero-length
 * buffers forever, NEEDS_RESET, a reset that never finishes, allocation
 * failures, bad input, and the MEMORY figures. Every test ends with no
 * model bugs, no mappings and (after shutdown) no allocations.
 */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_console.h"
#include "model.h"
#include "model_console.h"
#include "unit.h"

typedef struct cenv {
    model_bus *bus;
    model *m;
    virtio_device dev;
    virtio_console con;
} cenv;

static int is_legacy(uint32_t t)
{
    return t == MODEL_MMIO_LEGACY || t == MODEL_PCI_LEGACY;
}

static virtio_result env_new(cenv *e, uint32_t transport, uint32_t mode, const model_console_options *co)
{
    model_options mo;
    model_console_options def;
    memset(e, 0, sizeof *e);
    if (!co) {
        model_console_options_init(&def);
        co = &def;
    }
    e->bus = model_bus_new();
    model_options_init(&mo, transport);
    mo.mode = mode;
    e->m = model_console_new(e->bus, &mo, co);
    if (!e->m) return VIRTIO_ERR_NOT_FOUND;
    return model_probe(e->m, &e->dev, 0);
}

static void env_down(cenv *e)
{
    if (e->con.priv.magic) CHECK_EQ(virtio_console_shutdown(&e->con), VIRTIO_OK);
    CHECK_EQ(e->bus->stats.bugs, 0);
    if (e->bus->stats.bugs) fprintf(stderr, "  model: %s\n", model_bus_last_bug(e->bus));
    CHECK_EQ(e->bus->stats.live_maps, 0);
    CHECK_EQ(e->bus->stats.live_allocs, 0);
    CHECK_EQ(e->bus->stats.unordered_frees, 0);   /* newest first */
    model_bus_free(e->bus);
}

static uint8_t pat(uint32_t seed, size_t i)
{
    return (uint8_t)((i * 131u) ^ (i >> 8) ^ seed);
}

static void fill_pat(uint8_t *b, size_t n, uint32_t seed)
{
    size_t i;
    for (i = 0; i < n; i++) b[i] = pat(seed, i);
}

/* The model's host end of `port` holds exactly pattern `seed` of n bytes
   from byte `from` on. */
static int output_is(cenv *e, uint32_t port, size_t from, size_t n, uint32_t seed)
{
    size_t len, i;
    const uint8_t *out = model_console_output(e->m, port, &len);
    if (len != from + n) {
        fprintf(stderr, "  port %u: %zu bytes at the host, want %zu\n", port, len, from + n);
        return 0;
    }
    for (i = 0; i < n; i++)
        if (out[from + i] != pat(seed, i)) {
            fprintf(stderr, "  port %u: byte %zu differs\n", port, i);
            return 0;
        }
    return 1;
}

/* Read n bytes with non-blocking reads of `chunk`; 1 if they are pattern
   `seed`, in order. */
static int read_back(cenv *e, uint32_t port, size_t n, size_t chunk, uint32_t seed)
{
    uint8_t buf[4096];
    size_t done = 0, got, i;
    uint32_t empties = 0;
    while (done < n && empties < 8) {
        virtio_result r = virtio_console_read(&e->con, port, buf, chunk, 0, &got);
        if (r == VIRTIO_EMPTY) {
            empties++;
            continue;
        }
        if (r != VIRTIO_OK || got > chunk) return 0;
        for (i = 0; i < got; i++)
            if (done + i >= n || buf[i] != pat(seed, done + i)) {
                fprintf(stderr, "  port %u: byte %zu of what was read differs\n", port, done + i);
                return 0;
            }
        done += got;
    }
    if (done != n) fprintf(stderr, "  port %u: read %zu bytes, want %zu\n", port, done, n);
    return done == n;
}

/* >>console.matrix */
static void basic(uint32_t transport, uint32_t ring, int multiport)
{
    static uint8_t big[10000];
    cenv e;
    model_console_options co;
    virtio_console_options o;
    size_t sent = 0, len;
    uint32_t changed = 0, p, nports = multiport ? 3 : 1;
    model_console_options_init(&co);
    CHECK_EQ(env_new(&e, transport, MODEL_IMMEDIATE, &co), VIRTIO_OK);
    CHECK_EQ(model_console_add_port(e.m, 1, 0, "vt.port1"), 0);
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    o.ports = nports;
    o.no_multiport = !multiport;
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, &o), VIRTIO_OK);
    if (!e.con.priv.magic) {
        env_down(&e);
        return;
    }
    CHECK_EQ(e.con.dev.priv.ring, ring);
    /* What the driver knows equals what the model says. */
    CHECK_EQ(e.con.info.multiport, multiport);
    CHECK_EQ(e.con.info.max_ports, multiport ? 4 : 1);
    CHECK_EQ(e.con.info.ports, nports);
    CHECK_EQ(e.con.info.emerg_write, 1);
    CHECK_EQ(e.con.info.size, 1);
    CHECK_EQ(e.con.info.cols, 80);
    CHECK_EQ(e.con.info.rows, 25);
    CHECK_EQ(e.con.port[0].present, 1);
    CHECK_EQ(e.con.port[0].console, 1);
    CHECK_EQ(e.con.port[0].host_open, 1);
    CHECK_EQ(e.con.dropped, 0);
    if (multiport) {
        CHECK_EQ(e.con.port[0].guest_open, 1);
        CHECK_EQ(e.con.port[1].present, 1);
        CHECK_EQ(e.con.port[1].console, 0);
        CHECK_EQ(e.con.port[1].host_open, 1);
        CHECK_EQ(e.con.port[1].guest_open, 1);
        CHECK(strcmp(e.con.port[1].name, "vt.port1") == 0);
        CHECK_EQ(e.con.port[2].present, 0);
        for (p = 0; p < 2; p++) {
            CHECK_EQ(model_console_port_state(e.m, p)->ready, 1);
            CHECK_EQ(model_console_port_state(e.m, p)->guest_open, 1);
        }
        CHECK_EQ(model_console_get_stats(e.m)->device_ready, 1);
        CHECK_EQ(e.con.last_status, (6u << 16) | 1u);   /* PORT_OPEN 1 came last */
    } else {
        CHECK_EQ(model_console_get_stats(e.m)->ctrl_from_driver, 0);
        CHECK_EQ(e.con.last_status, VIRTIO_CONSOLE_STATUS_NONE);
    }
    for (p = 0; p < nports; p++) {
        uint32_t seed = 7 + p;
        if (!e.con.port[p].present) continue;
        /* A short line, then a burst of 10000 bytes (about 40 buffers). */
        CHECK_EQ(virtio_console_write(&e.con, p, "hello", 5, VIRTIO_CONSOLE_WAIT, &sent), VIRTIO_OK);
        CHECK_EQ(sent, 5);
        CHECK(memcmp(model_console_output(e.m, p, &len), "hello", 5) == 0);
        fill_pat(big, sizeof big, seed);
        CHECK_EQ(virtio_console_write(&e.con, p, big, sizeof big, VIRTIO_CONSOLE_WAIT, &sent), VIRTIO_OK);
        CHECK_EQ(sent, sizeof big);
        CHECK(output_is(&e, p, 5, sizeof big, seed));
        CHECK_EQ(e.con.port[p].tx_bytes, 5 + sizeof big);
        /* Host to guest: 10000 bytes, read back in pieces of 100. */
        CHECK_EQ(model_console_send(e.m, p, big, sizeof big), 0);
        CHECK(read_back(&e, p, sizeof big, 100, seed));
        CHECK_EQ(model_console_pending(e.m, p), 0);
        CHECK_EQ(e.con.port[p].rx_bytes, sizeof big);
    }
    CHECK(model_console_get_stats(e.m)->tx_buffers >= (multiport ? 2 : 1) * (1 + sizeof big / 256));
    CHECK_EQ(model_console_get_stats(e.m)->tx_discarded, 0);
    /* Emergency write, NUL included: to QEMU, which takes the byte at the
       field's lowest address (a big-endian guest's high byte on legacy
       interfaces), and to a device that takes the value's low byte. */
    CHECK_EQ(virtio_console_emerg_write(&e.con, "E\0x", 3), VIRTIO_OK);
    model_console_get_knobs(e.m)->emerg_first_byte = 0;
    CHECK_EQ(virtio_console_emerg_write(&e.con, "E\0x", 3), VIRTIO_OK);
    CHECK(memcmp(model_console_emerg(e.m, &len), "E\0xE\0x", 6) == 0);
    CHECK_EQ(len, 6);
    /* Size changes. */
    CHECK_EQ(virtio_console_refresh(&e.con, &changed), VIRTIO_OK);
    CHECK_EQ(changed, 0);
    model_console_set_size(e.m, 132, 43);
    CHECK_EQ(virtio_console_refresh(&e.con, &changed), VIRTIO_OK);
    CHECK_EQ(changed, VIRTIO_CONSOLE_CHANGED_SIZE);
    CHECK_EQ(e.con.info.cols, 132);
    CHECK_EQ(e.con.info.rows, 43);
    if (multiport) {
        CHECK_EQ(model_console_resize(e.m, 1, 100, 30), 0);
        CHECK_EQ(virtio_console_refresh(&e.con, &changed), VIRTIO_OK);
        CHECK_EQ(changed, VIRTIO_CONSOLE_CHANGED_SIZE);
        CHECK_EQ(e.con.port[1].cols, 100);
        CHECK_EQ(e.con.port[1].rows, 30);
    }
    CHECK_EQ(virtio_console_refresh(&e.con, &changed), VIRTIO_OK);
    CHECK_EQ(changed, 0);
    CHECK_EQ(virtio_console_shutdown(&e.con), VIRTIO_OK);
    CHECK_EQ(model_status(e.m), 0);
    env_down(&e);
}

static void matrix(void)
{
    static const struct { uint32_t t; const char *name; } tr[] = {
        { MODEL_MMIO, "mmio" }, { MODEL_MMIO_LEGACY, "mmio-legacy" }, { MODEL_PCI_MODERN, "pci-modern" },
        { MODEL_PCI_TRANSITIONAL, "pci-transitional" }, { MODEL_PCI_LEGACY, "pci-legacy" },
    };
    unsigned t, ring;
    int mp;
    char label[128];
    for (t = 0; t < sizeof tr / sizeof tr[0]; t++)
        for (ring = VIRTIO_RING_SPLIT; ring <= VIRTIO_RING_PACKED; ring++)
            for (mp = 0; mp < 2; mp++) {
                if (is_legacy(tr[t].t) && ring == VIRTIO_RING_PACKED) continue;
                snprintf(label, sizeof label, "console ports, bytes both ways, size, emergency, %s %s %s", tr[t].name,
                         ring == VIRTIO_RING_PACKED ? "packed" : "split", mp ? "multiport" : "port 0 only");
                RUN(basic(tr[t].t, ring, mp), label);
            }
}

/* Ports come and go, open and close at the host end, after init. */
/* A console without port 0's transmit queue, or whose configuration
   window ends before max_ports: VIRTIO_ERR_DEVICE from init
   (virtio_device_fault); honest again, it works. */
static void init_device_faults(void)
{
    cenv e;
    model_options mo;
    model_console_options co;
    model_pci_layout l;
    memset(&e, 0, sizeof e);
    e.bus = model_bus_new();
    model_options_init(&mo, MODEL_PCI_MODERN);
    model_console_options_init(&co);
    e.m = model_console_new(e.bus, &mo, &co);
    model_set_queue_max(e.m, 1, 0);   /* port 0: no transmit queue */
    CHECK_EQ(model_probe(e.m, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, 0), VIRTIO_ERR_DEVICE);
    model_set_queue_max(e.m, 1, co.queue_size);
    CHECK_EQ(model_pci_layout_get(e.m, &l), 0);
    l.cap[MODEL_CAP_DEVICE].length = 4;   /* cols and rows; max_ports is at 4 */
    CHECK_EQ(model_pci_layout_set(e.m, &l), 0);
    CHECK_EQ(model_probe(e.m, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, 0), VIRTIO_ERR_DEVICE);
    model_pci_layout_reset(e.m);
    CHECK_EQ(model_probe(e.m, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, 0), VIRTIO_OK);
    env_down(&e);
}

static void hotplug(void)
{
    cenv e;
    virtio_console_options o;
    uint8_t buf[16];
    size_t got = 0;
    uint32_t changed = 0;
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    memset(&o, 0, sizeof o);
    o.ports = 4;
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, &o), VIRTIO_OK);
    CHECK_EQ(virtio_console_refresh(&e.con, &changed), VIRTIO_OK);
    CHECK_EQ(changed, 0);   /* what init saw is not news */
    CHECK_EQ(e.con.port[2].present, 0);
    CHECK_EQ(model_console_add_port(e.m, 2, 1, "hot"), 0);
    CHECK_EQ(virtio_console_refresh(&e.con, &changed), VIRTIO_OK);
    CHECK_EQ(changed, VIRTIO_CONSOLE_CHANGED_PORTS);
    CHECK_EQ(e.con.port[2].present, 1);
    CHECK_EQ(e.con.port[2].console, 1);
    CHECK(strcmp(e.con.port[2].name, "hot") == 0);
    CHECK_EQ(model_console_port_state(e.m, 2)->ready, 1);
    CHECK_EQ(model_console_port_state(e.m, 2)->guest_open, 1);
    CHECK_EQ(model_console_send(e.m, 2, "xyz", 3), 0);
    CHECK_EQ(virtio_console_read(&e.con, 2, buf, sizeof buf, 0, &got), VIRTIO_OK);
    CHECK(got == 3 && memcmp(buf, "xyz", 3) == 0);
    /* Host end closed: seen, and what is written meanwhile is dropped by
       the device (as QEMU does), not by the driver. */
    CHECK_EQ(model_console_host_open(e.m, 2, 0), 0);
    CHECK_EQ(virtio_console_refresh(&e.con, &changed), VIRTIO_OK);
    CHECK_EQ(changed, VIRTIO_CONSOLE_CHANGED_PORTS);
    CHECK_EQ(e.con.port[2].host_open, 0);
    CHECK_EQ(virtio_console_write(&e.con, 2, "lost", 4, VIRTIO_CONSOLE_WAIT, &got), VIRTIO_OK);
    CHECK_EQ(model_console_get_stats(e.m)->tx_discarded, 4);
    CHECK_EQ(model_console_host_open(e.m, 2, 1), 0);
    CHECK_EQ(virtio_console_write(&e.con, 2, "kept", 4, VIRTIO_CONSOLE_WAIT, &got), VIRTIO_OK);
    CHECK(e.con.port[2].host_open == 1 && memcmp(model_console_output(e.m, 2, 0), "kept", 4) == 0);
    /* Removed: everything about it is forgotten; added again: fresh. */
    CHECK_EQ(model_console_remove_port(e.m, 2), 0);
    CHECK_EQ(virtio_console_refresh(&e.con, &changed), VIRTIO_OK);
    CHECK_EQ(changed, VIRTIO_CONSOLE_CHANGED_PORTS);
    CHECK(e.con.port[2].present == 0 && e.con.port[2].console == 0 && e.con.port[2].name[0] == 0);
    CHECK_EQ(model_console_add_port(e.m, 2, 0, 0), 0);
    CHECK_EQ(virtio_console_refresh(&e.con, &changed), VIRTIO_OK);
    CHECK(e.con.port[2].present == 1 && e.con.port[2].console == 0 && e.con.port[2].host_open == 1);
    /* A port beyond what the driver serves is left alone. */
    CHECK_EQ(e.con.info.ports, 4);
    env_down(&e);
}

/* 31 ports, the driver serves 2: the others stay unanswered, and every
   DEVICE_ADD found a buffer even with QEMU's habit of dropping messages
   that find none. */
static void many_ports(void)
{
    cenv e;
    model_console_options co;
    virtio_console_options o;
    uint32_t p;
    model_console_options_init(&co);
    co.max_ports = 31;
    CHECK_EQ(env_new(&e, MODEL_MMIO, MODEL_IMMEDIATE, &co), VIRTIO_OK);
    for (p = 1; p < 31; p++) CHECK_EQ(model_console_add_port(e.m, p, 0, "p"), 0);
    model_console_get_knobs(e.m)->drop_control = 1;
    memset(&o, 0, sizeof o);
    o.ports = 2;
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, &o), VIRTIO_OK);
    CHECK_EQ(model_console_get_stats(e.m)->ctrl_dropped, 0);
    CHECK_EQ(e.con.info.max_ports, 31);
    CHECK_EQ(e.con.info.ports, 2);
    CHECK(e.con.port[0].guest_open && e.con.port[1].guest_open);
    CHECK_EQ(model_console_port_state(e.m, 1)->ready, 1);
    for (p = 2; p < 31; p++) CHECK_EQ(model_console_port_state(e.m, p)->ready, 0);
    CHECK_EQ(e.con.dropped, 0);
    env_down(&e);
}

/* VIRTIO_MORE posts without notifying, kick notifies; running out of
   buffers notifies anyway. */
static void batching(void)
{
    static uint8_t big[3000];
    cenv e;
    size_t sent = 0;
    uint64_t before;
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_DEFERRED, 0), VIRTIO_OK);
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, 0), VIRTIO_OK);
    model_run(e.m, 0);   /* the control messages */
    model_run(e.m, 0);
    before = model_queue_stats(e.m, 1)->notifies;
    CHECK_EQ(virtio_console_write(&e.con, 0, "ab", 2, VIRTIO_MORE, &sent), VIRTIO_OK);
    CHECK_EQ(virtio_console_write(&e.con, 0, "cd", 2, VIRTIO_MORE, &sent), VIRTIO_OK);
    CHECK_EQ(model_queue_stats(e.m, 1)->notifies, before);
    CHECK_EQ(virtio_console_kick(&e.con), VIRTIO_OK);
    CHECK_EQ(model_queue_stats(e.m, 1)->notifies, before + 1);
    model_run(e.m, 0);
    CHECK(memcmp(model_console_output(e.m, 0, 0), "abcd", 4) == 0);
    fill_pat(big, sizeof big, 3);
    CHECK_EQ(virtio_console_write(&e.con, 0, big, sizeof big, VIRTIO_MORE, &sent), VIRTIO_OK);
    CHECK_EQ(sent, 8 * 256);   /* what fitted; the rest is the caller's */
    CHECK_EQ(model_queue_stats(e.m, 1)->notifies, before + 2);   /* out of buffers: notified */
    model_run(e.m, 0);
    CHECK_EQ(virtio_console_write(&e.con, 0, big + sent, sizeof big - sent, 0, &sent), VIRTIO_OK);
    CHECK_EQ(sent, sizeof big - 8 * 256);
    model_run(e.m, 0);
    CHECK(output_is(&e, 0, 4, sizeof big, 3));
    env_down(&e);
}

/* A device that stops taking transmit buffers: NO_SPACE without WAIT, a
   bounded TIMEOUT with it, tx_bytes telling how far it got; a flush waits
   for the device; then everything arrives in order. */
static void stalled_tx(void)
{
    static uint8_t big[4000];
    cenv e;
    size_t sent = 0;
    CHECK_EQ(env_new(&e, MODEL_MMIO, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, 0), VIRTIO_OK);
    model_console_get_knobs(e.m)->hold_tx = 1;
    fill_pat(big, sizeof big, 9);
    CHECK_EQ(virtio_console_write(&e.con, 0, big, 1000, 0, &sent), VIRTIO_OK);   /* four buffers */
    CHECK_EQ(sent, 1000);
    CHECK_EQ(virtio_console_write(&e.con, 0, big + 1000, 3000, 0, &sent), VIRTIO_OK);
    CHECK_EQ(sent, 4 * 256);   /* the four left */
    CHECK_EQ(virtio_console_write(&e.con, 0, big + 2024, 1, 0, &sent), VIRTIO_ERR_NO_SPACE);
    sent = 77;
    CHECK_EQ(virtio_console_write(&e.con, 0, big + 2024, sizeof big - 2024, VIRTIO_CONSOLE_WAIT, &sent),
             VIRTIO_ERR_TIMEOUT);
    CHECK_EQ(sent, 77);
    CHECK_EQ(e.con.port[0].tx_bytes, 2024);
    CHECK_EQ(virtio_console_write(&e.con, 0, 0, 0, VIRTIO_CONSOLE_WAIT, 0), VIRTIO_ERR_TIMEOUT);   /* flush */
    CHECK_EQ(model_console_release_tx(e.m, 0), 8);
    CHECK_EQ(virtio_console_write(&e.con, 0, 0, 0, VIRTIO_CONSOLE_WAIT, 0), VIRTIO_OK);
    model_console_get_knobs(e.m)->hold_tx = 0;
    CHECK_EQ(virtio_console_write(&e.con, 0, big + 2024, sizeof big - 2024, VIRTIO_CONSOLE_WAIT, &sent), VIRTIO_OK);
    CHECK(output_is(&e, 0, 0, sizeof big, 9));
    env_down(&e);
}

/* Blocking reads: data that arrives while the driver waits ends the wait;
   none ends it at the timeout, bounded, the count untouched. Small reads
   out of partly filled buffers keep the order. */
static model *idle_model;
static uint32_t idle_calls, idle_send_at, idle_every;
static uint64_t idle_first_notifies[2];   /* notifications of queues 0 and 1 when the first wait began */
static void (*idle_orig)(void *);
static void idle_hook(void *user)
{
    idle_orig(user);
    if (idle_calls++ == 0) {
        idle_first_notifies[0] = model_queue_stats(idle_model, 0)->notifies;
        idle_first_notifies[1] = model_queue_stats(idle_model, 1)->notifies;
    }
    if (idle_send_at && idle_calls == idle_send_at) model_console_send(idle_model, 0, "late", 4);
    if (idle_every) model_console_send(idle_model, 0, "zzzzzzzz", 8);
}

static void blocking_read(void)
{
    static uint8_t big[3000];
    cenv e;
    uint8_t buf[64];
    size_t got = 99;
    CHECK_EQ(env_new(&e, MODEL_PCI_LEGACY, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_console_read(&e.con, 0, buf, sizeof buf, 0, &got), VIRTIO_EMPTY);
    e.bus->stats.log[VIRTIO_MSG_TIMEOUT] = 0;
    CHECK_EQ(virtio_console_read(&e.con, 0, buf, sizeof buf, VIRTIO_CONSOLE_WAIT, &got), VIRTIO_ERR_TIMEOUT);
    CHECK_EQ(got, 99);
    CHECK_EQ(e.bus->stats.log[VIRTIO_MSG_TIMEOUT], 1);
    idle_model = e.m;
    idle_orig = e.bus->platform.idle;
    e.bus->platform.idle = idle_hook;
    idle_calls = 0;
    idle_send_at = 50;
    CHECK_EQ(virtio_console_read(&e.con, 0, buf, sizeof buf, VIRTIO_CONSOLE_WAIT, &got), VIRTIO_OK);
    CHECK(got == 4 && memcmp(buf, "late", 4) == 0);
    CHECK_EQ(idle_calls, 50);
    idle_send_at = 0;
    /* 3 bytes at a time out of buffers the device fills 5 bytes deep. */
    model_console_get_knobs(e.m)->rx_chunk = 5;
    fill_pat(big, sizeof big, 4);
    CHECK_EQ(model_console_send(e.m, 0, big, sizeof big), 0);
    CHECK(read_back(&e, 0, sizeof big, 3, 4));
    env_down(&e);
}

/* Buffers posted with VIRTIO_MORE are notified before any wait, also by
   a later call that has posted nothing itself (the device would not look
   at them otherwise). */
static void more_then_wait(void)
{
    cenv e;
    uint8_t buf[300];
    size_t got = 0;
    uint64_t before;
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, 0), VIRTIO_OK);
    /* Receive: a buffer emptied with MORE goes back un-notified. */
    memset(buf, 'a', 256);
    CHECK_EQ(model_console_send(e.m, 0, buf, 256), 0);
    CHECK_EQ(virtio_console_read(&e.con, 0, buf, sizeof buf, VIRTIO_MORE, &got), VIRTIO_OK);
    CHECK_EQ(got, 256);
    before = model_queue_stats(e.m, 0)->notifies;
    idle_model = e.m;
    idle_orig = e.bus->platform.idle;
    e.bus->platform.idle = idle_hook;
    idle_calls = 0;
    idle_send_at = 10;
    CHECK_EQ(virtio_console_read(&e.con, 0, buf, sizeof buf, VIRTIO_CONSOLE_WAIT, &got), VIRTIO_OK);
    CHECK(got == 4 && memcmp(buf, "late", 4) == 0);
    CHECK_EQ(idle_first_notifies[0], before + 1);   /* told before it waited */
    idle_send_at = 0;
    /* Transmit: posted with MORE, then a flush waits: it notifies first. */
    model_console_get_knobs(e.m)->hold_tx = 1;
    before = model_queue_stats(e.m, 1)->notifies;
    CHECK_EQ(virtio_console_write(&e.con, 0, "ab", 2, VIRTIO_MORE, &got), VIRTIO_OK);
    CHECK_EQ(model_queue_stats(e.m, 1)->notifies, before);
    idle_calls = 0;
    CHECK_EQ(virtio_console_write(&e.con, 0, 0, 0, VIRTIO_CONSOLE_WAIT, 0), VIRTIO_ERR_TIMEOUT);   /* held */
    CHECK_EQ(idle_first_notifies[1], before + 1);
    e.bus->platform.idle = idle_orig;
    CHECK_EQ(model_console_release_tx(e.m, 0), 1);
    CHECK_EQ(virtio_console_write(&e.con, 0, 0, 0, VIRTIO_CONSOLE_WAIT, 0), VIRTIO_OK);
    CHECK(model_console_output(e.m, 0, &got) && got == 2 && memcmp(model_console_output(e.m, 0, 0), "ab", 2) == 0);
    env_down(&e);
}

/* Hostile control messages: each malformed one is counted and ignored;
   names are cut to fit and NUL-terminated, with or without the device's
   NUL. */
static void put_msg(uint8_t *b, uint32_t id, uint16_t ev, uint16_t val)
{
    model_put32(b, id);
    model_put16(b + 4, ev);
    model_put16(b + 6, val);
}

static void hostile_control(void)
{
    cenv e;
    virtio_console_options o;
    uint8_t b[136];
    uint32_t changed = 0, i;
    CHECK_EQ(env_new(&e, MODEL_PCI_TRANSITIONAL, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    memset(&o, 0, sizeof o);
    o.ports = 2;
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, &o), VIRTIO_OK);
    put_msg(b, 0, MODEL_CONSOLE_PORT_OPEN, 0);
    CHECK_EQ(model_console_control(e.m, b, 4), 0);    /* short */
    put_msg(b, 4, MODEL_CONSOLE_PORT_OPEN, 0);
    CHECK_EQ(model_console_control(e.m, b, 8), 0);    /* port >= max_nr_ports */
    put_msg(b, 0, 9, 0);
    CHECK_EQ(model_console_control(e.m, b, 8), 0);    /* no such event */
    put_msg(b, 0, MODEL_CONSOLE_DEVICE_READY, 1);
    CHECK_EQ(model_console_control(e.m, b, 8), 0);    /* the driver's to send */
    put_msg(b, 0, MODEL_CONSOLE_PORT_READY, 1);
    CHECK_EQ(model_console_control(e.m, b, 8), 0);
    put_msg(b, 0, MODEL_CONSOLE_RESIZE, 0);
    CHECK_EQ(model_console_control(e.m, b, 10), 0);   /* no room for cols and rows */
    CHECK_EQ(virtio_console_refresh(&e.con, &changed), VIRTIO_OK);
    CHECK_EQ(e.con.dropped, 6);
    CHECK_EQ(changed, 0);
    CHECK_EQ(e.con.port[0].host_open, 1);
    /* A 100-byte name from the device without NUL, into a 56-byte field. */
    put_msg(b, 1, MODEL_CONSOLE_PORT_NAME, 1);
    for (i = 0; i < 100; i++) b[8 + i] = (uint8_t)('a' + i % 26);
    CHECK_EQ(model_console_control(e.m, b, 108), 0);
    CHECK_EQ(virtio_console_refresh(&e.con, &changed), VIRTIO_OK);
    CHECK_EQ(changed, VIRTIO_CONSOLE_CHANGED_PORTS);
    CHECK_EQ(strlen(e.con.port[1].name), VIRTIO_CONSOLE_NAME_MAX - 1);
    CHECK(memcmp(e.con.port[1].name, b + 8, VIRTIO_CONSOLE_NAME_MAX - 1) == 0);
    /* A name longer than the receive buffer: QEMU reports the whole length;
       the queue clamps it, the name is cut. */
    put_msg(b, 1, MODEL_CONSOLE_PORT_NAME, 1);
    memcpy(b + 8, "short", 5);
    CHECK_EQ(model_console_control(e.m, b, 13), 0);
    CHECK_EQ(virtio_console_refresh(&e.con, 0), VIRTIO_OK);
    CHECK(strcmp(e.con.port[1].name, "short") == 0);
    CHECK_EQ(e.con.last_status, (7u << 16) | 1u);
    /* Messages for a port the driver does not serve: seen, not acted on. */
    put_msg(b, 3, MODEL_CONSOLE_DEVICE_ADD, 1);
    CHECK_EQ(model_console_control(e.m, b, 8), 0);
    CHECK_EQ(virtio_console_refresh(&e.con, &changed), VIRTIO_OK);
    CHECK_EQ(changed, 0);
    CHECK_EQ(e.con.dropped, 6);
    CHECK_EQ(e.con.last_status, 1u << 16 | 1u);
    env_down(&e);
}

/* A used id never posted breaks a ring: DEVICE, then STATE; the emergency
   write still works; shutdown is clean and init works again. */
static void bad_id(void *user, model *m, model_hostile *h)
{
    (void)user;
    (void)m;
    if (h->queue == 0 && (h->kind == MODEL_H_USED_ELEM || h->kind == MODEL_H_PACKED_USED)) h->id = 999;
}

static void hostile_ring(uint32_t ring)
{
    cenv e;
    virtio_console_options o;
    uint8_t buf[16];
    size_t got, len;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    CHECK_EQ(env_new(&e, MODEL_MMIO, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, &o), VIRTIO_OK);
    e.m->knobs.hostile = bad_id;
    CHECK_EQ(model_console_send(e.m, 0, "ab", 2), 0);
    CHECK_EQ(virtio_console_read(&e.con, 0, buf, sizeof buf, VIRTIO_CONSOLE_WAIT, &got), VIRTIO_ERR_DEVICE);
    CHECK_EQ(virtio_console_read(&e.con, 0, buf, sizeof buf, 0, &got), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_console_write(&e.con, 0, "x", 1, 0, &got), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_console_refresh(&e.con, 0), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_console_kick(&e.con), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_console_emerg_write(&e.con, "!", 1), VIRTIO_OK);
    CHECK(memcmp(model_console_emerg(e.m, &len), "!", 1) == 0);
    CHECK_EQ(virtio_console_shutdown(&e.con), VIRTIO_OK);
    CHECK_EQ(e.bus->stats.live_allocs, 0);
    e.m->knobs.hostile = 0;
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, &o), VIRTIO_OK);
    CHECK_EQ(model_console_send(e.m, 0, "cd", 2), 0);
    CHECK_EQ(virtio_console_read(&e.con, 0, buf, sizeof buf, VIRTIO_CONSOLE_WAIT, &got), VIRTIO_OK);
    CHECK(got == 2 && memcmp(buf, "cd", 2) == 0);
    env_down(&e);
}

/* Zero-length receive buffers, forever, while data keeps "arriving": a
   blocking read ends at the timeout. An overlong used length is clamped. */
static void zero_len(void *user, model *m, model_hostile *h)
{
    (void)user;
    (void)m;
    if (h->queue == 0 && (h->kind == MODEL_H_USED_ELEM || h->kind == MODEL_H_PACKED_USED)) h->len = 0;
}

static void long_len(void *user, model *m, model_hostile *h)
{
    (void)user;
    (void)m;
    if (h->queue == 0 && (h->kind == MODEL_H_USED_ELEM || h->kind == MODEL_H_PACKED_USED)) h->len = 100000;
}

static void hostile_lengths(void)
{
    cenv e;
    uint8_t buf[512];
    size_t got = 5;
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, 0), VIRTIO_OK);
    e.m->knobs.hostile = zero_len;
    idle_model = e.m;
    idle_orig = e.bus->platform.idle;
    e.bus->platform.idle = idle_hook;
    idle_every = 1;
    e.bus->platform.timeout_ms = 100;
    CHECK_EQ(virtio_console_read(&e.con, 0, buf, sizeof buf, VIRTIO_CONSOLE_WAIT, &got), VIRTIO_ERR_TIMEOUT);
    CHECK_EQ(got, 5);
    CHECK(model_console_get_stats(e.m)->rx_buffers > 100);   /* the device kept answering */
    idle_every = 0;
    e.bus->platform.idle = idle_orig;
    /* Claims 100000 bytes in a 256-byte buffer that holds 3. */
    e.m->knobs.hostile = long_len;
    model_console_send(e.m, 0, "abc", 3);
    e.m->knobs.hostile = 0;
    CHECK_EQ(virtio_console_read(&e.con, 0, buf, sizeof buf, 0, &got), VIRTIO_OK);
    CHECK_EQ(got, 256);
    CHECK(memcmp(buf, "abc", 3) == 0);
    CHECK(e.con.port[0].rxq.clamped >= 1);
    env_down(&e);
}

/* NEEDS_RESET: refresh reports it, so does a waiting read. */
static void needs_reset(void)
{
    cenv e;
    uint8_t buf[8];
    size_t got;
    uint32_t changed = 3;
    CHECK_EQ(env_new(&e, MODEL_MMIO, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, 0), VIRTIO_OK);
    model_set_needs_reset(e.m);
    CHECK_EQ(virtio_console_refresh(&e.con, &changed), VIRTIO_ERR_NEEDS_RESET);
    CHECK_EQ(changed, 3);
    CHECK_EQ(virtio_console_read(&e.con, 0, buf, sizeof buf, VIRTIO_CONSOLE_WAIT, &got), VIRTIO_ERR_NEEDS_RESET);
    env_down(&e);
}

/* Shutdown with a reset that never finishes: TIMEOUT, shut down, memory
   the device may still write kept. Init whose clean-up reset hangs: the
   same. */
static void reset_hangs(void)
{
    cenv e;
    virtio_console_options o;
    uint64_t live;
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, 0), VIRTIO_OK);
    live = e.bus->stats.live_allocs;
    e.m->knobs.reset_delay = MODEL_FOREVER;
    CHECK_EQ(virtio_console_shutdown(&e.con), VIRTIO_ERR_TIMEOUT);
    CHECK_EQ(virtio_console_shutdown(&e.con), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_console_write(&e.con, 0, "x", 1, 0, 0), VIRTIO_ERR_STATE);
    CHECK_EQ(e.bus->stats.live_allocs, live);
    CHECK_EQ(e.bus->stats.frees, 0);
    e.m->knobs.reset_delay = 0;
    CHECK_EQ(virtio_device_reset(&e.con.dev), VIRTIO_OK);
    CHECK_EQ(e.bus->stats.bugs, 0);
    model_bus_free(e.bus);

    /* init fails (no memory) and its reset hangs: nothing is freed. */
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    memset(&o, 0, sizeof o);
    o.ports = 2;
    e.bus->knobs.alloc_fail_after = 14;   /* port 0's buffers: after 6 rings, 6 shadows, the control block */
    e.m->knobs.reset_delay = MODEL_FOREVER;
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, &o), VIRTIO_ERR_NO_MEMORY);
    CHECK_EQ(e.bus->stats.live_allocs, 13);
    CHECK_EQ(e.bus->stats.frees, 0);
    CHECK_EQ(e.bus->stats.bugs, 0);
    model_bus_free(e.bus);
}

/* Allocation failure at every step of init: an error, nothing leaked,
   no DRIVER_OK; then init works. */
static void alloc_failures(void)
{
    cenv e;
    virtio_console_options o;
    uint32_t k;
    size_t got = 0;
    uint8_t buf[8];
    virtio_result r = VIRTIO_ERR_NO_MEMORY;
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    memset(&o, 0, sizeof o);
    o.ports = 2;
    for (k = 1; k < 30 && r != VIRTIO_OK; k++) {
        e.bus->knobs.alloc_fail_after = k;
        r = virtio_console_init(&e.con, &e.dev, &o);
        e.bus->knobs.alloc_fail_after = 0;
        if (r == VIRTIO_OK) break;
        CHECK_EQ(r, VIRTIO_ERR_NO_MEMORY);
        CHECK_EQ(e.bus->stats.live_allocs, 0);
        CHECK((model_status(e.m) & MODEL_S_DRIVER_OK) == 0);
    }
    CHECK_EQ(k, 15 + 1);   /* 6 rings, 6 shadows, 3 buffer blocks: each failed once */
    CHECK_EQ(r, VIRTIO_OK);
    model_console_send(e.m, 0, "ok", 2);
    CHECK_EQ(virtio_console_read(&e.con, 0, buf, sizeof buf, 0, &got), VIRTIO_OK);
    CHECK(got == 2 && memcmp(buf, "ok", 2) == 0);
    env_down(&e);
}

/* A device without MULTIPORT: port 0 only, whatever is asked, no control
   queues touched; without EMERG_WRITE the emergency write is refused. And
   MULTIPORT with max_nr_ports 0 is refused cleanly. */
static void zero_ports(void *user, model *m, model_hostile *h)
{
    (void)user;
    (void)m;
    if (h->kind == MODEL_H_CONFIG_READ && h->offset == 4) h->value = 0;
}

static void plain_device(void)
{
    cenv e;
    model_console_options co;
    virtio_console_options o;
    uint8_t buf[8];
    size_t got = 0;
    model_console_options_init(&co);
    co.features &= ~(MODEL_CONSOLE_F_MULTIPORT | MODEL_CONSOLE_F_EMERG_WRITE | MODEL_CONSOLE_F_SIZE);
    co.max_ports = 1;
    CHECK_EQ(env_new(&e, MODEL_MMIO_LEGACY, MODEL_IMMEDIATE, &co), VIRTIO_OK);
    memset(&o, 0, sizeof o);
    o.ports = 3;
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, &o), VIRTIO_OK);
    CHECK_EQ(e.con.info.multiport, 0);
    CHECK_EQ(e.con.info.ports, 1);
    CHECK_EQ(e.con.info.size, 0);
    CHECK_EQ(e.con.info.cols, 0);
    CHECK_EQ(virtio_console_emerg_write(&e.con, "x", 1), VIRTIO_ERR_UNSUPPORTED);
    CHECK_EQ(virtio_console_write(&e.con, 1, "x", 1, 0, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_console_write(&e.con, 0, "yz", 2, VIRTIO_CONSOLE_WAIT, 0), VIRTIO_OK);
    CHECK(memcmp(model_console_output(e.m, 0, 0), "yz", 2) == 0);
    model_console_send(e.m, 0, "q", 1);
    CHECK_EQ(virtio_console_read(&e.con, 0, buf, sizeof buf, 0, &got), VIRTIO_OK);
    CHECK(got == 1 && buf[0] == 'q');
    env_down(&e);

    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    e.m->knobs.hostile = zero_ports;
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, 0), VIRTIO_ERR_DEVICE);
    CHECK_EQ(e.bus->stats.live_allocs, 0);
    e.m->knobs.hostile = 0;
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, 0), VIRTIO_OK);
    env_down(&e);
}

/* Bad arguments and states. */
static void bad_input(void)
{
    cenv e;
    virtio_console dead;
    virtio_console_options o;
    uint8_t buf[8];
    size_t got = 42;
    model_bus *bus;
    model *blk;
    virtio_device bd;
    CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, 0), VIRTIO_OK);
    memset(&dead, 0, sizeof dead);
    memset(&o, 0, sizeof o);
    CHECK_EQ(virtio_console_init(0, &e.dev, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_console_init(&dead, 0, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, 0), VIRTIO_ERR_STATE);   /* running: nothing changes */
    CHECK_EQ(model_status(e.m) & MODEL_S_DRIVER_OK, MODEL_S_DRIVER_OK);
    o.ports = VIRTIO_CONSOLE_MAX_PORTS + 1;
    CHECK_EQ(virtio_console_init(&dead, &e.dev, &o), VIRTIO_ERR_INVALID_ARG);
    o.ports = 2;
    o.no_multiport = 1;
    CHECK_EQ(virtio_console_init(&dead, &e.dev, &o), VIRTIO_ERR_INVALID_ARG);
    memset(&o, 0, sizeof o);
    o.buffers = 33;
    CHECK_EQ(virtio_console_init(&dead, &e.dev, &o), VIRTIO_ERR_INVALID_ARG);
    o.buffers = 0;
    o.buffer_size = 15;
    CHECK_EQ(virtio_console_init(&dead, &e.dev, &o), VIRTIO_ERR_INVALID_ARG);
    o.buffer_size = 4097;
    CHECK_EQ(virtio_console_init(&dead, &e.dev, &o), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_console_read(&e.con, 0, 0, 4, 0, &got), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_console_read(&e.con, 0, buf, 0, 0, &got), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_console_read(&e.con, 1, buf, 4, 0, &got), VIRTIO_ERR_INVALID_ARG);   /* not served */
    CHECK_EQ(virtio_console_read(&e.con, 0, buf, 4, 0x10, &got), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_console_write(&e.con, 0, 0, 4, 0, &got), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_console_write(&e.con, 9, "x", 1, 0, &got), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_console_write(&e.con, 0, "x", 1, 0x10, &got), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_console_emerg_write(&e.con, 0, 1), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(got, 42);
    CHECK_EQ(virtio_console_write(&e.con, 0, "xy", 2, 0, 0), VIRTIO_OK);   /* NULL count */
    CHECK_EQ(virtio_console_write(&e.con, 0, 0, 0, 0, &got), VIRTIO_OK);   /* nothing, no wait */
    CHECK_EQ(got, 0);
    CHECK_EQ(virtio_console_emerg_write(&e.con, 0, 0), VIRTIO_OK);
    model_console_send(e.m, 0, "r", 1);
    CHECK_EQ(virtio_console_read(&e.con, 0, buf, 4, 0, 0), VIRTIO_OK);
    CHECK_EQ(buf[0], 'r');
    CHECK_EQ(virtio_console_read(&dead, 0, buf, 4, 0, &got), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_console_write(0, 0, "x", 1, 0, &got), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_console_kick(&dead), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_console_refresh(&dead, 0), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_console_emerg_write(&dead, "x", 1), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_console_shutdown(&dead), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_console_shutdown(&e.con), VIRTIO_OK);
    CHECK_EQ(virtio_console_shutdown(&e.con), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_console_write(&e.con, 0, "x", 1, 0, &got), VIRTIO_ERR_STATE);
    env_down(&e);

    bus = model_bus_new();
    blk = model_blk_default(bus, MODEL_PCI_MODERN);
    CHECK_EQ(model_probe(blk, &bd, 0), VIRTIO_OK);
    CHECK_EQ(virtio_console_init(&dead, &bd, 0), VIRTIO_ERR_NOT_FOUND);
    CHECK_EQ(model_status(blk), 0);
    model_bus_free(bus);
}

/* Bytes the host sent before the port was open reach the guest: the
   driver notifies an opened port's receive queue after its PORT_OPEN,
   for a device that (as QEMU) looks at an open port's queue only when
   told (rx_needs_notify). */
static void early_bytes(uint32_t transport, uint32_t ring)
{
    cenv e;
    virtio_console_options o;
    unsigned char got[64];
    size_t n = 0;
    CHECK_EQ(env_new(&e, transport, MODEL_IMMEDIATE, 0), VIRTIO_OK);
    model_console_get_knobs(e.m)->rx_needs_notify = 1;
    CHECK_EQ(model_console_send(e.m, 0, "sent before the open", 20), 0);
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    CHECK_EQ(virtio_console_init(&e.con, &e.dev, &o), VIRTIO_OK);
    CHECK_EQ(e.con.port[0].guest_open, 1);
    CHECK_EQ(virtio_console_read(&e.con, 0, got, sizeof got, 0, &n), VIRTIO_OK);
    CHECK_EQ(n, 20);
    CHECK(memcmp(got, "sent before the open", 20) == 0);
    env_down(&e);
}

/* MEMORY figures with default options on a modern transport. */
static size_t alloc_sizes[32], nalloc;
static void *(*real_alloc)(void *, size_t, size_t, int, uint64_t *);
static void *rec_alloc(void *user, size_t size, size_t align, int kind, uint64_t *dev)
{
    if (nalloc < 32) alloc_sizes[nalloc++] = size;
    return real_alloc(user, size, align, kind, dev);
}

static void memory(void)
{
    /* rings: split 16n + (6 + 2n), 4-aligned, + (6 + 8n); packed 16n + 8 */
    static const size_t want[2][8] = { { 846, 32 * SLOT, 222, 8 * SLOT, 222, 8 * SLOT, 222, 8 * SLOT },
                                       { 520, 32 * SLOT, 136, 8 * SLOT, 136, 8 * SLOT, 136, 8 * SLOT } };
    cenv e;
    virtio_console_options o;
    uint32_t ring, i;
    for (ring = VIRTIO_RING_SPLIT; ring <= VIRTIO_RING_PACKED; ring++) {
        CHECK_EQ(env_new(&e, MODEL_PCI_MODERN, MODEL_IMMEDIATE, 0), VIRTIO_OK);
        real_alloc = e.bus->platform.dma_alloc;
        e.bus->platform.dma_alloc = rec_alloc;
        nalloc = 0;
        memset(&o, 0, sizeof o);
        o.device.ring = ring;
        CHECK_EQ(virtio_console_init(&e.con, &e.dev, &o), VIRTIO_OK);
        /* control rx, control tx, port 0 rx, tx (ring + shadow each), then
           the control block and the port's buffers */
        CHECK_EQ(nalloc, 10);
        for (i = 0; i < 8 && i < nalloc; i++) {
            CHECK_EQ(alloc_sizes[i], want[ring - 1][i]);
            if (alloc_sizes[i] != want[ring - 1][i]) fprintf(stderr, "  allocation %u: %zu bytes\n", i, alloc_sizes[i]);
        }
        CHECK_EQ(alloc_sizes[8], 32 * 64 + 8 * 8);
        CHECK_EQ(alloc_sizes[9], 4096);
        for (i = 0; i < nalloc; i++) CHECK(alloc_sizes[i] <= 4096);
        env_down(&e);
    }
}

int main(void)
{
    matrix();
    RUN(init_device_faults(), "console without a port queue or its max_ports field: init DEVICE, then honest works");
    RUN(hotplug(), "console ports added, opened, closed, removed after init");
    RUN(early_bytes(MODEL_MMIO, VIRTIO_RING_SPLIT), "console bytes sent before the port was open arrive (the receive queue notified after PORT_OPEN), mmio split");
    RUN(early_bytes(MODEL_PCI_MODERN, VIRTIO_RING_PACKED), "console bytes sent before the port was open arrive (the receive queue notified after PORT_OPEN), pci-modern packed");
    RUN(early_bytes(MODEL_MMIO_LEGACY, VIRTIO_RING_SPLIT), "console bytes sent before the port was open arrive (the receive queue notified after PORT_OPEN), mmio-legacy");
    RUN(many_ports(), "console 31 ports, 2 served: no message lost, the rest unanswered");
    RUN(batching(), "console VIRTIO_MORE defers the notification; out of buffers notifies anyway");
    RUN(stalled_tx(), "console device stops taking buffers: NO_SPACE, bounded TIMEOUT, flush, order kept");
    RUN(blocking_read(), "console blocking read: late data ends the wait, none ends it bounded; small reads");
    RUN(more_then_wait(), "console VIRTIO_MORE buffers are notified before a later call waits");
    RUN(hostile_control(), "console malformed control messages dropped and counted; names cut and terminated");
    RUN(hostile_ring(VIRTIO_RING_SPLIT), "console bad used id: DEVICE, STATE, emergency write still works, split");
    RUN(hostile_ring(VIRTIO_RING_PACKED), "console bad used id: DEVICE, STATE, emergency write still works, packed");
    RUN(hostile_lengths(), "console zero-length buffers forever: bounded TIMEOUT; overlong length clamped");
    RUN(needs_reset(), "console NEEDS_RESET from refresh and a waiting read");
    RUN(reset_hangs(), "console reset that never finishes: TIMEOUT, memory kept (shutdown and failed init)");
    RUN(alloc_failures(), "console init under allocation failure at every step");
    RUN(plain_device(), "console without MULTIPORT/EMERG_WRITE/SIZE; max_nr_ports 0 refused");
    RUN(bad_input(), "console bad arguments and states");
    RUN(memory(), "console MEMORY figures: none above 4096 bytes");
    UNIT_EXIT();
}
