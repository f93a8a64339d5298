"""The components that the FPGA flows build, by name.

``make_top(name, lanes=..., ...)`` returns a fresh :class:`~amaranth.lib.wiring.Component`:

- ``decode-lane``: the decoding lane alone (:class:`hdl.ans.decode.lane.DecodeLane`, built for
  ``--fmt`` as a multi-lane top builds its lanes);
- ``decoder``: one :class:`hdl.ans.decode.decoder.TansDecoder` (table port, chunk reader and a
  lane: pairs out);
- ``encode-lane``: the coding core of a compressor lane (:class:`hdl.ans.encode.lane.EncodeLane`
  as a multi-lane compressor builds it for ``--fmt``);
- ``decompressor``: :class:`hdl.ans.decode.decompressor.Decompressor`, or with ``--lanes`` > 1
  :class:`hdl.multilane.decompressor.MultiLaneDecompressor` (one payload stream of beats dealt
  chunk by chunk to the lanes, values in beats of ``lanes``); ``multilane`` is the latter with
  any ``--lanes``;
- ``compressor``: :class:`hdl.ans.encode.compressor.Compressor`, or with ``--lanes`` > 1
  :class:`hdl.multilane.compressor.MultiLaneCompressor` (chunks of 1016 pairs, 1010 for 10
  lanes, beats of 4 words out); ``multilane-compressor`` is the latter with any ``--lanes`` (at
  one lane: a lane of the wide tops, built in a minute);
- ``ebpc-encoder``, ``ebpc-decoder``: the EBPC feature-map codec (:mod:`hdl.ebpc`; no table, one
  lane).
- ``system``: :class:`hdl.system.System`, the AXI4 reader, a multi-lane decompressor of
  ``--lanes`` lanes and :data:`SYSTEM_TOKENS` bf16 engines behind one weight stream.
"""

import inspect
import subprocess

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

__all__ = ["TOPS", "make_top", "Copies", "TopError", "default_table_log", "source_version"]


class TopError(ValueError):
    pass


def _decode_lane(*, lanes, fmt, table_log_max, states, in_width):
    from hdl.ans.decode.lane import DecodeLane
    from hdl.convert.formats import extra_max, extra_step
    if lanes != 1:
        raise TopError("top 'decode-lane' is one DecodeLane: --lanes must be 1")
    return DecodeLane(table_log_max=table_log_max, extra_max=extra_max(fmt),
                    extra_step=extra_step(fmt))


def _decoder(*, lanes, fmt, table_log_max, states, in_width):
    from hdl.ans.decode.decoder import TansDecoder
    if lanes != 1:
        raise TopError("top 'decoder' is one TansDecoder: --lanes must be 1")
    return TansDecoder(table_log_max=table_log_max, extra_max=16)


def _encode_lane(*, lanes, fmt, table_log_max, states, in_width):
    from hdl.ans.encode.lane import EncodeLane
    from hdl.convert.formats import code_widths, extra_max
    from hdl.multilane.compressor import chunk_pairs_for
    if lanes != 1:
        raise TopError("top 'encode-lane' is one EncodeLane: --lanes must be 1")
    return EncodeLane(table_log_max=table_log_max, states=states, extra_max=extra_max(fmt),
                       chunk_max=chunk_pairs_for(8), code_widths=code_widths(fmt))


def _decompressor(*, lanes, fmt, table_log_max, states, in_width):
    if lanes != 1:
        return _multilane(lanes=lanes, fmt=fmt, table_log_max=table_log_max, states=states,
                          in_width=in_width)
    from hdl.ans.decode.decompressor import Decompressor
    return Decompressor(fmt, table_log_max=table_log_max)


def _multilane(*, lanes, fmt, table_log_max, states, in_width):
    from hdl.multilane.decompressor import MultiLaneDecompressor
    return MultiLaneDecompressor(fmt, lanes=lanes, table_log_max=table_log_max,
                                 in_width=in_width or 4)


def _compressor(*, lanes, fmt, table_log_max, states, in_width):
    if lanes != 1:
        return _multilane_compressor(lanes=lanes, fmt=fmt, table_log_max=table_log_max,
                                     states=states, in_width=in_width)
    from hdl.ans.encode.compressor import Compressor
    return Compressor(fmt, table_log_max=table_log_max, states=states)


def _multilane_compressor(*, lanes, fmt, table_log_max, states, in_width):
    from hdl.multilane.compressor import MultiLaneCompressor
    return MultiLaneCompressor(fmt, lanes=lanes, table_log_max=table_log_max, states=states)


def _ebpc(component):
    def factory(*, lanes, fmt, table_log_max, states, in_width):
        if lanes != 1:
            raise TopError(f"top 'ebpc-{component}' has one lane: --lanes must be 1")
        from hdl.ebpc.decoder import EbpcDecoder
        from hdl.ebpc.encoder import EbpcEncoder
        return EbpcEncoder() if component == "encoder" else EbpcDecoder()
    return factory


def _system(*, lanes, fmt, table_log_max, states, in_width):
    from hdl.system import System
    return System(lanes=lanes, tokens=SYSTEM_TOKENS, engine="bf16", in_words=in_width or 4,
                  table_log_max=table_log_max, fmt=fmt)


#: Engines of the ``system`` top on the board (K = 4: the token factory the figures quote).
SYSTEM_TOKENS = 4

#: name -> factory(lanes=, fmt=, table_log_max=, states=, in_width=).
TOPS = {
    "decode-lane": _decode_lane,
    "decoder": _decoder,
    "encode-lane": _encode_lane,
    "decompressor": _decompressor,
    "compressor": _compressor,
    "multilane": _multilane,
    "multilane-compressor": _multilane_compressor,
    "ebpc-encoder": _ebpc("encoder"),
    "ebpc-decoder": _ebpc("decoder"),
    "system": _system,
}


def default_table_log():
    """The lane's own default ``table_log_max`` (the hardware's choice, kept in hdl/)."""
    from hdl.ans.decode.decoder import TansDecoder
    return inspect.signature(TansDecoder).parameters["table_log_max"].default


class Copies(wiring.Component):
    """``count`` copies of one top side by side, copy ``k`` with the ports of the top under
    member ``c<k>``: how much of a top one die holds at what clock, each copy serving a stream
    of its own (e.g. a model's tensors dealt to two decompressors). Nothing is shared.

    Members
    -------
    c0, c1, ... : Out(the top's signature)
    """

    def __init__(self, tops):
        if len(tops) < 2:
            raise TopError(f"copies must be at least 2, not {len(tops)}")
        self.tops = list(tops)
        self.copies = len(self.tops)
        self.lanes = getattr(self.tops[0], "lanes", 1)
        self.in_width = getattr(self.tops[0], "in_width", None)
        super().__init__({f"c{k}": Out(top.signature) for k, top in enumerate(self.tops)})

    def elaborate(self, platform):
        m = Module()
        for k, top in enumerate(self.tops):
            m.submodules[f"c{k}"] = top
            wiring.connect(m, wiring.flipped(getattr(self, f"c{k}")), top)
        return m


def make_top(name, *, lanes=1, fmt="bf16", table_log_max=None, states=4, in_width=None,
             copies=1):
    """A new instance of top ``name`` (a key of :data:`TOPS`); ``table_log_max=None`` takes
    :func:`default_table_log`. ``states`` is the compressor's (decoders take any), ``in_width``
    the multi-lane top's words per input beat (None: 4); ``copies`` > 1 gives :class:`Copies`
    of it."""
    if table_log_max is None:
        table_log_max = default_table_log()
    if name not in TOPS:
        raise TopError(f"top must be one of {', '.join(TOPS)}, not {name!r}")
    tops = [TOPS[name](lanes=lanes, fmt=fmt, table_log_max=table_log_max, states=states,
                       in_width=in_width) for _ in range(copies)]
    return tops[0] if copies == 1 else Copies(tops)


def source_version():
    """The commit the hardware is built from; ``+dirty`` if its sources have local changes."""
    def git(*args):
        result = subprocess.run(["git", *args], capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else None
    commit = git("rev-parse", "--short", "HEAD")
    if commit is None:
        return None
    return commit + ("+dirty" if git("status", "--porcelain", "--", "hdl", "golden/format")
                     else "")
