"""tANS encoder lane core: coding pairs of a chunk, last first, -> bit fields of the payload."""

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.format.layouts import (ENC_CODE_BASE, ENC_NEXT_BASE, ENC_SYMBOL_BASE, EncodeCode,
                                   EncodeSymbol, TableConfig)
from hdl.ans.decode.lane import check_lane_parameters
from hdl.common.ports import TableWrite
from hdl.common.table_ram import TableRAM

__all__ = ["EncodeLane", "Field", "ChunkMeta"]

#: Per-chunk side information carried along the compressor.
ChunkMeta = data.StructLayout({"tensor_last": 1, "pairs": 19})


def Field(width):
    """A bit field of the payload: ``value`` in its low ``width`` bits."""
    return data.StructLayout({"value": width, "width": 6})


class EncodeLane(wiring.Component):
    """Encodes the pairs of each chunk in reverse order, as :func:`golden.ans.tans.encode_chunk`.

    Input: a chunk's pairs last first (from a reversing :class:`~hdl.common.chunk_buffer.ChunkBuffer`),
    with the chunk's pair count. Output, per pair in that order, one field ``ans | raw << nbits``
    of ``nbits + width`` bits, then the chunk's final states (state ``S-1`` first, ``table_log``
    bits each, ``last`` on state 0). Reversed once more, the fields are the chunk body in order.

    The table is written through :attr:`table` while :attr:`busy` is low (see
    :meth:`golden.ans.codec.Table.encoder_image`; one write per clock, made a clock after it is
    taken, and no pair is taken in that clock). A code the table cannot code raises
    :attr:`uncodable` (sticky until :attr:`clear`); its pair is coded as the escape symbol's
    code 0 so the stream keeps its shape, but the tensor is not valid.

    Throughput: one pair per clock, plus :meth:`chunk_overhead` cycles per chunk (``7 + states``,
    ``9 + states`` with 4 states: the pipeline drains before the final states), measured by a
    test. With one state the next-state read is forwarded into the same cycle (a longer path);
    with two it is not; with 4 it is read through two registers (a block RAM's output
    register) and forwarded into x. The code map and the symbol entries are read through two
    registers each, the symbol entry once more registered by the coding logic.

    Parameters
    ----------
    table_log_max : int
    states : int
        1, 2 or 4.
    extra_max : int
        Widest extra field (an escape's raw code included); ``table_log_max + extra_max <= 32``.
    chunk_max : int
        Largest chunk, in pairs.
    code_widths : list of int, or None
        The raw code widths (``config.code_bits``) the escape symbol must handle: the code
        books of the top's format (:func:`hdl.convert.formats.code_widths`); None for any 0 .. 15.
        With another ``code_bits`` an escape's field is not defined; the compressor flags such
        a table (CONFIG). For bf16, widths 8 and 9 make the escape's shift a 2:1 choice, where
        any width took a barrel shifter (86 LUT4 in Yosys).
    """

    def __init__(self, *, table_log_max=10, states=2, extra_max=16, chunk_max=1024,
                 code_widths=None):
        check_lane_parameters(table_log_max, extra_max, states)
        if code_widths is not None:
            code_widths = sorted(set(code_widths))
            if not code_widths or not all(0 <= w <= 15 for w in code_widths):
                raise ValueError(f"code_widths must be widths 0 .. 15, not {code_widths}")
        self._code_widths = code_widths
        self._R, self._S, self._extra_max, self._chunk_max = \
            table_log_max, states, extra_max, chunk_max
        super().__init__({
            "pairs": In(stream.Signature(data.StructLayout({
                "item": data.StructLayout({"code": 9, "extra": extra_max}),
                "last": 1, "meta": ChunkMeta, "count": range(chunk_max + 1)}))),
            "fields": Out(stream.Signature(data.StructLayout({
                "item": Field(32), "last": 1, "meta": ChunkMeta}))),
            "table": In(stream.Signature(TableWrite)),
            "config": Out(TableConfig),
            "busy": Out(1),
            "uncodable": Out(1),
            "clear": In(1),
        })

    @staticmethod
    def chunk_overhead(states):
        """Cycles a chunk takes beyond one per pair, without stalls."""
        return 7 + states if states < 4 else 9 + states

    def elaborate(self, platform):
        m = Module()
        R, S = self._R, self._S
        L = Signal(R + 1)
        m.d.comb += L.eq(1 << self.config.table_log)

        deep = S >= 4
        if deep:
            # with 4 states the next-state read goes through two registers too (see stage D):
            # in a wide top this block RAM may sit far from the state registers
            m.submodules.next_ram = next_ram = TableRAM(1 << R, R)
        else:
            m.submodules.next_mem = next_mem = memory.Memory(shape=R, depth=1 << R, init=[])
        # the code map is read through two registers (on ECP5 the DP16KD output register): its
        # entry addresses the symbol memory, and a block RAM's raw clock-to-out is 5.8 ns
        m.submodules.code_ram = code_ram = TableRAM(512, data.Layout.cast(EncodeCode).size)
        # The symbol entries are read through two registers too (stage B1: the DP16KD output
        # register), then registered once more into B2's register, which sits by the coding
        # logic. Read raw into B2 the block RAM's 5.8 ns clock-to-out was the 8-lane top's
        # path (799.5 M, `e4431cf`); with B2 the RAM's output register, the route from a far
        # RAM into the coding step was (761 M, `c06a6aa`).
        m.submodules.sym_ram = sym_ram = TableRAM(1024, data.Layout.cast(EncodeSymbol).size)
        if deep:
            next_wp_addr, next_wp_data, next_wp_en = \
                next_ram.write_addr, next_ram.write_data, next_ram.write_en
        else:
            next_wp = next_mem.write_port()
            next_rp = next_mem.read_port(domain="sync")
            m.d.comb += next_rp.en.eq(0)
            next_wp_addr, next_wp_data, next_wp_en = next_wp.addr, next_wp.data, next_wp.en

        # --- table port: a write is made a cycle after it is taken, from registers (no path
        # from the handshake, which waits for the lane to be idle, to the block RAMs' pins)
        t_valid = Signal()
        t_write = Signal(TableWrite)
        m.d.comb += self.table.ready.eq(~self.busy)
        m.d.sync += t_valid.eq(self.table.valid & self.table.ready)
        with m.If(self.table.valid & self.table.ready):
            m.d.sync += t_write.eq(self.table.payload)
        a, d = t_write.addr, t_write.data
        m.d.comb += [
            next_wp_addr.eq(a - ENC_NEXT_BASE), next_wp_data.eq(d),
            code_ram.write_addr.eq(a - ENC_CODE_BASE), code_ram.write_data.eq(d),
            sym_ram.write_addr.eq(a - ENC_SYMBOL_BASE), sym_ram.write_data.eq(d),
        ]
        with m.If(t_valid):
            with m.If(a == 0):
                m.d.sync += self.config.eq(d)
            with m.Elif(a < ENC_NEXT_BASE + (1 << R)):
                m.d.comb += next_wp_en.eq(1)
            with m.Elif((a >= ENC_CODE_BASE) & (a < ENC_CODE_BASE + 512)):
                m.d.comb += code_ram.write_en.eq(1)
            with m.Elif((a >= ENC_SYMBOL_BASE) & (a < ENC_SYMBOL_BASE + 1024)):
                m.d.comb += sym_ram.write_en.eq(1)

        state_regs = [Signal(R, name=f"state{k}") for k in range(S)]
        state = Array(state_regs)

        # pipeline registers: A (code map read issued), A2 (its entry on the way out of the RAM's
        # output register), B (symbol read), B1 (its entry in the RAM's output register), B2
        # (symbol entry registered by the coding logic), B3 (4 states: the coded pair), C (=
        # output, next-state read)
        va, va2, vb, vb1, vb2 = Signal(), Signal(), Signal(), Signal(), Signal()
        a2_code, a2_extra, a2_j = Signal(9), Signal(self._extra_max), Signal(range(S))
        b2_raw, b2_width, b2_j = Signal(32), Signal(6), Signal(range(S))
        b2_sym = Signal(EncodeSymbol)
        a_code, a_extra, a_j = Signal(9), Signal(self._extra_max), Signal(range(S))
        b_raw, b_width, b_j = Signal(32), Signal(6), Signal(range(S))
        b1_raw, b1_width, b1_j = Signal(32), Signal(6), Signal(range(S))
        c_j = Signal(range(S))
        meta = Signal(ChunkMeta)
        j_next = Signal(range(S))
        in_chunk = Signal()
        out = self.fields
        advance = ~out.valid | out.ready
        m.d.comb += [code_ram.read_addr.eq(self.pairs.payload.item.code),
                     code_ram.read_en.eq(advance)]

        entry_code = EncodeCode(code_ram.read_data)
        m.d.comb += [sym_ram.read_addr.eq(entry_code.symbol), sym_ram.read_en.eq(advance)]
        entry_sym = b2_sym

        with m.If(self.clear):
            m.d.sync += self.uncodable.eq(0)

        # With 1 or 2 states the state of the pair leaving the output register is updated from
        # its next-state read; with one state, the pair being coded behind it takes that value
        # forwarded.
        c_is_pair = Signal()
        # With 4 states the next state arrives a step later, when the pair has left C (stage D,
        # `d_valid`), and updates the state then; the pair with the same state, 4 behind, is in
        # B in that step and takes it forwarded into its x (the RAM's output register -> 4:1
        # choice -> x register).
        d_valid, d_j = Signal(), Signal(range(S))
        b3_index = Signal(13)           # (stage B3, below: the address of the next-state read)
        if deep:
            next_data = next_ram.read_data
            m.d.comb += [next_ram.read_addr.eq(b3_index), next_ram.read_en.eq(advance)]
        else:
            with m.If(out.valid & out.ready & c_is_pair):
                m.d.sync += state[c_j].eq(next_rp.data)
        if S == 1:
            x_state = Mux(out.valid & c_is_pair, next_rp.data, state[b2_j])
        else:
            x_state = state[b2_j]
        # The coding step, arranged so that no carry chain waits for another: the state is in
        # [0, L), so L + state is an OR; x < count << shift is (x >> shift) < count; and both
        # outcomes of that compare (nbits = shift or shift - 1) are computed beside it, the
        # compare only choosing between them.
        x = Signal(R + 1)
        b2_x = Signal(R + 1)
        if S >= 4:
            # the pair with the same state is 4 pairs ahead: it has left stage C (and updated
            # the state) by the time this pair enters B2, so x is registered there
            m.d.comb += x.eq(b2_x)
        else:
            m.d.comb += x.eq(L | x_state)
        shift = entry_sym.shift
        hi = Signal(R + 1)              # x >> shift
        hi1 = Signal(R + 2)             # x >> (shift - 1) (used when shift >= 1)
        m.d.comb += [hi.eq(x >> shift), hi1.eq((x << 1) >> shift)]
        less = Signal()
        m.d.comb += less.eq(hi < entry_sym.count)
        index0, index1 = Signal(13), Signal(13)
        m.d.comb += [index0.eq(entry_sym.offset + hi), index1.eq(entry_sym.offset + hi1)]
        index = Signal(13)
        m.d.comb += index.eq(Mux(less, index1, index0))
        nbits = Signal(4)               # state bits written: shift, or shift - 1
        m.d.comb += nbits.eq(shift - less)
        width0 = Signal(6)
        m.d.comb += width0.eq(shift + b2_width)

        def field(raw, x, nbits):
            """The pair's field: ``x``'s low ``nbits`` bits, ``raw`` above them. One shift of
            ``raw`` by the final ``nbits`` (with 4 states from registers, a stage after the
            compare that chose ``nbits``; both outcomes shifted beside the compare were 112
            LUT4 more in Yosys)."""
            mask = Cat(*(nbits > k for k in range(len(x))))
            return (raw << nbits)[:32] | (x & mask)

        # With 4 states the coded pair is registered once more (B3) before C reads its next
        # state: the pair with the same state is still 4 pairs ahead, out of C by the time
        # this one enters B2. (With fewer states B2 feeds C directly.) Its field is made on the
        # way into C.
        vb3 = Signal()
        b3_raw, b3_x, b3_nbits, b3_width = Signal(32), Signal(R + 1), Signal(4), Signal(6)
        b3_j = Signal(range(S))
        coded_width = Mux(less, width0 - 1, width0)
        if deep:
            c_from, c_index, c_width, c_src_j = vb3, b3_index, b3_width, b3_j
            c_value = field(b3_raw, b3_x, b3_nbits)
        else:
            c_from, c_index, c_width, c_src_j = vb2, index, coded_width, b2_j
            c_value = field(b2_raw, x, nbits)

        # an escape's raw bits: its code, then its extra bits above `code_bits`
        escaped_extra = Signal(32)
        if self._code_widths is None:
            m.d.comb += escaped_extra.eq(a2_extra << self.config.code_bits)
        else:
            m.d.comb += escaped_extra.eq(a2_extra << self._code_widths[0])
            for w in self._code_widths[1:]:
                with m.If(self.config.code_bits == w):
                    m.d.comb += escaped_extra.eq(a2_extra << w)

        def stages_b_c():
            """Advance B3 (or B2) -> C (the pair's field out, its next state read), B2 -> B3 (code
            the pair), B -> B2 (register its symbol's entry), A2 -> B (map the code to its
            symbol) and A -> A2."""
            m.d.sync += [out.valid.eq(0), va.eq(0), va2.eq(0), vb.eq(0), vb1.eq(0), vb2.eq(0),
                         vb3.eq(0),
                         c_is_pair.eq(0)]
            if deep:
                m.d.sync += [d_valid.eq(out.valid & c_is_pair), d_j.eq(c_j)]
                with m.If(d_valid):
                    m.d.sync += state[d_j].eq(next_data)
            with m.If(c_from):
                if not deep:
                    m.d.comb += [next_rp.addr.eq(c_index), next_rp.en.eq(1)]
                m.d.sync += [
                    out.valid.eq(1), c_is_pair.eq(1), c_j.eq(c_src_j),
                    out.payload.item.value.eq(c_value),
                    out.payload.item.width.eq(c_width),
                    out.payload.last.eq(0), out.payload.meta.eq(meta),
                ]
            if deep:
                with m.If(vb2):
                    m.d.sync += [vb3.eq(1), b3_index.eq(index), b3_raw.eq(b2_raw), b3_x.eq(x),
                                 b3_nbits.eq(nbits), b3_width.eq(coded_width), b3_j.eq(b2_j)]
            with m.If(vb1):
                m.d.sync += [vb2.eq(1), b2_raw.eq(b1_raw), b2_width.eq(b1_width), b2_j.eq(b1_j),
                             b2_x.eq(L | (Mux(d_valid & (d_j == b1_j), next_data, state[b1_j])
                                          if deep else state[b1_j])),
                             b2_sym.eq(sym_ram.read_data)]
            with m.If(vb):
                m.d.sync += [vb1.eq(1), b1_raw.eq(b_raw), b1_width.eq(b_width), b1_j.eq(b_j)]
            with m.If(va):
                m.d.sync += [va2.eq(1), a2_code.eq(a_code), a2_extra.eq(a_extra), a2_j.eq(a_j)]
            with m.If(va2):
                m.d.sync += [
                    vb.eq(1), b_j.eq(a2_j), b_width.eq(entry_code.width),
                    b_raw.eq(Mux(entry_code.escape, a2_code | escaped_extra, a2_extra)),
                ]
                with m.If(~entry_code.valid):
                    m.d.sync += self.uncodable.eq(1)

        with m.FSM(name="fsm") as fsm:
            with m.State("RUN"):
                with m.If(advance):
                    stages_b_c()
                    # (not in the cycle a table write is made: its code map read would meet it)
                    m.d.comb += self.pairs.ready.eq(~t_valid)
                    p = self.pairs.payload
                    with m.If(self.pairs.valid & ~t_valid):   # A: a pair comes in
                        j = Mux(in_chunk, j_next, (p.count - 1) & (S - 1))
                        m.d.sync += [
                            va.eq(1), a_code.eq(p.item.code), a_extra.eq(p.item.extra),
                            a_j.eq(j), j_next.eq(j - 1), in_chunk.eq(~p.last), meta.eq(p.meta),
                        ]
                        with m.If(p.last):
                            m.next = "DRAIN"
            with m.State("DRAIN"):  # the chunk's first pair (coded last) goes through
                with m.If(advance):
                    stages_b_c()
                    with m.If(~va & ~va2 & ~vb & ~vb1 & ~vb2 & ~vb3 & ~(out.valid & c_is_pair) &
                              ~d_valid):
                        m.d.sync += j_next.eq(S - 1)
                        m.next = "STATES"
            with m.State("STATES"):  # final states, S-1 first
                with m.If(advance):
                    m.d.sync += [
                        out.valid.eq(1), c_is_pair.eq(0),
                        out.payload.item.value.eq(state[j_next]),
                        out.payload.item.width.eq(self.config.table_log),
                        out.payload.last.eq(j_next == 0), out.payload.meta.eq(meta),
                        j_next.eq(j_next - 1),
                    ]
                    with m.If(j_next == 0):
                        m.d.sync += [reg.eq(0) for reg in state_regs]
                        m.next = "RUN"

        m.d.comb += self.busy.eq(va | va2 | vb | vb1 | vb2 | vb3 | out.valid | d_valid | in_chunk |
                                 ~fsm.ongoing("RUN"))
        return m
