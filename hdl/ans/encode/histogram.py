"""Code histogram: on-chip statistics of a code stream, for tables rebuilt at run time."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["CodeHistogram"]


class CodeHistogram(wiring.Component):
    """Counts the codes of a stream over a programmable window; software reads the counts.

    A tap on a code stream (the pairs an encoder takes or a decoder emits): it is always ready
    and counts one code per clock, sustained, whatever the codes (runs of one code included).
    The codes are counted in windows of :attr:`window` codes; when a window completes, its
    counts freeze and stay readable through :attr:`read_addr` / :attr:`read_data` while the
    next window counts, until that one completes in turn. Software (see
    :func:`golden.ans.adaptive.rebuild_table`) builds a table from them and reprograms the encoder
    and the decoder.

    Window. A window closes in the cycle in which its ``window``-th code is transferred, or in
    which :attr:`clear` is high (the code transferred in that cycle, if any, is the window's
    last); the next window starts with the next code. With ``window == 0`` a window lasts until
    :attr:`clear`. ``window`` may change at any time; a window longer than the new value closes
    at once. ``last`` of the payload is not looked at: windows count codes, not tensors.

    Minimum window: after a window closes, the bank that will count the window after next is
    prepared in ``2**code_bits + 3`` cycles. A window of at least ``2**code_bits + 3`` codes
    (and a :attr:`clear` at least that many cycles after the previous close) closes exactly as
    described; a shorter one is extended up to the first cycle after that time (a pending
    :attr:`clear` is remembered). No code is ever dropped, except during the ``2**code_bits``
    cycles after reset, while both banks are zeroed.

    Latency and throughput: one code per clock; a code is counted in the window of the cycle it
    is transferred in. :attr:`windows` increments the cycle after a window closes;
    :attr:`ready_window` falls at the same time and rises ``2**code_bits + 3`` cycles after the
    close. :attr:`read_data` in cycle ``c`` is the count of the code on :attr:`read_addr` in
    cycle ``c - 1`` (one cycle of latency) in the last completed window; it is valid in the
    cycles in which :attr:`ready_window` is high. A reader that wants a consistent histogram
    reads :attr:`windows` first and checks that it has not changed, with :attr:`ready_window`
    still high, after its last read.

    Counts saturate at ``2**count_bits - 1`` (that value means "at least"); the window goes on.

    Storage: two memories (banks) of ``2**code_bits`` entries of ``count_bits + 1`` bits, each
    with one read and one write port (one ECP5 block RAM each at the defaults).

    Parameters
    ----------
    code_bits : int
        Width of a code (1 .. 16); ``2**code_bits`` counters per bank.
    count_bits : int
        Width of a counter (1 .. 32).

    Members
    -------
    codes : In(stream.Signature(StructLayout({"code": code_bits, "last": 1})))
        The tapped code stream; ``ready`` is always 1.
    window : In(32)
        Codes per window; 0: until :attr:`clear`.
    clear : In(1)
        Close the current window now.
    read_addr : In(code_bits)
    read_data : Out(count_bits)
        Count of the code on ``read_addr`` (one cycle before) in the last completed window.
    ready_window : Out(1)
        A completed window is readable.
    windows : Out(16)
        Completed windows since reset (wraps).
    """

    def __init__(self, code_bits=9, count_bits=20):
        if not isinstance(code_bits, int) or not 1 <= code_bits <= 16:
            raise ValueError(f"code_bits must be an integer 1 .. 16, not {code_bits!r}")
        if not isinstance(count_bits, int) or not 1 <= count_bits <= 32:
            raise ValueError(f"count_bits must be an integer 1 .. 32, not {count_bits!r}")
        self._code_bits = code_bits
        self._count_bits = count_bits
        super().__init__({
            "codes": In(stream.Signature(data.StructLayout({"code": code_bits, "last": 1}))),
            "window": In(32),
            "clear": In(1),
            "read_addr": In(code_bits),
            "read_data": Out(count_bits),
            "ready_window": Out(1),
            "windows": Out(16),
        })

    @property
    def code_bits(self):
        return self._code_bits

    @property
    def count_bits(self):
        return self._count_bits

    @property
    def min_window(self):
        """Shortest window (in codes) that is never extended."""
        return (1 << self._code_bits) + 3

    def elaborate(self, platform):
        # Two banks, one counting, one frozen (readable). A bank entry holds a count and an
        # epoch bit; an entry counts only when its epoch bit is the bank's, so that a bank is
        # cleared at once by flipping the bank's epoch bit when it starts to count. For that to
        # be sound, every entry of the frozen bank is brought to the bank's epoch (stale ones
        # rewritten as zero, which they read as anyway) by a scrub that runs right after the
        # close, on the frozen bank's otherwise idle ports.
        m = Module()
        N = 1 << self._code_bits
        top = (1 << self._count_bits) - 1
        entry = data.StructLayout({"count": self._count_bits, "epoch": 1})

        reads, writes = [], []
        for b in range(2):
            m.submodules[f"bank{b}"] = mem = memory.Memory(shape=entry, depth=N, init=[])
            reads.append(mem.read_port())
            writes.append(mem.write_port())

        bank = Signal()                     # the counting bank; the other one is frozen
        epoch = Signal(2, init=0b01)        # epoch bit of each bank
        zeroing = Signal(init=1)            # both banks being zeroed after reset
        sweep_addr = Signal(self._code_bits)    # address of the zeroing and of the scrub
        scrub_wait = Signal()               # the close's last count lands in the frozen bank
        scrub_read = Signal()               # scrub reads the frozen bank at sweep_addr
        check = Signal()                    # scrub looks at the entry read the cycle before
        check_addr = Signal(self._code_bits)
        scrubbed = Signal()                 # the frozen bank is scrubbed: a window may close
        have_window = Signal()
        fill = Signal(32)                   # codes counted in the current window
        clear_pending = Signal()

        # --- counting: read at the code's cycle (stage 0), add and write the cycle after
        take = Signal()
        m.d.comb += [
            self.codes.ready.eq(1),
            take.eq(self.codes.valid & ~zeroing),
        ]
        code = self.codes.payload.code
        s1_valid, s1_bank = Signal(), Signal()
        s1_code = Signal(self._code_bits)
        m.d.sync += [s1_valid.eq(take), s1_code.eq(code), s1_bank.eq(bank)]

        # the previous cycle's write: the read of this cycle's code missed it (forwarding)
        w_valid, w_bank = Signal(), Signal()
        w_code = Signal(self._code_bits)
        w_count = Signal(self._count_bits)

        stored = Signal(entry)
        m.d.comb += stored.eq(Mux(s1_bank, reads[1].data, reads[0].data))
        s1_epoch = Signal()
        m.d.comb += s1_epoch.eq(Mux(s1_bank, epoch[1], epoch[0]))
        old_count = Signal(self._count_bits)
        with m.If(w_valid & (w_bank == s1_bank) & (w_code == s1_code)):
            m.d.comb += old_count.eq(w_count)
        with m.Elif(stored.epoch == s1_epoch):
            m.d.comb += old_count.eq(stored.count)
        new_count = Signal(self._count_bits)
        m.d.comb += new_count.eq(Mux(old_count == top, top, old_count + 1))
        m.d.sync += [
            w_valid.eq(s1_valid),
            w_bank.eq(s1_bank),
            w_code.eq(s1_code),
            w_count.eq(new_count),
        ]

        # --- bank ports
        for b, (rp, wp) in enumerate(zip(reads, writes)):
            counting = bank == b
            m.d.comb += rp.addr.eq(Mux(counting, code,
                                       Mux(scrub_read, sweep_addr, self.read_addr)))
            with m.If(zeroing):
                m.d.comb += [wp.addr.eq(sweep_addr), wp.data.eq(0), wp.en.eq(1)]
            with m.Elif(s1_valid & (s1_bank == b)):
                m.d.comb += [
                    wp.addr.eq(s1_code),
                    wp.data.count.eq(new_count),
                    wp.data.epoch.eq(epoch[b]),
                    wp.en.eq(1),
                ]
            with m.Elif(check & ~counting & (rp.data.epoch != epoch[b])):
                m.d.comb += [
                    wp.addr.eq(check_addr),
                    wp.data.count.eq(0),
                    wp.data.epoch.eq(epoch[b]),
                    wp.en.eq(1),
                ]

        # --- zeroing after reset, scrub after a close
        with m.If(zeroing):
            m.d.sync += sweep_addr.eq(sweep_addr + 1)
            with m.If(sweep_addr == N - 1):
                m.d.sync += [zeroing.eq(0), scrubbed.eq(1)]
        with m.If(scrub_wait):
            m.d.sync += [scrub_wait.eq(0), scrub_read.eq(1), sweep_addr.eq(0)]
        with m.If(scrub_read):
            m.d.sync += sweep_addr.eq(sweep_addr + 1)
            with m.If(sweep_addr == N - 1):
                m.d.sync += scrub_read.eq(0)
        m.d.sync += [check.eq(scrub_read), check_addr.eq(sweep_addr)]
        with m.If(check & (check_addr == N - 1)):
            m.d.sync += scrubbed.eq(1)

        # --- windows
        fill_next = Signal(33)
        m.d.comb += fill_next.eq(fill + take)
        due = self.clear | clear_pending | ((self.window != 0) & (fill_next >= self.window))
        with m.If(due & scrubbed):
            m.d.sync += [
                fill.eq(0),
                bank.eq(~bank),
                epoch.eq(epoch ^ Mux(bank, 0b01, 0b10)),    # the new counting bank's flips
                self.windows.eq(self.windows + 1),
                have_window.eq(1),
                scrubbed.eq(0),
                scrub_wait.eq(1),
                clear_pending.eq(0),
            ]
        with m.Else():
            m.d.sync += [fill.eq(fill_next), clear_pending.eq(clear_pending | self.clear)]

        # --- software read port: the frozen bank
        frozen = Signal(entry)
        frozen_epoch = Signal()
        m.d.comb += [
            frozen.eq(Mux(bank, reads[0].data, reads[1].data)),
            frozen_epoch.eq(Mux(bank, epoch[0], epoch[1])),
            self.read_data.eq(Mux(frozen.epoch == frozen_epoch, frozen.count, 0)),
            self.ready_window.eq(have_window & scrubbed),
        ]
        return m
