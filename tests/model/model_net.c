/* SPDX-License-Identifier: MIT OR Unlicense */
/* model_net.c - network device backend of the software VirtIO device: one
   queue pair plus a control queue, frames recorded on transmit and
   injected by the test on receive, checked like a strict device would
   (virtio 1.2 section 5.1). See model_net.h. */
#include "model_net.h"

#include <stdlib.h>
#include <string.h>

/* Offsets in struct virtio_net_config (5.1.4). */
#define NC_MAC 0u
#define NC_STATUS 6u
#define NC_MAX_PAIRS 8u
#define NC_MTU 10u
#define NC_SIZE 12u

/* Header fields (5.1.6). */
#define NH_FLAGS 0u
#define NH_GSO_TYPE 1u
#define NH_HDR_LEN 2u
#define NH_GSO_SIZE 4u
#define NH_CSUM_START 6u
#define NH_CSUM_OFFSET 8u
#define NH_NUM_BUFFERS 10u
#define NH_KNOWN_FLAGS 7u   /* NEEDS_CSUM, DATA_VALID, RSC_INFO */

/* Control classes and commands (5.1.6.5). */
#define CTRL_RX 0u
#define CTRL_RX_PROMISC 0u
#define CTRL_RX_ALLMULTI 1u
#define CTRL_MAC 1u
#define CTRL_MAC_TABLE_SET 0u
#define CTRL_MAC_ADDR_SET 1u
#define CTRL_ANNOUNCE 3u
#define CTRL_ANNOUNCE_ACK 0u
#define CTRL_MAX_DATA 4096u

#define RXQ 0u
#define TXQ 1u
#define CTRLQ 2u

/* A frame waiting for receive buffers. */
typedef struct rxframe {
    uint8_t *data;
    uint32_t len;
    uint8_t flags;
    uint16_t csum_start, csum_offset;
} rxframe;

typedef struct net {
    model_net_options o;
    model_net_knobs knobs;
    model_net_stats stats;
    model_net_state state;
    model_net_frame *tx;            /* recorded transmissions */
    uint32_t ntx, captx;
    rxframe *rxq;                   /* FIFO of injected frames */
    uint32_t rx_head, rx_count, rx_cap;
    model_chain **held;             /* receive buffers taken but not yet used */
    uint32_t nheld, held_cap;
    int delivering;                 /* guards against re-entry from notify */
} net;

static int net_process(model *m, void *state, model_chain *c);

static net *net_of(model *m)
{
    const model_backend *be = model_backend_of(m);
    return be->process == net_process ? (net *)be->state : NULL;
}

void model_net_options_init(model_net_options *o)
{
    static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    memset(o, 0, sizeof *o);
    o->features = MODEL_NET_DEFAULT_FEATURES;
    memcpy(o->mac, mac, 6);
    o->mtu = 1500;
    o->link_up = 1;
    o->queue_size = 256;
    o->ctrl_queue_size = 64;
}

static uint32_t hdr_len_of(uint64_t f)
{
    return (f & (MODEL_F_VERSION_1 | MODEL_NET_F_MRG_RXBUF)) ? 12u : 10u;
}

uint32_t model_net_hdr_len(model *m) { return hdr_len_of(model_features(m)); }

/* Largest frame either side may put on the wire: MTU plus Ethernet header
   and one VLAN tag. Without MTU the classic 1500. */
static uint32_t max_frame(model *m)
{
    uint32_t mtu = (model_features(m) & MODEL_NET_F_MTU) ? model_get16(model_config(m) + NC_MTU) : 1500u;
    return mtu + 18u;
}

/* Legacy interface without ANY_LAYOUT: 5.1.6.6 fixes the descriptor layout. */
static int legacy_framing(model *m)
{
    return model_is_legacy(m) && !(model_features(m) & MODEL_F_ANY_LAYOUT) && m->knobs.strict_legacy_framing;
}

/* ------------------------------------------------------------------ */
/* Transmit                                                            */
/* ------------------------------------------------------------------ */

static int record_tx(net *n, const model_net_frame *f)
{
    if (n->ntx == n->captx) {
        uint32_t cap = n->captx ? n->captx * 2 : 64;
        model_net_frame *t = (model_net_frame *)realloc(n->tx, cap * sizeof *t);
        if (!t) return -1;
        n->tx = t;
        n->captx = cap;
    }
    n->tx[n->ntx++] = *f;
    return 0;
}

/* One transmit chain (5.1.6.2): header then frame, all device-readable. */
static void tx_process(model *m, net *n, model_chain *c)
{
    uint64_t f = model_features(m);
    uint32_t h = hdr_len_of(f), len, limit = max_frame(m);
    uint8_t hdr[12];
    model_net_frame fr;
    int bad = 0;
    if (c->nwrite) {
        model_bug(m, "net tx: chain %u has %u device-writable descriptors", c->id, c->nwrite);
        bad = 1;
    }
    if (c->read_len < h) {
        model_bug(m, "net tx: %llu readable bytes, less than the %u-byte header", (unsigned long long)c->read_len, h);
        n->stats.tx_bad++;
        return;
    }
    if (legacy_framing(m) && c->seg[0].len != h) {
        model_bug(m, "net tx: legacy driver without ANY_LAYOUT put the header in a %u-byte descriptor (must be %u, "
                     "5.1.6.6)", c->seg[0].len, h);
        bad = 1;
    }
    model_chain_read(c, 0, hdr, h);
    len = (uint32_t)(c->read_len - h);
    memset(&fr, 0, sizeof fr);
    fr.len = len;
    fr.hdr_len = h;
    fr.flags = hdr[NH_FLAGS];
    fr.gso_type = hdr[NH_GSO_TYPE];
    fr.csum_start = model_ld16(m, hdr + NH_CSUM_START);
    fr.csum_offset = model_ld16(m, hdr + NH_CSUM_OFFSET);
    fr.num_buffers = h == 12 ? model_ld16(m, hdr + NH_NUM_BUFFERS) : 0;
    fr.nseg = c->nread;
    if (len < 14) {
        model_bug(m, "net tx: frame of %u bytes is shorter than an Ethernet header", len);
        bad = 1;
    }
    if (len > limit) {
        model_bug(m, "net tx: frame of %u bytes exceeds the MTU (at most %u with Ethernet header and VLAN tag)", len, limit);
        bad = 1;
    }
    if (fr.flags & ~(uint32_t)NH_KNOWN_FLAGS) {
        model_bug(m, "net tx: unknown header flags %#x", fr.flags);
        bad = 1;
    }
    if (fr.flags & (MODEL_NET_HDR_F_DATA_VALID | 4u)) {
        model_bug(m, "net tx: DATA_VALID / RSC_INFO set by the driver (5.1.6.2.1)");
        bad = 1;
    }
    if (fr.flags & MODEL_NET_HDR_F_NEEDS_CSUM) {
        if (!(f & MODEL_NET_F_CSUM)) {
            model_bug(m, "net tx: NEEDS_CSUM without VIRTIO_NET_F_CSUM negotiated");
            bad = 1;
        } else if ((uint32_t)fr.csum_start + fr.csum_offset + 2u > len) {
            model_bug(m, "net tx: checksum field at %u + %u lies outside the %u-byte frame", fr.csum_start, fr.csum_offset, len);
            bad = 1;
        }
    }
    if (fr.gso_type != 0) {
        model_bug(m, "net tx: gso_type %u without any GSO feature", fr.gso_type);
        bad = 1;
    }
    if (fr.num_buffers != 0) {
        model_bug(m, "net tx: num_buffers %u (the driver must set 0)", fr.num_buffers);
        bad = 1;
    }
    if (bad) {
        n->stats.tx_bad++;
        return;
    }
    fr.data = (uint8_t *)malloc(len ? len : 1);
    if (!fr.data) return;
    model_chain_read(c, h, fr.data, len);
    if (record_tx(n, &fr) != 0) {
        free(fr.data);
        return;
    }
    n->stats.tx_frames++;
    n->stats.tx_bytes += len;
}

/* ------------------------------------------------------------------ */
/* Control queue                                                       */
/* ------------------------------------------------------------------ */

/* Does the driver's data for a command have exactly `want` bytes? */
static int data_len_ok(model *m, const char *what, uint32_t len, uint32_t want)
{
    if (len == want) return 1;
    model_bug(m, "net ctrl: %s with %u data bytes (must be %u)", what, len, want);
    return 0;
}

static uint8_t ctrl_mac_table(model *m, net *n, const uint8_t *d, uint32_t len)
{
    uint32_t nuc, nmc, off, i;
    if (len < 4) goto malformed;
    nuc = model_ld32(m, d);
    if (nuc > (len - 4) / 6) goto malformed;
    off = 4 + 6 * nuc;
    if (len - off < 4) goto malformed;
    nmc = model_ld32(m, d + off);
    if (nmc > (len - off - 4) / 6 || off + 4 + 6 * nmc != len) goto malformed;
    if (nuc > MODEL_NET_MAX_FILTER || nmc > MODEL_NET_MAX_FILTER) return MODEL_NET_ERR;   /* device's limit */
    for (i = 0; i < nuc + nmc; i++)   /* individual addresses first, then group ones (the driver's MUST) */
        if ((d[4 + 6 * i + (i < nuc ? 0 : 4)] & 1u) != (i < nuc ? 0u : 1u)) {
            model_bug(m, "net ctrl: MAC_TABLE_SET %s table holds a %s address (5.1.6.5.2)",
                      i < nuc ? "unicast" : "multicast", i < nuc ? "multicast" : "unicast");
            return MODEL_NET_ERR;
        }
    n->state.n_uc = nuc;
    n->state.n_mc = nmc;
    memcpy(n->state.uc, d + 4, 6u * nuc);
    memcpy(n->state.mc, d + off + 4, 6u * nmc);
    n->state.table_sets++;
    return MODEL_NET_OK;
malformed:
    model_bug(m, "net ctrl: MAC_TABLE_SET data of %u bytes does not hold two well-formed tables (5.1.6.5.2)", len);
    return MODEL_NET_ERR;
}

static uint8_t ctrl_command(model *m, net *n, uint32_t cls, uint32_t cmd, const uint8_t *d, uint32_t len)
{
    uint64_t f = model_features(m);
    if (cls == CTRL_RX && (cmd == CTRL_RX_PROMISC || cmd == CTRL_RX_ALLMULTI)) {
        if (!(f & MODEL_NET_F_CTRL_RX)) {
            model_bug(m, "net ctrl: RX mode command without VIRTIO_NET_F_CTRL_RX negotiated");
            return MODEL_NET_ERR;
        }
        if (!data_len_ok(m, "RX mode command", len, 1)) return MODEL_NET_ERR;
        if (d[0] > 1) model_bug(m, "net ctrl: RX mode value %u (0 or 1)", d[0]);
        if (cmd == CTRL_RX_PROMISC) n->state.promisc = d[0] != 0;
        else n->state.allmulti = d[0] != 0;
        return MODEL_NET_OK;
    }
    if (cls == CTRL_MAC && cmd == CTRL_MAC_TABLE_SET) {
        if (!(f & MODEL_NET_F_CTRL_RX)) {
            model_bug(m, "net ctrl: MAC_TABLE_SET without VIRTIO_NET_F_CTRL_RX negotiated");
            return MODEL_NET_ERR;
        }
        return ctrl_mac_table(m, n, d, len);
    }
    if (cls == CTRL_MAC && cmd == CTRL_MAC_ADDR_SET) {
        if (!(f & MODEL_NET_F_CTRL_MAC_ADDR)) {
            model_bug(m, "net ctrl: MAC_ADDR_SET without VIRTIO_NET_F_CTRL_MAC_ADDR negotiated");
            return MODEL_NET_ERR;
        }
        if (!data_len_ok(m, "MAC_ADDR_SET", len, 6)) return MODEL_NET_ERR;
        memcpy(n->state.mac, d, 6);
        n->state.mac_sets++;
        memcpy(model_config(m) + NC_MAC, d, 6);   /* the config field follows (5.1.6.5.2) */
        return MODEL_NET_OK;
    }
    if (cls == CTRL_ANNOUNCE && cmd == CTRL_ANNOUNCE_ACK) {
        if (!(f & MODEL_NET_F_GUEST_ANNOUNCE)) {
            model_bug(m, "net ctrl: ANNOUNCE_ACK without VIRTIO_NET_F_GUEST_ANNOUNCE negotiated");
            return MODEL_NET_ERR;
        }
        if (!data_len_ok(m, "ANNOUNCE_ACK", len, 0)) return MODEL_NET_ERR;
        n->state.announce_acks++;
        model_put16(model_config(m) + NC_STATUS,
                    (uint16_t)(model_get16(model_config(m) + NC_STATUS) & ~MODEL_NET_S_ANNOUNCE));
        return MODEL_NET_OK;
    }
    n->stats.ctrl_unknown++;   /* a command this device does not implement: ERR, not a bug */
    return MODEL_NET_ERR;
}

/* One control chain (5.1.6.5): class, command, data readable; ack writable. */
static void ctrl_process(model *m, net *n, model_chain *c)
{
    uint8_t cc[2], ack = MODEL_NET_ERR, *d = NULL;
    uint32_t len;
    n->stats.ctrl_commands++;
    if (c->write_len != 1) {
        model_bug(m, "net ctrl: %llu device-writable bytes (exactly the 1-byte ack expected)",
                  (unsigned long long)c->write_len);
        if (c->write_len == 0) {
            n->stats.ctrl_err++;
            return;
        }
    }
    if (legacy_framing(m) && (c->nread == 0 || c->seg[0].len != 2 || c->seg[c->nread + c->nwrite - 1].len != 1))
        model_bug(m, "net ctrl: legacy driver without ANY_LAYOUT must put class+command in one 2-byte descriptor "
                     "and the ack in a 1-byte descriptor (5.1.6.6)");
    if (c->read_len < 2) {
        model_bug(m, "net ctrl: %llu readable bytes, no class and command", (unsigned long long)c->read_len);
        goto answer;
    }
    if (c->read_len - 2 > CTRL_MAX_DATA) {
        model_bug(m, "net ctrl: %llu bytes of command data", (unsigned long long)(c->read_len - 2));
        goto answer;
    }
    len = (uint32_t)(c->read_len - 2);
    model_chain_read(c, 0, cc, 2);
    d = (uint8_t *)malloc(len ? len : 1);
    if (!d) goto answer;
    model_chain_read(c, 2, d, len);
    ack = ctrl_command(m, n, cc[0], cc[1], d, len);
    if (n->knobs.ctrl_fail) ack = n->knobs.ctrl_fail == 1 ? MODEL_NET_ERR : (uint8_t)n->knobs.ctrl_fail;
answer:
    free(d);
    if (ack == MODEL_NET_OK) n->stats.ctrl_ok++;
    else n->stats.ctrl_err++;
    model_chain_write(c, 0, &ack, 1);
    c->used_len = 1;
}

static int net_process(model *m, void *state, model_chain *c)
{
    net *n = (net *)state;
    if (c->queue == TXQ) tx_process(m, n, c);
    else if (c->queue == CTRLQ) ctrl_process(m, n, c);
    return MODEL_DONE;
}

/* ------------------------------------------------------------------ */
/* Receive                                                             */
/* ------------------------------------------------------------------ */

/* Check a receive buffer the driver posted (5.1.6.3.1). 0: unusable (the
   bug is reported and the buffer handed back empty). */
static int rx_buffer_ok(model *m, net *n, model_chain *c)
{
    uint64_t f = model_features(m);
    uint32_t h = hdr_len_of(f);
    if (c->nread) {
        model_bug(m, "net rx: receive buffer %u has %u device-readable descriptors", c->id, c->nread);
        return 0;
    }
    if (f & MODEL_NET_F_MRG_RXBUF) {
        if (c->write_len < h) {
            model_bug(m, "net rx: mergeable buffer of %llu bytes is smaller than the %u-byte header",
                      (unsigned long long)c->write_len, h);
            return 0;
        }
        return 1;
    }
    if ((f & MODEL_NET_F_MTU) && c->write_len < h + max_frame(m) - 4u) {
        model_bug(m, "net rx: buffer of %llu bytes cannot take a %u-byte frame of the negotiated MTU (5.1.6.3.1)",
                  (unsigned long long)c->write_len, max_frame(m) - 4u);
        return 0;
    }
    if (c->write_len < h + 1514u) n->stats.rx_small_buffers++;
    if (legacy_framing(m) && c->seg[0].len != h) {
        model_bug(m, "net rx: legacy driver without ANY_LAYOUT put the header in a %u-byte descriptor (must be %u, "
                     "5.1.6.6)", c->seg[0].len, h);
        return 0;
    }
    return 1;
}

/* Make sure at least `want` buffers are held (taking more from the ring).
   Returns the number held, fewer if the driver has not posted enough. */
static uint32_t hold_buffers(model *m, net *n, uint32_t want)
{
    while (n->nheld < want && n->nheld < n->held_cap) {
        model_chain *c = model_pop(m, RXQ);
        if (!c) break;
        if (!rx_buffer_ok(m, n, c)) {
            model_chain_complete(c, 0);
            continue;
        }
        n->held[n->nheld++] = c;
    }
    return n->nheld;
}

static void drop_held(net *n, uint32_t k)
{
    memmove(n->held, n->held + k, (n->nheld - k) * sizeof *n->held);
    n->nheld -= k;
}

/* Bytes of buffer c this device is willing to fill. */
static uint32_t room(const net *n, const model_chain *c, uint32_t h)
{
    uint32_t r = c->write_len > 0xffffffffu ? 0xffffffffu : (uint32_t)c->write_len;
    uint32_t chunk = n->knobs.rx_chunk < h ? h : n->knobs.rx_chunk;   /* the header stays whole */
    if (n->knobs.rx_chunk && r > chunk) r = chunk;
    return r;
}

static void pop_frame(net *n)
{
    free(n->rxq[n->rx_head].data);
    n->rx_head = (n->rx_head + 1) % n->rx_cap;
    n->rx_count--;
}

/* Put the front frame into held buffers. 1: delivered or dropped (next
   frame), 0: wait for more buffers. */
static int deliver_one(model *m, net *n)
{
    uint64_t f = model_features(m);
    int mrg = (f & MODEL_NET_F_MRG_RXBUF) != 0;
    uint32_t h = hdr_len_of(f), need, nb, i, off, have;
    rxframe *fr = &n->rxq[n->rx_head];
    uint8_t hdr[12];
    need = h + fr->len;
    if (!mrg) {
        if (hold_buffers(m, n, 1) == 0) return 0;
        if (n->held[0]->write_len < need) {   /* keep the buffer for the next frame */
            n->stats.rx_dropped++;
            pop_frame(n);
            return 1;
        }
        nb = 1;
    } else {
        /* Take buffers until the frame fits; hold them if it does not yet. */
        for (nb = 0, have = 0; have < need; nb++) {
            if (hold_buffers(m, n, nb + 1) < nb + 1) return 0;
            have += room(n, n->held[nb], h);
        }
        if (nb > 0xffffu) {
            n->stats.rx_dropped++;
            pop_frame(n);
            return 1;
        }
    }
    memset(hdr, 0, sizeof hdr);
    if (f & MODEL_NET_F_GUEST_CSUM) {   /* otherwise flags must be zero (5.1.6.4.1) */
        hdr[NH_FLAGS] = fr->flags;
        if (fr->flags & MODEL_NET_HDR_F_NEEDS_CSUM) {
            model_st16(m, hdr + NH_CSUM_START, fr->csum_start);
            model_st16(m, hdr + NH_CSUM_OFFSET, fr->csum_offset);
        }
    }
    if (h == 12) model_st16(m, hdr + NH_NUM_BUFFERS, (uint16_t)nb);   /* 1 without MRG_RXBUF */
    /* The header goes first, the frame follows across the buffers. */
    for (i = 0, off = 0; i < nb; i++) {
        model_chain *c = n->held[i];
        uint32_t r = mrg ? room(n, c, h) : need, take = need - off < r ? need - off : r, pos = 0;
        if (off < h) {
            uint32_t k = h - off < take ? h - off : take;
            model_chain_write(c, 0, hdr + off, k);
            pos = k;
        }
        if (take > pos) model_chain_write(c, pos, fr->data + (off + pos - h), take - pos);
        off += take;
    }
    /* Publish in order: the first buffer (with num_buffers) first. */
    for (i = 0, off = 0; i < nb; i++) {
        model_chain *c = n->held[i];
        uint32_t r = mrg ? room(n, c, h) : need, take = need - off < r ? need - off : r;
        off += take;
        model_chain_complete(c, take);
    }
    drop_held(n, nb);
    n->stats.rx_frames++;
    n->stats.rx_bytes += fr->len;
    n->stats.rx_buffers += nb;
    pop_frame(n);
    return 1;
}

uint32_t model_net_deliver(model *m)
{
    net *n = net_of(m);
    if (!n) return 0;
    if (n->delivering || n->knobs.rx_hold) return n->rx_count;
    n->delivering = 1;
    while (n->rx_count && deliver_one(m, n)) {
    }
    n->delivering = 0;
    return n->rx_count;
}

uint32_t model_net_rx_pending(model *m)
{
    net *n = net_of(m);
    return n ? n->rx_count : 0;
}

int model_net_inject_ex(model *m, const void *frame, uint32_t len, uint32_t hdr_flags, uint16_t csum_start,
                        uint16_t csum_offset)
{
    net *n = net_of(m);
    rxframe *fr;
    if (!n || !frame) return -1;
    if (len < 14 || len > max_frame(m)) {
        n->stats.rx_refused++;
        return -1;
    }
    if (n->rx_count == n->rx_cap) {
        uint32_t cap = n->rx_cap ? n->rx_cap * 2 : 64, i;
        rxframe *q = (rxframe *)malloc(cap * sizeof *q);
        if (!q) return -1;
        for (i = 0; i < n->rx_count; i++) q[i] = n->rxq[(n->rx_head + i) % n->rx_cap];
        free(n->rxq);
        n->rxq = q;
        n->rx_cap = cap;
        n->rx_head = 0;
    }
    fr = &n->rxq[(n->rx_head + n->rx_count) % n->rx_cap];
    fr->data = (uint8_t *)malloc(len);
    if (!fr->data) return -1;
    memcpy(fr->data, frame, len);
    fr->len = len;
    fr->flags = (uint8_t)hdr_flags;
    fr->csum_start = csum_start;
    fr->csum_offset = csum_offset;
    n->rx_count++;
    model_net_deliver(m);
    return 0;
}

int model_net_inject(model *m, const void *frame, uint32_t len, uint32_t hdr_flags)
{
    return model_net_inject_ex(m, frame, len, hdr_flags, 0, 0);
}

static void net_notify(model *m, void *state, uint32_t queue)
{
    (void)state;
    if (queue == RXQ) model_net_deliver(m);
}

/* ------------------------------------------------------------------ */
/* Device                                                              */
/* ------------------------------------------------------------------ */

static int net_features_ok(model *m, void *state, uint64_t f)
{
    (void)state;
    if (!(f & MODEL_NET_F_CTRL_VQ) && (f & (MODEL_NET_F_CTRL_RX | MODEL_NET_F_CTRL_MAC_ADDR | MODEL_NET_F_GUEST_ANNOUNCE))) {
        model_bug(m, "net: CTRL_RX / CTRL_MAC_ADDR / GUEST_ANNOUNCE accepted without CTRL_VQ (5.1.3.1)");
        return 0;
    }
    return 1;
}

static void net_driver_ok(model *m, void *state)
{
    (void)state;
    model_net_deliver(m);
}

static void net_reset(model *m, void *state)
{
    net *n = (net *)state;
    uint8_t *cfg = model_config(m);
    n->nheld = 0;   /* the model drops the chains themselves */
    while (n->rx_count) pop_frame(n);
    n->state.promisc = n->state.allmulti = 0;
    n->state.n_uc = n->state.n_mc = 0;
    memcpy(cfg + NC_MAC, n->o.mac, 6);
    model_put16(cfg + NC_STATUS, (uint16_t)(model_get16(cfg + NC_STATUS) & ~MODEL_NET_S_ANNOUNCE));
}

/* Legacy drivers may set the address through the config field (5.1.4.2:
   legacy devices allow it); modern ones must use MAC_ADDR_SET. */
static int net_config_write(model *m, void *state, uint32_t off, unsigned width, uint32_t value)
{
    net *n = (net *)state;
    unsigned i;
    if (!model_is_legacy(m) || off + width > NC_MAC + 6) return 0;
    for (i = 0; i < width; i++) model_config(m)[off + i] = (uint8_t)(value >> (8 * i));
    memcpy(n->state.mac, model_config(m) + NC_MAC, 6);
    if (off + width == NC_MAC + 6) n->state.mac_sets++;   /* counted when the last byte lands */
    return 1;
}

static void net_destroy(void *state)
{
    net *n = (net *)state;
    uint32_t i;
    for (i = 0; i < n->ntx; i++) free(n->tx[i].data);
    while (n->rx_count) pop_frame(n);
    free(n->tx);
    free(n->rxq);
    free(n->held);
    free(n);
}

model *model_net_new(model_bus *bus, const model_options *o, const model_net_options *no)
{
    model_backend be;
    net *n;
    model *m;
    uint8_t *cfg;
    if (!bus || !o || !no || no->queue_size == 0 || no->queue_size > MODEL_MAX_QUEUE_SIZE) return NULL;
    n = (net *)calloc(1, sizeof *n);
    if (!n) return NULL;
    n->o = *no;
    n->held_cap = no->queue_size;
    n->held = (model_chain **)calloc(n->held_cap, sizeof *n->held);
    if (!n->held) {
        free(n);
        return NULL;
    }
    memset(&be, 0, sizeof be);
    be.name = "net";
    be.device_id = 1;
    be.features = no->features;
    be.config_size = NC_SIZE;
    be.num_queues = (no->features & MODEL_NET_F_CTRL_VQ) ? 3u : 2u;
    be.queue_max[RXQ] = no->queue_size;
    be.queue_max[TXQ] = no->queue_size;
    be.queue_flags[RXQ] = MODEL_QF_PULL;
    if (be.num_queues == 3) be.queue_max[CTRLQ] = no->ctrl_queue_size ? no->ctrl_queue_size : 64u;
    be.pci_class = 0x020000u;   /* network, Ethernet */
    be.state = n;
    be.process = net_process;
    be.notify = net_notify;
    be.features_ok = net_features_ok;
    be.driver_ok = net_driver_ok;
    be.reset = net_reset;
    be.config_write = net_config_write;
    be.destroy = net_destroy;
    m = model_new(bus, o, &be);   /* destroys n on failure */
    if (!m) return NULL;
    cfg = model_config(m);
    memcpy(cfg + NC_MAC, no->mac, 6);
    model_config_set(m, NC_STATUS, 2, no->link_up ? MODEL_NET_S_LINK_UP : 0);
    model_config_set(m, NC_MAX_PAIRS, 2, 1);
    model_config_set(m, NC_MTU, 2, no->mtu);
    memcpy(n->state.mac, no->mac, 6);
    return m;
}

uint32_t model_net_tx_count(model *m)
{
    net *n = net_of(m);
    return n ? n->ntx : 0;
}

const model_net_frame *model_net_tx_frame(model *m, uint32_t i)
{
    net *n = net_of(m);
    return n && i < n->ntx ? &n->tx[i] : NULL;
}

void model_net_tx_clear(model *m)
{
    net *n = net_of(m);
    uint32_t i;
    if (!n) return;
    for (i = 0; i < n->ntx; i++) free(n->tx[i].data);
    n->ntx = 0;
}

void model_net_set_link(model *m, int up)
{
    uint8_t *cfg = model_config(m);
    uint16_t s;
    if (!net_of(m)) return;
    s = model_get16(cfg + NC_STATUS);
    s = (uint16_t)(up ? (s | MODEL_NET_S_LINK_UP) : (s & ~MODEL_NET_S_LINK_UP));
    model_put16(cfg + NC_STATUS, s);
    model_config_changed(m);
}

void model_net_request_announce(model *m)
{
    uint8_t *cfg = model_config(m);
    if (!net_of(m)) return;
    model_put16(cfg + NC_STATUS, (uint16_t)(model_get16(cfg + NC_STATUS) | MODEL_NET_S_ANNOUNCE));
    model_config_changed(m);
}

uint16_t model_net_status(model *m) { return net_of(m) ? model_get16(model_config(m) + NC_STATUS) : 0; }

model_net_knobs *model_net_get_knobs(model *m)
{
    net *n = net_of(m);
    return n ? &n->knobs : NULL;
}

model_net_stats *model_net_get_stats(model *m)
{
    net *n = net_of(m);
    return n ? &n->stats : NULL;
}

model_net_state *model_net_get_state(model *m)
{
    net *n = net_of(m);
    return n ? &n->state : NULL;
}
