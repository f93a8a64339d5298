"""Tensor codec: exhaustive bf16 round trips, properties over random tensors, bad payloads."""

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden.ans import codec, tans
from golden.ans.codec import PayloadError, Table
from golden.format import codebooks
from golden.format.layouts import ChunkHeader, DecodeEntry, TableConfig, unpack, unpack_int

from ansnum_helpers import ALL_BF16, chunk_header_words

BF16_BOOKS = ["bf16-exp", "bf16-sexp"]


def _chunks(payload, table_log):
    return list(codec.walk_chunks(payload, table_log))


def _headers(payload):
    """Header fields of every chunk, walking body_words."""
    out, pos = [], 0
    while pos < len(payload):
        h = unpack_int(ChunkHeader, sum(int(payload[pos + k]) << (32 * k) for k in range(3)))
        out.append(h)
        pos += 3 + h["body_words"]
    assert pos == len(payload)
    return out


def _table_at(book, codes, table_log, alphabet=None, escape_extra=0):
    """A table at exactly ``table_log``: every present code its own symbol, or ``alphabet``
    plus an escape symbol ``escape_extra`` bits wider than needed."""
    hist = np.bincount(codes, minlength=book.n_codes)
    present = np.flatnonzero(hist)
    if alphabet is None:
        counts = tans.normalize_counts(hist[present], table_log)
        return Table(book, table_log, tuple(map(int, present)), tuple(map(int, counts)))
    alphabet = sorted(int(a) for a in alphabet)
    rest = np.setdiff1d(present, alphabet)
    assert len(rest), "nothing would be escaped"
    sym_hist = np.append(hist[alphabet], hist[rest].sum())
    counts = tans.normalize_counts(np.maximum(sym_hist, 1), table_log)
    width = book.code_bits + int(book.widths[rest].max()) + escape_extra
    return Table(book, table_log, tuple(alphabet), tuple(map(int, counts)), width)


# --- 1. every bf16 bit pattern -----------------------------------------------------------------

@pytest.mark.parametrize("states", [1, 2, 4])
@pytest.mark.parametrize("table_log", [8, 12])
@pytest.mark.parametrize("name", BF16_BOOKS)
def test_all_bf16_patterns_compress_values(name, table_log, states):
    book = codebooks.get(name)
    for values in (ALL_BF16, np.random.default_rng(table_log * states).permutation(ALL_BF16)):
        table, payload, _ = codec.compress_values(values, [book], max_table_log=table_log,
                                                  chunk_pairs=1000, states=states)
        assert table.codebook is book and 8 <= table.table_log <= table_log
        heads = _headers(payload)
        assert len(heads) == 66
        assert [h["last"] for h in heads] == [0] * 65 + [1]
        assert {h["states_log2"] for h in heads} == {states.bit_length() - 1}
        assert [h["pairs_minus_1"] + 1 for h in heads] == [1000] * 65 + [536]
        back = codec.decompress_values(table, payload, len(values))
        assert back.dtype == np.uint16
        np.testing.assert_array_equal(back, values)


@pytest.mark.parametrize("states", [1, 2, 4])
@pytest.mark.parametrize("table_log", [8, 12])
@pytest.mark.parametrize("name", BF16_BOOKS)
def test_all_bf16_patterns_fixed_tables(name, table_log, states):
    """The same at exactly this table log: the chosen table, every code its own symbol (where
    they fit), and a small alphabet with everything else escaped."""
    book = codebooks.get(name)
    values = np.random.default_rng(states).permutation(ALL_BF16)
    codes, extras = book.encode(values)
    codes = codes.astype(np.int64)
    tables = [codec.choose_table(book, codes, table_log, table_log)[0],
              _table_at(book, codes, table_log, alphabet=[0, 127, 255])]
    if book.n_codes <= 1 << table_log:
        tables.append(_table_at(book, codes, table_log))
    for table in tables:
        assert table.table_log == table_log
        payload = codec.encode_payload(table, codes, extras, chunk_pairs=1000, states=states)
        assert len(_headers(payload)) == 66
        got = codec.decompress_values(table, payload, len(values))
        np.testing.assert_array_equal(got, values)


def test_escape_table_really_escapes():
    book = codebooks.get("bf16-exp")
    codes = book.encode(ALL_BF16)[0].astype(np.int64)
    table = _table_at(book, codes, 8, alphabet=[0, 127, 255])
    assert table.escape and table.escape_width == 8 + 8
    symbols = table.code_to_symbol()[codes]
    assert (symbols == 3).sum() == 65536 - 3 * 256


# --- 2. Table ----------------------------------------------------------------------------------

def test_table_validation():
    book = codebooks.get("int8")
    Table(book, 8, (0, 1), (128, 128))
    Table(book, 8, (0,), (128, 128), 4 + 8)
    bad = [((0, 1), (128, 127), None), ((0, 1), (256,), None), ((0, 0), (128, 128), None),
           ((0, 9), (128, 128), None), ((0,), (128, 128), 3), ((0,), (128, 128), 64),
           ((0, 1), (0, 256), None)]
    for codes, counts, esc in bad:
        with pytest.raises(PayloadError):
            Table(book, 8, codes, counts, esc)
    with pytest.raises(PayloadError, match="table log"):
        Table(book, 13, (0, 1), (4096, 4096))


def test_table_json_round_trip():
    book = codebooks.get("bf16-sexp")
    t = Table(book, 9, (3, 100, 300), (100, 200, 200, 12), 9 + 7)
    assert Table.from_json(t.to_json()) == t
    for bad in ({}, dict(t.to_json(), codebook="nope"), dict(t.to_json(), counts="x"),
                dict(t.to_json(), table_log="twelve")):
        with pytest.raises(PayloadError):
            Table.from_json(bad)


@pytest.mark.parametrize("escape", [False, True])
def test_table_image(escape):
    book = codebooks.get("bf16-exp")
    if escape:
        t = Table(book, 10, (120, 121, 122), (300, 400, 300, 24), 8 + 8)
    else:
        t = Table(book, 10, (120, 121, 122), (300, 400, 324))
    image = t.image()
    assert image.dtype == np.uint32 and len(image) == 1 + 1024
    cfg = unpack_int(TableConfig, int(image[0]))
    assert cfg == {"table_log": 10, "code_bits": 8, "codebook": book.ident, "reserved": 0}
    e = unpack(DecodeEntry, image[1:])
    symbols, nbits, base = t.decoder_arrays()
    np.testing.assert_array_equal(e["base"], base)
    np.testing.assert_array_equal(e["nbits"], nbits)
    np.testing.assert_array_equal(e["escape"], symbols == 3)
    np.testing.assert_array_equal(e["code"], np.where(symbols == 3, 0, 120 + symbols))
    np.testing.assert_array_equal(e["total"], nbits + np.where(symbols == 3, 16, 8))
    assert (np.bincount(symbols) == t.counts).all()


# --- 3. properties over random tensors ---------------------------------------------------------

FLOAT_DTYPES = {"bf16": ml_dtypes.bfloat16, "fp16": np.float16, "fp32": np.float32,
                "fp8e4m3": ml_dtypes.float8_e4m3fn, "fp8e5m2": ml_dtypes.float8_e5m2}
PROPERTY_BOOKS = [b for b in codebooks.CODEBOOKS.values() if b.lossless]
DISTRIBUTIONS = ["normal", "constant", "heavy", "uniform_bits", "sparse", "specials", "narrow"]


def make_values(book, dist, n, rng):
    """``n`` bit patterns of ``book``'s domain drawn from a distribution."""
    bits = book.value_bits
    if dist == "uniform_bits":
        return rng.integers(0, 1 << bits, n, dtype=np.uint64).astype(book.value_dtype)
    scale = 10.0 ** rng.uniform(-5, 2)
    if dist == "normal":
        x = rng.standard_normal(n) * scale
    elif dist == "constant":
        x = np.full(n, rng.standard_normal() * scale)
    elif dist == "heavy":
        x = rng.standard_t(1.2, n) * scale
    elif dist == "sparse":
        x = rng.standard_normal(n) * scale * (rng.random(n) < 0.05)
    elif dist == "narrow":  # few distinct values
        x = rng.choice(rng.standard_normal(3) * scale, n)
    else:  # specials mixed in
        x = rng.standard_normal(n) * scale
        specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-42, 6e-8, -1e-39, 3e38])
        mask = rng.random(n) < 0.3
        x[mask] = rng.choice(specials, int(mask.sum()))
    family = book.name.split("-")[0]
    if family in FLOAT_DTYPES:
        with np.errstate(over="ignore", invalid="ignore"):
            return x.astype(FLOAT_DTYPES[family]).view(book.value_dtype).copy()
    # integer and posit books: scaled integers in two's complement
    x = np.nan_to_num(x / scale * (1 << max(1, bits - 4)), nan=0, posinf=0, neginf=0)
    v = np.clip(np.round(x), -(1 << (bits - 1)), (1 << (bits - 1)) - 1).astype(np.int64)
    return (v & ((1 << bits) - 1)).astype(book.value_dtype)


sizes = st.one_of(st.sampled_from([1, 2, 3, 5]), st.integers(1, 4000))
more_examples = settings(max_examples=max(80, settings().max_examples))


@more_examples
@given(seed=st.integers(0, 2**32 - 1), book=st.sampled_from(PROPERTY_BOOKS),
       dist=st.sampled_from(DISTRIBUTIONS), n=sizes, table_log=st.integers(8, 12),
       chunk_pairs=st.one_of(st.sampled_from([1, 2, 64, 1000]), st.integers(1, 5000)),
       states=st.sampled_from([1, 2, 4]))
def test_round_trip_property(seed, book, dist, n, table_log, chunk_pairs, states):
    rng = np.random.default_rng(seed)
    values = make_values(book, dist, n, rng)
    chunk_pairs = max(chunk_pairs, -(-n // 300))  # at most 300 chunks
    table, payload, info = codec.compress_values(values, [book], max_table_log=table_log,
                                                 chunk_pairs=chunk_pairs, states=states)
    assert payload.dtype == np.uint32
    np.testing.assert_array_equal(codec.decompress_values(table, payload, n), values)
    # the table survives its JSON description (as the container stores it)
    again = Table.from_json(table.to_json())
    np.testing.assert_array_equal(codec.decompress_values(again, payload, n), values)
    # deterministic
    table2, payload2, info2 = codec.compress_values(values.copy(), [book],
                                                    max_table_log=table_log,
                                                    chunk_pairs=chunk_pairs, states=states)
    assert table2 == table and info2 == info
    np.testing.assert_array_equal(payload2, payload)
    # chunk structure
    heads = _headers(payload)
    n_chunks = -(-n // chunk_pairs)
    assert len(heads) == n_chunks
    assert [h["pairs_minus_1"] + 1 for h in heads] == \
        [chunk_pairs] * (n_chunks - 1) + [n - chunk_pairs * (n_chunks - 1)]
    assert [h["last"] for h in heads] == [0] * (n_chunks - 1) + [1]
    assert all(h["table_log_minus_8"] + 8 == table.table_log for h in heads)
    assert all(1 << h["states_log2"] == states for h in heads)
    assert info["estimate_bits"] >= info["bound_bits"] - 1e-6


@more_examples
@given(seed=st.integers(0, 2**32 - 1), book=st.sampled_from(PROPERTY_BOOKS),
       dist=st.sampled_from(["normal", "heavy", "uniform_bits", "specials"]),
       n=st.integers(20, 3000), table_log=st.integers(8, 12), k=st.integers(0, 6),
       escape_extra=st.one_of(st.just(0), st.integers(0, 40)),
       chunk_pairs=st.integers(1, 3000), states=st.sampled_from([1, 2, 4]))
def test_escape_property(seed, book, dist, n, table_log, k, escape_extra, chunk_pairs, states):
    """A small alphabet plus an escape symbol (at any legal escape width) codes exactly."""
    rng = np.random.default_rng(seed)
    values = make_values(book, dist, n, rng)
    codes, extras = book.encode(values)
    codes = codes.astype(np.int64)
    present = np.flatnonzero(np.bincount(codes, minlength=book.n_codes))
    if len(present) < 2:
        k = 0
    alphabet = rng.choice(present, min(k, len(present) - 1), replace=False)
    width = book.code_bits + int(book.widths.max())
    escape_extra = min(escape_extra, 63 - width)
    table = _table_at(book, codes, table_log, alphabet=alphabet, escape_extra=escape_extra)
    assert table.escape_width <= 63
    chunk_pairs = max(chunk_pairs, -(-n // 300))
    payload = codec.encode_payload(table, codes, extras, chunk_pairs=chunk_pairs, states=states)
    escaped = ~np.isin(codes, alphabet)
    assert escaped.any()
    got_codes, got_extras = codec.decode_payload(table, payload, n)
    np.testing.assert_array_equal(got_codes, codes)
    np.testing.assert_array_equal(got_extras, extras)
    np.testing.assert_array_equal(codec.decompress_values(table, payload, n), values)


def test_compression_near_bound():
    """A 100k-element weight-like tensor codes within 0.1 % of its entropy bound."""
    rng = np.random.default_rng(0)
    values = (rng.standard_normal(100_000) * 0.05).astype(ml_dtypes.bfloat16).view(np.uint16)
    for states in (1, 2, 4):
        table, payload, info = codec.compress_values(values, codebooks.for_dtype("BF16"),
                                                     states=states, max_table_log=12)
        bits = 32 * len(payload)
        assert info["bound_bits"] <= bits <= 1.001 * info["bound_bits"]
        assert abs(info["estimate_bits"] - bits) <= 0.001 * bits
        assert table.table_log == 12  # a big tensor takes the largest table log allowed
        assert bits < 0.8 * 16 * len(values)  # bf16 weights: exponent entropy well under 8


def test_candidate_choice():
    """With every sign positive the sign-in-code book wins (it codes the sign for free)."""
    rng = np.random.default_rng(1)
    x = np.abs(rng.standard_normal(20_000)).astype(ml_dtypes.bfloat16).view(np.uint16)
    table, _, _ = codec.compress_values(x, codebooks.for_dtype("BF16"))
    assert table.codebook.name == "bf16-sexp"
    y = rng.standard_normal(20_000).astype(ml_dtypes.bfloat16).view(np.uint16)
    table, _, _ = codec.compress_values(y, codebooks.for_dtype("BF16"))
    assert table.codebook.name == "bf16-exp"


# --- 4. bad arguments --------------------------------------------------------------------------

def test_encode_payload_rejects():
    book = codebooks.get("bf16-exp")
    codes, extras = book.encode(np.array([0x3F80, 0x4000, 0x3F81], np.uint16))
    codes = codes.astype(np.int64)
    table = codec.choose_table(book, codes)[0]
    for kwargs in ({"chunk_pairs": 0}, {"chunk_pairs": codec.MAX_CHUNK_PAIRS + 1},
                   {"states": 3}, {"states": 8}):
        with pytest.raises(PayloadError):
            codec.encode_payload(table, codes, extras, **kwargs)
    with pytest.raises(PayloadError, match="empty"):
        codec.encode_payload(table, codes[:0], extras[:0])
    no_escape = Table(book, 8, (127,), (256,))
    with pytest.raises(PayloadError, match="no symbol"):
        codec.encode_payload(no_escape, codes, extras)
    wide = extras.copy()
    wide[1] |= np.uint32(1 << 8)  # bf16-exp extras are 8 bits
    with pytest.raises(PayloadError, match="wider"):
        codec.encode_payload(table, codes, wide)


# --- 5. malformed payloads ---------------------------------------------------------------------

def test_payload_fixture_sane(bf16_payload):
    table, payload, values = bf16_payload
    assert len(_headers(payload)) == 3
    np.testing.assert_array_equal(codec.decompress_values(table, payload, 300), values)


def test_every_flipped_bit_is_detected(bf16_payload):
    table, payload, values = bf16_payload
    assert len(payload) * 32 > 2000
    for bit in range(32 * len(payload)):
        bad = payload.copy()
        bad[bit >> 5] ^= np.uint32(1 << (bit & 31))
        with pytest.raises(PayloadError):
            codec.decode_payload(table, bad, 300)


def test_truncated_payload(bf16_payload):
    table, payload, _ = bf16_payload
    for n in range(len(payload)):
        with pytest.raises(PayloadError, match="truncated"):
            codec.decode_payload(table, payload[:n], 300)


def test_trailing_words(bf16_payload):
    table, payload, _ = bf16_payload
    first_chunk = payload[:3 + _headers(payload)[0]["body_words"]]
    for extra in ([0], [0xDEADBEEF], [0, 0, 0], first_chunk):
        bad = np.concatenate([payload, np.asarray(extra, np.uint32)])
        with pytest.raises(PayloadError, match="after the last chunk"):
            codec.decode_payload(table, bad, 300)


def test_wrong_table_log(bf16_payload):
    table, payload, _ = bf16_payload
    log = table.table_log + 1
    other = Table(table.codebook, log, table.codes, tuple(2 * c for c in table.counts),
                  table.escape_width)
    with pytest.raises(PayloadError, match="table log"):
        codec.decode_payload(other, payload, 300)


def test_wrong_pair_count(bf16_payload):
    table, payload, _ = bf16_payload
    for n in (1, 200, 299, 301, 1000):
        with pytest.raises(PayloadError, match="pairs"):
            codec.decode_payload(table, payload, n)


def _rechunk(payload, edit):
    """Rebuild a payload chunk by chunk with ``edit(index, header, body) -> (pairs, states,
    last, body)``, giving every chunk a correct CRC (so the decoder's own checks are reached)."""
    out, pos, index = [], 0, 0
    while pos < len(payload):
        h = unpack_int(ChunkHeader, sum(int(payload[pos + k]) << (32 * k) for k in range(3)))
        body = payload[pos + 3:pos + 3 + h["body_words"]]
        pairs, states, last, body = edit(index, h, body)
        out += [chunk_header_words(pairs, h["table_log_minus_8"] + 8, states, last, body),
                np.asarray(body, np.uint32)]
        pos += 3 + h["body_words"]
        index += 1
    return np.concatenate(out)


def test_decoder_checks_behind_the_crc(bf16_payload):
    table, payload, _ = bf16_payload
    same = _rechunk(payload, lambda i, h, b: (h["pairs_minus_1"] + 1, 1 << h["states_log2"],
                                              h["last"], b))
    np.testing.assert_array_equal(same, payload)
    cases = {
        "padding": lambda i, h, b: (h["pairs_minus_1"] + 1, 2, h["last"],
                                    np.append(b, 0) if i == 1 else b),
        "more bits": lambda i, h, b: (h["pairs_minus_1"] + 1, 2, h["last"],
                                      b[:-1] if i == 2 else b),
        "states": lambda i, h, b: (h["pairs_minus_1"] + 1, 8 if i == 0 else 2, h["last"], b),
        "last": lambda i, h, b: (h["pairs_minus_1"] + 1, 2, int(i == 0), b),
        "pairs": lambda i, h, b: (h["pairs_minus_1"] + (2 if i == 2 else 1), 2, h["last"], b),
    }
    for what, edit in cases.items():
        with pytest.raises(PayloadError):
            codec.decode_payload(table, _rechunk(payload, edit), 300)
    # one state instead of two: the final state or padding check fails
    with pytest.raises(PayloadError, match="state|padding|more bits"):
        codec.decode_payload(table, _rechunk(
            payload, lambda i, h, b: (h["pairs_minus_1"] + 1, 1, h["last"], b)), 300)


def test_escaped_code_outside_codebook():
    """An escape that carries a code the code book does not have is a PayloadError."""
    book = codebooks.get("int8")  # 9 codes, 4 code bits: codes 9 .. 15 do not exist
    table = Table(book, 8, (0,), (128, 128), 4 + 8)
    for raw in ([15, 0, 9], [0x3F, 0, 0]):   # codes 15 and 9; code 15 with extra 3
        symbols = np.array([1, 0, 1 if raw[2] else 0], np.int64)
        start, nxt = table.encoder_arrays()
        out = np.zeros(16, np.uint32)
        w = tans.encode_chunk(symbols, np.array(raw, np.uint64), table.symbol_widths(),
                              np.array(table.counts, np.int64), start, nxt, 8, 1, out)
        payload = np.concatenate([chunk_header_words(3, 8, 1, True, out[:w]), out[:w]])
        with pytest.raises(PayloadError, match="outside the code book"):
            codec.decode_payload(table, payload, 3)
    # code 3 (extra width 3) escaped with a 4-bit extra
    out = np.zeros(16, np.uint32)
    w = tans.encode_chunk(np.array([1], np.int64), np.array([3 | (0xF << 4)], np.uint64),
                          table.symbol_widths(), np.array(table.counts, np.int64),
                          *table.encoder_arrays(), 8, 1, out)
    payload = np.concatenate([chunk_header_words(1, 8, 1, True, out[:w]), out[:w]])
    with pytest.raises(PayloadError, match="beyond its code's width"):
        codec.decode_payload(table, payload, 1)
