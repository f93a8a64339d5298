"""Chunk buffer: stores a chunk of items and gives it back reversed (or in order)."""

from amaranth.hdl import Array, Cat, Module, Mux, Shape, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .table_ram import TableRAM

__all__ = ["ChunkBuffer"]


class ChunkBuffer(wiring.Component):
    """Two chunks in one block RAM: one fills while the other drains.

    Reversed (``reverse=True``), the two chunks share one region of ``depth`` (rounded up to a
    power of two) items: they are written from its two ends, alternately upwards from the
    bottom and downwards from the top, and each is read back towards the end it started at, so
    the addresses a draining chunk frees are the ones the next chunk needs. A write waits while
    its address is still unread. In order, each chunk has a region of its own (twice the RAM).

    A chunk ends with an item whose ``last`` is set (or after ``depth`` items). The chunk leaves
    :attr:`o` with its items in reverse order (``reverse=True``: what tANS needs, which encodes
    last-in-first-out) or in order, ``last`` on its final item, and on every item the chunk's
    ``meta`` (taken from its last input item) and ``count``.

    Throughput: one item per clock in and out, plus one cycle per chunk; reversed, a chunk of
    nearly ``depth`` items fills only as fast as the one before it drains (a few items ahead of
    it: about 5 cycles more per chunk of the region's full size). Latency: a chunk starts to
    leave two cycles after its last item arrives, plus two cycles of block-RAM read through
    :class:`~hdl.common.table_ram.TableRAM` (on ECP5 the DP16KD output register: no path starts at the
    block RAM's slow clock-to-out). :attr:`i` ``.ready`` depends on registers only.

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
        size = 1 << abits
        m.submodules.ram = ram = TableRAM(size if self._reverse else 2 * size,
                                          Shape.cast(self._shape).width)

        def address(index, slot):
            if self._reverse:           # slot 0 from the bottom up, slot 1 from the top down
                return index[:abits] ^ slot.replicate(abits)
            return Cat(index[:abits], slot)

        full = Array(Signal(name=f"full{k}") for k in range(2))
        count = Array(Signal(range(depth + 1), name=f"count{k}") for k in range(2))
        meta = Array(Signal(self._meta, name=f"meta{k}") for k in range(2))
        w_slot, r_slot = Signal(), Signal()
        w_addr = Signal(range(depth))
        r_idx = Signal(range(depth))
        writing = Signal()

        r_open = Signal()               # r_left / r_idx hold the current chunk's position
        r_left = Signal(range(depth))   # items after the next one

        # write side. Reversed, item w_addr of the filling chunk and item r_left (the highest
        # unread) of the draining one sit at the same address when w_addr + r_left = size - 1:
        # a write needs w_addr + r_left < size - 1. ``room`` is that from the registers a cycle
        # before, for w_addr + 1 (a write in between); at a chunk's end, for the next chunk's
        # first item against this chunk's last. The other side of the compare, ``limit`` =
        # size - 2 - highest unread, is a register a cycle older still: while a chunk drains,
        # its highest unread only falls, so an older limit is only stricter; when a chunk is
        # closed, its own last index gives the limit of the next cycle. (Two stages, one carry
        # chain each, where the ready's register had three in a row.)
        room = Signal(init=1)
        if self._reverse:
            limit = Signal(range(-1, size - 1))
            closing = self.i.valid & self.i.ready & (self.i.payload.last | (w_addr == depth - 1))
            m.d.sync += [
                limit.eq(Mux(closing, (size - 2) - w_addr,
                             Mux(r_open & (r_slot != w_slot), (size - 2) - r_left,
                                 (size - 1) - count[~w_slot]))),
                room.eq(~full[~w_slot] | (w_addr < limit)),
            ]
        m.d.comb += [
            self.i.ready.eq(~full[w_slot] & room),
            ram.write_addr.eq(address(w_addr, w_slot)),
            ram.write_data.eq(self.i.payload.item),
        ]
        with m.If(self.i.valid & self.i.ready):
            m.d.comb += ram.write_en.eq(1)
            m.d.sync += [w_addr.eq(w_addr + 1), writing.eq(1)]
            with m.If(self.i.payload.last | (w_addr == depth - 1)):
                m.d.sync += [
                    count[w_slot].eq(w_addr + 1), meta[w_slot].eq(self.i.payload.meta),
                    full[w_slot].eq(1), w_slot.eq(~w_slot), w_addr.eq(0), writing.eq(0),
                ]
                if self._reverse:
                    m.d.sync += room.eq(w_addr < size - 2)

        # read side: the block RAM's two registers (address, output) are the pipeline; both
        # stages move on when the output is free or taken, and hold otherwise. A chunk opens a
        # cycle before its first read: the address comes from a register, not from an adder
        # behind the slot's count (a chunk costs one cycle more).
        n = count[r_slot]
        advance = ~self.o.valid | self.o.ready
        s1_valid = Signal()             # an item's address is in the RAM
        s1_last = Signal()
        s1_meta = Signal(self._meta)
        s1_count = Signal(range(depth + 1))
        m.d.comb += [self.o.payload.item.eq(ram.read_data), ram.read_en.eq(advance),
                     ram.read_addr.eq(address(r_left if self._reverse else r_idx, r_slot))]
        with m.If(full[r_slot] & ~r_open):
            m.d.sync += [r_left.eq(n - 1), r_idx.eq(0), r_open.eq(1)]
        with m.If(advance):
            m.d.sync += [
                s1_valid.eq(0),
                self.o.valid.eq(s1_valid), self.o.payload.last.eq(s1_last),
                self.o.payload.meta.eq(s1_meta), self.o.payload.count.eq(s1_count),
            ]
            with m.If(r_open):
                m.d.sync += [
                    s1_valid.eq(1),
                    s1_last.eq(r_left == 0),
                    s1_meta.eq(meta[r_slot]),
                    s1_count.eq(n),
                    r_idx.eq(r_idx + 1),
                    r_left.eq(r_left - 1),
                ]
                with m.If(r_left == 0):
                    m.d.sync += [full[r_slot].eq(0), r_slot.eq(~r_slot), r_open.eq(0)]

        m.d.comb += self.busy.eq(full[0] | full[1] | writing | s1_valid | self.o.valid)
        return m
