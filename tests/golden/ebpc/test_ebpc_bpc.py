"""Bit-plane compression of 32-bit words (Kim et al.) and of bytes (the EBPC paper's BPC):
bit-exact with stream-ebpc's Python BPC, 16-bit packing, round trips."""

from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from golden.ebpc import bpc
from golden.ebpc.errors import EbpcError

VECTORS = np.load(Path(__file__).resolve().parents[2] / "data" / "ebpc" / "bpc_vectors.npz")


def _cases(values, offsets, streams, stream_offsets):
    v, o, s, p = (VECTORS[k] for k in (values, offsets, streams, stream_offsets))
    return [(v[o[i]:o[i + 1]], s[p[i]:p[i + 1]]) for i in range(len(o) - 1)]


def test_words_equal_the_reference():
    cases = _cases("words", "word_offsets", "words_bpc", "words_bpc_offsets")
    assert len(cases) == 40
    for words, stream in cases:
        np.testing.assert_array_equal(bpc.encode(words), stream)
        np.testing.assert_array_equal(bpc.decode(stream, len(words)), words)


def test_bytes_equal_the_reference():
    cases = _cases("bytes", "byte_offsets", "bytes_bpc", "bytes_bpc_offsets")
    assert len(cases) == 60
    for values, stream in cases:
        np.testing.assert_array_equal(bpc.encode_bytes(values), stream)


def test_sixteen_bit_values_pack_two_to_a_word_little_endian():
    x = np.array([0x1111, 0x2222, 0x3333], np.uint16)
    np.testing.assert_array_equal(bpc.words32(x), np.array([0x22221111, 0x3333], np.uint32))
    f = np.array([1.5, -2.0], np.float32)
    np.testing.assert_array_equal(bpc.words32(f), f.view(np.uint32))
    with pytest.raises(EbpcError, match="16- or 32-bit"):
        bpc.words32(np.zeros(3, np.int8))


@pytest.mark.parametrize("dtype", [np.float32, np.float16, ml_dtypes.bfloat16])
def test_round_trip_floats(dtype):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(1001) * 0.05).astype(dtype)
    x[::7] = 0
    words = bpc.words32(x)
    stream = bpc.encode(x)
    np.testing.assert_array_equal(bpc.decode(stream, len(words)), words)
    assert bpc.ratio(np.zeros(4096, dtype)) > 25        # a block of zeros: 39 bits
    assert 0.9 < bpc.ratio(x) < 1.5


def test_cut_stream_raises():
    x = np.arange(64, dtype=np.uint32) * 12345
    stream = bpc.encode(x)
    with pytest.raises(EbpcError, match="TRUNCATED"):
        bpc.decode(stream[:len(stream) // 2], 64)
