"""Payload layouts of the hardware's stream ports (AXI-Stream style: valid/ready, ``last``).

Format layouts (chunk header, decode entry, table config) live in :mod:`golden.format.layouts`; these
are the ports around them.
"""

from amaranth.lib import data, enum

__all__ = ["Word", "TableWrite", "Status", "ErrorCode", "TABLE_ADDR_BITS"]

#: Address width of the table port: address 0 is the config word, 1 + u the entry of state u.
TABLE_ADDR_BITS = 13


class Word(data.Struct):
    """A 32-bit payload word; ``last`` marks the final word of a tensor's payload."""
    data: 32
    last: 1


class TableWrite(data.Struct):
    """A write to the decode table (see :class:`golden.format.layouts.TableConfig`, ``DecodeEntry``)."""
    addr: TABLE_ADDR_BITS
    data: 32


class ErrorCode(enum.Enum, shape=4):
    """Why a tensor failed; the first error of a tensor is kept until the next one starts.

    The values of OVERRUN, STATE and PADDING are the golden decoder's ``ERR_*`` codes; the EBPC
    decoder's (TRUNCATED, TRAILING, PADDING, SYMBOL, VALUE) are :class:`golden.ebpc.Error`'s.
    """
    NONE = 0
    OVERRUN = 1    # the pairs need more bits than the chunk body holds
    STATE = 2      # a state is not back at 0 after the last pair
    PADDING = 3    # body longer than its pairs, or padding bits not zero
    MAGIC = 4      # chunk header magic is wrong (not a payload, or lost sync)
    CONFIG = 5     # table not for this top (book, log; compressor: code_bits) or header not its
    CRC = 6        # body CRC-32 mismatch
    TRUNCATED = 7  # the input's `last` word came before the tensor's last chunk ended
    TRAILING = 8   # words follow the tensor's last chunk before the input's `last`
    UNCODABLE = 9  # (compressor) a value's code has no symbol in the table
    BEAT = 10      # (multi-lane compressor) a beat of fewer values than lanes before the last
    SYMBOL = 11    # (EBPC decoder) a BPC symbol no encoder writes (golden.ebpc.Error)
    VALUE = 12     # (EBPC decoder) a value marked non-zero decodes to 0, or padding to non-zero


class Status(data.Struct):
    busy: 1        # a tensor is being decoded
    error: 1       # the current (or last) tensor had an error
    code: ErrorCode
