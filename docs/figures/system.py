"""Draws the pictures of docs/integration.md, docs/figures/system.png and transfer.png: the
system's block diagram and a transfer's timing diagram, with matplotlib.

The timing diagram is not drawn by hand: it is the signals of a simulation (Amaranth's simulator)
of :class:`hdl.axi.tensor_reader.TensorReader` fetching two chunks of a small tensor from the
test benches' AXI4 memory model (tests/axisim.py), cycle by cycle.

    .venv/bin/python docs/figures/system.py      # or: make docs
"""

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def block_diagram(path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, ax = plt.subplots(figsize=(13, 6.2))
    ax.set_xlim(0, 13)
    ax.set_ylim(0, 6.2)
    ax.axis("off")

    def box(x, y, w, h, title, lines=(), color="#dbe9f6"):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.03", fc=color,
                                    ec="#2b4a6f", lw=1.2))
        ax.text(x + w / 2, y + h - 0.2, title, ha="center", va="top", fontsize=9.5,
                weight="bold")
        for i, line in enumerate(lines):
            ax.text(x + w / 2, y + h - 0.48 - 0.24 * i, line, ha="center", va="top", fontsize=7.5)

    def arrow(x0, y0, x1, y1, label="", dy=0.1, color="#2b4a6f"):
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=12,
                                     color=color, lw=1.3))
        if label:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + dy, label, ha="center", va="bottom",
                    fontsize=7, color="#333333")

    # outside the block
    box(0.1, 3.9, 1.6, 1.6, "Memory", ["AXI4 slave", "table image", "chunk index",
                                        "payload"], color="#f3f3f3")
    box(0.1, 0.6, 1.6, 1.3, "Host / CPU", ["AXI4-Lite master", "DMA (AXI-Stream)"],
        color="#f3f3f3")
    # the system
    ax.add_patch(FancyBboxPatch((2.0, 0.25), 10.1, 5.75, boxstyle="round,pad=0.05",
                                fc="none", ec="#888888", lw=1, ls="--"))
    ax.text(2.1, 5.85, "hdl.system.System  (make verilog TOP=system)", fontsize=8.5,
            color="#555555", va="top")
    box(2.2, 3.9, 1.9, 1.6, "AXI4 read master", ["INCR bursts <= 4 KB", "N in flight",
                                                "read-data FIFO", "(room reserved)"])
    box(4.4, 3.9, 1.9, 1.6, "Tensor reader", ["table -> table port", "index -> range",
                                             "payload -> words", "last bit of range"])
    box(6.6, 3.9, 2.1, 1.6, "MultiLane-", ["Decompressor", "L lanes, chunks", "round robin",
                                          "values in order"])
    box(9.0, 3.9, 1.3, 1.6, "Beat", ["packer", "L values", "a clock"])
    box(10.55, 3.9, 1.4, 1.6, "Broadcast", ["one weight", "stream to", "K engines"])
    box(2.2, 1.05, 1.9, 1.15, "Registers", ["AXI4-Lite", "descriptor, CTRL",
                                            "STATUS, counters"])
    box(4.4, 0.6, 1.9, 1.3, "Deal", ["activation vector k", "-> engine k"])
    for k, y in enumerate((2.65, 1.75, 0.85)):
        name = f"Engine {k}" if k < 2 else "Engine K-1"
        box(6.9 + 0.0, y, 3.0, 0.75, name, ["x RAM, L bf16 multipliers, fp32 tree, 4 slots"],
            color="#e5f2e0")
    box(10.55, 0.6, 1.4, 2.8, "Zip", ["row r of", "every engine", "in one beat"])
    arrow(1.7, 4.7, 2.2, 4.7, "AR / R")
    arrow(4.1, 4.7, 4.4, 4.7)
    arrow(6.3, 4.9, 6.6, 4.9, "table")
    arrow(6.3, 4.4, 6.6, 4.4, "words")
    arrow(8.7, 4.7, 9.0, 4.7, "values")
    arrow(10.3, 4.7, 10.55, 4.7)
    for y in (3.02, 2.12, 1.22):
        arrow(11.25, 3.9, 9.9, y + 0.1, color="#4f7f3f")
        arrow(9.9, y + 0.3, 10.55, y + 0.3, color="#4f7f3f")
        arrow(6.3, 1.25, 6.9, y + 0.35, color="#7f6f3f")
    arrow(1.7, 1.45, 2.2, 1.45, "AXI4-Lite")
    arrow(1.7, 0.75, 4.4, 0.75, "s_axis_act", dy=-0.28)
    arrow(3.15, 2.2, 3.15, 3.9, "start", dy=0)
    arrow(11.95, 1.6, 12.5, 1.6, "m_axis_res", dy=0.1)
    ax.text(7.0, 0.35, "memory traffic = compressed weights, read once, whatever K",
            fontsize=8, style="italic", color="#555555")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def transfer_trace(cycles=80):
    """Per cycle, the reader's bus and stream signals on a small job (chunks 1 and 2 of a
    tensor, its table kept: index reads, then the payload's bursts)."""
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    import ml_dtypes
    import numpy as np
    from amaranth.sim import Simulator

    from axisim import AxiMemory
    from golden.format import codebooks
    from golden.format.image import MemoryImage
    from hdl.axi.tensor_reader import TensorReader

    rng = np.random.default_rng(1)
    x = (rng.standard_normal(600) * 0.05).astype(ml_dtypes.bfloat16).view(np.uint16)
    image = MemoryImage.compress(x, [codebooks.get("bf16-exp")], max_table_log=8,
                                 chunk_pairs=120)
    base = 0x100
    memory = np.concatenate([np.zeros(base // 4, np.uint32), image.words])
    dut = TensorReader(data_width=128, max_burst=4, outstanding=2)
    mem = AxiMemory(dut.bus, memory, data_width=128, seed=3, ar_stall=0.2, r_stall=0.15,
                    latency=3)
    names = ["start", "arvalid", "arready", "araddr", "arlen", "rvalid", "rready", "rlast",
             "words valid", "words ready", "words last", "done"]
    trace = {n: [] for n in names}

    async def bench(ctx):
        ctx.set(dut.descriptor, image.descriptor(base, 1, 2, table=False))
        ctx.set(dut.words.ready, 1)
        for k in range(cycles):
            ctx.set(dut.start, k == 2)
            ctx.set(dut.words.ready, (k % 7) != 5)
            b = dut.bus
            rvalid, wvalid = ctx.get(b.rvalid), ctx.get(dut.words.valid)
            vals = [k == 2, ctx.get(b.arvalid), ctx.get(b.arready), ctx.get(b.araddr),
                    ctx.get(b.arlen), rvalid, ctx.get(b.rready), rvalid and ctx.get(b.rlast),
                    wvalid, ctx.get(dut.words.ready),
                    wvalid and ctx.get(dut.words.payload.last), ctx.get(dut.done)]
            for n, v in zip(names, vals):
                trace[n].append(int(v))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(mem.run, background=True)
    sim.add_testbench(bench)
    sim.run()
    return trace


def timing_diagram(path, cycles=80):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trace = transfer_trace(cycles)
    names = list(trace)
    fig, ax = plt.subplots(figsize=(14, 0.42 * len(names) + 1))
    for row, name in enumerate(names):
        y = len(names) - 1 - row
        v = trace[name]
        if name in ("araddr", "arlen"):         # a bus: the value while arvalid is high
            valid = trace["arvalid"]
            for t in range(cycles):
                if valid[t] and (t == 0 or not valid[t - 1] or v[t] != v[t - 1]):
                    end = t
                    while end < cycles and valid[end] and v[end] == v[t]:
                        end += 1
                    ax.fill([t, t + 0.15, end - 0.15, end, end - 0.15, t + 0.15],
                            [y + 0.4, y + 0.75, y + 0.75, y + 0.4, y + 0.05, y + 0.05],
                            color="#dbe9f6", ec="#2b4a6f", lw=0.8)
                    text = f"{v[t]:x}" if name == "araddr" else str(v[t])
                    ax.text((t + end) / 2, y + 0.4, text, ha="center", va="center", fontsize=6)
        else:
            xs, ys = [], []
            for t in range(cycles):
                xs += [t, t + 1]
                ys += [y + 0.05 + 0.7 * v[t]] * 2
            ax.plot(xs, ys, color="#2b4a6f", lw=1)
        ax.text(-1, y + 0.4, name, ha="right", va="center", fontsize=8)
    for t in range(cycles + 1):
        ax.axvline(t, color="#eeeeee", lw=0.5, zorder=0)
    ax.set_xlim(-7, cycles)
    ax.set_ylim(-0.3, len(names))
    ax.set_yticks([])
    ax.set_xlabel("clock cycle (Amaranth simulation of TensorReader, 128-bit bus, bursts of "
                  "up to 4 beats, 2 in flight, random ARREADY / RVALID stalls)")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(prog="docs/figures/system.py", description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(HERE))
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    block_diagram(out / "system.png")
    timing_diagram(out / "transfer.png")
    print(out / "system.png")
    print(out / "transfer.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
