#!/usr/bin/env python3
"""The emulator-harness user: a Linux process drives QEMU's real devices.

examples/harness/harness (built here with ASan and UBSan) runs on the host
and reaches QEMU's virtio-blk and virtio-net through the qtest socket,
with guest RAM shared through a memory-backend-file; no guest code runs.
Per configuration (riscv64 and aarch64 virt: virtio-mmio legacy/modern and
PCI modern/legacy; x86_64 q35: PCI modern/legacy; split and packed rings):

  * the machine's layout comes from the device tree QEMU generates
    (-machine dumpdtb) on virt, and from q35's fixed map on x86; PCI BARs
    are assigned by virtio_pci_assign() (there is no firmware);
  * blk: the harness reads ranges the host wrote into the image (one
    blocking read through bounce buffers, 48 reads in flight at once into
    guest-RAM buffers), compared byte for byte; it writes a random range
    and flushes; after QEMU quits, the image holds exactly that range and
    is unchanged everywhere else;
  * net: frames the harness sends arrive at a 127.0.0.1 peer (stream or
    dgram backend) byte for byte and in order; frames the peer sends come
    back out of the harness byte for byte;
  * the device reports what QEMU was told (capacity, serial, MAC), on the
    transport and ring format asked for; every byte of DMA and private
    memory and every bounce buffer is given back after shutdown; the
    library logged no error; the CPU is still parked in its loop.

The CPU is parked because Debian's QEMU has no qtest accelerator: QEMU
runs TCG with a -bios image of two instructions, "wait for interrupt;
jump back". Interrupts are masked at reset (riscv mie = 0, aarch64 DAIF,
x86 IF = 0) and no firmware unmasks them, so the vCPU sleeps in WFI/HLT
and costs no host CPU; if anything woke it, it would only loop back. The
code sits in flash (aarch64), the BIOS ROM (x86) or in RAM below the DMA
pool (riscv64, where -bios loads at the start of RAM), and touches no
memory. The
machine is running, not paused: QEMU's virtio-net moves frames only while
the VM runs.

    python3 tests/harness/test_harness.py [filter]      # e.g. riscv64-pci
"""
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "qemu"))
from qemu import (Config, Fail, Machine, StreamPeer, UdpPeer, check, device_args, fail, main,  # noqa: E402
                  qemu_binary, test, workdir)

HARNESS = os.path.join(ROOT, "build", "harness", "harness")
SOURCES = [os.path.join(ROOT, "examples", "harness", n) for n in ("harness.c", "qtest.c", "qtest.h")]
HEADERS = [os.path.join(ROOT, n) for n in ("virtio.h", "virtio_blk.h", "virtio_net.h")]
CFLAGS = ("-std=c99 -Wall -Wextra -Werror -pedantic -Wundef -Wshadow -Wcast-align -Wsign-conversion "
          "-Wstrict-prototypes -Wmissing-prototypes -O1 -g -fsanitize=address,undefined "
          "-fno-sanitize-recover=undefined").split()

MiB = 1 << 20
RAM_SIZE = 64 * MiB
# The DMA pool inside guest RAM: clear of what QEMU puts there itself (the
# riscv64 -bios image at the start of RAM and the device tree near its end;
# the aarch64 device tree at the start of RAM; nothing on x86 q35 above 1 MiB).
POOL_OFF, POOL_SIZE = 4 * MiB, 32 * MiB
DISK_SIZE = 16 * MiB
READ_SECTOR, READ_LEN = 100, 192 * 1024         # one blocking read
READV_SECTOR, READV_N = 1000, 48                # 48 x 4 KiB in flight
WRITE_SECTOR, WRITE_LEN = 4096, 256 * 1024      # written by the harness
NET_FRAMES = 24

# The parking -bios images: wait for an interrupt, jump back to it.
PARK = {
    "riscv64": struct.pack("<II", 0x10500073, 0xffdff06f),    # wfi; j .-4
    "aarch64": struct.pack("<II", 0xd503207f, 0x17ffffff),    # wfi; b .-4
    # x86: 64 KiB at 4 GiB - 64 KiB; the reset vector (last 16 bytes) is
    # cli; hlt; jmp .-1 (back to the hlt).
    "x86_64": b"\xff" * 0xfff0 + b"\xfa\xf4\xeb\xfd" + b"\xff" * 12,
}
# Where the program counter may be while parked (inclusive range).
PARK_PC = {"riscv64": (0x80000000, 0x80000004), "aarch64": (0, 4), "x86_64": (0xfff0, 0xfff3)}

# x86_64 q35 (QEMU 7.2 hw/i386/pc_q35.c, hw/pci-host/q35.c): RAM from 0;
# PCI configuration through ports 0xcf8/0xcfc (the MMCONFIG window stays
# off without firmware); PCI memory answers wherever RAM and the chipset do
# not (the PCI address space underlies all of system memory), and these
# are SeaBIOS's choices: 32-bit BARs from 0xc0000000 up to the I/O APIC at
# 0xfec00000, I/O ports 0xc000-0xffff.
Q35 = {"ram": 0, "mmio": None, "ecam": None, "pio": None,
       "io": (0xc000, 0x4000), "mem32": (0xc0000000, 0xfec00000 - 0xc0000000), "mem64": None}

CONFIGS = [Config(*c) for c in (
    ("riscv64", "mmio-legacy", False), ("riscv64", "mmio-modern", False), ("riscv64", "mmio-modern", True),
    ("riscv64", "pci-modern", False), ("riscv64", "pci-modern", True), ("riscv64", "pci-legacy", False),
    ("aarch64", "mmio-legacy", False), ("aarch64", "pci-modern", True), ("aarch64", "pci-legacy", False),
    ("x86_64", "pci-modern", False), ("x86_64", "pci-modern", True), ("x86_64", "pci-legacy", False))]


# ---- the harness binary ------------------------------------------------------

_build_lock = threading.Lock()


def build():
    """Build build/harness/harness if a source or header is newer."""
    with _build_lock:
        newest = max(os.path.getmtime(p) for p in SOURCES + HEADERS)
        if os.path.exists(HARNESS) and os.path.getmtime(HARNESS) >= newest:
            return
        os.makedirs(os.path.dirname(HARNESS), exist_ok=True)
        cmd = ["gcc"] + CFLAGS + ["-o", HARNESS] + [s for s in SOURCES if s.endswith(".c")]
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise Fail(f"building the harness failed:\n{' '.join(cmd)}\n{r.stdout}{r.stderr}")


# ---- the machine's layout from its device tree -------------------------------

def parse_fdt(blob: bytes) -> dict:
    """Flattened device tree -> {path: {property: bytes}}."""
    magic, _total, off_struct, off_strings = struct.unpack_from(">4I", blob, 0)
    check(magic == 0xd00dfeed, "not a device tree blob")
    nodes, path, pos = {}, [], off_struct
    while True:
        tok = struct.unpack_from(">I", blob, pos)[0]
        pos += 4
        if tok == 1:                      # begin node: name, NUL, padding
            end = blob.index(b"\0", pos)
            path.append(blob[pos:end].decode())
            nodes["/".join(path) or "/"] = {}
            pos = (end + 4) & ~3
        elif tok == 2:                    # end node
            path.pop()
        elif tok == 3:                    # property: length, name offset, value
            length, nameoff = struct.unpack_from(">II", blob, pos)
            name = blob[off_strings + nameoff:blob.index(b"\0", off_strings + nameoff)].decode()
            nodes["/".join(path) or "/"][name] = blob[pos + 8:pos + 8 + length]
            pos = (pos + 8 + length + 3) & ~3
        elif tok == 4:                    # nop
            continue
        elif tok == 9:                    # end
            return nodes
        else:
            raise Fail(f"device tree: bad token {tok}")


def cells(value: bytes, sizes) -> list:
    """Split a property into records of numbers, each `sizes` cells wide."""
    words = struct.unpack(f">{len(value) // 4}I", value)
    out, i = [], 0
    while i < len(words):
        rec = []
        for n in sizes:
            v = 0
            for w in words[i:i + n]:
                v = v << 32 | w
            rec.append(v)
            i += n
        out.append(rec)
    return out


_layouts = {}


def machine_opts(arch: str) -> list:
    return {"riscv64": ["-machine", "virt,memory-backend=ram0"],
            "aarch64": ["-machine", "virt,memory-backend=ram0", "-cpu", "cortex-a57"],
            "x86_64": ["-machine", "q35,memory-backend=ram0"]}[arch]


def layout(arch: str) -> dict:
    """RAM, virtio-mmio slots, ECAM, I/O window and memory windows, as QEMU
    describes them in the device tree it builds for this machine (one
    dumpdtb run per architecture)."""
    if arch == "x86_64":
        return Q35
    with _build_lock:
        if arch in _layouts:
            return _layouts[arch]
        d = tempfile.mkdtemp(prefix="dtb", dir=workdir())
        dtb = os.path.join(d, "machine.dtb")
        opts = machine_opts(arch)
        opts[1] = opts[1].replace("memory-backend=ram0", f"dumpdtb={dtb}")
        r = subprocess.run(["timeout", "-s", "KILL", "30", qemu_binary(arch)] + opts +
                           ["-m", str(RAM_SIZE // MiB) + "M", "-nodefaults", "-display", "none", "-accel", "tcg"],
                           capture_output=True, text=True, timeout=60)
        check(os.path.exists(dtb), f"QEMU wrote no device tree: {r.stderr}")
        nodes = parse_fdt(open(dtb, "rb").read())
        root = nodes["/"]
        ac, sc = (struct.unpack(">I", root[k])[0] for k in ("#address-cells", "#size-cells"))
        lay = {"mmio": None, "ecam": None, "pio": None, "io": None, "mem32": None, "mem64": None}
        mems = [cells(p["reg"], (ac, sc))[0] for n, p in nodes.items() if n.split("/")[-1].startswith("memory@")]
        check(len(mems) == 1 and mems[0][1] == RAM_SIZE, f"device tree memory: {mems}")
        lay["ram"] = mems[0][0]
        slots = sorted(cells(p["reg"], (ac, sc))[0][0] for p in nodes.values()
                       if b"virtio,mmio" in p.get("compatible", b""))
        if slots:
            stride = slots[1] - slots[0]
            check(slots == [slots[0] + i * stride for i in range(len(slots))], f"virtio-mmio slots {slots}")
            lay["mmio"] = (slots[0], stride, len(slots))
        for p in nodes.values():
            if b"pci-host-ecam-generic" not in p.get("compatible", b""):
                continue
            lay["ecam"] = cells(p["reg"], (ac, sc))[0][0]
            pac = struct.unpack(">I", p["#address-cells"])[0]
            for addr, cpu, size in cells(p["ranges"], (pac, ac, sc)):
                kind, pci = (addr >> 88) & 3, addr & ((1 << 64) - 1)   # phys.hi bits 24-25: space
                if kind == 1:     # I/O: ports pci.. appear in memory at cpu..
                    lay["pio"], lay["io"] = cpu, (pci, size)
                else:             # memory: the windows map 1:1 on virt
                    check(pci == cpu, f"PCI memory window not identity-mapped: {pci:#x} at {cpu:#x}")
                    lay["mem32" if kind == 2 else "mem64"] = (cpu, size)
        check(lay["mmio"] and lay["ecam"] and lay["pio"] is not None and lay["mem32"],
              f"device tree lacks something the harness needs: {lay}")
        _layouts[arch] = lay
        return lay


def harness_args(cfg: Config, lay: dict, sock: str, ram: str) -> list:
    a = ["--qtest", sock, "--ram", f"{ram}:{lay['ram']:#x}:{RAM_SIZE:#x}", "--pool", f"{POOL_OFF:#x}:{POOL_SIZE:#x}",
         "--transport", "mmio" if cfg.mmio else "pci", "--ring", "packed" if cfg.packed else "split"]
    if cfg.mmio:
        a += ["--mmio", "%#x:%#x:%d" % lay["mmio"]]
    else:
        for key in ("ecam", "pio"):
            if lay[key] is not None:
                a += [f"--{key}", f"{lay[key]:#x}"]
        for key in ("io", "mem32", "mem64"):
            if lay[key]:
                a += [f"--{key}", "%#x:%#x" % lay[key]]
    return a


# ---- one run -------------------------------------------------------------------

def frames_file(path: str, frames: list):
    with open(path, "wb") as f:
        for fr in frames:
            f.write(struct.pack(">I", len(fr)) + fr)


def read_frames(path: str) -> list:
    data, out, pos = open(path, "rb").read(), [], 0
    while pos < len(data):
        n = struct.unpack_from(">I", data, pos)[0]
        out.append(data[pos + 4:pos + 4 + n])
        pos += 4 + n
    return out


def random_frames(rnd, n, dst: bytes, src: bytes) -> list:
    sizes = [60, 1514] + [rnd.randrange(60, 1515) for _ in range(n - 2)]
    return [dst + src + b"\x88\xb5" + rnd.randbytes(s - 14) for s in sizes]


def parse_hx(stdout: str) -> dict:
    """{command: (verdict, {key: value})} from the "HX ..." lines."""
    out = {}
    for line in stdout.splitlines():
        w = line.split()
        if len(w) >= 3 and w[0] == "HX":
            out[w[1]] = (w[2], dict(x.split("=", 1) for x in w[3:] if "=" in x))
    return out


def first_diff(a: bytes, b: bytes) -> str:
    if len(a) != len(b):
        return f"{len(a)} bytes instead of {len(b)}"
    i = next(i for i in range(len(a)) if a[i] != b[i])
    return f"first difference at byte {i:#x}: {a[i]:#04x} instead of {b[i]:#04x}"


def run_config(cfg: Config):
    build()
    lay = layout(cfg.arch)
    tmp = workdir()   # removed by the runner when the test ends
    sock = os.path.join(tmp, "qtest")
    if len(sock) < 100:   # AF_UNIX path limit
        return one_run(cfg, lay, random.Random(), tmp, sock)
    short = tempfile.mkdtemp(prefix="vth")
    try:
        return one_run(cfg, lay, random.Random(), tmp, os.path.join(short, "qtest"))
    finally:
        shutil.rmtree(short, ignore_errors=True)


def one_run(cfg, lay, rnd, tmp, sock):
    ram = os.path.join(tmp, "ram")   # guest RAM, mapped by QEMU and the harness
    with open(ram, "wb") as f:
        f.truncate(RAM_SIZE)
    park = os.path.join(tmp, "park.bin")
    with open(park, "wb") as f:
        f.write(PARK[cfg.arch])
    disk = os.path.join(tmp, "disk.img")
    image = bytearray(rnd.randbytes(DISK_SIZE))
    with open(disk, "wb") as f:
        f.write(image)
    wdata = rnd.randbytes(WRITE_LEN)
    with open(os.path.join(tmp, "write.bin"), "wb") as f:
        f.write(wdata)
    serial = f"HX{rnd.randrange(1 << 32):08x}"
    mac = bytes([0x52, 0x54, 0x00] + [rnd.randrange(256) for _ in range(3)])
    mac_s = ":".join(f"{b:02x}" for b in mac)
    to_peer = random_frames(rnd, NET_FRAMES, b"\xff" * 6, mac)
    from_peer = random_frames(rnd, NET_FRAMES, mac, bytes([0x02, 0x76, 0x74, 0, 0, 1]))
    frames_file(os.path.join(tmp, "send.bin"), to_peer)

    peer = StreamPeer() if cfg.packed or cfg.legacy else UdpPeer("dgram")
    with peer:
        cmd = [qemu_binary(cfg.arch)] + machine_opts(cfg.arch) + [
            "-object", f"memory-backend-file,id=ram0,size={RAM_SIZE},mem-path={ram},share=on",
            "-m", f"{RAM_SIZE // MiB}M", "-bios", park, "-accel", "tcg", "-smp", "1",
            "-display", "none", "-serial", "none", "-monitor", "none", "-nodefaults", "-nic", "none",
            "-no-reboot", "-qtest", f"unix:{sock},server=on,wait=off", "-qtest-log", "none",
            "-drive", f"if=none,id=d0,file={disk},format=raw,cache=writeback",
            "-netdev", peer.netdev("n0")]
        if cfg.transport == "mmio-modern":
            cmd += ["-global", "virtio-mmio.force-legacy=false"]
        cmd += device_args(cfg, "blk", f"drive=d0,serial={serial}")
        cmd += device_args(cfg, "net", f"netdev=n0,mac={mac_s}")
        with Machine(cfg, command=cmd, timeout=90, start=True) as m:
            if isinstance(peer, StreamPeer):
                peer.accept(timeout=30)
            hcmd = ["timeout", "-s", "KILL", "60", HARNESS] + harness_args(cfg, lay, sock, ram) + [
                "blk-info",
                "blk-read", str(READ_SECTOR), str(READ_LEN), os.path.join(tmp, "read.bin"),
                "blk-readv", str(READV_SECTOR), str(READV_N), os.path.join(tmp, "readv.bin"),
                "blk-write", str(WRITE_SECTOR), os.path.join(tmp, "write.bin"),
                "blk-flush",
                "net-info",
                "net-send", os.path.join(tmp, "send.bin"),
                "net-recv", str(NET_FRAMES), os.path.join(tmp, "recv.bin")]
            env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
                       UBSAN_OPTIONS="print_stacktrace=1")
            h = subprocess.Popen(hcmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 start_new_session=True, env=env)
            try:
                # The peer first takes the harness's frames (so the device
                # is up), then sends its own.
                got, err = [], None
                try:
                    for _ in to_peer:
                        got.append(peer.recv(timeout=30))
                    for fr in from_peer:
                        peer.send(fr)
                except Exception as e:   # reported below, with the harness's output
                    err = e
                out, errout = h.communicate(timeout=70)
            finally:
                if h.poll() is None:
                    os.killpg(h.pid, 9)
                    h.wait()
            log = f"harness exit {h.returncode}\n{out}{errout}\nQEMU: {m.stderr}"
            with open(os.path.join(tmp, "harness.log"), "w") as f:   # kept with VT_KEEP=1
                f.write(" ".join(hcmd) + "\n" + log)
            hx = parse_hx(out)
            check(h.returncode == 0 and hx.get("end", ("",))[0] == "ok", f"harness failed\n{log}")
            check(err is None, f"net peer: {err}\n{log}")
            # The CPU never left its parking loop.
            regs = m.hmp("info registers")
            pcs = re.findall(r"(?<![A-Za-z])(?:pc|PC|EIP|RIP)\s*=?\s*([0-9a-fA-F]+)", regs)
            check(pcs, f"no program counter in:\n{regs}")
            pc = int(pcs[0], 16)
            lo, hi = PARK_PC[cfg.arch]
            check(lo <= pc <= hi, f"CPU left its parking loop: pc {pc:#x}\n{regs}")
            m.qmp("quit")
            m.wait_exit(timeout=30)

    # What the device said about itself.
    info, net = hx["blk-info"][1], hx["net-info"][1]
    want = {"transport": "mmio" if cfg.mmio else "pci", "legacy": "1" if cfg.legacy else "0",
            "ring": "packed" if cfg.packed else "split"}
    for k, v in dict(want, capacity=str(DISK_SIZE // 512), block_size="512", serial=serial).items():
        check(info.get(k) == v, f"blk-info {k}={info.get(k)}, expected {v}\n{log}")
    for k, v in dict(want, mac=mac_s).items():
        check(net.get(k) == v, f"net-info {k}={net.get(k)}, expected {v}\n{log}")
    # The registers sit where the transport puts them: a virtio-mmio slot; a
    # memory BAR in the window virtio_pci_assign used for it (riscv64 and
    # aarch64: the 64-bit one, above 4 GiB); legacy PCI: a port number in
    # the I/O window, which reached the hooks as it is.
    if cfg.mmio:
        win = (lay["mmio"][0], lay["mmio"][1] * lay["mmio"][2])
    elif cfg.legacy:
        win = (max(lay["io"][0], 0x1000), lay["io"][0] + lay["io"][1] - max(lay["io"][0], 0x1000))
    else:
        win = lay["mem64"] or lay["mem32"]
    for what, d in (("blk", info), ("net", net)):
        base = int(d["base"], 16)
        check(win[0] <= base < win[0] + win[1], f"{what} registers at {base:#x}, outside {win[0]:#x}+{win[1]:#x}")
    # Both dma_map paths were taken, and requests really were in flight together.
    check(int(hx["blk-read"][1]["bounces"]) > 0, f"blk-read was not bounced\n{log}")
    rv = hx["blk-readv"][1]
    check(rv["in_flight"] == str(READV_N) and rv["translations"] == str(READV_N) and rv["bounces"] == "0",
          f"blk-readv: {rv}\n{log}")
    end = hx["end"][1]
    for k in ("dma_left", "private_left", "bounce_left", "log_errors"):
        check(end[k] == "0", f"after shutdown {k}={end[k]}\n{log}")

    # Data the host put in the image, as the harness read it.
    for name, off, length in (("read", READ_SECTOR * 512, READ_LEN), ("readv", READV_SECTOR * 512, READV_N * 4096)):
        got_data = open(os.path.join(tmp, name + ".bin"), "rb").read()
        want_data = bytes(image[off:off + length])
        if got_data != want_data:
            fail(f"blk-{name}: {first_diff(got_data, want_data)}")
    # The image after QEMU exited: the harness's write, nothing else changed.
    image[WRITE_SECTOR * 512:WRITE_SECTOR * 512 + WRITE_LEN] = wdata
    after = open(disk, "rb").read()
    if after != image:
        fail(f"disk image after the run: {first_diff(after, bytes(image))}")
    # Frames, both ways, byte for byte and in order.
    for i, (g, w) in enumerate(zip(got, to_peer)):
        if g != w:
            fail(f"frame {i} to the peer ({len(w)} bytes): {first_diff(g, w)}")
    back = read_frames(os.path.join(tmp, "recv.bin"))
    check(len(back) == len(from_peer), f"harness received {len(back)} frames of {len(from_peer)}")
    for i, (g, w) in enumerate(zip(back, from_peer)):
        if g != w:
            fail(f"frame {i} from the peer ({len(w)} bytes): {first_diff(g, w)}")


@test(configs=CONFIGS)
def harness(cfg):
    run_config(cfg)


if __name__ == "__main__":
    main()
