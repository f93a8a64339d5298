"""Fixed-point conversion: the values a code book holds -> integers for a fixed-point engine.

A fixed-point number of ``width`` bits with ``frac`` fraction bits is a two's complement integer
``q`` standing for ``q / 2**frac``. Every function here maps bit patterns (as a code book's
:meth:`~golden.format.codebooks.CodeBook.decode` returns them) to ``q`` by one rule:

* **Rounding**: ``q`` is the exact value times ``2**frac`` rounded to the nearest integer, ties
  to even (IEEE 754 roundTiesToEven). Subnormals are exact inputs like any other; magnitudes up
  to half an output step (``2**-(frac+1)``, the tie included) become 0, and -0 is 0.
* **Saturation**: a result outside ``[-2**(width-1), 2**(width-1) - 1]`` becomes the nearest
  end of that range; so do the infinities. Saturation applies after rounding.
* **NaN** (and the posit NaR) becomes 0. A fixed-point engine has no code for "not a number";
  0 is the value that disturbs a dot product least, and a check for NaN belongs before the
  converter (the float code books keep every NaN payload, so it is visible there).

Hardware does the same with one shifter, a guard/sticky rounding step, a comparison and a
negation (:class:`hdl.convert.fixed.FixedPointConverter`): the value is ``(-1)**s * M * 2**k`` with an
integer significand ``M``; the magnitude ``M * 2**(k + frac)`` is rounded, compared with the
range and negated. Results are returned as signed ``int64``; :func:`to_bits` gives the ``width``-bit
patterns the hardware emits.

Ranges: ``width`` 2 .. 32, ``frac`` 0 .. 64 (a ``frac`` above ``width`` is a format for small
magnitudes, e.g. ``width=8, frac=12`` covers ``[-2**-5, 2**-5)``).
"""

import functools

import numpy as np

from .format import codebooks

__all__ = [
    "WIDTH_RANGE", "FRAC_RANGE", "FLOAT_FORMATS", "check_fixed", "check_float_format",
    "float_to_fixed", "bf16_to_fixed", "fp16_to_fixed", "fp32_to_fixed", "fp8e4m3_to_fixed",
    "fp8e5m2_to_fixed", "int_to_fixed", "posit_to_fixed", "posit_fields", "to_fixed", "to_bits",
]

#: Allowed ``width`` and ``frac`` (inclusive).
WIDTH_RANGE = (2, 32)
FRAC_RANGE = (0, 64)

#: Float formats by name: (exponent bits, mantissa bits, infinities). ``infinities=False`` is the
#: OCP FP8 E4M3 convention ("fn"): the all-ones exponent is an ordinary binade, only the all-ones
#: mantissa in it is NaN, and there is no infinity.
FLOAT_FORMATS = {
    "bf16": (8, 7, True), "fp16": (5, 10, True), "fp32": (8, 23, True),
    "fp8e4m3": (4, 3, False), "fp8e5m2": (5, 2, True),
}


def check_fixed(width, frac):
    """Raise ValueError unless ``width`` and ``frac`` are in range (messages shared with hdl/)."""
    if not (isinstance(width, int) and WIDTH_RANGE[0] <= width <= WIDTH_RANGE[1]):
        raise ValueError(f"width must be {WIDTH_RANGE[0]} .. {WIDTH_RANGE[1]}, not {width!r}")
    if not (isinstance(frac, int) and FRAC_RANGE[0] <= frac <= FRAC_RANGE[1]):
        raise ValueError(f"frac must be {FRAC_RANGE[0]} .. {FRAC_RANGE[1]}, not {frac!r}")


def check_float_format(exp_bits, man_bits):
    """Raise ValueError unless ``1 + exp_bits + man_bits`` is a float format of at most 32 bits."""
    if not (isinstance(exp_bits, int) and 2 <= exp_bits <= 8):
        raise ValueError(f"exp_bits must be 2 .. 8, not {exp_bits!r}")
    if not (isinstance(man_bits, int) and 1 <= man_bits <= 31 - exp_bits):
        raise ValueError(f"man_bits must be 1 .. {31 - exp_bits}, not {man_bits!r}")


def _round_saturate(sign, mant, exp2, width):
    """``(-1)**sign * mant * 2**exp2``, rounded to an integer (ties to even) and saturated.

    ``mant`` < 2**31 (uint64), ``exp2`` any int64. The shift is clamped to ``[-62, width]``: a
    left shift by ``width`` of a non-zero ``mant`` is already out of range, and a right shift
    by 62 already rounds to 0, so the clamp does not change the result.
    """
    sign = np.asarray(sign, bool)
    mant = np.asarray(mant).astype(np.uint64)
    exp2 = np.asarray(exp2).astype(np.int64)
    left = np.clip(exp2, 0, width).astype(np.uint64)
    right = np.clip(-exp2, 0, 62).astype(np.uint64)
    one = np.uint64(1)
    whole = (mant << left) >> right
    guard = np.where(right > 0, (mant >> np.maximum(right, one) - one) & one, 0).astype(bool)
    sticky_mask = (one << np.maximum(right, one) - one) - one   # bits below the guard bit
    sticky = (mant & sticky_mask) != 0
    up = guard & (sticky | ((whole & one) == 1))
    magnitude = whole + up.astype(np.uint64)
    top = np.uint64(1) << np.uint64(width - 1)
    pos = np.minimum(magnitude, top - one).astype(np.int64)
    neg = -np.minimum(magnitude, top).astype(np.int64)
    return np.where(sign, neg, pos)


def float_to_fixed(bits, exp_bits, man_bits, width, frac, *, infinities=True):
    """IEEE-style float bit patterns -> fixed-point integers (see the module for the rule).

    Parameters
    ----------
    bits : array_like of unsigned int
        Bit patterns of ``1 + exp_bits + man_bits`` bits (sign, exponent, mantissa; bias
        ``2**(exp_bits-1) - 1``; exponent 0 is zero and the subnormals).
    exp_bits, man_bits : int
        The format: bf16 8, 7; fp16 5, 10; fp32 8, 23; fp8 4, 3 or 5, 2.
    width, frac : int
        Fixed-point format: ``width`` bits (2 .. 32), ``frac`` of them fraction bits (0 .. 64).
    infinities : bool
        True: the all-ones exponent holds the infinities (mantissa 0, saturate) and the NaNs
        (-> 0), as in IEEE 754. False: OCP E4M3 ("fn"): the all-ones exponent is an ordinary
        binade, except that the all-ones mantissa is NaN (-> 0); there is no infinity.

    Returns
    -------
    ndarray of int64
        ``q`` in ``[-2**(width-1), 2**(width-1) - 1]``.
    """
    check_float_format(exp_bits, man_bits)
    check_fixed(width, frac)
    b = np.asarray(bits).astype(np.uint64)
    e, m = exp_bits, man_bits
    sign = ((b >> np.uint64(e + m)) & np.uint64(1)).astype(bool)
    exp = ((b >> np.uint64(m)) & np.uint64((1 << e) - 1)).astype(np.int64)
    man = b & np.uint64((1 << m) - 1)
    bias = (1 << (e - 1)) - 1
    normal = exp != 0
    mant = np.where(normal, man | np.uint64(1 << m), man)
    exp2 = np.maximum(exp, 1) - bias - m + frac
    top_binade = exp == (1 << e) - 1
    if infinities:
        nan = top_binade & (man != 0)
        inf = top_binade & (man == 0)
    else:
        nan = top_binade & (man == (1 << m) - 1)
        inf = np.zeros_like(nan)
    exp2 = np.where(inf, width, exp2)            # saturates: mant >= 1 shifted by width
    q = _round_saturate(sign, mant, exp2, width)
    return np.where(nan, 0, q)


def _named(fmt):
    e, m, inf = FLOAT_FORMATS[fmt]

    def convert(bits, width, frac):
        return float_to_fixed(bits, e, m, width, frac, infinities=inf)
    convert.__name__ = f"{fmt}_to_fixed"
    convert.__doc__ = (f"{fmt} bit patterns -> fixed point: ``float_to_fixed(bits, {e}, {m}, "
                       f"width, frac, infinities={inf})``.")
    return convert


bf16_to_fixed = _named("bf16")
fp16_to_fixed = _named("fp16")
fp32_to_fixed = _named("fp32")
fp8e4m3_to_fixed = _named("fp8e4m3")
fp8e5m2_to_fixed = _named("fp8e5m2")


def int_to_fixed(bits, int_bits, width, frac):
    """Two's complement integers of ``int_bits`` bits -> fixed point: ``v * 2**frac``, saturated.

    Exact (no rounding): the integer shifted left by ``frac``, then saturated to
    ``[-2**(width-1), 2**(width-1) - 1]``.

    Parameters
    ----------
    bits : array_like of int
        Bit patterns of ``int_bits`` bits, as :class:`~golden.format.codebooks.IntCodeBook` decodes
        them; taken modulo ``2**int_bits``, so signed integers work as well.
    int_bits : int
        2 .. 32.
    width, frac : int
        As :func:`float_to_fixed`.
    """
    if not (isinstance(int_bits, int) and 2 <= int_bits <= 32):
        raise ValueError(f"int_bits must be 2 .. 32, not {int_bits!r}")
    check_fixed(width, frac)
    b = np.asarray(bits).astype(np.int64) & ((1 << int_bits) - 1)
    v = np.where(b >> (int_bits - 1), b - (1 << int_bits), b)
    return _round_saturate(v < 0, np.abs(v).astype(np.uint64), np.full(v.shape, frac), width)


@functools.lru_cache(maxsize=None)
def posit_fields(n, es):
    """Every posit(n, es) pattern as ``(sign, mant, exp2, nar)`` arrays of length ``2**n``.

    The value of pattern ``p`` is ``(-1)**sign[p] * mant[p] * 2**exp2[p]``: ``mant`` is the
    significand ``2**fw + fraction`` as an integer (``fw`` fraction bits after the regime,
    the terminating bit and up to ``es`` exponent bits; exponent bits cut off by the end of
    the word are 0), ``exp2 = regime * 2**es + exponent - fw``. Zero has ``mant == 0``;
    NaR (``1 << (n-1)``) has ``nar``. Negative posits are the two's complement of their
    magnitude (posit standard 2022).
    """
    if not (isinstance(n, int) and 3 <= n <= 32 and isinstance(es, int) and 0 <= es <= 4):
        raise ValueError(f"posit(n, es) must have n 3 .. 32 and es 0 .. 4, not ({n}, {es})")
    if n > 16:
        raise ValueError(f"posit_fields tabulates every pattern: n must be 16 or less, not {n}")
    p = np.arange(1 << n, dtype=np.int64)
    sign = (p >> (n - 1)) & 1
    a = np.where(sign == 1, (-p) & ((1 << n) - 1), p)         # magnitude pattern
    body = a & ((1 << (n - 1)) - 1)                            # n-1 bits below the sign
    r0 = (body >> (n - 2)) & 1
    # run length of the regime: leading bits equal to r0, within the n-1 body bits
    run = np.zeros_like(p)
    still = np.ones(p.shape, bool)
    for i in range(n - 2, -1, -1):
        still &= ((body >> i) & 1) == r0
        run += still
    regime = np.where(r0 == 1, run - 1, -run)
    rest_bits = np.maximum(n - 1 - run - 1, 0)                 # after the terminating bit
    rest = body & ((1 << rest_bits) - 1)
    ebits = np.minimum(es, rest_bits)
    fw = rest_bits - ebits
    exponent = (rest >> fw) << (es - ebits)                     # cut-off exponent bits are 0
    fraction = rest & ((1 << fw) - 1)
    mant = (1 << fw) | fraction
    exp2 = regime * (1 << es) + exponent - fw
    zero = p == 0
    nar = p == 1 << (n - 1)
    mant = np.where(zero | nar, 0, mant)
    exp2 = np.where(zero | nar, 0, exp2)
    out = (sign.astype(bool), mant.astype(np.uint64), exp2.astype(np.int64), nar)
    for x in out:
        x.setflags(write=False)
    return out


def posit_to_fixed(bits, n, es, width, frac):
    """posit(n, es) bit patterns -> fixed point: exact value rounded ties-to-even, saturated.

    NaR becomes 0 (like NaN), zero becomes 0. ``n`` is at most 16 (posit8 and posit16 are
    the built-in posit code books).

    Parameters
    ----------
    bits : array_like of unsigned int
        Bit patterns of ``n`` bits.
    n, es : int
        The posit format.
    width, frac : int
        As :func:`float_to_fixed`.
    """
    sign, mant, exp2, nar = posit_fields(n, es)
    check_fixed(width, frac)
    b = np.asarray(bits).astype(np.int64) & ((1 << n) - 1)
    q = _round_saturate(sign[b], mant[b], exp2[b] + frac, width)
    return np.where(nar[b], 0, q)


def to_fixed(bits, codebook, width, frac):
    """The values of a code book (its decoded bit patterns) -> fixed point.

    Float code books by their format (fp8 E4M3 without infinities, see :data:`FLOAT_FORMATS`),
    integer code books with :func:`int_to_fixed`, posit code books with :func:`posit_to_fixed`,
    user-defined code books (bf16 values) with :func:`bf16_to_fixed`.

    Parameters
    ----------
    codebook : CodeBook or str
        A code book or the name of a built-in one.
    """
    book = codebooks.get(codebook) if isinstance(codebook, str) else codebook
    if isinstance(book, codebooks.FloatCodeBook):
        inf = not (book.exp_bits, book.man_bits) == FLOAT_FORMATS["fp8e4m3"][:2]
        return float_to_fixed(bits, book.exp_bits, book.man_bits, width, frac, infinities=inf)
    if isinstance(book, codebooks.IntCodeBook):
        return int_to_fixed(bits, book.bits, width, frac)
    if isinstance(book, codebooks.PositCodeBook):
        return posit_to_fixed(bits, book.n, book.es, width, frac)
    if isinstance(book, codebooks.UserCodeBook):
        return bf16_to_fixed(bits, width, frac)
    raise ValueError(f"no fixed-point conversion for code book {book.name}")


def to_bits(q, width):
    """Fixed-point integers -> their ``width``-bit two's complement patterns (uint64)."""
    return (np.asarray(q).astype(np.int64) & ((1 << width) - 1)).astype(np.uint64)
