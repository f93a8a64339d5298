"""The EBPC test vectors made by running pulp-platform/stream-ebpc (see data/ebpc/SOURCE.json)."""

from pathlib import Path

import numpy as np

__all__ = ["PATH", "load"]

PATH = Path(__file__).resolve().parent / "data" / "ebpc" / "vectors.npz"


def load():
    """``[(name, values int8, bpc uint8, znz uint8)]``: each case as the reference's encoder
    RTL emits it."""
    d = np.load(PATH)
    vo, bo, zo = d["value_offsets"], d["bpc_offsets"], d["znz_offsets"]
    return [(str(name), d["values"][vo[i]:vo[i + 1]], d["bpc"][bo[i]:bo[i + 1]],
             d["znz"][zo[i]:zo[i + 1]]) for i, name in enumerate(d["names"])]
