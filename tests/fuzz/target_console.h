/* target_console.h - virtio_console.h against a fuzz-driven console device.
 *
 * Included by fuzz_console_split.c and fuzz_console_packed.c with FZ_RING
 * set. The device is the model's (model_console.c) with the fuzz input
 * choosing its features, number of ports and queue sizes, and lying
 * through fuzz.h's hostile hook (register and config values, used ids and
 * lengths, garbled control messages and data); the operation stream
 * writes and reads on every port in every mode, sends host data, plugs,
 * opens, closes and resizes ports, injects raw control messages, holds
 * transmit buffers, asks for resets and re-initialises. While the device
 * is honest and nothing disturbed a port's stream, the bytes at the host
 * end of each port are exactly what the driver reported as sent, in
 * order, and what the driver reads is exactly what the host sent.
 */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_console.h"
#include "fuzz.h"
#include "model_console.h"

#define CON_PORTS VIRTIO_CONSOLE_MAX_PORTS

typedef struct con_fz {
    fz_env e;
    model_console_options co;
    virtio_console_options o;
    virtio_console con;
    int up;
    uint32_t muddled;               /* bit p: port p's streams can no longer be checked */
    uint64_t tx[CON_PORTS];         /* bytes the driver accepted for port p */
    uint64_t hsent[CON_PORTS];      /* bytes the host sent to port p */
    uint64_t hread[CON_PORTS];      /* of those, read back */
} con_fz;

/* Queues of the model: control and ports beyond 0 only with MULTIPORT. */
static uint32_t con_nq(const con_fz *t)
{
    return t->co.features & MODEL_CONSOLE_F_MULTIPORT ? 2 * t->co.max_ports + 2 : 2;
}

static uint8_t con_tx_byte(uint32_t p, uint64_t i)
{
    return (uint8_t)(i * 29u + p * 101u + (i >> 9));
}

static uint8_t con_rx_byte(uint32_t p, uint64_t i)
{
    return (uint8_t)(i * 13u + p * 7u + (i >> 7) + 0x40u);
}

/* A reset that never finished left the driver's memory with the device
   (as documented); once the reset is done, give it back as the owner of
   the object would. */
static void con_reclaim(con_fz *t)
{
    const virtio_platform *p = &t->e.bus->platform;
    virtio_console *c = &t->con;
    uint32_t i;
    /* (a reset that cannot finish: one that never ends, a device that is
       gone, or a lie about the status) */
    FZ_ASSERT(t->e.m->knobs.reset_delay == MODEL_FOREVER || t->e.m->knobs.gone || t->e.lies);
    fz_back(&t->e);
    FZ_ASSERT(virtio_device_reset(&c->dev) == VIRTIO_OK);
    for (i = CON_PORTS; i-- > 0;) virtio_free(p, c->port[i].priv.buf, c->port[i].priv.buf_bytes, VIRTIO_MEM_DMA);
    virtio_free(p, c->priv.ctrl, c->priv.ctrl_bytes, VIRTIO_MEM_DMA);
    for (i = CON_PORTS; i-- > 0;) {
        if (c->port[i].txq.dev) virtio_queue_destroy(&c->port[i].txq);
        if (c->port[i].rxq.dev) virtio_queue_destroy(&c->port[i].rxq);
    }
    if (c->ctrl_txq.dev) virtio_queue_destroy(&c->ctrl_txq);
    if (c->ctrl_rxq.dev) virtio_queue_destroy(&c->ctrl_rxq);
}

static virtio_result con_up(con_fz *t)
{
    virtio_result r = fz_probe(&t->e);
    FZ_RESULT(r);
    if (r != VIRTIO_OK) return r;
    r = virtio_console_init(&t->con, &t->e.vdev, &t->o);
    FZ_RESULT(r);
    t->up = r == VIRTIO_OK;
    if (r != VIRTIO_OK && t->e.bus->stats.live_allocs) con_reclaim(t);
    return r;
}

static void con_down(con_fz *t)
{
    virtio_result r;
    if (t->up) {
        r = virtio_console_shutdown(&t->con);
        FZ_RESULT(r);
        if (r == VIRTIO_ERR_TIMEOUT) con_reclaim(t);
        else FZ_ASSERT(r == VIRTIO_OK);
    }
    t->up = 0;
    t->muddled = ~0u;   /* bytes in flight die with the reset */
    fz_no_leaks(&t->e);
}

static int con_exact(con_fz *t, uint32_t p)
{
    /* (kvmtool's used lengths are not the bytes written: a lie for a console) */
    return !t->e.lies && t->e.m->knobs.used_len == MODEL_USED_LEN_EXACT && !(t->muddled >> p & 1u);
}

/* The host end of port p holds a prefix of what the driver accepted. */
static void con_check_tx(con_fz *t, uint32_t p)
{
    size_t len, i;
    const uint8_t *out = model_console_output(t->e.m, p, &len);
    if (!con_exact(t, p)) return;
    FZ_ASSERT(len <= t->tx[p]);
    for (i = 0; i < len; i++) FZ_ASSERT(out[i] == con_tx_byte(p, i));
}

static void con_ops(con_fz *t, fz_buf *buf)
{
    fz_in *in = &t->e.ops;
    uint32_t steps = 0;
    while (fz_more(in) && steps++ < 128) {
        uint32_t op = fz_u8(in) % 18, v = fz_u16(in), p = v % CON_PORTS, n, flags;
        size_t got = 0, len = 1 + (v >> 2) % 3000, i;
        uint8_t msg[64];
        virtio_result r;
        model_console_knobs *k = model_console_get_knobs(t->e.m);
        if (!t->up && op != 15) continue;
        switch (op) {
        case 0:
        case 1:   /* write: without and with WAIT, sometimes MORE */
            if (len > buf->size) len = buf->size;
            for (i = 0; i < len; i++) buf->data[i] = con_tx_byte(p, t->tx[p] + i);
            flags = (op ? VIRTIO_CONSOLE_WAIT : 0) | (v & 0x8000u ? VIRTIO_MORE : 0);
            buf->busy = 1;
            buf->writable = 0;
            r = virtio_console_write(&t->con, p, buf->data, len, flags, &got);
            buf->busy = 0;
            FZ_RESULT(r);
            if (r == VIRTIO_OK) {
                FZ_ASSERT(got <= len && (flags & VIRTIO_CONSOLE_WAIT ? got == len : got >= 1));
                t->tx[p] += got;
            } else {
                FZ_ASSERT(r != VIRTIO_ERR_INVALID_ARG || p >= t->con.info.ports);
                /* What a failed write posted is unknown to the caller (tx_bytes counts it). */
                if (p < t->con.info.ports) t->tx[p] = t->con.port[p].tx_bytes;
            }
            fz_buf_fill(buf);
            con_check_tx(t, p);
            break;
        case 2:
        case 3:   /* read: without and with WAIT, sometimes MORE */
            if (len > buf->size) len = buf->size;
            flags = (op == 3 ? VIRTIO_CONSOLE_WAIT : 0) | (v & 0x8000u ? VIRTIO_MORE : 0);
            buf->busy = buf->writable = 1;
            r = virtio_console_read(&t->con, p, buf->data, len, flags, &got);
            buf->busy = 0;
            FZ_RESULT(r);
            if (r == VIRTIO_OK) {
                FZ_ASSERT(got >= 1 && got <= len);
                if (con_exact(t, p)) {
                    FZ_ASSERT(t->hread[p] + got <= t->hsent[p]);
                    for (i = 0; i < got; i++) FZ_ASSERT(buf->data[i] == con_rx_byte(p, t->hread[p] + i));
                }
                t->hread[p] += got;
                fz_buf_fill(buf);
            } else {
                fz_buf_check(buf);
            }
            break;
        case 4:   /* the host sends */
            for (i = 0; i < len; i += sizeof msg) {
                uint32_t j, m = len - i < sizeof msg ? (uint32_t)(len - i) : (uint32_t)sizeof msg;
                for (j = 0; j < m; j++) msg[j] = con_rx_byte(p, t->hsent[p] + j);
                if (model_console_send(t->e.m, p, msg, m) == 0) t->hsent[p] += m;
            }
            break;
        case 5:
            r = virtio_console_emerg_write(&t->con, "emergency\0!", 1 + v % 11);
            FZ_RESULT(r);
            break;
        case 6:
            FZ_RESULT(virtio_console_refresh(&t->con, v & 1 ? &n : 0));
            break;
        case 7:
            FZ_RESULT(virtio_console_kick(&t->con));
            break;
        case 8:   /* the port's life at the host: added, removed, opened, closed, resized */
            t->muddled |= 1u << p;
            switch (v >> 8 & 3) {
            case 0: model_console_add_port(t->e.m, p, v >> 10 & 1, v >> 11 & 1 ? "fz" : 0); break;
            case 1: model_console_remove_port(t->e.m, p); break;
            case 2: model_console_host_open(t->e.m, p, v >> 10 & 1); break;
            default: model_console_resize(t->e.m, p, (uint16_t)v, (uint16_t)(v >> 3)); break;
            }
            break;
        case 9:   /* a raw control message from the stream */
            n = fz_below(in, sizeof msg + 1);
            fz_bytes(in, msg, n);
            model_console_control(t->e.m, msg, n);
            t->muddled = ~0u;
            break;
        case 10:
            model_console_set_size(t->e.m, (uint16_t)v, (uint16_t)(v * 7));
            break;
        case 11:
            k->hold_tx = v & 1;
            if (!(v & 1)) model_console_release_tx(t->e.m, v >> 1 & 15);
            break;
        case 12:
            k->rx_chunk = v % 300;
            k->drop_control = v >> 9 & 1;
            k->name_nul = v >> 10 & 1;
            if (k->drop_control) t->muddled = ~0u;   /* a lost PORT_OPEN changes who gets data */
            break;
        case 13:
            if (v & 1) model_interrupt(t->e.m, (v >> 1) % con_nq(t));
            else model_run(t->e.m, v >> 1 & 15);
            break;
        case 14:
            model_set_needs_reset(t->e.m);
            break;
        case 15:
            con_down(t);
            con_up(t);
            break;
        default:
            FZ_RESULT(virtio_device_status(&t->con.dev, &n));
            break;
        }
        fz_no_bugs(&t->e);
    }
}

/* The device honest again: init works, bytes cross both ways on port 0. */
static void con_recover(con_fz *t, fz_buf *buf)
{
    model_console_knobs *k = model_console_get_knobs(t->e.m);
    size_t got = 0, len, before;
    uint8_t tail[2];
    virtio_result r;
    fz_honest(&t->e, con_nq(t), 32);
    t->e.lies = 0;
    t->e.m->knobs.run_on_idle = 1;
    /* The model looks at receive queues only when notified (or sent to):
       a device that asks not to be notified would have to poll. */
    t->e.m->knobs.notify = MODEL_NOTIFY_ALWAYS;
    k->hold_tx = k->drop_control = k->rx_chunk = 0;
    model_console_release_tx(t->e.m, 0);
    memset(&t->o, 0, sizeof t->o);
    t->o.device.ring = FZ_RING;
    model_console_remove_port(t->e.m, 0);
    model_console_add_port(t->e.m, 0, 1, 0);   /* port 0 present and open at the host */
    r = con_up(t);
    /* A lie read back from a BAR while the driver sized it was written
       back into the function: that damage outlives the lie. */
    if (r != VIRTIO_OK && t->e.pci_lies) return;
    FZ_ASSERT(r == VIRTIO_OK);
    model_console_output(t->e.m, 0, &before);
    FZ_ASSERT(virtio_console_write(&t->con, 0, "ok", 2, VIRTIO_CONSOLE_WAIT, &got) == VIRTIO_OK);
    FZ_ASSERT(memcmp(model_console_output(t->e.m, 0, &len) + before, "ok", 2) == 0 && len == before + 2);
    /* Host data queued before is delivered first; send a marker after it. */
    FZ_ASSERT(model_console_send(t->e.m, 0, "\xff!", 2) == 0);
    buf->busy = buf->writable = 1;
    /* (the marker may be split between two reads: keep the last two bytes) */
    for (tail[0] = tail[1] = 0; tail[0] != 0xff || tail[1] != '!';) {
        r = virtio_console_read(&t->con, 0, buf->data, buf->size, VIRTIO_CONSOLE_WAIT, &got);
        FZ_ASSERT(r == VIRTIO_OK);
        tail[0] = got >= 2 ? buf->data[got - 2] : tail[1];
        tail[1] = buf->data[got - 1];
    }
    buf->busy = 0;
    fz_buf_fill(buf);
    fz_no_bugs(&t->e);
    con_down(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    con_fz t;
    model_options mo;
    fz_buf buf;
    uint32_t k, p;
    memset(&t, 0, sizeof t);
    fz_env_init(&t.e, data, size);
    fz_bus(&t.e);
    fz_transport(&t.e, FZ_RING == VIRTIO_RING_PACKED);
    model_console_options_init(&t.co);
    k = fz_u8(&t.e.ops);
    t.co.max_ports = 1 + fz_below(&t.e.ops, 6);
    if (k & 1) t.co.features &= ~MODEL_CONSOLE_F_MULTIPORT;
    if (k & 2) t.co.features &= ~MODEL_CONSOLE_F_EMERG_WRITE;
    if (k & 4) t.co.features &= ~MODEL_CONSOLE_F_SIZE;
    if (k & 8) t.co.features &= ~MODEL_F_EVENT_IDX;
    if (FZ_RING != VIRTIO_RING_PACKED) t.co.features &= ~MODEL_F_RING_PACKED;
    t.co.queue_size = 32;
    t.o.device.ring = FZ_RING;
    t.o.device.no_event_idx = (k >> 4) & 1;
    t.o.no_multiport = (k >> 5) & 1;
    t.o.ports = t.o.no_multiport ? 1 : 1 + fz_below(&t.e.ops, CON_PORTS);
    if (k & 64) t.o.buffers = fz_below(&t.e.ops, 36);
    if (k & 128) t.o.buffer_size = fz_below(&t.e.ops, 4200);
    fz_options(&t.e, &mo);
    t.e.m = model_console_new(t.e.bus, &mo, &t.co);
    FZ_ASSERT(t.e.m);
    for (p = 1; p < t.co.max_ports; p++)
        if (fz_u8(&t.e.ops) & 1) model_console_add_port(t.e.m, p, 0, "port");
    fz_knobs(&t.e, con_nq(&t));
    t.e.m->knobs.hostile = fz_hostile_plain_used;
    t.e.m->knobs.hostile_user = &t;
    fz_buf_new(&buf, 3000);
    fz_identity(&t.e, &buf, 1);
    con_up(&t);
    con_ops(&t, &buf);
    con_down(&t);
    con_recover(&t, &buf);
    fz_buf_check(&buf);
    fz_buf_free(&buf);
    model_bus_free(t.e.bus);
    return 0;
}
