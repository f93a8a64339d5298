"""EBPC (Extended Bit-Plane Compression) of 8-bit feature maps, bit-compatible with stream-ebpc.

Cavigelli, Rutishauser and Benini, "EBPC: Extended Bit-Plane Compression for Deep Neural Network
Inference and Training Accelerators" (IEEE JETCAS 2019); the format is the one the encoder RTL
of pulp-platform/stream-ebpc emits with its defaults (``DATA_W = 8``, ``BLOCK_SIZE = 8``,
``LOG_MAX_ZRLE_LEN = 4``), specified in docs/ebpc.md::

    bpc, znz = ebpc.encode(values)      # values: 1-D np.int8 (a uint8 map viewed as int8)
    values = ebpc.decode(bpc, znz, n)   # the n values back

``znz`` is the zero/non-zero stream (zero runs of up to 16 coded in 5 bits, a non-zero value in
one), ``bpc`` the bit-plane code of the non-zero values (zero-padded to a multiple of 8, blocks
of 8). Both are ``np.uint8`` arrays of the words the RTL emits on its two output streams, bits
MSB first, the last word zero-padded. :func:`sizes` gives the two lengths without keeping the
streams. Bad input raises :class:`EbpcError` (with an :class:`Error` code for a stream that does
not decode).

The kernels are numba (:mod:`golden.ebpc.kernels`); :mod:`golden.ebpc.reference` is the same
format written on bit strings, for reading and for the tests. Kim et al.'s bit-plane compression
of 32-bit words, for float data, is :mod:`golden.ebpc.bpc`.
"""

import numpy as np

from . import kernels
from .errors import EbpcError, Error

__all__ = ["encode", "decode", "sizes", "EbpcError", "Error",
           "DATA_BITS", "BLOCK", "RUN_MAX"]

DATA_BITS = 8       #: bits of a value (stream-ebpc's DATA_W)
BLOCK = 8           #: values per BPC block (BLOCK_SIZE)
RUN_MAX = 16        #: longest zero run of one ZNZ symbol (2 ** LOG_MAX_ZRLE_LEN)
_RUN_BITS = 4


def _values(values):
    if not isinstance(values, np.ndarray):
        raise EbpcError(None, None, f"values must be a numpy array of int8, not "
                                    f"{type(values).__name__}")
    if values.dtype != np.int8:
        raise EbpcError(None, None, f"values must be int8 (view a uint8 map as int8), not "
                                    f"{values.dtype}")
    if values.ndim != 1:
        raise EbpcError(None, None, f"values must be 1-D, not {values.ndim}-D (ravel the map "
                                    f"in the order it is streamed)")
    return np.ascontiguousarray(values)


def _nonzero_padded(values):
    nonzero = values[values != 0].astype(np.int64)
    return np.concatenate([nonzero, np.zeros(-len(nonzero) % BLOCK, np.int64)])


def encode(values):
    """``(bpc, znz)``: the two EBPC streams of ``values`` (1-D ``np.int8``), as ``np.uint8``
    arrays of stream words."""
    values = _values(values)
    znz = np.zeros(5 * len(values) // 8 + 1, np.uint8)
    znz = znz[:kernels.zrle_encode(values, RUN_MAX, _RUN_BITS, znz)]
    words = _nonzero_padded(values)
    bpc = np.zeros(len(words) // BLOCK * (DATA_BITS + (DATA_BITS + 1) * BLOCK) // 8 + 1,
                   np.uint8)
    bpc = bpc[:kernels.bpc_encode(words, DATA_BITS, BLOCK, kernels.PAPER, DATA_BITS, bpc)]
    return bpc, znz


def sizes(values):
    """``(bpc words, znz words)`` of :func:`encode` ``(values)``; the ratio of a map is
    ``len(values) / sum(sizes(values))``."""
    bpc, znz = encode(values)
    return len(bpc), len(znz)


def _stream(data, name):
    if isinstance(data, (bytes, bytearray, memoryview)):
        return np.frombuffer(data, np.uint8)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 1:
        raise EbpcError(None, name, f"the {name} stream must be a 1-D np.uint8 array of words")
    return np.ascontiguousarray(data)


_WHAT = {
    Error.TRUNCATED: "ends early",
    Error.TRAILING: "goes on after the last value",
    Error.PADDING: "has padding bits that are not zero",
    Error.SYMBOL: "has a symbol that no encoder writes",
}


def decode(bpc, znz, n):
    """The ``n`` values (``np.int8``) that the streams ``bpc`` and ``znz`` (``np.uint8``
    arrays or bytes) encode. Raises :class:`EbpcError` if they do not decode to exactly ``n``
    values: the ZNZ stream is checked first, then the BPC blocks the non-zero values need, then
    the values (:class:`Error` says in which order)."""
    bpc, znz = _stream(bpc, "bpc"), _stream(znz, "znz")
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise EbpcError(None, None, f"n must be a count of values, not {n!r}")
    n = int(n)
    flags = np.zeros(n, np.uint8)
    status, pos, index, nonzero = kernels.zrle_decode(znz, n, _RUN_BITS, flags)
    if status:
        code = Error(status)
        detail = (f"a zero run at value {index} passes n = {n}"
                  if code == Error.TRAILING and index < n else f"at bit {pos}, value {index}")
        raise EbpcError(code, "znz", f"the znz stream {_WHAT[code]} ({detail})")
    blocks = -(-nonzero // BLOCK)
    words = np.zeros(blocks * BLOCK, np.int64)
    status, pos, block = kernels.bpc_decode(bpc, blocks, DATA_BITS, BLOCK, kernels.PAPER,
                                            DATA_BITS, words)
    if status:
        code = Error(status)
        raise EbpcError(code, "bpc", f"the bpc stream {_WHAT[code]} (block {block} of "
                                     f"{blocks}, bit {pos})")
    decoded = words.astype(np.uint8).view(np.int8)
    mask = flags.astype(bool)
    if nonzero and not decoded[:nonzero].all():
        first = int(np.flatnonzero(mask)[np.flatnonzero(decoded[:nonzero] == 0)[0]])
        raise EbpcError(Error.VALUE, "bpc", f"value {first} is marked non-zero in the znz "
                                            f"stream but decodes to 0")
    if decoded[nonzero:].any():
        raise EbpcError(Error.VALUE, "bpc", "the zero padding of the last bpc block decodes "
                                            "to non-zero values")
    out = np.zeros(n, np.int8)
    out[mask] = decoded[:nonzero]
    return out
