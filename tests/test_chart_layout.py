"""Every chart every page draws keeps its y-axis titles short enough per line to fit beside the plot.

Streamlit fits a stretched chart's whole height (title, axes and plot) into the chart's height, so a long one-line
y title, taller than the plot, pushes the chart's own title out of view (seen on the Computation and Phase pages).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from charts.clustering import pipeline_loss_chart, pipeline_loss_frame
from charts.common import Y_TITLE_LINE, y_title
from charts.computation import lp_chart, lp_frame
from charts.tms import loss_chart, loss_frame
from tests.apptest import run_page
from tests.test_app_cislab import SMALL as SMALL_CISLAB
from tests.test_app_clustering import SMALL as SMALL_CLUSTERING
from tests.test_app_computation import SMALL as SMALL_COMPUTATION
from tests.test_app_decomposition import SMALL as SMALL_DECOMPOSITION
from tests.test_app_geometry import SMALL_GEO, SMALL_PHASE
from ui.export import EXPORT_WIDTH, chart_json

PAGES = {
    "superposition": {},
    "absval": {},
    "computation": SMALL_COMPUTATION,
    "geometry": SMALL_GEO,
    "phase": SMALL_PHASE,
    "clustering": SMALL_CLUSTERING,
    "decomposition": SMALL_DECOMPOSITION,
    "cislab": SMALL_CISLAB,
}


def y_titles(spec) -> list:
    """Every title given to a y encoding anywhere in a Vega-Lite spec (layers, facets, concatenations)."""
    found = []
    if isinstance(spec, dict):
        enc = spec.get("encoding")
        if isinstance(enc, dict) and isinstance(enc.get("y"), dict) and enc["y"].get("title") is not None:
            found.append(enc["y"]["title"])
        for v in spec.values():
            found += y_titles(v)
    elif isinstance(spec, list):
        for v in spec:
            found += y_titles(v)
    return found


def test_y_title_wraps_long_titles_only():
    assert y_title("loss") == "loss"
    lines = y_title("relative importance of the extra feature")
    assert isinstance(lines, list) and " ".join(lines) == "relative importance of the extra feature"
    assert all(len(line) <= Y_TITLE_LINE for line in lines)


def test_walker_finds_titles_in_layers_and_facets():
    spec = {
        "layer": [
            {"encoding": {"y": {"field": "a", "title": "one"}}},
            {"spec": {"encoding": {"y": {"field": "b", "title": ["two", "lines"]}}}},
        ]
    }
    assert y_titles(spec) == ["one", ["two", "lines"]]


@pytest.mark.parametrize("page", list(PAGES))
def test_every_y_title_line_fits(page):
    at = run_page(page, PAGES[page], timeout=300)
    assert not at.exception
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    assert specs, f"the {page} page drew no chart"
    too_long = [
        t for s in specs for t in y_titles(s) for line in ([t] if isinstance(t, str) else t) if len(line) > Y_TITLE_LINE
    ]
    assert not too_long, f"y titles with lines over {Y_TITLE_LINE} characters on {page}: {too_long}"


def _line_marks(spec) -> list[dict]:
    if isinstance(spec, dict):
        mark = spec.get("mark")
        found = [mark] if isinstance(mark, dict) and mark.get("type") == "line" else []
        return found + [m for v in spec.values() for m in _line_marks(v)]
    if isinstance(spec, list):
        return [m for v in spec for m in _line_marks(v)]
    return []


@pytest.mark.parametrize("logged", [1, 2, 40])
def test_training_curves_mark_points_while_a_line_cannot_show(logged):
    """A line needs two points to draw anything: with one or two logged steps the curves draw points instead."""
    steps = np.arange(logged) * 100
    loss = np.full((logged, 2), 1e-3)
    charts = [
        lp_chart(lp_frame(loss, steps, ["a", "b"], 0.01), 1 / 12, 5000),
        loss_chart(loss_frame(loss, steps, ["a", "b"]), 5000),
        pipeline_loss_chart(pipeline_loss_frame(loss[:, :1], steps, 1000), 5000, 1000),
    ]
    for chart in charts:
        marks = _line_marks(chart.to_dict())
        assert marks and all(bool(m.get("point")) == (logged < 3) for m in marks)


def test_stretched_charts_keep_height_for_the_plot_and_export_at_a_page_width():
    """Streamlit fits a chart's whole height (title, legend, axes, plot) into ``height`` unless the chart fits
    only its width: a 200-high pipeline loss chart with a top legend kept a 28-pixel plot."""
    steps = np.arange(1, 11) * 100
    loss = np.full((10, 1), 1e-2)
    for chart in (
        pipeline_loss_chart(pipeline_loss_frame(loss, steps, 500), 1000, 500),
        lp_chart(lp_frame(loss, steps, ["a"], 0.01), 1 / 12, 1000),
        loss_chart(loss_frame(loss, steps, ["a"]), 1000),
    ):
        spec = chart.to_dict()
        assert spec["autosize"] == {"type": "fit-x", "contains": "padding"}
        assert spec["height"] > 0 and "width" not in spec
        assert json.loads(chart_json(chart))["width"] == EXPORT_WIDTH
