#!/usr/bin/env python3
"""examples/boot_linux.c boots Debian's Linux from a virtio-blk disk, on
aarch64 `virt` (arm64 Image) and x86-64 `q35` (amd64 bzImage).

The host prepares, once per architecture (cached under build/boot/<arch>/,
so a second run downloads nothing; tests/qemu/debian.py does the fetching):
  * Debian's kernel package, fetched with `apt-get download` through a
    private apt configuration (state, lists and cache under
    build/boot/<arch>/apt, that architecture only, the host's own sources
    and keys): the host's apt setup is not touched and no foreign
    architecture is added. From it: the kernel (an arm64 Image is
    gunzipped if compressed), its config, and the modules Linux needs to
    reach a virtio disk (virtio_mmio, virtio_pci, virtio_blk as the config
    makes them modules, with their `depends=` closure). The .deb and the
    apt state are deleted once that is extracted.
  * /init: tests/qemu/guest/linux_init.c, a static program without libc,
    built with clang for the architecture.
Per run: an initramfs (newc cpio, written here) with /init, the modules and
/modules.list; a disk image with boot_linux.c's header in sector 0, the
kernel, the initramfs and a random tail; a command line with a random
token and the regions /init must read; a decoy disk without the header.

Each configuration boots boot_linux.elf as -kernel with both disks on its
transport, and checks from the host: the bootloader skips and resets the
decoy, its CRCs of the kernel and the initramfs equal the image's, the
kernel sits at a 2 MiB boundary, it passes exactly our command line;
while Linux's /init waits (no virtio driver loaded yet), QMP
(x-query-virtio-status, x-query-virtio-queue-status; QEMU 7.2) shows every
VirtIO device reset with no rings; then Linux got exactly our command line
(/proc/cmdline) and our initramfs, loads the modules, and its own
virtio-blk driver sees a disk of the image's size and reads regions whose
CRCs equal the host's; the machine powers off. bootloader_refuses feeds
bad disks (fake kernels: no download needed) and checks each is refused,
the disk reset, and Linux never entered.

If this machine cannot download a package (no apt-get, archive not
reachable), that architecture's boots are skipped with the reason.
"""
import fcntl
import os
import random
import re
import struct
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu import (Config, Machine, check, crc32, crc32_range, device_args, drive_args, guest,  # noqa: E402
                  main, make_image, pattern, test, workdir, write_range)
from debian import ARCH, cpio, fetch_kernel, module_order  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INIT_SRC = os.path.join(ROOT, "tests", "qemu", "guest", "linux_init.c")
MiB = 1 << 20


# ---- Debian's kernel (tests/qemu/debian.py) and /init, cached ---------------

def build_init(arch):
    """/init for arch, rebuilt when its source changes."""
    out = os.path.join(arch.cache, "init")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(INIT_SRC):
        cmd = ["clang", f"--target={arch.clang}", "-nostdlib", "-static", "-ffreestanding",
               "-fno-stack-protector", "-O2", "-Wall", "-Wextra", "-Werror", "-fuse-ld=lld",
               "-Wl,--build-id=none", "-o", out + ".new", INIT_SRC]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, f"building /init failed:\n{' '.join(cmd)}\n{r.stderr}")
        os.replace(out + ".new", out)
    return out


_prep_lock = {a: threading.Lock() for a in ARCH}
_prepared = {}


def prepare(arch):
    """(linux dir, module order, init path) for arch, once per process (a
    skip or failure too: the other configurations do not try again) and,
    through a lock file, once across processes sharing build/."""
    with _prep_lock[arch.name]:
        if arch.name not in _prepared:
            os.makedirs(arch.cache, exist_ok=True)
            try:
                with open(os.path.join(arch.cache, ".lock"), "w") as lk:
                    fcntl.flock(lk, fcntl.LOCK_EX)
                    linux = fetch_kernel(arch)
                    order = module_order(linux)
                    # While /init waits, no Linux driver may have touched a
                    # VirtIO device: true only if the transports are modules.
                    config = open(os.path.join(linux, "config")).read()
                    for sym in ("CONFIG_VIRTIO_MMIO", "CONFIG_VIRTIO_PCI"):
                        check(re.search(rf"^{sym}=m", config, re.M),
                              f"{sym} is built in: the reset check needs it a module")
                    _prepared[arch.name] = (linux, order, build_init(arch))
            except BaseException as e:   # noqa: B036 - remembered, raised again below
                _prepared[arch.name] = e
        if isinstance(_prepared[arch.name], BaseException):
            raise _prepared[arch.name]
        return _prepared[arch.name]


# ---- initramfs and disk ---------------------------------------------------

def make_initramfs(linux, order, init):
    d, f, c = 0o040755, 0o100755, 0o020600
    entries = [("dev", d, b"", (0, 0)), ("dev/console", c, b"", (5, 1)), ("proc", d, b"", (0, 0)),
               ("lib", d, b"", (0, 0)), ("init", f, open(init, "rb").read(), (0, 0)),
               ("modules.list", 0o100644, "".join(m + ".ko\n" for m in order).encode(), (0, 0))]
    for m in order:
        entries.append((f"lib/{m}.ko", 0o100644, open(os.path.join(linux, "modules", m + ".ko"), "rb").read(), (0, 0)))
    return cpio(entries)


HEADER = struct.Struct("<8sQQQQII16s448s")


def make_disk(path, kernel, initrd, cmdline_for):
    """The disk boot_linux.c reads (its header comment has the layout):
    header, the Image at 1 MiB, the initramfs after it, then a 1 MiB
    random tail. cmdline_for(layout) returns the command line."""
    k_off = 1 * MiB
    i_off = k_off + (len(kernel) + MiB - 1) // MiB * MiB
    t_off = i_off + (len(initrd) + MiB - 1) // MiB * MiB
    size = t_off + MiB
    layout = {"kernel": (k_off, len(kernel)), "initrd": (i_off, len(initrd)), "tail": (t_off, MiB), "size": size}
    cmdline = cmdline_for(layout).encode()
    check(len(cmdline) < 448, "command line too long for the header")
    with open(path, "wb") as f:
        f.truncate(size)
        f.write(HEADER.pack(b"VTBOOT01", k_off, len(kernel), i_off, len(initrd), crc32(kernel), crc32(initrd),
                            bytes(16), cmdline))
        f.seek(k_off)
        f.write(kernel)
        f.seek(i_off)
        f.write(initrd)
        f.seek(t_off)
        f.write(pattern(random.randrange(1, 1 << 62), t_off, MiB))
    return layout, cmdline.decode()


# ---- the test -------------------------------------------------------------

CONFIGS = [Config("aarch64", "mmio-legacy"), Config("aarch64", "mmio-modern"), Config("aarch64", "mmio-modern", True),
           Config("aarch64", "pci-modern"), Config("aarch64", "pci-modern", True),
           Config("x86_64", "pci-modern"), Config("x86_64", "pci-modern", True), Config("x86_64", "pci-legacy")]


def check_reset(m):
    """Every VirtIO device QEMU has is reset (status 0, no rings): asked
    while Linux's /init waits, before any Linux driver touched them."""
    devs = m.qmp("x-query-virtio")
    check(len(devs) == 2, f"QEMU lists {len(devs)} VirtIO devices: {devs}")
    for d in devs:
        st = m.qmp("x-query-virtio-status", path=d["path"])
        q = m.qmp("x-query-virtio-queue-status", path=d["path"], queue=0)
        check(st["status"]["statuses"] == [] and not st["started"],
              f"{d['path']}: status {st['status']} (started {st['started']}) when Linux started")
        check(q["vring-desc"] == q["vring-avail"] == q["vring-used"] == 0,
              f"{d['path']}: queue 0 still at desc {q['vring-desc']:#x} avail {q['vring-avail']:#x} "
              f"used {q['vring-used']:#x} when Linux started")


@test(configs=CONFIGS)
def boot_linux(cfg):
    arch = ARCH[cfg.arch]
    linux, order, init = prepare(arch)
    kernel = open(os.path.join(linux, "kernel"), "rb").read()
    initrd = make_initramfs(linux, order, init)
    token = "%016x" % random.getrandbits(64)
    rnd = random.Random()

    def cmdline(lay):
        # Regions for Linux's driver: the header, the whole initramfs, a
        # random slice of the kernel, the random tail.
        k_off, k_len = lay["kernel"]
        a = rnd.randrange(0, k_len - 65536) // 512 * 512
        regions = [(0, 512), lay["initrd"], (k_off + a, 65536 + rnd.randrange(1, 512)), lay["tail"]]
        crc = ",".join(f"{o}:{n}" for o, n in regions)
        return f"console={arch.console} rdinit=/init panic=-1 vt.token={token} vt.crc={crc}"

    disk = os.path.join(workdir(), "boot.img")
    layout, line = make_disk(disk, kernel, initrd, cmdline)
    # A second disk without the header, where the bootloader looks first
    # (virtio-mmio: the highest slot, which QEMU fills first, comes last;
    # PCI: the lower slot): it must skip it and reset it.
    decoy = make_image(os.path.join(workdir(), "decoy.img"), 8 * MiB, pattern_seed=rnd.randrange(1, 1 << 62))
    boot_dev = drive_args(disk, "d0") + device_args(cfg, "virtio-blk", "drive=d0")
    decoy_dev = drive_args(decoy, "d1") + device_args(cfg, "virtio-blk", "drive=d1")
    args = boot_dev + decoy_dev if cfg.mmio else decoy_dev + boot_dev
    with Machine(cfg, guest(cfg.arch, "boot_linux"), args, timeout=240) as m:
        # The bootloader: skips and resets the decoy; what it loaded is what
        # the image holds.
        m.expect(r"^boot_linux: disk 0 .*: 16384 sectors, no boot header$", timeout=60)
        m.expect(r"^boot_linux: reset virtio-blk: VIRTIO_OK\b.*, device status 0$", timeout=30)
        m.expect(rf"^boot_linux: disk 1 .*: {layout['size'] // 512} sectors, boot header$", timeout=30)
        # aarch64: the Image at a 2 MiB boundary (text_offset 0); x86-64:
        # the protected-mode part at the kernel's alignment (2 MiB).
        a = m.expect(r"^boot_linux: (?:arm64 Image: .*|bzImage: .*protected mode at (0x[0-9a-f]+),.*)$", timeout=60)
        k = m.expect(r"^boot_linux: kernel (\d+) bytes at (0x[0-9a-f]+), crc32 ([0-9a-f]{8})$", timeout=60)
        check(int(k.group(1)) == len(kernel) and int(k.group(3), 16) == crc32(kernel),
              f"bootloader's kernel: {k.group(0)}; image: {len(kernel)} bytes, crc32 {crc32(kernel):08x}")
        check(int(a.group(1) or k.group(2), 16) % (2 * MiB) == 0, f"kernel not at a 2 MiB boundary: {a.group(0)}")
        i = m.expect(r"^boot_linux: initramfs (\d+) bytes at (0x[0-9a-f]+), crc32 ([0-9a-f]{8})$", timeout=30)
        check(int(i.group(1)) == len(initrd) and int(i.group(3), 16) == crc32(initrd),
              f"bootloader's initramfs: {i.group(0)}; image: {len(initrd)} bytes, crc32 {crc32(initrd):08x}")
        m.expect(r'^boot_linux: command line "' + re.escape(line) + '"$', timeout=30)
        m.expect(r"^boot_linux: reset virtio-blk: VIRTIO_OK\b.*, device status 0$", timeout=30)
        m.expect(r"^boot_linux: entering Linux at ", timeout=30)
        # Linux reached /init; the devices are as the bootloader left them.
        m.expect(r"^VT LINUX \S+", timeout=180)
        m.expect(r"^VT WAIT", timeout=60)
        check_reset(m)
        m.write("go\n")
        res = m.run_to_end(timeout=120)
    uname = [r for key, r in res if key == "LINUX"][0]
    check([r for key, r in res if key == "CMDLINE"] == [line], f"Linux's /proc/cmdline: {res}")
    mods = [r.split() for key, r in res if key == "MODULE"]
    check([x[0] for x in mods] == [o + ".ko" for o in order] and all(x[1] == "0" for x in mods),
          f"modules loaded: {mods}, wanted {order}")
    disks = [r.split() for key, r in res if key == "DISK"]
    check(len(disks) == 1 and disks[0][1] == str(layout["size"]), f"Linux's boot disk: {disks}")
    crcs = [r.split() for key, r in res if key == "CRC"]
    want = line.split("vt.crc=")[1].split(",")
    check(len(crcs) == len(want), f"Linux read {len(crcs)} regions, asked {len(want)}")
    for (off, n, crc), w in zip(crcs, want):
        check(f"{off}:{n}" == w, f"region {off}:{n}, asked {w}")
        host = crc32_range(disk, int(off), int(n))
        check(int(crc, 16) == host, f"Linux read {n} bytes at {off}: crc32 {crc}, image {host:08x}")


def fake_kernel(arch, too_big=False, bad=False):
    """A small kernel header and random bytes: enough for the bootloader's
    checks. aarch64: an Image (text_offset 0, flags: little-endian, 4K
    pages, anywhere). x86-64: a bzImage with 3 setup sectors, boot
    protocol 2.15, relocatable, 64-bit entry. too_big: more memory than
    the machine has; bad: the magic broken."""
    body = bytearray(random.randbytes(256 * 1024))
    if arch == "aarch64":
        body[8:32] = struct.pack("<QQQ", 0, (1 << 30) if too_big else 2 * MiB, 0xa)
        body[56:60] = b"ARM\x65" if bad else b"ARM\x64"
    else:
        body[0x1f1] = 3
        body[0x1fe:0x200] = b"\x55\xaa"
        body[0x201] = 0x6a
        body[0x202:0x208] = (b"HdrX" if bad else b"HdrS") + struct.pack("<H", 0x20f)
        body[0x22c:0x230] = struct.pack("<I", 0x7fffffff)                       # initrd_addr_max
        body[0x230:0x23c] = struct.pack("<IBBHI", 2 * MiB, 1, 0, 1, 2047)    # alignment, relocatable, xloadflags, cmdline_size
        body[0x260:0x264] = struct.pack("<I", (1 << 30) if too_big else 4 * MiB)   # init_size
    return bytes(body)


# Bad disks and how the bootloader must refuse them: case -> the line it
# prints. It must reset the disk (status 0) and exit without entering Linux.
REFUSALS = {
    "kernel-crc": "kernel crc32 (?P<got>[0-9a-f]{8}), header says (?P<want>[0-9a-f]{8})",
    "initramfs-crc": "initramfs crc32 (?P<got>[0-9a-f]{8}), header says (?P<want>[0-9a-f]{8})",
    "not-a-kernel": "not a (?:little-endian arm64 Image|relocatable 64-bit bzImage)",
    "too-big": "kernel, initramfs and (?:device tree|boot_params) do not fit in RAM",
    "cmdline-unterminated": "no boot disk",
}


@test(configs=[Config("aarch64", "mmio-modern"), Config("x86_64", "pci-modern")])
def bootloader_refuses(cfg):
    for case, expect in REFUSALS.items():
        kernel = fake_kernel(cfg.arch, too_big=case == "too-big", bad=case == "not-a-kernel")
        initrd = random.randbytes(4096 + 17)
        disk = os.path.join(workdir(), case + ".img")
        layout, _ = make_disk(disk, kernel, initrd, lambda lay: "console=ttyS0")
        if case == "kernel-crc":
            write_range(disk, layout["kernel"][0] + 5000, bytes([kernel[5000] ^ 0x10]))
        if case == "initramfs-crc":
            write_range(disk, layout["initrd"][1] - 1 + layout["initrd"][0], bytes([initrd[-1] ^ 1]))
        if case == "cmdline-unterminated":
            write_range(disk, 64, b"x" * 448)
        args = drive_args(disk, "d0") + device_args(cfg, "virtio-blk", "drive=d0")
        with Machine(cfg, guest(cfg.arch, "boot_linux"), args, timeout=60, name=f"boot_linux-{case}") as m:
            got = m.expect(r"^boot_linux: " + expect, timeout=30)
            if "got" in got.groupdict():
                blob, off, n = (kernel, *layout["kernel"]) if case == "kernel-crc" else (initrd, *layout["initrd"])
                check(int(got["got"], 16) == crc32_range(disk, off, n) and int(got["want"], 16) == crc32(blob),
                      f"{case}: {got.group(0)}")
            m.expect(r"^port: exit 1$", timeout=30)
            m.wait_exit(30)
            text = m.transcript.text
            check(re.search(r"^boot_linux: reset virtio-blk: VIRTIO_OK\b.*, device status 0$", text, re.M),
                  f"{case}: the disk was not reset\n{m.describe(20)}")
            check("entering Linux" not in text, f"{case}: entered Linux\n{m.describe(20)}")

if __name__ == "__main__":
    main()
