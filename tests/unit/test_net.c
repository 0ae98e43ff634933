/* test_net.c - virtio_net.h against the software device model.
 *
 * Every transport (MMIO v2 and v1, PCI modern, transitional probed both
 * ways, legacy) with split and packed rings, with and without mergeable
 * receive buffers: the MAC, frames of 60..1514 bytes sent (the model
 * records what reached the wire) and received (copied and borrowed), the
 * legacy 10-byte header. Then the paths that need a device on demand:
 * bursts larger than the receive ring, frames spread over many mergeable
 * buffers, checksum offload both ways, control queue commands, link and
 * announcement changes, a full transmit ring and bad arguments. The model
 * reports every address or protocol violation as a bug; each test ends
 * with no bugs and no live mappings.
 */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_net.h"
#include "../../virtio_blk.h"
#include "model.h"
#include "model_net.h"
#include "unit.h"

typedef struct netenv {
    model_bus *bus;
    model *m;
    virtio_device dev;
    virtio_net nic;
} netenv;

static uint8_t frame[65536], rbuf[65536];

static int is_legacy_transport(uint32_t t, int legacy_probe)
{
    return t == MODEL_MMIO_LEGACY || t == MODEL_PCI_LEGACY || legacy_probe;
}

/* A model network device behind `transport`, probed and initialised. */
static virtio_result env_up_mode(netenv *e, uint32_t transport, int legacy_probe, const model_net_options *no,
                                 const virtio_net_options *o, uint32_t mode)
{
    model_options mo;
    model_net_options def;
    virtio_result r;
    memset(e, 0, sizeof *e);
    e->bus = model_bus_new();
    model_options_init(&mo, transport);
    mo.mode = mode;
    if (!no) {
        model_net_options_init(&def);
        no = &def;
    }
    e->m = model_net_new(e->bus, &mo, no);
    if (!e->m) return VIRTIO_ERR_NOT_FOUND;
    if ((r = model_probe(e->m, &e->dev, legacy_probe)) != VIRTIO_OK) return r;
    return virtio_net_init(&e->nic, &e->dev, o);
}

static virtio_result env_up(netenv *e, uint32_t transport, const model_net_options *no, const virtio_net_options *o)
{
    return env_up_mode(e, transport, 0, no, o, MODEL_IMMEDIATE);
}

static void env_down(netenv *e)
{
    if (e->nic.priv.magic) virtio_net_shutdown(&e->nic);
    CHECK_EQ(e->bus->stats.bugs, 0);
    if (e->bus->stats.bugs) fprintf(stderr, "  model: %s\n", model_bus_last_bug(e->bus));
    CHECK_EQ(e->bus->stats.live_maps, 0);
    CHECK_EQ(e->bus->stats.live_allocs, 0);
    CHECK_EQ(e->bus->stats.unordered_frees, 0);   /* newest first */
    model_bus_free(e->bus);
}

/* An Ethernet frame: to `dst`, from a fixed source, IPv4 type, payload a
   pattern that depends on seed. */
static void make_frame(uint8_t *f, uint32_t len, const uint8_t *dst, uint32_t seed)
{
    static const uint8_t src[6] = { 0x02, 0, 0, 0, 0, 0x01 };
    uint32_t i;
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = 0x08;
    f[13] = 0x00;
    for (i = 14; i < len; i++) f[i] = (uint8_t)(seed * 31u + i * 7u + (i >> 8));
}

static int frame_ok(const uint8_t *f, uint32_t len, const uint8_t *dst, uint32_t seed)
{
    uint8_t want[2048];
    if (!f || len > sizeof want) return 0;
    make_frame(want, len, dst, seed);
    return memcmp(f, want, len) == 0;
}

/* Was transmission i of the model exactly `len` bytes of make_frame(seed)? */
static int sent_ok(model *m, uint32_t i, uint32_t len, const uint8_t *dst, uint32_t seed)
{
    const model_net_frame *t = model_net_tx_frame(m, i);
    return t && t->len == len && frame_ok(t->data, len, dst, seed);
}

static const uint32_t sizes[] = { 60, 61, 64, 100, 127, 128, 256, 511, 512, 1000, 1023, 1024, 1500, 1513, 1514 };
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* The basic conversation on one configuration. */
static void basic(uint32_t transport, int legacy_probe, uint32_t ring, int mrg, int plain)
{
    netenv e;
    virtio_net_options o;
    model_net_options no;
    virtio_net_frame f, held[4];
    uint32_t i, n, legacy = (uint32_t)is_legacy_transport(transport, legacy_probe);
    uint32_t want_hdr = (legacy && !mrg) ? 10u : 12u;
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    o.device.no_indirect = o.device.no_event_idx = (uint32_t)plain;
    o.no_mrg_rxbuf = (uint32_t)!mrg;
    model_net_options_init(&no);
    CHECK_EQ(env_up_mode(&e, transport, legacy_probe, &no, &o, MODEL_IMMEDIATE), VIRTIO_OK);
    if (!e.nic.priv.magic) {
        env_down(&e);
        return;
    }
    CHECK_EQ(e.dev.legacy, legacy);
    CHECK_EQ(e.nic.rx.packed, ring == VIRTIO_RING_PACKED);
    CHECK(memcmp(e.nic.info.mac, no.mac, 6) == 0);
    CHECK_EQ(e.nic.info.mtu, 1500);
    CHECK_EQ(e.nic.info.link_up, 1);
    CHECK_EQ(e.nic.info.mrg_rxbuf, (uint32_t)mrg);
    CHECK_EQ(e.nic.info.hdr_len, want_hdr);
    CHECK_EQ(model_net_hdr_len(e.m), want_hdr);
    CHECK(e.nic.ctrl.dev != 0);

    /* Transmit: every size reaches the wire unchanged, header all zero. */
    for (i = 0; i < NSIZES; i++) {
        make_frame(frame, sizes[i], bcast, i);
        CHECK_EQ(virtio_net_send(&e.nic, frame, sizes[i], 0), VIRTIO_OK);
    }
    CHECK_EQ(virtio_net_reclaim(&e.nic, &n), VIRTIO_OK);
    CHECK_EQ(n, NSIZES);
    CHECK_EQ(model_net_tx_count(e.m), NSIZES);
    for (i = 0; i < NSIZES && i < model_net_tx_count(e.m); i++) {
        const model_net_frame *t = model_net_tx_frame(e.m, i);
        CHECK(sent_ok(e.m, i, sizes[i], bcast, i));
        CHECK_EQ(t->hdr_len, want_hdr);
        CHECK_EQ(t->flags, 0);
        CHECK_EQ(t->nseg, legacy ? 2 : 1);   /* legacy: header in its own descriptor */
    }

    /* Receive by copy, in order. */
    for (i = 0; i < NSIZES; i++) {
        make_frame(frame, sizes[i], e.nic.info.mac, 100 + i);
        CHECK_EQ(model_net_inject(e.m, frame, sizes[i], 0), 0);
    }
    CHECK_EQ(model_net_rx_pending(e.m), 0);
    for (i = 0; i < NSIZES; i++) {
        memset(&f, 0, sizeof f);
        CHECK_EQ(virtio_net_receive(&e.nic, rbuf, sizeof rbuf, &f), VIRTIO_OK);
        CHECK(f.data == rbuf);
        CHECK_EQ(f.len, sizes[i]);
        CHECK_EQ(f.flags, 0);
        CHECK(frame_ok(rbuf, sizes[i], e.nic.info.mac, 100 + i));
    }
    CHECK_EQ(virtio_net_receive(&e.nic, rbuf, sizeof rbuf, &f), VIRTIO_EMPTY);

    /* Zero-copy receive: several borrowed at once, given back out of order. */
    for (i = 0; i < 4; i++) {
        make_frame(frame, 60 + 400 * i, e.nic.info.mac, 200 + i);
        CHECK_EQ(model_net_inject(e.m, frame, 60 + 400 * i, 0), 0);
    }
    for (i = 0; i < 4; i++) {
        CHECK_EQ(virtio_net_borrow(&e.nic, &held[i]), VIRTIO_OK);
        CHECK_EQ(held[i].len, 60 + 400 * i);
        CHECK(frame_ok(held[i].data, held[i].len, e.nic.info.mac, 200 + i));
    }
    CHECK_EQ(virtio_net_borrow(&e.nic, &f), VIRTIO_EMPTY);
    CHECK_EQ(virtio_net_give_back(&e.nic, &held[2]), VIRTIO_OK);
    CHECK_EQ(virtio_net_give_back(&e.nic, &held[0]), VIRTIO_OK);
    CHECK_EQ(virtio_net_give_back(&e.nic, &held[3]), VIRTIO_OK);
    CHECK_EQ(virtio_net_give_back(&e.nic, &held[1]), VIRTIO_OK);
    CHECK_EQ(virtio_net_give_back(&e.nic, &held[1]), VIRTIO_ERR_INVALID_ARG);   /* twice */

    /* The ring is full again: one more round trip both ways. */
    CHECK_EQ(e.nic.priv.rx_posted, e.nic.priv.nrx);
    make_frame(frame, 1514, e.nic.info.mac, 7);
    CHECK_EQ(model_net_inject(e.m, frame, 1514, 0), 0);
    CHECK_EQ(virtio_net_receive(&e.nic, rbuf, sizeof rbuf, &f), VIRTIO_OK);
    CHECK(frame_ok(rbuf, 1514, e.nic.info.mac, 7));
    CHECK_EQ(model_net_get_stats(e.m)->rx_frames, NSIZES + 5);
    CHECK_EQ(model_net_get_stats(e.m)->rx_dropped, 0);
    CHECK_EQ(e.nic.stats.rx_frames, NSIZES + 5);
    CHECK_EQ(e.nic.stats.tx_frames, NSIZES);
    CHECK_EQ(virtio_net_shutdown(&e.nic), VIRTIO_OK);
    CHECK_EQ(virtio_net_shutdown(&e.nic), VIRTIO_ERR_STATE);
    env_down(&e);
}

static const struct {
    uint32_t t;
    int legacy_probe;
    const char *name;
} transports[] = {
    { MODEL_MMIO, 0, "mmio" },
    { MODEL_MMIO_LEGACY, 0, "mmio-legacy" },
    { MODEL_PCI_MODERN, 0, "pci-modern" },
    { MODEL_PCI_TRANSITIONAL, 0, "pci-transitional" },
    { MODEL_PCI_TRANSITIONAL, 1, "pci-transitional-as-legacy" },
    { MODEL_PCI_LEGACY, 0, "pci-legacy" },
};
#define NTRANSPORTS (sizeof transports / sizeof transports[0])

static void matrix(void)
{
    unsigned t, ring, mrg;
    char label[128];
    for (t = 0; t < NTRANSPORTS; t++)
        for (ring = VIRTIO_RING_SPLIT; ring <= VIRTIO_RING_PACKED; ring++) {
            if (is_legacy_transport(transports[t].t, transports[t].legacy_probe) && ring == VIRTIO_RING_PACKED) continue;
            for (mrg = 0; mrg < 2; mrg++) {
                snprintf(label, sizeof label, "net %s %s %s", transports[t].name,
                         ring == VIRTIO_RING_PACKED ? "packed" : "split", mrg ? "mergeable" : "non-mergeable");
                RUN(basic(transports[t].t, transports[t].legacy_probe, ring, (int)mrg, 0), label);
            }
            snprintf(label, sizeof label, "net %s %s mergeable, no indirect, no event index", transports[t].name,
                     ring == VIRTIO_RING_PACKED ? "packed" : "split");
            RUN(basic(transports[t].t, transports[t].legacy_probe, ring, 1, 1), label);
            snprintf(label, sizeof label, "net %s %s non-mergeable, no indirect, no event index", transports[t].name,
                     ring == VIRTIO_RING_PACKED ? "packed" : "split");
            RUN(basic(transports[t].t, transports[t].legacy_probe, ring, 0, 1), label);
        }
}

/* More frames than receive buffers: the model delivers what fits and the
   rest as the driver reposts (each repost notifies the device). */
static void burst(uint32_t transport, uint32_t ring, int mrg, int borrow)
{
    netenv e;
    virtio_net_options o;
    virtio_net_frame f;
    uint32_t i, got = 0, total = 700;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    o.no_mrg_rxbuf = (uint32_t)!mrg;
    o.rx_buffers = 64;
    CHECK_EQ(env_up(&e, transport, 0, &o), VIRTIO_OK);
    for (i = 0; i < total; i++) {
        uint32_t len = 60 + (i * 37) % 1455;
        make_frame(frame, len, e.nic.info.mac, i);
        CHECK_EQ(model_net_inject(e.m, frame, len, 0), 0);
    }
    CHECK_EQ(model_net_rx_pending(e.m), total - 64);
    while (got < total) {
        virtio_result r;
        uint32_t len = 60 + (got * 37) % 1455;
        if (borrow) {
            r = virtio_net_borrow(&e.nic, &f);
            if (r != VIRTIO_OK) break;
            CHECK_EQ(f.len, len);
            CHECK(frame_ok(f.data, f.len, e.nic.info.mac, got));
            CHECK_EQ(virtio_net_give_back(&e.nic, &f), VIRTIO_OK);
        } else {
            r = virtio_net_receive(&e.nic, rbuf, sizeof rbuf, &f);
            if (r != VIRTIO_OK) break;
            CHECK_EQ(f.len, len);
            CHECK(frame_ok(rbuf, f.len, e.nic.info.mac, got));
        }
        got++;
    }
    CHECK_EQ(got, total);
    CHECK_EQ(model_net_rx_pending(e.m), 0);
    CHECK_EQ(model_net_get_stats(e.m)->rx_frames, total);
    CHECK_EQ(e.nic.priv.rx_posted, e.nic.priv.nrx);
    env_down(&e);
}

/* Mergeable buffers: the device spreads each frame over buffers of at
   most `chunk` bytes; receive reassembles, borrow refuses and recycles. */
static void mergeable_spread(uint32_t ring, uint32_t chunk)
{
    netenv e;
    virtio_net_options o;
    virtio_net_frame f;
    uint32_t i, len;
    uint64_t bufs;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    o.rx_buffers = 128;   /* a 1514-byte frame in 12-byte pieces needs 127 */
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, 0, &o), VIRTIO_OK);
    CHECK_EQ(e.nic.info.mrg_rxbuf, 1);
    model_net_get_knobs(e.m)->rx_chunk = chunk;
    /* 100 frames of growing size, most over several buffers, more buffers
       needed in total than the ring holds. */
    for (i = 0; i < 100; i++) {
        len = 60 + i * 14;
        make_frame(frame, len, e.nic.info.mac, i);
        CHECK_EQ(model_net_inject(e.m, frame, len, 0), 0);
    }
    for (i = 0; i < 100; i++) {
        len = 60 + i * 14;
        memset(&f, 0, sizeof f);
        CHECK_EQ(virtio_net_receive(&e.nic, rbuf, sizeof rbuf, &f), VIRTIO_OK);
        CHECK_EQ(f.len, len);
        CHECK(frame_ok(rbuf, len, e.nic.info.mac, i));
    }
    bufs = model_net_get_stats(e.m)->rx_buffers;
    CHECK(bufs > 100 * 2);   /* really spread */
    CHECK_EQ(model_net_rx_pending(e.m), 0);
    /* A spread frame cannot be borrowed: TOO_BIG, its buffers go back. */
    make_frame(frame, 1514, e.nic.info.mac, 1);
    CHECK_EQ(model_net_inject(e.m, frame, 1514, 0), 0);
    CHECK_EQ(virtio_net_borrow(&e.nic, &f), VIRTIO_ERR_TOO_BIG);
    CHECK_EQ(e.nic.priv.rx_posted, e.nic.priv.nrx);
    /* A frame that fits one buffer still can. */
    if (chunk >= 12 + 60) {
        make_frame(frame, 60, e.nic.info.mac, 2);
        CHECK_EQ(model_net_inject(e.m, frame, 60, 0), 0);
        CHECK_EQ(virtio_net_borrow(&e.nic, &f), VIRTIO_OK);
        CHECK(frame_ok(f.data, f.len, e.nic.info.mac, 2));
        CHECK_EQ(virtio_net_give_back(&e.nic, &f), VIRTIO_OK);
    }
    /* A receive buffer that is too small drops the frame, the next works. */
    make_frame(frame, 1514, e.nic.info.mac, 3);
    CHECK_EQ(model_net_inject(e.m, frame, 1514, 0), 0);
    make_frame(frame, 70, e.nic.info.mac, 4);
    CHECK_EQ(model_net_inject(e.m, frame, 70, 0), 0);
    CHECK_EQ(virtio_net_receive(&e.nic, rbuf, 1000, &f), VIRTIO_ERR_TOO_BIG);
    CHECK_EQ(virtio_net_receive(&e.nic, rbuf, 1000, &f), VIRTIO_OK);
    CHECK(frame_ok(rbuf, 70, e.nic.info.mac, 4));
    CHECK_EQ(e.nic.priv.rx_posted, e.nic.priv.nrx);
    env_down(&e);
}

/* Non-mergeable: the caller's buffer too small for a frame drops only
   that frame; the legacy header is 10 bytes on the wire. */
static void non_mergeable_edges(uint32_t transport)
{
    netenv e;
    virtio_net_options o;
    virtio_net_frame f;
    memset(&o, 0, sizeof o);
    o.no_mrg_rxbuf = 1;
    CHECK_EQ(env_up(&e, transport, 0, &o), VIRTIO_OK);
    make_frame(frame, 1514, e.nic.info.mac, 1);
    CHECK_EQ(model_net_inject(e.m, frame, 1514, 0), 0);
    make_frame(frame, 64, e.nic.info.mac, 2);
    CHECK_EQ(model_net_inject(e.m, frame, 64, 0), 0);
    CHECK_EQ(virtio_net_receive(&e.nic, rbuf, 1513, &f), VIRTIO_ERR_TOO_BIG);
    CHECK_EQ(virtio_net_receive(&e.nic, rbuf, 64, &f), VIRTIO_OK);
    CHECK(frame_ok(rbuf, 64, e.nic.info.mac, 2));
    CHECK_EQ(e.nic.stats.rx_errors, 1);
    /* Frames the link cannot carry never reach the driver. */
    CHECK_EQ(model_net_inject(e.m, frame, 13, 0), -1);
    CHECK_EQ(model_net_inject(e.m, frame, 1519, 0), -1);
    CHECK_EQ(model_net_get_stats(e.m)->rx_refused, 2);
    CHECK_EQ(model_net_get_stats(e.m)->rx_small_buffers, 0);
    if (e.dev.legacy) {
        CHECK_EQ(e.nic.info.hdr_len, 10);
        make_frame(frame, 60, e.nic.info.mac, 3);
        CHECK_EQ(virtio_net_send(&e.nic, frame, 60, 0), VIRTIO_OK);
        CHECK_EQ(model_net_tx_frame(e.m, 0)->hdr_len, 10);
        CHECK(sent_ok(e.m, 0, 60, e.nic.info.mac, 3));
    }
    env_down(&e);
}

/* Checksum offload on transmit: the header carries what the caller asked. */
static void tx_csum(uint32_t transport, uint32_t ring)
{
    netenv e;
    virtio_net_options o;
    const model_net_frame *t;
    static const uint8_t dst[6] = { 0x02, 1, 2, 3, 4, 5 };
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    CHECK_EQ(env_up(&e, transport, 0, &o), VIRTIO_OK);
    CHECK_EQ(e.nic.info.csum, 1);
    make_frame(frame, 342, dst, 9);
    /* IPv4 + UDP: checksum field 6 bytes into the UDP header at 34. */
    CHECK_EQ(virtio_net_send_csum(&e.nic, frame, 342, 34, 6, 0), VIRTIO_OK);
    /* IPv4 + TCP: 16 bytes into the TCP header. */
    CHECK_EQ(virtio_net_send_csum(&e.nic, frame, 342, 34, 16, 0), VIRTIO_OK);
    CHECK_EQ(virtio_net_send(&e.nic, frame, 342, 0), VIRTIO_OK);
    CHECK_EQ(model_net_tx_count(e.m), 3);
    if ((t = model_net_tx_frame(e.m, 0)) != NULL) {
        CHECK_EQ(t->flags, MODEL_NET_HDR_F_NEEDS_CSUM);
        CHECK_EQ(t->csum_start, 34);
        CHECK_EQ(t->csum_offset, 6);
        CHECK(sent_ok(e.m, 0, 342, dst, 9));
    }
    if ((t = model_net_tx_frame(e.m, 1)) != NULL) {
        CHECK_EQ(t->flags, MODEL_NET_HDR_F_NEEDS_CSUM);
        CHECK_EQ(t->csum_start, 34);
        CHECK_EQ(t->csum_offset, 16);
    }
    if ((t = model_net_tx_frame(e.m, 2)) != NULL) {
        CHECK_EQ(t->flags, 0);
        CHECK_EQ(t->csum_start, 0);
        CHECK_EQ(t->csum_offset, 0);
    }
    /* The field must lie inside the frame. */
    CHECK_EQ(virtio_net_send_csum(&e.nic, frame, 342, 34, 307, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_send_csum(&e.nic, frame, 342, 341, 0, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_send_csum(&e.nic, frame, 342, 0x10000, 0, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_send_csum(&e.nic, frame, 342, 34, 306, 0), VIRTIO_OK);   /* last two bytes */
    CHECK_EQ(model_net_tx_count(e.m), 4);
    env_down(&e);
    /* Without CSUM (driver declines it) the call is refused. */
    memset(&o, 0, sizeof o);
    o.no_csum = 1;
    CHECK_EQ(env_up(&e, transport, 0, &o), VIRTIO_OK);
    CHECK_EQ(e.nic.info.csum, 0);
    CHECK_EQ(virtio_net_send_csum(&e.nic, frame, 342, 34, 6, 0), VIRTIO_ERR_UNSUPPORTED);
    CHECK_EQ(virtio_net_send_csum(&e.nic, frame, 342, 341, 0, 0), VIRTIO_ERR_INVALID_ARG);   /* the caller's mistake first */
    CHECK_EQ(model_net_tx_count(e.m), 0);
    env_down(&e);
}

/* Folded one's-complement sum of f[start..len). */
static uint32_t ones_sum(const uint8_t *f, uint32_t len, uint32_t start)
{
    uint32_t s = 0, i;
    for (i = start; i + 1 < len; i += 2) s += (uint32_t)f[i] << 8 | f[i + 1];
    if (i < len) s += (uint32_t)f[i] << 8;
    while (s >> 16) s = (s & 0xffffu) + (s >> 16);
    return s;
}

/* GUEST_CSUM: DATA_VALID is reported; NEEDS_CSUM frames are completed by
   the driver at the place the device's header names. */
static void rx_csum(uint32_t transport, uint32_t ring, int mrg, int borrow)
{
    static const struct { uint16_t start, off; } cs[] = { { 34, 6 }, { 20, 4 }, { 50, 30 }, { 14, 10 }, { 40, 16 } };
    netenv e;
    virtio_net_options o;
    virtio_net_frame f;
    uint32_t i, k;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    o.no_mrg_rxbuf = (uint32_t)!mrg;
    o.rx_buffers = 2;   /* frames wait for buffers, so reposts trigger deliveries */
    CHECK_EQ(env_up(&e, transport, 0, &o), VIRTIO_OK);
    CHECK_EQ(e.nic.info.guest_csum, 1);
    make_frame(frame, 200, e.nic.info.mac, 1);
    CHECK_EQ(model_net_inject(e.m, frame, 200, MODEL_NET_HDR_F_DATA_VALID), 0);
    CHECK_EQ(model_net_inject(e.m, frame, 200, 0), 0);
    CHECK_EQ(virtio_net_receive(&e.nic, rbuf, sizeof rbuf, &f), VIRTIO_OK);
    CHECK_EQ(f.flags, VIRTIO_NET_FRAME_CSUM_VALID);
    CHECK_EQ(virtio_net_receive(&e.nic, rbuf, sizeof rbuf, &f), VIRTIO_OK);
    CHECK_EQ(f.flags, 0);
    /* Partial checksums, each frame with its own position. */
    for (i = 0; i < 5; i++) {
        make_frame(frame, 120 + i, e.nic.info.mac, 10 + i);
        CHECK_EQ(model_net_inject_ex(e.m, frame, 120 + i, MODEL_NET_HDR_F_NEEDS_CSUM, cs[i].start, cs[i].off), 0);
    }
    for (i = 0; i < 5; i++) {
        const uint8_t *d;
        uint32_t pos = cs[i].start + cs[i].off;
        if (borrow) {
            CHECK_EQ(virtio_net_borrow(&e.nic, &f), VIRTIO_OK);
        } else {
            CHECK_EQ(virtio_net_receive(&e.nic, rbuf, sizeof rbuf, &f), VIRTIO_OK);
        }
        d = f.data;
        CHECK_EQ(f.len, 120 + i);
        CHECK_EQ(f.flags, VIRTIO_NET_FRAME_CSUM_VALID);
        if (!d || f.len != 120 + i) continue;
        /* The field held the pseudo-header sum: data plus that sum folds
           to 0xffff once the checksum is in place. */
        make_frame(frame, 120 + i, e.nic.info.mac, 10 + i);
        k = ones_sum(d, f.len, cs[i].start) + ((uint32_t)frame[pos] << 8 | frame[pos + 1]);
        CHECK_EQ((k & 0xffffu) + (k >> 16), 0xffff);
        for (k = 0; k < f.len; k++)
            if (k != pos && k != pos + 1) CHECK_EQ(d[k], frame[k]);
        if (borrow) CHECK_EQ(virtio_net_give_back(&e.nic, &f), VIRTIO_OK);
    }
    env_down(&e);
    /* Without GUEST_CSUM the device sends no flags and none are reported. */
    memset(&o, 0, sizeof o);
    o.no_csum = 1;
    CHECK_EQ(env_up(&e, transport, 0, &o), VIRTIO_OK);
    CHECK_EQ(e.nic.info.guest_csum, 0);
    CHECK_EQ(model_net_inject(e.m, frame, 200, MODEL_NET_HDR_F_DATA_VALID), 0);
    CHECK_EQ(virtio_net_receive(&e.nic, rbuf, sizeof rbuf, &f), VIRTIO_OK);
    CHECK_EQ(f.flags, 0);
    env_down(&e);
}

/* Control queue commands reach the device state. */
static void control(uint32_t transport, uint32_t ring)
{
    netenv e;
    virtio_net_options o;
    model_net_state *s;
    uint8_t uc[3][6], mc[2][6], mac[6] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee }, big[65][6];
    uint32_t i;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    CHECK_EQ(env_up(&e, transport, 0, &o), VIRTIO_OK);
    s = model_net_get_state(e.m);
    CHECK_EQ(e.nic.info.ctrl_rx, 1);
    CHECK_EQ(e.nic.info.ctrl_mac, 1);
    CHECK_EQ(virtio_net_set_promisc(&e.nic, 1), VIRTIO_OK);
    CHECK_EQ(s->promisc, 1);
    CHECK_EQ(virtio_net_set_allmulti(&e.nic, 1), VIRTIO_OK);
    CHECK_EQ(s->allmulti, 1);
    CHECK_EQ(virtio_net_set_promisc(&e.nic, 0), VIRTIO_OK);
    CHECK_EQ(s->promisc, 0);
    CHECK_EQ(s->allmulti, 1);
    CHECK_EQ(virtio_net_set_allmulti(&e.nic, 0), VIRTIO_OK);
    CHECK_EQ(s->allmulti, 0);
    for (i = 0; i < 3; i++) {
        memset(uc[i], (int)(0x10 + i), 6);
        uc[i][0] = 0x02;   /* locally administered unicast */
    }
    for (i = 0; i < 2; i++) {
        memset(mc[i], (int)(0x20 + i), 6);
        mc[i][0] = 0x01;   /* multicast */
    }
    CHECK_EQ(virtio_net_set_mac_filter(&e.nic, uc[0], 3, mc[0], 2), VIRTIO_OK);
    CHECK_EQ(s->n_uc, 3);
    CHECK_EQ(s->n_mc, 2);
    CHECK(memcmp(s->uc, uc, sizeof uc) == 0);
    CHECK(memcmp(s->mc, mc, sizeof mc) == 0);
    CHECK_EQ(virtio_net_set_mac_filter(&e.nic, 0, 0, mc[0], 1), VIRTIO_OK);
    CHECK_EQ(s->n_uc, 0);
    CHECK_EQ(s->n_mc, 1);
    CHECK_EQ(virtio_net_set_mac_filter(&e.nic, 0, 0, 0, 0), VIRTIO_OK);
    CHECK_EQ(s->n_mc, 0);
    CHECK_EQ(s->table_sets, 3);
    memset(big, 1, sizeof big);   /* 01:01:...: group addresses */
    CHECK_EQ(virtio_net_set_mac_filter(&e.nic, 0, 0, big[0], 65), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_set_mac_filter(&e.nic, uc[0], 1, big[0], 64), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_set_mac_filter(&e.nic, 0, 1, 0, 0), VIRTIO_ERR_INVALID_ARG);
    /* A group address in the unicast table, an individual one in the
       multicast table (bit 0 of the first byte): refused, nothing sent. */
    CHECK_EQ(virtio_net_set_mac_filter(&e.nic, uc[0], 2, mc[0], 2), VIRTIO_OK);
    CHECK_EQ(virtio_net_set_mac_filter(&e.nic, mc[0], 1, 0, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_set_mac_filter(&e.nic, uc[0], 3, uc[1], 1), VIRTIO_ERR_INVALID_ARG);
    memcpy(big[0], mc[0], 6);
    memcpy(big[1], uc[0], 6);   /* the second of two "multicast" addresses is not */
    CHECK_EQ(virtio_net_set_mac_filter(&e.nic, uc[0], 2, big[0], 2), VIRTIO_ERR_INVALID_ARG);
    memset(big, 1, sizeof big);
    CHECK_EQ(s->table_sets, 4);
    CHECK_EQ(s->n_uc, 2);
    CHECK_EQ(s->n_mc, 2);
    CHECK_EQ(virtio_net_set_mac_filter(&e.nic, 0, 0, big[0], 64), VIRTIO_OK);
    CHECK_EQ(s->n_mc, 64);
    CHECK_EQ(virtio_net_set_mac(&e.nic, mac), VIRTIO_OK);
    CHECK(memcmp(s->mac, mac, 6) == 0);
    CHECK(memcmp(model_config(e.m), mac, 6) == 0);
    CHECK(memcmp(e.nic.info.mac, mac, 6) == 0);
    /* Announcement: asked through the status field, acknowledged. */
    model_net_request_announce(e.m);
    {
        uint32_t ev = 0;
        CHECK_EQ(virtio_net_refresh(&e.nic, &ev), VIRTIO_OK);
        CHECK_EQ(ev, VIRTIO_NET_CHANGED_ANNOUNCE);
        CHECK_EQ(virtio_net_announce_ack(&e.nic), VIRTIO_OK);
        CHECK_EQ(s->announce_acks, 1);
        CHECK_EQ(model_net_status(e.m) & MODEL_NET_S_ANNOUNCE, 0);
        CHECK_EQ(virtio_net_refresh(&e.nic, &ev), VIRTIO_OK);
        CHECK_EQ(ev, 0);
    }
    /* The device says ERR. */
    model_net_get_knobs(e.m)->ctrl_fail = 1;
    CHECK_EQ(virtio_net_set_promisc(&e.nic, 1), VIRTIO_ERR_IO);
    CHECK_EQ(e.nic.last_status, 1);
    model_net_get_knobs(e.m)->ctrl_fail = 7;   /* neither OK nor ERR */
    CHECK_EQ(virtio_net_set_promisc(&e.nic, 1), VIRTIO_ERR_DEVICE);
    CHECK_EQ(e.nic.last_status, 7);
    model_net_get_knobs(e.m)->ctrl_fail = 0;
    CHECK_EQ(virtio_net_set_promisc(&e.nic, 1), VIRTIO_OK);
    CHECK_EQ(e.nic.last_status, 0);
    CHECK_EQ(model_net_get_stats(e.m)->ctrl_unknown, 0);
    env_down(&e);
}

/* A MAC given in the options is programmed at init: through the control
   queue, or on a legacy device without CTRL_MAC_ADDR through the config. */
static void given_mac(uint32_t transport, uint64_t drop)
{
    netenv e;
    virtio_net_options o;
    model_net_options no;
    static const uint8_t mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
    memset(&o, 0, sizeof o);
    memcpy(o.mac, mac, 6);
    model_net_options_init(&no);
    no.features &= ~drop;
    if (env_up(&e, transport, &no, &o) == VIRTIO_OK) {
        CHECK(memcmp(e.nic.info.mac, mac, 6) == 0);
        CHECK(memcmp(model_net_get_state(e.m)->mac, mac, 6) == 0);
        CHECK_EQ(model_net_get_state(e.m)->mac_sets, 1);
        make_frame(frame, 60, mac, 1);
        CHECK_EQ(model_net_inject(e.m, frame, 60, 0), 0);
        CHECK_EQ(virtio_net_receive(&e.nic, rbuf, sizeof rbuf, 0), VIRTIO_ERR_INVALID_ARG);
    } else {
        /* A modern device without CTRL_MAC_ADDR cannot take an address. */
        CHECK(transport != MODEL_MMIO_LEGACY && transport != MODEL_PCI_LEGACY);
        CHECK_EQ(model_status(e.m) & MODEL_S_DRIVER_OK, 0);
    }
    env_down(&e);
}

/* Without a control queue every command is unsupported. */
static void no_control(void)
{
    netenv e;
    model_net_options no;
    uint8_t mac[6] = { 2, 0, 0, 0, 0, 9 };
    model_net_options_init(&no);
    no.features &= ~(MODEL_NET_F_CTRL_VQ | MODEL_NET_F_CTRL_RX | MODEL_NET_F_CTRL_MAC_ADDR | MODEL_NET_F_GUEST_ANNOUNCE);
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, &no, 0), VIRTIO_OK);
    CHECK(e.nic.ctrl.dev == 0);
    CHECK_EQ(virtio_net_set_promisc(&e.nic, 1), VIRTIO_ERR_UNSUPPORTED);
    CHECK_EQ(virtio_net_set_allmulti(&e.nic, 1), VIRTIO_ERR_UNSUPPORTED);
    CHECK_EQ(virtio_net_set_mac_filter(&e.nic, 0, 0, 0, 0), VIRTIO_ERR_UNSUPPORTED);
    /* A careless call is the caller's mistake on any device (QEMU with
       ctrl_vq=off answered UNSUPPORTED to a 65-address filter). */
    CHECK_EQ(virtio_net_set_mac_filter(&e.nic, 0, 65, 0, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_set_mac_filter(&e.nic, mac, 1, mac, 0xffffffffu), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_announce_ack(&e.nic), VIRTIO_ERR_UNSUPPORTED);
    CHECK_EQ(virtio_net_set_mac(&e.nic, mac), VIRTIO_ERR_UNSUPPORTED);
    env_down(&e);
}

/* A control queue of 1 or 2 entries cannot carry a command (three
   descriptors; an indirect table may not be longer than the ring, virtio
   1.2 2.7.5.3.1), with or without INDIRECT_DESC: init refuses the device.
   3 entries work either way, packed too. */
static void small_control(uint32_t ring)
{
    netenv e;
    model_net_options no;
    virtio_net_options o;
    uint32_t size, ind;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    for (ind = 0; ind < 2; ind++)
        for (size = 1; size <= 4; size++) {
            if (ring == VIRTIO_RING_SPLIT && size == 3) continue;   /* (split: a power of two) */
            model_net_options_init(&no);
            no.ctrl_queue_size = size;
            if (!ind) no.features &= ~MODEL_F_INDIRECT_DESC;
            if (size < 3) {
                CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, &no, &o), VIRTIO_ERR_DEVICE);
            } else {
                CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, &no, &o), VIRTIO_OK);
                CHECK_EQ(virtio_net_set_promisc(&e.nic, 1), VIRTIO_OK);
                CHECK_EQ(virtio_net_set_allmulti(&e.nic, 1), VIRTIO_OK);
            }
            env_down(&e);
        }
}

/* A network device without its transmit queue, or whose configuration
   window ends before the MTU: VIRTIO_ERR_DEVICE from init
   (virtio_device_fault), not NOT_FOUND ("not a network device") or RANGE;
   honest again, it works. */
static void init_device_faults(void)
{
    netenv e;
    model_options mo;
    model_net_options no;
    model_pci_layout l;
    memset(&e, 0, sizeof e);
    e.bus = model_bus_new();
    model_options_init(&mo, MODEL_PCI_MODERN);
    model_net_options_init(&no);
    e.m = model_net_new(e.bus, &mo, &no);
    model_set_queue_max(e.m, 1, 0);   /* no transmit queue */
    CHECK_EQ(model_probe(e.m, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_net_init(&e.nic, &e.dev, 0), VIRTIO_ERR_DEVICE);
    model_set_queue_max(e.m, 1, no.queue_size);
    CHECK_EQ(model_pci_layout_get(e.m, &l), 0);
    l.cap[MODEL_CAP_DEVICE].length = 8;   /* mac and status; the MTU is at 10 */
    CHECK_EQ(model_pci_layout_set(e.m, &l), 0);
    CHECK_EQ(model_probe(e.m, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_net_init(&e.nic, &e.dev, 0), VIRTIO_ERR_DEVICE);
    model_pci_layout_reset(e.m);
    CHECK_EQ(model_probe(e.m, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_net_init(&e.nic, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_net_send(&e.nic, frame, 60, 0), VIRTIO_OK);
    env_down(&e);
}

/* A device that offers CTRL_RX, CTRL_MAC_ADDR and GUEST_ANNOUNCE but no
   control queue breaks 5.1.3.1; the driver reads the offer first
   (virtio_device_offer) and does not accept them. */
static void inconsistent_offer(void)
{
    netenv e;
    model_net_options no;
    model_net_options_init(&no);
    no.features &= ~MODEL_NET_F_CTRL_VQ;
    memset(&e, 0, sizeof e);
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, &no, 0), VIRTIO_OK);
    CHECK_EQ(e.nic.info.ctrl_rx, 0);
    CHECK_EQ(e.nic.info.ctrl_mac, 0);
    CHECK_EQ(e.nic.info.announce, 0);
    CHECK_EQ(virtio_net_set_promisc(&e.nic, 1), VIRTIO_ERR_UNSUPPORTED);
    env_down(&e);
    /* A consistent offer without the control queue works. */
    no.features &= ~(MODEL_NET_F_CTRL_RX | MODEL_NET_F_CTRL_MAC_ADDR | MODEL_NET_F_GUEST_ANNOUNCE);
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, &no, 0), VIRTIO_OK);
    CHECK_EQ(e.nic.info.ctrl_rx, 0);
    env_down(&e);
}

/* A control command the device does not answer in time: TIMEOUT, and
   a late answer must not be taken for the next command's. */
static void control_timeout(uint32_t ring)
{
    netenv e;
    virtio_net_options o;
    model_net_state *s;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    CHECK_EQ(env_up_mode(&e, MODEL_PCI_MODERN, 0, 0, &o, MODEL_DEFERRED), VIRTIO_OK);
    s = model_net_get_state(e.m);
    CHECK_EQ(virtio_net_set_promisc(&e.nic, 1), VIRTIO_ERR_TIMEOUT);
    /* Still unanswered: the next command waits for it, and gives up too. */
    CHECK_EQ(virtio_net_set_allmulti(&e.nic, 1), VIRTIO_ERR_TIMEOUT);
    CHECK_EQ(model_queue_stats(e.m, 2)->max_pending, 1);
    e.m->knobs.run_on_idle = 1;   /* the device works again (and answers late) */
    model_net_get_knobs(e.m)->ctrl_fail = 1;
    model_run_queue(e.m, 2, 0);   /* the late answer: ERR */
    model_net_get_knobs(e.m)->ctrl_fail = 0;
    CHECK_EQ(virtio_net_set_allmulti(&e.nic, 1), VIRTIO_OK);
    CHECK_EQ(s->allmulti, 1);
    CHECK_EQ(virtio_net_set_promisc(&e.nic, 0), VIRTIO_OK);
    CHECK_EQ(s->promisc, 0);
    CHECK_EQ(virtio_net_set_promisc(&e.nic, 1), VIRTIO_OK);
    CHECK_EQ(s->promisc, 1);
    env_down(&e);
}

/* A device that reports a used length shorter than the header for one
   receive buffer: that buffer is dropped and reposted, nothing else. */
static uint32_t short_len_left;
static void short_rx_len(void *user, model *m, model_hostile *h)
{
    (void)user;
    (void)m;
    if ((h->kind == MODEL_H_USED_ELEM || h->kind == MODEL_H_PACKED_USED) && h->queue == 0 && short_len_left) {
        short_len_left--;
        h->len = 5;
    }
}

static void hostile_rx(uint32_t ring, int mrg)
{
    netenv e;
    virtio_net_options o;
    virtio_net_frame f;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    o.no_mrg_rxbuf = (uint32_t)!mrg;
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, 0, &o), VIRTIO_OK);
    e.m->knobs.hostile = short_rx_len;
    short_len_left = 2;
    make_frame(frame, 100, e.nic.info.mac, 1);
    CHECK_EQ(model_net_inject(e.m, frame, 100, 0), 0);
    CHECK_EQ(model_net_inject(e.m, frame, 100, 0), 0);
    make_frame(frame, 200, e.nic.info.mac, 2);
    CHECK_EQ(model_net_inject(e.m, frame, 200, 0), 0);
    CHECK_EQ(virtio_net_receive(&e.nic, rbuf, sizeof rbuf, &f), VIRTIO_ERR_DEVICE);
    CHECK_EQ(virtio_net_borrow(&e.nic, &f), VIRTIO_ERR_DEVICE);
    CHECK_EQ(virtio_net_receive(&e.nic, rbuf, sizeof rbuf, &f), VIRTIO_OK);
    CHECK_EQ(f.len, 200);
    CHECK(frame_ok(rbuf, 200, e.nic.info.mac, 2));
    CHECK_EQ(e.nic.stats.rx_errors, 2);
    CHECK_EQ(e.nic.priv.rx_posted, e.nic.priv.nrx);
    env_down(&e);
}

/* Link status changes arrive as config changes; send refuses while down. */
static void link_status(uint32_t transport)
{
    netenv e;
    uint32_t ev = 0;
    uint64_t irqs;
    CHECK_EQ(env_up(&e, transport, 0, 0), VIRTIO_OK);
    CHECK_EQ(e.nic.info.has_status, 1);
    CHECK_EQ(e.nic.info.link_up, 1);
    CHECK_EQ(virtio_net_refresh(&e.nic, &ev), VIRTIO_OK);
    CHECK_EQ(ev, 0);
    irqs = e.m->stats.config_irqs;
    model_net_set_link(e.m, 0);
    CHECK_EQ(e.m->stats.config_irqs, irqs + 1);
    CHECK_EQ(virtio_net_refresh(&e.nic, &ev), VIRTIO_OK);
    CHECK_EQ(ev, VIRTIO_NET_CHANGED_LINK);
    CHECK_EQ(e.nic.info.link_up, 0);
    make_frame(frame, 60, e.nic.info.mac, 0);
    CHECK_EQ(virtio_net_send(&e.nic, frame, 60, 0), VIRTIO_ERR_LINK_DOWN);
    CHECK_EQ(virtio_net_refresh(&e.nic, &ev), VIRTIO_OK);
    CHECK_EQ(ev, 0);   /* reported once */
    model_net_set_link(e.m, 1);
    CHECK_EQ(virtio_net_refresh(&e.nic, &ev), VIRTIO_OK);
    CHECK_EQ(ev, VIRTIO_NET_CHANGED_LINK);
    CHECK_EQ(e.nic.info.link_up, 1);
    CHECK_EQ(virtio_net_send(&e.nic, frame, 60, 0), VIRTIO_OK);
    CHECK_EQ(model_net_tx_count(e.m), 1);
    env_down(&e);
    /* A device that starts with the link down. */
    {
        model_net_options no;
        model_net_options_init(&no);
        no.link_up = 0;
        CHECK_EQ(env_up(&e, transport, &no, 0), VIRTIO_OK);
        CHECK_EQ(e.nic.info.link_up, 0);
        CHECK_EQ(virtio_net_send(&e.nic, frame, 60, 0), VIRTIO_ERR_LINK_DOWN);
        env_down(&e);
    }
    /* Without STATUS the link is always up. */
    {
        model_net_options no;
        model_net_options_init(&no);
        no.features &= ~MODEL_NET_F_STATUS;
        no.link_up = 0;
        CHECK_EQ(env_up(&e, transport, &no, 0), VIRTIO_OK);
        CHECK_EQ(e.nic.info.has_status, 0);
        CHECK_EQ(e.nic.info.link_up, 1);
        /* No status field, no announcements (QEMU status=off still offers
           GUEST_ANNOUNCE): not negotiated, not claimed. */
        CHECK_EQ(e.nic.info.announce, 0);
        CHECK_EQ(model_features(e.m) & MODEL_NET_F_GUEST_ANNOUNCE, 0);
        CHECK_EQ(virtio_net_announce_ack(&e.nic), VIRTIO_ERR_UNSUPPORTED);
        CHECK_EQ(virtio_net_send(&e.nic, frame, 60, 0), VIRTIO_OK);
        env_down(&e);
    }
}

/* The device holds every transmit buffer: send says NO_SPACE without
   blocking, and works again once the device has finished. */
static void tx_full(uint32_t transport, uint32_t ring, uint32_t qsize)
{
    netenv e;
    virtio_net_options o;
    model_net_options no;
    uint32_t i, sent = 0, n;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    model_net_options_init(&no);
    no.queue_size = qsize;
    CHECK_EQ(env_up_mode(&e, transport, 0, &no, &o, MODEL_DEFERRED), VIRTIO_OK);
    for (i = 0; i < 1000; i++) {
        virtio_result r;
        make_frame(frame, 60 + i, e.nic.info.mac, i);
        r = virtio_net_send(&e.nic, frame, 60 + i, 0);
        if (r != VIRTIO_OK) {
            CHECK_EQ(r, VIRTIO_ERR_NO_SPACE);
            break;
        }
        sent++;
    }
    CHECK_EQ(sent, e.nic.priv.ntx);
    CHECK(sent <= qsize);
    CHECK_EQ(e.nic.stats.tx_full, 1);
    CHECK_EQ(model_net_tx_count(e.m), 0);
    CHECK_EQ(virtio_net_reclaim(&e.nic, &n), VIRTIO_OK);
    CHECK_EQ(n, 0);
    model_run(e.m, 0);
    CHECK_EQ(model_net_tx_count(e.m), sent);
    make_frame(frame, 60 + sent, e.nic.info.mac, sent);
    CHECK_EQ(virtio_net_send(&e.nic, frame, 60 + sent, 0), VIRTIO_OK);   /* reclaims by itself */
    model_run(e.m, 0);
    CHECK_EQ(model_net_tx_count(e.m), sent + 1);
    for (i = 0; i <= sent; i++) CHECK(sent_ok(e.m, i, 60 + i, e.nic.info.mac, i));
    CHECK_EQ(virtio_net_reclaim(&e.nic, &n), VIRTIO_OK);
    CHECK_EQ(n, 1);
    CHECK_EQ(e.nic.priv.tx_nfree, e.nic.priv.ntx);
    env_down(&e);
}

/* MTU from the device: bigger buffers, bigger frames both ways. */
static void mtu(uint32_t mtu_value, int mrg)
{
    netenv e;
    virtio_net_options o;
    model_net_options no;
    virtio_net_frame f;
    uint32_t max = mtu_value + 18, i;
    memset(&o, 0, sizeof o);
    o.no_mrg_rxbuf = (uint32_t)!mrg;
    model_net_options_init(&no);
    no.mtu = (uint16_t)mtu_value;
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, &no, &o), VIRTIO_OK);
    CHECK_EQ(e.nic.info.mtu, mtu_value);
    for (i = 14; i < max; i++) frame[i] = (uint8_t)(i * 13);
    memcpy(frame, e.nic.info.mac, 6);
    /* Untagged: MTU + 14 bytes at most; with a VLAN tag MTU + 18. */
    frame[12] = 0x08, frame[13] = 0x00;   /* IPv4 */
    CHECK_EQ(virtio_net_send(&e.nic, frame, max - 3, 0), VIRTIO_ERR_TOO_BIG);
    frame[12] = 0x88, frame[13] = 0xa8;   /* 802.1ad */
    CHECK_EQ(virtio_net_send(&e.nic, frame, max + 1, 0), VIRTIO_ERR_TOO_BIG);
    frame[12] = 0x81, frame[13] = 0x00;   /* 802.1Q */
    CHECK_EQ(virtio_net_send(&e.nic, frame, max, 0), VIRTIO_OK);
    CHECK_EQ(virtio_net_send(&e.nic, frame, max + 1, 0), VIRTIO_ERR_TOO_BIG);
    CHECK_EQ(model_net_tx_count(e.m), 1);
    if (model_net_tx_count(e.m) == 1) CHECK(memcmp(model_net_tx_frame(e.m, 0)->data, frame, max) == 0);
    CHECK_EQ(model_net_inject(e.m, frame, max, 0), 0);
    CHECK_EQ(virtio_net_receive(&e.nic, rbuf, sizeof rbuf, &f), VIRTIO_OK);
    CHECK_EQ(f.len, max);
    CHECK(memcmp(rbuf, frame, max) == 0);
    CHECK_EQ(model_net_inject(e.m, frame, max + 1, 0), -1);
    env_down(&e);
}

/* >>net.issue11: a frame is checked whole before the caller's buffer
   changes. The device lies about num_buffers (0, absurd, more than it
   used) or spreads a frame wider than the caller's buffer: the call fails
   and buf and f keep every byte. */
static uint32_t lie_num_buffers, lie_left;
static void num_buffers_lie(void *user, model *m, model_hostile *h)
{
    uint8_t v[2];
    (void)user;
    (void)m;
    if (h->kind != MODEL_H_RESPONSE || h->queue != 0 || !lie_left) return;
    lie_left--;
    v[0] = (uint8_t)lie_num_buffers;
    v[1] = (uint8_t)(lie_num_buffers >> 8);
    model_chain_write(h->chain, 10, v, 2);
    h->value = 1;
}

static void rx_no_partial_copy(uint32_t ring, uint32_t num_buffers, int borrow)
{
    netenv e;
    virtio_net_options o;
    virtio_net_frame f, f0;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, 0, &o), VIRTIO_OK);
    CHECK_EQ(e.nic.info.mrg_rxbuf, 1);
    e.m->knobs.hostile = num_buffers_lie;
    lie_num_buffers = num_buffers;
    lie_left = 1;
    make_frame(frame, 300, e.nic.info.mac, 1);
    CHECK_EQ(model_net_inject(e.m, frame, 300, 0), 0);
    memset(rbuf, 0xaa, 4096);
    memset(&f, 0x55, sizeof f);
    f0 = f;
    if (borrow) CHECK_EQ(virtio_net_borrow(&e.nic, &f), VIRTIO_ERR_DEVICE);
    else CHECK_EQ(virtio_net_receive(&e.nic, rbuf, sizeof rbuf, &f), VIRTIO_ERR_DEVICE);
    CHECK(all_bytes(rbuf, 4096, 0xaa));
    CHECK(memcmp(&f, &f0, sizeof f) == 0);
    CHECK_EQ(e.nic.stats.rx_errors, 1);
    /* The liar's buffer went back; the next frame is whole. */
    CHECK_EQ(e.nic.priv.rx_posted, e.nic.priv.nrx);
    make_frame(frame, 200, e.nic.info.mac, 2);
    CHECK_EQ(model_net_inject(e.m, frame, 200, 0), 0);
    CHECK_EQ(virtio_net_receive(&e.nic, rbuf, sizeof rbuf, &f), VIRTIO_OK);
    CHECK_EQ(f.len, 200);
    CHECK(frame_ok(rbuf, 200, e.nic.info.mac, 2));
    /* A frame spread over mergeable buffers, larger than the caller's
       buffer: TOO_BIG before a byte is copied. */
    model_net_get_knobs(e.m)->rx_chunk = 100;
    make_frame(frame, 1000, e.nic.info.mac, 3);
    CHECK_EQ(model_net_inject(e.m, frame, 1000, 0), 0);
    memset(rbuf, 0xaa, 4096);
    CHECK_EQ(virtio_net_receive(&e.nic, rbuf, 999, &f), VIRTIO_ERR_TOO_BIG);
    CHECK(all_bytes(rbuf, 4096, 0xaa));
    CHECK_EQ(e.nic.priv.rx_posted, e.nic.priv.nrx);
    env_down(&e);
}

/* >>net.issue11 9b: a used length beyond the buffer is clamped by the
   core (rx.clamped); the driver must not deliver that frame, whose
   length is a lie, but drop it and go on. The lie hits the first buffer,
   or a later buffer of a frame spread over mergeable buffers. */
static uint32_t overstate_at, overstate_seen;
static void overstate_len(void *user, model *m, model_hostile *h)
{
    (void)user;
    (void)m;
    if ((h->kind != MODEL_H_USED_ELEM && h->kind != MODEL_H_PACKED_USED) || h->queue != 0) return;
    if (overstate_seen++ == overstate_at) h->len += 5000;
}

static void rx_overstated(uint32_t transport, uint32_t ring, int mrg, int borrow, uint32_t at)
{
    netenv e;
    virtio_net_options o;
    virtio_net_frame f;
    uint32_t clamped;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    o.no_mrg_rxbuf = (uint32_t)!mrg;
    CHECK_EQ(env_up(&e, transport, 0, &o), VIRTIO_OK);
    if (at) model_net_get_knobs(e.m)->rx_chunk = 400;   /* 1000 bytes over three buffers */
    e.m->knobs.hostile = overstate_len;
    overstate_at = at;
    overstate_seen = 0;
    clamped = e.nic.rx.clamped;
    make_frame(frame, 1000, e.nic.info.mac, 1);
    CHECK_EQ(model_net_inject(e.m, frame, 1000, 0), 0);
    make_frame(frame, 70, e.nic.info.mac, 2);
    CHECK_EQ(model_net_inject(e.m, frame, 70, 0), 0);
    memset(rbuf, 0xaa, 4096);
    if (borrow) CHECK_EQ(virtio_net_borrow(&e.nic, &f), VIRTIO_ERR_DEVICE);
    else CHECK_EQ(virtio_net_receive(&e.nic, rbuf, sizeof rbuf, &f), VIRTIO_ERR_DEVICE);
    CHECK(all_bytes(rbuf, 4096, 0xaa));
    CHECK_EQ(e.nic.rx.clamped, clamped + 1);
    CHECK_EQ(e.nic.stats.rx_errors, 1);
    CHECK_EQ(e.nic.stats.rx_frames, 0);
    CHECK_EQ(e.nic.priv.rx_posted, e.nic.priv.nrx);
    if (borrow) {
        CHECK_EQ(virtio_net_borrow(&e.nic, &f), VIRTIO_OK);
        CHECK(frame_ok(f.data, f.len, e.nic.info.mac, 2) && f.len == 70);
        CHECK_EQ(virtio_net_give_back(&e.nic, &f), VIRTIO_OK);
    } else {
        CHECK_EQ(virtio_net_receive(&e.nic, rbuf, sizeof rbuf, &f), VIRTIO_OK);
        CHECK(frame_ok(rbuf, 70, e.nic.info.mac, 2) && f.len == 70);
    }
    env_down(&e);
}

/* >>net.issue11 item 7: counts that wrap, plain pointers. */
static void filter_overflow(void)
{
    netenv e;
    model_net_state *s;
    uint8_t uc[2][6], mc[2][6];   /* not const: must pass without a cast */
    memset(uc, 0x02, sizeof uc);
    memset(mc, 0x01, sizeof mc);
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, 0, 0), VIRTIO_OK);
    s = model_net_get_state(e.m);
    CHECK_EQ(virtio_net_set_mac_filter(&e.nic, uc[0], 1, mc[0], 0xffffffffu), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_set_mac_filter(&e.nic, uc[0], 0xffffffffu, mc[0], 1), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_set_mac_filter(&e.nic, uc[0], 64, mc[0], 0xffffffc1u), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_set_mac_filter(&e.nic, uc[0], 0, 0, 65), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(s->table_sets, 0);
    CHECK_EQ(virtio_net_set_mac_filter(&e.nic, uc[0], 2, mc[0], 2), VIRTIO_OK);
    CHECK(s->n_uc == 2 && s->n_mc == 2 && memcmp(s->uc, uc, sizeof uc) == 0 && memcmp(s->mc, mc, sizeof mc) == 0);
    env_down(&e);
}

/* >>net.issue11 item 7: init on a running NIC changes nothing. */
static void init_twice(uint32_t transport)
{
    netenv e;
    uint64_t allocs, maps;
    CHECK_EQ(env_up(&e, transport, 0, 0), VIRTIO_OK);
    allocs = e.bus->stats.live_allocs;
    maps = e.bus->stats.live_maps;
    CHECK_EQ(virtio_net_init(&e.nic, &e.dev, 0), VIRTIO_ERR_STATE);
    CHECK_EQ(e.bus->stats.live_allocs, allocs);
    CHECK_EQ(e.bus->stats.live_maps, maps);
    CHECK(model_status(e.m) & MODEL_S_DRIVER_OK);
    make_frame(frame, 60, e.nic.info.mac, 1);
    CHECK_EQ(virtio_net_send(&e.nic, frame, 60, 0), VIRTIO_OK);
    CHECK(sent_ok(e.m, 0, 60, e.nic.info.mac, 1));
    CHECK_EQ(model_net_inject(e.m, frame, 60, 0), 0);
    CHECK_EQ(virtio_net_receive(&e.nic, rbuf, sizeof rbuf, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_shutdown(&e.nic), VIRTIO_OK);
    CHECK_EQ(virtio_net_init(&e.nic, &e.dev, 0), VIRTIO_OK);   /* after shutdown: fine */
    env_down(&e);
}

/* >>net.issue11 item 5: a reset that never completes. Shutdown reports
   it and hands back nothing the device could still write (the model
   calls freeing a live ring a driver bug); the object is shut down, and
   once the device recovers init works again. */
static void reset_hangs(uint32_t transport, uint32_t ring)
{
    netenv e;
    virtio_net_options o;
    virtio_net_frame f;
    uint64_t before, frees;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    CHECK_EQ(env_up(&e, transport, 0, &o), VIRTIO_OK);
    before = e.bus->stats.allocs;
    frees = e.bus->stats.frees;
    e.m->knobs.reset_delay = MODEL_FOREVER;
    CHECK_EQ(virtio_net_shutdown(&e.nic), VIRTIO_ERR_TIMEOUT);
    CHECK_EQ(e.bus->stats.bugs, 0);
    CHECK_EQ(e.bus->stats.frees, frees + 1);   /* the bookkeeping only: it is private */
    CHECK_EQ(virtio_net_shutdown(&e.nic), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_net_send(&e.nic, frame, 60, 0), VIRTIO_ERR_STATE);
    e.m->knobs.reset_delay = 0;
    CHECK_EQ(virtio_net_init(&e.nic, &e.dev, &o), VIRTIO_OK);
    make_frame(frame, 80, e.nic.info.mac, 5);
    CHECK_EQ(model_net_inject(e.m, frame, 80, 0), 0);
    CHECK_EQ(virtio_net_receive(&e.nic, rbuf, sizeof rbuf, &f), VIRTIO_OK);
    CHECK(frame_ok(rbuf, 80, e.nic.info.mac, 5));
    CHECK(e.bus->stats.allocs > before);
    CHECK_EQ(virtio_net_shutdown(&e.nic), VIRTIO_OK);
    CHECK_EQ(e.bus->stats.bugs, 0);
    model_bus_free(e.bus);
}

/* A platform allocator that records what the driver asks for and can
   fail the N-th request, making the device's reset hang at that moment. */
static struct {
    void *(*alloc)(void *, size_t, size_t, int, uint64_t *);
    size_t largest[2], total[2];
    uint32_t count, fail_at;
    model *hang;
} mem;

static void *mem_alloc(void *user, size_t size, size_t align, int kind, uint64_t *dev)
{
    void *p;
    if (++mem.count == mem.fail_at) {
        if (mem.hang) mem.hang->knobs.reset_delay = MODEL_FOREVER;
        return NULL;
    }
    p = mem.alloc(user, size, align, kind, dev);
    if (p && kind >= 0 && kind < 2) {
        if (size > mem.largest[kind]) mem.largest[kind] = size;
        mem.total[kind] += size;
    }
    return p;
}

static void mem_watch(model_bus *bus)
{
    memset(&mem, 0, sizeof mem);
    mem.alloc = bus->platform.dma_alloc;
    bus->platform.dma_alloc = mem_alloc;
}

/* >>net.issue11 item 5 at init: an allocation fails and the reset of the
   failure path never completes: nothing the device was given goes back. */
static void init_fail_reset_hangs(void)
{
    uint32_t k, worked = 0;
    for (k = 1; k < 40 && !worked; k++) {
        netenv e;
        model_options mo;
        model_net_options no;
        virtio_result r;
        memset(&e, 0, sizeof e);
        e.bus = model_bus_new();
        e.bus->knobs.quiet = 1;
        model_options_init(&mo, MODEL_PCI_MODERN);
        model_net_options_init(&no);
        e.m = model_net_new(e.bus, &mo, &no);
        CHECK_EQ(model_probe(e.m, &e.dev, 0), VIRTIO_OK);
        mem_watch(e.bus);
        mem.fail_at = k;
        mem.hang = e.m;
        r = virtio_net_init(&e.nic, &e.dev, 0);
        if (r == VIRTIO_OK) worked = 1;
        else CHECK_EQ(r, VIRTIO_ERR_NO_MEMORY);
        CHECK_EQ(e.bus->stats.bugs, 0);
        if (e.bus->stats.bugs) fprintf(stderr, "  model (allocation %u): %s\n", k, model_bus_last_bug(e.bus));
        model_bus_free(e.bus);
    }
    CHECK(worked && k > 10);
}

/* >>net.issue14: VIRTIO_MORE posts without notifying; virtio_net_kick
   (or a send without it) notifies once for the batch. A sender that only
   ever says MORE is never stuck: a full ring notifies before it reports
   NO_SPACE, and reclaim notifies too. */
static void tx_batching(uint32_t transport, uint32_t ring)
{
    netenv e;
    virtio_net_options o;
    model_qstats *qs;
    uint32_t i, n, ntx;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    CHECK_EQ(env_up_mode(&e, transport, 0, 0, &o, MODEL_DEFERRED), VIRTIO_OK);
    qs = model_queue_stats(e.m, 1);
    ntx = e.nic.priv.ntx;
    for (i = 0; i < 5; i++) {
        make_frame(frame, 60 + i, e.nic.info.mac, i);
        CHECK_EQ(virtio_net_send(&e.nic, frame, 60 + i, VIRTIO_MORE), VIRTIO_OK);
    }
    CHECK_EQ(qs->notifies, 0);
    CHECK_EQ(virtio_net_kick(&e.nic), VIRTIO_OK);
    CHECK_EQ(qs->notifies, 1);
    CHECK_EQ(virtio_net_kick(&e.nic), VIRTIO_OK);   /* nothing new: no notification */
    CHECK_EQ(qs->notifies, 1);
    model_run(e.m, 0);
    CHECK_EQ(model_net_tx_count(e.m), 5);
    for (i = 0; i < 5; i++) CHECK(sent_ok(e.m, i, 60 + i, e.nic.info.mac, i));
    CHECK_EQ(virtio_net_reclaim(&e.nic, &n), VIRTIO_OK);
    CHECK_EQ(n, 5);
    CHECK_EQ(qs->notifies, 1);
    /* Fill the ring with MORE only: the send that finds it full notifies. */
    for (i = 5; i < 5 + ntx; i++) {
        make_frame(frame, 60 + i, e.nic.info.mac, i);
        CHECK_EQ(virtio_net_send(&e.nic, frame, 60 + i, VIRTIO_MORE), VIRTIO_OK);
    }
    CHECK_EQ(qs->notifies, 1);
    CHECK_EQ(virtio_net_send(&e.nic, frame, 60, VIRTIO_MORE), VIRTIO_ERR_NO_SPACE);
    CHECK_EQ(qs->notifies, 2);
    model_run(e.m, 0);
    CHECK_EQ(model_net_tx_count(e.m), 5 + ntx);
    /* Frames posted with MORE, then only reclaim: it notifies. */
    CHECK_EQ(virtio_net_reclaim(&e.nic, &n), VIRTIO_OK);
    CHECK_EQ(n, ntx);
    make_frame(frame, 99, e.nic.info.mac, 99);
    CHECK_EQ(virtio_net_send(&e.nic, frame, 99, VIRTIO_MORE), VIRTIO_OK);
    CHECK_EQ(virtio_net_reclaim(&e.nic, &n), VIRTIO_OK);
    CHECK_EQ(qs->notifies, 3);
    model_run(e.m, 0);
    CHECK(sent_ok(e.m, 5 + ntx, 99, e.nic.info.mac, 99));
    CHECK_EQ(virtio_net_send(&e.nic, frame, 99, 2), VIRTIO_ERR_INVALID_ARG);   /* unknown flag */
    CHECK_EQ(virtio_net_send_csum(&e.nic, frame, 99, 34, 6, 0x80), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_kick(0), VIRTIO_ERR_STATE);
    env_down(&e);
    /* An immediate device and a caller that only ever says MORE: every
       send succeeds, because a full ring is notified and reclaimed. */
    CHECK_EQ(env_up(&e, transport, 0, &o), VIRTIO_OK);
    for (i = 0; i < 3 * e.nic.priv.ntx; i++) {
        make_frame(frame, 60 + i, e.nic.info.mac, i);
        CHECK_EQ(virtio_net_send(&e.nic, frame, 60 + i, VIRTIO_MORE), VIRTIO_OK);
    }
    CHECK_EQ(virtio_net_kick(&e.nic), VIRTIO_OK);
    CHECK_EQ(model_net_tx_count(e.m), 3 * e.nic.priv.ntx);
    for (i = 0; i < 3 * e.nic.priv.ntx; i++) CHECK(sent_ok(e.m, i, 60 + i, e.nic.info.mac, i));
    env_down(&e);
}

/* >>net.issue14: refresh reports what changed; NULL is fine; a failed
   read keeps info as it was. */
static void refresh(void)
{
    netenv e;
    uint32_t ch = 99;
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, 0, 0), VIRTIO_OK);
    CHECK_EQ(virtio_net_refresh(&e.nic, &ch), VIRTIO_OK);
    CHECK_EQ(ch, 0);
    model_net_set_link(e.m, 0);
    CHECK_EQ(virtio_net_refresh(&e.nic, 0), VIRTIO_OK);   /* not stored, still applied */
    CHECK_EQ(e.nic.info.link_up, 0);
    model_net_set_link(e.m, 1);
    model_net_request_announce(e.m);
    e.m->knobs.gen_bump_every = 1;   /* the configuration never settles */
    ch = 99;
    CHECK_EQ(virtio_net_refresh(&e.nic, &ch), VIRTIO_ERR_DEVICE);
    CHECK_EQ(ch, 99);
    CHECK_EQ(e.nic.info.link_up, 0);
    e.m->knobs.gen_bump_every = 0;
    CHECK_EQ(virtio_net_refresh(&e.nic, &ch), VIRTIO_OK);
    CHECK_EQ(ch, VIRTIO_NET_CHANGED_LINK | VIRTIO_NET_CHANGED_ANNOUNCE);
    CHECK_EQ(e.nic.info.link_up, 1);
    env_down(&e);
}

/* >>net.issue13 item 5: default options on a modern transport allocate
   nothing above a page; the figures go into the label. */
static void memory(uint32_t transport, uint32_t ring, char *label, size_t cap)
{
    netenv e;
    model_options mo;
    model_net_options no;
    virtio_net_options o;
    memset(&e, 0, sizeof e);
    e.bus = model_bus_new();
    model_options_init(&mo, transport);
    model_net_options_init(&no);
    e.m = model_net_new(e.bus, &mo, &no);
    CHECK_EQ(model_probe(e.m, &e.dev, 0), VIRTIO_OK);
    mem_watch(e.bus);
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    CHECK_EQ(virtio_net_init(&e.nic, &e.dev, &o), VIRTIO_OK);
    CHECK(mem.largest[VIRTIO_MEM_DMA] <= 4096);
    CHECK(mem.largest[VIRTIO_MEM_PRIVATE] <= 4096);
    CHECK_EQ(e.nic.priv.nrx, 32);
    CHECK_EQ(e.nic.priv.ntx, 16);
    if (ring == VIRTIO_RING_SPLIT && sizeof(void *) == 8) {   /* MEMORY's figures */
        CHECK_EQ(mem.total[VIRTIO_MEM_DMA], 75826);
        CHECK_EQ(mem.total[VIRTIO_MEM_PRIVATE], 1872);
        CHECK_EQ(mem.count, 34);
    }
    snprintf(label, cap, "net memory, defaults, %s %s: largest %zu B, %zu B DMA + %zu B private in %u allocations",
             transport == MODEL_MMIO ? "mmio" : "pci-modern", ring == VIRTIO_RING_PACKED ? "packed" : "split",
             mem.largest[0] > mem.largest[1] ? mem.largest[0] : mem.largest[1], mem.total[0], mem.total[1],
             mem.count);
    env_down(&e);
}

/* Every argument check, before and after init and after shutdown. */
static void bad_input(void)
{
    netenv e;
    virtio_net bad;
    virtio_net_options o;
    virtio_net_frame f;
    uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
    uint32_t ev, n;
    memset(&bad, 0, sizeof bad);
    memset(&f, 0, sizeof f);
    CHECK_EQ(virtio_net_send(&bad, frame, 60, 0), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_net_send(0, frame, 60, 0), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_net_receive(&bad, rbuf, 100, &f), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_net_borrow(&bad, &f), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_net_give_back(&bad, &f), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_net_reclaim(&bad, &n), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_net_refresh(&bad, &ev), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_net_set_promisc(&bad, 1), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_net_set_mac(&bad, mac), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_net_announce_ack(&bad), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_net_shutdown(&bad), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_net_init(0, 0, 0), VIRTIO_ERR_INVALID_ARG);

    memset(&o, 0, sizeof o);
    o.rx_buffers = 4097;
    CHECK_EQ(env_up(&e, MODEL_PCI_MODERN, 0, &o), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_init(&e.nic, &e.dev, 0), VIRTIO_OK);
    CHECK_EQ(virtio_net_send(&e.nic, 0, 60, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_send(&e.nic, frame, 13, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_send(&e.nic, frame, 0, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_send(&e.nic, frame, 1519, 0), VIRTIO_ERR_TOO_BIG);
    CHECK_EQ(virtio_net_send(&e.nic, frame, (size_t)-1 / 2, 0), VIRTIO_ERR_TOO_BIG);
    CHECK_EQ(virtio_net_send_csum(&e.nic, 0, 60, 0, 0, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_receive(&e.nic, 0, 100, &f), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_receive(&e.nic, rbuf, 100, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_receive(&e.nic, rbuf, 100, &f), VIRTIO_EMPTY);
    CHECK_EQ(virtio_net_borrow(&e.nic, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_borrow(&e.nic, &f), VIRTIO_EMPTY);
    CHECK_EQ(virtio_net_give_back(&e.nic, 0), VIRTIO_ERR_INVALID_ARG);
    f.handle = 0;
    CHECK_EQ(virtio_net_give_back(&e.nic, &f), VIRTIO_ERR_INVALID_ARG);
    f.handle = 1;   /* a buffer that is in the ring, not borrowed */
    CHECK_EQ(virtio_net_give_back(&e.nic, &f), VIRTIO_ERR_INVALID_ARG);
    f.handle = 100000;
    CHECK_EQ(virtio_net_give_back(&e.nic, &f), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_refresh(&e.nic, 0), VIRTIO_OK);   /* NULL: not stored */
    CHECK_EQ(virtio_net_set_mac(&e.nic, 0), VIRTIO_ERR_INVALID_ARG);
    CHECK_EQ(virtio_net_reclaim(&e.nic, 0), VIRTIO_OK);
    CHECK_EQ(e.nic.priv.rx_posted, e.nic.priv.nrx);
    CHECK_EQ(model_net_tx_count(e.m), 0);
    CHECK_EQ(virtio_net_shutdown(&e.nic), VIRTIO_OK);
    CHECK_EQ(virtio_net_send(&e.nic, frame, 60, 0), VIRTIO_ERR_STATE);
    CHECK_EQ(virtio_net_receive(&e.nic, rbuf, 100, &f), VIRTIO_ERR_STATE);
    env_down(&e);

    /* Not a network device. */
    {
        memset(&e, 0, sizeof e);
        e.bus = model_bus_new();
        e.m = model_blk_default(e.bus, MODEL_MMIO);
        CHECK_EQ(model_probe(e.m, &e.dev, 0), VIRTIO_OK);
        CHECK_EQ(virtio_net_init(&e.nic, &e.dev, 0), VIRTIO_ERR_NOT_FOUND);
        env_down(&e);
    }
    /* Out of DMA memory at every allocation of init: clean failure. */
    {
        uint32_t k;
        for (k = 1; k < 12; k++) {
            virtio_result r;
            model_options mo;
            model_net_options no;
            memset(&e, 0, sizeof e);
            e.bus = model_bus_new();
            model_options_init(&mo, MODEL_PCI_MODERN);
            model_net_options_init(&no);
            e.m = model_net_new(e.bus, &mo, &no);
            CHECK_EQ(model_probe(e.m, &e.dev, 0), VIRTIO_OK);
            e.bus->knobs.alloc_fail_after = k;
            r = virtio_net_init(&e.nic, &e.dev, 0);
            CHECK(r == VIRTIO_OK || r == VIRTIO_ERR_NO_MEMORY);
            if (r != VIRTIO_OK) CHECK_EQ(e.bus->stats.live_allocs, 0);
            e.bus->knobs.alloc_fail_after = 0;
            env_down(&e);
        }
    }
}

int main(void)
{
    unsigned t;
    char label[128];
    matrix();
    RUN(burst(MODEL_PCI_MODERN, VIRTIO_RING_SPLIT, 1, 0), "net burst of 700 over 64 rx buffers, split mergeable receive");
    RUN(burst(MODEL_PCI_MODERN, VIRTIO_RING_PACKED, 1, 0), "net burst of 700 over 64 rx buffers, packed mergeable receive");
    RUN(burst(MODEL_PCI_MODERN, VIRTIO_RING_SPLIT, 0, 1), "net burst of 700 over 64 rx buffers, split non-mergeable borrow");
    RUN(burst(MODEL_PCI_MODERN, VIRTIO_RING_PACKED, 0, 1), "net burst of 700 over 64 rx buffers, packed non-mergeable borrow");
    RUN(burst(MODEL_MMIO_LEGACY, VIRTIO_RING_SPLIT, 0, 0), "net burst of 700 over 64 rx buffers, mmio-legacy 10-byte header");
    RUN(burst(MODEL_PCI_LEGACY, VIRTIO_RING_SPLIT, 1, 1), "net burst of 700 over 64 rx buffers, pci-legacy mergeable borrow");
    RUN(mergeable_spread(VIRTIO_RING_SPLIT, 256), "net mergeable frames over 256-byte buffers, split");
    RUN(mergeable_spread(VIRTIO_RING_PACKED, 256), "net mergeable frames over 256-byte buffers, packed");
    RUN(mergeable_spread(VIRTIO_RING_SPLIT, 12), "net mergeable frames over 12-byte buffers, split");
    RUN(mergeable_spread(VIRTIO_RING_PACKED, 100), "net mergeable frames over 100-byte buffers, packed");
    for (t = 0; t < NTRANSPORTS; t++) {
        if (transports[t].legacy_probe) continue;
        snprintf(label, sizeof label, "net %s non-mergeable: small caller buffer, refused frames", transports[t].name);
        RUN(non_mergeable_edges(transports[t].t), label);
        snprintf(label, sizeof label, "net %s checksum offload on transmit", transports[t].name);
        RUN(tx_csum(transports[t].t, VIRTIO_RING_SPLIT), label);
        snprintf(label, sizeof label, "net %s control queue commands", transports[t].name);
        RUN(control(transports[t].t, VIRTIO_RING_SPLIT), label);
        snprintf(label, sizeof label, "net %s link down and up", transports[t].name);
        RUN(link_status(transports[t].t), label);
        snprintf(label, sizeof label, "net %s transmit ring full, split", transports[t].name);
        RUN(tx_full(transports[t].t, VIRTIO_RING_SPLIT, 256), label);
        snprintf(label, sizeof label, "net %s transmit ring full with 16 slots", transports[t].name);
        RUN(tx_full(transports[t].t, VIRTIO_RING_SPLIT, 16), label);
    }
    RUN(tx_csum(MODEL_PCI_MODERN, VIRTIO_RING_PACKED), "net pci-modern checksum offload on transmit, packed");
    RUN(control(MODEL_MMIO, VIRTIO_RING_PACKED), "net mmio control queue commands, packed");
    RUN(tx_full(MODEL_PCI_MODERN, VIRTIO_RING_PACKED, 256), "net pci-modern transmit ring full, packed");
    RUN(tx_full(MODEL_MMIO, VIRTIO_RING_PACKED, 16), "net mmio transmit ring full with 16 slots, packed");
    RUN(rx_csum(MODEL_PCI_MODERN, VIRTIO_RING_SPLIT, 1, 0), "net GUEST_CSUM receive, split mergeable");
    RUN(rx_csum(MODEL_PCI_MODERN, VIRTIO_RING_PACKED, 1, 0), "net GUEST_CSUM receive, packed mergeable");
    RUN(rx_csum(MODEL_PCI_MODERN, VIRTIO_RING_SPLIT, 0, 0), "net GUEST_CSUM receive, split non-mergeable");
    RUN(rx_csum(MODEL_PCI_MODERN, VIRTIO_RING_PACKED, 0, 1), "net GUEST_CSUM receive, packed non-mergeable borrow");
    RUN(rx_csum(MODEL_PCI_LEGACY, VIRTIO_RING_SPLIT, 0, 0), "net GUEST_CSUM receive, pci-legacy 10-byte header");
    RUN(given_mac(MODEL_PCI_MODERN, 0), "net options.mac programmed through the control queue");
    RUN(given_mac(MODEL_PCI_LEGACY, MODEL_NET_F_CTRL_MAC_ADDR), "net options.mac through the legacy config field");
    RUN(given_mac(MODEL_MMIO_LEGACY, MODEL_NET_F_CTRL_MAC_ADDR), "net options.mac through the mmio-legacy config field");
    RUN(given_mac(MODEL_PCI_MODERN, MODEL_NET_F_CTRL_MAC_ADDR), "net options.mac on a modern device without CTRL_MAC_ADDR");
    RUN(control_timeout(VIRTIO_RING_SPLIT), "net control command timeout, late answer, split");
    RUN(control_timeout(VIRTIO_RING_PACKED), "net control command timeout, late answer, packed");
    RUN(hostile_rx(VIRTIO_RING_SPLIT, 1), "net device reports a used length below the header, split mergeable");
    RUN(hostile_rx(VIRTIO_RING_PACKED, 0), "net device reports a used length below the header, packed non-mergeable");
    RUN(no_control(), "net without a control queue");
    RUN(init_device_faults(), "net without its transmit queue or its MTU field: init DEVICE, then honest works");
    RUN(small_control(VIRTIO_RING_SPLIT), "net control queue of 1 or 2 entries refused (with or without INDIRECT), 4 works, split");
    RUN(small_control(VIRTIO_RING_PACKED), "net control queue of 1 or 2 entries refused (with or without INDIRECT), 3 works, packed");
    RUN(inconsistent_offer(), "net CTRL_RX offered without CTRL_VQ is not accepted");
    RUN(mtu(9000, 1), "net MTU 9000, mergeable");
    RUN(mtu(9000, 0), "net MTU 9000, non-mergeable");
    RUN(mtu(576, 0), "net MTU 576, non-mergeable");
    RUN(rx_no_partial_copy(VIRTIO_RING_SPLIT, 0, 0), "net num_buffers 0: receive fails, caller buffer untouched, split");
    RUN(rx_no_partial_copy(VIRTIO_RING_PACKED, 65535, 0), "net num_buffers 65535: receive fails, caller buffer untouched, packed");
    RUN(rx_no_partial_copy(VIRTIO_RING_SPLIT, 3, 0), "net num_buffers beyond the buffers used: receive fails untouched, split");
    RUN(rx_no_partial_copy(VIRTIO_RING_PACKED, 0, 1), "net num_buffers 0: borrow fails, packed");
    RUN(rx_overstated(MODEL_PCI_MODERN, VIRTIO_RING_SPLIT, 1, 0, 0), "net overstated used length: frame dropped, split mergeable");
    RUN(rx_overstated(MODEL_PCI_MODERN, VIRTIO_RING_PACKED, 1, 1, 0), "net overstated used length: borrow drops, packed mergeable");
    RUN(rx_overstated(MODEL_MMIO, VIRTIO_RING_SPLIT, 1, 0, 1), "net overstated length of a frame's second buffer: dropped, split");
    RUN(rx_overstated(MODEL_PCI_MODERN, VIRTIO_RING_PACKED, 1, 0, 2), "net overstated length of a frame's last buffer: dropped, packed");
    RUN(rx_overstated(MODEL_PCI_LEGACY, VIRTIO_RING_SPLIT, 0, 0, 0), "net overstated used length: dropped, pci-legacy 10-byte header");
    RUN(rx_overstated(MODEL_MMIO_LEGACY, VIRTIO_RING_SPLIT, 0, 1, 0), "net overstated used length: borrow drops, mmio-legacy");
    RUN(filter_overflow(), "net MAC filter counts that wrap are refused; plain pointers");
    RUN(init_twice(MODEL_PCI_MODERN), "net init on a running NIC: STATE, nothing leaked or changed, pci-modern");
    RUN(init_twice(MODEL_MMIO_LEGACY), "net init on a running NIC: STATE, nothing leaked or changed, mmio-legacy");
    RUN(reset_hangs(MODEL_PCI_MODERN, VIRTIO_RING_SPLIT), "net shutdown whose reset never completes: TIMEOUT, device memory kept, split");
    RUN(reset_hangs(MODEL_MMIO, VIRTIO_RING_PACKED), "net shutdown whose reset never completes: TIMEOUT, device memory kept, packed");
    RUN(reset_hangs(MODEL_PCI_LEGACY, VIRTIO_RING_SPLIT), "net shutdown whose reset never completes: TIMEOUT, pci-legacy");
    RUN(init_fail_reset_hangs(), "net init failing at every allocation with a reset that never completes: nothing handed back");
    RUN(tx_batching(MODEL_PCI_MODERN, VIRTIO_RING_SPLIT), "net VIRTIO_MORE batches, kick, a full ring is notified, split");
    RUN(tx_batching(MODEL_MMIO, VIRTIO_RING_PACKED), "net VIRTIO_MORE batches, kick, a full ring is notified, packed");
    RUN(tx_batching(MODEL_PCI_LEGACY, VIRTIO_RING_SPLIT), "net VIRTIO_MORE batches, kick, a full ring is notified, pci-legacy");
    RUN(refresh(), "net refresh: changes, NULL out-parameter, failure keeps info");
    {
        static const uint32_t mt[2] = { MODEL_PCI_MODERN, MODEL_MMIO };
        char mlabel[256];
        for (t = 0; t < 4; t++) {
            RUN(memory(mt[t & 1], t < 2 ? VIRTIO_RING_SPLIT : VIRTIO_RING_PACKED, mlabel, sizeof mlabel), mlabel);
        }
    }
    RUN(bad_input(), "net bad input error codes");
    UNIT_EXIT();
}
