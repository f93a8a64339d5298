"""tANS tables and chunk kernels: counts, spread, table inversion, bit-exact kernels."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from golden.ans import tans
from golden.ans.tans import TansError

ROOT = Path(__file__).resolve().parents[3]


def random_counts(rng, n_symbols, table_log):
    hist = rng.zipf(1.5, n_symbols).astype(np.int64)
    return tans.normalize_counts(hist, table_log)


# --- normalize_counts --------------------------------------------------------------------------

@given(hist=st.lists(st.integers(0, 10**6), min_size=1, max_size=300),
       table_log=st.integers(8, 12))
def test_normalize_counts_properties(hist, table_log):
    hist = np.array(hist, np.int64)
    used = hist > 0
    L = 1 << table_log
    if not used.any():
        with pytest.raises(TansError, match="empty"):
            tans.normalize_counts(hist, table_log)
        return
    counts = tans.normalize_counts(hist, table_log)
    assert counts.sum() == L
    assert (counts[used] >= 1).all()
    assert (counts[~used] == 0).all()
    assert len(counts) == len(hist)


@given(seed=st.integers(0, 2**32 - 1), table_log=st.integers(8, 12))
def test_normalize_counts_keeps_exact_proportions(seed, table_log):
    """A histogram that already sums to L (all entries >= 1) is returned unchanged."""
    rng = np.random.default_rng(seed)
    L = 1 << table_log
    n = int(rng.integers(1, 40))
    cuts = np.sort(rng.choice(np.arange(1, L), n - 1, replace=False))
    hist = np.diff(np.concatenate([[0], cuts, [L]]))
    np.testing.assert_array_equal(tans.normalize_counts(hist, table_log), hist)
    # scaling the histogram does not change the result
    np.testing.assert_array_equal(tans.normalize_counts(hist * 3, table_log), hist)


def test_normalize_counts_cost_near_entropy():
    rng = np.random.default_rng(11)
    hist = np.bincount(np.clip(rng.geometric(0.2, 100_000), 0, 60), minlength=61)
    for table_log in (8, 12):
        counts = tans.normalize_counts(hist, table_log)
        p = hist[hist > 0] / hist.sum()
        entropy = -(hist[hist > 0] * np.log2(p)).sum()
        cost = tans.cost_bits(hist, counts, table_log)
        assert entropy <= cost <= entropy * (1.05 if table_log == 8 else 1.002)
        # locally optimal: no move of one state from a symbol to another lowers the cost
        used = np.flatnonzero(hist)
        for a in used:
            for b in used:
                if a != b and counts[a] > 1:
                    c = counts.copy()
                    c[a] -= 1
                    c[b] += 1
                    assert tans.cost_bits(hist, c, table_log) >= cost - 1e-6


def test_normalize_counts_too_many_symbols():
    for table_log in (8, 12):
        L = 1 << table_log
        assert tans.normalize_counts(np.ones(L, np.int64), table_log).tolist() == [1] * L
        with pytest.raises(TansError, match="do not fit"):
            tans.normalize_counts(np.ones(L + 1, np.int64), table_log)
    with pytest.raises(TansError, match="empty"):
        tans.normalize_counts(np.zeros(5, np.int64), 8)


def test_check_counts_rejects():
    with pytest.raises(TansError, match="table log"):
        tans.check_counts([128, 128], 7)
    with pytest.raises(TansError, match="table log"):
        tans.check_counts([1 << 12, 1 << 12], 13)
    for bad in ([256, 0], [255], [200, 100], []):
        with pytest.raises(TansError):
            tans.check_counts(bad, 8)


# --- tables ------------------------------------------------------------------------------------

@pytest.mark.parametrize("table_log", [8, 10, 12])
@pytest.mark.parametrize("n_symbols", [1, 2, 17, 256])
def test_decode_table_partitions_states(table_log, n_symbols):
    """Every symbol's states cover [0, L) with their (base, nbits) ranges exactly once."""
    counts = random_counts(np.random.default_rng(n_symbols), n_symbols, table_log)
    L = 1 << table_log
    symbols, nbits, base = tans.decode_table(counts, table_log)
    np.testing.assert_array_equal(np.bincount(symbols, minlength=n_symbols), counts)
    assert nbits.min() >= 0 and nbits.max() <= table_log
    assert base.min() >= 0 and (base + (1 << nbits) <= L).all()
    for s in range(n_symbols):
        cover = np.zeros(L, np.int64)
        for u in np.flatnonzero(symbols == s):
            cover[base[u]:base[u] + (1 << nbits[u])] += 1
        assert (cover == 1).all(), f"symbol {s}"


def test_spread_is_fse_spread():
    counts = [3, 1, 252]
    symbols = tans.spread(counts, 8)
    step = 128 + 32 + 3
    assert [int(symbols[(k * step) % 256]) for k in range(5)] == [0, 0, 0, 1, 2]


@pytest.mark.parametrize("table_log", [8, 12])
@pytest.mark.parametrize("n_symbols", [1, 3, 40])
def test_encode_table_inverts_decode_table(table_log, n_symbols):
    """From every state and symbol, one encoding step followed by one decoding step returns."""
    counts = random_counts(np.random.default_rng(100 + n_symbols), n_symbols, table_log)
    L = 1 << table_log
    symbols, nbits, base = tans.decode_table(counts, table_log)
    start, nxt = tans.encode_table(counts, table_log)
    assert sorted(nxt.tolist()) == list(range(L))
    state = np.arange(L)
    for s in range(n_symbols):
        c = int(counts[s])
        x = state + L
        nb = np.full(L, table_log - (c.bit_length() - 1))
        nb -= (x >> nb) < c
        q = x >> nb
        assert ((q >= c) & (q < 2 * c)).all()
        new = nxt[start[s] + q - c]
        assert (symbols[new] == s).all()
        np.testing.assert_array_equal(nbits[new], nb)
        np.testing.assert_array_equal(base[new] + (x & ((1 << nb) - 1)), state)


def test_cost_bits():
    hist = [10, 30, 0, 60]
    counts = [64, 64, 0, 128]
    assert tans.cost_bits(hist, counts, 8) == pytest.approx(10 * 2 + 30 * 2 + 60 * 1)


# --- chunk kernels -----------------------------------------------------------------------------

def _case(seed, n, n_symbols, table_log, n_states, wide=0):
    """Arrays for encode_chunk/decode_chunk: skewed symbols, random extras; ``wide`` gives the
    last symbol an extra width of ``wide`` bits (as an escape symbol may have, up to 63)."""
    rng = np.random.default_rng(seed)
    counts = random_counts(rng, n_symbols, table_log)
    p = counts / counts.sum()
    symbols = rng.choice(n_symbols, n, p=p).astype(np.int64)
    width = rng.integers(0, 9, n_symbols).astype(np.int64)
    if wide:
        width[-1] = wide
    r = rng.integers(0, np.iinfo(np.uint64).max, n, dtype=np.uint64, endpoint=True)
    w = width[symbols]
    extras = np.where(w > 0, r >> np.minimum(64 - w, 63).astype(np.uint64), 0)
    return counts, symbols, extras.astype(np.uint64), width


def _encode(counts, symbols, extras, width, table_log, n_states):
    start, nxt = tans.encode_table(counts, table_log)
    out = np.zeros((table_log + int(width.max())) * len(symbols) // 32 + 8, np.uint32)
    w = tans.encode_chunk(symbols, extras, width, np.asarray(counts, np.int64), start, nxt,
                          table_log, n_states, out)
    return out[:w].copy()


def _decode(body, n, counts, width, table_log, n_states):
    sym, nb, base = tans.decode_table(counts, table_log)
    out_s = np.zeros(n, np.int64)
    out_x = np.zeros(n, np.uint64)
    err = tans.decode_chunk(np.asarray(body, np.uint32), n, table_log, n_states, sym, nb, base,
                            width, out_s, out_x)
    return err, out_s, out_x


CASES = [  # seed, pairs, symbols, table log, states, wide
    (1, 1, 1, 8, 1, 0), (2, 1, 5, 8, 4, 0), (3, 3, 2, 9, 4, 0), (4, 500, 20, 8, 1, 0),
    (5, 777, 60, 12, 2, 0), (6, 1000, 256, 8, 4, 0), (7, 300, 9, 11, 2, 33),
    (8, 300, 9, 10, 1, 63), (9, 2000, 4096, 12, 4, 0),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_chunk_round_trip(case):
    seed, n, n_symbols, table_log, n_states, wide = case
    counts, symbols, extras, width = _case(seed, n, n_symbols, table_log, n_states, wide)
    body = _encode(counts, symbols, extras, width, table_log, n_states)
    bits = n_states * table_log + int(width[symbols].sum())
    assert len(body) >= -(-bits // 32)
    err, s, x = _decode(body, n, counts, width, table_log, n_states)
    assert err == 0
    np.testing.assert_array_equal(s, symbols)
    np.testing.assert_array_equal(x, extras)


def test_chunk_errors():
    counts, symbols, extras, width = _case(12, 400, 30, 10, 2)
    body = _encode(counts, symbols, extras, width, 10, 2)
    assert _decode(body, 400, counts, width, 10, 2)[0] == 0
    assert _decode(body[:-1], 400, counts, width, 10, 2)[0] == tans.ERR_OVERRUN
    assert _decode(body[:1], 400, counts, width, 10, 2)[0] == tans.ERR_OVERRUN
    assert _decode(np.append(body, 0), 400, counts, width, 10, 2)[0] == tans.ERR_PADDING
    padded = body.copy()
    padded[-1] |= np.uint32(1 << 31)  # the top bit of the last word is padding
    err = _decode(padded, 400, counts, width, 10, 2)[0]
    assert err in (tans.ERR_PADDING, tans.ERR_STATE, tans.ERR_OVERRUN)
    # fewer pairs than encoded: the states are not back at 0, or the leftover bits are not zero
    assert _decode(body, 399, counts, width, 10, 2)[0] in (tans.ERR_STATE, tans.ERR_PADDING)
    # a wrong initial state
    bad = body.copy()
    bad[0] ^= np.uint32(1)
    assert _decode(bad, 400, counts, width, 10, 2)[0] != 0


def test_chunk_padding_check_exact():
    """A chunk whose bits end mid-word: any set padding bit is ERR_PADDING."""
    found = 0
    for seed in range(20):
        counts, symbols, extras, width = _case(seed, 50, 6, 8, 1)
        body = _encode(counts, symbols, extras, width, 8, 1)
        sym, nb, base = tans.decode_table(counts, 8)

        def read(pos, k):
            return sum(((int(body[(pos + j) >> 5]) >> ((pos + j) & 31)) & 1) << j
                       for j in range(k))

        u, pos = read(0, 8), 8  # replay the decoder to find where the padding starts
        for i in range(50):
            assert sym[u] == symbols[i]
            bits = read(pos, int(nb[u]))
            pos += int(nb[u]) + int(width[symbols[i]])
            u = int(base[u]) + bits
        assert u == 0 and len(body) == -(-pos // 32)
        for p in range(pos, 32 * len(body)):
            bad = body.copy()
            bad[p >> 5] |= np.uint32(1 << (p & 31))
            assert _decode(bad, 50, counts, width, 8, 1)[0] == tans.ERR_PADDING
            found += 1
    assert found > 100


_SCRIPT = r"""
import json, sys
import numpy as np
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import test_tans as t
from golden.ans import tans
out = {"jit": hasattr(tans.encode_chunk, "py_func"), "cases": []}
for case in t.CASES[:8]:
    seed, n, n_symbols, table_log, n_states, wide = case
    counts, symbols, extras, width = t._case(seed, n, n_symbols, table_log, n_states, wide)
    body = t._encode(counts, symbols, extras, width, table_log, n_states)
    err, s, x = t._decode(body, n, counts, width, table_log, n_states)
    bad = t._decode(body[:-1], n, counts, width, table_log, n_states)[0]
    out["cases"].append([body.tolist(), int(err), s.tolist(), [int(v) for v in x], int(bad)])
print(json.dumps(out))
"""


def _kernel_outputs(env_extra):
    env = dict(os.environ, **env_extra)
    r = subprocess.run([sys.executable, "-c", _SCRIPT, str(ROOT), str(Path(__file__).resolve().parent)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_numba_matches_pure_python():
    """The jitted kernels and the same code run as plain Python give the same words."""
    pure = _kernel_outputs({"NUMBA_DISABLE_JIT": "1"})
    assert pure["jit"] is False
    jitted = {"jit": hasattr(tans.encode_chunk, "py_func"), "cases": []}
    assert jitted["jit"] is True
    for k, case in enumerate(CASES[:8]):
        seed, n, n_symbols, table_log, n_states, wide = case
        counts, symbols, extras, width = _case(seed, n, n_symbols, table_log, n_states, wide)
        body = _encode(counts, symbols, extras, width, table_log, n_states)
        err, s, x = _decode(body, n, counts, width, table_log, n_states)
        bad = _decode(body[:-1], n, counts, width, table_log, n_states)[0]
        want = [body.tolist(), int(err), s.tolist(), [int(v) for v in x], int(bad)]
        assert pure["cases"][k] == want, f"case {case}"
        assert err == 0 and bad == tans.ERR_OVERRUN
