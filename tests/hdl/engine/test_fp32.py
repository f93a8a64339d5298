"""Bf16Multiplier and Fp32Adder (hdl/engine/fp32.py) in Amaranth's simulator against
golden.engine's bf16_mul and fp32_add, bit for bit: random operands of every kind (near
cancellations, every exponent difference, zeros of both signs, subnormals, infinities, NaNs,
overflow and underflow), one per clock through the fixed pipeline."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden.engine import bf16_mul, fp32_add
from hdl.engine.fp32 import Bf16Multiplier, Fp32Adder

SPECIAL32 = [0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFF812345, 0x00000001,
             0x807FFFFF, 0x00800000, 0x80800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x3F800000, 0xBF800000]


def through(dut, pairs, out_name):
    """Results of the pipeline for (a, b) pairs, one pair per clock."""
    latency = type(dut).LATENCY
    got = []

    async def bench(ctx):
        for k in range(len(pairs) + latency):
            if k < len(pairs):
                ctx.set(dut.a, int(pairs[k][0]))
                ctx.set(dut.b, int(pairs[k][1]))
                ctx.set(dut.tag, k & 1)
            await ctx.tick()
            if k >= latency - 1 and len(got) < len(pairs):
                got.append(ctx.get(getattr(dut, out_name)))
                assert ctx.get(getattr(dut, out_name + "_tag")) == (len(got) - 1) & 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return np.array(got, np.uint32)


def fp32_operands(rng, n):
    """Pairs that reach every path: random magnitudes, exponent differences 0 .. 30, equal
    magnitudes of opposite signs, values near the underflow and overflow thresholds, specials."""
    def u32(hi):
        return rng.integers(0, hi, n, dtype=np.uint64).astype(np.uint32)

    sign = np.uint32(0x80000000)
    a = u32(1 << 32)
    kind = rng.integers(0, 6, n)
    d = rng.integers(0, 31, n)
    e_a = ((a >> 23) & 0xFF).astype(np.int64)
    near = (np.clip(e_a - d, 0, 255).astype(np.uint32) << 23) | u32(1 << 23) | (u32(2) << 31)
    b = np.where(kind == 0, u32(1 << 32), near)
    b = np.where(kind == 2, a ^ sign, b)                                # x + (-x)
    b = np.where(kind == 3, (a ^ sign) + u32(4), b)                     # near cancellation
    low = ((u32(3) + 1) << 23) | u32(1 << 23)                           # near 2**-126
    a = np.where(kind == 4, low, a)
    b = np.where(kind == 4, low ^ sign ^ u32(1 << 23), b)
    high = np.uint32(0x7F000000) | u32(1 << 24)                         # near overflow
    a = np.where(kind == 5, high, a)
    b = np.where(kind == 5, high ^ u32(1 << 20), b)
    special = np.array([(x, y) for x in SPECIAL32 for y in SPECIAL32], np.uint32)
    return np.concatenate([special, np.stack([a, b], axis=1)])


def test_adder_matches_golden():
    rng = np.random.default_rng(1)
    pairs = fp32_operands(rng, 12000)
    got = through(Fp32Adder(), pairs, "sum")
    want = fp32_add(pairs[:, 0], pairs[:, 1])
    bad = np.flatnonzero(got != want)
    assert len(bad) == 0, [(hex(pairs[i, 0]), hex(pairs[i, 1]), hex(got[i]), hex(want[i]))
                           for i in bad[:5]]


def test_multiplier_matches_golden():
    rng = np.random.default_rng(2)
    special = [0, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0x7F81, 0x0001, 0x807F, 0x0080, 0x3F80,
               0x7F7F, 0x0100, 0x1F80, 0x5F80, 0x2000, 0x6000]
    pairs = [(x, y) for x in special for y in special]
    pairs += [tuple(p) for p in rng.integers(0, 1 << 16, (6000, 2))]
    pairs = np.array(pairs, np.uint32)
    got = through(Bf16Multiplier(), pairs, "product")
    want = bf16_mul(pairs[:, 0], pairs[:, 1])
    bad = np.flatnonzero(got != want)
    assert len(bad) == 0, [(hex(pairs[i, 0]), hex(pairs[i, 1]), hex(got[i]), hex(want[i]))
                           for i in bad[:5]]


def test_golden_rules():
    """The rules of golden.engine stated in its docstring, on examples."""
    one, two = 0x3F80, 0x4000
    assert bf16_mul([one], [two])[0] == 0x40000000
    assert bf16_mul([0x0001], [0x7F00])[0] == 0                 # subnormal input: zero
    assert bf16_mul([0x0080], [0x0080])[0] == 0                 # underflow: flushed
    assert bf16_mul([0x7F00], [0x7F00])[0] == 0x7F800000        # overflow: infinity
    assert bf16_mul([0x7F80], [0x8000])[0] == 0x7FC00000        # inf * 0: NaN
    assert fp32_add([0x3F800000], [0xBF800000])[0] == 0         # x + (-x) = +0
    assert fp32_add([0x80000000], [0x80000000])[0] == 0x80000000
    assert fp32_add([0x00800001], [0x80800000])[0] == 0         # subnormal sum: flushed
    assert fp32_add([0x7F7FFFFF], [0x7F7FFFFF])[0] == 0x7F800000
    assert fp32_add([0x3F800000], [0x33800000])[0] == 0x3F800000   # 1 + 2**-24: tie to even
    assert fp32_add([0x3F800001], [0x33800000])[0] == 0x3F800002
