"""cocotb test of an exported stream top (hdl.export --top decompressor|compressor, any lanes)
driven straight through its ports, as an SoC team would in its own simulator: table writes on
``s_table_*``, the input as AXI-Stream frames (cocotbext-axi's AxiStreamSource, ``tkeep`` when
the top has it), the output collected by an AxiStreamSink, random stalls on every stream.

Runs the tensors of $ANSNUM_STREAM_SPEC (JSON: per tensor the table writes, the input frame's
bytes) and writes, per tensor, the output frame's bytes and the status to
$ANSNUM_STREAM_RESULTS.
"""

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource


def pauses(rng, p):
    while True:
        yield rng.random() < p


@cocotb.test()
async def run_tensors(dut):
    with open(os.environ["ANSNUM_STREAM_SPEC"]) as f:
        spec = json.load(f)
    rng = random.Random(spec.get("seed", 1))
    stall = spec.get("stall", 0.0)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.s_table_valid.value = 0
    source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst)
    sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst)
    if stall:
        source.set_pause_generator(pauses(random.Random(rng.random()), stall))
        sink.set_pause_generator(pauses(random.Random(rng.random()), stall))
    await ClockCycles(dut.clk, 5)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 2)
    results = []
    for tensor in spec["tensors"]:
        for addr, word in tensor["table"]:
            while rng.random() < stall:
                await RisingEdge(dut.clk)
            dut.s_table_addr.value = addr
            dut.s_table_data.value = word
            dut.s_table_valid.value = 1
            while True:
                await RisingEdge(dut.clk)
                if int(dut.s_table_ready.value):
                    break
            dut.s_table_valid.value = 0
        await source.send(AxiStreamFrame(bytes.fromhex(tensor["input"])))
        frame = await sink.recv()
        for _ in range(20):
            await RisingEdge(dut.clk)
        results.append({"output": bytes(frame.tdata).hex(),
                        "error": int(dut.status_error.value), "code": int(dut.status_code.value)})
    with open(os.environ["ANSNUM_STREAM_RESULTS"], "w") as f:
        json.dump(results, f)
