"""Chunk front end: a tensor's payload words in, each chunk checked and handed to a lane."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.format.layouts import CHUNK_MAGIC, ChunkHeader, TableConfig
from hdl.common.crc32 import Crc32Word
from hdl.common.ports import ErrorCode, Word

from .lane import LaneWord

__all__ = ["ChunkReader", "BODY_WORDS_BITS"]

#: A chunk body of ``2**BODY_WORDS_BITS`` words or more is refused (CONFIG): 262,144 pairs of at
#: most 32 bits and 4 initial states need fewer than ``2**18 + 2`` words.
BODY_WORDS_BITS = 19


class ChunkReader(wiring.Component):
    """What is done once per chunk in front of a :class:`~hdl.ans.decode.lane.DecodeLane`.

    Takes chunks (:class:`~golden.format.layouts.ChunkHeader` + body) and hands each on to
    :attr:`lane_words` as the lane takes it: header word 0 (the descriptor), then the body
    words, ``last`` on the final one, and checks the body's CRC-32 on the way. What is wrong
    with a chunk goes with its last word as its ``error``, so the lane gives the verdicts in the
    payload's order: a chunk with a bad header is handed on as its descriptor alone; a CRC
    mismatch comes with the body's last word (held three cycles for the verdict).

    With ``framing="tensor"`` (in front of one lane) the input is a tensor's payload (:class:`Word`
    s, ``last`` on its final one), and the front end checks everything: the header (magic,
    table log and states against :attr:`config`, a code book the consumer supports, a table
    without a bad entry, a body length no chunk has), the body's length, and the tensor's end
    (a tensor cut short (TRUNCATED), words after its last chunk (TRAILING); either comes as a
    chunk of one word). After an error, or on :attr:`abort` (a lane found one), it drops the
    rest of the tensor, ending a chunk it has begun with a word of its own. A tensor starts
    once :attr:`settled`.

    With ``framing="chunk"`` (in each lane of a multi-lane top) the input is one chunk at a time
    (:class:`~hdl.ans.decode.lane.LaneWord` s, ``last`` on its final one), dealt by a dispatcher that has
    followed the headers and checked them and the body's length: what it found comes as the
    ``error`` of the chunk's last word and goes on before the CRC's verdict. Each chunk starts
    once :attr:`settled`. (:attr:`config`, :attr:`table_bad`, :attr:`codebook_ok` and
    :attr:`abort` are not used.)

    Throughput: a word per clock; per chunk three cycles of header and three of CRC verdict.

    Parameters
    ----------
    framing : str
        ``"tensor"`` or ``"chunk"``.

    Members
    -------
    words : In(stream.Signature(Word or LaneWord))
    lane_words : Out(stream.Signature(LaneWord))
    config : In(TableConfig)
        The table's config word (:class:`TablePort`).
    table_bad : In(1)
        The table has an entry no lane decodes: every chunk is a CONFIG error.
    codebook_ok : In(1)
        The consumer supports ``config.codebook``; a chunk under an unsupported code book is a
        CONFIG error.
    settled : In(1)
        Every chunk handed on has had its verdict: the next tensor (or chunk) may start.
    abort : In(1)
        Drop the rest of the tensor (a pulse is enough).
    start : Out(1)
        A tensor's (or chunk's) first word is taken (a pulse).
    busy : Out(1)
        From a tensor's (or chunk's) first word until its last has been taken and handed on.
    """

    def __init__(self, *, table_log_max=10, framing="tensor"):
        if framing not in ("tensor", "chunk"):
            raise ValueError(f"framing must be 'tensor' or 'chunk', not {framing!r}")
        self._table_log_max = table_log_max
        self._framing = framing
        super().__init__({
            "words": In(stream.Signature(Word if framing == "tensor" else LaneWord)),
            "lane_words": Out(stream.Signature(LaneWord)),
            "config": In(TableConfig),
            "table_bad": In(1),
            "codebook_ok": In(1, init=1),
            "settled": In(1),
            "abort": In(1),
            "start": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        R = self._table_log_max
        by_tensor = self._framing == "tensor"

        # --- the word handed to the lane: a register, loaded when it is free. Its data is
        # always the word taken (a descriptor is word 0, loaded as it is taken and handed on
        # once the header is checked; the data of a chunk of one word that only carries an
        # error is never decoded): no multiplexer in front of its 32 flip-flops.
        out = Signal(LaneWord)
        out_valid = Signal()
        free = ~out_valid | self.lane_words.ready
        m.d.comb += [self.lane_words.payload.eq(out), self.lane_words.valid.eq(out_valid)]
        with m.If(self.lane_words.ready):
            m.d.sync += out_valid.eq(0)

        word = self.words.payload
        take = Signal()                 # a word is taken into `out`
        words_skip = Signal()           # a word is taken, not into `out` (header words 1, 2)
        m.d.comb += self.words.ready.eq(take | words_skip)
        with m.If(take):
            m.d.sync += out.data.eq(word.data)

        def emit(*, last=0, error=ErrorCode.NONE, valid=1):
            m.d.sync += [out.last.eq(last), out.error.eq(error), out_valid.eq(valid)]

        # --- the chunk
        ended = Signal()                # the last word taken was the tensor's (chunk's) last
        given = Signal(ErrorCode)       # ... and what the dispatcher found ("chunk")
        with m.If(self.words.valid & self.words.ready):
            m.d.sync += ended.eq(word.last)
            if not by_tensor:
                m.d.sync += given.eq(word.error)
        chunk_last = Signal()           # the header's `last`: the tensor's last chunk
        magic_bad = Signal()            # header checks, made a cycle after the word is taken
        config_bad = Signal()
        body_left = Signal(BODY_WORDS_BITS)     # body words not yet taken
        body_one = body_left == 1
        aborting = Signal()
        if by_tensor:
            with m.If(self.abort & self.busy):
                m.d.sync += aborting.eq(1)

        # the CRC takes each body word a cycle after it is taken, from `out`
        m.submodules.crc = crc_unit = Crc32Word()
        crc_expect = Signal(32)
        crc_valid = Signal()
        crc_start = Signal()
        crc_ok = Signal()
        m.d.sync += [crc_ok.eq(crc_unit.crc == crc_expect), crc_start.eq(0), crc_valid.eq(0)]
        m.d.comb += [crc_unit.data.eq(out.data), crc_unit.valid.eq(crc_valid),
                     crc_unit.start.eq(crc_start)]

        def fail(code):
            """Hand on a chunk of one word with ``code`` (a bad header, or none at all), then
            drop the rest of the tensor (or chunk)."""
            with m.If(free):
                emit(last=1, error=code)
                m.next = "DRAIN"

        def header_checks():
            """In front of header word 1 or 2 (by_tensor: the header's checks first): the
            chunk ends, or an error was found, before its header does."""
            if by_tensor:
                with m.If(magic_bad):
                    fail(ErrorCode.MAGIC)
                with m.Elif(config_bad):
                    fail(ErrorCode.CONFIG)
                with m.Elif(ended):
                    fail(ErrorCode.TRUNCATED)
            else:
                with m.If(ended):
                    fail(given)

        def after_chunk():
            """The chunk's last word has gone: the tensor ends, or another chunk follows."""
            if not by_tensor:
                m.next = "IDLE"
                return
            with m.If(aborting):
                m.next = "DRAIN"
            with m.Elif(chunk_last & ended):
                m.next = "IDLE"
            with m.Elif(chunk_last):
                m.next = "TRAILING"
            with m.Elif(ended):
                m.next = "MISSING"
            with m.Else():
                m.next = "HEADER0"

        with m.FSM(name="fsm") as fsm:
            with m.State("IDLE"):
                with m.If(self.words.valid & self.settled):
                    m.d.comb += self.start.eq(1)
                    m.d.sync += aborting.eq(0)
                    m.next = "HEADER0"

            with m.State("HEADER0"):    # (the lane has taken the last chunk's last word)
                with m.If(aborting):
                    m.next = "DRAIN"
                with m.Elif(self.words.valid & free):
                    m.d.comb += take.eq(1)
                    if by_tensor:
                        h = ChunkHeader(Cat(word.data, word.data, word.data))   # (word 0's)
                        m.d.sync += [
                            chunk_last.eq(h.last),
                            magic_bad.eq(h.magic != CHUNK_MAGIC),
                            config_bad.eq((h.table_log_minus_8 + 8 != self.config.table_log) |
                                          (self.config.table_log > R) | (h.states_log2 == 3) |
                                          ~self.codebook_ok | self.table_bad),
                        ]
                    m.next = "HEADER1"

            with m.State("HEADER1"):
                header_checks()
                with m.If(~ended & ~magic_bad & ~config_bad):
                    with m.If(aborting):
                        m.next = "DRAIN"
                    with m.Elif(self.words.valid):
                        m.d.comb += words_skip.eq(1)
                        if by_tensor:
                            m.d.sync += [body_left.eq(word.data[:BODY_WORDS_BITS]),
                                         config_bad.eq(word.data[BODY_WORDS_BITS:] != 0)]
                        m.next = "HEADER2"

            with m.State("HEADER2"):
                with m.If(config_bad):      # a body longer than any chunk needs
                    fail(ErrorCode.CONFIG)
                with m.Else():
                    header_checks()
                with m.If(~ended & ~config_bad):
                    with m.If(aborting):
                        m.next = "DRAIN"
                    with m.Elif(self.words.valid):
                        m.d.comb += words_skip.eq(1)
                        m.d.sync += [crc_expect.eq(word.data), crc_start.eq(1)]
                        # (a dispatcher cuts a chunk of no body words after its word 1)
                        with m.If((body_left == 0) if by_tensor else 0):
                            emit(last=1, valid=0)       # its CRC is that of nothing
                            m.next = "CRC1"
                        with m.Elif(word.last):
                            emit(last=1, error=ErrorCode.TRUNCATED if by_tensor else word.error)
                            m.next = "IDLE"
                        with m.Else():
                            emit()
                            m.next = "BODY"

            with m.State("BODY"):
                with m.If(aborting):        # end the chunk begun with a word of our own
                    with m.If(free):
                        emit(last=1, error=ErrorCode.TRUNCATED)
                        m.next = "DRAIN"
                with m.Elif(self.words.valid & free):
                    m.d.comb += take.eq(1)
                    m.d.sync += crc_valid.eq(1)
                    if by_tensor:
                        m.d.sync += body_left.eq(body_left - 1)
                        with m.If(body_one):    # the last word waits for the CRC verdict
                            emit(last=1, valid=0)
                            m.next = "CRC1"
                        with m.Elif(word.last):     # the tensor ends before the body does
                            emit(last=1, error=ErrorCode.TRUNCATED)
                            m.next = "IDLE"
                        with m.Else():
                            emit()
                    else:
                        with m.If(word.last):   # the last word waits for the CRC verdict
                            emit(last=1, valid=0)
                            m.next = "CRC1"
                        with m.Else():
                            emit()

            with m.State("CRC1"):       # the CRC unit takes the last word
                m.next = "CRC2"
            with m.State("CRC2"):       # its register has it; crc_ok is registered from it
                m.next = "VERDICT"
            with m.State("VERDICT"):    # (the dispatcher's verdict first, then the CRC's)
                error = Mux(given != ErrorCode.NONE, given,
                            Mux(crc_ok, ErrorCode.NONE, ErrorCode.CRC))
                m.d.sync += [out_valid.eq(1), out.error.eq(error)]
                with m.If(error != ErrorCode.NONE):
                    m.next = "IDLE"
                    with m.If(~ended):
                        m.next = "DRAIN"
                with m.Else():
                    after_chunk()

            if by_tensor:
                with m.State("TRAILING"):   # words follow the tensor's last chunk
                    fail(ErrorCode.TRAILING)

                with m.State("MISSING"):    # the tensor ends where a chunk header should be
                    fail(ErrorCode.TRUNCATED)

            with m.State("DRAIN"):      # drop the rest of a broken tensor (or chunk)
                with m.If(ended):
                    m.next = "IDLE"
                with m.Else():
                    m.d.comb += words_skip.eq(self.words.valid)

        m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
        return m
