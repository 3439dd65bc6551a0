"""Honest accounting of U-AND (toys.compute.uand: the naive baseline, trained against naive) and Newgas's neuron
classes (toys.compute.newgas), against networks built by hand whose answers are known."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from toys.compute.newgas import (
    CASE_NAMES,
    CLASSES,
    PAPER_OUTPUTS,
    and_combination,
    class_readout,
    class_shares,
    class_truth_tables,
    neuron_classes,
    newgas_analysis,
    sign_rule,
)
from toys.compute.uand import (
    CASES,
    HeldOut,
    UANDConfig,
    UANDTrainer,
    against_naive,
    gate_error_rates,
    gate_pairs,
    handmade_outputs,
    held_out_cases,
    naive_closed_form,
    naive_constant,
    naive_error_rate,
    naive_gates,
    naive_outputs,
    naive_weights,
    network_outputs,
    trained_gates,
)
from toys.core.snapshot import Snapshot


def _snapshot(cfg: UANDConfig, nets: list[dict[str, np.ndarray]]) -> Snapshot:
    """A U-AND snapshot holding the given networks (one per instance, widths d_min and d_max), padded to d_max."""
    widths = np.array([n["W1"].shape[1] for n in nets])
    I, m, D, G = len(nets), cfg.n_inputs, int(widths.max()), cfg.n_gates
    arrays = {
        "W1": np.zeros((I, m, D), np.float32),
        "b1": np.zeros((I, D), np.float32),
        "W2": np.zeros((I, D, G), np.float32),
        "b2": np.zeros((I, G), np.float32),
        "widths": widths,
    }
    for i, (n, d) in enumerate(zip(nets, widths)):
        arrays["W1"][i, :, :d], arrays["b1"][i, :d] = n["W1"], n["b1"]
        arrays["W2"][i, :d], arrays["b2"][i] = n["W2"], n["b2"]
    return Snapshot("uand", cfg.to_dict(), cfg.steps, arrays, np.zeros((0, I)), np.zeros(0, int))


def _memoriser(cfg: UANDConfig, gates: np.ndarray) -> dict[str, np.ndarray]:
    """A network of width len(gates) computing exactly those ANDs (ReLU(x_i + x_j − 1), readout 1) and 0 elsewhere."""
    pairs, d = gate_pairs(cfg.n_inputs), len(gates)
    W1, W2 = np.zeros((cfg.n_inputs, d)), np.zeros((d, cfg.n_gates))
    for t, g in enumerate(gates):
        W1[pairs[g], t] = 1.0
        W2[t, g] = 1.0
    return {"W1": W1, "b1": -np.ones(d), "W2": W2, "b2": np.zeros(cfg.n_gates)}


# ----------------------------------------------------------------------------------------------- the accounting


@pytest.mark.parametrize("k", [2, 3])
def test_a_network_that_memorises_d_gates_scores_d(k):
    """Scored by trained_gates, the same code as every trained network: the d memorised gates and nothing else (the
    rest output 0 and miss every AND = 1 case, a quarter of their held-out cases)."""
    cfg = UANDConfig(n_inputs=9, n_active=k, d_min=5, d_max=20, n_instances=2, eval_cases=8)
    rng = np.random.default_rng(0)
    chosen = [np.sort(rng.choice(cfg.n_gates, size=d, replace=False)) for d in (5, 20)]
    res = trained_gates(_snapshot(cfg, [_memoriser(cfg, g) for g in chosen]))
    assert [r["d"] for r in res] == [5, 20] and [r["gates"] for r in res] == [5, 20]
    for r, g in zip(res, chosen):
        computed = np.flatnonzero(r["error_rates"] <= cfg.max_error_rate)
        np.testing.assert_array_equal(computed, g)
        rest = np.setdiff1d(np.arange(cfg.n_gates), g)
        np.testing.assert_array_equal(r["error_rates"][rest], 0.25)


def test_naive_constant_is_the_least_squares_constant():
    cfg = UANDConfig(n_inputs=10, n_active=3)
    x = np.array([[int(i in s) for i in range(10)] for s in itertools.combinations(range(10), 3)])  # every input
    assert naive_constant(cfg) == pytest.approx((x[:, 0] * x[:, 1]).mean())  # P(AND = 1) = 3·2 / (10·9)


@pytest.mark.parametrize(
    "kw,d,want",
    [
        ({}, 8, 8),  # constant 2/132 misses every AND = 1 case (a quarter): exactly d
        ({}, 40, 40),
        ({}, 66, 66),
        ({}, 96, 66),  # d ≥ G: every gate, the spare neurons dead
        ({"max_error_rate": 0.25}, 8, 66),  # a miss rate of 1/4 allowed: the constant computes the rest too
        ({"max_error_rate": 0.25, "tolerance": 0.01}, 8, 8),  # |c| = 2/132 ≥ 0.01: misses every case, rate 1
    ],
)
def test_naive_baseline_scores_its_closed_form(kw, d, want):
    cfg = UANDConfig(n_inputs=12, n_active=2, eval_cases=8, **kw)
    c = 2 / 132
    rate = 0.25 * (abs(c - 1) >= cfg.tolerance) + 0.75 * (abs(c) >= cfg.tolerance)
    assert naive_error_rate(cfg) == pytest.approx(rate)
    assert naive_closed_form(cfg, d) == want
    held = held_out_cases(12, 2, 8, seed=1)
    res = naive_gates(cfg, d, held)
    assert res["gates"] == want
    # the same count through the accounting code every network goes through, on the naive circuit's weights
    w = naive_weights(cfg, d)
    rates = gate_error_rates(network_outputs(w["W1"], w["b1"], w["W2"], w["b2"], held), held, cfg.tolerance)
    assert held.count(rates, cfg.max_error_rate) == want
    np.testing.assert_array_equal(rates, res["error_rates"])
    assert res["mean_error"] == pytest.approx(rates.mean())
    assert res["mean_error"] == pytest.approx((66 - min(d, 66)) / 66 * rate)


def test_naive_outputs_equal_the_naive_network_on_a_sample_and_count_exactly():
    cfg = UANDConfig(n_inputs=20, n_active=3, eval_cases=4)
    held = held_out_cases(20, 3, 4, seed=1, max_gates=40)
    w = naive_weights(cfg, 50)
    np.testing.assert_allclose(naive_outputs(cfg, 50, held), network_outputs(**w, held=held), atol=1e-12)
    res = naive_gates(cfg, 50, held)  # a sample of 40 of 190 gates: the count is still exactly d
    assert held.sampled and res["gates"] == 50
    assert res["mean_error"] == pytest.approx(140 / 190 * 0.25)


def test_fano_plane_handmade_scores_its_closed_form():
    """The hand-made construction with the seven lines of the Fano plane as subsets (m = 7, d = 7): each pair (i, j)
    lies on exactly one line L, so with two inputs on its output is 1 on 11, [o = third point of L] on 10 and 01
    (o the other input on), and 0 on 00. So a gate misses exactly the 10 and 01 cases whose other input is its
    line's third point; its count follows from the drawn cases alone."""
    lines = [(0, 1, 2), (0, 3, 4), (0, 5, 6), (1, 3, 5), (1, 4, 6), (2, 3, 6), (2, 4, 5)]
    S = np.zeros((7, 7), bool)
    for n, line in enumerate(lines):
        S[n, list(line)] = True
    cfg = UANDConfig(n_inputs=7, n_active=2, eval_cases=16, max_error_rate=0.1)
    held = held_out_cases(7, 2, 16, seed=4)
    third = {
        tuple(sorted(p)): next(q for q in line if q not in p) for line in lines for p in itertools.combinations(line, 2)
    }
    want_rates = []
    for g, (i, j) in enumerate(held.pairs):
        t = third[(i, j)]
        hits = sum(t in case for c in (1, 2) for case in held.active[g, c])  # cases 10 and 01
        want_rates.append(hits / (4 * 16))
    want_rates = np.array(want_rates)
    rates = gate_error_rates(handmade_outputs(S, held), held, cfg.tolerance)
    np.testing.assert_allclose(rates, want_rates)
    assert 0 < held.count(rates, cfg.max_error_rate) == int((want_rates <= 0.1).sum()) < 21
    assert want_rates.mean() == pytest.approx(0.1, abs=0.03)  # each miss has probability 1/5 on half the cases


def test_handmade_outputs_match_a_slow_twin_that_enumerates_every_case():
    """Random subsets at m = 8, d = 12, k = 3: every held-out case and neuron looped over in Python."""
    S = np.random.default_rng(5).random((12, 8)) < 0.4
    held = held_out_cases(8, 3, 3, seed=2)
    out = handmade_outputs(S, held)
    for g, (i, j) in enumerate(held.pairs):
        shared = [n for n in range(12) if S[n, i] and S[n, j]]
        for c in range(4):
            for r, case in enumerate(held.active[g, c]):
                h = [max(sum(S[n, a] for a in case) - 1.0, 0.0) for n in shared]
                assert out[g, c, r] == pytest.approx(np.mean(h) if shared else 0.0)


def test_against_naive_says_where_trained_beats_naive():
    trained = [
        {"d": 8, "gates": 3, "error_rates": np.full(66, 0.1)},  # fewer gates, lower mean error: beats
        {"d": 20, "gates": 25, "error_rates": np.full(66, 0.3)},  # more gates: beats
        {"d": 30, "gates": 10, "error_rates": np.full(66, 0.3)},  # neither
        {"d": 70, "gates": 66, "error_rates": np.zeros(66)},  # d ≥ G: cannot beat
    ]
    cfg = UANDConfig(n_inputs=12)
    held = held_out_cases(12, 2, 4, seed=1)
    naive = [naive_gates(cfg, r["d"], held) for r in trained]
    rows = against_naive(trained, naive, 66)
    assert [r["naive_gates"] for r in rows] == [8, 20, 30, 66]
    assert [r["beats_naive"] for r in rows] == [True, True, False, False]
    assert [r["more_gates"] for r in rows] == [False, True, False, False]
    assert [r["lower_error"] for r in rows] == [True, False, False, False]
    assert rows[0]["naive_error"] == pytest.approx(58 / 66 * 0.25)


# ------------------------------------------------------------------------------------------- Newgas's classes

# two neurons of class A, one B1, one B2, two C for the pair (0, 1) of m = 5, built to give the paper's outputs;
# they read no other input
_W_PAIR = np.array([[0.1, 0.1, 0.1, -0.2, -0.1, -0.1], [0.1, 0.1, -0.2, 0.1, -0.1, -0.1]])
_B1 = np.full(6, 0.05)
_READOUT = np.array([2.0, 2.0, -4.0, -4.0, 2.0, 2.0])


def _newgas_net():
    W1 = np.zeros((5, 6))
    W1[:2] = _W_PAIR
    W2 = np.zeros((6, 10))
    W2[:, 0] = _READOUT  # gate 0 is the pair (0, 1)
    # the pair's four cases with exactly two inputs on: 11 = {0, 1}, 10 = {0, 4}, 01 = {1, 4}, 00 = {3, 4}
    active = np.array([[[[0, 1]], [[0, 4]], [[1, 4]], [[3, 4]]]])  # (1 gate, 4 case types in CASES order, 1, 2)
    assert [tuple(int(a in case[0]) for a in (0, 1)) for case in active[0]] == list(CASES)
    return W1, W2, HeldOut(active, np.array([[0, 1]]), np.array([0]), 10)


def test_hand_built_newgas_circuit_has_the_papers_classes_and_truth_tables():
    W1, W2, held = _newgas_net()
    np.testing.assert_array_equal(neuron_classes(W1, held.pairs), [[0, 0, 1, 2, 3, 3]])
    np.testing.assert_allclose(class_shares(W1, held.pairs), [[2 / 6, 1 / 6, 1 / 6, 2 / 6]])
    table, counts = class_truth_tables(W1, _B1, held)
    np.testing.assert_allclose(table, PAPER_OUTPUTS, atol=1e-12)
    np.testing.assert_array_equal(counts, [2, 1, 1, 2])
    np.testing.assert_allclose(and_combination(table), [0, 0, 0, 0.25], atol=1e-12)  # AND · 0.25
    out = network_outputs(W1, _B1, W2, np.zeros(10), held)
    np.testing.assert_allclose(out[0, :, 0], held.target, atol=1e-12)  # and the readout computes the AND exactly
    rule = sign_rule(W1, W2, held.pairs, held.gates)
    assert rule["share"] == 1.0 and rule["weight_share"] == 1.0
    np.testing.assert_array_equal(rule["per_class"], [1, 1, 1, 1])
    np.testing.assert_allclose(class_readout(W1, W2, held.pairs, held.gates), [2, -4, -4, 2])
    W2[2, 0] = 4.0  # the B1 neuron read with the wrong sign
    rule = sign_rule(W1, W2, held.pairs, held.gates)
    assert rule["share"] == pytest.approx(5 / 6) and rule["weight_share"] == pytest.approx(12 / 16)
    np.testing.assert_array_equal(rule["per_class"], [1, 0, 1, 1])
    assert CASE_NAMES == ("00", "01", "10", "11") and CLASSES == ("A", "B1", "B2", "C")


def test_class_truth_tables_match_a_slow_twin():
    rng = np.random.default_rng(7)
    W1, b1 = rng.normal(size=(9, 11)), rng.normal(size=11) * 0.3
    held = held_out_cases(9, 3, 4, seed=3, max_gates=12)
    table, counts = class_truth_tables(W1, b1, held)
    sums, n = np.zeros((4, 4)), np.zeros(4)
    col = {"00": 3, "01": 2, "10": 1, "11": 0}  # CASES order: 11, 10, 01, 00
    for g, (i, j) in enumerate(held.pairs):
        for k in range(11):
            cls = 2 * (W1[i, k] < 0) + (W1[j, k] < 0)
            n[cls] += 1
            for c, name in enumerate(CASE_NAMES):
                for case in held.active[g, col[name]]:
                    sums[cls, c] += max(W1[list(case), k].sum() + b1[k], 0.0)
    np.testing.assert_array_equal(counts, n)
    np.testing.assert_allclose(table, sums / (4 * n[:, None]), atol=1e-12)


def test_newgas_analysis_of_a_tiny_trained_model():
    cfg = UANDConfig(
        n_inputs=6, n_active=2, d_min=4, d_max=16, n_instances=2, steps=100, batch_size=128, device="cpu", eval_cases=4
    )
    res = newgas_analysis(UANDTrainer(cfg).run())
    assert res["d"] == 16 and res["instance"] == 1 and res["n_pairs"] == 15
    assert res["shares"].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(res["pair_shares"].sum(axis=1), 1.0)
    assert res["table"].shape == (4, 4) and np.isfinite(res["table"][res["shares"] > 0]).all()
    assert 0.0 <= res["rule"]["share"] <= 1.0 and 0.0 <= res["rule"]["weight_share"] <= 1.0


def test_newgas_analysis_samples_pairs_beyond_its_cell_budget():
    """A hand-filled snapshot of m = 30 (435 pairs), d = 40: with room for 1,000 cells the shares and the rule are
    measured on 25 pairs, and they equal those functions run on exactly those pairs."""
    cfg = UANDConfig(n_inputs=30, n_active=2, d_min=40, d_max=40, n_instances=1, eval_cases=2)
    rng = np.random.default_rng(1)
    net = {"W1": rng.normal(size=(30, 40)), "b1": rng.normal(size=40), "W2": rng.normal(size=(40, 435))}
    snap = _snapshot(cfg, [{**net, "b2": np.zeros(435)}])
    res = newgas_analysis(snap, max_cells=1000)
    assert res["n_share_pairs"] == 25 and res["pair_shares"].shape == (25, 4)
    full = newgas_analysis(snap)
    assert full["n_share_pairs"] == 435
    W1, W2 = snap["W1"][0].astype(np.float64), snap["W2"][0].astype(np.float64)
    np.testing.assert_allclose(full["shares"], class_shares(W1, gate_pairs(30)).mean(axis=0))
    assert full["rule"]["share"] == pytest.approx(sign_rule(W1, W2, gate_pairs(30))["share"])
    assert res["shares"].sum() == pytest.approx(1.0) and abs(res["rule"]["share"] - 0.5) < 0.1  # random signs
