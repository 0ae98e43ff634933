/* SPDX-License-Identifier: MIT OR Unlicense */
#if defined(VIRTIO_IMPLEMENTATION) && !defined(VIRTIO_CORE_IMPLEMENTATION)
#define VIRTIO_CORE_IMPLEMENTATION
#endif
#ifndef VIRTIO_H
#define VIRTIO_H
/*
virtio.h - v0.3.0 - portable VirtIO core: transports and virtqueues - MIT OR Unlicense

The core of a single-header VirtIO driver stack for bare-metal kernels,
bootloaders and test guests. It speaks every common VirtIO transport
(virtio-mmio version 1 and 2, virtio-pci modern and legacy) and both ring
formats (split and packed), and gives the device drivers in virtio_blk.h,
virtio_net.h, virtio_input.h and virtio_gpu.h one device object and one
queue object to build on. It needs no C library and allocates nothing on
its own: memory comes from hooks in a platform struct you fill.

QUICK START

    // In exactly one C or C++ file:
    #define VIRTIO_IMPLEMENTATION
    #include "virtio_blk.h"        // pulls in virtio.h

    static void *my_alloc(void *user, size_t size, size_t align, int kind,
                          uint64_t *dev_addr);    // from your DMA pool
    static virtio_platform plat;                  // zero = defaults
    static virtio_device dev;
    static virtio_blk disk;
    static uint8_t buf[4096];
    uint32_t bdf = 0;

    plat.dma_alloc = my_alloc;
    plat.pci_ecam  = 0x30000000;                  // riscv64 "virt"
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
    VIRTIO_ASSERT(c)               no-op            impl-only; internal invariants only
    VIRTIO_MEMCPY(d,s,n)           __builtin_memcpy impl-only; byte loop without GCC/Clang
    VIRTIO_MEMSET(d,v,n)           __builtin_memset impl-only; byte loop without GCC/Clang
    VIRTIO_NO_STDINT               -                you provide uint8_t..uint64_t, uintptr_t, size_t
    VIRTIO_DIRECT_REGS             -                impl-only; plain volatile register access,
                                                    the reg_read/reg_write hooks are ignored
    VIRTIO_NO_MMIO                 -                impl-only; virtio-mmio compiled out
    VIRTIO_NO_PCI                  -                impl-only; virtio-pci compiled out
    VIRTIO_NO_LEGACY               -                impl-only; MMIO v1 and legacy PCI compiled out
    VIRTIO_NO_PACKED               -                impl-only; packed rings compiled out
    VIRTIO_NO_STRINGS              -                impl-only; no result or log texts
    VIRTIO_MAX_QUEUE_SIZE          1024             impl-only; ring entries ever used per queue
    VIRTIO_SPIN_LIMIT              200000000        impl-only; wait bound without a clock

Compiled-out parts answer VIRTIO_ERR_UNSUPPORTED, so translation units built
with different macros still link and agree on every struct layout.

PLATFORM CONTRACT

virtio_platform is filled once by the caller and must outlive every device
that uses it. All-zero fields mean "default"; only dma_alloc is mandatory.

  registers   reg_read/reg_write: 8/16/32-bit access to device registers.
              space VIRTIO_SPACE_MEM is memory-mapped I/O, VIRTIO_SPACE_IO is
              x86 port I/O (legacy PCI). NULL: volatile access for MEM; for
              IO, MMIO at pci_io_base + port when pci_io_base is set, else
              x86 in/out instructions. Values are in CPU byte order.
  PCI config  pci_read/pci_write: configuration space of function bdf
              (bus << 8 | device << 3 | function). NULL: ECAM at pci_ecam
              when set, else the x86 0xCF8/0xCFC mechanism. pci_buses bounds
              the bus scan of virtio_pci_find (0 means 1 bus).
  DMA         dma_alloc: zeroing is not required; returns the CPU pointer
              and the device address of `size` bytes aligned to `align`.
              kind VIRTIO_MEM_DMA must be device-visible and coherent
              (rings, request headers); VIRTIO_MEM_PRIVATE is driver
              bookkeeping that the device must NOT be able to reach (in a
              confidential guest: private memory; elsewhere the same pool
              is fine). dma_free may be NULL (memory is then leaked on
              shutdown, the usual bootloader choice).
              dma_map/dma_unmap: translate a caller buffer for one transfer;
              may return fewer bytes than asked (a page boundary), and is
              called again for the rest. This is also the place for cache
              maintenance and bounce buffers. NULL: device address ==
              (uintptr_t)pointer, one piece, nothing to undo.
  barriers    mb/rmb/wmb: NULL selects the built-in ones for x86, Arm and
              RISC-V (32 and 64 bit); other targets fail to compile unless
              VIRTIO_PLATFORM_BARRIERS is defined, and then all three hooks
              are mandatory.
  time        now_us: a monotonic microsecond clock. With it every wait is
              bounded by timeout_ms (0 = 5000); without it by a spin count
              (VIRTIO_SPIN_LIMIT polls). idle, when set, is called in every
              wait loop (a pause, wfi, or a scheduler yield).
  log         log(level, id, text, value): diagnostics; NULL is silent.
              text is NULL under VIRTIO_NO_STRINGS.
  flags       VIRTIO_PLATFORM_FORCE_ACCESS_PLATFORM: refuse devices that do
              not offer ACCESS_PLATFORM (confidential guests).

ERRORS

Every public function returns a virtio_result: VIRTIO_OK (0), a positive
non-error status (VIRTIO_EMPTY: "nothing to report yet"), or a negative
error. virtio_result_str() names any value. Out-parameters are written
only on VIRTIO_OK. Device-reported details (a block status byte, a GPU
response type) are kept in the driver's object.

THREADS, INTERRUPTS AND WAITS

No globals, no locks: a device and its queues belong to one thread of
control at a time; different devices may be used concurrently. Everything
works by polling. For interrupt-driven use, call virtio_device_isr() in the
handler to acknowledge the interrupt and learn whether a queue or the
configuration changed, then process completions (from the handler or a
deferred context, but not concurrently with other calls on that device).
Queues start with used-buffer interrupts off (the library polls);
virtio_queue_enable_cb/disable_cb ask the device for (or to skip) them.
Every wait in the library is bounded (see time).

UNTRUSTED DEVICE

The device is treated as hostile. Descriptor bookkeeping lives in private
memory and is never read back from the rings. Every used id is checked to
be in range and in flight, and every used index against what is in
flight. A used length is clamped to the writable bytes posted and counted
in the queue's `clamped` (a real VMM, kvmtool, overstates block write
lengths: strict where safety needs it, tolerant where it does not); a
chain the device only reads reports length 0, whatever the device says. Configuration
reads are bounded by the transport's window and retried under the
generation counter. A violation marks the queue broken and returns
VIRTIO_ERR_DEVICE until the device is reset; the drivers then reset the
device before they hand buffers back, so nothing the device writes can make
the library write outside the buffers it was given, and no wait is
unbounded.

LIMITS

Up to VIRTIO_MAX_QUEUE_SIZE ring entries per queue (larger devices are
clamped; legacy PCI cannot be clamped and is refused if larger). 64-bit
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
#define VIRTIO_VERSION_PATCH 0

#ifndef VIRTIO_API
#ifdef VIRTIO_STATIC
#if defined(__GNUC__) || defined(__clang__)
#define VIRTIO_API static __attribute__((unused))
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
    VIRTIO_ERR_NO_SPACE = -6,        /* queue full or too many requests in flight */
    VIRTIO_ERR_NEEDS_RESET = -7,     /* device set DEVICE_NEEDS_RESET */
    VIRTIO_ERR_NO_MEMORY = -8,       /* dma_alloc or dma_map failed */
    VIRTIO_ERR_NOT_FOUND = -9,       /* no (matching) device there */
    VIRTIO_ERR_STATE = -10,          /* object not initialised, shut down, or broken */
    VIRTIO_ERR_FEATURES = -11,       /* device refused the negotiated features */
    VIRTIO_ERR_RANGE = -12,          /* request beyond the device (sector, rectangle, ...) */
    VIRTIO_ERR_READ_ONLY = -13,      /* write to a read-only device */
    VIRTIO_ERR_LINK_DOWN = -14,      /* network link is down */
    VIRTIO_ERR_TOO_BIG = -15         /* larger than the device or buffer allows */
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

/* The caller's hooks; see PLATFORM CONTRACT above. Defaults:
     user       NULL, passed to every hook
     reg_read   volatile MEM access / port I/O (see pci_io_base)
     reg_write  likewise
     pci_read   ECAM at pci_ecam if nonzero, else x86 0xCF8/0xCFC
     pci_write  likewise
     pci_ecam   0 (no ECAM)
     pci_io_base 0 (x86 port instructions)
     pci_buses  0 = scan bus 0 only
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
    X(VIRTIO_MSG_PCI_CAPS, "virtio-pci capabilities missing or bad") \
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
   event index used when offered, ACCESS_PLATFORM accepted when offered. */
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
   bdf and base. The rest is private. */
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
    struct {
        uint32_t magic;
        uint32_t space;          /* VIRTIO_SPACE_* of the register block */
        uint32_t ring;           /* chosen VIRTIO_RING_* */
        uint32_t msix;           /* legacy PCI: MSI-X enabled, config at +24 */
        uintptr_t common;        /* MMIO base / PCI common cfg / legacy I/O base */
        uintptr_t notify;        /* PCI modern notify base */
        uintptr_t isr;           /* PCI ISR byte */
        uintptr_t config;        /* device-specific config */
        uint32_t notify_mul;     /* PCI notify_off_multiplier */
        uint32_t notify_len;     /* PCI notify capability length */
        uint32_t notify_space;
        uint32_t isr_space;
        uint32_t config_space;
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
   Returns VIRTIO_OK, VIRTIO_ERR_NOT_FOUND, VIRTIO_ERR_INVALID_ARG. */
VIRTIO_API virtio_result virtio_mmio_find(const virtio_platform *p, uintptr_t base, uintptr_t stride,
                                          uint32_t count, uint32_t type, uint32_t *slot);

/* Check PCI function `bdf` for a VirtIO device (vendor 0x1af4, device
   0x1000-0x107f) and describe it in *dev: modern devices by walking
   their vendor capabilities, transitional devices without a usable
   modern interface through the legacy I/O BAR 0. The BARs must already
   hold addresses (firmware's, or virtio_pci_assign's). Each BAR is sized
   with decoding off and restored; every register window the library will
   use must lie inside its BAR (capability offset + length, checked in 64
   bits, and within the CPU's address range). Then the decoding the device
   needs and bus mastering are turned on in the command register.
   Returns VIRTIO_OK; VIRTIO_ERR_NOT_FOUND (not a VirtIO function);
   VIRTIO_ERR_DEVICE (capabilities malformed or outside their BAR, BAR
   unassigned); VIRTIO_ERR_UNSUPPORTED (legacy-only device under
   VIRTIO_NO_LEGACY, or VIRTIO_NO_PCI); VIRTIO_ERR_INVALID_ARG.
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

/* Host bridge windows for virtio_pci_assign, as bus addresses (on QEMU's
   virt machines memory bus addresses equal CPU addresses; I/O ports are
   numbers that the CPU reaches at pci_io_base + port). A size of 0 means
   there is no such window. I/O ports below 0x1000 are not handed out. */
typedef struct virtio_pci_windows {
    uint64_t mem_base, mem_size;       /* 32-bit memory window */
    uint64_t mem64_base, mem64_size;   /* 64-bit memory window (64-bit BARs go here if present) */
    uint32_t io_base, io_size;         /* I/O port window */
} virtio_pci_windows;

/* Do what firmware does on a machine without it (riscv64 or aarch64
   virt with -bios none, an emulator harness): give every BAR of every
   function on buses 0..pci_buses-1 a naturally aligned address in the
   window of its kind, then turn on the decoding that succeeded and bus
   mastering. Bridges are left alone. Do not call it where firmware has
   assigned BARs already: it reassigns them. out: unplaced (may be NULL),
   the number of BARs that did not fit; their function gets no decoding of
   that kind. Returns VIRTIO_OK, VIRTIO_ERR_NO_SPACE (some BAR did not fit),
   VIRTIO_ERR_INVALID_ARG, VIRTIO_ERR_UNSUPPORTED (VIRTIO_NO_PCI).
   Context: configuration-space accesses only. */
VIRTIO_API virtio_result virtio_pci_assign(const virtio_platform *p, const virtio_pci_windows *w, uint32_t *unplaced);

/* Reset the device and negotiate features: reset, ACKNOWLEDGE, DRIVER,
   read the offered features, accept (offered & driver_features) plus the
   generic ring features allowed by *o (NULL = defaults), VERSION_1 on
   modern transports, ACCESS_PLATFORM when offered; then FEATURES_OK and
   check that the device kept it. Afterwards set up queues, then call
   virtio_device_ready().
   Returns VIRTIO_OK; VIRTIO_ERR_TIMEOUT (reset never completed);
   VIRTIO_ERR_FEATURES (device cleared FEATURES_OK); VIRTIO_ERR_UNSUPPORTED
   (modern device without VERSION_1, VIRTIO_RING_PACKED requested but not
   offered, ACCESS_PLATFORM forced but absent); VIRTIO_ERR_STATE (dev not
   probed). On error the device is left with FAILED set.
   Context: blocks for the reset, bounded by the platform timeout. */
VIRTIO_API virtio_result virtio_device_begin(virtio_device *dev, uint64_t driver_features,
                                             const virtio_device_options *o);

/* Read what the device offers before choosing: reset, ACKNOWLEDGE,
   DRIVER, then the feature bits (also left in dev->device_features). For
   drivers whose wishes depend on the offer (a feature that needs another
   one); virtio_device_begin starts over with its own reset.
   Returns VIRTIO_OK, VIRTIO_ERR_TIMEOUT, VIRTIO_ERR_STATE,
   VIRTIO_ERR_INVALID_ARG. Context: blocks for the reset (bounded). */
VIRTIO_API virtio_result virtio_device_offer(virtio_device *dev, uint64_t *offered);

/* Set DRIVER_OK: the device may now use its queues. Call after the
   queues are initialised (and, for receive queues, filled).
   Returns VIRTIO_OK, VIRTIO_ERR_STATE, VIRTIO_ERR_NEEDS_RESET. */
VIRTIO_API virtio_result virtio_device_ready(virtio_device *dev);

/* Reset the device (status 0) and wait until it reports the reset done.
   The device stops using every queue; queue memory may then be freed.
   Returns VIRTIO_OK, VIRTIO_ERR_TIMEOUT, VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_device_reset(virtio_device *dev);

/* Set FAILED: tell the device the driver gave up. Returns VIRTIO_OK or
   VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_device_fail(virtio_device *dev);

/* Read the device status byte. out: status (VIRTIO_STATUS_* bits).
   Returns VIRTIO_OK, VIRTIO_ERR_NEEDS_RESET (status still written) when the
   device asks to be reset, VIRTIO_ERR_STATE, VIRTIO_ERR_INVALID_ARG. */
VIRTIO_API virtio_result virtio_device_status(virtio_device *dev, uint32_t *status);

/* Read and acknowledge the interrupt status. out: isr
   (VIRTIO_ISR_QUEUE | VIRTIO_ISR_CONFIG bits, 0 = not this device).
   With MSI-X there is no shared ISR; this reports 0.
   Context: callable from an interrupt handler. */
VIRTIO_API virtio_result virtio_device_isr(virtio_device *dev, uint32_t *isr);

/* Did the negotiated features include bit `bit`? Returns 1 or 0. */
VIRTIO_API int virtio_device_has(const virtio_device *dev, unsigned bit);

/* Read `len` bytes of device-specific configuration at `offset`, as one
   consistent snapshot (the generation counter is re-read until it is
   stable, at most 16 times). Multi-byte fields are returned in the
   transport's byte order: little-endian on modern transports, CPU order
   on legacy ones; use the typed readers below for fields.
   Returns VIRTIO_OK; VIRTIO_ERR_RANGE (outside config_size);
   VIRTIO_ERR_DEVICE (generation never settled); VIRTIO_ERR_INVALID_ARG. */
VIRTIO_API virtio_result virtio_config_read(virtio_device *dev, uint32_t offset, void *buf, uint32_t len);

/* Typed config readers: one naturally aligned field, converted to CPU
   byte order. 64-bit fields are read as two 32-bit halves under the
   generation counter. Returns as virtio_config_read. */
VIRTIO_API virtio_result virtio_config_read8(virtio_device *dev, uint32_t offset, uint8_t *v);
VIRTIO_API virtio_result virtio_config_read16(virtio_device *dev, uint32_t offset, uint16_t *v);
VIRTIO_API virtio_result virtio_config_read32(virtio_device *dev, uint32_t offset, uint32_t *v);
VIRTIO_API virtio_result virtio_config_read64(virtio_device *dev, uint32_t offset, uint64_t *v);

/* Write one config field (width 1, 2 or 4 bytes) in CPU byte order.
   Returns VIRTIO_OK, VIRTIO_ERR_RANGE, VIRTIO_ERR_INVALID_ARG. */
VIRTIO_API virtio_result virtio_config_write(virtio_device *dev, uint32_t offset, unsigned width, uint32_t value);

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
     size      0 = the device's maximum, clamped to VIRTIO_MAX_QUEUE_SIZE
               (rounded down to a power of two for split rings)
     indirect  0 = no indirect tables; n > 0: each request may use one
               table of up to n descriptors (needs INDIRECT_DESC, else
               ignored), taking one ring slot however long the chain */
typedef struct virtio_queue_options {
    uint32_t size;
    uint32_t indirect;
} virtio_queue_options;

/* One virtqueue. Caller-owned, lives inside a driver object; must not
   move after init. Readable: dev, index, size, num_free (descriptors
   that can still be posted), packed (1 = packed ring), indirect
   (descriptors per indirect table, 0 = none), clamped (used lengths the
   device overstated: each was clamped to the writable bytes posted). The
   rest is private. */
typedef struct virtio_queue {
    virtio_device *dev;
    uint32_t index;
    uint32_t size;
    uint32_t num_free;
    uint32_t packed;
    uint32_t indirect;
    uint32_t clamped;
    struct {
        uint32_t magic;
        uint32_t broken;         /* device misbehaved: queue unusable until reset */
        uint32_t event_idx;
        uint32_t legacy;
        unsigned char *ring;     /* DMA block: rings, then indirect tables */
        uint64_t ring_dev;
        size_t ring_bytes;
        void *state;             /* private block: per-descriptor shadow */
        size_t state_bytes;
        unsigned char *desc;
        unsigned char *driver;   /* split: avail ring; packed: driver event */
        unsigned char *device;   /* split: used ring; packed: device event */
        unsigned char *table;    /* indirect tables */
        uint64_t table_dev;
        uintptr_t notify;        /* notification register */
        uint32_t notify_space;
        uint32_t notify_width;
        uint32_t inflight;       /* chains posted and not yet used */
        uint32_t cb_enabled;     /* used-buffer interrupts requested */
        uint16_t free_head;      /* first free descriptor (split) or id (packed) */
        uint16_t avail_idx;      /* split: next avail index; packed: next slot */
        uint16_t used_idx;       /* split: next used index; packed: next used slot */
        uint16_t dev_used;       /* split: used index last read from the device */
        uint16_t kick_idx;       /* split: avail index at the last kick */
        uint16_t added;          /* packed: descriptors added since last kick */
        uint16_t avail_wrap;     /* packed: wrap counters */
        uint16_t used_wrap;
    } priv;
} virtio_queue;

/* Allocate and register virtqueue `index` of dev (after
   virtio_device_begin, before virtio_device_ready). Uses the ring format
   negotiated in begin. The device's maximum size 0 means "no such queue".
   Returns VIRTIO_OK; VIRTIO_ERR_NOT_FOUND (queue absent); VIRTIO_ERR_STATE
   (the queue is already live: reset the device first);
   VIRTIO_ERR_UNSUPPORTED (legacy PCI queue larger than
   VIRTIO_MAX_QUEUE_SIZE, or a legacy transport and ring memory at a
   device address of 16 TiB or more); VIRTIO_ERR_NO_MEMORY; VIRTIO_ERR_STATE.
   Context: allocates through dma_alloc; a few register accesses. */
VIRTIO_API virtio_result virtio_queue_init(virtio_queue *q, virtio_device *dev, uint32_t index,
                                           const virtio_queue_options *o);

/* Free a queue's memory (through dma_free, if any). Reset the device
   first: the device may still be using the rings otherwise. Returns
   VIRTIO_OK or VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_queue_destroy(virtio_queue *q);

/* Post one buffer: sg[0..out) are read by the device, sg[out..out+in)
   written by it. `cookie` comes back from virtio_queue_pop. Published to
   the device at once; call virtio_queue_kick after a batch.
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
   (count 0 or above the queue size); VIRTIO_ERR_UNSUPPORTED (the queue
   has no indirect descriptors: q->indirect == 0); VIRTIO_ERR_STATE.
   Context: as virtio_queue_add. */
VIRTIO_API virtio_result virtio_queue_add_table(virtio_queue *q, uint64_t table_dev, uint32_t count, uint32_t in_len,
                                                void *cookie);

/* Notify the device of buffers posted since the last kick, if (event
   suppression says) it wants to be told. Returns VIRTIO_OK or
   VIRTIO_ERR_STATE. Context: one register write at most. */
VIRTIO_API virtio_result virtio_queue_kick(virtio_queue *q);

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

/* Poll virtio_queue_pop until a buffer is used, bounded by the platform
   timeout; the device status is checked for NEEDS_RESET while waiting.
   Returns what pop returns, or VIRTIO_ERR_TIMEOUT, VIRTIO_ERR_NEEDS_RESET. */
VIRTIO_API virtio_result virtio_queue_wait(virtio_queue *q, void **cookie, uint32_t *len);

/* Ask the device to interrupt when buffers are used. out: pending = 1 if
   used buffers are already waiting (process them: no interrupt will come
   for them). Returns VIRTIO_OK or VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_queue_enable_cb(virtio_queue *q, int *pending);

/* Ask the device not to interrupt for used buffers (a hint the device may
   ignore). Returns VIRTIO_OK or VIRTIO_ERR_STATE. */
VIRTIO_API virtio_result virtio_queue_disable_cb(virtio_queue *q);

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
   Returns VIRTIO_OK; VIRTIO_ERR_TOO_BIG; VIRTIO_ERR_NO_MEMORY (dma_map
   failed); VIRTIO_ERR_INVALID_ARG. Undo with virtio_dma_unmap. */
VIRTIO_API virtio_result virtio_dma_map(const virtio_platform *p, void *buf, size_t len, int dir, virtio_sg *sg,
                                        uint32_t max, uint32_t max_piece, uint32_t *count, size_t *mapped);

/* Undo virtio_dma_map for the same buf, dir and pieces (copies bounce
   buffers back for VIRTIO_DMA_FROM_DEVICE). */
VIRTIO_API void virtio_dma_unmap(const virtio_platform *p, void *buf, int dir, const virtio_sg *sg, uint32_t count);

/* A deadline for a bounded wait: start one with virtio_wait_start and call
   virtio_wait_step in each iteration of the loop; it calls the idle hook
   and returns VIRTIO_ERR_TIMEOUT once the platform timeout (or spin bound)
   has passed, VIRTIO_OK otherwise. timeout_ms 0 = platform default. */
typedef struct virtio_wait {
    const virtio_platform *platform;
    uint64_t deadline;
    uint64_t spins;
} virtio_wait;
VIRTIO_API void virtio_wait_start(virtio_wait *w, const virtio_platform *p, uint32_t timeout_ms);
VIRTIO_API virtio_result virtio_wait_step(virtio_wait *w);

/* Wire values in driver-owned DMA memory (request headers, commands):
   little-endian on modern transports, CPU order on legacy ones (virtio
   1.2 2.4). p need not be aligned. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__)
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define VIRTIO__BIG_ENDIAN 1
#endif
#endif
#ifndef VIRTIO__BIG_ENDIAN
#define VIRTIO__BIG_ENDIAN 0
#endif
static inline void virtio_store(const virtio_device *d, void *p, uint64_t v, unsigned bytes)
{
    unsigned char *b = (unsigned char *)p;
    unsigned i;
#if (defined(__GNUC__) || defined(__clang__)) && !VIRTIO__BIG_ENDIAN
    /* Little-endian CPU: device order is CPU order; one unaligned store. */
    (void)d;
    (void)i;
    if (bytes == 8) {
        uint64_t x = v;
        __builtin_memcpy(b, &x, 8);
    } else if (bytes == 4) {
        uint32_t x = (uint32_t)v;
        __builtin_memcpy(b, &x, 4);
    } else if (bytes == 2) {
        uint16_t x = (uint16_t)v;
        __builtin_memcpy(b, &x, 2);
    } else {
        b[0] = (unsigned char)v;
    }
#else
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
    unsigned i;
#if (defined(__GNUC__) || defined(__clang__)) && !VIRTIO__BIG_ENDIAN
    (void)d;
    (void)i;
    if (bytes == 8) {
        __builtin_memcpy(&v, b, 8);
    } else if (bytes == 4) {
        uint32_t x;
        __builtin_memcpy(&x, b, 4);
        v = x;
    } else if (bytes == 2) {
        uint16_t x;
        __builtin_memcpy(&x, b, 2);
        v = x;
    } else {
        v = b[0];
    }
#else
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
   breaks. */
#define VIRTIO_KIT_VERSION 1
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
   keeping them out of line saves more code than the call costs. */
#if defined(__GNUC__) || defined(__clang__)
#define VIRTIO__NOINLINE __attribute__((noinline))
#else
#define VIRTIO__NOINLINE
#endif
#define VIRTIO__DEF(v, d) ((v) ? (v) : (d))
#define VIRTIO__DEV_MAGIC 0x76697274u   /* "virt" */
#define VIRTIO__Q_MAGIC 0x71756575u     /* "queu" */
#define VIRTIO__UNUSED(x) ((void)(x))
#define VIRTIO__BIT(b) VIRTIO_FEATURE_BIT(b)
/* Bits 24..41 are the transport's; the core decides them, not drivers. */
#define VIRTIO__TRANSPORT_BITS (((1ull << 42) - 1) & ~((1ull << 24) - 1))

/* Descriptor flags, shared by both ring formats (virtio 1.2 2.7.5, 2.8). */
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

/* virtio-mmio registers (virtio 1.2 4.2.2; v1 registers from 4.2.4). */
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
#define VIRTIO__MMIO_QUEUE_READY 0x044
#define VIRTIO__MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO__MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO__MMIO_INTERRUPT_ACK 0x064
#define VIRTIO__MMIO_STATUS 0x070
#define VIRTIO__MMIO_QUEUE_DESC 0x080
#define VIRTIO__MMIO_QUEUE_DRIVER 0x090
#define VIRTIO__MMIO_QUEUE_DEVICE 0x0a0
#define VIRTIO__MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO__MMIO_CONFIG 0x100
#define VIRTIO__MMIO_MAGIC_VALUE 0x74726976u   /* "virt" little-endian */

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
#define VIRTIO__PCI_Q_DESC 32
#define VIRTIO__PCI_Q_DRIVER 40
#define VIRTIO__PCI_Q_DEVICE 48
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
#define VIRTIO__LPCI_MSIX_CONFIG 20
#define VIRTIO__LPCI_MSIX_QUEUE 22
#define VIRTIO__LPCI_CONFIG 20            /* +4 when MSI-X is enabled */
#define VIRTIO__PCI_NO_VECTOR 0xffffu
#define VIRTIO__PCI_VENDOR 0x1af4u
/* Capability types in the vendor-specific PCI capability. */
#define VIRTIO__PCI_CAP_COMMON 1
#define VIRTIO__PCI_CAP_NOTIFY 2
#define VIRTIO__PCI_CAP_ISR 3
#define VIRTIO__PCI_CAP_DEVICE 4
#define VIRTIO__LEGACY_ALIGN 4096u        /* QueueAlign / PFN page for legacy rings */

/* >>core.endian (VIRTIO__BIG_ENDIAN is set in the declarations) */

static inline uint16_t virtio__bswap16(uint16_t v) { return (uint16_t)((v >> 8) | (v << 8)); }
static inline uint32_t virtio__bswap32(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

/* Ring memory is shared with the device and changes under us, so every
   access is volatile. Modern rings are little-endian, legacy rings use
   the CPU's order; on little-endian CPUs both are plain loads/stores. */
#define VIRTIO__VP16(p) ((volatile uint16_t *)(volatile void *)(p))
#define VIRTIO__VP32(p) ((volatile uint32_t *)(volatile void *)(p))
#if VIRTIO__BIG_ENDIAN
#define VIRTIO__CVT16(q, v) ((q)->priv.legacy ? (uint16_t)(v) : virtio__bswap16((uint16_t)(v)))
#define VIRTIO__CVT32(q, v) ((q)->priv.legacy ? (uint32_t)(v) : virtio__bswap32((uint32_t)(v)))
#else
#define VIRTIO__CVT16(q, v) ((uint16_t)(v))
#define VIRTIO__CVT32(q, v) ((uint32_t)(v))
#endif
static inline uint16_t virtio__ld16(const virtio_queue *q, const void *p)
{
    VIRTIO__UNUSED(q);
    return VIRTIO__CVT16(q, *VIRTIO__VP16(p));
}
static inline uint32_t virtio__ld32(const virtio_queue *q, const void *p)
{
    VIRTIO__UNUSED(q);
    return VIRTIO__CVT32(q, *VIRTIO__VP32(p));
}
static inline void virtio__st16(const virtio_queue *q, void *p, uint16_t v)
{
    VIRTIO__UNUSED(q);
    *VIRTIO__VP16(p) = VIRTIO__CVT16(q, v);
}
static inline void virtio__st32(const virtio_queue *q, void *p, uint32_t v)
{
    VIRTIO__UNUSED(q);
    *VIRTIO__VP32(p) = VIRTIO__CVT32(q, v);
}
static inline void virtio__st64(const virtio_queue *q, void *p, uint64_t v)
{
#if VIRTIO__BIG_ENDIAN
    unsigned char *b = (unsigned char *)p;
    if (q->priv.legacy) {
        virtio__st32(q, b, (uint32_t)(v >> 32));
        virtio__st32(q, b + 4, (uint32_t)v);
        return;
    }
    virtio__st32(q, b, (uint32_t)v);
    virtio__st32(q, b + 4, (uint32_t)(v >> 32));
#else
    /* Descriptor addresses are 8-byte aligned; one store. */
    VIRTIO__UNUSED(q);
    *(volatile uint64_t *)(volatile void *)p = v;
#endif
}

/* >>core.barriers
   The device is another observer of ring memory (a host thread, or real
   hardware), so these are DMA-strength barriers. */
#if defined(__x86_64__)
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
    case VIRTIO_ERR_NO_SPACE: return "VIRTIO_ERR_NO_SPACE: queue full";
    case VIRTIO_ERR_NEEDS_RESET: return "VIRTIO_ERR_NEEDS_RESET: device needs a reset";
    case VIRTIO_ERR_NO_MEMORY: return "VIRTIO_ERR_NO_MEMORY: out of DMA memory";
    case VIRTIO_ERR_NOT_FOUND: return "VIRTIO_ERR_NOT_FOUND: no such device";
    case VIRTIO_ERR_STATE: return "VIRTIO_ERR_STATE: object not ready";
    case VIRTIO_ERR_FEATURES: return "VIRTIO_ERR_FEATURES: device refused the features";
    case VIRTIO_ERR_RANGE: return "VIRTIO_ERR_RANGE: out of the device's range";
    case VIRTIO_ERR_READ_ONLY: return "VIRTIO_ERR_READ_ONLY: device is read-only";
    case VIRTIO_ERR_LINK_DOWN: return "VIRTIO_ERR_LINK_DOWN: link is down";
    case VIRTIO_ERR_TOO_BIG: return "VIRTIO_ERR_TOO_BIG: too large";
    default: return "VIRTIO_ERR_?: unknown result code";
    }
#endif
}

VIRTIO_API void virtio_log(const virtio_platform *p, int level, int id, const char *text, uint64_t value)
{
    if (!p || !p->log) return;
#ifdef VIRTIO_NO_STRINGS
    VIRTIO__UNUSED(text);
    p->log(p->user, level, id, 0, value);
#else
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
#if defined(__x86_64__) || defined(__i386__)
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
        return VIRTIO__BIG_ENDIAN ? virtio__bswap16((uint16_t)v) : v;
    }
    v = *(volatile uint32_t *)addr;
    return VIRTIO__BIG_ENDIAN ? virtio__bswap32(v) : v;
}
static inline void virtio__mem_out(uintptr_t addr, unsigned width, uint32_t v)
{
    if (width == 1) *(volatile uint8_t *)addr = (uint8_t)v;
    else if (width == 2) *(volatile uint16_t *)addr = VIRTIO__BIG_ENDIAN ? virtio__bswap16((uint16_t)v) : (uint16_t)v;
    else *(volatile uint32_t *)addr = VIRTIO__BIG_ENDIAN ? virtio__bswap32(v) : v;
}

static VIRTIO__NOINLINE uint32_t virtio__reg_in(const virtio_platform *p, uint32_t space, uintptr_t addr, unsigned width)
{
#ifndef VIRTIO_DIRECT_REGS
    if (p->reg_read) return p->reg_read(p->user, (int)space, addr, width);
#endif
    if (space == VIRTIO_SPACE_MEM) return virtio__mem_in(addr, width);
    if (p->pci_io_base) return virtio__mem_in(p->pci_io_base + addr, width);
#if VIRTIO__HAVE_PORTIO
    return virtio__port_in((uint16_t)addr, width);
#else
    return 0xffffffffu;
#endif
}
static VIRTIO__NOINLINE void virtio__reg_out(const virtio_platform *p, uint32_t space, uintptr_t addr, unsigned width, uint32_t v)
{
#ifndef VIRTIO_DIRECT_REGS
    if (p->reg_write) { p->reg_write(p->user, (int)space, addr, width, v); return; }
#endif
    if (space == VIRTIO_SPACE_MEM) virtio__mem_out(addr, width, v);
    else if (p->pci_io_base) virtio__mem_out(p->pci_io_base + addr, width, v);
#if VIRTIO__HAVE_PORTIO
    else virtio__port_out((uint16_t)addr, width, v);
#endif
}

/* Registers of the device's main block (MMIO window, PCI common config or
   legacy I/O block). */
static VIRTIO__NOINLINE uint32_t virtio__rd(const virtio_device *d, uintptr_t off, unsigned width)
{
    return virtio__reg_in(d->platform, d->priv.space, d->priv.common + off, width);
}
static VIRTIO__NOINLINE void virtio__wr(const virtio_device *d, uintptr_t off, unsigned width, uint32_t v)
{
    virtio__reg_out(d->platform, d->priv.space, d->priv.common + off, width, v);
}

/* >>core.wait */
VIRTIO_API void virtio_wait_start(virtio_wait *w, const virtio_platform *p, uint32_t timeout_ms)
{
    uint64_t ms = timeout_ms ? timeout_ms : VIRTIO__DEF(p->timeout_ms, 5000u);
    w->platform = p;
    w->spins = 0;
    w->deadline = p->now_us ? p->now_us(p->user) + ms * 1000u : 0;
}

VIRTIO_API virtio_result virtio_wait_step(virtio_wait *w)
{
    const virtio_platform *p = w->platform;
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
    if (!m || ((uintptr_t)m & (align - 1)) != 0) return VIRTIO_ERR_NO_MEMORY;
    VIRTIO_MEMSET(m, 0, size);
    *ptr = m;
    if (dev_addr) *dev_addr = da;
    return VIRTIO_OK;
}

VIRTIO_API void virtio_free(const virtio_platform *p, void *ptr, size_t size, int kind)
{
    if (p && ptr && p->dma_free) p->dma_free(p->user, ptr, size, kind);
}

VIRTIO_API virtio_result virtio_dma_map(const virtio_platform *p, void *buf, size_t len, int dir, virtio_sg *sg,
                                        uint32_t max, uint32_t max_piece, uint32_t *count, size_t *mapped)
{
    size_t off = 0, limit = max_piece ? max_piece : 0x80000000u;
    uint32_t n = 0;
    if (!p || !sg || !count || (!buf && len)) return VIRTIO_ERR_INVALID_ARG;
    if (limit > 0x80000000u) limit = 0x80000000u;
    if (!p->dma_map && len <= limit && len && max) {   /* identity: one piece */
        sg[0].addr = (uint64_t)(uintptr_t)buf;
        sg[0].len = (uint32_t)len;
        sg[0].pad = 0;
        *count = 1;
        if (mapped) *mapped = len;
        return VIRTIO_OK;
    }
    while (off < len) {
        size_t want = len - off < limit ? len - off : limit, got = want;
        uint64_t addr = (uint64_t)(uintptr_t)((unsigned char *)buf + off);
        if (n == max) {
            if (mapped) break;
            virtio_dma_unmap(p, buf, dir, sg, n);
            return VIRTIO_ERR_TOO_BIG;
        }
        if (p->dma_map && (p->dma_map(p->user, (unsigned char *)buf + off, want, dir, &addr, &got) != 0 ||
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
    if (!p || !p->dma_unmap || !sg) return;
    for (i = 0; i < count; i++) {
        p->dma_unmap(p->user, (unsigned char *)buf + off, sg[i].len, dir, sg[i].addr);
        off += sg[i].len;
    }
}

/* >>core.pci.config
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
#endif

static virtio_result virtio__check_platform(const virtio_platform *p)
{
    if (!p || !p->dma_alloc) return VIRTIO_ERR_INVALID_ARG;
#ifdef VIRTIO__NO_BUILTIN_BARRIERS
    if (!p->mb || !p->rmb || !p->wmb) return VIRTIO_ERR_INVALID_ARG;
#endif
    return VIRTIO_OK;
}

/* >>core.mmio */
VIRTIO_API virtio_result virtio_mmio_probe(virtio_device *dev, const virtio_platform *p, uintptr_t base)
{
#ifdef VIRTIO_NO_MMIO
    VIRTIO__UNUSED(dev); VIRTIO__UNUSED(p); VIRTIO__UNUSED(base);
    return VIRTIO_ERR_UNSUPPORTED;
#else
    uint32_t version, id;
    virtio_result r;
    if (!dev || (r = virtio__check_platform(p)) != VIRTIO_OK) return VIRTIO_ERR_INVALID_ARG;
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
    dev->priv.space = dev->priv.notify_space = dev->priv.isr_space = dev->priv.config_space = VIRTIO_SPACE_MEM;
    dev->priv.common = base;
    dev->priv.notify = base + VIRTIO__MMIO_QUEUE_NOTIFY;
    dev->priv.isr = base + VIRTIO__MMIO_INTERRUPT_STATUS;
    dev->priv.config = base + VIRTIO__MMIO_CONFIG;
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
    uint32_t i;
    if (!p || !slot) return VIRTIO_ERR_INVALID_ARG;
    for (i = *slot; i < count; i++) {
        virtio_device d;
        if (virtio_mmio_probe(&d, p, base + (uintptr_t)i * stride) != VIRTIO_OK) continue;
        if (type == 0 || d.device_id == type) {
            *slot = i;
            return VIRTIO_OK;
        }
    }
    return VIRTIO_ERR_NOT_FOUND;
#endif
}

/* >>core.pci */
#ifndef VIRTIO_NO_PCI
#define VIRTIO__PCI_COMMAND 0x04
#define VIRTIO__PCI_CMD_IO 0x1u
#define VIRTIO__PCI_CMD_MEM 0x2u
#define VIRTIO__PCI_CMD_MASTER 0x4u
#define VIRTIO__PCI_BAR0 0x10
#define VIRTIO__PCI_CAP_LEN 16u           /* struct virtio_pci_cap */
#define VIRTIO__PCI_NOTIFY_CAP_LEN 20u    /* ... plus notify_off_multiplier */

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
static void virtio__pci_bar_read(const virtio_platform *p, uint32_t bdf, uint32_t bar, virtio__bar *b)
{
    unsigned off = VIRTIO__PCI_BAR0 + 4u * bar;
    uint32_t lo = virtio__cfg_in(p, bdf, off, 4), hi = 0, mlo, mhi = 0xffffffffu;
    uint64_t mask;
    VIRTIO__ZERO(b);
    virtio__cfg_out(p, bdf, off, 4, 0xffffffffu);
    mlo = virtio__cfg_in(p, bdf, off, 4);
    virtio__cfg_out(p, bdf, off, 4, lo);
    if (mlo == 0) return;
    if (mlo & 1u) {   /* I/O: 16-bit decoders leave the upper half clear */
        b->space = VIRTIO_SPACE_IO;
        b->addr = lo & ~3u;
        mask = 0xffffffffffff0000ull | (mlo & ~3u);
    } else {
        b->space = VIRTIO_SPACE_MEM;
        b->is64 = ((mlo >> 1) & 3u) == 2;
        if (b->is64 && bar < 5) {
            hi = virtio__cfg_in(p, bdf, off + 4, 4);
            virtio__cfg_out(p, bdf, off + 4, 4, 0xffffffffu);
            mhi = virtio__cfg_in(p, bdf, off + 4, 4);
            virtio__cfg_out(p, bdf, off + 4, 4, hi);
        } else if (b->is64) {
            return;   /* a 64-bit BAR cannot start in the last register */
        }
        b->addr = ((uint64_t)hi << 32 | lo) & ~0xfull;
        mask = (uint64_t)mhi << 32 | (mlo & ~0xfu);
    }
    b->size = ~mask + 1;
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

/* The CPU-side address of [off, off + len) of BAR b, or 0 when that range
   is not wholly inside the BAR, or the BAR is unassigned, or its end does
   not fit in a uintptr_t (a 32-bit CPU). Every register window the
   library uses on PCI comes from here. */
static uintptr_t virtio__bar_window(const virtio__bar *b, uint64_t off, uint64_t len)
{
    if (b->size == 0 || b->addr == 0 || len == 0 || off > b->size || len > b->size - off) return 0;
    if (b->addr + b->size < b->addr || b->addr + b->size - 1 > (uint64_t)(uintptr_t)-1) return 0;
    return (uintptr_t)(b->addr + off);
}

static virtio_result virtio__pci_probe(virtio_device *dev, const virtio_platform *p, uint32_t bdf, int want_legacy)
{
    static const uint32_t min_len[5] = { 0, VIRTIO__PCI_COMMON_MIN, 2, 1, 1 };
    virtio__bar bars[6];
    uintptr_t addr[5] = { 0, 0, 0, 0, 0 };
    uint32_t space[5] = { 0, 0, 0, 0, 0 }, len[5] = { 0, 0, 0, 0, 0 };
    uint32_t type, cap, n, i, cmd, used = 0, found = 0, bad = 0, msix = 0, mul = 0;
    virtio_result r;

    if (!dev || (r = virtio__check_platform(p)) != VIRTIO_OK) return VIRTIO_ERR_INVALID_ARG;
    if (bdf > 0xffffu) return VIRTIO_ERR_INVALID_ARG;
    type = virtio__pci_type(p, bdf);
    if (type == 0) return VIRTIO_ERR_NOT_FOUND;

    /* Every BAR's extent, learnt with decoding off (firmware's way). */
    cmd = virtio__pci_decode_off(p, bdf);
    for (i = 0; i < 6; i++) {
        virtio__pci_bar_read(p, bdf, i, &bars[i]);
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
            uint32_t id = virtio__cfg_in(p, bdf, cap, 1);
            if (id == 0x11 && cap <= 0x100 - 4) {   /* MSI-X: the enable bit moves legacy config */
                msix = (virtio__cfg_in(p, bdf, cap + 2, 2) >> 15) & 1u;
            } else if (id == 0x09) {   /* vendor-specific: VirtIO */
                uint32_t clen = virtio__cfg_in(p, bdf, cap + 2, 1), t = virtio__cfg_in(p, bdf, cap + 3, 1);
                uint32_t need = t == VIRTIO__PCI_CAP_NOTIFY ? VIRTIO__PCI_NOTIFY_CAP_LEN : VIRTIO__PCI_CAP_LEN;
                if (t >= 1 && t <= 4 && !(found & (1u << t))) {
                    uint32_t bar = 6, off = 0, l = 0;
                    uintptr_t a = 0;
                    if (clen >= need && cap + need <= 0x100) {
                        bar = virtio__cfg_in(p, bdf, cap + 4, 1);
                        off = virtio__cfg_in(p, bdf, cap + 8, 4);
                        l = virtio__cfg_in(p, bdf, cap + 12, 4);
                    }
                    if (bar < 6 && l >= min_len[t]) a = virtio__bar_window(&bars[bar], off, l);
                    if (a) {
                        addr[t] = a;
                        space[t] = bars[bar].space;
                        len[t] = l;
                        used |= bars[bar].space == VIRTIO_SPACE_IO ? VIRTIO__PCI_CMD_IO : VIRTIO__PCI_CMD_MEM;
                        if (t == VIRTIO__PCI_CAP_NOTIFY) mul = virtio__cfg_in(p, bdf, cap + 16, 4);
                        found |= 1u << t;
                    } else {
                        bad |= 1u << t;
                    }
                }
            }
            cap = virtio__cfg_in(p, bdf, cap + 1, 1) & 0xfcu;
        }
    }

    VIRTIO__ZERO(dev);
    dev->platform = p;
    dev->device_id = type;
    dev->vendor_id = VIRTIO__PCI_VENDOR;
    dev->transport = VIRTIO_TRANSPORT_PCI;
    dev->bdf = bdf;

    if (!want_legacy && (found & 0x0eu) == 0x0eu) {   /* common, notify, isr */
        dev->base = dev->priv.common = addr[VIRTIO__PCI_CAP_COMMON];
        dev->priv.space = space[VIRTIO__PCI_CAP_COMMON];
        dev->priv.notify = addr[VIRTIO__PCI_CAP_NOTIFY];
        dev->priv.notify_space = space[VIRTIO__PCI_CAP_NOTIFY];
        dev->priv.notify_mul = mul;
        dev->priv.notify_len = len[VIRTIO__PCI_CAP_NOTIFY];
        dev->priv.isr = addr[VIRTIO__PCI_CAP_ISR];
        dev->priv.isr_space = space[VIRTIO__PCI_CAP_ISR];
        dev->priv.config = addr[VIRTIO__PCI_CAP_DEVICE];
        dev->priv.config_space = space[VIRTIO__PCI_CAP_DEVICE];
        dev->config_size = len[VIRTIO__PCI_CAP_DEVICE] > 0x1000 ? 0x1000 : len[VIRTIO__PCI_CAP_DEVICE];
    } else if (!want_legacy && (bad & 0x1eu)) {
        /* A modern interface that points outside its BARs is a lie, not a
           reason to fall back to the legacy one. */
        virtio_log(p, VIRTIO_LOG_ERROR, VIRTIO_MSG_PCI_CAPS, 0, bdf);
        return VIRTIO_ERR_DEVICE;
    } else {
#ifdef VIRTIO_NO_LEGACY
        VIRTIO__UNUSED(msix);
        return VIRTIO_ERR_UNSUPPORTED;
#else
        /* Legacy: registers, then configuration, in the I/O BAR 0. */
        uint32_t hdr = VIRTIO__LPCI_CONFIG + (msix ? 4u : 0u);
        uintptr_t io = bars[0].space == VIRTIO_SPACE_IO ? virtio__bar_window(&bars[0], 0, hdr) : 0;
        if (virtio__cfg_in(p, bdf, 2, 2) >= 0x1040) {   /* a modern-only ID has no legacy interface */
            if (want_legacy) return VIRTIO_ERR_UNSUPPORTED;
            virtio_log(p, VIRTIO_LOG_ERROR, VIRTIO_MSG_PCI_CAPS, 0, bdf);
            return VIRTIO_ERR_DEVICE;
        }
        if (!io) {
            virtio_log(p, VIRTIO_LOG_ERROR, VIRTIO_MSG_PCI_CAPS, 0, bdf);
            return VIRTIO_ERR_DEVICE;
        }
        dev->legacy = 1;
        dev->base = dev->priv.common = dev->priv.notify = dev->priv.isr = io;
        dev->priv.notify += VIRTIO__LPCI_QUEUE_NOTIFY;
        dev->priv.isr += VIRTIO__LPCI_ISR;
        dev->priv.space = dev->priv.notify_space = dev->priv.isr_space = dev->priv.config_space = VIRTIO_SPACE_IO;
        dev->priv.msix = msix;
        dev->priv.config = io + hdr;
        dev->config_size = (uint32_t)(bars[0].size - hdr > 0x1000 ? 0x1000 : bars[0].size - hdr);
        used = VIRTIO__PCI_CMD_IO;
#endif
    }
    /* Decode what we use, and let the device master the bus. */
    virtio__cfg_out(p, bdf, VIRTIO__PCI_COMMAND, 2, cmd | used | VIRTIO__PCI_CMD_MASTER);
    dev->priv.magic = VIRTIO__DEV_MAGIC;
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
#endif /* VIRTIO_NO_PCI */

VIRTIO_API virtio_result virtio_pci_assign(const virtio_platform *p, const virtio_pci_windows *w, uint32_t *unplaced)
{
#ifdef VIRTIO_NO_PCI
    VIRTIO__UNUSED(p); VIRTIO__UNUSED(w); VIRTIO__UNUSED(unplaced);
    return VIRTIO_ERR_UNSUPPORTED;
#else
    /* Cursors per window: 0 I/O, 1 32-bit memory, 2 64-bit memory. */
    uint64_t next[3], end[3];
    uint32_t f, last, missed = 0;
    if (!p || !w) return VIRTIO_ERR_INVALID_ARG;
    next[0] = w->io_base ? w->io_base : 0x1000u;   /* keep legacy ISA ports free */
    end[0] = w->io_size ? (uint64_t)w->io_base + w->io_size : 0;
    next[1] = w->mem_base;
    end[1] = w->mem_size ? w->mem_base + w->mem_size : 0;
    next[2] = w->mem64_base;
    end[2] = w->mem64_size ? w->mem64_base + w->mem64_size : 0;
    last = (p->pci_buses ? (p->pci_buses > 256 ? 256 : p->pci_buses) : 1u) << 8;
    for (f = virtio__pci_next(p, 0, last); f < last; f = virtio__pci_next(p, f + 1, last)) {
        uint32_t cmd, bar, enable = VIRTIO__PCI_CMD_MASTER, failed = 0;
        if ((virtio__cfg_in(p, f, 0x0e, 1) & 0x7fu) != 0) continue;   /* bridges are left alone */
        cmd = virtio__pci_decode_off(p, f);
        for (bar = 0; bar < 6; bar++) {
            virtio__bar b;
            uint32_t k, bit;
            uint64_t a;
            virtio__pci_bar_read(p, f, bar, &b);
            if (b.size == 0) continue;
            k = b.space == VIRTIO_SPACE_IO ? 0 : (b.is64 && end[2]) ? 2 : 1;
            bit = k ? VIRTIO__PCI_CMD_MEM : VIRTIO__PCI_CMD_IO;
            a = virtio__pci_place(&next[k], &end[k], b.size);
            if (a) {
                enable |= bit;
            } else {
                failed |= bit;   /* no decoding of that kind: the BAR would sit at 0 */
                missed++;
            }
            virtio__cfg_out(p, f, VIRTIO__PCI_BAR0 + 4u * bar, 4, (uint32_t)a);
            if (b.is64) virtio__cfg_out(p, f, VIRTIO__PCI_BAR0 + 4u * ++bar, 4, (uint32_t)(a >> 32));
        }
        virtio__cfg_out(p, f, VIRTIO__PCI_COMMAND, 2, (cmd | enable) & ~failed);
    }
    if (unplaced) *unplaced = missed;
    return missed ? VIRTIO_ERR_NO_SPACE : VIRTIO_OK;
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

/* >>core.device */
static uint32_t virtio__status_off(const virtio_device *d)
{
    if (d->transport == VIRTIO_TRANSPORT_MMIO) return VIRTIO__MMIO_STATUS;
    return d->legacy ? VIRTIO__LPCI_STATUS : VIRTIO__PCI_STATUS;
}
static uint32_t virtio__get_status(const virtio_device *d)
{
    return virtio__rd(d, virtio__status_off(d), d->transport == VIRTIO_TRANSPORT_MMIO ? 4 : 1) & 0xffu;
}
static void virtio__set_status(const virtio_device *d, uint32_t s)
{
    virtio__wr(d, virtio__status_off(d), d->transport == VIRTIO_TRANSPORT_MMIO ? 4 : 1, s);
}
static int virtio__dev_ok(const virtio_device *d)
{
    return d && d->priv.magic == VIRTIO__DEV_MAGIC && d->platform;
}

VIRTIO_API virtio_result virtio_device_reset(virtio_device *dev)
{
    virtio_wait w;
    if (!virtio__dev_ok(dev)) return VIRTIO_ERR_STATE;
    virtio__set_status(dev, 0);
    /* Modern devices may take time; the reset is done when status reads 0
       (virtio 1.2 4.1.4.3.2, 4.2.2.1). */
    virtio_wait_start(&w, dev->platform, 0);
    while (virtio__get_status(dev) != 0) {
        if (virtio_wait_step(&w) != VIRTIO_OK) {
            virtio_log(dev->platform, VIRTIO_LOG_ERROR, VIRTIO_MSG_RESET_TIMEOUT, 0, dev->device_id);
            return VIRTIO_ERR_TIMEOUT;
        }
    }
    dev->features = 0;
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
    if (!status) return VIRTIO_ERR_INVALID_ARG;
    if (!virtio__dev_ok(dev)) return VIRTIO_ERR_STATE;
    s = virtio__get_status(dev);
    *status = s;
    /* Legacy devices have no NEEDS_RESET bit; do not read it into them. */
    return (!dev->legacy && (s & VIRTIO_STATUS_NEEDS_RESET)) ? VIRTIO_ERR_NEEDS_RESET : VIRTIO_OK;
}

static uint64_t virtio__read_features(const virtio_device *d)
{
    uint64_t f;
    if (d->transport == VIRTIO_TRANSPORT_MMIO) {
        virtio__wr(d, VIRTIO__MMIO_DEVICE_FEATURES_SEL, 4, 0);
        f = virtio__rd(d, VIRTIO__MMIO_DEVICE_FEATURES, 4);
        if (d->legacy) return f;
        virtio__wr(d, VIRTIO__MMIO_DEVICE_FEATURES_SEL, 4, 1);
        return f | (uint64_t)virtio__rd(d, VIRTIO__MMIO_DEVICE_FEATURES, 4) << 32;
    }
    if (d->legacy) return virtio__rd(d, VIRTIO__LPCI_HOST_FEATURES, 4);
    virtio__wr(d, VIRTIO__PCI_DFSELECT, 4, 0);
    f = virtio__rd(d, VIRTIO__PCI_DF, 4);
    virtio__wr(d, VIRTIO__PCI_DFSELECT, 4, 1);
    return f | (uint64_t)virtio__rd(d, VIRTIO__PCI_DF, 4) << 32;
}

static void virtio__write_features(const virtio_device *d, uint64_t f)
{
    if (d->transport == VIRTIO_TRANSPORT_MMIO) {
        virtio__wr(d, VIRTIO__MMIO_DRIVER_FEATURES_SEL, 4, 0);
        virtio__wr(d, VIRTIO__MMIO_DRIVER_FEATURES, 4, (uint32_t)f);
        if (d->legacy) return;
        virtio__wr(d, VIRTIO__MMIO_DRIVER_FEATURES_SEL, 4, 1);
        virtio__wr(d, VIRTIO__MMIO_DRIVER_FEATURES, 4, (uint32_t)(f >> 32));
    } else if (d->legacy) {
        virtio__wr(d, VIRTIO__LPCI_GUEST_FEATURES, 4, (uint32_t)f);
    } else {
        virtio__wr(d, VIRTIO__PCI_GFSELECT, 4, 0);
        virtio__wr(d, VIRTIO__PCI_GF, 4, (uint32_t)f);
        virtio__wr(d, VIRTIO__PCI_GFSELECT, 4, 1);
        virtio__wr(d, VIRTIO__PCI_GF, 4, (uint32_t)(f >> 32));
    }
}

/* Reset, ACKNOWLEDGE, DRIVER: the start of every negotiation. */
static virtio_result virtio__hello(virtio_device *dev)
{
    virtio_result r;
    if ((r = virtio_device_reset(dev)) != VIRTIO_OK) return r;
    virtio__set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE);
    virtio__set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    if (dev->transport == VIRTIO_TRANSPORT_MMIO && dev->legacy)
        virtio__wr(dev, VIRTIO__MMIO_GUEST_PAGE_SIZE, 4, VIRTIO__LEGACY_ALIGN);
    dev->device_features = virtio__read_features(dev);
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_device_offer(virtio_device *dev, uint64_t *offered)
{
    virtio_result r;
    if (!virtio__dev_ok(dev)) return VIRTIO_ERR_STATE;
    if (!offered) return VIRTIO_ERR_INVALID_ARG;
    if ((r = virtio__hello(dev)) != VIRTIO_OK) return r;
    *offered = dev->device_features;
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
    if (!o->no_indirect) want |= VIRTIO__BIT(VIRTIO_FEATURE_INDIRECT_DESC);
    if (!o->no_event_idx) want |= VIRTIO__BIT(VIRTIO_FEATURE_EVENT_IDX);
    r = VIRTIO_OK;
    if (!dev->legacy) {
        want |= VIRTIO__BIT(VIRTIO_FEATURE_VERSION_1) | VIRTIO__BIT(VIRTIO_FEATURE_ACCESS_PLATFORM);
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
    virtio__write_features(dev, want);
    if (!dev->legacy) {
        virtio__set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
        if (!(virtio__get_status(dev) & VIRTIO_STATUS_FEATURES_OK)) {
            virtio_log(dev->platform, VIRTIO_LOG_ERROR, VIRTIO_MSG_FEATURES_REFUSED, 0, want);
            virtio_device_fail(dev);
            return VIRTIO_ERR_FEATURES;
        }
    }
    dev->features = want;
    dev->priv.ring = (want & VIRTIO__BIT(VIRTIO_FEATURE_RING_PACKED)) ? VIRTIO_RING_PACKED : VIRTIO_RING_SPLIT;
    if (dev->transport == VIRTIO_TRANSPORT_PCI) {
        /* Polling driver: no MSI-X vector for configuration changes. */
        if (!dev->legacy) {
            virtio__wr(dev, VIRTIO__PCI_MSIX_CONFIG, 2, VIRTIO__PCI_NO_VECTOR);
            dev->num_queues = virtio__rd(dev, VIRTIO__PCI_NUM_QUEUES, 2);
        } else if (dev->priv.msix) {
            virtio__wr(dev, VIRTIO__LPCI_MSIX_CONFIG, 2, VIRTIO__PCI_NO_VECTOR);
        }
    }
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_device_ready(virtio_device *dev)
{
    uint32_t s;
    if (!virtio__dev_ok(dev)) return VIRTIO_ERR_STATE;
    s = virtio__get_status(dev);
    if (!(s & VIRTIO_STATUS_DRIVER) || (s & VIRTIO_STATUS_FAILED)) return VIRTIO_ERR_STATE;
    if (!dev->legacy && (s & VIRTIO_STATUS_NEEDS_RESET)) return VIRTIO_ERR_NEEDS_RESET;
    virtio__set_status(dev, s | VIRTIO_STATUS_DRIVER_OK);
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_device_isr(virtio_device *dev, uint32_t *isr)
{
    uint32_t v;
    if (!isr) return VIRTIO_ERR_INVALID_ARG;
    if (!virtio__dev_ok(dev)) return VIRTIO_ERR_STATE;
    if (dev->transport == VIRTIO_TRANSPORT_MMIO) {
        v = virtio__rd(dev, VIRTIO__MMIO_INTERRUPT_STATUS, 4);
        if (v) virtio__wr(dev, VIRTIO__MMIO_INTERRUPT_ACK, 4, v);
    } else {
        v = virtio__reg_in(dev->platform, dev->priv.isr_space, dev->priv.isr, 1);   /* read clears */
    }
    *isr = v & (VIRTIO_ISR_QUEUE | VIRTIO_ISR_CONFIG);
    return VIRTIO_OK;
}

VIRTIO_API int virtio_device_has(const virtio_device *dev, unsigned bit)
{
    return dev && bit < 64 && ((dev->features >> bit) & 1u);
}

/* >>core.config_space */
static uint32_t virtio__generation(const virtio_device *d)
{
    if (d->legacy) return 0;
    if (d->transport == VIRTIO_TRANSPORT_MMIO) return virtio__rd(d, VIRTIO__MMIO_CONFIG_GENERATION, 4);
    return virtio__rd(d, VIRTIO__PCI_GENERATION, 1);
}

static uint32_t virtio__cfg_rd(const virtio_device *d, uint32_t off, unsigned width)
{
    uint32_t v = virtio__reg_in(d->platform, d->priv.config_space, d->priv.config + off, width);
#if VIRTIO__BIG_ENDIAN
    /* Legacy config space is in the guest's order, not little-endian. */
    if (d->legacy) v = width == 2 ? virtio__bswap16((uint16_t)v) : width == 4 ? virtio__bswap32(v) : v;
#endif
    return v;
}

/* Read `count` fields of `width` bytes at `off` into out[] as one
   snapshot under the generation counter. */
static virtio_result virtio__config_snapshot(virtio_device *d, uint32_t off, unsigned width, uint32_t count,
                                             void *out)
{
    uint32_t tries, i, before, after;
    if (!virtio__dev_ok(d)) return VIRTIO_ERR_STATE;
    if (!out || (off & (width - 1)) != 0) return VIRTIO_ERR_INVALID_ARG;
    if (off > d->config_size || (uint64_t)count * width > d->config_size - off) return VIRTIO_ERR_RANGE;
    for (tries = 0; tries < 16; tries++) {
        before = virtio__generation(d);
        for (i = 0; i < count; i++) {
            uint32_t v = virtio__cfg_rd(d, off + i * width, width);
            if (width == 1) ((uint8_t *)out)[i] = (uint8_t)v;
            else if (width == 2) ((uint16_t *)out)[i] = (uint16_t)v;
            else ((uint32_t *)out)[i] = v;
        }
        after = virtio__generation(d);
        if (before == after) return VIRTIO_OK;
    }
    virtio_log(d->platform, VIRTIO_LOG_ERROR, VIRTIO_MSG_CONFIG_UNSTABLE, 0, off);
    return VIRTIO_ERR_DEVICE;
}

VIRTIO_API virtio_result virtio_config_read(virtio_device *dev, uint32_t offset, void *buf, uint32_t len)
{
    if (!buf && len) return VIRTIO_ERR_INVALID_ARG;
    return virtio__config_snapshot(dev, offset, 1, len, buf);
}

VIRTIO_API virtio_result virtio_config_read8(virtio_device *dev, uint32_t offset, uint8_t *v)
{
    return virtio__config_snapshot(dev, offset, 1, 1, v);
}

VIRTIO_API virtio_result virtio_config_read16(virtio_device *dev, uint32_t offset, uint16_t *v)
{
    return virtio__config_snapshot(dev, offset, 2, 1, v);
}

VIRTIO_API virtio_result virtio_config_read32(virtio_device *dev, uint32_t offset, uint32_t *v)
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
#if VIRTIO__BIG_ENDIAN
    if (dev->legacy) { *v = (uint64_t)half[0] << 32 | half[1]; return VIRTIO_OK; }
#endif
    *v = (uint64_t)half[1] << 32 | half[0];
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_config_write(virtio_device *dev, uint32_t offset, unsigned width, uint32_t value)
{
    if (!virtio__dev_ok(dev)) return VIRTIO_ERR_STATE;
    if ((width != 1 && width != 2 && width != 4) || (offset & (width - 1)) != 0) return VIRTIO_ERR_INVALID_ARG;
    if (offset > dev->config_size || width > dev->config_size - offset) return VIRTIO_ERR_RANGE;
#if VIRTIO__BIG_ENDIAN
    if (dev->legacy) value = width == 2 ? virtio__bswap16((uint16_t)value) : width == 4 ? virtio__bswap32(value) : value;
#endif
    virtio__reg_out(dev->platform, dev->priv.config_space, dev->priv.config + offset, width, value);
    return VIRTIO_OK;
}

/* >>queue
   Private per-descriptor shadow (split: per descriptor index; packed: per
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

/* >>queue.split
   Make descriptor `head` (its chain written, its shadow filled) the
   device's: ring entry, then (after a write barrier) the index. */
static inline void virtio__split_publish(virtio_queue *q, uint16_t head)
{
    unsigned char *avail = q->priv.driver;
    virtio__st16(q, avail + 4 + 2u * (q->priv.avail_idx & (q->size - 1)), head);
    q->priv.avail_idx++;
    virtio__wmb(q->dev->platform);
    virtio__st16(q, avail + 2, q->priv.avail_idx);
}

/* One descriptor pointing at an indirect table: the request's only slot.
   The caller checked that one is free. */
static virtio_result virtio__split_add_table(virtio_queue *q, uint64_t table_dev, uint32_t count, uint64_t in_len,
                                             void *cookie)
{
    virtio__slot *s = virtio__slots(q);
    uint16_t head = q->priv.free_head;
    unsigned char *d = virtio__desc(q, head);
    virtio__st64(q, d + VIRTIO__D_ADDR, table_dev);
    virtio__st32(q, d + VIRTIO__D_LEN, count * VIRTIO__DESC_SIZE);
    virtio__st16(q, d + VIRTIO__SD_FLAGS, VIRTIO__DESC_INDIRECT);
    q->priv.free_head = s[head].next;
    virtio__shadow(q, head, cookie, in_len, 1);
    virtio__split_publish(q, head);
    return VIRTIO_OK;
}

static virtio_result virtio__split_add(virtio_queue *q, const virtio_sg *sg, uint32_t out, uint32_t n, void *cookie)
{
    virtio__slot *s = virtio__slots(q);
    uint16_t head = q->priv.free_head, i = head;
    uint64_t in_len = 0;
    uint32_t k;
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
    uint16_t newi = q->priv.avail_idx, old = q->priv.kick_idx;
    q->priv.kick_idx = newi;
    if (q->priv.event_idx) {
        /* Notify only if the device's avail_event lies in [old, new)
           (virtio 1.2 2.7.10). */
        uint16_t ev = virtio__ld16(q, q->priv.device + 4 + 8u * q->size);
        return (uint16_t)(newi - ev - 1) < (uint16_t)(newi - old);
    }
    return !(virtio__ld16(q, q->priv.device) & VIRTIO__USED_NO_NOTIFY);
}

static virtio_result virtio__split_pop(virtio_queue *q, void **cookie, uint32_t *len)
{
    virtio__slot *s = virtio__slots(q);
    unsigned char *e;
    uint32_t id, l, k;
    uint16_t i;
    if (q->priv.used_idx == q->priv.dev_used) {
        uint16_t idx = virtio__ld16(q, q->priv.device + 2);
        if (idx == q->priv.used_idx) return VIRTIO_EMPTY;
        /* The device may not claim more than we have in flight. */
        if ((uint16_t)(idx - q->priv.used_idx) > q->priv.inflight)
            return virtio__q_broken(q, VIRTIO_MSG_BAD_USED_IDX, idx);
        q->priv.dev_used = idx;
        virtio__rmb(q->dev->platform);   /* entries after the index */
    }
    e = q->priv.device + 4 + 8u * (q->priv.used_idx & (q->size - 1));
    id = virtio__ld32(q, e);
    l = virtio__ld32(q, e + 4);
    if (id >= q->size || s[id].ndesc == 0) return virtio__q_broken(q, VIRTIO_MSG_BAD_USED_ID, id);
    l = virtio__used_len(q, s[id].in_len, l);
    if (cookie) *cookie = s[id].cookie;
    if (len) *len = l;
    /* Return the chain to the free list, following our own links. */
    for (i = (uint16_t)id, k = 1; k < s[id].ndesc; k++) i = s[i].next;
    s[i].next = q->priv.free_head;
    q->priv.free_head = (uint16_t)id;
    q->num_free += s[id].ndesc;
    s[id].ndesc = 0;
    q->priv.used_idx++;
    q->priv.inflight--;
    return VIRTIO_OK;
}

/* >>queue.packed */
#ifndef VIRTIO_NO_PACKED
/* Hand the chain written at [head, pos) to the device: the head's flags
   go last, after a write barrier. */
static inline void virtio__packed_publish(virtio_queue *q, uint16_t head, uint16_t pos, uint16_t wrap, uint16_t first,
                                          uint32_t count)
{
    q->priv.avail_idx = pos;
    q->priv.avail_wrap = wrap;
    q->priv.added = (uint16_t)(q->priv.added + count);
    virtio__wmb(q->dev->platform);
    virtio__st16(q, virtio__desc(q, head) + VIRTIO__PD_FLAGS, first);
}

static virtio_result virtio__packed_add_table(virtio_queue *q, uint64_t table_dev, uint32_t count, uint64_t in_len,
                                              void *cookie)
{
    virtio__slot *s = virtio__slots(q);
    uint16_t id = q->priv.free_head, head = q->priv.avail_idx, pos = (uint16_t)(head + 1), wrap = q->priv.avail_wrap;
    /* AVAIL == wrap counter, USED == its inverse marks "available". */
    uint16_t first = (uint16_t)((wrap ? VIRTIO__DESC_AVAIL : VIRTIO__DESC_USED) | VIRTIO__DESC_INDIRECT);
    unsigned char *d = virtio__desc(q, head);
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

static virtio_result virtio__packed_add(virtio_queue *q, const virtio_sg *sg, uint32_t out, uint32_t n, void *cookie)
{
    virtio__slot *s = virtio__slots(q);
    uint16_t id = q->priv.free_head, head = q->priv.avail_idx, pos = head, wrap = q->priv.avail_wrap, first = 0;
    uint64_t in_len = 0;
    uint32_t k;
    /* Chain descriptors carry their final flags before the head does:
       check everything before writing anything. */
    for (k = 0; k < n; k++) {
        if (sg[k].len == 0) return VIRTIO_ERR_INVALID_ARG;
        if (k >= out) in_len += sg[k].len;
    }
    for (k = 0; k < n; k++) {
        uint16_t f = (uint16_t)((wrap ? VIRTIO__DESC_AVAIL : VIRTIO__DESC_USED) |
                                (k >= out ? VIRTIO__DESC_WRITE : 0u) | (k + 1 < n ? VIRTIO__DESC_NEXT : 0u));
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
    unsigned char *ev = q->priv.device;   /* device event suppression */
    uint16_t flags = (uint16_t)(virtio__ld16(q, ev + 2) & 3u);
    uint16_t newi = q->priv.avail_idx, added = q->priv.added, old = (uint16_t)(newi - added);
    q->priv.added = 0;
    if (flags == VIRTIO__EVENT_DESC && q->priv.event_idx) {
        uint16_t off_wrap = virtio__ld16(q, ev), e = (uint16_t)(off_wrap & 0x7fffu);
        /* An event in the previous lap sits `size` slots behind ours. */
        if ((off_wrap >> 15) != q->priv.avail_wrap) e = (uint16_t)(e - q->size);
        return (uint16_t)(newi - e - 1) < (uint16_t)(newi - old);
    }
    return flags != VIRTIO__EVENT_DISABLE;
}

static int virtio__packed_is_used(const virtio_queue *q, uint16_t flags)
{
    uint16_t a = (uint16_t)((flags >> 7) & 1u), u = (uint16_t)((flags >> 15) & 1u);
    return a == u && u == q->priv.used_wrap;
}

static virtio_result virtio__packed_pop(virtio_queue *q, void **cookie, uint32_t *len)
{
    virtio__slot *s = virtio__slots(q);
    unsigned char *d = virtio__desc(q, q->priv.used_idx);
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
    pos = (uint32_t)q->priv.used_idx + s[id].ndesc;
    if (pos >= q->size) {
        pos -= q->size;
        q->priv.used_wrap ^= 1;
    }
    q->priv.used_idx = (uint16_t)pos;
    q->num_free += s[id].ndesc;
    s[id].ndesc = 0;
    s[id].next = q->priv.free_head;
    q->priv.free_head = id;
    q->priv.inflight--;
    return VIRTIO_OK;
}
#endif /* VIRTIO_NO_PACKED */

/* >>queue.api */
VIRTIO_API virtio_result virtio_queue_init(virtio_queue *q, virtio_device *dev, uint32_t index,
                                           const virtio_queue_options *o)
{
    const virtio_platform *p;
    uint32_t max, size, limit, i, live, indirect = 0;
    size_t driver_off, device_off, table_off, total;
    int packed;
    virtio_result r;
    if (!q) return VIRTIO_ERR_INVALID_ARG;
    if (!virtio__dev_ok(dev) || !(virtio__get_status(dev) & VIRTIO_STATUS_DRIVER)) return VIRTIO_ERR_STATE;
    if (index > 0xffffu) return VIRTIO_ERR_INVALID_ARG;
    p = dev->platform;
    packed = dev->priv.ring == VIRTIO_RING_PACKED;
#ifdef VIRTIO_NO_PACKED
    if (packed) return VIRTIO_ERR_UNSUPPORTED;
#endif
    VIRTIO__ZERO(q);

    /* Select the queue and learn its maximum size. */
    if (dev->transport == VIRTIO_TRANSPORT_MMIO) {
        virtio__wr(dev, VIRTIO__MMIO_QUEUE_SEL, 4, index);
        max = virtio__rd(dev, VIRTIO__MMIO_QUEUE_NUM_MAX, 4);
    } else if (dev->legacy) {
        virtio__wr(dev, VIRTIO__LPCI_QUEUE_SEL, 2, index);
        max = virtio__rd(dev, VIRTIO__LPCI_QUEUE_NUM, 2);
    } else {
        virtio__wr(dev, VIRTIO__PCI_Q_SELECT, 2, index);
        max = virtio__rd(dev, VIRTIO__PCI_Q_SIZE, 2);
    }
    if (max == 0) return VIRTIO_ERR_NOT_FOUND;
    /* Setting up a live queue again is a driver bug the spec forbids. */
    if (dev->transport == VIRTIO_TRANSPORT_MMIO)
        live = dev->legacy ? virtio__rd(dev, VIRTIO__MMIO_QUEUE_PFN, 4) : virtio__rd(dev, VIRTIO__MMIO_QUEUE_READY, 4);
    else
        live = dev->legacy ? virtio__rd(dev, VIRTIO__LPCI_QUEUE_PFN, 4) : virtio__rd(dev, VIRTIO__PCI_Q_ENABLE, 2);
    if (live) return VIRTIO_ERR_STATE;
    limit = (o && o->size && !(dev->transport == VIRTIO_TRANSPORT_PCI && dev->legacy)) ? o->size
                                                                                        : VIRTIO_MAX_QUEUE_SIZE;
    if (limit > VIRTIO_MAX_QUEUE_SIZE) limit = VIRTIO_MAX_QUEUE_SIZE;
    if (limit > 32768) limit = 32768;
    size = max < limit ? max : limit;
    if (!packed) while (size & (size - 1)) size &= size - 1;   /* split rings: power of two */
    if (dev->transport == VIRTIO_TRANSPORT_PCI && dev->legacy && size != max) {
        /* Legacy PCI queues have a fixed size. */
        virtio_log(p, VIRTIO_LOG_ERROR, VIRTIO_MSG_QUEUE_SIZE, 0, max);
        return (max & (max - 1)) ? VIRTIO_ERR_DEVICE : VIRTIO_ERR_UNSUPPORTED;
    }
    if (o && o->indirect && (dev->features & VIRTIO__BIT(VIRTIO_FEATURE_INDIRECT_DESC)))
        indirect = o->indirect > size ? size : o->indirect;

    /* One DMA block: rings (legacy: used ring on its own page), then the
       indirect tables, one per slot (split) or buffer id (packed). */
    if (packed) {
        driver_off = (size_t)size * VIRTIO__DESC_SIZE;
        device_off = driver_off + 4;
        table_off = (device_off + 4 + 15) & ~(size_t)15;
    } else {
        size_t align = dev->legacy ? VIRTIO__LEGACY_ALIGN : 4;
        driver_off = (size_t)size * VIRTIO__DESC_SIZE;
        device_off = (driver_off + 6 + 2u * size + align - 1) & ~(align - 1);
        table_off = (device_off + 6 + 8u * size + 15) & ~(size_t)15;
    }
    total = table_off + (size_t)size * indirect * VIRTIO__DESC_SIZE;
    r = virtio_alloc(p, total, VIRTIO__LEGACY_ALIGN, VIRTIO_MEM_DMA, (void **)&q->priv.ring, &q->priv.ring_dev);
    if (r != VIRTIO_OK) return r;
    r = virtio_alloc(p, (size_t)size * sizeof(virtio__slot), sizeof(void *), VIRTIO_MEM_PRIVATE, &q->priv.state, 0);
    if (r != VIRTIO_OK) {
        virtio_free(p, q->priv.ring, total, VIRTIO_MEM_DMA);
        return r;
    }
    q->priv.ring_bytes = total;
    q->priv.state_bytes = (size_t)size * sizeof(virtio__slot);
    q->priv.desc = q->priv.ring;
    q->priv.driver = q->priv.ring + driver_off;
    q->priv.device = q->priv.ring + device_off;
    q->priv.table = q->priv.ring + table_off;
    q->priv.table_dev = q->priv.ring_dev + table_off;
    q->indirect = indirect;
    q->priv.event_idx = (dev->features & VIRTIO__BIT(VIRTIO_FEATURE_EVENT_IDX)) != 0;
    q->priv.legacy = dev->legacy;
    q->priv.used_wrap = q->priv.avail_wrap = 1;
    q->dev = dev;
    q->index = index;
    q->size = size;
    q->num_free = size;
    q->packed = (uint32_t)packed;
    for (i = 0; i + 1 < size; i++) virtio__slots(q)[i].next = (uint16_t)(i + 1);
    /* Legacy transports take the ring as a 32-bit page frame number. */
    if (dev->legacy && q->priv.ring_dev / VIRTIO__LEGACY_ALIGN > 0xffffffffu) {
        virtio_log(p, VIRTIO_LOG_ERROR, VIRTIO_MSG_LEGACY_ADDRESS, 0, q->priv.ring_dev);
        virtio_queue_destroy(q);
        return VIRTIO_ERR_UNSUPPORTED;
    }

    /* Register the rings with the device. */
    q->priv.notify_space = dev->priv.notify_space;
    q->priv.notify_width = dev->transport == VIRTIO_TRANSPORT_MMIO ? 4 : 2;
    q->priv.notify = dev->priv.notify;
    if (dev->transport == VIRTIO_TRANSPORT_MMIO && dev->legacy) {
        virtio__wr(dev, VIRTIO__MMIO_QUEUE_NUM, 4, size);
        virtio__wr(dev, VIRTIO__MMIO_QUEUE_ALIGN, 4, VIRTIO__LEGACY_ALIGN);
        virtio__wr(dev, VIRTIO__MMIO_QUEUE_PFN, 4, (uint32_t)(q->priv.ring_dev / VIRTIO__LEGACY_ALIGN));
    } else if (dev->transport == VIRTIO_TRANSPORT_MMIO) {
        uint64_t a[3];
        a[0] = q->priv.ring_dev;
        a[1] = q->priv.ring_dev + driver_off;
        a[2] = q->priv.ring_dev + device_off;
        virtio__wr(dev, VIRTIO__MMIO_QUEUE_NUM, 4, size);
        for (i = 0; i < 3; i++) {
            virtio__wr(dev, VIRTIO__MMIO_QUEUE_DESC + 0x10u * i, 4, (uint32_t)a[i]);
            virtio__wr(dev, VIRTIO__MMIO_QUEUE_DESC + 0x10u * i + 4, 4, (uint32_t)(a[i] >> 32));
        }
        virtio__wr(dev, VIRTIO__MMIO_QUEUE_READY, 4, 1);
    } else if (dev->legacy) {
        if (dev->priv.msix) virtio__wr(dev, VIRTIO__LPCI_MSIX_QUEUE, 2, VIRTIO__PCI_NO_VECTOR);
        virtio__wr(dev, VIRTIO__LPCI_QUEUE_PFN, 4, (uint32_t)(q->priv.ring_dev / VIRTIO__LEGACY_ALIGN));
    } else {
        uint64_t a[3];
        uint64_t noff = (uint64_t)virtio__rd(dev, VIRTIO__PCI_Q_NOFF, 2) * dev->priv.notify_mul;
        if (noff + 2 > dev->priv.notify_len) {   /* notify address outside its capability */
            virtio_queue_destroy(q);
            virtio_log(p, VIRTIO_LOG_ERROR, VIRTIO_MSG_PCI_CAPS, 0, noff);
            return VIRTIO_ERR_DEVICE;
        }
        q->priv.notify = dev->priv.notify + (uintptr_t)noff;
        a[0] = q->priv.ring_dev;
        a[1] = q->priv.ring_dev + driver_off;
        a[2] = q->priv.ring_dev + device_off;
        virtio__wr(dev, VIRTIO__PCI_Q_SIZE, 2, size);
        virtio__wr(dev, VIRTIO__PCI_Q_MSIX, 2, VIRTIO__PCI_NO_VECTOR);
        for (i = 0; i < 3; i++) {
            virtio__wr(dev, VIRTIO__PCI_Q_DESC + 8u * i, 4, (uint32_t)a[i]);
            virtio__wr(dev, VIRTIO__PCI_Q_DESC + 8u * i + 4, 4, (uint32_t)(a[i] >> 32));
        }
        virtio__wr(dev, VIRTIO__PCI_Q_ENABLE, 2, 1);
    }
    q->priv.magic = VIRTIO__Q_MAGIC;
    /* The library polls: ask for no used-buffer interrupts until a caller
       enables them. */
    virtio_queue_disable_cb(q);
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_queue_destroy(virtio_queue *q)
{
    const virtio_platform *p;
    if (!q || !q->dev || !q->priv.ring) return VIRTIO_ERR_STATE;
    p = q->dev->platform;
    /* Newest first: stack-like pools get everything back. */
    virtio_free(p, q->priv.state, q->priv.state_bytes, VIRTIO_MEM_PRIVATE);
    virtio_free(p, q->priv.ring, q->priv.ring_bytes, VIRTIO_MEM_DMA);
    VIRTIO__ZERO(q);
    return VIRTIO_OK;
}

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

VIRTIO_API virtio_result virtio_queue_add(virtio_queue *q, const virtio_sg *sg, uint32_t out, uint32_t in,
                                          void *cookie)
{
    uint32_t n = out + in;
    if (!virtio__q_ok(q) || q->priv.broken) return VIRTIO_ERR_STATE;
    if (!sg || n == 0 || n < out) return VIRTIO_ERR_INVALID_ARG;
    if (n > 1 && n <= q->indirect) {
        /* The queue's own table for this request: one per descriptor
           (split) or buffer id (packed), both the free head. */
        size_t off = (size_t)q->priv.free_head * q->indirect * VIRTIO__DESC_SIZE;
        unsigned char *t = q->priv.table + off;
        uint64_t in_len = 0;
        uint32_t k;
        if (q->num_free == 0) return VIRTIO_ERR_NO_SPACE;
        for (k = 0; k < n; k++) {
            if (sg[k].len == 0) return VIRTIO_ERR_INVALID_ARG;
            if (k >= out) in_len += sg[k].len;
            virtio_table_set(q, t, k, n, sg[k].addr, sg[k].len, k >= out);
        }
        return virtio__add_table(q, q->priv.table_dev + off, n, in_len, cookie);
    }
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
    if (!q->indirect) return VIRTIO_ERR_UNSUPPORTED;
    if (count == 0 || count > q->size) return VIRTIO_ERR_INVALID_ARG;
    if (q->num_free == 0) return VIRTIO_ERR_NO_SPACE;
    return virtio__add_table(q, table_dev, count, in_len, cookie);
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
        need = q->priv.added && virtio__packed_need_kick(q);
    else
#endif
        need = q->priv.avail_idx != q->priv.kick_idx && virtio__split_need_kick(q);
    if (need) virtio__notify(q);
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_queue_pop(virtio_queue *q, void **cookie, uint32_t *len)
{
    if (!virtio__q_ok(q) || q->priv.broken) return VIRTIO_ERR_STATE;
    if (q->priv.inflight == 0) return VIRTIO_EMPTY;
#ifndef VIRTIO_NO_PACKED
    if (q->packed) return virtio__packed_pop(q, cookie, len);
#endif
    return virtio__split_pop(q, cookie, len);
}

VIRTIO_API virtio_result virtio_queue_wait(virtio_queue *q, void **cookie, uint32_t *len)
{
    virtio_wait w;
    virtio_result r;
    uint32_t status;
    if (!virtio__q_ok(q)) return VIRTIO_ERR_STATE;
    r = virtio_queue_pop(q, cookie, len);
    if (r != VIRTIO_EMPTY) return r;
    virtio_wait_start(&w, q->dev->platform, 0);
    for (;;) {
        r = virtio_queue_pop(q, cookie, len);
        if (r != VIRTIO_EMPTY) return r;
        if (virtio_wait_step(&w) != VIRTIO_OK) {
            virtio_log(q->dev->platform, VIRTIO_LOG_WARN, VIRTIO_MSG_TIMEOUT, 0, q->index);
            r = virtio_device_status(q->dev, &status);
            return r == VIRTIO_ERR_NEEDS_RESET ? r : VIRTIO_ERR_TIMEOUT;
        }
        /* A device that wants a reset will never complete; look now and then. */
        if ((w.spins & 1023u) == 0 && virtio_device_status(q->dev, &status) == VIRTIO_ERR_NEEDS_RESET)
            return VIRTIO_ERR_NEEDS_RESET;
    }
}

VIRTIO_API virtio_result virtio_queue_disable_cb(virtio_queue *q)
{
    if (!virtio__q_ok(q)) return VIRTIO_ERR_STATE;
    q->priv.cb_enabled = 0;
#ifndef VIRTIO_NO_PACKED
    if (q->packed) {
        virtio__st16(q, q->priv.driver + 2, VIRTIO__EVENT_DISABLE);
        return VIRTIO_OK;
    }
#endif
    /* With EVENT_IDX the flags must stay 0 (virtio 1.2 2.7.7.1); an event
       index just behind us is only reached after 65536 completions. */
    if (q->priv.event_idx) virtio__st16(q, q->priv.driver + 4 + 2u * q->size, (uint16_t)(q->priv.used_idx - 1));
    else virtio__st16(q, q->priv.driver, VIRTIO__AVAIL_NO_INTERRUPT);
    return VIRTIO_OK;
}

VIRTIO_API virtio_result virtio_queue_enable_cb(virtio_queue *q, int *pending)
{
    int p;
    if (!pending) return VIRTIO_ERR_INVALID_ARG;
    if (!virtio__q_ok(q)) return VIRTIO_ERR_STATE;
    q->priv.cb_enabled = 1;
#ifndef VIRTIO_NO_PACKED
    if (q->packed) {
        if (q->priv.event_idx) {
            virtio__st16(q, q->priv.driver, (uint16_t)(q->priv.used_idx | (q->priv.used_wrap << 15)));
            virtio__wmb(q->dev->platform);
            virtio__st16(q, q->priv.driver + 2, VIRTIO__EVENT_DESC);
        } else {
            virtio__st16(q, q->priv.driver + 2, VIRTIO__EVENT_ENABLE);
        }
        virtio__mb(q->dev->platform);
        p = q->priv.inflight &&
            virtio__packed_is_used(q, virtio__ld16(q, virtio__desc(q, q->priv.used_idx) + VIRTIO__PD_FLAGS));
        *pending = p;
        return VIRTIO_OK;
    }
#endif
    if (q->priv.event_idx) virtio__st16(q, q->priv.driver + 4 + 2u * q->size, q->priv.used_idx);
    virtio__st16(q, q->priv.driver, 0);
    virtio__mb(q->dev->platform);
    p = q->priv.used_idx != q->priv.dev_used || virtio__ld16(q, q->priv.device + 2) != q->priv.used_idx;
    *pending = p;
    return VIRTIO_OK;
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
