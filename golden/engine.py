"""The compute engines' arithmetic, bit for bit: what :mod:`hdl.engine` computes from the
decompressed weights (docs/integration.md, "Engines").

Both engines compute, for every row ``r`` of a weight matrix streamed row by row (``cols``
weights a row, the tensor's order), the dot product of the row with the engine's activation
vector ``x`` (``cols`` values). Weights reach an engine ``lanes`` at a time (one *beat*: columns
``j * lanes .. j * lanes + lanes - 1``), so the order of the sums is fixed by ``lanes``.

**bf16 engine** (:func:`bf16_matvec`): bf16 weights and activations, fp32 results.

* Products (:func:`bf16_mul`): the exact product of two bf16 values, as fp32. Exact because two
  8-bit significands make at most 16 bits, and fp32 holds 24; the exponent range is the same, so
  a product is exact unless its magnitude is out of fp32's normal range: at ``2**128`` or more it
  is an infinity, below ``2**-126`` a zero (flush to zero). Subnormal inputs count as zeros of
  their sign (denormals are zero). The sign is the XOR of the signs; infinity times zero is NaN.
* Sums (:func:`fp32_add`): IEEE 754 binary32 addition, round to nearest even, with subnormal
  inputs read as zeros and a result below ``2**-126`` in magnitude flushed to the zero of its
  sign (with normal inputs such a result is exact, so it does not matter whether the flush comes
  before or after rounding); ``x + (-x)`` is ``+0``, ``-0 + -0`` is ``-0``; an overflow is an
  infinity, ``inf - inf`` NaN.
* NaN: every NaN result is the canonical quiet NaN ``0x7FC00000``, whatever the inputs' payloads.
* Order: a beat's ``lanes`` products are summed as a pairwise tree (:func:`tree_sum`: products
  0+1, 2+3, ..., then those pairs' sums, an odd one out passed up unchanged); a row's beat sums
  go round ``slots`` partial sums (beat ``j`` adds into partial ``j mod slots``, each starting at
  ``+0``: the first add of a partial is ``+0 + beat sum``); the row's result is the pairwise
  tree of its ``slots`` partials (``+0`` for those no beat reached). ``slots`` is the engine's
  accumulator depth (:data:`SLOTS`): the hardware's adder takes several cycles, and the partials
  let a beat enter every clock.
* A tensor whose size is not a multiple of ``cols`` ends with a short row: its missing weights
  are products of ``+0`` (the rest of its last beat) and beats that do not exist (their partials
  stay ``+0``).

**Fixed-point engine** (:func:`fixed_matvec`): the weights go through
:func:`golden.fixed.bf16_to_fixed` (``width``, ``frac``), the activations are integers; each
row's result is the exact integer sum of the products, which no order changes (the hardware's
accumulator is wide enough for ``cols_max`` products).
"""

import numpy as np

from . import fixed

__all__ = ["SLOTS", "CANONICAL_NAN", "bf16_mul", "fp32_add", "tree_sum", "bf16_matvec",
           "fixed_matvec", "rows_of"]

#: Partial sums of a row (the bf16 engine's accumulator slots).
SLOTS = 4
#: The NaN every NaN result is.
CANONICAL_NAN = 0x7FC00000

_EXP, _MAN = np.uint32(0x7F800000), np.uint32(0x007FFFFF)
_SIGN = np.uint32(0x80000000)


def _daz(bits):
    """fp32 bit patterns with subnormals replaced by zeros of their sign."""
    bits = np.asarray(bits, np.uint32)
    return np.where((bits & _EXP) == 0, bits & _SIGN, bits).astype(np.uint32)


def _is_nan(bits):
    return ((bits & _EXP) == _EXP) & ((bits & _MAN) != 0)


def bf16_mul(a, b):
    """Exact products of bf16 bit patterns (uint16) as fp32 bit patterns (uint32); see the
    module's rules."""
    a = np.asarray(a).astype(np.int64)
    b = np.asarray(b).astype(np.int64)
    sign = ((a ^ b) >> 15) & 1
    ea, eb = (a >> 7) & 0xFF, (b >> 7) & 0xFF
    ma, mb = a & 0x7F, b & 0x7F
    nan = ((ea == 255) & (ma != 0)) | ((eb == 255) & (mb != 0))
    inf = (ea == 255) | (eb == 255)
    zero = (ea == 0) | (eb == 0)
    nan |= inf & zero
    p = (128 | ma) * (128 | mb)             # 2**14 .. 2**16 - 1
    carry = p >> 15
    exp = ea + eb - 127 + carry
    man = np.where(carry == 1, (p & 0x7FFF) << 8, (p & 0x3FFF) << 9)
    out = (sign << 31) | (np.clip(exp, 0, 255) << 23) | man
    out = np.where(exp >= 255, (sign << 31) | 0x7F800000, out)
    out = np.where(exp <= 0, sign << 31, out)
    out = np.where(zero, sign << 31, out)
    out = np.where(inf, (sign << 31) | 0x7F800000, out)
    out = np.where(nan, CANONICAL_NAN, out)
    return out.astype(np.uint32)


def fp32_add(a, b):
    """fp32 sums of fp32 bit patterns (uint32), round to nearest even; see the module's rules."""
    a, b = _daz(a), _daz(b)
    with np.errstate(all="ignore"):
        r = (a.view(np.float32) + b.view(np.float32)).view(np.uint32)
    r = _daz(r)                             # a subnormal sum is exact: flush it
    return np.where(_is_nan(r), np.uint32(CANONICAL_NAN), r).astype(np.uint32)


def tree_sum(values):
    """The pairwise tree of a list of fp32 arrays: 0+1, 2+3, ..., an odd last passed up."""
    values = list(values)
    while len(values) > 1:
        values = [fp32_add(values[i], values[i + 1]) if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]
    return values[0]


def rows_of(n_values, cols):
    """Rows of a tensor of ``n_values`` weights, ``cols`` a row (the last may be short)."""
    return -(-n_values // cols)


def _bf16_rows(w, x, lanes, slots):
    """Results of full rows ``w`` (rows x cols bf16, cols a multiple of lanes) and of x."""
    rows, cols = w.shape
    beats = cols // lanes
    prods = bf16_mul(w, x[None, :cols]).reshape(rows, beats, lanes)
    beat_sums = tree_sum([prods[:, :, i] for i in range(lanes)])     # rows x beats
    zero = np.zeros(rows, np.uint32)
    partial = [zero.copy() for _ in range(slots)]
    for j in range(beats):
        partial[j % slots] = fp32_add(partial[j % slots], beat_sums[:, j])
    return tree_sum(partial)


def bf16_matvec(weights, x, cols, lanes, slots=SLOTS):
    """The bf16 engine's results (fp32 bit patterns, one per row) for ``weights`` (bf16 bit
    patterns in the tensor's order, rows of ``cols``) and activations ``x`` (``cols`` bf16
    bit patterns); ``cols`` a multiple of ``lanes``."""
    weights = np.asarray(weights, np.uint16).ravel()
    x = np.asarray(x, np.uint16).ravel()
    if cols % lanes or len(x) != cols:
        raise ValueError(f"cols ({cols}) must be a multiple of lanes ({lanes}) and x's length")
    full = len(weights) // cols
    out = [_bf16_rows(weights[:full * cols].reshape(full, cols), x, lanes, slots)]
    rest = len(weights) - full * cols
    if rest:
        n = -(-rest // lanes) * lanes       # the short row's beats; the rest of its last is 0
        w = np.zeros((1, n), np.uint16)
        w[0, :rest] = weights[full * cols:]
        beats = n // lanes
        prods = bf16_mul(w, x[None, :n])
        prods[0, rest:] = 0                 # (+0 products, not 0 * x)
        prods = prods.reshape(1, beats, lanes)
        beat_sums = tree_sum([prods[:, :, i] for i in range(lanes)])
        partial = [np.zeros(1, np.uint32) for _ in range(slots)]
        for j in range(beats):
            partial[j % slots] = fp32_add(partial[j % slots], beat_sums[:, j])
        out.append(tree_sum(partial))
    return np.concatenate(out).astype(np.uint32)


def fixed_matvec(weights, x, cols, width, frac):
    """The fixed-point engine's results (int64, one per row): the exact sums of
    ``bf16_to_fixed(weights, width, frac) * x`` over each row; ``x`` holds ``cols`` integers."""
    q = fixed.bf16_to_fixed(np.asarray(weights, np.uint16).ravel(), width, frac)
    x = np.asarray(x, np.int64).ravel()
    rows = rows_of(len(q), cols)
    padded = np.zeros(rows * cols, np.int64)
    padded[:len(q)] = q
    return (padded.reshape(rows, cols) * x[None, :]).sum(axis=1)
