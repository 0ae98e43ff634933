"""qemu.py - run test guests in QEMU and look at what they did from outside.

The tests in this folder (test_blk.py, test_net.py, ...) boot a guest
program built with examples/port, talk to it over its UART (QEMU's stdio)
and QMP, and check effects on the host side: disk images, frames at a
socket peer, pixels in a screendump. Python 3.11, standard library only.
tests/qemu/selftest.py proves this module against real QEMU.

    Configurations   ARCHES, TRANSPORTS, Config, matrix(), extra_matrix()
    Command lines    machine_args(cfg), device_args()/device(), drive_args(),
                     guest(arch, name) -> build/<arch>/<name>.elf
    Device trees     Fdt (parse a DTB), machine_fdt(cfg) (QEMU's own, via
                     dumpdtb), mmio_window(cfg)
    Machines         Machine: one QEMU with a hard timeout, the guest UART
                     on stdin/stdout, QMP (events, screendump, input,
                     set_link, HMP, PCI and virtio-mmio inspection)
    Guest protocol   results(), find(), kv(), check_transcript()
    Network peers    UdpPeer (-netdev dgram / socket,udp=), StreamPeer
                     (-netdev stream / socket,connect=), 127.0.0.1 only
    Disk images      pattern() (= vt_pattern() of guest/vt.h), crc32(),
                     make_image(), write_header(), read_range(),
                     crc32_range(), check_pattern(), check_range()
    Pictures         Image, parse_ppm()/read_ppm(), write_png(), read_png()
    Test runner      run(tests, configs) or @test + main(): PASS/FAIL/SKIP
                     lines, one summary line, filters, parallel workers

Rules kept here for every test:
  * every QEMU runs in its own session (process group) under coreutils
    `timeout -s KILL` (a backstop that fires even if this Python process
    is killed), a watchdog thread kills it at its deadline, and the
    context manager, the runner (per test, on Ctrl-C and SIGTERM) and
    atexit kill it on any failure. Only that process group is signalled.
  * networking only through socket backends on 127.0.0.1: machine_args()
    passes -nodefaults and -nic none (QEMU 7.2 otherwise adds an e1000e
    with user networking on q35 and a virtio-net-pci with user networking
    on aarch64 virt; riscv64 virt adds none), and Machine refuses to start
    a command line with user-mode (or any non-socket, non-loopback)
    networking.
  * temporary files live in one per-run directory, removed at exit
    (VT_KEEP=1 keeps it); each test of the runner gets its own
    subdirectory (workdir()), removed when the test ends.

Guest protocol: lines "VT <key> <words...>"; "VT FAIL ..." is a failure
the guest saw; "VT END <n>" is the last line (n = failures counted).

QEMU 7.2 facts relied on (each checked by selftest.py):
  * `-netdev dgram` and `-netdev stream` exist (new in 7.2) beside the
    older `-netdev socket`; stream and socket-TCP frames carry a 4-byte
    big-endian length prefix, UDP carries one frame per datagram.
  * screendump {filename, device?, head?, format?: ppm|png}: `device` is
    the display device's qdev id, `head` the output index of a multi-head
    device (virtio-gpu-pci,max_outputs=2 gives two consoles, heads 0 and
    1; head 2 is an error).
  * input-send-event {device?, head?, events: [InputEvent]}; device/head
    name a display *console* (events then go to input devices bound to it
    with their display=/head= properties), not the input device. Events
    are refused while the VM is paused.
  * virtio-gpu-pci and virtio-{keyboard,mouse,tablet}-pci are modern-only:
    with disable-modern=on QEMU silently builds a modern device (PCI id
    0x1050/0x1052) instead, so pci-legacy is not a configuration for them.
"""
from __future__ import annotations

import atexit
import concurrent.futures
import dataclasses
import inspect
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")

# --------------------------------------------------------------------------
# Configurations
# --------------------------------------------------------------------------

ARCHES = ("riscv64", "aarch64", "x86_64", "riscv32", "aarch64be", "armv7", "i686", "armv7be")
# matrix() covers the three 64-bit little-endian machines by default;
# extra_matrix() the 32-bit and big-endian ones. A suite runs both.
FULL_ARCHES = ("riscv64", "aarch64", "x86_64")
EXTRA_ARCHES = ("riscv32", "aarch64be", "armv7", "i686", "armv7be")
Q35_ARCHES = ("x86_64", "i686")   # SeaBIOS machines: no device tree, no virtio-mmio
# x86 virtio-mmio runs on QEMU's "microvm" (qboot, no PCI): 24 slots at a
# fixed place, no device tree. Not in ARCH_TRANSPORTS (the matrices stay
# as they are); suites name it in variants ("x86_64-mmio-modern-split").
MICROVM_MMIO = (0xfeb00000, 0x200, 24)
TRANSPORTS = ("mmio-legacy", "mmio-modern", "pci-modern", "pci-legacy")

# Transports each architecture runs: x86 q35 has no virtio-mmio slots, and
# legacy (I/O port) PCI is exercised on x86 and on the big-endian guest
# (where legacy's guest-order configuration matters) only.
ARCH_TRANSPORTS = {
    "riscv64": ("mmio-legacy", "mmio-modern", "pci-modern"),
    "aarch64": ("mmio-legacy", "mmio-modern", "pci-modern"),
    "x86_64": ("pci-modern", "pci-legacy"),
    "riscv32": ("mmio-legacy", "mmio-modern", "pci-modern"),
    "aarch64be": ("mmio-legacy", "mmio-modern", "pci-modern", "pci-legacy"),
    "armv7": ("mmio-legacy", "mmio-modern", "pci-modern"),
    "i686": ("pci-modern", "pci-legacy"),
    "armv7be": ("mmio-legacy", "mmio-modern", "pci-modern", "pci-legacy"),
}

# QEMU system emulator and machine options per arch. armv7 needs
# highmem=off: QEMU 7.2 would put the PCIe ECAM above 4 GiB, beyond a
# 32-bit CPU; aarch64 runs with the default highmem (ECAM at 64 GiB + 256
# MiB, a 512 GiB PCI window), which its port finds in the device tree.
QEMU_SYSTEM = {"riscv64": "riscv64", "riscv32": "riscv32", "aarch64": "aarch64", "aarch64be": "aarch64",
               "armv7": "arm", "x86_64": "x86_64", "i686": "i386", "armv7be": "arm"}
MACHINE = {
    "riscv64": ["-machine", "virt", "-bios", "none"],
    "riscv32": ["-machine", "virt", "-bios", "none"],
    "aarch64": ["-machine", "virt", "-cpu", "cortex-a57"],
    "aarch64be": ["-machine", "virt", "-cpu", "cortex-a57"],
    "armv7": ["-machine", "virt,highmem=off", "-cpu", "cortex-a15"],
    "armv7be": ["-machine", "virt,highmem=off", "-cpu", "cortex-a15"],
    "x86_64": ["-machine", "q35", "-device", "isa-debug-exit,iobase=0xf4,iosize=4"],
    "i686": ["-machine", "q35", "-device", "isa-debug-exit,iobase=0xf4,iosize=4"],
}

# Kinds QEMU only builds as VirtIO 1.0 PCI devices (disable-modern=on is
# silently overridden), so pci-legacy would rerun pci-modern under a false
# name. On virtio-mmio QEMU still offers them through the legacy register
# layout (without VERSION_1).
MODERN_ONLY = ("virtio-gpu", "virtio-keyboard", "virtio-mouse", "virtio-tablet",
               "virtio-input-host", "virtio-multitouch", "virtio-vga")

# VirtIO device IDs (for mmio_devices() and PCI ids 0x1040 + id).
VIRTIO_ID = {"virtio-net": 1, "virtio-blk": 2, "virtio-console": 3, "virtio-rng": 4,
             "virtio-gpu": 16, "virtio-keyboard": 18, "virtio-mouse": 18, "virtio-tablet": 18}


@dataclasses.dataclass(frozen=True, order=True)
class Config:
    """One machine configuration: architecture, transport, ring format, and
    optionally extra properties for the VirtIO devices under test
    (comma-separated, e.g. "queue-size=4" or "indirect_desc=off"; the word
    "transitional" builds PCI devices with both interfaces: no
    disable-legacy/disable-modern flags, the library probes the modern one)."""
    arch: str
    transport: str
    packed: bool = False
    props: str = ""

    def __post_init__(self):
        if self.arch not in ARCHES:
            raise ValueError(f"unknown arch {self.arch!r} (one of {ARCHES})")
        if self.transport not in TRANSPORTS:
            raise ValueError(f"unknown transport {self.transport!r} (one of {TRANSPORTS})")

    @property
    def name(self) -> str:
        base = f"{self.arch}-{self.transport}-{'packed' if self.packed else 'split'}"
        return base + "".join("+" + p for p in self.prop_list)

    @property
    def prop_list(self) -> list[str]:
        return [p for p in self.props.split(",") if p]

    @property
    def mmio(self) -> bool:
        return self.transport.startswith("mmio")

    @property
    def pci(self) -> bool:
        return self.transport.startswith("pci")

    @property
    def legacy(self) -> bool:
        return self.transport.endswith("legacy")

    def __str__(self):
        return self.name

    __repr__ = __str__

    @classmethod
    def parse(cls, name: str) -> "Config":
        """Config.parse("riscv64-mmio-modern-packed"), ("x86_64-pci-modern-split+queue-size=4")"""
        m = re.fullmatch(rf"({'|'.join(ARCHES)})-((?:mmio|pci)-(?:legacy|modern))-(split|packed)((?:\+[^+]+)*)", name)
        if not m:
            raise ValueError(f"bad configuration name {name!r}")
        return cls(m.group(1), m.group(2), m.group(3) == "packed", ",".join(p for p in m.group(4).split("+") if p))


def _kind_name(kind: str) -> str:
    """"blk" / "virtio-blk" / "virtio-blk-pci" -> "virtio-blk"."""
    for suffix in ("-pci", "-device"):
        if kind.endswith(suffix):
            kind = kind[: -len(suffix)]
    return kind if kind.startswith("virtio-") else "virtio-" + kind


def _narrow(arches, transports):
    """arches / transports as given (default: all), narrowed by VT_ARCHES and
    VT_TRANSPORTS (comma-separated)."""
    arches = tuple(arches or ARCHES)
    transports = tuple(transports or TRANSPORTS)
    if os.environ.get("VT_ARCHES"):
        arches = tuple(a for a in arches if a in os.environ["VT_ARCHES"].split(","))
    if os.environ.get("VT_TRANSPORTS"):
        transports = tuple(t for t in transports if t in os.environ["VT_TRANSPORTS"].split(","))
    return arches, transports


def _modern_only(kind, modern_only):
    if isinstance(kind, bool):
        return kind
    return modern_only or (kind is not None and _kind_name(kind) in MODERN_ONLY)


def matrix(kind: str | bool | None = None, arches=None, transports=None, modern_only: bool = False) -> list[Config]:
    """The configurations to run, in a stable order.

    riscv64 and aarch64 on mmio-legacy, mmio-modern and pci-modern; x86_64
    on pci-modern and pci-legacy; each with split and packed rings, except
    that legacy transports are split only (packed rings need VERSION_1).
    `kind` ("virtio-gpu", "gpu", "tablet", ...) or modern_only=True drops
    pci-legacy for devices QEMU only builds modern (MODERN_ONLY).
    arches (default: FULL_ARCHES; name others to get their full matrix) /
    transports narrow the set, and so do the environment variables
    VT_ARCHES and VT_TRANSPORTS (comma-separated).
    """
    modern_only = _modern_only(kind, modern_only)
    arches, transports = _narrow(arches or FULL_ARCHES, transports)
    out = []
    for arch in ARCHES:
        if arch not in arches:
            continue
        for tr in ARCH_TRANSPORTS[arch]:
            if tr not in transports or (modern_only and tr == "pci-legacy"):
                continue
            out.append(Config(arch, tr, False))
            if not tr.endswith("legacy"):
                out.append(Config(arch, tr, True))
    return out


def variants(names) -> list[Config]:
    """Configurations with device properties, by name ("x86_64-pci-modern-
    split+queue-size=4", see Config), narrowed by VT_ARCHES and
    VT_TRANSPORTS like matrix(); VT_VARIANTS=0 drops them all."""
    if os.environ.get("VT_VARIANTS") == "0":
        return []
    out = [Config.parse(n) for n in names]
    for var, attr in (("VT_ARCHES", "arch"), ("VT_TRANSPORTS", "transport")):
        if os.environ.get(var):
            out = [c for c in out if getattr(c, attr) in os.environ[var].split(",")]
    return out


def extra_matrix(kind: str | bool | None = None, transports=None, modern_only: bool = False) -> list[Config]:
    """matrix() for the 32-bit and big-endian machines (EXTRA_ARCHES):
    riscv32 and armv7 like riscv64, aarch64be also on pci-legacy, i686
    like x86_64; split and packed rings where the transport allows.
    Narrowed like matrix().
    A suite runs matrix(kind) + extra_matrix(kind)."""
    return matrix(kind, arches=EXTRA_ARCHES, transports=transports, modern_only=modern_only)


# --------------------------------------------------------------------------
# Command lines
# --------------------------------------------------------------------------

def qemu_binary(arch: str) -> str:
    return os.environ.get(f"VT_QEMU_{arch.upper()}", f"qemu-system-{QEMU_SYSTEM[arch]}")


def machine_args(cfg: Config | str) -> list[str]:
    """The base QEMU command line for cfg, binary first.

    riscv64, riscv32: virt, no firmware (-bios none): the ELF runs in
             M-mode; the sifive test device powers off: 0x5555 exits 0,
             (code << 16) | 0x3333 exits with status `code`.
    aarch64, aarch64be: virt (default highmem), cortex-a57; PSCI
             SYSTEM_OFF exits 0. The big-endian ELF makes QEMU run the CPU
             with big-endian data.
    armv7, armv7be: virt,highmem=off, cortex-a15 (qemu-system-arm); PSCI
             exits 0. armv7be is a BE8 ELF: QEMU runs the CPU with
             big-endian data.
    x86_64, i686 (qemu-system-i386): q35 with SeaBIOS and an
             isa-debug-exit device at port 0xf4 (4 bytes): writing v exits
             QEMU with (v << 1) | 1 (exit_code() undoes that); ACPI S5
             power-off exits 0. On mmio transports: microvm (qboot,
             virtio-mmio slots, no PCI), with the same exit device; the
             ACPI event device's S5 exits 0.
    All: -nodefaults (no default NIC, disk, VGA, parallel port) and
    -nic none, 256 MiB, one CPU, TCG (VT_ACCEL overrides), serial on
    stdio, no monitor, no display, no reboot. mmio-modern configurations
    add -global virtio-mmio.force-legacy=false (legacy is QEMU's default).

    One CPU present, two possible (-smp 1,maxcpus=2): QEMU 7.2's TCG
    translates the guest's memory barriers only when more than one CPU is
    possible (tcg_cpu_init_cflags: CF_PARALLEL iff max_cpus > 1), yet a
    virtio-pci device runs in QEMU's main loop, beside the vCPU. With
    -smp 1 the fence between publishing the avail index and reading
    avail_event was no fence on the host, and a receive ring stalled for
    good (x86_64 net_bench, one run in three; seen with QEMU's queue
    status: avail idx 128 ahead of avail_event, no notification).
    """
    if isinstance(cfg, str):
        cfg = Config(cfg, "pci-modern")
    a = [qemu_binary(cfg.arch)] + MACHINE[cfg.arch]
    if cfg.arch in Q35_ARCHES and cfg.mmio:
        a[a.index("q35")] = "microvm"
    a += ["-accel", os.environ.get("VT_ACCEL", "tcg"), "-m", "256M", "-smp", "1,maxcpus=2",
          "-display", "none", "-serial", "stdio", "-monitor", "none",
          "-nodefaults", "-nic", "none", "-no-reboot"]
    if cfg.transport == "mmio-modern":
        a += ["-global", "virtio-mmio.force-legacy=false"]
    return a


def device_args(cfg: Config, kind: str, extra: str = "", id: str | None = None) -> list[str]:
    """-device arguments for a VirtIO device on cfg's transport.

    kind: "virtio-blk" or just "blk"; also net, gpu, keyboard, mouse,
    tablet, rng, ...
      mmio-*      -device virtio-blk-device (x86: on microvm)
      pci-modern  -device virtio-blk-pci,disable-legacy=on,disable-modern=off
      pci-legacy  -device virtio-blk-pci,disable-legacy=off,disable-modern=on
      transitional (cfg.props)  -device virtio-blk-pci (both interfaces)
      root-port (cfg.props)  the device behind a PCIe root port of its own,
                  on bus 1 and up: numbered by SeaBIOS on x86, by
                  virtio_pci_assign on the other machines
      switch (cfg.props)  three bridges deep: a root port, a PCIe switch
                  (x3130 upstream port, xio3130 downstream port) below it,
                  the device below the switch
      pci-bridge (cfg.props)  a root port, a PCIe-to-PCI bridge below it,
                  the device in slot 3 of that conventional bus (its INTx
                  pin swizzled by 3 on the way up)
      iothread (cfg.props)  an iothread object of its own for the device
                  (virtio-blk): QEMU runs the device model there, beside
                  the main loop, as libvirt sets it up
      bigbar (cfg.props)  before the device, an ivshmem-plain function with
                  a 256 MiB BAR on the root bus: in bus order a small BAR
                  would precede it (virtio_pci_assign must place largest
                  first; riscv32's 1 GiB window holds three only so)
      vga (cfg.props)  virtio-gpu as QEMU's virtio-vga: a VGA-class
                  function whose VirtIO registers sit in other BARs (x86
                  and riscv64 PCI)
      multifunction (cfg.props)  the device as function 5 of a
                  multi-function slot whose function 0 is a pci-testdev
                  (not VirtIO) and functions 1-4 are empty: a scan must
                  look past function 0 and skip the holes (with a bridge
                  word: on the bridge's bus)
    packed configurations add packed=on, then cfg's other properties, `id`
    and `extra` properties ("drive=d0,serial=x") are appended. Raises
    ValueError for combinations QEMU cannot build (legacy
    gpu/input on PCI, transitional on MMIO or legacy).
    """
    name = _kind_name(kind)
    extra_props = cfg.prop_list
    transitional = "transitional" in extra_props
    if transitional and (cfg.mmio or cfg.legacy):
        raise ValueError("transitional is a pci-modern variant")
    if "vga" in extra_props and (cfg.mmio or name != "virtio-gpu"):
        raise ValueError("vga is a virtio-gpu PCI variant")
    if cfg.mmio:
        props = [name + "-device"]
    elif "vga" in extra_props:
        props = ["virtio-vga", "disable-legacy=on", "disable-modern=off"]
    elif cfg.legacy:
        if name in MODERN_ONLY:
            raise ValueError(f"{name}-pci is modern-only in QEMU: use matrix({name!r})")
        props = [name + "-pci", "disable-legacy=off", "disable-modern=on"]
    elif transitional:
        props = [name + "-pci"]
    else:
        props = [name + "-pci", "disable-legacy=on", "disable-modern=off"]
    if cfg.packed:
        if cfg.legacy:
            raise ValueError("legacy transports cannot do packed rings")
        props.append("packed=on")
    props += [p for p in extra_props if p not in ("transitional", "iothread", "multifunction", "vga", "bigbar") + _BRIDGED]
    obj = []
    if "bigbar" in extra_props:
        global _bigbars
        if cfg.mmio:
            raise ValueError("bigbar is a PCI variant")
        _bigbars += 1
        obj = ["-object", f"memory-backend-ram,id=vtbb{_bigbars},size=256M",
               "-device", f"ivshmem-plain,memdev=vtbb{_bigbars}"]
    if "iothread" in extra_props:
        global _iothreads
        _iothreads += 1
        obj += ["-object", f"iothread,id=vtio{_iothreads}"]
        props.append(f"iothread=vtio{_iothreads}")
    if id:
        props.append(f"id={id}")
    if extra:
        props.append(extra.strip(","))
    bridge = []
    how = [p for p in extra_props if p in _BRIDGED]
    if how:
        global _root_ports
        if cfg.mmio:
            raise ValueError(f"{how[0]} is a PCI variant")
        _root_ports = _root_ports % 200 + 1   # chassis numbers and ids: unique within a machine
        n = _root_ports
        bridge = ["-device", f"pcie-root-port,id=vtrp{n},chassis={n}"]
        if how[0] == "switch":
            bridge += ["-device", f"x3130-upstream,id=vtup{n},bus=vtrp{n}",
                       "-device", f"xio3130-downstream,id=vtdn{n},bus=vtup{n},chassis={200 + n},slot=0"]
            props.append(f"bus=vtdn{n}")
        elif how[0] == "pci-bridge":
            bridge += ["-device", f"pcie-pci-bridge,id=vtpb{n},bus=vtrp{n}"]
            props += [f"bus=vtpb{n}", "addr=3"]
        else:
            props.append(f"bus=vtrp{n}")
    if "multifunction" in extra_props:
        global _slots
        if cfg.mmio:
            raise ValueError("multifunction is a PCI variant")
        bus = [p for p in props if p.startswith("bus=")]
        if how:   # a bridge's bus: slot 0 below a PCIe port, the device's slot below a PCI bridge
            slot = 3 if how[0] == "pci-bridge" else 0
            props = [p for p in props if not p.startswith("addr=")]
        else:
            _slots = _slots % 8 + 1
            slot = 0x10 + _slots
        bridge += ["-device", ",".join(["pci-testdev"] + bus + [f"addr={slot:#x}.0", "multifunction=on"])]
        props.append(f"addr={slot:#x}.5")
    return obj + bridge + ["-device", ",".join(props)]


_root_ports = 0
_iothreads = 0
_slots = 0
_bigbars = 0
_BRIDGED = ("root-port", "switch", "pci-bridge")


def device(cfg: Config, kind: str, props: str = "") -> list[str]:
    """device_args() under its short name: device(cfg, "blk", "drive=d0")."""
    return device_args(cfg, kind, props)


def drive_args(path: str, id: str = "d0", fmt: str = "raw", readonly: bool = False,
               cache: str = "writeback", extra: str = "") -> list[str]:
    """-drive if=none,... for an image; attach it with extra="drive=<id>"."""
    opts = ["if=none", f"id={id}", f"file={path}", f"format={fmt}", f"cache={cache}"]
    if readonly:
        opts.append("readonly=on")
    if extra:
        opts.append(extra.strip(","))
    return ["-drive", ",".join(opts)]


def guest(arch: str, name: str) -> str:
    """build/<arch>/<name>.elf (built by `make guests`)."""
    path = os.path.join(BUILD, arch, name + ".elf")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} missing: run `make guests`")
    return path


def exit_code(cfg: Config | str, status: int | None) -> int | None:
    """The guest's port_exit() code from QEMU's exit status, where the
    machine can carry one: x86 isa-debug-exit gives (v << 1) | 1 (an ACPI
    power-off gives 0); riscv passes it straight; the arm machines' PSCI
    gives 0 (their codes need semihosting, which machine_args leaves off)."""
    arch = cfg if isinstance(cfg, str) else cfg.arch
    if status is not None and arch in Q35_ARCHES and status & 1:
        return status >> 1
    return status


# --------------------------------------------------------------------------
# Device trees
# --------------------------------------------------------------------------

class FdtNode:
    """One device tree node: name, parent, props (name -> raw bytes), children."""

    def __init__(self, name: str, parent: "FdtNode | None"):
        self.name, self.parent, self.props, self.children = name, parent, {}, []

    @property
    def path(self) -> str:
        if self.parent is None:
            return "/"
        up = self.parent.path
        return (up if up.endswith("/") else up + "/") + self.name

    def cells(self, prop: str) -> list[int]:
        v = self.props.get(prop, b"")
        return list(struct.unpack(f">{len(v) // 4}I", v[:len(v) // 4 * 4]))

    def strings(self, prop: str) -> list[str]:
        v = self.props.get(prop)
        return v.rstrip(b"\0").decode("ascii", "replace").split("\0") if v else []

    def compatible(self, compat: str) -> bool:
        return compat in self.strings("compatible")

    def cell_count(self, prop: str, default: int) -> int:
        c = self.cells(prop)
        return c[0] if len(c) == 1 else default

    def __repr__(self):
        return f"FdtNode({self.path})"


def fdt_number(cells: list[int]) -> int:
    """Big-endian 32-bit cells as one number ([0x40, 0x10000000] -> 0x4010000000)."""
    v = 0
    for c in cells:
        v = v << 32 | c
    return v


class Fdt:
    """A flattened device tree (Devicetree Specification v0.4, chapter 5),
    parsed: fdt.root, fdt.nodes() in document order, fdt.find(compatible),
    fdt.reg(node) in CPU addresses, fdt.blob the bytes. Raises ValueError
    on a malformed blob.
    The guests' reader is examples/port/fdt.c; tests compare the two."""

    def __init__(self, blob: bytes):
        if len(blob) < 40:
            raise ValueError("DTB shorter than its header")
        magic, total, off_struct, off_strings, _rsv, version, _last, _cpu, size_strings, size_struct = \
            struct.unpack(">10I", blob[:40])
        if magic != 0xD00DFEED or version < 17 or total > len(blob):
            raise ValueError(f"not a DTB (magic {magic:#x}, version {version}, size {total}/{len(blob)})")
        self.blob = bytes(blob[:total])
        strings = blob[off_strings:off_strings + size_strings]
        pos, end = off_struct, off_struct + size_struct
        self.root, stack = None, []

        def cstr(b, at):
            z = b.index(b"\0", at)
            return b[at:z].decode("ascii", "replace"), z

        while pos + 4 <= end:
            tok = struct.unpack(">I", blob[pos:pos + 4])[0]
            pos += 4
            if tok == 1:                                  # BEGIN_NODE name
                name, z = cstr(blob, pos)
                pos = (z + 4) & ~3
                node = FdtNode(name, stack[-1] if stack else None)
                if stack:
                    stack[-1].children.append(node)
                elif self.root is None:
                    self.root = node
                else:
                    raise ValueError("DTB has two roots")
                stack.append(node)
            elif tok == 2:                                # END_NODE
                if not stack:
                    raise ValueError("DTB: unbalanced END_NODE")
                stack.pop()
            elif tok == 3:                                # PROP len nameoff value
                n, nameoff = struct.unpack(">II", blob[pos:pos + 8])
                if not stack or pos + 8 + n > end:
                    raise ValueError("DTB: property outside a node or past the block")
                stack[-1].props[cstr(strings, nameoff)[0]] = blob[pos + 8:pos + 8 + n]
                pos = (pos + 8 + n + 3) & ~3
            elif tok == 4:                                # NOP
                continue
            elif tok == 9:                                # END
                break
            else:
                raise ValueError(f"DTB: bad token {tok:#x} at {pos - 4:#x}")
        if self.root is None or stack:
            raise ValueError("DTB: no root, or nodes left open")

    def nodes(self):
        todo = [self.root]
        while todo:
            n = todo.pop(0)
            yield n
            todo[0:0] = n.children

    def find(self, compatible: str) -> list[FdtNode]:
        return [n for n in self.nodes() if n.compatible(compatible)]

    def node(self, path: str) -> FdtNode | None:
        return next((n for n in self.nodes() if n.path == path), None)

    def translate(self, node: FdtNode, addr: int) -> int | None:
        """An address on node's parent bus as a CPU address, through each
        ancestor's "ranges" (None if some bus does not map it)."""
        bus = node.parent
        while bus is not None and bus.parent is not None:
            if "ranges" not in bus.props:
                return None
            r = bus.cells("ranges")
            ca, pa, sc = bus.cell_count("#address-cells", 2), bus.parent.cell_count("#address-cells", 2), \
                bus.cell_count("#size-cells", 1)
            if r:
                step = ca + pa + sc
                for i in range(0, len(r) - step + 1, step):
                    child, parent, size = fdt_number(r[i:i + ca]), fdt_number(r[i + ca:i + ca + pa]), \
                        fdt_number(r[i + ca + pa:i + step])
                    if child <= addr < child + size:
                        addr = parent + addr - child
                        break
                else:
                    return None
            bus = bus.parent
        return addr

    def reg(self, node: FdtNode) -> list[tuple[int, int]]:
        """node's "reg" entries as (CPU address, size)."""
        ac, sc = node.parent.cell_count("#address-cells", 2), node.parent.cell_count("#size-cells", 1)
        r = node.cells("reg")
        out = []
        for i in range(0, len(r) - (ac + sc) + 1, ac + sc):
            out.append((self.translate(node, fdt_number(r[i:i + ac])), fdt_number(r[i + ac:i + ac + sc])))
        return out


_fdt_cache: dict = {}
_fdt_lock = threading.Lock()


def machine_fdt(cfg: Config | str, command: list[str] | None = None) -> Fdt | None:
    """The device tree QEMU builds for cfg's machine (machine_args(cfg), or
    `command`, a base command line with a -machine option, as Machine's
    command= takes it), dumped with -machine ...,dumpdtb= and parsed;
    None for x86 q35, which has none. Cached per command line."""
    if isinstance(cfg, str):
        cfg = Config(cfg, "pci-modern")
    if cfg.arch in Q35_ARCHES:
        return None
    base = list(command) if command is not None else machine_args(cfg)
    key = tuple(base)
    with _fdt_lock:
        if key not in _fdt_cache:
            path = os.path.join(tempfile.mkdtemp(prefix="dtb", dir=run_dir()), "machine.dtb")
            cmd = list(base)
            i = cmd.index("-machine") + 1
            cmd[i] += f",dumpdtb={path}"
            p = subprocess.run(["timeout", "-s", "KILL", "60"] + cmd, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=90)
            if not os.path.exists(path):
                raise MachineError(f"dumpdtb failed (status {p.returncode}): {' '.join(cmd)}\n{p.stderr}")
            with open(path, "rb") as f:
                _fdt_cache[key] = Fdt(f.read())
        return _fdt_cache[key]


def mmio_window(cfg: Config | str) -> tuple[int, int, int]:
    """(base, stride, slots) of the machine's virtio-mmio transports, from
    its device tree; microvm's fixed ones on x86 mmio configurations;
    (0, 0, 0) on x86 q35."""
    if isinstance(cfg, str):
        cfg = Config(cfg, "pci-modern")
    if cfg.arch in Q35_ARCHES:
        return MICROVM_MMIO if cfg.mmio else (0, 0, 0)
    fdt = machine_fdt(cfg)
    bases = sorted(fdt.reg(n)[0][0] for n in fdt.find("virtio,mmio")) if fdt else []
    if not bases:
        return (0, 0, 0)
    stride = bases[1] - bases[0] if len(bases) > 1 else 0x200
    if bases != [bases[0] + i * stride for i in range(len(bases))]:
        raise ValueError(f"virtio-mmio slots not evenly spaced: {[hex(b) for b in bases]}")
    return (bases[0], stride, len(bases))


_NET_BACKENDS_OK = ("socket", "stream", "dgram", "hubport")
_ADDR_KEYS = re.compile(r"(?:^|,)(?:[\w.]*host|udp|localaddr|connect|listen|mcast)=\[?([^,\]]*)")


def check_command_line(argv: list[str]):
    """Raise ValueError for any network setup other than socket backends on
    127.0.0.1 (no user-mode networking, no tap, no other address)."""
    for i, a in enumerate(argv):
        opt = a.lstrip("-")
        if a.startswith("-") and opt in ("netdev", "nic", "net") and i + 1 < len(argv):
            v = argv[i + 1]
            kind = v.split(",", 1)[0]
            if opt == "netdev" and kind not in _NET_BACKENDS_OK:
                raise ValueError(f"refusing -netdev {v!r}: only socket/stream/dgram on 127.0.0.1")
            if opt in ("nic", "net") and kind != "none":
                raise ValueError(f"refusing {a} {v!r}: use -netdev with a loopback socket backend")
            for val in _ADDR_KEYS.findall(v):
                host = val.rsplit(":", 1)[0] if ":" in val and not val.endswith("]") else val
                if host not in ("127.0.0.1", "localhost"):
                    raise ValueError(f"refusing address {val!r} in {v!r}: 127.0.0.1 only")
        if a == "-device" and i + 1 < len(argv) and re.search(r"(?:^|,)netdev=user", argv[i + 1]):
            raise ValueError("refusing user-mode networking")


# --------------------------------------------------------------------------
# Failures, run directory, process bookkeeping
# --------------------------------------------------------------------------

class Failure(AssertionError):
    """A test failure: the first line is the reason, the rest details."""


Fail = Failure


class Skip(Exception):
    """Raise (or call skip()) to report SKIP instead of PASS/FAIL."""


class MachineError(Failure):
    """QEMU failed to start, exited or was killed while a test waited."""


class Timeout(MachineError):
    pass


class QMPError(Failure):
    def __init__(self, cmd, error):
        self.cmd = cmd
        self.error = error
        desc = error.get("desc", error) if isinstance(error, dict) else error
        cls = error.get("class", "") if isinstance(error, dict) else ""
        super().__init__(f"QMP {cmd}: {desc}" + (f" ({cls})" if cls else ""))


def check(cond, what: str):
    if not cond:
        raise Failure(what)


def fail(what: str):
    raise Failure(what)


def skip(why: str):
    raise Skip(why)


_run_dir = None
_run_dir_lock = threading.Lock()
_tls = threading.local()


def run_dir() -> str:
    """The per-run temporary directory (removed at exit unless VT_KEEP=1)."""
    global _run_dir
    with _run_dir_lock:
        if _run_dir is None:
            _run_dir = tempfile.mkdtemp(prefix="vt-qemu-")
            atexit.register(_remove_run_dir)
        return _run_dir


def _remove_run_dir():
    kill_all()
    if _run_dir and os.path.isdir(_run_dir):
        if os.environ.get("VT_KEEP"):
            sys.stderr.write(f"qemu.py: kept {_run_dir}\n")
        else:
            shutil.rmtree(_run_dir, ignore_errors=True)


def workdir() -> str:
    """This test's own directory inside the run directory (the runner makes
    one per test and configuration; outside the runner, a shared one)."""
    d = getattr(_tls, "workdir", None)
    if d is None:
        d = os.path.join(run_dir(), "misc")
        os.makedirs(d, exist_ok=True)
    return d


def tmp_path(name: str) -> str:
    return os.path.join(workdir(), name)


_live = set()
_live_lock = threading.Lock()
_aborting = threading.Event()


def kill_all():
    """Kill every QEMU this process started that is still running."""
    with _live_lock:
        machines = list(_live)
    for m in machines:
        try:
            m.kill()
        except Exception:
            pass


atexit.register(kill_all)


def _proc_stat(pid: int):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def pid_alive(pid: int) -> bool:
    """True if process `pid` exists and is not a zombie."""
    st = _proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def pgroup_alive(pgid: int) -> bool:
    """True if a live (non-zombie) process is in process group `pgid`."""
    for ent in os.listdir("/proc"):
        if ent.isdigit():
            st = _proc_stat(int(ent))
            if st and st[0] not in ("Z", "X") and st[2] == str(pgid):
                return True
    return False


# --------------------------------------------------------------------------
# Machine
# --------------------------------------------------------------------------

class Transcript(list):
    """The guest's UART output: a list of lines (without line ends) that
    also answers like its text. str(t) and t.text give the text (every
    line newline-terminated); string methods (t.splitlines(), t.find(),
    t.startswith(), ...) work on that text; `x in t` is true for a whole
    line or any substring. list's own count() and index() stay per line."""

    @property
    def text(self) -> str:
        return "".join(l + "\n" for l in self)

    @property
    def lines(self) -> list[str]:
        return list(self)

    def __str__(self):
        return self.text

    def __contains__(self, item):
        if isinstance(item, str):
            return list.__contains__(self, item) or item in self.text
        return list.__contains__(self, item)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.text, name)


BACKSTOP_GRACE = 10   # seconds after its limit that `timeout -s KILL` kills QEMU itself


class Machine:
    """A QEMU running a guest. Use as a context manager: QEMU is killed when
    the block ends, whatever happened.

        with Machine(cfg, guest(cfg.arch, "blk_test"), args, timeout=300) as m:
            m.expect(r"^VT READY")
            m.write("go\\n")
            res = m.run_to_end()      # VT END, power-off, check_transcript()

    args are appended to machine_args(cfg) (+ -kernel); `command` replaces
    that whole base command line. m.tmp is the machine's directory (made
    at construction; kept until the test ends).

    When QEMU starts: entering the with block starts it if args were
    given (start=None, the default) or start=True. Without args (or with
    start=False) it waits, so files can be made in m.tmp and m.args set
    first; then m.start(), or the first read_line/expect/write/qmp call,
    starts it. start() is a no-op on a running machine.

    `timeout` (seconds) bounds the machine's whole life. qmp=True connects
    QMP, does the capabilities handshake and collects events in m.events.
    m.pid is QEMU's PID, m.pgid its process group, m.cmd its command line.
    """

    def __init__(self, cfg: Config | str, kernel: str | None = None, args=(), timeout: float = 180,
                 qmp: bool = True, tmp: str | None = None, name: str | None = None,
                 command: list[str] | None = None, extra_args=None, start: bool | None = None):
        self.cfg = Config(cfg, "pci-modern") if isinstance(cfg, str) else cfg
        self.kernel = kernel
        self.args = list(extra_args if extra_args is not None else args)
        self.start_on_enter = bool(self.args) if start is None else start
        self.timeout = float(timeout)
        self.use_qmp = qmp
        self.base_command = command
        self.name = name or (os.path.basename(kernel).rsplit(".", 1)[0] + "@" if kernel else "") + self.cfg.name
        if tmp is None:
            self.tmp = tempfile.mkdtemp(prefix="m", dir=workdir())
        else:
            os.makedirs(tmp, exist_ok=True)
            self.tmp = tmp
        self.proc = None
        self.pid = None           # QEMU's own PID (from -pidfile)
        self.pgid = None          # its process group (with the `timeout` backstop)
        self.cmd = None
        self.events = []
        self.timed_out = False
        self.killed = False
        self.qemu_version = None
        self._lines = []          # complete lines of guest output
        self._partial = bytearray()
        self._err = bytearray()
        self._notes = []
        self._cond = threading.Condition()
        self._eof = False
        self._pos = 0             # read cursor into _lines
        self._qmp_sock = None
        self._qmp_send_lock = threading.Lock()
        self._qmp_id = 0
        self._qmp_replies = {}
        self._qmp_closed = False
        self._watchdog = None
        self._threads = []
        self._deadline = None
        self._short_dir = None
        self._dumps = 0

    # ---- lifecycle ----------------------------------------------------

    def command_line(self) -> list[str]:
        cmd = list(self.base_command) if self.base_command is not None else machine_args(self.cfg)
        if self.kernel:
            cmd += ["-kernel", self.kernel]
        return cmd + list(self.args)

    def start(self) -> "Machine":
        """Start QEMU (once); returns self. QMP is ready when this returns."""
        if self.proc is not None:
            return self
        if _aborting.is_set():
            raise MachineError("run interrupted: not starting QEMU")
        cmd = self.command_line()
        check_command_line(cmd)
        pidfile = os.path.join(self.tmp, "qemu.pid")
        cmd += ["-pidfile", pidfile]
        if self.use_qmp:
            self._qmp_path = os.path.join(self.tmp, "qmp.sock")
            if len(self._qmp_path) > 100:   # AF_UNIX path limit
                self._short_dir = tempfile.mkdtemp(prefix="vtq")
                self._qmp_path = os.path.join(self._short_dir, "qmp")
            cmd += ["-qmp", f"unix:{self._qmp_path},server=on,wait=off"]
            # Paused until QMP is up (unless the caller wants it paused):
            # a quick guest could otherwise power off, and QEMU exit,
            # before the handshake.
            resume = "-S" not in cmd
            if resume:
                cmd.append("-S")
        self.cmd = cmd
        with open(os.path.join(self.tmp, "cmdline"), "w") as f:
            f.write(" ".join(cmd) + "\n")
        backstop = f"{int(self.timeout) + BACKSTOP_GRACE}s"
        self._deadline = time.monotonic() + self.timeout
        self.proc = subprocess.Popen(["timeout", "-s", "KILL", backstop] + cmd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.pgid = self.proc.pid
        with _live_lock:
            _live.add(self)
        owned = getattr(_tls, "machines", None)
        if owned is not None:
            owned.append(self)
        try:
            self._watchdog = threading.Timer(self.timeout, self._on_timeout)
            self._watchdog.daemon = True
            self._watchdog.start()
            for target, stream in ((self._read_stdout, self.proc.stdout), (self._read_stderr, self.proc.stderr)):
                t = threading.Thread(target=target, args=(stream.fileno(),), daemon=True)
                t.start()
                self._threads.append(t)
            self._wait_pidfile(pidfile)
            if self.use_qmp:
                self._qmp_connect()
                if resume:
                    try:
                        self.qmp("cont")
                    except MachineError as e:
                        # A guest that runs to its end at once can power
                        # off, and QEMU exit, before the reply leaves:
                        # what the guest printed says how it went.
                        if "QMP closed" not in str(e):
                            raise
        except BaseException:
            self.kill()
            raise
        return self

    def __enter__(self):
        if self.start_on_enter:
            self.start()
        return self

    def __exit__(self, *exc):
        self.kill()
        return False

    def _ensure(self):
        if self.proc is None:
            self.start()

    def _on_timeout(self):
        if self.proc is not None and self.proc.poll() is None:
            self.timed_out = True
            self._notes.append(f"[runner] killed after its {self.timeout:.0f}s limit")
            self.kill()

    def _left(self, timeout: float | None) -> float:
        left = self._deadline - time.monotonic() if self._deadline is not None else 1e9
        return left if timeout is None else min(timeout, left)

    def _wait_pidfile(self, pidfile):
        while True:
            try:
                with open(pidfile) as f:
                    txt = f.read().strip()
                if txt:
                    self.pid = int(txt)
                    return
            except (FileNotFoundError, ValueError):
                pass
            if self.proc.poll() is not None:
                self._join_readers()
                raise MachineError(f"QEMU exited with status {self.proc.returncode} at startup\n"
                                   f"command: {' '.join(self.cmd)}\n{self.stderr}")
            if time.monotonic() > self._deadline:
                raise Timeout(f"QEMU did not start within {self.timeout:.0f}s")
            time.sleep(0.01)

    def _read_stdout(self, fd):
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            with self._cond:
                if not chunk:
                    if self._partial:
                        self._lines.append(self._partial.decode("utf-8", "replace").rstrip("\r"))
                        self._partial.clear()
                    self._eof = True
                    self._cond.notify_all()
                    return
                self._partial += chunk
                while True:
                    nl = self._partial.find(b"\n")
                    if nl < 0:
                        break
                    self._lines.append(self._partial[:nl].decode("utf-8", "replace").rstrip("\r"))
                    del self._partial[:nl + 1]
                self._cond.notify_all()

    def _read_stderr(self, fd):
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                return
            with self._cond:
                self._err += chunk

    def _join_readers(self, timeout=2.0):
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout)

    def kill(self):
        """Kill QEMU (SIGKILL to its own process group) and reap it. Safe to
        call any number of times, from any thread."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            self.killed = True
            try:
                os.killpg(self.pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        elif self.pid and pid_alive(self.pid):
            # The backstop exited but QEMU did not: kill it only while it is
            # still in our process group (so never a reused PID).
            try:
                if os.getpgid(self.pid) == self.pgid:
                    os.killpg(self.pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self._close_qmp()
        self._join_readers()
        for s in (p.stdin, p.stdout, p.stderr):
            try:
                if s:
                    s.close()
            except OSError:
                pass
        with self._cond:
            self._eof = True
            self._cond.notify_all()
        with _live_lock:
            _live.discard(self)
        if self._short_dir:
            shutil.rmtree(self._short_dir, ignore_errors=True)
            self._short_dir = None

    @property
    def returncode(self) -> int | None:
        """QEMU's exit status once it has exited (negative: killed by that
        signal), else None."""
        return self.proc.poll() if self.proc is not None else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout: float = 60) -> int:
        """Wait for QEMU to exit by itself (guest power-off); returns its exit
        status. Raises Timeout, killing it, if it is still running after
        `timeout` seconds or was killed at its time limit."""
        self._ensure()
        try:
            rc = self.proc.wait(timeout=max(self._left(timeout), 0))
        except subprocess.TimeoutExpired:
            self.kill()
            raise Timeout(f"{self.name}: QEMU did not exit within {timeout}s\n{self.describe(60)}")
        self._join_readers()
        self.kill()
        if self.timed_out:
            raise Timeout(f"{self.name}: killed at its {self.timeout:.0f}s limit\n{self.describe(60)}")
        return rc

    # ---- serial -------------------------------------------------------

    @property
    def transcript(self) -> Transcript:
        """Every line the guest printed so far (read or not): a list of
        lines that also works as the text (see Transcript)."""
        with self._cond:
            return Transcript(self._lines)

    @property
    def lines(self) -> list[str]:
        """The guest's output as a list of lines."""
        with self._cond:
            return list(self._lines)

    @property
    def stderr(self) -> str:
        with self._cond:
            return self._err.decode("utf-8", "replace")

    def describe(self, tail: int | None = None) -> str:
        """The transcript (its last `tail` lines), QEMU's stderr and exit
        status, for failure messages."""
        with self._cond:
            lines = list(self._lines)
            if self._partial:
                lines.append(self._partial.decode("utf-8", "replace") + "  [no newline]")
            err = self._err.decode("utf-8", "replace").strip()
        cut = ""
        if tail and len(lines) > tail:
            cut = f" (last {tail} of {len(lines)} lines)"
            lines = lines[-tail:]
        s = f"--- guest output{cut} [{self.name}] ---\n" + "".join(l + "\n" for l in lines)
        if err:
            s += "--- qemu stderr ---\n" + err + "\n"
        for n in self._notes:
            s += n + "\n"
        if self.returncode is not None:
            s += f"--- qemu exit status {self.returncode}{' (killed)' if self.killed else ''}\n"
        return s

    def tail(self, n: int = 40) -> str:
        return self.describe(n)

    def read_line(self, timeout: float = 30) -> str | None:
        """The next line from the guest (without its line end), or None on
        timeout or when QEMU has exited and everything was read."""
        self._ensure()
        end = time.monotonic() + self._left(timeout)
        while True:
            with self._cond:
                if self._pos < len(self._lines):
                    self._pos += 1
                    return self._lines[self._pos - 1]
                left = end - time.monotonic()
                if self._eof or left <= 0:
                    break
                self._cond.wait(min(left, 1.0))
        if time.monotonic() >= self._deadline:
            self._on_timeout()   # enforce the limit now rather than when the watchdog wakes
        return None

    def expect(self, pattern, timeout: float = 60, fail_on: str | None = r"^VT FAIL\b"):
        """Read lines until one matches `pattern` (re.search); returns the
        match. Raises Failure with the transcript on timeout, on QEMU
        exiting first, or on a line matching fail_on (a "VT FAIL" line;
        fail_on=None reads past those)."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        frx = re.compile(fail_on) if fail_on else None
        end = time.monotonic() + timeout
        while True:
            line = self.read_line(max(0.0, end - time.monotonic()))
            if line is None:
                if self.timed_out:
                    why = f"QEMU killed at its {self.timeout:.0f}s limit"
                elif self.proc.poll() is not None or self._eof:
                    why = "QEMU exited"
                else:
                    why = f"nothing after {timeout}s"
                raise Timeout(f"{self.name}: {why} while waiting for /{rx.pattern}/\n{self.describe(80)}")
            m = rx.search(line)
            if m:
                return m
            if frx and frx.search(line):
                raise Failure(f"{self.name}: guest: {line}\n{self.describe(80)}")

    def write(self, data: bytes | str):
        """Send bytes to the guest's UART."""
        self._ensure()
        if isinstance(data, str):
            data = data.encode()
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError) as e:
            raise MachineError(f"{self.name}: cannot write to the guest UART ({e})\n{self.describe(40)}")

    def collect(self, timeout: float = 120) -> list[tuple[str, str]]:
        """Wait for "VT END"; return every VT line of the run (including
        those an earlier expect() went past) as (key, rest) tuples. VT FAIL
        lines are returned, not raised (see check_transcript())."""
        self.expect(r"^VT END\b", timeout=timeout, fail_on=None)
        return results(self.transcript)

    def run_to_end(self, timeout: float = 120, exit_timeout: float = 30) -> list[tuple[str, str]]:
        """collect(), wait for the guest to power off, then check_transcript():
        fails on VT FAIL, a missing VT END or a non-zero END code."""
        self.collect(timeout)
        try:
            self.wait_exit(exit_timeout)
        except Timeout as e:
            raise Timeout(f"{self.name}: guest printed VT END but did not power off\n{e}")
        return check_transcript(self.transcript, self.name, self.stderr)

    # ---- QMP ----------------------------------------------------------

    def _qmp_connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                s.connect(self._qmp_path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if self.proc.poll() is not None:
                    s.close()
                    self._join_readers()
                    raise MachineError(f"QEMU exited with status {self.proc.returncode} before QMP was up\n"
                                       f"command: {' '.join(self.cmd)}\n{self.stderr}")
                if time.monotonic() > self._deadline:
                    s.close()
                    raise Timeout(f"{self.name}: QMP socket never came up")
                time.sleep(0.01)
        self._qmp_sock = s
        rfile = s.makefile("rb")
        # The greeting; an event may come first (seen: the stream netdev's
        # NETDEV_STREAM_CONNECTED, emitted as the monitor's socket opened):
        # kept in m.events like the rest.
        greeting = None
        for _ in range(8):
            try:
                greeting = json.loads(rfile.readline() or b"null")
            except (OSError, ValueError):
                greeting = None
            if not (isinstance(greeting, dict) and "event" in greeting):
                break
            with self._cond:
                self.events.append(greeting)
                self._cond.notify_all()
        if not isinstance(greeting, dict) or "QMP" not in greeting:
            self._gone_at_startup("before its QMP greeting")
            raise MachineError(f"{self.name}: bad QMP greeting {greeting!r}")
        self.qemu_version = greeting["QMP"].get("version", {}).get("qemu")
        t = threading.Thread(target=self._qmp_reader, args=(rfile,), daemon=True)
        t.start()
        self._threads.append(t)
        try:
            self.qmp("qmp_capabilities")
        except MachineError:
            self._gone_at_startup("during QMP negotiation")
            raise

    def _gone_at_startup(self, when: str):
        """QEMU may refuse its command line (a property it does not know,
        say) after opening the QMP socket: the socket then closes at any
        point of the handshake. If QEMU exits within a few seconds, fail
        with its stderr, whenever the socket closed."""
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return
        self._join_readers()
        raise MachineError(f"QEMU exited with status {self.proc.returncode} {when}\n"
                           f"command: {' '.join(self.cmd)}\n{self.stderr}")

    def _qmp_reader(self, rfile):
        while True:
            try:
                line = rfile.readline()
                msg = json.loads(line) if line else None
            except (OSError, ValueError):
                msg = None
            with self._cond:
                if msg is None:
                    self._qmp_closed = True
                    self._cond.notify_all()
                    return
                if "event" in msg:
                    self.events.append(msg)
                elif "id" in msg:
                    self._qmp_replies[msg["id"]] = msg
                self._cond.notify_all()

    def _close_qmp(self):
        s, self._qmp_sock = self._qmp_sock, None
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def qmp(self, cmd: str, _args: dict | None = None, *, _timeout: float = 120, **args):
        """Run a QMP command and return its "return" value; raises QMPError
        (a Failure) on an error reply. Arguments as keywords, or as a dict
        for names with dashes: m.qmp("human-monitor-command",
        {"command-line": "info network"})."""
        self._ensure()
        if self._qmp_sock is None:
            raise MachineError(f"{self.name}: QMP is not connected")
        a = dict(_args or {})
        a.update(args)
        with self._cond:
            self._qmp_id += 1
            qid = self._qmp_id
        msg = {"execute": cmd, "id": qid}
        if a:
            msg["arguments"] = a
        with self._qmp_send_lock:
            try:
                self._qmp_sock.sendall(json.dumps(msg).encode() + b"\n")
            except (OSError, AttributeError) as e:
                raise MachineError(f"{self.name}: QMP {cmd}: send failed ({e})\n{self.describe(40)}")
        end = time.monotonic() + _timeout
        with self._cond:
            while qid not in self._qmp_replies:
                if self._qmp_closed:
                    if cmd == "quit":
                        return {}
                    raise MachineError(f"{self.name}: QMP closed during {cmd}")
                left = end - time.monotonic()
                if left <= 0:
                    raise Timeout(f"{self.name}: QMP {cmd}: no reply within {_timeout}s")
                self._cond.wait(min(left, 1.0))
            reply = self._qmp_replies.pop(qid)
        if "error" in reply:
            raise QMPError(cmd, reply["error"])
        return reply.get("return")

    def hmp(self, command_line: str) -> str:
        """A human monitor command (through QMP); returns its text."""
        return self.qmp("human-monitor-command", {"command-line": command_line})

    def wait_event(self, name: str, timeout: float = 30, after: int = 0) -> dict:
        """The first QMP event `name` at index >= after in m.events."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for ev in self.events[after:]:
                    if ev.get("event") == name:
                        return ev
                left = end - time.monotonic()
                if left <= 0 or self._qmp_closed:
                    raise Timeout(f"{self.name}: no QMP event {name} within {timeout}s")
                self._cond.wait(min(left, 1.0))

    def status(self) -> str:
        return self.qmp("query-status")["status"]

    def pci_devices(self) -> list[dict]:
        """query-pci, flattened: one dict per function with bus, slot,
        function, vendor, device, subsystem_vendor, subsystem, class,
        qdev_id, regions."""
        out = []

        def walk(devs):
            for d in devs:
                ids = d.get("id", {})
                out.append({"bus": d["bus"], "slot": d["slot"], "function": d["function"],
                            "vendor": ids.get("vendor"), "device": ids.get("device"),
                            "subsystem_vendor": ids.get("subsystem-vendor"),
                            "subsystem": ids.get("subsystem"),
                            "class": d.get("class_info", {}).get("class"),
                            "qdev_id": d.get("qdev_id", ""), "regions": d.get("regions", [])})
                if d.get("pci_bridge", {}).get("devices"):
                    walk(d["pci_bridge"]["devices"])

        for bus in self.qmp("query-pci"):
            walk(bus["devices"])
        return out

    def read_phys(self, addr: int, count: int = 1, width: int = 4) -> list[int]:
        """Read guest-physical memory with the monitor's `xp`. Device
        registers work too: the read goes to the device (virtio-mmio)."""
        fmt = {1: "b", 2: "h", 4: "w", 8: "g"}[width]
        vals = []
        for line in self.hmp(f"xp /{count}x{fmt} {addr:#x}").splitlines():
            if ":" in line:
                vals += [int(v, 16) for v in line.split(":", 1)[1].split()]
        return vals[:count]

    def mmio_devices(self) -> list[dict]:
        """The occupied virtio-mmio slots of the board: slot, base, version
        (1 legacy, 2 modern), device_id, vendor (register reads via xp)."""
        base, stride, n = mmio_window(self.cfg)
        out = []
        for i in range(n):
            a = base + i * stride
            magic, version, devid, vendor = self.read_phys(a, 4)
            if magic == 0x74726976 and devid:
                out.append({"slot": i, "base": a, "version": version, "device_id": devid, "vendor": vendor})
        return out

    def qom_get(self, path: str, prop: str):
        return self.qmp("qom-get", path=path, property=prop)

    # ---- display, input, links -----------------------------------------

    def screendump(self, head=None, device: str | None = None, path: str | None = None) -> "Image":
        """QMP screendump of a console, parsed (PPM). `device` is the
        display device's id ("gpu0"), `head` its output index. A string
        first argument is taken as the path to keep the dump at
        (m.screendump("out.ppm", device="gpu0", head=1)); by default it
        goes to m.tmp."""
        if isinstance(head, str):
            path, head = head, None
        if path is None:
            self._dumps += 1
            path = os.path.join(self.tmp, f"screen{self._dumps}.ppm")
        a = {"filename": os.path.abspath(path)}
        if device is not None:
            a["device"] = device
        if head is not None:
            a["head"] = int(head)
        self.qmp("screendump", a)
        return read_ppm(path)

    def send_events(self, events: list[dict], device: str | None = None, head: int | None = None):
        """input-send-event with raw InputEvent dicts; device/head route to
        the input devices bound to that display console."""
        a = {"events": events}
        if device is not None:
            a["device"] = device
        if head is not None:
            a["head"] = head
        self.qmp("input-send-event", a)

    def send_key(self, key: str | int, down: bool | None = None, **route):
        """A key by QKeyCode name ("a", "shift", "ret", "esc", "f1", ...) or
        raw number: down=True press, False release, None press + release."""
        k = {"type": "number", "data": key} if isinstance(key, int) else {"type": "qcode", "data": key}
        for d in ((True, False) if down is None else (bool(down),)):
            self.send_events([{"type": "key", "data": {"key": k, "down": d}}], **route)

    def send_btn(self, button: str, down: bool | None = None, **route):
        """button: left middle right wheel-up wheel-down side extra
        wheel-left wheel-right; down as for send_key."""
        for d in ((True, False) if down is None else (bool(down),)):
            self.send_events([{"type": "btn", "data": {"button": button, "down": d}}], **route)

    def send_rel(self, dx: int, dy: int, **route):
        """Relative motion (one event batch; a zero axis is left out)."""
        ev = [{"type": "rel", "data": {"axis": ax, "value": int(v)}} for ax, v in (("x", dx), ("y", dy)) if v]
        if ev:
            self.send_events(ev, **route)

    ABS_MAX = 0x7FFF   # QEMU's absolute axes run 0..ABS_MAX; a tablet rescales to its own range

    def send_abs(self, x: int, y: int, **route):
        """Absolute position in QEMU's 0..0x7fff range."""
        self.send_events([{"type": "abs", "data": {"axis": "x", "value": int(x)}},
                          {"type": "abs", "data": {"axis": "y", "value": int(y)}}], **route)

    def set_link(self, name: str, up: bool):
        """set_link on a netdev id or a NIC's device id."""
        self.qmp("set_link", name=name, up=bool(up))


# --------------------------------------------------------------------------
# Guest protocol
# --------------------------------------------------------------------------

_VT_LINE = re.compile(r"^VT (\S+)(?: (.*))?$")


def _lines_of(transcript) -> list[str]:
    if isinstance(transcript, str):
        return transcript.splitlines()
    return list(transcript)


def results(transcript) -> list[tuple[str, str]]:
    """Every "VT <key> <rest>" line (transcript as text or list of lines)
    as (key, rest)."""
    out = []
    for line in _lines_of(transcript):
        m = _VT_LINE.match(line.strip("\r\x00"))
        if m:
            out.append((m.group(1), (m.group(2) or "").strip()))
    return out


def find(res, key: str) -> list[str]:
    """The rest of every result with that key, in order."""
    return [r for k, r in res if k == key]


def kv(rest: str) -> dict:
    """"a=1 b=x c" -> {"a": "1", "b": "x", "c": True}"""
    out = {}
    for w in rest.split():
        k, eq, v = w.partition("=")
        out[k] = v if eq else True
    return out


def check_transcript(transcript, name: str = "guest", stderr: str = "") -> list[tuple[str, str]]:
    """Raise Failure, quoting the whole transcript, on the first "VT FAIL"
    line, when "VT END" is missing, or when its code is not 0. Returns
    results(transcript) otherwise."""
    lines = _lines_of(transcript)
    res = results(lines)
    full = f"--- guest output [{name}] ---\n" + "".join(l + "\n" for l in lines)
    if stderr.strip():
        full += "--- qemu stderr ---\n" + stderr.strip() + "\n"
    for k, rest in res:
        if k == "FAIL":
            raise Failure(f"{name}: guest: VT FAIL {rest}\n{full}")
    ends = find(res, "END")
    if not ends:
        raise Failure(f"{name}: no VT END line (the guest hung, crashed or was killed)\n{full}")
    if ends[-1].split()[:1] != ["0"]:
        raise Failure(f"{name}: VT END {ends[-1]}: the guest counted failures\n{full}")
    return res


# --------------------------------------------------------------------------
# Loopback network peers
# --------------------------------------------------------------------------

LOOPBACK = "127.0.0.1"
_ports_lock = threading.Lock()
_ports_given = set()


def free_port(kind: str = "udp") -> int:
    """An unused 127.0.0.1 port ("udp" or "tcp"), never handed out twice by
    this process. QEMU binds it a moment later; the window is small."""
    st = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    with _ports_lock:
        for _ in range(100):
            s = socket.socket(socket.AF_INET, st)
            try:
                s.bind((LOOPBACK, 0))
                port = s.getsockname()[1]
            finally:
                s.close()
            if (kind, port) not in _ports_given:
                _ports_given.add((kind, port))
                return port
    raise RuntimeError("no free loopback port")


class UdpPeer:
    """The host end of a UDP backend; one datagram is one Ethernet frame.

        with UdpPeer() as peer:                      # or UdpPeer("socket")
            args = ["-netdev", peer.netdev("n0")] + device(cfg, "net", "netdev=n0")
            ...
            peer.send(frame); f = peer.recv(timeout=10)

    "dgram":  -netdev dgram,id=n0,local.type=inet,local.host=127.0.0.1,
              local.port=Q,remote.type=inet,remote.host=127.0.0.1,remote.port=P
    "socket": -netdev socket,id=n0,udp=127.0.0.1:P,localaddr=127.0.0.1:Q
    P (.port) is this peer's bound socket, Q (.qemu_port) QEMU's. Only
    datagrams from Q are accepted (others counted in .ignored).
    """

    def __init__(self, backend: str = "dgram"):
        if backend not in ("dgram", "socket"):
            raise ValueError(backend)
        self.backend = backend
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.port = self.sock.getsockname()[1]
        self.qemu_port = free_port("udp")
        self.received = []
        self.ignored = 0

    def netdev(self, id: str = "n0") -> str:
        if self.backend == "dgram":
            return (f"dgram,id={id},local.type=inet,local.host={LOOPBACK},local.port={self.qemu_port},"
                    f"remote.type=inet,remote.host={LOOPBACK},remote.port={self.port}")
        return f"socket,id={id},udp={LOOPBACK}:{self.port},localaddr={LOOPBACK}:{self.qemu_port}"

    def send(self, frame: bytes):
        self.sock.sendto(bytes(frame), (LOOPBACK, self.qemu_port))

    def recv(self, timeout: float = 10) -> bytes:
        """The next frame from QEMU; raises Timeout."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise Timeout(f"no frame from QEMU (udp {self.qemu_port} -> {self.port}) within {timeout}s")
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            data, addr = self.sock.recvfrom(65536)
            if addr != (LOOPBACK, self.qemu_port):
                self.ignored += 1
                continue
            self.received.append(data)
            return data

    def recv_until(self, pred, timeout: float = 10) -> bytes:
        """The first frame for which pred(frame) is true (all are kept in
        .received)."""
        end = time.monotonic() + timeout
        while True:
            f = self.recv(max(end - time.monotonic(), 0.001))
            if pred(f):
                return f

    def drain(self) -> list[bytes]:
        """Frames already waiting, without blocking."""
        out = []
        while select.select([self.sock], [], [], 0)[0]:
            data, addr = self.sock.recvfrom(65536)
            if addr == (LOOPBACK, self.qemu_port):
                out.append(data)
                self.received.append(data)
        return out

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class StreamPeer:
    """The host end of a stream backend: a TCP listener on 127.0.0.1 that
    QEMU connects to; each frame has a 4-byte big-endian length prefix.

        with StreamPeer() as peer:                   # or StreamPeer("socket")
            args = ["-netdev", peer.netdev("n0")] + device(cfg, "net", "netdev=n0")
            with Machine(cfg, elf, args) as m:
                m.start(); peer.accept()
                peer.send(frame); f = peer.recv()

    "stream": -netdev stream,id=n0,server=off,addr.type=inet,
              addr.host=127.0.0.1,addr.port=P
    "socket": -netdev socket,id=n0,connect=127.0.0.1:P
    The listener exists before QEMU starts, as both need (QEMU 7.2 does not
    reconnect). Frames the guest sends before accept() are still queued
    in the kernel; frames sent while QEMU is not connected are lost.
    """

    def __init__(self, backend: str = "stream"):
        if backend not in ("stream", "socket"):
            raise ValueError(backend)
        self.backend = backend
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind((LOOPBACK, 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.conn = None
        self._buf = bytearray()
        self.received = []

    def netdev(self, id: str = "n0") -> str:
        if self.backend == "stream":
            return f"stream,id={id},server=off,addr.type=inet,addr.host={LOOPBACK},addr.port={self.port}"
        return f"socket,id={id},connect={LOOPBACK}:{self.port}"

    def accept(self, timeout: float = 30):
        if self.conn is not None:
            return
        if not select.select([self.listener], [], [], timeout)[0]:
            raise Timeout(f"QEMU did not connect to {LOOPBACK}:{self.port} within {timeout}s")
        self.conn, _ = self.listener.accept()
        self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, frame: bytes):
        self.accept()
        self.conn.sendall(struct.pack(">I", len(frame)) + bytes(frame))

    def recv(self, timeout: float = 10) -> bytes:
        """The next frame from QEMU; raises Timeout."""
        end = time.monotonic() + timeout
        self.accept(timeout)
        while True:
            if len(self._buf) >= 4:
                n = struct.unpack(">I", self._buf[:4])[0]
                if len(self._buf) >= 4 + n:
                    f = bytes(self._buf[4:4 + n])
                    del self._buf[:4 + n]
                    self.received.append(f)
                    return f
            left = end - time.monotonic()
            if left <= 0:
                raise Timeout(f"no frame from QEMU on {LOOPBACK}:{self.port} within {timeout}s")
            if select.select([self.conn], [], [], left)[0]:
                d = self.conn.recv(65536)
                if not d:
                    raise MachineError("QEMU closed the stream connection")
                self._buf += d

    def recv_until(self, pred, timeout: float = 10) -> bytes:
        end = time.monotonic() + timeout
        while True:
            f = self.recv(max(end - time.monotonic(), 0.001))
            if pred(f):
                return f

    def close(self):
        for s in (self.conn, self.listener):
            if s is not None:
                s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def mac_bytes(mac: str | bytes) -> bytes:
    return bytes(mac) if not isinstance(mac, str) else bytes(int(x, 16) for x in mac.split(":"))


def mac_str(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def ether_frame(dst, src, ethertype: int, payload: bytes) -> bytes:
    """An Ethernet frame without FCS; MACs as "52:54:00:.." or 6 bytes."""
    return mac_bytes(dst) + mac_bytes(src) + struct.pack(">H", ethertype) + bytes(payload)


# --------------------------------------------------------------------------
# Disk images
# --------------------------------------------------------------------------

M64 = (1 << 64) - 1


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def pattern(seed: int, offset: int, length: int) -> bytes:
    """The bytes vt_pattern(seed, offset, buf, length) of guest/vt.h
    produces: aligned 8-byte word k is splitmix64's finaliser of
    seed * 0x100000001 + k * 0x9e3779b97f4a7c15 (mod 2^64), little-endian.
    (Word k of seed 0 is 0 for k = 0: use non-zero seeds.)"""
    if length <= 0:
        return b""
    first, last = offset >> 3, (offset + length + 7) >> 3
    base = (seed * 0x100000001) & M64
    g = 0x9E3779B97F4A7C15
    words = []
    append = words.append
    for k in range(first, last):
        z = (base + k * g) & M64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        append(z ^ (z >> 31))
    skip = offset & 7
    return struct.pack(f"<{len(words)}Q", *words)[skip:skip + length]


def crc32(data: bytes, crc: int = 0) -> int:
    """CRC-32 as vt_crc32() computes it (zlib's)."""
    return zlib.crc32(data, crc) & 0xFFFFFFFF


def make_image(path: str, size: int, pattern_seed: int | None = None, fill: int = 0,
               sparse: bool = False) -> str:
    """A raw image of `size` bytes: pattern(pattern_seed, ...) over all of
    it, else `fill` bytes (sparse=True: a hole, reads as zeroes)."""
    with open(path, "wb") as f:
        if pattern_seed is None and (sparse or fill == 0):
            f.truncate(size)
            return path
        off = 0
        while off < size:
            n = min(1 << 20, size - off)
            f.write(pattern(pattern_seed, off, n) if pattern_seed is not None else bytes([fill]) * n)
            off += n
    return path


def write_range(path: str, offset: int, data: bytes):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def write_pattern(path: str, offset: int, length: int, seed: int):
    write_range(path, offset, pattern(seed, offset, length))


def write_header(path: str, seed: int, role: int, magic: bytes = b"VTDISK01"):
    """The blk guest's sector-0 header: magic, u64 seed, u32 role (LE)."""
    write_range(path, 0, magic + struct.pack("<QI", seed & M64, role))


def read_range(path: str, offset: int, length: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


def crc32_range(path: str, offset: int, length: int) -> int:
    """CRC-32 of a range of a file (what the guest's vt_crc32 reports)."""
    crc = 0
    with open(path, "rb") as f:
        f.seek(offset)
        left = length
        while left > 0:
            d = f.read(min(left, 1 << 20))
            if not d:
                break
            crc = zlib.crc32(d, crc)
            left -= len(d)
    return crc & 0xFFFFFFFF


def first_difference(a: bytes, b: bytes) -> int | None:
    """Index of the first differing byte (or the shorter length), None if equal."""
    if a == b:
        return None
    n = min(len(a), len(b))
    lo, hi = 0, n
    while hi - lo > 64:   # find the first differing chunk by bisection
        mid = (lo + hi) // 2
        if a[lo:mid] != b[lo:mid]:
            hi = mid
        else:
            lo = mid
    for i in range(lo, hi):
        if a[i] != b[i]:
            return i
    return n


def check_range(path: str, offset: int, expected: bytes, what: str = "range"):
    """Fail, naming the first differing byte, unless the file holds
    `expected` at `offset`."""
    got = read_range(path, offset, len(expected))
    i = first_difference(got, expected)
    if i is not None:
        raise Failure(f"{what}: {os.path.basename(path)} differs at byte {offset + i:#x} "
                      f"({i} into {len(expected)}): got {got[i:i + 16].hex() or 'EOF'} "
                      f"want {expected[i:i + 16].hex()}")


def check_pattern(path: str, offset: int, length: int, seed: int, what: str = "pattern"):
    check_range(path, offset, pattern(seed, offset, length), what)


def check_zero(path: str, offset: int, length: int, what: str = "zeroes"):
    check_range(path, offset, bytes(length), what)


# --------------------------------------------------------------------------
# Pictures: PPM in, PNG out
# --------------------------------------------------------------------------

class Image:
    """An RGB picture: width, height, rgb (bytes, 3 per pixel, rows top to
    bottom; also available as .data)."""

    def __init__(self, width: int, height: int, rgb: bytes | bytearray | None = None):
        self.width, self.height = int(width), int(height)
        self.rgb = bytes(rgb) if rgb is not None else bytes(self.width * self.height * 3)
        if len(self.rgb) != self.width * self.height * 3:
            raise ValueError(f"{len(self.rgb)} bytes of pixels for {width}x{height}")

    @property
    def data(self) -> bytes:
        return self.rgb

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        if not (0 <= x < self.width and 0 <= y < self.height):
            raise IndexError(f"pixel ({x}, {y}) outside {self.width}x{self.height}")
        i = 3 * (y * self.width + x)
        return (self.rgb[i], self.rgb[i + 1], self.rgb[i + 2])

    def row(self, y: int) -> bytes:
        return self.rgb[3 * self.width * y:3 * self.width * (y + 1)]

    def crop(self, x: int, y: int, w: int, h: int) -> "Image":
        if x < 0 or y < 0 or x + w > self.width or y + h > self.height:
            raise IndexError(f"crop {w}x{h}+{x}+{y} outside {self.width}x{self.height}")
        return Image(w, h, b"".join(self.rgb[3 * ((y + j) * self.width + x):3 * ((y + j) * self.width + x + w)]
                                    for j in range(h)))

    def colors(self) -> dict:
        """{(r, g, b): pixel count}."""
        out = {}
        d = self.rgb
        for i in range(0, len(d), 3):
            c = (d[i], d[i + 1], d[i + 2])
            out[c] = out.get(c, 0) + 1
        return out

    def count(self, color, x: int = 0, y: int = 0, w: int | None = None, h: int | None = None,
              tolerance: int = 0) -> int:
        """Pixels within `tolerance` per channel of `color` in a rectangle."""
        sub = self if (x, y, w, h) == (0, 0, None, None) else \
            self.crop(x, y, self.width - x if w is None else w, self.height - y if h is None else h)
        if tolerance == 0:
            return sum(n for c, n in sub.colors().items() if c == tuple(color))
        return sum(n for c, n in sub.colors().items()
                   if all(abs(a - b) <= tolerance for a, b in zip(c, color)))

    def is_uniform(self, color, x: int = 0, y: int = 0, w: int | None = None, h: int | None = None) -> bool:
        w = self.width - x if w is None else w
        h = self.height - y if h is None else h
        return self.count(color, x, y, w, h) == w * h

    def non_black(self) -> int:
        return self.width * self.height - self.colors().get((0, 0, 0), 0)

    def to_ppm(self) -> bytes:
        return b"P6\n%d %d\n255\n" % (self.width, self.height) + self.rgb

    def save_ppm(self, path: str):
        with open(path, "wb") as f:
            f.write(self.to_ppm())

    def save_png(self, path: str):
        write_png(path, self)

    def __eq__(self, other):
        return isinstance(other, Image) and (self.width, self.height, self.rgb) == (other.width, other.height, other.rgb)

    def __repr__(self):
        return f"Image({self.width}x{self.height})"


def parse_ppm(blob: bytes) -> Image:
    """A binary PPM (P6, maxval 255; # comments allowed in the header)."""
    fields, pos = [], 0
    while len(fields) < 4:
        while blob[pos:pos + 1].isspace():
            pos += 1
        if blob[pos:pos + 1] == b"#":
            nl = blob.find(b"\n", pos)
            if nl < 0:
                raise ValueError("truncated PPM header")
            pos = nl + 1
            continue
        end = pos
        while end < len(blob) and not blob[end:end + 1].isspace() and blob[end:end + 1] != b"#":
            end += 1
        if end == pos:
            raise ValueError("truncated PPM header")
        fields.append(blob[pos:end])
        pos = end
    if fields[0] != b"P6" or fields[3] != b"255":
        raise ValueError(f"not a binary 8-bit PPM: {fields}")
    if not blob[pos:pos + 1].isspace():
        raise ValueError("PPM header not followed by whitespace")
    w, h = int(fields[1]), int(fields[2])
    pos += 1
    data = blob[pos:]
    # QEMU 7.2's screendump writes each row with its pixman line stride,
    # padded to 4 bytes: 3 * w rounded up. Accept that layout too.
    padded = (3 * w + 3) & ~3
    if len(data) >= padded * h and padded != 3 * w and len(data) != 3 * w * h:
        rgb = b"".join(data[y * padded:y * padded + 3 * w] for y in range(h))
    else:
        rgb = data[:3 * w * h]
    if len(rgb) != 3 * w * h:
        raise ValueError(f"PPM pixel data short: {len(rgb)} of {3 * w * h} bytes")
    return Image(w, h, rgb)


def read_ppm(path: str) -> Image:
    with open(path, "rb") as f:
        return parse_ppm(f.read())


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bytes(img: Image) -> bytes:
    """An 8-bit RGB PNG of img (filter 0 on every row)."""
    stride = 3 * img.width
    raw = b"".join(b"\0" + img.rgb[stride * y:stride * (y + 1)] for y in range(img.height))
    return (b"\x89PNG\r\n\x1a\n"
            + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", img.width, img.height, 8, 2, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(raw, 9))
            + _png_chunk(b"IEND", b""))


def write_png(path: str, img, height: int | None = None, rgb: bytes | None = None):
    """write_png(path, image) or write_png(path, width, height, rgb)."""
    if not isinstance(img, Image):
        img = Image(img, height, rgb)
    with open(path, "wb") as f:
        f.write(png_bytes(img))


def read_png(source) -> Image:
    """Parse an 8-bit RGB or RGBA, non-interlaced PNG (bytes or a path),
    checking the signature and every chunk's CRC (alpha is dropped)."""
    blob = source
    if isinstance(source, str):
        with open(source, "rb") as f:
            blob = f.read()
    if blob[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("bad PNG signature")
    pos, ihdr, idat, ended = 8, None, b"", False
    while pos + 12 <= len(blob):
        n, kind = struct.unpack(">I4s", blob[pos:pos + 8])
        body = blob[pos + 8:pos + 8 + n]
        crc_bytes = blob[pos + 8 + n:pos + 12 + n]
        if len(body) != n or len(crc_bytes) != 4:
            raise ValueError(f"PNG chunk {kind!r} truncated")
        if zlib.crc32(kind + body) & 0xFFFFFFFF != struct.unpack(">I", crc_bytes)[0]:
            raise ValueError(f"PNG chunk {kind!r}: bad CRC")
        pos += 12 + n
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            ended = True
            break
    if ihdr is None or not ended:
        raise ValueError("PNG without IHDR or IEND")
    w, h, depth, ctype, _comp, _filt, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, color type {ctype}, interlace {interlace}")
    bpp = 3 if ctype == 2 else 4
    stride = w * bpp
    raw = zlib.decompress(idat)
    if len(raw) != h * (stride + 1):
        raise ValueError("PNG image data has the wrong size")
    prev = bytearray(stride)
    out = bytearray()
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ft > 4:
            raise ValueError(f"bad PNG filter type {ft}")
        if ft:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                if ft == 1:
                    line[i] = (line[i] + a) & 255
                elif ft == 2:
                    line[i] = (line[i] + b) & 255
                elif ft == 3:
                    line[i] = (line[i] + ((a + b) >> 1)) & 255
                else:
                    c = prev[i - bpp] if i >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if bpp == 4:
            out += b"".join(line[i:i + 3] for i in range(0, stride, 4))
        else:
            out += line
        prev = line
    return Image(w, h, bytes(out))


# --------------------------------------------------------------------------
# Test runner
# --------------------------------------------------------------------------

@dataclasses.dataclass
class TestCase:
    fn: object
    name: str
    configs: list | None      # None: run once, as "name [host]"


_REGISTRY: list[TestCase] = []


def test(kind=None, configs=None, name=None):
    """Register a test for main().

        @test                               # once, without a config
        @test("virtio-blk")                 # once per matrix("virtio-blk")
        @test(configs=matrix(arches=["riscv64"]))
    """
    def deco(fn, k=None):
        cfgs = configs if configs is not None else (matrix(k) if k is not None else None)
        _REGISTRY.append(TestCase(fn, name or fn.__name__, list(cfgs) if cfgs is not None else None))
        return fn

    if callable(kind):
        return deco(kind)
    return lambda fn: deco(fn, kind)


def _label(tc: TestCase, cfg) -> str:
    return f"{tc.name} [{cfg.name if isinstance(cfg, Config) else 'host' if cfg is None else cfg}]"


_print_lock = threading.Lock()


def _emit(text: str):
    with _print_lock:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()


def _takes_arg(fn) -> bool:
    """Whether fn needs a positional argument (the config)."""
    try:
        return any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                   for p in inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return True


def _run_one(tc: TestCase, cfg) -> tuple:
    label = _label(tc, cfg)
    if _aborting.is_set():
        return ("SKIP", label, "interrupted", 0.0)
    d = tempfile.mkdtemp(prefix=re.sub(r"[^A-Za-z0-9_.-]+", "_", label)[:40] + "-", dir=run_dir())
    _tls.workdir, _tls.machines = d, []
    t0 = time.monotonic()
    try:
        r = tc.fn(cfg) if (cfg is not None or _takes_arg(tc.fn)) else tc.fn()
        if isinstance(r, str) and r.startswith("SKIP"):
            verdict, why = "SKIP", r[4:].lstrip(": ") or "skipped"
        else:
            verdict, why = "PASS", ""
    except Skip as e:
        verdict, why = "SKIP", str(e) or "skipped"
    except AssertionError as e:
        verdict, why = "FAIL", str(e) or "assertion failed\n" + traceback.format_exc()
    except KeyboardInterrupt:
        _aborting.set()
        verdict, why = "FAIL", "interrupted"
    except BaseException as e:   # noqa: B036 - a test must never take the runner down
        verdict, why = "FAIL", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
    finally:
        for m in _tls.machines:
            m.kill()
        _tls.workdir, _tls.machines = None, None
        if not os.environ.get("VT_KEEP"):
            shutil.rmtree(d, ignore_errors=True)
    return (verdict, label, why, time.monotonic() - t0)


def _parse_argv(argv):
    filters, jobs, listing = [], None, False
    it = iter(argv)
    for a in it:
        if a == "-j":
            jobs = int(next(it))
        elif re.fullmatch(r"-j\d+", a):
            jobs = int(a[2:])
        elif a in ("-l", "--list"):
            listing = True
        elif a in ("-h", "--help"):
            print("usage: [-j N] [-l|--list] [FILTER ...]   (a test runs when its 'name [config]'"
                  " contains any FILTER; env VT_FILTER, VT_JOBS, VT_KEEP, VT_ARCHES, VT_TRANSPORTS)")
            sys.exit(0)
        else:
            filters.append(a)
    return filters, jobs, listing


def run_tests(tests: list[TestCase], filters: list[str] | None = None, jobs: int | None = None) -> tuple:
    """Run tests x their configs; print one PASS/FAIL/SKIP line each (details
    of a failure follow, indented) and the summary line
    "N passed, N failed[, N skipped]". Returns (passed, failed, skipped)."""
    if not filters:
        filters = [f for f in re.split(r"[,\s]+", os.environ.get("VT_FILTER", "")) if f]
    jobs = max(1, jobs or int(os.environ.get("VT_JOBS") or 2))
    todo = [(tc, cfg) for tc in tests for cfg in (tc.configs if tc.configs is not None else [None])
            if not filters or any(f in _label(tc, cfg) for f in filters)]
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}

    def report(res):
        verdict, label, why, dt = res
        counts[verdict] += 1
        first, _, more = (why or "").partition("\n")
        line = f"{verdict} {label} ({dt:.1f}s)" + (f": {first}" if first else "")
        if more.strip():
            line += "\n" + "".join(f"    | {l}\n" for l in more.rstrip("\n").splitlines())
        _emit(line)

    prev = None
    if threading.current_thread() is threading.main_thread():
        def on_term(signum, frame):
            raise KeyboardInterrupt
        prev = signal.signal(signal.SIGTERM, on_term)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
    futs = []
    reported = set()
    interrupted = False
    try:
        futs = [pool.submit(_run_one, tc, cfg) for tc, cfg in todo]
        for f in concurrent.futures.as_completed(futs):
            reported.add(f)
            report(f.result())
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM: start nothing new, kill every QEMU (tests
        # waiting on one fail at once), give running tests a moment.
        interrupted = True
        _aborting.set()
        for f in futs:
            f.cancel()
        kill_all()
        live = [f for f in futs if not f.cancelled()]
        concurrent.futures.wait(live, timeout=10)
        for f in live:
            if f.done() and f not in reported:
                report(f.result())
        counts["FAIL"] += 1
        _emit("FAIL run: interrupted")
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=True)
        if prev is not None:
            signal.signal(signal.SIGTERM, prev)
    summary = f"{counts['PASS']} passed, {counts['FAIL']} failed"
    if counts["SKIP"]:
        summary += f", {counts['SKIP']} skipped"
    _emit(summary)
    if interrupted and not all(f.done() for f in futs):
        # A test is still busy (not on a QEMU): do not wait for it.
        kill_all()
        _remove_run_dir()
        os._exit(1)
    return counts["PASS"], counts["FAIL"], counts["SKIP"]


def run(tests, configs=None, jobs=None, argv=None) -> int:
    """Run each test function (taking a Config) on each config, `jobs` at a
    time (VT_JOBS, default 2); print PASS/FAIL/SKIP lines and the summary.
    Returns the exit status (1 on a failure or when nothing passed).
    Filters: argv words (default sys.argv[1:]) or VT_FILTER, substrings
    of "<test> [<config>]". A test fails by raising (Failure, assert, any
    exception) and skips by raising Skip or returning "SKIP: why"."""
    filters, j, listing = _parse_argv(sys.argv[1:] if argv is None else argv)
    cases = [t if isinstance(t, TestCase) else TestCase(t, t.__name__, list(configs) if configs is not None else None)
             for t in tests]
    if listing:
        for tc in cases:
            for cfg in (tc.configs if tc.configs is not None else [None]):
                print(_label(tc, cfg))
        return 0
    passed, failed, _ = run_tests(cases, filters, jobs or j)
    return 1 if failed or not passed else 0


def main(configs=None, argv=None):
    """Run the @test-registered tests (or, if none, every test_* function
    of the __main__ script over `configs`) and exit with run()'s status."""
    cases = list(_REGISTRY)
    if not cases:
        mod = sys.modules.get("__main__")
        cases = [TestCase(fn, n, list(configs) if configs is not None else None)
                 for n, fn in vars(mod).items() if n.startswith("test_") and callable(fn)]
    sys.exit(run(cases, argv=argv))
