/* SPDX-License-Identifier: MIT OR Unlicense */
/* model_console.c - virtio-console backend of the software VirtIO device
   (virtio 1.2 section 5.3). See model_console.h. */
#include "model_console.h"

#include <stdlib.h>
#include <string.h>

/* struct virtio_console_config: le16 cols, le16 rows, le32 max_nr_ports,
   le32 emerg_wr (5.3.4). */
#define CC_COLS 0u
#define CC_ROWS 2u
#define CC_MAX_PORTS 4u
#define CC_EMERG 8u
#define CC_BYTES 12u
#define CTRL_MAX 4096u           /* control messages waiting for buffers */
#define MSG_MAX 136u             /* header, a 127-byte name, NUL */
#define HOLD_MAX 1024u
#define CTRL_RXQ 2u
#define CTRL_TXQ 3u

typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
} bytes;

typedef struct cmsg {
    uint32_t len;
    uint8_t b[MSG_MAX];
} cmsg;

typedef struct cport {
    model_console_port st;
    bytes in;                    /* host -> guest, consumed from in_off */
    size_t in_off;
    uint32_t woken;              /* rx_needs_notify: its receive queue notified while open */
    bytes out;                   /* guest -> host */
} cport;

typedef struct con {
    model_console_options o;
    model_console_knobs knobs;
    model_console_stats stats;
    cport port[MODEL_CONSOLE_MAX_PORTS];
    cmsg *ctrl;                  /* ring of CTRL_MAX */
    uint32_t chead, ccount;
    uint32_t ready;              /* DEVICE_READY seen since the last reset */
    uint32_t multiport;          /* negotiated */
    uint32_t nq;                 /* queues: 2, or 2 x max_ports + 2 when MULTIPORT is offered */
    uint32_t removed;            /* bit p: port p was removed since DEVICE_READY (its messages may cross) */
    uint32_t raw;                /* the test injected raw control messages (ports the model never had) */
    bytes emerg;
    model_chain *held[HOLD_MAX];
    uint32_t nheld;
} con;

static int con_process(model *m, void *state, model_chain *c);

static con *con_of(model *m)
{
    const model_backend *be = model_backend_of(m);
    return be && be->process == con_process ? (con *)be->state : NULL;
}

static int append(bytes *b, const void *data, size_t len)
{
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        uint8_t *p;
        while (cap < b->len + len) cap *= 2;
        p = (uint8_t *)realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    if (len) memcpy(b->p + b->len, data, len);
    b->len += len;
    return 0;
}

void model_console_options_init(model_console_options *o)
{
    memset(o, 0, sizeof *o);
    o->features = MODEL_CONSOLE_F_SIZE | MODEL_CONSOLE_F_MULTIPORT | MODEL_CONSOLE_F_EMERG_WRITE | MODEL_F_VERSION_1 |
                  MODEL_F_RING_PACKED | MODEL_F_EVENT_IDX | MODEL_F_INDIRECT_DESC;
    o->max_ports = 4;
    o->queue_size = 128;
    o->ctrl_queue_size = 32;
    o->cols = 80;
    o->rows = 25;
}

static int live(model *m)
{
    return (model_status(m) & MODEL_S_DRIVER_OK) != 0;
}

/* Hand waiting control messages to the driver while it has buffers. */
static void deliver_ctrl(model *m, con *c)
{
    while (c->ccount && c->multiport && live(m) && model_queue_ready(m, CTRL_RXQ)) {
        cmsg *msg = &c->ctrl[c->chead];
        model_chain *ch = model_pop(m, CTRL_RXQ);
        uint32_t n;
        if (!ch) break;
        if (ch->read_len) model_bug(m, "console: control receive buffer with %llu device-readable bytes",
                                    (unsigned long long)ch->read_len);
        n = msg->len < ch->write_len ? msg->len : (uint32_t)ch->write_len;
        model_chain_write(ch, 0, msg->b, n);
        model_chain_complete(ch, n);
        c->chead = (c->chead + 1) % CTRL_MAX;
        c->ccount--;
        c->stats.ctrl_to_driver++;
    }
    if (c->knobs.drop_control) {   /* QEMU loses what finds no buffer */
        c->stats.ctrl_dropped += c->ccount;
        c->ccount = 0;
    }
}

static void push_raw(model *m, con *c, const void *b, uint32_t len)
{
    cmsg *msg;
    if (c->ccount == CTRL_MAX || len > MSG_MAX) return;
    msg = &c->ctrl[(c->chead + c->ccount) % CTRL_MAX];
    memcpy(msg->b, b, len);
    msg->len = len;
    c->ccount++;
    if (c->ccount > c->stats.max_ctrl_pending) c->stats.max_ctrl_pending = c->ccount;
    deliver_ctrl(m, c);
}

static void push(model *m, con *c, uint32_t id, uint16_t event, uint16_t value, const void *extra, uint32_t elen)
{
    uint8_t b[MSG_MAX];
    if (8 + elen > MSG_MAX) elen = MSG_MAX - 8;
    model_st32(m, b, id);
    model_st16(m, b + 4, event);
    model_st16(m, b + 6, value);
    if (elen) memcpy(b + 8, extra, elen);
    push_raw(m, c, b, 8 + elen);
}

/* Host -> guest bytes of port p into the buffers the driver posted. */
static void deliver_port(model *m, con *c, uint32_t p)
{
    cport *pt = &c->port[p];
    uint32_t q = p ? 2 * p + 2 : 0;
    if (!live(m) || !pt->st.exists || !model_queue_ready(m, q)) return;
    if (c->multiport ? !pt->st.guest_open : p != 0) return;
    if (c->multiport && c->knobs.rx_needs_notify && !pt->woken) return;
    while (pt->in_off < pt->in.len) {
        model_chain *ch = model_pop(m, q);
        size_t n = pt->in.len - pt->in_off;
        if (!ch) break;
        if (ch->read_len) model_bug(m, "console: receive buffer of port %u with %llu device-readable bytes", p,
                                    (unsigned long long)ch->read_len);
        if (n > ch->write_len) n = (size_t)ch->write_len;
        if (c->knobs.rx_chunk && n > c->knobs.rx_chunk) n = c->knobs.rx_chunk;
        model_chain_write(ch, 0, pt->in.p + pt->in_off, n);
        model_chain_complete(ch, (uint32_t)n);
        pt->in_off += n;
        c->stats.rx_buffers++;
    }
    if (pt->in_off == pt->in.len) pt->in_off = pt->in.len = 0;
}

static void deliver_all(model *m, con *c)
{
    uint32_t p;
    deliver_ctrl(m, c);
    for (p = 0; p < c->o.max_ports; p++) deliver_port(m, c, p);
}

/* What the driver transmitted on port p. */
static void take_tx(model *m, con *c, model_chain *ch, uint32_t p)
{
    cport *pt = &c->port[p];
    uint64_t off;
    uint8_t b[512];
    c->stats.tx_buffers++;
    for (off = 0; off < ch->read_len; off += sizeof b) {
        size_t n = ch->read_len - off < sizeof b ? (size_t)(ch->read_len - off) : sizeof b;
        model_chain_read(ch, off, b, n);
        if (pt->st.exists && pt->st.host_open) append(&pt->out, b, n);
        else c->stats.tx_discarded += n;
    }
    (void)m;
}

/* A control message from the driver (5.3.6.2). */
static void control_msg(model *m, con *c, const uint8_t *b)
{
    uint32_t id = model_ld32(m, b), p;
    uint16_t ev = model_ld16(m, b + 4), val = model_ld16(m, b + 6);
    cport *pt;
    c->stats.ctrl_from_driver++;
    if (ev == MODEL_CONSOLE_DEVICE_READY) {
        if (c->ready) model_bug(m, "console: DEVICE_READY sent twice without a reset");
        c->ready = 1;
        c->stats.device_ready++;
        if (val)
            for (p = 0; p < c->o.max_ports; p++)
                if (c->port[p].st.exists) push(m, c, p, MODEL_CONSOLE_DEVICE_ADD, 1, 0, 0);
        return;
    }
    if (!c->ready) {
        model_bug(m, "console: control event %u before DEVICE_READY", ev);
        return;
    }
    if (id >= c->o.max_ports || !c->port[id].st.exists) {
        /* A message the driver sent before it saw the port go (or about a
           port only a raw message announced) is the device's doing. */
        if (!c->raw && !(id < 32 && (c->removed >> id & 1u)))
            model_bug(m, "console: control event %u for port %u, which the device did not add", ev, id);
        return;
    }
    pt = &c->port[id];
    switch (ev) {
    case MODEL_CONSOLE_PORT_READY:
        if (!val) {
            pt->st.ready_fail = 1;
            break;
        }
        pt->st.ready = 1;
        if (pt->st.console) push(m, c, id, MODEL_CONSOLE_CONSOLE_PORT, 1, 0, 0);
        if (pt->st.name[0])
            push(m, c, id, MODEL_CONSOLE_PORT_NAME, 1, pt->st.name,
                 (uint32_t)strlen(pt->st.name) + (c->knobs.name_nul ? 1 : 0));
        if (pt->st.host_open) push(m, c, id, MODEL_CONSOLE_PORT_OPEN, 1, 0, 0);
        break;
    case MODEL_CONSOLE_PORT_OPEN:
        /* One in flight across a removal is not the driver's fault. */
        if (!pt->st.ready && !c->raw && !(c->removed >> id & 1u))
            model_bug(m, "console: PORT_OPEN for port %u before PORT_READY", id);
        pt->st.guest_open = val != 0;
        if (!pt->st.guest_open) pt->woken = 0;
        deliver_port(m, c, id);
        break;
    default:
        model_bug(m, "console: event %u is the device's to send, not the driver's", ev);
        break;
    }
}

static int con_process(model *m, void *state, model_chain *ch)
{
    con *c = (con *)state;
    ch->used_len = 0;
    if (ch->write_len) model_bug(m, "console: queue %u buffer with %llu device-writable bytes", ch->queue,
                                 (unsigned long long)ch->write_len);
    if (ch->queue == CTRL_TXQ) {
        uint8_t b[8];
        if (ch->read_len < 8) model_bug(m, "console: control message of %llu bytes", (unsigned long long)ch->read_len);
        else if (model_chain_read(ch, 0, b, 8) == 8) control_msg(m, c, b);
        return MODEL_DONE;
    }
    if ((ch->queue & 1u) == 0) {
        model_bug(m, "console: receive queue %u processed by the device", ch->queue);
        return MODEL_DONE;
    }
    /* Transmit data leaves in order: while earlier buffers are held, so is this one. */
    if ((c->knobs.hold_tx || c->nheld) && c->nheld < HOLD_MAX) {
        c->held[c->nheld++] = ch;
        return MODEL_HOLD;
    }
    take_tx(m, c, ch, ch->queue == 1 ? 0 : (ch->queue - 2) / 2);
    return MODEL_DONE;
}

static void con_notify(model *m, void *state, uint32_t q)
{
    con *c = (con *)state;
    uint32_t p = q ? (q - 2) / 2 : 0;   /* (receive queues: 0, then 4, 6, ...) */
    if (q == CTRL_RXQ) {
        deliver_ctrl(m, c);
        return;
    }
    if (p < MODEL_CONSOLE_MAX_PORTS && c->port[p].st.guest_open) c->port[p].woken = 1;
    deliver_port(m, c, p);
}

static int con_features_ok(model *m, void *state, uint64_t f)
{
    (void)m;
    ((con *)state)->multiport = (f & MODEL_CONSOLE_F_MULTIPORT) != 0;
    return 1;
}

static void con_driver_ok(model *m, void *state)
{
    con *c = (con *)state;
    uint32_t q;
    for (q = 2; q < c->nq && !c->multiport; q++)
        if (model_queue_ready(m, q)) model_bug(m, "console: queue %u enabled without MULTIPORT (5.3.2)", q);
    deliver_all(m, c);
}

static void con_reset(model *m, void *state)
{
    con *c = (con *)state;
    uint32_t p;
    (void)m;
    c->nheld = 0;   /* the queue reset takes the chains back */
    c->ready = c->multiport = 0;
    c->ccount = 0;
    c->removed = 0;
    for (p = 0; p < MODEL_CONSOLE_MAX_PORTS; p++) c->port[p].st.ready = c->port[p].st.guest_open = c->port[p].woken = 0;
}

static int con_config_write(model *m, void *state, uint32_t off, unsigned width, uint32_t value)
{
    con *c = (con *)state;
    uint8_t b;
    if (off != CC_EMERG || !(c->o.features & MODEL_CONSOLE_F_EMERG_WRITE)) return 0;
    /* As QEMU: a write of 0 is no write; the low byte goes out, or with
       emerg_first_byte the byte at the lowest address (value is the
       field's value in the guest's order: a big-endian guest on a legacy
       interface has its high byte there). */
    if (value) {
        b = (uint8_t)(c->knobs.emerg_first_byte && model_guest_be(m) && width == 4 ? value >> 24 : value);
        append(&c->emerg, &b, 1);
        c->stats.emerg++;
    }
    return 1;
}

static void con_destroy(void *state)
{
    con *c = (con *)state;
    uint32_t p;
    for (p = 0; p < MODEL_CONSOLE_MAX_PORTS; p++) {
        free(c->port[p].in.p);
        free(c->port[p].out.p);
    }
    free(c->emerg.p);
    free(c->ctrl);
    free(c);
}

model *model_console_new(model_bus *bus, const model_options *o, const model_console_options *co)
{
    model_backend be;
    con *c;
    model *m;
    uint32_t q;
    if (!bus || !o || !co || co->max_ports == 0 || co->max_ports > MODEL_CONSOLE_MAX_PORTS) return NULL;
    c = (con *)calloc(1, sizeof *c);
    if (!c) return NULL;
    c->ctrl = (cmsg *)calloc(CTRL_MAX, sizeof *c->ctrl);
    if (!c->ctrl) {
        free(c);
        return NULL;
    }
    c->o = *co;
    c->knobs.name_nul = 1;
    c->knobs.emerg_first_byte = 1;
    c->port[0].st.exists = c->port[0].st.console = c->port[0].st.host_open = 1;
    memset(&be, 0, sizeof be);
    be.name = "console";
    be.device_id = 3;
    be.features = co->features;
    be.config_size = CC_BYTES;
    /* Ports beyond 0 and the control queues exist only with MULTIPORT (5.3.2). */
    be.num_queues = c->nq = co->features & MODEL_CONSOLE_F_MULTIPORT ? 2 * co->max_ports + 2 : 2;
    for (q = 0; q < be.num_queues; q++) {
        be.queue_max[q] = q == CTRL_RXQ || q == CTRL_TXQ ? co->ctrl_queue_size : co->queue_size;
        be.queue_flags[q] = (q & 1u) ? 0 : MODEL_QF_PULL;
    }
    be.pci_class = 0x078000u;   /* communication controller, other */
    be.state = c;
    be.process = con_process;
    be.notify = con_notify;
    be.features_ok = con_features_ok;
    be.driver_ok = con_driver_ok;
    be.reset = con_reset;
    be.config_write = con_config_write;
    be.destroy = con_destroy;
    m = model_new(bus, o, &be);   /* destroys c on failure */
    if (!m) return NULL;
    model_config_set(m, CC_COLS, 2, co->cols);
    model_config_set(m, CC_ROWS, 2, co->rows);
    model_config_set(m, CC_MAX_PORTS, 4, co->max_ports);
    model_config_set(m, CC_EMERG, 4, 0);
    return m;
}

int model_console_add_port(model *m, uint32_t id, int console, const char *name)
{
    con *c = con_of(m);
    cport *pt;
    if (!c || id >= c->o.max_ports || c->port[id].st.exists) return -1;
    pt = &c->port[id];
    memset(&pt->st, 0, sizeof pt->st);
    pt->st.exists = 1;
    pt->st.console = console != 0;
    pt->st.host_open = 1;
    if (name) {
        strncpy(pt->st.name, name, sizeof pt->st.name - 1);
        pt->st.name[sizeof pt->st.name - 1] = 0;
    }
    if (c->ready) push(m, c, id, MODEL_CONSOLE_DEVICE_ADD, 1, 0, 0);
    return 0;
}

int model_console_remove_port(model *m, uint32_t id)
{
    con *c = con_of(m);
    if (!c || id >= c->o.max_ports || !c->port[id].st.exists) return -1;
    memset(&c->port[id].st, 0, sizeof c->port[id].st);
    c->removed |= 1u << id;
    if (c->ready) push(m, c, id, MODEL_CONSOLE_DEVICE_REMOVE, 1, 0, 0);
    return 0;
}

int model_console_host_open(model *m, uint32_t id, int open)
{
    con *c = con_of(m);
    if (!c || id >= c->o.max_ports || !c->port[id].st.exists) return -1;
    c->port[id].st.host_open = open != 0;
    if (c->ready) push(m, c, id, MODEL_CONSOLE_PORT_OPEN, (uint16_t)(open != 0), 0, 0);
    return 0;
}

int model_console_resize(model *m, uint32_t id, uint16_t cols, uint16_t rows)
{
    con *c = con_of(m);
    uint8_t b[4];
    if (!c || id >= c->o.max_ports || !c->ready) return -1;
    model_st16(m, b, cols);   /* cols first (5.3.6.2, virtio_console_resize) */
    model_st16(m, b + 2, rows);
    push(m, c, id, MODEL_CONSOLE_RESIZE, 0, b, 4);
    return 0;
}

void model_console_set_size(model *m, uint16_t cols, uint16_t rows)
{
    if (!con_of(m)) return;
    model_put16(model_config(m) + CC_COLS, cols);
    model_put16(model_config(m) + CC_ROWS, rows);
    model_config_changed(m);
}

int model_console_control(model *m, const void *msg, uint32_t len)
{
    con *c = con_of(m);
    if (!c || len > MSG_MAX) return -1;
    c->raw = 1;
    push_raw(m, c, msg, len);
    return 0;
}

int model_console_send(model *m, uint32_t id, const void *data, size_t len)
{
    con *c = con_of(m);
    if (!c || id >= c->o.max_ports || append(&c->port[id].in, data, len)) return -1;
    deliver_port(m, c, id);
    return 0;
}

size_t model_console_pending(model *m, uint32_t id)
{
    con *c = con_of(m);
    return c && id < c->o.max_ports ? c->port[id].in.len - c->port[id].in_off : 0;
}

const uint8_t *model_console_output(model *m, uint32_t id, size_t *len)
{
    con *c = con_of(m);
    if (len) *len = c && id < c->o.max_ports ? c->port[id].out.len : 0;
    return c && id < c->o.max_ports ? c->port[id].out.p : NULL;
}

const uint8_t *model_console_emerg(model *m, size_t *len)
{
    con *c = con_of(m);
    if (len) *len = c ? c->emerg.len : 0;
    return c ? c->emerg.p : NULL;
}

uint32_t model_console_release_tx(model *m, uint32_t n)
{
    con *c = con_of(m);
    uint32_t done = 0, i;
    if (!c) return 0;
    while (c->nheld && (n == 0 || done < n)) {
        model_chain *ch = c->held[0];
        for (i = 1; i < c->nheld; i++) c->held[i - 1] = c->held[i];
        c->nheld--;
        take_tx(m, c, ch, ch->queue == 1 ? 0 : (ch->queue - 2) / 2);
        model_chain_complete(ch, 0);
        done++;
    }
    return done;
}

const model_console_port *model_console_port_state(model *m, uint32_t id)
{
    con *c = con_of(m);
    return c && id < c->o.max_ports ? &c->port[id].st : NULL;
}

model_console_knobs *model_console_get_knobs(model *m)
{
    con *c = con_of(m);
    return c ? &c->knobs : NULL;
}

model_console_stats *model_console_get_stats(model *m)
{
    con *c = con_of(m);
    return c ? &c->stats : NULL;
}
