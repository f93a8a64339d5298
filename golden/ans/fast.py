"""Fast paths of the tensor codec: values straight to payload words and back, in fused kernels.

The reference path (:func:`golden.ans.codec.encode_payload`, :func:`~golden.ans.codec.decode_payload`
and the chunk kernels of :mod:`golden.ans.tans`) goes values -> (code, extra) arrays -> symbols
-> bits, one numpy pass per step. The functions here give the same payload words and the same
values, bit for bit, and report the same errors, in one pass over the data per step that must
see all of it (tests/golden/ans/test_fast.py compares the two on random tensors, every code book
and every option):

* :func:`histogram` counts the *high part* of every value, ``value >> k``, where
  ``k = codebook.raw_low_bits`` is the number of low value bits that a code book copies into the
  low bits of the extra unchanged (the mantissa of a float code book; 0 for table code books).
  Every candidate code book with the same ``k`` gets its code histogram from that one pass.
* :func:`encode_values` codes a tensor's chunks. The code and the rest of the extra depend on the
  high part alone, so a table of ``2**(value_bits - k)`` entries (512 for bf16) gives each value's
  symbol and raw bits; the tANS step, the renormalisation bits and the extra bits go out in the
  same pass, backwards through the chunk (the order the encoder runs in), into a word buffer
  filled from its end; a last pass moves the chunk down to bit 0.
* :func:`decode_values` decodes a payload into a value array: one table entry per state gives
  the bits to read, the next state and where the value's high part is, and the value is written
  out directly.

Kernels are compiled by numba (``nogil``: ``--jobs`` runs them on several threads); with
``NUMBA_DISABLE_JIT=1`` they run as the Python they are written in.
"""

import threading
import zlib

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

from ..format.fields import CHUNK_HEADER_WORDS, CHUNK_MAGIC, ChunkHeader, pack_int
from . import tans

__all__ = ["ValueMap", "value_map", "histogram", "code_histogram", "EncodeTables",
           "DecodeTables", "encode_values", "decode_values", "supports", "decodes"]

#: Largest high part (``value_bits - raw_low_bits``) the fast path builds tables for.
MAX_HIGH_BITS = 16


class ValueMap:
    """A code book as tables over the high part of a value.

    Members
    -------
    k : int
        Low value bits copied unchanged into the low bits of the extra.
    code, extra_high : ndarray of int64
        Code and ``extra >> k`` of every high part ``h`` (the value ``h << k``).
    dense : ndarray of int32
        ``value >> k`` of the pair ``(code, extra)`` at ``(code << shift) | (extra >> k)``,
        ``shift = max(widths) - k``, for every ``code_bits``-bit code (0 beyond the code book).
    widths : ndarray of int64
        The code book's extra widths, 0 beyond the code book (``2**code_bits`` entries): the
        decoder looks up escaped codes without a bounds check.
    """

    def __init__(self, codebook):
        k = int(getattr(codebook, "raw_low_bits", 0))
        widths = codebook.widths.astype(np.int64)
        high_bits = codebook.value_bits - k
        if not 0 <= k <= int(widths.min()) or high_bits > MAX_HIGH_BITS:
            raise ValueError(f"code book {codebook.name}: no fast tables")
        high = np.arange(1 << high_bits, dtype=np.int64)
        codes, extras = codebook.encode((high << k).astype(codebook.value_dtype))
        self.codebook, self.k, self.high_bits = codebook, k, high_bits
        self.code = codes.astype(np.int64)
        self.extra_high = extras.astype(np.int64) >> k
        self.shift = int(widths.max()) - k
        n_per = np.int64(1) << (widths - k)
        code_of = np.repeat(np.arange(len(widths), dtype=np.int64), n_per)
        first = np.concatenate([[0], np.cumsum(n_per)[:-1]])
        ext_high = np.arange(len(code_of), dtype=np.int64) - first[code_of]
        back = codebook.decode(code_of, ext_high << k).astype(np.int64) >> k
        self.dense = np.zeros((1 << codebook.code_bits) << self.shift, np.int32)
        self.dense[(code_of << self.shift) | ext_high] = back
        self.widths = np.zeros(1 << codebook.code_bits, np.int64)
        self.widths[:len(widths)] = widths


_MAPS = {}


def value_map(codebook):
    """The :class:`ValueMap` of a code book (built once), or None if it has none (a lossy code
    book with values it does not hold, or a domain too wide for tables)."""
    if codebook not in _MAPS:
        try:
            _MAPS[codebook] = ValueMap(codebook)
        except ValueError:   # CodeBookError included: values the code book does not hold
            _MAPS[codebook] = None
    return _MAPS[codebook]


def decodes(table):
    """True if the fast path decodes payloads of this table (fields of at most 56 bits)."""
    return (value_map(table.codebook) is not None
            and table.table_log + int(table.symbol_widths().max()) <= 56)


def supports(codebook, values):
    """True if the fast path codes ``values`` (an unsigned array) with ``codebook``."""
    return (value_map(codebook) is not None and values.dtype.kind == "u"
            and values.dtype.itemsize * 8 >= codebook.value_bits
            and values.dtype.itemsize <= 4)


# ------------------------------------------------------------------------------ histogram

@njit(cache=True, nogil=True)
def _histogram(values, k, n_bins, out):
    """Add the count of every ``values >> k`` to ``out``; returns False if one is >= n_bins."""
    n = len(values)
    h = np.zeros((4, n_bins), np.int64)   # four histograms: no store-to-load stalls
    i = 0
    top = 0
    while i + 4 <= n:
        a = np.int64(values[i]) >> k
        b = np.int64(values[i + 1]) >> k
        c = np.int64(values[i + 2]) >> k
        d = np.int64(values[i + 3]) >> k
        top |= a | b | c | d
        if top >= n_bins:
            return False
        h[0, a] += 1
        h[1, b] += 1
        h[2, c] += 1
        h[3, d] += 1
        i += 4
    while i < n:
        a = np.int64(values[i]) >> k
        if a >= n_bins:
            return False
        h[0, a] += 1
        i += 1
    for j in range(n_bins):
        out[j] += h[0, j] + h[1, j] + h[2, j] + h[3, j]
    return True


#: Values per piece of the histogram when pieces run on several threads.
HISTOGRAM_PIECE = 1 << 20


def histogram(vmap, values, *, map_chunks=map):
    """Counts of the high parts of ``values``; raises
    :class:`~golden.format.codebooks.CodeBookError` for a value outside the code book's domain.
    ``map_chunks`` runs the pieces (as in :func:`encode_values`)."""
    from ..format.codebooks import CodeBookError
    n_bins = 1 << vmap.high_bits

    def one(first):
        out = np.zeros(n_bins, np.int64)
        return out if _histogram(values[first:first + HISTOGRAM_PIECE], vmap.k, n_bins, out) \
            else None

    parts = list(map_chunks(one, range(0, len(values), HISTOGRAM_PIECE)))
    if any(p is None for p in parts):
        raise CodeBookError(f"value outside the domain of code book {vmap.codebook.name}")
    return parts[0] if len(parts) == 1 else np.sum(parts, axis=0)


def code_histogram(vmap, high_hist):
    """Code histogram (``n_codes`` entries) from a histogram of high parts."""
    return np.bincount(vmap.code, weights=high_hist,
                       minlength=vmap.codebook.n_codes).astype(np.int64)


# ------------------------------------------------------------------------------ encoder

class EncodeTables:
    """What the encoder kernel needs of one table, per high part of a value and per state.

    Members
    -------
    per_high : ndarray of int32, ``4 * 2**high_bits``
        Per high part ``h`` (at ``4 h`` .. ``4 h + 3``), for its symbol ``s`` of count ``c`` (the encoder's state ``x`` is
        kept in ``[L, 2L)``): ``delta``, so that the renormalisation bits are
        ``nb = (x + delta) >> 16`` (``(shift << 16) - (c << shift)``, ``shift`` =
        ``table_log - floor(log2 c)``: the test ``x < c << shift`` as an addition);
        ``start - c``, so that the next state is ``next_x[start - c + (x >> nb)]``; the extra
        width; and the shift of the low value bits inside the raw extra (0, or ``code_bits``
        for the escape symbol, whose raw extra is ``code | extra << code_bits``).
    raw_high : ndarray of int64
        The raw extra of high part ``h`` without the low value bits.
    next_x : ndarray of int64
        ``next_state + L``.
    valid : ndarray of bool
        High parts the table can code.
    """

    def __init__(self, table, vmap):
        counts = np.array(table.counts, np.int64)
        widths = table.symbol_widths()
        start, nxt = table.encoder_arrays()
        sym = table.code_to_symbol()[vmap.code]
        self.valid = sym >= 0
        s = np.where(self.valid, sym, 0)
        shift = np.array([table.table_log - (int(c).bit_length() - 1) for c in counts], np.int64)
        escape = table.escape & (s == len(table.codes))
        code_bits = table.codebook.code_bits
        self.per_high = np.stack([((shift << 16) - (counts << shift))[s], (start - counts)[s],
                                  widths[s], np.where(escape, code_bits, 0)], axis=1).astype(np.int32).ravel()
        self.raw_high = np.where(escape, vmap.code | (vmap.extra_high << (vmap.k + code_bits)),
                                 vmap.extra_high << vmap.k).astype(np.int64)
        self.next_x = np.asarray(nxt, np.int64) + (1 << table.table_log)
        self.field_bits = table.table_log + int(widths.max())


# ------------------------------------------------------------------ unaligned 64-bit access

def load_u64(buf, i):
    """The little-endian 64-bit word at byte ``i`` of a uint8 array (any alignment)."""
    return np.uint64(int.from_bytes(buf[i:i + 8].tobytes(), "little"))


def store_u64(buf, i, value):
    """Store ``value`` as a little-endian 64-bit word at byte ``i`` of a uint8 array."""
    buf[i:i + 8] = np.frombuffer(int(np.uint64(value)).to_bytes(8, "little"), np.uint8)


@intrinsic
def _load_u64(typingctx, buf, i):
    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        ptr = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(64).as_pointer())
        return builder.load(ptr, align=1)
    return types.uint64(buf, i), codegen


@intrinsic
def _store_u64(typingctx, buf, i, value):
    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        ptr = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(64).as_pointer())
        builder.store(context.cast(builder, args[2], signature.args[2], types.uint64), ptr,
                      align=1)
        return context.get_dummy_value()
    return types.void(buf, i, value), codegen


# compiled code uses one unaligned load / store instead of the Python above
overload(load_u64)(lambda buf, i: lambda buf, i: _load_u64(buf, i))
overload(store_u64)(lambda buf, i, value: lambda buf, i, value: _store_u64(buf, i, value))


# ------------------------------------------------------------------ encoder kernel

@njit(cache=True, nogil=True, inline="always")
def _encode_step(v, x, k, low_mask, per_high, raw_high, next_x):
    """One tANS step of the encoder from state ``x``: ``(next x, field, bits of the field)``;
    the field is the renormalisation bits of ``x`` followed by the raw extra bits of ``v``."""
    h = np.uint64(v >> k)         # unsigned indices: no negative-index handling
    r = h << np.uint64(2)         # per_high is flat: four int32 per high part
    nb = (x + np.int64(per_high[r])) >> 16
    raw = raw_high[h] | ((v & low_mask) << np.int64(per_high[r + np.uint64(3)]))
    field = (x & ((1 << nb) - 1)) | (raw << nb)
    x = next_x[np.uint64(np.int64(per_high[r + np.uint64(1)]) + (x >> nb))]
    return x, field, nb + np.int64(per_high[r + np.uint64(2)])


@njit(cache=True, nogil=True, inline="always")
def _flush(acc, nacc, ptr, tmp):
    """Write the whole bytes of ``acc`` below byte ``ptr`` of ``tmp``: ``(acc, nacc, ptr)``.

    The bits written so far are bytes ``tmp[ptr:]`` and the ``nacc`` (<= 63) low bits of
    ``acc``, which come in front of them. One 8-byte store ends at ``ptr``; the bytes it writes
    below the whole ones are written again by the next flush.
    """
    store_u64(tmp, ptr - 8, (acc << (63 - nacc)) << 1)
    ptr -= nacc >> 3
    nacc &= 7
    return acc & ((1 << nacc) - 1), nacc, ptr


@njit(cache=True, nogil=True, inline="always")
def _encode_body(values, k, per_high, raw_high, next_x, table_log, n_states, tmp, out, pairs):
    """``pairs`` fields between flushes: 2 if a field has at most 28 bits, else 1 (<= 56)."""
    n = len(values)
    L = 1 << table_log
    low_mask = (1 << k) - 1
    state = np.full(4, L, np.int64)     # the encoder's states, x = L + u: every u starts at 0
    acc = 0
    nacc = 0
    end = len(tmp) - 8                  # 8 zero bytes after the end, 8 spare before the start
    ptr = end
    i = n - 1
    while i >= 0 and (i + 1) % n_states != 0:   # pairs after the last whole group of states
        j = i % n_states
        state[j], f, t = _encode_step(np.int64(values[i]), state[j], k, low_mask, per_high,
                                      raw_high, next_x)
        acc, nacc = (acc << t) | f, nacc + t
        acc, nacc, ptr = _flush(acc, nacc, ptr, tmp)
        i -= 1
    if n_states == 4:                   # the default: four states in registers
        x0, x1, x2, x3 = state[0], state[1], state[2], state[3]
        while i >= 3:
            x3, f, t = _encode_step(np.int64(values[i]), x3, k, low_mask, per_high, raw_high,
                                    next_x)
            acc, nacc = (acc << t) | f, nacc + t
            if pairs == 1:
                acc, nacc, ptr = _flush(acc, nacc, ptr, tmp)
            x2, f, t = _encode_step(np.int64(values[i - 1]), x2, k, low_mask, per_high,
                                    raw_high, next_x)
            acc, nacc = (acc << t) | f, nacc + t
            acc, nacc, ptr = _flush(acc, nacc, ptr, tmp)
            x1, f, t = _encode_step(np.int64(values[i - 2]), x1, k, low_mask, per_high,
                                    raw_high, next_x)
            acc, nacc = (acc << t) | f, nacc + t
            if pairs == 1:
                acc, nacc, ptr = _flush(acc, nacc, ptr, tmp)
            x0, f, t = _encode_step(np.int64(values[i - 3]), x0, k, low_mask, per_high,
                                    raw_high, next_x)
            acc, nacc = (acc << t) | f, nacc + t
            acc, nacc, ptr = _flush(acc, nacc, ptr, tmp)
            i -= 4
        state[0], state[1], state[2], state[3] = x0, x1, x2, x3
    while i >= 0:
        j = i % n_states
        state[j], f, t = _encode_step(np.int64(values[i]), state[j], k, low_mask, per_high,
                                      raw_high, next_x)
        acc, nacc = (acc << t) | f, nacc + t
        acc, nacc, ptr = _flush(acc, nacc, ptr, tmp)
        i -= 1
    for j in range(n_states - 1, -1, -1):   # the decoder's initial states come first
        acc, nacc = (acc << table_log) | (state[j] - L), nacc + table_log
        acc, nacc, ptr = _flush(acc, nacc, ptr, tmp)
    if nacc > 0:                        # the stream starts at bit r of byte ptr
        ptr -= 1
        tmp[ptr] = np.uint8((acc << (8 - nacc)) & 0xFF)
    r = np.uint64((8 - nacc) & 7)
    n_words = (8 * (end - ptr) - (8 - nacc) % 8 + 31) >> 5
    for m in range(n_words):            # move the body down to bit 0 of out
        out[m] = np.uint32((load_u64(tmp, ptr + 4 * m) >> r) & np.uint64(0xFFFFFFFF))
    return n_words


@njit(cache=True, nogil=True)
def _encode_chunk(values, k, per_high, raw_high, next_x, table_log, n_states, tmp, out):
    """Encode ``values`` (one chunk) into ``out``; returns the number of words.

    The pairs are coded last first and their bits put in front of each other, from the end of
    ``tmp`` (uint8, the worst-case body plus 16 bytes, the last 8 zero) downwards; the body is
    then moved into ``out`` so that it starts at bit 0. For fields of at most 28 bits (every
    table log, bf16, fp16, fp8, int8, escapes included).
    """
    return _encode_body(values, k, per_high, raw_high, next_x, table_log, n_states, tmp, out, 2)


@njit(cache=True, nogil=True)
def _encode_chunk_wide(values, k, per_high, raw_high, next_x, table_log, n_states, tmp, out):
    """:func:`_encode_chunk` for fields of up to 56 bits (fp32)."""
    return _encode_body(values, k, per_high, raw_high, next_x, table_log, n_states, tmp, out, 1)


def _header_words(n_pairs, table_log, states, last, body_words, crc):
    head = pack_int(ChunkHeader, pairs_minus_1=n_pairs - 1, table_log_minus_8=table_log - 8,
                    states_log2=states.bit_length() - 1, last=int(last), magic=CHUNK_MAGIC,
                    body_words=body_words, body_crc=crc)
    return head & 0xFFFFFFFF, (head >> 32) & 0xFFFFFFFF, head >> 64


def worst_words(table, n_pairs, states):
    """Upper bound of a chunk body of ``n_pairs`` pairs, in words."""
    widths = table.symbol_widths()
    return ((table.table_log + int(widths.max())) * n_pairs + table.table_log * states) // 32 + 2


_local = threading.local()


def _scratch(n_bytes):
    """A zeroed uint8 buffer of at least ``n_bytes``, one per thread, kept between chunks (a new
    buffer per chunk costs page faults: as much time as coding it)."""
    buf = getattr(_local, "buf", None)
    if buf is None or len(buf) < n_bytes:
        buf = _local.buf = np.zeros(max(n_bytes, 1 << 16), np.uint8)
    return buf


def encode_values(table, values, *, chunk_pairs, states, vmap=None, map_chunks=map, final=True):
    """Values -> payload words (uint32), the same words as
    ``codec.encode_payload(table, *table.codebook.encode(values), ...)``.

    ``map_chunks(fn, chunk_indices)`` runs the chunks (``map`` by default; an executor's map
    runs them on several threads: the result does not depend on it). ``final=False``: a slice
    of a tensor that more pairs follow (no chunk is marked last).
    """
    vmap = vmap or value_map(table.codebook)
    enc = EncodeTables(table, vmap)
    if enc.field_bits > 56:
        raise ValueError("fields wider than 56 bits: use codec.encode_payload")
    kernel = _encode_chunk if enc.field_bits <= 28 else _encode_chunk_wide
    n = len(values)
    n_chunks = -(-n // chunk_pairs)
    worst = worst_words(table, min(n, chunk_pairs), states)

    def one(k, out, at):
        """Chunk ``k`` into ``out`` at word ``at``; returns its length in words."""
        first, last = k * chunk_pairs, min(n, (k + 1) * chunk_pairs)
        body = at + CHUNK_HEADER_WORDS
        w = kernel(values[first:last], vmap.k, enc.per_high, enc.raw_high, enc.next_x,
                   table.table_log, states, _scratch(4 * worst + 16), out[body:body + worst])
        out[at:body] = _header_words(last - first, table.table_log, states,
                                     final and last == n, w, zlib.crc32(out[body:body + w]))
        return CHUNK_HEADER_WORDS + w

    slot = CHUNK_HEADER_WORDS + worst
    if map_chunks is map or n_chunks == 1:   # one after the other, each where it belongs
        out = np.empty(n_chunks * slot, np.uint32)   # (pages past the end are never touched)
        pos = 0
        for k in range(n_chunks):
            pos += one(k, out, pos)
        return out[:pos]
    slots = np.empty(n_chunks * slot, np.uint32)     # on threads: chunk k at k * slot
    sizes = list(map_chunks(lambda k: one(k, slots, k * slot), range(n_chunks)))
    out = np.empty(sum(sizes), np.uint32)
    pos = 0
    for k, size in enumerate(sizes):
        out[pos:pos + size] = slots[k * slot:k * slot + size]
        pos += size
    return out


# ------------------------------------------------------------------------------ decoder

class DecodeTables:
    """What the decoder kernel needs of one table.

    Members
    -------
    entry : ndarray of int64
        Per state ``u``: bits read (``nbits`` + extra width, bits 0-7), ``nbits`` (8-11),
        ``code_bits`` for the escape symbol, else 0 (12-15), next state before the
        renormalisation bits (16-31) and the offset of the symbol's code in ``dense`` (32-63;
        0 for the escape symbol).
    """

    def __init__(self, table, vmap):
        symbols, nbits, base = table.decoder_arrays()
        widths = table.symbol_widths()
        n_codes = len(table.codes)
        escape = symbols == n_codes
        codes = np.array(list(table.codes) + [0], np.int64)[symbols]
        total = nbits + widths[symbols]
        book = vmap.codebook
        self.entry = (total | (nbits << 8) | (np.where(escape, book.code_bits, 0) << 12)
                      | (base << 16) | (np.where(escape, 0, codes << vmap.shift) << 32))
        self.field_bits = int(total.max())


@njit(cache=True, nogil=True)
def _read(body, pos, n, total_bits):
    """``n`` (<= 56) bits at bit ``pos`` of ``body`` (uint8), zeros past ``total_bits``."""
    if (pos >> 3) + 8 <= len(body):
        return np.int64(load_u64(body, pos >> 3) >> np.uint64(pos & 7)) & ((1 << n) - 1)
    v = 0
    for b in range(n):          # near the end: bit by bit
        q = pos + b
        if q < total_bits:
            v |= ((np.int64(body[q >> 3]) >> (q & 7)) & 1) << b
    return v


@njit(cache=True, nogil=True, inline="always")
def _decode_step(bits, e, k, low_mask, dense, dshift, n_codes, widths):
    """From the ``bits`` read for entry ``e``: ``(next state, value, escape errors)``.

    No branch: for the escape symbol the entry's ``code_bits`` field is not 0 and the code
    comes out of the low extra bits, for other symbols it is 0 and the code is the entry's.
    Errors (escapes only): 1 a code outside the code book, 2 extra bits wider than the code's
    width (``widths`` and ``dense`` cover every ``code_bits``-bit code, so no access goes out).
    """
    nb = (e >> 8) & 15
    u = ((e >> 16) & 0xFFFF) + (bits & ((1 << nb) - 1))
    ext = bits >> nb
    cb = (e >> 12) & 15
    code = ext & ((1 << cb) - 1)
    ext >>= cb
    value = ((np.int64(dense[np.uint64((e >> 32) + (code << dshift) + (ext >> k))]) << k)
             | (ext & low_mask))
    escape = np.int64(cb != 0)
    err = escape & np.int64(code >= n_codes)
    err |= (escape & np.int64((ext >> widths[np.uint64(code)]) != 0)) << 1
    return u, value, err


@njit(cache=True, nogil=True, inline="always")
def _decode_body(body, table_log, n_states, entry, field_bits, k, dense, dshift, n_codes,
                 widths, out, pairs):
    """``pairs`` fields per 8-byte load: 2 if a field has at most 28 bits, else 1 (<= 56)."""
    n = len(out)
    total_bits = 8 * len(body)
    low_mask = (1 << k) - 1
    state = np.zeros(4, np.int64)
    pos = 0
    for j in range(n_states):
        if pos + table_log > total_bits:
            return tans.ERR_OVERRUN, 0
        state[j] = _read(body, pos, table_log, total_bits)
        pos += table_log
    err = 0
    i = 0
    if n_states == 4:               # the default: four states in registers, whole groups
        u0, u1, u2, u3 = state[0], state[1], state[2], state[3]
        limit = total_bits - 64 - 4 * field_bits   # every load of a group inside the body
        while i + 4 <= n and pos <= limit:
            e0, e1 = entry[np.uint64(u0)], entry[np.uint64(u1)]
            e2, e3 = entry[np.uint64(u2)], entry[np.uint64(u3)]
            t0, t1, t2, t3 = e0 & 0xFF, e1 & 0xFF, e2 & 0xFF, e3 & 0xFF
            c = np.int64(load_u64(body, pos >> 3) >> np.uint64(pos & 7))
            b0 = c & ((1 << t0) - 1)
            if pairs == 1:
                pos += t0
                c = np.int64(load_u64(body, pos >> 3) >> np.uint64(pos & 7))
                b1 = c & ((1 << t1) - 1)
                pos += t1
            else:
                b1 = (c >> t0) & ((1 << t1) - 1)
                pos += t0 + t1
            c = np.int64(load_u64(body, pos >> 3) >> np.uint64(pos & 7))
            b2 = c & ((1 << t2) - 1)
            if pairs == 1:
                pos += t2
                c = np.int64(load_u64(body, pos >> 3) >> np.uint64(pos & 7))
                b3 = c & ((1 << t3) - 1)
                pos += t3
            else:
                b3 = (c >> t2) & ((1 << t3) - 1)
                pos += t2 + t3
            u0, v0, r0 = _decode_step(b0, e0, k, low_mask, dense, dshift, n_codes, widths)
            u1, v1, r1 = _decode_step(b1, e1, k, low_mask, dense, dshift, n_codes, widths)
            u2, v2, r2 = _decode_step(b2, e2, k, low_mask, dense, dshift, n_codes, widths)
            u3, v3, r3 = _decode_step(b3, e3, k, low_mask, dense, dshift, n_codes, widths)
            out[i] = v0
            out[i + 1] = v1
            out[i + 2] = v2
            out[i + 3] = v3
            err |= r0 | r1 | r2 | r3
            i += 4
        state[0], state[1], state[2], state[3] = u0, u1, u2, u3
    j = 0
    limit = total_bits - 64 - field_bits
    while i < n and pos <= limit:   # one pair at a time (1 or 2 states, a group's rest)
        e = entry[np.uint64(state[j])]
        t = e & 0xFF
        bits = np.int64(load_u64(body, pos >> 3) >> np.uint64(pos & 7)) & ((1 << t) - 1)
        pos += t
        state[j], out[i], r = _decode_step(bits, e, k, low_mask, dense, dshift, n_codes, widths)
        err |= r
        i += 1
        j = j + 1 if j + 1 < n_states else 0
    while i < n:                    # to the end of the body, reading with care
        e = entry[np.uint64(state[j])]
        t = e & 0xFF
        if pos + t > total_bits:
            return tans.ERR_OVERRUN, err
        bits = _read(body, pos, t, total_bits)
        pos += t
        state[j], out[i], r = _decode_step(bits, e, k, low_mask, dense, dshift, n_codes, widths)
        err |= r
        i += 1
        j = j + 1 if j + 1 < n_states else 0
    for j in range(n_states):
        if state[j] != 0:
            return tans.ERR_STATE, err
    if total_bits - pos >= 32 or _read(body, pos, total_bits - pos, total_bits) != 0:
        return tans.ERR_PADDING, err
    return 0, err


@njit(cache=True, nogil=True)
def _decode_chunk(body, table_log, n_states, entry, field_bits, k, dense, dshift, n_codes,
                  widths, out):
    """Decode one chunk body (uint8, whole words) into ``out`` (its pairs' values).

    Returns ``(error, escape errors)``: 0 or the first ``tans.ERR_*`` the chunk breaks (as
    :func:`golden.ans.tans.decode_chunk`), and the escape errors of :func:`_decode_step` OR-ed.
    For fields of at most 28 bits; :func:`_decode_chunk_wide` for up to 56.
    """
    return _decode_body(body, table_log, n_states, entry, field_bits, k, dense, dshift,
                        n_codes, widths, out, 2)


@njit(cache=True, nogil=True)
def _decode_chunk_wide(body, table_log, n_states, entry, field_bits, k, dense, dshift,
                       n_codes, widths, out):
    return _decode_body(body, table_log, n_states, entry, field_bits, k, dense, dshift,
                        n_codes, widths, out, 1)


_ERRORS = {tans.ERR_OVERRUN: "pairs need more bits than the body holds",
           tans.ERR_STATE: "final state check failed",
           tans.ERR_PADDING: "bad padding after the last pair"}


def _walk_headers(payload, table_log):
    """``(chunks, error)``: ``(first pair, pairs, states, body start, body end, crc)`` of every
    chunk up to the last one, and the message of the first header problem (or of words after
    the last chunk), None if there is none; the checks of ``codec.walk_chunks`` but the CRC."""
    from ..format.fields import unpack_int
    chunks = []
    pos = first = 0
    size = len(payload)
    while True:
        index = len(chunks)
        if pos + CHUNK_HEADER_WORDS > size:
            return chunks, f"chunk {index}: truncated header"
        h = unpack_int(ChunkHeader, int(payload[pos]) | (int(payload[pos + 1]) << 32)
                       | (int(payload[pos + 2]) << 64))
        if h["magic"] != CHUNK_MAGIC:
            return chunks, f"chunk {index}: bad magic 0x{h['magic']:02x}"
        if h["table_log_minus_8"] + 8 != table_log:
            return chunks, (f"chunk {index}: table log {h['table_log_minus_8'] + 8} "
                            f"differs from the table's {table_log}")
        if h["states_log2"] > 2:
            return chunks, f"chunk {index}: bad number of states"
        start = pos + CHUNK_HEADER_WORDS
        end = start + h["body_words"]
        if end > size:
            return chunks, f"chunk {index}: truncated body"
        n = h["pairs_minus_1"] + 1
        chunks.append((first, n, 1 << h["states_log2"], start, end, h["body_crc"]))
        first += n
        pos = end
        if h["last"]:
            break
    if pos != size:
        return chunks, f"{size - pos} words after the last chunk"
    return chunks, None


def decode_values(table, payload, n_values, *, out=None, map_chunks=map):
    """Payload words -> ``n_values`` values (the code book's value dtype), the same values and
    the same errors (:class:`~golden.ans.codec.PayloadError`) as
    ``codec.decompress_values(table, payload, n_values)``.

    ``out``: an array of ``n_values`` values to decode into. ``map_chunks`` as in
    :func:`encode_values`.
    """
    from .codec import PayloadError
    book = table.codebook
    vmap = value_map(book)
    dec = DecodeTables(table, vmap)
    kernel = _decode_chunk if dec.field_bits <= 28 else _decode_chunk_wide
    payload = np.asarray(payload, np.uint32)
    data = payload.view(np.uint8)
    if out is None:
        out = np.empty(n_values, book.value_dtype)
    chunks, header_error = _walk_headers(payload, table.table_log)

    def one(index):
        first, n, states, start, end, crc = chunks[index]
        body = data[4 * start:4 * end]
        if zlib.crc32(body) != crc:
            return f"chunk {index}: CRC mismatch", 0
        if first + n > n_values:
            return f"chunk {index}: more pairs than the tensor holds", 0
        err, esc = kernel(body, table.table_log, states, dec.entry, dec.field_bits, vmap.k,
                          vmap.dense, vmap.shift, book.n_codes, vmap.widths,
                          out[first:first + n])
        return (f"chunk {index}: {_ERRORS[err]}" if err else None), esc

    escape_errors = 0
    for message, esc in map_chunks(one, range(len(chunks))):
        if message:
            raise PayloadError(message)
        escape_errors |= esc
    if header_error:
        raise PayloadError(header_error)
    held = chunks[-1][0] + chunks[-1][1]
    if held != n_values:
        raise PayloadError(f"payload holds {held} pairs, the tensor {n_values}")
    if escape_errors & 1:
        raise PayloadError("an escaped pair has a code outside the code book")
    if escape_errors & 2:
        raise PayloadError("an escaped pair has extra bits beyond its code's width")
    return out
