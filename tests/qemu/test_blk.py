#!/usr/bin/env python3
"""virtio-blk on real QEMU devices, checked on the host's disk images.

Each configuration boots tests/qemu/guest/blk_test.c with three disks:
  rw  16 MiB, 512-byte blocks, discard=unmap, a 10-character serial number
  ro  8 MiB, read-only, a 20-character one (the whole ID field: the
      device sends no terminator)
  4k  16 MiB, 4096-byte logical and physical blocks, a 24-character one
      (the device sends the first 20)
The host writes a header and a seeded pattern into each image first. The
guest reports CRCs of what it read, the host compares them with the image;
after QEMU exits the host reads back everything the guest wrote (and
zeroed, discarded, split, bounced, and wrote with the batched calls) and
compares byte for byte. A flush is checked through QEMU's block
statistics before the guest powers off.
"""
import hashlib
import os
import random
import struct
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu import Machine, check, device_args, extra_matrix, main, matrix, pattern, test, variants, workdir  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def guest(arch, name):
    return os.path.join(ROOT, "build", arch, name + ".elf")


def crc32(data):
    return zlib.crc32(data) & 0xffffffff

KiB, MiB = 1024, 1024 * 1024
READ_OFF, READ_LEN = 64 * KiB, 1 * MiB
WRITE_OFF, WRITE_LEN = 2 * MiB, 1 * MiB
ZERO_OFF, ZERO_LEN = 4 * MiB, 256 * KiB
SPLIT_OFF, BOUNCE_OFF, SIDE_LEN = 5 * MiB, 6 * MiB, 256 * KiB
FILL_OFF, FILL_LEN = 7 * MiB, 256 * KiB
BATCH_OFF, BATCH_N = 8 * MiB, 160
ROLES = {"rw": 1, "ro": 2, "4k": 3}


def make_disk(path, size, seed, role):
    with open(path, "wb") as f:
        f.truncate(size)
        f.seek(0)
        f.write(b"VTDISK01" + struct.pack("<QI", seed, ROLES[role]))
        f.seek(READ_OFF)
        f.write(pattern(seed, READ_OFF, READ_LEN))
        f.seek(ZERO_OFF)
        f.write(pattern(seed, ZERO_OFF, ZERO_LEN))


def read(path, off, length):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(length)


def kv(rest):
    """'name a=1 b=x' -> ('name', {'a': '1', 'b': 'x'})"""
    words = rest.split()
    return words[0], dict(w.split("=", 1) for w in words[1:] if "=" in w)


def layout_want(cfg, name, size):
    """virtio_blk_info's geometry, topology, CONFIG_WCE and discard /
    write-zeroes limits as QEMU 7.2 fills them (virtio_blk_update_config)
    for disk `name` under cfg's properties: topology in logical blocks,
    the discard alignment in sectors (discard_granularity, else the
    logical block), one segment each, write-zeroes may unmap; with no
    cyls/heads/secs given, QEMU's guess for a disk without a partition
    table (16 heads, 63 sectors), the sectors rounded down to a whole
    number of blocks when a track is not."""
    props = dict(p.split("=", 1) for p in cfg.prop_list if "=" in p)
    logical = 4096 if name == "4k" else 512
    physical = 4096 if name == "4k" else int(props.get("physical_block_size", 512))
    heads, secs = int(props.get("heads", 16)), int(props.get("secs", 63))
    cyls = int(props["cyls"]) if "cyls" in props else max(2, min(16383, size // 512 // (heads * secs)))
    if size // heads // secs % logical:
        secs &= ~(logical // 512 - 1)
    off = lambda feature: props.get(feature) == "off"   # noqa: E731
    return {"chs": f"{cyls}/{heads}/{secs}", "pexp": str((physical // logical).bit_length() - 1), "align": "0",
            "min_io": str(int(props.get("min_io_size", 0)) // logical),
            "opt_io": str(int(props.get("opt_io_size", 0)) // logical),
            "config_wce": "0" if off("config-wce") else "1",
            "discard": "0/0/0" if off("discard") else
            f"{props.get('max-discard-sectors', 4194303)}/1/{int(props.get('discard_granularity', logical)) >> 9}",
            "wz": "0/0/0" if off("write-zeroes") else f"{props.get('max-write-zeroes-sectors', 4194303)}/1/1"}


def test_blk(cfg):
    with tempfile.TemporaryDirectory(prefix="blk", dir=workdir()) as tmp:
        return blk_run(cfg, tmp)


def blk_run(cfg, tmp):
    rnd = random.Random()
    seeds = {r: rnd.randrange(1, 1 << 62) for r in ROLES}
    disks = {}
    for role, size in (("rw", 16 * MiB), ("ro", 8 * MiB), ("4k", 16 * MiB)):
        disks[role] = os.path.join(tmp, role + ".img")
        make_disk(disks[role], size, seeds[role], role)
    ro_hash = hashlib.sha256(open(disks["ro"], "rb").read()).hexdigest()
    serials = {r: f"VT{seeds[r]:016x}{r}++++"[:n] for r, n in (("rw", 10), ("ro", 20), ("4k", 24))}
    serial = serials["rw"]
    args = []
    args += ["-drive", f"if=none,id=rw,file={disks['rw']},format=raw,discard=unmap,cache=writeback"]
    args += device_args(cfg, "virtio-blk", f"drive=rw,serial={serial}")
    args += ["-drive", f"if=none,id=ro,file={disks['ro']},format=raw,readonly=on"]
    args += device_args(cfg, "virtio-blk", f"drive=ro,serial={serials['ro']}")
    args += ["-drive", f"if=none,id=k4,file={disks['4k']},format=raw,discard=unmap"]
    args += device_args(cfg, "virtio-blk", f"drive=k4,logical_block_size=4096,physical_block_size=4096,serial={serials['4k']}")
    with Machine(cfg, guest(cfg.arch, "blk_test"), args, timeout=400) as m:
        m.expect(r"^VT SYNC flushed", timeout=300)
        stats = {d["device"]: d["stats"] for d in m.qmp("query-blockstats")}
        m.write(b"g")
        lines = m.run_to_end()
        code = m.returncode

    fails = [r for k, r in lines if k == "FAIL"]
    check(not fails, f"guest failures: {fails}")
    check(("END", "0") in lines, f"guest did not finish cleanly: {lines[-3:]}")
    if cfg.arch.startswith("riscv"):   # the SiFive test device carries the status
        check(code == 0, f"exit status {code}")
    facts = [kv(r) for k, r in lines if k == "DISK"]
    check(sorted(n for n, _ in facts) == ["4k", "ro", "rw"], f"disks seen: {facts}")
    for name, f in facts:
        check(f["transport"] == cfg.transport, f"{name}: transport {f['transport']}")
        check(f["packed"] == ("1" if cfg.packed else "0"), f"{name}: packed={f['packed']}")
        size = os.path.getsize(disks[name])
        check(int(f["cap"]) == size // 512, f"{name}: capacity {f['cap']} != {size // 512}")
        check(f["ro"] == ("1" if name == "ro" else "0"), f"{name}: ro={f['ro']}")
        check(f["bs"] == ("4096" if name == "4k" else "512"), f"{name}: bs={f['bs']}")
    # What the guest read is what the host wrote.
    for k, r in lines:
        if k == "CRC":
            name, off, length, crc = r.split()
            want = crc32(read(disks[name], int(off), int(length)))
            check(int(crc, 16) == want, f"{name}: guest CRC {crc} != image {want:08x}")
        if k == "ASYNC":
            name, a = kv(r)
            check(a["completed"] == a["submitted"] == "96" and a["bad"] == "0", f"async {name}: {a}")
            check(int(a["peak"]) >= 64, f"async {name}: only {a['peak']} in flight")
    # The rest of what init decoded, field by field, against the properties
    # QEMU was given (catches a field read at the wrong offset, width or
    # byte order: the legacy guests read them in guest order).
    layouts = dict(kv(r) for k, r in lines if k == "LAYOUT")
    check(sorted(layouts) == ["4k", "ro", "rw"], f"layouts seen: {sorted(layouts)}")
    for name, f in layouts.items():
        want = layout_want(cfg, name, os.path.getsize(disks[name]))
        bad = {k: (f.get(k), v) for k, v in want.items() if f.get(k) != v}
        check(not bad, f"{name}: info differs from QEMU's properties (got, want): {bad}")
    check(sum(1 for k, _ in lines if k == "CRC") == 3, "a disk did not report its read CRC")
    for role, n in (("rw", 10), ("ro", 20), ("4k", 20)):
        check(("SERIAL", f"{role} {serials[role][:n]}") in lines, f"serial: {[r for k, r in lines if k == 'SERIAL']}")
    # What the guest wrote is on the disk.
    for name in ("rw", "4k"):
        got = read(disks[name], WRITE_OFF, WRITE_LEN)
        check(got == pattern(seeds[name] + 1, WRITE_OFF, WRITE_LEN), f"{name}: written region differs")
        check(read(disks[name], READ_OFF, READ_LEN) == pattern(seeds[name], READ_OFF, READ_LEN),
              f"{name}: read region changed")
        half = ZERO_LEN // 2
        # QEMU offers both unless a variant switches them off or limits a
        # request to less than one of the disk's blocks; then the driver
        # must refuse them (the guest checks UNSUPPORTED) and the range
        # keeps its bytes. A limit of a block or more is cut to size.
        block_sectors = 8 if name == "4k" else 1
        for what, off, flag, limit in (("ZEROED", ZERO_OFF, "write-zeroes=off", "max-write-zeroes-sectors"),
                                       ("DISCARDED", ZERO_OFF + half, "discard=off", "max-discard-sectors")):
            done = (what, f"{name} {off} {half}") in lines
            limits = [int(p.split("=")[1]) for p in cfg.prop_list if p.startswith(limit + "=")]
            if flag in cfg.prop_list or min(limits, default=block_sectors) < block_sectors:
                check(not done, f"{name}: {what} although the device has {flag} or {limit} below one block")
                check(read(disks[name], off, half) == pattern(seeds[name], off, half), f"{name}: {what} range changed")
            else:
                check(done, f"{name}: not {what} (QEMU offers it)")
                # discard=unmap on a raw file punches a hole: it reads back as zeroes.
                check(read(disks[name], off, half) == bytes(half), f"{name}: {what} range not zero")
    check(read(disks["rw"], SPLIT_OFF, SIDE_LEN) == pattern(seeds["rw"] + 2, SPLIT_OFF, SIDE_LEN),
          "split-mapping write differs")
    check(read(disks["rw"], BOUNCE_OFF, SIDE_LEN) == pattern(seeds["rw"] + 3, BOUNCE_OFF, SIDE_LEN),
          "bounce-buffer write differs")
    # 64 writes submitted with VIRTIO_MORE, more than a small ring holds.
    filled = [kv(r)[1] for k, r in lines if k == "FILLED"]
    check(len(filled) == 1 and filled[0]["done"] == "64" and filled[0]["bad"] == "0", f"fill run: {filled}")
    check(read(disks["rw"], FILL_OFF, FILL_LEN) == pattern(seeds["rw"] + 4, FILL_OFF, FILL_LEN),
          "writes submitted with VIRTIO_MORE differ in the image")
    # 160 writes and a flush through submit_batch / poll_batch alone,
    # in batches cut short by the 128 request slots.
    batched = [kv(r)[1] for k, r in lines if k == "BATCHED"]
    check(len(batched) == 1 and batched[0]["done"] == str(BATCH_N + 1) and batched[0]["bad"] == "0" and
          int(batched[0]["cut"]) >= 1, f"batch run: {batched}")
    check(read(disks["rw"], BATCH_OFF, BATCH_N * 4096) == pattern(seeds["rw"] + 5, BATCH_OFF, BATCH_N * 4096),
          "writes submitted with submit_batch differ in the image")
    split = [r for k, r in lines if k == "SPLIT"]
    rw = dict(facts)["rw"]
    segs = min(3, int(rw["qsize"]) - 2, int(rw["seg_max"]) or 3)   # 3 asked for, within the ring and seg_max
    check(split and f"segs={segs}" in split[0], f"split run: {split} (ring of {rw['qsize']})")
    check(hashlib.sha256(open(disks["ro"], "rb").read()).hexdigest() == ro_hash, "read-only image changed")
    # Flushes reached QEMU's block layer (5 flushes on rw: main, fill, batch, split, bounce).
    # With write-cache=off QEMU 7.2 offers no FLUSH: the flushes complete
    # in the driver and none may reach the device.
    rw_stats = next((s for d, s in stats.items() if d.endswith("rw") or d == "rw"), None)
    if rw_stats is None:
        rw_stats = list(stats.values())[0]
    if "write-cache=off" in cfg.prop_list:
        check(rw["flush"] == "0", f"rw: flush={rw['flush']} on a device without a write cache")
        check(rw_stats["flush_operations"] == 0, f"flushes sent to a device without FLUSH: "
              f"{rw_stats['flush_operations']}")
    else:
        check(rw["flush"] == "1", f"rw: flush={rw['flush']}")
        check(rw_stats["flush_operations"] >= 5, f"flushes seen by QEMU: {rw_stats['flush_operations']}")


# Device properties the plain matrix never sets (issue 11): rings smaller
# than a burst of requests (QEMU refuses queue-size 2 or less), no
# indirect descriptors (a 256-entry ring holds 85 three-descriptor
# requests), no event index, transitional devices (both interfaces; the
# library probes the modern one), a page per queue's notify address
# (notify multiplier 4096), a second notify capability in an I/O BAR,
# small rings on MMIO and on a big-endian legacy guest, no discard or
# write-zeroes with QEMU's older segment limit, discard and write-zeroes
# limits below one 4 KiB block (refused on that disk, cut to one sector
# on the others) and of exactly one, QEMU's largest ring, several request
# queues (the driver uses the first), no write cache (no FLUSH offered),
# ACCESS_PLATFORM offered (no IOMMU on the machine: addresses stay
# physical), disks behind PCIe root ports (buses 1-3, numbered by SeaBIOS
# on x86 and by virtio_pci_assign on the others).
# One arch each keeps the run short.
VARIANTS = [
    "riscv64-pci-modern-split+queue-size=4",
    "aarch64-pci-modern-split+queue-size=8",
    "x86_64-pci-modern-split+queue-size=64",
    "x86_64-pci-modern-packed+queue-size=4",
    "aarch64-pci-modern-packed+queue-size=4+indirect_desc=off",
    "riscv64-pci-modern-split+indirect_desc=off",
    "aarch64-pci-modern-packed+event_idx=off",
    "x86_64-pci-modern-split+transitional",
    "riscv64-pci-modern-packed+transitional",
    "x86_64-pci-modern-split+page-per-vq=on",
    "aarch64-pci-modern-packed+modern-pio-notify=on",
    "riscv64-mmio-legacy-split+queue-size=4",
    "aarch64be-pci-legacy-split+queue-size=8",
    "x86_64-pci-modern-split+discard=off+write-zeroes=off+seg-max-adjust=off",
    "x86_64-pci-modern-split+max-discard-sectors=1+max-write-zeroes-sectors=1",
    "aarch64-pci-modern-packed+max-discard-sectors=8+max-write-zeroes-sectors=8+queue-size=1024",
    "riscv64-mmio-modern-split+num-queues=4+write-cache=off+config-wce=off",
    "x86_64-pci-modern-split+iommu_platform=on",
    "x86_64-pci-modern-packed+root-port",
    "i686-pci-legacy-split+root-port",
    "riscv64-pci-modern-split+root-port",
    "aarch64be-pci-legacy-split+root-port",
    "x86_64-pci-modern-split+queue-size=4+seg-max-adjust=off",
    "riscv64-mmio-modern-packed+queue-size=4+seg-max-adjust=off",
    "x86_64-pci-legacy-split+scsi=on",
    # three bridges deep (a PCIe switch below a root port), and a
    # conventional PCI bus below a PCIe-to-PCI bridge
    "x86_64-pci-modern-split+switch",
    "riscv64-pci-modern-packed+switch",
    "armv7be-pci-legacy-split+switch",
    "i686-pci-legacy-split+pci-bridge",
    "aarch64-pci-modern-split+pci-bridge",
    # function 5 of a multi-function slot (function 0 is not VirtIO, 1-4
    # are empty), on the root bus and below bridges
    "x86_64-pci-modern-split+multifunction",
    "aarch64be-pci-legacy-split+multifunction",
    "riscv64-pci-modern-packed+root-port+multifunction",
    "i686-pci-legacy-split+pci-bridge+multifunction",
    # a 256 MiB BAR (ivshmem) before each disk in bus order: BARs placed
    # largest first, or riscv32's 1 GiB window holds neither the three of
    # them nor the disks after them
    "riscv32-pci-modern-split+bigbar",
    "riscv64-pci-modern-packed+root-port+bigbar",
    "aarch64-pci-modern-split+bigbar",
    # no MSI-X capability (legacy: the configuration starts 4 bytes
    # earlier), notifications in the vCPU thread, topology and geometry
    # (checked field by field: layout_want), PCIe extras the driver must
    # step over (ATS, AER, no extended capabilities, conventional PCI),
    # a discard granularity, legacy devices without ANY_LAYOUT and
    # NOTIFY_ON_EMPTY, QEMU's older status handling
    "x86_64-pci-legacy-split+vectors=0",
    "aarch64-pci-modern-split+vectors=0+ioeventfd=off",
    "riscv64-pci-modern-split+min_io_size=4096+opt_io_size=65536+physical_block_size=4096",
    "aarch64be-pci-legacy-split+min_io_size=4096+opt_io_size=1048576+physical_block_size=8192+cyls=1234+heads=200+secs=40",
    "x86_64-pci-modern-packed+ats=on+aer=on",
    "x86_64-pci-modern-split+x-pcie-extcap-init=off",
    "aarch64-pci-modern-split+discard_granularity=65536",
    "x86_64-pci-legacy-split+notify_on_empty=off+any_layout=off",
    "i686-pci-legacy-split+vectors=0",
    "aarch64be-pci-legacy-split+vectors=0",
    "riscv64-mmio-legacy-split+notify_on_empty=off+any_layout=off",
    "x86_64-pci-modern-split+x-disable-pcie=on",
    "x86_64-pci-modern-split+use-started=off",
    # the device model in an iothread of its own, as libvirt runs disks:
    # completions from a thread beside the main loop (QEMU refuses it on
    # virtio-mmio under TCG, which has no ioeventfd)
    "x86_64-pci-modern-split+iothread",
    "aarch64-pci-modern-packed+iothread",
    "i686-pci-legacy-split+iothread",
    # x86 virtio-mmio: QEMU's microvm machine
    "x86_64-mmio-legacy-split",
    "x86_64-mmio-modern-split",
    "x86_64-mmio-modern-packed",
    "i686-mmio-modern-packed",
]

def blk_resize(cfg):
    """The host resizes the disk under the running guest (QMP
    block_resize): 4 MiB, grown to 8 MiB, shrunk to 2 MiB. The guest sees
    each capacity through virtio_blk_refresh (VIRTIO_BLK_CHANGED_CAPACITY);
    a write past the old end lands in the image; after the shrink a read
    past the new end is refused (VIRTIO_ERR_RANGE) and one inside still
    returns the image's bytes."""
    rnd = random.Random()
    with tempfile.TemporaryDirectory(prefix="resize", dir=workdir()) as tmp:
        img = os.path.join(tmp, "disk.img")
        with open(img, "wb") as f:
            f.write(pattern(rnd.randrange(1, 1 << 62), 0, 4 * MiB))
        args = ["-drive", f"if=none,id=d0,file={img},format=raw"] + device_args(cfg, "virtio-blk", "drive=d0")
        seed, at = rnd.randrange(1, 1 << 62), 6 * MiB // 512
        with Machine(cfg, guest(cfg.arch, "resize_test"), args, timeout=120) as m:
            m.expect(r"^VT CAPACITY 8192 changed=0")
            m.qmp("block_resize", device="d0", size=8 * MiB)
            m.write("wait 16384\n")
            m.expect(r"^VT CAPACITY 16384 changed=1\b")
            m.write(f"write {at} {seed}\n")
            m.expect(r"^VT WROTE VIRTIO_OK")   # written and flushed: in the image file now
            with open(img, "rb") as f:
                f.seek(at * 512)
                check(f.read(4096) == pattern(seed, at * 512, 4096), "the write past the old end is not in the image")
            m.qmp("block_resize", device="d0", size=2 * MiB)
            m.write("wait 4096\n")
            m.expect(r"^VT CAPACITY 4096 changed=1\b")
            m.write(f"read {at}\n")
            m.expect(r"^VT READ VIRTIO_ERR_RANGE")
            m.write("read 4088\n")   # the last 4 KiB
            crc = int(m.expect(r"^VT READ VIRTIO_OK\b.* ([0-9a-f]{8})$").group(1), 16)
            with open(img, "rb") as f:
                f.seek(4088 * 512)
                check(crc == zlib.crc32(f.read(4096)), "the last 4 KiB after the shrink differ from the image")
            m.write("quit\n")
            lines = m.run_to_end()
        check(("END", "0") in lines, f"guest did not finish cleanly: {lines[-3:]}")
        check(os.path.getsize(img) == 2 * MiB, f"image is {os.path.getsize(img)} bytes after the shrink")


if __name__ == "__main__":
    test(configs=matrix("virtio-blk") + extra_matrix("virtio-blk") + variants(VARIANTS))(test_blk)
    test(configs=variants(["x86_64-pci-modern-split", "riscv64-mmio-modern-packed", "aarch64be-pci-legacy-split",
                           "i686-mmio-legacy-split"]), name="test_blk_resize")(blk_resize)
    main()
