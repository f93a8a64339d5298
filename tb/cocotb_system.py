"""cocotb test of an exported system top (hdl.export --top system) against cocotbext-axi's bus
models: the memory image in an AXI4 RAM (AxiRamRead) with random back-pressure and latency on AR
and R, registers through an AXI4-Lite master, activations in and results (or values) out on
AXI-Stream with random stalls; SLVERR / DECERR where the spec says.

Runs the jobs of $ANSNUM_SYSTEM_SPEC (JSON: memory file, fault addresses, stall probability,
jobs of register values and activation vectors) and writes, per job, STATUS, the counters, the
cycles and the output beats to $ANSNUM_SYSTEM_RESULTS. The pytest side (tb/system_bench.py)
judges them against golden.
"""

import json
import logging
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiRamRead, AxiReadBus, AxiResp,
                           AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource)

from hdl.system import register


class FaultyRam(AxiRamRead):
    """An AXI4 RAM (read side) that answers SLVERR for the word addresses in ``slverr`` and
    DECERR from byte address ``decerr_from`` on (no memory there), and adds a random latency of
    0 .. ``latency`` cycles before some beats."""

    def __init__(self, bus, clock, reset, *, size, slverr=(), decerr_from=None, latency=0,
                 rng=None):
        super().__init__(bus, clock, reset, size=size)
        self._slverr, self._decerr_from = set(slverr), decerr_from
        self._latency, self._rng = latency, rng or random.Random(0)
        self._clock = clock
        self._answer = AxiResp.OKAY
        send = self.r_channel.send

        async def send_with_answer(r):        # (the model answers SLVERR for any failed read)
            if self._answer != AxiResp.OKAY:
                r.rresp = self._answer
            await send(r)
        self.r_channel.send = send_with_answer

    async def _read(self, address, length):
        if self._latency and self._rng.random() < 0.2:
            await ClockCycles(self._clock, self._rng.randrange(1, self._latency + 1))
        self._answer = AxiResp.OKAY
        if self._decerr_from is not None and address + length > self._decerr_from:
            self._answer = AxiResp.DECERR
            raise ValueError("no memory at this address")
        if any(address // 4 <= w < (address + length) // 4 for w in self._slverr):
            self._answer = AxiResp.SLVERR
            raise ValueError("slave error")
        return await super()._read(address, length)


def pauses(rng, p):
    while True:
        yield rng.random() < p


@cocotb.test()
async def run_jobs(dut):
    with open(os.environ["ANSNUM_SYSTEM_SPEC"]) as f:
        spec = json.load(f)
    rng = random.Random(spec.get("seed", 1))
    stall = spec.get("stall", 0.0)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    with open(spec["memory"], "rb") as f:
        memory = f.read()
    ram = FaultyRam(AxiReadBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst,
                    size=max(len(memory), 4096), slverr=spec.get("slverr", ()),
                    decerr_from=spec.get("decerr_from"), latency=spec.get("latency", 0),
                    rng=random.Random(rng.random()))
    ram.write(0, memory)
    regs = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
    engines = spec["engine"] != "none"
    if engines:
        acts = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_act"), dut.clk, dut.rst)
        sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis_res"), dut.clk, dut.rst)
    else:
        sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst)
    if stall:
        ram.ar_channel.set_pause_generator(pauses(random.Random(rng.random()), stall))
        ram.r_channel.set_pause_generator(pauses(random.Random(rng.random()), stall))
        sink.set_pause_generator(pauses(random.Random(rng.random()), stall))
        if engines:
            acts.set_pause_generator(pauses(random.Random(rng.random()), stall))
    # (the bus models log every burst at INFO: thousands of lines, and time, on a real layer)
    logging.getLogger(f"cocotb.{dut._name}").setLevel(logging.WARNING)
    await ClockCycles(dut.clk, 5)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 5)

    async def read(name):
        return await regs.read_dword(register(name).offset)

    async def write(name, value):
        await regs.write_dword(register(name).offset, value)

    results = []
    for job in spec["jobs"]:
        if engines and job.get("activations"):
            await write("CTRL", 1 << register("CTRL").field("act_reset").lsb)
            for vector in job["activations"]:
                await acts.send(AxiStreamFrame(bytes.fromhex(vector)))
            await acts.wait()
        for name, value in job["registers"].items():
            await write(name.upper(), value)
        await write("CTRL", 1 << register("CTRL").field("start").lsb)
        t0 = cocotb.utils.get_sim_time("ns")
        status = register("STATUS")
        polls = 0
        while True:
            s = await read("STATUS")
            if status.field("done").get(s):
                break
            polls += 1
            if polls > 8:               # (a long job: poll less often)
                await ClockCycles(dut.clk, 64)
            if (cocotb.utils.get_sim_time("ns") - t0) / 10 > job.get("max_cycles", 2_000_000):
                break
        cycles = round((cocotb.utils.get_sim_time("ns") - t0) / 10)
        await ClockCycles(dut.clk, 10)
        frames = []
        while not sink.empty():
            frames.append((await sink.recv()).tdata.hex())
        result = {"status": s, "cycles": cycles, "frames": frames,
                  "done": status.field("done").get(s),
                  "error": status.field("error").get(s),
                  "reader_error": status.field("reader_error").get(s),
                  "decompressor_error": status.field("decompressor_error").get(s)}
        for name in ("BYTES_READ", "VALUES", "ROWS", "BUSY_CYCLES", "STALL_CYCLES",
                     "ENGINE_BEATS", "CONFIG", "ID"):
            result[name.lower()] = await read(name)
        dut._log.info("job: %s", {k: v for k, v in result.items() if k != "frames"})
        results.append(result)
    with open(os.environ["ANSNUM_SYSTEM_RESULTS"], "w") as f:
        json.dump(results, f, indent=1)
