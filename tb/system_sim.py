"""``make sim``'s system stage: a real layer of MiniLM through the whole system, from compressed
memory to K token streams' results, bit for bit.

A weight matrix of the model (by default the first feed-forward layer, 1536 x 384) is compressed
by the golden model into a memory image (:class:`golden.format.image.MemoryImage`, chunks of
whole rows); the exported system top (``hdl.export --top system``) runs under Verilator with
cocotbext-axi's AXI4 RAM holding the image (tb/cocotb_system.py); its ``tokens`` engines each get
the embedding of one real token as activation vector. Every result of every engine is compared
with :func:`golden.engine.bf16_matvec`; the figures printed are the counters of the system's
registers. Exits non-zero on any mismatch, error or hang.

    python -m tb.system_sim [--model PATH] [--layer NAME] [--lanes 4] [--tokens 4]
"""

import argparse
import sys
import time

import numpy as np

from golden import data
from golden.engine import bf16_matvec
from golden.format import codebooks
from golden.format.image import MemoryImage

__all__ = ["run", "main", "LAYER", "TOKEN_IDS"]

#: The layer ``make sim`` runs: MiniLM's first feed-forward matrix (out 1536 x in 384).
LAYER = "encoder.layer.0.intermediate.dense.weight"
#: Rows of the vocabulary whose embeddings are the engines' activations (BERT's uncased
#: vocabulary: "the", "token", "factory", "shares", "one", "weight", "stream", "."; cycled).
TOKEN_IDS = (1996, 19204, 4713, 6661, 2028, 3635, 5460, 1012)
EMBEDDINGS = "embeddings.word_embeddings.weight"
BASE = 0x10000


def run(*, model=None, layer=LAYER, lanes=4, tokens=4, in_words=4, table_log=10, stall=0.0,
        rows_per_chunk=None):
    """Runs the stage; returns True on failure."""
    from .system_bench import SystemBench
    path = model or str(data.minilm_bf16())
    tensors = data.bf16_tensors(path)
    if layer not in tensors:
        print(f"sim: system stage skipped: no bf16 tensor {layer!r} in {path}")
        return False
    rows, cols = _shape(path, layer)
    weights = tensors[layer]
    if EMBEDDINGS in tensors:
        emb = tensors[EMBEDDINGS].reshape(-1, cols)
        xs = [emb[TOKEN_IDS[k % len(TOKEN_IDS)] % len(emb)] for k in range(tokens)]
    else:                               # (another model: its first rows as activations)
        xs = [weights[k * cols:(k + 1) * cols] for k in range(tokens)]
    if cols % lanes:
        print(f"sim: error: {layer} has rows of {cols}, not a multiple of {lanes} lanes",
              file=sys.stderr)
        return True
    # chunks of whole rows, as close to 4000 pairs as rows allow (the lanes' buffers)
    rows_per_chunk = rows_per_chunk or max(1, 4000 // cols)
    t0 = time.time()
    image = MemoryImage.compress(weights, [codebooks.get("bf16-exp"), codebooks.get("bf16-sexp")],
                                 max_table_log=table_log, chunk_pairs=rows_per_chunk * cols)
    print(f"system: {layer} ({rows} x {cols} bf16), {image.chunks} chunks of {rows_per_chunk} "
          f"rows, memory image {len(image.words) * 4} bytes ({time.time() - t0:.1f} s)")
    bench = SystemBench(lanes=lanes, tokens=tokens, in_words=in_words, table_log_max=table_log)
    print(f"building the system: {lanes} lanes, {tokens} bf16 engines, "
          f"{32 * in_words}-bit AXI4 ...")
    bench.build()
    memory = bytes(BASE) + image.to_bytes()
    t0 = time.time()
    (result,) = bench.run(memory, [bench.job(image, BASE, xs, cols, max_cycles=20 * len(weights))],
                          name="sim", stall=stall, seed=1, latency=2 if stall else 0)
    seconds = time.time() - t0
    got = bench.outputs(result)
    want = [bf16_matvec(weights, x, cols, lanes) for x in xs]
    mismatches = sum(int(got[r][k] != want[k][r]) for r in range(min(len(got), rows))
                     for k in range(tokens)) + tokens * abs(len(got) - rows)
    ok = result["done"] and not result["error"] and mismatches == 0 and len(got) == rows
    # how close the engine's fp32 sums are to exact ones (they are not meant to be equal)
    exact = [(weights.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
             .reshape(rows, cols) @ (x.astype(np.uint32) << 16).view(np.float32) for x in xs]
    fp32 = np.array([[v for v in row] for row in got], np.uint32).view(np.float32) \
        if got else np.zeros((0, tokens), np.float32)
    rel = max(float(np.max(np.abs(fp32[:, k] - exact[k]) / (np.abs(exact[k]).max() + 1e-30)))
              for k in range(tokens)) if len(got) == rows else float("nan")

    n = len(weights)
    busy = result["busy_cycles"]
    read = result["bytes_read"]
    raw = 2 * n
    per_clock = n / busy
    util = result["engine_beats"] / busy
    print(f"  {rows} rows x {tokens} tokens: {tokens * rows} results, {mismatches} mismatches "
          f"against golden.engine.bf16_matvec, status 0x{result['status']:x} "
          f"({seconds:.1f} s in Verilator) -> {'OK' if ok else 'FAIL'}")
    print(f"  (largest difference from exact float64 dot products: {rel:.2e} of the row's "
          f"largest result)")
    print(f"  memory: {read} bytes read for {raw} bytes of bf16 weights: {read / raw:.4f} of "
          f"the uncompressed size (1 / {raw / read:.4f}), the same for any number of tokens")
    print(f"  {busy} cycles from START to the last result: {per_clock:.3f} weights per clock "
          f"into each engine ({tokens * per_clock:.2f} multiply-adds per clock in all), engine "
          f"utilisation {util:.3f} (beats of {lanes} weights per cycle), "
          f"{result['stall_cycles']} cycles waiting for memory")
    print(f"  bandwidth for that throughput: {read / busy:.2f} bytes per clock compressed; an "
          f"uncompressed design needs {2 * per_clock:.2f} bytes per clock "
          f"({2 * per_clock * 0.1:.2f} GB/s against {read / busy * 0.1:.2f} GB/s at 100 MHz)")
    return not ok


def _shape(path, name):
    import json
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    return tuple(header[name]["shape"])


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tb.system_sim", description=__doc__.split("\n")[0])
    p.add_argument("--model")
    p.add_argument("--layer", default=LAYER)
    p.add_argument("--lanes", type=int, default=4)
    p.add_argument("--tokens", type=int, default=4)
    p.add_argument("--stall", type=float, default=0.0)
    args = p.parse_args(argv)
    failed = run(model=args.model, layer=args.layer, lanes=args.lanes, tokens=args.tokens,
                 stall=args.stall)
    print("system sim: PASS" if not failed else "system sim: FAIL")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
