"""BeatPacker (hdl/common/beat_packer.py) in Amaranth's simulator: runs of elements anywhere in
the input beats come out dense, in order, every beat full but a run's last, under random stalls."""

import random

import pytest

from hdl.common.beat_packer import BeatPacker

from streamsim import get, put, simulate


@pytest.mark.parametrize("width, stall", [(1, 0.3), (2, 0.0), (4, 0.4), (8, 0.2), (3, 0.3)])
def test_runs_come_out_dense(width, stall):
    rng = random.Random(width)
    dut = BeatPacker(16, width)
    runs = [[rng.getrandbits(16) for _ in range(rng.randrange(1, 40))] for _ in range(30)]
    runs.append([7] * width)                      # exactly one beat
    beats = []
    for run in runs:
        i = 0
        while i < len(run):
            lo = rng.randrange(width)
            n = min(rng.randrange(1, width - lo + 1), len(run) - i)
            data = [rng.getrandbits(16) for _ in range(width)]
            data[lo:lo + n] = run[i:i + n]
            i += n
            beats.append({"data": data, "lo": lo, "count": n, "last": i == len(run)})
    got = []
    done = {"flag": False, "cycle": 0}

    async def producer(ctx):
        for b in beats:
            await put(ctx, dut.loose, b, rng, stall)

    async def consumer(ctx):
        while len(got) < len(runs):
            run = []
            while True:
                beat = await get(ctx, dut.packed, rng, stall)
                count = int(beat.count)
                run += [int(beat.data[j]) for j in range(count)]
                assert all(int(beat.data[j]) == 0 for j in range(count, width))
                if beat.last:
                    break
                assert count == width         # only a run's last beat is partial
            got.append(run)
        done["flag"] = True

    simulate(dut, [producer, consumer], done, max_cycles=50_000, what="packer")
    assert got == runs


def test_one_beat_per_clock():
    dut = BeatPacker(32, 4)
    done = {"flag": False, "cycle": 0}
    out = []

    async def bench(ctx):
        ctx.set(dut.packed.ready, 1)
        ctx.set(dut.loose.valid, 1)
        for k in range(40):       # beats of 3 words at lo 1: 30 full beats from 40
            ctx.set(dut.loose.payload, {"data": [0, k, k, k], "lo": 1, "count": 3,
                                        "last": k == 39})
            _, _, ready, valid = await ctx.tick().sample(dut.loose.ready, dut.packed.valid)
            assert ready
            out.append(valid)
        ctx.set(dut.loose.valid, 0)
        for _ in range(3):
            _, _, valid = await ctx.tick().sample(dut.packed.valid)
            out.append(valid)
        done["flag"] = True

    simulate(dut, [bench], done, max_cycles=100)
    assert sum(out) == 30
