"""The ``.ansn`` container: a safetensors file, compressed tensor by tensor, restored byte for byte.

Layout (little-endian, see docs/format.md)::

    0   magic      b"ANSN"
    4   version    u16 (FORMAT_VERSION)
    6   flags      u16 (0)
    8   index_len  u32
    12  index_crc  u32   CRC-32 of the index bytes
    16  index      UTF-8 JSON, deflated (zlib, RFC 1950), index_len bytes
        zero padding to a multiple of 4
        data       the segments' stored bytes, each at a 4-byte aligned offset from here

The source file is cut into segments that cover it without gaps, in order: the safetensors
header and any bytes between tensors are ``bytes`` segments (stored raw or zlib), every tensor is
a ``tensor`` segment (stored raw, or as a tANS payload). Restoring concatenates the segments.

The per-segment API (what a parallel driver calls once per tensor):

- :func:`encode_tensor` (one tensor's bytes -> segment description, stored bytes, bound) and
  :func:`encode_bytes` (bytes between tensors);
- :func:`check_segment` (a segment description from an index -> a validated :class:`Segment`) and
  :func:`restore_segment` (a segment's stored bytes -> its bytes, into a writable buffer).

Files are read and written segment by segment: peak memory is a small multiple of the largest
segment plus a constant. The reader (:class:`Container`) trusts nothing: the index's size, depth
and item count are bounded before it is parsed, and every number in it is range-checked and
checked against the others, the file size and the restored safetensors header before any
tensor is decoded (the limits are in docs/format.md, section 2.3).
"""

import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import struct
import tempfile
import zlib
from dataclasses import dataclass

import numpy as np

from ..ans import codec
from ..jobs import Jobs
from . import codebooks
from .fields import CHUNK_HEADER_WORDS, CHUNK_MAGIC, TABLE_LOG_MAX, TABLE_LOG_MIN

__all__ = ["FORMAT_VERSION", "AnsnError", "Container", "Segment", "compress_file",
           "decompress_file", "compress_bytes", "decompress_bytes", "container_bytes",
           "parse_safetensors", "parse_safetensors_header", "analyse_file", "encode_tensor",
           "encode_bytes", "check_segment", "restore_segment", "AtomicFile", "DTYPE_SIZES",
           "MAX_INDEX_BYTES", "MAX_INDEX_ITEMS", "MAX_INDEX_DEPTH"]

MAGIC = b"ANSN"
FORMAT_VERSION = 1
_HEAD = struct.Struct("<4sHHII")

#: safetensors dtype -> (bytes per element)
DTYPE_SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2,
               "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}

# --- limits of what a reader accepts (docs/format.md, section 2.3) ---
#: Largest index, inflated (bytes of JSON text).
MAX_INDEX_BYTES = 32 << 20
#: Most values (numbers, strings, arrays, objects) the index may hold.
MAX_INDEX_ITEMS = 1 << 20
#: Deepest nesting of arrays and objects in the index (the format needs 5).
MAX_INDEX_DEPTH = 8
#: Largest safetensors header (safetensors' own limit) and its deepest nesting.
MAX_HEADER_BYTES = 100_000_000
MAX_HEADER_DEPTH = 16
#: Most dimensions of a tensor.
MAX_DIMS = 64
#: Largest size of a file, a segment or a tensor (bytes).
MAX_SIZE = 1 << 56
#: Deflate never inflates by more than 1032:1; a zlib segment may claim no more than this.
ZLIB_MAX_RATIO = 1032

#: The values of an F32 tensor whose low 16 bits are all zero are bfloat16 values: such a tensor
#: is coded with the bf16 code books on its high halves (``"coded_as": "BF16"``).
_CODED_AS = {"F32": "BF16"}

_SLICE = 1 << 20  # values per slice when a tensor is counted, checked or coded piece by piece


class AnsnError(Exception):
    """Bad input or a file that does not decode; the message is one line for the user."""


# --- JSON with bounds -------------------------------------------------------------------------

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_OPEN = np.zeros(256, np.int32)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs):
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("a key repeats")
    return obj


def load_json(text, what, *, max_depth, max_items):
    """Parse JSON ``text`` (bytes) whose nesting and number of values are bounded first, so that
    neither recursion nor memory depends on what the text claims. Keys must not repeat; NaN and
    Infinity are not JSON. Raises :class:`AnsnError` ``{what} is not valid JSON: ...``."""
    text = bytes(text)
    masked = _STRING.sub(b'""', text)
    depth = deepest = 0
    for start in range(0, len(masked), _SLICE):
        step = _OPEN[np.frombuffer(masked, np.uint8, min(_SLICE, len(masked) - start), start)]
        run = depth + np.cumsum(step)
        deepest = max(deepest, int(run.max()))
        depth = int(run[-1])
    if deepest > max_depth:
        raise AnsnError(f"{what} nests deeper than {max_depth} levels")
    items = masked.count(b",") + masked.count(b"[") + masked.count(b"{") + 1
    if items > max_items:
        raise AnsnError(f"{what} holds more than {max_items} values")
    del masked
    try:
        text = text.decode("utf-8")
    except UnicodeDecodeError:
        raise AnsnError(f"{what} is not UTF-8") from None
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:  # JSONDecodeError, a repeated key, int too long
        raise AnsnError(f"{what} is not valid JSON: {str(e).splitlines()[0]}") from None


# --- strict field access ----------------------------------------------------------------------

class _Fields:
    """A JSON object whose fields are read with exact types and ranges (bool is not an int)."""

    def __init__(self, obj, where):
        if type(obj) is not dict:
            raise AnsnError(f"corrupted .ansn file: {where} is not an object")
        self.obj, self.where = obj, where

    def _fail(self, key, want):
        raise AnsnError(f"corrupted .ansn file: {self.where}: '{key}' must be {want}")

    def get(self, key):
        if key not in self.obj:
            raise AnsnError(f"corrupted .ansn file: {self.where}: no '{key}'")
        return self.obj[key]

    def int(self, key, lo, hi, optional=False):
        if optional and key not in self.obj:
            return None
        v = self.get(key)
        if type(v) is not int or not lo <= v <= hi:
            self._fail(key, f"an integer {lo} .. {hi}")
        return v

    def choice(self, key, choices, optional=False):
        if optional and key not in self.obj:
            return None
        v = self.get(key)
        if type(v) not in (str, int) or v not in choices:
            self._fail(key, "one of " + ", ".join(map(repr, choices)))
        return v

    def str(self, key):
        v = self.get(key)
        if type(v) is not str:
            self._fail(key, "a string")
        return v

    def ints(self, key, lo, hi, max_len):
        v = self.get(key)
        if type(v) is not list or len(v) > max_len or \
                any(type(x) is not int or not lo <= x <= hi for x in v):
            self._fail(key, f"a list of at most {max_len} integers {lo} .. {hi}")
        return v

    def list(self, key, lo, hi):
        v = self.get(key)
        if type(v) is not list or not lo <= len(v) <= hi:
            self._fail(key, f"a list of {lo} .. {hi} entries")
        return v


# --- segments ---------------------------------------------------------------------------------

@dataclass
class Segment:
    """A validated segment description (see docs/format.md, section 2.2).

    Members
    -------
    kind, storage : str
        ``bytes`` (``raw`` or ``zlib``) or ``tensor`` (``raw`` or ``ans``).
    length, stored, offset : int
        Bytes it restores to, bytes it takes in the data area, where they start there.
    crc32 : int or None
        CRC-32 of the restored bytes (raw and zlib segments; a payload has a CRC per chunk).
    name, dtype, shape : tensor segments
    table : codec.Table or None
        The tANS table of an ``ans`` segment.
    coded_as : str or None
        ``"BF16"``: an F32 tensor coded as its values' high halves (the low halves are zero).
    chunk_pairs, states : int or None
        What the index says every chunk of the payload has (None: not checked).
    begin : int
        Where the restored bytes start in the source file (set by the index check).
    """
    kind: str
    storage: str
    length: int
    stored: int
    offset: int = 0
    crc32: int = None
    name: str = None
    dtype: str = None
    shape: tuple = None
    table: codec.Table = None
    coded_as: str = None
    chunk_pairs: int = None
    states: int = None
    begin: int = 0

    @property
    def pairs(self):
        """Coding pairs (elements) of a tensor segment."""
        return self.length // DTYPE_SIZES[self.dtype]


def _check_table(obj, where):
    f = _Fields(obj, where + ": table")
    try:
        book = codebooks.get(f.str("codebook"))
    except codebooks.CodeBookError as e:
        raise AnsnError(f"corrupted .ansn file: {where}: {e}") from None
    table_log = f.int("table_log", TABLE_LOG_MIN, TABLE_LOG_MAX)
    codes = f.ints("codes", 0, book.n_codes - 1, codebooks.MAX_CODES)
    counts = f.ints("counts", 1, 1 << table_log, codebooks.MAX_CODES + 1)
    if f.get("escape_width") is None:
        escape_width = None
    else:
        escape_width = f.int("escape_width", book.code_bits, 63)
    try:
        return codec.Table(book, table_log, tuple(codes), tuple(counts), escape_width)
    except codec.PayloadError as e:
        raise AnsnError(f"corrupted .ansn file: {where}: {e}") from None


def _payload_words(n_pairs, chunk_pairs, states, table_log, widest):
    """Fewest and most words a payload of these parameters can take (every pair 0 .. table_log
    renormalisation bits and ``widest`` extra bits at most)."""
    n_chunks = -(-n_pairs // chunk_pairs)
    least = n_chunks * (CHUNK_HEADER_WORDS + -(-states * table_log // 32))
    most = n_chunks * (CHUNK_HEADER_WORDS + 1) + \
        (n_chunks * states * table_log + n_pairs * (table_log + widest)) // 32 + 1
    return least, most


def check_segment(obj, where="segment", *, chunk_pairs=None, states=None):
    """A segment description from an index -> :class:`Segment`, every field checked with exact
    types and against the others; raises :class:`AnsnError`. ``chunk_pairs`` and ``states`` are
    the index's (they bound the payload's size and are checked against every chunk)."""
    f = _Fields(obj, where)
    kind = f.choice("kind", ("bytes", "tensor"))
    storage = f.choice("storage", ("raw", "zlib") if kind == "bytes" else ("raw", "ans"))
    length = f.int("length", 1 if kind == "bytes" else 0, MAX_SIZE)
    stored = f.int("stored", 0, MAX_SIZE)
    seg = Segment(kind, storage, length, stored, f.int("offset", 0, MAX_SIZE, optional=True),
                  chunk_pairs=chunk_pairs, states=states)
    if storage in ("raw", "zlib"):
        seg.crc32 = f.int("crc32", 0, 0xFFFFFFFF)
    if storage == "raw" and stored != length:
        raise AnsnError(f"corrupted .ansn file: {where}: stored raw in {stored} bytes, "
                        f"restores to {length}")
    if storage == "zlib" and length > ZLIB_MAX_RATIO * stored + 64:
        raise AnsnError(f"corrupted .ansn file: {where}: {stored} zlib bytes cannot inflate "
                        f"to {length}")
    if kind == "bytes":
        return seg
    seg.name = f.str("name")
    seg.dtype = f.choice("dtype", tuple(DTYPE_SIZES))
    seg.shape = tuple(f.ints("shape", 0, MAX_SIZE, MAX_DIMS))
    size = DTYPE_SIZES[seg.dtype]
    elements = 1
    for d in seg.shape:
        elements *= d
    if elements * size != length:
        raise AnsnError(f"corrupted .ansn file: {where}: shape {list(seg.shape)} of "
                        f"{seg.dtype} holds {elements * size} bytes, the segment {length}")
    if storage == "raw":
        return seg
    seg.coded_as = f.choice("coded_as", tuple(v for k, v in _CODED_AS.items()
                                              if k == seg.dtype), optional=True)
    seg.table = _check_table(f.get("table"), where)
    book = seg.table.codebook
    if (seg.coded_as or seg.dtype) not in book.dtypes or not book.lossless:
        raise AnsnError(f"corrupted .ansn file: {where}: code book {book.name} does not code "
                        f"{seg.coded_as or seg.dtype} losslessly")
    n = seg.pairs
    if n == 0:
        raise AnsnError(f"corrupted .ansn file: {where}: an empty tensor has no payload")
    if seg.table.n_symbols > n:
        raise AnsnError(f"corrupted .ansn file: {where}: {seg.table.n_symbols} symbols for "
                        f"{n} values")
    if stored % 4:
        raise AnsnError(f"corrupted .ansn file: {where}: payload is not whole words")
    if chunk_pairs is not None:
        least, most = _payload_words(n, chunk_pairs, states, seg.table.table_log,
                                     int(seg.table.symbol_widths().max()))
        if not least <= stored // 4 <= most:
            raise AnsnError(f"corrupted .ansn file: {where}: a payload of {n} pairs takes "
                            f"{least} .. {most} words, not {stored // 4}")
    return seg


def _inflate(data, limit, what):
    """zlib stream -> its bytes, never more than ``limit`` of them (a bomb is an error)."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, limit)
    except zlib.error:
        raise AnsnError(f"corrupted .ansn file: {what} does not inflate") from None
    if d.unconsumed_tail:
        raise AnsnError(f"corrupted .ansn file: {what} inflates past {limit} bytes")
    if not d.eof or d.unused_data:
        raise AnsnError(f"corrupted .ansn file: {what} is not one whole zlib stream")
    return out


def _uint(size):
    return np.dtype(f"<u{size}")


def _check_chunks(payload, seg):
    """The chunk headers against the index's ``chunk_pairs`` and ``states`` (every chunk
    ``min(chunk_pairs, pairs left)`` pairs and ``states`` states); a header the decoder will
    reject anyway ends the walk."""
    if seg.chunk_pairs is None:
        return
    pos = first = index = 0
    while pos + CHUNK_HEADER_WORDS <= len(payload) and first < seg.pairs:
        word = int(payload[pos])
        if word >> 24 != CHUNK_MAGIC:
            return
        n, states = (word & 0x3FFFF) + 1, 1 << (word >> 21 & 3)
        if states != seg.states and word >> 21 & 3 != 3:
            raise codec.PayloadError(f"chunk {index}: {states} states, the index says "
                                     f"{seg.states}")
        if n != min(seg.chunk_pairs, seg.pairs - first):
            raise codec.PayloadError(f"chunk {index}: {n} pairs, the index says chunks of "
                                     f"{seg.chunk_pairs}")
        pos += CHUNK_HEADER_WORDS + int(payload[pos + 1])
        first += n
        index += 1


def restore_segment(seg, stored, out=None, *, map_chunks=map):
    """Restore one segment: its ``stored`` bytes -> its ``seg.length`` bytes, written into
    ``out`` (a writable buffer of that length; a new bytearray if None), which is returned.

    Raises :class:`AnsnError` (a one-line message naming the tensor) when the bytes do not
    restore. A tANS payload is decoded chunk by chunk into ``out``: besides ``out`` and
    ``stored``, memory holds one chunk's pairs (``map_chunks``: how the chunks run, as in
    :func:`golden.ans.codec.decompress_values`)."""
    if not isinstance(seg, Segment):
        seg = check_segment(seg)
    if out is None:
        out = bytearray(seg.length)
    view = memoryview(out).cast("B")
    if len(view) != seg.length or len(stored) != seg.stored:
        raise ValueError("buffers do not match the segment's length and stored size")
    label = f"tensor {seg.name!r}" if seg.kind == "tensor" else "a bytes segment"
    if seg.storage == "raw":
        view[:] = stored
    elif seg.storage == "zlib":
        data = _inflate(stored, seg.length, label)
        if len(data) != seg.length:
            raise AnsnError(f"corrupted .ansn file: {label} restores to the wrong length")
        view[:] = data
    else:
        size = DTYPE_SIZES[seg.dtype]
        dst = np.frombuffer(view, _uint(size))
        payload = np.frombuffer(stored, "<u4")
        try:
            _check_chunks(payload, seg)
            if seg.coded_as:  # bf16 values in the high halves of F32 elements
                high = codec.decompress_values(seg.table, payload, seg.pairs,
                                               map_chunks=map_chunks)
                np.left_shift(high, 16, out=dst, dtype=np.uint32, casting="unsafe")
            elif dst.dtype == seg.table.codebook.value_dtype:  # decoded in place
                codec.decompress_values(seg.table, payload, seg.pairs, out=dst,
                                        map_chunks=map_chunks)
            else:
                dst[:] = codec.decompress_values(seg.table, payload, seg.pairs,
                                                 map_chunks=map_chunks)
        except codec.PayloadError as e:
            raise AnsnError(f"{label}: {e}") from None
        return out
    if zlib.crc32(view) != seg.crc32:
        raise AnsnError(f"corrupted .ansn file: {label}: segment CRC mismatch")
    return out


# --- writing segments -------------------------------------------------------------------------

def _candidates(dtype, codebook):
    if codebook in (None, "auto"):
        return codebooks.for_dtype(dtype)
    if codebook == "none":  # stored raw (tensors not selected by --tensors)
        return []
    book = codebooks.get(codebook)
    if dtype not in book.dtypes:
        return codebooks.for_dtype(dtype)  # a named code book applies where it fits
    if not book.lossless:
        raise AnsnError(f"code book {book.name} is lossy; files are compressed losslessly")
    return [book]


def _value_view(raw, dtype):
    return np.frombuffer(raw, _uint(DTYPE_SIZES[dtype]))


def _low_halves_zero(values):
    return not any(np.any(values[k:k + _SLICE] & np.uint32(0xFFFF))
                   for k in range(0, len(values), _SLICE))


def _coding(values, dtype, codebook):
    """``(coded dtype, the values to code, candidate code books)``."""
    wide = _CODED_AS.get(dtype)
    if wide and codebook not in ("none",) and len(values) and _low_halves_zero(values):
        named = codebook not in (None, "auto")
        if not named or wide in codebooks.get(codebook).dtypes:
            return wide, (values >> np.uint32(16)).astype(np.uint16), _candidates(wide, codebook)
    return dtype, values, _candidates(dtype, codebook)


def encode_tensor(raw, name, dtype, shape, *, codebook="auto",
                  table_log=codec.DEFAULT_TABLE_LOG, chunk_pairs=codec.DEFAULT_CHUNK_PAIRS,
                  states=codec.DEFAULT_STATES, map_chunks=map):
    """One tensor's bytes -> ``(segment, stored, bound_bits)``.

    ``segment`` is its index entry (a dict, without ``offset``), ``stored`` a list of buffers
    whose concatenation is the stored bytes, ``bound_bits`` its size at the empirical entropy of
    its codes plus the raw extra bits (its raw size when stored raw). ``map_chunks`` runs the
    chunks (:func:`golden.ans.codec.compress_values`).
    """
    seg = {"kind": "tensor", "name": name, "dtype": dtype, "shape": list(shape),
           "length": len(raw)}
    values = _value_view(raw, dtype) if len(raw) else None
    if values is not None:
        coded, view, candidates = _coding(values, dtype, codebook)
    else:
        candidates = []
    if candidates:
        table, payload, info = codec.compress_values(
            view, candidates, max_table_log=table_log, chunk_pairs=chunk_pairs, states=states,
            map_chunks=map_chunks)
        stored = payload.astype("<u4", copy=False).view(np.uint8)
        desc_bytes = len(json.dumps(table.to_json(), separators=(",", ":")))
        if len(stored) + desc_bytes < len(raw):
            seg.update(storage="ans", table=table.to_json())
            if coded != dtype:
                seg["coded_as"] = coded
            seg["stored"] = len(stored)
            return seg, [stored], info["bound_bits"]
    seg.update(storage="raw", crc32=zlib.crc32(raw), stored=len(raw))
    return seg, [raw], 8 * len(raw)


def encode_bytes(raw):
    """Bytes between tensors -> ``(segment, stored)`` (zlib where that is smaller)."""
    packed = zlib.compress(bytes(raw), 9)
    if len(packed) < len(raw):
        return {"kind": "bytes", "storage": "zlib", "length": len(raw),
                "crc32": zlib.crc32(raw), "stored": len(packed)}, [packed]
    return {"kind": "bytes", "storage": "raw", "length": len(raw), "crc32": zlib.crc32(raw),
            "stored": len(raw)}, [raw]


# --- safetensors ------------------------------------------------------------------------------

def parse_safetensors_header(head, file_size):
    """``(header_len, tensors, metadata)`` from a safetensors file's first bytes ``head`` (at
    least its 8-byte length and its header) and its size.

    ``tensors`` is a list of dicts with name, dtype, shape, begin, end (absolute offsets), in
    file order. Raises :class:`AnsnError` when the file is not well-formed safetensors.
    """
    if len(head) < 8 or file_size < 8:
        raise AnsnError("not a safetensors file: shorter than its 8-byte header length")
    (n,) = struct.unpack_from("<Q", head, 0)
    if n > file_size - 8 or n > MAX_HEADER_BYTES:
        raise AnsnError("not a safetensors file: header length past the end of the file")
    if len(head) < 8 + n:
        raise AnsnError("not a safetensors file: header cut short")
    try:
        header = load_json(bytes(head[8:8 + n]), "header", max_depth=MAX_HEADER_DEPTH,
                           max_items=MAX_HEADER_BYTES)
    except AnsnError:
        raise AnsnError("not a safetensors file: header is not JSON") from None
    if type(header) is not dict:
        raise AnsnError("not a safetensors file: header is not a JSON object")
    tensors = []
    metadata = header.get("__metadata__")
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape = info["dtype"], info["shape"]
            offsets = info["data_offsets"]
            if type(shape) is not list or any(type(d) is not int or d < 0 for d in shape) or \
                    type(offsets) is not list or len(offsets) != 2 or \
                    any(type(o) is not int for o in offsets) or len(shape) > MAX_DIMS:
                raise TypeError
            begin, end = (o + 8 + n for o in offsets)
        except (KeyError, TypeError):
            raise AnsnError(f"not a safetensors file: bad entry for tensor {name!r}") from None
        if dtype not in DTYPE_SIZES:
            raise AnsnError(f"tensor {name!r}: unsupported dtype {dtype!r}")
        if not 8 + n <= begin <= end <= file_size:
            raise AnsnError(f"tensor {name!r}: data offsets outside the file (truncated file?)")
        elements = 1
        for d in shape:
            elements *= d
        if end - begin != elements * DTYPE_SIZES[dtype]:
            raise AnsnError(f"tensor {name!r}: data size does not match dtype and shape")
        tensors.append({"name": name, "dtype": dtype, "shape": shape, "begin": begin,
                        "end": end})
    tensors.sort(key=lambda t: t["begin"])
    for a, b in zip(tensors, tensors[1:]):
        if b["begin"] < a["end"]:
            raise AnsnError(f"tensors {a['name']!r} and {b['name']!r} overlap")
    return 8 + n, tensors, metadata


def parse_safetensors(buf):
    """``(header_len, tensors)`` of a whole safetensors file in ``buf`` (bytes-like)."""
    header_len, tensors, _ = parse_safetensors_header(buf, len(buf))
    return header_len, tensors


def _pieces(file_size, header_len, tensors):
    """Yield (kind, begin, end, tensor or None) covering the file without gaps."""
    yield "bytes", 0, header_len, None
    pos = header_len
    for t in tensors:
        if t["begin"] > pos:
            yield "bytes", pos, t["begin"], None
        yield "tensor", t["begin"], t["end"], t
        pos = t["end"]
    if pos < file_size:
        yield "bytes", pos, file_size, None


# --- files ------------------------------------------------------------------------------------

def _open_input(path):
    try:
        f = open(path, "rb")
    except (FileNotFoundError, NotADirectoryError):
        raise AnsnError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise AnsnError(f"{path}: is a directory") from None
    except PermissionError:
        raise AnsnError(f"{path}: permission denied") from None
    if os.path.isdir(path):
        f.close()
        raise AnsnError(f"{path}: is a directory")
    return f


class _Source:
    """Random access to a file or an in-memory buffer: ``read(begin, end)`` -> a buffer."""

    def __init__(self, src):
        if isinstance(src, (bytes, bytearray, memoryview)):
            self._mv, self._f = memoryview(src).cast("B"), None
            self.size = len(self._mv)
        else:
            self._mv, self._f = None, _open_input(src)
            self.size = os.fstat(self._f.fileno()).st_size

    def read(self, begin, end):
        end = min(end, self.size)
        if self._mv is not None:
            return self._mv[begin:end]
        buf = np.empty(max(0, end - begin), np.uint8)
        got = 0
        while got < len(buf):
            n = os.preadv(self._f.fileno(), [memoryview(buf)[got:]], begin + got)
            if n == 0:
                raise AnsnError("file changed while it was read")
            got += n
        return memoryview(buf)

    def close(self):
        if self._f is not None:
            self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _umask():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o22)
    os.umask(mask)
    return mask


_COMMIT_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
#: Write outputs as unnamed files (Linux O_TMPFILE) where the file system can.
UNNAMED_FILES = hasattr(os, "O_TMPFILE")


class AtomicFile:
    """A new file that appears at ``path`` whole or not at all, with the mode ``cp`` gives a new
    file (``0666`` less the umask).

    It is written unnamed (``O_TMPFILE``: a process killed even by SIGKILL leaves nothing), or,
    where the file system cannot, as a hidden temporary file beside ``path``; :meth:`commit`
    links it in place with one rename (signals held meanwhile), :meth:`discard` drops it. Two
    writers of the same path each rename a whole file: the last one wins, never a mix.
    """

    def __init__(self, path):
        self.path = path
        self.dir = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(self.dir):
            raise AnsnError(f"{path}: directory does not exist")
        if os.path.isdir(path):
            raise AnsnError(f"{path}: is a directory")
        self._name = None
        try:
            if not UNNAMED_FILES:
                raise OSError
            self.fd = os.open(self.dir, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o666)
        except OSError:
            self.fd, self._name = tempfile.mkstemp(prefix=".ansnum-", dir=self.dir)
            os.fchmod(self.fd, 0o666 & ~_umask())
        self.file = os.fdopen(self.fd, "w+b", buffering=1 << 20)

    def write(self, data):
        self.file.write(data)

    def commit(self):
        self.file.flush()
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _COMMIT_SIGNALS)
        try:
            if self._name is None:
                base = f".ansnum-{secrets.token_hex(8)}"
                # linkat(AT_SYMLINK_FOLLOW) of /proc/self/fd/N names the unnamed file (Python
                # calls linkat, not link, only when given a directory descriptor)
                dir_fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    os.link(f"/proc/self/fd/{self.fd}", base, dst_dir_fd=dir_fd,
                            follow_symlinks=True)
                finally:
                    os.close(dir_fd)
                self._name = os.path.join(self.dir, base)
            os.replace(self._name, self.path)
            self._name = None
        finally:
            self.discard()
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def discard(self):
        if not self.file.closed:
            self.file.close()
        if self._name is not None:
            try:
                os.unlink(self._name)
            except FileNotFoundError:
                pass
            self._name = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.discard()


class _Spill:
    """An unnamed scratch file beside the output for the data area, which is written before the
    index it follows is known."""

    def __init__(self, directory):
        try:
            if not UNNAMED_FILES:
                raise OSError
            fd = os.open(directory, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
            self.file = os.fdopen(fd, "w+b", buffering=1 << 20)
        except OSError:
            self.file = tempfile.TemporaryFile(dir=directory, prefix=".ansnum-")

    def copy_to(self, out):
        self.file.flush()
        size = self.file.seek(0, os.SEEK_END)
        out.file.flush()
        src, dst, done = self.file.fileno(), out.file.fileno(), 0
        dst_pos = out.file.seek(0, os.SEEK_END)
        try:
            while done < size:
                n = os.copy_file_range(src, dst, size - done, done, dst_pos + done)
                if n == 0:
                    break
                done += n
        except OSError:
            pass
        if done < size:  # (copy_file_range not available here) through user space
            self.file.seek(done)
            out.file.seek(dst_pos + done)
            shutil.copyfileobj(self.file, out.file, 1 << 20)
        out.file.seek(0, os.SEEK_END)

    def close(self):
        self.file.close()


def _compress(source, sink, *, codebook="auto", table_log=codec.DEFAULT_TABLE_LOG,
              chunk_pairs=codec.DEFAULT_CHUNK_PAIRS, states=codec.DEFAULT_STATES,
              tensors_regex=None, progress=False, jobs=1):
    """Compress a safetensors file segment by segment; ``sink(segment, stored)`` takes every
    segment's index entry and stored buffers in order. Returns ``(index, bounds)``. ``jobs``
    threads code tensors and chunks (:class:`golden.jobs.Jobs`: at most ``2 jobs`` tensors
    ahead of the one written); the result does not depend on it."""
    if not 1 <= chunk_pairs <= codec.MAX_CHUNK_PAIRS:
        raise AnsnError(f"chunk size must be 1 .. {codec.MAX_CHUNK_PAIRS} pairs")
    if states not in codec.STATE_CHOICES:
        raise AnsnError(f"states must be one of {codec.STATE_CHOICES}")
    size = source.size
    head = source.read(0, 8)
    n = struct.unpack_from("<Q", head)[0] if len(head) == 8 else 0
    header_len, tensors, _ = parse_safetensors_header(
        source.read(0, 8 + min(n, MAX_HEADER_BYTES)) if len(head) == 8 else head, size)
    sha = hashlib.sha256()
    index = {"format": "ansn", "version": FORMAT_VERSION,
             "source": {"format": "safetensors", "size": size, "sha256": None},
             "chunk_pairs": chunk_pairs, "states": states, "segments": []}
    bounds = []
    pattern = re.compile(tensors_regex) if tensors_regex else None
    options = dict(table_log=table_log, chunk_pairs=chunk_pairs, states=states)
    with Jobs(jobs) as pool, _progress_bar(size, "compress", progress) as bar:
        def one(piece):
            kind, begin, end, t = piece
            raw = source.read(begin, end)
            if len(raw) != end - begin:
                raise AnsnError("file changed while it was read")
            if kind == "bytes":
                return raw, *encode_bytes(raw), None
            book = "none" if pattern and not pattern.search(t["name"]) else codebook
            return raw, *encode_tensor(raw, t["name"], t["dtype"], t["shape"], codebook=book,
                                       map_chunks=pool.map_chunks, **options)
        for raw, seg, stored, bound in pool.map_tensors(one, _pieces(size, header_len,
                                                                     tensors)):
            sha.update(raw)
            index["segments"].append(seg)
            bounds.append(bound)
            sink(seg, stored)
            bar.update(len(raw))
            del raw, stored
    index["source"]["sha256"] = sha.hexdigest()
    return index, bounds


def _layout(index):
    """Fill in the segments' offsets; the container's header and index bytes."""
    offset = 0
    for seg in index["segments"]:
        seg["offset"] = offset
        offset += (seg["stored"] + 3) & ~3
    blob = zlib.compress(json.dumps(index, separators=(",", ":")).encode(), 9)
    head = _HEAD.pack(MAGIC, FORMAT_VERSION, 0, len(blob), zlib.crc32(blob))
    return head + blob + b"\0" * (-(len(head) + len(blob)) % 4)


def compress_bytes(buf, *, progress=False, **options):
    """A safetensors file's bytes -> ``(index, [stored bytes per segment], [bound bits])``.

    The bound of a tensor segment is its size at the empirical entropy of its codes plus the
    raw extra bits, for the code book chosen (its raw size when stored raw); None for bytes.
    """
    stored_all = []
    index, bounds = _compress(_Source(buf), lambda seg, stored: stored_all.append(
        b"".join(stored)), progress=progress, **options)
    return index, stored_all, bounds


def container_bytes(index, stored_all):
    """Lay out the container: header, index, padded segments (offsets filled in)."""
    out = [_layout(index)]
    for stored in stored_all:
        out += [stored, b"\0" * (-len(stored) % 4)]
    return out


def compress_file(src, dst, progress=False, **options):
    """Compress the safetensors file ``src`` into ``dst``, a segment at a time: the data area is
    written to an unnamed scratch file as it is made, then copied behind the index."""
    with _Source(src) as source, AtomicFile(dst) as out:
        spill = _Spill(out.dir)
        try:
            def sink(seg, stored):
                for block in stored:
                    spill.file.write(block)
                spill.file.write(b"\0" * (-seg["stored"] % 4))
            index, _ = _compress(source, sink, progress=progress, **options)
            out.write(_layout(index))
            spill.copy_to(out)
        finally:
            spill.close()
        out.commit()
    return index


# --- reading ----------------------------------------------------------------------------------

class Container:
    """An ``.ansn`` file (a path or bytes) open for reading, its index validated in full.

    Opening reads the 16-byte header and the index (bounded: :data:`MAX_INDEX_BYTES` inflated,
    :data:`MAX_INDEX_DEPTH` levels, :data:`MAX_INDEX_ITEMS` values), checks every field with
    exact types and ranges, the segments' layout against the file size, their lengths against
    the source size, and restores the first segment (the safetensors header) to check that the
    tensor segments are the header's tensors, in place. Nothing else is read until asked for.

    Members
    -------
    index : dict
        The index as stored.
    segments : list of Segment
    tensors : dict
        Name -> tensor :class:`Segment`, in file order.
    metadata : dict or None
        The safetensors header's ``__metadata__``.
    """

    def __init__(self, src):
        self._source = _Source(src)
        try:
            self._open()
        except BaseException:
            self._source.close()
            raise

    def _open(self):
        s = self._source
        head = bytes(s.read(0, 16))
        if len(head) < 16 or head[:4] != MAGIC:
            raise AnsnError("not an .ansn file: bad magic")
        _, version, flags, n, crc = _HEAD.unpack(head)
        if version != FORMAT_VERSION:
            raise AnsnError(f"unsupported .ansn version {version} (this tool reads "
                            f"{FORMAT_VERSION})")
        if 16 + n > s.size:
            raise AnsnError("truncated .ansn file: index runs past the end")
        if n > MAX_INDEX_BYTES:
            raise AnsnError(f"corrupted .ansn file: index of {n} bytes (at most "
                            f"{MAX_INDEX_BYTES})")
        blob = s.read(16, 16 + n)
        if zlib.crc32(blob) != crc:
            raise AnsnError("corrupted .ansn file: index CRC mismatch")
        text = _inflate(blob, MAX_INDEX_BYTES, "the index")
        del blob
        try:
            self.index = load_json(text, "index", max_depth=MAX_INDEX_DEPTH,
                                   max_items=MAX_INDEX_ITEMS)
        except AnsnError as e:
            raise AnsnError(f"corrupted .ansn file: {e}") from None
        del text
        self.data_start = (16 + n + 3) & ~3
        self.segments = self._check_index(max(0, s.size - self.data_start))
        header = self.restore(0)
        self._check_header(header)

    def _check_index(self, data_size):
        f = _Fields(self.index, "index")
        if f.get("format") != "ansn":
            raise AnsnError("corrupted .ansn file: index: 'format' must be 'ansn'")
        f.int("version", FORMAT_VERSION, FORMAT_VERSION)
        src = _Fields(f.get("source"), "index: source")
        src.choice("format", ("safetensors",))
        self.source_size = src.int("size", 8, MAX_SIZE)
        self.sha256 = src.str("sha256")
        if not re.fullmatch("[0-9a-f]{64}", self.sha256):
            src._fail("sha256", "64 lower-case hexadecimal digits")
        chunk_pairs = f.int("chunk_pairs", 1, codec.MAX_CHUNK_PAIRS)
        states = f.choice("states", codec.STATE_CHOICES)
        raw = f.list("segments", 1, MAX_INDEX_ITEMS)
        segments, offset, begin = [], 0, 0
        for k, obj in enumerate(raw):
            seg = check_segment(obj, f"segment {k}", chunk_pairs=chunk_pairs, states=states)
            if seg.offset is None:
                raise AnsnError(f"corrupted .ansn file: segment {k}: no 'offset'")
            if seg.offset != offset:
                raise AnsnError(f"corrupted .ansn file: segment {k}: offset {seg.offset}, "
                                f"the segments before it end at {offset}")
            if offset + seg.stored > data_size:
                raise AnsnError("truncated .ansn file: a segment runs past the end")
            seg.begin = begin
            begin += seg.length
            offset += (seg.stored + 3) & ~3
            segments.append(seg)
        if data_size > offset:
            raise AnsnError(f"corrupted .ansn file: {data_size - offset} bytes after the last "
                            f"segment")
        if begin != self.source_size:
            raise AnsnError(f"corrupted .ansn file: the segments restore {begin} bytes, the "
                            f"source had {self.source_size}")
        if segments[0].kind != "bytes":
            raise AnsnError("corrupted .ansn file: the first segment is not the header")
        return segments

    def _check_header(self, header):
        """The tensor segments must be the restored header's tensors, in order and in place."""
        try:
            header_len, tensors, self.metadata = parse_safetensors_header(header,
                                                                          self.source_size)
        except AnsnError as e:
            raise AnsnError(f"corrupted .ansn file: the restored {e}") from None
        if header_len != self.segments[0].length:
            raise AnsnError("corrupted .ansn file: the first segment is not the whole header")
        listed = [s for s in self.segments if s.kind == "tensor"]
        if len(listed) != len(tensors):
            raise AnsnError(f"corrupted .ansn file: {len(listed)} tensor segments, the header "
                            f"has {len(tensors)} tensors")
        for seg, t in zip(listed, tensors):
            if (seg.name, seg.dtype, list(seg.shape), seg.begin, seg.begin + seg.length) != \
                    (t["name"], t["dtype"], t["shape"], t["begin"], t["end"]):
                raise AnsnError(f"corrupted .ansn file: tensor segment {seg.name!r} differs "
                                f"from the header's tensor {t['name']!r}")
        self.tensors = {s.name: s for s in listed}
        self._position = {s.name: k for k, s in enumerate(self.segments) if s.kind == "tensor"}

    def stored(self, k):
        """The stored bytes of segment ``k``."""
        seg = self.segments[k]
        start = self.data_start + seg.offset
        data = self._source.read(start, start + seg.stored)
        if len(data) != seg.stored:
            raise AnsnError("truncated .ansn file: a segment runs past the end")
        return data

    def restore(self, k, out=None, *, map_chunks=map):
        """Segment ``k``'s bytes (into ``out`` if given), checked by its CRC(s)."""
        return restore_segment(self.segments[k], self.stored(k), out, map_chunks=map_chunks)

    def restore_tensor(self, name):
        """A tensor's bytes, read and decoded alone (random access through the index)."""
        if name not in self.tensors:
            raise KeyError(name)
        return self.restore(self._position[name])

    def close(self):
        self._source.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_container(buf):
    """``(index, data memoryview)`` of container bytes, the index validated in full."""
    c = Container(buf)
    return c.index, memoryview(buf)[c.data_start:]


def _progress_bar(total, desc, enabled):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm   # imported only when a bar is shown
    return tqdm(total=total, unit="B", unit_scale=True, desc=desc, leave=False)


class _NoBar:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def update(self, n):
        pass


def _decompress(container, write, progress, jobs):
    sha = hashlib.sha256()
    with Jobs(jobs) as pool, \
            _progress_bar(container.source_size, "decompress", progress) as bar:
        restore = lambda k: container.restore(k, map_chunks=pool.map_chunks)
        for out in pool.map_tensors(restore, range(len(container.segments))):
            sha.update(out)
            write(out)
            bar.update(len(out))
            del out
    if sha.hexdigest() != container.sha256:
        raise AnsnError("restored file differs from the original (SHA-256 mismatch)")


def decompress_bytes(buf, progress=False, jobs=1):
    """Container bytes -> the restored file as a list of segments' bytes (SHA-256 checked);
    ``jobs`` as in :func:`compress_bytes`."""
    out = []
    with Container(buf) as c:
        _decompress(c, out.append, progress, jobs)
    return out


def decompress_file(src, dst, progress=False, jobs=1):
    """Restore ``src`` into ``dst`` a segment at a time; ``dst`` appears only once the whole
    file is written and its SHA-256 matches."""
    with Container(src) as c, AtomicFile(dst) as out:
        _decompress(c, out.write, progress, jobs)
        out.commit()


def analyse_file(path, progress=False, **options):
    """Per-tensor statistics of compressing a safetensors file (nothing is written)."""
    rows = []
    with _Source(path) as source:
        index, bounds = _compress(source, lambda seg, stored: None, progress=progress,
                                  **options)
        size_in = source.size
    for seg, bound in zip(index["segments"], bounds):
        if seg["kind"] != "tensor":
            continue
        row = {"name": seg["name"], "dtype": seg["dtype"],
               "elements": seg["length"] // DTYPE_SIZES[seg["dtype"]],
               "raw_bytes": seg["length"], "compressed_bytes": seg["stored"],
               "codebook": seg["table"]["codebook"] if seg["storage"] == "ans" else "raw",
               "table_log": seg["table"]["table_log"] if seg["storage"] == "ans" else None}
        row["ratio"] = row["raw_bytes"] / max(1, row["compressed_bytes"])
        row["bound_bytes"] = bound / 8
        rows.append(row)
    file_bytes = len(_layout(index)) + sum((s["stored"] + 3) & ~3 for s in index["segments"])
    raw = sum(r["raw_bytes"] for r in rows)
    comp = sum(r["compressed_bytes"] for r in rows)
    bound = sum(r["bound_bytes"] for r in rows)
    totals = {"tensors": len(rows), "raw_bytes": raw, "compressed_bytes": comp,
              "bound_bytes": bound, "ratio": raw / max(1, comp),
              "bound_ratio": raw / max(1, bound), "file_bytes_in": size_in,
              "file_bytes_out": file_bytes, "file_ratio": size_in / file_bytes}
    return rows, totals


def _restore_segment(seg, stored):
    """Bytes of one segment given as its index entry (kept for golden.bench)."""
    return bytes(restore_segment(check_segment(seg), stored))
