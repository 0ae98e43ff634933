/* SPDX-License-Identifier: MIT OR Unlicense */
#ifndef MODEL_H
#define MODEL_H
/*
model.h - in-process software VirtIO device for host tests and fuzzers

A VirtIO device that lives in the test process. It hands the library a
virtio_platform whose register hooks (reg_read/reg_write, pci_read/
pci_write) route every access into the software device and whose DMA
hooks give out host memory that the device can only reach through a
registry of allocations and mappings. Everything the driver hands the
device (ring addresses, descriptor addresses and lengths, register
values, the order of the status handshake) is checked against the VirtIO
1.2 specification; a violation is a "driver bug": it is counted, printed
(unless quiet) and, like a strict device would, stops the queue and sets
DEVICE_NEEDS_RESET. Tests assert `bus->stats.bugs == 0`.

Written from the VirtIO 1.2 specification (transport-mmio, transport-pci,
split-ring, packed-ring, device-types/blk); shares no code with QEMU,
Linux or the library under test. Hosted C99 on a host of either byte
order (all guest memory is read and written byte by byte; a big-endian
guest is played with bus->knobs.guest_big_endian, on by default on a
big-endian host).

BUILD

    cc -std=c99 -I. -Itests/model -fsanitize=address,undefined -g \
       tests/model/model.c tests/model/model_blk.c your_test.c
    (plus the library implementation TU for tests that use the drivers;
    the model itself only needs the declarations from virtio.h)

QUICK START

    #include "model.h"

    model_bus *bus = model_bus_new();         // one address space + DMA registry
    model_options o;
    model_blk_options bo;
    model *m;
    virtio_device dev;

    model_options_init(&o, MODEL_PCI_MODERN); // or MODEL_MMIO, MODEL_MMIO_LEGACY,
                                              // MODEL_PCI_TRANSITIONAL, MODEL_PCI_LEGACY
    model_blk_options_init(&bo);              // 1 MiB RAM disk, typical features
    m = model_blk_new(bus, &o, &bo);

    // PCI: virtio_pci_probe(&dev, &bus->platform, model_pci_bdf(m))
    //      (or virtio_pci_find with bus->platform.pci_buses = 1)
    // MMIO: virtio_mmio_probe(&dev, &bus->platform, model_mmio_base(m))
    virtio_pci_probe(&dev, &bus->platform, model_pci_bdf(m));
    ... drive the library ...
    assert(bus->stats.bugs == 0);
    assert(memcmp(model_blk_disk(m, NULL) + 512, expected, 512) == 0);
    model_bus_free(bus);                      // frees every device too

WHAT COUNTS AS A DRIVER BUG

  DMA     an address in a descriptor, indirect table or ring register that
          is not inside one live allocation/mapping, points into
          VIRTIO_MEM_PRIVATE memory, or has the wrong direction (device-
          writable descriptor on memory mapped TO_DEVICE and vice versa);
          dma_free/dma_unmap that does not match, double frees; freeing or
          unmapping memory a live ring or a held chain still uses (also
          while a reset is still in progress, or never completes).
  status  bits cleared without reset, DRIVER before ACKNOWLEDGE, DRIVER_OK
          without FEATURES_OK (modern), status written while a reset is
          still showing, features written after FEATURES_OK, accepting
          bits not offered, modern driver without VERSION_1.
  queues  size 0, above the maximum, not a power of two (split),
          misaligned or overlapping areas, used.flags not 0 at enable,
          packed ring not zeroed, register writes to a live queue,
          queue_enable written with 0, notify before DRIVER_OK or for a
          disabled queue, notify at the wrong address/width/value.
  rings   descriptor index out of range, loops, chains longer than the
          queue, readable after writable, INDIRECT without the feature,
          INDIRECT with NEXT, nested indirect, bad table lengths, reusing a
          descriptor / buffer id the device still owns, avail idx more
          than the queue size ahead, avail.flags not 0 with EVENT_IDX (or
          not 0/1 without), reserved packed event flags.
  access  register width/alignment (virtio-mmio 32-bit only, common config
          natural widths, ISR 8-bit), reading write-only and writing
          read-only registers, PCI config writes to read-only registers,
          DMA work while PCI bus mastering is off, a BAR moved (sized or
          reassigned) while the command register decodes it, PCI config
          reads at 0x40 or above outside every capability (a field read
          past its capability's cap_len, e.g. a notify multiplier or the
          cfg_type of a capability shorter than 4 bytes; id, next and
          cap_len are always readable).
  windows ALWAYS a bug, even after the device lied (like the DMA checks):
          a register access at an address no BAR and no MMIO window
          decodes, or inside a BAR while the command register has its
          decoding off. The library must only touch windows it validated
          (a capability inside its BAR), whatever the device says.
  blk     header < 16 bytes, no status byte, data not a multiple of 512,
          readable data on IN / writable data on OUT, GET_ID buffer not 20
          bytes, FLUSH with sector or data, DISCARD/WRITE_ZEROES not
          negotiated or beyond max_*_seg / max_*_sectors, SEG_MAX /
          SIZE_MAX exceeded, legacy framing without ANY_LAYOUT.
  Not bugs (device answers, the test checks): out-of-range sectors and
  writes to a read-only disk (IOERR), unknown request types (UNSUPP),
  spurious / unneeded notifications (counted in model_qstats).

OBJECTS

  model_bus   One "machine": the platform struct handed to the library
              (bus->platform; its `user` is the bus), the DMA registry, the
              register address decoder and the fake clock. Several devices
              may sit on one bus (distinct addresses / BDFs).
              bus->platform comes filled: every register, PCI config and
              DMA hook, no-op barriers, pci_buses 1, a fake now_us that
              advances clock_step_us (1 ms) per call with timeout_ms 1000
              (a wait that never ends times out after ~16000 polls), an
              idle hook (runs run_on_idle) and a log hook counting
              messages in bus->stats.log[id]. Tests may change any field.
              bus->knobs: DMA behaviour, failure injection, bug handling.
              bus->stats: bug count, allocations, log messages by id.
  model       One device: a transport (chosen in model_options) plus a
              backend (model_backend: device type, features, config space,
              queues, request processing). m->knobs are behaviour switches
              that may be changed at any time; m->stats are counters;
              model_queue_stats() has per-queue counters.

ADDRESSES

  MMIO         register window of 0x200 bytes at o.mmio_base
               (default 0x10001000); model_mmio_base(m).
  PCI          function o.bdf (default 0x0008 = 00:01.0); model_pci_bdf(m).
               The BARs are pre-assigned (firmware style) at o.bar_mem
               (virtio structures: common 0x0000, ISR 0x1000, device config
               0x2000, notify 0x3000), o.bar_io (legacy I/O BAR 0) and
               o.bar_msix (MSI-X table and PBA, BAR 1) but decoding starts
               disabled unless o.pci_enabled: the driver must set the
               command register (an access while decoding is off is a bug,
               so is DMA while bus mastering is off). BARs size like real
               ones: write all-ones, read back the size mask (I/O: bit 0
               set; memory: type bits, 64-bit BARs as two registers, the
               upper one all-ones after sizing), write the address back;
               unimplemented BARs read 0. A BAR decodes where its register
               says, so a driver that sizes and forgets to restore loses
               the device. Do it with decoding off (a BAR moved while the
               command register decodes it is a bug).
  PCI LAYOUT   The virtio capabilities of modern and transitional PCI
               devices are configurable at any time with
               model_pci_layout_get/_set (see model_pci_layout): each
               capability's position and cap_len in config space, its bar,
               offset and length fields, the size of the structures BAR,
               notify_off_multiplier and every queue's queue_notify_off.
               The device decodes each structure where its capability says,
               for `length` bytes, clipped to its BAR: a capability at
               BAR + 0xff8 with length 56 in a 4 KiB BAR decodes 8 bytes,
               and a driver that believes the other 48 reaches an address
               nothing decodes (always a bug, see above). Accesses inside a
               structure's length but beyond the registers it has read 0 /
               are ignored. Layouts the library cannot be expected to see
               through taint the device (see HOSTILE DEVICE): a capability
               whose bar names another BAR this device implements (legacy
               I/O BAR 0, MSI-X BAR 1), two structures overlapping in the
               BAR, capabilities overlapping in config space.
  DMA          bus->knobs.dma_mode: MODEL_DMA_WINDOW (default) gives every
               allocation and mapping its own device address range in a
               window at dma_base (default 0x740000000, so above 4 GiB but
               within the 32-bit page-frame limit of the legacy
               transports) with an unmapped guard page between ranges;
               device address != host pointer, so a driver that hands the
               device a CPU pointer is caught. MODEL_DMA_IDENTITY uses the
               host pointer value as the device address (not usable with
               legacy transports: host pointers exceed 16 TiB).
               model_dma_host()/model_dma_addr() translate for tests.

PROCESSING

  MODEL_IMMEDIATE  every notification makes the device take all available
                   chains of that queue, hand each to the backend and
                   publish the completions (then decide on an interrupt).
  MODEL_DEFERRED   notifications are only counted; model_run(m, n) takes up
                   to n chains (0 = all) and completes them in the order
                   m->knobs.order says (FIFO, REVERSE, SHUFFLE with
                   m->knobs.seed). m->knobs.run_on_idle = n runs n chains
                   from the platform's idle hook, so blocking driver calls
                   complete while they wait.
  A backend may also keep a chain (MODEL_HOLD) and complete it later with
  model_chain_complete(), and queues flagged MODEL_QF_PULL are never
  consumed by the model: the backend takes buffers with model_pop() when it
  has something to deliver (received frames, input events).

ADDING A BACKEND (model_net.c, model_input.c, model_gpu.c ...)

  Write model_<dev>.c (Makefile.inc picks it up): a constructor that
  allocates its state, fills a model_backend (device_id, features,
  config_size, num_queues, queue_max[], queue_flags[], callbacks, state)
  and calls model_new, then sets each multi-byte config field with
  model_config_set (single bytes: model_config(m)[off]; later updates
  through model_config(m) with model_put16/32/64). Request queues (net
  TX, gpu control): process() reads with model_chain_read, answers with
  model_chain_write, sets c->used_len and returns MODEL_DONE; multi-byte
  payload fields go through model_ld16/32/64 and model_st16/32 (the
  guest's order on a legacy interface, see BIG-ENDIAN GUEST). Queues the
  device fills on its own (net RX, input events): flag them
  MODEL_QF_PULL; when the test injects a frame/event, take a buffer with
  model_pop() (NULL: the driver posted none; keep the data queued and
  retry from the notify() callback), write it, model_chain_complete().
  Drop held chains in reset(). Report protocol violations with
  model_bug(). Put the backend's declarations in a section of this header
  (as the block backend does) or in its own model_<dev>.h (as
  model_input.h and model_gpu.h do).

A DEVICE THAT IS GONE

  m->knobs.gone = 1 (or gone_after = N: after N more register and PCI
  config accesses to this device) turns it into a removed device / PCI
  master abort: every register read in its windows and every PCI config
  read returns all-ones, writes are dropped, the device does no DMA and
  completes nothing. Its windows still count as decoded (the library
  validated them), so the accesses are not bugs; m->stats.reg_reads/
  reg_writes/pci_reads and the fake clock show how fast the library gives
  up. Set gone back to 0 and the device is back as it was.

SLOW REGISTER CHANNEL

  bus->knobs.reg_cost_us advances the fake clock on every register and
  PCI config access (a harness behind a slow link, a trapping hypervisor);
  with clock_step_us small, a wait's register traffic per fake millisecond
  (m->stats.status_reads, reg_reads / model_bus_clock()) shows whether it
  is paced by time or by polls.

OTHER VMMs' QUIRKS (kvmtool)

  m->knobs.ignore_small_queue_size: a queue size written smaller than the
  device's maximum is ignored and the queue keeps its maximum (modern PCI
  reads the maximum back from queue_size; MMIO cannot be read back, and
  the device uses the maximum anyway).
  m->knobs.used_len = MODEL_USED_LEN_MOVED: the used length published is
  the count the backend reported with model_chain_moved() (bytes moved to
  or from the device's storage; a block write of N bytes reports N), for
  chains where it did, else the correct length. MODEL_USED_LEN_CHAIN: the
  whole chain, readable plus writable bytes, for every chain (a generic
  over-report that needs no backend support). Neither taints the device:
  a driver must survive them (clamp, count, keep the queue working).

BIG-ENDIAN GUEST

  bus->knobs.guest_big_endian = 1 is the device side of a big-endian guest,
  as QEMU presents it. Modern interfaces stay little-endian. On a legacy
  interface (virtio-mmio v1, legacy virtio-pci, a transitional device
  driven through its I/O BAR) the split rings and indirect tables, and the
  blk, net and console payloads (model_ld* / model_st*), are big-endian,
  and each configuration field declared with model_config_set is kept in
  big-endian byte order: virtio-mmio v1 shows those bytes through its
  little-endian register (a field read whole comes out byte-swapped, the
  driver swaps it back), legacy virtio-pci shows the value (QEMU swaps it
  for a big-endian guest). gpu and input (1.0-only device types) keep
  their configuration and messages little-endian. The default follows the
  library's build: 1 with -DVIRTIO_BIG_ENDIAN=1 (build/unit-be/), else 0.
  model_config(m) stays little-endian for backends and tests either way.

HOSTILE DEVICE

  m->knobs.hostile is called just before the device returns a register /
  PCI config / device config value, publishes a backend's reply, writes a
  used element, a used index, a packed used descriptor or an event-
  suppression field; it may rewrite the value, id, length, position,
  flags or reply bytes, or skip the write. Once it
  changes anything the device is "tainted" for good (so is a device given
  an unresolvable PCI layout, see PCI LAYOUT; model_tainted()): protocol
  checks (status handshake, features, queue sizes, notifications,
  descriptor ownership, request format) only count stats.relaxed, because
  the driver may be acting on the lie; the DMA checks stay strict (every
  address in a descriptor or ring register must lie in memory the driver
  allocated or mapped for that direction, never private memory; DMA
  registry misuse) and so do the address checks (every register access
  inside a decoded window). Offered features (features_override) and
  queue maxima (model_set_queue_max) can also be forced; they do not
  taint. The BAR registers (PCI config 0x10-0x27) are not passed to the
  hook: they are the device's address decoder, not a value it can lie
  about (vary the layout instead).

license: end of file
*/

#include <stddef.h>
#include <stdint.h>

#include "virtio.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Constants                                                           */
/* ------------------------------------------------------------------ */

/* What the device reports as used length (m->knobs.used_len). */
#define MODEL_USED_LEN_EXACT 0    /* the bytes it wrote (virtio 1.2 2.7.8) */
#define MODEL_USED_LEN_MOVED 1    /* kvmtool: bytes moved to / from storage (model_chain_moved) */
#define MODEL_USED_LEN_CHAIN 2    /* every byte of the chain, readable and writable */

#define MODEL_MAX_QUEUES 64
#define MODEL_MAX_QUEUE_SIZE 32768u
#define MODEL_MAX_DEVICES 32
#define MODEL_FOREVER 0xffffffffu      /* reset_delay: reset never completes */

/* Transports (model_options.transport). */
#define MODEL_MMIO 1              /* virtio-mmio version 2 */
#define MODEL_MMIO_LEGACY 2       /* virtio-mmio version 1 (GuestPageSize, QueuePFN) */
#define MODEL_PCI_MODERN 3        /* virtio-pci, device ID 0x1040 + type, capabilities only */
#define MODEL_PCI_TRANSITIONAL 4  /* ID 0x1000..0x103f: legacy I/O BAR 0 and modern capabilities */
#define MODEL_PCI_LEGACY 5        /* ID 0x1000..0x103f: legacy I/O BAR 0 only */

/* Processing modes (model_options.mode). */
#define MODEL_IMMEDIATE 0
#define MODEL_DEFERRED 1

/* Completion order of a batch (m->knobs.order). */
#define MODEL_ORDER_FIFO 0
#define MODEL_ORDER_REVERSE 1
#define MODEL_ORDER_SHUFFLE 2

/* What the device asks of driver notifications (m->knobs.notify). */
#define MODEL_NOTIFY_ALWAYS 0     /* used.flags 0 / avail_event = next index / packed ENABLE */
#define MODEL_NOTIFY_NEVER 1      /* NO_NOTIFY / avail_event behind / packed DISABLE */
#define MODEL_NOTIFY_EVERY 2      /* EVENT_IDX only: notify on the notify_every-th new buffer */
#define MODEL_NOTIFY_STALE 3      /* packed EVENT_IDX: the event where a pass began, not moved by it (QEMU 7.2) */

/* DMA modes (bus->knobs.dma_mode). */
#define MODEL_DMA_WINDOW 0
#define MODEL_DMA_IDENTITY 1

/* Results of model_backend.process. */
#define MODEL_DONE 0              /* complete now with c->used_len */
#define MODEL_HOLD 1              /* backend keeps c; model_chain_complete() later */

/* model_backend.queue_flags[] */
#define MODEL_QF_PULL 1u          /* device never consumes by itself; backend calls model_pop() */

/* Generic feature bits (virtio 1.2 section 6). */
#define MODEL_F_ANY_LAYOUT (1ull << 27)
#define MODEL_F_INDIRECT_DESC (1ull << 28)
#define MODEL_F_EVENT_IDX (1ull << 29)
#define MODEL_F_VERSION_1 (1ull << 32)
#define MODEL_F_ACCESS_PLATFORM (1ull << 33)
#define MODEL_F_RING_PACKED (1ull << 34)

/* Device status bits (virtio 1.2 2.1). */
#define MODEL_S_ACKNOWLEDGE 0x01u
#define MODEL_S_DRIVER 0x02u
#define MODEL_S_DRIVER_OK 0x04u
#define MODEL_S_FEATURES_OK 0x08u
#define MODEL_S_NEEDS_RESET 0x40u
#define MODEL_S_FAILED 0x80u

/* ------------------------------------------------------------------ */
/* Bus                                                                 */
/* ------------------------------------------------------------------ */

typedef struct model_bus model_bus;
typedef struct model model;

/* Behaviour of the bus; may be changed at any time. Defaults in brackets. */
typedef struct model_bus_knobs {
    uint32_t dma_mode;          /* MODEL_DMA_WINDOW / MODEL_DMA_IDENTITY [WINDOW] */
    uint64_t dma_base;          /* window mode: first device address [0x740000000] */
    uint32_t dma_split;         /* dma_map maps at most up to the next 4 KiB boundary [0] */
    uint32_t dma_bounce;        /* dma_map copies through a bounce buffer [0] */
    uint32_t alloc_fail_after;  /* N > 0: the N-th dma_alloc from now returns NULL [0] */
    uint32_t map_fail_after;    /* N > 0: the N-th dma_map from now fails [0] */
    uint32_t abort_on_bug;      /* abort() at the first driver bug [0] */
    uint32_t quiet;             /* do not print driver bugs to stderr [0] */
    uint32_t log_print;         /* print the library's log messages to stderr [0] */
    uint32_t clock_step_us;     /* now_us advances this much per call [1000] */
    uint32_t reg_cost_us;       /* every register / PCI config access advances the
                                   fake clock this much: a slow register channel [0] */
    uint32_t guest_big_endian;  /* the driver runs on a big-endian CPU: legacy interfaces
                                   use its order (BIG-ENDIAN GUEST); set before devices
                                   are driven [MODEL_GUEST_BIG_ENDIAN] */
    /* Called for every driver bug (after counting), e.g. to longjmp. */
    void (*on_bug)(void *user, model *m, const char *msg);
    void *on_bug_user;
} model_bus_knobs;

typedef struct model_bus_stats {
    uint64_t bugs;              /* driver bugs found (all devices) */
    uint64_t relaxed;           /* protocol violations not counted: a tainted device lied first */
    uint64_t allocs, frees, live_allocs;
    uint64_t unordered_frees;   /* frees of an allocation older than a live one (a stack-like pool
                                   would not get it back; the drivers free newest first) */
    uint64_t maps, unmaps, live_maps;
    uint64_t unmapped_reg_accesses;  /* register accesses nothing decodes (each a bug) */
    uint64_t log[64];           /* library log messages by id (VIRTIO_MSG_*) */
    uint64_t log_total;
} model_bus_stats;

struct model_bus {
    virtio_platform platform;   /* hand &bus->platform to the library */
    model_bus_knobs knobs;
    model_bus_stats stats;
    struct model_bus_priv *priv;
};

/* Default of bus->knobs.guest_big_endian: 1 when the library under test
   speaks as a big-endian CPU: VIRTIO_BIG_ENDIAN=1 (the unit tests'
   big-endian build on a little-endian host), or a big-endian host (the
   unit-mips build), else 0. */
#ifndef MODEL_GUEST_BIG_ENDIAN
#if defined(VIRTIO_BIG_ENDIAN)
#if VIRTIO_BIG_ENDIAN
#define MODEL_GUEST_BIG_ENDIAN 1
#else
#define MODEL_GUEST_BIG_ENDIAN 0
#endif
#elif defined(__BYTE_ORDER__) && defined(__ORDER_BIG_ENDIAN__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define MODEL_GUEST_BIG_ENDIAN 1
#else
#define MODEL_GUEST_BIG_ENDIAN 0
#endif
#endif

/* A new empty bus with default knobs; NULL if out of memory. */
model_bus *model_bus_new(void);
/* Free the bus, every device on it and every allocation still live. */
void model_bus_free(model_bus *b);
/* Add an empty virtio-mmio slot (magic, version 2, device ID 0) so that
   discovery scans over several slots find nothing there. 0 on success. */
int model_bus_add_mmio_empty(model_bus *b, uintptr_t base);
/* Text of the most recent driver bug ("" if none). */
const char *model_bus_last_bug(const model_bus *b);
/* The fake clock in microseconds, without advancing it (now_us does). */
uint64_t model_bus_clock(const model_bus *b);

/* Device-side DMA helpers (tests and backends). model_dma_host: the host
   pointer behind [addr, addr+len) of one live allocation or mapping, NULL
   if there is none. model_dma_addr: the device address of a host pointer
   inside a live allocation or mapping, 0 if none. */
void *model_dma_host(model_bus *b, uint64_t addr, size_t len);
/* Let the device use ptr[0..len) at its own address, as identity DMA on
   bare metal lets it use all of RAM (a test's static buffers). Also in
   MODEL_DMA_WINDOW mode, for a platform without a dma_map hook whose
   allocations still come from the window: what legacy transports need,
   whose rings must lie below 16 TiB (host pointers do not). 0, or -1
   (the range meets the first TiB of the window, or no memory). */
int model_dma_ram(model_bus *b, void *ptr, size_t len);
uint64_t model_dma_addr(model_bus *b, const void *host);

/* ------------------------------------------------------------------ */
/* Chains (what a backend sees)                                        */
/* ------------------------------------------------------------------ */

typedef struct model_seg {
    uint64_t addr;              /* device address */
    uint32_t len;
    uint32_t write;             /* 1: device-writable */
} model_seg;

/* One available chain, taken from the ring. Valid from process() (or
   model_pop) until it is completed. */
typedef struct model_chain {
    model *m;
    uint32_t queue;
    uint32_t id;                /* split: head descriptor index; packed: buffer id */
    uint32_t nread, nwrite;     /* segments: seg[0..nread) readable, then nwrite writable */
    model_seg *seg;
    uint64_t read_len, write_len;
    uint32_t used_len;          /* set by process() before MODEL_DONE (0 on entry) */
    void *user;                 /* the backend's, while it holds the chain */
    struct {
        uint32_t ndesc;         /* ring slots the chain occupies */
        uint32_t state;
        uint32_t segcap;
        uint16_t *didx;         /* split: main-chain descriptor indices */
        uint32_t didxcap;
        uint32_t moved, has_moved;   /* model_chain_moved */
    } priv;
} model_chain;

/* Gather readable bytes [off, off+len) of the chain into dst / scatter
   src into writable bytes [off, off+len). Return the bytes copied (less
   at the end of the chain, or when a segment is no longer mapped, which
   is reported as a driver bug). */
size_t model_chain_read(model_chain *c, uint64_t off, void *dst, size_t len);
size_t model_chain_write(model_chain *c, uint64_t off, const void *src, size_t len);
/* Fill writable bytes [off, off+len) with byte v. */
size_t model_chain_fill(model_chain *c, uint64_t off, int v, size_t len);
/* Publish a held chain (MODEL_HOLD or model_pop) as used with used_len. */
void model_chain_complete(model_chain *c, uint32_t used_len);
/* Backends: the request moved `bytes` to or from the device's storage
   (a block read or write of N bytes: N). Published as the used length
   instead of used_len when m->knobs.used_len is MODEL_USED_LEN_MOVED
   (kvmtool). Call before the chain completes. */
void model_chain_moved(model_chain *c, uint32_t bytes);
/* MODEL_QF_PULL queues: take the next available chain (NULL: none). The
   backend must complete it with model_chain_complete. */
model_chain *model_pop(model *m, uint32_t queue);

/* ------------------------------------------------------------------ */
/* Backends                                                            */
/* ------------------------------------------------------------------ */

/* What makes a device a block / net / input / gpu device. Filled by a
   backend constructor (model_blk_new) and copied by model_new. Only
   device_id, num_queues, queue_max and process are mandatory. */
typedef struct model_backend {
    const char *name;
    uint32_t device_id;                       /* VirtIO device type */
    uint64_t features;                        /* offered: device bits and ring bits (incl. VERSION_1) */
    uint32_t config_size;                     /* bytes of device configuration space */
    uint32_t num_queues;
    uint32_t queue_max[MODEL_MAX_QUEUES];     /* QueueNumMax per queue (0 = absent) */
    uint32_t queue_flags[MODEL_MAX_QUEUES];   /* MODEL_QF_* */
    uint32_t pci_class;                       /* 24-bit class code, 0 = 0xff0000 */
    void *state;                              /* passed to every callback */
    /* Process one chain: read the request with model_chain_read, write
       the reply with model_chain_write, set c->used_len, return
       MODEL_DONE; or keep c and return MODEL_HOLD. */
    int (*process)(model *m, void *state, model_chain *c);
    /* A MODEL_QF_PULL queue was notified (new buffers may be there). */
    void (*notify)(model *m, void *state, uint32_t queue);
    /* FEATURES_OK (or legacy DRIVER_OK) with these features; return 0 to
       refuse. NULL: accept. */
    int (*features_ok)(model *m, void *state, uint64_t features);
    void (*driver_ok)(model *m, void *state);
    /* Device reset: drop every held chain pointer. */
    void (*reset)(model *m, void *state);
    /* The driver wrote the device config; return 0 if that field is not
       writable (reported as a driver bug, the write is dropped). NULL:
       config is read-only. The model has already stored nothing; the
       backend updates model_config(m) itself. */
    int (*config_write)(model *m, void *state, uint32_t off, unsigned width, uint32_t value);
    void (*destroy)(void *state);
} model_backend;

/* ------------------------------------------------------------------ */
/* Devices                                                             */
/* ------------------------------------------------------------------ */

/* Creation-time layout. model_options_init fills the defaults. */
typedef struct model_options {
    uint32_t transport;         /* MODEL_MMIO ... MODEL_PCI_LEGACY */
    uint32_t mode;              /* MODEL_IMMEDIATE / MODEL_DEFERRED [IMMEDIATE] */
    uintptr_t mmio_base;        /* [0x10001000] */
    uint32_t bdf;               /* bus << 8 | dev << 3 | fn [0x0008] */
    uint64_t bar_mem;           /* modern structures BAR address [0xfe000000; 64-bit: 0x8000000000] */
    uint32_t bar_mem_index;     /* which BAR holds them [4] */
    uint32_t bar64;             /* 64-bit memory BAR (uses bar_mem_index + 1 too) [0] */
    uint32_t bar_io;            /* legacy I/O BAR 0 [0xc000] */
    uint32_t bar_msix;          /* MSI-X table/PBA BAR 1, 32-bit [0xfe100000] */
    uint32_t msix_vectors;      /* MSI-X table size, 0 = no MSI-X capability [0] */
    uint32_t notify_mul;        /* notify_off_multiplier, 0 allowed [4] */
    uint32_t pci_device_id;     /* 0 = standard ID for the transport and type */
    uint32_t pci_enabled;       /* command register starts with I/O, memory, bus master on [0] */
    uint32_t multifunction;     /* header type bit 7 [0] */
} model_options;

void model_options_init(model_options *o, uint32_t transport);

/* Behaviour switches; change any time. Defaults in brackets. */
typedef struct model_hostile model_hostile;
typedef struct model_knobs {
    uint32_t reset_delay;       /* status reads that still show the old value after
                                   writing 0; MODEL_FOREVER: never completes (lowering
                                   it shortens a reset in progress). Until it completes
                                   the device takes no new work but still owns its
                                   rings and held buffers: freeing them is a bug [0] */
    uint32_t needs_reset_on_bug;/* driver bug in a queue: set NEEDS_RESET (modern) [1] */
    uint32_t refuse_features_ok;/* clear FEATURES_OK whatever the driver asks [0] */
    uint32_t require_access_platform; /* refuse FEATURES_OK without ACCESS_PLATFORM if offered [0] */
    uint32_t features_override_on;    /* offer features_override instead of the backend's [0] */
    uint64_t features_override;
    uint32_t gen_bump_every;    /* config generation += 1 on every N-th config read [0] */
    uint32_t gen_bump_max;      /* stop after this many bumps, 0 = unlimited [0] */
    uint32_t order;             /* MODEL_ORDER_* for each batch of completions [FIFO] */
    uint32_t seed;              /* shuffle seed [1] */
    uint32_t notify;            /* MODEL_NOTIFY_* [ALWAYS] */
    uint32_t notify_every;      /* MODEL_NOTIFY_EVERY: n [1] */
    uint32_t run_on_idle;       /* deferred mode: chains run per platform idle call [0] */
    uint32_t strict_legacy_framing; /* blk on legacy without ANY_LAYOUT: 16-byte header
                                       and 1-byte status descriptors [1] */
    uint32_t gone;              /* removed device: all-ones reads, no DMA (A DEVICE THAT IS GONE) [0] */
    uint32_t gone_after;        /* N > 0: the N-th register / PCI config access from now
                                   is the first that finds the device gone [0] */
    uint32_t ignore_small_queue_size; /* kvmtool: a queue size below the maximum is ignored [0] */
    uint32_t used_len;          /* MODEL_USED_LEN_* [EXACT] */
    /* Hostile hook: see model_hostile. */
    void (*hostile)(void *user, model *m, model_hostile *h);
    void *hostile_user;
    /* Called for every interrupt the device sends (queue index, or -1 for
       a configuration change). */
    void (*on_interrupt)(void *user, model *m, int queue);
    void *on_interrupt_user;
} model_knobs;

typedef struct model_stats {
    uint64_t reg_reads, reg_writes, pci_reads, pci_writes;
    uint64_t config_reads, config_writes, generation_bumps;
    uint64_t resets, features_ok, features_refused, driver_ok;
    uint64_t irqs;              /* INTx/ISR interrupts (queue and config) */
    uint64_t msix;              /* MSI-X messages sent */
    uint64_t irq_lost;          /* MSI-X enabled but no vector assigned */
    uint64_t config_irqs;
    uint64_t chains;            /* chains completed, all queues */
    uint64_t bugs;              /* driver bugs on this device */
    uint64_t relaxed;           /* protocol violations after hostile values (not in bugs) */
    uint64_t status_reads;      /* device status register reads (every transport) */
    uint64_t cap_overreads;     /* PCI config reads at >= 0x40 outside every capability */
    uint64_t queue_sizes_ignored; /* queue size writes ignore_small_queue_size dropped */
    uint64_t gone_accesses;     /* register / PCI config accesses answered with all-ones */
} model_stats;

typedef struct model_qstats {
    uint64_t notifies;          /* available buffer notifications received */
    uint64_t notifies_unwanted; /* ... while the device had suppressed them */
    uint64_t notifies_empty;    /* ... with nothing new since the previous one */
    uint64_t chains;            /* chains completed */
    uint64_t interrupts;        /* used buffer notifications sent */
    uint64_t interrupts_suppressed; /* batches the driver's suppression silenced */
    uint64_t max_pending;       /* most chains seen available at once */
    uint64_t max_held;          /* most chains the device held at once */
    uint64_t indirect;          /* chains using an indirect table */
    uint64_t zero_len;          /* zero-length descriptors (legal, counted) */
} model_qstats;

struct model {
    model_bus *bus;
    model_knobs knobs;
    model_stats stats;
    struct model_priv *priv;
};

/* Create a device on bus b with transport o and backend be (copied).
   NULL on bad options, address clash with another device, or no memory
   (the reason is in model_bus_last_bug). On failure be->destroy is called. */
model *model_new(model_bus *b, const model_options *o, const model_backend *be);
/* Remove the device from its bus (backend destroy is called). */
void model_free(model *m);

uintptr_t model_mmio_base(const model *m);
uint32_t model_pci_bdf(const model *m);
/* PCI: firmware's addresses back in every BAR. */
void model_pci_reset_bars(model *m);
uint32_t model_transport(const model *m);      /* MODEL_MMIO ... MODEL_PCI_LEGACY */

/* Describe m to the library as a driver would: virtio_mmio_probe or
   virtio_pci_probe (virtio_pci_probe_legacy with legacy_probe: a
   transitional device driven through its legacy interface). */
static inline virtio_result model_probe(model *m, virtio_device *dev, int legacy_probe)
{
    uint32_t t = model_transport(m);
    if (t == MODEL_MMIO || t == MODEL_MMIO_LEGACY) return virtio_mmio_probe(dev, &m->bus->platform, model_mmio_base(m));
    if (legacy_probe) return virtio_pci_probe_legacy(dev, &m->bus->platform, model_pci_bdf(m));
    return virtio_pci_probe(dev, &m->bus->platform, model_pci_bdf(m));
}

/* Process up to max chains (0 = all available) of every queue, or of one
   queue, and publish them in knobs.order. Returns the chains completed. */
uint32_t model_run(model *m, uint32_t max);
uint32_t model_run_queue(model *m, uint32_t queue, uint32_t max);

/* Device configuration bytes (little-endian fields), writable by the
   backend; after a runtime change call model_config_changed (bumps the
   generation, sends a configuration interrupt). */
uint8_t *model_config(model *m);
/* Store a configuration field of width 1, 2, 4 or 8 bytes at off
   (little-endian in model_config(m), like model_put*) and remember it as
   one field: a legacy interface in the big-endian guest view shows its
   bytes in the guest's order. Bytes never set this way look the same on
   every interface (virtio-gpu and virtio-input, 1.0-only device types,
   keep their configuration little-endian). */
void model_config_set(model *m, uint32_t off, unsigned width, uint64_t v);
/* Declare `count` fields of `width` bytes at off (1: bytes again) for the
   access check only (the bytes keep their order on every interface):
   every config access must be one of a field's own (8-bit fields 8-bit,
   16-bit fields aligned 16-bit, 32- and 64-bit fields aligned 32-bit;
   virtio 1.2 4.1.3.1), or the model reports a driver bug. Fields
   declared with model_config_set are checked too; other bytes are 8-bit
   fields. For the 1.0-only device types (gpu, input). */
void model_config_field(model *m, uint32_t off, unsigned width, uint32_t count);
uint32_t model_config_size(const model *m);
void model_config_changed(model *m);

/* Ask for a reset: DEVICE_NEEDS_RESET plus a config interrupt (modern
   interfaces; ignored on legacy ones). */
void model_set_needs_reset(model *m);
/* Force QueueNumMax of queue q (0, odd, > 1024 ... anything up to 32768). */
void model_set_queue_max(model *m, uint32_t q, uint32_t max);
/* Send a used-buffer interrupt for queue q now (spurious interrupts). */
void model_interrupt(model *m, uint32_t q);

uint32_t model_status(const model *m);          /* device status byte */
uint64_t model_features(const model *m);        /* negotiated (after FEATURES_OK / legacy DRIVER_OK) */
int model_is_legacy(const model *m);            /* the driver uses the legacy interface */
int model_reset_pending(const model *m);        /* 0 written to status, reset not complete yet */
int model_queue_ready(const model *m, uint32_t q);
uint32_t model_queue_size(const model *m, uint32_t q);
model_qstats *model_queue_stats(model *m, uint32_t q);   /* NULL if no such queue */
uint32_t model_held(const model *m, uint32_t q);         /* chains the device holds */

/* The backend as copied by model_new (backends find their state here). */
const model_backend *model_backend_of(const model *m);
/* 1 once the device lied (hostile hook) or got an unresolvable PCI layout:
   protocol violations are only counted in stats.relaxed from then on. */
int model_tainted(const model *m);

/* ------------------------------------------------------------------ */
/* PCI layout (modern and transitional PCI; see PCI LAYOUT above)      */
/* ------------------------------------------------------------------ */

/* Capability cfg_types (virtio 1.2 4.1.4), the index into layout.cap[]. */
#define MODEL_CAP_COMMON 1
#define MODEL_CAP_NOTIFY 2
#define MODEL_CAP_ISR 3
#define MODEL_CAP_DEVICE 4

/* One virtio vendor capability as the device shows it. bar, offset and
   length are the capability's fields, and the device decodes the
   structure there (clipped to the BAR; nowhere if bar is not the
   structures BAR o.bar_mem_index). Nothing is checked: offsets and
   lengths may run past the BAR or wrap 32 bits. */
typedef struct model_pci_cap {
    uint32_t omit;              /* 1: no such capability */
    uint32_t at;                /* position in config space: 4-aligned, 0x40..0xfc; 0 = after
                                   the previous automatically placed one */
    uint32_t cap_len;           /* the cap_len byte; 0 = 16 (notify: 20). Bytes are written
                                   for the standard size whatever it says, up to 0xff */
    uint32_t bar;               /* the bar byte */
    uint32_t offset;
    uint32_t length;
} model_pci_cap;

typedef struct model_pci_layout {
    model_pci_cap cap[5];       /* [MODEL_CAP_COMMON .. MODEL_CAP_DEVICE]; [0] unused */
    uint64_t bar_size;          /* the structures BAR: a power of two, 16 .. 2^31 */
    uint32_t notify_mul;        /* notify_off_multiplier */
    uint16_t queue_notify_off[MODEL_MAX_QUEUES];
} model_pci_layout;

/* The current layout (after model_new: the default one: common at 0 for
   64 bytes, ISR at 0x1000 for 1, device config at 0x2000 for its size,
   notify at 0x3000 for (num_queues - 1) * notify_mul + 2, queue i at
   notify offset i, a 16 KiB or larger BAR). -1 if m has no modern PCI
   interface. */
int model_pci_layout_get(const model *m, model_pci_layout *l);
/* Replace the layout: rewrites the capabilities in config space and the
   structures BAR's size (its address is o.bar_mem aligned to the size).
   Call it while the driver is not using the device (before a probe).
   -1 (nothing changed) if m has no modern PCI interface, bar_size is not a
   power of two in range, a position is bad or the BAR would clash with
   another device. May taint the device (see PCI LAYOUT). */
int model_pci_layout_set(model *m, const model_pci_layout *l);
/* Back to the layout model_new gave the device. */
void model_pci_layout_reset(model *m);

/* Report a driver bug from a backend (printf format). Once the hostile
   hook has changed a value the report is only counted in stats.relaxed:
   the driver may be acting on the lie. */
void model_bug(model *m, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Device-side access to driver memory with the registry's checks (what
   names the access in bug reports). Return 0 on success, -1 (bug
   reported) if the range is not device-accessible that way. */
int model_dma_read(model *m, uint64_t addr, void *dst, size_t len, const char *what);
int model_dma_write(model *m, uint64_t addr, const void *src, size_t len, const char *what);

/* Little-endian field helpers for config spaces and wire structs. */
static inline void model_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void model_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void model_put64(uint8_t *p, uint64_t v) { model_put32(p, (uint32_t)v); model_put32(p + 4, (uint32_t)(v >> 32)); }
static inline uint16_t model_get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t model_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t model_get64(const uint8_t *p) { return model_get32(p) | ((uint64_t)model_get32(p + 4) << 32); }
static inline uint16_t model_bswap16(uint16_t v) { return (uint16_t)(v >> 8 | v << 8); }
static inline uint32_t model_bswap32(uint32_t v)
{
    return v >> 24 | (v >> 8 & 0xff00u) | (v << 8 & 0xff0000u) | v << 24;
}
static inline uint64_t model_bswap64(uint64_t v)
{
    return (uint64_t)model_bswap32((uint32_t)v) << 32 | model_bswap32((uint32_t)(v >> 32));
}

/* 1 when the driver uses a legacy interface of m in the big-endian guest
   view (bus->knobs.guest_big_endian): its rings and payloads are then
   big-endian. */
int model_guest_be(const model *m);
/* Fields of a device's payloads (blk request headers, net headers,
   console control messages): little-endian, or the guest's order on a
   legacy interface (virtio 1.2 2.4; model_guest_be). Payloads of the
   1.0-only device types (gpu, input) use model_get* / model_put*. */
static inline uint16_t model_ld16(const model *m, const uint8_t *p)
{
    return model_guest_be(m) ? model_bswap16(model_get16(p)) : model_get16(p);
}
static inline uint32_t model_ld32(const model *m, const uint8_t *p)
{
    return model_guest_be(m) ? model_bswap32(model_get32(p)) : model_get32(p);
}
static inline uint64_t model_ld64(const model *m, const uint8_t *p)
{
    return model_guest_be(m) ? model_bswap64(model_get64(p)) : model_get64(p);
}
static inline void model_st16(const model *m, uint8_t *p, uint16_t v)
{
    model_put16(p, model_guest_be(m) ? model_bswap16(v) : v);
}
static inline void model_st32(const model *m, uint8_t *p, uint32_t v)
{
    model_put32(p, model_guest_be(m) ? model_bswap32(v) : v);
}

/* ------------------------------------------------------------------ */
/* Hostile hook                                                        */
/* ------------------------------------------------------------------ */

#define MODEL_H_REG_READ 1      /* register value about to be returned: offset (within the
                                   block), width, value; block = MODEL_REGS_* below */
#define MODEL_H_PCI_READ 2      /* PCI config read: offset, width, value */
#define MODEL_H_CONFIG_READ 3   /* device config read: offset, width, value */
#define MODEL_H_USED_ELEM 4     /* split used element: offset = ring slot, id, len */
#define MODEL_H_USED_IDX 5      /* split used index about to be published: value */
#define MODEL_H_PACKED_USED 6   /* packed used descriptor: offset = ring slot, id, len, flags */
#define MODEL_H_EVENT 7         /* avail_event (split) or device event (packed: value =
                                   off_wrap, flags) or used.flags (split: flags) */
#define MODEL_H_RESPONSE 8      /* a chain the backend finished, before it is published:
                                   chain, id, len = used_len (inout, clamped to the writable
                                   bytes); the hook may rewrite the reply with
                                   model_chain_write and must then set value = 1 */

#define MODEL_REGS_MMIO 1
#define MODEL_REGS_COMMON 2
#define MODEL_REGS_ISR 3
#define MODEL_REGS_DEVCFG 4
#define MODEL_REGS_NOTIFY 5
#define MODEL_REGS_LEGACY 6
#define MODEL_REGS_MSIX 7

/* A ready-made hostile hook: every queue reads live (virtio-pci
   queue_enable, virtio-mmio QueueReady read 1), right after a reset too. */
void model_hostile_queue_live(void *user, model *m, model_hostile *h);

struct model_hostile {
    uint32_t kind;              /* MODEL_H_* */
    uint32_t queue;             /* ring kinds */
    uint32_t block;             /* MODEL_H_REG_READ: MODEL_REGS_* */
    uint32_t offset;            /* inout for ring slots (taken modulo the ring size) */
    uint32_t width;
    uint32_t value;             /* inout */
    uint32_t id;                /* inout */
    uint32_t len;               /* inout */
    uint32_t flags;             /* inout */
    uint32_t skip;              /* set to 1: do not perform this write at all */
    model_chain *chain;         /* MODEL_H_RESPONSE: the finished chain */
};

/* ------------------------------------------------------------------ */
/* Block backend (model_blk.c)                                         */
/* ------------------------------------------------------------------ */

#define MODEL_BLK_F_SIZE_MAX (1ull << 1)
#define MODEL_BLK_F_SEG_MAX (1ull << 2)
#define MODEL_BLK_F_GEOMETRY (1ull << 4)
#define MODEL_BLK_F_RO (1ull << 5)
#define MODEL_BLK_F_BLK_SIZE (1ull << 6)
#define MODEL_BLK_F_FLUSH (1ull << 9)
#define MODEL_BLK_F_TOPOLOGY (1ull << 10)
#define MODEL_BLK_F_CONFIG_WCE (1ull << 11)
#define MODEL_BLK_F_MQ (1ull << 12)
#define MODEL_BLK_F_DISCARD (1ull << 13)
#define MODEL_BLK_F_WRITE_ZEROES (1ull << 14)

/* Request types and status bytes (virtio 1.2 5.2.6). */
#define MODEL_BLK_T_IN 0u
#define MODEL_BLK_T_OUT 1u
#define MODEL_BLK_T_FLUSH 4u
#define MODEL_BLK_T_GET_ID 8u
#define MODEL_BLK_T_DISCARD 11u
#define MODEL_BLK_T_WRITE_ZEROES 13u
#define MODEL_BLK_S_OK 0u
#define MODEL_BLK_S_IOERR 1u
#define MODEL_BLK_S_UNSUPP 2u

/* Default offered features of model_blk_options_init. */
#define MODEL_BLK_DEFAULT_FEATURES                                                                    \
    (MODEL_BLK_F_SIZE_MAX | MODEL_BLK_F_SEG_MAX | MODEL_BLK_F_GEOMETRY | MODEL_BLK_F_BLK_SIZE |      \
     MODEL_BLK_F_FLUSH | MODEL_BLK_F_TOPOLOGY | MODEL_BLK_F_CONFIG_WCE | MODEL_BLK_F_DISCARD |       \
     MODEL_BLK_F_WRITE_ZEROES | MODEL_F_INDIRECT_DESC | MODEL_F_EVENT_IDX | MODEL_F_VERSION_1 |       \
     MODEL_F_RING_PACKED)

typedef struct model_blk_options {
    uint64_t size;              /* disk bytes; capacity = size / 512 [1 MiB] */
    uint64_t features;          /* offered [MODEL_BLK_DEFAULT_FEATURES] */
    uint32_t num_queues;        /* request queues; > 1 offers MQ [1] */
    uint32_t queue_size;        /* QueueNumMax [256] */
    uint32_t size_max;          /* [65536] */
    uint32_t seg_max;           /* [126] */
    uint16_t cylinders;         /* geometry [2, 16, 63] */
    uint8_t heads, sectors;
    uint32_t blk_size;          /* [512] */
    uint8_t physical_block_exp, alignment_offset;  /* topology [0, 0, 1, 8] */
    uint16_t min_io_size;
    uint32_t opt_io_size;
    uint8_t writeback;          /* initial cache mode [1] */
    uint32_t max_discard_sectors, max_discard_seg, discard_sector_alignment; /* [2048, 4, 8] */
    uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;                /* [2048, 4] */
    uint8_t write_zeroes_may_unmap;                                         /* [1] */
    char serial[21];            /* GET_ID string, up to 20 bytes ["model-blk-serial"] */
    const void *image;          /* initial contents (image_len bytes), rest zero; NULL:
                                   the pattern model_blk_pattern() */
    size_t image_len;
    int no_data;                /* no disk behind it: reads and writes are checked
                                   (ranges, segments, chains) but move no bytes, so a
                                   test can make requests of many GiB [0] */
} model_blk_options;

/* Runtime knobs and counters of a block device: model_blk_knobs(m). */
typedef struct model_blk_knobs {
    uint64_t fail_sector;       /* requests touching [fail_sector, +fail_count) get IOERR */
    uint64_t fail_count;        /* 0: no injection */
    uint32_t fail_flush;        /* FLUSH answers IOERR */
} model_blk_knobs;

typedef struct model_blk_stats {
    uint64_t requests, reads, writes, flushes, get_ids, discards, write_zeroes;
    uint64_t bytes_read, bytes_written;  /* data moved to / from the driver */
    uint64_t ok, ioerr, unsupp;
    uint64_t range_errors, ro_errors, injected_errors;
    uint64_t dirty;             /* writes since the last flush with writeback on */
} model_blk_stats;

void model_blk_options_init(model_blk_options *o);
/* A block device on bus b. NULL on error (see model_bus_last_bug). */
model *model_blk_new(model_bus *b, const model_options *o, const model_blk_options *bo);
/* A block device with default model and backend options on `transport`. */
model *model_blk_default(model_bus *b, uint32_t transport);
/* The RAM disk (size in *size if non-NULL); NULL if m is not a model_blk. */
uint8_t *model_blk_disk(model *m, uint64_t *size);
model_blk_knobs *model_blk_get_knobs(model *m);
model_blk_stats *model_blk_get_stats(model *m);
/* Byte at disk offset off when no image is given. */
static inline uint8_t model_blk_pattern(uint64_t off)
{
    return (uint8_t)(off ^ (off >> 9) ^ (off >> 17) ^ 0x5a);
}

#ifdef __cplusplus
}
#endif
#endif /* MODEL_H */

/*
------------------------------------------------------------------------------
This software is available under 2 licenses -- choose whichever you prefer.
ALTERNATIVE A - MIT License. Copyright (c) 2026 the virtio.h authors.
ALTERNATIVE B - Public Domain (www.unlicense.org).
See the end of virtio.h for the full texts.
------------------------------------------------------------------------------
*/
