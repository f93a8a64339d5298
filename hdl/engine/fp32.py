"""fp32 arithmetic of the bf16 engine: the exact bf16 product and the fp32 sum, pipelined, bit
for bit as :mod:`golden.engine` defines them."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.engine import CANONICAL_NAN

__all__ = ["Bf16Multiplier", "Fp32Adder"]

_INF = 0x7F800000


class Bf16Multiplier(wiring.Component):
    """The exact product of two bf16 values as fp32 (:func:`golden.engine.bf16_mul`).

    A fixed pipeline of :attr:`LATENCY` cycles, one product per clock, no handshake: ``tag``
    (any bits the user wants carried, e.g. a valid bit) leaves with its product.

    Members
    -------
    a, b : In(16)
    tag : In(tag_bits)
    product : Out(32)
    product_tag : Out(tag_bits)
    """

    LATENCY = 2

    def __init__(self, tag_bits=1):
        self._tag_bits = tag_bits
        super().__init__({"a": In(16), "b": In(16), "tag": In(tag_bits),
                          "product": Out(32), "product_tag": Out(tag_bits)})

    def elaborate(self, platform):
        m = Module()
        a, b = self.a, self.b
        ea, eb, ma, mb = a[7:15], b[7:15], a[:7], b[:7]
        # stage 1: the significands' product, the exponent sum, what is special
        p = Signal(16)
        exp = Signal(range(-128, 512))
        sign, nan, inf, zero = Signal(), Signal(), Signal(), Signal()
        tag1 = Signal(self._tag_bits)
        a_inf, b_inf = ea == 255, eb == 255
        a_zero, b_zero = ea == 0, eb == 0
        m.d.sync += [
            p.eq(Cat(ma, 1) * Cat(mb, 1)),
            exp.eq(Cat(ea + eb, 0).as_signed() - 127),
            sign.eq(a[15] ^ b[15]),
            nan.eq((a_inf & (ma != 0)) | (b_inf & (mb != 0)) |
                   ((a_inf | b_inf) & (a_zero | b_zero))),
            inf.eq(a_inf | b_inf),
            zero.eq(a_zero | b_zero),
            tag1.eq(self.tag),
        ]
        # stage 2: normalise (the product is 1x.xxx or 01.xxx) and pack
        carry = p[15]
        e = Signal(range(-128, 512))
        m.d.comb += e.eq(exp + carry)
        man = Mux(carry, Cat(Const(0, 8), p[:15]), Cat(Const(0, 9), p[:14]))
        result = Signal(32)
        with m.If(nan):
            m.d.comb += result.eq(CANONICAL_NAN)
        with m.Elif(inf | (~zero & (e >= 255))):
            m.d.comb += result.eq(Cat(Const(_INF, 31), sign))
        with m.Elif(zero | (e <= 0)):
            m.d.comb += result.eq(Cat(Const(0, 31), sign))
        with m.Else():
            m.d.comb += result.eq(Cat(man, e[:8], sign))
        m.d.sync += [self.product.eq(result), self.product_tag.eq(tag1)]
        return m


class Fp32Adder(wiring.Component):
    """fp32 ``a + b`` rounded to nearest even (:func:`golden.engine.fp32_add`: subnormal
    inputs are zeros, a result below ``2**-126`` is flushed, NaNs are canonical).

    A fixed pipeline of :attr:`LATENCY` cycles, one sum per clock, no handshake: ``tag`` leaves
    with its sum. Stages: unpack and order by magnitude; align the smaller (guard, round and
    sticky bits) and add; normalise (leading-zero count); round and pack.

    Members
    -------
    a, b : In(32)
    tag : In(tag_bits)
    sum : Out(32)
    sum_tag : Out(tag_bits)
    """

    LATENCY = 4

    def __init__(self, tag_bits=1):
        self._tag_bits = tag_bits
        super().__init__({"a": In(32), "b": In(32), "tag": In(tag_bits),
                          "sum": Out(32), "sum_tag": Out(tag_bits)})

    def elaborate(self, platform):
        m = Module()
        a, b = self.a, self.b
        ea, eb = a[23:31], b[23:31]
        # (denormals are zero: a zero exponent clears the magnitude)
        mag_a = Mux(ea == 0, 0, a[:31])
        mag_b = Mux(eb == 0, 0, b[:31])
        a_nan, b_nan = (ea == 255) & (a[:23] != 0), (eb == 255) & (b[:23] != 0)
        a_inf, b_inf = (ea == 255) & (a[:23] == 0), (eb == 255) & (b[:23] == 0)

        # stage 1: the larger magnitude first, the exponent difference, the special cases
        swap = mag_b > mag_a
        big, small = Mux(swap, mag_b, mag_a), Mux(swap, mag_a, mag_b)
        s1 = {n: Signal(w, name=f"s1_{n}") for n, w in (
            ("e_big", 8), ("m_big", 24), ("m_small", 24), ("d", 8), ("sign", 1), ("sub", 1),
            ("special", 1), ("special_value", 32), ("tag", self._tag_bits))}
        special_value = Signal(32)
        with m.If(a_nan | b_nan | (a_inf & b_inf & (a[31] != b[31]))):
            m.d.comb += special_value.eq(CANONICAL_NAN)
        with m.Elif(a_inf):
            m.d.comb += special_value.eq(Cat(Const(_INF, 31), a[31]))
        with m.Elif(b_inf):
            m.d.comb += special_value.eq(Cat(Const(_INF, 31), b[31]))
        with m.Else():          # both zero: -0 only if both are -0
            m.d.comb += special_value.eq(Cat(Const(0, 31), a[31] & b[31]))
        e_small = small[23:31]
        m.d.sync += [
            s1["e_big"].eq(big[23:31]),
            s1["m_big"].eq(Cat(big[:23], big[23:31] != 0)),
            s1["m_small"].eq(Cat(small[:23], e_small != 0)),
            s1["d"].eq(big[23:31] - e_small),
            s1["sign"].eq(Mux(swap, b[31], a[31])),
            s1["sub"].eq(a[31] ^ b[31]),
            s1["special"].eq(a_nan | b_nan | a_inf | b_inf | ((mag_a == 0) & (mag_b == 0))),
            s1["special_value"].eq(special_value),
            s1["tag"].eq(self.tag),
        ]

        # stage 2: align the smaller (3 bits below the significand: guard, round, sticky), add
        small27 = Cat(Const(0, 3), s1["m_small"])
        d = Mux(s1["d"] > 27, 27, s1["d"])
        shifted = Signal(27)
        m.d.comb += shifted.eq(small27 >> d)
        lost = (small27 & ((Const(1, 28) << d) - 1)[:27]) != 0
        aligned = shifted | lost
        big27 = Cat(Const(0, 3), s1["m_big"])
        s2 = {n: Signal(w, name=f"s2_{n}") for n, w in (
            ("total", 28), ("e_big", 8), ("sign", 1), ("special", 1), ("special_value", 32),
            ("tag", self._tag_bits))}
        m.d.sync += [
            s2["total"].eq(Mux(s1["sub"], big27 - aligned, big27 + aligned)),
            s2["e_big"].eq(s1["e_big"]), s2["sign"].eq(s1["sign"]),
            s2["special"].eq(s1["special"]), s2["special_value"].eq(s1["special_value"]),
            s2["tag"].eq(s1["tag"]),
        ]

        # stage 3: normalise: the leading one to bit 26 (a carry shifts right by one, keeping
        # the bit it drops as sticky; a cancellation shifts left, exactly)
        total = s2["total"]
        lz = Signal(range(28))
        m.d.comb += lz.eq(27)
        for i in range(27):                 # (the highest one wins)
            with m.If(total[i]):
                m.d.comb += lz.eq(26 - i)
        s3 = {n: Signal(w, name=f"s3_{n}") for n, w in (
            ("norm", 27), ("exp", 10), ("sign", 1), ("zero", 1), ("special", 1),
            ("special_value", 32), ("tag", self._tag_bits))}
        exp_big = s2["e_big"]
        with m.If(total[27]):
            m.d.sync += [s3["norm"].eq(Cat(total[0] | total[1], total[2:28])),
                         s3["exp"].eq(exp_big + 1)]
        with m.Else():
            m.d.sync += [s3["norm"].eq((total[:27] << lz)[:27]),
                         s3["exp"].eq(exp_big - lz)]
        m.d.sync += [
            s3["sign"].eq(s2["sign"]), s3["zero"].eq(total == 0),
            s3["special"].eq(s2["special"]), s3["special_value"].eq(s2["special_value"]),
            s3["tag"].eq(s2["tag"]),
        ]

        # stage 4: round to nearest even, overflow to infinity, flush to zero, pack
        norm = s3["norm"]
        exp = s3["exp"].as_signed()
        up = norm[2] & (norm[1] | norm[0] | norm[3])
        rounded = Signal(25)
        m.d.comb += rounded.eq(norm[3:27] + up)
        e = Signal(range(-64, 512))
        m.d.comb += e.eq(exp + rounded[24])
        man = Mux(rounded[24], 0, rounded[:23])
        result = Signal(32)
        with m.If(s3["special"]):
            m.d.comb += result.eq(s3["special_value"])
        with m.Elif(s3["zero"]):
            m.d.comb += result.eq(0)                        # x + (-x) = +0
        with m.Elif(e >= 255):
            m.d.comb += result.eq(Cat(Const(_INF, 31), s3["sign"]))
        with m.Elif(e <= 0):
            m.d.comb += result.eq(Cat(Const(0, 31), s3["sign"]))
        with m.Else():
            m.d.comb += result.eq(Cat(man, e[:8], s3["sign"]))
        m.d.sync += [self.sum.eq(result), self.sum_tag.eq(s3["tag"])]
        return m
