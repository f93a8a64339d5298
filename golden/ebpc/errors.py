"""What is wrong with an EBPC stream: the error class and its codes.

The codes are the numbers of the hardware's :class:`hdl.common.ports.ErrorCode` members of the same
name (a test checks it), so that the RTL decoder's status port and the golden decoder agree on
every bad stream.
"""

import enum

__all__ = ["EbpcError", "Error"]


class Error(enum.IntEnum):
    """Why a pair of EBPC streams does not decode, in the order the decoder checks.

    The decoder reads the ZNZ stream first (all of its errors come before any of the BPC
    stream's), then the BPC blocks the non-zero values need, in order, then the values.
    """
    TRUNCATED = 7    # a stream ends inside a symbol that the n values need
    TRAILING = 8     # a stream goes on after the n values: bytes after the last symbol, or a
    #                  ZNZ zero run that passes value n
    PADDING = 3      # the bits after a stream's last symbol, in its last byte, are not zero
    SYMBOL = 11      # a BPC symbol that no encoder writes (a position outside the plane, a run
    #                  of zero planes past plane 0)
    VALUE = 12       # a value the ZNZ stream marks non-zero decodes to 0, or the zero padding
    #                  of the last block decodes to something else


class EbpcError(ValueError):
    """An EBPC stream that does not decode (cut short, too long, corrupted) or input that is
    not an int8 map. ``code`` is an :class:`Error` (None for bad input to the encoder),
    ``stream`` is ``"znz"``, ``"bpc"`` or None."""

    def __init__(self, code, stream, message):
        super().__init__(message)
        self.code = code
        self.stream = stream
