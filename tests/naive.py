"""Slow, obvious numpy/scipy twins of the fastcore kernels and of toys.tms.metrics.feature_dimensionality. Written for
clarity, not speed; tests compare with them."""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import minimize
from scipy.sparse.csgraph import connected_components

# ----------------------------------------------------------------------------------------------- geometry


def dimensionality(W: np.ndarray) -> np.ndarray:
    """D_f = ‖W_f‖² / Σ_g (Ŵ_f · W_g)², one feature at a time; 0 where ‖W_f‖ ≤ 1e-12. (I, H, F) -> (I, F)"""
    W = np.asarray(W, dtype=np.float64)
    n_inst, _, n_feat = W.shape
    out = np.zeros((n_inst, n_feat))
    for i in range(n_inst):
        for f in range(n_feat):
            norm = np.linalg.norm(W[i, :, f])
            if norm <= 1e-12:
                continue
            unit = W[i, :, f] / norm
            out[i, f] = norm**2 / sum(float(unit @ W[i, :, g]) ** 2 for g in range(n_feat))
    return out


def polytopes(W: np.ndarray, norm_threshold=0.5, ortho_tol=0.1, rank_tol=0.25):
    """(group, size, rank) per instance and feature: components of the |cos| > ortho_tol graph, by scipy."""
    W = np.asarray(W, dtype=np.float64)
    n_inst, _, n_feat = W.shape
    group = np.full((n_inst, n_feat), -1)
    size = np.zeros((n_inst, n_feat), int)
    rank = np.zeros((n_inst, n_feat), int)
    for i in range(n_inst):
        norms = np.linalg.norm(W[i], axis=0)
        rep = np.flatnonzero(norms > norm_threshold)
        if rep.size == 0:
            continue
        U = W[i][:, rep] / norms[rep]
        _, comp = connected_components(np.abs(U.T @ U) > ortho_tol, directed=False)
        order = {c: k for k, c in enumerate(dict.fromkeys(comp))}  # numbered by first appearance (lowest feature)
        for c, gid in order.items():
            members = rep[comp == c]
            sv = np.linalg.svd(U[:, comp == c], compute_uv=False)
            group[i, members] = gid
            size[i, members] = len(members)
            rank[i, members] = int(np.sum(sv > rank_tol * sv.max()))
    return group, size, rank


def coulomb_energy(points: np.ndarray) -> float:
    """Σ over every pair of 1/distance."""
    return sum(1.0 / np.linalg.norm(a - b) for a, b in itertools.combinations(np.asarray(points, float), 2))


def _energy_and_grad_normalised(flat, n, dim):
    """Coulomb energy of the normalised rows of flat.reshape(n, dim), and its gradient in flat (chain rule)."""
    y = flat.reshape(n, dim)
    r = np.linalg.norm(y, axis=1, keepdims=True)
    x = y / r
    diff = x[:, None, :] - x[None, :, :]
    dist = np.linalg.norm(diff, axis=2)
    np.fill_diagonal(dist, np.inf)
    energy = 0.5 * np.sum(1.0 / dist)
    gx = -np.sum(diff / dist[:, :, None] ** 3, axis=1)  # dE/dx_i
    gy = (gx - np.sum(gx * x, axis=1, keepdims=True) * x) / r  # through x = y/|y|
    return energy, gy.ravel()


def thomson_lbfgs(starts: np.ndarray) -> tuple[np.ndarray, float]:
    """scipy L-BFGS-B from every start (restarts, n, dim) on E(y/|y|), best kept. -> (points, energy)"""
    _, n, dim = starts.shape
    best_x, best_e = None, np.inf
    for start in starts:
        res = minimize(
            _energy_and_grad_normalised,
            start.ravel(),
            args=(n, dim),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 10_000, "ftol": 1e-15, "gtol": 1e-10},
        )
        y = res.x.reshape(n, dim)
        x = y / np.linalg.norm(y, axis=1, keepdims=True)
        e = coulomb_energy(x)
        if e < best_e:
            best_x, best_e = x, e
    return best_x, best_e


def coherence(X: np.ndarray) -> float:
    """Largest |cos| over every pair of distinct rows."""
    X = np.asarray(X, float)
    return max(
        (abs(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b)) for a, b in itertools.combinations(X, 2)), default=0.0
    )


def min_coherence_slsqp(starts: np.ndarray) -> tuple[np.ndarray, float]:
    """The minimax problem as written, min t s.t. −t ≤ x_i·x_j ≤ t and ‖x_i‖ = 1, by SLSQP from every start."""
    _, n, dim = starts.shape
    pairs = list(itertools.combinations(range(n), 2))

    def unpack(z):
        return z[:-1].reshape(n, dim), z[-1]

    def ineq(z):
        x, t = unpack(z)
        dots = np.array([x[i] @ x[j] for i, j in pairs])
        return np.concatenate([t - dots, t + dots])

    def eq(z):
        x, _ = unpack(z)
        return np.sum(x * x, axis=1) - 1.0

    best_x, best_c = None, np.inf
    for start in starts:
        z0 = np.concatenate([start.ravel(), [coherence(start)]])
        res = minimize(
            lambda z: z[-1],
            z0,
            method="SLSQP",
            constraints=[{"type": "ineq", "fun": ineq}, {"type": "eq", "fun": eq}],
            options={"maxiter": 1000, "ftol": 1e-12},
        )
        x, _ = unpack(res.x)
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        c = coherence(x)
        if c < best_c:
            best_x, best_c = x, c
    return best_x, best_c


# ---------------------------------------------------------------------------------------------- co-activation


def cooccurrence(X) -> np.ndarray:
    """C[i, j] = samples where latents i and j are both nonzero: the binarised dense XᵀX."""
    import scipy.sparse as sp

    B = (X.toarray() if sp.issparse(X) else np.asarray(X)) != 0
    return B.T.astype(np.int64) @ B.astype(np.int64)


def similarity(C: np.ndarray, n: int, kind: str) -> np.ndarray:
    """Jaccard / PMI / NPMI / phi one pair at a time, straight from the definitions (see fastcore.coactivation)."""
    L = C.shape[0]
    out = np.zeros((L, L))
    for i in range(L):
        for j in range(L):
            c, ni, nj = float(C[i, j]), float(C[i, i]), float(C[j, j])
            if kind == "jaccard":
                union = ni + nj - c
                out[i, j] = c / union if union else 0.0
            elif kind == "phi":
                var = ni * (n - ni) * nj * (n - nj)
                out[i, j] = (c / n - (ni / n) * (nj / n)) / np.sqrt(var / n**4) if var else 0.0
            elif ni == 0 or nj == 0:
                out[i, j] = np.nan if kind == "pmi" else 0.0
            else:
                pij, pi, pj = c / n, ni / n, nj / n
                pmi = np.log(pij / (pi * pj)) if pij else -np.inf
                if kind == "pmi":
                    out[i, j] = pmi
                else:
                    out[i, j] = -1.0 if pij == 0 else (1.0 if pij == 1 else pmi / -np.log(pij))
    return out


# ------------------------------------------------------------------------------------------------- clustering


def _first_appearance(labels) -> np.ndarray:
    order = {c: k for k, c in enumerate(dict.fromkeys(np.asarray(labels).tolist()))}
    return np.array([order[c] for c in np.asarray(labels).tolist()], dtype=np.int64)


def threshold_components(S: np.ndarray, t: float) -> np.ndarray:
    """scipy's connected components of S > t off the diagonal, numbered by lowest member."""
    A = np.asarray(S) > t
    np.fill_diagonal(A, False)
    return _first_appearance(connected_components(A, directed=False)[1])


def components_by_size(S: np.ndarray, max_size: int) -> tuple[np.ndarray, float]:
    """Try every candidate threshold from the lowest up; keep the first whose largest component fits."""
    n = len(S)
    values = np.unique(S[np.triu_indices(n, 1)])
    for t in np.concatenate([[values[0] - 1.0], values]):
        labels = threshold_components(S, t)
        if np.bincount(labels).max() <= max_size:
            return labels, float(t)
    raise AssertionError("the highest threshold leaves only singletons")


def _upgma(D: np.ndarray, n_clusters: int) -> tuple[list[list[int]], list[float]]:
    """UPGMA by brute force: merge the two clusters with the least mean leaf-to-leaf distance until
    ``n_clusters`` remain. -> (clusters, merge heights)"""
    D = np.asarray(D, dtype=np.float64)
    clusters = [[i] for i in range(len(D))]
    heights = []
    while len(clusters) > n_clusters:
        best = (np.inf, 0, 0)
        for p in range(len(clusters)):
            for q in range(p + 1, len(clusters)):
                d = D[np.ix_(clusters[p], clusters[q])].mean()
                if d < best[0]:
                    best = (d, p, q)
        d, p, q = best
        heights.append(d)
        clusters[p] = clusters[p] + clusters[q]
        del clusters[q]
    return clusters, heights


def average_linkage_heights(D: np.ndarray) -> np.ndarray:
    """UPGMA by brute force: the n − 1 merge heights."""
    return np.array(_upgma(D, 1)[1])


def average_linkage_labels(D: np.ndarray, n_clusters: int) -> np.ndarray:
    """UPGMA by brute force, stopped at n_clusters; labels numbered by lowest member."""
    clusters, _ = _upgma(D, n_clusters)
    labels = np.empty(len(D), np.int64)
    for k, members in enumerate(clusters):
        labels[members] = k
    return _first_appearance(labels)
