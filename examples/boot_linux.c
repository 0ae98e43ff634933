/* boot_linux.c - a bootloader: Linux from a virtio-blk disk, on aarch64 "virt".
 *
 * What it shows: virtio_blk.h as a bootloader uses it. It finds the disk
 * that carries the header below, reads a Linux kernel Image and an
 * initramfs into RAM, verifies their CRC-32s, puts the command line and
 * the initramfs into the device tree QEMU gave it, resets every VirtIO
 * device it used (so nothing writes into RAM that Linux now owns), and
 * enters Linux the way Documentation/arm64/booting.rst asks. On riscv64
 * and x86_64 it only says that it is aarch64-only.
 *
 * Run it (tests/qemu/test_boot.py builds such a disk from Debian's arm64
 * kernel and runs exactly this, over virtio-mmio and virtio-pci):
 *
 *   qemu-system-aarch64 -machine virt,highmem=off -cpu cortex-a57 -m 256M \
 *       -nographic -kernel build/aarch64/boot_linux.elf \
 *       -drive if=none,id=d0,file=disk.img,format=raw -device virtio-blk-device,drive=d0
 *
 * DISK LAYOUT. Sector 0 (the first 512 bytes) is a header, every number
 * little-endian:
 *
 *     0  magic "VTBOOT01"      8 bytes
 *     8  kernel offset         u64, bytes from the start of the disk
 *    16  kernel size           u64, bytes: an uncompressed arm64 Image
 *    24  initramfs offset      u64
 *    32  initramfs size        u64 (0: none)
 *    40  kernel CRC-32         u32 (zlib's CRC-32 of the size bytes)
 *    44  initramfs CRC-32      u32
 *    48  reserved              16 bytes, zero
 *    64  command line          448 bytes, NUL-terminated
 *
 * Offsets are multiples of the disk's logical block size; the payloads
 * need not fill their last block. A disk without this header is skipped
 * (and reset), so the boot disk need not be the first one.
 *
 * MEMORY. QEMU loads this ELF at 0x40200000 and, for a bare-metal ELF
 * (no Linux header), writes its device tree at the start of RAM,
 * 0x40000000, below the ELF; x0 is not set. The port's image, stack and
 * DMA pool follow at 0x40200000 (up to __pool_end, a symbol of its linker
 * script). Above that, each in its own 2 MiB aligned region: the kernel
 * (at text_offset from a 2 MiB boundary, image_size bytes free for it),
 * the initramfs, and the edited copy of the device tree. RAM's end comes
 * from the device tree's /memory node. Linux gets all RAM, this
 * program's included: nothing here is needed after the jump, and the
 * reset devices no longer write into the DMA pool.
 *
 * THE DEVICE TREE. A small editor below (own code) validates QEMU's blob
 * and rebuilds it into the new region with /chosen's bootargs,
 * linux,initrd-start and linux,initrd-end replaced or added (and /chosen
 * created if missing). Every read of the old blob is checked against its
 * header's block sizes and every write against the new region's size.
 */
#define VIRTIO_IMPLEMENTATION
#include "port/port.h"
#include "../virtio_blk.h"

#define MiB (1024u * 1024u)
#define HEADER_MAGIC "VTBOOT01"
#define CMDLINE_OFF 64
#define CMDLINE_MAX 448
#define RAM_BASE 0x40000000u   /* aarch64 virt */
#define QEMU_DTB RAM_BASE      /* where QEMU puts it for a bare-metal ELF */
#define DTB_MAX (2 * MiB)      /* booting.rst: a device tree is at most 2 MiB */
#define DTB_ROOM 4096u         /* what the edit may add: three properties, maybe /chosen */

extern char __pool_end[];      /* the port's linker script: the end of the memory it uses */

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }
static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---- CRC-32 (zlib's: reflected, polynomial 0xedb88320) ----------------- */
static uint32_t crc_table[256];

static uint32_t crc32(const uint8_t *p, uint64_t n)
{
    uint32_t c = 0xffffffffu, i, k;
    if (!crc_table[1])
        for (i = 0; i < 256; i++) {
            for (c = i, k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            crc_table[i] = c;
        }
    for (c = 0xffffffffu; n; n--) c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

/* ---- flattened device tree: a reader and a /chosen editor ----------------
   Devicetree specification v0.4, chapter 5: a 40-byte header, a memory
   reservation block, a structure block of 32-bit big-endian tokens and a
   strings block of property names. */
#define FDT_MAGIC 0xd00dfeedu
#define FDT_BEGIN_NODE 1u
#define FDT_END_NODE 2u
#define FDT_PROP 3u
#define FDT_NOP 4u
#define FDT_END 9u
#define FDT_HEADER 40u

struct fdt {
    const uint8_t *blob;
    uint32_t size;
    const uint8_t *st, *str;   /* structure and strings blocks */
    uint32_t st_size, str_size;
    uint32_t rsv_off;
};

/* One token of the structure block, as fdt_next decodes it. */
struct fdt_tok {
    uint32_t tok;
    const char *name;          /* node name or property name */
    const uint8_t *val;        /* property value */
    uint32_t len;              /* property length */
    uint32_t next;             /* offset of the following token */
};

/* Check the header and that each block lies inside the blob and inside
   `limit` bytes. Returns 0 or -1. */
static int fdt_open(struct fdt *f, const void *blob, uint32_t limit)
{
    const uint8_t *b = (const uint8_t *)blob;
    uint32_t st_off, str_off;
    if (limit < FDT_HEADER || be32(b) != FDT_MAGIC) return -1;
    f->blob = b;
    f->size = be32(b + 4);
    st_off = be32(b + 8);
    str_off = be32(b + 12);
    f->rsv_off = be32(b + 16);
    f->str_size = be32(b + 32);
    f->st_size = be32(b + 36);
    /* version 17 carries size_dt_struct; last compatible version 16 or older */
    if (f->size < FDT_HEADER || f->size > limit || be32(b + 20) < 17 || be32(b + 24) > 17) return -1;
    if (st_off % 4 || f->st_size % 4 || f->rsv_off % 8 || f->rsv_off < FDT_HEADER || f->rsv_off >= f->size) return -1;
    if (st_off > f->size || f->st_size > f->size - st_off || str_off > f->size || f->str_size > f->size - str_off)
        return -1;
    f->st = b + st_off;
    f->str = b + str_off;
    return 0;
}

/* Length of the NUL-terminated string at p, or -1 if no NUL within max. */
static int32_t fdt_strlen(const uint8_t *p, uint32_t max)
{
    uint32_t n;
    for (n = 0; n < max; n++)
        if (!p[n]) return (int32_t)n;
    return -1;
}

/* Decode the token at `off`; returns 0, or -1 if it runs outside the
   structure block or names a string outside the strings block. The next
   offset always grows, so every walk ends within st_size / 4 steps. */
static int fdt_next(const struct fdt *f, uint32_t off, struct fdt_tok *t)
{
    int32_t n;
    uint32_t nameoff, start = off;
    if (f->st_size < 4 || off > f->st_size - 4) return -1;
    t->tok = be32(f->st + off);
    t->name = 0;
    t->val = 0;
    t->len = 0;
    off += 4;
    switch (t->tok) {
    case FDT_BEGIN_NODE:
        if ((n = fdt_strlen(f->st + off, f->st_size - off)) < 0) return -1;
        t->name = (const char *)(f->st + off);
        off += (uint32_t)n + 1;
        break;
    case FDT_PROP:
        if (off > f->st_size - 8) return -1;
        t->len = be32(f->st + off);
        nameoff = be32(f->st + off + 4);
        off += 8;
        if (t->len > f->st_size - off || nameoff >= f->str_size) return -1;
        if (fdt_strlen(f->str + nameoff, f->str_size - nameoff) < 0) return -1;
        t->name = (const char *)(f->str + nameoff);
        t->val = f->st + off;
        off += t->len;
        break;
    case FDT_END_NODE:
    case FDT_NOP:
    case FDT_END:
        break;
    default:
        return -1;
    }
    t->next = (uint32_t)align_up(off, 4);
    return t->next > start && t->next <= f->st_size ? 0 : -1;
}

/* Is name `want` or `want@<unit address>`? Reads no further than name's NUL. */
static int is_node(const char *name, const char *want)
{
    while (*want && *name == *want) name++, want++;
    return !*want && (*name == 0 || *name == '@');
}

static uint64_t cells(const uint8_t *p, uint32_t count)
{
    return count == 2 ? (uint64_t)be32(p) << 32 | be32(p + 4) : be32(p);
}

/* The first range of the first /memory node (a child of the root whose
   device_type is "memory"). Returns 0 or -1. */
static int fdt_memory(const struct fdt *f, uint64_t *base, uint64_t *size)
{
    struct fdt_tok t;
    uint32_t off = 0, ac = 2, sc = 1;   /* the specification's defaults for the root */
    uint32_t reg_len = 0;
    const uint8_t *reg = 0;
    int depth = 0, in_mem = 0, is_mem = 0;
    for (; fdt_next(f, off, &t) == 0 && t.tok != FDT_END; off = t.next) {
        if (t.tok == FDT_BEGIN_NODE) {
            if (++depth == 2) {
                in_mem = is_node(t.name, "memory");
                is_mem = 0;
                reg = 0;
            }
        } else if (t.tok == FDT_END_NODE) {
            if (depth == 2 && in_mem && is_mem && reg && reg_len >= 4 * (ac + sc)) {
                *base = cells(reg, ac);
                *size = cells(reg + 4 * ac, sc);
                return 0;
            }
            if (--depth < 0) return -1;
        } else if (t.tok == FDT_PROP && depth == 1 && t.len == 4) {
            if (strcmp(t.name, "#address-cells") == 0) ac = be32(t.val);
            if (strcmp(t.name, "#size-cells") == 0) sc = be32(t.val);
            if (ac < 1 || ac > 2 || sc < 1 || sc > 2) return -1;
        } else if (t.tok == FDT_PROP && depth == 2 && in_mem) {
            if (strcmp(t.name, "reg") == 0) reg = t.val, reg_len = t.len;
            if (strcmp(t.name, "device_type") == 0 && t.len == 7 && memcmp(t.val, "memory", 7) == 0) is_mem = 1;
        }
    }
    return -1;
}

/* Output with a hard end. Every write checks it; `bad` sticks. */
struct out {
    uint8_t *p;
    uint32_t pos, cap;
    int bad;
};

static void put(struct out *o, const void *src, uint32_t n)
{
    if (o->bad || n > o->cap - o->pos) {
        o->bad = 1;
        return;
    }
    memcpy(o->p + o->pos, src, n);
    o->pos += n;
    while (o->pos % 4 && o->pos < o->cap) o->p[o->pos++] = 0;   /* tokens are 4-byte aligned */
}

static void put_u32(struct out *o, uint32_t v)
{
    uint8_t b[4];
    put_be32(b, v);
    put(o, b, 4);
}

static void put_prop(struct out *o, uint32_t nameoff, const void *val, uint32_t len)
{
    put_u32(o, FDT_PROP);
    put_u32(o, len);
    put_u32(o, nameoff);
    put(o, val, len);
}

/* What goes into /chosen. */
struct chosen {
    const char *bootargs;
    uint64_t initrd_start, initrd_end;   /* end exclusive; start == end: no initramfs */
};

static const char *const chosen_names[3] = {"bootargs", "linux,initrd-start", "linux,initrd-end"};

static void put_chosen(struct out *o, const struct chosen *c, uint32_t str_size)
{
    uint8_t v[8];
    uint32_t i, nameoff[3], at = str_size;
    for (i = 0; i < 3; i++) {   /* the names go after the old strings, in this order */
        nameoff[i] = at;
        at += (uint32_t)strlen(chosen_names[i]) + 1;
    }
    put_prop(o, nameoff[0], c->bootargs, (uint32_t)strlen(c->bootargs) + 1);
    if (c->initrd_end == c->initrd_start) return;
    put_be32(v, (uint32_t)(c->initrd_start >> 32));
    put_be32(v + 4, (uint32_t)c->initrd_start);
    put_prop(o, nameoff[1], v, 8);
    put_be32(v, (uint32_t)(c->initrd_end >> 32));
    put_be32(v + 4, (uint32_t)c->initrd_end);
    put_prop(o, nameoff[2], v, 8);
}

/* Rebuild f into dst[0..cap) with /chosen edited. Returns the new size,
   or 0 if f is malformed or the result does not fit. */
static uint32_t fdt_edit(const struct fdt *f, uint8_t *dst, uint32_t cap, const struct chosen *c)
{
    struct out o;
    struct fdt_tok t;
    uint32_t off = 0, i, st_start, str_start;
    int depth = 0, in_chosen = 0, seen_chosen = 0, seen_root = 0, drop;
    static const uint8_t no_more[16];
    o.p = dst;
    o.cap = cap;
    o.pos = 0;
    o.bad = cap < FDT_HEADER;
    if (o.bad) return 0;
    memset(dst, 0, FDT_HEADER);
    o.pos = FDT_HEADER;
    /* memory reservations: 16-byte entries up to an all-zero one */
    for (i = f->rsv_off;; i += 16) {
        if (i > f->size - 16) return 0;
        put(&o, f->blob + i, 16);
        if (memcmp(f->blob + i, no_more, 16) == 0) break;
    }
    st_start = o.pos;
    for (;; off = t.next) {
        if (fdt_next(f, off, &t) != 0) return 0;
        if (t.tok == FDT_END) break;
        if (t.tok == FDT_NOP) continue;
        if (t.tok == FDT_BEGIN_NODE) {
            if ((depth == 0) != (t.name[0] == 0) || (depth == 0 && seen_root)) return 0;   /* one root, named "" */
            seen_root = 1;
            depth++;
            in_chosen = depth == 2 && strcmp(t.name, "chosen") == 0;
            seen_chosen |= in_chosen;
        } else if (t.tok == FDT_END_NODE) {
            if (depth == 0) return 0;
            if (in_chosen) put_chosen(&o, c, f->str_size);
            if (depth == 1 && !seen_chosen) {   /* no /chosen: add one at the end of the root */
                put_u32(&o, FDT_BEGIN_NODE);
                put(&o, "chosen", 7);
                put_chosen(&o, c, f->str_size);
                put_u32(&o, FDT_END_NODE);
            }
            in_chosen = 0;
            depth--;
        } else if (t.tok == FDT_PROP && in_chosen) {
            for (drop = 0, i = 0; i < 3; i++) drop |= strcmp(t.name, chosen_names[i]) == 0;
            if (drop) continue;
        }
        put(&o, f->st + off, t.next - off);   /* the token as it was */
    }
    if (depth != 0 || !seen_root) return 0;
    put_u32(&o, FDT_END);
    str_start = o.pos;
    put(&o, f->str, f->str_size);
    o.pos = str_start + f->str_size;   /* strings are not padded: names follow directly */
    for (i = 0; i < 3; i++) {
        uint32_t n = (uint32_t)strlen(chosen_names[i]) + 1;
        if (o.bad || n > o.cap - o.pos) return 0;
        memcpy(dst + o.pos, chosen_names[i], n);
        o.pos += n;
    }
    if (o.bad) return 0;
    put_be32(dst, FDT_MAGIC);
    put_be32(dst + 4, o.pos);
    put_be32(dst + 8, st_start);
    put_be32(dst + 12, str_start);
    put_be32(dst + 16, FDT_HEADER);
    put_be32(dst + 20, 17);
    put_be32(dst + 24, 16);
    memcpy(dst + 28, f->blob + 28, 4);   /* boot_cpuid_phys */
    put_be32(dst + 32, o.pos - str_start);
    put_be32(dst + 36, str_start - st_start);
    return o.pos;
}

/* ---- the disk ------------------------------------------------------------ */
struct header {
    uint64_t kernel_off, kernel_size, initrd_off, initrd_size;
    uint32_t kernel_crc, initrd_crc;
    char cmdline[CMDLINE_MAX];
};

static int parse_header(const uint8_t *s, uint32_t block, uint64_t capacity_bytes, struct header *h)
{
    if (memcmp(s, HEADER_MAGIC, 8) != 0) return -1;
    h->kernel_off = le64(s + 8);
    h->kernel_size = le64(s + 16);
    h->initrd_off = le64(s + 24);
    h->initrd_size = le64(s + 32);
    h->kernel_crc = le32(s + 40);
    h->initrd_crc = le32(s + 44);
    memcpy(h->cmdline, s + CMDLINE_OFF, CMDLINE_MAX);
    if (fdt_strlen((const uint8_t *)h->cmdline, CMDLINE_MAX) < 0) return -2;
    if (h->kernel_off % block || h->initrd_off % block) return -2;
    if (h->kernel_size < 64 || h->kernel_off > capacity_bytes || h->kernel_size > capacity_bytes - h->kernel_off) return -2;
    if (h->initrd_off > capacity_bytes || h->initrd_size > capacity_bytes - h->initrd_off) return -2;
    return 0;
}

/* Read len bytes at byte offset off into dst, whole blocks (dst has room
   for the rounded-up length). */
static virtio_result load(virtio_blk *disk, uint64_t off, uint64_t len, void *dst)
{
    return virtio_blk_read(disk, off / 512, dst, (size_t)align_up(len, disk->info.block_size));
}

/* Reset a disk we are done with; a boot goes on only if the device says
   its status is 0 (reset) afterwards. */
static int release(virtio_blk *disk)
{
    virtio_device dev = disk->dev;
    uint32_t status = 0xff;
    virtio_result r = virtio_blk_shutdown(disk), s = virtio_device_status(&dev, &status);
    port_printf("boot_linux: reset virtio-blk: %s, device status %u\n", virtio_result_str(r), (unsigned)status);
    return r == VIRTIO_OK && s == VIRTIO_OK && status == 0 ? 0 : -1;
}

/* ---- entering Linux (aarch64) -------------------------------------------- */
#if defined(__aarch64__)
/* Clean and invalidate [start, end) to the point of coherency: Linux
   starts with the data cache off and must see what we wrote. */
static void dcache_clean(uint64_t start, uint64_t end)
{
    uint64_t ctr, line, a;
    __asm__ volatile("mrs %0, ctr_el0" : "=r"(ctr));
    line = 4u << ((ctr >> 16) & 0xf);   /* CTR_EL0.DminLine: log2 of words */
    for (a = start & ~(line - 1); a < end; a += line) __asm__ volatile("dc civac, %0" : : "r"(a) : "memory");
    __asm__ volatile("dsb sy" : : : "memory");
}

/* booting.rst, "Call the kernel image": x0 = device tree, x1..x3 = 0,
   interrupts masked (DAIF), MMU and data cache off, no stale instruction
   cache entries. The port runs at EL1 with the MMU and caches on: turn
   them off. Everything is identity-mapped, so execution continues at the
   same addresses, and nothing after the switch touches memory. */
static void enter_linux(uint64_t entry, uint64_t dtb) __attribute__((noreturn));
static void enter_linux(uint64_t entry, uint64_t dtb)
{
    register uint64_t x0 __asm__("x0") = dtb;
    register uint64_t x4 __asm__("x4") = entry;
    __asm__ volatile("msr daifset, #0xf\n\t"
                     "mrs x5, sctlr_el1\n\t"
                     "bic x5, x5, #1\n\t"        /* M: MMU off */
                     "bic x5, x5, #4\n\t"        /* C: data cache off */
                     "msr sctlr_el1, x5\n\t"
                     "isb\n\t"
                     "ic iallu\n\t"
                     "dsb nsh\n\t"
                     "isb\n\t"
                     "mov x1, xzr\n\t"
                     "mov x2, xzr\n\t"
                     "mov x3, xzr\n\t"
                     "br x4"
                     :
                     : "r"(x0), "r"(x4)
                     : "x1", "x2", "x3", "x5", "memory");
    __builtin_unreachable();
}
#endif

/* ---- main ---------------------------------------------------------------- */
static int boot(void)
{
    static virtio_device devs[8];
    static virtio_blk disk;
    static uint8_t sector[4096];
    static uint8_t kernel_head[4096];
    struct header h;
    struct chosen c;
    struct fdt qemu_dtb;
    uint64_t ram_base, ram_size, ram_end, kbase, kernel, kend, initrd, dtb, text_offset, image_size, flags;
    uint32_t dtb_size, crc, bs;
    int i, n, found = -1;
    virtio_result r;

    /* QEMU's device tree: where RAM ends. */
    if (fdt_open(&qemu_dtb, (const void *)(uintptr_t)QEMU_DTB, DTB_MAX) != 0 ||
        fdt_memory(&qemu_dtb, &ram_base, &ram_size) != 0) {
        port_printf("boot_linux: no valid device tree at 0x%x\n", QEMU_DTB);
        return 1;
    }
    ram_end = ram_base + ram_size;
    port_printf("boot_linux: device tree at 0x%x, %u bytes; RAM 0x%llx-0x%llx\n", QEMU_DTB, (unsigned)qemu_dtb.size,
                (unsigned long long)ram_base, (unsigned long long)ram_end);

    /* The boot disk: the first virtio-blk device with the header. */
    port_pci_setup();
    n = port_find_devices(VIRTIO_DEVICE_BLOCK, devs, 8);
    for (i = 0; i < n && found < 0; i++) {
        int bad;
        if ((r = virtio_blk_init(&disk, &devs[i], 0)) != VIRTIO_OK) {
            /* init may have got as far as FAILED: leave the device reset */
            port_printf("boot_linux: disk %d: %s; reset: %s\n", i, virtio_result_str(r),
                        virtio_result_str(virtio_device_reset(&devs[i])));
            continue;
        }
        if (disk.info.block_size > sizeof sector) bad = -3;
        else if ((r = virtio_blk_read(&disk, 0, sector, disk.info.block_size)) != VIRTIO_OK) bad = -4;
        else bad = parse_header(sector, disk.info.block_size, disk.info.capacity * 512, &h);
        port_printf("boot_linux: disk %d (%s %s0x%llx): %llu sectors, %s\n", i,
                    disk.dev.transport == VIRTIO_TRANSPORT_MMIO ? "virtio-mmio" : "virtio-pci",
                    disk.dev.legacy ? "legacy " : "",
                    (unsigned long long)(disk.dev.transport == VIRTIO_TRANSPORT_MMIO ? disk.dev.base : disk.dev.bdf),
                    (unsigned long long)disk.info.capacity,
                    bad == 0 ? "boot header" : bad == -1 ? "no boot header" : "bad boot header");
        if (bad == 0) found = i;
        else if (release(&disk) != 0) return 1;
    }
    if (found < 0) {
        port_printf("boot_linux: no boot disk\n");
        return 1;
    }

    /* The kernel's Image header (booting.rst, "Call the kernel image"). */
    if ((r = load(&disk, h.kernel_off, sizeof kernel_head, kernel_head)) != VIRTIO_OK) goto io;
    text_offset = le64(kernel_head + 8);
    image_size = le64(kernel_head + 16);
    flags = le64(kernel_head + 24);
    if (le32(kernel_head + 56) != 0x644d5241u || (flags & 1) || image_size == 0 || text_offset % 4096 ||
        text_offset >= 2 * MiB || h.kernel_size > image_size) {
        port_printf("boot_linux: not a little-endian arm64 Image (or older than Linux 3.17)\n");
        goto fail;
    }

    /* Placement: kernel, initramfs, device tree, each from a 2 MiB boundary
       (reads are whole blocks: bs). A kernel whose flags bit 3 is clear
       wants to sit near the start of RAM; it boots here too, but cannot
       use the RAM below it. */
    bs = disk.info.block_size;
    kbase = align_up((uintptr_t)__pool_end, 2 * MiB);
    kernel = kbase + text_offset;
    kend = kernel + align_up(image_size > h.kernel_size ? image_size : h.kernel_size, bs);
    initrd = align_up(kend, 2 * MiB);
    dtb = align_up(initrd + align_up(h.initrd_size, bs), 2 * MiB);
    dtb_size = qemu_dtb.size + DTB_ROOM + (uint32_t)strlen(h.cmdline);
    /* booting.rst: the initramfs and the kernel within one 1 GiB aligned
       window of at most 32 GiB; all of it inside RAM. */
    if (kbase < ram_base || dtb + dtb_size > ram_end || dtb_size > DTB_MAX ||
        align_up(initrd + h.initrd_size, 1ull << 30) - (kbase & ~((1ull << 30) - 1)) > (32ull << 30)) {
        port_printf("boot_linux: kernel, initramfs and device tree do not fit in RAM\n");
        goto fail;
    }

    if ((r = load(&disk, h.kernel_off, h.kernel_size, (void *)(uintptr_t)kernel)) != VIRTIO_OK) goto io;
    crc = crc32((const uint8_t *)(uintptr_t)kernel, h.kernel_size);
    port_printf("boot_linux: kernel %llu bytes at 0x%llx (image_size %llu, text_offset 0x%llx, flags 0x%llx), crc32 %08x\n",
                (unsigned long long)h.kernel_size, (unsigned long long)kernel, (unsigned long long)image_size,
                (unsigned long long)text_offset, (unsigned long long)flags, (unsigned)crc);
    if (crc != h.kernel_crc) {
        port_printf("boot_linux: kernel crc32 %08x, header says %08x\n", (unsigned)crc, (unsigned)h.kernel_crc);
        goto fail;
    }
    if (h.initrd_size) {
        if ((r = load(&disk, h.initrd_off, h.initrd_size, (void *)(uintptr_t)initrd)) != VIRTIO_OK) goto io;
        crc = crc32((const uint8_t *)(uintptr_t)initrd, h.initrd_size);
        port_printf("boot_linux: initramfs %llu bytes at 0x%llx, crc32 %08x\n", (unsigned long long)h.initrd_size,
                    (unsigned long long)initrd, (unsigned)crc);
        if (crc != h.initrd_crc) {
            port_printf("boot_linux: initramfs crc32 %08x, header says %08x\n", (unsigned)crc, (unsigned)h.initrd_crc);
            goto fail;
        }
    }

    c.bootargs = h.cmdline;
    c.initrd_start = initrd;
    c.initrd_end = initrd + h.initrd_size;
    dtb_size = fdt_edit(&qemu_dtb, (uint8_t *)(uintptr_t)dtb, dtb_size, &c);
    if (!dtb_size) {
        port_printf("boot_linux: cannot edit the device tree\n");
        goto fail;
    }
    port_printf("boot_linux: device tree at 0x%llx, %u bytes, bootargs \"%s\"\n", (unsigned long long)dtb,
                (unsigned)dtb_size, h.cmdline);

    /* Nothing may write into RAM once Linux owns it. */
    if (release(&disk) != 0) return 1;
#if defined(__aarch64__)
    dcache_clean(kernel, kend);
    dcache_clean(initrd, initrd + h.initrd_size);
    dcache_clean(dtb, dtb + dtb_size);
    port_printf("boot_linux: entering Linux at 0x%llx, x0 = 0x%llx\n", (unsigned long long)kernel, (unsigned long long)dtb);
    enter_linux(kernel, dtb);
#else
    return 1;
#endif

io:
    port_printf("boot_linux: disk read: %s\n", virtio_result_str(r));
fail:
    release(&disk);
    return 1;
}

int main(void)
{
    if (strcmp(port_arch(), "aarch64") != 0) {
        port_printf("boot_linux: aarch64 only (this is %s)\n", port_arch());
        return 1;
    }
    return boot();
}
