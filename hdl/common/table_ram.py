"""Decode-table memory: one write port, one read port with two register stages."""

from amaranth.hdl import ClockSignal, Const, Instance, Module, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["TableRAM"]

#: DP16KD aspect ratios (data width -> depth), and where the word address sits in ``AD[13:0]``.
#: The 36-bit one is the pseudo dual-port mode: port A writes, port B reads, data on both
#: ports' pins (as Yosys maps its PDPW16KD).
_DP16KD = {36: (512, 5), 18: (1024, 4), 9: (2048, 3), 4: (4096, 2), 2: (8192, 1),
           1: (16384, 0)}


class TableRAM(wiring.Component):
    """A ``depth`` x ``width`` RAM whose read goes through two registers with one enable.

    On every clock edge with ``read_en`` the address is taken and the data of the address
    taken at the previous such edge appears on ``read_data``: the read data is registered
    twice (in a block RAM, its address register and its output register), so no path starts
    at the RAM's slow clock-to-out. While ``read_en`` is low both stages hold. Writes take
    effect at the clock edge with ``write_en``; reading an address that is written in the same
    cycle is not defined (the decoder writes its table only while idle).

    On Lattice ECP5 (``platform.family == "ecp5"``) the RAM is built from DP16KD block RAMs
    with their output register (``REGMODE_B = "OUTREG"``): clock-to-out about 1 ns instead of
    5.8 ns. Yosys does not infer that register, so the primitive is instantiated here; the
    block RAMs are side by side in the narrowest aspect ratio that holds ``depth`` words, so
    that no output multiplexer follows them. Elsewhere (simulation, Verilog export, other
    FPGAs) it is an :class:`amaranth.lib.memory.Memory` followed by a register. (No simulation
    model of the primitive comes with the open flow: the generic path is the one simulated.)

    Parameters
    ----------
    depth, width : int

    Members
    -------
    write_addr : In(range(depth)), write_data : In(width), write_en : In(1)
    read_addr : In(range(depth)), read_en : In(1), read_data : Out(width)
    """

    def __init__(self, depth, width):
        self._depth, self._width = depth, width
        super().__init__({
            "write_addr": In(range(depth)),
            "write_data": In(width),
            "write_en": In(1),
            "read_addr": In(range(depth)),
            "read_en": In(1),
            "read_data": Out(width),
        })

    @property
    def depth(self):
        return self._depth

    @property
    def width(self):
        return self._width

    def elaborate(self, platform):
        if getattr(platform, "family", None) == "ecp5" and self._depth <= 16384:
            return self._elaborate_dp16kd()
        m = Module()
        m.submodules.mem = mem = memory.Memory(shape=self._width, depth=self._depth, init=[])
        wp = mem.write_port()
        rp = mem.read_port(domain="sync")
        m.d.comb += [
            wp.addr.eq(self.write_addr),
            wp.data.eq(self.write_data),
            wp.en.eq(self.write_en),
            rp.addr.eq(self.read_addr),
            rp.en.eq(self.read_en),
        ]
        with m.If(self.read_en):
            m.d.sync += self.read_data.eq(rp.data)
        return m

    def _elaborate_dp16kd(self):
        m = Module()
        bram_width, shift = next((w, s) for w, (d, s) in sorted(_DP16KD.items(), reverse=True)
                                 if d >= self._depth)
        abits = (self._depth - 1).bit_length()
        write_ad = Signal(14)
        read_ad = Signal(14)
        m.d.comb += [
            write_ad.eq(self.write_addr[:abits] << shift),
            read_ad.eq(self.read_addr[:abits] << shift),
        ]
        if bram_width >= 18:        # the low address bits are the byte enables of a write
            m.d.comb += write_ad[:bram_width // 9].eq(-1)
        for k, lo in enumerate(range(0, self._width, bram_width)):
            hi = min(lo + bram_width, self._width)
            data_in = Signal(36, name=f"din{k}")
            data_out = Signal(36, name=f"dout{k}")
            m.d.comb += [data_in.eq(self.write_data[lo:hi]),
                         self.read_data[lo:hi].eq(data_out[:hi - lo])]
            ports = {
                "i_CLKA": ClockSignal(), "i_CEA": Const(1), "i_WEA": self.write_en,
                "i_RSTA": Const(0),
                "i_CLKB": ClockSignal(), "i_CEB": self.read_en, "i_OCEB": self.read_en,
                "i_WEB": Const(0), "i_RSTB": Const(0),
                # (x36: the read data leaves on port A's pins too; its register moves with B's)
                "i_OCEA": self.read_en if bram_width == 36 else Const(1),
            }
            for side in "AB":
                for n in range(3):
                    ports[f"i_CS{side}{n}"] = Const(0)
            for n in range(14):
                ports[f"i_ADA{n}"] = write_ad[n]
                ports[f"i_ADB{n}"] = read_ad[n]
            for n in range(18):
                ports[f"i_DIA{n}"] = data_in[n]
                ports[f"o_DOB{n}"] = data_out[18 + n if bram_width == 36 else n]
                if bram_width == 36:
                    ports[f"i_DIB{n}"] = data_in[18 + n]
                    ports[f"o_DOA{n}"] = data_out[n]
                else:
                    ports[f"i_DIB{n}"] = Const(0)
            m.submodules[f"bram{k}"] = Instance(
                "DP16KD",
                p_DATA_WIDTH_A=bram_width, p_DATA_WIDTH_B=bram_width,
                p_REGMODE_A="OUTREG" if bram_width == 36 else "NOREG", p_REGMODE_B="OUTREG",
                p_WRITEMODE_A="NORMAL", p_WRITEMODE_B="NORMAL",
                p_RESETMODE="SYNC", p_CSDECODE_A="0b000", p_CSDECODE_B="0b000",
                p_GSR="DISABLED",
                **ports)
        return m
