"""Co-activation of latents: how often every pair fires together, and similarities derived from the counts.

- ``cooccurrence(X)``: X (samples × latents) scipy.sparse (any format) or dense; an entry that is nonzero means the
  latent fired. -> C (latents, latents) int64 with C[i, j] = samples where i and j both fired, C[i, i] = samples
  where i fired. The same numbers as the binarised ``X.T @ X``.
- ``similarity(C, n_samples, kind)``: Jaccard, PMI, normalised PMI or phi coefficient from the counts.

Counting enumerates the pairs of every sample's active set (k active -> k(k+1)/2 increments) straight into a dense
matrix. Threads own stripes of the matrix's rows, balanced by their number of pairs, so no two threads write the
same cell and no per-thread copies are needed.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import scipy.sparse as sp
from numba import njit, prange

from fastcore import checks

KINDS = ("jaccard", "pmi", "npmi", "phi")
_JACCARD, _PMI, _NPMI, _PHI = range(4)
_STRIPES_PER_THREAD = 2
_INT32_MAX = 2**31 - 1

# ----------------------------------------------------------------------------------------------- input checks


def _binary_csr(X) -> sp.csr_matrix:
    """X as canonical CSR (sorted indices, no duplicates, no stored zeros)."""
    if not sp.issparse(X):
        X = np.asarray(X)
    checks.dims(X, "X", ("samples", "latents"))
    checks.numeric(X, "X", boolean=True)
    if sp.issparse(X):
        X = sp.csr_matrix(X)  # shares data with a CSR input: copied below before any change
        if not X.has_canonical_format:
            X = X.copy()
            X.sum_duplicates()
        if X.nnz and not np.all(X.data != 0):
            X = X.copy()
            X.eliminate_zeros()
    else:
        X = sp.csr_matrix(X != 0)
    if X.nnz and X.dtype != np.bool_:
        checks.finite(X.data, "X")
    return X


# --------------------------------------------------------------------------------------------------- counting


@njit(cache=True, nogil=True)
def _stripes(indptr, indices, n_latents, n_stripes):  # -> (n_stripes + 1,) row bounds with equal pair counts
    work = np.zeros(n_latents, np.int64)
    for r in range(indptr.shape[0] - 1):
        e = indptr[r + 1]
        for p in range(indptr[r], e):
            work[indices[p]] += e - p  # pairs (i, j ≥ i) of this sample that latent i's row receives
    total = work.sum()
    bounds = np.empty(n_stripes + 1, np.int64)
    bounds[0] = 0
    s, acc = 1, 0
    for i in range(n_latents):
        acc += work[i]
        while s < n_stripes and acc * n_stripes >= s * total:
            bounds[s] = i + 1
            s += 1
    while s <= n_stripes:
        bounds[s] = n_latents
        s += 1
    bounds[n_stripes] = n_latents
    return bounds


@njit(cache=True, parallel=True)
def _upper_counts_kernel(indptr, indices, bounds, n_latents):  # -> (L, L) int32, upper triangle with diagonal
    C = np.zeros((n_latents, n_latents), np.int32)
    n_rows = indptr.shape[0] - 1
    for t in prange(bounds.shape[0] - 1):
        lo, hi = bounds[t], bounds[t + 1]
        if lo == hi:
            continue
        for r in range(n_rows):
            e = indptr[r + 1]
            for p in range(indptr[r], e):
                i = indices[p]
                if i < lo:
                    continue
                if i >= hi:
                    break
                row = C[i]
                for q in range(p, e):  # q = p is the diagonal
                    row[indices[q]] += 1
    return C


@njit(cache=True, parallel=True)
def _symmetrize_kernel(C, block):  # upper-triangular int32 (L, L) -> full int64 (L, L)
    n = C.shape[0]
    out = np.empty((n, n), np.int64)
    n_blocks = (n + block - 1) // block
    for bi in prange(n_blocks):
        i0, i1 = bi * block, min(n, (bi + 1) * block)
        for bj in range(n_blocks):
            j0, j1 = bj * block, min(n, (bj + 1) * block)
            for i in range(i0, i1):
                for j in range(j0, j1):
                    out[i, j] = C[i, j] if i <= j else C[j, i]
    return out


def cooccurrence(X) -> np.ndarray:
    """Pair counts of firing latents: C[i, j] = number of samples (rows of X) where latents i and j both fired.

    X: (samples, latents) scipy.sparse matrix (CSR preferred; any format is converted) or dense array; a nonzero
    entry means "fired". -> (latents, latents) int64, symmetric, diagonal = firing counts. Identical to the
    binarised ``X.T @ X``.
    """
    X = _binary_csr(X)
    n_samples, n_latents = X.shape
    if n_samples > _INT32_MAX:
        raise ValueError(f"X has {n_samples:,} samples; at most {_INT32_MAX:,} can be counted at once")
    if n_latents == 0 or X.nnz == 0:
        return np.zeros((n_latents, n_latents), np.int64)
    indptr = np.ascontiguousarray(X.indptr, dtype=np.int64)
    indices = np.ascontiguousarray(X.indices, dtype=np.int64)
    n_stripes = max(1, min(n_latents, _STRIPES_PER_THREAD * numba.get_num_threads()))
    bounds = _stripes(indptr, indices, n_latents, n_stripes)
    return _symmetrize_kernel(_upper_counts_kernel(indptr, indices, bounds, n_latents), 64)


# ------------------------------------------------------------------------------------------------ similarities


@njit(cache=True, parallel=True)
def _similarity_kernel(C, n, kind):  # C: (L, L) int64 counts, n samples -> (L, L) float64
    L = C.shape[0]
    out = np.zeros((L, L))
    for i in prange(L):
        ni = float(C[i, i])
        for j in range(L):
            nj = float(C[j, j])
            c = float(C[i, j])
            if kind == _JACCARD:
                den = ni + nj - c
                out[i, j] = c / den if den > 0 else 0.0
            elif kind == _PHI:
                den = ni * (n - ni) * nj * (n - nj)
                out[i, j] = (n * c - ni * nj) / math.sqrt(den) if den > 0 else 0.0
            elif ni == 0 or nj == 0:
                out[i, j] = np.nan if kind == _PMI else 0.0
            elif kind == _PMI:
                out[i, j] = math.log(c * n / (ni * nj)) if c > 0 else -np.inf
            else:  # NPMI = PMI / −log p(i, j), in [−1, 1]
                if c == 0:
                    out[i, j] = -1.0
                elif c == n:
                    out[i, j] = 1.0
                else:
                    out[i, j] = math.log(c * n / (ni * nj)) / -math.log(c / n)
    return out


def similarity(C, n_samples: int, kind: str = "jaccard") -> np.ndarray:
    """Similarity of every pair of latents from co-occurrence counts ``C`` (as ``cooccurrence``) over ``n_samples``.

    jaccard: c_ij / (n_i + n_j − c_ij), 0 when neither fired.
    pmi:     log(c_ij n / (n_i n_j)); −inf for pairs never together, NaN where a latent never fired.
    npmi:    pmi / −log(c_ij / n) in [−1, 1]; −1 for pairs never together, 1 when both fire on every sample,
             0 where a latent never fired.
    phi:     (n c_ij − n_i n_j) / √(n_i (n − n_i) n_j (n − n_j)), the correlation of the two firing indicators;
             0 where a latent fires never or always.
    -> (L, L) float64.
    """
    kind = checks.choice(kind, "kind", KINDS)
    n_samples = checks.count(n_samples, "n_samples", 0)
    C = np.asarray(C)
    checks.square(C, "C", "(latents, latents) count matrix")
    if not np.issubdtype(C.dtype, np.integer):
        raise ValueError(f"C must hold integer counts, got dtype {C.dtype}")
    C = np.ascontiguousarray(C, dtype=np.int64)
    if C.size and (C.min() < 0 or C.max() > n_samples):
        raise ValueError(f"C must hold counts in [0, n_samples={n_samples}], got [{C.min()}, {C.max()}]")
    if C.size == 0:
        return np.zeros(C.shape)
    return _similarity_kernel(C, float(n_samples), kind)
