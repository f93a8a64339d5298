"""Helpers for Amaranth-simulator test benches: streams driven with random stalls."""

import random

__all__ = ["put", "get", "run_decompressor"]


async def put(ctx, port, payload, rng=None, stall=0.0):
    """Send one payload; before it, ``valid`` stays low for random cycles (probability stall)."""
    while rng is not None and rng.random() < stall:
        await ctx.tick()
    ctx.set(port.valid, 1)
    ctx.set(port.payload, payload)
    await ctx.tick().until(port.ready)
    ctx.set(port.valid, 0)


async def get(ctx, port, rng=None, stall=0.0):
    """Receive one payload; ``ready`` is held low for random cycles first."""
    while rng is not None and rng.random() < stall:
        await ctx.tick()
    ctx.set(port.ready, 1)
    (payload,) = await ctx.tick().sample(port.payload).until(port.valid)
    ctx.set(port.ready, 0)
    return payload


def run_decompressor(dut, jobs, *, seed=0, in_stall=0.0, out_stall=0.0, max_cycles=200_000):
    """Simulate ``dut`` (a Decompressor) on ``jobs``: a list of (table image, payload words,
    number of values expected). Returns ``(values per job, status after each job, cycles)``."""
    from amaranth.sim import Simulator

    rng = random.Random(seed)
    results, statuses = [], []
    counts = [n for _, _, n in jobs]
    state = {"cycles": 0, "done": False}

    async def producer(ctx):
        for image, payload, _ in jobs:
            # a table is written while the decoder is idle, before its tensor
            while ctx.get(dut.status.busy) or len(results) < len(statuses) + 0:
                await ctx.tick()
            for addr, word in enumerate(image):
                await put(ctx, dut.table, {"addr": addr, "data": int(word)}, rng, in_stall)
            for k, word in enumerate(payload):
                await put(ctx, dut.words, {"data": int(word), "last": k == len(payload) - 1},
                          rng, in_stall)
            # wait until this tensor is finished before the next table write
            await ctx.tick()
            while ctx.get(dut.status.busy):
                await ctx.tick()

    async def consumer(ctx):
        for n in counts:
            values = []
            for _ in range(n):
                payload = await get(ctx, dut.values, rng, out_stall)
                values.append(payload)
            results.append(values)
        state["done"] = True

    async def clock_count(ctx):
        while not state["done"]:
            await ctx.tick()
            state["cycles"] += 1
            if state["cycles"] > max_cycles:
                raise TimeoutError("decompressor did not finish")

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer, background=True)
    sim.add_testbench(consumer)
    sim.add_testbench(clock_count, background=True)
    sim.run()
    return results, state["cycles"]
