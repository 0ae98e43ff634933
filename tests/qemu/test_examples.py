#!/usr/bin/env python3
"""The examples do what their opening comments say.

  net_ping  answers an ARP request and ICMP echo requests for 10.0.2.15;
            the host sends real packets over -netdev dgram (127.0.0.1) and
            checks the replies field by field, checksums included.
  hello     boots on every architecture, finds its devices, echoes a byte;
            on the device-tree machines the layout it reports (UART, ECAM,
            PCI windows, virtio-mmio slots, interrupt controller) is the
            one in QEMU's own tree (dumpdtb), also with aarch64's highmem
            off, where the ECAM and windows move.
  fdt       the ports' device tree reader (examples/port/fdt.c), built
            for the host under ASan and UBSan, reads the same layout and
            interrupts (virtio-mmio lines, the PCI interrupt-map, the arm
            timer, GICv2m, the PLIC context) from QEMU's trees and walks thousands of damaged copies without a
            fault (examples/port/fdt_check.c).
  demo      prints the disk's identity and the host's message, and the
            screen is not blank.
  readme    README.md's first C block, compiled as written
            (tests/qemu/guest/readme_quickstart.c), on riscv "virt" without
            firmware: it finds the disk, and the 4 KiB it read are the
            image's first 4 KiB.
"""
import os
import random
import re
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu  # noqa: E402
from qemu import (ARCHES, Q35_ARCHES, Config, Machine, UdpPeer, check, device_args, drive_args, fdt_number,  # noqa: E402
                  machine_args, machine_fdt, main, test)

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


@test(configs=[Config("riscv64", "mmio-legacy"), Config("aarch64", "pci-modern", True), Config("x86_64", "pci-legacy"),
               Config("riscv32", "mmio-modern", True), Config("armv7", "mmio-legacy"),
               Config("aarch64be", "pci-modern"), Config("aarch64be", "pci-legacy"), Config("i686", "pci-modern", True)])
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


def expected_layout(fdt, limit):
    """What the port should report for QEMU's tree: the machine: line's
    fields, from tests/qemu's own parser, with the windows a CPU below
    `limit` cannot reach left out (as the port does)."""
    want = {}
    stdout = fdt.node("/chosen").strings("stdout-path")[0].split(":")[0]
    want["uart"] = fdt.reg(fdt.node(stdout))[0][0]
    host = fdt.find("pci-host-ecam-generic")[0]
    ecam, size = fdt.reg(host)[0]
    if ecam + size <= limit:
        want["ecam"], want["buses"] = ecam, min(size >> 20, host.cells("bus-range")[1] + 1)
        r = host.cells("ranges")
        pa = host.parent.cell_count("#address-cells", 2)
        step = 3 + pa + 2
        for i in range(0, len(r), step):
            space = r[i] >> 24 & 3
            cpu = fdt_number(r[i + 3:i + 3 + pa])
            n = fdt_number(r[i + 3 + pa:i + step])
            if cpu + n > limit:
                continue
            if space == 1:
                want["io"] = cpu
            elif space == 2:
                want["mem32"] = f"{cpu:x}+{n:x}"
            elif space == 3:
                want["mem64"] = f"{cpu:x}+{n:x}"
    else:
        want["ecam"], want["buses"] = 0, 0
    want.setdefault("mem64", "0+0")
    slots = sorted(fdt.reg(n)[0][0] for n in fdt.find("virtio,mmio"))
    want["mmio"] = f"{slots[0]:x}+{slots[1] - slots[0]:x}x{len(slots)}"
    intc = next(n for n in fdt.nodes() if "interrupt-controller" in n.props and not n.compatible("riscv,cpu-intc"))
    want["intc"] = intc.strings("compatible")[0]
    want["phandle"] = intc.cells("phandle")[0]
    want["intc0"] = "%x+%x" % fdt.reg(intc)[0]
    v2m = fdt.find("arm,gic-v2m-frame")
    want["msi"] = fdt.reg(v2m[0])[0][0] if v2m else 0
    # riscv: the PLIC context whose interrupts-extended entry is a CPU's
    # machine external interrupt (11); the first hart's comes first.
    ext = intc.cells("interrupts-extended")
    want["context"] = next((i // 2 for i in range(0, len(ext), 2) if ext[i + 1] == 11), 0)
    return want


def expected_irqs(fdt, limit):
    """The "irq:" lines examples/port/fdt_check.c prints for QEMU's tree
    (each virtio-mmio slot's interrupt, INTA..INTD of PCI slots 0..3
    through the host bridge's interrupt-map, the arm virtual timer), as
    source/flags, from this runner's own reading of the tree."""
    byph = {n.cells("phandle")[0]: n for n in fdt.nodes() if "phandle" in n.props}

    def decode(parent, cells):
        n = parent.cell_count("#interrupt-cells", 0)
        if n == 3:   # GIC: type (0 SPI, 1 PPI), number, flags
            return (cells[1] + (16 if cells[0] else 32), cells[2] & 0xf)
        return (cells[0], cells[1] & 0xf if n == 2 else 0)

    def iparent(node):
        while node is not None:
            if "interrupt-parent" in node.props:
                return byph[node.cells("interrupt-parent")[0]]
            node = node.parent

    out = set()
    for n in fdt.find("virtio,mmio"):
        a, size = fdt.reg(n)[0]
        if a + size <= limit:
            out.add("mmio %x %u/%u" % ((a,) + decode(iparent(n), n.cells("interrupts"))))
    host = fdt.find("pci-host-ecam-generic")[0]
    ecam, size = fdt.reg(host)[0]
    m, i = host.cells("interrupt-map"), 0
    while ecam + size <= limit and i < len(m):
        parent = byph[m[i + 4]]
        pa, pi = parent.cell_count("#address-cells", 0), parent.cell_count("#interrupt-cells", 0)
        out.add("pci %u.%u %u/%u" % ((m[i] >> 11 & 31, m[i + 3]) + decode(parent, m[i + 5 + pa:i + 5 + pa + pi])))
        i += 5 + pa + pi
    for t in fdt.find("arm,armv8-timer"):
        out.add("timer %u/%u" % decode(iparent(t), t.cells("interrupts")[6:9]))
    return out


def check_layout(cfg, machine_line, fdt):
    """A "machine:" line (port_print_machine) against QEMU's device tree."""
    got = dict(w.split("=", 1) for w in machine_line.split())
    limit = 1 << 32 if cfg.arch in ("riscv32", "armv7", "armv7be") else 1 << 40
    for key, want in expected_layout(fdt, limit).items():
        have = got[key]
        ok = have == want if isinstance(want, str) else int(have, 16 if key != "buses" else 10) == want
        check(ok, f"{cfg.arch}: {key}={have}, QEMU's device tree says {want if isinstance(want, str) else hex(want)}")


@test(configs=[Config(a, "pci-modern") for a in ARCHES])
def hello(cfg):
    hello_run(cfg)


@test(configs=[Config("aarch64", "pci-modern")])
def hello_highmem_off(cfg):
    """The same guest follows the machine when the layout moves: with
    highmem=off the ECAM is at 0x3f000000 (16 buses) and there is no
    64-bit window."""
    cmd = machine_args(cfg)
    cmd[cmd.index("-machine") + 1] += ",highmem=off"
    line = hello_run(cfg, cmd)
    check("ecam=3f000000 " in line and "mem64=0+0" in line, f"highmem=off: {line}")


@test(configs=[Config("x86_64", "pci-modern"), Config("i686", "pci-modern")])
def hello_pc(cfg):
    """QEMU's default x86 machine, "pc" (i440FX and PIIX): no MMCONFIG,
    and the ACPI registers (power-off, the PM timer) behind PIIX4's
    function 00:01.3 instead of q35's LPC bridge."""
    cmd = machine_args(cfg)
    cmd[cmd.index("-machine") + 1] = cmd[cmd.index("-machine") + 1].replace("q35", "pc")
    check("pc" in cmd[cmd.index("-machine") + 1].split(","), f"no pc machine in {cmd}")
    hello_run(cfg, cmd)


@test(configs=[Config("x86_64", "mmio-modern"), Config("i686", "mmio-modern")])
def hello_microvm(cfg):
    """x86 with virtio-mmio: QEMU's "microvm" (qboot, no PCI, no HPET or
    ACPI PM timer): the port finds the slots, counts its clock against
    the PIT and powers off through the ACPI event device."""
    hello_run(cfg)


def hello_run(cfg, command=None):
    args = ["-drive", "if=none,id=d0,file=null-co://,format=raw,size=1M"] + device_args(cfg, "virtio-blk", "drive=d0")
    args += device_args(cfg, "virtio-rng") + device_args(cfg, "virtio-serial")
    with Machine(cfg, elf(cfg.arch, "hello"), args, timeout=60, command=command) as m:
        m.expect(rf"^hello from {cfg.arch}$")
        # The byte hello waits 1 s for, sent now: it waits in the UART
        # while this side reads QEMU's device tree (another QEMU run that
        # can take longer than that second on a loaded host).
        m.write("x")
        line = m.expect(r"^machine: (.*)").group(1)
        if cfg.arch not in Q35_ARCHES:
            check_layout(cfg, line, machine_fdt(cfg, m.base_command))
        if cfg.arch in Q35_ARCHES and cfg.mmio:
            base, stride, slots = qemu.MICROVM_MMIO
            check(f"mmio={base:x}+{stride:x}x{slots} " in line and "buses=0 " in line, f"microvm layout: {line}")
            m.expect(rf"^x86: microvm, {slots} virtio-mmio slots at {base:#x}, clock at [1-9]")
        elif cfg.arch in Q35_ARCHES:
            chipset = m.expect(r"^x86: (q35|host bridge 12378086), PMBASE 600 ").group(1)
            want = "q35" if command is None else "host bridge 12378086"
            check(chipset == want, f"chipset {chipset}, expected {want}")
        if cfg.arch in Q35_ARCHES:   # the Multiboot block: the 256 MiB less the first MiB and what SeaBIOS keeps
            kib = int(m.expect(r"^x86: Multiboot info at 0x[0-9a-f]+: (\d+) KiB of RAM above 1 MiB").group(1))
            check(255 * 1024 - 8192 < kib <= 255 * 1024, f"Multiboot says {kib} KiB above 1 MiB of 256 MiB")
        nap = m.expect(r"^nap: 200 naps .*, (\d+) without a timer")
        check(nap.group(1) == "0", f"the idle hint could not nap: {nap.group(0)}")
        m.expect(r"^waiting 1 s")
        listed = "\n".join(m.lines)
        for kind, name in ((2, "block"), (4, "rng"), (3, "console")):
            line_re = (rf"virtio-mmio slot \d+: type {kind} modern {name}$" if cfg.mmio else
                       rf"virtio-pci 00:0\d\.0: type {kind} modern {name} .*VIRTIO_OK")
            check(re.search("^" + line_re, listed, re.M),
                  f"hello did not list the {name} device by name")
        m.expect(r"^got 'x'")
        m.expect(r"^uptime")
        # hello ends with exit 0: the port's power-off (ACPI S5 on x86,
        # PSCI on arm, the test device on riscv) must stop QEMU itself.
        status = m.wait_exit(30)
        check(status == 0, f"QEMU exit status {status} after hello, want 0 (power-off)")
    return line


@test(configs=[Config("x86_64", "pci-modern")])
def hello_ram_above_4g(cfg):
    """5 GiB of RAM, 3 of them above 4 GiB, and a 1 GiB ivshmem BAR: SeaBIOS
    moves every 64-bit BAR above that RAM (the virtio structures at 8 GiB).
    The port's BAR windows (pci_windows, from the Multiboot memory map)
    start past the RAM, the library's probe takes the device there, and
    hello finds every BAR inside a window."""
    cmd = machine_args(cfg)
    cmd[cmd.index("-m") + 1] = "5G"
    args = ["-drive", "if=none,id=d0,file=null-co://,format=raw,size=1M"] + device_args(cfg, "virtio-blk", "drive=d0")
    args += ["-object", "memory-backend-ram,id=vtshm,size=1G", "-device", "ivshmem-plain,memdev=vtshm"]
    with Machine(cfg, elf(cfg.arch, "hello"), args, timeout=60, command=cmd) as m:
        m.expect(r"^hello from")
        m.write("x")
        w = m.expect(r"^x86: BAR windows mem ([0-9a-f]+)\+([0-9a-f]+) mem64 ([0-9a-f]+)\+([0-9a-f]+) ")
        mem, mem64 = int(w.group(1), 16), int(w.group(3), 16)
        check(0x7f000000 <= mem < 0x80000000 and mem64 == 0x1c0000000, f"windows around 5 GiB of RAM: {w.group(0)}")
        base = int(m.expect(r"^virtio-pci 00:0\d\.0: type 2 modern block base (0x[0-9a-f]+) \(VIRTIO_OK").group(1), 16)
        check(base >= mem64, f"the block device's structures at {base:#x}, not above the RAM at {mem64:#x}")
        m.expect(r"^uptime \d+ ms, 0 failure")
        check(m.wait_exit(30) == 0, "hello did not power off")


REACH = {"riscv64": 1 << 56, "aarch64": 1 << 40, "riscv32": 1 << 32, "armv7": 1 << 32, "armv7be": 1 << 32}


@test
def fdt_reader():
    import subprocess
    exe = os.path.join(qemu.workdir(), "fdt_check")
    port = os.path.join(ROOT, "examples", "port")
    cc = subprocess.run(["cc", "-std=c99", "-g", "-O1", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
                         "-fno-sanitize-recover=undefined", "-I" + port, os.path.join(port, "fdt_check.c"),
                         os.path.join(port, "fdt.c"), "-o", exe], capture_output=True, text=True)
    check(cc.returncode == 0, f"fdt_check does not build:\n{cc.stderr}")
    cases = [(Config(a, "pci-modern"), None) for a in REACH]
    off = machine_args(Config("aarch64", "pci-modern"))
    off[off.index("-machine") + 1] += ",highmem=off"
    cases.append((Config("aarch64", "pci-modern"), off))
    for cfg, command in cases:
        fdt = machine_fdt(cfg, command)
        path = os.path.join(qemu.workdir(), f"{cfg.arch}.dtb")
        with open(path, "wb") as f:
            f.write(fdt.blob)
        seed = random.randrange(1, 1 << 62)
        run = subprocess.run([exe, path, f"{REACH[cfg.arch]:x}", "3000", str(seed)], capture_output=True, text=True,
                             timeout=300)
        out = run.stdout
        check(run.returncode == 0, f"{cfg.arch}: fdt_check status {run.returncode} (seed {seed})\n{out}{run.stderr[-3000:]}")
        line = next((l for l in out.splitlines() if l.startswith("machine: ")), "")
        check_layout(cfg, line[len("machine: "):], fdt)
        irqs = {l[len("irq: "):] for l in out.splitlines() if l.startswith("irq: ")}
        want = expected_irqs(fdt, REACH[cfg.arch])
        check(irqs == want, f"{cfg.arch}: interrupts {sorted(irqs ^ want)} differ from QEMU's tree")
        check("damaged: 3000 walked" in out and "deep: 16 nodes walked" in out, f"{cfg.arch}: {out}")


@test(configs=[Config("riscv64", "pci-modern"), Config("riscv32", "pci-modern")])
def readme_quickstart(cfg):
    with Machine(cfg, elf(cfg.arch, "readme_quickstart"), timeout=60) as m:
        img = os.path.join(m.tmp, "disk.img")
        data = os.urandom(1 << 20)
        with open(img, "wb") as f:
            f.write(data)
        m.args = drive_args(img) + device_args(cfg, "virtio-blk", "drive=d0")
        m.start()
        got = m.expect(r"^VT README capacity=(\d+) crc=([0-9a-f]{8})")
        m.run_to_end(timeout=30)
    want = f"capacity={len(data) // 512} crc={zlib.crc32(data[:4096]):08x}"
    check(f"capacity={got.group(1)} crc={got.group(2)}" == want, f"the README's block read {got.group(0)}; the image says {want}")


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
