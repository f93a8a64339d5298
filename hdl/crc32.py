"""CRC-32 (ISO-HDLC, as ``zlib.crc32``) of 32-bit little-endian words, one word per clock."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Crc32Word"]

#: The reflected polynomial of CRC-32/ISO-HDLC.
POLY_REFLECTED = 0xEDB88320


def _step32(value):
    """The reflected CRC register after 32 shifts from ``value``, no data: a linear map."""
    for _ in range(32):
        value = (value >> 1) ^ (POLY_REFLECTED if value & 1 else 0)
    return value


class Crc32Word(wiring.Component):
    """CRC-32/ISO-HDLC of a sequence of 32-bit words, each taken as its 4 bytes, low first.

    The function and members of ``amaranth.lib.crc.catalog.CRC32_ISO_HDLC(data_width=32)``
    (``tests/test_crc32.py`` checks it against ``zlib.crc32``), built for LUTs: with a word as wide as the register, the word enters the register by XOR and one
    linear map follows, ``crc' = F(crc ^ word)``; so each register bit is the XOR of about 16
    bits of ``crc ^ word`` (270 LUT4 on ECP5), where the library writes it as the XOR of about
    16 register bits and 16 data bits apart (412 LUT4).

    Latency one clock (``crc`` is registered); a word per clock.

    Members
    -------
    data : In(32)
    valid : In(1)
        ``data`` is the next word.
    start : In(1)
        The CRC starts again: alone, or with the first word of the new sequence.
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
        mixed = Signal(32)              # the register with the word in it
        m.d.comb += mixed.eq(Mux(self.start, 0xFFFFFFFF, reg) ^ self.data)
        columns = [_step32(1 << i) for i in range(32)]
        step = Cat(*(Cat(*(mixed[i] for i in range(32) if columns[i] >> j & 1)).xor()
                     for j in range(32)))
        with m.If(self.valid):
            m.d.sync += reg.eq(step)
        with m.Elif(self.start):
            m.d.sync += reg.eq(0xFFFFFFFF)
        m.d.comb += self.crc.eq(reg ^ 0xFFFFFFFF)
        return m
