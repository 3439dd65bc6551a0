"""Chart builders: valid Vega-Lite with fixed axes, and exports that render."""

import numpy as np
import pytest

from charts.common import decade_domain, pick_instances, probability_label
from charts.tms import (
    directions_chart,
    directions_frame,
    feature_frame,
    loss_chart,
    loss_frame,
    norm_bars,
    wtw_frame,
    wtw_heatmaps,
)
from tests.specs import data_values
from toys.tms.metrics import feature_dimensionality, feature_norms, superposition_score


def _pentagon(n_inst=3):
    angles = 2 * np.pi * np.arange(5) / 5
    W = np.stack([np.cos(angles), np.sin(angles)])[None].repeat(n_inst, axis=0)  # (I, 2, 5)
    return W


def test_pick_instances():
    assert pick_instances(4, 10).tolist() == [0, 1, 2, 3]
    picked = pick_instances(400, 10)
    assert len(picked) == 10 and picked[0] == 0 and picked[-1] == 399 and np.all(np.diff(picked) > 0)


@pytest.mark.parametrize(
    "values, expected",
    [([0.02, 0.3], [0.01, 1.0]), ([5e-4, 0.05], [1e-4, 0.1]), ([np.nan, 0.0], [1e-8, 1.0]), ([0.1, 0.1], [0.1, 1.0])],
)
def test_decade_domain(values, expected):
    assert decade_domain(np.array(values)) == pytest.approx(expected)


def test_loss_chart_has_fixed_x_and_drops_nonfinite():
    loss = np.array([[0.5, np.nan], [0.1, 0.2], [0.05, np.inf]])
    df = loss_frame(loss, np.array([50, 100, 150]), ["a", "b"])
    spec = loss_chart(df, total_steps=1000).to_dict()
    assert spec["encoding"]["x"]["scale"]["domain"] == [0, 1000]
    assert spec["encoding"]["y"]["scale"]["type"] == "log"
    assert len(data_values(spec)) == 4  # NaN and inf rows are not drawn


def test_loss_chart_before_any_logged_step_says_so_instead_of_empty_axes():
    for loss in (np.zeros((0, 2)), np.full((1, 2), np.nan)):  # step 0, or only non-finite losses so far
        df = loss_frame(loss, np.arange(len(loss)) * 50, ["a", "b"])
        spec = loss_chart(df, total_steps=1000).to_dict()
        notes = [layer for layer in spec["layer"] if layer["mark"]["type"] == "text"]
        assert len(notes) == 1 and "press Play" in notes[0]["mark"]["text"]
        assert spec["layer"][0]["encoding"]["x"]["scale"]["domain"] == [0, 1000]  # the axes the lines will use


def test_feature_charts_are_valid_vega_lite():
    W = _pentagon()
    shown = np.arange(3)
    labels = [probability_label(p) for p in (1.0, 0.1, 0.01)]
    feats = feature_frame(W, shown, labels, feature_norms(W), superposition_score(W), feature_dimensionality(W))
    assert len(feats) == 15 and np.allclose(feats["dimensionality"], 0.4)
    for chart in (
        norm_bars(feats),
        wtw_heatmaps(wtw_frame(W, shown, labels)),
        directions_chart(directions_frame(W, shown, labels, superposition_score(W))),
    ):
        spec = chart.to_dict()  # validates against the Vega-Lite schema
        assert "facet" in spec


def test_large_heatmap_renders_past_altairs_row_limit():
    W = np.random.default_rng(0).normal(size=(1, 32, 100))
    df = wtw_frame(W, np.array([0]), ["a"])
    assert len(df) == 10_000
    assert len(data_values(wtw_heatmaps(df).to_dict())) == 10_000


def test_nonfinite_weights_become_null():
    W = np.full((1, 2, 3), np.nan)
    df = wtw_frame(W, np.array([0]), ["a"])
    rows = data_values(wtw_heatmaps(df).to_dict())
    assert len(rows) == 9 and all(r["value"] is None for r in rows)


def test_wtw_frame_is_the_gram_matrix():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(2, 3, 4))
    df = wtw_frame(W, np.array([1]), ["x", "y"])
    G = df.pivot(index="row", columns="col", values="value").to_numpy()
    assert np.allclose(G, W[1].T @ W[1])


def test_directions_need_two_hidden_dims():
    with pytest.raises(ValueError, match="n_hidden = 2"):
        directions_frame(np.zeros((1, 3, 4)), np.array([0]), ["a"], np.zeros((1, 4)))


def test_png_and_svg_export_render():
    from ui.export import chart_png, chart_svg

    df = loss_frame(np.array([[0.5], [0.1]]), np.array([1, 2]), ["a"])
    chart = loss_chart(df, 10)
    assert chart_png(chart)[:8] == b"\x89PNG\r\n\x1a\n"
    assert chart_svg(chart).lstrip().startswith("<svg")


def test_cc_weights_frame_places_every_weight_by_its_feature_rank():
    from charts.computation import weights_frame

    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((6, 3)), rng.standard_normal((3, 6))
    order = np.array([4, 0, 5, 1, 3, 2])
    df = weights_frame(A, B, order)
    assert len(df) == 2 * 6 * 3
    for row in df.itertuples():
        assert row.position == list(order).index(row.feature)
        want = A[row.feature, row.neuron] if row.matrix.startswith("reads") else B[row.neuron, row.feature]
        assert row.weight == want


def test_cc_weights_frame_caps_big_models_to_strong_neurons_and_spread_features():
    from charts.computation import MAX_HEATMAP_CELLS, MAX_HEATMAP_NEURONS, weights_frame

    rng = np.random.default_rng(1)
    F, H = 500, 400
    A, B = rng.standard_normal((F, H)), rng.standard_normal((H, F))
    A[:, 7] *= 10  # one neuron far stronger than the rest
    order = rng.permutation(F)
    df = weights_frame(A, B, order)
    reads = df[df["matrix"].str.startswith("reads")]
    assert len(reads) <= MAX_HEATMAP_CELLS and reads["neuron"].nunique() == MAX_HEATMAP_NEURONS
    assert 7 in set(reads["neuron"])
    kept = reads.drop_duplicates("position").sort_values("position")["feature"].to_numpy()
    assert kept[0] == order[0] and kept[-1] == order[-1]  # best and worst features stay
    assert np.all(np.diff([list(order).index(f) for f in kept]) > 0)  # still in loss order
