"""Bf16DotEngine and FixedDotEngine (hdl/engine/dot.py) in Amaranth's simulator against
golden.engine, bit for bit: random weights (with zeros, infinities, NaNs and subnormals among
them for bf16), rows shorter and longer than the accumulator's slots, a short last row, two
tensors back to back with a new activation vector, random stalls on every stream."""

import random

import ml_dtypes
import numpy as np
import pytest

from golden import engine, fixed
from hdl.engine.dot import Bf16DotEngine, FixedDotEngine

from streamsim import get, put, simulate


def bf16(rng, n, scale=1.0):
    v = (rng.standard_normal(n) * scale).astype(ml_dtypes.bfloat16).view(np.uint16)
    special = rng.random(n) < 0.01
    v[special] = rng.choice(np.array([0, 0x8000, 0x7F80, 0xFF80, 0x7FC1, 0x0003, 0x7F7F],
                                     np.uint16), special.sum())
    return v


def run_engine(dut, jobs, lanes, *, seed=0, stall=0.3, mask=0xFFFF):
    """jobs: (x, weights, cols); returns the results of each job (values, lasts)."""
    rng = random.Random(seed)
    done = {"flag": False, "cycle": 0}
    got = []

    async def producer(ctx):
        for x, weights, cols in jobs:
            while not ctx.get(dut.idle):
                await ctx.tick()
            ctx.set(dut.row_beats, cols // lanes)
            ctx.set(dut.restart, 1)
            await ctx.tick()
            ctx.set(dut.restart, 0)
            for i in range(0, len(x), lanes):
                await put(ctx, dut.activations, {"data": [int(v) & mask for v in x[i:i + lanes]],
                                                 "count": lanes,
                                                 "last": i + lanes >= len(x)}, rng, stall)
            for i in range(0, len(weights), lanes):
                group = [int(v) & mask for v in weights[i:i + lanes]]
                await put(ctx, dut.weights, {"data": group + [0] * (lanes - len(group)),
                                             "count": len(group),
                                             "last": i + lanes >= len(weights)}, rng, stall)

    async def consumer(ctx):
        for x, weights, cols in jobs:
            rows = -(-len(weights) // cols)
            out = []
            for r in range(rows):
                res = await get(ctx, dut.results, rng, stall)
                out.append((int(res.value), int(res.last)))
            got.append(out)
        done["flag"] = True

    simulate(dut, [producer, consumer], done, max_cycles=200_000, what="engine")
    return got


@pytest.mark.parametrize("lanes", [1, 2, 3, 8])
def test_bf16_engine_matches_golden(lanes):
    rng = np.random.default_rng(lanes)
    dut = Bf16DotEngine(lanes=lanes, cols_max=24 * lanes)
    jobs = []
    for cols_beats, rows, short in [(1, 5, 0), (3, 4, 0), (9, 3, 5), (24, 2, 1)]:
        cols = cols_beats * lanes
        n = rows * cols - (short % cols if short else 0)
        jobs.append((bf16(rng, cols), bf16(rng, n, 0.05), cols))
    got = run_engine(dut, jobs, lanes, seed=lanes)
    for (x, w, cols), out in zip(jobs, got):
        want = engine.bf16_matvec(w, x, cols, lanes)
        assert [v for v, _ in out] == [int(v) for v in want]
        assert [last for _, last in out] == [0] * (len(want) - 1) + [1]


@pytest.mark.parametrize("lanes", [1, 4, 5])
def test_fixed_engine_matches_golden(lanes):
    rng = np.random.default_rng(10 + lanes)
    width, frac = 16, 12
    dut = FixedDotEngine(lanes=lanes, cols_max=40 * lanes, weight_bits=width, act_bits=16)
    jobs = []
    for cols_beats, rows, short in [(1, 6, 0), (40, 3, 3), (7, 4, 0)]:
        cols = cols_beats * lanes
        n = rows * cols - short
        jobs.append((rng.integers(-1 << 15, 1 << 15, cols), bf16(rng, n, 2.0), cols))
    conv = [(x, fixed.to_bits(fixed.bf16_to_fixed(w, width, frac), width), cols)
            for x, w, cols in jobs]
    got = run_engine(dut, conv, lanes, seed=lanes)
    bits = dut.result_bits
    for (x, w, cols), out in zip(jobs, got):
        want = engine.fixed_matvec(w, x, cols, width, frac)
        assert [v for v, _ in out] == [int(v) & ((1 << bits) - 1) for v in want]
        assert out[-1][1] == 1


def test_one_beat_per_clock():
    """Without stalls, the engine takes a beat in every clock."""
    lanes, cols = 4, 32
    dut = Bf16DotEngine(lanes=lanes, cols_max=cols)
    done = {"flag": False, "cycle": 0}
    taken = []

    async def bench(ctx):
        ctx.set(dut.row_beats, cols // lanes)
        ctx.set(dut.results.ready, 1)
        ctx.set(dut.weights.valid, 1)
        for k in range(200):
            ctx.set(dut.weights.payload, {"data": [0x3F80] * lanes, "count": lanes,
                                          "last": k == 199})
            _, _, ready = await ctx.tick().sample(dut.weights.ready)
            taken.append(ready)
        ctx.set(dut.weights.valid, 0)
        done["flag"] = True

    simulate(dut, [bench], done, max_cycles=1000)
    assert all(taken)
