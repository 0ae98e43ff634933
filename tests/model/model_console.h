/* SPDX-License-Identifier: MIT OR Unlicense */
/* model_console.h - virtio-console backend of the software VirtIO device
   (device id 3, virtio 1.2 section 5.3). See model.h for the model itself.

   A console with up to 31 ports. Each port has a host end: bytes the test
   sends (model_console_send) are delivered in order into the receive
   buffers the driver posts (queued while it has none), and bytes the
   driver transmits are logged per port (model_console_output). With
   MULTIPORT the control queues behave like QEMU's virtio-serial: after the
   driver's DEVICE_READY the device adds every port, and after a port's
   PORT_READY it sends CONSOLE_PORT (console ports), PORT_NAME (with a
   trailing NUL, as QEMU does) and PORT_OPEN 1 (host end open). Ports can
   be added and removed later, opened and closed at the host end, resized;
   the emergency-write field logs bytes (model_console_emerg). Receive data
   flows only to ports the driver opened (without MULTIPORT: port 0 once
   DRIVER_OK is set); transmit data for a port whose host end is closed is
   discarded and counted, as QEMU does.

       model_console_options co;
       model_console_options_init(&co);    // port 0 a console, 4 ports max
       m = model_console_new(bus, &o, &co);
       ... virtio_console_init ...
       model_console_send(m, 0, "hi", 2);  // host -> guest
       model_console_output(m, 0, &len);   // what the guest wrote to port 0

   Driver bugs reported: a device-readable receive buffer or a
   device-writable transmit buffer (5.3.6.1), control messages that are
   short, carry writable bytes, name an event the driver may not send, come
   before DEVICE_READY, repeat DEVICE_READY, or name a port the device did
   not add (PORT_READY; a port removed meanwhile, or announced by a raw
   message, is not the driver's fault) or the driver has not made ready
   (PORT_OPEN);
   queues above 1 enabled without MULTIPORT; configuration writes other
   than emerg_wr (and emerg_wr without EMERG_WRITE). */
#ifndef MODEL_CONSOLE_H
#define MODEL_CONSOLE_H
#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MODEL_CONSOLE_F_SIZE (1ull << 0)
#define MODEL_CONSOLE_F_MULTIPORT (1ull << 1)
#define MODEL_CONSOLE_F_EMERG_WRITE (1ull << 2)
#define MODEL_CONSOLE_MAX_PORTS 31u

/* Control events (5.3.6.2). */
#define MODEL_CONSOLE_DEVICE_READY 0
#define MODEL_CONSOLE_DEVICE_ADD 1
#define MODEL_CONSOLE_DEVICE_REMOVE 2
#define MODEL_CONSOLE_PORT_READY 3
#define MODEL_CONSOLE_CONSOLE_PORT 4
#define MODEL_CONSOLE_RESIZE 5
#define MODEL_CONSOLE_PORT_OPEN 6
#define MODEL_CONSOLE_PORT_NAME 7

typedef struct model_console_options {
    uint64_t features;          /* offered [SIZE | MULTIPORT | EMERG_WRITE | VERSION_1 | RING_PACKED |
                                   EVENT_IDX | INDIRECT_DESC] */
    uint32_t max_ports;         /* max_nr_ports, 1..31 [4]; with MULTIPORT 2 x max_ports + 2 queues, else 2 */
    uint32_t queue_size;        /* QueueNumMax of port queues [128, as QEMU] */
    uint32_t ctrl_queue_size;   /* QueueNumMax of the control queues [32, as QEMU] */
    uint16_t cols, rows;        /* configuration (SIZE) [80, 25] */
} model_console_options;

/* Runtime behaviour: model_console_get_knobs(m); change any time. */
typedef struct model_console_knobs {
    uint32_t rx_chunk;          /* bytes per receive buffer at most, 0 = fill it [0] */
    uint32_t drop_control;      /* a control message with no buffer posted is lost (QEMU) [0] */
    uint32_t hold_tx;           /* keep transmit buffers until model_console_release_tx (and,
                                   to keep the order, any sent while some are held) [0] */
    uint32_t name_nul;          /* PORT_NAME carries a trailing NUL [1, as QEMU] */
    uint32_t rx_needs_notify;   /* with MULTIPORT, a port's bytes go to the guest only once its
                                   receive queue was notified while the port was open (QEMU
                                   7.2 looks at an open port's queue, and reads its chardev
                                   again, only then; under TCG on virtio-mmio nothing else
                                   wakes it) [0] */
    uint32_t emerg_first_byte;  /* emerg_wr gives the byte at the field's lowest address, as
                                   QEMU 7.2 (le32_to_cpu of the bytes); that is the high byte
                                   when a big-endian guest writes through a legacy interface;
                                   0: the value's low byte, as the spec says [1, as QEMU] */
} model_console_knobs;

typedef struct model_console_stats {
    uint64_t ctrl_from_driver;  /* control messages the driver sent */
    uint64_t ctrl_to_driver;    /* control messages delivered */
    uint64_t ctrl_dropped;      /* lost for want of a buffer (drop_control) */
    uint64_t device_ready;      /* DEVICE_READY messages */
    uint64_t rx_buffers;        /* receive buffers filled */
    uint64_t tx_buffers;        /* transmit buffers taken */
    uint64_t tx_discarded;      /* transmitted bytes dropped: host end closed, or no such port */
    uint64_t emerg;             /* emergency-write bytes */
    uint32_t max_ctrl_pending;  /* most control messages waiting for buffers */
} model_console_stats;

/* What the device knows about one port. */
typedef struct model_console_port {
    uint32_t exists;            /* added (a DEVICE_ADD was or will be sent) */
    uint32_t console;           /* nominated as a console */
    uint32_t host_open;         /* host end open */
    uint32_t ready;             /* the driver sent PORT_READY 1 */
    uint32_t guest_open;        /* the driver opened it (without MULTIPORT: DRIVER_OK, port 0) */
    uint32_t ready_fail;        /* PORT_READY 0 received */
    char name[128];
} model_console_port;

void model_console_options_init(model_console_options *o);
/* A console on bus b with port 0 present, a console, host end open. NULL
   on error (see model_bus_last_bug). */
model *model_console_new(model_bus *b, const model_options *o, const model_console_options *co);
/* Add port id (console or not, name may be NULL), host end open; sends
   DEVICE_ADD if the driver is ready. 0, or -1 (bad id, exists). */
int model_console_add_port(model *m, uint32_t id, int console, const char *name);
/* Remove port id: DEVICE_REMOVE. 0 or -1. */
int model_console_remove_port(model *m, uint32_t id);
/* Open or close the host end of port id: PORT_OPEN. 0 or -1. */
int model_console_host_open(model *m, uint32_t id, int open);
/* RESIZE message for port id (MULTIPORT). 0 or -1. */
int model_console_resize(model *m, uint32_t id, uint16_t cols, uint16_t rows);
/* New configuration size (SIZE) plus a configuration interrupt. */
void model_console_set_size(model *m, uint16_t cols, uint16_t rows);
/* Queue a raw control message (for hostile tests). 0 or -1. */
int model_console_control(model *m, const void *msg, uint32_t len);
/* Host -> guest bytes for port id, delivered as buffers allow. 0 or -1. */
int model_console_send(model *m, uint32_t id, const void *data, size_t len);
/* Bytes sent to port id not yet delivered. */
size_t model_console_pending(model *m, uint32_t id);
/* Every byte the driver transmitted on port id so far (len may be NULL). */
const uint8_t *model_console_output(model *m, uint32_t id, size_t *len);
/* Every emergency-write byte so far. */
const uint8_t *model_console_emerg(model *m, size_t *len);
/* Complete up to n held transmit buffers (0 = all); returns how many. */
uint32_t model_console_release_tx(model *m, uint32_t n);
const model_console_port *model_console_port_state(model *m, uint32_t id);
model_console_knobs *model_console_get_knobs(model *m);
model_console_stats *model_console_get_stats(model *m);

#ifdef __cplusplus
}
#endif
#endif /* MODEL_CONSOLE_H */
