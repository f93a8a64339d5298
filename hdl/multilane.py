"""Multi-lane decompressor: one payload stream, chunks dealt to ``lanes`` decoder lanes, the
values gathered back in the tensor's order, several per beat."""

from amaranth.hdl import Array, Cat, Module, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.layouts import CHUNK_MAGIC, TABLE_LOG_MAX, TABLE_LOG_MIN, ChunkHeader

from .convert import FloatPacker
from .decoder import TansDecoder
from .decompressor import FORMATS
from .ports import ErrorCode, Status, TableWrite, Word
from .unpacker import PairUnpacker

__all__ = ["MultiLaneDecompressor", "Values", "LANES_MAX"]

#: Largest number of lanes.
LANES_MAX = 16

#: Bit of header word 0 that holds :attr:`ChunkHeader.last` (taken from the layout).
_LAST_BIT = data.Layout.cast(ChunkHeader)["last"].offset


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
        "error": ErrorCode,  # (no chunk) what the dispatcher found, after the chunks before
    })


class _Lane(wiring.Component):
    """One lane: input FIFO -> TansDecoder -> PairUnpacker -> FloatPacker -> beat gatherer ->
    output FIFO. Every chunk it receives (``last`` on its final word) is decoded as a one-chunk
    tensor and leaves as beats of up to ``width`` values, the last one marked ``end`` and
    carrying the lane's error code (an error chunk always ends with an ``end`` beat)."""

    def __init__(self, fmt, *, width, table_log_max, states, in_words, out_beats):
        self._fmt, self._width = fmt, width
        self._table_log_max, self._states = table_log_max, states
        self._in_words, self._out_beats = in_words, out_beats
        e, mb = FORMATS[fmt]
        self._extra_max = max(e + 1 + mb, mb + 1)
        self._bits = 1 + e + mb
        super().__init__({
            "words": In(stream.Signature(Word)),
            "table": In(stream.Signature(TableWrite)),
            "beats": Out(stream.Signature(_Beat(self._bits, width))),
            "idle": Out(1),     # holds nothing of a tensor: a table write may go in
            "busy": Out(1),     # holds something (words, values or beats)
        })

    def elaborate(self, platform):
        m = Module()
        e, mb = FORMATS[self._fmt]
        G = self._width
        beat_layout = _Beat(self._bits, G)

        m.submodules.in_fifo = in_fifo = fifo.SyncFIFOBuffered(
            width=Word.as_shape().size, depth=self._in_words)
        m.submodules.decoder = dec = TansDecoder(
            table_log_max=self._table_log_max, states=self._states, extra_max=self._extra_max)
        m.submodules.unpacker = unp = PairUnpacker(self._extra_max)
        m.submodules.packer = pk = FloatPacker(e, mb, self._extra_max)
        m.submodules.out_fifo = out_fifo = fifo.SyncFIFOBuffered(
            width=beat_layout.size, depth=self._out_beats)

        m.d.comb += [
            in_fifo.w_data.eq(self.words.payload),
            in_fifo.w_en.eq(self.words.valid),
            self.words.ready.eq(in_fifo.w_rdy),
        ]
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
        m.d.comb += [
            dec.words.payload.eq(in_fifo.r_data),
            dec.words.valid.eq(in_fifo.r_rdy & ~hold),
            in_fifo.r_en.eq(dec.words.ready & ~hold),
        ]
        with m.If(busy_q & ~busy):
            m.d.sync += [done.eq(1), done_code.eq(dec.status.code)]
        with m.If(busy):
            m.d.sync += fed.eq(0)
        with m.Elif(in_fifo.r_en & in_fifo.r_rdy):
            m.d.sync += fed.eq(1)

        # --- table writes only while the lane holds nothing of a tensor
        idle = ~busy & ~busy_q & ~done & ~fed & (in_fifo.level == 0) & drained
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
    payload into :attr:`words`, ``last`` on its final word. Values leave :attr:`values` in the
    tensor's order, up to ``lanes`` per beat.

    **How.** A dispatcher reads each chunk header (``magic``, ``last``, ``body_words``) and
    forwards the whole chunk, header and body, to the next lane in round robin (lane 0 for a
    tensor's first chunk), into that lane's input FIFO. Every lane decodes each chunk as a
    one-chunk tensor: the dispatcher sets the header's ``last`` bit and the stream's ``last``
    on the chunk's final word, and keeps the header's true ``last`` in a ticket (one per chunk,
    in payload order, sent with the chunk's first word). The lane gathers its values into
    beats of up to ``lanes`` values in an output FIFO; the collector follows the tickets, takes
    the beats of lane after lane and puts the true ``last`` on the tensor's final beat.

    **Output.** One beat carries ``count`` values (1 .. ``lanes``) of one chunk in
    ``value[0 .. count-1]``, in tensor order. One value per beat would bound the top at one
    value per clock, no better than one lane; a beat that mixed chunks would need every lane to
    deliver in the same cycle. So a beat holds consecutive values of one chunk (the lane packs
    them at one value per clock; the collector sends one beat per clock) and a chunk's final
    beat may be partial.

    **Throughput.** Each lane decodes one pair per clock, so ``lanes`` lanes decode up to
    ``lanes`` values per clock; the input is one 32-bit word per clock, which carries about 3
    bf16 values at 10.6 bits each: from 4 lanes on, the input is the bound, not the lanes.
    Lanes run in parallel only while a chunk fits in the buffers: the dispatcher writes a
    chunk at one word per clock into its lane's FIFO (``in_words`` deep) and moves on, and the
    collector sends a chunk at up to ``lanes`` values per clock from its lane's output FIFO
    (``out_values`` values) while the next lanes fill theirs. Chunks of at most ``out_values``
    pairs and ``in_words`` words (about 1000 bf16 pairs for the defaults) keep every lane busy;
    bigger chunks still decode correctly, at about one lane's rate. Per chunk, a lane spends
    about ``3 + states + 6`` cycles on the header, the checks and the end of its beats.
    Measured under Verilator (tb/test_multilane.py: bf16 weights, sigma 0.02, 1024-pair chunks,
    no stalls, 3.0 values per input word): 0.99, 1.96, 2.95 and 2.95 values per clock with 1,
    2, 4 and 8 lanes. Latency: the first beat is valid 20 (1 state) or 22 (2 states) cycles
    after the first header word is taken.

    **Errors.** ``status.code`` keeps the first error of a tensor, in the order of the output:
    values before the failing point leave as they would from one lane (a chunk found broken at
    its end, by its CRC, has already been emitted); from the error on, the values of the rest
    of the tensor are decoded and dropped, the collector emits nothing more of the tensor and
    no ``last``. The dispatcher itself finds a bad magic (the chunk is cut after its first
    word, the lane reports MAGIC, the rest of the tensor is dropped unread), words after the
    last chunk (TRAILING) and a tensor that ends after a chunk not marked ``last``
    (TRUNCATED); the lanes report the rest. Nothing hangs: the next tensor starts cleanly.
    ``status.busy`` is high from the first word until the tensor's last value has left.

    Ready of :attr:`words` and :attr:`table` depend on registers (FIFO levels, states) only,
    and no valid depends on a ready.

    Parameters
    ----------
    fmt : str
        Output format, a key of :data:`~hdl.decompressor.FORMATS`.
    lanes : int
        Decoder lanes, 1 .. :data:`LANES_MAX`; also the values per output beat.
    table_log_max, states : int
        See :class:`~hdl.decoder.TansDecoder`; each lane has its own table memory.
    in_words : int
        Depth of each lane's input FIFO, in words (at least 4).
    out_values : int or None
        Size of each lane's output FIFO, in values (a multiple of ``lanes``, at least
        ``4 * lanes``); None: 1024 rounded up to a multiple of ``lanes``.

    Members
    -------
    words : In(stream.Signature(Word))
    table : In(stream.Signature(TableWrite))
    values : Out(stream.Signature(Values(bits, lanes)))
    status : Out(Status)
    """

    def __init__(self, fmt="bf16", *, lanes=4, table_log_max=10, states=2, in_words=512,
                 out_values=None):
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        if not isinstance(lanes, int) or not 1 <= lanes <= LANES_MAX:
            raise ValueError(f"lanes must be 1 .. {LANES_MAX}, not {lanes!r}")
        if not isinstance(in_words, int) or in_words < 4:
            raise ValueError(f"in_words must be at least 4, not {in_words!r}")
        if out_values is None:
            out_values = lanes * -(-1024 // lanes)
        if not isinstance(out_values, int) or out_values < 4 * lanes or out_values % lanes:
            raise ValueError(f"out_values must be a multiple of lanes ({lanes}) and at least "
                             f"{4 * lanes}, not {out_values!r}")
        if not TABLE_LOG_MIN <= table_log_max <= TABLE_LOG_MAX:   # as TansDecoder says it
            raise ValueError(f"table_log_max must be {TABLE_LOG_MIN} .. {TABLE_LOG_MAX}, "
                             f"not {table_log_max}")
        if states not in (1, 2, 4):
            raise ValueError(f"states must be 1, 2 or 4, not {states}")
        self._fmt, self._lanes = fmt, lanes
        self._table_log_max, self._states = table_log_max, states
        self._in_words, self._out_values = in_words, out_values
        e, mb = FORMATS[fmt]
        self._bits = 1 + e + mb
        super().__init__({
            "words": In(stream.Signature(Word)),
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
    def table_log_max(self):
        return self._table_log_max

    @property
    def states(self):
        return self._states

    def elaborate(self, platform):
        m = Module()
        N = self._lanes
        lanes = []
        for k in range(N):
            lane = _Lane(self._fmt, width=N, table_log_max=self._table_log_max,
                         states=self._states, in_words=self._in_words,
                         out_beats=self._out_values // N)
            m.submodules[f"lane{k}"] = lane
            lanes.append(lane)

        ticket_layout = _Ticket(N)
        m.submodules.tickets = tickets = fifo.SyncFIFOBuffered(
            width=ticket_layout.size, depth=max(8, 4 * N))

        fwd = Signal(Word)              # the word on its way to lane `fwd_lane`
        fwd_valid = Signal()
        fwd_lane = Signal(range(N))
        at_start = Signal(init=1)       # no word of a tensor seen yet

        # --- table: broadcast, taken when every lane takes it
        all_idle = Signal()
        m.d.comb += all_idle.eq(Cat(lane.idle for lane in lanes).all())
        for lane in lanes:
            m.d.comb += [
                lane.table.payload.eq(self.table.payload),
                lane.table.valid.eq(self.table.valid & self.table.ready),
            ]
        # (and only between tensors, as a single lane takes them)
        m.d.comb += self.table.ready.eq(all_idle & at_start & ~fwd_valid)

        # --- dispatcher
        lane_ready = Signal()
        m.d.comb += lane_ready.eq(Array(lane.words.ready for lane in lanes)[fwd_lane])
        for k, lane in enumerate(lanes):
            m.d.comb += [
                lane.words.payload.eq(fwd),
                lane.words.valid.eq(fwd_valid & (fwd_lane == k)),
            ]
        with m.If(lane_ready):
            m.d.sync += fwd_valid.eq(0)
        fwd_free = ~fwd_valid | lane_ready

        m.d.comb += self.words.ready.eq(fwd_free & tickets.w_rdy)
        word = self.words.payload.data
        in_last = self.words.payload.last
        accept = self.words.valid & self.words.ready
        # one view for all three header words: each field is read in its own word's phase
        header = Signal(ChunkHeader)
        m.d.comb += header.eq(Cat(word, word, word))

        target = Signal(range(N))       # lane of the current chunk
        first = Signal(init=1)          # the current chunk is the tensor's first
        chunk_last = Signal()           # header `last` of the current chunk
        after_last = Signal()           # the tensor's last chunk has been forwarded
        body_left = Signal(32)
        ticket = Signal(ticket_layout)
        m.d.comb += [
            tickets.w_data.eq(ticket),
            ticket.lane.eq(target),
            ticket.has_lane.eq(1),
            ticket.first.eq(first),
            ticket.last.eq(header.last),
        ]

        def forward(value, last):
            m.d.sync += [fwd_valid.eq(1), fwd.data.eq(value), fwd.last.eq(last),
                         fwd_lane.eq(target)]

        def start_chunk():
            # the ticket leaves with the chunk's first word, so that the collector drains the
            # lane while the rest of a chunk bigger than the lane's FIFOs comes in
            m.d.comb += tickets.w_en.eq(1)
            m.d.sync += first.eq(0)

        def next_lane():
            m.d.sync += target.eq(0 if N == 1 else target + 1)
            with m.If(target == N - 1):
                m.d.sync += target.eq(0)

        def tensor_error(code):
            m.d.comb += [tickets.w_en.eq(1), ticket.has_lane.eq(0), ticket.error.eq(code)]

        def end_tensor():
            m.d.sync += [target.eq(0), first.eq(1), at_start.eq(1), after_last.eq(0)]

        def end_chunk(chunk_words_done):
            """The chunk's final word (``chunk_words_done``: its header's length is reached)."""
            with m.If(in_last):
                with m.If(chunk_words_done & ~chunk_last):  # the payload ends without `last`
                    tensor_error(ErrorCode.TRUNCATED)
                end_tensor()
            with m.Else():
                next_lane()
                m.d.sync += after_last.eq(chunk_last)

        with m.If(accept):
            m.d.sync += at_start.eq(0)

        with m.FSM(name="dispatch"):
            with m.State("HEADER0"):
                with m.If(accept):
                    with m.If(after_last):          # words after the tensor's last chunk
                        tensor_error(ErrorCode.TRAILING)
                        with m.If(in_last):
                            end_tensor()
                        with m.Else():
                            m.next = "DROP"
                    with m.Elif(header.magic != CHUNK_MAGIC):
                        # cut the chunk here: its lane reports MAGIC; drop the rest unread
                        forward(word, 1)
                        start_chunk()
                        m.d.comb += ticket.last.eq(0)
                        with m.If(in_last):
                            end_tensor()
                        with m.Else():
                            m.next = "DROP"
                    with m.Else():
                        forward(word | (1 << _LAST_BIT), in_last)
                        start_chunk()
                        m.d.sync += chunk_last.eq(header.last)
                        with m.If(in_last):         # (its lane reports TRUNCATED)
                            end_tensor()
                        with m.Else():
                            m.next = "HEADER1"
            with m.State("HEADER1"):
                with m.If(accept):
                    forward(word, in_last)
                    m.d.sync += body_left.eq(header.body_words)
                    with m.If(in_last):
                        end_tensor()
                        m.next = "HEADER0"
                    with m.Else():
                        m.next = "HEADER2"
            with m.State("HEADER2"):
                with m.If(accept):
                    chunk_end = in_last | (body_left == 0)
                    forward(word, chunk_end)
                    with m.If(chunk_end):
                        end_chunk(body_left == 0)
                        m.next = "HEADER0"
                    with m.Else():
                        m.next = "BODY"
            with m.State("BODY"):
                with m.If(accept):
                    chunk_end = in_last | (body_left == 1)
                    forward(word, chunk_end)
                    m.d.sync += body_left.eq(body_left - 1)
                    with m.If(chunk_end):
                        end_chunk(body_left == 1)
                        m.next = "HEADER0"
            with m.State("DROP"):
                with m.If(accept & in_last):
                    end_tensor()
                    m.next = "HEADER0"

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

        lanes_busy = Cat(lane.busy for lane in lanes).any()
        m.d.comb += [
            self.status.code.eq(code),
            self.status.error.eq(code != ErrorCode.NONE),
            self.status.busy.eq(~at_start | fwd_valid | (tickets.level != 0) | lanes_busy |
                                self.values.valid),
        ]
        return m
