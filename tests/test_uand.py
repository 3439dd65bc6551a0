"""Universal AND (toys.compute.uand): held-out cases, the hand-made construction of Hänni et al. (2024), the linear
baseline, neuron density and the trainer."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from toys.compute.uand import (
    CASES,
    UANDConfig,
    UANDTrainer,
    affordable_gates,
    and_targets,
    gate_error_rates,
    gate_pairs,
    handmade_gates,
    handmade_outputs,
    handmade_subsets,
    handmade_weights,
    held_out_cases,
    instance_widths,
    linear_gates,
    linear_readout,
    network_outputs,
    neuron_density,
    sample_inputs,
    trained_gates,
    uand_summary,
)


def test_held_out_cases_are_what_they_say():
    held = held_out_cases(10, 3, 5, seed=0)
    assert held.active.shape == (45, 4, 5, 3)
    for g, (i, j) in enumerate(held.pairs):
        for c, (a, b) in enumerate(CASES):
            for case in held.active[g, c]:
                assert len(set(case)) == 3  # distinct inputs, exactly n_active on
                assert (i in case) == bool(a) and (j in case) == bool(b)
    np.testing.assert_array_equal(held.target, [1, 0, 0, 0])


def test_handmade_sparse_evaluation_matches_the_dense_network():
    """The hand-made evaluator (only the shared neurons) equals the construction run as a dense ReLU network."""
    cfg = UANDConfig(n_inputs=9, n_active=3, eval_cases=4)
    held = held_out_cases(9, 3, 4, seed=1)
    S = handmade_subsets(9, 40, 0.3, seed=2)
    w = handmade_weights(S, held.pairs)
    dense = network_outputs(w["W1"], w["b1"], w["W2"], w["b2"], held)
    np.testing.assert_allclose(handmade_outputs(S, held), dense, atol=1e-12)
    # and the dense network by brute force on the expanded inputs
    x = held.dense(cfg.n_inputs)
    h = np.maximum(x @ w["W1"] + w["b1"], 0.0)
    y = (h @ w["W2"]).reshape(len(held.pairs), 4, 4, -1)
    np.testing.assert_allclose(dense, np.einsum("gckg->gck", y), atol=1e-12)


def test_handmade_neuron_fires_iff_two_of_its_inputs_are_on():
    S = np.array([[1, 1, 1, 0]], dtype=bool)  # one neuron reading inputs 0, 1, 2
    held = held_out_cases(4, 2, 3, seed=0)
    out = handmade_outputs(S, held)
    g01 = [tuple(p) for p in held.pairs].index((0, 1))
    np.testing.assert_array_equal(out[g01, 0], 1.0)  # both on
    g03 = [tuple(p) for p in held.pairs].index((0, 3))
    np.testing.assert_array_equal(out[g03], 0.0)  # no neuron reads both 0 and 3


def test_handmade_uand_computes_more_gates_than_it_has_neurons():
    """Hänni et al.'s construction is computation in superposition: at m = 100 inputs, 2 on at a time, d = 500
    neurons each reading ~5% of the inputs, it computes over 2,000 of the 4,950 ANDs (measured: 2,436) with at most
    5% of each gate's held-out cases off by 0.25 or more — more than four gates per neuron."""
    cfg = UANDConfig(n_inputs=100, n_active=2, d_min=500, d_max=500, eval_cases=16, handmade_q=0.05)
    result = handmade_gates(cfg, 500)
    assert result["gates"] > 4 * 500
    assert linear_gates(cfg)["gates"] == 0


def test_auto_q_picks_from_the_grid_and_beats_a_bad_q():
    cfg = UANDConfig(n_inputs=30, n_active=2, eval_cases=8)
    auto = handmade_gates(cfg, 200)
    bad = handmade_gates(cfg, 200, q=0.9)  # every neuron reads nearly everything: they all fire together
    assert auto["gates"] > bad["gates"]


def test_linear_readout_from_moments_matches_least_squares_on_samples():
    cfg = UANDConfig(n_inputs=8, n_active=3)
    W, b = linear_readout(cfg)
    x = sample_inputs(cfg, 200_000, torch.Generator().manual_seed(0), torch.device("cpu")).double()
    y = and_targets(x, torch.as_tensor(gate_pairs(8)))
    pred_moments = x.numpy() @ W + b
    X1 = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    coef = torch.linalg.lstsq(X1, y, driver="gelsd").solution.numpy()
    pred_samples = X1.numpy() @ coef
    np.testing.assert_allclose(pred_moments, pred_samples, atol=0.01)


def test_no_linear_function_computes_an_and_gate_within_a_quarter():
    """The four cases with the same other inputs force a miss of at least 1/4 for any linear readout."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        a, b, c = rng.normal(size=3)
        outs = np.array([a + b + c, a + c, b + c, c])  # f(1,1), f(1,0), f(0,1), f(0,0)
        assert np.abs(outs - np.array([1, 0, 0, 0])).max() >= 0.25 - 1e-12
    best = np.array([0.75, 0.25, 0.25, -0.25])  # a = b = 1/2, c = −1/4: misses by exactly 1/4
    assert np.abs(best - np.array([1, 0, 0, 0])).max() == pytest.approx(0.25)


def test_error_rates_count_misses_at_the_tolerance():
    held = held_out_cases(5, 2, 2, seed=0)
    out = np.zeros((10, 4, 2))
    out[:, 0] = 1.0
    assert (gate_error_rates(out, held, 0.25) == 0).all()
    out[0, 1, 0] = 0.3
    assert gate_error_rates(out, held, 0.25)[0] == pytest.approx(1 / 8)


def test_neuron_density():
    W = np.zeros((10, 3))
    W[:, 0] = 1.0  # reads all inputs equally
    W[[2, 5], 1] = [3.0, -3.0]  # reads two
    np.testing.assert_allclose(neuron_density(W)[:2], [1.0, 0.2])
    assert np.isnan(neuron_density(W)[2])


def test_instance_widths_are_geometric():
    np.testing.assert_array_equal(instance_widths(UANDConfig(d_min=8, d_max=128, n_instances=5)), [8, 16, 32, 64, 128])


@pytest.mark.parametrize(
    "field,value,words",
    [
        ("n_inputs", 3, "n_inputs=3"),
        ("n_active", 1, "n_active=1"),
        ("n_active", 11, "n_active=11"),
        ("tolerance", 0.9, "tolerance=0.9"),
        ("handmade_q", -0.1, "handmade_q=-0.1"),
    ],
)
def test_config_rejects_bad_values(field, value, words):
    with pytest.raises(ValueError, match=words):
        UANDConfig(**{field: value})
    with pytest.raises(ValueError, match="d_min=50 must not exceed d_max=10"):
        UANDConfig(d_min=50, d_max=10)


def test_config_round_trips():
    cfg = UANDConfig(n_inputs=20, handmade_q=0.1, steps=100)
    assert UANDConfig.from_dict({k: str(v) for k, v in cfg.to_dict().items()}) == cfg


def test_sampled_inputs_have_exactly_k_on():
    cfg = UANDConfig(n_inputs=10, n_active=3)
    x = sample_inputs(cfg, 5000, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert (x.sum(1) == 3).all()
    assert x.mean(0).numpy() == pytest.approx(np.full(10, 0.3), abs=0.03)
    pairs = torch.as_tensor(gate_pairs(10))
    for g, (i, j) in enumerate(itertools.islice(zip(*gate_pairs(10).T), 5)):
        assert torch.equal(and_targets(x, pairs)[:, g], x[:, i] * x[:, j])


def test_wide_trained_network_computes_every_gate():
    """With a neuron per gate (d ≥ G) training finds an exact circuit: all 15 gates of m = 6, k = 2. The masked
    narrow instance trains alongside and its unused neurons stay exactly zero."""
    cfg = UANDConfig(
        n_inputs=6,
        n_active=2,
        d_min=4,
        d_max=32,
        n_instances=2,
        steps=600,
        batch_size=256,
        lr=2e-2,
        device="cpu",
        eval_cases=8,
    )
    trainer = UANDTrainer(cfg)
    snap = trainer.run()
    res = trained_gates(snap)
    assert res[1]["d"] == 32 and res[1]["gates"] == 15
    assert (snap["W1"][0, :, 4:] == 0).all() and (snap["W2"][0, 4:] == 0).all()
    s = uand_summary(snap)
    assert s["n_gates"] == 15 and s["d"] == [4, 32] and s["linear_gates"] == 0
    assert len(s["handmade_gates"]) == 2


def test_cli_prints_gates_for_trained_and_handmade(capsys):
    import json

    from toys.cli import main

    rc = main(
        [
            "train",
            "uand",
            "--n-inputs",
            "6",
            "--d-min",
            "4",
            "--d-max",
            "16",
            "--n-instances",
            "2",
            "--steps",
            "50",
            "--batch-size",
            "64",
            "--eval-cases",
            "4",
            "--device",
            "cpu",
        ]
    )
    assert rc == 0
    line = json.loads(capsys.readouterr().out)
    assert line["toy"] == "uand" and line["d"] == [4, 16] and line["n_gates"] == 15
    assert len(line["trained_gates"]) == len(line["handmade_gates"]) == 2 and line["linear_gates"] == 0


# --------------------------------------------------------------------------------------- a sample of the gates


def test_a_sample_of_gates_holds_their_own_cases():
    full = gate_pairs(12)
    held = held_out_cases(12, 3, 4, seed=0, max_gates=20)
    assert held.sampled and held.n_total == 66 and len(held.gates) == 20
    assert (np.diff(held.gates) > 0).all()  # distinct, in gate order
    np.testing.assert_array_equal(held.pairs, full[held.gates])
    for g, (i, j) in enumerate(held.pairs):
        for c, (a, b) in enumerate(CASES):
            for case in held.active[g, c]:
                assert len(set(case)) == 3 and (i in case) == bool(a) and (j in case) == bool(b)
    assert not held_out_cases(12, 3, 4, seed=0, max_gates=66).sampled


def test_sampled_network_and_linear_outputs_read_the_sampled_gates_columns():
    """network_outputs and linear_gates on a sample equal the whole network run by brute force on the expanded
    inputs, each row read at its own gate's column."""
    cfg = UANDConfig(n_inputs=9, n_active=3, eval_cases=4, tolerance=0.3)
    held = held_out_cases(9, 3, 4, seed=1, max_gates=10)
    rng = np.random.default_rng(3)
    W1, b1 = rng.normal(size=(9, 7)), rng.normal(size=7)
    W2, b2 = rng.normal(size=(7, 36)), rng.normal(size=36)
    x = held.dense(9)  # (G·4·K, m), gate-major
    y = (np.maximum(x @ W1 + b1, 0.0) @ W2 + b2).reshape(10, 4, 4, 36)
    want = np.stack([y[g, :, :, col] for g, col in enumerate(held.gates)])
    np.testing.assert_allclose(network_outputs(W1, b1, W2, b2, held), want, atol=1e-12)
    W, b = linear_readout(cfg)
    lin = (x @ W + b).reshape(10, 4, 4, 36)
    want_rates = gate_error_rates(np.stack([lin[g, :, :, c] for g, c in enumerate(held.gates)]), held, 0.3)
    np.testing.assert_array_equal(linear_gates(cfg, held)["error_rates"], want_rates)


def test_a_sampled_count_estimates_the_full_count():
    """The hand-made circuit at m = 40 (780 gates) scored on all gates and on a sample of 300: the estimate is
    within four standard deviations of a sample of 300 drawn without replacement from the 780."""
    cfg = UANDConfig(n_inputs=40, n_active=2, eval_cases=8, handmade_q=0.1)
    full = handmade_gates(cfg, 200, held=held_out_cases(40, 2, 8, seed=1))
    held = held_out_cases(40, 2, 8, seed=1, max_gates=300)
    est = handmade_gates(cfg, 200, held=held)
    share = full["gates"] / 780
    sd = 780 * np.sqrt(share * (1 - share) / 300 * (780 - 300) / (780 - 1))
    assert 0 < full["gates"] < 780 and abs(est["gates"] - full["gates"]) <= 4 * sd


def test_affordable_gates_covers_small_configs_and_bounds_big_ones():
    assert affordable_gates(UANDConfig()) is None  # 66 gates: all of them
    big = UANDConfig(n_inputs=128, d_max=2048)
    n = affordable_gates(big)
    per_gate = 4 * big.eval_cases * 3 * int(instance_widths(big).sum())
    assert 300 <= n < big.n_gates and n * per_gate <= 3e8 + 300 * per_gate
