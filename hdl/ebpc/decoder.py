"""EBPC decoder: a value count and the ZNZ and BPC streams in, the values out (golden.ebpc)."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..convert.formats import Value
from ..common.ports import ErrorCode, Status
from .bits import BitBuffer
from .ports import COUNT_BITS, Count, StreamWord

__all__ = ["EbpcDecoder", "ZnzDecoder", "BpcDecoder", "ValueMerger", "Flag", "DecodedBlock"]

BLOCK = 8
PLANES = 9
PLANE_BITS = BLOCK - 1


class Flag(data.Struct):
    """Whether a value is non-zero; ``last`` on the tensor's n-th."""
    nonzero: 1
    last: 1


class DecodedBlock(data.Struct):
    """A BPC block: its first value and the 7 deltas (mod 256) to the next ones.

    ``tail_zero[i]``: deltas ``i .. 7`` are all 0 (bit 8 always set), for the check that the
    zero padding of the last block decodes to zeros. ``error``: TRUNCATED or SYMBOL when the
    block did not decode (the rest is then meaningless). ``trailing`` / ``padding``: if this is
    the tensor's last block, the stream goes on after it / its padding bits are not zero.
    """
    base: 8
    deltas: data.ArrayLayout(8, BLOCK - 1)
    tail_zero: 9
    error: ErrorCode
    trailing: 1
    padding: 1


class ZnzDecoder(wiring.Component):
    """The ZNZ stream in, one flag per value out, ``n`` per tensor (:attr:`count`).

    Checks the stream as :func:`golden.ebpc.decode` does: TRUNCATED (the stream's ``last`` word
    came before ``n`` values), TRAILING (a zero run past ``n``, or a word after the one that
    holds the n-th value), PADDING (bits after the n-th value's symbol not zero). On an error
    the rest of the tensor's flags are zeros, so that ``n`` flags always leave; the stream is
    then read up to its ``last`` word and dropped.

    Throughput: a flag per clock while the input keeps up (a symbol needs at most 5 bits, the
    reader takes 8 a clock). Latency: the first flag leaves 3 cycles after the first word.

    Members
    -------
    count : In(stream.Signature(Count))
        Taken once the previous tensor's stream is read to its end; ``n = 0`` reads nothing.
    words : In(stream.Signature(StreamWord))
    flags : Out(stream.Signature(Flag))
    error : Out(ErrorCode), error_strobe : Out(1)
        The tensor's ZNZ error (a pulse, at most one per tensor).
    busy : Out(1)
    """

    def __init__(self):
        super().__init__({
            "count": In(stream.Signature(Count)),
            "words": In(stream.Signature(StreamWord)),
            "flags": Out(stream.Signature(Flag)),
            "error": Out(ErrorCode),
            "error_strobe": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.reader = reader = BitBuffer(view=8, take_max=8, slots=3)
        wiring.connect(m, wiring.flipped(self.words), reader.words)
        left = Signal(COUNT_BITS)               # flags still to send
        run = Signal(4)                         # zeros of the current run still to send
        free = ~self.flags.valid | self.flags.ready
        send, nonzero = Signal(), Signal()
        m.d.comb += reader.enable.eq(1)
        with m.If(self.flags.ready):
            m.d.sync += self.flags.valid.eq(0)
        with m.If(send):
            m.d.sync += [self.flags.valid.eq(1), self.flags.payload.nonzero.eq(nonzero),
                         self.flags.payload.last.eq(left == 1), left.eq(left - 1)]

        def fail(code):
            m.d.comb += [self.error.eq(code), self.error_strobe.eq(1)]
            m.next = "ZEROS"

        top = reader.bits[-1]
        field = reader.bits[-5:-1]              # a run's length - 1
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.count.ready.eq(1)
                with m.If(self.count.valid):
                    m.d.sync += [left.eq(self.count.payload.n), run.eq(0)]
                    with m.If(self.count.payload.n != 0):
                        m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += self.busy.eq(1)
                with m.If(free & (run != 0)):
                    m.d.comb += [send.eq(1), nonzero.eq(0)]
                    m.d.sync += run.eq(run - 1)
                    with m.If(left == 1):
                        m.next = "CHECK"
                with m.Elif(free & (reader.count != 0) & top):
                    m.d.comb += [send.eq(1), nonzero.eq(1), reader.take.eq(1)]
                    with m.If(left == 1):
                        m.next = "CHECK"
                with m.Elif(free & (reader.count >= 5)):
                    with m.If(field + 1 > left):
                        fail(ErrorCode.TRAILING)
                    with m.Else():
                        m.d.comb += [send.eq(1), nonzero.eq(0), reader.take.eq(5)]
                        m.d.sync += run.eq(field)
                        with m.If((left == 1) & (field == 0)):
                            m.next = "CHECK"
                with m.Elif(free & reader.ended):
                    # (a '1' needs one bit, a run five: fewer are left and no more will come)
                    fail(ErrorCode.TRUNCATED)
            with m.State("CHECK"):              # after the n-th value's symbol
                m.d.comb += self.busy.eq(1)
                with m.If((reader.count >= 8) | ~reader.ended):
                    m.d.comb += [self.error.eq(ErrorCode.TRAILING), self.error_strobe.eq(1)]
                with m.Elif(reader.bits != 0):
                    m.d.comb += [self.error.eq(ErrorCode.PADDING), self.error_strobe.eq(1)]
                m.next = "DRAIN"
            with m.State("ZEROS"):              # the rest of a broken tensor's flags
                m.d.comb += self.busy.eq(1)
                with m.If(free):
                    m.d.comb += [send.eq(1), nonzero.eq(0)]
                    with m.If(left == 1):
                        m.next = "DRAIN"
            with m.State("DRAIN"):              # read the stream to its last word
                m.d.comb += self.busy.eq(1)
                m.d.comb += reader.take.eq(Mux(reader.count > 8, 8, reader.count))
                with m.If(reader.ended):
                    m.d.comb += reader.restart.eq(1)
                    m.next = "IDLE"
        return m


def _symbol_size(m, w, name):
    """``(length, planes)`` of the plane symbol at the top of the 8-bit window ``w``: what the
    parser needs to move on (a function of the prefix and a run's length field)."""
    length = Signal(4, name=f"{name}_length")
    planes = Signal(4, name=f"{name}_planes")
    with m.If(w[7]):                                            # 1 + 7 bits
        m.d.comb += [length.eq(8), planes.eq(1)]
    with m.Elif(w[6]):                                          # 01
        m.d.comb += [length.eq(2), planes.eq(1)]
    with m.Elif(w[5]):                                          # 001 + k - 2
        m.d.comb += [length.eq(6), planes.eq(w[2:5] + 2)]
    with m.Elif(~w[4]):                                         # 00000, 00001
        m.d.comb += [length.eq(5), planes.eq(1)]
    with m.Else():                                              # 0001x + position
        m.d.comb += [length.eq(8), planes.eq(1)]
    return length, planes


def _symbol_value(m, w, name):
    """``(kind, dbx, position_bad)`` of the plane symbol at the top of the 8-bit window ``w``:
    kind :data:`XOR` (the XOR plane is ``dbx``), :data:`ZERO` (the delta plane is 0) or
    :data:`RUN` (zero XOR planes); ``position_bad``: a position outside the plane."""
    kind = Signal(2, name=f"{name}_kind")
    dbx = Signal(PLANE_BITS, name=f"{name}_dbx")
    bad = Signal(name=f"{name}_position_bad")
    p = w[:3]
    with m.If(w[7]):
        m.d.comb += [kind.eq(XOR), dbx.eq(w[:7])]
    with m.Elif(w[6] | w[5]):
        m.d.comb += kind.eq(RUN)
    with m.Elif(~w[4] & ~w[3]):                                 # 00000
        m.d.comb += [kind.eq(XOR), dbx.eq((1 << PLANE_BITS) - 1)]
    with m.Elif(~w[4]):                                         # 00001
        m.d.comb += kind.eq(ZERO)
    with m.Elif(~w[3]):                                         # 00010 + p
        m.d.comb += [kind.eq(XOR), dbx.eq(Const(0b1100000, PLANE_BITS) >> p),
                     bad.eq(p > PLANE_BITS - 2)]
    with m.Else():                                              # 00011 + p
        m.d.comb += [kind.eq(XOR), dbx.eq(Const(0b1000000, PLANE_BITS) >> p),
                     bad.eq(p > PLANE_BITS - 1)]
    return kind, dbx, bad


XOR, ZERO, RUN = 0, 1, 2


class ParsedStep(data.Struct):
    """What the BPC parser read in one clock, for the plane stage: the first value (``base``)
    or a symbol for plane ``plane`` (``first``), and, unless that ended the block, a symbol
    for plane ``plane_b`` (``second``); ``ends``: the block's last symbol is in it;
    ``count``, ``ended`` and ``view``: the reader's state before it, for the checks."""
    first: 8
    second: 8
    is_base: 1
    has_second: 1
    plane: 4
    plane_b: 4
    planes_a: 4
    planes_b: 4
    ends: 1
    length_a: 4
    length: 5
    count: 6
    ended: 1
    view: 24


class BpcDecoder(wiring.Component):
    """The BPC stream in, its blocks out (:class:`DecodedBlock`).

    Three stages. The parser reads two symbols a clock (the first value counts as one) and
    works out only their lengths and how many planes they cover; the plane stage decodes
    them into the block's delta planes, checks them and, at the block's end, hands it on; the
    block register sends it. So a block takes 5 to 6 clocks once its bits are in, and the next
    block is parsed while the previous waits at :attr:`blocks`. The reader takes no word while
    :attr:`enable` is low, none after the stream's ``last`` word; the decoder stops after a
    block that does not decode (``error``). :attr:`done` (a pulse: the tensor is over) drops
    what is held, reads the stream to its ``last`` word if it has begun it, and gets ready for
    the next tensor.

    Latency: a block leaves 3 cycles after the clock that reads its last symbol, which needs
    16 bits in the reader (or the stream's end).

    Members
    -------
    words : In(stream.Signature(StreamWord))
    blocks : Out(stream.Signature(DecodedBlock))
    enable, done : In(1)
    busy : Out(1)
        Reading the rest of a tensor's stream after :attr:`done`.
    """

    def __init__(self):
        super().__init__({
            "words": In(stream.Signature(StreamWord)),
            "blocks": Out(stream.Signature(DecodedBlock)),
            "enable": In(1),
            "done": In(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.reader = reader = BitBuffer(view=24, take_max=16, slots=4)
        wiring.connect(m, wiring.flipped(self.words), reader.words)
        stopped, draining = Signal(), Signal()

        # --- the parser: symbol lengths and planes only, one step (two symbols) a clock
        plane = Signal(range(PLANES + 1), init=PLANES)   # PLANES: the first value is next
        window = reader.bits[8:]                # the next 16 bits
        is_base = plane == PLANES
        la, pa = _symbol_size(m, window[8:], "a")
        len_a = Mux(is_base, 8, la)
        ends_a = ~is_base & (pa > plane)        # (more planes than are left: a bad run)
        plane_b = Signal(range(PLANES + 1))
        m.d.comb += plane_b.eq(Mux(is_base, PLANES - 1, plane - pa))
        window_b = Signal(8)
        with m.Switch(len_a):
            for n in (2, 5, 6, 8):
                with m.Case(n):
                    m.d.comb += window_b.eq(window[8 - n:16 - n])
        # the second symbol's size at each place the first can end, so that the step's length
        # is a choice of sums rather than a sum after a choice
        pb, both = Signal(4), Signal(5)
        for n in (2, 5, 6, 8):
            lb_n, pb_n = _symbol_size(m, window[8 - n:16 - n], f"b{n}")
            with m.If(len_a == n):
                m.d.comb += [pb.eq(pb_n), both.eq(n + lb_n)]
        has_b = ~ends_a
        ends_b = has_b & (pb > plane_b)
        length = Signal(5)
        m.d.comb += length.eq(Mux(has_b, both, len_a))

        step = Signal(ParsedStep)               # the parser's output register
        step_valid = Signal()
        pending = Signal()                      # a finished block waits for the block register
        plane_go = step_valid & ~pending
        ready = reader.ended | reader.has16
        go = ready & ~stopped & ~draining & (~step_valid | plane_go)
        m.d.comb += reader.take.eq(Mux(go, length, 0))
        with m.If(go):
            m.d.sync += [
                step_valid.eq(1),
                step.first.eq(window[8:]), step.second.eq(window_b), step.is_base.eq(is_base),
                step.has_second.eq(has_b), step.plane.eq(plane), step.plane_b.eq(plane_b),
                step.planes_a.eq(Mux(is_base, 0, pa)), step.planes_b.eq(pb),
                step.ends.eq(ends_a | ends_b), step.length_a.eq(len_a), step.length.eq(length),
                step.count.eq(reader.count), step.ended.eq(reader.ended),
                step.view.eq(reader.bits),
                plane.eq(Mux(ends_a | ends_b, PLANES, plane_b - pb)),
            ]
        with m.Elif(plane_go):
            m.d.sync += step_valid.eq(0)

        # --- the plane stage: the symbols' values into the delta planes, the checks
        base = Signal(8)
        dbp = [Signal(PLANE_BITS, name=f"dbp{j}") for j in range(PLANES)]
        below = Signal(PLANE_BITS)              # the delta plane under the next one
        ka, xa, bad_pa = _symbol_value(m, step.first, "a")
        kb, xb, bad_pb = _symbol_value(m, step.second, "b")
        val_a, below_b, val_b = Signal(PLANE_BITS), Signal(PLANE_BITS), Signal(PLANE_BITS)
        m.d.comb += [
            val_a.eq(Mux(ka == XOR, xa ^ below, Mux(ka == ZERO, 0, below))),
            below_b.eq(Mux(step.is_base, below, val_a)),
            val_b.eq(Mux(kb == XOR, xb ^ below_b, Mux(kb == ZERO, 0, below_b))),
        ]
        error = Signal(ErrorCode)
        bad_a = ~step.is_base & (bad_pa | (step.planes_a > step.plane + 1))
        bad_b = step.has_second & (bad_pb | (step.planes_b > step.plane_b + 1))
        # (in the stream's order: the first symbol cut short or bad, then the second)
        with m.If(step.ended & (step.count < step.length_a)):
            m.d.comb += error.eq(ErrorCode.TRUNCATED)
        with m.Elif(bad_a):
            m.d.comb += error.eq(ErrorCode.SYMBOL)
        with m.Elif(step.ended & (step.count < step.length)):
            m.d.comb += error.eq(ErrorCode.TRUNCATED)
        with m.Elif(bad_b):
            m.d.comb += error.eq(ErrorCode.SYMBOL)
        # a finished block's checks, until the block register takes it
        pend_error, pend_trailing, pend_padding = Signal(ErrorCode), Signal(), Signal()

        left = Signal(range(33))
        m.d.comb += left.eq(step.count - step.length)
        with m.If(plane_go):
            with m.If(error != ErrorCode.NONE):
                m.d.sync += [pending.eq(1), pend_error.eq(error), stopped.eq(1)]
            with m.Else():
                m.d.sync += base.eq(Mux(step.is_base, step.first, base))
                for j in range(PLANES):
                    write_a = ~step.is_base & (step.plane >= j) & (j + step.planes_a > step.plane)
                    write_b = step.has_second & (step.plane_b >= j) & (j + step.planes_b >
                                                                        step.plane_b)
                    with m.If(write_a):
                        m.d.sync += dbp[j].eq(val_a)
                    with m.Elif(write_b):
                        m.d.sync += dbp[j].eq(val_b)
                with m.If(step.ends):
                    m.d.sync += [
                        pending.eq(1), below.eq(0), pend_error.eq(ErrorCode.NONE),
                        pend_trailing.eq((left >= 8) | ~step.ended),
                        # (the bits after the block; they matter when fewer than 8 are left)
                        pend_padding.eq(
                            Cat(step.view[i] & (i + step.length <= 23) for i in range(24)).any()),
                    ]
                with m.Else():
                    m.d.sync += below.eq(Mux(step.has_second, val_b, val_a))

        # --- the block register: deltas (mod 256) from the planes
        deltas = [Cat(*(dbp[PLANES - 1 - b][BLOCK - 1 - k] for b in range(8)))
                  for k in range(1, BLOCK)]
        tail = [Const(1, 1)]
        for d in reversed(deltas):
            tail.insert(0, tail[0] & (d == 0))
        free = ~self.blocks.valid | self.blocks.ready
        with m.If(self.blocks.ready):
            m.d.sync += self.blocks.valid.eq(0)
        with m.If(pending & free):
            m.d.sync += [self.blocks.valid.eq(1), pending.eq(0),
                         self.blocks.payload.base.eq(base),
                         self.blocks.payload.error.eq(pend_error),
                         self.blocks.payload.trailing.eq(pend_trailing),
                         self.blocks.payload.padding.eq(pend_padding),
                         *(self.blocks.payload.deltas[k].eq(d) for k, d in enumerate(deltas)),
                         self.blocks.payload.tail_zero.eq(Cat(Const(1, 1), *tail))]

        # after the tensor: read the stream to its last word (if begun), then start afresh
        m.d.comb += [reader.enable.eq(self.enable | (draining & reader.started)),
                     self.busy.eq(draining)]
        with m.If(self.done):
            m.d.sync += [draining.eq(1), self.blocks.valid.eq(0), pending.eq(0),
                         step_valid.eq(0)]
        with m.If(draining):
            m.d.comb += reader.take.eq(Mux(reader.count > 16, 16, reader.count))
            with m.If(reader.ended | ~reader.started):
                m.d.comb += reader.restart.eq(1)
                m.d.sync += [draining.eq(0), stopped.eq(0), plane.eq(PLANES), below.eq(0),
                             self.blocks.valid.eq(0), pending.eq(0), step_valid.eq(0)]
        return m


class ValueMerger(wiring.Component):
    """Flags and blocks in, values out: a 0 for a zero flag, the next value of the current
    block for a non-zero one (the first value, then each previous value plus its delta).

    Checks, as :func:`golden.ebpc.decode` does: a block that did not decode (its error, when a
    value needs it), a non-zero flag whose value is 0 (VALUE), and at the tensor's n-th value
    the last block's zero padding (VALUE) and the stream after it (TRAILING, PADDING). After a
    block error the rest of the tensor's values are zeros.

    Throughput: a value per clock (a block is taken in the clock that needs its first value).

    Members
    -------
    flags : In(stream.Signature(Flag))
    blocks : In(stream.Signature(DecodedBlock))
    values : Out(stream.Signature(Value(8)))
    bpc_error : Out(ErrorCode), bpc_strobe : Out(1)
    value_strobe : Out(1)
        A VALUE error (a pulse).
    finished : Out(1)
        The tensor's checks are done (a pulse, the clock after its n-th value).
    used : Out(1)
        A block has been taken in this tensor.
    """

    def __init__(self):
        super().__init__({
            "flags": In(stream.Signature(Flag)),
            "blocks": In(stream.Signature(DecodedBlock)),
            "values": Out(stream.Signature(Value(8))),
            "bpc_error": Out(ErrorCode),
            "bpc_strobe": Out(1),
            "value_strobe": Out(1),
            "finished": Out(1),
            "used": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cur = Signal(DecodedBlock)
        slot = Signal(range(BLOCK + 1), init=BLOCK)     # the next value of cur; 8: used up
        x = Signal(8)                           # the value last taken from cur
        broken = Signal()
        final = Signal()                        # the n-th value has left: check the end

        f = self.flags.payload
        free = ~self.values.valid | self.values.ready
        need_block = f.nonzero & ~broken & (slot == BLOCK)
        can = self.flags.valid & free & ~final & (~need_block | self.blocks.valid)
        m.d.comb += [self.flags.ready.eq(can), self.blocks.ready.eq(can & need_block)]

        value = Signal(8)
        with m.If(need_block):
            m.d.comb += value.eq(self.blocks.payload.base)
        with m.Else():
            m.d.comb += value.eq(Mux(slot == 0, cur.base, x + cur.deltas.as_value().word_select(
                (slot - 1)[:3], 8)))
        bad_block = need_block & (self.blocks.payload.error != ErrorCode.NONE)
        out = Mux(f.nonzero & ~broken & ~bad_block, value, 0)

        with m.If(self.values.ready):
            m.d.sync += self.values.valid.eq(0)
        with m.If(can):
            m.d.sync += [self.values.valid.eq(1), self.values.payload.value.eq(out),
                         self.values.payload.last.eq(f.last)]
            with m.If(f.nonzero & ~broken):
                with m.If(bad_block):
                    m.d.comb += [self.bpc_error.eq(self.blocks.payload.error),
                                 self.bpc_strobe.eq(1)]
                    m.d.sync += broken.eq(1)
                with m.Else():
                    m.d.comb += self.value_strobe.eq(value == 0)
                    m.d.sync += [x.eq(value), slot.eq(Mux(need_block, 1, slot + 1))]
                with m.If(need_block):
                    m.d.sync += [cur.eq(self.blocks.payload), self.used.eq(1)]
            with m.If(f.last):
                m.d.sync += final.eq(1)

        # the clock after the n-th value: the last block's padding and the stream after it
        with m.If(final):
            with m.If(self.used & ~broken):
                pad_ok = (slot == BLOCK) | (
                    ((x + cur.deltas.as_value().word_select((slot - 1)[:3], 8))[:8] == 0) &
                    cur.tail_zero.bit_select(slot + 1, 1))
                with m.If(cur.trailing):
                    m.d.comb += [self.bpc_error.eq(ErrorCode.TRAILING), self.bpc_strobe.eq(1)]
                with m.Elif(cur.padding):
                    m.d.comb += [self.bpc_error.eq(ErrorCode.PADDING), self.bpc_strobe.eq(1)]
                m.d.comb += self.value_strobe.eq(~pad_ok)
            m.d.comb += self.finished.eq(1)
            m.d.sync += [final.eq(0), broken.eq(0), slot.eq(BLOCK), self.used.eq(0)]
        return m


class EbpcDecoder(wiring.Component):
    """EBPC decoder, bit-exact with :func:`golden.ebpc.decode`, for the streams of stream-ebpc's
    encoder (or :class:`~hdl.ebpc.encoder.EbpcEncoder`).

    Per tensor: its value count at :attr:`count` (the reference decoder takes ``n - 1``; this
    one takes ``n``), its ZNZ stream at :attr:`znz` and its BPC stream at :attr:`bpc`, each with
    ``last`` on its final word (a tensor with no non-zero value has no BPC word, and its BPC
    stream is not read). Exactly ``n`` values leave :attr:`values`, ``last`` on the n-th.

    Data path: znz -> :class:`ZnzDecoder` (flags) and bpc -> :class:`BpcDecoder` (blocks) ->
    :class:`ValueMerger` -> values.

    Throughput: a value per clock at any sparsity while the inputs keep up; each input takes a
    word per clock, so the BPC port limits a map to 8 / (its BPC bits per value) values a clock
    (0.8 for incompressible non-zero values). Per tensor about 13 cycles more (measured by
    tb/test_ebpc.py on stream-ebpc's vectors): the checks after its n-th value, the ends of its
    streams, and the next tensor's first words (a BPC word is read only once the ZNZ stream has
    shown a non-zero value).

    Bad input never hangs the decoder: a stream that ends early, goes on after the n-th value,
    has non-zero padding or a BPC symbol no encoder writes, or a non-zero value that decodes to
    0 sets :attr:`status` ``.error`` with the :class:`~hdl.common.ports.ErrorCode` that
    :class:`golden.ebpc.EbpcError` has (the ZNZ stream's errors first, then the BPC stream's,
    then the values', as the golden decoder checks), at the latest when the tensor's streams
    have been read to their ``last`` words. The ``n`` values are sent all the same (zeros after
    an error); each stream is read to its ``last`` word and the next tensor decodes normally.
    ``status.busy`` is high from the count until both streams are read; the code stays until
    the next count. Two cases no decoder of these two streams can tell from a late input, as
    neither stream says how long the other is: the words of a BPC stream that the ZNZ stream
    says is not needed (no value is non-zero) are left for the next tensor (the golden decoder
    calls them TRAILING), and a ZNZ stream that marks a value non-zero waits for BPC words
    even if the tensor has none.

    Members
    -------
    count : In(stream.Signature(Count))
    znz : In(stream.Signature(StreamWord))
    bpc : In(stream.Signature(StreamWord))
    values : Out(stream.Signature(Value(8)))
    status : Out(Status)
    """

    def __init__(self):
        super().__init__({
            "count": In(stream.Signature(Count)),
            "znz": In(stream.Signature(StreamWord)),
            "bpc": In(stream.Signature(StreamWord)),
            "values": Out(stream.Signature(Value(8))),
            "status": Out(Status),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.znz_decoder = znz = ZnzDecoder()
        m.submodules.bpc_decoder = bpc = BpcDecoder()
        m.submodules.merger = merge = ValueMerger()
        wiring.connect(m, wiring.flipped(self.znz), znz.words)
        wiring.connect(m, wiring.flipped(self.bpc), bpc.words)
        wiring.connect(m, znz.flags, merge.flags)
        wiring.connect(m, bpc.blocks, merge.blocks)
        wiring.connect(m, merge.values, wiring.flipped(self.values))

        active = Signal()                       # a tensor's values are being decoded
        seen = Signal()                         # a non-zero flag came: its BPC stream begins
        idle = ~active & ~znz.busy & ~bpc.busy
        m.d.comb += [
            znz.count.payload.eq(self.count.payload),
            znz.count.valid.eq(self.count.valid & idle),
            self.count.ready.eq(znz.count.ready & idle),
            bpc.enable.eq(seen),
            bpc.done.eq(merge.finished),
        ]
        start = self.count.valid & self.count.ready
        with m.If(start):
            m.d.sync += [active.eq(self.count.payload.n != 0), seen.eq(0)]
        with m.If(znz.flags.valid & znz.flags.payload.nonzero):
            m.d.sync += seen.eq(1)
        with m.If(merge.finished):
            m.d.sync += [active.eq(0), seen.eq(0)]

        # the tensor's error: the ZNZ stream's first, else the BPC stream's, else the values'
        code = Signal(ErrorCode)
        rank = Signal(2)                        # 3 znz, 2 bpc, 1 values, 0 none
        with m.If(start):
            m.d.sync += [code.eq(ErrorCode.NONE), rank.eq(0)]
        with m.Elif(znz.error_strobe & (rank < 3)):
            m.d.sync += [code.eq(znz.error), rank.eq(3)]
        with m.Elif(merge.bpc_strobe & (rank < 2)):
            m.d.sync += [code.eq(merge.bpc_error), rank.eq(2)]
        with m.Elif(merge.value_strobe & (rank < 1)):
            m.d.sync += [code.eq(ErrorCode.VALUE), rank.eq(1)]
        m.d.comb += [
            self.status.busy.eq(~idle),
            self.status.error.eq(code != ErrorCode.NONE),
            self.status.code.eq(code),
        ]
        return m
