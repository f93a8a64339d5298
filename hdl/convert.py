"""Output converters: coding pairs -> numbers for a compute engine."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden import codebooks

from .unpacker import Pair

__all__ = ["FloatPacker", "Value"]


def Value(value_bits):
    return data.StructLayout({"value": value_bits, "last": 1})


class FloatPacker(wiring.Component):
    """(code, extra) of a float code book -> the float's bit pattern (bf16, fp16, fp8, ...).

    Handles both float code books of one format: ``*-exp`` (code = exponent, extra = sign,
    mantissa) and ``*-sexp`` (code = sign, exponent, extra = mantissa), chosen at run time by
    the table's code book identifier; identical to :meth:`golden.codebooks.FloatCodeBook.decode`.
    Latency one cycle, throughput one value per cycle.

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
        self._books = [b for b in codebooks.CODEBOOKS.values()
                       if isinstance(b, codebooks.FloatCodeBook)
                       and (b.exp_bits, b.man_bits) == (exp_bits, man_bits)]
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
