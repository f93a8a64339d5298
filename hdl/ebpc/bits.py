"""Bit fields to stream words and back, MSB first, for the EBPC streams."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .ports import Field, StreamWord

__all__ = ["BitPacker", "BitBuffer"]


class BitPacker(wiring.Component):
    """Fields of up to ``width`` bits in, 8-bit stream words out, MSB first.

    A field with ``last`` ends the stream: the bits held are sent, the final word zero-padded
    and marked ``last``; a field of length 0 with ``last`` ends it after what is held (nothing,
    if nothing is: then no word is sent). A full word is sent only once a bit after it (or the
    end) is known, so the final word of a stream always carries ``last``, however the fields
    came.

    Throughput: a word per clock while more than 8 bits are held; a field per clock while at
    most 16 bits are held (``fields.ready`` depends on registers only). No field is taken while a
    stream's end is being sent (at most 4 cycles). Latency: a word leaves the cycle after the
    field that completes it (and the next bit) is taken.

    Parameters
    ----------
    width : int
        Widest field (1 .. 16).

    Members
    -------
    fields : In(stream.Signature(Field(width)))
    words : Out(stream.Signature(StreamWord))
    """

    def __init__(self, width):
        if not 1 <= width <= 16:
            raise ValueError(f"width must be 1 .. 16, not {width}")
        self._width = width
        super().__init__({
            "fields": In(stream.Signature(Field(width))),
            "words": Out(stream.Signature(StreamWord)),
        })

    @property
    def width(self):
        return self._width

    def elaborate(self, platform):
        m = Module()
        W = self._width
        R = W + 16                              # held bits, MSB first from bit R - 1
        held = Signal(R)
        count = Signal(range(R + 1))
        ending = Signal()                       # the stream's end is being sent
        f = self.fields.payload

        out_fire = self.words.valid & self.words.ready
        take = self.fields.valid & self.fields.ready
        m.d.comb += [
            self.fields.ready.eq(~ending & (count <= 16)),
            self.words.valid.eq((count > 8) | (ending & (count > 0))),
            self.words.payload.data.eq(held[R - 8:]),
            self.words.payload.last.eq(ending & (count <= 8)),
        ]
        base = Mux(out_fire, held << 8, held)[:R]
        at = Signal(range(R + 1))
        m.d.comb += at.eq(Mux(out_fire, count - 8, count))
        new = Signal(R)
        m.d.comb += new.eq((f.bits << (R - W)) >> at)
        next_count = Signal(range(R + 1))
        m.d.comb += next_count.eq(at + Mux(take, f.length, 0))
        with m.If(out_fire & self.words.payload.last):
            m.d.sync += [held.eq(0), count.eq(0), ending.eq(0)]
        with m.Else():
            m.d.sync += [
                held.eq(base | Mux(take, new, 0)),
                count.eq(next_count),
                # (a stream ended with nothing held sends nothing)
                ending.eq((ending | (take & f.last)) & (next_count != 0)),
            ]
        return m


class BitBuffer(wiring.Component):
    """Stream words in, a view of the next ``view`` bits out, MSB first; the user consumes
    ``take`` bits (0 .. ``take_max``) a cycle.

    The words sit in ``slots`` registers (the first holds the next bit, at :attr:`pos`); the
    view is a bit select of 8 positions over them, and bits past the stream read as zero. A
    word is taken into the first free slot whenever one is free (``words.ready`` depends on
    registers only), so a user that reads at most 8 bits a clock on average and needs at most
    ``8 * (slots - 2)`` bits held to go on gets a word every clock and is never held up. It
    takes no word after one with ``last`` (:attr:`ended`) until :attr:`restart`, which also
    drops what is held; :attr:`enable` low holds it back (the BPC decoder takes no word before
    a tensor needs one). Taking more bits than are held (at the stream's end) leaves nothing
    held.

    Parameters
    ----------
    view : int
        Width of :attr:`bits` (1 .. 8 * slots - 7).
    take_max : int
        Most bits consumed in a cycle (at most 16).
    slots : int
        Words held.

    Members
    -------
    words : In(stream.Signature(StreamWord))
    bits : Out(view)
    count : Out(range(8 * slots + 1))
        Bits held.
    has16 : Out(1)
        At least 16 bits are held (from the word count and position, without a subtraction).
    take : In(range(take_max + 1))
    ended : Out(1)
        The word with ``last`` is in: what is held is the rest of the stream.
    started : Out(1)
        A word has been taken since the last :attr:`restart`.
    enable, restart : In(1)
    """

    def __init__(self, view, take_max, slots):
        if not 1 <= take_max <= 16:
            raise ValueError(f"take_max must be 1 .. 16, not {take_max}")
        if not 1 <= view <= 8 * slots - 7:
            raise ValueError(f"view must be 1 .. {8 * slots - 7}, not {view}")
        self._view, self._take_max, self._slots = view, take_max, slots
        super().__init__({
            "words": In(stream.Signature(StreamWord)),
            "bits": Out(view),
            "count": Out(range(8 * slots + 1)),
            "has16": Out(1),
            "take": In(range(take_max + 1)),
            "ended": Out(1),
            "started": Out(1),
            "enable": In(1, init=1),
            "restart": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        S, V = self._slots, self._view
        word = [Signal(8, name=f"word{i}") for i in range(S)]     # word0: the next bit's
        held = Signal(range(S + 1))                               # words held
        pos = Signal(3)
        everything = Cat(*reversed(word))                         # word0 at the top
        offset = Signal(range(8 * S))
        m.d.comb += [
            offset.eq(8 * S - V - pos),
            self.bits.eq(everything.bit_select(offset, V)),
            self.count.eq(held * 8 - pos),
            self.has16.eq((held >= 3) | ((held == 2) & (pos == 0))),
            self.words.ready.eq(self.enable & ~self.ended & ~self.restart & (held < S)),
        ]
        take_word = self.words.valid & self.words.ready
        moved = Signal(range(self._take_max + 8))
        m.d.comb += moved.eq(pos + self.take)
        drop = moved[3:]                                          # words used up
        with m.If(self.restart):
            m.d.sync += [*(w.eq(0) for w in word), held.eq(0), pos.eq(0), self.ended.eq(0),
                         self.started.eq(0)]
        with m.Else():
            for i in range(S):
                # the words move down by `drop` (zeros come in), the new word lands after them
                new = Const(0, 8)
                for d in range(min(S - i, (self._take_max + 7) // 8 + 1)):
                    new = Mux(drop == d, word[i + d], new) if d else word[i]
                with m.If(take_word & (held - drop == i)):
                    m.d.sync += word[i].eq(self.words.payload.data)
                with m.Else():
                    m.d.sync += word[i].eq(Mux(drop + i < S, new, 0))
            m.d.sync += [
                held.eq(Mux(drop > held, 0, held - drop) + take_word),
                pos.eq(moved[:3]),
                self.ended.eq(self.ended | (take_word & self.words.payload.last)),
                self.started.eq(self.started | take_word),
            ]
        return m
