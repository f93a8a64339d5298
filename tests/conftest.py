"""Shared fixtures of the golden-model tests.

Hypothesis runs derandomised (the same examples on every run, no example database) so that the
suite is reproducible; ``HYPOTHESIS_PROFILE=explore`` searches more, with fresh examples.
"""

import os

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from safetensors.numpy import save_file

from golden.ans import codec
from golden.format import codebooks

from ansnum_helpers import METADATA, synthetic_tensors

settings.register_profile(
    "ci", deadline=None, max_examples=25, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile(
    "explore", deadline=None, max_examples=500, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def synthetic_file(tmp_path):
    """Path of a small safetensors file (written by safetensors itself, with metadata)."""
    path = tmp_path / "model.safetensors"
    save_file(synthetic_tensors(), str(path), metadata=METADATA)
    return path


@pytest.fixture
def bf16_payload():
    """``(table, payload, values)``: 300 bf16 values, chunks of 100 pairs, 2 states."""
    rng = np.random.default_rng(7)
    values = (rng.standard_normal(300) * 0.1).astype(ml_dtypes.bfloat16).view(np.uint16)
    table, payload, _ = codec.compress_values(values, [codebooks.get("bf16-exp")],
                                              max_table_log=9, chunk_pairs=100, states=2)
    return table, payload, values


@pytest.fixture(scope="module")
def monkeypatch_module():
    """A monkeypatch that hypothesis tests may use (undone after the module)."""
    with pytest.MonkeyPatch.context() as mp:
        yield mp
