"""Issue 14's chart defects: panels in instance order, equal axes for points in a plane, legends that list every
entry within the box Streamlit draws, no label cut short, and one-point charts with readable axes.

Specs are read from ``chart.to_dict()``; where the defect showed only once drawn, the chart is rendered to SVG
with vl-convert (as the exports are) and its text read back.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import vl_convert as vlc

from charts.clustering import health_chart, health_frame, transcoder_chart, transcoder_frame
from charts.common import (
    LABEL_LIMIT,
    LEGEND_ROW,
    LEGEND_ROW_FILLED,
    LEGEND_TITLE,
    TITLE_CHAR,
    X_AXIS_BAND,
    instance_labels,
    pick_instances,
)
from charts.computation import gates_chart, gates_frame, weights_frame, weights_heatmap
from charts.geometry import (
    POLYTOPE_NAMES,
    edge_frame,
    feature_dims_chart,
    feature_geometry_frame,
    ideal_chart,
    ideal_frame,
    instance_chart,
    instance_frame,
)
from charts.neurons import neuron_chart, neuron_frame, output_loss_chart, output_loss_frame
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

N_INSTANCES = 20  # more than 10: string order puts #11 before #2
LABEL_PX = 7  # pixels per character of a 12-pixel legend label, generously


def _sweep():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(N_INSTANCES, 2, 6)).astype(np.float32) * 0.5
    labels = instance_labels(np.geomspace(1.0, 0.01, N_INSTANCES))
    shown = pick_instances(N_INSTANCES, 10)
    return W, labels, shown


def _panel_charts():
    from toys.tms.metrics import feature_dimensionality, feature_norms, neuron_monosemanticity, superposition_score

    W, labels, shown = _sweep()
    sup = superposition_score(W)
    feats = feature_frame(W, shown, labels, feature_norms(W), sup, feature_dimensionality(W))
    neurons = neuron_frame(W, shown, labels, np.ones(W.shape[2]), neuron_monosemanticity(W))
    outputs = output_loss_frame(np.ones((N_INSTANCES, 3)), np.ones((N_INSTANCES, 3)), shown, labels)
    return {
        "norms": norm_bars(feats),
        "directions": directions_chart(directions_frame(W, shown, labels, sup)),
        "wtw": wtw_heatmaps(wtw_frame(W, shown, labels)),
        "neurons": neuron_chart(neurons, columns=5),
        "outputs": output_loss_chart(outputs, columns=5),
    }


def _svg_texts(chart) -> list[str]:
    svg = vlc.vegalite_to_svg(chart.to_json())
    return [t.replace("&amp;", "&") for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


def _legends(spec) -> list[dict]:
    """Every legend given to a colour encoding anywhere in a spec."""
    found = []
    if isinstance(spec, dict):
        enc = spec.get("encoding")
        if (
            isinstance(enc, dict)
            and isinstance(enc.get("color"), dict)
            and isinstance(enc["color"].get("legend"), dict)
        ):
            found.append(enc["color"]["legend"])
        for v in spec.values():
            found += _legends(v)
    elif isinstance(spec, list):
        for v in spec:
            found += _legends(v)
    return found


# ---------------------------------------------------------------------------------------------- panel order


@pytest.mark.parametrize("name", ["norms", "directions", "wtw", "neurons", "outputs"])
def test_small_multiples_come_in_instance_order(name):
    _, labels, shown = _sweep()
    want = [labels[i] for i in shown]
    chart = _panel_charts()[name]
    assert chart.to_dict()["facet"]["sort"] == want
    drawn = [t for t in _svg_texts(chart) if t.startswith("#")]
    assert drawn == want, f"{name} panels drawn as {drawn}"


def test_other_faceted_charts_keep_their_frames_order():
    rng = np.random.default_rng(1)
    heat = weights_heatmap(weights_frame(rng.normal(size=(6, 3)), rng.normal(size=(3, 6))))
    assert heat.to_dict()["facet"]["row"]["sort"] == ["reads (W_E W_in)", "writes (W_out W_U)"]
    tc = transcoder_chart(transcoder_frame(rng.random((5, 3)), np.arange(5) * 50))
    assert tc.to_dict()["facet"]["column"]["sort"] == ["normalised MSE", "L0 (latents firing per sample)"]


def test_loss_legend_lists_instances_in_order():
    _, labels, shown = _sweep()
    names = [f"{v} {labels[i]}" for v in ("A", "B") for i in shown]
    df = loss_frame(np.full((3, len(names)), 0.1), np.array([0, 10, 20]), names)
    spec = loss_chart(df, 100).to_dict()
    assert spec["encoding"]["color"]["sort"] == names


# ------------------------------------------------------------------------------------------------ equal axes


def _scales(spec, channel):
    found = []
    if isinstance(spec, dict):
        enc = spec.get("encoding")
        if isinstance(enc, dict) and isinstance(enc.get(channel), dict) and "scale" in enc[channel]:
            found.append(enc[channel]["scale"])
        for v in spec.values():
            found += _scales(v, channel)
    elif isinstance(spec, list):
        for v in spec:
            found += _scales(v, channel)
    return found


def _assert_equal_axes(spec, width, height):
    assert width == height
    xs, ys = _scales(spec, "x"), _scales(spec, "y")
    assert xs and ys
    for x, y in zip(xs, ys, strict=True):
        assert x["domain"] == y["domain"]
        assert x["range"] == [0, width] and y["range"] == [height, 0]  # the same pixels per unit, whatever the view


def test_feature_directions_draw_on_equal_axes():
    spec = _panel_charts()["directions"].to_dict()
    _assert_equal_axes(spec, spec["spec"]["width"], spec["spec"]["height"])


@pytest.mark.parametrize("dim", [2, 3])
def test_thomson_viewer_draws_a_circle_even_when_stretched(dim):
    angles = 2 * np.pi * np.arange(5) / 5
    points = np.stack([np.cos(angles), np.sin(angles)] + ([np.zeros(5)] if dim == 3 else []), axis=1)
    df = ideal_frame(points)
    chart = ideal_chart(df, edge_frame(df, [(i, (i + 1) % 5) for i in range(5)]), "t")
    spec = chart.to_dict()
    _assert_equal_axes(spec, spec["width"], spec["height"])
    assert spec["autosize"]["type"] == "pad"  # a stretched view grows around the plot instead of squeezing it
    # stretched as Streamlit does to a wide column: the outline stays a circle
    svg = vlc.vegalite_to_svg(chart.properties(width=900).to_json())
    path = re.search(r'aria-roledescription="line mark".*?d="M([^"]+)"', svg, re.DOTALL).group(1)
    xy = np.array([float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", path)]).reshape(-1, 2)
    span = xy.max(axis=0) - xy.min(axis=0)
    assert span[0] == pytest.approx(span[1], rel=0.02)


# --------------------------------------------------------------------------------------------------- legends


def _fits(legend: dict, height: int, n: int, row: int, axis_band: int = X_AXIS_BAND) -> bool:
    """Whether ``n`` entries of ``row`` pixels fit beside a plot ``height`` high, as Streamlit clips the box."""
    rows = -(-n // legend.get("columns", 1))
    return rows * row + LEGEND_TITLE <= height + axis_band


def _complete(legend: dict) -> bool:
    return legend.get("symbolLimit") == 0 and legend.get("labelLimit", 160) >= LABEL_LIMIT


def _geometry_features():
    from toys.tms.geometry import feature_geometry

    rng = np.random.default_rng(0)
    W = (rng.normal(size=(4, 10, 100)) * 0.3).astype(np.float32)
    p = np.geomspace(1.0, 1e-3, 4)
    return feature_geometry_frame(p, feature_geometry(W))


@pytest.mark.parametrize("features", [5, 100])
def test_polytope_legend_lists_every_polytope_within_the_chart(features):
    feats = _geometry_features()
    one = instance_frame(feats, 3).iloc[:features]
    chart = instance_chart(one, "t")
    spec = chart.to_dict()
    (legend,) = {repr(g): g for g in _legends(spec)}.values()
    assert _complete(legend)
    axis_band = X_AXIS_BAND if len(one) <= 60 else 20  # no x labels past 60 bars
    assert _fits(legend, spec["height"], len(POLYTOPE_NAMES), LEGEND_ROW_FILLED, axis_band)
    assert set(POLYTOPE_NAMES) <= set(_svg_texts(chart))  # "other", the colour of most bars, included
    spec = feature_dims_chart(feats, [1, 1000]).to_dict()
    assert all(
        _complete(g) and _fits(g, spec["height"], len(POLYTOPE_NAMES), LEGEND_ROW_FILLED) for g in _legends(spec)
    )


@pytest.mark.parametrize("logged", [1, 5])
@pytest.mark.parametrize("series", [4, 12, 20])
def test_loss_legend_shows_every_series_within_the_chart(series, logged):
    """Also while the first logged steps are drawn as points: the legend keeps thin stroke symbols (Streamlit's
    point symbols take 30 pixels a row, and 8 of 10 instances showed)."""
    names = [f"{v} #{i} · 1−S = 0.0631" for v in ("ReLU", "GELU") for i in range(series // 2)]
    spec = loss_chart(loss_frame(np.full((logged, series), 0.1), np.arange(logged) * 10, names), 100).to_dict()
    legend = spec["encoding"]["color"]["legend"]
    assert _complete(legend) and legend["symbolType"] == "stroke"
    assert _fits(legend, spec["height"], series, LEGEND_ROW)


@pytest.mark.parametrize("logged", [0, 1])
def test_loss_chart_before_any_loss_has_no_legend(logged):
    """At step 0 (nothing logged, or only NaN) the chart says so in its middle and draws no legend: Vega drew the
    legend's title, "instance", over no entries."""
    names = [f"#{i}" for i in range(4)]
    spec = loss_chart(loss_frame(np.full((logged, 4), np.nan), np.arange(logged), names), 100).to_dict()
    lines, note = spec["layer"]
    assert lines["encoding"]["color"]["legend"] is None
    assert note["mark"]["text"].startswith("no loss logged yet")


def test_legend_labels_are_not_cut():
    spec = gates_chart(gates_frame([{"d": 10, "gates": 20}], [{"d": 10, "gates": 30}], 5, 66)).to_dict()
    legend = spec["encoding"]["color"]["legend"]
    assert legend["labelLimit"] >= LABEL_PX * len("linear readout (no computation)")
    neurons = _panel_charts()["neurons"].to_dict()
    (legend,) = _legends(neurons)
    assert legend["titleLimit"] >= LABEL_PX * len("feature (by importance)")
    assert legend["orient"] == "bottom"  # beside five panels it would run past a narrow column


def test_facet_titles_fit_over_their_panels():
    """Two columns of panels, as each variant of a pair draws them: a title wider than the panels ran into the
    next column."""
    from toys.tms.metrics import feature_dimensionality, feature_norms, neuron_monosemanticity, superposition_score

    W, labels, _ = _sweep()
    four = np.arange(4)
    neurons = neuron_frame(W, four, labels, np.ones(W.shape[2]), neuron_monosemanticity(W))
    outputs = output_loss_frame(np.ones((N_INSTANCES, 3)), None, four, labels)
    feats = feature_frame(W, four, labels, feature_norms(W), superposition_score(W), feature_dimensionality(W))
    for chart, panel in (
        (neuron_chart(neurons, columns=2), 140),
        (output_loss_chart(outputs, columns=2), 140),
        (norm_bars(feats, columns=2), 110),
    ):
        title = chart.to_dict()["title"]
        for line in [title] if isinstance(title, str) else title:
            assert len(line) * TITLE_CHAR <= 2 * panel + 20, f"title line {line!r} is wider than its two panels"


def test_health_title_fits_a_narrow_column():
    spec = health_chart(health_frame(np.full(8, 0.1), np.ones(8, bool), np.zeros(8, bool))).to_dict()
    assert len(spec["title"]) * TITLE_CHAR <= 300  # the page's right-hand 2/5 column at 1280 px with the sidebar


# ------------------------------------------------------------------------------------------ one-point charts


def test_one_point_transcoder_chart_has_readable_axes():
    chart = transcoder_chart(transcoder_frame(np.array([[0.0, 5.972656, 50.0]]), np.array([50])))
    texts = _svg_texts(chart)
    assert not [t for t in texts if re.fullmatch(r"-?\d+\.\d{4,}", t)], texts
    assert "0" in texts  # both axes from zero
    spec = chart.to_dict()
    assert spec["spec"]["mark"]["point"] is True
