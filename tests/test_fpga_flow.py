"""The FPGA flow keeps a design alive: Yosys ``synth_ecp5`` of one decoder lane (a few seconds),
and a full ULX3S build of it (Yosys, nextpnr, ecppack: 15 to 30 s)."""

import importlib.util

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


@pytest.mark.skipif(importlib.util.find_spec("hdl.multilane") is not None,
                    reason="hdl.multilane exists")
def test_multilane_top_missing_is_a_clear_error():
    with pytest.raises(TopError, match="multi-lane top hdl.multilane:MultiLaneDecompressor"):
        make_top("decompressor", lanes=2)


def test_ulx3s_lane_build_reports_fmax(tmp_path):
    report = build("ulx3s-85f", "decoder", 1, root=tmp_path)
    assert (tmp_path / "ulx3s-85f-decoder-1" / "top.bit").stat().st_size > 0
    assert report["fmax_mhz"] > 0
    assert report["bram"] > 0
    assert report["critical_path"]["delay_ns"] > 0
