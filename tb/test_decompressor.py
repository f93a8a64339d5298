"""Bit-exact regressions of the RTL decompressor under Verilator (cocotb 2.x via cocotb_tools).

Every tensor is compressed by the golden model; the harness (tb/harness.sv) streams the golden
payload into the Verilog exported from Amaranth, with and without random stalls on every
stream, and compares every output value and ``last`` flag in order.
"""

import numpy as np
import pytest

from golden import data
from golden.ans import codec
from golden.format import codebooks

from .vectors import Tensor
from .verilator import Harness, record

ALL_BF16 = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
BF16_BOOKS = [codebooks.get("bf16-exp"), codebooks.get("bf16-sexp")]


def bf16(rng, n, scale):
    import ml_dtypes
    return (rng.standard_normal(n) * scale).astype(ml_dtypes.bfloat16).view(np.uint16)


def check(results):
    for r in results:
        assert not r["hung"], r
        assert r["errors"] == 0, r
        assert r["received"] == r["expected"], r
        assert r["mismatches"] == 0, r


@pytest.fixture(scope="module")
def main_lane():
    return Harness("bf16", table_log_max=12).build()


def stalled(tensors, name, seed):
    return [{"tensors": tensors, "name": name},
            {"tensors": tensors, "name": name + "/stalls", "in_stall": 0.35,
             "out_stall": 0.35, "seed": seed}]


@pytest.mark.xdist_group("bf16-t12")
def test_all_bf16_patterns_every_table_log_and_codebook(main_lane):
    tensors = [Tensor.compress(ALL_BF16, [book], max_table_log=log, min_table_log=log,
                               chunk_pairs=8192, name=f"{book.name}/{log}")
               for book in BF16_BOOKS for log in range(8, 13)]
    assert {t.table.table_log for t in tensors} == set(range(8, 13))
    check(main_lane.run(stalled(tensors, "all-bf16", 3), "all-bf16"))


@pytest.mark.xdist_group("bf16-t12")
def test_random_tensors_and_escapes(main_lane):
    rng = np.random.default_rng(1)
    tensors = []
    for i, scale in enumerate([1e-3, 0.02, 1.0, 300.0]):
        x = bf16(rng, int(rng.integers(1, 30000)), scale)
        tensors.append(Tensor.compress(x, BF16_BOOKS, max_table_log=8 + i,
                                       chunk_pairs=int(rng.integers(1, 5000))))
    # small alphabet + escape: most pairs escape
    x = bf16(rng, 20000, 1.0)
    book = BF16_BOOKS[0]
    codes, extras = book.encode(x)
    hist = np.bincount(codes, minlength=256)
    top = sorted(np.argsort(-hist)[:5].tolist())
    from golden.ans import tans
    counts = tans.normalize_counts(np.append(hist[top], np.isin(codes, top, invert=True).sum()), 9)
    table = codec.Table(book, 9, tuple(top), tuple(int(c) for c in counts), book.code_bits + 8)
    tensors.append(Tensor(x, table, codec.encode_payload(table, codes, extras, chunk_pairs=3000)))
    tensors.append(Tensor.compress(np.full(5000, 0x3F80, np.uint16), BF16_BOOKS))  # one symbol
    check(main_lane.run(stalled(tensors, "random", 5), "random"))


@pytest.mark.xdist_group("bf16-t12")
def test_real_minilm_tensors(main_lane):
    """Every BF16 tensor of all-MiniLM-L6-v2, cut to its first 40,000 values here
    (``make sim`` runs them whole)."""
    import ml_dtypes  # noqa: F401 (registers bfloat16 with numpy for safetensors)
    from safetensors.numpy import load_file
    tensors = []
    for name, v in load_file(str(data.minilm_bf16())).items():
        if str(v.dtype) != "bfloat16":
            continue
        x = np.ascontiguousarray(v).view(np.uint16).ravel()[:40000]
        tensors.append(Tensor.compress(x, codebooks.for_dtype("BF16"), name=name))
    assert len(tensors) > 90
    results = main_lane.run(stalled(tensors, "minilm", 7), "minilm")
    check(results)
    nostall = results[0]
    rate = nostall["expected"] / nostall["busy_cycles"]
    record("throughput.json", {
        "pairs_per_clock": rate, "source": "tb/test_decompressor.py::test_real_minilm_tensors",
        "pairs": nostall["expected"], "busy_cycles": nostall["busy_cycles"]})
    print(f"sustained pairs per clock (no backpressure, headers included): {rate:.4f}")
    assert rate >= 0.98


@pytest.mark.xdist_group("bf16-t12")
def test_bad_payloads_flag_error_never_hang_and_recover(main_lane):
    """Each corrupted tensor must raise the error flag and drain; the next tensor, sent to the
    same running DUT, must decode bit-exact."""
    rng = np.random.default_rng(9)
    x = bf16(rng, 6000, 0.05)
    good = Tensor.compress(x, BF16_BOOKS, max_table_log=11, chunk_pairs=1500)
    p = good.payload
    flip = p.copy()
    flip[len(p) // 2] ^= 1 << 7
    magic = p.copy()
    magic[0] ^= 0x10000000
    crc = p.copy()
    crc[2] ^= 1 << 31
    cases = {"flip": flip, "magic": magic, "crc": crc, "truncated": p[:len(p) - 20],
             "trailing": np.concatenate([p, p[3:9]]),
             "foreign": rng.integers(0, 1 << 32, 300).astype(np.uint32)}
    batches = []
    for name, bad in cases.items():
        with pytest.raises(codec.PayloadError):
            codec.decode_payload(good.table, bad, len(x))
        batches.append({"tensors": [Tensor(np.zeros(0, np.uint16), good.table, bad)],
                        "name": name, "in_stall": 0.2, "out_stall": 0.2, "seed": 2})
        batches.append({"tensors": [good], "name": name + "/next", "in_stall": 0.2,
                        "out_stall": 0.2, "seed": 3})
    results = main_lane.run(batches, "bad")
    for bad_run, next_run in zip(results[::2], results[1::2]):
        assert not bad_run["hung"], bad_run
        assert bad_run["errors"] == 1, bad_run
        check([next_run])


@pytest.mark.parametrize("states", [1, 2])
def test_other_state_counts(states):
    """Chunks of 1 or 2 states (the ring decodes them at a quarter and half the rate)."""
    with_states = Harness("bf16", table_log_max=10).build()
    rng = np.random.default_rng(states)
    tensors = [Tensor.compress(ALL_BF16, BF16_BOOKS, max_table_log=10, states=states,
                               chunk_pairs=5000),
               Tensor.compress(bf16(rng, 20000, 0.1), BF16_BOOKS, max_table_log=9,
                               states=states, chunk_pairs=777)]
    check(with_states.run(stalled(tensors, f"states{states}", 11), "states"))


def test_fp16_lane_all_patterns():
    lane = Harness("fp16", table_log_max=10).build()
    all16 = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    books = [codebooks.get("fp16-exp"), codebooks.get("fp16-sexp")]
    tensors = [Tensor.compress(all16, [b], max_table_log=10, chunk_pairs=10000) for b in books]
    check(lane.run(stalled(tensors, "fp16", 13), "fp16"))


def test_int8_lane_every_value():
    """Quantised int8 (magnitude-class code book): every value, table logs 8 and 10, stalls."""
    lane = Harness("int8", table_log_max=10).build()
    rng = np.random.default_rng(23)
    values = np.concatenate([np.arange(256), np.clip(np.round(
        rng.standard_normal(30000) * 12), -128, 127).astype(np.int64) & 255]).astype(np.uint8)
    tensors = [Tensor.compress(values, [codebooks.get("int8")], max_table_log=log,
                               min_table_log=log, chunk_pairs=5000) for log in (8, 10)]
    check(lane.run(stalled(tensors, "int8", 29), "int8"))
