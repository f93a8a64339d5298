"""An AXI4 read slave for Amaranth-simulator test benches: memory, random stalls on AR and R,
SLVERR / DECERR by address, and checks of the master's side of the protocol."""

import random
from collections import deque

import numpy as np

__all__ = ["AxiMemory"]

OKAY, SLVERR, DECERR = 0, 2, 3


class AxiMemory:
    """``words`` (uint32) at byte address 0 behind an AXI4 read port ``bus`` (the master's
    :func:`hdl.axi.bus.AxiReadSignature` member).

    Beats of addresses at or past the memory's end answer DECERR, those in ``slverr``
    (a set of word addresses) SLVERR, with data 0. ``ar_stall`` / ``r_stall`` are the
    probabilities that ``ARREADY`` is low or that no beat is offered in a cycle; a burst's
    first beat comes ``latency`` cycles or more after its address. Records every burst in
    :attr:`bursts` and the most bursts in flight in :attr:`most_in_flight`; a burst that
    crosses 4 KB, is longer than ``max_burst`` or not INCR of the bus width raises, and so does
    ``RREADY`` low while a beat is offered (the read master's promise).
    """

    def __init__(self, bus, words, *, data_width, seed=0, ar_stall=0.0, r_stall=0.0, latency=2,
                 slverr=(), max_burst=256, rready_always=True):
        self.bus, self.words = bus, np.asarray(words, np.uint32)
        self.K = data_width // 32
        self.rng = random.Random(seed)
        self.ar_stall, self.r_stall, self.latency = ar_stall, r_stall, latency
        self.slverr = set(slverr)
        self.max_burst = max_burst
        self.rready_always = rready_always
        self.bursts = []
        self.most_in_flight = 0
        self.beats = 0

    def _beat(self, addr):
        """(data, resp) of the beat at byte address ``addr`` (aligned to the bus)."""
        w = addr // 4
        value, resp = 0, OKAY
        for i in range(self.K):
            if w + i >= len(self.words):
                return 0, DECERR
            if w + i in self.slverr:
                return 0, SLVERR
            value |= int(self.words[w + i]) << (32 * i)
        return value, resp

    async def run(self, ctx):
        bus = self.bus
        queue = deque()                 # (ready cycle, addr, beats)
        cycle = 0
        cur = None                      # [addr, left] of the burst being returned
        offered = False
        while True:
            ctx.set(bus.arready, self.rng.random() >= self.ar_stall)
            if not offered and cur is None and queue and queue[0][0] <= cycle:
                _, addr, n = queue.popleft()
                cur = [addr, n]
            if not offered and cur is not None and self.rng.random() >= self.r_stall:
                value, resp = self._beat(cur[0])
                ctx.set(bus.rdata, value)
                ctx.set(bus.rresp, resp)
                ctx.set(bus.rlast, cur[1] == 1)
                ctx.set(bus.rvalid, 1)
                offered = True
            _, _, arvalid, arready, araddr, arlen, arsize, arburst, rvalid, rready = \
                await ctx.tick().sample(bus.arvalid, bus.arready, bus.araddr, bus.arlen,
                                        bus.arsize, bus.arburst, bus.rvalid, bus.rready)
            cycle += 1
            if arvalid and arready:
                n = arlen + 1
                nbytes = 4 * self.K
                if arsize != (nbytes.bit_length() - 1) or arburst != 1:
                    raise AssertionError(f"burst of size {arsize}, type {arburst}")
                if araddr % nbytes or (araddr % 4096) + n * nbytes > 4096:
                    raise AssertionError(f"burst at 0x{araddr:x} of {n} beats crosses 4 KB")
                if n > self.max_burst:
                    raise AssertionError(f"burst of {n} beats, longer than {self.max_burst}")
                self.bursts.append((araddr, n))
                queue.append((cycle + self.latency, araddr, n))
                self.most_in_flight = max(self.most_in_flight,
                                          len(queue) + (cur is not None))
            if offered:
                if self.rready_always and not rready:
                    raise AssertionError("RREADY low while a beat is offered")
                if rready:
                    offered = False
                    ctx.set(bus.rvalid, 0)
                    self.beats += 1
                    cur[0] += 4 * self.K
                    cur[1] -= 1
                    if cur[1] == 0:
                        cur = None
