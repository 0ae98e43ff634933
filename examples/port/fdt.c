/* fdt.c - the flattened device tree: a small bounds-checked reader, and
 * the machine layout the ports take from it.
 *
 * QEMU's "virt" machines describe themselves in a device tree and hand it
 * to the guest (riscv: a1 at entry; arm: at the start of RAM for an ELF
 * image). Reading the layout from there, instead of from constants, keeps
 * the ports right when the machine changes: aarch64 with highmem moves
 * the PCI ECAM above 4 GiB, other command lines add or move devices.
 *
 * Format (Devicetree Specification v0.4, chapter 5): a header of
 * big-endian 32-bit fields, a structure block of 4-byte-aligned tokens
 * (BEGIN_NODE name, PROP len nameoff value, END_NODE, NOP, END) and a
 * strings block of property names. Every read below is checked against
 * the block it belongs to, every name must end inside its block and the
 * nesting depth is limited, so a damaged blob only ends a walk early.
 * Values are read byte by byte: the blob is big-endian whatever the CPU,
 * and nothing in it need be aligned for the CPU.
 */
#include "port.h"

#define FDT_MAGIC 0xd00dfeedu
#define FDT_BEGIN_NODE 1u
#define FDT_END_NODE 2u
#define FDT_PROP 3u
#define FDT_NOP 4u
#define FDT_END 9u
#define FDT_MAX_DEPTH 16

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint64_t port_fdt_cells(const uint8_t *p, uint32_t n)
{
    uint64_t v = 0;
    while (n--) {
        v = v << 32 | be32(p);
        p += 4;
    }
    return v;
}

/* The token at `off` of the structure block, or FDT_END past its end. */
static uint32_t token(const struct port_fdt *t, uint32_t off)
{
    if (off < t->struct_off || off > t->struct_end - 4 || (off & 3)) return FDT_END;
    return be32(t->blob + off);
}

/* Length of the NUL-terminated string at off, which must end before end;
   -1 if it does not. */
static int32_t str_len(const struct port_fdt *t, uint32_t off, uint32_t end)
{
    uint32_t i;
    for (i = off; i < end; i++)
        if (t->blob[i] == 0) return (int32_t)(i - off);
    return -1;
}

int port_fdt_open(struct port_fdt *t, const void *blob, uint32_t max)
{
    const uint8_t *b = (const uint8_t *)blob;
    uint32_t total, s_off, s_size, str_off, str_size;
    if (!b || max < 40 || be32(b) != FDT_MAGIC) return 0;
    total = be32(b + 4);
    s_off = be32(b + 8);
    str_off = be32(b + 12);
    str_size = be32(b + 32);
    s_size = be32(b + 36);
    /* version 17 or a later one compatible with it (last_comp_version) */
    if (be32(b + 20) < 17 || be32(b + 24) > 17) return 0;
    if (total > max || total > PORT_FDT_MAX || total < 40) return 0;
    if (s_off < 40 || s_off > total || s_size > total - s_off || (s_off & 3) || s_size < 4) return 0;
    if (str_off > total || str_size > total - str_off) return 0;
    t->blob = b;
    t->struct_off = s_off;
    t->struct_end = s_off + s_size;
    t->strings_off = str_off;
    t->strings_end = str_off + str_size;
    return 1;
}

/* The offset just past the name of the node at `node`, or 0 if damaged. */
static uint32_t after_name(const struct port_fdt *t, int32_t node)
{
    int32_t n;
    if (node < 0 || token(t, (uint32_t)node) != FDT_BEGIN_NODE) return 0;
    n = str_len(t, (uint32_t)node + 4, t->struct_end);
    if (n < 0) return 0;
    return ((uint32_t)node + 4 + (uint32_t)n + 1 + 3) & ~3u;
}

/* The offset past the PROP token at off (header and value), or 0. */
static uint32_t after_prop(const struct port_fdt *t, uint32_t off)
{
    uint32_t len;
    if (off > t->struct_end - 12) return 0;
    len = be32(t->blob + off + 4);
    if (len > t->struct_end - off - 12) return 0;
    return (off + 12 + len + 3) & ~3u;
}

const char *port_fdt_name(const struct port_fdt *t, int32_t node)
{
    return after_name(t, node) ? (const char *)t->blob + node + 4 : "";
}

int port_fdt_next(const struct port_fdt *t, int32_t *node, int *depth)
{
    uint32_t off;
    int d = *depth;
    if (*node < 0) {
        off = t->struct_off;
        d = -1;
    } else {
        off = after_name(t, *node);
    }
    /* Each step moves at least 4 bytes forward: bounded by the block. */
    while (off) {
        switch (token(t, off)) {
        case FDT_BEGIN_NODE:
            if (d + 1 >= FDT_MAX_DEPTH || !after_name(t, (int32_t)off)) return 0;
            *node = (int32_t)off;
            *depth = d + 1;
            return 1;
        case FDT_END_NODE:
            if (--d < -1) return 0;
            off += 4;
            break;
        case FDT_PROP:
            off = after_prop(t, off);
            break;
        case FDT_NOP:
            off += 4;
            break;
        default:   /* FDT_END, or garbage */
            return 0;
        }
    }
    return 0;
}

const uint8_t *port_fdt_prop(const struct port_fdt *t, int32_t node, const char *name, uint32_t *len)
{
    uint32_t off = after_name(t, node);
    while (off) {
        uint32_t tok = token(t, off), nameoff;
        if (tok == FDT_NOP) {
            off += 4;
            continue;
        }
        if (tok != FDT_PROP) break;   /* properties come before subnodes */
        if (!after_prop(t, off)) break;
        nameoff = be32(t->blob + off + 8);
        if (nameoff < t->strings_end - t->strings_off &&
            str_len(t, t->strings_off + nameoff, t->strings_end) >= 0 &&
            strcmp((const char *)t->blob + t->strings_off + nameoff, name) == 0) {
            if (len) *len = be32(t->blob + off + 4);
            return t->blob + off + 12;
        }
        off = after_prop(t, off);
    }
    return 0;
}

int port_fdt_compatible(const struct port_fdt *t, int32_t node, const char *compat)
{
    uint32_t len, i = 0;
    const uint8_t *p = port_fdt_prop(t, node, "compatible", &len);
    while (p && i < len) {   /* a list of NUL-terminated strings */
        uint32_t n = 0;
        while (i + n < len && p[i + n]) n++;
        if (i + n == len) break;   /* the last one is not terminated */
        if (strcmp((const char *)p + i, compat) == 0) return 1;
        i += n + 1;
    }
    return 0;
}

/* ---- the machine layout ------------------------------------------------ */

/* One walk's view of where we are: the node at each depth down to the
   current one, so that parents (cells, ranges) can be looked at. */
struct walk {
    struct port_fdt t;
    int32_t path[FDT_MAX_DEPTH];
    int depth;
};

/* #address-cells / #size-cells that `node` gives its children (the
   specification's defaults are 2 and 1). */
static uint32_t cells(const struct port_fdt *t, int32_t node, const char *name, uint32_t dflt)
{
    uint32_t len;
    const uint8_t *p = port_fdt_prop(t, node, name, &len);
    return p && len == 4 ? be32(p) : dflt;
}
static uint32_t addr_cells(const struct port_fdt *t, int32_t n) { return cells(t, n, "#address-cells", 2); }
static uint32_t size_cells(const struct port_fdt *t, int32_t n) { return cells(t, n, "#size-cells", 1); }

/* Turn `addr`, an address on the bus of the node at depth `depth` (i.e.
   in its parent's child address space), into a CPU address by going up
   through every ancestor's "ranges". 0 if some bus does not map it. */
static int translate(const struct walk *w, int depth, uint64_t *addr)
{
    int lvl;
    for (lvl = depth - 1; lvl >= 1; lvl--) {
        const struct port_fdt *t = &w->t;
        int32_t bus = w->path[lvl];
        uint32_t len, ca = addr_cells(t, bus), pa = addr_cells(t, w->path[lvl - 1]), sc = size_cells(t, bus), i, step;
        const uint8_t *r = port_fdt_prop(t, bus, "ranges", &len);
        if (!r) return 0;                    /* no ranges: not mapped to the parent */
        if (len == 0) continue;              /* empty ranges: identity */
        if (ca > 2 || pa > 2 || sc > 2) return 0;
        step = 4 * (ca + pa + sc);
        for (i = 0; i + step <= len; i += step) {
            uint64_t child = port_fdt_cells(r + i, ca), parent = port_fdt_cells(r + i + 4 * ca, pa);
            uint64_t size = port_fdt_cells(r + i + 4 * (ca + pa), sc);
            if (*addr >= child && *addr - child < size) {
                *addr = parent + (*addr - child);
                break;
            }
        }
        if (i + step > len) return 0;
    }
    return 1;
}

/* Entry `index` of the current node's "reg", as a CPU address and size. */
static int reg(const struct walk *w, uint32_t index, uint64_t *addr, uint64_t *size)
{
    const struct port_fdt *t = &w->t;
    int32_t parent = w->depth ? w->path[w->depth - 1] : -1;
    uint32_t ac, sc, len;
    const uint8_t *p = port_fdt_prop(t, w->path[w->depth], "reg", &len);
    if (!p || parent < 0) return 0;
    ac = addr_cells(t, parent);
    sc = size_cells(t, parent);
    if (ac > 2 || sc > 2 || ac == 0 || 4 * (ac + sc) * (index + 1) > len) return 0;
    p += 4 * (ac + sc) * index;
    *addr = port_fdt_cells(p, ac);
    *size = port_fdt_cells(p + 4 * ac, sc);
    return translate(w, w->depth, addr);
}

/* Is the current node the one /chosen's stdout-path names ("/soc/serial@
   10000000", possibly followed by ":options")? Compares each component
   of the path with the names of the nodes from the root down. */
static int is_path(const struct walk *w, const char *path)
{
    int d;
    if (!path || *path != '/') return 0;
    for (d = 1; d <= w->depth; d++) {
        const char *name = port_fdt_name(&w->t, w->path[d]);
        size_t n = strlen(name);
        path++;   /* the '/' */
        if (strlen(path) < n || memcmp(path, name, n) != 0) return 0;
        path += n;
        if (*path != '/' && *path != ':' && *path != 0) return 0;
        if (d < w->depth && *path != '/') return 0;
    }
    return *path == 0 || *path == ':';
}

static const char *string_prop(const struct port_fdt *t, int32_t node, const char *name)
{
    uint32_t len;
    const uint8_t *p = port_fdt_prop(t, node, name, &len);
    return p && len && p[len - 1] == 0 ? (const char *)p : 0;
}

/* The window of a "pci-host-ecam-generic" node: ECAM, bus count, and the
   I/O and memory windows of its "ranges" (PCI binding: 3 address cells,
   space code in bits 25:24 of the first: 1 I/O, 2 32-bit, 3 64-bit
   memory). A window the CPU cannot reach, or whose PCI and CPU addresses
   differ (the BARs are written with the CPU address), is left out. */
static void pci_host(const struct walk *w, struct port_machine *m)
{
    const struct port_fdt *t = &w->t;
    int32_t node = w->path[w->depth];
    uint64_t ecam, size;
    uint32_t len, pa = addr_cells(t, w->path[w->depth - 1]), sc = size_cells(t, node), i, step, buses;
    const uint8_t *r = port_fdt_prop(t, node, "bus-range", &len);
    if (!reg(w, 0, &ecam, &size)) return;
    buses = (uint32_t)(size >> 20 > 256 ? 256 : size >> 20);   /* 1 MiB of ECAM per bus */
    if (r && len == 8 && be32(r) == 0 && be32(r + 4) < buses) buses = be32(r + 4) + 1;
    if (ecam + size > m->addr_limit || (uintptr_t)ecam != ecam || !buses) {
        port_printf("port: PCI ECAM at %llx is beyond this CPU's reach: no PCI\n", (unsigned long long)ecam);
        return;
    }
    m->pci_ecam = (uintptr_t)ecam;
    m->pci_buses = buses;
    r = port_fdt_prop(t, node, "ranges", &len);
    if (!r || addr_cells(t, node) != 3 || pa > 2 || sc > 2) return;
    step = 4 * (3 + pa + sc);
    for (i = 0; i + step <= len; i += step) {
        uint32_t space = be32(r + i) >> 24 & 3;
        uint64_t pci = port_fdt_cells(r + i + 4, 2), cpu = port_fdt_cells(r + i + 12, pa);
        uint64_t n = port_fdt_cells(r + i + 12 + 4 * pa, sc);
        if (!translate(w, w->depth, &cpu) || cpu + n > m->addr_limit || cpu + n < cpu) continue;
        if (space == 1 && pci < 0x10000 && (uintptr_t)(cpu - pci) == cpu - pci) {
            /* I/O port p is at CPU address pci_io_base + p. Ports below
               0x1000 are left to legacy ISA devices, as firmware does. */
            uint64_t lo = pci < 0x1000 ? 0x1000 : pci, hi = pci + n > 0x10000 ? 0x10000 : pci + n;
            m->pci_io_base = (uintptr_t)(cpu - pci);
            if (hi > lo) {
                m->io_base = (uint32_t)lo;
                m->io_size = (uint32_t)(hi - lo);
            }
        } else if (space == 2 && pci == cpu) {
            m->mem32_base = cpu;
            m->mem32_size = n;
        } else if (space == 3 && pci == cpu) {
            m->mem64_base = cpu;
            m->mem64_size = n;
        }
    }
}

/* ---- interrupts -------------------------------------------------------- */

/* The node whose "phandle" is ph, or -1. */
static int32_t by_phandle(const struct port_fdt *t, uint32_t ph)
{
    int32_t node = -1;
    int depth = 0;
    uint32_t len;
    while (ph && port_fdt_next(t, &node, &depth)) {
        const uint8_t *p = port_fdt_prop(t, node, "phandle", &len);
        if (p && len == 4 && be32(p) == ph) return node;
    }
    return -1;
}

/* The context of the first "interrupts-extended" entry that names a
   CPU's machine external interrupt (riscv mcause 11): on QEMU's virt,
   hart 0's M-mode context of the PLIC. Each entry is a phandle and that
   controller's #interrupt-cells cells. 0 if there is none. */
static uint32_t machine_context(const struct port_fdt *t, int32_t node)
{
    uint32_t len, i = 0, ctx;
    const uint8_t *p = port_fdt_prop(t, node, "interrupts-extended", &len);
    for (ctx = 0; p && i + 8 <= len && ctx < 64; ctx++) {
        int32_t parent = by_phandle(t, be32(p + i));
        uint32_t n = parent < 0 ? 1 : cells(t, parent, "#interrupt-cells", 1);
        if (n == 0 || n > 4 || i + 4 + 4 * n > len) break;
        if (n == 1 && be32(p + i + 4) == 11) return ctx;
        i += 4 + 4 * n;
    }
    return 0;
}

/* An interrupt specifier of n cells as the controller's source number:
   the GIC's three cells (type, number, flags) give SPI n = 32 + n and
   PPI n = 16 + n with the trigger flags (1 edge, 4 level); a one- or
   two-cell specifier (the PLIC's) is the number itself. */
static int decode_irq(const uint8_t *p, uint32_t n, uint32_t *source, uint32_t *flags)
{
    uint32_t type;
    if (n == 1 || n == 2) {
        *source = be32(p);
        *flags = n == 2 ? be32(p + 4) & 0xfu : 0;
        return 1;
    }
    if (n != 3) return 0;
    type = be32(p);
    if (type > 1 || be32(p + 4) > (type ? 15u : 987u)) return 0;
    *source = be32(p + 4) + (type ? 16u : 32u);
    *flags = be32(p + 8) & 0xfu;
    return 1;
}

/* The interrupt parent of the walk's current node: its own or its
   nearest ancestor's "interrupt-parent". -1 if none. */
static int32_t irq_parent(const struct walk *w)
{
    int d;
    uint32_t len;
    for (d = w->depth; d >= 0; d--) {
        const uint8_t *p = port_fdt_prop(&w->t, w->path[d], "interrupt-parent", &len);
        if (p && len == 4) return by_phandle(&w->t, be32(p));
    }
    return -1;
}

int port_fdt_irq(const struct port_fdt *t, const char *compat, uint64_t where, uint32_t index, uint32_t *source,
                 uint32_t *flags)
{
    static struct walk w;   /* static: keeps the stack small */
    int32_t node = -1;
    int depth = 0;
    w.t = *t;
    while (port_fdt_next(&w.t, &node, &depth)) {
        uint64_t a, s;
        uint32_t len, n;
        const uint8_t *p;
        int32_t parent;
        w.path[depth] = node;
        w.depth = depth;
        if (depth == 0 || (compat && !port_fdt_compatible(&w.t, node, compat))) continue;
        if (where && (!reg(&w, 0, &a, &s) || a != where)) continue;
        p = port_fdt_prop(&w.t, node, "interrupts", &len);
        parent = irq_parent(&w);
        if (!p || parent < 0) return 0;
        n = cells(&w.t, parent, "#interrupt-cells", 0);
        if (n == 0 || n > 4 || index >= len / (4 * n)) return 0;
        return decode_irq(p + 4 * n * index, n, source, flags);
    }
    return 0;
}

int port_fdt_pci_irq(const struct port_fdt *tree, uint32_t bdf, uint32_t pin, uint32_t *source, uint32_t *flags)
{
    const struct port_fdt t = *tree;
    int32_t node = -1;
    int depth = 0;
    while (port_fdt_next(&t, &node, &depth)) {
        uint32_t len, mlen, i, k, key[4], ac, ic;
        const uint8_t *map, *mask;
        if (!port_fdt_compatible(&t, node, "pci-host-ecam-generic")) continue;
        map = port_fdt_prop(&t, node, "interrupt-map", &len);
        mask = port_fdt_prop(&t, node, "interrupt-map-mask", &mlen);
        ac = addr_cells(&t, node);
        ic = cells(&t, node, "#interrupt-cells", 1);
        if (!map || !mask || ac != 3 || ic != 1 || mlen != 16) return 0;
        /* The child's unit address (PCI binding: bdf in bits 23:8 of the
           first cell) and pin, masked as the map's entries are. */
        key[0] = bdf << 8 & be32(mask);
        key[1] = 0;
        key[2] = 0;
        key[3] = pin & be32(mask + 12);
        /* Each entry: 4 child cells, the parent's phandle, then the
           parent's #address-cells and #interrupt-cells cells. */
        for (i = 0; i + 20 <= len;) {
            int32_t parent = by_phandle(&t, be32(map + i + 16));
            uint32_t pa, pi, match = 1;
            if (parent < 0) return 0;
            pa = cells(&t, parent, "#address-cells", 0);
            pi = cells(&t, parent, "#interrupt-cells", 0);
            if (pa > 3 || pi == 0 || pi > 4 || i + 20 + 4 * (pa + pi) > len) return 0;
            for (k = 0; k < 4; k++) match &= be32(map + i + 4 * k) == key[k];
            if (match) return decode_irq(map + i + 20 + 4 * pa, pi, source, flags);
            i += 20 + 4 * (pa + pi);
        }
        return 0;
    }
    return 0;
}

#define MAX_MMIO 64

/* Sort the virtio-mmio slot addresses and keep the longest evenly spaced
   run from the lowest: the port API describes them as base + i * stride. */
static void mmio_slots(struct port_machine *m, uint64_t *a, uint32_t n)
{
    uint32_t i, j;
    for (i = 1; i < n; i++)
        for (j = i; j > 0 && a[j - 1] > a[j]; j--) {
            uint64_t x = a[j];
            a[j] = a[j - 1];
            a[j - 1] = x;
        }
    if (!n) return;
    m->mmio_base = (uintptr_t)a[0];
    m->mmio_stride = n > 1 ? (uintptr_t)(a[1] - a[0]) : 0x200u;
    for (i = 1; i < n && a[i] - a[i - 1] == m->mmio_stride && a[i] != a[i - 1]; i++) {}
    m->mmio_count = i;
}

static int parse(struct walk *w, struct port_machine *m)
{
    struct port_fdt *t = &w->t;
    const char *stdout_path = 0;
    uint64_t slots[MAX_MMIO], a, s;
    uint32_t nslots = 0, len;
    int32_t node = -1;
    int depth = 0, uart = 0, nodes = 0;   /* uart: 0 none yet, 1 a UART, 2 the chosen one */
    /* /chosen first: stdout-path says which UART is the console. */
    while (port_fdt_next(t, &node, &depth))
        if (depth == 1 && strcmp(port_fdt_name(t, node), "chosen") == 0)
            stdout_path = string_prop(t, node, "stdout-path");
    node = -1;
    depth = 0;
    while (port_fdt_next(t, &node, &depth)) {
        const uint8_t *p;
        w->path[depth] = node;
        w->depth = depth;
        nodes++;
        if (depth == 0) continue;
        if (port_fdt_compatible(t, node, "virtio,mmio")) {
            if (nslots < MAX_MMIO && reg(w, 0, &a, &s) && a + s <= m->addr_limit) slots[nslots++] = a;
        } else if (port_fdt_compatible(t, node, "ns16550a") || port_fdt_compatible(t, node, "arm,pl011")) {
            /* the console named by stdout-path, else the first UART */
            int rank = is_path(w, stdout_path) ? 2 : 1;
            if (rank > uart && reg(w, 0, &a, &s) && a < m->addr_limit) {
                m->uart = (uintptr_t)a;
                uart = rank;
            }
        } else if (port_fdt_compatible(t, node, "pci-host-ecam-generic")) {
            if (!m->pci_ecam) pci_host(w, m);
        } else if (port_fdt_compatible(t, node, "riscv,clint0")) {
            if (reg(w, 0, &a, &s)) m->timer = (uintptr_t)a;
        } else if (port_fdt_compatible(t, node, "sifive,test0")) {
            if (reg(w, 0, &a, &s)) m->poweroff = (uintptr_t)a;
        } else if (port_fdt_compatible(t, node, "arm,psci-0.2") || port_fdt_compatible(t, node, "arm,psci")) {
            const char *method = string_prop(t, node, "method");
            m->psci_smc = method && strcmp(method, "smc") == 0;
        } else if (port_fdt_compatible(t, node, "arm,gic-v2m-frame")) {
            if (!m->msi_base && reg(w, 0, &a, &s) && a + s <= m->addr_limit) m->msi_base = a;
        } else if (port_fdt_prop(t, node, "interrupt-controller", 0) && !m->intc &&
                   !port_fdt_compatible(t, node, "riscv,cpu-intc")) {
            /* the machine's controller (PLIC, GIC), not a CPU's own */
            uint32_t i;
            p = port_fdt_prop(t, node, "phandle", &len);
            m->intc = string_prop(t, node, "compatible");
            m->intc_phandle = p && len == 4 ? be32(p) : 0;
            for (i = 0; i < 2; i++)
                if (reg(w, i, &a, &s)) {
                    m->intc_base[i] = a;
                    m->intc_size[i] = s;
                }
            m->plic_context = machine_context(t, node);
        }
        if (depth == 1 && strcmp(port_fdt_name(t, node), "cpus") == 0) {
            p = port_fdt_prop(t, node, "timebase-frequency", &len);
            if (p && (len == 4 || len == 8)) m->timer_hz = port_fdt_cells(p, len / 4);
        }
    }
    mmio_slots(m, slots, nslots);
    return nodes > 1 && uart;
}

int port_fdt_machine(const void *blob, uint32_t max, struct port_machine *m)
{
    static struct walk w;   /* static: keeps the early stack small */
    return port_fdt_open(&w.t, blob, max) && parse(&w, m);
}

void port_machine_from_fdt(uintptr_t boot_arg, uintptr_t fallback)
{
    struct port_machine m = port_machine;
    uintptr_t at = boot_arg;
    /* A blob of any size up to the limit: its valid header bounds the reads. */
    if (!at || !port_fdt_machine((const void *)at, PORT_FDT_MAX, &m)) {
        m = port_machine;
        at = fallback;
        if (!at || !port_fdt_machine((const void *)at, PORT_FDT_MAX, &m)) {
            port_printf("port: no usable device tree (boot register %p, %p): cannot find the machine's devices\n",
                        (void *)boot_arg, (void *)fallback);
            port_exit(PORT_EXIT_NO_DT);
        }
    }
    m.dtb = (const void *)at;
    port_machine = m;
}

void port_print_machine(const struct port_machine *m)
{
    port_printf("machine: uart=%llx ecam=%llx buses=%u io=%llx ports=%x+%x mem32=%llx+%llx mem64=%llx+%llx "
                "mmio=%llx+%llxx%u intc=%s phandle=%x intc0=%llx+%llx intc1=%llx+%llx context=%u msi=%llx dtb=%p\n",
                (unsigned long long)m->uart, (unsigned long long)m->pci_ecam, m->pci_buses,
                (unsigned long long)m->pci_io_base, m->io_base, m->io_size, (unsigned long long)m->mem32_base,
                (unsigned long long)m->mem32_size, (unsigned long long)m->mem64_base,
                (unsigned long long)m->mem64_size, (unsigned long long)m->mmio_base,
                (unsigned long long)m->mmio_stride, m->mmio_count, m->intc ? m->intc : "-", m->intc_phandle,
                (unsigned long long)m->intc_base[0], (unsigned long long)m->intc_size[0],
                (unsigned long long)m->intc_base[1], (unsigned long long)m->intc_size[1], m->plic_context,
                (unsigned long long)m->msi_base, m->dtb);
}
