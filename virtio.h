/* SPDX-License-Identifier: MIT OR Unlicense */
#if defined(VIRTIO_IMPLEMENTATION) && !defined(VIRTIO_CORE_IMPLEMENTATION)
#define VIRTIO_CORE_IMPLEMENTATION
#endif
#ifndef VIRTIO_H
#define VIRTIO_H
/*
virtio.h - v0.3.11 - portable VirtIO core: transports and virtqueues - MIT OR Unlicense

The core of a single-header VirtIO driver stack for bare-metal kernels,
bootloaders and test guests. It speaks every common VirtIO transport
(virtio-mmio version 1 and 2, virtio-pci modern and legacy) and both ring
formats (split and packed), and gives the device drivers in virtio_blk.h,
virtio_net.h, virtio_input.h, virtio_gpu.h, virtio_console.h and
virtio_rng.h one device object and one queue object to build on. It needs
no C library and allocates nothing on its own: memory comes from hooks in
a platform struct you fill.

QUICK START

    // In exactly one C or C++ file:
    #define VIRTIO_IMPLEMENTATION
    #include "virtio_blk.h"        // pulls in virtio.h

    static void *my_alloc(void *user, size_t size, size_t align, int kind,
                          uint64_t *dev_addr);    // from your DMA pool
    static virtio_platform plat;                  // zero = defaults
    static virtio_pci_windows win;
    static virtio_device dev;
    static virtio_blk disk;
    static uint8_t buf[4096];
    uint32_t bdf = 0;

    plat.dma_alloc = my_alloc;
    plat.pci_ecam  = 0x30000000;                  // riscv64 "virt"
    plat.pci_buses = 256;                         // its ECAM's buses (bridges)
    win.mem_base   = 0x40000000;                  // without firmware: give
    win.mem_size   = 0x40000000;                  // the BARs addresses (x86:
    virtio_pci_assign(&plat, &win, NULL);         // SeaBIOS did, skip this)
    plat.pci_windows = &win;                      // no BAR outside is used
                                                  // (x86: firmware's, or NULL)
    if (virtio_pci_find(&plat, VIRTIO_DEVICE_BLOCK, &bdf) == VIRTIO_OK &&
        virtio_pci_probe(&dev, &plat, bdf) == VIRTIO_OK &&
        virtio_blk_init(&disk, &dev, NULL) == VIRTIO_OK)
        virtio_blk_read(&disk, 0, buf, sizeof buf);

Every other file that calls the library includes the headers without the
define. Defining VIRTIO_IMPLEMENTATION before including several driver
headers, in any order, emits the core once and each driver once.

CONFIGURATION

    macro                          default          scope
    VIRTIO_IMPLEMENTATION          -                emit core + every driver header included
    VIRTIO_CORE_IMPLEMENTATION     -                emit only the core (split builds)
    VIRTIO_STATIC                  -                all functions static (one-TU builds)
    VIRTIO_API                     extern           linkage of every public function
    VIRTIO_DEBUG                   -                VIRTIO_ASSERT traps on broken invariants
    VIRTIO_ASSERT(c)               no-op            global; internal invariants only
    VIRTIO_MEMCPY(d,s,n)           __builtin_memcpy global; byte loop without GCC/Clang
    VIRTIO_MEMSET(d,v,n)           __builtin_memset global; byte loop without GCC/Clang
    VIRTIO_NO_STDINT               -                you provide uint8_t..uint64_t, uintptr_t, size_t
    VIRTIO_BIG_ENDIAN              from compiler    global; 0/1: the CPU's byte order, for a
                                                    compiler that does not say (tests also use
                                                    it to play a big-endian guest on a host)
    VIRTIO_DIRECT_REGS             -                impl-only; plain volatile register access,
                                                    the reg_read/reg_write hooks are ignored
    VIRTIO_NO_MMIO                 -                impl-only; virtio-mmio compiled out
    VIRTIO_NO_PCI                  -                impl-only; virtio-pci compiled out
    VIRTIO_NO_LEGACY               -                impl-only; MMIO v1 and legacy PCI compiled out
    VIRTIO_NO_PACKED               -                impl-only; packed rings compiled out
    VIRTIO_NO_INDIRECT             -                impl-only; indirect descriptors compiled out
                                                    (never negotiated; queue tables not allocated)
    VIRTIO_NO_EVENT_IDX            -                impl-only; event index compiled out (never
                                                    negotiated: flag-based suppression only)
    VIRTIO_NO_DMA_MAP              -                impl-only; caller buffers go to the device at
                                                    their CPU address; the dma_map/dma_unmap hooks
                                                    are compiled out and a platform that sets them
                                                    is refused at probe (VIRTIO_ERR_INVALID_ARG);
                                                    drivers drop their unmap lists: define it
                                                    alike wherever an implementation is emitted
    VIRTIO_NO_MSIX                 -                impl-only; MSI-X compiled out: the
                                                    virtio_pci_msix_* calls answer
                                                    VIRTIO_ERR_UNSUPPORTED (INTx or polling)
    VIRTIO_NO_STRINGS              -                impl-only; no result or log texts
    VIRTIO_NO_LOG                  -                impl-only; the log hook is never called
    VIRTIO_MAX_QUEUE_SIZE          1024             impl-only; ring entries ever used per queue
    VIRTIO_SPIN_LIMIT              200000000        impl-only; wait bound without a clock

Compiled-out parts answer VIRTIO_ERR_UNSUPPORTED, so translation units built
with different macros still link and agree on every struct layout. None of
them removes a check of the device. The smallest build, for boot stages,
is one transport (VIRTIO_NO_PCI or VIRTIO_NO_MMIO) with VIRTIO_NO_LEGACY,
VIRTIO_NO_PACKED, VIRTIO_NO_INDIRECT, VIRTIO_NO_EVENT_IDX, VIRTIO_NO_DMA_MAP,
VIRTIO_NO_MSIX, VIRTIO_DIRECT_REGS, VIRTIO_NO_STRINGS and VIRTIO_NO_LOG
(virtio_blk.h, BOOT STAGES, has the sizes). Under
cl.exe (and clang in MSVC mode) the implementation includes <intrin.h> for
barriers and port I/O.

PLATFORM CONTRACT

virtio_platform is filled once by the caller and must outlive every device
that uses it. All-zero fields mean "default"; only dma_alloc is mandatory.

  registers   reg_read/reg_write: 1, 2 or 4-byte access to device
              registers (64-bit registers are written as two 32-bit
              halves, low first). Values are in CPU byte order. Addresses
              are bus addresses exactly as the device presents them: the
              MMIO base you probed plus an offset, or a BAR's value plus an
              offset; for VIRTIO_SPACE_IO (legacy virtio-pci) the raw port
              number (pci_io_base is NOT added when a hook is set). NULL:
              volatile access at that address for MEM; for IO, memory at
              pci_io_base + port when pci_io_base is set, else x86 in/out
              instructions. Every address lies inside a window the probe
              validated (see UNTRUSTED DEVICE).
  PCI config  pci_read/pci_write: configuration space of function bdf
              (bus << 8 | device << 3 | function). NULL: ECAM at pci_ecam
              (a CPU pointer: ECAM bypasses reg_read) when set, else the
              x86 0xCF8/0xCFC ports. A harness that routes everything sets
              pci_read/pci_write. pci_buses bounds the bus scans of
              virtio_pci_find and virtio_pci_assign (0 means 1 bus: set
              the buses the configuration space reaches, an ECAM's size
              / 1 MiB or 256 for the x86 ports, to see behind bridges).
              pci_windows: the host bridge windows; when set, the probe
              uses a BAR only if it lies wholly inside the window of its
              kind (I/O; memory: either memory window), so a function that
              reports a BAR over RAM (a host lying in a confidential guest,
              a firmware bug) is refused instead of written to. NULL: BAR
              addresses are believed, as firmware left them.
  DMA         dma_alloc: returns the CPU pointer and the device address of
              `size` bytes; `align` applies to both (checked: a misaligned
              answer is freed and counts as no memory). Zeroing is not
              required. kind VIRTIO_MEM_DMA must be device-visible and
              coherent (rings, request headers); VIRTIO_MEM_PRIVATE is
              driver bookkeeping that the device must NOT be able to reach
              (in a confidential guest: private memory; elsewhere the same
              pool is fine). Each driver's MEMORY section lists its
              allocations; with default options on modern transports none
              is larger than 4096 bytes. dma_free may be NULL (memory is
              then leaked on shutdown, the usual bootloader choice).
              dma_map/dma_unmap: translate a caller buffer for one transfer;
              may return any nonzero prefix (a page, say), and is called
              again for the rest; dma_unmap comes once per piece. This is
              also the place for cache maintenance and bounce buffers.
              NULL: device address == (uintptr_t)pointer, one piece,
              nothing to undo.
  barriers    mb/rmb/wmb: NULL selects the built-in ones for x86, Arm,
              RISC-V, MIPS and Power (32 and 64 bit, GCC, Clang and
              cl.exe); other targets fail to compile unless
              VIRTIO_PLATFORM_BARRIERS is defined, and then all three
              hooks are mandatory. Hooks must order memory as a device
              sees it, not only between CPUs (the library accepts
              ORDER_PLATFORM on that promise).
  time        now_us: a monotonic microsecond clock. With it every wait is
              bounded by timeout_ms (0 = 5000); without it by a spin count
              (VIRTIO_SPIN_LIMIT polls: with slow register hooks that can be
              very long, so give harnesses a clock). idle, when set, is
              called in every wait loop (a pause, wfi, or a scheduler
              yield). A wait polls ring memory, reads now_us every 16th
              poll and the device status every 10 ms of that clock (every
              1024 polls without one): its register traffic is a function
              of time, not of how fast the loop spins. A reset waits for
              the status to read 0, reading it each poll.
  log         log(level, id, text, value): diagnostics; NULL is silent.
              text is NULL under VIRTIO_NO_STRINGS. value is a number for
              the reader, whose meaning depends on the call: the device
              type, a queue index, the offending value, a PCI function.
              Print it; do not decide on it.
  flags       VIRTIO_PLATFORM_FORCE_ACCESS_PLATFORM: refuse devices that do
              not offer ACCESS_PLATFORM (confidential guests).

PCI without firmware (riscv64 or aarch64 virt with -bios none, harnesses):
virtio_pci_assign gives every BAR an address from the host bridge windows
you describe (numbering the buses behind PCI-PCI bridges) and turns
decoding and bus mastering on; then probe.

ERRORS

Every public function returns a virtio_result: VIRTIO_OK (0), a positive
non-error status (VIRTIO_EMPTY: "nothing to report yet"), or a negative
error. virtio_result_str() names any value. Out-parameters are written
only on VIRTIO_OK (virtio_device_status also on VIRTIO_ERR_NEEDS_RESET,
virtio_pci_assign's count also on VIRTIO_ERR_NO_SPACE); an out-parameter
that reports a value may be NULL, a buffer the call fills may not. One
exception: virtio_dma_map's sg[] is a work array whose entries may be
written before a failure. Predicates (virtio_device_has) return 1 or 0.
Device-reported details (a block status byte, a GPU response type) are
kept in the driver's object as last_status.
VIRTIO_ERR_GONE means the device's registers read all-ones (it was
removed, or the register channel is dead): nothing more will work.

THREADS, INTERRUPTS AND WAITS

No globals, no locks: a device and its queues belong to one thread of
control at a time; different devices may be used concurrently. Everything
works by polling; interrupts are optional and first-class:

  sources     virtio-mmio and PCI INTx: one line per device; in the
              handler, virtio_device_isr(&drv->dev, &isr) reads and
              acknowledges it (VIRTIO_ISR_QUEUE, VIRTIO_ISR_CONFIG).
              PCI MSI-X, before the driver's *_init: program table
              entries with virtio_pci_msix_set (address and data from
              your interrupt controller; dev->msix_entries is the table
              size), turn MSI-X on with virtio_pci_msix_enable, and plan
              the routing with virtio_pci_msix_plan (configuration to one
              entry, queue i to a first entry + i). *_init then sets each
              vector before the queue is enabled, as the spec wants, and
              reads it back: drv->dev.config_vector and each queue's
              `vector` say what the device took; VIRTIO_MSIX_NONE means
              it refused: fall back to INTx (virtio_pci_msix_enable(&drv
              ->dev, 0)). virtio_device_set_vector and
              virtio_queue_set_vector change a route later (QEMU takes
              that; the spec only promises it before the enable).
  arming      queues start with used-buffer interrupts off.
              virtio_queue_enable_cb(q, &pending) arms one: with
              EVENT_IDX for the next buffer used after those already
              taken (one interrupt, not a stream), so the rule is:
                  handler / wake-up:  drain (the driver's poll) until empty;
                                      virtio_queue_enable_cb(q, &pending);
                                      if (pending) drain again and re-arm;
                                      else sleep.
              A completion that raced the arm shows up as pending; none
              is lost. virtio_queue_disable_cb asks for quiet while you
              poll (a hint: tolerate a late interrupt).
  context     the calls a handler needs (virtio_device_isr, enable_cb,
              disable_cb, the drivers' poll calls) never block and touch
              only memory and the device's registers; process completions
              in the handler or a deferred context, but not concurrently
              with other calls on the same device.

Every wait in the library is bounded (see time).

UNTRUSTED DEVICE

The device is treated as hostile. Every register access stays inside a
window the probe validated: virtio-mmio's fixed block; on PCI each BAR is
sized (decoding off meanwhile, restored after, as firmware does), checked
against the host bridge windows when the platform gives them, and every
capability's offset + length must lie inside its BAR and the CPU's address
range (64-bit arithmetic, so no wrap on 32-bit CPUs), its structure inside
configuration space, notify_off x multiplier inside the notify capability;
otherwise the probe says VIRTIO_ERR_DEVICE. Descriptor bookkeeping lives
in private memory and is never read back from the rings. Every used id is
checked to be in range and in flight, and every used index against what
is in flight. A used length is clamped to the writable bytes posted and
counted in the queue's `clamped` (a real VMM, kvmtool, overstates block
write lengths: strict where safety needs it, tolerant where it does not);
a chain the device only reads reports length 0, whatever the device says.
The queue size the device reads back is used only if it is one we can
have. Configuration reads are bounded by the transport's window and
retried under the generation counter; a device whose registers read
all-ones is VIRTIO_ERR_GONE at once. A violation returns VIRTIO_ERR_DEVICE
and marks the queue broken: its calls return VIRTIO_ERR_STATE until the
device is reset. The drivers reset the device before they hand buffers
back, and if that reset does not finish they hand nothing back (the
memory is leaked, not reused), so nothing the device writes can make the
library write outside the buffers it was given, and no wait is unbounded.
What no check can tell: a used
entry that names a buffer the driver has already posted again looks like
its completion (the bytes are the device's to write either way), and on
a packed ring a bogus used descriptor is overwritten by the driver's next
one, so it shows as a timeout, not VIRTIO_ERR_DEVICE. A vector the device
reads back that is neither the one written nor NONE counts as NONE.

WRITING A DRIVER

A device driver is one header on the public kit declared here, and
nothing else of the core (virtio_console.h and virtio_rng.h are short
examples). Its layout follows the others: the umbrella mapping
(VIRTIO_IMPLEMENTATION -> VIRTIO_<DEV>_IMPLEMENTATION), `#include
"virtio.h"` outside every guard, a declaration guard, a check of
VIRTIO_KIT_VERSION / VIRTIO_KIT_COMPAT, and an implementation guard. The
kit:

  negotiate   virtio_device_begin(dev, wanted device bits, options) (or
              virtio_device_offer first when a wish depends on the
              offer), virtio_device_has, then queues, then
              virtio_device_ready; virtio_device_reset on the way out,
              and virtio_device_fault on the errors init reports.
  queues      virtio_queue_init / destroy; virtio_queue_add (scatter
              lists) or virtio_table_set + virtio_queue_add_table
              (fixed-shape requests in your own tables; add_tables posts
              several under one barrier); virtio_queue_kick
              (honours VIRTIO_MORE batching in your API), virtio_queue_notify
              (whatever the device's suppression says); virtio_queue_pop
              (validated cookie and length, q->clamped); virtio_queue_wait
              or virtio_wait_start + virtio_device_wait_step for your own
              bounded loops; enable_cb / disable_cb / set_vector.
  memory      virtio_alloc / virtio_free (VIRTIO_MEM_DMA or _PRIVATE),
              virtio_dma_map / virtio_dma_unmap for caller buffers,
              virtio_store / virtio_load for wire fields in your DMA
              memory (little-endian modern, CPU order legacy),
              VIRTIO_ZERO / VIRTIO_MEMCPY / VIRTIO_MEMSET.
  config      virtio_config_read8/16/32/64 (typed, CPU order),
              virtio_config_read_fields (fields of one width, one
              snapshot), virtio_config_read (bytes, one snapshot),
              virtio_config_write.
  constants   VIRTIO_DEVICE_* ids, VIRTIO_FEATURE_* generic bits and
              VIRTIO_FEATURE_BIT(), VIRTIO_MORE, virtio_log + VIRTIO_MSG_DRIVER.

The conventions the drivers share: *_init refuses a running object
(VIRTIO_ERR_STATE) and reports a device without the queues or
configuration its type requires as VIRTIO_ERR_DEVICE; *_shutdown resets
first and, if the reset does not finish, leaks rather than frees
(VIRTIO_ERR_TIMEOUT); *_refresh(d, &changed) re-reads the configuration
after VIRTIO_ISR_CONFIG; last_status holds the device's answer to the last
request; calls that post work take VIRTIO_MORE and *_kick notifies; every
call does bounded work and no callback runs inside a submit.

LIMITS

Up to VIRTIO_MAX_QUEUE_SIZE ring entries per queue (a larger device queue
is asked to be smaller; legacy PCI cannot be, and is refused). 64-bit
features. No VIRTIO_F_IN_ORDER, NOTIFICATION_DATA, queue reset or shared
memory regions. Device address width: 64 bits (legacy transports: rings
below 16 TiB, the 32-bit PFN limit).

license: end of file
*/

#ifndef VIRTIO_NO_STDINT
#include <stddef.h>
#include <stdint.h>
#endif

#define VIRTIO_VERSION_MAJOR 0
#define VIRTIO_VERSION_MINOR 3
#define VIRTIO_VERSION_PATCH 11

#ifndef VIRTIO_API
#ifdef VIRTIO_STATIC
#if defined(__GNUC__) || defined(__clang__)
#define VIRTIO_API static __attribute__((unused))
#elif defined(_MSC_VER)
#define VIRTIO_API static __inline   /* cl.exe warns (C4505) of unused static functions, not inline ones */
#else
#define VIRTIO_API static
#endif
#else
#define VIRTIO_API extern
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Results                                                             */
/* ------------------------------------------------------------------ */

/* Values are stable: never renumbered, never reused. */
typedef enum virtio_result {
    VIRTIO_OK = 0,
    VIRTIO_EMPTY = 1,                /* nothing completed / nothing to report yet */
    VIRTIO_ERR_INVALID_ARG = -1,     /* NULL, zero, misaligned or out-of-range argument */
    VIRTIO_ERR_UNSUPPORTED = -2,     /* device lacks the feature, or compiled out */
    VIRTIO_ERR_DEVICE = -3,          /* device broke the protocol (bad id, length, index...) */
    VIRTIO_ERR_IO = -4,              /* device reported that the request failed */
    VIRTIO_ERR_TIMEOUT = -5,         /* a bounded wait ran out */
    VIRTIO_ERR_NO_SPACE = -6,        /* queue full, too many in flight; assign: a BAR did not fit */
    VIRTIO_ERR_NEEDS_RESET = -7,     /* device set DEVICE_NEEDS_RESET */
    VIRTIO_ERR_NO_MEMORY = -8,       /* dma_alloc or dma_map failed */
    VIRTIO_ERR_NOT_FOUND = -9,       /* no (matching) device there */
    VIRTIO_ERR_STATE = -10,          /* object not initialised, shut down, or broken */
    VIRTIO_ERR_FEATURES = -11,       /* device refused the negotiated features */
    VIRTIO_ERR_RANGE = -12,          /* request beyond the device (sector, rectangle, ...) */
    VIRTIO_ERR_READ_ONLY = -13,      /* write to a read-only device */
    VIRTIO_ERR_LINK_DOWN = -14,      /* network link is down */
    VIRTIO_ERR_TOO_BIG = -15,        /* larger than the device or buffer allows */
    VIRTIO_ERR_GONE = -16            /* device registers read all-ones: removed, or a dead channel */
} virtio_result;

/* Name of a result code ("VIRTIO_ERR_TIMEOUT: wait timed out"); never NULL,
   also for unknown values. Under VIRTIO_NO_STRINGS returns "". */
VIRTIO_API const char *virtio_result_str(int result);

/* ------------------------------------------------------------------ */
/* Platform                                                            */
/* ------------------------------------------------------------------ */

/* Register spaces for reg_read / reg_write. */
#define VIRTIO_SPACE_MEM 0
#define VIRTIO_SPACE_IO 1

/* Memory kinds for dma_alloc. */
#define VIRTIO_MEM_DMA 0        /* device-visible, coherent */
#define VIRTIO_MEM_PRIVATE 1    /* driver-only bookkeeping, never given to the device */

/* Directions for dma_map / dma_unmap. */
#define VIRTIO_DMA_TO_DEVICE 1
#define VIRTIO_DMA_FROM_DEVICE 2
#define VIRTIO_DMA_BIDIRECTIONAL 3

/* Log levels. */
#define VIRTIO_LOG_ERROR 1
#define VIRTIO_LOG_WARN 2
#define VIRTIO_LOG_INFO 3
#define VIRTIO_LOG_DEBUG 4

/* platform flags */
#define VIRTIO_PLATFORM_FORCE_ACCESS_PLATFORM 1u

/* Host bridge windows, as bus addresses (on QEMU's virt machines memory
   bus addresses equal CPU addresses; I/O ports are numbers that the CPU
   reaches at pci_io_base + port): where virtio_pci_assign places BARs,
   and where virtio_platform.pci_windows lets the probe believe them. A
   size of 0 means there is no such window. I/O ports below 0x1000 are not
   handed out, nor is memory address 0 (a BAR at 0 is unassigned), and a
   32-bit BAR is never placed above 4 GiB. */
typedef struct virtio_pci_windows {
    uint64_t mem_base, mem_size;       /* 32-bit memory window */
    uint64_t mem64_base, mem64_size;   /* 64-bit memory window (64-bit BARs go here if present) */
    uint32_t io_base, io_size;         /* I/O port window */
} virtio_pci_windows;

/* The caller's hooks; see PLATFORM CONTRACT above. Defaults:
     user       NULL, passed to every hook
     reg_read   volatile MEM access / port I/O (see pci_io_base)
     reg_write  likewise
     pci_read   ECAM at pci_ecam if nonzero, else x86 0xCF8/0xCFC
     pci_write  likewise
     pci_ecam   0 (no ECAM)
     pci_io_base 0 (x86 port instructions)
     pci_buses  0 = scan bus 0 only
     pci_windows NULL: BAR addresses are believed
     dma_alloc  none: mandatory
     dma_free   NULL: memory is not returned
     dma_map    identity: device address = CPU address, contiguous
     dma_unmap  NULL: nothing to undo
     mb/rmb/wmb built-in for the target (or #error)
     now_us     NULL: waits bounded by VIRTIO_SPIN_LIMIT polls
     idle       NULL: busy polling
     timeout_ms 0 = 5000
     log        NULL: silent
     flags      0 */
typedef struct virtio_platform {
    void *user;
    uint32_t (*reg_read)(void *user, int space, uintptr_t addr, unsigned width);
    void (*reg_write)(void *user, int space, uintptr_t addr, unsigned width, uint32_t value);
    uint32_t (*pci_read)(void *user, uint32_t bdf, unsigned offset, unsigned width);
    void (*pci_write)(void *user, uint32_t bdf, unsigned offset, unsigned width, uint32_t value);
    uintptr_t pci_ecam;
    uintptr_t pci_io_base;
    uint32_t pci_buses;
    const virtio_pci_windows *pci_windows;
    void *(*dma_alloc)(void *user, size_t size, size_t align, int kind, uint64_t *dev_addr);
    void (*dma_free)(void *user, void *ptr, size_t size, int kind);
    int (*dma_map)(void *user, void *ptr, size_t len, int dir, uint64_t *dev_addr, size_t *mapped);
    void (*dma_unmap)(void *user, void *ptr, size_t len, int dir, uint64_t dev_addr);
    void (*mb)(void *user);
    void (*rmb)(void *user);
    void (*wmb)(void *user);
    uint64_t (*now_us)(void *user);
    void (*idle)(void *user);
    uint32_t timeout_ms;
    void (*log)(void *user, int level, int id, const char *text, uint64_t value);
    uint32_t flags;
} virtio_platform;

/* Log message ids (the `id` argument of the log hook). */
#define VIRTIO_LOG_MESSAGES(X) \
    X(VIRTIO_MSG_RESET_TIMEOUT, "device did not finish reset") \
    X(VIRTIO_MSG_FEATURES_REFUSED, "device refused FEATURES_OK") \
    X(VIRTIO_MSG_NEEDS_RESET, "device set NEEDS_RESET") \
    X(VIRTIO_MSG_BAD_USED_ID, "used ring: id out of range or not in flight") \
    X(VIRTIO_MSG_BAD_USED_LEN, "used ring: length larger than posted (clamped)") \
    X(VIRTIO_MSG_BAD_USED_IDX, "used ring: index moved too far") \
    X(VIRTIO_MSG_QUEUE_SIZE, "queue size unusable") \
    X(VIRTIO_MSG_PCI_CAPS, "virtio-pci capabilities missing or bad, or their BARs outside pci_windows") \
    X(VIRTIO_MSG_NO_ACCESS_PLATFORM, "device does not offer ACCESS_PLATFORM") \
    X(VIRTIO_MSG_CONFIG_UNSTABLE, "config generation never settled") \
    X(VIRTIO_MSG_TIMEOUT, "wait timed out") \
    X(VIRTIO_MSG_LEGACY_ADDRESS, "legacy transport: ring above the 16 TiB page-frame limit") \
    X(VIRTIO_MSG_DRIVER, "driver message")

#define VIRTIO__MSG_ENUM(id, text) id,
enum virtio_log_message { VIRTIO_LOG_MESSAGES(VIRTIO__MSG_ENUM) VIRTIO_MSG_COUNT };
#undef VIRTIO__MSG_ENUM

/* ------------------------------------------------------------------ */
/* Device                                                              */
/* ------------------------------------------------------------------ */

/* VirtIO device types (virtio 1.2 section 5; 1.3 draft for the newest),
   for virtio_mmio_find / virtio_pci_find and dev->device_id. */
#define VIRTIO_DEVICE_NET 1
#define VIRTIO_DEVICE_BLOCK 2
#define VIRTIO_DEVICE_CONSOLE 3
#define VIRTIO_DEVICE_RNG 4            /* entropy source */
#define VIRTIO_DEVICE_BALLOON 5        /* traditional memory balloon */
#define VIRTIO_DEVICE_SCSI 8
#define VIRTIO_DEVICE_9P 9
#define VIRTIO_DEVICE_GPU 16
#define VIRTIO_DEVICE_INPUT 18
#define VIRTIO_DEVICE_VSOCK 19
#define VIRTIO_DEVICE_CRYPTO 20
#define VIRTIO_DEVICE_IOMMU 23
#define VIRTIO_DEVICE_MEM 24
#define VIRTIO_DEVICE_SOUND 25
#define VIRTIO_DEVICE_FS 26
#define VIRTIO_DEVICE_PMEM 27
#define VIRTIO_DEVICE_I2C 34
#define VIRTIO_DEVICE_GPIO 41

/* Transports. */
#define VIRTIO_TRANSPORT_MMIO 1
#define VIRTIO_TRANSPORT_PCI 2

/* Ring format choice for virtio_device_options.ring. */
#define VIRTIO_RING_AUTO 0     /* packed if the device offers it, else split */
#define VIRTIO_RING_SPLIT 1
#define VIRTIO_RING_PACKED 2   /* packed or VIRTIO_ERR_UNSUPPORTED */

/* Generic feature choices, passed by drivers to virtio_device_begin().
   Defaults (all zero): automatic ring format, indirect descriptors and
   event index used when offered (never when compiled out: VIRTIO_NO_INDIRECT,
   VIRTIO_NO_EVENT_IDX), ACCESS_PLATFORM accepted when offered. */
typedef struct virtio_device_options {
    uint32_t ring;           /* VIRTIO_RING_* */
    uint32_t no_indirect;    /* nonzero: never use indirect descriptors */
    uint32_t no_event_idx;   /* nonzero: flag-based notification suppression */
} virtio_device_options;

/* Condensed device status bits (virtio 1.2 section 2.1), as read by
   virtio_device_status(). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01u
#define VIRTIO_STATUS_DRIVER 0x02u
#define VIRTIO_STATUS_DRIVER_OK 0x04u
#define VIRTIO_STATUS_FEATURES_OK 0x08u
#define VIRTIO_STATUS_NEEDS_RESET 0x40u
#define VIRTIO_STATUS_FAILED 0x80u

/* Interrupt causes returned by virtio_device_isr(). */
#define VIRTIO_ISR_QUEUE 1u
#define VIRTIO_ISR_CONFIG 2u

/* One VirtIO device on one transport. Filled by virtio_mmio_probe() or
   virtio_pci_probe(); caller-owned; must not move while queues exist.
   Readable: platform, device_id, vendor_id, transport, legacy,
   device_features (offered), features (negotiated, valid after begin),
   num_queues (PCI modern: reported; otherwise 0 = unknown), config_size,
   bdf and base; on PCI msix_entries (MSI-X table size, 0 = no MSI-X) and
   config_vector (the vector the device took for configuration changes,
   VIRTIO_MSIX_NONE if none). The rest is private. Drivers keep their own copy (the
   device passed to *_init is copied): after init, pass &drv->dev to the
   device calls (virtio_device_isr, the MSI-X calls). */
struct virtio__ops;
typedef struct virtio_device {
    const virtio_platform *platform;
    uint32_t device_id;
    uint32_t vendor_id;
    uint32_t transport;
    uint32_t legacy;
    uint64_t device_features;
    uint64_t features;
    uint32_t num_queues;
    uint32_t config_size;
    uint32_t bdf;
    uintptr_t base;
    uint32_t msix_entries;
    uint32_t config_vector;
    struct {
        uint32_t magic;
        uint32_t ring;           /* chosen VIRTIO_RING_* */
        const struct virtio__ops *ops;   /* the transport's operations */
        /* Register windows, by PCI capability type less one (VIRTIO__W_*):
           the common configuration (virtio-mmio: the register block;
           legacy PCI: the I/O BAR), notify, ISR byte, device configuration;
           each an address and its VIRTIO_SPACE_*. */
        struct { uintptr_t addr; uint32_t space; } win[4];
        uint32_t notify_mul;     /* PCI notify_off_multiplier */
        uint32_t notify_len;     /* PCI notify capability length */
        uint32_t msix;           /* PCI: MSI-X enabled (legacy: config moves by 4) */
        uint32_t msix_cap;       /* PCI: config offset of the MSI-X capability, 0 = none */
        uintptr_t msix_table;    /* PCI: MSI-X table, inside its BAR */
        uint32_t plan_config;    /* virtio_pci_msix_plan: vectors for begin and queue setup */
        uint32_t plan_queue;
    } priv;
} virtio_device;

/* Check for a virtio-mmio device at `base` and describe it in *dev
   (no register is written). in: p, base; out: dev.
   Returns VIRTIO_OK; VIRTIO_ERR_NOT_FOUND if there is no virtio-mmio
   register block, or an empty slot (device id 0); VIRTIO_ERR_UNSUPPORTED
   for an unknown version or a legacy device under VIRTIO_NO_LEGACY;
   VIRTIO_ERR_INVALID_ARG for NULL. Context: a few register reads. */
VIRTIO_API virtio_result virtio_mmio_probe(virtio_device *dev, const virtio_platform *p, uintptr_t base);

/* Find the next virtio-mmio device of `type` (0: any type) in a window of
   `count` slots spaced `stride` bytes from `base`, starting at slot
   *slot. inout: slot (on OK: the slot found; pass slot + 1 to continue).
   A device virtio_mmio_probe will refuse (an unknown version, legacy under
   VIRTIO_NO_LEGACY) is found all the same: the probe says why.
   Returns VIRTIO_OK, VIRTIO_ERR_NOT_FOUND, VIRTIO_ERR_INVALID_ARG (NULL
   slot, or a platform virtio_mmio_probe would refuse). */
VIRTIO_API virtio_result virtio_mmio_find(const virtio_platform *p, uintptr_t base, uintptr_t stride,
                                          uint32_t count, uint32_t type, uint32_t *slot);

/* Check PCI function `bdf` for a VirtIO device (vendor 0x1af4, device
   0x1000-0x107f) and describe it in *dev: modern devices by walking
   their vendor capabilities, transitional devices without a usable
   modern interface through the legacy I/O BAR 0. The BARs must already
   hold addresses (firmware's, or virtio_pci_assign's). Each BAR is sized
   with decoding off and restored, and with p->pci_windows set used only
   inside the host bridge window of its kind; every register window the
   library will use must lie inside its BAR (capability offset + length,
   checked in 64 bits, and within the CPU's address range). Then the
   decoding the device needs and bus mastering are turned on in the
   command register. *dev is written only on VIRTIO_OK.
   Returns VIRTIO_OK; VIRTIO_ERR_NOT_FOUND (not a VirtIO function);
   VIRTIO_ERR_DEVICE (capabilities malformed or outside their BAR, BAR
   unassigned or outside the windows); VIRTIO_ERR_UNSUPPORTED (legacy-only
   device under VIRTIO_NO_LEGACY, or VIRTIO_NO_PCI); VIRTIO_ERR_INVALID_ARG.
   Context: configuration-space accesses only. */
VIRTIO_API virtio_result virtio_pci_probe(virtio_device *dev, const virtio_platform *p, uint32_t bdf);

/* Like virtio_pci_probe, but prefer the legacy interface of a
   transitional device even when it also has a modern one (tests, and old
   hypervisors with broken modern support). Returns as virtio_pci_probe,
   and VIRTIO_ERR_UNSUPPORTED for a modern-only device. */
VIRTIO_API virtio_result virtio_pci_probe_legacy(virtio_device *dev, const virtio_platform *p, uint32_t bdf);

/* Find the next VirtIO PCI function of `type` (0: any) from function
   *bdf upward over p->pci_buses buses. inout: bdf (pass bdf + 1 to
   continue). Returns VIRTIO_OK, VIRTIO_ERR_NOT_FOUND,
   VIRTIO_ERR_INVALID_ARG, VIRTIO_ERR_UNSUPPORTED (VIRTIO_NO_PCI). */
VIRTIO_API virtio_result virtio_pci_find(const virtio_platform *p, uint32_t type, uint32_t *bdf);

/* Do what firmware does on a machine without it (riscv64 or aarch64
   virt with -bios none, an emulator harness): give every BAR of every
   function a naturally aligned address in the host bridge's window of
   its kind, then turn on the decoding that succeeded and bus mastering.
   The BARs of one bus are placed largest first, so they leave no
   alignment gaps. The walk starts at bus 0 and goes depth first through
   PCI-PCI bridges (pcie-root-port, pci-bridge, switches; at most 8 deep):
   each gets the next bus number below pci_buses, the functions behind it
   are placed, and its windows then cover them (1 MiB memory and 4 KiB I/O
   granules, 64-bit BARs through its prefetchable window). Do not call it where
   firmware has assigned BARs already: it reassigns them and renumbers
   the buses. out: unplaced (may be NULL), the number of BARs that did
   not fit (and of bridges left without a bus number), written on
   VIRTIO_OK and VIRTIO_ERR_NO_SPACE; their function gets no decoding of
   that kind. Returns
   VIRTIO_OK, VIRTIO_ERR_NO_SPACE (some BAR or bridge did not fit),
   VIRTIO_ERR_INVALID_ARG, VIRTIO_ERR_UNSUPPORTED (VIRTIO_NO_PCI).
   Context: configuration-space accesses only. */
VIRTIO_API virtio_result virtio_pci_assign(const virtio_platform *p, const virtio_pci_windows *w, uint32_t *unplaced);

/* Reset the device and negotiate features: reset, ACKNOWLEDGE, DRIVER,
   read the offered features, accept (offered & driver_features) plus the
   generic ring features allowed by *o (NULL = defaults), VERSION_1 on
   modern transports, ACCESS_PLATFORM and ORDER_PLATFORM when offered
   (the built-in barriers, like the platform's mb/rmb/wmb hooks, order
   memory as a device sees it); then FEATURES_OK and check that the
   device kept it. Afterwards set up queues, then call
   virtio_device_ready().
   Returns VIRTIO_OK; VIRTIO_ERR_TIMEOUT (reset never completed);
   VIRTIO_ERR_GONE (the device reads all-ones); VIRTIO_ERR_FEATURES
   (device cleared FEATURES_OK); VIRTIO_ERR_UNSUPPORTED (modern device
   without VERSION_1, VIRTIO_RING_PACKED requested but not offered,
   ACCESS_PLATFORM forced but absent); VIRTIO_ERR_INVALID_ARG (bad
   options); VIRTIO_ERR_STATE (dev not probed). On error the device is
   left with FAILED set. Context: blocks for the reset, bounded by the
   platform timeout. */
VIRTIO_API virtio_result virtio_device_begin(virtio_device *dev, uint64_t driver_features,
                                             const virtio_device_options *o);

/* Read what the device offers before choosing: reset, ACKNOWLEDGE,
   DRIVER, then the feature bits (also left in dev->device_features). For
   drivers whose wishes depend on the offer (a feature that needs another
   one); virtio_device_begin starts over with its own reset. Do not read
   the device configuration between offer and begin: until FEATURES_OK a
   modern device may present it in a legacy (guest-order) layout.
   out: offered (may be NULL).
   Returns VIRTIO_OK, VIRTIO_ERR_TIMEOUT, VIRTIO_ERR_GONE, VIRTIO_ERR_STATE.
   Context: blocks for the reset (bounded). */
VIRTIO_API virtio_result virtio_device_offer(virtio_device *dev, uint64_t *offered);

/* Set DRIVER_OK: the device may now use its queues. Call after the
   queues are initialised (and, for receive queues, filled).
   Returns VIRTIO_OK, VIRTIO_ERR_STATE, VIRTIO_ERR_NEEDS_RESET,
   VIRTIO_ERR_GONE. */
VIRTIO_API virtio_result virtio_device_ready(virtio_device *dev);

/* Reset the device (status 0) and wait until it reports the reset done.
   Only then has the device stopped using every queue, and only then may
   queue memory and buffers be freed or handed back: after a reset that
   did not finish, the device may still write to them (the drivers then
   keep, i.e. leak, that memory rather than give it back).
   Returns VIRTIO_OK; VIRTIO_ERR_TIMEOUT (status never read 0);
   VIRTIO_ERR_GONE (status reads all-ones: the device is gone, or its
   register channel is dead); VIRTIO_ERR_STATE.
   Context: blocks, bounded by the platform timeout. */
VIRTIO_API virtio_result virtio_device_reset(virtio_device *dev);

/* Set FAILED: tell the device the driver gave up. Returns VIRTIO_OK or
   VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_device_fail(virtio_device *dev);

/* Read the device status byte. out: status (VIRTIO_STATUS_* bits; may be
   NULL), written also when the result is VIRTIO_ERR_NEEDS_RESET.
   Returns VIRTIO_OK; VIRTIO_ERR_NEEDS_RESET (the device asks to be
   reset); VIRTIO_ERR_GONE (status reads all-ones); VIRTIO_ERR_STATE.
   Context: one register read. */
VIRTIO_API virtio_result virtio_device_status(virtio_device *dev, uint32_t *status);

/* Read and acknowledge the interrupt status (INTx and virtio-mmio
   interrupts). out: isr (VIRTIO_ISR_QUEUE | VIRTIO_ISR_CONFIG bits, 0 =
   not this device; may be NULL). With MSI-X enabled there is no shared
   ISR: the vector says what happened, and this reports 0 (a build with
   both VIRTIO_NO_MSIX and VIRTIO_NO_LEGACY does not look for MSI-X on
   virtio-pci, and reads the register).
   Returns VIRTIO_OK, VIRTIO_ERR_STATE. Context: one or two register
   accesses; callable from an interrupt handler. */
VIRTIO_API virtio_result virtio_device_isr(virtio_device *dev, uint32_t *isr);

/* Did the negotiated features include bit `bit`? Returns 1 or 0 (0 also
   for NULL). */
VIRTIO_API int virtio_device_has(const virtio_device *dev, unsigned bit);

/* For a driver's *_init, after virtio_device_begin: a device that lacks
   what its type requires shows in the kit's results as VIRTIO_ERR_RANGE
   (configuration window shorter than the fields), VIRTIO_ERR_NOT_FOUND
   (a queue the type requires is absent) or VIRTIO_ERR_STATE (a queue live
   right after the reset); those are VIRTIO_ERR_DEVICE (and so is
   VIRTIO_ERR_FEATURES, which only virtio_device_begin returns), any other
   result is returned as it is. */
static inline virtio_result virtio_device_fault(virtio_result r)
{
    /* (RANGE, FEATURES, STATE and NOT_FOUND are -12 to -9: one test) */
    return (uint32_t)((int32_t)r - VIRTIO_ERR_RANGE) < 4u ? VIRTIO_ERR_DEVICE : r;
}

/* Read `len` (at most 256) bytes of device-specific configuration at
   `offset`, one access per byte, as one consistent snapshot (the
   generation counter is re-read until it is stable, at most 16 times):
   for byte fields and arrays (a MAC address, a name, a bitmap). A
   multi-byte field must be read with accesses of its width (virtio 1.2
   4.1.3.1, 4.2.2.2): use virtio_config_read_fields or the typed readers
   below. The buffer is written only on VIRTIO_OK.
   Returns VIRTIO_OK; VIRTIO_ERR_RANGE (outside config_size);
   VIRTIO_ERR_TOO_BIG (len > 256: read it in pieces); VIRTIO_ERR_DEVICE
   (generation never settled); VIRTIO_ERR_INVALID_ARG. */
VIRTIO_API virtio_result virtio_config_read(virtio_device *dev, uint32_t offset, void *buf, uint32_t len);

/* Read `count` consecutive fields of `width` bytes (1, 2 or 4; offset
   aligned to it) as one consistent snapshot, each with one access of its
   width, into out[]: an array of uint8_t, uint16_t or uint32_t values in
   CPU byte order, as the typed readers convert them. For a group of
   fields that must agree (a console's columns and rows, a disk's discard
   limits). A 64-bit field is two 32-bit ones (virtio_config_read64
   joins them). out is written only on VIRTIO_OK.
   Returns as virtio_config_read (VIRTIO_ERR_TOO_BIG: more than 256
   bytes). */
VIRTIO_API virtio_result virtio_config_read_fields(virtio_device *dev, uint32_t offset, unsigned width,
                                                   uint32_t count, void *out);

/* Typed config readers: one naturally aligned field, converted to CPU
   byte order. 64-bit fields are read as two 32-bit halves under the
   generation counter. Returns as virtio_config_read. */
VIRTIO_API virtio_result virtio_config_read8(virtio_device *dev, uint32_t offset, uint8_t *v);
VIRTIO_API virtio_result virtio_config_read16(virtio_device *dev, uint32_t offset, uint16_t *v);
VIRTIO_API virtio_result virtio_config_read32(virtio_device *dev, uint32_t offset, uint32_t *v);
VIRTIO_API virtio_result virtio_config_read64(virtio_device *dev, uint32_t offset, uint64_t *v);

/* Write one config field (width 1, 2 or 4 bytes) in CPU byte order.
   Returns VIRTIO_OK, VIRTIO_ERR_RANGE, VIRTIO_ERR_INVALID_ARG,
   VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_config_write(virtio_device *dev, uint32_t offset, unsigned width, uint32_t value);

/* ------------------------------------------------------------------ */
/* MSI-X (virtio-pci)                                                  */
/* ------------------------------------------------------------------ */

/* No vector: for virtio_device_set_vector / virtio_queue_set_vector. */
#define VIRTIO_MSIX_NONE 0xffffu

/* Program entry `entry` of the function's MSI-X table: the message the
   device writes to raise it (address and data come from the interrupt
   controller: x86 LAPIC 0xfee00000 | apic_id << 12 with the vector as
   data; an Arm GICv2m doorbell with the SPI number as data), unmasked;
   the entry is masked while it changes, so it may be re-programmed while
   in use. Returns VIRTIO_OK; VIRTIO_ERR_UNSUPPORTED (no MSI-X capability, not
   PCI); VIRTIO_ERR_RANGE (entry beyond the table); VIRTIO_ERR_STATE.
   Context: a few register writes. */
VIRTIO_API virtio_result virtio_pci_msix_set(virtio_device *dev, uint32_t entry, uint64_t address, uint32_t data);

/* Turn MSI-X on (on = 1; this also clears the Function Mask an earlier
   owner may have left set) or off for the function. While it is on, INTx
   is off and virtio_device_isr reports nothing; on legacy virtio-pci the
   device configuration moves by 4 bytes, which the library follows.
   Call it on the object the driver uses (&drv->dev) if a driver is
   already initialised. Returns VIRTIO_OK, VIRTIO_ERR_UNSUPPORTED (no
   MSI-X capability), VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_pci_msix_enable(virtio_device *dev, int on);

/* Plan the MSI-X routing of the next driver initialisation (virtio 1.2
   4.1.4.3.2 wants a queue's vector set before the queue is enabled):
   configuration changes to entry config_vector, queue i to entry
   queue_vector + i (VIRTIO_MSIX_NONE: none; a queue past the table gets
   none). Call it after virtio_pci_msix_set / virtio_pci_msix_enable and
   before the driver's *_init, which copies dev with the plan: begin then
   routes the configuration (dev->config_vector says what the device took)
   and each queue is routed as it is set up (q->vector says what the
   device took: VIRTIO_MSIX_NONE means it refused, poll that queue or fall
   back to INTx). Returns VIRTIO_OK, VIRTIO_ERR_UNSUPPORTED (no MSI-X),
   VIRTIO_ERR_INVALID_ARG (beyond the table), VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_pci_msix_plan(virtio_device *dev, uint32_t config_vector, uint32_t queue_vector);

/* Route configuration-change interrupts to MSI-X table entry `vector`
   (VIRTIO_MSIX_NONE: none). The device reads the value back; if it
   answers anything else it refused (out of resources), and the result is
   VIRTIO_ERR_UNSUPPORTED: fall back to INTx (virtio_pci_msix_enable(0)).
   MSI-X must be enabled. Returns VIRTIO_OK, VIRTIO_ERR_UNSUPPORTED (also:
   not PCI, MSI-X off), VIRTIO_ERR_INVALID_ARG, VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_device_set_vector(virtio_device *dev, uint32_t vector);

/* ------------------------------------------------------------------ */
/* Waiting                                                             */
/* ------------------------------------------------------------------ */

/* A deadline for a bounded wait: start one with virtio_wait_start and call
   virtio_wait_step (or virtio_device_wait_step) in each iteration of the
   loop; it calls the idle hook and returns VIRTIO_ERR_TIMEOUT once the
   platform timeout (or spin bound) has passed, VIRTIO_OK otherwise
   (VIRTIO_ERR_INVALID_ARG: w NULL, or zeroed and never started).
   timeout_ms 0 = platform default. The clock is read every 16th step. */
typedef struct virtio_wait {
    const virtio_platform *platform;
    uint64_t deadline;
    uint64_t spins;
    uint64_t next_check;     /* virtio_device_wait_step: next status look */
} virtio_wait;
VIRTIO_API void virtio_wait_start(virtio_wait *w, const virtio_platform *p, uint32_t timeout_ms);
VIRTIO_API virtio_result virtio_wait_step(virtio_wait *w);

/* virtio_wait_step for a loop that waits on a device: also reads the
   device status about every 10 ms (every 1024 steps without a clock), so
   that a device that asks for a reset, or is gone, ends the wait at once.
   A wait's register traffic is therefore a function of time: one status
   read per 10 ms, plus what the loop itself reads.
   Returns VIRTIO_OK (keep waiting), VIRTIO_ERR_TIMEOUT,
   VIRTIO_ERR_NEEDS_RESET, VIRTIO_ERR_GONE; VIRTIO_ERR_INVALID_ARG (w as
   for virtio_wait_step); VIRTIO_ERR_STATE (dev not probed; seen at the
   first status look, at the latest when the wait ends). */
VIRTIO_API virtio_result virtio_device_wait_step(virtio_device *dev, virtio_wait *w);

/* ------------------------------------------------------------------ */
/* Virtqueues                                                          */
/* ------------------------------------------------------------------ */

/* One piece of a buffer, as the device sees it. */
typedef struct virtio_sg {
    uint64_t addr;   /* device address */
    uint32_t len;    /* bytes, nonzero */
    uint32_t pad;
} virtio_sg;

/* Queue choices. Defaults (all zero):
     size      0 = the device's queue size, at most 256 entries (a
               4096-byte descriptor ring; QEMU's virtio-mmio offers 1024,
               kvmtool and QEMU's PCI devices 256 or less). n: at most n
               entries (up to VIRTIO_MAX_QUEUE_SIZE). A size below the
               device's maximum is asked for; on virtio-pci modern the
               device's answer is read back and used (a device may keep
               its maximum, as kvmtool does); legacy virtio-pci cannot
               change the size at all. Split rings round down to a power
               of two.
     indirect  0 = no queue-owned indirect tables; n > 0: virtio_queue_add
               may put a chain of up to n descriptors in one table of its
               own (needs INDIRECT_DESC, else ignored), taking one ring
               slot however long the chain. The tables come in pieces of
               at most 4096 bytes (when 16 * n fits in one). */
typedef struct virtio_queue_options {
    uint32_t size;
    uint32_t indirect;
} virtio_queue_options;

/* One virtqueue. Caller-owned, lives inside a driver object; must not
   move after init. Readable: dev, index, size, num_free (descriptors
   that can still be posted), packed (1 = packed ring), indirect
   (descriptors per queue-owned indirect table, 0 = none), clamped (used
   lengths the device overstated: each was clamped to the writable bytes
   posted), vector (PCI: the MSI-X vector the device took for this queue,
   VIRTIO_MSIX_NONE if none). The rest is private: the state of each ring
   format in its own struct. */
typedef struct virtio_queue {
    virtio_device *dev;
    uint32_t index;
    uint32_t size;
    uint32_t num_free;
    uint32_t packed;
    uint32_t indirect;
    uint32_t clamped;
    uint32_t vector;
    struct {
        uint32_t magic;
        uint32_t broken;         /* device misbehaved: queue unusable until reset (2: not yet reported) */
        uint32_t event_idx;      /* EVENT_IDX negotiated */
        uint32_t legacy;         /* ring fields in the CPU's byte order */
        uint32_t inflight;       /* buffers posted and not yet used */
        uint16_t free_head;      /* first free descriptor (split) or buffer id (packed) */
        uint16_t table_shift;    /* queue-owned tables per piece: 1 << table_shift */
        unsigned char *desc;     /* descriptor ring (split: table) */
        void *state;             /* private: per-descriptor (split) / per-id (packed) shadow */
        uintptr_t notify;        /* notification register */
        uint32_t notify_space;
        uint32_t notify_width;
        struct {                 /* split ring (virtio 1.2 2.7) */
            unsigned char *avail;    /* driver area: flags, idx, ring[], used_event */
            unsigned char *used;     /* device area: flags, idx, ring[], avail_event */
            uint16_t avail_idx;      /* next avail index to publish */
            uint16_t kick_idx;       /* avail index at the last kick */
            uint16_t used_idx;       /* next used index to take */
            uint16_t dev_used;       /* used index last read from the device */
        } split;
        struct {                 /* packed ring (virtio 1.2 2.8) */
            unsigned char *driver;   /* driver event suppression */
            unsigned char *device;   /* device event suppression */
            uint16_t next;           /* next slot to fill */
            uint16_t next_wrap;      /* its wrap counter */
            uint16_t used;           /* next slot the device completes */
            uint16_t used_wrap;      /* its wrap counter */
            uint16_t added;          /* descriptors added since the last notification, at most size */
        } packed;
        struct {                 /* memory, for destroy */
            void *ptr[5];            /* ring pieces 0-2, private: 3 shadow, 4 table index */
            size_t bytes[5];
            uint64_t *tables_dev;    /* the table index: indirect table pieces */
            void **tables;
            size_t table_piece;
            uint32_t pieces;
        } mem;
    } priv;
} virtio_queue;

/* Allocate and register virtqueue `index` of dev (after
   virtio_device_begin, before virtio_device_ready). Uses the ring format
   negotiated in begin. A device maximum of 0 means "no such queue".
   Memory (see each driver's MEMORY section): on modern transports the
   descriptor ring (16 bytes per entry), the driver area and the device
   area (split: 6 + 2 and 6 + 8 bytes per entry; packed: 4 bytes each)
   share as few DMA allocations of at most 4096 bytes as they fit in: one
   up to 128 split entries, 4096 + 2574 bytes for 256 (so pages of 4096
   bytes do; from 512 entries the descriptor ring alone is larger);
   legacy transports need one physically contiguous block (descriptors
   and driver area, then the device area at the next 4096 boundary:
   10246 bytes for 256 entries). The private shadow is
   16 bytes per entry (12 on 32-bit CPUs); queue-owned indirect tables
   come in pieces of at most 4096 bytes.
   Returns VIRTIO_OK; VIRTIO_ERR_NOT_FOUND (queue absent);
   VIRTIO_ERR_STATE (dev not negotiated, or the queue is already live:
   reset the device first); VIRTIO_ERR_UNSUPPORTED (a legacy virtio-pci
   queue larger than VIRTIO_MAX_QUEUE_SIZE, a legacy transport with ring
   memory at a device address of 16 TiB or more, packed rings compiled
   out); VIRTIO_ERR_DEVICE (the device answered a queue size it cannot
   have, or a notify address outside its capability); VIRTIO_ERR_NO_MEMORY;
   VIRTIO_ERR_INVALID_ARG. On failure q holds nothing to destroy; it is
   not touched at all when the queue is absent or already live (q may be
   that live queue's own object). Context: allocates through dma_alloc; a
   few register accesses. */
VIRTIO_API virtio_result virtio_queue_init(virtio_queue *q, virtio_device *dev, uint32_t index,
                                           const virtio_queue_options *o);

/* Free a queue's memory (through dma_free, if any). Call it only after
   virtio_device_reset returned VIRTIO_OK: until the reset finished the
   device may still use the rings (keep the memory then: see UNTRUSTED
   DEVICE). Returns VIRTIO_OK or VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_queue_destroy(virtio_queue *q);

/* Post one buffer: sg[0..out) are read by the device, sg[out..out+in)
   written by it. `cookie` comes back from virtio_queue_pop. Published to
   the device at once; call virtio_queue_kick after a batch. The lengths
   must add up to less than 4 GiB (virtio 1.2 2.7.5.2: the caller's to
   keep; virtio_blk splits larger requests at 1 GiB).
   Returns VIRTIO_OK; VIRTIO_ERR_NO_SPACE (not enough free descriptors);
   VIRTIO_ERR_INVALID_ARG (no segments, zero length, more segments than
   the queue or indirect table can hold); VIRTIO_ERR_STATE (queue broken
   or uninitialised). Context: never blocks, no allocation. */
VIRTIO_API virtio_result virtio_queue_add(virtio_queue *q, const virtio_sg *sg, uint32_t out, uint32_t in,
                                          void *cookie);

/* Driver-built indirect tables, for requests of one fixed shape posted
   over and over (a block read: header, data, status). The driver keeps a
   table per request slot in its own DMA memory (16-byte aligned), writes
   the entries that never change once, rewrites per request only those
   that do, and posts the table as one buffer: no scatter list to build,
   no table to copy. Entries are read by the device in table order. */

/* Post a table of `count` entries at device address table_dev (written
   with virtio_table_set) as one buffer; in_len is the sum of its
   device-written lengths, the bound on the used length pop reports. The
   table (and what it points at) is the device's until pop returns the
   cookie: one table per buffer in flight.
   Returns VIRTIO_OK; VIRTIO_ERR_NO_SPACE (ring full); VIRTIO_ERR_INVALID_ARG
   (count 0 or above the queue size); VIRTIO_ERR_UNSUPPORTED (indirect
   descriptors were not negotiated); VIRTIO_ERR_STATE.
   Context: as virtio_queue_add. */
VIRTIO_API virtio_result virtio_queue_add_table(virtio_queue *q, uint64_t table_dev, uint32_t count, uint32_t in_len,
                                                void *cookie);

/* One table for virtio_queue_add_tables: the arguments of
   virtio_queue_add_table. */
typedef struct virtio_table_post {
    uint64_t table_dev;
    uint32_t count, in_len;
    void *cookie;
} virtio_table_post;

/* Post the n tables t[0..n) in order as n buffers, as n calls of
   virtio_queue_add_table would, with one publication (one write barrier)
   for all of them: what a driver that has several requests at hand does.
   *added (may be NULL) is the number posted, a prefix of t.
   Returns VIRTIO_OK (all n posted); otherwise why t[*added] was not:
   VIRTIO_ERR_NO_SPACE (ring full), VIRTIO_ERR_INVALID_ARG (its count 0 or
   above the queue size; t NULL), VIRTIO_ERR_UNSUPPORTED, VIRTIO_ERR_STATE
   (the last two post nothing). Context: as virtio_queue_add. */
VIRTIO_API virtio_result virtio_queue_add_tables(virtio_queue *q, const virtio_table_post *t, uint32_t n,
                                                 uint32_t *added);

/* Notify the device of buffers posted since the last kick, if (event
   suppression says) it wants to be told. Returns VIRTIO_OK or
   VIRTIO_ERR_STATE. Context: one register write at most. */
VIRTIO_API virtio_result virtio_queue_kick(virtio_queue *q);

/* Notify the device of queue q now, whatever event suppression says and
   whether or not anything was posted: for a device that looks at a queue
   again only when told, after a state change of its own (QEMU's
   virtio-serial port, opened after its buffers were posted). Returns
   VIRTIO_OK or VIRTIO_ERR_STATE. Context: one register write. */
VIRTIO_API virtio_result virtio_queue_notify(virtio_queue *q);

/* Take the next used buffer. out: cookie as posted, len = bytes the
   device says it wrote, clamped to the writable bytes posted (each clamp
   counts in q->clamped: compare it around the call when the exact length
   matters); 0 for chains with no writable part, whatever the device
   reports. Both may be NULL.
   Returns VIRTIO_OK; VIRTIO_EMPTY (nothing used yet); VIRTIO_ERR_DEVICE
   (the device wrote a bad id or index: the queue is now broken);
   VIRTIO_ERR_STATE. Context: never blocks; interrupt-safe with respect to
   other devices. Device trust: everything read is validated. */
VIRTIO_API virtio_result virtio_queue_pop(virtio_queue *q, void **cookie, uint32_t *len);

/* Take up to `max` used buffers at once (the checks of virtio_queue_pop
   for each; one call instead of max). out: cookies[0..*count), lens[]
   likewise (lens may be NULL), count. If the device broke the protocol
   after some good buffers, those are returned (VIRTIO_OK) and the next
   call reports VIRTIO_ERR_DEVICE.
   Returns VIRTIO_OK (*count >= 1); VIRTIO_EMPTY; VIRTIO_ERR_DEVICE;
   VIRTIO_ERR_STATE; VIRTIO_ERR_INVALID_ARG (cookies or count NULL).
   Context: as virtio_queue_pop; at most max buffers. */
VIRTIO_API virtio_result virtio_queue_pop_many(virtio_queue *q, void **cookies, uint32_t *lens, uint32_t max,
                                               uint32_t *count);

/* Poll virtio_queue_pop until a buffer is used, bounded by the platform
   timeout (see virtio_device_wait_step: the status is looked at every
   10 ms). Buffers posted but not notified are notified first.
   Returns what pop returns, or VIRTIO_ERR_TIMEOUT, VIRTIO_ERR_NEEDS_RESET,
   VIRTIO_ERR_GONE. */
VIRTIO_API virtio_result virtio_queue_wait(virtio_queue *q, void **cookie, uint32_t *len);

/* Interrupts for used buffers (see THREADS, INTERRUPTS AND WAITS). Queues
   start with them off. enable_cb arms the queue: with EVENT_IDX it asks
   for one interrupt, for the next buffer used after the ones already
   taken, so re-arm after every drain. out: pending (may be NULL) = 1 when
   used buffers are already waiting: no interrupt will come for them, so
   drain again (and re-arm) before sleeping.
   Returns VIRTIO_OK or VIRTIO_ERR_STATE. Context: memory only (no
   register access); callable from an interrupt handler. */
VIRTIO_API virtio_result virtio_queue_enable_cb(virtio_queue *q, int *pending);

/* Ask the device not to interrupt for used buffers (a hint the device may
   ignore: handlers must tolerate a late one). Returns VIRTIO_OK or
   VIRTIO_ERR_STATE. Context: memory only. */
VIRTIO_API virtio_result virtio_queue_disable_cb(virtio_queue *q);

/* Route this queue's used-buffer interrupts to MSI-X table entry `vector`
   (VIRTIO_MSIX_NONE: none). Read back: a device that answers anything
   else refused (VIRTIO_ERR_UNSUPPORTED: fall back to INTx). MSI-X must be
   enabled (virtio_pci_msix_enable). Returns VIRTIO_OK,
   VIRTIO_ERR_UNSUPPORTED (also: not PCI, MSI-X off),
   VIRTIO_ERR_INVALID_ARG, VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_queue_set_vector(virtio_queue *q, uint32_t vector);

/* ------------------------------------------------------------------ */
/* Driver kit: memory and waiting helpers shared by the drivers         */
/* ------------------------------------------------------------------ */

/* Allocate zeroed memory through the platform (kind VIRTIO_MEM_DMA or
   VIRTIO_MEM_PRIVATE). out: ptr, dev_addr (may be NULL).
   Returns VIRTIO_OK, VIRTIO_ERR_NO_MEMORY, VIRTIO_ERR_INVALID_ARG. */
VIRTIO_API virtio_result virtio_alloc(const virtio_platform *p, size_t size, size_t align, int kind, void **ptr,
                                      uint64_t *dev_addr);

/* Give memory from virtio_alloc back (no-op without a dma_free hook). */
VIRTIO_API void virtio_free(const virtio_platform *p, void *ptr, size_t size, int kind);

/* Translate buf[0..len) for one transfer in direction dir into at most
   max device pieces, none longer than max_piece (0 = 2 GiB).
   out: sg[0..*count). With mapped == NULL the whole buffer must fit
   (else VIRTIO_ERR_TOO_BIG and nothing stays mapped); with mapped != NULL
   the longest prefix that fits is mapped and *mapped says how long.
   sg[] is a work array: on failure its entries may have been written
   (the documented exception to "out-parameters only on VIRTIO_OK").
   Returns VIRTIO_OK; VIRTIO_ERR_TOO_BIG; VIRTIO_ERR_NO_MEMORY (dma_map
   failed); VIRTIO_ERR_INVALID_ARG. Undo with virtio_dma_unmap. */
VIRTIO_API virtio_result virtio_dma_map(const virtio_platform *p, void *buf, size_t len, int dir, virtio_sg *sg,
                                        uint32_t max, uint32_t max_piece, uint32_t *count, size_t *mapped);

/* Undo virtio_dma_map for the same buf, dir and pieces (copies bounce
   buffers back for VIRTIO_DMA_FROM_DEVICE). */
VIRTIO_API void virtio_dma_unmap(const virtio_platform *p, void *buf, int dir, const virtio_sg *sg, uint32_t count);

/* Byte order. VIRTIO__HOST_BIG_ENDIAN is the order of the machine the
   code runs on (from the compiler); VIRTIO__BIG_ENDIAN the CPU order the
   library speaks for towards the device: legacy transports put ring and
   configuration fields in it. They differ only when VIRTIO_BIG_ENDIAN is
   defined (0 or 1) against the compiler's order: for a compiler that does
   not say, and for tests that make a little-endian host behave as a
   big-endian guest towards a device model. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__)
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define VIRTIO__HOST_BIG_ENDIAN 1
#else
#define VIRTIO__HOST_BIG_ENDIAN 0
#endif
#endif
#ifdef VIRTIO_BIG_ENDIAN
#define VIRTIO__BIG_ENDIAN VIRTIO_BIG_ENDIAN
#elif defined(VIRTIO__HOST_BIG_ENDIAN)
#define VIRTIO__BIG_ENDIAN VIRTIO__HOST_BIG_ENDIAN
#else
#define VIRTIO__BIG_ENDIAN 0
#endif
#ifndef VIRTIO__HOST_BIG_ENDIAN
#define VIRTIO__HOST_BIG_ENDIAN VIRTIO__BIG_ENDIAN
#endif

/* Wire values in driver-owned DMA memory (request headers, commands):
   little-endian on modern transports, CPU order on legacy ones (virtio
   1.2 2.4). p need not be aligned. */
static inline void virtio_store(const virtio_device *d, void *p, uint64_t v, unsigned bytes)
{
    unsigned char *b = (unsigned char *)p;
#if defined(__GNUC__) || defined(__clang__)
    /* One unaligned store, the bytes swapped when the device's order (the
       CPU's on legacy transports, else little-endian) is not the host's. */
    int swap = (VIRTIO__BIG_ENDIAN && d->legacy ? 1 : 0) != VIRTIO__HOST_BIG_ENDIAN;
    if (bytes == 8) {
        uint64_t x = swap ? __builtin_bswap64(v) : v;
        __builtin_memcpy(b, &x, 8);
    } else if (bytes == 4) {
        uint32_t x = swap ? __builtin_bswap32((uint32_t)v) : (uint32_t)v;
        __builtin_memcpy(b, &x, 4);
    } else if (bytes == 2) {
        uint16_t x = swap ? __builtin_bswap16((uint16_t)v) : (uint16_t)v;
        __builtin_memcpy(b, &x, 2);
    } else {
        b[0] = (unsigned char)v;
    }
#else
    unsigned i;
    for (i = 0; i < bytes; i++) {
        unsigned shift = (VIRTIO__BIG_ENDIAN && d->legacy) ? 8u * (bytes - 1u - i) : 8u * i;
        b[i] = (unsigned char)(v >> shift);
    }
#endif
}
static inline uint64_t virtio_load(const virtio_device *d, const void *p, unsigned bytes)
{
    const unsigned char *b = (const unsigned char *)p;
    uint64_t v = 0;
#if defined(__GNUC__) || defined(__clang__)
    int swap = (VIRTIO__BIG_ENDIAN && d->legacy ? 1 : 0) != VIRTIO__HOST_BIG_ENDIAN;   /* as in virtio_store */
    if (bytes == 8) {
        __builtin_memcpy(&v, b, 8);
        if (swap) v = __builtin_bswap64(v);
    } else if (bytes == 4) {
        uint32_t x;
        __builtin_memcpy(&x, b, 4);
        v = swap ? __builtin_bswap32(x) : x;
    } else if (bytes == 2) {
        uint16_t x;
        __builtin_memcpy(&x, b, 2);
        v = swap ? __builtin_bswap16(x) : x;
    } else {
        v = b[0];
    }
#else
    unsigned i;
    for (i = 0; i < bytes; i++) {
        unsigned shift = (VIRTIO__BIG_ENDIAN && d->legacy) ? 8u * (bytes - 1u - i) : 8u * i;
        v |= (uint64_t)b[i] << shift;
    }
#endif
    return v;
}

/* Write entry i of a `count`-entry table at `table` (for
   virtio_queue_add_table), in q's ring format: `len` (nonzero) bytes at
   device address `addr`, written by the device if `device_writes`, read
   by it otherwise. Context: memory only. */
static inline void virtio_table_set(const virtio_queue *q, void *table, uint32_t i, uint32_t count, uint64_t addr,
                                    uint32_t len, int device_writes)
{
    unsigned char *e = (unsigned char *)table + 16u * i;
    unsigned f = device_writes ? 2u : 0u;                        /* WRITE */
    virtio_store(q->dev, e, addr, 8);
    virtio_store(q->dev, e + 8, len, 4);
    if (q->packed) {
        virtio_store(q->dev, e + 12, 0, 2);                 /* id: the head's counts */
        virtio_store(q->dev, e + 14, f, 2);
    } else {
        virtio_store(q->dev, e + 12, i + 1 < count ? f | 1u : f, 2);   /* NEXT */
        virtio_store(q->dev, e + 14, i + 1, 2);
    }
}

/* ------------------------------------------------------------------ */
/* Driver kit: constants and memory helpers for driver headers          */
/* ------------------------------------------------------------------ */

/* The kit (everything declared in this header) is versioned on its own,
   so that a driver header written elsewhere keeps building: a driver
   written for kit N checks
       #if !defined(VIRTIO_KIT_VERSION) || VIRTIO_KIT_VERSION < N || VIRTIO_KIT_COMPAT > N
       #error "needs virtio.h driver kit N"
       #endif
   VIRTIO_KIT_VERSION grows when the kit gains something; VIRTIO_KIT_COMPAT
   (the oldest kit whose drivers still build) moves only when the kit
   breaks. Kit 2 (0.3.9): virtio_config_read_fields, virtio_queue_notify
   (both new in 0.3.8) and virtio_device_fault. Kit 3 (0.3.10):
   virtio_queue_add_tables. */
#define VIRTIO_KIT_VERSION 3
#define VIRTIO_KIT_COMPAT 1

/* Flag for every call that posts work to a device: more follows, post it
   but do not notify the device yet (the driver's kick call notifies). */
#define VIRTIO_MORE 1u

/* Generic feature bit numbers (virtio 1.2 section 6). Device drivers pass
   their own bits (0..23 and 42..63) to virtio_device_begin; the transport
   bits below are decided by the core from virtio_device_options. */
#define VIRTIO_FEATURE_INDIRECT_DESC 28
#define VIRTIO_FEATURE_EVENT_IDX 29
#define VIRTIO_FEATURE_VERSION_1 32
#define VIRTIO_FEATURE_ACCESS_PLATFORM 33
#define VIRTIO_FEATURE_RING_PACKED 34
#define VIRTIO_FEATURE_IN_ORDER 35
#define VIRTIO_FEATURE_ORDER_PLATFORM 36
#define VIRTIO_FEATURE_NOTIFICATION_DATA 38
#define VIRTIO_FEATURE_RING_RESET 40
#define VIRTIO_FEATURE_BIT(b) ((uint64_t)1 << (b))
#define VIRTIO_ZERO(p) VIRTIO_MEMSET((p), 0, sizeof(*(p)))   /* p: pointer to one object */

/* Memory helpers for implementations (configuration macros: override
   them before including any header). VIRTIO_ASSERT checks internal
   invariants only (never caller or device input); it traps under
   VIRTIO_DEBUG and is a no-op otherwise. */
#ifndef VIRTIO_ASSERT
#ifdef VIRTIO_DEBUG
#if defined(__GNUC__) || defined(__clang__)
#define VIRTIO_ASSERT(c) do { if (!(c)) __builtin_trap(); } while (0)
#else
#define VIRTIO_ASSERT(c) do { if (!(c)) *(volatile int *)0 = 0; } while (0)
#endif
#else
#define VIRTIO_ASSERT(c) ((void)0)
#endif
#endif
#ifndef VIRTIO_MEMCPY
#if defined(__GNUC__) || defined(__clang__)
#define VIRTIO_MEMCPY(d, s, n) __builtin_memcpy((d), (s), (n))
#else
#define VIRTIO_MEMCPY(d, s, n) virtio__memcpy((d), (s), (n))
static inline void virtio__memcpy(void *d, const void *s, size_t n)
{
    unsigned char *dp = (unsigned char *)d;
    const unsigned char *sp = (const unsigned char *)s;
    while (n--) *dp++ = *sp++;
}
#endif
#endif
#ifndef VIRTIO_MEMSET
#if defined(__GNUC__) || defined(__clang__)
#define VIRTIO_MEMSET(d, v, n) __builtin_memset((d), (v), (n))
#else
#define VIRTIO_MEMSET(d, v, n) virtio__memset((d), (v), (n))
static inline void virtio__memset(void *d, int v, size_t n)
{
    unsigned char *dp = (unsigned char *)d;
    while (n--) *dp++ = (unsigned char)v;
}
#endif
#endif

/* Report a driver diagnostic through the log hook (no-op without one). */
VIRTIO_API void virtio_log(const virtio_platform *p, int level, int id, const char *text, uint64_t value);

#ifdef __cplusplus
}
#endif
#endif /* VIRTIO_H */


/* ==================================================================== */
/* Implementation                                                        */
/* ==================================================================== */
#if defined(VIRTIO_CORE_IMPLEMENTATION) && !defined(VIRTIO__CORE_DONE)
#define VIRTIO__CORE_DONE

/* >>core.config: defaults of the core's configuration macros. */
#ifndef VIRTIO_MAX_QUEUE_SIZE
#define VIRTIO_MAX_QUEUE_SIZE 1024
#endif
#ifndef VIRTIO_SPIN_LIMIT
#define VIRTIO_SPIN_LIMIT 200000000u
#endif

#define VIRTIO__ZERO(p) VIRTIO_ZERO(p)
/* Register helpers are called from many places and are mostly cold:
   keeping them out of line saves more code than the call costs. So are
   the device state check, the status register and the waits' start
   (-Os inlined them into every caller: over 1 KiB on the boot stage). */
#if defined(__GNUC__) || defined(__clang__)
#define VIRTIO__NOINLINE __attribute__((noinline))
#define VIRTIO__INLINE static inline __attribute__((always_inline))   /* per-buffer paths */
#elif defined(_MSC_VER)
#define VIRTIO__NOINLINE __declspec(noinline)
#define VIRTIO__INLINE static inline
#else
#define VIRTIO__NOINLINE
#define VIRTIO__INLINE static inline
#endif
/* Nonzero x has more than one bit set: the test x & (x - 1) written so
   that clang does not turn it into a population count, which targets
   without that instruction expand at length. (0 passes: callers have
   refused it already.) */
#define VIRTIO__NOT_POW2(x) (((x) ^ ((x) - 1)) < (x))
#define VIRTIO__DEF(v, d) ((v) ? (v) : (d))
#define VIRTIO__DEV_MAGIC 0x76697274u   /* "virt" */
#define VIRTIO__Q_MAGIC 0x71756575u     /* "queu" */
/* virtio_device's register windows: PCI capability type less one. */
#define VIRTIO__W_COMMON 0
#define VIRTIO__W_NOTIFY 1
#define VIRTIO__W_ISR 2
#define VIRTIO__W_CONFIG 3
#define VIRTIO__UNUSED(x) ((void)(x))
#define VIRTIO__BIT(b) VIRTIO_FEATURE_BIT(b)
/* Bits 24..41 are the transport's; the core decides them, not drivers. */
#define VIRTIO__TRANSPORT_BITS (((1ull << 42) - 1) & ~((1ull << 24) - 1))
#define VIRTIO__PAGE 4096u                /* legacy ring alignment and PFN unit; allocation piece */
#define VIRTIO__CHECK_US 10000u           /* a wait looks at the device status this often */
#define VIRTIO__QUEUE_DEFAULT 256u        /* default ring depth: one page of descriptors */

/* cl.exe has no GCC asm: barriers and port I/O come from its intrinsics,
   declared here (clang in MSVC mode takes them from its <intrin.h>). */
#if defined(_MSC_VER) && defined(__clang__)
#include <intrin.h>
#elif defined(_MSC_VER)
#ifdef __cplusplus
extern "C" {
#endif
void _ReadWriteBarrier(void);
long _InterlockedOr(long volatile *p, long v);
#pragma intrinsic(_ReadWriteBarrier, _InterlockedOr)
#if defined(_M_X64) || defined(_M_IX86)
unsigned char __inbyte(unsigned short port);
unsigned short __inword(unsigned short port);
unsigned long __indword(unsigned short port);
void __outbyte(unsigned short port, unsigned char v);
void __outword(unsigned short port, unsigned short v);
void __outdword(unsigned short port, unsigned long v);
#pragma intrinsic(__inbyte, __inword, __indword, __outbyte, __outword, __outdword)
#elif defined(_M_ARM64)
void __dmb(unsigned int type);
#pragma intrinsic(__dmb)
#endif
#ifdef __cplusplus
}
#endif
#endif

/* >>core.endian (VIRTIO__BIG_ENDIAN, VIRTIO__HOST_BIG_ENDIAN: declarations) */

static inline uint16_t virtio__bswap16(uint16_t v) { return (uint16_t)((v >> 8) | (v << 8)); }
static inline uint32_t virtio__bswap32(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}
static inline uint64_t virtio__bswap64(uint64_t v)
{
    return (uint64_t)virtio__bswap32((uint32_t)v) << 32 | virtio__bswap32((uint32_t)(v >> 32));
}

/* Whether a device (or a queue's priv) speaks the legacy interface: 0
   under VIRTIO_NO_LEGACY, so the compiler drops the legacy branches. */
#ifdef VIRTIO_NO_LEGACY
#define VIRTIO__LEGACY(x) ((void)(x), 0)
#else
#define VIRTIO__LEGACY(x) ((x)->legacy)
#endif

/* Ring memory is shared with the device and changes under us, so every
   access is volatile and of the field's full width (one load: a device
   may be writing it). Modern rings are little-endian, legacy rings use
   the CPU's order: swap when the field's order is not the host's. */
#define VIRTIO__SWAP(q) (((VIRTIO__LEGACY(&(q)->priv) && VIRTIO__BIG_ENDIAN) ? 1 : 0) != VIRTIO__HOST_BIG_ENDIAN)
#define VIRTIO__VP16(p) ((volatile uint16_t *)(volatile void *)(p))
#define VIRTIO__VP32(p) ((volatile uint32_t *)(volatile void *)(p))
#define VIRTIO__VP64(p) ((volatile uint64_t *)(volatile void *)(p))
static inline uint16_t virtio__ld16(const virtio_queue *q, const void *p)
{
    uint16_t v = *(const volatile uint16_t *)(const volatile void *)p;
    return VIRTIO__SWAP(q) ? virtio__bswap16(v) : v;
}
static inline uint32_t virtio__ld32(const virtio_queue *q, const void *p)
{
    uint32_t v = *(const volatile uint32_t *)(const volatile void *)p;
    return VIRTIO__SWAP(q) ? virtio__bswap32(v) : v;
}
static inline void virtio__st16(const virtio_queue *q, void *p, uint16_t v)
{
    *VIRTIO__VP16(p) = VIRTIO__SWAP(q) ? virtio__bswap16(v) : v;
}
static inline void virtio__st32(const virtio_queue *q, void *p, uint32_t v)
{
    *VIRTIO__VP32(p) = VIRTIO__SWAP(q) ? virtio__bswap32(v) : v;
}
static inline void virtio__st64(const virtio_queue *q, void *p, uint64_t v)
{
    /* Descriptor addresses are 8-byte aligned: one store. */
    *VIRTIO__VP64(p) = VIRTIO__SWAP(q) ? virtio__bswap64(v) : v;
}

/* >>core.barriers
   The device is another observer of ring memory (a host thread, or real
   hardware), so these are DMA-strength barriers. cl.exe comes first:
   clang in MSVC mode defines the GCC target macros too. */
#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
static inline void virtio__msvc_mb(void)
{
    long volatile b = 0;
    _InterlockedOr(&b, 0);   /* a locked instruction: a full barrier on x86 */
}
#define VIRTIO__MB() virtio__msvc_mb()
#define VIRTIO__RMB() _ReadWriteBarrier()   /* x86 keeps loads ordered ... */
#define VIRTIO__WMB() _ReadWriteBarrier()   /* ... and stores */
#elif defined(_MSC_VER) && defined(_M_ARM64)
#define VIRTIO__MB() __dmb(0x3)             /* _ARM64_BARRIER_OSH */
#define VIRTIO__RMB() __dmb(0x1)            /* OSHLD */
#define VIRTIO__WMB() __dmb(0x2)            /* OSHST */
#elif defined(__x86_64__)
#define VIRTIO__MB() __asm__ __volatile__("mfence" ::: "memory")
#define VIRTIO__RMB() __asm__ __volatile__("" ::: "memory")   /* x86 keeps loads ordered */
#define VIRTIO__WMB() __asm__ __volatile__("" ::: "memory")   /* ... and stores */
#elif defined(__i386__)
#define VIRTIO__MB() __asm__ __volatile__("lock; addl $0,0(%%esp)" ::: "memory", "cc")
#define VIRTIO__RMB() __asm__ __volatile__("" ::: "memory")
#define VIRTIO__WMB() __asm__ __volatile__("" ::: "memory")
#elif defined(__aarch64__)
#define VIRTIO__MB() __asm__ __volatile__("dmb osh" ::: "memory")
#define VIRTIO__RMB() __asm__ __volatile__("dmb oshld" ::: "memory")
#define VIRTIO__WMB() __asm__ __volatile__("dmb oshst" ::: "memory")
#elif defined(__arm__) && defined(__ARM_ARCH) && (__ARM_ARCH >= 7)
#define VIRTIO__MB() __asm__ __volatile__("dmb osh" ::: "memory")
#define VIRTIO__RMB() __asm__ __volatile__("dmb osh" ::: "memory")
#define VIRTIO__WMB() __asm__ __volatile__("dmb oshst" ::: "memory")
#elif defined(__riscv)
#define VIRTIO__MB() __asm__ __volatile__("fence iorw,iorw" ::: "memory")
#define VIRTIO__RMB() __asm__ __volatile__("fence ir,ir" ::: "memory")
#define VIRTIO__WMB() __asm__ __volatile__("fence ow,ow" ::: "memory")
#elif defined(__mips__) || defined(__powerpc__) || defined(__PPC__)
/* MIPS (II and later) and Power: sync completes every earlier access,
   to memory and to devices, before any later one. */
#define VIRTIO__MB() __asm__ __volatile__("sync" ::: "memory")
#define VIRTIO__RMB() VIRTIO__MB()
#define VIRTIO__WMB() VIRTIO__MB()
#elif defined(VIRTIO_PLATFORM_BARRIERS)
#define VIRTIO__NO_BUILTIN_BARRIERS 1
#define VIRTIO__MB() ((void)0)
#define VIRTIO__RMB() ((void)0)
#define VIRTIO__WMB() ((void)0)
#else
#error "virtio.h: no built-in DMA barriers for this target; define VIRTIO_PLATFORM_BARRIERS and set the platform's mb/rmb/wmb hooks"
#endif

static inline void virtio__mb(const virtio_platform *p)
{
    if (p->mb) p->mb(p->user); else VIRTIO__MB();
}
static inline void virtio__rmb(const virtio_platform *p)
{
    if (p->rmb) p->rmb(p->user); else VIRTIO__RMB();
}
static inline void virtio__wmb(const virtio_platform *p)
{
    if (p->wmb) p->wmb(p->user); else VIRTIO__WMB();
}

/* >>core.strings */
VIRTIO_API const char *virtio_result_str(int result)
{
#ifdef VIRTIO_NO_STRINGS
    VIRTIO__UNUSED(result);
    return "";
#else
    switch (result) {
    case VIRTIO_OK: return "VIRTIO_OK: success";
    case VIRTIO_EMPTY: return "VIRTIO_EMPTY: nothing to report yet";
    case VIRTIO_ERR_INVALID_ARG: return "VIRTIO_ERR_INVALID_ARG: invalid argument";
    case VIRTIO_ERR_UNSUPPORTED: return "VIRTIO_ERR_UNSUPPORTED: not supported by the device or build";
    case VIRTIO_ERR_DEVICE: return "VIRTIO_ERR_DEVICE: device broke the protocol";
    case VIRTIO_ERR_IO: return "VIRTIO_ERR_IO: device reported an I/O error";
    case VIRTIO_ERR_TIMEOUT: return "VIRTIO_ERR_TIMEOUT: wait timed out";
    case VIRTIO_ERR_NO_SPACE: return "VIRTIO_ERR_NO_SPACE: queue full, or no room (a BAR that did not fit)";
    case VIRTIO_ERR_NEEDS_RESET: return "VIRTIO_ERR_NEEDS_RESET: device needs a reset";
    case VIRTIO_ERR_NO_MEMORY: return "VIRTIO_ERR_NO_MEMORY: out of DMA memory";
    case VIRTIO_ERR_NOT_FOUND: return "VIRTIO_ERR_NOT_FOUND: no such device";
    case VIRTIO_ERR_STATE: return "VIRTIO_ERR_STATE: object not ready";
    case VIRTIO_ERR_FEATURES: return "VIRTIO_ERR_FEATURES: device refused the features";
    case VIRTIO_ERR_RANGE: return "VIRTIO_ERR_RANGE: out of the device's range";
    case VIRTIO_ERR_READ_ONLY: return "VIRTIO_ERR_READ_ONLY: device is read-only";
    case VIRTIO_ERR_LINK_DOWN: return "VIRTIO_ERR_LINK_DOWN: link is down";
    case VIRTIO_ERR_TOO_BIG: return "VIRTIO_ERR_TOO_BIG: too large";
    case VIRTIO_ERR_GONE: return "VIRTIO_ERR_GONE: device reads all-ones (gone)";
    default: return "VIRTIO_ERR_?: unknown result code";
    }
#endif
}

VIRTIO_API void virtio_log(const virtio_platform *p, int level, int id, const char *text, uint64_t value)
{
#ifdef VIRTIO_NO_LOG   /* an empty body: the compiler drops the calls and their arguments */
    VIRTIO__UNUSED(p);
    VIRTIO__UNUSED(level);
    VIRTIO__UNUSED(id);
    VIRTIO__UNUSED(text);
    VIRTIO__UNUSED(value);
#elif defined(VIRTIO_NO_STRINGS)
    if (!p || !p->log) return;
    VIRTIO__UNUSED(text);
    p->log(p->user, level, id, 0, value);
#else
    if (!p || !p->log) return;
    if (!text && id >= 0 && id < VIRTIO_MSG_COUNT) {
#define VIRTIO__MSG_TEXT(mid, mtext) mtext,
        static const char *const texts[] = { VIRTIO_LOG_MESSAGES(VIRTIO__MSG_TEXT) "" };
#undef VIRTIO__MSG_TEXT
        text = texts[id];
    }
    p->log(p->user, level, id, text, value);
#endif
}

/* >>core.regs
   Register access. Device registers are little-endian (all transports);
   the hooks and these helpers deal in CPU-order values. */
#if defined(_MSC_VER) && (defined(_M_X64) || defined(_M_IX86))
#define VIRTIO__HAVE_PORTIO 1
static inline uint32_t virtio__port_in(uint16_t port, unsigned width)
{
    if (width == 1) return __inbyte(port);
    if (width == 2) return __inword(port);
    return __indword(port);
}
static inline void virtio__port_out(uint16_t port, unsigned width, uint32_t v)
{
    if (width == 1) __outbyte(port, (unsigned char)v);
    else if (width == 2) __outword(port, (unsigned short)v);
    else __outdword(port, (unsigned long)v);
}
#elif defined(__x86_64__) || defined(__i386__)
#define VIRTIO__HAVE_PORTIO 1
static inline uint32_t virtio__port_in(uint16_t port, unsigned width)
{
    if (width == 1) { uint8_t v; __asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
    if (width == 2) { uint16_t v; __asm__ __volatile__("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
    { uint32_t v; __asm__ __volatile__("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }
}
static inline void virtio__port_out(uint16_t port, unsigned width, uint32_t v)
{
    if (width == 1) __asm__ __volatile__("outb %0, %1" : : "a"((uint8_t)v), "Nd"(port));
    else if (width == 2) __asm__ __volatile__("outw %0, %1" : : "a"((uint16_t)v), "Nd"(port));
    else __asm__ __volatile__("outl %0, %1" : : "a"(v), "Nd"(port));
}
#else
#define VIRTIO__HAVE_PORTIO 0
#endif

static inline uint32_t virtio__mem_in(uintptr_t addr, unsigned width)
{
    uint32_t v;
    if (width == 1) return *(volatile uint8_t *)addr;
    if (width == 2) {
        v = *(volatile uint16_t *)addr;
        return VIRTIO__HOST_BIG_ENDIAN ? virtio__bswap16((uint16_t)v) : v;
    }
    v = *(volatile uint32_t *)addr;
    return VIRTIO__HOST_BIG_ENDIAN ? virtio__bswap32(v) : v;
}
static inline void virtio__mem_out(uintptr_t addr, unsigned width, uint32_t v)
{
    if (width == 1) *(volatile uint8_t *)addr = (uint8_t)v;
    else if (width == 2) *(volatile uint16_t *)addr = VIRTIO__HOST_BIG_ENDIAN ? virtio__bswap16((uint16_t)v) : (uint16_t)v;
    else *(volatile uint32_t *)addr = VIRTIO__HOST_BIG_ENDIAN ? virtio__bswap32(v) : v;
}

/* One register access: the hook, else volatile memory, else (I/O space)
   memory at pci_io_base + port, else x86 port instructions. */
static VIRTIO__NOINLINE uint32_t virtio__reg_in(const virtio_platform *p, uint32_t space, uintptr_t addr, unsigned width)
{
#ifndef VIRTIO_DIRECT_REGS
    if (p->reg_read) return p->reg_read(p->user, (int)space, addr, width);
#endif
    if (space != VIRTIO_SPACE_MEM) {
        if (!p->pci_io_base) {
#if VIRTIO__HAVE_PORTIO
            return virtio__port_in((uint16_t)addr, width);
#else
            return 0xffffffffu;
#endif
        }
        addr += p->pci_io_base;   /* (one copy of the memory access) */
    }
    return virtio__mem_in(addr, width);
}
static VIRTIO__NOINLINE void virtio__reg_out(const virtio_platform *p, uint32_t space, uintptr_t addr, unsigned width, uint32_t v)
{
#ifndef VIRTIO_DIRECT_REGS
    if (p->reg_write) { p->reg_write(p->user, (int)space, addr, width, v); return; }
#endif
    if (space != VIRTIO_SPACE_MEM) {
        if (!p->pci_io_base) {
#if VIRTIO__HAVE_PORTIO
            virtio__port_out((uint16_t)addr, width, v);
#endif
            return;
        }
        addr += p->pci_io_base;
    }
    virtio__mem_out(addr, width, v);
}

/* Offset off of the device's register window w (VIRTIO__W_*), which the
   probe checked. */
static uint32_t virtio__win_in(const virtio_device *d, unsigned w, uintptr_t off, unsigned width)
{
    return virtio__reg_in(d->platform, d->priv.win[w].space, d->priv.win[w].addr + off, width);
}
static void virtio__win_out(const virtio_device *d, unsigned w, uintptr_t off, unsigned width, uint32_t v)
{
    virtio__reg_out(d->platform, d->priv.win[w].space, d->priv.win[w].addr + off, width, v);
}

/* Registers of the device's main block (MMIO window, PCI common config or
   legacy I/O block), at offsets the transport code validated at probe. */
static VIRTIO__NOINLINE uint32_t virtio__rd(const virtio_device *d, uintptr_t off, unsigned width)
{
    return virtio__win_in(d, VIRTIO__W_COMMON, off, width);
}
static VIRTIO__NOINLINE void virtio__wr(const virtio_device *d, uintptr_t off, unsigned width, uint32_t v)
{
    virtio__win_out(d, VIRTIO__W_COMMON, off, width, v);
}

/* >>core.wait */
VIRTIO_API VIRTIO__NOINLINE void virtio_wait_start(virtio_wait *w, const virtio_platform *p, uint32_t timeout_ms)
{
    uint64_t ms = timeout_ms ? timeout_ms : VIRTIO__DEF(p->timeout_ms, 5000u);
    uint64_t now = p->now_us ? p->now_us(p->user) : 0;
    w->platform = p;
    w->spins = 0;
    w->deadline = now + ms * 1000u;
    w->next_check = now + VIRTIO__CHECK_US;
}

VIRTIO_API virtio_result virtio_wait_step(virtio_wait *w)
{
    const virtio_platform *p;
    if (!w || !(p = w->platform)) return VIRTIO_ERR_INVALID_ARG;   /* (or never started) */
    if (w->spins == ~(uint64_t)0) return VIRTIO_ERR_TIMEOUT;   /* stays expired */
    w->spins++;
    if (p->idle) p->idle(p->user);
    if (p->now_us) {
        /* The clock may be an I/O read; look at it every 16th poll. */
        if ((w->spins & 15u) != 0 || (int64_t)(p->now_us(p->user) - w->deadline) < 0) return VIRTIO_OK;
    } else if (w->spins < VIRTIO_SPIN_LIMIT) {
        return VIRTIO_OK;
    }
    w->spins = ~(uint64_t)0;
    return VIRTIO_ERR_TIMEOUT;
}

/* >>core.memory */
VIRTIO_API virtio_result virtio_alloc(const virtio_platform *p, size_t size, size_t align, int kind, void **ptr,
                                      uint64_t *dev_addr)
{
    uint64_t da = 0;
    void *m;
    if (!p || !ptr || !p->dma_alloc || size == 0 || align == 0 || (align & (align - 1)) != 0)
        return VIRTIO_ERR_INVALID_ARG;
    m = p->dma_alloc(p->user, size, align, kind, &da);
    /* Both the CPU pointer and (for DMA memory) the device address must
       have the alignment: the device sees only the latter. */
    if (!m || ((uintptr_t)m & (align - 1)) != 0 || (kind == VIRTIO_MEM_DMA && (da & (align - 1)) != 0)) {
        if (m && p->dma_free) p->dma_free(p->user, m, size, kind);
        return VIRTIO_ERR_NO_MEMORY;
    }
    VIRTIO_MEMSET(m, 0, size);
    *ptr = m;
    if (dev_addr) *dev_addr = da;
    return VIRTIO_OK;
}

VIRTIO_API VIRTIO__NOINLINE void virtio_free(const virtio_platform *p, void *ptr, size_t size, int kind)
{
    if (p && ptr && p->dma_free) p->dma_free(p->user, ptr, size, kind);
}

/* VIRTIO_NO_DMA_MAP: caller buffers are at their CPU address, the hooks
   are compiled out (and refused at probe). */
#ifdef VIRTIO_NO_DMA_MAP
#define VIRTIO__DMA_MAP(p) 0
#define VIRTIO__DMA_UNMAP(p) 0
#else
#define VIRTIO__DMA_MAP(p) ((p)->dma_map)
#define VIRTIO__DMA_UNMAP(p) ((p)->dma_unmap)
#endif

VIRTIO_API virtio_result virtio_dma_map(const virtio_platform *p, void *buf, size_t len, int dir, virtio_sg *sg,
                                        uint32_t max, uint32_t max_piece, uint32_t *count, size_t *mapped)
{
    size_t off = 0, limit = max_piece ? max_piece : 0x80000000u;
    uint32_t n = 0;
    if (!p || !sg || !count || (!buf && len)) return VIRTIO_ERR_INVALID_ARG;
    if (limit > 0x80000000u) limit = 0x80000000u;
#ifndef VIRTIO_NO_DMA_MAP   /* (there the loop below is all: the same piece, less code) */
    if (!VIRTIO__DMA_MAP(p) && len <= limit && len && max) {   /* identity: one piece */
        sg[0].addr = (uint64_t)(uintptr_t)buf;
        sg[0].len = (uint32_t)len;
        sg[0].pad = 0;
        *count = 1;
        if (mapped) *mapped = len;
        return VIRTIO_OK;
    }
#endif
    while (off < len) {
        size_t want = len - off < limit ? len - off : limit, got = want;
        uint64_t addr = (uint64_t)(uintptr_t)((unsigned char *)buf + off);
        if (n == max) {
            if (mapped) break;
            virtio_dma_unmap(p, buf, dir, sg, n);
            return VIRTIO_ERR_TOO_BIG;
        }
        if (VIRTIO__DMA_MAP(p) && (p->dma_map(p->user, (unsigned char *)buf + off, want, dir, &addr, &got) != 0 ||
                           got == 0 || got > want)) {
            virtio_dma_unmap(p, buf, dir, sg, n);
            return VIRTIO_ERR_NO_MEMORY;
        }
        sg[n].addr = addr;
        sg[n].len = (uint32_t)got;
        sg[n].pad = 0;
        n++;
        off += got;
    }
    *count = n;
    if (mapped) *mapped = off;
    return VIRTIO_OK;
}

VIRTIO_API void virtio_dma_unmap(const virtio_platform *p, void *buf, int dir, const virtio_sg *sg, uint32_t count)
{
    size_t off = 0;
    uint32_t i;
    if (!p || !VIRTIO__DMA_UNMAP(p) || !sg) return;
    for (i = 0; i < count; i++) {
        p->dma_unmap(p->user, (unsigned char *)buf + off, sg[i].len, dir, sg[i].addr);
        off += sg[i].len;
    }
}

static virtio_result virtio__check_platform(const virtio_platform *p)
{
    if (!p || !p->dma_alloc) return VIRTIO_ERR_INVALID_ARG;
#ifdef VIRTIO_NO_DMA_MAP
    if (p->dma_map || p->dma_unmap) return VIRTIO_ERR_INVALID_ARG;
#endif
#ifdef VIRTIO__NO_BUILTIN_BARRIERS
    if (!p->mb || !p->rmb || !p->wmb) return VIRTIO_ERR_INVALID_ARG;
#endif
    return VIRTIO_OK;
}

/* >>transport
   A transport is one section below: it fills a table of these operations,
   and the device and queue code calls the transport only through it
   (dev->priv.ops). A transport change, or a new transport, is a change in
   its own section. Register offsets are the transport's own. */
typedef struct virtio__ops {
    uint32_t (*get_status)(const virtio_device *d);
    void (*set_status)(const virtio_device *d, uint32_t status);
    uint64_t (*get_features)(const virtio_device *d);    /* also: after ACKNOWLEDGE | DRIVER */
    void (*set_features)(virtio_device *d, uint64_t f); /* also: after FEATURES_OK (legacy: instead) */
    uint32_t (*generation)(const virtio_device *d);
    uint32_t (*cfg_in)(const virtio_device *d, uint32_t off, unsigned width);   /* CPU order */
    void (*cfg_out)(const virtio_device *d, uint32_t off, unsigned width, uint32_t v);
    uint32_t (*isr)(const virtio_device *d);           /* read and acknowledge */
    /* Select queue `index`; its maximum size (0: no such queue); *live: in use already. */
    uint32_t (*queue_max)(const virtio_device *d, uint32_t index, uint32_t *live);
    /* Ask for `size` entries of the selected queue; the size the device will use. */
    uint32_t (*queue_size)(const virtio_device *d, uint32_t max, uint32_t size);
    /* Give the selected queue its rings, set q's notification register, enable it. */
    virtio_result (*queue_enable)(virtio_device *d, virtio_queue *q, const uint64_t area[3]);
    /* MSI-X: route the config (queue ~0u) or a queue to a vector; the value read back. NULL: no MSI-X. */
    uint32_t (*set_vector)(const virtio_device *d, uint32_t queue, uint32_t vector);
} virtio__ops;
#define VIRTIO__CONFIG_VECTOR 0xffffffffu
/* One transport (VIRTIO_NO_LEGACY and one of VIRTIO_NO_PCI /
   VIRTIO_NO_MMIO): one table, so the device and queue code calls its
   operations directly (the compiler inlines what it likes) and the table
   itself is not linked in; dev->priv.ops stays NULL. */
#if defined(VIRTIO_NO_LEGACY) && defined(VIRTIO_NO_PCI) && !defined(VIRTIO_NO_MMIO)
#define VIRTIO__ONE_OPS
#define VIRTIO__OPS(d) (&virtio__mmio_ops)
#define VIRTIO__OPS_OK(d) 1
#elif defined(VIRTIO_NO_LEGACY) && defined(VIRTIO_NO_MMIO) && !defined(VIRTIO_NO_PCI)
#define VIRTIO__ONE_OPS
#define VIRTIO__OPS(d) (&virtio__pci_ops)
#define VIRTIO__OPS_OK(d) 1
#else
#define VIRTIO__OPS(d) ((d)->priv.ops)
#define VIRTIO__OPS_OK(d) ((d)->priv.ops != 0)
#endif

/* Configuration fields through the device's config window, as they are
   on the bus (modern: little-endian, converted by the register access). */
static uint32_t virtio__cfg_plain_in(const virtio_device *d, uint32_t off, unsigned width)
{
    return virtio__win_in(d, VIRTIO__W_CONFIG, off, width);
}
static void virtio__cfg_plain_out(const virtio_device *d, uint32_t off, unsigned width, uint32_t v)
{
    virtio__win_out(d, VIRTIO__W_CONFIG, off, width, v);
}
#ifndef VIRTIO_NO_LEGACY
static uint32_t virtio__no_generation(const virtio_device *d)
{
    VIRTIO__UNUSED(d);
    return 0;   /* legacy: no generation counter */
}
/* The legacy ring layout (virtio 1.2 2.7.2): descriptors, then the driver
   area, then the device area at the next page boundary: one block. */
static uint64_t virtio__legacy_pfn(const uint64_t area[3])
{
    return area[0] / VIRTIO__PAGE;
}
#endif

/* >>transport.mmio (virtio 1.2 4.2; version 1 "legacy" from 4.2.4) */
#ifndef VIRTIO_NO_MMIO
#define VIRTIO__MMIO_MAGIC 0x000
#define VIRTIO__MMIO_VERSION 0x004
#define VIRTIO__MMIO_DEVICE_ID 0x008
#define VIRTIO__MMIO_VENDOR_ID 0x00c
#define VIRTIO__MMIO_DEVICE_FEATURES 0x010
#define VIRTIO__MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO__MMIO_DRIVER_FEATURES 0x020
#define VIRTIO__MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO__MMIO_GUEST_PAGE_SIZE 0x028     /* v1 */
#define VIRTIO__MMIO_QUEUE_SEL 0x030
#define VIRTIO__MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO__MMIO_QUEUE_NUM 0x038
#define VIRTIO__MMIO_QUEUE_ALIGN 0x03c         /* v1 */
#define VIRTIO__MMIO_QUEUE_PFN 0x040           /* v1 */
#define VIRTIO__MMIO_QUEUE_READY 0x044         /* v2 */
#define VIRTIO__MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO__MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO__MMIO_INTERRUPT_ACK 0x064
#define VIRTIO__MMIO_STATUS 0x070
#define VIRTIO__MMIO_QUEUE_DESC 0x080          /* v2: desc, driver, device: 0x10 apart */
#define VIRTIO__MMIO_CONFIG_GENERATION 0x0fc   /* v2 */
#define VIRTIO__MMIO_CONFIG 0x100
#define VIRTIO__MMIO_MAGIC_VALUE 0x74726976u   /* "virt" little-endian */

static uint32_t virtio__mmio_get_status(const virtio_device *d)
{
    return virtio__rd(d, VIRTIO__MMIO_STATUS, 4);
}
static void virtio__mmio_set_status(const virtio_device *d, uint32_t s)
{
    virtio__wr(d, VIRTIO__MMIO_STATUS, 4, s);
}
static uint64_t virtio__mmio_get_features(const virtio_device *d)
{
    uint64_t f;
    if (VIRTIO__LEGACY(d)) virtio__wr(d, VIRTIO__MMIO_GUEST_PAGE_SIZE, 4, VIRTIO__PAGE);   /* PFN unit */
    virtio__wr(d, VIRTIO__MMIO_DEVICE_FEATURES_SEL, 4, 0);
    f = virtio__rd(d, VIRTIO__MMIO_DEVICE_FEATURES, 4);
    if (VIRTIO__LEGACY(d)) return f;
    virtio__wr(d, VIRTIO__MMIO_DEVICE_FEATURES_SEL, 4, 1);
    return f | (uint64_t)virtio__rd(d, VIRTIO__MMIO_DEVICE_FEATURES, 4) << 32;
}
static void virtio__mmio_set_features(virtio_device *d, uint64_t f)
{
    virtio__wr(d, VIRTIO__MMIO_DRIVER_FEATURES_SEL, 4, 0);
    virtio__wr(d, VIRTIO__MMIO_DRIVER_FEATURES, 4, (uint32_t)f);
    if (VIRTIO__LEGACY(d)) return;
    virtio__wr(d, VIRTIO__MMIO_DRIVER_FEATURES_SEL, 4, 1);
    virtio__wr(d, VIRTIO__MMIO_DRIVER_FEATURES, 4, (uint32_t)(f >> 32));
}
static uint32_t virtio__mmio_generation(const virtio_device *d)
{
    return virtio__rd(d, VIRTIO__MMIO_CONFIG_GENERATION, 4);
}
static uint32_t virtio__mmio_isr(const virtio_device *d)
{
    uint32_t v = virtio__rd(d, VIRTIO__MMIO_INTERRUPT_STATUS, 4);
    if (v & 3u) virtio__wr(d, VIRTIO__MMIO_INTERRUPT_ACK, 4, v & 3u);   /* never the undefined bits */
    return v;
}
static uint32_t virtio__mmio_queue_max(const virtio_device *d, uint32_t index, uint32_t *live)
{
    virtio__wr(d, VIRTIO__MMIO_QUEUE_SEL, 4, index);
    *live = virtio__rd(d, VIRTIO__LEGACY(d) ? VIRTIO__MMIO_QUEUE_PFN : VIRTIO__MMIO_QUEUE_READY, 4);
    return virtio__rd(d, VIRTIO__MMIO_QUEUE_NUM_MAX, 4);
}
/* QueueNum cannot be read back: the device is trusted to take it. */
static uint32_t virtio__mmio_queue_size(const virtio_device *d, uint32_t max, uint32_t size)
{
    VIRTIO__UNUSED(max);
    virtio__wr(d, VIRTIO__MMIO_QUEUE_NUM, 4, size);
    return size;
}
static virtio_result virtio__mmio_queue_enable(virtio_device *d, virtio_queue *q, const uint64_t area[3])
{
    uint32_t i;
    q->priv.notify = d->priv.win[VIRTIO__W_NOTIFY].addr;
    q->priv.notify_space = VIRTIO_SPACE_MEM;
    q->priv.notify_width = 4;
#ifndef VIRTIO_NO_LEGACY
    if (d->legacy) {
        virtio__wr(d, VIRTIO__MMIO_QUEUE_ALIGN, 4, VIRTIO__PAGE);
        virtio__wr(d, VIRTIO__MMIO_QUEUE_PFN, 4, (uint32_t)virtio__legacy_pfn(area));
        return VIRTIO_OK;
    }
#endif
    for (i = 0; i < 3; i++) {
        virtio__wr(d, VIRTIO__MMIO_QUEUE_DESC + 0x10u * i, 4, (uint32_t)area[i]);
        virtio__wr(d, VIRTIO__MMIO_QUEUE_DESC + 0x10u * i + 4, 4, (uint32_t)(area[i] >> 32));
    }
    virtio__wr(d, VIRTIO__MMIO_QUEUE_READY, 4, 1);
    return VIRTIO_OK;
}

static const virtio__ops virtio__mmio_ops = {
    virtio__mmio_get_status, virtio__mmio_set_status, virtio__mmio_get_features, virtio__mmio_set_features,
    virtio__mmio_generation, virtio__cfg_plain_in, virtio__cfg_plain_out, virtio__mmio_isr,
    virtio__mmio_queue_max, virtio__mmio_queue_size, virtio__mmio_queue_enable, 0
};

#ifndef VIRTIO_NO_LEGACY
/* Legacy virtio-mmio keeps configuration fields in the guest's order
   behind a little-endian window (QEMU: a native-endian region holding
   guest-order bytes), so a big-endian CPU swaps a multi-byte field back
   after the register access swapped it. */
static uint32_t virtio__mmio1_cfg_in(const virtio_device *d, uint32_t off, unsigned width)
{
    uint32_t v = virtio__cfg_plain_in(d, off, width);
    if (VIRTIO__BIG_ENDIAN) v = width == 2 ? virtio__bswap16((uint16_t)v) : width == 4 ? virtio__bswap32(v) : v;
    return v;
}
static void virtio__mmio1_cfg_out(const virtio_device *d, uint32_t off, unsigned width, uint32_t v)
{
    if (VIRTIO__BIG_ENDIAN) v = width == 2 ? virtio__bswap16((uint16_t)v) : width == 4 ? virtio__bswap32(v) : v;
    virtio__cfg_plain_out(d, off, width, v);
}
static const virtio__ops virtio__mmio1_ops = {
    virtio__mmio_get_status, virtio__mmio_set_status, virtio__mmio_get_features, virtio__mmio_set_features,
    virtio__no_generation, virtio__mmio1_cfg_in, virtio__mmio1_cfg_out, virtio__mmio_isr,
    virtio__mmio_queue_max, virtio__mmio_queue_size, virtio__mmio_queue_enable, 0
};
#endif
#endif /* VIRTIO_NO_MMIO */

VIRTIO_API virtio_result virtio_mmio_probe(virtio_device *dev, const virtio_platform *p, uintptr_t base)
{
#ifdef VIRTIO_NO_MMIO
    VIRTIO__UNUSED(dev); VIRTIO__UNUSED(p); VIRTIO__UNUSED(base);
    return VIRTIO_ERR_UNSUPPORTED;
#else
    uint32_t version, id;
    if (!dev || virtio__check_platform(p) != VIRTIO_OK) return VIRTIO_ERR_INVALID_ARG;
    if (virtio__reg_in(p, VIRTIO_SPACE_MEM, base + VIRTIO__MMIO_MAGIC, 4) != VIRTIO__MMIO_MAGIC_VALUE)
        return VIRTIO_ERR_NOT_FOUND;
    version = virtio__reg_in(p, VIRTIO_SPACE_MEM, base + VIRTIO__MMIO_VERSION, 4);
    id = virtio__reg_in(p, VIRTIO_SPACE_MEM, base + VIRTIO__MMIO_DEVICE_ID, 4);
    if (id == 0) return VIRTIO_ERR_NOT_FOUND;   /* empty slot */
    if (version != 2 && version != 1) return VIRTIO_ERR_UNSUPPORTED;
#ifdef VIRTIO_NO_LEGACY
    if (version == 1) return VIRTIO_ERR_UNSUPPORTED;
#endif
    VIRTIO__ZERO(dev);
    dev->platform = p;
    dev->device_id = id;
    dev->vendor_id = virtio__reg_in(p, VIRTIO_SPACE_MEM, base + VIRTIO__MMIO_VENDOR_ID, 4);
    dev->transport = VIRTIO_TRANSPORT_MMIO;
    dev->legacy = version == 1;
    dev->base = base;
    /* The register window is at least 0x200 bytes on every machine we know;
       no standard device has more than 0x100 bytes of configuration. */
    dev->config_size = 0x100;
    dev->priv.win[VIRTIO__W_COMMON].addr = base;   /* (VIRTIO_SPACE_MEM is 0: every window's space) */
    dev->priv.win[VIRTIO__W_NOTIFY].addr = base + VIRTIO__MMIO_QUEUE_NOTIFY;
    dev->priv.win[VIRTIO__W_ISR].addr = base + VIRTIO__MMIO_INTERRUPT_STATUS;
    dev->priv.win[VIRTIO__W_CONFIG].addr = base + VIRTIO__MMIO_CONFIG;
#ifndef VIRTIO_NO_LEGACY
    dev->priv.ops = dev->legacy ? &virtio__mmio1_ops : &virtio__mmio_ops;
#elif !defined(VIRTIO__ONE_OPS)
    dev->priv.ops = &virtio__mmio_ops;
#endif
    dev->priv.magic = VIRTIO__DEV_MAGIC;
    return VIRTIO_OK;
#endif
}

VIRTIO_API virtio_result virtio_mmio_find(const virtio_platform *p, uintptr_t base, uintptr_t stride,
                                          uint32_t count, uint32_t type, uint32_t *slot)
{
#ifdef VIRTIO_NO_MMIO
    VIRTIO__UNUSED(p); VIRTIO__UNUSED(base); VIRTIO__UNUSED(stride);
    VIRTIO__UNUSED(count); VIRTIO__UNUSED(type); VIRTIO__UNUSED(slot);
    return VIRTIO_ERR_UNSUPPORTED;
#else
    uint32_t i, id;
    /* The platform is checked here, not left to a probe that would only
       make every slot look empty. */
    if (!slot || virtio__check_platform(p) != VIRTIO_OK) return VIRTIO_ERR_INVALID_ARG;
    for (i = *slot; i < count; i++) {
        uintptr_t at = base + (uintptr_t)i * stride;
        if (virtio__reg_in(p, VIRTIO_SPACE_MEM, at + VIRTIO__MMIO_MAGIC, 4) != VIRTIO__MMIO_MAGIC_VALUE) continue;
        id = virtio__reg_in(p, VIRTIO_SPACE_MEM, at + VIRTIO__MMIO_DEVICE_ID, 4);
        if (id != 0 && (type == 0 || id == type)) {
            *slot = i;
            return VIRTIO_OK;
        }
    }
    return VIRTIO_ERR_NOT_FOUND;
#endif
}

/* >>transport.pci (virtio 1.2 4.1: modern from 4.1.4, legacy from 4.1.4.8)
   PCI configuration space: hooks, else ECAM, else the x86 0xCF8 ports. */
#ifndef VIRTIO_NO_PCI
static VIRTIO__NOINLINE uint32_t virtio__cfg_in(const virtio_platform *p, uint32_t bdf, unsigned off, unsigned width)
{
    if (p->pci_read) return p->pci_read(p->user, bdf, off, width);
    if (p->pci_ecam) return virtio__mem_in(p->pci_ecam + ((uintptr_t)bdf << 12) + off, width);
#if VIRTIO__HAVE_PORTIO
    if (off < 256) {
        virtio__port_out(0xcf8, 4, 0x80000000u | (bdf << 8) | (off & 0xfcu));
        return virtio__port_in((uint16_t)(0xcfc + (off & 3u)), width);
    }
#endif
    return 0xffffffffu;
}
static VIRTIO__NOINLINE void virtio__cfg_out(const virtio_platform *p, uint32_t bdf, unsigned off, unsigned width, uint32_t v)
{
    if (p->pci_write) { p->pci_write(p->user, bdf, off, width, v); return; }
    if (p->pci_ecam) { virtio__mem_out(p->pci_ecam + ((uintptr_t)bdf << 12) + off, width, v); return; }
#if VIRTIO__HAVE_PORTIO
    if (off < 256) {
        virtio__port_out(0xcf8, 4, 0x80000000u | (bdf << 8) | (off & 0xfcu));
        virtio__port_out((uint16_t)(0xcfc + (off & 3u)), width, v);
    }
#endif
}

/* virtio-pci common configuration (virtio 1.2 4.1.4.3). */
#define VIRTIO__PCI_DFSELECT 0
#define VIRTIO__PCI_DF 4
#define VIRTIO__PCI_GFSELECT 8
#define VIRTIO__PCI_GF 12
#define VIRTIO__PCI_MSIX_CONFIG 16
#define VIRTIO__PCI_NUM_QUEUES 18
#define VIRTIO__PCI_STATUS 20
#define VIRTIO__PCI_GENERATION 21
#define VIRTIO__PCI_Q_SELECT 22
#define VIRTIO__PCI_Q_SIZE 24
#define VIRTIO__PCI_Q_MSIX 26
#define VIRTIO__PCI_Q_ENABLE 28
#define VIRTIO__PCI_Q_NOFF 30
#define VIRTIO__PCI_Q_DESC 32             /* desc, driver, device: 8 apart */
#define VIRTIO__PCI_COMMON_MIN 56
/* Legacy virtio-pci I/O registers (virtio 1.2 4.1.4.8). */
#define VIRTIO__LPCI_HOST_FEATURES 0
#define VIRTIO__LPCI_GUEST_FEATURES 4
#define VIRTIO__LPCI_QUEUE_PFN 8
#define VIRTIO__LPCI_QUEUE_NUM 12
#define VIRTIO__LPCI_QUEUE_SEL 14
#define VIRTIO__LPCI_QUEUE_NOTIFY 16
#define VIRTIO__LPCI_STATUS 18
#define VIRTIO__LPCI_ISR 19
#define VIRTIO__LPCI_MSIX_CONFIG 20       /* only while MSI-X is enabled ... */
#define VIRTIO__LPCI_MSIX_QUEUE 22
#define VIRTIO__LPCI_CONFIG 20            /* ... which moves the configuration to 24 */
#define VIRTIO__PCI_VENDOR 0x1af4u
/* Capability types in the vendor-specific PCI capability. */
#define VIRTIO__PCI_CAP_COMMON 1
#define VIRTIO__PCI_CAP_NOTIFY 2
#define VIRTIO__PCI_CAP_ISR 3
#define VIRTIO__PCI_CAP_DEVICE 4
#define VIRTIO__PCI_COMMAND 0x04
#define VIRTIO__PCI_CMD_IO 0x1u
#define VIRTIO__PCI_CMD_MEM 0x2u
#define VIRTIO__PCI_CMD_MASTER 0x4u
#define VIRTIO__PCI_CMD_INTX_OFF 0x400u  /* Interrupt Disable: an earlier owner may have left it set */
#define VIRTIO__PCI_BAR0 0x10
#define VIRTIO__PCI_CAP_LEN 16u           /* struct virtio_pci_cap */
#define VIRTIO__PCI_NOTIFY_CAP_LEN 20u    /* ... plus notify_off_multiplier */
#define VIRTIO__PCI_MSIX_ENABLE 0x8000u   /* MSI-X message control */

/* Write a vector register (common configuration's register `reg`) and
   read it back: the device took the vector, or answered NONE (no
   resources). Any other answer is a lie (virtio 1.2 4.1.5.1.2) and counts
   as NONE, so that no caller indexes its handlers with it. */
static uint32_t virtio__vector_set(const virtio_device *d, uintptr_t reg, uint32_t vector)
{
    virtio__wr(d, reg, 2, vector);
    return virtio__rd(d, reg, 2) == vector ? vector : VIRTIO_MSIX_NONE;
}

#ifndef VIRTIO_NO_MSIX
/* The vector virtio_pci_msix_plan chose for queue `index`, or none. */
static uint32_t virtio__plan_vector(const virtio_device *d, uint32_t index)
{
    uint32_t v = d->priv.plan_queue;
    if (!d->priv.msix || v == VIRTIO_MSIX_NONE || v + index >= d->msix_entries) return VIRTIO_MSIX_NONE;
    return v + index;
}
#endif

static uint32_t virtio__pci_isr(const virtio_device *d)
{
    return virtio__win_in(d, VIRTIO__W_ISR, 0, 1);   /* reading clears it */
}

/* Modern: the common configuration structure. */
static uint32_t virtio__pci_get_status(const virtio_device *d)
{
    return virtio__rd(d, VIRTIO__PCI_STATUS, 1);
}
static void virtio__pci_set_status(const virtio_device *d, uint32_t s)
{
    virtio__wr(d, VIRTIO__PCI_STATUS, 1, s);
}
static uint64_t virtio__pci_get_features(const virtio_device *d)
{
    uint64_t f;
    virtio__wr(d, VIRTIO__PCI_DFSELECT, 4, 0);
    f = virtio__rd(d, VIRTIO__PCI_DF, 4);
    virtio__wr(d, VIRTIO__PCI_DFSELECT, 4, 1);
    return f | (uint64_t)virtio__rd(d, VIRTIO__PCI_DF, 4) << 32;
}
static void virtio__pci_set_features(virtio_device *d, uint64_t f)
{
    virtio__wr(d, VIRTIO__PCI_GFSELECT, 4, 0);
    virtio__wr(d, VIRTIO__PCI_GF, 4, (uint32_t)f);
    virtio__wr(d, VIRTIO__PCI_GFSELECT, 4, 1);
    virtio__wr(d, VIRTIO__PCI_GF, 4, (uint32_t)(f >> 32));
}
static uint32_t virtio__pci_generation(const virtio_device *d)
{
    return virtio__rd(d, VIRTIO__PCI_GENERATION, 1);
}
static uint32_t virtio__pci_queue_max(const virtio_device *d, uint32_t index, uint32_t *live)
{
    virtio__wr(d, VIRTIO__PCI_Q_SELECT, 2, index);
    *live = virtio__rd(d, VIRTIO__PCI_Q_ENABLE, 2);
    return virtio__rd(d, VIRTIO__PCI_Q_SIZE, 2);
}
/* queue_size is read-write: write it even when it is the maximum read a
   moment ago (that read may have been a lie), then read back what the
   device will use (kvmtool keeps its maximum, whatever is written). The
   read-back is the last word: writing another answer back would not help,
   as a device that ignored the first write ignores that one too. */
static uint32_t virtio__pci_queue_size(const virtio_device *d, uint32_t max, uint32_t size)
{
    VIRTIO__UNUSED(max);
    virtio__wr(d, VIRTIO__PCI_Q_SIZE, 2, size);
    return virtio__rd(d, VIRTIO__PCI_Q_SIZE, 2);
}
static virtio_result virtio__pci_queue_enable(virtio_device *d, virtio_queue *q, const uint64_t area[3])
{
    /* The queue's doorbell: notify_off x multiplier into the notify
       capability, whose window the probe checked (virtio 1.2 4.1.4.4). */
    uint64_t noff = (uint64_t)virtio__rd(d, VIRTIO__PCI_Q_NOFF, 2) * d->priv.notify_mul;
    uint32_t i;
    if (noff + 2 > d->priv.notify_len) {
        virtio_log(d->platform, VIRTIO_LOG_ERROR, VIRTIO_MSG_PCI_CAPS, 0, noff);
        return VIRTIO_ERR_DEVICE;
    }
    q->priv.notify = d->priv.win[VIRTIO__W_NOTIFY].addr + (uintptr_t)noff;
    q->priv.notify_space = d->priv.win[VIRTIO__W_NOTIFY].space;
    q->priv.notify_width = 2;
#ifndef VIRTIO_NO_MSIX   /* (else the reset left it at no vector) */
    /* The vector before the enable (virtio 1.2 4.1.4.3.2), read back. */
    q->vector = virtio__vector_set(d, VIRTIO__PCI_Q_MSIX, virtio__plan_vector(d, q->index));
#endif
    for (i = 0; i < 3; i++) {
        virtio__wr(d, VIRTIO__PCI_Q_DESC + 8u * i, 4, (uint32_t)area[i]);
        virtio__wr(d, VIRTIO__PCI_Q_DESC + 8u * i + 4, 4, (uint32_t)(area[i] >> 32));
    }
    virtio__wr(d, VIRTIO__PCI_Q_ENABLE, 2, 1);
    return VIRTIO_OK;
}
static uint32_t virtio__pci_set_vector(const virtio_device *d, uint32_t queue, uint32_t vector)
{
    uint32_t reg = VIRTIO__PCI_MSIX_CONFIG;
    if (queue != VIRTIO__CONFIG_VECTOR) {
        virtio__wr(d, VIRTIO__PCI_Q_SELECT, 2, queue);
        reg = VIRTIO__PCI_Q_MSIX;
    }
    return virtio__vector_set(d, reg, vector);
}
static const virtio__ops virtio__pci_ops = {
    virtio__pci_get_status, virtio__pci_set_status, virtio__pci_get_features, virtio__pci_set_features,
    virtio__pci_generation, virtio__cfg_plain_in, virtio__cfg_plain_out, virtio__pci_isr,
    virtio__pci_queue_max, virtio__pci_queue_size, virtio__pci_queue_enable, virtio__pci_set_vector
};

#ifndef VIRTIO_NO_LEGACY
/* Legacy: the I/O BAR. Configuration fields arrive in the CPU's order
   already (QEMU swaps them for a big-endian guest), so no swap here,
   unlike legacy virtio-mmio. */
static uint32_t virtio__lpci_get_status(const virtio_device *d)
{
    return virtio__rd(d, VIRTIO__LPCI_STATUS, 1);
}
static void virtio__lpci_set_status(const virtio_device *d, uint32_t s)
{
    virtio__wr(d, VIRTIO__LPCI_STATUS, 1, s);
}
static uint64_t virtio__lpci_get_features(const virtio_device *d)
{
    return virtio__rd(d, VIRTIO__LPCI_HOST_FEATURES, 4);
}
static void virtio__lpci_set_features(virtio_device *d, uint64_t f)
{
    virtio__wr(d, VIRTIO__LPCI_GUEST_FEATURES, 4, (uint32_t)f);
}
static uint32_t virtio__lpci_queue_max(const virtio_device *d, uint32_t index, uint32_t *live)
{
    virtio__wr(d, VIRTIO__LPCI_QUEUE_SEL, 2, index);
    *live = virtio__rd(d, VIRTIO__LPCI_QUEUE_PFN, 4);
    return virtio__rd(d, VIRTIO__LPCI_QUEUE_NUM, 2);
}
static uint32_t virtio__lpci_queue_size(const virtio_device *d, uint32_t max, uint32_t size)
{
    VIRTIO__UNUSED(d);
    VIRTIO__UNUSED(size);
    return max;   /* fixed by the device */
}
static virtio_result virtio__lpci_queue_enable(virtio_device *d, virtio_queue *q, const uint64_t area[3])
{
    q->priv.notify = d->priv.win[VIRTIO__W_NOTIFY].addr;
    q->priv.notify_space = VIRTIO_SPACE_IO;
    q->priv.notify_width = 2;
    if (d->priv.msix) {
#ifdef VIRTIO_NO_MSIX   /* someone else turned MSI-X on: no vector */
        q->vector = virtio__vector_set(d, VIRTIO__LPCI_MSIX_QUEUE, VIRTIO_MSIX_NONE);
#else
        q->vector = virtio__vector_set(d, VIRTIO__LPCI_MSIX_QUEUE, virtio__plan_vector(d, q->index));
#endif
    }
    virtio__wr(d, VIRTIO__LPCI_QUEUE_PFN, 4, (uint32_t)virtio__legacy_pfn(area));
    return VIRTIO_OK;
}
static uint32_t virtio__lpci_set_vector(const virtio_device *d, uint32_t queue, uint32_t vector)
{
    uint32_t reg = VIRTIO__LPCI_MSIX_CONFIG;
    if (queue != VIRTIO__CONFIG_VECTOR) {
        virtio__wr(d, VIRTIO__LPCI_QUEUE_SEL, 2, queue);
        reg = VIRTIO__LPCI_MSIX_QUEUE;
    }
    return virtio__vector_set(d, reg, vector);
}
static const virtio__ops virtio__lpci_ops = {
    virtio__lpci_get_status, virtio__lpci_set_status, virtio__lpci_get_features, virtio__lpci_set_features,
    virtio__no_generation, virtio__cfg_plain_in, virtio__cfg_plain_out, virtio__pci_isr,
    virtio__lpci_queue_max, virtio__lpci_queue_size, virtio__lpci_queue_enable, virtio__lpci_set_vector
};
#endif

/* Device type of a VirtIO PCI function, 0 if it is not one. Modern IDs are
   0x1040 + type; transitional IDs 0x1000-0x103f carry the type in the
   subsystem device ID (virtio 1.2 4.1.2.1). */
static uint32_t virtio__pci_type(const virtio_platform *p, uint32_t bdf)
{
    uint32_t id = virtio__cfg_in(p, bdf, 0, 4);
    uint32_t vendor = id & 0xffffu, device = id >> 16;
    if (vendor != VIRTIO__PCI_VENDOR || device < 0x1000 || device > 0x107f) return 0;
    if (device >= 0x1040) return device - 0x1040;
    return virtio__cfg_in(p, bdf, 0x2e, 2);
}

/* The first function at or after f that exists, or `end`. Functions 1-7
   are looked at only on multi-function devices. */
static uint32_t virtio__pci_next(const virtio_platform *p, uint32_t f, uint32_t end)
{
    for (; f < end; f++) {
        uint32_t f0 = f & ~7u;
        if ((virtio__cfg_in(p, f0, 0, 2) & 0xffffu) == 0xffffu ||
            ((f & 7u) != 0 && !(virtio__cfg_in(p, f0, 0x0e, 1) & 0x80u))) {
            f = f0 + 7;   /* nothing (more) at this device number */
            continue;
        }
        if ((virtio__cfg_in(p, f, 0, 2) & 0xffffu) != 0xffffu) break;
    }
    return f;
}

/* One base address register as decoded. */
typedef struct virtio__bar {
    uint64_t addr;    /* bus address (I/O: port number) */
    uint64_t size;    /* 0: not implemented or nonsense */
    uint32_t space;   /* VIRTIO_SPACE_* */
    uint32_t is64;    /* a 64-bit memory BAR: the next register is its upper half */
} virtio__bar;

/* Learn BAR `bar` of bdf: its address and, by the sizing handshake (write
   all-ones, read back which bits stick, write back the value read first),
   its size. The caller turns the function's decoding off meanwhile: a BAR
   holding all-ones would claim addresses that are not its own. A mask
   that is not a power of two is a lie; the BAR is then not used. */
static VIRTIO__NOINLINE uint32_t virtio__pci_bar_mask(const virtio_platform *p, uint32_t bdf, unsigned off, uint32_t *v)
{
    uint32_t m;
    *v = virtio__cfg_in(p, bdf, off, 4);
    virtio__cfg_out(p, bdf, off, 4, 0xffffffffu);
    m = virtio__cfg_in(p, bdf, off, 4);
    virtio__cfg_out(p, bdf, off, 4, *v);
    return m;
}
static void virtio__pci_bar_read(const virtio_platform *p, uint32_t bdf, uint32_t bar, virtio__bar *b)
{
    unsigned off = VIRTIO__PCI_BAR0 + 4u * bar;
    uint32_t lo, hi = 0, mlo, mhi = 0xffffffffu, flags = 0xfu;   /* the low bits that are not address */
    VIRTIO__ZERO(b);
    mlo = virtio__pci_bar_mask(p, bdf, off, &lo);
    if (mlo == 0) return;
    if (mlo & 1u) {   /* I/O: 16-bit decoders leave the upper half clear */
        b->space = VIRTIO_SPACE_IO;
        flags = 3u;
        mlo |= 0xffff0000u;
    } else {
        b->space = VIRTIO_SPACE_MEM;
        b->is64 = ((mlo >> 1) & 3u) == 2;
        if (b->is64 && bar < 5) {
            mhi = virtio__pci_bar_mask(p, bdf, off + 4, &hi);
        } else if (b->is64) {
            return;   /* a 64-bit BAR cannot start in the last register */
        }
    }
    b->addr = ((uint64_t)hi << 32 | lo) & ~(uint64_t)flags;
    b->size = ~((uint64_t)mhi << 32 | (mlo & ~flags)) + 1;
    if ((b->size & (b->size - 1)) != 0) b->size = 0;
}

/* Turn I/O and memory decoding of bdf off, returning the command word to
   restore. */
static uint32_t virtio__pci_decode_off(const virtio_platform *p, uint32_t bdf)
{
    uint32_t cmd = virtio__cfg_in(p, bdf, VIRTIO__PCI_COMMAND, 2);
    virtio__cfg_out(p, bdf, VIRTIO__PCI_COMMAND, 2, cmd & ~(VIRTIO__PCI_CMD_IO | VIRTIO__PCI_CMD_MEM));
    return cmd;
}

/* Is [a, a + n) inside [base, base + size)? (No sum is formed: none wraps.) */
static int virtio__inside(uint64_t a, uint64_t n, uint64_t base, uint64_t size)
{
    return n <= size && a - base <= size - n;
}

/* The bus address of [off, off + len) of BAR b, or 0 when that range
   is not wholly inside the BAR, or the BAR is unassigned, or its end does
   not fit in a uintptr_t (a 32-bit CPU). Every register window the
   library uses on PCI comes from here. */
static uintptr_t virtio__bar_window(const virtio__bar *b, uint64_t off, uint64_t len)
{
    if (b->addr == 0 || len == 0 || !virtio__inside(off, len, 0, b->size)) return 0;
    if (b->addr + b->size < b->addr || b->addr + b->size - 1 > (uint64_t)(uintptr_t)-1) return 0;
    return (uintptr_t)(b->addr + off);
}

/* Does BAR b lie wholly inside the host bridge window of its kind? A
   window of size 0 holds nothing. */
static int virtio__bar_in_windows(const virtio_pci_windows *w, const virtio__bar *b)
{
    if (b->space == VIRTIO_SPACE_IO) return virtio__inside(b->addr, b->size, w->io_base, w->io_size);
    return virtio__inside(b->addr, b->size, w->mem_base, w->mem_size) ||
           virtio__inside(b->addr, b->size, w->mem64_base, w->mem64_size);
}

/* The MSI-X capability matters for MSI-X, and on legacy devices (enabled,
   it moves their configuration); without both nothing reads it. */
#if defined(VIRTIO_NO_MSIX) && defined(VIRTIO_NO_LEGACY)
#define VIRTIO__PCI_MSIX_CAP 0
#else
#define VIRTIO__PCI_MSIX_CAP 1
#endif

static virtio_result virtio__pci_probe(virtio_device *dev, const virtio_platform *p, uint32_t bdf, int want_legacy)
{
    virtio__bar bars[6];
    virtio_device nd;   /* the description, built here: *dev is written only on success */
    uint32_t type, cap, n, i, cmd, used = 0, found = 0, bad = 0, msix = 0, msix_cap = 0, msix_entries = 0;
    uintptr_t msix_table = 0;
    int modern;
#ifndef VIRTIO_NO_LEGACY
    uint32_t io_hdr = 0;   /* legacy: the registers before the configuration */
    uintptr_t io = 0;
#endif

    if (!dev || virtio__check_platform(p) != VIRTIO_OK) return VIRTIO_ERR_INVALID_ARG;
    if (bdf > 0xffffu) return VIRTIO_ERR_INVALID_ARG;
    type = virtio__pci_type(p, bdf);
    if (type == 0) return VIRTIO_ERR_NOT_FOUND;
    VIRTIO__ZERO(&nd);

    /* Every BAR's extent, learnt with decoding off (firmware's way). */
    cmd = virtio__pci_decode_off(p, bdf);
    for (i = 0; i < 6; i++) {
        virtio__pci_bar_read(p, bdf, i, &bars[i]);
        if (p->pci_windows && !virtio__bar_in_windows(p->pci_windows, &bars[i])) bars[i].size = 0;
        if (bars[i].is64 && i < 5) VIRTIO__ZERO(&bars[++i]);
    }
    virtio__cfg_out(p, bdf, VIRTIO__PCI_COMMAND, 2, cmd);

    /* Walk the capability list (bounded: a hostile list may loop). A
       VirtIO capability is used only if it lies within configuration
       space and its window lies within an implemented BAR; the first
       usable one of each type wins (virtio 1.2 4.1.4). */
    if (virtio__cfg_in(p, bdf, 6, 2) & 0x10u) {
        cap = virtio__cfg_in(p, bdf, 0x34, 1) & 0xfcu;
        for (n = 0; cap >= 0x40 && n < 48; n++) {
            uint32_t hdr = virtio__cfg_in(p, bdf, cap, 2);   /* id, next: every capability has them */
            uint32_t id = hdr & 0xffu;
            if (VIRTIO__PCI_MSIX_CAP && id == 0x11 && !msix_cap && cap <= 0x100 - 12) {   /* MSI-X (PCI 3.0 6.8.2) */
                uint32_t ctrl = virtio__cfg_in(p, bdf, cap + 2, 2);
                msix_cap = cap;
                msix = (ctrl & VIRTIO__PCI_MSIX_ENABLE) != 0;   /* moves legacy configuration */
                msix_entries = (ctrl & 0x7ffu) + 1;
#ifndef VIRTIO_NO_MSIX   /* (no table: every MSI-X call answers VIRTIO_ERR_UNSUPPORTED) */
                {
                    uint32_t tab = virtio__cfg_in(p, bdf, cap + 4, 4);
                    if ((tab & 7u) < 6 && bars[tab & 7u].space == VIRTIO_SPACE_MEM)
                        msix_table = virtio__bar_window(&bars[tab & 7u], tab & ~7u, 16u * msix_entries);
                    if (msix_table) used |= VIRTIO__PCI_CMD_MEM;
                }
#endif
            } else if (id == 0x09) {   /* vendor-specific: VirtIO */
                /* Nothing past cap_len is read: the type needs 4 bytes,
                   the structure 16 (notify: 20). */
                uint32_t clen = virtio__cfg_in(p, bdf, cap + 2, 1);
                uint32_t t = clen >= 4 ? virtio__cfg_in(p, bdf, cap + 3, 1) : 0;
                uint32_t need = t == VIRTIO__PCI_CAP_NOTIFY ? VIRTIO__PCI_NOTIFY_CAP_LEN : VIRTIO__PCI_CAP_LEN;
                if (t >= 1 && t <= 4 && !(found & (1u << t))) {
                    /* The smallest structure of each type: the common one's
                       fields, a 16-bit doorbell, the ISR byte, config. */
                    uint32_t bar = 6, l = 0, least = t == VIRTIO__PCI_CAP_COMMON ? VIRTIO__PCI_COMMON_MIN
                                                   : t == VIRTIO__PCI_CAP_NOTIFY ? 2 : 1;
                    uintptr_t a = 0;
                    if (clen >= need && cap + need <= 0x100) {   /* bar, offset, length */
                        bar = virtio__cfg_in(p, bdf, cap + 4, 1);
                        l = virtio__cfg_in(p, bdf, cap + 12, 4);
                        if (bar < 6 && l >= least)
                            a = virtio__bar_window(&bars[bar], virtio__cfg_in(p, bdf, cap + 8, 4), l);
                    }
                    if (a) {
                        nd.priv.win[t - 1].addr = a;
                        nd.priv.win[t - 1].space = bars[bar].space;
                        used |= bars[bar].space == VIRTIO_SPACE_IO ? VIRTIO__PCI_CMD_IO : VIRTIO__PCI_CMD_MEM;
                        if (t == VIRTIO__PCI_CAP_NOTIFY) {
                            nd.priv.notify_mul = virtio__cfg_in(p, bdf, cap + 16, 4);
                            nd.priv.notify_len = l;
                        } else if (t == VIRTIO__PCI_CAP_DEVICE) {
                            nd.config_size = l > 0x1000 ? 0x1000 : l;
                        }
                        found |= 1u << t;
                    } else {
                        bad |= 1u << t;
                    }
                }
            }
            cap = (hdr >> 8) & 0xfcu;
        }
    }

    /* A structure whose only capabilities point outside their BAR (or
       configuration space) is a lie: not something to work around, nor a
       reason to fall back to the legacy interface. */
    if (!want_legacy && (bad & ~found & 0x1eu)) {
        virtio_log(p, VIRTIO_LOG_ERROR, VIRTIO_MSG_PCI_CAPS, 0, bdf);
        return VIRTIO_ERR_DEVICE;
    }
    modern = !want_legacy && (found & 0x0eu) == 0x0eu;   /* common, notify, isr */
#ifdef VIRTIO_NO_LEGACY
    if (!modern) return VIRTIO_ERR_UNSUPPORTED;
#else
    if (!modern) {   /* legacy: registers, then configuration, in the I/O BAR 0 */
        io_hdr = VIRTIO__LPCI_CONFIG + (msix ? 4u : 0u);
        io = bars[0].space == VIRTIO_SPACE_IO ? virtio__bar_window(&bars[0], 0, io_hdr) : 0;
        if (virtio__cfg_in(p, bdf, 2, 2) >= 0x1040) {   /* a modern-only ID has no legacy interface */
            if (want_legacy) return VIRTIO_ERR_UNSUPPORTED;
            virtio_log(p, VIRTIO_LOG_ERROR, VIRTIO_MSG_PCI_CAPS, 0, bdf);
            return VIRTIO_ERR_DEVICE;
        }
        if (!io) {
            virtio_log(p, VIRTIO_LOG_ERROR, VIRTIO_MSG_PCI_CAPS, 0, bdf);
            return VIRTIO_ERR_DEVICE;
        }
#if !VIRTIO__HAVE_PORTIO
        /* No port instructions, no hook, no window onto I/O space: the
           registers cannot be reached. */
#ifndef VIRTIO_DIRECT_REGS
        if (!p->reg_read || !p->reg_write)
#endif
            if (!p->pci_io_base) return VIRTIO_ERR_UNSUPPORTED;
#endif
    }
#endif

    /* The device is usable: the rest of its description. */
    nd.platform = p;
    nd.device_id = type;
    nd.vendor_id = VIRTIO__PCI_VENDOR;
    nd.transport = VIRTIO_TRANSPORT_PCI;
    nd.bdf = bdf;
    nd.config_vector = nd.priv.plan_config = nd.priv.plan_queue = VIRTIO_MSIX_NONE;
    nd.priv.msix = msix;
    if (msix_table) {
        nd.priv.msix_cap = msix_cap;
        nd.msix_entries = msix_entries;
        nd.priv.msix_table = msix_table;
    }
#ifndef VIRTIO__ONE_OPS
    nd.priv.ops = &virtio__pci_ops;
#endif
#ifndef VIRTIO_NO_LEGACY
    if (!modern) {   /* the windows found (if any) are not used */
        nd.legacy = 1;
        for (i = 0; i < 4; i++) nd.priv.win[i].space = VIRTIO_SPACE_IO;
        nd.priv.win[VIRTIO__W_COMMON].addr = io;
        nd.priv.win[VIRTIO__W_NOTIFY].addr = io + VIRTIO__LPCI_QUEUE_NOTIFY;
        nd.priv.win[VIRTIO__W_ISR].addr = io + VIRTIO__LPCI_ISR;
        nd.priv.win[VIRTIO__W_CONFIG].addr = io + io_hdr;
        nd.config_size = (uint32_t)(bars[0].size - io_hdr > 0x1000 ? 0x1000 : bars[0].size - io_hdr);
        nd.priv.notify_mul = nd.priv.notify_len = 0;
        nd.priv.ops = &virtio__lpci_ops;
        used = (used & VIRTIO__PCI_CMD_MEM) | VIRTIO__PCI_CMD_IO;
    }
#endif
    nd.base = nd.priv.win[VIRTIO__W_COMMON].addr;
    nd.priv.magic = VIRTIO__DEV_MAGIC;
    /* Decode what we use, and let the device master the bus. */
    virtio__cfg_out(p, bdf, VIRTIO__PCI_COMMAND, 2, (cmd & ~VIRTIO__PCI_CMD_INTX_OFF) | used | VIRTIO__PCI_CMD_MASTER);
    if (!VIRTIO__LEGACY(&nd)) nd.num_queues = virtio__rd(&nd, VIRTIO__PCI_NUM_QUEUES, 2);
    *dev = nd;
    return VIRTIO_OK;
}

/* Place one BAR in window k (naturally aligned); 0 if it does not fit. */
static uint64_t virtio__pci_place(uint64_t *next, const uint64_t *end, uint64_t size)
{
    uint64_t a = (*next + size - 1) & ~(size - 1);
    if (a < *next || a > *end || size > *end - a) return 0;
    *next = a + size;
    return a;
}

/* virtio_pci_assign's state: a cursor and an end per window (0 I/O, 1
   32-bit memory, 2 64-bit memory), the BARs that did not fit. */
typedef struct virtio__pci_alloc {
    uint64_t next[3], end[3];
    uint32_t missed;
} virtio__pci_alloc;

/* One pass of virtio_pci_assign over function f's first `bars` BARs:
   those of `size` bytes get an address; returns the largest size below
   `size` seen (0: none), the next pass's. f's decoding is off meanwhile;
   the last pass (size 0) turns on the kinds of BAR that all got an
   address, and bus mastering, and returns the kinds it left off (a BAR
   of that kind got no address: it would decode at 0). */
static uint64_t virtio__pci_assign_fn(const virtio_platform *p, virtio__pci_alloc *a, uint32_t f, uint32_t bars,
                                      uint64_t size)
{
    uint32_t cmd = virtio__pci_decode_off(p, f), bar, enable = VIRTIO__PCI_CMD_MASTER, failed = 0;
    uint64_t below = 0;
    for (bar = 0; bar < bars; bar++) {
        virtio__bar b;
        uint32_t off = VIRTIO__PCI_BAR0 + 4u * bar, k;
        virtio__pci_bar_read(p, f, bar, &b);
        if (b.is64 && ++bar >= bars) break;   /* (its upper half is not a BAR of its own) */
        if (b.size == 0) continue;
        k = b.space == VIRTIO_SPACE_IO ? 0 : (b.is64 && a->end[2]) ? 2 : 1;
        if (b.size == size) {
            b.addr = virtio__pci_place(&a->next[k], &a->end[k], b.size);
            if (!b.is64 && (b.addr + b.size - 1) >> 32) b.addr = 0;   /* a 32-bit BAR cannot hold it */
            virtio__cfg_out(p, f, off, 4, (uint32_t)b.addr);
            if (b.is64) virtio__cfg_out(p, f, off + 4, 4, (uint32_t)(b.addr >> 32));
            /* Nor can a BAR that does not read back what was written (a
               16-bit I/O decoder above 64 KiB): it would decode elsewhere. */
            if ((virtio__cfg_in(p, f, off, 4) ^ (uint32_t)b.addr) & (k ? ~0xfu : ~3u)) {
                b.addr = 0;
                virtio__cfg_out(p, f, off, 4, 0);
            }
            if (!b.addr) a->missed++;   /* it stays at 0, and its kind is not decoded */
        } else if (b.size < size && b.size > below) {
            below = b.size;
        }
        if (b.addr) enable |= k ? VIRTIO__PCI_CMD_MEM : VIRTIO__PCI_CMD_IO;
        else failed |= k ? VIRTIO__PCI_CMD_MEM : VIRTIO__PCI_CMD_IO;
    }
    virtio__cfg_out(p, f, VIRTIO__PCI_COMMAND, 2, size ? cmd : (cmd | enable) & ~failed);
    return size ? below : failed;
}

/* Give every BAR of the functions on bus [first, end) an address (a
   bridge's own two included; not what lies behind it), largest first:
   sizes are powers of two, so each BAR then starts where the one before
   it ended, naturally aligned, and a window holds all it can (in bus
   order a 16 KiB BAR before a 256 MiB one wastes 256 MiB less 16 KiB).
   One pass per size, the first only to find the largest, and a last one
   that turns decoding on. */
static void virtio__pci_assign_bus(const virtio_platform *p, virtio__pci_alloc *a, uint32_t first, uint32_t end)
{
    uint64_t size = ~(uint64_t)0, below;   /* (no BAR has size ~0) */
    for (;;) {
        uint32_t f;
        below = 0;
        for (f = virtio__pci_next(p, first, end); f < end; f = virtio__pci_next(p, f + 1, end)) {
            uint32_t hdr = virtio__cfg_in(p, f, 0x0e, 1) & 0x7fu;
            if (hdr <= 1) {
                uint64_t s = virtio__pci_assign_fn(p, a, f, hdr ? 2u : 6u, size);
                if (s > below) below = s;
            }
        }
        if (size == 0) break;
        size = below;
    }
}

/* A bridge forwards whole granules: 4 KiB of I/O, 1 MiB of memory. Move
   the cursors to the next granule (to the window's end if none is left). */
static void virtio__pci_granule(virtio__pci_alloc *a)
{
    uint32_t k;
    for (k = 0; k < 3; k++) {
        uint64_t g = k ? 0xfffffu : 0xfffu, n = (a->next[k] + g) & ~g;
        a->next[k] = n < a->next[k] || n > a->end[k] ? a->end[k] : n;
    }
}

/* Close bridge f once the buses behind it are walked: its windows cover
   what was placed since `start` (an empty one stays shut, base above
   limit), its subordinate bus is the last one numbered, and it forwards
   what it has windows for, but not the kinds in `blocked` (one of its
   own BARs of that kind got no address: the same enable would make that
   BAR decode at 0). */
static void virtio__pci_bridge_close(const virtio_platform *p, virtio__pci_alloc *a, uint32_t f,
                                     const uint64_t *start, uint32_t last_bus, uint32_t blocked)
{
    uint32_t cmd = VIRTIO__PCI_CMD_MASTER;
    uint64_t lo, hi;
    virtio__pci_granule(a);
    lo = start[0];
    hi = a->next[0] - 1;
    if (a->next[0] > start[0]) {   /* I/O base and limit: bits 15:12, then 31:16 */
        virtio__cfg_out(p, f, 0x1c, 2, (uint32_t)(lo >> 8 & 0xf0u) | (uint32_t)(hi & 0xf000u));
        virtio__cfg_out(p, f, 0x30, 4, (uint32_t)(lo >> 16 & 0xffffu) | (uint32_t)(hi & 0xffff0000u));
        cmd |= VIRTIO__PCI_CMD_IO;
    } else {
        virtio__cfg_out(p, f, 0x1c, 2, 0xf0u);
        virtio__cfg_out(p, f, 0x30, 4, 0);
    }
    lo = start[1];
    hi = a->next[1] - 1;   /* memory base and limit: bits 31:20 */
    virtio__cfg_out(p, f, 0x20, 4,
                    a->next[1] > start[1] ? (uint32_t)(lo >> 16 & 0xfff0u) | (uint32_t)(hi & 0xfff00000u) : 0xfff0u);
    lo = start[2];
    hi = a->next[2] - 1;   /* prefetchable memory: bits 63:20 */
    if (a->next[2] > start[2]) {
        virtio__cfg_out(p, f, 0x24, 4, (uint32_t)(lo >> 16 & 0xfff0u) | (uint32_t)(hi & 0xfff00000u));
        virtio__cfg_out(p, f, 0x28, 4, (uint32_t)(lo >> 32));
        virtio__cfg_out(p, f, 0x2c, 4, (uint32_t)(hi >> 32));
    } else {
        virtio__cfg_out(p, f, 0x24, 4, 0xfff0u);
        virtio__cfg_out(p, f, 0x28, 4, 0);
        virtio__cfg_out(p, f, 0x2c, 4, 0);
    }
    if (a->next[1] > start[1] || a->next[2] > start[2]) cmd |= VIRTIO__PCI_CMD_MEM;
    virtio__cfg_out(p, f, 0x1a, 1, last_bus);   /* subordinate bus */
    virtio__cfg_out(p, f, VIRTIO__PCI_COMMAND, 2, (virtio__cfg_in(p, f, VIRTIO__PCI_COMMAND, 2) | cmd) & ~blocked);
}
#endif /* VIRTIO_NO_PCI */

VIRTIO_API virtio_result virtio_pci_assign(const virtio_platform *p, const virtio_pci_windows *w, uint32_t *unplaced)
{
#ifdef VIRTIO_NO_PCI
    VIRTIO__UNUSED(p); VIRTIO__UNUSED(w); VIRTIO__UNUSED(unplaced);
    return VIRTIO_ERR_UNSUPPORTED;
#else
    /* Depth first from bus 0: each PCI-PCI bridge gets the next bus
       number and, once what is behind it is placed, windows around it.
       An explicit stack, at most 8 bridges deep. */
    struct {
        uint32_t bridge, f, end, blocked;
        uint64_t start[3];
    } st[9];
    virtio__pci_alloc a;
    uint32_t d = 0, buses, next_bus = 1;
    if (!p || !w) return VIRTIO_ERR_INVALID_ARG;
    a.next[0] = w->io_base < 0x1000u ? 0x1000u : w->io_base;   /* keep legacy ISA ports free */
    a.end[0] = w->io_size ? (uint64_t)w->io_base + w->io_size : 0;
    a.next[1] = w->mem_base;
    a.end[1] = w->mem_size ? w->mem_base + w->mem_size : 0;
    a.next[2] = w->mem64_base;
    a.end[2] = w->mem64_size ? w->mem64_base + w->mem64_size : 0;
    a.missed = 0;
    buses = p->pci_buses ? (p->pci_buses > 256 ? 256 : p->pci_buses) : 1u;
    st[0].bridge = 0;
    st[0].f = 0;
    st[0].end = 256;
    virtio__pci_assign_bus(p, &a, 0, 256);
    for (;;) {
        uint32_t f = virtio__pci_next(p, st[d].f, st[d].end), hdr;
        if (f >= st[d].end) {   /* this bus is done */
            if (d == 0) break;
            virtio__pci_bridge_close(p, &a, st[d].bridge, st[d].start, next_bus - 1, st[d].blocked);
            d--;
            continue;
        }
        st[d].f = f + 1;
        hdr = virtio__cfg_in(p, f, 0x0e, 1) & 0x7fu;
        if (hdr == 1) {   /* a PCI-PCI bridge (its own BARs placed with its bus): its secondary bus */
            if (d + 1 == sizeof st / sizeof st[0] || next_bus >= buses) {
                a.missed++;   /* no bus number for it: what is behind it stays unplaced */
                continue;
            }
            /* (its own BARs' last pass again: which kinds it must not forward) */
            st[d + 1].blocked = (uint32_t)virtio__pci_assign_fn(p, &a, f, 2, 0);
            virtio__pci_decode_off(p, f);
            virtio__cfg_out(p, f, 0x18, 1, f >> 8);     /* primary bus */
            virtio__cfg_out(p, f, 0x19, 1, next_bus);   /* secondary */
            virtio__cfg_out(p, f, 0x1a, 1, 0xffu);      /* subordinate: open while walking */
            virtio__pci_granule(&a);
            d++;
            st[d].bridge = f;
            st[d].f = next_bus << 8;
            st[d].end = (next_bus + 1) << 8;
            VIRTIO_MEMCPY(st[d].start, a.next, sizeof a.next);
            next_bus++;
            virtio__pci_assign_bus(p, &a, st[d].f, st[d].end);
        }
    }
    if (unplaced) *unplaced = a.missed;
    return a.missed ? VIRTIO_ERR_NO_SPACE : VIRTIO_OK;
#endif
}

VIRTIO_API virtio_result virtio_pci_probe(virtio_device *dev, const virtio_platform *p, uint32_t bdf)
{
#ifdef VIRTIO_NO_PCI
    VIRTIO__UNUSED(dev); VIRTIO__UNUSED(p); VIRTIO__UNUSED(bdf);
    return VIRTIO_ERR_UNSUPPORTED;
#else
    return virtio__pci_probe(dev, p, bdf, 0);
#endif
}

VIRTIO_API virtio_result virtio_pci_probe_legacy(virtio_device *dev, const virtio_platform *p, uint32_t bdf)
{
#if defined(VIRTIO_NO_PCI) || defined(VIRTIO_NO_LEGACY)
    VIRTIO__UNUSED(dev); VIRTIO__UNUSED(p); VIRTIO__UNUSED(bdf);
    return VIRTIO_ERR_UNSUPPORTED;
#else
    return virtio__pci_probe(dev, p, bdf, 1);
#endif
}

VIRTIO_API virtio_result virtio_pci_find(const virtio_platform *p, uint32_t type, uint32_t *bdf)
{
#ifdef VIRTIO_NO_PCI
    VIRTIO__UNUSED(p); VIRTIO__UNUSED(type); VIRTIO__UNUSED(bdf);
    return VIRTIO_ERR_UNSUPPORTED;
#else
    uint32_t f, end;
    if (!p || !bdf) return VIRTIO_ERR_INVALID_ARG;
    end = (p->pci_buses ? (p->pci_buses > 256 ? 256 : p->pci_buses) : 1u) << 8;
    for (f = virtio__pci_next(p, *bdf, end); f < end; f = virtio__pci_next(p, f + 1, end)) {
        uint32_t t = virtio__pci_type(p, f);
        if (t != 0 && (type == 0 || t == type)) {
            *bdf = f;
            return VIRTIO_OK;
        }
    }
    return VIRTIO_ERR_NOT_FOUND;
#endif
}


/* >>transport.pci.msix */
VIRTIO_API virtio_result virtio_pci_msix_set(virtio_device *dev, uint32_t entry, uint64_t address, uint32_t data)
{
#ifdef VIRTIO_NO_PCI
    VIRTIO__UNUSED(dev); VIRTIO__UNUSED(entry); VIRTIO__UNUSED(address); VIRTIO__UNUSED(data);
    return VIRTIO_ERR_UNSUPPORTED;
#else
    uintptr_t e;
    if (!dev || dev->priv.magic != VIRTIO__DEV_MAGIC) return VIRTIO_ERR_STATE;
    if (dev->transport != VIRTIO_TRANSPORT_PCI || !dev->priv.msix_table) return VIRTIO_ERR_UNSUPPORTED;
    if (entry >= dev->msix_entries) return VIRTIO_ERR_RANGE;
    e = dev->priv.msix_table + 16u * entry;   /* address lo, hi, data, vector control */
    /* Masked while address and data change: a live entry caught halfway
       sends an undefined message (PCI 3.0 6.8.2). */
    virtio__reg_out(dev->platform, VIRTIO_SPACE_MEM, e + 12, 4, 1);
    virtio__reg_out(dev->platform, VIRTIO_SPACE_MEM, e, 4, (uint32_t)address);
    virtio__reg_out(dev->platform, VIRTIO_SPACE_MEM, e + 4, 4, (uint32_t)(address >> 32));
    virtio__reg_out(dev->platform, VIRTIO_SPACE_MEM, e + 8, 4, data);
    virtio__reg_out(dev->platform, VIRTIO_SPACE_MEM, e + 12, 4, 0);   /* unmasked */
    return VIRTIO_OK;
#endif
}

/* Function Mask in the MSI-X message control: masks every entry. */
#define VIRTIO__PCI_MSIX_MASKALL 0x4000u

VIRTIO_API virtio_result virtio_pci_msix_enable(virtio_device *dev, int on)
{
#ifdef VIRTIO_NO_PCI
    VIRTIO__UNUSED(dev); VIRTIO__UNUSED(on);
    return VIRTIO_ERR_UNSUPPORTED;
#else
    const virtio_platform *p;
    uint32_t ctrl;
    if (!dev || dev->priv.magic != VIRTIO__DEV_MAGIC) return VIRTIO_ERR_STATE;
    if (dev->transport != VIRTIO_TRANSPORT_PCI || !dev->priv.msix_table) return VIRTIO_ERR_UNSUPPORTED;
    p = dev->platform;
    ctrl = virtio__cfg_in(p, dev->bdf, dev->priv.msix_cap + 2, 2);
    /* On: unmask the function too, which an earlier owner may have left
       masked (every message would be lost). */
    ctrl = on ? (ctrl | VIRTIO__PCI_MSIX_ENABLE) & ~VIRTIO__PCI_MSIX_MASKALL : ctrl & ~VIRTIO__PCI_MSIX_ENABLE;
    virtio__cfg_out(p, dev->bdf, dev->priv.msix_cap + 2, 2, ctrl);
    if (dev->legacy && dev->priv.msix != (uint32_t)(on != 0)) {
        /* Legacy: two vector registers appear before the configuration. */
        if (on) {
            dev->priv.win[VIRTIO__W_CONFIG].addr += 4;
            dev->config_size = dev->config_size > 4 ? dev->config_size - 4 : 0;
        } else {
            dev->priv.win[VIRTIO__W_CONFIG].addr -= 4;
            dev->config_size += 4;
        }
    }
    dev->priv.msix = on != 0;
    if (!on) {   /* back to INTx: make sure it is not disabled */
        uint32_t cmd = virtio__cfg_in(p, dev->bdf, VIRTIO__PCI_COMMAND, 2);
        if (cmd & VIRTIO__PCI_CMD_INTX_OFF) virtio__cfg_out(p, dev->bdf, VIRTIO__PCI_COMMAND, 2, cmd & ~VIRTIO__PCI_CMD_INTX_OFF);
        dev->config_vector = VIRTIO_MSIX_NONE;
    }
    return VIRTIO_OK;
#endif
}

VIRTIO_API virtio_result virtio_pci_msix_plan(virtio_device *dev, uint32_t config_vector, uint32_t queue_vector)
{
#ifdef VIRTIO_NO_PCI
    VIRTIO__UNUSED(dev); VIRTIO__UNUSED(config_vector); VIRTIO__UNUSED(queue_vector);
    return VIRTIO_ERR_UNSUPPORTED;
#else
    if (!dev || dev->priv.magic != VIRTIO__DEV_MAGIC) return VIRTIO_ERR_STATE;
    if (dev->transport != VIRTIO_TRANSPORT_PCI || !dev->priv.msix_table) return VIRTIO_ERR_UNSUPPORTED;
    if ((config_vector != VIRTIO_MSIX_NONE && config_vector >= dev->msix_entries) ||
        (queue_vector != VIRTIO_MSIX_NONE && queue_vector >= dev->msix_entries))
        return VIRTIO_ERR_INVALID_ARG;
    dev->priv.plan_config = config_vector;
    dev->priv.plan_queue = queue_vector;
    return VIRTIO_OK;
#endif
}


/* >>device: the status handshake and feature negotiation (virtio 1.2
   3.1), on any transport. */
static VIRTIO__NOINLINE int virtio__dev_ok(const virtio_device *d)
{
    return d && d->priv.magic == VIRTIO__DEV_MAGIC && d->platform && VIRTIO__OPS_OK(d);
}
/* Status as the device reports it, 0xff when the registers read
   all-ones: no live device can show that (FAILED is ours to set, and
   bits 4 and 5 are reserved), so it means the device is gone. */
#define VIRTIO__STATUS_GONE 0xffu
static VIRTIO__NOINLINE uint32_t virtio__get_status(const virtio_device *d)
{
    return VIRTIO__OPS(d)->get_status(d) & 0xffu;
}
static VIRTIO__NOINLINE void virtio__set_status(const virtio_device *d, uint32_t s)
{
    VIRTIO__OPS(d)->set_status(d, s);
}

VIRTIO_API virtio_result virtio_device_reset(virtio_device *dev)
{
    virtio_wait w;
    uint32_t s;
    if (!virtio__dev_ok(dev)) return VIRTIO_ERR_STATE;
    virtio__set_status(dev, 0);
    dev->features = 0;
    /* The reset is done when status reads 0 (virtio 1.2 4.1.4.3.2,
       4.2.2.1); a modern device may take its time. */
    virtio_wait_start(&w, dev->platform, 0);
    while ((s = virtio__get_status(dev)) != 0) {
        if (s == VIRTIO__STATUS_GONE) return VIRTIO_ERR_GONE;
        if (virtio_wait_step(&w) != VIRTIO_OK) {
            virtio_log(dev->platform, VIRTIO_LOG_ERROR, VIRTIO_MSG_RESET_TIMEOUT, 0, dev->device_id);
            return VIRTIO_ERR_TIMEOUT;
        }
    }
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_device_fail(virtio_device *dev)
{
    if (!virtio__dev_ok(dev)) return VIRTIO_ERR_STATE;
    virtio__set_status(dev, virtio__get_status(dev) | VIRTIO_STATUS_FAILED);
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_device_status(virtio_device *dev, uint32_t *status)
{
    uint32_t s;
    if (!virtio__dev_ok(dev)) return VIRTIO_ERR_STATE;
    s = virtio__get_status(dev);
    if (s == VIRTIO__STATUS_GONE) return VIRTIO_ERR_GONE;
    if (status) *status = s;
    /* Legacy devices have no NEEDS_RESET bit; do not read it into them. */
    return (!VIRTIO__LEGACY(dev) && (s & VIRTIO_STATUS_NEEDS_RESET)) ? VIRTIO_ERR_NEEDS_RESET : VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_device_wait_step(virtio_device *dev, virtio_wait *w)
{
    virtio_result r = virtio_wait_step(w), st;
    int due = 1;   /* the wait ended (or w is bad): say why */
    if (r == VIRTIO_OK) {
        const virtio_platform *p = w->platform;
        if (p->now_us) {
            /* At most one status read per period, and only on the steps
               that read the clock anyway. */
            due = (w->spins & 15u) == 0 && (int64_t)(p->now_us(p->user) - w->next_check) >= 0;
            if (due) w->next_check += VIRTIO__CHECK_US;
        } else {
            due = (w->spins & 1023u) == 0;
        }
    }
    if (!due) return VIRTIO_OK;
    st = virtio_device_status(dev, 0);   /* (VIRTIO_ERR_STATE for a bad dev) */
    return st == VIRTIO_OK ? r : st;
}

/* Reset, ACKNOWLEDGE, DRIVER, then the offer: the start of every
   negotiation. */
static virtio_result virtio__hello(virtio_device *dev)
{
    virtio_result r;
    if ((r = virtio_device_reset(dev)) != VIRTIO_OK) return r;
    virtio__set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE);
    virtio__set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    dev->device_features = VIRTIO__OPS(dev)->get_features(dev);
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_device_offer(virtio_device *dev, uint64_t *offered)
{
    virtio_result r;
    if (!virtio__dev_ok(dev)) return VIRTIO_ERR_STATE;
    if ((r = virtio__hello(dev)) != VIRTIO_OK) return r;
    if (offered) *offered = dev->device_features;
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_device_begin(virtio_device *dev, uint64_t driver_features,
                                             const virtio_device_options *o)
{
    virtio_device_options def;
    uint64_t offered, want;
    virtio_result r;
    if (!virtio__dev_ok(dev)) return VIRTIO_ERR_STATE;
    if (!o) {
        VIRTIO__ZERO(&def);
        o = &def;
    }
    if (o->ring > VIRTIO_RING_PACKED) return VIRTIO_ERR_INVALID_ARG;
    if ((r = virtio__hello(dev)) != VIRTIO_OK) return r;
    offered = dev->device_features;
    want = driver_features & ~VIRTIO__TRANSPORT_BITS;
#ifndef VIRTIO_NO_INDIRECT
    if (!o->no_indirect) want |= VIRTIO__BIT(VIRTIO_FEATURE_INDIRECT_DESC);
#endif
#ifndef VIRTIO_NO_EVENT_IDX
    if (!o->no_event_idx) want |= VIRTIO__BIT(VIRTIO_FEATURE_EVENT_IDX);
#endif
    if (!VIRTIO__LEGACY(dev)) {
        want |= VIRTIO__BIT(VIRTIO_FEATURE_VERSION_1) | VIRTIO__BIT(VIRTIO_FEATURE_ACCESS_PLATFORM) |
                VIRTIO__BIT(VIRTIO_FEATURE_ORDER_PLATFORM);
#ifndef VIRTIO_NO_PACKED
        if (o->ring != VIRTIO_RING_SPLIT) want |= VIRTIO__BIT(VIRTIO_FEATURE_RING_PACKED);
#endif
        if (!(offered & VIRTIO__BIT(VIRTIO_FEATURE_VERSION_1))) r = VIRTIO_ERR_UNSUPPORTED;
    } else {
        want &= 0xffffffffull;
    }
    want &= offered;
    if (o->ring == VIRTIO_RING_PACKED && !(want & VIRTIO__BIT(VIRTIO_FEATURE_RING_PACKED))) r = VIRTIO_ERR_UNSUPPORTED;
    if ((dev->platform->flags & VIRTIO_PLATFORM_FORCE_ACCESS_PLATFORM) &&
        !(want & VIRTIO__BIT(VIRTIO_FEATURE_ACCESS_PLATFORM))) {
        virtio_log(dev->platform, VIRTIO_LOG_ERROR, VIRTIO_MSG_NO_ACCESS_PLATFORM, 0, dev->device_id);
        r = VIRTIO_ERR_UNSUPPORTED;
    }
    if (r != VIRTIO_OK) {
        virtio_device_fail(dev);
        return r;
    }
    VIRTIO__OPS(dev)->set_features(dev, want);
    if (!VIRTIO__LEGACY(dev)) {
        virtio__set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
        if (!(virtio__get_status(dev) & VIRTIO_STATUS_FEATURES_OK)) {
            virtio_log(dev->platform, VIRTIO_LOG_ERROR, VIRTIO_MSG_FEATURES_REFUSED, 0, want);
            virtio_device_fail(dev);
            return VIRTIO_ERR_FEATURES;
        }
    }
    dev->features = want;
    dev->priv.ring = (want & VIRTIO__BIT(VIRTIO_FEATURE_RING_PACKED)) ? VIRTIO_RING_PACKED : VIRTIO_RING_SPLIT;
#ifndef VIRTIO_NO_MSIX   /* (there no plan is ever made) */
    /* The reset cleared every vector: route configuration changes again. */
    if (VIRTIO__OPS(dev)->set_vector && dev->priv.msix && dev->priv.plan_config != VIRTIO_MSIX_NONE)
        dev->config_vector = VIRTIO__OPS(dev)->set_vector(dev, VIRTIO__CONFIG_VECTOR, dev->priv.plan_config);
#endif
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_device_ready(virtio_device *dev)
{
    uint32_t s;
    if (!virtio__dev_ok(dev)) return VIRTIO_ERR_STATE;
    s = virtio__get_status(dev);
    if (s == VIRTIO__STATUS_GONE) return VIRTIO_ERR_GONE;
    if (!(s & VIRTIO_STATUS_DRIVER) || (s & VIRTIO_STATUS_FAILED)) return VIRTIO_ERR_STATE;
    if (!VIRTIO__LEGACY(dev) && (s & VIRTIO_STATUS_NEEDS_RESET)) return VIRTIO_ERR_NEEDS_RESET;
    virtio__set_status(dev, s | VIRTIO_STATUS_DRIVER_OK);
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_device_isr(virtio_device *dev, uint32_t *isr)
{
    uint32_t v;
    if (!virtio__dev_ok(dev)) return VIRTIO_ERR_STATE;
    v = dev->priv.msix ? 0 : VIRTIO__OPS(dev)->isr(dev);
    if (isr) *isr = (v | 0xffffff00u) == 0xffffffffu ? 0 : v & (VIRTIO_ISR_QUEUE | VIRTIO_ISR_CONFIG);   /* all-ones: gone */
    return VIRTIO_OK;
}

VIRTIO_API int virtio_device_has(const virtio_device *dev, unsigned bit)
{
    return dev && bit < 64 && ((dev->features >> bit) & 1u);
}

/* Route the configuration (queue = VIRTIO__CONFIG_VECTOR) or a queue to
   an MSI-X vector, and check the device took it. */
static virtio_result virtio__set_vector(virtio_device *dev, uint32_t queue, uint32_t vector)
{
    if (!virtio__dev_ok(dev)) return VIRTIO_ERR_STATE;
    if (vector > VIRTIO_MSIX_NONE) return VIRTIO_ERR_INVALID_ARG;
    if (!VIRTIO__OPS(dev)->set_vector || !dev->priv.msix) return VIRTIO_ERR_UNSUPPORTED;
    if (vector != VIRTIO_MSIX_NONE && vector >= dev->msix_entries) return VIRTIO_ERR_INVALID_ARG;
    return VIRTIO__OPS(dev)->set_vector(dev, queue, vector) == vector ? VIRTIO_OK : VIRTIO_ERR_UNSUPPORTED;
}

VIRTIO_API virtio_result virtio_device_set_vector(virtio_device *dev, uint32_t vector)
{
    virtio_result r = virtio__set_vector(dev, VIRTIO__CONFIG_VECTOR, vector);
    if (r == VIRTIO_OK || r == VIRTIO_ERR_UNSUPPORTED) dev->config_vector = r == VIRTIO_OK ? vector : VIRTIO_MSIX_NONE;
    return r;
}

/* >>device.config: device-specific configuration under the generation
   counter (virtio 1.2 2.5.1). */
#define VIRTIO__CONFIG_MAX 256u   /* longest virtio_config_read: read in one snapshot */

/* Read `count` fields of `width` bytes at `off` into out[] as one
   snapshot; out[] is written only once the snapshot is consistent. */
static virtio_result virtio__config_snapshot(virtio_device *d, uint32_t off, unsigned width, uint32_t count,
                                             void *out)
{
    union {   /* (each width through its own member: no type punning) */
        uint8_t b[VIRTIO__CONFIG_MAX];
        uint16_t h[VIRTIO__CONFIG_MAX / 2];
        uint32_t w[VIRTIO__CONFIG_MAX / 4];
    } tmp;
    uint32_t tries, i, before, after;
    if (!virtio__dev_ok(d)) return VIRTIO_ERR_STATE;
    if (!out || (off & (width - 1)) != 0) return VIRTIO_ERR_INVALID_ARG;
    if ((uint64_t)count * width > VIRTIO__CONFIG_MAX) return VIRTIO_ERR_TOO_BIG;
    if (off > d->config_size || (uint64_t)count * width > d->config_size - off) return VIRTIO_ERR_RANGE;
    for (tries = 0; tries < 16; tries++) {
        before = VIRTIO__OPS(d)->generation(d);
        for (i = 0; i < count; i++) {
            uint32_t v = VIRTIO__OPS(d)->cfg_in(d, off + i * width, width);
            if (width == 1) tmp.b[i] = (uint8_t)v;
            else if (width == 2) tmp.h[i] = (uint16_t)v;
            else tmp.w[i] = v;
        }
        after = VIRTIO__OPS(d)->generation(d);
        if (before == after) {
            VIRTIO_MEMCPY(out, tmp.b, (size_t)count * width);
            return VIRTIO_OK;
        }
    }
    virtio_log(d->platform, VIRTIO_LOG_ERROR, VIRTIO_MSG_CONFIG_UNSTABLE, 0, off);
    return VIRTIO_ERR_DEVICE;
}

VIRTIO_API virtio_result virtio_config_read(virtio_device *dev, uint32_t offset, void *buf, uint32_t len)
{
    if (!buf && len) return VIRTIO_ERR_INVALID_ARG;
    return virtio__config_snapshot(dev, offset, 1, len, buf);
}

VIRTIO_API virtio_result virtio_config_read_fields(virtio_device *dev, uint32_t offset, unsigned width,
                                                   uint32_t count, void *out)
{
    if (width != 1 && width != 2 && width != 4) return VIRTIO_ERR_INVALID_ARG;
    return virtio__config_snapshot(dev, offset, width, count, out);
}

VIRTIO_API virtio_result virtio_config_read8(virtio_device *dev, uint32_t offset, uint8_t *v)
{
    return virtio__config_snapshot(dev, offset, 1, 1, v);
}

VIRTIO_API virtio_result virtio_config_read16(virtio_device *dev, uint32_t offset, uint16_t *v)
{
    return virtio__config_snapshot(dev, offset, 2, 1, v);
}

VIRTIO_API VIRTIO__NOINLINE virtio_result virtio_config_read32(virtio_device *dev, uint32_t offset, uint32_t *v)
{
    return virtio__config_snapshot(dev, offset, 4, 1, v);
}

VIRTIO_API virtio_result virtio_config_read64(virtio_device *dev, uint32_t offset, uint64_t *v)
{
    uint32_t half[2];
    virtio_result r;
    if (!v) return VIRTIO_ERR_INVALID_ARG;
    /* 64-bit fields are only 4-byte aligned in some config layouts. */
    if ((r = virtio__config_snapshot(dev, offset, 4, 2, half)) != VIRTIO_OK) return r;
    /* A legacy field in a big-endian CPU's order has its high half first. */
    *v = (VIRTIO__LEGACY(dev) && VIRTIO__BIG_ENDIAN) ? (uint64_t)half[0] << 32 | half[1] : (uint64_t)half[1] << 32 | half[0];
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_config_write(virtio_device *dev, uint32_t offset, unsigned width, uint32_t value)
{
    if (!virtio__dev_ok(dev)) return VIRTIO_ERR_STATE;
    if ((width != 1 && width != 2 && width != 4) || (offset & (width - 1)) != 0) return VIRTIO_ERR_INVALID_ARG;
    if (offset > dev->config_size || width > dev->config_size - offset) return VIRTIO_ERR_RANGE;
    VIRTIO__OPS(dev)->cfg_out(dev, offset, width, value);
    return VIRTIO_OK;
}

/* >>queue
   Descriptor flags, shared by both ring formats (virtio 1.2 2.7.5, 2.8). */
#define VIRTIO__DESC_NEXT 1u
#define VIRTIO__DESC_WRITE 2u
#define VIRTIO__DESC_INDIRECT 4u
#define VIRTIO__DESC_AVAIL (1u << 7)    /* packed */
#define VIRTIO__DESC_USED (1u << 15)    /* packed */
#define VIRTIO__AVAIL_NO_INTERRUPT 1u   /* split avail.flags */
#define VIRTIO__USED_NO_NOTIFY 1u       /* split used.flags */
#define VIRTIO__EVENT_ENABLE 0u         /* packed event suppression flags */
#define VIRTIO__EVENT_DISABLE 1u
#define VIRTIO__EVENT_DESC 2u

/* Private per-descriptor shadow (split: per descriptor index; packed: per
   buffer id). Everything the driver relies on to free a chain lives here,
   in memory the device cannot reach; the rings are only ever written,
   except for the fields the device owns (used entries, event indices). */
typedef struct virtio__slot {
    void *cookie;
    uint32_t in_len;    /* writable bytes posted: bound for the used length */
    uint16_t ndesc;     /* ring descriptors held by this chain; 0 = not a head in flight */
    uint16_t next;      /* free-list link, and split chain link */
} virtio__slot;

#define VIRTIO__DESC_SIZE 16u
/* Offsets inside a descriptor. Split: addr, len, flags, next.
   Packed: addr, len, id, flags (virtio 1.2 2.7.5 and 2.8.13). */
#define VIRTIO__D_ADDR 0
#define VIRTIO__D_LEN 8
#define VIRTIO__SD_FLAGS 12
#define VIRTIO__SD_NEXT 14
#define VIRTIO__PD_ID 12
#define VIRTIO__PD_FLAGS 14

static inline virtio__slot *virtio__slots(const virtio_queue *q) { return (virtio__slot *)q->priv.state; }
static inline unsigned char *virtio__desc(const virtio_queue *q, uint32_t i)
{
    return q->priv.desc + (size_t)i * VIRTIO__DESC_SIZE;
}
static inline int virtio__q_ok(const virtio_queue *q)
{
    return q && q->priv.magic == VIRTIO__Q_MAGIC;
}

static virtio_result virtio__q_broken(virtio_queue *q, int msg, uint64_t value)
{
    q->priv.broken = 1;
    virtio_log(q->dev->platform, VIRTIO_LOG_ERROR, msg, 0, value);
    return VIRTIO_ERR_DEVICE;
}

static inline void virtio__notify(const virtio_queue *q)
{
    virtio__reg_out(q->dev->platform, q->priv.notify_space, q->priv.notify, q->priv.notify_width, q->index);
}

/* The used length, bounded by the writable bytes posted. A device that
   reports more is not trusted, but it costs no safety to go on: kvmtool's
   block device, for one, reports the bytes it moved to or from the disk
   (a write of N bytes reports N, though it wrote only the status byte).
   So the length is clamped and counted in q->clamped, and the queue keeps
   working; a driver that needs the exact length (a received frame)
   compares q->clamped around the pop and drops that buffer. A chain the
   device only reads has no length to report (QEMU reports the bytes it
   read there): 0, and not counted. */
static inline uint32_t virtio__used_len(virtio_queue *q, uint32_t in_len, uint32_t l)
{
    if (l <= in_len) return l;
    if (in_len != 0) {
        if (q->clamped++ == 0) virtio_log(q->dev->platform, VIRTIO_LOG_WARN, VIRTIO_MSG_BAD_USED_LEN, 0, l);
    }
    return in_len;
}

/* Record a posted buffer in the private shadow (what pop trusts) and
   count its descriptors as taken. */
static inline void virtio__shadow(virtio_queue *q, uint16_t id, void *cookie, uint64_t in_len, uint32_t ndesc)
{
    virtio__slot *s = &virtio__slots(q)[id];
    s->cookie = cookie;
    s->in_len = in_len > 0xffffffffu ? 0xffffffffu : (uint32_t)in_len;
    s->ndesc = (uint16_t)ndesc;
    q->num_free -= ndesc;
    q->priv.inflight++;
}

/* >>queue.split (virtio 1.2 2.7)
   Make descriptor `head` (its chain written, its shadow filled) the
   device's: ring entry, then (after a write barrier) the index. */
static inline void virtio__split_publish(virtio_queue *q, uint16_t head)
{
    unsigned char *avail = q->priv.split.avail;
    virtio__st16(q, avail + 4 + 2u * (q->priv.split.avail_idx & (q->size - 1)), head);
    q->priv.split.avail_idx++;
    virtio__wmb(q->dev->platform);
    virtio__st16(q, avail + 2, q->priv.split.avail_idx);
}

#ifndef VIRTIO_NO_INDIRECT
/* One descriptor pointing at an indirect table: the request's only slot.
   The caller checked that one is free. */
static virtio_result virtio__split_add_table(virtio_queue *q, uint64_t table_dev, uint32_t count, uint64_t in_len,
                                             void *cookie)
{
    virtio__slot *s = virtio__slots(q);
    uint16_t head = q->priv.free_head;
    unsigned char *d = virtio__desc(q, head);
    VIRTIO_ASSERT(q->num_free >= 1 && head < q->size);
    virtio__st64(q, d + VIRTIO__D_ADDR, table_dev);
    virtio__st32(q, d + VIRTIO__D_LEN, count * VIRTIO__DESC_SIZE);
    virtio__st16(q, d + VIRTIO__SD_FLAGS, VIRTIO__DESC_INDIRECT);
    q->priv.free_head = s[head].next;
    virtio__shadow(q, head, cookie, in_len, 1);
    virtio__split_publish(q, head);
    return VIRTIO_OK;
}

/* Tables t[0..n) (checked, n <= num_free), published together. (The
   one-table post above stays apart: through here it costs a single
   submit some 30 instructions more.) */
static void virtio__split_add_tables(virtio_queue *q, const virtio_table_post *t, uint32_t n)
{
    virtio__slot *s = virtio__slots(q);
    unsigned char *avail = q->priv.split.avail;
    uint16_t head = q->priv.free_head, idx = q->priv.split.avail_idx, mask = (uint16_t)(q->size - 1);
    uint32_t k;
    for (k = 0; k < n; k++, idx++) {
        unsigned char *d = virtio__desc(q, head);
        virtio__st64(q, d + VIRTIO__D_ADDR, t[k].table_dev);
        virtio__st32(q, d + VIRTIO__D_LEN, t[k].count * VIRTIO__DESC_SIZE);
        virtio__st16(q, d + VIRTIO__SD_FLAGS, VIRTIO__DESC_INDIRECT);
        virtio__st16(q, avail + 4 + 2u * (idx & mask), head);
        s[head].cookie = t[k].cookie;
        s[head].in_len = t[k].in_len;
        s[head].ndesc = 1;
        head = s[head].next;
    }
    q->priv.free_head = head;
    q->num_free -= n;
    q->priv.inflight += n;
    q->priv.split.avail_idx = idx;
    virtio__wmb(q->dev->platform);
    virtio__st16(q, avail + 2, idx);
}
#endif

static virtio_result virtio__split_add(virtio_queue *q, const virtio_sg *sg, uint32_t out, uint32_t n, void *cookie)
{
    virtio__slot *s = virtio__slots(q);
    uint16_t head = q->priv.free_head, i = head;
    uint64_t in_len = 0;
    uint32_t k;
    VIRTIO_ASSERT(n >= 1 && n <= q->num_free);   /* virtio_queue_add checked */
    /* Free descriptors: nothing here is the device's until published. */
    for (k = 0; k < n; k++) {
        unsigned char *d = virtio__desc(q, i);
        uint16_t f = (uint16_t)((k >= out ? VIRTIO__DESC_WRITE : 0u) | (k + 1 < n ? VIRTIO__DESC_NEXT : 0u));
        if (sg[k].len == 0) return VIRTIO_ERR_INVALID_ARG;
        if (k >= out) in_len += sg[k].len;
        virtio__st64(q, d + VIRTIO__D_ADDR, sg[k].addr);
        virtio__st32(q, d + VIRTIO__D_LEN, sg[k].len);
        virtio__st16(q, d + VIRTIO__SD_FLAGS, f);
        virtio__st16(q, d + VIRTIO__SD_NEXT, s[i].next);
        i = s[i].next;
    }
    q->priv.free_head = i;
    virtio__shadow(q, head, cookie, in_len, n);
    virtio__split_publish(q, head);
    return VIRTIO_OK;
}

static int virtio__split_need_kick(virtio_queue *q)
{
    uint16_t newi = q->priv.split.avail_idx, old = q->priv.split.kick_idx;
    q->priv.split.kick_idx = newi;
#ifndef VIRTIO_NO_EVENT_IDX
    if (q->priv.event_idx) {
        /* Notify only if the device's avail_event lies in [old, new)
           (virtio 1.2 2.7.10). */
        uint16_t ev = virtio__ld16(q, q->priv.split.used + 4 + 8u * q->size);
        return (uint16_t)(newi - ev - 1) < (uint16_t)(newi - old);
    }
#else
    VIRTIO__UNUSED(old);
#endif
    return !(virtio__ld16(q, q->priv.split.used) & VIRTIO__USED_NO_NOTIFY);
}

VIRTIO__INLINE virtio_result virtio__split_pop(virtio_queue *q, void **cookie, uint32_t *len)
{
    virtio__slot *s = virtio__slots(q);
    unsigned char *e;
    uint32_t id, l, k;
    uint16_t i;
    if (q->priv.split.used_idx == q->priv.split.dev_used) {
        uint16_t idx = virtio__ld16(q, q->priv.split.used + 2);
        if (idx == q->priv.split.used_idx) return VIRTIO_EMPTY;
        /* The device may not claim more than we have in flight. */
        if ((uint16_t)(idx - q->priv.split.used_idx) > q->priv.inflight)
            return virtio__q_broken(q, VIRTIO_MSG_BAD_USED_IDX, idx);
        q->priv.split.dev_used = idx;
        virtio__rmb(q->dev->platform);   /* entries after the index */
    }
    e = q->priv.split.used + 4 + 8u * (q->priv.split.used_idx & (q->size - 1));
    id = virtio__ld32(q, e);
    l = virtio__ld32(q, e + 4);
    if (id >= q->size || s[id].ndesc == 0) return virtio__q_broken(q, VIRTIO_MSG_BAD_USED_ID, id);
    l = virtio__used_len(q, s[id].in_len, l);
    if (cookie) *cookie = s[id].cookie;
    if (len) *len = l;
    /* Return the chain to the free list, following our own links. */
    for (i = (uint16_t)id, k = 1; k < s[id].ndesc; k++) i = s[i].next;
    VIRTIO_ASSERT(i < q->size);
    s[i].next = q->priv.free_head;
    q->priv.free_head = (uint16_t)id;
    q->num_free += s[id].ndesc;
    s[id].ndesc = 0;
    q->priv.split.used_idx++;
    q->priv.inflight--;
    return VIRTIO_OK;
}

/* Used-buffer interrupts: with EVENT_IDX the flags must stay 0 (virtio
   1.2 2.7.7.1) and used_event says after which buffer to interrupt. */
static void virtio__split_set_cb(virtio_queue *q, int on)
{
    unsigned char *avail = q->priv.split.avail;
#ifndef VIRTIO_NO_EVENT_IDX
    if (q->priv.event_idx)   /* off: an index just behind us is reached after 65536 buffers */
        virtio__st16(q, avail + 4 + 2u * q->size, (uint16_t)(q->priv.split.used_idx - (on ? 0 : 1)));
    else
#endif
        virtio__st16(q, avail, (uint16_t)(on ? 0 : VIRTIO__AVAIL_NO_INTERRUPT));
}

static int virtio__split_pending(const virtio_queue *q)
{
    return q->priv.split.used_idx != q->priv.split.dev_used ||
           virtio__ld16(q, q->priv.split.used + 2) != q->priv.split.used_idx;
}

/* >>queue.packed (virtio 1.2 2.8) */
#ifndef VIRTIO_NO_PACKED
/* Hand the chain written at [head, pos) to the device: the head's flags
   go last, after a write barrier. */
static inline void virtio__packed_publish(virtio_queue *q, uint16_t head, uint16_t pos, uint16_t wrap, uint16_t first,
                                          uint32_t count)
{
    q->priv.packed.next = pos;
    q->priv.packed.next_wrap = wrap;
    count += q->priv.packed.added;
    q->priv.packed.added = (uint16_t)(count < q->size ? count : q->size);   /* (a lap says it all) */
    virtio__wmb(q->dev->platform);
    virtio__st16(q, virtio__desc(q, head) + VIRTIO__PD_FLAGS, first);
}

/* AVAIL == wrap counter and USED == its inverse mark "available". */
static inline uint16_t virtio__packed_avail(uint16_t wrap)
{
    return (uint16_t)(wrap ? VIRTIO__DESC_AVAIL : VIRTIO__DESC_USED);
}

#ifndef VIRTIO_NO_INDIRECT
static virtio_result virtio__packed_add_table(virtio_queue *q, uint64_t table_dev, uint32_t count, uint64_t in_len,
                                              void *cookie)
{
    virtio__slot *s = virtio__slots(q);
    uint16_t id = q->priv.free_head, head = q->priv.packed.next, pos = (uint16_t)(head + 1);
    uint16_t wrap = q->priv.packed.next_wrap, first = (uint16_t)(virtio__packed_avail(wrap) | VIRTIO__DESC_INDIRECT);
    unsigned char *d = virtio__desc(q, head);
    VIRTIO_ASSERT(q->num_free >= 1 && id < q->size);   /* the caller checked */
    virtio__st64(q, d + VIRTIO__D_ADDR, table_dev);
    virtio__st32(q, d + VIRTIO__D_LEN, count * VIRTIO__DESC_SIZE);
    virtio__st16(q, d + VIRTIO__PD_ID, id);
    if (pos == q->size) {
        pos = 0;
        wrap ^= 1;
    }
    q->priv.free_head = s[id].next;
    virtio__shadow(q, id, cookie, in_len, 1);
    virtio__packed_publish(q, head, pos, wrap, first, 1);
    return VIRTIO_OK;
}

/* Tables t[0..n) (checked, n <= num_free): every head but the first
   carries its flags at once, the first's go last and hand them all over. */
static void virtio__packed_add_tables(virtio_queue *q, const virtio_table_post *t, uint32_t n)
{
    virtio__slot *s = virtio__slots(q);
    uint16_t id = q->priv.free_head, head = q->priv.packed.next, pos = head, wrap = q->priv.packed.next_wrap;
    uint16_t first = 0;
    uint32_t k, size = q->size;
    for (k = 0; k < n; k++) {
        unsigned char *d = virtio__desc(q, pos);
        uint16_t f = (uint16_t)(virtio__packed_avail(wrap) | VIRTIO__DESC_INDIRECT);
        virtio__st64(q, d + VIRTIO__D_ADDR, t[k].table_dev);
        virtio__st32(q, d + VIRTIO__D_LEN, t[k].count * VIRTIO__DESC_SIZE);
        virtio__st16(q, d + VIRTIO__PD_ID, id);
        if (k == 0) first = f;
        else virtio__st16(q, d + VIRTIO__PD_FLAGS, f);
        s[id].cookie = t[k].cookie;
        s[id].in_len = t[k].in_len;
        s[id].ndesc = 1;
        id = s[id].next;
        if (++pos == size) {
            pos = 0;
            wrap ^= 1;
        }
    }
    q->priv.free_head = id;
    q->num_free -= n;
    q->priv.inflight += n;
    virtio__packed_publish(q, head, pos, wrap, first, n);
}
#endif

static virtio_result virtio__packed_add(virtio_queue *q, const virtio_sg *sg, uint32_t out, uint32_t n, void *cookie)
{
    virtio__slot *s = virtio__slots(q);
    uint16_t id = q->priv.free_head, head = q->priv.packed.next, pos = head, wrap = q->priv.packed.next_wrap, first = 0;
    uint64_t in_len = 0;
    uint32_t k;
    VIRTIO_ASSERT(n >= 1 && n <= q->num_free);   /* virtio_queue_add checked */
    /* Chain descriptors carry their final flags before the head does:
       check everything before writing anything. */
    for (k = 0; k < n; k++) {
        if (sg[k].len == 0) return VIRTIO_ERR_INVALID_ARG;
        if (k >= out) in_len += sg[k].len;
    }
    for (k = 0; k < n; k++) {
        uint16_t f = (uint16_t)(virtio__packed_avail(wrap) | (k >= out ? VIRTIO__DESC_WRITE : 0u) |
                                (k + 1 < n ? VIRTIO__DESC_NEXT : 0u));
        unsigned char *d = virtio__desc(q, pos);
        virtio__st64(q, d + VIRTIO__D_ADDR, sg[k].addr);
        virtio__st32(q, d + VIRTIO__D_LEN, sg[k].len);
        virtio__st16(q, d + VIRTIO__PD_ID, id);
        if (k == 0) first = f;   /* the head's flags go last: they hand the chain over */
        else virtio__st16(q, d + VIRTIO__PD_FLAGS, f);
        if (++pos == q->size) {
            pos = 0;
            wrap ^= 1;
        }
    }
    q->priv.free_head = s[id].next;
    virtio__shadow(q, id, cookie, in_len, n);
    virtio__packed_publish(q, head, pos, wrap, first, n);
    return VIRTIO_OK;
}

static int virtio__packed_need_kick(virtio_queue *q)
{
    unsigned char *ev = q->priv.packed.device;   /* device event suppression */
    uint16_t flags = (uint16_t)(virtio__ld16(q, ev + 2) & 3u);
    int need = flags != VIRTIO__EVENT_DISABLE;
    if (flags == VIRTIO__EVENT_DESC && q->priv.event_idx) {
        /* Positions as signed offsets from the start of the lap `next`
           is in: the event and the oldest buffer not yet given back (u)
           one lap behind when their wrap counter is the other one. */
        int32_t size = (int32_t)q->size, n = q->priv.packed.next, u = q->priv.packed.used, e;
        uint16_t off_wrap = virtio__ld16(q, ev);
        e = off_wrap & 0x7fff;
        if ((uint32_t)(off_wrap >> 15) != q->priv.packed.next_wrap) e -= size;
        if (q->priv.packed.used_wrap != q->priv.packed.next_wrap) u -= size;
        /* No descriptor at or beyond u + size can be made available
           before u comes back: such an event is two laps old. */
        if (e >= u + size) e -= 2 * size;
        /* Notify when the event lies among the descriptors made available
           since the last notification, or before u: a device that went
           past its own event without moving it (QEMU 7.2's packed ring
           after a stalled network backend) would otherwise wait for
           ever. An event at n or beyond is the device asking to wait. */
        need = (e < n && e >= n - (int32_t)q->priv.packed.added) || e < u;
    }
    if (need) q->priv.packed.added = 0;
    return need;
}

static int virtio__packed_is_used(const virtio_queue *q, uint16_t flags)
{
    uint16_t a = (uint16_t)((flags >> 7) & 1u), u = (uint16_t)((flags >> 15) & 1u);
    return a == u && u == q->priv.packed.used_wrap;
}

VIRTIO__INLINE virtio_result virtio__packed_pop(virtio_queue *q, void **cookie, uint32_t *len)
{
    virtio__slot *s = virtio__slots(q);
    unsigned char *d = virtio__desc(q, q->priv.packed.used);
    uint16_t flags = virtio__ld16(q, d + VIRTIO__PD_FLAGS), id;
    uint32_t l, pos;
    if (!virtio__packed_is_used(q, flags)) return VIRTIO_EMPTY;
    virtio__rmb(q->dev->platform);   /* id and len after the flags */
    id = virtio__ld16(q, d + VIRTIO__PD_ID);
    /* The spec reserves the length unless the device sets WRITE in the
       used descriptor, but QEMU never sets it and the length is all a
       receive path has; like Linux, take it, bounded as always below. */
    l = virtio__ld32(q, d + VIRTIO__D_LEN);
    if (id >= q->size || s[id].ndesc == 0) return virtio__q_broken(q, VIRTIO_MSG_BAD_USED_ID, id);
    l = virtio__used_len(q, s[id].in_len, l);
    if (cookie) *cookie = s[id].cookie;
    if (len) *len = l;
    /* The device skips the rest of the chain; so do we. */
    pos = (uint32_t)q->priv.packed.used + s[id].ndesc;
    if (pos >= q->size) {
        pos -= q->size;
        q->priv.packed.used_wrap ^= 1;
    }
    q->priv.packed.used = (uint16_t)pos;
    q->num_free += s[id].ndesc;
    s[id].ndesc = 0;
    s[id].next = q->priv.free_head;
    q->priv.free_head = id;
    q->priv.inflight--;
    return VIRTIO_OK;
}

/* Used-buffer interrupts: with EVENT_IDX, for the next buffer after the
   ones taken (the slot and its wrap counter). */
static void virtio__packed_set_cb(virtio_queue *q, int on)
{
    unsigned char *ev = q->priv.packed.driver;
    if (on && q->priv.event_idx) {
        virtio__st16(q, ev, (uint16_t)(q->priv.packed.used | (q->priv.packed.used_wrap << 15)));
        virtio__wmb(q->dev->platform);
        virtio__st16(q, ev + 2, VIRTIO__EVENT_DESC);
    } else {
        virtio__st16(q, ev + 2, (uint16_t)(on ? VIRTIO__EVENT_ENABLE : VIRTIO__EVENT_DISABLE));
    }
}

static int virtio__packed_pending(const virtio_queue *q)
{
    return q->priv.inflight &&
           virtio__packed_is_used(q, virtio__ld16(q, virtio__desc(q, q->priv.packed.used) + VIRTIO__PD_FLAGS));
}
#endif /* VIRTIO_NO_PACKED */

/* >>queue.memory
   The three ring areas: descriptors, driver area, device area. Legacy
   transports take one block with the device area on a page boundary;
   modern ones any placement, so the areas are packed into as few
   allocations of at most a page as they fit. */
static virtio_result virtio__q_alloc(virtio_queue *q, const virtio_platform *p, uint32_t size, int packed,
                                     uint32_t indirect, uint64_t area[3])
{
    size_t bytes[3], align[3] = { 16, packed ? 4u : 2u, 4 }, at = 0, n_tables;
    unsigned char *base[3];
    uint32_t i, k = 0, per;
    virtio_result r;
#ifdef VIRTIO_NO_PACKED
    packed = 0;   /* (queue_init refused a packed ring: the split layout alone) */
#endif
    bytes[0] = (size_t)size * VIRTIO__DESC_SIZE;
    bytes[1] = packed ? 4 : 6 + 2u * (size_t)size;
    bytes[2] = packed ? 4 : 6 + 8u * (size_t)size;
    if (VIRTIO__LEGACY(&q->priv)) {   /* one block: desc, avail, then used on the next page */
        size_t used_off = (bytes[0] + bytes[1] + VIRTIO__PAGE - 1) & ~(size_t)(VIRTIO__PAGE - 1);
        q->priv.mem.bytes[0] = used_off + bytes[2];
        r = virtio_alloc(p, q->priv.mem.bytes[0], VIRTIO__PAGE, VIRTIO_MEM_DMA, &q->priv.mem.ptr[0], &area[0]);
        if (r != VIRTIO_OK) return r;
        base[0] = (unsigned char *)q->priv.mem.ptr[0];
        base[1] = base[0] + bytes[0];
        base[2] = base[0] + used_off;
        area[1] = area[0] + bytes[0];
        area[2] = area[0] + used_off;
    } else {
        size_t off[3];
        uint32_t piece[3];
        uint64_t dev = 0;
        for (i = 0; i < 3; i++) {   /* area i goes to piece[i] at off[i] */
            at = (at + align[i] - 1) & ~(align[i] - 1);
            if (i > 0 && at + bytes[i] > VIRTIO__PAGE) {   /* next piece */
                k++;
                at = 0;
            }
            off[i] = at;
            piece[i] = k;
            at += bytes[i];
            q->priv.mem.bytes[k] = at;
        }
        for (i = 0; i < 3; i++) {
            k = piece[i];
            if (off[i] == 0) {   /* the first area of its piece */
                r = virtio_alloc(p, q->priv.mem.bytes[k], 16, VIRTIO_MEM_DMA, &q->priv.mem.ptr[k], &dev);
                if (r != VIRTIO_OK) return r;
            }
            base[i] = (unsigned char *)q->priv.mem.ptr[k] + off[i];
            area[i] = dev + off[i];
        }
    }
    q->priv.desc = base[0];
    if (packed) {
        q->priv.packed.driver = base[1];
        q->priv.packed.device = base[2];
    } else {
        q->priv.split.avail = base[1];
        q->priv.split.used = base[2];
    }
#ifndef VIRTIO_NO_INDIRECT
    /* Private: the shadow, then the table piece pointers. Queue-owned
       indirect tables: 2^shift tables per piece of at most a page. */
    for (per = 1; indirect && (size_t)(per * 2) * indirect * VIRTIO__DESC_SIZE <= VIRTIO__PAGE && per * 2 <= size;)
        per *= 2;
    for (q->priv.table_shift = 0; (1u << q->priv.table_shift) < per; q->priv.table_shift++) {}
    n_tables = indirect ? (size + per - 1) >> q->priv.table_shift : 0;
#else
    VIRTIO__UNUSED(indirect);
    per = 0;
    n_tables = 0;
#endif
    /* Private: the shadow (16 bytes an entry: a page for 256), and the
       index of the table pieces (device addresses first: 8-byte aligned). */
    q->priv.mem.bytes[3] = (size_t)size * sizeof(virtio__slot);
    r = virtio_alloc(p, q->priv.mem.bytes[3], sizeof(void *), VIRTIO_MEM_PRIVATE, &q->priv.mem.ptr[3], 0);
    if (r != VIRTIO_OK) return r;
    q->priv.state = q->priv.mem.ptr[3];
#ifndef VIRTIO_NO_INDIRECT
    if (n_tables) {
        q->priv.mem.bytes[4] = n_tables * (sizeof(uint64_t) + sizeof(void *));
        r = virtio_alloc(p, q->priv.mem.bytes[4], sizeof(uint64_t), VIRTIO_MEM_PRIVATE, &q->priv.mem.ptr[4], 0);
        if (r != VIRTIO_OK) return r;
        q->priv.mem.tables_dev = (uint64_t *)q->priv.mem.ptr[4];
        q->priv.mem.tables = (void **)(void *)(q->priv.mem.tables_dev + n_tables);
    }
    q->priv.mem.table_piece = (size_t)per * indirect * VIRTIO__DESC_SIZE;
    for (i = 0; i < n_tables; i++, q->priv.mem.pieces++) {   /* pieces: what exists, for the free */
        r = virtio_alloc(p, q->priv.mem.table_piece, 16, VIRTIO_MEM_DMA, &q->priv.mem.tables[i],
                         &q->priv.mem.tables_dev[i]);
        if (r != VIRTIO_OK) return r;
    }
#else
    VIRTIO__UNUSED(per);
    VIRTIO__UNUSED(n_tables);
#endif
    return VIRTIO_OK;
}

/* Give back a queue's memory, newest first (stack-like pools get
   everything back). */
static void virtio__q_free(virtio_queue *q, const virtio_platform *p)
{
    uint32_t i;
#ifndef VIRTIO_NO_INDIRECT
    for (i = q->priv.mem.pieces; i-- > 0;)
        virtio_free(p, q->priv.mem.tables[i], q->priv.mem.table_piece, VIRTIO_MEM_DMA);
    i = 5;
#else
    i = 4;   /* (no table index in ptr[4]) */
#endif
    for (; i-- > 3;) virtio_free(p, q->priv.mem.ptr[i], q->priv.mem.bytes[i], VIRTIO_MEM_PRIVATE);
    for (i = 3; i-- > 0;) virtio_free(p, q->priv.mem.ptr[i], q->priv.mem.bytes[i], VIRTIO_MEM_DMA);
}

/* >>queue.api */
VIRTIO_API virtio_result virtio_queue_init(virtio_queue *q, virtio_device *dev, uint32_t index,
                                           const virtio_queue_options *o)
{
    const virtio_platform *p;
    uint32_t max, size, limit, i, live = 0, indirect = 0;
    uint64_t area[3];
    int packed;
    virtio_result r;
    if (!q) return VIRTIO_ERR_INVALID_ARG;
    if (!virtio__dev_ok(dev)) return VIRTIO_ERR_STATE;
    if (index > 0xffffu) return VIRTIO_ERR_INVALID_ARG;
    live = virtio__get_status(dev);
    if (live == VIRTIO__STATUS_GONE) return VIRTIO_ERR_GONE;
    /* Negotiated: FEATURES_OK on modern transports (3.1.1), DRIVER on
       legacy ones, which have no FEATURES_OK. */
    if (!(live & (VIRTIO__LEGACY(dev) ? VIRTIO_STATUS_DRIVER : VIRTIO_STATUS_FEATURES_OK))) return VIRTIO_ERR_STATE;
    p = dev->platform;
    packed = dev->priv.ring == VIRTIO_RING_PACKED;
#ifdef VIRTIO_NO_PACKED
    if (packed) return VIRTIO_ERR_UNSUPPORTED;
#endif

    /* The size: the device's unless the caller asks for less (or it is
       above what we support); then what the device says it will use. */
    max = VIRTIO__OPS(dev)->queue_max(dev, index, &live);
    if (max == 0) return VIRTIO_ERR_NOT_FOUND;
    /* Setting up a live queue again is a driver bug the spec forbids (q
       may be that queue's own object: it is not touched). */
    if (live) return VIRTIO_ERR_STATE;
    VIRTIO__ZERO(q);
    limit = VIRTIO_MAX_QUEUE_SIZE < 32768 ? VIRTIO_MAX_QUEUE_SIZE : 32768;
    if (o && o->size) {
        if (o->size < limit) limit = o->size;
    } else if (limit > VIRTIO__QUEUE_DEFAULT) {
        limit = VIRTIO__QUEUE_DEFAULT;
    }
    size = max < limit ? max : limit;
    if (!packed) while (size & (size - 1)) size &= size - 1;   /* split rings: power of two */
    size = VIRTIO__OPS(dev)->queue_size(dev, max, size);
    if (size == 0 || size > max || size > 32768 || (!packed && VIRTIO__NOT_POW2(size))) {
        virtio_log(p, VIRTIO_LOG_ERROR, VIRTIO_MSG_QUEUE_SIZE, 0, size);
        return VIRTIO_ERR_DEVICE;
    }
    if (size > VIRTIO_MAX_QUEUE_SIZE) {   /* a legacy queue we cannot shrink */
        virtio_log(p, VIRTIO_LOG_ERROR, VIRTIO_MSG_QUEUE_SIZE, 0, size);
        return VIRTIO_ERR_UNSUPPORTED;
    }
#ifndef VIRTIO_NO_INDIRECT
    if (o && o->indirect && (dev->features & VIRTIO__BIT(VIRTIO_FEATURE_INDIRECT_DESC)))
        indirect = o->indirect > size ? size : o->indirect;
#endif

    q->dev = dev;
    q->index = index;
    q->size = size;
    q->num_free = size;
    q->packed = (uint32_t)packed;
    q->indirect = indirect;
    q->vector = VIRTIO_MSIX_NONE;
#ifndef VIRTIO_NO_EVENT_IDX
    q->priv.event_idx = (dev->features & VIRTIO__BIT(VIRTIO_FEATURE_EVENT_IDX)) != 0;
#endif
    q->priv.legacy = dev->legacy;
    q->priv.packed.used_wrap = q->priv.packed.next_wrap = 1;
    if ((r = virtio__q_alloc(q, p, size, packed, indirect, area)) != VIRTIO_OK) {
        virtio__q_free(q, p);
        VIRTIO__ZERO(q);
        return r;
    }
    for (i = 0; i + 1 < size; i++) virtio__slots(q)[i].next = (uint16_t)(i + 1);
    /* Legacy transports take the ring as a 32-bit page frame number. */
    if (VIRTIO__LEGACY(dev) && area[0] / VIRTIO__PAGE > 0xffffffffu) {
        virtio_log(p, VIRTIO_LOG_ERROR, VIRTIO_MSG_LEGACY_ADDRESS, 0, area[0]);
        r = VIRTIO_ERR_UNSUPPORTED;
    } else {
        r = VIRTIO__OPS(dev)->queue_enable(dev, q, area);
    }
    if (r != VIRTIO_OK) {
        virtio__q_free(q, p);
        VIRTIO__ZERO(q);
        return r;
    }
    q->priv.magic = VIRTIO__Q_MAGIC;
    /* The library polls: no used-buffer interrupts until a caller asks. */
    virtio_queue_disable_cb(q);
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_queue_destroy(virtio_queue *q)
{
    if (!q || !q->dev || !q->priv.mem.ptr[3]) return VIRTIO_ERR_STATE;
    virtio__q_free(q, q->dev->platform);
    VIRTIO__ZERO(q);
    return VIRTIO_OK;
}

#ifndef VIRTIO_NO_INDIRECT
/* Post a table already written (count entries, in_len writable bytes);
   one ring slot is free. */
static virtio_result virtio__add_table(virtio_queue *q, uint64_t table_dev, uint32_t count, uint64_t in_len,
                                       void *cookie)
{
#ifndef VIRTIO_NO_PACKED
    if (q->packed) return virtio__packed_add_table(q, table_dev, count, in_len, cookie);
#endif
    return virtio__split_add_table(q, table_dev, count, in_len, cookie);
}
#endif

VIRTIO_API virtio_result virtio_queue_add(virtio_queue *q, const virtio_sg *sg, uint32_t out, uint32_t in,
                                          void *cookie)
{
    uint32_t n = out + in;
    if (!virtio__q_ok(q) || q->priv.broken) return VIRTIO_ERR_STATE;
    if (!sg || n == 0 || n < out) return VIRTIO_ERR_INVALID_ARG;
#ifndef VIRTIO_NO_INDIRECT
    if (n > 1 && n <= q->indirect) {
        /* The queue's own table for this request: one per descriptor
           (split) or buffer id (packed), both the free head. */
        uint32_t t = q->priv.free_head, piece = t >> q->priv.table_shift;
        size_t off = (size_t)(t & ((1u << q->priv.table_shift) - 1)) * q->indirect * VIRTIO__DESC_SIZE;
        unsigned char *tab = (unsigned char *)q->priv.mem.tables[piece] + off;
        uint64_t in_len = 0;
        uint32_t k;
        if (q->num_free == 0) return VIRTIO_ERR_NO_SPACE;
        for (k = 0; k < n; k++) {
            if (sg[k].len == 0) return VIRTIO_ERR_INVALID_ARG;
            if (k >= out) in_len += sg[k].len;
            virtio_table_set(q, tab, k, n, sg[k].addr, sg[k].len, k >= out);
        }
        return virtio__add_table(q, q->priv.mem.tables_dev[piece] + off, n, in_len, cookie);
    }
#endif
    if (n > q->num_free) return n > q->size ? VIRTIO_ERR_INVALID_ARG : VIRTIO_ERR_NO_SPACE;
#ifndef VIRTIO_NO_PACKED
    if (q->packed) return virtio__packed_add(q, sg, out, n, cookie);
#endif
    return virtio__split_add(q, sg, out, n, cookie);
}

VIRTIO_API virtio_result virtio_queue_add_table(virtio_queue *q, uint64_t table_dev, uint32_t count, uint32_t in_len,
                                                void *cookie)
{
    if (!virtio__q_ok(q) || q->priv.broken) return VIRTIO_ERR_STATE;
    if (!(q->dev->features & VIRTIO__BIT(VIRTIO_FEATURE_INDIRECT_DESC))) return VIRTIO_ERR_UNSUPPORTED;
    if (count == 0 || count > q->size) return VIRTIO_ERR_INVALID_ARG;
    if (q->num_free == 0) return VIRTIO_ERR_NO_SPACE;
#ifdef VIRTIO_NO_INDIRECT   /* (INDIRECT_DESC is never negotiated: not reached) */
    VIRTIO__UNUSED(table_dev);
    VIRTIO__UNUSED(in_len);
    VIRTIO__UNUSED(cookie);
    return VIRTIO_ERR_UNSUPPORTED;
#else
    return virtio__add_table(q, table_dev, count, in_len, cookie);
#endif
}

VIRTIO_API virtio_result virtio_queue_add_tables(virtio_queue *q, const virtio_table_post *t, uint32_t n,
                                                 uint32_t *added)
{
    virtio_result r = VIRTIO_OK;
    uint32_t k;
    if (added) *added = 0;
    if (!virtio__q_ok(q) || q->priv.broken) return VIRTIO_ERR_STATE;
    if (!(q->dev->features & VIRTIO__BIT(VIRTIO_FEATURE_INDIRECT_DESC))) return VIRTIO_ERR_UNSUPPORTED;
    if (!t && n) return VIRTIO_ERR_INVALID_ARG;
    /* The prefix that fits and is valid. */
    if (n > q->num_free) {
        n = q->num_free;
        r = VIRTIO_ERR_NO_SPACE;
    }
    for (k = 0; k < n && t[k].count - 1u < q->size; k++) continue;
    if (k < n) r = VIRTIO_ERR_INVALID_ARG;
    if (k == 0) return r;
#ifndef VIRTIO_NO_INDIRECT   /* (else INDIRECT_DESC is never negotiated: not reached) */
#ifndef VIRTIO_NO_PACKED
    if (q->packed) virtio__packed_add_tables(q, t, k);
    else
#endif
        virtio__split_add_tables(q, t, k);
#endif
    if (added) *added = k;
    return r;
}

VIRTIO_API virtio_result virtio_queue_kick(virtio_queue *q)
{
    int need;
    if (!virtio__q_ok(q) || q->priv.broken) return VIRTIO_ERR_STATE;
    /* The published index must be visible before we read the device's
       suppression state, or both sides could decide not to act. */
    virtio__mb(q->dev->platform);
#ifndef VIRTIO_NO_PACKED
    if (q->packed)
        need = q->priv.packed.added && virtio__packed_need_kick(q);
    else
#endif
        need = q->priv.split.avail_idx != q->priv.split.kick_idx && virtio__split_need_kick(q);
    if (need) virtio__notify(q);
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_queue_notify(virtio_queue *q)
{
    if (!virtio__q_ok(q) || q->priv.broken) return VIRTIO_ERR_STATE;
    virtio__mb(q->dev->platform);   /* what was published before, first */
    virtio__notify(q);
    return VIRTIO_OK;
}

/* A broken queue answers VIRTIO_ERR_STATE, except once with
   VIRTIO_ERR_DEVICE when pop_many held that back behind good buffers. */
static virtio_result virtio__q_gate(virtio_queue *q)
{
    if (!virtio__q_ok(q)) return VIRTIO_ERR_STATE;
    if (q->priv.broken == 2) {
        q->priv.broken = 1;
        return VIRTIO_ERR_DEVICE;
    }
    return q->priv.broken ? VIRTIO_ERR_STATE : VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_queue_pop(virtio_queue *q, void **cookie, uint32_t *len)
{
    virtio_result r = virtio__q_gate(q);
    if (r != VIRTIO_OK) return r;
    if (q->priv.inflight == 0) return VIRTIO_EMPTY;
#ifndef VIRTIO_NO_PACKED
    if (q->packed) return virtio__packed_pop(q, cookie, len);
#endif
    return virtio__split_pop(q, cookie, len);
}

VIRTIO_API virtio_result virtio_queue_pop_many(virtio_queue *q, void **cookies, uint32_t *lens, uint32_t max,
                                               uint32_t *count)
{
    virtio_result r = virtio__q_gate(q);
    uint32_t n = 0;
    if (r != VIRTIO_OK) return r;
    r = VIRTIO_EMPTY;
    if (!cookies || !count) return VIRTIO_ERR_INVALID_ARG;
    for (; n < max && q->priv.inflight; n++) {
#ifndef VIRTIO_NO_PACKED
        if (q->packed) r = virtio__packed_pop(q, &cookies[n], lens ? &lens[n] : 0);
        else
#endif
            r = virtio__split_pop(q, &cookies[n], lens ? &lens[n] : 0);
        if (r != VIRTIO_OK) break;
    }
    if (n == 0) return r;
    if (r == VIRTIO_ERR_DEVICE) q->priv.broken = 2;   /* reported by the next call */
    *count = n;
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_queue_wait(virtio_queue *q, void **cookie, uint32_t *len)
{
    virtio_wait w;
    virtio_result r;
    if (!virtio__q_ok(q)) return VIRTIO_ERR_STATE;
    r = virtio_queue_pop(q, cookie, len);
    if (r != VIRTIO_EMPTY) return r;
    if (q->priv.inflight == 0) return VIRTIO_EMPTY;   /* nothing can come */
    virtio_queue_kick(q);   /* what was posted and not notified, the device must see */
    virtio_wait_start(&w, q->dev->platform, 0);
    for (;;) {
        r = virtio_queue_pop(q, cookie, len);
        if (r != VIRTIO_EMPTY) return r;
        if ((r = virtio_device_wait_step(q->dev, &w)) != VIRTIO_OK) {
            if (r == VIRTIO_ERR_TIMEOUT) virtio_log(q->dev->platform, VIRTIO_LOG_WARN, VIRTIO_MSG_TIMEOUT, 0, q->index);
            return r;
        }
    }
}

VIRTIO_API virtio_result virtio_queue_disable_cb(virtio_queue *q)
{
    if (!virtio__q_ok(q)) return VIRTIO_ERR_STATE;
#ifndef VIRTIO_NO_PACKED
    if (q->packed) {
        virtio__packed_set_cb(q, 0);
        return VIRTIO_OK;
    }
#endif
    virtio__split_set_cb(q, 0);
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_queue_enable_cb(virtio_queue *q, int *pending)
{
    int p;
    if (!virtio__q_ok(q)) return VIRTIO_ERR_STATE;
#ifndef VIRTIO_NO_PACKED
    if (q->packed) {
        virtio__packed_set_cb(q, 1);
        virtio__mb(q->dev->platform);   /* the arm before the re-check */
        p = virtio__packed_pending(q);
    } else
#endif
    {
        virtio__split_set_cb(q, 1);
        virtio__mb(q->dev->platform);
        p = virtio__split_pending(q);
    }
    if (pending) *pending = p;
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_queue_set_vector(virtio_queue *q, uint32_t vector)
{
    virtio_result r;
    if (!virtio__q_ok(q)) return VIRTIO_ERR_STATE;
    r = virtio__set_vector(q->dev, q->index, vector);
    if (r == VIRTIO_OK || r == VIRTIO_ERR_UNSUPPORTED) q->vector = r == VIRTIO_OK ? vector : VIRTIO_MSIX_NONE;
    return r;
}

#endif /* VIRTIO_CORE_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
This software is available under 2 licenses -- choose whichever you prefer.
------------------------------------------------------------------------------
ALTERNATIVE A - MIT License
Copyright (c) 2026 the virtio.h authors
Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:
The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
ALTERNATIVE B - Public Domain (www.unlicense.org)
This is free and unencumbered software released into the public domain.
Anyone is free to copy, modify, publish, use, compile, sell, or distribute this
software, either in source code form or as a compiled binary, for any purpose,
commercial or non-commercial, and by any means.
In jurisdictions that recognize copyright laws, the author or authors of this
software dedicate any and all copyright interest in the software to the public
domain. We make this dedication in the hope that it will encourage, inspire,
and be helpful to the software's developers.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN
ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION
WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
------------------------------------------------------------------------------
*/
