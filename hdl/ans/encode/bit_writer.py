"""Bit packer and chunk framer: payload fields -> 32-bit words -> chunks with their headers."""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.common.bit_select import shift_left

from .lane import ChunkMeta, Field

__all__ = ["BitWriter", "BodyWord"]

BodyWord = data.StructLayout({"data": 32, "last": 1, "meta": ChunkMeta})


class BitWriter(wiring.Component):
    """Packs bit fields LSB first into 32-bit words (docs/format.md, body bit stream); a chunk's
    last field is followed by zero padding to a whole word, marked ``last``.

    Throughput: one field (up to 32 bits) per clock; one extra cycle at the end of a chunk
    when its last field leaves bits in two words. Latency one cycle.

    Members
    -------
    fields : In(stream.Signature({item: Field(32), last, meta}))
    words : Out(stream.Signature(BodyWord))
    busy : Out(1)
    """

    def __init__(self):
        super().__init__({
            "fields": In(stream.Signature(data.StructLayout(
                {"item": Field(32), "last": 1, "meta": ChunkMeta}))),
            "words": Out(stream.Signature(BodyWord)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        acc = Signal(64)
        nacc = Signal(6)
        flush = Signal()
        merged = Signal(64)
        total = Signal(7)
        f = self.fields.payload
        m.d.comb += [
            # (nacc < 32: what is left of the fields after whole words, a field being at most
            # 32 bits)
            merged.eq(acc | shift_left(m, platform, f.item.value, nacc[:5], 64)),
            total.eq(nacc + f.item.width),
        ]
        advance = ~self.words.valid | self.words.ready
        m.d.comb += self.fields.ready.eq(advance & ~flush)
        with m.If(advance):
            m.d.sync += self.words.valid.eq(0)
            with m.If(flush):   # the rest of the chunk's last field, zero padded
                m.d.sync += [
                    self.words.valid.eq(1), self.words.payload.data.eq(acc[:32]),
                    self.words.payload.last.eq(1), acc.eq(0), nacc.eq(0), flush.eq(0),
                ]
            with m.Elif(self.fields.valid):
                m.d.sync += self.words.payload.meta.eq(f.meta)
                with m.If(total >= 32):
                    m.d.sync += [
                        self.words.valid.eq(1), self.words.payload.data.eq(merged[:32]),
                        self.words.payload.last.eq(f.last & (total == 32)),
                        acc.eq(merged >> 32), nacc.eq(total - 32),
                    ]
                    with m.If(f.last & (total != 32)):
                        m.d.sync += flush.eq(1)
                with m.Elif(f.last):
                    m.d.sync += [
                        self.words.valid.eq(1), self.words.payload.data.eq(merged[:32]),
                        self.words.payload.last.eq(1), acc.eq(0), nacc.eq(0),
                    ]
                with m.Else():
                    m.d.sync += [acc.eq(merged), nacc.eq(total)]
        m.d.comb += self.busy.eq(self.words.valid | flush | (nacc != 0))
        return m


