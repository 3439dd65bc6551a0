"""Benchmark of fastcore.coactivation.cooccurrence against scipy.sparse, in the same run and on the same input.

``CASES`` maps a case name to a function returning one JSON-ready dict: bench, device, config, ours, reference,
unit, ratio (reference / ours: above 1 means ours is faster), and whether the counts are identical.
``python -m bench.coactivation [case ...]`` prints one JSON line per case.
"""

from __future__ import annotations

import os
import sys
import time

import numba
import numpy as np
import scipy.sparse as sp

from bench import run_cases
from fastcore import coactivation as co


def k_active(n_samples: int, n_latents: int, k: int, seed: int = 0, chunk: int = 10_000) -> sp.csr_matrix:
    """n_samples rows of exactly k distinct active latents (uniform), activation values in (0, 1]."""
    rng = np.random.default_rng(seed)
    cols = np.empty((n_samples, k), np.int32)
    for s in range(0, n_samples, chunk):
        e = min(n_samples, s + chunk)
        cols[s:e] = np.argpartition(rng.random((e - s, n_latents), dtype=np.float32), k, axis=1)[:, :k]
    values = 1.0 - rng.random(n_samples * k, dtype=np.float32)
    X = sp.csr_matrix((values, cols.ravel(), np.arange(0, n_samples * k + 1, k)), shape=(n_samples, n_latents))
    X.sort_indices()
    return X


def _scipy_counts(X: sp.csr_matrix) -> np.ndarray:
    """The reference: binarise, X.T @ X with scipy.sparse, densify."""
    B = X.astype(bool).astype(np.int32)
    return (B.T @ B).toarray()


def _best_of(fn, repeats):
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def bench_cooccurrence(
    n_samples: int = 200_000, n_latents: int = 2048, k: int = 24, repeats: int = 3, seed: int = 0
) -> dict:
    """Pair counts of 200,000 samples × 2,048 latents with 24 active each: ours vs scipy.sparse XᵀX (binarised)."""
    X = k_active(n_samples, n_latents, k, seed)
    co.cooccurrence(X[:500])  # compile (or load the cache) outside the timing
    t_ours, ours = _best_of(lambda: co.cooccurrence(X), repeats)
    t_ref, ref = _best_of(lambda: _scipy_counts(X), repeats)
    return {
        "bench": "coactivation.cooccurrence",
        "device": "cpu",
        "config": {
            "n_samples": n_samples,
            "n_latents": n_latents,
            "k": k,
            "repeats": repeats,
            "seed": seed,
            "cpus": os.cpu_count(),
            "numba_threads": numba.get_num_threads(),
            "reference": "scipy.sparse: X.astype(bool).astype(int32); (X.T @ X).toarray()",
        },
        "ours": round(t_ours, 4),
        "reference": round(t_ref, 4),
        "unit": "s",
        "ratio": round(t_ref / t_ours, 2),
        "identical": bool(np.array_equal(ours, ref)),
    }


CASES = {"cooccurrence": bench_cooccurrence}


if __name__ == "__main__":
    run_cases(CASES, sys.argv[1:])
