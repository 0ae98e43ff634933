#!/usr/bin/env python3
"""The boot-stage build of virtio_blk.h on real QEMU disks, checked in the images.

tests/qemu/guest/boot_stage_test.c is built with the configuration that
bench/boot_size.py measures against its budget (VIRTIO_BLK_MINIMAL, one
transport, split rings, VIRTIO_NO_INDIRECT, VIRTIO_NO_EVENT_IDX,
VIRTIO_NO_DMA_MAP, VIRTIO_NO_MSIX, VIRTIO_DIRECT_REGS, VIRTIO_NO_STRINGS, VIRTIO_NO_LOG) and,
like it, at -Os and without FP or SIMD registers (the Makefile adds
-mgeneral-regs-only on aarch64 and x86), so the bytes the budget counts are the bytes that move
data here. virtio-mmio on the virt machines and on x86 microvm; virtio-pci
(the guest built as boot_stage_pci_test) on x86 q35 and on riscv64 and
aarch64 virt (BARs from virtio_pci_assign). Three disks:
  rw  4 MiB, 512-byte blocks
  ro  1 MiB, read-only
  k4  4 MiB, 4096-byte logical and physical blocks
each with a header (sector 0: "VTDISK01", seed, role) and a seeded pattern
written by the host. Checked from outside:
  - what init found (capacity, block size, read-only) is the host's disk;
    indirect descriptors and event index were not negotiated;
  - reads return the image's bytes (CRCs compared with the image);
  - a write followed by a flush: QEMU counts the flush, a read returns the
    written pattern, and after QEMU exits the image holds exactly the
    pattern there and nothing else changed (whole-image comparison);
  - the read-only disk refuses the write and its image is unchanged;
  - refused calls (submit, discard, write-zeroes, out-of-range, partial
    blocks) leave the images unchanged; all DMA memory comes back.
"""
import hashlib
import os
import random
import re
import struct
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu import Machine, check, device_args, guest, kv, main, pattern, variants, workdir  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KiB, MiB = 1024, 1024 * 1024
READ_OFF, READ_LEN = 64 * KiB, 256 * KiB
WRITE_OFF, WRITE_LEN = 1 * MiB, 192 * KiB
DISKS = (("rw", 4 * MiB, 1, ""), ("ro", 1 * MiB, 2, ""), ("k4", 4 * MiB, 3, ",logical_block_size=4096,physical_block_size=4096"))
CONFIGS = ["riscv64-mmio-modern-split", "x86_64-pci-modern-split", "aarch64-mmio-modern-split",
           "armv7-mmio-modern-split", "i686-pci-modern-split", "riscv64-pci-modern-split", "aarch64-pci-modern-split",
           "armv7be-mmio-modern-split", "x86_64-mmio-modern-split", "i686-mmio-modern-split",
           # device properties the configurations above never set: a 4-entry
           # ring with seg_max 2 (QEMU's smallest), QEMU's largest ring, ACCESS_PLATFORM offered, a notify multiplier
           # of 4096 with a second notify capability in an I/O BAR, more
           # queues than the driver uses, notifications in the vCPU thread
           "x86_64-pci-modern-split+queue-size=4,seg-max-adjust=off",
           "riscv64-mmio-modern-split+queue-size=4,seg-max-adjust=off", "aarch64-mmio-modern-split+queue-size=1024",
           "riscv64-pci-modern-split+iommu_platform=on", "x86_64-pci-modern-split+page-per-vq=on,modern-pio-notify=on",
           "i686-pci-modern-split+ioeventfd=off,num-queues=4"]
F_INDIRECT, F_EVENT_IDX = 28, 29


def result_code(name):
    """A virtio_result's value, from virtio.h (the guest prints numbers)."""
    text = open(os.path.join(ROOT, "virtio.h")).read()
    return int(re.search(rf"\b{name}\s*=\s*(-?\d+)", text).group(1))


def crc32(data):
    return zlib.crc32(data) & 0xffffffff


def image(size, seed, role):
    img = bytearray(size)
    img[:20] = b"VTDISK01" + struct.pack("<QI", seed, role)
    img[READ_OFF:READ_OFF + READ_LEN] = pattern(seed, READ_OFF, READ_LEN)
    return img


def test_boot_stage(cfg):
    with tempfile.TemporaryDirectory(prefix="boot", dir=workdir()) as tmp:
        return run(cfg, tmp)


def run(cfg, tmp):
    rnd = random.Random()
    want, paths, seeds, args = {}, {}, {}, []
    for role, size, code, props in DISKS:
        seeds[role] = rnd.randrange(1, 1 << 62)
        want[role] = image(size, seeds[role], code)
        paths[role] = os.path.join(tmp, role + ".img")
        with open(paths[role], "wb") as f:
            f.write(want[role])
        args += ["-drive", f"if=none,id={role},file={paths[role]},format=raw,cache=writeback"
                 + (",readonly=on" if role == "ro" else "")]
        args += device_args(cfg, "virtio-blk", f"drive={role}{props}")
    read_only = result_code("VIRTIO_ERR_READ_ONLY")

    name = "boot_stage_pci_test" if cfg.pci else "boot_stage_test"
    with Machine(cfg, guest(cfg.arch, name), args, timeout=240) as m:
        check(m.expect(r"^VT DEVICES (\d+)").group(1) == "3", "the guest does not see three disks")
        index = {}
        for _ in DISKS:
            g = m.expect(r"^VT DISK (\d+) (.*)")
            f = kv(g.group(2))
            role = {str(c): r for r, _, c, _ in DISKS}.get(f["role"])
            check(role is not None and f["magic"] == "ok" and f["read"] == "0", f"disk {g.group(1)} header: {f}")
            check(int(f["seed"]) == seeds[role], f"{role}: read the seed {f['seed']}, the image has {seeds[role]}")
            size = len(want[role])
            check(int(f["capacity"]) == size // 512, f"{role}: capacity {f['capacity']} sectors, image {size} bytes")
            check(f["block"] == ("4096" if role == "k4" else "512"), f"{role}: block size {f['block']}")
            check(f["ro"] == ("1" if role == "ro" else "0"), f"{role}: read-only {f['ro']}")
            check(f["transport"] == cfg.transport, f"{role}: transport {f['transport']}, want {cfg.transport}")
            feats = int(f["features"], 16)
            check(f["indirect"] == "0" and not feats >> F_INDIRECT & 1 and not feats >> F_EVENT_IDX & 1,
                  f"{role}: indirect descriptors or event index negotiated ({f['features']})")
            index[role] = g.group(1)
        m.expect(r"^VT READY")

        def read(role, off, length):
            m.write(f"r {index[role]} {off} {length}\n")
            g = m.expect(rf"^VT READ {index[role]} (-?\d+) crc=([0-9a-f]+)")
            check(g.group(1) == "0", f"{role}: read of {length} at {off}: result {g.group(1)}")
            return int(g.group(2), 16)

        for role in ("rw", "k4", "ro"):
            got = read(role, READ_OFF, READ_LEN)
            check(got == crc32(want[role][READ_OFF:READ_OFF + READ_LEN]), f"{role}: the read is not the image's bytes")
        flushes = {d["device"]: d["stats"]["flush_operations"] for d in m.qmp("query-blockstats")}
        for role in ("rw", "k4"):
            seed = rnd.randrange(1, 1 << 62)
            data = pattern(seed, WRITE_OFF, WRITE_LEN)
            m.write(f"w {index[role]} {WRITE_OFF} {WRITE_LEN} {seed}\n")
            g = m.expect(rf"^VT WRITE {index[role]} (-?\d+) (-?\d+)")
            check(g.group(1) == "0" and g.group(2) == "0", f"{role}: write {g.group(1)}, flush {g.group(2)}")
            want[role][WRITE_OFF:WRITE_OFF + WRITE_LEN] = data
            check(read(role, WRITE_OFF, WRITE_LEN) == crc32(data), f"{role}: reading the write back gave other bytes")
        after = {d["device"]: d["stats"]["flush_operations"] for d in m.qmp("query-blockstats")}
        for role in ("rw", "k4"):
            check(after[role] > flushes[role], f"{role}: QEMU saw no flush ({flushes[role]} -> {after[role]})")
        m.write(f"w {index['ro']} 4096 4096 {rnd.randrange(1, 1 << 62)}\n")
        g = m.expect(rf"^VT WRITE {index['ro']} (-?\d+)")
        check(int(g.group(1)) == read_only, f"ro: write gave {g.group(1)}, want VIRTIO_ERR_READ_ONLY ({read_only})")
        for role in ("rw", "ro", "k4"):
            m.write(f"x {index[role]}\n")
            m.expect(r"^VT REFUSED ok")
        m.write("q\n")
        res = m.run_to_end()
        leak = [r for k, r in res if k == "LEAK"]
        check(leak == ["0"], f"DMA memory not given back: {leak}")

    for role, _, _, _ in DISKS:
        with open(paths[role], "rb") as f:
            got = f.read()
        if got != want[role]:
            bad = next(i for i in range(len(got)) if i >= len(want[role]) or got[i] != want[role][i])
            check(False, f"{role}: the image differs from what was written at byte {bad} "
                         f"(sha256 {hashlib.sha256(got).hexdigest()[:16]})")
    print(f"    reads = image, {WRITE_LEN // KiB} KiB written + flushed on rw and k4 found in the images, "
          f"ro and the rest unchanged", flush=True)


if __name__ == "__main__":
    main(configs=variants(CONFIGS))
