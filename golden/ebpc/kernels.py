"""numba kernels of EBPC and of bit-plane compression (BPC) in general.

The same steps as :mod:`golden.ebpc.reference`, on integers instead of bit strings: a bit
writer and a bit reader over byte arrays (MSB first), the ZNZ run-length coder, and one BPC
block coder parametrised by word width, block size and symbol variant, which serves both EBPC
(8-bit words, blocks of 8, the 'paper' symbols) and Kim et al.'s BPC (32-bit words, blocks of
32, the 'baseline' symbols, :mod:`golden.ebpc.bpc`).

Each kernel returns a status (0, or an :class:`~golden.ebpc.errors.Error` value) and where it
stopped; the Python wrappers turn that into an exception. With ``NUMBA_DISABLE_JIT=1`` they run
as the plain Python they are written in.
"""

import numpy as np
from numba import njit

__all__ = ["zrle_encode", "zrle_decode", "bpc_encode", "bpc_decode", "PAPER", "BASELINE"]

#: Symbol variants: 'paper' (EBPC: one zero plane ``01``, a run ``001`` + log2(word bits)) and
#: 'baseline' (Kim et al.: one zero plane ``001``, a run ``01`` + log2(block)).
PAPER, BASELINE = 0, 1

# status codes (the values of golden.ebpc.errors.Error)
_OK, _TRUNCATED, _TRAILING, _PADDING, _SYMBOL = 0, 7, 8, 3, 11


@njit(cache=True)
def _put(out, state, value, nbits):
    """Append the low ``nbits`` (<= 32) of ``value``; ``state`` = [byte position, accumulator,
    bits in the accumulator]."""
    acc = (state[1] << nbits) | (value & ((1 << nbits) - 1))
    n = state[2] + nbits
    pos = state[0]
    while n >= 8:
        n -= 8
        out[pos] = (acc >> n) & 0xFF
        pos += 1
    state[0] = pos
    state[1] = acc & ((1 << n) - 1)
    state[2] = n


@njit(cache=True)
def _flush(out, state):
    if state[2]:
        out[state[0]] = (state[1] << (8 - state[2])) & 0xFF
        state[0] += 1
        state[1] = 0
        state[2] = 0


@njit(cache=True)
def _get(data, pos, nbits):
    """The ``nbits`` (<= 32) at bit ``pos`` of ``data`` (the caller checks they exist)."""
    v = 0
    for i in range(nbits):
        p = pos + i
        v = (v << 1) | ((np.int64(data[p >> 3]) >> (7 - (p & 7))) & 1)
    return v


# ---------------------------------------------------------------------------------- ZNZ stream

@njit(cache=True)
def zrle_encode(values, run_max, run_bits, out):
    """ZNZ stream of ``values`` into ``out`` (at least ``5 * len(values) / 8 + 1`` bytes with
    the defaults); returns the byte count."""
    state = np.zeros(3, np.int64)
    run = 0
    for v in values:
        if v == 0:
            run += 1
            if run == run_max:
                _put(out, state, run_max - 1, 1 + run_bits)
                run = 0
        else:
            if run:
                _put(out, state, run - 1, 1 + run_bits)
                run = 0
            _put(out, state, 1, 1)
    if run:
        _put(out, state, run - 1, 1 + run_bits)
    _flush(out, state)
    return state[0]


@njit(cache=True)
def zrle_decode(data, n, run_bits, flags):
    """Flags (1: non-zero) of ``n`` values into ``flags``; returns ``(status, bit position,
    value index, non-zero count)``. The end checks (padding, trailing bytes) are done here."""
    total = data.size * 8
    pos = 0
    i = 0
    nonzero = 0
    while i < n:
        if pos >= total:
            return _TRUNCATED, pos, i, nonzero
        if _get(data, pos, 1):
            flags[i] = 1
            nonzero += 1
            i += 1
            pos += 1
            continue
        if pos + 1 + run_bits > total:
            return _TRUNCATED, pos, i, nonzero
        run = _get(data, pos + 1, run_bits) + 1
        if i + run > n:
            return _TRAILING, pos, i, nonzero
        for k in range(run):
            flags[i + k] = 0
        i += run
        pos += 1 + run_bits
    if total - pos >= 8:
        return _TRAILING, pos, i, nonzero
    if total > pos and _get(data, pos, total - pos) != 0:
        return _PADDING, pos, i, nonzero
    return _OK, pos, i, nonzero


# ---------------------------------------------------------------------------------- BPC blocks

@njit(cache=True)
def _log2(x):
    b = 0
    while (1 << b) < x:
        b += 1
    return b


@njit(cache=True)
def _zero_run(out, state, run, variant, run_field):
    if variant == PAPER:
        if run == 1:
            _put(out, state, 0b01, 2)
        else:
            _put(out, state, (0b001 << run_field) | (run - 2), 3 + run_field)
    else:
        if run == 1:
            _put(out, state, 0b001, 3)
        else:
            _put(out, state, (0b01 << run_field) | (run - 2), 2 + run_field)


@njit(cache=True)
def bpc_encode(words, width, block, variant, base_bits, out):
    """BPC of ``words`` (int64, a multiple of ``block`` of them, each ``width`` bits two's
    complement or unsigned) into ``out``; returns the byte count. ``base_bits``: the width the
    base word is stored in (``width``). Bound: ``blocks * (base_bits + (width + 1) * block) / 8``
    bytes."""
    state = np.zeros(3, np.int64)
    planes = width + 1
    pbits = block - 1
    full = (1 << pbits) - 1
    pos_bits = _log2(block)
    run_field = _log2(width) if variant == PAPER else _log2(block)
    dmask = (1 << planes) - 1
    dbp = np.zeros(planes, np.int64)
    for b0 in range(0, words.size, block):
        _put(out, state, words[b0], base_bits)
        for j in range(planes):
            dbp[j] = 0
        for k in range(1, block):
            d = (words[b0 + k] - words[b0 + k - 1]) & dmask
            for j in range(planes):
                dbp[j] = (dbp[j] << 1) | ((d >> (planes - 1 - j)) & 1)
        zeros = 0
        for j in range(planes - 1, -1, -1):
            dbx = dbp[j] if j == planes - 1 else dbp[j] ^ dbp[j + 1]
            if dbx == 0:
                zeros += 1
                continue
            if zeros:
                _zero_run(out, state, zeros, variant, run_field)
                zeros = 0
            if dbx == full:
                _put(out, state, 0b00000, 5)
                continue
            if dbp[j] == 0:
                _put(out, state, 0b00001, 5)
                continue
            top = 0                      # bit index of the highest one
            x = dbx
            while x > 1:
                x >>= 1
                top += 1
            first = pbits - 1 - top      # its position, MSB = 0
            rest = dbx ^ (1 << top)
            if rest == 0:
                _put(out, state, (0b00011 << pos_bits) | first, 5 + pos_bits)
            elif top > 0 and rest == (1 << (top - 1)):
                _put(out, state, (0b00010 << pos_bits) | first, 5 + pos_bits)
            else:
                _put(out, state, 1, 1)
                _put(out, state, dbx, pbits)
        if zeros:
            _zero_run(out, state, zeros, variant, run_field)
    _flush(out, state)
    return state[0]


@njit(cache=True)
def bpc_decode(data, blocks, width, block, variant, base_bits, words):
    """Decode ``blocks`` blocks into ``words`` (int64, ``width`` bits, unsigned); returns
    ``(status, bit position, block index)``, end checks included."""
    total = data.size * 8
    planes = width + 1
    pbits = block - 1
    pos_bits = _log2(block)
    run_field = _log2(width) if variant == PAPER else _log2(block)
    wmask = (1 << width) - 1
    dbp = np.zeros(planes, np.int64)
    pos = 0
    for b in range(blocks):
        if pos + base_bits > total:
            return _TRUNCATED, pos, b
        base = _get(data, pos, base_bits)
        pos += base_bits
        j = planes - 1
        below = 0
        while j >= 0:
            # the longest prefix is 5 bits; a symbol is read bit by bit so that a stream cut
            # inside it is found wherever it ends
            if pos >= total:
                return _TRUNCATED, pos, b
            if _get(data, pos, 1):
                if pos + 1 + pbits > total:
                    return _TRUNCATED, pos, b
                below ^= _get(data, pos + 1, pbits)
                dbp[j] = below
                pos += 1 + pbits
                j -= 1
                continue
            if pos + 2 > total:
                return _TRUNCATED, pos, b
            # paper: 01 one zero plane, 001 + field a run; baseline: 001 and 01 + field
            p2 = _get(data, pos, 2)
            p3 = _get(data, pos, 3) if pos + 3 <= total else -1
            run = 0
            run_at = -1                      # where a run's length field starts
            if p2 == 0b01:
                if variant == PAPER:
                    run, pos = 1, pos + 2
                else:
                    run_at = pos + 2
            elif p3 == -1:
                return _TRUNCATED, pos, b
            elif p3 == 0b001:
                if variant == PAPER:
                    run_at = pos + 3
                else:
                    run, pos = 1, pos + 3
            if run_at >= 0:
                if run_at + run_field > total:
                    return _TRUNCATED, pos, b
                run, pos = _get(data, run_at, run_field) + 2, run_at + run_field
            if run:
                if run > j + 1:
                    return _SYMBOL, pos, b
                for _ in range(run):
                    dbp[j] = below
                    j -= 1
                continue
            if pos + 5 > total:
                return _TRUNCATED, pos, b
            kind = _get(data, pos, 5)
            pos += 5
            if kind == 0b00000:
                below ^= (1 << pbits) - 1
            elif kind == 0b00001:
                below = 0
            else:
                if pos + pos_bits > total:
                    return _TRUNCATED, pos - 5, b
                p = _get(data, pos, pos_bits)
                pos += pos_bits
                ones = 2 if kind == 0b00010 else 1
                if p > pbits - ones:
                    return _SYMBOL, pos, b
                below ^= ((1 << ones) - 1) << (pbits - ones - p)
            dbp[j] = below
            j -= 1
        x = base
        words[b * block] = x & wmask
        for k in range(1, block):
            d = 0
            for j in range(planes):
                d = (d << 1) | ((dbp[j] >> (block - 1 - k)) & 1)
            x = (x + d) & wmask
            words[b * block + k] = x
    if total - pos >= 8:
        return _TRAILING, pos, blocks
    if total > pos and _get(data, pos, total - pos) != 0:
        return _PADDING, pos, blocks
    return _OK, pos, blocks
