#!/usr/bin/env python3
"""Split README.md's first C block for tests/qemu/guest/readme_quickstart.c:
its preprocessor lines (the #define and #include) into readme_head.inc and
its statements into readme_body.inc, unchanged.

    python3 tests/qemu/guest/readme_extract.py README.md OUTDIR
"""
import os
import re
import sys

readme, out = sys.argv[1], sys.argv[2]
block = re.search(r"```c\n(.*?)```", open(readme).read(), re.S)
if not block:
    sys.exit(f"{readme}: no C block")
lines = block.group(1).splitlines(keepends=True)
os.makedirs(out, exist_ok=True)
for name, keep in (("readme_head.inc", True), ("readme_body.inc", False)):
    with open(os.path.join(out, name), "w") as f:
        f.write(f"/* generated from {readme} by {os.path.basename(__file__)} */\n")
        f.writelines(l for l in lines if l.lstrip().startswith("#") == keep)
