"""tANS decoding lane: a chunk's descriptor and body words in, one (code, raw bits) per clock out.

The per-chunk bookkeeping (header checks, body length, CRC-32, table checks) is not here: it is
done once per stream, by :class:`~hdl.ans.decode.chunk_reader.ChunkReader` in front of one lane or by the
multi-lane dispatcher in front of many, so that what is repeated per lane is the decoding loop.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.format.layouts import (TABLE_LOG_MAX, TABLE_LOG_MIN, ChunkHeader, DecodeEntry, pack_int,
                                   unpack_int)
from hdl.common.bit_select import bit_select
from hdl.common.ports import ErrorCode, Status
from hdl.common.table_ram import TableRAM

from .bit_reader import BitReader

__all__ = ["DecodeLane", "LaneWord", "EntryWrite", "RawPair", "RING", "check_lane_parameters",
           "LaneParameters", "split_entry", "thermometer"]

#: Stages of the lane's state ring (entry, bits, next state, table read): a chunk with this
#: many interleaved states decodes one pair per clock, one with fewer ``states / RING``.
RING = 4

#: Padding bits checked per cycle (at most the smallest table log: they are checked as the bits
#: of a next state).
PAD_STEP = 8


def check_lane_parameters(table_log_max, extra_max, states=None, extra_step=None):
    """The parameters a tANS lane (decoder or encoder) is built with, checked."""
    if not TABLE_LOG_MIN <= table_log_max <= TABLE_LOG_MAX:
        raise ValueError(f"table_log_max must be {TABLE_LOG_MIN} .. {TABLE_LOG_MAX}, "
                         f"not {table_log_max}")
    if states is not None and states not in (1, 2, 4):
        raise ValueError(f"states must be 1, 2 or 4, not {states}")
    if not 1 <= extra_max <= 32 - table_log_max:
        raise ValueError(f"extra_max must be 1 .. {32 - table_log_max}, not {extra_max}")
    if extra_step is not None and not extra_max / 2 <= extra_step <= extra_max:
        raise ValueError(f"extra_step must be {-(-extra_max // 2)} .. {extra_max}, "
                         f"not {extra_step}")


class LaneParameters:
    """``table_log_max``, ``extra_max`` and ``extra_step`` of a lane (:class:`DecodeLane`),
    checked and kept as read-only properties: for the lane and the blocks made for it."""

    def _lane_parameters(self, table_log_max, extra_max, extra_step):
        check_lane_parameters(table_log_max, extra_max, extra_step=extra_step)
        self._table_log_max = table_log_max
        self._extra_max = extra_max
        self._extra_step = extra_max if extra_step is None else extra_step

    @property
    def table_log_max(self):
        return self._table_log_max

    @property
    def extra_max(self):
        return self._extra_max

    @property
    def extra_step(self):
        return self._extra_step


def split_entry(entry, extra_step, extra_max):
    """A :class:`DecodeEntry` (an int) as a lane with ``extra_step`` and ``extra_max`` keeps it.

    An escape that reads more than ``extra_step`` extra bits reads the first ``extra_step`` in
    its pair's cycle and the rest in one more: its ``total`` becomes ``nbits + extra_step`` and
    its ``code`` the bits of the second read; any other escape's ``code`` is 0 (as the format
    writes it). Every other entry is kept as it is, and every entry when ``extra_step ==
    extra_max`` (such a lane splits nothing and reads no escape's code field). (The golden twin
    of :class:`~hdl.ans.decode.table_port.TablePort`; used by tests.)"""
    if extra_step == extra_max:
        return entry
    fields = unpack_int(DecodeEntry, entry)
    width = fields["total"] - fields["nbits"]
    if fields["escape"]:
        fields["code"] = 0
        if width > extra_step:
            fields["total"] = fields["nbits"] + extra_step
            fields["code"] = width - extra_step
    return pack_int(DecodeEntry, **fields)


def RawPair(extra_max):
    """Payload of a lane's output: a code, or an escape whose raw bits hold the code.

    ``raw`` holds the pair's extra bits from bit 0 up; the bits above the pair's extra width are
    the stream's next bits (not masked: each consumer reads the width its code gives, and the
    mask was 26 LUT4 of an ECP5 lane). ``code`` is not defined for an escape (``escape`` set):
    its code is in ``raw``."""
    return data.StructLayout({"code": 9, "escape": 1, "raw": extra_max, "last": 1})


class LaneWord(data.Struct):
    """A word into a lane: a chunk's descriptor (its header word 0), then its body words.

    ``last`` marks the chunk's final word (the descriptor itself when no body follows);
    ``error`` on that word is what the front end found wrong with the chunk (header, length,
    CRC), :attr:`ErrorCode.NONE` if nothing."""
    data: 32
    last: 1
    error: ErrorCode


def EntryWrite(table_log_max):
    """A write into a lane's decode table: the :class:`DecodeEntry` of state ``state``, as
    :func:`split_entry` makes it for the lane's ``extra_step``."""
    return data.StructLayout({"state": table_log_max, "entry": DecodeEntry})


def thermometer(n, width):
    """``width`` bits, the low ``n`` of them set."""
    return Cat(*(n > k for k in range(width)))


def _small(value, bits):
    """``value < 2**bits``, as a zero test of the high bits (no carry chain)."""
    return value[bits:] == 0


class DecodeLane(LaneParameters, wiring.Component):
    """One tANS decoding lane.

    Takes chunks as :class:`LaneWord` s: the chunk's header word 0 (the descriptor: pairs,
    states, table log, ``last``; checked by the front end, though no descriptor hangs the lane),
    then its body words, ``last`` on the final one. Emits the chunk's pairs in order, ``last`` on the final pair of a chunk whose
    descriptor has ``last`` set. The decode table is written through :attr:`table` while the
    lane is idle (one entry per clock, made a clock after it is taken).

    **How.** The interleaved states of a chunk circulate in a ring of :data:`RING` register
    stages: the table entry of a state (read with two register stages, so that no path starts
    at a block RAM's output), the bits it reads, the next state (``base | bits``: the low
    ``nbits`` bits of ``base`` are zero in every tANS table), and the table address. The only
    one-cycle loop is the bit position, ``pos + total``, with ``total`` straight from a
    register. The bit reader stops taking words after the chunk's last one, so the end of the
    body is where its words end: no length counter.

    A pair reads its ``nbits`` and up to ``extra_step`` extra bits in its own cycle. An escape
    with more extra bits (its raw code and its value's extra bits: 16 for bf16 against 8 for
    any other bf16 pair) reads the rest in one more cycle, the ring waiting; its entry says how
    many (:func:`split_entry`). So the field the bit reader selects is ``table_log_max +
    extra_step`` bits wide, not ``table_log_max + extra_max``.

    Throughput: one pair per clock for chunks of 4 interleaved states (``states / 4`` pairs
    per clock for 1 or 2 states), while the input delivers the bits and the output is ready,
    a clock more for each split escape; plus per chunk 18 cycles (descriptor, initial states,
    padding, the bit reader's refill). Latency: the first pair leaves 17 cycles
    (:data:`LATENCY`) after the descriptor is taken, with no stalls. (Both measured in
    Amaranth's simulator.)

    **Errors.** Bits read past the body's end (OVERRUN), a state not back at 0 after the last
    pair (STATE), and a body longer than its pairs or padding that is not zero (PADDING), in
    the golden decoder's order of priority, and, first of all, the ``error`` that came with the
    chunk's last word (which does not stop the decoding). The lane drops the rest of a chunk
    it finds broken up to its last word; :attr:`status` ``.code`` holds the verdict from the
    cycle ``busy`` falls until the next chunk starts. Nothing hangs: a chunk always ends at its
    last word.

    Parameters
    ----------
    table_log_max : int
        Largest table log the lane decodes (8 .. 12); its table has ``1 << table_log_max``
        entries. Any smaller table log is decoded too.
    extra_max : int
        Widest extra field of an entry (including an escape's raw code);
        ``table_log_max + extra_max <= 32``. The width of ``raw`` in :attr:`pairs`.
    extra_step : int or None
        Extra bits read in a pair's own cycle, ``extra_max / 2 .. extra_max`` (None:
        ``extra_max``).

    Members
    -------
    words : In(stream.Signature(LaneWord))
    table : In(stream.Signature(EntryWrite(table_log_max)))
    pairs : Out(stream.Signature(RawPair(extra_max)))
    status : Out(Status)
        ``busy`` from the descriptor to the chunk's verdict.
    drained : Out(1)
        No chunk in progress and no pair inside the lane: :attr:`table` is ready.
    """

    #: Depth of the output FIFO; the ring stops while fewer than 4 places are free in it.
    OUT_DEPTH = 8
    #: Cycles from the descriptor taken to the first pair out, with no stalls.
    LATENCY = 17

    def __init__(self, *, table_log_max=10, extra_max=16, extra_step=None):
        self._lane_parameters(table_log_max, extra_max, extra_step)
        super().__init__({
            "words": In(stream.Signature(LaneWord)),
            "table": In(stream.Signature(EntryWrite(table_log_max))),
            "pairs": Out(stream.Signature(RawPair(extra_max))),
            "status": Out(Status),
            "drained": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        R = self._table_log_max
        X = self._extra_max
        X1 = self._extra_step           # extra bits read in the pair's cycle
        X2 = X - X1                     # ... and in a split escape's second one
        F = R + X1                      # bits a pair reads in its cycle: nbits + extra

        m.submodules.reader = reader = BitReader(F)
        bits_ok = reader.bits_ok
        m.d.comb += [
            reader.words.payload.data.eq(self.words.payload.data),
            reader.words.payload.last.eq(self.words.payload.last),
            reader.words.valid.eq(self.words.valid),
            self.words.ready.eq(reader.words.ready),
        ]
        m.submodules.table_ram = ram = TableRAM(1 << R, 32)
        pair_layout = RawPair(X)
        m.submodules.out_fifo = out_fifo = fifo.SyncFIFOBuffered(
            width=pair_layout.size, depth=self.OUT_DEPTH)

        # --- table port: writes while idle, a cycle after they are taken
        t_valid = Signal()
        t_write = Signal(EntryWrite(R))
        m.d.sync += t_valid.eq(self.table.valid & self.table.ready)
        with m.If(self.table.valid & self.table.ready):
            m.d.sync += t_write.eq(self.table.payload)
        m.d.comb += [
            ram.write_addr.eq(t_write.state),
            ram.write_data.eq(t_write.entry),
            ram.write_en.eq(t_valid),
        ]

        # --- errors: the front end's (with the chunk's last word), then the lane's own, each
        # raised by a shallow condition and registered; the first is kept for the chunk
        # (``given`` is the last word's: the reader takes no word after it until the chunk is
        # finished, so it is this chunk's. The chunk is decoded all the same, as far as its
        # bits go: a chunk found broken by its CRC emits all its pairs, as it would if the CRC
        # were checked at its end; a descriptor alone runs out of bits before a pair.)
        given = Signal(ErrorCode)       # the front end's verdict on this chunk
        with m.If(self.words.valid & self.words.ready & self.words.payload.last):
            m.d.sync += given.eq(self.words.payload.error)
        own = Signal(ErrorCode)         # the first of the lane's own
        found_overrun, found_state, found_padding = Signal(), Signal(), Signal()
        failed = Signal()               # one of them was raised last cycle
        m.d.sync += failed.eq(found_overrun | found_state | found_padding)
        with m.If(own == ErrorCode.NONE):
            with m.If(found_overrun):
                m.d.sync += own.eq(ErrorCode.OVERRUN)
            with m.Elif(found_state):
                m.d.sync += own.eq(ErrorCode.STATE)
            with m.Elif(found_padding):
                m.d.sync += own.eq(ErrorCode.PADDING)
        code = Signal(ErrorCode)        # the verdict, set as the chunk ends
        m.d.comb += [self.status.code.eq(code), self.status.error.eq(code != ErrorCode.NONE)]

        # --- the chunk being decoded
        pm1 = Signal(18)                # pairs left, minus one
        last_pair = Signal()            # pm1 == 0
        tail = Signal()                 # pm1 < states: this pair is its state's last
        chunk_last = Signal()
        states = Signal(3)              # 1, 2 or 4
        slot = Signal(range(RING))      # INIT: the ring position being filled
        pad_left = Signal(6)            # PADDING: bits of the body's last word not yet checked
        step_take = Signal(6, init=32)  # bits a step takes outside RUN: the descriptor (32),
                                        # an initial state (table_log), padding
        running = Signal()              # in RUN (a register of its own: it steers the datapath)

        # A step that reads past the body's end is found one cycle later, from registers: the
        # step read bits with no word left, or went past the end of the last one. Words from
        # the one being read on (w0, or w1 once w0 is used up): only known short once the
        # reader has settled (the chunk's last word is in and every word is down).
        high = reader.pos[5]
        avail_zero = reader.settled & ~Mux(high, reader.held[1], reader.held != 0)
        avail_one = reader.settled & Mux(high, reader.held == 2, reader.held == 1)
        step_zero = Signal()
        step_one = Signal()
        body_step = Signal()            # bits of the body are taken (not the descriptor)
        m.d.sync += [step_zero.eq(body_step & avail_zero & (reader.take != 0)),
                     step_one.eq(body_step & avail_one)]
        m.d.comb += found_overrun.eq(
            step_zero | (step_one & reader.pos[5] & (reader.pos[:5] != 0)))

        # --- the ring: E (entry) -> F (field) -> S (next state) -> B (table read) -> E
        e = DecodeEntry(ram.read_data)
        e_valid, f_valid, s_valid, b_valid = (Signal(name=f"{n}_valid") for n in "efsb")
        s_state = Signal(R)
        f_field = Signal(F)
        f_mask = Signal(R)
        f_base = Signal(R)
        new_state = Signal(R)
        m.d.comb += new_state.eq(f_base | (f_field[:R] & f_mask))

        advance = Signal()              # the ring turns
        f_load = Signal()               # F takes a new token (or a padding check)
        token_in = Signal()             # ... which is one of the chunk's states
        mask_n = Signal(4)              # ... whose next state takes this many bits of the field
        base_in = Signal(R)
        second = Signal()               # a split escape's second read is due (``step_take`` bits)
        m.d.comb += [
            reader.take.eq(Mux(running & ~second, e.total, step_take)),
            mask_n.eq(Mux(running, e.nbits, step_take)),
            base_in.eq(Mux(running, e.base, 0)),
        ]
        fire = Signal()                 # the pair of the token in E is decoded
        pad_step = Signal()             # padding bits checked (they must be 0)
        ring_clear = Signal()

        m.d.comb += [ram.read_addr.eq(s_state), ram.read_en.eq(advance)]
        with m.If(advance):
            m.d.sync += [s_valid.eq(f_valid), s_state.eq(new_state),
                         b_valid.eq(s_valid), e_valid.eq(b_valid)]

        f_code = Signal(9)
        f_escape = Signal()
        f_nbits = Signal(4)
        f_last = Signal()
        f_out = Signal()                # F holds a pair just decoded: output it
        f_split = Signal()              # ... an escape whose second read is due
        f_final = Signal()              # ... whose next state is final: it must be 0
        f_pad = Signal()                # F holds padding bits just read: they must be 0
        with m.If(f_load):
            m.d.sync += [
                f_valid.eq(token_in), f_field.eq(reader.field),
                f_mask.eq(thermometer(mask_n, R)), f_base.eq(base_in),
                f_code.eq(e.code), f_escape.eq(e.escape), f_nbits.eq(e.nbits),
                f_last.eq(chunk_last & last_pair),
            ]
        # (a split escape: its code field holds its second read)
        split = (e.escape & (e.code != 0)) if X2 else 0
        m.d.sync += [f_out.eq(fire), f_split.eq(fire & split), f_final.eq(fire & tail),
                     f_pad.eq(pad_step)]
        with m.If(ring_clear):
            m.d.sync += [e_valid.eq(0), f_valid.eq(0), s_valid.eq(0), b_valid.eq(0)]
        nonzero = Signal()
        m.d.comb += [
            nonzero.eq(new_state != 0),
            found_state.eq(nonzero & f_final),
            found_padding.eq(nonzero & f_pad),
        ]

        # --- output: raw extra bits aligned, then a FIFO whose room is known from a register
        # (a split escape's pair leaves once its second read is in: the ring waits for it, so
        # no other pair comes in between)
        o_valid = Signal()
        o_pair = Signal(pair_layout)
        aligned = bit_select(m, platform, f_field, f_nbits, X1)    # the extra bits
        second_go = second & bits_ok
        m.d.sync += o_valid.eq((f_out & ~f_split) | second_go)
        with m.If(f_out):
            m.d.sync += [
                o_pair.code.eq(f_code),
                o_pair.escape.eq(f_escape),
                o_pair.raw[:X1].eq(aligned),
                o_pair.last.eq(f_last),
            ]
        if X2:
            with m.If(f_out | second_go):   # (the next bits: a split escape's second read)
                m.d.sync += o_pair.raw[X1:].eq(reader.field[:X2])
        room = Signal()     # 4 places free: for the pairs in E, F and the output register
        m.d.sync += room.eq(out_fifo.w_level <= self.OUT_DEPTH - 4)
        m.d.comb += [
            out_fifo.w_data.eq(o_pair),
            out_fifo.w_en.eq(o_valid),
            self.pairs.payload.eq(out_fifo.r_data),
            self.pairs.valid.eq(out_fifo.r_rdy),
            out_fifo.r_en.eq(self.pairs.ready),
        ]
        drained = ~f_out & ~o_valid & (out_fifo.r_level == 0)

        # --- control
        desc = Signal(ChunkHeader)      # only word 0's fields are looked at from this view
        m.d.comb += desc.as_value()[:32].eq(reader.head)
        busy = Signal()
        m.d.comb += self.status.busy.eq(busy)

        def on_fail():  # last in a state, so that it takes priority over its other m.next
            with m.If(failed):
                m.next = "DRAIN"

        def finish():   # the chunk's words are all in and used: drop them, give the verdict
            m.d.comb += [reader.flush.eq(1), reader.restart.eq(1)]
            m.d.sync += [busy.eq(0), code.eq(Mux(given != ErrorCode.NONE, given, own)),
                         running.eq(0), step_take.eq(32)]
            m.next = "IDLE"

        m.d.comb += body_step.eq(reader.consume & busy)

        with m.FSM(name="fsm"):
            with m.State("IDLE"):
                m.d.comb += [self.table.ready.eq(drained), self.drained.eq(drained),
                             ring_clear.eq(1)]
                # the descriptor is taken (32 bits at position 0) as it comes (a table write taken
                # in this cycle still lands, a cycle later, before the chunk reads the table)
                with m.If(reader.has_head):
                    m.d.comb += reader.consume.eq(1)
                    m.d.sync += [
                        busy.eq(1), own.eq(ErrorCode.NONE), code.eq(ErrorCode.NONE),
                        pm1.eq(desc.pairs_minus_1), chunk_last.eq(desc.last),
                        # (3, no valid count, as 4: whatever the descriptor, the ring reads
                        # bits and the chunk ends, at the latest when they run out)
                        states.eq(Mux(desc.states_log2[1], 4, 1 << desc.states_log2[0])),
                        slot.eq(0),
                        last_pair.eq(desc.pairs_minus_1 == 0),
                        step_take.eq(desc.table_log_minus_8 + 8),
                    ]
                    m.next = "INIT"

            with m.State("INIT"):   # the initial states, table_log bits each, into the ring
                m.d.sync += tail.eq(_small(pm1, 3) & (pm1 < states))
                with m.If(slot >= states):      # a ring position without a state
                    m.d.comb += [advance.eq(1), f_load.eq(1)]
                with m.Elif(bits_ok):
                    m.d.comb += [advance.eq(1), f_load.eq(1), token_in.eq(1),
                                 reader.consume.eq(1)]
                with m.If(advance):
                    m.d.sync += slot.eq(slot + 1)
                    with m.If(slot == RING - 1):
                        m.d.sync += running.eq(1)
                        m.next = "RUN"
                on_fail()

            with m.State("RUN"):
                go = e_valid & ~second & bits_ok & room
                m.d.comb += [
                    advance.eq(~e_valid | go), f_load.eq(~e_valid | go), token_in.eq(go),
                    fire.eq(go), reader.consume.eq(go | second_go),
                ]
                with m.If(go):
                    m.d.sync += [pm1.eq(pm1 - 1), last_pair.eq(pm1 == 1),
                                 tail.eq(_small(pm1, 3) & (pm1[:3] <= states))]
                    with m.If(split):
                        m.d.sync += [second.eq(1), step_take.eq(e.code)]
                    with m.If(last_pair):
                        m.d.sync += running.eq(0)
                        m.next = "PAD"
                with m.If(second_go):
                    m.d.sync += second.eq(0)
                on_fail()

            with m.State("PAD"):    # after the last pair: what is left of the body
                rest = 32 - reader.pos[:5]
                here = Mux(high, reader.present[1], reader.present[0])  # a word at the position
                beyond = Mux(high, reader.present[2], reader.present[1])  # and one after it
                with m.If(second):      # the last pair's second read first
                    m.d.comb += reader.consume.eq(second_go)
                    with m.If(second_go):
                        m.d.sync += second.eq(0)
                with m.Else():
                    m.d.sync += [pad_left.eq(rest), step_take.eq(
                        Mux(reader.pos[:5] < 32 - PAD_STEP, PAD_STEP, rest))]
                with m.If(second):
                    pass
                with m.Elif(beyond | (here & reader.settled & (reader.pos[:5] == 0))):
                    m.d.comb += found_padding.eq(1)     # 32 or more bits left
                with m.Elif(reader.settled & ~here):    # the body ends at the position
                    m.next = "CHECK"
                with m.Elif(reader.settled):
                    m.next = "PADDING"
                on_fail()

            with m.State("PADDING"):    # the rest of the last word, 8 bits a cycle, is 0
                rest = pad_left - PAD_STEP      # (step_take is PAD_STEP, or all that is left)
                with m.If(pad_left == 0):
                    m.next = "CHECK"
                with m.Elif(bits_ok):
                    m.d.comb += [pad_step.eq(1), f_load.eq(1), reader.consume.eq(1)]
                    m.d.sync += [pad_left.eq(Mux(pad_left > PAD_STEP, rest, 0)),
                                 step_take.eq(Mux(pad_left > 2 * PAD_STEP, PAD_STEP, rest))]
                on_fail()

            with m.State("CHECK"):      # the last padding check and final states are in
                m.d.comb += ring_clear.eq(1)
                with m.If(failed):
                    m.next = "DRAIN"
                with m.Else():
                    finish()

            with m.State("DRAIN"):  # drop the rest of a broken chunk, up to its last word
                m.d.comb += [reader.flush.eq(1), ring_clear.eq(1)]
                m.d.sync += second.eq(0)
                with m.If(reader.ended):
                    finish()
        return m
