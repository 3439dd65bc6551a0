"""Geometry of feature directions: every feature's dimensionality, norm and polytope, and the shape of ideal
configurations (Thomson points) in 2 or 3 dimensions.

W has shape (I, H, F): column W[i, :, f] is feature f's direction in instance i. The kernels are in
``fastcore.geometry`` (polytopes, Thomson points, minimum coherence); this module turns their output into what the
feature-geometry page shows.
"""

from __future__ import annotations

import numpy as np

from fastcore.geometry import polytope_name, polytopes
from toys.tms.metrics import feature_dimensionality, feature_norms

COPLANAR_COS = 1 - 1e-6  # hull facets whose normals agree this closely lie in one plane


def feature_geometry(W: np.ndarray) -> dict[str, np.ndarray]:
    """Per instance and feature, each (I, F): dimensionality ``D``, ``norm``, the ``polytope`` its group forms (a
    name of ``fastcore.geometry.POLYTOPE_NAMES``), the group's ``shape`` ("k in d" for an unnamed one), ``group``
    id (−1: not represented), and the group's features ``k`` and dimensions ``d``. W must be finite."""
    poly = polytopes(W)
    return {
        "D": feature_dimensionality(W),
        "norm": feature_norms(W),
        "polytope": polytope_name(poly.code),
        "shape": poly.label,
        "group": poly.group,
        "k": poly.size,
        "d": poly.rank,
    }


def smallest_angle(points: np.ndarray) -> float:
    """Smallest angle in degrees between two of the unit rows of ``points`` (180 for a single point)."""
    if len(points) < 2:
        return 180.0
    cos = points @ points.T
    np.fill_diagonal(cos, -1.0)
    return float(np.degrees(np.arccos(np.clip(cos.max(), -1.0, 1.0))))


def ideal_edges(points: np.ndarray) -> list[tuple[int, int]]:
    """Edges between ideal points (n, 2 or 3): neighbours around the circle (2-d), convex-hull edges (3-d; none
    for fewer than 4 points or coplanar ones). Pairs (i, j), i < j in 3-d."""
    n, dim = points.shape
    if n < 2:
        return []
    if dim == 2:
        order = np.argsort(np.arctan2(points[:, 1], points[:, 0]))
        if n == 2:
            return [(int(order[0]), int(order[1]))]
        return [(int(order[i]), int(order[(i + 1) % n])) for i in range(n)]
    if dim == 3 and n >= 4:
        from scipy.spatial import ConvexHull, QhullError

        try:
            hull = ConvexHull(points)
        except QhullError:  # coplanar points: no solid hull
            return []
        return sorted(_true_edges(hull))
    return []


def _true_edges(hull) -> set[tuple[int, int]]:
    """Edges of the hull's triangles, less those inside a face: Qhull splits a face of more than 3 corners into
    triangles, and an edge between two triangles of one plane is not an edge of the solid."""
    faces: dict[tuple[int, int], list[int]] = {}
    for f, simplex in enumerate(hull.simplices):
        for i in range(3):
            a, b = int(simplex[i]), int(simplex[(i + 1) % 3])
            faces.setdefault((min(a, b), max(a, b)), []).append(f)
    normals = hull.equations[:, :3]
    return {
        e for e, fs in faces.items() if not (len(fs) == 2 and np.dot(normals[fs[0]], normals[fs[1]]) > COPLANAR_COS)
    }
