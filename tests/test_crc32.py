"""hdl.crc32 against zlib."""

import random
import zlib

from amaranth.sim import Simulator

from hdl.crc32 import Crc32Word


def test_words_against_zlib():
    """Random sequences, gaps between words, ``start`` alone or with a sequence's first word."""
    dut = Crc32Word()
    rng = random.Random(3)
    sequences = [[rng.getrandbits(32) for _ in range(rng.randint(0, 9))] for _ in range(60)]

    async def bench(ctx):
        for seq in sequences:
            together = bool(seq) and rng.random() < 0.5
            if not together:
                ctx.set(dut.start, 1)
                await ctx.tick()
                ctx.set(dut.start, 0)
            for k, word in enumerate(seq):
                while rng.random() < 0.3:
                    await ctx.tick()
                ctx.set(dut.data, word)
                ctx.set(dut.valid, 1)
                ctx.set(dut.start, together and k == 0)
                await ctx.tick()
                ctx.set(dut.valid, 0)
                ctx.set(dut.start, 0)
            body = b"".join(w.to_bytes(4, "little") for w in seq)
            assert ctx.get(dut.crc) == zlib.crc32(body), seq

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
