#!/usr/bin/env python3
"""Compile matrix: every header alone and together, include orders, split
and static builds, coexistence with Linux's uapi headers, configuration
subsets and freestanding links, as C99 and C++11, with gcc and clang, with
the project's full warning set as errors. Prints PASS/FAIL per build.

    python3 tests/compile/run.py [filter]
"""
import concurrent.futures as cf
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
WARN = "-Wall -Wextra -Werror -pedantic -Wundef -Wshadow -Wcast-align -Wsign-conversion".split()
CWARN = ["-Wstrict-prototypes", "-Wmissing-prototypes"]
DRIVERS = [h for h in ("virtio_blk", "virtio_net", "virtio_input", "virtio_gpu", "virtio_console", "virtio_rng")
           if os.path.exists(os.path.join(HERE, "..", "..", h + ".h"))]
VARIANTS = ["VIRTIO_NO_MMIO", "VIRTIO_NO_PCI", "VIRTIO_NO_LEGACY", "VIRTIO_NO_PACKED",
            "VIRTIO_NO_STRINGS", "VIRTIO_DIRECT_REGS", "VIRTIO_DEBUG"]
# Freestanding targets: the three QEMU architectures and two 32-bit ones.
TARGETS = ["x86_64-unknown-elf", "aarch64-unknown-elf", "riscv64-unknown-elf",
           "i686-unknown-elf", "armv7a-none-eabi", "riscv32-unknown-elf"]


def jobs():
    out = []
    for cc, cxx in (("gcc", "g++"), ("clang", "clang++")):
        for lang in ("c", "c++"):
            comp = cc if lang == "c" else cxx
            std = ["-std=c99"] + CWARN if lang == "c" else ["-x", "c++", "-std=c++11"]
            base = [comp] + std + WARN + ["-O2"]
            tag = f"{cc}-{lang}"
            # Each header alone (compile only), and the linked cases.
            for tu in ["impl_core.c", "impl_blk.c"] + [f"impl_{d[7:]}.c" for d in DRIVERS[1:]]:
                if os.path.exists(os.path.join(HERE, tu)):
                    out.append((f"{tag} {tu}", base + ["-c", tu, "-o", "{out}.o"]))
            for tu in ("all_in_one.c", "include_order.c", "static_tu.c"):
                out.append((f"{tag} {tu}", base + [tu, "-o", "{out}"]))
            if lang == "c":   # Linux's uapi headers are C only (C++ rejects their void * use)
                out.append((f"{tag} coexist.c", base + ["coexist.c", "-o", "{out}"]))
            out.append((f"{tag} split", base + ["split_core.c", "split_drivers.c", "-o", "{out}"]))
            for v in VARIANTS:
                out.append((f"{tag} variants -D{v}", base + [f"-D{v}", "variants.c", "-o", "{out}"]))
            # Freestanding, no libc at all.
            if cc == "gcc":
                fs = base + ["-ffreestanding", "-nostdlib", "-static", "-fno-stack-protector"]
                if lang == "c++":
                    fs += ["-fno-exceptions", "-fno-rtti"]
                out.append((f"{tag} freestanding x86_64", fs + ["freestanding.c", "-o", "{out}"]))
            else:
                for t in TARGETS:
                    fs = base + [f"--target={t}", "-ffreestanding", "-nostdlib", "-static",
                                 "-fuse-ld=lld", "-fno-stack-protector"]
                    if lang == "c++":
                        fs += ["-fno-exceptions", "-fno-rtti"]
                    if t.startswith("riscv64"):
                        fs += ["-mcmodel=medany"]
                    out.append((f"{tag} freestanding {t}", fs + ["freestanding.c", "-o", "{out}"]))
    out += msvc_jobs()
    return out


# MSVC mode (issue: emulator harnesses on Windows hosts). clang in MSVC
# mode takes the _MSC_VER branches, but it also defines __clang__ and the
# GCC target macros; the "cl" variant undefines them, so the branches only
# cl.exe would take (declared intrinsics, no builtins, __declspec) are
# compiled too.
MSVC_TARGETS = ["x86_64-pc-windows-msvc", "i686-pc-windows-msvc", "aarch64-pc-windows-msvc"]
CL_ONLY = ["-U__clang__", "-U__x86_64__", "-U__i386__", "-U__aarch64__",
           "-Wno-builtin-macro-redefined", "-Wno-ignored-pragma-intrinsic"]


def msvc_jobs():
    out = []
    for t in MSVC_TARGETS:
        for mode, extra in (("clang-cl", []), ("cl", CL_ONLY)):
            for lang, std in (("c", ["-std=c99"] + CWARN), ("c++", ["-x", "c++", "-std=c++11"])):
                for tu in ("all_in_one.c", "static_tu.c"):
                    cmd = ["clang", f"--target={t}", "-fms-compatibility", "-fms-extensions", "-ffreestanding"]
                    out.append((f"msvc-{mode}-{lang} {t} {tu}", cmd + std + WARN + extra + ["-c", tu, "-o", "{out}.o"]))
    return out


def run(job, tmp):
    name, cmd = job
    out = os.path.join(tmp, name.replace(" ", "_").replace("/", "_"))
    cmd = [c.replace("{out}", out) for c in cmd]
    p = subprocess.run(cmd, cwd=HERE, capture_output=True, text=True)
    return name, p.returncode, (p.stdout + p.stderr).strip()


def main():
    filt = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("VT_FILTER", "")
    tmp = tempfile.mkdtemp(prefix="vt-compile-")
    todo = [j for j in jobs() if filt in j[0]]
    if not shutil.which("clang"):
        todo = [j for j in todo if not j[0].startswith(("clang", "msvc"))]
    passed = failed = 0
    try:
        with cf.ThreadPoolExecutor(max_workers=int(os.environ.get("VT_JOBS", "2"))) as ex:
            for name, rc, text in ex.map(lambda j: run(j, tmp), todo):
                if rc == 0:
                    passed += 1
                    print(f"PASS compile {name}", flush=True)
                else:
                    failed += 1
                    print(f"FAIL compile {name}:\n{text[:3000]}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
