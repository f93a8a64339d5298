"""AXI4 read master: commands (a word address and a number of words) in, bursts on the bus,
the data out as beats that say which of their words belong to the command."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, enum, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.common.block_fifo import BlockFIFO

from .bus import AxiBurst, AxiReadSignature, AxiResp

__all__ = ["AxiReadMaster", "ReadCommand", "ReadBeat", "ReaderError", "MAX_BURST"]

#: Longest INCR burst of AXI4, in beats.
MAX_BURST = 256


class ReaderError(enum.Enum, shape=4):
    """What went wrong with a read (the system's ``READER_ERROR`` register, docs/integration.md).
    SLVERR and DECERR have the values of ``RRESP``."""
    NONE = 0
    DESCRIPTOR = 1  # a descriptor the reader refuses: no chunk, misaligned, or too long
    SLVERR = 2      # the slave answered SLVERR to a read
    DECERR = 3      # the interconnect answered DECERR (no slave at that address)
    INDEX = 4       # the chunk index does not describe chunks (offsets not increasing)
    PROTOCOL = 5    # RLAST not on a burst's last beat
    COLS = 6        # (the system's) a row length the engines cannot take: 0, too long, not
                    # a multiple of lanes


def ReadCommand(addr_bits, tag_bits):
    """A read: ``words`` (1 .. 2**32 - 1) 32-bit words from word address ``addr``; ``tag``
    comes back with every beat of it."""
    return data.StructLayout({"addr": addr_bits, "words": 32, "tag": tag_bits})


def ReadBeat(words, addr_bits, tag_bits):
    """A beat of read data: words ``lo .. hi - 1`` of ``data`` are the command's (all of them
    but in its first and last beat); ``addr`` is the word address of ``data[0]``; ``last``
    marks the command's final beat; ``error`` what the bus said of this beat."""
    return data.StructLayout({
        "data": data.ArrayLayout(32, words), "lo": range(words), "hi": range(1, words + 1),
        "addr": addr_bits, "tag": tag_bits, "last": 1, "error": ReaderError,
    })


class AxiReadMaster(wiring.Component):
    """Reads commands of any length from an AXI4 slave in INCR bursts, several in flight.

    Each command (:func:`ReadCommand`) is cut into bursts of up to ``max_burst`` beats that do
    not cross a 4 KB boundary (AXI4, A3.4.1); up to ``outstanding`` bursts are in flight at once.
    A burst is only asked for when the read-data FIFO (``outstanding * max_burst`` beats, block
    RAM) has room for all of it, so ``rready`` stays high: the master never holds the bus's read
    channel, and an interconnect shared with others is not blocked by a slow consumer. Beats
    leave :attr:`beats` in command order (the master uses one ID: the slave returns bursts in
    order) as :func:`ReadBeat`\\ s.

    **Throughput.** One beat per clock when the slave gives one: a new burst is asked for every
    second clock at most, so bursts of 2 beats or more keep the bus busy. **Latency** from a
    command to its first address: 2 cycles; from a beat on the bus to :attr:`beats`: 4 cycles.

    **Errors.** A beat answered SLVERR or DECERR leaves with that ``error``, and so does one whose
    ``RLAST`` is not where the burst ends (PROTOCOL); the master goes on. :attr:`abort` (held
    high) makes it stop asking: the command under way is dropped after the burst whose address is
    already on the bus, and no command is taken; the bursts in flight still come back and leave
    :attr:`beats` (AXI has no way to cancel them). :attr:`idle` says when nothing is in flight.

    ``ARVALID`` never waits for ``ARREADY`` and holds with its address until taken; ``beats``'s
    valid never waits for its ready.

    Parameters
    ----------
    data_width : int
        32, 64 or 128 (beats of 1, 2 or 4 words).
    addr_width : int
        Byte address width of the bus.
    max_burst : int
        Longest burst, 1 .. 256 beats (and at most 4 KB).
    outstanding : int
        Bursts in flight at most.
    tag_bits : int

    Members
    -------
    bus : Out(AxiReadSignature(addr_width=addr_width, data_width=data_width))
    commands : In(stream.Signature(ReadCommand(addr_width - 2, tag_bits)))
    beats : Out(stream.Signature(ReadBeat(data_width // 32, addr_width - 2, tag_bits)))
    abort : In(1)
    idle : Out(1)
        No command, burst or beat inside.
    taken : Out(1)
        A beat was taken from the bus in this cycle (``RVALID & RREADY``).
    """

    def __init__(self, *, data_width=128, addr_width=32, max_burst=16, outstanding=4,
                 tag_bits=2):
        self._bus_signature = AxiReadSignature(addr_width=addr_width, data_width=data_width)
        words = data_width // 32
        if not isinstance(max_burst, int) or not 1 <= max_burst <= MAX_BURST or \
                max_burst * 4 * words > 4096:
            raise ValueError(f"max_burst must be 1 .. {min(MAX_BURST, 1024 // words)} beats, "
                             f"not {max_burst!r}")
        if not isinstance(outstanding, int) or not 1 <= outstanding <= 64:
            raise ValueError(f"outstanding must be 1 .. 64, not {outstanding!r}")
        self._words, self._addr_width = words, addr_width
        self._max_burst, self._outstanding, self._tag_bits = max_burst, outstanding, tag_bits
        super().__init__({
            "bus": Out(self._bus_signature),
            "commands": In(stream.Signature(ReadCommand(addr_width - 2, tag_bits))),
            "beats": Out(stream.Signature(ReadBeat(words, addr_width - 2, tag_bits))),
            "abort": In(1),
            "idle": Out(1),
            "taken": Out(1),
        })

    @property
    def words(self):
        return self._words

    @property
    def max_burst(self):
        return self._max_burst

    @property
    def outstanding(self):
        return self._outstanding

    def elaborate(self, platform):
        m = Module()
        K, B = self._words, self._max_burst
        kb = K.bit_length() - 1                 # log2 of the words per beat
        page = 1024 // K                        # beats in 4 KB
        depth = self._outstanding * B           # beats of read data held at most
        aw = self._addr_width - 2
        bus = self.bus

        info_layout = data.StructLayout({
            "beat": aw - kb, "n_minus_1": range(B), "lo": range(K), "hi": range(1, K + 1),
            "tag": self._tag_bits, "last": 1,
        })
        m.submodules.info = info = fifo.SyncFIFOBuffered(
            width=info_layout.size, depth=self._outstanding)
        rdata_layout = data.StructLayout({"data": 32 * K, "resp": AxiResp, "rlast": 1})
        m.submodules.rfifo = rfifo = BlockFIFO(rdata_layout.size, max(4, depth))

        # --- address side: the command under way (`cur`, `left`), the next burst's plan
        # (registered from them), the burst on the bus
        cur = Signal(aw)
        left = Signal(32)
        tag = Signal(self._tag_bits)
        active = Signal()
        m.d.comb += self.commands.ready.eq(~active & ~self.abort)
        with m.If(self.commands.valid & self.commands.ready):
            m.d.sync += [cur.eq(self.commands.payload.addr), left.eq(self.commands.payload.words),
                         tag.eq(self.commands.payload.tag), active.eq(1)]

        plan_valid = Signal()
        plan_n = Signal(range(B + 1))
        plan_take = Signal(32)
        plan_hi = Signal(range(1, K + 1))
        plan_last = Signal()
        lo = cur[:kb] if kb else 0
        beat = cur[kb:]
        to_page = Signal(range(page + 1))
        m.d.comb += to_page.eq(page - beat[:(page - 1).bit_length()] if page > 1 else 1)
        need = Signal(34)
        m.d.comb += need.eq((lo + left + K - 1) >> kb)
        n = Signal(range(B + 1))
        m.d.comb += n.eq(Mux((to_page < B) & (to_page < need), to_page, Mux(need < B, need, B)))
        cap = Signal(range(B * K + 1))
        m.d.comb += cap.eq((n << kb) - lo)
        last = left <= cap
        take = Mux(last, left, cap)

        arvalid = Signal()
        reserved = Signal(range(depth + 1))     # beats asked for and not yet read out
        release = Signal()                      # a beat leaves the read-data FIFO
        room = reserved <= depth - plan_n
        go = plan_valid & ~arvalid & room & info.w_rdy & ~self.abort
        with m.If(active & ~plan_valid & ~self.abort):
            m.d.sync += [plan_valid.eq(1), plan_n.eq(n), plan_take.eq(take),
                         plan_hi.eq(lo + take - ((n - 1) << kb)), plan_last.eq(last)]
        with m.If(self.abort):
            m.d.sync += [active.eq(0), plan_valid.eq(0)]

        info_w = Signal(info_layout)
        m.d.comb += [
            info_w.beat.eq(beat), info_w.n_minus_1.eq(plan_n - 1), info_w.lo.eq(lo),
            info_w.hi.eq(plan_hi), info_w.tag.eq(tag), info_w.last.eq(plan_last),
            info.w_data.eq(info_w), info.w_en.eq(go),
        ]
        with m.If(go):
            m.d.sync += [
                arvalid.eq(1),
                bus.araddr.eq(beat << (kb + 2)),
                bus.arlen.eq(plan_n - 1),
                cur.eq(cur + plan_take),
                left.eq(left - plan_take),
                plan_valid.eq(0),
            ]
            with m.If(plan_last):
                m.d.sync += active.eq(0)
        with m.Elif(arvalid & bus.arready):
            m.d.sync += arvalid.eq(0)
        m.d.sync += reserved.eq(reserved + Mux(go, plan_n, 0) - release)
        m.d.comb += [
            bus.arvalid.eq(arvalid),
            bus.arid.eq(0),
            bus.arsize.eq(kb + 2),
            bus.arburst.eq(AxiBurst.INCR),
            bus.arlock.eq(0),
            bus.arcache.eq(0b0011),     # normal, non-cacheable, bufferable
            bus.arprot.eq(0),
            bus.arqos.eq(0),
        ]

        # --- data side: every beat into the FIFO (room was reserved), out paired with its
        # burst's entry
        rbeat = Signal(rdata_layout)
        m.d.comb += [
            rbeat.data.eq(bus.rdata), rbeat.resp.eq(bus.rresp), rbeat.rlast.eq(bus.rlast),
            rfifo.w.payload.eq(rbeat),
            rfifo.w.valid.eq(bus.rvalid),
            bus.rready.eq(rfifo.w.ready),
            self.taken.eq(bus.rvalid & rfifo.w.ready),
        ]
        head = Signal(info_layout)
        m.d.comb += head.eq(info.r_data)
        got = data.View(rdata_layout, rfifo.r.payload)
        k = Signal(range(B))                    # beat of the burst at the head
        first, final = k == 0, k == head.n_minus_1
        out = self.beats.payload
        m.d.comb += [
            self.beats.valid.eq(rfifo.r.valid & info.r_rdy),
            out.data.eq(got.data),
            out.lo.eq(Mux(first, head.lo, 0)),
            out.hi.eq(Mux(final, head.hi, K)),
            out.addr.eq((head.beat + k) << kb),
            out.tag.eq(head.tag),
            out.last.eq(head.last & final),
        ]
        with m.If(got.resp == AxiResp.SLVERR):
            m.d.comb += out.error.eq(ReaderError.SLVERR)
        with m.Elif(got.resp == AxiResp.DECERR):
            m.d.comb += out.error.eq(ReaderError.DECERR)
        with m.Elif(got.rlast != final):
            m.d.comb += out.error.eq(ReaderError.PROTOCOL)
        fire = self.beats.valid & self.beats.ready
        m.d.comb += [rfifo.r.ready.eq(fire), release.eq(fire), info.r_en.eq(fire & final)]
        with m.If(fire):
            m.d.sync += k.eq(Mux(final, 0, k + 1))

        m.d.comb += self.idle.eq(~active & ~arvalid & (reserved == 0) & ~info.r_rdy)
        return m
