/* SPDX-License-Identifier: MIT OR Unlicense */
#ifndef MODEL_NET_H
#define MODEL_NET_H
/*
model_net.h - network device backend of the software VirtIO device model

A virtio-net device (device ID 1, virtio 1.2 section 5.1) with one queue
pair and an optional control queue:

  queue 0  receiveq1  MODEL_QF_PULL: the device fills posted buffers only
                      when the test injects a frame (model_net_inject)
  queue 1  transmitq1 every frame the driver sends is checked and recorded
                      (model_net_tx_frame), then completed with length 0
  queue 2  controlq   when CTRL_VQ is offered: RX mode, MAC table, MAC
                      address and announcement commands change the state
                      in model_net_get_state() and are answered OK / ERR

Configuration space: mac[6], status (le16), max_virtqueue_pairs (le16,
always 1), mtu (le16). The net header is 12 bytes when VERSION_1 or
MRG_RXBUF is negotiated, 10 bytes otherwise (legacy without mergeable
buffers).

QUICK START

    model_net_options no;
    model_net_options_init(&no);            // MODEL_NET_DEFAULT_FEATURES
    m = model_net_new(bus, &o, &no);
    ... virtio_net_init ...
    model_net_inject(m, frame, 60, 0);      // the driver receives it
    virtio_net_send(&nic, frame, 60);
    assert(model_net_tx_count(m) == 1);
    assert(memcmp(model_net_tx_frame(m, 0)->data, frame, 60) == 0);

WHAT COUNTS AS A DRIVER BUG (besides the generic ones of model.h)

  tx    device-writable descriptors; fewer readable bytes than the header;
        frame shorter than 14 bytes or longer than mtu + 18 (1500 when MTU
        is not negotiated); NEEDS_CSUM without CSUM, csum_start +
        csum_offset + 2 beyond the frame; DATA_VALID, RSC_INFO or unknown
        flags; gso_type not NONE (no GSO features exist here); num_buffers
        not 0 in a 12-byte header.
  rx    device-readable descriptors in a receive buffer; with MRG_RXBUF a
        buffer smaller than the header; without it, a buffer that cannot
        hold mtu + 14 bytes when MTU is negotiated (5.1.6.3.1).
  ctrl  no readable class/command, writable part not exactly the 1-byte
        ack, command of a class whose feature is not negotiated, data of
        the wrong length (RX modes: 1 byte; MAC_ADDR_SET: 6; the two MAC
        tables must add up exactly; ANNOUNCE_ACK: none).
  feat  CTRL_RX, CTRL_MAC_ADDR or GUEST_ANNOUNCE accepted without CTRL_VQ
        (5.1.3.1); the FEATURES_OK is refused as well.
  legacy framing (legacy interface, ANY_LAYOUT not negotiated,
        m->knobs.strict_legacy_framing): the header in a descriptor of its
        own on transmit and on receive without MRG_RXBUF (5.1.6.6); the
        class and command in one 2-byte descriptor and the ack in a 1-byte
        descriptor on the control queue. Receive buffers with MRG_RXBUF
        may carry the header inline (what legacy devices accept).
  Not bugs (counted): frames dropped because the driver's buffer is too
  small, frames injected that the link could not carry, control commands
  the device does not know (answered ERR).

license: end of file
*/

#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Feature bits (virtio 1.2 5.1.3). */
#define MODEL_NET_F_CSUM (1ull << 0)
#define MODEL_NET_F_GUEST_CSUM (1ull << 1)
#define MODEL_NET_F_MTU (1ull << 3)
#define MODEL_NET_F_MAC (1ull << 5)
#define MODEL_NET_F_MRG_RXBUF (1ull << 15)
#define MODEL_NET_F_STATUS (1ull << 16)
#define MODEL_NET_F_CTRL_VQ (1ull << 17)
#define MODEL_NET_F_CTRL_RX (1ull << 18)
#define MODEL_NET_F_GUEST_ANNOUNCE (1ull << 21)
#define MODEL_NET_F_CTRL_MAC_ADDR (1ull << 23)

/* Header flags (5.1.6). */
#define MODEL_NET_HDR_F_NEEDS_CSUM 1u
#define MODEL_NET_HDR_F_DATA_VALID 2u

/* Status bits (5.1.4). */
#define MODEL_NET_S_LINK_UP 1u
#define MODEL_NET_S_ANNOUNCE 2u

/* Control answers (5.1.6.5). */
#define MODEL_NET_OK 0u
#define MODEL_NET_ERR 1u

#define MODEL_NET_MAX_FILTER 128u       /* entries per MAC table the device takes */

#define MODEL_NET_DEFAULT_FEATURES                                                                     \
    (MODEL_NET_F_CSUM | MODEL_NET_F_GUEST_CSUM | MODEL_NET_F_MTU | MODEL_NET_F_MAC |                   \
     MODEL_NET_F_MRG_RXBUF | MODEL_NET_F_STATUS | MODEL_NET_F_CTRL_VQ | MODEL_NET_F_CTRL_RX |          \
     MODEL_NET_F_GUEST_ANNOUNCE | MODEL_NET_F_CTRL_MAC_ADDR | MODEL_F_INDIRECT_DESC | MODEL_F_EVENT_IDX | \
     MODEL_F_VERSION_1 | MODEL_F_RING_PACKED)

typedef struct model_net_options {
    uint64_t features;          /* offered [MODEL_NET_DEFAULT_FEATURES] */
    uint8_t mac[6];             /* [52:54:00:12:34:56] */
    uint16_t mtu;               /* [1500] */
    uint32_t link_up;           /* initial link state [1] */
    uint32_t queue_size;        /* QueueNumMax of receive and transmit [256] */
    uint32_t ctrl_queue_size;   /* QueueNumMax of the control queue [64] */
} model_net_options;

/* Runtime switches: model_net_get_knobs(m). */
typedef struct model_net_knobs {
    uint32_t rx_chunk;          /* MRG_RXBUF: put at most this many bytes (header
                                   included) in each buffer, 0 = fill them [0] */
    uint32_t rx_hold;           /* queue injected frames without delivering them [0] */
    uint32_t ctrl_fail;         /* answer ERR (1), or this byte (> 1), to every control command [0] */
} model_net_knobs;

typedef struct model_net_stats {
    uint64_t tx_frames, tx_bytes, tx_bad;
    uint64_t rx_frames, rx_bytes;
    uint64_t rx_buffers;        /* receive buffers used */
    uint64_t rx_dropped;        /* frames that did not fit the driver's buffer */
    uint64_t rx_refused;        /* inject refused: too short / longer than the MTU allows */
    uint64_t rx_small_buffers;  /* buffers below 1526 bytes without MRG_RXBUF (a SHOULD) */
    uint64_t ctrl_commands, ctrl_ok, ctrl_err, ctrl_unknown;
} model_net_stats;

/* What the driver has programmed through the control queue. */
typedef struct model_net_state {
    uint32_t promisc, allmulti;
    uint32_t n_uc, n_mc;        /* MAC filter tables */
    uint8_t uc[MODEL_NET_MAX_FILTER][6];
    uint8_t mc[MODEL_NET_MAX_FILTER][6];
    uint8_t mac[6];             /* MAC_ADDR_SET (also mirrored into the config mac) */
    uint32_t mac_sets;          /* MAC_ADDR_SET commands, legacy config writes of the last byte */
    uint32_t table_sets;
    uint32_t announce_acks;
} model_net_state;

/* One transmitted frame, as the device saw it. */
typedef struct model_net_frame {
    uint8_t *data;              /* the frame without the net header */
    uint32_t len;
    uint32_t hdr_len;           /* header bytes the device expected (10 or 12) */
    uint8_t flags, gso_type;
    uint16_t csum_start, csum_offset;
    uint16_t num_buffers;       /* 12-byte header only */
    uint32_t nseg;              /* readable descriptors the chain had */
} model_net_frame;

void model_net_options_init(model_net_options *o);
/* A network device on bus b. NULL on error (see model_bus_last_bug). */
model *model_net_new(model_bus *b, const model_options *o, const model_net_options *no);

/* Queue a frame for the driver and deliver what fits into posted buffers.
   hdr_flags: MODEL_NET_HDR_F_DATA_VALID (or NEEDS_CSUM, see _ex); the
   device clears them when GUEST_CSUM is not negotiated, as it must.
   Returns 0 (queued or delivered), -1 if the frame is refused (shorter
   than 14 bytes or longer than the negotiated MTU + 18; rx_refused). */
int model_net_inject(model *m, const void *frame, uint32_t len, uint32_t hdr_flags);
int model_net_inject_ex(model *m, const void *frame, uint32_t len, uint32_t hdr_flags, uint16_t csum_start,
                        uint16_t csum_offset);
/* Deliver queued frames now (after clearing rx_hold). Returns the number
   still waiting for buffers. */
uint32_t model_net_deliver(model *m);
uint32_t model_net_rx_pending(model *m);

/* Transmitted frames, oldest first. */
uint32_t model_net_tx_count(model *m);
const model_net_frame *model_net_tx_frame(model *m, uint32_t i);
void model_net_tx_clear(model *m);

/* Link state / announcement request: update status, send a configuration
   change interrupt. */
void model_net_set_link(model *m, int up);
void model_net_request_announce(model *m);
uint16_t model_net_status(model *m);

/* The header size in use (10 or 12), valid once features are negotiated. */
uint32_t model_net_hdr_len(model *m);

model_net_knobs *model_net_get_knobs(model *m);
model_net_stats *model_net_get_stats(model *m);
model_net_state *model_net_get_state(model *m);

#ifdef __cplusplus
}
#endif
#endif /* MODEL_NET_H */

/*
------------------------------------------------------------------------------
This software is available under 2 licenses -- choose whichever you prefer.
ALTERNATIVE A - MIT License. Copyright (c) 2026 the virtio.h authors.
ALTERNATIVE B - Public Domain (www.unlicense.org).
See the end of virtio.h for the full texts.
------------------------------------------------------------------------------
*/
