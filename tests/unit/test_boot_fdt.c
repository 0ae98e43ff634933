/* test_boot_fdt.c - the device-tree editor of examples/boot_linux.c, on
 * the host under ASan and UBSan.
 *
 * The example is compiled here as it is (its main renamed, the port's few
 * functions stubbed). Trees are built by a small writer below: the editor
 * must find the memory node, replace /chosen's bootargs and initrd
 * properties or add them (and /chosen itself), keep everything else, and
 * never read outside the blob nor write outside the output it was given,
 * whatever the blob says: every truncation, every byte flipped, random
 * corruption, and every output size too small.
 */
#define _POSIX_C_SOURCE 200809L   /* alarm: a walk that never ends fails the run */
#include <unistd.h>
#define BOOT_LINUX_TEST
int boot_linux_main(void);
#define main boot_linux_main
#include "../../examples/boot_linux.c"
#undef main
#include "unit.h"

/* ---- the port, stubbed: the editor needs none of it -------------------- */
char __pool_end[1];
void port_printf(const char *fmt, ...) { (void)fmt; }
int port_pci_setup(void) { return 0; }
int port_find_devices(uint32_t type, virtio_device *devs, int max)
{
    (void)type, (void)devs, (void)max;
    return 0;
}
const char *port_arch(void) { return "host"; }

/* ---- a tree writer ------------------------------------------------------- */
struct tree {
    uint8_t st[2048], str[512], out[4096];
    uint32_t st_len, str_len;
};

static void w32(struct tree *t, uint32_t v)
{
    put_be32(t->st + t->st_len, v);
    t->st_len += 4;
}

static void wbytes(struct tree *t, const void *p, uint32_t n)
{
    memcpy(t->st + t->st_len, p, n);
    t->st_len += n;
    while (t->st_len % 4) t->st[t->st_len++] = 0;
}

static void begin(struct tree *t, const char *name)
{
    w32(t, FDT_BEGIN_NODE);
    wbytes(t, name, (uint32_t)strlen(name) + 1);
}

static void end(struct tree *t) { w32(t, FDT_END_NODE); }

static void prop(struct tree *t, const char *name, const void *val, uint32_t len)
{
    uint32_t off = 0;
    while (off < t->str_len && strcmp((const char *)t->str + off, name) != 0) off += (uint32_t)strlen((const char *)t->str + off) + 1;
    if (off >= t->str_len) {
        memcpy(t->str + t->str_len, name, strlen(name) + 1);
        t->str_len += (uint32_t)strlen(name) + 1;
    }
    w32(t, FDT_PROP);
    w32(t, len);
    w32(t, off);
    wbytes(t, val, len);
}

static void prop_u32(struct tree *t, const char *name, uint32_t v)
{
    uint8_t b[4];
    put_be32(b, v);
    prop(t, name, b, 4);
}

static void prop_str(struct tree *t, const char *name, const char *v) { prop(t, name, v, (uint32_t)strlen(v) + 1); }

/* The blob: header, one memory reservation, structure, strings. */
static uint32_t finish(struct tree *t)
{
    static const uint8_t rsv[32] = {0, 0, 0, 0, 0x48, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0};
    uint32_t st_off = FDT_HEADER + 32, str_off, total;
    w32(t, FDT_END);
    str_off = st_off + t->st_len;
    total = str_off + t->str_len;
    memset(t->out, 0, FDT_HEADER);
    put_be32(t->out, FDT_MAGIC);
    put_be32(t->out + 4, total);
    put_be32(t->out + 8, st_off);
    put_be32(t->out + 12, str_off);
    put_be32(t->out + 16, FDT_HEADER);
    put_be32(t->out + 20, 17);
    put_be32(t->out + 24, 16);
    put_be32(t->out + 32, t->str_len);
    put_be32(t->out + 36, t->st_len);
    memcpy(t->out + FDT_HEADER, rsv, 32);
    memcpy(t->out + st_off, t->st, t->st_len);
    memcpy(t->out + str_off, t->str, t->str_len);
    return total;
}

/* A tree like QEMU's: root cells, a device with a child, memory, maybe
   /chosen (with an old bootargs and initrd pair, and stdout-path). */
static uint32_t make_tree(struct tree *t, int with_chosen, uint32_t size_cells)
{
    static const uint8_t reg2[16] = {0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0};
    static const uint8_t reg1[12] = {0, 0, 0, 0, 0x40, 0, 0, 0, 0x10, 0, 0, 0};
    memset(t, 0, sizeof *t);
    begin(t, "");
    prop_u32(t, "#address-cells", 2);
    prop_u32(t, "#size-cells", size_cells);
    prop_str(t, "compatible", "linux,dummy-virt");
    begin(t, "pl011@9000000");
    prop_str(t, "compatible", "arm,pl011");
    begin(t, "memory");   /* a child named memory, not the /memory node */
    prop_str(t, "device_type", "memory");
    end(t);
    end(t);
    if (with_chosen) {
        begin(t, "chosen");
        prop_str(t, "bootargs", "old arguments");
        prop_u32(t, "linux,initrd-start", 0x1000);
        prop_str(t, "stdout-path", "/pl011@9000000");
        prop_u32(t, "linux,initrd-end", 0x2000);
        end(t);
    }
    begin(t, "memory@40000000");
    prop_str(t, "device_type", "memory");
    prop(t, "reg", size_cells == 2 ? reg2 : reg1, size_cells == 2 ? 16 : 12);
    end(t);
    end(t);
    return finish(t);
}

/* ---- reading the result back --------------------------------------------- */
struct seen {
    int chosen, bootargs, start, end, stdout_path, pl011, memory;
    char args[256];
    uint64_t initrd_start, initrd_end;
};

static int read_back(const uint8_t *blob, uint32_t size, struct seen *s)
{
    struct fdt f;
    struct fdt_tok t;
    uint32_t off = 0;
    int depth = 0, in_chosen = 0;
    memset(s, 0, sizeof *s);
    if (fdt_open(&f, blob, size) != 0 || f.size != size) return -1;
    for (; fdt_next(&f, off, &t) == 0 && t.tok != FDT_END; off = t.next) {
        if (t.tok == FDT_BEGIN_NODE) {
            depth++;
            in_chosen = depth == 2 && strcmp(t.name, "chosen") == 0;
            s->chosen += in_chosen;
            s->pl011 += depth == 2 && strcmp(t.name, "pl011@9000000") == 0;
            s->memory += depth == 2 && strcmp(t.name, "memory@40000000") == 0;
        } else if (t.tok == FDT_END_NODE) {
            depth--;
            in_chosen = 0;
        } else if (t.tok == FDT_PROP && in_chosen) {
            if (strcmp(t.name, "bootargs") == 0) {
                s->bootargs++;
                if (t.len < sizeof s->args) memcpy(s->args, t.val, t.len);
            }
            if (strcmp(t.name, "linux,initrd-start") == 0 && t.len == 8) s->start++, s->initrd_start = cells(t.val, 2);
            if (strcmp(t.name, "linux,initrd-end") == 0 && t.len == 8) s->end++, s->initrd_end = cells(t.val, 2);
            s->stdout_path += strcmp(t.name, "stdout-path") == 0;
        }
    }
    return t.tok == FDT_END && depth == 0 ? 0 : -1;
}

static const struct chosen want = {"console=ttyAMA0 rdinit=/init", 0x45600000u, 0x45627a11u};

/* ---- the tests -------------------------------------------------------------- */
static void test_memory(void)
{
    static struct tree t;
    struct fdt f;
    uint64_t base = 0, size = 0;
    uint32_t n = make_tree(&t, 1, 2);
    CHECK_EQ(fdt_open(&f, t.out, n), 0);
    CHECK_EQ(fdt_memory(&f, &base, &size), 0);
    CHECK_EQ(base, 0x40000000);
    CHECK_EQ(size, 0x10000000);
    n = make_tree(&t, 0, 1);   /* #size-cells = 1 */
    base = size = 0;
    CHECK_EQ(fdt_open(&f, t.out, n), 0);
    CHECK_EQ(fdt_memory(&f, &base, &size), 0);
    CHECK_EQ(base, 0x40000000);
    CHECK_EQ(size, 0x10000000);
    CHECK_EQ(fdt_open(&f, t.out, n - 1), -1);   /* the header says more than the limit */
}

static void test_edit(int with_chosen)
{
    static struct tree t;
    static uint8_t out[8192];
    struct fdt f;
    struct seen s;
    struct chosen none = want;
    uint64_t base = 0, size = 0;
    uint32_t n = make_tree(&t, with_chosen, 2), m;
    CHECK_EQ(fdt_open(&f, t.out, n), 0);
    m = fdt_edit(&f, out, sizeof out, &want);
    CHECK(m > FDT_HEADER);
    CHECK_EQ(read_back(out, m, &s), 0);
    CHECK_EQ(s.chosen, 1);
    CHECK_EQ(s.bootargs, 1);
    CHECK(strcmp(s.args, want.bootargs) == 0);
    CHECK_EQ(s.start, 1);
    CHECK_EQ(s.end, 1);
    CHECK_EQ(s.initrd_start, want.initrd_start);
    CHECK_EQ(s.initrd_end, want.initrd_end);
    CHECK_EQ(s.stdout_path, with_chosen);   /* other /chosen properties stay */
    CHECK_EQ(s.pl011, 1);
    CHECK_EQ(s.memory, 1);
    CHECK(memcmp(out + FDT_HEADER, t.out + FDT_HEADER, 32) == 0);   /* reservations copied */
    CHECK_EQ(be32(out + 20), 17);
    CHECK_EQ(fdt_open(&f, out, m), 0);
    CHECK_EQ(fdt_memory(&f, &base, &size), 0);
    CHECK_EQ(size, 0x10000000);
    /* No initramfs: bootargs only, old initrd properties gone. */
    none.initrd_end = none.initrd_start;
    CHECK_EQ(fdt_open(&f, t.out, n), 0);
    m = fdt_edit(&f, out, sizeof out, &none);
    CHECK_EQ(read_back(out, m, &s), 0);
    CHECK_EQ(s.bootargs, 1);
    CHECK_EQ(s.start + s.end, 0);
}

/* Every output size below what is needed fails, and writes stay inside
   (each output is a heap block of exactly that size). */
static void test_output_sizes(void)
{
    static struct tree t;
    static uint8_t ref[8192];
    struct fdt f;
    uint32_t n = make_tree(&t, 1, 2), need, cap;
    CHECK_EQ(fdt_open(&f, t.out, n), 0);
    need = fdt_edit(&f, ref, sizeof ref, &want);
    CHECK(need > 0);
    for (cap = 0; cap <= need; cap++) {
        uint8_t *o = (uint8_t *)malloc(cap ? cap : 1);
        uint32_t got = fdt_edit(&f, o, cap, &want);
        if (cap < need) CHECK_EQ(got, 0);
        else CHECK(got == need && memcmp(o, ref, need) == 0);
        free(o);
    }
}

/* A hostile blob: the editor reads only inside it, writes only inside
   its output, and whatever it produces opens as a valid tree. */
static int run_hostile(const uint8_t *blob, uint32_t n)
{
    uint8_t *in = (uint8_t *)malloc(n ? n : 1), *o;
    struct fdt f;
    struct seen s;
    uint64_t base, size;
    uint32_t m, cap = 4096;
    int produced = 0;
    memcpy(in, blob, n);
    if (fdt_open(&f, in, n) == 0) {
        (void)fdt_memory(&f, &base, &size);
        o = (uint8_t *)malloc(cap);
        m = fdt_edit(&f, o, cap, &want);
        if (m) {
            CHECK(m <= cap);
            CHECK_EQ(read_back(o, m, &s), 0);
            CHECK(s.chosen == 1 && s.bootargs == 1 && strcmp(s.args, want.bootargs) == 0);
            produced = 1;
        }
        free(o);
    }
    free(in);
    return produced;
}

/* A blob that is exactly `words` long, in a heap block of that size:
   root, then what the case puts at the very end. */
static uint32_t edge_blob(uint8_t *b, int which)
{
    static struct tree t;
    memset(&t, 0, sizeof t);
    begin(&t, "");
    prop_u32(&t, "#size-cells", 2);
    if (which == 0) {
        begin(&t, "m");   /* a short node name as the last bytes of the blob */
    } else {
        begin(&t, "memory@0");
        prop_str(&t, "device_type", "memory");
        w32(&t, FDT_PROP);   /* reg whose length wraps the offset around */
        w32(&t, 0u - 12u);   /* back onto its own token */
        w32(&t, 0);
    }
    /* strings first, structure last: the structure ends the blob */
    memset(b, 0, FDT_HEADER + 16);
    put_be32(b, FDT_MAGIC);
    put_be32(b + 4, FDT_HEADER + 16 + t.str_len + t.st_len);
    put_be32(b + 8, FDT_HEADER + 16 + t.str_len);
    put_be32(b + 12, FDT_HEADER + 16);
    put_be32(b + 16, FDT_HEADER);
    put_be32(b + 20, 17);
    put_be32(b + 24, 16);
    put_be32(b + 32, t.str_len);
    put_be32(b + 36, t.st_len);
    memcpy(b + FDT_HEADER + 16, t.str, t.str_len);
    memcpy(b + FDT_HEADER + 16 + t.str_len, t.st, t.st_len);
    return FDT_HEADER + 16 + t.str_len + t.st_len;
}

/* The two edges: a node name that ends the blob (a name compared past
   its NUL reads outside), a property length that wraps the offset (a
   walk that goes backwards never ends). Both are refused in bounds. */
static void test_edges(void)
{
    static uint8_t b[1024];
    int which;
    for (which = 0; which < 2; which++) {
        uint32_t n = edge_blob(b, which);
        uint8_t *in = (uint8_t *)malloc(n);
        struct fdt f;
        uint64_t base, size;
        memcpy(in, b, n);
        CHECK_EQ(fdt_open(&f, in, n), 0);
        CHECK_EQ(fdt_memory(&f, &base, &size), -1);
        CHECK_EQ(run_hostile(in, n), 0);
        free(in);
    }
}

static void test_hostile(void)
{
    static struct tree t;
    static uint8_t b[4096];
    uint32_t n = make_tree(&t, 1, 2), i, k;
    static const uint8_t flips[] = {0x01, 0x04, 0x80, 0xff};
    uint32_t seed = 12345, produced = 0, runs = 0;
    for (i = 0; i <= n; i++) run_hostile(t.out, i), runs++;   /* every truncation */
    for (i = 0; i < n; i++)                                     /* every byte, flipped */
        for (k = 0; k < sizeof flips; k++) {
            memcpy(b, t.out, n);
            b[i] ^= flips[k];
            produced += (uint32_t)run_hostile(b, n);
            runs++;
        }
    for (i = 0; i < 20000; i++) {                                /* random words, header included */
        memcpy(b, t.out, n);
        for (k = 0; k < 1 + i % 4; k++) {
            uint32_t at;
            seed = seed * 1103515245u + 12345u;
            at = (seed >> 8) % (n - 3) & ~3u;
            seed = seed * 1103515245u + 12345u;
            put_be32(b + at, i % 3 == 0 ? seed : i % 3 == 1 ? seed % 64 : 0xffffffffu - seed % 16);
        }
        produced += (uint32_t)run_hostile(b, n);
        runs++;
    }
    CHECK(produced > 0);   /* corruption in values (not structure) still edits */
    CHECK(runs > 20000);
}

int main(void)
{
    alarm(60);
    RUN(test_memory(), "boot_linux fdt: /memory with 1 and 2 size cells");
    RUN(test_edit(1), "boot_linux fdt: /chosen bootargs and initrd replaced, the rest kept");
    RUN(test_edit(0), "boot_linux fdt: /chosen added when missing");
    RUN(test_output_sizes(), "boot_linux fdt: every too-small output refused, no write outside");
    RUN(test_edges(), "boot_linux fdt: a name ending the blob, a length wrapping the offset");
    RUN(test_hostile(), "boot_linux fdt: truncated, flipped and random blobs read and write in bounds");
    UNIT_EXIT();
}
