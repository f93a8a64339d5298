"""The bit layouts of :mod:`golden.format.fields` as Amaranth ``data.Struct`` classes.

The hardware and the test benches use these as stream payloads and memory shapes; each has the
name, fields (LSB first) and docstring of its declaration in :mod:`golden.format.fields`, which is
where a layout is declared and changed. The constants and the pack / unpack functions are
re-exported from there (they take either form of a layout).
"""

from amaranth.lib import data

from . import fields
from .fields import (CHUNK_HEADER_WORDS, CHUNK_MAGIC, ENC_CODE_BASE, ENC_NEXT_BASE,  # noqa: F401
                     ENC_SYMBOL_BASE, TABLE_LOG_MAX, TABLE_LOG_MIN, pack, pack_int, unpack,
                     unpack_int)

__all__ = [
    "CHUNK_MAGIC", "CHUNK_HEADER_WORDS", "ChunkHeader", "DecodeEntry", "TableConfig",
    "EncodeCode", "EncodeSymbol", "TABLE_LOG_MIN", "TABLE_LOG_MAX", "ENC_NEXT_BASE",
    "ENC_CODE_BASE", "ENC_SYMBOL_BASE", "pack", "unpack", "pack_int", "unpack_int",
]


def _struct(declaration):
    """The ``data.Struct`` subclass with the fields of a :class:`~golden.format.fields.Fields`."""
    namespace = {"__annotations__": dict(declaration.widths), "__doc__": declaration.__doc__,
                 "__module__": __name__, "__qualname__": declaration.__name__}
    return type(data.Struct)(declaration.__name__, (data.Struct,), namespace)


ChunkHeader = _struct(fields.ChunkHeader)
DecodeEntry = _struct(fields.DecodeEntry)
TableConfig = _struct(fields.TableConfig)
EncodeCode = _struct(fields.EncodeCode)
EncodeSymbol = _struct(fields.EncodeSymbol)
