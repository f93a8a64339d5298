"""CRC-32 (ISO-HDLC, as ``zlib.crc32``) of 32-bit little-endian words, one word per clock."""

import functools
import itertools

from amaranth.hdl import Cat, Const, Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .bit_select import is_ecp5

__all__ = ["Crc32Word", "crc32_step"]

#: The reflected polynomial of CRC-32/ISO-HDLC.
POLY_REFLECTED = 0xEDB88320

#: LUT4 ``Z = A ^ B ^ C ^ D`` (INIT bit ``i`` is the parity of ``i``).
_XOR4_INIT = 0x6996


def _step32(value):
    """The reflected CRC register after 32 shifts from ``value``, no data: a linear map."""
    for _ in range(32):
        value = (value >> 1) ^ (POLY_REFLECTED if value & 1 else 0)
    return value


@functools.cache
def _network():
    """The XOR network of :func:`crc32_step`: ``(quads, rows)``.

    Bit ``j`` of ``F(x)`` is the XOR of 12 to 17 bits of ``x`` (``rows[j]`` before sharing).
    Each bit is built in two LUT levels: groups of 4 bits (one LUT4 each), then the XOR of its
    4 groups (5 for the few bits of 17 inputs). A group that several bits need is built once:
    ``quads`` are those groups, taken greedily, the group of 4 that most bits still hold
    first. ``rows[j]`` is ``(shared, rest)``: the indices of bit ``j``'s shared groups and the
    bits of ``x`` it XORs in groups of its own. (24 shared groups: 143 LUT4 for the map and
    the word's XOR into the register, against 194 with none shared.)
    """
    columns = [_step32(1 << i) for i in range(32)]
    rest = [set(i for i in range(32) if columns[i] >> j & 1) for j in range(32)]
    shared = [[] for _ in range(32)]
    quads = []
    while True:
        count = {}
        for bits in rest:
            for quad in itertools.combinations(sorted(bits), 4):
                count[quad] = count.get(quad, 0) + 1
        quad, n = max(count.items(), key=lambda kv: kv[1], default=(None, 0))
        if n < 2:
            break
        for j, bits in enumerate(rest):
            if bits.issuperset(quad):
                bits.difference_update(quad)
                shared[j].append(len(quads))
        quads.append(quad)
    return tuple(quads), tuple((tuple(s), tuple(sorted(r))) for s, r in zip(shared, rest))


def _xor(m, ecp5, bits):
    """The XOR of ``bits``: on ECP5 a tree of LUT4 cells, four inputs each; elsewhere plain."""
    bits = list(bits)
    if not ecp5:
        return Cat(*bits).xor()
    while len(bits) > 1:
        groups = [bits[i:i + 4] for i in range(0, len(bits), 4)]
        bits = []
        for group in groups:
            if len(group) == 1:
                bits.append(group[0])
                continue
            z = Signal()
            ins = group + [Const(0)] * (4 - len(group))
            m.submodules += Instance("LUT4", p_INIT=_XOR4_INIT, i_A=ins[0], i_B=ins[1],
                                     i_C=ins[2], i_D=ins[3], o_Z=z)
            bits.append(z)
    return bits[0]


def crc32_step(m, platform, x):
    """``F(x)``: the reflected CRC-32 register ``x`` after the 32 shifts of a word (a linear
    map, combinational, two LUT levels for most bits). On ECP5 built of LUT4 cells as
    :func:`_network` lays it out, as Yosys' ABC9 does not find the shared groups (223 LUT4
    against 143 for a :class:`Crc32Word`); elsewhere the same XORs in plain Amaranth
    (``tests/hdl/common/test_crc32.py`` proves the two equal with Yosys' ``sat``)."""
    ecp5 = is_ecp5(platform)
    quads, rows = _network()
    groups = [_xor(m, ecp5, [x[i] for i in quad]) for quad in quads]
    out = []
    for shared, rest in rows:
        terms = [groups[k] for k in shared]
        terms += [_xor(m, ecp5, [x[i] for i in rest[g:g + 4]]) for g in range(0, len(rest), 4)]
        out.append(_xor(m, ecp5, terms))
    step = Signal(32)
    m.d.comb += step.eq(Cat(*out))
    return step


class Crc32Word(wiring.Component):
    """CRC-32/ISO-HDLC of a sequence of 32-bit words, each taken as its 4 bytes, low first.

    The function of ``amaranth.lib.crc.catalog.CRC32_ISO_HDLC(data_width=32)``
    (``tests/hdl/common/test_crc32.py`` checks it against ``zlib.crc32``), built for LUTs: with a word as
    wide as the register, the word enters the register by XOR and one linear map follows,
    ``crc' = F(crc ^ word)`` (:func:`crc32_step`), so each register bit is the XOR of 12 to 17
    bits of ``crc ^ word``, where the library writes it as the XOR of about 16 register bits
    and 16 data bits apart (412 LUT4 on ECP5, against 143 here). ``start`` is the register's
    synchronous set (the FF's LSR on ECP5), off the XOR network.

    Latency one clock (``crc`` is registered); a word per clock.

    Members
    -------
    data : In(32)
    valid : In(1)
        ``data`` is the next word.
    start : In(1)
        The CRC starts again, in a cycle of its own: a word taken with ``start`` is lost.
    crc : Out(32)
        The CRC of the words so far (of none: 0).
    """

    data: In(32)
    valid: In(1)
    start: In(1)
    crc: Out(32)

    def elaborate(self, platform):
        m = Module()
        reg = Signal(32, init=0xFFFFFFFF)
        step = crc32_step(m, platform, reg ^ self.data)
        with m.If(self.start):
            m.d.sync += reg.eq(0xFFFFFFFF)
        with m.Elif(self.valid):
            m.d.sync += reg.eq(step)
        m.d.comb += self.crc.eq(reg ^ 0xFFFFFFFF)
        return m
