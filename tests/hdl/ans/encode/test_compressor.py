# amaranth: UnusedElaboratable=no
"""Fast checks of the RTL compressor in Amaranth's simulator: its words equal the golden payload.

Every stream is stalled at random on both sides; the long regressions run under Verilator (tb/).
"""

import random

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from golden.ans import codec
from golden.format import codebooks
from golden.format.layouts import TableConfig, pack_int, unpack
from hdl.ans.decode.decompressor import Decompressor
from hdl.ans.encode.compressor import Compressor
from hdl.ans.encode.lane import EncodeLane
from hdl.common.ports import ErrorCode

from ansnum_helpers import escape_heavy_table
from streamsim import get, put, simulate

BF16 = codebooks.for_dtype("BF16")


def bf16_weights(rng, n, scale=0.05):
    import ml_dtypes
    return (rng.standard_normal(n) * scale).astype(ml_dtypes.bfloat16).view(np.uint16)


def run_compressor(dut, jobs, *, seed=0, stall=0.0, max_cycles=300_000):
    """jobs: list of (table or None, values, number of words expected). Returns per job the
    words received and the status code after the tensor."""
    rng = random.Random(seed)
    results = []
    state = {"flag": False, "cycle": 0, "accepted": []}

    async def producer(ctx):
        for table, values, _ in jobs:
            if table is not None:
                for addr, word in zip(*table.encoder_image()):
                    await put(ctx, dut.table, {"addr": int(addr), "data": int(word)}, rng, stall)
            for k, v in enumerate(values):
                await put(ctx, dut.values, {"value": int(v), "last": k == len(values) - 1},
                          rng, stall)
                state["accepted"].append(state["cycle"])

    async def consumer(ctx):
        for _, _, n in jobs:
            words = [await get(ctx, dut.words, rng, stall) for _ in range(n)]
            # (errors are raised as a value enters, long before its tensor's last word leaves)
            results.append(([int(w.data) for w in words], [int(w.last) for w in words],
                            ctx.get(dut.status.code)))
        state["flag"] = True

    simulate(dut, [producer, consumer], state, max_cycles=max_cycles, what="compressor")
    return results, state


def check(result, payload):
    words, last, code = result
    assert code == ErrorCode.NONE
    assert words == [int(w) for w in payload]
    assert last == [0] * (len(payload) - 1) + [1]


@pytest.mark.parametrize("states", [1, 2, 4])
@pytest.mark.parametrize("table_log", [8, 10, 12])
def test_words_equal_golden_payload_with_stalls(states, table_log):
    rng = np.random.default_rng(states * 10 + table_log)
    x = bf16_weights(rng, 260)
    table, payload, _ = codec.compress_values(x, BF16, max_table_log=table_log,
                                              chunk_pairs=100, states=states)
    dut = Compressor(table_log_max=12, states=states, chunk_pairs=100)
    (result,), _ = run_compressor(dut, [(table, x, len(payload))], seed=table_log, stall=0.3)
    check(result, payload)


def test_back_to_back_tables_escape_and_short_tensors():
    rng = np.random.default_rng(3)
    a = bf16_weights(rng, 150)
    b = np.abs(bf16_weights(rng, 120, 3.0)).view(np.uint16) & 0x7FFF
    c = bf16_weights(rng, 1)
    escape_table = escape_heavy_table(a)[0]
    jobs = []
    for values, table in [(a, None), (b, None), (c, None), (a, escape_table)]:
        if table is None:
            table = codec.compress_values(values, BF16, max_table_log=10, chunk_pairs=64)[0]
        payload = codec.encode_payload(table, *table.codebook.encode(values), chunk_pairs=64)
        jobs.append((table, values, payload))
    assert jobs[0][0].codebook is not jobs[1][0].codebook   # exp, then sexp
    jobs.append((None, a, jobs[3][2]))     # the loaded (escape) table is used again
    dut = Compressor(table_log_max=10, chunk_pairs=64)
    results, _ = run_compressor(dut, [(t, v, len(p)) for t, v, p in jobs], seed=4, stall=0.25)
    for result, (_, _, payload) in zip(results, jobs):
        check(result, payload)


def run_tensors(dut, jobs, *, seed=1, pause_after=None):
    """jobs: (table words as (addresses, words), values) per tensor, each tensor sent after the
    last one has left (and, after value ``pause_after`` of a tensor, its next value only once
    the compressor is idle). Returns the status code after each tensor and every word out."""
    rng = random.Random(seed)
    codes, out = [], []
    done = {"flag": False}

    async def producer(ctx):
        for (addrs, words), values in jobs:
            for addr, word in zip(addrs, words):
                await put(ctx, dut.table, {"addr": int(addr), "data": int(word)})
            for k, v in enumerate(values):
                await put(ctx, dut.values, {"value": int(v), "last": k == len(values) - 1})
                if k == pause_after:
                    await ctx.tick()
                    while ctx.get(dut.status.busy):
                        await ctx.tick()
            await ctx.tick()
            while ctx.get(dut.status.busy):
                await ctx.tick()
            codes.append(ctx.get(dut.status.code))
        done["flag"] = True

    async def consumer(ctx):
        while True:
            w = await get(ctx, dut.words, rng, 0.1)
            out.append(int(w.data))

    async def clock(ctx):
        n = 0
        while not done["flag"]:
            await ctx.tick()
            n += 1
            assert n < 50_000

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer, background=True)
    sim.add_testbench(consumer, background=True)
    sim.add_testbench(clock)
    sim.run()
    return codes, out


def test_uncodable_code_is_flagged_and_next_tensor_is_clean():
    rng = np.random.default_rng(5)
    small = bf16_weights(rng, 200, 0.01)
    table = codec.compress_values(small, [codebooks.get("bf16-exp")], max_table_log=9,
                                  chunk_pairs=50)[0]
    assert not table.escape
    big = small.copy()
    big[77] = 0x4700    # 32768.0: an exponent the table has no symbol for
    _, payload, _ = codec.compress_values(small, [table.codebook], max_table_log=9,
                                          chunk_pairs=50)
    dut = Compressor(table_log_max=10, chunk_pairs=50)
    codes, out = run_tensors(dut, [(table.encoder_image(), big), (table.encoder_image(), small)])
    assert codes == [ErrorCode.UNCODABLE, ErrorCode.NONE]
    assert out[-len(payload):] == [int(w) for w in payload]


def test_error_holds_over_a_pause_inside_the_tensor():
    """A tensor whose first chunk is UNCODABLE, its producer pausing at the chunk's end until
    the compressor is idle: the next value is not a new tensor, the error holds (the formal
    proof of the error rule found this: such a value used to clear it)."""
    rng = np.random.default_rng(5)
    small = bf16_weights(rng, 200, 0.01)
    table = codec.compress_values(small, [codebooks.get("bf16-exp")], max_table_log=9,
                                  chunk_pairs=50)[0]
    assert not table.escape
    big = small.copy()
    big[7] = 0x4700     # 32768.0: an exponent the table has no symbol for
    dut = Compressor(table_log_max=10, chunk_pairs=50)
    codes, _ = run_tensors(dut, [(table.encoder_image(), big), (table.encoder_image(), small)],
                           pause_after=49)
    assert codes == [ErrorCode.UNCODABLE, ErrorCode.NONE]


def test_table_of_another_format_or_code_width_is_config_error():
    """A table whose code book is not bf16's, or whose config word gives a raw code width that
    is not its code book's (the escape's shift handles only the book's widths), is a CONFIG
    error; the values still go through, and the next tensor is clean."""
    rng = np.random.default_rng(8)
    x = bf16_weights(rng, 150)
    table = escape_heavy_table(x)[0]
    assert table.escape
    payload = codec.encode_payload(table, *table.codebook.encode(x), chunk_pairs=64)
    addrs, words = table.encoder_image()
    assert addrs[0] == 0
    config = {k: int(v) for k, v in unpack(TableConfig, int(words[0])).items()}
    assert config["code_bits"] == table.codebook.code_bits
    bad_images = []
    for field, value in [("code_bits", (config["code_bits"] + 1) % 16),
                         ("code_bits", config["code_bits"] ^ 1),
                         ("codebook", codebooks.get("fp16-exp").ident)]:
        bad = words.copy()
        bad[0] = pack_int(TableConfig, **{**config, field: value})
        bad_images.append((addrs, bad))
    dut = Compressor(table_log_max=10, chunk_pairs=64)
    jobs = [(image, x) for image in bad_images] + [((addrs, words), x)]
    codes, out = run_tensors(dut, jobs, seed=9)
    assert codes == [ErrorCode.CONFIG] * 3 + [ErrorCode.NONE]
    assert out[-len(payload):] == [int(w) for w in payload]


def test_rtl_compressor_to_rtl_decompressor_round_trip():
    """values -> Compressor -> Decompressor -> the same values, one design, random stalls."""
    rng = np.random.default_rng(6)
    x = bf16_weights(rng, 400, 0.2)
    table = codec.compress_values(x, BF16, max_table_log=10, chunk_pairs=128)[0]
    m = Module()
    m.submodules.comp = comp = Compressor(table_log_max=10, chunk_pairs=128)
    m.submodules.dec = dec = Decompressor(table_log_max=10)
    wiring.connect(m, comp.words, dec.words)
    r = random.Random(2)
    got = []

    async def producer(ctx):
        for addr, word in zip(*table.encoder_image()):
            await put(ctx, comp.table, {"addr": int(addr), "data": int(word)})
        for addr, word in enumerate(table.image()):
            await put(ctx, dec.table, {"addr": addr, "data": int(word)})
        for k, v in enumerate(x):
            await put(ctx, comp.values, {"value": int(v), "last": k == len(x) - 1}, r, 0.2)

    async def consumer(ctx):
        for _ in range(len(x)):
            got.append(int((await get(ctx, dec.values, r, 0.2)).value))

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(producer, background=True)
    sim.add_testbench(consumer)
    sim.run()
    assert got == [int(v) for v in x]


def test_sustained_one_value_per_clock():
    """Without stalls the compressor takes values at one per clock across chunks."""
    rng = np.random.default_rng(7)
    x = bf16_weights(rng, 2048)
    table, payload, _ = codec.compress_values(x, BF16, max_table_log=9, chunk_pairs=512)
    dut = Compressor(table_log_max=9, chunk_pairs=512)
    (result,), state = run_compressor(dut, [(table, x, len(payload))])
    check(result, payload)
    accepted = state["accepted"]
    rate = (len(accepted) - 1) / (accepted[-1] - accepted[0])
    assert rate >= 0.98, rate


@pytest.mark.parametrize("states", [1, 2, 4])
def test_encoder_cycles_per_chunk(states):
    """The encoder alone, fed without stalls: a chunk takes one clock per pair plus
    ``EncodeLane.chunk_overhead(states)`` (its docstring's figure)."""
    n, chunks = 60, 4
    rng = np.random.default_rng(states)
    x = bf16_weights(rng, n * chunks)
    table = codec.compress_values(x, BF16, max_table_log=10, chunk_pairs=n, states=states)[0]
    codes, extras = table.codebook.encode(x)
    dut = EncodeLane(table_log_max=10, states=states, extra_max=16, chunk_max=n,
                      code_widths=[table.codebook.code_bits])
    state = {"flag": False, "cycle": 0, "taken": []}

    async def producer(ctx):
        for addr, word in zip(*table.encoder_image()):
            await put(ctx, dut.table, {"addr": int(addr), "data": int(word)})
        for i in range(n * chunks):
            await put(ctx, dut.pairs, {"item": {"code": int(codes[i]), "extra": int(extras[i])},
                                       "last": i % n == n - 1, "count": n,
                                       "meta": {"tensor_last": 0, "pairs": n}})
            state["taken"].append(state["cycle"])

    async def consumer(ctx):
        for _ in range(chunks * (n + states)):
            await get(ctx, dut.fields)
        state["flag"] = True

    simulate(dut, [producer, consumer], state, max_cycles=10_000, what="encoder")
    taken = state["taken"]
    per_chunk = {taken[(c + 1) * n] - taken[c * n] - n for c in range(chunks - 1)}
    assert per_chunk == {EncodeLane.chunk_overhead(states)}


def test_parameter_errors():
    with pytest.raises(ValueError, match=r"chunk_pairs must be 1 \.\. 65536, not 0"):
        Compressor(chunk_pairs=0)
    with pytest.raises(ValueError, match=r"format must be one of"):
        Compressor("fp64")


@pytest.mark.parametrize("fmt,bits", [("int8", 8), ("int4", 4)])
def test_quantised_integers_both_directions(fmt, bits):
    """int8 / int4 (magnitude-class code book) through the RTL compressor, whose words equal
    the golden payload, and back through the RTL decompressor, with stalls; every value of the
    domain occurs."""
    rng = np.random.default_rng(bits)
    book = codebooks.get(fmt)
    lo = 1 << (bits - 1)
    x = np.concatenate([np.arange(1 << bits),                       # the whole domain
                        np.clip(np.round(rng.standard_normal(300) * lo / 6), -lo, lo - 1)
                        .astype(np.int64) & ((1 << bits) - 1)]).astype(np.uint8)
    table, payload, _ = codec.compress_values(x, [book], max_table_log=9, chunk_pairs=128)
    (result,), _ = run_compressor(Compressor(fmt, table_log_max=9, chunk_pairs=128),
                                  [(table, x, len(payload))], seed=bits, stall=0.25)
    check(result, payload)
    from streamsim import Job, run_decompressor
    (job,) = run_decompressor(Decompressor(fmt, table_log_max=9),
                              [Job(table.image(), payload)], seed=bits, in_stall=0.25,
                              out_stall=0.25)
    assert job.code == ErrorCode.NONE
    assert [v for v, _ in job.values] == [int(v) for v in x]


@pytest.mark.parametrize("out_stall", [0.0, 0.6, 0.9])
def test_chunk_framer_ring_fills_and_nothing_is_overwritten(out_stall):
    """Bodies through the framer's ring of 8 words, the output stalled so that the ring runs
    full (the room check is what stops a write over a word not yet sent): every chunk leaves as
    its header (body length and CRC) and its body, in order."""
    import zlib

    from golden.format.layouts import CHUNK_MAGIC, ChunkHeader
    from hdl.ans.encode.chunk_writer import ChunkWriter

    dut = ChunkWriter(depth=8, states=4)
    rng = random.Random(7)
    bodies = [[rng.getrandbits(32) for _ in range(rng.randint(1, 8))] for _ in range(40)]
    state = {"flag": False, "cycle": 0}
    out = []

    async def producer(ctx):
        ctx.set(dut.config.table_log, 10)
        for k, body in enumerate(bodies):
            for j, word in enumerate(body):
                await put(ctx, dut.words, {"data": word, "last": j == len(body) - 1,
                                           "meta": {"tensor_last": k == len(bodies) - 1,
                                                    "pairs": 3 * len(body)}}, rng, 0.2)

    async def consumer(ctx):
        for body in bodies:
            out.append([await get(ctx, dut.out, rng, out_stall) for _ in range(3 + len(body))])
        state["flag"] = True

    simulate(dut, [producer, consumer], state, max_cycles=20_000, what="framer")
    for k, (body, words) in enumerate(zip(bodies, out)):
        header = ChunkHeader.from_bits(sum(int(w.data) << 32 * i for i, w in enumerate(words[:3])))
        assert header.magic == CHUNK_MAGIC and header.pairs_minus_1 == 3 * len(body) - 1
        assert header.body_words == len(body)
        assert header.body_crc == zlib.crc32(b"".join(w.to_bytes(4, "little") for w in body))
        assert [int(w.data) for w in words[3:]] == body
        assert [int(w.last) for w in words] == [0] * (len(words) - 1) + [k == len(bodies) - 1]
