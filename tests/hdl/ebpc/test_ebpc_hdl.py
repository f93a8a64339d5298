"""EbpcEncoder and EbpcDecoder in Amaranth's simulator: stream-ebpc's vectors and the worst
cases, random stalls on every port, bad streams (the golden decoder's error codes, then a good
tensor), cycles per value."""

import numpy as np
import pytest

from ebpc_sim import run_decoder, run_encoder
from ebpc_vectors import load
from golden import ebpc
from golden.ebpc import reference
from hdl.ebpc.decoder import EbpcDecoder
from hdl.ebpc.encoder import EbpcEncoder
from hdl.common.ports import ErrorCode

VECTORS = load()


def _worst_cases(rng):
    """All zeros, no zeros, runs of exactly 16 and 17, lengths not a multiple of 8."""
    dense = rng.integers(1, 128, 203) * rng.choice([-1, 1], 203)
    return [np.zeros(17, np.int8), np.zeros(8, np.int8), dense.astype(np.int8),
            np.array([3] + [0] * 16 + [4] + [0] * 17 + [5], np.int8),
            np.array([0] * 16 + [0] * 16, np.int8), np.array([9] + [0] * 16, np.int8),
            np.tile(np.array([-128, 127], np.int8), 11), np.array([1], np.int8)]


def _maps(count, seed, n_max=300):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        n = int(rng.integers(1, n_max))
        v = rng.integers(-128, 128, n).astype(np.int8)
        v[rng.random(n) < rng.random()] = 0
        out.append(v)
    return out


def _some_vectors(step):
    return [v for k, (_, v, _, _) in enumerate(VECTORS) if k % step == 0]


def _check_encoder(tensors, **stalls):
    got, cycles = run_encoder(EbpcEncoder(), tensors, **stalls)
    for t, (bpc, znz) in zip(tensors, got):
        want_bpc, want_znz = ebpc.encode(t)
        assert znz == want_znz.tolist(), t
        assert bpc == want_bpc.tolist(), t
    return cycles


@pytest.mark.parametrize("stall", [0.0, 0.3, 0.6])
def test_encoder_worst_cases_with_stalls(stall):
    tensors = _worst_cases(np.random.default_rng(1)) + _maps(6, 2)
    _check_encoder(tensors, seed=int(stall * 10), in_stall=stall, out_stall=stall)


@pytest.mark.slow     # (tb/test_ebpc.py runs all of them under Verilator in `make test`)
def test_encoder_stream_ebpc_vectors():
    """Every third vector of stream-ebpc's encoder, stalls on input and both outputs."""
    _check_encoder(_some_vectors(3), seed=4, in_stall=0.25, out_stall=0.4)


def test_encoder_takes_a_value_per_clock():
    """No stalls: a long sparse map and a dense one whose BPC needs under 8 bits a value go in
    at one value per clock (plus a few cycles to flush); incompressible values are held to
    the BPC port's 8 bits a clock."""
    rng = np.random.default_rng(3)
    sparse = rng.integers(1, 40, 4000).astype(np.int8)
    sparse[rng.random(4000) < 0.6] = 0
    smooth = (np.cumsum(rng.integers(-1, 2, 4000)) % 50 + 1).astype(np.int8)
    noise = rng.integers(-128, 128, 2000).astype(np.int8)
    noise[noise == 0] = 1
    for t in (sparse, smooth):
        cycles = _check_encoder([t])
        assert cycles <= len(t) + 60, (cycles, len(t))
    cycles = _check_encoder([noise])
    bpc_words = len(ebpc.encode(noise)[0])
    assert bpc_words > len(noise)                   # the BPC port is the bottleneck here
    assert cycles <= bpc_words + 60, (cycles, bpc_words)


def _jobs(tensors):
    return [(len(t), *(s.tolist() for s in ebpc.encode(t))) for t in tensors]


def _check_decoder(tensors, **stalls):
    results, cycles = run_decoder(EbpcDecoder(), _jobs(tensors), **stalls)
    for t, (values, code) in zip(tensors, results):
        assert code == ErrorCode.NONE, t
        assert values == t.view(np.uint8).tolist()
    return cycles


@pytest.mark.parametrize("stall", [0.0, 0.3, 0.6])
def test_decoder_worst_cases_with_stalls(stall):
    tensors = _worst_cases(np.random.default_rng(5)) + _maps(6, 6)
    _check_decoder(tensors, seed=int(stall * 10) + 1, in_stall=stall, out_stall=stall)


@pytest.mark.slow
def test_decoder_stream_ebpc_vectors():
    _check_decoder(_some_vectors(3)[1:], seed=8, in_stall=0.4, out_stall=0.25)


def test_decoder_gives_a_value_per_clock():
    rng = np.random.default_rng(4)
    sparse = rng.integers(1, 40, 4000).astype(np.int8)
    sparse[rng.random(4000) < 0.6] = 0
    smooth = (np.cumsum(rng.integers(-1, 2, 4000)) % 50 + 1).astype(np.int8)
    for t in (sparse, smooth):
        cycles = _check_decoder([t])
        assert cycles <= len(t) + 60, (cycles, len(t))


P = reference.pack_bits
GOOD = reference.block_bits([5, 0, 0, 0, 0, 0, 0, 0])

#: bad streams (bpc bytes, znz bytes, n) the RTL sees as the golden decoder does
BAD = [
    (P(GOOD), P("11"), 4), (P(GOOD), P("11111110"), 9), (b"", P("00010") + b"\x00", 2),
    (b"", P("00001" "001"), 2), (b"", P("00011"), 3), (b"", P("00010" "1"), 2),
    (P(GOOD[:16]), P("1"), 1), (P("00000101"), P("1"), 1), (P(GOOD) + b"\x00", P("1"), 1),
    (P(GOOD + "1"), P("1"), 1), (P("00000101" "00011111"), P("1"), 1),
    (P("00000101" "00010110"), P("1"), 1), (P("00000101" "10000001" "001111"), P("1"), 1),
    (P("00000000" "001111"), P("1"), 1), (P("00000101" "001111"), P("11"), 2),
    (b"\xff", P("11111110"), 9),
]


def _golden_code(bpc, znz, n):
    try:
        ebpc.decode(np.frombuffer(bpc, np.uint8), np.frombuffer(znz, np.uint8), n)
    except ebpc.EbpcError as e:
        return e.code
    return None


def _corrupted(rng, count):
    """Flipped bits and cut streams of random maps, each with its golden verdict; not the two
    cases a decoder of two unframed streams cannot see: BPC words where the ZNZ stream needs
    none (left for the next tensor), and no BPC word where it needs some (it waits for them)."""
    out = []
    while len(out) < count:
        v = rng.integers(-128, 128, int(rng.integers(1, 90))).astype(np.int8)
        v[rng.random(len(v)) < rng.random()] = 0
        bpc, znz = (bytearray(s) for s in reference.encode(v))
        s = bpc if (rng.random() < 0.5 and len(bpc)) else znz
        if rng.random() < 0.6:
            s[int(rng.integers(0, len(s)))] ^= 1 << int(rng.integers(0, 8))
        else:                                # (a stream of no words has no end to see)
            del s[int(rng.integers(1, len(s) + 1)):]
        n = max(len(v) + int(rng.choice([0, 0, 0, -1, 1])), 1)
        try:
            ebpc.decode(np.frombuffer(bytes(bpc), np.uint8), np.frombuffer(bytes(znz),
                                                                            np.uint8), n)
            continue                         # still decodes: not a bad stream
        except ebpc.EbpcError as e:
            flags = np.zeros(n, np.uint8)
            from golden.ebpc import kernels
            status, _, _, nonzero = kernels.zrle_decode(np.frombuffer(bytes(znz), np.uint8), n,
                                                        4, flags)
            if (nonzero == 0) == (len(bpc) > 0):
                continue
            out.append((bytes(bpc), bytes(znz), n, e.code))
    return out


@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_decoder_bad_streams_flag_the_golden_code_and_recover(stall):
    """Each bad tensor is followed by a good one: the bad one's code is the golden decoder's,
    exactly n values leave for it, and the good one decodes bit-exact."""
    rng = np.random.default_rng(21)
    good = np.array([0, 7, 7, 0, 0, 3, -2, 9, 9, 9, 0, 1], np.int8)
    good_job = _jobs([good])[0]
    cases = [(b, z, n, _golden_code(b, z, n)) for b, z, n in BAD] + _corrupted(rng, 14)
    jobs = []
    for bpc, znz, n, _ in cases:
        jobs += [(n, list(bpc), list(znz)), good_job]
    results, _ = run_decoder(EbpcDecoder(), jobs, seed=int(stall * 10) + 2, in_stall=stall,
                             out_stall=stall)
    seen = set()
    for (bpc, znz, n, code), (values, got), (good_values, good_code) in zip(
            cases, results[::2], results[1::2]):
        assert code is not None
        assert got == ErrorCode(code.value), (bpc.hex(), znz.hex(), n, code, got)
        assert len(values) == n
        assert good_code == ErrorCode.NONE and good_values == good.view(np.uint8).tolist()
        seen.add(got)
    assert {ErrorCode.TRUNCATED, ErrorCode.TRAILING, ErrorCode.PADDING, ErrorCode.SYMBOL,
            ErrorCode.VALUE} <= seen


def test_decoder_empty_tensor_and_count_zero():
    """n = 0 reads nothing; the tensors around it decode."""
    a, b = np.array([1, 0, 2], np.int8), np.zeros(5, np.int8)
    jobs = _jobs([a]) + [(0, [], [])] + _jobs([b])
    results, _ = run_decoder(EbpcDecoder(), jobs, in_stall=0.2, out_stall=0.2)
    assert [r[0] for r in results] == [[1, 0, 2], [], [0] * 5]
    assert all(r[1] == ErrorCode.NONE for r in results)
