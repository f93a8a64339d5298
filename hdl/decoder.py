"""tANS decoder lane: payload words in, one (code, raw extra bits) per clock out."""

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import crc, data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.layouts import (CHUNK_MAGIC, ChunkHeader, DecodeEntry, TableConfig,
                            TABLE_LOG_MAX, TABLE_LOG_MIN)

from .bitreader import BitReader
from .ports import ErrorCode, Status, TableWrite, Word

__all__ = ["TansDecoder", "RawPair", "check_lane_parameters"]


def check_lane_parameters(table_log_max, states, extra_max):
    """The parameters a tANS lane (decoder or encoder) is built with, checked."""
    if not TABLE_LOG_MIN <= table_log_max <= TABLE_LOG_MAX:
        raise ValueError(f"table_log_max must be {TABLE_LOG_MIN} .. {TABLE_LOG_MAX}, "
                         f"not {table_log_max}")
    if states not in (1, 2, 4):
        raise ValueError(f"states must be 1, 2 or 4, not {states}")
    if not 1 <= extra_max <= 32 - table_log_max:
        raise ValueError(f"extra_max must be 1 .. {32 - table_log_max}, not {extra_max}")


def RawPair(extra_max):
    """Payload of the decoder's output: a code, or an escape whose raw bits hold the code."""
    return data.StructLayout({"code": 9, "escape": 1, "raw": extra_max, "last": 1})


class TansDecoder(wiring.Component):
    """One tANS decoder lane.

    Consumes a tensor's payload (chunks of :class:`~golden.layouts.ChunkHeader` + body, exactly
    as :func:`golden.codec.encode_payload` writes them; ``last`` on the tensor's final word) and
    emits one pair per clock in the order of the tensor. The decode table is written through
    :attr:`table` while the lane is idle (address 0: :class:`~golden.layouts.TableConfig`,
    address ``1 + u``: the :class:`~golden.layouts.DecodeEntry` of state ``u``, as
    :meth:`golden.codec.Table.image` gives them), so a new code book or table needs no
    re-synthesis; the host writes the table before it sends the tensor.

    Throughput: one pair per clock while the input delivers the bits and the output is ready,
    plus per chunk ``3 + states + 3`` cycles of header, initial states and checks.
    Latency: first pair 8 + ``states`` cycles (9 + ``states`` with 2 or more states, whose
    table entry is registered once more) after the first header word is accepted.

    Bad input never hangs the lane: a bad header, a table mismatch, a body that runs out, a CRC
    or final-state mismatch, or a tensor that ends early or late sets :attr:`status` ``.error``
    with an :class:`~hdl.ports.ErrorCode` (detected within the chunk, at the latest at its end);
    the lane then drops the input up to the tensor's ``last`` word and takes the next tensor.
    Pairs of a chunk found broken at its end have already been emitted: the consumer discards
    the tensor when ``error`` is set at its ``last`` pair or before the next tensor starts.

    Parameters
    ----------
    table_log_max : int
        Largest table log the lane decodes (8 .. 12); its table has ``1 << table_log_max``
        entries. Any smaller table log is decoded too.
    states : int
        Interleaved ANS states per chunk (1, 2 or 4), fixed at elaboration; with 2 or more the
        table read leaves the state-update loop.
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

    def __init__(self, *, table_log_max=10, states=2, extra_max=16):
        check_lane_parameters(table_log_max, states, extra_max)
        self._table_log_max = table_log_max
        self._states = states
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
    def states(self):
        return self._states

    @property
    def extra_max(self):
        return self._extra_max

    def elaborate(self, platform):
        m = Module()
        R = self._table_log_max
        S = self._states
        max_take = max(32, R + self._extra_max)

        m.submodules.reader = reader = BitReader(max_take)
        wiring.connect(m, wiring.flipped(self.words), reader.words)

        m.submodules.crc = crc_unit = crc.catalog.CRC32_ISO_HDLC(data_width=32).create()

        m.submodules.mem = mem = memory.Memory(shape=DecodeEntry, depth=1 << R, init=[])
        wp = mem.write_port()
        rp = mem.read_port(domain="sync")
        m.d.comb += rp.en.eq(0)     # (its reset value is 1) the entry holds while stalled
        # With two or more states the entry is registered once more (the block RAM's output
        # register) and read one pair ahead, so that no path starts at the RAM's slow output.
        registered = S >= 2
        if registered:
            entry = Signal(DecodeEntry)
        else:
            entry = rp.data

        # --- registers of the chunk being decoded
        state_regs = [Signal(R, name=f"state{i}") for i in range(S)]
        state = Array(state_regs)
        slot = Signal(range(S))
        pairs_left = Signal(19)
        chunk_last = Signal()
        body_left = Signal(32)          # body bits not yet consumed
        crc_expect = Signal(32)
        table_log = Signal(4)

        error_code = Signal(ErrorCode)
        fail = Signal(ErrorCode)        # an error found this cycle (NONE if none)
        m.d.comb += [
            self.status.code.eq(error_code),
            self.status.error.eq(error_code != ErrorCode.NONE),
        ]

        # --- table port: writes while idle
        m.d.comb += [
            wp.addr.eq(self.table.payload.addr - 1),
            wp.data.eq(self.table.payload.data),
        ]
        # an entry that reads more extra bits than this lane has room for makes the table bad
        # (checked here, as it is written, rather than in the decoding loop)
        table_bad = Signal()
        written = DecodeEntry(self.table.payload.data)
        with m.If(self.table.valid & self.table.ready):
            with m.If(self.table.payload.addr == 0):
                m.d.sync += [self.config.eq(self.table.payload.data), table_bad.eq(0)]
            with m.Elif(self.table.payload.addr <= (1 << R)):
                m.d.comb += wp.en.eq(1)
                with m.If((written.total < written.nbits) |
                          (written.total - written.nbits > self._extra_max)):
                    m.d.sync += table_bad.eq(1)

        # --- output register
        out_free = ~self.pairs.valid | self.pairs.ready
        with m.If(self.pairs.ready):
            m.d.sync += self.pairs.valid.eq(0)

        header = Signal(ChunkHeader)     # only word 0 fields are looked at from this view
        m.d.comb += header.as_value()[:32].eq(reader.peek[:32])

        # state fields that the pipeline needs
        nbits = entry.nbits
        total = entry.total
        rbits = Signal(max_take)
        m.d.comb += rbits.eq(reader.peek & ((1 << nbits) - 1))
        raw = Signal(self._extra_max)
        m.d.comb += raw.eq((reader.peek & ((1 << total) - 1)) >> nbits)
        # body_left < 64, so that the overrun check in the decoding loop is a narrow compare
        near_end = Signal()
        new_state = Signal(R)
        m.d.comb += new_state.eq(entry.base + rbits)
        next_slot = Signal(range(S))
        m.d.comb += next_slot.eq(Mux(slot == S - 1, 0, slot + 1))

        m.d.comb += [
            crc_unit.data.eq(reader.shifted_word),
        ]

        def on_fail():  # last in a state, so that it takes priority over its other m.next
            with m.If(fail != ErrorCode.NONE):
                m.next = "DRAIN"

        with m.FSM(name="fsm"):
            with m.State("IDLE"):
                m.d.comb += self.table.ready.eq(1)
                with m.If(~self.table.valid & (reader.avail >= 32)):
                    m.d.sync += error_code.eq(ErrorCode.NONE)
                    m.next = "HEADER0"

            with m.State("HEADER0"):
                m.d.comb += self.status.busy.eq(1)
                with m.If(reader.avail >= 32):
                    m.d.comb += reader.take.eq(32)
                    m.d.sync += [
                        pairs_left.eq(header.pairs_minus_1 + 1),
                        chunk_last.eq(header.last),
                        table_log.eq(header.table_log_minus_8 + 8),
                    ]
                    with m.If(header.magic != CHUNK_MAGIC):
                        m.d.comb += fail.eq(ErrorCode.MAGIC)
                    with m.Elif((header.table_log_minus_8 + 8 != self.config.table_log) |
                                (self.config.table_log > R) |
                                (header.states_log2 != (S.bit_length() - 1)) |
                                ~self.codebook_ok | table_bad):
                        m.d.comb += fail.eq(ErrorCode.CONFIG)
                    with m.Else():
                        m.next = "HEADER1"
                with m.Elif(reader.ended):
                    m.d.comb += fail.eq(ErrorCode.TRUNCATED)

                on_fail()

            with m.State("HEADER1"):
                m.d.comb += self.status.busy.eq(1)
                with m.If(reader.avail >= 32):
                    m.d.comb += reader.take.eq(32)
                    m.d.sync += [body_left.eq(reader.peek[:27] << 5),
                                 near_end.eq(reader.peek[:27] < 2)]
                    with m.If(reader.peek[27:32] != 0):
                        m.d.comb += fail.eq(ErrorCode.CONFIG)
                    with m.Else():
                        m.next = "HEADER2"
                with m.Elif(reader.ended):
                    m.d.comb += fail.eq(ErrorCode.TRUNCATED)

                on_fail()

            with m.State("HEADER2"):
                m.d.comb += self.status.busy.eq(1)
                with m.If(reader.avail >= 32):
                    m.d.comb += [reader.take.eq(32), crc_unit.start.eq(1)]
                    m.d.sync += [crc_expect.eq(reader.peek[:32]), slot.eq(0)]
                    m.next = "INIT"
                with m.Elif(reader.ended):
                    m.d.comb += fail.eq(ErrorCode.TRUNCATED)

                on_fail()

            with m.State("INIT"):   # the initial states, table_log bits each
                m.d.comb += [self.status.busy.eq(1), crc_unit.valid.eq(reader.shifted)]
                with m.If(table_log > body_left):
                    m.d.comb += fail.eq(ErrorCode.OVERRUN)
                with m.Elif(reader.avail >= table_log):
                    m.d.comb += reader.take.eq(table_log)
                    m.d.sync += [
                        state[slot].eq(reader.peek & ((1 << table_log) - 1)),
                        body_left.eq(body_left - table_log),
                        near_end.eq(body_left - table_log < 64),
                        slot.eq(next_slot),
                    ]
                    with m.If(slot == S - 1):
                        m.next = "PRIME"
                with m.Elif(reader.ended):
                    m.d.comb += fail.eq(ErrorCode.TRUNCATED)

                on_fail()

            with m.State("PRIME"):  # read the entry of the first pair
                m.d.comb += [self.status.busy.eq(1), rp.addr.eq(state[0]), rp.en.eq(1)]
                m.next = "PRIME2" if registered else "RUN"

            if registered:
                with m.State("PRIME2"):  # it moves to the entry register; read the second's
                    m.d.comb += [self.status.busy.eq(1), rp.addr.eq(state[1]), rp.en.eq(1)]
                    m.d.sync += entry.eq(rp.data)
                    m.next = "RUN"

            with m.State("RUN"):
                m.d.comb += [self.status.busy.eq(1), crc_unit.valid.eq(reader.shifted)]
                with m.If(near_end & (total > body_left[:7])):
                    m.d.comb += fail.eq(ErrorCode.OVERRUN)
                with m.Elif((reader.avail >= total) & out_free):
                    m.d.comb += reader.take.eq(total)
                    m.d.sync += [
                        state[slot].eq(new_state),
                        slot.eq(next_slot),
                        body_left.eq(body_left - total),
                        near_end.eq(body_left - total < 64),
                        pairs_left.eq(pairs_left - 1),
                        self.pairs.valid.eq(1),
                        self.pairs.payload.code.eq(entry.code),
                        self.pairs.payload.escape.eq(entry.escape),
                        self.pairs.payload.raw.eq(raw),
                        self.pairs.payload.last.eq(chunk_last & (pairs_left == 1)),
                    ]
                    if not registered:
                        # the next pair's entry: its state is this one's new state (S == 1)
                        m.d.comb += [rp.addr.eq(new_state), rp.en.eq(1)]
                    else:
                        # the next pair's entry moves up; the RAM reads the one after it, whose
                        # state is this pair's new state (S == 2) or already final (S == 4)
                        m.d.sync += entry.eq(rp.data)
                        m.d.comb += [
                            rp.addr.eq(new_state if S == 2 else state[(slot + 2)[:2]]),
                            rp.en.eq(1),
                        ]
                    with m.If(pairs_left == 1):
                        m.next = "PAD"
                with m.Elif((reader.avail < total) & reader.ended):
                    m.d.comb += fail.eq(ErrorCode.TRUNCATED)

                on_fail()

            with m.State("PAD"):    # zero padding to the end of the body's last word
                m.d.comb += [self.status.busy.eq(1), crc_unit.valid.eq(reader.shifted)]
                nonzero_state = Signal()
                m.d.comb += nonzero_state.eq(Cat(*state_regs).any())
                with m.If(body_left >= 32):
                    m.d.comb += fail.eq(ErrorCode.PADDING)
                with m.Elif(reader.avail >= body_left):
                    m.d.comb += reader.take.eq(body_left)
                    with m.If((reader.peek & ((1 << body_left[:5]) - 1)) != 0):
                        m.d.comb += fail.eq(ErrorCode.PADDING)
                    with m.Elif(nonzero_state):
                        m.d.comb += fail.eq(ErrorCode.STATE)
                    with m.Else():
                        m.next = "CHECK"
                with m.Elif(reader.ended):
                    m.d.comb += fail.eq(ErrorCode.TRUNCATED)

                on_fail()

            with m.State("CHECK"):  # the CRC register has taken the body's last word
                m.d.comb += self.status.busy.eq(1)
                with m.If(crc_unit.crc != crc_expect):
                    m.d.comb += fail.eq(ErrorCode.CRC)
                with m.Elif(chunk_last):
                    m.next = "END"
                with m.Else():
                    m.next = "HEADER0"

                on_fail()

            with m.State("END"):    # the tensor's `last` word must have been the final one
                m.d.comb += self.status.busy.eq(1)
                with m.If(reader.ended & (reader.avail == 0)):
                    m.d.comb += reader.restart.eq(1)
                    m.next = "IDLE"
                with m.Else():
                    m.d.comb += fail.eq(ErrorCode.TRAILING)

                on_fail()

            with m.State("DRAIN"):  # drop the rest of a broken tensor
                m.d.comb += [self.status.busy.eq(1), reader.flush.eq(1)]
                with m.If(reader.ended):
                    m.d.comb += reader.restart.eq(1)
                    m.next = "IDLE"

        with m.If(fail != ErrorCode.NONE):
            m.d.sync += error_code.eq(fail)
        return m
