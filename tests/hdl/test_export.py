"""``make verilog`` (hdl/export.py): the exported files lint clean under Verilator, their ports are
the datasheet's, and the exported Verilog itself, not the test benches' own, decodes all 65,536
bf16 patterns (and encodes them) bit-exact against the golden model under random stalls."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from golden.format import codebooks
from hdl import export

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:   # tb/ is not an installed package
    sys.path.insert(0, str(ROOT))

from tb.vectors import Tensor  # noqa: E402
from tb.verilator import Harness, _verilator_on_path  # noqa: E402

ALL_BF16 = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
BF16_BOOKS = [codebooks.get("bf16-exp"), codebooks.get("bf16-sexp")]
CHUNK = 1024   # the compressor's chunk_pairs here (make verilog's default is 4096)

#: Verilator -Wall warnings allowed in the exported files, each for a reason:
LINT_WAIVERS = [
    "-Wno-WIDTHEXPAND",     # Amaranth/Yosys operands narrower than their result, zero-extended
    "-Wno-WIDTHTRUNC",      # ... and results assigned to narrower signals, by design
    "-Wno-UNUSEDSIGNAL",    # unused bits of struct-typed signals and intermediate wires
    "-Wno-CASEINCOMPLETE",  # Yosys `case` statements whose default is the held value
    "-Wno-PROCASSINIT",     # registers with an initial value (their reset value) and resets
    "-Wno-DECLFILENAME",    # the submodules (`\\ansnum_<top>.core...`) share the top's file
    "-Wno-VARHIDDEN",       # Yosys's multiplexer functions name their inputs a, b, s, as some
                            # of the design's own signals are (function scope: legal Verilog)
]

#: The ports the issue asks for, with their directions.
PORTS = {
    "clk": "input", "rst": "input",
    "s_axis_tdata": "input", "s_axis_tvalid": "input", "s_axis_tready": "output",
    "s_axis_tlast": "input",
    "m_axis_tdata": "output", "m_axis_tvalid": "output", "m_axis_tready": "input",
    "m_axis_tlast": "output",
    "s_table_addr": "input", "s_table_data": "input", "s_table_valid": "input",
    "s_table_ready": "output",
    "status_busy": "output", "status_error": "output", "status_code": "output",
}
WIDTHS = {"decompressor": {"s_axis_tdata": 32, "m_axis_tdata": 16},
          "compressor": {"s_axis_tdata": 16, "m_axis_tdata": 32}}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("verilog")
    return {"decompressor": export.export("decompressor", out),
            "compressor": export.export("compressor", out, chunk_pairs=CHUNK)}


def verilator(*args, cwd):
    _verilator_on_path()
    return subprocess.run(["verilator", *args], cwd=cwd, capture_output=True, text=True)


def module_ports(text, module):
    """``{name: (direction, width)}`` of one module of a Verilog file (Yosys' output style)."""
    body = re.search(rf"^module {module}\((.*?)\);(.*?)^endmodule", text, re.M | re.S)
    assert body, f"no module {module}"
    listed = {p.strip() for p in body.group(1).split(",")}
    ports = {name: (d, int(msb) + 1 if msb else 1) for d, msb, name in re.findall(
        r"^\s*(input|output|inout)\s+(?:\[(\d+):0\]\s+)?(\w+);", body.group(2), re.M)}
    assert set(ports) == listed
    return ports


def datasheet_ports(text):
    section = text.split("## Ports", 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip() for c in r.split("|")[1:-1]] for r in section.splitlines()
            if r.startswith("|")]
    assert rows[0][:3] == ["port", "direction", "width"]
    return {r[0]: (r[1], int(r[2])) for r in rows[2:]}


@pytest.mark.parametrize("top", ["decompressor", "compressor"])
def test_files_and_names(exported, top):
    paths = exported[top]
    assert {p.name for p in paths.values()} == {f"ansnum_{top}.v", f"ansnum_{top}.md",
                                                 f"ansnum_{top}_inst.v"}
    text = paths["verilog"].read_text()
    assert "(* src =" not in text                   # emit_src=False: no paths of this machine
    assert re.search(rf"^module ansnum_{top}\(", text, re.M)
    # self-contained: every module instantiated is defined in the file
    defined = set(re.findall(r"^module (\\\S+|\w+)\s*\(", text, re.M))
    used = set(re.findall(r"^\s+(\\?[\w.$]+)\s+\\?[\w.$]+\s*\(\s*$", text, re.M))
    assert used <= defined, used - defined


@pytest.mark.parametrize("top", ["decompressor", "compressor"])
def test_lint(exported, top):
    path = exported[top]["verilog"]
    r = verilator("--lint-only", "-Wall", *LINT_WAIVERS, "--top-module", f"ansnum_{top}",
                  path.name, cwd=path.parent)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "%Warning" not in r.stderr and "%Error" not in r.stderr, r.stderr[-3000:]


@pytest.mark.parametrize("top", ["decompressor", "compressor"])
def test_ports_match_datasheet(exported, top):
    paths = exported[top]
    ports = module_ports(paths["verilog"].read_text(), f"ansnum_{top}")
    assert ports == datasheet_ports(paths["datasheet"].read_text())
    assert {name: d for name, (d, _) in ports.items()} == PORTS
    widths = {"s_table_addr": 13, "s_table_data": 32, "status_code": 4, **WIDTHS[top]}
    assert {n: w for n, (_, w) in ports.items() if w != 1} == widths


@pytest.mark.parametrize("top", ["decompressor", "compressor"])
def test_datasheet_contents(exported, top):
    text = exported[top]["datasheet"].read_text()
    for section in ("Parameters", "Ports", "Protocol", "Latency and throughput", "Errors",
                    "Resources"):
        assert f"\n## {section}" in text
    assert re.search(r"\| table_log_max \| 10 \|", text)
    assert ("Table.image()" if top == "decompressor" else "Table.encoder_image()") in text
    assert "| 6 | CRC | body CRC-32 mismatch |" in text
    assert re.search(r"^> .*[Ll]atency", text, re.M)        # quoted from the docstring
    resources = text.split("## Resources", 1)[1]
    if top == "decompressor":   # docs/results.md has ECP5 and iCE40 figures of this top
        assert "ECP5" in resources and "iCE40" in resources
        assert re.search(r"commit [0-9a-f]{7}", resources)


@pytest.mark.parametrize("top", ["decompressor", "compressor"])
def test_instantiation_example_compiles(exported, top, tmp_path):
    paths = exported[top]
    (tmp_path / "use.v").write_text(
        "module use_it(input wire clk, input wire rst);\n"
        f"`include \"{paths['instance']}\"\nendmodule\n")
    r = verilator("--lint-only", "-Wno-fatal", "-Wno-UNDRIVEN", "-Wno-UNUSED",
                  *LINT_WAIVERS, "--top-module", "use_it", "use.v", str(paths["verilog"]),
                  cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "%Error" not in r.stderr and "PINMISSING" not in r.stderr, r.stderr[-3000:]


def test_resources_from_results_md_without_build_reports(tmp_path, monkeypatch):
    """A fresh checkout has no build/ reports: the figures come from docs/results.md."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "results.md").write_text((ROOT / "docs" / "results.md").read_text())
    monkeypatch.setattr(export, "ROOT", tmp_path)
    lines = "\n".join(export._resources("decompressor", 1, "bf16", 10, None))
    assert "From docs/results.md" in lines and re.search(r"at commit [0-9a-f]{7}", lines)
    assert re.search(r"^\| ECP5 \| ULX3S-85F .*\| 2 \|", lines, re.M)      # 2 DP16KD
    assert re.search(r"^\| iCE40 \| iCEBreaker .*\| 10 \|", lines, re.M)   # 10 SB_RAM40_4K
    compressor = "\n".join(export._resources("compressor", 1, "bf16", 10, 4))
    assert re.search(r"^\| ECP5 \| ULX3S-85F .*\| 38 \|", compressor, re.M)
    assert "Not measured" in "\n".join(export._resources("compressor", 1, "bf16", 10, 2))


def test_multilane_export(tmp_path):
    """``--lanes 2`` exports ``ansnum_decompressor_2l``: two values per beat in ``m_axis_tdata``,
    their bytes in ``m_axis_tkeep``; four payload words per input beat in ``s_axis_tdata``, the
    words kept in ``s_axis_tkeep``; it lints like the others."""
    paths = export.export("decompressor", tmp_path, lanes=2)
    assert paths["verilog"].name == "ansnum_decompressor_2l.v"
    ports = module_ports(paths["verilog"].read_text(), "ansnum_decompressor_2l")
    assert ports == datasheet_ports(paths["datasheet"].read_text())
    assert ports["m_axis_tdata"] == ("output", 32) and ports["m_axis_tkeep"] == ("output", 4)
    assert ports["s_axis_tdata"] == ("input", 128) and ports["s_axis_tkeep"] == ("input", 16)
    assert set(ports) == set(PORTS) | {"m_axis_tkeep", "s_axis_tkeep"}
    r = verilator("--lint-only", "-Wall", *LINT_WAIVERS, paths["verilog"].name,
                  cwd=tmp_path)
    assert r.returncode == 0 and "%Warning" not in r.stderr, r.stderr[-3000:]


def test_multilane_compressor_export(tmp_path):
    """``--top compressor --lanes 4`` exports ``ansnum_compressor_4l``: four bf16 values per
    input beat in ``s_axis_tdata`` (their bytes in ``s_axis_tkeep``), four payload words per
    output beat in ``m_axis_tdata`` (``m_axis_tkeep``); it lints like the others."""
    paths = export.export("compressor", tmp_path, lanes=4)
    assert paths["verilog"].name == "ansnum_compressor_4l.v"
    ports = module_ports(paths["verilog"].read_text(), "ansnum_compressor_4l")
    assert ports == datasheet_ports(paths["datasheet"].read_text())
    assert ports["s_axis_tdata"] == ("input", 64) and ports["s_axis_tkeep"] == ("input", 8)
    assert ports["m_axis_tdata"] == ("output", 128) and ports["m_axis_tkeep"] == ("output", 16)
    sheet = paths["datasheet"].read_text()
    assert "| chunk_pairs | 1016 |" in sheet and "| lanes | 4 |" in sheet
    r = verilator("--lint-only", "-Wall", *LINT_WAIVERS, paths["verilog"].name,
                  cwd=tmp_path)
    assert r.returncode == 0 and "%Warning" not in r.stderr, r.stderr[-3000:]
    with pytest.raises(export.ExportError, match="multiple of lanes"):
        export.make_inner("compressor", lanes=3, chunk_pairs=1016)


def check(results):
    for r in results:
        assert not r["hung"], r
        assert r["errors"] == 0, r
        assert r["received"] == r["expected"], r
        assert r["mismatches"] == 0, r


def test_exported_decompressor_all_bf16_patterns(exported):
    harness = Harness("bf16", table_log_max=10,
                      exported=exported["decompressor"]["verilog"]).build()
    tensors = [Tensor.compress(ALL_BF16, [book], max_table_log=log, min_table_log=log,
                               chunk_pairs=8192, name=f"{book.name}/{log}")
               for book in BF16_BOOKS for log in (9, 10)]
    results = harness.run([{"tensors": tensors, "name": "all-bf16"},
                           {"tensors": tensors, "name": "all-bf16/stalls", "in_stall": 0.35,
                            "out_stall": 0.35, "seed": 3}], "export")
    check(results)
    assert all(r["received"] == 4 * (1 << 16) for r in results)


def test_exported_compressor_all_bf16_patterns(exported):
    harness = Harness("bf16", table_log_max=10, chunk_pairs=CHUNK,
                      exported=exported["compressor"]["verilog"]).build()
    tensors = [Tensor.compress(ALL_BF16, [book], max_table_log=10, chunk_pairs=CHUNK)
               for book in BF16_BOOKS]
    check(harness.run([{"tensors": tensors, "name": "all-bf16"},
                       {"tensors": tensors, "name": "all-bf16/stalls", "in_stall": 0.35,
                        "out_stall": 0.35, "seed": 5}], "export"))


def test_resources_with_a_build_report(tmp_path, monkeypatch):
    """A checkout with its own build report: its figures, and still the published ones of
    every family (a developer's build of one board does not hide the others)."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "results.md").write_text((ROOT / "docs" / "results.md").read_text())
    (tmp_path / "build" / "mine").mkdir(parents=True)
    (tmp_path / "build" / "mine" / "report.json").write_text(json.dumps({
        "top": "decompressor", "lanes": 1, "fmt": "bf16", "table_log_max": 10, "states": None,
        "seed": 1, "device": "LFE5U-85F", "source": "abcdef1", "fmax_mhz": 123.45,
        "yosys_cells": {"component": {"LUT4": 4321, "CCU2C": 9, "TRELLIS_FF": 77,
                                      "DP16KD": 2}}}))
    monkeypatch.setattr(export, "ROOT", tmp_path)
    lines = "\n".join(export._resources("decompressor", 1, "bf16", 10, None))
    assert "| 123.45 | 4321 | 9 CCU2C | 77 | 2 DP16KD |" in lines
    assert "build/mine/report.json" in lines and "commit abcdef1" in lines
    assert "From docs/results.md" in lines
    assert re.search(r"^\| iCE40 \| iCEBreaker .*\| 10 \|", lines, re.M)
    # a configuration docs/results.md has no figures of: the report alone
    (tmp_path / "build" / "mine" / "report.json").write_text(json.dumps({
        "top": "decompressor", "lanes": 3, "fmt": "bf16", "table_log_max": 10, "states": None,
        "seed": 1, "device": "LFE5U-85F", "source": "abcdef1", "fmax_mhz": 99.0}))
    lines = "\n".join(export._resources("decompressor", 3, "bf16", 10, None))
    assert "| 99.0 |" in lines and "From docs/results.md" not in lines
    # fpga.build's reports before 2026-12-04 gave a decompressor 4 states; a build with nextpnr
    # options says so; copies of a top side by side are not its figures
    for name, extra in (("old", {"states": 4, "fmax_mhz": 98.0}),
                        ("static", {"pnr_opts": "--placer static", "fmax_mhz": 97.0}),
                        ("copies", {"copies": 2, "fmax_mhz": 96.0})):
        (tmp_path / "build" / name).mkdir()
        (tmp_path / "build" / name / "report.json").write_text(json.dumps({
            "top": "decompressor", "lanes": 3, "fmt": "bf16", "table_log_max": 10,
            "states": None, "seed": 1, "device": "LFE5U-85F", "source": "abcdef1", **extra}))
    lines = "\n".join(export._resources("decompressor", 3, "bf16", 10, None))
    assert "| 98.0 |" in lines and "| 96.0 |" not in lines
    assert re.search(r"build/static/report.json` \(commit abcdef1, nextpnr `--placer static`\)"
                     r" \| 97.0 \|", lines), lines
