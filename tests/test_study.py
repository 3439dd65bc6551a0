"""The decomposition study (toys.circuits.study): its conditioning reads the model's inputs correctly, and its
summary picks the best variant."""

import numpy as np
import torch

from tests.test_circuits import _ideal_transcoder
from toys.circuits import study
from toys.circuits.planted import CircuitsConfig, CircuitsTrainer, FrozenCircuits
from toys.circuits.transcoder import collect_activations


def test_input_l0_counts_the_inputs_that_were_drawn():
    cfg = CircuitsConfig(n_circuits=6, circuit_size=4, d_model=24, p_circuit=0.1, steps=1, device="cpu")
    model = CircuitsTrainer(cfg).run()
    tc = _ideal_transcoder(model)
    X, stats = collect_activations(model, tc, 5000, seed=7, batch=1000)
    gen = torch.Generator().manual_seed(7)  # a slow twin: draw the same inputs again, batch by batch, and count
    frozen = FrozenCircuits(model, "cpu")
    twin = np.concatenate([(frozen.sample_xio(1000, gen)[0] != 0).sum(1).numpy() for _ in range(5)])
    np.testing.assert_array_equal(stats["input_l0"], twin)
    # the ideal transcoder fires one latent (ReLU(+x) or ReLU(-x)) per nonzero input: latent L0 = input L0, but for
    # inputs below the firing threshold (|x| < 1e-5, about 1 in 10^5 draws)
    assert (np.diff(X.indptr) == stats["input_l0"]).mean() > 0.999


def test_setting_conditions_on_small_inputs():
    rows = study.setting(2, "topk", n_circuits=3, circuit_size=2, d_model=8, steps=60, n_samples=2000)
    every, conditioned = rows
    assert not every["conditioned"] and conditioned["conditioned"]
    assert every["samples"] == 2000
    # P(more than circuit_size inputs nonzero) = P(two or more of 3 circuits active at p = 0.1) = 0.028
    assert 0 < 2000 - conditioned["samples"] < 2000 * 0.028 * 2
    assert every["n_neurons"] == 6


def test_summary_takes_the_best_ari_per_width():
    rows = [
        {"neurons_per_circuit": 4, "ari_average": 0.1, "ari_spectral": 0.3, "sparsity": "l1", "conditioned": False},
        {"neurons_per_circuit": 4, "ari_average": 0.5, "ari_spectral": 0.2, "sparsity": "topk", "conditioned": True},
        {"neurons_per_circuit": 8, "ari_average": 0.9, "ari_spectral": 0.95, "sparsity": "l1", "conditioned": True},
    ]
    best = study.summary(rows)["best_by_neurons_per_circuit"]
    assert best[4] == {"ari": 0.5, "sparsity": "topk", "conditioned": True}
    assert best[8] == {"ari": 0.95, "sparsity": "l1", "conditioned": True}


def test_study_frame_and_chart_carry_every_row_and_method():
    from charts.clustering import study_chart, study_frame

    rows = [
        {"neurons_per_circuit": n, "seed": s, "sparsity": sp, "conditioned": c, "ari_average": 0.1 * n + s,
         "ari_spectral": 0.2 * n}
        for n in (2, 4) for s in (0, 1) for sp in ("l1", "topk") for c in (False, True)
    ]  # fmt: skip
    df = study_frame(rows)
    assert len(df) == 2 * len(rows)
    l1_avg = df[(df["variant"] == "L1 transcoder · average clustering") & (df["co-activations"] == "on every sample")]
    assert sorted(l1_avg["ari"]) == sorted([0.1 * n + s for n in (2, 4) for s in (0, 1)])
    spec = study_chart(df).to_dict()
    assert spec["layer"][0]["encoding"]["x"]["scale"] == {"type": "log", "base": 2}
    assert (
        spec["layer"][0]["encoding"]["y"]["field"] == "ari" and spec["layer"][0]["encoding"]["y"]["aggregate"] == "mean"
    )
    assert len(spec["layer"][0]["encoding"]["color"]["sort"]) == 4
