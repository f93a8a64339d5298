"""Draws docs/figures/architecture.png (and .svg): the data path from a file on disk to values
at a compute engine, each block with the module that builds it.

    .venv/bin/python docs/figures/architecture.py      # or: make docs

The blocks are listed once, in :data:`BLOCKS`; tests/test_docs.py checks that every class and
module named here exists, so the picture cannot name a block the code no longer has.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt                                          # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle  # noqa: E402

HERE = Path(__file__).resolve().parent

#: Colours by where a block lives.
COLOURS = {"golden": "#dcebf7", "file": "#f2f2f2", "hdl": "#fde9d4", "system": "#e4f1df"}

#: name -> (x, y, width, height, title, module, kind). Coordinates in a 0..100 x 0..62 frame.
BLOCKS = {
    # software: compress (golden/)
    "model": (2, 52, 12, 7, "model.safetensors", "your checkpoint", "file"),
    "books": (18, 52, 15, 7, "code book\nvalue -> (code, extra)", "golden.format.codebooks", "golden"),
    "tans": (37, 52, 17, 7, "tANS chunks\n4 interleaved states", "golden.ans.codec", "golden"),
    "container": (58, 52, 17, 7, ".ansn container\nindex + payloads", "golden.format.container", "golden"),
    "ansn": (80, 52, 17, 7, "model.ansn", "on disk, byte-exact", "file"),
    # hardware: decompress (hdl/)
    "memory": (2, 33, 12, 8, "memory\ntable image\n+ payload", "host / AXI4", "system"),
    "fifo": (18, 33, 10, 8, "input FIFO\nbeats of\n1, 2, 4 words", "hdl.common.block_fifo", "hdl"),
    "dispatch": (31, 33, 13, 8, "header scan\nchunk dispatcher\n(round robin)", "hdl.multilane", "hdl"),
    "collector": (81, 33, 9, 8, "ordered\ncollector", "hdl.multilane", "hdl"),
    "engines": (92, 30, 7, 14, "engines\nx K\n(token\nfactory)", "compute", "system"),
    "tableport": (31, 22, 13, 6, "TablePort\nconfig, checks", "hdl.ans.decode.table_port", "hdl"),
    "status": (81, 22, 9, 6, "tensor\nstatus", "error code", "hdl"),
    # hardware: compress (hdl/)
    "values_in": (2, 4, 11.5, 7, "values\n(LANES a beat)", "stream in", "system"),
    "classify": (16, 4, 11.5, 7, "FloatToPair", "convert.value_to_pair", "hdl"),
    "reverse1": (30, 4, 11.5, 7, "chunk\nreversal", "common.chunk_buffer", "hdl"),
    "encode": (44, 4, 11.5, 7, "EncodeLane\n4 states", "ans.encode.lane", "hdl"),
    "reverse2": (58, 4, 11.5, 7, "field\nreversal", "common.chunk_buffer", "hdl"),
    "writer": (72, 4, 11.5, 7, "BitWriter", "ans.encode.bit_writer", "hdl"),
    "framer": (86, 4, 12, 7, "ChunkWriter\nheader, CRC-32", "ans.encode.chunk_writer", "hdl"),
}

#: One decoding lane (repeated LANES times between the dispatcher and the collector).
LANE = [("Chunk-\nReader\nCRC-32", "hdl.ans.decode.chunk_reader"),
        ("Decode-\nLane\ntANS ring", "hdl.ans.decode.lane"),
        ("Pair-\nUnpacker", "hdl.ans.decode.unpacker"),
        ("PairTo-\nFloat", "hdl.convert.pair_to_value")]
LANE_BOX = (47, 30, 31, 13)

ARROWS = [("model", "books"), ("books", "tans"), ("tans", "container"), ("container", "ansn"),
          ("memory", "fifo"), ("fifo", "dispatch"), ("dispatch", "lane"), ("lane", "collector"),
          ("collector", "engines"), ("tableport", "lane"), ("lane", "status"),
          ("values_in", "classify"), ("classify", "reverse1"), ("reverse1", "encode"),
          ("encode", "reverse2"), ("reverse2", "writer"), ("writer", "framer")]


def _box(ax, x, y, w, h, title, module, kind):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.3,rounding_size=0.8",
                                facecolor=COLOURS[kind], edgecolor="#555555", linewidth=0.9))
    ax.text(x + w / 2, y + h / 2 + 0.9, title, ha="center", va="center", fontsize=8.2)
    ax.text(x + w / 2, y + 0.9, module, ha="center", va="bottom", fontsize=5.4, color="#555555",
            family="monospace")


def _anchor(name, side):
    if name == "lane":
        x, y, w, h = LANE_BOX
    else:
        x, y, w, h = BLOCKS[name][:4]
    return {"right": (x + w + 0.3, y + h / 2), "left": (x - 0.3, y + h / 2),
            "top": (x + w / 2, y + h + 0.3), "bottom": (x + w / 2, y - 0.3)}[side]


def _arrow(ax, a, b):
    ay, by = (BLOCKS[a][1] if a != "lane" else LANE_BOX[1]), (BLOCKS[b][1] if b != "lane" else LANE_BOX[1])
    if a == "tableport":
        start, end = _anchor(a, "right"), (LANE_BOX[0] + 4, LANE_BOX[1] - 0.3)
    elif b == "status":
        start, end = (LANE_BOX[0] + LANE_BOX[2] - 4, LANE_BOX[1] - 0.3), _anchor(b, "left")
    elif abs(ay - by) < 4 or a == "lane" or b == "lane":
        start, end = _anchor(a, "right"), _anchor(b, "left")
    else:
        start, end = _anchor(a, "bottom"), _anchor(b, "top")
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=9, linewidth=1.0,
                                 color="#333333", connectionstyle="arc3,rad=0.0"))


def draw(out_stem=HERE / "architecture"):
    fig, ax = plt.subplots(figsize=(13, 8.2))
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 64)
    ax.axis("off")
    for y, label in ((60.5, "compress, software: golden/ (ansnum compress)"),
                     (45.0, "decompress, hardware: hdl/ (MultiLaneDecompressor, LANES lanes)"),
                     (13.5, "compress, hardware: hdl/ (a MultiLaneCompressor lane)")):
        ax.text(1, y, label, fontsize=9.5, weight="bold", color="#333333")
    for name, (x, y, w, h, title, module, kind) in BLOCKS.items():
        _box(ax, x, y, w, h, title, module, kind)
    # the lanes: a stack of boxes, the front one showing the stages
    x, y, w, h = LANE_BOX
    for k in (2, 1):
        ax.add_patch(Rectangle((x + 0.8 * k, y + 0.8 * k), w, h, facecolor="#fbe0c3",
                               edgecolor="#999999", linewidth=0.6))
    ax.add_patch(Rectangle((x, y), w, h, facecolor=COLOURS["hdl"], edgecolor="#555555",
                           linewidth=0.9))
    ax.text(x + w / 2, y + h - 1.3, "lane k of LANES (a chunk each, round robin)", ha="center",
            fontsize=7.2, color="#333333")
    step = w / len(LANE)
    for i, (title, module) in enumerate(LANE):
        cx = x + step * (i + 0.5)
        ax.text(cx, y + h / 2, title, ha="center", va="center", fontsize=7.2)
        ax.text(cx, y + 1.2, module.rsplit(".", 1)[-1], ha="center", fontsize=5.6,
                color="#555555", family="monospace")
        if i:
            ax.add_patch(FancyArrowPatch((x + step * i - 0.9, y + h / 2),
                                         (x + step * i + 0.9, y + h / 2),
                                         arrowstyle="-|>", mutation_scale=7, linewidth=0.8,
                                         color="#333333"))
    for a, b in ARROWS:
        _arrow(ax, a, b)
    # the file's way into memory
    (fx, fy), (mx, my) = _anchor("ansn", "bottom"), _anchor("memory", "top")
    ax.plot([fx, fx, mx], [fy, 48.2, 48.2], color="#333333", linewidth=1.0, linestyle="--")
    ax.add_patch(FancyArrowPatch((mx, 48.2), (mx, my), arrowstyle="-|>", mutation_scale=9,
                                 linewidth=1.0, color="#333333", linestyle="--"))
    ax.text(40, 48.8, "the host loads it: Table.image() -> table port, payloads -> memory",
            fontsize=7, color="#333333", style="italic")
    ax.text(35.5, 19.7, "one table port writes every lane's TableRAM", fontsize=6.3,
            color="#555555")
    legend = [("golden/ (numpy, the reference)", "golden"), ("hdl/ (Amaranth)", "hdl"),
              ("around the codec: memory, engines", "system"), ("files", "file")]
    for i, (label, kind) in enumerate(legend):
        ax.add_patch(Rectangle((2 + 25 * i, 0.2), 2, 1.4, facecolor=COLOURS[kind],
                               edgecolor="#555555", linewidth=0.6))
        ax.text(4.6 + 25 * i, 0.9, label, fontsize=7, va="center")
    matplotlib.rcParams["svg.hashsalt"] = "ansnum"
    fig.savefig(f"{out_stem}.png", dpi=110, bbox_inches="tight")
    fig.savefig(f"{out_stem}.svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)


if __name__ == "__main__":
    draw()
