"""Amaranth-simulator benches of the EBPC encoder and decoder: tensors back to back, random
stalls on every stream, outputs gathered per tensor."""

import random

from streamsim import get, put, simulate

__all__ = ["run_encoder", "run_decoder"]


def run_encoder(dut, tensors, *, seed=0, in_stall=0.0, out_stall=0.0, max_cycles=200_000):
    """``[(bpc words, znz words)]`` per tensor (lists of ints), and the cycles it all took."""
    rng = random.Random(seed)
    out = {"znz": [[]], "bpc": [[]]}
    done = {"flag": False, "cycle": 0}
    expect_bpc = [any(int(v) for v in t) for t in tensors]

    async def producer(ctx):
        for t in tensors:
            for i, v in enumerate(t):
                await put(ctx, dut.values, {"value": int(v) & 0xFF, "last": i == len(t) - 1},
                          rng, in_stall)

    def consumer(name):
        async def run(ctx):
            r = random.Random(seed * 7 + len(name))
            port = getattr(dut, name)
            while True:
                p = await get(ctx, port, r, out_stall)
                out[name][-1].append(int(p.data))
                if p.last:
                    out[name].append([])
        return run

    async def watch(ctx):
        # done once every tensor's ZNZ stream has ended and each tensor with a non-zero value
        # has its BPC stream
        while True:
            await ctx.tick()
            if len(out["znz"]) > len(tensors) and len(out["bpc"]) > sum(expect_bpc):
                break
        for _ in range(30):          # nothing more may come
            await ctx.tick()
        done["flag"] = True

    simulate(dut, [producer, consumer("znz"), consumer("bpc"), watch], done,
             max_cycles=max_cycles, what="encoder")
    assert out["znz"][-1] == [] and out["bpc"][-1] == [], "words after the last tensor"
    bpc = iter(out["bpc"][:-1])
    return [(next(bpc) if e else [], z) for e, z in zip(expect_bpc, out["znz"][:-1])], \
        done["cycle"]


def run_decoder(dut, jobs, *, seed=0, in_stall=0.0, out_stall=0.0, max_cycles=400_000):
    """``jobs``: ``[(n, bpc words, znz words)]`` back to back. Returns per job ``(values, status
    code after it)`` and the cycles taken. Each job's streams carry ``last`` on their final
    word (a stream of no words sends nothing). A tensor's code is the one shown when the next
    count is taken (the decoder keeps it until then), the last one's once the decoder is idle."""
    values, codes = [], []
    done = {"flag": False, "cycle": 0}

    def stream(name, index):
        async def run(ctx):
            r = random.Random(seed * 13 + index)
            port = getattr(dut, name)
            for job in jobs:
                words = job[index]
                for k, w in enumerate(words):
                    await put(ctx, port, {"data": int(w), "last": k == len(words) - 1}, r,
                              in_stall)
        return run

    async def counts(ctx):
        r = random.Random(seed * 3 + 2)
        for n, _, _ in jobs:
            await put(ctx, dut.count, {"n": n}, r, in_stall)

    async def monitor(ctx):
        started = 0
        while True:
            _, _, valid, ready, code = await ctx.tick().sample(
                dut.count.valid, dut.count.ready, dut.status.code)
            if valid and ready:
                if started:
                    codes.append(code)
                started += 1

    async def consumer(ctx):
        r = random.Random(seed * 5 + 1)
        for n, _, _ in jobs:
            got = []
            for i in range(n):
                p = await get(ctx, dut.values, r, out_stall)
                got.append(int(p.value))
                assert int(p.last) == (i == n - 1), (i, n)
            values.append(got)
        quiet = 0
        while quiet < 8:
            await ctx.tick()
            quiet = quiet + 1 if not ctx.get(dut.status.busy) else 0
        codes.append(ctx.get(dut.status.code))
        done["flag"] = True

    simulate(dut, [stream("bpc", 1), stream("znz", 2), counts, monitor, consumer], done,
             max_cycles=max_cycles, what="decoder")
    return list(zip(values, codes)), done["cycle"]
