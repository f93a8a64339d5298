"""Fixed-point output converter: float bit patterns -> fixed-point integers."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.fixed import check_fixed, check_float_format

from .formats import Value

__all__ = ["FixedPointConverter"]


class FixedPointConverter(wiring.Component):
    """IEEE-style float bit patterns -> ``width``-bit fixed point with ``frac`` fraction bits.

    Bit-exact with :func:`golden.fixed.float_to_fixed` (see :mod:`golden.fixed` for the rule):
    the exact value times ``2**frac`` rounded to nearest, ties to even; saturated to
    ``[-2**(width-1), 2**(width-1) - 1]`` after rounding; infinities saturate; NaN gives 0;
    subnormals are converted exactly. ``last`` passes through with its value.

    Latency two cycles (shift, then round and saturate), throughput one value per cycle.
    ``values.ready`` follows ``fixed.ready`` through the two stage registers (no path from
    ``fixed.ready`` to any ``valid``); ``fixed.valid`` never waits for ``fixed.ready``.

    Parameters
    ----------
    exp_bits, man_bits : int
        Input format (bf16: 8, 7; fp16: 5, 10; fp32: 8, 23; fp8: 4, 3 or 5, 2).
    width : int
        Output width, 2 .. 32.
    frac : int
        Fraction bits of the output, 0 .. 64.
    infinities : bool
        The all-ones exponent codes infinities and NaNs (IEEE); False for OCP FP8 E4M3 ("fn"),
        where it is an ordinary binade except for the all-ones mantissa (NaN).

    Members
    -------
    values : In(stream.Signature(Value(1 + exp_bits + man_bits)))
    fixed : Out(stream.Signature(Value(width)))
        ``value`` is the two's complement pattern of the fixed-point integer.
    """

    def __init__(self, exp_bits=8, man_bits=7, width=16, frac=8, *, infinities=True):
        check_float_format(exp_bits, man_bits)
        check_fixed(width, frac)
        self._exp_bits, self._man_bits = exp_bits, man_bits
        self._width, self._frac, self._infinities = width, frac, bool(infinities)
        super().__init__({
            "values": In(stream.Signature(Value(1 + exp_bits + man_bits))),
            "fixed": Out(stream.Signature(Value(width))),
        })

    @property
    def exp_bits(self):
        return self._exp_bits

    @property
    def man_bits(self):
        return self._man_bits

    @property
    def width(self):
        return self._width

    @property
    def frac(self):
        return self._frac

    @property
    def infinities(self):
        return self._infinities

    def elaborate(self, platform):
        m = Module()
        e, mb, w = self._exp_bits, self._man_bits, self._width
        bias = (1 << (e - 1)) - 1
        v = self.values.payload.value
        man, exp, sign = v[:mb], v[mb:mb + e], v[mb + e]

        # The magnitude is M * 2**(exp' - bias - mb + frac) with M = 1.man (0.man and exp' = 1
        # for subnormals). Shifting M left by t = that exponent + mb + 2 puts the binary point
        # mb + 2 bits up: integer part above, guard bit and sticky bits below. t < 0 rounds to
        # 0 like t = 0 (M * 2**-(mb+2) < 1/2), t > width + mb + 2 saturates like its maximum.
        subnormal = exp == 0
        significand = Cat(man, ~subnormal)
        t_max = w + mb + 2
        lo, hi = 1 - bias + self._frac + 2, (1 << e) - 1 - bias + self._frac + 2
        t = Signal(range(min(lo, 0), max(hi, t_max) + 1))
        m.d.comb += t.eq(Mux(subnormal, 1, exp) + (self._frac + 2 - bias))
        shift = Signal(range(t_max + 1))
        m.d.comb += shift.eq(Mux(t < 0, 0, Mux(t > t_max, t_max, t)))
        shifted = Signal(mb + 1 + t_max)
        m.d.comb += shifted.eq(significand << shift)
        whole = shifted[mb + 2:]                   # mb + 1 + w bits
        top_binade = exp == (1 << e) - 1
        if self._infinities:
            nan, inf = top_binade & (man != 0), top_binade & (man == 0)
        else:
            nan, inf = top_binade & (man == (1 << mb) - 1), Const(0)

        # stage 1: shifted magnitude (w bits, and whether it is wider), guard, sticky
        s1_valid = Signal()
        s1 = {name: Signal(width, name=f"s1_{name}") for name, width in
              (("magnitude", w), ("huge", 1), ("guard", 1), ("sticky", 1), ("sign", 1),
               ("nan", 1), ("last", 1))}
        out_free = ~self.fixed.valid | self.fixed.ready
        s1_free = ~s1_valid | out_free
        m.d.comb += self.values.ready.eq(s1_free)
        with m.If(out_free):
            m.d.sync += s1_valid.eq(0)
        with m.If(self.values.valid & s1_free):
            m.d.sync += [
                s1_valid.eq(1),
                s1["magnitude"].eq(whole[:w]),
                s1["huge"].eq((whole[w:] != 0) | inf),
                s1["guard"].eq(shifted[mb + 1]),
                s1["sticky"].eq(shifted[:mb + 1] != 0),
                s1["sign"].eq(sign),
                s1["nan"].eq(nan),
                s1["last"].eq(self.values.payload.last),
            ]

        # stage 2: round to nearest even, saturate, negate
        rounded = Signal(w + 1)
        m.d.comb += rounded.eq(
            s1["magnitude"] + (s1["guard"] & (s1["sticky"] | s1["magnitude"][0])))
        pos_max, neg_min = (1 << (w - 1)) - 1, 1 << (w - 1)   # neg_min: pattern of -2**(w-1)
        result = Signal(w)
        with m.If(s1["nan"]):
            m.d.comb += result.eq(0)
        with m.Elif(s1["sign"]):
            m.d.comb += result.eq(Mux(s1["huge"] | (rounded > neg_min), neg_min, -rounded))
        with m.Else():
            m.d.comb += result.eq(Mux(s1["huge"] | (rounded > pos_max), pos_max, rounded))
        with m.If(self.fixed.ready):
            m.d.sync += self.fixed.valid.eq(0)
        with m.If(s1_valid & out_free):
            m.d.sync += [
                self.fixed.valid.eq(1),
                self.fixed.payload.value.eq(result),
                self.fixed.payload.last.eq(s1["last"]),
            ]
        return m
