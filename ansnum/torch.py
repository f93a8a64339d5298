"""PyTorch tensors from ``.ansn`` files (needs torch; the rest of ansnum does not)::

    from ansnum.torch import load_state_dict, save_state_dict
    state = load_state_dict("model.ansn")        # {name: torch.Tensor}, as safetensors.torch
    model.load_state_dict(state)
    save_state_dict(model.state_dict(), "model.ansn")
"""

import torch

import ansnum

__all__ = ["load_state_dict", "save_state_dict", "TORCH_DTYPES", "from_bytes"]

#: safetensors dtype -> torch dtype
TORCH_DTYPES = {"BOOL": torch.bool, "U8": torch.uint8, "I8": torch.int8, "U16": torch.uint16,
                "I16": torch.int16, "U32": torch.uint32, "I32": torch.int32,
                "U64": torch.uint64, "I64": torch.int64, "F16": torch.float16,
                "BF16": torch.bfloat16, "F32": torch.float32, "F64": torch.float64,
                "F8_E5M2": torch.float8_e5m2, "F8_E4M3": torch.float8_e4m3fn}


def from_bytes(raw, dtype, shape):
    """A tensor of safetensors ``dtype`` and ``shape`` over the bytes ``raw`` (a bytearray,
    which the tensor keeps)."""
    if len(raw) == 0:
        return torch.empty(tuple(shape), dtype=TORCH_DTYPES[dtype])
    return torch.frombuffer(raw, dtype=TORCH_DTYPES[dtype]).reshape(tuple(shape))


def load_state_dict(path):
    """Every tensor of an ``.ansn`` file (or directory) as ``{name: torch.Tensor}`` (CPU)."""
    with ansnum.safe_open(path, framework="pt") as f:
        return {name: f.get_tensor(name) for name in f.keys()}


def save_state_dict(state_dict, path, *, metadata=None, **options):
    """Write ``{name: torch.Tensor}`` as an ``.ansn`` file: the file ``safetensors.torch.save``
    makes of them, compressed (``options`` as :func:`ansnum.compress`)."""
    from safetensors.torch import save

    from golden.format.container import AtomicFile, compress_bytes, container_bytes
    try:
        buf = save({k: v.detach().cpu().contiguous() for k, v in state_dict.items()},
                   metadata=metadata)
    except Exception as e:
        raise ansnum.AnsnError(f"cannot write these tensors as safetensors: {e}") from None
    index, stored, _ = compress_bytes(buf, **options)
    with AtomicFile(path) as out:
        for block in container_bytes(index, stored):
            out.write(block)
        out.commit()
    return index
