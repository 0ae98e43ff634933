#!/usr/bin/env python3
"""Run the libFuzzer targets (build/fuzz/fuzz_*) and report per target.

    python3 tests/fuzz/run.py --seconds 60 build/fuzz/fuzz_blk_split ...
        fuzz each target for 60 s, starting from its committed corpus
        (tests/fuzz/corpus/<name>/) plus what earlier runs found
        (build/fuzz/corpus/<name>/, new inputs go there); prints executions,
        coverage and corpus size per target.
    python3 tests/fuzz/run.py --smoke --seconds 10 build/fuzz/...
        CI: replay every committed input once, then fuzz 10 s from it.
    python3 tests/fuzz/run.py --merge build/fuzz/...
        fold build/fuzz/corpus/<name>/ into the committed corpus, keeping
        only inputs that add coverage.

Prints `PASS fuzz <name>: ...` or `FAIL fuzz <name>: ...` per target (a
crash, leak, timeout or property violation; the input is saved under
build/fuzz/artifacts/, its path printed, and the input itself on the next
line in base64, so a CI log is enough to replay it). Exit status 1 if any
failed.
"""
import argparse
import base64
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = dict(os.environ, ASAN_OPTIONS="allocator_may_return_null=1:detect_leaks=1",
           UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")


def corpus_dirs(name):
    committed = os.path.join(ROOT, "tests", "fuzz", "corpus", name)
    work = os.path.join(ROOT, "build", "fuzz", "corpus", name)
    os.makedirs(committed, exist_ok=True)
    os.makedirs(work, exist_ok=True)
    return committed, work


def run(cmd, seconds):
    """Run libFuzzer; return (exit status, combined output)."""
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           errors="replace", timeout=seconds + 120)
        return p.returncode, p.stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout or ""
        if isinstance(out, bytes):
            out = out.decode("utf-8", "replace")
        return -1, out + "\n(libFuzzer did not stop in time)"


def stat(out, key):
    m = re.findall(r"stat::%s:\s+(\d+)" % key, out)
    return int(m[-1]) if m else 0


def why(out):
    """The most telling line of a failed run."""
    for pat in ("fuzz property violated", "fuzz: ", "ERROR: AddressSanitizer", "runtime error", "ERROR: libFuzzer",
                "SUMMARY"):
        for line in out.splitlines():
            if pat in line:
                return line.strip()
    return out.strip().splitlines()[-1] if out.strip() else "no output"


def fuzz(binary, seconds, smoke):
    name = os.path.basename(binary)
    committed, work = corpus_dirs(name)
    art = os.path.join(ROOT, "build", "fuzz", "artifacts")
    os.makedirs(art, exist_ok=True)
    common = [binary, "-timeout=10", "-rss_limit_mb=2048", "-max_len=4096", "-print_final_stats=1",
              "-artifact_prefix=" + os.path.join(art, name + "-")]
    seeds = len(os.listdir(committed))
    if smoke:
        # Every committed input once (exits non-zero on the first that fails).
        rc, out = run(common + ["-runs=0", committed], 300)
        if rc != 0:
            return False, f"committed corpus input fails: {why(out)}"
        with tempfile.TemporaryDirectory(prefix="vt-fuzz-") as scratch:   # new inputs are thrown away
            rc, out = run(common + ["-max_total_time=%d" % seconds, scratch, committed], seconds)
    else:
        rc, out = run(common + ["-max_total_time=%d" % seconds, work, committed], seconds)
    cov = re.findall(r"cov: (\d+) ft: (\d+)", out)
    cov, ft = (int(cov[-1][0]), int(cov[-1][1])) if cov else (0, 0)
    execs = stat(out, "number_of_executed_units")
    new = stat(out, "new_units_added")
    if rc != 0:
        saved = re.findall(r"Test unit written to (\S+)", out)
        msg = f"{why(out)} after {execs} runs" + (f"; input saved: {saved[-1]}" if saved else "")
        if saved and os.path.exists(saved[-1]):
            # The input itself, so that a failure on a machine that is gone
            # afterwards (CI) can be replayed: base64 -d > x; binary x.
            with open(saved[-1], "rb") as f:
                msg += "\n    input (base64): " + base64.b64encode(f.read()).decode()
        return False, msg
    rate = execs / seconds if seconds else 0
    return True, (f"{execs} runs in {seconds} s ({rate:.0f}/s), coverage {cov} edges / {ft} features, "
                  f"{seeds} committed seeds, {new} new inputs")


def merge(binary):
    name = os.path.basename(binary)
    committed, work = corpus_dirs(name)
    rc, out = run([binary, "-merge=1", "-max_len=4096", "-timeout=10", committed, work], 600)
    return rc == 0, f"{len(os.listdir(committed))} inputs in tests/fuzz/corpus/{name}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--merge", action="store_true")
    ap.add_argument("targets", nargs="+")
    a = ap.parse_args()
    failed = 0
    for t in a.targets:
        ok, msg = merge(t) if a.merge else fuzz(t, a.seconds, a.smoke)
        print(f"{'PASS' if ok else 'FAIL'} fuzz {os.path.basename(t)}: {msg}", flush=True)
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
