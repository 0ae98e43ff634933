#!/usr/bin/env python3
"""The demo: boot examples/demo.c on riscv64 "virt" with a disk and a GPU.

The host puts a message in the disk image's first sector; the guest prints
the disk's identity and size and that message, then draws a screen. We
take the screen with a QMP screendump and save it as build/demo.png.

    make demo
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "qemu"))
from qemu import Config, Machine, device_args  # noqa: E402


def main():
    cfg = Config("riscv64", "mmio-modern")
    build = os.path.join(ROOT, "build")
    disk = os.path.join(build, "demo-disk.img")
    with open(disk, "wb") as f:
        f.write(b"HELLO FROM THE HOST'S DISK IMAGE".ljust(512, b"\0"))
        f.truncate(32 << 20)
    args = ["-drive", f"if=none,id=d0,file={disk},format=raw"]
    args += device_args(cfg, "virtio-blk", "drive=d0,serial=VIRTIO-H-DEMO")
    args += device_args(cfg, "virtio-gpu", "id=gpu0,xres=1024,yres=600")
    with Machine(cfg, os.path.join(build, "riscv64", "demo.elf"), args, timeout=120) as m:
        m.start()
        while True:
            line = m.read_line(60)
            print("guest>", line, flush=True)
            if line.startswith("gpu:") or line.startswith("no gpu"):
                break
        img = m.screendump(device="gpu0")
        out = os.path.join(build, "demo.png")
        img.save_png(out)
        print(f"screen {img.width}x{img.height} saved to {os.path.relpath(out, ROOT)}")
        m.write("q")
        m.wait_exit(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
