"""golden.fixed against an independent reference: exact Fraction arithmetic, value by value.

The reference takes float values from ml_dtypes (exact in float64) and posit values from a
string-level decoder written from the posit standard, multiplies by ``2**frac`` with Fraction,
rounds with Python's ``round`` (ties to even) and clamps; NaN and NaR give 0.
"""

from fractions import Fraction

import ml_dtypes
import numpy as np
import pytest

from golden import fixed
from golden.format import codebooks

FLOAT_DTYPES = {"bf16": ml_dtypes.bfloat16, "fp16": np.float16, "fp32": np.float32,
                "fp8e4m3": ml_dtypes.float8_e4m3fn, "fp8e5m2": ml_dtypes.float8_e5m2}
UINT = {8: np.uint8, 16: np.uint16, 32: np.uint32}


def reference(value, width, frac):
    """Fraction (or float: nan, +-inf) -> fixed-point integer by the documented rule."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    if isinstance(value, float):
        if np.isnan(value):
            return 0
        if np.isinf(value):
            return hi if value > 0 else lo
        value = Fraction(value)
    return min(max(round(value * 2 ** frac), lo), hi)


def posit_reference(p, n, es):
    """posit(n, es) pattern -> Fraction, None for NaR; from the bit string, per the standard."""
    if p == 0:
        return Fraction(0)
    if p == 1 << (n - 1):
        return None
    negative = p >> (n - 1)
    if negative:
        p = (1 << n) - p
    body = format(p, f"0{n}b")[1:]
    run = len(body) - len(body.lstrip(body[0]))
    k = run - 1 if body[0] == "1" else -run
    rest = body[run + 1:]
    e = int(rest[:es].ljust(es, "0"), 2) if es else 0
    fbits = rest[es:]
    f = Fraction(int(fbits, 2), 1 << len(fbits)) if fbits else Fraction(0)
    v = Fraction(2) ** (k * (1 << es) + e) * (1 + f)
    return -v if negative else v


def as_float64(bits, fmt):
    with np.errstate(invalid="ignore"):   # NaN payloads do not survive the cast: NaN anyway
        return bits.view(FLOAT_DTYPES[fmt]).astype(np.float64)


def float_sample(fmt, rng, n):
    e, m, _ = fixed.FLOAT_FORMATS[fmt]
    bits = 1 + e + m
    if bits <= 16:
        return np.arange(1 << bits, dtype=np.uint32).astype(UINT[bits])
    specials = np.array([0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001,
                         0xFFFFFFFF, 0x00000001, 0x80000001, 0x007FFFFF, 0x00800000,
                         0x7F7FFFFF, 0xFF7FFFFF, 0x3F000000, 0x3FC00000, 0x40200000,
                         0x3F000001, 0xBF000000, 0x3EFFFFFF], np.uint32)
    return np.concatenate([specials, rng.integers(0, 1 << 32, n, dtype=np.uint64)
                           .astype(np.uint32)])


@pytest.mark.parametrize("fmt,width,frac", [
    ("bf16", 16, 8), ("bf16", 8, 0), ("bf16", 32, 64), ("bf16", 2, 0),
    ("fp16", 16, 8), ("fp16", 32, 30), ("fp16", 12, 20),
    ("fp32", 32, 16), ("fp32", 16, 0), ("fp32", 24, 40),
    ("fp8e4m3", 8, 4), ("fp8e4m3", 16, 9), ("fp8e5m2", 8, 2), ("fp8e5m2", 32, 17),
])
def test_float_to_fixed_matches_fractions(fmt, width, frac):
    rng = np.random.default_rng(width * 100 + frac)
    bits = float_sample(fmt, rng, 6000)
    if len(bits) > 20000:   # keep the Fraction loop short: a sample of the 16-bit formats
        bits = np.concatenate([bits[:256], bits[0x7F00:0x8100], bits[-256:],
                               rng.choice(bits, 12000, replace=False)])
    values = as_float64(bits, fmt)
    want = np.array([reference(float(v), width, frac) for v in values], np.int64)
    got = fixed.float_to_fixed(bits, *fixed.FLOAT_FORMATS[fmt][:2], width, frac,
                               infinities=fixed.FLOAT_FORMATS[fmt][2])
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.int64
    named = getattr(fixed, f"{fmt}_to_fixed")
    np.testing.assert_array_equal(named(bits, width, frac), want)


def test_all_bf16_patterns_q8_8():
    """Every bf16 pattern, Q8.8: the configuration the hardware tests sweep in full."""
    bits = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    values = as_float64(bits, "bf16")
    want = np.array([reference(float(v), 16, 8) for v in values], np.int64)
    np.testing.assert_array_equal(fixed.bf16_to_fixed(bits, 16, 8), want)


def test_rounding_ties_saturation_and_specials():
    """Worked examples of the documented rule (bf16, width 8, frac 1: steps of 0.5)."""
    b = lambda x: int(np.array(x, np.float32).astype(ml_dtypes.bfloat16).view(np.uint16))
    cases = {0.25: 0, 0.75: 2, 1.25: 2, 1.75: 4, -0.25: 0, -0.75: -2, 0.5: 1, 63.5: 127,
             64.0: 127, 1000.0: 127, -64.0: -128, -64.5: -128, -1e30: -128, 0.2578125: 1,
             float("inf"): 127, float("-inf"): -128, float("nan"): 0, -0.0: 0}
    got = fixed.bf16_to_fixed([b(x) for x in cases], 8, 1)
    assert got.tolist() == list(cases.values())
    # NaN with any payload and sign; smallest subnormal with a frac that reaches it
    assert fixed.bf16_to_fixed([0x7FC0, 0xFFFF, 0x7F81, 0xFF81], 16, 8).tolist() == [0] * 4
    assert fixed.fp16_to_fixed([0x0001, 0x8001, 0x0003], 8, 24).tolist() == [1, -1, 3]
    assert fixed.fp16_to_fixed([0x0001, 0x0003, 0x0002], 8, 23).tolist() == [0, 2, 1]
    # OCP E4M3: 0x7F is NaN, 0x7E is 448 (no infinity)
    assert fixed.fp8e4m3_to_fixed([0x7F, 0xFF, 0x7E, 0xFE], 16, 4).tolist() == [
        0, 0, 448 * 16, -448 * 16]
    assert fixed.to_bits(fixed.bf16_to_fixed([b(-1.0)], 16, 8), 16).tolist() == [0xFF00]


@pytest.mark.parametrize("int_bits,width,frac", [(8, 16, 8), (8, 8, 0), (8, 8, 3), (4, 8, 4),
                                                 (4, 4, 1), (8, 32, 64), (8, 2, 0)])
def test_int_to_fixed(int_bits, width, frac):
    patterns = np.arange(1 << int_bits)
    signed = [p - (1 << int_bits) if p >> (int_bits - 1) else p for p in map(int, patterns)]
    want = [reference(Fraction(v), width, frac) for v in signed]
    assert fixed.int_to_fixed(patterns, int_bits, width, frac).tolist() == want
    assert fixed.int_to_fixed(signed, int_bits, width, frac).tolist() == want


@pytest.mark.parametrize("n,es,width,frac,step", [(8, 0, 8, 4, 1), (8, 0, 16, 8, 1),
                                                  (8, 0, 4, 0, 1), (16, 1, 16, 8, 1),
                                                  (16, 1, 32, 28, 3), (16, 1, 12, 3, 5)])
def test_posit_to_fixed(n, es, width, frac, step):
    patterns = np.arange(0, 1 << n, step)
    want = []
    for p in patterns:
        v = posit_reference(int(p), n, es)
        want.append(0 if v is None else reference(v, width, frac))
    assert fixed.posit_to_fixed(patterns, n, es, width, frac).tolist() == want


def test_posit_reference_known_values():
    """The reference decoder itself, on values from the posit standard."""
    assert [posit_reference(p, 8, 0) for p in (0x40, 0x7F, 0x01, 0x60, 0x20, 0xC0, 0x81)] == [
        1, 64, Fraction(1, 64), 2, Fraction(1, 2), -1, -64]
    assert [posit_reference(p, 16, 1) for p in (0x4000, 0x7FFF, 0x0001, 0x5000, 0x4800)] == [
        1, 2 ** 28, Fraction(1, 2 ** 28), 2, Fraction(3, 2)]
    assert posit_reference(0x80, 8, 0) is None


def test_posit_fixed_is_monotonic():
    """Posits ordered as signed integers are ordered by value: so are their fixed points."""
    for n, es in ((8, 0), (16, 1)):
        p = np.arange(1 << n)
        order = np.argsort(np.where(p >> (n - 1), p - (1 << n), p), kind="stable")
        order = order[order != 1 << (n - 1)]                     # NaR
        q = fixed.posit_to_fixed(order, n, es, 12, 6)   # saturates at both ends
        assert (np.diff(q) >= 0).all()
        assert q[0] == -(1 << 11) and q[-1] == (1 << 11) - 1
        assert q[order == 1 << (n - 2)] == 1 << 6         # 1.0


@pytest.mark.parametrize("name", list(codebooks.CODEBOOKS))
def test_to_fixed_every_code_book(name):
    """The dispatcher on each built-in code book's decoded values, against the direct call."""
    book = codebooks.get(name)
    rng = np.random.default_rng(3)
    x = rng.integers(0, 1 << book.value_bits, 3000, dtype=np.uint64).astype(book.value_dtype)
    if isinstance(book, codebooks.UserCodeBook):
        x = x[(x & 0x7FFF) <= 0x7F80]
    x = book.decode(*book.encode(x))
    got = fixed.to_fixed(x, name, 16, 8)
    if isinstance(book, codebooks.FloatCodeBook):
        fmt = {(8, 7): "bf16", (5, 10): "fp16", (8, 23): "fp32", (4, 3): "fp8e4m3",
               (5, 2): "fp8e5m2"}[book.exp_bits, book.man_bits]
        values = as_float64(x, fmt)
        want = [reference(float(v), 16, 8) for v in values]
    elif isinstance(book, codebooks.IntCodeBook):
        want = fixed.int_to_fixed(x, book.bits, 16, 8)
    elif isinstance(book, codebooks.PositCodeBook):
        want = fixed.posit_to_fixed(x, book.n, book.es, 16, 8)
    else:
        want = fixed.bf16_to_fixed(x, 16, 8)
    np.testing.assert_array_equal(got, want)


def test_parameter_errors():
    with pytest.raises(ValueError, match=r"^width must be 2 \.\. 32, not 1$"):
        fixed.bf16_to_fixed([0], 1, 0)
    with pytest.raises(ValueError, match=r"^width must be 2 \.\. 32, not 33$"):
        fixed.int_to_fixed([0], 8, 33, 0)
    with pytest.raises(ValueError, match=r"^frac must be 0 \.\. 64, not -1$"):
        fixed.posit_to_fixed([0], 8, 0, 16, -1)
    with pytest.raises(ValueError, match=r"^frac must be 0 \.\. 64, not 65$"):
        fixed.bf16_to_fixed([0], 16, 65)
    with pytest.raises(ValueError, match=r"^exp_bits must be 2 \.\. 8, not 11$"):
        fixed.float_to_fixed([0], 11, 52, 16, 8)
    with pytest.raises(ValueError, match=r"^man_bits must be 1 \.\. 23, not 24$"):
        fixed.float_to_fixed([0], 8, 24, 16, 8)
    with pytest.raises(ValueError, match=r"^int_bits must be 2 \.\. 32, not 1$"):
        fixed.int_to_fixed([0], 1, 16, 8)
    with pytest.raises(ValueError, match=r"n must be 16 or less, not 32"):
        fixed.posit_to_fixed([0], 32, 2, 16, 8)
