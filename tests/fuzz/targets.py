"""Fuzz targets: bytes in, and either the documented error or a correct result out.

Each target takes one input (``bytes``) and returns normally when the code under test raised its
documented error (:class:`AnsnError`, :class:`EbpcError`) or succeeded; anything else it raises
(IndexError, OverflowError, MemoryError, RecursionError, ...) is a crash for the fuzzer.

- ``container``: the input is an ``.ansn`` file (``decompress_bytes``).
- ``index``: the input is an index's JSON text, then a NUL byte, then a data area; the target
  deflates the text and writes a correct CRC, so that every input reaches the index checks (a
  mutated container almost never gets past its CRC).
- ``payload``: byte 0 picks one of a few tables, bytes 1-2 the pair count, byte 3 the index's
  chunk size and state count; the rest is payload words whose chunk CRCs the target corrects,
  so that the tANS decoder itself sees the mutations (``restore_segment``).
- ``ebpc``: bytes 0-1 the value count, bytes 2-3 where the BPC stream ends; then the BPC and
  ZNZ streams (``golden.ebpc.decode``). Present once golden.ebpc is there (``HAVE_EBPC``).
"""

import struct
import zlib

import numpy as np

from golden.ans import codec
from golden.format import codebooks, container
from golden.format.container import AnsnError
from golden.format.layouts import CHUNK_HEADER_WORDS, CHUNK_MAGIC

try:
    from golden import ebpc
    HAVE_EBPC = True
except ImportError:  # (golden.ebpc lands from its own branch)
    ebpc = None
    HAVE_EBPC = False

__all__ = ["TARGETS", "HAVE_EBPC", "index_container", "payload_tables"]


def target_container(data):
    try:
        out = container.decompress_bytes(data)
    except AnsnError as e:
        assert str(e) and "\n" not in str(e), repr(e)
        return
    assert sum(map(len, out)) > 0


def index_container(text, area):
    """A container of index ``text`` and data ``area`` with a correct index CRC."""
    blob = zlib.compress(text, 1)
    head = b"ANSN" + struct.pack("<HHII", 1, 0, len(blob), zlib.crc32(blob))
    return head + blob + b"\0" * (-(len(head) + len(blob)) % 4) + area


def target_index(data):
    text, _, area = data.partition(b"\0")
    target_container(index_container(text, area))


def _table(book, hist, table_log, keep=None):
    """A table for the histogram ``hist`` (code -> count), with an escape past ``keep``."""
    codes = sorted(hist)
    if keep is None:
        counts = codec.tans.normalize_counts([hist[c] for c in codes], table_log)
        return codec.Table(book, table_log, tuple(codes), tuple(map(int, counts)))
    kept = codes[:keep]
    rest = sum(hist[c] for c in codes[keep:])
    counts = codec.tans.normalize_counts([hist[c] for c in kept] + [rest], table_log)
    width = book.code_bits + int(book.widths[codes[keep:]].max())
    return codec.Table(book, table_log, tuple(kept), tuple(map(int, counts)), width)


def payload_tables():
    """A few tables the payload target decodes with: (dtype, table)."""
    bf16, sexp, i8 = (codebooks.get(n) for n in ("bf16-exp", "bf16-sexp", "int8"))
    return [
        ("BF16", _table(bf16, {120: 5, 121: 9, 122: 20, 123: 30, 124: 10, 125: 3}, 8)),
        ("BF16", _table(bf16, {118: 2, 120: 5, 121: 9, 122: 20, 123: 30, 130: 1}, 10, keep=3)),
        ("BF16", _table(sexp, {120: 5, 122: 20, 248: 7, 250: 30}, 12)),
        ("I8", _table(i8, {0: 40, 1: 20, 2: 10, 3: 5, 4: 2, 7: 1}, 9, keep=4)),
    ]


_TABLES = payload_tables()


def _fix_crcs(words):
    """Correct the CRC of every chunk whose header and body are in ``words`` (in place)."""
    pos = 0
    while pos + CHUNK_HEADER_WORDS <= len(words):
        if int(words[pos]) >> 24 != CHUNK_MAGIC:
            return
        end = pos + CHUNK_HEADER_WORDS + int(words[pos + 1])
        if end > len(words):
            return
        words[pos + 2] = zlib.crc32(words[pos + 3:end].astype("<u4").tobytes())
        pos = end


def target_payload(data):
    if len(data) < 4:
        return
    dtype, table = _TABLES[data[0] % len(_TABLES)]
    n = 1 + int.from_bytes(data[1:3], "little") % 4096
    chunk_pairs = (None, 1, 7, 64, 100, 1000, 4096, None)[data[3] & 7]
    states = (None, 1, 2, 4)[data[3] >> 3 & 3]
    body = data[4:len(data) - (len(data) - 4) % 4]
    words = np.frombuffer(body, "<u4").copy()
    _fix_crcs(words)
    size = container.DTYPE_SIZES[dtype]
    seg = container.Segment("tensor", "ans", n * size, 4 * len(words), name="t", dtype=dtype,
                            shape=(n,), table=table, chunk_pairs=chunk_pairs, states=states)
    try:
        out = container.restore_segment(seg, words.tobytes())
    except AnsnError as e:
        assert str(e) and "\n" not in str(e), repr(e)
        return
    # what decoded is a tensor the encoder can code again (a payload is not unique: check the
    # values, not the words)
    values = np.frombuffer(out, f"<u{size}")
    codes, extras = table.codebook.encode(values)
    again = codec.encode_payload(table, codes.astype(np.int64), extras,
                                 chunk_pairs=chunk_pairs or n, states=states or 1)
    assert (table.codebook.decode(*codec.decode_payload(table, again, n)) == values).all()


def target_ebpc(data):
    if not HAVE_EBPC or len(data) < 4:
        return
    n = int.from_bytes(data[0:2], "little") % 4096
    split = 4 + int.from_bytes(data[2:4], "little") % max(1, len(data) - 3)
    bpc, znz = data[4:split], data[split:]
    try:
        values = ebpc.decode(bpc, znz, n)
    except ebpc.EbpcError as e:
        assert str(e) and "\n" not in str(e), repr(e)
        return
    assert values.dtype == np.int8 and values.shape == (n,)
    # what decoded codes and decodes again (the streams themselves need not be the encoder's:
    # the decoder accepts some that it never writes, see docs/journal/2026-12-07-container.md)
    assert (ebpc.decode(*ebpc.encode(values), n) == values).all()


TARGETS = {"container": target_container, "index": target_index, "payload": target_payload,
           "ebpc": target_ebpc}
