"""Tensor codec: values -> coding pairs -> tANS payload (chunks), and back.

A tensor's **payload** is a sequence of chunks, each a :class:`~golden.format.layouts.ChunkHeader`
(3 words) and a body (see :mod:`golden.ans.tans`); it is exactly the word stream the hardware
decoder consumes. The tensor's :class:`Table` (code book, table log, symbols and counts) travels
in the container's index; :meth:`Table.image` expands it into the words a host writes through the
decoder's table port.
"""

import zlib
from dataclasses import dataclass

import numpy as np

from ..format import codebooks
from ..format.fields import (CHUNK_HEADER_WORDS, CHUNK_MAGIC, ENC_CODE_BASE, ENC_NEXT_BASE,
                              ENC_SYMBOL_BASE, TABLE_LOG_MIN, ChunkHeader, DecodeEntry, EncodeCode,
                              EncodeSymbol, TableConfig, pack, pack_int, unpack_int)
from . import fast, tans

__all__ = ["Table", "PayloadError", "choose_table", "choose_table_hist", "entropy_bound_bits",
           "entropy_bound_bits_hist", "encode_payload", "decode_payload", "iter_decode", "compress_values",
           "decompress_values", "MAX_CHUNK_PAIRS", "DEFAULT_CHUNK_PAIRS", "DEFAULT_STATES",
           "DEFAULT_TABLE_LOG"]

MAX_CHUNK_PAIRS = 1 << 18
DEFAULT_CHUNK_PAIRS = 1 << 16
DEFAULT_STATES = 4      # the hardware decoder's ring holds 4 states: one pair per clock
DEFAULT_TABLE_LOG = 10  # smallest within 0.05% of the best ratio on MiniLM (make bench); 2 BRAMs
STATE_CHOICES = (1, 2, 4)


class PayloadError(ValueError):
    """A payload that does not decode: corrupted, truncated or not made for this table."""


@dataclass(frozen=True)
class Table:
    """How one tensor is coded.

    Members
    -------
    codebook : CodeBook
    table_log : int
        ``L = 1 << table_log`` states.
    codes : tuple of int
        The code of every symbol but the escape symbol, in symbol order.
    counts : tuple of int
        Normalised count of every symbol (the escape symbol last, when there is one).
    escape_width : int or None
        Extra width of the escape symbol (``code_bits`` + the widest escaped code's extra
        width), or None when every code present has a symbol of its own.
    """
    codebook: codebooks.CodeBook
    table_log: int
    codes: tuple
    counts: tuple
    escape_width: int = None

    def __post_init__(self):
        n_sym = len(self.codes) + (self.escape_width is not None)
        if len(self.counts) != n_sym:
            raise PayloadError("table: one count per symbol expected")
        if len(set(self.codes)) != len(self.codes) or \
                any(not 0 <= c < self.codebook.n_codes for c in self.codes):
            raise PayloadError("table: codes repeat or fall outside the code book")
        if self.escape_width is not None and not \
                self.codebook.code_bits <= self.escape_width <= 63:
            raise PayloadError("table: bad escape width")
        try:
            tans.check_counts(self.counts, self.table_log)
        except tans.TansError as e:
            raise PayloadError(f"table: {e}") from None

    @property
    def escape(self):
        return self.escape_width is not None

    @property
    def n_symbols(self):
        return len(self.counts)

    def symbol_widths(self):
        w = [int(self.codebook.widths[c]) for c in self.codes]
        return np.array(w + ([self.escape_width] if self.escape else []), np.int64)

    def code_to_symbol(self):
        """Symbol of every code (the escape symbol for codes without one, -1 if none)."""
        m = np.full(self.codebook.n_codes, len(self.codes) if self.escape else -1, np.int64)
        m[list(self.codes)] = np.arange(len(self.codes))
        return m

    def decoder_arrays(self):
        if not hasattr(self, "_dec"):
            object.__setattr__(self, "_dec", tans.decode_table(self.counts, self.table_log))
        return self._dec

    def encoder_arrays(self):
        if not hasattr(self, "_enc"):
            object.__setattr__(self, "_enc", tans.encode_table(self.counts, self.table_log))
        return self._enc

    def image(self):
        """Words for the decoder's table port: address 0 the config, 1 + u the entry of u."""
        symbols, nbits, base = self.decoder_arrays()
        widths = self.symbol_widths()
        is_escape = symbols == len(self.codes)
        codes = np.array(list(self.codes) + [0], np.int64)[symbols]
        entries = pack(DecodeEntry, base=base, nbits=nbits,
                       total=np.minimum(nbits + widths[symbols], 63),
                       escape=is_escape, code=np.where(is_escape, 0, codes))
        config = pack_int(TableConfig, table_log=self.table_log,
                          code_bits=self.codebook.code_bits, codebook=self.codebook.ident)
        return np.concatenate([[config], entries]).astype(np.uint32)

    def encoder_image(self):
        """``(addresses, words)`` for the compressor's table port: the config, the next-state
        table, the code map (every code of the code book) and the symbol entries."""
        start, nxt = self.encoder_arrays()
        counts = np.array(self.counts, np.int64)
        shift = np.array([self.table_log - (int(c).bit_length() - 1) for c in counts], np.int64)
        symbols = pack(EncodeSymbol, offset=(start - counts) % (1 << 13), count=counts,
                       shift=shift)
        c2s = self.code_to_symbol()
        widths = self.symbol_widths()
        n_codes = self.codebook.n_codes
        valid = c2s >= 0
        sym = np.where(valid, c2s, 0)
        escape = valid & (sym == len(self.codes))
        code_words = pack(EncodeCode, symbol=sym, escape=escape,
                          width=np.where(valid, widths[sym], 0), valid=valid)
        config = pack_int(TableConfig, table_log=self.table_log,
                          code_bits=self.codebook.code_bits, codebook=self.codebook.ident)
        addrs = np.concatenate([[0], ENC_NEXT_BASE + np.arange(len(nxt)),
                                ENC_CODE_BASE + np.arange(n_codes),
                                ENC_SYMBOL_BASE + np.arange(len(counts))])
        words = np.concatenate([[config], nxt, code_words, symbols])
        return addrs.astype(np.int64), words.astype(np.uint32)

    def to_json(self):
        return {"codebook": self.codebook.name, "table_log": self.table_log,
                "codes": list(self.codes), "counts": list(self.counts),
                "escape_width": self.escape_width}

    @classmethod
    def from_json(cls, obj):
        try:
            return cls(codebooks.get(obj["codebook"]), int(obj["table_log"]),
                       tuple(int(c) for c in obj["codes"]), tuple(int(c) for c in obj["counts"]),
                       None if obj["escape_width"] is None else int(obj["escape_width"]))
        except (KeyError, TypeError, ValueError) as e:
            raise PayloadError(f"bad table description: {e}") from None


def _entropy_bits(hist):
    h = hist[hist > 0].astype(np.float64)
    return float(-(h * np.log2(h / h.sum())).sum())


def _alphabets(hist, max_symbols, order=None):
    """Candidate alphabets: every code present, and the most frequent k plus an escape
    (``order``: the codes present, most frequent first, if the caller has them)."""
    if order is None:
        present = np.flatnonzero(hist)
        order = present[np.argsort(-hist[present], kind="stable")]
    yield tuple(sorted(order[:max_symbols].tolist())), len(order) > max_symbols
    for k in (7, 15, 31, 63):
        if k < min(len(order), max_symbols):
            yield tuple(sorted(order[:k].tolist())), True


def choose_table(codebook, codes, max_table_log=DEFAULT_TABLE_LOG, min_table_log=TABLE_LOG_MIN):
    """The table (alphabet, escape, table log) that gives the smallest estimated size.

    Returns ``(table, estimated_bits)``; the estimate is the ideal tANS size of the codes plus the
    extra bits plus the table's description, which the coded size approaches within a few
    hundredths of a percent at table log 11 and 12.
    """
    hist = np.bincount(codes, minlength=codebook.n_codes).astype(np.int64)
    return choose_table_hist(codebook, hist, max_table_log, min_table_log)


def choose_table_hist(codebook, hist, max_table_log=DEFAULT_TABLE_LOG,
                      min_table_log=TABLE_LOG_MIN):
    """:func:`choose_table` from the codes' histogram (``hist[c]``: how often code ``c``
    occurs).

    The candidates are every table log with every alphabet of :func:`_alphabets`; the chosen one
    has the smallest estimate, the first in that order on a tie. A candidate's estimate is at
    least its bound (the symbols at their empirical entropy, as no counts code them in fewer
    bits, plus the same extra bits and description): candidates are estimated in order of their
    bounds, and those whose bound is above the best estimate so far are not estimated at all.
    """
    hist = np.asarray(hist).astype(np.int64)
    widths = codebook.widths.astype(np.int64)
    candidates, seen = [], {}
    present = np.flatnonzero(hist)
    order = present[np.argsort(-hist[present], kind="stable")]
    for log in range(min_table_log, max_table_log + 1):
        for alphabet, escape in _alphabets(hist, 1 << log, order):
            if (alphabet, escape) not in seen:
                sym_hist = hist[list(alphabet)]
                extra_bits = int((sym_hist * widths[list(alphabet)]).sum())
                esc_width = None
                if escape:
                    rest = np.ones(len(hist), bool)
                    rest[list(alphabet)] = False
                    rest &= hist > 0
                    if rest.any():
                        esc_width = codebook.code_bits + int(widths[rest].max())
                        n_esc = int(hist[rest].sum())
                        sym_hist = np.append(sym_hist, n_esc)
                        extra_bits += n_esc * esc_width
                    else:
                        sym_hist = None
                bound = None if sym_hist is None else \
                    _entropy_bits(sym_hist) + extra_bits + 40 * len(sym_hist)
                seen[alphabet, escape] = (sym_hist, extra_bits, esc_width, bound)
            sym_hist, extra_bits, esc_width, bound = seen[alphabet, escape]
            if sym_hist is None or len(sym_hist) > 1 << log:
                continue
            candidates.append((bound, len(candidates), log, alphabet, sym_hist, extra_bits,
                               esc_width))
    best = None
    for bound, order, log, alphabet, sym_hist, extra_bits, esc_width in sorted(candidates):
        if best is not None and bound > best[0] + 1e-9 * abs(best[0]):
            break           # (the margin covers rounding: this and the rest cost more)
        counts = tans.normalize_counts(sym_hist, log)
        bits = tans.cost_bits(sym_hist, counts, log) + extra_bits + 40 * len(sym_hist)
        if best is None or (bits, order) < best[:2]:
            best = (bits, order, log, alphabet, counts, esc_width)
    if best is None:
        return None
    bits, _, log, alphabet, counts, esc_width = best
    return Table(codebook, log, tuple(int(a) for a in alphabet), tuple(int(c) for c in counts),
                 esc_width), bits


def entropy_bound_bits(codebook, codes):
    """Bits of the codes at their empirical entropy plus the raw extra bits: the bound for one
    static table per tensor under this code book."""
    return entropy_bound_bits_hist(codebook, np.bincount(codes, minlength=codebook.n_codes))


def entropy_bound_bits_hist(codebook, hist):
    """:func:`entropy_bound_bits` from the codes' histogram."""
    hist = np.asarray(hist).astype(np.int64)
    return _entropy_bits(hist) + float((hist * codebook.widths.astype(np.int64)).sum())


def _pairs_to_symbols(table, codes, extras):
    c2s = table.code_to_symbol()
    symbols = c2s[codes]
    if (symbols < 0).any():
        raise PayloadError("a code has no symbol in this table and the table has no escape")
    raw = extras.astype(np.uint64)
    if table.escape:
        esc = symbols == len(table.codes)
        raw[esc] = codes[esc].astype(np.uint64) | \
            (raw[esc] << np.uint64(table.codebook.code_bits))
    return symbols, raw


def encode_payload(table, codes, extras, *, chunk_pairs=DEFAULT_CHUNK_PAIRS,
                   states=DEFAULT_STATES):
    """Coding pairs -> payload words (uint32)."""
    if not 1 <= chunk_pairs <= MAX_CHUNK_PAIRS:
        raise PayloadError(f"chunk size must be 1 .. {MAX_CHUNK_PAIRS} pairs")
    if states not in STATE_CHOICES:
        raise PayloadError(f"states must be one of {STATE_CHOICES}")
    n = len(codes)
    if n == 0:
        raise PayloadError("cannot code an empty tensor")
    symbols, raw = _pairs_to_symbols(table, np.asarray(codes, np.int64), np.asarray(extras))
    sym_width = table.symbol_widths()
    if (raw >> sym_width[symbols].astype(np.uint64)).any():
        raise PayloadError("extra bits wider than their code's width")
    counts = np.array(table.counts, np.int64)
    enc_start, enc_next = table.encoder_arrays()
    worst = (table.table_log + int(sym_width.max())) * min(n, chunk_pairs) // 32 + 8
    scratch = np.empty(worst, np.uint32)
    out = []
    for first in range(0, n, chunk_pairs):
        last = min(n, first + chunk_pairs)
        w = tans.encode_chunk(symbols[first:last], raw[first:last], sym_width, counts,
                              enc_start, enc_next, table.table_log, states, scratch)
        body = scratch[:w].copy()
        head = pack_int(ChunkHeader, pairs_minus_1=last - first - 1,
                        table_log_minus_8=table.table_log - 8,
                        states_log2=states.bit_length() - 1, last=int(last == n),
                        magic=CHUNK_MAGIC, body_words=w,
                        body_crc=zlib.crc32(body.astype("<u4").tobytes()))
        out.append(np.array([(head >> (32 * k)) & 0xFFFFFFFF for k in range(3)], np.uint32))
        out.append(body)
    return np.concatenate(out)


def walk_chunks(payload, table_log):
    """Yield ``(first_pair, n_pairs, states, body)`` per chunk, checking headers and CRCs."""
    payload = np.asarray(payload, np.uint32)
    pos = first = 0
    index = 0
    while True:
        if pos + CHUNK_HEADER_WORDS > len(payload):
            raise PayloadError(f"chunk {index}: truncated header")
        word = sum(int(payload[pos + k]) << (32 * k) for k in range(CHUNK_HEADER_WORDS))
        h = unpack_int(ChunkHeader, word)
        if h["magic"] != CHUNK_MAGIC:
            raise PayloadError(f"chunk {index}: bad magic 0x{h['magic']:02x}")
        if h["table_log_minus_8"] + 8 != table_log:
            raise PayloadError(f"chunk {index}: table log {h['table_log_minus_8'] + 8} "
                               f"differs from the table's {table_log}")
        if h["states_log2"] > 2:
            raise PayloadError(f"chunk {index}: bad number of states")
        body_start = pos + CHUNK_HEADER_WORDS
        body_end = body_start + h["body_words"]
        if body_end > len(payload):
            raise PayloadError(f"chunk {index}: truncated body")
        body = payload[body_start:body_end]
        if zlib.crc32(body.astype("<u4").tobytes()) != h["body_crc"]:
            raise PayloadError(f"chunk {index}: CRC mismatch")
        n = h["pairs_minus_1"] + 1
        yield first, n, 1 << h["states_log2"], body
        first += n
        pos = body_end
        index += 1
        if h["last"]:
            break
    if pos != len(payload):
        raise PayloadError(f"{len(payload) - pos} words after the last chunk")


_ERRORS = {tans.ERR_OVERRUN: "pairs need more bits than the body holds",
           tans.ERR_STATE: "final state check failed",
           tans.ERR_PADDING: "bad padding after the last pair"}


def _decode_one(table, index, body, n, states, arrays):
    """One chunk body -> ``(codes, extras)`` of its ``n`` pairs; raises :class:`PayloadError`."""
    dec_symbol, dec_nbits, dec_base, sym_width = arrays
    symbols = np.empty(n, np.int64)
    raw = np.empty(n, np.uint64)
    err = tans.decode_chunk(body, n, table.table_log, states, dec_symbol, dec_nbits, dec_base,
                            sym_width, symbols, raw)
    if err:
        raise PayloadError(f"chunk {index}: {_ERRORS[err]}")
    codes = np.array(list(table.codes) + [0], np.int64)[symbols]
    extras = raw
    if table.escape:
        esc = symbols == len(table.codes)
        cb = np.uint64(table.codebook.code_bits)
        codes[esc] = (raw[esc] & ((np.uint64(1) << cb) - np.uint64(1))).astype(np.int64)
        if (codes[esc] >= table.codebook.n_codes).any():
            raise PayloadError("an escaped pair has a code outside the code book")
        extras = raw.copy()
        extras[esc] = raw[esc] >> cb
        widths = table.codebook.widths[codes[esc]].astype(np.uint64)
        if (extras[esc] >> widths).any():
            raise PayloadError("an escaped pair has extra bits beyond its code's width")
    return codes, extras.astype(np.uint32)


def iter_decode(table, payload, n_pairs):
    """Yield ``(first_pair, codes, extras)`` chunk by chunk (the reference path), so that a
    caller holds one chunk's pairs at a time; raises :class:`PayloadError` as
    :func:`decode_payload`."""
    arrays = (*table.decoder_arrays(), table.symbol_widths())
    first = n = 0
    for index, (first, n, s, body) in enumerate(walk_chunks(payload, table.table_log)):
        if first + n > n_pairs:
            raise PayloadError(f"chunk {index}: more pairs than the tensor holds")
        codes, extras = _decode_one(table, index, body, n, s, arrays)
        yield first, codes, extras
    if first + n != n_pairs:
        raise PayloadError(f"payload holds {first + n} pairs, the tensor {n_pairs}")


def decode_payload(table, payload, n_pairs):
    """Payload words -> ``(codes, extras)`` of ``n_pairs`` pairs; raises :class:`PayloadError`."""
    codes = np.empty(n_pairs, np.int64)
    extras = np.empty(n_pairs, np.uint32)
    for first, c, x in iter_decode(table, payload, n_pairs):
        codes[first:first + len(c)] = c
        extras[first:first + len(c)] = x
    return codes, extras


def compress_values(values, candidates, *, max_table_log=DEFAULT_TABLE_LOG,
                    min_table_log=TABLE_LOG_MIN, chunk_pairs=DEFAULT_CHUNK_PAIRS,
                    states=DEFAULT_STATES, map_chunks=map, reference=False):
    """Compress bit patterns with the best of ``candidates`` (code books), at the best table
    log in ``min_table_log .. max_table_log``.

    Returns ``(table, payload_words, info)`` where ``info`` has the estimate and the entropy
    bound of the chosen code book. The fused kernels of :mod:`golden.ans.fast` do the work
    where they can (``map_chunks``: how they run the chunks, e.g. an executor's map); the
    result is the same as the reference path's (``reference=True``: code book, then
    :func:`choose_table`, then :func:`encode_payload`).
    """
    values = np.asarray(values).ravel()
    if not reference and len(values) and all(fast.supports(cb, values) for cb in candidates):
        best, high = None, {}
        for cb in candidates:
            vmap = fast.value_map(cb)
            key = (vmap.k, vmap.high_bits)      # code books that split values alike share it
            if key not in high:
                high[key] = fast.histogram(vmap, values, map_chunks=map_chunks)
            hist = fast.code_histogram(vmap, high[key])
            table, bits = choose_table_hist(cb, hist, max_table_log, min_table_log)
            if best is None or bits < best[1]:
                best = (table, bits, hist)
        table, bits, hist = best
        payload = fast.encode_values(table, values, chunk_pairs=chunk_pairs, states=states,
                                     map_chunks=map_chunks)
        return table, payload, {"bound_bits": entropy_bound_bits_hist(table.codebook, hist),
                                "estimate_bits": bits}
    best = None
    for cb in candidates:
        codes, extras = cb.encode(values)
        codes = codes.astype(np.int64)
        table, bits = choose_table(cb, codes, max_table_log, min_table_log)
        if best is None or bits < best[1]:
            best = (table, bits, codes, extras)
    table, bits, codes, extras = best
    payload = encode_payload(table, codes, extras, chunk_pairs=chunk_pairs, states=states)
    info = {"bound_bits": entropy_bound_bits(table.codebook, codes), "estimate_bits": bits}
    return table, payload, info


def decompress_values(table, payload, n_values, *, out=None, map_chunks=map, reference=False):
    """Payload words -> ``n_values`` values of the table's code book (its value dtype), into
    ``out`` if given; raises :class:`PayloadError`. Fast path where it can, as
    :func:`compress_values`; ``reference=True``: :func:`decode_payload`, then the code book."""
    if not reference and fast.decodes(table):
        return fast.decode_values(table, payload, n_values, out=out, map_chunks=map_chunks)
    codes, extras = decode_payload(table, payload, n_values)
    values = table.codebook.decode(codes, extras)
    if out is not None:
        out[:] = values
        return out
    return values
