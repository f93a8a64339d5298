"""Rates of the multi-lane tops on a Llama-sized tensor, under Verilator (``make bench-rtl``).

``python -m tb.rates [--lanes 8] [--values 16777216]`` streams one tensor of ``--values`` bf16
weights (normal, sigma 0.02; default 4096 x 4096, the smallest weight matrix of Llama-2-7B,
the paper's model) through the multi-lane decompressor (chunks of 4000 pairs, 4 states) and
the multi-lane compressor (its default chunk), checks every output beat against the golden
model, prints the rates and records them in ``build/throughput.json`` as
``"<top>-<lanes>-large"``. ``fpga.build`` takes those over the test benches' figures
(``"<top>-<lanes>"``, a tensor of 128 chunks), which include a larger share of the lanes'
start-up and drain: the lanes start one after another, and a tensor pays that once.
"""

import argparse
import sys
import time

import numpy as np

from .test_multilane import BF16_BOOKS, bf16, check
from .vectors import Tensor
from .verilator import Harness, record

DECOMPRESSOR_CHUNK = 4000


def measure(top, lanes, n, rng):
    from hdl.multilane.compressor import chunk_pairs_for
    if top == "decompressor":
        chunk = DECOMPRESSOR_CHUNK
        harness = Harness("bf16", table_log_max=10, lanes=lanes, in_width=4)
    else:
        chunk = chunk_pairs_for(lanes)
        harness = Harness("bf16", table_log_max=10, chunk_pairs=chunk, lanes=lanes)
    harness.build()
    start = time.monotonic()
    t = Tensor.compress(bf16(rng, n, 0.02), BF16_BOOKS, max_table_log=10, chunk_pairs=chunk,
                        name="large")
    (r,) = harness.run([{"tensors": [t], "name": "large"}], f"large-{n}")
    check([r])
    if top == "decompressor":
        rate = n / r["busy_cycles"]                     # values per busy clock
        what = "values per busy clock"
    else:
        rate = n / (r["in_last"] - r["in_first"] + 1)   # values taken per clock
        what = "values per clock from the first input beat to the last"
    print(f"{top}, {lanes} lanes: {rate:.4f} {what} ({rate / lanes:.4f} per lane), {n} values "
          f"in chunks of {chunk}, {r['busy_cycles']} busy cycles "
          f"({time.monotonic() - start:.0f} s)")
    record("throughput.json", {f"{top}-{lanes}-large": {
        "pairs_per_clock": rate / lanes, "pairs": n,
        "source": (f"python -m tb.rates: one tensor of {n} bf16 weights (sigma 0.02), chunks "
                   f"of {chunk} pairs, {what} / lanes")}})
    return rate


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tb.rates", description=__doc__.splitlines()[0])
    p.add_argument("--lanes", type=int, nargs="+", default=[8])
    p.add_argument("--values", type=int, default=4096 * 4096)
    p.add_argument("--tops", nargs="+", default=["decompressor", "compressor"],
                   choices=["decompressor", "compressor"])
    args = p.parse_args(argv)
    if not 1 <= args.values <= min(args.lanes) << 21:
        p.error(f"--values must be 1 .. {min(args.lanes) << 21} (lanes x 2**21: the "
                "harness's memories hold 2**21 output beats)")
    rng = np.random.default_rng(0)
    for top in args.tops:
        for lanes in args.lanes:
            measure(top, lanes, args.values, rng)
    return 0


if __name__ == "__main__":
    sys.exit(main())
