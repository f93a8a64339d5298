"""The ``.ansn`` container: a safetensors file, compressed tensor by tensor, restorable byte for byte.

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
"""

import hashlib
import json
import mmap
import os
import re
import struct
import tempfile
import zlib

import numpy as np

from ..ans import codec
from ..jobs import Jobs
from . import codebooks

__all__ = ["FORMAT_VERSION", "AnsnError", "compress_file", "decompress_file", "read_container",
           "parse_safetensors", "analyse_file"]

MAGIC = b"ANSN"
FORMAT_VERSION = 1

#: safetensors dtype -> (bytes per element)
DTYPE_SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2,
               "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


class AnsnError(Exception):
    """Bad input or a file that does not decode; the message is one line for the user."""


def parse_safetensors(buf):
    """``(header_len, tensors)`` of a safetensors file in ``buf`` (bytes-like).

    ``tensors`` is a list of dicts with name, dtype, shape, begin, end (absolute offsets), in
    file order. Raises :class:`AnsnError` when ``buf`` is not a well-formed safetensors file.
    """
    if len(buf) < 8:
        raise AnsnError("not a safetensors file: shorter than its 8-byte header length")
    (n,) = struct.unpack_from("<Q", buf, 0)
    if n > len(buf) - 8 or n > 100 << 20:
        raise AnsnError("not a safetensors file: header length past the end of the file")
    try:
        header = json.loads(bytes(buf[8:8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise AnsnError("not a safetensors file: header is not JSON") from None
    if not isinstance(header, dict):
        raise AnsnError("not a safetensors file: header is not a JSON object")
    tensors = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape = info["dtype"], [int(d) for d in info["shape"]]
            begin, end = (int(o) + 8 + n for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise AnsnError(f"not a safetensors file: bad entry for tensor {name!r}") from None
        if dtype not in DTYPE_SIZES:
            raise AnsnError(f"tensor {name!r}: unsupported dtype {dtype!r}")
        if not 8 + n <= begin <= end <= len(buf):
            raise AnsnError(f"tensor {name!r}: data offsets outside the file (truncated file?)")
        if end - begin != int(np.prod(shape, dtype=np.int64)) * DTYPE_SIZES[dtype]:
            raise AnsnError(f"tensor {name!r}: data size does not match dtype and shape")
        tensors.append({"name": name, "dtype": dtype, "shape": shape, "begin": begin, "end": end})
    tensors.sort(key=lambda t: t["begin"])
    for a, b in zip(tensors, tensors[1:]):
        if b["begin"] < a["end"]:
            raise AnsnError(f"tensors {a['name']!r} and {b['name']!r} overlap")
    return 8 + n, tensors


def _value_view(raw, dtype):
    size = DTYPE_SIZES[dtype]
    return np.frombuffer(raw, dtype={1: "<u1", 2: "<u2", 4: "<u4", 8: "<u8"}[size])


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


def _tensor_segment(raw, t, *, codebook, table_log, chunk_pairs, states, map_chunks=map):
    """Segment description and stored bytes of one tensor (``map_chunks``: as in
    :func:`golden.ans.codec.compress_values`)."""
    seg = {"kind": "tensor", "name": t["name"], "dtype": t["dtype"], "shape": t["shape"],
           "length": len(raw)}
    candidates = _candidates(t["dtype"], codebook) if len(raw) else []
    if candidates:
        values = _value_view(raw, t["dtype"])
        table, payload, info = codec.compress_values(
            values, candidates, max_table_log=table_log, chunk_pairs=chunk_pairs, states=states,
            map_chunks=map_chunks)
        stored = payload.astype("<u4", copy=False).view(np.uint8)
        desc_bytes = len(json.dumps(table.to_json(), separators=(",", ":")))
        if len(stored) + desc_bytes < len(raw):
            seg.update(storage="ans", table=table.to_json())
            return seg, stored, info["bound_bits"]
    seg.update(storage="raw", crc32=zlib.crc32(raw))
    return seg, bytes(raw), 8 * len(raw)


def _bytes_segment(raw):
    packed = zlib.compress(bytes(raw), 9)
    if len(packed) < len(raw):
        return {"kind": "bytes", "storage": "zlib", "length": len(raw),
                "crc32": zlib.crc32(raw)}, packed
    return {"kind": "bytes", "storage": "raw", "length": len(raw), "crc32": zlib.crc32(raw)}, \
        bytes(raw)


def _read_input(path):
    """The file's bytes: a read-only memory map for files of a megabyte or more (reading
    them into memory costs a page fault per 4 kB, as much as hashing them), else bytes."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 1 << 20:
                return f.read()
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except FileNotFoundError:
        raise AnsnError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise AnsnError(f"{path}: is a directory") from None
    except PermissionError:
        raise AnsnError(f"{path}: permission denied") from None


def _write_atomic(path, chunks):
    """Write to a temporary file beside ``path`` and rename, so that no partial file is left."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise AnsnError(f"{path}: directory does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".ansnum-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            for c in chunks:
                f.write(c)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _segments(buf, header_len, tensors):
    """Yield (kind, begin, end, tensor or None) covering the file without gaps."""
    pos = 0
    yield "bytes", 0, header_len, None
    pos = header_len
    for t in tensors:
        if t["begin"] > pos:
            yield "bytes", pos, t["begin"], None
        yield "tensor", t["begin"], t["end"], t
        pos = t["end"]
    if pos < len(buf):
        yield "bytes", pos, len(buf), None


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


def compress_bytes(buf, *, codebook="auto", table_log=codec.DEFAULT_TABLE_LOG,
                   chunk_pairs=codec.DEFAULT_CHUNK_PAIRS, states=codec.DEFAULT_STATES,
                   tensors_regex=None, progress=False, jobs=1):
    """A safetensors file's bytes -> ``(index, [stored bytes per segment], [bound bits])``.

    The bound of a tensor segment is its size at the empirical entropy of its codes plus the
    raw extra bits, for the code book chosen (its raw size when stored raw); None for bytes.
    ``jobs`` threads code tensors and chunks (:class:`golden.jobs.Jobs`); the result does not
    depend on it.
    """
    header_len, tensors = parse_safetensors(buf)
    mv = memoryview(buf)
    pattern = re.compile(tensors_regex) if tensors_regex else None
    with Jobs(jobs) as pool, _progress_bar(len(buf), "compress", progress) as bar:
        sha = pool.submit(lambda: hashlib.sha256(buf).hexdigest())

        def one(segment):
            kind, begin, end, t = segment
            raw = mv[begin:end]
            if kind == "bytes":
                seg, stored = _bytes_segment(raw)
                bound = None
            else:
                book = "none" if pattern and not pattern.search(t["name"]) else codebook
                seg, stored, bound = _tensor_segment(raw, t, codebook=book, table_log=table_log,
                                                     chunk_pairs=chunk_pairs, states=states,
                                                     map_chunks=pool.map_chunks)
            seg["stored"] = len(stored)
            return seg, stored, bound, end - begin

        index = {"format": "ansn", "version": FORMAT_VERSION,
                 "source": {"format": "safetensors", "size": len(buf), "sha256": None},
                 "chunk_pairs": chunk_pairs, "states": states, "segments": []}
        stored_all, bounds = [], []
        for seg, stored, bound, size in pool.map_tensors(one, _segments(buf, header_len,
                                                                         tensors)):
            index["segments"].append(seg)
            stored_all.append(stored)
            bounds.append(bound)
            bar.update(size)
        index["source"]["sha256"] = sha.result()
    return index, stored_all, bounds


def container_bytes(index, stored_all):
    """Lay out the container: header, index, padded segments (offsets filled in)."""
    offset = 0
    for seg, stored in zip(index["segments"], stored_all):
        seg["offset"] = offset
        offset += (len(stored) + 3) & ~3
    blob = zlib.compress(json.dumps(index, separators=(",", ":")).encode(), 9)
    head = MAGIC + struct.pack("<HHII", FORMAT_VERSION, 0, len(blob), zlib.crc32(blob))
    out = [head, blob, b"\0" * (-(len(head) + len(blob)) % 4)]
    for stored in stored_all:
        out += [stored, b"\0" * (-len(stored) % 4)]
    return out


def compress_file(src, dst, progress=False, **options):
    buf = _read_input(src)
    index, stored, _ = compress_bytes(buf, progress=progress, **options)
    _write_atomic(dst, container_bytes(index, stored))
    return index


def read_container(buf):
    """``(index, data memoryview)`` of container bytes; raises :class:`AnsnError`."""
    if len(buf) < 16 or bytes(buf[:4]) != MAGIC:
        raise AnsnError("not an .ansn file: bad magic")
    version, flags, n, crc = struct.unpack_from("<HHII", buf, 4)
    if version != FORMAT_VERSION:
        raise AnsnError(f"unsupported .ansn version {version} (this tool reads {FORMAT_VERSION})")
    if 16 + n > len(buf):
        raise AnsnError("truncated .ansn file: index runs past the end")
    blob = bytes(buf[16:16 + n])
    if zlib.crc32(blob) != crc:
        raise AnsnError("corrupted .ansn file: index CRC mismatch")
    try:
        index = json.loads(zlib.decompress(blob))
        if not isinstance(index["segments"], list) or not isinstance(index["source"], dict) \
                or not isinstance(index["source"]["size"], int) \
                or not isinstance(index["source"]["sha256"], str):
            raise TypeError
    except (ValueError, KeyError, TypeError, zlib.error):
        raise AnsnError("corrupted .ansn file: index is not valid") from None
    data_start = (16 + n + 3) & ~3
    return index, memoryview(buf)[data_start:]


def _restore_segment(seg, stored, map_chunks=map):
    kind, storage = seg.get("kind"), seg.get("storage")
    if storage == "raw":
        out = bytes(stored)
    elif storage == "zlib":
        try:
            out = zlib.decompress(stored)
        except zlib.error:
            raise AnsnError("corrupted .ansn file: a zlib segment does not inflate") from None
    elif storage == "ans" and kind == "tensor":
        table = codec.Table.from_json(seg["table"])
        if len(stored) % 4:
            raise AnsnError(f"tensor {seg['name']!r}: payload is not whole words")
        size = DTYPE_SIZES[seg["dtype"]]
        n = seg["length"] // size
        payload = np.frombuffer(stored, "<u4")
        out = bytearray(n * size)
        view = np.frombuffer(out, {1: "<u1", 2: "<u2", 4: "<u4", 8: "<u8"}[size])
        if view.dtype == table.codebook.value_dtype:   # decoded in place
            codec.decompress_values(table, payload, n, out=view, map_chunks=map_chunks)
        else:
            view[:] = codec.decompress_values(table, payload, n, map_chunks=map_chunks)
    else:
        raise AnsnError(f"corrupted .ansn file: unknown segment storage {storage!r}")
    if len(out) != seg["length"]:
        raise AnsnError("corrupted .ansn file: a segment restores to the wrong length")
    if "crc32" in seg and zlib.crc32(out) != seg["crc32"]:
        raise AnsnError("corrupted .ansn file: segment CRC mismatch")
    return out


def decompress_bytes(buf, progress=False, jobs=1):
    """Container bytes -> the restored file as a list of bytes-like pieces (SHA-256 checked);
    ``jobs`` as in :func:`compress_bytes`."""
    index, data = read_container(buf)

    def one(seg):
        try:
            start, length = int(seg["offset"]), int(seg["stored"])
        except (KeyError, TypeError, ValueError):
            raise AnsnError("corrupted .ansn file: segment without offset") from None
        if start + length > len(data):
            raise AnsnError("truncated .ansn file: a segment runs past the end")
        try:
            return _restore_segment(seg, data[start:start + length], pool.map_chunks)
        except codec.PayloadError as e:
            raise AnsnError(f"tensor {seg.get('name')!r}: {e}") from None
        except (KeyError, TypeError, ValueError):
            raise AnsnError("corrupted .ansn file: bad segment description") from None

    out = []
    sha = hashlib.sha256()
    with Jobs(jobs) as pool, \
            _progress_bar(index["source"]["size"], "decompress", progress) as bar:
        for piece in pool.map_tensors(one, index["segments"]):
            sha.update(piece)
            out.append(piece)
            bar.update(len(piece))
    if sha.hexdigest() != index["source"]["sha256"]:
        raise AnsnError("restored file differs from the original (SHA-256 mismatch)")
    return out


def decompress_file(src, dst, progress=False, jobs=1):
    buf = _read_input(src)
    out = decompress_bytes(buf, progress=progress, jobs=jobs)
    _write_atomic(dst, out)


def analyse_file(path, progress=False, **options):
    """Per-tensor statistics of compressing a safetensors file (nothing is written)."""
    buf = _read_input(path)
    index, stored, bounds = compress_bytes(buf, progress=progress, **options)
    rows = []
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
    file_bytes = sum(len(c) for c in container_bytes(index, stored))
    raw = sum(r["raw_bytes"] for r in rows)
    comp = sum(r["compressed_bytes"] for r in rows)
    bound = sum(r["bound_bytes"] for r in rows)
    totals = {"tensors": len(rows), "raw_bytes": raw, "compressed_bytes": comp,
              "bound_bytes": bound, "ratio": raw / max(1, comp),
              "bound_ratio": raw / max(1, bound), "file_bytes_in": len(buf),
              "file_bytes_out": file_bytes, "file_ratio": len(buf) / file_bytes}
    return rows, totals
