"""debian.py - Debian's packages for QEMU guests, fetched once, cached under build/.

Shared by tests/qemu/test_boot.py (a Debian kernel booted by
examples/boot_linux.c) and bench/peers.py (U-Boot and a Linux guest with
fio, measured beside the library).

    apt(state, deb, *args)   apt-get / apt-cache with a private state
                             directory and `deb` as the only architecture
    download(state, deb, packages, dest)   `apt-get download` into dest
    lib_closure(state, deb, roots)   the roots and the library packages
                             they depend on (what their programs can load)
    deb_members(path)        (name, TarInfo, tar) of a .deb's data.tar
    Arch, ARCH               what differs between the machines' kernels
    fetch_kernel(arch)       build/boot/<deb>/linux: kernel, config and
                             the virtio modules (downloaded once)
    module_order(linux, modules)   modules built as =m, dependencies first
    cpio(entries)            a newc archive (an initramfs)

Nothing touches the host's apt setup: no foreign architecture is added,
the host's own sources and keys are used. If the archive cannot be
reached (no apt-get, no network), the callers get Skip with the reason.
"""
import dataclasses
import gzip
import io
import lzma
import os
import re
import shutil
import subprocess
import tarfile

from qemu import ROOT, Skip, check

MiB = 1 << 20


# ---- apt with a private state -------------------------------------------

def apt(state, deb, *args, cwd=None):
    """apt-get / apt-cache with state, lists and cache in `state` and `deb`
    as the only architecture; sources and keys are the host's. Runs in cwd
    (default: state's parent), where `apt-get download` puts files."""
    for sub in ("lists/partial", "archives/partial"):
        os.makedirs(os.path.join(state, sub), exist_ok=True)
    status = os.path.join(state, "status")
    if not os.path.exists(status):
        open(status, "w").close()
    opts = {"Dir::State": state, "Dir::State::Lists": os.path.join(state, "lists"), "Dir::State::status": status,
            "Dir::Cache": state, "Dir::Cache::archives": os.path.join(state, "archives"),
            "APT::Architecture": deb, "APT::Architectures": deb, "Acquire::Languages": "none",
            "APT::Sandbox::User": "root"}
    cmd = [args[0], "-q"] + [f"-o{k}={v}" for k, v in opts.items()] + list(args[1:])
    try:
        return subprocess.run(cmd, cwd=cwd or os.path.dirname(state), capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        raise Skip(f"{args[0]} not found: cannot fetch Debian's {deb} packages")


def update(state, deb):
    """`apt-get update` in `state` once per state directory. A source
    without lists for this architecture only warns: what matters is
    whether the packages wanted are then known."""
    stamp = os.path.join(state, "updated")
    if not os.path.exists(stamp):
        u = apt(state, deb, "apt-get", "update")
        if u.returncode != 0:
            raise Skip(f"apt-get update ({deb}) failed: {(u.stderr or u.stdout).strip()[-300:]}")
        open(stamp, "w").close()


def download(state, deb, packages, dest):
    """`apt-get download` of `packages` into `dest` through the private
    state; {package: path of its .deb}."""
    update(state, deb)
    os.makedirs(dest, exist_ok=True)
    r = apt(state, deb, "apt-get", "download", *packages, cwd=dest)
    got = {f.split("_")[0]: os.path.join(dest, f) for f in os.listdir(dest) if f.endswith(".deb")}
    missing = [p for p in packages if p not in got]
    if r.returncode != 0 or missing:
        raise Skip(f"apt-get download ({deb}) failed, missing {missing}: {(r.stderr or r.stdout).strip()[-300:]}")
    return {p: got[p] for p in packages}


def lib_closure(state, deb, roots):
    """roots and every library package (lib*, zlib1g) reachable from them
    through Depends/Pre-Depends of library packages: the packages whose
    files the roots' programs can load. Other dependencies (python3,
    init-system-helpers, ...) are left out; lib_resolve() checks that
    nothing a program needs is missing."""
    update(state, deb)
    r = apt(state, deb, "apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
            "--no-breaks", "--no-replaces", "--no-enhances", *roots)
    check(r.returncode == 0, f"apt-cache depends {' '.join(roots)} ({deb}): {r.stderr.strip()[-300:]}")
    deps, cur = {}, None
    for line in r.stdout.splitlines():
        if line and not line[0].isspace():
            cur = deps.setdefault(line.strip(), [])
        elif cur is not None:
            m = re.match(r"\s+\|?(?:Pre)?Depends: ([^<>\s:]+)", line)
            if m:
                cur.append(m.group(1))
    out, todo = [], list(roots)
    while todo:
        p = todo.pop(0)
        if p in out:
            continue
        out.append(p)
        todo += [d for d in deps.get(p, []) if d.startswith("lib") or d == "zlib1g"]
    return out


# ---- .deb files ---------------------------------------------------------

def ar_members(path):
    """(name, offset, size) of each member of an ar archive (a .deb)."""
    with open(path, "rb") as f:
        check(f.read(8) == b"!<arch>\n", f"{path}: not an ar archive")
        while True:
            hdr = f.read(60)
            if len(hdr) < 60:
                return
            name, size = hdr[:16].decode().strip().rstrip("/"), int(hdr[48:58])
            yield name, f.tell(), size
            f.seek(size + (size & 1), 1)


def deb_members(path):
    """(name without "./", TarInfo, tar) for each member of a .deb's data
    tar, in archive order; read a file with tar.extractfile(info)."""
    data = next(((o, s) for n, o, s in ar_members(path) if n.startswith("data.tar")), None)
    check(data is not None, f"{path}: no data.tar member")
    with open(path, "rb") as f:
        f.seek(data[0])
        blob = f.read(data[1])
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r|*") as tar:
        for m in tar:
            yield m.name.lstrip("./"), m, tar


# ---- Debian's kernel, cached -------------------------------------------

@dataclasses.dataclass(frozen=True)
class Arch:
    """What differs between the machines' kernels."""
    name: str           # the port's
    deb: str            # Debian's architecture
    clang: str          # clang --target for Linux programs
    console: str        # Linux's name for the UART

    @property
    def cache(self):    # build/boot/<deb>: apt/ while fetching, linux/, init
        return os.path.join(ROOT, "build", "boot", self.deb)

    def kernel_ok(self, image: bytes) -> bool:
        if self.deb == "arm64":
            return image[56:60] == b"ARM\x64"
        return image[0x202:0x206] == b"HdrS"


ARCH = {"aarch64": Arch("aarch64", "arm64", "aarch64-linux-gnu", "ttyAMA0"),
        "x86_64": Arch("x86_64", "amd64", "x86_64-linux-gnu", "ttyS0")}

# Module -> the config symbol that builds it. Only those built as modules
# (=m) go into an initramfs; =y means built in.
MODULES = {"virtio_mmio": "CONFIG_VIRTIO_MMIO", "virtio_pci": "CONFIG_VIRTIO_PCI", "virtio_blk": "CONFIG_VIRTIO_BLK"}
# Where in the package those and their dependencies live.
MODULE_DIRS = ("kernel/drivers/virtio/", "kernel/drivers/block/", "kernel/lib/")


def extract_kernel(arch, deb):
    """The kernel, its config and the candidate modules from the package's
    data tar, into a new directory."""
    tmp = os.path.join(arch.cache, "linux.new")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "modules"))
    found = {}
    for name, m, tar in deb_members(deb):
        if not m.isfile():
            continue
        mod = re.match(r"(?:usr/)?lib/modules/[^/]+/(.*)$", name)
        if re.fullmatch(r"boot/vmlinuz-.*", name):
            out = "kernel.raw"
        elif re.fullmatch(r"boot/config-.*", name):
            out = "config"
        elif mod and mod.group(1).startswith(MODULE_DIRS) and re.search(r"\.ko(\.xz)?$", name):
            out = os.path.join("modules", os.path.basename(name))
        else:
            continue
        payload = tar.extractfile(m).read()
        if out.endswith(".ko.xz"):
            payload, out = lzma.decompress(payload), out[:-3]
        with open(os.path.join(tmp, out), "wb") as o:
            o.write(payload)
        found[out] = True
    check("kernel.raw" in found and "config" in found, f"{deb}: no /boot/vmlinuz-* or /boot/config-*")
    raw = open(os.path.join(tmp, "kernel.raw"), "rb").read()
    if arch.deb == "arm64" and raw[:2] == b"\x1f\x8b":   # arm64 Debian kernels have shipped gzipped Images
        raw = gzip.decompress(raw)
    check(arch.kernel_ok(raw), f"{deb}: /boot/vmlinuz-* is not a kernel the {arch.name} bootloader takes")
    with open(os.path.join(tmp, "kernel"), "wb") as o:
        o.write(raw)
    os.remove(os.path.join(tmp, "kernel.raw"))
    return tmp


def fetch_kernel(arch):
    """build/boot/<deb>/linux with kernel, config, modules/ (downloading
    once). The caller serialises concurrent callers (a lock file)."""
    linux = os.path.join(arch.cache, "linux")
    if os.path.exists(os.path.join(linux, "READY")):
        return linux
    os.makedirs(arch.cache, exist_ok=True)
    state = os.path.join(arch.cache, "apt")
    pat = rf"linux-image-.*_{arch.deb}\.deb$"
    debs = [f for f in os.listdir(arch.cache) if re.match(pat, f)]
    if not debs:
        # A source that has no lists for this architecture only warns; what
        # matters is whether the kernel package is then known.
        u = apt(state, arch.deb, "apt-get", "update")
        r = apt(state, arch.deb, "apt-cache", "depends", f"linux-image-{arch.deb}")
        pkg = re.search(rf"Depends: (linux-image-[0-9][^\s]*-{arch.deb})\b", r.stdout or "")
        if r.returncode != 0 or not pkg:
            raise Skip(f"no {arch.deb} kernel package in the archive (apt-get update said: "
                       f"{(u.stderr or u.stdout).strip()[-300:]})")
        r = apt(state, arch.deb, "apt-get", "download", pkg.group(1))
        debs = [f for f in os.listdir(arch.cache) if re.match(pat, f)]
        if r.returncode != 0 or not debs:
            raise Skip(f"apt-get download {pkg.group(1)} failed: {(r.stderr or r.stdout).strip()[-300:]}")
    tmp = extract_kernel(arch, os.path.join(arch.cache, sorted(debs)[-1]))
    with open(os.path.join(tmp, "READY"), "w") as f:
        f.write(sorted(debs)[-1] + "\n")
    shutil.rmtree(linux, ignore_errors=True)
    os.rename(tmp, linux)
    for d in debs:   # what we need is extracted: keep build/ small
        os.remove(os.path.join(arch.cache, d))
    shutil.rmtree(state, ignore_errors=True)
    return linux


def module_order(linux, modules=MODULES):
    """The modules to load, dependencies first, read from each module's
    .modinfo (`depends=`): those of `modules` the config builds as =m."""
    config = open(os.path.join(linux, "config")).read()
    moddir = os.path.join(linux, "modules")
    order = []

    def depends(name):
        blob = open(os.path.join(moddir, name + ".ko"), "rb").read()
        m = re.search(rb"(?:^|\0)depends=([^\0]*)\0", blob)
        return [d for d in (m.group(1).decode().split(",") if m else []) if d]

    def add(name, chain):
        check(name not in chain, f"module dependency loop: {chain + [name]}")
        if name in order:
            return
        check(os.path.exists(os.path.join(moddir, name + ".ko")),
              f"module {name} (needed by {chain or 'the caller'}) not extracted from the package")
        for d in depends(name):
            add(d.replace("-", "_"), chain + [name])
        order.append(name)

    for mod, sym in modules.items():
        v = re.search(rf"^{sym}=(\w+)", config, re.M)
        check(v is not None, f"{sym} is not set in the kernel config: Linux cannot reach the disk")
        if v.group(1) == "m":
            add(mod, [])
    return order


# ---- initramfs ----------------------------------------------------------

def cpio(entries):
    """A newc cpio archive: entries of (name, mode, data, rdev (major, minor));
    a symlink is mode 0o120777 with its target as data."""
    out = bytearray()

    def one(ino, name, mode, data, rdev):
        nb = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(nb), 0)
        out.extend(b"070701" + b"".join(b"%08x" % v for v in fields) + nb)
        out.extend(bytes(-len(out) % 4))
        out.extend(data)
        out.extend(bytes(-len(out) % 4))

    for i, (name, mode, data, rdev) in enumerate(entries, 1):
        one(i, name, mode, data, rdev)
    one(0, "TRAILER!!!", 0, b"", (0, 0))
    return bytes(out)
