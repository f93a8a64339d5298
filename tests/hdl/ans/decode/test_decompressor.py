# amaranth: UnusedElaboratable=no
"""Fast checks of the RTL decompressor in Amaranth's simulator, against the golden model.

Small tensors, every stream stalled at random on both sides; the bit-exact regressions on all
bf16 patterns and real weights run under Verilator (tb/).
"""

import numpy as np
import pytest

from golden.ans import codec
from golden.format import codebooks
from hdl.ans.decode.decoder import TansDecoder
from hdl.ans.decode.decompressor import Decompressor
from hdl.ans.decode.unpacker import PairUnpacker
from hdl.common.ports import ErrorCode
from hdl.convert.formats import FORMATS

from ansnum_helpers import escape_heavy_table
from streamsim import Job, run_decompressor


def bf16_weights(rng, n, scale=0.05):
    import ml_dtypes
    return (rng.standard_normal(n) * scale).astype(ml_dtypes.bfloat16).view(np.uint16)


def compress(values, books, **kw):
    kw.setdefault("chunk_pairs", 100)
    table, payload, _ = codec.compress_values(values, books, **kw)
    return table, payload


def expected(values):
    last = [0] * len(values)
    last[-1] = 1
    return list(zip((int(v) for v in values), last))


@pytest.mark.parametrize("states", [1, 2, 4])
@pytest.mark.parametrize("table_log", [8, 9, 10, 11, 12])
def test_bit_exact_with_stalls(states, table_log):
    rng = np.random.default_rng(states * 100 + table_log)
    x = bf16_weights(rng, 300)
    table, payload = compress(x, codebooks.for_dtype("BF16"), max_table_log=table_log,
                              states=states)
    dut = Decompressor(table_log_max=12)
    (job,) = run_decompressor(dut, [Job(table.image(), payload)], seed=table_log,
                              in_stall=0.3, out_stall=0.3)
    assert job.code == ErrorCode.NONE
    assert job.values == expected(x)


def test_back_to_back_tensors_codebooks_and_escape():
    """exp and sexp code books, an escape table, table reuse, one after the other."""
    rng = np.random.default_rng(7)
    a = bf16_weights(rng, 250)
    b = np.abs(bf16_weights(rng, 250, 3.0)).view(np.uint16) & 0x7FFF   # all positive: sexp
    exp_book, sexp_book = codebooks.get("bf16-exp"), codebooks.get("bf16-sexp")
    ta, pa = compress(a, [exp_book], max_table_log=9)
    tb, pb = compress(b, [sexp_book], max_table_log=10)
    # a table with 3 symbols + escape, so that most pairs take the escape path
    te, codes, extras = escape_heavy_table(a)
    pe = codec.encode_payload(te, codes, extras, chunk_pairs=64, states=2)
    jobs = [Job(ta.image(), pa), Job(tb.image(), pb), Job(None, pb), Job(te.image(), pe)]
    dut = Decompressor(table_log_max=10)
    run_decompressor(dut, jobs, seed=3, in_stall=0.25, out_stall=0.25)
    for job, values in zip(jobs, [a, b, b, a]):
        assert job.code == ErrorCode.NONE
        assert job.values == expected(values)


@pytest.mark.parametrize("fmt", ["fp16", "fp8e4m3", "fp8e5m2"])
def test_other_float_formats(fmt):
    rng = np.random.default_rng(11)
    bits = 1 + sum(FORMATS[fmt])
    x = rng.integers(0, 1 << bits, 300).astype(np.uint16 if bits > 8 else np.uint8)
    books = [b for b in codebooks.CODEBOOKS.values()
             if isinstance(b, codebooks.FloatCodeBook) and (b.exp_bits, b.man_bits) == FORMATS[fmt]]
    jobs = [Job(compress(x, [book], max_table_log=9)[0].image(),
                compress(x, [book], max_table_log=9)[1]) for book in books]
    run_decompressor(Decompressor(fmt, table_log_max=9), jobs, seed=5,
                     in_stall=0.2, out_stall=0.2)
    for job in jobs:
        assert job.code == ErrorCode.NONE
        assert job.values == expected(x)


def test_sustained_one_pair_per_clock():
    """Without stalls a 2000-pair chunk of 4 states takes 2000 cycles plus a fixed overhead;
    with 2 states the ring holds half as many states and decodes a pair every other cycle."""
    rng = np.random.default_rng(1)
    x = bf16_weights(rng, 2000)
    cycles = {}
    for states in (4, 2):
        table, payload = compress(x, codebooks.for_dtype("BF16"), max_table_log=9,
                                  chunk_pairs=2000, states=states)
        (job,) = run_decompressor(Decompressor(table_log_max=9), [Job(table.image(), payload)])
        assert job.values == expected(x)
        cycles[states] = job.cycles
    assert cycles[4] - len(x) < 40, cycles
    assert abs(cycles[2] - 2 * len(x)) < 40, cycles


# --- bad input: the error is flagged, nothing hangs, the next tensor decodes --------------

def _corruptions(payload, table):
    p = payload.copy()
    body0 = 3  # first body word of chunk 0
    flip_body = p.copy()
    flip_body[body0 + 5] ^= 1 << 13
    bad_magic = p.copy()
    bad_magic[0] ^= 1 << 30
    bad_crc = p.copy()
    bad_crc[2] ^= 1
    truncated = p[:-4]
    trailing = np.concatenate([p, p[:5]])
    garbage = np.random.default_rng(0).integers(0, 1 << 32, 40).astype(np.uint32)
    return {
        "flipped body bit": (flip_body, None),
        "bad magic": (bad_magic, {ErrorCode.MAGIC}),
        "bad header CRC field": (bad_crc, {ErrorCode.CRC}),
        "truncated": (truncated, {ErrorCode.TRUNCATED}),
        "trailing words": (trailing, {ErrorCode.TRAILING}),
        "foreign words": (garbage, {ErrorCode.MAGIC}),
    }


@pytest.mark.parametrize("case", ["flipped body bit", "bad magic", "bad header CRC field",
                                  "truncated", "trailing words", "foreign words"])
def test_bad_payload_flags_error_and_recovers(case):
    rng = np.random.default_rng(2)
    x = bf16_weights(rng, 300)
    y = bf16_weights(rng, 200)
    table, payload = compress(x, codebooks.for_dtype("BF16"), max_table_log=9)
    table_y, payload_y = compress(y, codebooks.for_dtype("BF16"), max_table_log=9)
    bad, codes = _corruptions(payload, table)[case]
    with pytest.raises(codec.PayloadError):          # the golden decoder refuses it too
        codec.decode_payload(table, bad, len(x))
    jobs = [Job(table.image(), bad), Job(table_y.image(), payload_y)]
    run_decompressor(Decompressor(table_log_max=9), jobs, seed=9,
                     in_stall=0.2, out_stall=0.2, max_cycles=60_000)
    assert jobs[0].code != ErrorCode.NONE
    if codes is not None:
        assert jobs[0].code in codes
    assert jobs[1].code == ErrorCode.NONE
    assert jobs[1].values == expected(y)


def test_table_mismatch_is_a_config_error():
    rng = np.random.default_rng(4)
    x = bf16_weights(rng, 200)
    t12, p12 = compress(x, codebooks.for_dtype("BF16"), max_table_log=10)
    t8, _ = compress(x, codebooks.for_dtype("BF16"), max_table_log=8)
    assert t12.table_log != t8.table_log
    fp16 = codebooks.get("fp16-exp")
    t16, p16 = compress(np.arange(200, dtype=np.uint16), [fp16], max_table_log=8)
    jobs = [Job(t8.image(), p12),       # payload made for another table log
            Job(t16.image(), p16),      # fp16 code book on a bf16 top
            Job(t12.image(), p12)]      # and the right one decodes
    run_decompressor(Decompressor(table_log_max=10), jobs, seed=1,
                     in_stall=0.1, out_stall=0.1)
    assert [j.code for j in jobs] == [ErrorCode.CONFIG, ErrorCode.CONFIG, ErrorCode.NONE]
    assert jobs[0].values == [] and jobs[1].values == []
    assert jobs[2].values == expected(x)


def test_bad_number_of_states_is_a_config_error():
    """states_log2 = 3 (8 states) is not a valid header; 1, 2 and 4 states all decode."""
    rng = np.random.default_rng(5)
    x = bf16_weights(rng, 100)
    table, payload = compress(x, codebooks.for_dtype("BF16"), max_table_log=8, states=4)
    bad = payload.copy()
    bad[0] |= 3 << 21       # states_log2 (bits 21..22 of header word 0)
    jobs = [Job(table.image(), bad), Job(None, payload)]
    run_decompressor(Decompressor(table_log_max=8), jobs)
    assert jobs[0].code == ErrorCode.CONFIG and jobs[0].values == []
    assert jobs[1].code == ErrorCode.NONE and jobs[1].values == expected(x)


def test_parameter_errors():
    with pytest.raises(ValueError, match=r"table_log_max must be 8 \.\. 12, not 13"):
        TansDecoder(table_log_max=13)
    with pytest.raises(ValueError, match=r"extra_max must be 1 \.\. 20, not 21"):
        TansDecoder(table_log_max=12, extra_max=21)
    with pytest.raises(ValueError, match=r"format must be one of"):
        Decompressor("fp64")


def test_unpacker_escape_split():
    """The unpacker alone: escape raw bits split at code_bits, regular pairs pass through."""
    from amaranth.sim import Simulator

    from streamsim import get, put
    dut = PairUnpacker(16)
    cases = [({"code": 5, "escape": 0, "raw": 0xAB, "last": 0}, 9, (5, 0xAB, 0)),
             ({"code": 0, "escape": 1, "raw": (0x3C << 8) | 0x7E, "last": 1}, 8, (0x7E, 0x3C, 1)),
             ({"code": 0, "escape": 1, "raw": (0x55 << 9) | 0x1F3, "last": 0}, 9, (0x1F3, 0x55, 0))]
    seen = []

    async def bench(ctx):
        for payload, code_bits, _ in cases:
            ctx.set(dut.code_bits, code_bits)
            await put(ctx, dut.pairs, payload)
            out = await get(ctx, dut.out)
            seen.append((int(out.code), int(out.extra), int(out.last)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [c[2] for c in cases]


def test_next_table_waits_for_values_in_flight():
    """A table write for the next tensor, sent while the previous tensor's last values are still
    in the pipeline behind a stalled output, must not change how those values are converted."""
    from amaranth.sim import Simulator

    from streamsim import get, put
    rng = np.random.default_rng(12)
    a = bf16_weights(rng, 200)
    b = bf16_weights(rng, 200)
    ta, pa = compress(a, [codebooks.get("bf16-sexp")], max_table_log=9)
    tb, pb = compress(b, [codebooks.get("bf16-exp")], max_table_log=10)
    dut = Decompressor(table_log_max=10)
    got = []

    async def producer(ctx):
        for table, payload in ((ta, pa), (tb, pb)):
            for addr, word in enumerate(table.image()):
                await put(ctx, dut.table, {"addr": addr, "data": int(word)})
            for k, word in enumerate(payload):
                await put(ctx, dut.words, {"data": int(word), "last": k == len(payload) - 1})

    async def consumer(ctx):
        for i in range(len(a) + len(b)):
            stall = 60 if i == len(a) - 3 else 0   # the last values of `a` fill the pipeline
            for _ in range(stall):
                await ctx.tick()
            got.append(int((await get(ctx, dut.values)).value))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer, background=True)
    sim.add_testbench(consumer)
    sim.run()
    assert got == [int(v) for v in a] + [int(v) for v in b]


def test_table_wider_than_the_lane_is_a_config_error():
    """An escape wider than the lane's extra field is refused when the table is written (the
    check is off the decoding loop), and a good table written after it works."""
    rng = np.random.default_rng(13)
    x = bf16_weights(rng, 150)
    wide, codes, extras = escape_heavy_table(x, keep=4, escape_width=20)   # > 16 bits
    wide_payload = codec.encode_payload(wide, codes, extras, chunk_pairs=100)
    good, good_payload = compress(x, codebooks.for_dtype("BF16"), max_table_log=9)
    jobs = [Job(wide.image(), wide_payload), Job(good.image(), good_payload)]
    run_decompressor(Decompressor(table_log_max=10), jobs, seed=2)
    assert jobs[0].code == ErrorCode.CONFIG and jobs[0].values == []
    assert jobs[1].code == ErrorCode.NONE and jobs[1].values == expected(x)


def test_latency_as_documented():
    """The first pair (value) leaves TansDecoder.LATENCY (Decompressor.LATENCY) cycles after
    the first word is taken, without stalls, as the docstrings say."""
    from streamsim import first_output_latency
    rng = np.random.default_rng(8)
    table, payload = compress(bf16_weights(rng, 200), codebooks.for_dtype("BF16"),
                              max_table_log=10, chunk_pairs=200, states=4)
    writes = [{"addr": a, "data": int(w)} for a, w in enumerate(table.image())]
    words = [{"data": int(w), "last": i == len(payload) - 1} for i, w in enumerate(payload)]
    dec = TansDecoder(table_log_max=10, extra_max=16)
    assert first_output_latency(dec, writes, words, dec.words, dec.pairs) == TansDecoder.LATENCY
    top = Decompressor(table_log_max=10)
    assert first_output_latency(top, writes, words, top.words, top.values) == \
        Decompressor.LATENCY


def test_widened_f32_payload():
    """An F32 tensor of bf16 values (the container's ``coded_as: BF16``): its payload is a bf16
    payload, which the RTL decodes into the high halves of the F32 values, bit for bit."""
    from golden.format import container
    rng = np.random.default_rng(11)
    f32 = (bf16_weights(rng, 400).astype(np.uint32) << 16).view(np.float32)
    seg, stored, _ = container.encode_tensor(f32.tobytes(), "w", "F32", [400], chunk_pairs=150)
    assert seg["coded_as"] == "BF16"
    table = codec.Table.from_json(seg["table"])
    payload = np.frombuffer(b"".join(stored), "<u4")
    (job,) = run_decompressor(Decompressor(table_log_max=12), [Job(table.image(), payload)],
                              seed=5, in_stall=0.3, out_stall=0.3)
    assert job.code == ErrorCode.NONE
    high = np.array([v for v, _ in job.values], np.uint32) << 16
    np.testing.assert_array_equal(high, f32.view(np.uint32))
