#!/usr/bin/env python3
"""virtio-net on real QEMU devices, checked at a socket peer on the host.

QEMU's stream backend connects to a TCP listener on 127.0.0.1 in this
runner; every Ethernet frame crosses it with a 4-byte length prefix. The
guest (tests/qemu/guest/net_test.c) takes commands on its UART. We check:
  - frames the host sends come back byte for byte (sizes 60..1514,
    copying and zero-copy receive alternating);
  - frames the guest originates arrive complete, numbered and in order,
    sent one by one and batched with VIRTIO_MORE beyond the ring's size;
  - a burst of 300 frames, more than the receive ring holds, arrives
    complete and in order after the guest stopped reading for a while;
  - promiscuous mode, all-multicast and the MAC filter table (control
    queue) change exactly which frames arrive; so does setting the MAC;
  - link down/up through QMP set_link is seen by the guest, and sending
    while down is refused;
  - an announcement requested through QMP announce-self makes the guest
    send a gratuitous ARP and acknowledge.
QEMU's socket backends carry no virtio-net header, so QEMU offers neither
CSUM nor GUEST_CSUM with them; checksum offload is covered by the unit
tests against the device model.
"""
import os
import random
import select
import socket
import struct
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu import Machine, check, device_args, extra_matrix, main, matrix, pattern, test, variants  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def guest(arch, name):
    return os.path.join(ROOT, "build", arch, name + ".elf")

PEER = bytes([0x02, 0, 0, 0, 0, 1])
ETHERTYPE = b"\x88\xb5"


def mac_str(m):
    return ":".join(f"{b:02x}" for b in m)


class Peer:
    """The host end of QEMU's -netdev stream."""

    def __init__(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.conn = None
        self.buf = b""

    def accept(self, timeout=30):
        self.listener.settimeout(timeout)
        self.conn, _ = self.listener.accept()
        self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, frame):
        self.conn.sendall(struct.pack(">I", len(frame)) + frame)

    def recv(self, timeout=20):
        end = time.time() + timeout
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    f, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    return f
            left = end - time.time()
            if left <= 0:
                return None
            r, _, _ = select.select([self.conn], [], [], left)
            if r:
                chunk = self.conn.recv(65536)
                if not chunk:
                    return None
                self.buf += chunk

    def close(self):
        for s in (self.conn, self.listener):
            if s:
                s.close()


def frame_to(dst, seq, size, rnd):
    body = struct.pack(">I", seq) + rnd.randbytes(size - 18)
    return dst + PEER + ETHERTYPE + body


def collect(m, peer, frames, ms=1500):
    """Send frames while the guest collects; return the sequence numbers it got."""
    m.write(f"collect {ms}\n")
    m.expect(r"^VT COLLECTING")
    for f in frames:
        peer.send(f)
    m.expect(r"^VT COLLECTED", timeout=30)
    lines = m.transcript.splitlines()
    start = max(i for i, l in enumerate(lines) if l.startswith("VT COLLECTING"))
    return sorted(int(l.split()[2]) for l in lines[start:] if l.startswith("VT GOT "))


def command(m, cmd, answer):
    m.write(cmd + "\n")
    got = m.expect(answer, timeout=30)
    return got


def test_net(cfg):
    rnd = random.Random()
    mac = bytes([0x52, 0x54, 0x00, rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)])
    peer = Peer()
    try:
        args = ["-netdev", f"stream,id=n0,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port={peer.port}"]
        args += device_args(cfg, "virtio-net", f"netdev=n0,id=nic0,mac={mac_str(mac)}")
        with Machine(cfg, guest(cfg.arch, "net_test"), args, timeout=400) as m:
            peer.accept()
            nic = m.expect(r"^VT NIC (.*)").group(1)
            facts = dict(w.split("=", 1) for w in nic.split())
            check(facts["transport"] == cfg.transport, f"transport {facts['transport']}")
            check(facts["packed"] == ("1" if cfg.packed else "0"), f"packed {facts['packed']}")
            check(facts["mac"] == mac_str(mac), f"guest MAC {facts['mac']} != {mac_str(mac)}")
            # status=off: no link state, the link is up for good.
            has_status = "status=off" not in cfg.prop_list
            check(facts["link"] == "1" and facts["status"] == ("1" if has_status else "0"), f"link: {nic}")
            # host_mtu: the driver sends nothing longer than MTU + 14 (untagged).
            mtu = int(next((p.split("=")[1] for p in cfg.prop_list if p.startswith("host_mtu=")), "1500"))
            check(facts["mtu"] == str(mtu), f"MTU {facts['mtu']} != {mtu}")
            # What the driver negotiated follows the properties: a feature
            # QEMU was told to leave out is not claimed, and the others are
            # (announcements need the control queue and the status field;
            # QEMU's stream backend has no vnet header, so QEMU offers no
            # checksum offload either way).
            props, ctrl = set(cfg.prop_list), "ctrl_vq=off" not in cfg.prop_list
            want = {"mrg": "mrg_rxbuf=off" not in props, "ctrl_rx": ctrl and "ctrl_rx=off" not in props,
                    "ctrl_mac": ctrl and "ctrl_mac_addr=off" not in props,
                    "announce": ctrl and has_status and "guest_announce=off" not in props,
                    "csum": False, "guest_csum": False}
            for k, v in want.items():
                check(facts[k] == ("1" if v else "0"), f"{k}={facts[k]}, want {int(v)} under {cfg.name}: {nic}")
            top = min(9216, mtu + 14)   # net_test.c's FRAME_MAX
            m.expect(r"^VT READY")

            # 1. Echo: host -> guest -> host, every size class.
            sizes = [s for s in (60, 61, 64, 127, 128, 511, 512, 1000, 1513, 1514, 1515, 4096, 9014) if s <= top]
            sizes += [top - 1, top] + [rnd.randrange(60, top + 1) for _ in range(30)]
            m.write(f"echo {len(sizes)}\n")
            for i, size in enumerate(sizes):
                f = frame_to(mac, i, size, rnd)
                peer.send(f)
                back = peer.recv()
                check(back is not None, f"no echo of frame {i} ({size} bytes)")
                check(back == f, f"echo of frame {i} differs ({len(back)} vs {size} bytes)")
            m.expect(rf"^VT ECHOED {len(sizes)} bad=0")

            # 2. Guest-originated frames, numbered, checked byte for byte:
            # notified one by one, then batched with VIRTIO_MORE (more
            # frames than the transmit ring holds, so a full ring must
            # notify the device by itself).
            for cmd in ("send", "sendmore"):
                seed = rnd.randrange(1, 1 << 60)
                m.write(f"{cmd} {seed:x} 50\n")
                for i in range(50):
                    f = peer.recv()
                    check(f is not None, f"{cmd}: guest frame {i} missing")
                    size = 60 + (i * 97) % (top - 60 + 1)
                    want = PEER + mac + ETHERTYPE + struct.pack(">I", i) + pattern(seed, i << 12, size - 18)
                    check(f == want, f"{cmd}: guest frame {i}: {len(f)} bytes, want {size}; "
                                     f"seq {struct.unpack('>I', f[14:18])[0] if len(f) >= 18 else '?'}")
                m.expect(r"^VT SENT 50 bad=0")

            # 3. A burst larger than the receive ring while the guest is not reading.
            command(m, "hold", r"^VT HOLDING")
            burst = [frame_to(mac, i, rnd.choice((60, 200, 600, top)), rnd) for i in range(300)]
            for f in burst:
                peer.send(f)
            want_crc = 0
            for f in burst:
                want_crc = zlib.crc32(f, want_crc)
            d = command(m, "drain 300", r"^VT DRAINED (.*)").group(1)
            got = dict(w.split("=", 1) for w in d.split())
            check(int(got["rx_buffers"]) < 300, "burst was not larger than the receive ring")
            check(got["got"] == "300" and got["inorder"] == "1", f"burst: {d}")
            check(int(got["crc"], 16) == want_crc, f"burst CRC {got['crc']} != {want_crc:08x}")

            # 4. Receive filtering through the control queue.
            mac_a = bytes([0x02, 0xaa, 0, 0, 0, 1])
            mac_b = bytes([0x02, 0xbb, 0, 0, 0, 2])
            mcast = bytes([0x01, 0x00, 0x5e, 0, 0, 1])
            targets = [mac, mac_a, mac_b, b"\xff" * 6, mcast]
            probe = [frame_to(t, i, 80, rnd) for i, t in enumerate(targets)]
            check(collect(m, peer, probe) == [0, 1, 2, 3, 4], "QEMU starts promiscuous: all five expected")
            new_mac = mac
            if facts["ctrl_rx"] == "0":
                # No control queue (ctrl_vq=off): the calls are refused and
                # change nothing.
                command(m, "promisc 0", r"^VT PROMISC VIRTIO_ERR_UNSUPPORTED")
                command(m, f"filter {mac_str(mac_a)}", r"^VT FILTER VIRTIO_ERR_UNSUPPORTED")
                check(collect(m, peer, probe) == [0, 1, 2, 3, 4], "refused calls changed the filter")
            else:
                command(m, "promisc 0", r"^VT PROMISC VIRTIO_OK")
                check(collect(m, peer, probe) == [0, 3], "promisc off: own MAC and broadcast only")
                command(m, f"filter {mac_str(mac_a)}", r"^VT FILTER VIRTIO_OK")
                check(collect(m, peer, probe) == [0, 1, 3], "filter table: plus MAC A")
                command(m, "allmulti 1", r"^VT ALLMULTI VIRTIO_OK")
                check(collect(m, peer, probe) == [0, 1, 3, 4], "all-multicast: plus the multicast frame")
                command(m, "promisc 1", r"^VT PROMISC VIRTIO_OK")
                check(collect(m, peer, probe) == [0, 1, 2, 3, 4], "promisc on: everything")
                # 5. A new MAC replaces the old one in the filter.
                new_mac = bytes([0x02, 0x11, 0x22, 0x33, 0x44, rnd.randrange(256)])
                command(m, "promisc 0", r"^VT PROMISC VIRTIO_OK")
                command(m, "allmulti 0", r"^VT ALLMULTI VIRTIO_OK")
                probe = [frame_to(new_mac, 0, 80, rnd), frame_to(mac, 1, 80, rnd)]
                if facts["ctrl_mac"] == "1":
                    command(m, f"setmac {mac_str(new_mac)}", r"^VT SETMAC VIRTIO_OK")
                    check(collect(m, peer, probe) == [0], "after setmac: new MAC in, old MAC out")
                else:   # ctrl_mac_addr=off: refused, the old MAC stays
                    command(m, f"setmac {mac_str(new_mac)}", r"^VT SETMAC VIRTIO_ERR_UNSUPPORTED")
                    check(collect(m, peer, probe) == [1], "refused setmac changed the filter")
                    new_mac = mac

            # 6. Link down and up (seen only with STATUS).
            if has_status:
                m.write("link\n")
                m.expect(r"^VT LINK 1")
                m.qmp("set_link", name="nic0", up=False)
                m.expect(r"^VT LINK 0")
                m.qmp("set_link", name="nic0", up=True)
                m.expect(r"^VT LINK 1")
                m.expect(r"^VT LINKDONE")
            else:
                check(facts["announce"] == "0", f"announce claimed without a status field: {nic}")

            # 7. Announcement: the guest answers with a gratuitous ARP.
            if facts["announce"] == "1":
                m.write("announce\n")
                time.sleep(0.2)
                m.qmp("announce-self", initial=50, max=550, rounds=1, step=100)
                arp = None
                end = time.time() + 20
                while time.time() < end and arp is None:
                    f = peer.recv(timeout=max(0.1, end - time.time()))
                    if f and f[12:14] == b"\x08\x06" and f[6:12] == new_mac:
                        arp = f
                check(arp is not None, "no gratuitous ARP from the guest")
                check(arp[0:6] == b"\xff" * 6 and arp[22:28] == new_mac and arp[28:32] == arp[38:42],
                      "ARP is not a gratuitous announcement")
                m.expect(r"^VT ANNOUNCED")
            m.write("quit\n")
            m.run_to_end()
    finally:
        peer.close()


def backpressure_frames() -> int:
    """Frames of net_backpressure's sizes (60..1514 bytes, 787 on average)
    that fill more than the most the kernel lets QEMU's socket buffer grow
    to (tcp_wmem's maximum, 4 MiB on Debian) plus 2 MiB: below that the
    whole burst fits in the kernel and nothing holds the guest back (seen:
    3000 frames, 2.4 MB, one run in five)."""
    try:
        wmem = int(open("/proc/sys/net/ipv4/tcp_wmem").read().split()[2])
    except (OSError, ValueError, IndexError):
        wmem = 4 << 20
    n, total = 0, 0
    while n < 3000 or total <= wmem + (2 << 20):
        total += 60 + (n * 97) % (1514 - 60 + 1)
        n += 1
    return n


def net_backpressure(cfg):
    """The host stops reading for 2 s while the guest sends more frames
    than the kernel's socket buffers hold (backpressure_frames): QEMU
    holds them (the socket to a peer with a 4 KiB receive buffer is full),
    the transmit ring fills and sends are refused with VIRTIO_ERR_NO_SPACE;
    once the host reads again every frame arrives, in order, byte for
    byte, and none twice."""
    rnd = random.Random()
    mac = bytes([0x52, 0x54, 0x00, rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)])
    peer = Peer()
    peer.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)   # inherited by the connection
    try:
        args = ["-netdev", f"stream,id=n0,server=off,addr.type=inet,addr.host=127.0.0.1,addr.port={peer.port}"]
        args += device_args(cfg, "virtio-net", f"netdev=n0,id=nic0,mac={mac_str(mac)}")
        with Machine(cfg, guest(cfg.arch, "net_test"), args, timeout=400) as m:
            peer.accept()
            m.expect(r"^VT READY")
            seed, n = rnd.randrange(1, 1 << 60), backpressure_frames()
            m.write(f"sendmore {seed:x} {n}\n")
            time.sleep(2)
            for i in range(n):
                f = peer.recv()
                check(f is not None, f"guest frame {i} missing after the host read again")
                size = 60 + (i * 97) % (1514 - 60 + 1)
                want = PEER + mac + ETHERTYPE + struct.pack(">I", i) + pattern(seed, i << 12, size - 18)
                check(f == want, f"guest frame {i}: {len(f)} bytes, want {size}; "
                                 f"seq {struct.unpack('>I', f[14:18])[0] if len(f) >= 18 else '?'}")
            full = int(m.expect(rf"^VT SENT {n} bad=0 full=(\d+)", timeout=60).group(1))
            check(full > 0, "the transmit ring never filled: the host's pause did not hold the guest back")
            check(peer.recv(timeout=0.5) is None, "a frame after the last one")
            m.write("quit\n")
            m.run_to_end()
    finally:
        peer.close()


# Device properties the plain matrix never sets (issue 11): no indirect
# descriptors, no event index, transitional devices (both interfaces; the
# library probes the modern one), no control queue (careless calls are
# still INVALID_ARG), no mergeable buffers, a page per queue's notify
# address and an I/O-BAR notify capability, an MTU below 1500 (nothing
# longer is sent), no status field (the link is up for good, no
# announcements), no MAC command (set_mac refused), several queue pairs
# (the driver uses the first), QEMU's largest rings, the device behind a
# PCIe root port. No small rings: QEMU 7.2's
# virtio-net-pci refuses rx_queue_size / tx_queue_size below 256, its
# default.
VARIANTS = [
    "riscv64-pci-modern-split+indirect_desc=off",
    "aarch64-pci-modern-packed+event_idx=off",
    "x86_64-pci-modern-split+transitional",
    "riscv64-pci-modern-split+ctrl_vq=off",
    "x86_64-pci-modern-packed+mrg_rxbuf=off",
    "aarch64-pci-modern-split+page-per-vq=on+modern-pio-notify=on",
    "x86_64-pci-modern-split+host_mtu=1280",
    "aarch64-pci-modern-packed+status=off",
    "riscv64-pci-modern-split+ctrl_mac_addr=off+mq=on",
    "x86_64-pci-modern-packed+rx_queue_size=1024+tx_queue_size=1024",
    "x86_64-pci-legacy-split+root-port",
    "aarch64-pci-modern-packed+root-port",
    "riscv64-mmio-modern-split+csum=off+guest_csum=off",
    "x86_64-pci-legacy-split+tx=timer",
    "riscv64-pci-modern-packed+rx_queue_size=256+tx_queue_size=256+mrg_rxbuf=off+ctrl_rx=off",
    # jumbo frames (9014 bytes) both ways, with and without mergeable buffers
    "x86_64-pci-modern-split+host_mtu=9000",
    "riscv64-mmio-modern-packed+host_mtu=9000+mrg_rxbuf=off",
    "aarch64be-pci-legacy-split+host_mtu=9000",
    # the smallest MTU (68: frames of at most 82 bytes); RSS and hash
    # reports offered with several queue pairs (bits above 31 and a longer
    # configuration the driver must leave alone)
    "x86_64-pci-modern-split+host_mtu=68",
    "x86_64-pci-modern-split+rss=on+hash=on+mq=on",
    # no announcements offered (the status field stays); and the 32-bit
    # legacy guest with the offloads the stream backend never has off
    "aarch64-pci-modern-split+guest_announce=off",
    "i686-pci-legacy-split+host_tso4=off+host_tso6=off+host_ecn=off+guest_tso4=off+guest_tso6=off",
    # x86 virtio-mmio: QEMU's microvm machine
    "x86_64-mmio-legacy-split",
    "x86_64-mmio-modern-packed",
    "i686-mmio-modern-split",
]

if __name__ == "__main__":
    test(configs=matrix("virtio-net") + extra_matrix("virtio-net") + variants(VARIANTS))(test_net)
    test(configs=variants(["x86_64-pci-modern-split", "riscv64-mmio-modern-packed", "aarch64be-pci-legacy-split"]),
         name="test_net_backpressure")(net_backpressure)
    main()
