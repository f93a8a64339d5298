"""A register file on AXI4-Lite: 32-bit registers declared once, as a table, from which the
hardware, the drivers of the test benches and docs/integration.md all take their offsets.

(amaranth-soc, which has CSR banks and bus bridges, is not on PyPI: its name there holds a
placeholder, version 0. This is the small part of it the system needs.)
"""

from dataclasses import dataclass

from amaranth.hdl import Array, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .bus import AxiLiteSignature, AxiResp

__all__ = ["Register", "Field", "RegisterFile", "ACCESS"]

#: ``rw``: written and read back; ``ro``: read only, its value from the design; ``pulse``: a
#: write sets the written bits for one cycle (commands), reads 0.
ACCESS = ("rw", "ro", "pulse")


@dataclass(frozen=True)
class Field:
    """A part of a register, for documentation (and for drivers that decode it)."""
    name: str
    lsb: int
    width: int
    doc: str

    def get(self, value):
        return (int(value) >> self.lsb) & ((1 << self.width) - 1)


@dataclass(frozen=True)
class Register:
    """One 32-bit register at byte ``offset`` (a multiple of 4)."""
    name: str
    offset: int
    access: str
    doc: str
    fields: tuple = ()
    init: int = 0

    def __post_init__(self):
        if self.access not in ACCESS:
            raise ValueError(f"register {self.name}: access must be one of "
                             f"{', '.join(ACCESS)}, not {self.access!r}")
        if self.offset % 4:
            raise ValueError(f"register {self.name}: offset 0x{self.offset:x} is not a "
                             "multiple of 4")

    def field(self, name):
        return next(f for f in self.fields if f.name == name)


class RegisterFile(wiring.Component):
    """AXI4-Lite slave in front of 32-bit registers.

    A write is taken when both its address and its data are offered (``AWREADY`` and ``WREADY``
    rise together, in the cycle after), honours ``WSTRB`` byte by byte and is answered OKAY;
    one to an offset that holds no writable register is answered SLVERR and changes nothing.
    A read is answered in the cycle after its address, OKAY with the register's value, or SLVERR
    with 0 for an offset that holds none. One write and one read may be in progress at once.
    ``AWPROT`` / ``ARPROT`` are ignored.

    Parameters
    ----------
    registers : sequence of Register
        Offsets below ``2**addr_width``, each used once.
    addr_width : int

    Members
    -------
    bus : In(AxiLiteSignature(addr_width=addr_width))
    <name> : Out(32) for ``rw`` and ``pulse`` registers, In(32) for ``ro`` ones (lower case)
    """

    def __init__(self, registers, *, addr_width=8):
        registers = tuple(registers)
        offsets = [r.offset for r in registers]
        if len(set(offsets)) != len(offsets):
            raise ValueError("two registers share an offset")
        if any(o >= 1 << addr_width for o in offsets):
            raise ValueError(f"an offset does not fit in {addr_width} address bits")
        self._registers, self._addr_width = registers, addr_width
        members = {"bus": In(AxiLiteSignature(addr_width=addr_width))}
        for r in registers:
            members[r.name.lower()] = In(32) if r.access == "ro" else Out(32, init=r.init)
        super().__init__(members)

    @property
    def registers(self):
        return self._registers

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        words = 1 << (self._addr_width - 2)

        def value(r):
            return Const(0, 32) if r.access == "pulse" else getattr(self, r.name.lower())

        readable = Array(Const(any(r.offset // 4 == i for r in self._registers))
                         for i in range(words))
        read_value = Array(next((value(r) for r in self._registers if r.offset // 4 == i),
                                Const(0, 32)) for i in range(words))

        # --- writes: address and data together, then the response
        for r in self._registers:
            if r.access == "pulse":
                m.d.sync += getattr(self, r.name.lower()).eq(0)
        bvalid = Signal()
        take = bus.awvalid & bus.wvalid & ~bvalid
        awready = Signal()
        m.d.sync += awready.eq(take & ~awready)
        accept = bus.awvalid & bus.wvalid & awready
        m.d.comb += [bus.awready.eq(awready), bus.wready.eq(awready), bus.bvalid.eq(bvalid)]
        waddr = bus.awaddr[2:]
        hit = Signal()
        with m.If(accept):
            m.d.sync += bvalid.eq(1)
            for r in self._registers:
                if r.access == "ro":
                    continue
                reg = getattr(self, r.name.lower())
                with m.If(waddr == r.offset // 4):
                    m.d.comb += hit.eq(1)
                    for b in range(4):
                        with m.If(bus.wstrb[b]):
                            m.d.sync += reg[8 * b:8 * b + 8].eq(bus.wdata[8 * b:8 * b + 8])
            m.d.sync += bus.bresp.eq(_resp(hit))
        with m.Elif(bvalid & bus.bready):
            m.d.sync += bvalid.eq(0)

        # --- reads: the address, then the data in the next cycle
        rvalid = Signal()
        m.d.comb += [bus.arready.eq(~rvalid), bus.rvalid.eq(rvalid)]
        with m.If(bus.arvalid & ~rvalid):
            raddr = bus.araddr[2:]
            m.d.sync += [rvalid.eq(1), bus.rdata.eq(read_value[raddr]),
                         bus.rresp.eq(_resp(readable[raddr]))]
        with m.Elif(rvalid & bus.rready):
            m.d.sync += rvalid.eq(0)
        return m


def _resp(ok):
    """OKAY if ``ok``, else SLVERR."""
    return Mux(ok, AxiResp.OKAY.value, AxiResp.SLVERR.value)
