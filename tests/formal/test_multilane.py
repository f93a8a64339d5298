# amaranth: UnusedElaboratable=no
"""Formal proofs of the multi-lane tops, at their ports: MultiLaneDecompressor and
MultiLaneCompressor (the stream rules by k-induction, as in test_decode.py).

The rules are proved at the default buffer sizes (the block-RAM FIFOs and tables keep their
real depths: k-induction does not unroll them), at 2 lanes in ``make test`` and 8 lanes in
``make formal``. Error hold and progress are not proved here by BMC: a 2-lane top takes about 40
cycles from its first word to a MAGIC error and 60 to its last value (Amaranth simulator,
``in_beats=8``), so a useful BMC needs a depth past 100, beyond the budget of this machine.
"""

import pytest
from amaranth.lib import wiring

from hdl.multilane.compressor import MultiLaneCompressor
from hdl.multilane.decompressor import MultiLaneDecompressor

from formal_harness import Proof, StreamRules, covers, params, record


def inputs_taken(top):
    """The cover that the assumptions leave the top room to take both its inputs (the k-induction
    proofs' base case starts from the same reset state under the same assumptions)."""
    names = [n for n, f in StreamRules(top).ports if f == wiring.In]
    return StreamRules(top, extra=covers(*[(f"{n} taken", lambda dut, rules, n=n:
                                            rules.transfers[n]) for n in names]))


PROOFS = [
    Proof("multilane_decompressor.cover_inputs",
          lambda: inputs_taken(MultiLaneDecompressor(lanes=2)), "cover", 6,
          "words and table taken", "bf16, lanes=2, in_width=4, table_log_max=10, in_beats=512"),
    Proof("multilane_compressor.cover_inputs",
          lambda: inputs_taken(MultiLaneCompressor(lanes=2)), "cover", 6,
          "values and table taken", "bf16, lanes=2, out_width=4, chunk_pairs=1016"),
    Proof("multilane_decompressor.rules_2", lambda: StreamRules(MultiLaneDecompressor(lanes=2)),
          "prove", 4, "stream rules", "bf16, lanes=2, in_width=4, table_log_max=10, in_beats=512"),
    Proof("multilane_decompressor.rules_2x1",
          lambda: StreamRules(MultiLaneDecompressor(lanes=2, in_width=1)),
          "prove", 4, "stream rules", "bf16, lanes=2, in_width=1, table_log_max=10, in_beats=512"),
    Proof("multilane_decompressor.rules_8", lambda: StreamRules(MultiLaneDecompressor(lanes=8)),
          "prove", 4, "stream rules", "bf16, lanes=8, in_width=4, table_log_max=10, in_beats=512",
          slow=True),
    Proof("multilane_compressor.rules_2", lambda: StreamRules(MultiLaneCompressor(lanes=2)),
          "prove", 4, "stream rules", "bf16, lanes=2, out_width=4, chunk_pairs=1016"),
    Proof("multilane_compressor.rules_8", lambda: StreamRules(MultiLaneCompressor(lanes=8)),
          "prove", 4, "stream rules", "bf16, lanes=8, out_width=4, chunk_pairs=1016",
          slow=True),
]


@pytest.mark.parametrize("proof", params(PROOFS))
def test_proof(request, proof):
    record(request, proof)
