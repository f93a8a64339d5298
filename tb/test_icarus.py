"""Every exported top under Icarus Verilog (the simulator cocotb users run most), as a new user
runs it: the file `make verilog` writes, driven through its ports by cocotbext-axi's models
(tb/cocotb_stream.py, tb/cocotb_system.py) with random stalls, a real tensor bit for bit. (The
one-lane decompressor exported with Amaranth's own Verilog backend never raised
``s_table_ready`` here: its ``always @*`` blocks waited for a dummy trigger Icarus never fires;
hdl.export.to_verilog makes continuous assignments instead.)

``make test`` runs one configuration of each top (the multi-lane ones and the system without
engines: ``make test-all``). Skipped where ``iverilog`` is not installed (.ci/run installs it)."""

import json
import shutil

import ml_dtypes
import numpy as np
import pytest

from golden.ans import codec
from golden.format import codebooks
from golden.format.image import MemoryImage

from .system_bench import SystemBench, expected
from .verilator import ROOT, TB, _locked

pytestmark = [pytest.mark.skipif(shutil.which("iverilog") is None, reason="no iverilog"),
              pytest.mark.xdist_group("icarus")]

BOOKS = [codebooks.get("bf16-exp"), codebooks.get("bf16-sexp")]


def bf16(rng, n, scale):
    return (rng.standard_normal(n) * scale).astype(ml_dtypes.bfloat16).view(np.uint16)


def run_stream_top(top, lanes, tensors, *, stall=0.3, **options):
    """Export ``top``, build it under Icarus, run ``tensors`` (dicts: table, input bytes);
    returns the results."""
    from cocotb_tools.runner import get_results, get_runner
    from hdl.export import export
    out = ROOT / "build" / "tb" / f"icarus-{top}-{lanes}l"
    with _locked(out):
        paths = export(top, out / "verilog", lanes=lanes, **options)
        runner = get_runner("icarus")
        stem = paths["verilog"].stem
        runner.build(sources=[paths["verilog"]], hdl_toplevel=stem, build_dir=out / "obj",
                     timescale=("1ns", "1ps"))
        spec = {"tensors": tensors, "stall": stall, "seed": lanes}
        (out / "spec.json").write_text(json.dumps(spec))
        xml = runner.test(hdl_toplevel=stem, test_module="cocotb_stream", test_dir=TB,
                          build_dir=out / "obj", results_xml=str(out / "results.xml"),
                          extra_env={"ANSNUM_STREAM_SPEC": str(out / "spec.json"),
                                     "ANSNUM_STREAM_RESULTS": str(out / "results.json"),
                                     "PYTHONPATH": str(ROOT)})
        _total, failed = get_results(xml)
        assert not failed, f"cocotb run failed: see {out}"
        return json.loads((out / "results.json").read_text())


@pytest.mark.parametrize("lanes", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_exported_decompressor(lanes):
    rng = np.random.default_rng(lanes)
    tensors, want = [], []
    for n, chunk in [(1500, 400), (700, 700)]:
        x = bf16(rng, n, 0.05)
        table, payload, _ = codec.compress_values(x, BOOKS, max_table_log=8, chunk_pairs=chunk)
        tensors.append({"table": [[a, int(w)] for a, w in enumerate(table.image())],
                        "input": payload.astype("<u4").tobytes().hex()})
        want.append(x.astype("<u2").tobytes().hex())
    results = run_stream_top("decompressor", lanes, tensors, table_log_max=8)
    for r, w in zip(results, want, strict=True):
        assert r["error"] == 0 and r["output"] == w


@pytest.mark.parametrize("lanes", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_exported_compressor(lanes):
    rng = np.random.default_rng(10 + lanes)
    chunk = 256
    x = bf16(rng, 1200, 0.05)
    table, _, _ = codec.compress_values(x, BOOKS, max_table_log=8)
    codes, extras = table.codebook.encode(x)
    payload = codec.encode_payload(table, codes, extras, chunk_pairs=chunk)
    addrs, words = table.encoder_image()
    tensors = [{"table": [[int(a), int(w)] for a, w in zip(addrs, words)],
                "input": x.astype("<u2").tobytes().hex()}]
    (r,) = run_stream_top("compressor", lanes, tensors, table_log_max=8, chunk_pairs=chunk)
    assert r["error"] == 0 and r["output"] == payload.astype("<u4").tobytes().hex()


@pytest.mark.parametrize("engine", ["bf16", pytest.param("none", marks=pytest.mark.slow)])
def test_exported_system(engine):
    b = SystemBench(lanes=2, tokens=2, engine=engine, table_log_max=8,
                    simulator="icarus").build()
    rng = np.random.default_rng(20)
    rows, cols = 8, 32
    w = bf16(rng, rows * cols, 0.05)
    image = MemoryImage.compress(w, BOOKS, max_table_log=8, chunk_pairs=2 * cols)
    xs = [bf16(rng, cols, 1.0) for _ in range(2)] if engine == "bf16" else []
    base = 0x400
    memory = bytes(base) + image.to_bytes()
    jobs = [b.job(image, base, xs, cols if engine == "bf16" else None),
            b.job(image, base, [], cols if engine == "bf16" else None, first=1, count=2,
                  table=False)]
    results = b.run(memory, jobs, name=f"icarus-{engine}", stall=0.3, latency=2)
    for job, result in zip(jobs, results):
        d = job["registers"]
        lo, hi = image.value_range(d["first_chunk"], d["chunk_count"])
        assert result["done"] and not result["error"], result
        if engine == "bf16":
            assert b.outputs(result) == expected(b, w[lo:hi], xs, cols)
        else:
            assert b.outputs(result) == [int(v) for v in w[lo:hi]]
