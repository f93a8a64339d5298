"""Chunk writer: a chunk's body words in, its header (with the body's CRC-32) and the body out."""

from amaranth.hdl import Array, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.format.layouts import CHUNK_MAGIC, ChunkHeader, TableConfig
from hdl.common.crc32 import Crc32Word
from hdl.common.ports import Word
from hdl.common.table_ram import TableRAM

from .bit_writer import BodyWord
from .lane import ChunkMeta

__all__ = ["ChunkWriter"]


class ChunkWriter(wiring.Component):
    """Holds a chunk's body words until its CRC is known, then sends the
    :class:`~golden.format.layouts.ChunkHeader` and the body. The bodies follow each other through a
    ring of ``depth`` words (rounded up to a power of two): the next chunk fills while this one
    drains, so one word per clock is sustained while two bodies fit in the ring (a typical
    bf16 chunk compresses to about 60 % of ``depth``, the largest possible body).

    Parameters
    ----------
    depth : int
        Largest body, in words.
    states : int

    Members
    -------
    words : In(stream.Signature(BodyWord))
    out : Out(stream.Signature(Word))
        ``last`` on the final word of a tensor's last chunk.
    config : In(TableConfig)
    busy : Out(1)
    """

    def __init__(self, depth, states):
        self._depth, self._states = depth, states
        super().__init__({
            "words": In(stream.Signature(BodyWord)),
            "out": Out(stream.Signature(Word)),
            "config": In(TableConfig),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self._depth
        abits = max(1, (depth - 1).bit_length())
        size = 1 << abits
        # (read through the RAM's two registers: the body word leaves a block RAM's output
        # register, not its array; at 2ce0bdc the 8-lane compressor's critical path started at
        # a framer's raw block-RAM output, 5.83 ns clock-to-out, 12.7 ns in all)
        m.submodules.ring = mem = TableRAM(size, 32)
        m.submodules.crc = crc_unit = Crc32Word()

        full = Array(Signal(name=f"full{k}") for k in range(2))
        count = Array(Signal(range(depth + 1), name=f"count{k}") for k in range(2))
        # the read position of each slot's last body word (3 header words, then count - 1):
        # an equality with the position register, no carry chain in the read's decision
        ends = Array(Signal(range(depth + 3), name=f"end{k}") for k in range(2))
        crcs = Array(Signal(32, name=f"crc{k}") for k in range(2))
        metas = Array(Signal(ChunkMeta, name=f"meta{k}") for k in range(2))
        w_slot, r_slot = Signal(), Signal()
        w_addr = Signal(range(depth + 1))
        pending = Signal()      # the last word is in; its CRC is ready next cycle
        # ring pointers, one bit wider than the address: the words written and read in all
        w_ptr = Signal(abits + 1)
        r_ptr = Signal(abits + 1)       # words whose read has been issued
        r_freed = Signal(abits + 1)     # words out of the RAM (a held read address holds its word)
        # room for a word: the words held, counted a cycle before with that cycle's write (a
        # read in between only makes room). The count comes from the pointer registers alone;
        # this cycle's write only picks one of two comparisons, so it stays off the carry chain.
        room = Signal(init=1)
        written = Signal()
        held = Signal(abits + 1)
        m.d.comb += held.eq(w_ptr - r_freed)
        m.d.sync += room.eq(Mux(written, held < size - 1, held < size))

        w = self.words.payload
        m.d.comb += [
            self.words.ready.eq(~full[w_slot] & ~pending & room),
            mem.write_addr.eq(w_ptr[:abits]),
            mem.write_data.eq(w.data),
            crc_unit.data.eq(w.data),
        ]
        with m.If(self.words.valid & self.words.ready):
            m.d.comb += [mem.write_en.eq(1), crc_unit.valid.eq(1), written.eq(1)]
            m.d.sync += [w_addr.eq(w_addr + 1), w_ptr.eq(w_ptr + 1)]
            with m.If(w.last):
                m.d.sync += [pending.eq(1), count[w_slot].eq(w_addr + 1),
                             ends[w_slot].eq(w_addr + 3),
                             metas[w_slot].eq(w.meta)]
        # the CRC starts again as the chunk's is taken (no word comes then), from a register
        m.d.comb += crc_unit.start.eq(pending)
        with m.If(pending):
            m.d.sync += [crcs[w_slot].eq(crc_unit.crc), full[w_slot].eq(1),
                         w_slot.eq(~w_slot), w_addr.eq(0), pending.eq(0)]

        # read side: three header words, then the body
        header = Signal(ChunkHeader)
        meta = metas[r_slot]
        n = count[r_slot]
        m.d.comb += [
            header.pairs_minus_1.eq(meta.pairs - 1),
            header.table_log_minus_8.eq(self.config.table_log - 8),
            header.states_log2.eq(self._states.bit_length() - 1),
            header.last.eq(meta.tensor_last),
            header.magic.eq(CHUNK_MAGIC),
            header.body_words.eq(n),
            header.body_crc.eq(crcs[r_slot]),
        ]
        r_pos = Signal(range(depth + 4))
        # two stages, both moving on `advance` (as the RAM's two registers): s1 holds the read
        # address in the RAM (or a header word), the output the word
        advance = ~self.out.valid | self.out.ready
        s1_valid = Signal()
        s1_body = Signal()
        s1_header_word = Signal(32)
        s1_last = Signal()
        from_header = Signal()
        header_word = Signal(32)
        m.d.comb += [
            mem.read_addr.eq(r_ptr[:abits]),
            mem.read_en.eq(advance),
            self.out.payload.data.eq(Mux(from_header, header_word, mem.read_data)),
        ]
        with m.If(advance):
            m.d.sync += [self.out.valid.eq(s1_valid), from_header.eq(~s1_body),
                         header_word.eq(s1_header_word), self.out.payload.last.eq(s1_last),
                         s1_valid.eq(0)]
            with m.If(s1_valid & s1_body):
                m.d.sync += r_freed.eq(r_freed + 1)
            with m.If(full[r_slot]):
                m.d.sync += [s1_valid.eq(1), r_pos.eq(r_pos + 1)]
                with m.If((r_pos[2:] == 0) & (r_pos[:2] != 3)):     # r_pos < 3
                    words = header.as_value()
                    m.d.sync += [
                        s1_body.eq(0), s1_last.eq(0),
                        s1_header_word.eq(Mux(r_pos == 0, words[0:32],
                                              Mux(r_pos == 1, words[32:64], words[64:96]))),
                    ]
                with m.Else():
                    # (the chunk's last body word: r_pos - 3 == n - 1, as an equality; at
                    # 44c7e96 the subtract and compare were the 8-lane compressor's critical
                    # path, 10.4 ns)
                    body_last = r_pos == ends[r_slot]
                    m.d.sync += [s1_body.eq(1), r_ptr.eq(r_ptr + 1),
                                 s1_last.eq(body_last & meta.tensor_last)]
                    with m.If(body_last):
                        m.d.sync += [full[r_slot].eq(0), r_slot.eq(~r_slot), r_pos.eq(0)]

        m.d.comb += self.busy.eq(full[0] | full[1] | pending | (w_addr != 0) | s1_valid |
                                 self.out.valid)
        return m
