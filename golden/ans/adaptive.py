"""Adaptive tables: a table rebuilt from a code histogram, for statistics that change at run time.

The hardware's :class:`~hdl.ans.encode.histogram.CodeHistogram` counts the codes of a stream over a window;
software reads the counts, builds the table for the next window with :func:`rebuild_table` and
writes it to the encoder and the decoder (:meth:`~golden.ans.codec.Table.image`). The table must code
whatever comes next, not just the codes seen: codes that had no count go through the escape
symbol. :class:`AdaptiveCoder` is that loop on a sequence of blocks (tensors, or windows of one
activation stream), each coded with the table of the previous block's histogram.
"""

import numpy as np

from ..format.fields import TABLE_LOG_MAX, TABLE_LOG_MIN
from . import codec, tans

__all__ = ["rebuild_table", "AdaptiveCoder"]


def rebuild_table(counts, codebook, table_log=codec.DEFAULT_TABLE_LOG, *, escape=True):
    """A table for the codes that follow a histogram; it codes every code of the code book.

    Among the alphabets :func:`golden.ans.codec.choose_table` considers (every code counted, or the
    most frequent ones), takes the one that codes ``counts`` in the fewest bits (the table is
    written to the hardware, not sent with the data: its description is not counted). Codes
    without a symbol of their own, counted or not, go through the escape symbol, which has at
    least 1 state even if ``counts`` do not need it. An all-zero histogram (no statistics yet)
    gives every code the same count (if they fit the table; else the escape takes the rest).
    Saturated hardware counts are taken as they are.

    Parameters
    ----------
    counts : array_like of int
        Count of every code, as :class:`~hdl.ans.encode.histogram.CodeHistogram` gives them: at least
        ``codebook.n_codes`` entries (``2**code_bits`` from the hardware); the entries beyond the
        code book must be 0.
    codebook : CodeBook
    table_log : int
        Table log of the table (fixed: the one the hardware is built for).
    escape : bool
        If False, every code of the code book gets a symbol of its own (at least one state each,
        ``codebook.n_codes <= 2**table_log``), and the table has no escape symbol.

    Returns
    -------
    Table
    """
    counts = np.asarray(counts)
    n = codebook.n_codes
    if counts.ndim != 1 or len(counts) < n:
        raise ValueError(f"counts must be a vector of at least {n} counts")
    counts = counts.astype(np.int64)
    if counts.size and counts.min() < 0:
        raise ValueError("counts must not be negative")
    if counts[n:].any():
        raise ValueError(f"codes {n} and above are not in code book {codebook.name}")
    if not TABLE_LOG_MIN <= table_log <= TABLE_LOG_MAX:
        raise ValueError(f"table log must be {TABLE_LOG_MIN} .. {TABLE_LOG_MAX}")
    L = 1 << table_log
    hist = counts[:n]
    flat = not hist.any()
    if flat:
        hist = np.ones(n, np.int64)
    widths = codebook.widths.astype(np.int64)

    if not escape or (flat and n <= L):
        if n > L:
            raise ValueError(f"{n} codes do not fit a table of {L} states without an escape")
        norm = tans.normalize_counts(np.maximum(hist, 1), table_log)
        return codec.Table(codebook, table_log, tuple(range(n)), tuple(int(c) for c in norm))

    best = None
    # room for the escape symbol beside the alphabet, in case it needs one
    for alphabet, _ in codec._alphabets(hist, L - 1):
        alphabet = list(alphabet)
        sym_hist = hist[alphabet]
        bits = int((sym_hist * widths[alphabet]).sum())
        esc_width = None
        if len(alphabet) < n:
            rest = np.ones(n, bool)
            rest[alphabet] = False
            esc_width = codebook.code_bits + int(widths[rest].max())
            n_esc = int(hist[rest].sum())
            bits += n_esc * esc_width
            sym_hist = np.append(sym_hist, max(n_esc, 1))
        norm = tans.normalize_counts(sym_hist, table_log)
        bits += tans.cost_bits(sym_hist, norm, table_log)
        if best is None or bits < best[0]:
            best = (bits, codec.Table(codebook, table_log, tuple(int(a) for a in alphabet),
                                      tuple(int(c) for c in norm), esc_width))
    return best[1]


class AdaptiveCoder:
    """Codes blocks one after the other, each with the table of the previous block's histogram.

    The first block is coded with the table of a flat histogram (or ``table``). After each block
    the coder rebuilds its table from that block's code histogram: ``counts`` when given (the
    hardware's :class:`~hdl.ans.encode.histogram.CodeHistogram` of the block), else the codes' own
    histogram (what the hardware counts, saturation aside). An encoder and a decoder that see
    the same counts stay in step without a table being sent: :meth:`decode` mirrors
    :meth:`encode`.

    Parameters
    ----------
    codebook : CodeBook
    table_log : int
    escape : bool
        See :func:`rebuild_table`.
    table : Table or None
        Table of the first block.
    chunk_pairs, states :
        See :func:`golden.ans.codec.encode_payload`.

    Members
    -------
    table : Table
        The table the next block is coded with.
    """

    def __init__(self, codebook, table_log=codec.DEFAULT_TABLE_LOG, *, escape=True, table=None,
                 chunk_pairs=codec.DEFAULT_CHUNK_PAIRS, states=codec.DEFAULT_STATES):
        self.codebook = codebook
        self.table_log = table_log
        self.escape = escape
        self.chunk_pairs = chunk_pairs
        self.states = states
        self.table = table if table is not None else \
            rebuild_table(np.zeros(codebook.n_codes, np.int64), codebook, table_log, escape=escape)

    def _advance(self, codes, counts):
        if counts is None:
            counts = np.bincount(codes, minlength=self.codebook.n_codes)
        self.table = rebuild_table(counts, self.codebook, self.table_log, escape=self.escape)

    def encode(self, values, counts=None):
        """Bit patterns of one block -> ``(table, payload)``; the table is the one it was coded
        with (the decoder's, see :func:`golden.ans.codec.decode_payload`)."""
        codes, extras = self.codebook.encode(np.asarray(values).ravel())
        codes = codes.astype(np.int64)
        table = self.table
        payload = codec.encode_payload(table, codes, extras, chunk_pairs=self.chunk_pairs,
                                       states=self.states)
        self._advance(codes, counts)
        return table, payload

    def decode(self, payload, n_values, counts=None):
        """Payload of one block -> its bit patterns, with the table of the previous block."""
        codes, extras = codec.decode_payload(self.table, payload, n_values)
        self._advance(codes, counts)
        return self.codebook.decode(codes, extras)
