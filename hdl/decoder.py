"""tANS decoder lane: payload words in, one (code, raw extra bits) per clock out."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.layouts import (CHUNK_MAGIC, ChunkHeader, DecodeEntry, TableConfig,
                            TABLE_LOG_MAX, TABLE_LOG_MIN)

from .bitreader import BitReader
from .bitselect import bit_select
from .crc32 import Crc32Word
from .ports import ErrorCode, Status, TableWrite, Word
from .tableram import TableRAM

__all__ = ["TansDecoder", "RawPair", "check_lane_parameters", "RING", "BODY_WORDS_BITS"]

#: Stages of the decoder's state ring (entry, bits, next state, table read): a chunk with this
#: many interleaved states decodes one pair per clock, one with fewer ``states / RING``.
RING = 4

#: Padding bits checked per cycle (at most the smallest table log: they are checked as the bits
#: of a next state).
PAD_STEP = 8

#: A chunk body of ``2**BODY_WORDS_BITS`` words or more is refused (CONFIG): 262,144 pairs of at
#: most 32 bits and 4 initial states need fewer than ``2**18 + 2`` words.
BODY_WORDS_BITS = 19


def check_lane_parameters(table_log_max, extra_max, states=None):
    """The parameters a tANS lane (decoder or encoder) is built with, checked."""
    if not TABLE_LOG_MIN <= table_log_max <= TABLE_LOG_MAX:
        raise ValueError(f"table_log_max must be {TABLE_LOG_MIN} .. {TABLE_LOG_MAX}, "
                         f"not {table_log_max}")
    if states is not None and states not in (1, 2, 4):
        raise ValueError(f"states must be 1, 2 or 4, not {states}")
    if not 1 <= extra_max <= 32 - table_log_max:
        raise ValueError(f"extra_max must be 1 .. {32 - table_log_max}, not {extra_max}")


def RawPair(extra_max):
    """Payload of the decoder's output: a code, or an escape whose raw bits hold the code.

    ``raw`` holds the pair's extra bits from bit 0 up; the bits above the pair's extra width are
    the stream's next bits (not masked: each consumer reads the width its code gives, and the
    mask was 26 LUT4 of an ECP5 lane)."""
    return data.StructLayout({"code": 9, "escape": 1, "raw": extra_max, "last": 1})


#: Errors found in the same cycle: the one reported (the golden decoder's order for a body).
_PRIORITY = [ErrorCode.MAGIC, ErrorCode.CONFIG, ErrorCode.TRUNCATED, ErrorCode.CRC,
             ErrorCode.OVERRUN, ErrorCode.STATE, ErrorCode.PADDING, ErrorCode.TRAILING]


def small(value, bits):
    """``value < 2**bits``, as a zero test of the high bits (no carry chain)."""
    return value[bits:] == 0


def _thermometer(n, width):
    """``width`` bits, the low ``n`` of them set."""
    return Cat(*(n > k for k in range(width)))


class TansDecoder(wiring.Component):
    """One tANS decoder lane.

    Consumes a tensor's payload (chunks of :class:`~golden.layouts.ChunkHeader` + body, exactly
    as :func:`golden.codec.encode_payload` writes them; ``last`` on the tensor's final word) and
    emits its pairs in the order of the tensor. The decode table is written through
    :attr:`table` while the lane is idle (address 0: :class:`~golden.layouts.TableConfig`,
    address ``1 + u``: the :class:`~golden.layouts.DecodeEntry` of state ``u``, as
    :meth:`golden.codec.Table.image` gives them; one write per clock, made a clock after it
    is taken), so a new code book or table needs no re-synthesis; the host writes the table
    before it sends the tensor.

    **How.** The interleaved states of a chunk circulate in a ring of :data:`RING` register
    stages: the table entry of a state (read with two register stages, so that no path starts
    at a block RAM's output), the bits it reads, the next state (``base | bits``: the low
    ``nbits`` bits of ``base`` are zero in every tANS table, which the table port checks), and
    the table address. The only one-cycle loop is the bit position, ``pos + total``, with
    ``total`` straight from a register.

    Throughput: one pair per clock for chunks of 4 interleaved states (``states / 4`` pairs
    per clock for 1 or 2 states: the ring turns at the same speed with fewer states in it),
    while the input delivers the bits and the output is ready; plus per chunk about 10 cycles
    of header, initial states, padding and CRC check. Latency: the first pair leaves 20
    cycles after the first word is taken, with no stalls (measured in Amaranth's simulator).

    Bad input never hangs the lane: a bad header, a table mismatch, a body that runs out, a CRC
    or final-state mismatch, or a tensor that ends early or late sets :attr:`status` ``.error``
    with an :class:`~hdl.ports.ErrorCode` (detected within the chunk, at the latest at its end);
    the lane then drops the input up to the tensor's ``last`` word and takes the next tensor.
    Pairs of a chunk found broken at its end have already been emitted: the consumer discards
    the tensor when ``error`` is set at its ``last`` pair or before the next tensor starts.
    A table entry that no tANS table has (``base`` with any of its low ``nbits`` bits set,
    ``nbits`` above ``table_log_max``, more extra bits than ``extra_max``) makes every chunk
    under that table a CONFIG error.

    Parameters
    ----------
    table_log_max : int
        Largest table log the lane decodes (8 .. 12); its table has ``1 << table_log_max``
        entries. Any smaller table log is decoded too.
    extra_max : int
        Widest extra field of an entry (including an escape's raw code);
        ``table_log_max + extra_max <= 32``.

    Members
    -------
    words : In(stream.Signature(Word))
    table : In(stream.Signature(TableWrite))
    pairs : Out(stream.Signature(RawPair(extra_max)))
    config : Out(TableConfig)
        The config word last written.
    codebook_ok : In(1)
        The consumer supports ``config.codebook``; a chunk under an unsupported code book is a
        CONFIG error.
    status : Out(Status)
    """

    #: Depth of the output FIFO; the ring stops while fewer than 4 places are free in it.
    OUT_DEPTH = 8

    def __init__(self, *, table_log_max=10, extra_max=16):
        check_lane_parameters(table_log_max, extra_max)
        self._table_log_max = table_log_max
        self._extra_max = extra_max
        super().__init__({
            "words": In(stream.Signature(Word)),
            "table": In(stream.Signature(TableWrite)),
            "pairs": Out(stream.Signature(RawPair(extra_max))),
            "config": Out(TableConfig),
            "codebook_ok": In(1, init=1),
            "status": Out(Status),
        })

    @property
    def table_log_max(self):
        return self._table_log_max

    @property
    def extra_max(self):
        return self._extra_max

    def elaborate(self, platform):
        m = Module()
        R = self._table_log_max
        X = self._extra_max
        F = R + X                       # bits a pair can read: nbits + extra

        m.submodules.reader = reader = BitReader(F)
        wiring.connect(m, wiring.flipped(self.words), reader.words)
        m.submodules.crc = crc_unit = Crc32Word()
        m.submodules.table_ram = ram = TableRAM(1 << R, 32)
        pair_layout = RawPair(X)
        m.submodules.out_fifo = out_fifo = fifo.SyncFIFOBuffered(
            width=pair_layout.size, depth=self.OUT_DEPTH)

        # Errors: each is a flag of its own, raised by a shallow condition and registered; the
        # FSM drains the tensor on the registered flags, and the first error is kept.
        error_code = Signal(ErrorCode)
        found = {code: Signal(name=f"found_{code.name.lower()}") for code in _PRIORITY}
        found_q = {code: Signal(name=f"found_{code.name.lower()}_q") for code in _PRIORITY}
        failed = Signal()               # one of them was raised last cycle
        m.d.sync += [*(found_q[code].eq(found[code]) for code in _PRIORITY),
                     failed.eq(Cat(*found.values()).any())]
        m.d.comb += [
            self.status.code.eq(error_code),
            self.status.error.eq(error_code != ErrorCode.NONE),
        ]
        with m.If(error_code == ErrorCode.NONE):       # the first error of a tensor is kept
            for code in reversed(_PRIORITY):
                with m.If(found_q[code]):
                    m.d.sync += error_code.eq(code)

        def fail(code):
            m.d.comb += found[code].eq(1)

        # --- table port: writes while idle, a cycle after they are taken (from registers: no
        # path from the handshake to the block RAM's write pins, which may sit far away)
        table_bad = Signal()
        t_valid = Signal()
        t_write = Signal(TableWrite)
        m.d.sync += t_valid.eq(self.table.valid & self.table.ready)
        with m.If(self.table.valid & self.table.ready):
            m.d.sync += t_write.eq(self.table.payload)
        written = DecodeEntry(t_write.data)
        m.d.comb += [
            ram.write_addr.eq(t_write.addr - 1),
            ram.write_data.eq(t_write.data),
        ]
        with m.If(t_valid):
            with m.If(t_write.addr == 0):
                m.d.sync += [self.config.eq(t_write.data), table_bad.eq(0)]
            with m.Elif(t_write.addr <= (1 << R)):
                m.d.comb += ram.write_en.eq(1)
                # (checked here, as the table is written, rather than in the decoding loop)
                with m.If((written.nbits > R) | (written.total < written.nbits) |
                          (written.total - written.nbits > X) |
                          ((written.base & _thermometer(written.nbits, 12)) != 0)):
                    m.d.sync += table_bad.eq(1)

        # --- the chunk being decoded
        pm1 = Signal(18)                # pairs left, minus one
        last_pair = Signal()            # pm1 == 0
        tail = Signal()                 # pm1 < states: this pair is its state's last
        chunk_last = Signal()
        states = Signal(3)              # 1, 2 or 4
        body_left = Signal(BODY_WORDS_BITS)   # body words not yet out of the window
        body_zero = Signal()            # body_left == 0
        body_one = Signal()             # body_left == 1
        body_two = Signal()             # body_left == 2
        in_body = Signal()
        crc_expect = Signal(32)
        magic_bad = Signal()            # header checks, made a cycle after the word is taken
        config_bad = Signal()
        slot = Signal(range(RING))      # INIT: the ring position being filled
        pad_left = Signal(6)            # PADDING: bits of the body's last word not yet checked
        step_take = Signal(6, init=32)  # bits a step takes outside RUN: a header word (32),
                                        # an initial state (table_log), padding
        table_log = Signal(4)
        running = Signal()              # in RUN (a register of its own: it steers the datapath)

        # the CRC takes each body word one cycle after it leaves the window, from registers
        crc_word = Signal(32)
        crc_valid = Signal()
        crc_start = Signal()
        crc_starting = Signal()
        crc_ok = Signal()
        m.d.sync += [crc_word.eq(reader.head), crc_valid.eq(reader.shift & in_body),
                     crc_start.eq(crc_starting), crc_ok.eq(crc_unit.crc == crc_expect)]
        m.d.comb += [crc_unit.data.eq(crc_word), crc_unit.valid.eq(crc_valid),
                     crc_unit.start.eq(crc_start)]
        with m.If(reader.shift & in_body):
            m.d.sync += [body_left.eq(body_left - 1), body_zero.eq(body_one),
                         body_one.eq(body_two),
                         body_two.eq(small(body_left, 2) & (body_left[:2] == 3))]
        # the stream has ended with fewer words than the body still needs
        short = Signal()
        m.d.sync += short.eq(in_body & reader.settled &
                             (~small(body_left, 2) | (body_left[:2] > reader.held)))
        with m.If(short):
            fail(ErrorCode.TRUNCATED)
        # body words from the one being read (w0, or w1 once w0 is used up) on: none, or one
        high = reader.pos[5]
        rest_zero = Mux(high, body_one, body_zero)
        rest_one = Mux(high, body_two, body_one)
        # A step that reads past the body's end is found one cycle later, from registers: the
        # step read some bits with no body word left, or went past the end of the last one.
        step_zero = Signal()
        step_one = Signal()
        body_step = Signal()            # bits of the body are taken (not a header word)
        m.d.sync += [step_zero.eq(body_step & rest_zero & (reader.take != 0)),
                     step_one.eq(body_step & rest_one)]
        m.d.comb += found[ErrorCode.OVERRUN].eq(
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
        m.d.comb += [
            reader.take.eq(Mux(running, e.total, step_take)),
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

        # F also carries what the output needs
        f_code = Signal(9)
        f_escape = Signal()
        f_nbits = Signal(4)
        f_last = Signal()
        f_out = Signal()                # F holds a pair just decoded: output it
        f_final = Signal()              # ... whose next state is final: it must be 0
        f_pad = Signal()                # F holds padding bits just read: they must be 0
        with m.If(f_load):
            m.d.sync += [
                f_valid.eq(token_in), f_field.eq(reader.field),
                f_mask.eq(_thermometer(mask_n, R)), f_base.eq(base_in),
                f_code.eq(e.code), f_escape.eq(e.escape), f_nbits.eq(e.nbits),
                f_last.eq(chunk_last & last_pair),
            ]
        m.d.sync += [f_out.eq(fire), f_final.eq(fire & tail), f_pad.eq(pad_step)]
        with m.If(ring_clear):
            m.d.sync += [e_valid.eq(0), f_valid.eq(0), s_valid.eq(0), b_valid.eq(0)]
        # a final state, or padding bits (a next state from base 0), that is not 0
        nonzero = Signal()
        m.d.comb += [
            nonzero.eq(new_state != 0),
            found[ErrorCode.STATE].eq(nonzero & f_final),
            found[ErrorCode.PADDING].eq(nonzero & f_pad),
        ]

        # --- output: raw extra bits aligned, then a FIFO whose room is known from a register
        o_valid = Signal()
        o_pair = Signal(pair_layout)
        aligned = bit_select(m, platform, f_field, f_nbits, X)     # the extra bits
        m.d.sync += [
            o_valid.eq(f_out),
            o_pair.code.eq(f_code),
            o_pair.escape.eq(f_escape),
            o_pair.raw.eq(aligned),
            o_pair.last.eq(f_last),
        ]
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
        header = Signal(ChunkHeader)     # only word 0 fields are looked at from this view
        m.d.comb += header.as_value()[:32].eq(reader.head)
        bits_ok = reader.bits_ok
        # busy: out of IDLE, a register of its own (set and cleared with the FSM's moves out of
        # and into IDLE), so that a multi-lane top's logic on it starts at a flip-flop that can
        # sit next to it
        busy = Signal()
        m.d.comb += self.status.busy.eq(busy)

        def on_fail():  # last in a state, so that it takes priority over its other m.next
            with m.If(failed):
                m.next = "DRAIN"

        # A header word is taken (32 bits) when the position is 0; the window moves on in
        # the next cycle, so a header word takes two cycles.
        header_ready = reader.has_head & ~reader.pos[5]

        header_step = Signal()
        m.d.comb += body_step.eq(reader.consume & ~header_step)

        def take_word():
            m.d.comb += [reader.consume.eq(1), header_step.eq(1)]

        with m.FSM(name="fsm"):
            with m.State("IDLE"):
                m.d.comb += [self.table.ready.eq(drained), ring_clear.eq(1)]
                with m.If(~self.table.valid & reader.has_head):
                    m.d.sync += [error_code.eq(ErrorCode.NONE), busy.eq(1)]
                    m.next = "HEADER0"

            # Each header word is taken as it comes; its checks are made in the next state,
            # from registers. (The position is 0 between chunks.)
            with m.State("HEADER0"):
                with m.If(header_ready):
                    take_word()
                    m.d.sync += [
                        pm1.eq(header.pairs_minus_1),
                        chunk_last.eq(header.last),
                        table_log.eq(header.table_log_minus_8 + 8),
                        states.eq(1 << header.states_log2),
                        magic_bad.eq(header.magic != CHUNK_MAGIC),
                        config_bad.eq((header.table_log_minus_8 + 8 != self.config.table_log) |
                                      (self.config.table_log > R) | (header.states_log2 == 3) |
                                      ~self.codebook_ok | table_bad),
                    ]
                    m.next = "HEADER1"
                with m.Elif(reader.starved):
                    fail(ErrorCode.TRUNCATED)
                on_fail()

            with m.State("HEADER1"):
                m.d.sync += [last_pair.eq(pm1 == 0), tail.eq(small(pm1, 3) & (pm1 < states))]
                with m.If(magic_bad):
                    fail(ErrorCode.MAGIC)
                with m.Elif(config_bad):
                    fail(ErrorCode.CONFIG)
                with m.Elif(header_ready):
                    take_word()
                    m.d.sync += [body_left.eq(reader.head[:BODY_WORDS_BITS]),
                                 config_bad.eq(reader.head[BODY_WORDS_BITS:] != 0)]
                    m.next = "HEADER2"
                with m.Elif(reader.starved):
                    fail(ErrorCode.TRUNCATED)
                on_fail()

            with m.State("HEADER2"):
                m.d.sync += [body_zero.eq(body_left == 0), body_one.eq(body_left == 1),
                             body_two.eq(body_left == 2)]
                with m.If(config_bad):      # a body longer than any chunk needs
                    fail(ErrorCode.CONFIG)
                with m.Elif(header_ready):
                    take_word()
                    m.d.comb += crc_starting.eq(1)
                    m.d.sync += [crc_expect.eq(reader.head), slot.eq(0),
                                 step_take.eq(table_log)]
                    m.next = "INIT"
                with m.Elif(reader.starved):
                    fail(ErrorCode.TRUNCATED)
                on_fail()

            with m.State("INIT"):   # the initial states, table_log bits each, into the ring
                m.d.sync += in_body.eq(1)   # (the header's last word leaves in the first cycle)
                with m.If(slot >= states):      # a ring position without a state
                    m.d.comb += [advance.eq(1), f_load.eq(1)]
                with m.Elif(bits_ok):
                    m.d.comb += [advance.eq(1), f_load.eq(1), token_in.eq(1),
                                 reader.consume.eq(1)]
                with m.Elif(reader.starved):
                    fail(ErrorCode.TRUNCATED)
                with m.If(advance):
                    m.d.sync += slot.eq(slot + 1)
                    with m.If(slot == RING - 1):
                        m.d.sync += running.eq(1)
                        m.next = "RUN"
                on_fail()

            with m.State("RUN"):
                go = e_valid & bits_ok & room
                m.d.comb += [
                    advance.eq(~e_valid | go), f_load.eq(~e_valid | go), token_in.eq(go),
                    fire.eq(go), reader.consume.eq(go),
                ]
                with m.If(go):
                    m.d.sync += [pm1.eq(pm1 - 1), last_pair.eq(pm1 == 1),
                                 tail.eq(small(pm1, 3) & (pm1[:3] <= states))]
                    with m.If(last_pair):
                        m.d.sync += running.eq(0)
                        m.next = "PAD"
                with m.Elif(e_valid & reader.starved):
                    fail(ErrorCode.TRUNCATED)
                on_fail()

            with m.State("PAD"):    # after the last pair: what is left of the body
                rest = 32 - reader.pos[:5]
                m.d.sync += [pad_left.eq(rest),
                             step_take.eq(Mux(reader.pos[:5] < 32 - PAD_STEP, PAD_STEP, rest))]
                with m.If(rest_zero):               # (w0 leaves now if it is used up)
                    m.d.sync += in_body.eq(0)
                    m.next = "CRC"
                with m.Elif(~rest_one | (reader.pos[:5] == 0)):     # 32 or more bits left
                    fail(ErrorCode.PADDING)
                with m.Else():
                    m.next = "PADDING"
                on_fail()

            with m.State("PADDING"):    # the rest of the last word, 8 bits a cycle, is 0
                rest = pad_left - PAD_STEP      # (step_take is PAD_STEP, or all that is left)
                with m.If(pad_left == 0):           # (the last word leaves now)
                    m.d.sync += in_body.eq(0)
                    m.next = "CRC"
                with m.Elif(bits_ok):
                    m.d.comb += [pad_step.eq(1), f_load.eq(1), reader.consume.eq(1)]
                    m.d.sync += [pad_left.eq(Mux(pad_left > PAD_STEP, rest, 0)),
                                 step_take.eq(Mux(pad_left > 2 * PAD_STEP, PAD_STEP, rest))]
                with m.Elif(reader.starved):
                    fail(ErrorCode.TRUNCATED)
                on_fail()

            with m.State("CRC"):    # the CRC unit takes the body's last word
                m.next = "CRC2"
                on_fail()

            with m.State("CRC2"):   # the CRC register has it; crc_ok is registered from it
                m.next = "CHECK"
                on_fail()

            with m.State("CHECK"):
                m.d.comb += ring_clear.eq(1)
                m.d.sync += step_take.eq(32)
                with m.If(~crc_ok):
                    fail(ErrorCode.CRC)
                with m.Elif(chunk_last):
                    m.next = "END"
                with m.Else():
                    m.next = "HEADER0"
                on_fail()

            with m.State("END"):    # the tensor's `last` word must have been the final one
                with m.If(reader.starved):
                    m.d.comb += reader.restart.eq(1)
                    m.next = "IDLE"
                    with m.If(~failed):     # (else on_fail's DRAIN wins)
                        m.d.sync += busy.eq(0)
                with m.Else():
                    fail(ErrorCode.TRAILING)
                on_fail()

            with m.State("DRAIN"):  # drop the rest of a broken tensor
                m.d.comb += [reader.flush.eq(1), ring_clear.eq(1)]
                m.d.sync += [in_body.eq(0), running.eq(0), step_take.eq(32)]
                with m.If(reader.ended):
                    m.d.comb += reader.restart.eq(1)
                    m.d.sync += busy.eq(0)
                    m.next = "IDLE"
        return m
