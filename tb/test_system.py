"""The system top (hdl/system.py, exported by hdl.export) under Verilator with cocotbext-axi's
bus models (tb/cocotb_system.py): a compressed weight matrix in an AXI4 RAM with random
back-pressure and latency on AR and R, registers on AXI4-Lite, activations and results on
AXI-Stream with random stalls. Every result of every engine is compared with golden.engine bit
for bit, for the whole tensor and for chunk ranges (random access through the chunk index); bus
errors, a descriptor outside memory and refused descriptors end with their code, and the next job
is right."""

import ml_dtypes
import numpy as np
import pytest

from golden.format import codebooks
from golden.format.image import MemoryImage
from hdl.axi.read_master import ReaderError

from .system_bench import SystemBench, expected

BASE = 0x1000
BOOKS = [codebooks.get("bf16-exp"), codebooks.get("bf16-sexp")]
_benches = {}


def bench(lanes, tokens, engine="bf16", in_words=4):
    key = (lanes, tokens, engine, in_words)
    if key not in _benches:
        _benches[key] = SystemBench(lanes=lanes, tokens=tokens, engine=engine,
                                    in_words=in_words).build()
    return _benches[key]


def group(name):
    return pytest.mark.xdist_group(f"system-{name}")


def bf16(rng, n, scale):
    return (rng.standard_normal(n) * scale).astype(ml_dtypes.bfloat16).view(np.uint16)


def matrix(rng, rows, cols, rows_per_chunk):
    w = bf16(rng, rows * cols, 0.05)
    w[rng.random(len(w)) < 0.002] = 0x8000                   # a few -0 among them
    return w, MemoryImage.compress(w, BOOKS, max_table_log=9, chunk_pairs=rows_per_chunk * cols)


@group("bf16-2x2")
def test_layer_and_chunk_ranges_bit_exact():
    b = bench(2, 2)
    rng = np.random.default_rng(1)
    rows, cols = 40, 96
    w, image = matrix(rng, rows, cols, 4)
    xs = [bf16(rng, cols, 1.0) for _ in range(2)]
    xs2 = [bf16(rng, cols, 3.0) for _ in range(2)]
    memory = bytes(BASE) + image.to_bytes()
    jobs = [b.job(image, BASE, xs, cols),
            b.job(image, BASE, [], cols, first=3, count=4, table=False),     # rows 12 .. 27
            b.job(image, BASE, xs2, cols, first=image.chunks - 1, count=1)]
    results = b.run(memory, jobs, name="layer", stall=0.3, latency=4, seed=2)
    for job, xv, result in zip(jobs, [xs, xs, xs2], results):
        d = job["registers"]
        lo, hi = image.value_range(d["first_chunk"], d["chunk_count"])
        assert result["done"] and not result["error"], result
        assert b.outputs(result) == expected(b, w[lo:hi], xv, cols)
        assert result["values"] == hi - lo
        assert result["rows"] == (hi - lo) // cols
        assert result["engine_beats"] == (hi - lo) // 2
        # the memory traffic: the table (if loaded), 3 index words, the chunks' payload, in
        # whole beats of 16 bytes; it does not depend on the number of engines
        words = image.index[d["first_chunk"] + d["chunk_count"]] - image.index[d["first_chunk"]]
        assert 4 * (words + 3) <= result["bytes_read"] <= \
            4 * (words + 3) + 4 * d["table_words"] + 16 * 8
    assert results[0]["id"] == 0x59534E41


@group("bf16-2x2")
def test_bus_errors_and_bad_descriptors_end_cleanly():
    b = bench(2, 2)
    rng = np.random.default_rng(3)
    rows, cols = 24, 64
    w, image = matrix(rng, rows, cols, 2)
    xs = [bf16(rng, cols, 1.0) for _ in range(2)]
    memory = bytes(BASE) + image.to_bytes()
    end = len(memory)
    bad_word = BASE // 4 + image.payload_offset + image.index[5] + 7       # in chunk 5
    good = b.job(image, BASE, xs, cols)
    jobs = [
        b.job(image, BASE, xs, cols, max_cycles=200_000),                  # SLVERR in chunk 5
        dict(good, registers=dict(good["registers"], payload_addr=end + 0x2000)),  # DECERR
        dict(good, registers=dict(good["registers"], chunk_count=0)),      # refused
        dict(good, registers=dict(good["registers"], cols=cols + 1)),      # refused: COLS
        b.job(image, BASE, xs, cols, first=6, count=3),                    # and then all fine
    ]
    results = b.run(memory, jobs, name="errors", stall=0.2, latency=2, seed=4,
                    slverr={bad_word}, decerr_from=end + 0x1000)
    slverr, decerr, refused, cols_bad, fine = results
    assert slverr["done"] and slverr["error"]
    assert slverr["reader_error"] == ReaderError.SLVERR.value
    assert slverr["decompressor_error"] != 0                 # the tensor was cut and flagged
    got = b.outputs(slverr)             # the rows before chunk 5, closed by a beat of zeros
    assert 0 < len(got) - 1 <= 5 * 2 and got[-1] == [0, 0]
    assert got[:-1] == expected(b, w[:(len(got) - 1) * cols], xs, cols)
    assert slverr["rows"] == len(got)
    assert decerr["done"] and decerr["reader_error"] == ReaderError.DECERR.value
    assert refused["done"] and refused["reader_error"] == ReaderError.DESCRIPTOR.value
    assert refused["bytes_read"] == 0
    assert cols_bad["done"] and cols_bad["reader_error"] == ReaderError.COLS.value
    lo, hi = image.value_range(6, 3)
    assert fine["done"] and not fine["error"]
    assert b.outputs(fine) == expected(b, w[lo:hi], xs, cols)


@pytest.mark.slow
@group("fixed-2x2")
def test_fixed_point_engines_bit_exact():
    b = bench(2, 3, engine="fixed")
    rng = np.random.default_rng(5)
    rows, cols = 20, 64
    w, image = matrix(rng, rows, cols, 4)
    xs = [rng.integers(-1 << 15, 1 << 15, cols) for _ in range(3)]
    memory = bytes(BASE) + image.to_bytes()
    jobs = [b.job(image, BASE, xs, cols), b.job(image, BASE, [], cols, first=2, count=2,
                                                  table=False)]
    results = b.run(memory, jobs, name="fixed", stall=0.3, latency=3, seed=6)
    for job, result in zip(jobs, results):
        d = job["registers"]
        lo, hi = image.value_range(d["first_chunk"], d["chunk_count"])
        assert result["done"] and not result["error"], result
        assert b.outputs(result) == expected(b, w[lo:hi], xs, cols)
