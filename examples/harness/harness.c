/* harness.c - a Linux process drives QEMU's real virtio-blk and virtio-net.
 *
 * The emulator-harness user of virtio.h: no guest code at all. QEMU runs
 * its machine with the CPU parked; this program reaches the devices'
 * registers through QEMU's qtest socket and shares guest RAM with QEMU
 * through a file (qtest.h), so the library's rings and buffers live at
 * device addresses that differ from this process's pointers. PCI devices
 * get their BARs from virtio_pci_assign(), as on a machine without
 * firmware.
 *
 * Build and run (riscv64 virt; tests/harness/test_harness.py does this on
 * riscv64, aarch64 and x86_64 with every transport, reading the machine's
 * layout from the device tree QEMU generates):
 *
 *   cc -std=c99 -O2 -o harness examples/harness/harness.c examples/harness/qtest.c
 *   printf '\x73\x00\x50\x10\x6f\xf0\xdf\xff' > park.bin    # wfi; j .-4
 *   truncate -s 64M ram.bin
 *   qemu-system-riscv64 -machine virt,memory-backend=ram0 -m 64M \
 *       -object memory-backend-file,id=ram0,size=64M,mem-path=ram.bin,share=on \
 *       -bios park.bin -nodefaults -display none \
 *       -qtest unix:qt.sock,server=on,wait=off -qtest-log none \
 *       -drive if=none,id=d0,file=disk.img,format=raw \
 *       -device virtio-blk-pci,drive=d0,disable-legacy=on &
 *   ./harness --qtest qt.sock --ram ram.bin:0x80000000:64M --pool 4M:32M \
 *       --transport pci --ecam 0x30000000 --pio 0x03000000 --io 0:0x10000 \
 *       --mem32 0x40000000:0x40000000 --mem64 0x400000000:0x400000000 \
 *       blk-info blk-read 0 4096 first-block.bin
 *
 * Options (numbers in C notation, sizes may end in K or M):
 *   --qtest PATH              QEMU's qtest socket
 *   --ram FILE:BASE:SIZE      the guest RAM file, its guest address and size
 *   --pool OFF:SIZE           the part of RAM this program may use for DMA
 *                             (the rest holds QEMU's firmware and device tree)
 *   --transport mmio|pci      where the devices are (pci: modern, or legacy
 *                             when the device has only that)
 *   --ring auto|split|packed  ring format to ask for
 *   --mmio BASE:STRIDE:COUNT  virtio-mmio slots
 *   --ecam BASE               PCI ECAM (without it: ports 0xcf8/0xcfc)
 *   --pio BASE                where the PCI I/O window appears in memory
 *                             (without it: qtest's port commands, as on x86)
 *   --io BASE:SIZE, --mem32 BASE:SIZE, --mem64 BASE:SIZE, --buses N
 *                             host bridge windows for virtio_pci_assign
 * Commands, run in order (FILE is a host file; frames in frame files are
 * each preceded by their length, 4 bytes big-endian):
 *   blk-info                  capacity, block size, serial, transport
 *   blk-read SECTOR LEN FILE  one blocking read into this process's heap
 *                             (dma_map bounces it), saved to FILE
 *   blk-readv SECTOR N FILE   N 4 KiB reads in flight at once, into buffers
 *                             in guest RAM (dma_map translates), saved
 *   blk-write SECTOR FILE     FILE's bytes, written from the heap
 *   blk-flush
 *   net-info                  MAC, MTU, link
 *   net-send FILE             send FILE's frames, wait until all are sent
 *   net-recv N FILE           receive N frames (10 s at most) into FILE
 * Every command prints one line "HX <command> ok|fail key=value ...",
 * with regs= the number of register accesses (qtest commands) it made;
 * the last line is "HX end ..." with the memory still allocated after
 * every device was shut down (all 0 when nothing leaked).
 */
#define _POSIX_C_SOURCE 200809L
#define VIRTIO_IMPLEMENTATION
#include "../../virtio_blk.h"
#include "../../virtio_net.h"
#include "qtest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static qtest qt;
static virtio_platform plat;
static const char *transport = "mmio";
static uint32_t ring = VIRTIO_RING_AUTO;
static uint64_t mmio_base, mmio_stride, mmio_count;
static virtio_pci_windows windows;
static int pci_assigned;
static virtio_blk disk;
static virtio_net nic;
static int have_disk, have_nic;
static unsigned log_errors, log_warnings;

static void on_log(void *user, int level, int id, const char *text, uint64_t value)
{
    (void)user;
    if (level == VIRTIO_LOG_ERROR) log_errors++;
    if (level == VIRTIO_LOG_WARN) log_warnings++;
    fprintf(stderr, "virtio: level %d id %d %s (0x%llx)\n", level, id, text ? text : "", (unsigned long long)value);
}

/* What the running command reports after "HX <command> ok|fail". */
static char detail[256];
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 1, 2)))
#endif
static void note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
}

static void usage(const char *why)
{
    fprintf(stderr, "harness: %s (the options are described at the top of examples/harness/harness.c)\n", why);
    exit(2);
}

/* "0x10", "64M", "4K" */
static uint64_t number(const char *s)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (end == s) usage("bad number");
    if (*end == 'K') v <<= 10, end++;
    else if (*end == 'M') v <<= 20, end++;
    if (*end != 0 && *end != ':') usage("bad number");
    return v;
}

/* Split "a:b:c" at the colons into up to n fields; returns how many. */
static int fields(char *s, char **out, int n)
{
    int k = 0;
    while (k < n) {
        out[k++] = s;
        s = strchr(s, ':');
        if (!s) break;
        *s++ = 0;
    }
    return k;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Find and probe the first device of `type` on the chosen transport. */
static virtio_result find(uint32_t type, virtio_device *dev)
{
    virtio_result r;
    if (strcmp(transport, "mmio") == 0) {
        uint32_t slot = 0;
        r = virtio_mmio_find(&plat, (uintptr_t)mmio_base, (uintptr_t)mmio_stride, (uint32_t)mmio_count, type, &slot);
        if (r == VIRTIO_OK) r = virtio_mmio_probe(dev, &plat, (uintptr_t)(mmio_base + slot * mmio_stride));
    } else {
        uint32_t bdf = 0, unplaced = 0;
        unsigned long regs = qt.commands;
        if (!pci_assigned) {
            /* No firmware gave the BARs addresses: do it, once. */
            r = virtio_pci_assign(&plat, &windows, &unplaced);
            printf("HX pci-assign %s unplaced=%u regs=%lu\n", r == VIRTIO_OK ? "ok" : "fail", unplaced,
                   qt.commands - regs);
            if (r != VIRTIO_OK) return r;
            pci_assigned = 1;
        }
        r = virtio_pci_find(&plat, type, &bdf);
        if (r == VIRTIO_OK) r = virtio_pci_probe(dev, &plat, bdf);
    }
    return r;
}

static const char *ring_name(const virtio_queue *q) { return q->packed ? "packed" : "split"; }

static virtio_result open_disk(void)
{
    virtio_device dev;
    virtio_blk_options o;
    virtio_result r;
    if (have_disk) return VIRTIO_OK;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    o.max_requests = 64;   /* blk-readv keeps 48 requests in flight (the default is 32) */
    if ((r = find(VIRTIO_DEVICE_BLOCK, &dev)) != VIRTIO_OK) return r;
    if ((r = virtio_blk_init(&disk, &dev, &o)) != VIRTIO_OK) return r;
    have_disk = 1;
    return VIRTIO_OK;
}

static virtio_result open_nic(void)
{
    virtio_device dev;
    virtio_net_options o;
    virtio_result r;
    if (have_nic) return VIRTIO_OK;
    memset(&o, 0, sizeof o);
    o.device.ring = ring;
    if ((r = find(VIRTIO_DEVICE_NET, &dev)) != VIRTIO_OK) return r;
    if ((r = virtio_net_init(&nic, &dev, &o)) != VIRTIO_OK) return r;
    have_nic = 1;
    return VIRTIO_OK;
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (b = (unsigned char *)malloc((size_t)n)) != NULL && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    if (b) *len = (size_t)n;
    fclose(f);
    return b;
}

static int write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = 0;
    return ok ? 0 : -1;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* ---- commands: each returns its result and says more with note() ---- */

static virtio_result cmd_blk_info(char **a)
{
    char serial[21];
    virtio_result r;
    (void)a;
    if ((r = open_disk()) != VIRTIO_OK) return r;
    if ((r = virtio_blk_get_id(&disk, serial)) != VIRTIO_OK) return r;
    note(" capacity=%llu block_size=%u serial=%s transport=%s legacy=%u ring=%s base=0x%llx",
         (unsigned long long)disk.info.capacity, disk.info.block_size, serial,
         disk.dev.transport == VIRTIO_TRANSPORT_PCI ? "pci" : "mmio", disk.dev.legacy, ring_name(&disk.queue),
         (unsigned long long)disk.dev.base);
    return VIRTIO_OK;
}

static virtio_result cmd_blk_read(char **a)
{
    uint64_t sector = number(a[0]);
    size_t len = (size_t)number(a[1]);
    unsigned char *buf;
    virtio_result r;
    unsigned long b0 = qt.bounces;
    if ((r = open_disk()) != VIRTIO_OK) return r;
    buf = (unsigned char *)malloc(len ? len : 1);
    if (!buf) return VIRTIO_ERR_NO_MEMORY;
    memset(buf, 0xa5, len);
    r = virtio_blk_read(&disk, sector, buf, len);
    if (r == VIRTIO_OK && write_file(a[2], buf, len) != 0) r = VIRTIO_ERR_IO;
    free(buf);
    note(" bytes=%zu bounces=%lu", len, qt.bounces - b0);
    return r;
}

static virtio_result cmd_blk_readv(char **a)
{
    uint64_t sector = number(a[0]);
    uint32_t n = (uint32_t)number(a[1]);
    unsigned char *buf = NULL, seen[64];
    void *mem;
    uint64_t dev_addr = 0;
    unsigned long t0 = qt.translations, b0 = qt.bounces;
    uint32_t i, submitted, done = 0, most;
    virtio_result r, w = VIRTIO_OK;
    if ((r = open_disk()) != VIRTIO_OK) return r;
    if (n == 0 || n > 64) return VIRTIO_ERR_INVALID_ARG;
    /* The buffers live in guest RAM: dma_map only translates. */
    if ((r = virtio_alloc(&plat, (size_t)n * 4096u, 4096, VIRTIO_MEM_DMA, &mem, &dev_addr)) != VIRTIO_OK) return r;
    buf = (unsigned char *)mem;
    memset(buf, 0xa5, (size_t)n * 4096u);
    memset(seen, 0, sizeof seen);
    for (i = 0; i < n; i++) {
        virtio_blk_request rq;
        uint32_t k = n - 1 - i;   /* last block first: the order must not matter */
        memset(&rq, 0, sizeof rq);
        rq.op = VIRTIO_BLK_OP_READ;
        rq.flags = i + 1 < n ? VIRTIO_MORE : 0;
        rq.sector = sector + 8u * k;
        rq.buf = buf + (size_t)k * 4096u;
        rq.len = 4096;
        rq.token = seen + k;
        if ((r = virtio_blk_submit(&disk, &rq)) != VIRTIO_OK) break;
    }
    submitted = i;
    most = disk.inflight;
    if (r != VIRTIO_OK) virtio_blk_kick(&disk);   /* those posted with VIRTIO_MORE */
    /* Every request comes back once, in whatever order. */
    while (done < submitted) {
        void *tok = NULL;
        virtio_result res = VIRTIO_OK;
        w = virtio_blk_wait(&disk, &tok, &res);
        if (w != VIRTIO_OK) break;
        done++;
        if ((unsigned char *)tok < seen || (unsigned char *)tok >= seen + n || *(unsigned char *)tok)
            res = VIRTIO_ERR_DEVICE;
        else
            *(unsigned char *)tok = 1;
        if (r == VIRTIO_OK) r = res;
    }
    if (r == VIRTIO_OK) r = w;
    if (r == VIRTIO_OK && write_file(a[2], buf, (size_t)n * 4096u) != 0) r = VIRTIO_ERR_IO;
    /* After a failed wait the device may still own the buffers (a reset
       that did not finish): then they are not given back. */
    if (w == VIRTIO_OK) virtio_free(&plat, buf, (size_t)n * 4096u, VIRTIO_MEM_DMA);
    note(" requests=%u in_flight=%u translations=%lu bounces=%lu", done, most, qt.translations - t0, qt.bounces - b0);
    return r;
}

static virtio_result cmd_blk_write(char **a)
{
    size_t len = 0;
    unsigned char *data;
    virtio_result r;
    unsigned long b0 = qt.bounces;
    if ((r = open_disk()) != VIRTIO_OK) return r;
    if (!(data = read_file(a[1], &len))) return VIRTIO_ERR_INVALID_ARG;
    r = virtio_blk_write(&disk, number(a[0]), data, len);
    free(data);
    note(" bytes=%zu bounces=%lu", len, qt.bounces - b0);
    return r;
}

static virtio_result cmd_blk_flush(char **a)
{
    virtio_result r;
    (void)a;
    if ((r = open_disk()) != VIRTIO_OK) return r;
    r = virtio_blk_flush(&disk);
    note(" flush=%u", disk.info.flush);
    return r;
}

static virtio_result cmd_net_info(char **a)
{
    const uint8_t *m;
    virtio_result r;
    (void)a;
    if ((r = open_nic()) != VIRTIO_OK) return r;
    m = nic.info.mac;
    note(" mac=%02x:%02x:%02x:%02x:%02x:%02x mtu=%u link=%u transport=%s legacy=%u ring=%s base=0x%llx", m[0],
         m[1], m[2], m[3], m[4], m[5], nic.info.mtu, nic.info.link_up,
         nic.dev.transport == VIRTIO_TRANSPORT_PCI ? "pci" : "mmio", nic.dev.legacy, ring_name(&nic.rx),
         (unsigned long long)nic.dev.base);
    return VIRTIO_OK;
}

static virtio_result cmd_net_send(char **a)
{
    size_t len = 0, off = 0;
    unsigned char *data;
    uint32_t frames = 0, full = 0;
    uint64_t deadline = now_ms() + 10000;
    virtio_result r;
    if ((r = open_nic()) != VIRTIO_OK) return r;
    if (!(data = read_file(a[0], &len))) return VIRTIO_ERR_INVALID_ARG;
    while (r == VIRTIO_OK && off + 4 <= len) {
        size_t n = (size_t)data[off] << 24 | (size_t)data[off + 1] << 16 | (size_t)data[off + 2] << 8 | data[off + 3];
        if (n > len - off - 4) {
            r = VIRTIO_ERR_INVALID_ARG;
            break;
        }
        r = virtio_net_send(&nic, data + off + 4, n, 0);
        if (r == VIRTIO_ERR_NO_SPACE && now_ms() < deadline) {   /* ring full: let the device catch up */
            full++;
            plat.idle(plat.user);
            r = virtio_net_reclaim(&nic, NULL);
            continue;
        }
        off += 4 + n;
        frames++;
    }
    free(data);
    /* Sent means the device gave every buffer back: it has passed the
       frames to the backend (a reset now would drop them otherwise). */
    while (r == VIRTIO_OK && nic.tx.num_free != nic.tx.size) {
        if (now_ms() > deadline) r = VIRTIO_ERR_TIMEOUT;
        else plat.idle(plat.user), r = virtio_net_reclaim(&nic, NULL);
    }
    note(" frames=%u ring_full=%u", frames, full);
    return r;
}

static virtio_result cmd_net_recv(char **a)
{
    uint32_t want = (uint32_t)number(a[0]);
    static unsigned char frame[65536];
    unsigned char *all = NULL;
    size_t used = 0;
    uint32_t got = 0;
    uint64_t deadline = now_ms() + 10000;
    virtio_result r;
    if ((r = open_nic()) != VIRTIO_OK) return r;
    while (got < want) {
        virtio_net_frame f;
        r = virtio_net_receive(&nic, frame, sizeof frame, &f);
        if (r == VIRTIO_EMPTY) {
            if (now_ms() > deadline) {
                r = VIRTIO_ERR_TIMEOUT;
                break;
            }
            plat.idle(plat.user);
            continue;
        }
        if (r != VIRTIO_OK) break;
        {
            unsigned char *grown = (unsigned char *)realloc(all, used + 4 + f.len);
            if (!grown) {
                r = VIRTIO_ERR_NO_MEMORY;
                break;
            }
            all = grown;
        }
        put_be32(all + used, f.len);
        memcpy(all + used + 4, f.data, f.len);
        used += 4 + f.len;
        got++;
    }
    if (r == VIRTIO_OK && write_file(a[1], all ? all : frame, used) != 0) r = VIRTIO_ERR_IO;
    free(all);
    note(" frames=%u", got);
    return r;
}

static const struct {
    const char *name;
    int args;
    virtio_result (*run)(char **args);
} commands[] = {
    { "blk-info", 0, cmd_blk_info },   { "blk-read", 3, cmd_blk_read },   { "blk-readv", 3, cmd_blk_readv },
    { "blk-write", 2, cmd_blk_write }, { "blk-flush", 0, cmd_blk_flush }, { "net-info", 0, cmd_net_info },
    { "net-send", 1, cmd_net_send },   { "net-recv", 2, cmd_net_recv },
};

int main(int argc, char **argv)
{
    const char *sock = NULL;
    char *ram[3] = { NULL, NULL, NULL }, *f[3];
    uint64_t pool_off = 0, pool_size = 0;
    int i, failed = 0;

    memset(&windows, 0, sizeof windows);
    memset(&qt, 0, sizeof qt);
    for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        const char *o = argv[i];
        char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage("option without value");
        if (strcmp(o, "--qtest") == 0) sock = v;
        else if (strcmp(o, "--ram") == 0 && fields(v, ram, 3) == 3) {}
        else if (strcmp(o, "--pool") == 0 && fields(v, f, 2) == 2) pool_off = number(f[0]), pool_size = number(f[1]);
        else if (strcmp(o, "--transport") == 0 && (strcmp(v, "mmio") == 0 || strcmp(v, "pci") == 0)) transport = v;
        else if (strcmp(o, "--ring") == 0)
            ring = strcmp(v, "packed") == 0 ? VIRTIO_RING_PACKED : strcmp(v, "split") == 0 ? VIRTIO_RING_SPLIT
                                                                                             : VIRTIO_RING_AUTO;
        else if (strcmp(o, "--mmio") == 0 && fields(v, f, 3) == 3)
            mmio_base = number(f[0]), mmio_stride = number(f[1]), mmio_count = number(f[2]);
        else if (strcmp(o, "--ecam") == 0) qt.ecam = number(v);
        else if (strcmp(o, "--pio") == 0) qt.pio_base = number(v);
        else if (strcmp(o, "--io") == 0 && fields(v, f, 2) == 2)
            windows.io_base = (uint32_t)number(f[0]), windows.io_size = (uint32_t)number(f[1]);
        else if (strcmp(o, "--mem32") == 0 && fields(v, f, 2) == 2)
            windows.mem_base = number(f[0]), windows.mem_size = number(f[1]);
        else if (strcmp(o, "--mem64") == 0 && fields(v, f, 2) == 2)
            windows.mem64_base = number(f[0]), windows.mem64_size = number(f[1]);
        else if (strcmp(o, "--buses") == 0) plat.pci_buses = (uint32_t)number(v);
        else usage(o);
    }
    if (!sock || !ram[2] || !pool_size) usage("--qtest, --ram and --pool are needed");
    {
        uint64_t ecam = qt.ecam, pio = qt.pio_base;
        uint32_t buses = plat.pci_buses;
        if (qtest_open(&qt, sock) != 0) usage("cannot connect to the qtest socket");
        qt.ecam = ecam, qt.pio_base = pio;
        qtest_platform(&qt, &plat);
        plat.pci_buses = buses;
        if (windows.mem_size || windows.mem64_size || windows.io_size)
            plat.pci_windows = &windows;   /* the probe uses only BARs that virtio_pci_assign placed there */
    }
    if (qtest_map_ram(&qt, ram[0], number(ram[1]), (size_t)number(ram[2]), (size_t)pool_off, (size_t)pool_size) != 0)
        usage("cannot map the RAM file (or the pool is not inside it)");
    plat.log = on_log;

    while (i < argc) {
        const char *c = argv[i++];
        unsigned long regs = qt.commands;
        virtio_result r;
        size_t k;
        for (k = 0; k < sizeof commands / sizeof commands[0] && strcmp(c, commands[k].name) != 0; k++) {}
        if (k == sizeof commands / sizeof commands[0]) usage(c);
        if (argc - i < commands[k].args) usage("command needs more arguments");
        detail[0] = 0;
        r = commands[k].run(argv + i);
        i += commands[k].args;
        if (r != VIRTIO_OK) failed = 1;
        printf("HX %s %s%s%s regs=%lu\n", c, r == VIRTIO_OK ? "ok" : "fail ",
               r == VIRTIO_OK ? "" : virtio_result_str(r), detail, qt.commands - regs);
        fflush(stdout);
    }

    if (have_disk && virtio_blk_shutdown(&disk) != VIRTIO_OK) failed = 1;
    if (have_nic && virtio_net_shutdown(&nic) != VIRTIO_OK) failed = 1;
    printf("HX end %s regs=%lu dma_left=%zu private_left=%zu bounce_left=%zu log_errors=%u log_warnings=%u\n",
           failed ? "fail" : "ok", qt.commands, qt.dma_bytes, qt.private_bytes, qt.bounce_bytes, log_errors,
           log_warnings);
    qtest_close(&qt);
    return failed;
}
