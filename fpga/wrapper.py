"""Synthesis wrapper: keeps every gate of a component alive through Yosys and nextpnr.

A component whose inputs are constant and whose outputs go nowhere is optimised away, and its
resource count and Fmax mean nothing. :class:`KeepAlive` drives every input port of a
:class:`~amaranth.lib.wiring.Component` (stream payloads, valids, the readies of its output
streams, plain inputs) from maximal-length LFSRs, and folds every output bit into a single
register that leaves on one pin (a board LED, or the :attr:`KeepAlive.alive` port when no platform
is given). Nothing of the component is then constant or unobserved.
"""

import functools

from amaranth.hdl import Cat, Elaboratable, Module, Mux, Signal, Value
from amaranth.lib import io, wiring

__all__ = ["KeepAlive", "split_ports", "primitive_polynomials"]

#: Width of each LFSR; the inputs are cut into groups of this many bits.
LFSR_BITS = 32
_ORDER = (1 << LFSR_BITS) - 1
_ORDER_PRIMES = (3, 5, 17, 257, 65537)     # 2**32 - 1 = 3 * 5 * 17 * 257 * 65537


def _mulmod(a, b, poly, degree):
    """Product of two GF(2) polynomials (as integers) modulo ``poly`` of ``degree``."""
    result = 0
    while b:
        if b & 1:
            result ^= a
        b >>= 1
        a <<= 1
        if a >> degree & 1:
            a ^= poly
    return result


def _powmod_x(exponent, poly, degree):
    result, base = 1, 0b10
    while exponent:
        if exponent & 1:
            result = _mulmod(result, base, poly, degree)
        base = _mulmod(base, base, poly, degree)
        exponent >>= 1
    return result


def _is_primitive(poly):
    """``x`` has order ``2**32 - 1`` modulo ``poly`` (degree 32): the polynomial is primitive."""
    if _powmod_x(_ORDER, poly, LFSR_BITS) != 1:
        return False
    return all(_powmod_x(_ORDER // q, poly, LFSR_BITS) != 1 for q in _ORDER_PRIMES)


@functools.cache
def primitive_polynomials(count):
    """The first ``count`` primitive polynomials of degree 32 of a fixed pseudo-random search.

    Each is an integer with bits 32 and 0 set; a Galois LFSR with feedback mask ``poly >> 1``
    runs through all ``2**32 - 1`` non-zero states.
    """
    found, candidate = [], 0x1234567
    while len(found) < count:
        candidate = (candidate * 1103515245 + 12345) & 0x7FFFFFFF   # fixed LCG: reproducible
        poly = (1 << LFSR_BITS) | (candidate << 1 & _ORDER) | 1
        if poly.bit_count() >= 5 and _is_primitive(poly):
            found.append(poly)
    return tuple(found)


def split_ports(component):
    """``(inputs, outputs)``: the component's port values (cast to plain values) by flow."""
    inputs, outputs = [], []
    for _path, member, value in component.signature.flatten(component):
        (inputs if member.flow == wiring.In else outputs).append(Value.cast(value))
    return inputs, outputs


class KeepAlive(Elaboratable):
    """Drives a component's inputs from LFSRs and XOR-reduces its outputs to one pin.

    The inputs of :attr:`dut` (every member of its signature whose flow is ``In``, found with
    :meth:`~amaranth.lib.wiring.Signature.flatten`, so any signature works) are concatenated and
    cut into groups of 32 bits; each group comes from its own Galois LFSR with a different
    primitive polynomial and seed. The outputs (flow ``Out``) are registered, XORed in a tree of
    registered 4-input stages, and the last stage drives :attr:`alive`. Every wrapper path starts
    and ends at a flip-flop next to the component, so the wrapper does not set the Fmax.

    Everything runs in the ``sync`` domain, which the platform (or ``rtlil.convert``) provides.

    Parameters
    ----------
    dut : wiring.Component
        The component to keep alive; added as submodule ``dut``.
    pin : bool
        With a platform, drive ``led`` 0 from :attr:`alive`.

    Members
    -------
    alive : Signal(1)
        XOR of all output bits (delayed); the design's only output when no platform is given.
    """

    def __init__(self, dut, *, pin=True):
        self.dut = dut
        self.pin = pin
        self.alive = Signal()

    def ports(self):
        """The wrapper's own ports, for ``rtlil.convert(wrapper, ports=wrapper.ports())``."""
        return [self.alive]

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self.dut
        inputs, outputs = split_ports(self.dut)

        # --- inputs: one 32-bit Galois LFSR per group of 32 input bits
        in_bits = Cat(*inputs)
        groups = (len(in_bits) + LFSR_BITS - 1) // LFSR_BITS
        lfsr_out = []
        for k, poly in enumerate(primitive_polynomials(groups)):
            seed = (0x9E3779B9 * (k + 1)) & _ORDER or 1
            lfsr = Signal(LFSR_BITS, name=f"lfsr{k}", init=seed)
            m.d.sync += lfsr.eq(Mux(lfsr[0], (lfsr >> 1) ^ (poly >> 1), lfsr >> 1))
            lfsr_out.append(lfsr)
        if groups:
            m.d.comb += in_bits.eq(Cat(*lfsr_out)[:len(in_bits)])

        # --- outputs: register, then a registered tree of 4-input XORs
        level = Signal(len(Cat(*outputs)), name="out_reg")
        m.d.sync += level.eq(Cat(*outputs))
        depth = 0
        while len(level) > 1:
            depth += 1
            nxt = Signal((len(level) + 3) // 4, name=f"xor{depth}")
            for i in range(len(nxt)):
                m.d.sync += nxt[i].eq(level[4 * i:4 * i + 4].xor())
            level = nxt
        m.d.comb += self.alive.eq(level[0] if len(level) else 0)

        if platform is not None and self.pin:
            m.submodules.led = led = io.Buffer("o", platform.request("led", 0, dir="-"))
            m.d.comb += led.o.eq(self.alive)
        return m
