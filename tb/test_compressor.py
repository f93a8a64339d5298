"""Bit-exact regressions of the RTL compressor under Verilator: its output words equal the
golden payload (golden.ans.codec.encode_payload at the same chunk size and states), with and
without random stalls on every stream."""

import json

import numpy as np
import pytest

from golden import data
from golden.format import codebooks

from .test_decompressor import ALL_BF16, BF16_BOOKS, bf16, check, stalled
from .vectors import Tensor
from .verilator import ROOT, Harness

CHUNK = 1024


@pytest.fixture(scope="module")
def compressor():
    return Harness("bf16", table_log_max=12, chunk_pairs=CHUNK).build()


@pytest.mark.xdist_group("compressor-bf16-t12-s4")
def test_all_bf16_patterns_every_table_log_and_codebook(compressor):
    tensors = [Tensor.compress(ALL_BF16, [book], max_table_log=log, min_table_log=log,
                               chunk_pairs=CHUNK) for book in BF16_BOOKS for log in range(8, 13)]
    check(compressor.run(stalled(tensors, "all-bf16", 3), "all-bf16"))


@pytest.mark.xdist_group("compressor-bf16-t12-s4")
def test_real_minilm_tensors_and_throughput(compressor):
    import ml_dtypes  # noqa: F401 (registers bfloat16 with numpy for safetensors)
    from safetensors.numpy import load_file
    tensors = []
    for name, v in load_file(str(data.minilm_bf16())).items():
        if str(v.dtype) == "bfloat16":
            x = np.ascontiguousarray(v).view(np.uint16).ravel()[:20000]
            tensors.append(Tensor.compress(x, BF16_BOOKS, chunk_pairs=CHUNK, name=name))
    big = bf16(np.random.default_rng(1), 64 * CHUNK, 0.05)
    results = compressor.run(stalled(tensors, "minilm", 5) +
                             [{"tensors": [Tensor.compress(big, BF16_BOOKS, chunk_pairs=CHUNK)],
                               "name": "throughput"}], "minilm")
    check(results)
    r = results[-1]
    rate = r["in_count"] / (r["in_last"] - r["in_first"] + 1)
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "throughput-compressor.json").write_text(json.dumps(
        {"pairs_per_clock": rate, "pairs": r["in_count"],
         "source": "tb/test_compressor.py::test_real_minilm_tensors_and_throughput"}, indent=1))
    print(f"compressor: sustained {rate:.4f} values per clock (no backpressure)")
    assert rate >= 0.98


@pytest.mark.parametrize("states", [1, 2])
def test_compressor_other_state_counts(states):
    lane = Harness("bf16", table_log_max=10, states=states, chunk_pairs=512).build()
    rng = np.random.default_rng(states)
    tensors = [Tensor.compress(ALL_BF16, BF16_BOOKS, max_table_log=10, states=states,
                               chunk_pairs=512),
               Tensor.compress(bf16(rng, 5000, 0.1), BF16_BOOKS, max_table_log=9,
                               states=states, chunk_pairs=512)]
    check(lane.run(stalled(tensors, f"states{states}", 11), "states"))


@pytest.mark.parametrize("fmt", ["fp16", "int8"])
def test_compressor_other_formats(fmt):
    """fp16 (all 65,536 patterns, both code books) and int8 (every value, magnitude classes):
    the compressor's words equal the golden payload, with and without stalls."""
    lane = Harness(fmt, table_log_max=10, chunk_pairs=1024).build()
    rng = np.random.default_rng(17)
    if fmt == "fp16":
        values = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
        books = [codebooks.get("fp16-exp"), codebooks.get("fp16-sexp")]
        tensors = [Tensor.compress(values, [b], max_table_log=10, chunk_pairs=1024)
                   for b in books]
    else:
        values = np.concatenate([np.arange(256), np.clip(np.round(
            rng.standard_normal(20000) * 12), -128, 127).astype(np.int64) & 255]).astype(np.uint8)
        tensors = [Tensor.compress(values, [codebooks.get("int8")], max_table_log=log,
                                   min_table_log=log, chunk_pairs=1024) for log in (8, 10)]
    check(lane.run(stalled(tensors, fmt, 19), fmt))
