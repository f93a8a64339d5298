# amaranth: UnusedElaboratable=no
"""CodeHistogram in Amaranth's simulator, and the adaptive loop it closes with golden.ans.adaptive.

The hardware's counts of every window are read back while the next window counts and compared
with numpy's bincount of that window; then the counts of a simulated activation stream whose
statistics shift rebuild the table of the next block (golden.ans.adaptive), and the ratio recovers.
"""

import random

import ml_dtypes
import numpy as np
import pytest
from amaranth.hdl import ResetInserter, Signal
from amaranth.sim import Simulator

from golden.ans import codec
from golden.ans.adaptive import AdaptiveCoder, rebuild_table
from golden.format import codebooks
from hdl.ans.encode.histogram import CodeHistogram

from streamsim import put


def code_stream(rng, n, n_codes):
    """Codes with long runs of one code and A B A B alternations (the counter's hazards)."""
    out = []
    while len(out) < n:
        kind = rng.random()
        if kind < 0.3:
            out += [rng.randrange(n_codes)] * rng.randint(2, 40)
        elif kind < 0.45:
            a, b = rng.randrange(n_codes), rng.randrange(n_codes)
            out += [a, b] * rng.randint(1, 6)
        else:   # skewed towards low codes, as real code histograms are
            out.append(min(n_codes - 1, int(rng.expovariate(8 / n_codes))))
    return out[:n]


def run_histogram(dut, codes, schedule, *, seed=0, stall=0.3, max_cycles=200_000):
    """Feed ``codes`` through the tap window by window and read every completed window back.

    ``schedule``: per window ``(n_codes, window, clear)``: ``window`` is programmed before the
    window's first code, and ``clear`` is pulsed in the cycle of its last code. Codes have random
    valid bubbles (probability ``stall``). Returns the counts read back, one list per window; each
    read-back is checked to lie within one completed window (``ready_window`` high, ``windows``
    unchanged).
    """
    assert sum(n for n, _, _ in schedule) == len(codes)
    rng = random.Random(seed)
    n_counters = 1 << dut.code_bits
    results = []

    async def producer(ctx):
        await ctx.tick().repeat(n_counters)     # both banks are zeroed after reset
        pos = 0
        for n, window, clear in schedule:
            ctx.set(dut.window, window)
            for k in range(n):
                payload = {"code": codes[pos], "last": pos == len(codes) - 1}
                if clear and k == n - 1:
                    while rng.random() < stall:
                        await ctx.tick()
                    ctx.set(dut.codes.valid, 1)
                    ctx.set(dut.codes.payload, payload)
                    ctx.set(dut.clear, 1)
                    await ctx.tick()
                    ctx.set(dut.codes.valid, 0)
                    ctx.set(dut.clear, 0)
                else:
                    await put(ctx, dut.codes, payload, rng, stall)
                pos += 1

    async def reader(ctx):
        cycles = 0
        for index in range(len(schedule)):
            while not (ctx.get(dut.ready_window) and ctx.get(dut.windows) == index + 1):
                assert ctx.get(dut.codes.ready) == 1
                await ctx.tick()
                cycles += 1
                if cycles > max_cycles:
                    raise TimeoutError(f"window {index} never completed")
            counts = []
            for addr in range(n_counters):
                ctx.set(dut.read_addr, addr)
                await ctx.tick()
                cycles += 1
                assert ctx.get(dut.ready_window) == 1 and ctx.get(dut.windows) == index + 1, \
                    "the bench read too slowly: the next window closed during the read-back"
                counts.append(ctx.get(dut.read_data))
            results.append(counts)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer, background=True)
    sim.add_testbench(reader)
    sim.run()
    return results


def expected_counts(codes, schedule, n_counters, count_bits):
    out, pos = [], 0
    for n, _, _ in schedule:
        hist = np.bincount(codes[pos:pos + n], minlength=n_counters)
        out.append(np.minimum(hist, (1 << count_bits) - 1).tolist())
        pos += n
    return out


# --- parameters

@pytest.mark.parametrize("kwargs, message", [
    ({"code_bits": 0}, "code_bits must be an integer 1 .. 16, not 0"),
    ({"code_bits": 17}, "code_bits must be an integer 1 .. 16, not 17"),
    ({"code_bits": 8.0}, "code_bits must be an integer 1 .. 16, not 8.0"),
    ({"count_bits": 0}, "count_bits must be an integer 1 .. 32, not 0"),
    ({"count_bits": 33}, "count_bits must be an integer 1 .. 32, not 33"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError) as info:
        CodeHistogram(**kwargs)
    assert str(info.value) == message


def test_ports_and_defaults():
    dut = CodeHistogram()
    assert (dut.code_bits, dut.count_bits, dut.min_window) == (9, 20, 515)
    assert len(dut.codes.payload.code) == 9
    assert len(dut.read_addr) == 9 and len(dut.read_data) == 20
    assert len(dut.window) == 32 and len(dut.windows) == 16


# --- hardware counts

def test_windows_match_bincount():
    """Windows of 500 .. 620 codes (programmed at run time), runs of one code, valid bubbles."""
    dut = CodeHistogram(code_bits=8, count_bits=20)
    rng = random.Random(1)
    schedule = [(500, 500, False), (500, 500, False), (620, 620, False), (530, 530, False),
                (500, 500, False)]
    codes = code_stream(rng, sum(n for n, _, _ in schedule), 256)
    assert max(len(list(g)) for g in _runs(codes)) >= 20
    got = run_histogram(dut, codes, schedule, seed=2, stall=0.3)
    assert got == expected_counts(codes, schedule, 256, 20)


def _runs(codes):
    run = [codes[0]]
    for c in codes[1:]:
        if c == run[-1]:
            run.append(c)
        else:
            yield run
            run = [c]
    yield run


def test_clear_closes_window_default_size():
    """window = 0 (count until clear); default 9-bit codes; the clear cycle's code counts."""
    dut = CodeHistogram()
    rng = random.Random(3)
    schedule = [(1100, 0, True), (1200, 0, True), (1050, 0, True)]
    codes = code_stream(rng, sum(n for n, _, _ in schedule), 512)
    got = run_histogram(dut, codes, schedule, seed=4, stall=0.1)
    assert got == expected_counts(codes, schedule, 512, 20)


def test_counts_saturate():
    dut = CodeHistogram(code_bits=4, count_bits=3)
    rng = random.Random(5)
    schedule = [(100, 100, False), (120, 120, False), (100, 0, True)]
    codes = [3] * 30 + code_stream(rng, 290, 16)
    want = expected_counts(codes, schedule, 16, 3)
    assert want[0][3] == 7 and max(max(w) for w in want[1:]) == 7   # saturation is exercised
    got = run_histogram(dut, codes, schedule, seed=6, stall=0.2)
    assert got == want


def test_short_windows_and_early_clear_wait_for_the_scrub():
    """A window shorter than min_window, or a clear right after a close, is extended to the
    first cycle after the other bank is scrubbed: min_window codes at one code per clock."""
    dut = CodeHistogram(code_bits=4, count_bits=8)
    n = 16
    closes = []

    async def bench(ctx):
        await ctx.tick().repeat(n)
        ctx.set(dut.window, 5)
        for index in range(60):
            ctx.set(dut.codes.valid, 1)
            ctx.set(dut.codes.payload, {"code": index % 16, "last": 0})
            before = ctx.get(dut.windows)
            await ctx.tick()
            if ctx.get(dut.windows) != before:
                closes.append(index)
        ctx.set(dut.codes.valid, 0)
        ctx.set(dut.window, 0)
        await ctx.tick().repeat(30)
        assert ctx.get(dut.windows) == len(closes)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    step = dut.min_window
    assert closes == [4, 4 + step, 4 + 2 * step]
    # a clear at code 9, before the scrub has ended, and no window
    closes.clear()
    ready = []
    dut = CodeHistogram(code_bits=4, count_bits=8)

    async def bench_clear(ctx):
        await ctx.tick().repeat(n)
        for index in range(60):
            ctx.set(dut.codes.valid, 1)
            ctx.set(dut.codes.payload, {"code": 1, "last": 0})
            ctx.set(dut.clear, index in (2, 9))
            before = ctx.get(dut.windows)
            await ctx.tick()
            if ctx.get(dut.windows) != before:
                closes.append(index)
            ready.append(ctx.get(dut.ready_window))     # in the cycle of code index + 1
        ctx.set(dut.codes.valid, 0)
        ctx.set(dut.clear, 0)
        await ctx.tick().repeat(2 * step)
        assert ctx.get(dut.windows) == len(closes)
        ctx.set(dut.read_addr, 1)
        await ctx.tick()
        assert ctx.get(dut.ready_window) and ctx.get(dut.read_data) == step

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench_clear)
    sim.run()
    assert closes == [2, 2 + step]
    # ready_window is high from min_window cycles after a close until the next close
    assert [i + 1 for i, r in enumerate(ready) if r] == \
        [2 + step] + list(range(2 + 2 * step, 61))


def test_reset_in_mid_window_zeroes_both_banks():
    """Memories keep their contents through a reset: the banks are zeroed after it."""
    dut = CodeHistogram(code_bits=4, count_bits=8)
    reset = Signal()
    top = ResetInserter(reset)(dut)
    rng = random.Random(7)
    before = code_stream(rng, 130, 16)       # three windows and a half, then a reset
    after = code_stream(rng, 80, 16)
    got = []

    async def send(ctx, codes):
        for c in codes:
            ctx.set(dut.codes.valid, 1)
            ctx.set(dut.codes.payload, {"code": c, "last": 0})
            await ctx.tick()
        ctx.set(dut.codes.valid, 0)

    async def bench(ctx):
        await ctx.tick().repeat(16)
        ctx.set(dut.window, 40)
        await send(ctx, before)
        ctx.set(reset, 1)
        await ctx.tick()
        ctx.set(reset, 0)
        assert ctx.get(dut.windows) == 0 and ctx.get(dut.window) == 40
        await ctx.tick().repeat(16)
        for k in range(2):
            await send(ctx, after[40 * k:40 * k + 40])
            await ctx.tick().repeat(dut.min_window)
            counts = []
            for addr in range(16):
                ctx.set(dut.read_addr, addr)
                await ctx.tick()
                counts.append(ctx.get(dut.read_data))
            got.append(counts)

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert got == expected_counts(after, [(40, 40, 0)] * 2, 16, 8)


# --- golden: rebuild_table

def test_rebuild_table_codes_every_code():
    book = codebooks.get("bf16-exp")
    counts = np.zeros(256, np.int64)
    counts[[120, 121, 122]] = [50, 300, 40]
    table = rebuild_table(counts, book, 10)
    assert table.escape and table.codes == (120, 121, 122)
    values = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)   # every bf16 pattern
    codes, extras = book.encode(values)
    payload = codec.encode_payload(table, codes, extras)
    back = codec.decode_payload(table, payload, len(values))
    assert (book.decode(*back) == values).all()


def test_rebuild_table_without_escape_and_flat():
    book = codebooks.get("int8")
    counts = np.zeros(16, np.int64)        # the hardware's 2**code_bits counters
    counts[[0, 1, 2]] = [900, 90, 9]
    table = rebuild_table(counts, book, 8, escape=False)
    assert not table.escape and table.codes == tuple(range(book.n_codes))
    assert min(table.counts) == 1 and table.counts[0] > table.counts[1] > table.counts[2]
    flat = rebuild_table(np.zeros(16, np.int64), book, 8)
    assert not flat.escape and max(flat.counts) - min(flat.counts) <= 1
    sexp = codebooks.get("bf16-sexp")     # 512 codes do not fit 256 states: escape the rest
    big = rebuild_table(np.zeros(512, np.int64), sexp, 8)
    assert big.escape and len(big.codes) < 256
    codes = np.arange(512)
    payload = codec.encode_payload(big, codes, np.zeros(512, np.uint32))
    assert (codec.decode_payload(big, payload, 512)[0] == codes).all()


@pytest.mark.parametrize("counts, book, kwargs, message", [
    (np.zeros(8), "int8", {}, "counts must be a vector of at least 9 counts"),
    (np.zeros((2, 16)), "int8", {}, "counts must be a vector of at least 9 counts"),
    (-np.ones(16), "int8", {}, "counts must not be negative"),
    (np.eye(16)[12] * 5, "int8", {}, "codes 9 and above are not in code book int8"),
    (np.ones(9), "int8", {"table_log": 13}, "table log must be 8 .. 12"),
    (np.ones(512), "bf16-sexp", {"table_log": 8, "escape": False},
     "512 codes do not fit a table of 256 states without an escape"),
])
def test_rebuild_table_errors(counts, book, kwargs, message):
    with pytest.raises(ValueError) as info:
        rebuild_table(counts, codebooks.get(book), **kwargs)
    assert str(info.value) == message


# --- the loop closes: hardware counts -> new table -> ratio recovers

BLOCK = 4096
N_BLOCKS = 6
SHIFT = 3                   # first block of the new statistics
SIMULATED = (2, 3)          # blocks whose histogram the hardware counts


def activations(name, rng):
    """Blocks of bf16 activations whose statistics change at block SHIFT."""
    blocks = []
    for k in range(N_BLOCKS):
        x = rng.standard_normal(BLOCK)
        if name == "bf16-exp":          # scale 0.01 -> 10: the exponents move by 10 binades
            x *= 0.01 if k < SHIFT else 10.0
        else:                           # post-ReLU-like (all positive) -> signed
            x = np.abs(x) * 0.5 if k < SHIFT else x * 0.5
        blocks.append(x.astype(ml_dtypes.bfloat16).view(np.uint16))
    return blocks


def ratio(n_values, payload):
    return n_values * 16 / (32 * len(payload))


@pytest.mark.parametrize("name", ["bf16-exp", "bf16-sexp"])
def test_adaptive_loop_recovers_with_hardware_counts(name):
    book = codebooks.get(name)
    blocks = activations(name, np.random.default_rng(11))

    # the hardware counts the codes of two blocks, one window each
    codes = np.concatenate([book.encode(blocks[k])[0] for k in SIMULATED]).astype(int).tolist()
    dut = CodeHistogram(code_bits=book.code_bits)
    schedule = [(BLOCK, BLOCK, False)] * len(SIMULATED)
    hardware = dict(zip(SIMULATED, run_histogram(dut, codes, schedule, seed=12, stall=0.1)))
    for k, counts in hardware.items():
        golden_counts = np.bincount(book.encode(blocks[k])[0], minlength=1 << book.code_bits)
        assert counts == golden_counts.tolist()

    encoder = AdaptiveCoder(book, table_log=10)
    decoder = AdaptiveCoder(book, table_log=10)
    adaptive, stale, best = [], [], []
    stale_table = None
    for k, values in enumerate(blocks):
        counts = hardware.get(k)
        if k == SHIFT:
            stale_table = encoder.table
        table, payload = encoder.encode(values, counts)
        back = codec.decode_payload(table, payload, BLOCK)
        assert (book.decode(*back) == values).all()
        assert (decoder.decode(payload, BLOCK, counts) == values).all()   # no table sent
        adaptive.append(ratio(BLOCK, payload))

        c, e = book.encode(values)
        opt, _ = codec.choose_table(book, c.astype(np.int64), max_table_log=10)
        best.append(ratio(BLOCK, codec.encode_payload(opt, c, e)))
        if stale_table is not None:     # the table of the last block before the shift, kept
            stale.append(ratio(BLOCK, codec.encode_payload(stale_table, c, e)))

    print(f"\n{name}: adaptive", np.round(adaptive, 3), "best", np.round(best, 3),
          "stale from the shift on", np.round(stale, 3))
    # the table of block SHIFT is stale: the ratio drops well below the block's best
    assert adaptive[SHIFT] < 0.8 * best[SHIFT]
    assert all(s < 0.8 * b for s, b in zip(stale, best[SHIFT:]))
    # everywhere else, the table rebuilt from the previous block's histogram is within 1%
    for k in range(1, N_BLOCKS):
        if k != SHIFT:
            assert adaptive[k] >= 0.99 * best[k], (k, adaptive[k], best[k])
