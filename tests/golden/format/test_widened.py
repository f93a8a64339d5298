"""F32 tensors whose values are all bfloat16 values: coded as bf16 pairs, restored bit for bit."""

import ml_dtypes
import numpy as np
import pytest

from golden.format import container

from ansnum_helpers import ALL_BF16, safetensors_bytes


def _f32_of_bf16(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _round_trip(buf, **options):
    index, stored, _ = container.compress_bytes(buf, **options)
    packed = b"".join(container.container_bytes(index, stored))
    assert b"".join(container.decompress_bytes(packed)) == buf
    return {s["name"]: s for s in index["segments"] if s["kind"] == "tensor"}, packed


def test_every_bf16_pattern_in_f32():
    """All 65536 bf16 patterns (NaNs with payloads, infinities, -0, subnormals) as F32."""
    x = _f32_of_bf16(np.random.default_rng(1).permutation(ALL_BF16))
    segs, _ = _round_trip(safetensors_bytes([("x", "F32", [len(x)], x.tobytes())]),
                          chunk_pairs=5000)
    assert segs["x"]["coded_as"] == "BF16"
    assert segs["x"]["table"]["codebook"].startswith("bf16-")


def test_widened_beats_fp32_and_only_when_exact():
    rng = np.random.default_rng(2)
    w = (rng.standard_normal(20000) * 0.02).astype(ml_dtypes.bfloat16).astype(np.float32)
    near = w.copy()
    near.view(np.uint32)[12345] |= 1  # one value not a bf16 value: coded as fp32
    buf = safetensors_bytes([("w", "F32", [100, 200], w.tobytes()),
                             ("near", "F32", [20000], near.tobytes()),
                             ("bf", "BF16", [20000], w.astype(ml_dtypes.bfloat16).tobytes())])
    segs, _ = _round_trip(buf)
    assert segs["w"].get("coded_as") == "BF16" and "coded_as" not in segs["near"]
    assert segs["near"]["table"]["codebook"].startswith("fp32-")
    # the payload is the bf16 tensor's payload, word for word (the RTL decodes it as bf16)
    index, stored, _ = container.compress_bytes(buf)
    by_name = {s.get("name"): k for k, s in enumerate(index["segments"])}
    assert stored[by_name["w"]] == stored[by_name["bf"]]
    assert segs["w"]["stored"] < segs["near"]["stored"] * 0.7
    # a named fp32 code book is used as named; a named bf16 code book applies to the view
    segs, _ = _round_trip(buf, codebook="fp32-sexp")
    assert segs["w"]["table"]["codebook"] == "fp32-sexp" and "coded_as" not in segs["w"]
    segs, _ = _round_trip(buf, codebook="bf16-sexp")
    assert segs["w"]["table"]["codebook"] == "bf16-sexp" and segs["w"]["coded_as"] == "BF16"
    assert segs["near"]["table"]["codebook"].startswith("fp32-")


@pytest.mark.parametrize("values", [np.zeros(7, np.float32), np.full(3, -0.0, np.float32),
                                    np.array([np.inf, -np.inf, np.nan, 1.0], np.float32)])
def test_small_and_special(values):
    _round_trip(safetensors_bytes([("v", "F32", [len(values)], values.tobytes())]))


def test_widened_restore_is_checked():
    """A widened segment that claims another dtype, or a table of the wrong width, is refused."""
    from ansnum_helpers import container_with_index
    w = _f32_of_bf16(np.random.default_rng(3).integers(0x3c00, 0x3f00, 3000).astype(np.uint16))
    _, packed = _round_trip(safetensors_bytes([("w", "F32", [3000], w.tobytes())]))
    for edit, contains in [
            (lambda i: i["segments"][1].pop("coded_as"), "does not code F32"),
            (lambda i: i["segments"][1].update(coded_as="F16"), "'coded_as' must be"),
            (lambda i: i["segments"][1].update(coded_as=True), "'coded_as' must be")]:
        with pytest.raises(container.AnsnError, match=contains):
            container.decompress_bytes(container_with_index(packed, edit))
