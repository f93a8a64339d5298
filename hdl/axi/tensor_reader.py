"""Tensor reader: a descriptor in, a compressed tensor's table and payload fetched from memory
over AXI4 and streamed into a decompressor."""

from amaranth.hdl import Array, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.format.image import LAST_BIT
from hdl.common.beat_packer import BeatPacker, DenseBeat, LooseBeat
from hdl.common.ports import TableWrite

from .read_master import AxiReadMaster, ReaderError

__all__ = ["TensorReader", "Descriptor"]

TAG_TABLE, TAG_INDEX, TAG_PAYLOAD = 0, 1, 2


class Descriptor(data.Struct):
    """What to fetch (byte addresses; the memory image's parts, :mod:`golden.format.image`)."""
    table_addr:   32  # the table image (Table.image())
    table_words:  32  # its words; 0: keep the table loaded before
    index_addr:   32  # the chunk index
    payload_addr: 32  # the payload
    first_chunk:  32  # first chunk to fetch
    chunk_count:  32  # chunks to fetch (1 or more)


class TensorReader(wiring.Component):
    """Fetches chunks ``first_chunk .. first_chunk + chunk_count - 1`` of a tensor (its memory
    image, :mod:`golden.format.image`) and streams them into a multi-lane decompressor as the
    tensor of their own that :func:`golden.format.image.range_words` defines.

    On :attr:`start` (while not :attr:`busy`) it takes :attr:`descriptor` and, through an
    :class:`~hdl.axi.read_master.AxiReadMaster`: reads the table image (``table_words``
    words, none if 0) into :attr:`table`, one write per clock at addresses 0, 1, ...; reads the
    chunk index's entries ``first``, ``first + count - 1`` and ``first + count`` (the range's
    start, its last chunk's header, its end); then reads the payload words between start and
    end, in bursts, sets the ``last`` bit of the final chunk's header and streams them densely
    (:class:`~hdl.common.beat_packer.BeatPacker`) into :attr:`words`, ``last`` on the final
    beat. :attr:`done` pulses when the final beat has left; :attr:`error` then says how it went.

    **Throughput**: the bus's, one beat of ``data_width`` bits per clock into :attr:`words`;
    the payload's bursts start once the index's entries are back (two read latencies after
    :attr:`start`, and the table's words before them).

    **Errors** (:class:`~hdl.axi.read_master.ReaderError`, the first kept): a descriptor with no
    chunk, an unaligned address or a range past 2**32 chunks is refused at once (DESCRIPTOR,
    nothing read); index entries that do not increase give INDEX (no payload read); an SLVERR,
    DECERR or misplaced RLAST on any beat stops the reader from asking for more, and once the
    reads in flight have come back (their data dropped) it ends the tensor it was streaming with
    one zero word marked ``last``: the decompressor flags that tensor (MAGIC, TRUNCATED or CRC)
    and is ready for the next. Nothing waits forever on a bad descriptor or a failing bus.

    Parameters
    ----------
    data_width, addr_width, max_burst, outstanding :
        Those of :class:`~hdl.axi.read_master.AxiReadMaster`.

    Members
    -------
    bus : Out(AxiReadSignature(...))
    descriptor : In(Descriptor)
    start : In(1)
    busy : Out(1)
    done : Out(1)
    error : Out(ReaderError)
    table : Out(stream.Signature(TableWrite))
    words : Out(stream.Signature(DenseBeat(32, data_width // 32)))
    taken : Out(1)
        A beat was taken from the bus in this cycle.
    streaming : Out(1)
        The payload's read has been asked for and its last word has not left (the cycles in
        which the decompressor can only be waiting for memory or busy).
    """

    def __init__(self, *, data_width=128, addr_width=32, max_burst=16, outstanding=4):
        self._master = AxiReadMaster(data_width=data_width, addr_width=addr_width,
                                     max_burst=max_burst, outstanding=outstanding, tag_bits=2)
        self._words = data_width // 32
        self._addr_width = addr_width
        super().__init__({
            "bus": Out(self._master.signature.members["bus"].signature),
            "descriptor": In(Descriptor),
            "start": In(1),
            "busy": Out(1),
            "done": Out(1),
            "error": Out(ReaderError),
            "table": Out(stream.Signature(TableWrite)),
            "words": Out(stream.Signature(DenseBeat(32, self._words))),
            "taken": Out(1),
            "streaming": Out(1),
        })

    @property
    def words_per_beat(self):
        return self._words

    def elaborate(self, platform):
        m = Module()
        K = self._words
        kb = K.bit_length() - 1
        aw = self._addr_width - 2
        m.submodules.master = master = self._master
        m.submodules.packer = packer = BeatPacker(32, K)
        wiring.connect(m, wiring.flipped(self.bus), master.bus)
        wiring.connect(m, packer.packed, wiring.flipped(self.words))
        m.d.comb += self.taken.eq(master.taken)

        desc = Signal(Descriptor)
        error = self.error
        failed = error != ReaderError.NONE

        def fail(code):
            with m.If(~failed):
                m.d.sync += error.eq(code)

        # index entries: the range's start, its last chunk's header, its end (word offsets)
        idx = Array(Signal(32, name=f"idx{i}") for i in range(3))
        idx_got = Signal(range(4))
        payload_issued = Signal()       # the payload's read went out: its tensor must end
        payload_done = Signal()         # its last beat has gone into the packer
        patch = Signal(aw)              # word address of the last chunk's header word 0

        # --- commands
        cmd = master.commands
        base_table = desc.table_addr[2:]
        base_index = desc.index_addr[2:]
        base_payload = desc.payload_addr[2:]

        # --- beats: the payload's to the packer (patched), the others to a word serializer
        beat = master.beats.payload
        dropping = Signal()             # after an error: beats are taken and dropped
        to_packer = (beat.tag == TAG_PAYLOAD) & ~dropping & (beat.error == ReaderError.NONE)
        ser = Signal.like(beat)
        ser_valid = Signal()
        ser_pos = Signal(range(K))
        ser_final = ser_pos == ser.hi - 1
        table_addr = Signal(range(1 << 13))
        ser_word = Array(ser.data)[ser_pos]
        ser_emit = Signal()
        m.d.comb += [
            self.table.payload.addr.eq(table_addr),
            self.table.payload.data.eq(ser_word),
            self.table.valid.eq(ser_valid & (ser.tag == TAG_TABLE)),
            ser_emit.eq(ser_valid & ((ser.tag != TAG_TABLE) | self.table.ready)),
        ]
        with m.If(ser_emit):
            m.d.sync += ser_pos.eq(ser_pos + 1)
            with m.If(ser.tag == TAG_TABLE):
                m.d.sync += table_addr.eq(table_addr + 1)
            with m.Elif(idx_got < 3):
                m.d.sync += [idx[idx_got].eq(ser_word), idx_got.eq(idx_got + 1)]
            with m.If(ser_final):
                m.d.sync += ser_valid.eq(0)

        loose = packer.loose.payload
        patched = Signal.like(beat.data)
        for i in range(K):
            hit = (beat.addr + i) == patch
            m.d.comb += patched[i].eq(beat.data[i] | (hit << LAST_BIT))
        m.d.comb += [
            loose.data.eq(patched), loose.lo.eq(beat.lo), loose.count.eq(beat.hi - beat.lo),
            loose.last.eq(beat.last),
        ]
        # (the terminating zero word after an error, see below)
        terminate = Signal()
        with m.If(terminate):
            m.d.comb += [loose.data.eq(0), loose.lo.eq(0), loose.count.eq(1), loose.last.eq(1),
                         packer.loose.valid.eq(1)]
        with m.Else():
            m.d.comb += packer.loose.valid.eq(master.beats.valid & to_packer)
        with m.If(to_packer):
            m.d.comb += master.beats.ready.eq(packer.loose.ready & ~terminate)
        with m.Elif(dropping | (beat.error != ReaderError.NONE)):
            m.d.comb += master.beats.ready.eq(1)
        with m.Else():
            m.d.comb += master.beats.ready.eq(~ser_valid | (ser_emit & ser_final))
        beat_fire = master.beats.valid & master.beats.ready
        with m.If(beat_fire & ~to_packer & ~dropping & (beat.error == ReaderError.NONE)):
            m.d.sync += [ser.eq(beat), ser_valid.eq(1), ser_pos.eq(beat.lo)]
        with m.If(beat_fire & (beat.error != ReaderError.NONE) & ~dropping):
            fail(beat.error)
            m.d.sync += dropping.eq(1)
        with m.If(beat_fire & to_packer & beat.last):
            m.d.sync += payload_done.eq(1)
        with m.If(dropping):            # (a table write waiting for the port is dropped too)
            m.d.sync += ser_valid.eq(0)
        m.d.comb += master.abort.eq(dropping)

        # --- the job
        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.start):
                    d = self.descriptor
                    m.d.sync += [desc.eq(d), error.eq(ReaderError.NONE), idx_got.eq(0),
                                 table_addr.eq(0), payload_issued.eq(0), payload_done.eq(0),
                                 dropping.eq(0)]
                    bad = ((d.chunk_count == 0) |
                           ((d.table_addr[:2] != 0) & (d.table_words != 0)) |
                           (d.index_addr[:2] != 0) | (d.payload_addr[:2] != 0) |
                           ((d.first_chunk + d.chunk_count)[32]))
                    with m.If(bad):
                        m.d.sync += error.eq(ReaderError.DESCRIPTOR)
                        m.next = "DONE"
                    with m.Elif(d.table_words != 0):
                        m.next = "TABLE"
                    with m.Else():
                        m.next = "INDEX0"
            with m.State("TABLE"):
                m.d.comb += [cmd.valid.eq(1), cmd.payload.addr.eq(base_table),
                             cmd.payload.words.eq(desc.table_words),
                             cmd.payload.tag.eq(TAG_TABLE)]
                with m.If(cmd.ready):
                    m.next = "INDEX0"
                with m.If(dropping):
                    m.next = "DRAIN"
            with m.State("INDEX0"):
                m.d.comb += [cmd.valid.eq(1), cmd.payload.addr.eq(base_index + desc.first_chunk),
                             cmd.payload.words.eq(1), cmd.payload.tag.eq(TAG_INDEX)]
                with m.If(cmd.ready):
                    m.next = "INDEX1"
                with m.If(dropping):
                    m.next = "DRAIN"
            with m.State("INDEX1"):
                m.d.comb += [cmd.valid.eq(1),
                             cmd.payload.addr.eq(base_index + desc.first_chunk +
                                                 desc.chunk_count - 1),
                             cmd.payload.words.eq(2), cmd.payload.tag.eq(TAG_INDEX)]
                with m.If(cmd.ready):
                    m.next = "WAIT_INDEX"
                with m.If(dropping):
                    m.next = "DRAIN"
            with m.State("WAIT_INDEX"):
                with m.If(dropping):
                    m.next = "DRAIN"
                with m.Elif(idx_got == 3):
                    with m.If((idx[0] > idx[1]) | (idx[1] >= idx[2])):
                        m.d.sync += error.eq(ReaderError.INDEX)
                        m.next = "DRAIN"
                    with m.Else():
                        m.d.sync += patch.eq(base_payload + idx[1])
                        m.next = "PAYLOAD"
            with m.State("PAYLOAD"):
                m.d.comb += [cmd.valid.eq(1), cmd.payload.addr.eq(base_payload + idx[0]),
                             cmd.payload.words.eq(idx[2] - idx[0]),
                             cmd.payload.tag.eq(TAG_PAYLOAD)]
                with m.If(cmd.ready):
                    m.d.sync += payload_issued.eq(1)
                    m.next = "STREAM"
                with m.If(dropping):
                    m.next = "DRAIN"
            with m.State("STREAM"):
                with m.If(dropping):
                    m.next = "DRAIN"
                with m.Elif(payload_done & ~packer.packed.valid & (packer.held == 0)):
                    m.next = "DONE"
            with m.State("DRAIN"):
                # everything asked for has come back (and been dropped); a tensor begun is ended
                with m.If(master.idle & ~ser_valid):
                    with m.If(payload_issued & ~payload_done):
                        m.next = "TERMINATE"
                    with m.Else():
                        m.next = "FLUSH"
            with m.State("TERMINATE"):
                m.d.comb += terminate.eq(1)
                with m.If(packer.loose.ready):
                    m.d.sync += payload_done.eq(1)
                    m.next = "FLUSH"
            with m.State("FLUSH"):
                with m.If(~packer.packed.valid & (packer.held == 0)):
                    m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
                m.next = "IDLE"
        m.d.comb += [self.busy.eq(~fsm.ongoing("IDLE")),
                     self.streaming.eq(payload_issued & ~fsm.ongoing("DONE") &
                                       ~fsm.ongoing("IDLE") & ~fsm.ongoing("FLUSH"))]
        return m
