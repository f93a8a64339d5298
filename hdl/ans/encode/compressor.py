"""Compressor top and pair classifier: float values in, the golden payload out, byte for byte."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.common.chunk_buffer import ChunkBuffer
from hdl.common.ports import ErrorCode, Status, TableWrite, Word
from hdl.convert.formats import (FORMATS, INT_FORMATS, Value, check_format, code_widths, extra_max,
                                 value_bits)
from hdl.convert.value_to_pair import FloatToPair, IntToPair

from .bit_writer import BitWriter
from .chunk_writer import ChunkWriter
from .lane import ChunkMeta, EncodeLane, Field

__all__ = ["Compressor"]


class Compressor(wiring.Component):
    """Float values in, the tensor's payload out, equal to :func:`golden.ans.codec.encode_payload`
    word for word (with the same table, ``chunk_pairs`` and ``states``).

    :class:`FloatToPair` -> chunks of ``chunk_pairs`` -> :class:`~hdl.common.chunk_buffer.ChunkBuffer`
    (reversed, since tANS is last-in-first-out) -> :class:`~hdl.ans.encode.lane.EncodeLane` ->
    :class:`~hdl.common.chunk_buffer.ChunkBuffer` (back in order) -> :class:`~hdl.ans.encode.bit_writer.BitWriter` ->
    :class:`~hdl.ans.encode.chunk_writer.ChunkWriter` (header with the body's CRC, then the body).

    Write the table (:meth:`golden.ans.codec.Table.encoder_image`) through :attr:`table` while
    ``status.busy`` is low, then stream the tensor's values with ``last`` on the final one.
    Throughput: one value per clock sustained, plus the encoder's
    :meth:`~hdl.ans.encode.lane.EncodeLane.chunk_overhead` per chunk (``7 + states`` cycles, ``9 +
    states`` with 4 states; 13 at 4 states measured over 15 chunks of 200).
    Latency: about ``3 * chunk_pairs`` cycles (a chunk is held twice for reversal and once for
    its CRC).
    Errors: a code the table cannot code (UNCODABLE), or a table whose code book is not of this
    top's format or whose ``code_bits`` is not its code book's (CONFIG). Either way the values
    are still consumed and a payload still comes out, so no stream hangs, but that tensor's
    payload is not valid. The error holds until the next tensor starts (its first value taken
    while the compressor is idle).

    Parameters
    ----------
    fmt : str
        Input format (a key of :data:`~hdl.convert.formats.FORMATS`).
    table_log_max, states : int
    chunk_pairs : int
        Pairs per chunk (the golden ``chunk_pairs``).
    """

    def __init__(self, fmt="bf16", *, table_log_max=10, states=4, chunk_pairs=4096):
        check_format(fmt)
        if not 1 <= chunk_pairs <= 1 << 16:
            raise ValueError(f"chunk_pairs must be 1 .. 65536, not {chunk_pairs}")
        self._fmt, self._R, self._S, self._chunk = fmt, table_log_max, states, chunk_pairs
        self._extra_max = extra_max(fmt)
        super().__init__({
            "values": In(stream.Signature(Value(value_bits(fmt)))),
            "table": In(stream.Signature(TableWrite)),
            "words": Out(stream.Signature(Word)),
            "status": Out(Status),
        })

    def elaborate(self, platform):
        m = Module()
        R, S, N, X = self._R, self._S, self._chunk, self._extra_max
        if self._fmt in INT_FORMATS:
            cls = IntToPair(INT_FORMATS[self._fmt], X)
        else:
            cls = FloatToPair(*FORMATS[self._fmt], X)
        m.submodules.classifier = cls
        pair_layout = cls.pairs.payload.shape()
        m.submodules.pair_fifo = pf = fifo.SyncFIFOBuffered(
            width=data.Layout.cast(pair_layout).size, depth=3)
        m.submodules.reverse_pairs = rev1 = ChunkBuffer(
            data.StructLayout({"code": 9, "extra": X}), N, 1, reverse=True)
        m.submodules.encoder = enc = EncodeLane(table_log_max=R, states=S, extra_max=X,
                                                 chunk_max=N, code_widths=code_widths(self._fmt))
        m.submodules.reverse_fields = rev2 = ChunkBuffer(Field(32), N + S, ChunkMeta,
                                                         reverse=True)
        # the field reverser's block-RAM output is registered into a small FIFO before the
        # packer: its adder (bits held + the field's width) then starts at a register beside
        # it, not at a block RAM that may sit across the die (a path of 13.8 ns, 4.3 of them one
        # route, in the 8-lane top)
        field_layout = data.StructLayout({"item": Field(32), "last": 1, "meta": ChunkMeta})
        m.submodules.field_fifo = ff = fifo.SyncFIFOBuffered(width=field_layout.size, depth=3)
        m.submodules.packer = pk = BitWriter()
        body_max = (S * R + N * (R + X) + 31) // 32
        m.submodules.framer = fr = ChunkWriter(body_max, S)

        # `busy` ORs flags from all over the lane (in the 8-lane top its cells spread over 30
        # columns and 30 rows): what it steers takes it registered. `busy_q` rises in the cycle
        # after a value is taken (as `busy` does) and falls a cycle after `busy`.
        busy = Signal()
        busy_q = Signal()
        m.d.comb += busy.eq(cls.pairs.valid | (pf.level != 0) | rev1.busy | enc.busy |
                            rev2.busy | (ff.level != 0) | pk.busy | fr.busy)
        m.d.sync += busy_q.eq(busy | (self.values.valid & self.values.ready))
        m.d.comb += [
            cls.codebook.eq(enc.config.codebook),
            cls.code_bits.eq(enc.config.code_bits),
            fr.config.eq(enc.config),
            enc.table.payload.eq(self.table.payload),
            enc.table.valid.eq(self.table.valid & ~busy_q),
            self.table.ready.eq(enc.table.ready & ~busy_q),
        ]

        # values -> classifier; a pending table write goes first
        wiring.connect(m, wiring.flipped(self.values), cls.values)

        # pairs -> a 3-deep FIFO -> chunks: the pair reverser's ready (its room check) stays out
        # of the classifier's and the input's readies (in the 8-lane top that chain crossed the
        # die: 12.4 ns, 9.8 of it routing)
        m.d.comb += [
            pf.w_data.eq(cls.pairs.payload),
            pf.w_en.eq(cls.pairs.valid),
            cls.pairs.ready.eq(pf.w_rdy),
        ]
        count = Signal(range(N))
        p = Signal(pair_layout)
        m.d.comb += p.eq(pf.r_data)
        chunk_end = p.last | (count == N - 1)
        m.d.comb += [
            rev1.i.valid.eq(pf.r_rdy),
            pf.r_en.eq(rev1.i.ready),
            rev1.i.payload.item.code.eq(p.code),
            rev1.i.payload.item.extra.eq(p.extra),
            rev1.i.payload.last.eq(chunk_end),
            rev1.i.payload.meta.eq(p.last),
        ]
        with m.If(rev1.i.valid & rev1.i.ready):
            m.d.sync += count.eq(Mux(chunk_end, 0, count + 1))

        # reversed pairs -> encoder (its meta is the tensor's last flag plus the chunk's count)
        m.d.comb += [
            enc.pairs.valid.eq(rev1.o.valid),
            rev1.o.ready.eq(enc.pairs.ready),
            enc.pairs.payload.item.eq(rev1.o.payload.item),
            enc.pairs.payload.last.eq(rev1.o.payload.last),
            enc.pairs.payload.count.eq(rev1.o.payload.count),
            enc.pairs.payload.meta.tensor_last.eq(rev1.o.payload.meta),
            enc.pairs.payload.meta.pairs.eq(rev1.o.payload.count),
        ]
        wiring.connect(m, enc.fields, rev2.i)
        field_in = Signal(field_layout)
        m.d.comb += [
            field_in.item.eq(rev2.o.payload.item),
            field_in.last.eq(rev2.o.payload.last),
            field_in.meta.eq(rev2.o.payload.meta),
            ff.w_data.eq(field_in),
            ff.w_en.eq(rev2.o.valid),
            rev2.o.ready.eq(ff.w_rdy),
            pk.fields.payload.eq(ff.r_data),
            pk.fields.valid.eq(ff.r_rdy),
            ff.r_en.eq(pk.fields.ready),
        ]
        wiring.connect(m, pk.words, fr.words)
        wiring.connect(m, fr.out, wiring.flipped(self.words))

        # status: errors hold until the next tensor's first value (the first after a `last`,
        # taken while idle: a value taken while idle in the middle of a tensor, after a chunk
        # has drained, starts nothing). The events are registered first and the error follows
        # a cycle later: at 7aba646 the 8-lane compressor's critical path (95.55 MHz) ran from
        # a lane's framer through its `busy` into the error register's enable (10.5 ns, 8.5 of
        # it routing)
        error = Signal(ErrorCode)
        first = Signal(init=1)          # the next value taken is a tensor's first
        with m.If(self.values.valid & self.values.ready):
            m.d.sync += first.eq(self.values.payload.last)
        taken_q = Signal()
        first_q = Signal()
        idle_q = Signal()
        uncodable_q = Signal()
        unsupported_q = Signal()
        start = taken_q & first_q & idle_q
        m.d.sync += [
            taken_q.eq(self.values.valid & self.values.ready),
            first_q.eq(first),
            idle_q.eq(~busy),
            uncodable_q.eq(enc.uncodable & ~start),    # (the old flag, being cleared)
            unsupported_q.eq(self.values.valid & ~cls.supported),
        ]
        with m.If(start):
            m.d.sync += error.eq(ErrorCode.NONE)
        m.d.comb += enc.clear.eq(start)
        with m.If(uncodable_q & (error == ErrorCode.NONE)):
            m.d.sync += error.eq(ErrorCode.UNCODABLE)
        with m.If(unsupported_q & (error == ErrorCode.NONE)):
            m.d.sync += error.eq(ErrorCode.CONFIG)
        m.d.comb += [
            self.status.busy.eq(busy_q),
            self.status.error.eq(error != ErrorCode.NONE),
            self.status.code.eq(error),
        ]
        return m
