"""ChunkBuffer (hdl/common/chunk_buffer.py) in Amaranth's simulator: every chunk out once, whole, in
reverse (or in) order, with its meta and count, under random stalls on both sides; chunks of
every size up to the full RAM, back to back."""

import random

import pytest

from hdl.common.chunk_buffer import ChunkBuffer

from streamsim import get, put, simulate


def chunks(rng, depth, n):
    sizes = [depth, depth, 1, 1, depth - 1, 2] + [rng.randint(1, depth) for _ in range(n)]
    sizes = [min(max(k, 1), depth) for k in sizes]
    return [[rng.getrandbits(12) for _ in range(k)] for k in sizes]


@pytest.mark.parametrize("depth, reverse, stall", [
    (16, True, 0.0), (16, True, 0.4), (13, True, 0.3), (12, True, 0.0), (16, False, 0.3),
    (5, True, 0.6), (1, True, 0.2)])
def test_chunks_whole_in_order_under_stalls(depth, reverse, stall):
    dut = ChunkBuffer(12, depth, meta=4, reverse=reverse)
    rng = random.Random(depth * 10 + reverse)
    sent = chunks(rng, depth, 40)
    got = []
    done = {"flag": False, "cycle": 0}

    async def producer(ctx):
        for k, items in enumerate(sent):
            for j, item in enumerate(items):
                # a chunk of depth items ends by itself; shorter ones by ``last``
                last = j == len(items) - 1 and (len(items) < depth or k % 2)
                await put(ctx, dut.i, {"item": item, "last": last, "meta": k % 16}, rng, stall)

    async def consumer(ctx):
        for k, items in enumerate(sent):
            out = []
            for j in range(len(items)):
                p = await get(ctx, dut.o, rng, stall)
                out.append(int(p.item))
                assert int(p.last) == (j == len(items) - 1), (k, j)
                assert int(p.count) == len(items)
                if j == len(items) - 1:
                    assert int(p.meta) == k % 16, k     # the chunk's last input item's
            got.append(out)
        done["flag"] = True

    simulate(dut, [producer, consumer], done, max_cycles=100_000, what="chunk buffer")
    assert got == [items[::-1] if reverse else items for items in sent]


@pytest.mark.parametrize("depth, reverse", [(16, True), (12, True), (16, False)])
def test_rate_without_stalls(depth, reverse):
    """Without stalls a chunk costs its items plus a few cycles; reversed chunks of the RAM's
    full size wait for the one before to drain, but only a few cycles each."""
    dut = ChunkBuffer(12, depth, reverse=reverse)
    n = 50
    done = {"flag": False, "cycle": 0}
    seen = []

    async def producer(ctx):
        for k in range(n):
            for j in range(depth):
                await put(ctx, dut.i, {"item": j, "last": j == depth - 1, "meta": 0})

    async def consumer(ctx):
        for _ in range(n * depth):
            await get(ctx, dut.o)
            seen.append(done["cycle"])
        done["flag"] = True

    simulate(dut, [producer, consumer], done, max_cycles=100_000, what="chunk buffer")
    cycles = seen[-1] - seen[depth - 1]
    per_chunk = cycles / (n - 1)
    print(f"depth {depth} reverse {reverse}: {per_chunk:.2f} cycles per chunk of {depth}")
    assert per_chunk <= depth + (6 if depth & (depth - 1) == 0 and reverse else 3)
