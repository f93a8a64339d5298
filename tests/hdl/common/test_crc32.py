"""hdl.common.crc32 against zlib."""

import random
import zlib

from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.sim import Simulator

from hdl.common.crc32 import Crc32Word, crc32_step

from ansnum_helpers import prove_ecp5_netlist


def test_words_against_zlib():
    """Random sequences, gaps between words, ``start`` right before a sequence or earlier."""
    dut = Crc32Word()
    rng = random.Random(3)
    sequences = [[rng.getrandbits(32) for _ in range(rng.randint(0, 9))] for _ in range(60)]

    async def bench(ctx):
        for seq in sequences:
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            for word in seq:
                while rng.random() < 0.3:
                    await ctx.tick()
                ctx.set(dut.data, word)
                ctx.set(dut.valid, 1)
                await ctx.tick()
                ctx.set(dut.valid, 0)
            body = b"".join(w.to_bytes(4, "little") for w in seq)
            assert ctx.get(dut.crc) == zlib.crc32(body), seq

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_start_wins_over_a_word():
    """A word taken with ``start`` is lost: the sequence starts empty."""
    dut = Crc32Word()

    async def bench(ctx):
        ctx.set(dut.data, 0x12345678)
        ctx.set(dut.valid, 1)
        await ctx.tick()
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        ctx.set(dut.valid, 0)
        assert ctx.get(dut.crc) == 0

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


class _Step(Elaboratable):
    def __init__(self):
        self.x = Signal(32)
        self.out = Signal(32)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.out.eq(crc32_step(m, platform, self.x))
        return m


def test_step_is_zlib():
    """``F(x)`` in simulation: one word into a register of ``x`` is zlib's CRC step."""
    dut = _Step()
    rng = random.Random(5)

    async def bench(ctx):
        for _ in range(50):
            x = rng.getrandbits(32)
            ctx.set(dut.x, x)
            # zlib: crc32 of the word 0 from a register (its complement) that holds x
            assert ctx.get(dut.out) == zlib.crc32(b"\0\0\0\0", x ^ 0xFFFFFFFF) ^ 0xFFFFFFFF

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()


def test_ecp5_netlist_equals_the_generic_logic(tmp_path):
    """A SAT proof (Yosys ``miter`` + ``sat``) that the LUT4 network built for ECP5 is the plain
    XOR logic used in simulation and in the exported Verilog, for every register value."""
    gate = prove_ecp5_netlist(tmp_path, _Step, lambda dut: [dut.x, dut.out], ("LUT4",))
    # all of it LUT4 cells: no XOR left to Yosys
    assert "cell \\LUT4" in gate and "$xor" not in gate and "$reduce_xor" not in gate
