# amaranth: UnusedElaboratable=no
"""The property harness itself: it finds a component's stream ports, proves a correct component
and catches each broken rule in a component built to break it (a mutation check)."""

import pytest
from amaranth.hdl import Cover, Module, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.ans.decode.lane import DecodeLane

from formal_harness import StreamRules, error_held, prove, stream_ports


class Item(data.Struct):
    data: 8
    last: 1


class Status(data.Struct):
    code: 2
    error: 1


class Stage(wiring.Component):
    """A stream through a 2-deep buffered FIFO, and a status code, each with a way to break.

    ``bug``: None (correct), ``"valid"`` (``o.valid`` falls after a cycle whether or not it
    was taken), ``"payload"`` (the offered payload changes while it waits), ``"stall"`` (the
    input is refused for good after the first ``last``), ``"error"`` (the error code is
    cleared while the tensor still goes on), ``"ready"`` (``i.ready`` waits for nothing but is
    never high: a component that takes no input at all)."""

    def __init__(self, bug=None):
        self.bug = bug
        super().__init__({
            "i": In(stream.Signature(Item)),
            "o": Out(stream.Signature(Item)),
            "status": Out(Status),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.q = q = fifo.SyncFIFOBuffered(width=9, depth=2)
        stuck = Signal()
        m.d.comb += [
            q.w_data.eq(self.i.payload),
            q.w_en.eq(self.i.valid & ~stuck),
            self.i.ready.eq(q.w_rdy & ~stuck),
            self.o.payload.eq(q.r_data),
            self.o.valid.eq(q.r_rdy),
            q.r_en.eq(self.o.ready),
        ]
        # the error: set by a data byte 0xff, cleared when the next tensor's first item comes
        first = Signal(init=1)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += first.eq(self.i.payload.last)
            with m.If(first):
                m.d.sync += self.status.code.eq(0)
            with m.If(self.i.payload.data == 0xff):
                m.d.sync += self.status.code.eq(1)
        m.d.comb += self.status.error.eq(self.status.code != 0)

        if self.bug == "valid":         # valid falls after one cycle on offer
            shown = Signal()
            m.d.sync += shown.eq(q.r_rdy & ~self.o.ready)
            m.d.comb += self.o.valid.eq(q.r_rdy & ~shown)
            m.d.comb += q.r_en.eq(self.o.ready & ~shown)
        elif self.bug == "payload":     # the offered data counts up while it waits
            count = Signal(8)
            m.d.sync += count.eq(count + 1)
            m.d.comb += self.o.payload.data.eq(q.r_data[:8] ^ count)
        elif self.bug == "stall":       # the input is refused for good after a `last`
            with m.If(self.i.valid & self.i.ready & self.i.payload.last):
                m.d.sync += stuck.eq(1)
        elif self.bug == "error":       # the error is also cleared by a data byte 0x00
            with m.If(self.i.valid & self.i.ready & (self.i.payload.data == 0)):
                m.d.sync += self.status.code.eq(0)
        elif self.bug == "ready":
            m.d.comb += stuck.eq(1)
        return m


def stage_harness(bug=None, patience=4):
    def extra(m, dut, rules):
        error_held(m, rules, dut.status, "i")
        m.d.comb += [Cover(rules.transfers["o"] & dut.o.payload.last),
                     Cover(dut.status.error & rules.transfers["o"])]
    return StreamRules(Stage(bug), patience=patience, extra=extra)


def test_stream_ports_from_signature():
    assert [(n, f) for n, f in StreamRules(DecodeLane(table_log_max=8)).ports] == [
        ("words", wiring.In), ("table", wiring.In), ("pairs", wiring.Out)]
    nested = wiring.Signature({"up": Out(wiring.Signature({"s": In(stream.Signature(8))}))})
    assert stream_ports(nested) == [(("up", "s"), wiring.In)]
    assert stream_ports(nested.flip()) == [(("up", "s"), wiring.Out)]


def test_live_must_name_an_input():
    with pytest.raises(ValueError, match=r"'o' is not an input stream of Stage \(these are: i\)"):
        StreamRules(Stage(), live=["o"])


def test_correct_stage_proves():
    prove(stage_harness(), "harness_ok_bmc", mode="bmc", depth=12)
    prove(stage_harness(), "harness_ok_cover", mode="cover", depth=12)
    prove(StreamRules(Stage()), "harness_ok_prove", mode="prove", depth=4)


@pytest.mark.parametrize("bug, message", [
    ("valid", "o: valid fell before ready"),
    ("payload", "o: payload changed before ready"),
    ("stall", "no stream moved for 4 cycles"),
    ("ready", "no stream moved for 4 cycles"),
    ("error", "status.code left its error before the next tensor"),
])
def test_broken_stage_is_caught(bug, message):
    result = prove(stage_harness(bug), f"harness_bug_{bug}", mode="bmc", depth=12, expect=False)
    assert not result.passed
    assert any(message in f for f in result.failed), result.failed


def test_broken_rule_fails_induction():
    """k-induction fails too (it must not prove a broken component by starting from a state
    that reset never reaches)."""
    result = prove(StreamRules(Stage("valid")), "harness_bug_valid_prove", mode="prove",
                   depth=4, expect=False)
    assert not result.passed
    assert any(": o: valid fell before ready" in f for f in result.failed), result.failed


def test_harness_needs_the_input_rule():
    """A component that passes its input straight through is correct only because the input
    obeys the rule: the assumption is what makes its proof pass."""
    class Wire(wiring.Component):
        i: In(stream.Signature(8))
        o: Out(stream.Signature(8))

        def elaborate(self, platform):
            m = Module()
            wiring.connect(m, wiring.flipped(self.i), wiring.flipped(self.o))
            return m

    prove(StreamRules(Wire()), "harness_wire_prove", mode="prove", depth=2)
    result = prove(StreamRules(Wire(), assume_inputs=False), "harness_wire_free", mode="bmc",
                   depth=4, expect=False)
    assert any(": o: " in f and "before ready" in f for f in result.failed), result.failed
