/* target_net.h - virtio_net.h against a fuzz-driven network device.
 *
 * Included by fuzz_net_split.c and fuzz_net_packed.c with FZ_RING set.
 * The scripted device of fuzz.h (type 1) offers a fuzz-chosen feature set;
 * the operation stream sends frames (plain and with checksum offload),
 * reclaims, delivers frames into the receive ring (single and merged
 * buffers, well-formed or raw bytes), receives by copy and by borrowing,
 * toggles the link, runs control commands, sets NEEDS_RESET and
 * re-initialises. While the device is honest every received frame must
 * be exactly the next one delivered, and every sent frame must reach the
 * device intact. See fuzz.h for the other properties.
 */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_net.h"
#include "fuzz.h"

#define NET_FEATURES                                                                                   \
    ((1ull << 0) | (1ull << 1) | (1ull << 3) | (1ull << 5) | (1ull << 15) | (1ull << 16) | (1ull << 17) | \
     (1ull << 18) | (1ull << 21) | (1ull << 23) | MODEL_F_INDIRECT_DESC | MODEL_F_EVENT_IDX | MODEL_F_VERSION_1)
#define NET_QUEUE 256u
#define NET_EXPECT 64u

typedef struct net_fz {
    fz_env e;
    fz_dev *d;
    virtio_net_options o;
    virtio_net net;
    int up;
    fz_buf rx;                  /* caller buffer for copying receive */
    uint32_t expect_len[NET_EXPECT];   /* frames delivered and not yet received */
    uint8_t expect_seed[NET_EXPECT];
    uint32_t ehead, ecount;
    virtio_net_frame borrowed[4];
    uint32_t nborrowed;
    uint32_t seq;
    int needs_reset;            /* the device asked for a reset: it processes nothing more */
    uint32_t more;              /* frames posted with VIRTIO_MORE and not yet notified */
    uint64_t leaked_allocs, leaked_maps;   /* left by a shutdown whose reset never completed */
} net_fz;

static uint8_t net_byte(uint8_t seed, uint32_t i)
{
    return (uint8_t)(seed * 31u + i * 7u + (i >> 8));
}

/* A failed init gives back everything it took, except when its reset
   did not complete (a reset_delay longer than the platform timeout, or a
   lie: a status that reads all-ones or never 0): the device may still
   write that memory, so it stays allocated, and later checks count from
   there. */
static virtio_result net_up(net_fz *t)
{
    uint64_t hung = t->e.bus->stats.log[VIRTIO_MSG_RESET_TIMEOUT];
    virtio_result r = fz_probe(&t->e);
    FZ_RESULT(r);
    if (r != VIRTIO_OK) return r;
    r = virtio_net_init(&t->net, &t->e.vdev, &t->o);
    FZ_RESULT(r);
    t->up = r == VIRTIO_OK;
    if (!t->up && (t->e.bus->stats.log[VIRTIO_MSG_RESET_TIMEOUT] != hung || t->e.lies || t->e.m->knobs.gone)) {
        t->leaked_allocs = t->e.bus->stats.live_allocs;
        t->leaked_maps = t->e.bus->stats.live_maps;
    }
    FZ_ASSERT(t->up || (t->e.bus->stats.live_allocs == t->leaked_allocs && t->e.bus->stats.live_maps == t->leaked_maps));
    t->ehead = t->ecount = t->nborrowed = t->more = 0;
    t->needs_reset = 0;
    return r;
}

/* Shutdown gives everything back, unless the device never finished its
   reset: then what it could still write stays allocated. */
static void net_down(net_fz *t)
{
    virtio_result r = VIRTIO_OK;
    if (t->up) r = virtio_net_shutdown(&t->net);
    FZ_ASSERT(r == VIRTIO_OK || r == VIRTIO_ERR_TIMEOUT);
    FZ_ASSERT(virtio_net_shutdown(&t->net) == VIRTIO_ERR_STATE);
    t->up = 0;
    t->nborrowed = 0;
    t->more = 0;
    if (r != VIRTIO_OK) {
        t->leaked_allocs = t->e.bus->stats.live_allocs;
        t->leaked_maps = t->e.bus->stats.live_maps;
    }
    FZ_ASSERT(t->e.bus->stats.live_allocs == t->leaked_allocs && t->e.bus->stats.live_maps == t->leaked_maps);
}

static void net_check(net_fz *t)
{
    fz_buf_check(&t->rx);
    fz_no_bugs(&t->e);
}

/* A received frame while the device is honest: the next one delivered.
   A device that reports whole chains as used (MODEL_USED_LEN_CHAIN) is
   not lying, but a one-buffer frame then reads as long as its buffer: the
   driver cannot know better (virtio 1.2 2.7.8.1 lets it rely on the
   length): such a frame is at least as long as the real one, and where
   it spans several buffers its bytes are not where they were sent. */
static void net_got(net_fz *t, const uint8_t *data, uint32_t len)
{
    uint32_t i, k;
    if (t->e.lies) return;
    FZ_ASSERT(t->ecount > 0);
    k = t->ehead;
    if (t->e.m->knobs.used_len == MODEL_USED_LEN_CHAIN) {
        FZ_ASSERT(len >= t->expect_len[k]);
    } else {
        FZ_ASSERT(len == t->expect_len[k]);
        for (i = 0; i < len; i++) FZ_ASSERT(data[i] == net_byte(t->expect_seed[k], i));
    }
    t->ehead = (t->ehead + 1) % NET_EXPECT;
    t->ecount--;
}

/* The device delivers one well-formed frame of len bytes (over n buffers
   when merging). */
static void net_deliver(net_fz *t, uint32_t len, uint32_t n, uint32_t flags)
{
    model_chain *c[4];
    uint8_t hdr[12], seed = (uint8_t)t->seq++;
    uint32_t got = 0, hl = t->net.info.hdr_len, off = 0, i;
    if (!t->net.info.mrg_rxbuf) n = 1;
    while (got < n && (c[got] = model_pop(t->e.m, 0)) != NULL) got++;
    if (!got) return;   /* no buffer posted: the frame is dropped */
    memset(hdr, 0, sizeof hdr);
    hdr[0] = (uint8_t)(flags & 2);   /* DATA_VALID only */
    model_put16(hdr + 10, (uint16_t)got);
    for (i = 0; i < got; i++) {
        uint32_t room = (uint32_t)c[i]->write_len, h = i == 0 ? hl : 0, part = 0, j;
        uint8_t tmp[4096];
        if (h > room) h = room;
        if (i == 0) model_chain_write(c[i], 0, hdr, h);
        if (i == got - 1) part = len - off;
        else part = (len - off) / (got - i);
        if (part > room - h) part = room - h;
        if (part > sizeof tmp) part = sizeof tmp;
        for (j = 0; j < part; j++) tmp[j] = net_byte(seed, off + j);
        model_chain_write(c[i], h, tmp, part);
        model_chain_complete(c[i], h + part);
        off += part;
    }
    if (off < 14 || t->ecount == NET_EXPECT) {
        t->e.lies++;   /* truncated or unrecordable: no exact expectation any more */
        return;
    }
    t->expect_len[(t->ehead + t->ecount) % NET_EXPECT] = off;
    t->expect_seed[(t->ehead + t->ecount) % NET_EXPECT] = seed;
    t->ecount++;
}

static void net_personality(net_fz *t)
{
    fz_in *in = &t->e.ops;
    uint32_t k = fz_u8(in);
    memset(&t->o, 0, sizeof t->o);
    t->o.device.ring = FZ_RING;
    t->o.device.no_indirect = k & 1;
    t->o.device.no_event_idx = (k >> 1) & 1;
    t->o.no_mrg_rxbuf = (k >> 2) & 1;
    t->o.no_csum = (k >> 3) & 1;
    if (k & 0x10) t->o.rx_buffers = fz_below(in, 300);
    if (k & 0x20) t->o.tx_buffers = fz_below(in, 300);
    if (k & 0x40) t->o.mac[0] = 2, t->o.mac[5] = (uint8_t)fz_u8(in);
}

static void net_send(net_fz *t, int csum)
{
    fz_in *in = &t->e.ops;
    uint8_t frame[2048];
    uint32_t len = fz_below(in, 2048), i, before = t->d->tx_frames;
    uint8_t seed = (uint8_t)fz_u8(in);
    uint32_t k = fz_u8(in), flags = k & 1 ? VIRTIO_MORE : 0;
    virtio_result r;
    if (k & 2) flags |= k & 0xf0;   /* unknown flags: refused */
    for (i = 0; i < len; i++) frame[i] = net_byte(seed, i);
    if (csum) r = virtio_net_send_csum(&t->net, frame, len, fz_below(in, 2048), fz_below(in, 64), flags);
    else r = virtio_net_send(&t->net, frame, len, flags);
    FZ_RESULT(r);
    FZ_ASSERT(!(flags & ~VIRTIO_MORE) || r != VIRTIO_OK);
    if (r == VIRTIO_OK && (flags & VIRTIO_MORE)) {
        t->more++;
        return;
    }
    /* (a device that went away during the call takes nothing: the driver
       cannot tell from a notification that found no one) */
    if (r == VIRTIO_OK && !t->more && !t->e.lies && t->e.mode == MODEL_IMMEDIATE &&
        t->e.m->knobs.notify == MODEL_NOTIFY_ALWAYS && !t->needs_reset && !t->e.m->knobs.gone) {
        uint32_t hl = t->net.info.hdr_len;
        if (getenv("FZ_DEBUG"))
            fprintf(stderr, "fuzz: sent %u (+%u header), device saw %u frames -> %u, last %u bytes\n", len, hl, before,
                    t->d->tx_frames, t->d->last_tx_len);
        FZ_ASSERT(t->d->tx_frames == before + 1);
        FZ_ASSERT(t->d->last_tx_len == hl + len);
        FZ_ASSERT(memcmp(t->d->last_tx + hl, frame, len) == 0);
        FZ_ASSERT(!!(t->d->last_tx[0] & 1) == !!csum);
    }
    if (r == VIRTIO_OK || r == VIRTIO_ERR_NO_SPACE) t->more = 0;   /* both notify what was posted */
}

static void net_ops(net_fz *t)
{
    fz_in *in = &t->e.ops;
    uint32_t steps = 0;
    while (fz_more(in) && steps++ < 96) {
        uint32_t op = fz_u8(in) % 20, v = fz_u8(in), n;
        virtio_net_frame f;
        virtio_result r;
        uint8_t macs[70][6];
        if (!t->up && op != 15) continue;
        if (getenv("FZ_DEBUG")) fprintf(stderr, "fuzz: op %u v %u\n", op, v);
        switch (op) {
        case 0:
        case 1:
            net_send(t, op == 1);
            break;
        case 2:
            r = virtio_net_reclaim(&t->net, v & 1 ? &n : 0);
            FZ_RESULT(r);
            if (r == VIRTIO_OK) t->more = 0;
            break;
        case 3:
            net_deliver(t, 14 + fz_below(in, 9100), 1 + (v & 3), v);
            break;
        case 4:
            r = virtio_net_receive(&t->net, t->rx.data, v & 1 ? fz_below(in, 2000) : t->rx.size, &f);
            FZ_RESULT(r);
            if (r == VIRTIO_OK) {
                FZ_ASSERT(f.data == t->rx.data && f.len <= t->rx.size);
                net_got(t, f.data, f.len);
            } else {
                fz_buf_check(&t->rx);   /* a failed receive wrote nothing */
                if (r == VIRTIO_ERR_TOO_BIG && !t->e.lies && t->ecount) {
                    t->ehead = (t->ehead + 1) % NET_EXPECT;   /* dropped as documented */
                    t->ecount--;
                }
            }
            fz_buf_fill(&t->rx);
            break;
        case 5:
            if (t->nborrowed == 4) break;
            r = virtio_net_borrow(&t->net, &f);
            FZ_RESULT(r);
            if (r == VIRTIO_OK) {
                net_got(t, f.data, f.len);
                t->borrowed[t->nborrowed++] = f;
            } else if (r == VIRTIO_ERR_TOO_BIG && !t->e.lies && t->ecount) {
                t->ehead = (t->ehead + 1) % NET_EXPECT;
                t->ecount--;
            }
            break;
        case 6:
            if (!t->nborrowed) {
                memset(&f, 0, sizeof f);
                f.handle = v;
                FZ_ASSERT(virtio_net_give_back(&t->net, &f) != VIRTIO_OK || t->e.lies);
                break;
            }
            n = v % t->nborrowed;
            FZ_ASSERT(virtio_net_give_back(&t->net, &t->borrowed[n]) == VIRTIO_OK);
            FZ_ASSERT(virtio_net_give_back(&t->net, &t->borrowed[n]) == VIRTIO_ERR_INVALID_ARG);
            t->borrowed[n] = t->borrowed[--t->nborrowed];
            break;
        case 7:
            FZ_RESULT(virtio_net_refresh(&t->net, &n));
            break;
        case 8:
            FZ_RESULT(v & 1 ? virtio_net_set_promisc(&t->net, (int)(v & 2)) : virtio_net_set_allmulti(&t->net, (int)(v & 2)));
            break;
        case 9:
            memset(macs, (int)v, sizeof macs);
            n = fz_below(in, 70);
            if (v & 1) {   /* counts whose sum wraps */
                uint32_t m = 0u - (n = fz_u32(in)) + (v >> 1);
                r = virtio_net_set_mac_filter(&t->net, macs[0], n, macs[0], m);
                FZ_RESULT(r);
                FZ_ASSERT(r != VIRTIO_OK || (uint64_t)n + m <= 64);
                break;
            }
            FZ_RESULT(virtio_net_set_mac_filter(&t->net, macs[0], n, macs[0], fz_below(in, 70 - n)));
            break;
        case 10:
            memset(macs[0], (int)(v & 0xfe), 6);
            FZ_RESULT(virtio_net_set_mac(&t->net, macs[0]));
            break;
        case 11:
            FZ_RESULT(virtio_net_announce_ack(&t->net));
            break;
        case 12:   /* link and announce bits change */
            model_put16(model_config(t->e.m) + 6, (uint16_t)(v & 3));
            model_config_changed(t->e.m);
            break;
        case 13:
            model_set_needs_reset(t->e.m);
            t->needs_reset = 1;
            break;
        case 14:
            if (v & 1) model_interrupt(t->e.m, v % 3);
            else model_run(t->e.m, v >> 1);
            break;
        case 15:
            net_down(t);
            net_up(t);
            break;
        case 16: {   /* raw bytes into a receive buffer: headers may be nonsense */
            t->e.lies++;
            fz_deliver(&t->e, 0, 0, fz_below(in, 64));
            break;
        }
        case 18:
            r = virtio_net_kick(&t->net);
            FZ_RESULT(r);
            if (r == VIRTIO_OK) t->more = 0;
            break;
        case 19: {   /* init on a running NIC: refused, nothing changes */
            uint64_t allocs = t->e.bus->stats.live_allocs, maps = t->e.bus->stats.live_maps;
            FZ_ASSERT(virtio_net_init(&t->net, &t->e.vdev, &t->o) == VIRTIO_ERR_STATE);
            FZ_ASSERT(t->e.bus->stats.live_allocs == allocs && t->e.bus->stats.live_maps == maps);
            break;
        }
        default:
            FZ_RESULT(virtio_device_status(&t->net.dev, &n));
            break;
        }
        net_check(t);
    }
}

static void net_recover(net_fz *t)
{
    virtio_result r;
    virtio_net_frame f;
    uint8_t frame[60];
    uint32_t i;
    fz_honest(&t->e, 3, NET_QUEUE);
    model_put16(model_config(t->e.m) + 6, 1);
    t->e.lies = 0;
    memset(&t->o, 0, sizeof t->o);
    r = net_up(t);
    if (r != VIRTIO_OK) {
        /* Only a configuration every device of this kind would be refused
           for is acceptable: the MTU field below 68. */
        FZ_ASSERT(r == VIRTIO_ERR_DEVICE && model_get16(model_config(t->e.m) + 10) < 68);
        return;
    }
    for (i = 0; i < sizeof frame; i++) frame[i] = (uint8_t)(i * 3);
    r = virtio_net_send(&t->net, frame, sizeof frame, 0);
    if (r != VIRTIO_OK) fprintf(stderr, "fuzz: send after recovery: %d\n", (int)r);
    FZ_ASSERT(r == VIRTIO_OK);
    model_run(t->e.m, 0);
    FZ_ASSERT(t->d->last_tx_len == t->net.info.hdr_len + sizeof frame);
    FZ_ASSERT(memcmp(t->d->last_tx + t->net.info.hdr_len, frame, sizeof frame) == 0);
    net_deliver(t, 64, 1, 0);
    FZ_ASSERT(t->ecount == 1);
    FZ_ASSERT(virtio_net_receive(&t->net, t->rx.data, t->rx.size, &f) == VIRTIO_OK);
    net_got(t, f.data, f.len);
    fz_buf_fill(&t->rx);
    net_check(t);
    net_down(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    net_fz t;
    uint64_t features;
    memset(&t, 0, sizeof t);
    fz_env_init(&t.e, data, size);
    fz_bus(&t.e);
    fz_transport(&t.e, FZ_RING == VIRTIO_RING_PACKED);
    net_personality(&t);
    features = NET_FEATURES & ~(uint64_t)fz_u32(&t.e.ops);
    if (FZ_RING == VIRTIO_RING_PACKED) features |= MODEL_F_RING_PACKED | MODEL_F_VERSION_1;
    fz_buf_new(&t.rx, 9300);
    fz_dev_new(&t.e, 1, features, &t.d);
    fz_knobs(&t.e, 3);
    net_up(&t);
    net_ops(&t);
    net_check(&t);
    net_down(&t);
    net_recover(&t);
    fz_buf_free(&t.rx);
    model_bus_free(t.e.bus);
    return 0;
}
