# amaranth: UnusedElaboratable=no
"""Formal proofs of the coding side: Compressor (kinds as in test_decode.py).

BMC and cover run with ``table_log_max=8``, ``chunk_pairs=2`` and one state: the chunk buffers
(block RAMs of ``chunk_pairs`` entries) and the coding table then hold a few entries, so that a
whole chunk goes in, is coded and leaves within the depth (at the default 4096 pairs a chunk
takes 4096 cycles to go in); the control logic (chunk counting, reversal, the framer, the
status) is the same at every size, a chunk of 2 only reaches its end sooner.
"""

import pytest

from hdl.ans.encode.compressor import Compressor
from hdl.common.ports import ErrorCode

from formal_harness import (Proof, StreamRules, code_is, covers, held, last_out, params,
                            record)

E = ErrorCode

#: The compressor's longest stretch without a transfer: a chunk being coded, after its last
#: value and before its header leaves (measured at these parameters; BMC depth 40 passes it).
COMPRESSOR_PATIENCE = 22

SMALL = dict(table_log_max=8, chunk_pairs=2, states=1)


def small_live():
    return StreamRules(Compressor(**SMALL), patience=COMPRESSOR_PATIENCE, live=["values"],
                       extra=held("values"))


PROOFS = [
    Proof("compressor.rules", lambda: StreamRules(Compressor()), "prove", 4,
          "stream rules", "bf16, table_log_max=10, states=4, chunk_pairs=4096"),
    Proof("compressor.live", small_live, "bmc", 40,
          f"error held, progress (patience {COMPRESSOR_PATIENCE})",
          "bf16, table_log_max=8, chunk_pairs=2, states=1", slow=True),
    Proof("compressor.cover",
          lambda: StreamRules(Compressor(**SMALL), extra=covers(
              last_out("words"), code_is(E.CONFIG), code_is(E.UNCODABLE))),
          "cover", 36, "last word out; CONFIG, UNCODABLE",
          "bf16, table_log_max=8, chunk_pairs=2, states=1", slow=True),
]


@pytest.mark.parametrize("proof", params(PROOFS))
def test_proof(request, proof):
    record(request, proof)
