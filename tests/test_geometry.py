"""fastcore.geometry against its naive twins (tests/naive.py) and against known results; toys.tms.geometry's
edges and angles of ideal configurations."""

import itertools
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fastcore import geometry as geo
from tests import naive
from toys.tms.geometry import feature_geometry, ideal_edges, smallest_angle
from toys.tms.metrics import feature_dimensionality

ROOT = Path(__file__).resolve().parent.parent

# Smallest known Coulomb energies of n unit charges on the sphere S² ⊂ R³, n = 2..30: Wikipedia, "Thomson problem",
# table "Configurations of smallest known energy" (from Wales & Ulker, Phys. Rev. B 74, 212101 (2006), and the
# Cambridge Cluster Database); n = 2-6 and 12 are proven optima. Published to 9 decimals.
THOMSON_S2 = {
    2: 0.500000000,
    3: 1.732050808,
    4: 3.674234614,
    5: 6.474691495,
    6: 9.985281374,
    7: 14.452977414,
    8: 19.675287861,
    9: 25.759986531,
    10: 32.716949460,
    11: 40.596450510,
    12: 49.165253058,
    13: 58.853230612,
    14: 69.306363297,
    15: 80.670244114,
    16: 92.911655302,
    17: 106.050404829,
    18: 120.084467447,
    19: 135.089467557,
    20: 150.881568334,
    21: 167.641622399,
    22: 185.287536149,
    23: 203.930190663,
    24: 223.347074052,
    25: 243.812760299,
    26: 265.133326317,
    27: 287.302615033,
    28: 310.491542358,
    29: 334.634439920,
    30: 359.603945904,
}
# 9 printed decimals, and the table's n = 11 entry sits 2e-9 above the value other sources print (40.596450508).
THOMSON_TOL = 1e-8


def _rotation(dim, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((dim, dim)))
    return q * np.sign(np.diag(r))


def _polygon(k):  # k unit vectors at equal angles in the plane -> (2, k)
    a = 2 * np.pi * np.arange(k) / k
    return np.stack([np.cos(a), np.sin(a)])


def _tetrahedron():  # (3, 4)
    return np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float).T / math.sqrt(3)


def _square_antiprism():  # (3, 8): two squares turned 45° apart, at heights ±1/√3 (a tight frame)
    a = np.pi / 4 * np.arange(8)
    h = np.where(np.arange(8) % 2 == 0, 1.0, -1.0) / math.sqrt(3)
    r = math.sqrt(2 / 3)
    return np.stack([r * np.cos(a), r * np.sin(a), h])


def _embed(blocks, hidden, seed=0, noise=0.0, scale=1.0):
    """Place (d_b, k_b) blocks in orthogonal coordinate blocks, rotate at random into `hidden` dims. -> (1, H, F)"""
    dims = sum(b.shape[0] for b in blocks)
    assert dims <= hidden
    W = np.zeros((hidden, sum(b.shape[1] for b in blocks)))
    r = c = 0
    for b in blocks:
        W[r : r + b.shape[0], c : c + b.shape[1]] = b
        r, c = r + b.shape[0], c + b.shape[1]
    W = _rotation(hidden, seed) @ W * scale
    W += noise * np.random.default_rng(seed + 1).standard_normal(W.shape)
    return W[None]


# ------------------------------------------------------------------------------------------------ polytopes

CONSTRUCTED = [  # name, (d, k) block, D per feature
    ("dedicated", np.eye(1), 1.0),
    ("digon", np.array([[1.0, -1.0]]), 1 / 2),
    ("triangle", _polygon(3), 2 / 3),
    ("tetrahedron", _tetrahedron(), 3 / 4),
    ("pentagon", _polygon(5), 2 / 5),
    ("square antiprism", _square_antiprism(), 3 / 8),
]


@pytest.mark.parametrize("name, block, D", CONSTRUCTED, ids=[c[0] for c in CONSTRUCTED])
@pytest.mark.parametrize("hidden, noise, scale", [(None, 0.0, 1.0), (10, 0.0, 1.7), (10, 0.01, 1.0)])
def test_constructed_polytope_is_named_and_has_its_dimensionality(name, block, D, hidden, noise, scale):
    W = _embed([block], hidden or block.shape[0], seed=len(name), noise=noise, scale=scale)
    p = geo.polytopes(W)
    k, d = block.shape[1], block.shape[0]
    assert p.label.tolist() == [[name] * k]
    assert p.size.tolist() == [[k] * k] and p.rank.tolist() == [[d] * k] and p.group.tolist() == [[0] * k]
    np.testing.assert_allclose(feature_dimensionality(W), D, atol=0.05 if noise else 1e-6)


def test_mixed_instance_digon_triangle_pentagon_and_dedicated():
    blocks = [np.array([[1.0, -1.0]]), _polygon(3), np.eye(1), _polygon(5), np.full((1, 1), 0.3)]
    W = _embed(blocks, 9, seed=3)  # the last feature (norm 0.3) is below the representation threshold
    order = np.random.default_rng(4).permutation(W.shape[2])  # interleave the groups' features
    W = W[:, :, order]
    p = geo.polytopes(W)
    truth = np.repeat(["digon", "triangle", "dedicated", "pentagon", "not represented"], [2, 3, 1, 5, 1])[order]
    assert p.label[0].tolist() == truth.tolist()
    small = int(np.flatnonzero(order == 11)[0])
    assert p.group[0, small] == -1 and p.size[0, small] == 0 and p.code[0, small] == 0
    for name in ("digon", "triangle", "pentagon"):
        members = np.flatnonzero(truth == name)
        assert len(set(p.group[0, members])) == 1
    assert sorted(set(p.group[0].tolist()) - {-1}) == list(range(4))
    g, s, r = naive.polytopes(W)
    assert (p.group == g).all() and (p.size == s).all() and (p.rank == r).all()


def test_unnamed_groups_are_k_in_d_and_several_instances_are_independent():
    rng = np.random.default_rng(5)
    W = np.zeros((3, 4, 6))
    W[0, :3] = rng.standard_normal((3, 6)) * 2  # six generic directions in 3 dims: one group
    W[1, :2, :4] = _polygon(4)  # a square: two orthogonal digons
    W[2] = 0.0
    p = geo.polytopes(W)
    assert p.label[0].tolist() == ["6 in 3"] * 6
    assert p.label[1].tolist() == ["digon"] * 4 + ["not represented"] * 2
    assert p.group[1].tolist() == [0, 1, 0, 1, -1, -1]
    assert p.label[2].tolist() == ["not represented"] * 6
    assert geo.polytope_code(2, 1) == 2 and geo.POLYTOPE_NAMES[geo.polytope_code(8, 3)] == "square antiprism"


@pytest.mark.parametrize("seed", range(6))
def test_polytopes_match_twin_on_random_stacks(seed):
    rng = np.random.default_rng(seed)
    I, H, F = rng.integers(1, 5), rng.integers(1, 7), rng.integers(1, 12)
    W = rng.standard_normal((I, H, F)) * rng.uniform(0, 1.5, (I, 1, F))  # a mix of represented and not
    if seed == 0:
        W[:, :, -1] = W[:, :, 0]  # duplicate features
    kwargs = {"norm_threshold": 0.5, "ortho_tol": 0.1 * (1 + seed % 3), "rank_tol": 0.25}
    p = geo.polytopes(W.astype(np.float32), **kwargs)
    g, s, r = naive.polytopes(W.astype(np.float32), **kwargs)
    assert (p.group == g).all() and (p.size == s).all() and (p.rank == r).all()
    assert p.label.shape == (I, F)


def test_polytopes_corner_cases():
    assert geo.polytopes(np.ones((1, 1, 1))).label.tolist() == [["dedicated"]]
    assert geo.polytopes(np.zeros((0, 2, 3))).group.shape == (0, 3)
    empty = geo.polytopes(np.zeros((2, 0, 3)))
    assert empty.label.tolist() == [["not represented"] * 3] * 2 and (empty.group == -1).all()
    assert geo.polytopes(np.zeros((2, 3, 0))).label.shape == (2, 0)
    with pytest.raises(ValueError, match="ortho_tol"):
        geo.polytopes(np.ones((1, 2, 2)), ortho_tol=2.0)


@pytest.mark.parametrize("bad", [np.zeros((3, 4)), np.full((1, 2, 2), np.nan), np.array([[["a"]]])])
def test_polytopes_reject_bad_input(bad):
    with pytest.raises(ValueError, match="W"):
        geo.polytopes(bad)


# ----------------------------------------------------------------------------------------- Thomson problem


def test_thomson_reaches_published_minima_n2_to_30():
    for n, published in THOMSON_S2.items():
        points, energy = geo.thomson(n, 3, restarts=16, seed=0)
        assert points.shape == (n, 3)
        np.testing.assert_allclose(np.linalg.norm(points, axis=1), 1.0, atol=1e-12)
        assert energy == pytest.approx(naive.coulomb_energy(points), rel=1e-12)
        assert abs(energy - published) < THOMSON_TOL, (n, energy, published)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_thomson_reaches_published_minima_from_other_seeds(seed):
    for n, published in THOMSON_S2.items():
        assert abs(geo.thomson(n, 3, restarts=16, seed=seed)[1] - published) < THOMSON_TOL, n


@pytest.mark.parametrize("n, dim", [(2, 3), (3, 3), (4, 3), (5, 3), (7, 3), (5, 2), (6, 4)])
def test_thomson_at_least_as_low_as_scipy_lbfgs_from_the_same_starts(n, dim):
    starts = geo.random_starts(n, dim, 4, seed=7)
    _, ours = geo.thomson(n, dim, restarts=4, seed=7)
    _, ref = naive.thomson_lbfgs(starts)
    assert ours <= ref + 1e-9


@pytest.mark.parametrize(
    "n, dim, energy",
    [
        (5, 4, 10 / math.sqrt(2.5)),  # n ≤ dim + 1: the regular simplex, |x_i − x_j|² = 2 + 2/(n − 1)
        (3, 2, 3 / math.sqrt(3)),  # points in the plane: the regular polygon
        (4, 2, 4 / math.sqrt(2) + 2 / 2),
        (6, 6, 15 / math.sqrt(2.4)),
    ],
)
def test_thomson_closed_forms_in_other_dimensions(n, dim, energy):
    points, e = geo.thomson(n, dim, restarts=4, seed=1)
    assert e == pytest.approx(energy, abs=1e-9)
    assert points.shape == (n, dim)


def test_thomson_corner_cases_and_reproducibility():
    points, e = geo.thomson(1, 3)
    assert e == 0.0 and points.shape == (1, 3) and np.linalg.norm(points) == pytest.approx(1.0)
    a, b = geo.thomson(9, 3, restarts=3, seed=11), geo.thomson(9, 3, restarts=3, seed=11)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1]
    for kwargs in ({"n": 0}, {"n": 3, "dim": 1}, {"n": 3, "restarts": 0}, {"n": 2.5}):
        with pytest.raises(ValueError):
            geo.thomson(**kwargs)


def test_coulomb_gradient_matches_finite_differences():
    x = geo.random_starts(6, 3, 1, seed=2)[0]
    g = np.empty_like(x)
    energy = geo._coulomb(x, g)
    assert energy == pytest.approx(naive.coulomb_energy(x), rel=1e-12)
    fd = np.zeros_like(x)
    for i, k in itertools.product(range(6), range(3)):
        dx = np.zeros_like(x)
        dx[i, k] = 1e-6
        fd[i, k] = (naive.coulomb_energy(x + dx) - naive.coulomb_energy(x - dx)) / 2e-6
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------------------- minimum coherence


@pytest.mark.parametrize("n, dim", [(3, 2), (4, 3), (5, 4), (6, 3), (10, 5), (16, 6), (28, 7)])
def test_min_coherence_meets_welch_bound_where_etfs_exist(n, dim):
    # real equiangular tight frames: the simplex (n = d + 1), 6 lines in R³ (icosahedron diagonals), 10 in R⁵,
    # 16 in R⁶, 28 in R⁷
    vectors, c = geo.min_coherence(n, dim, restarts=8, seed=0)
    assert vectors.shape == (n, dim)
    assert c == pytest.approx(naive.coherence(vectors), abs=1e-12)
    assert c == pytest.approx(geo.welch_bound(n, dim), abs=1e-7)
    assert c >= geo.welch_bound(n, dim) - 1e-12


def test_welch_bound_values():
    assert geo.welch_bound(3, 2) == pytest.approx(0.5)
    assert geo.welch_bound(6, 3) == pytest.approx(1 / math.sqrt(5))
    assert geo.welch_bound(3, 3) == 0.0 and geo.welch_bound(1, 1) == 0.0


@pytest.mark.parametrize("n, dim", [(4, 2), (5, 2), (7, 3), (8, 3), (7, 4), (12, 5)])
def test_min_coherence_never_below_welch_and_no_worse_than_slsqp_minimax(n, dim):
    vectors, c = geo.min_coherence(n, dim, restarts=8, seed=1)
    assert c == pytest.approx(naive.coherence(vectors), abs=1e-12)
    assert c >= geo.welch_bound(n, dim) - 1e-12
    if n * dim <= 24:
        _, ref = naive.min_coherence_slsqp(geo.random_starts(n, dim, 4, seed=1))
        assert c <= ref + 1e-6
    if dim == 2:  # n lines in the plane: equally spaced, max |cos| = cos(π/n)
        assert c == pytest.approx(math.cos(math.pi / n), abs=1e-7)


def test_min_coherence_corner_cases():
    v, c = geo.min_coherence(3, 5)
    assert c == 0.0 and v.shape == (3, 5)
    np.testing.assert_allclose(v @ v.T, np.eye(3), atol=1e-12)
    v, c = geo.min_coherence(1, 1)
    assert c == 0.0 and abs(v[0, 0]) == pytest.approx(1.0)
    v, c = geo.min_coherence(3, 1)  # every line in R¹ is the same line
    assert c == pytest.approx(1.0)
    assert geo.coherence(np.array([[1.0, 0.0], [3.0, 3.0], [0.0, -2.0]])) == pytest.approx(math.sqrt(0.5))
    with pytest.raises(ValueError, match="zero row"):
        geo.coherence(np.zeros((2, 2)))


def test_pnorm_gradient_matches_finite_differences():
    x = geo.random_starts(5, 3, 1, seed=4)[0]
    p = 8.0

    def value(y):
        c = np.abs([a @ b for a, b in itertools.combinations(y, 2)])
        return np.sum(c**p) ** (1 / p)

    g = np.empty_like(x)
    v, cmax = geo._pnorm(x, p, g)
    assert v == pytest.approx(value(x), rel=1e-12) and cmax == pytest.approx(naive.coherence(x), rel=1e-12)
    fd = np.zeros_like(x)
    for i, k in itertools.product(range(5), range(3)):
        dx = np.zeros_like(x)
        dx[i, k] = 1e-6
        fd[i, k] = (value(x + dx) - value(x - dx)) / 2e-6
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-8)


# ---------------------------------------------------------------------------------------- toys.tms.geometry


def test_feature_geometry_of_a_pentagon_and_two_digons():
    a = 2 * np.pi * np.arange(5) / 5
    W = np.zeros((2, 2, 5))
    W[0] = np.stack([np.cos(a), np.sin(a)])
    W[1] = [[1, -1, 0, 0, 0], [0, 0, 1, -1, 0]]  # two digons on orthogonal axes, feature 4 not represented
    g = feature_geometry(W)
    assert {k: v.shape for k, v in g.items()} == dict.fromkeys(
        ("D", "norm", "polytope", "shape", "group", "k", "d"), (2, 5)
    )
    assert g["polytope"][0].tolist() == ["pentagon"] * 5 and g["polytope"][1].tolist() == ["digon"] * 4 + [
        "not represented"
    ]
    np.testing.assert_allclose(g["D"], [[0.4] * 5, [0.5] * 4 + [0.0]], atol=1e-12)
    np.testing.assert_allclose(g["norm"], [[1.0] * 5, [1.0] * 4 + [0.0]])
    assert g["group"][1].tolist() == [0, 0, 1, 1, -1] and g["k"][1].tolist() == [2, 2, 2, 2, 0]
    assert g["d"][0].tolist() == [2] * 5


@pytest.mark.parametrize("n, dim, n_edges", [(4, 2, 4), (2, 2, 1), (4, 3, 6), (6, 3, 12), (12, 3, 30)])
def test_ideal_edges(n, dim, n_edges):
    points, _ = geo.thomson(n, dim, restarts=4, seed=0)
    edges = ideal_edges(points)
    assert len(edges) == n_edges
    if dim == 2 and n > 2:  # a polygon: every point has two neighbours
        assert np.bincount(np.array(edges).ravel(), minlength=n).tolist() == [2] * n


def test_square_antiprism_edges_and_smallest_angle():
    points, _ = geo.thomson(8, 3, restarts=8, seed=0)  # the Thomson 8-point optimum is a square antiprism, 16 edges
    assert len(ideal_edges(points)) == 16
    assert smallest_angle(geo.thomson(6, 3, restarts=4)[0]) == pytest.approx(90.0, abs=0.1)  # octahedron


# ---------------------------------------------------------------------------------------------- concurrency


_CONCURRENT = textwrap.dedent("""
    import threading
    from fastcore import geometry as geo
    want_t = geo.thomson(30, 3, restarts=16, seed=1)[1]
    want_c = geo.min_coherence(8, 3, restarts=4, seed=1)[1]
    results, errors = [], []
    def work():
        try:
            for _ in range(4):
                results.append(geo.thomson(30, 3, restarts=16, seed=1)[1] == want_t)
                results.append(geo.min_coherence(8, 3, restarts=4, seed=1)[1] == want_c)
        except Exception as e:
            errors.append(repr(e))
    threads = [threading.Thread(target=work) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    import numba
    print(len(results), all(results), errors, numba.threading_layer())
""")


def _run_concurrent(**env):
    base = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    return subprocess.run(
        [sys.executable, "-c", _CONCURRENT],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**base, **env},
    )


def test_parallel_kernels_from_many_threads_at_once():
    # Streamlit serves each visitor on its own thread; four threads here call the parallel kernels at once.
    # Child processes, so that an abort fails this test instead of killing the run.
    out = _run_concurrent()
    assert out.returncode == 0, out.stderr[-2000:]
    count, ok, errors, layer = out.stdout.split(maxsplit=3)
    assert (count, ok, errors) == ("32", "True", "[]"), out.stdout
    assert layer.strip() != "workqueue"
    # the same load under numba's default workqueue layer aborts: the calls above really did overlap
    unsafe = _run_concurrent(NUMBA_THREADING_LAYER="workqueue")
    assert unsafe.returncode != 0 and "Concurrent access" in unsafe.stderr
