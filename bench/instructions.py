#!/usr/bin/env python3
"""Instructions per 4 KiB block request in the driver (valgrind callgrind).

Builds bench/instructions.c at -O2 against the device model and counts,
with callgrind, only what executes inside virtio_blk_submit, virtio_blk_kick
and virtio_blk_poll (the device's own work happens in model_run, outside).
The count is repeatable: it does not depend on how busy the machine is.
Prints one Markdown table row per ring format.
"""
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    tmp = tempfile.mkdtemp(prefix="vt-instr-")
    exe = os.path.join(tmp, "instructions")
    inc = ["-I" + ROOT, "-I" + os.path.join(ROOT, "tests", "model")]
    src = os.path.join(ROOT, "bench", "instructions.c")
    lib = os.path.join(tmp, "lib.o")
    subprocess.run(["cc", "-std=c99", "-O2", "-g", "-DINSTRUCTIONS_LIBRARY_TU", "-c", src, "-o", lib] + inc, check=True)
    subprocess.run(["cc", "-std=c99", "-O2", "-g", src, lib, os.path.join(ROOT, "tests", "model", "model.c"),
                    os.path.join(ROOT, "tests", "model", "model_blk.c"), "-o", exe] + inc, check=True)
    rows = []
    for ring in ("split", "packed"):
        out = os.path.join(tmp, f"cg.{ring}")
        batches = 200
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--collect-atstart=no",
                        "--toggle-collect=virtio_blk_submit", "--toggle-collect=virtio_blk_kick",
                        "--toggle-collect=virtio_blk_poll", exe, str(batches), ring],
                       check=True, capture_output=True)
        total = None
        for line in open(out):
            if line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
        reqs = batches * 32
        rows.append((ring, total / reqs))
    print("| instructions per 4 KiB read (driver: submit + kick + poll, device model excluded) | split ring | packed ring |")
    print("|---|---|---|")
    print(f"| virtio_blk.h, batches of 32, x86-64 -O2 | {rows[0][1]:.0f} | {rows[1][1]:.0f} |")


if __name__ == "__main__":
    main()
