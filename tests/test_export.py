"""Chart export while Streamlit draws other charts: the exported spec keeps its data."""

from __future__ import annotations

import json
import threading

import numpy as np
from streamlit.elements import vega_charts

from charts.computation import eval_p_chart, eval_p_frame, weights_frame, weights_heatmap
from ui.export import ALTAIR_LOCK, chart_json


def test_export_takes_streamlits_altair_lock():
    assert ALTAIR_LOCK is vega_charts._altair_globals_lock


def test_export_during_streamlit_drawing_keeps_its_data():
    """Streamlit swaps altair's global data transformer while it draws (another session's live chart, say); an
    export caught in that window used to come out with a dataset name and no data (199 of 200 in a loop)."""
    rng = np.random.default_rng(0)
    live = weights_heatmap(weights_frame(rng.standard_normal((100, 50)), rng.standard_normal((50, 100))))
    chart = eval_p_chart(eval_p_frame(np.array([1e-3, 1e-2]), np.array([[0.06, 0.07]]), ["a"]), 1 / 12, 0.01)
    stop = threading.Event()

    def draw_live() -> None:
        while not stop.is_set():
            vega_charts._convert_altair_to_vega_lite_spec(live)

    worker = threading.Thread(target=draw_live)
    worker.start()
    try:
        specs = [json.loads(chart_json(chart)) for _ in range(100)]
    finally:
        stop.set()
        worker.join()
    assert all(len(s.get("datasets", {})) >= 1 for s in specs)
    assert all(len(rows) > 0 for s in specs for rows in s["datasets"].values())
