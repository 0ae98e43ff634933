#!/usr/bin/env python3
"""Instructions per request in the drivers (valgrind callgrind).

Builds bench/instructions.c at -O2 against the device model and counts,
with callgrind, only what executes inside virtio_blk_submit, virtio_blk_kick
and virtio_blk_poll, or inside virtio_blk_submit_batch and
virtio_blk_poll_batch (the device's own work happens in model_run,
outside).
Then bench/instructions_net.c: instructions per 64-byte frame inside
virtio_net_send + virtio_net_reclaim (transmit), virtio_net_receive
(receive, refill included) and virtio_net_borrow + virtio_net_give_back
(zero-copy receive), the device model's work kept outside those calls
(the inclusive cost of the model's register hook, reached by each
notification, is subtracted for both drivers).
The count is repeatable: it does not depend on how busy the machine is.
Prints one Markdown table per driver, one column per ring format.
"""
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build(tmp, name, model_srcs):
    """Build bench/<name>.c with the library in its own translation unit."""
    exe = os.path.join(tmp, name)
    inc = ["-I" + ROOT, "-I" + os.path.join(ROOT, "tests", "model")]
    src = os.path.join(ROOT, "bench", name + ".c")
    lib = os.path.join(tmp, name + "-lib.o")
    subprocess.run(["cc", "-std=c99", "-O2", "-g", "-DINSTRUCTIONS_LIBRARY_TU", "-c", src, "-o", lib] + inc, check=True)
    srcs = [os.path.join(ROOT, "tests", "model", s) for s in ["model.c"] + model_srcs]
    subprocess.run(["cc", "-std=c99", "-O2", "-g", src, lib] + srcs + ["-o", exe] + inc, check=True)
    return exe


def callgrind(tmp, exe, tag, functions, args, exclude=()):
    """Instructions executed inside `functions` (and their callees), less
    what the callees named in `exclude` cost inclusively."""
    out = os.path.join(tmp, "cg." + tag)
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--collect-atstart=no"] +
                   ["--toggle-collect=" + f for f in functions] + [exe] + [str(a) for a in args],
                   check=True, capture_output=True)
    total = None
    for line in open(out):
        if line.startswith("summary:") or line.startswith("totals:"):
            total = int(line.split()[1])
    if exclude:
        # Collection is on only inside `functions`, so every cost recorded
        # for an excluded function was spent inside them.
        ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", out],
                             check=True, capture_output=True, text=True).stdout
        for line in ann.splitlines():
            m = re.match(r"\s*([\d,]+)\s.*:(\w+) \[", line)
            if m and m.group(2) in exclude:
                total -= int(m.group(1).replace(",", ""))
    return total


def main():
    tmp = tempfile.mkdtemp(prefix="vt-instr-")
    exe = build(tmp, "instructions", ["model_blk.c"])
    calls = [("single", "submit + kick + poll", ["virtio_blk_submit", "virtio_blk_kick", "virtio_blk_poll"]),
             ("batch", "submit_batch + poll_batch", ["virtio_blk_submit_batch", "virtio_blk_poll_batch"])]
    # The device model's register hook, reached by the notification, is the
    # device's work: its inclusive cost is taken off (as for the network
    # driver below). What stays is the driver's side of each notification.
    model_hooks = ["hook_reg_write", "hook_reg_read"]
    print("| instructions per 4 KiB read (virtio_blk.h, device model excluded) | split ring | packed ring |")
    print("|---|---|---|")
    for mode, label, functions in calls:
        cells = []
        for ring in ("split", "packed"):
            batches = 200
            total = callgrind(tmp, exe, f"{mode}-{ring}", functions, [batches, ring, mode], model_hooks)
            cells.append(total / (batches * 32))
        print(f"| {label}, batches of 32, x86-64 -O2 | {cells[0]:.0f} | {cells[1]:.0f} |")

    exe = build(tmp, "instructions_net", ["model_net.c"])
    kinds = [
        ("tx", "transmit: send + reclaim", ["virtio_net_send", "virtio_net_reclaim"]),
        ("rx", "receive (copy): receive incl. refill", ["virtio_net_receive"]),
        ("rxzc", "receive (zero copy): borrow + give_back incl. refill", ["virtio_net_borrow", "virtio_net_give_back"]),
    ]
    print()
    print("| instructions per 64-byte frame (virtio_net.h, device model excluded) | split ring | packed ring |")
    print("|---|---|---|")
    for kind, label, functions in kinds:
        cells = []
        for ring in ("split", "packed"):
            batches = 200
            total = callgrind(tmp, exe, f"net-{kind}-{ring}", functions, [batches, ring, kind], model_hooks)
            cells.append(total / (batches * 32))
        print(f"| {label}, batches of 32, x86-64 -O2 | {cells[0]:.0f} | {cells[1]:.0f} |")


if __name__ == "__main__":
    main()
