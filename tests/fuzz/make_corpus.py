"""Write the fuzzers' seed corpora into tests/fuzz/corpus/TARGET/ (small, deterministic).

    python tests/fuzz/make_corpus.py

Seeds are valid inputs of every kind the decoders meet (code books, dtypes, chunk sizes, state
counts, escapes, raw and zlib segments, F32 as bf16) plus a few near misses; the fuzzer mutates
them. Run again after a format change; the files are checked in (the EBPC seeds were made with
golden.ebpc at 21a0865 of the ebpc branch).
"""

import shutil
import struct
import sys
import zlib
from pathlib import Path

import ml_dtypes
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from ansnum_helpers import safetensors_bytes  # noqa: E402
from golden.ans import codec  # noqa: E402
from golden.format import container  # noqa: E402

import targets  # noqa: E402


def _files():
    rng = np.random.default_rng(0)
    bf = lambda n, s=0.05: (rng.standard_normal(n) * s).astype(ml_dtypes.bfloat16).tobytes()
    f32 = (rng.standard_normal(300) * 0.1).astype(np.float32).tobytes()
    wide = (rng.standard_normal(200) * 0.1).astype(ml_dtypes.bfloat16).astype(np.float32)
    q = np.clip(np.round(rng.standard_normal(400) * 5), -128, 127).astype(np.int8).tobytes()
    f16 = (rng.standard_normal(300)).astype(np.float16).tobytes()
    e5 = (rng.standard_normal(300) * 3).astype(ml_dtypes.float8_e5m2).tobytes()
    sources = {
        "bf16": (safetensors_bytes([("w", "BF16", [20, 30], bf(600))]), {}),
        "bf16-states1": (safetensors_bytes([("w", "BF16", [500], bf(500))]),
                         dict(states=1, chunk_pairs=128, table_log=8)),
        "bf16-escape": (safetensors_bytes([("w", "BF16", [700], bf(700, 3.0))]),
                        dict(states=2, chunk_pairs=300, table_log=12)),
        "mixed": (safetensors_bytes([("a", "F32", [300], f32), ("q", "I8", [400], q),
                                     ("h", "F16", [300], f16), ("e", "F8_E5M2", [300], e5),
                                     ("i", "I64", [2], b"\1" * 16), ("z", "F32", [0], b"")],
                                    metadata={"k": "v"}, gap=b"\7" * 3, trailer=b"tail"),
                  dict(chunk_pairs=100)),
        "widened": (safetensors_bytes([("w", "F32", [200], wide.tobytes())]),
                    dict(chunk_pairs=64, states=4)),
        "sexp": (safetensors_bytes([("w", "BF16", [400], bf(400))]),
                 dict(codebook="bf16-sexp", chunk_pairs=1000)),
    }
    for name, (buf, options) in sources.items():
        index, stored, _ = container.compress_bytes(buf, **options)
        yield name, b"".join(container.container_bytes(index, stored))


def _split(packed):
    (n,) = struct.unpack_from("<I", packed, 8)
    return zlib.decompress(packed[16:16 + n]), packed[(16 + n + 3) & ~3:]


def _payloads():
    """Valid payloads for each of the payload target's tables, at a few chunk sizes."""
    rng = np.random.default_rng(1)
    for k, (dtype, table) in enumerate(targets.payload_tables()):
        book = table.codebook
        codes = np.array(table.codes)
        for n, chunk_pairs, states, byte3 in ((50, 1000, 1, 0o10), (300, 100, 2, 0o24),
                                              (64, 7, 4, 0o32), (1, 1, 1, 0o11)):
            c = rng.choice(codes, n)
            x = rng.integers(0, 1 << book.widths[c].astype(np.int64))
            payload = codec.encode_payload(table, c, x.astype(np.uint32),
                                           chunk_pairs=chunk_pairs, states=states)
            head = bytes([k, (n - 1) & 255, (n - 1) >> 8, byte3])
            yield f"t{k}-n{n}-c{chunk_pairs}-s{states}", head + payload.astype("<u4").tobytes()


def _ebpc():
    if not targets.HAVE_EBPC:
        return
    rng = np.random.default_rng(2)
    for k, (n, sparsity) in enumerate(((64, 0.5), (200, 0.9), (37, 0.0), (1, 1.0), (300, 0.6))):
        v = rng.integers(-128, 128, n).astype(np.int8)
        v[rng.random(n) < sparsity] = 0
        bpc, znz = targets.ebpc.encode(v)
        yield f"ebpc{k}-n{n}", n.to_bytes(2, "little") + len(bpc).to_bytes(2, "little") + \
            bytes(bpc) + bytes(znz)


def main():
    seeds = {"container": dict(_files()), "payload": dict(_payloads()), "ebpc": dict(_ebpc())}
    seeds["index"] = {name: b"\0".join(_split(p)) for name, p in seeds["container"].items()}
    for target, files in seeds.items():
        if not files:  # (golden.ebpc not here: its seeds stay as they are)
            continue
        out = HERE / "corpus" / target
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        for name, data in files.items():
            (out / name).write_bytes(data)
            targets.TARGETS[target](data)  # every seed runs clean
        print(f"{out.relative_to(HERE.parents[1])}: {len(files)} seeds, "
              f"{sum(map(len, files.values()))} bytes")


if __name__ == "__main__":
    main()
