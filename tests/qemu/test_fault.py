#!/usr/bin/env python3
"""A disk that fails some requests (QEMU blkdebug), checked from the host.

blkdebug injects EIO into reads and writes that touch sectors the host
picks at random. The guest (tests/qemu/guest/fault_test.c) keeps 64 reads
and then 64 writes in flight and reports each result. We check that
exactly the requests over a bad sector failed (VIRTIO_ERR_IO), that every
other read returned the image's bytes, that every write that succeeded is
in the image after the guest flushed and powered off at once, and that the
failed writes left their chunks untouched.
"""
import os
import random
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu import Config, Machine, check, device_args, main, pattern, workdir  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHUNK, N, READ_AT, WRITE_AT = 4096, 64, 64 * 1024, 1024 * 1024
STRIDE = 2 * CHUNK   # gaps between chunks: QEMU merges adjacent requests into one I/O
VIRTIO_OK, VIRTIO_ERR_IO = 0, -4   # virtio_result values (stable, see virtio.h)
CONFIGS = [Config("riscv64", "mmio-modern", True), Config("aarch64", "pci-modern"), Config("x86_64", "pci-legacy"),
           Config("riscv32", "mmio-legacy"), Config("armv7", "pci-modern", True),
           Config("aarch64be", "mmio-modern", True), Config("aarch64be", "pci-legacy"), Config("i686", "pci-legacy"),
           Config("armv7be", "mmio-legacy"), Config("x86_64", "pci-modern", True, "iothread")]


def fault_run(cfg, tmp):
    rnd = random.Random()
    seed = rnd.randrange(1, 1 << 62)
    img = os.path.join(tmp, "disk.img")
    with open(img, "wb") as f:
        f.truncate(4 << 20)
        f.write(b"VTDISK01" + seed.to_bytes(8, "little"))
        f.seek(READ_AT)
        f.write(pattern(seed, READ_AT, N * STRIDE))
        f.seek(WRITE_AT)
        f.write(b"\xee" * (N * STRIDE))
    bad_reads = sorted(rnd.sample(range(N), 5))
    bad_writes = sorted(rnd.sample(range(N), 5))
    rules = []
    for op, base, chunks in (("read_aio", READ_AT, bad_reads), ("write_aio", WRITE_AT, bad_writes)):
        for c in chunks:
            sector = (base + c * STRIDE) // 512 + rnd.randrange(8)   # any sector inside the chunk
            rules.append(f'[inject-error]\nevent = "{op}"\nerrno = "5"\nsector = "{sector}"\nonce = "off"\n')
    conf = os.path.join(tmp, "blkdebug.conf")
    with open(conf, "w") as f:
        f.write("\n".join(rules))
    args = ["-drive", f"if=none,id=d0,format=raw,file.driver=blkdebug,file.config={conf},"
                      f"file.image.driver=file,file.image.filename={img}"]
    args += device_args(cfg, "virtio-blk", "drive=d0,werror=report,rerror=report")
    with Machine(cfg, os.path.join(ROOT, "build", cfg.arch, "fault_test.elf"), args, timeout=300) as m:
        res = m.run_to_end()
    got = {"READ": {}, "WRITE": {}}
    for k, rest in res:
        if k in got:
            i, status, crc = rest.split()
            got[k][int(i)] = (int(status), int(crc, 16))
    check(len(got["READ"]) == N and len(got["WRITE"]) == N, "missing results")
    failed_r = sorted(i for i, (s, _) in got["READ"].items() if s != VIRTIO_OK)
    failed_w = sorted(i for i, (s, _) in got["WRITE"].items() if s != VIRTIO_OK)
    check(failed_r == bad_reads, f"failed reads {failed_r}, injected {bad_reads}")
    check(failed_w == bad_writes, f"failed writes {failed_w}, injected {bad_writes}")
    for i in failed_r + failed_w:
        status = (got["READ"].get(i) if i in failed_r else got["WRITE"].get(i))[0]
        check(status == VIRTIO_ERR_IO, f"chunk {i}: result {status}, want VIRTIO_ERR_IO ({VIRTIO_ERR_IO})")
    data = open(img, "rb").read()
    for i, (s, crc) in got["READ"].items():
        if s == VIRTIO_OK:
            want = zlib.crc32(data[READ_AT + i * STRIDE:READ_AT + i * STRIDE + CHUNK])
            check(crc == want, f"read chunk {i}: CRC {crc:08x} != image {want:08x}")
    for i in range(N):
        chunk = data[WRITE_AT + i * STRIDE:WRITE_AT + i * STRIDE + CHUNK]
        if i in bad_writes:
            check(chunk == b"\xee" * CHUNK, f"failed write {i} changed the image")
        else:
            check(chunk == pattern(seed + 1, WRITE_AT + i * STRIDE, CHUNK), f"write {i} not in the image")


def test_fault(cfg):
    with tempfile.TemporaryDirectory(prefix="fault", dir=workdir()) as tmp:
        fault_run(cfg, tmp)


if __name__ == "__main__":
    main(configs=CONFIGS)
