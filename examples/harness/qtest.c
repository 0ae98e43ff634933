/* qtest.c - QEMU qtest client and the virtio_platform over it (qtest.h).
 *
 * Protocol facts this relies on (QEMU 7.2 softmmu/qtest.c): one command
 * per line, words split at single spaces, numbers parsed with base 0;
 * replies are "OK", "OK <value>" (readX: 0x + 16 hex digits; inX: 0x + at
 * least 4 hex digits), "FAIL ..." or "ERR ..."; lines starting with "IRQ"
 * are asynchronous notices (only after irq_intercept_*, which we never
 * send) and are skipped. readX/writeX act on the first CPU's address
 * space, swapped to the target's byte order; inX/outX on the I/O address
 * space, where QEMU aborts for a port above 0xffff, so none is sent.
 */
#define _POSIX_C_SOURCE 200809L
#include "qtest.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u
#define BOUNCE_MAX (64u * 1024u)   /* bytes bounced per dma_map call */
#define REPLY_MS 10000             /* QEMU answers at once; 10 s means it hangs */

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "qtest: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(3);
}

int qtest_open(qtest *t, const char *path)
{
    struct sockaddr_un sa;
    memset(t, 0, sizeof *t);
    t->fd = -1;
    if (strlen(path) >= sizeof sa.sun_path) return -1;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    t->fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (t->fd < 0) return -1;
    if (connect(t->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(t->fd);
        t->fd = -1;
        return -1;
    }
    return 0;
}

void qtest_close(qtest *t)
{
    if (t->fd >= 0) close(t->fd);
    t->fd = -1;
    if (t->ram) munmap(t->ram, t->ram_size);
    free(t->page_used);
    t->ram = NULL;
    t->page_used = NULL;
}

/* Send one command line and return the reply line (without "\n") in buf. */
static void transact(qtest *t, const char *cmd, char *buf, size_t cap)
{
    size_t len = strlen(cmd), off = 0;
    while (off < len) {
        ssize_t n = write(t->fd, cmd + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) die("QEMU closed the qtest socket", strerror(errno));
        off += (size_t)n;
    }
    t->commands++;
    for (;;) {
        char *nl = (char *)memchr(t->in, '\n', t->in_len);
        if (nl) {
            size_t line = (size_t)(nl - t->in);
            int notice = line >= 3 && memcmp(t->in, "IRQ", 3) == 0;
            if (!notice) {
                if (line >= cap) die("reply too long", cmd);
                memcpy(buf, t->in, line);
                buf[line] = 0;
            }
            memmove(t->in, nl + 1, t->in_len - line - 1);
            t->in_len -= line + 1;
            if (!notice) break;
            continue;
        }
        if (t->in_len == sizeof t->in) die("reply too long", cmd);
        {
            struct pollfd pfd;
            ssize_t n;
            pfd.fd = t->fd;
            pfd.events = POLLIN;
            pfd.revents = 0;
            if (poll(&pfd, 1, REPLY_MS) != 1) die("no reply from QEMU", cmd);
            n = read(t->fd, t->in + t->in_len, sizeof t->in - t->in_len);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) die("QEMU closed the qtest socket", cmd);
            t->in_len += (size_t)n;
        }
    }
    if (strncmp(buf, "OK", 2) != 0 || (buf[2] != 0 && buf[2] != ' ')) die(buf, cmd);
}

/* A command whose reply is "OK <number>". */
static uint64_t transact_value(qtest *t, const char *cmd)
{
    char reply[64], *end;
    uint64_t v;
    transact(t, cmd, reply, sizeof reply);
    errno = 0;
    v = strtoull(reply + 2, &end, 0);
    if (reply[2] != ' ' || end == reply + 3 || *end != 0 || errno) die("bad reply", reply);
    return v;
}

static const char *width_letter(unsigned width)
{
    switch (width) {
    case 1: return "b";
    case 2: return "w";
    case 4: return "l";
    case 8: return "q";
    default: die("bad access width", NULL); return "";
    }
}

uint64_t qtest_read(qtest *t, uint64_t addr, unsigned width)
{
    char cmd[64];
    snprintf(cmd, sizeof cmd, "read%s 0x%llx\n", width_letter(width), (unsigned long long)addr);
    return transact_value(t, cmd);
}

void qtest_write(qtest *t, uint64_t addr, unsigned width, uint64_t value)
{
    char cmd[80], reply[64];
    snprintf(cmd, sizeof cmd, "write%s 0x%llx 0x%llx\n", width_letter(width), (unsigned long long)addr,
             (unsigned long long)value);
    transact(t, cmd, reply, sizeof reply);
}

uint32_t qtest_in(qtest *t, uint16_t port, unsigned width)
{
    char cmd[64];
    if (width == 8) die("bad port access width", NULL);
    snprintf(cmd, sizeof cmd, "in%s 0x%x\n", width_letter(width), (unsigned)port);
    return (uint32_t)transact_value(t, cmd);
}

void qtest_out(qtest *t, uint16_t port, unsigned width, uint32_t value)
{
    char cmd[64], reply[64];
    if (width == 8) die("bad port access width", NULL);
    snprintf(cmd, sizeof cmd, "out%s 0x%x 0x%x\n", width_letter(width), (unsigned)port, (unsigned)value);
    transact(t, cmd, reply, sizeof reply);
}

int qtest_map_ram(qtest *t, const char *file, uint64_t base, size_t size, size_t pool_off, size_t pool_size)
{
    struct stat st;
    void *m;
    int fd;
    if ((pool_off | pool_size | base) % PAGE != 0 || pool_size == 0 || pool_off > size ||
        pool_size > size - pool_off)
        return -1;
    fd = open(file, O_RDWR);
    if (fd < 0) return -1;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size < size) {
        close(fd);
        return -1;
    }
    /* MAP_SHARED: QEMU's device models read and write this very memory. */
    m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return -1;
    t->ram = (unsigned char *)m;
    t->ram_base = base;
    t->ram_size = size;
    t->pool_off = pool_off;
    t->pool_pages = pool_size / PAGE;
    t->page_used = (unsigned char *)calloc(t->pool_pages, 1);
    return t->page_used ? 0 : -1;
}

/* First fit: n free pool pages whose device address is a multiple of
   `align` (a power of two; the CPU pointer then is too, both being page
   offsets into the same file). */
static unsigned char *pool_take(qtest *t, size_t n, size_t align, uint64_t *dev)
{
    uint64_t first = t->ram_base + t->pool_off;
    size_t step = align > PAGE ? align / PAGE : 1;
    size_t i = (size_t)(((first + align - 1) & ~(uint64_t)(align - 1)) - first) / PAGE, k;
    for (; i + n <= t->pool_pages; i += step) {
        for (k = 0; k < n && !t->page_used[i + k]; k++) {}
        if (k == n) {
            memset(t->page_used + i, 1, n);
            *dev = first + i * PAGE;
            return t->ram + t->pool_off + i * PAGE;
        }
    }
    return NULL;
}

static void pool_give(qtest *t, const void *ptr, size_t bytes)
{
    size_t first = (size_t)((const unsigned char *)ptr - (t->ram + t->pool_off)) / PAGE;
    memset(t->page_used + first, 0, (bytes + PAGE - 1) / PAGE);
}

static int in_ram(const qtest *t, const void *p, size_t len)
{
    const unsigned char *b = (const unsigned char *)p;
    return b >= t->ram && b < t->ram + t->ram_size && len <= (size_t)(t->ram + t->ram_size - b);
}

/* ---- the platform hooks ---------------------------------------------- */

/* An I/O-space register address is the port number from the BAR plus the
   register's offset: virtio.h hands it to the hook as it is and applies
   pci_io_base only when it accesses ports itself (no hook). qtest_platform
   sets pci_io_base too, as a port would, so a library that added it here
   would be caught. */
static void port_check(uintptr_t addr)
{
    if (addr > 0xffff) die("an I/O register address that is no port number", NULL);
}

static uint32_t hook_reg_read(void *user, int space, uintptr_t addr, unsigned width)
{
    qtest *t = (qtest *)user;
    if (space == VIRTIO_SPACE_IO) {
        port_check(addr);
        if (t->pio_base) return (uint32_t)qtest_read(t, t->pio_base + addr, width);
        return qtest_in(t, (uint16_t)addr, width);
    }
    return (uint32_t)qtest_read(t, addr, width);
}

static void hook_reg_write(void *user, int space, uintptr_t addr, unsigned width, uint32_t value)
{
    qtest *t = (qtest *)user;
    if (space == VIRTIO_SPACE_IO) {
        port_check(addr);
        if (t->pio_base) qtest_write(t, t->pio_base + addr, width, value);
        else qtest_out(t, (uint16_t)addr, width, value);
        return;
    }
    qtest_write(t, addr, width, value);
}

static uint32_t hook_pci_read(void *user, uint32_t bdf, unsigned off, unsigned width)
{
    qtest *t = (qtest *)user;
    if (t->ecam) return (uint32_t)qtest_read(t, t->ecam + ((uint64_t)bdf << 12) + off, width);
    if (off >= 256) return 0xffffffffu;   /* 0xcf8 reaches the first 256 bytes only */
    qtest_out(t, 0xcf8, 4, 0x80000000u | bdf << 8 | (off & 0xfcu));
    return qtest_in(t, (uint16_t)(0xcfc + (off & 3u)), width);
}

static void hook_pci_write(void *user, uint32_t bdf, unsigned off, unsigned width, uint32_t value)
{
    qtest *t = (qtest *)user;
    if (t->ecam) {
        qtest_write(t, t->ecam + ((uint64_t)bdf << 12) + off, width, value);
    } else if (off < 256) {
        qtest_out(t, 0xcf8, 4, 0x80000000u | bdf << 8 | (off & 0xfcu));
        qtest_out(t, (uint16_t)(0xcfc + (off & 3u)), width, value);
    }
}

static void *hook_dma_alloc(void *user, size_t size, size_t align, int kind, uint64_t *dev_addr)
{
    qtest *t = (qtest *)user;
    unsigned char *p;
    if (kind == VIRTIO_MEM_PRIVATE) {
        /* Bookkeeping the device must never reach: the process heap is
           outside guest RAM, so it cannot. */
        void *m = NULL;
        if (posix_memalign(&m, align < sizeof(void *) ? sizeof(void *) : align, size) != 0) return NULL;
        t->private_bytes += size;
        *dev_addr = 0;
        return m;
    }
    p = pool_take(t, (size + PAGE - 1) / PAGE, align, dev_addr);
    if (p) t->dma_bytes += size;
    return p;
}

static void hook_dma_free(void *user, void *ptr, size_t size, int kind)
{
    qtest *t = (qtest *)user;
    if (kind == VIRTIO_MEM_PRIVATE) {
        free(ptr);
        t->private_bytes -= size;
        return;
    }
    pool_give(t, ptr, size);
    t->dma_bytes -= size;
}

static int hook_dma_map(void *user, void *ptr, size_t len, int dir, uint64_t *dev_addr, size_t *mapped)
{
    qtest *t = (qtest *)user;
    size_t n = len < BOUNCE_MAX ? len : BOUNCE_MAX;
    unsigned char *b;
    if (in_ram(t, ptr, len)) {   /* already guest memory: translate */
        *dev_addr = t->ram_base + (uint64_t)((unsigned char *)ptr - t->ram);
        *mapped = len;
        t->translations++;
        return 0;
    }
    b = pool_take(t, (n + PAGE - 1) / PAGE, 1, dev_addr);
    if (!b) return -1;
    if (dir & VIRTIO_DMA_TO_DEVICE) memcpy(b, ptr, n);
    *mapped = n;
    t->bounces++;
    t->bounce_bytes += n;
    return 0;
}

static void hook_dma_unmap(void *user, void *ptr, size_t len, int dir, uint64_t dev_addr)
{
    qtest *t = (qtest *)user;
    unsigned char *b;
    if (in_ram(t, ptr, len)) return;   /* a translation: nothing to undo */
    b = t->ram + (size_t)(dev_addr - t->ram_base);
    if (dir & VIRTIO_DMA_FROM_DEVICE) memcpy(ptr, b, len);
    pool_give(t, b, len);
    t->bounce_bytes -= len;
}

static uint64_t hook_now_us(void *user)
{
    struct timespec ts;
    (void)user;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void hook_idle(void *user)
{
    struct timespec ts;
    (void)user;
    ts.tv_sec = 0;
    ts.tv_nsec = 20000;   /* the device model needs this CPU more than we do */
    nanosleep(&ts, NULL);
}

void qtest_platform(qtest *t, virtio_platform *p)
{
    memset(p, 0, sizeof *p);
    p->user = t;
    p->reg_read = hook_reg_read;
    p->reg_write = hook_reg_write;
    p->pci_read = hook_pci_read;
    p->pci_write = hook_pci_write;
    p->dma_alloc = hook_dma_alloc;
    p->dma_free = hook_dma_free;
    p->dma_map = hook_dma_map;
    p->dma_unmap = hook_dma_unmap;
    p->now_us = hook_now_us;
    p->idle = hook_idle;
    p->pci_io_base = (uintptr_t)t->pio_base;   /* unused with the hooks (see port_check) */
}
