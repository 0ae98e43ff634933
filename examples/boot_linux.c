/* boot_linux.c - a bootloader: Linux from a virtio-blk disk, on aarch64
 * "virt" and x86-64 "q35".
 *
 * What it shows: virtio_blk.h as a bootloader uses it. It finds the disk
 * that carries the header below, reads a Linux kernel and an initramfs
 * into RAM, verifies their CRC-32s, hands Linux the command line, the
 * initramfs and the machine's description the way the architecture's boot
 * protocol asks, resets every VirtIO device it used (so nothing writes
 * into RAM that Linux now owns; it reads the status back), and enters
 * Linux. On riscv64 it only says so.
 *
 * Run it (tests/qemu/test_boot.py builds such disks from Debian's kernels
 * and runs exactly this, over virtio-mmio and virtio-pci):
 *
 *   qemu-system-aarch64 -machine virt,highmem=off -cpu cortex-a57 -m 256M \
 *       -nographic -kernel build/aarch64/boot_linux.elf \
 *       -drive if=none,id=d0,file=disk.img,format=raw -device virtio-blk-device,drive=d0
 *   qemu-system-x86_64 -machine q35 -m 256M -nographic -kernel build/x86_64/boot_linux.elf \
 *       -drive if=none,id=d0,file=disk.img,format=raw -device virtio-blk-pci,drive=d0
 *
 * DISK LAYOUT. Sector 0 (the first 512 bytes) is a header, every number
 * little-endian:
 *
 *     0  magic "VTBOOT01"      8 bytes
 *     8  kernel offset         u64, bytes from the start of the disk
 *    16  kernel size           u64, bytes: an uncompressed arm64 Image, or
 *                              an x86 bzImage (as Debian ships both)
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
 * MEMORY. The port's image, stack and DMA pool come first (up to
 * __pool_end, a symbol of its linker script); everything for Linux goes
 * above, from the next 2 MiB boundary. Linux gets all RAM, this program's
 * included: nothing here is needed after the jump, and the reset devices
 * no longer write into the DMA pool.
 *
 * AARCH64 (Documentation/arm64/booting.rst). QEMU loads this ELF at
 * 0x40200000 and, for a bare-metal ELF (no Linux header), writes its
 * device tree at the start of RAM, 0x40000000, below the ELF; x0 is not
 * set. RAM's end comes from the tree's /memory node. Each in its own
 * 2 MiB aligned region: the Image (at text_offset from a 2 MiB boundary,
 * image_size bytes free for it), the initramfs, and the edited copy of the
 * device tree. A small editor below (own code) validates QEMU's blob and
 * rebuilds it with /chosen's bootargs, linux,initrd-start and
 * linux,initrd-end replaced or added (and /chosen created if missing);
 * every read of the old blob is checked against its header's block sizes
 * and every write against the new region's size. Before the jump: caches
 * cleaned over what Linux reads, MMU and data cache off, interrupts
 * masked, x0 = device tree, x1..x3 = 0.
 *
 * X86-64 (Documentation/x86/boot.rst, 64-bit boot protocol). The bzImage
 * must be relocatable with a 64-bit entry (protocol 2.12+). It is loaded
 * so that its protected-mode part starts at the kernel's alignment with
 * init_size bytes free; then the initramfs, boot_params (the setup header
 * copied from the bzImage, the initramfs, the command line after it) and
 * an e820 map: QEMU's (fw_cfg "etc/e820") with the EBDA and BIOS area,
 * and SeaBIOS's ACPI tables at the top of low RAM, kept reserved (as
 * SeaBIOS's own map would; its int 15h is out of reach from long mode).
 * The entry is the protected-mode start + 0x200, with the port's identity
 * map, interrupts off, a GDT with flat code at 0x10 and data at 0x18, and
 * rsi = boot_params.
 */
#define VIRTIO_IMPLEMENTATION
#include "port/port.h"
#include "../virtio_blk.h"

#if !defined(__aarch64__) && !defined(__x86_64__)
int main(void)
{
    port_printf("boot_linux: aarch64 and x86_64 only (this is %s)\n", port_arch());
    return 1;
}
#else

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

/* Length of the NUL-terminated string at p, or -1 if no NUL within max. */
static int32_t bounded_strlen(const uint8_t *p, uint32_t max)
{
    uint32_t n;
    for (n = 0; n < max; n++)
        if (!p[n]) return (int32_t)n;
    return -1;
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

#if defined(__aarch64__) || defined(BOOT_LINUX_TEST)
/* ---- flattened device tree: a reader and a /chosen editor ----------------
   Devicetree specification v0.4, chapter 5: a 40-byte header, a memory
   reservation block, a structure block of 32-bit big-endian tokens and a
   strings block of property names. */
static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

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
        if ((n = bounded_strlen(f->st + off, f->st_size - off)) < 0) return -1;
        t->name = (const char *)(f->st + off);
        off += (uint32_t)n + 1;
        break;
    case FDT_PROP:
        if (off > f->st_size - 8) return -1;
        t->len = be32(f->st + off);
        nameoff = be32(f->st + off + 4);
        off += 8;
        if (t->len > f->st_size - off || nameoff >= f->str_size) return -1;
        if (bounded_strlen(f->str + nameoff, f->str_size - nameoff) < 0) return -1;
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

#endif

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
    if (bounded_strlen((const uint8_t *)h->cmdline, CMDLINE_MAX) < 0) return -2;
    if (h->kernel_off % block || h->initrd_off % block) return -2;
    if (h->kernel_size < 4096 || h->kernel_off > capacity_bytes || h->kernel_size > capacity_bytes - h->kernel_off) return -2;
    if (h->initrd_off > capacity_bytes || h->initrd_size > capacity_bytes - h->initrd_off) return -2;
    return 0;
}

/* Read len bytes at byte offset off into dst, whole blocks (dst has room
   for the rounded-up length). */
static virtio_result load(virtio_blk *disk, uint64_t off, uint64_t len, void *dst)
{
    return virtio_blk_read(disk, off / 512, dst, (size_t)align_up(len, disk->info.block_size));
}

/* Load a payload and check it against the header's CRC. Returns 0 or -1
   (reported). */
static int load_checked(virtio_blk *disk, const char *what, uint64_t off, uint64_t len, uint64_t at, uint32_t want)
{
    virtio_result r = load(disk, off, len, (void *)(uintptr_t)at);
    uint32_t crc;
    if (r != VIRTIO_OK) {
        port_printf("boot_linux: reading the %s: %s\n", what, virtio_result_str(r));
        return -1;
    }
    crc = crc32((const uint8_t *)(uintptr_t)at, len);
    port_printf("boot_linux: %s %llu bytes at 0x%llx, crc32 %08x\n", what, (unsigned long long)len,
                (unsigned long long)at, (unsigned)crc);
    if (crc == want) return 0;
    port_printf("boot_linux: %s crc32 %08x, header says %08x\n", what, (unsigned)crc, (unsigned)want);
    return -1;
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

/* Where our own memory ends: the kernel and the rest go above, 2 MiB aligned. */
static uint64_t free_ram(void) { return align_up((uintptr_t)__pool_end, 2 * MiB); }

#if defined(__aarch64__)
/* ---- aarch64: Documentation/arm64/booting.rst ----------------------------- */

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

/* "Call the kernel image": x0 = device tree, x1..x3 = 0, interrupts
   masked (DAIF), MMU and data cache off, no stale instruction cache
   entries. The port runs at EL1 with the MMU and caches on: turn them
   off. Everything is identity-mapped, so execution continues at the same
   addresses, and nothing after the switch touches memory. */
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

/* Load the Image and the initramfs, edit the device tree, reset the disk,
   enter Linux. Returns only on failure (the disk reset). */
static int boot_linux(virtio_blk *disk, const struct header *h)
{
    static uint8_t head[4096];
    struct chosen c;
    struct fdt qemu_dtb;
    uint64_t ram_base, ram_size, ram_end, kbase, kernel, kend, initrd, dtb, text_offset, image_size, flags;
    uint32_t dtb_size, bs = disk->info.block_size;
    virtio_result r;

    /* QEMU's device tree: where RAM ends. */
    if (fdt_open(&qemu_dtb, (const void *)(uintptr_t)QEMU_DTB, DTB_MAX) != 0 ||
        fdt_memory(&qemu_dtb, &ram_base, &ram_size) != 0) {
        port_printf("boot_linux: no valid device tree at 0x%x\n", QEMU_DTB);
        goto fail;
    }
    ram_end = ram_base + ram_size;
    port_printf("boot_linux: device tree at 0x%x, %u bytes; RAM 0x%llx-0x%llx\n", QEMU_DTB, (unsigned)qemu_dtb.size,
                (unsigned long long)ram_base, (unsigned long long)ram_end);

    /* The Image header ("Call the kernel image"). */
    if ((r = load(disk, h->kernel_off, sizeof head, head)) != VIRTIO_OK) {
        port_printf("boot_linux: reading the kernel: %s\n", virtio_result_str(r));
        goto fail;
    }
    text_offset = le64(head + 8);
    image_size = le64(head + 16);
    flags = le64(head + 24);
    if (le32(head + 56) != 0x644d5241u || (flags & 1) || image_size == 0 || text_offset % 4096 ||
        text_offset >= 2 * MiB || h->kernel_size > image_size) {
        port_printf("boot_linux: not a little-endian arm64 Image (or older than Linux 3.17)\n");
        goto fail;
    }

    /* Placement: kernel, initramfs, device tree, each from a 2 MiB boundary
       (reads are whole blocks: bs). A kernel whose flags bit 3 is clear
       wants to sit near the start of RAM; it boots here too, but cannot
       use the RAM below it. */
    kbase = free_ram();
    kernel = kbase + text_offset;
    kend = kernel + align_up(image_size > h->kernel_size ? image_size : h->kernel_size, bs);
    initrd = align_up(kend, 2 * MiB);
    dtb = align_up(initrd + align_up(h->initrd_size, bs), 2 * MiB);
    dtb_size = qemu_dtb.size + DTB_ROOM + (uint32_t)strlen(h->cmdline);
    /* booting.rst: the initramfs and the kernel within one 1 GiB aligned
       window of at most 32 GiB; all of it inside RAM. */
    if (kbase < ram_base || dtb + dtb_size > ram_end || dtb_size > DTB_MAX ||
        align_up(initrd + h->initrd_size, 1ull << 30) - (kbase & ~((1ull << 30) - 1)) > (32ull << 30)) {
        port_printf("boot_linux: kernel, initramfs and device tree do not fit in RAM\n");
        goto fail;
    }

    port_printf("boot_linux: arm64 Image: image_size %llu, text_offset 0x%llx, flags 0x%llx\n",
                (unsigned long long)image_size, (unsigned long long)text_offset, (unsigned long long)flags);
    if (load_checked(disk, "kernel", h->kernel_off, h->kernel_size, kernel, h->kernel_crc) != 0 ||
        (h->initrd_size && load_checked(disk, "initramfs", h->initrd_off, h->initrd_size, initrd, h->initrd_crc) != 0))
        goto fail;

    c.bootargs = h->cmdline;
    c.initrd_start = initrd;
    c.initrd_end = initrd + h->initrd_size;
    dtb_size = fdt_edit(&qemu_dtb, (uint8_t *)(uintptr_t)dtb, dtb_size, &c);
    if (!dtb_size) {
        port_printf("boot_linux: cannot edit the device tree\n");
        goto fail;
    }
    port_printf("boot_linux: device tree at 0x%llx, %u bytes\n", (unsigned long long)dtb, (unsigned)dtb_size);
    port_printf("boot_linux: command line \"%s\"\n", h->cmdline);

    /* Nothing may write into RAM once Linux owns it. */
    if (release(disk) != 0) return 1;
    dcache_clean(kernel, kend);
    dcache_clean(initrd, initrd + h->initrd_size);
    dcache_clean(dtb, dtb + dtb_size);
    port_printf("boot_linux: entering Linux at 0x%llx, x0 = 0x%llx\n", (unsigned long long)kernel, (unsigned long long)dtb);
    enter_linux(kernel, dtb);

fail:
    release(disk);
    return 1;
}
#endif

#if defined(__x86_64__)
/* ---- x86-64: Documentation/x86/boot.rst, "64-bit Boot Protocol" ----------- */

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

/* QEMU's fw_cfg on x86: a 16-bit selector port and an 8-bit data port
   that streams the selected item (docs/specs/fw_cfg.rst). */
#define FW_CFG_SELECT 0x510
#define FW_CFG_DATA 0x511
#define FW_CFG_SIGNATURE 0x0000
#define FW_CFG_FILE_DIR 0x0019

static void fw_cfg_read(void *dst, uint32_t n)
{
    uint8_t *p = (uint8_t *)dst;
    while (n--) *p++ = inb(FW_CFG_DATA);
}

/* Select the fw_cfg file `name`; its size goes to *size. Returns 0, or -1
   if there is no fw_cfg or no such file. */
static int fw_cfg_file(const char *name, uint32_t *size)
{
    uint8_t b[64];
    uint32_t count, i;
    outw(FW_CFG_SELECT, FW_CFG_SIGNATURE);
    fw_cfg_read(b, 4);
    if (memcmp(b, "QEMU", 4) != 0) return -1;
    outw(FW_CFG_SELECT, FW_CFG_FILE_DIR);
    fw_cfg_read(b, 4);
    count = be32(b);
    for (i = 0; i < count && i < 4096; i++) {   /* entries: be32 size, be16 select, be16, name[56] */
        fw_cfg_read(b, 64);
        b[63] = 0;
        if (strcmp((const char *)b + 8, name) == 0) {
            *size = be32(b);
            outw(FW_CFG_SELECT, (uint16_t)(b[4] << 8 | b[5]));
            return 0;
        }
    }
    return -1;
}

/* boot_params ("the zero page"), the offsets Linux's boot protocol fixes */
#define BP_ACPI_RSDP 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_HDR 0x1f1             /* the setup header, copied from the bzImage */
#define BP_TYPE_OF_LOADER 0x210
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_CMD_LINE_PTR 0x228
#define BP_E820_TABLE 0x2d0
#define E820_MAX 128
#define E820_RAM 1
#define E820_RESERVED 2

struct e820 {
    uint8_t *table;   /* in boot_params: u64 address, u64 size, u32 type */
    uint32_t n;
};

static void e820_add(struct e820 *m, uint64_t addr, uint64_t size, uint32_t type)
{
    uint8_t *e = m->table + 20 * m->n;
    uint32_t i;
    if (!size || m->n >= E820_MAX) return;
    for (i = 0; i < 8; i++) e[i] = (uint8_t)(addr >> 8 * i), e[8 + i] = (uint8_t)(size >> 8 * i);
    for (i = 0; i < 4; i++) e[16 + i] = (uint8_t)(type >> 8 * i);
    m->n++;
}

/* The lowest address of the ACPI tables SeaBIOS built (RSDP in the BIOS
   area -> RSDT -> each table, and the FADT's FACS and DSDT), or ~0 if
   there are none. *rsdp gets the RSDP's address (0: none). */
static uint64_t acpi_low(uint64_t *rsdp)
{
    const uint8_t *p = 0, *t;
    uint64_t low = ~0ull, a;
    uint32_t i, n, len, k;
    uint8_t sum;
    *rsdp = 0;
    for (a = 0xe0000; a < 0x100000 && !p; a += 16) {
        t = (const uint8_t *)(uintptr_t)a;
        for (sum = 0, k = 0; k < 20; k++) sum = (uint8_t)(sum + t[k]);
        if (memcmp(t, "RSD PTR ", 8) == 0 && sum == 0) p = t;
    }
    if (!p) return low;
    *rsdp = (uintptr_t)p;
    t = (const uint8_t *)(uintptr_t)le32(p + 16);   /* RSDT */
    if (!t || memcmp(t, "RSDT", 4) != 0) return low;
    low = (uintptr_t)t;
    len = le32(t + 4);
    n = len < 36 ? 0 : (len - 36) / 4;
    for (i = 0; i < n && i < 64; i++) {
        const uint8_t *x = (const uint8_t *)(uintptr_t)le32(t + 36 + 4 * i);
        if ((uintptr_t)x < low) low = (uintptr_t)x;
        if (memcmp(x, "FACP", 4) == 0 && le32(x + 4) >= 44) {
            if (le32(x + 36) && le32(x + 36) < low) low = le32(x + 36);   /* FACS */
            if (le32(x + 40) && le32(x + 40) < low) low = le32(x + 40);   /* DSDT */
        }
    }
    return low;
}

/* The memory map for Linux: QEMU's (fw_cfg "etc/e820"), with what the
   BIOS keeps marked reserved: the EBDA up to 1 MiB, and SeaBIOS's tables
   at the top of low RAM (from the lowest ACPI table to the end of that
   RAM range). Returns the number of entries, 0 if there is no map. */
static uint32_t build_e820(uint8_t *bp, uint64_t *top_low, uint64_t *tables)
{
    static uint8_t q[E820_MAX * 20];
    struct e820 m;
    uint32_t size, i;
    uint64_t ebda = (uint64_t)(*(volatile uint16_t *)(uintptr_t)0x40e) << 4, rsdp;
    uint64_t acpi = acpi_low(&rsdp);
    m.table = bp + BP_E820_TABLE;
    m.n = 0;
    *top_low = 0;
    *tables = acpi;
    if (fw_cfg_file("etc/e820", &size) != 0 || size % 20 || size > sizeof q) return 0;
    fw_cfg_read(q, size);
    if (ebda < 0x80000 || ebda >= 0xa0000) ebda = 0x9fc00;   /* BDA word 0x40e: EBDA segment */
    for (i = 0; i < size / 20; i++) {
        uint64_t a = le64(q + 20 * i), n = le64(q + 20 * i + 8), e = a + n, lim;
        uint32_t type = le32(q + 20 * i + 16);
        if (type != E820_RAM) {
            e820_add(&m, a, n, type);
            continue;
        }
        if (a < ebda) e820_add(&m, a, (e < ebda ? e : ebda) - a, E820_RAM);
        if (a < 0x100000 && e > ebda) e820_add(&m, ebda, 0x100000 - ebda, E820_RESERVED);
        if (a < 0x100000) a = 0x100000;
        if (a >= e) continue;
        lim = acpi >= a && acpi < e ? acpi & ~0xfffull : e;   /* the tables and all after them stay the firmware's */
        e820_add(&m, a, lim - a, E820_RAM);
        e820_add(&m, lim, e - lim, E820_RESERVED);
        if (a < (1ull << 32) && lim > *top_low) *top_low = lim;
    }
    bp[BP_E820_ENTRIES] = (uint8_t)m.n;
    memcpy(bp + BP_ACPI_RSDP, &rsdp, 8);
    return m.n;
}

/* Enter the kernel's 64-bit entry: identity mapping (the port maps 64 GiB),
   interrupts off, a GDT with flat code at 0x10 (__BOOT_CS) and data at
   0x18 (__BOOT_DS) loaded into CS, DS, ES, SS; rsi = boot_params. */
static void enter_linux(uint64_t entry, uint64_t boot_params) __attribute__((noreturn));
static void enter_linux(uint64_t entry, uint64_t boot_params)
{
    static const uint64_t gdt[4] = {0, 0, 0x00af9a000000ffffull, 0x00cf92000000ffffull};
    static struct {
        uint16_t pad[3];
        uint16_t limit;
        uint64_t base;
    } gdtr;
    gdtr.limit = sizeof gdt - 1;
    gdtr.base = (uintptr_t)gdt;
    __asm__ volatile("cli\n\t"
                     "lgdt %0\n\t"
                     "mov $0x18, %%eax\n\t"
                     "mov %%eax, %%ds\n\t"
                     "mov %%eax, %%es\n\t"
                     "mov %%eax, %%ss\n\t"
                     "pushq $0x10\n\t"
                     "leaq 1f(%%rip), %%rax\n\t"
                     "pushq %%rax\n\t"
                     "lretq\n"
                     "1:\n\t"
                     "jmp *%1"
                     :
                     : "m"(gdtr.limit), "r"(entry), "S"(boot_params)
                     : "rax", "memory");
    __builtin_unreachable();
}

/* Load the bzImage's kernel and the initramfs, fill boot_params, reset the
   disk, enter Linux. Returns only on failure (the disk reset). */
static int boot_linux(virtio_blk *disk, const struct header *h)
{
    static uint8_t head[4096];
    uint64_t file, kernel, kend, initrd, bp, cmdline, top_low, tables, init_size, align;
    uint32_t setup, version, n, bs = disk->info.block_size;
    uint8_t *p;
    virtio_result r;

    if ((r = load(disk, h->kernel_off, sizeof head, head)) != VIRTIO_OK) {
        port_printf("boot_linux: reading the kernel: %s\n", virtio_result_str(r));
        goto fail;
    }
    /* The setup header: "HdrS", protocol 2.12 or later (64-bit entry
       announced in xloadflags), relocatable. */
    setup = (head[0x1f1] ? head[0x1f1] : 4) + 1u;   /* sectors before the protected-mode kernel */
    version = (uint32_t)head[0x206] | (uint32_t)head[0x207] << 8;
    align = le32(head + 0x230);
    init_size = le32(head + 0x260);
    if (head[0x1fe] != 0x55 || head[0x1ff] != 0xaa || memcmp(head + 0x202, "HdrS", 4) != 0 || version < 0x20c ||
        !(head[0x236] & 1) || !head[0x234] || align < 4096 || (align & (align - 1)) || 0x202u + head[0x201] > 0x280 ||
        setup * 512ull >= h->kernel_size) {
        port_printf("boot_linux: not a relocatable 64-bit bzImage (boot protocol 2.12 or later)\n");
        goto fail;
    }
    if (strlen(h->cmdline) > le32(head + 0x238)) {
        port_printf("boot_linux: command line longer than the kernel takes\n");
        goto fail;
    }

    /* Placement: the file so that its protected-mode part starts aligned
       (init_size bytes free from there), then the initramfs, boot_params
       and the command line. */
    kernel = align_up(free_ram() + setup * 512ull, align);
    file = kernel - setup * 512ull;
    kend = kernel + (init_size > h->kernel_size ? init_size : align_up(h->kernel_size, bs));
    initrd = align_up(kend, 2 * MiB);
    bp = align_up(initrd + align_up(h->initrd_size, bs), 4096);
    cmdline = bp + 4096;
    p = (uint8_t *)(uintptr_t)bp;
    memset(p, 0, 4096);
    if (!build_e820(p, &top_low, &tables)) {
        port_printf("boot_linux: no memory map from fw_cfg\n");
        goto fail;
    }
    if (cmdline + CMDLINE_MAX > top_low || initrd + h->initrd_size > le32(head + 0x22c)) {
        port_printf("boot_linux: kernel, initramfs and boot_params do not fit in RAM\n");
        goto fail;
    }
    port_printf("boot_linux: bzImage: protocol %u.%02u, %u setup sectors, protected mode at 0x%llx, init_size %llu\n",
                version >> 8, version & 0xff, setup - 1, (unsigned long long)kernel, (unsigned long long)init_size);
    port_printf("boot_linux: e820: %u entries, low RAM ends at 0x%llx, ACPI tables from 0x%llx\n",
                (unsigned)p[BP_E820_ENTRIES], (unsigned long long)top_low, (unsigned long long)tables);

    if (load_checked(disk, "kernel", h->kernel_off, h->kernel_size, file, h->kernel_crc) != 0 ||
        (h->initrd_size && load_checked(disk, "initramfs", h->initrd_off, h->initrd_size, initrd, h->initrd_crc) != 0))
        goto fail;

    memcpy(p + BP_HDR, head + BP_HDR, 0x202u + head[0x201] - BP_HDR);
    p[BP_TYPE_OF_LOADER] = 0xff;   /* no assigned loader id */
    n = (uint32_t)strlen(h->cmdline);
    memcpy((char *)(uintptr_t)cmdline, h->cmdline, n + 1);
    put_le32(p + BP_CMD_LINE_PTR, (uint32_t)cmdline);
    put_le32(p + BP_EXT_CMD_LINE_PTR, (uint32_t)(cmdline >> 32));
    put_le32(p + BP_RAMDISK_IMAGE, h->initrd_size ? (uint32_t)initrd : 0);
    put_le32(p + BP_EXT_RAMDISK_IMAGE, h->initrd_size ? (uint32_t)(initrd >> 32) : 0);
    put_le32(p + BP_RAMDISK_SIZE, (uint32_t)h->initrd_size);
    put_le32(p + BP_EXT_RAMDISK_SIZE, (uint32_t)(h->initrd_size >> 32));
    port_printf("boot_linux: boot_params at 0x%llx\n", (unsigned long long)bp);
    port_printf("boot_linux: command line \"%s\"\n", h->cmdline);

    /* Nothing may write into RAM once Linux owns it. */
    if (release(disk) != 0) return 1;
    port_printf("boot_linux: entering Linux at 0x%llx, rsi = 0x%llx\n", (unsigned long long)kernel + 0x200,
                (unsigned long long)bp);
    enter_linux(kernel + 0x200, bp);

fail:
    release(disk);
    return 1;
}
#endif

/* ---- main ---------------------------------------------------------------- */
int main(void)
{
    static virtio_device devs[8];
    static virtio_blk disk;
    static uint8_t sector[4096];
    struct header h;
    int i, n;
    virtio_result r;

    /* The boot disk: the first virtio-blk device with the header. */
    port_pci_setup();
    n = port_find_devices(VIRTIO_DEVICE_BLOCK, devs, 8);
    for (i = 0; i < n; i++) {
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
        if (bad == 0) return boot_linux(&disk, &h);
        if (release(&disk) != 0) return 1;
    }
    port_printf("boot_linux: no boot disk\n");
    return 1;
}
#endif
