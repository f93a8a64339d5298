"""Bit-plane compression (BPC; Kim, Sullivan, Choukse and Erez, ISCA 2016) of 32-bit words.

A block of 32 words is coded as: its first word (the base) in 32 bits; the 31 differences of
consecutive words as 33-bit two's complement numbers; their 33 bit planes (31 bits each, the
first difference in the MSB), each XORed with the plane below it but the least significant,
coded from the least significant plane up with the 'baseline' symbols of the EBPC authors'
implementation (docs/ebpc.md, "BPC of 32-bit words"): one zero plane ``001``, a run of 2..33
zero planes ``01`` + 5 bits, all ones ``00000``, a zero delta plane ``00001``, two adjacent
ones ``00010`` + 5 bits, a single one ``00011`` + 5 bits, else ``1`` + the 31 bits. Blocks
follow each other without padding; the stream is padded to a whole byte at its end, and the
words to a whole block with zeros.

16-bit data (bf16, fp16) is packed two values to a word as a 32-bit little-endian load of the
tensor's memory sees it: word ``i = x[2i] | x[2i + 1] << 16`` (an odd count gets a zero
value last). fp32 values are their own words. The same coder with 8-bit words in blocks of 8
is the 'BPC' of the EBPC paper's comparisons (:func:`encode_bytes`).
"""

import numpy as np

from . import kernels
from .errors import EbpcError, Error

__all__ = ["words32", "encode", "decode", "encode_bytes", "ratio"]

WORD_BITS = 32
BLOCK = 32


def words32(values):
    """The 32-bit words of ``values``: fp32 / 32-bit as they are, 16-bit values in pairs."""
    values = np.ascontiguousarray(values)
    if values.dtype.itemsize == 4:
        return values.reshape(-1).view(np.uint32)
    if values.dtype.itemsize == 2:
        x = values.reshape(-1).view(np.uint16)
        if len(x) % 2:
            x = np.append(x, np.uint16(0))
        return x.view("<u4")
    raise EbpcError(None, None, f"BPC takes 16- or 32-bit values, not {values.dtype}")


def _padded(words, block):
    return np.concatenate([words.astype(np.int64), np.zeros(-len(words) % block, np.int64)])


def encode(values):
    """The BPC stream (``np.uint8``) of ``values`` (fp32, bf16, fp16 or any 16/32-bit type)."""
    words = _padded(words32(values), BLOCK)
    out = np.zeros(len(words) // BLOCK * (WORD_BITS + (WORD_BITS + 1) * BLOCK) // 8 + 1,
                   np.uint8)
    return out[:kernels.bpc_encode(words, WORD_BITS, BLOCK, kernels.BASELINE, WORD_BITS, out)]


def decode(stream, n_words):
    """The first ``n_words`` 32-bit words (``np.uint32``) of a BPC stream."""
    blocks = -(-n_words // BLOCK)
    words = np.zeros(blocks * BLOCK, np.int64)
    status, pos, block = kernels.bpc_decode(np.asarray(stream, np.uint8), blocks, WORD_BITS,
                                            BLOCK, kernels.BASELINE, WORD_BITS, words)
    if status:
        raise EbpcError(Error(status), "bpc", f"the BPC stream does not decode "
                                              f"({Error(status).name}, block {block}, bit {pos})")
    return words[:n_words].astype(np.uint32)


def encode_bytes(values):
    """BPC of 8-bit values (``int8`` or ``uint8``) in blocks of 8, the 'baseline' symbols
    (3-bit positions and run lengths), the values zero-padded to a whole block: the 'BPC' that
    the EBPC paper compares with."""
    words = _padded(np.asarray(values).view(np.int8), 8)
    out = np.zeros(len(words) // 8 * (8 + 9 * 8) // 8 + 1, np.uint8)
    return out[:kernels.bpc_encode(words, 8, 8, kernels.BASELINE, 8, out)]


def ratio(values):
    """Raw bytes over BPC bytes of 16/32-bit ``values``."""
    return np.asarray(values).nbytes / len(encode(values))
