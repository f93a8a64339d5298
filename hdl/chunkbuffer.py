"""Chunk buffer: stores a chunk of items and gives it back reversed (or in order), ping-pong."""

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["ChunkBuffer"]


class ChunkBuffer(wiring.Component):
    """Two chunk slots in one block RAM: one fills while the other drains.

    A chunk ends with an item whose ``last`` is set (or after ``depth`` items). The chunk leaves
    :attr:`o` with its items in reverse order (``reverse=True``: what tANS needs, which encodes
    last-in-first-out) or in order, ``last`` on its final item, and on every item the chunk's
    ``meta`` (taken from its last input item) and ``count``.

    Throughput: one item per clock in and out, sustained across chunks. Latency: a chunk starts
    to leave the cycle after its last item arrives (plus one cycle of block-RAM read).
    :attr:`i` ``.ready`` depends on registers only.

    Parameters
    ----------
    shape : shape-like
        Item payload.
    depth : int
        Largest chunk.
    meta : shape-like
        Per-chunk side information.
    reverse : bool

    Members
    -------
    i : In(stream.Signature({item, last, meta}))
    o : Out(stream.Signature({item, last, meta, count}))
    busy : Out(1)
        A chunk is held (filling or draining).
    """

    def __init__(self, shape, depth, meta=1, *, reverse=True):
        if depth < 1:
            raise ValueError(f"depth must be at least 1, not {depth}")
        self._shape, self._depth, self._meta, self._reverse = shape, depth, meta, reverse
        super().__init__({
            "i": In(stream.Signature(data.StructLayout(
                {"item": shape, "last": 1, "meta": meta}))),
            "o": Out(stream.Signature(data.StructLayout(
                {"item": shape, "last": 1, "meta": meta, "count": range(depth + 1)}))),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self._depth
        abits = max(1, (depth - 1).bit_length())
        m.submodules.mem = mem = memory.Memory(shape=self.i.payload.item.shape(),
                                               depth=2 << abits, init=[])
        wp = mem.write_port()
        rp = mem.read_port(domain="sync")
        m.d.comb += rp.en.eq(0)

        full = Array(Signal(name=f"full{k}") for k in range(2))
        count = Array(Signal(range(depth + 1), name=f"count{k}") for k in range(2))
        meta = Array(Signal(self._meta, name=f"meta{k}") for k in range(2))
        w_slot, r_slot = Signal(), Signal()
        w_addr = Signal(range(depth))
        r_idx = Signal(range(depth))
        writing = Signal()

        # write side
        m.d.comb += [
            self.i.ready.eq(~full[w_slot]),
            wp.addr.eq(Cat(w_addr, w_slot)),
            wp.data.eq(self.i.payload.item),
        ]
        with m.If(self.i.valid & self.i.ready):
            m.d.comb += wp.en.eq(1)
            m.d.sync += [w_addr.eq(w_addr + 1), writing.eq(1)]
            with m.If(self.i.payload.last | (w_addr == depth - 1)):
                m.d.sync += [
                    count[w_slot].eq(w_addr + 1), meta[w_slot].eq(self.i.payload.meta),
                    full[w_slot].eq(1), w_slot.eq(~w_slot), w_addr.eq(0), writing.eq(0),
                ]

        # read side: the block RAM's output latch is the output register
        n = count[r_slot]
        advance = ~self.o.valid | self.o.ready
        m.d.comb += self.o.payload.item.eq(rp.data)
        with m.If(advance):
            m.d.sync += self.o.valid.eq(0)
            with m.If(full[r_slot]):
                addr = (n - 1 - r_idx) if self._reverse else r_idx
                m.d.comb += [rp.addr.eq(Cat(addr[:abits], r_slot)), rp.en.eq(1)]
                m.d.sync += [
                    self.o.valid.eq(1),
                    self.o.payload.last.eq(r_idx == n - 1),
                    self.o.payload.meta.eq(meta[r_slot]),
                    self.o.payload.count.eq(n),
                    r_idx.eq(r_idx + 1),
                ]
                with m.If(r_idx == n - 1):
                    m.d.sync += [full[r_slot].eq(0), r_slot.eq(~r_slot), r_idx.eq(0)]

        m.d.comb += self.busy.eq(full[0] | full[1] | writing | self.o.valid)
        return m
