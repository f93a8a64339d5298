# amaranth: UnusedElaboratable=no
"""The FPGA flow keeps a design alive: Yosys ``synth_ecp5`` of one decoder lane (a few seconds),
and a full ULX3S build of it (Yosys, nextpnr, ecppack: 15 to 30 s)."""

import re

import pytest

from fpga.build import build
from fpga.synth import summarise, synthesize
from fpga.tops import TopError, make_top
from hdl.decoder import TansDecoder


def test_lane_keeps_logic_and_block_ram(tmp_path):
    modules = synthesize(TansDecoder(), tmp_path)     # the default lane
    lane = summarise(modules["top.dut"])
    assert lane["LUT4"] > 0
    assert lane["TRELLIS_FF"] > 0
    assert lane["DP16KD"] > 0        # the decode table is in block RAM


def test_tops_that_cannot_be_built_are_clear_errors():
    with pytest.raises(TopError, match="one TansDecoder lane"):
        make_top("decoder", lanes=2)
    with pytest.raises(TopError, match="top must be one of"):
        make_top("nonsense")


def test_multi_lane_tops():
    from hdl.multilane import MultiLaneDecompressor
    from hdl.multilane_compressor import MultiLaneCompressor
    assert isinstance(make_top("decompressor", lanes=2), MultiLaneDecompressor)
    assert isinstance(make_top("compressor", lanes=2), MultiLaneCompressor)
    # (one lane of the wide top, with its chunks of 1016: what a lane of 8 builds like)
    one = make_top("multilane-compressor", lanes=1)
    assert isinstance(one, MultiLaneCompressor) and one.lanes == 1 and one.chunk_pairs == 1016


def test_ulx3s_lane_build_reports_fmax(tmp_path):
    report = build("ulx3s-85f", "decoder", 1, root=tmp_path)
    assert (tmp_path / "ulx3s-85f-decoder-1" / "top.bit").stat().st_size > 0
    assert report["fmax_mhz"] > 0
    assert report["bram"] > 0
    assert report["critical_path"]["delay_ns"] > 0


@pytest.mark.parametrize("top", ["decompressor", "compressor"])
def test_modules_kept_apart_exist(top):
    """Every module name the build keeps apart is a module of the design (Yosys only warns
    about a name that matches nothing, and the ABC9 crash it avoids would come back)."""
    from amaranth.back import rtlil
    from fpga.build import _keep_hierarchy
    component = make_top(top, lanes=2, table_log_max=9)
    names = _keep_hierarchy(component).split()
    assert len(names) == 1 + 2 + 3
    text = rtlil.convert(component, name="top.dut")
    modules = set(re.findall(r"^module \\(\S+)$", text, re.M))
    assert set(names) <= modules, set(names) - modules
