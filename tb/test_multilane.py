"""Bit-exact regressions of the multi-lane decompressor under Verilator, 1, 2, 4 and 8 lanes
behind an input of 4 words per beat (1 and 2 words per beat: tests/hdl/multilane/test_multilane_decompressor.py).

The harness (tb/harness.sv, built with the multi-lane top's beat width) streams golden payloads
in and compares every output beat (values, count, ``last``) in order with the beats the golden
values make (tb.vectors.multilane_beats), with and without random stalls on every stream. The
rate without stalls is printed and written to ``build/throughput-multilane.json``.
"""

import numpy as np
import pytest

from golden.ans import codec
from golden.format import codebooks

from .vectors import Tensor
from .verilator import Harness, record

ALL_BF16 = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
BF16_BOOKS = [codebooks.get("bf16-exp"), codebooks.get("bf16-sexp")]
#: (lanes, words per input beat); beats of 1 and 2 words: tests/hdl/multilane/test_multilane_decompressor.py
LANES = [(1, 4), (2, 4), (4, 4), (8, 4)]
#: Pairs per chunk for the rate: a lane's output FIFO (512 beats of `lanes` values) holds a chunk
#: with room for its partial and end beats, so the lane decodes the next chunk while the
#: collector drains this one.
CHUNK = 4000
#: Chunks of the rate test's tensor: a multiple of every lane count measured, so that the rate
#: is the lanes' and not the share of a last round of chunks that only some lanes get (a tensor
#: of c chunks keeps lanes busy for ceil(c / lanes) chunk times).
RATE_CHUNKS = 128


def bf16(rng, n, scale):
    import ml_dtypes
    return (rng.standard_normal(n) * scale).astype(ml_dtypes.bfloat16).view(np.uint16)


def check(results):
    for r in results:
        assert not r["hung"], r
        assert r["errors"] == 0, r
        assert r["received"] == r["expected"], r
        assert r["mismatches"] == 0, r


def stalled(tensors, name, seed):
    return [{"tensors": tensors, "name": name},
            {"tensors": tensors, "name": name + "/stalls", "in_stall": 0.35,
             "out_stall": 0.35, "seed": seed}]


_harnesses = {}


def group(top, lanes, width=4):
    """The xdist group of the tests on one harness: one worker builds it and runs them all
    (another would wait for its lock)."""
    return pytest.mark.xdist_group(f"{top}-{lanes}x{width}")


def configs(top, lanes_widths, slow=()):
    """Parameters (lanes, width), each in its harness's group; lane counts in ``slow`` only
    run in ``make test-all`` (CI time: ``make test`` covers 2, 4 and 8 lanes)."""
    return [pytest.param(lanes, width, marks=[group(top, lanes, width)] +
                         ([pytest.mark.slow] if lanes in slow else []))
            for lanes, width in lanes_widths]


def harness(lanes, in_width=4):
    if (lanes, in_width) not in _harnesses:
        _harnesses[lanes, in_width] = Harness("bf16", table_log_max=10, lanes=lanes,
                                              in_width=in_width).build()
    return _harnesses[lanes, in_width]


@pytest.mark.parametrize("lanes, in_width", configs("multilane", LANES, slow={1}))
def test_all_bf16_patterns_and_random_tensors(lanes, in_width):
    """All 65,536 bf16 patterns under both code books (chunks that fit the lane buffers and
    chunks that do not), and random tensors with random chunk sizes, back to back."""
    rng = np.random.default_rng(lanes)
    tensors = [Tensor.compress(ALL_BF16, [book], max_table_log=10, chunk_pairs=chunk,
                               name=f"all/{book.name}/{chunk}")
               for book, chunk in zip(BF16_BOOKS, [1024, 9000])]
    for scale in [1e-3, 0.02, 1.0, 300.0]:
        x = bf16(rng, int(rng.integers(1, 20000)), scale)
        tensors.append(Tensor.compress(x, BF16_BOOKS, max_table_log=int(rng.integers(8, 11)),
                                       chunk_pairs=int(rng.integers(1, 3000))))
    tensors.append(Tensor.compress(np.full(3000, 0x3F80, np.uint16), BF16_BOOKS,
                                   chunk_pairs=7))                     # one symbol, tiny chunks
    assert sum(len(t.values) for t in tensors) > 2 * len(ALL_BF16)
    # with 35 % stalls on every stream only: test_rate_without_stalls streams without
    # (the multi-lane models simulate slowly; CI time)
    batches = stalled(tensors, "all-random", 3 + lanes)[1:]
    check(harness(lanes, in_width).run(batches, "all-random"))


@pytest.mark.parametrize("lanes, in_width", configs("multilane", LANES, slow={1, 8}))
def test_rate_without_stalls(lanes, in_width):
    """bf16 weights (sigma 0.02), 128 chunks of 4000 pairs (4 states): values per clock while
    busy (lane start-up and drain included), against the bounds (one value per lane per clock;
    the input's values per beat)."""
    rng = np.random.default_rng(0)
    t = Tensor.compress(bf16(rng, RATE_CHUNKS * CHUNK, 0.02), BF16_BOOKS, max_table_log=10,
                        chunk_pairs=CHUNK, name="weights")
    (r,) = harness(lanes, in_width).run([{"tensors": [t], "name": "rate"}], "rate")
    check([r])
    rate = len(t.values) / r["busy_cycles"]
    bound = len(t.values) / len(t.payload) * in_width
    print(f"{lanes} lanes x {in_width} words in: {rate:.3f} values per clock (input bound "
          f"{bound:.3f}, {len(t.values)} values, {r['busy_cycles']} busy cycles)")
    assert rate <= min(lanes, bound)
    if in_width != 4:
        return
    record("throughput-multilane.json", {
        str(lanes): round(rate, 4), "input_bound": round(bound, 4),
        "source": (f"tb/test_multilane.py::test_rate_without_stalls: bf16 weights, sigma 0.02, "
                   f"table log 10, {RATE_CHUNKS} chunks of {CHUNK} pairs; values per busy clock")})
    # fpga.build reads pairs per clock per lane from build/throughput.json, "<top>-<lanes>";
    # one lane of top "decompressor" is the Decompressor (tb/test_decompressor.py), not this
    entry = {"pairs_per_clock": rate / lanes, "source": "tb/test_multilane.py (total / lanes)"}
    record("throughput.json", {f"multilane-{lanes}": entry,
                               **({f"decompressor-{lanes}": entry} if lanes > 1 else {})})


@pytest.mark.parametrize("lanes, in_width", configs("multilane", [(2, 4), (4, 4)], slow={2}))
def test_bad_payloads_flag_error_never_hang_and_recover(lanes, in_width):
    rng = np.random.default_rng(9)
    x = bf16(rng, 6000, 0.05)
    good = Tensor.compress(x, BF16_BOOKS, max_table_log=10, chunk_pairs=700)
    p = good.payload
    flip = p.copy()
    flip[len(p) // 2] ^= 1 << 7
    magic = p.copy()
    magic[0] ^= 0x10000000
    cases = {"flip": flip, "magic": magic, "truncated": p[:len(p) - 20],
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
    results = harness(lanes, in_width).run(batches, "bad")
    for bad_run, next_run in zip(results[::2], results[1::2]):
        assert not bad_run["hung"], bad_run
        assert bad_run["errors"] == 1, bad_run
        check([next_run])
