"""fastcore.coactivation against its naive twins (tests/naive.py) and scipy's XᵀX, and under concurrent calls."""

import os
import subprocess
import sys
import textwrap
from multiprocessing.pool import ThreadPool
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from fastcore import coactivation as co
from tests import naive

ROOT = Path(__file__).resolve().parent.parent


def _random_csr(n, L, density, seed, dtype=np.float32):
    rng = np.random.default_rng(seed)
    X = sp.random(n, L, density=density, format="csr", random_state=rng, dtype=dtype)
    X.data = rng.standard_normal(X.nnz).astype(dtype)  # signs and magnitudes do not matter: nonzero fired
    return X


def _k_active(n, L, k, seed):
    rng = np.random.default_rng(seed)
    cols = np.argsort(rng.random((n, L)), axis=1)[:, :k]
    return sp.csr_matrix((np.ones(n * k, np.float32), cols.ravel(), np.arange(0, n * k + 1, k)), shape=(n, L))


# --------------------------------------------------------------------------------------------------- counting


@pytest.mark.parametrize(
    "n, L, density", [(500, 40, 0.1), (2000, 300, 0.02), (50, 7, 0.6), (1, 5, 0.5), (300, 1, 0.3), (1000, 64, 1.0)]
)
def test_counts_match_naive_twin_and_scipy(n, L, density):
    X = _random_csr(n, L, density, seed=n + L)
    C = co.cooccurrence(X)
    assert C.dtype == np.int64 and C.shape == (L, L)
    np.testing.assert_array_equal(C, naive.cooccurrence(X))
    B = (X != 0).astype(np.int64)
    np.testing.assert_array_equal(C, (B.T @ B).toarray())


def test_counts_of_fixed_size_active_sets():
    X = _k_active(3000, 200, 24, seed=1)
    C = co.cooccurrence(X)
    np.testing.assert_array_equal(C, naive.cooccurrence(X))
    assert np.trace(C) == 3000 * 24
    assert C.sum() == 3000 * 24 * 24  # every sample adds k² ordered pairs, diagonal included


def test_counts_by_hand():
    X = np.array([[1, 0, 2, 0], [0, 0, 3, 1], [5, 0, 1, 1], [0, 0, 0, 0]])
    want = np.array([[2, 0, 2, 1], [0, 0, 0, 0], [2, 0, 3, 2], [1, 0, 2, 2]])
    np.testing.assert_array_equal(co.cooccurrence(sp.csr_matrix(X)), want)
    np.testing.assert_array_equal(co.cooccurrence(X), want)  # dense input
    np.testing.assert_array_equal(co.cooccurrence(sp.coo_matrix(X)), want)  # other sparse formats


def test_counts_corner_cases():
    assert co.cooccurrence(sp.csr_matrix((0, 5))).tolist() == [[0] * 5] * 5  # no samples
    assert co.cooccurrence(sp.csr_matrix((4, 0))).shape == (0, 0)  # no latents
    assert co.cooccurrence(sp.csr_matrix((10, 3))).tolist() == [[0] * 3] * 3  # nothing fired
    np.testing.assert_array_equal(co.cooccurrence(np.ones((7, 4))), np.full((4, 4), 7))  # everything fired
    # unsorted indices, duplicates that add up (and one pair that cancels to a stored zero), explicit zeros
    data = np.array([1.0, 2.0, 0.0, 3.0, 1.0, -1.0, 4.0])
    indices = np.array([2, 0, 1, 0, 1, 1, 2])
    indptr = np.array([0, 3, 7])
    X = sp.csr_matrix((data, indices, indptr), shape=(2, 3))
    assert not X.has_canonical_format
    before = (X.data.copy(), X.indices.copy())
    np.testing.assert_array_equal(co.cooccurrence(X), naive.cooccurrence(X))
    np.testing.assert_array_equal(co.cooccurrence(X), [[2, 0, 2], [0, 0, 0], [2, 0, 2]])
    np.testing.assert_array_equal(X.data, before[0])  # the caller's matrix is left as it was
    np.testing.assert_array_equal(X.indices, before[1])
    assert co.cooccurrence(sp.csr_matrix(np.eye(3, dtype=bool))).tolist() == np.eye(3, dtype=int).tolist()


@pytest.mark.parametrize(
    "bad", [np.zeros(3), np.zeros((2, 2, 2)), np.array([["a"]]), sp.csr_matrix(np.array([[np.nan, 1.0]]))]
)
def test_counts_reject_bad_input(bad):
    with pytest.raises(ValueError, match="X"):
        co.cooccurrence(bad)


# ------------------------------------------------------------------------------------------------ similarities


@pytest.mark.parametrize("kind", co.KINDS)
def test_similarities_match_naive_twin(kind):
    X = _random_csr(400, 30, 0.15, seed=3)
    dead, always = sp.csr_matrix((400, 1)), sp.csr_matrix(np.ones((400, 1)))
    X = sp.hstack([X, dead, always]).tocsr()
    C = co.cooccurrence(X)
    np.testing.assert_allclose(co.similarity(C, 400, kind), naive.similarity(C, 400, kind), rtol=1e-12, atol=1e-12)


def test_similarities_known_values():
    # latent 0 and 1 always together, 2 never with them, 3 never fires
    X = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
    C = co.cooccurrence(X)
    J = co.similarity(C, 4, "jaccard")
    assert J[0, 1] == 1.0 and J[0, 2] == 0.0 and J[3, 3] == 0.0 and J[2, 2] == 1.0
    P = co.similarity(C, 4, "phi")
    assert P[0, 1] == pytest.approx(1.0) and P[0, 2] == pytest.approx(-1 / np.sqrt(3)) and P[3, 0] == 0.0
    M = co.similarity(C, 4, "pmi")
    assert M[0, 1] == pytest.approx(np.log(2)) and M[0, 2] == -np.inf and np.isnan(M[3, 0])
    N = co.similarity(C, 4, "npmi")
    assert N[0, 1] == pytest.approx(1.0) and N[0, 2] == -1.0 and N[3, 0] == 0.0


def test_similarity_rejects_bad_input():
    C = co.cooccurrence(np.eye(3))
    with pytest.raises(ValueError, match="kind"):
        co.similarity(C, 3, "cosine")
    with pytest.raises(ValueError, match="n_samples"):
        co.similarity(C, -1, "jaccard")
    with pytest.raises(ValueError, match="counts in"):
        co.similarity(C, 0, "jaccard")  # counts above n_samples
    with pytest.raises(ValueError, match="integer"):
        co.similarity(C.astype(float), 3, "jaccard")
    with pytest.raises(ValueError, match="square"):
        co.similarity(np.zeros((2, 3), int), 3, "jaccard")
    assert co.similarity(np.zeros((0, 0), int), 0, "phi").shape == (0, 0)


# ---------------------------------------------------------------------------------------------- concurrency


def test_counting_from_a_thread_pool_matches_serial_results():
    inputs = [_k_active(4000, 256, 16, seed=s) for s in range(4)]
    want = [naive.cooccurrence(X) for X in inputs]
    with ThreadPool(4) as pool:
        got = pool.map(lambda X: (co.cooccurrence(X), co.similarity(co.cooccurrence(X), X.shape[0], "phi")), inputs * 3)
    for (C, S), X, W in zip(got, inputs * 3, want * 3):
        np.testing.assert_array_equal(C, W)
        np.testing.assert_allclose(S, naive.similarity(W, X.shape[0], "phi"), atol=1e-12)


_CONCURRENT = textwrap.dedent("""
    import threading, numpy as np, scipy.sparse as sp
    from fastcore import coactivation as co
    rng = np.random.default_rng(0)
    X = sp.random(20000, 512, density=0.03, format="csr", random_state=rng)
    want = co.cooccurrence(X)
    want_s = co.similarity(want, 20000, "jaccard")
    results, errors = [], []
    def work():
        try:
            for _ in range(6):
                C = co.cooccurrence(X)
                results.append(np.array_equal(C, want))
                results.append(np.array_equal(co.similarity(C, 20000, "jaccard"), want_s))
        except Exception as e:
            errors.append(repr(e))
    threads = [threading.Thread(target=work) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    import numba
    print(len(results), all(results), errors, numba.threading_layer())
""")


def test_parallel_kernels_from_many_threads_at_once():
    # Streamlit serves each visitor on its own thread. A child process, so that an abort fails this test only.
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    out = subprocess.run(
        [sys.executable, "-c", _CONCURRENT], check=False, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env
    )
    assert out.returncode == 0, out.stderr[-2000:]
    count, ok, errors, layer = out.stdout.split(maxsplit=3)
    assert (count, ok, errors) == ("48", "True", "[]"), out.stdout
    assert layer.strip() != "workqueue"
