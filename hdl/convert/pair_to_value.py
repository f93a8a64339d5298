"""Output converters: coding pairs -> numbers for a compute engine."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.format import codebooks
from hdl.ans.decode.unpacker import Pair

from .formats import Value, float_books

__all__ = ["PairToFloat", "PairToInt", "PairToPosit"]


class PairToFloat(wiring.Component):
    """(code, extra) of a float code book -> the float's bit pattern (bf16, fp16, fp8, ...).

    Handles both float code books of one format: ``*-exp`` (code = exponent, extra = sign,
    mantissa) and ``*-sexp`` (code = sign, exponent, extra = mantissa), chosen at run time by
    the table's code book identifier; identical to :meth:`golden.format.codebooks.FloatCodeBook.decode`.
    Extra bits above the code's width are ignored. Latency one cycle, throughput one value per
    cycle.

    Parameters
    ----------
    exp_bits, man_bits : int
        The format (bf16: 8, 7).

    Members
    -------
    pairs : In(stream.Signature(Pair(extra_max)))
    values : Out(stream.Signature(Value(1 + exp_bits + man_bits)))
    codebook : In(8)
        Identifier of the table's code book.
    supported : Out(1)
        ``codebook`` is one this packer converts.
    """

    def __init__(self, exp_bits, man_bits, extra_max):
        self._books = float_books(exp_bits, man_bits)
        if not self._books:
            raise ValueError(f"no float code book with {exp_bits} exponent and {man_bits} "
                             f"mantissa bits")
        self._e, self._m = exp_bits, man_bits
        super().__init__({
            "pairs": In(stream.Signature(Pair(extra_max))),
            "values": Out(stream.Signature(Value(1 + exp_bits + man_bits))),
            "codebook": In(8),
            "supported": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        e, mb = self._e, self._m
        sign_in_code = Signal()
        for b in self._books:
            with m.If(self.codebook == b.ident):
                m.d.comb += [self.supported.eq(1), sign_in_code.eq(b.sign_in_code)]
        p = self.pairs.payload
        exp_form = Cat(p.extra[:mb], p.code[:e], p.extra[mb])   # code = exponent
        sexp_form = Cat(p.extra[:mb], p.code[:e + 1])            # code = sign, exponent
        m.d.comb += self.pairs.ready.eq(~self.values.valid | self.values.ready)
        with m.If(self.values.ready):
            m.d.sync += self.values.valid.eq(0)
        with m.If(self.pairs.valid & self.pairs.ready):
            m.d.sync += [
                self.values.valid.eq(1),
                self.values.payload.last.eq(p.last),
                self.values.payload.value.eq(Mux(sign_in_code, sexp_form, exp_form)),
            ]
        return m


def _builtin_book(kind, match, what):
    for book in codebooks.CODEBOOKS.values():
        if isinstance(book, kind) and match(book):
            return book
    raise ValueError(f"no built-in {what}")


def _check_extra_max(book, extra_max):
    widest = int(book.widths.max())
    if extra_max is None:
        return widest
    if not (isinstance(extra_max, int) and widest <= extra_max <= codebooks.MAX_EXTRA_WIDTH):
        raise ValueError(f"extra_max must be {widest} .. {codebooks.MAX_EXTRA_WIDTH} for code "
                         f"book {book.name}, not {extra_max!r}")
    return extra_max


def _pass_on(m, pairs, values, value):
    """One stage register from ``pairs`` to ``values`` carrying ``value`` and ``last``."""
    m.d.comb += pairs.ready.eq(~values.valid | values.ready)
    with m.If(values.ready):
        m.d.sync += values.valid.eq(0)
    with m.If(pairs.valid & pairs.ready):
        m.d.sync += [
            values.valid.eq(1),
            values.payload.last.eq(pairs.payload.last),
            values.payload.value.eq(value),
        ]


class PairToInt(wiring.Component):
    """(code, extra) of an integer code book -> the integer's two's complement bit pattern.

    The inverse of :class:`golden.format.codebooks.IntCodeBook` (code = bit length of ``|v|``, extra =
    ``v`` or ``v + 2**code - 1``); identical to its :meth:`~golden.format.codebooks.CodeBook.decode` on
    every value of the domain. Extra bits above the code's width are ignored (the decoder lane
    leaves the stream's next bits there); a code above ``bits`` gives an unspecified value.
    Latency one cycle, throughput one value per cycle.

    Parameters
    ----------
    bits : int
        Width of the integers: a built-in integer code book (int8: 8, int4: 4).
    extra_max : int or None
        Width of the ``extra`` field of :attr:`pairs`; default ``bits`` (the widest extra).

    Members
    -------
    pairs : In(stream.Signature(Pair(extra_max)))
    values : Out(stream.Signature(Value(bits)))
    codebook : In(8)
        Identifier of the table's code book.
    supported : Out(1)
        ``codebook`` is the integer code book of ``bits`` bits.
    """

    def __init__(self, bits, extra_max=None):
        self._book = _builtin_book(codebooks.IntCodeBook, lambda b: b.bits == bits,
                                   f"integer code book of {bits!r} bits")
        self._bits = bits
        self._extra_max = _check_extra_max(self._book, extra_max)
        super().__init__({
            "pairs": In(stream.Signature(Pair(self._extra_max))),
            "values": Out(stream.Signature(Value(bits))),
            "codebook": In(8),
            "supported": Out(1),
        })

    @property
    def bits(self):
        return self._bits

    @property
    def extra_max(self):
        return self._extra_max

    def elaborate(self, platform):
        m = Module()
        book, n = self._book, self._bits
        m.d.comb += self.supported.eq(self.codebook == book.ident)
        x = self.pairs.payload.extra
        value = Signal(n)
        with m.Switch(self.pairs.payload.code):
            for code in range(1, book.n_codes):
                # extra with its top bit set is v itself, else v + 2**code - 1
                offset = (1 - (1 << code)) % (1 << n)
                with m.Case(code):
                    m.d.comb += value.eq(Mux(x[code - 1], x[:code], x[:code] + offset))
            with m.Default():
                m.d.comb += value.eq(0)
        _pass_on(m, self.pairs, self.values, value)
        return m


class PairToPosit(wiring.Component):
    """(code, extra) of a posit code book -> the posit's bit pattern.

    Identical to :meth:`golden.format.codebooks.PositCodeBook.decode` on every value of the domain.
    A per-code table, taken from that code book at elaboration, gives the code's magnitude
    prefix (regime, terminating bit, exponent: the positive posit with a zero fraction) and its
    fraction width ``fw``; the extra bits are the sign above ``fw`` fraction bits, and a negative
    posit is the two's complement of ``prefix | fraction``. Code 0 is zero, code 1 NaR. Extra
    bits above the code's width are ignored; a code outside the code book gives an unspecified
    value. Latency one cycle, throughput one value per cycle.

    Parameters
    ----------
    n, es : int
        The posit format of a built-in posit code book (posit8: 8, 0; posit16: 16, 1).
    extra_max : int or None
        Width of the ``extra`` field of :attr:`pairs`; default the code book's widest extra.

    Members
    -------
    pairs : In(stream.Signature(Pair(extra_max)))
    values : Out(stream.Signature(Value(n)))
    codebook : In(8)
        Identifier of the table's code book.
    supported : Out(1)
        ``codebook`` is the posit(n, es) code book.
    """

    def __init__(self, n, es, extra_max=None):
        self._book = _builtin_book(codebooks.PositCodeBook, lambda b: (b.n, b.es) == (n, es),
                                   f"posit code book with n={n!r} and es={es!r}")
        self._n, self._es = n, es
        self._extra_max = _check_extra_max(self._book, extra_max)
        super().__init__({
            "pairs": In(stream.Signature(Pair(self._extra_max))),
            "values": Out(stream.Signature(Value(n))),
            "codebook": In(8),
            "supported": Out(1),
        })

    @property
    def n(self):
        return self._n

    @property
    def es(self):
        return self._es

    @property
    def extra_max(self):
        return self._extra_max

    def rom(self):
        """Per code: ``(prefix, fraction width, signed)`` (``signed``: the extra has a sign)."""
        book = self._book
        prefixes = book.decode(range(book.n_codes), [0] * book.n_codes)
        return [(int(p), max(int(w) - 1, 0), int(w) > 0) for p, w in zip(prefixes, book.widths)]

    def elaborate(self, platform):
        m = Module()
        n = self._n
        m.d.comb += self.supported.eq(self.codebook == self._book.ident)
        x = self.pairs.payload.extra
        magnitude, negative = Signal(n), Signal()
        with m.Switch(self.pairs.payload.code):
            for code, (prefix, fw, signed) in enumerate(self.rom()):
                with m.Case(code):
                    m.d.comb += magnitude.eq(prefix | x[:fw] if fw else prefix)
                    if signed:
                        m.d.comb += negative.eq(x[fw])
            with m.Default():
                m.d.comb += magnitude.eq(0)
        _pass_on(m, self.pairs, self.values, Mux(negative, -magnitude, magnitude))
        return m
