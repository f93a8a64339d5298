"""Dot-product engines: a row of ``lanes`` multipliers fed straight from the decompressor, each
row of a weight matrix against the engine's own activation vector, one beat of ``lanes``
weights per clock; bit for bit as :mod:`golden.engine` defines them."""

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.engine import SLOTS
from hdl.common.beat_packer import DenseBeat

from .fp32 import Bf16Multiplier, Fp32Adder

__all__ = ["Bf16DotEngine", "FixedDotEngine", "Result", "RESULT_DEPTH"]

#: Rows of results an engine holds (its result FIFO).
RESULT_DEPTH = 64


def Result(bits):
    """One row's result; ``last`` on the tensor's final row."""
    return data.StructLayout({"value": bits, "last": 1})


def _Meta(slots_bits):
    return data.StructLayout({
        "valid": 1,
        "slot": slots_bits,     # the row's partial sum this beat adds into (beat mod SLOTS)
        "first": 1,             # the slot's first beat in the row: it adds into +0
        "row_start": 1,         # the row's first beat
        "row_end": 1,           # the row's last beat
        "reached": slots_bits,  # slots the row has reached so far, minus one (at most SLOTS-1)
        "last": 1,              # the tensor's last beat
    })


class _DotEngine(wiring.Component):
    """What both engines share: the activation memory, the beat counter, the result FIFO and
    its credit (a beat is taken only while the FIFO has room for every row in flight, so the
    fixed pipeline between them never stalls), and :attr:`idle`. Subclasses provide
    :meth:`_datapath`."""

    def __init__(self, *, lanes, weight_bits, act_bits, result_bits, cols_max):
        if not isinstance(lanes, int) or not 1 <= lanes <= 16:
            raise ValueError(f"lanes must be 1 .. 16, not {lanes!r}")
        if not isinstance(cols_max, int) or cols_max < lanes or cols_max % lanes:
            raise ValueError(f"cols_max must be a multiple of lanes ({lanes}), not {cols_max!r}")
        self._lanes, self._cols_max = lanes, cols_max
        self._weight_bits, self._act_bits, self._result_bits = weight_bits, act_bits, result_bits
        super().__init__({
            "weights": In(stream.Signature(DenseBeat(weight_bits, lanes))),
            "activations": In(stream.Signature(DenseBeat(act_bits, lanes))),
            "results": Out(stream.Signature(Result(result_bits))),
            "row_beats": In(range(1, cols_max // lanes + 1)),
            "restart": In(1),
            "idle": Out(1),
            "taken": Out(1),
        })

    @property
    def lanes(self):
        return self._lanes

    @property
    def cols_max(self):
        return self._cols_max

    def elaborate(self, platform):
        m = Module()
        L = self._lanes
        depth = self._cols_max // L
        sb = max(1, (SLOTS - 1).bit_length())

        # --- the activation vector: beats of `lanes` values, written from address 0 on
        m.submodules.x = x = Memory(shape=self._act_bits * L, depth=depth, init=[])
        xw = x.write_port()
        xr = x.read_port(transparent_for=())
        waddr = Signal(range(depth))
        m.d.comb += [self.activations.ready.eq(1), xw.addr.eq(waddr),
                     xw.data.eq(self.activations.payload.data),
                     xw.en.eq(self.activations.valid)]
        with m.If(self.activations.valid):
            m.d.sync += waddr.eq(Mux(self.activations.payload.last | (waddr == depth - 1),
                                     0, waddr + 1))

        # --- weights: the beat counter, the credit for the results
        m.submodules.out = out = fifo.SyncFIFOBuffered(width=self._result_bits + 1,
                                                       depth=RESULT_DEPTH)
        rows_pending = Signal(range(RESULT_DEPTH + 1))
        in_flight = Signal(range(1 << 10))      # beats between the input and the results
        beat = Signal(range(depth))
        w = self.weights
        m.d.comb += w.ready.eq(rows_pending != RESULT_DEPTH)
        take = w.valid & w.ready
        row_end = (beat == self.row_beats - 1) | w.payload.last
        meta = Signal(_Meta(sb))
        m.d.comb += self.taken.eq(take)
        with m.If(take):
            m.d.sync += beat.eq(Mux(row_end, 0, beat + 1))
        with m.If(self.restart):
            m.d.sync += beat.eq(0)
        m.d.comb += [xr.addr.eq(beat), xr.en.eq(1)]
        # the beat, a cycle later beside its activations
        wq = Signal.like(w.payload)
        m.d.sync += [wq.eq(w.payload), meta.valid.eq(take),
                     meta.slot.eq(beat % SLOTS), meta.first.eq(beat < SLOTS),
                     meta.row_start.eq(beat == 0),
                     meta.row_end.eq(row_end),
                     meta.reached.eq(Mux(beat >= SLOTS - 1, SLOTS - 1, beat)),
                     meta.last.eq(w.payload.last)]
        keep = Cat(*(wq.count > i for i in range(L)))
        acts = data.View(data.ArrayLayout(self._act_bits, L), xr.data)
        result, result_valid, result_last, beat_done = self._datapath(m, wq.data, acts, keep,
                                                                      meta)

        m.d.comb += [
            out.w_data.eq(Cat(result, result_last)),
            out.w_en.eq(result_valid),
            self.results.payload.eq(out.r_data),
            self.results.valid.eq(out.r_rdy),
            out.r_en.eq(self.results.ready),
        ]
        done = self.results.valid & self.results.ready
        m.d.sync += [
            rows_pending.eq(rows_pending + (take & row_end) - done),
            in_flight.eq(in_flight + take - beat_done),
        ]
        m.d.comb += self.idle.eq((rows_pending == 0) & (in_flight == 0))
        return m


def _delay(m, value, cycles, name):
    """``value`` ``cycles`` clocks later (registers)."""
    for k in range(cycles):
        nxt = Signal.like(value, name=f"{name}_d{k}")
        m.d.sync += nxt.eq(value)
        value = nxt
    return value


class Bf16DotEngine(_DotEngine):
    """bf16 weights times bf16 activations, fp32 results: :func:`golden.engine.bf16_matvec`.

    Load the activation vector first: :attr:`activations` takes beats of ``lanes`` bf16 values
    (``last`` on the vector's final beat; the next vector overwrites it from its start). Then
    weights arrive on :attr:`weights` in the tensor's order, ``lanes`` per beat (only a
    tensor's final beat may hold fewer), :attr:`row_beats` beats a row; each row's fp32 result
    leaves :attr:`results` (``last`` on the tensor's final row, which may be short).

    Each beat's ``lanes`` products (:class:`~hdl.engine.fp32.Bf16Multiplier`) are summed by a
    pairwise tree of :class:`~hdl.engine.fp32.Fp32Adder`\\ s, the beat's sum goes into one of
    :data:`golden.engine.SLOTS` partial sums of its row (one adder; a slot is read again only
    after its adder's latency, so a beat enters every clock), and at the row's end a tree of
    adders sums the partials. **Throughput** one beat (``lanes`` multiply-adds) per clock;
    **latency** from a row's last beat to its result about ``2 + 4 * (log2(lanes) + 3)``
    cycles. :attr:`weights`' ready falls only when :data:`RESULT_DEPTH` results wait in the
    result FIFO.

    :attr:`restart` (between tensors, while :attr:`idle`) starts the next tensor at a row's
    beginning even if the last one ended mid-row (a tensor cut by an error).

    Parameters
    ----------
    lanes : int
        Weights per beat, 1 .. 16.
    cols_max : int
        Longest row (and activation vector), a multiple of ``lanes``.

    Members
    -------
    weights : In(stream.Signature(DenseBeat(16, lanes)))
    activations : In(stream.Signature(DenseBeat(16, lanes)))
    results : Out(stream.Signature(Result(32)))
    row_beats : In(range(1, cols_max // lanes + 1))
        Beats of a row: ``cols // lanes``.
    restart : In(1)
    idle : Out(1)
        No beat or result inside.
    taken : Out(1)
        A beat of weights was taken in this cycle.
    """

    def __init__(self, *, lanes=8, cols_max=2048):
        super().__init__(lanes=lanes, weight_bits=16, act_bits=16, result_bits=32,
                         cols_max=cols_max)

    def _adder_tree(self, m, values, tag, name):
        """The pairwise tree of ``values`` (fp32 signals) with ``tag`` carried beside."""
        level = 0
        while len(values) > 1:
            nxt = []
            for i in range(0, len(values), 2):
                if i + 1 == len(values):
                    nxt.append(_delay(m, values[i], Fp32Adder.LATENCY, f"{name}{level}_{i}"))
                    continue
                add = Fp32Adder(tag_bits=len(tag) if i == 0 else 1)
                m.submodules[f"{name}{level}_{i}"] = add
                m.d.comb += [add.a.eq(values[i]), add.b.eq(values[i + 1])]
                if i == 0:
                    m.d.comb += add.tag.eq(tag)
                    tag_out = add.sum_tag
                nxt.append(add.sum)
            tag = Signal.like(tag, name=f"{name}{level}_tag")
            m.d.comb += tag.eq(tag_out)
            values, level = nxt, level + 1
        return values[0], tag

    def _datapath(self, m, weights, acts, keep, meta):
        L = self._lanes
        assert Fp32Adder.LATENCY <= SLOTS
        # products (a lane past a short final beat's count gives +0)
        products = []
        for i in range(L):
            mul = Bf16Multiplier(tag_bits=len(meta.as_value()) + 1 if i == 0 else 1)
            m.submodules[f"mul{i}"] = mul
            m.d.comb += [mul.a.eq(weights[i]), mul.b.eq(acts[i])]
            p = Signal(32, name=f"product{i}")
            if i == 0:
                m.d.comb += mul.tag.eq(Cat(meta, keep[0]))
                tag = Signal.like(meta, name="mul_meta")
                m.d.comb += [tag.eq(mul.product_tag[:-1]),
                             p.eq(Mux(mul.product_tag[-1], mul.product, 0))]
            else:
                m.d.comb += [mul.tag.eq(keep[i]), p.eq(Mux(mul.product_tag, mul.product, 0))]
            products.append(p)
        beat_sum, tag = self._adder_tree(m, products, tag.as_value(), "tree")
        tmeta = data.View(meta.shape(), tag)

        # the row's partial sums: the beat's sum into its slot (bypassing the adder's output
        # when it is the slot's newest value), the slots kept in registers
        m.submodules.acc = acc = Fp32Adder(tag_bits=len(meta.as_value()))
        slots = Array(Signal(32, name=f"slot{k}") for k in range(SLOTS))
        ameta = data.View(meta.shape(), acc.sum_tag)
        newest = Mux(ameta.valid & (ameta.slot == tmeta.slot), acc.sum, slots[tmeta.slot])
        m.d.comb += [acc.a.eq(Mux(tmeta.first, 0, newest)), acc.b.eq(beat_sum),
                     acc.tag.eq(tag)]
        with m.If(ameta.valid):
            m.d.sync += slots[ameta.slot].eq(acc.sum)
        # at the row's end: its partials (+0 for slots it did not reach) into the final tree
        partials = []
        for k in range(SLOTS):
            v = Signal(32, name=f"partial{k}")
            m.d.comb += v.eq(Mux(k > ameta.reached, 0,
                                 Mux(ameta.slot == k, acc.sum, slots[k])))
            partials.append(v)
        fmeta = Signal(2)
        m.d.comb += fmeta.eq(Cat(ameta.valid & ameta.row_end, ameta.last))
        result, rtag = self._adder_tree(m, partials, fmeta, "final")
        return result, rtag[0], rtag[1], ameta.valid


class FixedDotEngine(_DotEngine):
    """Fixed-point weights times integer activations, exact integer results:
    :func:`golden.engine.fixed_matvec` (the weights made fixed point before, by
    :class:`~hdl.convert.fixed.FixedPointConverter`).

    Same use and ports as :class:`Bf16DotEngine`, with ``weight_bits``-bit weights and
    ``act_bits``-bit activations (two's complement) and results of
    ``weight_bits + act_bits + log2(cols_max)`` bits: the exact sum of a row's products, which
    cannot overflow. Products and a pairwise tree of integer adders (a register every two
    levels), then one accumulator. **Throughput** one beat per clock; **latency** a few cycles.
    """

    def __init__(self, *, lanes=8, cols_max=2048, weight_bits=16, act_bits=16):
        self._acc_bits = weight_bits + act_bits + (cols_max - 1).bit_length()
        super().__init__(lanes=lanes, weight_bits=weight_bits, act_bits=act_bits,
                         result_bits=self._acc_bits, cols_max=cols_max)

    @property
    def result_bits(self):
        return self._acc_bits

    def _datapath(self, m, weights, acts, keep, meta):
        L, A = self._lanes, self._acc_bits
        products = []
        for i in range(L):
            p = Signal(signed(A), name=f"product{i}")
            m.d.sync += p.eq(Mux(keep[i], weights[i].as_signed() * acts[i].as_signed(), 0))
            products.append(p)
        tag = Signal.like(meta)
        m.d.sync += tag.eq(meta)
        level = 0
        while len(products) > 1:
            nxt = []
            for i in range(0, len(products), 2):
                s = Signal(signed(A), name=f"sum{level}_{i}")
                pair = products[i] + (products[i + 1] if i + 1 < len(products) else 0)
                if level % 2:
                    m.d.sync += s.eq(pair)
                else:
                    m.d.comb += s.eq(pair)
                nxt.append(s)
            if level % 2:
                t = Signal.like(tag)
                m.d.sync += t.eq(tag)
                tag = t
            products, level = nxt, level + 1
        beat_sum = products[0]
        acc = Signal(signed(A))
        total = Mux(tag.row_start, 0, acc) + beat_sum
        result = Signal(A)
        rvalid = Signal()
        rlast = Signal()
        m.d.sync += rvalid.eq(tag.valid & tag.row_end)
        with m.If(tag.valid):
            m.d.sync += [acc.eq(total), result.eq(total), rlast.eq(tag.last)]
        return result, rvalid, rlast, tag.valid
