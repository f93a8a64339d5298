"""A beat of floats to a beat of fixed-point numbers: one FixedPointConverter per lane."""

from amaranth.hdl import Cat, Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.common.beat_packer import DenseBeat
from hdl.convert.fixed import FixedPointConverter

__all__ = ["FixedPointRow"]


class FixedPointRow(wiring.Component):
    """``lanes`` :class:`~hdl.convert.fixed.FixedPointConverter`\\ s side by side: each value
    of a beat converted as :func:`golden.fixed.float_to_fixed` converts it.

    The converters run in lock step (the same valid and the same ready reach each of them, so
    their pipelines hold the same beats): the beat's ``last`` travels in lane 0's ``last`` and
    whether lane ``i`` holds a value (``i < count``) in lane ``i``'s. Latency two cycles,
    throughput one beat per clock (the converter's).

    Members
    -------
    values : In(stream.Signature(DenseBeat(1 + exp_bits + man_bits, lanes)))
    fixed : Out(stream.Signature(DenseBeat(width, lanes)))
    """

    def __init__(self, lanes, *, exp_bits=8, man_bits=7, width=16, frac=12):
        self._lanes = lanes
        self._converters = [FixedPointConverter(exp_bits, man_bits, width, frac)
                            for _ in range(lanes)]
        super().__init__({
            "values": In(stream.Signature(DenseBeat(1 + exp_bits + man_bits, lanes))),
            "fixed": Out(stream.Signature(DenseBeat(width, lanes))),
        })

    def elaborate(self, platform):
        m = Module()
        first = self._converters[0]
        kept = []
        for i, conv in enumerate(self._converters):
            m.submodules[f"conv{i}"] = conv
            m.d.comb += [
                conv.values.valid.eq(self.values.valid),
                conv.values.payload.value.eq(self.values.payload.data[i]),
                conv.values.payload.last.eq(self.values.payload.last if i == 0 else
                                            self.values.payload.count > i),
                conv.fixed.ready.eq(self.fixed.ready),
                self.fixed.payload.data[i].eq(conv.fixed.payload.value),
            ]
            if i:
                kept.append(conv.fixed.payload.last)
        m.d.comb += [
            self.values.ready.eq(first.values.ready),
            self.fixed.valid.eq(first.fixed.valid),
            self.fixed.payload.last.eq(first.fixed.payload.last),
            self.fixed.payload.count.eq(1 + sum(kept) if kept else 1),
        ]
        return m
