"""Several cores for one file: tensors and chunks on worker threads, results in order.

The kernels (:mod:`golden.ans.fast`), zlib's CRC and hashlib's SHA-256 release the GIL, so
threads run them on as many cores as there are. Two sets of ``n`` threads: one runs whole
tensors (their Python glue, such as choosing a table, then waits for their chunks), the other
the chunks of every tensor, so that a large tensor spreads over all cores and the glue of one
tensor overlaps the chunks of another. A tensor never waits on a tensor, so this cannot
deadlock. Nothing depends on the order in which threads finish: every result is put back in
order, and the bytes written are the same for any ``n``.
"""

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor

__all__ = ["Jobs", "default_jobs"]


def default_jobs():
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class Jobs:
    """``n`` threads for tensors and ``n`` for chunks (``n == 1``: everything in the caller's
    thread, in order). A context manager; :meth:`close` waits for the threads."""

    def __init__(self, n=1):
        if n < 1:
            raise ValueError("jobs must be at least 1")
        self.n = n
        self._tensors = ThreadPoolExecutor(n, "ansnum-tensor") if n > 1 else None
        self._chunks = ThreadPoolExecutor(n, "ansnum-chunk") if n > 1 else None

    @property
    def map_chunks(self):
        """``map_chunks(fn, items)`` -> ``[fn(x) for x in items]``, the calls on the chunk
        threads; the built-in ``map`` when ``n == 1`` (the callee may then run them in order
        in its own way)."""
        if self._chunks is None:
            return map
        return lambda fn, items: list(self._chunks.map(fn, items))

    def submit(self, fn, *args):
        """Run ``fn(*args)`` on a chunk thread; returns an object whose ``result()`` is its
        value (at once, computed in the caller's thread, when ``n == 1``)."""
        if self._chunks is None:
            return _Done(fn(*args))
        return self._chunks.submit(fn, *args)

    def map_tensors(self, fn, items):
        """Yield ``fn(x)`` for ``x`` in ``items``, in order, the calls on the tensor threads,
        at most ``2 n`` of them ahead of the one yielded (memory stays bounded)."""
        if self._tensors is None:
            for x in items:
                yield fn(x)
            return
        pending = deque()
        for x in items:
            pending.append(self._tensors.submit(fn, x))
            if len(pending) > 2 * self.n:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def close(self):
        for pool in (self._tensors, self._chunks):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Done:
    def __init__(self, value):
        self._value = value

    def result(self):
        return self._value
