#!/usr/bin/env python3
"""virtio-rng on real QEMU devices, fed from a file the test wrote.

The machine gets a virtio-rng device (virtio-rng-device on MMIO,
virtio-rng-pci on PCI) with `-object rng-random,filename=<file>` reading
a file of random bytes written here, so the test knows which bytes the
device can deliver and in which order. The guest
(tests/qemu/guest/rng_test.c) dumps every byte its driver handed out; we
check:
  - the first 16 bytes (a blocking read right after init, while QEMU
    serves the first request) are exactly the file's first 16 bytes;
  - 8000 more bytes, taken in 1..700-byte reads, blocking (all-or-nothing)
    and not, some batched with VIRTIO_MORE, are the file's bytes in the
    file's order: every byte handed out is the file byte at a strictly
    increasing offset. QEMU 7.2 may skip file bytes, never reorder or
    repeat them: each notification (and each status write) asks the
    backend again for every buffer posted, and what finds no buffer when
    it arrives is dropped (virtio_rng_process / chr_read in
    hw/virtio/virtio-rng.c). The skips are counted and printed; more
    skipped than delivered fails;
  - refused calls give their documented codes, and every byte of DMA
    memory comes back at shutdown.
A device that never delivers, or holds buffers, is covered by the unit
tests against the device model: QEMU's rng-random at the end of a regular
file spins its main loop, and its rate limit (max-bytes/period) stops
limiting once two requests overlap (the quota goes negative), so neither
gives a dependable starving device.
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu import Machine, check, device_args, guest, kv, main, matrix, variants, workdir  # noqa: E402

FILE = 1 << 20         # far more than the guest takes (reads + buffers posted + QEMU's skips)


def dumped(m, i):
    """Every byte device i handed out, from the guest's VT DATA lines."""
    m.write(f"d {i}\n")
    data = bytearray()
    while True:
        line = m.expect(rf"^VT (DATA|DUMPED) {i} (\d+) ?([0-9a-f]*)")
        if line.group(1) == "DUMPED":
            check(int(line.group(2)) == len(data), f"device {i}: dump of {line.group(2)} bytes has {len(data)}")
            return bytes(data)
        check(int(line.group(2)) == len(data), f"device {i}: dump line at {line.group(2)}, expected {len(data)}")
        data += bytes.fromhex(line.group(3))


def in_file_order(name, got, file):
    """Each byte of `got` is the byte of `file` at a strictly increasing
    offset; returns the file bytes skipped. Random files make the next
    32 bytes after a skip unique."""
    pos = i = skipped = 0
    while i < len(got):
        if pos < len(file) and got[i] == file[pos]:
            i += 1
            pos += 1
            continue
        k = file.find(got[i:i + 32], pos + 1)
        check(k > pos, f"{name}: byte {i} ({got[i:i + 8].hex()}...) is not in the file after offset {pos}: "
                       f"reordered, repeated or corrupted")
        skipped += k - pos
        pos = k
    return skipped


def test_rng(cfg):
    data = random.Random().randbytes(FILE)
    path = os.path.join(workdir(), "entropy.bin")
    with open(path, "wb") as f:
        f.write(data)
    args = ["-object", f"rng-random,id=r0,filename={path}"] + device_args(cfg, "virtio-rng", "rng=r0")
    with Machine(cfg, guest(cfg.arch, "rng_test"), args, timeout=240) as m:
        check(m.expect(r"^VT DEVICES (\d+)").group(1) == "1", "the guest does not see one rng device")
        f = kv(m.expect(r"^VT RNG 0 (.*)").group(1))
        check(f["transport"] == cfg.transport and f["packed"] == ("1" if cfg.packed else "0"), f"device: {f}")
        check(f["ok"] == "1", f"the first blocking read failed: {f}")
        check(f["first"] == data[:16].hex(), f"first bytes {f['first']} are not the file's {data[:16].hex()}")
        m.expect(r"^VT READY")
        m.write("b 0 8000\n")
        b = kv(m.expect(r"^VT BYTES 0 (.*)").group(1))
        check(b["total"] == str(16 + 8000), f"not every byte asked for came: {b}")
        got = dumped(m, 0)
        skipped = in_file_order("rng", got, data)
        check(skipped <= len(got), f"QEMU skipped {skipped} file bytes for {len(got)} delivered")
        print(f"    {len(got)} bytes in file order; QEMU skipped {skipped}; {b['empty']} non-blocking reads "
              f"found nothing", flush=True)
        m.write("q\n")
        res = m.run_to_end()
        leak = [r for k, r in res if k == "LEAK"]
        check(leak == ["0"], f"DMA memory not given back: {leak}")


# Device properties the plain matrix never sets. max-bytes=7 with a 1 ms
# period: buffers come back holding 1..7 of their 64 bytes, so the stash
# fills and wraps at odd offsets; iommu_platform=on: ACCESS_PLATFORM
# offered (no IOMMU) and accepted, on a 32-bit guest; vectors=0 and
# ioeventfd=off: a legacy device without MSI-X whose notifications QEMU
# handles in the vCPU's register write.
VARIANTS = ["x86_64-pci-modern-split+indirect_desc=off", "riscv64-mmio-modern-packed+event_idx=off",
            "armv7be-pci-legacy-split", "armv7be-mmio-modern-packed", "aarch64be-mmio-legacy-split",
            "x86_64-mmio-modern-split", "i686-mmio-legacy-split",   # x86 virtio-mmio: microvm
            "x86_64-pci-modern-split+max-bytes=512+period=250",
            "i686-pci-modern-packed+max-bytes=7+period=1", "riscv32-pci-modern-split+iommu_platform=on",
            "aarch64be-pci-legacy-split+vectors=0+ioeventfd=off",
            # the 32-bit little-endian machines
            "i686-pci-legacy-split", "riscv32-mmio-legacy-split", "armv7-mmio-modern-packed", "armv7-pci-modern-split"]

if __name__ == "__main__":
    main(configs=matrix("virtio-rng") + variants(VARIANTS))
