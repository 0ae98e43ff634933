#!/usr/bin/env python3
"""make bench-peers: virtio.h beside the drivers a user would pick instead,
on the same disk image, in the same run, with the same virtio-blk device.

  ceiling   `qemu-img bench` on the image (bench/run.py's qemu_img()).
  virtio.h  bench/blk_bench.c through bench/run.py's blk(): riscv64
            virtio-mmio modern, x86-64 q35 virtio-pci modern.
  U-Boot    Debian's u-boot-qemu (2023.01) on the same two machines: the
            M-mode qemu-riscv64 build and qemu-x86_64's u-boot.rom, as
            -bios, driven over the serial console: `virtio scan`, then
            `virtio read` in hush loops: 4 KiB reads at scattered blocks,
            1 MiB reads in order, 256 MiB reads; one at a time.
  Linux     Debian's kernel (the one tests/qemu/test_boot.py boots) on
            x86-64 q35 with an initramfs: busybox-static, Debian's fio and
            the shared libraries it loads, the virtio modules. fio on
            /dev/vda with io_uring and with libaio, direct=1: 4 KiB random
            reads at depth 1 and 32, 1 MiB sequential reads at depth 16.

U-Boot is timed from the host (its `time` rests on a TSC calibration that
TCG can upset on x86-64, and riscv64's build has none): each loop minus the same loop with `true` as its body,
so neither the shell nor the serial round trip counts. METHOD below, which
the output ends with, has the details. The data read is checked against
the image (CRC32 in U-Boot, md5sum in Linux).

Downloads (Debian's archive, `apt-get download` through a private apt
state: tests/qemu/debian.py) happen once: build/boot/amd64/linux (shared
with test_boot.py), build/peers/u-boot/, build/peers/amd64/fio.cpio.
Prints one Markdown table, notes, the load and the method.
"""
import fcntl
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "qemu"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import debian  # noqa: E402
import run as libbench  # noqa: E402  bench/run.py: blk(), qemu_img(), RUNS
from qemu import Config, Machine, Skip, check, crc32_range, device_args, machine_args  # noqa: E402

PEERS = os.path.join(ROOT, "build", "peers")
RUNS = libbench.RUNS
MiB = 1 << 20
IMAGE_MIB = 256
# U-Boot 2023.01's qemu-x86_64 device tree describes i440fx with its PCH
# at slot 1, which on q35 is the first free slot: a device there is given
# to the PCH driver and virtio never sees it. Any other slot works.
UBOOT_X86_SLOT = "addr=0x3"
UBOOT = {"riscv64": "qemu-riscv64/u-boot.bin", "x86_64": "qemu-x86_64/u-boot.rom"}
# The longest command line each build takes (CONFIG_SYS_CBSIZE - 1): a
# longer one is cut, and hush then waits for the rest of a loop forever.
UBOOT_LINE = {"riscv64": 255, "x86_64": 511}


def drive(img):
    """The image as bench/run.py's blk() attaches it (QEMU's defaults)."""
    return ["-drive", f"if=none,id=d0,file={img},format=raw"]


def base_command(cfg, firmware=None, mem="1G"):
    """machine_args(cfg) with `mem` of RAM (the 256 MiB read needs more than
    the default) and, for firmware, -bios replaced."""
    cmd = machine_args(cfg)
    cmd[cmd.index("-m") + 1] = mem
    if "-bios" in cmd:
        i = cmd.index("-bios")
        del cmd[i:i + 2]
    if firmware:
        cmd += ["-bios", firmware]
    return cmd


# ---- what to download, once ---------------------------------------------

def locked(path):
    """An exclusive lock file (released when the returned file closes)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    f = open(path, "w")
    fcntl.flock(f, fcntl.LOCK_EX)
    return f


def fetch_uboot(state):
    """build/peers/u-boot/<target>/<file> for UBOOT's targets."""
    out = os.path.join(PEERS, "u-boot")
    if os.path.exists(os.path.join(out, "READY")):
        return out
    deb = debian.download(state, "amd64", ["u-boot-qemu"], os.path.join(state, "debs"))["u-boot-qemu"]
    tmp = out + ".new"
    shutil.rmtree(tmp, ignore_errors=True)
    for name, m, tar in debian.deb_members(deb):
        rel = re.sub(r"^usr/lib/u-boot/", "", name)
        if m.isfile() and rel in UBOOT.values():
            os.makedirs(os.path.join(tmp, os.path.dirname(rel)), exist_ok=True)
            with open(os.path.join(tmp, rel), "wb") as f:
                f.write(tar.extractfile(m).read())
    check(all(os.path.exists(os.path.join(tmp, p)) for p in UBOOT.values()), f"{deb}: no {list(UBOOT.values())}")
    with open(os.path.join(tmp, "READY"), "w") as f:
        f.write(os.path.basename(deb) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)
    return out


def elf_info(path):
    """(PT_INTERP or None, [DT_NEEDED]) of an ELF file, from readelf."""
    r = subprocess.run(["readelf", "-ldW", path], capture_output=True, text=True)
    check(r.returncode == 0, f"readelf {path}: {r.stderr.strip()}")
    interp = re.search(r"\[Requesting program interpreter: ([^\]]+)\]", r.stdout)
    return (interp.group(1) if interp else None), re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", r.stdout)


def fetch_fio(state, deb):
    """build/peers/<deb>/fio.cpio: an initramfs part with busybox (static),
    fio and every shared library it loads (the closure of DT_NEEDED,
    looked up among the library packages fio depends on), the program
    interpreter at its path. The kernel modules and /init go into a
    second part per run (Linux reads concatenated archives)."""
    out = os.path.join(PEERS, deb, "fio.cpio")
    if os.path.exists(out):
        return out
    pkgs = debian.lib_closure(state, deb, ["fio", "busybox-static"])
    debs = debian.download(state, deb, pkgs, os.path.join(state, "debs"))
    stage = os.path.join(PEERS, deb, "stage")
    shutil.rmtree(stage, ignore_errors=True)
    libs = {}   # file name -> path in stage (lib directories only)
    for path in debs.values():
        for name, m, tar in debian.deb_members(path):
            keep = name in ("usr/bin/fio", "bin/busybox") or (
                re.match(r"(usr/)?lib(64|32|x32)?/", name) and re.search(r"\.so(\.|$)", os.path.basename(name)))
            if not keep or not (m.isfile() or m.issym()):
                continue
            dest = os.path.join(stage, name)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if m.issym():
                target = m.linkname
                # Absolute links point into the package tree, not the host.
                os.symlink(os.path.join(stage, target.lstrip("/")) if target.startswith("/") else target, dest)
            else:
                with open(dest, "wb") as f:
                    f.write(tar.extractfile(m).read())
            if name not in ("usr/bin/fio", "bin/busybox"):
                libs.setdefault(os.path.basename(name), dest)
    fio = os.path.join(stage, "usr/bin/fio")
    interp, _ = elf_info(fio)
    check(interp is not None, "fio has no program interpreter")
    need, done = [fio], set()
    while need:
        for soname in elf_info(need.pop())[1]:
            if soname not in done:
                check(soname in libs, f"{soname} (needed by fio) is in none of the packages {sorted(pkgs)}")
                done.add(soname)
                need.append(os.path.realpath(libs[soname]))
    ld = os.path.basename(interp)
    check(ld in done, f"fio's interpreter {interp} is not among the libraries it loads")
    # Every library in /lib (LD_LIBRARY_PATH), the interpreter also at its path.
    d, x, r = 0o040755, 0o100755, 0o100644
    entries = [(p, d, b"", (0, 0)) for p in ("bin", "dev", "proc", "sys", "lib", "lib/modules", "usr", "usr/bin")]
    entries += [("bin/busybox", x, open(os.path.join(stage, "bin/busybox"), "rb").read(), (0, 0)),
                ("usr/bin/fio", x, open(fio, "rb").read(), (0, 0))]
    entries += [(f"lib/{so}", x if so == ld else r, open(os.path.realpath(libs[so]), "rb").read(), (0, 0))
                for so in sorted(done)]
    if interp != f"/lib/{ld}":
        entries += [(os.path.dirname(interp).lstrip("/"), d, b"", (0, 0)),
                    (interp.lstrip("/"), 0o120777, f"/lib/{ld}".encode(), (0, 0))]
    with open(out + ".new", "wb") as f:
        f.write(debian.cpio(entries))
    os.replace(out + ".new", out)
    shutil.rmtree(stage, ignore_errors=True)
    return out


def prepare():
    """Everything downloaded and built once: {"uboot": dir, "kernel": path,
    "modules": [(name, path)] in load order, "fio": cpio path}. Raises Skip
    when the archive cannot be reached."""
    with locked(os.path.join(PEERS, ".lock")):
        state = os.path.join(PEERS, "amd64", "apt")
        try:
            uboot = fetch_uboot(state)
            fio = fetch_fio(state, "amd64")
        finally:
            shutil.rmtree(state, ignore_errors=True)
    arch = debian.ARCH["x86_64"]
    with locked(os.path.join(arch.cache, ".lock")):   # test_boot.py's lock
        linux = debian.fetch_kernel(arch)
        order = debian.module_order(linux)
    return {"uboot": uboot, "kernel": os.path.join(linux, "kernel"), "fio": fio,
            "modules": [(m, os.path.join(linux, "modules", m + ".ko")) for m in order]}


# ---- U-Boot -------------------------------------------------------------

def shuffled(rnd, digits):
    d = list(digits)
    rnd.shuffle(d)
    return " ".join(d)


class UBootConsole:
    """U-Boot's hush shell on the machine's serial line."""

    def __init__(self, m, line_max):
        self.m = m
        self.line_max = line_max
        # Stop autoboot: keep typing until a command runs.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            m.write("\necho VT UBOOT\n")
            line = m.read_line(0.5)
            while line is not None and line != "VT UBOOT":
                line = m.read_line(0.2)
            if line == "VT UBOOT":
                break
        else:
            raise RuntimeError("U-Boot never reached its prompt\n" + m.describe(30))
        self.sync()

    def sync(self):
        """Read up to a fresh marker: nothing earlier is left unread."""
        token = "VT SYNC %08x" % random.getrandbits(32)
        self.m.write(f"echo {token}\n")
        self.m.expect("^" + re.escape(token) + "$", timeout=30)

    def run(self, command, timeout=300):
        """(seconds from sending the line to the end marker, output lines)."""
        command += "; echo VT DONE"
        check(len(command) <= self.line_max, f"U-Boot takes lines of up to {self.line_max} characters: {command!r}")
        t0 = time.monotonic()
        self.m.write(command + "\n")
        out = []
        while True:
            line = self.m.read_line(timeout)
            if line is None:
                raise RuntimeError(f"U-Boot: no end of {command[:60]!r}\n" + self.m.describe(30))
            if line == "VT DONE":
                return time.monotonic() - t0, out
            if not line.startswith("=> "):   # not the echo of what was typed
                out.append(line)

    def crc32(self, addr, length):
        """U-Boot's CRC32 of guest memory (the same CRC as zlib's)."""
        out = " ".join(self.run(f"crc32 {addr:x} {length:x}")[1])
        got = re.search(r"==> ([0-9a-f]{8})", out)
        check(got is not None, f"U-Boot's crc32 said: {out}")
        return int(got.group(1), 16)

    def timed(self, loop, body, quiet):
        """(seconds the `body` commands of `loop` take, seconds the loop
        itself takes): the loop (a hush loop with {} for its body) timed
        with `body` and with `true <body>` as its body, alternately, the
        best of RUNS each, with stdout on nulldev if quiet."""
        def line(b):
            text = loop.format(b)
            return f"setenv stdout nulldev; {text}; setenv stdout serial" if quiet else text
        work, base = [], []
        for _ in range(RUNS):
            work.append(self.run(line(body))[0])
            base.append(self.run(line("true " + body))[0])
        return min(work) - min(base), min(base)


def uboot(cfg, img, fw_dir):
    """U-Boot's figures on cfg: {"qd1": IOPS of 4 KiB reads, "seq": MiB/s of
    1 MiB reads, "big": MiB/s of 256 MiB reads, "read_us": µs per 4 KiB
    read, "print_us": µs of its console line (None when on nulldev),
    "loop_us": µs per iteration of the shell's loop, "version"}."""
    fw = os.path.join(fw_dir, UBOOT[cfg.arch])
    props = "drive=d0" + ("," + UBOOT_X86_SLOT if cfg.arch == "x86_64" else "")
    args = drive(img) + device_args(cfg, "virtio-blk", props)
    addr = 0x84000000 if cfg.arch == "riscv64" else 0x01000000   # 256 MiB of free RAM from here
    with Machine(cfg, None, args, timeout=900, command=base_command(cfg, fw), name=f"u-boot@{cfg.name}") as m:
        u = UBootConsole(m, UBOOT_LINE[cfg.arch])
        version = next((l.split(" (")[0] for l in u.run("version")[1] if l.startswith("U-Boot")), "U-Boot ?")
        _, out = u.run("virtio scan; virtio info")
        check(any(re.search(rf"\({IMAGE_MIB * 2048} x 512\)", l) for l in out),
              f"U-Boot does not see the {IMAGE_MIB} MiB disk: {out}")
        quiet = any(l.split()[:1] == ["nulldev"] for l in u.run("coninfo")[1])
        # Fault the buffers' guest RAM in before anything is timed.
        u.run(f"virtio read {addr:x} 0 {IMAGE_MIB * 2048:x}")
        # 8 x 16 x 16 x 8 = 16384 reads of 4 KiB at blocks 0xXYZW0: over the
        # whole image (blocks below 0x80000) in a scattered order, none
        # read twice (so U-Boot's block cache never hits).
        rnd = random.Random(7)
        hexd = "0123456789abcdef"
        lists = [shuffled(rnd, hexd[:8]), shuffled(rnd, hexd), shuffled(rnd, hexd), shuffled(rnd, hexd[:8])]
        loop4k = (f"for x in {lists[0]}; do for y in {lists[1]}; do for z in {lists[2]}; do "
                  f"for w in {lists[3]}; do {{}}; done; done; done; done")
        n4k = 8 * 16 * 16 * 8
        t4k, tloop = u.timed(loop4k, f"virtio read {addr:x} $x$y$z${{w}}0 8", quiet)
        last = int("".join(l.split()[-1] for l in lists) + "0", 16)
        check(u.crc32(addr, 4096) == crc32_range(img, last * 512, 4096),
              f"U-Boot's last 4 KiB read (block {last:#x}) differs from the image")
        # Without nulldev each read prints its line: what printing such a
        # line costs, from echo over 2048 iterations (reported beside the
        # figure; a shorter loop keeps the command line within bounds).
        tprint = None
        if not quiet:
            t, _ = u.timed(f"for y in {lists[1]}; do for z in {lists[2]}; do for w in {lists[3]}; do {{}}; done; "
                           "done; done", 'echo "virtio read: device 0 block # 123456, count 8 ... 8 blocks read: OK"',
                           False)
            tprint = t * n4k / 2048
        # 4 passes of 256 reads of 1 MiB in order over the whole image.
        loop1m = ("for p in 1 2 3 4; do for x in 0 1 2 3 4 5 6 7; do for y in " + " ".join(hexd) +
                  "; do for z in 0 8; do {}; done; done; done; done")
        t1m, _ = u.timed(loop1m, f"virtio read {addr:x} $x$y${{z}}00 800", quiet)
        # The whole image in one read, 4 times.
        tbig, _ = u.timed("for p in 1 2 3 4; do {}; done", f"virtio read {addr:x} 0 {IMAGE_MIB * 2048:x}", quiet)
        off = random.randrange(IMAGE_MIB) * MiB
        check(u.crc32(addr + off, MiB) == crc32_range(img, off, MiB),
              f"U-Boot's 256 MiB read differs from the image at {off:#x}")
    return {"qd1": n4k / t4k, "seq": 4 * IMAGE_MIB / t1m, "big": 4 * IMAGE_MIB / tbig,
            "read_us": 1e6 * t4k / n4k, "print_us": tprint and 1e6 * tprint / n4k,
            "loop_us": 1e6 * tloop / n4k, "version": version}


# ---- Linux with fio -------------------------------------------------------

# /init: loads the modules, finds the disk, then runs each line the host
# sends (a command per line, between markers) until "quit".
INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin LD_LIBRARY_PATH=/lib
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in $(cat /modules.list); do insmod /lib/modules/$m.ko || echo "VT FAIL insmod $m"; done
n=0; while [ ! -b /dev/vda ] && [ $n -lt 400 ]; do sleep 0.05; n=$((n + 1)); done
echo "VT LINUX $(uname -r) $(cat /sys/block/vda/size) $(fio --version)"
while echo "VT READY" && read -r line && [ "$line" != quit ]; do
    echo "VT BEGIN"; eval "$line"; echo "VT DONE $?"
done
poweroff -f
"""

FIO = ("fio --name={name} --filename=/dev/vda --ioengine={engine} --direct=1 --rw={rw} --bs={bs} "
       "--iodepth={depth} --time_based --runtime=1500ms --ramp_time=500ms --norandommap --randrepeat=0 "
       "--output-format=json")
JOBS = {"qd1": ("randread", "4k", 1), "qd32": ("randread", "4k", 32), "seq": ("read", "1M", 16)}
ENGINES = ("io_uring", "libaio")
# Linux's default for a one-queue virtio disk is mq-deadline; `none` gave
# fio about 70 % more 4 KiB reads at depth 32 in a trial here, so Linux
# gets `none`.
SCHEDULER = "none"


def linux(cfg, img, prep):
    """fio in a Linux guest on cfg: ({engine: {"qd1": IOPS, "qd32": IOPS,
    "seq": MiB/s}} for each of ENGINES, "<kernel release> <fio version>")."""
    tmp = tempfile.mkdtemp(prefix="vt-peers-")
    try:
        initrd = os.path.join(tmp, "initrd")
        shutil.copyfile(prep["fio"], initrd)
        part = [("dev/console", 0o020600, b"", (5, 1)), ("init", 0o100755, INIT.encode(), (0, 0)),
                ("modules.list", 0o100644, "".join(n + "\n" for n, _ in prep["modules"]).encode(), (0, 0))]
        part += [(f"lib/modules/{n}.ko", 0o100644, open(p, "rb").read(), (0, 0)) for n, p in prep["modules"]]
        with open(initrd, "ab") as f:
            f.write(debian.cpio(part))   # a second archive: Linux unpacks both
        args = ["-initrd", initrd, "-append", "console=ttyS0 rdinit=/init panic=-1 quiet"]
        args += drive(img) + device_args(cfg, "virtio-blk", "drive=d0")
        with Machine(cfg, prep["kernel"], args, timeout=900, command=base_command(cfg),
                     name=f"linux@{cfg.name}") as m:
            hello = m.expect(r"^VT LINUX (\S+) (\d+) (\S+)", timeout=300)
            check(int(hello.group(2)) == IMAGE_MIB * 2048,
                  f"Linux sees {hello.group(2)} sectors, the image has {IMAGE_MIB * 2048}")

            def command(line, timeout=120):
                m.expect(r"^VT READY$", timeout=timeout)
                m.write(line + "\n")
                m.expect(r"^VT BEGIN$", timeout=30)
                out = []
                while True:
                    got = m.read_line(timeout)
                    check(got is not None, f"Linux: no end of {line[:60]!r}\n{m.describe(30)}")
                    if got.startswith("VT DONE"):
                        check(got == "VT DONE 0", f"Linux: {line[:60]!r}: {got}\n" + "\n".join(out[-20:]))
                        return out
                    out.append(got)

            out = command(f"echo {SCHEDULER} > /sys/block/vda/queue/scheduler; cat /sys/block/vda/queue/scheduler")
            check(f"[{SCHEDULER}]" in " ".join(out), f"Linux's scheduler for vda: {out}")
            res = {e: {} for e in ENGINES}
            for _ in range(RUNS):
                for engine in ENGINES:
                    for key, (rw, bs, depth) in JOBS.items():
                        text = "\n".join(command(FIO.format(name=key, engine=engine, rw=rw, bs=bs, depth=depth)))
                        job = json.loads(text[text.index("{"):text.rindex("}") + 1])["jobs"][0]["read"]
                        value = job["iops"] if key != "seq" else job["bw_bytes"] / MiB
                        res[engine][key] = max(res[engine].get(key, 0), value)
            off = random.randrange(IMAGE_MIB)
            out = command(f"dd if=/dev/vda bs=1M skip={off} count=1 2>/dev/null | md5sum")
            with open(img, "rb") as f:
                f.seek(off * MiB)
                want = hashlib.md5(f.read(MiB)).hexdigest()
            check(out and out[-1].split()[0] == want, f"Linux read MiB {off}: {out}, image md5 {want}")
            m.expect(r"^VT READY$", timeout=60)
            m.write("quit\n")
            m.wait_exit(60)
        return res, f"{hello.group(1)} {hello.group(3)}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- the table -------------------------------------------------------------

def warm(img):
    """Read the image once: its pages back in the host's page cache if the
    host dropped some since it was written (this one does, under memory
    pressure from other jobs)."""
    with open(img, "rb") as f:
        while f.read(16 * MiB):
            pass


def cell(v, ceiling=None, note=""):
    if v is None:
        return "-"
    return f"{v:.0f}" + (f" ({100 * v / ceiling:.0f} %)" if ceiling else "") + note


METHOD = """\
Method: one 256 MiB image of random bytes in the host's page cache,
attached as `-drive if=none,file=...,format=raw` (QEMU's defaults:
cache=writeback, aio=threads) to one virtio-blk device; one vCPU, TCG;
best of {runs}; percentages of the ceiling, `qemu-img bench` on the same
image (4K at depth 1 and 32, 1M at depth 16). virtio.h: `bench/blk_bench.c`
(16000 4K reads at qd1, 100000 at qd32, 8192 1M reads at qd16). U-Boot
({uboot}, Debian's `u-boot-qemu`): its M-mode `qemu-riscv64` build and its
`qemu-x86_64` `u-boot.rom` as `-bios` on q35 (the disk in slot 3: its
i440fx device tree gives slot 1 to its PCH driver), `virtio scan`, then
`virtio read` in hush loops typed on the serial console: 16384 4K reads at
scattered 8K-aligned blocks, 4 x 256 1M reads in order, 4 reads of the
whole image; one request at a time (U-Boot has no queue). Timed with host
timestamps of the console (U-Boot's `time` on qemu-x86_64 rests on a TSC
rate calibrated against the PIT at boot, which under TCG on a loaded host
came out 2.5 times too low in one boot here; the riscv64 build has no
`time`): each
loop minus the same loop with `true` as its body, so the shell
({loop_us}) and the serial round trip are not counted; stdout on `nulldev`
where the build has one. Linux ({linux}): Debian's kernel, an initramfs
with busybox-static, Debian's fio and its libraries; fio on /dev/vda,
scheduler `none`, direct=1, 4K randread at iodepth 1 and 32, 1M read at
iodepth 16, 1.5 s each after 0.5 s ramp, with io_uring and with libaio. The
data is checked: U-Boot's `crc32` of its last 4K and of 1 MiB of its 256
MiB read, and Linux's md5sum of a 1 MiB read, equal the image's."""


def qemu_version():
    out = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout
    m = re.search(r"version (\S+)", out)
    return m.group(1) if m else "?"


def main():
    # A plain SIGTERM would skip the context managers that kill QEMU.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    t0 = time.monotonic()
    try:
        prep = prepare()
    except Skip as e:
        print(f"bench-peers: cannot fetch the peers: {e}")
        return 1
    load = [os.getloadavg()[0]]

    def progress(what):
        load.append(os.getloadavg()[0])
        print(f"bench-peers: {what} ({time.monotonic() - t0:.0f} s, load {load[-1]:.1f})", file=sys.stderr, flush=True)

    tmp = tempfile.mkdtemp(prefix="vt-peers-")
    rows, notes, loops, versions = [], [], [], {}
    try:
        img = os.path.join(tmp, "bench.img")
        with open(img, "wb") as f:
            for _ in range(IMAGE_MIB):
                f.write(os.urandom(MiB))   # in the page cache from here on
        ceil = libbench.qemu_img(img)
        progress("qemu-img bench")
        for cfg in (Config("riscv64", "mmio-modern"), Config("x86_64", "pci-modern")):
            where = f"{cfg.arch} {cfg.transport}"
            warm(img)
            b = libbench.blk(cfg, img)
            rows.append((f"virtio.h, {where}", cell(b["qd1"], ceil["qd1"]), cell(b["qd32"], ceil["qd32"]),
                         cell(b["seqread"], ceil["seq"]), "-"))
            progress(f"virtio.h on {where}")
            warm(img)
            u = uboot(cfg, img, prep["uboot"])
            versions["uboot"] = u["version"]
            loops.append(f"{u['loop_us']:.0f} µs per iteration on {cfg.arch}")
            mark = ""
            if u["print_us"] is not None:
                mark = " " + "¹²"[len(notes)]
                notes.append(f"{mark.strip()} U-Boot's {cfg.arch} build has no `nulldev`: each read prints a "
                             f"line, counted in its {u['read_us']:.0f} µs per read; `echo` of such a line "
                             f"takes {u['print_us']:.0f} µs.")
            rows.append((f"U-Boot, {where}", cell(u["qd1"], ceil["qd1"], mark), "-",
                         cell(u["seq"], ceil["seq"], " (qd1)"), cell(u["big"])))
            progress(f"U-Boot on {where}")
            if cfg.arch == "x86_64":
                warm(img)
                res, versions["linux"] = linux(cfg, img, prep)
                for engine, lx in res.items():
                    rows.append((f"Linux fio {engine}, {where}", cell(lx["qd1"], ceil["qd1"]),
                                 cell(lx["qd32"], ceil["qd32"]), cell(lx["seq"], ceil["seq"]), "-"))
                progress(f"Linux on {where}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    end = ", ".join(f"{a:.2f}" for a in os.getloadavg())   # what `uptime` says (procps may be missing)
    print(f"# virtio.h and its peers ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} host cores, "
          f"QEMU {qemu_version()} TCG, {time.monotonic() - t0:.0f} s)\n")
    print("| 256 MiB raw image, page cache | 4K rand read qd1 IOPS | 4K rand read qd32 IOPS "
          "| 1M seq read qd16 MiB/s | one 256 MiB read MiB/s |")
    print("|---|---|---|---|---|")
    print(f"| qemu-img bench (ceiling) | {cell(ceil['qd1'])} | {cell(ceil['qd32'])} | {cell(ceil['seq'])} | - |")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    for n in notes:
        print(n)
    print(f"\nLoad (1-minute average) at the start and after each step: {', '.join(f'{a:.1f}' for a in load)}; "
          f"`uptime` at the end: load average: {end}\n")
    print(textwrap.fill(METHOD.format(runs=RUNS, uboot=versions["uboot"], loop_us=", ".join(loops),
                                      linux=versions["linux"]), 100))
    return 0


if __name__ == "__main__":
    sys.exit(main())
