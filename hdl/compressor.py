"""Compressor top and pair classifier: float values in, the golden payload out, byte for byte."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from golden import codebooks

from .chunkbuffer import ChunkBuffer
from .convert import Value, float_books
from .decompressor import FORMATS, INT_FORMATS, _check_format, extra_max, value_bits
from .encoder import ChunkMeta, Field, TansEncoder
from .packer import ChunkFramer, PairPacker
from .ports import ErrorCode, Status, TableWrite, Word

__all__ = ["PairClassifier", "IntClassifier", "Compressor", "code_widths", "int_book"]


def int_book(bits):
    """The built-in code book of ``bits``-bit integers (the one :class:`IntClassifier` codes)."""
    return next(b for b in codebooks.CODEBOOKS.values()
                if isinstance(b, codebooks.IntCodeBook) and b.bits == bits)


def code_widths(fmt):
    """The raw code widths (``code_bits``) of the code books a compressor of ``fmt`` codes
    with (8 and 9 for bf16): the escape shifts its TansEncoder must handle."""
    if fmt in INT_FORMATS:
        return [int_book(INT_FORMATS[fmt]).code_bits]
    return sorted({b.code_bits for b in float_books(*FORMATS[fmt])})


class PairClassifier(wiring.Component):
    """A float's bit pattern -> its coding pair under the table's code book (run time).

    The inverse of :class:`~hdl.convert.FloatPacker`: ``*-exp`` code books give code =
    exponent, extra = sign, mantissa; ``*-sexp`` give code = sign, exponent, extra = mantissa
    (:meth:`golden.codebooks.FloatCodeBook.encode`). Every bit pattern has a pair. Latency one
    cycle, one value per clock.

    ``supported`` is high when ``codebook`` names a code book of this format and ``code_bits``
    (the table's config) is that book's raw code width, as every golden table has it.

    Members
    -------
    values : In(stream.Signature(Value(bits)))
    pairs : Out(stream.Signature({code, extra, last}))
    codebook : In(8)
    code_bits : In(4)
    supported : Out(1)
    """

    def __init__(self, exp_bits, man_bits, extra_max):
        self._books = float_books(exp_bits, man_bits)
        self._e, self._m = exp_bits, man_bits
        super().__init__({
            "values": In(stream.Signature(Value(1 + exp_bits + man_bits))),
            "pairs": Out(stream.Signature(data.StructLayout(
                {"code": 9, "extra": extra_max, "last": 1}))),
            "codebook": In(8),
            "code_bits": In(4),
            "supported": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        e, mb = self._e, self._m
        sign_in_code = Signal()
        for b in self._books:
            with m.If(self.codebook == b.ident):
                m.d.comb += [self.supported.eq(self.code_bits == b.code_bits),
                             sign_in_code.eq(b.sign_in_code)]
        v = self.values.payload.value
        sign, exp, man = v[e + mb], v[mb:mb + e], v[:mb]
        m.d.comb += self.values.ready.eq(~self.pairs.valid | self.pairs.ready)
        with m.If(self.pairs.ready):
            m.d.sync += self.pairs.valid.eq(0)
        with m.If(self.values.valid & self.values.ready):
            m.d.sync += [
                self.pairs.valid.eq(1),
                self.pairs.payload.last.eq(self.values.payload.last),
                self.pairs.payload.code.eq(Mux(sign_in_code, Cat(exp, sign), exp)),
                self.pairs.payload.extra.eq(Mux(sign_in_code, man, Cat(man, sign))),
            ]
        return m


class IntClassifier(wiring.Component):
    """A ``bits``-bit two's complement integer -> its magnitude-class pair (JPEG style):
    code = bit length of ``|v|``, extra (``code`` bits) = ``v`` if ``v >= 0`` else
    ``v + 2**code - 1`` (:class:`golden.codebooks.IntCodeBook`). Latency one cycle, one value
    per clock. ``supported`` as :class:`PairClassifier`'s.

    Members
    -------
    values : In(stream.Signature(Value(bits)))
    pairs : Out(stream.Signature({code, extra, last}))
    codebook : In(8)
    code_bits : In(4)
    supported : Out(1)
    """

    def __init__(self, bits, extra_max):
        self._bits = bits
        self._book = int_book(bits)
        super().__init__({
            "values": In(stream.Signature(Value(bits))),
            "pairs": Out(stream.Signature(data.StructLayout(
                {"code": 9, "extra": extra_max, "last": 1}))),
            "codebook": In(8),
            "code_bits": In(4),
            "supported": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        n = self._bits
        v = self.values.payload.value
        negative = v[n - 1]
        magnitude = Signal(n + 1)
        m.d.comb += magnitude.eq(Mux(negative, -v.as_signed(), v))
        code = Signal(range(n + 1))
        for i in range(n + 1):          # bit length: the highest set bit wins (last assignment)
            with m.If(magnitude[i]):
                m.d.comb += code.eq(i + 1)
        extra = Signal(n + 1)
        m.d.comb += extra.eq(Mux(negative, v.as_signed() + (1 << code) - 1, v) &
                             ((1 << code) - 1))
        m.d.comb += [
            self.supported.eq((self.codebook == self._book.ident) &
                              (self.code_bits == self._book.code_bits)),
            self.values.ready.eq(~self.pairs.valid | self.pairs.ready),
        ]
        with m.If(self.pairs.ready):
            m.d.sync += self.pairs.valid.eq(0)
        with m.If(self.values.valid & self.values.ready):
            m.d.sync += [
                self.pairs.valid.eq(1),
                self.pairs.payload.last.eq(self.values.payload.last),
                self.pairs.payload.code.eq(code),
                self.pairs.payload.extra.eq(extra),
            ]
        return m


class Compressor(wiring.Component):
    """Float values in, the tensor's payload out, equal to :func:`golden.codec.encode_payload`
    word for word (with the same table, ``chunk_pairs`` and ``states``).

    :class:`PairClassifier` -> chunks of ``chunk_pairs`` -> :class:`~hdl.chunkbuffer.ChunkBuffer`
    (reversed, since tANS is last-in-first-out) -> :class:`~hdl.encoder.TansEncoder` ->
    :class:`~hdl.chunkbuffer.ChunkBuffer` (back in order) -> :class:`~hdl.packer.PairPacker` ->
    :class:`~hdl.packer.ChunkFramer` (header with the body's CRC, then the body).

    Write the table (:meth:`golden.codec.Table.encoder_image`) through :attr:`table` while
    ``status.busy`` is low, then stream the tensor's values with ``last`` on the final one.
    Throughput: one value per clock sustained, plus the encoder's
    :meth:`~hdl.encoder.TansEncoder.chunk_overhead` per chunk (``7 + states`` cycles, ``9 +
    states`` with 4 states; 13 at 4 states measured over 15 chunks of 200).
    Latency: about ``3 * chunk_pairs`` cycles (a chunk is held twice for reversal and once for
    its CRC).
    Errors: a code the table cannot code (UNCODABLE), or a table whose code book is not of this
    top's format or whose ``code_bits`` is not its code book's (CONFIG). Either way the values
    are still consumed and a payload still comes out, so no stream hangs, but that tensor's
    payload is not valid. The error holds until the next tensor starts.

    Parameters
    ----------
    fmt : str
        Input format (a key of :data:`~hdl.decompressor.FORMATS`).
    table_log_max, states : int
    chunk_pairs : int
        Pairs per chunk (the golden ``chunk_pairs``).
    """

    def __init__(self, fmt="bf16", *, table_log_max=10, states=4, chunk_pairs=4096):
        _check_format(fmt)
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
            cls = IntClassifier(INT_FORMATS[self._fmt], X)
        else:
            cls = PairClassifier(*FORMATS[self._fmt], X)
        m.submodules.classifier = cls
        pair_layout = cls.pairs.payload.shape()
        m.submodules.pair_fifo = pf = fifo.SyncFIFOBuffered(
            width=data.Layout.cast(pair_layout).size, depth=3)
        m.submodules.reverse_pairs = rev1 = ChunkBuffer(
            data.StructLayout({"code": 9, "extra": X}), N, 1, reverse=True)
        m.submodules.encoder = enc = TansEncoder(table_log_max=R, states=S, extra_max=X,
                                                 chunk_max=N, code_widths=code_widths(self._fmt))
        m.submodules.reverse_fields = rev2 = ChunkBuffer(Field(32), N + S, ChunkMeta,
                                                         reverse=True)
        # the field reverser's block-RAM output is registered into a small FIFO before the
        # packer: its adder (bits held + the field's width) then starts at a register beside
        # it, not at a block RAM that may sit across the die (a path of 13.8 ns, 4.3 of them one
        # route, in the 8-lane top)
        field_layout = data.StructLayout({"item": Field(32), "last": 1, "meta": ChunkMeta})
        m.submodules.field_fifo = ff = fifo.SyncFIFOBuffered(width=field_layout.size, depth=3)
        m.submodules.packer = pk = PairPacker()
        body_max = (S * R + N * (R + X) + 31) // 32
        m.submodules.framer = fr = ChunkFramer(body_max, S)

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

        # status: errors hold until the next tensor's first value (one taken while idle). The
        # events are registered first and the error follows a cycle later: at 7aba646 the
        # 8-lane compressor's critical path (95.55 MHz) ran from a lane's framer through its
        # `busy` into the error register's enable (10.5 ns, 8.5 of it routing)
        error = Signal(ErrorCode)
        taken_q = Signal()
        idle_q = Signal()
        uncodable_q = Signal()
        unsupported_q = Signal()
        start = taken_q & idle_q
        m.d.sync += [
            taken_q.eq(self.values.valid & self.values.ready),
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
