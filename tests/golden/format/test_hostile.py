"""Hostile .ansn files: a well-formed index with a valid CRC whose contents lie. Every one is a
one-line error before anything large is allocated, from the library and from the command."""

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from golden import cli
from golden.format import container
from golden.format.container import AnsnError

from ansnum_helpers import container_with_index, safetensors_bytes

ANSNUM = Path(sys.executable).parent / "ansnum"


@pytest.fixture(scope="module")
def packed():
    """``(source, index, container)``: a bf16 tensor in 3 chunks of 700 pairs, 2 states, an
    int8 tensor, a raw one, and bytes between them."""
    rng = np.random.default_rng(5)
    w = (rng.standard_normal(2000) * 0.05).astype(ml_dtypes.bfloat16)
    q = np.clip(np.round(rng.standard_normal(3000) * 4), -128, 127).astype(np.int8)
    buf = safetensors_bytes([("w", "BF16", [40, 50], w.tobytes()),
                             ("q", "I8", [3000], q.tobytes()),
                             ("ids", "I64", [3], np.arange(3, dtype=np.int64).tobytes())],
                            metadata={"k": "v"}, gap=b"\x01\x02\x03", trailer=b"end")
    index, stored, _ = container.compress_bytes(buf, chunk_pairs=700, states=2)
    return buf, index, b"".join(container.container_bytes(index, stored))


def _seg(index, name):
    return next(k for k, s in enumerate(index["segments"]) if s.get("name") == name)


def _error(blob):
    with pytest.raises(AnsnError) as e:
        container.decompress_bytes(blob)
    msg = str(e.value)
    assert msg and "\n" not in msg
    return msg


def test_unedited_copy_restores(packed):
    buf, _, blob = packed
    assert b"".join(container.decompress_bytes(container_with_index(blob))) == buf


def _edits(index):
    w, q, ids = _seg(index, "w"), _seg(index, "q"), _seg(index, "ids")
    big = 1 << 40
    seg = lambda k: (lambda i: i["segments"][k])
    return {
        # numbers out of range or of the wrong type (bool is not an int, 1.0 is not an int)
        "huge stored": (lambda i: seg(w)(i).update(stored=big), "2000 pairs takes 12 .. 1139"),
        "huge length": (lambda i: seg(ids)(i).update(length=big, stored=big), "holds 24 bytes"),
        "raw past the end": (lambda i: seg(-1)(i).update(length=10**6, stored=10**6),
                             "runs past the end"),
        "huge shape": (lambda i: seg(w)(i).update(shape=[big, big]), "holds"),
        "negative offset": (lambda i: seg(q)(i).update(offset=-4), "'offset' must be"),
        "bool length": (lambda i: seg(0)(i).update(length=True), "'length' must be"),
        "float stored": (lambda i: seg(w)(i).update(stored=float(i["segments"][w]["stored"])),
                         "'stored' must be"),
        "string crc": (lambda i: seg(ids)(i).update(crc32="0"), "'crc32' must be"),
        "bool states": (lambda i: i.update(states=True), "'states' must be"),
        "no crc": (lambda i: seg(ids)(i).pop("crc32"), "no 'crc32'"),
        "too many dims": (lambda i: seg(ids)(i).update(shape=[1] * 65 + [3]), "'shape' must"),
        "source size": (lambda i: i["source"].update(size=i["source"]["size"] + 1),
                        "the segments restore"),
        "sha not hex": (lambda i: i["source"].update(sha256="x" * 64), "'sha256' must"),
        "version": (lambda i: i.update(version=2), "'version' must be"),
        "table log": (lambda i: seg(w)(i)["table"].update(table_log=13), "'table_log' must"),
        "code range": (lambda i: seg(w)(i)["table"]["codes"].append(256), "'codes' must"),
        "escape width": (lambda i: seg(w)(i)["table"].update(escape_width=True),
                         "'escape_width' must"),
        # fields that contradict each other
        "shape vs length": (lambda i: seg(w)(i).update(shape=[40, 49]), "holds 3920 bytes"),
        "dtype vs length": (lambda i: seg(q)(i).update(dtype="I16"), "holds 6000 bytes"),
        "raw stored vs length": (lambda i: seg(ids)(i).update(stored=16), "stored raw in 16"),
        "codebook vs dtype": (lambda i: seg(q)(i)["table"].update(codebook="bf16-exp"),
                              "does not code I8"),
        "lossy codebook": (lambda i: (seg(w)(i).update(dtype="BF16"), seg(w)(i)["table"].update(
            codebook="user-e4m-example")), "'codes' must be"),
        "coded_as on bf16": (lambda i: seg(w)(i).update(coded_as="BF16"), "'coded_as' must"),
        "zlib ratio": (lambda i: seg(0)(i).update(length=10**7), "cannot inflate"),
        "offsets overlap": (lambda i: seg(q)(i).update(offset=i["segments"][q]["offset"] - 4),
                            "the segments before it end"),
        "payload too short": (lambda i: seg(w)(i).update(stored=8), "takes"),
        "symbols vs pairs": (lambda i: (seg(ids)(i).update(
            storage="ans", dtype="BF16", shape=[12], table={
                "codebook": "bf16-exp", "table_log": 8, "codes": list(range(100, 120)),
                "counts": [13] * 16 + [12] * 4, "escape_width": None})),
            "20 symbols for 12 values"),
        # the index against the chunks
        "chunk_pairs": (lambda i: i.update(chunk_pairs=800), "the index says chunks of 800"),
        "chunk_pairs small": (lambda i: i.update(chunk_pairs=699), "the index says chunks of 699"),
        "states": (lambda i: i.update(states=4), "the index says 4"),
        # the index against the restored header
        "renamed tensor": (lambda i: seg(q)(i).update(name="r"), "differs from the header"),
        "dtype and shape": (lambda i: seg(ids)(i).update(dtype="U8", shape=[24]),
                            "differs from the header"),
        "tensor as bytes": (lambda i: i["segments"].__setitem__(ids, {
            "kind": "bytes", "storage": "raw", "length": 24, "stored": 24,
            "crc32": i["segments"][ids]["crc32"], "offset": i["segments"][ids]["offset"]}),
            "2 tensor segments, the header has 3"),
        "tensor first": (lambda i: i["segments"].__setitem__(0, dict(
            i["segments"][ids], offset=0)), "offset"),
    }


@pytest.fixture(scope="module")
def edits(packed):
    return _edits(packed[1])


@pytest.mark.parametrize("what", list(_edits(container.compress_bytes(safetensors_bytes(
    [("w", "BF16", [2000], b"\0" * 4000), ("q", "I8", [3000], b"\1" * 3000),
     ("ids", "I64", [3], b"\0" * 24)]))[0])))
def test_lying_index(packed, edits, what):
    _, _, blob = packed
    edit, contains = edits[what]
    assert contains in _error(container_with_index(blob, edit))


def test_bytes_after_the_last_segment(packed):
    _, _, blob = packed
    assert "8 bytes after the last segment" in _error(container_with_index(blob) + b"\0" * 8)


@pytest.mark.parametrize("text,contains", [
    (b"[" * 100_000 + b"]" * 100_000, "nests deeper than 8"),
    (b'{"a":' * 50_000 + b"0" + b"}" * 50_000, "nests deeper than 8"),
    (b"[" + b"0," * 2_000_000 + b"0]", "more than 1048576 values"),
    (b'{"format":"ansn","format":"ansn"}', "a key repeats"),
    (b'{"x":NaN}', "is not valid JSON"),
    (b'{"x":' + b"9" * 5000 + b"}", "is not valid JSON"),
    (b'{"x":"\xff"}', "not UTF-8"),
    (b"[1,2", "is not valid JSON"),
    (b"[]", "index is not an object"),
    (b"{}", "no 'format'"),
])
def test_malformed_index(packed, text, contains):
    assert contains in _error(container_with_index(packed[2], text=text))


def test_zlib_bomb_segment(packed):
    """A zlib segment that inflates past its length stops at its length."""
    buf, index, blob = packed
    bomb = zlib.compress(b"\0" * (1 << 24), 9)
    k = next(k for k, s in enumerate(index["segments"]) if s["storage"] == "zlib")
    assert k == 0

    def edit(i):
        i["segments"][0].update(stored=len(bomb))
        shift = ((len(bomb) + 3) & ~3) - ((index["segments"][0]["stored"] + 3) & ~3)
        for s in i["segments"][1:]:
            s["offset"] += shift
    (n,) = struct.unpack_from("<I", blob, 8)
    data = blob[(16 + n + 3) & ~3:]
    old = (index["segments"][0]["stored"] + 3) & ~3
    new_data = bomb + b"\0" * (-len(bomb) % 4) + data[old:]
    assert "inflates past" in _error(container_with_index(blob, edit, data=new_data))


def _run_cli(*argv):
    return subprocess.run([str(ANSNUM), *map(str, argv)], capture_output=True, text=True,
                          timeout=300)


def test_inflating_index_memory(tmp_path, packed):
    """A 300 KB file whose index inflates to 300 MB: an error, and the process stays small."""
    text = b'{"format":"ansn","pad":"' + b" " * (300 << 20) + b'"}'
    bad = tmp_path / "bomb.ansn"
    bad.write_bytes(container_with_index(packed[2], text=text))
    assert bad.stat().st_size < 1 << 20
    small = tmp_path / "small.ansn"
    small.write_bytes(packed[2])
    # VmHWM: this process's own peak (ru_maxrss would count the parent's before exec)
    code = ("import sys; from golden import cli; rc = cli.main(sys.argv[1:]); "
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0],"
            " file=sys.stderr); sys.exit(rc)")
    runs = {}
    for name, src in (("good", small), ("bomb", bad)):
        r = subprocess.run([sys.executable, "-c", code, "decompress", src, tmp_path / name],
                           capture_output=True, text=True, timeout=300)
        lines = r.stderr.splitlines()
        runs[name] = (r.returncode, lines[:-1], int(lines[-1]) / 1024)
    assert runs["good"][0] == 0
    rc, lines, rss = runs["bomb"]
    assert rc == 1 and len(lines) == 1 and "inflates past" in lines[0]
    assert lines[0].startswith("ansnum: error: corrupted .ansn file: the index")
    # the bound on the index (32 MiB of text) is what the bomb may cost over a good run
    assert rss < runs["good"][2] + 3 * container.MAX_INDEX_BYTES / 2**20, (rss, runs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.ansn", "good", "small.ansn"]


def test_cli_hostile_files(tmp_path, packed, edits, capsys):
    """From the command: one line, exit status 1, no output file, no temporary file."""
    _, _, blob = packed
    cases = [container_with_index(blob, e) for e, _ in list(edits.values())[::3]]
    cases.append(container_with_index(blob, text=b"[" * 100_000))
    for k, bad in enumerate(cases):
        src = tmp_path / f"bad{k}.ansn"
        src.write_bytes(bad)
        rc = cli.main(["decompress", str(src), str(tmp_path / "out")])
        out, err = capsys.readouterr()
        assert rc == 1 and out == "" and len(err.splitlines()) == 1, err
        assert err.startswith("ansnum: error: ")
        assert not (tmp_path / "out").exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    r = _run_cli("decompress", tmp_path / "bad0.ansn", tmp_path / "out")
    assert r.returncode == 1 and r.stdout == "" and len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize("header,contains", [
    (b'{"a":' * 100_000 + b"0" + b"}" * 100_000, "header is not JSON"),
    (b'{"t":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}', "bad entry for tensor 't'"),
    (b'{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4.0]}}', "bad entry for tensor 't'"),
    (b'{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"t":{}}', "header is not JSON"),
])
def test_hostile_safetensors_given_to_compress(tmp_path, header, contains, capsys):
    src = tmp_path / "in.safetensors"
    src.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    assert cli.main(["compress", str(src), str(tmp_path / "out.ansn")]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and contains in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.safetensors"]
