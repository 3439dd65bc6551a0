"""Scores of ``toys.decomp.scores`` against hand computations and slow, obvious twins.

MCC (as ``sae_lens.synthetic.mean_correlation_coefficient`` defines it: Hungarian matching of |cos|, mean over the
min(latents, n_true) matched pairs) is compared with values worked out by hand on 2- and 3-dim cases and with a
brute force over every injective matching for up to 6 rows a side. Recovery, splitting, the sample scores and
absorption are checked on cases small enough to count by hand.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from toys.decomp.scores import absorption, cosines, mcc, recovered, sample_scores, score, split
from toys.decomp.sources import Acts


def naive_mcc(decoder: np.ndarray, truth: np.ndarray) -> float:
    """Best mean |cos| over every one-to-one matching of the smaller side into the larger (brute force)."""
    c = np.zeros((len(decoder), len(truth)))
    for i, a in enumerate(decoder):
        for j, b in enumerate(truth):
            na, nb = max(np.linalg.norm(a), 1e-8), max(np.linalg.norm(b), 1e-8)
            c[i, j] = abs(float(np.dot(a, b)) / (na * nb))
    if len(decoder) > len(truth):
        c = c.T
    n_small, n_large = c.shape
    best = max(sum(c[i, cols[i]] for i in range(n_small)) for cols in itertools.permutations(range(n_large), n_small))
    return best / n_small


def test_mcc_by_hand_2d():
    a = 0.3
    truth = np.array([[1.0, 0.0], [0.0, 1.0]])
    decoder = np.array([[math.cos(a), math.sin(a)], [0.0, -3.0]])  # second row: opposite sign, length 3
    # matchings: (row0-t0, row1-t1) = cos a + 1; (row0-t1, row1-t0) = sin a + 0; the first wins
    assert mcc(decoder, truth) == pytest.approx((math.cos(a) + 1.0) / 2.0, abs=1e-12)
    assert mcc(decoder[::-1], truth) == pytest.approx((math.cos(a) + 1.0) / 2.0, abs=1e-12)


def test_mcc_divides_by_the_smaller_side():
    truth = np.eye(3)
    narrow = np.array([[1.0, 1.0, 0.0]])  # one latent: its single matched pair, 1/√2
    assert mcc(narrow, truth) == pytest.approx(1.0 / math.sqrt(2.0), abs=1e-12)
    wide = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0], [1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    # truth rows e0, e1 only: e0 -> row 0 (1), e1 -> row 2 or 3 (1/√2): (1 + 1/√2) / 2
    assert mcc(wide, truth[:2]) == pytest.approx((1.0 + 1.0 / math.sqrt(2.0)) / 2.0, abs=1e-12)


def test_mcc_is_one_for_a_signed_permutation_and_zero_rows_count_zero():
    rng = np.random.default_rng(0)
    truth = rng.standard_normal((5, 7))
    perm = rng.permutation(5)
    decoder = truth[perm] * rng.choice([-2.0, 0.5], size=(5, 1))
    assert mcc(decoder, truth) == pytest.approx(1.0, abs=1e-12)
    decoder[0] = 0.0
    assert mcc(decoder, truth) == pytest.approx(4.0 / 5.0, abs=1e-12)


@pytest.mark.parametrize("case", range(40))
def test_mcc_matches_brute_force(case):
    rng = np.random.default_rng(case)
    n_dec, n_true, d = rng.integers(1, 7), rng.integers(1, 7), rng.integers(1, 6)
    decoder, truth = rng.standard_normal((n_dec, d)), rng.standard_normal((n_true, d))
    if case % 5 == 0:
        decoder[0] = 0.0  # a zero row
    if case % 7 == 0 and n_dec > 1:
        decoder[1] = decoder[0]  # a duplicate
    assert mcc(decoder, truth) == pytest.approx(naive_mcc(decoder, truth), abs=1e-12)


def test_recovered_and_split_take_the_signed_cosine():
    truth = np.eye(3)
    decoder = np.array([[1.0, 0.0, 0.0], [1.0, 0.1, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]])
    # e0: rows 0 and 1 (cos 1, 0.995); e1: row 2; e2: only row 3, pointing away (cos −1)
    assert recovered(decoder, truth) == 2
    assert split(decoder, truth) == 1
    assert recovered(decoder, truth, threshold=0.999) == 2
    assert split(decoder, truth, threshold=0.999) == 0


def test_cosines_shapes_are_checked():
    with pytest.raises(ValueError, match="same dims"):
        cosines(np.zeros((2, 3)), np.zeros((2, 4)))


def _acts(f: np.ndarray, truth: np.ndarray, parents=None) -> Acts:
    x = f @ truth
    return Acts(x, x, f, np.full(f.shape[1], -1) if parents is None else np.asarray(parents))


def test_sample_scores_by_hand():
    truth = np.eye(2)
    f = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0], [3.0, 4.0]])
    acts = _acts(f, truth)
    latents = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    recon = np.array([[0.5, 0.0], [0.0, 2.0], [0.0, 0.0], [3.0, 0.0]])
    s = sample_scores(latents, recon, acts)
    assert s["l0"] == pytest.approx(4 / 4)  # 1 + 1 + 0 + 2 nonzero latents over 4 samples
    assert s["true_l0"] == pytest.approx(4 / 4)
    assert s["dead"] == 1
    # samples with ‖y‖ > 0: ratios 0.5, 1, 3/5 -> mean 0.7
    assert s["shrinkage"] == pytest.approx((0.5 + 1.0 + 0.6) / 3)
    y = f
    var = ((y - y.mean(0)) ** 2).sum()
    assert s["nmse"] == pytest.approx((0.25 + 16.0) / var)


def test_absorption_by_hand():
    truth = np.eye(3)
    parents = [-1, 0, -1]  # feature 1 is feature 0's child; feature 2 is independent
    f = np.array([[1.0, 0, 0], [1.0, 1.0, 0], [1.0, 1.0, 0], [0, 0, 1.0], [1.0, 0, 0]])
    acts = _acts(f, truth, parents)
    absorbing = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # latent 1 = child + parent
    # latent 0 (the parent's) fires on parent-only samples, latent 1 alone on parent & child samples
    latents = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 0, 0]])
    got = absorption(latents, absorbing, truth, acts)
    assert got["absorption"] == pytest.approx(1.0)
    assert got["absorbed_cos"] == pytest.approx(1.0 / math.sqrt(2.0))
    # the parent's latent also fires with the child: nothing absorbed
    both = latents.copy()
    both[1:3, 0] = 1.0
    assert absorption(both, np.eye(3), truth, acts)["absorption"] == pytest.approx(0.0)
    # a parent latent that misses half its parent-only samples and every parent & child one: 1 − ½
    weak = latents.copy()
    weak[4, 0] = 0.0
    assert absorption(weak, absorbing, truth, acts)["absorption"] == pytest.approx(0.5)
    assert math.isnan(absorption(latents, absorbing, truth, acts._replace(parents=np.full(3, -1)))["absorption"])


def test_score_of_a_bare_decoder():
    truth = np.eye(4)
    got = score(truth[[2, 0, 1]], truth)
    assert got == {"n_latents": 3, "n_true": 4, "mcc": 1.0, "recovered": 3, "split": 0}
    with pytest.raises(ValueError, match="true directions"):
        score(truth)
