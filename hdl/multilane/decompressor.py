"""Multi-lane decompressor: one payload stream of several words per beat, chunks dealt to
``lanes`` decoder lanes, the values gathered back in the tensor's order, several per beat."""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.format.layouts import (CHUNK_MAGIC, TABLE_LOG_MAX, TABLE_LOG_MIN, ChunkHeader,
                                   TableConfig)
from hdl.ans.decode.chunk_reader import BODY_WORDS_BITS, ChunkReader
from hdl.ans.decode.lane import DecodeLane, EntryWrite, LaneWord
from hdl.ans.decode.table_port import TablePort
from hdl.ans.decode.unpacker import PairUnpacker
from hdl.common.block_fifo import BlockFIFO
from hdl.common.ports import ErrorCode, Status, TableWrite
from hdl.convert.formats import FORMATS, extra_max, extra_step, float_books
from hdl.convert.pair_to_value import PairToFloat

__all__ = ["MultiLaneDecompressor", "InBeat", "Values", "LANES_MAX", "IN_WIDTHS"]

#: Largest number of lanes.
LANES_MAX = 16
#: Input beat widths, in 32-bit words. (A chunk is at least 4 words long, so that at most one
#: chunk starts in a beat of up to 4 words: the dispatcher handles a beat per clock.)
IN_WIDTHS = (1, 2, 4)

#: Bit of header word 0 that holds :attr:`ChunkHeader.last` (taken from the layout).
_LAST_BIT = data.Layout.cast(ChunkHeader)["last"].offset


def InBeat(width):
    """Input beat: ``count`` payload words (1 .. ``width``) in ``data[0 .. count-1]``, in stream
    order; ``last`` on the tensor's final beat, the only one that may hold fewer than
    ``width`` words (AXI-Stream ``TKEEP`` with whole words kept from the low end)."""
    return data.StructLayout({
        "data": data.ArrayLayout(32, width),
        "count": range(width + 1),
        "last": 1,
    })


def _Entry(width):
    """Dispatcher -> lane: a beat as it came, with the words that are this lane's (``keep``) and
    those that end one of its chunks (``last``), and what the dispatcher found wrong with the
    chunk whose last word is the entry's last ``last`` word (``error``; a chunk cut after a bad
    header, or by the tensor's end: one chunk of a beat at most)."""
    return data.StructLayout({"data": data.ArrayLayout(32, width), "keep": width, "last": width,
                              "error": ErrorCode})


def Values(value_bits, width):
    """Output beat: ``count`` values in ``value[0 .. count-1]``, in tensor order (the slots above
    are 0); ``last`` on the beat that holds the tensor's final value."""
    return data.StructLayout({
        "value": data.ArrayLayout(value_bits, width),
        "count": range(width + 1),
        "last": 1,
    })


def _Beat(value_bits, width):
    """What a lane hands to the collector: up to ``width`` values of one chunk. ``end`` marks
    the chunk's final beat (possibly empty), ``final`` a beat holding the chunk's final value,
    ``error`` the lane's verdict on the chunk (on the ``end`` beat)."""
    return data.StructLayout({
        "value": data.ArrayLayout(value_bits, width),
        "count": range(width + 1),
        "final": 1,
        "end": 1,
        "error": ErrorCode,
    })


def _or_all(values):
    """The OR of ``values`` (a balanced tree)."""
    values = list(values)
    while len(values) > 1:
        values = [values[i] | values[i + 1] if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]
    return values[0]


def _gather(m, buf, slot, take, push, value):
    """``buf[slot] = value`` on ``take``, every other slot cleared on ``push`` (unused slots
    leave as 0), written per slot as a flip-flop's enable and synchronous reset, so that each
    bit's flip-flop takes ``value`` straight (on ECP5 its CE and LSR, no LUT per bit; as an
    indexed write ABC9 built each bit as a 6-input LUT, about 4 LUT4)."""
    for i in range(len(buf)):
        load = Signal(name=f"load{i}")
        clear = Signal(name=f"clear{i}")
        m.d.comb += [load.eq(take & (slot == i)), clear.eq(push & ~load)]
        with m.If(clear):
            m.d.sync += buf[i].eq(0)
        with m.Elif(load):
            m.d.sync += buf[i].eq(value)


def _next_lane(lane, lanes):
    """The lane after ``lane`` of ``lanes``, round. For a power of two the count wraps by itself:
    no compare, and no synchronous reset that Yosys would derive from the register's own value
    (Yosys 0.70's ABC9 takes a loop through a flip-flop's LSR pin for a combinational loop, and
    its reintegration then fails an assertion)."""
    if lanes & (lanes - 1) == 0:
        return lane + 1
    return Mux(lane == lanes - 1, 0, lane + 1)


def _Ticket(lanes):
    """Dispatcher -> collector, one per chunk in payload order (or per tensor-level error)."""
    return data.StructLayout({
        "lane": range(lanes),
        "has_lane": 1,      # 0: no chunk, only ``error`` (words after the tensor's last chunk)
        "first": 1,         # first chunk of a tensor: the collector clears the status
        "last": 1,          # the chunk's header says it is the tensor's last
        "error": ErrorCode,  # what the dispatcher found (after the chunk, if it has one)
    })


class _Lane(wiring.Component):
    """One lane: beat FIFO -> word picker -> ChunkReader (chunk framing: header words 1-2 out,
    the body's CRC checked) -> DecodeLane -> PairUnpacker -> PairToFloat -> beat gatherer -> output
    FIFO. Every chunk it
    receives (``last`` on its final word) is decoded on its own (the picker sets the ``last``
    bit of the chunk's header, so its final pair is marked) and leaves as beats of up to
    ``width`` values, the last one marked ``end`` and carrying the lane's verdict (an error
    chunk always ends with an ``end`` beat). The dispatcher has checked each chunk's header and
    length; what it found comes with the chunk's last word (an entry's ``error``). The table's
    entries come from the top's :class:`~hdl.ans.decode.table_port.TablePort`, its config word through
    :attr:`config` (registered here, beside the lane's logic).

    The dispatcher writes whole input beats into :attr:`entries` with the words of this lane
    marked; it writes only while :attr:`room` (a register) is high.

    The collector takes the beats through :attr:`beats`, whose ready is a register of the
    collector's, a cycle or two behind its state: after a chunk's ``end`` beat the lane offers
    nothing more (``valid`` low) until that ready has been low for a cycle, so that a late ready
    never takes the first beat of the lane's next chunk. Each beat taken appears a cycle later
    in :attr:`taken` (a register, all zero in a cycle without one, so that the collector can OR
    the lanes' together), from where the collector uses it: its paths from a far lane start at
    flip-flops of the lane, not at its block RAMs."""

    def __init__(self, fmt, *, width, in_width, table_log_max, in_beats, out_beats):
        self._fmt, self._width, self._in_width = fmt, width, in_width
        self._table_log_max = table_log_max
        self._in_beats, self._out_beats = in_beats, out_beats
        e, mb = FORMATS[fmt]
        self._extra_max = extra_max(fmt)
        self._extra_step = extra_step(fmt)
        self._bits = 1 + e + mb
        super().__init__({
            "entries": In(stream.Signature(_Entry(in_width))),
            "room": Out(1),
            "table": In(stream.Signature(EntryWrite(table_log_max))),
            "config": In(TableConfig),
            "beats": Out(stream.Signature(_Beat(self._bits, width))),
            "taken": Out(_Beat(self._bits, width)),
            "taken_valid": Out(1),
            "idle": Out(1),     # holds nothing of a tensor: a table write may go in
            "busy": Out(1),     # holds something (words, values or beats)
        })

    def elaborate(self, platform):
        m = Module()
        e, mb = FORMATS[self._fmt]
        G = self._width
        K = self._in_width
        beat_layout = _Beat(self._bits, G)
        entry_layout = _Entry(K)

        m.submodules.in_fifo = in_fifo = BlockFIFO(entry_layout.size, self._in_beats)
        m.submodules.front = front = ChunkReader(table_log_max=self._table_log_max,
                                                   framing="chunk")
        m.submodules.decoder = dec = DecodeLane(
            table_log_max=self._table_log_max, extra_max=self._extra_max,
            extra_step=self._extra_step)
        m.submodules.unpacker = unp = PairUnpacker(self._extra_max)
        m.submodules.packer = pk = PairToFloat(e, mb, self._extra_max)
        m.submodules.out_fifo = out_fifo = BlockFIFO(beat_layout.size, self._out_beats)

        # The entry is registered here, near the lane's FIFO (the dispatcher's data fans out to
        # every lane); it reaches the FIFO four cycles after the dispatcher's decision, which
        # was made from `room` (a register) as the dispatcher saw it a cycle before: the room
        # leaves space for six beats in flight.
        entry_valid = Signal()
        entry = Signal(entry_layout)
        m.d.sync += [entry_valid.eq(self.entries.valid), entry.eq(self.entries.payload)]
        m.d.comb += [
            in_fifo.w.payload.eq(entry),
            in_fifo.w.valid.eq(entry_valid),
            self.entries.ready.eq(in_fifo.level <= self._in_beats - 2),
        ]
        m.d.sync += self.room.eq(in_fifo.level <= self._in_beats - 7)
        wiring.connect(m, front.lane_words, dec.words)
        wiring.connect(m, dec.pairs, unp.pairs)
        wiring.connect(m, unp.out, pk.pairs)
        # (the top's config word, registered beside this lane's logic: it changes only between
        # tensors, while every lane is idle)
        config = Signal(TableConfig)
        m.d.sync += config.eq(self.config)
        m.d.comb += [
            unp.code_bits.eq(config.code_bits),
            pk.codebook.eq(config.codebook),
        ]

        # --- chunk boundaries: the lane leaves busy when a chunk is done (good or bad)
        busy = dec.status.busy
        busy_q = Signal()
        m.d.sync += busy_q.eq(busy)
        done = Signal()                 # a chunk has finished; its end beat is not out yet
        done_code = Signal(ErrorCode)
        # a chunk's last word has gone to the lane, its verdict is not in
        pending = Signal()
        with m.If(busy_q & ~busy):
            m.d.sync += pending.eq(0)
        with m.If(dec.words.valid & dec.words.ready & dec.words.payload.last):
            m.d.sync += pending.eq(1)
        drained = ~dec.pairs.valid & ~unp.out.valid & ~pk.values.valid
        # The front end starts the next chunk once this one's end beat has left, so that the
        # pipeline holds one chunk's values when the end beat is made.
        m.d.comb += front.settled.eq(~busy & ~busy_q & ~done & ~pending &
                                     ~front.lane_words.valid)

        # --- word picker: the kept words of each entry, in order, one per clock, into a small
        # FIFO whose room is a register (the decoder's ready stays out of the picker)
        m.submodules.word_fifo = word_fifo = fifo.SyncFIFOBuffered(
            width=data.Layout.cast(LaneWord).size, depth=4)
        held = Signal(entry_layout)
        rest = Signal(K)                # kept words of `held` not yet sent
        start = Signal(init=1)          # the next word is a chunk's first (its header word 0)
        m.d.comb += [
            front.words.payload.eq(word_fifo.r_data),
            front.words.valid.eq(word_fifo.r_rdy),
            word_fifo.r_en.eq(front.words.ready),
        ]
        pick = Signal(K)                # the lowest word left (one-hot)
        m.d.comb += pick.eq(rest & (~rest + 1))
        word = Signal(32)
        word_last = Signal()
        for i in range(K):
            with m.If(pick[i]):
                m.d.comb += [word.eq(held.data[i]), word_last.eq(held.last[i])]
        emit = (rest != 0) & word_fifo.w_rdy
        out_word = Signal(LaneWord)
        # (the entry's error goes with its last chunk end: no other chunk end follows it)
        final = (held.last & rest & ~pick) == 0
        m.d.comb += [
            out_word.data.eq(word | (start << _LAST_BIT)),
            out_word.last.eq(word_last),
            out_word.error.eq(Mux(word_last & final, held.error, ErrorCode.NONE)),
            word_fifo.w_data.eq(out_word),
            word_fifo.w_en.eq(emit),
        ]
        with m.If(emit):
            m.d.sync += [rest.eq(rest & ~pick), start.eq(word_last)]
        # the next entry waits in a register of its own: the FIFO's ready is a register then
        following = Signal(entry_layout)
        following_valid = Signal()
        m.d.comb += in_fifo.r.ready.eq(~following_valid)
        with m.If(in_fifo.r.ready & in_fifo.r.valid):
            m.d.sync += [following.eq(in_fifo.r.payload), following_valid.eq(1)]
        with m.If(following_valid & ((rest == 0) | (emit & ((rest & ~pick) == 0)))):
            m.d.sync += [held.eq(following), rest.eq(following.keep), following_valid.eq(0)]

        with m.If(busy_q & ~busy):
            m.d.sync += [done.eq(1), done_code.eq(dec.status.code)]

        # --- table writes only while the lane holds nothing of a tensor (registered: it lags
        # by a cycle, and a lane only gets busy from a tensor's payload, which follows its table)
        idle = Signal()
        m.d.sync += idle.eq(~busy & ~busy_q & ~done & ~front.busy & ~pending &
                            ~front.lane_words.valid & ~entry_valid &
                            (in_fifo.level == 0) & ~following_valid & (rest == 0) &
                            (word_fifo.level == 0) & drained)
        m.d.comb += [
            self.idle.eq(idle),
            dec.table.payload.eq(self.table.payload),
            dec.table.valid.eq(self.table.valid & idle),
            self.table.ready.eq(dec.table.ready & idle),
        ]

        # --- gatherer: values -> beats of up to G values
        buf = Signal(data.ArrayLayout(self._bits, G))
        count = Signal(range(G + 1))
        final = Signal()                # the chunk's final value is in buf
        push_full = (count == G) & ~final
        push_end = done & drained
        # room for a beat, from a register: the FIFO's level compare stays out of the path from
        # here back through the packer's and the unpacker's readies into the decoding loop
        out_room = Signal()
        m.d.sync += out_room.eq(out_fifo.level < self._out_beats - 2)
        push = Signal()
        m.d.comb += push.eq(out_room & (push_full | push_end))
        beat = Signal(beat_layout)
        m.d.comb += [
            beat.value.eq(buf),
            beat.count.eq(count),
            beat.final.eq(final),
            beat.end.eq(push_end & ~push_full),
            beat.error.eq(done_code),
            out_fifo.w.payload.eq(beat),
            out_fifo.w.valid.eq(push),
        ]
        # a value is taken while there is room, or into slot 0 of the beat that leaves now
        room = (count < G) | (push & push_full)
        m.d.comb += pk.values.ready.eq(room & ~final)
        take = pk.values.valid & pk.values.ready
        slot = Signal(range(G + 1))
        m.d.comb += slot.eq(count)
        with m.If(push):
            m.d.sync += [count.eq(0), final.eq(0)]
            m.d.comb += slot.eq(0)
            with m.If(beat.end):
                m.d.sync += done.eq(0)
        with m.If(take):
            m.d.sync += count.eq(slot + 1)
            with m.If(pk.values.payload.last):
                m.d.sync += final.eq(1)
        _gather(m, buf, slot, take, push, pk.values.payload.value)

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
        # (a register: the top ORs every lane's busy into its status; a cycle late to fall, and
        # the entry that makes it rise is counted as it arrives)
        m.d.sync += self.busy.eq(~idle | self.entries.valid | entry_valid |
                                 (out_fifo.level != 0) | fire | self.taken_valid)
        return m


class MultiLaneDecompressor(wiring.Component):
    """``lanes`` decoder lanes behind one payload stream and one value stream.

    Same use as :class:`~hdl.ans.decode.decompressor.Decompressor`: write the tensor's table
    (:meth:`golden.ans.codec.Table.image`) through :attr:`table` (every lane gets it; a write is
    taken once every lane is idle, i.e. the previous tensor has been decoded), then stream the
    payload into :attr:`words`, ``in_width`` words per beat (:func:`InBeat`), ``last`` on its
    final beat. Values leave :attr:`values` in the tensor's order, up to ``lanes`` per beat.

    **How.** A dispatcher follows the chunk headers (``magic``, ``last``, ``body_words``) through
    the input beats, checks them against the table (table log, states, code book) once for all
    lanes, and deals the chunks, round robin, to the lanes (lane 0 for a tensor's first chunk):
    every beat goes whole into the beat FIFO of each lane that has a word in it (the chunk that
    ends in the beat and the one that starts there), with masks that say which words are the
    lane's and which end a chunk, and what the dispatcher found wrong with a chunk that ends
    there. A lane picks its words out, one per clock, checks the body's CRC
    (:class:`~hdl.ans.decode.chunk_reader.ChunkReader`, ``framing="chunk"``) and decodes each chunk on its
    own (:class:`~hdl.ans.decode.lane.DecodeLane`; the header's ``last`` bit set, so that its final pair is
    marked). The dispatcher
    keeps each chunk's true ``last`` in a ticket (one per chunk, in payload order, sent with
    the chunk's first beat). The lane gathers its values into beats of up to ``lanes`` values
    in an output FIFO; the collector follows the tickets, takes the beats of lane after lane
    and puts the true ``last`` on the tensor's final beat.

    **Output.** One beat carries ``count`` values (1 .. ``lanes``) of one chunk in
    ``value[0 .. count-1]``, in tensor order, the slots above 0. A beat holds consecutive values
    of one chunk (a lane packs them at one value per clock; the collector sends one beat per
    clock), so a chunk's final beat may be partial.

    **Throughput.** Each lane decodes one pair per clock (chunks of 4 interleaved states), so
    ``lanes`` lanes decode up to ``lanes`` values per clock, while the input carries them: a
    beat of ``in_width`` words holds about ``3 * in_width`` bf16 values at 10.6 bits each. Lanes
    run in parallel while a chunk fits in the buffers: the dispatcher writes a chunk at a beat
    per clock into its lane's beat FIFO (``in_beats`` deep) and moves on, and the collector
    sends a chunk at up to ``lanes`` values per clock from its lane's output FIFO
    (``out_values`` values) while the other lanes fill theirs. Chunks that fit in both (with
    the defaults: up to about 4000 pairs of bf16 weights, ``--chunk-pairs 4000``) keep every
    lane busy; bigger chunks still decode correctly, more slowly. A tensor costs about
    ``lanes - 1`` chunks' dispatch time (the lanes start one after another) plus the drain.
    Measured figures: ``docs/results.md``.

    **Errors.** ``status.code`` keeps the first error of a tensor, in the order of the output:
    values before the failing point leave as they would from one lane (a chunk found broken at
    its end, by its CRC, has already been emitted); from the error on, the values of the rest
    of the tensor are decoded and dropped, the collector emits nothing more of the tensor and
    no ``last``. The dispatcher itself finds a bad magic, a header that does not match the table
    or a body length no chunk has (the chunk is cut after that word, the rest of the tensor is
    dropped unread: MAGIC or CONFIG), a chunk the tensor's end cuts short (TRUNCATED), words
    after the last chunk (TRAILING) and a tensor that ends after a chunk not marked ``last``
    (TRUNCATED); the lanes find CRC mismatches and decoding errors, which come after the
    dispatcher's for the same chunk (golden's order of checks). Nothing hangs: the next
    tensor starts cleanly. ``status.busy`` is high from the first word until the tensor's last
    value has left.

    Ready of :attr:`words` and :attr:`table` depend on registers (FIFO levels, states) only,
    and no valid depends on a ready.

    Parameters
    ----------
    fmt : str
        Output format, a key of :data:`~hdl.convert.formats.FORMATS`.
    lanes : int
        Decoder lanes, 1 .. :data:`LANES_MAX`; also the values per output beat.
    table_log_max : int
        See :class:`~hdl.ans.decode.lane.DecodeLane`; each lane has its own table memory.
    in_width : int
        Words per input beat, one of :data:`IN_WIDTHS`.
    in_beats : int
        Depth of each lane's beat FIFO (at least 8).
    out_values : int or None
        Size of each lane's output FIFO, in values (a multiple of ``lanes``, at least
        ``4 * lanes``); None: 4096 rounded up to a multiple of ``lanes``, and at least
        ``512 * lanes`` (on ECP5 a lane's output FIFO is then 4 to 8 block RAMs).

    Members
    -------
    words : In(stream.Signature(InBeat(in_width)))
    table : In(stream.Signature(TableWrite))
    values : Out(stream.Signature(Values(bits, lanes)))
    status : Out(Status)
    """

    def __init__(self, fmt="bf16", *, lanes=4, table_log_max=10, in_width=4, in_beats=512,
                 out_values=None):
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        if not isinstance(lanes, int) or not 1 <= lanes <= LANES_MAX:
            raise ValueError(f"lanes must be 1 .. {LANES_MAX}, not {lanes!r}")
        if in_width not in IN_WIDTHS:
            raise ValueError(f"in_width must be one of {', '.join(map(str, IN_WIDTHS))}, "
                             f"not {in_width!r}")
        if not isinstance(in_beats, int) or in_beats < 8:
            raise ValueError(f"in_beats must be at least 8, not {in_beats!r}")
        if out_values is None:
            out_values = max(-(-4096 // lanes) * lanes, 512 * lanes)
        if not isinstance(out_values, int) or out_values < 4 * lanes or out_values % lanes:
            raise ValueError(f"out_values must be a multiple of lanes ({lanes}) and at least "
                             f"{4 * lanes}, not {out_values!r}")
        if not TABLE_LOG_MIN <= table_log_max <= TABLE_LOG_MAX:   # as DecodeLane says it
            raise ValueError(f"table_log_max must be {TABLE_LOG_MIN} .. {TABLE_LOG_MAX}, "
                             f"not {table_log_max}")
        self._fmt, self._lanes, self._in_width = fmt, lanes, in_width
        self._table_log_max = table_log_max
        self._in_beats, self._out_values = in_beats, out_values
        e, mb = FORMATS[fmt]
        self._bits = 1 + e + mb
        super().__init__({
            "words": In(stream.Signature(InBeat(in_width))),
            "table": In(stream.Signature(TableWrite)),
            "values": Out(stream.Signature(Values(self._bits, lanes))),
            "status": Out(Status),
        })

    @property
    def fmt(self):
        return self._fmt

    @property
    def lanes(self):
        return self._lanes

    @property
    def in_width(self):
        return self._in_width

    @property
    def table_log_max(self):
        return self._table_log_max

    def elaborate(self, platform):
        m = Module()
        N = self._lanes
        K = self._in_width
        lanes = []
        for k in range(N):
            lane = _Lane(self._fmt, width=N, in_width=K, table_log_max=self._table_log_max,
                         in_beats=self._in_beats, out_beats=self._out_values // N)
            m.submodules[f"lane{k}"] = lane
            lanes.append(lane)

        ticket_layout = _Ticket(N)
        ticket_depth = max(8, 4 * N)
        m.submodules.tickets = tickets = fifo.SyncFIFOBuffered(
            width=ticket_layout.size, depth=ticket_depth)
        ticket_room = Signal()
        m.d.sync += ticket_room.eq(tickets.w_level <= ticket_depth - 4)
        at_start = Signal(init=1)       # no beat of a tensor seen yet

        # --- table: broadcast through a register, taken when every lane is idle (the ready is
        # a register too, a cycle late: a lane leaves idle only when words of the next tensor
        # reach it, several cycles after they enter, so it still takes the write)
        all_idle = Signal()
        m.d.sync += all_idle.eq(Cat(lane.idle for lane in lanes).all())
        # (one table port for every lane: the config word, the entries' checks and the split of
        # wide escapes are made once; its entries leave from registers)
        table_ok = Signal()
        m.submodules.table_port = port = TablePort(
            table_log_max=self._table_log_max, extra_max=extra_max(self._fmt),
            extra_step=extra_step(self._fmt))
        wiring.connect(m, wiring.flipped(self.table), port.table)
        m.d.comb += port.accept.eq(table_ok)
        for lane in lanes:
            m.d.comb += [
                lane.table.payload.eq(port.entries.payload),
                lane.table.valid.eq(port.entries.valid),
                lane.config.eq(port.config),
            ]

        # --- dispatcher: one beat per clock, at most one chunk start in it. Four stages: the
        # input FIFO; Q, flags of each word taken as a chunk's header words; P, what the beat
        # says for a chunk starting at each of its words (nothing of the dispatcher's state
        # needed); S, the state loop, which picks among those.
        m.submodules.in_fifo = in_fifo = fifo.SyncFIFOBuffered(   # (depth 4: a beat per clock)
            width=data.Layout.cast(InBeat(K)).size, depth=4)
        m.d.comb += [
            in_fifo.w_data.eq(self.words.payload),
            in_fifo.w_en.eq(self.words.valid),
            self.words.ready.eq(in_fifo.w_rdy),
        ]
        raw = InBeat(K)(in_fifo.r_data)

        def thermometer(n):             # words 0 .. n-1
            return Cat(*(n > i for i in range(K)))

        def ending_at(n):               # word n-1
            return Cat(*(n == i + 1 for i in range(K)))

        # the table's config word, checked once per tensor (registered: it changes only between
        # tensors): a chunk header is a CONFIG error if its table log or its number of states
        # is not the table's, or if the table is of no use to this top
        cfg_log = Signal(3)             # table log - 8
        cfg_off = Signal()              # table log out of reach, code book not this format's,
                                        # or an entry no lane decodes
        supported = Cat(port.config.codebook == book.ident
                        for book in float_books(*FORMATS[self._fmt])).any()
        m.d.sync += [
            cfg_log.eq(port.config.table_log - 8),
            cfg_off.eq((port.config.table_log > self._table_log_max) |
                       (port.config.table_log < TABLE_LOG_MIN) | ~supported | port.bad),
        ]

        # stage Q: each word as header word 0 (magic, config, last) and as word 1 (body length)
        word_layout = data.StructLayout({
            "magic_bad": 1, "config_bad": 1, "hlast": 1,
            "bad": 1,                   # a body length that no chunk has: cut the chunk there
            "ge8": 1, "ge16": 1,        # body length >= 8, >= 16
        })
        q = Signal(data.StructLayout({
            "data": data.ArrayLayout(32, K), "count": range(K + 1), "last": 1, "full": 1,
            "word": data.ArrayLayout(word_layout, K),
        }))
        q_valid = Signal()
        pre_valid = Signal()
        pre_take = Signal()             # the state loop takes `pre` this cycle
        pre_load = ~pre_valid | pre_take
        # (a beat waits while a table write is in flight: the config checks' registers follow
        # the table port's a few cycles late)
        table_calm = Signal()
        port_busy = Signal()
        m.d.sync += [port_busy.eq(port.busy),
                     table_calm.eq(~(port.table.valid & port.table.ready) & ~port.busy &
                                   ~port_busy)]
        q_load = ~q_valid | pre_load
        m.d.comb += in_fifo.r_en.eq(q_load & table_calm)
        with m.If(q_load):
            m.d.sync += q_valid.eq(in_fifo.r_rdy & table_calm)
        with m.If(q_load & in_fifo.r_rdy & table_calm):
            m.d.sync += [q.data.eq(raw.data), q.count.eq(raw.count), q.last.eq(raw.last),
                         q.full.eq(raw.count == K)]
            for i in range(K):
                word = raw.data[i]
                head = ChunkHeader(Cat(word, word, word))
                body = word[:BODY_WORDS_BITS]
                m.d.sync += q.word[i].eq(Cat(
                    head.magic != CHUNK_MAGIC,
                    (head.table_log_minus_8 != cfg_log) | (head.states_log2 == 3) | cfg_off,
                    head.last,
                    (word == 0) | (word[BODY_WORDS_BITS:] != 0),
                    body[3:] != 0, body[4:] != 0))

        # stage P: per start position s, the new chunk's fate in this beat. The body length's
        # compares with small numbers use the flags of Q, so that no carry chain runs into them.
        start_layout = data.StructLayout({
            "magic_bad": 1, "hlast": 1, "has_word1": 1, "cut": 1, "ends": 1, "short": 1,
            "error": ErrorCode,         # what is wrong with the chunk, found in this beat
            "n": range(K + 1), "keep": K, "last": K, "rest": BODY_WORDS_BITS + 2,
            "rest_small": 1,            # rest < 8
            "rest_big": 1,              # rest > K
        })
        pre_layout = data.StructLayout({
            "data": data.ArrayLayout(32, K), "count": range(K + 1), "last": 1,
            "left0_le": 1,              # a chunk whose word 1 is word 0 here ends in the beat
            "left0_n": range(K + 1),    # ... its words in the beat
            "rest0": BODY_WORDS_BITS + 2,   # ... its words after the beat
            "rest0_small": 1,           # ... fewer than 8
            "rest0_big": 1,             # ... more than K
            "full": 1,                  # count == K
            "bad0": 1,
            "start": data.ArrayLayout(start_layout, K),
        })
        pre = Signal(pre_layout)
        with m.If(pre_load):
            m.d.sync += pre_valid.eq(q_valid)
        c_raw = q.count
        with m.If(pre_load & q_valid):
            w0 = q.word[0]
            m.d.sync += [
                pre.data.eq(q.data), pre.count.eq(c_raw), pre.last.eq(q.last),
                pre.bad0.eq(w0.bad), pre.full.eq(q.full),
            ]
            body0 = q.data[0][:BODY_WORDS_BITS]
            left0_le = ~w0.ge8 & (body0[:3] + 2 <= c_raw)
            rest0 = Signal(BODY_WORDS_BITS + 2)
            m.d.comb += rest0.eq(body0 - (c_raw - 2))
            m.d.sync += [
                pre.left0_le.eq(left0_le),
                pre.left0_n.eq(Mux(left0_le, body0[:3] + 2, c_raw)),
                pre.rest0.eq(rest0),
                pre.rest0_small.eq(~w0.ge16 & (body0[:4] + 2 < c_raw + 8)),    # rest0 < 8
                pre.rest0_big.eq(w0.ge8 | (body0[:3] + 2 > c_raw + K)),       # rest0 > K
            ]
            for s0 in range(K):
                w = q.word[s0]
                word1 = q.data[s0 + 1] if s0 + 1 < K else Const(0, 32)
                w1 = q.word[s0 + 1] if s0 + 1 < K else word_layout(Const(0, word_layout.size))
                has_word1 = (s0 + 1 < c_raw) if s0 + 1 < K else Const(0)
                magic_bad = w.magic_bad | w.config_bad      # (the header: cut after word 0)
                bad1 = has_word1 & w1.bad
                body1 = word1[:BODY_WORDS_BITS]
                avail = c_raw - s0
                rest = Signal(BODY_WORDS_BITS + 2, name=f"rest{s0}")   # body + 3 - avail
                m.d.comb += rest.eq(body1 - (avail - 3))
                length = body1[:3] + 3          # (when it fits in the beat, it is below 8)
                fits = has_word1 & ~bad1 & ~w1.ge8 & (length <= avail)
                cut = magic_bad | bad1
                n = Mux(magic_bad | ~has_word1, 1, Mux(bad1, 2, Mux(fits, length, avail)))
                ends = cut | fits
                st = pre.start[s0]
                m.d.sync += [
                    st.magic_bad.eq(magic_bad), st.hlast.eq(w.hlast & ~magic_bad),
                    st.error.eq(Mux(w.magic_bad, ErrorCode.MAGIC,
                                    Mux(w.config_bad | bad1, ErrorCode.CONFIG,
                                        Mux(q.last & ~ends, ErrorCode.TRUNCATED,
                                            ErrorCode.NONE)))),
                    st.has_word1.eq(has_word1), st.cut.eq(cut), st.ends.eq(ends),
                    st.short.eq(q.last & ends & ~cut & (s0 + n == c_raw) & ~w.hlast),
                    st.n.eq(n),
                    st.keep.eq(thermometer(s0 + n) & ~thermometer(s0)),
                    st.last.eq(Mux(ends | q.last, ending_at(s0 + n), 0)),
                    st.rest.eq(rest),
                    # (both only used when the chunk goes on past the beat)
                    st.rest_small.eq(~w1.ge16 & (body1[:4] + 3 < avail + 8)),
                    st.rest_big.eq(w1.ge8 | (body1[:3] + 3 > avail + K)),
                ]

        # stage S: the state loop, at two speeds. A plain beat (a full beat, not the tensor's
        # last, of a chunk whose length is known and that goes on past it; or any beat while
        # the tensor is dropped) is taken in one clock: it all goes to the open chunk's lane.
        # Any other beat (a chunk ends or starts in it, the tensor starts or ends) takes two:
        # in A the figures of the open chunk's part are registered, in B the new chunk's are
        # picked from stage P by where it starts, and the state is updated. A chunk costs two
        # or three such clocks, against hundreds of plain beats, and the loop is half as deep.
        c = pre.count
        in_last = pre.last
        cur_open = Signal()             # a chunk goes on into the next beat
        cur_known = Signal()            # ... whose length is known (else its word 1 comes next)
        cur_left = Signal(BODY_WORDS_BITS + 2)  # ... its words from word 0 of this beat on
        cur_lane = Signal(range(N))
        cur_hlast = Signal()            # ... its header says it is the tensor's last
        # flags kept beside cur_left, so that no compare of the 21-bit count is in the loop
        cur_small = Signal()            # cur_left < 8
        cur_big = Signal()              # cur_left > in_width: the chunk goes on past this beat
        next_lane = Signal(range(N))    # lane of the next chunk
        first = Signal(init=1)          # the next chunk is the tensor's first
        after_last = Signal()           # the tensor's last chunk has been dealt entirely
        dropping = Signal()             # an error was found: drop the rest of the tensor

        # phase A: what the beat holds of the chunk that goes on from earlier beats
        seg1 = cur_open & ~dropping
        cut1 = seg1 & ~cur_known & pre.bad0
        known_le = cur_small & (cur_left[:3] <= c)
        ends1 = Signal()                # (its words for this lane end in this beat)
        n1 = Signal(range(K + 1))
        m.d.comb += [
            ends1.eq(cut1 | Mux(cur_known, known_le, pre.left0_le)),
            n1.eq(Mux(cut1, 1, Mux(cur_known, Mux(known_le, cur_left[:3], c), pre.left0_n))),
        ]
        # ... and what is left of it after this beat, with its flags (big: a beat of K words
        # is not all; cur_left > 2K says so for any beat of up to K words)
        left_next = Signal(BODY_WORDS_BITS + 2)
        m.d.comb += left_next.eq(Mux(cur_known, cur_left - c, pre.rest0))
        left_next_small = Mux(cur_known, (cur_left[4:] == 0) & (cur_left[:4] < 8 + c),
                              pre.rest0_small)
        left_next_big = Mux(cur_known, cur_left > 2 * K, pre.rest0_big)
        a = Signal(data.StructLayout({
            "seg1": 1, "cut1": 1, "ends1": 1, "keep1": K, "last1": K, "s": range(K + 1),
            "left_next": BODY_WORDS_BITS + 2, "left_next_small": 1, "left_next_big": 1,
            "done1": 1, "room2": 1, "short1": 1,
            "error1": ErrorCode,        # what is wrong with the open chunk, found in this beat
        }))
        s = Mux(seg1, n1, 0)            # where a new chunk may start
        # (the tensor's chunks have ended)
        done1 = after_last | (seg1 & ends1 & ~cut1 & cur_hlast)
        phase_b = Signal()              # a's figures are those of `pre`
        just_b = Signal()               # B took a beat in the last clock
        plain_kind = dropping | (cur_open & cur_known & cur_big)
        plain = pre_valid & pre.full & ~in_last & plain_kind & ~phase_b & ~just_b
        go_a = pre_valid & ~phase_b & ~(pre.full & ~in_last & plain_kind)
        with m.If(go_a):
            m.d.sync += [
                a.seg1.eq(seg1), a.cut1.eq(cut1), a.ends1.eq(ends1),
                a.keep1.eq(Mux(seg1, thermometer(n1), 0)),
                a.last1.eq(Mux(seg1 & (ends1 | in_last), ending_at(n1), 0)),
                a.s.eq(s),
                a.left_next.eq(left_next), a.left_next_small.eq(left_next_small),
                a.left_next_big.eq(left_next_big),
                a.done1.eq(done1),
                a.room2.eq((s < c) & ~dropping & ~cut1),
                # (a tensor that ends after a chunk not marked last)
                a.short1.eq(in_last & seg1 & ends1 & ~cut1 & (n1 == c) & ~cur_hlast),
                # (its word 1 is here and bad, or the tensor ends before it does)
                a.error1.eq(Mux(cut1, ErrorCode.CONFIG,
                                Mux(in_last & seg1 & ~ends1, ErrorCode.TRUNCATED,
                                    ErrorCode.NONE))),
            ]

        # phase B: a chunk that starts at word s, its fate from stage P
        new = Signal(start_layout)
        m.d.comb += new.eq(Array(pre.start)[a.s[:max(1, (K - 1).bit_length())]])
        trailing = a.room2 & a.done1
        seg2 = a.room2 & ~a.done1
        cut2 = seg2 & new.cut
        ends2 = seg2 & new.ends
        short2 = seg2 & new.short

        # The lanes' room, registered: a clock old, and of the lanes of the clock before (a
        # plain beat waits a clock after B, which may have changed them).
        room_ok = Signal()
        m.d.sync += room_ok.eq(Array(lane.room for lane in lanes)[cur_lane] &
                               Array(lane.room for lane in lanes)[next_lane] & ticket_room)
        take_plain = plain & room_ok
        take_b = phase_b & room_ok
        accept = Signal()
        m.d.comb += [accept.eq(take_plain | take_b), pre_take.eq(accept)]
        m.d.sync += just_b.eq(take_b)
        with m.If(go_a):
            m.d.sync += phase_b.eq(1)
        with m.Elif(take_b):
            m.d.sync += phase_b.eq(0)

        # Lane writes: the decision is registered (stage W), each lane's masks are made from it
        # in the next cycle and registered once more; tickets leave through a register.
        w_valid = Signal()
        w_data = Signal(data.ArrayLayout(32, K))
        w_seg1, w_seg2 = Signal(), Signal()
        w_keep1, w_last1 = Signal(K), Signal(K)
        w_keep2, w_last2 = Signal(K), Signal(K)
        w_error1, w_error2 = Signal(ErrorCode), Signal(ErrorCode)
        w_lane1, w_lane2 = Signal(range(N)), Signal(range(N))
        m.d.sync += [
            w_valid.eq(accept), w_data.eq(pre.data),
            w_seg1.eq(Mux(phase_b, a.seg1, ~dropping)),
            w_keep1.eq(Mux(phase_b, a.keep1, (1 << K) - 1)),
            w_last1.eq(Mux(phase_b, a.last1, 0)),
            w_seg2.eq(phase_b & seg2),
            w_keep2.eq(Mux(seg2, new.keep, 0)), w_last2.eq(Mux(seg2, new.last, 0)),
            w_error1.eq(Mux(phase_b, a.error1, ErrorCode.NONE)),
            w_error2.eq(Mux(phase_b & seg2, new.error, ErrorCode.NONE)),
            w_lane1.eq(cur_lane), w_lane2.eq(next_lane),
        ]
        entry_data = Signal(data.ArrayLayout(32, K))
        entry_we = Signal(N)
        entry_keep = Signal(data.ArrayLayout(K, N))
        entry_last = Signal(data.ArrayLayout(K, N))
        entry_error = Signal(data.ArrayLayout(ErrorCode, N))
        ticket = Signal(ticket_layout)
        ticket_we = Signal()
        m.d.sync += [entry_data.eq(w_data), ticket_we.eq(0)]
        for k, lane in enumerate(lanes):
            on1 = w_seg1 & (w_lane1 == k)
            on2 = w_seg2 & (w_lane2 == k)
            m.d.sync += [
                entry_we[k].eq(w_valid & (on1 | on2)),
                entry_keep[k].eq(Mux(on1, w_keep1, 0) | Mux(on2, w_keep2, 0)),
                entry_last[k].eq(Mux(on1, w_last1, 0) | Mux(on2, w_last2, 0)),
                entry_error[k].eq(Mux(on1, w_error1.as_value(), 0) |
                                  Mux(on2, w_error2.as_value(), 0)),
            ]
            m.d.comb += [
                lane.entries.valid.eq(entry_we[k]),
                lane.entries.payload.data.eq(entry_data),
                lane.entries.payload.keep.eq(entry_keep[k]),
                lane.entries.payload.last.eq(entry_last[k]),
                lane.entries.payload.error.eq(entry_error[k]),
            ]
        m.d.comb += [tickets.w_data.eq(ticket), tickets.w_en.eq(ticket_we)]

        with m.If(take_plain):
            m.d.sync += [
                at_start.eq(0),
                cur_left.eq(cur_left - K),
                cur_small.eq(cur_left < K + 8),
                cur_big.eq(cur_left > 2 * K),
            ]
        with m.If(take_b):
            m.d.sync += at_start.eq(in_last)
            with m.If(seg2):
                m.d.sync += [
                    ticket_we.eq(1),
                    ticket.lane.eq(next_lane), ticket.has_lane.eq(1), ticket.first.eq(first),
                    ticket.last.eq(new.hlast),
                    ticket.error.eq(Mux(short2, ErrorCode.TRUNCATED, ErrorCode.NONE)),
                    next_lane.eq(_next_lane(next_lane, N)),
                    first.eq(0),
                ]
            with m.Elif(trailing | a.short1):
                m.d.sync += [
                    ticket_we.eq(1), ticket.has_lane.eq(0),
                    ticket.error.eq(Mux(trailing, ErrorCode.TRAILING, ErrorCode.TRUNCATED)),
                ]
            # what goes on into the next beat
            with m.If(in_last):         # the tensor ends: the next beat starts the next one
                m.d.sync += [cur_open.eq(0), next_lane.eq(0), first.eq(1), after_last.eq(0),
                             dropping.eq(0)]
            with m.Else():
                m.d.sync += [
                    dropping.eq(dropping | a.cut1 | cut2 | trailing),
                    after_last.eq(a.done1 | (ends2 & ~cut2 & new.hlast)),
                ]
                with m.If(seg2 & ~ends2):
                    m.d.sync += [cur_open.eq(1), cur_lane.eq(next_lane),
                                 cur_hlast.eq(new.hlast), cur_known.eq(new.has_word1),
                                 cur_left.eq(new.rest), cur_small.eq(new.rest_small),
                                 cur_big.eq(new.rest_big)]
                with m.Elif(a.seg1 & ~a.ends1):
                    m.d.sync += [cur_left.eq(a.left_next), cur_small.eq(a.left_next_small),
                                 cur_big.eq(a.left_next_big), cur_known.eq(1)]
                with m.Else():
                    m.d.sync += cur_open.eq(0)

        # (and only between tensors, as a single lane takes them)
        m.d.sync += table_ok.eq(all_idle & at_start & ~w_valid & (entry_we == 0) & ~ticket_we &
                                ~pre_valid & ~q_valid & ~in_fifo.r_rdy)

        # --- collector. Stage 1 follows the tickets through two registers (``cur_ticket``, the
        # chunk being read, and ``next_ticket``, refilled from the ticket FIFO while empty: the
        # FIFO's read enable comes from a register) and sets the lanes' readies, registers: lane
        # k's is high in the cycle after ``reading`` while the current ticket is k's. A lane's
        # beat taken in one cycle is seen in the next, in its ``taken`` register (the lanes'
        # ORed together: one lane takes at a time); it goes into register ``held`` with its
        # ticket's ``last`` and error, and stage 2 sends it on and keeps the status. The end
        # beat of a chunk moves the next ticket in a cycle after it was taken (the lane offers
        # no more meanwhile), and the next lane's ready rises a cycle after that: two idle
        # cycles per chunk, three when a lane follows itself (its ready must fall for a cycle
        # first). Every path from a far lane starts at a flip-flop of the lane and ends at one
        # here, and a lane's ready is a flip-flop of its own, which the placer can put beside
        # the lane.
        cur_ticket = Signal(ticket_layout)
        cur_ticket_valid = Signal()
        next_ticket = Signal(ticket_layout)
        next_valid = Signal()
        first_pending = Signal()        # a tensor's first chunk, the status not yet cleared
        m.d.comb += tickets.r_en.eq(~next_valid)
        with m.If(tickets.r_rdy & ~next_valid):
            m.d.sync += [next_ticket.eq(tickets.r_data), next_valid.eq(1)]

        beat_layout = _Beat(self._bits, N)
        got_valid = Signal()            # a lane's beat taken in the last cycle ...
        got = Signal(beat_layout)       # ... that one (only one lane takes at a time)
        m.d.comb += [got_valid.eq(Cat(lane.taken_valid for lane in lanes).any()),
                     got.eq(_or_all(lane.taken.as_value() for lane in lanes))]
        code = Signal(ErrorCode)
        drop = Signal()                 # an error was found: the rest of the tensor is dropped
        # The collector's beats go through a small FIFO to :attr:`values`, whose room is a
        # register: the output's ready reaches no lane. (A beat taken in the cycle after
        # ``out_free`` is read reaches the FIFO three cycles later: up to six are in flight.)
        values_layout = Values(self._bits, N)
        out_depth = 16
        m.submodules.out_fifo = out_fifo = fifo.SyncFIFOBuffered(
            width=values_layout.size, depth=out_depth)
        out_valid = Signal()
        out_beat = Signal(values_layout)
        out_free = Signal()
        m.d.sync += [out_valid.eq(0), out_free.eq(out_fifo.w_level <= out_depth - 8)]
        m.d.comb += [
            out_fifo.w_data.eq(out_beat),
            out_fifo.w_en.eq(out_valid),
            self.values.payload.eq(out_fifo.r_data),
            self.values.valid.eq(out_fifo.r_rdy),
            out_fifo.r_en.eq(self.values.ready),
        ]

        held = Signal(beat_layout)
        held_valid = Signal()
        held_last = Signal()            # its ticket's: the tensor's last chunk
        held_error = Signal(ErrorCode)  # its ticket's: what the dispatcher found

        reading = Signal()
        m.d.comb += reading.eq(cur_ticket_valid & cur_ticket.has_lane & ~first_pending & out_free)
        just_moved = Signal()           # the last cycle moved the next ticket in ...
        moved_lane = Signal(range(N))   # ... after a chunk of this lane
        lane_ready = Signal(N)
        for k, lane in enumerate(lanes):
            m.d.sync += lane_ready[k].eq(reading & (cur_ticket.lane == k) &
                                         ~(just_moved & (moved_lane == k)))
            m.d.comb += lane.beats.ready.eq(lane_ready[k])
        chunk_done = Signal()           # the current chunk is finished in this clock
        # (held_valid as one expression, not a flip-flop cleared by default and set under
        # conditions: Yosys would make first_pending its synchronous reset, and with
        # first_pending's own reset on held_valid, Yosys 0.70's ABC9 takes the two LSR pins for
        # a combinational loop and fails an assertion; see _next_lane)
        m.d.sync += held_valid.eq(cur_ticket_valid & ~first_pending &
                                  (got_valid | ~cur_ticket.has_lane))
        with m.If(cur_ticket_valid & ~first_pending):
            with m.If(got_valid):
                m.d.comb += chunk_done.eq(got.end)
                m.d.sync += [held.eq(got), held_last.eq(cur_ticket.last),
                             held_error.eq(cur_ticket.error)]
            with m.Elif(~cur_ticket.has_lane):
                # a ticket without chunk goes on as an empty end beat carrying its error
                m.d.comb += chunk_done.eq(1)
                m.d.sync += [held.count.eq(0), held.final.eq(0),
                             held.end.eq(1), held.error.eq(ErrorCode.NONE), held_last.eq(0),
                             held_error.eq(cur_ticket.error)]
        m.d.sync += [just_moved.eq(chunk_done), moved_lane.eq(cur_ticket.lane)]
        load_ticket = ~cur_ticket_valid | chunk_done
        with m.If(load_ticket):
            m.d.sync += [cur_ticket.eq(next_ticket), cur_ticket_valid.eq(next_valid)]
            with m.If(next_valid):
                m.d.sync += next_valid.eq(0)
        # a tensor's first chunk clears the status once the previous tensor's last beat has
        # passed stage 2 (first_pending as one expression, for Yosys: see held_valid; a chunk
        # is never done while first_pending is set)
        m.d.sync += first_pending.eq(Mux(load_ticket, next_valid & next_ticket.first,
                                         first_pending & held_valid))
        with m.If(cur_ticket_valid & first_pending & ~held_valid):
            m.d.sync += [code.eq(ErrorCode.NONE), drop.eq(0)]

        def fail(error):
            with m.If(error != ErrorCode.NONE):
                m.d.sync += drop.eq(1)
                with m.If(code == ErrorCode.NONE):
                    m.d.sync += code.eq(error)

        with m.If(held_valid):
            with m.If((held.count != 0) & ~drop):
                m.d.sync += [
                    out_valid.eq(1),
                    out_beat.value.eq(held.value),
                    out_beat.count.eq(held.count),
                    out_beat.last.eq(held.final & held_last),
                ]
            with m.If(held.end):
                # what the dispatcher found (the tensor ends in the chunk, or after a chunk not
                # marked last), then the lane's verdict: golden's order of checks
                fail(held_error)
                with m.If(held_error == ErrorCode.NONE):
                    fail(held.error)

        lanes_busy = Cat(lane.busy for lane in lanes).any()
        m.d.comb += [
            self.status.code.eq(code),
            self.status.error.eq(code != ErrorCode.NONE),
            self.status.busy.eq(~at_start | pre_valid | q_valid | in_fifo.r_rdy | w_valid |
                                (entry_we != 0) | ticket_we | (tickets.level != 0) |
                                next_valid | cur_ticket_valid | got_valid | held_valid |
                                lanes_busy | out_valid | out_fifo.r_rdy),
        ]
        return m
