"""Peak memory of ``ansnum compress`` and ``ansnum decompress`` on a file of several GB
(``make bench-memory``, ``BENCH_GB=4``).

Writes a safetensors file of bf16 and F32 tensors of mixed sizes (the largest a quarter of the
file, at most 1 GiB) into ``build/bench-memory/``, compresses and decompresses it with the
command, each in a fresh process, checks that the file comes back byte for byte and prints, per
direction, the peak resident memory (the process's own ``VmHWM``) against the largest tensor:
``peak = constant + k x largest``, the constant being the peak of the same command on a small
file. The files are removed at the end.
"""

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import ml_dtypes
import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# the command in a fresh process, printing its own peak RSS (kB) last on stderr
_RUN = ("import sys; from golden import cli; rc = cli.main(sys.argv[1:]); "
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0], "
        "file=sys.stderr); sys.exit(rc)")


def _sizes(total):
    """Tensor sizes (bytes) adding up to about ``total``: one large, halves, then small ones."""
    largest = min(1 << 30, total // 4) & ~7
    sizes, left, s = [largest], total - largest, largest
    while left > 1 << 20:
        s = max(1 << 20, min(s, left) // 2) & ~7
        sizes += [s, s] if left >= 2 * s else [s]
        left -= s * (2 if left >= 2 * s else 1)
    return sizes


def write_model(path, total):
    """A safetensors file of about ``total`` bytes, written a piece at a time."""
    rng = np.random.default_rng(0)
    sizes = _sizes(total)
    header, offset, plan = {}, 0, []
    for k, size in enumerate(sizes):
        dtype = "F32" if k % 3 == 2 else "BF16"  # every third an F32 of bf16 values
        item = 4 if dtype == "F32" else 2
        n = size // item
        header[f"layer.{k}.weight"] = {"dtype": dtype, "shape": [n],
                                       "data_offsets": [offset, offset + n * item]}
        plan.append((dtype, n))
        offset += n * item
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for dtype, n in plan:
            for start in range(0, n, 1 << 24):
                x = rng.standard_normal(min(1 << 24, n - start), np.float32) * 0.02
                b = x.astype(ml_dtypes.bfloat16)
                f.write((b.astype(np.float32) if dtype == "F32" else b).tobytes())
    return max(sizes), plan


def run(*argv):
    """``(seconds, peak RSS in MB)`` of the command in a fresh process."""
    start = time.time()
    r = subprocess.run([sys.executable, "-c", _RUN, "-q", *map(str, argv)], cwd=ROOT,
                       capture_output=True, text=True)
    seconds = time.time() - start
    if r.returncode:
        raise SystemExit(f"bench-memory: {argv[0]} failed: {r.stderr.strip()}")
    return seconds, int(r.stderr.split()[-1]) / 1024


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gigabytes", type=float, default=4.0, help="size of the generated file")
    p.add_argument("--dir", type=Path, default=ROOT / "build" / "bench-memory")
    p.add_argument("--keep", action="store_true", help="keep the files")
    args = p.parse_args(argv)
    work = args.dir
    work.mkdir(parents=True, exist_ok=True)
    src, packed, back = work / "model.safetensors", work / "model.ansn", work / "back.safetensors"
    small, small_packed = work / "small.safetensors", work / "small.ansn"
    try:
        t0 = time.time()
        largest, plan = write_model(src, int(args.gigabytes * 2**30))
        size = src.stat().st_size
        print(f"bench-memory: {size / 2**30:.2f} GiB, {len(plan)} tensors, largest "
              f"{largest / 2**20:.0f} MiB (written in {time.time() - t0:.0f} s)", flush=True)
        write_model(small, 1 << 20)
        _, base_c = run("compress", small, small_packed)
        _, base_d = run("decompress", small_packed, work / "small.back")
        t_c, rss_c = run("compress", src, packed)
        t_d, rss_d = run("decompress", packed, back)
        same = subprocess.run(["cmp", "-s", src, back]).returncode == 0
        out = packed.stat().st_size
        mib = 2**20
        for what, t, rss, base in (("compress", t_c, rss_c, base_c),
                                   ("decompress", t_d, rss_d, base_d)):
            k = (rss - base) / (largest / mib)
            print(f"{what:<10} peak RSS {rss:7.0f} MB = {base:.0f} MB + {k:.2f} x largest "
                  f"tensor ({largest / mib:.0f} MiB)   {t:6.1f} s, {size / mib / t:6.1f} MB/s")
        print(f"file {size} -> {out} bytes, ratio {size / out:.4f}, restored "
              f"{'byte for byte' if same else 'DIFFERENT'}")
        return 0 if same else 1
    finally:
        if not args.keep:
            for f in (src, packed, back, small, small_packed, work / "small.back"):
                if f.exists():
                    os.remove(f)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
