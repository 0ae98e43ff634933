#!/usr/bin/env python3
"""make bench: figures for the README, measured on this machine.

  blk   riscv64 virtio-mmio and x86_64 virtio-pci (the device model in
        QEMU's main loop, as by default, and in an iothread of its own)
        against `qemu-img bench`
        on the same raw image (in the host page cache, QEMU's defaults:
        cache=writeback, aio=threads): sequential 1 MiB reads and writes
        (16 in flight), 4 KiB random reads at depth 1 and 32. Guest and
        ceiling runs alternate (A B A B ...); each table cell is the median
        of the runs with the smallest and largest in brackets, and the
        ratio is the median of the pairwise ratios. Beside throughput:
        QEMU's host CPU time per request (user + system from /proc, split
        by thread), and, from a separate run with QEMU's trace events on,
        the notifications and interrupts per request. The device runs with
        request-merging=off; aio=threads rows for the split and (without
        the iothread) the packed ring, aio=io_uring rows (ceiling on
        io_uring too) for split.
  why   (not part of `make bench`) where a read's time goes: 1 MiB depth 16
        and 4 KiB depth 32 with QEMU's request merging on, with the guest
        spinning instead of the idle hook, with the guest's nap ended by a
        5 us timer instead of the queue's interrupt (MSI-X or the
        virtio-mmio line), with QEMU taking notifications in the vCPU
        thread (ioeventfd=off), on virtio-mmio (x86: microvm), with an
        iothread, without indirect descriptors, with the packed ring; and
        what one call of the idle hook costs.
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

VT_BENCH_RUNS (default 5) sets the number of runs (pairs for blk; net
and gpu report the best). Prints Markdown tables; `python3 bench/run.py
blk` runs one part.
"""
import os
import re
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "qemu"))
from qemu import Config, Machine, StreamPeer, device_args  # noqa: E402

RUNS = int(os.environ.get("VT_BENCH_RUNS", "5"))
MiB = 1 << 20
TICK = os.sysconf("SC_CLK_TCK")


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


# ---- block ----------------------------------------------------------------
# (key, column title, guest command for bench/blk_bench.c, qemu-img bench
# arguments, unit). The counts make each run last about a second here.
# qemu-img bench cannot read at random offsets: its 4 KiB reads step
# through the image, which in the page cache costs the same.
BLK_LOADS = [
    ("seqread", "seq read 1M qd16 MiB/s", "r 16 1048576 8192 seq", ["-d", "16", "-s", "1M", "-S", "1M", "-c", "8192"],
     "MiB"),
    ("qd1", "4K rand read qd1 IOPS", "r 1 4096 16000 rand", ["-d", "1", "-s", "4K", "-S", "4K", "-c", "30000"], "req"),
    ("qd32", "4K rand read qd32 IOPS", "r 32 4096 100000 rand", ["-d", "32", "-s", "4K", "-S", "4K", "-c", "150000"],
     "req"),
    ("seqwrite", "seq write 1M qd16 MiB/s", "w 16 1048576 4096 seq",
     ["-w", "-d", "16", "-s", "1M", "-S", "1M", "-c", "4096"], "MiB"),
]
# x86_64 twice: QEMU's default, where the main loop runs the device model
# (virtio-pci takes notifications through an ioeventfd), and with an
# iothread of its own for the disk, as libvirt runs disks. virtio-mmio
# has no ioeventfd under TCG, so no iothread either (QEMU refuses it).
BLK_CONFIGS = (Config("riscv64", "mmio-modern"), Config("x86_64", "pci-modern"),
               Config("x86_64", "pci-modern", props="iothread"))


def blk_label(cfg):
    return f"{cfg.arch} {cfg.transport}" + (" iothread" if "iothread" in cfg.prop_list else "")
# The same backend on both sides: QEMU's default thread pool, and io_uring
# (name, -drive options, qemu-img bench options).
BLK_BACKENDS = (("aio=threads", "", []), ("aio=io_uring", ",aio=io_uring", ["-i", "io_uring"]))
# QEMU's virtio-blk merges the adjacent requests it finds in one
# notification into one backend request (up to 16 MiB here), which one
# thread-pool worker then copies alone; `qemu-img bench` hands the backend
# each request as it is. Turned off, the backend sees the guest's requests.
BLK_DEVICE = ",request-merging=off"
# Interrupts: virtio_notify, or virtio_notify_irqfd where QEMU runs the
# device in its dataplane code (virtio-pci with ioeventfd, iothread or not).
TRACE_EVENTS = ("virtio_queue_notify", "virtio_notify", "virtio_notify_irqfd", "virtio_blk_submit_multireq")


class Variant:
    """A guest configuration: label, Config, extra -drive and -device
    options, words added to blk_bench's commands."""

    def __init__(self, label, cfg, drive="", device=BLK_DEVICE, words="", qemu=()):
        self.label, self.cfg, self.drive, self.device, self.words = label, cfg, drive, device, words
        self.qemu = list(qemu)


def qemu_cpu(pid):
    """CPU ticks of QEMU process `pid`: the whole process (threads that
    ended included), its main loop thread and its vCPU thread ("CPU 0/TCG"
    with -name debug-threads=on); the rest is the block layer's I/O
    (thread-pool workers) and, with -object iothread, the iothread
    ("IO <id>")."""
    def ticks(path):
        with open(path) as f:
            text = f.read()
        fields = text.rsplit(")", 1)[1].split()
        return text[text.index("(") + 1:text.rindex(")")], int(fields[11]) + int(fields[12])
    out = {"total": ticks(f"/proc/{pid}/stat")[1], "vcpu": 0, "main": 0, "iothread": 0}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            name, t = ticks(f"/proc/{pid}/task/{tid}/stat")
        except OSError:   # the thread ended
            continue
        if int(tid) == pid:
            out["main"] += t
        elif name.endswith("/TCG"):
            out["vcpu"] += t
        elif name.startswith("IO "):
            out["iothread"] += t
    return out


class BlkGuest:
    """One QEMU running blk_bench for Variant v, paused between workloads."""

    def __init__(self, v, img, trace=None):
        # file.locking=off: other guests and qemu-img bench open the image
        # while this QEMU is paused.
        args = ["-name", "blk_bench,debug-threads=on",
                "-drive", f"if=none,id=d0,file={img},format=raw,file.locking=off{v.drive}"]
        args += v.qemu + device_args(v.cfg, "virtio-blk", "drive=d0" + v.device)
        if trace:
            args += ["-trace", f"events={trace}.events,file={trace}"]
            with open(trace + ".events", "w") as f:
                f.write("\n".join(TRACE_EVENTS) + "\n")
        self.words = v.words
        self.m = Machine(v.cfg, elf(v.cfg.arch, "blk_bench"), args, timeout=3600)
        self.m.start()
        self.m.expect(r"^VT READY", timeout=120)
        self.m.qmp("stop")

    def run(self, cmd):
        m = self.m
        m.qmp("cont")
        m.write(cmd + self.words + "\n")
        m.expect(r"^VT START", timeout=120)
        a = qemu_cpu(m.pid)
        g = m.expect(r"^VT BENCH (\d+) (\d+) (\d+) (\d+)", timeout=600)
        b = qemu_cpu(m.pid)
        m.qmp("stop")
        nbytes, n, us, waits = map(int, g.groups())
        cpu = {k: (b[k] - a[k]) * 1e6 / TICK / n for k in a}
        cpu["io"] = max(0.0, cpu["total"] - cpu["vcpu"] - cpu["main"] - cpu["iothread"])   # ticks of 10 ms: rounding
        return {"req": n / (us / 1e6), "MiB": nbytes / MiB / (us / 1e6), "cpu": cpu, "waits": waits / n, "n": n}

    def close(self):
        try:
            self.m.qmp("cont")
            self.m.write("q\n")
            self.m.expect(r"^VT END", timeout=60)
        finally:
            self.m.kill()


def qemu_img(img, args):
    """One `qemu-img bench` run: rates (requests/s, MiB/s) and CPU us per
    request (user + system of the process, from wait4)."""
    count = int(args[args.index("-c") + 1])
    size = 4096 if "4K" in args else MiB
    p = subprocess.Popen(["qemu-img", "bench", "-f", "raw"] + args + [img], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = status
    m = re.search(r"completed in ([0-9.]+) seconds", out)
    if status != 0 or not m:
        raise RuntimeError(f"qemu-img bench {' '.join(args)}: {out.strip()[-300:]}")
    secs = max(float(m.group(1)), 1e-3)   # it prints milliseconds
    return {"req": count / secs, "MiB": count * size / MiB / secs,
            "cpu": {"total": (ru.ru_utime + ru.ru_stime) * 1e6 / count}}


def spread(values, unit=""):
    """median [min–max]"""
    v = sorted(values)
    return f"{statistics.median(v):.0f}{unit} [{v[0]:.0f}–{v[-1]:.0f}]"


def blk_trace(v, img, path):
    """Per request: notifications the device took, interrupts it raised,
    requests merged into a neighbour, from QEMU's trace events (`log`
    backend, into a file), in runs of their own: tracing costs time. Also
    the traced run's rate, to show that cost."""
    out = {}
    for key, _, cmd, _, unit in BLK_LOADS:
        g = BlkGuest(v, img, trace=path)
        try:
            r = g.run(cmd)
        finally:
            g.close()
        counts = dict.fromkeys(TRACE_EVENTS, 0)
        merged = 0
        if not os.path.exists(path):   # a QEMU built without a trace backend that writes files
            out[key] = None
            continue
        with open(path) as f:
            for line in f:
                name = line.split(" ", 1)[0].rsplit(":", 1)[-1]
                if name in counts:
                    counts[name] += 1
                    if name == "virtio_blk_submit_multireq":
                        merged += int(re.search(r"num_reqs (\d+)", line).group(1)) - 1
        os.unlink(path)
        irqs = counts["virtio_notify"] + counts["virtio_notify_irqfd"]
        out[key] = {"notify": counts["virtio_queue_notify"] / r["n"], "irq": irqs / r["n"],
                    "merged": merged / r["n"], "rate": r[unit]}
    return out


def interleave(img, variants, qargs, loads):
    """RUNS rounds; in each, every load on every variant, each guest run
    followed by its own `qemu-img bench` run (A B A B ...). Returns the
    guest runs, the ceiling runs (both keyed by (variant, load)) and the
    load averages seen."""
    guests = {}
    res = {(v, key): [] for v in variants for key, *_ in loads}
    ceil = {(v, key): [] for v in variants for key, *_ in loads}
    load = [os.getloadavg()[0]]
    try:
        for v in variants:
            guests[v] = BlkGuest(v, img)
        for _ in range(RUNS):
            for key, _, cmd, args, _ in loads:
                for v in variants:
                    res[(v, key)].append(guests[v].run(cmd))
                    ceil[(v, key)].append(qemu_img(img, qargs + args))
            load.append(os.getloadavg()[0])
    finally:
        for g in guests.values():
            g.close()
    return res, ceil, load


def usable(img, name, qargs):
    """Can qemu-img bench use this backend here (io_uring may be missing
    from the kernel or QEMU's build)?"""
    try:
        qemu_img(img, qargs + ["-d", "1", "-s", "4K", "-S", "4K", "-c", "16"])
        return True
    except RuntimeError as e:
        print(f"({name}: skipped, qemu-img bench cannot use it here: {e})\n")
        return False


def ratio(res, ceil, v, k, u):
    return spread([100 * r[u] / c[u] for r, c in zip(res[(v, k)], ceil[(v, k)])], " %")


def cpu_split(res, v, k):
    med = {p: statistics.median(r["cpu"][p] for r in res[(v, k)]) for p in ("total", "vcpu", "main", "iothread", "io")}
    iot = f" + {med['iothread']:.1f} iothread" if "iothread" in v.cfg.prop_list else ""
    return f"{med['total']:.1f} = {med['vcpu']:.1f} + {med['main']:.1f}{iot} + {med['io']:.1f}"


def blk(img, tmp):
    loads = [(key, title, unit) for key, title, _, _, unit in BLK_LOADS]
    heads = " | ".join(t.rsplit(" ", 1)[0] for _, t, _ in loads)
    rule = "|---" * (len(loads) + 1) + "|"
    done = []
    for name, drive, qargs in BLK_BACKENDS:
        if usable(img, name, qargs):
            variants = [Variant(f"{blk_label(cfg)}, {name}", cfg, drive) for cfg in BLK_CONFIGS]
            if not done:   # the packed ring costs QEMU less per request (see `why`): both formats, default backend
                variants += [Variant(f"{blk_label(cfg)} packed, {name}", cfg, drive, BLK_DEVICE + ",packed=on")
                             for cfg in BLK_CONFIGS[:2]]
            res, ceil, load = interleave(img, variants, qargs, BLK_LOADS)
            traced = {v: blk_trace(v, img, os.path.join(tmp, "trace")) for v in variants}
            done.append((name, variants, res, ceil, load, traced))
    if not done:
        return
    cells = lambda f: " | ".join(f(k, u) for k, _, u in loads)  # noqa: E731
    print(f"Block: {RUNS} pairs per cell, each guest run followed by its `qemu-img bench` run on the same image; "
          f"median [min–max]. 1-minute load average {min(x for d in done for x in d[4]):.1f}–"
          f"{max(x for d in done for x in d[4]):.1f} during the runs.\n")
    print("| block (256 MiB raw image, page cache) | " + " | ".join(t for _, t, _ in loads) + " |")
    print(rule)
    for name, variants, res, ceil, _, _ in done:
        print(f"| qemu-img bench (ceiling), {name} | " + cells(
            lambda k, u: spread([c[u] for v in variants for c in ceil[(v, k)]])) + " |")
        for v in variants:
            print(f"| virtio.h, {v.label} | " + cells(lambda k, u: spread([r[u] for r in res[(v, k)]])) + " |")
    print()
    print(f"| guest / ceiling: median of the pairs' ratios [min–max] | {heads} |")
    print(rule)
    for name, variants, res, ceil, _, _ in done:
        for v in variants:
            print(f"| {v.label} | " + cells(lambda k, u: ratio(res, ceil, v, k, u)) + " |")
    print()
    print(f"| QEMU's host CPU µs per request (user + system; guest: vCPU + main loop [+ iothread] + I/O workers), median | {heads} |")
    print(rule)
    for name, variants, res, ceil, _, _ in done:
        print(f"| qemu-img bench (ceiling), {name} | " + cells(
            lambda k, u: f"{statistics.median(c['cpu']['total'] for v in variants for c in ceil[(v, k)]):.1f}") + " |")
        for v in variants:
            print(f"| virtio.h, {v.label} | " + cells(lambda k, u: cpu_split(res, v, k)) + " |")
    print()
    print(f"| per request: notifications / interrupts / merged / guest idle calls | {heads} |")
    print(rule)
    for name, variants, res, _, _, traced in done:
        for v in variants:
            print(f"| {v.label} | " + cells(lambda k, u: ("{notify:.3f} / {irq:.3f} / {merged:.2f} / ".format(
                **traced[v][k]) if traced[v][k] else "– / – / – / ") +
                f"{statistics.median(r['waits'] for r in res[(v, k)]):.2f}") + " |")
    print()
    print("The event counts come from separate runs with QEMU's trace events on (" + ", ".join(TRACE_EVENTS) +
          "); those runs went at " + "; ".join(
              f"{v.label} " + "/".join(
                  f"{100 * traced[v][k]['rate'] / statistics.median(r[u] for r in res[(v, k)]):.0f}"
                  if traced[v][k] else "–" for k, _, u in loads) + " %"
              for _, variants, res, _, _, traced in done for v in variants) +
          " of the untraced medians (columns in order).\n", flush=True)


def blk_why(img):
    """Where a read's time goes: the default guest against the changes that
    matter, each paired with its own ceiling run (aio=threads)."""
    rv, x86, x86_iothread = BLK_CONFIGS
    variants = []
    for c in (rv, x86):
        variants += [
            Variant(f"{c.arch} {c.transport}", c),
            Variant(f"{c.arch}: QEMU merges requests (request-merging=on, QEMU's default)", c, device=""),
            Variant(f"{c.arch}: guest spins instead of the idle hook (busy polling)", c, words=" spin"),
            Variant(f"{c.arch}: guest naps on a 5 µs timer, the queue's interrupt not armed", c, words=" poll"),
        ]
        if c.transport.startswith("pci"):   # virtio-mmio has no ioeventfd under TCG: the vCPU thread takes them
            variants.append(Variant(f"{c.arch}: QEMU takes notifications in the vCPU thread (ioeventfd=off)", c,
                                    device=BLK_DEVICE + ",ioeventfd=off"))
            variants.append(Variant(f"{c.arch}: virtio-mmio on QEMU's microvm (notifications in the vCPU thread)",
                                    Config(c.arch, "mmio-modern")))
            variants.append(Variant(f"{c.arch}: the device model in an iothread of its own", x86_iothread))
        variants += [
            Variant(f"{c.arch}: no indirect descriptors (indirect_desc=off)", c, device=BLK_DEVICE + ",indirect_desc=off"),
            Variant(f"{c.arch}: packed ring (packed=on)", c, device=BLK_DEVICE + ",packed=on"),
        ]
    loads = [x for x in BLK_LOADS if x[0] in ("seqread", "qd32")]
    sleeps = []
    for v in (variants[0], next(v for v in variants if v.cfg is x86)):   # what one sleep in the idle hook costs QEMU
        g = BlkGuest(v, img)
        try:
            r = g.run("s 20000")
        finally:
            g.close()
        sleeps.append(f"{v.cfg.arch} {1e6 / r['req']:.0f} µs and {r['cpu']['total']:.0f} µs of QEMU's CPU "
                      f"({r['cpu']['vcpu']:.0f} vCPU + {r['cpu']['main']:.0f} main loop)")
    res, ceil, load = interleave(img, variants, [], loads)
    print(f"Where the time goes (aio=threads; {RUNS} pairs per cell; load average {min(load):.1f}–{max(load):.1f}): "
          "guest / ceiling, median [min–max], and QEMU's CPU µs per request (vCPU + main loop [+ iothread] + I/O workers), "
          "and guest idle calls per request.\n")
    print("| variant | " + " | ".join(f"{t.rsplit(' ', 1)[0]}: ratio | CPU µs/request | idle calls" for _, t, *_ in loads)
          + " |")
    print("|---" * (3 * len(loads) + 1) + "|")
    for v in variants:
        print(f"| {v.label} | " + " | ".join(
            f"{ratio(res, ceil, v, k, u)} | {cpu_split(res, v, k)} | "
            f"{statistics.median(r['waits'] for r in res[(v, k)]):.2f}" for k, _, _, _, u in loads) + " |")
    print("\nOne call of the idle hook (a 5 µs timer sleep) takes " + "; ".join(sleeps) + ".\n", flush=True)


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
    print(f"# virtio.h benchmarks ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} host cores, QEMU TCG, "
          f"{RUNS} runs, load average {os.getloadavg()[0]:.1f})\n")
    tmp = tempfile.mkdtemp(prefix="vt-bench-")
    try:
        if want("blk") or "why" in only:
            img = os.path.join(tmp, "bench.img")
            with open(img, "wb") as f:
                for _ in range(256):
                    f.write(os.urandom(MiB))   # in the page cache from here on
            if want("blk"):
                blk(img, tmp)
            if "why" in only:   # not part of `make bench`
                blk_why(img)
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
