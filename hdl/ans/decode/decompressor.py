"""Decompressor top: payload words in, bf16 (or another float format) values out."""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.common.ports import Status, TableWrite, Word
from hdl.convert.formats import (FORMATS, INT_FORMATS, Value, check_format, extra_max, extra_step,
                                 value_bits)
from hdl.convert.pair_to_value import PairToFloat, PairToInt

from .decoder import TansDecoder
from .unpacker import PairUnpacker

__all__ = ["Decompressor"]


class Decompressor(wiring.Component):
    """:class:`TansDecoder` -> :class:`PairUnpacker` -> :class:`PairToFloat` (or the integer
    packer). The decoder's lane reads a pair's extra bits up to :func:`extra_step` in its own
    cycle, an escape's rest in one more.

    Ports are AXI-Stream style (``valid``/``ready``, ``last`` at a tensor's end). Write the
    tensor's table (:meth:`golden.ans.codec.Table.image`) through :attr:`table`, then stream its
    payload into :attr:`words`; values leave :attr:`values` in the tensor's order, one per
    clock for chunks of 4 interleaved states (``states / 4`` for 1 or 2). Latency from the first
    header word to the first value: 22 cycles (:data:`LATENCY`).
    The table port takes writes once the previous tensor's last value has left :attr:`values`.
    Every ready is driven from registers or from the next stage's ready through a stage
    register; no valid depends on a ready, so tops can be chained. Errors: see
    :class:`TansDecoder`; a table whose code book is not of this top's format is a CONFIG error.

    Parameters
    ----------
    fmt : str
        Output format, a key of :data:`FORMATS` (default ``"bf16"``).
    table_log_max : int
        See :class:`TansDecoder`.

    Members
    -------
    words : In(stream.Signature(Word))
    table : In(stream.Signature(TableWrite))
    values : Out(stream.Signature(Value(bits)))
    status : Out(Status)
    """

    #: Cycles from the first word taken to the first value out, with no stalls.
    LATENCY = 22

    def __init__(self, fmt="bf16", *, table_log_max=10):
        check_format(fmt)
        self._fmt = fmt
        self._extra_max = extra_max(fmt)
        self._table_log_max = table_log_max
        super().__init__({
            "words": In(stream.Signature(Word)),
            "table": In(stream.Signature(TableWrite)),
            "values": Out(stream.Signature(Value(value_bits(fmt)))),
            "status": Out(Status),
        })

    @property
    def fmt(self):
        return self._fmt

    def elaborate(self, platform):
        m = Module()
        m.submodules.decoder = dec = TansDecoder(
            table_log_max=self._table_log_max, extra_max=self._extra_max,
            extra_step=extra_step(self._fmt))
        m.submodules.unpacker = unp = PairUnpacker(self._extra_max)
        if self._fmt in INT_FORMATS:
            pk = PairToInt(INT_FORMATS[self._fmt], self._extra_max)
        else:
            pk = PairToFloat(*FORMATS[self._fmt], self._extra_max)
        m.submodules.packer = pk
        wiring.connect(m, wiring.flipped(self.words), dec.words)
        # The unpacker and packer read the table's config as pairs pass: a new table is taken
        # only once the previous tensor has left the whole pipeline.
        drained = ~dec.pairs.valid & ~unp.out.valid & ~pk.values.valid
        m.d.comb += [
            dec.table.payload.eq(self.table.payload),
            dec.table.valid.eq(self.table.valid & drained),
            self.table.ready.eq(dec.table.ready & drained),
        ]
        wiring.connect(m, dec.pairs, unp.pairs)
        wiring.connect(m, unp.out, pk.pairs)
        wiring.connect(m, pk.values, wiring.flipped(self.values))
        m.d.comb += [
            unp.code_bits.eq(dec.config.code_bits),
            pk.codebook.eq(dec.config.codebook),
            dec.codebook_ok.eq(pk.supported),
            self.status.eq(dec.status),
        ]
        return m
