"""A field of a wider value at a variable offset, as stages of 4:1 multiplexers.

The decoder's bit reader (a 26-bit field of a 96-bit window, at any of 64 positions) and its
raw-bits aligner are such fields; the compressor's packer shifts a field up to 31 places
(:func:`shift_left`). Left to itself, Yosys' ABC9 maps a 4:1 multiplexer on ECP5 as a
6-input LUT (four LUT4, two PFUMX, an L6MUX21), because its LUT library only knows 5- and
6-input LUTs whose LUT4 halves share their inputs. An ECP5 slice does a 4:1 multiplexer in two
LUT4 (a 2:1 multiplexer each, on their own inputs) and its PFUMX; :func:`bit_select` builds it
so on ECP5: the bit reader alone goes from 763 to 225 LUT4, the packer from 552 to 445.
Elsewhere (simulation, iCE40, the exported Verilog) the same stages are plain Amaranth, so the
logic is the same on every target (``tests/hdl/common/test_bit_select.py`` proves the ECP5 netlist equal
to it with Yosys' ``sat``).
"""

from amaranth.hdl import Array, Cat, Const, Instance, Mux, Signal

__all__ = ["bit_select", "shift_left", "is_ecp5"]

#: LUT4 ``Z = C ? B : A`` (INIT bit ``8D + 4C + 2B + A``).
_MUX2_INIT = sum(1 << i for i in range(16) if (i >> (1 if i & 4 else 0)) & 1)


def is_ecp5(platform):
    """The design is being built for a Lattice ECP5."""
    return getattr(platform, "family", None) == "ecp5"


def _mux4_ecp5(m, sel, ins):
    """``ins[sel]`` (``sel`` 2 bits) in one ECP5 slice: two LUT4 and its PFUMX."""
    lo, hi, z = Signal(), Signal(), Signal()
    # data on the LUT's fast inputs (A, B), the select (a register's fan-out) on C
    m.submodules += [
        Instance("LUT4", p_INIT=_MUX2_INIT, i_A=ins[0], i_B=ins[1], i_C=sel[0], i_D=Const(0),
                 o_Z=lo),
        Instance("LUT4", p_INIT=_MUX2_INIT, i_A=ins[2], i_B=ins[3], i_C=sel[0], i_D=Const(0),
                 o_Z=hi),
        Instance("PFUMX", i_ALUT=hi, i_BLUT=lo, i_C0=sel[1], o_Z=z),
    ]
    return z


def _mux(m, ecp5, sel, ins):
    """``ins[sel]`` (2 or 4 inputs, None for 0); by hand on ECP5 when 4 inputs are all live
    (with a constant input, Yosys' own mapping is as small)."""
    if ecp5 and len(ins) == 4 and all(b is not None for b in ins):
        return _mux4_ecp5(m, sel, ins)
    ins = [Const(0) if b is None else b for b in ins]
    return Array(ins)[sel] if len(ins) == 4 else Mux(sel, ins[1], ins[0])


def bit_select(m, platform, src, offset, width):
    """``src.bit_select(offset, width)``, bits past the end of ``src`` read as 0.

    The offset is taken two bits at a time from its top (a 2:1 stage first if it has an odd
    number of bits): each stage leaves ``width + 2**k - 1`` bits, where ``k`` bits of the offset
    are still to come. Combinational; ``len(offset)`` / 2 multiplexer levels.
    """
    return _select(m, platform, [src[i] for i in range(len(src))], offset, width)


def _select(m, platform, cur, offset, width):
    """:func:`bit_select` of the bits ``cur``; None for a bit known to be 0 (past the end of
    the source, or of a padding of zeros), which needs no logic."""
    ecp5 = is_ecp5(platform)
    k = len(offset)
    while k > 0:
        step_bits = 1 if k % 2 else 2
        k -= step_bits
        step = 1 << k
        sel = offset[k:k + step_bits]
        ways = 1 << step_bits
        out = []
        for j in range(width + step - 1):
            ins = [cur[i] if i < len(cur) else None for i in (j + w * step for w in range(ways))]
            if all(b is None for b in ins):
                out.append(None)
                continue
            bit = Signal(name=f"sel{k}_{j}")
            m.d.comb += bit.eq(_mux(m, ecp5, sel, ins))
            out.append(bit)
        cur = out
    result = Signal(width)
    m.d.comb += result.eq(Cat(*(Const(0) if b is None else b for b in cur[:width])))
    return result


def shift_left(m, platform, value, amount, width):
    """``(value << amount)[:width]``: stages of 4:1 multiplexers from the low bits of
    ``amount`` up (a 2:1 stage last for an odd number of bits), each as wide as the shifted value
    so far. Combinational; ``len(amount)`` / 2 multiplexer levels."""
    ecp5 = is_ecp5(platform)
    cur = [value[i] for i in range(min(len(value), width))]
    k = 0
    while k < len(amount):
        step_bits = min(2, len(amount) - k)
        sel = amount[k:k + step_bits]
        step = 1 << k
        ways = 1 << step_bits
        out = []
        for j in range(min(width, len(cur) + (ways - 1) * step)):
            ins = [cur[i] if 0 <= i < len(cur) else None
                   for i in (j - w * step for w in range(ways))]
            bit = Signal(name=f"shl{k}_{j}")
            m.d.comb += bit.eq(_mux(m, ecp5, sel, ins))
            out.append(bit)
        cur = out
        k += step_bits
    result = Signal(width)
    m.d.comb += result.eq(Cat(*cur))
    return result
