"""Sharded checkpoints as directories, and the Python API (load, safe_open, save, torch)."""

import json
import os
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import ansnum
from golden import cli
from golden.format import container
from golden.format.container import AnsnError

from ansnum_helpers import METADATA, synthetic_tensors


def _files(root):
    root = Path(root)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture
def sharded(tmp_path):
    """A Hugging Face style sharded checkpoint: an index, two shards, config, a sub-folder."""
    root = tmp_path / "ckpt"
    (root / "1_Pooling").mkdir(parents=True)
    tensors = synthetic_tensors()
    names = sorted(tensors)
    shards = {"model-00001-of-00002.safetensors": names[:5],
              "model-00002-of-00002.safetensors": names[5:]}
    weight_map = {}
    for shard, keys in shards.items():
        save_file({k: tensors[k] for k in keys}, str(root / shard), metadata=METADATA)
        weight_map.update({k: shard for k in keys})
    (root / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": 1234}, "weight_map": weight_map}, indent=2))
    (root / "config.json").write_text('{"hidden_size": 48}\n')
    (root / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    return root, tensors


def test_directory_round_trip(tmp_path, sharded, capsys):
    root, _ = sharded
    packed, back = tmp_path / "packed", tmp_path / "back"
    assert cli.main(["compress", str(root), str(packed)]) == 0
    assert "5 files" in capsys.readouterr().out
    got = _files(packed)
    assert sorted(got) == ["1_Pooling/config.json", "config.json",
                           "model-00001-of-00002.safetensors.ansn",
                           "model-00002-of-00002.safetensors.ansn",
                           "model.safetensors.index.json"]
    assert got["config.json"] == (root / "config.json").read_bytes()
    assert cli.main(["decompress", str(packed), str(back)]) == 0
    assert _files(back) == _files(root)
    # an empty output directory may be used, a full one not
    (tmp_path / "empty").mkdir()
    assert cli.main(["-q", "compress", str(root), str(tmp_path / "empty")]) == 0
    assert cli.main(["compress", str(root), str(back)]) == 1
    assert "exists" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["back", "ckpt", "empty", "packed"]


def test_directory_errors(tmp_path, sharded, capsys):
    root, _ = sharded
    os.remove(root / "model-00002-of-00002.safetensors")
    assert cli.main(["compress", str(root), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "names shard 'model-00002-of-00002.safetensors'" in err
    (root / "model-00002-of-00002.safetensors").write_bytes(b"junk")
    assert cli.main(["compress", str(root), str(tmp_path / "out")]) == 1
    assert "not a safetensors file" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no partial directory


def test_load_and_safe_open(tmp_path, synthetic_file):
    packed = tmp_path / "m.ansn"
    ansnum.compress(str(synthetic_file), str(packed))
    want = load_file(str(synthetic_file))
    got = ansnum.load(str(packed))
    assert list(got) == list(want) or sorted(got) == sorted(want)
    for name, array in want.items():
        assert got[name].dtype == array.dtype or got[name].dtype.name == "bfloat16"
        np.testing.assert_array_equal(got[name].view(np.uint8), array.view(np.uint8))
    assert got["layer.0.weight"].dtype == ml_dtypes.bfloat16
    assert got["layer.0.weight"].shape == (64, 48)
    with ansnum.safe_open(str(packed)) as f:
        assert f.metadata() == METADATA
        assert f.dtype("layer.1.weight") == "F32" and f.shape("ids") == [17, 3]
        assert sorted(f.keys()) == sorted(want)


def test_safe_open_touches_one_tensor(tmp_path, synthetic_file):
    """Damage another tensor's payload: the tensor asked for still decodes, the damaged one is
    an error, and so is a whole-file load."""
    packed = tmp_path / "m.ansn"
    index = container.compress_file(str(synthetic_file), str(packed), chunk_pairs=500)
    blob = bytearray(packed.read_bytes())
    seg = next(s for s in index["segments"] if s.get("name") == "layer.1.weight")
    start = len(blob) - sum((s["stored"] + 3) & ~3 for s in index["segments"])
    blob[start + seg["offset"] + seg["stored"] // 2] ^= 0x20
    packed.write_bytes(bytes(blob))
    tensors = synthetic_tensors()
    with ansnum.safe_open(str(packed)) as f:
        np.testing.assert_array_equal(f.get_tensor("layer.0.weight"), tensors["layer.0.weight"])
        with pytest.raises(AnsnError, match="tensor 'layer.1.weight': chunk [01]: CRC mismatch"):
            f.get_tensor("layer.1.weight")
    with pytest.raises(AnsnError):
        ansnum.load(str(packed))


def test_load_directory_and_save(tmp_path, sharded):
    root, tensors = sharded
    ansnum.compress(str(root), str(tmp_path / "packed"))
    got = ansnum.load(str(tmp_path / "packed"))
    assert sorted(got) == sorted(tensors)
    for name in tensors:
        np.testing.assert_array_equal(got[name], tensors[name])
    ansnum.save(tensors, str(tmp_path / "s.ansn"), metadata={"a": "b"}, table_log=9)
    again = ansnum.load(str(tmp_path / "s.ansn"))
    for name in tensors:
        assert again[name].dtype == tensors[name].dtype
        np.testing.assert_array_equal(again[name], tensors[name])
    with ansnum.safe_open(str(tmp_path / "s.ansn")) as f:
        assert f.metadata() == {"a": "b"}
    with pytest.raises(AnsnError, match="not a numpy array"):
        ansnum.save({"x": [1, 2]}, str(tmp_path / "bad.ansn"))
    with pytest.raises(AnsnError, match="no such file"):
        ansnum.load(str(tmp_path / "missing.ansn"))


def test_torch_state_dict(tmp_path, synthetic_file):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file as torch_load

    from ansnum.torch import load_state_dict, save_state_dict
    packed = tmp_path / "m.ansn"
    ansnum.compress(str(synthetic_file), str(packed))
    want = torch_load(str(synthetic_file))
    got = load_state_dict(str(packed))
    assert sorted(got) == sorted(want)
    for name, t in want.items():
        assert got[name].dtype == t.dtype and got[name].shape == t.shape
        assert got[name].view(torch.uint8).equal(t.view(torch.uint8)) if t.numel() else True
    state = {"a": torch.randn(30, 20).to(torch.bfloat16), "b": torch.arange(5),
             "c": torch.randn(7, dtype=torch.float16), "e": torch.zeros(0, 3)}
    save_state_dict(state, str(tmp_path / "s.ansn"))
    back = load_state_dict(str(tmp_path / "s.ansn"))
    for name, t in state.items():
        assert back[name].dtype == t.dtype and back[name].shape == t.shape
        assert torch.equal(back[name], t)
