#!/usr/bin/env python3
"""Compile matrix: every header alone and together, include orders, split
and static builds, coexistence with Linux's uapi headers, configuration
subsets and freestanding links, as C99 and C++11, with gcc and clang, with
the project's full warning set as errors. Freestanding: per target and -O
level, what the library's object references (nm -u) is checked against
FS_NEEDS, and a -nostdlib link provides exactly that. Prints PASS/FAIL per
build.

    python3 tests/compile/run.py [filter]
"""
import concurrent.futures as cf
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
# A kernel's own warning set may be stricter than -Wall -Wextra: the
# headers stay clean under the common additions.
WARN = ("-Wall -Wextra -Werror -pedantic -Wundef -Wshadow -Wcast-align -Wsign-conversion -Wconversion -Wcast-qual "
        "-Wvla -Wpointer-arith -Wmissing-declarations -Wredundant-decls -Wdouble-promotion -Wformat=2 "
        "-Wswitch-enum -Wstrict-aliasing=2").split()   # (=2: gcc's stricter level, which sees (void **)&p)
CWARN = ["-Wstrict-prototypes", "-Wmissing-prototypes", "-Wnested-externs", "-Wold-style-definition", "-Wwrite-strings"]
DRIVERS = [h for h in ("virtio_blk", "virtio_net", "virtio_input", "virtio_gpu", "virtio_console", "virtio_rng")
           if os.path.exists(os.path.join(HERE, "..", "..", h + ".h"))]
# One configuration each: a macro, or several (space-separated).
BOOT_STAGE = ("VIRTIO_BLK_MINIMAL VIRTIO_NO_LEGACY VIRTIO_NO_PACKED VIRTIO_NO_INDIRECT VIRTIO_NO_EVENT_IDX "
              "VIRTIO_NO_DMA_MAP VIRTIO_NO_MSIX VIRTIO_DIRECT_REGS VIRTIO_NO_STRINGS VIRTIO_NO_LOG")   # virtio_blk.h, BOOT STAGES
VARIANTS = ["VIRTIO_NO_MMIO", "VIRTIO_NO_PCI", "VIRTIO_NO_LEGACY", "VIRTIO_NO_PACKED",
            "VIRTIO_NO_STRINGS", "VIRTIO_DIRECT_REGS", "VIRTIO_DEBUG", "VIRTIO_NO_INDIRECT", "VIRTIO_NO_EVENT_IDX",
            "VIRTIO_NO_DMA_MAP", "VIRTIO_NO_LOG", "VIRTIO_NO_MSIX", "VIRTIO_NO_MMIO VIRTIO_NO_LEGACY",
            BOOT_STAGE + " VIRTIO_NO_PCI", BOOT_STAGE + " VIRTIO_NO_MMIO"]
# ---- freestanding truth --------------------------------------------------
# The machines the ports run on, and i686: clang flags, and the gcc that
# builds for it (the host's gcc, or a cross gcc found on PATH as
# <triple>-gcc or <triple>-gcc-12; targets without one run with clang only).
FS_TARGETS = {
    "x86_64": (["--target=x86_64-unknown-elf"], ("gcc", [])),
    "i686": (["--target=i686-unknown-elf"], ("gcc", ["-m32"])),
    "aarch64": (["--target=aarch64-unknown-elf"], ("aarch64-linux-gnu", [])),
    "aarch64_be": (["--target=aarch64_be-unknown-elf"], ("aarch64-linux-gnu", ["-mbig-endian"])),
    "riscv64": (["--target=riscv64-unknown-elf", "-mcmodel=medany"], ("riscv64-linux-gnu", ["-mcmodel=medany"])),
    "riscv32": (["--target=riscv32-unknown-elf"], ("riscv64-linux-gnu", ["-march=rv32imac", "-mabi=ilp32"])),
    "armv7": (["--target=armv7a-none-eabi"], ("arm-linux-gnueabihf", ["-march=armv7-a+fp", "-marm"])),
    "mips": (["--target=mips-unknown-elf"], ("mips-linux-gnu", ["-mno-abicalls"])),
    "powerpc": (["--target=powerpc-unknown-elf"], ("powerpc-linux-gnu", [])),
    # 68040: 32-bit big-endian, 2-byte-aligned ints, no built-in barriers
    # (the platform supplies them). gcc only: clang 14's M68k backend
    # cannot select 64-bit shifts.
    "m68k": (None, ("m68k-linux-gnu", ["-DVIRTIO_PLATFORM_BARRIERS"])),
}
FS_OPTS = ("-O2", "-Os")
MEM = ("memcpy", "memset")
AEABI = ("__aeabi_memclr", "__aeabi_memclr4", "__aeabi_memclr8", "__aeabi_memcpy", "__aeabi_memcpy4", "__aeabi_memcpy8")
# What the library's object (all five headers' implementations, freestanding.c
# with -DVT_FS_LIBRARY_ONLY) leaves undefined: clang 14 and gcc 12, by
# optimisation level and target (MEM where not listed). tests/README.md
# shows the same table. An "fs-needs" job fails when nm -u differs either
# way; a "freestanding" link provides exactly these.
FS_NEEDS = {
    ("clang", "-O2"): {"armv7": AEABI},
    ("clang", "-Os"): {"armv7": AEABI},
    ("gcc", "-O2"): {},
    ("gcc", "-Os"): {"x86_64": (), "i686": (), "riscv32": MEM + ("__ashldi3", "__lshrdi3"),
                     "mips": MEM + ("__ashldi3", "__lshrdi3"), "m68k": MEM + ("__ashldi3", "__lshrdi3")},
}


def fs_needs(cc, opt, target):
    return tuple(sorted(FS_NEEDS[(cc, opt)].get(target, MEM)))


def fs_gcc(target):
    """The gcc command for a freestanding target, or None if not installed."""
    prefix, flags = FS_TARGETS[target][1]
    if prefix == "gcc":
        return ["gcc"] + flags
    for name in (f"{prefix}-gcc", f"{prefix}-gcc-12"):
        if shutil.which(name):
            return [name] + flags
    return None


def nm_undefined(obj):
    nm = shutil.which("llvm-nm") or "nm"
    p = subprocess.run([nm, "-u", obj], capture_output=True, text=True)
    return p.returncode, sorted(l.split()[-1] for l in p.stdout.splitlines() if l.strip())


def fs_check(cmd, want):
    """A job: compile the library alone, compare nm -u with `want`."""
    def job(out):
        p = subprocess.run([c.replace("{out}", out) for c in cmd], cwd=HERE, capture_output=True, text=True)
        if p.returncode:
            return p.returncode, p.stdout + p.stderr
        rc, got = nm_undefined(out + ".o")
        if rc or tuple(got) != want:
            return 1, f"the library references {got}, FS_NEEDS says {list(want)}"
        return 0, ""
    return job


def freestanding_jobs():
    """Per compiler, target and -O level: the nm -u check (C), and links of
    freestanding.c (C; C++ at -O2) providing exactly FS_NEEDS."""
    out = []
    for cc in ("gcc", "clang"):
        for target, (clang_flags, _) in FS_TARGETS.items():
            if cc == "gcc":
                comp = fs_gcc(target)
                if comp is None:
                    continue
            elif clang_flags is None:
                continue
            else:
                comp = ["clang"] + clang_flags
            for opt in FS_OPTS:
                want = fs_needs(cc, opt, target)
                base = ["-ffreestanding", "-fno-stack-protector", "-fno-pic", opt] + WARN
                c = comp + ["-std=c99"] + CWARN + base
                lib = c + ["-DVT_FS_LIBRARY_ONLY", "-c", "freestanding.c", "-o", "{out}.o"]
                out.append((f"{cc}-c freestanding {target} {opt} nm-u", fs_check(lib, want)))
                provide = [f"-DVT_FS_{n}" for n in want]
                langs = [("c", c)]
                if opt == "-O2":
                    cxx = comp[:]
                    cxx[0] = cxx[0].replace("clang", "clang++") if cc == "clang" else cxx[0].replace("gcc", "g++")
                    if cc == "clang" or shutil.which(cxx[0]):
                        langs.append(("c++", cxx + ["-x", "c++", "-std=c++11", "-fno-exceptions", "-fno-rtti"] + base))
                for lang, cmd in langs:
                    name = f"{cc}-{lang} freestanding {target} {opt}"
                    if cc == "clang":   # clang 14 has no bare-metal linker driver for aarch64_be: lld directly
                        link = cmd + provide + ["-c", "freestanding.c", "-o", "{out}.o"]
                        out.append((name, ["sh", "-c", shlex.join(link) + " && ld.lld -static -e _start -o {out} {out}.o"]))
                    else:
                        out.append((name, cmd + provide + ["-nostdlib", "-static", "freestanding.c", "-o", "{out}"]))
    return out


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
                defs = [f"-D{m}" for m in v.split()]
                out.append((f"{tag} variants {' '.join(defs)}", base + defs + ["variants.c", "-o", "{out}"]))
    return out + freestanding_jobs() + msvc_jobs() + quickstart_jobs() + analyzer_jobs() + version_jobs()


def version_jobs():
    """Every header's banner and README's newest Changes entry name the
    version virtio.h defines (VIRTIO_VERSION_*)."""
    def job(out_path):
        core = open(os.path.join(ROOT, "virtio.h")).read()
        ver = ".".join(re.search(rf"#define VIRTIO_VERSION_{k} (\d+)", core).group(1) for k in ("MAJOR", "MINOR", "PATCH"))
        bad = [h + ".h" for h in ["virtio"] + DRIVERS
               if f"{h}.h - v{ver} - " not in open(os.path.join(ROOT, h + ".h")).read()[:1000]]
        newest = re.search(r"\n\*\*(\d+\.\d+\.\d+)\*\*", open(os.path.join(ROOT, "README.md")).read())
        if not newest or newest.group(1) != ver:
            bad.append("README.md Changes")
        return (1 if bad else 0), f"VIRTIO_VERSION {ver}; not naming it: {', '.join(bad) or 'none'}\n"
    return [("versions", job)]


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


# ---- the quick starts, as a reader copies them ------------------------------
# README.md's first C block and each header's QUICK START, compiled the way a
# reader would paste them: the statements inside a function, `static`
# declarations at file scope, with only the names the snippet leaves to its
# reader (buffers, callbacks, the DMA hook) supplied here. Syntax and types
# only (-fsyntax-only), with the full warning set, as C99 and C++11: a quick
# start that drifted from the API, or that C++ warns about, fails.
ROOT = os.path.join(HERE, "..", "..")
QS_STUBS = {
    "buf": "static uint8_t buf[4096];",
    "big": "static uint8_t big[1 << 20];",
    "my_state": "static int my_state;",
    "do_other_work": "static void do_other_work(void) {}",
    "handle": "static void handle(const void *p, uint32_t n) { (void)p; (void)n; }",
    "use_seed": "static void use_seed(const uint8_t *s) { (void)s; }",
    "mix_in": "static void mix_in(const uint8_t *s, size_t n) { (void)s; (void)n; }",
    "my_dma_alloc": "static void *my_dma_alloc(void *u, size_t n, size_t a, int k, uint64_t *d) "
                    "{ (void)u; (void)n; (void)a; (void)k; (void)d; return 0; }",
}
# Functions a snippet declares and leaves to its reader to write.
QS_DEFS = {
    "my_alloc": "static void *my_alloc(void *u, size_t n, size_t a, int k, uint64_t *d) "
                "{ (void)u; (void)n; (void)a; (void)k; (void)d; return 0; }",
}


def quickstart_snippets():
    """(name, code) for README.md's first C block and every header's QUICK START."""
    out = []
    readme = open(os.path.join(ROOT, "README.md")).read()
    m = re.search(r"```c\n(.*?)```", readme, re.S)
    if m:
        out.append(("README.md", m.group(1)))
    for h in ["virtio"] + DRIVERS:
        text = open(os.path.join(ROOT, h + ".h")).read()
        m = re.search(r"\nQUICK START\n(.*?)\n(?=[A-Z][A-Z ]+\n)", text, re.S)
        if m:
            lines = [l[4:] if l.startswith("    ") else l for l in m.group(1).splitlines()]
            # the code, up to the first paragraph of prose
            code = []
            for l in lines:
                if l and not l.startswith(" ") and not re.match(r"[#/{}a-z_A-Z]", l[:1] or " "):
                    break
                if l and l[0].isupper() and not re.match(r"[A-Z_0-9]+\b", l):
                    break
                code.append(l)
            out.append((h + ".h", "\n".join(code)))
    return out


def quickstart_source(code):
    body, top = [], []
    for l in code.splitlines():
        if l.startswith(("#define VIRTIO_IMPLEMENTATION", "#include")):
            continue
        (top if l.startswith("static ") or (top and top[-1].rstrip().endswith(",")) else body).append(l)
    said = "\n".join(top + body)
    declared = set(re.findall(r"^\s*(?:static\s+)?[A-Za-z_]\w*\s+\**\s*([A-Za-z_]\w*)\s*[\[;(=]", said, re.M))
    stubs = [v for k, v in QS_STUBS.items() if re.search(rf"\b{k}\b", said) and k not in declared]
    defs = [v for k, v in QS_DEFS.items() if re.search(rf"\b{k}\b", said)]
    heads = "".join(f'#include "{h}.h"\n' for h in ["virtio"] + DRIVERS)
    return ("#include <stdio.h>\n" + heads + "\n".join(stubs + top) + "\nvoid quick_start(void);\nvoid quick_start(void)\n{\n"
            + "\n".join(body) + "\n}\n" + "\n".join(defs) + "\n")


def quickstart_jobs():
    out = []
    for name, code in quickstart_snippets():
        src = quickstart_source(code)
        for comp, std in (("gcc", ["-std=c99"] + CWARN), ("clang", ["-std=c99"] + CWARN),
                          ("g++", ["-x", "c++", "-std=c++11"]), ("clang++", ["-x", "c++", "-std=c++11"])):
            def job(out_path, src=src, cmd=[comp] + std + WARN + ["-fsyntax-only", "-I" + os.path.abspath(ROOT)]):
                path = out_path + ".c"
                with open(path, "w") as f:
                    f.write(src)
                p = subprocess.run(cmd + [path], cwd=HERE, capture_output=True, text=True)
                return p.returncode, p.stdout + p.stderr + ("\n--- source ---\n" + src if p.returncode else "")
            out.append((f"quickstart {name} {comp}", job))
    return out


# ---- clang's static analyzer ---------------------------------------------------
# Every implementation in one TU, as built and with each subset: a path the
# analyzer can walk to a garbage read, a null dereference or a leak fails.
def analyzer_jobs():
    out = []
    for v in [""] + VARIANTS:
        def job(out_path, v=v):
            cmd = ["clang", "--analyze", "-Xanalyzer", "-analyzer-output=text", "-std=c99", "-I" + os.path.abspath(ROOT),
                   "all_in_one.c", "-o", out_path + ".plist"] + [f"-D{m}" for m in v.split()]
            p = subprocess.run(cmd, cwd=HERE, capture_output=True, text=True)
            text = p.stdout + p.stderr
            return (1 if p.returncode or "warning:" in text else 0), text
        out.append((f"clang-analyzer all_in_one.c {v or 'default'}", job))
    return out


def run(job, tmp):
    name, cmd = job
    out = os.path.join(tmp, name.replace(" ", "_").replace("/", "_"))
    if callable(cmd):
        rc, text = cmd(out)
        return name, rc, text.strip()
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
