"""BlockFIFO (hdl/common/block_fifo.py) in Amaranth's simulator: every entry out once, in order, under
random stalls on both sides; full and empty at the right levels."""

import random

import pytest

from hdl.common.block_fifo import BlockFIFO

from streamsim import get, put, simulate


@pytest.mark.parametrize("depth, stall", [(4, 0.0), (4, 0.5), (6, 0.3), (16, 0.7)])
def test_order_and_levels_under_stalls(depth, stall):
    dut = BlockFIFO(20, depth)
    rng = random.Random(depth)
    sent = [rng.getrandbits(20) for _ in range(300)]
    got, levels = [], []
    done = {"flag": False, "cycle": 0}

    async def producer(ctx):
        for value in sent:
            await put(ctx, dut.w, value, rng, stall)

    async def consumer(ctx):
        for _ in sent:
            got.append(await get(ctx, dut.r, rng, stall))
            levels.append(ctx.get(dut.level))
        done["flag"] = True

    simulate(dut, [producer, consumer], done, max_cycles=20_000, what="fifo")
    assert got == sent
    assert max(levels) <= depth + 2


def test_one_entry_per_clock_and_full():
    """Nobody reads: it takes depth entries plus the two in its read registers, then refuses;
    then it gives them back one per clock."""
    with pytest.raises(ValueError, match=r"^depth must be at least 4, not 3$"):
        BlockFIFO(8, 3)
    dut = BlockFIFO(8, 4)
    got = []
    taken = []
    done = {"flag": False, "cycle": 0}

    async def bench(ctx):
        ctx.set(dut.w.valid, 1)
        for k in range(12):
            ctx.set(dut.w.payload, len(taken))
            _, _, ready = await ctx.tick().sample(dut.w.ready)
            if ready:
                taken.append(len(taken))
        ctx.set(dut.w.valid, 0)
        assert ctx.get(dut.level) == 6
        ctx.set(dut.r.ready, 1)
        for _ in range(6):
            _, _, valid, payload = await ctx.tick().sample(dut.r.valid, dut.r.payload)
            assert valid
            got.append(int(payload))
        done["flag"] = True

    simulate(dut, [bench], done, max_cycles=100, what="fifo")
    assert taken == list(range(6))
    assert got == list(range(6))
