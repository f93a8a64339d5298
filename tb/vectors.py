"""Vectors for the Verilator harness (tb/harness.sv), made by the golden model."""

import numpy as np

from golden import codec

__all__ = ["Tensor", "commands", "write_hex"]

_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)


def write_hex(path, words, digits):
    """One fixed-width hex number per line, vectorised (tens of millions of lines in seconds)."""
    words = np.asarray(words, np.uint64)
    shifts = np.arange(digits - 1, -1, -1, dtype=np.uint64) * np.uint64(4)
    nibbles = (words[:, None] >> shifts[None, :]) & np.uint64(15)
    text = np.empty((len(words), digits + 1), np.uint8)
    text[:, :digits] = _HEX[nibbles.astype(np.int64)]
    text[:, digits] = ord("\n")
    with open(path, "wb") as f:
        f.write(text.tobytes())


class Tensor:
    """A tensor as the harness runs it: table writes, payload words, expected values."""

    def __init__(self, values, table, payload, name=""):
        self.values = np.asarray(values).ravel()
        self.table, self.payload, self.name = table, np.asarray(payload, np.uint32), name

    @classmethod
    def compress(cls, values, books, name="", **options):
        table, payload, _ = codec.compress_values(values, books, **options)
        return cls(values, table, payload, name)


def commands(tensors, value_bits, compressor=False):
    """``(cmd words, expected words)`` of a list of tensors, in the harness's formats: for the
    decompressor table writes + payload words in, values out; for the compressor, encoder table
    writes + values in, payload words out."""
    cmds, exps = [], []
    for t in tensors:
        if compressor:
            addr, image = (a.astype(np.uint64) for a in t.table.encoder_image())
            cmds.append((np.uint64(1) << np.uint64(46)) | (addr << np.uint64(33)) | image)
            last = np.zeros(len(t.values), np.uint64)
            last[-1] = 1
            cmds.append((last << np.uint64(32)) | t.values.astype(np.uint64))
            wlast = np.zeros(len(t.payload), np.uint64)
            wlast[-1] = 1
            exps.append((wlast << np.uint64(32)) | t.payload.astype(np.uint64))
            continue
        image = t.table.image().astype(np.uint64)
        addr = np.arange(len(image), dtype=np.uint64)
        cmds.append((np.uint64(1) << np.uint64(46)) | (addr << np.uint64(33)) | image)
        last = np.zeros(len(t.payload), np.uint64)
        last[-1] = 1
        cmds.append((last << np.uint64(32)) | t.payload.astype(np.uint64))
        vlast = np.zeros(len(t.values), np.uint64)
        if len(vlast):
            vlast[-1] = 1
        exps.append((vlast << np.uint64(value_bits)) | t.values.astype(np.uint64))
    return np.concatenate(cmds), np.concatenate(exps)
