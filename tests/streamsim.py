"""Helpers for Amaranth-simulator test benches: streams driven with random stalls."""

import random
from dataclasses import dataclass, field

__all__ = ["put", "get", "Job", "simulate", "run_decompressor", "first_output_latency"]


async def put(ctx, port, payload, rng=None, stall=0.0):
    """Send one payload; before it, ``valid`` stays low for random cycles (probability stall)."""
    while rng is not None and rng.random() < stall:
        await ctx.tick()
    ctx.set(port.valid, 1)
    ctx.set(port.payload, payload)
    while True:   # (not .until(): it cannot be closed cleanly in a background bench)
        _, _, ready = await ctx.tick().sample(port.ready)
        if ready:
            break
    ctx.set(port.valid, 0)


async def get(ctx, port, rng=None, stall=0.0):
    """Receive one payload; ``ready`` is held low for random cycles first."""
    while rng is not None and rng.random() < stall:
        await ctx.tick()
    ctx.set(port.ready, 1)
    while True:
        _, _, valid, payload = await ctx.tick().sample(port.valid, port.payload)
        if valid:
            break
    ctx.set(port.ready, 0)
    return payload


def simulate(dut, benches, done, *, max_cycles, what="design"):
    """Run ``benches`` (background testbenches) on ``dut`` until ``done["flag"]`` is set,
    counting cycles in ``done["cycle"]``; a design that has not finished after ``max_cycles``
    raises TimeoutError (a hung stream fails the test instead of hanging it)."""
    from amaranth.sim import Simulator

    async def clock(ctx):
        while not done["flag"]:
            await ctx.tick()
            done["cycle"] += 1
            if done["cycle"] > max_cycles:
                raise TimeoutError(f"{what} did not finish (hung stream?)")

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for bench in benches:
        sim.add_testbench(bench, background=True)
    sim.add_testbench(clock)
    sim.run()


@dataclass
class Job:
    """One tensor for the decompressor: table image (None: keep the loaded table), payload."""
    image: object
    payload: object
    values: list = field(default_factory=list)   # filled in: (value, last) pairs
    code: object = None                           # filled in: status code after the tensor
    cycles: int = 0                               # filled in: first header word to idle


def run_decompressor(dut, jobs, *, seed=0, in_stall=0.0, out_stall=0.0, max_cycles=400_000):
    """Simulate a Decompressor on ``jobs`` back to back, with random stalls on every stream.

    After each tensor the bench waits until the decoder is idle and the output has drained,
    then records the tensor's values and status code into its :class:`Job`.
    """

    rng = random.Random(seed)
    out = []
    done = {"flag": False, "cycle": 0}

    async def producer(ctx):
        for job in jobs:
            if job.image is not None:
                for addr, word in enumerate(job.image):
                    await put(ctx, dut.table, {"addr": addr, "data": int(word)}, rng, in_stall)
            start = len(out)
            t0 = done["cycle"]
            for k, word in enumerate(job.payload):
                await put(ctx, dut.words, {"data": int(word), "last": k == len(job.payload) - 1},
                          rng, in_stall)
            quiet = 0
            # Wait for the decoder to go idle and the output to drain, to read this tensor's
            # status and values. (The next table is not held back by this bench: the DUT
            # must hold it off itself while values are in flight, see next_table_early.)
            while quiet < 6:
                await ctx.tick()
                busy, valid = ctx.get(dut.status.busy), ctx.get(dut.values.valid)
                quiet = quiet + 1 if not busy and not valid else 0
            job.cycles = done["cycle"] - t0
            job.code = ctx.get(dut.status.code)
            job.values = out[start:]
        done["flag"] = True

    async def consumer(ctx):
        while True:
            payload = await get(ctx, dut.values, rng, out_stall)
            out.append((int(payload.value), int(payload.last)))

    simulate(dut, [producer, consumer], done, max_cycles=max_cycles, what="decompressor")
    return jobs


def first_output_latency(dut, table_writes, words, words_port, out_port):
    """Cycles from the first word taken to the first output valid, without stalls, after
    ``table_writes`` (payloads for ``dut.table``, one per clock) and a few idle cycles."""
    from amaranth.sim import Simulator
    result = {}

    async def bench(ctx):
        ctx.set(out_port.ready, 1)
        for write in table_writes:
            ctx.set(dut.table.valid, 1)
            ctx.set(dut.table.payload, write)
            await ctx.tick()
        ctx.set(dut.table.valid, 0)
        for _ in range(5):
            await ctx.tick()
        cycle, first, i = 0, None, 0
        while "latency" not in result:
            ctx.set(words_port.valid, i < len(words))
            if i < len(words):
                ctx.set(words_port.payload, words[i])
            _, _, ready, valid = await ctx.tick().sample(words_port.ready, out_port.valid)
            if i < len(words) and ready:
                first = cycle if first is None else first
                i += 1
            if valid:
                result["latency"] = cycle - first
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return result["latency"]
