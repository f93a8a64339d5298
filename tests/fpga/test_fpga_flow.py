# amaranth: UnusedElaboratable=no
"""The FPGA flow keeps a design alive: Yosys ``synth_ecp5`` of the decoding lane (a few seconds),
and a full ULX3S build of it (Yosys, nextpnr, ecppack: 15 to 30 s)."""

import re

import pytest

from fpga.build import build
from fpga.synth import summarise, synthesize
from fpga.tops import TopError, make_top
from hdl.ans.decode.lane import DecodeLane


@pytest.mark.parametrize("top", ["decode-lane", "decoder", "encode-lane"])
def test_lane_keeps_logic_and_block_ram(tmp_path, top):
    """The decoding lane alone (make synth's `lane`), the decoder around it, and the
    compressor's coding core (`encoder`)."""
    component = make_top(top)
    if top == "decode-lane":
        assert isinstance(component, DecodeLane)
    if top == "encode-lane":
        # the escape's shift takes the bf16 books' raw code widths only, as the compressor's
        assert component._code_widths == [8, 9]
    modules = synthesize(component, tmp_path)     # (synthesize checks every port survives)
    cells = summarise(modules["top.dut"])
    assert cells["LUT4"] > 0
    assert cells["TRELLIS_FF"] > 0
    assert cells["DP16KD"] > 0       # the tables are in block RAM


def test_tops_that_cannot_be_built_are_clear_errors():
    with pytest.raises(TopError, match="one TansDecoder"):
        make_top("decoder", lanes=2)
    with pytest.raises(TopError, match="one DecodeLane"):
        make_top("decode-lane", lanes=2)
    with pytest.raises(TopError, match="one EncodeLane"):
        make_top("encode-lane", lanes=2)
    with pytest.raises(TopError, match="top must be one of"):
        make_top("nonsense")


def test_multi_lane_tops():
    from hdl.multilane.compressor import MultiLaneCompressor
    from hdl.multilane.decompressor import MultiLaneDecompressor
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


@pytest.mark.parametrize("top, kept", [("decompressor", 1 + 2 + 3), ("compressor", 1 + 2 + 3),
                                       ("system", 1 + 1 + 2 + 3)])
def test_modules_kept_apart_exist(top, kept):
    """Every module name the build keeps apart is a module of the design (Yosys only warns
    about a name that matches nothing, and the ABC9 crash it avoids would come back; the
    system keeps its decompressor apart, with its lanes and FIFOs)."""
    from amaranth.back import rtlil

    from fpga.build import _keep_hierarchy
    component = make_top(top, lanes=2, table_log_max=9)
    names = _keep_hierarchy(component).split()
    assert len(names) == kept
    text = rtlil.convert(component, name="top.dut")
    modules = set(re.findall(r"^module \\(\S+)$", text, re.M))
    assert set(names) <= modules, set(names) - modules


def test_copies_keep_each_top_apart():
    """``--copies 2``: two tops side by side, each module kept apart as the top alone."""
    from amaranth.back import rtlil

    from fpga.build import _keep_hierarchy
    component = make_top("decompressor", lanes=2, table_log_max=9, copies=2)
    assert (component.copies, component.lanes, component.in_width) == (2, 2, 4)
    names = _keep_hierarchy(component).split()
    assert len(names) == 1 + 2 * (1 + 2 + 3)
    text = rtlil.convert(component, name="top.dut")
    modules = set(re.findall(r"^module \\(\S+)$", text, re.M))
    assert set(names) <= modules, set(names) - modules
    with pytest.raises(TopError, match="copies must be at least 2"):
        make_top("decompressor", copies=0)


def test_copies_decode_their_own_streams_at_once():
    """Two copies decode two different tensors at the same time, every stream stalled at
    random: each copy's values are its own tensor's, bit for bit (no port of one copy is
    wired to the other)."""
    import random

    import numpy as np

    from golden.ans import codec
    from golden.format import codebooks

    from streamsim import get, put, simulate

    copies = make_top("decompressor", table_log_max=9, copies=2)
    rng = random.Random(5)
    done = {"flag": False, "cycle": 0}
    tensors, outs, finished = [], [[], []], [False, False]
    for k in range(2):
        x = np.random.default_rng(k).integers(0, 1 << 16, 150 + 50 * k, dtype=np.uint16)
        table, payload, _ = codec.compress_values(x, codebooks.for_dtype("BF16"),
                                                  chunk_pairs=64, max_table_log=9)
        tensors.append((x, table.image(), payload))

    def producer(k):
        async def bench(ctx):
            ports = getattr(copies, f"c{k}")
            _, image, payload = tensors[k]
            for addr, word in enumerate(image):
                await put(ctx, ports.table, {"addr": addr, "data": int(word)}, rng, 0.3)
            for n, word in enumerate(payload):
                await put(ctx, ports.words, {"data": int(word), "last": n == len(payload) - 1},
                          rng, 0.3)
        return bench

    def consumer(k):
        async def bench(ctx):
            ports = getattr(copies, f"c{k}")
            while len(outs[k]) < len(tensors[k][0]):
                outs[k].append(int((await get(ctx, ports.values, rng, 0.3)).value))
            finished[k] = True
            done["flag"] = all(finished)
        return bench

    simulate(copies, [producer(0), producer(1), consumer(0), consumer(1)], done,
             max_cycles=20_000, what="two copies")
    for k in range(2):
        assert outs[k] == [int(v) for v in tensors[k][0]], k


def test_build_dirs_name_only_what_a_top_takes():
    """The compressors write a number of states, so it names their build; decoders take any."""
    from fpga.build import build_dir
    base = build_dir("ulx3s-85f", "decompressor", 8)
    assert build_dir("ulx3s-85f", "decompressor", 8, states=2) == base
    assert build_dir("ulx3s-85f", "compressor", 8, states=2).name.endswith("-s2")
    assert build_dir("ulx3s-85f", "decompressor", 8, pnr_opts="--placer static").name == \
        base.name + "-placerstatic"


def test_sweep_entries_are_distinct_buildable_tops():
    """``make fpga-sweep``: every entry names a top that can be made, in a build dir of its own."""
    from fpga.build import BOARDS, SWEEP, build_dir
    dirs = set()
    for board, top, lanes, *opts in SWEEP:
        assert board in BOARDS and len(opts) <= 1
        make_top(top, lanes=lanes)
        dirs.add(build_dir(board, top, lanes, pnr_opts=" ".join(opts)).name)
    assert len(dirs) == len(SWEEP)
