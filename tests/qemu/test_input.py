#!/usr/bin/env python3
"""virtio-input on real QEMU devices: keyboard, mouse and tablet together.

Each configuration boots tests/qemu/guest/input_test.c with a
virtio-keyboard, a virtio-mouse and a virtio-tablet (each with a random
serial number) and a VNC server on a Unix socket, whose trace event
vnc_key_guest_leds shows the LED state QEMU took from the keyboard's status
queue. The host injects input through QMP input-send-event and checks that
the guest reports exactly those events, in order:

  info      names, serials, ids, event bits, ABS_INFO, roles as QEMU 7.2
            builds them; the documented error codes (checked in the guest)
  keys      random key presses/releases in reports of 1-5 keys
  mouse     relative motion, buttons and wheel (after re-initialising the
            mouse: QEMU gives button events to the input device activated
            last, whatever `device` input-send-event names: that argument
            picks a display console, not an input device)
  tablet    absolute positions (0..0x7fff, scaled by the guest to a
            1024x768 screen from ABS_INFO) and buttons
  mixed     one QMP command feeding all three devices
  reports   virtio_input_read_report: one report per QMP command, up to
            40 keys; more than 8 gives VIRTIO_ERR_TOO_BIG first
  text      a random line typed key by key (shift, caps lock, ctrl, tab)
            comes back from virtio_input_key_char as the same string; the
            caps lock LED follows caps lock
  leds      random LED masks through the status queue, seen by QEMU
  burst     300 key events (150 reports) while the guest records quietly:
            more than the 64 event buffers, complete and in order
  pause     reports queued while the guest does not poll: those that fit
            the 64 buffers arrive in order; the one that does not is
            dropped by QEMU (trace virtio_input_queue_full), and the queue
            keeps working afterwards

virtio-input devices are modern-only on PCI (matrix drops pci-legacy); on
virtio-mmio QEMU offers them through the legacy register layout too, so
mmio-legacy is run.
"""
import os
import random
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qemu import (Failure, Machine, check, check_transcript, device_args, exit_code, extra_matrix, guest, kv, main,  # noqa: E402
                  matrix, results, variants, workdir)

EV_SYN, EV_KEY, EV_REL, EV_ABS, EV_LED, EV_REP = 0, 1, 2, 3, 0x11, 0x14
BTN = {"left": 0x110, "right": 0x111, "middle": 0x112, "side": 0x113, "extra": 0x114}
REL_WHEEL = 8
ABS_MAX = 0x7FFF
SCREEN = (1024, 768)
QUEUE_BUFFERS = 64      # the driver's default number of event buffers

# QKeyCode -> Linux evdev code (include/uapi/linux/input-event-codes.h).
KEYS = {"esc": 1, "minus": 12, "equal": 13, "backspace": 14, "tab": 15, "bracket_left": 26,
        "bracket_right": 27, "ret": 28, "ctrl": 29, "semicolon": 39, "apostrophe": 40, "grave_accent": 41,
        "shift": 42, "backslash": 43, "comma": 51, "dot": 52, "slash": 53, "shift_r": 54, "alt": 56,
        "spc": 57, "caps_lock": 58, "f11": 87, "f12": 88, "ctrl_r": 97, "alt_r": 100, "home": 102, "up": 103,
        "pgup": 104, "left": 105, "right": 106, "end": 107, "down": 108, "pgdn": 109, "insert": 110,
        "delete": 111, "kp_7": 71, "kp_8": 72, "kp_9": 73, "kp_4": 75, "kp_5": 76, "kp_6": 77, "kp_1": 79,
        "kp_2": 80, "kp_3": 81, "kp_0": 82}
KEYS.update({d: 2 + i for i, d in enumerate("123456789")}, **{"0": 11})
KEYS.update({c: 16 + i for i, c in enumerate("qwertyuiop")})
KEYS.update({c: 30 + i for i, c in enumerate("asdfghjkl")})
KEYS.update({c: 44 + i for i, c in enumerate("zxcvbnm")})
KEYS.update({f"f{i}": 58 + i for i in range(1, 11)})
# Keys the random streams use: no lock keys (the guest follows caps lock
# with the LED) and no Enter (it ends the text line).
STREAM_KEYS = sorted(k for k in KEYS if k not in ("caps_lock", "ret"))

# US layout: character -> (qcode, shift).
US = {" ": ("spc", False), "\t": ("tab", False)}
for c in "abcdefghijklmnopqrstuvwxyz":
    US[c] = (c, False)
for plain, shifted, q in zip("1234567890-=[];'`\\,./", "!@#$%^&*()_+{}:\"~|<>?",
                             list("1234567890") + ["minus", "equal", "bracket_left", "bracket_right",
                                                   "semicolon", "apostrophe", "grave_accent", "backslash",
                                                   "comma", "dot", "slash"]):
    US[plain] = (q, False)
    US[shifted] = (q, True)


def key_ev(qcode, down):
    return {"type": "key", "data": {"key": {"type": "qcode", "data": qcode}, "down": bool(down)}}


def btn_ev(button, down):
    return {"type": "btn", "data": {"button": button, "down": bool(down)}}


def rel_ev(axis, v):
    return {"type": "rel", "data": {"axis": axis, "value": int(v)}}


def abs_ev(axis, v):
    return {"type": "abs", "data": {"axis": axis, "value": int(v)}}


SYN = (EV_SYN, 0, 0)


class Guest:
    """The guest's UART, read line by line: EV lines and the rest apart."""

    def __init__(self, m):
        self.m = m

    def line(self, timeout):
        line = self.m.read_line(timeout)
        if line is None:
            raise Failure(f"{self.m.name}: guest silent or gone\n{self.m.describe(60)}")
        line = line.strip("\r\x00")
        if line.startswith("VT FAIL"):
            raise Failure(f"{self.m.name}: guest: {line}\n{self.m.describe(60)}")
        return line

    def events(self, n, timeout=20, what="events"):
        """The next n EV lines as (dev, type, code, value), and the other
        VT lines seen meanwhile."""
        evs, other = [], []
        end = time.monotonic() + timeout
        while len(evs) < n:
            left = end - time.monotonic()
            if left <= 0:
                raise Failure(f"{self.m.name}: {what}: got {len(evs)} of {n} events\n{self.m.describe(60)}")
            line = self.line(left)
            w = line.split()
            if w[:2] == ["VT", "EV"]:
                evs.append((w[2], int(w[3]), int(w[4]), int(w[5])))
            elif line.startswith("VT "):
                other.append(line[3:])
        return evs, other

    def until(self, pattern, timeout=20):
        """Read up to a line matching pattern; fail on any EV line before it."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        self.skipped = []
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise Failure(f"{self.m.name}: no /{pattern}/\n{self.m.describe(60)}")
            line = self.line(left)
            if rx.search(line):
                return line
            self.skipped.append(line)
            if line.startswith("VT EV"):
                raise Failure(f"{self.m.name}: unexpected event {line!r} while waiting for /{pattern}/\n"
                              f"{self.m.describe(60)}")

    def cmd(self, c, answer, timeout=20):
        self.m.write(c)
        return self.until(answer, timeout)


def expect_events(got, want, what):
    if got != want:
        for i, (g, w) in enumerate(zip(got, want)):
            if g != w:
                break
        else:
            i = min(len(got), len(want))
        raise Failure(f"{what}: events differ at #{i} of {len(want)}: got {got[i:i + 4]} want {want[i:i + 4]}"
                      f" (got {len(got)} events)")


def led_traces(m):
    """(caps, num, scroll) of every vnc_key_guest_leds trace line so far."""
    return [tuple(int(v) != 0 for v in t)
            for t in re.findall(r"vnc_key_guest_leds caps (\d+), num (\d+), scroll (\d+)", m.stderr)]


def check_leds(m, seen_before, masks, updates=8):
    """The guest set each mask of `masks` `updates` times. Each update is
    three status events (num, caps, scroll), each a call into QEMU's LED
    state: wait for all of them, then compare the state after each update."""
    want = seen_before + 3 * updates * len(masks)
    end = time.monotonic() + 10
    while len(led_traces(m)) < want and time.monotonic() < end:
        time.sleep(0.02)
    t = led_traces(m)
    check(len(t) == want, f"LEDs {masks}: QEMU saw {len(t) - seen_before} LED events, want {want - seen_before}")
    for n, mask in enumerate(masks):
        state = (bool(mask & 2), bool(mask & 1), bool(mask & 4))   # caps, num, scroll
        for u in range(updates):
            k = seen_before + 3 * (n * updates + u) + 2
            check(t[k] == state, f"LEDs {masks}: caps/num/scroll {t[k]} after update {u} of {mask}, want {state}")
    return want


def check_info(cfg, res, serials):
    devs = {}
    for k, rest in res:
        if k == "DEV":
            name, f = rest.split()[0], kv(rest)
            check(name not in devs, f"two devices called {name}")
            devs[name] = f
    check(sorted(devs) == ["kbd", "mouse", "tablet"], f"devices and roles: {sorted(devs)}")
    names = {r.split(" ", 1)[0]: r.split(" ", 1)[1] if " " in r else "" for k, r in res if k == "NAME"}
    ser = {r.split(" ", 1)[0]: r.split(" ", 1)[1] if " " in r else "" for k, r in res if k == "SERIAL"}
    bits = {}
    for k, rest in res:
        if k == "BITS":
            d, t, hx = rest.split()
            bits[(d, int(t))] = int.from_bytes(bytes.fromhex(hx), "little")
    absinfo = {}
    for k, rest in res:
        if k == "ABS":
            w = rest.split()
            absinfo[(w[0], int(w[1]))] = tuple(int(v) for v in w[2:])
    product = {"kbd": 1, "mouse": 2, "tablet": 3}
    for d, f in devs.items():
        check(f["transport"] == cfg.transport, f"{d}: transport {f['transport']}")
        check(f["packed"] == ("1" if cfg.packed else "0"), f"{d}: packed={f['packed']}")
        check(names.get(d) == f"QEMU Virtio {dict(kbd='Keyboard', mouse='Mouse', tablet='Tablet')[d]}",
              f"{d}: name {names.get(d)!r}")
        check(ser.get(d) == serials[d], f"{d}: serial {ser.get(d)!r}, QEMU has {serials[d]!r}")
        check((int(f["bus"], 16), int(f["vendor"], 16), int(f["product"], 16)) == (6, 0x0627, product[d]),
              f"{d}: ids bus={f['bus']} vendor={f['vendor']} product={f['product']}")
        check(int(f["version"], 16) >= 1, f"{d}: version {f['version']}")
        check(int(f["props"], 16) == 0, f"{d}: properties {f['props']}")
        ev = int(f["ev"], 16)
        check(ev == sum(1 << t for (dd, t) in bits if dd == d), f"{d}: ev={f['ev']} but BITS for other types")
        # The role rule, from the bits the guest read: ABS_X, else REL, else KEY.
        role = 3 if bits.get((d, EV_ABS), 0) & 1 else 2 if ev & (1 << EV_REL) else 1 if ev & (1 << EV_KEY) else 0
        check(int(f["role"]) == role == product[d], f"{d}: role {f['role']} (bits say {role})")
        qsize = int(f["qsize"])
        check(int(f["free"]) == qsize - min(QUEUE_BUFFERS, qsize), f"{d}: {f['free']} descriptors not posted")
    # What each device must report for the events injected below.
    kb = bits.get(("kbd", EV_KEY), 0)
    missing = [k for k in KEYS if not (kb >> KEYS[k]) & 1]
    check(not missing, f"keyboard lacks keys {missing}")
    check(bits.get(("kbd", EV_LED)) == 0b111, f"keyboard LED bits {bits.get(('kbd', EV_LED))}")
    check(devs["kbd"]["ev"] == f"{(1 << EV_KEY) | (1 << EV_LED) | (1 << EV_REP):x}", f"keyboard ev {devs['kbd']['ev']}")
    for d in ("mouse", "tablet"):
        b = bits.get((d, EV_KEY), 0)
        check(all((b >> c) & 1 for c in BTN.values()), f"{d}: buttons {b:x}")
        check(not (int(devs[d]["ev"], 16) & (1 << EV_LED)), f"{d} claims LEDs")
    check(bits.get(("mouse", EV_REL), 0) & 0x103 == 0x103, "mouse lacks REL_X/REL_Y/REL_WHEEL")
    check(not (int(devs["mouse"]["ev"], 16) & (1 << EV_ABS)), "mouse claims EV_ABS")
    check(bits.get(("tablet", EV_ABS), 0) & 3 == 3, "tablet lacks ABS_X/ABS_Y")
    for axis in (0, 1):
        check(absinfo.get(("tablet", axis), (None,))[:2] == (0, ABS_MAX),
              f"tablet axis {axis}: {absinfo.get(('tablet', axis))}")
    check(set(absinfo) == {("tablet", a) for a in range(64) if (bits.get(("tablet", EV_ABS), 0) >> a) & 1},
          f"ABS_INFO reported for {sorted(absinfo)}")
    check(("ERRORS", "checked") in res, "error checks did not run")
    return absinfo


def scaled(info, v, rng):
    lo, hi = info[0], info[1]
    v = min(max(v, lo), hi)
    return ((v - lo) * (rng - 1) + (hi - lo) // 2) // (hi - lo)


def test_input(cfg):
    # A VNC server (on a Unix socket nobody connects to) registers a
    # keyboard LED listener whose trace event shows what QEMU took from the
    # status queue; the event queue's trace shows reports QEMU dropped.
    vnc, short = os.path.join(workdir(), "vnc.sock"), None
    if len(vnc) > 100:   # AF_UNIX path limit
        short = tempfile.mkdtemp(prefix="vtv")
        vnc = os.path.join(short, "vnc.sock")
    try:
        input_run(cfg, vnc)
    finally:
        if short:
            shutil.rmtree(short, ignore_errors=True)


def input_run(cfg, vnc):
    rnd = random.Random()
    serials = {d: f"{d[:2].upper()}{rnd.randrange(1 << 32):08x}" for d in ("kbd", "mouse", "tablet")}
    given = [p.split("=", 1)[1] for p in cfg.prop_list if p.startswith("serial=")]
    if given:   # a variant's serial, on every device, as QEMU stores it
        serials = dict.fromkeys(serials, given[0][:127])
    args = []
    for d, kind in (("kbd", "virtio-keyboard"), ("mouse", "virtio-mouse"), ("tablet", "virtio-tablet")):
        args += device_args(cfg, kind, "" if given else f"serial={serials[d]}", id=d)
    args += ["-vnc", f"unix:{vnc}", "-trace", "vnc_key_guest_leds", "-trace", "virtio_input_queue_full"]
    with Machine(cfg, guest(cfg.arch, "input_test"), args, timeout=150) as m:
        g = Guest(m)
        g.until(r"^VT READY", timeout=60)
        absinfo = check_info(cfg, results(m.transcript), serials)
        leds_seen = len(led_traces(m))

        def send(events):
            m.send_events(events)

        # QEMU drops a report when no buffer waits for it (see "burst"), and
        # a guest under TCG on a busy host can fall behind a free-running
        # QMP sender; so each report is read back before the next is sent
        # (events are still checked in order across all of them).
        def exchange(events, want_r, got, other, what):
            send(events)
            g_r, o_r = g.events(len(want_r), what=what)
            got += g_r
            other += o_r

        # ---- keys: random reports of 1..5 key events --------------------
        want, got = [], []
        for _ in range(15):
            evs = [(rnd.choice(STREAM_KEYS), rnd.random() < 0.5) for _ in range(rnd.randint(1, 5))]
            w = [("kbd", EV_KEY, KEYS[k], int(d)) for k, d in evs] + [("kbd",) + SYN]
            exchange([key_ev(k, d) for k, d in evs], w, got, [], "keys")
            want += w
        expect_events(got, want, "keys")

        # ---- mouse: re-activate it so it gets the buttons ---------------
        g.cmd("m", r"^VT REINIT mouse VIRTIO_OK")
        want, got = [], []
        for _ in range(12):
            evs, w = [], []
            if rnd.random() < 0.6:
                b, d = rnd.choice(sorted(BTN)), rnd.random() < 0.5
                evs.append(btn_ev(b, d))
                w.append((EV_KEY, BTN[b], int(d)))
            if rnd.random() < 0.2:
                up = rnd.random() < 0.5   # a wheel press is one REL_WHEEL step
                evs.append(btn_ev("wheel-up" if up else "wheel-down", True))
                w.append((EV_REL, REL_WHEEL, 1 if up else -1))
            for code, ax in ((0, "x"), (1, "y")):
                if rnd.random() < 0.8 or not evs:
                    v = rnd.choice([-1, 1]) * rnd.randint(1, 500)
                    evs.append(rel_ev(ax, v))
                    w.append((EV_REL, code, v))
            w = [("mouse",) + e for e in w] + [("mouse",) + SYN]
            exchange(evs, w, got, [], "mouse")
            want += w
        expect_events(got, want, "mouse")

        # ---- tablet: absolute positions, scaled ---------------------------
        g.cmd("t", r"^VT REINIT tablet VIRTIO_OK")
        want, positions, got, other = [], [], [], []
        for i in range(12):
            x = [0, ABS_MAX][i] if i < 2 else rnd.randint(0, ABS_MAX)
            y = [ABS_MAX, 0][i] if i < 2 else rnd.randint(0, ABS_MAX)
            evs = [abs_ev("x", x), abs_ev("y", y)]
            w = [(EV_ABS, 0, x), (EV_ABS, 1, y)]
            if rnd.random() < 0.5:
                b, d = rnd.choice(["left", "right", "middle"]), rnd.random() < 0.5
                evs.append(btn_ev(b, d))
                w.append((EV_KEY, BTN[b], int(d)))
            positions += [(0, x), (1, y)]
            w = [("tablet",) + e for e in w] + [("tablet",) + SYN]
            exchange(evs, w, got, other, "tablet")
            want += w
        expect_events(got, want, "tablet")
        # SCALED lines follow their events; the last one may still be coming.
        sc = [o for o in other if o.startswith("SCALED")]
        while len(sc) < len(positions):
            sc.append(g.until(r"^VT SCALED")[3:])
        for (axis, v), s in zip(positions, sc):
            _, dev, a, val, at = s.split()
            want_at = scaled(absinfo[("tablet", axis)], v, SCREEN[axis])
            check((dev, int(a), int(val), int(at)) == ("tablet", axis, v, want_at),
                  f"scaled: {s!r}, want axis {axis} value {v} -> {want_at}")

        # ---- mixed: one command for all three ---------------------------
        k, dx, x, y = rnd.choice(STREAM_KEYS), rnd.randint(1, 99), rnd.randint(0, ABS_MAX), rnd.randint(0, ABS_MAX)
        send([key_ev(k, True), rel_ev("x", dx), abs_ev("x", x), abs_ev("y", y), key_ev(k, False)])
        got, _ = g.events(8, what="mixed")
        per = {d: [e[1:] for e in got if e[0] == d] for d in ("kbd", "mouse", "tablet")}
        check(per["kbd"] == [(EV_KEY, KEYS[k], 1), (EV_KEY, KEYS[k], 0), SYN], f"mixed kbd {per['kbd']}")
        check(per["mouse"] == [(EV_REL, 0, dx), SYN], f"mixed mouse {per['mouse']}")
        check(per["tablet"] == [(EV_ABS, 0, x), (EV_ABS, 1, y), SYN], f"mixed tablet {per['tablet']}")

        # ---- read_report --------------------------------------------------
        g.cmd("R", r"^VT REPORTS")
        for n in [rnd.randint(1, 6), rnd.randint(8, 40), rnd.randint(1, 40), rnd.randint(1, 40)]:
            evs = [(rnd.choice(STREAM_KEYS), rnd.random() < 0.5) for _ in range(n)]
            send([key_ev(k, d) for k, d in evs])
            rpt = g.until(r"^VT RPT kbd")
            got, _ = g.events(n + 1, what=f"report of {n}")
            check(rpt == f"VT RPT kbd {n + 1}", f"report: {rpt!r}, want {n + 1} events")
            expect_events(got, [("kbd", EV_KEY, KEYS[k], int(d)) for k, d in evs] + [("kbd",) + SYN],
                          f"report of {n}")
            toobig = [l for l in g.skipped if l.startswith("VT TOOBIG")]
            check(bool(toobig) == (n + 1 > 8), f"report of {n + 1} events: TOOBIG {toobig}")
        dx, dy = rnd.randint(-99, -1), rnd.randint(1, 99)
        send([btn_ev("left", True), rel_ev("x", dx), rel_ev("y", dy)])   # buttons go to the tablet now
        got, other = g.events(5, what="report mixed")
        rpts = [l for l in other if l.startswith("RPT")]
        check(sorted(rpts) == ["RPT mouse 3", "RPT tablet 2"], f"reports {rpts}")
        check([e for e in got if e[0] == "mouse"] == [("mouse", EV_REL, 0, dx), ("mouse", EV_REL, 1, dy),
                                                      ("mouse",) + SYN], f"mouse report {got}")
        check([e for e in got if e[0] == "tablet"] == [("tablet", EV_KEY, BTN["left"], 1), ("tablet",) + SYN],
              f"tablet report {got}")
        g.cmd("P", r"^VT POLLING")

        # ---- text through key_char ---------------------------------------
        g.cmd("c", r"^VT CLEARED")
        send([btn_ev("left", False)])
        g.events(2, what="button release")
        g.cmd("q", r"^VT QUIET")   # events recorded; LINE and CAPSLED lines still come
        want = []
        unsynced = [0]   # events sent since the guest last said it took them all

        def sync():
            got = g.cmd("g", r"^VT GOT")
            check(got == f"VT GOT {len(want)}", f"text: {got}, sent {len(want)} events")
            unsynced[0] = 0

        def keys(*kd):
            # Half the buffers at most in flight, then ask what arrived.
            if unsynced[0] + len(kd) + 1 > QUEUE_BUFFERS // 2:
                sync()
            send([key_ev(k, d) for k, d in kd])
            want.extend([("kbd", EV_KEY, KEYS[k], int(d)) for k, d in kd] + [("kbd",) + SYN])
            unsynced[0] += len(kd) + 1

        alphabet = [c for c in US if c != "\t"]
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(25, 40)))
        expect, caps, caps_toggles = "", False, 0
        ctrl_at = rnd.randrange(len(text))
        caps_at = sorted(rnd.sample(range(len(text)), 2))
        for i, ch in enumerate(text):
            if i in caps_at:
                keys(("caps_lock", True))
                keys(("caps_lock", False))
                caps, caps_toggles = not caps, caps_toggles + 1
            q, shift = US[ch]
            if shift:
                keys(("shift" if rnd.random() < 0.5 else "shift_r", True))
            keys((q, True))
            keys((q, False))
            if shift:
                keys(("shift", False), ("shift_r", False))
            expect += ch.swapcase() if ch.isalpha() and caps else ch
            if i == ctrl_at:   # Ctrl+letter and a tab
                letter = rnd.choice("abcdefghiklmnopqrstuvwxyz")   # not j: Ctrl+J is a newline
                keys(("ctrl_r", True))
                keys((letter, True))
                keys((letter, False), ("ctrl_r", False))
                keys(("tab", True))
                keys(("tab", False))
                expect += chr(ord(letter) & 0x1F) + "\t"
        if caps:
            keys(("caps_lock", True))
            keys(("caps_lock", False))
            caps_toggles += 1
        sync()   # no sync between Enter and its LINE: it would read past that line
        keys(("ret", True))
        keys(("ret", False))
        line = g.until(r"^VT LINE")
        got_text = bytes.fromhex(line.split()[2] if len(line.split()) > 2 else "").decode("latin-1")
        check(got_text == expect, f"typed {expect!r}, guest read {got_text!r}")
        m.write("d")
        got, _ = g.events(len(want), what="text events")
        g.until(r"^VT DUMP")
        expect_events(got, want, "text events")
        g.cmd("e", r"^VT ECHO")
        capsled = [l for l in m.transcript if l.startswith("VT CAPSLED")]
        check(len(capsled) == caps_toggles and all("VIRTIO_OK" in l for l in capsled),
              f"caps LED updates {capsled}, caps lock toggled {caps_toggles} times")
        leds_seen = check_leds(m, leds_seen, [2 * (n % 2 == 0) for n in range(caps_toggles)])

        # ---- LEDs -----------------------------------------------------------
        for mask in rnd.sample(range(1, 8), 2) + [0]:
            line = g.cmd(f"l{mask:x}", r"^VT LEDS")
            check(line.split()[2:4] == [f"{mask:x}", "VIRTIO_OK:"], f"set_leds {mask}: {line}")
            leds_seen = check_leds(m, leds_seen, [mask])

        # ---- burst: 300 key events, recorded quietly ---------------------
        # QEMU hands a report over only if a buffer waits for each of its
        # events, else drops it: a guest that is not scheduled for a few
        # milliseconds would lose reports to a free-running QMP sender. So
        # the 150 reports go in chunks that fit the 64 buffers, without the
        # guest polling in between necessarily; between chunks the host asks
        # how many events arrived.
        g.cmd("q", r"^VT QUIET")
        want, per_chunk = [], QUEUE_BUFFERS // 3
        for chunk in range(0, 150, per_chunk):
            for _ in range(min(per_chunk, 150 - chunk)):
                k = rnd.choice(STREAM_KEYS)
                send([key_ev(k, True), key_ev(k, False)])
                want += [("kbd", EV_KEY, KEYS[k], 1), ("kbd", EV_KEY, KEYS[k], 0), ("kbd",) + SYN]
            got = g.cmd("g", r"^VT GOT")
            check(got == f"VT GOT {len(want)}", f"burst: {got}, sent {len(want)} events")
        m.write("d")
        got, other = g.events(len(want), what="burst")
        dump = g.until(r"^VT DUMP")
        check("virtio_input_queue_full" not in m.stderr, "QEMU dropped reports during the burst")
        expect_events(got, want, "burst")
        check(dump == f"VT DUMP {len(want)} over=0", f"burst: {dump}")
        g.cmd("e", r"^VT ECHO")

        # ---- pause: reports wait in the queue; one too many is dropped ---
        g.cmd("p", r"^VT PAUSED")
        want, room = [], QUEUE_BUFFERS
        while True:
            n = rnd.randint(1, 4)
            if n + 1 > room:
                break
            evs = [(rnd.choice(STREAM_KEYS), rnd.random() < 0.5) for _ in range(n)]
            send([key_ev(k, d) for k, d in evs])
            want += [("kbd", EV_KEY, KEYS[k], int(d)) for k, d in evs] + [("kbd",) + SYN]
            room -= n + 1
        dropped = [rnd.choice(STREAM_KEYS) for _ in range(room + 1)]   # one event more than the room left
        send([key_ev(k, True) for k in dropped])
        end = time.monotonic() + 5
        while "virtio_input_queue_full" not in m.stderr and time.monotonic() < end:
            time.sleep(0.02)
        check("virtio_input_queue_full" in m.stderr, "QEMU did not report the queue full")
        g.cmd("r", r"^VT RESUMED")
        got, _ = g.events(len(want), what="paused reports")
        expect_events(got, want, "paused reports")
        k = rnd.choice(STREAM_KEYS)
        send([key_ev(k, True)])
        got, _ = g.events(2, what="after overflow")
        expect_events(got, [("kbd", EV_KEY, KEYS[k], 1), ("kbd",) + SYN], "after overflow")

        # ---- end ------------------------------------------------------------
        m.write("x")
        g.until(r"^VT END")
        m.wait_exit(30)
        res = check_transcript(m.transcript, m.name, m.stderr)
        stats = {r.split()[0]: kv(r) for k, r in res if k == "STAT"}
        check(sorted(stats) == ["kbd", "mouse", "tablet"], f"stats {stats}")
        for d, f in stats.items():
            check(f["dropped"] == "0", f"{d}: {f['dropped']} malformed buffers")
        for bad in ("unknown type", "unmapped", "error"):
            check(bad not in m.stderr.lower(), f"QEMU complained: {m.stderr.strip()[-300:]}")
        check(exit_code(cfg, m.returncode) == 0, f"exit status {m.returncode}")


# Device properties the plain matrix never sets: no indirect descriptors,
# no event index, a serial of the configuration's full 128 bytes (QEMU 7.2
# stores 127 and a NUL but reports size 128; a longer one aborts QEMU), an
# empty serial (ID_SERIAL of size 0) and one of a single byte (here with a
# notification page per queue, page-per-vq), ACCESS_PLATFORM offered
# (iommu_platform=on, no IOMMU) and accepted on a big-endian guest.
VARIANTS = [
    "x86_64-pci-modern-split+indirect_desc=off",
    "riscv64-mmio-modern-packed+event_idx=off",
    "aarch64-pci-modern-split+serial=" + "0123456789abcdef" * 8,
    "x86_64-pci-modern-split+serial=",
    "riscv64-pci-modern-split+page-per-vq=on+serial=a",
    "aarch64be-pci-modern-packed+iommu_platform=on",
    # x86 virtio-mmio: QEMU's microvm machine
    "x86_64-mmio-modern-packed",
    "i686-mmio-legacy-split",
]

if __name__ == "__main__":
    main(configs=matrix("virtio-keyboard") + extra_matrix("virtio-keyboard") + variants(VARIANTS))
