"""Talk charts: every text of a chart for a projector at 24 px or more, nothing truncated, fixed sizes kept."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from charts.clustering import contingency_chart, contingency_frame
from charts.geometry import dims_per_feature_chart
from charts.talk import FONT, enlarge, for_talk, tms_talk_chart
from charts.tms import directions_frame, feature_frame, wtw_frame


def _sizes(node, found: list) -> list:
    """Every font size in a Vega-Lite spec, with its key."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k.lower().endswith("fontsize") and isinstance(v, (int, float)):
                found.append((k, v))
            _sizes(v, found)
    elif isinstance(node, list):
        for v in node:
            _sizes(v, found)
    return found


def _limits(node, found: list) -> list:
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("labelLimit", "titleLimit", "limit"):
                found.append((k, v))
            _limits(v, found)
    elif isinstance(node, list):
        for v in node:
            _limits(v, found)
    return found


def _tms(n_hidden: int):
    rng = np.random.default_rng(0)
    W = rng.normal(size=(3, n_hidden, 5))
    sup = np.abs(rng.normal(size=(3, 5)))
    norms = np.linalg.norm(W, axis=1)
    labels = ["#0", "#1", "#2"]
    features = feature_frame(W, [2], labels, norms, sup, norms)
    directions = directions_frame(W, [2], labels, sup) if n_hidden == 2 else None
    gram = wtw_frame(W, [2], labels) if n_hidden != 2 else None
    return tms_talk_chart(features, directions, gram, labels[2])


def test_every_text_is_at_least_talk_size_and_no_label_is_cut():
    sweep = pd.DataFrame(
        {"instance": [0, 1], "p": [0.5, 0.1], "inv_density": [2.0, 10.0], "dims_per_feature": [0.5, 0.4]}
        | {"n_represented": [2, 3], "loss": [0.1, 0.2]}
    )
    labels, truth = np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1])
    charts = {
        "tms m=2": _tms(2),
        "tms m=3": _tms(3),
        "geometry (small text marks)": for_talk(dims_per_feature_chart(sweep, [1.0, 100.0])),
        "contingency (9 px numbers)": for_talk(contingency_chart(contingency_frame(labels, truth))),
    }
    for name, chart in charts.items():
        spec = chart.to_dict()
        sizes = _sizes(spec, [])
        assert sizes, name
        assert min(v for _, v in sizes) >= FONT, (name, [s for s in sizes if s[1] < FONT])
        assert all(v == 0 for _, v in _limits(spec.get("config", {}), [])), name  # 0: no truncation


def test_enlarge_sets_the_plot_size_of_plain_and_faceted_charts():
    df = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    plain = enlarge(alt.Chart(df).mark_bar().encode(x="a:Q"), width=900, height=240).to_dict()
    assert (plain["width"], plain["height"]) == (900, 240)
    assert plain["autosize"] == {"type": "pad"}  # the plot keeps its height; title and legends go around it
    faceted = alt.Chart(df).mark_bar().encode(x="a:Q").properties(width=10).facet(facet="b:N")
    spec = enlarge(faceted, width=500, height=300).to_dict()["spec"]
    assert (spec["width"], spec["height"]) == (500, 300)
