"""cocotb test: runs the batches listed in $EBPC_BATCHES through tb/ebpc_harness.sv.

Each batch names a directory of vector files (in.hex / count.hex, znz.hex, bpc.hex, ...), its
counts and stall probabilities; the test points the harness at it (the files are copied to the
directory the harness reads), pulses ``load``, waits for ``done`` and writes the harness's
counters for every batch to $EBPC_RESULTS (JSON). The pytest side (tb/test_ebpc.py) judges.
"""

import json
import os
import shutil

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge

INPUTS = ("n_in", "n_znz", "n_bpc", "n_count", "n_values", "in_stall", "out_stall", "seed")
OUTPUTS = {
    "encoder": ("hung", "got_znz", "got_bpc", "bad_znz", "bad_bpc", "first_bad_znz",
                "first_bad_bpc", "cycles", "in_cycles"),
    "decoder": ("hung", "got_values", "bad_values", "first_bad", "bad_codes", "first_bad_code",
                "code_at_first_bad", "errors", "cycles", "out_cycles"),
}


@cocotb.test()
async def run_batches(dut):
    with open(os.environ["EBPC_BATCHES"]) as f:
        spec = json.load(f)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.load.value = 0
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    results = []
    for batch in spec["batches"]:
        for name in os.listdir(batch["dir"]):
            shutil.copyfile(os.path.join(batch["dir"], name), os.path.join(spec["dir"], name))
        for name in INPUTS:
            if hasattr(dut, name):
                getattr(dut, name).value = batch.get(name, 0)
        dut.load.value = 1
        await RisingEdge(dut.clk)
        dut.load.value = 0
        await RisingEdge(dut.clk)
        if not int(dut.done.value):
            await RisingEdge(dut.done)
        result = {name: int(getattr(dut, name).value) for name in OUTPUTS[spec["top"]]}
        result["name"] = batch.get("name", "")
        results.append(result)
        dut._log.info("batch %s: %s", result["name"], result)
    with open(os.environ["EBPC_RESULTS"], "w") as f:
        json.dump(results, f, indent=1)
