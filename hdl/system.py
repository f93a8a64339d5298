"""The system around the codec, as one top an SoC drops in: memory -> AXI4 reader -> multi-lane
decompressor -> compute engines (the token factory), driven through a register file.

It lives at the top of ``hdl/`` beside :mod:`hdl.export` because it composes blocks of every
folder (``axi/``, ``multilane/``, ``engine/``, ``convert/``) and belongs to none of them.
docs/integration.md is its datasheet: ports, registers, a block diagram and a transfer.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hdl.axi.bus import AxiLiteSignature
from hdl.axi.read_master import ReaderError
from hdl.axi.registers import Field, Register, RegisterFile
from hdl.axi.tensor_reader import TensorReader
from hdl.common.beat_packer import BeatPacker, DenseBeat
from hdl.convert.formats import value_bits
from hdl.engine.broadcast import Broadcast, Deal, Zip
from hdl.engine.dot import Bf16DotEngine, FixedDotEngine
from hdl.engine.fixed_row import FixedPointRow
from hdl.multilane.decompressor import MultiLaneDecompressor, Values

__all__ = ["System", "REGISTERS", "ENGINES", "SYSTEM_ID", "register"]

#: Engines a system can have: none (the values leave on a stream), bf16 or fixed point.
ENGINES = ("none", "bf16", "fixed")
#: Value of the ID register: ``b"ANSY"`` read as a little-endian word.
SYSTEM_ID = int.from_bytes(b"ANSY", "little")

#: The register map (byte offsets on the AXI4-Lite port), the one source of the hardware's
#: decoding, the test benches' drivers and docs/integration.md's table.
REGISTERS = (
    Register("ID", 0x00, "ro", "identifies the block: 0x59534E41 (\"ANSY\")"),
    Register("CONFIG", 0x04, "ro", "how it was built", fields=(
        Field("lanes", 0, 5, "decoder lanes (values per clock)"),
        Field("in_words", 5, 3, "32-bit words per bus beat (1, 2, 4)"),
        Field("tokens", 8, 4, "engines fed by the one weight stream (K)"),
        Field("engine", 12, 2, "0 none, 1 bf16, 2 fixed point"),
        Field("table_log_max", 14, 4, "largest table log the lanes hold"),
    )),
    Register("CTRL", 0x08, "pulse", "commands (write 1)", fields=(
        Field("start", 0, 1, "start the job described by the descriptor registers (ignored "
                             "while busy)"),
        Field("act_reset", 1, 1, "the next activation vector goes to engine 0"),
    )),
    Register("IRQ_ENABLE", 0x0C, "rw", "interrupt enable", fields=(
        Field("done", 0, 1, "irq is high while STATUS.done is"),
    )),
    Register("STATUS", 0x10, "ro", "the job's state (cleared by START)", fields=(
        Field("busy", 0, 1, "a job is running"),
        Field("done", 1, 1, "the last job has ended (every result has left)"),
        Field("error", 2, 1, "it ended with an error: reader_error or decompressor_error"),
        Field("reader_error", 4, 4, "ReaderError: 1 descriptor, 2 SLVERR, 3 DECERR, 4 index, "
                                    "5 protocol, 6 cols"),
        Field("decompressor_error", 8, 4, "ErrorCode of the decompressor (docs/format.md)"),
    )),
    Register("TABLE_ADDR", 0x20, "rw", "byte address of the table image (Table.image())"),
    Register("TABLE_WORDS", 0x24, "rw", "its words (1 + 2**table_log); 0: keep the loaded "
                                        "table"),
    Register("INDEX_ADDR", 0x28, "rw", "byte address of the chunk index"),
    Register("PAYLOAD_ADDR", 0x2C, "rw", "byte address of the payload"),
    Register("FIRST_CHUNK", 0x30, "rw", "first chunk to fetch"),
    Register("CHUNK_COUNT", 0x34, "rw", "chunks to fetch (1 or more)", init=1),
    Register("COLS", 0x38, "rw", "the engines' row length in weights: a multiple of lanes, "
                                 "at most cols_max", init=0),
    Register("COLS_MAX", 0x3C, "ro", "the longest row the engines hold"),
    Register("BYTES_READ", 0x40, "ro", "bytes read from memory by the job"),
    Register("VALUES", 0x44, "ro", "values the decompressor gave the engines (or the output)"),
    Register("ROWS", 0x48, "ro", "result beats that have left"),
    Register("BUSY_CYCLES", 0x4C, "ro", "cycles the job has run"),
    Register("STALL_CYCLES", 0x50, "ro", "cycles the decompressor could take payload words and "
                                         "memory had none"),
    Register("ENGINE_BEATS", 0x54, "ro", "beats of lanes weights the engines took (the "
                                         "engines' busy cycles)"),
)


def register(name):
    """The :class:`~hdl.axi.registers.Register` called ``name``."""
    return next(r for r in REGISTERS if r.name == name)


def Results(bits, tokens):
    """One beat of results: row ``r``'s result of every engine; ``last`` on the final row."""
    return data.StructLayout({"value": data.ArrayLayout(bits, tokens), "last": 1})


class System(wiring.Component):
    """Memory -> :class:`~hdl.axi.tensor_reader.TensorReader` (AXI4) ->
    :class:`~hdl.multilane.decompressor.MultiLaneDecompressor` -> ``tokens`` dot-product
    engines, all fed the one decompressed weight stream (the token factory); registers on
    AXI4-Lite.

    **Use.** Put a tensor's memory image (:class:`golden.format.image.MemoryImage`) in memory.
    Send each engine its activation vector on :attr:`activations` (beats of ``lanes`` values,
    ``last`` on a vector's final beat; engine 0's first, then 1's, ...), write the descriptor
    registers (``TABLE_ADDR`` ... ``COLS``) and ``CTRL.start``. The reader loads the table,
    reads the chunk index and streams the chunks' payload into the decompressor; its values, in
    beats of ``lanes``, reach every engine at once; each engine sends one result per row of
    ``COLS`` weights, and :attr:`results` carries row ``r``'s results of all engines in one
    beat (``last`` on the final row). ``STATUS.done`` rises when the last result has left
    (and :attr:`irq` with it if enabled); the counters say how the job went. Memory traffic does
    not depend on ``tokens``: each weight is read once, compressed, whatever the number of
    engines. With ``engine="none"`` there are no engines: the values leave on :attr:`values`.

    **Throughput**: ``lanes`` weights per clock into every engine while the bus brings the
    compressed payload fast enough (a beat of ``32 * in_words`` bits holds about
    ``3 * in_words`` bf16 weights at 10.6 bits each) and chunks fit the lanes' buffers
    (``--chunk-pairs 4000``). Figures: docs/results.md, ``make sim``.

    **Errors** (``STATUS``): the reader's (a refused descriptor, a bus error, a bad index;
    :class:`~hdl.axi.read_master.ReaderError`, and COLS for a row length the engines cannot
    take, refused at start) and the decompressor's (:class:`~hdl.common.ports.ErrorCode`) are
    kept apart. A job always ends: after an error the decompressor drains the tensor, the
    engines drop a row left incomplete, results already sent are closed by one beat of zeros
    marked ``last`` (a consumer's frame always ends), and ``STATUS.done`` rises; the next job
    starts cleanly.

    Parameters
    ----------
    lanes : int
        Decoder lanes and engine multipliers (weights per clock).
    tokens : int
        Engines (K), 1 .. 15.
    engine : str
        One of :data:`ENGINES`.
    in_words : int
        32-bit words per bus beat: 1, 2 or 4 (a 32, 64 or 128-bit AXI4 bus).
    table_log_max, cols_max, max_burst, outstanding :
        Those of the decompressor, the engines and the read master.
    fixed_width, fixed_frac, act_bits :
        The fixed-point engine's weight format (:class:`~hdl.convert.fixed.FixedPointConverter`)
        and activation width.

    Members
    -------
    m_axi : Out(AxiReadSignature(data_width=32 * in_words))
    s_axil : In(AxiLiteSignature(addr_width=8))
    activations : In(stream.Signature(DenseBeat(act_bits or 16, lanes)))
        (with engines)
    results : Out(stream.Signature(Results(result bits, tokens)))
        (with engines)
    values : Out(stream.Signature(Values(16, lanes)))
        (``engine="none"``)
    irq : Out(1)
    """

    def __init__(self, *, lanes=8, tokens=4, engine="bf16", in_words=4, table_log_max=10,
                 cols_max=2048, max_burst=16, outstanding=4, fixed_width=16, fixed_frac=12,
                 act_bits=16, fmt="bf16"):
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        if not isinstance(tokens, int) or not 1 <= tokens <= 15:
            raise ValueError(f"tokens must be 1 .. 15, not {tokens!r}")
        if engine != "none" and fmt != "bf16":
            raise ValueError(f"the engines take bf16 weights, not {fmt}")
        if not isinstance(cols_max, int) or cols_max < lanes:
            raise ValueError(f"cols_max must be at least lanes ({lanes}), not {cols_max!r}")
        cols_max -= cols_max % lanes
        self._lanes, self._tokens, self._engine = lanes, tokens, engine
        self._in_words, self._table_log_max, self._cols_max = in_words, table_log_max, cols_max
        self._fmt = fmt
        self._decompressor = MultiLaneDecompressor(fmt, lanes=lanes, in_width=in_words,
                                                   table_log_max=table_log_max)
        self._reader = TensorReader(data_width=32 * in_words, max_burst=max_burst,
                                    outstanding=outstanding)
        self._engines = []
        if engine == "bf16":
            self._engines = [Bf16DotEngine(lanes=lanes, cols_max=cols_max)
                             for _ in range(tokens)]
            self._act_bits = 16
        elif engine == "fixed":
            self._row = FixedPointRow(lanes, width=fixed_width, frac=fixed_frac)
            self._engines = [FixedDotEngine(lanes=lanes, cols_max=cols_max,
                                            weight_bits=fixed_width, act_bits=act_bits)
                             for _ in range(tokens)]
            self._act_bits = act_bits
        self._fixed = (fixed_width, fixed_frac)
        members = {
            "m_axi": Out(self._reader.signature.members["bus"].signature),
            "s_axil": In(AxiLiteSignature(addr_width=8)),
        }
        if engine == "none":
            members["values"] = Out(stream.Signature(Values(value_bits(fmt), lanes)))
        else:
            bits = 32 if engine == "bf16" else self._engines[0].result_bits
            self._result_bits = bits
            members["activations"] = In(stream.Signature(DenseBeat(self._act_bits, lanes)))
            members["results"] = Out(stream.Signature(Results(bits, tokens)))
        members["irq"] = Out(1)
        super().__init__(members)

    @property
    def lanes(self):
        return self._lanes

    @property
    def tokens(self):
        return self._tokens

    @property
    def engine(self):
        return self._engine

    @property
    def in_words(self):
        return self._in_words

    @property
    def cols_max(self):
        return self._cols_max

    @property
    def decompressor(self):
        """The :class:`~hdl.multilane.decompressor.MultiLaneDecompressor` inside."""
        return self._decompressor

    @property
    def fixed(self):
        """``(width, frac)`` of the fixed-point engine's weights."""
        return self._fixed

    @property
    def result_bits(self):
        return getattr(self, "_result_bits", None)

    def config_word(self):
        """The CONFIG register's value."""
        fields = {"lanes": self._lanes, "in_words": self._in_words, "tokens": self._tokens,
                  "engine": ENGINES.index(self._engine), "table_log_max": self._table_log_max}
        reg = register("CONFIG")
        return sum(v << reg.field(n).lsb for n, v in fields.items())

    def elaborate(self, platform):
        m = Module()
        L, K = self._lanes, self._tokens
        m.submodules.regs = regs = RegisterFile(REGISTERS, addr_width=8)
        m.submodules.reader = reader = self._reader
        m.submodules.decompressor = dec = self._decompressor
        wiring.connect(m, wiring.flipped(self.s_axil), regs.bus)
        wiring.connect(m, wiring.flipped(self.m_axi), reader.bus)
        wiring.connect(m, reader.table, dec.table)
        wiring.connect(m, reader.words, dec.words)
        m.d.comb += [regs.id.eq(SYSTEM_ID), regs.config.eq(self.config_word()),
                     regs.cols_max.eq(self._cols_max)]
        for name in ("table_addr", "table_words", "index_addr", "payload_addr", "first_chunk",
                     "chunk_count"):
            m.d.comb += getattr(reader.descriptor, name).eq(getattr(regs, name))
        ctrl = register("CTRL")
        start = regs.ctrl[ctrl.field("start").lsb]
        act_reset = regs.ctrl[ctrl.field("act_reset").lsb]

        # --- the values: out, or packed into full beats and to the engines
        engines_idle = Signal()
        weights_taken = Signal()
        results_taken = Signal()
        row_beats = Signal(range(1, self._cols_max // L + 1))
        restart = Signal()
        running = Signal()
        closing = Signal()              # sending the closing beat
        if self._engine == "none":
            wiring.connect(m, dec.values, wiring.flipped(self.values))
            m.d.comb += engines_idle.eq(~dec.values.valid)
        else:
            m.submodules.packer = packer = BeatPacker(16, L)
            loose = packer.loose
            m.d.comb += [
                loose.valid.eq(dec.values.valid), dec.values.ready.eq(loose.ready),
                loose.payload.data.eq(dec.values.payload.value), loose.payload.lo.eq(0),
                loose.payload.count.eq(dec.values.payload.count),
                loose.payload.last.eq(dec.values.payload.last),
            ]
            weights = packer.packed
            if self._engine == "fixed":
                m.submodules.to_fixed = row = self._row
                wiring.connect(m, packer.packed, row.values)
                weights = row.fixed
            m.submodules.broadcast = bcast = Broadcast(weights.payload.shape(), K)
            wiring.connect(m, weights, bcast.i)
            m.submodules.deal = deal = Deal(self.activations.payload.shape(), K)
            m.d.comb += [
                deal.i.payload.eq(self.activations.payload),
                deal.i.valid.eq(self.activations.valid & ~running),
                self.activations.ready.eq(deal.i.ready & ~running),
                deal.reset.eq(act_reset),
            ]
            m.submodules.zip = zipper = Zip(self._result_bits, K)
            for k, eng in enumerate(self._engines):
                m.submodules[f"engine{k}"] = eng
                wiring.connect(m, bcast.o[k], eng.weights)
                wiring.connect(m, deal.o[k], eng.activations)
                wiring.connect(m, eng.results, zipper.i[k])
                m.d.comb += [eng.row_beats.eq(row_beats), eng.restart.eq(restart)]
            # (the results, or the beat that closes a job's results after an error)
            with m.If(closing):
                m.d.comb += [self.results.valid.eq(1), self.results.payload.last.eq(1)]
            with m.Else():
                m.d.comb += [self.results.valid.eq(zipper.o.valid),
                             self.results.payload.eq(zipper.o.payload),
                             zipper.o.ready.eq(self.results.ready)]
            # (a tensor cut by an error leaves the packer a part of a beat that no `last` will
            # end: it is not waited for, and the next job's restart drops it)
            cut = ~dec.status.busy & dec.status.error
            m.d.comb += [
                packer.clear.eq(restart),
                engines_idle.eq(Cat(e.idle for e in self._engines).all() &
                                ((packer.held == 0) | cut) & ~packer.packed.valid &
                                ~weights.valid & ~dec.values.valid),
                weights_taken.eq(bcast.i.valid & bcast.i.ready),
                results_taken.eq(self.results.valid & self.results.ready),
            ]

        # --- the job
        status = register("STATUS")
        done = Signal()
        error = Signal(ReaderError)
        reader_done = Signal()
        sent = Signal()                 # payload words reached the decompressor
        seen_busy = Signal()            # ... and it has been busy with them
        cols = regs.cols
        lb = L.bit_length() - 1
        power_of_two = L == 1 << lb
        cols_bad = (cols == 0) | (cols > self._cols_max)
        if power_of_two and self._engine != "none":
            cols_bad |= cols[:lb] != 0 if lb else 0
        with m.If(start & ~running):
            m.d.sync += [done.eq(0), error.eq(ReaderError.NONE), reader_done.eq(0),
                         sent.eq(0), seen_busy.eq(0)]
            with m.If(cols_bad & (self._engine != "none")):
                m.d.sync += [done.eq(1), error.eq(ReaderError.COLS)]
            with m.Else():
                m.d.sync += running.eq(1)
                m.d.comb += [reader.start.eq(1), restart.eq(1)]
                if power_of_two:
                    m.d.sync += row_beats.eq(cols >> lb)
        if not power_of_two:            # cols // lanes, one subtraction a clock while the
            rem = Signal.like(cols)     # table loads (about 2**table_log clocks)
            with m.If(start & ~running):
                m.d.sync += [rem.eq(cols), row_beats.eq(0)]
            with m.Elif(rem >= L):
                m.d.sync += [rem.eq(rem - L), row_beats.eq(row_beats + 1)]
        with m.If(reader.done):
            m.d.sync += [reader_done.eq(1), error.eq(reader.error)]
        with m.If(dec.words.valid & dec.words.ready):
            m.d.sync += sent.eq(1)
        with m.If(sent & dec.status.busy):
            m.d.sync += seen_busy.eq(1)
        finished = reader_done & (~sent | (seen_busy & ~dec.status.busy)) & engines_idle
        # results that left without their `last` (a tensor cut by an error) are closed by one
        # beat of zeros marked `last`, so that a consumer's frame always ends
        open_frame = Signal()
        if self._engine != "none":
            with m.If(results_taken):
                m.d.sync += open_frame.eq(~self.results.payload.last)
        with m.If(running & finished):
            with m.If(open_frame & ~closing):
                m.d.sync += closing.eq(1)
            with m.Elif(~closing):
                m.d.sync += [running.eq(0), done.eq(1)]
        if self._engine != "none":
            with m.If(closing & self.results.ready):
                m.d.sync += [closing.eq(0), running.eq(0), done.eq(1)]
        m.d.comb += [
            regs.status[status.field("busy").lsb].eq(running),
            regs.status[status.field("done").lsb].eq(done),
            regs.status[status.field("error").lsb].eq(
                done & ((error != ReaderError.NONE) | (sent & dec.status.error))),
            regs.status[status.field("reader_error").lsb:][:4].eq(error),
            regs.status[status.field("decompressor_error").lsb:][:4].eq(
                Mux(sent, dec.status.code, 0)),
            self.irq.eq(done & regs.irq_enable[0]),
        ]

        # --- counters, cleared by START
        def count(name, amount, when=1):
            reg = getattr(regs, name)
            with m.If(start & ~running):
                m.d.sync += reg.eq(0)
            with m.Elif(when):
                m.d.sync += reg.eq(reg + amount)

        count("bytes_read", 4 * self._in_words, reader.taken)
        count("values", dec.values.payload.count, dec.values.valid & dec.values.ready)
        count("rows", 1, results_taken)
        count("busy_cycles", 1, running)
        count("stall_cycles", 1, reader.streaming & dec.words.ready & ~dec.words.valid)
        count("engine_beats", 1, weights_taken)
        return m
