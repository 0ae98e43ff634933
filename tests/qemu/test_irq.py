#!/usr/bin/env python3
"""Interrupt-driven I/O on real QEMU devices: completions arrive by
interrupt, the guest sleeps in between, and the data is right.

Each case boots examples/irq_kernel.c (a guest written like a small
kernel: submit, sleep in wfi / hlt, the handler drains and re-arms) with
a virtio-blk disk and a virtio-net NIC on one transport, and the guest's
interrupt wiring forced or left to the machine:

  msix     PCI where the machine has MSI (arm GICv2m, x86 local APIC):
           MSI-X, one vector for configuration changes and one per queue
  intx     PCI with INTx (riscv has no MSI; elsewhere the guest is told
           to use INTx): the line through the device tree's interrupt-map,
           or the interrupt line SeaBIOS wrote (x86)
  (+root-port: each device behind a PCIe root port of its own: INTx
           swizzled through the bridge to the host bridge's map, MSI-X
           through the bridge's windows; +switch: a PCIe switch below
           the root port, three bridges deep; +pci-bridge: slot 3 of a
           conventional bus behind a pcie-pci-bridge, so the swizzle
           turns the pin by 3; +multifunction: each device function 5
           of a slot whose function 0 is a pci-testdev)
  mmio     virtio-mmio, the interrupt from the device tree (x86
           microvm: GSI 24 + slot, on its second I/O APIC)
  masked   MSI-X on functions whose Function Mask was left set (the
           guest plays the earlier owner): enabling MSI-X unmasks them
  shared   INTx with both devices on one line: each handler asks its
           own device (the ISR) and leaves the other's interrupts alone
  pc       x86's "pc" machine (i440FX): INTx through PIIX3's routing, MSI-X
  refused  MSI-X that cannot be had: the disk has no MSI-X at all
           (vectors=0) and the NIC fewer vectors than queues (vectors=2):
           both fall back to INTx and still work

What is checked, from outside the guest:
  * the blocks the guest wrote are in the image, byte for byte; the
    blocks it read matched what the host put there (the guest checks the
    pattern; a mismatch is counted);
  * every frame the guest originated arrives at the 127.0.0.1 peer byte
    for byte, and every frame the host sends comes back unchanged;
  * a configuration interrupt: QMP set_link down and up, and the guest,
    asleep, sees both changes;
  * the guest's counts prove interrupts did the work: interrupts on each
    device's line or each MSI-X vector (the transmit and receive queues
    and the configuration vector each took some), how it was wired (the
    mode the host expects), every sleep ended by an interrupt (no
    timeouts), few wake-ups that found nothing new and few drain passes
    that found nothing (busy polling would drive those up).
"""
import os
import random
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu import (Config, Failure, Machine, MachineError, StreamPeer, check, check_pattern, device_args, drive_args, find, guest, kv,  # noqa: E402
                  machine_args, main, make_image, mac_str, pattern, test, write_pattern)

KiB, MiB = 1024, 1024 * 1024
WRITE_AT, READ_AT = 1 * MiB, 8 * MiB     # the guest's regions (irq_kernel.c)
REGION_KIB = 1024
FRAMES, ECHOES = 48, 32
PEER = bytes([0x02, 0, 0, 0, 0, 1])
ETH_GUEST, ETH_ECHO = b"\x88\xb5", b"\x88\xb6"
MSI_ARCHES = ("aarch64", "aarch64be", "armv7", "armv7be", "x86_64", "i686")


def run(cfg, mode="msix", blk_props="", net_props="", expect=None, command=None, qemu_args=()):
    """Boot the guest on cfg (or the QEMU `command`, with `qemu_args`
    added); `mode` is what the guest is asked for, `expect` the wiring each
    device must end up with (default: what cfg and mode give)."""
    rnd = random.Random()
    wseed, rseed, nseed = (rnd.randrange(1, 1 << 60) for _ in range(3))
    mac = bytes([0x52, 0x54, 0x00, 0x12, rnd.randrange(256), rnd.randrange(256)])
    if expect is None:
        want = "mmio" if cfg.mmio else "msix" if mode.startswith("msix") and cfg.arch in MSI_ARCHES else "intx"
        expect = {"blk": want, "net": want}
    region = REGION_KIB * KiB
    with Machine(cfg, guest(cfg.arch, "irq_kernel"), timeout=150, command=command) as m, StreamPeer() as peer:
        img = make_image(os.path.join(m.tmp, "disk.img"), 16 * MiB)
        write_pattern(img, READ_AT, region, rseed)
        m.args = list(qemu_args) + drive_args(img) + device_args(cfg, "virtio-blk", "drive=d0" + blk_props)
        m.args += ["-netdev", peer.netdev("n0")]
        m.args += device_args(cfg, "virtio-net", f"netdev=n0,id=nic0,mac={mac_str(mac)}" + net_props)
        m.start()
        peer.accept()
        m.expect(r"^VT READY ")
        m.write(f"go {wseed:x} {rseed:x} {nseed:x} {REGION_KIB} {FRAMES} {ECHOES} {mode}\n")
        m.expect(r"^VT GO")

        # The guest's own frames come while it moves its blocks.
        seen = set()
        while len(seen) < FRAMES:
            f = peer.recv(timeout=30)
            check(f[12:14] == ETH_GUEST and len(f) >= 18, f"unexpected frame from the guest: {f[:20].hex()}")
            i = struct.unpack(">I", f[14:18])[0]
            size = 60 + (i * 97) % (1514 - 60 + 1)
            want = PEER + mac + ETH_GUEST + struct.pack(">I", i) + pattern(nseed, i << 12, size - 18)
            check(f == want, f"guest frame {i}: {len(f)} bytes, want {size}, or its bytes differ")
            check(i not in seen, f"guest frame {i} twice")
            seen.add(i)
        m.expect(r"^VT BLKDONE", timeout=60)
        # Then frames to echo, each sent once the guest said it goes to
        # sleep: each must wake it.
        for i in range(ECHOES):
            f = mac + PEER + ETH_ECHO + struct.pack(">I", i) + rnd.randbytes(rnd.randrange(42, 1497))
            m.expect(rf"^VT IDLE {i}$", timeout=30)
            peer.send(f)
            back = peer.recv(timeout=30)
            check(back == f, f"echo {i}: {len(back)} bytes back, not the {len(f)} sent, or they differ")
        m.expect(r"^VT LINKWAIT", timeout=60)
        try:
            m.qmp("set_link", name="nic0", up=False)
            time.sleep(0.3)
            try:
                m.qmp("set_link", name="nic0", up=True)
            except MachineError as e:
                # The link came up, the guest saw both changes and powered
                # off before QEMU's reply left: its LINK line (checked
                # below) and exit status say whether that is what happened.
                if "QMP closed" not in str(e):
                    raise
        except Failure as e:
            raise Failure(f"{e}\n{m.describe(60)}")
        res = m.run_to_end(timeout=60)
        if os.environ.get("VT_SHOW"):
            print(m.transcript.text)
    check_pattern(img, WRITE_AT, region, wseed, "blocks the guest wrote")
    check_counts(cfg, res, expect)
    return res


def check_counts(cfg, res, expect):
    modes = {kv(r)["dev"]: kv(r)["mode"] for r in find(res, "MODE")}
    check(modes == expect, f"wiring {modes}, expected {expect}")
    irqs = {}
    for r in find(res, "IRQ"):
        d = kv(r)
        irqs[d["dev"]] = {k: int(v) for k, v in d.items() if k not in ("dev", "mode")}   # the last report wins
    c = {k: int(v) for k, v in kv(find(res, "COUNTS")[0]).items()}
    link = kv(find(res, "LINK")[0])
    what = f"counts {c}, interrupts {irqs}"
    check(c["blk_bad"] == 0 and c["mismatch"] == 0 and c["flush"] == 0, f"block errors: {what}")
    check(c["echoed"] == ECHOES and c["sent"] == FRAMES and c["net_bad"] == 0, f"network: {what}")
    check(link["changes"] == "2" and link["up"] == "1", f"link changes not seen: {link}")
    for dev, mode in expect.items():
        n = irqs[dev]
        # Each echo frame woke the sleeping guest: at least that many
        # receive interrupts.
        least = ECHOES if dev == "net" else 1
        if mode == "msix":
            check(n["q0"] >= least, f"{dev}: too few interrupts on its first queue's vector: {what}")
            if dev == "net":
                check(n["q1"] > 0, f"net: no transmit interrupt: {what}")
                check(n["config"] >= 2, f"net: link changes did not come on the configuration vector: {what}")
        else:
            check(n["own"] >= least, f"{dev}: too few interrupts on its line: {what}")
    # The guest slept once per echo frame at least, and every sleep ended
    # by an interrupt, in time.
    check(c["sleeps"] >= ECHOES and c["timeouts"] == 0 and c["wakes"] == c["sleeps"], f"sleeps: {what}")
    # No busy polling: few wake-ups without news, few handler drains that
    # found nothing (an interrupt for completions an earlier drain took).
    check(c["idle_wakes"] <= max(3, c["wakes"] // 10), f"wake-ups that found nothing: {what}")
    check(c["empty_drains"] <= max(3, c["drains"] // 10), f"drains that found nothing: {what}")
    return c, irqs


def label(cfg, res):
    c = kv(find(res, "COUNTS")[0])
    irq = " ".join(r for r in find(res, "IRQ"))
    link = kv(find(res, "LINK")[0])
    return f"{cfg.name}: {irq}; link_sleeps={link['sleeps']} sleeps={c['sleeps']} wakes={c['wakes']} idle={c['idle_wakes']} " \
           f"drains={c['drains']} empty={c['empty_drains']} blk={c['blk_done']} rx={c['rx']} ms={c['ms']}"


def narrowed(cfgs):
    """cfgs narrowed by VT_ARCHES and VT_TRANSPORTS (comma-separated), as
    matrix() narrows the other suites."""
    for var, attr in (("VT_ARCHES", "arch"), ("VT_TRANSPORTS", "transport")):
        if os.environ.get(var):
            cfgs = [c for c in cfgs if getattr(c, attr) in os.environ[var].split(",")]
    return cfgs


MSIX = [Config("aarch64", "pci-modern"), Config("aarch64", "pci-modern", True), Config("x86_64", "pci-modern"),
        Config("x86_64", "pci-legacy"), Config("x86_64", "pci-modern", True), Config("aarch64be", "pci-legacy"),
        Config("armv7", "pci-modern"), Config("i686", "pci-legacy"), Config("x86_64", "pci-modern", False, "event_idx=off"),
        Config("aarch64", "pci-modern", False, "root-port"), Config("x86_64", "pci-modern", True, "root-port"),
        Config("armv7be", "pci-legacy"), Config("aarch64", "pci-modern", True, "switch"),
        Config("x86_64", "pci-modern", True, "multifunction")]
INTX = [Config("riscv64", "pci-modern"), Config("riscv64", "pci-modern", True), Config("aarch64", "pci-modern"),
        Config("x86_64", "pci-modern"), Config("x86_64", "pci-legacy"), Config("riscv32", "pci-modern"),
        Config("i686", "pci-modern"), Config("riscv64", "pci-modern", False, "root-port"),
        Config("aarch64", "pci-legacy", False, "root-port"), Config("x86_64", "pci-modern", False, "root-port"),
        Config("riscv64", "pci-modern", True, "switch"), Config("aarch64", "pci-modern", False, "pci-bridge"),
        Config("x86_64", "pci-legacy", False, "pci-bridge"), Config("riscv64", "pci-modern", False, "pci-bridge"),
        Config("riscv64", "pci-modern", False, "multifunction"), Config("x86_64", "pci-legacy", False, "multifunction")]
MMIO = [Config("riscv64", "mmio-legacy"), Config("riscv64", "mmio-modern", True), Config("aarch64", "mmio-modern"),
        Config("aarch64", "mmio-legacy"), Config("riscv32", "mmio-modern"), Config("aarch64be", "mmio-modern"),
        Config("armv7", "mmio-legacy"), Config("armv7be", "mmio-modern", True),
        Config("x86_64", "mmio-modern", True), Config("i686", "mmio-legacy")]   # x86: microvm, second I/O APIC
REFUSED = [Config("x86_64", "pci-modern"), Config("aarch64", "pci-modern"), Config("x86_64", "pci-legacy")]

# One INTx line for both devices: the NIC in the slot whose INTA takes the
# disk's line (x86 q35 with SeaBIOS: slots 1 and 4 on IRQ 10; virt's
# interrupt-map: slots 1 and 5).
SHARED = {Config("x86_64", "pci-legacy"): "0x4", Config("riscv64", "pci-modern"): "0x5",
          Config("aarch64", "pci-modern"): "0x5"}

VERBOSE = os.environ.get("VT_VERBOSE")


@test(configs=narrowed(MSIX))
def irq_msix(cfg):
    res = run(cfg, "msix")
    if VERBOSE:
        print(label(cfg, res))


@test(configs=narrowed([Config("x86_64", "pci-modern"), Config("aarch64", "pci-legacy")]))
def irq_msix_masked(cfg):
    """MSI-X on functions whose Function Mask an earlier owner left set
    (the guest sets it before programming MSI-X): enabling must unmask."""
    res = run(cfg, "msixmasked")
    if VERBOSE:
        print(label(cfg, res))


@test(configs=narrowed(INTX))
def irq_intx(cfg):
    res = run(cfg, "intx")
    if VERBOSE:
        print(label(cfg, res))


@test(configs=narrowed(MMIO))
def irq_mmio(cfg):
    res = run(cfg, "msix")
    if VERBOSE:
        print(label(cfg, res))


@test(configs=narrowed([Config("x86_64", "pci-modern"), Config("riscv64", "mmio-modern", True)]))
def irq_small_ring(cfg):
    """A 4-entry block ring under 16 requests in flight: the guest sleeps
    with work queued behind a full ring, so the interrupt handler's drain
    must notify what waits (nothing else would)."""
    res = run(cfg, "msix", blk_props=",queue-size=4")
    if VERBOSE:
        print(label(cfg, res))


@test(configs=narrowed([Config("x86_64", "pci-modern"), Config("aarch64", "pci-modern", True),
                        Config("riscv64", "pci-modern")]))
def irq_iothread(cfg):
    """The disk's device model in an iothread of its own (as libvirt runs
    disks): completions, and the interrupts for them, come from a thread
    beside QEMU's main loop while the NIC's come from the main loop."""
    res = run(cfg, "msix", blk_props=",iothread=vtirq", qemu_args=["-object", "iothread,id=vtirq"])
    if VERBOSE:
        print(label(cfg, res))


@test(configs=narrowed([Config("x86_64", "pci-modern"), Config("i686", "pci-legacy")]))
def irq_pc(cfg):
    """QEMU's default x86 machine, "pc" (i440FX, PIIX3's PIRQ routing
    instead of q35's): INTx through the line SeaBIOS wrote, then MSI-X."""
    cmd = machine_args(cfg)
    cmd[cmd.index("-machine") + 1] = cmd[cmd.index("-machine") + 1].replace("q35", "pc")
    for mode in ("intx", "msix"):
        res = run(cfg, mode, command=cmd)
        if VERBOSE:
            print(label(cfg, res))


@test(configs=narrowed(list(SHARED)))
def irq_shared(cfg):
    res = run(cfg, "intx", net_props=f",addr={SHARED[cfg]}")
    lines = {kv(r)["dev"]: kv(r)["source"] for r in find(res, "MODE")}
    check(lines["blk"] == lines["net"], f"the devices do not share a line: {lines}")
    foreign = [kv(r)["foreign"] for r in find(res, "IRQ")]
    check(all(int(f) > 0 for f in foreign), f"a handler never saw the other device's interrupt: {find(res, 'IRQ')}")
    if VERBOSE:
        print(label(cfg, res))


@test(configs=narrowed(REFUSED))
def irq_refused(cfg):
    res = run(cfg, "msix", blk_props=",vectors=0", net_props=",vectors=2", expect={"blk": "intx", "net": "intx"})
    refusals = {kv(r)["dev"] for r in find(res, "REFUSED")}
    check(refusals == {"blk", "net"}, f"the guest did not report both refusals: {find(res, 'REFUSED')}")
    if VERBOSE:
        print(label(cfg, res))


if __name__ == "__main__":
    main()
