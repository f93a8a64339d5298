"""``python -m golden.bench``: ratio and speed of the golden model on real bf16 weights, beside ZipNN.

Prints (it asserts nothing about speed; it stops only if a round trip is not byte-identical):

1. Ratio of the ``.ansn`` file (headers and index included) and of the tensors alone, against two
   bounds: one bf16 exponent table per tensor with sign and mantissa raw, and the entropy bound of
   the code books the compressor chose.
2. Speed as a user sees it, per model (MiniLM, 45 MB, and the 390 MB model of
   ``golden.data.large_bf16()``): ``ansnum compress`` and ``ansnum decompress`` run as new
   processes on the files on disk (start-up, imports, reading and writing included; numba's
   cache warmed by one run first), best of ``--repeats``, MB/s of the source file: with
   ``--jobs 1`` pinned to one core, and with ``--jobs 2`` on two cores (the speed-up beside it).
   ZipNN in the same run: in-process on the same bytes (``threads=1``, the figure its authors
   give, without its start-up), and as a process that reads the file and writes its output
   (its import of torch included). The ratios ours / ZipNN follow. Then the same work
   in-process (``container.compress_bytes`` / ``decompress_bytes``) and the tANS kernels alone.
   Each figure comes as wall-clock time and as CPU time (user + system), which a busy machine
   disturbs much less; the load average is printed beside each group.
3. ZipNN's ratio on the same data, per tensor and whole file.
4. Ratio against table log (8..12) and alphabet (every exponent present, or the k most frequent
   plus an escape), bf16-exp code book, tensor payload bytes with chunk headers; from it the
   hardware default table log: the smallest within 0.05 % of the best.
5. Block RAMs (DP16KD, 512 x 36) one decode table of ``L`` 32-bit entries needs.
7. Feature maps (:mod:`golden.bench_maps`): EBPC, BPC, zero-RLE and ZVC per VGG16 layer in NCHW
   and NHWC order beside the order-0 bound, and Kim et al.'s BPC on float weights and
   activations (needs the packages of requirements-bench.txt; ``--no-maps`` skips it).

The process pins itself to one CPU (``os.sched_setaffinity``, the idlest one at the start) so that
no library can use a second core; the two-core runs get both. ``--json PATH`` also writes every
figure to a file.
"""

import argparse
import datetime
import json
import math
import os
import platform
import sys
import tempfile
import time

import numpy as np

from . import data
from .ans import codec, fast, tans
from .format import codebooks, container
from .format.fields import TABLE_LOG_MAX, TABLE_LOG_MIN, DecodeEntry

#: A table log is "as good as the best" when its payload is within this fraction of the best one.
TOLERANCE = 0.0005
#: Alphabet sizes of the sweep (None: every code present, no escape).
ALPHABETS = (None, 7, 15, 31, 63)
#: DP16KD in its 512 x 36 shape.
BRAM_DEPTH, BRAM_WIDTH = 512, 36


def _idle_ticks():
    """``{cpu: idle ticks}`` from /proc/stat (empty where there is none)."""
    out = {}
    try:
        with open("/proc/stat") as f:
            for line in f:
                name, *fields = line.split()
                if name.startswith("cpu") and name[3:].isdigit():
                    out[int(name[3:])] = int(fields[3]) + int(fields[4])  # idle + iowait
    except (OSError, ValueError, IndexError):
        pass
    return out


def _pin_one_core():
    """Pin the process to one CPU, the idlest over a short look (the others may be busy)."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None
    ALL_CORES[:] = allowed
    before = _idle_ticks()
    time.sleep(0.5)
    after = _idle_ticks()
    cpu = max(allowed, key=lambda c: (after.get(c, 0) - before.get(c, 0), -c))
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:
        return None
    return cpu


#: The cores the bench may use (before it pins itself to one).
ALL_CORES = []


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


class Timing:
    """Best wall-clock and best CPU time (``time.process_time``, all threads) of a few runs."""

    def __init__(self, wall, cpu):
        self.wall, self.cpu = wall, cpu

    def rates(self, mb, prefix):
        return {f"{prefix}_s": self.wall, f"{prefix}_cpu_s": self.cpu,
                f"{prefix}_mb_s": mb / self.wall, f"{prefix}_cpu_mb_s": mb / self.cpu}


def _loadavg():
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "?"


def _best_of(fn, repeats, prepare=None):
    """Best times of ``repeats`` calls of ``fn(prepare())`` (prepare is not timed)."""
    wall = cpu = math.inf
    result = None
    for _ in range(repeats):
        arg = prepare() if prepare else None
        t, c = time.perf_counter(), time.process_time()
        result = fn(arg)
        c, t = time.process_time() - c, time.perf_counter() - t
        wall, cpu = min(wall, t), min(cpu, c)
    return Timing(wall, cpu), result


def _entropy_bits(hist):
    h = hist[hist > 0].astype(np.float64)
    return float(-(h * np.log2(h / h.sum())).sum())


def _bf16_segments(buf, index):
    """``[(segment, stored bytes index, uint16 values)]`` of the BF16 tensor segments."""
    _, tensors = container.parse_safetensors(buf)
    by_name = {t["name"]: t for t in tensors}
    out = []
    for k, seg in enumerate(index["segments"]):
        if seg["kind"] == "tensor" and seg["dtype"] == "BF16":
            t = by_name[seg["name"]]
            out.append((seg, k, np.frombuffer(buf, "<u2", (t["end"] - t["begin"]) // 2,
                                              t["begin"])))
    return out


# ------------------------------------------------------------------------------------- ratio

def measure_ratio(buf):
    index, stored, bounds = container.compress_bytes(buf)
    file_out = sum(len(c) for c in container.container_bytes(index, stored))
    tensor_raw = sum(s["length"] for s in index["segments"] if s["kind"] == "tensor")
    tensor_stored = sum(s["stored"] for s in index["segments"] if s["kind"] == "tensor")
    bf16 = _bf16_segments(buf, index)
    bf16_raw = sum(s["length"] for s, _, _ in bf16)
    bf16_stored = sum(s["stored"] for s, _, _ in bf16)
    exp_bits = 0.0
    for _, _, v in bf16:
        hist = np.bincount((v >> 7) & 0xFF, minlength=256)
        exp_bits += _entropy_bits(hist) + 8 * len(v)
    chosen_bits = sum(bounds[k] for _, k, _ in bf16)
    books = {}
    for s, _, _ in bf16:
        name = s["table"]["codebook"] if s["storage"] == "ans" else "raw"
        books[name] = books.get(name, 0) + 1
    logs = {}
    for s, _, _ in bf16:
        if s["storage"] == "ans":
            logs[s["table"]["table_log"]] = logs.get(s["table"]["table_log"], 0) + 1
    return index, stored, {
        "file_bytes_in": len(buf), "file_bytes_out": file_out, "file_ratio": len(buf) / file_out,
        "tensors": sum(s["kind"] == "tensor" for s in index["segments"]),
        "tensor_raw_bytes": tensor_raw, "tensor_stored_bytes": tensor_stored,
        "tensor_ratio": tensor_raw / tensor_stored,
        "bf16_tensors": len(bf16), "bf16_raw_bytes": bf16_raw, "bf16_stored_bytes": bf16_stored,
        "bf16_ratio": bf16_raw / bf16_stored,
        "exp_bound_bytes": exp_bits / 8, "exp_bound_ratio": bf16_raw / (exp_bits / 8),
        "exp_bound_gap_pct": 100 * (bf16_stored / (exp_bits / 8) - 1),
        "chosen_bound_bytes": chosen_bits / 8, "chosen_bound_ratio": bf16_raw / (chosen_bits / 8),
        "chosen_bound_gap_pct": 100 * (bf16_stored / (chosen_bits / 8) - 1),
        "codebooks_chosen": books, "table_logs_chosen": logs,
    }


# ------------------------------------------------------------------------------------- speed

def _command():
    exe = os.path.join(os.path.dirname(sys.executable), "ansnum")
    return [exe] if os.path.exists(exe) else [sys.executable, "-m", "golden.cli"]


def _run(argv, cores, repeats):
    """Best wall and CPU time (user + system of the child) of ``argv`` as a new process each
    time, on the CPUs ``cores``."""
    import resource
    import subprocess
    wall = cpu = math.inf

    def pin():
        if cores:
            os.sched_setaffinity(0, cores)
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        r = subprocess.run(argv, preexec_fn=pin, capture_output=True, text=True)
        t = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if r.returncode:
            raise SystemExit(f"bench: {' '.join(argv)} failed: {r.stderr.strip()}")
        c = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        wall, cpu = min(wall, t), min(cpu, c)
    return Timing(wall, cpu)


_ZIPNN_SCRIPT = """
import sys
import torch
torch.set_num_threads(1)
from zipnn import ZipNN
z = ZipNN(input_format="byte", bytearray_dtype="bfloat16", threads=1)
with open(sys.argv[2], "rb") as f:
    data = bytearray(f.read())
out = z.compress(data) if sys.argv[1] == "compress" else z.decompress(bytes(data))
with open(sys.argv[3], "wb") as f:
    f.write(out)
"""


def measure_process(path, repeats, scratch, zipnn=True):
    """``ansnum compress`` / ``decompress`` as processes: one core with ``--jobs 1``, two cores
    with ``--jobs 2``; ZipNN as a process on one core."""
    mb = os.path.getsize(path) / 1e6
    packed, back = os.path.join(scratch, "bench.ansn"), os.path.join(scratch, "bench.back")
    one = set(os.sched_getaffinity(0))
    two = set(ALL_CORES[:2]) if len(ALL_CORES) >= 2 else None
    out = {"file": os.path.basename(path), "mb": mb}
    runs = [("compress", [path, packed]), ("decompress", [packed, back])]
    for what, files in runs:                            # warm numba's cache, check the bytes
        _run(_command() + ["-q", what, "--jobs", "1"] + files, one, 1)
    with open(path, "rb") as f, open(back, "rb") as g:
        if f.read() != g.read():
            raise SystemExit("bench: ansnum decompress did not restore the file byte for byte")
    out["loadavg_1"] = _loadavg()
    for what, files in runs:
        out.update(_run(_command() + ["-q", what, "--jobs", "1"] + files, one,
                        repeats).rates(mb, f"{what}_j1"))
    if two:
        out["loadavg_2"] = _loadavg()
        for what, files in runs:
            out.update(_run(_command() + ["-q", what, "--jobs", "2"] + files, two,
                            repeats).rates(mb, f"{what}_j2"))
    out["ansn_bytes"] = os.path.getsize(packed)
    if zipnn:
        try:
            import zipnn  # noqa: F401
        except Exception:  # noqa: BLE001
            return out
        zfile, zback = os.path.join(scratch, "bench.znn"), os.path.join(scratch, "bench.zback")
        for what, files in (("compress", [path, zfile]), ("decompress", [zfile, zback])):
            argv = [sys.executable, "-c", _ZIPNN_SCRIPT, what] + files
            _run(argv, one, 1)
            out.update(_run(argv, one, repeats).rates(mb, f"zipnn_process_{what}"))
        with open(path, "rb") as f, open(zback, "rb") as g:
            out["zipnn_process_round_trip_ok"] = f.read() == g.read()
        for f in (zfile, zback):
            os.unlink(f)
    for f in (packed, back):
        os.unlink(f)
    return out


def measure_speed(buf, index, stored, repeats):
    """The same work in-process (no start-up, no files), and the kernels alone."""
    tensor_raw = sum(s["length"] for s in index["segments"] if s["kind"] == "tensor")
    mb = len(buf) / 1e6

    def compress(_):
        ix, st, _ = container.compress_bytes(buf)
        return b"".join(container.container_bytes(ix, st))

    blob = compress(None)                                    # warm-up (numba loads here)
    if b"".join(container.decompress_bytes(blob)) != buf:
        raise SystemExit("bench: round trip through the .ansn container is not byte-identical")
    t_c, blob = _best_of(compress, repeats)
    t_d, out = _best_of(lambda _: container.decompress_bytes(blob), repeats)
    if b"".join(out) != buf:
        raise SystemExit("bench: round trip through the .ansn container is not byte-identical")

    # the tANS kernels alone, tables built: values -> payload words -> values
    jobs = []
    for seg, st in zip(index["segments"], stored):
        if seg["kind"] == "tensor" and seg["storage"] == "ans":
            table = codec.Table.from_json(seg["table"])
            values = np.frombuffer(container._restore_segment(seg, st), "<u2")
            jobs.append((table, values, np.frombuffer(st, "<u4")))
    kernel_mb = sum(v.nbytes for _, v, _ in jobs) / 1e6

    def enc(_):
        return [fast.encode_values(table, values, chunk_pairs=index["chunk_pairs"],
                                   states=index["states"]) for table, values, _ in jobs]

    def dec(_):
        return [fast.decode_values(table, payload, len(values))
                for table, values, payload in jobs]

    enc(None), dec(None)
    t_ke, payloads = _best_of(enc, repeats)
    t_kd, values = _best_of(dec, repeats)
    for (table, v, p), q, w in zip(jobs, payloads, values):
        if not (np.array_equal(p, q) and np.array_equal(v, w)):
            raise SystemExit("bench: kernel round trip differs from the container's payload")
    return {"mb": mb, "tensor_mb": tensor_raw / 1e6, **t_c.rates(mb, "compress"),
            **t_d.rates(mb, "decompress"), "kernel_mb": kernel_mb,
            **t_ke.rates(kernel_mb, "kernel_encode"), **t_kd.rates(kernel_mb, "kernel_decode")}


# ------------------------------------------------------------------------------------- ZipNN

def measure_zipnn(buf, index, repeats, per_tensor=True):
    try:
        import zipnn
        from zipnn import ZipNN
    except Exception as e:  # noqa: BLE001 (any import failure means: not available)
        return {"installed": False, "error": f"{type(e).__name__}: {e}"}
    try:
        import torch
        torch.set_num_threads(1)
    except Exception:  # noqa: BLE001
        pass
    version = getattr(zipnn, "__version__", None)
    if version is None:
        try:
            from importlib.metadata import version as _v
            version = _v("zipnn")
        except Exception:  # noqa: BLE001
            version = "?"
    # Byte mode with bytearray_dtype="bfloat16": ZipNN's byte grouping (exponent byte apart) and
    # Huffman coding of each group. threads=1: one thread for coding and byte reordering.
    z = ZipNN(input_format="byte", bytearray_dtype="bfloat16", threads=1)
    pieces = [bytes(v.tobytes()) for _, _, v in _bf16_segments(buf, index)]
    raw = sum(len(p) for p in pieces)

    # ZipNN rewrites its input buffer in place (even a `bytes` object) while it compresses, so
    # every run gets fresh copies, made outside the timed region.
    def copies(_=None):
        return [bytearray(p) for p in pieces]

    comp = [z.compress(c) for c in copies()]                  # warm-up
    if per_tensor:
        t_c, comp = _best_of(lambda cs: [z.compress(c) for c in cs], repeats, copies)
        t_d, back = _best_of(lambda _: [z.decompress(c) for c in comp], repeats)
    else:
        back = [z.decompress(c) for c in comp]
        t_c = t_d = Timing(math.nan, math.nan)
    ok = all(bytes(b) == p for b, p in zip(back, pieces))
    stored = sum(len(c) for c in comp)

    t_fc, whole = _best_of(lambda b: z.compress(b), repeats, lambda: bytearray(buf))
    t_fd, whole_back = _best_of(lambda _: z.decompress(whole), repeats)
    ok_file = bytes(whole_back) == buf
    return {"installed": True, "version": version, "threads": 1,
            "mode": 'ZipNN(input_format="byte", bytearray_dtype="bfloat16", threads=1)',
            "bf16_raw_bytes": raw, "bf16_stored_bytes": stored, "bf16_ratio": raw / stored,
            **t_c.rates(raw / 1e6, "compress"), **t_d.rates(raw / 1e6, "decompress"),
            "round_trip_ok": ok,
            "file_bytes_out": len(whole), "file_ratio": len(buf) / len(whole),
            **t_fc.rates(len(buf) / 1e6, "file_compress"),
            **t_fd.rates(len(buf) / 1e6, "file_decompress"), "file_round_trip_ok": ok_file}


# ------------------------------------------------------------------------------------- sweep

def _alphabet(hist, k):
    """``(alphabet, escaped codes or None)``: every code present (k None), or the k most frequent
    plus an escape for the rest; a tensor with at most k codes keeps them all, without escape."""
    present = np.flatnonzero(hist)
    if k is None or len(present) <= k:
        return sorted(present.tolist()), None
    order = present[np.argsort(-hist[present], kind="stable")]
    return sorted(order[:k].tolist()), order[k:]


def measure_sweep(buf, index):
    book = codebooks.get("bf16-exp")
    bf16 = _bf16_segments(buf, index)
    raw = sum(v.nbytes for _, _, v in bf16)
    logs = range(TABLE_LOG_MIN, TABLE_LOG_MAX + 1)
    payload = {(log, k): 0 for log in logs for k in ALPHABETS}
    bound_bits = 0.0
    escaping = {k: 0 for k in ALPHABETS}
    for _, _, v in bf16:
        codes, extras = book.encode(v)
        codes = codes.astype(np.int64)
        hist = np.bincount(codes, minlength=book.n_codes).astype(np.int64)
        bound_bits += _entropy_bits(hist) + 8 * len(v)
        for k in ALPHABETS:
            alphabet, escaped = _alphabet(hist, k)
            sym_hist = hist[alphabet]
            esc_width = None
            if escaped is not None:
                escaping[k] += 1
                esc_width = book.code_bits + int(book.widths[escaped].max())
                sym_hist = np.append(sym_hist, hist[escaped].sum())
            for log in logs:
                counts = tans.normalize_counts(sym_hist, log)
                table = codec.Table(book, log, tuple(int(a) for a in alphabet),
                                    tuple(int(c) for c in counts), esc_width)
                words = fast.encode_values(table, v, chunk_pairs=index["chunk_pairs"],
                                           states=index["states"])
                payload[(log, k)] += 4 * len(words)
    rows = []
    for log in logs:
        for k in ALPHABETS:
            b = payload[(log, k)]
            rows.append({"table_log": log, "alphabet": "full" if k is None else f"top{k}+esc",
                         "payload_bytes": b, "ratio": raw / b,
                         "over_bound_pct": 100 * (b / (bound_bits / 8) - 1)})
    best = min(rows, key=lambda r: r["payload_bytes"])
    chosen = None
    for log in logs:
        r = min((r for r in rows if r["table_log"] == log), key=lambda r: r["payload_bytes"])
        if r["payload_bytes"] <= best["payload_bytes"] * (1 + TOLERANCE):
            chosen = r
            break
    return {"codebook": book.name, "raw_bytes": raw, "bound_bytes": bound_bits / 8,
            "bound_ratio": raw / (bound_bits / 8), "rows": rows, "best": best,
            "default": chosen, "tolerance_pct": 100 * TOLERANCE,
            "tensors_with_escape": {("full" if k is None else f"top{k}+esc"): n
                                    for k, n in escaping.items()}}


def bram_table():
    width = DecodeEntry.size
    rows = []
    for log in range(TABLE_LOG_MIN, TABLE_LOG_MAX + 1):
        L = 1 << log
        rows.append({"table_log": log, "entries": L, "entry_bits": width, "bits": L * width,
                     "dp16kd": -(-L // BRAM_DEPTH)})
    return rows


def targets(r):
    q, s, z = r["ratio"], r["speed"], r["zipnn"]
    file_gap = 100 * (q["file_bytes_out"] / q["exp_bound_bytes"] - 1)
    rows = [
        ("file ratio >= 1.506", f"{q['file_ratio']:.4f}", q["file_ratio"] >= 1.506),
        ("BF16 tensors <= 0.1% over the exponent bound", f"{q['exp_bound_gap_pct']:+.3f}%",
         q["exp_bound_gap_pct"] <= 0.1),
        ("whole file <= 0.1% over the exponent bound", f"{file_gap:+.3f}%", file_gap <= 0.1),
    ]
    if z["installed"]:
        rows += [("BF16 tensor ratio >= ZipNN's (per tensor)",
                  f"{q['bf16_ratio']:.4f}/{z['bf16_ratio']:.4f}", q["bf16_ratio"] >= z["bf16_ratio"]),
                 ("file ratio >= ZipNN's (whole file)",
                  f"{q['file_ratio']:.4f}/{z['file_ratio']:.4f}", q["file_ratio"] >= z["file_ratio"])]
    for run in r["process"]:
        zf = r["zipnn_file"].get(run["file"], {})
        for what in ("compress", "decompress"):
            ours = run[f"{what}_j1_mb_s"]
            if zf.get("installed"):
                theirs = zf[f"file_{what}_mb_s"]
                rows.append((f"{run['file'][:18]} {what}, process/ZipNN in-process >= 1",
                             f"{ours:.0f}/{theirs:.0f} = {ours / theirs:.2f}x", ours >= theirs))
            if f"{what}_j2_mb_s" in run:
                up = run[f"{what}_j2_mb_s"] / ours
                rows.append((f"{run['file'][:18]} {what}, 2 cores / 1 core >= 1.8",
                             f"{up:.2f}x", up >= 1.8))
    return [{"what": w, "measured": m, "met": bool(ok)} for w, m, ok in rows]


# ------------------------------------------------------------------------------------- report

def _print_report(r):
    m, q, s = r["machine"], r["ratio"], r["speed"]
    print(f"ansnum golden bench  {r['date']}")
    print(f"model   {r['model']}")
    print(f"machine {m['cpu']}, {m['cores']} cores, pinned to core {m['pinned_core']}; "
          f"Python {m['python']}, numpy {m['numpy']}, numba {m['numba']}")
    print()
    print("1. Ratio (bf16, default options: table log <= "
          f"{codec.DEFAULT_TABLE_LOG}, {r['options']['states']} states, "
          f"{r['options']['chunk_pairs']} pairs/chunk)")
    print(f"   file            {q['file_bytes_in']:>10} -> {q['file_bytes_out']:>10} B  "
          f"ratio {q['file_ratio']:.4f}  (header, index, padding included)")
    print(f"   tensors ({q['tensors']:>3})   {q['tensor_raw_bytes']:>10} -> "
          f"{q['tensor_stored_bytes']:>10} B  ratio {q['tensor_ratio']:.4f}")
    print(f"   BF16 tensors ({q['bf16_tensors']})  {q['bf16_raw_bytes']:>10} -> "
          f"{q['bf16_stored_bytes']:>10} B  ratio {q['bf16_ratio']:.4f}")
    print(f"   bound, one exponent table per tensor, sign+mantissa raw: "
          f"{q['exp_bound_bytes']:.0f} B  ratio {q['exp_bound_ratio']:.4f}  "
          f"(BF16 tensors {q['exp_bound_gap_pct']:+.3f}% over it)")
    print(f"   bound of the chosen code books:                          "
          f"{q['chosen_bound_bytes']:.0f} B  ratio {q['chosen_bound_ratio']:.4f}  "
          f"(BF16 tensors {q['chosen_bound_gap_pct']:+.3f}% over it)")
    print(f"   code books chosen: {q['codebooks_chosen']}; table logs: {q['table_logs_chosen']}")
    print()
    reps = r["options"]["repeats"]
    print(f"2. Speed in MB/s of the source file, best of {reps}; wall: elapsed time, cpu: CPU "
          "time (user + system), which other load on the machine disturbs less")
    print(f"   {'':<50} {'compress':>17} {'decompress':>17}")
    print(f"   {'':<50} {'wall':>8} {'cpu':>8} {'wall':>8} {'cpu':>8}")

    def line(label, d, c, dd):
        print(f"   {label:<50} {d[c + '_mb_s']:>8.1f} {d[c + '_cpu_mb_s']:>8.1f} "
              f"{d[dd + '_mb_s']:>8.1f} {d[dd + '_cpu_mb_s']:>8.1f}")

    def ratio(label, a, a_key, b, b_key):
        """a / b of every rate; keys are formats of the operation ("{w}_j1", "file_{w}")."""
        cells = []
        for w in ("compress", "decompress"):
            for kind in ("_mb_s", "_cpu_mb_s"):
                x, y = a.get(a_key.format(w=w) + kind), b.get(b_key.format(w=w) + kind)
                cells.append(f"{x / y:>7.2f}x" if x and y else f"{'-':>8}")
        print(f"   {label:<50} " + " ".join(cells))
    for run in r["process"]:
        name = run["file"]
        zf = r["zipnn_file"].get(name, {})
        print(f"   {name} ({run['mb']:.0f} MB -> {run['ansn_bytes'] / 1e6:.0f} MB .ansn)")
        print(f"     load average before the 1-core runs: {run['loadavg_1']}")
        line("ansnum as a process, --jobs 1, 1 core", run, "compress_j1", "decompress_j1")
        if "compress_j2_mb_s" in run:
            print(f"     load average before the 2-core runs: {run['loadavg_2']}")
            line("ansnum as a process, --jobs 2, 2 cores", run, "compress_j2", "decompress_j2")
            ratio("  speed-up, 2 cores / 1 core", run, "{w}_j2", run, "{w}_j1")
        if zf.get("installed"):
            line("ZipNN in-process, whole file, threads=1", zf, "file_compress",
                 "file_decompress")
            ratio("  ansnum process (1 core) / ZipNN in-process", run, "{w}_j1", zf, "file_{w}")
        if "zipnn_process_compress_mb_s" in run:
            line("ZipNN as a process (imports torch), threads=1", run,
                 "zipnn_process_compress", "zipnn_process_decompress")
            ratio("  ansnum process (1 core) / ZipNN process", run, "{w}_j1", run,
                  "zipnn_process_{w}")
    print(f"   {r['model']} in-process, 1 core (no start-up, no files):")
    line("ansnum, whole file (container bytes)", s, "compress", "decompress")
    line("ansnum, tANS kernels alone (tables built)", s, "kernel_encode", "kernel_decode")
    z = r["zipnn"]
    if not z["installed"]:
        print("   zipnn: not installed")
    else:
        line("ZipNN, per BF16 tensor", z, "compress", "decompress")
        line("ZipNN, whole file", z, "file_compress", "file_decompress")
    print()
    print("3. ZipNN, same data, same process")
    if not z["installed"]:
        print("   zipnn: not installed")
    else:
        print(f"   zipnn {z['version']}: {z['mode']}")
        print(f"   per BF16 tensor  {z['bf16_raw_bytes']:>10} -> {z['bf16_stored_bytes']:>10} B  "
              f"ratio {z['bf16_ratio']:.4f}   golden {q['bf16_ratio']:.4f}  "
              f"(round trip {'ok' if z['round_trip_ok'] else 'FAILED'})")
        print(f"   whole file       {q['file_bytes_in']:>10} -> {z['file_bytes_out']:>10} B  "
              f"ratio {z['file_ratio']:.4f}   golden {q['file_ratio']:.4f}  "
              f"(round trip {'ok' if z['file_round_trip_ok'] else 'FAILED'})")
    print()
    w = r["sweep"]
    print(f"4. Ratio of the BF16 tensor payloads (chunk headers included, tables not) against "
          f"table log and alphabet, code book {w['codebook']}")
    print(f"   bound (exponent entropy per tensor + 8 raw bits): ratio {w['bound_ratio']:.4f}")
    names = [("full" if k is None else f"top{k}+esc") for k in ALPHABETS]
    print("   " + f"{'log':>3} {'L':>5} " + " ".join(f"{n:>18}" for n in names))
    for log in range(TABLE_LOG_MIN, TABLE_LOG_MAX + 1):
        cells = []
        for n in names:
            row = next(x for x in w["rows"] if x["table_log"] == log and x["alphabet"] == n)
            cells.append(f"{row['ratio']:.4f} ({row['over_bound_pct']:+.2f}%)")
        print("   " + f"{log:>3} {1 << log:>5} " + " ".join(f"{c:>18}" for c in cells))
    print("   (top-k+esc: a tensor with at most k exponents keeps them all, without escape; "
          "tensors that needed an escape: "
          + ", ".join(f"{k} {n}" for k, n in w["tensors_with_escape"].items() if k != "full")
          + f" of {r['ratio']['bf16_tensors']})")
    b, d = w["best"], w["default"]
    print(f"   (percent: payload over the bound)  best: table log {b['table_log']}, "
          f"{b['alphabet']}, ratio {b['ratio']:.4f}")
    print(f"   hardware default table log: {d['table_log']} ({d['alphabet']}, ratio "
          f"{d['ratio']:.4f}), the smallest table log whose best alphabet is within "
          f"{w['tolerance_pct']:.2f}% of the best payload")
    print()
    print(f"5. Block RAM per decode table (DP16KD as {BRAM_DEPTH} x {BRAM_WIDTH}; "
          f"one {r['bram'][0]['entry_bits']}-bit entry per state)")
    for x in r["bram"]:
        print(f"   table log {x['table_log']:>2}: {x['entries']:>4} words x {x['entry_bits']} bits = "
              f"{x['bits']:>6} bits -> {x['dp16kd']} DP16KD")
    print()
    print("6. Against the targets")
    for t in r["targets"]:
        print(f"   {t['what']:<52} {t['measured']:>22}  {'met' if t['met'] else 'NOT met'}")
    f = r.get("feature_maps")
    if f is not None:
        print()
        print("7. ", end="")
        if "error" in f:
            print(f"Feature maps: skipped ({f['error']}; pip install -r requirements-bench.txt)")
        else:
            from . import bench_maps
            bench_maps.print_maps(f["maps"])
            bench_maps.print_floats(f["floats"])


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m golden.bench", description=__doc__.split("\n")[0])
    p.add_argument("--model", help="bf16 safetensors file (default: all-MiniLM-L6-v2 in bf16)")
    p.add_argument("--json", metavar="PATH", help="also write every figure to PATH as JSON")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per figure (best is kept)")
    p.add_argument("--quick", action="store_true",
                   help="MiniLM only (not the 390 MB model of golden.data.large_bf16)")
    p.add_argument("--no-maps", action="store_true", help="skip the feature-map codecs (7.)")
    args = p.parse_args(argv)

    core = _pin_one_core()
    path = args.model or str(data.minilm_bf16())
    with open(path, "rb") as f:
        buf = f.read()
    import numba
    report = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "model": os.path.basename(path),
        "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(), "pinned_core": core,
                    "python": platform.python_version(), "numpy": np.__version__,
                    "numba": numba.__version__, "loadavg": _loadavg()},
        "options": {"chunk_pairs": codec.DEFAULT_CHUNK_PAIRS, "states": codec.DEFAULT_STATES,
                    "max_table_log": codec.DEFAULT_TABLE_LOG, "repeats": args.repeats},
    }
    t0 = time.perf_counter()
    index, stored, report["ratio"] = measure_ratio(buf)
    models = [path] if args.model or args.quick else [path, str(data.large_bf16())]
    scratch = tempfile.mkdtemp(prefix="ansnum-bench-")
    try:
        report["process"] = [measure_process(m, args.repeats, scratch) for m in models]
    finally:
        os.rmdir(scratch)
    report["zipnn"] = measure_zipnn(buf, index, args.repeats)
    report["zipnn_file"] = {os.path.basename(path): report["zipnn"]}
    for m in models[1:]:
        with open(m, "rb") as f:
            big = f.read()
        report["zipnn_file"][os.path.basename(m)] = measure_zipnn(
            big, container.compress_bytes(big)[0], args.repeats, per_tensor=False)
        del big
    report["speed"] = measure_speed(buf, index, stored, args.repeats)
    report["sweep"] = measure_sweep(buf, index)
    report["bram"] = bram_table()
    report["targets"] = targets(report)
    if not args.no_maps:
        try:
            from . import bench_maps
            report["feature_maps"] = {"maps": bench_maps.measure_maps(),
                                      "floats": bench_maps.measure_floats()}
        except ImportError as e:
            report["feature_maps"] = {"error": f"{type(e).__name__}: {e}"}
    report["bench_seconds"] = time.perf_counter() - t0
    _print_report(report)
    print(f"\n(bench took {report['bench_seconds']:.0f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
