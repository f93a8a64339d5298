"""The ``ansnum`` command line, in process (golden.cli.main) and as the installed script."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from golden import cli
from golden.ans import codec
from golden.format import codebooks

from ansnum_helpers import synthetic_tensors

ANSNUM = Path(sys.executable).parent / "ansnum"


def _listing(path):
    return sorted(p.name for p in Path(path).iterdir())


def _run(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _assert_error(rc, out, err, *, contains=None):
    assert rc == 1
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err
    assert lines[0].startswith("ansnum: error: ")
    if contains:
        assert contains in lines[0]


def test_compress_decompress(tmp_path, synthetic_file, capsys):
    packed, back = tmp_path / "m.ansn", tmp_path / "back.safetensors"
    rc, out, err = _run(capsys, "compress", synthetic_file, packed)
    assert rc == 0 and err == ""
    size = synthetic_file.stat().st_size
    assert out == (f"{synthetic_file}: {size} -> {packed.stat().st_size} bytes, "
                   f"ratio {size / packed.stat().st_size:.4f}\n")
    rc, out, err = _run(capsys, "decompress", packed, back)
    assert rc == 0 and err == "" and "SHA-256 verified" in out
    assert back.read_bytes() == synthetic_file.read_bytes()
    # int and bool tensors and the metadata come back (as safetensors reads them)
    want, got = synthetic_tensors(), load_file(str(back))
    for name in ("ids", "counts", "mask", "bytes", "quant"):
        assert got[name].dtype == want[name].dtype
        np.testing.assert_array_equal(got[name], want[name])
    assert _listing(tmp_path) == ["back.safetensors", "m.ansn", "model.safetensors"]


@pytest.mark.parametrize("options", [
    ["--codebook", "bf16-sexp"], ["--table-log", "8", "--states", "1"],
    ["--chunk-pairs", "100", "--states", "4"], ["--tensors", r"weight$"],
    ["--codebook", "fp32-exp", "--table-log", "10", "--chunk-pairs", "1"]])
def test_compress_options(tmp_path, synthetic_file, capsys, options):
    packed, back = tmp_path / "m.ansn", tmp_path / "back.safetensors"
    assert _run(capsys, "-q", "compress", synthetic_file, packed, *options) == (0, "", "")
    assert _run(capsys, "-q", "decompress", packed, back) == (0, "", "")
    assert back.read_bytes() == synthetic_file.read_bytes()


def test_stats_json(synthetic_file, capsys):
    rc, out, err = _run(capsys, "stats", synthetic_file, "--json")
    assert rc == 0 and err == ""
    doc = json.loads(out)
    totals = doc["totals"]
    assert totals["tensors"] == len(doc["tensors"]) == len(synthetic_tensors())
    assert totals["raw_bytes"] == sum(r["raw_bytes"] for r in doc["tensors"])
    assert totals["file_bytes_in"] == synthetic_file.stat().st_size
    assert 1 < totals["file_ratio"] < totals["ratio"] + 1
    assert {r["name"]: r["codebook"] for r in doc["tensors"]}["mask"] == "raw"
    rc, out, err = _run(capsys, "stats", synthetic_file, "--table-log", "9")
    assert rc == 0 and out.splitlines()[0].startswith("tensor")
    assert any(line.startswith("total") for line in out.splitlines())
    assert out.splitlines()[-1].startswith("file: ")


def test_vectors(tmp_path, synthetic_file, capsys):
    outdir = tmp_path / "vec"
    rc, out, err = _run(capsys, "vectors", synthetic_file, outdir, "--chunk-pairs", "500",
                        "--table-log", "10", "--states", "4")
    assert rc == 0 and err == ""
    manifest = json.loads((outdir / "manifest.json").read_text())
    tensors = synthetic_tensors()
    coded = {"layer.0.weight", "layer.0.bias", "layer.1.weight", "layer.1.half", "norm.gamma",
             "quant"}
    assert {m["tensor"] for m in manifest} == coded
    for m in manifest:
        read = lambda kind: [int(line, 16) for line in
                             (outdir / f"{m['stem']}.{kind}.hex").read_text().splitlines()]
        table = codec.Table.from_json(m["table"])
        image, payload, values = read("table"), read("payload"), read("values")
        assert image == table.image().tolist() and len(image) == 1 + (1 << table.table_log)
        assert len(payload) == m["payload_words"]
        assert len(values) == m["elements"] == tensors[m["tensor"]].size
        want = np.ascontiguousarray(tensors[m["tensor"]]).ravel()
        want = want.view({1: np.uint8, 2: np.uint16, 4: np.uint32}[want.itemsize])
        np.testing.assert_array_equal(values, want)
        got = codec.decompress_values(table, np.array(payload, np.uint32), len(values))
        np.testing.assert_array_equal(got, want)
        assert m["states"] == 4 and m["chunk_pairs"] == 500
    rc, _, _ = _run(capsys, "-q", "vectors", synthetic_file, outdir, "--max-elements", "7",
                    "--tensors", "^layer")
    manifest = json.loads((outdir / "manifest.json").read_text())
    assert rc == 0 and {m["elements"] for m in manifest} == {7} and len(manifest) == 4


def test_codebooks_listing(capsys):
    rc, out, err = _run(capsys, "codebooks")
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == list(codebooks.CODEBOOKS)
    assert [("LOSSY" in line) for line in lines] == [not b.lossless
                                                     for b in codebooks.CODEBOOKS.values()]


# --- errors ------------------------------------------------------------------------------------

def test_errors_are_one_line(tmp_path, synthetic_file, capsys):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, np.uint8).tobytes())
    packed = tmp_path / "good.ansn"
    assert _run(capsys, "-q", "compress", synthetic_file, packed)[0] == 0
    corrupt = tmp_path / "bad.ansn"
    data = bytearray(packed.read_bytes())
    data[len(data) // 2] ^= 0x55
    corrupt.write_bytes(bytes(data))
    before = _listing(tmp_path)
    out = tmp_path / "out.file"
    cases = [
        (["compress", tmp_path / "missing.safetensors", out], "no such file"),
        (["compress", junk, out], "not a safetensors file"),
        (["compress", packed, out], "not a safetensors file"),
        (["compress", synthetic_file, tmp_path / "nodir" / "x.ansn"], "directory does not"),
        (["compress", synthetic_file, out, "--codebook", "bf17"], "unknown code book 'bf17'"),
        (["decompress", corrupt, out], "CRC mismatch"),
        (["decompress", synthetic_file, out], "not an .ansn file"),
        (["decompress", junk, out], "not an .ansn file"),
        (["decompress", tmp_path / "good.ansn" / "x", out], "no such file"),
        (["decompress", tmp_path, packed], "exists (the output directory must be new"),
        (["stats", junk], "not a safetensors file"),
        (["stats", synthetic_file, "--codebook", "nope"], "unknown code book"),
        (["vectors", junk, tmp_path / "vec"], "not a safetensors file"),
    ]
    for argv, contains in cases:
        _assert_error(*_run(capsys, *argv), contains=contains)
        assert _listing(tmp_path) == before, argv  # no output, no temporary file


def test_output_is_a_directory(tmp_path, synthetic_file, capsys):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "f").write_text("x")
    _assert_error(*_run(capsys, "compress", synthetic_file, target))
    assert _listing(tmp_path) == ["model.safetensors", "taken"]
    assert _listing(target) == ["f"]


@pytest.mark.parametrize("argv", [
    ["compress", "a", "b", "--table-log", "7"], ["compress", "a", "b", "--table-log", "13"],
    ["compress", "a", "b", "--table-log", "x"], ["compress", "a", "b", "--states", "3"],
    ["compress", "a", "b", "--chunk-pairs", "0"], ["stats", "a", "--tensors", "("],
    ["compress", "a"], ["frobnicate"], []])
def test_bad_command_line(argv, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    assert "error:" in capsys.readouterr().err


# --- the installed script ----------------------------------------------------------------------

def test_script(tmp_path, synthetic_file):
    assert ANSNUM.exists(), "the ansnum script is not installed in this environment"
    packed, back = tmp_path / "m.ansn", tmp_path / "back.safetensors"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    run = lambda *argv: subprocess.run([str(ANSNUM), *map(str, argv)], capture_output=True,
                                       text=True, env=env, cwd=tmp_path, timeout=300)
    r = run("compress", synthetic_file, packed)
    assert r.returncode == 0 and r.stderr == "" and "ratio" in r.stdout
    r = run("decompress", packed, back)
    assert r.returncode == 0 and back.read_bytes() == synthetic_file.read_bytes()
    r = run("decompress", synthetic_file, tmp_path / "never")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.splitlines() == ["ansnum: error: not an .ansn file: bad magic"]
    r = run("compress", synthetic_file, tmp_path / "x", "--table-log", "13")
    assert r.returncode == 2
    assert _listing(tmp_path) == ["back.safetensors", "m.ansn", "model.safetensors"]
