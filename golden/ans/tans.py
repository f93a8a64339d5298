"""Table-driven ANS (tANS): normalised counts, symbol spread, tables, chunk encoder and decoder.

Everything is exact integer arithmetic, in the order a hardware lane performs it. With
``L = 1 << table_log``, a decoder state is an offset ``u`` in ``[0, L)``. One decoding step:

    entry = table[u]                      # symbol, nbits, base
    u     = entry.base + read(entry.nbits)

The encoder runs the same steps backwards over a chunk (last pair first), so the decoder reads
its input forward. A chunk interleaves ``S`` states: pair ``i`` belongs to state ``i % S``.
The bit stream of a chunk body (LSB first, see docs/format.md) is::

    S fields of table_log bits: the decoder's initial states
    per pair i: nbits_i renormalisation bits, then width_i extra bits
    zero padding to a 32-bit word

and after its last pair every state is back at 0, where the encoder started.

The kernels are compiled by numba; with ``NUMBA_DISABLE_JIT=1`` they run as the plain Python they
are written in (the tests check both give the same bits).
"""

import numpy as np
from numba import njit

from ..format.fields import TABLE_LOG_MAX, TABLE_LOG_MIN

__all__ = [
    "normalize_counts", "spread", "decode_table", "encode_table", "encode_chunk",
    "decode_chunk", "cost_bits", "TansError",
    "ERR_OVERRUN", "ERR_STATE", "ERR_PADDING",
]


class TansError(ValueError):
    """Counts or tables that do not describe a valid tANS table."""


def normalize_counts(hist, table_log):
    """Scale a histogram to counts that sum to ``1 << table_log``, every used symbol >= 1.

    Minimises the coded size ``sum(hist * -log2(count / L))`` greedily from the rounded
    proportions (ties broken by the lower symbol), which is optimal for this convex problem
    up to the integer steps. Symbols absent from ``hist`` get count 0.

    The greedy adds (or takes away) one state at a time where that saves the most (costs the
    least) bits. A symbol's saving falls (its cost rises) with every state it gets (loses), so
    the steps the greedy takes are the ``|diff|`` best of all steps of all symbols, taken here
    at once: sorted by gain, then by symbol (the heap order of a one-at-a-time greedy, which
    tests/golden/ans/test_tans.py keeps as the reference).
    """
    hist = np.asarray(hist, dtype=np.int64)
    used = np.flatnonzero(hist)
    L = 1 << table_log
    if len(used) == 0:
        raise TansError("cannot build a table for an empty histogram")
    if len(used) > L:
        raise TansError(f"{len(used)} symbols do not fit a table of {L} states")
    h = hist[used]
    c = np.maximum(1, np.round(h * L / h.sum())).astype(np.int64)
    diff = L - int(c.sum())
    if diff:
        n = abs(diff)
        h, c0 = np.repeat(h, n), np.repeat(c, n)
        if diff > 0:    # step j of a symbol: from count c + j to c + j + 1
            step = c0 + np.tile(np.arange(n), len(used))
            key = -h * np.log2((step + 1) / step)
        else:           # from c - j to c - j - 1, while that stays >= 1
            step = c0 - np.tile(np.arange(n), len(used))
            with np.errstate(divide="ignore", invalid="ignore"):
                key = np.where(step > 1, h * np.log2(step / np.maximum(step - 1, 1)), np.inf)
        sym = np.repeat(np.arange(len(used)), n)
        best = np.lexsort((sym, key))[:n]
        if np.isinf(key[best[-1]]):
            raise TansError(f"{len(used)} symbols do not fit a table of {L} states")
        c += np.bincount(sym[best], minlength=len(used)) * (1 if diff > 0 else -1)
    counts = np.zeros(len(hist), np.int64)
    counts[used] = c
    assert counts.sum() == L
    return counts


def check_counts(counts, table_log):
    counts = np.asarray(counts, dtype=np.int64)
    if not TABLE_LOG_MIN <= table_log <= TABLE_LOG_MAX:
        raise TansError(f"table log {table_log} outside {TABLE_LOG_MIN}..{TABLE_LOG_MAX}")
    if len(counts) == 0 or counts.min() < 1 or counts.sum() != 1 << table_log:
        raise TansError(f"counts do not sum to {1 << table_log} with every count >= 1")
    return counts


def spread(counts, table_log):
    """Symbol of every state: FSE's spread, step ``L/2 + L/8 + 3`` modulo ``L``."""
    counts = check_counts(counts, table_log)
    return _spread(counts, table_log)


@njit(cache=True, nogil=True)
def _spread(counts, table_log):
    L = 1 << table_log
    step = (L >> 1) + (L >> 3) + 3
    symbols = np.empty(L, np.int64)
    pos = 0
    for s in range(len(counts)):
        for _ in range(counts[s]):
            symbols[pos] = s
            pos = (pos + step) & (L - 1)
    return symbols


def decode_table(counts, table_log):
    """Per state ``u``: ``(symbol, nbits, base)`` arrays.

    The occurrences of symbol ``s`` in state order stand for ``x = counts[s] .. 2 counts[s]-1``;
    ``nbits = table_log - floor(log2(x))`` and ``base = (x << nbits) - L``.
    """
    counts = check_counts(counts, table_log)
    return _decode_table(counts, table_log)


@njit(cache=True, nogil=True)
def _decode_table(counts, table_log):
    symbols = _spread(counts, table_log)
    L = 1 << table_log
    nxt = counts.copy()
    nbits = np.empty(L, np.int64)
    base = np.empty(L, np.int64)
    for u in range(L):
        x = nxt[symbols[u]]
        nxt[symbols[u]] += 1
        floor_log2 = 0
        while (x >> (floor_log2 + 1)) > 0:
            floor_log2 += 1
        nbits[u] = table_log - floor_log2
        base[u] = (x << nbits[u]) - L
    return symbols, nbits, base


def encode_table(counts, table_log):
    """``(start, next_state)``: the encoder moves from ``x`` in ``[c, 2c)`` of symbol ``s`` to
    state ``next_state[start[s] + x - c]``, the inverse of :func:`decode_table`."""
    counts = check_counts(counts, table_log)
    return _encode_table(counts, table_log)


@njit(cache=True, nogil=True)
def _encode_table(counts, table_log):
    symbols = _spread(counts, table_log)
    start = np.zeros(len(counts), np.int64)
    for s in range(1, len(counts)):
        start[s] = start[s - 1] + counts[s - 1]
    nxt = np.empty(1 << table_log, np.int64)
    seen = np.zeros(len(counts), np.int64)
    for u in range(len(symbols)):  # states of s in increasing order have x = c, c+1, ...
        s = symbols[u]
        nxt[start[s] + seen[s]] = u
        seen[s] += 1
    return start, nxt


def cost_bits(hist, counts, table_log):
    """Ideal coded size in bits of a histogram under counts (what tANS approaches)."""
    hist = np.asarray(hist, np.float64)
    used = hist > 0
    return float(-(hist[used] * np.log2(np.asarray(counts)[used] / (1 << table_log))).sum())


# Decoder outcome codes (shared with the hardware's error codes, see hdl/ans/decode/decoder.py).
ERR_OVERRUN = 1   # the pairs need more bits than the body holds
ERR_STATE = 2     # a state is not back at 0 after the last pair
ERR_PADDING = 3   # the bits after the last pair are not zero padding


@njit(cache=True, nogil=True)
def encode_chunk(symbols, extras, sym_width, sym_count, enc_start, enc_next, table_log,
                 n_states, out):
    """Encode one chunk into ``out`` (uint32 words); returns the number of words written.

    ``symbols[i]``, ``extras[i]``: the pair ``i``; ``sym_width[s]``: extra width of symbol s.
    """
    n = len(symbols)
    L = 1 << table_log
    ans_bits = np.empty(n, np.uint32)
    ans_nbits = np.empty(n, np.uint8)
    state = np.zeros(n_states, np.int64)  # offsets; the encoder starts every state at 0
    for i in range(n - 1, -1, -1):
        j = i % n_states
        s = symbols[i]
        c = sym_count[s]
        x = state[j] + L
        b = 0
        while (c >> b) > 1:
            b += 1                       # b = floor(log2(c))
        nb = table_log - b
        if (x >> nb) < c:
            nb -= 1
        ans_bits[i] = x & ((1 << nb) - 1)
        ans_nbits[i] = nb
        state[j] = enc_next[enc_start[s] + (x >> nb) - c]
    # forward: initial states, then per pair the renormalisation bits and the extra bits
    acc = np.uint64(0)
    nacc = 0
    w = 0
    for j in range(n_states):
        acc |= np.uint64(state[j]) << np.uint64(nacc)
        nacc += table_log
        if nacc >= 32:
            out[w] = np.uint32(acc & np.uint64(0xFFFFFFFF))
            w += 1
            acc >>= np.uint64(32)
            nacc -= 32
    for i in range(n):
        for k in range(2):
            if k == 0:
                v, nv = np.uint64(ans_bits[i]), int(ans_nbits[i])
            else:
                v, nv = np.uint64(extras[i]), int(sym_width[symbols[i]])
            while nv > 0:  # at most 32 bits at a time: acc never holds more than 63
                take = min(nv, 32)
                acc |= (v & np.uint64((1 << take) - 1)) << np.uint64(nacc)
                v >>= np.uint64(take)
                nv -= take
                nacc += take
                if nacc >= 32:
                    out[w] = np.uint32(acc & np.uint64(0xFFFFFFFF))
                    w += 1
                    acc >>= np.uint64(32)
                    nacc -= 32
    if nacc > 0:
        out[w] = np.uint32(acc & np.uint64(0xFFFFFFFF))
        w += 1
    return w


@njit(cache=True, nogil=True)
def decode_chunk(body, n_pairs, table_log, n_states, dec_symbol, dec_nbits, dec_base,
                 sym_width, out_symbols, out_extras):
    """Decode one chunk body (uint32 words) into ``out_*[:n_pairs]``.

    Returns 0, or the first ``ERR_*`` the chunk breaks. Reading never goes past the body:
    missing bits read as zero and the overrun is reported.
    """
    total_bits = len(body) * 32
    pos = 0
    state = np.zeros(n_states, np.int64)
    overrun = False
    i = u = s = 0
    for j in range(n_states + n_pairs):
        if j < n_states:
            nv = table_log
        else:
            i = j - n_states
            u = state[i % n_states]
            s = dec_symbol[u]
            nv = dec_nbits[u]
        # read nv bits, then (for pairs) the extra bits
        for k in range(2):
            if k == 1:
                if j < n_states:
                    break
                nv = sym_width[s]
            v = np.uint64(0)
            got = 0
            while got < nv:
                if pos >= total_bits:
                    overrun = True
                    break
                take = min(nv - got, 32 - (pos & 31))
                word = np.uint64(body[pos >> 5]) >> np.uint64(pos & 31)
                v |= (word & np.uint64((1 << take) - 1)) << np.uint64(got)
                got += take
                pos += take
            if j < n_states:
                state[j] = v
            elif k == 0:
                state[i % n_states] = dec_base[u] + np.int64(v)
            else:
                out_symbols[i] = s
                out_extras[i] = v
    if overrun:
        return ERR_OVERRUN
    for j in range(n_states):
        if state[j] != 0:
            return ERR_STATE
    if total_bits - pos >= 32:
        return ERR_PADDING
    if pos < total_bits and (np.uint64(body[pos >> 5]) >> np.uint64(pos & 31)) != 0:
        return ERR_PADDING
    return 0
