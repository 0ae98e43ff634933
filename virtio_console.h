/* SPDX-License-Identifier: MIT OR Unlicense */
#if defined(VIRTIO_IMPLEMENTATION) && !defined(VIRTIO_CONSOLE_IMPLEMENTATION)
#define VIRTIO_CONSOLE_IMPLEMENTATION
#endif
#include "virtio.h"
#ifndef VIRTIO_CONSOLE_H
#define VIRTIO_CONSOLE_H
/*
virtio_console.h - v0.3.11 - VirtIO console driver (serial ports) for virtio.h - MIT OR Unlicense

QUICK START

    #define VIRTIO_IMPLEMENTATION      // in one file
    #include "virtio_console.h"

    virtio_device dev;                 // from virtio_mmio_probe / virtio_pci_probe
    static virtio_console con;         // zero-filled: init refuses a running one
    char line[64];
    size_t n;
    if (virtio_console_init(&con, &dev, NULL) == VIRTIO_OK) {
        virtio_console_write(&con, 0, "hello\n", 6, VIRTIO_CONSOLE_WAIT, NULL);
        if (virtio_console_read(&con, 0, line, sizeof line, VIRTIO_CONSOLE_WAIT, &n) == VIRTIO_OK)
            virtio_console_write(&con, 0, line, n, VIRTIO_CONSOLE_WAIT, NULL);   // echo
    }

CONFIGURATION

    macro                          default   scope
    VIRTIO_CONSOLE_IMPLEMENTATION  -         emit this driver (VIRTIO_IMPLEMENTATION implies it)

Runtime choices are in virtio_console_options (all-zero = defaults).

PORTS

A console device has one or more ports, each a byte stream in both
directions (virtio 1.2 section 5.3). Port 0 always exists. When the device
offers MULTIPORT the driver takes it (unless options.no_multiport) and runs
the control queues: it tells the device it is ready, accepts the ports the
device adds (up to options.ports, ids 0 .. ports-1), and opens each one.
What the device says about a port lands in c->port[i]: present, console,
host_open, name, cols/rows. Init takes what a device answers at once; a
device that answers later (QEMU's PCI transport can: its main loop, not
the vCPU, takes the notification) is heard by later calls, and
virtio_console_refresh() then reports VIRTIO_CONSOLE_CHANGED_PORTS.
Ports with higher ids are not answered: the device keeps them closed.
Without MULTIPORT only port 0 exists and is assumed open. Reads and writes
work on any served port whatever its state; a device discards what is
written to a port nobody listens on (QEMU does). Control messages are
handled inside every call on the console (at most two rounds of a control
queue's worth each time) and always notified at once.

READ AND WRITE

Received bytes are copied out of driver buffers, in the order the device
sent them; a buffer is posted again as soon as it is empty. Written bytes
are copied into driver buffers and posted; a write larger than the buffers
continues as the device gives them back. Flags: VIRTIO_MORE (post, notify
later with virtio_console_kick) and VIRTIO_CONSOLE_WAIT (block, bounded by
the platform timeout). A read with WAIT returns as soon as at least one
byte is there; a write with WAIT returns when the device has taken every
byte written to the port so far (a write of 0 bytes with WAIT is a flush).

Bytes the host sent before a port was open arrive too: after its
PORT_OPEN the driver notifies the port's receive queue once more, since
QEMU's port looks for buffers, and starts reading its chardev again, only
when told while the port is open (on virtio-mmio under TCG nothing else
woke QEMU's main loop, and a guest that busy-polls waited for ever).

EMERGENCY WRITE

virtio_console_emerg_write() writes bytes one by one into the emerg_wr
configuration field (EMERG_WRITE): no queue is involved, so it works even
when the console is broken. QEMU sends them to the first console port whose
host end is connected and drops plain zero writes; a NUL byte is therefore
written as 0x100 (the device takes the low byte, virtio 1.2 5.3.5). On a
legacy interface a big-endian CPU writes the field in its own order, yet
QEMU takes the byte at its lowest address: there each byte is written to
both ends of the field (c x 0x01010101; a NUL as 0x00010100).

UNTRUSTED DEVICE

Every buffer the device can write is the driver's own DMA memory; a used
length is clamped to the buffer by the queue layer. Control messages are
checked for length, port range (max_nr_ports) and event; names are
truncated into a fixed field and always NUL-terminated; anything else is
counted in `dropped` and ignored. A queue the device breaks (a bad used id
or index) makes that call fail with VIRTIO_ERR_DEVICE (bytes already copied
are returned first) and the console VIRTIO_ERR_STATE until it is shut
down and initialised again. Every wait ends at the platform timeout (it
does not restart while the device trickles), or earlier with
VIRTIO_ERR_NEEDS_RESET; each call handles at most one queue's worth of
buffers per queue before it waits or returns.

INTERRUPTS

Everything works by polling. For interrupts, pass &con.dev to
virtio_device_isr() and arm with virtio_queue_enable_cb(): port[i].rxq for
received bytes, ctrl_rxq for port events (multiport), port[i].txq while a
writer waits for room. On VIRTIO_ISR_CONFIG call virtio_console_refresh().
With event index an armed queue interrupts once: re-arm after each drain
and drain again when enable_cb reports pending.

MEMORY

At init, through dma_alloc: per served port two rings (receive, transmit;
queue size = buffers rounded up to a power of two) with their private
shadows (VIRTIO_MEM_PRIVATE), and one VIRTIO_MEM_DMA block of
2 x buffers x buffer_size bytes (align 16); with MULTIPORT also the two
control rings (32 and 8 entries) and one VIRTIO_MEM_DMA block of
32 x 64 + 8 x 8 bytes (align 16). The rings are virtio_queue_init's (see
there). Defaults on a modern transport: per port 2 rings of 222 bytes
(split; 136 packed), 2 shadows of 128 bytes and a 4096-byte buffer block;
control: rings of 846 and 222 bytes (packed 520 and 136), shadows of 512
and 128 bytes (shadows: 16 bytes per entry, 12 on 32-bit CPUs), a 2112-byte block. No allocation is larger than 4096
bytes. Legacy transports put each ring's used part on its own 4096-byte
page.

LIMITS

Ports 0 .. VIRTIO_CONSOLE_MAX_PORTS-1 (4); 1 to 32 buffers per direction
and port (default 8), 16 to 4096 bytes each (default 256). Port names up to
VIRTIO_CONSOLE_NAME_MAX - 1 bytes. Console size comes from the
configuration (SIZE, port 0; cols before rows as in virtio 1.2 5.3.4) and
from RESIZE messages (cols, rows). The emergency write needs
virtio_console_init first (its feature bit is negotiated there).

license: end of file (virtio.h)
*/

#if !defined(VIRTIO_KIT_VERSION) || VIRTIO_KIT_VERSION < 2 || VIRTIO_KIT_COMPAT > 2
#error "virtio_console.h needs the virtio.h driver kit 2"
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define VIRTIO_CONSOLE_MAX_PORTS 4
#define VIRTIO_CONSOLE_NAME_MAX 56
/* Flag for read and write: block until done, bounded by the platform timeout. */
#define VIRTIO_CONSOLE_WAIT 2u
/* Bits reported by virtio_console_refresh. */
#define VIRTIO_CONSOLE_CHANGED_SIZE 1u    /* info.cols/rows or a port's cols/rows */
#define VIRTIO_CONSOLE_CHANGED_PORTS 2u   /* a port was added, removed, named, opened or closed */
/* last_status before the device sent any control message. */
#define VIRTIO_CONSOLE_STATUS_NONE 0xffffffffu

/* Driver choices. Defaults (all zero):
     device        automatic ring format, indirect and event index if offered
     ports         1: serve port 0 only (1..VIRTIO_CONSOLE_MAX_PORTS; more
                   than one needs MULTIPORT)
     no_multiport  0: take MULTIPORT when offered; nonzero: port 0 only,
                   no control queues
     buffers       8 receive and 8 transmit buffers per port (1..32)
     buffer_size   256 bytes per buffer (16..4096) */
typedef struct virtio_console_options {
    virtio_device_options device;
    uint32_t ports;
    uint32_t no_multiport;
    uint32_t buffers;
    uint32_t buffer_size;
} virtio_console_options;

/* What the device told us, decoded. */
typedef struct virtio_console_info {
    uint32_t multiport;      /* MULTIPORT negotiated: control queues in use */
    uint32_t max_ports;      /* max_nr_ports (MULTIPORT), else 1 */
    uint32_t ports;          /* ports served: ids 0 .. ports-1 */
    uint32_t emerg_write;    /* EMERG_WRITE negotiated */
    uint32_t size;           /* SIZE negotiated: cols and rows are the device's */
    uint32_t cols, rows;     /* console size of port 0 (SIZE), else 0 */
} virtio_console_info;

/* One port. Readable: rxq, txq, id, present (the device added it; port 0
   without MULTIPORT: 1), console (the device nominated it a console),
   host_open (the host end is open; without MULTIPORT: 1), guest_open (the
   driver told the device it is open), cols/rows (last RESIZE, else 0),
   name (PORT_NAME, NUL-terminated, "" if none), rx_bytes / tx_bytes
   (bytes handed to the caller / posted to the device). */
typedef struct virtio_console_port {
    virtio_queue rxq, txq;
    uint32_t id;
    uint32_t present, console, host_open, guest_open;
    uint32_t cols, rows;
    char name[VIRTIO_CONSOLE_NAME_MAX];
    uint64_t rx_bytes, tx_bytes;
    struct {
        unsigned char *buf;        /* DMA: receive buffers, then transmit buffers */
        uint64_t buf_dev;
        size_t buf_bytes;
        uint32_t tx_busy;          /* bit k: transmit buffer k is with the device */
        uint32_t rx_cur;           /* receive buffer being read + 1 (0: none) */
        uint32_t rx_off, rx_len;
        uint32_t send;             /* control messages owed to the device */
    } priv;
} virtio_console_port;

/* A console device. Caller-owned, must not move after init. Readable:
   dev, ctrl_rxq, ctrl_txq (MULTIPORT), info, port[0 .. info.ports-1],
   last_status (the last control message the device sent, as
   event << 16 | value; VIRTIO_CONSOLE_STATUS_NONE before any), dropped
   (malformed control messages ignored). The rest is private. */
typedef struct virtio_console {
    virtio_device dev;
    virtio_queue ctrl_rxq, ctrl_txq;
    virtio_console_info info;
    virtio_console_port port[VIRTIO_CONSOLE_MAX_PORTS];
    uint32_t last_status;
    uint32_t dropped;
    struct {
        uint32_t magic;
        uint32_t broken;           /* a queue broke: everything but shutdown refuses */
        uint32_t nbuf, bsize;
        uint32_t changed;          /* VIRTIO_CONSOLE_CHANGED_* not yet reported */
        uint32_t ready_owed;       /* DEVICE_READY not yet posted */
        unsigned char *ctrl;       /* DMA: control receive buffers, then transmit slots */
        uint64_t ctrl_dev;
        size_t ctrl_bytes;
        uint32_t ctrl_nrx, ctrl_ntx;
        uint32_t ctrl_busy;        /* bit k: control transmit slot k is with the device */
    } priv;
} virtio_console;

/* Initialise a console on a probed device (copied into c->dev); c must
   be zero-filled or shut down (a running one is refused): negotiate
   SIZE, EMERG_WRITE and MULTIPORT, read the configuration into c->info,
   set up the ports' queues (and the control queues), post the receive
   buffers, set DRIVER_OK, and with MULTIPORT announce the driver and handle
   the port messages the device has already answered with.
   Returns VIRTIO_OK; VIRTIO_ERR_STATE (c is initialised: shut it down
   first; nothing is changed); VIRTIO_ERR_NOT_FOUND (not a console device);
   VIRTIO_ERR_INVALID_ARG (NULL, options out of range, ports > 1 with
   no_multiport); VIRTIO_ERR_DEVICE (MULTIPORT with max_nr_ports 0, the
   device broke a queue, or lacks a queue or configuration field its type
   requires: see virtio_device_fault); VIRTIO_ERR_NO_MEMORY; the errors of
   virtio_device_begin and virtio_queue_init. If the reset after a failure
   does not finish, the memory already allocated is leaked, not freed.
   Context: blocks for the reset (bounded); allocates through dma_alloc. */
VIRTIO_API virtio_result virtio_console_init(virtio_console *c, const virtio_device *dev,
                                             const virtio_console_options *o);

/* Reset the device and free the driver's memory. Returns VIRTIO_OK;
   VIRTIO_ERR_TIMEOUT (the reset did not finish: the memory the device may
   still write is leaked, not freed; c is shut down all the same);
   VIRTIO_ERR_STATE (not initialised). */
VIRTIO_API virtio_result virtio_console_shutdown(virtio_console *c);

/* Read up to len bytes from port `port`. flags: VIRTIO_MORE (buffers
   emptied are posted again but the device is not notified),
   VIRTIO_CONSOLE_WAIT (wait until at least one byte is there). out: got
   (bytes copied, may be NULL). Returns VIRTIO_OK (got >= 1);
   VIRTIO_EMPTY (nothing received, without WAIT); VIRTIO_ERR_TIMEOUT;
   VIRTIO_ERR_NEEDS_RESET; VIRTIO_ERR_DEVICE (the device broke a queue);
   VIRTIO_ERR_INVALID_ARG (NULL buf, len 0, port not served, unknown
   flags); VIRTIO_ERR_STATE. Context: WAIT blocks, bounded by the platform
   timeout; otherwise never blocks. */
VIRTIO_API virtio_result virtio_console_read(virtio_console *c, uint32_t port, void *buf, size_t len, uint32_t flags,
                                             size_t *got);

/* Write len bytes to port `port`. Without WAIT: copy what fits into free
   buffers now and post it; with VIRTIO_CONSOLE_WAIT: post everything,
   reusing buffers as the device gives them back, and return when the
   device has taken every byte. VIRTIO_MORE: do not notify the device
   (unless the buffers ran out); virtio_console_kick does. out: sent
   (bytes posted, may be NULL). Returns VIRTIO_OK; VIRTIO_ERR_NO_SPACE
   (without WAIT: not one byte fitted); VIRTIO_ERR_TIMEOUT (WAIT: the
   device stopped taking buffers; port[port].tx_bytes counts what was
   posted); VIRTIO_ERR_NEEDS_RESET; VIRTIO_ERR_DEVICE;
   VIRTIO_ERR_INVALID_ARG (NULL buf with len > 0, port not served, unknown
   flags); VIRTIO_ERR_STATE. Context: WAIT blocks, bounded by the
   platform timeout; otherwise never blocks. */
VIRTIO_API virtio_result virtio_console_write(virtio_console *c, uint32_t port, const void *buf, size_t len,
                                              uint32_t flags, size_t *sent);

/* Notify the device of buffers posted with VIRTIO_MORE. Returns
   VIRTIO_OK or VIRTIO_ERR_STATE. Context: a few register writes at most. */
VIRTIO_API virtio_result virtio_console_kick(virtio_console *c);

/* Emergency write (EMERG_WRITE): each byte of buf[0..len) through the
   emerg_wr configuration field. Works while the console is broken too.
   Returns VIRTIO_OK; VIRTIO_ERR_UNSUPPORTED (not offered);
   VIRTIO_ERR_RANGE (the configuration has no emerg_wr);
   VIRTIO_ERR_INVALID_ARG (NULL buf with len > 0); VIRTIO_ERR_STATE (not
   initialised). Context: one configuration write per byte. */
VIRTIO_API virtio_result virtio_console_emerg_write(virtio_console *c, const void *buf, size_t len);

/* Handle pending control messages, re-read the console size (SIZE) into
   c->info, and report what changed since the last refresh (or since
   init: what init saw is not reported) as VIRTIO_CONSOLE_CHANGED_* bits.
   out: changed (may be NULL). On an error c->info keeps its previous
   values. Returns VIRTIO_OK;
   VIRTIO_ERR_NEEDS_RESET (the device asks for a reset: shut down and
   initialise again); VIRTIO_ERR_DEVICE (a control queue broke, or the
   configuration never settled); VIRTIO_ERR_STATE. Call it after
   virtio_device_isr reports VIRTIO_ISR_CONFIG, or now and then. Context:
   never blocks. */
VIRTIO_API virtio_result virtio_console_refresh(virtio_console *c, uint32_t *changed);

#ifdef __cplusplus
}
#endif
#endif /* VIRTIO_CONSOLE_H */

/* ==================================================================== */
/* Implementation                                                        */
/* ==================================================================== */
#if defined(VIRTIO_CONSOLE_IMPLEMENTATION) && !defined(VIRTIO__CONSOLE_DONE)
#define VIRTIO__CONSOLE_DONE

/* >>console.wire (virtio 1.2 5.3) */
#define VIRTIO__CON_F_SIZE 0
#define VIRTIO__CON_F_MULTIPORT 1
#define VIRTIO__CON_F_EMERG_WRITE 2
#define VIRTIO__CON_CFG_COLS 0          /* le16 cols, le16 rows (SIZE) */
#define VIRTIO__CON_CFG_MAX_PORTS 4     /* le32 (MULTIPORT) */
#define VIRTIO__CON_CFG_EMERG_WR 8      /* le32 (EMERG_WRITE) */
/* Control events (5.3.6.2): le32 id, le16 event, le16 value. */
#define VIRTIO__CON_DEVICE_READY 0
#define VIRTIO__CON_DEVICE_ADD 1
#define VIRTIO__CON_DEVICE_REMOVE 2
#define VIRTIO__CON_PORT_READY 3
#define VIRTIO__CON_CONSOLE_PORT 4
#define VIRTIO__CON_RESIZE 5            /* followed by le16 cols, le16 rows */
#define VIRTIO__CON_PORT_OPEN 6
#define VIRTIO__CON_PORT_NAME 7         /* followed by the name */
#define VIRTIO__CON_MSG 8u
#define VIRTIO__CON_CTRL_BUF 64u        /* control receive buffer: a message and a name */
#define VIRTIO__CON_CTRL_RX 32u         /* QEMU drops control messages it has no buffer for */
#define VIRTIO__CON_CTRL_TX 8u
#define VIRTIO__CON_OWE_READY 1u        /* port->priv.send */
#define VIRTIO__CON_OWE_OPEN 2u
#define VIRTIO__CON_MAGIC 0x636f6e21u   /* "con!" */

static int virtio__con_ok(const virtio_console *c)
{
    return c && c->priv.magic == VIRTIO__CON_MAGIC;
}

/* A queue the device broke: the console stays unusable until init. */
static virtio_result virtio__con_err(virtio_console *c, virtio_result r)
{
    if (r == VIRTIO_ERR_DEVICE || r == VIRTIO_ERR_STATE) c->priv.broken = 1;
    return r;
}

/* One step of a bounded wait, watching for NEEDS_RESET now and then. */
static virtio_result virtio__con_step(virtio_console *c, virtio_wait *w)
{
    uint32_t status;
    if (virtio_wait_step(w) != VIRTIO_OK) {
        virtio_log(c->dev.platform, VIRTIO_LOG_WARN, VIRTIO_MSG_TIMEOUT, 0, c->dev.device_id);
        return virtio_device_status(&c->dev, &status) == VIRTIO_ERR_NEEDS_RESET ? VIRTIO_ERR_NEEDS_RESET
                                                                                 : VIRTIO_ERR_TIMEOUT;
    }
    if ((w->spins & 1023u) == 0 && virtio_device_status(&c->dev, &status) == VIRTIO_ERR_NEEDS_RESET)
        return VIRTIO_ERR_NEEDS_RESET;
    return VIRTIO_OK;
}

static virtio_result virtio__con_post_rx(virtio_console *c, virtio_console_port *pt, uint32_t i)
{
    virtio_sg sg;
    sg.addr = pt->priv.buf_dev + (uint64_t)i * c->priv.bsize;
    sg.len = c->priv.bsize;
    sg.pad = 0;
    return virtio_queue_add(&pt->rxq, &sg, 0, 1, (void *)(uintptr_t)(i + 1));
}

static virtio_result virtio__con_post_ctrl_rx(virtio_console *c, uint32_t i)
{
    virtio_sg sg;
    sg.addr = c->priv.ctrl_dev + (uint64_t)i * VIRTIO__CON_CTRL_BUF;
    sg.len = VIRTIO__CON_CTRL_BUF;
    sg.pad = 0;
    return virtio_queue_add(&c->ctrl_rxq, &sg, 0, 1, (void *)(uintptr_t)(i + 1));
}

/* Post one control message in a free transmit slot (VIRTIO_ERR_NO_SPACE:
   none free now). */
static virtio_result virtio__con_ctrl(virtio_console *c, uint32_t id, uint32_t event, uint32_t value)
{
    size_t off;
    uint32_t k;
    virtio_sg sg;
    virtio_result r;
    for (k = 0; k < c->priv.ctrl_ntx && (c->priv.ctrl_busy >> k & 1u); k++) {}
    if (k == c->priv.ctrl_ntx) return VIRTIO_ERR_NO_SPACE;
    off = (size_t)c->priv.ctrl_nrx * VIRTIO__CON_CTRL_BUF + (size_t)k * VIRTIO__CON_MSG;
    virtio_store(&c->dev, c->priv.ctrl + off, id, 4);
    virtio_store(&c->dev, c->priv.ctrl + off + 4, event, 2);
    virtio_store(&c->dev, c->priv.ctrl + off + 6, value, 2);
    sg.addr = c->priv.ctrl_dev + off;
    sg.len = VIRTIO__CON_MSG;
    sg.pad = 0;
    if ((r = virtio_queue_add(&c->ctrl_txq, &sg, 1, 0, (void *)(uintptr_t)(k + 1))) != VIRTIO_OK) return r;
    c->priv.ctrl_busy |= 1u << k;
    return VIRTIO_OK;
}

/* One message from the device (5.3.6.2). */
static void virtio__con_message(virtio_console *c, const unsigned char *m, uint32_t len)
{
    virtio_console_port *pt;
    uint32_t id, ev, val, n;
    if (len < VIRTIO__CON_MSG) {
        c->dropped++;
        return;
    }
    id = (uint32_t)virtio_load(&c->dev, m, 4);
    ev = (uint32_t)virtio_load(&c->dev, m + 4, 2);
    val = (uint32_t)virtio_load(&c->dev, m + 6, 2);
    /* DEVICE_READY and PORT_READY only go to the device. */
    if (id >= c->info.max_ports || ev > VIRTIO__CON_PORT_NAME || ev == VIRTIO__CON_DEVICE_READY ||
        ev == VIRTIO__CON_PORT_READY || (ev == VIRTIO__CON_RESIZE && len < VIRTIO__CON_MSG + 4)) {
        c->dropped++;
        return;
    }
    c->last_status = ev << 16 | val;
    if (id >= c->info.ports) return;   /* not served: left unanswered */
    pt = &c->port[id];
    c->priv.changed |= ev == VIRTIO__CON_RESIZE ? VIRTIO_CONSOLE_CHANGED_SIZE : VIRTIO_CONSOLE_CHANGED_PORTS;
    switch (ev) {
    case VIRTIO__CON_DEVICE_ADD:
        pt->present = 1;
        pt->priv.send = VIRTIO__CON_OWE_READY | VIRTIO__CON_OWE_OPEN;
        break;
    case VIRTIO__CON_DEVICE_REMOVE:
        pt->present = pt->console = pt->host_open = pt->guest_open = 0;
        pt->cols = pt->rows = 0;
        pt->name[0] = 0;
        pt->priv.send = 0;
        break;
    case VIRTIO__CON_CONSOLE_PORT:   /* the driver must answer with PORT_OPEN 1 */
        pt->console = 1;
        pt->priv.send |= VIRTIO__CON_OWE_OPEN;
        break;
    case VIRTIO__CON_RESIZE:
        pt->cols = (uint32_t)virtio_load(&c->dev, m + 8, 2);
        pt->rows = (uint32_t)virtio_load(&c->dev, m + 10, 2);
        break;
    case VIRTIO__CON_PORT_OPEN:
        pt->host_open = val != 0;
        break;
    default:   /* PORT_NAME: the spec sends no NUL, QEMU appends one */
        for (n = 0; n + VIRTIO__CON_MSG < len && n + 1 < VIRTIO_CONSOLE_NAME_MAX && m[VIRTIO__CON_MSG + n]; n++)
            pt->name[n] = (char)m[VIRTIO__CON_MSG + n];
        pt->name[n] = 0;
        break;
    }
}

/* >>console.control: take the device's messages (at most one queue's
   worth), send what the driver owes it, and if that was anything, take
   the answers of a device that replies at once (QEMU does): two rounds. */
static virtio_result virtio__con_pump(virtio_console *c)
{
    void *cookie;
    uint32_t len, k, p, round, reposted, sent = 1, opened = 0;
    virtio_result r = VIRTIO_OK;
    if (!c->info.multiport) return VIRTIO_OK;
    for (round = 0; round < 2 && sent; round++) {
        reposted = sent = 0;
        for (k = 0; k < c->priv.ctrl_nrx; k++) {
            uint32_t i;
            r = virtio_queue_pop(&c->ctrl_rxq, &cookie, &len);
            if (r != VIRTIO_OK) break;
            i = (uint32_t)(uintptr_t)cookie - 1;
            VIRTIO_ASSERT(i < c->priv.ctrl_nrx);
            virtio__con_message(c, c->priv.ctrl + (size_t)i * VIRTIO__CON_CTRL_BUF, len);
            if ((r = virtio__con_post_ctrl_rx(c, i)) != VIRTIO_OK) break;
            reposted++;
        }
        if (reposted) virtio_queue_kick(&c->ctrl_rxq);
        if (r != VIRTIO_OK && r != VIRTIO_EMPTY) return virtio__con_err(c, r);
        while ((r = virtio_queue_pop(&c->ctrl_txq, &cookie, 0)) == VIRTIO_OK)
            c->priv.ctrl_busy &= ~(1u << ((uint32_t)(uintptr_t)cookie - 1));
        if (r != VIRTIO_EMPTY) return virtio__con_err(c, r);
        r = VIRTIO_OK;
        if (c->priv.ready_owed && (r = virtio__con_ctrl(c, 0, VIRTIO__CON_DEVICE_READY, 1)) == VIRTIO_OK) {
            c->priv.ready_owed = 0;
            sent++;
        }
        /* PORT_READY before PORT_OPEN for a port: the device reads in order. */
        for (p = 0; p < c->info.ports && r == VIRTIO_OK && !c->priv.ready_owed; p++) {
            virtio_console_port *pt = &c->port[p];
            if ((pt->priv.send & VIRTIO__CON_OWE_READY) &&
                (r = virtio__con_ctrl(c, p, VIRTIO__CON_PORT_READY, 1)) == VIRTIO_OK) {
                pt->priv.send &= ~VIRTIO__CON_OWE_READY;
                sent++;
            }
            if (r == VIRTIO_OK && pt->priv.send == VIRTIO__CON_OWE_OPEN &&
                (r = virtio__con_ctrl(c, p, VIRTIO__CON_PORT_OPEN, 1)) == VIRTIO_OK) {
                pt->priv.send = 0;
                pt->guest_open = 1;
                opened |= 1u << p;
                sent++;
            }
        }
        if (sent) virtio_queue_kick(&c->ctrl_txq);
        /* An opened port's receive queue once more, after the PORT_OPEN:
           QEMU's port looks for buffers (and starts reading its chardev
           again) only when the queue is notified while the port is open.
           Its buffers were posted and notified before; without this a
           peer's bytes sent before the open wait for QEMU's main loop to
           run for another reason (virtio-mmio under TCG, where
           notifications run in the vCPU thread: a guest that busy-polls
           waited for ever). */
        for (p = 0; p < c->info.ports; p++)
            if (opened >> p & 1u) virtio_queue_notify(&c->port[p].rxq);
        opened = 0;
        if (r == VIRTIO_ERR_NO_SPACE) r = VIRTIO_OK;
        if (r != VIRTIO_OK) return virtio__con_err(c, r);
    }
    return VIRTIO_OK;
}

/* Start of every call on a live console. */
static virtio_result virtio__con_enter(virtio_console *c)
{
    if (!virtio__con_ok(c) || c->priv.broken) return VIRTIO_ERR_STATE;
    return virtio__con_pump(c);
}

/* Console size from the configuration, one consistent snapshot. */
static virtio_result virtio__con_size(virtio_console *c, uint32_t *cols, uint32_t *rows)
{
    uint16_t cr[2];
    virtio_result r = virtio_config_read_fields(&c->dev, VIRTIO__CON_CFG_COLS, 2, 2, cr);
    if (r != VIRTIO_OK) return r;
    *cols = cr[0];
    *rows = cr[1];
    return VIRTIO_OK;
}

/* Newest first: a stack-like allocator gets everything back. */
static void virtio__con_free(virtio_console *c)
{
    const virtio_platform *p = c->dev.platform;
    uint32_t i;
    for (i = c->info.ports; i-- > 0;) {
        virtio_free(p, c->port[i].priv.buf, c->port[i].priv.buf_bytes, VIRTIO_MEM_DMA);
        c->port[i].priv.buf = 0;
    }
    virtio_free(p, c->priv.ctrl, c->priv.ctrl_bytes, VIRTIO_MEM_DMA);
    c->priv.ctrl = 0;
    for (i = c->info.ports; i-- > 0;) {
        if (c->port[i].txq.dev) virtio_queue_destroy(&c->port[i].txq);
        if (c->port[i].rxq.dev) virtio_queue_destroy(&c->port[i].rxq);
    }
    if (c->ctrl_txq.dev) virtio_queue_destroy(&c->ctrl_txq);
    if (c->ctrl_rxq.dev) virtio_queue_destroy(&c->ctrl_rxq);
}

VIRTIO_API virtio_result virtio_console_init(virtio_console *c, const virtio_device *dev,
                                             const virtio_console_options *o)
{
    virtio_console_options def;
    virtio_queue_options qo;
    const virtio_platform *p;
    uint64_t want = VIRTIO_FEATURE_BIT(VIRTIO__CON_F_SIZE) | VIRTIO_FEATURE_BIT(VIRTIO__CON_F_EMERG_WRITE);
    uint32_t nports, qsize, i, k;
    void *m;   /* (what virtio_alloc gives, before it is typed) */
    virtio_result r;
    if (!c || !dev) return VIRTIO_ERR_INVALID_ARG;
    if (c->priv.magic == VIRTIO__CON_MAGIC) return VIRTIO_ERR_STATE;
    if (dev->device_id != VIRTIO_DEVICE_CONSOLE) return VIRTIO_ERR_NOT_FOUND;
    if (!o) {
        VIRTIO_ZERO(&def);
        o = &def;
    }
    if (o->ports > VIRTIO_CONSOLE_MAX_PORTS || o->buffers > 32 ||
        (o->buffer_size && (o->buffer_size < 16 || o->buffer_size > 4096)) || (o->ports > 1 && o->no_multiport))
        return VIRTIO_ERR_INVALID_ARG;
    nports = o->ports ? o->ports : 1;
    VIRTIO_ZERO(c);
    c->dev = *dev;
    p = c->dev.platform;
    c->priv.nbuf = o->buffers ? o->buffers : 8;
    c->priv.bsize = o->buffer_size ? o->buffer_size : 256;
    c->last_status = VIRTIO_CONSOLE_STATUS_NONE;
    if (!o->no_multiport) want |= VIRTIO_FEATURE_BIT(VIRTIO__CON_F_MULTIPORT);
    if ((r = virtio_device_begin(&c->dev, want, &o->device)) != VIRTIO_OK) return r;
    c->info.multiport = (uint32_t)virtio_device_has(&c->dev, VIRTIO__CON_F_MULTIPORT);
    c->info.emerg_write = (uint32_t)virtio_device_has(&c->dev, VIRTIO__CON_F_EMERG_WRITE);
    c->info.size = (uint32_t)virtio_device_has(&c->dev, VIRTIO__CON_F_SIZE);
    c->info.max_ports = 1;
    if (c->info.multiport) {
        if ((r = virtio_config_read32(&c->dev, VIRTIO__CON_CFG_MAX_PORTS, &c->info.max_ports)) != VIRTIO_OK) goto fail;
        if (c->info.max_ports == 0) {
            r = VIRTIO_ERR_DEVICE;
            goto fail;
        }
    }
    if (c->info.size && (r = virtio__con_size(c, &c->info.cols, &c->info.rows)) != VIRTIO_OK) goto fail;

    /* Queues: control (2, 3), then each port's receive and transmit
       (port 0: 0, 1; port n: 2n + 2, 2n + 3). */
    VIRTIO_ZERO(&qo);
    if (c->info.multiport) {
        qo.size = VIRTIO__CON_CTRL_RX;
        if ((r = virtio_queue_init(&c->ctrl_rxq, &c->dev, 2, &qo)) != VIRTIO_OK) goto fail;
        qo.size = VIRTIO__CON_CTRL_TX;
        if ((r = virtio_queue_init(&c->ctrl_txq, &c->dev, 3, &qo)) != VIRTIO_OK) goto fail;
        c->priv.ctrl_nrx = c->ctrl_rxq.size < VIRTIO__CON_CTRL_RX ? c->ctrl_rxq.size : VIRTIO__CON_CTRL_RX;
        c->priv.ctrl_ntx = c->ctrl_txq.size < VIRTIO__CON_CTRL_TX ? c->ctrl_txq.size : VIRTIO__CON_CTRL_TX;
    }
    c->info.ports = nports < c->info.max_ports ? nports : c->info.max_ports;
    for (qsize = 1; qsize < c->priv.nbuf; qsize <<= 1) {}
    qo.size = qsize;
    for (i = 0; i < c->info.ports; i++) {
        virtio_console_port *pt = &c->port[i];
        pt->id = i;
        if ((r = virtio_queue_init(&pt->rxq, &c->dev, i ? 2 * i + 2 : 0, &qo)) != VIRTIO_OK) goto fail;
        if ((r = virtio_queue_init(&pt->txq, &c->dev, i ? 2 * i + 3 : 1, &qo)) != VIRTIO_OK) goto fail;
        if (pt->rxq.size < c->priv.nbuf) c->priv.nbuf = pt->rxq.size;
        if (pt->txq.size < c->priv.nbuf) c->priv.nbuf = pt->txq.size;
    }

    /* Buffers, then every receive buffer posted. */
    if (c->info.multiport) {
        c->priv.ctrl_bytes =
            (size_t)c->priv.ctrl_nrx * VIRTIO__CON_CTRL_BUF + (size_t)c->priv.ctrl_ntx * VIRTIO__CON_MSG;
        r = virtio_alloc(p, c->priv.ctrl_bytes, 16, VIRTIO_MEM_DMA, &m, &c->priv.ctrl_dev);
        if (r != VIRTIO_OK) goto fail;
        c->priv.ctrl = (unsigned char *)m;
        for (k = 0; k < c->priv.ctrl_nrx; k++)
            if ((r = virtio__con_post_ctrl_rx(c, k)) != VIRTIO_OK) goto fail;
    }
    for (i = 0; i < c->info.ports; i++) {
        virtio_console_port *pt = &c->port[i];
        pt->priv.buf_bytes = (size_t)2 * c->priv.nbuf * c->priv.bsize;
        r = virtio_alloc(p, pt->priv.buf_bytes, 16, VIRTIO_MEM_DMA, &m, &pt->priv.buf_dev);
        if (r != VIRTIO_OK) goto fail;
        pt->priv.buf = (unsigned char *)m;
        for (k = 0; k < c->priv.nbuf; k++)
            if ((r = virtio__con_post_rx(c, pt, k)) != VIRTIO_OK) goto fail;
    }
    if ((r = virtio_device_ready(&c->dev)) != VIRTIO_OK) goto fail;
    for (i = 0; i < c->info.ports; i++) virtio_queue_kick(&c->port[i].rxq);
    if (c->info.multiport) {
        virtio_queue_kick(&c->ctrl_rxq);
        c->priv.ready_owed = 1;   /* must be sent (5.3.6.2.2) */
        /* A device that answers at once (QEMU does) has added and opened
           its ports by the end of the second call; the rest arrives with
           later calls. */
        for (k = 0; k < 2; k++)
            if ((r = virtio__con_pump(c)) != VIRTIO_OK) goto fail;
    } else {
        c->port[0].present = c->port[0].host_open = c->port[0].console = 1;
    }
    c->priv.changed = 0;
    c->priv.magic = VIRTIO__CON_MAGIC;
    return VIRTIO_OK;
fail:
    r = virtio_device_fault(r);   /* a device without what its type requires */
    virtio_device_fail(&c->dev);
    if (virtio_device_reset(&c->dev) == VIRTIO_OK) virtio__con_free(c);   /* else leaked: the device may write */
    return r;
}

VIRTIO_API virtio_result virtio_console_shutdown(virtio_console *c)
{
    if (!virtio__con_ok(c)) return VIRTIO_ERR_STATE;
    c->priv.magic = 0;
    if (virtio_device_reset(&c->dev) != VIRTIO_OK) return VIRTIO_ERR_TIMEOUT;   /* leaked, see above */
    virtio__con_free(c);
    return VIRTIO_OK;
}

/* >>console.io */
VIRTIO_API virtio_result virtio_console_read(virtio_console *c, uint32_t port, void *buf, size_t len, uint32_t flags,
                                             size_t *got)
{
    virtio_console_port *pt;
    unsigned char *out = (unsigned char *)buf;
    size_t done = 0;
    uint32_t pops = 0, reposted = 0;
    int waiting = 0;
    virtio_wait w;
    virtio_result r;
    if (!virtio__con_ok(c) || c->priv.broken) return VIRTIO_ERR_STATE;
    if (!buf || !len || port >= c->info.ports || (flags & ~(VIRTIO_MORE | VIRTIO_CONSOLE_WAIT)))
        return VIRTIO_ERR_INVALID_ARG;
    if ((r = virtio__con_pump(c)) != VIRTIO_OK) return r;
    pt = &c->port[port];
    for (;;) {
        size_t n;
        if (!pt->priv.rx_cur) {
            void *cookie;
            uint32_t l = 0, i;
            /* At most one queue's worth per round: a device that keeps
               returning buffers cannot hold the call. */
            r = pops < pt->rxq.size ? virtio_queue_pop(&pt->rxq, &cookie, &l) : VIRTIO_EMPTY;
            if (r != VIRTIO_OK && r != VIRTIO_EMPTY) break;
            if (r == VIRTIO_OK) {
                pops++;
                i = (uint32_t)(uintptr_t)cookie - 1;
                VIRTIO_ASSERT(i < c->priv.nbuf);
                if (l) {
                    pt->priv.rx_cur = i + 1;
                    pt->priv.rx_off = 0;
                    pt->priv.rx_len = l;
                } else {   /* an empty buffer: straight back */
                    if ((r = virtio__con_post_rx(c, pt, i)) != VIRTIO_OK) break;
                    reposted++;
                }
            }
            if (!pt->priv.rx_cur) {
                if (r == VIRTIO_OK && pops < pt->rxq.size) continue;
                r = VIRTIO_EMPTY;
                if (done || !(flags & VIRTIO_CONSOLE_WAIT)) break;
                /* Waiting: the device must know about every buffer given
                   back, also those of earlier VIRTIO_MORE calls. */
                virtio_queue_kick(&pt->rxq);
                reposted = 0;
                if (!waiting) virtio_wait_start(&w, c->dev.platform, 0);
                waiting = 1;
                if ((r = virtio__con_step(c, &w)) != VIRTIO_OK) break;
                if ((r = virtio__con_pump(c)) != VIRTIO_OK) break;
                pops = 0;
                continue;
            }
        }
        n = pt->priv.rx_len - pt->priv.rx_off;
        if (n > len - done) n = len - done;
        VIRTIO_MEMCPY(out + done, pt->priv.buf + (size_t)(pt->priv.rx_cur - 1) * c->priv.bsize + pt->priv.rx_off, n);
        done += n;
        pt->priv.rx_off += (uint32_t)n;
        if (pt->priv.rx_off == pt->priv.rx_len) {
            uint32_t i = pt->priv.rx_cur - 1;
            pt->priv.rx_cur = 0;
            if ((r = virtio__con_post_rx(c, pt, i)) != VIRTIO_OK) break;
            reposted++;
        }
        if (done == len) {
            r = VIRTIO_OK;
            break;
        }
    }
    if (reposted && !(flags & VIRTIO_MORE)) virtio_queue_kick(&pt->rxq);
    if (r != VIRTIO_OK && r != VIRTIO_EMPTY) virtio__con_err(c, r);
    if (!done) return r;
    pt->rx_bytes += done;
    if (got) *got = done;
    return VIRTIO_OK;
}

/* Transmit buffers the device has finished with. */
static virtio_result virtio__con_reclaim(virtio_console *c, virtio_console_port *pt)
{
    void *cookie;
    virtio_result r;
    while ((r = virtio_queue_pop(&pt->txq, &cookie, 0)) == VIRTIO_OK)
        pt->priv.tx_busy &= ~(1u << ((uint32_t)(uintptr_t)cookie - 1));
    return r == VIRTIO_EMPTY ? VIRTIO_OK : virtio__con_err(c, r);
}

VIRTIO_API virtio_result virtio_console_write(virtio_console *c, uint32_t port, const void *buf, size_t len,
                                              uint32_t flags, size_t *sent)
{
    virtio_console_port *pt;
    const unsigned char *in = (const unsigned char *)buf;
    size_t done = 0;
    int waiting = 0, unkicked = 0;
    virtio_wait w;
    virtio_result r;
    if (!virtio__con_ok(c) || c->priv.broken) return VIRTIO_ERR_STATE;
    if ((!buf && len) || port >= c->info.ports || (flags & ~(VIRTIO_MORE | VIRTIO_CONSOLE_WAIT)))
        return VIRTIO_ERR_INVALID_ARG;
    if ((r = virtio__con_pump(c)) != VIRTIO_OK) return r;
    pt = &c->port[port];
    for (;;) {
        uint32_t k;
        if ((r = virtio__con_reclaim(c, pt)) != VIRTIO_OK) break;
        for (k = 0; done < len && k < c->priv.nbuf; k++) {
            size_t n = len - done < c->priv.bsize ? len - done : c->priv.bsize;
            size_t off = (size_t)(c->priv.nbuf + k) * c->priv.bsize;
            virtio_sg sg;
            if (pt->priv.tx_busy >> k & 1u) continue;
            VIRTIO_MEMCPY(pt->priv.buf + off, in + done, n);
            sg.addr = pt->priv.buf_dev + off;
            sg.len = (uint32_t)n;
            sg.pad = 0;
            if ((r = virtio_queue_add(&pt->txq, &sg, 1, 0, (void *)(uintptr_t)(k + 1))) != VIRTIO_OK) break;
            pt->priv.tx_busy |= 1u << k;
            pt->tx_bytes += n;
            done += n;
            unkicked = 1;
        }
        if (r != VIRTIO_OK || !(flags & VIRTIO_CONSOLE_WAIT) || (done == len && !pt->priv.tx_busy)) break;
        virtio_queue_kick(&pt->txq);   /* never wait on un-notified buffers (earlier VIRTIO_MORE ones too) */
        unkicked = 0;
        if (!waiting) virtio_wait_start(&w, c->dev.platform, 0);
        waiting = 1;
        if ((r = virtio__con_step(c, &w)) != VIRTIO_OK) break;
        if ((r = virtio__con_pump(c)) != VIRTIO_OK) break;
    }
    /* VIRTIO_MORE defers the notification only while everything fitted. */
    if (unkicked && (!(flags & VIRTIO_MORE) || done < len)) virtio_queue_kick(&pt->txq);
    if (r != VIRTIO_OK) return virtio__con_err(c, r);
    if (len && !done) return VIRTIO_ERR_NO_SPACE;
    if (sent) *sent = done;
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_console_kick(virtio_console *c)
{
    uint32_t i;
    if (!virtio__con_ok(c) || c->priv.broken) return VIRTIO_ERR_STATE;
    for (i = 0; i < c->info.ports; i++) {
        virtio_queue_kick(&c->port[i].rxq);
        virtio_queue_kick(&c->port[i].txq);
    }
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_console_emerg_write(virtio_console *c, const void *buf, size_t len)
{
    const unsigned char *b = (const unsigned char *)buf;
    unsigned char order[4];
    size_t i;
    virtio_result r;
    int both;
    if (!virtio__con_ok(c)) return VIRTIO_ERR_STATE;
    if (!buf && len) return VIRTIO_ERR_INVALID_ARG;
    if (!c->info.emerg_write) return VIRTIO_ERR_UNSUPPORTED;
    /* The device takes the field's low byte. A big-endian CPU on a legacy
       interface writes it in its own order, where QEMU 7.2 still takes
       the byte at the lowest address: then the byte goes at both ends
       (and a NUL's non-zero marker in the middle). */
    virtio_store(&c->dev, order, 1, 4);
    both = order[0] != 1;
    for (i = 0; i < len; i++) {
        uint32_t v = b[i] ? b[i] : 0x100u;
        if (both) v = b[i] ? b[i] * 0x01010101u : 0x00010100u;
        if ((r = virtio_config_write(&c->dev, VIRTIO__CON_CFG_EMERG_WR, 4, v)) != VIRTIO_OK) return r;
    }
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_console_refresh(virtio_console *c, uint32_t *changed)
{
    uint32_t status, cols, rows;
    virtio_result r;
    if ((r = virtio__con_enter(c)) != VIRTIO_OK) return r;
    if (virtio_device_status(&c->dev, &status) == VIRTIO_ERR_NEEDS_RESET) return VIRTIO_ERR_NEEDS_RESET;
    if (c->info.size) {
        if ((r = virtio__con_size(c, &cols, &rows)) != VIRTIO_OK) return r;
        if (cols != c->info.cols || rows != c->info.rows) c->priv.changed |= VIRTIO_CONSOLE_CHANGED_SIZE;
        c->info.cols = cols;
        c->info.rows = rows;
    }
    if (changed) *changed = c->priv.changed;
    c->priv.changed = 0;
    return VIRTIO_OK;
}

#endif /* VIRTIO_CONSOLE_IMPLEMENTATION */
