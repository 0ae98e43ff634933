#!/usr/bin/env python3
"""virtio-gpu on real QEMU devices, checked in QMP screendumps.

The guest (tests/qemu/guest/gpu_test.c) draws patterns from seeds the host
picks; after each step the host dumps the screen of every head and
compares pixels at hundreds of positions:
  - each of two scanouts (max_outputs=2) shows its own framebuffer;
  - framebuffers in all eight pixel formats (four per run, the guest
    writes them with virtio_gpu_rgb) show the same colours;
  - a partial flush changes exactly the damaged rectangle;
  - the cursor image reaches the host (its resource is shown on a
    scanout) and the cursor commands arrive with the right positions
    (QEMU trace events on stderr);
  - framebuffers of other sizes end up on screen at that size;
  - the preferred size comes from xres/yres, through display info and,
    when on, EDID; with edid=off the EDID query is refused.
"""
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu import Machine, check, device_args, extra_matrix, main, matrix, test, variants  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def guest(arch, name):
    return os.path.join(ROOT, "build", arch, name + ".elf")


def color(seed, x, y):
    """gpu_test.c's color(): (r, g, b)."""
    r = (x * 7 + y * 3 + seed) & 255
    g = ((x * 5) ^ (y * 11) ^ (seed >> 8)) & 255
    b = (x + y * 13 + (seed >> 16)) & 255
    return (r, g, b)


def samples(rnd, w, h, n=300, rect=None):
    """n random points plus the corners (of rect if given)."""
    x0, y0, rw, rh = rect or (0, 0, w, h)
    pts = {(x0, y0), (x0 + rw - 1, y0), (x0, y0 + rh - 1), (x0 + rw - 1, y0 + rh - 1)}
    while len(pts) < n:
        pts.add((rnd.randrange(x0, x0 + rw), rnd.randrange(y0, y0 + rh)))
    return sorted(pts)


def check_screen(img, w, h, want, pts, what):
    check((img.width, img.height) == (w, h), f"{what}: screen is {img.width}x{img.height}, want {w}x{h}")
    bad = [(x, y, img.pixel(x, y), want(x, y)) for x, y in pts if img.pixel(x, y) != want(x, y)]
    check(not bad, f"{what}: {len(bad)} of {len(pts)} pixels differ, first {bad[:3]}")


FORMATS = [2, 134, 4, 121, 1, 67, 3, 68]   # gpu_test.c's formats[], in order


def resize(m, rnd, w, h, fmt=None):
    """A new w x h framebuffer on scanout 0 (in format fmt if given), a
    fresh pattern in it, checked on screen."""
    seed = rnd.randrange(1 << 24)
    m.write(f"resize {w} {h} {seed}\n")
    m.expect(rf"^VT RESIZED {w} {h} format=" + ("" if fmt is None else str(fmt)))
    img = m.screendump(head=0, device="gpu0")
    check_screen(img, w, h, lambda x, y: color(seed, x, y), samples(rnd, w, h), f"resize {w}x{h}")


def gpu_run(cfg, xres, yres, edid, first_format):
    """The whole conversation on a w x h preferred mode (EDID on or off),
    two scanouts; a configuration's own xres, yres, edid or max_outputs
    properties take the place of these (QEMU keeps the last of a
    repeated property, so they are not given twice)."""
    rnd = random.Random()
    props = dict(p.split("=", 1) for p in cfg.prop_list if "=" in p)
    xres, yres = int(props.get("xres", xres)), int(props.get("yres", yres))
    edid = props.get("edid", "on" if edid else "off") == "on"
    outputs = int(props.get("max_outputs", 2))
    own = {"max_outputs": outputs, "xres": xres, "yres": yres, "edid": "on" if edid else "off"}
    args = device_args(cfg, "virtio-gpu", ",".join(["id=gpu0"] + [f"{k}={v}" for k, v in own.items() if k not in props]))
    args += ["-trace", "virtio_gpu_update_cursor"]
    with Machine(cfg, guest(cfg.arch, "gpu_test"), args, timeout=300) as m:
        m.start()
        info = dict(w.split("=", 1) for w in m.expect(r"^VT GPU (.*)").group(1).split())
        check(info["transport"] == cfg.transport and info["packed"] == ("1" if cfg.packed else "0"), f"gpu: {info}")
        check(info["scanouts"] == str(outputs), f"scanouts {info['scanouts']}, want {outputs}")
        check(info["edid"] == ("1" if edid else "0"), f"edid negotiated {info['edid']}")
        out0 = m.expect(r"^VT OUTPUT 0 (.*)").group(1)
        check(f"w={xres} h={yres}" in out0 and "enabled=1" in out0, f"output 0: {out0}")
        if edid:
            e = m.expect(r"^VT EDID (.*)").group(1)
            # (QEMU 7.2's EDID gives the preferred mode 75 Hz unless told otherwise.)
            check(f"w={xres} h={yres} hz=75" in e, f"EDID preferred mode: {e}")
        m.expect(r"^VT READY")

        # Both scanouts, each its own picture.
        seed = rnd.randrange(1 << 24)
        m.write(f"draw {seed} {first_format}\n")
        sizes = {}
        for i in range(outputs):
            g = m.expect(rf"^VT DRAWN {i} (\d+) (\d+) format=(\d+)")
            sizes[i] = (int(g.group(1)), int(g.group(2)))
            check(int(g.group(3)) == FORMATS[(first_format + i) % len(FORMATS)], f"scanout {i} format {g.group(3)}")
        check(sizes[0] == (xres, yres), f"scanout 0 framebuffer {sizes[0]}")
        for i in sorted({0, 1, outputs - 1}):   # the first two and the last
            w, h = sizes[i]
            img = m.screendump(head=i, device="gpu0")
            check_screen(img, w, h, lambda x, y, s=seed + i: color(s, x, y), samples(rnd, w, h), f"head {i}")

        # A partial flush: only the rectangle changes.
        w, h = sizes[0]
        rect = (rnd.randrange(0, w // 2), rnd.randrange(0, h // 2), rnd.randrange(16, w // 2), rnd.randrange(16, h // 2))
        seed2 = rnd.randrange(1 << 24)
        m.write(f"partial {seed2} {rect[0]} {rect[1]} {rect[2]} {rect[3]}\n")
        m.expect(r"^VT PARTIAL")
        img = m.screendump(head=0, device="gpu0")
        x0, y0, rw, rh = rect

        def want(x, y):
            inside = x0 <= x < x0 + rw and y0 <= y < y0 + rh
            return color(seed2 if inside else seed, x, y)
        check_screen(img, w, h, want, samples(rnd, w, h, 400) + samples(rnd, w, h, 100, rect), "partial flush")

        # Cursor: image (shown through its resource) and commands (trace).
        seed3 = rnd.randrange(1 << 24)
        cx, cy = rnd.randrange(0, w - 100), rnd.randrange(0, h - 100)
        m.write(f"cursor {seed3} {cx} {cy}\n")
        last = int(m.expect(r"^VT CURSOR (\d+)").group(1))
        img = m.screendump(head=last, device="gpu0")
        check_screen(img, 64, 64, lambda x, y: color(seed3, x, y), samples(rnd, 64, 64, 200), "cursor image")
        # QEMU handles the cursor queue asynchronously: give its trace a moment.
        end = time.time() + 10
        while True:
            updates = re.findall(r"virtio_gpu_update_cursor scanout 0, x (\d+), y (\d+), (\w+), res 0x([0-9a-f]+)",
                                 str(m.stderr))
            if any(u[2] == "move" for u in updates) or time.time() > end:
                break
            time.sleep(0.1)
        check(any(u[:3] == (str(cx), str(cy), "update") for u in updates), f"no cursor update at {cx},{cy}: {updates}")
        check(any(u[:3] == (str(cx + 10), str(cy + 20), "move") for u in updates),
              f"no cursor move to {cx + 10},{cy + 20}: {updates}")

        # Other sizes on scanout 0.
        for k, (nw, nh) in enumerate(((rnd.randrange(200, 400) * 2, rnd.randrange(150, 300) * 2), (320, 200))):
            resize(m, rnd, nw, nh, FORMATS[(first_format + outputs + k) % len(FORMATS)])
        m.write("quit\n")
        m.run_to_end()


def test_gpu(cfg):
    gpu_run(cfg, 640, 480, True, 0)


def test_gpu_sizes(cfg):
    """Another preferred size, with EDID off, the other four formats."""
    gpu_run(cfg, 800, 600, False, 4)


def gpu_hostmem(cfg):
    """QEMU with 1 MiB for resources (max_hostmem): a framebuffer that does
    not fit is refused with VIRTIO_ERR_NO_MEMORY and the device's
    OUT_OF_MEMORY in last_status, leaves nothing behind, and the screen
    keeps its picture; smaller ones still come and go."""
    rnd = random.Random()
    args = device_args(cfg, "virtio-gpu", "id=gpu0,max_outputs=1,xres=320,yres=240,max_hostmem=1048576")
    with Machine(cfg, guest(cfg.arch, "gpu_test"), args, timeout=300) as m:
        m.start()
        m.expect(r"^VT READY")
        seed = rnd.randrange(1 << 24)
        m.write(f"draw {seed} 0\n")
        m.expect(r"^VT DRAWN 0 320 240 format=")
        for w, h in ((1024, 768), (640, 480)):   # 3 MiB, 1.2 MiB
            m.write(f"nomem {w} {h}\n")
            g = m.expect(r"^VT NOMEM result=(-?\d+) status=0x([0-9a-f]+) id=(\d+)")
            check(g.groups() == ("-8", "1201", "0"), f"{w}x{h} with 1 MiB of host memory: result {g.group(1)} "
                  f"(want -8, VIRTIO_ERR_NO_MEMORY), last_status 0x{g.group(2)} (want 0x1201), resource {g.group(3)}")
            img = m.screendump(head=0, device="gpu0")
            check_screen(img, 320, 240, lambda x, y: color(seed, x, y), samples(rnd, 320, 240), f"after {w}x{h}")
        for _ in range(3):   # 480 KiB each, one at a time: what failed did not use up the host's memory
            resize(m, rnd, 400, 300)
        m.write("quit\n")
        m.run_to_end()


# Device properties the plain matrix never sets: no indirect descriptors,
# no event index, QEMU's most scanouts, other preferred modes (gpu_run
# honours a configuration's xres, yres, edid and max_outputs), among them
# large screens, whose preferred mode QEMU's EDID puts in a DisplayID
# extension (from 4096 pixels or a 655.36 MHz pixel clock up).
VARIANTS = [
    "x86_64-pci-modern-split+indirect_desc=off",
    "riscv64-mmio-modern-packed+event_idx=off",
    "aarch64-pci-modern-split+max_outputs=16",
    "riscv64-pci-modern-split+xres=1024+yres=768",
    "x86_64-pci-modern-split+xres=3840+yres=2160",
    "riscv64-mmio-modern-packed+xres=4096+yres=2160",
    "aarch64be-pci-modern-split+xres=3200+yres=2000",
    # virtio-vga: a VGA-class function, its VirtIO registers in other BARs
    # than virtio-gpu-pci's (x86_64, i686 packed, riscv64)
    "x86_64-pci-modern-split+vga",
    "i686-pci-modern-packed+vga",
    "riscv64-pci-modern-split+vga",
    # x86 virtio-mmio: QEMU's microvm machine
    "x86_64-mmio-modern-split",
    "i686-mmio-legacy-split",
]

if __name__ == "__main__":
    configs = matrix("virtio-gpu") + extra_matrix("virtio-gpu") + variants(VARIANTS)
    test(configs=configs)(test_gpu)
    test(configs=configs)(test_gpu_sizes)
    test(configs=variants(["x86_64-pci-modern-split", "riscv64-mmio-modern-packed"]), name="test_gpu_hostmem")(gpu_hostmem)
    main()
