"""Memory image of a compressed tensor: what a host puts in memory for the system's AXI reader
(:class:`hdl.axi.tensor_reader.TensorReader`), and the words that reader streams into the
decompressor. docs/format.md, section "Memory image", specifies it.

Layout, 32-bit little-endian words at word offsets from the image's base::

    0                 ImageHeader (8 words, golden.format.fields)
    8                 table       Table.image(): config word, then one DecodeEntry per state
    index_offset      chunk index chunks + 1 words: index[k] = word offset of chunk k's header
                                  from the payload's start; index[chunks] = the payload's length
    payload_offset    payload     golden.ans.codec.encode_payload, unchanged

The hardware reads the table, the index and the payload from three addresses given to it (its
registers); the header is for software (a driver finds the three parts and the sizes there).

**Random access.** Chunks ``first .. first + count - 1`` are the payload words
``index[first] .. index[first + count] - 1``; the reader streams them with the ``last`` bit of
the final chunk's header set (:func:`range_words`), so that they decode as a tensor of their
own: pairs ``first * chunk_pairs`` up to ``(first + count) * chunk_pairs`` (every chunk but the
tensor's last holds ``chunk_pairs`` pairs). A matrix compressed with ``chunk_pairs`` a multiple
of its row length has whole rows in every chunk, so an engine fetches the rows it needs.
"""

from dataclasses import dataclass

import numpy as np

from ..ans import codec
from .fields import CHUNK_HEADER_WORDS, CHUNK_MAGIC, ChunkHeader, ImageHeader, unpack_int

__all__ = ["IMAGE_MAGIC", "HEADER_WORDS", "ImageHeader", "ImageError", "MemoryImage",
           "chunk_index", "range_words", "LAST_BIT"]

#: :attr:`ImageHeader.magic`: ``b"ANI1"`` read as a little-endian word.
IMAGE_MAGIC = int.from_bytes(b"ANI1", "little")
#: Words of :class:`ImageHeader`.
HEADER_WORDS = 8
#: Bit of a chunk header's word 0 that holds :attr:`ChunkHeader.last`.
LAST_BIT = ChunkHeader.offsets["last"][0]


class ImageError(ValueError):
    """A memory image or a chunk range that is not valid."""


def chunk_index(payload, table_log):
    """``index`` (uint32, chunks + 1 words): the word offset of every chunk's header from the
    payload's start, then the payload's length. Checks the payload as the decoder does
    (headers, lengths, CRCs: :func:`golden.ans.codec.walk_chunks`)."""
    payload = np.asarray(payload, np.uint32)
    offsets = [0]
    try:
        for _first, _n, _states, body in codec.walk_chunks(payload, table_log):
            offsets.append(offsets[-1] + CHUNK_HEADER_WORDS + len(body))
    except codec.PayloadError as e:
        raise ImageError(f"payload: {e}") from None
    return np.array(offsets, np.uint32)


def range_words(payload, index, first, count):
    """The words the reader streams for chunks ``first .. first + count - 1``: the payload's
    words ``index[first] .. index[first + count] - 1``, with :attr:`ChunkHeader.last` set in
    the header of the range's final chunk (the CRC covers only bodies: the chunks still check)."""
    payload = np.asarray(payload, np.uint32)
    chunks = len(index) - 1
    if not (isinstance(first, (int, np.integer)) and isinstance(count, (int, np.integer))
            and 0 <= first and 1 <= count and first + count <= chunks):
        raise ImageError(f"chunk range {first} + {count} outside the tensor's {chunks} chunks")
    start, last, end = int(index[first]), int(index[first + count - 1]), int(index[first + count])
    words = payload[start:end].copy()
    head = unpack_int(ChunkHeader, int(words[last - start]))
    if head["magic"] != CHUNK_MAGIC:
        raise ImageError(f"index: chunk {first + count - 1} does not start at word {last}")
    words[last - start] |= np.uint32(1 << LAST_BIT)
    return words


@dataclass(frozen=True)
class MemoryImage:
    """A tensor's memory image (:attr:`words`) and what it holds.

    Build it with :meth:`build`; :meth:`descriptor` gives the reader's register values for a
    chunk range at a base address, :meth:`stream` the words the reader then streams into the
    decompressor and :meth:`value_range` the values they decode to.
    """
    table: codec.Table
    payload: np.ndarray
    index: np.ndarray
    values: int
    chunk_pairs: int

    @classmethod
    def build(cls, table, payload, values):
        """The image of a payload made by :func:`golden.ans.codec.encode_payload` with ``table``,
        holding ``values`` values."""
        payload = np.asarray(payload, np.uint32)
        index = chunk_index(payload, table.table_log)
        first = unpack_int(ChunkHeader, int(payload[0]))
        chunk_pairs = first["pairs_minus_1"] + 1
        held = (len(index) - 2) * chunk_pairs + unpack_int(
            ChunkHeader, int(payload[index[-2]]))["pairs_minus_1"] + 1
        if held != values:
            raise ImageError(f"payload holds {held} values, not {values}")
        return cls(table, payload, index, int(values), chunk_pairs)

    @classmethod
    def compress(cls, values, books, **options):
        """Compress ``values`` (:func:`golden.ans.codec.compress_values`) and build the image."""
        values = np.asarray(values).ravel()
        table, payload, _ = codec.compress_values(values, books, **options)
        return cls.build(table, payload, len(values))

    @property
    def chunks(self):
        return len(self.index) - 1

    @property
    def table_words(self):
        return 1 + (1 << self.table.table_log)

    @property
    def index_offset(self):
        return HEADER_WORDS + self.table_words

    @property
    def payload_offset(self):
        return self.index_offset + len(self.index)

    @property
    def words(self):
        """The whole image (uint32): header, table, chunk index, payload."""
        header = [IMAGE_MAGIC, self.table_words, self.chunks, self.values, self.chunk_pairs,
                  HEADER_WORDS, self.index_offset, self.payload_offset]
        return np.concatenate([np.array(header, np.uint32), self.table.image(), self.index,
                               self.payload]).astype(np.uint32)

    def to_bytes(self):
        return self.words.astype("<u4").tobytes()

    def descriptor(self, base, first=0, count=None, table=True):
        """The reader's registers for chunks ``first .. first + count - 1`` (None: to the end)
        of this image at byte address ``base``: ``table_addr``, ``table_words`` (0 with
        ``table=False``: the table loaded before is kept), ``index_addr``, ``payload_addr``,
        ``first_chunk``, ``chunk_count``."""
        count = self.chunks - first if count is None else count
        return {"table_addr": base + 4 * HEADER_WORDS,
                "table_words": self.table_words if table else 0,
                "index_addr": base + 4 * self.index_offset,
                "payload_addr": base + 4 * self.payload_offset,
                "first_chunk": first, "chunk_count": count}

    def stream(self, first=0, count=None):
        """The payload words the reader streams for a chunk range (:func:`range_words`)."""
        count = self.chunks - first if count is None else count
        return range_words(self.payload, self.index, first, count)

    def value_range(self, first=0, count=None):
        """``(start, stop)``: the tensor's values that chunks ``first ..`` decode to."""
        count = self.chunks - first if count is None else count
        return first * self.chunk_pairs, min(self.values, (first + count) * self.chunk_pairs)


def parse_header(words):
    """The :class:`ImageHeader` fields of an image's first words (a dict); raises
    :class:`ImageError` on a bad magic."""
    words = np.asarray(words, np.uint32)
    if len(words) < HEADER_WORDS:
        raise ImageError("image shorter than its header")
    value = sum(int(w) << (32 * k) for k, w in enumerate(words[:HEADER_WORDS]))
    fields = unpack_int(ImageHeader, value)
    if fields["magic"] != IMAGE_MAGIC:
        raise ImageError(f"not a memory image (magic 0x{fields['magic']:08x})")
    return fields
