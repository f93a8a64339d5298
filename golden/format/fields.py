"""Bit layouts shared by the golden model, the hardware and the test benches, declared once.

Each layout is a class of ``name: width`` annotations whose fields pack LSB first, in order.
The golden model packs and unpacks numpy arrays and integers with :func:`pack` /
:func:`unpack` / :func:`pack_int` / :func:`unpack_int`, straight from these declarations (no
Amaranth import: the command-line tool starts without it); :mod:`golden.format.layouts` turns
every one into the Amaranth ``data.Struct`` of the same name that the hardware uses as stream
payload and memory shape. A change of layout here changes all three together.
"""

import numpy as np

__all__ = [
    "CHUNK_MAGIC", "CHUNK_HEADER_WORDS", "TABLE_LOG_MIN", "TABLE_LOG_MAX", "Fields",
    "ChunkHeader", "DecodeEntry", "TableConfig", "EncodeCode", "EncodeSymbol",
    "ENC_NEXT_BASE", "ENC_CODE_BASE", "ENC_SYMBOL_BASE", "ImageHeader", "LAYOUTS",
    "pack", "unpack", "pack_int", "unpack_int",
]

#: Value of :attr:`ChunkHeader.magic`.
CHUNK_MAGIC = 0xA5
#: Number of 32-bit words of a chunk header.
CHUNK_HEADER_WORDS = 3
#: Smallest and largest table log the format allows (table size ``L = 1 << table_log``).
TABLE_LOG_MIN, TABLE_LOG_MAX = 8, 12

#: Every layout by name, in declaration order.
LAYOUTS = {}


class Fields:
    """Base of a layout declaration: the class body's annotations are its fields and widths.

    Members (of every subclass)
    ---------------------------
    widths : dict of str to int
        Width of every field, in order (LSB first).
    offsets : dict of str to (int, int)
        ``(offset, width)`` of every field.
    size : int
        Width of the whole layout in bits.
    """
    widths = offsets = size = None

    def __init_subclass__(cls):
        cls.widths = dict(cls.__annotations__)
        cls.offsets, offset = {}, 0
        for name, width in cls.widths.items():
            cls.offsets[name] = (offset, int(width))
            offset += int(width)
        cls.size = offset
        LAYOUTS[cls.__name__] = cls


class ChunkHeader(Fields):
    """Three little-endian 32-bit words in front of every chunk body (see docs/format.md)."""
    # word 0
    pairs_minus_1:    18  # pairs in the chunk, minus one (1 .. 262144 pairs)
    table_log_minus_8: 3  # table log of the tensor's table, minus 8 (0 .. 4)
    states_log2:       2  # interleaved ANS states: 1, 2 or 4
    last:              1  # last chunk of its tensor
    magic:             8  # CHUNK_MAGIC
    # word 1
    body_words:       32  # length of the body in 32-bit words
    # word 2
    body_crc:         32  # CRC-32 (ISO-HDLC, as zlib.crc32) of the body bytes


class DecodeEntry(Fields):
    """One decode-table entry, as written through the decoder's table port (address 1 + u).

    Decoding from state ``u`` emits ``code`` (or, for the escape symbol, a raw code), reads
    ``total`` bits: ``nbits`` renormalisation bits ``b``, then ``total - nbits`` extra bits, and
    moves to state ``base + b``. (``total`` rather than the extra width is stored so that the
    number of bits consumed comes straight out of the table: the decoder's fastest loop.)
    """
    base:    12  # next state before the renormalisation bits are added
    nbits:    4  # renormalisation bits read by this step (0 .. 12)
    total:    6  # all bits read by this step: nbits + extra width (63: more than any lane reads)
    escape:   1  # this is the escape symbol: the low `code_bits` extra bits are the code
    code:     9  # the code this symbol stands for (0 for the escape symbol)


class TableConfig(Fields):
    """Word at address 0 of the decoder's table port: how to read the entries that follow."""
    table_log:  4  # 8 .. 12
    code_bits:  4  # width of a raw code in an escape's extra bits
    codebook:   8  # code book identifier (golden.format.codebooks.CodeBook.ident)
    reserved:  16


# --- the compressor's table port (hdl/ans/encode/compressor.py); see golden.ans.codec.Table.encoder_image ---

#: Address of the first next-state entry (``ENC_NEXT_BASE + i`` holds ``next_state[i]``).
ENC_NEXT_BASE = 1
#: Address of the code map (``ENC_CODE_BASE + code`` holds the :class:`EncodeCode` of a code).
ENC_CODE_BASE = ENC_NEXT_BASE + (1 << TABLE_LOG_MAX)
#: Address of the symbol entries (``ENC_SYMBOL_BASE + s`` holds the :class:`EncodeSymbol` of s).
ENC_SYMBOL_BASE = ENC_CODE_BASE + 512


class EncodeCode(Fields):
    """How the encoder codes one code: its symbol, and the extra bits that follow it."""
    symbol:  10  # symbol index (the escape symbol for codes without a symbol of their own)
    escape:   1  # the code travels in the escape's extra bits (raw = code | extra << code_bits)
    width:    6  # extra bits written after the symbol (for an escape: code_bits + its width)
    valid:    1  # the table can code this code (0: a coding error)


class EncodeSymbol(Fields):
    """One symbol's encoding parameters (see golden.ans.tans.encode_chunk).

    From state ``x`` in ``[L, 2L)``: ``nbits = shift - (x < count << shift)``, the low ``nbits``
    bits of ``x`` are written, and the next state is ``next_state[offset + (x >> nbits)]`` with
    the addition modulo ``2**13`` (``offset = start - count``).
    """
    offset:  13
    count:   13
    shift:    4


class ImageHeader(Fields):
    """The first 8 words of a tensor's memory image (golden.format.image; fields of 32 bits,
    word 0 first). Software reads it; the system's reader gets the parts' addresses instead."""
    magic:          32  # golden.format.image.IMAGE_MAGIC
    table_words:    32  # words of the table image (1 + 2**table_log)
    chunks:         32  # chunks of the payload
    values:         32  # values of the tensor
    chunk_pairs:    32  # pairs of every chunk but the last
    table_offset:   32  # word offset of the table from the image's base (8)
    index_offset:   32  # word offset of the chunk index
    payload_offset: 32  # word offset of the payload


def _offsets(layout):
    """``{field: (offset, width)}`` of a declaration, or of its Amaranth struct (same name)."""
    if isinstance(layout, type) and issubclass(layout, Fields):
        return layout.offsets
    if getattr(layout, "__name__", None) in LAYOUTS:   # the data.Struct of golden.format.layouts
        return LAYOUTS[layout.__name__].offsets
    from amaranth.lib import data                       # any other Amaranth layout
    return {name: (f.offset, f.width) for name, f in data.Layout.cast(layout)}


def _size(layout):
    return sum(w for _, w in _offsets(layout).values())


def pack(layout, **fields):
    """Pack numpy arrays (or ints) into an unsigned integer array of the layout's size."""
    size = _size(layout)
    if size > 64:
        raise ValueError("layouts wider than 64 bits are packed with pack_int()")
    dtype = np.uint32 if size <= 32 else np.uint64
    out = None
    for name, (offset, width) in _offsets(layout).items():
        value = np.asarray(fields.pop(name, 0), dtype=np.uint64)
        if np.any(value >> np.uint64(width)):
            raise ValueError(f"field {name!r} does not fit in {width} bits")
        term = value << np.uint64(offset)
        out = term if out is None else out | term
    if fields:
        raise KeyError(f"unknown fields {sorted(fields)}")
    return out.astype(dtype)


def unpack(layout, value):
    """Split an unsigned integer (array) into a dict of its fields."""
    value = np.asarray(value, dtype=np.uint64)
    return {name: (value >> np.uint64(offset)) & np.uint64((1 << width) - 1)
            for name, (offset, width) in _offsets(layout).items()}


def pack_int(layout, **fields):
    """Pack scalar fields into one Python integer (any layout size)."""
    value = 0
    for name, (offset, width) in _offsets(layout).items():
        field = int(fields.pop(name, 0))
        if not 0 <= field < (1 << width):
            raise ValueError(f"field {name!r} does not fit in {width} bits")
        value |= field << offset
    if fields:
        raise KeyError(f"unknown fields {sorted(fields)}")
    return value


def unpack_int(layout, value):
    """Split one Python integer into a dict of its fields (Python integers)."""
    return {name: (int(value) >> offset) & ((1 << width) - 1)
            for name, (offset, width) in _offsets(layout).items()}
