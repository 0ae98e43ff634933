#!/usr/bin/env python3
"""The examples do what their opening comments say.

  net_ping  answers an ARP request and ICMP echo requests for 10.0.2.15;
            the host sends real packets over -netdev dgram (127.0.0.1) and
            checks the replies field by field, checksums included.
  hello     boots on every architecture, finds its devices, echoes a byte.
  demo      prints the disk's identity and the host's message, and the
            screen is not blank.
"""
import os
import random
import re
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu import ARCHES, Config, Machine, UdpPeer, check, device_args, main, test  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MY_IP = bytes([10, 0, 2, 15])
HOST_MAC = bytes([0x02, 0, 0, 0, 0, 0x42])
HOST_IP = bytes([10, 0, 2, 2])


def elf(arch, name):
    return os.path.join(ROOT, "build", arch, name + ".elf")


def csum(b):
    if len(b) & 1:
        b += b"\0"
    s = sum(struct.unpack(f">{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


@test(configs=[Config("riscv64", "mmio-legacy"), Config("aarch64", "pci-modern", True), Config("x86_64", "pci-legacy")])
def net_ping(cfg):
    rnd = random.Random()
    guest_mac = bytes([0x52, 0x54, 0, 0xaa, rnd.randrange(256), rnd.randrange(256)])
    with UdpPeer("dgram") as peer:
        args = ["-netdev", peer.netdev("n0")]
        args += device_args(cfg, "virtio-net", "netdev=n0,mac=" + ":".join(f"{b:02x}" for b in guest_mac))
        with Machine(cfg, elf(cfg.arch, "net_ping"), args, timeout=120) as m:
            m.expect(r"^net_ping: 10\.0\.2\.15")
            # ARP: who has 10.0.2.15?
            arp = b"\xff" * 6 + HOST_MAC + b"\x08\x06" + bytes([0, 1, 8, 0, 6, 4, 0, 1]) + HOST_MAC + HOST_IP
            arp += bytes(6) + MY_IP + bytes(18)
            peer.send(arp)
            r = peer.recv_until(lambda f: f[12:14] == b"\x08\x06", timeout=20)
            check(r[0:6] == HOST_MAC and r[6:12] == guest_mac, "ARP reply addressing")
            check(r[20:22] == b"\x00\x02" and r[22:28] == guest_mac and r[28:32] == MY_IP, "ARP reply fields")
            check(r[32:38] == HOST_MAC and r[38:42] == HOST_IP, "ARP reply target")
            # Pings of several sizes, each answered with the same payload.
            for seq, size in enumerate((0, 56, 1000, 1472)):
                payload = rnd.randbytes(size)
                icmp = struct.pack(">BBHHH", 8, 0, 0, 0x1234, seq) + payload
                icmp = icmp[:2] + struct.pack(">H", csum(icmp)) + icmp[4:]
                ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), seq, 0, 64, 1, 0, HOST_IP, MY_IP)
                ip = ip[:10] + struct.pack(">H", csum(ip)) + ip[12:]
                peer.send(guest_mac + HOST_MAC + b"\x08\x00" + ip + icmp)
                r = peer.recv_until(lambda f: f[12:14] == b"\x08\x00" and f[23] == 1, timeout=20)
                rip = r[14:34]
                ricmp = r[34:34 + len(icmp)]
                check(r[0:6] == HOST_MAC and r[6:12] == guest_mac, f"ping {seq}: addressing")
                check(rip[12:16] == MY_IP and rip[16:20] == HOST_IP, f"ping {seq}: IP addresses")
                check(csum(rip) == 0, f"ping {seq}: IP header checksum")
                check(ricmp[0] == 0 and ricmp[4:8] == struct.pack(">HH", 0x1234, seq), f"ping {seq}: ICMP header")
                check(ricmp[8:] == payload, f"ping {seq}: payload ({size} bytes) differs")
                check(csum(ricmp) == 0, f"ping {seq}: ICMP checksum")
            m.write("q")
            m.expect(r"^net_ping: 5 replies")


@test(configs=[Config(a, "pci-modern") for a in ARCHES])
def hello(cfg):
    args = ["-drive", "if=none,id=d0,file=null-co://,format=raw,size=1M"] + device_args(cfg, "virtio-blk", "drive=d0")
    args += device_args(cfg, "virtio-rng") + device_args(cfg, "virtio-serial")
    with Machine(cfg, elf(cfg.arch, "hello"), args, timeout=60) as m:
        m.expect(rf"^hello from {cfg.arch}")
        m.expect(r"^waiting 1 s")
        listed = "\n".join(m.lines)
        for kind, name in ((2, "block"), (4, "rng"), (3, "console")):
            check(re.search(rf"^virtio-pci 00:0\d\.0: type {kind} modern {name} .*VIRTIO_OK", listed, re.M),
                  f"hello did not list the {name} device by name")
        m.write("x")
        m.expect(r"^got 'x'")
        m.expect(r"^uptime")


@test
def demo():
    import subprocess
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "demo.py")], capture_output=True,
                         text=True, timeout=180)
    check(out.returncode == 0, f"demo failed:\n{out.stdout}\n{out.stderr}")
    check('serial "VIRTIO-H-DEMO", 65536 sectors' in out.stdout, f"disk identity missing:\n{out.stdout}")
    check("HELLO FROM THE HOST'S DISK IMAGE" in out.stdout, "disk message missing")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from qemu import read_png
    img = read_png(os.path.join(ROOT, "build", "demo.png"))
    check((img.width, img.height) == (1024, 600), f"demo screen {img.width}x{img.height}")
    check(len(img.colors()) > 100, "demo screen looks blank")


if __name__ == "__main__":
    main()
