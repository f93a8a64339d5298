"""The fuzzers in CI: every seed runs clean, and a short coverage-guided run of every target
finds no crash, hang or memory blow-up (``make fuzz`` runs a million inputs a target)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import targets

HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize("name", sorted(targets.TARGETS))
def test_seeds_run_clean(name):
    seeds = sorted((HERE / "corpus" / name).glob("*"))
    if name == "ebpc" and not targets.HAVE_EBPC:
        pytest.skip("golden.ebpc is not here yet")
    assert seeds, f"no seeds for {name}: run tests/fuzz/make_corpus.py"
    for seed in seeds:
        targets.TARGETS[name](seed.read_bytes())


def test_targets_reject_what_they_should():
    """The targets are not vacuous: a damaged seed is an error the target accepts, a crash in
    the code under test is not swallowed."""
    seed = (HERE / "corpus" / "container" / "mixed").read_bytes()
    targets.target_container(seed[:len(seed) // 2])
    with pytest.raises(TypeError):
        targets.target_container(None)


def test_short_fuzz_run(tmp_path):
    pytest.importorskip("atheris")
    runs = 2000
    r = subprocess.run([sys.executable, str(HERE / "fuzz.py"), "--runs", str(runs),
                        "--build", str(tmp_path), "--rss-limit-mb", "1024"],
                       capture_output=True, text=True, timeout=600)
    lines = [line for line in r.stdout.splitlines() if line.startswith("fuzz ")]
    assert r.returncode == 0, r.stdout + r.stderr
    assert lines[-1] == f"fuzz total {runs * (3 + targets.HAVE_EBPC)} inputs, 0 crashes, 0 hangs"
    for line in lines[:-1]:
        m = re.match(r"fuzz (\w+) +(\d+) inputs", line)
        assert int(m.group(2)) == (0 if "skipped" in line else runs), line
