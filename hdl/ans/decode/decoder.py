"""tANS decoder: payload words in, one (code, raw extra bits) per clock out."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.format.layouts import TableConfig
from hdl.common.ports import ErrorCode, Status, TableWrite, Word

from .chunk_reader import ChunkReader
from .lane import DecodeLane, LaneParameters, RawPair
from .table_port import TablePort

__all__ = ["TansDecoder"]


class TansDecoder(LaneParameters, wiring.Component):
    """One tANS decoder: :class:`~hdl.ans.decode.chunk_reader.ChunkReader` -> :class:`~hdl.ans.decode.lane.DecodeLane`.

    Consumes a tensor's payload (chunks of :class:`~golden.format.layouts.ChunkHeader` + body, exactly
    as :func:`golden.ans.codec.encode_payload` writes them; ``last`` on the tensor's final word) and
    emits its pairs in the order of the tensor. The decode table is written through
    :attr:`table` while no tensor is in progress and every pair has left (address 0:
    :class:`~golden.format.layouts.TableConfig`, address ``1 + u``: the
    :class:`~golden.format.layouts.DecodeEntry` of state ``u``, as :meth:`golden.ans.codec.Table.image`
    gives them; one write per clock), so a new code book or table needs no re-synthesis; the
    host writes the table before it sends the tensor.

    The front end checks each chunk's header, body length and CRC and hands the chunk to the
    lane, which decodes it: one pair per clock for chunks of 4 interleaved states (``states /
    4`` for 1 or 2), a clock more for an escape wider than ``extra_step``, while the input
    delivers the bits and the output is ready; plus 18 cycles per chunk. Latency: the
    first pair leaves 20 cycles (:data:`LATENCY`) after the first word is taken, with no stalls
    (measured in Amaranth's simulator).

    Bad input never hangs the decoder: a bad header, a table mismatch, a body that runs out, a
    CRC or final-state mismatch, or a tensor that ends early or late sets :attr:`status`
    ``.error`` with an :class:`~hdl.common.ports.ErrorCode` (the first of the tensor, in payload
    order), at the latest when the broken chunk ends; the rest of the tensor is then dropped and
    the next tensor decodes normally. Pairs of a chunk found broken at its end have already
    been emitted: the consumer discards the tensor when ``error`` is set at its ``last`` pair
    or before the next tensor starts. A table entry that no tANS table has (``base`` with any
    of its low ``nbits`` bits set, ``nbits`` above ``table_log_max``, more extra bits than
    ``extra_max``) makes every chunk under that table a CONFIG error.

    Parameters
    ----------
    table_log_max : int
        Largest table log the decoder decodes (8 .. 12); its table has ``1 << table_log_max``
        entries. Any smaller table log is decoded too.
    extra_max : int
        Widest extra field of an entry (including an escape's raw code);
        ``table_log_max + extra_max <= 32``.
    extra_step : int or None
        Extra bits a pair reads in its own cycle (see :class:`~hdl.ans.decode.lane.DecodeLane`; None:
        ``extra_max``, no escape takes a second cycle).

    Members
    -------
    words : In(stream.Signature(Word))
    table : In(stream.Signature(TableWrite))
    pairs : Out(stream.Signature(RawPair(extra_max)))
    config : Out(TableConfig)
        The config word last written.
    codebook_ok : In(1)
        The consumer supports ``config.codebook``; a chunk under an unsupported code book is a
        CONFIG error.
    status : Out(Status)
    """

    #: Cycles from the first word taken to the first pair out, with no stalls.
    LATENCY = 20

    def __init__(self, *, table_log_max=10, extra_max=16, extra_step=None):
        self._lane_parameters(table_log_max, extra_max, extra_step)
        super().__init__({
            "words": In(stream.Signature(Word)),
            "table": In(stream.Signature(TableWrite)),
            "pairs": Out(stream.Signature(RawPair(extra_max))),
            "config": Out(TableConfig),
            "codebook_ok": In(1, init=1),
            "status": Out(Status),
        })

    def elaborate(self, platform):
        m = Module()
        params = dict(table_log_max=self._table_log_max, extra_max=self._extra_max,
                      extra_step=self._extra_step)
        m.submodules.table_port = port = TablePort(**params)
        m.submodules.front = front = ChunkReader(table_log_max=self._table_log_max)
        m.submodules.lane = lane = DecodeLane(**params)
        wiring.connect(m, wiring.flipped(self.words), front.words)
        wiring.connect(m, wiring.flipped(self.table), port.table)
        wiring.connect(m, front.lane_words, lane.words)
        wiring.connect(m, port.entries, lane.table)
        wiring.connect(m, lane.pairs, wiring.flipped(self.pairs))
        m.d.comb += [
            self.config.eq(port.config),
            front.config.eq(port.config),
            front.table_bad.eq(port.bad),
            front.codebook_ok.eq(self.codebook_ok),
        ]

        # A chunk's last word has gone to the lane and its verdict is not in: at most one
        # (the lane takes no word after a chunk's last until it has given the verdict).
        pending = Signal()
        lane_busy = Signal()
        m.d.sync += lane_busy.eq(lane.status.busy)
        verdict = lane_busy & ~lane.status.busy
        with m.If(verdict):
            m.d.sync += pending.eq(0)
        with m.If(lane.words.valid & lane.words.ready & lane.words.payload.last):
            m.d.sync += pending.eq(1)
        # table writes between tensors, once every pair has left; they go before a tensor
        quiet = ~pending & ~front.lane_words.valid
        m.d.comb += [
            port.accept.eq(quiet & ~front.busy & lane.drained),
            front.settled.eq(quiet & ~self.table.valid & ~port.busy),
        ]

        # the tensor's first error; a lane's makes the front end drop the rest of the tensor
        code = Signal(ErrorCode)
        with m.If(front.start):
            m.d.sync += code.eq(ErrorCode.NONE)
        with m.Elif(verdict & lane.status.error & (code == ErrorCode.NONE)):
            m.d.sync += code.eq(lane.status.code)
        m.d.comb += [
            front.abort.eq(verdict & lane.status.error),
            self.status.code.eq(code),
            self.status.error.eq(code != ErrorCode.NONE),
            self.status.busy.eq(front.busy | front.lane_words.valid | pending),
        ]
        return m
