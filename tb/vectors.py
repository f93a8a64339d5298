"""Vectors for the Verilator harness (tb/harness.sv), made by the golden model."""

import numpy as np

from golden.ans import codec

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


def multilane_commands(tensors, in_width):
    """Commands for the multi-lane top, as Python integers (wider than 64 bits): table writes,
    then the payload in input beats of ``in_width`` words (``hdl.multilane.decompressor.InBeat``: the words,
    their count, ``last``), the tensor's final beat partial. Layout as tb/harness.sv says, with
    ``IN_BITS`` = :func:`multilane_in_bits`."""
    in_bits = multilane_in_bits(in_width)
    cmds = []
    for t in tensors:
        for addr, word in enumerate(t.table.image()):
            cmds.append(1 << (in_bits + 14) | addr << (in_bits + 1) | int(word))
        cmds += word_beats(t.payload, in_width)
    return cmds


def word_beats(payload, width):
    """A payload in beats of ``width`` words (``hdl.multilane.decompressor.InBeat``) as integers: the words,
    their count, ``last`` on the final beat (the only partial one), unused slots 0."""
    bits = multilane_in_bits(width)
    words = [int(w) for w in payload]
    beats = []
    for i in range(0, len(words), width):
        group = words[i:i + width]
        beat = sum(w << (32 * j) for j, w in enumerate(group)) | len(group) << (32 * width)
        beats.append(beat | int(i + width >= len(words)) << bits)
    return beats


def compressor_in_bits(lanes, value_bits):
    """Width of the multi-lane compressor's input payload without ``last``: values and count."""
    return lanes * value_bits + lanes.bit_length()


def compressor_cmd_bits(lanes, value_bits):
    """Where ``last`` and the table-write fields sit in the harness's commands for the
    multi-lane compressor (tb/harness.sv ``IN_BITS``): above the beat, and above a table
    write's 32 data bits."""
    return max(32, compressor_in_bits(lanes, value_bits))


def compressor_beat_commands(tensors, value_bits, lanes, out_width):
    """``(commands, expected beats)`` for the multi-lane compressor, as Python integers: encoder
    table writes, then the values in beats of ``lanes`` (``hdl.multilane.decompressor.Values``, the last
    partial) in; the golden payload in beats of ``out_width`` words (:func:`word_beats`) out."""
    in_bits = compressor_cmd_bits(lanes, value_bits)
    cmds, exps = [], []
    for t in tensors:
        for addr, word in zip(*t.table.encoder_image()):
            cmds.append(1 << (in_bits + 14) | int(addr) << (in_bits + 1) | int(word))
        values = [int(v) for v in t.values]
        for i in range(0, len(values), lanes):
            group = values[i:i + lanes]
            beat = sum(v << (value_bits * j) for j, v in enumerate(group))
            beat |= len(group) << (value_bits * lanes)
            cmds.append(beat | int(i + lanes >= len(values)) << in_bits)
        exps += word_beats(t.payload, out_width)
    return cmds, exps


def multilane_in_bits(in_width):
    """Width of the multi-lane top's input payload without ``last``: the words and their count."""
    return 32 * in_width + in_width.bit_length()


def multilane_beats(tensors, value_bits, lanes):
    """Expected output beats of a :class:`~hdl.multilane.decompressor.MultiLaneDecompressor` with ``lanes``
    lanes, as integers ``value[0] | value[1] << value_bits | ... | count << lanes * value_bits
    | last << (lanes * value_bits + count bits)``: every chunk's values in beats of ``lanes``,
    its last beat partial, unused slots 0 (the beats follow from the chunk sizes alone). A
    tensor without values (a bad payload) expects no beats."""
    count_bits = lanes.bit_length()
    beats = []
    for t in tensors:
        if len(t.values) == 0:      # a payload that does not decode: no beats expected
            continue
        values = [int(v) for v in t.values]
        chunks = [n for _first, n, _s, _b in codec.walk_chunks(t.payload, t.table.table_log)]
        pos = 0
        for k, n in enumerate(chunks):
            for start in range(pos, pos + n, lanes):
                group = values[start:min(start + lanes, pos + n)]
                word = sum(v << (i * value_bits) for i, v in enumerate(group))
                word |= len(group) << (lanes * value_bits)
                last = k == len(chunks) - 1 and start + len(group) == pos + n
                beats.append(word | int(last) << (lanes * value_bits + count_bits))
            pos += n
    return beats


def write_hex_ints(path, ints, digits):
    """Python integers of any width as fixed-width hex lines (for beats wider than 64 bits)."""
    with open(path, "w") as f:
        f.writelines(f"{v:0{digits}x}\n" for v in ints)
