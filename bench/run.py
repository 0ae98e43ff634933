#!/usr/bin/env python3
"""make bench: figures for the README, measured on this machine.

  blk   riscv64 virtio-mmio and x86_64 virtio-pci, raw image in the host
        page cache, QEMU's default aio=threads: sequential 1 MiB reads and
        writes (16 in flight), 4 KiB random reads at depth 1 and 32; and,
        on the same image in the same run, `qemu-img bench` (4k depth 1,
        4k depth 32, 1M depth 16) as the ceiling.
  net   frames/s sent and received, 64 and 1514 bytes, through -netdev
        stream to a peer in this script.
  gpu   full-frame (1280x800) transfer+flush per second, 64x64 flushes.
  instr instructions per request through the software device model
        (valgrind callgrind: repeatable on a shared machine).
  size  .text of each header's implementation at -Os per architecture, and
        the boot-stage budget (bench/boot_size.py: core + blk in the BOOT
        STAGES configuration, linked, per architecture, at -Os and -Oz;
        then its --check, PASS/FAIL per cell against the 8 KiB budget or a
        ceiling).

Each QEMU figure is the best of three runs (the machine is shared and
noisy; the best run is the least disturbed one). Prints a Markdown table.
"""
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "qemu"))
from qemu import Config, Machine, StreamPeer, device_args  # noqa: E402

RUNS = int(os.environ.get("VT_BENCH_RUNS", "3"))
MiB = 1 << 20


def elf(arch, name):
    return os.path.join(ROOT, "build", arch, name + ".elf")


def bench_lines(m, timeout=300):
    out = {}
    while True:
        line = m.read_line(timeout)
        if line is None or line.startswith("VT END") or line.startswith("VT FAIL"):
            if line and line.startswith("VT FAIL"):
                raise RuntimeError(line)
            return out
        if line.startswith("VT BENCH "):
            name, *nums = line.split()[2:]
            out[name] = [int(x) for x in nums]


def best(runs, key):
    return max(r[key] for r in runs)


def blk(cfg, img):
    runs = []
    for _ in range(RUNS):
        args = ["-drive", f"if=none,id=d0,file={img},format=raw"] + device_args(cfg, "virtio-blk", "drive=d0")
        with Machine(cfg, elf(cfg.arch, "blk_bench"), args, timeout=300) as m:
            m.start()
            r = bench_lines(m)
        runs.append({
            "seqread": r["seqread_1m_qd16"][0] / MiB / (r["seqread_1m_qd16"][2] / 1e6),
            "qd1": r["randread_4k_qd1"][1] / (r["randread_4k_qd1"][2] / 1e6),
            "qd32": r["randread_4k_qd32"][1] / (r["randread_4k_qd32"][2] / 1e6),
            "seqwrite": r["seqwrite_1m_qd16"][0] / MiB / (r["seqwrite_1m_qd16"][2] / 1e6),
        })
    return {k: best(runs, k) for k in runs[0]}


def qemu_img(img):
    def one(count, depth, size, step):
        t = []
        for _ in range(RUNS):
            out = subprocess.run(["qemu-img", "bench", "-f", "raw", "-c", str(count), "-d", str(depth),
                                  "-s", str(size), "-S", str(step), img], capture_output=True, text=True)
            t.append(float(re.search(r"completed in ([0-9.]+) seconds", out.stdout).group(1)))
        return count / min(t)
    return {
        "qd1": one(40000, 1, 4096, 4096),
        "qd32": one(200000, 32, 4096, 4096),
        "seq": one(16000, 16, MiB, MiB),   # requests/s of 1 MiB = MiB/s
    }


def net(cfg):
    results = {}
    for _ in range(RUNS):
        with StreamPeer("stream") as peer:
            args = ["-netdev", peer.netdev("n0")] + device_args(cfg, "virtio-net", "netdev=n0")
            with Machine(cfg, elf(cfg.arch, "net_bench"), args, timeout=300) as m:
                m.start()
                peer.accept()
                m.expect(r"^VT READY")
                for size in (64, 1514):
                    n = 20000 if size == 64 else 10000
                    m.write(f"t {n} {size}\n")
                    got = 0
                    while got < n:
                        f = peer.recv(timeout=30)
                        if f is None:
                            raise RuntimeError("tx frames lost")
                        got += 1
                    _, frames, us = m.expect(r"^VT BENCH (tx_\d+) (\d+) (\d+)").groups()
                    results.setdefault(f"tx{size}", []).append(int(frames) / (int(us) / 1e6))
                    frame = b"\xff" * 6 + b"\x02\0\0\0\0\x01" + b"\x88\xb5" + bytes(size - 14)
                    blob = (struct.pack(">I", size) + frame) * n
                    m.write(f"r {n}\n")
                    sender = threading.Thread(target=peer.conn.sendall,
                                              args=(blob,), daemon=True)
                    sender.start()
                    _, frames, us = m.expect(r"^VT BENCH (rx_\d+) (\d+) (\d+)", timeout=120).groups()
                    sender.join(30)
                    results.setdefault(f"rx{size}", []).append(int(frames) / (int(us) / 1e6))
                m.write("q\n")
    return {k: max(v) for k, v in results.items()}


def gpu(cfg):
    runs = []
    for _ in range(RUNS):
        args = device_args(cfg, "virtio-gpu", "xres=1280,yres=800")
        with Machine(cfg, elf(cfg.arch, "gpu_bench"), args, timeout=300) as m:
            m.start()
            r = bench_lines(m)
        runs.append({"full": r["full_1280x800"][0] / (r["full_1280x800"][1] / 1e6),
                     "rect": r["rect_64x64"][0] / (r["rect_64x64"][1] / 1e6)})
    return {k: best(runs, k) for k in runs[0]}


def sizes():
    """.text bytes of each part's implementation at -Os, freestanding."""
    targets = [("riscv64", "riscv64-unknown-elf", ["-mcmodel=medany"]), ("aarch64", "aarch64-unknown-elf", []),
               ("x86_64", "x86_64-unknown-elf", []), ("armv7 (32-bit)", "armv7a-none-eabi", []),
               ("i686 (32-bit)", "i686-unknown-elf", [])]
    parts = [("core", "VIRTIO_CORE_IMPLEMENTATION", "virtio.h"), ("blk", "VIRTIO_BLK_IMPLEMENTATION", "virtio_blk.h"),
             ("net", "VIRTIO_NET_IMPLEMENTATION", "virtio_net.h"),
             ("input", "VIRTIO_INPUT_IMPLEMENTATION", "virtio_input.h"),
             ("gpu", "VIRTIO_GPU_IMPLEMENTATION", "virtio_gpu.h"),
             ("console", "VIRTIO_CONSOLE_IMPLEMENTATION", "virtio_console.h"),
             ("rng", "VIRTIO_RNG_IMPLEMENTATION", "virtio_rng.h")]
    out = {}
    tmp = tempfile.mkdtemp(prefix="vt-size-")
    try:
        for tname, triple, extra in targets:
            for pname, macro, header in parts:
                src = os.path.join(tmp, "p.c")
                with open(src, "w") as f:
                    f.write(f'#define {macro}\n#include "{os.path.join(ROOT, header)}"\n')
                obj = os.path.join(tmp, "p.o")
                subprocess.run(["clang", f"--target={triple}", "-Os", "-ffreestanding", "-std=c99", "-c", src, "-o",
                                obj] + extra, check=True)
                text = subprocess.run(["llvm-size", "-A", obj] if shutil.which("llvm-size") else ["size", "-A", obj],
                                      capture_output=True, text=True).stdout
                out[(tname, pname)] = sum(int(l.split()[1]) for l in text.splitlines()
                                          if l.startswith(".text"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out, [t[0] for t in targets], [p[0] for p in parts]


def instructions():
    script = os.path.join(ROOT, "bench", "instructions.py")
    if not os.path.exists(script):
        return None
    out = subprocess.run([sys.executable, script], capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else f"(instructions: failed: {out.stderr.strip()[-200:]})"


def main():
    only = set(sys.argv[1:])
    want = lambda s: not only or s in only  # noqa: E731
    print(f"# virtio.h benchmarks ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} host cores, QEMU TCG, best of {RUNS})\n")
    tmp = tempfile.mkdtemp(prefix="vt-bench-")
    try:
        if want("blk"):
            img = os.path.join(tmp, "bench.img")
            with open(img, "wb") as f:
                for _ in range(256):
                    f.write(os.urandom(MiB))   # in the page cache from here on
            ceil = qemu_img(img)
            print("| block (256 MiB raw image, page cache) | seq read 1M qd16 MiB/s | 4K rand read qd1 IOPS "
                  "| 4K rand read qd32 IOPS | seq write 1M qd16 MiB/s |")
            print("|---|---|---|---|---|")
            print(f"| qemu-img bench (ceiling) | {ceil['seq']:.0f} | {ceil['qd1']:.0f} | {ceil['qd32']:.0f} | |")
            for cfg in (Config("riscv64", "mmio-modern"), Config("x86_64", "pci-modern")):
                b = blk(cfg, img)
                print(f"| virtio.h, {cfg.arch} {cfg.transport} | {b['seqread']:.0f} ({100 * b['seqread'] / ceil['seq']:.0f} %) "
                      f"| {b['qd1']:.0f} ({100 * b['qd1'] / ceil['qd1']:.0f} %) "
                      f"| {b['qd32']:.0f} ({100 * b['qd32'] / ceil['qd32']:.0f} %) | {b['seqwrite']:.0f} |", flush=True)
            print()
        if want("net"):
            print("| network (-netdev stream) | tx 64 B frames/s | tx 1514 B frames/s | rx 64 B frames/s | rx 1514 B frames/s |")
            print("|---|---|---|---|---|")
            for cfg in (Config("riscv64", "mmio-modern"), Config("x86_64", "pci-modern")):
                n = net(cfg)
                print(f"| virtio.h, {cfg.arch} {cfg.transport} | {n['tx64']:.0f} | {n['tx1514']:.0f} | {n['rx64']:.0f} "
                      f"| {n['rx1514']:.0f} |", flush=True)
            print()
        if want("gpu"):
            print("| gpu | 1280x800 transfer+flush /s | 64x64 transfer+flush /s |")
            print("|---|---|---|")
            for cfg in (Config("riscv64", "mmio-modern"), Config("x86_64", "pci-modern")):
                g = gpu(cfg)
                print(f"| virtio.h, {cfg.arch} {cfg.transport} | {g['full']:.0f} | {g['rect']:.0f} |", flush=True)
            print()
        if want("instr"):
            i = instructions()
            if i:
                print(i + "\n")
        if want("size"):
            s, tnames, pnames = sizes()
            print("| .text bytes at -Os | " + " | ".join(pnames) + " |")
            print("|---" * (len(pnames) + 1) + "|")
            for t in tnames:
                print(f"| {t} | " + " | ".join(str(s[(t, p)]) for p in pnames) + " |")
            print()
            # The boot-stage budget: core + blk in the smallest build, linked;
            # then the same check `make test` runs (a FAIL line when over).
            for args in ([], ["--check"]):
                boot = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "boot_size.py")] + args,
                                      capture_output=True, text=True)
                out = boot.stdout.strip()
                if args:
                    out = "\n".join(l for l in out.splitlines() if l.startswith(("PASS", "FAIL")))
                print(out if boot.stdout else f"(boot stage: failed: {boot.stderr.strip()[-200:]})")
                print()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
