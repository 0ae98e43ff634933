/* SPDX-License-Identifier: MIT OR Unlicense */
#if defined(VIRTIO_IMPLEMENTATION) && !defined(VIRTIO_NET_IMPLEMENTATION)
#define VIRTIO_NET_IMPLEMENTATION
#endif
#include "virtio.h"
#ifndef VIRTIO_NET_H
#define VIRTIO_NET_H
/*
virtio_net.h - v0.3.11 - VirtIO network driver for virtio.h - MIT OR Unlicense

QUICK START

    #define VIRTIO_IMPLEMENTATION      // in one file
    #include "virtio_net.h"

    virtio_device dev;                 // from virtio_mmio_probe / virtio_pci_probe
    static virtio_net nic;             // zero-filled: init refuses a running one
    virtio_net_frame f;
    uint8_t frame[1514];
    if (virtio_net_init(&nic, &dev, NULL) == VIRTIO_OK) {
        // nic.info.mac is the address; nic.info.mtu the largest payload
        virtio_net_send(&nic, frame, 60, 0);
        if (virtio_net_receive(&nic, frame, sizeof frame, &f) == VIRTIO_OK)
            handle(frame, f.len);
    }

CONFIGURATION

    macro                        default   scope
    VIRTIO_NET_IMPLEMENTATION    -         emit this driver (VIRTIO_IMPLEMENTATION implies it)

Runtime choices are in virtio_net_options (all-zero = defaults).

FRAMES

A frame is an Ethernet frame without FCS: destination, source, type,
payload; 14 to info.mtu + 14 bytes (info.mtu + 18 with an 802.1Q or
802.1ad VLAN tag: type 0x8100 or 0x88a8 at byte 12). The
virtio-net header is the driver's business: it is added on send and
stripped on receive. Frames shorter than 60 bytes are sent as given (the
device or host pads them if the medium needs it).

RECEIVE

The receive ring is kept full: every buffer a frame arrived in is posted
again as soon as the frame has been copied out (virtio_net_receive) or
given back (virtio_net_give_back after virtio_net_borrow). Buffers hold a
whole frame of the largest size the device allows, so the mergeable-buffer
layout (MRG_RXBUF) normally uses one buffer per frame; a frame spread over
several buffers is still reassembled by virtio_net_receive (virtio_net_borrow
refuses it with VIRTIO_ERR_TOO_BIG and recycles its buffers). A frame is
checked whole before a byte of it reaches the caller's buffer: a malformed
one (bad num_buffers, a used length below the header, or one the device
overstated, which the core clamps and counts in rx.clamped) is dropped and
counted in stats.rx_errors, as is every frame dropped with
VIRTIO_ERR_TOO_BIG (longer than the caller's buffer; spread over buffers,
for virtio_net_borrow). With GUEST_CSUM, frames the device marks as
checksum-valid carry VIRTIO_NET_FRAME_CSUM_VALID, and frames with a
partial checksum are completed by the driver before they are handed out.

SEND

virtio_net_send copies the frame into a driver-owned DMA buffer, so the
caller's memory is free when the call returns. Without VIRTIO_MORE in
`flags` the device is notified at once (if its event suppression asks for
it); with it the frame is posted and virtio_net_kick (or the next send
without VIRTIO_MORE) notifies, one notification for a batch. Completed
buffers are reclaimed on each send that finds no free one (and by
virtio_net_reclaim); a full ring returns VIRTIO_ERR_NO_SPACE, never
blocks. A send that finds no free buffer, and virtio_net_reclaim, first
notify the device of frames posted with VIRTIO_MORE, so a batch can never
sit unseen in a full ring. virtio_net_send_csum asks the device to fill in
a TCP/UDP checksum (CSUM).

CONTROL

With CTRL_VQ: promiscuous and all-multicast modes (CTRL_RX), the MAC
filter table (CTRL_RX), setting the MAC (CTRL_MAC_ADDR; on legacy devices
without it, the config field) and acknowledging announcements
(GUEST_ANNOUNCE). Each command waits for the device's answer, bounded by
the platform timeout; the answer byte is kept in last_status (0 OK, 1 ERR).

CONFIGURATION CHANGES

virtio_net_refresh re-reads the status field (call it after
virtio_device_isr reports VIRTIO_ISR_CONFIG, or now and then when
polling): VIRTIO_NET_CHANGED_LINK when info.link_up changed,
VIRTIO_NET_CHANGED_ANNOUNCE while the device asks for an announcement
(send a gratuitous ARP, then virtio_net_announce_ack).

INTERRUPTS

Arm the receive queue with virtio_queue_enable_cb(&nic.rx, &pending)
(and &nic.tx if you wait for transmit buffers); the control queue is
polled inside the control calls and never needs an interrupt. In the
handler, virtio_device_isr(&nic.dev, &isr) acknowledges: VIRTIO_ISR_QUEUE
means drain (virtio_net_receive or virtio_net_borrow until VIRTIO_EMPTY,
virtio_net_reclaim), VIRTIO_ISR_CONFIG means virtio_net_refresh. With
event index an armed queue interrupts once: after each drain call
virtio_queue_enable_cb again, and if it reports pending, drain again
before sleeping. Frames never arrive without a completion in the receive
queue, and draining to VIRTIO_EMPTY also notifies the device of every
buffer it reposted; a drain that stops early (no room in the caller)
gets no interrupt for what it left, so come back to it. VIRTIO_ERR_TOO_BIG
and VIRTIO_ERR_DEVICE from a receive drop one frame: keep draining. With
MSI-X the queues are 0 (receive) and 1 (transmit); the control queue
needs no vector, so QEMU's default of 3 vectors (configuration, receive,
transmit) is enough: plan them before virtio_net_init (virtio.h, THREADS,
INTERRUPTS AND WAITS). virtio_net_send reclaims transmit buffers itself.

MEMORY

All from dma_alloc at init, given back at shutdown (in reverse order). B
is the buffer size: the header (12 bytes; 10 on legacy devices without
MRG_RXBUF) plus info.mtu + 18, rounded up to 64, at least 1536. K =
4096 / B buffers share one allocation (at least 1).

    what                          size                       align  kind
    receive buffers               min(K, left) x B, each     64     DMA
    transmit buffers              min(K, left) x B, each     64     DMA
    control command buffer        512 (with CTRL_VQ)         64     DMA
    bookkeeping                   rx x (15 + ptr) +          8      PRIVATE
                                  tx x (10 + ptr)
    rings (virtio.h)              receive ring of rx slots, transmit ring of
                                  tx slots (legacy devices without
                                  MRG_RXBUF and without indirect
                                  descriptors: two slots a buffer), control
                                  ring of 4 slots; sizes rounded up to a
                                  power of two, see virtio_queue_init

Defaults (rx_buffers 32, tx_buffers 16, MTU 1500 so B = 1536 and K = 2):
16 receive and 8 transmit allocations of 3072 bytes, 512 for control
commands and 1024 bytes of bookkeeping on a 64-bit CPU; with the three
rings and the control ring's indirect tables (4 of 3 entries, 192 bytes,
and their 16-byte index), 75 826 bytes of DMA memory and 1 872 of private
memory in 34 allocations on a modern transport (split rings; test_net
checks it), none above 4096 bytes. An MTU above 4066 makes B, and each
buffer
allocation, larger than a page. Legacy PCI devices fix their ring sizes:
with QEMU's 256 entries each ring is one contiguous block of about 10 KiB
(18 KiB for transmit, with its indirect tables). rx_buffers and
tx_buffers are the knobs: fewer save memory; more let a burst wait in the
ring rather than in the device (QEMU holds frames back while the ring is
empty; a real network may drop them).

RESET AND SHUTDOWN

virtio_net_shutdown resets the device before it gives memory back. If the
reset does not complete (a device that never acknowledges it), the device
may still write the rings and buffers: they are leaked, never freed, and
shutdown returns VIRTIO_ERR_TIMEOUT (the object is shut down all the same).

LIMITS

One queue pair (no multi-queue), no segmentation offload (GSO/TSO), no
VLAN filtering commands. At most 64 MAC filter entries.

license: end of file (virtio.h)
*/

#if !defined(VIRTIO_KIT_VERSION) || VIRTIO_KIT_VERSION < 2 || VIRTIO_KIT_COMPAT > 2
#error "virtio_net.h needs the virtio.h driver kit 2"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* virtio_net_frame.flags */
#define VIRTIO_NET_FRAME_CSUM_VALID 1u   /* device (or driver) verified the checksum */

/* virtio_net_refresh: what changed */
#define VIRTIO_NET_CHANGED_LINK 1u       /* info.link_up changed */
#define VIRTIO_NET_CHANGED_ANNOUNCE 2u   /* device asks for a gratuitous announcement */

/* A received frame. data points into the caller's buffer (receive) or
   into a driver buffer (borrow); handle is the driver's, for give_back. */
typedef struct virtio_net_frame {
    uint8_t *data;
    uint32_t len;
    uint32_t flags;
    uint32_t handle;
} virtio_net_frame;

/* Driver choices. Defaults (all zero):
     device       automatic ring format, indirect and event index if offered
     mac          all zero: the device's MAC (MAC), else 02:76:69:72:74:00;
                  nonzero: this address is programmed into the device
     rx_buffers   32 receive buffers (bounded by the queue size; at most 4096)
     tx_buffers   16 transmit buffers (bounded by the queue size; at most 4096)
     no_mrg_rxbuf nonzero: do not negotiate MRG_RXBUF
     no_csum      nonzero: negotiate neither CSUM nor GUEST_CSUM */
typedef struct virtio_net_options {
    virtio_device_options device;
    uint8_t mac[6];
    uint8_t pad[2];
    uint32_t rx_buffers;
    uint32_t tx_buffers;
    uint32_t no_mrg_rxbuf;
    uint32_t no_csum;
} virtio_net_options;

/* What the device offered, decoded. */
typedef struct virtio_net_info {
    uint8_t mac[6];             /* the address in use */
    uint8_t pad[2];
    uint32_t mtu;               /* largest payload (MTU; else 1500) */
    uint32_t link_up;           /* STATUS; 1 when the device has no STATUS */
    uint32_t has_status;        /* STATUS: link changes are reported */
    uint32_t csum;              /* CSUM: send_csum works */
    uint32_t guest_csum;        /* GUEST_CSUM: received checksums reported */
    uint32_t mrg_rxbuf;         /* MRG_RXBUF negotiated */
    uint32_t ctrl_rx;           /* promiscuous, all-multicast, filter table */
    uint32_t ctrl_mac;          /* CTRL_MAC_ADDR: set_mac through the control queue */
    uint32_t announce;          /* GUEST_ANNOUNCE (needs CTRL_VQ and STATUS) */
    uint32_t hdr_len;           /* virtio-net header bytes (10 or 12) */
} virtio_net_info;

/* A network device. Caller-owned, must not move after init. Readable:
   dev, rx, tx, ctrl, info, last_status (the device's answer to the last
   control command: 0 OK, 1 ERR), stats (rx_errors: received frames
   dropped, see RECEIVE). The rest is private. */
typedef struct virtio_net {
    virtio_device dev;
    virtio_queue rx, tx, ctrl;
    virtio_net_info info;
    uint32_t last_status;
    struct {
        uint64_t rx_frames, rx_bytes, rx_errors, tx_frames, tx_bytes, tx_full;
    } stats;
    struct {
        uint32_t magic;
        uint32_t nrx, ntx;            /* buffers */
        uint32_t buf_size;            /* bytes per buffer */
        uint32_t per_alloc;           /* buffers per DMA allocation */
        uint32_t rx_posted;           /* buffers in the rx ring */
        uint32_t rx_repost;           /* reposted since the last rx kick */
        uint32_t tx_unkicked;         /* frames posted with VIRTIO_MORE, not yet notified */
        uint32_t tx_nfree;
        uint64_t *rx_dev, *tx_dev;    /* private: device address of each buffer */
        unsigned char **rx_buf, **tx_buf;   /* private: CPU address of each buffer */
        uint32_t *rx_len;             /* private: used length of popped rx buffers */
        uint16_t *piece;              /* private: rx buffers of the frame being taken */
        uint16_t *tx_free;            /* private: free tx buffer stack */
        unsigned char *borrowed;      /* private: 1 per borrowed rx buffer */
        unsigned char *ctrlbuf;
        uint64_t ctrlbuf_dev;
        void *book;                   /* private: the arrays above, one allocation */
        size_t book_bytes;
    } priv;
} virtio_net;

/* Initialise a network device on a probed device (copied into net->dev);
   net must be zero-filled or shut down (a running one is refused):
   negotiate, read MAC/MTU/status, set up receive, transmit and control
   queues, fill the receive ring, program options.mac if given, set
   DRIVER_OK. Returns VIRTIO_OK; VIRTIO_ERR_INVALID_ARG (NULL, more than
   4096 buffers); VIRTIO_ERR_STATE (net is initialised and not shut down:
   nothing is changed); VIRTIO_ERR_NOT_FOUND (not a network device);
   VIRTIO_ERR_NO_MEMORY; VIRTIO_ERR_UNSUPPORTED (options.mac given but the
   device cannot take it); VIRTIO_ERR_DEVICE (MTU below 68, rings too
   small, a queue or configuration field its type requires missing: see
   virtio_device_fault); the errors of virtio_device_begin.
   Context: blocks for the reset (bounded); allocates through dma_alloc
   (see MEMORY). */
VIRTIO_API virtio_result virtio_net_init(virtio_net *net, const virtio_device *dev, const virtio_net_options *o);

/* Reset the device and free the driver's memory. Borrowed frames become
   invalid. Returns VIRTIO_OK; VIRTIO_ERR_TIMEOUT (the reset did not
   complete: the memory the device may still write is leaked, see RESET AND
   SHUTDOWN; net is shut down anyway); VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_net_shutdown(virtio_net *net);

/* Send one frame (copied); flags 0 or VIRTIO_MORE (post, notify later).
   Returns VIRTIO_OK; VIRTIO_ERR_INVALID_ARG (NULL, shorter than 14 bytes,
   unknown flags); VIRTIO_ERR_TOO_BIG (over info.mtu + 14, or + 18 with
   a VLAN tag: see FRAMES);
   VIRTIO_ERR_LINK_DOWN; VIRTIO_ERR_NO_SPACE (all transmit buffers in
   flight; frames posted with VIRTIO_MORE are notified first);
   VIRTIO_ERR_DEVICE; VIRTIO_ERR_STATE. Context: never blocks; reclaims
   at most one ring of completed buffers. */
VIRTIO_API virtio_result virtio_net_send(virtio_net *net, const void *frame, size_t len, uint32_t flags);

/* Send one frame and let the device compute the checksum stored at
   frame[csum_start + csum_offset], covering frame[csum_start..len) plus
   whatever pseudo-header sum the caller already put in that field.
   Returns as virtio_net_send, and VIRTIO_ERR_UNSUPPORTED without CSUM,
   VIRTIO_ERR_INVALID_ARG if the field lies outside the frame. */
VIRTIO_API virtio_result virtio_net_send_csum(virtio_net *net, const void *frame, size_t len, uint32_t csum_start,
                                              uint32_t csum_offset, uint32_t flags);

/* Notify the device of frames posted with VIRTIO_MORE (and of receive
   buffers reposted since the last notification), if its event suppression
   asks for it. Returns VIRTIO_OK, VIRTIO_ERR_STATE. Context: one register
   write at most per queue. */
VIRTIO_API virtio_result virtio_net_kick(virtio_net *net);

/* Notify what VIRTIO_MORE left pending, then take back transmit buffers
   the device has finished with. out: count (may be NULL).
   Returns VIRTIO_OK, VIRTIO_ERR_DEVICE, VIRTIO_ERR_STATE.
   Context: never blocks; at most one ring of completions. */
VIRTIO_API virtio_result virtio_net_reclaim(virtio_net *net, uint32_t *count);

/* Copy the next received frame into buf (cap bytes). out: f (f->data = buf).
   Nothing is written to buf or f unless the call returns VIRTIO_OK.
   Returns VIRTIO_OK; VIRTIO_EMPTY (nothing arrived); VIRTIO_ERR_TOO_BIG
   (frame larger than cap: it is dropped); VIRTIO_ERR_DEVICE (the device
   delivered a malformed frame: dropped, its buffers go back to the ring);
   VIRTIO_ERR_INVALID_ARG; VIRTIO_ERR_STATE.
   Context: never blocks; one frame per call. */
VIRTIO_API virtio_result virtio_net_receive(virtio_net *net, void *buf, size_t cap, virtio_net_frame *f);

/* Zero-copy receive: hand out the next frame in place. The buffer is out
   of the ring until virtio_net_give_back. Returns as virtio_net_receive
   (VIRTIO_ERR_TOO_BIG: the frame spans several buffers; it is dropped). */
VIRTIO_API virtio_result virtio_net_borrow(virtio_net *net, virtio_net_frame *f);

/* Return a borrowed frame's buffer to the receive ring. Returns
   VIRTIO_OK; VIRTIO_ERR_INVALID_ARG (not a borrowed frame, or given back
   twice); VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_net_give_back(virtio_net *net, const virtio_net_frame *f);

/* Re-read the link status and the announcement request (see
   CONFIGURATION CHANGES). out: changed (VIRTIO_NET_CHANGED_* bits, 0 =
   nothing; may be NULL). On failure info is left as it was.
   Returns VIRTIO_OK, VIRTIO_ERR_DEVICE (configuration never settled),
   VIRTIO_ERR_STATE. Context: a few register reads. */
VIRTIO_API virtio_result virtio_net_refresh(virtio_net *net, uint32_t *changed);

/* Control queue commands; each waits for the device's answer.
   Returns VIRTIO_OK; VIRTIO_ERR_UNSUPPORTED (feature not negotiated);
   VIRTIO_ERR_IO (device answered ERR; last_status = 1); VIRTIO_ERR_DEVICE
   (an answer other than OK or ERR, in last_status; the next command
   works); VIRTIO_ERR_TIMEOUT; VIRTIO_ERR_INVALID_ARG; VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_net_set_promisc(virtio_net *net, int on);
VIRTIO_API virtio_result virtio_net_set_allmulti(virtio_net *net, int on);
/* Frames to these unicast / multicast addresses pass the filter (in
   addition to the device's own MAC and broadcast): uc holds n_uc and mc
   n_mc addresses of 6 bytes each, n_uc + n_mc <= 64 (either may be NULL
   when its count is 0); a group address (bit 0 of the first byte set)
   in uc, or an individual one in mc, is VIRTIO_ERR_INVALID_ARG. */
VIRTIO_API virtio_result virtio_net_set_mac_filter(virtio_net *net, const uint8_t *uc, uint32_t n_uc,
                                                   const uint8_t *mc, uint32_t n_mc);
/* Change the device's address (info.mac follows). */
VIRTIO_API virtio_result virtio_net_set_mac(virtio_net *net, const uint8_t mac[6]);
/* Tell the device the announcement it asked for has been sent. */
VIRTIO_API virtio_result virtio_net_announce_ack(virtio_net *net);

#ifdef __cplusplus
}
#endif
#endif /* VIRTIO_NET_H */

/* ==================================================================== */
/* Implementation                                                        */
/* ==================================================================== */
#if defined(VIRTIO_NET_IMPLEMENTATION) && !defined(VIRTIO__NET_DONE)
#define VIRTIO__NET_DONE

/* Feature bits (virtio 1.2 5.1.3). */
#define VIRTIO__NET_F_CSUM 0
#define VIRTIO__NET_F_GUEST_CSUM 1
#define VIRTIO__NET_F_MTU 3
#define VIRTIO__NET_F_MAC 5
#define VIRTIO__NET_F_MRG_RXBUF 15
#define VIRTIO__NET_F_STATUS 16
#define VIRTIO__NET_F_CTRL_VQ 17
#define VIRTIO__NET_F_CTRL_RX 18
#define VIRTIO__NET_F_GUEST_ANNOUNCE 21
#define VIRTIO__NET_F_CTRL_MAC_ADDR 23

/* Configuration (virtio 1.2 5.1.4). */
#define VIRTIO__NET_CFG_MAC 0          /* u8[6], MAC */
#define VIRTIO__NET_CFG_STATUS 6       /* le16, STATUS */
#define VIRTIO__NET_CFG_MTU 10         /* le16, MTU */
#define VIRTIO__NET_S_LINK_UP 1u
#define VIRTIO__NET_S_ANNOUNCE 2u

/* Header (virtio 1.2 5.1.6): flags, gso_type, hdr_len, gso_size,
   csum_start, csum_offset, then num_buffers (VERSION_1 or MRG_RXBUF).
   Multi-byte fields are little-endian on modern transports and in the
   guest's order on legacy ones: virtio_store / virtio_load. */
#define VIRTIO__NET_HDR_FLAGS 0
#define VIRTIO__NET_HDR_CSUM_START 6
#define VIRTIO__NET_HDR_CSUM_OFFSET 8
#define VIRTIO__NET_HDR_NUM_BUFFERS 10
#define VIRTIO__NET_HDR_F_NEEDS_CSUM 1u
#define VIRTIO__NET_HDR_F_DATA_VALID 2u

/* Control queue (virtio 1.2 5.1.6.5). */
#define VIRTIO__NET_CTRL_RX 0
#define VIRTIO__NET_CTRL_RX_PROMISC 0
#define VIRTIO__NET_CTRL_RX_ALLMULTI 1
#define VIRTIO__NET_CTRL_MAC 1
#define VIRTIO__NET_CTRL_MAC_TABLE_SET 0
#define VIRTIO__NET_CTRL_MAC_ADDR_SET 1
#define VIRTIO__NET_CTRL_ANNOUNCE 3
#define VIRTIO__NET_CTRL_ANNOUNCE_ACK 0
#define VIRTIO__NET_CTRL_BYTES 512u    /* class, command, data, ack */
#define VIRTIO__NET_CTRL_ACK 500u      /* ack byte offset inside the buffer */
#define VIRTIO__NET_MAX_FILTER 64u
#define VIRTIO__NET_MAX_BUFFERS 4096u

#define VIRTIO__NET_MAGIC 0x6e657421u  /* "net!" */
#define VIRTIO__NET_RXQ 0
#define VIRTIO__NET_TXQ 1
#define VIRTIO__NET_CTRLQ 2

static int virtio__net_ok(const virtio_net *n)
{
    return n && n->priv.magic == VIRTIO__NET_MAGIC;
}

/* Post receive buffer i. The header gets its own descriptor on legacy
   devices without MRG_RXBUF, which may assume that layout (virtio 1.2
   5.1.6.3.2). */
static virtio_result virtio__net_post_rx(virtio_net *n, uint32_t i)
{
    virtio_sg sg[2];
    uint32_t h = n->info.hdr_len;
    uint64_t a = n->priv.rx_dev[i];
    virtio_result r;
    if (n->dev.legacy && !n->info.mrg_rxbuf) {
        sg[0].addr = a;
        sg[0].len = h;
        sg[1].addr = a + h;
        sg[1].len = n->priv.buf_size - h;
        r = virtio_queue_add(&n->rx, sg, 0, 2, (void *)(uintptr_t)(i + 1));
    } else {
        sg[0].addr = a;
        sg[0].len = n->priv.buf_size;
        r = virtio_queue_add(&n->rx, sg, 0, 1, (void *)(uintptr_t)(i + 1));
    }
    if (r == VIRTIO_OK) {
        n->priv.rx_posted++;
        n->priv.rx_repost++;
    }
    return r;
}

static virtio_result virtio__net_read_status(virtio_net *n, uint16_t *status)
{
    if (!n->info.has_status) {
        *status = VIRTIO__NET_S_LINK_UP;
        return VIRTIO_OK;
    }
    return virtio_config_read16(&n->dev, VIRTIO__NET_CFG_STATUS, status);
}

/* The control buffer, once no earlier command holds it: a command that
   timed out may still be with the device, which owns the buffer, and its
   late answer must not be taken for the next one's. */
static virtio_result virtio__net_ctrl_buf(virtio_net *n, unsigned char **b)
{
    void *cookie;
    uint32_t used;
    virtio_result r;
    if (!n->ctrl.dev) return VIRTIO_ERR_UNSUPPORTED;
    while (n->ctrl.num_free != n->ctrl.size)
        if ((r = virtio_queue_wait(&n->ctrl, &cookie, &used)) != VIRTIO_OK) return r;
    *b = n->priv.ctrlbuf;
    return VIRTIO_OK;
}

/* Run one control command whose `len` data bytes the caller wrote at
   offset 2 of the control buffer; wait for the ack. */
static virtio_result virtio__net_ctrl_run(virtio_net *n, uint32_t cls, uint32_t cmd, uint32_t len)
{
    unsigned char *b = n->priv.ctrlbuf;
    virtio_sg sg[3];
    void *cookie;
    uint32_t used, k = 0;
    virtio_result r;
    b[0] = (unsigned char)cls;
    b[1] = (unsigned char)cmd;
    b[VIRTIO__NET_CTRL_ACK] = 0xff;
    sg[k].addr = n->priv.ctrlbuf_dev;
    sg[k++].len = 2;
    if (len) {
        sg[k].addr = n->priv.ctrlbuf_dev + 2;
        sg[k++].len = len;
    }
    sg[k].addr = n->priv.ctrlbuf_dev + VIRTIO__NET_CTRL_ACK;
    sg[k++].len = 1;
    if ((r = virtio_queue_add(&n->ctrl, sg, k - 1, 1, b)) != VIRTIO_OK) return r;
    virtio_queue_kick(&n->ctrl);
    r = virtio_queue_wait(&n->ctrl, &cookie, &used);
    if (r != VIRTIO_OK) return r;
    n->last_status = *(volatile unsigned char *)(b + VIRTIO__NET_CTRL_ACK);
    if (n->last_status == 0) return VIRTIO_OK;
    return n->last_status == 1 ? VIRTIO_ERR_IO : VIRTIO_ERR_DEVICE;
}

static virtio_result virtio__net_ctrl(virtio_net *n, uint32_t cls, uint32_t cmd, const void *data, uint32_t len)
{
    unsigned char *b;
    virtio_result r = virtio__net_ctrl_buf(n, &b);
    if (r != VIRTIO_OK) return r;
    if (len) VIRTIO_MEMCPY(b + 2, data, len);
    return virtio__net_ctrl_run(n, cls, cmd, len);
}

/* Ring entries for n buffers of `slots` descriptors: a power of two, so
   that a split ring is no larger than needed. */
static uint32_t virtio__net_ring(uint32_t n, uint32_t slots)
{
    uint32_t want = n * slots, s = 1;
    while (s < want) s <<= 1;
    return s;
}

/* Buffers [0, count) in allocations of per_alloc buffers (a page each at
   most, when a buffer fits one): CPU and device address of every one. */
static virtio_result virtio__net_bufs(virtio_net *n, uint32_t count, unsigned char **cpu, uint64_t *dev)
{
    const virtio_platform *p = n->dev.platform;
    uint32_t i, j, m;
    void *mem;
    virtio_result r;
    for (i = 0; i < count; i += m) {
        m = count - i < n->priv.per_alloc ? count - i : n->priv.per_alloc;
        r = virtio_alloc(p, (size_t)m * n->priv.buf_size, 64, VIRTIO_MEM_DMA, &mem, &dev[i]);
        if (r != VIRTIO_OK) return r;
        cpu[i] = (unsigned char *)mem;
        for (j = 1; j < m; j++) {
            cpu[i + j] = cpu[i] + (size_t)j * n->priv.buf_size;
            dev[i + j] = dev[i] + (uint64_t)j * n->priv.buf_size;
        }
    }
    return VIRTIO_OK;
}

/* Give back what __net_bufs allocated (the newest first). No division:
   32-bit Arm without a divider would need a runtime helper. */
static void virtio__net_free_bufs(virtio_net *n, uint32_t count, unsigned char **cpu)
{
    uint32_t per = n->priv.per_alloc, i = 0, m;
    if (count == 0) return;
    while (i + per < count) i += per;   /* the last allocation */
    for (;; i -= per) {
        m = count - i < per ? count - i : per;
        if (cpu[i]) virtio_free(n->dev.platform, cpu[i], (size_t)m * n->priv.buf_size, VIRTIO_MEM_DMA);
        if (i == 0) break;
    }
}

/* Give back everything init allocated, newest first. The device must be
   reset (or have never had DRIVER_OK and its queues unused); if the reset
   failed, `device_memory` is 0 and only private memory goes back: what
   the device may still write is leaked rather than handed out again. */
static void virtio__net_release(virtio_net *n, int device_memory)
{
    const virtio_platform *p = n->dev.platform;
    if (device_memory && n->priv.book) {
        if (n->priv.ctrlbuf) virtio_free(p, n->priv.ctrlbuf, VIRTIO__NET_CTRL_BYTES, VIRTIO_MEM_DMA);
        virtio__net_free_bufs(n, n->priv.ntx, n->priv.tx_buf);
        virtio__net_free_bufs(n, n->priv.nrx, n->priv.rx_buf);
    }
    if (n->priv.book) virtio_free(p, n->priv.book, n->priv.book_bytes, VIRTIO_MEM_PRIVATE);
    n->priv.book = 0;
    if (!device_memory) return;
    if (n->ctrl.dev) virtio_queue_destroy(&n->ctrl);
    if (n->tx.dev) virtio_queue_destroy(&n->tx);
    if (n->rx.dev) virtio_queue_destroy(&n->rx);
}

/* Bookkeeping arrays in one private allocation, 8-byte fields first. */
static virtio_result virtio__net_book(virtio_net *n)
{
    uint32_t nrx = n->priv.nrx, ntx = n->priv.ntx;
    unsigned char *b;
    virtio_result r;
    n->priv.book_bytes = (size_t)(nrx + ntx) * (8 + sizeof(unsigned char *)) + (size_t)nrx * (4 + 2 + 1) +
                         (size_t)ntx * 2;
    r = virtio_alloc(n->dev.platform, n->priv.book_bytes, 8, VIRTIO_MEM_PRIVATE, &n->priv.book, 0);
    if (r != VIRTIO_OK) return r;
    b = (unsigned char *)n->priv.book;
    n->priv.rx_dev = (uint64_t *)(void *)b;
    n->priv.tx_dev = n->priv.rx_dev + nrx;
    n->priv.rx_buf = (unsigned char **)(void *)(n->priv.tx_dev + ntx);
    n->priv.tx_buf = n->priv.rx_buf + nrx;
    n->priv.rx_len = (uint32_t *)(void *)(n->priv.tx_buf + ntx);
    n->priv.piece = (uint16_t *)(void *)(n->priv.rx_len + nrx);
    n->priv.tx_free = n->priv.piece + nrx;
    n->priv.borrowed = (unsigned char *)(n->priv.tx_free + ntx);
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_net_init(virtio_net *net, const virtio_device *dev, const virtio_net_options *o)
{
    virtio_net_options def;
    virtio_queue_options qo;
    static const uint8_t fallback_mac[6] = { 0x02, 0x76, 0x69, 0x72, 0x74, 0x00 };
    uint64_t want, offered;
    uint32_t i, two_rx, two_tx;
    uint16_t v16;
    int given_mac = 0;
    void *m;   /* (what virtio_alloc gives, before it is typed) */
    virtio_result r;
    if (!net || !dev) return VIRTIO_ERR_INVALID_ARG;
    if (net->priv.magic == VIRTIO__NET_MAGIC) return VIRTIO_ERR_STATE;   /* running: shut it down first */
    if (dev->device_id != VIRTIO_DEVICE_NET) return VIRTIO_ERR_NOT_FOUND;
    if (!o) {
        VIRTIO_ZERO(&def);
        o = &def;
    }
    if (o->rx_buffers > VIRTIO__NET_MAX_BUFFERS || o->tx_buffers > VIRTIO__NET_MAX_BUFFERS)
        return VIRTIO_ERR_INVALID_ARG;
    for (i = 0; i < 6; i++) given_mac |= o->mac[i] != 0;
    VIRTIO_ZERO(net);
    net->dev = *dev;
    want = VIRTIO_FEATURE_BIT(VIRTIO__NET_F_MTU) | VIRTIO_FEATURE_BIT(VIRTIO__NET_F_MAC) |
           VIRTIO_FEATURE_BIT(VIRTIO__NET_F_STATUS) | VIRTIO_FEATURE_BIT(VIRTIO__NET_F_CTRL_VQ) |
           VIRTIO_FEATURE_BIT(VIRTIO__NET_F_CTRL_RX) | VIRTIO_FEATURE_BIT(VIRTIO__NET_F_GUEST_ANNOUNCE) |
           VIRTIO_FEATURE_BIT(VIRTIO__NET_F_CTRL_MAC_ADDR);
    if (!o->no_mrg_rxbuf) want |= VIRTIO_FEATURE_BIT(VIRTIO__NET_F_MRG_RXBUF);
    if (!o->no_csum) want |= VIRTIO_FEATURE_BIT(VIRTIO__NET_F_CSUM) | VIRTIO_FEATURE_BIT(VIRTIO__NET_F_GUEST_CSUM);
    /* The control features need the control queue (virtio 1.2 5.1.3.1):
       a device offering them without it does not get them. */
    if ((r = virtio_device_offer(&net->dev, &offered)) != VIRTIO_OK) return r;
    if (!(offered & VIRTIO_FEATURE_BIT(VIRTIO__NET_F_CTRL_VQ)))
        want &= ~(VIRTIO_FEATURE_BIT(VIRTIO__NET_F_CTRL_RX) | VIRTIO_FEATURE_BIT(VIRTIO__NET_F_GUEST_ANNOUNCE) |
                  VIRTIO_FEATURE_BIT(VIRTIO__NET_F_CTRL_MAC_ADDR));
    /* A request to announce arrives in the status field, which exists
       only with STATUS (QEMU status=off still offers GUEST_ANNOUNCE). */
    if (!(offered & VIRTIO_FEATURE_BIT(VIRTIO__NET_F_STATUS)))
        want &= ~VIRTIO_FEATURE_BIT(VIRTIO__NET_F_GUEST_ANNOUNCE);
    if ((r = virtio_device_begin(&net->dev, want, &o->device)) != VIRTIO_OK) return r;

    /* Facts. */
    net->info.mtu = 1500;
    if (virtio_device_has(&net->dev, VIRTIO__NET_F_MTU)) {
        if ((r = virtio_config_read16(&net->dev, VIRTIO__NET_CFG_MTU, &v16)) != VIRTIO_OK) goto fail;
        if (v16 < 68) {   /* below IPv4's minimum: nonsense */
            r = VIRTIO_ERR_DEVICE;
            goto fail;
        }
        net->info.mtu = v16;
    }
    if (virtio_device_has(&net->dev, VIRTIO__NET_F_MAC)) {
        if ((r = virtio_config_read(&net->dev, VIRTIO__NET_CFG_MAC, net->info.mac, 6)) != VIRTIO_OK) goto fail;
    } else {
        VIRTIO_MEMCPY(net->info.mac, fallback_mac, 6);
    }
    net->info.has_status = (uint32_t)virtio_device_has(&net->dev, VIRTIO__NET_F_STATUS);
    net->info.csum = (uint32_t)virtio_device_has(&net->dev, VIRTIO__NET_F_CSUM);
    net->info.guest_csum = (uint32_t)virtio_device_has(&net->dev, VIRTIO__NET_F_GUEST_CSUM);
    net->info.mrg_rxbuf = (uint32_t)virtio_device_has(&net->dev, VIRTIO__NET_F_MRG_RXBUF);
    net->info.announce = (uint32_t)virtio_device_has(&net->dev, VIRTIO__NET_F_GUEST_ANNOUNCE);
    if (virtio_device_has(&net->dev, VIRTIO__NET_F_CTRL_VQ)) {
        net->info.ctrl_rx = (uint32_t)virtio_device_has(&net->dev, VIRTIO__NET_F_CTRL_RX);
        net->info.ctrl_mac = (uint32_t)virtio_device_has(&net->dev, VIRTIO__NET_F_CTRL_MAC_ADDR);
    }
    /* The 10-byte header lacks num_buffers: legacy without MRG_RXBUF. */
    net->info.hdr_len = (net->dev.legacy && !net->info.mrg_rxbuf) ? 10u : 12u;
    if ((r = virtio__net_read_status(net, &v16)) != VIRTIO_OK) goto fail;
    net->info.link_up = (v16 & VIRTIO__NET_S_LINK_UP) != 0;

    /* Queues: each buffer is one descriptor, except on legacy devices,
       whose header takes a descriptor of its own (receive: without
       MRG_RXBUF); an indirect table then keeps it to one ring slot, else
       the buffer takes two. */
    net->priv.nrx = o->rx_buffers ? o->rx_buffers : 32u;
    net->priv.ntx = o->tx_buffers ? o->tx_buffers : 16u;
    two_rx = net->dev.legacy && !net->info.mrg_rxbuf;
    two_tx = net->dev.legacy;
    i = (uint32_t)virtio_device_has(&net->dev, VIRTIO_FEATURE_INDIRECT_DESC);
    VIRTIO_ZERO(&qo);
    qo.indirect = two_rx ? 2u : 0u;
    qo.size = virtio__net_ring(net->priv.nrx, two_rx && !i ? 2u : 1u);
    if ((r = virtio_queue_init(&net->rx, &net->dev, VIRTIO__NET_RXQ, &qo)) != VIRTIO_OK) goto fail;
    qo.indirect = two_tx ? 2u : 0u;
    qo.size = virtio__net_ring(net->priv.ntx, two_tx && !i ? 2u : 1u);
    if ((r = virtio_queue_init(&net->tx, &net->dev, VIRTIO__NET_TXQ, &qo)) != VIRTIO_OK) goto fail;
    if (virtio_device_has(&net->dev, VIRTIO__NET_F_CTRL_VQ)) {
        qo.size = 4;   /* one command (three descriptors) at a time */
        qo.indirect = 3;
        if ((r = virtio_queue_init(&net->ctrl, &net->dev, VIRTIO__NET_CTRLQ, &qo)) != VIRTIO_OK) goto fail;
    }
    /* What the rings really hold (the device may offer fewer entries). */
    i = two_rx && net->rx.indirect < 2 ? net->rx.size / 2 : net->rx.size;
    if (net->priv.nrx > i) net->priv.nrx = i;
    i = two_tx && net->tx.indirect < 2 ? net->tx.size / 2 : net->tx.size;
    if (net->priv.ntx > i) net->priv.ntx = i;
    if (net->priv.nrx == 0 || net->priv.ntx == 0 || (net->ctrl.dev && net->ctrl.indirect < 3 && net->ctrl.size < 3)) {
        r = VIRTIO_ERR_DEVICE;
        goto fail;
    }
    /* Every buffer holds a whole frame (VLAN tag too). */
    net->priv.buf_size = (net->info.hdr_len + net->info.mtu + 18 + 63) & ~63u;
    if (net->priv.buf_size < 1536) net->priv.buf_size = 1536;
    for (net->priv.per_alloc = 1; (net->priv.per_alloc + 1) * net->priv.buf_size <= 4096u;) net->priv.per_alloc++;
    if ((r = virtio__net_book(net)) != VIRTIO_OK) goto fail;
    if ((r = virtio__net_bufs(net, net->priv.nrx, net->priv.rx_buf, net->priv.rx_dev)) != VIRTIO_OK) goto fail;
    if ((r = virtio__net_bufs(net, net->priv.ntx, net->priv.tx_buf, net->priv.tx_dev)) != VIRTIO_OK) goto fail;
    if (net->ctrl.dev) {
        r = virtio_alloc(net->dev.platform, VIRTIO__NET_CTRL_BYTES, 64, VIRTIO_MEM_DMA, &m, &net->priv.ctrlbuf_dev);
        if (r != VIRTIO_OK) goto fail;
        net->priv.ctrlbuf = (unsigned char *)m;
    }
    for (i = 0; i < net->priv.ntx; i++) net->priv.tx_free[i] = (uint16_t)i;
    net->priv.tx_nfree = net->priv.ntx;
    for (i = 0; i < net->priv.nrx; i++)
        if ((r = virtio__net_post_rx(net, i)) != VIRTIO_OK) goto fail;
    if ((r = virtio_device_ready(&net->dev)) != VIRTIO_OK) goto fail;
    net->priv.magic = VIRTIO__NET_MAGIC;
    virtio_queue_kick(&net->rx);
    net->priv.rx_repost = 0;
    if (given_mac) {
        r = virtio_net_set_mac(net, o->mac);
        if (r != VIRTIO_OK) {
            virtio_net_shutdown(net);
            return r;
        }
    }
    return VIRTIO_OK;
fail:
    r = virtio_device_fault(r);   /* a device without what its type requires */
    virtio_device_fail(&net->dev);
    virtio__net_release(net, virtio_device_reset(&net->dev) == VIRTIO_OK);
    return r;
}

VIRTIO_API virtio_result virtio_net_shutdown(virtio_net *net)
{
    virtio_result r;
    if (!virtio__net_ok(net)) return VIRTIO_ERR_STATE;
    net->priv.magic = 0;
    r = virtio_device_reset(&net->dev);
    virtio__net_release(net, r == VIRTIO_OK);
    return r == VIRTIO_OK ? VIRTIO_OK : VIRTIO_ERR_TIMEOUT;
}

/* >>net.tx */
static virtio_result virtio__net_tx_kick(virtio_net *n)
{
    if (!n->priv.tx_unkicked) return VIRTIO_OK;
    n->priv.tx_unkicked = 0;
    return virtio_queue_kick(&n->tx);
}

VIRTIO_API virtio_result virtio_net_kick(virtio_net *net)
{
    virtio_result r;
    if (!virtio__net_ok(net)) return VIRTIO_ERR_STATE;
    if (net->priv.rx_repost) {
        net->priv.rx_repost = 0;
        if ((r = virtio_queue_kick(&net->rx)) != VIRTIO_OK) return r;
    }
    return virtio__net_tx_kick(net);
}

VIRTIO_API virtio_result virtio_net_reclaim(virtio_net *net, uint32_t *count)
{
    uint32_t n = 0, len;
    void *cookie;
    virtio_result r;
    if (!virtio__net_ok(net)) return VIRTIO_ERR_STATE;
    if ((r = virtio__net_tx_kick(net)) != VIRTIO_OK) return r;
    /* Bounded: pop ends at VIRTIO_EMPTY once every buffer in flight (at
       most ntx) is back. */
    while ((r = virtio_queue_pop(&net->tx, &cookie, &len)) == VIRTIO_OK) {
        net->priv.tx_free[net->priv.tx_nfree++] = (uint16_t)((uintptr_t)cookie - 1);
        n++;
    }
    if (r != VIRTIO_EMPTY) return r;
    if (count) *count = n;
    return VIRTIO_OK;
}

static virtio_result virtio__net_send(virtio_net *n, const void *frame, size_t len, uint32_t flags,
                                      uint32_t hflags, uint32_t csum_start, uint32_t csum_offset)
{
    const unsigned char *f = (const unsigned char *)frame;
    unsigned char *b;
    uint64_t a;
    uint32_t h, i;
    virtio_sg sg[2];
    virtio_result r;
    if (!frame || len < 14 || (flags & ~VIRTIO_MORE)) return VIRTIO_ERR_INVALID_ARG;
    /* The MTU bounds the payload: after 14 bytes of header, 18 with an
       802.1Q or 802.1ad tag (type 0x8100 or 0x88a8). */
    h = len > 18 && ((f[12] == 0x81 && f[13] == 0x00) || (f[12] == 0x88 && f[13] == 0xa8)) ? 18u : 14u;
    if (len > n->info.mtu + h) return VIRTIO_ERR_TOO_BIG;
    if (!n->info.link_up) return VIRTIO_ERR_LINK_DOWN;
    if (n->priv.tx_nfree == 0 && (r = virtio_net_reclaim(n, 0)) != VIRTIO_OK) return r;
    if (n->priv.tx_nfree == 0) {
        n->stats.tx_full++;
        return VIRTIO_ERR_NO_SPACE;   /* reclaim notified what was pending */
    }
    i = n->priv.tx_free[--n->priv.tx_nfree];
    h = n->info.hdr_len;
    b = n->priv.tx_buf[i];
    a = n->priv.tx_dev[i];
    VIRTIO_MEMSET(b, 0, h);
    b[VIRTIO__NET_HDR_FLAGS] = (unsigned char)hflags;
    virtio_store(&n->dev, b + VIRTIO__NET_HDR_CSUM_START, csum_start, 2);
    virtio_store(&n->dev, b + VIRTIO__NET_HDR_CSUM_OFFSET, csum_offset, 2);
    VIRTIO_MEMCPY(b + h, frame, len);
    sg[0].addr = a;
    if (n->dev.legacy) {   /* header in its own descriptor */
        sg[0].len = h;
        sg[1].addr = a + h;
        sg[1].len = (uint32_t)len;
        r = virtio_queue_add(&n->tx, sg, 2, 0, (void *)(uintptr_t)(i + 1));
    } else {
        sg[0].len = h + (uint32_t)len;
        r = virtio_queue_add(&n->tx, sg, 1, 0, (void *)(uintptr_t)(i + 1));
    }
    if (r != VIRTIO_OK) {
        n->priv.tx_free[n->priv.tx_nfree++] = (uint16_t)i;
        virtio__net_tx_kick(n);
        return r;
    }
    n->stats.tx_frames++;
    n->stats.tx_bytes += len;
    n->priv.tx_unkicked++;
    return (flags & VIRTIO_MORE) ? VIRTIO_OK : virtio__net_tx_kick(n);
}

VIRTIO_API virtio_result virtio_net_send(virtio_net *net, const void *frame, size_t len, uint32_t flags)
{
    if (!virtio__net_ok(net)) return VIRTIO_ERR_STATE;
    return virtio__net_send(net, frame, len, flags, 0, 0, 0);
}

VIRTIO_API virtio_result virtio_net_send_csum(virtio_net *net, const void *frame, size_t len, uint32_t csum_start,
                                              uint32_t csum_offset, uint32_t flags)
{
    if (!virtio__net_ok(net)) return VIRTIO_ERR_STATE;
    if (csum_start > 0xffffu || csum_offset > 0xffffu || (size_t)csum_start + csum_offset + 2 > len)
        return VIRTIO_ERR_INVALID_ARG;
    if (!net->info.csum) return VIRTIO_ERR_UNSUPPORTED;
    return virtio__net_send(net, frame, len, flags, VIRTIO__NET_HDR_F_NEEDS_CSUM, csum_start, csum_offset);
}

/* >>net.rx */
/* Finish a partial checksum (NEEDS_CSUM): one's-complement sum of
   frame[start..len), folded, stored at start + offset. */
static void virtio__net_fix_csum(unsigned char *f, uint32_t len, uint32_t start, uint32_t offset)
{
    uint32_t sum = 0, i;
    for (i = start; i + 1 < len; i += 2) sum += (uint32_t)f[i] << 8 | f[i + 1];
    if (i < len) sum += (uint32_t)f[i] << 8;
    while (sum >> 16) sum = (sum & 0xffffu) + (sum >> 16);
    sum = ~sum & 0xffffu;
    f[start + offset] = (unsigned char)(sum >> 8);
    f[start + offset + 1] = (unsigned char)sum;
}

/* Apply header flags to a complete frame. */
static uint32_t virtio__net_rx_flags(virtio_net *n, const unsigned char *hdr, unsigned char *f, uint32_t len)
{
    uint32_t hf = hdr[VIRTIO__NET_HDR_FLAGS];
    if (!n->info.guest_csum) return 0;
    if (hf & VIRTIO__NET_HDR_F_NEEDS_CSUM) {
        uint32_t start = (uint32_t)virtio_load(&n->dev, hdr + VIRTIO__NET_HDR_CSUM_START, 2);
        uint32_t off = (uint32_t)virtio_load(&n->dev, hdr + VIRTIO__NET_HDR_CSUM_OFFSET, 2);
        if ((uint64_t)start + off + 2 > len) return 0;   /* nonsense from the device: leave it */
        virtio__net_fix_csum(f, len, start, off);
        return VIRTIO_NET_FRAME_CSUM_VALID;
    }
    return (hf & VIRTIO__NET_HDR_F_DATA_VALID) ? VIRTIO_NET_FRAME_CSUM_VALID : 0u;
}

/* Pop one used receive buffer into piece[k]; its length goes to rx_len.
   A length the device overstated (clamped by the core) is a lie that
   makes the frame worthless: VIRTIO_ERR_DEVICE, the buffer still taken. */
static inline virtio_result virtio__net_pop_piece(virtio_net *n, uint32_t k)
{
    void *cookie;
    uint32_t used, i, clamped = n->rx.clamped;
    virtio_result r = virtio_queue_pop(&n->rx, &cookie, &used);
    if (r != VIRTIO_OK) return r;
    i = (uint32_t)((uintptr_t)cookie - 1);
    n->priv.rx_posted--;
    n->priv.piece[k] = (uint16_t)i;
    n->priv.rx_len[i] = used;
    return n->rx.clamped != clamped ? VIRTIO_ERR_DEVICE : VIRTIO_OK;
}

/* Post the first `count` pieces again and notify the device. */
static inline void virtio__net_recycle(virtio_net *n, uint32_t count)
{
    uint32_t k;
    for (k = 0; k < count; k++) virtio__net_post_rx(n, n->priv.piece[k]);
    if (n->priv.rx_repost) {
        virtio_queue_kick(&n->rx);
        n->priv.rx_repost = 0;
    }
}

/* Take the next whole frame off the ring: every buffer it occupies is in
   piece[0..*count), nothing is handed out yet. out: count, frame length
   (after the header). Returns VIRTIO_OK, VIRTIO_EMPTY, VIRTIO_ERR_DEVICE
   (malformed: the pieces taken are in piece[0..*count) for recycling) or
   a queue error (the queue broke: nothing can be posted any more).
   Bounded: a frame takes at most nrx buffers. */
static virtio_result virtio__net_take(virtio_net *n, uint32_t *count, uint32_t *flen)
{
    uint32_t h = n->info.hdr_len, nbuf, k, total;
    const unsigned char *hdr;
    virtio_result r = virtio__net_pop_piece(n, 0), bad = VIRTIO_OK;
    *count = 0;
    if (r == VIRTIO_EMPTY || (r != VIRTIO_OK && r != VIRTIO_ERR_DEVICE)) return r;
    *count = 1;
    if (r != VIRTIO_OK || n->priv.rx_len[n->priv.piece[0]] < h) return VIRTIO_ERR_DEVICE;
    hdr = n->priv.rx_buf[n->priv.piece[0]];
    nbuf = n->info.mrg_rxbuf ? (uint32_t)virtio_load(&n->dev, hdr + VIRTIO__NET_HDR_NUM_BUFFERS, 2) : 1u;
    if (nbuf == 0 || nbuf > n->priv.nrx) return VIRTIO_ERR_DEVICE;   /* which buffers belong to it is unknown */
    total = n->priv.rx_len[n->priv.piece[0]] - h;
    /* Mergeable buffers: the rest of the frame is in the next used
       buffers, without a header (virtio 1.2 5.1.6.4). */
    for (k = 1; k < nbuf; k++) {
        r = virtio__net_pop_piece(n, k);
        if (r == VIRTIO_EMPTY) return VIRTIO_ERR_DEVICE;   /* promised more buffers than it used */
        if (r != VIRTIO_OK && r != VIRTIO_ERR_DEVICE) return r;
        *count = k + 1;
        if (r != VIRTIO_OK) bad = r;
        total += n->priv.rx_len[n->priv.piece[k]];
    }
    *flen = total;
    return bad;
}

VIRTIO_API virtio_result virtio_net_receive(virtio_net *net, void *buf, size_t cap, virtio_net_frame *f)
{
    uint32_t count, flen = 0, k, off, h;
    unsigned char *dst = (unsigned char *)buf;
    virtio_result r;
    if (!virtio__net_ok(net)) return VIRTIO_ERR_STATE;
    if (!buf || !f) return VIRTIO_ERR_INVALID_ARG;
    r = virtio__net_take(net, &count, &flen);
    if (r == VIRTIO_OK && flen > cap) r = VIRTIO_ERR_TOO_BIG;
    if (r != VIRTIO_OK) {
        if (count) net->stats.rx_errors++;
        virtio__net_recycle(net, count);
        return r;
    }
    /* Whole and well-formed: only now does the caller's buffer change. */
    h = net->info.hdr_len;
    for (k = 0, off = 0; k < count; k++) {
        uint32_t i = net->priv.piece[k], skip = k ? 0 : h, n = net->priv.rx_len[i] - skip;
        VIRTIO_MEMCPY(dst + off, net->priv.rx_buf[i] + skip, n);
        off += n;
    }
    f->data = (uint8_t *)buf;
    f->len = flen;
    f->handle = 0;
    f->flags = virtio__net_rx_flags(net, net->priv.rx_buf[net->priv.piece[0]], dst, flen);
    virtio__net_recycle(net, count);
    net->stats.rx_frames++;
    net->stats.rx_bytes += flen;
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_net_borrow(virtio_net *net, virtio_net_frame *f)
{
    uint32_t count, flen = 0, idx;
    unsigned char *b;
    virtio_result r;
    if (!virtio__net_ok(net)) return VIRTIO_ERR_STATE;
    if (!f) return VIRTIO_ERR_INVALID_ARG;
    r = virtio__net_take(net, &count, &flen);
    if (r == VIRTIO_OK && count != 1) r = VIRTIO_ERR_TOO_BIG;   /* spread over buffers */
    if (r != VIRTIO_OK) {
        if (count) net->stats.rx_errors++;
        virtio__net_recycle(net, count);
        return r;
    }
    idx = net->priv.piece[0];
    b = net->priv.rx_buf[idx];
    net->priv.borrowed[idx] = 1;
    f->data = b + net->info.hdr_len;
    f->len = flen;
    f->handle = idx + 1;
    f->flags = virtio__net_rx_flags(net, b, f->data, flen);
    net->stats.rx_frames++;
    net->stats.rx_bytes += flen;
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_net_give_back(virtio_net *net, const virtio_net_frame *f)
{
    uint32_t i;
    virtio_result r;
    if (!virtio__net_ok(net)) return VIRTIO_ERR_STATE;
    if (!f || f->handle == 0 || f->handle > net->priv.nrx || !net->priv.borrowed[f->handle - 1])
        return VIRTIO_ERR_INVALID_ARG;
    i = f->handle - 1;
    net->priv.borrowed[i] = 0;
    r = virtio__net_post_rx(net, i);
    if (net->priv.rx_repost) {
        virtio_queue_kick(&net->rx);
        net->priv.rx_repost = 0;
    }
    return r;
}

/* >>net.control */
VIRTIO_API virtio_result virtio_net_refresh(virtio_net *net, uint32_t *changed)
{
    uint16_t s;
    uint32_t ch = 0, up;
    virtio_result r;
    if (!virtio__net_ok(net)) return VIRTIO_ERR_STATE;
    if ((r = virtio__net_read_status(net, &s)) != VIRTIO_OK) return r;
    up = (s & VIRTIO__NET_S_LINK_UP) != 0;
    if (up != net->info.link_up) ch |= VIRTIO_NET_CHANGED_LINK;
    net->info.link_up = up;
    if (net->info.announce && (s & VIRTIO__NET_S_ANNOUNCE)) ch |= VIRTIO_NET_CHANGED_ANNOUNCE;
    if (changed) *changed = ch;
    return VIRTIO_OK;
}

static virtio_result virtio__net_rx_mode(virtio_net *n, uint32_t cmd, int on)
{
    unsigned char v = on ? 1 : 0;
    if (!virtio__net_ok(n)) return VIRTIO_ERR_STATE;
    if (!n->info.ctrl_rx) return VIRTIO_ERR_UNSUPPORTED;
    return virtio__net_ctrl(n, VIRTIO__NET_CTRL_RX, cmd, &v, 1);
}

VIRTIO_API virtio_result virtio_net_set_promisc(virtio_net *net, int on)
{
    return virtio__net_rx_mode(net, VIRTIO__NET_CTRL_RX_PROMISC, on);
}

VIRTIO_API virtio_result virtio_net_set_allmulti(virtio_net *net, int on)
{
    return virtio__net_rx_mode(net, VIRTIO__NET_CTRL_RX_ALLMULTI, on);
}

VIRTIO_API virtio_result virtio_net_set_mac_filter(virtio_net *net, const uint8_t *uc, uint32_t n_uc,
                                                   const uint8_t *mc, uint32_t n_mc)
{
    unsigned char *t;
    uint32_t off, i;
    virtio_result r;
    if (!virtio__net_ok(net)) return VIRTIO_ERR_STATE;
    /* The caller's mistakes first, whatever the device offers. Each count
       on its own first: their sum must not wrap. */
    if (n_uc > VIRTIO__NET_MAX_FILTER || n_mc > VIRTIO__NET_MAX_FILTER - n_uc || (n_uc && !uc) || (n_mc && !mc))
        return VIRTIO_ERR_INVALID_ARG;
    /* Unicast addresses in the first table, multicast ones in the second
       (the group bit, bit 0 of the first byte; virtio 1.2 5.1.6.5.2). */
    for (i = 0; i < n_uc; i++)
        if (uc[6 * i] & 1u) return VIRTIO_ERR_INVALID_ARG;
    for (i = 0; i < n_mc; i++)
        if (!(mc[6 * i] & 1u)) return VIRTIO_ERR_INVALID_ARG;
    if (!net->info.ctrl_rx) return VIRTIO_ERR_UNSUPPORTED;
    if ((r = virtio__net_ctrl_buf(net, &t)) != VIRTIO_OK) return r;
    /* Two tables after class and command: le32 count, then the addresses
       (virtio 1.2 5.1.6.5.2); at most 8 + 6 x 64 bytes, before the ack. */
    t += 2;
    virtio_store(&net->dev, t, n_uc, 4);
    if (n_uc) VIRTIO_MEMCPY(t + 4, uc, 6u * n_uc);
    off = 4 + 6 * n_uc;
    virtio_store(&net->dev, t + off, n_mc, 4);
    if (n_mc) VIRTIO_MEMCPY(t + off + 4, mc, 6u * n_mc);
    off += 4 + 6 * n_mc;
    return virtio__net_ctrl_run(net, VIRTIO__NET_CTRL_MAC, VIRTIO__NET_CTRL_MAC_TABLE_SET, off);
}

VIRTIO_API virtio_result virtio_net_set_mac(virtio_net *net, const uint8_t mac[6])
{
    virtio_result r;
    uint32_t i;
    if (!virtio__net_ok(net)) return VIRTIO_ERR_STATE;
    if (!mac) return VIRTIO_ERR_INVALID_ARG;
    if (net->info.ctrl_mac) {
        r = virtio__net_ctrl(net, VIRTIO__NET_CTRL_MAC, VIRTIO__NET_CTRL_MAC_ADDR_SET, mac, 6);
    } else if (!virtio_device_has(&net->dev, VIRTIO__NET_F_MAC)) {
        r = VIRTIO_OK;   /* the device has no address of its own: ours is the one */
    } else if (net->dev.legacy) {
        /* Legacy devices take the address through the config field. */
        for (i = 0, r = VIRTIO_OK; i < 6 && r == VIRTIO_OK; i++)
            r = virtio_config_write(&net->dev, VIRTIO__NET_CFG_MAC + i, 1, mac[i]);
    } else {
        r = VIRTIO_ERR_UNSUPPORTED;   /* modern devices ignore config writes */
    }
    if (r == VIRTIO_OK) VIRTIO_MEMCPY(net->info.mac, mac, 6);
    return r;
}

VIRTIO_API virtio_result virtio_net_announce_ack(virtio_net *net)
{
    if (!virtio__net_ok(net)) return VIRTIO_ERR_STATE;
    if (!net->info.announce || !net->ctrl.dev) return VIRTIO_ERR_UNSUPPORTED;
    return virtio__net_ctrl(net, VIRTIO__NET_CTRL_ANNOUNCE, VIRTIO__NET_CTRL_ANNOUNCE_ACK, 0, 0);
}

#endif /* VIRTIO_NET_IMPLEMENTATION */
