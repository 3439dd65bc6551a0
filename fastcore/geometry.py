"""Geometry of feature directions: polytopes and ideal configurations.

W has shape (I, H, F): column W[i, :, f] is feature f's direction in instance i (as in ``toys.tms.metrics``, which
holds the feature dimensionality D_f = ‖W_f‖² / Σ_g (Ŵ_f · W_g)²).

- ``polytopes(W)``: the represented features of each instance split into mutually (near-)orthogonal groups,
  each named by (features k, dims d): digon (2, 1), triangle (3, 2), tetrahedron (4, 3), pentagon (5, 2),
  square antiprism (8, 3), dedicated (1, 1), else "k in d".
- ``thomson(n, dim)``: n unit vectors minimising the Coulomb energy Σ_{i<j} 1/‖x_i − x_j‖ (multi-start).
- ``min_coherence(n, dim)``: n lines minimising the largest |cos| between two of them, beside ``welch_bound``.

Public functions check and cast their inputs, then call private ``@njit`` kernels; only arrays and scalars cross.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from fastcore import checks
from fastcore.unionfind import find

# ------------------------------------------------------------------------------------------------ polytopes

POLYTOPE_NAMES = (
    "not represented",
    "dedicated",
    "digon",
    "triangle",
    "tetrahedron",
    "pentagon",
    "square antiprism",
    "other",
)
_NAMED = {(1, 1): 1, (2, 1): 2, (3, 2): 3, (4, 3): 4, (5, 2): 5, (8, 3): 6}  # (features, dims) -> code


class Polytopes(NamedTuple):
    """Per instance and feature (all (I, F)): which group the feature is in and what the group is.

    group: group id within the instance, numbered 0, 1, ... in order of each group's lowest feature index;
    -1 for a feature that is not represented. size: features in the group (k), 0 if not represented.
    rank: dimensions the group spans (d), 0 if not represented. code: index into ``POLYTOPE_NAMES``.
    label: the name, "k in d" for an unnamed (k, d).
    """

    group: np.ndarray
    size: np.ndarray
    rank: np.ndarray
    code: np.ndarray
    label: np.ndarray


@njit(cache=True, nogil=True)
def _polytopes_kernel(W, norm_threshold, ortho_tol, rank_tol):  # W: (I, H, F) -> 3 × (I, F) int64
    n_inst, _, n_feat = W.shape
    group = np.full((n_inst, n_feat), -1, np.int64)
    size = np.zeros((n_inst, n_feat), np.int64)
    rank = np.zeros((n_inst, n_feat), np.int64)
    for inst in range(n_inst):
        Wi = W[inst].astype(np.float64)  # (H, F)
        norms = np.sqrt((Wi * Wi).sum(axis=0))  # (F,)
        rep = np.flatnonzero(norms > norm_threshold)  # represented features, ascending
        k = rep.shape[0]
        if k == 0:
            continue
        U = np.empty((Wi.shape[0], k))  # (H, k) unit directions
        for a in range(k):
            U[:, a] = Wi[:, rep[a]] / norms[rep[a]]
        C = np.dot(U.T, U)  # (k, k) cosines
        parent = np.arange(k)
        for a in range(k):
            for b in range(a + 1, k):
                if abs(C[a, b]) > ortho_tol:
                    ra, rb = find(parent, a), find(parent, b)
                    if ra != rb:
                        parent[max(ra, rb)] = min(ra, rb)
        root_id = np.full(k, -1, np.int64)
        members = np.empty(k, np.int64)
        n_groups = 0
        for a in range(k):  # ascending order: a group's id follows its lowest member
            r = find(parent, a)
            if root_id[r] < 0:
                root_id[r] = n_groups
                n_groups += 1
            group[inst, rep[a]] = root_id[r]
        for gid in range(n_groups):
            m = 0
            for a in range(k):
                if group[inst, rep[a]] == gid:
                    members[m] = a
                    m += 1
            sub = np.empty((m, m))
            for p in range(m):
                for q in range(m):
                    sub[p, q] = C[members[p], members[q]]
            ev = np.linalg.eigvalsh(sub)  # squared singular values of the group's unit directions
            top = ev.max()
            d = 0
            for e in ev:
                if e > rank_tol * rank_tol * top:
                    d += 1
            for p in range(m):
                size[inst, rep[members[p]]] = m
                rank[inst, rep[members[p]]] = d
    return group, size, rank


def polytope_code(size, rank) -> np.ndarray:
    """Index into ``POLYTOPE_NAMES`` for groups of ``size`` features spanning ``rank`` dims (arrays or ints)."""
    size, rank = np.asarray(size), np.asarray(rank)
    code = np.where(size > 0, len(POLYTOPE_NAMES) - 1, 0)
    for (k, d), c in _NAMED.items():
        code = np.where((size == k) & (rank == d), c, code)
    return code


def polytope_name(code) -> np.ndarray:
    """The names in ``POLYTOPE_NAMES`` of polytope codes (an array of any shape, or an int). -> object array"""
    return np.array(POLYTOPE_NAMES, dtype=object)[np.asarray(code)]


def polytopes(W, norm_threshold: float = 0.5, ortho_tol: float = 0.1, rank_tol: float = 0.25) -> Polytopes:
    """Split each instance's represented features into mutually (near-)orthogonal groups and name each group.

    A feature is represented when ‖W_f‖ > ``norm_threshold``. Two represented features are linked when
    |cos| > ``ortho_tol``; a group is a connected component of that graph, so features in different groups are
    (near-)orthogonal. A group's rank is the number of singular values of its unit directions above
    ``rank_tol`` × the largest. Names go by (k, d) alone: any 5 features spanning 2 dims are a "pentagon".
    W: (I, H, F). Returns ``Polytopes`` of (I, F) arrays.
    """
    W = checks.array(W, "W", ("instances", "hidden", "features"))
    norm_threshold = checks.real(norm_threshold, "norm_threshold", 0.0)
    ortho_tol = checks.real(ortho_tol, "ortho_tol", 0.0, 1.0)
    rank_tol = checks.real(rank_tol, "rank_tol", 0.0, 1.0)
    n_inst, _, n_feat = W.shape
    if W.shape[1] == 0 or n_feat == 0:
        empty = np.zeros((n_inst, n_feat), np.int64)
        group, size, rank = empty - 1, empty, empty.copy()
    else:
        group, size, rank = _polytopes_kernel(W, norm_threshold, ortho_tol, rank_tol)
    code = polytope_code(size, rank)
    label = polytope_name(code)
    other = code == len(POLYTOPE_NAMES) - 1
    label[other] = [f"{k} in {d}" for k, d in zip(size[other], rank[other])]
    return Polytopes(group, size, rank, code, label)


# ---------------------------------------------------------------------------------- descent on the sphere


def random_starts(n: int, dim: int, restarts: int, seed: int) -> np.ndarray:
    """The starting configurations ``thomson`` and ``min_coherence`` use: uniform unit vectors.

    -> (restarts, n, dim) float64, reproducible from ``seed``.
    """
    n, dim = checks.count(n, "n", 0), checks.count(dim, "dim", 1)
    restarts, seed = checks.count(restarts, "restarts", 0), checks.count(seed, "seed", 0)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((restarts, n, dim))
    return x / np.linalg.norm(x, axis=2, keepdims=True)


@njit(cache=True, nogil=True)
def _tangent(g, x):  # project each row of g onto the tangent space at the unit row of x, in place
    for i in range(x.shape[0]):
        dot = 0.0
        for k in range(x.shape[1]):
            dot += g[i, k] * x[i, k]
        for k in range(x.shape[1]):
            g[i, k] -= dot * x[i, k]


@njit(cache=True, nogil=True)
def _retract(x, step, g, out):  # out_i = normalise(x_i − step g_i)
    for i in range(x.shape[0]):
        nrm = 0.0
        for k in range(x.shape[1]):
            v = x[i, k] - step * g[i, k]
            out[i, k] = v
            nrm += v * v
        nrm = math.sqrt(nrm)
        for k in range(x.shape[1]):
            out[i, k] /= nrm


@njit(cache=True, nogil=True)
def _max_row_norm(g):
    best = 0.0
    for i in range(g.shape[0]):
        s = 0.0
        for k in range(g.shape[1]):
            s += g[i, k] * g[i, k]
        best = max(best, s)
    return math.sqrt(best)


@njit(cache=True, nogil=True)
def _bb_step(x, xn, g, gn, step):  # Barzilai–Borwein step from the last move, kept within [1e-12, 1e3]
    sy = 0.0
    ss = 0.0
    for i in range(x.shape[0]):
        for k in range(x.shape[1]):
            s = xn[i, k] - x[i, k]
            ss += s * s
            sy += s * (gn[i, k] - g[i, k])
    if sy <= 0.0:
        return min(2.0 * step, 1e3)
    return min(max(ss / sy, 1e-12), 1e3)


@njit(cache=True, nogil=True)
def _coulomb(x, g):  # x: (n, dim) unit rows -> energy; g <- Euclidean gradient (n, dim)
    n, dim = x.shape
    g[:] = 0.0
    energy = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            r2 = 0.0
            for k in range(dim):
                d = x[i, k] - x[j, k]
                r2 += d * d
            inv = 1.0 / math.sqrt(r2)
            energy += inv
            inv3 = inv * inv * inv
            for k in range(dim):
                f = (x[i, k] - x[j, k]) * inv3
                g[i, k] -= f
                g[j, k] += f
    return energy


@njit(cache=True, nogil=True)
def _pnorm(x, p, g):  # x: (n, dim) unit rows -> (‖c‖_p over pairs i<j, max |c|); g <- Euclidean gradient
    n, dim = x.shape
    C = np.dot(x, x.T)
    cmax = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            cmax = max(cmax, abs(C[i, j]))
    g[:] = 0.0
    if cmax == 0.0:
        return 0.0, 0.0
    total = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            total += (abs(C[i, j]) / cmax) ** p
    scale = total ** (1.0 / p - 1.0)
    for i in range(n):
        for j in range(i + 1, n):
            r = abs(C[i, j]) / cmax
            w = scale * r ** (p - 1.0) * (1.0 if C[i, j] >= 0.0 else -1.0)
            for k in range(dim):
                g[i, k] += w * x[j, k]
                g[j, k] += w * x[i, k]
    return cmax * total ** (1.0 / p), cmax


@njit(cache=True, nogil=True)
def _excess(x, tau, g):  # x: (n, dim) unit rows -> (Σ_{i<j} max(0, |c_ij| − τ)², max |c|); g <- Euclidean gradient
    n, dim = x.shape
    C = np.dot(x, x.T)
    g[:] = 0.0
    total = 0.0
    cmax = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            c = C[i, j]
            cmax = max(cmax, abs(c))
            over = abs(c) - tau
            if over > 0.0:
                total += over * over
                w = 2.0 * over * (1.0 if c >= 0.0 else -1.0)
                for k in range(dim):
                    g[i, k] += w * x[j, k]
                    g[j, k] += w * x[i, k]
    return total, cmax


_COULOMB = 0
_PNORM = 1
_EXCESS = 2


@njit(cache=True, nogil=True)
def _objective(kind, p, x, g):  # -> (value to descend, score to keep the best by); g <- Euclidean gradient
    if kind == _COULOMB:
        energy = _coulomb(x, g)
        return energy, energy
    if kind == _PNORM:
        return _pnorm(x, p, g)
    return _excess(x, p, g)


@njit(cache=True, nogil=True)
def _descend_bb(x, kind, p, max_iter, gtol, best, best_score):
    # Riemannian gradient descent on the product of unit spheres: Barzilai–Borwein steps, accepted by a
    # non-monotone Armijo test over the last 10 values (with a few ulps of slack, so that rounding near the
    # minimum cannot stall it), until the largest tangential gradient is below gtol. best <- the iterate with
    # the lowest score seen (starting from best_score); returns that score.
    n, dim = x.shape
    g = np.empty((n, dim))
    xn = np.empty((n, dim))
    gn = np.empty((n, dim))
    value, score = _objective(kind, p, x, g)
    if score < best_score:
        best_score = score
        best[:] = x
    _tangent(g, x)
    history = np.full(10, value)
    step = 0.1 / n
    for it in range(max_iter):
        if _max_row_norm(g) < gtol:
            break
        gg = np.sum(g * g)
        ref = history.max()
        accepted = False
        while step > 1e-14:
            _retract(x, step, g, xn)
            vn, sn = _objective(kind, p, xn, gn)
            if vn <= ref - 1e-4 * step * gg + 1e-15 * abs(ref):
                accepted = True
                break
            step *= 0.5
        if not accepted:
            break
        _tangent(gn, xn)
        step = _bb_step(x, xn, g, gn, step)
        x[:] = xn
        g[:] = gn
        history[it % 10] = vn
        if sn < best_score:
            best_score = sn
            best[:] = x
    return best_score


@njit(cache=True, nogil=True)
def _inner(a, b):
    total = 0.0
    for i in range(a.shape[0]):
        for k in range(a.shape[1]):
            total += a[i, k] * b[i, k]
    return total


@njit(cache=True, nogil=True)
def _axpy(a, u, v):  # v += a u
    for i in range(u.shape[0]):
        for k in range(u.shape[1]):
            v[i, k] += a * u[i, k]


@njit(cache=True, nogil=True)
def _descend_lbfgs(x, kind, p, max_iter, gtol, best, best_score, memory):
    # Riemannian L-BFGS on the product of unit spheres: the two-loop recursion over the last `memory` steps and
    # gradient changes (both projected onto the current tangent space), rows renormalised after each step, Armijo
    # backtracking from step 1 (with a few ulps of slack, so that rounding near the minimum cannot stall it),
    # until the largest tangential gradient is below gtol·|value|/n (relative: for the Coulomb energy, |value|/n
    # is the scale of one point's force). Steepest descent when the memory is empty or its
    # direction does not descend. best <- the iterate with the lowest score seen (starting from best_score);
    # returns that score.
    n, dim = x.shape
    g = np.empty((n, dim))
    xn = np.empty((n, dim))
    gn = np.empty((n, dim))
    d = np.empty((n, dim))
    S = np.zeros((memory, n, dim))
    Y = np.zeros((memory, n, dim))
    rho = np.zeros(memory)
    alpha = np.zeros(memory)
    stored = 0
    newest = -1
    value, score = _objective(kind, p, x, g)
    if score < best_score:
        best_score = score
        best[:] = x
    _tangent(g, x)
    for _ in range(max_iter):
        gmax = _max_row_norm(g)
        if gmax < gtol * abs(value) / n:
            break
        # two-loop recursion over the stored pairs, then back onto the tangent space at x
        d[:] = g
        for m in range(stored):
            q = (newest - m) % memory
            alpha[q] = rho[q] * _inner(S[q], d)
            _axpy(-alpha[q], Y[q], d)
        if stored > 0:
            d *= 1.0 / (rho[newest] * _inner(Y[newest], Y[newest]))
        for m in range(stored - 1, -1, -1):
            q = (newest - m) % memory
            beta = rho[q] * _inner(Y[q], d)
            _axpy(alpha[q] - beta, S[q], d)
        _tangent(d, x)
        slope = -_inner(d, g)
        if stored == 0 or slope >= 0.0:
            d[:] = g
            slope = -_inner(g, g)
            stored = 0
            step = min(1.0, 0.1 / gmax)
        else:
            step = 1.0
        accepted = False
        while step > 1e-14:
            _retract(x, step, d, xn)
            vn, sn = _objective(kind, p, xn, gn)
            if vn <= value + 1e-4 * step * slope + 1e-15 * abs(value):
                accepted = True
                break
            step *= 0.5
        if not accepted:
            if stored == 0:
                break
            stored = 0
            continue
        _tangent(gn, xn)
        newest = (newest + 1) % memory
        S[newest] = xn
        _axpy(-1.0, x, S[newest])
        Y[newest] = gn
        _axpy(-1.0, g, Y[newest])
        _tangent(S[newest], xn)
        _tangent(Y[newest], xn)
        sy = _inner(S[newest], Y[newest])
        if sy > 1e-300:
            rho[newest] = 1.0 / sy
            stored = min(stored + 1, memory)
        else:
            newest = (newest - 1) % memory
        x[:] = xn
        g[:] = gn
        value = vn
        if sn < best_score:
            best_score = sn
            best[:] = x
    return best_score


# ------------------------------------------------------------------------------------------------- thomson


@njit(cache=True, nogil=True, parallel=True)
def _thomson_kernel(starts, max_iter, gtol):  # starts: (R, n, dim) -> (R, n, dim), (R,)
    n_starts = starts.shape[0]
    points = starts.copy()
    energies = np.empty(n_starts)
    for r in prange(n_starts):
        x = starts[r].copy()
        energies[r] = _descend_lbfgs(x, _COULOMB, 1.0, max_iter, gtol, points[r], np.inf, 8)
    return points, energies


def coulomb_energy(points) -> float:
    """Σ_{i<j} 1/‖x_i − x_j‖ over the rows of ``points`` (n, dim), as given (not normalised)."""
    x = checks.array(points, "points", ("n", "dim"), dtype=np.float64)
    return float(_coulomb(x, np.empty_like(x)))


def thomson(
    n: int, dim: int = 3, restarts: int = 16, seed: int = 0, max_iter: int = 20_000, gtol: float = 1e-8
) -> tuple[np.ndarray, float]:
    """n unit vectors in ``dim`` dimensions with the lowest Coulomb energy Σ_{i<j} 1/‖x_i − x_j‖ found.

    Runs Riemannian L-BFGS (memory 8, Armijo backtracking) on the sphere from ``restarts`` random starts
    (``random_starts``), in parallel, until the largest tangential force is below ``gtol`` × energy / n or after
    ``max_iter`` iterations; keeps the best. -> (points (n, dim) float64 unit rows, energy).
    """
    n, dim = checks.count(n, "n", 1), checks.count(dim, "dim", 2)
    restarts, seed = checks.count(restarts, "restarts", 1), checks.count(seed, "seed", 0)
    max_iter, gtol = checks.count(max_iter, "max_iter", 0), checks.real(gtol, "gtol", 0.0)
    starts = random_starts(n, dim, restarts, seed)
    if n == 1:
        return starts[0], 0.0
    points, energies = _thomson_kernel(starts, max_iter, gtol)
    best = int(np.argmin(energies))
    return points[best], float(energies[best])


# ------------------------------------------------------------------------------------------- min coherence


def welch_bound(n: int, dim: int) -> float:
    """Lower bound on the largest |cos| between n lines in ``dim`` dimensions: √((n−d)/(d(n−1))), 0 if n ≤ d."""
    n, dim = checks.count(n, "n", 1), checks.count(dim, "dim", 1)
    return 0.0 if n <= dim else math.sqrt((n - dim) / (dim * (n - 1)))


@njit(cache=True, nogil=True)
def _coherence(x):  # largest |cos| between distinct unit rows
    n = x.shape[0]
    best = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            c = 0.0
            for k in range(x.shape[1]):
                c += x[i, k] * x[j, k]
            best = max(best, abs(c))
    return best


@njit(cache=True, nogil=True)
def _refine_coherence(best, score, lower, max_iter, gtol, rounds):
    # Bisection on a target τ between a lower bound and the best coherence so far: descend the excess
    # Σ max(0, |c| − τ)² from the best vectors; where that brings the coherence at least halfway down to τ the
    # target counts as reachable, otherwise τ becomes the new lower end. best <- the best vectors seen.
    x = best.copy()
    for _ in range(rounds):
        if score - lower <= 1e-12:
            break
        tau = 0.5 * (lower + score)
        x[:] = best
        before = score
        score = _descend_bb(x, _EXCESS, tau, max_iter, gtol, best, score)
        if score > 0.5 * (before + tau):
            lower = tau
    return score


@njit(cache=True, nogil=True, parallel=True)
def _min_coherence_kernel(starts, powers, lower, max_iter, gtol, rounds):  # (R, n, dim) -> (R, n, dim), (R,)
    n_starts = starts.shape[0]
    vectors = starts.copy()
    coherence = np.empty(n_starts)
    for r in prange(n_starts):
        # two descents per start, the better kept: p-norm continuation then refinement, and refinement alone
        # (each finds minima the other misses, e.g. 12 lines in R⁵ for the first and 8 lines in R³ for the second)
        x = starts[r].copy()
        score = np.inf
        for p in powers:  # continuation: the p-norm tends to the maximum as p grows
            score = _descend_bb(x, _PNORM, p, max_iter, gtol, vectors[r], score)
        score = _refine_coherence(vectors[r], score, lower, max_iter, gtol, rounds)
        direct = starts[r].copy()
        if _refine_coherence(direct, _coherence(direct), lower, max_iter, gtol, rounds) < score:
            vectors[r] = direct
        coherence[r] = _coherence(vectors[r])
    return vectors, coherence


def coherence(X) -> float:
    """Largest |cos| between two distinct rows of X (n, d); rows are normalised here (zero rows not allowed)."""
    x = checks.array(X, "X", ("n", "d")).astype(np.float64)
    norms = np.linalg.norm(x, axis=1)
    if np.any(norms == 0):
        raise ValueError("X has a zero row: its direction is undefined")
    return float(_coherence(x / norms[:, None]))


def min_coherence(
    n: int, dim: int, restarts: int = 16, seed: int = 0, max_iter: int = 2_000, gtol: float = 1e-12
) -> tuple[np.ndarray, float]:
    """n unit vectors in ``dim`` dimensions whose largest |cos| (coherence) is as small as found.

    From each of ``restarts`` random starts: Riemannian gradient descent on the p-norm of the |cos| over pairs
    for p = 4, 8, ..., 2048 in turn (a smooth surrogate of the maximum), then a refinement that bisects on a
    target τ, descending Σ max(0, |cos| − τ)²; the refinement also runs from the start itself. The vectors with
    the lowest coherence seen are kept. n ≤ dim returns an orthonormal set (coherence 0). Compare with
    ``welch_bound(n, dim)``, which no result beats and which it meets where an equiangular tight frame exists.
    -> (vectors (n, dim) float64 unit rows, coherence).
    """
    n, dim = checks.count(n, "n", 1), checks.count(dim, "dim", 1)
    restarts, seed = checks.count(restarts, "restarts", 1), checks.count(seed, "seed", 0)
    max_iter, gtol = checks.count(max_iter, "max_iter", 0), checks.real(gtol, "gtol", 0.0)
    if n <= dim:
        q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, n)))
        return np.ascontiguousarray(q.T), 0.0
    starts = random_starts(n, dim, restarts, seed)
    powers = 2.0 ** np.arange(2, 12)
    vectors, coh = _min_coherence_kernel(starts, powers, welch_bound(n, dim), max_iter, gtol, 40)
    best = int(np.argmin(coh))
    return vectors[best], float(coh[best])
