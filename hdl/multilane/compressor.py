"""Multi-lane compressor: beats of several values in, chunks dealt to ``lanes`` compressor lanes,
the payload gathered back in order, several words per beat (the multi-lane decompressor's
input)."""

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.ans.encode.compressor import Compressor
from hdl.common.block_fifo import BlockFIFO
from hdl.common.ports import ErrorCode, Status, TableWrite
from hdl.convert.formats import check_format, value_bits

from .decompressor import LANES_MAX, InBeat, Values, _gather, _or_all

__all__ = ["MultiLaneCompressor", "OUT_WIDTHS", "CHUNK_PAIRS_MAX", "chunk_pairs_for"]

#: Output beat widths, in 32-bit words.
OUT_WIDTHS = (1, 2, 4)
#: The default chunk at most: with its final states (up to 4), 1020 of a lane's 1024-entry
#: block-RAM chunk buffers; 8 x 127, so every power-of-two lane count up to 8 gets it whole.
CHUNK_PAIRS_MAX = 1016


def chunk_pairs_for(lanes):
    """The default chunk of ``lanes`` lanes: the largest multiple of ``lanes`` up to
    :data:`CHUNK_PAIRS_MAX` (1016 for 1, 2, 4 and 8 lanes, 1010 for 10)."""
    return CHUNK_PAIRS_MAX - CHUNK_PAIRS_MAX % lanes


def _LaneBeat(width):
    """Lane -> collector: up to ``width`` consecutive words of one chunk (header and body).
    ``end`` marks the chunk's final beat (at least one word), ``last`` a tensor's final chunk."""
    return data.StructLayout({
        "data": data.ArrayLayout(32, width),
        "count": range(width + 1),
        "end": 1,
        "last": 1,
    })


class _Lane(wiring.Component):
    """One lane: beat FIFO -> value serialiser -> :class:`~hdl.ans.encode.compressor.Compressor` -> word
    gatherer -> output FIFO.

    The lane's compressor sees the chunks dealt to it as one long tensor: chunk after chunk of
    ``chunk_pairs`` values, ``last`` on the final value of a tensor's final chunk (chunks are
    independent, and a chunk header's only tensor-level field is that ``last``). The gatherer
    follows the chunk headers (``body_words``) to mark each chunk's final beat.

    As in the decompressor's lanes (:class:`hdl.multilane.decompressor._Lane`), :attr:`beats` offers nothing
    after a chunk's ``end`` beat until its ready has been low for a cycle, and each beat taken
    appears a cycle later in :attr:`taken` (a register, all zero without one)."""

    def __init__(self, fmt, *, lanes, out_width, table_log_max, states, chunk_pairs,
                 in_beats, out_beats):
        self._fmt, self._L, self._W = fmt, lanes, out_width
        self._R, self._S, self._N = table_log_max, states, chunk_pairs
        self._in_beats, self._out_beats = in_beats, out_beats
        self._bits = value_bits(fmt)
        super().__init__({
            "entries": In(stream.Signature(Values(self._bits, lanes))),
            "room": Out(1),
            "table": In(stream.Signature(TableWrite)),
            "beats": Out(stream.Signature(_LaneBeat(out_width))),
            "taken": Out(_LaneBeat(out_width)),
            "taken_valid": Out(1),
            "status": Out(Status),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        L, W = self._L, self._W
        entry_layout = Values(self._bits, L)
        beat_layout = _LaneBeat(W)
        m.submodules.in_fifo = in_fifo = BlockFIFO(entry_layout.size, self._in_beats)
        m.submodules.compressor = comp = Compressor(
            self._fmt, table_log_max=self._R, states=self._S, chunk_pairs=self._N)
        m.submodules.out_fifo = out_fifo = BlockFIFO(beat_layout.size, self._out_beats)

        # The entry is registered here, near the lane's FIFO (the dispatcher's beat fans out to
        # every lane); it reaches the FIFO three cycles after the dispatcher's decision, made
        # from `room` as the dispatcher registered it a cycle earlier, a cycle after this
        # register: room for six beats in flight.
        entry_valid = Signal()
        entry = Signal(entry_layout)
        m.d.sync += [entry_valid.eq(self.entries.valid), entry.eq(self.entries.payload)]
        m.d.comb += [
            in_fifo.w.payload.eq(entry),
            in_fifo.w.valid.eq(entry_valid),
            self.entries.ready.eq(in_fifo.level <= self._in_beats - 2),
        ]
        m.d.sync += self.room.eq(in_fifo.level <= self._in_beats - 7)

        # --- serialiser: the beat's values one per clock, shifted down so that value 0 leaves
        following = Signal(entry_layout)
        following_valid = Signal()
        held = Signal(entry_layout)
        held_valid = Signal()
        left = Signal(range(L + 1))     # values of `held` not yet sent
        v = comp.values
        sent = v.valid & v.ready
        refill = following_valid & (~held_valid | (sent & (left == 1)))   # following -> held
        # the FIFO is read only into an empty `following` (a register: the refill decision, made
        # from `left` and the compressor's ready, stays out of the FIFO's read path, which
        # crossed the die in the 8-lane top at bd229d6: 12.2 ns, 9.8 of it routing); a beat of
        # several values hides the cycle this costs. A beat of one value (one lane) would leave
        # every other clock: there the FIFO is read into `following` as it empties too.
        if L == 1:
            m.d.comb += in_fifo.r.ready.eq(~following_valid | refill)
        else:
            m.d.comb += in_fifo.r.ready.eq(~following_valid)
        with m.If(refill):
            m.d.sync += following_valid.eq(0)
        with m.If(in_fifo.r.valid & in_fifo.r.ready):
            m.d.sync += [following.eq(in_fifo.r.payload), following_valid.eq(1)]
        m.d.comb += [
            v.valid.eq(held_valid),
            v.payload.value.eq(held.value[0]),
            v.payload.last.eq(held.last & (left == 1)),
        ]
        with m.If(sent):
            m.d.sync += [held.value.as_value().eq(held.value.as_value() >> self._bits),
                         left.eq(left - 1)]
            with m.If(left == 1):
                m.d.sync += held_valid.eq(0)
        with m.If(refill):
            m.d.sync += [held.eq(following), left.eq(following.count), held_valid.eq(1)]

        # --- table: straight to the compressor (the top writes only while every lane is idle)
        wiring.connect(m, wiring.flipped(self.table), comp.table)

        # --- gatherer: words -> beats of up to W words, the chunk's final word ends a beat
        w = comp.words.payload
        hpos = Signal(range(4))         # 0, 1, 2: header words; 3: body
        body_left = Signal(20)          # body words still to come (from header word 1)
        ends = Signal()                 # the word on comp.words is its chunk's final one
        m.d.comb += ends.eq(Mux(hpos == 2, body_left == 0, (hpos == 3) & (body_left == 1)))
        buf = Signal(data.ArrayLayout(32, W))
        count = Signal(range(W + 1))
        end = Signal()                  # the chunk's final word is in buf
        last = Signal()
        out_room = Signal()
        m.d.sync += out_room.eq(out_fifo.level < self._out_beats - 2)
        push = Signal()
        m.d.comb += push.eq(out_room & ((count == W) | end))
        beat = Signal(beat_layout)
        m.d.comb += [
            beat.data.eq(buf), beat.count.eq(count), beat.end.eq(end), beat.last.eq(last & end),
            out_fifo.w.payload.eq(beat),
            out_fifo.w.valid.eq(push),
            comp.words.ready.eq(((count < W) & ~end) | push),
        ]
        take = comp.words.valid & comp.words.ready
        slot = Signal(range(W + 1))
        m.d.comb += slot.eq(count)
        with m.If(push):
            m.d.sync += [count.eq(0), end.eq(0), last.eq(0)]
            m.d.comb += slot.eq(0)
        _gather(m, buf, slot, take, push, w.data)       # (unused slots leave as 0)
        with m.If(take):
            m.d.sync += count.eq(slot + 1)
            with m.Switch(hpos):
                with m.Case(1):
                    m.d.sync += [body_left.eq(w.data), hpos.eq(2)]
                with m.Case(3):
                    m.d.sync += body_left.eq(body_left - 1)
                with m.Default():
                    m.d.sync += hpos.eq(hpos + 1)
            with m.If(ends):
                m.d.sync += [end.eq(1), last.eq(w.last), hpos.eq(0)]

        head = beat_layout(out_fifo.r.payload)
        stopped = Signal()              # the chunk's end beat has been taken, the ready not low
        fire = Signal()
        m.d.comb += [
            self.beats.payload.eq(head),
            self.beats.valid.eq(out_fifo.r.valid & ~stopped),
            out_fifo.r.ready.eq(self.beats.ready & ~stopped),
            fire.eq(self.beats.valid & self.beats.ready),
        ]
        with m.If(fire & head.end):
            m.d.sync += stopped.eq(1)
        with m.Elif(~self.beats.ready):
            m.d.sync += stopped.eq(0)
        m.d.sync += [self.taken_valid.eq(fire), self.taken.eq(Mux(fire, head, 0))]
        m.d.comb += [
            self.status.eq(comp.status),
        ]
        # (a register: the top ORs every lane's busy into its status and its error clear; a
        # cycle late to fall, and the entry that makes it rise is counted as it arrives)
        m.d.sync += self.busy.eq(self.entries.valid | entry_valid | (in_fifo.level != 0) |
                                 following_valid | held_valid | comp.status.busy |
                                 (count != 0) | end | (out_fifo.level != 0) | fire |
                                 self.taken_valid)
        return m


class MultiLaneCompressor(wiring.Component):
    """``lanes`` compressor lanes behind one value stream and one payload stream.

    Same use as :class:`~hdl.ans.encode.compressor.Compressor`: write the tensor's table
    (:meth:`golden.ans.codec.Table.encoder_image`) through :attr:`table` (every lane gets it; a
    write is taken once the whole top is idle), then stream the tensor's values into
    :attr:`values`, ``lanes`` per beat (:func:`~hdl.multilane.decompressor.Values`), ``last`` on the final
    beat, the only one that may hold fewer. The payload leaves :attr:`words` equal to
    :func:`golden.ans.codec.encode_payload` (same table, ``chunk_pairs`` and ``states``), in beats
    of ``out_width`` words (:func:`~hdl.multilane.decompressor.InBeat`: what
    :class:`~hdl.multilane.decompressor.MultiLaneDecompressor` takes), every beat full but the tensor's last.

    **How.** ``chunk_pairs`` is a multiple of ``lanes``, so a chunk is ``chunk_pairs / lanes``
    whole beats. A dispatcher deals the chunks, round robin, to the lanes (lane 0 for a
    tensor's first chunk), a beat per clock into the lane's beat FIFO (``in_beats`` deep). A
    lane feeds its chunk's values, one per clock, to a :class:`~hdl.ans.encode.compressor.Compressor`, and
    gathers the chunk's words (header and body) into beats in its output FIFO (``out_beats``
    deep), the chunk's final beat partial. The collector takes the beats of lane after lane in
    the same round robin and packs them densely (a chunk's words follow the previous chunk's
    in the same beat).

    **Throughput.** Each lane compresses one value per clock plus its encoder's
    :meth:`~hdl.ans.encode.lane.EncodeLane.chunk_overhead` (13 cycles at 4 states) per chunk, so
    ``lanes`` lanes take up to ``lanes`` values per clock, while the output carries
    ``out_width`` words per clock (about ``3 * out_width`` bf16 weights). The lanes start one
    after another (a chunk's dispatch time apart); the collector waits for each chunk's
    compressed words, which a lane emits only once the whole chunk is coded (its header holds
    the body's CRC): latency about ``3 * chunk_pairs`` cycles. Measured: ``docs/results.md``.

    **Errors.** As one lane: UNCODABLE (a code the table cannot code) and CONFIG (a table of
    another format) from any lane; BEAT: a beat with fewer than ``lanes`` values that is not
    the tensor's final one (or with none): the dispatcher ends the tensor there (the payload
    keeps its shape: chunks, headers, ``last`` at the cut), so no stream hangs. The first error
    holds until a tensor starts while the top is idle; a tensor with an error has no valid
    payload. ``status.busy`` is high from the first value until the last word has left.

    Ready of :attr:`values` and :attr:`table` depend on registers only.

    Parameters
    ----------
    fmt : str
        Input format (a key of :data:`~hdl.convert.formats.FORMATS` or ``INT_FORMATS``).
    lanes : int
        Compressor lanes, 1 .. :data:`~hdl.multilane.decompressor.LANES_MAX`; also the values per input
        beat.
    table_log_max, states : int
        As :class:`~hdl.ans.encode.compressor.Compressor`.
    chunk_pairs : int or None
        Pairs per chunk, a multiple of ``lanes``; None: :func:`chunk_pairs_for` (1016 for 8
        lanes), which with the chunk's final states fills a lane's 1024-entry chunk buffers.
    out_width : int
        Words per output beat, one of :data:`OUT_WIDTHS`.
    in_beats, out_beats : int or None
        Depth of each lane's beat FIFO and output FIFO; None: a chunk's worth (its beats,
        rounded up to a power of two, and the words of a chunk at 16 bits per value), at
        least 16.

    Members
    -------
    values : In(stream.Signature(Values(bits, lanes)))
    table : In(stream.Signature(TableWrite))
    words : Out(stream.Signature(InBeat(out_width)))
    status : Out(Status)
    """

    def __init__(self, fmt="bf16", *, lanes=4, table_log_max=10, states=4, chunk_pairs=None,
                 out_width=4, in_beats=None, out_beats=None):
        check_format(fmt)
        if not isinstance(lanes, int) or not 1 <= lanes <= LANES_MAX:
            raise ValueError(f"lanes must be 1 .. {LANES_MAX}, not {lanes!r}")
        if out_width not in OUT_WIDTHS:
            raise ValueError(f"out_width must be one of {', '.join(map(str, OUT_WIDTHS))}, "
                             f"not {out_width!r}")
        if chunk_pairs is None and isinstance(lanes, int) and lanes >= 1:
            chunk_pairs = chunk_pairs_for(lanes)
        if not isinstance(chunk_pairs, int) or not 1 <= chunk_pairs <= 1 << 16 or \
                chunk_pairs % lanes:
            raise ValueError(f"chunk_pairs must be a multiple of lanes ({lanes}) in "
                             f"1 .. 65536, not {chunk_pairs!r}")
        bits = value_bits(fmt)
        if in_beats is None:    # a chunk's beats, rounded up to a power of two (the FIFO's
            in_beats = 1 << (max(16, chunk_pairs // lanes) - 1).bit_length()   # pointer logic)
        if out_beats is None:
            out_beats = max(16, -(-(3 + chunk_pairs * bits // 32) // out_width))
        for name, n in (("in_beats", in_beats), ("out_beats", out_beats)):
            if not isinstance(n, int) or n < 8:
                raise ValueError(f"{name} must be at least 8, not {n!r}")
        self._fmt, self._lanes, self._W = fmt, lanes, out_width
        self._R, self._S, self._N = table_log_max, states, chunk_pairs
        self._in_beats, self._out_beats = in_beats, out_beats
        self._bits = bits
        super().__init__({
            "values": In(stream.Signature(Values(bits, lanes))),
            "table": In(stream.Signature(TableWrite)),
            "words": Out(stream.Signature(InBeat(out_width))),
            "status": Out(Status),
        })

    @property
    def fmt(self):
        return self._fmt

    @property
    def lanes(self):
        return self._lanes

    @property
    def out_width(self):
        return self._W

    @property
    def chunk_pairs(self):
        return self._N

    @property
    def table_log_max(self):
        return self._R

    @property
    def states(self):
        return self._S

    def elaborate(self, platform):
        m = Module()
        L, W = self._lanes, self._W
        lanes = []
        for k in range(L):
            lane = _Lane(self._fmt, lanes=L, out_width=W, table_log_max=self._R,
                         states=self._S, chunk_pairs=self._N, in_beats=self._in_beats,
                         out_beats=self._out_beats)
            m.submodules[f"lane{k}"] = lane
            lanes.append(lane)
        lanes_busy = Signal()
        m.d.comb += lanes_busy.eq(Cat(lane.busy for lane in lanes).any())

        # --- input FIFO (registered output; a beat per clock)
        in_layout = Values(self._bits, L)
        m.submodules.in_fifo = in_fifo = fifo.SyncFIFOBuffered(width=in_layout.size, depth=4)
        table_valid = Signal()
        m.d.comb += [
            in_fifo.w_data.eq(self.values.payload),
            in_fifo.w_en.eq(self.values.valid & ~table_valid),
            self.values.ready.eq(in_fifo.w_rdy & ~table_valid),
        ]

        # --- dispatcher: beat after beat to lane `cur`, the next lane after a chunk's last beat
        raw = in_layout(in_fifo.r_data)
        beats_per_chunk = self._N // L
        cur = Signal(range(L))
        in_chunk = Signal(range(beats_per_chunk))
        at_start = Signal(init=1)       # the next beat is a tensor's first
        # the room of lane `cur`, registered (for the lane that is `cur` in the next cycle): the
        # far lanes' room stays out of the input FIFO's read enable
        room = Signal()
        cur_next = Signal(range(L))
        m.d.sync += [room.eq(Array(lane.room for lane in lanes)[cur_next]), cur.eq(cur_next)]
        fixed = Signal(in_layout)       # the beat as the lane gets it
        bad = Signal()
        m.d.comb += [
            fixed.value.eq(raw.value),
            fixed.count.eq(Mux(raw.count == 0, 1, Mux(raw.count > L, L, raw.count))),
            bad.eq((raw.count == 0) | (raw.count > L) | ((raw.count != L) & ~raw.last)),
            fixed.last.eq(raw.last | (fixed.count != L)),
        ]
        w_valid = Signal(L)             # one-hot: the lane that takes the registered beat
        w_beat = Signal(in_layout)
        go = in_fifo.r_rdy & room
        m.d.comb += in_fifo.r_en.eq(room)
        m.d.sync += w_valid.eq(0)
        for k, lane in enumerate(lanes):
            m.d.comb += [lane.entries.payload.eq(w_beat), lane.entries.valid.eq(w_valid[k])]

        busy = Signal()                 # something of a tensor is anywhere
        m.d.comb += cur_next.eq(cur)
        with m.If(go):
            m.d.sync += [w_valid.eq(1 << cur), w_beat.eq(fixed), at_start.eq(fixed.last)]
            with m.If(fixed.last | (in_chunk == beats_per_chunk - 1)):
                m.d.sync += in_chunk.eq(0)
                m.d.comb += cur_next.eq(Mux(fixed.last | (cur == L - 1), 0, cur + 1))
            with m.Else():
                m.d.sync += in_chunk.eq(in_chunk + 1)

        # --- status: the first error of a tensor (a bad beat, or the first lane error to rise),
        # cleared when a tensor starts while the top is idle
        code = Signal(ErrorCode)
        errs = Signal(L)
        errs_q = Signal(L)
        m.d.comb += errs.eq(Cat(lane.status.error for lane in lanes))
        m.d.sync += errs_q.eq(errs)
        rising = errs & ~errs_q
        lane_code = Signal(ErrorCode)
        for k in reversed(range(L)):    # lane 0 wins a tie
            with m.If(rising[k]):
                m.d.comb += lane_code.eq(lanes[k].status.code)
        in_start = Signal(init=1)       # the next beat taken in is a tensor's first
        taken = self.values.valid & self.values.ready
        with m.If(taken):
            m.d.sync += in_start.eq(self.values.payload.last)
        with m.If(taken & in_start & ~busy):
            m.d.sync += code.eq(ErrorCode.NONE)
        with m.Elif(code == ErrorCode.NONE):
            with m.If(go & bad):
                m.d.sync += code.eq(ErrorCode.BEAT)
            with m.Elif(rising != 0):
                m.d.sync += code.eq(lane_code)

        # --- table: broadcast through a register while everything is idle
        table_ok = Signal()
        table_write = Signal(TableWrite)
        m.d.comb += self.table.ready.eq(table_ok)
        m.d.sync += [table_valid.eq(self.table.valid & table_ok),
                     table_write.eq(self.table.payload)]
        for lane in lanes:
            m.d.comb += [lane.table.payload.eq(table_write), lane.table.valid.eq(table_valid)]

        # --- collector: stage 1 takes the head lane's beats into a small FIFO; stage 2 packs
        # them densely. A lane's ready is a register, high in the cycle after ``s1_room`` (room
        # in the FIFO, a register) while the lane is the head; the beat taken is seen a cycle
        # later in the lane's ``taken`` register (the lanes' ORed together: one lane takes at a
        # time) and written into the FIFO. Its ``end`` moves the head on; the next lane's ready
        # rises a cycle after that: two idle cycles per chunk, three when a lane follows itself
        # (its ready must fall for a cycle first). Every path from a far lane starts at a
        # flip-flop of the lane and ends at one here.
        head = Signal(range(L))
        got_valid = Signal()            # a lane's beat taken in the last cycle ...
        got = Signal(_LaneBeat(W))      # ... that one
        m.d.comb += [got_valid.eq(Cat(lane.taken_valid for lane in lanes).any()),
                     got.eq(_or_all(lane.taken.as_value() for lane in lanes))]
        # (`s1_room` is of the FIFO's level two cycles before a lane takes a beat, which is
        # written a cycle after: up to four in flight)
        s1_depth = 8
        m.submodules.s1_fifo = s1_fifo = fifo.SyncFIFOBuffered(
            width=data.Layout.cast(_LaneBeat(W)).size, depth=s1_depth)
        s1_room = Signal()
        m.d.sync += s1_room.eq(s1_fifo.w_level <= s1_depth - 5)
        m.d.comb += [s1_fifo.w_data.eq(got), s1_fifo.w_en.eq(got_valid)]
        s1_valid = s1_fifo.r_rdy
        s1 = _LaneBeat(W)(s1_fifo.r_data)
        s2_take = Signal()              # stage 2 takes stage 1's beat this cycle
        m.d.comb += s1_fifo.r_en.eq(s2_take)
        flush = Signal()                # pend holds a tensor's final words (the input waits)
        out_free = Signal()
        just_moved = Signal()           # the last cycle moved the head on ...
        moved_lane = Signal(range(L))   # ... from this lane
        chunk_done = got_valid & got.end
        m.d.sync += [just_moved.eq(chunk_done), moved_lane.eq(head)]
        with m.If(chunk_done):
            m.d.sync += head.eq(Mux(got.last | (head == L - 1), 0, head + 1))
        lane_ready = Signal(L)
        for k, lane in enumerate(lanes):
            m.d.sync += lane_ready[k].eq(s1_room & (head == k) &
                                         ~(just_moved & (moved_lane == k)))
            m.d.comb += lane.beats.ready.eq(lane_ready[k])

        out_layout = InBeat(W)
        m.submodules.out_fifo = out_fifo = fifo.SyncFIFOBuffered(width=out_layout.size, depth=6)
        out_valid = Signal()
        out_beat = Signal(out_layout)
        m.d.sync += [out_valid.eq(0), out_free.eq(out_fifo.w_level <= 3)]
        m.d.comb += [
            out_fifo.w_data.eq(out_beat),
            out_fifo.w_en.eq(out_valid),
            self.words.payload.eq(out_fifo.r_data),
            self.words.valid.eq(out_fifo.r_rdy),
            out_fifo.r_en.eq(self.words.ready),
        ]
        pend = Signal(data.ArrayLayout(32, W))      # words waiting for a beat to fill
        npend = Signal(range(W))
        total = Signal(range(2 * W + 1))
        m.d.comb += [total.eq(npend + s1.count), s2_take.eq(s1_valid & out_free & ~flush)]
        # the words of pend, then those of the beat; `joined[i]` for i < 2 W - 1
        joined = []
        for i in range(2 * W - 1):
            sel = Signal(32, name=f"joined{i}")
            choices = {p: (pend[i] if i < p else (s1.data[i - p] if i - p < W else 0))
                       for p in range(W)}
            with m.Switch(npend):
                for p, value in choices.items():
                    with m.Case(p):
                        m.d.comb += sel.eq(value)
            joined.append(sel)
        with m.If(flush & out_free):
            m.d.sync += [out_valid.eq(1), out_beat.count.eq(npend), out_beat.last.eq(1),
                         npend.eq(0), flush.eq(0), pend.eq(0)]
            for i in range(W):
                m.d.sync += out_beat.data[i].eq(pend[i])
        with m.Elif(s2_take):
            with m.If(total >= W):
                m.d.sync += [out_valid.eq(1), out_beat.count.eq(W),
                             out_beat.last.eq(s1.last & (total == W)),
                             npend.eq(total - W)]
                for i in range(W):
                    m.d.sync += out_beat.data[i].eq(joined[i])
                for i in range(W - 1):
                    m.d.sync += pend[i].eq(joined[W + i])
                with m.If(s1.last & (total != W)):
                    m.d.sync += flush.eq(1)
            with m.Elif(s1.last):
                m.d.sync += [out_valid.eq(1), out_beat.count.eq(total), out_beat.last.eq(1),
                             npend.eq(0), pend.eq(0)]
                for i in range(W):
                    m.d.sync += out_beat.data[i].eq(Mux(i < total, joined[i], 0))
            with m.Else():
                m.d.sync += npend.eq(total)
                for i in range(W - 1):
                    m.d.sync += pend[i].eq(joined[i])

        m.d.comb += busy.eq(~at_start | (in_fifo.w_level != 0) | (w_valid != 0) | lanes_busy |
                            got_valid | s1_valid | (npend != 0) | flush | out_valid | out_fifo.r_rdy)
        m.d.sync += table_ok.eq(~busy & ~table_valid & ~self.values.valid)
        m.d.comb += [
            self.status.busy.eq(busy),
            self.status.error.eq(code != ErrorCode.NONE),
            self.status.code.eq(code),
        ]
        return m
