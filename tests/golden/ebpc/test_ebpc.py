"""EBPC golden model: bit-exact with stream-ebpc's vectors, numba kernels against the bit-string
reference, every error class, the worked example of docs/ebpc.md."""

import numpy as np
import pytest

from ebpc_vectors import load
from golden import ebpc
from golden.ebpc import reference
from golden.ebpc.errors import EbpcError, Error

VECTORS = load()


def test_vectors_cover_the_worst_cases():
    names = [name for name, *_ in VECTORS]
    for part in ("all-zeros", "no-zeros", "run-16-", "run-17-", "single-one", "two-ones",
                 "all-ones", "dbp-zero", "relu-like"):
        assert any(part in n for n in names), part
    lengths = {len(v) for _, v, _, _ in VECTORS}
    assert any(n % 8 for n in lengths) and any(n % 8 == 0 for n in lengths)


@pytest.mark.parametrize("case", VECTORS, ids=[c[0] for c in VECTORS])
def test_stream_ebpc_vectors(case):
    """Words of stream-ebpc's encoder RTL (and its Python model), both ways."""
    name, values, bpc, znz = case
    got_bpc, got_znz = ebpc.encode(values)
    assert got_bpc.dtype == np.uint8 and got_znz.dtype == np.uint8
    np.testing.assert_array_equal(got_znz, znz)
    np.testing.assert_array_equal(got_bpc, bpc)
    np.testing.assert_array_equal(ebpc.decode(bpc, znz, len(values)), values)
    assert ebpc.sizes(values) == (len(bpc), len(znz))


def _random_map(rng, n):
    v = rng.integers(-128, 128, n).astype(np.int8)
    v[rng.random(n) < rng.random()] = 0
    if rng.random() < 0.3:   # long zero runs and constant stretches
        start = int(rng.integers(0, max(n, 1)))
        v[start:start + int(rng.integers(0, 60))] = 0 if rng.random() < 0.5 else 7
    return v


def test_kernels_match_the_reference():
    rng = np.random.default_rng(11)
    for _ in range(400):
        v = _random_map(rng, int(rng.integers(0, 200)))
        bpc, znz = ebpc.encode(v)
        ref_bpc, ref_znz = reference.encode(v)
        assert bytes(bpc) == ref_bpc and bytes(znz) == ref_znz
        np.testing.assert_array_equal(ebpc.decode(bpc, znz, len(v)), v)
        assert reference.decode(ref_bpc, ref_znz, len(v)) == v.tolist()


def test_empty_map_and_bytes_input():
    bpc, znz = ebpc.encode(np.zeros(0, np.int8))
    assert len(bpc) == len(znz) == 0
    assert len(ebpc.decode(b"", b"", 0)) == 0
    v = np.array([0, 0, 3], np.int8)
    bpc, znz = ebpc.encode(v)
    np.testing.assert_array_equal(ebpc.decode(bytes(bpc), bytes(znz), 3), v)


def test_uint8_map_viewed_as_int8():
    u = np.arange(256, dtype=np.uint8)
    bpc, znz = ebpc.encode(u.view(np.int8))
    np.testing.assert_array_equal(ebpc.decode(bpc, znz, 256).view(np.uint8), u)


@pytest.mark.parametrize("bad, message", [
    (np.zeros(4, np.uint8), "int8"), (np.zeros(4, np.int16), "int8"),
    (np.zeros((2, 2), np.int8), "1-D"), ([1, 2, 3], "numpy array")])
def test_encoder_rejects_bad_input(bad, message):
    with pytest.raises(EbpcError, match=message):
        ebpc.encode(bad)


def test_decoder_rejects_bad_arguments():
    with pytest.raises(EbpcError, match="np.uint8"):
        ebpc.decode(np.zeros(2, np.int8), np.zeros(1, np.uint8), 3)
    with pytest.raises(EbpcError, match="count"):
        ebpc.decode(np.zeros(0, np.uint8), np.zeros(1, np.uint8), -1)


def _both(bpc, znz, n):
    """The golden decoder's and the reference's verdicts: (code, stream) or the values."""
    out = []
    for decode in (lambda: ebpc.decode(np.frombuffer(bpc, np.uint8),
                                       np.frombuffer(znz, np.uint8), n).tolist(),
                   lambda: reference.decode(bpc, znz, n)):
        try:
            out.append(decode())
        except EbpcError as e:
            out.append((e.code, e.stream))
    assert out[0] == out[1]
    return out[0]


P = reference.pack_bits
GOOD = reference.block_bits([5, 0, 0, 0, 0, 0, 0, 0])     # 37 bits: one value, its padding


@pytest.mark.parametrize("bpc, znz, n, code, stream", [
    # znz: cut short, a byte too many, padding not zero, a zero run past n
    (b"", P("11"), 4, Error.TRUNCATED, "znz"),                   # 11 00000 0: 3 values
    (b"", P("11111110"), 9, Error.TRUNCATED, "znz"),             # inside a run's length
    (b"", P("00010") + b"\x00", 2, Error.TRAILING, "znz"),
    (b"", P("00001" "001"), 2, Error.PADDING, "znz"),
    (b"", P("00011"), 3, Error.TRAILING, "znz"),                 # a run of 4 for 3 values
    (b"", P("00010" "1"), 2, Error.TRAILING, "znz"),             # a non-zero value past n
    # bpc: cut short, too long, padding, symbols outside the plane, a run past plane 0
    (P(GOOD), P("1"), 1, None, None),
    (P(GOOD[:16]), P("1"), 1, Error.TRUNCATED, "bpc"),
    (P("00000101"), P("1"), 1, Error.TRUNCATED, "bpc"),
    (b"", P("1"), 1, Error.TRUNCATED, "bpc"),
    (P(GOOD) + b"\x00", P("1"), 1, Error.TRAILING, "bpc"),
    (P(GOOD + "1"), P("1"), 1, Error.PADDING, "bpc"),
    (P("00000101" "00011111"), P("1"), 1, Error.SYMBOL, "bpc"),   # single one at position 7
    (P("00000101" "00010110"), P("1"), 1, Error.SYMBOL, "bpc"),   # two ones at 6 and 7
    (P("00000101" "10000001" "001111"), P("1"), 1, Error.SYMBOL, "bpc"),  # 9 zero planes
    # values: a non-zero value that decodes to 0, padding that decodes to non-zero
    (P("00000000" "001111"), P("1"), 1, Error.VALUE, "bpc"),
    (P("00000101" "001111"), P("11"), 2, Error.VALUE, "bpc"),     # [5] * 8: padding of 5s
    # the znz stream is checked first
    (b"\xff", P("11111110"), 9, Error.TRUNCATED, "znz"),
])
def test_bad_streams(bpc, znz, n, code, stream):
    got = _both(bpc, znz, n)
    if code is None:
        assert isinstance(got, list) and len(got) == n
    else:
        assert got == (code, stream)


def test_one_value_and_its_padding():
    """[5, 0 x 7]: one non-zero value, seven zeros of padding, both decoders agree."""
    bits = reference.block_bits([5, 0, 0, 0, 0, 0, 0, 0])
    assert bits.startswith("00000101")
    assert _both(P(bits), P("1"), 1) == [5]


def test_random_corruption_golden_and_reference_agree():
    """Flipped bits and cut streams: the numba decoder and the reference give the same verdict
    (the same values, or the same error code on the same stream)."""
    rng = np.random.default_rng(5)
    codes = set()
    for _ in range(300):
        v = _random_map(rng, int(rng.integers(1, 120)))
        bpc, znz = (bytearray(s) for s in reference.encode(v))
        what = rng.integers(0, 4)
        s = bpc if (what % 2 and len(bpc)) else znz
        if what < 2:
            s[int(rng.integers(0, len(s)))] ^= 1 << int(rng.integers(0, 8))
        elif len(s) > 1:
            del s[int(rng.integers(0, len(s))):]
        n = len(v) + int(rng.choice([0, 0, 0, -1, 1]))
        got = _both(bytes(bpc), bytes(znz), max(n, 0))
        if isinstance(got, tuple):
            codes.add(got[0])
    assert {Error.TRUNCATED, Error.TRAILING, Error.SYMBOL, Error.VALUE} <= codes


def test_error_codes_are_the_hardware_status_codes():
    from hdl.common.ports import ErrorCode
    for e in Error:
        assert ErrorCode[e.name].value == e.value


def test_worked_example_of_the_docs():
    """docs/ebpc.md, "Worked example": every byte of both streams."""
    v = np.array([0, 0, 0, 12, 14, 14, 0, 13, 15, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                  0, 0, 0, 0, 0, 0, 0, 9], np.int8)
    bpc, znz = ebpc.encode(v)
    assert bytes(znz).hex(" ") == "17 07 78 a0"
    assert bytes(bpc).hex(" ") == "0c 97 ce ce 1e 1e 28"
    np.testing.assert_array_equal(ebpc.decode(bpc, znz, len(v)), v)
