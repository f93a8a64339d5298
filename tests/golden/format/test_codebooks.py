"""Code books: every value of every domain maps to a valid coding pair and back."""

import ml_dtypes
import numpy as np
import pytest

from golden.ans import codec
from golden.format import codebooks
from golden.format.codebooks import CODEBOOKS, CodeBookError, UserCodeBook

from ansnum_helpers import ALL_BF16

SMALL = [b for b in CODEBOOKS.values() if b.value_bits <= 16]
LOSSLESS_SMALL = [b for b in SMALL if b.lossless]
USER = codebooks.get("user-e4m-example")


def _domain(book):
    return np.arange(1 << book.value_bits, dtype=np.uint32).astype(book.value_dtype)


def fp32_sample(n=200_000, seed=1):
    """Random fp32 patterns (uniform bits and realistic weights) plus every special."""
    rng = np.random.default_rng(seed)
    uniform = rng.integers(0, 1 << 32, n // 2, dtype=np.uint64).astype(np.uint32)
    weights = (rng.standard_normal(n // 2) * 0.02).astype(np.float32).view(np.uint32)
    specials = np.array([0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000,
                         0x7F800001, 0xFFFFFFFF, 0x7FFFFFFF, 0x00000001, 0x80000001,
                         0x007FFFFF, 0x807FFFFF, 0x00800000, 0x7F7FFFFF, 0xFF7FFFFF,
                         0x3F800000, 0xBF800000], np.uint32)
    return np.concatenate([specials, uniform, weights])


def _check_pairs(book, codes, extras):
    codes = np.asarray(codes).astype(np.int64)
    extras = np.asarray(extras).astype(np.uint64)
    assert codes.min() >= 0 and codes.max() < book.n_codes
    widths = book.widths[codes].astype(np.uint64)
    assert not (extras >> widths).any(), "an extra value is wider than its code's width"


def test_registry():
    assert len({b.ident for b in CODEBOOKS.values()}) == len(CODEBOOKS)
    assert all(codebooks.get(name) is b and b.name == name for name, b in CODEBOOKS.items())
    with pytest.raises(CodeBookError, match="unknown code book 'nope'"):
        codebooks.get("nope")
    assert {b.name for b in codebooks.for_dtype("BF16")} == {"bf16-exp", "bf16-sexp"}
    assert {b.name for b in codebooks.for_dtype("F32")} == {"fp32-exp", "fp32-sexp"}
    assert [b.name for b in codebooks.for_dtype("I8")] == ["int8"]
    assert codebooks.for_dtype("BOOL") == [] and codebooks.for_dtype("I64") == []
    for dtype in ("BF16", "F16", "F32", "F8_E4M3", "F8_E5M2", "I8"):
        assert all(b.lossless for b in codebooks.for_dtype(dtype))


@pytest.mark.parametrize("book", SMALL, ids=lambda b: b.name)
def test_whole_domain_pairs_valid(book):
    """Every pattern of an 8/16-bit domain has a pair whose extra fits its code's width."""
    values = _domain(book)
    if book is USER:
        values = values[(values & 0x7FFF) <= 0x7F80]  # not NaN
    codes, extras = book.encode(values)
    _check_pairs(book, codes, extras)
    assert book.code_bits <= 9 and book.n_codes <= 1 << book.code_bits
    assert int(book.widths.max()) <= codebooks.MAX_EXTRA_WIDTH


@pytest.mark.parametrize("book", LOSSLESS_SMALL, ids=lambda b: b.name)
def test_whole_domain_round_trip(book):
    values = _domain(book)
    codes, extras = book.encode(values)
    back = book.decode(codes, extras)
    assert back.dtype == book.value_dtype
    np.testing.assert_array_equal(back, values)
    # injective: no two values share a pair
    key = codes.astype(np.uint64) << np.uint64(32) | extras.astype(np.uint64)
    assert len(np.unique(key)) == len(values)


@pytest.mark.parametrize("name", ["fp32-exp", "fp32-sexp"])
def test_fp32_sample_round_trip(name):
    book = codebooks.get(name)
    values = fp32_sample()
    codes, extras = book.encode(values)
    _check_pairs(book, codes, extras)
    np.testing.assert_array_equal(book.decode(codes, extras), values)


@pytest.mark.parametrize("book", [b for b in CODEBOOKS.values() if b.lossless],
                         ids=lambda b: b.name)
def test_whole_domain_through_tans(book):
    """The domain (fp32: a sample) through the full codec: choose table, chunks, decode."""
    values = fp32_sample(40_000) if book.value_bits == 32 else _domain(book)
    values = np.random.default_rng(book.ident).permutation(values)
    table, payload, _ = codec.compress_values(values, [book], max_table_log=10,
                                              chunk_pairs=4096, states=4)
    assert table.codebook is book
    np.testing.assert_array_equal(codec.decompress_values(table, payload, len(values)), values)


def test_out_of_domain_raises():
    for book in CODEBOOKS.values():
        with pytest.raises(CodeBookError):
            book.encode(np.array([0, 1 << book.value_bits], np.uint64))
        with pytest.raises(CodeBookError):
            book.encode(np.array([-1], np.int64))


# --- float code books: the code is the exponent (and sign) -------------------------------------

@pytest.mark.parametrize("name,dtype,bias", [
    ("bf16-exp", ml_dtypes.bfloat16, 127), ("fp16-exp", np.float16, 15),
    ("fp8e4m3-exp", ml_dtypes.float8_e4m3fn, 7), ("fp8e5m2-exp", ml_dtypes.float8_e5m2, 15)])
def test_float_code_is_binade(name, dtype, bias):
    """For normal numbers code - bias == floor(log2 |x|), computed by the float library."""
    book = codebooks.get(name)
    values = _domain(book)
    with np.errstate(invalid="ignore"):
        x = values.view(dtype).astype(np.float64)
    normal = np.isfinite(x) & (np.abs(x) >= float(ml_dtypes.finfo(dtype).smallest_normal))
    codes, extras = book.encode(values)
    np.testing.assert_array_equal(codes[normal].astype(np.int64) - bias,
                                  np.floor(np.log2(np.abs(x[normal]))).astype(np.int64))
    # the top extra bit is the sign
    sign = extras >> np.uint32(book.man_bits)
    np.testing.assert_array_equal(sign.astype(bool), np.signbit(x))
    sexp = codebooks.get(name.replace("-exp", "-sexp"))
    scodes, sextras = sexp.encode(values)
    np.testing.assert_array_equal(scodes, codes.astype(np.int64) | (sign.astype(np.int64)
                                                                   << book.exp_bits))
    np.testing.assert_array_equal(sextras, extras & np.uint32((1 << book.man_bits) - 1))


def test_int_code_is_magnitude_class():
    for name, bits in (("int8", 8), ("int4", 4)):
        book = codebooks.get(name)
        codes, extras = book.encode(_domain(book))
        for pattern in range(1 << bits):
            v = pattern - (1 << bits) if pattern >> (bits - 1) else pattern
            assert codes[pattern] == abs(v).bit_length()
            assert book.widths[codes[pattern]] == codes[pattern]
            if v:  # top extra bit: 1 for positive, 0 for negative
                assert (int(extras[pattern]) >> (int(codes[pattern]) - 1)) == (v > 0)


@pytest.mark.parametrize("name,n", [("posit8", 8), ("posit16", 16)])
def test_posit_codes_follow_scale(name, n):
    book = codebooks.get(name)
    values = _domain(book)
    codes, _ = book.encode(values)
    assert codes[0] == 0 and codes[1 << (n - 1)] == 1
    positive = codes[1:1 << (n - 1)].astype(np.int64)  # increasing magnitude
    assert (np.diff(positive) >= 0).all() and positive.min() >= 2
    assert book.widths[0] == book.widths[1] == 0
    neg = (-values.astype(np.int64)) & ((1 << n) - 1)   # two's complement negation
    np.testing.assert_array_equal(codes, codes[neg])
    assert book.n_codes == len(np.unique(codes))


# --- the lossy user-defined code book ----------------------------------------------------------

def _held_magnitudes(book):
    held = [0]
    for e, m in book.binades:
        held += [((e + 127) << 7) | (f << (7 - m)) for f in range(1 << m)]
    return np.array(held, np.uint16)


def _nearest_brute_force(book, patterns):
    """Nearest held value by exhaustive distance (ties: the even position), inf saturating."""
    held = _held_magnitudes(book)
    hv = (held.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    out = []
    for p in patterns:
        x = float((np.uint32(p & 0x7FFF) << np.uint32(16)).view(np.float32))
        if x >= hv[-1]:
            k = len(hv) - 1
        else:
            d = np.abs(hv - x)
            ks = np.flatnonzero(d == d.min())
            assert len(ks) <= 2
            k = ks[0] if len(ks) == 1 else [k for k in ks if k % 2 == 0][0]
        out.append(int(held[k]) | (int(p) & 0x8000))
    return np.array(out, np.uint16)


def test_user_codebook_is_lossy():
    assert USER.lossless is False
    assert USER not in codebooks.for_dtype("BF16")
    assert USER.n_codes == len(USER.binades) + 1


def test_user_codebook_held_values_survive():
    held = _held_magnitudes(USER)
    values = np.concatenate([held, held | np.uint16(0x8000)])
    np.testing.assert_array_equal(USER.decode(*USER.encode(values)), values)


def test_user_codebook_nan_raises():
    for nan in (0x7FC0, 0xFFC0, 0x7F81, 0xFFFF):
        with pytest.raises(CodeBookError, match="no code"):
            USER.encode(np.array([0x3F80, nan], np.uint16))


def test_user_codebook_rounds_to_nearest():
    rng = np.random.default_rng(3)
    sample = rng.choice(ALL_BF16, 3000, replace=False)
    sample = sample[(sample & 0x7FFF) <= 0x7F80]  # not NaN
    # values exactly between two held values (ties) and near the range ends
    held = _held_magnitudes(USER)
    hv = (held.astype(np.uint32) << 16).view(np.float32)
    mids = ((hv[1:].astype(np.float64) + hv[:-1]) / 2).astype(np.float32)
    ties = (mids.view(np.uint32) >> 16).astype(np.uint16)[
        ((mids.view(np.uint32) & 0xFFFF) == 0)]
    assert len(ties) > 50
    extra = np.array([0x0001, 0x8001, 0x0080, 0x4100, 0x4200, 0x7F7F, 0xFF7F], np.uint16)
    sample = np.concatenate([sample, ties, ties | np.uint16(0x8000), extra])
    got = USER.decode(*USER.encode(sample))
    np.testing.assert_array_equal(got, _nearest_brute_force(USER, sample))


def test_user_codebook_inf_saturates():
    top = int(_held_magnitudes(USER)[-1])
    got = USER.decode(*USER.encode(np.array([0x7F80, 0xFF80, 0x7F7F], np.uint16)))
    np.testing.assert_array_equal(got, [top, top | 0x8000, top])
    e, m = USER.binades[-1]
    assert float(np.uint32(top << 16).view(np.float32)) == 2.0 ** (e + 1) - 2.0 ** (e - m)


def test_user_codebook_through_tans():
    rng = np.random.default_rng(5)
    values = (rng.standard_normal(20_000) * 0.3).astype(ml_dtypes.bfloat16).view(np.uint16)
    table, payload, _ = codec.compress_values(values, [USER], max_table_log=11,
                                              chunk_pairs=3000, states=2)
    got = codec.decompress_values(table, payload, len(values))
    np.testing.assert_array_equal(got, USER.decode(*USER.encode(values)))
    assert (got != values).any()  # it is lossy


@pytest.mark.parametrize("binades", [[], [(0, 3), (0, 2)], [(1, 2), (0, 2)], [(-127, 1)],
                                     [(128, 1)], [(0, 8)], [(0, -1)]])
def test_user_codebook_rejects_bad_binades(binades):
    with pytest.raises(CodeBookError):
        UserCodeBook("bad", 99, binades)


def test_user_codebook_small():
    """A hand-checkable book: {0, 1, 1.5, 4, 5, 6, 7}."""
    book = UserCodeBook("tiny", 98, [(0, 1), (2, 2)])
    f = lambda xs: np.array(xs, np.float32).astype(ml_dtypes.bfloat16).view(np.uint16)
    x = f([0.2, 0.6, 1.2, 1.3, 2.6, 2.8, 4.4, 5.5, 2.75, 100.0, -1.26, -0.0, np.inf])
    want = f([0.0, 1.0, 1.0, 1.5, 1.5, 4.0, 4.0, 5.0, 1.5, 7.0, -1.5, -0.0, 7.0])
    # held in order: 0, 1, 1.5, 4, 5, 6, 7 at positions 0 .. 6; ties go to the even position:
    # 5.5 (between positions 4 and 5) -> 5, 2.75 (between 2 and 3) -> 1.5
    np.testing.assert_array_equal(book.decode(*book.encode(x)), want)
