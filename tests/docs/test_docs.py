"""The architecture picture names blocks that exist, and is drawn from its source as committed."""

import importlib
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs" / "figures"))

import architecture  # noqa: E402


def _modules():
    names = [b[5] for b in architecture.BLOCKS.values()] + [m for _, m in architecture.LANE]
    for name in names:
        if " " in name or "." not in name:
            continue                        # a note, not a module ("on disk, byte-exact")
        yield name if name.split(".")[0] in ("golden", "hdl") else f"hdl.{name}"


def test_every_module_in_the_picture_exists():
    found = list(_modules())
    assert len(found) > 15
    for name in found:
        assert importlib.util.find_spec(name) is not None, name


def test_every_class_in_the_picture_exists():
    for title, module in architecture.LANE:
        cls = title.replace("-\n", "").split("\n")[0]
        assert hasattr(importlib.import_module(module), cls), (cls, module)
    for name in ("classify", "encode", "writer", "framer", "tableport"):
        cls = architecture.BLOCKS[name][4].split("\n")[0]
        module = architecture.BLOCKS[name][5]
        module = module if module.startswith("hdl.") else f"hdl.{module}"
        assert hasattr(importlib.import_module(module), cls), (cls, module)


def test_picture_is_drawn_from_its_source(tmp_path):
    architecture.draw(tmp_path / "architecture")
    drawn = (tmp_path / "architecture.svg").read_bytes()
    assert drawn == (ROOT / "docs" / "figures" / "architecture.svg").read_bytes(), \
        "docs/figures/architecture.svg is stale: run `make docs`"
