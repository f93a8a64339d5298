"""hdl.common.bit_select: the field multiplexer, in simulation and as the ECP5 netlist it becomes."""

import random

import pytest
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.sim import Simulator

from hdl.common.bit_select import bit_select, shift_left

from ansnum_helpers import prove_ecp5_netlist

#: (source bits, offset bits, field bits): the bit reader's field, the decoder's raw-bits
#: aligner, an odd offset width (a 2:1 stage first) and a source shorter than the offsets reach.
SHAPES = [(96, 6, 26), (26, 4, 16), (40, 5, 12), (20, 5, 8)]


#: (value bits, amount bits, result bits) for shift_left: the packer's.
LEFT_SHAPES = [(32, 5, 64), (12, 3, 16)]


class _Select(Elaboratable):
    def __init__(self, src_bits, offset_bits, width, *, left=False):
        self.src = Signal(src_bits)
        self.offset = Signal(offset_bits)
        self.out = Signal(width)
        self.left = left

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.out.eq((shift_left if self.left else bit_select)(
            m, platform, self.src, self.offset, len(self.out)))
        return m


@pytest.mark.parametrize("shape,left", [(s, False) for s in SHAPES] +
                         [(s, True) for s in LEFT_SHAPES])
def test_field_at_every_offset(shape, left):
    src_bits, offset_bits, width = shape
    dut = _Select(*shape, left=left)
    rng = random.Random(src_bits)
    cases = [(rng.getrandbits(src_bits), off) for off in range(1 << offset_bits)
             for _ in range(4)]

    async def bench(ctx):
        for src, off in cases:
            ctx.set(dut.src, src)
            ctx.set(dut.offset, off)
            await ctx.delay(1e-9)
            want = (src << off) if left else (src >> off)
            assert ctx.get(dut.out) == want & ((1 << width) - 1), (hex(src), off)

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("shape,left", [(s, False) for s in SHAPES] +
                         [(s, True) for s in LEFT_SHAPES])
def test_ecp5_netlist_equals_the_generic_logic(shape, left, tmp_path):
    """A SAT proof (Yosys ``miter`` + ``sat``) that the LUT4 / PFUMX netlist built for ECP5 is
    the plain multiplexer logic used in simulation and in the exported Verilog, for every
    source and offset."""
    gate = prove_ecp5_netlist(tmp_path, lambda: _Select(*shape, left=left),
                              lambda dut: [dut.src, dut.offset, dut.out], ("LUT4", "PFUMX"))
    assert "cell \\LUT4" in gate and "cell \\PFUMX" in gate
