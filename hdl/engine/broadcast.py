"""The token factory's stream plumbing: one stream broadcast to several consumers, one stream
dealt to them in turn, and their streams zipped back into one."""

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Broadcast", "Deal", "Zip"]


class Broadcast(wiring.Component):
    """Every payload of :attr:`i` to each of the ``count`` outputs :attr:`o`.

    A payload leaves :attr:`i` once every output has taken it; each output takes it when it is
    ready, independently of the others (a register per output remembers that it has), so an
    output's ``valid`` depends on ``i.valid`` and that register only, never on a ready.
    Throughput one payload per clock while all outputs are ready; no latency (no register on
    the data path).

    Members
    -------
    i : In(stream.Signature(shape))
    o : Out(stream.Signature(shape)).array(count)
    """

    def __init__(self, shape, count):
        if not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, not {count!r}")
        self._count = count
        super().__init__({"i": In(stream.Signature(shape)),
                          "o": Out(stream.Signature(shape)).array(count)})

    def elaborate(self, platform):
        m = Module()
        had = Signal(self._count)       # output k has taken the payload at the input
        takes = []
        for k, o in enumerate(self.o):
            m.d.comb += [o.payload.eq(self.i.payload), o.valid.eq(self.i.valid & ~had[k])]
            takes.append(had[k] | o.ready)
        m.d.comb += self.i.ready.eq(Cat(*takes).all())
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += had.eq(0)
        with m.Else():
            for k, o in enumerate(self.o):
                with m.If(o.valid & o.ready):
                    m.d.sync += had[k].eq(1)
        return m


class Deal(wiring.Component):
    """Runs of :attr:`i` (a run ends with a payload whose ``last`` is set) to the outputs in
    turn: the first run to ``o[0]``, the next to ``o[1]``, ..., round; :attr:`reset` sends the
    next run to ``o[0]`` again. No latency; ``i.ready`` is the current output's.

    Members
    -------
    i : In(stream.Signature(shape))
    o : Out(stream.Signature(shape)).array(count)
    reset : In(1)
    current : Out(range(count))
    """

    def __init__(self, shape, count):
        if not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, not {count!r}")
        self._count = count
        super().__init__({"i": In(stream.Signature(shape)),
                          "o": Out(stream.Signature(shape)).array(count),
                          "reset": In(1),
                          "current": Out(range(count))})

    def elaborate(self, platform):
        m = Module()
        cur = self.current
        for k, o in enumerate(self.o):
            m.d.comb += [o.payload.eq(self.i.payload), o.valid.eq(self.i.valid & (cur == k))]
        m.d.comb += self.i.ready.eq(Array(o.ready for o in self.o)[cur])
        with m.If(self.reset):
            m.d.sync += cur.eq(0)
        with m.Elif(self.i.valid & self.i.ready & self.i.payload.last):
            m.d.sync += cur.eq(Mux(cur == self._count - 1, 0, cur + 1))
        return m


class Zip(wiring.Component):
    """One payload from each of ``count`` inputs :attr:`i` into one output beat: ``value[k]`` is
    input ``k``'s ``value``, ``last`` input 0's. A beat leaves when every input has one (their
    readies rise together); no latency.

    Members
    -------
    i : In(stream.Signature(data.StructLayout({"value": bits, "last": 1}))).array(count)
    o : Out(stream.Signature(data.StructLayout({"value": ArrayLayout(bits, count), "last": 1})))
    """

    def __init__(self, bits, count):
        if not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive integer, not {count!r}")
        self._count = count
        item = data.StructLayout({"value": bits, "last": 1})
        beat = data.StructLayout({"value": data.ArrayLayout(bits, count), "last": 1})
        super().__init__({"i": In(stream.Signature(item)).array(count),
                          "o": Out(stream.Signature(beat))})

    def elaborate(self, platform):
        m = Module()
        all_valid = Cat(*(i.valid for i in self.i)).all()
        m.d.comb += [self.o.valid.eq(all_valid), self.o.payload.last.eq(self.i[0].payload.last)]
        for k, i in enumerate(self.i):
            m.d.comb += [self.o.payload.value[k].eq(i.payload.value),
                         i.ready.eq(self.o.ready & all_valid)]
        return m
