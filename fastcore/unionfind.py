"""Union-find for the numba kernels: the root of an element, with path halving."""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def find(parent, a):
    """Root of ``a`` in the forest ``parent`` (int array, roots point to themselves); halves the path it walks."""
    while parent[a] != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a
