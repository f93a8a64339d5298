"""EBPC written for reading: bit strings, one step per line of docs/ebpc.md.

Slow (a Python loop over every bit), exact, and independent of the numba kernels of
:mod:`golden.ebpc.kernels`, which the tests check against it symbol for symbol. Use
:func:`golden.ebpc.encode` / :func:`golden.ebpc.decode` for real data.

The stream format (stream-ebpc's encoder with its defaults; docs/ebpc.md):

* ZNZ stream: per value a ``1`` if it is non-zero; a run of ``r`` zeros (1 <= r <= 16) is
  ``0`` followed by ``r - 1`` in 4 bits; a run is cut after 16 zeros.
* BPC stream: the non-zero values in order, zero-padded to a multiple of 8, in blocks of 8.
  Per block: the first value in 8 bits, then the 9 delta bit planes from the least significant
  (plane 8) to the most significant (plane 0), each plane XOR the plane below it, as symbols
  (:data:`SYMBOLS`), consecutive zero planes merged.
* Both streams: bits MSB first into bytes, the last byte zero-padded.
"""

from .errors import EbpcError, Error

__all__ = ["encode", "decode", "zrle_bits", "block_bits", "pack_bits", "unpack_bits",
           "planes", "SYMBOLS"]

DATA_BITS = 8          # width of a value
BLOCK = 8              # values per BPC block
RUN_MAX = 16           # longest zero run of one ZNZ symbol
RUN_BITS = 4           # width of a ZNZ run length (r - 1)
DELTA_BITS = DATA_BITS + 1
PLANE_BITS = BLOCK - 1
PLANES = DELTA_BITS    # 9 bit planes, plane 0 the most significant
POS_BITS = 3           # width of a position in a 7-bit plane
ZRUN_BITS = 3          # width of a run of zero planes (k - 2)

#: The symbols of one bit plane (the 'paper' variant of stream-ebpc), prefix -> meaning.
SYMBOLS = {
    "1": "uncompressed: the 7 bits of the XOR plane follow",
    "01": "one XOR plane of zeros",
    "001": "k = 2..9 XOR planes of zeros, k - 2 in 3 bits follows",
    "00000": "XOR plane all ones",
    "00001": "delta plane all zeros (its XOR plane is not)",
    "00010": "two consecutive ones, the position p of the first (MSB = 0) in 3 bits follows",
    "00011": "a single one, its position p (MSB = 0) in 3 bits follows",
}


def _bits(value, width):
    return format(value & ((1 << width) - 1), f"0{width}b")


# ------------------------------------------------------------------------------------ encode

def zrle_bits(values):
    """The ZNZ stream of ``values`` (ints) as a string of '0'/'1'."""
    out, run = [], 0
    for v in values:
        if v == 0:
            run += 1
            if run == RUN_MAX:              # a full run ends at its 16th zero
                out.append("0" + _bits(RUN_MAX - 1, RUN_BITS))
                run = 0
        else:
            if run:
                out.append("0" + _bits(run - 1, RUN_BITS))
                run = 0
            out.append("1")
    if run:
        out.append("0" + _bits(run - 1, RUN_BITS))
    return "".join(out)


def planes(block):
    """``(base, dbp, dbx)`` of a block of 8 ints: the first value, the 9 delta bit planes (plane
    0 the most significant bit of the 9-bit deltas; bit 6 of a plane is the delta of values 0 ->
    1) and their XOR planes (``dbx[j] = dbp[j] ^ dbp[j + 1]``, ``dbx[8] = dbp[8]``)."""
    deltas = [(block[k] - block[k - 1]) & ((1 << DELTA_BITS) - 1) for k in range(1, BLOCK)]
    dbp = []
    for j in range(PLANES):
        bit = DELTA_BITS - 1 - j
        plane = 0
        for d in deltas:
            plane = plane << 1 | (d >> bit & 1)
        dbp.append(plane)
    dbx = [dbp[j] ^ dbp[j + 1] for j in range(PLANES - 1)] + [dbp[PLANES - 1]]
    return block[0], dbp, dbx


def _plane_symbol(dbx, dbp):
    """The symbol of one non-zero XOR plane."""
    full = (1 << PLANE_BITS) - 1
    if dbx == full:
        return "00000"
    if dbp == 0:
        return "00001"
    ones = bin(dbx).count("1")
    first = PLANE_BITS - dbx.bit_length()           # position of the first one, MSB = 0
    if ones == 1:
        return "00011" + _bits(first, POS_BITS)
    if ones == 2 and (dbx >> (PLANE_BITS - 2 - first)) & 1:
        return "00010" + _bits(first, POS_BITS)
    return "1" + _bits(dbx, PLANE_BITS)


def block_bits(block):
    """The BPC bits of a block of 8 ints (values -128..127)."""
    base, dbp, dbx = planes(block)
    out = [_bits(base, DATA_BITS)]
    zeros = 0
    for j in range(PLANES - 1, -1, -1):             # plane 8 (LSB) first
        if dbx[j] == 0:
            zeros += 1
            continue
        if zeros:
            out.append("01" if zeros == 1 else "001" + _bits(zeros - 2, ZRUN_BITS))
            zeros = 0
        out.append(_plane_symbol(dbx[j], dbp[j]))
    if zeros:
        out.append("01" if zeros == 1 else "001" + _bits(zeros - 2, ZRUN_BITS))
    return "".join(out)


def pack_bits(bits):
    """A '0'/'1' string as bytes, MSB first, the last byte zero-padded."""
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


def unpack_bits(data):
    return "".join(format(b, "08b") for b in data)


def encode(values):
    """``(bpc, znz)`` as bytes for a sequence of ints in -128..127."""
    values = [int(v) for v in values]
    nonzero = [v for v in values if v != 0]
    nonzero += [0] * (-len(nonzero) % BLOCK)
    bpc = "".join(block_bits(nonzero[i:i + BLOCK]) for i in range(0, len(nonzero), BLOCK))
    return pack_bits(bpc), pack_bits(zrle_bits(values))


# ------------------------------------------------------------------------------------ decode

class _Reader:
    def __init__(self, data, stream):
        self.bits, self.pos, self.stream = unpack_bits(data), 0, stream

    def read(self, n, what):
        if self.pos + n > len(self.bits):
            raise EbpcError(Error.TRUNCATED, self.stream,
                            f"{self.stream} stream ends in {what} at bit {self.pos}")
        v = int(self.bits[self.pos:self.pos + n], 2) if n else 0
        self.pos += n
        return v

    def check_end(self):
        """After the last symbol: the rest of the current byte is zero and no byte follows."""
        rest = len(self.bits) - self.pos
        if rest >= 8:
            raise EbpcError(Error.TRAILING, self.stream,
                            f"{self.stream} stream has {rest // 8} byte(s) after its last symbol")
        if "1" in self.bits[self.pos:]:
            raise EbpcError(Error.PADDING, self.stream,
                            f"{self.stream} stream's padding bits are not zero")


def _decode_znz(znz, n):
    r = _Reader(znz, "znz")
    flags = []
    while len(flags) < n:
        if r.read(1, "a symbol"):
            flags.append(1)
        else:
            run = r.read(RUN_BITS, "a zero run") + 1
            if len(flags) + run > n:
                raise EbpcError(Error.TRAILING, "znz",
                                f"znz stream decodes past n = {n}: a run of {run} zeros "
                                f"at value {len(flags)}")
            flags += [0] * run
    r.check_end()
    return flags


def _decode_block(r, block):
    base = r.read(DATA_BITS, f"the base of block {block}")
    dbp = [0] * PLANES
    j, below = PLANES - 1, 0                        # below: the delta plane j + 1
    while j >= 0:
        what = f"plane {j} of block {block}"
        if r.read(1, what):
            dbx = r.read(PLANE_BITS, what)
            dbp[j] = below = dbx ^ below
            j -= 1
            continue
        if r.read(1, what):                         # 01: one zero XOR plane
            dbp[j] = below
            j -= 1
            continue
        if r.read(1, what):                         # 001: k zero XOR planes
            k = r.read(ZRUN_BITS, what) + 2
            if k > j + 1:
                raise EbpcError(Error.SYMBOL, "bpc", f"bpc stream: a run of {k} zero planes "
                                f"from plane {j} of block {block} passes plane 0")
            for _ in range(k):
                dbp[j] = below
                j -= 1
            continue
        kind = r.read(2, what)
        if kind == 0:                               # 00000: all ones
            dbx = (1 << PLANE_BITS) - 1
        elif kind == 1:                             # 00001: delta plane zero
            dbp[j] = below = 0
            j -= 1
            continue
        else:
            p = r.read(POS_BITS, what)
            ones = 2 if kind == 2 else 1
            if p > PLANE_BITS - ones:
                raise EbpcError(Error.SYMBOL, "bpc", f"bpc stream: position {p} for "
                                f"{ones} one(s) in plane {j} of block {block}")
            dbx = ((1 << ones) - 1) << (PLANE_BITS - ones - p)
        dbp[j] = below = dbx ^ below
        j -= 1
    out, x = [], base
    out.append(x - 256 if x >= 128 else x)
    for k in range(1, BLOCK):
        d = 0
        for j in range(PLANES):
            d = d << 1 | (dbp[j] >> (BLOCK - 1 - k) & 1)
        x = (x + d) & 0xFF
        out.append(x - 256 if x >= 128 else x)
    return out


def decode(bpc, znz, n):
    """The ``n`` ints that ``(bpc, znz)`` (bytes) encode; raises :class:`EbpcError`."""
    flags = _decode_znz(znz, n)
    nonzero = sum(flags)
    r = _Reader(bpc, "bpc")
    values = []
    for block in range(-(-nonzero // BLOCK)):
        values += _decode_block(r, block)
    r.check_end()
    out, k = [], 0
    for i, f in enumerate(flags):
        if not f:
            out.append(0)
            continue
        if values[k] == 0:
            raise EbpcError(Error.VALUE, "bpc", f"value {i} is marked non-zero but decodes to 0")
        out.append(values[k])
        k += 1
    if any(values[k:]):
        raise EbpcError(Error.VALUE, "bpc", "the padding of the last block is not zero")
    return out
