/* fuzz_pci_assign.c - virtio_pci_assign (and then virtio_pci_find and
 * virtio_pci_probe) on a PCI configuration space the fuzz input builds.
 *
 * The input places functions on four buses: plain functions and
 * PCI-PCI bridges, single- or multi-function, with any BAR masks (I/O,
 * 32- and 64-bit memory, non-powers of two, a 64-bit BAR in the last
 * register) and host bridge windows of any base and size (empty,
 * unaligned, ending at the top of the address space). Some functions
 * lie: each read of a BAR after a write of all-ones answers the next
 * value from the input, so a size changes between the passes. Every bus
 * below four answers whatever the bridges were told (routing is not
 * modelled); functions 1-7 of a single-function device do not answer.
 *
 * Properties:
 *   - no crash or undefined behaviour; every access names a function
 *     that exists on bus 0-255 (bdf <= 0xffff) and an offset below 4096;
 *     the walk ends within a bound of accesses;
 *   - the result is VIRTIO_OK with unplaced 0, or VIRTIO_ERR_NO_SPACE with
 *     unplaced > 0;
 *   - every BAR of an honest function with a power-of-two size that got
 *     an address lies wholly inside a window of its kind (I/O; 32-bit
 *     memory; 64-bit memory for a 64-bit BAR) and is aligned to its
 *     size, and no two of them overlap; a function decodes memory (I/O)
 *     only if every such memory (I/O) BAR of it got an address;
 *   - when nothing lies, bus 0 holds no bridge and no 64-bit BAR, and its
 *     memory BARs fit the 32-bit window together (sizes summed; a window
 *     aligned to its power-of-two size, not at 0, below 4 GiB), every
 *     memory BAR is placed: largest first leaves no gaps.
 * Then virtio_pci_find / virtio_pci_probe walk the result (with the
 * windows as pci_windows) without breaking the access rules above.
 */
#define VIRTIO_IMPLEMENTATION
#include "../../virtio.h"
#include "fuzz.h"

#define PA_BUSES 4
#define PA_FNS (PA_BUSES * 256)

typedef struct pa_fn {
    uint8_t present, hdr;       /* header type: bit 7 multi-function, 0 plain, 1 bridge */
    uint8_t liar;
    uint32_t mask[6];           /* BAR masks (0: not implemented); low bits give the type */
    uint32_t reg[64];           /* the rest of configuration space, as written */
    uint8_t sizing[6];          /* all-ones was written: the next read gives the mask */
} pa_fn;

static pa_fn pa[PA_FNS];
static fz_in pa_lies;
static uint64_t pa_accesses;

static pa_fn *pa_at(uint32_t bdf, unsigned off, unsigned width)
{
    pa_fn *f;
    FZ_ASSERT(bdf <= 0xffffu && off < 4096 && off + width <= 4096 && (width == 1 || width == 2 || width == 4));
    FZ_ASSERT(++pa_accesses < 20000000u);   /* the walk ends */
    if (bdf >= PA_FNS) return 0;
    f = &pa[bdf];
    if (!f->present) return 0;
    if ((bdf & 7u) && !(pa[bdf & ~7u].present && (pa[bdf & ~7u].hdr & 0x80u))) return 0;
    return f;
}

static uint32_t pa_bars(const pa_fn *f)
{
    return (f->hdr & 0x7fu) == 0 ? 6u : (f->hdr & 0x7fu) == 1 ? 2u : 0u;
}

/* Is BAR register i the upper half of a 64-bit BAR? (Counted from
   BAR 0: the register after an upper half starts a BAR again.) */
static int pa_upper(const pa_fn *f, uint32_t i)
{
    uint32_t j;
    for (j = 0; j < i; j++)
        if (f->mask[j] && (f->mask[j] & 7u) == 4u && j++ + 1 == i) return 1;
    return 0;
}

/* BAR i as the device shows it. */
static uint32_t pa_bar(pa_fn *f, uint32_t i)
{
    uint32_t m = f->mask[i], upper = (uint32_t)pa_upper(f, i);
    uint32_t flags = upper ? 0 : (m & 1u) ? (m & 3u) : (m & 0xfu), v = f->reg[4 + i];
    if (f->sizing[i]) {   /* all-ones written: the mask (a liar's from the input) */
        v = 0xffffffffu;
        if (f->liar && fz_more(&pa_lies)) m = fz_u32(&pa_lies) | (m & 0xfu);
    }
    return (v & m) | flags;
}

static uint32_t pa_read(void *user, uint32_t bdf, unsigned off, unsigned width)
{
    pa_fn *f = pa_at(bdf, off, width);
    uint32_t v, d = off >> 2;
    (void)user;
    if (!f) return 0xffffffffu;
    if (off >= 256) v = 0;
    else if (d == 0) v = (bdf & 1u ? 0x10420000u : 0x10010000u) | 0x1af4u;   /* modern or transitional */
    else if (d == 11) v = 0x00020000u;   /* subsystem: a block device */
    else if (d == 3) v = (uint32_t)f->hdr << 16;
    else if (d >= 4 && d < 4 + pa_bars(f)) v = pa_bar(f, d - 4);
    else if (d >= 4 && d < 10) v = 0;
    else if (d == 13) v = 0;   /* no capabilities */
    else v = f->reg[d];
    v >>= 8 * (off & 3u);
    return width == 4 ? v : v & ((1u << (8 * width)) - 1);
}

static void pa_write(void *user, uint32_t bdf, unsigned off, unsigned width, uint32_t v)
{
    pa_fn *f = pa_at(bdf, off, width);
    uint32_t d = off >> 2, sh = 8 * (off & 3u), m = width == 4 ? 0xffffffffu : ((1u << (8 * width)) - 1) << sh;
    (void)user;
    if (!f || off >= 256) return;
    if (d >= 4 && d < 4 + pa_bars(f)) {
        FZ_ASSERT(width == 4);
        f->sizing[d - 4] = v == 0xffffffffu;   /* (until the next write) */
        f->reg[d] = v;
        return;
    }
    f->reg[d] = (f->reg[d] & ~m) | ((v << sh) & m);
}

/* BAR i's size, if it is an honest power of two (else 0). */
static uint64_t pa_size(const pa_fn *f, uint32_t i, int *is64)
{
    uint32_t m = f->mask[i];
    uint64_t full;
    *is64 = m && (m & 7u) == 4u;
    if (m == 0 || pa_upper(f, i)) return *is64 = 0;
    if (*is64 && i + 1 >= pa_bars(f)) return 0;
    if (m & 1u) full = 0xffffffff00000000ull | (0xffff0000u | m);
    else full = (*is64 ? (uint64_t)f->mask[i + 1] << 32 : 0xffffffff00000000ull) | m;
    full &= (m & 1u) ? ~(uint64_t)3 : ~(uint64_t)0xf;
    full = ~full + 1;
    return full && !(full & (full - 1)) ? full : 0;
}

static uint64_t pa_addr(const pa_fn *f, uint32_t i, int is64)
{
    uint64_t a = f->reg[4 + i] & f->mask[i] & ((f->mask[i] & 1u) ? ~3u : ~0xfu);
    if (is64) a |= (uint64_t)(f->reg[5 + i] & f->mask[i + 1]) << 32;
    return a;
}

static int pa_inside(uint64_t a, uint64_t n, uint64_t base, uint64_t size)
{
    return size && n <= size && a >= base && a - base <= size - n;
}

/* Probe only needs an allocator to be accepted, and the registers it
   reads go through these (no real access from a fuzzer). */
static unsigned char pa_pool[4096] __attribute__((aligned(4096)));
static void *pa_alloc(void *user, size_t size, size_t align, int kind, uint64_t *dev)
{
    (void)user;
    (void)align;
    (void)kind;
    if (size > sizeof pa_pool) return 0;
    *dev = (uintptr_t)pa_pool;
    return pa_pool;
}
static uint32_t pa_reg_read(void *user, int space, uintptr_t addr, unsigned width)
{
    (void)user;
    (void)space;
    (void)addr;
    (void)width;
    return 0;
}
static void pa_reg_write(void *user, int space, uintptr_t addr, unsigned width, uint32_t v)
{
    (void)user;
    (void)space;
    (void)addr;
    (void)width;
    (void)v;
}

typedef struct pa_span { uint64_t a, n; uint32_t io; } pa_span;
static pa_span spans[PA_FNS * 3];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = { data, size, 0 };
    virtio_platform p;
    virtio_pci_windows w;
    virtio_device dev;
    uint32_t unplaced = 0xdeadbeefu, n, i, k, nspans = 0, bdf, bridges = 0, wide = 0, lies = 0;
    uint64_t need = 0;
    virtio_result r;
    memset(pa, 0, sizeof pa);
    memset(&p, 0, sizeof p);
    memset(&w, 0, sizeof w);
    pa_accesses = 0;
    /* Windows: tame (a typical layout, sized by the input) or wild. */
    if (fz_u8(&in) & 1u) {
        w.io_base = fz_u32(&in);
        w.io_size = fz_u32(&in);
        w.mem_base = (uint64_t)fz_u32(&in) << (fz_u8(&in) & 31u);
        w.mem_size = (uint64_t)fz_u32(&in) << (fz_u8(&in) & 31u);
        w.mem64_base = (uint64_t)fz_u32(&in) << 32 | fz_u32(&in);
        w.mem64_size = (uint64_t)fz_u32(&in) << (fz_u8(&in) & 31u);
    } else {
        w.io_base = 0x1000u;
        w.io_size = 0x1000u << (fz_u8(&in) & 7u);
        w.mem_base = 0x40000000u;
        w.mem_size = (uint64_t)0x100000u << (fz_u8(&in) & 15u);
        w.mem64_base = 0x8000000000ull;
        w.mem64_size = (fz_u8(&in) & 1u) ? (uint64_t)0x100000u << (fz_u8(&in) & 31u) : 0;
    }
    /* Functions. */
    for (n = fz_u8(&in) % 40; n-- > 0 && fz_more(&in);) {
        uint32_t at = fz_u16(&in) % PA_FNS, kind = fz_u8(&in);
        pa_fn *f = &pa[at];
        f->present = 1;
        f->hdr = (uint8_t)(((kind & 3u) == 3 ? 1u : (kind & 3u) == 2 ? 0x7fu : 0u) | (kind & 0x80u));
        f->liar = (kind & 0x40u) != 0;
        lies |= f->liar;
        if ((f->hdr & 0x7fu) == 1) bridges++;
        for (i = 0; i < 6; i++) {
            uint32_t how = fz_u8(&in), lg = how & 31u;
            switch (how >> 5) {
            case 0: f->mask[i] = 0; break;
            case 1: case 2: f->mask[i] = lg >= 4 ? ~((1u << lg) - 1) & ~0xfu : 0xfffff000u; break;   /* 32-bit memory */
            case 3: f->mask[i] = (~((1u << (lg % 16)) - 1) & ~3u) | 1u; break;                     /* I/O */
            case 4: f->mask[i] = (lg >= 4 ? ~((1u << lg) - 1) & ~0xfu : 0) | 0xcu; break;          /* 64-bit */
            default: f->mask[i] = fz_u32(&in); break;                                              /* anything */
            }
        }
    }
    for (bdf = 0; bdf < 256; bdf++)   /* what the tidy-case property needs to know (bus 0) */
        for (i = 0; pa[bdf].present && i < pa_bars(&pa[bdf]); i++) {
            int is64;
            uint64_t s = pa_size(&pa[bdf], i, &is64);
            if (!s) continue;
            wide |= (uint32_t)is64;
            if (!(pa[bdf].mask[i] & 1u)) need += s;
            if (is64) i++;
        }
    pa_lies.p = data + in.i;
    pa_lies.n = size - in.i;
    pa_lies.i = 0;
    p.pci_read = pa_read;
    p.pci_write = pa_write;
    p.pci_buses = PA_BUSES;

    r = virtio_pci_assign(&p, &w, &unplaced);
    FZ_ASSERT(r == VIRTIO_OK || r == VIRTIO_ERR_NO_SPACE);
    FZ_ASSERT(r == VIRTIO_OK ? unplaced == 0 : unplaced > 0 && unplaced != 0xdeadbeefu);

    /* Where the honest functions' BARs went. */
    for (bdf = 0; bdf < PA_FNS; bdf++) {
        pa_fn *f = &pa[bdf];
        uint32_t cmd = f->reg[1] & 0xffffu, bars = pa_bars(f), unset_mem = 0, unset_io = 0;
        if (!f->present || f->liar || pa_at(bdf, 0, 4) == 0) continue;
        for (i = 0; i < bars; i++) {
            int is64;
            uint64_t s = pa_size(f, i, &is64), a;
            uint32_t io = f->mask[i] & 1u;
            if (!s) {
                if (is64) i++;
                continue;
            }
            a = pa_addr(f, i, is64);
            if (a == 0) {
                if (io) unset_io = 1;
                else unset_mem = 1;
            } else {
                FZ_ASSERT(a % s == 0);
                FZ_ASSERT(io ? pa_inside(a, s, w.io_base, w.io_size)
                             : pa_inside(a, s, w.mem_base, w.mem_size) ||
                                   (is64 && pa_inside(a, s, w.mem64_base, w.mem64_size)));
                spans[nspans].a = a;
                spans[nspans].n = s;
                spans[nspans].io = io;
                nspans++;
            }
            if (is64) i++;
        }
        if (unset_mem) FZ_ASSERT(!(cmd & 2u));
        if (unset_io) FZ_ASSERT(!(cmd & 1u));
    }
    for (i = 0; i < nspans; i++)
        for (k = i + 1; k < nspans; k++)
            if (spans[i].io == spans[k].io)
                FZ_ASSERT(spans[i].a + spans[i].n <= spans[k].a || spans[k].a + spans[k].n <= spans[i].a);
    /* The tidy case: memory BARs that fit together all get an address (I/O
       may still run out: its window starts at 0x1000 at the least). */
    if (!lies && !bridges && !wide && need && need <= w.mem_size && w.mem_size <= 0x80000000u && w.mem_base &&
        w.mem_base % w.mem_size == 0 && w.mem_base + w.mem_size <= 0x100000000ull && !(w.mem_size & (w.mem_size - 1))) {
        for (bdf = 0; bdf < 256; bdf++)   /* (without bridges nothing reaches buses 1-3) */
            for (i = 0; pa[bdf].present && pa_at(bdf, 0, 4) && i < pa_bars(&pa[bdf]); i++) {
                int is64;
                uint64_t s = pa_size(&pa[bdf], i, &is64);
                if (s && !(pa[bdf].mask[i] & 1u)) FZ_ASSERT(pa_addr(&pa[bdf], i, is64) != 0);
            }
    }

    /* Discovery and probe over the result keep to the access rules too
       (no capabilities here: each function is looked at as legacy). */
    p.pci_windows = &w;
    p.dma_alloc = pa_alloc;
    p.reg_read = pa_reg_read;
    p.reg_write = pa_reg_write;
    for (bdf = 0; virtio_pci_find(&p, 0, &bdf) == VIRTIO_OK; bdf++) {
        r = virtio_pci_probe(&dev, &p, bdf);
        FZ_ASSERT(r == VIRTIO_OK || r == VIRTIO_ERR_NOT_FOUND || r == VIRTIO_ERR_DEVICE || r == VIRTIO_ERR_UNSUPPORTED);
    }
    return 0;
}
