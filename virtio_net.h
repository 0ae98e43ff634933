/* SPDX-License-Identifier: MIT OR Unlicense */
#if defined(VIRTIO_IMPLEMENTATION) && !defined(VIRTIO_NET_IMPLEMENTATION)
#define VIRTIO_NET_IMPLEMENTATION
#endif
#include "virtio.h"
#ifndef VIRTIO_NET_H
#define VIRTIO_NET_H
/*
virtio_net.h - v0.3.0 - VirtIO network driver for virtio.h - MIT OR Unlicense

QUICK START

    #define VIRTIO_IMPLEMENTATION      // in one file
    #include "virtio_net.h"

    virtio_device dev;                 // from virtio_mmio_probe / virtio_pci_probe
    virtio_net nic;
    virtio_net_frame f;
    uint8_t frame[1514];
    if (virtio_net_init(&nic, &dev, NULL) == VIRTIO_OK) {
        // nic.info.mac is the address; nic.info.mtu the largest payload
        virtio_net_send(&nic, frame, 60);
        if (virtio_net_receive(&nic, frame, sizeof frame, &f) == VIRTIO_OK)
            handle(frame, f.len);
    }

CONFIGURATION

    macro                        default   scope
    VIRTIO_NET_IMPLEMENTATION    -         emit this driver (VIRTIO_IMPLEMENTATION implies it)

Runtime choices are in virtio_net_options (all-zero = defaults).

FRAMES

A frame is an Ethernet frame without FCS: destination, source, type,
payload; 14 to info.mtu + 14 bytes (18 more with a VLAN tag). The
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
refuses it with VIRTIO_ERR_TOO_BIG and recycles its buffers). With
GUEST_CSUM, frames the device marks as checksum-valid carry
VIRTIO_NET_FRAME_CSUM_VALID, and frames with a partial checksum are
completed by the driver before they are handed out.

SEND

virtio_net_send copies the frame into a driver-owned DMA buffer, so the
caller's memory is free when the call returns. Completed buffers are
reclaimed on each send (and by virtio_net_reclaim); a full ring returns
VIRTIO_ERR_NO_SPACE, never blocks. virtio_net_send_csum asks the device
to fill in a TCP/UDP checksum (CSUM).

CONTROL

With CTRL_VQ: promiscuous and all-multicast modes (CTRL_RX), the MAC
filter table (CTRL_RX), setting the MAC (CTRL_MAC_ADDR; on legacy devices
without it, the config field) and acknowledging announcements
(GUEST_ANNOUNCE). Each command waits for the device's answer, bounded by
the platform timeout.

LIMITS

One queue pair (no multi-queue), no segmentation offload (GSO/TSO), no
VLAN filtering commands. At most 64 MAC filter entries.

license: end of file (virtio.h)
*/

#if !defined(VIRTIO_KIT_VERSION) || VIRTIO_KIT_VERSION < 1 || VIRTIO_KIT_COMPAT > 1
#error "virtio_net.h needs the virtio.h driver kit 1"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* virtio_net_frame.flags */
#define VIRTIO_NET_FRAME_CSUM_VALID 1u   /* device (or driver) verified the checksum */

/* virtio_net_poll_status events */
#define VIRTIO_NET_EVENT_LINK 1u         /* link state changed (info.link_up) */
#define VIRTIO_NET_EVENT_ANNOUNCE 2u     /* device asks for a gratuitous announcement */

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
     rx_buffers   128 receive buffers (bounded by the queue size)
     tx_buffers   64 transmit buffers (bounded by the queue size)
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
    uint32_t announce;          /* GUEST_ANNOUNCE */
    uint32_t hdr_len;           /* virtio-net header bytes (10 or 12) */
} virtio_net_info;

/* A network device. Caller-owned, must not move after init. Readable:
   dev, rx, tx, ctrl, info, last_ack (control answer: 0 OK, 1 ERR), stats.
   The rest is private. */
typedef struct virtio_net {
    virtio_device dev;
    virtio_queue rx, tx, ctrl;
    virtio_net_info info;
    uint32_t last_ack;
    struct {
        uint64_t rx_frames, rx_bytes, rx_errors, tx_frames, tx_bytes, tx_full;
    } stats;
    struct {
        uint32_t magic;
        uint32_t nrx, ntx;            /* buffers */
        uint32_t rx_size, tx_size;    /* bytes per buffer */
        uint32_t rx_posted;           /* buffers in the rx ring */
        uint32_t rx_repost;           /* reposted since the last rx kick */
        uint32_t link_known;          /* last link state reported */
        unsigned char *rxbuf, *txbuf, *ctrlbuf;
        uint64_t rxbuf_dev, txbuf_dev, ctrlbuf_dev;
        size_t rx_bytes_all, tx_bytes_all;
        uint16_t *tx_free;            /* private: free tx buffer stack */
        uint32_t tx_nfree;
        unsigned char *borrowed;      /* private: 1 per borrowed rx buffer */
    } priv;
} virtio_net;

/* Initialise a network device on a probed device (copied into net->dev):
   negotiate, read MAC/MTU/status, set up receive, transmit and control
   queues, fill the receive ring, program options.mac if given, set
   DRIVER_OK. Returns VIRTIO_OK; VIRTIO_ERR_NOT_FOUND (not a network
   device); VIRTIO_ERR_NO_MEMORY; VIRTIO_ERR_UNSUPPORTED (options.mac given
   but the device cannot take it); the errors of virtio_device_begin.
   Context: blocks for the reset (bounded); allocates through dma_alloc. */
VIRTIO_API virtio_result virtio_net_init(virtio_net *net, const virtio_device *dev, const virtio_net_options *o);

/* Reset the device and free the driver's memory. Borrowed frames become
   invalid. Returns VIRTIO_OK or VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_net_shutdown(virtio_net *net);

/* Send one frame (copied). Returns VIRTIO_OK; VIRTIO_ERR_INVALID_ARG (NULL
   or shorter than 14 bytes); VIRTIO_ERR_TOO_BIG (over info.mtu + 18);
   VIRTIO_ERR_LINK_DOWN; VIRTIO_ERR_NO_SPACE (all transmit buffers in
   flight); VIRTIO_ERR_DEVICE; VIRTIO_ERR_STATE. Context: never blocks. */
VIRTIO_API virtio_result virtio_net_send(virtio_net *net, const void *frame, size_t len);

/* Send one frame and let the device compute the checksum stored at
   frame[csum_start + csum_offset], covering frame[csum_start..len) plus
   whatever pseudo-header sum the caller already put in that field.
   Returns as virtio_net_send, and VIRTIO_ERR_UNSUPPORTED without CSUM,
   VIRTIO_ERR_INVALID_ARG if the field lies outside the frame. */
VIRTIO_API virtio_result virtio_net_send_csum(virtio_net *net, const void *frame, size_t len, uint32_t csum_start,
                                              uint32_t csum_offset);

/* Take back transmit buffers the device has finished with. out: count
   (may be NULL). Returns VIRTIO_OK, VIRTIO_ERR_DEVICE, VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_net_reclaim(virtio_net *net, uint32_t *count);

/* Copy the next received frame into buf (cap bytes). out: f (f->data = buf).
   Returns VIRTIO_OK; VIRTIO_EMPTY (nothing arrived); VIRTIO_ERR_TOO_BIG
   (frame larger than cap: it is dropped); VIRTIO_ERR_DEVICE (the device
   delivered a malformed buffer: dropped, the ring stays full);
   VIRTIO_ERR_INVALID_ARG; VIRTIO_ERR_STATE. Context: never blocks. */
VIRTIO_API virtio_result virtio_net_receive(virtio_net *net, void *buf, size_t cap, virtio_net_frame *f);

/* Zero-copy receive: hand out the next frame in place. The buffer is out
   of the ring until virtio_net_give_back. Returns as virtio_net_receive
   (VIRTIO_ERR_TOO_BIG: the frame spans several buffers; it is dropped). */
VIRTIO_API virtio_result virtio_net_borrow(virtio_net *net, virtio_net_frame *f);

/* Return a borrowed frame's buffer to the receive ring. Returns
   VIRTIO_OK; VIRTIO_ERR_INVALID_ARG (not a borrowed frame, or given back
   twice); VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_net_give_back(virtio_net *net, const virtio_net_frame *f);

/* Read the link status and pending announcement request. out: events
   (VIRTIO_NET_EVENT_* bits since the last call); info.link_up updated.
   Returns VIRTIO_OK, VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_net_poll_status(virtio_net *net, uint32_t *events);

/* Control queue commands; each waits for the device's answer.
   Returns VIRTIO_OK; VIRTIO_ERR_UNSUPPORTED (feature not negotiated);
   VIRTIO_ERR_IO (device answered ERR; last_ack = 1); VIRTIO_ERR_TIMEOUT;
   VIRTIO_ERR_INVALID_ARG; VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_net_set_promisc(virtio_net *net, int on);
VIRTIO_API virtio_result virtio_net_set_allmulti(virtio_net *net, int on);
/* Frames to these unicast / multicast addresses pass the filter (in
   addition to the device's own MAC and broadcast). n_uc + n_mc <= 64. */
VIRTIO_API virtio_result virtio_net_set_mac_filter(virtio_net *net, const uint8_t (*uc)[6], uint32_t n_uc,
                                                   const uint8_t (*mc)[6], uint32_t n_mc);
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
   csum_start, csum_offset, then num_buffers (VERSION_1 or MRG_RXBUF). */
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

#define VIRTIO__NET_MAGIC 0x6e657421u  /* "net!" */
#define VIRTIO__NET_RXQ 0
#define VIRTIO__NET_TXQ 1
#define VIRTIO__NET_CTRLQ 2

static int virtio__net_ok(const virtio_net *n)
{
    return n && n->priv.magic == VIRTIO__NET_MAGIC;
}

static inline unsigned char *virtio__net_rxb(const virtio_net *n, uint32_t i)
{
    return n->priv.rxbuf + (size_t)i * n->priv.rx_size;
}

/* Post receive buffer i. The header gets its own descriptor on legacy
   devices, which may assume that layout (virtio 1.2 5.1.6.3.2). */
static virtio_result virtio__net_post_rx(virtio_net *n, uint32_t i)
{
    virtio_sg sg[2];
    uint32_t h = n->info.hdr_len;
    uint64_t a = n->priv.rxbuf_dev + (uint64_t)i * n->priv.rx_size;
    virtio_result r;
    if (n->dev.legacy && !n->info.mrg_rxbuf) {
        sg[0].addr = a;
        sg[0].len = h;
        sg[1].addr = a + h;
        sg[1].len = n->priv.rx_size - h;
        r = virtio_queue_add(&n->rx, sg, 0, 2, (void *)(uintptr_t)(i + 1));
    } else {
        sg[0].addr = a;
        sg[0].len = n->priv.rx_size;
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

/* Run one control command: class, command, data; wait for the ack. */
static virtio_result virtio__net_ctrl(virtio_net *n, uint32_t cls, uint32_t cmd, const void *data, uint32_t len)
{
    unsigned char *b = n->priv.ctrlbuf;
    virtio_sg sg[3];
    void *cookie;
    uint32_t used, k = 0;
    virtio_result r;
    if (!n->ctrl.dev) return VIRTIO_ERR_UNSUPPORTED;
    /* A command that timed out may still be with the device: it owns the
       buffer, and its late answer must not be taken for this one's. */
    while (n->ctrl.num_free != n->ctrl.size)
        if ((r = virtio_queue_wait(&n->ctrl, &cookie, &used)) != VIRTIO_OK) return r;
    b[0] = (unsigned char)cls;
    b[1] = (unsigned char)cmd;
    if (len) VIRTIO_MEMCPY(b + 2, data, len);
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
    n->last_ack = *(volatile unsigned char *)(b + VIRTIO__NET_CTRL_ACK);
    if (n->last_ack == 0) return VIRTIO_OK;
    return n->last_ack == 1 ? VIRTIO_ERR_IO : VIRTIO_ERR_DEVICE;
}

VIRTIO_API virtio_result virtio_net_init(virtio_net *net, const virtio_device *dev, const virtio_net_options *o)
{
    virtio_net_options def;
    virtio_queue_options qo;
    const virtio_platform *p;
    static const uint8_t fallback_mac[6] = { 0x02, 0x76, 0x69, 0x72, 0x74, 0x00 };
    uint64_t want, offered;
    uint32_t i, max_frame;
    uint16_t v16;
    int given_mac = 0;
    virtio_result r;
    if (!net || !dev) return VIRTIO_ERR_INVALID_ARG;
    if (dev->device_id != VIRTIO_DEVICE_NET) return VIRTIO_ERR_NOT_FOUND;
    if (!o) {
        VIRTIO_ZERO(&def);
        o = &def;
    }
    if (o->rx_buffers > 4096 || o->tx_buffers > 4096) return VIRTIO_ERR_INVALID_ARG;
    for (i = 0; i < 6; i++) given_mac |= o->mac[i] != 0;
    VIRTIO_ZERO(net);
    net->dev = *dev;
    p = net->dev.platform;
    want = VIRTIO_FEATURE_BIT(VIRTIO__NET_F_MTU) | VIRTIO_FEATURE_BIT(VIRTIO__NET_F_MAC) | VIRTIO_FEATURE_BIT(VIRTIO__NET_F_STATUS) |
           VIRTIO_FEATURE_BIT(VIRTIO__NET_F_CTRL_VQ) | VIRTIO_FEATURE_BIT(VIRTIO__NET_F_CTRL_RX) |
           VIRTIO_FEATURE_BIT(VIRTIO__NET_F_GUEST_ANNOUNCE) | VIRTIO_FEATURE_BIT(VIRTIO__NET_F_CTRL_MAC_ADDR);
    if (!o->no_mrg_rxbuf) want |= VIRTIO_FEATURE_BIT(VIRTIO__NET_F_MRG_RXBUF);
    if (!o->no_csum) want |= VIRTIO_FEATURE_BIT(VIRTIO__NET_F_CSUM) | VIRTIO_FEATURE_BIT(VIRTIO__NET_F_GUEST_CSUM);
    /* The control features need the control queue (virtio 1.2 5.1.3.1):
       a device offering them without it does not get them. */
    if ((r = virtio_device_offer(&net->dev, &offered)) != VIRTIO_OK) return r;
    if (!(offered & VIRTIO_FEATURE_BIT(VIRTIO__NET_F_CTRL_VQ)))
        want &= ~(VIRTIO_FEATURE_BIT(VIRTIO__NET_F_CTRL_RX) | VIRTIO_FEATURE_BIT(VIRTIO__NET_F_GUEST_ANNOUNCE) |
                  VIRTIO_FEATURE_BIT(VIRTIO__NET_F_CTRL_MAC_ADDR));
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
    net->priv.link_known = net->info.link_up;

    /* Queues and buffers: every buffer holds a whole frame (VLAN tag too). */
    VIRTIO_ZERO(&qo);
    qo.indirect = 2;
    if ((r = virtio_queue_init(&net->rx, &net->dev, VIRTIO__NET_RXQ, &qo)) != VIRTIO_OK) goto fail;
    if ((r = virtio_queue_init(&net->tx, &net->dev, VIRTIO__NET_TXQ, &qo)) != VIRTIO_OK) goto fail;
    if (virtio_device_has(&net->dev, VIRTIO__NET_F_CTRL_VQ)) {
        qo.size = 16;
        qo.indirect = 3;
        if ((r = virtio_queue_init(&net->ctrl, &net->dev, VIRTIO__NET_CTRLQ, &qo)) != VIRTIO_OK) goto fail;
    }
    max_frame = net->info.mtu + 18;
    net->priv.rx_size = (net->info.hdr_len + max_frame + 63) & ~63u;
    if (net->priv.rx_size < 1536) net->priv.rx_size = 1536;
    net->priv.tx_size = net->priv.rx_size;
    net->priv.nrx = o->rx_buffers ? o->rx_buffers : 128u;
    net->priv.ntx = o->tx_buffers ? o->tx_buffers : 64u;
    /* Without indirect tables a legacy buffer takes two ring slots. */
    i = net->rx.indirect ? net->rx.size : net->rx.size / 2;
    if (net->priv.nrx > i) net->priv.nrx = i;
    i = net->tx.indirect ? net->tx.size : net->tx.size / 2;
    if (net->priv.ntx > i) net->priv.ntx = i;
    if (net->priv.nrx == 0 || net->priv.ntx == 0) {
        r = VIRTIO_ERR_DEVICE;
        goto fail;
    }
    net->priv.rx_bytes_all = (size_t)net->priv.nrx * net->priv.rx_size;
    net->priv.tx_bytes_all = (size_t)net->priv.ntx * net->priv.tx_size + VIRTIO__NET_CTRL_BYTES;
    r = virtio_alloc(p, net->priv.rx_bytes_all, 64, VIRTIO_MEM_DMA, (void **)&net->priv.rxbuf, &net->priv.rxbuf_dev);
    if (r != VIRTIO_OK) goto fail;
    r = virtio_alloc(p, net->priv.tx_bytes_all, 64, VIRTIO_MEM_DMA, (void **)&net->priv.txbuf, &net->priv.txbuf_dev);
    if (r != VIRTIO_OK) goto fail;
    net->priv.ctrlbuf = net->priv.txbuf + (size_t)net->priv.ntx * net->priv.tx_size;
    net->priv.ctrlbuf_dev = net->priv.txbuf_dev + (uint64_t)net->priv.ntx * net->priv.tx_size;
    r = virtio_alloc(p, (size_t)net->priv.ntx * 2 + net->priv.nrx, 8, VIRTIO_MEM_PRIVATE,
                     (void **)&net->priv.tx_free, 0);
    if (r != VIRTIO_OK) goto fail;
    net->priv.borrowed = (unsigned char *)(net->priv.tx_free + net->priv.ntx);
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
    virtio_device_fail(&net->dev);
    virtio_device_reset(&net->dev);
    if (net->rx.dev) virtio_queue_destroy(&net->rx);
    if (net->tx.dev) virtio_queue_destroy(&net->tx);
    if (net->ctrl.dev) virtio_queue_destroy(&net->ctrl);
    virtio_free(p, net->priv.rxbuf, net->priv.rx_bytes_all, VIRTIO_MEM_DMA);
    virtio_free(p, net->priv.txbuf, net->priv.tx_bytes_all, VIRTIO_MEM_DMA);
    virtio_free(p, net->priv.tx_free, (size_t)net->priv.ntx * 2 + net->priv.nrx, VIRTIO_MEM_PRIVATE);
    return r;
}

VIRTIO_API virtio_result virtio_net_shutdown(virtio_net *net)
{
    const virtio_platform *p;
    if (!virtio__net_ok(net)) return VIRTIO_ERR_STATE;
    p = net->dev.platform;
    virtio_device_reset(&net->dev);
    virtio_queue_destroy(&net->rx);
    virtio_queue_destroy(&net->tx);
    if (net->ctrl.dev) virtio_queue_destroy(&net->ctrl);
    virtio_free(p, net->priv.rxbuf, net->priv.rx_bytes_all, VIRTIO_MEM_DMA);
    virtio_free(p, net->priv.txbuf, net->priv.tx_bytes_all, VIRTIO_MEM_DMA);
    virtio_free(p, net->priv.tx_free, (size_t)net->priv.ntx * 2 + net->priv.nrx, VIRTIO_MEM_PRIVATE);
    net->priv.magic = 0;
    return VIRTIO_OK;
}

/* >>net.tx */
VIRTIO_API virtio_result virtio_net_reclaim(virtio_net *net, uint32_t *count)
{
    uint32_t n = 0, len;
    void *cookie;
    virtio_result r;
    if (!virtio__net_ok(net)) return VIRTIO_ERR_STATE;
    while ((r = virtio_queue_pop(&net->tx, &cookie, &len)) == VIRTIO_OK) {
        net->priv.tx_free[net->priv.tx_nfree++] = (uint16_t)((uintptr_t)cookie - 1);
        n++;
    }
    if (count) *count = n;
    return r == VIRTIO_EMPTY ? VIRTIO_OK : r;
}

static virtio_result virtio__net_send(virtio_net *n, const void *frame, size_t len, uint32_t flags,
                                      uint32_t csum_start, uint32_t csum_offset)
{
    unsigned char *b;
    uint64_t a;
    uint32_t h, i;
    virtio_sg sg[2];
    virtio_result r;
    if (!virtio__net_ok(n)) return VIRTIO_ERR_STATE;
    if (!frame || len < 14) return VIRTIO_ERR_INVALID_ARG;
    if (len > n->info.mtu + 18u) return VIRTIO_ERR_TOO_BIG;
    if (!n->info.link_up) return VIRTIO_ERR_LINK_DOWN;
    if (n->priv.tx_nfree == 0 && (r = virtio_net_reclaim(n, 0)) != VIRTIO_OK) return r;
    if (n->priv.tx_nfree == 0) {
        n->stats.tx_full++;
        return VIRTIO_ERR_NO_SPACE;
    }
    i = n->priv.tx_free[--n->priv.tx_nfree];
    h = n->info.hdr_len;
    b = n->priv.txbuf + (size_t)i * n->priv.tx_size;
    a = n->priv.txbuf_dev + (uint64_t)i * n->priv.tx_size;
    VIRTIO_MEMSET(b, 0, h);
    b[VIRTIO__NET_HDR_FLAGS] = (unsigned char)flags;
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
        return r;
    }
    n->stats.tx_frames++;
    n->stats.tx_bytes += len;
    return virtio_queue_kick(&n->tx);
}

VIRTIO_API virtio_result virtio_net_send(virtio_net *net, const void *frame, size_t len)
{
    return virtio__net_send(net, frame, len, 0, 0, 0);
}

VIRTIO_API virtio_result virtio_net_send_csum(virtio_net *net, const void *frame, size_t len, uint32_t csum_start,
                                              uint32_t csum_offset)
{
    if (!virtio__net_ok(net)) return VIRTIO_ERR_STATE;
    if (!net->info.csum) return VIRTIO_ERR_UNSUPPORTED;
    if (csum_start > 0xffffu || csum_offset > 0xffffu || (size_t)csum_start + csum_offset + 2 > len)
        return VIRTIO_ERR_INVALID_ARG;
    return virtio__net_send(net, frame, len, VIRTIO__NET_HDR_F_NEEDS_CSUM, csum_start, csum_offset);
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

/* Pop one used receive buffer. out: index, frame length (after the
   header), number of buffers of this frame, header flags. */
static virtio_result virtio__net_pop_rx(virtio_net *n, uint32_t *idx, uint32_t *flen, uint32_t *nbuf,
                                        uint32_t *hflags)
{
    void *cookie;
    uint32_t used, i, h = n->info.hdr_len;
    unsigned char *b;
    virtio_result r = virtio_queue_pop(&n->rx, &cookie, &used);
    if (r != VIRTIO_OK) return r;
    i = (uint32_t)((uintptr_t)cookie - 1);
    n->priv.rx_posted--;
    *idx = i;
    b = virtio__net_rxb(n, i);
    if (used < h) {
        *flen = 0;
        *nbuf = 1;
        *hflags = 0;
        return VIRTIO_ERR_DEVICE;
    }
    *flen = used - h;
    *hflags = b[VIRTIO__NET_HDR_FLAGS];
    *nbuf = n->info.mrg_rxbuf ? (uint32_t)virtio_load(&n->dev, b + VIRTIO__NET_HDR_NUM_BUFFERS, 2) : 1u;
    return VIRTIO_OK;
}

/* Apply header flags to a complete frame. */
static uint32_t virtio__net_rx_flags(virtio_net *n, unsigned char *hdr, unsigned char *f, uint32_t len, uint32_t hf)
{
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

static void virtio__net_rx_kick(virtio_net *n)
{
    if (n->priv.rx_repost) {
        virtio_queue_kick(&n->rx);
        n->priv.rx_repost = 0;
    }
}

VIRTIO_API virtio_result virtio_net_receive(virtio_net *net, void *buf, size_t cap, virtio_net_frame *f)
{
    uint32_t idx, flen, nbuf, hf, k, total;
    unsigned char *first, hdr[12];
    virtio_result r, res = VIRTIO_OK;
    if (!virtio__net_ok(net)) return VIRTIO_ERR_STATE;
    if (!buf || !f) return VIRTIO_ERR_INVALID_ARG;
    r = virtio__net_pop_rx(net, &idx, &flen, &nbuf, &hf);
    if (r == VIRTIO_EMPTY) return r;
    if (r != VIRTIO_OK) {
        if (r == VIRTIO_ERR_DEVICE) {
            net->stats.rx_errors++;
            virtio__net_post_rx(net, idx);
            virtio__net_rx_kick(net);
        }
        return r;
    }
    first = virtio__net_rxb(net, idx);
    /* The buffer goes back to the device below: keep its header. */
    VIRTIO_MEMCPY(hdr, first, net->info.hdr_len);
    total = flen;
    if (flen <= cap) VIRTIO_MEMCPY(buf, first + net->info.hdr_len, flen);
    else res = VIRTIO_ERR_TOO_BIG;
    virtio__net_post_rx(net, idx);
    /* Mergeable buffers: the rest of the frame is in the next used buffers
       (no header in those). */
    if (nbuf == 0 || nbuf > net->priv.nrx) {
        res = VIRTIO_ERR_DEVICE;
        nbuf = 1;
    }
    for (k = 1; k < nbuf; k++) {
        void *cookie;
        uint32_t used, j;
        r = virtio_queue_pop(&net->rx, &cookie, &used);
        if (r != VIRTIO_OK) {   /* the device promised more buffers than it used */
            res = r == VIRTIO_EMPTY ? VIRTIO_ERR_DEVICE : r;
            break;
        }
        j = (uint32_t)((uintptr_t)cookie - 1);
        net->priv.rx_posted--;
        if (res == VIRTIO_OK && total + used <= cap)
            VIRTIO_MEMCPY((unsigned char *)buf + total, virtio__net_rxb(net, j), used);
        else if (res == VIRTIO_OK)
            res = VIRTIO_ERR_TOO_BIG;
        total += used;
        virtio__net_post_rx(net, j);
    }
    virtio__net_rx_kick(net);
    if (res != VIRTIO_OK) {
        net->stats.rx_errors++;
        return res;
    }
    f->data = (uint8_t *)buf;
    f->len = total;
    f->handle = 0;
    f->flags = virtio__net_rx_flags(net, hdr, (unsigned char *)buf, total, hf);
    net->stats.rx_frames++;
    net->stats.rx_bytes += total;
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_net_borrow(virtio_net *net, virtio_net_frame *f)
{
    uint32_t idx, flen, nbuf, hf, k;
    unsigned char *b;
    virtio_result r;
    if (!virtio__net_ok(net)) return VIRTIO_ERR_STATE;
    if (!f) return VIRTIO_ERR_INVALID_ARG;
    r = virtio__net_pop_rx(net, &idx, &flen, &nbuf, &hf);
    if (r == VIRTIO_EMPTY) return r;
    if (r != VIRTIO_OK || nbuf != 1) {
        /* Malformed, or spread over buffers: recycle every piece. */
        if (r == VIRTIO_OK && nbuf >= 2 && nbuf <= net->priv.nrx) {
            r = VIRTIO_ERR_TOO_BIG;
        } else {
            if (r == VIRTIO_OK) r = VIRTIO_ERR_DEVICE;   /* num_buffers 0 or absurd */
            nbuf = 1;
        }
        virtio__net_post_rx(net, idx);
        for (k = 1; k < nbuf; k++) {
            void *cookie;
            uint32_t used;
            if (virtio_queue_pop(&net->rx, &cookie, &used) != VIRTIO_OK) break;
            net->priv.rx_posted--;
            virtio__net_post_rx(net, (uint32_t)((uintptr_t)cookie - 1));
        }
        virtio__net_rx_kick(net);
        net->stats.rx_errors++;
        return r;
    }
    b = virtio__net_rxb(net, idx);
    net->priv.borrowed[idx] = 1;
    f->data = b + net->info.hdr_len;
    f->len = flen;
    f->handle = idx + 1;
    f->flags = virtio__net_rx_flags(net, b, f->data, flen, hf);
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
    virtio__net_rx_kick(net);
    return r;
}

/* >>net.control */
VIRTIO_API virtio_result virtio_net_poll_status(virtio_net *net, uint32_t *events)
{
    uint16_t s;
    uint32_t ev = 0;
    virtio_result r;
    if (!virtio__net_ok(net)) return VIRTIO_ERR_STATE;
    if (!events) return VIRTIO_ERR_INVALID_ARG;
    if ((r = virtio__net_read_status(net, &s)) != VIRTIO_OK) return r;
    net->info.link_up = (s & VIRTIO__NET_S_LINK_UP) != 0;
    if (net->info.link_up != net->priv.link_known) ev |= VIRTIO_NET_EVENT_LINK;
    net->priv.link_known = net->info.link_up;
    if (net->info.announce && (s & VIRTIO__NET_S_ANNOUNCE)) ev |= VIRTIO_NET_EVENT_ANNOUNCE;
    *events = ev;
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

VIRTIO_API virtio_result virtio_net_set_mac_filter(virtio_net *net, const uint8_t (*uc)[6], uint32_t n_uc,
                                                   const uint8_t (*mc)[6], uint32_t n_mc)
{
    unsigned char t[8 + 6 * VIRTIO__NET_MAX_FILTER];
    uint32_t off = 0;
    if (!virtio__net_ok(net)) return VIRTIO_ERR_STATE;
    if (!net->info.ctrl_rx) return VIRTIO_ERR_UNSUPPORTED;
    if (n_uc + n_mc > VIRTIO__NET_MAX_FILTER || n_uc > VIRTIO__NET_MAX_FILTER || (n_uc && !uc) || (n_mc && !mc))
        return VIRTIO_ERR_INVALID_ARG;
    /* Two tables: le32 count, then the addresses (virtio 1.2 5.1.6.5.2). */
    virtio_store(&net->dev, t, n_uc, 4);
    if (n_uc) VIRTIO_MEMCPY(t + 4, uc, 6u * n_uc);
    off = 4 + 6 * n_uc;
    virtio_store(&net->dev, t + off, n_mc, 4);
    if (n_mc) VIRTIO_MEMCPY(t + off + 4, mc, 6u * n_mc);
    off += 4 + 6 * n_mc;
    return virtio__net_ctrl(net, VIRTIO__NET_CTRL_MAC, VIRTIO__NET_CTRL_MAC_TABLE_SET, t, off);
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
