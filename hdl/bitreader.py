"""Bit reader: a stream of 32-bit words in, any number of bits (up to ``max_take``) out per cycle.

Bits leave LSB first from little-endian words, as the golden encoder writes them.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .ports import Word

__all__ = ["BitReader"]

WINDOW_WORDS = 3


class BitReader(wiring.Component):
    """A three-word window over the input words.

    Each cycle the user looks at :attr:`peek` (the next ``max_take`` bits, LSB first) and
    :attr:`avail` (how many of them are real) and consumes ``take <= avail`` bits. One word is
    accepted per cycle while the window has a free slot, so reads of up to 32 bits per cycle are
    sustained from a stream that delivers at least that rate. The ready of :attr:`words` depends
    on registers only.

    The reader stops accepting words after one with ``last`` set (the end of a tensor) until
    :attr:`restart` is pulsed; :attr:`ended` says it has seen that word. :attr:`flush` drops
    the whole window (used to discard the rest of a broken tensor).

    Parameters
    ----------
    max_take : int
        Largest read, at most 32 bits.

    Members
    -------
    words : In(stream.Signature(Word))
    peek : Out(max_take)
    avail : Out(range(97))
        Bits in the window (``peek`` bits beyond it read as zero).
    take : In(range(max_take + 1))
    ended, flush, restart : see above
    shifted : Out(1), shifted_word : Out(32)
        A whole word was consumed this cycle, and which (for the CRC).
    """

    def __init__(self, max_take):
        if not 1 <= max_take <= 32:
            raise ValueError(f"max_take must be 1 .. 32, not {max_take}")
        self._max_take = max_take
        super().__init__({
            "words": In(stream.Signature(Word)),
            "peek": Out(max_take),
            "avail": Out(range(32 * WINDOW_WORDS + 1)),
            "take": In(range(max_take + 1)),
            "ended": Out(1),
            "flush": In(1),
            "restart": In(1),
            "shifted": Out(1),
            "shifted_word": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        w = [Signal(32, name=f"w{i}") for i in range(WINDOW_WORDS)]
        count = Signal(range(WINDOW_WORDS + 1))   # valid words in the window
        pos = Signal(5)                             # bits of w0 already consumed

        # avail (= 32 * count - pos) is kept in a register of its own, so that the user's
        # `avail >= need` decision does not wait for a subtraction
        m.d.comb += [
            self.peek.eq((Cat(*w) >> pos)[:self._max_take]),
            self.words.ready.eq((count < WINDOW_WORDS) & ~self.ended),
        ]

        # consume
        nxt = Signal(6)
        m.d.comb += [
            nxt.eq(pos + self.take),
            self.shifted.eq(nxt[5]),
            self.shifted_word.eq(w[0]),
        ]
        shifted_w = [Mux(self.shifted, w[i + 1] if i + 1 < WINDOW_WORDS else 0, w[i])
                     for i in range(WINDOW_WORDS)]
        count_after = Signal.like(count)
        m.d.comb += count_after.eq(count - self.shifted)
        m.d.sync += pos.eq(nxt[:5])

        # fill: the accepted word goes into the first free slot after the shift
        accept = self.words.valid & self.words.ready
        for i in range(WINDOW_WORDS):
            with m.If(accept & (count_after == i)):
                m.d.sync += w[i].eq(self.words.payload.data)
            with m.Else():
                m.d.sync += w[i].eq(shifted_w[i])
        m.d.sync += [
            count.eq(count_after + accept),
            self.avail.eq(self.avail - self.take + Mux(accept, 32, 0)),
        ]
        with m.If(accept & self.words.payload.last):
            m.d.sync += self.ended.eq(1)

        with m.If(self.flush):
            m.d.sync += [count.eq(0), pos.eq(0), self.avail.eq(0)]
        with m.If(self.restart):
            m.d.sync += self.ended.eq(0)
        return m
