"""Input converters of the compressor: numbers -> coding pairs (the inverse of
:mod:`hdl.convert.pair_to_value`)."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .formats import Value, float_books, int_book

__all__ = ["FloatToPair", "IntToPair"]


class FloatToPair(wiring.Component):
    """A float's bit pattern -> its coding pair under the table's code book (run time).

    The inverse of :class:`~hdl.convert.pair_to_value.PairToFloat`: ``*-exp`` code books give code =
    exponent, extra = sign, mantissa; ``*-sexp`` give code = sign, exponent, extra = mantissa
    (:meth:`golden.format.codebooks.FloatCodeBook.encode`). Every bit pattern has a pair. Latency one
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


class IntToPair(wiring.Component):
    """A ``bits``-bit two's complement integer -> its magnitude-class pair (JPEG style):
    code = bit length of ``|v|``, extra (``code`` bits) = ``v`` if ``v >= 0`` else
    ``v + 2**code - 1`` (:class:`golden.format.codebooks.IntCodeBook`). Latency one cycle, one value
    per clock. ``supported`` as :class:`FloatToPair`'s.

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
