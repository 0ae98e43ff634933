/* fdt_check.c - the ports' device tree reader (fdt.c) on the host, under
 * ASan and UBSan: what it reads from a real tree, and that damaged trees
 * end the walk instead of faulting or hanging.
 *
 *   cc -g -fsanitize=address,undefined -Iexamples/port \
 *       examples/port/fdt_check.c examples/port/fdt.c -o fdt_check
 *   ./fdt_check tree.dtb LIMIT [COUNT [SEED]]
 *
 * Prints the "machine:" line for tree.dtb as a port whose CPU reaches
 * addresses below LIMIT (hex) would, and the "irq:" lines of the
 * interrupts it finds (tests/qemu/test_examples.py compares both with its
 * own reading of the tree), then damages COUNT copies (random
 * bytes, a short buffer, header fields, property lengths), each in a
 * buffer of exactly its size, walks every node and property of each,
 * reads the layout and looks up the interrupts the ports use, and ends with "damaged: COUNT walked, N accepted". A
 * last blob nests deeper than the reader allows. Exits non-zero only if
 * the intact tree is refused (a sanitizer aborts on its own).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "port.h"

struct port_machine port_machine;
static int quiet;

void port_printf(const char *fmt, ...)
{
    va_list ap;
    if (quiet) return;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
}

void port_exit(int code) { exit(code); }

static uint64_t rng;
static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Everything the generic API offers, over every node: names, a few
   properties, compatible strings. Returns how many nodes it saw. */
static int walk_all(const uint8_t *blob, uint32_t size)
{
    struct port_fdt t;
    int32_t node = -1;
    int depth = 0, nodes = 0;
    uint32_t len;
    if (!port_fdt_open(&t, blob, size)) return 0;
    while (port_fdt_next(&t, &node, &depth) && nodes < 100000) {
        const uint8_t *p = port_fdt_prop(&t, node, "reg", &len);
        if (p && len >= 8) (void)port_fdt_cells(p, 2);
        (void)port_fdt_prop(&t, node, "compatible", 0);
        (void)port_fdt_compatible(&t, node, "virtio,mmio");
        (void)strlen(port_fdt_name(&t, node));
        nodes++;
    }
    return nodes;
}

/* The interrupt lookups the ports make (intc.c): each virtio-mmio slot's
   line, INTA..INTD of PCI slots 0..3 through the host bridge's
   interrupt-map, the arm timer's virtual PPI. Printed for the intact
   tree ("irq: ..." lines, as source/flags), only exercised for damaged
   ones. */
static void irqs(const uint8_t *blob, uint32_t size, const struct port_machine *m, int print)
{
    struct port_fdt t;
    uint32_t i, pin, src, flags;
    if (!port_fdt_open(&t, blob, size)) return;
    for (i = 0; i < m->mmio_count && i < 64; i++) {
        int ok = port_fdt_irq(&t, "virtio,mmio", m->mmio_base + i * m->mmio_stride, 0, &src, &flags);
        if (print && ok) printf("irq: mmio %llx %u/%u\n", (unsigned long long)(m->mmio_base + i * m->mmio_stride), src, flags);
    }
    for (i = 0; i < 4 && m->pci_buses; i++)
        for (pin = 1; pin <= 4; pin++)
            if (port_fdt_pci_irq(&t, i << 3, pin, &src, &flags) && print)
                printf("irq: pci %u.%u %u/%u\n", i, pin, src, flags);
    if (port_fdt_irq(&t, "arm,armv8-timer", 0, 2, &src, &flags) && print) printf("irq: timer %u/%u\n", src, flags);
}

static int layout(const uint8_t *blob, uint32_t size, uint64_t limit, struct port_machine *m)
{
    memset(m, 0, sizeof *m);
    m->addr_limit = limit;
    return port_fdt_machine(blob, size, m);
}

int main(int argc, char **argv)
{
    FILE *f;
    uint8_t *tree, *copy;
    long n;
    uint32_t size, i, count, accepted = 0;
    uint64_t limit;
    struct port_machine m;
    if (argc < 3) {
        fprintf(stderr, "usage: %s tree.dtb LIMIT [COUNT [SEED]]\n", argv[0]);
        return 2;
    }
    f = fopen(argv[1], "rb");
    if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET)) return 2;
    size = (uint32_t)n;
    tree = (uint8_t *)malloc(size);
    if (!tree || fread(tree, 1, size, f) != size) return 2;
    fclose(f);
    limit = strtoull(argv[2], 0, 16);
    count = argc > 3 ? (uint32_t)strtoul(argv[3], 0, 0) : 0;
    rng = argc > 4 ? strtoull(argv[4], 0, 0) | 1 : 0x9e3779b97f4a7c15ull;

    if (!layout(tree, size, limit, &m)) {
        printf("the intact tree was refused\n");
        return 1;
    }
    m.dtb = 0;
    port_print_machine(&m);
    irqs(tree, size, &m, 1);
    printf("nodes: %d\n", walk_all(tree, size));

    quiet = 1;
    for (i = 0; i < count; i++) {
        uint32_t len = size, k, kind = next() % 4;
        if (kind == 1) len = next() % size;   /* a short buffer */
        copy = (uint8_t *)malloc(len ? len : 1);
        memcpy(copy, tree, len);
        if (kind == 0) {   /* random bytes, most in the first 4 KiB (header, nodes) */
            for (k = next() % 8 + 1; k--;) copy[next() % (len < 4096 ? len : 4096)] = (uint8_t)next();
        } else if (kind == 2 && len >= 40) {   /* a header field */
            put32(copy + 4 + 4 * (next() % 9), next() % 3 ? next() : next() % (2 * size));
        } else if (kind == 3 && len >= 40) {   /* a property length, where a PROP token is */
            uint32_t at = ((uint32_t)copy[8] << 24 | (uint32_t)copy[9] << 16 | (uint32_t)copy[10] << 8 | copy[11]) +
                          4 * (next() % 256);
            if (at + 8 <= len) put32(copy + at + 4, next());
        }
        (void)walk_all(copy, len);
        if (layout(copy, len, limit, &m)) {
            accepted++;
            irqs(copy, len, &m, 0);
        }
        free(copy);
    }
    /* Nesting deeper than the reader follows: it must stop, not overflow. */
    {
        uint32_t depth = 64, off = 40, total = 40 + 8 * depth + 4 * depth + 4 + 4, k;
        copy = (uint8_t *)calloc(total, 1);
        put32(copy, 0xd00dfeedu);
        put32(copy + 4, total);
        put32(copy + 8, 40);                 /* structure block */
        put32(copy + 12, total);             /* strings block: empty, at the end */
        put32(copy + 20, 17);
        put32(copy + 24, 16);
        put32(copy + 36, total - 40);
        for (k = 0; k < depth; k++, off += 8) put32(copy + off, 1);   /* BEGIN_NODE "" */
        for (k = 0; k < depth; k++, off += 4) put32(copy + off, 2);   /* END_NODE */
        put32(copy + off, 9);                                         /* END */
        printf("deep: %d nodes walked\n", walk_all(copy, total));
        free(copy);
    }
    quiet = 0;
    printf("damaged: %u walked, %u accepted\n", count, accepted);
    free(tree);
    return 0;
}
