"""ansnum.core (the FuseSoC core at the repository's root): FuseSoC (PyPI, pinned) reads it, runs
its generator (hdl/fusesoc_generator.py, which exports the Verilog) and lints the system top with
Verilator, as another SoC project depending on the core would."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not on PATH")
def test_core_lints_under_verilator(tmp_path):
    bindir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    run = subprocess.run([str(bindir / "fusesoc"), "--cores-root", str(ROOT), "run",
                          "--target", "lint", "ansnum:ansnum:ansnum"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    built = list(tmp_path.glob("build/*/lint-verilator/generator_cache/*/ansnum_system_4l_4k.v"))
    assert built and "module ansnum_system_4l_4k(" in built[0].read_text()
