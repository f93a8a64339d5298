"""``make sim``: compress a model with the golden model, decompress it in the RTL under Verilator,
check every bit; then run a layer through the whole system (tb/system_sim.py).

The payloads fed to the RTL are the tensors' stored bytes of the ``.ansn`` container, byte for
byte; the expected values are the tensors of the input file. Exits non-zero on any mismatch,
error flag or hung stream.

    python -m tb.sim [--model PATH.safetensors] [--tensors REGEX] [--table-log N] [--stall P]
"""

import argparse
import re
import sys
import time

import numpy as np

from golden import data
from golden.ans import codec
from golden.format import container

from .vectors import Tensor

#: safetensors dtype -> RTL output format
RTL_FORMATS = {"BF16": "bf16", "F16": "fp16", "F8_E4M3": "fp8e4m3", "F8_E5M2": "fp8e5m2"}
#: harness capacity per batch (tb/harness.sv CMD_DEPTH, EXP_DEPTH)
MAX_CMDS, MAX_VALUES = 1 << 24, 1 << 24


def main(argv=None):
    p = argparse.ArgumentParser(prog="make sim", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="safetensors file (default: all-MiniLM-L6-v2 in bf16)")
    p.add_argument("--tensors", help="only tensors whose name matches this regex")
    p.add_argument("--table-log", type=int, default=codec.DEFAULT_TABLE_LOG,
                   help="the lane's largest table log, and the compressor's")
    p.add_argument("--states", type=int, default=codec.DEFAULT_STATES, choices=(1, 2, 4))
    p.add_argument("--stall", type=float, default=0.0,
                   help="probability of a bubble on input valid and output ready")
    p.add_argument("--compressor-chunk", type=int, default=4096,
                   help="chunk size of the RTL compressor (0: do not run the compressor)")
    p.add_argument("--system-lanes", type=int, default=4,
                   help="lanes of the system stage (tb/system_sim.py; 0: do not run it)")
    p.add_argument("--tokens", type=int, default=4,
                   help="engines of the system stage, each with its own token")
    args = p.parse_args(argv)

    from .verilator import Harness
    path = args.model or str(data.minilm_bf16())
    print(f"model: {path}")
    try:
        buf = open(path, "rb").read()
        t0 = time.time()
        index, stored, _ = container.compress_bytes(
            buf, table_log=args.table_log, states=args.states, tensors_regex=args.tensors)
    except (OSError, container.AnsnError) as e:
        print(f"sim: error: {e}", file=sys.stderr)
        return 1
    file_out = sum(len(c) for c in container.container_bytes(index, stored))
    print(f"golden: {len(buf)} -> {file_out} bytes, ratio {len(buf) / file_out:.4f} "
          f"({time.time() - t0:.1f} s)")

    header_len, tensors = container.parse_safetensors(buf)
    by_name = {t["name"]: t for t in tensors}
    pattern = re.compile(args.tensors) if args.tensors else None
    work, skipped = {}, []
    for seg, blob in zip(index["segments"], stored):
        if seg["kind"] != "tensor" or (pattern and not pattern.search(seg["name"])):
            continue
        if seg["storage"] != "ans":
            skipped.append(f"{seg['name']} ({seg['dtype']}, stored raw)")
            continue
        fmt = RTL_FORMATS.get(seg["dtype"])
        if fmt is None:
            skipped.append(f"{seg['name']} ({seg['dtype']}: no RTL output format)")
            continue
        t = by_name[seg["name"]]
        values = container._value_view(buf[t["begin"]:t["end"]], seg["dtype"])
        work.setdefault(fmt, []).append(Tensor(values, codec.Table.from_json(seg["table"]),
                                               np.frombuffer(blob, "<u4"), seg["name"]))
    if skipped:
        print(f"not run in the RTL: {len(skipped)} tensors: " + "; ".join(skipped[:5])
              + (" ..." if len(skipped) > 5 else ""))
    if not work:
        print("sim: error: no tensor to run in the RTL", file=sys.stderr)
        return 1

    failed = False
    total = {"values": 0, "busy": 0, "cycles": 0, "bytes_in": 0, "bytes_raw": 0}
    for fmt, tensors in work.items():
        harness = Harness(fmt, table_log_max=args.table_log, states=args.states)
        print(f"building {fmt} lane (table log {args.table_log}, {args.states} states) ...")
        harness.build()
        batches, cur, n_cmd, n_val = [], [], 0, 0
        for t in tensors:
            c = len(t.payload) + len(t.table.image())
            if c > MAX_CMDS or len(t.values) > MAX_VALUES:
                print(f"sim: error: tensor {t.name} ({len(t.values)} values) is larger than the "
                      f"harness holds ({MAX_VALUES} values per run)", file=sys.stderr)
                return 1
            if cur and (n_cmd + c > MAX_CMDS or n_val + len(t.values) > MAX_VALUES):
                batches.append(cur)
                cur, n_cmd, n_val = [], 0, 0
            cur.append(t)
            n_cmd, n_val = n_cmd + c, n_val + len(t.values)
        batches.append(cur)
        t0 = time.time()
        results = harness.run([{"tensors": b, "name": f"{fmt}-{i}", "in_stall": args.stall,
                                "out_stall": args.stall, "seed": i + 1}
                               for i, b in enumerate(batches)], "sim")
        for b, r in zip(batches, results):
            ok = not r["hung"] and r["errors"] == 0 and r["mismatches"] == 0 \
                and r["received"] == r["expected"]
            failed |= not ok
            print(f"  batch {r['name']}: {len(b)} tensors, {r['received']}/{r['expected']} "
                  f"values, {r['mismatches']} mismatches, {r['errors']} errors"
                  f"{', HUNG' if r['hung'] else ''}, {r['cycles']} cycles, "
                  f"{r['expected'] / max(1, r['busy_cycles']):.4f} pairs/clock while busy"
                  f" -> {'OK' if ok else 'FAIL'}")
            total["values"] += r["received"]
            total["busy"] += r["busy_cycles"]
            total["cycles"] += r["cycles"]
            total["bytes_in"] += sum(4 * len(t.payload) for t in b)
            total["bytes_raw"] += sum(t.values.nbytes for t in b)
        print(f"  {fmt}: {time.time() - t0:.1f} s in Verilator")
    print(f"RTL decompressor: {total['values']} values checked bit for bit, "
          f"{total['cycles']} cycles ({total['busy']} decoding), "
          f"{total['values'] / max(1, total['busy']):.4f} pairs per clock per lane, "
          f"payload ratio {total['bytes_raw'] / max(1, total['bytes_in']):.4f}")
    if args.compressor_chunk:
        failed |= run_compressor(work, args)
    if args.system_lanes:
        from . import system_sim
        failed |= system_sim.run(model=args.model, lanes=args.system_lanes, tokens=args.tokens,
                                 table_log=args.table_log, stall=args.stall)
    print("sim: PASS" if not failed else "sim: FAIL")
    return 1 if failed else 0


def run_compressor(work, args):
    """The RTL compressor on the same tensors and tables: its words must equal the golden
    payload at the compressor's chunk size. Returns True on failure."""
    from .verilator import Harness
    failed = False
    n = args.compressor_chunk
    for fmt, tensors in work.items():
        harness = Harness(fmt, table_log_max=args.table_log, states=args.states, chunk_pairs=n)
        print(f"building {fmt} compressor (table log {args.table_log}, {args.states} states, "
              f"chunks of {n}) ...")
        harness.build()
        jobs = []
        for t in tensors:
            codes, extras = t.table.codebook.encode(t.values)
            payload = codec.encode_payload(t.table, codes, extras, chunk_pairs=n,
                                           states=args.states)
            jobs.append(Tensor(t.values, t.table, payload, t.name))
        batches, cur, n_cmd, n_exp = [], [], 0, 0
        for t in jobs:
            c = len(t.values) + len(t.table.encoder_image()[0])
            if c > MAX_CMDS or len(t.payload) > MAX_VALUES:
                print(f"sim: error: tensor {t.name} ({len(t.values)} values) is larger than the "
                      f"harness holds ({MAX_CMDS} inputs per run)", file=sys.stderr)
                return True
            if cur and (n_cmd + c > MAX_CMDS or n_exp + len(t.payload) > MAX_VALUES):
                batches.append(cur)
                cur, n_cmd, n_exp = [], 0, 0
            cur.append(t)
            n_cmd, n_exp = n_cmd + c, n_exp + len(t.payload)
        batches.append(cur)
        t0 = time.time()
        results = harness.run([{"tensors": b, "name": f"{fmt}-compress-{i}",
                                "in_stall": args.stall, "out_stall": args.stall, "seed": i + 1}
                               for i, b in enumerate(batches)], "sim-compress")
        values = words = 0
        for b, r in zip(batches, results):
            ok = not r["hung"] and r["errors"] == 0 and r["mismatches"] == 0 \
                and r["received"] == r["expected"]
            failed |= not ok
            values += sum(len(t.values) for t in b)
            words += r["received"]
            print(f"  batch {r['name']}: {len(b)} tensors, {r['received']}/{r['expected']} "
                  f"payload words, {r['mismatches']} mismatches, {r['errors']} errors"
                  f"{', HUNG' if r['hung'] else ''}, "
                  f"{r['in_count'] / max(1, r['in_last'] - r['in_first'] + 1):.4f} values "
                  f"per clock in -> {'OK' if ok else 'FAIL'}")
        print(f"RTL compressor: {values} values, {words} payload words equal to the golden "
              f"payload word for word ({time.time() - t0:.1f} s in Verilator)")
    return failed


if __name__ == "__main__":
    sys.exit(main())
