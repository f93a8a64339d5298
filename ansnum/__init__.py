"""ansnum: lossless compression of neural-network numbers with coding pairs and tANS.

The Python API over the golden model (:mod:`golden`), for the files the ``ansnum`` command
reads and writes::

    import ansnum

    ansnum.compress("model.safetensors", "model.ansn")          # per tensor, lossless
    ansnum.decompress("model.ansn", "back.safetensors")         # byte-identical
    rows, totals = ansnum.stats("model.safetensors")            # ratio against the bound

Every failure on bad input raises :class:`AnsnError` with a one-line message.
"""

from golden.format.container import AnsnError, analyse_file, compress_file, decompress_file

__all__ = ["AnsnError", "compress", "decompress", "stats"]


def compress(src, dst, *, progress=False, **options):
    """Compress the safetensors file ``src`` into the ``.ansn`` file ``dst``; returns its index.

    ``options`` are those of ``ansnum compress``: ``codebook`` ("auto" or a code book name),
    ``table_log``, ``chunk_pairs``, ``states``, ``tensors_regex``."""
    return compress_file(src, dst, progress=progress, **options)


def decompress(src, dst, *, progress=False):
    """Restore the ``.ansn`` file ``src`` into ``dst``, byte for byte the original file."""
    decompress_file(src, dst, progress=progress)


def stats(path, *, progress=False, **options):
    """``(rows, totals)``: per tensor of the safetensors file ``path``, its size compressed
    with ``options`` and its entropy bound; nothing is written."""
    return analyse_file(path, progress=progress, **options)
