"""Bit-exact regressions of the multi-lane compressor under Verilator, 1, 2, 4 and 8 lanes behind
output beats of 4 words (1 and 2 words: tests/hdl/multilane/test_multilane_compressor.py).

The harness (tb/harness.sv with COMPRESSOR_BEATS) streams the values in, ``lanes`` per beat,
and compares every output beat (words, count, ``last``) in order with the golden payload in
beats (tb.vectors.compressor_beat_commands), with and without random stalls on every stream.
The rate without stalls is printed and written to ``build/throughput.json``.
"""

import numpy as np
import pytest

from hdl.multilane.compressor import chunk_pairs_for

from .test_multilane import ALL_BF16, BF16_BOOKS, bf16, check, configs, group, stalled
from .vectors import Tensor, compressor_beat_commands, word_beats
from .verilator import Harness, record

LANES = [(1, 4), (2, 4), (4, 4), (8, 4)]    # (lanes, words per output beat; 1 and 2: tests/)
#: Pairs per chunk: the top's default (the same for every lane count here), as fpga.build
#: builds it.
CHUNK = chunk_pairs_for(8)
assert all(chunk_pairs_for(lanes) == CHUNK for lanes, _ in LANES)
#: Chunks of the rate test's tensor (a multiple of every lane count).
RATE_CHUNKS = 128

_harnesses = {}


def harness(lanes, out_width=4):
    if (lanes, out_width) not in _harnesses:
        _harnesses[lanes, out_width] = Harness(
            "bf16", table_log_max=10, chunk_pairs=CHUNK, lanes=lanes, out_width=out_width).build()
    return _harnesses[lanes, out_width]


def compress(values, **options):
    return Tensor.compress(values, BF16_BOOKS, chunk_pairs=CHUNK, **options)


@pytest.mark.parametrize("lanes, out_width", configs("mlcompressor", LANES, slow={1}))
def test_all_bf16_patterns_and_random_tensors(lanes, out_width):
    """All 65,536 bf16 patterns under both code books, and random tensors (1 to 20,000 values,
    table logs 8 to 10) back to back: every beat equals the golden payload's."""
    rng = np.random.default_rng(lanes + 10 * out_width)
    tensors = [compress(ALL_BF16[rng.permutation(len(ALL_BF16))], max_table_log=10)]
    tensors += [Tensor.compress(ALL_BF16, [book], max_table_log=10, chunk_pairs=CHUNK)
                for book in BF16_BOOKS]
    for scale in [1e-3, 0.02, 1.0, 300.0]:
        x = bf16(rng, int(rng.integers(1, 20000)), scale)
        tensors.append(compress(x, max_table_log=int(rng.integers(8, 11))))
    tensors.append(compress(np.full(3000, 0x3F80, np.uint16)))            # one symbol
    tensors.append(compress(bf16(rng, 1, 0.1)))                           # one value
    # with 35 % stalls on every stream only: test_rate_without_stalls streams without
    # (the multi-lane models simulate slowly; CI time)
    batches = stalled(tensors, "all-random", 5 + lanes)[1:]
    check(harness(lanes, out_width).run(batches, "all-random"))


@pytest.mark.parametrize("lanes, out_width", configs("mlcompressor", LANES, slow={1, 8}))
def test_rate_without_stalls(lanes, out_width):
    """bf16 weights (sigma 0.02), 128 chunks of 1016 pairs: values taken per clock from the
    first input beat to the last (what a producer sees), and per busy clock (the lanes' start
    and the last chunks' latency included)."""
    rng = np.random.default_rng(0)
    t = compress(bf16(rng, RATE_CHUNKS * CHUNK, 0.02), max_table_log=10, name="weights")
    (r,) = harness(lanes, out_width).run([{"tensors": [t], "name": "rate"}], "rate")
    check([r])
    sustained = len(t.values) / (r["in_last"] - r["in_first"] + 1)
    busy = len(t.values) / r["busy_cycles"]
    bound = len(t.values) / len(t.payload) * out_width
    print(f"compressor, {lanes} lanes x {out_width} words out: {sustained:.3f} values per clock "
          f"in, {busy:.3f} per busy clock (output bound {bound:.3f}, {len(t.values)} values)")
    assert busy <= sustained <= lanes
    assert sustained >= 0.97 * lanes        # every lane takes a value per clock, nearly
    if out_width != 4:
        return
    # fpga.build reads pairs per clock per lane from build/throughput.json, "<top>-<lanes>"
    # (one lane of top "compressor" is the Compressor, tb/test_compressor.py)
    entry = {"pairs_per_clock": sustained / lanes, "per_busy_clock": busy / lanes,
             "source": (f"tb/test_multilane_compressor.py: {RATE_CHUNKS} chunks of {CHUNK} "
                        f"bf16 pairs, values per clock from first to last input beat / lanes")}
    record("throughput.json", {f"mlcompressor-{lanes}": entry,
                               **({f"compressor-{lanes}": entry} if lanes > 1 else {})})


@group("mlcompressor", 4)
def test_short_beat_flags_error_never_hangs_and_recovers():
    """A beat of fewer values than lanes mid-tensor ends the tensor there (BEAT, its payload
    ends with `last`), the beats after it make a tensor of their own, no stream hangs, and the
    next tensor (table written again) is bit-exact without error."""
    from golden.ans import codec

    lanes, cut = 4, 1500            # beat `cut` carries 2 of its 4 values
    rng = np.random.default_rng(21)
    x = bf16(rng, 9000, 0.05)
    t = compress(x, max_table_log=10)
    h = harness(lanes)

    def payload(values):
        codes, extras = t.table.codebook.encode(values)
        return codec.encode_payload(t.table, codes.astype(np.int64), extras, chunk_pairs=CHUNK)

    cmds, _ = compressor_beat_commands([t], h.value_bits, lanes, h.out_width)
    n_table = len(cmds) - (len(x) + lanes - 1) // lanes
    beat = n_table + cut
    count_shift = h.value_bits * lanes
    cmds[beat] = cmds[beat] & ~(((1 << lanes.bit_length()) - 1) << count_shift) | \
        2 << count_shift
    a, b = x[:lanes * cut + 2], x[lanes * (cut + 1):]
    exps = word_beats(payload(a), h.out_width) + word_beats(payload(b), h.out_width)
    after = [compress(bf16(rng, 7000, 0.02), max_table_log=9)]
    cmds2, exps2 = compressor_beat_commands(after, h.value_bits, lanes, h.out_width)
    bad, ok = h.run([{"commands": (cmds, exps), "name": "short"},
                     {"commands": (cmds2, exps2), "name": "after"}], "short-beat")
    assert not bad["hung"] and bad["errors"] >= 1
    assert bad["received"] == bad["expected"] and bad["mismatches"] == 0, bad
    check([ok])
