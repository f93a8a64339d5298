"""Payloads of the EBPC blocks' stream ports (valid/ready, ``last`` at a tensor's end).

The values themselves travel as :func:`hdl.convert.formats.Value` ``(8)`` (``value``,
``last``).
"""

from amaranth.lib import data

__all__ = ["StreamWord", "Count", "Field", "COUNT_BITS"]

#: Width of a tensor's value count (stream-ebpc's LOG_MAX_WORDS): up to 2**24 - 1 values.
COUNT_BITS = 24


class StreamWord(data.Struct):
    """A word of the ZNZ or BPC stream, its bits MSB first; ``last``: the stream's final word
    for this tensor."""
    data: 8
    last: 1


class Count(data.Struct):
    """How many values the next tensor has (the decoder's third input)."""
    n: COUNT_BITS


def Field(width):
    """Up to ``width`` bits of a stream, MSB-aligned (the first bit is ``bits[width - 1]``; bits
    below ``length`` are zero); ``last``: the stream ends after them (pad and flush)."""
    return data.StructLayout({"bits": width, "length": (width).bit_length(), "last": 1})
