"""Clustering of latents from a similarity or distance matrix: thresholded components and average linkage.

- ``threshold_components(S, t)``: connected components of the graph with an edge wherever S[i, j] > t (i ≠ j).
- ``components_by_size(S, max_size)``: the same, with t found by bisection: the lowest t whose largest component
  has at most ``max_size`` members.
- ``average_linkage(D)``: the merges of agglomerative clustering with average (UPGMA) linkage on distances D, by
  the nearest-neighbour chain algorithm in O(n²) time; ``cut(merges, n, ...)`` turns them into labels.

Labels are numbered 0, 1, ... in order of each cluster's lowest member. Public functions check and cast their
inputs, then call private ``@njit`` kernels.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from fastcore import checks
from fastcore.unionfind import find

# ------------------------------------------------------------------------------------------------- union-find


@njit(cache=True, nogil=True)
def _union(parent, size, a, b):
    ra, rb = find(parent, a), find(parent, b)
    if ra == rb:
        return size[ra]
    if ra > rb:
        ra, rb = rb, ra
    parent[rb] = ra
    size[ra] += size[rb]
    return size[ra]


@njit(cache=True, nogil=True)
def _labels(parent):  # root per element -> labels numbered by lowest member
    n = parent.shape[0]
    root_id = np.full(n, -1, np.int64)
    labels = np.empty(n, np.int64)
    k = 0
    for a in range(n):
        r = find(parent, a)
        if root_id[r] < 0:
            root_id[r] = k
            k += 1
        labels[a] = root_id[r]
    return labels


# ---------------------------------------------------------------------------------------- thresholded components


@njit(cache=True, nogil=True)
def _components(S, t):  # -> (parent, largest component size)
    n = S.shape[0]
    parent = np.arange(n)
    size = np.ones(n, np.int64)
    largest = 1 if n else 0
    for i in range(n):
        for j in range(i + 1, n):
            if S[i, j] > t:
                largest = max(largest, _union(parent, size, i, j))
    return parent, largest


@njit(cache=True, nogil=True)
def _components_kernel(S, t):
    return _labels(_components(S, t)[0])


@njit(cache=True, nogil=True)
def _by_size_kernel(S, values, max_size):  # values: sorted distinct off-diagonal entries -> (labels, threshold)
    lo, hi = -1, values.shape[0] - 1  # index −1 stands for a threshold below every entry (all edges in)
    if _components(S, values[0] - 1.0)[1] <= max_size:
        hi = -1
    while hi - lo > 1:  # invariant: largest(values[lo]) > max_size >= largest(values[hi])
        mid = (lo + hi) // 2
        if _components(S, values[mid])[1] > max_size:
            lo = mid
        else:
            hi = mid
    t = values[0] - 1.0 if hi < 0 else values[hi]
    return _labels(_components(S, t)[0]), t


def threshold_components(S, threshold: float) -> np.ndarray:
    """Connected components of the graph linking i and j wherever S[i, j] > threshold (i ≠ j; the diagonal is
    ignored). S: symmetric (n, n). -> labels (n,) int64, numbered in order of each component's lowest member."""
    S = checks.symmetric(S, "S")
    return _components_kernel(S, checks.real(threshold, "threshold"))


class SizedComponents(NamedTuple):
    labels: np.ndarray  # (n,) int64
    threshold: float  # edges are S[i, j] > threshold


def components_by_size(S, max_size: int) -> SizedComponents:
    """Thresholded components at the lowest threshold whose largest component has at most ``max_size`` members:
    merge as much as the size cap allows.

    The threshold is found by bisection over S's distinct off-diagonal values (components change only there), so
    it is exact: one of those values (or one below them all), and at any lower threshold some component would
    exceed ``max_size``.
    """
    S = checks.symmetric(S, "S")
    max_size = checks.count(max_size, "max_size", 1)
    n = S.shape[0]
    if n <= 1:
        return SizedComponents(np.zeros(n, np.int64), 0.0)
    values = np.unique(S[np.triu_indices(n, 1)])
    labels, t = _by_size_kernel(S, values, max_size)
    return SizedComponents(labels, float(t))


# ------------------------------------------------------------------------------------------- average linkage


class Merges(NamedTuple):
    """Merges of agglomerative clustering in order of height: clusters holding leaves a[m] and b[m] join at
    height[m] (their average distance). n leaves give n − 1 merges."""

    a: np.ndarray  # (n − 1,) int64
    b: np.ndarray  # (n − 1,) int64
    height: np.ndarray  # (n − 1,) float64, non-decreasing


@njit(cache=True, nogil=True)
def _average_linkage_kernel(D):  # D: (n, n) float64, overwritten -> merges in the order found
    n = D.shape[0]
    active = np.ones(n, np.bool_)
    size = np.ones(n, np.int64)
    chain = np.empty(n, np.int64)
    ma = np.empty(n - 1, np.int64)
    mb = np.empty(n - 1, np.int64)
    mh = np.empty(n - 1)
    clen = 0
    m = 0
    nxt = 0  # lowest index that may still be active, to start a new chain
    while m < n - 1:
        if clen == 0:
            while not active[nxt]:
                nxt += 1
            chain[0] = nxt
            clen = 1
        a = chain[clen - 1]
        if clen > 1:  # ties go to the previous element of the chain, which guarantees progress
            b = chain[clen - 2]
            best = D[a, b]
        else:
            b = -1
            best = np.inf
        for k in range(n):
            if active[k] and k != a and D[a, k] < best:
                best = D[a, k]
                b = k
        if clen > 1 and b == chain[clen - 2]:
            clen -= 2
            keep, drop = min(a, b), max(a, b)  # slot ``keep`` holds leaf ``keep``: a leaf of the merged cluster
            sa, sb = size[keep], size[drop]
            for k in range(n):
                if active[k] and k != keep and k != drop:
                    d = (sa * D[keep, k] + sb * D[drop, k]) / (sa + sb)
                    D[keep, k] = d
                    D[k, keep] = d
            size[keep] = sa + sb
            active[drop] = False
            ma[m], mb[m], mh[m] = keep, drop, best
            m += 1
        else:
            chain[clen] = b
            clen += 1
    return ma, mb, mh


def average_linkage(D) -> Merges:
    """Average-linkage (UPGMA) agglomerative clustering of n items with distances D (symmetric (n, n), finite
    off the diagonal; the diagonal is ignored). Nearest-neighbour chain: O(n²) time, one (n, n) float64 copy.
    The merge heights are those of ``scipy.cluster.hierarchy.linkage(method="average")``.
    """
    D = checks.symmetric(D, "D").copy()
    n = D.shape[0]
    if n <= 1:
        return Merges(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    a, b, h = _average_linkage_kernel(D)
    order = np.argsort(h, kind="stable")
    return Merges(a[order], b[order], h[order])


@njit(cache=True, nogil=True)
def _cut_kernel(a, b, n, n_merges):
    parent = np.arange(n)
    size = np.ones(n, np.int64)
    for m in range(n_merges):
        _union(parent, size, a[m], b[m])
    return _labels(parent)


def cut(merges: Merges, n: int, n_clusters: int | None = None, max_height: float | None = None) -> np.ndarray:
    """Labels (n,) int64 from ``average_linkage``'s merges: stop at ``n_clusters`` clusters, or apply every merge
    below ``max_height`` (exactly one of the two)."""
    n = checks.count(n, "n", 0)
    a = np.ascontiguousarray(merges.a, dtype=np.int64)
    b = np.ascontiguousarray(merges.b, dtype=np.int64)
    h = np.asarray(merges.height, dtype=np.float64)
    if not (len(a) == len(b) == len(h) == max(n - 1, 0)):
        raise ValueError(f"merges must hold n − 1 = {max(n - 1, 0)} merges, got {len(a)}")
    if (n_clusters is None) == (max_height is None):
        raise ValueError("give exactly one of n_clusters and max_height")
    if n_clusters is not None:
        n_merges = n - checks.count(n_clusters, "n_clusters", min(1, n), n)
    else:
        n_merges = int(np.searchsorted(h, checks.real(max_height, "max_height"), side="left"))
    return _cut_kernel(a, b, n, n_merges)


def agglomerative(D, n_clusters: int | None = None, max_height: float | None = None) -> np.ndarray:
    """Average-linkage clusters of distances D: ``cut(average_linkage(D), ...)``."""
    D = checks.symmetric(D, "D")
    return cut(average_linkage(D), D.shape[0], n_clusters=n_clusters, max_height=max_height)
