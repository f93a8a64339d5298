"""The .ansn container: byte-identical restore, every kind of bad input, the real MiniLM file."""

import json
import struct
import subprocess
import zlib

import ml_dtypes
import numpy as np
import pytest

from golden import data
from golden.format import codebooks, container
from golden.format.container import AnsnError

from ansnum_helpers import METADATA, safetensors_bytes, synthetic_tensors


def _round_trip(buf, **options):
    index, stored, bounds = container.compress_bytes(buf, **options)
    packed = b"".join(container.container_bytes(index, stored))
    assert b"".join(container.decompress_bytes(packed)) == buf
    return index, packed


def _by_name(index):
    return {s["name"]: s for s in index["segments"] if s["kind"] == "tensor"}


def test_synthetic_file_round_trip(synthetic_file):
    buf = synthetic_file.read_bytes()
    index, packed = _round_trip(buf)
    assert index["source"]["size"] == len(buf) and len(packed) < len(buf)
    segs = _by_name(index)
    assert set(segs) == set(synthetic_tensors())
    for name in ("layer.0.weight", "layer.1.weight", "layer.1.half", "norm.gamma", "quant"):
        assert segs[name]["storage"] == "ans", name
    assert segs["layer.0.weight"]["table"]["codebook"].startswith("bf16-")
    assert segs["layer.1.weight"]["table"]["codebook"].startswith("fp32-")
    assert segs["layer.1.half"]["table"]["codebook"].startswith("fp16-")
    assert segs["quant"]["table"]["codebook"] == "int8"
    for name in ("ids", "counts", "mask", "bytes"):  # integers and bools are stored raw
        assert segs[name]["storage"] == "raw" and "crc32" in segs[name], name
    # segments cover the source without gaps, header first
    assert index["segments"][0]["kind"] == "bytes"
    assert sum(s["length"] for s in index["segments"]) == len(buf)
    header = json.loads(buf[8:8 + struct.unpack("<Q", buf[:8])[0]])
    assert header["__metadata__"] == METADATA
    # offsets are 4-byte aligned
    assert all(s["offset"] % 4 == 0 for s in index["segments"])


def test_gaps_trailer_scalar_and_empty_tensors():
    rng = np.random.default_rng(2)
    w = rng.standard_normal(999).astype(ml_dtypes.bfloat16).tobytes()
    buf = safetensors_bytes(
        [("w", "BF16", [999], w), ("empty", "F32", [0, 5], b""),
         ("scalar", "F32", [], np.float32(3.5).tobytes()), ("one", "BF16", [1], w[:2]),
         ("f8", "F8_E4M3", [64], rng.integers(0, 256, 64, dtype=np.uint8).tobytes()),
         ("f8b", "F8_E5M2", [3000], (rng.standard_normal(3000) * 4).astype(
             ml_dtypes.float8_e5m2).tobytes()),
         ("x", "I16", [3], b"\1\2\3\4\5\6")],
        metadata={"a": "b"}, gap=b"\xAB" * 7, trailer=b"trailing bytes", header_pad=5)
    index, _ = _round_trip(buf)
    segs = _by_name(index)
    assert segs["empty"]["storage"] == "raw" and segs["empty"]["length"] == 0
    assert segs["w"]["storage"] == "ans"
    assert segs["f8b"]["storage"] == "ans"
    assert segs["f8b"]["table"]["codebook"].startswith("fp8e5m2")
    kinds = [s["kind"] for s in index["segments"]]
    assert kinds.count("bytes") == 1 + 6 + 1  # header, gaps, trailer
    # the same with tiny chunks and every table log / state count
    for table_log in (8, 12):
        for states in (1, 4):
            _round_trip(buf, table_log=table_log, chunk_pairs=100, states=states)


def test_unaligned_tensor_offsets():
    """Tensors at odd offsets (allowed by the format) are read correctly."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal(501).astype(ml_dtypes.bfloat16).tobytes()
    b = rng.standard_normal(400).astype(np.float32).tobytes()
    buf = safetensors_bytes([("b0", "BOOL", [3], b"\0\1\1"), ("a", "BF16", [501], a),
                             ("b", "F32", [400], b)], gap=b"\0")
    index, _ = _round_trip(buf)
    assert _by_name(index)["a"]["storage"] == "ans" and _by_name(index)["b"]["storage"] == "ans"


def test_options(synthetic_file):
    buf = synthetic_file.read_bytes()
    index, _ = _round_trip(buf, codebook="bf16-sexp")
    segs = _by_name(index)
    assert segs["layer.0.weight"]["table"]["codebook"] == "bf16-sexp"
    assert segs["layer.1.weight"]["table"]["codebook"].startswith("fp32-")
    # only the tensors the regex selects are coded
    index, _ = _round_trip(buf, tensors_regex=r"^layer\.0\.")
    segs = _by_name(index)
    coded = {n for n, s in segs.items() if s["storage"] == "ans"}
    assert coded == {"layer.0.weight"}  # (layer.0.bias is too small to gain)
    # a lossy code book can never make the file lossy
    _round_trip(buf, codebook="user-e4m-example")
    with pytest.raises(codebooks.CodeBookError):
        container.compress_bytes(buf, codebook="no-such-book")
    index, _ = _round_trip(buf, table_log=8, chunk_pairs=64, states=4)
    assert all(s["table"]["table_log"] == 8 for s in _by_name(index).values()
               if s["storage"] == "ans")
    assert index["chunk_pairs"] == 64 and index["states"] == 4


def test_files_and_no_leftovers(tmp_path, synthetic_file):
    out = tmp_path / "m.ansn"
    back = tmp_path / "back.safetensors"
    container.compress_file(str(synthetic_file), str(out))
    container.decompress_file(str(out), str(back))
    assert back.read_bytes() == synthetic_file.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["back.safetensors", "m.ansn",
                                                          "model.safetensors"]
    with pytest.raises(AnsnError, match="no such file"):
        container.compress_file(str(tmp_path / "missing"), str(tmp_path / "x"))
    with pytest.raises(AnsnError, match="is a directory"):
        container.compress_file(str(tmp_path), str(tmp_path / "x"))
    with pytest.raises(AnsnError, match="directory does not exist"):
        container.compress_file(str(synthetic_file), str(tmp_path / "nodir" / "x"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["back.safetensors", "m.ansn",
                                                          "model.safetensors"]


def test_analyse(synthetic_file):
    rows, totals = container.analyse_file(str(synthetic_file))
    assert len(rows) == totals["tensors"] == len(synthetic_tensors())
    assert totals["raw_bytes"] == sum(r["raw_bytes"] for r in rows)
    assert totals["compressed_bytes"] == sum(r["compressed_bytes"] for r in rows)
    assert totals["file_bytes_in"] == synthetic_file.stat().st_size
    index, stored, _ = container.compress_bytes(synthetic_file.read_bytes())
    assert totals["file_bytes_out"] == sum(map(len, container.container_bytes(index, stored)))
    for r in rows:
        if r["codebook"] != "raw":  # the coder lands within 1 % + the table of the bound
            assert r["bound_bytes"] <= r["compressed_bytes"] <= 1.01 * r["bound_bytes"] + 600
        else:
            assert r["compressed_bytes"] == r["raw_bytes"]


# --- malformed containers ----------------------------------------------------------------------

@pytest.fixture
def packed(synthetic_file):
    """``(source, index, container)``; table log 9 and 1000-pair chunks keep decoding quick."""
    buf = synthetic_file.read_bytes()
    index, stored, _ = container.compress_bytes(buf, table_log=9, chunk_pairs=1000)
    assert any(s["storage"] == "ans" and s["stored"] > 4000 for s in index["segments"])
    return buf, index, b"".join(container.container_bytes(index, stored))


def _data_start(packed_bytes):
    (n,) = struct.unpack_from("<I", packed_bytes, 8)
    return (16 + n + 3) & ~3


def _one_line(e):
    msg = str(e.value)
    assert msg and "\n" not in msg
    return msg


def test_truncated_container(packed):
    """Cut anywhere into the stored bytes: an error. (Only the zero padding after the last
    segment is not needed to restore the file.)"""
    buf, index, packed = packed
    last = index["segments"][-1]
    end = _data_start(packed) + last["offset"] + last["stored"]
    assert len(packed) - end < 4
    for n in list(range(0, 64)) + list(range(64, end, 7)) + [end - 1]:
        with pytest.raises(AnsnError) as e:
            container.decompress_bytes(packed[:n])
        _one_line(e)
    for n in range(end, len(packed)):
        assert b"".join(container.decompress_bytes(packed[:n])) == buf


def test_corrupted_index(packed):
    _, _, packed = packed
    for pos in range(16, _data_start(packed) - 3, 5):
        bad = bytearray(packed)
        bad[pos] ^= 0x40
        with pytest.raises(AnsnError, match="index CRC mismatch"):
            container.decompress_bytes(bytes(bad))


def test_corrupted_data(packed):
    buf, index, packed = packed
    start = _data_start(packed)
    for seg in index["segments"]:
        if not seg["stored"]:
            continue
        bad = bytearray(packed)
        bad[start + seg["offset"] + seg["stored"] // 2] ^= 0x10
        with pytest.raises(AnsnError) as e:
            container.decompress_bytes(bytes(bad))
        msg = _one_line(e)
        if seg.get("storage") == "ans":
            assert seg["name"] in msg and "CRC mismatch" in msg
        elif seg["kind"] == "tensor":
            assert "segment CRC mismatch" in msg


def test_every_corrupted_byte_fails_or_restores_exactly(packed):
    """Flipping any byte never yields a different file: either an error or the original."""
    buf, _, packed = packed
    errors = 0
    positions = list(range(_data_start(packed) + 64)) + list(range(_data_start(packed) + 64,
                                                                  len(packed), 11))
    for pos in positions:
        bad = bytearray(packed)
        bad[pos] ^= 0xFF
        try:
            out = b"".join(container.decompress_bytes(bytes(bad)))
        except AnsnError as e:
            assert "\n" not in str(e)
            errors += 1
        else:
            assert out == buf
    assert errors > 0.9 * len(positions)


def test_foreign_files(synthetic_file):
    rng = np.random.default_rng(4)
    for junk in (b"", b"ANSN", rng.integers(0, 256, 1000, dtype=np.uint8).tobytes(),
                 synthetic_file.read_bytes()):
        with pytest.raises(AnsnError, match="not an .ansn file"):
            container.decompress_bytes(junk)
    good = b"".join(container.container_bytes(*container.compress_bytes(
        synthetic_file.read_bytes())[:2]))
    with pytest.raises(AnsnError, match="unsupported .ansn version 2"):
        container.decompress_bytes(good[:4] + struct.pack("<H", 2) + good[6:])


def _reindexed(packed_bytes, edit):
    """The container with its index edited (and a correct CRC, so later checks are reached)."""
    (n,) = struct.unpack_from("<I", packed_bytes, 8)
    index = json.loads(zlib.decompress(packed_bytes[16:16 + n]))
    data_part = packed_bytes[_data_start(packed_bytes):]
    edit(index)
    blob = zlib.compress(json.dumps(index).encode())
    head = b"ANSN" + struct.pack("<HHII", 1, 0, len(blob), zlib.crc32(blob))
    return head + blob + b"\0" * (-(len(head) + len(blob)) % 4) + data_part


def test_crafted_index(packed):
    buf, index, packed = packed
    assert b"".join(container.decompress_bytes(_reindexed(packed, lambda i: None))) == buf
    ans = next(k for k, s in enumerate(index["segments"]) if s.get("storage") == "ans")
    edits = {
        "no source size": lambda i: i["source"].pop("size"),
        "no sha": lambda i: i["source"].pop("sha256"),
        "no segments": lambda i: i.pop("segments"),
        "segments not a list": lambda i: i.update(segments={}),
        "bad sha": lambda i: i["source"].update(sha256="0" * 64),
        "no offset": lambda i: i["segments"][1].pop("offset"),
        "offset past end": lambda i: i["segments"][-1].update(offset=10**9),
        "unknown storage": lambda i: i["segments"][ans].update(storage="lzma"),
        "unknown code book": lambda i: i["segments"][ans]["table"].update(codebook="x"),
        "bad table": lambda i: i["segments"][ans]["table"].update(counts=[1, 2]),
        "bad dtype": lambda i: i["segments"][ans].update(dtype="C64"),
        "wrong length": lambda i: i["segments"][ans].update(length=index["segments"][ans]
                                                            ["length"] + 2),
        "odd stored": lambda i: i["segments"][ans].update(stored=index["segments"][ans]
                                                          ["stored"] - 1),
        "segment dropped": lambda i: i["segments"].pop(),
        "segment not a dict": lambda i: i["segments"].append(7),
    }
    for what, edit in edits.items():
        with pytest.raises(AnsnError) as e:
            container.decompress_bytes(_reindexed(packed, edit))
        _one_line(e)


# --- bad safetensors input ---------------------------------------------------------------------

def _bad_safetensors():
    ok = np.ones(4, np.float32).tobytes()
    good = safetensors_bytes([("t", "F32", [4], ok)])
    hdr = lambda obj: json.dumps(obj).encode()
    with_header = lambda text, body=ok: struct.pack("<Q", len(text)) + text + body
    return {
        "shorter than": b"\1\2\3",
        "header length past the end": struct.pack("<Q", 10**6) + b"{}",
        "header length past the end ": good[:-len(ok)][:12],
        "header is not JSON": with_header(b"\xff\xfe not json"),
        "not a JSON object": with_header(hdr([1, 2])),
        "bad entry for tensor 't'": with_header(hdr({"t": {"dtype": "F32"}})),
        "bad entry for tensor 'u'": with_header(hdr({"u": "string"})),
        "unsupported dtype 'C64'": with_header(hdr({"t": {"dtype": "C64", "shape": [2],
                                                          "data_offsets": [0, 16]}})),
        "data offsets outside the file": with_header(hdr({"t": {"dtype": "F32", "shape": [8],
                                                                "data_offsets": [0, 32]}})),
        "data offsets outside the file ": with_header(hdr({"t": {"dtype": "F32", "shape": [1],
                                                                 "data_offsets": [-12, -8]}})),
        "data size does not match": with_header(hdr({"t": {"dtype": "F32", "shape": [3],
                                                           "data_offsets": [0, 16]}})),
        "overlap": with_header(hdr({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                    "b": {"dtype": "F32", "shape": [2],
                                          "data_offsets": [4, 12]}})),
        "truncated file?": good[:-1],
    }


@pytest.mark.parametrize("what,buf", list(_bad_safetensors().items()))
def test_bad_safetensors(what, buf, tmp_path):
    with pytest.raises(AnsnError) as e:
        container.compress_bytes(buf)
    msg = _one_line(e)
    assert what.strip() in msg
    src = tmp_path / "in.safetensors"
    src.write_bytes(buf)
    with pytest.raises(AnsnError):
        container.compress_file(str(src), str(tmp_path / "out.ansn"))
    assert [p.name for p in tmp_path.iterdir()] == ["in.safetensors"]


def test_not_safetensors_given_to_compress(packed, tmp_path):
    _, _, packed = packed
    with pytest.raises(AnsnError, match="not a safetensors file"):
        container.compress_bytes(packed)


# --- the real model ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def minilm():
    try:
        path = data.minilm_bf16()
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"MiniLM weights unavailable: {e}")
    return path.read_bytes()


def test_minilm_bf16(minilm):
    index, stored, bounds = container.compress_bytes(minilm)
    packed = b"".join(container.container_bytes(index, stored))
    ratio = len(minilm) / len(packed)
    assert ratio >= 1.505, ratio
    assert b"".join(container.decompress_bytes(packed)) == minilm
    tensors = [s for s in index["segments"] if s["kind"] == "tensor"]
    assert len(tensors) > 100
    assert all(s["storage"] == "ans" for s in tensors if s["dtype"] == "BF16"
               and s["length"] >= 4096)
