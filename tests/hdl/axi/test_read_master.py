"""AxiReadMaster (hdl/axi/read_master.py) in Amaranth's simulator against a memory model with
random stalls and latency on AR and R: every word of every command comes back in order, bursts
stay within 4 KB and ``max_burst``, no more than ``outstanding`` are in flight, SLVERR and DECERR
leave with their beats, and abort stops the reads."""

import random

import numpy as np
import pytest

from hdl.axi.read_master import AxiReadMaster, ReaderError

from axisim import AxiMemory
from streamsim import get, put, simulate


def run(dut, mem, commands, *, seed=0, out_stall=0.0, max_cycles=200_000):
    rng = random.Random(seed)
    got = []
    done = {"flag": False, "cycle": 0}

    async def producer(ctx):
        for addr, words, tag in commands:
            await put(ctx, dut.commands, {"addr": addr, "words": words, "tag": tag}, rng, 0.3)

    async def consumer(ctx):
        lasts = 0
        while lasts < len(commands):
            beat = await get(ctx, dut.beats, rng, out_stall)
            got.append(beat)
            lasts += beat.last
        for _ in range(3):
            await ctx.tick()
        assert ctx.get(dut.idle)
        done["flag"] = True

    simulate(dut, [mem.run, producer, consumer], done, max_cycles=max_cycles, what="reader")
    return got


def words_of(beats):
    """Per command: (tag, words, errors) from the beats, using lo/hi."""
    out, cur = [], []
    errors = []
    for b in beats:
        cur += [int(b.data[i]) for i in range(int(b.lo), int(b.hi))]
        errors.append(b.error)
        if b.last:
            out.append((int(b.tag), cur, errors))
            cur, errors = [], []
    return out


@pytest.mark.parametrize("data_width, max_burst, outstanding", [(128, 16, 4), (64, 8, 2),
                                                                 (32, 4, 3), (128, 1, 1)])
def test_commands_come_back_word_for_word(data_width, max_burst, outstanding):
    rng = random.Random(data_width + max_burst)
    memory = np.array([rng.getrandbits(32) for _ in range(6000)], np.uint32)
    dut = AxiReadMaster(data_width=data_width, max_burst=max_burst, outstanding=outstanding)
    mem = AxiMemory(dut.bus, memory, data_width=data_width, seed=1, ar_stall=0.3, r_stall=0.3,
                    latency=5, max_burst=max_burst)
    commands = [(1021, 7, 1), (0, 1, 0), (3, 1, 2), (1, 600, 3)]      # (words about 4 KB)
    commands += [(rng.randrange(5000), rng.randrange(1, 900), rng.randrange(4))
                 for _ in range(8)]
    beats = run(dut, mem, commands, seed=2, out_stall=0.3)
    for (addr, n, tag), (got_tag, words, errors) in zip(commands, words_of(beats), strict=True):
        assert got_tag == tag
        assert words == [int(w) for w in memory[addr:addr + n]]
        assert all(e == ReaderError.NONE for e in errors)
    for b in beats:
        assert int(b.addr) % (data_width // 32) == 0
    assert mem.most_in_flight <= outstanding
    if outstanding > 1:
        assert mem.most_in_flight > 1        # (it does keep several in flight)


def test_errors_leave_with_their_beats():
    memory = np.arange(1000, dtype=np.uint32)
    dut = AxiReadMaster(data_width=64, max_burst=4, outstanding=2)
    mem = AxiMemory(dut.bus, memory, data_width=64, seed=3, ar_stall=0.2, r_stall=0.2,
                    slverr={100})
    beats = run(dut, mem, [(96, 8, 0), (996, 8, 1), (10, 2, 2)], seed=4)
    (_, w0, e0), (_, w1, e1), (_, w2, e2) = words_of(beats)
    assert ReaderError.SLVERR in e0 and ReaderError.DECERR not in e0
    assert e1[0] == ReaderError.NONE and e1[-1] == ReaderError.DECERR      # past the end
    assert w2 == [10, 11] and set(e2) == {ReaderError.NONE}


def test_abort_stops_asking_and_drains():
    memory = np.arange(20000, dtype=np.uint32)
    dut = AxiReadMaster(data_width=128, max_burst=16, outstanding=4)
    mem = AxiMemory(dut.bus, memory, data_width=128, seed=5, latency=3)
    done = {"flag": False, "cycle": 0}
    seen = []

    async def bench(ctx):
        await put(ctx, dut.commands, {"addr": 0, "words": 16000, "tag": 1})
        ctx.set(dut.beats.ready, 1)
        for _ in range(40):
            _, _, valid = await ctx.tick().sample(dut.beats.valid)
            seen.append(valid)
        ctx.set(dut.abort, 1)
        for _ in range(200):
            _, _, valid = await ctx.tick().sample(dut.beats.valid)
            seen.append(valid)
        assert ctx.get(dut.idle)
        assert ctx.get(dut.commands.ready) == 0     # (while abort is high)
        ctx.set(dut.abort, 0)
        done["flag"] = True

    simulate(dut, [mem.run, bench], done, max_cycles=5000)
    assert sum(b for _, b in mem.bursts) * 4 < 16000 // 4    # far from all of it was asked
    assert sum(seen) == mem.beats


def test_parameters_are_checked():
    with pytest.raises(ValueError, match=r"^max_burst must be 1 \.\. 256 beats, not 300$"):
        AxiReadMaster(data_width=128, max_burst=300)
    with pytest.raises(ValueError, match=r"^outstanding must be 1 \.\. 64, not 0$"):
        AxiReadMaster(outstanding=0)
    with pytest.raises(ValueError, match=r"^data_width must be one of 32, 64, 128, not 96$"):
        AxiReadMaster(data_width=96)
