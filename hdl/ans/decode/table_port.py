"""Table port of the decoder: the tensor's table written once per stream, checked, and spread to
the lanes' table RAMs with each entry's escape split."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.format.layouts import DecodeEntry, TableConfig
from hdl.common.ports import TableWrite

from .lane import EntryWrite, LaneParameters, thermometer

__all__ = ["TablePort", "table_entry_bad", "lane_entry"]


def table_entry_bad(entry, table_log_max, extra_max, extra_step):
    """An entry that no tANS table of a lane's reach has: ``nbits`` above ``table_log_max``,
    more extra bits than ``extra_max`` (or than ``extra_step`` for a pair that is not an
    escape), or ``base`` with one of its low ``nbits`` bits set."""
    # (compares of `total` with sums of `nbits` and a constant, side by side: no carry chain
    # waits for another)
    return ((entry.nbits > table_log_max) | (entry.total < entry.nbits) |
            (entry.total > entry.nbits + extra_max) |
            (~entry.escape & (entry.total > entry.nbits + extra_step)) |
            ((entry.base & thermometer(entry.nbits, len(entry.base))) != 0))


def lane_entry(m, entry, extra_step, extra_max):
    """The entry as a lane with ``extra_step`` keeps it (:func:`hdl.ans.decode.lane.split_entry`; with
    ``extra_step == extra_max`` the lane splits none and reads no escape's code field)."""
    if extra_step == extra_max:
        return entry
    out = Signal(DecodeEntry)
    first = entry.nbits + extra_step        # what a split escape reads in its pair's cycle
    wide = entry.escape & (entry.total > first)
    m.d.comb += [
        out.eq(entry),
        out.code.eq(Mux(entry.escape, Mux(wide, entry.total - first, 0), entry.code)),
        out.total.eq(Mux(wide, first, entry.total)),
    ]
    return out


class TablePort(LaneParameters, wiring.Component):
    """The decode table's port, once per stream: config word, entry checks, entries to lanes.

    Takes writes (address 0: :class:`~golden.format.layouts.TableConfig`, ``1 + u``: the
    :class:`~golden.format.layouts.DecodeEntry` of state ``u``, as :meth:`golden.ans.codec.Table.image`
    gives them) while :attr:`accept` is high, one per clock, and passes each entry on to
    :attr:`entries` two clocks later, as a lane with ``extra_step`` keeps it
    (:func:`lane_entry`): every lane behind it takes it in that clock (a lane's table port is
    ready while the lane is idle, which :attr:`accept` must ensure). The write is registered as
    it comes, and every output is a register (they fan out to every lane of a multi-lane
    top), so the entry's checks and split have a clock of their own. An entry no lane can
    decode (:func:`table_entry_bad`) sets :attr:`bad` until the next config word, a clock after
    the entry.

    Parameters
    ----------
    table_log_max, extra_max, extra_step : int
        Those of the lanes behind it (:class:`~hdl.ans.decode.lane.DecodeLane`).

    Members
    -------
    table : In(stream.Signature(TableWrite))
    accept : In(1)
    entries : Out(stream.Signature(EntryWrite(table_log_max)))
    config : Out(TableConfig)
    bad : Out(1)
    busy : Out(1)
        A write taken earlier is still being passed on.
    """

    def __init__(self, *, table_log_max=10, extra_max=16, extra_step=None):
        self._lane_parameters(table_log_max, extra_max, extra_step)
        super().__init__({
            "table": In(stream.Signature(TableWrite)),
            "accept": In(1),
            "entries": Out(stream.Signature(EntryWrite(table_log_max))),
            "config": Out(TableConfig),
            "bad": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        R = self._table_log_max
        m.d.comb += self.table.ready.eq(self.accept)
        # the write as it comes, registered
        t_valid = Signal()
        write = Signal(TableWrite)
        m.d.sync += t_valid.eq(self.table.valid & self.table.ready)
        with m.If(self.table.valid & self.table.ready):
            m.d.sync += write.eq(self.table.payload)
        # then its checks and its split, into the registers that fan out
        written = DecodeEntry(write.data)
        entry_bad = Signal()            # the entry just passed on is bad
        m.d.sync += [
            self.entries.valid.eq(t_valid & (write.addr != 0) & (write.addr <= (1 << R))),
            entry_bad.eq(t_valid & (write.addr != 0) &
                         table_entry_bad(written, R, self._extra_max, self._extra_step)),
        ]
        m.d.comb += self.busy.eq(t_valid | self.entries.valid)
        with m.If(t_valid):
            m.d.sync += [
                self.entries.payload.state.eq(write.addr - 1),
                self.entries.payload.entry.eq(lane_entry(m, written, self._extra_step,
                                                         self._extra_max)),
            ]
            with m.If(write.addr == 0):
                m.d.sync += self.config.eq(write.data)
        with m.If(t_valid & (write.addr == 0)):
            m.d.sync += self.bad.eq(0)
        with m.Elif(entry_bad):
            m.d.sync += self.bad.eq(1)
        return m
