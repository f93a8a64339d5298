"""TensorReader (hdl/axi/tensor_reader.py) in Amaranth's simulator against a memory model with
random stalls and latency: the table image arrives at the table port word for word, the payload
words of any chunk range arrive as golden.format.image.range_words makes them, densely packed;
bad descriptors, bad indexes and bus errors end with their error code and, once a tensor was
being streamed, a final beat marked last; nothing hangs."""

import random

import ml_dtypes
import numpy as np
import pytest

from golden.format import codebooks
from golden.format.image import MemoryImage
from hdl.axi.read_master import ReaderError
from hdl.axi.tensor_reader import TensorReader

from axisim import AxiMemory
from streamsim import get, simulate

BASE = 0x40          # byte address of the image in the model's memory


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(3000) * 0.05).astype(ml_dtypes.bfloat16).view(np.uint16)
    return MemoryImage.compress(x, [codebooks.get("bf16-exp")], max_table_log=8,
                                chunk_pairs=250)


def memory_with(image, extra=0):
    words = np.zeros(BASE // 4, np.uint32)
    return np.concatenate([words, image.words, np.zeros(extra, np.uint32)])


def run_jobs(dut, mem, jobs, *, seed=0, stall=0.3, max_cycles=100_000):
    """Each job: a descriptor dict. Returns per job (table writes, beats, error)."""
    rng = random.Random(seed)
    results = []
    table, beats = [], []
    done = {"flag": False, "cycle": 0}

    async def control(ctx):
        for desc in jobs:
            table.clear()
            beats.clear()
            ctx.set(dut.descriptor, desc)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            while True:
                _, _, finished = await ctx.tick().sample(dut.done)
                if finished:
                    break
            for _ in range(4):
                await ctx.tick()
            results.append((list(table), list(beats), ctx.get(dut.error)))
        done["flag"] = True

    async def table_sink(ctx):
        while True:
            w = await get(ctx, dut.table, rng, stall)
            table.append((int(w.addr), int(w.data)))

    async def word_sink(ctx):
        while True:
            b = await get(ctx, dut.words, rng, stall)
            beats.append(([int(b.data[i]) for i in range(int(b.count))], int(b.last)))

    simulate(dut, [mem.run, control, table_sink, word_sink], done, max_cycles=max_cycles,
             what="tensor reader")
    return results


def stream_of(beats, width):
    words = []
    for k, (ws, last) in enumerate(beats):
        assert last == (k == len(beats) - 1)
        assert len(ws) == width or last
        words += ws
    return words


@pytest.mark.parametrize("data_width", [128, 64, 32])
def test_ranges_arrive_as_golden_streams_them(image, data_width):
    dut = TensorReader(data_width=data_width, max_burst=8, outstanding=3)
    mem = AxiMemory(dut.bus, memory_with(image), data_width=data_width, seed=1, ar_stall=0.3,
                    r_stall=0.3, latency=4)
    ranges = [(0, None, True), (3, 2, False), (image.chunks - 1, 1, True), (5, 1, False)]
    jobs = [image.descriptor(BASE, f, c, table=t) for f, c, t in ranges]
    results = run_jobs(dut, mem, jobs, seed=data_width)
    K = data_width // 32
    for (f, c, t), (table, beats, error) in zip(ranges, results):
        assert error == ReaderError.NONE
        assert table == (list(enumerate(int(w) for w in image.table.image())) if t else [])
        assert stream_of(beats, K) == [int(w) for w in image.stream(f, c)]


def test_bad_descriptors_are_refused_without_reading(image):
    dut = TensorReader(data_width=128)
    mem = AxiMemory(dut.bus, memory_with(image), data_width=128)
    good = image.descriptor(BASE)
    jobs = [dict(good, chunk_count=0), dict(good, payload_addr=good["payload_addr"] + 2),
            dict(good, first_chunk=0xFFFFFFFF, chunk_count=2),
            dict(good, index_addr=good["index_addr"] + 1)]
    for table, beats, error in run_jobs(dut, mem, jobs):
        assert error == ReaderError.DESCRIPTOR and table == [] and beats == []
    assert mem.bursts == []


def test_bus_errors_and_bad_index_end_cleanly(image):
    dut = TensorReader(data_width=128, max_burst=4, outstanding=2)
    words = memory_with(image, extra=4)
    words[-3:] = [500, 100, 50]                           # an index that goes backwards
    pay = BASE // 4 + image.payload_offset
    # SLVERR in the middle of the payload; descriptors past the end of memory (DECERR)
    mem = AxiMemory(dut.bus, words, data_width=128, seed=2, ar_stall=0.2, r_stall=0.2,
                    slverr={pay + 700})
    good = image.descriptor(BASE)
    backwards = dict(good, first_chunk=0, chunk_count=2, index_addr=4 * (len(words) - 3))
    jobs = [good, dict(good, payload_addr=4 * len(words) + 64),
            dict(good, table_addr=4 * len(words) - 16), backwards, image.descriptor(BASE, 4, 2)]
    (t0, b0, e0), (t1, b1, e1), (t2, b2, e2), (t3, b3, e3), (t4, b4, e4) = \
        run_jobs(dut, mem, jobs, seed=3)
    assert e0 == ReaderError.SLVERR
    assert b0[-1][1] == 1 and b0[-1][0][-1] == 0           # ended by a zero word, last
    assert sum(len(w) for w, _ in b0) < 700 + 4
    assert e1 == ReaderError.DECERR and b1 == [([0], 1)]   # the tensor begun is ended
    assert e2 == ReaderError.DECERR and b2 == []           # (in the table: no payload read)
    assert e3 == ReaderError.INDEX and b3 == []            # (no payload read)
    assert e4 == ReaderError.NONE                          # and the next job is fine
    assert stream_of(b4, 4) == [int(w) for w in image.stream(4, 2)]
