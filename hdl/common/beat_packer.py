"""Beat packer: beats holding a run of elements anywhere in them in, dense beats out."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["BeatPacker", "LooseBeat", "DenseBeat"]


def LooseBeat(elem_bits, width):
    """Elements ``data[lo .. lo + count - 1]`` (``count`` 1 .. ``width - lo``) are the stream's;
    ``last`` marks a run's final beat."""
    return data.StructLayout({"data": data.ArrayLayout(elem_bits, width), "lo": range(width),
                              "count": range(width + 1), "last": 1})


def DenseBeat(elem_bits, width):
    """``count`` elements in ``data[0 .. count - 1]``, the slots above 0; ``count`` is ``width``
    but on a run's final beat (``last``), which holds 1 .. ``width`` elements.
    (:func:`hdl.multilane.decompressor.InBeat` for 32-bit elements.)"""
    return data.StructLayout({"data": data.ArrayLayout(elem_bits, width),
                              "count": range(width + 1), "last": 1})


class BeatPacker(wiring.Component):
    """Packs the elements of :func:`LooseBeat`\\ s densely into :func:`DenseBeat`\\ s, in order:
    every output beat is full but a run's last.

    Between beats it keeps up to ``width - 1`` elements; a beat that brings the total to
    ``width`` or more sends a full beat (the rest kept), a ``last`` beat sends what is left
    (two beats if more than ``width`` are). Throughput one beat per clock in and out (a
    ``last`` beat that needs two output beats takes a second clock); latency one cycle (the
    output is a register).

    ``packed.valid`` depends on registers only; ``loose.ready`` on them and on
    ``packed.ready`` (the output register is free or being taken).

    Parameters
    ----------
    elem_bits, width : int

    Members
    -------
    loose : In(stream.Signature(LooseBeat(elem_bits, width)))
    packed : Out(stream.Signature(DenseBeat(elem_bits, width)))
    held : Out(range(width))
        Elements kept between beats (0: a run's elements have all left).
    clear : In(1)
        Drops the elements kept (a run cut short, that no ``last`` will end); the output
        register is not touched.
    """

    def __init__(self, elem_bits, width):
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer, not {width!r}")
        self._elem_bits, self._width = elem_bits, width
        super().__init__({
            "loose": In(stream.Signature(LooseBeat(elem_bits, width))),
            "packed": Out(stream.Signature(DenseBeat(elem_bits, width))),
            "held": Out(range(width)),
            "clear": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        W, E = self._width, self._elem_bits
        buf = Signal((W - 1) * E if W > 1 else 1)   # the kept elements, zero above `held`
        n = self.held
        flush = Signal()                # a last beat left more than `width`: send the rest
        inp = self.loose.payload
        free = ~self.packed.valid | self.packed.ready
        m.d.comb += self.loose.ready.eq(free & ~flush)

        # the kept elements, then the beat's run shifted down to 0 and up to `held`
        run = Signal(W * E)
        keep = Cat(*((inp.count > i).replicate(E) for i in range(W)))
        m.d.comb += run.eq((inp.data.as_value() >> (inp.lo * E)) & keep)
        merged = Signal((2 * W - 1) * E)
        m.d.comb += merged.eq(buf | (run << (n * E)))
        total = Signal(range(2 * W))
        m.d.comb += total.eq(n + inp.count)

        out = self.packed.payload
        with m.If(self.packed.ready):
            m.d.sync += self.packed.valid.eq(0)
        with m.If(flush & free):
            m.d.sync += [self.packed.valid.eq(1), out.data.eq(buf), out.count.eq(n),
                         out.last.eq(1), n.eq(0), buf.eq(0), flush.eq(0)]
        with m.Elif(self.loose.valid & self.loose.ready):
            with m.If(total >= W):
                m.d.sync += [
                    self.packed.valid.eq(1), out.data.eq(merged[:W * E]), out.count.eq(W),
                    out.last.eq(inp.last & (total == W)),
                    n.eq(total - W), buf.eq(merged[W * E:]),
                    flush.eq(inp.last & (total != W)),
                ]
            with m.Elif(inp.last):
                m.d.sync += [self.packed.valid.eq(1), out.data.eq(merged[:W * E]),
                             out.count.eq(total), out.last.eq(1), n.eq(0), buf.eq(0)]
            with m.Else():
                m.d.sync += [n.eq(total), buf.eq(merged[:len(buf)])]
        with m.If(self.clear):
            m.d.sync += [n.eq(0), buf.eq(0), flush.eq(0)]
        return m
