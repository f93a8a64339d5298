"""ansnum: lossless compression of neural-network numbers with coding pairs and tANS.

The Python API over the golden model (:mod:`golden`), for the files the ``ansnum`` command
reads and writes::

    import ansnum

    ansnum.compress("model.safetensors", "model.ansn")          # per tensor, lossless
    ansnum.decompress("model.ansn", "back.safetensors")         # byte-identical
    rows, totals = ansnum.stats("model.safetensors")            # ratio against the bound

    tensors = ansnum.load("model.ansn")                          # {name: numpy array}
    with ansnum.safe_open("model.ansn") as f:                    # one tensor, decoded alone
        w = f.get_tensor("encoder.layer.0.attention.self.query.weight")
    ansnum.save({"w": w}, "small.ansn", metadata={"note": "x"})

    from ansnum.torch import load_state_dict                     # torch tensors (optional)
    state = load_state_dict("model.ansn")

A path may also be a directory made by ``ansnum compress`` from a checkpoint directory (a
sharded checkpoint): its ``*.safetensors.ansn`` shards are read as one set of tensors. bfloat16
and float8 tensors come back as ``ml_dtypes`` arrays. Every failure on bad input raises
:class:`AnsnError` with a one-line message.
"""

import os

import ml_dtypes
import numpy as np

from golden.format import checkpoint
from golden.format.container import (AnsnError, Container, analyse_file, compress_bytes,
                                     compress_file, container_bytes, decompress_file)

__all__ = ["AnsnError", "compress", "decompress", "stats", "load", "save", "safe_open",
           "NUMPY_DTYPES"]

#: safetensors dtype -> numpy dtype of the arrays :func:`load` returns
NUMPY_DTYPES = {"BOOL": np.dtype(bool), "U8": np.dtype("<u1"), "I8": np.dtype("<i1"),
                "U16": np.dtype("<u2"), "I16": np.dtype("<i2"), "U32": np.dtype("<u4"),
                "I32": np.dtype("<i4"), "U64": np.dtype("<u8"), "I64": np.dtype("<i8"),
                "F16": np.dtype("<f2"), "F32": np.dtype("<f4"), "F64": np.dtype("<f8"),
                "BF16": np.dtype(ml_dtypes.bfloat16),
                "F8_E5M2": np.dtype(ml_dtypes.float8_e5m2),
                "F8_E4M3": np.dtype(ml_dtypes.float8_e4m3fn)}


def compress(src, dst, *, progress=False, **options):
    """Compress the safetensors file ``src`` into the ``.ansn`` file ``dst``; returns its index.
    A checkpoint directory ``src`` is compressed into the directory ``dst``.

    ``options`` are those of ``ansnum compress``: ``codebook`` ("auto" or a code book name),
    ``table_log``, ``chunk_pairs``, ``states``, ``tensors_regex``."""
    if os.path.isdir(src):
        return checkpoint.compress_directory(src, dst, progress=progress, **options)
    return compress_file(src, dst, progress=progress, **options)


def decompress(src, dst, *, progress=False):
    """Restore the ``.ansn`` file ``src`` into ``dst``, byte for byte the original file (a
    directory into a directory)."""
    if os.path.isdir(src):
        checkpoint.decompress_directory(src, dst, progress=progress)
    else:
        decompress_file(src, dst, progress=progress)


def stats(path, *, progress=False, **options):
    """``(rows, totals)``: per tensor of the safetensors file ``path``, its size compressed
    with ``options`` and its entropy bound; nothing is written."""
    return analyse_file(path, progress=progress, **options)


def _shards(path):
    if not os.path.isdir(path):
        return [path]
    found = sorted(os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs
                   if f.endswith(".safetensors" + checkpoint.SUFFIX))
    if not found:
        raise AnsnError(f"{path}: no *.safetensors{checkpoint.SUFFIX} files")
    return found


class safe_open:  # noqa: N801 (named after safetensors.safe_open, which it mirrors)
    """Lazy access to the tensors of an ``.ansn`` file or directory, as ``safetensors.safe_open``.

    Opening reads and checks the index and the safetensors header of every file, nothing more;
    :meth:`get_tensor` reads and decodes that one tensor's segment (random access through the
    index), so the others are never touched. ``framework`` is ``"np"`` (numpy arrays) or
    ``"pt"`` (torch tensors).
    """

    def __init__(self, path, framework="np"):
        if framework not in ("np", "numpy", "pt", "torch"):
            raise ValueError(f"framework must be 'np' or 'pt', not {framework!r}")
        self._torch = framework in ("pt", "torch")
        self._files, self._where = [], {}
        try:
            for shard in _shards(path):
                c = Container(shard)
                self._files.append(c)
                for name in c.tensors:
                    if name in self._where:
                        raise AnsnError(f"{shard}: tensor {name!r} is also in "
                                        f"{self._where[name][1]}")
                    self._where[name] = (c, shard)
        except BaseException:
            self.close()
            raise

    def keys(self):
        """Tensor names, in file order."""
        return list(self._where)

    def metadata(self):
        """The safetensors header's ``__metadata__`` (of the first file of a directory)."""
        return self._files[0].metadata

    def dtype(self, name):
        """The safetensors dtype of tensor ``name`` ("BF16", "F32", ...)."""
        return self._where[name][0].tensors[name].dtype

    def shape(self, name):
        return list(self._where[name][0].tensors[name].shape)

    def get_tensor(self, name):
        """Tensor ``name``, read and decoded alone."""
        c = self._where[name][0]
        seg = c.tensors[name]
        raw = c.restore_tensor(name)
        if self._torch:
            from .torch import from_bytes
            return from_bytes(raw, seg.dtype, seg.shape)
        return np.frombuffer(raw, NUMPY_DTYPES[seg.dtype]).reshape(seg.shape)

    def close(self):
        for c in self._files:
            c.close()
        self._files = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def load(path):
    """Every tensor of an ``.ansn`` file (or directory) as ``{name: numpy array}``."""
    with safe_open(path) as f:
        return {name: f.get_tensor(name) for name in f.keys()}


def save(tensors, path, *, metadata=None, **options):
    """Write ``{name: numpy array}`` as an ``.ansn`` file: the safetensors file that
    ``safetensors.numpy.save`` makes of them, compressed with ``options`` (as :func:`compress`).
    bfloat16 and float8 arrays are ``ml_dtypes`` arrays."""
    from safetensors.numpy import save as safetensors_save

    from golden.format.container import AtomicFile
    for name, array in tensors.items():
        if not isinstance(array, np.ndarray):
            raise AnsnError(f"tensor {name!r}: not a numpy array ({type(array).__name__})")
    try:
        buf = safetensors_save({k: np.ascontiguousarray(v) for k, v in tensors.items()},
                               metadata=metadata)
    except Exception as e:  # safetensors' own errors: unsupported dtype, bad metadata
        raise AnsnError(f"cannot write these tensors as safetensors: {e}") from None
    index, stored, _ = compress_bytes(buf, **options)
    with AtomicFile(path) as out:
        for block in container_bytes(index, stored):
            out.write(block)
        out.commit()
    return index
