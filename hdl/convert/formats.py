"""The value formats the hardware converts, and the lane widths they need: what a decompressor or
compressor top of format ``fmt`` is built with."""

from amaranth.lib import data

from golden.format import codebooks

__all__ = ["FORMATS", "INT_FORMATS", "value_bits", "extra_max", "extra_step", "check_format",
           "Value", "float_books", "int_book", "code_widths"]


#: Float formats: name -> (exponent bits, mantissa bits).
FORMATS = {"bf16": (8, 7), "fp16": (5, 10), "fp8e4m3": (4, 3), "fp8e5m2": (5, 2)}
#: Quantised integers (magnitude-class code books, golden.format.codebooks.IntCodeBook): name -> bits.
INT_FORMATS = {"int8": 8, "int4": 4}


def value_bits(fmt):
    """Width of a value of format ``fmt``."""
    return INT_FORMATS[fmt] if fmt in INT_FORMATS else 1 + sum(FORMATS[fmt])


def extra_max(fmt):
    """Widest raw extra field of a format's code books, an escape's raw code included."""
    if fmt in INT_FORMATS:
        bits = INT_FORMATS[fmt]
        return bits + bits.bit_length()
    e, mb = FORMATS[fmt]
    return max(e + 1 + mb, mb + 1)


def extra_step(fmt):
    """Extra bits a pair of format ``fmt`` reads in its own cycle: the widest extra field of a
    code (the rest of an escape, its raw code, takes one more; see :class:`~hdl.ans.decode.lane.DecodeLane`),
    at least half of :func:`extra_max`."""
    widest = INT_FORMATS[fmt] if fmt in INT_FORMATS else FORMATS[fmt][1] + 1
    return max(widest, -(-extra_max(fmt) // 2))


def check_format(fmt):
    """Raises ValueError unless ``fmt`` is a key of :data:`FORMATS` or :data:`INT_FORMATS`."""
    if fmt not in FORMATS and fmt not in INT_FORMATS:
        raise ValueError(f"format must be one of {', '.join([*FORMATS, *INT_FORMATS])}, "
                         f"not {fmt!r}")


def Value(value_bits):
    """A stream payload of one value: its bit pattern and ``last`` at a tensor's end."""
    return data.StructLayout({"value": value_bits, "last": 1})


def float_books(exp_bits, man_bits):
    """The built-in float code books of a format (those :class:`PairToFloat` converts)."""
    return [b for b in codebooks.CODEBOOKS.values()
            if isinstance(b, codebooks.FloatCodeBook)
            and (b.exp_bits, b.man_bits) == (exp_bits, man_bits)]


def int_book(bits):
    """The built-in code book of ``bits``-bit integers (the one :class:`IntToPair` codes)."""
    return next(b for b in codebooks.CODEBOOKS.values()
                if isinstance(b, codebooks.IntCodeBook) and b.bits == bits)


def code_widths(fmt):
    """The raw code widths (``code_bits``) of the code books a compressor of ``fmt`` codes
    with (8 and 9 for bf16): the escape shifts its EncodeLane must handle."""
    if fmt in INT_FORMATS:
        return [int_book(INT_FORMATS[fmt]).code_bits]
    return sorted({b.code_bits for b in float_books(*FORMATS[fmt])})
