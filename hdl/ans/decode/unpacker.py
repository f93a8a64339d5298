"""Coding-pair unpacker: a decoded symbol and its raw extra bits -> (code, extra)."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.common.bit_select import bit_select

from .lane import RawPair

__all__ = ["PairUnpacker", "Pair"]


def Pair(extra_max):
    """A coding pair: ``code`` and its ``extra`` bits (the low ``widths[code]`` of them are
    used; the bits above are the stream's next bits, as the decoder lane leaves them)."""
    return data.StructLayout({"code": 9, "extra": extra_max, "last": 1})


class PairUnpacker(wiring.Component):
    """Joins each code with its extra bits.

    A regular symbol's code comes from the decode table and all its raw bits are extra bits; the
    escape symbol's raw bits carry the code in their low ``code_bits`` bits and the extra bits
    above (``raw = code | extra << code_bits``, see docs/format.md).

    Latency one cycle, throughput one pair per cycle; ``pairs.ready`` follows ``out.ready``
    through a single stage register (no path from ``out.ready`` to any ``valid``).

    Parameters
    ----------
    extra_max : int
        Width of the raw field.

    Members
    -------
    pairs : In(stream.Signature(RawPair(extra_max)))
    out : Out(stream.Signature(Pair(extra_max)))
    code_bits : In(4)
        Width of a raw code (the table's :class:`~golden.format.layouts.TableConfig` ``.code_bits``).
    """

    def __init__(self, extra_max):
        self._extra_max = extra_max
        super().__init__({
            "pairs": In(stream.Signature(RawPair(extra_max))),
            "out": Out(stream.Signature(Pair(extra_max))),
            "code_bits": In(4),
        })

    def elaborate(self, platform):
        m = Module()
        p = self.pairs.payload
        code_mask = Signal(9)
        m.d.comb += code_mask.eq((1 << self.code_bits) - 1)
        # the extra bits: the raw bits, shifted down past the code for an escape (one shifter
        # of 4:1 multiplexer stages, built as ECP5 slices do them: 129 -> 82 LUT4 on ECP5)
        extra = bit_select(m, platform, p.raw, Mux(p.escape, self.code_bits, 0),
                           self._extra_max)
        m.d.comb += self.pairs.ready.eq(~self.out.valid | self.out.ready)
        with m.If(self.out.ready):
            m.d.sync += self.out.valid.eq(0)
        with m.If(self.pairs.valid & self.pairs.ready):
            m.d.sync += [
                self.out.valid.eq(1),
                self.out.payload.last.eq(p.last),
                self.out.payload.code.eq(Mux(p.escape, p.raw & code_mask, p.code)),
                self.out.payload.extra.eq(extra),
            ]
        return m
