"""The fused kernels (golden/ans/fast.py) against the reference path: same tables, words, values
and errors, for every code book they serve, every option, escapes and damaged payloads."""

import json
import os
import subprocess
import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from golden.ans import codec, fast, tans
from golden.ans.codec import PayloadError
from golden.format import codebooks
from golden.jobs import Jobs

from ansnum_helpers import escape_heavy_table

ROOT = Path(__file__).resolve().parents[3]

#: Code books the fast path serves (every lossless one but posit16, whose tables are large).
FAST_BOOKS = [n for n in codebooks.CODEBOOKS if n not in ("posit16", "user-e4m-example")]


def _values(book, seed, n, dist):
    """``n`` values in the domain of ``book``: weights-like, uniform bit patterns, or few."""
    rng = np.random.default_rng(seed)
    dtype = book.value_dtype
    if dist == "uniform" or not isinstance(book, codebooks.FloatCodeBook):
        v = rng.integers(0, 1 << book.value_bits, n, dtype=np.uint64)
        if dist == "few":
            v = rng.choice(v[:3], n)
        return v.astype(dtype)
    x = rng.standard_normal(n) * 10.0 ** rng.integers(-6, 2)
    if dist == "few":
        x = rng.choice(x[:3], n)
    if book.value_bits == 16 and book.code_bits - book.sign_in_code == 8:
        return x.astype(ml_dtypes.bfloat16).view(np.uint16)
    if book.value_bits == 16:
        return x.astype(np.float16).view(np.uint16)
    if book.value_bits == 32:
        return x.astype(np.float32).view(np.uint32)
    f8 = ml_dtypes.float8_e4m3fn if book.code_bits - book.sign_in_code == 4 else \
        ml_dtypes.float8_e5m2
    return x.astype(f8).view(np.uint8)


def _same_compression(values, books, **options):
    fast_out = codec.compress_values(values, books, **options)
    ref_out = codec.compress_values(values, books, reference=True, **options)
    assert fast_out[0] == ref_out[0]
    np.testing.assert_array_equal(fast_out[1], ref_out[1])
    assert fast_out[2] == pytest.approx(ref_out[2], rel=1e-12)
    return fast_out


@given(seed=st.integers(0, 2**32 - 1), name=st.sampled_from(FAST_BOOKS),
       dist=st.sampled_from(["weights", "uniform", "few"]), n=st.integers(1, 3000),
       table_log=st.integers(8, 12), chunk_pairs=st.sampled_from([1, 7, 100, 1000, 65536]),
       states=st.sampled_from([1, 2, 4]))
def test_same_payload_and_values(seed, name, dist, n, table_log, chunk_pairs, states):
    book = codebooks.get(name)
    values = _values(book, seed, n, dist)
    table, payload, _ = _same_compression(values, [book], max_table_log=table_log,
                                          chunk_pairs=chunk_pairs, states=states)
    back = codec.decompress_values(table, payload, n)
    ref = codec.decompress_values(table, payload, n, reference=True)
    assert back.dtype == ref.dtype == book.value_dtype
    np.testing.assert_array_equal(back, values)
    np.testing.assert_array_equal(ref, values)


@pytest.mark.parametrize("dtype", ["BF16", "F16", "F32"])
def test_candidates_share_a_histogram(dtype):
    """Both float code books of a dtype, chosen from one histogram of the high parts."""
    books = codebooks.for_dtype(dtype)
    assert len(books) == 2
    for seed in range(4):
        _same_compression(_values(books[0], seed, 5000, "weights"), books, chunk_pairs=1000)


@pytest.mark.parametrize("escape_width", [None, 20, 30])
@pytest.mark.parametrize("states", [1, 2, 4])
def test_escape_tables(states, escape_width):
    """Tables where most pairs are escapes, also wider than needed (fp32-sized fields)."""
    values = _values(codebooks.get("bf16-exp"), states, 4000, "uniform")
    table, codes, extras = escape_heavy_table(values, keep=3, escape_width=escape_width)
    words = fast.encode_values(table, values, chunk_pairs=999, states=states)
    ref = codec.encode_payload(table, codes, extras, chunk_pairs=999, states=states)
    np.testing.assert_array_equal(words, ref)
    np.testing.assert_array_equal(fast.decode_values(table, words, len(values)), values)


def test_value_map_declares_what_the_code_book_does():
    """``raw_low_bits``: the low value bits pass unchanged into the extra, the rest is a
    function of the high part (what the tables over high parts rely on)."""
    rng = np.random.default_rng(3)
    for name in FAST_BOOKS:
        book = codebooks.get(name)
        vmap = fast.value_map(book)
        assert vmap is not None, name
        values = rng.integers(0, 1 << book.value_bits, 20000, dtype=np.uint64)
        values = values.astype(book.value_dtype)
        codes, extras = book.encode(values)
        high = values.astype(np.int64) >> vmap.k
        low = values.astype(np.int64) & ((1 << vmap.k) - 1)
        np.testing.assert_array_equal(codes, vmap.code[high])
        np.testing.assert_array_equal(extras, (vmap.extra_high[high] << vmap.k) | low)
        back = vmap.dense[(codes.astype(np.int64) << vmap.shift)
                          | (extras.astype(np.int64) >> vmap.k)].astype(np.int64)
        np.testing.assert_array_equal((back << vmap.k) | low, values)
    assert fast.value_map(codebooks.get("user-e4m-example")) is None  # lossy: no NaN code


def test_value_outside_the_domain():
    book = codebooks.get("int4")
    for reference in (False, True):
        with pytest.raises(codebooks.CodeBookError, match="outside the domain"):
            codec.compress_values(np.array([1, 2, 16], np.uint8), [book], reference=reference)


def _outcome(fn):
    try:
        return "ok", fn()
    except PayloadError as e:
        return "error", str(e)


def test_damaged_payloads_fail_alike(bf16_payload):
    """Flipped bits, cut and extended payloads, wrong counts: the same values or the same
    message from both decoders."""
    table, payload, values = bf16_payload
    rng = np.random.default_rng(5)
    cases = [(payload[:k], len(values)) for k in (0, 2, 3, 10, len(payload) - 1)]
    cases += [(np.append(payload, np.uint32(0)), len(values)), (payload, len(values) - 1),
              (payload, len(values) + 1)]
    for _ in range(300):
        bad = payload.copy()
        for p in rng.integers(0, 32 * len(bad), rng.integers(1, 3)):
            bad[p >> 5] ^= np.uint32(1 << (p & 31))
        cases.append((bad, len(values)))
    kinds = set()
    for words, n in cases:
        got = _outcome(lambda: codec.decompress_values(table, words, n))
        want = _outcome(lambda: codec.decompress_values(table, words, n, reference=True))
        assert got[0] == want[0]
        if got[0] == "ok":
            np.testing.assert_array_equal(got[1], want[1])
        else:
            assert got[1] == want[1]
            kinds.add(got[1].split(":")[-1].strip().split(" ")[0])
    assert len(kinds) >= 5, kinds


def test_damaged_escapes_fail_alike():
    """Escaped codes outside the code book, escaped extras wider than their code's: the
    decoders agree on which message wins."""
    book = codebooks.get("fp8e4m3-exp")     # 16 codes in 4 code bits: every code exists
    values = _values(book, 1, 500, "uniform")
    table = _escape_table(book, values)[0]
    payload = fast.encode_values(table, values, chunk_pairs=100, states=2)
    np.testing.assert_array_equal(codec.decompress_values(table, payload, 500), values)
    rng = np.random.default_rng(2)
    messages = set()
    for _ in range(300):
        bad = payload.copy()
        p = int(rng.integers(0, 32 * len(bad)))
        bad[p >> 5] ^= np.uint32(1 << (p & 31))
        got = _outcome(lambda: codec.decompress_values(table, bad, 500))
        want = _outcome(lambda: codec.decompress_values(table, bad, 500, reference=True))
        assert got[0] == want[0] and (got[0] == "ok" or got[1] == want[1])
        messages.add(got[1] if got[0] == "error" else "ok")
    assert len(messages) > 3


def _escape_table(book, values):
    """Two symbols of their own and an escape 3 bits wider than the escaped codes need."""
    codes, extras = book.encode(values)
    hist = np.bincount(codes, minlength=book.n_codes)
    top = sorted(np.argsort(-hist)[:2].tolist())
    counts = tans.normalize_counts(np.append(hist[top], np.isin(codes, top, invert=True).sum()), 8)
    width = book.code_bits + int(book.widths.max()) + 3
    return codec.Table(book, 8, tuple(top), tuple(int(c) for c in counts), width), codes, extras


@pytest.mark.parametrize("jobs", [2, 3])
def test_threads_change_nothing(jobs):
    book = codebooks.get("bf16-exp")
    values = _values(book, 9, 50_000, "weights")
    one = codec.compress_values(values, codebooks.for_dtype("BF16"), chunk_pairs=3000)
    with Jobs(jobs) as pool:
        many = codec.compress_values(values, codebooks.for_dtype("BF16"), chunk_pairs=3000,
                                     map_chunks=pool.map_chunks)
        assert one[0] == many[0]
        np.testing.assert_array_equal(one[1], many[1])
        back = codec.decompress_values(one[0], one[1], len(values), map_chunks=pool.map_chunks)
    np.testing.assert_array_equal(back, values)


_SCRIPT = r"""
import json, sys
import numpy as np
sys.path[:0] = [sys.argv[1]]
from golden.ans import codec, fast
from golden.format import codebooks
out = {"jit": hasattr(fast._encode_chunk, "py_func"), "cases": []}
rng = np.random.default_rng(4)
for name, n, states in (("bf16-exp", 300, 4), ("bf16-sexp", 77, 2), ("fp32-exp", 50, 4),
                        ("int8", 120, 1)):
    book = codebooks.get(name)
    v = rng.integers(0, 1 << book.value_bits, n, dtype=np.uint64).astype(book.value_dtype)
    v[: n // 2] = v[0]
    table, words, _ = codec.compress_values(v, [book], chunk_pairs=64, states=states)
    back = codec.decompress_values(table, words, n)
    out["cases"].append([words.tolist(), bool((back == v).all())])
print(json.dumps(out))
"""


def test_numba_matches_pure_python():
    """The compiled kernels and the same code run as plain Python give the same words."""
    runs = []
    for env in ({"NUMBA_DISABLE_JIT": "1"}, {}):
        r = subprocess.run([sys.executable, "-c", _SCRIPT, str(ROOT)], capture_output=True,
                           text=True, env=dict(os.environ, **env), timeout=300)
        assert r.returncode == 0, r.stderr
        runs.append(json.loads(r.stdout))
    assert runs[0]["jit"] is False and runs[1]["jit"] is True
    assert runs[0]["cases"] == runs[1]["cases"]
    assert all(ok for _, ok in runs[0]["cases"])


# --- the table choice: the same tables as the straightforward versions -----------------------

def _normalize_one_step_at_a_time(hist, table_log):
    """The greedy of tans.normalize_counts as a heap, one state at a time."""
    import heapq
    hist = np.asarray(hist, dtype=np.int64)
    used = np.flatnonzero(hist)
    L = 1 << table_log
    counts = np.zeros(len(hist), np.int64)
    counts[used] = np.maximum(1, np.round(hist[used] * L / hist.sum())).astype(np.int64)
    diff = L - int(counts.sum())
    if diff > 0:
        heap = [(-hist[s] * np.log2((counts[s] + 1) / counts[s]), s) for s in used]
        heapq.heapify(heap)
        for _ in range(diff):
            _, s = heapq.heappop(heap)
            counts[s] += 1
            heapq.heappush(heap, (-hist[s] * np.log2((counts[s] + 1) / counts[s]), s))
    elif diff < 0:
        heap = [(hist[s] * np.log2(counts[s] / (counts[s] - 1)), s) for s in used if counts[s] > 1]
        heapq.heapify(heap)
        for _ in range(-diff):
            _, s = heapq.heappop(heap)
            counts[s] -= 1
            if counts[s] > 1:
                heapq.heappush(heap, (hist[s] * np.log2(counts[s] / (counts[s] - 1)), s))
    return counts


def _hist(seed, kind, n):
    rng = np.random.default_rng(seed)
    if kind == 0:
        return rng.zipf(1.3, n)
    if kind == 1:
        return rng.integers(0, 5, n)
    if kind == 2:
        return np.round(rng.exponential(1, n) * 10.0 ** rng.integers(1, 7)).astype(np.int64)
    return rng.integers(1, 3, n) * int(rng.integers(1, 1000))   # many exact ties


@given(seed=st.integers(0, 2**32 - 1), kind=st.integers(0, 3), n=st.integers(1, 300),
       table_log=st.integers(8, 12))
def test_normalize_counts_is_the_greedy(seed, kind, n, table_log):
    hist = _hist(seed, kind, n)
    if hist.sum() == 0 or np.count_nonzero(hist) > 1 << table_log:
        return
    np.testing.assert_array_equal(tans.normalize_counts(hist, table_log),
                                  _normalize_one_step_at_a_time(hist, table_log))


def _choose_every_candidate(codebook, hist, max_table_log, min_table_log=8):
    """choose_table_hist estimating every candidate, in order, the first best kept."""
    widths = codebook.widths.astype(np.int64)
    best = None
    for log in range(min_table_log, max_table_log + 1):
        for alphabet, escape in codec._alphabets(hist, 1 << log):
            sym_hist = hist[list(alphabet)]
            extra_bits = int((sym_hist * widths[list(alphabet)]).sum())
            esc_width = None
            if escape:
                rest = np.ones(len(hist), bool)
                rest[list(alphabet)] = False
                rest &= hist > 0
                if not rest.any():
                    continue
                esc_width = codebook.code_bits + int(widths[rest].max())
                sym_hist = np.append(sym_hist, int(hist[rest].sum()))
                extra_bits += int(sym_hist[-1]) * esc_width
            if len(sym_hist) > 1 << log:
                continue
            counts = tans.normalize_counts(sym_hist, log)
            bits = tans.cost_bits(sym_hist, counts, log) + extra_bits + 40 * len(sym_hist)
            if best is None or bits < best[1]:
                best = (codec.Table(codebook, log, tuple(int(a) for a in alphabet),
                                    tuple(int(c) for c in counts), esc_width), bits)
    return best


@given(seed=st.integers(0, 2**32 - 1), kind=st.integers(0, 3),
       name=st.sampled_from(["bf16-exp", "bf16-sexp", "int8", "fp8e4m3-exp"]),
       max_table_log=st.integers(8, 12))
def test_choose_table_hist_skips_only_losers(seed, kind, name, max_table_log):
    book = codebooks.get(name)
    hist = _hist(seed, kind, book.n_codes)
    hist[np.random.default_rng(seed).random(book.n_codes) < 0.5] = 0
    if hist.sum() == 0:
        return
    assert codec.choose_table_hist(book, hist, max_table_log) == \
        _choose_every_candidate(book, hist, max_table_log)


def test_jobs_give_the_same_file(tmp_path, synthetic_file):
    """``--jobs``: the same .ansn bytes and the same restored file for any number of threads."""
    from golden.cli import main
    outs = []
    for jobs in (1, 2, 4):
        dst = tmp_path / f"j{jobs}.ansn"
        assert main(["-q", "compress", "--jobs", str(jobs), "--chunk-pairs", "50",
                     str(synthetic_file), str(dst)]) == 0
        outs.append(dst.read_bytes())
        back = tmp_path / f"j{jobs}.safetensors"
        assert main(["-q", "decompress", "-j", str(jobs), str(dst), str(back)]) == 0
        assert back.read_bytes() == synthetic_file.read_bytes()
    assert outs[0] == outs[1] == outs[2]
