"""Faults in use: signals during a compress, two writers of one output, the mode of outputs."""

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from safetensors.numpy import save_file

from golden.format import container

ROOT = Path(__file__).resolve().parents[2]

# The command, with every tensor's coding slowed down and announced on stdout, so that a test can
# signal it while it is certainly between the first tensor and the output's commit.
DRIVER = """
import sys, threading, time
from golden import cli
from golden.format import container
encode = container.encode_tensor
lock = threading.Lock()  # (tensors are coded on --jobs threads)
def announced(*args, **kwargs):
    out = encode(*args, **kwargs)
    with lock:
        print("tensor", flush=True)
    time.sleep(float(sys.argv[1]))
    return out
container.encode_tensor = announced
sys.exit(cli.main(sys.argv[2:]))
"""


def _model(path, seed=0, n=6):
    rng = np.random.default_rng(seed)
    save_file({f"t{k}": (rng.standard_normal(20000) * 0.1).astype(ml_dtypes.bfloat16)
               for k in range(n)}, str(path))
    return path


def _start(delay, *argv, **kw):
    return subprocess.Popen([sys.executable, "-c", DRIVER, str(delay), *map(str, argv)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, **kw)


def _listing(path):
    return sorted(p.name for p in Path(path).iterdir())


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143),
                                      (signal.SIGHUP, 129), (signal.SIGKILL, -9)])
def test_signal_leaves_nothing(tmp_path, sig, code):
    src = _model(tmp_path / "m.safetensors")
    before = _listing(tmp_path)
    p = _start(5, "compress", src, tmp_path / "m.ansn")
    assert p.stdout.readline() == "tensor\n"   # one tensor coded, the output under way
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    if sig != signal.SIGKILL:
        assert err.splitlines() == ["ansnum: interrupted" + (
            "" if sig == signal.SIGINT else f" ({signal.Signals(sig).name})")]
    assert _listing(tmp_path) == before        # neither the output nor a temporary file


def test_signal_during_directory_compress(tmp_path):
    src = tmp_path / "ckpt"
    src.mkdir()
    _model(src / "a.safetensors")
    _model(src / "b.safetensors", 1)
    (src / "config.json").write_text("{}")
    p = _start(5, "compress", src, tmp_path / "out")
    assert p.stdout.readline() == "tensor\n"
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=60)
    assert p.returncode == 143
    assert _listing(tmp_path) == ["ckpt"]


def test_two_writers_never_mix(tmp_path):
    """Two processes compress different files into one output at once, again and again: the
    output is always one of the two whole containers."""
    a, b = _model(tmp_path / "a.safetensors", 1), _model(tmp_path / "b.safetensors", 2, n=5)
    want = {}
    for src in (a, b):
        container.compress_file(str(src), str(tmp_path / "want"))
        want[(tmp_path / "want").read_bytes()] = src.read_bytes()
    out = tmp_path / "out.ansn"
    for delay in (0, 0.02):
        ps = [_start(delay, "-q", "compress", src, out) for src in (a, b)]
        for p in ps:
            p.communicate(timeout=120)
            assert p.returncode == 0
        got = out.read_bytes()
        assert got in want
        assert b"".join(container.decompress_bytes(got)) == want[got]
    # and two decompressions of different files into one output
    for src in (a, b):
        container.compress_file(str(src), str(tmp_path / (src.stem + ".ansn")))
    ps = [_start(0.01, "-q", "decompress", tmp_path / f"{s}.ansn", tmp_path / "back")
          for s in "ab"]
    for p in ps:
        p.communicate(timeout=120)
        assert p.returncode == 0
    assert (tmp_path / "back").read_bytes() in (a.read_bytes(), b.read_bytes())
    assert not [n for n in _listing(tmp_path) if n.startswith(".")]


@pytest.mark.parametrize("unnamed", [True, False])
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_outputs_follow_the_umask(tmp_path, umask, unnamed, monkeypatch):
    """With unnamed files (O_TMPFILE) and with the named temporary files of file systems
    without them."""
    if not unnamed:
        monkeypatch.setattr(container, "UNNAMED_FILES", False)
    src = _model(tmp_path / "m.safetensors", n=2)
    old = os.umask(umask)
    try:
        container.compress_file(str(src), str(tmp_path / "m.ansn"))
        container.decompress_file(str(tmp_path / "m.ansn"), str(tmp_path / "back"))
        from golden.format import checkpoint
        (tmp_path / "d").mkdir()
        os.link(src, tmp_path / "d" / "m.safetensors")
        checkpoint.compress_directory(str(tmp_path / "d"), str(tmp_path / "dz"))
    finally:
        os.umask(old)
    for path in ("m.ansn", "back", "dz/m.safetensors.ansn"):
        assert stat.S_IMODE((tmp_path / path).stat().st_mode) == 0o666 & ~umask, path
    assert stat.S_IMODE((tmp_path / "dz").stat().st_mode) == 0o777 & ~umask
    assert _listing(tmp_path) == ["back", "d", "dz", "m.ansn", "m.safetensors"]
