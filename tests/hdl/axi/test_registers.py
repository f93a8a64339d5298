"""RegisterFile (hdl/axi/registers.py) in Amaranth's simulator through its AXI4-Lite port:
writes with byte strobes, read back, read-only and pulse registers, SLVERR for offsets without a
register, address and data offered in either order; and the system's register map
(hdl.system.REGISTERS) as docs/integration.md tables it."""

import random
import re
from pathlib import Path

import pytest

from hdl.axi.registers import Register, RegisterFile
from hdl.system import REGISTERS

from streamsim import simulate

ROOT = Path(__file__).resolve().parents[3]
REGS = (Register("A", 0x0, "rw", "a", init=5), Register("B", 0x4, "ro", "b"),
        Register("GO", 0x8, "pulse", "go"), Register("C", 0x10, "rw", "c"))


async def write(ctx, bus, addr, value, strobe=0xF, rng=None):
    ctx.set(bus.awaddr, addr)
    ctx.set(bus.wdata, value)
    ctx.set(bus.wstrb, strobe)
    ctx.set(bus.bready, 1)
    first = rng.choice(["aw", "w", "both"]) if rng else "both"
    ctx.set(bus.awvalid, first != "w")
    ctx.set(bus.wvalid, first != "aw")
    if first != "both":
        await ctx.tick()
        await ctx.tick()
        ctx.set(bus.awvalid, 1)
        ctx.set(bus.wvalid, 1)
    aw = w = False
    while not (aw and w):
        _, _, awready, wready = await ctx.tick().sample(bus.awready, bus.wready)
        aw |= awready
        w |= wready
        if awready:
            ctx.set(bus.awvalid, 0)
        if wready:
            ctx.set(bus.wvalid, 0)
    while True:
        _, _, bvalid, bresp = await ctx.tick().sample(bus.bvalid, bus.bresp)
        if bvalid:
            return bresp


async def read(ctx, bus, addr):
    ctx.set(bus.araddr, addr)
    ctx.set(bus.arvalid, 1)
    ctx.set(bus.rready, 1)
    while True:
        _, _, arready = await ctx.tick().sample(bus.arready)
        if arready:
            break
    ctx.set(bus.arvalid, 0)
    while True:
        _, _, rvalid, rdata, rresp = await ctx.tick().sample(bus.rvalid, bus.rdata, bus.rresp)
        if rvalid:
            return rdata, rresp


def test_writes_reads_strobes_and_errors():
    dut = RegisterFile(REGS, addr_width=6)
    rng = random.Random(1)
    pulses = []
    done = {"flag": False, "cycle": 0}

    async def bench(ctx):
        ctx.set(dut.b, 0xCAFE0001)
        assert await read(ctx, dut.bus, 0x0) == (5, 0)                  # init
        assert await write(ctx, dut.bus, 0x0, 0x11223344, rng=rng) == 0
        assert await write(ctx, dut.bus, 0x0, 0xAABBCCDD, strobe=0b0101, rng=rng) == 0
        assert await read(ctx, dut.bus, 0x0) == (0x11BB33DD, 0)
        assert await read(ctx, dut.bus, 0x4) == (0xCAFE0001, 0)
        assert await write(ctx, dut.bus, 0x4, 1, rng=rng) == 2           # read only: SLVERR
        assert await read(ctx, dut.bus, 0x4) == (0xCAFE0001, 0)
        assert await write(ctx, dut.bus, 0xC, 1, rng=rng) == 2           # no register
        assert await read(ctx, dut.bus, 0xC) == (0, 2)
        assert await write(ctx, dut.bus, 0x8, 0b101, rng=rng) == 0
        assert await read(ctx, dut.bus, 0x8) == (0, 0)                  # pulses read 0
        for k in range(20):
            value = rng.getrandbits(32)
            assert await write(ctx, dut.bus, 0x10, value, rng=rng) == 0
            assert await read(ctx, dut.bus, 0x10) == (value, 0)
        done["flag"] = True

    async def watch(ctx):
        while True:
            _, _, go = await ctx.tick().sample(dut.go)
            if go:
                pulses.append(go)

    simulate(dut, [bench, watch], done, max_cycles=5000)
    assert pulses == [0b101]                                            # one cycle, once


def test_bad_maps_are_refused():
    with pytest.raises(ValueError, match="share an offset"):
        RegisterFile([Register("A", 0, "rw", ""), Register("B", 0, "ro", "")])
    with pytest.raises(ValueError, match="not a multiple of 4"):
        Register("A", 2, "rw", "")
    with pytest.raises(ValueError, match="access must be one of rw, ro, pulse"):
        Register("A", 0, "wo", "")


def test_integration_page_tables_the_system_registers():
    """docs/integration.md's register table is REGISTERS, row for row."""
    text = (ROOT / "docs" / "integration.md").read_text()
    rows = []
    for r in REGISTERS:
        rows.append(f"| 0x{r.offset:02X} | `{r.name}` | {r.access} | {r.doc} |")
        rows += [f"| | `[{f.lsb + f.width - 1}:{f.lsb}]` {f.name} | | {f.doc} |" for f in r.fields]
    table = [line for line in text.splitlines() if re.match(r"^\| (0x|\| `\[)", line)]
    assert table == rows
