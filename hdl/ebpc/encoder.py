"""EBPC encoder: 8-bit values in, the ZNZ and BPC streams of stream-ebpc out (golden.ebpc)."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..convert.formats import Value
from .bits import BitPacker
from .ports import Field, StreamWord

__all__ = ["EbpcEncoder", "ZeroRunCoder", "BlockGatherer", "BlockCoder", "Block"]

BLOCK = 8               # values per BPC block
PLANES = 9              # delta bit planes (9-bit deltas), plane 0 the most significant
PLANE_BITS = BLOCK - 1


class Block(data.Struct):
    """Eight values for the BPC coder (the non-zero values, the last block zero-padded);
    ``flush``: the tensor's last block; ``empty``: no values, only the end of the stream."""
    values: data.ArrayLayout(8, BLOCK)
    flush: 1
    empty: 1


class ZeroRunCoder(wiring.Component):
    """Values in, the ZNZ stream's symbols out: ``1`` for a non-zero value, ``0`` and ``r - 1``
    in 4 bits for a run of ``r`` zeros (1 .. 16; a run is cut at 16). A value gives at most 6
    bits (a run ended by a non-zero value), many give none (a run going on).

    Throughput: a value per clock; latency 1 (an output register).

    Members
    -------
    values : In(stream.Signature(Value(8)))
    fields : Out(stream.Signature(Field(6)))
        ``last`` with the tensor's last value.
    """

    def __init__(self):
        super().__init__({
            "values": In(stream.Signature(Value(8))),
            "fields": Out(stream.Signature(Field(6))),
        })

    def elaborate(self, platform):
        m = Module()
        run = Signal(4)                         # zeros pending
        v = self.values.payload
        nonzero = v.value != 0
        bits, length = Signal(6), Signal(3)
        with m.If(nonzero):
            m.d.comb += [bits.eq(Mux(run != 0, Cat(Const(1, 1), (run - 1)[:4], Const(0, 1)),
                                     0b100000)),
                         length.eq(Mux(run != 0, 6, 1))]
        with m.Elif(run == 15):                 # the 16th zero ends a full run
            m.d.comb += [bits.eq(Cat(Const(0, 1), Const(15, 4), Const(0, 1))), length.eq(5)]
        with m.Elif(v.last):                    # the tensor ends in a run of run + 1 zeros
            m.d.comb += [bits.eq(Cat(Const(0, 1), run, Const(0, 1))), length.eq(5)]

        free = ~self.fields.valid | self.fields.ready
        take = self.values.valid & self.values.ready
        m.d.comb += self.values.ready.eq(free)
        with m.If(take):
            m.d.sync += run.eq(Mux(nonzero | (run == 15) | v.last, 0, run + 1))
            m.d.sync += [self.fields.valid.eq((length != 0) | v.last),
                         self.fields.payload.bits.eq(bits),
                         self.fields.payload.length.eq(length),
                         self.fields.payload.last.eq(v.last)]
        with m.Elif(self.fields.ready):
            m.d.sync += self.fields.valid.eq(0)
        return m


class BlockGatherer(wiring.Component):
    """Values in, blocks of 8 non-zero values out (zeros are dropped); at the tensor's last
    value, the block begun is padded with zeros, or, with none begun, an ``empty`` block ends
    the stream.

    Throughput: a value per clock; a value that completes a block waits only while the
    previous block has not been taken. ``values.ready`` does not depend on ``values.valid``.

    Members
    -------
    values : In(stream.Signature(Value(8)))
    blocks : Out(stream.Signature(Block))
    """

    def __init__(self):
        super().__init__({
            "values": In(stream.Signature(Value(8))),
            "blocks": Out(stream.Signature(Block)),
        })

    def elaborate(self, platform):
        m = Module()
        slots = [Signal(8, name=f"slot{i}") for i in range(BLOCK - 1)]
        k = Signal(range(BLOCK))                # values gathered
        v = self.values.payload
        nonzero = v.value != 0
        completes = (nonzero & (k == BLOCK - 1)) | v.last
        free = ~self.blocks.valid | self.blocks.ready
        take = self.values.valid & self.values.ready
        m.d.comb += self.values.ready.eq(~completes | free)
        with m.If(take & completes):
            here = Mux(nonzero, v.value, 0)
            for i in range(BLOCK):
                value = Mux(k == i, here, 0)
                if i < BLOCK - 1:
                    value = Mux(k > i, slots[i], value)
                m.d.sync += self.blocks.payload.values[i].eq(value)
            m.d.sync += [self.blocks.valid.eq(1), self.blocks.payload.flush.eq(v.last),
                         self.blocks.payload.empty.eq(~nonzero & (k == 0)), k.eq(0)]
        with m.Else():
            with m.If(self.blocks.ready):
                m.d.sync += self.blocks.valid.eq(0)
            with m.If(take & nonzero):
                with m.Switch(k):
                    for i in range(BLOCK - 1):
                        with m.Case(i):
                            m.d.sync += slots[i].eq(v.value)
                m.d.sync += k.eq(k + 1)
        return m


def _plane_symbol(m, dbx, dbp_zero, start, run):
    """``(code, length)`` of one bit plane: ``code`` 8 bits MSB-aligned (docs/ebpc.md, symbol
    table); length 0 for a zero plane inside a run begun above it."""
    code, length = Signal(8), Signal(4)
    ones = [dbx == (1 << (PLANE_BITS - 1 - p)) for p in range(PLANE_BITS)]
    twos = [dbx == (0b11 << (PLANE_BITS - 2 - p)) for p in range(PLANE_BITS - 1)]
    pos = Signal(3)
    for p in range(PLANE_BITS):
        with m.If(ones[p] | (twos[p] if p < PLANE_BITS - 1 else 0)):
            m.d.comb += pos.eq(p)
    with m.If(dbx == 0):
        with m.If(start & (run == 1)):
            m.d.comb += [code.eq(0b01000000), length.eq(2)]
        with m.Elif(start):
            m.d.comb += [code.eq(Cat(Const(0, 2), (run - 2)[:3], Const(0b001, 3))),
                         length.eq(6)]
    with m.Elif(dbx == (1 << PLANE_BITS) - 1):
        m.d.comb += [code.eq(0b00000000), length.eq(5)]
    with m.Elif(dbp_zero):
        m.d.comb += [code.eq(0b00001000), length.eq(5)]
    with m.Elif(Cat(*ones).any()):
        m.d.comb += [code.eq(Cat(pos, Const(0b00011, 5))), length.eq(8)]
    with m.Elif(Cat(*twos).any()):
        m.d.comb += [code.eq(Cat(pos, Const(0b00010, 5))), length.eq(8)]
    with m.Else():
        m.d.comb += [code.eq(Cat(dbx, Const(1, 1))), length.eq(8)]
    return code, length


class BlockCoder(wiring.Component):
    """Blocks of 8 values in, their BPC bits out in 5 fields of at most 16 bits: the first value
    and plane 8's symbol, then planes 7 and 6, 5 and 4, 3 and 2, 1 and 0 (the 'paper' symbols
    of stream-ebpc; consecutive zero XOR planes are one symbol, sent with the first of them).
    Fields of no bits are not sent, but for the tensor's last (``last``); an ``empty`` block
    gives that field alone.

    The planes' XOR planes and zero runs are found when the block is taken; each step then
    codes its two planes (two symbol coders, not nine), picked into registers a step ahead.

    Throughput: a block per 5 clocks (8 values need 8); latency: the first field leaves 2
    cycles after the block is taken. ``blocks.ready`` depends on registers and on the ready
    of :attr:`fields`.

    Members
    -------
    blocks : In(stream.Signature(Block))
    fields : Out(stream.Signature(Field(16)))
    """

    STEPS = 5

    def __init__(self):
        super().__init__({
            "blocks": In(stream.Signature(Block)),
            "fields": Out(stream.Signature(Field(16))),
        })

    def elaborate(self, platform):
        m = Module()
        # stage 1: the block's first value, its XOR planes, which delta planes are zero, and
        # where each run of zero XOR planes starts and how long it is
        base = Signal(8)
        dbx = [Signal(PLANE_BITS, name=f"dbx{j}") for j in range(PLANES)]
        dbp_zero = [Signal(name=f"dbp_zero{j}") for j in range(PLANES)]
        start = [Signal(name=f"start{j}") for j in range(PLANES)]
        run = [Signal(4, name=f"run{j}") for j in range(PLANES)]
        flush, empty, busy = Signal(), Signal(), Signal()
        step = Signal(range(self.STEPS))

        x = self.blocks.payload.values
        deltas = [Signal(PLANES, name=f"delta{k}") for k in range(1, BLOCK)]
        for k, d in enumerate(deltas, start=1):
            m.d.comb += d.eq(x[k].as_signed() - x[k - 1].as_signed())
        # plane j holds bit (8 - j) of every delta, the delta of values 0 -> 1 as its MSB
        dbp = [Cat(*(deltas[k][PLANES - 1 - j] for k in reversed(range(BLOCK - 1))))
               for j in range(PLANES)]
        xor = [dbp[j] ^ dbp[j + 1] if j < PLANES - 1 else dbp[j] for j in range(PLANES)]
        zero = [Signal(name=f"zero{j}") for j in range(PLANES)]
        m.d.comb += [zero[j].eq(xor[j] == 0) for j in range(PLANES)]

        advance = Signal()          # stage 2 moves on this cycle
        finishing = busy & advance & ((step == self.STEPS - 1) | empty)
        m.d.comb += self.blocks.ready.eq(~busy | finishing)
        runs = []
        for j in range(PLANES):
            prefix, terms = Const(1, 1), []
            for i in range(j, -1, -1):          # zero planes from j down, while unbroken
                prefix = prefix & zero[i]
                terms.append(prefix)
            runs.append(sum(terms))
        starts = [zero[j] if j == PLANES - 1 else zero[j] & ~zero[j + 1] for j in range(PLANES)]

        # the two planes each step codes (plane 8 and the first value in step 0), picked into
        # registers one step ahead
        plan_a = [PLANES - 1] + [PLANES - 2 * s for s in range(1, self.STEPS)]
        plan_b = [None] + [PLANES - 1 - 2 * s for s in range(1, self.STEPS)]
        sel_a = [Signal(PLANE_BITS, name="a_dbx"), Signal(name="a_dbp_zero"),
                 Signal(name="a_start"), Signal(4, name="a_run")]
        sel_b = [Signal(PLANE_BITS, name="b_dbx"), Signal(name="b_dbp_zero"),
                 Signal(name="b_start"), Signal(4, name="b_run")]

        def plane_of(j):
            return [dbx[j], dbp_zero[j], start[j], run[j]]

        with m.If(self.blocks.valid & self.blocks.ready):
            m.d.sync += [base.eq(x[0]), flush.eq(self.blocks.payload.flush),
                         empty.eq(self.blocks.payload.empty), busy.eq(1), step.eq(0)]
            for j in range(PLANES):
                m.d.sync += [dbx[j].eq(xor[j]), dbp_zero[j].eq(dbp[j] == 0),
                             start[j].eq(starts[j]), run[j].eq(runs[j])]
            j = PLANES - 1
            m.d.sync += [r.eq(v) for r, v in zip(sel_a, [xor[j], dbp[j] == 0, starts[j],
                                                          runs[j]])]
        with m.Elif(finishing):
            m.d.sync += busy.eq(0)
        with m.Elif(busy & advance):
            m.d.sync += step.eq(step + 1)
            with m.Switch(step):
                for s_ in range(self.STEPS - 1):
                    with m.Case(s_):
                        m.d.sync += [r.eq(v) for r, v in zip(sel_a, plane_of(plan_a[s_ + 1]))]
                        m.d.sync += [r.eq(v) for r, v in zip(sel_b, plane_of(plan_b[s_ + 1]))]

        # stage 2: the field of this step, from the symbols of its two planes
        code_a, length_a = _plane_symbol(m, *sel_a)
        code_b, length_b = _plane_symbol(m, *sel_b)
        bits, length = Signal(16), Signal(5)
        with m.If(step == 0):
            m.d.comb += [bits.eq(Cat(code_a, base)), length.eq(8 + length_a)]
        with m.Else():
            m.d.comb += [bits.eq(Cat(Const(0, 8), code_a) |
                                 (Cat(Const(0, 8), code_b) >> length_a)),
                         length.eq(length_a + length_b)]
        last = flush & ((step == self.STEPS - 1) | empty)
        m.d.comb += advance.eq(~self.fields.valid | self.fields.ready)
        with m.If(busy & advance):
            m.d.sync += [self.fields.valid.eq(((length != 0) & ~empty) | last),
                         self.fields.payload.bits.eq(Mux(empty, 0, bits)),
                         self.fields.payload.length.eq(Mux(empty, 0, length)),
                         self.fields.payload.last.eq(last)]
        with m.Elif(self.fields.ready):
            m.d.sync += self.fields.valid.eq(0)
        return m


class EbpcEncoder(wiring.Component):
    """EBPC encoder, bit-exact with :func:`golden.ebpc.encode` and with the words (and ``last``
    flags) of stream-ebpc's encoder with its defaults.

    A tensor's values (int8 bit patterns; ``last`` on its final value) go in at :attr:`values`;
    its ZNZ stream leaves at :attr:`znz` and its BPC stream at :attr:`bpc`, each ``last`` on its
    final word. A tensor with no non-zero value has no BPC word. Tensors follow each other
    without a gap; each output stream keeps its own pace (either may run ahead by its buffers).

    Data path: values -> :class:`ZeroRunCoder` -> :class:`~hdl.ebpc.bits.BitPacker` -> znz, and
    values -> :class:`BlockGatherer` -> :class:`BlockCoder` -> :class:`~hdl.ebpc.bits.BitPacker`
    -> bpc.

    Throughput: a value per clock at any sparsity, as long as each output stream takes a word
    per clock and needs at most 8 bits per value: the ZNZ stream needs at most 5 (a zero
    between non-zero values); the BPC stream needs at most 10 per non-zero value (80 bits for
    8 incompressible values), so an all non-zero map of incompressible values is limited to 0.8
    values per clock by the BPC port itself. No output bubble while a word is due. Latency: a
    word leaves 3 (ZNZ) or 6 (BPC) cycles after the value that completes it and the next bit
    are in; after a tensor's last value, its last words follow within 10 cycles. The ready of
    :attr:`values` does not depend on its valid.

    Members
    -------
    values : In(stream.Signature(Value(8)))
    znz : Out(stream.Signature(StreamWord))
    bpc : Out(stream.Signature(StreamWord))
    """

    def __init__(self):
        super().__init__({
            "values": In(stream.Signature(Value(8))),
            "znz": Out(stream.Signature(StreamWord)),
            "bpc": Out(stream.Signature(StreamWord)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.zero_runs = runs = ZeroRunCoder()
        m.submodules.znz_packer = znz = BitPacker(6)
        m.submodules.gatherer = gather = BlockGatherer()
        m.submodules.block_coder = coder = BlockCoder()
        m.submodules.bpc_packer = bpc = BitPacker(16)
        wiring.connect(m, runs.fields, znz.fields)
        wiring.connect(m, gather.blocks, coder.blocks)
        wiring.connect(m, coder.fields, bpc.fields)
        wiring.connect(m, znz.words, wiring.flipped(self.znz))
        wiring.connect(m, bpc.words, wiring.flipped(self.bpc))
        # one input, two consumers: a value goes to both in the same cycle (neither ready
        # depends on its valid)
        m.d.comb += [
            runs.values.payload.eq(self.values.payload),
            gather.values.payload.eq(self.values.payload),
            runs.values.valid.eq(self.values.valid & gather.values.ready),
            gather.values.valid.eq(self.values.valid & runs.values.ready),
            self.values.ready.eq(runs.values.ready & gather.values.ready),
        ]
        return m
