#!/usr/bin/env python3
"""Run every test suite and print one summary line: `N passed, N failed`
(plus `, N skipped` when something was skipped).

Each suite is a command that prints `PASS <name>`, `FAIL <name>: why` or
`SKIP <name>: why` lines; its own summary line is ignored and recounted
here. A suite that exits non-zero without printing a FAIL line counts as
one failure, so a crash can never look like success.

    python3 tests/run.py                 # everything
    python3 tests/run.py compile unit    # chosen suites
    VT_FILTER=riscv64 python3 tests/run.py qemu-blk
"""
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable or "python3"

SUITES = [
    ("compile", [PY, "tests/compile/run.py"]),
    ("unit", ["make", "-s", "unit-run"]),
    ("unit-msan", ["make", "-s", "unit-msan-run"]),
    ("unit-tcc", ["make", "-s", "unit-tcc-run"]),
    ("unit-mips", ["make", "-s", "unit-mips-run"]),
    ("fuzz-smoke", ["make", "-s", "fuzz-smoke"]),
    ("boot-size", [PY, "bench/boot_size.py", "--check"]),
    ("qemu-selftest", [PY, "tests/qemu/selftest.py"]),
    ("qemu-blk", [PY, "tests/qemu/test_blk.py"]),
    ("qemu-boot-stage", [PY, "tests/qemu/test_boot_stage.py"]),
    ("qemu-net", [PY, "tests/qemu/test_net.py"]),
    ("qemu-input", [PY, "tests/qemu/test_input.py"]),
    ("qemu-gpu", [PY, "tests/qemu/test_gpu.py"]),
    ("qemu-console", [PY, "tests/qemu/test_console.py"]),
    ("qemu-rng", [PY, "tests/qemu/test_rng.py"]),
    ("qemu-fault", [PY, "tests/qemu/test_fault.py"]),
    ("qemu-irq", [PY, "tests/qemu/test_irq.py"]),
    ("examples", [PY, "tests/qemu/test_examples.py"]),
    ("qemu-boot", [PY, "tests/qemu/test_boot.py"]),
    ("harness", [PY, "tests/harness/test_harness.py"]),
]


def suite_exists(cmd):
    """A script that exists, or a make target the Makefile has."""
    if cmd[0] == "make":
        rules = open(os.path.join(ROOT, "Makefile")).read()
        return any(line.startswith(cmd[-1] + ":") for line in rules.splitlines())
    script = next((c for c in cmd if c.endswith(".py")), None)
    return script is None or os.path.exists(os.path.join(ROOT, script))


def main():
    want = sys.argv[1:]
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    for name, cmd in SUITES:
        if want and name not in want:
            continue
        if not suite_exists(cmd):
            continue
        print(f"== {name}", flush=True)
        t0 = time.time()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seen_fail = False
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            word = line.split(" ", 1)[0]
            if word in counts:
                counts[word] += 1
                seen_fail |= word == "FAIL"
        rc = proc.wait()
        if rc != 0 and not seen_fail:
            counts["FAIL"] += 1
            print(f"FAIL {name}: suite exited with status {rc} without reporting a failure")
        print(f"== {name} done in {time.time() - t0:.0f}s", flush=True)
    summary = f"{counts['PASS']} passed, {counts['FAIL']} failed"
    if counts["SKIP"]:
        summary += f", {counts['SKIP']} skipped"
    print(summary)
    return 1 if counts["FAIL"] or counts["PASS"] == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
