"""A field of a wider value at a variable offset, as stages of 4:1 multiplexers.

The decoder's bit reader (a 26-bit field of a 96-bit window, at any of 64 positions) and its
raw-bits aligner are such fields. Left to itself, Yosys' ABC9 maps a 4:1 multiplexer on ECP5 as a
6-input LUT (four LUT4, two PFUMX, an L6MUX21), because its LUT library only knows 5- and
6-input LUTs whose LUT4 halves share their inputs. An ECP5 slice does a 4:1 multiplexer in two
LUT4 (a 2:1 multiplexer each, on their own inputs) and its PFUMX; :func:`bit_select` builds it
so on ECP5: the bit reader alone goes from 763 to 225 LUT4. Elsewhere (simulation, iCE40, the
exported Verilog) the same stages are plain Amaranth, so the logic is the same on every target
(``tests/test_bitselect.py`` proves the ECP5 netlist equal to it with Yosys' ``sat``).
"""

from amaranth.hdl import Array, Cat, Const, Instance, Mux, Signal

__all__ = ["bit_select", "is_ecp5"]

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


def bit_select(m, platform, src, offset, width):
    """``src.bit_select(offset, width)``, bits past the end of ``src`` read as 0.

    The offset is taken two bits at a time from its top (a 2:1 stage first if it has an odd
    number of bits): each stage leaves ``width + 2**k - 1`` bits, where ``k`` bits of the offset
    are still to come. Combinational; ``len(offset)`` / 2 multiplexer levels.
    """
    ecp5 = is_ecp5(platform)
    cur = [src[i] for i in range(len(src))]
    k = len(offset)
    while k > 0:
        step_bits = 1 if k % 2 else 2
        k -= step_bits
        step = 1 << k
        sel = offset[k:k + step_bits]
        n_out = width + step - 1
        out = Signal(n_out)
        ways = 1 << step_bits

        def tap(j, w):
            i = j + w * step
            return cur[i] if i < len(cur) else Const(0)
        for j in range(n_out):
            ins = [tap(j, w) for w in range(ways)]
            in_range = j + (ways - 1) * step < len(cur)
            if ecp5 and ways == 4 and in_range:
                m.d.comb += out[j].eq(_mux4_ecp5(m, sel, ins))
            else:
                m.d.comb += out[j].eq(Array(ins)[sel] if ways == 4 else Mux(sel, ins[1], ins[0]))
        cur = [out[j] for j in range(n_out)]
    result = Signal(width)
    m.d.comb += result.eq(Cat(*cur[:width]))
    return result
