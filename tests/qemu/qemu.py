"""qemu.py - run test guests in QEMU and look at what they did from outside.

The tests in this folder (test_blk.py, test_net.py, ...) boot a guest
program built with examples/port, talk to it over its UART (QEMU's stdio)
and QMP, and check effects on the host side: disk images, frames at a
socket peer, pixels in a screendump.

Rules kept here for every test:
  * every QEMU has a hard timeout and is killed (by its PID, its own
    process group) on any failure; nothing else is ever killed;
  * networking only through socket backends on 127.0.0.1, and -nic none
    so QEMU adds no default (user-mode) NIC;
  * temporary files live in a per-run directory that is removed.

Guest protocol: lines "VT <key> <words...>"; "VT FAIL ..." is a failure
the guest saw; "VT END <n>" is the last line.
"""
import concurrent.futures as cf
import json
import os
import queue
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")

ARCHES = ("riscv64", "aarch64", "x86_64")
TRANSPORTS = ("mmio-legacy", "mmio-modern", "pci-modern", "pci-legacy")


class Config:
    """One machine configuration: architecture, transport, ring format."""

    def __init__(self, arch, transport, packed=False):
        self.arch, self.transport, self.packed = arch, transport, packed

    @property
    def name(self):
        return f"{self.arch}-{self.transport}-{'packed' if self.packed else 'split'}"

    @property
    def legacy(self):
        return self.transport.endswith("legacy")

    @property
    def mmio(self):
        return self.transport.startswith("mmio")

    def __repr__(self):
        return self.name


def matrix(modern_only=False):
    """riscv64/aarch64 on MMIO legacy and modern, all three on PCI modern,
    x86_64 on PCI legacy; split and packed rings where the transport can
    (packed rings need VERSION_1, which legacy transports lack).
    modern_only: drop legacy transports (devices that are VirtIO 1.0 only,
    such as input and gpu on PCI)."""
    out = []
    for arch in ARCHES:
        transports = ["pci-modern"]
        if arch != "x86_64":
            transports = ["mmio-legacy", "mmio-modern"] + transports
        else:
            transports.append("pci-legacy")
        for t in transports:
            if modern_only and t == "pci-legacy":
                continue
            out.append(Config(arch, t, False))
            if not t.endswith("legacy"):
                out.append(Config(arch, t, True))
    return out


def machine_args(cfg):
    a = {
        "riscv64": ["qemu-system-riscv64", "-machine", "virt", "-bios", "none"],
        "aarch64": ["qemu-system-aarch64", "-machine", "virt,highmem=off", "-cpu", "cortex-a57"],
        "x86_64": ["qemu-system-x86_64", "-machine", "q35",
                   "-device", "isa-debug-exit,iobase=0xf4,iosize=4"],
    }[cfg.arch]
    a = a + ["-m", "256M", "-smp", "1", "-display", "none", "-serial", "stdio", "-monitor", "none",
             "-nic", "none", "-no-reboot", "-nodefaults"]
    if cfg.transport == "mmio-modern":
        a += ["-global", "virtio-mmio.force-legacy=false"]
    return a


def device(cfg, kind, props=""):
    """-device argument for a VirtIO device of `kind` ("blk", "net",
    "keyboard", "mouse", "tablet", "gpu") on cfg's transport."""
    name = {"blk": "virtio-blk", "net": "virtio-net", "keyboard": "virtio-keyboard",
            "mouse": "virtio-mouse", "tablet": "virtio-tablet", "gpu": "virtio-gpu"}[kind]
    p = []
    if cfg.mmio:
        name += "-device"
    else:
        name += "-pci"
        p.append("disable-legacy=off,disable-modern=on" if cfg.legacy else "disable-legacy=on,disable-modern=off")
    if cfg.packed:
        p.append("packed=on")
    if props:
        p.append(props)
    return ["-device", ",".join([name] + p)]


def guest(arch, name):
    path = os.path.join(BUILD, arch, name + ".elf")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} missing: run `make guests`")
    return path


class Failure(Exception):
    pass


class Machine:
    """A running QEMU. Use as a context manager: the process is killed and
    its files removed on exit, whatever happened."""

    def __init__(self, cfg, kernel, args=(), timeout=180, qmp=True, tmp=None):
        self.cfg, self.kernel, self.args, self.timeout, self.use_qmp = cfg, kernel, list(args), timeout, qmp
        self.tmp = tmp or tempfile.mkdtemp(prefix="vt-qemu-")
        self.own_tmp = tmp is None
        self.proc = None
        self.lines = queue.Queue()
        self.transcript = []
        self.events = []
        self.qmp_sock = None
        self.qmp_buf = b""
        self.deadline = None

    def __enter__(self):
        return self   # call start() once the arguments (and files in self.tmp) are ready

    def __exit__(self, *exc):
        self.kill()
        if self.own_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return False

    def start(self):
        cmd = machine_args(self.cfg) + ["-kernel", self.kernel] + self.args
        if self.use_qmp:
            self.qmp_path = os.path.join(self.tmp, "qmp.sock")
            cmd += ["-qmp", f"unix:{self.qmp_path},server=on,wait=off"]
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        self.deadline = time.time() + self.timeout
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        threading.Thread(target=self._watchdog, daemon=True).start()
        if self.use_qmp:
            self._qmp_connect()

    def _read_stdout(self):
        buf = b""
        while True:
            chunk = self.proc.stdout.read1(4096) if hasattr(self.proc.stdout, "read1") else self.proc.stdout.read(1)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("utf-8", "replace").rstrip("\r")
                self.transcript.append(text)
                self.lines.put(text)
        if buf:
            text = buf.decode("utf-8", "replace")
            self.transcript.append(text)
            self.lines.put(text)
        self.lines.put(None)

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.transcript.append("[qemu] " + line.decode("utf-8", "replace").rstrip())

    def _watchdog(self):
        while self.proc and self.proc.poll() is None:
            if time.time() > self.deadline:
                self.transcript.append(f"[runner] killed after {self.timeout}s")
                self.kill()
                return
            time.sleep(0.2)

    def kill(self):
        p = self.proc
        if p and p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)   # our own session: QEMU and nothing else
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.qmp_sock:
            try:
                self.qmp_sock.close()
            except OSError:
                pass
            self.qmp_sock = None

    # ---- serial ----
    def read_line(self, timeout):
        end = min(time.time() + timeout, self.deadline)
        while True:
            left = end - time.time()
            if left <= 0:
                return None
            try:
                return self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue

    def expect(self, pattern, timeout=60):
        """Wait for a guest line matching `pattern`; fail on VT FAIL, EOF or timeout."""
        rx = re.compile(pattern)
        end = time.time() + timeout
        while True:
            line = self.read_line(max(0.0, end - time.time()))
            if line is None:
                why = "QEMU exited" if self.proc.poll() is not None else "timeout"
                raise Failure(f"{why} waiting for /{pattern}/\n{self.tail()}")
            if line.startswith("VT FAIL"):
                raise Failure(f"guest: {line}\n{self.tail()}")
            m = rx.search(line)
            if m:
                return m

    def collect(self, timeout=120):
        """Wait for VT END; return every VT line of the run (also those an
        earlier expect() went past) as (key, rest) tuples."""
        end = time.time() + timeout
        while True:
            line = self.read_line(max(0.0, end - time.time()))
            if line is None:
                raise Failure(f"no VT END\n{self.tail()}")
            if line.startswith("VT END"):
                break
        out = []
        for line in self.transcript:
            if line.startswith("VT "):
                parts = line[3:].split(" ", 1)
                out.append((parts[0], parts[1] if len(parts) > 1 else ""))
        return out

    def write(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def wait_exit(self, timeout=60):
        try:
            return self.proc.wait(timeout=min(timeout, max(1, self.deadline - time.time())))
        except subprocess.TimeoutExpired:
            raise Failure(f"QEMU did not exit\n{self.tail()}")

    def tail(self, n=40):
        return "\n".join("    " + l for l in self.transcript[-n:])

    # ---- QMP ----
    def _qmp_connect(self):
        end = time.time() + 20
        while True:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.qmp_path)
                break
            except OSError:
                s.close()
                if time.time() > end or self.proc.poll() is not None:
                    raise Failure(f"QMP socket never came up\n{self.tail()}")
                time.sleep(0.05)
        s.settimeout(30)
        self.qmp_sock = s
        self._qmp_recv()   # greeting
        self.qmp("qmp_capabilities")

    def _qmp_recv(self):
        while b"\n" not in self.qmp_buf:
            chunk = self.qmp_sock.recv(65536)
            if not chunk:
                raise Failure("QMP connection closed")
            self.qmp_buf += chunk
        line, self.qmp_buf = self.qmp_buf.split(b"\n", 1)
        return json.loads(line)

    def qmp(self, cmd, **args):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.qmp_sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._qmp_recv()
            if "event" in r:
                self.events.append(r)
                continue
            if "error" in r:
                raise Failure(f"QMP {cmd}: {r['error']}")
            return r.get("return")

    def screendump(self, head=None, device=None):
        path = os.path.join(self.tmp, f"screen-{time.time_ns()}.ppm")
        args = {"filename": path}
        if device is not None:
            args["device"] = device
        if head is not None:
            args["head"] = head
        self.qmp("screendump", **args)
        img = read_ppm(path)
        os.unlink(path)
        return img

    def send_events(self, events, device=None):
        args = {"events": events}
        if device:
            args["device"] = device
        self.qmp("input-send-event", **args)


# ---- images ----
class Image:
    def __init__(self, width, height, rgb):
        self.width, self.height, self.rgb = width, height, rgb

    def pixel(self, x, y):
        i = 3 * (y * self.width + x)
        return tuple(self.rgb[i:i + 3])


def read_ppm(path):
    data = open(path, "rb").read()
    fields, pos = [], 0
    while len(fields) < 4:   # magic, width, height, maxval; comments allowed
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if fields[0] != b"P6" or fields[3] != b"255":
        raise Failure(f"not a binary 8-bit PPM: {fields}")
    w, h = int(fields[1]), int(fields[2])
    pos += 1
    rgb = data[pos:pos + 3 * w * h]
    if len(rgb) != 3 * w * h:
        raise Failure("short PPM")
    return Image(w, h, rgb)


def write_png(path, img):
    def chunk(kind, body):
        c = struct.pack(">I", len(body)) + kind + body
        return c + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)
    raw = b"".join(b"\0" + img.rgb[3 * img.width * y:3 * img.width * (y + 1)] for y in range(img.height))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", img.width, img.height, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


# ---- disks ----
M64 = (1 << 64) - 1


def _mix(z):
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M64
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M64
    return z ^ (z >> 31)


def pattern(seed, offset, length):
    """The bytes tests/qemu/guest/vt.h's vt_pattern() produces."""
    first, last = offset >> 3, (offset + length + 7) >> 3
    base = (seed * 0x100000001) & M64
    words = [_mix((base + w * 0x9e3779b97f4a7c15) & M64) for w in range(first, last)]
    raw = struct.pack(f"<{len(words)}Q", *words)
    skip = offset & 7
    return raw[skip:skip + length]


def crc32(data):
    return zlib.crc32(data) & 0xffffffff


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- reporting ----
def run(tests, configs=None, jobs=None):
    """Run every test (a function taking a Config) on every config, in
    parallel, printing PASS/FAIL/SKIP lines and the summary line. Returns
    the process exit status. Filter with argv[1] or VT_FILTER (substring of
    "<test> [<config>]")."""
    filt = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("VT_FILTER", "")
    jobs = jobs or int(os.environ.get("VT_JOBS", "2"))
    work = []
    for t in tests:
        for cfg in (configs if configs is not None else [None]):
            label = t.__name__ + (f" [{cfg.name}]" if cfg else "")
            if filt in label:
                work.append((t, cfg, label))
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    lock = threading.Lock()

    def one(item):
        t, cfg, label = item
        t0 = time.time()
        try:
            r = t(cfg) if cfg is not None else t()
            word, why = ("SKIP", r[5:]) if isinstance(r, str) and r.startswith("SKIP:") else ("PASS", "")
        except Failure as e:
            word, why = "FAIL", str(e)
        except Exception:
            word, why = "FAIL", traceback.format_exc()
        with lock:
            counts[word] += 1
            extra = f": {why}" if why else ""
            print(f"{word} {label} ({time.time() - t0:.1f}s){extra}", flush=True)

    with cf.ThreadPoolExecutor(max_workers=jobs) as ex:
        list(ex.map(one, work))
    summary = f"{counts['PASS']} passed, {counts['FAIL']} failed"
    if counts["SKIP"]:
        summary += f", {counts['SKIP']} skipped"
    print(summary, flush=True)
    return 1 if counts["FAIL"] or not work else 0


def check(cond, what):
    if not cond:
        raise Failure(what)
