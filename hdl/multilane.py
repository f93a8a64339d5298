"""Multi-lane decompressor: one payload stream of several words per beat, chunks dealt to
``lanes`` decoder lanes, the values gathered back in the tensor's order, several per beat."""

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.layouts import CHUNK_MAGIC, TABLE_LOG_MAX, TABLE_LOG_MIN, ChunkHeader

from .convert import FloatPacker
from .decoder import TansDecoder
from .decompressor import FORMATS
from .decoder import BODY_WORDS_BITS
from .ports import ErrorCode, Status, TableWrite, Word
from .unpacker import PairUnpacker

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
    those that end one of its chunks (``last``)."""
    return data.StructLayout({"data": data.ArrayLayout(32, width), "keep": width, "last": width})


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
    """One lane: beat FIFO -> word picker -> TansDecoder -> PairUnpacker -> FloatPacker -> beat
    gatherer -> output FIFO. Every chunk it receives (``last`` on its final word) is decoded as
    a one-chunk tensor (the picker sets the ``last`` bit of the chunk's header) and leaves as
    beats of up to ``width`` values, the last one marked ``end`` and carrying the lane's error
    code (an error chunk always ends with an ``end`` beat).

    The dispatcher writes whole input beats into :attr:`entries` with the words of this lane
    marked; it writes only while :attr:`room` (a register) is high."""

    def __init__(self, fmt, *, width, in_width, table_log_max, in_beats, out_beats):
        self._fmt, self._width, self._in_width = fmt, width, in_width
        self._table_log_max = table_log_max
        self._in_beats, self._out_beats = in_beats, out_beats
        e, mb = FORMATS[fmt]
        self._extra_max = max(e + 1 + mb, mb + 1)
        self._bits = 1 + e + mb
        super().__init__({
            "entries": In(stream.Signature(_Entry(in_width))),
            "room": Out(1),
            "table": In(stream.Signature(TableWrite)),
            "beats": Out(stream.Signature(_Beat(self._bits, width))),
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

        m.submodules.in_fifo = in_fifo = fifo.SyncFIFOBuffered(
            width=entry_layout.size, depth=self._in_beats)
        m.submodules.decoder = dec = TansDecoder(
            table_log_max=self._table_log_max, extra_max=self._extra_max)
        m.submodules.unpacker = unp = PairUnpacker(self._extra_max)
        m.submodules.packer = pk = FloatPacker(e, mb, self._extra_max)
        m.submodules.out_fifo = out_fifo = fifo.SyncFIFOBuffered(
            width=beat_layout.size, depth=self._out_beats)

        m.d.comb += [
            in_fifo.w_data.eq(self.entries.payload),
            in_fifo.w_en.eq(self.entries.valid),
            self.entries.ready.eq(in_fifo.w_rdy),
        ]
        # (the dispatcher's write reaches the FIFO a cycle after its decision)
        m.d.sync += self.room.eq(in_fifo.w_level <= self._in_beats - 3)
        wiring.connect(m, dec.pairs, unp.pairs)
        wiring.connect(m, unp.out, pk.pairs)
        m.d.comb += [
            unp.code_bits.eq(dec.config.code_bits),
            pk.codebook.eq(dec.config.codebook),
            dec.codebook_ok.eq(pk.supported),
        ]

        # --- chunk boundaries: the decoder leaves busy when a chunk is done (good or bad)
        busy = dec.status.busy
        busy_q = Signal()
        m.d.sync += busy_q.eq(busy)
        done = Signal()                 # a chunk has finished; its end beat is not out yet
        done_code = Signal(ErrorCode)
        fed = Signal()                  # words of a chunk entered the decoder, it has not started
        drained = ~dec.pairs.valid & ~unp.out.valid & ~pk.values.valid
        # Hold the next chunk back from the decoder until the end beat of this one has left,
        # so that the pipeline holds one chunk's values when the end beat is made.
        hold = ~busy & (busy_q | done)

        # --- word picker: the kept words of each entry, in order, one per clock
        held = Signal(entry_layout)
        rest = Signal(K)                # kept words of `held` not yet sent
        start = Signal(init=1)          # the next word is a chunk's first (its header word 0)
        out_valid = Signal()
        out_word = Signal(Word)
        sent = out_valid & ~hold & dec.words.ready
        m.d.comb += [
            dec.words.payload.eq(out_word),
            dec.words.valid.eq(out_valid & ~hold),
        ]
        pick = Signal(K)                # the lowest word left (one-hot)
        m.d.comb += pick.eq(rest & (~rest + 1))
        word = Signal(32)
        word_last = Signal()
        m.d.comb += [
            word.eq(Cat(*(Mux(pick[i], held.data[i], 0) for i in range(K))).as_value()
                    if False else 0),
        ]
        for i in range(K):
            with m.If(pick[i]):
                m.d.comb += [word.eq(held.data[i]), word_last.eq(held.last[i])]
        emit = (rest != 0) & (~out_valid | sent)
        with m.If(emit):
            m.d.sync += [
                out_valid.eq(1),
                out_word.data.eq(word | (start << _LAST_BIT)),
                out_word.last.eq(word_last),
                rest.eq(rest & ~pick),
                start.eq(word_last),
            ]
        with m.Elif(sent):
            m.d.sync += out_valid.eq(0)
        with m.If(((rest == 0) | (emit & ((rest & ~pick) == 0))) & in_fifo.r_rdy):
            m.d.comb += in_fifo.r_en.eq(1)
            m.d.sync += [held.eq(in_fifo.r_data), rest.eq(entry_layout(in_fifo.r_data).keep)]

        with m.If(busy_q & ~busy):
            m.d.sync += [done.eq(1), done_code.eq(dec.status.code)]
        with m.If(busy):
            m.d.sync += fed.eq(0)
        with m.Elif(sent):
            m.d.sync += fed.eq(1)

        # --- table writes only while the lane holds nothing of a tensor
        idle = (~busy & ~busy_q & ~done & ~fed & ~in_fifo.r_rdy & (in_fifo.level == 0) &
                (rest == 0) & ~out_valid & drained)
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
        m.d.sync += out_room.eq(out_fifo.w_level < self._out_beats - 2)
        push = Signal()
        m.d.comb += push.eq(out_room & (push_full | push_end))
        beat = Signal(beat_layout)
        m.d.comb += [
            beat.value.eq(buf),
            beat.count.eq(count),
            beat.final.eq(final),
            beat.end.eq(push_end & ~push_full),
            beat.error.eq(done_code),
            out_fifo.w_data.eq(beat),
            out_fifo.w_en.eq(push),
        ]
        # a value is taken while there is room, or into slot 0 of the beat that leaves now
        room = (count < G) | (push & push_full)
        m.d.comb += pk.values.ready.eq(room & ~final)
        take = pk.values.valid & pk.values.ready
        slot = Signal(range(G + 1))
        m.d.comb += slot.eq(count)
        with m.If(push):
            m.d.sync += [count.eq(0), final.eq(0), buf.eq(0)]   # unused slots leave as 0
            m.d.comb += slot.eq(0)
            with m.If(beat.end):
                m.d.sync += done.eq(0)
        with m.If(take):
            m.d.sync += [buf[slot].eq(pk.values.payload.value), count.eq(slot + 1)]
            with m.If(pk.values.payload.last):
                m.d.sync += final.eq(1)

        m.d.comb += [
            self.beats.payload.eq(out_fifo.r_data),
            self.beats.valid.eq(out_fifo.r_rdy),
            out_fifo.r_en.eq(self.beats.ready),
        ]
        m.d.comb += self.busy.eq(~idle | (out_fifo.level != 0))
        return m


class MultiLaneDecompressor(wiring.Component):
    """``lanes`` decoder lanes behind one payload stream and one value stream.

    Same use as :class:`~hdl.decompressor.Decompressor`: write the tensor's table
    (:meth:`golden.codec.Table.image`) through :attr:`table` (every lane gets it; a write is
    taken once every lane is idle, i.e. the previous tensor has been decoded), then stream the
    payload into :attr:`words`, ``in_width`` words per beat (:func:`InBeat`), ``last`` on its
    final beat. Values leave :attr:`values` in the tensor's order, up to ``lanes`` per beat.

    **How.** A dispatcher follows the chunk headers (``magic``, ``last``, ``body_words``) through
    the input beats and deals the chunks, round robin, to the lanes (lane 0 for a tensor's
    first chunk): every beat goes whole into the beat FIFO of each lane that has a word in it
    (the chunk that ends in the beat and the one that starts there), with masks that say which
    words are the lane's and which end a chunk. A lane picks its words out, one per clock, and
    decodes each chunk as a one-chunk tensor (its header's ``last`` bit set). The dispatcher
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
    (``out_values`` values) while the other lanes fill theirs. Chunks of at most
    ``out_values / 2`` pairs and ``in_beats * in_width / 2`` words keep every lane busy; bigger
    chunks still decode correctly, more slowly. Measured figures: ``docs/results.md``.

    **Errors.** ``status.code`` keeps the first error of a tensor, in the order of the output:
    values before the failing point leave as they would from one lane (a chunk found broken at
    its end, by its CRC, has already been emitted); from the error on, the values of the rest
    of the tensor are decoded and dropped, the collector emits nothing more of the tensor and
    no ``last``. The dispatcher itself finds a bad magic or a body length no chunk has (the
    chunk is cut after that word, its lane reports MAGIC or CONFIG, the rest of the tensor is
    dropped unread), words after the last chunk (TRAILING) and a tensor that ends after a
    chunk not marked ``last`` (TRUNCATED); the lanes report the rest. Nothing hangs: the next
    tensor starts cleanly. ``status.busy`` is high from the first word until the tensor's last
    value has left.

    Ready of :attr:`words` and :attr:`table` depend on registers (FIFO levels, states) only,
    and no valid depends on a ready.

    Parameters
    ----------
    fmt : str
        Output format, a key of :data:`~hdl.decompressor.FORMATS`.
    lanes : int
        Decoder lanes, 1 .. :data:`LANES_MAX`; also the values per output beat.
    table_log_max : int
        See :class:`~hdl.decoder.TansDecoder`; each lane has its own table memory.
    in_width : int
        Words per input beat, one of :data:`IN_WIDTHS`.
    in_beats : int
        Depth of each lane's beat FIFO (at least 4).
    out_values : int or None
        Size of each lane's output FIFO, in values (a multiple of ``lanes``, at least
        ``4 * lanes``); None: 8192 rounded up to a multiple of ``lanes``.

    Members
    -------
    words : In(stream.Signature(InBeat(in_width)))
    table : In(stream.Signature(TableWrite))
    values : Out(stream.Signature(Values(bits, lanes)))
    status : Out(Status)
    """

    def __init__(self, fmt="bf16", *, lanes=4, table_log_max=10, in_width=4, in_beats=1024,
                 out_values=None):
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        if not isinstance(lanes, int) or not 1 <= lanes <= LANES_MAX:
            raise ValueError(f"lanes must be 1 .. {LANES_MAX}, not {lanes!r}")
        if in_width not in IN_WIDTHS:
            raise ValueError(f"in_width must be one of {', '.join(map(str, IN_WIDTHS))}, "
                             f"not {in_width!r}")
        if not isinstance(in_beats, int) or in_beats < 4:
            raise ValueError(f"in_beats must be at least 4, not {in_beats!r}")
        if out_values is None:
            out_values = lanes * -(-8192 // lanes)
        if not isinstance(out_values, int) or out_values < 4 * lanes or out_values % lanes:
            raise ValueError(f"out_values must be a multiple of lanes ({lanes}) and at least "
                             f"{4 * lanes}, not {out_values!r}")
        if not TABLE_LOG_MIN <= table_log_max <= TABLE_LOG_MAX:   # as TansDecoder says it
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
        m.d.sync += ticket_room.eq(tickets.w_level <= ticket_depth - 3)
        at_start = Signal(init=1)       # no beat of a tensor seen yet

        # --- table: broadcast, taken when every lane takes it
        all_idle = Signal()
        m.d.comb += all_idle.eq(Cat(lane.idle for lane in lanes).all())
        for lane in lanes:
            m.d.comb += [
                lane.table.payload.eq(self.table.payload),
                lane.table.valid.eq(self.table.valid & self.table.ready),
            ]

        # --- dispatcher: one beat per clock, at most one chunk start in it
        beat = self.words.payload
        c = beat.count
        in_last = beat.last
        d = beat.data

        cur_open = Signal()             # a chunk goes on into the next beat
        cur_known = Signal()            # ... whose length is known (else its word 1 comes next)
        cur_left = Signal(BODY_WORDS_BITS + 2)  # ... its words from word 0 of this beat on
        cur_lane = Signal(range(N))
        cur_hlast = Signal()            # ... its header says it is the tensor's last
        next_lane = Signal(range(N))    # lane of the next chunk
        first = Signal(init=1)          # the next chunk is the tensor's first
        after_last = Signal()           # the tensor's last chunk has been dealt entirely
        dropping = Signal()             # an error was found: drop the rest of the tensor

        def body_words(word):
            return word[:BODY_WORDS_BITS]

        def bad_body(word):             # a length that no chunk has: cut the chunk there
            return (word == 0) | (word[BODY_WORDS_BITS:] != 0)

        def thermometer(n):             # words 0 .. n-1
            return Cat(*(n > i for i in range(K)))

        def ending_at(n):               # word n-1
            return Cat(*(n == i + 1 for i in range(K)))

        # the chunk that goes on from earlier beats
        seg1 = cur_open & ~dropping
        left1 = Signal(BODY_WORDS_BITS + 2)     # its words from word 0 on
        m.d.comb += left1.eq(Mux(cur_known, cur_left, body_words(d[0]) + 2))
        cut1 = seg1 & ~cur_known & bad_body(d[0])
        ends1 = Signal()                # (its words for this lane end in this beat)
        n1 = Signal(range(K + 1))
        m.d.comb += [
            ends1.eq(cut1 | (left1 <= c)),
            n1.eq(Mux(cut1, 1, Mux(left1 <= c, left1, c))),
        ]
        keep1 = Mux(seg1, thermometer(n1), 0)
        last1 = Mux(seg1 & (ends1 | in_last), ending_at(n1), 0)
        # a chunk that starts at word s
        s = Signal(range(K + 1))
        m.d.comb += s.eq(Mux(seg1, n1, 0))
        done1 = after_last | (seg1 & ends1 & ~cut1 & cur_hlast)  # the tensor's chunks have ended
        room2 = (s < c) & ~dropping & ~cut1
        trailing = room2 & done1
        seg2 = room2 & ~done1
        head0 = Signal(ChunkHeader)     # word 0 fields only
        word1 = Signal(32)
        m.d.comb += [
            head0.as_value()[:32].eq(Array(d)[s[:max(1, (K - 1).bit_length())]] if K > 1 else d[0]),
            word1.eq(Array(d)[(s + 1)[:max(1, (K - 1).bit_length())]] if K > 1 else d[0]),
        ]
        magic_bad = head0.magic != CHUNK_MAGIC
        has_word1 = s + 1 < c
        avail2 = c - s
        len2 = Signal(BODY_WORDS_BITS + 2)
        m.d.comb += len2.eq(body_words(word1) + 3)
        cut2 = seg2 & (magic_bad | (has_word1 & bad_body(word1)))
        fits2 = has_word1 & ~bad_body(word1) & (len2 <= avail2)
        n2 = Signal(range(K + 1))
        m.d.comb += n2.eq(Mux(magic_bad | ~has_word1, 1,
                              Mux(bad_body(word1), 2, Mux(fits2, len2, avail2))))
        ends2 = seg2 & (cut2 | fits2)
        keep2 = Mux(seg2, thermometer(s + n2) & ~thermometer(s), 0)
        last2 = Mux(seg2 & (ends2 | in_last), ending_at(s + n2), 0)
        # a tensor that ends after a chunk not marked last
        short1 = in_last & seg1 & ends1 & ~cut1 & (n1 == c) & ~cur_hlast
        short2 = in_last & ends2 & ~cut2 & (s + n2 == c) & ~head0.last

        accept = Signal()
        lane_room = Signal()
        m.d.comb += [
            lane_room.eq(Array(lane.room for lane in lanes)[cur_lane] &
                         Array(lane.room for lane in lanes)[next_lane]),
            self.words.ready.eq(lane_room & ticket_room),
            accept.eq(self.words.valid & self.words.ready),
        ]

        # lane writes and tickets leave through registers
        entry_data = Signal(data.ArrayLayout(32, K))
        entry_we = Signal(N)
        entry_keep = Signal(data.ArrayLayout(K, N))
        entry_last = Signal(data.ArrayLayout(K, N))
        ticket = Signal(ticket_layout)
        ticket_we = Signal()
        m.d.sync += [entry_data.eq(d), entry_we.eq(0), ticket_we.eq(0)]
        for k, lane in enumerate(lanes):
            m.d.comb += [
                lane.entries.valid.eq(entry_we[k]),
                lane.entries.payload.data.eq(entry_data),
                lane.entries.payload.keep.eq(entry_keep[k]),
                lane.entries.payload.last.eq(entry_last[k]),
            ]
        m.d.comb += [tickets.w_data.eq(ticket), tickets.w_en.eq(ticket_we)]

        with m.If(accept):
            m.d.sync += at_start.eq(in_last)
            for k in range(N):
                on1 = seg1 & (cur_lane == k)
                on2 = seg2 & (next_lane == k)
                m.d.sync += [
                    entry_we[k].eq(on1 | on2),
                    entry_keep[k].eq(Mux(on1, keep1, 0) | Mux(on2, keep2, 0)),
                    entry_last[k].eq(Mux(on1, last1, 0) | Mux(on2, last2, 0)),
                ]
            with m.If(seg2):
                m.d.sync += [
                    ticket_we.eq(1),
                    ticket.lane.eq(next_lane), ticket.has_lane.eq(1), ticket.first.eq(first),
                    ticket.last.eq(head0.last & ~magic_bad),
                    ticket.error.eq(Mux(short2, ErrorCode.TRUNCATED, ErrorCode.NONE)),
                    next_lane.eq(Mux(next_lane == N - 1, 0, next_lane + 1)),
                    first.eq(0),
                ]
            with m.Elif(trailing | short1):
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
                    dropping.eq(dropping | cut1 | cut2 | trailing),
                    after_last.eq(done1 | (ends2 & ~cut2 & head0.last)),
                ]
                with m.If(seg2 & ~ends2):
                    m.d.sync += [cur_open.eq(1), cur_lane.eq(next_lane),
                                 cur_hlast.eq(head0.last), cur_known.eq(has_word1),
                                 cur_left.eq(len2 - avail2)]
                with m.Elif(seg1 & ~ends1):
                    m.d.sync += [cur_left.eq(left1 - c), cur_known.eq(1)]
                with m.Else():
                    m.d.sync += cur_open.eq(0)

        # (and only between tensors, as a single lane takes them)
        m.d.comb += self.table.ready.eq(all_idle & at_start & (entry_we == 0) & ~ticket_we)

        # --- collector
        head = ticket_layout(tickets.r_data)
        cur_valid = Array(lane.beats.valid for lane in lanes)[head.lane]
        cur_beat = _Beat(self._bits, N)(
            Array(lane.beats.payload.as_value() for lane in lanes)[head.lane])
        code = Signal(ErrorCode)
        drop = Signal()                 # an error was found: the rest of the tensor is dropped
        cleared = Signal()              # the head ticket (a first chunk) has cleared the status
        out_free = ~self.values.valid | self.values.ready
        with m.If(self.values.ready):
            m.d.sync += self.values.valid.eq(0)

        def fail(error):
            with m.If(error != ErrorCode.NONE):
                m.d.sync += drop.eq(1)
                with m.If(code == ErrorCode.NONE):
                    m.d.sync += code.eq(error)

        for k, lane in enumerate(lanes):
            m.d.comb += lane.beats.ready.eq(0)
        with m.If(tickets.r_rdy):
            with m.If(head.first & ~cleared):
                m.d.sync += [cleared.eq(1), code.eq(ErrorCode.NONE), drop.eq(0)]
            with m.Elif(~head.has_lane):
                m.d.comb += tickets.r_en.eq(1)
                m.d.sync += cleared.eq(0)
                fail(head.error)
            with m.Elif(cur_valid & out_free):
                for k, lane in enumerate(lanes):
                    with m.If(head.lane == k):
                        m.d.comb += lane.beats.ready.eq(1)
                with m.If((cur_beat.count != 0) & ~drop):
                    m.d.sync += [
                        self.values.valid.eq(1),
                        self.values.payload.value.eq(cur_beat.value),
                        self.values.payload.count.eq(cur_beat.count),
                        self.values.payload.last.eq(cur_beat.final & head.last),
                    ]
                with m.If(cur_beat.end):
                    m.d.comb += tickets.r_en.eq(1)
                    m.d.sync += cleared.eq(0)
                    fail(cur_beat.error)
                    with m.If(cur_beat.error == ErrorCode.NONE):
                        fail(head.error)    # (what the dispatcher found after the chunk)

        lanes_busy = Cat(lane.busy for lane in lanes).any()
        m.d.comb += [
            self.status.code.eq(code),
            self.status.error.eq(code != ErrorCode.NONE),
            self.status.busy.eq(~at_start | (entry_we != 0) | ticket_we | (tickets.level != 0) |
                                lanes_busy | self.values.valid),
        ]
        return m
