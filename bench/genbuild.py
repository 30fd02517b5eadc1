"""The C programs of bench/gen/, built once where the bench scripts share them (speed.py's generators and ceiling,
startup.py's ceiling)."""

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEN_SRC = os.path.join(ROOT, "bench", "gen")
GEN_OUT = os.path.join(ROOT, ".build", "bench", "gen")


def gen(name):
    """Builds bench/gen/<name>.c into .build/bench/gen/<name> when missing or older than its sources."""
    os.makedirs(GEN_OUT, exist_ok=True)
    src = os.path.join(GEN_SRC, name + ".c")
    out = os.path.join(GEN_OUT, name)
    deps = [src, os.path.join(GEN_SRC, "dnsq.h")]
    if not os.path.exists(out) or os.path.getmtime(out) < max(os.path.getmtime(d) for d in deps):
        subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-o", out, src], check=True)
    return out
