# amaranth: UnusedElaboratable=no
"""Output converters in Amaranth's simulator, bit for bit against golden/.

FixedPointConverter over every bf16 pattern (two formats) and samples of the other float
formats; PairToInt over every int8 and int4 value; PairToPosit over every posit8 pattern and
every 7th posit16 pattern. Every stream is stalled at random on both sides, and a monitor checks
the output stream rules on every cycle.
"""

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden import fixed
from golden.format import codebooks
from hdl.convert.fixed import FixedPointConverter
from hdl.convert.pair_to_value import PairToInt, PairToPosit

from streamsim import get, put


def run_stream(dut, inp, out, payloads, *, seed=0, in_stall=0.0, out_stall=0.0, setup=(),
               count_cycles=False):
    """Send ``payloads`` into ``inp``, return ``(values, lasts, cycles)`` read from ``out``.

    ``setup``: ``(signal, value)`` pairs set before the first payload. When the output stalls,
    a monitor fails the run if ``out.valid`` drops, or ``out.payload`` changes, while a transfer
    is pending; ``cycles`` is counted by the monitor (always on when ``out_stall`` is 0, where
    nothing can be pending, only with ``count_cycles``).
    """
    rng = random.Random(seed)
    values, lasts, errors = [], [], []
    cycles = {"n": 0}

    async def producer(ctx):
        for signal, value in setup:
            ctx.set(signal, value)
        for payload in payloads:
            await put(ctx, inp, payload, rng, in_stall)

    async def consumer(ctx):
        for _ in payloads:
            payload = await get(ctx, out, rng, out_stall)
            values.append(int(payload.value))
            lasts.append(int(payload.last))

    async def monitor(ctx):
        pending = None
        async for _, _, valid, ready, payload in ctx.tick().sample(out.valid, out.ready,
                                                                   out.payload):
            cycles["n"] += 1
            bits = payload.as_value().value
            if pending is not None and not (valid and bits == pending):
                errors.append(f"cycle {cycles['n']}: valid or payload changed before transfer")
            pending = bits if valid and not ready else None

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer, background=True)
    if out_stall or count_cycles:
        sim.add_testbench(monitor, background=True)
    sim.add_testbench(consumer)
    steps = 0
    while sim.advance():   # sim.run(), with a bound: a DUT that drops a value hangs `get`
        steps += 1
        assert not errors, errors[0]
        assert steps < 20 * len(payloads) + 2000, f"hung after {len(values)} values"
    assert errors == []
    return np.array(values, np.uint64), lasts, cycles["n"]


def lasts_for(n, every=1000):
    return [int(i % every == every - 1 or i == n - 1) for i in range(n)]


def check_fixed(dut, bits, *, seed, stall, fmt_args):
    lasts = lasts_for(len(bits))
    payloads = [{"value": int(b), "last": last} for b, last in zip(bits, lasts)]
    got, got_lasts, _ = run_stream(dut, dut.values, dut.fixed, payloads, seed=seed,
                                   in_stall=stall, out_stall=stall)
    want = fixed.to_bits(fixed.float_to_fixed(bits, *fmt_args, dut.width, dut.frac,
                                              infinities=dut.infinities), dut.width)
    bad = np.flatnonzero(got != want)
    assert not bad.size, (f"{bad.size} mismatches, first: 0x{int(bits[bad[0]]):x} -> "
                          f"0x{int(got[bad[0]]):x}, golden 0x{int(want[bad[0]]):x}")
    assert got_lasts == lasts


ALL_BF16 = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)


@pytest.mark.parametrize("width,frac,stall", [(16, 8, 0.2), (8, 3, 0.0), (32, 30, 0.0)])
def test_fixed_all_bf16(width, frac, stall):
    """Every bf16 pattern: Q8.8 with stalls; 8-bit and 32-bit outputs back to back."""
    dut = FixedPointConverter(8, 7, width, frac)
    check_fixed(dut, ALL_BF16, seed=width, stall=stall, fmt_args=(8, 7))


FP32_SPECIALS = [0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, 0xFFFFFFFF,
                 0x00000001, 0x80000001, 0x007FFFFF, 0x00800000, 0x7F7FFFFF, 0xFF7FFFFF,
                 0x3F000000, 0x3FC00000, 0x40200000, 0x3F000001, 0xBF000000, 0x3EFFFFFF,
                 0x4EFFFFFF, 0x4F000000, 0xCF000000, 0xCF000001]


@pytest.mark.parametrize("fmt,width,frac,infinities,n", [
    ("fp16", 16, 24, True, 3000),      # subnormals reach the output
    ("fp16", 12, 4, True, 3000),
    ("fp32", 32, 0, True, 3000),       # +-2**31 edges in the specials
    ("fp32", 24, 40, True, 3000),
    ("fp8e4m3", 8, 4, False, 256),
    ("fp8e4m3", 2, 0, False, 256),
    ("fp8e5m2", 16, 17, True, 256),
])
def test_fixed_other_formats(fmt, width, frac, infinities, n):
    e, m, _ = fixed.FLOAT_FORMATS[fmt]
    bits = 1 + e + m
    rng = np.random.default_rng(width + frac)
    if bits == 8:
        x = np.arange(256, dtype=np.uint32)
    elif bits == 16:
        x = np.concatenate([np.arange(0, 1 << 16, 1 << 9),         # every exponent, sign
                            rng.integers(0, 1 << 16, n)]).astype(np.uint32)
    else:
        x = np.concatenate([FP32_SPECIALS, rng.integers(0, 1 << 32, n, dtype=np.uint64)
                            .astype(np.uint32)]).astype(np.uint32)
    dut = FixedPointConverter(e, m, width, frac, infinities=infinities)
    check_fixed(dut, x, seed=frac, stall=0.3, fmt_args=(e, m))


def test_fixed_latency_and_throughput():
    """Unstalled, n values leave in n + 2 cycles (two stages, one value per clock)."""
    dut = FixedPointConverter()
    payloads = [{"value": int(v), "last": 0} for v in range(0x3F00, 0x3F00 + 500)]
    _, _, cycles = run_stream(dut, dut.values, dut.fixed, payloads, count_cycles=True)
    assert cycles <= 500 + 3, cycles


def pack_pairs(book, patterns, extra_max):
    """The pairs of ``patterns``, random bits above each code's extra bits (the decoder lane
    leaves the stream's next bits there: a converter reads a code's own width only)."""
    codes, extras = book.encode(patterns)
    lasts = lasts_for(len(patterns), 97)
    rng = random.Random(len(patterns))
    widths = [int(w) for w in book.widths]
    return [{"code": int(c), "extra": int(x) | rng.getrandbits(extra_max) >> widths[c] << widths[c],
             "last": last}
            for c, x, last in zip(codes, extras, lasts)], lasts


@pytest.mark.parametrize("bits,extra_max", [(8, None), (8, 16), (4, None), (4, 9)])
def test_int_packer_whole_domain(bits, extra_max):
    book = codebooks.get(f"int{bits}")
    dut = PairToInt(bits, extra_max)
    patterns = np.arange(1 << bits)
    patterns = np.concatenate([patterns, patterns[::-1]])
    payloads, lasts = pack_pairs(book, patterns, dut.extra_max)
    got, got_lasts, _ = run_stream(dut, dut.pairs, dut.values, payloads, seed=bits,
                                   in_stall=0.3, out_stall=0.3,
                                   setup=[(dut.codebook, book.ident)])
    assert got.tolist() == patterns.tolist()
    assert got.tolist() == book.decode(*book.encode(patterns)).tolist()
    assert got_lasts == lasts


POSIT16_SAMPLE = np.concatenate([
    [0, 0x8000, 0x0001, 0xFFFF, 0x7FFF, 0x8001, 0x4000, 0xC000, 0x0002, 0xFFFE, 0x3FFF],
    np.arange(0, 1 << 16, 7)])


@pytest.mark.parametrize("name,patterns", [("posit8", np.arange(256)),
                                           ("posit16", POSIT16_SAMPLE)])
def test_posit_packer(name, patterns):
    book = codebooks.get(name)
    dut = PairToPosit(book.n, book.es)
    payloads, lasts = pack_pairs(book, patterns, dut.extra_max)
    got, got_lasts, _ = run_stream(dut, dut.pairs, dut.values, payloads, seed=book.n,
                                   in_stall=0.3, out_stall=0.3,
                                   setup=[(dut.codebook, book.ident)])
    assert got.tolist() == [int(p) for p in patterns]
    assert got.tolist() == book.decode(*book.encode(patterns)).tolist()
    assert got_lasts == lasts


def test_posit_rom_from_golden():
    """The per-code table: zero, NaR, and a prefix with a zero fraction under every code."""
    book = codebooks.get("posit16")
    rom = PairToPosit(16, 1).rom()
    assert len(rom) == book.n_codes
    assert rom[0] == (0, 0, False) and rom[1] == (0x8000, 0, False)
    for prefix, fw, signed in rom[2:]:
        assert signed and prefix < 0x8000 and prefix & ((1 << fw) - 1) == 0
    assert max(fw for _, fw, _ in rom) == 12


def test_supported_flag():
    async def bench(ctx):
        for dut, ident in ((int8, 11), (posit8, 13)):
            for value in range(256):
                ctx.set(dut.codebook, value)
                await ctx.delay(1e-9)
                seen.append(ctx.get(dut.supported) == (value == ident))

    from amaranth.hdl import Module
    m = Module()
    m.submodules.int8 = int8 = PairToInt(8)
    m.submodules.posit8 = posit8 = PairToPosit(8, 0)
    seen = []
    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert len(seen) == 512 and all(seen)


def test_parameter_errors():
    with pytest.raises(ValueError, match=r"^width must be 2 \.\. 32, not 1$"):
        FixedPointConverter(width=1)
    with pytest.raises(ValueError, match=r"^width must be 2 \.\. 32, not 40$"):
        FixedPointConverter(width=40)
    with pytest.raises(ValueError, match=r"^frac must be 0 \.\. 64, not -2$"):
        FixedPointConverter(frac=-2)
    with pytest.raises(ValueError, match=r"^exp_bits must be 2 \.\. 8, not 11$"):
        FixedPointConverter(11, 52)
    with pytest.raises(ValueError, match=r"^man_bits must be 1 \.\. 26, not 0$"):
        FixedPointConverter(5, 0)
    with pytest.raises(ValueError, match=r"^no built-in integer code book of 5 bits$"):
        PairToInt(5)
    with pytest.raises(ValueError, match=r"^extra_max must be 8 \.\. 24 for code book int8, "
                                         r"not 7$"):
        PairToInt(8, 7)
    with pytest.raises(ValueError, match=r"^no built-in posit code book with n=8 and es=1$"):
        PairToPosit(8, 1)
    with pytest.raises(ValueError, match=r"^extra_max must be 13 \.\. 24 for code book "
                                         r"posit16, not 25$"):
        PairToPosit(16, 1, 25)
