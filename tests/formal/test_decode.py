# amaranth: UnusedElaboratable=no
"""Formal proofs of the decoding side: DecodeLane, TansDecoder, Decompressor.

Three kinds per component (see docs/reliability.md for depths, parameters and times):

- ``rules``: the stream rules on every port, by k-induction, at the default parameters
  (every trace of any length, from reset);
- ``live``: the error code held until the next tensor and bounded progress (no stream moves
  for at most ``patience`` cycles while the input is offered and the outputs are fairly
  ready), by BMC from reset;
- ``cover``: a pair (value) with ``last`` leaves, and each error code the component raises is
  reached: the assumptions leave the component room to work.

BMC and cover run with ``table_log_max=8`` (a table of 256 entries instead of 1024: the RAM's
contents are free inputs written through the table port, its size only widens the addresses);
the control logic is the same at every table size.
"""

import pytest

from hdl.ans.decode.decoder import TansDecoder
from hdl.ans.decode.decompressor import Decompressor
from hdl.ans.decode.lane import DecodeLane
from hdl.common.ports import ErrorCode

from formal_harness import (Proof, StreamRules, code_is, covers, held, last_out, params,
                            record)

E = ErrorCode


#: The decoding lane: its longest stretch without a transfer is a chunk's start (descriptor,
#: initial states, the ring filling: 17 cycles of latency) with the output's ready late.
LANE_PATIENCE = 16
#: The decoder: after a tensor's last word is taken, up to three one-word chunks may still be
#: decoded before the next tensor's first word is, about 10 cycles each and no output: the one
#: in the lane, the one in the front end's register and the front end's own (a tensor cut after
#: a header word: TRUNCATED). BMC refutes 28 at step 41 with that trace.
DECODER_PATIENCE = 34
#: The decompressor: BMC at depth 50 finds no stretch over 30 (its decoder's ``codebook_ok`` is
#: driven by its packer, not free as in the decoder's proof).
DECOMPRESSOR_PATIENCE = 30

SMALL = dict(table_log_max=8)

PROOFS = [
    Proof("decode_lane.rules", lambda: StreamRules(DecodeLane()), "prove", 4,
          "stream rules", "table_log_max=10, extra_max=16"),
    Proof("decode_lane.rules_split", lambda: StreamRules(DecodeLane(extra_step=8)), "prove", 4,
          "stream rules", "table_log_max=10, extra_max=16, extra_step=8"),
    Proof("decode_lane.live",
          lambda: StreamRules(DecodeLane(**SMALL, extra_step=8), patience=LANE_PATIENCE,
                              live=["words"], extra=held("words")),
          "bmc", 30, f"error held, progress (patience {LANE_PATIENCE})",
          "table_log_max=8, extra_step=8"),
    Proof("decode_lane.live_deep",
          lambda: StreamRules(DecodeLane(**SMALL, extra_step=8), patience=LANE_PATIENCE,
                              live=["words"], extra=held("words")),
          "bmc", 48, f"error held, progress (patience {LANE_PATIENCE})",
          "table_log_max=8, extra_step=8", slow=True),
    Proof("decode_lane.cover",
          lambda: StreamRules(DecodeLane(**SMALL, extra_step=8), extra=covers(
              last_out("pairs"), code_is(E.OVERRUN), code_is(E.STATE), code_is(E.PADDING),
              code_is(E.CRC))),
          "cover", 30, "last pair out; OVERRUN, STATE, PADDING, a given error",
          "table_log_max=8, extra_step=8"),

    Proof("tans_decoder.rules", lambda: StreamRules(TansDecoder()), "prove", 4,
          "stream rules", "table_log_max=10, extra_max=16"),
    Proof("tans_decoder.live",
          lambda: StreamRules(TansDecoder(**SMALL), patience=DECODER_PATIENCE, live=["words"],
                              extra=held("words")),
          "bmc", 40, f"error held, progress (patience {DECODER_PATIENCE})", "table_log_max=8"),
    Proof("tans_decoder.live_deep",
          lambda: StreamRules(TansDecoder(**SMALL), patience=DECODER_PATIENCE, live=["words"],
                              extra=held("words")),
          "bmc", 50, f"error held, progress (patience {DECODER_PATIENCE})", "table_log_max=8",
          slow=True),
    Proof("tans_decoder.cover",
          lambda: StreamRules(TansDecoder(**SMALL), extra=covers(
              last_out("pairs"), code_is(E.MAGIC), code_is(E.CONFIG), code_is(E.CRC),
              code_is(E.TRUNCATED), code_is(E.TRAILING), code_is(E.OVERRUN))),
          "cover", 40, "last pair out; MAGIC, CONFIG, CRC, TRUNCATED, TRAILING, OVERRUN",
          "table_log_max=8", slow=True),

    Proof("decompressor.rules", lambda: StreamRules(Decompressor()), "prove", 4,
          "stream rules", "bf16, table_log_max=10"),
    Proof("decompressor.live",
          lambda: StreamRules(Decompressor(**SMALL), patience=DECOMPRESSOR_PATIENCE,
                              live=["words"], extra=held("words")),
          "bmc", 36, f"error held, progress (patience {DECOMPRESSOR_PATIENCE})",
          "bf16, table_log_max=8"),
    Proof("decompressor.live_deep",
          lambda: StreamRules(Decompressor(**SMALL), patience=DECOMPRESSOR_PATIENCE,
                              live=["words"], extra=held("words")),
          "bmc", 50, f"error held, progress (patience {DECOMPRESSOR_PATIENCE})",
          "bf16, table_log_max=8", slow=True),
    Proof("decompressor.cover",
          lambda: StreamRules(Decompressor(**SMALL), extra=covers(
              last_out("values"), code_is(E.CONFIG), code_is(E.STATE))),
          "cover", 32, "last value out; CONFIG, STATE", "bf16, table_log_max=8"),
]


@pytest.mark.parametrize("proof", params(PROOFS))
def test_proof(request, proof):
    record(request, proof)
