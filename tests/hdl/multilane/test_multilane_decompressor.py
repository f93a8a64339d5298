# amaranth: UnusedElaboratable=no
"""The multi-lane decompressor in Amaranth's simulator, against the golden model.

Small tensors of several chunks, random stalls on every stream; values and their order are
compared with the golden model beat by beat. The Verilator layer (tb/test_multilane.py) runs
all bf16 patterns and measures the rate.
"""

import random

import numpy as np
import pytest

from golden.ans import codec
from golden.format import codebooks
from hdl.common.ports import ErrorCode
from hdl.multilane.decompressor import MultiLaneDecompressor

from ansnum_helpers import escape_heavy_table
from streamsim import Job, put, simulate

BF16 = codebooks.for_dtype("BF16")


def bf16_weights(rng, n, scale=0.05):
    import ml_dtypes
    return (rng.standard_normal(n) * scale).astype(ml_dtypes.bfloat16).view(np.uint16)


def compress(values, **kw):
    kw.setdefault("chunk_pairs", 100)
    kw.setdefault("max_table_log", 9)
    table, payload, _ = codec.compress_values(values, BF16, **kw)
    return table, payload


def expected(values):
    last = [0] * len(values)
    last[-1] = 1
    return list(zip((int(v) for v in values), last))


def input_beats(payload, width):
    """A payload as the top's input beats: ``width`` words each, the last one partial."""
    words = [int(w) for w in payload]
    for i in range(0, len(words), width):
        group = words[i:i + width]
        yield {"data": group + [0] * (width - len(group)), "count": len(group),
               "last": i + width >= len(words)}


def run_multilane(dut, jobs, *, seed=0, in_stall=0.0, out_stall=0.0, max_cycles=200_000):
    """Like streamsim.run_decompressor, for beats of several values: each job gets its values as
    ``(value, last)`` pairs (``last`` on the final value of a beat with ``last``), its status
    code, its cycle count, and the counts of its beats."""

    rng = random.Random(seed)
    out, counts = [], []
    done = {"flag": False, "cycle": 0}

    async def producer(ctx):
        for job in jobs:
            if job.image is not None:
                for addr, word in enumerate(job.image):
                    await put(ctx, dut.table, {"addr": addr, "data": int(word)}, rng, in_stall)
            start, start_beats, t0 = len(out), len(counts), done["cycle"]
            for beat in input_beats(job.payload, dut.in_width):
                await put(ctx, dut.words, beat, rng, in_stall)
            quiet = 0
            while quiet < 6:
                await ctx.tick()
                busy, valid = ctx.get(dut.status.busy), ctx.get(dut.values.valid)
                quiet = quiet + 1 if not busy and not valid else 0
            job.cycles = done["cycle"] - t0 - 6
            job.code = ctx.get(dut.status.code)
            job.values = out[start:]
            job.beats = counts[start_beats:]
        done["flag"] = True

    async def consumer(ctx):
        while True:
            while rng.random() < out_stall:
                await ctx.tick()
            ctx.set(dut.values.ready, 1)
            while True:
                _, _, valid, beat = await ctx.tick().sample(dut.values.valid, dut.values.payload)
                if valid:
                    break
            ctx.set(dut.values.ready, 0)
            n = int(beat.count)
            counts.append(n)
            for i in range(n):
                out.append((int(beat.value[i]), int(beat.last) if i == n - 1 else 0))

    simulate(dut, [producer, consumer], done, max_cycles=max_cycles,
             what="multi-lane decompressor")
    return jobs


def chunk_starts(table, payload):
    return [first for first, *_ in codec.walk_chunks(payload, table.table_log)]


@pytest.mark.parametrize("lanes, in_width", [(1, 1), (1, 4), (2, 2), (3, 4), (4, 1), (4, 4)])
def test_bit_exact_in_order_with_stalls(lanes, in_width):
    """Tensors of 1 to 9 chunks (50 .. 200 pairs, a short last one), back to back, with a new
    table each; a table reused; every value and the `last` flag in order."""
    rng = np.random.default_rng(lanes * 10 + in_width)
    jobs, want = [], []
    for n, chunk, scale in [(1000, 113, 0.05), (130, 200, 1.0), (777, 50, 0.01), (450, 64, 3.0)]:
        x = bf16_weights(rng, n, scale)
        table, payload = compress(x, chunk_pairs=chunk)
        jobs.append(Job(table.image(), payload))
        want.append(x)
    jobs.append(Job(None, jobs[-1].payload))
    want.append(want[-1])
    dut = MultiLaneDecompressor(lanes=lanes, table_log_max=9, in_width=in_width,
                                in_beats=max(8, 64 // in_width), out_values=64 * lanes)
    run_multilane(dut, jobs, seed=lanes, in_stall=0.3, out_stall=0.3)
    for job, x in zip(jobs, want):
        assert job.code == ErrorCode.NONE
        assert job.values == expected(x)
        assert max(job.beats) <= lanes and min(job.beats) >= 1


@pytest.mark.parametrize("lanes", [1, 3])
def test_chunks_bigger_than_the_lane_buffers(lanes):
    """A chunk far bigger than its lane's input and output FIFOs still decodes (at about one
    lane's rate): the collector drains a lane while the rest of its chunk comes in."""
    rng = np.random.default_rng(8)
    x = bf16_weights(rng, 1500, 1.0)
    table, payload = compress(x, chunk_pairs=600)
    dut = MultiLaneDecompressor(lanes=lanes, table_log_max=9, in_beats=8, out_values=4 * lanes)
    (job,) = run_multilane(dut, [Job(table.image(), payload)], seed=1, in_stall=0.2,
                           out_stall=0.2)
    assert job.code == ErrorCode.NONE
    assert job.values == expected(x)


def test_beats_carry_several_values():
    """Without stalls, 4 lanes give full beats of 4 values except at chunk ends, and the top
    is faster than one lane; with one word per beat, the input word rate is the bound."""
    rng = np.random.default_rng(5)
    x = bf16_weights(rng, 3000)
    table, payload = compress(x, chunk_pairs=200)
    cycles = {}
    for lanes, in_width in ((1, 4), (4, 4), (4, 1)):
        (job,) = run_multilane(MultiLaneDecompressor(lanes=lanes, table_log_max=9,
                                                     in_width=in_width),
                               [Job(table.image(), payload)])
        assert job.values == expected(x)
        cycles[lanes, in_width] = job.cycles
        if lanes == 4:
            assert job.beats.count(4) >= len(x) // 4 - 15    # 15 chunks: a partial beat each
    print("values per clock: " + ", ".join(f"{n} lanes x {w} words in {len(x) / c:.2f}"
                                            for (n, w), c in cycles.items()) +
          f" ({len(payload)} words: {len(x) / len(payload):.2f} values per word)")
    assert cycles[4, 4] < cycles[1, 4] / 2.5
    assert cycles[4, 1] >= len(payload)                   # one word per clock in


def _corrupt(payload, table):
    positions, pos = [], 0
    for _first, _n, _s, body in codec.walk_chunks(payload, table.table_log):
        positions.append(pos)
        pos += 3 + len(body)
    n = len(positions)
    p = payload
    flip = p.copy()
    flip[positions[2] + 3 + 4] ^= 1 << 9           # chunk 2's body
    magic = p.copy()
    magic[positions[1]] ^= 1 << 29                 # chunk 1's magic
    crc = p.copy()
    crc[positions[3] + 2] ^= 1                     # chunk 3's CRC field: found after its values
    garbage = np.random.default_rng(0).integers(0, 1 << 32, 40).astype(np.uint32)
    return {
        # name: (payload, allowed codes, (a, b)): the values of chunks before a come out
        # exactly, none after chunk b - 1; None: every value comes out, then the error
        "flipped body bit": (flip, None, (2, 3)),
        "bad magic": (magic, {ErrorCode.MAGIC}, (1, 1)),
        "bad CRC field": (crc, {ErrorCode.CRC}, (4, 4)),
        "truncated in a chunk": (p[:-4], {ErrorCode.TRUNCATED}, (n - 1, n)),
        "truncated at a chunk end": (p[:positions[-1]], {ErrorCode.TRUNCATED}, (n - 1, n - 1)),
        "trailing words": (np.concatenate([p, p[:5]]), {ErrorCode.TRAILING}, None),
        "foreign words": (garbage, {ErrorCode.MAGIC}, (0, 0)),
    }


@pytest.mark.parametrize("lanes", [1, 2, 4])  # (1: both chunks of a beat in one lane's entry)
@pytest.mark.parametrize("case", ["flipped body bit", "bad magic", "bad CRC field",
                                  "truncated in a chunk", "truncated at a chunk end",
                                  "trailing words", "foreign words"])
def test_bad_chunk_flags_error_and_next_tensor_decodes(case, lanes):
    rng = np.random.default_rng(2)
    x = bf16_weights(rng, 600)
    y = bf16_weights(rng, 300)
    table, payload = compress(x)
    table_y, payload_y = compress(y, chunk_pairs=70)
    bad, codes, span = _corrupt(payload, table)[case]
    with pytest.raises(codec.PayloadError):          # the golden decoder refuses it too
        codec.decode_payload(table, bad, len(x))
    jobs = [Job(table.image(), bad), Job(table_y.image(), payload_y), Job(None, payload_y)]
    run_multilane(MultiLaneDecompressor(lanes=lanes, table_log_max=9, in_beats=8,
                                        out_values=32 * lanes),
                  jobs, seed=9, in_stall=0.2, out_stall=0.3, max_cycles=60_000)
    assert jobs[0].code != ErrorCode.NONE
    if codes is not None:
        assert jobs[0].code in codes
    got = jobs[0].values
    if span is None:
        assert got == expected(x)
    else:
        starts = chunk_starts(table, payload) + [len(x)]
        assert got[:starts[span[0]]] == expected(x)[:starts[span[0]]]
        assert len(got) <= starts[span[1]]
        if case != "bad CRC field":                  # (its chunk ends with the tensor's last)
            assert not any(last for _, last in got)
    for job in jobs[1:]:
        assert job.code == ErrorCode.NONE
        assert job.values == expected(y)


@pytest.mark.parametrize("lanes", [1, 3])
def test_config_errors_are_found_once_for_all_lanes(lanes):
    """The dispatcher checks each chunk header against the table (table log, number of states,
    code book, a table entry no lane decodes, a body length no chunk has): each such tensor is
    a CONFIG error with no values out, and the tensor after it decodes."""
    rng = np.random.default_rng(14)
    x = bf16_weights(rng, 300)
    t10, p10 = compress(x, max_table_log=10)
    t8 = compress(x, max_table_log=8)[0]
    fp16 = codebooks.get("fp16-exp")
    t16, p16 = codec.compress_values(np.arange(300, dtype=np.uint16), [fp16], max_table_log=9,
                                     chunk_pairs=100)[:2]
    eight_states = p10.copy()
    eight_states[0] |= 3 << 21      # states_log2 (bits 21..22 of header word 0) of chunk 0
    positions = chunk_starts(t10, p10)
    long_body = p10.copy()
    second = 3 + int(p10[1])        # chunk 1's header: its body length too long for any chunk
    long_body[second + 1] |= 1 << 20
    wide, codes, extras = escape_heavy_table(x, keep=4, escape_width=20)   # > 16 bits
    wide_payload = codec.encode_payload(wide, codes, extras, chunk_pairs=100)
    jobs = [Job(t8.image(), p10),           # payload made for another table log
            Job(t16.image(), p16),          # fp16 code book on a bf16 top
            Job(t10.image(), eight_states),
            Job(None, long_body),
            Job(wide.image(), wide_payload),
            Job(t10.image(), p10)]          # and the right one decodes
    run_multilane(MultiLaneDecompressor(lanes=lanes, table_log_max=10), jobs, seed=lanes,
                  in_stall=0.2, out_stall=0.2)
    assert [j.code for j in jobs] == [ErrorCode.CONFIG] * 5 + [ErrorCode.NONE]
    assert [j.values for j in jobs[:3]] == [[], [], []]
    assert jobs[3].values == expected(x)[:positions[1]]    # chunk 0's values, then none
    assert jobs[4].values == []
    assert jobs[5].values == expected(x)


def test_next_table_waits_for_all_lanes():
    """The next tensor's table is sent right behind the payload while the lanes still decode
    (output stalled): it must not reach a lane before its last chunk is done."""
    rng = np.random.default_rng(12)
    a, b = bf16_weights(rng, 800), bf16_weights(rng, 500, 2.0)
    ta, pa = codec.compress_values(a, [codebooks.get("bf16-sexp")], max_table_log=9,
                                   chunk_pairs=90)[:2]
    tb, pb = codec.compress_values(b, [codebooks.get("bf16-exp")], max_table_log=8,
                                   chunk_pairs=90)[:2]
    dut = MultiLaneDecompressor(lanes=4, table_log_max=9)
    jobs = [Job(ta.image(), pa), Job(tb.image(), pb)]
    run_multilane(dut, jobs, seed=4, out_stall=0.8)
    assert [j.code for j in jobs] == [ErrorCode.NONE, ErrorCode.NONE]
    assert jobs[0].values == expected(a)
    assert jobs[1].values == expected(b)


def test_parameter_errors():
    with pytest.raises(ValueError, match=r"^lanes must be 1 \.\. 16, not 0$"):
        MultiLaneDecompressor(lanes=0)
    with pytest.raises(ValueError, match=r"^lanes must be 1 \.\. 16, not 17$"):
        MultiLaneDecompressor(lanes=17)
    with pytest.raises(ValueError, match=r"^format must be one of bf16, fp16, fp8e4m3, "
                                         r"fp8e5m2, not 'fp64'$"):
        MultiLaneDecompressor("fp64")
    with pytest.raises(ValueError, match=r"^table_log_max must be 8 \.\. 12, not 13$"):
        MultiLaneDecompressor(table_log_max=13)
    with pytest.raises(ValueError, match=r"^in_width must be one of 1, 2, 4, not 3$"):
        MultiLaneDecompressor(in_width=3)
    with pytest.raises(ValueError, match=r"^in_beats must be at least 8, not 4$"):
        MultiLaneDecompressor(in_beats=4)
    with pytest.raises(ValueError, match=r"^out_values must be a multiple of lanes \(4\) and "
                                         r"at least 16, not 12$"):
        MultiLaneDecompressor(lanes=4, out_values=12)
    dut = MultiLaneDecompressor("fp16", lanes=3, table_log_max=11, in_width=2)
    assert (dut.fmt, dut.lanes, dut.table_log_max, dut.in_width) == ("fp16", 3, 11, 2)
    assert len(dut.values.payload.value) == 3


def test_fpga_flow_builds_the_multilane_top():
    from fpga.tops import make_top
    top = make_top("decompressor", lanes=4, table_log_max=9)
    assert isinstance(top, MultiLaneDecompressor)
    assert (top.lanes, top.table_log_max) == (4, 9)
    assert make_top("multilane", lanes=1).lanes == 1
