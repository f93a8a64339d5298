# amaranth: UnusedElaboratable=no
"""Fast checks of the multi-lane compressor in Amaranth's simulator: its output beats hold the
golden payload, densely, with every stream stalled at random on both sides. The long
regressions (1, 2, 4 and 8 lanes) run under Verilator (tb/test_multilane_compressor.py)."""

import random

import numpy as np
import pytest

from golden.ans import codec
from golden.format import codebooks
from hdl.common.ports import ErrorCode
from hdl.multilane.compressor import MultiLaneCompressor

from streamsim import get, put, simulate

BF16 = codebooks.for_dtype("BF16")


def bf16_weights(rng, n, scale=0.05):
    import ml_dtypes
    return (rng.standard_normal(n) * scale).astype(ml_dtypes.bfloat16).view(np.uint16)


def value_beats(values, lanes):
    """The input beats of a tensor: ``lanes`` values each, the last one partial."""
    values = [int(v) for v in values]
    return [{"value": values[i:i + lanes] + [0] * (lanes - len(values[i:i + lanes])),
             "count": len(values[i:i + lanes]), "last": i + lanes >= len(values)}
            for i in range(0, len(values), lanes)]


def word_beats(payload, width):
    """The payload in beats of ``width`` words, the last one partial, unused slots 0."""
    words = [int(w) for w in payload]
    return [(words[i:i + width] + [0] * (width - len(words[i:i + width])),
             len(words[i:i + width]), int(i + width >= len(words)))
            for i in range(0, len(words), width)]


def encode_with(table, values, chunk):
    """The golden payload of ``values`` under a given table."""
    codes, extras = table.codebook.encode(np.asarray(values, np.uint16))
    return codec.encode_payload(table, codes.astype(np.int64), extras, chunk_pairs=chunk)


def run(dut, jobs, *, seed=0, stall=0.0, max_cycles=400_000):
    """jobs: (table or None, list of input beats, number of output beats). Returns per job the
    beats received and the status code after them."""
    rng = random.Random(seed)
    results = []
    state = {"flag": False, "cycle": 0}

    async def producer(ctx):
        for table, beats, _ in jobs:
            if table is not None:
                for addr, word in zip(*table.encoder_image()):
                    await put(ctx, dut.table, {"addr": int(addr), "data": int(word)}, rng, stall)
            state.setdefault("values_from", state["cycle"])
            for beat in beats:
                await put(ctx, dut.values, beat, rng, stall)

    async def consumer(ctx):
        for _, _, n in jobs:
            got = []
            for _ in range(n):
                b = await get(ctx, dut.words, rng, stall)
                got.append(([int(b.data[i]) for i in range(dut.out_width)], int(b.count),
                            int(b.last)))
            results.append((got, ctx.get(dut.status.code)))
        state["until"] = state["cycle"]
        state["flag"] = True

    simulate(dut, [producer, consumer], state, max_cycles=max_cycles,
             what="multi-lane compressor")
    return results, state


@pytest.mark.parametrize("lanes, out_width", [(1, 4), (2, 1), (2, 4), (3, 2), (4, 4)])
def test_beats_equal_golden_payload_with_stalls(lanes, out_width):
    rng = np.random.default_rng(lanes * 10 + out_width)
    chunk = 24 * lanes if lanes != 3 else 36
    jobs, expected = [], []
    for n, scale, log in [(chunk * 5 + lanes // 2 + 1, 0.05, 10), (7, 1.0, 8),
                          (chunk * lanes, 0.01, 9), (1, 0.1, 10)]:
        x = bf16_weights(rng, n, scale)
        table, payload, _ = codec.compress_values(x, BF16, max_table_log=log, chunk_pairs=chunk)
        exp = word_beats(payload, out_width)
        jobs.append((table, value_beats(x, lanes), len(exp)))
        expected.append(exp)
    dut = MultiLaneCompressor(lanes=lanes, chunk_pairs=chunk, out_width=out_width,
                              in_beats=16, out_beats=16)
    results, _ = run(dut, jobs, seed=lanes, stall=0.3)
    for (got, code), exp in zip(results, expected):
        assert code == ErrorCode.NONE
        assert got == exp


def test_same_table_back_to_back_and_rate():
    """Two tensors under one table (no table write between them), no stalls: the beats equal
    the golden payload and the values go in at about a beat per clock."""
    lanes, chunk = 4, 64
    rng = np.random.default_rng(5)
    x = bf16_weights(rng, chunk * 16)
    y = bf16_weights(rng, chunk * 3 + 5)
    table, _, _ = codec.compress_values(np.concatenate([x, y]), BF16, chunk_pairs=chunk)
    ex = word_beats(encode_with(table, x, chunk), 4)
    ey = word_beats(encode_with(table, y, chunk), 4)
    dut = MultiLaneCompressor(lanes=lanes, chunk_pairs=chunk, in_beats=32, out_beats=32)
    results, state = run(dut, [(table, value_beats(x, lanes), len(ex)),
                               (None, value_beats(y, lanes), len(ey))])
    assert results[0] == (ex, ErrorCode.NONE)
    assert results[1] == (ey, ErrorCode.NONE)
    # 1,221 values in 306 beats; the lanes start one after another and a chunk's words leave
    # about 3 chunk times after its values: still well under the cycles of one lane
    cycles = state["until"] - state["values_from"]
    print(f"{len(x) + len(y)} values in {cycles} cycles")
    assert cycles < (len(x) + len(y)) * 0.6


def test_short_beat_flags_error_never_hangs_and_recovers():
    """A beat of fewer values than lanes before the last ends the tensor there: BEAT, a
    payload still comes out (ending with `last`), and the next tensor is bit-exact."""
    lanes, chunk = 4, 32
    rng = np.random.default_rng(8)
    x = bf16_weights(rng, 200)
    table, payload, _ = codec.compress_values(x, BF16, chunk_pairs=chunk)
    beats = value_beats(x, lanes)
    bad = [dict(b) for b in beats]
    bad[10]["count"] = 2            # cut: 40 + 2 values, then the rest is a new tensor
    p_cut = encode_with(table, x[:42], chunk)
    p_rest = encode_with(table, x[44:], chunk)
    dut = MultiLaneCompressor(lanes=lanes, chunk_pairs=chunk, in_beats=16, out_beats=16)
    e_cut, e_rest, e_good = (word_beats(p, 4) for p in (p_cut, p_rest, payload))
    jobs = [(table, bad[:11], len(e_cut)), (None, bad[11:], len(e_rest)),
            (table, beats, len(e_good))]
    results, _ = run(dut, jobs, seed=2, stall=0.2)
    assert results[0][0] == e_cut
    assert results[0][1] == ErrorCode.BEAT
    assert results[1][0] == e_rest
    assert results[2] == (e_good, ErrorCode.NONE)


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="multiple of lanes"):
        MultiLaneCompressor(lanes=3, chunk_pairs=100)
    with pytest.raises(ValueError, match="out_width"):
        MultiLaneCompressor(out_width=3)
    with pytest.raises(ValueError, match="lanes"):
        MultiLaneCompressor(lanes=0)
