"""fastcore.cluster against its naive twins and scipy/scikit-learn; every method on planted clusters."""

from multiprocessing.pool import ThreadPool

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.metrics import adjusted_rand_score

from fastcore import cluster as fc
from fastcore import coactivation as co
from tests import naive
from toys.circuits.pipeline import METHODS, ClusterConfig, cluster, planted_activations, scores


def _random_similarity(n, seed):
    rng = np.random.default_rng(seed)
    A = rng.random((n, n))
    S = (A + A.T) / 2
    np.fill_diagonal(S, 1.0)
    return S


def _blocks(sizes, within=0.8, between=0.1, noise=0.05, seed=0):
    """Similarity with planted blocks, shuffled. -> (S, labels)"""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(sizes)), sizes)
    perm = rng.permutation(len(labels))
    labels = labels[perm]
    S = np.where(labels[:, None] == labels[None, :], within, between) + noise * rng.standard_normal((len(labels),) * 2)
    S = (S + S.T) / 2
    np.fill_diagonal(S, 1.0)
    return S, labels


# ----------------------------------------------------------------------------------------- thresholded components


@pytest.mark.parametrize("n, t", [(30, 0.9), (30, 0.97), (80, 0.99), (1, 0.5), (2, 0.0), (50, 1.5), (50, -1.0)])
def test_components_match_scipy(n, t):
    S = _random_similarity(n, seed=n)
    np.testing.assert_array_equal(fc.threshold_components(S, t), naive.threshold_components(S, t))


def test_components_by_hand_and_numbering():
    S = np.zeros((5, 5))
    S[0, 3] = S[3, 0] = 0.9
    S[1, 4] = S[4, 1] = 0.6
    assert fc.threshold_components(S, 0.5).tolist() == [0, 1, 2, 0, 1]
    assert fc.threshold_components(S, 0.6).tolist() == [0, 1, 2, 0, 3]  # strictly above the threshold
    np.fill_diagonal(S, 99.0)  # the diagonal is ignored
    assert fc.threshold_components(S, 0.95).tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("n, max_size", [(40, 1), (40, 3), (40, 10), (40, 40), (7, 2), (2, 1)])
def test_components_by_size_match_exhaustive_search(n, max_size):
    S = _random_similarity(n, seed=100 + n)
    labels, t = fc.components_by_size(S, max_size)
    want_labels, want_t = naive.components_by_size(S, max_size)
    assert t == want_t
    np.testing.assert_array_equal(labels, want_labels)
    assert np.bincount(labels).max() <= max_size


def test_components_by_size_with_ties_and_planted_blocks():
    S, truth = _blocks([6, 6, 6, 6], noise=0.0)  # exact ties everywhere
    labels, t = fc.components_by_size(S, 6)
    assert adjusted_rand_score(truth, labels) == 1.0 and t == 0.1
    labels, _ = fc.components_by_size(S, 24)  # everything fits: the lowest threshold joins all
    assert labels.tolist() == [0] * 24
    assert fc.components_by_size(np.zeros((1, 1)), 1).labels.tolist() == [0]


# --------------------------------------------------------------------------------------------- average linkage


@pytest.mark.parametrize("n", [2, 3, 10, 40])
def test_average_linkage_heights_match_naive_twin_and_scipy(n):
    rng = np.random.default_rng(n)
    P = rng.standard_normal((n, 3))
    D = np.sqrt(((P[:, None] - P[None]) ** 2).sum(-1))
    merges = fc.average_linkage(D)
    np.testing.assert_allclose(merges.height, naive.average_linkage_heights(D), rtol=1e-12)
    np.testing.assert_allclose(merges.height, linkage(squareform(D, checks=False), method="average")[:, 2], rtol=1e-12)


@pytest.mark.parametrize("k", [1, 2, 5, 12])
def test_average_linkage_cut_matches_naive_twin_and_scipy(k):
    rng = np.random.default_rng(k)
    P = rng.standard_normal((25, 4))
    D = np.sqrt(((P[:, None] - P[None]) ** 2).sum(-1))
    labels = fc.agglomerative(D, n_clusters=k)
    np.testing.assert_array_equal(labels, naive.average_linkage_labels(D, k))
    Z = linkage(squareform(D, checks=False), method="average")
    assert adjusted_rand_score(fcluster(Z, k, criterion="maxclust"), labels) == 1.0
    h = fc.average_linkage(D).height
    cut_height = 0.5 * (h[len(h) - k] + h[len(h) - k + 1]) if 1 < k < 25 else None
    if cut_height is not None:  # a height between two merges gives the same clusters as the count
        np.testing.assert_array_equal(fc.agglomerative(D, max_height=cut_height), labels)


def test_linkage_corner_cases_and_bad_input():
    assert fc.average_linkage(np.zeros((1, 1))).height.shape == (0,)
    assert fc.agglomerative(np.zeros((1, 1)), n_clusters=1).tolist() == [0]
    assert fc.agglomerative(np.zeros((0, 0)), n_clusters=0).tolist() == []
    D = np.array([[0, 1, 4], [1, 0, 4], [4, 4, 0]], float)
    assert fc.agglomerative(D, n_clusters=2).tolist() == [0, 0, 1]
    assert fc.agglomerative(D, max_height=0.5).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="exactly one"):
        fc.agglomerative(D)
    with pytest.raises(ValueError, match="n_clusters"):
        fc.agglomerative(D, n_clusters=4)
    with pytest.raises(ValueError, match="symmetric"):
        fc.average_linkage(np.array([[0, 1], [2, 0]], float))
    with pytest.raises(ValueError, match="NaN"):
        fc.threshold_components(np.array([[0, np.nan], [np.nan, 0]]), 0.5)
    with pytest.raises(ValueError, match="square"):
        fc.threshold_components(np.zeros((2, 3)), 0.5)
    with pytest.raises(ValueError, match="threshold"):
        fc.threshold_components(np.zeros((2, 2)), float("nan"))
    with pytest.raises(ValueError, match="max_size"):
        fc.components_by_size(np.zeros((2, 2)), 0)


# ------------------------------------------------------------------------------------- planted clusters, all methods


@pytest.mark.parametrize("kind", ["jaccard", "phi", "npmi"])
@pytest.mark.parametrize("method", METHODS)
def test_every_method_recovers_planted_clusters(method, kind):
    X, truth = planted_activations(
        20_000, n_clusters=8, cluster_size=12, p_cluster=0.1, p_fire=0.5, p_noise=0.002, seed=3
    )
    S = co.similarity(co.cooccurrence(X), X.shape[0], kind)
    threshold = {"jaccard": 0.1, "phi": 0.15, "npmi": 0.2}[kind]
    for cfg in (
        ClusterConfig(method=method, similarity=kind, threshold=threshold),
        ClusterConfig(method=method, similarity=kind, threshold=0.0),
    ):  # auto: bisection / 8 clusters
        labels = cluster(S, cfg, n_true=8)
        result = scores(truth, labels, 8)
        assert result["ari"] >= 0.95, (cfg, result)
    # and the method really depends on the data: shuffled firings have no clusters to find
    rng = np.random.default_rng(0)
    Xs = X.toarray()
    for j in range(Xs.shape[1]):
        Xs[:, j] = Xs[rng.permutation(len(Xs)), j]
    labels = cluster(
        co.similarity(co.cooccurrence(Xs), len(Xs), kind),
        ClusterConfig(method=method, similarity=kind, threshold=0.0),
        n_true=8,
    )
    assert scores(truth, labels, 8)["ari"] < 0.2


def test_scores_by_hand():
    s = scores(np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0]), 2)
    assert (s["ari"], s["ami"], s["purity"], s["found"], s["true"]) == (1.0, 1.0, 1.0, 2, 2)
    s = scores(np.array([0, 0, 1, 1]), np.array([0, 0, 0, 1]), 2)
    assert s["purity"] == 0.75 and s["found_2plus"] == 1


def test_cluster_kernels_from_a_thread_pool():
    S, _ = _blocks([20] * 10, seed=5)
    D = 1.0 - S
    np.fill_diagonal(D, 0.0)
    want = (fc.agglomerative(D, n_clusters=10), fc.components_by_size(S, 25).labels, fc.threshold_components(S, 0.5))
    with ThreadPool(4) as pool:
        got = pool.map(
            lambda _: (
                fc.agglomerative(D, n_clusters=10),
                fc.components_by_size(S, 25).labels,
                fc.threshold_components(S, 0.5),
            ),
            range(12),
        )
    for g in got:
        for a, b in zip(g, want):
            np.testing.assert_array_equal(a, b)
