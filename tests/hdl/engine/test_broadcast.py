"""Broadcast, Deal, Zip (hdl/engine/broadcast.py) and FixedPointRow (hdl/engine/fixed_row.py) in
Amaranth's simulator: every consumer gets every payload in order under independent random
stalls; runs dealt in turn; zipped beats; a beat of bf16 values converted lane by lane as
golden.fixed converts them."""

import random

import ml_dtypes
import numpy as np
import pytest

from golden import fixed
from hdl.engine.broadcast import Broadcast, Deal, Zip
from hdl.engine.fixed_row import FixedPointRow

from streamsim import get, put, simulate


@pytest.mark.parametrize("count", [1, 3, 8])
def test_broadcast_every_consumer_gets_everything(count):
    rng = random.Random(count)
    dut = Broadcast(16, count)
    sent = [rng.getrandbits(16) for _ in range(200)]
    got = [[] for _ in range(count)]
    done = {"flag": False, "cycle": 0}

    async def producer(ctx):
        for v in sent:
            await put(ctx, dut.i, v, rng, 0.3)

    def consumer(k):
        async def bench(ctx):
            local = random.Random(100 + k)
            for _ in sent:
                got[k].append(await get(ctx, dut.o[k], local, 0.2 + 0.1 * k))
            if all(len(g) == len(sent) for g in got):
                done["flag"] = True
        return bench

    simulate(dut, [producer] + [consumer(k) for k in range(count)], done, max_cycles=20_000)
    assert all(g == sent for g in got)


def test_deal_and_zip():
    rng = random.Random(7)
    from amaranth.lib import data
    deal = Deal(data.StructLayout({"value": 8, "last": 1}), 3)
    runs = [[rng.getrandbits(8) for _ in range(rng.randrange(1, 6))] for _ in range(7)]
    got = [[] for _ in range(3)]
    done = {"flag": False, "cycle": 0}

    async def producer(ctx):
        for run in runs:
            for i, v in enumerate(run):
                await put(ctx, deal.i, {"value": v, "last": i == len(run) - 1}, rng, 0.3)
        for _ in range(5):
            await ctx.tick()
        done["flag"] = True

    def consumer(k):
        async def bench(ctx):
            while True:
                got[k].append(int((await get(ctx, deal.o[k], rng, 0.3)).value))
        return bench

    simulate(deal, [producer] + [consumer(k) for k in range(3)], done, max_cycles=5000)
    for k in range(3):
        assert got[k] == [v for r in runs[k::3] for v in r]

    zipper = Zip(8, 3)
    beats = []
    done = {"flag": False, "cycle": 0}

    def feeder(k):
        async def bench(ctx):
            for i in range(20):
                await put(ctx, zipper.i[k], {"value": 10 * k + i, "last": i == 19}, rng, 0.4)
        return bench

    async def sink(ctx):
        for _ in range(20):
            b = await get(ctx, zipper.o, rng, 0.3)
            beats.append(([int(b.value[k]) for k in range(3)], int(b.last)))
        done["flag"] = True

    from amaranth.hdl import ClockDomain, Module
    top = Module()                      # (Zip has no register: the bench's clock domain)
    top.domains.sync = ClockDomain()
    top.submodules.zip = zipper
    simulate(top, [feeder(k) for k in range(3)] + [sink], done, max_cycles=5000)
    assert beats == [([i, 10 + i, 20 + i], int(i == 19)) for i in range(20)]


@pytest.mark.parametrize("lanes", [1, 4])
def test_fixed_point_row_converts_lane_by_lane(lanes):
    rng = np.random.default_rng(lanes)
    values = (rng.standard_normal(200) * 4).astype(ml_dtypes.bfloat16).view(np.uint16)
    dut = FixedPointRow(lanes, width=16, frac=12)
    want = fixed.to_bits(fixed.bf16_to_fixed(values, 16, 12), 16)
    prng = random.Random(lanes)
    out = []
    done = {"flag": False, "cycle": 0}
    beats = [values[i:i + lanes] for i in range(0, len(values), lanes)]

    async def producer(ctx):
        for k, b in enumerate(beats):
            data = [int(v) for v in b] + [0x7F80] * (lanes - len(b))
            await put(ctx, dut.values, {"data": data, "count": len(b),
                                        "last": k == len(beats) - 1}, prng, 0.3)

    async def consumer(ctx):
        for k, b in enumerate(beats):
            r = await get(ctx, dut.fixed, prng, 0.3)
            assert int(r.count) == len(b) and int(r.last) == (k == len(beats) - 1)
            out.extend(int(r.data[i]) for i in range(len(b)))
        done["flag"] = True

    simulate(dut, [producer, consumer], done, max_cycles=10_000)
    assert out == [int(v) for v in want]
