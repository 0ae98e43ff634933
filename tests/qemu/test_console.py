#!/usr/bin/env python3
"""virtio-console on real QEMU devices, checked at chardev sockets on the host.

The machine gets a virtio-serial device (virtio-serial-device on MMIO,
virtio-serial-pci on PCI) with a virtconsole on port 0 and a
virtserialport named "vt.port1" on port 1, each backed by a
`-chardev socket,host=127.0.0.1` that connects to a listener in this
runner. The guest (tests/qemu/guest/console_test.c) takes commands on its
UART. We check:
  - what the driver learnt from QEMU's control messages: MULTIPORT with
    max_nr_ports 31, port 0 a console, port 1 named "vt.port1", both open
    at the host end and opened by the driver; emergency write offered;
  - bytes the guest writes arrive at the right socket, exactly and in
    order: 64 KiB on port 0 and 20 KiB on port 1, each far larger than
    the driver's 8 x 256-byte transmit buffers, written with blocking,
    non-blocking and batched (VIRTIO_MORE + kick) calls;
  - bytes the host sends arrive in the guest exactly and in order (CRC
    over 40 KiB and 30 KiB, far beyond the receive buffers), and an echo
    of interleaved reads and writes comes back byte for byte;
  - the emergency write (NUL and 0xff included) reaches the console
    port's socket;
  - nothing leaks to the other port; after a re-initialisation without
    MULTIPORT, port 0 still carries bytes both ways; all DMA memory comes
    back at shutdown.
test_console_single: a device that does not offer MULTIPORT at all
(max_ports=1 and only the console: QEMU 7.2 then leaves the feature out);
the driver, which asks for it, runs port 0 alone, both ways, with the
emergency write.
QEMU 7.2 offers neither the console size (SIZE) nor RESIZE messages; those
are covered by the unit tests against the device model.
"""
import os
import random
import socket
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu import Machine, Timeout, check, device_args, guest, kv, main, matrix, pattern, test, variants  # noqa: E402


class Chardev:
    """The host end of `-chardev socket,...,server=off`: a listener on
    127.0.0.1 that QEMU connects to at start-up, and a thread that keeps
    reading (QEMU drops console output it cannot write at once)."""

    def __init__(self, id):
        self.id = id
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.conn = None
        self.buf = bytearray()
        self.cond = threading.Condition()
        self.closed = False

    def args(self):
        return ["-chardev", f"socket,id={self.id},host=127.0.0.1,port={self.port},server=off"]

    def accept(self, timeout=30):
        self.listener.settimeout(timeout)
        self.conn, _ = self.listener.accept()
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        while True:
            try:
                d = self.conn.recv(65536)
            except OSError:
                d = b""
            with self.cond:
                if not d:
                    self.closed = True
                    self.cond.notify_all()
                    return
                self.buf += d
                self.cond.notify_all()

    def take(self, n, timeout=60):
        """Exactly the next n bytes QEMU wrote (fewer on timeout)."""
        end = time.monotonic() + timeout
        with self.cond:
            while len(self.buf) < n and not self.closed and time.monotonic() < end:
                self.cond.wait(min(1.0, max(0.0, end - time.monotonic())))
            out = bytes(self.buf[:n])
            del self.buf[:n]
            return out

    def pending(self):
        with self.cond:
            return bytes(self.buf)

    def send(self, data):
        self.conn.sendall(data)

    def close(self):
        for s in (self.conn, self.listener):
            if s:
                s.close()


def first_diff(a, b):
    return next((i for i in range(min(len(a), len(b))) if a[i] != b[i]), min(len(a), len(b)))


def guest_writes(m, rnd, port, sock, n):
    seed = rnd.randrange(1, 1 << 60)
    m.write(f"w {port} {seed:x} {n}\n")
    got = sock.take(n)
    want = pattern(seed, 0, n)
    check(got == want, f"port {port}: {len(got)} of {n} bytes arrived; first difference at byte "
                       f"{first_diff(got, want)}")
    w = m.expect(rf"^VT WROTE {port} (\d+) (VIRTIO_\w+)")
    check(w.group(1) == str(n) and w.group(2) == "VIRTIO_OK", f"guest write: {w.group(0)}")


def host_sends(m, rnd, port, sock, n, echo=False, early=None):
    """n bytes for the guest to read (and echo); or, with early, the bytes
    sent before the guest opened the port, which it reads at once."""
    data = early if early is not None else rnd.randbytes(n)
    if early is None:
        m.write(f"{'x' if echo else 'r'} {port} {n}\n")
    m.expect(rf"^VT READING {port} {n}\b")
    if early is None:
        sock.send(data)
    if echo:
        back = sock.take(n)
        check(back == data, f"port {port}: echo of {n} bytes: {len(back)} came back, first difference at byte "
                            f"{first_diff(back, data)}")
    r = m.expect(rf"^VT (?:READ|ECHOED) {port} (\d+) (VIRTIO_\w+).* crc=([0-9a-f]+) first=([0-9a-f]*)")
    check(r.group(1) == str(n) and r.group(2) == "VIRTIO_OK", f"guest read: {r.group(0)}")
    check(int(r.group(3), 16) == zlib.crc32(data), f"port {port}: CRC of {n} bytes read {r.group(3)} != "
                                                  f"{zlib.crc32(data):08x} (first bytes {r.group(4)} vs {data[:8].hex()})")


def test_console(cfg):
    rnd = random.Random()
    c0, c1 = Chardev("c0"), Chardev("c1")
    try:
        args = c0.args() + c1.args() + device_args(cfg, "virtio-serial")
        args += ["-device", "virtconsole,chardev=c0", "-device", "virtserialport,chardev=c1,name=vt.port1,nr=1"]
        with Machine(cfg, guest(cfg.arch, "console_test"), args, timeout=240) as m:
            c0.accept()
            c1.accept()
            # Sent before the guest opens port 1: QEMU reads them only when
            # the port's receive queue is notified while the port is open
            # (the driver does so after its PORT_OPEN). Without it, on
            # virtio-mmio under TCG, nothing woke QEMU's main loop and they
            # stayed unread (a program written from the README found it).
            early = rnd.randbytes(1000)
            c1.send(early)
            f = kv(m.expect(r"^VT CON (.*)").group(1))
            check(f["transport"] == cfg.transport and f["packed"] == ("1" if cfg.packed else "0"), f"device: {f}")
            props = dict(p.split("=", 1) for p in cfg.prop_list if "=" in p)
            has_emerg = props.get("emergency-write", "on") != "off"
            check(f["multiport"] == "1" and f["max_ports"] == props.get("max_ports", "31") and f["ports"] == "2",
                  f"multiport: {f}")
            check(f["emerg"] == ("1" if has_emerg else "0") and f["size"] == "0", f"features: {f}")
            # present, console, host open, guest open
            check(f["p0"] == "1,1,1,1" and f["p1"] == "1,0,1,1", f"ports: {f}")
            check(f["name0"] == "-" and f["name1"] == "vt.port1" and f["dropped"] == "0", f"names: {f}")
            host_sends(m, rnd, 1, c1, len(early), early=early)
            m.expect(r"^VT READY")

            guest_writes(m, rnd, 0, c0, 65536)
            guest_writes(m, rnd, 1, c1, 20000)
            host_sends(m, rnd, 0, c0, 40000)
            host_sends(m, rnd, 1, c1, 30000)
            host_sends(m, rnd, 0, c0, 5000, echo=True)
            emerg = b"emergency\x00\xff!\n"
            m.write(f"e {emerg.hex()}\n")
            if has_emerg:
                m.expect(r"^VT EMERG VIRTIO_OK")
                got = c0.take(len(emerg))
                check(got == emerg, f"emergency write: {got!r}, want {emerg!r}")
            else:   # emergency-write=off: refused, nothing reaches the console
                m.expect(r"^VT EMERG VIRTIO_ERR_UNSUPPORTED")
            check(c0.pending() == b"" and c1.pending() == b"", "stray bytes at a socket")

            # Port 0 alone, without the control queues.
            m.write("m\n")
            f = kv(m.expect(r"^VT CON (.*)").group(1))
            check(f["multiport"] == "0" and f["ports"] == "1" and f["p0"] == "1,1,1,0", f"without multiport: {f}")
            m.expect(r"^VT READY")
            guest_writes(m, rnd, 0, c0, 10000)
            host_sends(m, rnd, 0, c0, 10000)
            m.write("q\n")
            res = m.run_to_end()
            leak = [r for k, r in res if k == "LEAK"]
            check(leak == ["0"], f"DMA memory not given back: {leak}")
            check(c0.pending() == b"" and c1.pending() == b"", "stray bytes at a socket")
    finally:
        c0.close()
        c1.close()


def console_single(cfg):
    rnd = random.Random()
    c0 = Chardev("c0")
    try:
        args = c0.args() + device_args(cfg, "virtio-serial", "max_ports=1") + ["-device", "virtconsole,chardev=c0"]
        with Machine(cfg, guest(cfg.arch, "console_test"), args, timeout=120) as m:
            c0.accept()
            f = kv(m.expect(r"^VT CON (.*)").group(1))
            check(f["transport"] == cfg.transport and f["multiport"] == "0" and f["max_ports"] == "1"
                  and f["ports"] == "1" and f["p0"] == "1,1,1,0", f"no MULTIPORT offered: {f}")
            m.expect(r"^VT READY")
            guest_writes(m, rnd, 0, c0, 30000)
            host_sends(m, rnd, 0, c0, 20000)
            host_sends(m, rnd, 0, c0, 3000, echo=True)
            m.write("e 4142\n")
            m.expect(r"^VT EMERG VIRTIO_OK")
            check(c0.take(2) == b"AB", "emergency write")
            m.write("q\n")
            res = m.run_to_end()
            check([r for k, r in res if k == "LEAK"] == ["0"], "DMA memory not given back")
            check(c0.pending() == b"", "stray bytes at the socket")
    finally:
        c0.close()


# Device properties the plain matrix never sets: no emergency write, the
# fewest ports that hold the two this test opens, no indirect descriptors
# or event index; ACCESS_PLATFORM offered (iommu_platform=on, no IOMMU:
# the driver accepts it), a notification page per queue (page-per-vq: the
# control and port-1 queues, 2-5, notify 8-20 KiB into the notification
# area), notifications handled in the vCPU's own register write
# (ioeventfd=off).
VARIANTS = [
    "riscv64-mmio-modern-packed+emergency-write=off",
    "x86_64-pci-modern-packed+max_ports=2",
    "aarch64-pci-modern-split+indirect_desc=off+event_idx=off",
    "aarch64-pci-modern-split+iommu_platform=on",
    "x86_64-pci-modern-packed+page-per-vq=on",
    "i686-pci-modern-split+ioeventfd=off",
    "armv7be-pci-legacy-split",
    "armv7be-mmio-legacy-split",
    "aarch64be-pci-legacy-split",
    "aarch64be-mmio-modern-packed",
    # x86 virtio-mmio: QEMU's microvm machine
    "x86_64-mmio-legacy-split",
    "i686-mmio-modern-packed",
    # the 32-bit little-endian machines
    "i686-pci-legacy-split",
    "riscv32-mmio-modern-split",
    "riscv32-pci-modern-packed",
    "armv7-mmio-modern-packed",
    "armv7-pci-modern-split",
]

if __name__ == "__main__":
    test(configs=matrix("virtio-serial") + variants(VARIANTS))(test_console)
    test(configs=variants(["x86_64-pci-modern-split", "riscv64-mmio-legacy-split", "aarch64be-pci-modern-packed",
                           "i686-pci-legacy-split", "armv7-mmio-legacy-split"]), name="test_console_single")(console_single)
    main()
