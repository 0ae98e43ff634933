#!/usr/bin/env python3
"""selftest.py - prove tests/qemu/qemu.py against real QEMU.

No guest of the project is needed: machines boot with no kernel (paused
with -S, or running SeaBIOS on x86), and a 268-byte riscv64 program
assembled below exercises the UART in both directions and the exit
status. Checked:
  - pattern() equals vt_pattern() of guest/vt.h (known answers computed
    from the C code), CRC and image helpers find the first wrong byte;
  - PPM parsing round-trips, the PNG writer's output re-parses with valid
    CRCs, and QEMU's own PNG screendump equals its PPM one;
  - the matrix, device_args() on every transport as QEMU sees it (PCI
    device IDs and BAR types, virtio-mmio register versions, packed=on),
    and that QEMU forces gpu/input PCI devices modern;
  - no default NIC (or disk) on any machine; QMP works on each arch;
  - screendump of the default console and of each head of a two-output
    virtio-gpu; input-send-event shapes, routing and refusals;
  - frames crossing QEMU byte for byte through -netdev dgram, stream and
    socket (UDP and TCP) peers, and set_link cutting them;
  - the serial line, VT protocol parsing and the exit status;
  - the hard timeout, exceptions and the `timeout -s KILL` backstop kill
    QEMU and its process group; the runner's output and exit status.

    python3 tests/qemu/selftest.py          # [-j N] [filter ...]
"""
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu  # noqa: E402
from qemu import (ARCHES, Config, Image, Machine, StreamPeer, UdpPeer, check, device_args,  # noqa: E402
                  matrix, test)

HERE = os.path.dirname(os.path.abspath(__file__))
ARCH_CFGS = [Config(a, "pci-modern") for a in ARCHES]


def expect_error(fn, what, rx=None):
    """fn() must raise (QMPError or ValueError); returns the message."""
    try:
        fn()
    except (qemu.QMPError, ValueError) as e:
        if rx:
            check(re.search(rx, str(e)), f"{what}: unexpected error {e}")
        return str(e)
    raise qemu.Failure(f"{what}: no error")


def gone(pid, pgid, within=10.0):
    end = time.monotonic() + within
    while time.monotonic() < end:
        if not qemu.pid_alive(pid) and not qemu.pgroup_alive(pgid):
            return True
        time.sleep(0.1)
    return False


# ---- host-only ---------------------------------------------------------

# vt_pattern(seed, offset, buf, 21) from guest/vt.h, compiled and run.
PATTERN_KAT = [
    (0x0, 0, "0000000000000000afcd1d7b39a820e2f465b9a16a"),
    (0x1, 3, "22b2116e106f9559fda69143201138fce9a8cbea31"),
    (0x123456789abcdef, 1000001, "e08beaba676f47160a8a540f72c4044a2ad6040d01"),
    (0xffffffffffffffff, 77, "993cc95d2e4c1ed03191adc64bd832b91823036c5d"),
]


@test
def pattern_matches_vt_h():
    for seed, off, want in PATTERN_KAT:
        check(qemu.pattern(seed, off, 21).hex() == want, f"pattern({seed:#x}, {off}) differs from vt_pattern")
    whole = qemu.pattern(99, 1000, 4096)
    for k in (1, 7, 8, 9, 4095):
        check(qemu.pattern(99, 1000 + k, 4096 - k) == whole[k:], f"pattern is not offset-consistent at {k}")
    check(qemu.pattern(5, 10, 0) == b"", "empty pattern")


@test
def image_helpers():
    img = qemu.tmp_path("disk.img")
    qemu.make_image(img, 3 * 1024 * 1024 + 5, pattern_seed=7)
    check(os.path.getsize(img) == 3 * 1024 * 1024 + 5, "image size")
    qemu.check_pattern(img, 0, os.path.getsize(img), 7)
    data = open(img, "rb").read()
    check(qemu.crc32_range(img, 12345, 2 * 1024 * 1024) == zlib.crc32(data[12345:12345 + 2 * 1024 * 1024]),
          "crc32_range")
    check(qemu.crc32(b"123456789") == 0xCBF43926, "CRC-32 check value")
    qemu.write_header(img, 0xDEADBEEF12345678, 2)
    check(qemu.read_range(img, 0, 20) == b"VTDISK01" + struct.pack("<QI", 0xDEADBEEF12345678, 2), "header")
    qemu.write_range(img, 1_000_003, b"\x00")
    try:
        qemu.check_pattern(img, 4096, 2 * 1024 * 1024, 7, "region")
    except qemu.Failure as e:
        check(f"{1_000_003:#x}" in str(e), f"wrong difference reported: {e}")
    else:
        raise qemu.Failure("a flipped byte went unnoticed")
    z = qemu.tmp_path("zero.img")
    qemu.make_image(z, 1 << 20)
    qemu.check_zero(z, 0, 1 << 20)
    check(qemu.first_difference(b"abc", b"abc") is None and qemu.first_difference(b"abc", b"abd") == 2
          and qemu.first_difference(b"ab", b"abc") == 2, "first_difference")


def sample_image(w=37, h=23):
    return Image(w, h, bytes((x * 7 + y * 13 + c * 101) & 255 for y in range(h) for x in range(w) for c in range(3)))


@test
def ppm_roundtrip():
    img = sample_image()
    back = qemu.parse_ppm(img.to_ppm())
    check(back == img and back.pixel(36, 22) == img.pixel(36, 22), "PPM round trip")
    check(img.pixel(2, 1) == ((2 * 7 + 13) & 255, (2 * 7 + 13 + 101) & 255, (2 * 7 + 13 + 202) & 255), "pixel()")
    commented = b"P6\n# made by hand\n37 # width\n23\n255\n" + img.rgb
    check(qemu.parse_ppm(commented) == img, "PPM with comments")
    expect_error(lambda: qemu.parse_ppm(img.to_ppm()[:-1]), "truncated PPM", "short")
    expect_error(lambda: qemu.parse_ppm(b"P3\n1 1\n255\n0 0 0\n"), "ASCII PPM")
    check(img.crop(3, 4, 5, 6).pixel(0, 0) == img.pixel(3, 4), "crop")
    red = Image(4, 2, b"\xff\0\0" * 8)
    check(red.is_uniform((255, 0, 0)) and red.count((255, 0, 0), 1, 0, 2, 2) == 4 and red.non_black() == 8, "count")


@test
def png_writer_output_is_valid():
    img = sample_image(300, 41)
    path = qemu.tmp_path("x.png")
    qemu.write_png(path, img)
    blob = open(path, "rb").read()
    check(blob[:8] == b"\x89PNG\r\n\x1a\n", "signature")
    pos, kinds = 8, []
    while pos < len(blob):
        n, kind = struct.unpack(">I4s", blob[pos:pos + 8])
        crc = struct.unpack(">I", blob[pos + 8 + n:pos + 12 + n])[0]
        check(zlib.crc32(blob[pos + 4:pos + 8 + n]) == crc, f"chunk {kind} CRC")
        kinds.append(kind)
        pos += 12 + n
    check(kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds, f"chunks {kinds}")
    check(struct.unpack(">IIBBBBB", blob[16:29]) == (300, 41, 8, 2, 0, 0, 0), "IHDR fields")
    check(qemu.read_png(path) == img, "PNG decodes to the same pixels")
    qemu.write_png(path, img.width, img.height, img.rgb)
    check(open(path, "rb").read() == blob, "both write_png signatures agree")
    bad = bytearray(blob)
    bad[40] ^= 1
    expect_error(lambda: qemu.read_png(bytes(bad)), "corrupt PNG", "CRC")


@test
def matrix_and_arguments():
    names = [c.name for c in matrix()]
    check(len(names) == 13 and len(set(names)) == 13, f"matrix: {names}")
    check("riscv64-mmio-modern-packed" in names and "x86_64-pci-legacy-split" in names, "names")
    check(not any(c.legacy and c.packed for c in matrix()), "legacy + packed in matrix")
    check(not any(c.arch == "x86_64" and c.mmio for c in matrix()), "mmio on x86")
    for kind in ("gpu", "virtio-tablet", "keyboard-pci"):
        check(all(c.transport != "pci-legacy" for c in matrix(kind)) and len(matrix(kind)) == 12, f"matrix({kind})")
    check(len(matrix("virtio-blk")) == 13 and len(matrix(modern_only=True)) == 12, "matrix kinds")
    check(Config.parse("aarch64-mmio-legacy-split") == Config("aarch64", "mmio-legacy"), "Config.parse")
    c = Config("x86_64", "pci-modern", True)
    check(device_args(c, "virtio-blk", "drive=d0", id="v") ==
          ["-device", "virtio-blk-pci,disable-legacy=on,disable-modern=off,packed=on,id=v,drive=d0"], "pci-modern args")
    check(qemu.device(Config("x86_64", "pci-legacy"), "net") ==
          ["-device", "virtio-net-pci,disable-legacy=off,disable-modern=on"], "pci-legacy args")
    check(device_args(Config("riscv64", "mmio-legacy"), "gpu") == ["-device", "virtio-gpu-device"], "mmio args")
    expect_error(lambda: device_args(Config("x86_64", "pci-legacy"), "gpu"), "legacy gpu")
    mv = qemu.machine_args(Config("x86_64", "mmio-modern"))
    check(mv[mv.index("-machine") + 1] == "microvm" and device_args(Config("x86_64", "mmio-modern"), "blk") ==
          ["-device", "virtio-blk-device"] and qemu.mmio_window(Config("i686", "mmio-legacy")) == qemu.MICROVM_MMIO,
          f"x86 virtio-mmio is microvm: {mv}")
    base = qemu.machine_args(Config("riscv64", "mmio-modern"))
    for must in ("-nodefaults", "-no-reboot", "virtio-mmio.force-legacy=false"):
        check(must in base, f"machine_args lacks {must}")
    check(base[base.index("-nic") + 1] == "none", "-nic none")
    for bad in (["-netdev", "user,id=n0"], ["-nic", "user"], ["-net", "nic"],
                ["-netdev", "dgram,id=n,remote.type=inet,remote.host=10.0.2.2,remote.port=5"],
                ["-netdev", "socket,id=n,connect=192.168.1.1:4000"], ["-netdev", "tap,id=n"],
                ["-netdev", "stream,id=n,server=on,addr.type=inet,addr.host=0.0.0.0,addr.port=9"]):
        expect_error(lambda: qemu.check_command_line(bad), f"accepted {bad}", "refusing")
    with UdpPeer() as u, StreamPeer() as t:
        qemu.check_command_line(["-netdev", u.netdev("a"), "-netdev", t.netdev("b"),
                                 "-netdev", UdpPeer("socket").netdev("c"), "-nic", "none"])


@test
def udp_peer_receives_own_datagram():
    with UdpPeer() as peer:
        # Play QEMU: send from the port the netdev would use.
        fake = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        fake.bind(("127.0.0.1", peer.qemu_port))
        stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            frame = qemu.ether_frame("ff:ff:ff:ff:ff:ff", "52:54:00:00:00:01", 0x88B5, bytes(range(46)))
            stranger.sendto(b"not from qemu", ("127.0.0.1", peer.port))
            fake.sendto(frame, ("127.0.0.1", peer.port))
            check(peer.recv(5) == frame, "datagram differs")
            check(peer.ignored == 1, "a datagram from another port was not ignored")
            peer.send(b"back")
            check(fake.recvfrom(100) == (b"back", ("127.0.0.1", peer.port)), "send() goes to qemu_port")
        finally:
            fake.close()
            stranger.close()
        try:
            peer.recv(0.3)
        except qemu.Timeout:
            pass
        else:
            raise qemu.Failure("recv() did not time out")
    check(len({qemu.free_port() for _ in range(20)}) == 20, "free_port repeated a port")


@test
def runner_reports_and_exits():
    script = qemu.tmp_path("runner_demo.py")
    with open(script, "w") as f:
        f.write(textwrap.dedent(f"""
            import sys; sys.path.insert(0, {HERE!r})
            import qemu
            from qemu import Config, check
            def test_ok(cfg): pass
            def test_bad(cfg): check(cfg.arch != "aarch64", "aarch64 says no\\nsecond line")
            def test_skip(cfg): return "SKIP: not here" if cfg.packed else None
            def test_boom(cfg):
                if cfg.arch == "x86_64": raise KeyError("boom")
            sys.exit(qemu.run([test_ok, test_bad, test_skip, test_boom],
                              [Config("riscv64", "pci-modern"), Config("aarch64", "mmio-modern", True),
                               Config("x86_64", "pci-legacy")]))
            """))

    def run(*args, env=None):
        e = dict(os.environ, **(env or {}))
        e.pop("VT_FILTER", None)
        e.update(env or {})
        p = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, timeout=60, env=e)
        return p.returncode, p.stdout.splitlines()

    rc, out = run()
    verdicts = sorted(l.split(" (")[0] for l in out if l.split(" ", 1)[0] in ("PASS", "FAIL", "SKIP"))
    check(rc == 1, f"exit status {rc} with failures")
    check(out[-1] == "9 passed, 2 failed, 1 skipped", f"summary {out[-1]!r}")
    check("FAIL test_bad [aarch64-mmio-modern-packed]" in verdicts and
          "SKIP test_skip [aarch64-mmio-modern-packed]" in verdicts and
          "FAIL test_boom [x86_64-pci-legacy-split]" in verdicts, f"verdicts {verdicts}")
    check(any(l.startswith("    | second line") for l in out), "failure details not indented")
    check(all(not l.startswith(("PASS", "FAIL", "SKIP")) or "[" in l for l in out), "odd result line")
    rc, out = run("riscv64")
    check(rc == 0 and out[-1] == "4 passed, 0 failed", f"argv filter: {rc} {out[-1:]}")
    rc, out = run(env={"VT_FILTER": "test_ok", "VT_JOBS": "1"})
    check(rc == 0 and out[-1] == "3 passed, 0 failed", f"VT_FILTER: {rc} {out[-1:]}")
    rc, out = run("nomatch")
    check(rc == 1 and out[-1] == "0 passed, 0 failed", f"nothing selected: {rc} {out[-1:]}")


# ---- QEMU: machines, transports ------------------------------------------

@test(configs=ARCH_CFGS)
def qmp_and_no_default_devices(cfg):
    with Machine(cfg, args=["-S"], timeout=60) as m:
        m.start()
        check(m.status() == "prelaunch", f"status {m.status()}")
        check(m.qemu_version["major"] >= 7, f"QEMU {m.qemu_version}")
        check(m.qmp("query-block") == [], "a default drive exists")
        check(m.hmp("info network").strip() == "", f"network: {m.hmp('info network')}")
        qtree = m.hmp("info qtree")
        for nic in ("e1000", "virtio-net", "rtl8139", "ne2k", "VGA", "ide-cd"):
            check(f"dev: {nic}" not in qtree, f"default device {nic} present")
        if cfg.arch == "x86_64":
            check(not any(d["class"] == 0x0200 for d in m.pci_devices()), "a PCI NIC exists")
        check(m.pid and qemu.pid_alive(m.pid) and os.getpgid(m.pid) == m.pgid, "PID / process group")
        pid, pgid = m.pid, m.pgid
    check(gone(pid, pgid), "QEMU still running after the with block")


@test(configs=matrix("virtio-blk"))
def transport_as_qemu_sees_it(cfg):
    img = qemu.make_image(qemu.tmp_path("d.img"), 1 << 20)
    args = ["-S"] + qemu.drive_args(img, "d0") + device_args(cfg, "blk", "drive=d0", id="vd0")
    args += device_args(cfg, "virtio-rng", id="rng0")
    with Machine(cfg, args=args, timeout=60) as m:
        m.start()
        if cfg.mmio:
            devs = m.mmio_devices()
            check(sorted(d["device_id"] for d in devs) == [2, 4], f"mmio devices {devs}")
            want = 1 if cfg.legacy else 2
            check(all(d["version"] == want for d in devs), f"mmio versions {devs}, want {want}")
            backend = "/machine/peripheral/vd0"
        else:
            vdevs = {d["qdev_id"]: d for d in m.pci_devices() if d["vendor"] == 0x1AF4}
            blk = vdevs["vd0"]
            want = 0x1001 if cfg.legacy else 0x1042
            check(blk["device"] == want, f"PCI id {blk['device']:#x}, want {want:#x}")
            check(vdevs["rng0"]["device"] == (0x1005 if cfg.legacy else 0x1044), "rng PCI id")
            io_bar = any(r["type"] == "io" for r in blk["regions"])
            check(io_bar == cfg.legacy, f"legacy I/O BAR present={io_bar}")
            backend = "/machine/peripheral/vd0/virtio-backend"
        check(m.qom_get(backend, "packed") == cfg.packed, "packed property")


@test
def gpu_and_input_pci_are_modern_only():
    args = ["-S", "-device", "virtio-gpu-pci,disable-modern=on,disable-legacy=off,id=g",
            "-device", "virtio-keyboard-pci,disable-modern=on,disable-legacy=off,id=k"]
    with Machine("x86_64", args=args, timeout=60) as m:
        ids = {d["qdev_id"]: d["device"] for d in m.pci_devices() if d["vendor"] == 0x1AF4}
    check(ids == {"g": 0x1050, "k": 0x1052}, f"QEMU built {ids}")


# ---- QEMU: display and input ---------------------------------------------

@test
def screendump_x86_heads():
    args = ["-vga", "std", "-device", "virtio-gpu-pci,id=gpu0,max_outputs=2", "-boot", "reboot-timeout=-1"]
    with Machine("x86_64", args=args, timeout=90) as m:
        m.start()
        end = time.monotonic() + 60
        while True:   # SeaBIOS switches the VGA to 720x400 text and prints
            img = m.screendump()
            if (img.width, img.height) == (720, 400) and img.non_black() > 500:
                break
            check(time.monotonic() < end, f"SeaBIOS text never appeared (last {img}, {img.non_black()} lit)")
            time.sleep(0.5)
        keep = qemu.tmp_path("kept.ppm")
        again = m.screendump(keep)
        check(os.path.exists(keep) and again.width == 720, "screendump(path) keeps the file")
        check(len(img.colors()) >= 2, "a one-colour text screen")
        heads = [m.screendump(device="gpu0", head=h) for h in (0, 1)]
        for h, im in enumerate(heads):
            # An inactive virtio-gpu output shows QEMU's 640x480 placeholder text.
            check((im.width, im.height) == (640, 480) and 0 < im.non_black() < im.width * im.height // 10,
                  f"gpu0 head {h}: {im}, {im.non_black()} lit")
        expect_error(lambda: m.screendump(device="gpu0", head=2), "head 2", "not bound")
        expect_error(lambda: m.screendump(device="nosuch"), "unknown device", "not found")
        png = qemu.tmp_path("qemu.png")
        for attempt in range(6):   # back to back; a blinking text cursor may differ
            m.qmp("screendump", filename=png, format="png")
            ppm = m.screendump()
            if qemu.read_png(png) == ppm:
                break
        else:
            raise qemu.Failure("QEMU's PNG screendumps never equal its PPM ones")
        out = qemu.tmp_path("ours.png")
        ppm.save_png(out)
        check(qemu.read_png(out) == ppm, "our PNG of the screendump differs")


@test
def input_send_event_shapes():
    args = ["-device", "virtio-gpu-pci,id=gpu0,max_outputs=2",
            "-device", "virtio-tablet-pci,id=tab,display=gpu0,head=1",
            "-device", "virtio-keyboard-pci,id=kbd", "-device", "virtio-mouse-pci,id=mouse"]
    with Machine("x86_64", args=args, timeout=60) as m:
        m.start()
        m.send_key("a")
        m.send_key("shift", True)
        m.send_key("shift", False)
        m.send_key(30)                      # a raw key number
        m.send_btn("left", True)
        m.send_btn("left", False)
        m.send_btn("wheel-up")
        m.send_rel(5, -3)
        m.send_abs(0, m.ABS_MAX, device="gpu0", head=1)   # the tablet bound to head 1
        expect_error(lambda: m.send_abs(1, 1), "abs with no unbound tablet", "handler not found")
        expect_error(lambda: m.send_abs(1, 1, device="tab"), "input device as device", "not bound")
        expect_error(lambda: m.send_key("nosuchkey"), "bad qcode", "nosuchkey")
        m.qmp("stop")
        expect_error(lambda: m.send_key("a"), "paused VM", "not running")


# ---- QEMU: networking -----------------------------------------------------

NET_PAIRS = [("dgram", "dgram"), ("socket", "stream"), ("dgram", "socket-tcp")]


def make_peer(kind):
    return {"dgram": lambda: UdpPeer("dgram"), "socket": lambda: UdpPeer("socket"),
            "stream": lambda: StreamPeer("stream"), "socket-tcp": lambda: StreamPeer("socket")}[kind]()


def netdev_loop(a_kind, b_kind):
    """Two peers joined through a QEMU hub: frames cross QEMU's backends."""
    with make_peer(a_kind) as a, make_peer(b_kind) as b:
        args = ["-netdev", a.netdev("na"), "-netdev", b.netdev("nb"),
                "-netdev", "hubport,id=ha,hubid=0,netdev=na", "-netdev", "hubport,id=hb,hubid=0,netdev=nb"]
        with Machine("riscv64", args=args, timeout=60) as m:   # no kernel: the CPU spins, the VM runs
            m.start()
            if isinstance(b, StreamPeer):
                b.accept(20)
                if b.backend == "stream":
                    # QEMU connects while it starts up, and an event sent
                    # before the QMP handshake reaches nobody: the event,
                    # or 2 s after our accept. The frames below prove it.
                    try:
                        m.wait_event("NETDEV_STREAM_CONNECTED", 2)
                    except qemu.Timeout:
                        pass
            sizes = [60, 61, 1514, 9000, 64]
            for i, n in enumerate(sizes):
                f = bytes((i * 31 + k) & 255 for k in range(n))
                a.send(f)
                check(b.recv(10) == f, f"{a_kind}->{b_kind}: frame {i} ({n} bytes) differs")
                g = f[::-1]
                b.send(g)
                check(a.recv(10) == g, f"{b_kind}->{a_kind}: frame {i} ({n} bytes) differs")
            m.set_link("na", False)
            a.send(b"\x01" * 60)
            try:
                got = b.recv(1.5)
            except qemu.Timeout:
                got = None
            check(got is None, "a frame crossed a link that is down")
            m.set_link("na", True)
            a.send(b"\x02" * 60)
            check(b.recv(10) == b"\x02" * 60, "no frame after the link came back")


for _a, _b in NET_PAIRS:
    test(name=f"netdev_{_a}_to_{_b.replace('-', '_')}")(lambda _a=_a, _b=_b: netdev_loop(_a, _b))


# ---- QEMU: serial, exit status, timeouts -----------------------------------

def rv64_echo_program(hello: str, end: str, code: int) -> bytes:
    """Bare-metal riscv64 (virt, -bios none, M-mode at 0x80000000): print
    `hello` on the NS16550A, echo every byte received until 'q', print
    `end`, then power off through the sifive test device with `code`."""
    def i_(op, rd, f3, rs1, imm):
        return ((imm & 0xFFF) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op

    def s_(f3, rs1, rs2, imm):
        return (((imm >> 5) & 0x7F) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 0x1F) << 7) | 0x23

    def b_(f3, rs1, rs2, off):
        o = off & 0x1FFF
        return ((((o >> 12) & 1) << 31) | (((o >> 5) & 0x3F) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12)
                | (((o >> 1) & 0xF) << 8) | (((o >> 11) & 1) << 7) | 0x63)

    def lui(rd, imm20):
        return ((imm20 & 0xFFFFF) << 12) | (rd << 7) | 0x37

    zero, t0, t1, t2, s0 = 0, 5, 6, 7, 8
    w = [lui(s0, 0x10000)]                            # s0 = UART

    def puts(s):
        for ch in s.encode():
            w.extend([i_(0x13, t0, 0, zero, ch), s_(0, s0, t0, 0)])   # li t0, ch; sb t0, 0(s0)

    puts(hello)
    loop = len(w)
    w.append(i_(0x03, t0, 4, s0, 5))                  # lbu t0, 5(s0)  (LSR)
    w.append(i_(0x13, t0, 7, t0, 1))                  # andi t0, t0, 1 (data ready)
    w.append(b_(0, t0, zero, (loop - len(w)) * 4))    # beqz t0, loop
    w.append(i_(0x03, t1, 4, s0, 0))                  # lbu t1, 0(s0)  (RBR)
    w.append(s_(0, s0, t1, 0))                        # sb t1, 0(s0)   (echo)
    w.append(i_(0x13, t2, 0, zero, ord("q")))         # li t2, 'q'
    w.append(b_(1, t1, t2, (loop - len(w)) * 4))      # bne t1, t2, loop
    puts(end)
    v = (code << 16) | 0x3333 if code else 0x5555
    lo = v & 0xFFF
    lo -= 0x1000 if lo >= 0x800 else 0
    w += [lui(t0, 0x100), lui(t1, (v - lo) >> 12), i_(0x13, t1, 0, t1, lo), s_(2, t0, t1, 0)]   # sw v, 0x100000
    w.append(0x0000006F)                              # j .
    return struct.pack(f"<{len(w)}I", *w)


@test
def serial_protocol_and_exit_status():
    prog = qemu.tmp_path("echo.bin")
    with open(prog, "wb") as f:
        f.write(rv64_echo_program("boot noise\nVT HELLO riscv64 a=1 b=two\n", "\nVT END 0\n", 3))
    with Machine(Config("riscv64", "mmio-legacy"), prog, timeout=60) as m:
        check(m.read_line(30) == "boot noise", "first line")       # read_line() starts the machine
        hello = m.expect(r"^VT HELLO (\S+) (.*)")
        check(hello.group(1) == "riscv64" and qemu.kv(hello.group(2)) == {"a": "1", "b": "two"}, "HELLO")
        check(m.read_line(0.5) is None, "read_line() did not time out with None")
        m.write("VT PING 1\n")
        m.write(b"VT PING 2\nVT FAIL pretend\n")
        check(m.expect(r"^VT PING (\d)").group(1) == "1", "echo 1")
        try:
            m.expect(r"^VT NEVER")
        except qemu.Failure as e:
            check("VT FAIL pretend" in str(e).splitlines()[0], f"expect() did not stop at VT FAIL: {e}")
        else:
            raise qemu.Failure("expect() read past VT FAIL")
        m.write("no newline then q")
        res = m.collect(30)
        rc = m.wait_exit(30)
        check(rc == 3 and qemu.exit_code("riscv64", rc) == 3, f"exit status {rc}, want 3")
        check(("END", "0") in res and ("PING", "2") in res and qemu.find(res, "FAIL") == ["pretend"],
              f"results {res}")
        lines = m.lines
        check(lines[0] == "boot noise" and "no newline then q" in lines and lines[-1] == "VT END 0",
              f"lines {lines}")
        t = m.transcript
        check(t.startswith("boot noise\nVT HELLO") and t.endswith("VT END 0\n") and str(t) == t.text
              and t.splitlines() == lines == list(t) and t[0] == "boot noise" and t[-1] == "VT END 0"
              and "VT PING 2" in t and "newline then" in t and "absent" not in t, "transcript list/text")
    try:
        qemu.check_transcript(lines, "echo")
    except qemu.Failure as e:
        msg = str(e)
        check(msg.splitlines()[0] == "echo: guest: VT FAIL pretend" and "VT HELLO riscv64" in msg,
              f"check_transcript message: {msg[:200]}")
    else:
        raise qemu.Failure("check_transcript passed a VT FAIL")
    for text, why in (("VT HELLO x\n", "no VT END"), ("VT END 2\n", "VT END 2")):
        try:
            qemu.check_transcript(text)
        except qemu.Failure as e:
            check(why in str(e), f"check_transcript: {e}")
        else:
            raise qemu.Failure(f"check_transcript passed {text!r}")
    check(qemu.check_transcript("x\nVT A b c\nVT END 0\n") == [("A", "b c"), ("END", "0")], "check_transcript ok")
    # The same program through run_to_end(), with exit code 0.
    with open(prog, "wb") as f:
        f.write(rv64_echo_program("VT READY\n", "VT DONE x=1\nVT END 0\n", 0))
    with Machine("riscv64", prog, timeout=60) as m:
        m.expect(r"^VT READY")
        m.write("q")
        res = m.run_to_end(30)
        check(m.returncode == 0 and res[-1] == ("END", "0"), f"run_to_end: {m.returncode} {res}")


@test
def when_machines_start():
    with Machine("riscv64", args=["-S"], timeout=60) as m:      # args given: started by `with`
        check(m.running() and m.pid, "not started on entering the with block")
    with Machine("riscv64", timeout=60) as m:                    # no args: waits for them
        check(not m.running(), "started before its arguments were set")
        m.args = ["-S", "-name", "late-args"]
        m.start()
        check("late-args" in m.cmd and m.running(), "start() after setting m.args")
        pid = m.pid
        m.start()
        check(m.pid == pid, "a second start() started another QEMU")
    with Machine("riscv64", args=["-S"], timeout=60, start=False) as m:
        check(not m.running(), "start=False")
        check(m.status() == "prelaunch", "first QMP call did not start it")


@test
def timeout_kills_hung_qemu():
    with Machine("aarch64", args=["-S"], timeout=3) as m:
        m.start()
        pid, pgid = m.pid, m.pgid
        t0 = time.monotonic()
        check(m.read_line(60) is None, "a line from a paused machine")
        check(m.timed_out, "watchdog did not fire")
        check(time.monotonic() - t0 < 50, "read_line() outlived the machine's deadline")
        try:
            m.expect("anything", timeout=5)
        except qemu.Timeout as e:
            check("limit" in str(e), f"timeout message: {e}")
        check(gone(pid, pgid), "QEMU alive after its time limit")
        check(m.returncode == -signal.SIGKILL, f"return code {m.returncode}")
    # An exception inside the block kills it too.
    try:
        with Machine("riscv64", args=["-S"], timeout=60) as m:
            m.start()
            pid, pgid = m.pid, m.pgid
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    check(gone(pid, pgid), "QEMU alive after KeyboardInterrupt in its with block")
    check(m not in qemu._live, "killed machine still registered")
    # wait_exit() on a machine that never exits kills it and raises.
    with Machine("riscv64", args=["-S"], timeout=60) as m:
        m.start()
        try:
            m.wait_exit(1)
        except qemu.Timeout:
            pass
        else:
            raise qemu.Failure("wait_exit() returned for a paused machine")
        check(gone(m.pid, m.pgid), "wait_exit() left QEMU running")


@test
def backstop_outlives_the_runner():
    """SIGKILL the Python process that owns a QEMU: `timeout -s KILL`
    still ends QEMU BACKSTOP_GRACE seconds after its limit."""
    code = textwrap.dedent(f"""
        import os, signal, sys; sys.path.insert(0, {HERE!r})
        import qemu
        qemu.Machine._on_timeout = lambda self: None     # no watchdog: only the backstop
        m = qemu.Machine("riscv64", args=["-S"], timeout=1, tmp={qemu.workdir()!r})
        m.start()
        print(m.pid, m.pgid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    check(p.returncode == -signal.SIGKILL, f"child status {p.returncode}: {p.stderr}")
    pid, pgid = map(int, p.stdout.split())
    check(qemu.pid_alive(pid), "QEMU died with its runner: nothing left to prove")
    check(gone(pid, pgid, within=qemu.BACKSTOP_GRACE + 20), "orphaned QEMU outlived its backstop")


if __name__ == "__main__":
    qemu.main()
