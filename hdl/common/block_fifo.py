"""A FIFO in block RAM whose output comes from a register of the RAM, not from its array."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .table_ram import TableRAM

__all__ = ["BlockFIFO"]


class BlockFIFO(wiring.Component):
    """First in, first out, ``depth`` entries of ``width`` bits in a :class:`TableRAM`.

    The write goes through a register stage (address, data and enable), so every input of the
    RAM's write port is a flip-flop: a wide FIFO's block RAMs lie far apart, and in the 8-lane
    compressor at 0d15fd5 the critical path was the full check on the way to their write
    enables (11.45 ns, 8.65 of it routing). The read goes through the RAM's two register stages
    (on ECP5 the block RAM's address and output registers), so :attr:`r` ``.payload`` is a
    register: no path starts at the block RAM's slow clock-to-out. Both read stages move on when
    the output is free or being taken, and hold otherwise. Latency: an entry written is
    readable three cycles later; throughput: one entry per clock on both sides.

    ``w.ready``, ``r.valid`` and :attr:`level` depend on registers only. :attr:`level` counts the
    entries held, those on their way out of the RAM included (at most ``depth + 2``).

    Parameters
    ----------
    width, depth : int

    Members
    -------
    w : In(stream.Signature(width))
    r : Out(stream.Signature(width))
    level : Out(range(depth + 3))
    """

    def __init__(self, width, depth):
        if depth < 4:
            raise ValueError(f"depth must be at least 4, not {depth}")
        self._width, self._depth = width, depth
        super().__init__({
            "w": In(stream.Signature(width)),
            "r": Out(stream.Signature(width)),
            "level": Out(range(depth + 3)),
        })

    @property
    def width(self):
        return self._width

    @property
    def depth(self):
        return self._depth

    def elaborate(self, platform):
        m = Module()
        D = self._depth
        m.submodules.ram = ram = TableRAM(D, self._width)

        # pointers count around 2 * depth, so that full and empty differ; levels are differences
        # of registers, so that no ready or valid of this cycle reaches them
        def pointer(name):
            return Signal(range(2 * D), name=name)

        produce = pointer("produce")    # entries taken in
        written = pointer("written")    # entries in the array (a cycle behind `produce`)
        consume = pointer("consume")    # entries read out of the array
        taken = pointer("taken")        # entries taken from the output
        reading = Signal()              # an entry is in the RAM's first read register

        pow2 = D & (D - 1) == 0
        abits = max(1, (D - 1).bit_length())

        def index(p):
            return p[:abits] if pow2 else Mux(p >= D, p - D, p)[:abits]

        def increment(p):
            return (p + 1)[:len(p)] if pow2 else Mux(p == 2 * D - 1, 0, p + 1)

        def distance(a, b):             # a - b around 2 * depth
            return (a - b)[:len(a)] if pow2 else Mux(a >= b, a - b, a + 2 * D - b)

        empty = written == consume      # nothing in the array to read
        full = (index(produce) == index(consume)) & (produce != consume)
        m.d.comb += self.level.eq(distance(produce, taken))

        write = self.w.valid & self.w.ready
        take = self.r.valid & self.r.ready
        advance = ~self.r.valid | self.r.ready      # both read registers move on
        issue = advance & ~empty
        write_addr = Signal(abits)
        write_data = Signal(self._width)
        write_en = Signal()
        # (no enable on the data and address registers: nothing fans out to them)
        m.d.sync += [write_en.eq(write), write_addr.eq(index(produce)),
                     write_data.eq(self.w.payload)]
        with m.If(write_en):
            m.d.sync += written.eq(increment(written))
        m.d.comb += [
            self.w.ready.eq(~full),
            ram.write_addr.eq(write_addr),
            ram.write_data.eq(write_data),
            ram.write_en.eq(write_en),
            ram.read_addr.eq(index(consume)),
            ram.read_en.eq(advance),
            self.r.payload.eq(ram.read_data),
        ]
        with m.If(write):
            m.d.sync += produce.eq(increment(produce))
        with m.If(issue):
            m.d.sync += consume.eq(increment(consume))
        with m.If(take):
            m.d.sync += taken.eq(increment(taken))
        with m.If(advance):
            m.d.sync += [reading.eq(issue), self.r.valid.eq(reading)]
        return m
