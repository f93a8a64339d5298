"""Bit reader: 32-bit words in, a field of up to 32 bits at any bit position out.

Bits leave LSB first from little-endian words, as the golden encoder writes them.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.common.bit_select import bit_select
from hdl.common.ports import Word

__all__ = ["BitReader"]


class BitReader(wiring.Component):
    """A window of three words ``w2:w1:w0`` over the input, with two words of prefetch.

    :attr:`field` shows ``field_bits`` bits of the window from bit :attr:`pos` (0 .. 63) on, LSB
    first. The user consumes ``take`` bits (0 .. 32) by raising ``consume``: the position moves
    on, ``pos[:5] + take``. Once the position has passed the end of ``w0`` (``pos >= 32``),
    the window moves up a word in the next cycle (:attr:`shift`), whatever the user does; so
    the decision to move the window comes from a register, not from this cycle's addition.
    A chunk header word is read from :attr:`head` at ``pos == 0`` and taken as 32 bits. Words move ``w3 -> w2 -> w1 -> w0`` through clock enables only (the data
    path has no multiplexers); the ready of :attr:`words` depends on registers only; one word
    per cycle is taken while one of the two prefetch slots is free.

    :attr:`bits_ok`: the three words of the window are there (or no more words will come: the
    tensor's ``last`` word is in, and bits beyond it are not part of the stream), so the field
    is real at any position.
    :attr:`starved`: no word at the position and none will come.

    The reader stops accepting words after one with ``last`` set until :attr:`restart` is
    pulsed. :attr:`flush` drops every word held (used to discard the rest of a broken tensor).

    Parameters
    ----------
    field_bits : int
        Width of :attr:`field`, at most 32.

    Members
    -------
    words : In(stream.Signature(Word))
    field : Out(field_bits)
    head : Out(32), has_head : Out(1)
        ``w0``, and whether it holds a word (a chunk header word, when ``pos == 0``: the
        decoder keeps the position at 0 between chunks).
    pos : Out(6)
    take : In(6), consume : In(1)
    sum : Out(6)
        ``pos[:5] + take``, the position in the word being read after this step.
    shift : Out(1)
        ``w0`` leaves this cycle; :attr:`head` is the word that leaves.
    bits_ok, starved, ended : Out(1)
    settled : Out(1), held : Out(2)
        The last word is in and every word is down in the window, which holds ``held``
        words: the rest of the stream.
    present : Out(3)
        Which of ``w0``, ``w1``, ``w2`` hold a word.
    flush, restart : In(1)
    """

    SLOTS = 5         # three words under the field, two of prefetch

    def __init__(self, field_bits):
        if not 1 <= field_bits <= 32:
            raise ValueError(f"field_bits must be 1 .. 32, not {field_bits}")
        self._field_bits = field_bits
        super().__init__({
            "words": In(stream.Signature(Word)),
            "field": Out(field_bits),
            "head": Out(32),
            "has_head": Out(1),
            "pos": Out(6),
            "take": In(6),
            "consume": In(1),
            "sum": Out(6),
            "shift": Out(1),
            "bits_ok": Out(1),
            "starved": Out(1),
            "settled": Out(1),
            "held": Out(2),
            "present": Out(3),
            "ended": Out(1),
            "flush": In(1),
            "restart": In(1),
        })

    @property
    def field_bits(self):
        return self._field_bits

    def elaborate(self, platform):
        m = Module()
        w = [Signal(32, name=f"w{i}") for i in range(self.SLOTS)]
        v = [Signal(name=f"v{i}") for i in range(self.SLOTS)]
        high = self.pos[5]              # w0 is used up: the position is in w1

        # the field: three stages of 4:1 multiplexers (shift by 16s, by 4s, by 1s)
        window = Cat(w[0], w[1], w[2])
        m.d.comb += self.field.eq(bit_select(m, platform, window, self.pos, self._field_bits))
        m.d.comb += [
            self.head.eq(w[0]),
            self.sum.eq(self.pos[:5] + self.take),
            self.shift.eq(high),
            # registers only: with w3 free, w4 moves on this cycle (or is free already)
            self.words.ready.eq(~(v[3] & v[4]) & ~self.ended),
        ]

        # A slot takes the word above it when it is empty or when the window moves (then every
        # word moves down); so each decision is one step from registers. A gap below a word
        # closes one slot per cycle.
        move = [v[i + 1] & (~v[i] | self.shift) for i in range(self.SLOTS - 1)]
        accept = self.words.valid & self.words.ready
        for i in range(self.SLOTS - 1):
            with m.If(move[i]):
                m.d.sync += w[i].eq(w[i + 1])
        with m.If(accept):
            m.d.sync += w[-1].eq(self.words.payload.data)

        # the next state
        v_next = [Signal(name=f"v{i}_next") for i in range(self.SLOTS)]
        pos_next = Signal(6)
        ended_next = Signal()
        leave = [self.shift] + move         # slot i's word leaves (down, or out of w0)
        for i in range(self.SLOTS):
            arrive = move[i] if i < self.SLOTS - 1 else accept
            m.d.comb += v_next[i].eq(((v[i] & ~leave[i]) | arrive) & ~self.flush)
        m.d.comb += [
            pos_next.eq(Mux(self.flush, 0,
                            Mux(self.consume, self.sum, Cat(self.pos[:5], 0)))),
            ended_next.eq((self.ended | (accept & self.words.payload.last)) & ~self.restart),
        ]
        # Once the last word is in and every word is down in the window without a gap, the
        # window holds the rest of the stream (registered one cycle late: this stays true
        # until the next tensor).
        settled = self.settled
        m.d.sync += [
            *(v[i].eq(v_next[i]) for i in range(self.SLOTS)),
            self.pos.eq(pos_next),
            self.ended.eq(ended_next),
            settled.eq(self.ended & ~v[3] & ~v[4] & ~(v[2] & ~v[1]) & ~(v[1] & ~v[0]) &
                       ~self.flush & ~self.restart),
        ]
        here = Mux(high, v[1], v[0])
        m.d.comb += [
            # every word under the field (at any position) is there, or the rest of the stream
            self.bits_ok.eq((v[0] & v[1] & v[2]) | settled),
            self.starved.eq(settled & ~here),
            self.has_head.eq(v[0]),
            self.held.eq(v[0] + v[1] + v[2]),
            self.present.eq(Cat(v[0], v[1], v[2])),
        ]
        return m
