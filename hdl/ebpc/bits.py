"""Bit fields to stream words and back, MSB first, for the EBPC streams."""

from amaranth.hdl import Module, Mux, Signal
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
    """Stream words in, a window of the next ``window`` bits out, MSB first; the user consumes
    ``take`` bits (0 .. window) a cycle.

    The buffer holds up to ``window + 16`` bits and takes a word whenever it holds at most
    ``window + 8`` (so ``words.ready`` depends on registers only): with the input keeping up,
    a word comes every clock and at least ``window`` bits are there whenever at most 8 a clock
    are consumed on average. It
    takes no word after one with ``last`` (:attr:`ended`) until :attr:`restart`; :attr:`enable`
    low holds it back (the BPC decoder takes no word before a tensor needs one).
    :attr:`restart` also drops what is held. Bits past the stream's end read as zero.

    Parameters
    ----------
    window : int
        Width of :attr:`bits` (8 .. 16).

    Members
    -------
    words : In(stream.Signature(StreamWord))
    bits : Out(window)
    count : Out(range(window + 17))
        Bits held.
    held : Out(window + 16)
        All of them, MSB-aligned (zeros below ``count``).
    take : In(range(window + 1))
    ended : Out(1)
        The word with ``last`` is in: what is held is the rest of the stream.
    started : Out(1)
        A word has been taken since the last :attr:`restart`.
    enable, restart : In(1)
    """

    def __init__(self, window):
        if not 8 <= window <= 16:
            raise ValueError(f"window must be 8 .. 16, not {window}")
        self._window = window
        super().__init__({
            "words": In(stream.Signature(StreamWord)),
            "bits": Out(window),
            "count": Out(range(window + 17)),
            "held": Out(window + 16),
            "take": In(range(window + 1)),
            "ended": Out(1),
            "started": Out(1),
            "enable": In(1, init=1),
            "restart": In(1),
        })

    @property
    def window(self):
        return self._window

    def elaborate(self, platform):
        m = Module()
        W = self._window
        R = W + 16
        held = self.held
        m.d.comb += [
            self.bits.eq(held[R - W:]),
            self.words.ready.eq(self.enable & ~self.ended & ~self.restart &
                                (self.count <= W + 8)),
        ]
        take_word = self.words.valid & self.words.ready
        left = Signal(range(R + 1))
        m.d.comb += left.eq(self.count - self.take)
        shifted = (held << self.take)[:R]
        incoming = (self.words.payload.data << (R - 8)) >> left
        with m.If(self.restart):
            m.d.sync += [held.eq(0), self.count.eq(0), self.ended.eq(0), self.started.eq(0)]
        with m.Else():
            m.d.sync += [
                held.eq(shifted | Mux(take_word, incoming, 0)),
                self.count.eq(left + Mux(take_word, 8, 0)),
                self.ended.eq(self.ended | (take_word & self.words.payload.last)),
                self.started.eq(self.started | take_word),
            ]
        return m
