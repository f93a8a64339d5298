"""Bit-exact regressions of the RTL EBPC encoder and decoder under Verilator (cocotb 2.x).

The Verilog exported from :mod:`hdl.ebpc` runs inside tb/ebpc_harness.sv, which streams the
vectors at full simulation speed with random stalls on every port and checks every word in
order: the encoder's two output streams against :func:`golden.ebpc.encode` (and so against
stream-ebpc's vectors, tests/data/ebpc), the decoder's values and per-tensor status codes
against :func:`golden.ebpc.decode`.
"""

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from amaranth.back import verilog

from golden import ebpc
from golden.ebpc import reference
from hdl.ebpc.decoder import EbpcDecoder
from hdl.ebpc.encoder import EbpcEncoder

from .verilator import ROOT, TB, _locked, _verilator_on_path, record

sys.path.insert(0, str(ROOT / "tests"))
from ebpc_vectors import load as load_vectors  # noqa: E402

__all__ = ["EbpcHarness", "encoder_batch", "decoder_batch"]


def _write_hex(path, words, digits):
    with open(path, "w") as f:
        f.write("".join(f"{int(w):0{digits}x}\n" for w in words) if len(words) else "0\n")


def _stream_words(words):
    """``{last, data}`` words of one stream."""
    return [int(w) | ((k == len(words) - 1) << 8) for k, w in enumerate(words)]


def encoder_batch(tensors, name, in_stall=0.0, out_stall=0.0, seed=1):
    """A batch for the encoder harness: the tensors' values, their golden streams."""
    values, znz, bpc = [], [], []
    bound = 0        # cycles at a value per clock, or a BPC word per clock where it needs more
    for t in tensors:
        values += [(int(v) & 0xFF) | ((k == len(t) - 1) << 8) for k, v in enumerate(t)]
        b, z = ebpc.encode(t)
        bpc += _stream_words(b)
        znz += _stream_words(z)
        bound += max(len(t), len(b))
    return {"name": name, "files": {"in.hex": (values, 3), "znz.hex": (znz, 3),
                                    "bpc.hex": (bpc, 3)},
            "n_in": len(values), "n_znz": len(znz), "n_bpc": len(bpc), "bound": bound,
            "tensors": len(tensors), "in_stall": round(256 * in_stall),
            "out_stall": round(256 * out_stall), "seed": seed}


def _code(bpc, znz, n):
    try:
        ebpc.decode(np.asarray(bpc, np.uint8), np.asarray(znz, np.uint8), n)
    except ebpc.EbpcError as e:
        return int(e.code)
    return 0


def decoder_batch(jobs, name, in_stall=0.0, out_stall=0.0, seed=1):
    """A batch for the decoder harness; ``jobs``: ``[(n, bpc bytes, znz bytes, values or
    None)]`` (None: a bad tensor, whose n values are counted and their ``last`` checked, but
    not what they are)."""
    counts, znz, bpc, values, codes = [], [], [], [], []
    bound = 0
    for n, b, z, v in jobs:
        bound += max(n, len(b))
        counts.append(n)
        bpc += _stream_words(list(b))
        znz += _stream_words(list(z))
        code = _code(list(b), list(z), n)
        codes.append(code)
        if v is None:
            values += [(1 << 9) | ((k == n - 1) << 8) for k in range(n)]
        else:
            values += [(int(x) & 0xFF) | ((k == n - 1) << 8) for k, x in enumerate(v)]
    return {"name": name, "files": {"count.hex": (counts, 6), "znz.hex": (znz, 3),
                                    "bpc.hex": (bpc, 3), "values.hex": (values, 3),
                                    "codes.hex": (codes, 1)},
            "n_count": len(counts), "n_znz": len(znz), "n_bpc": len(bpc),
            "n_values": len(values), "codes": codes, "bound": bound, "tensors": len(jobs),
            "in_stall": round(256 * in_stall), "out_stall": round(256 * out_stall), "seed": seed}


class EbpcHarness:
    """A Verilator build of tb/ebpc_harness.sv around the encoder or the decoder (``top``),
    in ``build/tb/ebpc-<top>/``, reused while the Verilog is unchanged."""

    def __init__(self, top):
        if top not in ("encoder", "decoder"):
            raise ValueError(f"top must be 'encoder' or 'decoder', not {top!r}")
        self.top = top
        self.dir = ROOT / "build" / "tb" / f"ebpc-{top}"

    def build(self):
        with _locked(self.dir):
            from cocotb_tools.runner import get_runner
            _verilator_on_path()
            component = EbpcEncoder() if self.top == "encoder" else EbpcDecoder()
            text = verilog.convert(component, name=f"ebpc_{self.top}", emit_src=False)
            dut = self.dir / f"ebpc_{self.top}.v"
            if not dut.exists() or dut.read_text() != text:
                dut.write_text(text)
            os.environ["MAKEFLAGS"] = (os.environ.get("MAKEFLAGS", "") +
                                       " CFG_CXXFLAGS_PCH_I=-include").strip()
            self._runner = get_runner("verilator")
            self._runner.build(sources=[dut, TB / "ebpc_harness.sv"],
                               hdl_toplevel=f"ebpc_{self.top}_harness",
                               build_dir=self.dir / "obj",
                               build_args=["-Wno-fatal", "-Wno-WIDTH", "-Wno-UNUSED",
                                           "-Wno-PINMISSING", "-O3", "--x-assign", "fast",
                                           "--x-initial", "fast"],
                               timescale=("1ns", "1ps"))
        return self

    def run(self, batches, name="run"):
        """The harness's counters per batch (plus ``expected_*``: what should have come)."""
        from cocotb_tools.runner import get_results
        with _locked(self.dir):
            work = self.dir / name
            if work.exists():
                shutil.rmtree(work)
            (work / "current").mkdir(parents=True)
            spec = {"top": self.top, "dir": str(work / "current"), "batches": []}
            for i, b in enumerate(batches):
                d = work / f"b{i}"
                d.mkdir()
                for fname, (words, digits) in b["files"].items():
                    _write_hex(d / fname, words, digits)
                spec["batches"].append({k: v for k, v in b.items()
                                        if k not in ("files", "codes", "bound", "tensors")} |
                                       {"dir": str(d)})
            (work / "batches.json").write_text(json.dumps(spec, indent=1))
            xml = self._runner.test(
                hdl_toplevel=f"ebpc_{self.top}_harness", test_module="cocotb_ebpc",
                test_dir=TB, build_dir=self.dir / "obj", results_xml=str(work / "results.xml"),
                plusargs=[f"+dir={work / 'current'}"],
                extra_env={"EBPC_BATCHES": str(work / "batches.json"),
                           "EBPC_RESULTS": str(work / "results.json")})
            total, failed = get_results(xml)
            if failed or not (work / "results.json").exists():
                raise RuntimeError(f"cocotb run failed: see {work}")
            return json.loads((work / "results.json").read_text())


def check_encoder(results, batches):
    for r, b in zip(results, batches):
        assert not r["hung"], r
        assert r["got_znz"] == b["n_znz"] and r["got_bpc"] == b["n_bpc"], r
        assert r["bad_znz"] == 0 and r["bad_bpc"] == 0, r


def check_decoder(results, batches):
    for r, b in zip(results, batches):
        assert not r["hung"], r
        assert r["got_values"] == b["n_values"], r
        assert r["bad_values"] == 0, r
        assert r["bad_codes"] == 0, r
        assert r["errors"] == sum(c != 0 for c in b["codes"]), r


@pytest.fixture(scope="module")
def encoder():
    return EbpcHarness("encoder").build()


@pytest.fixture(scope="module")
def decoder():
    return EbpcHarness("decoder").build()


def _worst_cases(rng):
    """All zeros, no zeros, runs of exactly 16 and 17, lengths not a multiple of 8."""
    dense = (rng.integers(1, 128, 203) * rng.choice([-1, 1], 203)).astype(np.int8)
    noise = rng.integers(-128, 128, 1000).astype(np.int8)
    noise[noise == 0] = 1
    return [np.zeros(17, np.int8), np.zeros(8, np.int8), dense, noise,
            np.array([3] + [0] * 16 + [4] + [0] * 17 + [5], np.int8),
            np.zeros(32, np.int8), np.array([9] + [0] * 16, np.int8),
            np.array(([0] * 16 + [7]) * 6, np.int8), np.array([1], np.int8)]


def _vectors():
    return [v for _, v, _, _ in load_vectors()]


def _stalled(make, tensors, name, seed):
    return [make(tensors, name), make(tensors, name + "/stalls", 0.35, 0.35, seed),
            make(tensors, name + "/in-stalls", 0.6, 0.0, seed + 1),
            make(tensors, name + "/out-stalls", 0.0, 0.6, seed + 2)]


@pytest.mark.xdist_group("ebpc-encoder")
def test_encoder_vectors_and_worst_cases(encoder):
    """stream-ebpc's 102 vectors and the worst cases, back to back, with and without stalls on
    every port; with no stalls, a value per clock where the BPC port allows it."""
    tensors = _vectors() + _worst_cases(np.random.default_rng(1))
    batches = _stalled(encoder_batch, tensors, "vectors", 3)
    results = encoder.run(batches, "vectors")
    check_encoder(results, batches)
    free, b = results[0], batches[0]
    # a value per clock, or a BPC word per clock where the map needs more words than values
    assert free["in_cycles"] <= b["bound"] + b["tensors"], (free, b["bound"])
    print(f"encoder, no stalls: {b['n_in']} values in {free['in_cycles']} cycles "
          f"(bound {b['bound']}: one value or BPC word per clock)")
    record("throughput.json", {"ebpc-encoder": {
        "pairs_per_clock": b["n_in"] / free["in_cycles"], "values": b["n_in"],
        "cycles": free["in_cycles"], "source": "tb/test_ebpc.py (values per clock, stream-ebpc's "
        "vectors and the worst cases, incompressible maps included)"}})


@pytest.mark.xdist_group("ebpc-decoder")
def test_decoder_vectors_and_worst_cases(decoder):
    tensors = _vectors() + _worst_cases(np.random.default_rng(2))
    jobs = [(len(t), *ebpc.encode(t), t) for t in tensors]
    batches = _stalled(decoder_batch, jobs, "vectors", 5)
    results = decoder.run(batches, "vectors")
    check_decoder(results, batches)
    free, b = results[0], batches[0]
    # a value per clock, or a BPC word per clock where the map has more words than values;
    # some cycles per tensor for its checks, the ends of its streams, the next one's start
    assert free["out_cycles"] <= b["bound"] + 16 * b["tensors"], (free, b["bound"])
    print(f"decoder, no stalls: {b['n_values']} values in {free['out_cycles']} cycles "
          f"(bound {b['bound']}: one value or BPC word per clock; "
          f"{(free['out_cycles'] - b['bound']) / b['tensors']:.1f} more per tensor)")
    record("throughput.json", {"ebpc-decoder": {
        "pairs_per_clock": b["n_values"] / free["out_cycles"], "values": b["n_values"],
        "cycles": free["out_cycles"], "source": "tb/test_ebpc.py (values per clock, stream-ebpc's "
        "vectors and the worst cases: 111 tensors, incompressible maps included)"}})


def _bad_jobs(rng, count):
    """Flipped bits and cut streams of random maps (not the two cases no decoder of these
    streams can see: see tests/hdl/ebpc/test_ebpc_hdl.py), each followed by a good map."""
    good = np.array([0, 7, 7, 0, 0, 3, -2, 9, 9, 9, 0, 1] * 3, np.int8)
    jobs = []
    while len(jobs) < 2 * count:
        v = rng.integers(-128, 128, int(rng.integers(1, 200))).astype(np.int8)
        v[rng.random(len(v)) < rng.random()] = 0
        bpc, znz = (bytearray(s) for s in reference.encode(v))
        s = bpc if (rng.random() < 0.5 and len(bpc)) else znz
        if rng.random() < 0.6:
            s[int(rng.integers(0, len(s)))] ^= 1 << int(rng.integers(0, 8))
        else:
            del s[int(rng.integers(1, len(s) + 1)):]
        n = max(len(v) + int(rng.choice([0, 0, 0, -1, 1])), 1)
        if _code(list(bpc), list(znz), n) == 0:
            continue
        from golden.ebpc import kernels
        flags = np.zeros(n, np.uint8)
        _, _, _, nonzero = kernels.zrle_decode(np.frombuffer(bytes(znz), np.uint8), n, 4, flags)
        if (nonzero == 0) == (len(bpc) > 0):
            continue
        jobs += [(n, bytes(bpc), bytes(znz), None), (len(good), *ebpc.encode(good), good)]
    return jobs


@pytest.mark.xdist_group("ebpc-decoder")
def test_decoder_bad_streams_flag_error_never_hang_and_recover(decoder):
    """Each corrupted tensor gets the golden decoder's error code on the status port and its n
    values; the good tensor after it decodes bit-exact (values of bad tensors are not
    compared: the harness counts them)."""
    jobs = _bad_jobs(np.random.default_rng(9), 40)
    batches = [decoder_batch(jobs, "bad", 0.3, 0.3, 7), decoder_batch(jobs, "bad/no-stalls")]
    results = decoder.run(batches, "bad")
    check_decoder(results, batches)
    assert all(r["bad_values"] == 0 and r["errors"] == 40 for r in results), results


@pytest.mark.slow
@pytest.mark.xdist_group("ebpc-decoder")
def test_round_trip_long_random_maps(encoder, decoder):
    """Longer maps of every sparsity through both, with stalls."""
    rng = np.random.default_rng(17)
    tensors = []
    for p in np.linspace(0, 1, 21):
        t = rng.integers(0, 96, int(rng.integers(1000, 20000))).astype(np.int8)
        t[rng.random(len(t)) < p] = 0
        tensors.append(t)
    enc = _stalled(encoder_batch, tensors, "long", 11)
    check_encoder(encoder.run(enc, "long"), enc)
    dec = _stalled(decoder_batch, [(len(t), *ebpc.encode(t), t) for t in tensors], "long", 13)
    check_decoder(decoder.run(dec, "long"), dec)
