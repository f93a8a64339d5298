# amaranth: UnusedElaboratable=no
"""The decoding lane alone in Amaranth's simulator: chunks handed to it as a front end does
(descriptor, body words, ``last`` on the final one), against the golden decoder's symbols, raw
bits and error codes, with random stalls on every stream."""

import random

import numpy as np
import pytest

from golden.ans import codec, tans
from golden.format import codebooks
from golden.format.layouts import ChunkHeader, DecodeEntry, unpack_int
from hdl.ans.decode.lane import DecodeLane, split_entry
from hdl.common.ports import ErrorCode

from ansnum_helpers import escape_heavy_table
from streamsim import get, put, simulate


def bf16_weights(rng, n, scale=0.05):
    import ml_dtypes
    return (rng.standard_normal(n) * scale).astype(ml_dtypes.bfloat16).view(np.uint16)


def chunks_of(payload):
    """``(header word 0, body words)`` of each chunk of a payload."""
    pos, out = 0, []
    while pos < len(payload):
        head = unpack_int(ChunkHeader, sum(int(payload[pos + k]) << 32 * k for k in range(3)))
        body = payload[pos + 3:pos + 3 + head["body_words"]]
        out.append((int(payload[pos]), body))
        pos += 3 + head["body_words"]
    return out


def golden_chunk(table, word0, body):
    """The golden decoder's pairs of one chunk, as the lane emits them (raw bits masked to the
    symbol's width), and its error code."""
    h = unpack_int(ChunkHeader, word0)
    n = h["pairs_minus_1"] + 1
    symbols = np.zeros(n, np.int64)
    raw = np.zeros(n, np.uint64)
    sym_width = table.symbol_widths()
    err = tans.decode_chunk(np.asarray(body, np.uint32), n, table.table_log,
                            1 << h["states_log2"], *table.decoder_arrays(), sym_width,
                            symbols, raw)
    pairs = []
    for i, (s, r) in enumerate(zip(symbols, raw)):
        escape = int(s == len(table.codes))
        pairs.append((0 if escape else table.codes[s], escape, int(r),
                      int(h["last"] and i == n - 1)))
    return pairs, ErrorCode(err)


def run_lane(dut, table, chunks, *, seed=0, stall=0.0, errors=None):
    """Write ``table`` into the lane, hand it ``chunks`` (``(word0, body)``; ``errors[k]`` goes
    with chunk k's last word), return each chunk's pairs (raw masked) and verdict."""
    rng = random.Random(seed)
    widths = table.symbol_widths()
    esc_width = widths[-1] if table.escape else None
    out = []
    verdicts = []
    done = {"flag": False, "cycle": 0}

    async def producer(ctx):
        for u, word in enumerate(table.image()[1:]):
            entry = unpack_int(DecodeEntry, split_entry(int(word), dut.extra_step, dut.extra_max))
            await put(ctx, dut.table, {"state": u, "entry": entry}, rng, stall)
        for k, (word0, body) in enumerate(chunks):
            error = (errors or {}).get(k, ErrorCode.NONE)
            words = [word0, *(int(w) for w in body)]
            for i, word in enumerate(words):
                last = i == len(words) - 1
                await put(ctx, dut.words, {"data": word, "last": last,
                                           "error": error if last else ErrorCode.NONE},
                          rng, stall)
            # the chunk's pairs have all left once its verdict is in and the lane is drained
            while len(verdicts) <= k or not ctx.get(dut.drained):
                await ctx.tick()
            for _ in range(2):
                await ctx.tick()
            out.append(len(pairs_seen))
        done["flag"] = True

    pairs_seen = []

    async def monitor(ctx):             # a chunk's verdict, as busy falls
        busy = 0
        while True:
            _, _, now, code = await ctx.tick().sample(dut.status.busy, dut.status.code)
            if busy and not now:
                verdicts.append(ErrorCode(code))
            busy = now

    async def consumer(ctx):
        while True:
            p = await get(ctx, dut.pairs, rng, stall)
            width = esc_width if p.escape else widths[list(table.codes).index(int(p.code))]
            code = 0 if p.escape else int(p.code)   # (not defined for an escape)
            pairs_seen.append((code, int(p.escape), int(p.raw) & ((1 << width) - 1),
                               int(p.last)))

    simulate(dut, [producer, consumer, monitor], done, max_cycles=200_000, what="lane")
    bounds = [0, *out]
    return [pairs_seen[a:b] for a, b in zip(bounds, bounds[1:])], verdicts


@pytest.mark.parametrize("extra_step", [16, 8])
@pytest.mark.parametrize("states", [1, 2, 4])
def test_chunks_bit_exact_with_stalls(states, extra_step):
    """Pairs, in order, as the golden decoder makes them; escapes wider than ``extra_step``
    take their second read."""
    rng = np.random.default_rng(states)
    x = bf16_weights(rng, 400)
    table, codes, extras = escape_heavy_table(x)
    payload = codec.encode_payload(table, codes, extras, chunk_pairs=130, states=states)
    chunks = chunks_of(payload)
    dut = DecodeLane(table_log_max=10, extra_max=16, extra_step=extra_step)
    got, verdicts = run_lane(dut, table, chunks, seed=states, stall=0.3)
    for (word0, body), pairs in zip(chunks, got):
        assert pairs == golden_chunk(table, word0, body)[0]
    assert verdicts == [ErrorCode.NONE] * len(chunks)


def test_broken_bodies_give_the_golden_error():
    """Every error the lane finds itself (bits past the body, a final state not 0, padding),
    against the golden decoder's verdict on the same body: flipped bits, bodies cut short and
    bodies with a word too many."""
    rng = np.random.default_rng(5)
    x = bf16_weights(rng, 120)
    table, payload, _ = codec.compress_values(x, codebooks.for_dtype("BF16"), max_table_log=9,
                                              chunk_pairs=120, states=4)
    (word0, body), = chunks_of(payload)
    cases = []
    for k in range(12):                 # single flipped bits all over the body
        bad = body.copy()
        bad[k * len(body) // 12] ^= np.uint32(1 << int(rng.integers(32)))
        cases.append(bad)
    cases += [body[:-1], body[:-2], np.append(body, np.uint32(0)), np.append(body, body[:3])]
    last = body.copy()
    last[-1] |= np.uint32(1 << 31)      # a padding bit set
    cases.append(last)
    expected = [golden_chunk(table, word0, c)[1] for c in cases]
    assert {ErrorCode.OVERRUN, ErrorCode.STATE, ErrorCode.PADDING} <= set(expected)
    dut = DecodeLane(table_log_max=9, extra_max=16, extra_step=8)
    _, verdicts = run_lane(dut, table, [(word0, c) for c in cases] + [(word0, body)], seed=1,
                           stall=0.2)
    assert verdicts == expected + [ErrorCode.NONE]


def test_front_end_verdict_comes_first():
    """The error that comes with a chunk's last word is the chunk's verdict, before the lane's
    own; a chunk of its descriptor alone with an error emits nothing; the next chunk decodes."""
    rng = np.random.default_rng(6)
    x = bf16_weights(rng, 200)
    table, payload, _ = codec.compress_values(x, codebooks.for_dtype("BF16"), max_table_log=9,
                                              chunk_pairs=100, states=4)
    chunks = chunks_of(payload)
    (w0, b0), (w1, b1) = chunks
    cut = b0[:len(b0) // 2]             # (alone, an OVERRUN)
    run = [(w0, cut), (w0, np.array([], np.uint32)), (w0, b0), (w1, b1)]
    errors = {0: ErrorCode.TRUNCATED, 1: ErrorCode.MAGIC, 2: ErrorCode.CRC}
    dut = DecodeLane(table_log_max=9, extra_max=16, extra_step=8)
    got, verdicts = run_lane(dut, table, run, seed=2, stall=0.25, errors=errors)
    assert verdicts == [ErrorCode.TRUNCATED, ErrorCode.MAGIC, ErrorCode.CRC, ErrorCode.NONE]
    assert got[1] == []
    assert got[3] == golden_chunk(table, w1, b1)[0]


def test_parameter_errors():
    with pytest.raises(ValueError, match=r"extra_step must be 8 \.\. 16, not 7"):
        DecodeLane(table_log_max=10, extra_max=16, extra_step=7)
    with pytest.raises(ValueError, match=r"extra_max must be 1 \.\. 22, not 23"):
        DecodeLane(table_log_max=10, extra_max=23)


def test_latency_as_documented():
    """The first pair leaves DecodeLane.LATENCY cycles after the descriptor is taken (no stalls),
    as its docstring says."""
    from streamsim import first_output_latency
    rng = np.random.default_rng(8)
    table, payload, _ = codec.compress_values(bf16_weights(rng, 200), codebooks.for_dtype("BF16"),
                                              max_table_log=10, chunk_pairs=200, states=4)
    (word0, body), = chunks_of(payload)
    dut = DecodeLane(table_log_max=10, extra_max=16, extra_step=8)
    writes = [{"state": u, "entry": unpack_int(DecodeEntry, split_entry(int(w), 8, 16))}
              for u, w in enumerate(table.image()[1:])]
    words = [{"data": w, "last": i == len(body), "error": 0}
             for i, w in enumerate([word0, *(int(b) for b in body)])]
    assert first_output_latency(dut, writes, words, dut.words, dut.pairs) == DecodeLane.LATENCY


@pytest.mark.parametrize("extra_step", [16, 8])
def test_table_port_entries_as_split_entry_says(extra_step):
    """The table port's entries, for random entries and those of escape-heavy tables, are
    split_entry's, and its bad flag rises exactly for entries no lane of its size decodes."""
    from amaranth.sim import Simulator

    from golden.format.layouts import pack_int
    from hdl.ans.decode.table_port import TablePort
    R, X = 10, 16
    rng = np.random.default_rng(extra_step)
    table = escape_heavy_table(bf16_weights(rng, 300), table_log=10)[0]
    entries = [int(w) for w in table.image()[1:200]]
    entries += [int(v) for v in rng.integers(0, 1 << 32, 300, dtype=np.uint64)]
    entries += [pack_int(DecodeEntry, base=0, nbits=n, total=t, escape=e, code=c)
                for n in (0, 3, 10, 11) for t in (n, n + 8, n + 9, n + 16, n + 17)
                for e in (0, 1) for c in (0, 5)]

    def bad(word):
        f = unpack_int(DecodeEntry, word)
        width = f["total"] - f["nbits"]
        return (f["nbits"] > R or width < 0 or width > X or (not f["escape"] and width > extra_step)
                or f["base"] & ((1 << f["nbits"]) - 1) != 0)

    dut = TablePort(table_log_max=R, extra_max=X, extra_step=extra_step)
    seen = []

    async def bench(ctx):
        ctx.set(dut.accept, 1)
        for word in entries:
            ctx.set(dut.table.valid, 1)
            ctx.set(dut.table.payload, {"addr": 0, "data": 0})     # a config word: bad clears
            await ctx.tick()
            ctx.set(dut.table.payload, {"addr": 1 + 7, "data": word})
            await ctx.tick()
            ctx.set(dut.table.valid, 0)
            for _ in range(3):
                _, _, valid, payload, is_bad = await ctx.tick().sample(
                    dut.entries.valid, dut.entries.payload, dut.bad)
                if valid:
                    got = payload.entry.as_value().value
                    assert int(payload.state) == 7
            seen.append((got, bool(is_bad)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [(split_entry(w, extra_step, X), bad(w)) for w in entries]
