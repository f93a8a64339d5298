"""Code books: numerical data types described as data.

A code book maps every value of its domain (an unsigned bit pattern of ``value_bits``) to a
**coding pair** ``(code, extra)``: ``code`` is entropy coded, ``extra`` is stored raw in
``widths[code]`` bits. The width depends on the code alone, so a decoder that knows the code
knows how many raw bits follow. :meth:`CodeBook.decode` is the exact inverse on the values a
code book holds; lossy code books (``lossless == False``) round values onto that set first.

Built in: IEEE-style floats (bf16, fp16, fp32, fp8 E4M3 and E5M2) with the exponent as the code
(``*-exp``) or with sign and exponent as the code (``*-sexp``), signed integers by magnitude class
(JPEG's category + additional bits), posits, and :class:`UserCodeBook` for user-defined types in
which every code has its own exponent and mantissa width.
"""

from collections.abc import Mapping

import numpy as np

__all__ = [
    "CodeBook", "FloatCodeBook", "IntCodeBook", "PositCodeBook", "UserCodeBook",
    "CODEBOOKS", "get", "for_dtype", "CodeBookError",
]

#: Largest code a code book may have (the code field of a decode-table entry is 9 bits wide).
MAX_CODES = 512
#: Largest extra width a code book may have.
MAX_EXTRA_WIDTH = 24


class CodeBookError(ValueError):
    """A value has no coding pair in a code book, or a code book is malformed."""


def _uint(bits):
    return {8: np.uint8, 16: np.uint16, 32: np.uint32}[max(8, 1 << (bits - 1).bit_length())]


class CodeBook:
    """Base class. Subclasses set the attributes below and implement encode/decode.

    Members
    -------
    name : str
        Name used on the command line and in files.
    ident : int
        8-bit identifier, stored in the hardware's :class:`~golden.format.layouts.TableConfig`.
    value_bits : int
        Width of a value's bit pattern.
    code_bits : int
        Width of a raw code (carried in the extra bits of the escape symbol).
    widths : ndarray of uint8
        Extra width of every code; ``len(widths)`` is the number of codes.
    lossless : bool
        Every value of the domain survives ``decode(*encode(v))`` unchanged.
    dtypes : tuple of str
        safetensors dtypes the compressor may choose this code book for on its own.
    raw_low_bits : int
        The low ``raw_low_bits`` bits of every value are the low bits of its extra, unchanged,
        and the code and the rest of the extra depend on the other bits alone (the mantissa of
        a float; 0 where nothing is copied). The fast path (golden/ans/fast.py) builds its
        tables over the other bits only.
    """
    name = ident = value_bits = code_bits = widths = None
    raw_low_bits = 0
    lossless = True
    dtypes = ()

    @property
    def n_codes(self):
        return len(self.widths)

    @property
    def value_dtype(self):
        return _uint(self.value_bits)

    def encode(self, values):
        """Bit patterns -> ``(codes, extras)`` (uint16, uint32)."""
        raise NotImplementedError

    def decode(self, codes, extras):
        """``(codes, extras)`` -> bit patterns of :attr:`value_dtype`."""
        raise NotImplementedError

    def _check(self):
        assert 0 <= self.ident < 256
        if not 1 <= self.n_codes <= MAX_CODES or self.n_codes > 1 << self.code_bits:
            raise CodeBookError(f"code book {self.name}: {self.n_codes} codes do not fit")
        if int(self.widths.max()) > MAX_EXTRA_WIDTH:
            raise CodeBookError(f"code book {self.name}: extra width over {MAX_EXTRA_WIDTH}")

    def __repr__(self):
        return f"<CodeBook {self.name}>"


class FloatCodeBook(CodeBook):
    """IEEE-style float with ``exp_bits`` exponent and ``man_bits`` mantissa bits.

    ``sign_in_code=False``: code = exponent, extra = sign, mantissa (``man_bits + 1`` bits).
    ``sign_in_code=True``: code = sign, exponent, extra = mantissa (``man_bits`` bits); this wins
    where signs are skewed. Every bit pattern (NaNs with payloads, infinities, subnormals, -0)
    is a value: both are lossless.
    """

    def __init__(self, name, ident, exp_bits, man_bits, *, sign_in_code, dtypes=()):
        self.name, self.ident, self.dtypes = name, ident, tuple(dtypes)
        self.exp_bits, self.man_bits, self.sign_in_code = exp_bits, man_bits, sign_in_code
        self.value_bits = 1 + exp_bits + man_bits
        self.code_bits = exp_bits + sign_in_code
        self.raw_low_bits = man_bits
        self.widths = np.full(1 << self.code_bits, man_bits + (not sign_in_code), np.uint8)
        self._check()

    def encode(self, values):
        v = np.asarray(values)
        if v.size and (v.min() < 0 or int(v.max()) >> self.value_bits):
            raise CodeBookError(f"value outside the domain of code book {self.name}")
        v = v.astype(np.uint32)
        if self.sign_in_code:
            return (v >> self.man_bits).astype(np.uint16), v & ((1 << self.man_bits) - 1)
        m = self.man_bits
        sign = v >> (m + self.exp_bits)
        code = (v >> m) & ((1 << self.exp_bits) - 1)
        return code.astype(np.uint16), (sign << m) | (v & ((1 << m) - 1))

    def decode(self, codes, extras):
        c = np.asarray(codes).astype(np.uint32)
        x = np.asarray(extras).astype(np.uint32)
        m = self.man_bits
        if self.sign_in_code:
            v = (c << m) | x
        else:
            v = ((x >> m) << (m + self.exp_bits)) | (c << m) | (x & ((1 << m) - 1))
        return v.astype(self.value_dtype)


class _TableCodeBook(CodeBook):
    """A code book over a small domain, defined by a lookup table of every value's pair."""

    def _build(self, pairs, decoded=None):
        # pairs: list over all 2**value_bits patterns of (code, extra) or None (not held);
        # decoded: {pair: value} where a pair's value is not the first pattern that maps to it
        self._enc_code = np.array([p[0] if p else 0 for p in pairs], np.uint16)
        self._enc_extra = np.array([p[1] if p else 0 for p in pairs], np.uint32)
        self._held = np.array([p is not None for p in pairs])
        dec = {}
        for value, p in enumerate(pairs):
            if p is not None:
                dec.setdefault(p, value)
        dec.update(decoded or {})
        self._dec = dec
        # dense decode table indexed by (code << widest) | extra
        self._widest = int(self.widths.max())
        dense = np.zeros(self.n_codes << self._widest, _uint(self.value_bits))
        for (code, extra), value in dec.items():
            dense[(int(code) << self._widest) | int(extra)] = value
        self._dense = dense
        self._check()

    def encode(self, values):
        v = np.asarray(values).astype(np.int64)
        if v.size and (v.min() < 0 or v.max() >= len(self._held)):
            raise CodeBookError(f"value outside the domain of code book {self.name}")
        if not self._held[v].all():
            bad = int(v[~self._held[v]][0])
            raise CodeBookError(f"value 0x{bad:x} has no code in code book {self.name}")
        return self._enc_code[v], self._enc_extra[v]

    def decode(self, codes, extras):
        c = np.asarray(codes).astype(np.int64)
        x = np.asarray(extras).astype(np.int64)
        return self._dense[(c << self._widest) | x]


class IntCodeBook(_TableCodeBook):
    """Signed ``bits``-bit integers by magnitude class, as JPEG codes DCT coefficients.

    code = bit length of ``|v|``; extra (code bits) = ``v`` when ``v >= 0``, else
    ``v + 2**code - 1`` (so the top extra bit is the sign). Values are two's complement bit
    patterns of ``bits`` bits. Lossless.
    """

    def __init__(self, name, ident, bits, *, dtypes=()):
        self.name, self.ident, self.bits, self.dtypes = name, ident, bits, tuple(dtypes)
        self.value_bits = bits
        self.code_bits = (bits).bit_length()
        self.widths = np.arange(bits + 1, dtype=np.uint8)
        pairs = []
        for pattern in range(1 << bits):
            v = pattern - (1 << bits) if pattern >> (bits - 1) else pattern
            c = abs(v).bit_length()
            pairs.append((c, v if v >= 0 else v + (1 << c) - 1))
        self._build(pairs)


class PositCodeBook(_TableCodeBook):
    """Posit(n, es): code = (regime, exponent) of the magnitude; extra = sign, fraction.

    Codes 0 and 1 are zero and NaR (no extra bits). A negative posit is coded through its two's
    complement magnitude, so that the code carries the scale and the extra bits carry the sign
    and the fraction, whose width shrinks as the regime grows. Lossless.
    """

    def __init__(self, name, ident, n, es):
        self.name, self.ident, self.n, self.es = name, ident, n, es
        self.value_bits = n
        fields = {}
        for pattern in range(1 << n):
            if pattern in (0, 1 << (n - 1)):
                continue
            sign = pattern >> (n - 1)
            a = ((-pattern) & ((1 << n) - 1)) if sign else pattern
            body = [(a >> i) & 1 for i in range(n - 2, -1, -1)]  # n-1 bits, MSB first
            r0, run = body[0], 1
            while run < len(body) and body[run] == r0:
                run += 1
            rest = body[run + 1:]  # after the terminating bit
            ebits = min(es, len(rest))
            e = 0
            for b in rest[:ebits]:
                e = (e << 1) | b
            frac = rest[ebits:]
            f = 0
            for b in frac:
                f = (f << 1) | b
            key = (r0, run, ebits, e)
            fields[pattern] = (key, sign, f, len(frac))
        keys = sorted({k for k, *_ in fields.values()},
                      key=lambda k: ((k[1] if k[0] else -k[1]), k[3] << (es - k[2])))
        index = {k: 2 + i for i, k in enumerate(keys)}
        widths = np.zeros(2 + len(keys), np.uint8)
        pairs = []
        for pattern in range(1 << n):
            if pattern == 0:
                pairs.append((0, 0))
            elif pattern == 1 << (n - 1):
                pairs.append((1, 0))
            else:
                key, sign, f, fw = fields[pattern]
                widths[index[key]] = 1 + fw
                pairs.append((index[key], (sign << fw) | f))
        self.widths = widths
        self.code_bits = max(1, (len(widths) - 1).bit_length())
        self._build(pairs)


class UserCodeBook(_TableCodeBook):
    """A user-defined type over bfloat16 values: variable precision, variable range.

    Code 0 is zero (extra: the sign). Code ``i >= 1`` is the binade ``[2**e_i, 2**(e_i+1))``
    with ``m_i`` mantissa bits: extra = sign, mantissa (``1 + m_i`` bits). A bf16 value is
    rounded to the nearest value the code book holds (ties to the one listed first in order of
    magnitude at an even position), infinities saturate to the largest magnitude, NaN has no
    code (:class:`CodeBookError`). ``lossless`` tells whether every non-NaN bf16 value survives.

    Parameters
    ----------
    binades : list of (int, int)
        ``(exponent, mantissa_bits)`` per code, exponents strictly increasing, in the bf16 normal
        range (-126 .. 127), ``mantissa_bits`` in 0 .. 7.
    """

    def __init__(self, name, ident, binades):
        self.name, self.ident, self.value_bits = name, ident, 16
        binades = [(int(e), int(m)) for e, m in binades]
        if not binades or len(binades) + 1 > MAX_CODES:
            raise CodeBookError(f"code book {name}: needs 1 to {MAX_CODES - 1} binades")
        for (e, m), prev in zip(binades, [None] + binades):
            if not (-126 <= e <= 127 and 0 <= m <= 7) or (prev and e <= prev[0]):
                raise CodeBookError(f"code book {name}: bad binade ({e}, {m})")
        self.binades = binades
        self.widths = np.array([1] + [1 + m for _, m in binades], np.uint8)
        self.code_bits = max(1, len(binades).bit_length())
        # every magnitude the code book holds, as (bf16 magnitude bits, code, mantissa)
        held = [(0, 0, 0)]
        for i, (e, m) in enumerate(binades, start=1):
            held += [(((e + 127) << 7) | (f << (7 - m)), i, f) for f in range(1 << m)]
        held_bits = np.array([h[0] for h in held], np.uint16)
        held_val = _bf16_to_float(held_bits)
        patterns = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
        x = _bf16_to_float(patterns & 0x7FFF)
        pos = np.clip(np.searchsorted(held_val, x), 1, len(held) - 1)
        lo, hi = held_val[pos - 1], held_val[pos]
        take_hi = (hi - x < x - lo) | ((hi - x == x - lo) & (pos % 2 == 0))
        nearest = np.where(take_hi, pos, pos - 1)
        nearest = np.where(x >= held_val[-1], len(held) - 1, nearest)
        pairs = []
        for pattern in range(1 << 16):
            if np.isnan(x[pattern]):
                pairs.append(None)
                continue
            _, code, f = held[nearest[pattern]]
            pairs.append((int(code), ((pattern >> 15) << (int(self.widths[code]) - 1)) | int(f)))
        # a pair stands for the value held, not for the smallest pattern rounded onto it
        decoded = {(code, (sign << (int(self.widths[code]) - 1)) | f): (sign << 15) | bits
                   for bits, code, f in held for sign in (0, 1)}
        self._build(pairs, decoded)
        back = self.decode(self._enc_code, self._enc_extra)
        self.lossless = bool(self._held.all() and (back == patterns).all())


def _bf16_to_float(bits):
    with np.errstate(invalid="ignore"):
        return (np.asarray(bits).astype(np.uint32) << 16).view(np.float32).astype(np.float64)


class _Registry(Mapping):
    """Code books by name. An entry may be a function that builds its code book, called on
    first use: posit16 and the user-defined example take a few hundred milliseconds to build,
    which a command that does not use them should not pay. Such an entry has no dtypes."""

    def __init__(self, entries):
        self._entries = dict(entries)

    def __getitem__(self, name):
        entry = self._entries[name]
        if not isinstance(entry, CodeBook):
            entry = self._entries[name] = entry()
        return entry

    def __iter__(self):
        return iter(self._entries)

    def __len__(self):
        return len(self._entries)

    def dtypes(self, name):
        entry = self._entries[name]
        return entry.dtypes if isinstance(entry, CodeBook) else ()


def _builtin():
    books = [
        FloatCodeBook("bf16-exp", 1, 8, 7, sign_in_code=False, dtypes=("BF16",)),
        FloatCodeBook("bf16-sexp", 2, 8, 7, sign_in_code=True, dtypes=("BF16",)),
        FloatCodeBook("fp16-exp", 3, 5, 10, sign_in_code=False, dtypes=("F16",)),
        FloatCodeBook("fp16-sexp", 4, 5, 10, sign_in_code=True, dtypes=("F16",)),
        FloatCodeBook("fp32-exp", 5, 8, 23, sign_in_code=False, dtypes=("F32",)),
        FloatCodeBook("fp32-sexp", 6, 8, 23, sign_in_code=True, dtypes=("F32",)),
        FloatCodeBook("fp8e4m3-exp", 7, 4, 3, sign_in_code=False, dtypes=("F8_E4M3",)),
        FloatCodeBook("fp8e4m3-sexp", 8, 4, 3, sign_in_code=True, dtypes=("F8_E4M3",)),
        FloatCodeBook("fp8e5m2-exp", 9, 5, 2, sign_in_code=False, dtypes=("F8_E5M2",)),
        FloatCodeBook("fp8e5m2-sexp", 10, 5, 2, sign_in_code=True, dtypes=("F8_E5M2",)),
        IntCodeBook("int8", 11, 8, dtypes=("I8",)),
        IntCodeBook("int4", 12, 4),
        PositCodeBook("posit8", 13, 8, 0),
    ]
    entries = {b.name: b for b in books}
    entries["posit16"] = lambda: PositCodeBook("posit16", 14, 16, 1)
    # An example of a user-defined type: 4 mantissa bits near 1, fewer for small
    # magnitudes, range 2**-24 .. 2**3 (lossy; shown by `ansnum codebooks`).
    entries["user-e4m-example"] = lambda: UserCodeBook(
        "user-e4m-example", 64, [(e, max(0, 4 - (-e) // 6)) for e in range(-24, 4)])
    return _Registry(entries)


#: Built-in code books by name.
CODEBOOKS = _builtin()


def get(name):
    """The built-in code book called ``name``."""
    try:
        return CODEBOOKS[name]
    except KeyError:
        raise CodeBookError(f"unknown code book {name!r} (known: {', '.join(CODEBOOKS)})")


def for_dtype(dtype):
    """The lossless built-in code books the compressor may choose for a safetensors dtype."""
    return [CODEBOOKS[n] for n in CODEBOOKS
            if dtype in CODEBOOKS.dtypes(n) and CODEBOOKS[n].lossless]
