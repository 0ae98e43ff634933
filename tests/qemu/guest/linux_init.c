/* linux_init.c - /init of the initramfs tests/qemu/test_boot.py builds.
 *
 * A static aarch64 or x86-64 Linux program without libc (raw system calls). Linux,
 * started by examples/boot_linux.c, runs it as PID 1. It reports on the
 * console in the guest protocol of tests/qemu/qemu.py:
 *     VT LINUX <release> <version>   Linux reached init (uname)
 *     VT CMDLINE <text>              /proc/cmdline: what the bootloader passed
 *     VT WAIT                        waits for a line on the console
 *     VT MODULE <name> <errno>       each module of /modules.list loaded
 *     VT DISK <path> <bytes>         the boot disk, as Linux's virtio-blk
 *                                    driver sees it (sector 0 holds "VTBOOT01")
 *     VT CRC <offset> <length> <crc32>   regions of it read through that driver
 *     VT END <failures>
 * and powers the machine off. The regions come from the command line:
 * vt.crc=<offset>:<length>,... in decimal bytes. The host compares the
 * CRCs with its disk image. While /init waits, no Linux driver has touched
 * a VirtIO device yet (the transports are modules, loaded after the wait):
 * the host looks at the devices as the bootloader left them.
 *
 *   clang --target=aarch64-linux-gnu (or x86_64-linux-gnu) -nostdlib -static -ffreestanding \
 *       -fno-stack-protector -O2 -fuse-ld=lld -o init linux_init.c
 */
#include <stddef.h>
#include <stdint.h>

#if defined(__aarch64__)
/* include/uapi/asm-generic/unistd.h */
#define SYS_ioctl 29
#define SYS_mount 40
#define SYS_openat 56
#define SYS_close 57
#define SYS_read 63
#define SYS_write 64
#define SYS_pread64 67
#define SYS_sync 81
#define SYS_nanosleep 101
#define SYS_reboot 142
#define SYS_uname 160
#define SYS_finit_module 273
#elif defined(__x86_64__)
/* arch/x86/entry/syscalls/syscall_64.tbl */
#define SYS_read 0
#define SYS_write 1
#define SYS_close 3
#define SYS_ioctl 16
#define SYS_pread64 17
#define SYS_nanosleep 35
#define SYS_uname 63
#define SYS_sync 162
#define SYS_mount 165
#define SYS_reboot 169
#define SYS_openat 257
#define SYS_finit_module 313
#else
#error "aarch64 or x86_64"
#endif

#define AT_FDCWD (-100)
#define O_RDONLY 0
#define EEXIST 17
#define BLKGETSIZE64 0x80081272u   /* _IOR(0x12, 114, size_t) */
#define REBOOT_MAGIC1 0xfee1deadu
#define REBOOT_MAGIC2 672274793u
#define REBOOT_POWER_OFF 0x4321fedcu

static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
#if defined(__aarch64__)
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
    return x0;
#else
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "+a"(n)
                     : "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return n;
#endif
}
#define sys3(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)

/* The compiler may call these. */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n)
{
    unsigned char *p = (unsigned char *)d;
    while (n--) *p++ = (unsigned char)c;
    return d;
}
void *memcpy(void *d, const void *s, size_t n)
{
    unsigned char *p = (unsigned char *)d;
    const unsigned char *q = (const unsigned char *)s;
    while (n--) *p++ = *q++;
    return d;
}

static size_t len(const char *s)
{
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

/* ---- output: one line at a time, in one write ---------------------------- */
static char line[1024];
static size_t at;

static void out(const char *s)
{
    while (*s && at < sizeof line - 2) line[at++] = *s++;
}

static void out_u(uint64_t v, unsigned base, int width)
{
    char b[24];
    int n = 0;
    do {
        b[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (width-- > n && at < sizeof line - 2) line[at++] = '0';
    while (n && at < sizeof line - 2) line[at++] = b[--n];
}

static void out_i(long v)
{
    if (v < 0) {
        out("-");
        v = -v;
    }
    out_u((uint64_t)v, 10, 0);
}

static void flush(void)
{
    line[at++] = '\n';
    sys3(SYS_write, 1, line, at);
    at = 0;
}

/* ---- CRC-32 (zlib's) -------------------------------------------------------- */
static uint32_t table[256];

static uint32_t crc32(uint32_t c, const uint8_t *p, size_t n)
{
    uint32_t i, k, t;
    if (!table[1])
        for (i = 0; i < 256; i++) {
            for (t = i, k = 0; k < 8; k++) t = t & 1 ? 0xedb88320u ^ (t >> 1) : t >> 1;
            table[i] = t;
        }
    c = ~c;
    while (n--) c = table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

/* ---- the steps ------------------------------------------------------------- */
static int failures;
static char cmdline[4096];
static uint8_t buf[65536];

static void fail(const char *what, long err)
{
    out("VT FAIL ");
    out(what);
    out(" ");
    out_i(err);
    flush();
    failures++;
}

static long read_file(const char *path, char *dst, size_t cap)
{
    long fd = sys3(SYS_openat, AT_FDCWD, path, O_RDONLY), n, got = 0;
    if (fd < 0) return fd;
    while ((size_t)got < cap - 1 && (n = sys3(SYS_read, fd, dst + got, cap - 1 - (size_t)got)) > 0) got += n;
    dst[got] = 0;
    sys3(SYS_close, fd, 0, 0);
    return got;
}

static void sleep_ms(long ms)
{
    long ts[2] = {ms / 1000, ms % 1000 * 1000000};
    sys3(SYS_nanosleep, ts, 0, 0);
}

static void load_modules(void)
{
    static char list[4096];
    static char path[256];
    char *p, *e;
    long n = read_file("/modules.list", list, sizeof list), fd, r;
    if (n < 0) {
        fail("modules.list", n);
        return;
    }
    for (p = list; *p; p = e) {
        size_t k;
        for (e = p; *e && *e != '\n'; e++) {}
        if (*e) *e++ = 0;
        if (!*p) continue;
        if (len(p) > sizeof path - 6) {
            fail("module name too long", 0);
            continue;
        }
        memcpy(path, "/lib/", 5);
        for (k = 0; p[k]; k++) path[5 + k] = p[k];
        path[5 + k] = 0;
        fd = sys3(SYS_openat, AT_FDCWD, path, O_RDONLY);
        r = fd < 0 ? fd : sys3(SYS_finit_module, fd, "", 0);
        if (fd >= 0) sys3(SYS_close, fd, 0, 0);
        out("VT MODULE ");
        out(p);
        out(" ");
        out_i(r == -EEXIST ? 0 : -r);
        flush();
        if (r < 0 && r != -EEXIST) failures++;
    }
}

static uint64_t number(const char **s)
{
    uint64_t v = 0;
    while (**s >= '0' && **s <= '9') v = v * 10 + (uint64_t)(*(*s)++ - '0');
    return v;
}

/* CRC of each region named by vt.crc= on the command line. */
static void crc_regions(long fd)
{
    const char *p = cmdline, *key = "vt.crc=";
    size_t k = len(key);
    for (; *p; p++) {
        size_t i;
        for (i = 0; i < k && p[i] == key[i]; i++) {}
        if (i == k && (p == cmdline || p[-1] == ' ')) break;
    }
    if (!*p) {
        fail("no vt.crc= on the command line", 0);
        return;
    }
    for (p += k;;) {
        uint64_t off = number(&p), length, done = 0;
        uint32_t crc = 0;
        if (*p++ != ':') break;
        length = number(&p);
        while (done < length) {
            uint64_t want = length - done > sizeof buf ? sizeof buf : length - done;
            long n = sys6(SYS_pread64, fd, (long)buf, (long)want, (long)(off + done), 0, 0);
            if (n <= 0) {
                fail("pread", n);
                return;
            }
            crc = crc32(crc, buf, (size_t)n);
            done += (uint64_t)n;
        }
        out("VT CRC ");
        out_u(off, 10, 0);
        out(" ");
        out_u(length, 10, 0);
        out(" ");
        out_u(crc, 16, 8);
        flush();
        if (*p != ',') break;
        p++;
    }
}

/* Open the /dev/vd[a-h] whose sector 0 starts with the boot header; its
   name goes to path. Returns the descriptor or a negative errno. */
static long boot_disk(char *path)
{
    static const char magic[8] = {'V', 'T', 'B', 'O', 'O', 'T', '0', '1'};
    long fd, r = -2, n;
    int i, k;
    for (i = 0; i < 8; i++) {
        memcpy(path, "/dev/vda", 9);
        path[7] = (char)('a' + i);
        if ((fd = sys3(SYS_openat, AT_FDCWD, path, O_RDONLY)) < 0) continue;
        n = sys6(SYS_pread64, fd, (long)buf, 512, 0, 0, 0);
        for (k = 0; n == 512 && k < 8 && buf[k] == (uint8_t)magic[k]; k++) {}
        if (k == 8) return fd;
        sys3(SYS_close, fd, 0, 0);
        r = n < 0 ? n : -2;
    }
    return r;
}

static void start(void)
{
    static char uts[6][65];
    static char disk[16];
    uint64_t bytes = 0;
    long r, fd = -1;
    int i;

    sys3(SYS_uname, uts, 0, 0);
    out("VT LINUX ");
    out(uts[2]);
    out(" ");
    out(uts[3]);
    flush();

    if ((r = sys6(SYS_mount, (long)"proc", (long)"/proc", (long)"proc", 0, 0, 0)) < 0) fail("mount /proc", r);
    if ((r = sys6(SYS_mount, (long)"devtmpfs", (long)"/dev", (long)"devtmpfs", 0, 0, 0)) < 0) fail("mount /dev", r);
    if ((r = read_file("/proc/cmdline", cmdline, sizeof cmdline)) < 0) fail("/proc/cmdline", r);
    while (r > 0 && cmdline[r - 1] == '\n') cmdline[--r] = 0;
    out("VT CMDLINE ");
    out(cmdline);
    flush();

    out("VT WAIT");
    flush();
    do r = sys3(SYS_read, 0, buf, sizeof buf);
    while (r > 0 && buf[r - 1] != '\n');

    load_modules();
    /* The driver registers the disks as it probes; devtmpfs then has them.
       Names follow probe order, so find the boot disk by its header. */
    for (i = 0; i < 100 && (fd = boot_disk(disk)) < 0; i++) sleep_ms(100);
    if (fd < 0) {
        fail("no /dev/vd? with the boot header", fd);
    } else {
        if ((r = sys3(SYS_ioctl, fd, BLKGETSIZE64, &bytes)) < 0) fail("BLKGETSIZE64", r);
        out("VT DISK ");
        out(disk);
        out(" ");
        out_u(bytes, 10, 0);
        flush();
        crc_regions(fd);
        sys3(SYS_close, fd, 0, 0);
    }
    out("VT END ");
    out_i(failures);
    flush();
    sys3(SYS_sync, 0, 0, 0);
    sys6(SYS_reboot, REBOOT_MAGIC1, REBOOT_MAGIC2, REBOOT_POWER_OFF, 0, 0, 0);
}

void start_c(void);
void start_c(void)
{
    start();
    for (;;) sleep_ms(1000);   /* power-off failed: PID 1 must not exit */
}

/* The kernel enters with the stack pointer 16-byte aligned, at argc. */
#if defined(__aarch64__)
__asm__(".global _start\n"
        "_start:\n"
        "    mov x29, #0\n"
        "    mov x30, #0\n"
        "    bl start_c\n"
        "    b .\n");
#else
__asm__(".global _start\n"
        "_start:\n"
        "    xor %ebp, %ebp\n"
        "    call start_c\n"
        "    hlt\n");
#endif
