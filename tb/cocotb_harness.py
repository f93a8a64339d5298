"""cocotb test: runs the batches listed in $ANSNUM_BATCHES through tb/harness.sv.

Each batch names its command and expected-value files, counts and stall probabilities; the test
copies the files to the paths the harness reads, pulses ``load``, waits for ``done`` and writes
the harness's counters for every batch to $ANSNUM_RESULTS (JSON). The pytest side judges them.
"""

import json
import os
import shutil

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge


@cocotb.test()
async def run_batches(dut):
    with open(os.environ["ANSNUM_BATCHES"]) as f:
        spec = json.load(f)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.load.value = 0
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    results = []
    for batch in spec["batches"]:
        shutil.copyfile(batch["cmd"], spec["cmd_path"])
        shutil.copyfile(batch["exp"], spec["exp_path"])
        dut.n_cmd.value = batch["n_cmd"]
        dut.n_exp.value = batch["n_exp"]
        dut.in_stall.value = batch["in_stall"]
        dut.out_stall.value = batch["out_stall"]
        dut.seed.value = batch["seed"]
        dut.load.value = 1
        await RisingEdge(dut.clk)
        dut.load.value = 0
        await RisingEdge(dut.clk)
        if not int(dut.done.value):
            await RisingEdge(dut.done)
        result = {name: int(getattr(dut, name).value) for name in
                  ("hung", "received", "mismatches", "first_bad", "first_got", "errors", "cycles",
                   "busy_cycles", "out_cycles", "in_first", "in_last", "in_count")}
        result["name"] = batch.get("name", "")
        results.append(result)
        dut._log.info("batch %s: %s", result["name"], result)
    with open(os.environ["ANSNUM_RESULTS"], "w") as f:
        json.dump(results, f, indent=1)
